// The mail pages' one script (the pages work without it): takes the token out of the
// address bar, and so out of the history, bookmarks and screen shares, once the page has
// loaded; the form carries it.
"use strict";
if (window.location.search) {
  window.history.replaceState(null, "", window.location.pathname);
}
