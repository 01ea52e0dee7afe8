//! Domain types of the auth service.

pub mod claims;
pub mod keys;
pub mod lockout;
pub mod session;
pub mod totp;

pub use claims::AccessClaims;
pub use keys::{KeyEncryptionKey, Keyring, SigningAlgorithm, SigningKeyRecord};
pub use lockout::LockoutPolicy;
pub use session::{Family, RefreshSecret};
