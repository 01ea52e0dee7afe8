//! The balancer's choices against a clock the tests move: the faster of two instances gets
//! every call, and one that was slow is tried again once its estimate has faded.

use std::sync::Arc;
use std::time::Duration;

use platform_discovery::Instance;
use tokio::sync::watch;
use tokio::time::Instant;

use super::{Balancer, HALF_LIFE, Outcome};
use crate::config::BreakerConfig;

fn balancer(ids: &[&str]) -> (Balancer, watch::Sender<platform_discovery::InstanceSet>) {
    let set: Vec<Instance> = ids
        .iter()
        .map(|id| Instance {
            id: (*id).to_owned(),
            base_url: format!("http://{id}.test"),
        })
        .collect();
    let (tx, rx) = watch::channel(Some(Arc::new(set)));
    (Balancer::new("svc", rx, BreakerConfig::default()), tx)
}

/// How long each instance takes to answer.
fn latency(id: &str) -> Duration {
    match id {
        "slow" => Duration::from_millis(500),
        "fast" => Duration::from_millis(1),
        _ => Duration::from_micros(500),
    }
}

/// Picks at `at`, and finishes the call when the instance answers; returns the instance's id.
async fn call(balancer: &Balancer, at: Instant) -> String {
    let pick = balancer
        .pick_at(&[], at + Duration::from_secs(5), at)
        .await
        .expect("an instance");
    let id = pick.instance().id.clone();
    pick.finish_at(Outcome::Success, at + latency(&id));
    id
}

/// Teaches the balancer that `slow` takes 500 ms and `fast` 1 ms, at `now`.
async fn teach(balancer: &Balancer, now: Instant) {
    for id in ["slow", "fast"] {
        let state = balancer.resolve(&balancer.instances.borrow().clone().expect("set"));
        let index = state.set.iter().position(|i| i.id == id).expect("instance");
        for _ in 0..8 {
            state.states[index].observe(latency(id), now);
        }
    }
}

#[tokio::test]
async fn of_two_instances_the_faster_gets_most_calls() {
    let (balancer, _tx) = balancer(&["slow", "fast"]);
    let now = Instant::now();
    teach(&balancer, now).await;
    let mut fast_calls = 0;
    for n in 0..400 {
        let at = now + Duration::from_millis(n);
        if call(&balancer, at).await == "fast" {
            fast_calls += 1;
        }
    }
    // The slow one is chosen only when both draws fall on it: 1 in 4.
    assert!((250..350).contains(&fast_calls), "{fast_calls} of 400");
}

#[tokio::test]
async fn a_slow_instances_estimate_fades_while_it_takes_no_calls() {
    let (balancer, _tx) = balancer(&["slow", "fast"]);
    let now = Instant::now();
    teach(&balancer, now).await;
    let known = balancer.resolve(&balancer.instances.borrow().clone().expect("set"));
    let slow = &known.states[known.set.iter().position(|i| i.id == "slow").expect("slow")];
    let fast = &known.states[known.set.iter().position(|i| i.id == "fast").expect("fast")];
    let halved = slow.estimate_us(now + HALF_LIFE);
    assert!(
        (240_000.0..260_000.0).contains(&halved),
        "after a half-life: {halved}"
    );
    // After log2(500) ≈ 9 half-lives the slow one looks as fast as the fast one did.
    let later = now + HALF_LIFE * 9;
    assert!(
        slow.load(later) < 2.0 * fast.load(now),
        "{} vs {}",
        slow.load(later),
        fast.load(now)
    );
    // A new sample counts in full against the faded estimate.
    slow.observe(Duration::from_millis(100), later);
    let estimate = slow.estimate_us(later);
    assert!((25_000.0..26_000.0).contains(&estimate), "{estimate}");
}

#[tokio::test]
async fn a_new_faster_instance_takes_its_share_at_once() {
    let (balancer, tx) = balancer(&["slow", "fast"]);
    let now = Instant::now();
    teach(&balancer, now).await;
    let set = tx.borrow().clone().expect("set");
    let mut grown = (*set).clone();
    grown.push(Instance {
        id: "new".into(),
        base_url: "http://new.test".into(),
    });
    tx.send_replace(Some(Arc::new(grown)));
    // Unknown, it is preferred; then its 0.5 ms beats both others whenever it is one of the
    // two draws (5 picks in 9). Chance alone would give it 1 in 3.
    let mut new_calls = 0;
    for n in 0..900 {
        let at = now + Duration::from_millis(n);
        if call(&balancer, at).await == "new" {
            new_calls += 1;
        }
    }
    assert!(new_calls > 420, "{new_calls} of 900");
}
