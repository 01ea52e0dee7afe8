//! Test support every service uses: a fresh PostgreSQL database per test, and reading the
//! mail folder of the file mailer.

pub mod consul;
pub mod mail;
pub mod postgres;
