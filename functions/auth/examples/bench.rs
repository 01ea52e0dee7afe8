//! Auth throughput, measured against its natural bound. Run on demand, in release mode:
//!
//!     cargo run --release -p auth --example bench [seconds] [argon2-only]
//!
//! Everything here runs in one process and one runtime, which distorts nested calls (a
//! login measured at concurrency 1 stalls ~40 ms here but not between real processes);
//! `functions/auth/bench/logins.sh` measures logins between real processes with wrk.
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
use platform_proto::auth::v1 as pb;
use platform_testkit::server::{Served, service_config};

const PASSWORD: &str = "correct horse battery";

/// Serves `router` through the production server for the rest of the run.
async fn serve(router: axum::Router) -> std::net::SocketAddr {
    Served::start(router).await.detach()
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
    if std::env::var_os("BENCH_LOG").is_some() {
        let telemetry = platform_kernel::config::TelemetryConfig {
            log_filter: std::env::var("BENCH_LOG").unwrap_or_default(),
            ..Default::default()
        };
        std::mem::forget(platform_kernel::telemetry::init("bench", &telemetry).expect("telemetry"));
    }
    let seconds: f64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(5.0);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let dir = tempfile::tempdir().expect("tempdir");

    let identity_config = service_config::<IdentityConfig>(dir.path());
    let identity = serve(
        identity::build(&identity_config)
            .await
            .expect("identity")
            .router,
    )
    .await;
    let mut auth_config = service_config::<AuthConfig>(dir.path());
    // BENCH_AUTH_DATABASE_URL=postgres://… measures auth on PostgreSQL instead of SQLite.
    if let Ok(url) = std::env::var("BENCH_AUTH_DATABASE_URL") {
        auth_config.base.database.url = Some(url.into());
    }
    auth_config
        .base
        .discovery
        .static_instances
        .insert("identity".into(), vec![format!("http://{identity}")]);
    let auth_app = auth::build(&auth_config).await.expect("auth");
    let core = auth_app.service.clone();
    let auth_router = auth_app.router.clone();
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
    let parallel: f64 = {
        let workers: Vec<_> = (0..cores)
            .map(|_| std::thread::spawn(move || argon2_per_second_one_core(seconds)))
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("argon2 thread"))
            .sum()
    };
    println!("argon2id (OWASP) hashes/s, one core:       {one_core:>10.1}");
    println!("argon2 bound (× {cores} cores):               {bound:>10.1}");
    println!(
        "argon2 measured on {cores} cores at once:      {parallel:>10.1}   {:.2} × bound",
        parallel / bound
    );
    if std::env::args().nth(2).as_deref() == Some("argon2-only") {
        return;
    }

    let identity_client = clients.identity();
    let verify = {
        let client = identity_client.clone();
        move || {
            let client = client.clone();
            async move {
                client
                    .verify_password(platform_proto::identity::v1::VerifyPasswordRequest {
                        email: "bench@example.com".into(),
                        password: PASSWORD.into(),
                    })
                    .await
                    .is_ok()
            }
        }
    };
    let verifications = hammer(cores * 2, seconds, verify.clone()).await;
    let v1 = hammer(1, seconds, verify).await;
    println!("VerifyPassword/s at concurrency 1: {v1:.1}");
    println!(
        "VerifyPassword/s (gRPC, identity alone):   {verifications:>10.1}   {:.2} × bound",
        verifications / bound
    );

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
    let core_login = {
        let core = core.clone();
        move || {
            let core = core.clone();
            async move {
                let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
                platform_kernel::deadline::scope(
                    deadline,
                    core.login("bench@example.com", PASSWORD, "127.0.0.1".parse().ok()),
                )
                .await
                .is_ok()
            }
        }
    };
    let c1 = hammer(1, seconds, core_login).await;
    let oneshot = {
        let router = auth_router.clone();
        move || {
            let router = router.clone();
            async move {
                use tower::ServiceExt as _;
                let body = format!(r#"{{"email":"bench@example.com","password":"{PASSWORD}"}}"#);
                let request = http::Request::post("/platform.auth.v1.AuthService/Login")
                    .header("content-type", "application/json")
                    .body(axum::body::Body::from(body))
                    .expect("request");
                router
                    .oneshot(request)
                    .await
                    .map(|r| r.status() == 200)
                    .unwrap_or(false)
            }
        }
    };
    let o1 = hammer(1, seconds, oneshot).await;
    println!("logins/s through the router in-process at concurrency 1: {o1:.1}");
    println!("logins/s in the core at concurrency 1: {c1:.1}");
    let l1 = hammer(1, seconds, login.clone()).await;
    println!("logins/s at concurrency 1: {l1:.1}");
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
    let v1 = hammer(1, seconds, validate.clone()).await;
    println!("ValidateToken/s at concurrency 1: {v1:.1}");
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
