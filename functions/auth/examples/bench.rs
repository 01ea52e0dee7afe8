//! Auth throughput, measured against its natural bound. Run on demand, in release mode:
//!
//!     cargo run --release -p auth --example bench [seconds]
//!
//! 1. argon2 bound: OWASP-parameter (m=19456 KiB, t=2, p=1) verifications per second on one
//!    core, times the cores: no login path can beat it, since every login verifies a hash.
//! 2. Logins/s: concurrent gRPC Login calls through a real auth service calling a real
//!    identity service (SQLite), both in this process.
//! 3. ValidateToken/s: concurrent gRPC calls, and the core's validation alone on one thread.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use auth::AuthConfig;
use identity::IdentityConfig;
use platform_clients::{AuthServiceClient, ClientFactory, ClientsConfig};
use platform_discovery::{DiscoveryConfig, StaticRegistry};
use platform_kernel::config::ServerConfig;
use platform_proto::auth::v1 as pb;

const PASSWORD: &str = "correct horse battery";

async fn serve(router: axum::Router) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await;
    });
    addr
}

fn argon2_per_second_one_core(seconds: f64) -> f64 {
    use argon2::password_hash::{PasswordHasher as _, SaltString, rand_core::OsRng};
    let argon2 = argon2::Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        argon2::Params::new(19_456, 2, 1, None).expect("params"),
    );
    let started = Instant::now();
    let mut n = 0u64;
    while started.elapsed().as_secs_f64() < seconds {
        let salt = SaltString::generate(&mut OsRng);
        let _ = argon2
            .hash_password(PASSWORD.as_bytes(), &salt)
            .expect("hash");
        n += 1;
    }
    n as f64 / started.elapsed().as_secs_f64()
}

async fn hammer<F, Fut>(concurrency: usize, seconds: f64, call: F) -> f64
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let until = Instant::now() + Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (call, done, failed) = (call.clone(), done.clone(), failed.clone());
            tokio::spawn(async move {
                while Instant::now() < until {
                    if call().await {
                        done.fetch_add(1, Ordering::Relaxed);
                    } else {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.await.expect("worker");
    }
    let failures = failed.load(Ordering::Relaxed);
    assert_eq!(failures, 0, "{failures} calls failed");
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() {
    let seconds: f64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(5.0);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let dir = tempfile::tempdir().expect("tempdir");

    let identity_config = IdentityConfig {
        server: ServerConfig::with_port(0),
        data_dir: dir.path().to_path_buf(),
        ..IdentityConfig::default()
    };
    let identity = serve(
        identity::build(&identity_config)
            .await
            .expect("identity")
            .router,
    )
    .await;
    let mut auth_config = AuthConfig {
        server: ServerConfig::with_port(0),
        data_dir: dir.path().to_path_buf(),
        ..AuthConfig::default()
    };
    auth_config
        .discovery
        .static_instances
        .insert("identity".into(), vec![format!("http://{identity}")]);
    let auth_app = auth::build(&auth_config).await.expect("auth");
    let core = auth_app.service.clone();
    let auth = serve(auth_app.router).await;

    let mut discovery = DiscoveryConfig::default();
    discovery
        .static_instances
        .insert("identity".into(), vec![format!("http://{identity}")]);
    discovery
        .static_instances
        .insert("auth".into(), vec![format!("http://{auth}")]);
    let clients = ClientFactory::new(
        Arc::new(StaticRegistry::new(&discovery.static_instances)),
        ClientsConfig::default(),
    );
    clients
        .identity()
        .create_user(platform_proto::identity::v1::CreateUserRequest {
            email: "bench@example.com".into(),
            password: PASSWORD.into(),
            display_name: String::new(),
        })
        .await
        .expect("user");
    let client: Arc<dyn AuthServiceClient> = clients.auth();

    println!("auth benchmark, {cores} cores, {seconds} s per measurement");
    let one_core = tokio::task::spawn_blocking(move || argon2_per_second_one_core(seconds))
        .await
        .expect("argon2");
    let bound = one_core * cores as f64;
    println!("argon2id (OWASP) hashes/s, one core:       {one_core:>10.1}");
    println!("argon2 bound (× {cores} cores):               {bound:>10.1}");

    let login = {
        let client = client.clone();
        move || {
            let client = client.clone();
            async move {
                client
                    .login(pb::LoginRequest {
                        email: "bench@example.com".into(),
                        password: PASSWORD.into(),
                    })
                    .await
                    .is_ok()
            }
        }
    };
    let logins = hammer(cores * 2, seconds, login).await;
    println!(
        "logins/s (gRPC, auth → identity):         {logins:>10.1}   {:.2} × bound",
        logins / bound
    );

    let token = client
        .login(pb::LoginRequest {
            email: "bench@example.com".into(),
            password: PASSWORD.into(),
        })
        .await
        .expect("login")
        .access_token;
    let validate = {
        let (client, token) = (client.clone(), token.clone());
        move || {
            let (client, token) = (client.clone(), token.clone());
            async move {
                client
                    .validate_token(pb::ValidateTokenRequest { token })
                    .await
                    .is_ok()
            }
        }
    };
    let validations = hammer(32, seconds, validate).await;
    println!("ValidateToken/s (gRPC, 32 concurrent):    {validations:>10.1}");

    let started = Instant::now();
    let mut n = 0u64;
    while started.elapsed().as_secs_f64() < seconds {
        core.validate(&token).await.expect("valid");
        n += 1;
    }
    let in_core = n as f64 / started.elapsed().as_secs_f64();
    println!("ValidateToken/s (core, one thread):       {in_core:>10.1}");
}
