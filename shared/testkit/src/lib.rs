//! Test support every service uses: a fresh PostgreSQL database per test, reading the mail
//! folder of the file mailer, a Consul API test server, and `buf curl` as an independent
//! client.

pub mod buf;
pub mod consul;
pub mod mail;
pub mod postgres;
