//! Behind the gateway, auth sees each client's own address (the gateway is its trusted
//! proxy), so one client's failed logins lock that client, not everyone who comes through
//! the gateway.

use std::sync::Arc;

use platform_kernel::clock::SystemClock;
use serde_json::json;

use crate::support::Stack;

const LOGIN: &str = "/platform.auth.v1.AuthService/Login";

#[tokio::test]
async fn one_clients_failed_logins_do_not_lock_out_another_client() {
    let loopback: std::net::IpAddr = "127.0.0.1".parse().expect("ip");
    let stack = Stack::start_full(
        // Auth trusts the gateway's X-Forwarded-For, as every shipped shape configures it.
        |services| services.auth.base.server.trusted_proxies = vec![loopback],
        |gateway| {
            // The test's clients come from one socket: the gateway believes the address they
            // say they come from (as it would a load balancer's), and lets every attempt
            // through to auth.
            gateway.base.server.trusted_proxies = vec![loopback];
            gateway.own.rate_limit.routes.clear();
            gateway.own.rate_limit.rps = 10_000;
            gateway.own.rate_limit.burst = 10_000;
        },
        Arc::new(SystemClock),
    )
    .await;
    let owner = stack.services.user("owner@example.com").await;
    let login = |from: &'static str, email: String, password: &'static str| {
        let stack = &stack;
        async move {
            let body = json!({"email": email, "password": password}).to_string();
            stack
                .call(
                    "POST",
                    LOGIN,
                    &[
                        ("content-type", "application/json"),
                        ("x-forwarded-for", from),
                    ],
                    body,
                )
                .await
        }
    };
    // The attacker: 20 failures on random emails, until auth locks their address.
    let mut answers = Vec::new();
    for i in 0..21 {
        answers.push(
            login(
                "198.51.100.1",
                format!("nobody{i}@example.com"),
                "wrong password!",
            )
            .await,
        );
    }
    let statuses: Vec<u16> = answers.iter().map(|a| a.0).collect();
    assert_eq!(
        statuses.last(),
        Some(&429),
        "the attacker is locked: {statuses:?}"
    );
    let retry: u64 = answers[20].1["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("Retry-After in whole seconds");
    assert!((1..=30).contains(&retry), "{retry}");
    // Another client signs in at once.
    let owner_login = || {
        login(
            "203.0.113.7",
            owner.email.clone(),
            platform_teststack::PASSWORD,
        )
    };
    assert_eq!(owner_login().await.0, 200);
    // An attacker guessing the owner's password from another address locks only their own
    // (address, account) pair: the owner still signs in.
    let mut guesses = Vec::new();
    for _ in 0..8 {
        guesses.push(
            login("198.51.100.2", owner.email.clone(), "wrong password!")
                .await
                .0,
        );
    }
    assert_eq!(
        guesses,
        [401, 401, 401, 401, 401, 429, 429, 429],
        "{guesses:?}"
    );
    assert_eq!(
        owner_login().await.0,
        200,
        "never locked out by someone else"
    );
}
