//! Items, and what a valid one is.

use crate::error::{CatalogError, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// UUID v7: ordered by creation.
    pub id: String,
    pub name: String,
    pub owner_id: String,
    /// µs since the Unix epoch.
    pub created_at_us: i64,
}

pub const MAX_NAME: usize = 200;
pub const DEFAULT_PAGE: u32 = 20;
pub const MAX_PAGE: u32 = 100;

/// A name: trimmed, 1 to [`MAX_NAME`] characters, no control characters.
pub fn item_name(name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() {
        return Err(CatalogError::invalid("name", "is required"));
    }
    if name.chars().count() > MAX_NAME {
        return Err(CatalogError::invalid(
            "name",
            format!("is longer than {MAX_NAME} characters"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(CatalogError::invalid("name", "holds a control character"));
    }
    Ok(name.to_owned())
}

/// An item id as given: a UUID (any spelling), in its one stored spelling.
pub fn item_id(field: &'static str, id: &str) -> Result<String> {
    uuid::Uuid::parse_str(id.trim())
        .map(|id| id.hyphenated().to_string())
        .map_err(|_| CatalogError::invalid(field, "is not an item id"))
}

/// The page size asked for: 0 is the default, more than [`MAX_PAGE`] is refused.
pub fn page_size(asked: u32) -> Result<u32> {
    match asked {
        0 => Ok(DEFAULT_PAGE),
        n if n > MAX_PAGE => Err(CatalogError::invalid(
            "page_size",
            format!("must be at most {MAX_PAGE}"),
        )),
        n => Ok(n),
    }
}
