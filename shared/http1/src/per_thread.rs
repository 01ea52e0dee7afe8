//! State kept apart per worker thread. The gateway serves on one thread per core; state that
//! every call writes (idle upstream connections, the verified-token cache) would otherwise
//! make the cores pass the same cache lines back and forth on every call, as a shared lock
//! does. Each thread gets a shard of its own, on a cache line of its own.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

/// Shards: more than the cores of any host the gateway runs on; threads beyond that share.
const SHARDS: usize = 64;

static NEXT_THREAD: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static THREAD: usize = NEXT_THREAD.fetch_add(1, Ordering::Relaxed);
}

/// A number for the calling thread, unique within the process.
pub fn thread_index() -> usize {
    THREAD.with(|t| *t)
}

#[repr(align(128))]
struct Shard<T>(Mutex<T>);

pub struct PerThread<T> {
    shards: Box<[Shard<T>]>,
}

impl<T: Default> Default for PerThread<T> {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Shard(Mutex::default())).collect(),
        }
    }
}

impl<T> PerThread<T> {
    /// Runs `f` on the calling thread's shard.
    pub fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        let shard = &self.shards[thread_index() % SHARDS];
        f(&mut shard.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_thread_sees_its_own_shard() {
        let counts: std::sync::Arc<PerThread<usize>> = std::sync::Arc::default();
        counts.with(|n| *n += 1);
        let other = counts.clone();
        let theirs = std::thread::spawn(move || {
            other.with(|n| *n += 10);
            thread_index()
        })
        .join()
        .expect("thread");
        assert_ne!(theirs, thread_index());
        if theirs % SHARDS != thread_index() % SHARDS {
            assert_eq!(counts.with(|n| *n), 1);
        }
    }
}
