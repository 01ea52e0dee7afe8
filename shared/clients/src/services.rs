//! One trait per service and its remote implementation over a [`ServiceChannel`].

pub mod audit;
pub mod auth;
pub mod authz;
pub mod identity;

/// Declares a client trait (one async method per RPC, proto in and out) and `Remote`, its
/// implementation that sends each call through the service's channel.
macro_rules! service_client {
    (
        $(#[$doc:meta])*
        trait $Trait:ident for $pb:ident, methods $methods:ident {
            $( $(#[$mdoc:meta])* fn $fn:ident($Req:ident) -> $Resp:ident = $M:ident; )*
        }
    ) => {
        use crate::channel::ServiceChannel;
        use crate::error::ClientError;
        use crate::method::$methods as methods;

        $(#[$doc])*
        #[cfg_attr(any(test, feature = "mock"), mockall::automock)]
        #[async_trait::async_trait]
        pub trait $Trait: Send + Sync {
            $( $(#[$mdoc])* async fn $fn(&self, request: $pb::$Req) -> Result<$pb::$Resp, ClientError>; )*
        }

        pub(crate) struct Remote(pub(crate) ServiceChannel);

        #[async_trait::async_trait]
        impl $Trait for Remote {
            $(
                async fn $fn(&self, request: $pb::$Req) -> Result<$pb::$Resp, ClientError> {
                    self.0.unary(&methods::$M, request).await
                }
            )*
        }
    };
}

pub(crate) use service_client;
