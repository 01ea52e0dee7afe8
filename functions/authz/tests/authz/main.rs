//! The authz service's one integration-test binary: the SQL store's contract and the oracle
//! property test on SQLite and PostgreSQL, and the service through a real server.

mod api;
mod bus;
mod lambda;
mod oracle;
mod store;
