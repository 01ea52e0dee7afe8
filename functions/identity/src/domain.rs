//! Domain types: each parses its input once and is valid from then on.

pub mod email;
pub mod page;
pub mod password;
pub mod token;
pub mod user;

pub use email::Email;
pub use page::PageRequest;
pub use password::{Password, PasswordHasher};
pub use token::{TokenKind, TokenSecret};
pub use user::{DisplayName, User, UserId, UserPatch};
