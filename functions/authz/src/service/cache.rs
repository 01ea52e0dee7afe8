//! The effective grants of users, cached in process. An entry is dropped explicitly by every
//! write on this instance and, within one sync interval, by every write on another (the
//! store's change log, read by `sync`); the TTL is only a safety net. An entry loaded while
//! an invalidation ran is not kept (the generation check), so a cache never holds an answer
//! older than a change it has already applied.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use crate::domain::{Grant, Revision, UserId};

struct Entry {
    /// The store's revision read before the grants were: they are at least this new.
    revision: Revision,
    loaded: Instant,
    grants: Arc<[Grant]>,
}

type Entries = HashMap<UserId, Entry, foldhash::fast::RandomState>;

/// Users whose last change is remembered one by one.
const CHANGES_KEPT: usize = 100_000;

pub struct GrantCache {
    entries: RwLock<Entries>,
    /// Bumped by every invalidation.
    generation: AtomicU64,
    /// Every change up to this revision has been applied; when it was last brought up.
    synced: Mutex<(Revision, Instant)>,
    /// The revision of the last change applied to each user (bounded), and of the last one
    /// that touched everyone (a role change, or the map starting over): what an entry of the
    /// shared cache must be at least as new as.
    changes: Mutex<(
        HashMap<UserId, Revision, foldhash::fast::RandomState>,
        Revision,
    )>,
    ttl: Duration,
}

/// What a lookup found.
pub enum Cached {
    Hit(Arc<[Grant]>),
    /// Not cached, too old, or older than the caller asked for: load, then `insert` with this
    /// generation.
    Miss {
        generation: u64,
    },
}

impl GrantCache {
    pub fn new(synced: Revision, ttl: Duration) -> Self {
        Self {
            entries: RwLock::new(HashMap::default()),
            generation: AtomicU64::new(0),
            synced: Mutex::new((synced, Instant::now())),
            changes: Mutex::new((HashMap::default(), Revision::default())),
            ttl,
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Entries> {
        self.entries
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Entries> {
        self.entries
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn synced_state(&self) -> (Revision, Instant) {
        *self
            .synced
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The user's grants, if cached, younger than the TTL, and at least as new as `fresh`.
    pub fn get(&self, user: &UserId, fresh: Option<Revision>) -> Cached {
        let generation = self.generation.load(Ordering::Acquire);
        let synced = self.synced_state().0;
        let entries = self.read();
        match entries.get(user) {
            // An entry still here has survived every change applied so far: it is current
            // as of the last sync, too.
            Some(e)
                if e.loaded.elapsed() < self.ttl
                    && fresh.is_none_or(|f| e.revision.max(synced) >= f) =>
            {
                Cached::Hit(e.grants.clone())
            }
            _ => Cached::Miss { generation },
        }
    }

    /// Keeps what was loaded, unless an invalidation ran since `generation` was read.
    pub fn insert(&self, user: UserId, revision: Revision, grants: Arc<[Grant]>, generation: u64) {
        let mut entries = self.write();
        if self.generation.load(Ordering::Acquire) != generation {
            return;
        }
        entries.insert(
            user,
            Entry {
                revision,
                loaded: Instant::now(),
                grants,
            },
        );
    }

    pub fn invalidate_user(&self, user: &UserId) {
        let mut entries = self.write();
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.remove(user);
    }

    pub fn invalidate_all(&self) {
        let mut entries = self.write();
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.clear();
    }

    /// Remembers that `user` (everyone, for `None`) changed at `revision`.
    pub fn note_change(&self, user: Option<&UserId>, revision: Revision) {
        let mut changes = self
            .changes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (users, everyone) = &mut *changes;
        match user {
            None => *everyone = (*everyone).max(revision),
            Some(_) if users.len() >= CHANGES_KEPT => {
                users.clear();
                *everyone = (*everyone).max(revision);
            }
            Some(user) => {
                let at = users.entry(user.clone()).or_default();
                *at = (*at).max(revision);
            }
        }
    }

    /// The revision of the last change known to have touched `user`.
    pub fn last_change(&self, user: &UserId) -> Revision {
        let changes = self
            .changes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        changes
            .0
            .get(user)
            .copied()
            .unwrap_or_default()
            .max(changes.1)
    }

    /// The revision every change up to which has been applied.
    pub fn synced(&self) -> Revision {
        self.synced_state().0
    }

    /// How long ago the change log was last read.
    pub fn since_sync(&self) -> Duration {
        self.synced_state().1.elapsed()
    }

    pub fn mark_synced(&self, revision: Revision) {
        let mut synced = self
            .synced
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *synced = (revision.max(synced.0), Instant::now());
    }

    pub fn len(&self) -> usize {
        self.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(s: &str) -> UserId {
        UserId::from_trusted(s.to_owned())
    }

    fn miss_generation(c: Cached) -> u64 {
        match c {
            Cached::Miss { generation } => generation,
            Cached::Hit(_) => panic!("expected a miss"),
        }
    }

    #[test]
    fn a_load_that_raced_an_invalidation_is_not_kept() {
        let cache = GrantCache::new(Revision(1), Duration::from_secs(60));
        let generation = miss_generation(cache.get(&user("u"), None));
        cache.invalidate_user(&user("u"));
        cache.insert(user("u"), Revision(1), Arc::from([]), generation);
        assert!(cache.is_empty());
        let generation = miss_generation(cache.get(&user("u"), None));
        cache.insert(user("u"), Revision(2), Arc::from([]), generation);
        assert!(matches!(cache.get(&user("u"), None), Cached::Hit(_)));
    }

    #[test]
    fn a_fresher_revision_than_cached_is_a_miss_until_synced_past_it() {
        let cache = GrantCache::new(Revision(1), Duration::from_secs(60));
        let generation = miss_generation(cache.get(&user("u"), None));
        cache.insert(user("u"), Revision(3), Arc::from([]), generation);
        assert!(matches!(
            cache.get(&user("u"), Some(Revision(3))),
            Cached::Hit(_)
        ));
        assert!(matches!(
            cache.get(&user("u"), Some(Revision(4))),
            Cached::Miss { .. }
        ));
        cache.mark_synced(Revision(5));
        assert!(matches!(
            cache.get(&user("u"), Some(Revision(4))),
            Cached::Hit(_)
        ));
    }

    #[test]
    fn entries_expire_after_the_ttl() {
        let cache = GrantCache::new(Revision(1), Duration::ZERO);
        let generation = miss_generation(cache.get(&user("u"), None));
        cache.insert(user("u"), Revision(1), Arc::from([]), generation);
        assert!(matches!(cache.get(&user("u"), None), Cached::Miss { .. }));
    }
}
