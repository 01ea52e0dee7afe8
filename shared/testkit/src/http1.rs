//! The test switch for the platform's own HTTP/1.1 fast paths (the server's, and the
//! gateway's upstream client). Tests build their configurations in code, so they read it
//! here: `PLATFORM_TEST_FAST_PATHS=off` runs them against plain hyper instead.

/// The variable that switches the fast paths in tests.
pub const VARIABLE: &str = "PLATFORM_TEST_FAST_PATHS";

/// Whether the tests' servers and gateways use the fast paths: yes unless
/// `PLATFORM_TEST_FAST_PATHS=off` (`on` or unset: yes; any other value is a typo, and
/// panics rather than silently testing the wrong thing).
pub fn fast_paths() -> bool {
    match std::env::var(VARIABLE).as_deref() {
        Err(_) | Ok("on") => true,
        Ok("off") => false,
        Ok(other) => panic!("{VARIABLE}={other}: expected `on` or `off`"),
    }
}

pub mod smuggling;
