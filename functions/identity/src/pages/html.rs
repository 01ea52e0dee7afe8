//! The pages' HTML: plain server-rendered markup, every value escaped, usable without
//! JavaScript (the one script only takes the token out of the address bar), labels on every
//! field and each error tied to its field (`aria-describedby`, `aria-invalid`).

use std::fmt::Write as _;

/// `text` safe inside an element or a quoted attribute.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A whole page: `title` as its heading, `body` (markup, already escaped) below.
pub fn page(title: &str, body: &str) -> String {
    let title = escape(title);
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"robots\" content=\"noindex\">\n<title>{title}</title>\n\
         <link rel=\"stylesheet\" href=\"/identity/pages.css\">\n\
         <script src=\"/identity/pages.js\" defer></script>\n</head>\n<body>\n<main>\n\
         <h1>{title}</h1>\n{body}</main>\n</body>\n</html>\n"
    )
}

/// A paragraph of plain text.
pub fn para(text: &str) -> String {
    format!("<p>{}</p>\n", escape(text))
}

/// A form posting to `action` (one of the pages), with the token as a hidden field when
/// there is one, `fields` (markup) and one button.
pub fn form(action: &str, token: Option<&str>, fields: &str, button: &str) -> String {
    let mut out = format!("<form method=\"post\" action=\"{}\">\n", escape(action));
    if let Some(token) = token {
        let _ = writeln!(
            out,
            "<input type=\"hidden\" name=\"token\" value=\"{}\">",
            escape(token)
        );
    }
    let _ = write!(
        out,
        "{fields}<button type=\"submit\">{}</button>\n</form>\n",
        escape(button)
    );
    out
}

/// A labelled input; `error`, when given, is shown under it and announced.
pub struct Field<'a> {
    pub name: &'a str,
    pub label: &'a str,
    pub kind: &'a str,
    pub autocomplete: &'a str,
    /// A hint shown under the label (the password policy).
    pub hint: Option<&'a str>,
    pub error: Option<&'a str>,
}

impl Field<'_> {
    pub fn render(&self) -> String {
        let name = escape(self.name);
        let mut described = Vec::new();
        let mut out = format!(
            "<div class=\"field\">\n<label for=\"{name}\">{}</label>\n",
            escape(self.label)
        );
        if let Some(hint) = self.hint {
            let _ = writeln!(
                out,
                "<p class=\"hint\" id=\"{name}-hint\">{}</p>",
                escape(hint)
            );
            described.push(format!("{name}-hint"));
        }
        let mut attributes = String::new();
        if self.error.is_some() {
            described.push(format!("{name}-error"));
            attributes.push_str(" aria-invalid=\"true\"");
        }
        if !described.is_empty() {
            let _ = write!(attributes, " aria-describedby=\"{}\"", described.join(" "));
        }
        let _ = writeln!(
            out,
            "<input id=\"{name}\" name=\"{name}\" type=\"{}\" autocomplete=\"{}\" required{attributes}>",
            escape(self.kind),
            escape(self.autocomplete),
        );
        if let Some(error) = self.error {
            let _ = writeln!(
                out,
                "<p class=\"error\" id=\"{name}-error\" role=\"alert\">{}</p>",
                escape(error)
            );
        }
        out.push_str("</div>\n");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_cannot_break_out_of_text_or_attributes() {
        assert_eq!(
            escape(r#"<script>"a" & 'b'</script>"#),
            "&lt;script&gt;&quot;a&quot; &amp; &#39;b&#39;&lt;/script&gt;"
        );
        let form = form("/reset-password", Some("\"><script>"), "", "Go");
        assert!(
            form.contains("value=\"&quot;&gt;&lt;script&gt;\""),
            "{form}"
        );
        assert!(!form.contains("<script>"));
    }

    #[test]
    fn an_error_is_tied_to_its_field() {
        let field = Field {
            name: "new_password",
            label: "New password",
            kind: "password",
            autocomplete: "new-password",
            hint: Some("At least 8 characters."),
            error: Some("must be at least 8 characters"),
        }
        .render();
        assert!(field.contains("<label for=\"new_password\">"), "{field}");
        assert!(field.contains("aria-invalid=\"true\""), "{field}");
        assert!(
            field.contains("aria-describedby=\"new_password-hint new_password-error\""),
            "{field}"
        );
        assert!(
            field.contains("id=\"new_password-error\" role=\"alert\""),
            "{field}"
        );
    }
}
