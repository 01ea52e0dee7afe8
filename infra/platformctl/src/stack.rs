//! The services `platformctl up` runs, in start order. Each later issue adds its line.

pub struct Service {
    /// Short name, also the log prefix.
    pub name: &'static str,
    /// The standalone binary, found next to `platformctl`.
    pub binary: &'static str,
    /// The cargo package that builds it.
    pub package: &'static str,
    pub port: u16,
    /// What it answers on its port.
    pub serves: &'static str,
}

pub const STACK: &[Service] = &[
    Service {
        name: "identity",
        binary: "identity-service",
        package: "identity",
        port: 8081,
        serves: "platform.identity.v1.IdentityService (Connect, gRPC, gRPC-Web)",
    },
    Service {
        name: "auth",
        binary: "auth-service",
        package: "auth",
        port: 8082,
        serves: "platform.auth.v1.AuthService, JWKS at /.well-known/jwks.json",
    },
    Service {
        name: "authz",
        binary: "authz-service",
        package: "authz",
        port: 8083,
        serves: "platform.authz.v1.AuthzService (Connect, gRPC, gRPC-Web)",
    },
    Service {
        name: "audit",
        binary: "audit-service",
        package: "audit",
        port: 8084,
        serves: "platform.audit.v1.AuditService (Connect, gRPC, gRPC-Web)",
    },
    Service {
        name: "gateway",
        binary: "gateway",
        package: "gateway",
        port: 8080,
        serves: "the entry point: every public and authenticated method, JWKS",
    },
];
