#![doc = include_str!("../README.md")]
#![allow(clippy::all, clippy::unwrap_used, rust_2018_idioms, missing_docs)]

pub mod platform {
    pub mod identity {
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/platform.identity.v1.rs"));
        }
    }
    pub mod auth {
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/platform.auth.v1.rs"));
        }
    }
    pub mod authz {
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/platform.authz.v1.rs"));
        }
    }
    pub mod audit {
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/platform.audit.v1.rs"));
        }
    }
    pub mod events {
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/platform.events.v1.rs"));
        }
    }
}

pub mod grpc {
    pub mod health {
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/grpc.health.v1.rs"));
        }
    }
}

/// Vendored from googleapis: the error detail of invalid arguments.
pub mod google {
    pub mod rpc {
        include!(concat!(env!("OUT_DIR"), "/google.rpc.rs"));
    }
}

pub use platform::{audit, auth, authz, events, identity};
