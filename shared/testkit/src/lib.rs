//! Test support every service uses: its router served on port 0 by the production server,
//! a clock the test moves, a fresh PostgreSQL database per test, reading the mail folder of
//! the file mailer, a Consul API test server, and `buf curl` as an independent client.

pub mod buf;
pub mod clock;
pub mod consul;
pub mod mail;
pub mod postgres;
pub mod server;
