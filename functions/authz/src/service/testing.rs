//! In-memory ports for the core's tests: a store that keeps the same contract as the SQL one
//! (revisions, change log), and a service built on it with a manual clock.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use platform_kernel::caller::Caller;
use platform_testkit::clock::ManualClock;

use super::{AuthzService, Ports, Settings};
use crate::domain::{
    ADMIN, Assignment, Catalogue, PageRequest, Pattern, Resource, Revision, Role, RoleName, UserId,
};
use crate::error::{AuthzError, Result};
use crate::ports::{AuthzStore, Change, Held};

type Key = (String, String, String);

#[derive(Default)]
struct State {
    revision: i64,
    roles: BTreeMap<String, Role>,
    /// (user, role, resource) → expiry.
    assignments: BTreeMap<Key, Option<DateTime<Utc>>>,
    changes: Vec<Change>,
}

impl State {
    fn bump(&mut self, user: Option<&UserId>) -> Revision {
        self.revision += 1;
        let revision = Revision(self.revision);
        self.changes.push(Change {
            revision,
            user: user.cloned(),
        });
        revision
    }
}

pub struct MemoryStore(Mutex<State>);

impl MemoryStore {
    pub fn new() -> Self {
        let mut state = State {
            revision: 1,
            ..State::default()
        };
        state.roles.insert(
            ADMIN.to_owned(),
            Role {
                name: RoleName::from_trusted(ADMIN.to_owned()),
                description: "Every permission of every service.".to_owned(),
                permissions: vec![Pattern::All],
                built_in: true,
            },
        );
        Self(Mutex::new(state))
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn key(user: &UserId, role: &RoleName, resource: Option<&Resource>) -> Key {
    (
        user.as_str().to_owned(),
        role.as_str().to_owned(),
        resource.map(|r| r.as_str().to_owned()).unwrap_or_default(),
    )
}

fn assignment((user, role, resource): &Key, expires_at: Option<DateTime<Utc>>) -> Assignment {
    Assignment {
        user: UserId::from_trusted(user.clone()),
        role: RoleName::from_trusted(role.clone()),
        resource: (!resource.is_empty()).then(|| Resource::from_trusted(resource.clone())),
        expires_at,
    }
}

#[async_trait::async_trait]
impl AuthzStore for MemoryStore {
    async fn revision(&self) -> Result<Revision> {
        Ok(Revision(self.state().revision))
    }

    async fn create_role(
        &self,
        role: &Role,
        _now: DateTime<Utc>,
        _events: &[crate::ports::Event],
    ) -> Result<Revision> {
        let mut s = self.state();
        if s.roles.contains_key(role.name.as_str()) {
            return Err(AuthzError::RoleExists(role.name.as_str().to_owned()));
        }
        s.roles.insert(role.name.as_str().to_owned(), role.clone());
        Ok(s.bump(None))
    }

    async fn update_role(
        &self,
        role: &Role,
        _now: DateTime<Utc>,
        _events: &[crate::ports::Event],
    ) -> Result<Option<Revision>> {
        let mut s = self.state();
        if !s.roles.contains_key(role.name.as_str()) {
            return Ok(None);
        }
        s.roles.insert(role.name.as_str().to_owned(), role.clone());
        Ok(Some(s.bump(None)))
    }

    async fn delete_role(
        &self,
        name: &RoleName,
        _now: DateTime<Utc>,
        _events: &[crate::ports::Event],
    ) -> Result<Option<Revision>> {
        let mut s = self.state();
        if s.roles.remove(name.as_str()).is_none() {
            return Ok(None);
        }
        s.assignments
            .retain(|(_, role, _), _| role != name.as_str());
        Ok(Some(s.bump(None)))
    }

    async fn role(&self, name: &RoleName) -> Result<Option<Role>> {
        Ok(self.state().roles.get(name.as_str()).cloned())
    }

    async fn roles(&self, page: &PageRequest) -> Result<Vec<Role>> {
        let s = self.state();
        let after = page.after.as_ref().map(|a| a[0].clone());
        Ok(s.roles
            .values()
            .filter(|r| after.as_deref().is_none_or(|a| r.name.as_str() > a))
            .take(page.size as usize + 1)
            .cloned()
            .collect())
    }

    async fn assign(
        &self,
        a: &Assignment,
        _now: DateTime<Utc>,
        _events: &[crate::ports::Event],
    ) -> Result<Option<Revision>> {
        let mut s = self.state();
        if !s.roles.contains_key(a.role.as_str()) {
            return Ok(None);
        }
        s.assignments
            .insert(key(&a.user, &a.role, a.resource.as_ref()), a.expires_at);
        Ok(Some(s.bump(Some(&a.user))))
    }

    async fn revoke(
        &self,
        user: &UserId,
        role: &RoleName,
        resource: Option<&Resource>,
        _now: DateTime<Utc>,
        _events: &[crate::ports::Event],
    ) -> Result<Revision> {
        let mut s = self.state();
        s.assignments.remove(&key(user, role, resource));
        Ok(s.bump(Some(user)))
    }

    async fn held(&self, user: &UserId) -> Result<Vec<Held>> {
        let s = self.state();
        Ok(s.assignments
            .iter()
            .filter(|((u, _, _), _)| u == user.as_str())
            .filter_map(|(k, expires)| {
                Some(Held {
                    role: s.roles.get(&k.1)?.clone(),
                    assignment: assignment(k, *expires),
                })
            })
            .collect())
    }

    async fn holders(&self, role: &RoleName, page: &PageRequest) -> Result<Vec<Assignment>> {
        let s = self.state();
        let after = page.after.clone().map(|a| (a[0].clone(), a[1].clone()));
        Ok(s.assignments
            .iter()
            .filter(|((_, r, _), _)| r == role.as_str())
            .filter(|((u, _, res), _)| {
                after.as_ref().is_none_or(|(au, ares)| {
                    (u.as_str(), res.as_str()) > (au.as_str(), ares.as_str())
                })
            })
            .take(page.size as usize + 1)
            .map(|(k, e)| assignment(k, *e))
            .collect())
    }

    async fn changes_since(&self, after: Revision) -> Result<Vec<Change>> {
        Ok(self
            .state()
            .changes
            .iter()
            .filter(|c| c.revision > after)
            .cloned()
            .collect())
    }
}

pub fn catalogue() -> Catalogue {
    Catalogue::new(platform_clients::permissions::catalogue().map(|p| (p.name, p.description)))
}

pub struct Harness {
    pub service: Arc<AuthzService>,
    pub store: Arc<MemoryStore>,
    pub clock: Arc<ManualClock>,
}

impl Harness {
    pub async fn new() -> Self {
        let store = Arc::new(MemoryStore::new());
        let clock = Arc::new(ManualClock::starting_now());
        let service = AuthzService::new(
            Ports {
                store: store.clone(),
                clock: clock.clone(),
                shared: None,
            },
            catalogue(),
            Settings::default(),
        )
        .await
        .expect("service");
        Self {
            service: Arc::new(service),
            store,
            clock,
        }
    }

    /// `user` becomes an admin (by the operator, with platformctl).
    pub async fn admin(&self, user: &str) -> Caller {
        self.service
            .assign_role(&Caller::service("platformctl"), user, ADMIN, "", None)
            .await
            .expect("admin assigned");
        Caller::user(user)
    }

    /// A role with `permissions`, assigned to `user` (by an admin).
    pub async fn grant(&self, user: &str, role: &str, permissions: &[&str]) -> Caller {
        let admin = self.admin("root").await;
        let permissions: Vec<String> = permissions.iter().map(|p| (*p).to_owned()).collect();
        match self
            .service
            .create_role(&admin, role, "", &permissions)
            .await
        {
            Ok(_) | Err(AuthzError::RoleExists(_)) => {}
            Err(e) => panic!("role: {e}"),
        }
        self.service
            .assign_role(&admin, user, role, "", None)
            .await
            .expect("assigned");
        Caller::user(user)
    }
}
