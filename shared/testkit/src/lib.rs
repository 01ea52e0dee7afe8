//! Test support every service uses: a fresh PostgreSQL database per test, reading the mail
//! folder of the file mailer, a Consul API test server, `buf curl` as an independent
//! client, and the switch that runs the tests without the HTTP/1.1 fast paths.

pub mod buf;
pub mod consul;
pub mod http1;
pub mod mail;
pub mod postgres;
