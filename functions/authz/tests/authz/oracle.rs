//! The oracle: random sequences of role changes, assignments (global and scoped, expiring or
//! not), revocations, clock steps and checks, run through two service instances sharing one
//! SQL store (each with its own cache), and compared with a naive in-memory model after every
//! step. Writes go to either instance; a check either passes the revision of the last write
//! (`at_least_as_fresh`) or comes after the instance has read the change log: both must give
//! the model's answer. On both backends.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::sync::Arc;

use authz::domain::ADMIN;
use authz::error::AuthzError;
use authz::ports::SharedGrants;
use authz::service::checks::CheckItem;
use authz::service::{AuthzService, Ports, Settings};
use authz::store::{MIGRATIONS, RedisGrants, SqlAuthzStore};
use chrono::Duration;
use platform_database::Database;
use platform_kernel::caller::Caller;
use platform_kernel::clock::Clock as _;
use platform_testkit::clock::ManualClock;
use platform_testkit::on_both_backends;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

const PATTERNS: &[&str] = &[
    "*",
    "identity.*",
    "identity.users.*",
    "identity.users.read",
    "identity.users.list",
    "auth.*",
    "auth.sessions.revoke",
    "authz.roles.read",
];
const PERMISSIONS: &[&str] = &[
    "identity.users.read",
    "identity.users.list",
    "identity.users.delete",
    "auth.sessions.revoke",
    "authz.roles.read",
    "authz.assignments.manage",
];
const USERS: usize = 4;
const ROLES: usize = 4;
const SCOPES: &[&str] = &["", "org:1", "org:2"];

#[derive(Debug, Clone)]
enum Op {
    CreateRole {
        role: usize,
        patterns: Vec<usize>,
    },
    UpdateRole {
        role: usize,
        patterns: Vec<usize>,
    },
    DeleteRole {
        role: usize,
    },
    /// `role == ROLES` is admin.
    Assign {
        user: usize,
        role: usize,
        scope: usize,
        expires_in: Option<i64>,
    },
    Revoke {
        user: usize,
        role: usize,
        scope: usize,
    },
    Advance {
        seconds: i64,
    },
    /// `synced`: the instance reads the change log first, and the check passes no revision.
    Check {
        user: usize,
        permission: usize,
        scope: usize,
        second: bool,
        synced: bool,
    },
    Bulk {
        user: usize,
        items: Vec<(usize, usize)>,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let patterns = prop::collection::vec(0..PATTERNS.len(), 0..3);
    prop_oneof![
        (0..ROLES, patterns.clone()).prop_map(|(role, patterns)| Op::CreateRole { role, patterns }),
        (0..ROLES, patterns).prop_map(|(role, patterns)| Op::UpdateRole { role, patterns }),
        (0..ROLES).prop_map(|role| Op::DeleteRole { role }),
        (
            0..USERS,
            0..=ROLES,
            0..SCOPES.len(),
            prop::option::of(1..5i64)
        )
            .prop_map(|(user, role, scope, expires_in)| Op::Assign {
                user,
                role,
                scope,
                expires_in
            }),
        (0..USERS, 0..=ROLES, 0..SCOPES.len()).prop_map(|(user, role, scope)| Op::Revoke {
            user,
            role,
            scope
        }),
        (0..3i64).prop_map(|seconds| Op::Advance { seconds }),
        (
            0..USERS,
            0..PERMISSIONS.len(),
            0..SCOPES.len(),
            any::<bool>(),
            any::<bool>()
        )
            .prop_map(|(user, permission, scope, second, synced)| Op::Check {
                user,
                permission,
                scope,
                second,
                synced
            }),
        (
            0..USERS,
            prop::collection::vec((0..PERMISSIONS.len(), 0..SCOPES.len()), 1..20)
        )
            .prop_map(|(user, items)| Op::Bulk { user, items }),
    ]
}

/// The naive model: plain maps and string matching, written without the domain types.
#[derive(Default)]
struct Model {
    /// role → patterns.
    roles: BTreeMap<String, Vec<&'static str>>,
    /// (user, role, scope) → expiry in seconds since the case started.
    assignments: BTreeMap<(String, String, &'static str), Option<i64>>,
    now: i64,
}

fn naive_match(pattern: &str, permission: &str) -> bool {
    pattern == "*"
        || pattern == permission
        || (pattern.ends_with(".*") && permission.starts_with(&pattern[..pattern.len() - 1]))
}

impl Model {
    fn allowed(&self, user: &str, permission: &str, scope: &str) -> bool {
        self.assignments.iter().any(|((u, role, s), expiry)| {
            u == user
                && expiry.is_none_or(|e| e > self.now)
                && (s.is_empty() || *s == scope)
                && self.roles[role].iter().any(|p| naive_match(p, permission))
        })
    }
}

struct Case {
    first: AuthzService,
    second: AuthzService,
    prefix: String,
    root: Caller,
}

impl Case {
    fn user(&self, i: usize) -> String {
        format!("{}-user{i}", self.prefix)
    }

    fn role(&self, i: usize) -> String {
        if i == ROLES {
            ADMIN.to_owned()
        } else {
            format!("{}-role{i}", self.prefix)
        }
    }
}

async fn run_case(
    db: &Database,
    shared: Option<Arc<dyn SharedGrants>>,
    case_no: usize,
    ops: Vec<Op>,
) -> Result<(), TestCaseError> {
    let store = Arc::new(SqlAuthzStore::new(db.clone()));
    let clock = Arc::new(ManualClock::starting_now());
    let instance = || {
        AuthzService::new(
            Ports {
                store: store.clone(),
                clock: clock.clone(),
                shared: shared.clone(),
            },
            authz::app::catalogue(&[]),
            Settings::default(),
        )
    };
    let prefix = format!("c{case_no}");
    let root = format!("{prefix}-root");
    let case = Case {
        first: instance().await.expect("first"),
        second: instance().await.expect("second"),
        root: Caller::user(&root),
        prefix,
    };
    let identity = Caller::service("platformctl");
    case.first
        .assign_role(&identity, &root, ADMIN, "", None)
        .await
        .expect("root is admin");
    let start = clock.now();
    let mut model = Model::default();
    model.roles.insert(ADMIN.to_owned(), vec!["*"]);
    let mut fresh = String::new();
    for op in ops {
        match op {
            Op::CreateRole { role, patterns } => {
                let name = case.role(role);
                let list: Vec<String> = patterns.iter().map(|p| PATTERNS[*p].to_owned()).collect();
                let result = case.first.create_role(&case.root, &name, "", &list).await;
                let granted = patterns.iter().map(|p| PATTERNS[*p]).collect();
                match model.roles.entry(name) {
                    Entry::Occupied(_) => prop_assert!(
                        matches!(result, Err(AuthzError::RoleExists(_))),
                        "{result:?}"
                    ),
                    Entry::Vacant(v) => {
                        fresh = result.expect("created").1.token();
                        v.insert(granted);
                    }
                }
            }
            Op::UpdateRole { role, patterns } => {
                let name = case.role(role);
                let list: Vec<String> = patterns.iter().map(|p| PATTERNS[*p].to_owned()).collect();
                let result = case.first.update_role(&case.root, &name, "", &list).await;
                if let Some(granted) = model.roles.get_mut(&name) {
                    fresh = result.expect("updated").1.token();
                    *granted = patterns.iter().map(|p| PATTERNS[*p]).collect();
                } else {
                    prop_assert!(
                        matches!(result, Err(AuthzError::RoleNotFound(_))),
                        "{result:?}"
                    );
                }
            }
            Op::DeleteRole { role } => {
                let name = case.role(role);
                let result = case.first.delete_role(&case.root, &name).await;
                if model.roles.remove(&name).is_some() {
                    fresh = result.expect("deleted").token();
                    model.assignments.retain(|(_, r, _), _| *r != name);
                } else {
                    prop_assert!(
                        matches!(result, Err(AuthzError::RoleNotFound(_))),
                        "{result:?}"
                    );
                }
            }
            Op::Assign {
                user,
                role,
                scope,
                expires_in,
            } => {
                let (user, name) = (case.user(user), case.role(role));
                let expires_at = expires_in.map(|s| clock.now() + Duration::seconds(s));
                let result = case
                    .second
                    .assign_role(&case.root, &user, &name, SCOPES[scope], expires_at)
                    .await;
                if model.roles.contains_key(&name) {
                    fresh = result.expect("assigned").token();
                    model.assignments.insert(
                        (user, name, SCOPES[scope]),
                        expires_in.map(|s| model.now + s),
                    );
                } else {
                    prop_assert!(
                        matches!(result, Err(AuthzError::RoleNotFound(_))),
                        "{result:?}"
                    );
                }
            }
            Op::Revoke { user, role, scope } => {
                let (user, name) = (case.user(user), case.role(role));
                let result = case
                    .first
                    .revoke_role(&case.root, &user, &name, SCOPES[scope])
                    .await;
                if model.roles.contains_key(&name) {
                    fresh = result.expect("revoked").token();
                    model.assignments.remove(&(user, name, SCOPES[scope]));
                } else {
                    prop_assert!(
                        matches!(result, Err(AuthzError::RoleNotFound(_))),
                        "{result:?}"
                    );
                }
            }
            Op::Advance { seconds } => {
                clock.advance(Duration::seconds(seconds));
                model.now += seconds;
                prop_assert_eq!((clock.now() - start).num_seconds(), model.now);
            }
            Op::Check {
                user,
                permission,
                scope,
                second,
                synced,
            } => {
                let user = case.user(user);
                let instance = if second { &case.second } else { &case.first };
                let token = if synced {
                    instance.sync().await.expect("sync");
                    ""
                } else {
                    fresh.as_str()
                };
                let got = instance
                    .has_permission(
                        &case.root,
                        &user,
                        PERMISSIONS[permission],
                        SCOPES[scope],
                        token,
                    )
                    .await
                    .expect("check");
                let want = model.allowed(&user, PERMISSIONS[permission], SCOPES[scope]);
                prop_assert_eq!(
                    got,
                    want,
                    "{} {} on `{}`",
                    user,
                    PERMISSIONS[permission],
                    SCOPES[scope]
                );
            }
            Op::Bulk { user, items } => {
                let user = case.user(user);
                let questions: Vec<CheckItem<'_>> = items
                    .iter()
                    .map(|(p, s)| CheckItem {
                        permission: PERMISSIONS[*p],
                        resource: SCOPES[*s],
                    })
                    .collect();
                let got = case
                    .second
                    .check_many(&case.root, &user, &questions, &fresh)
                    .await
                    .expect("bulk");
                let want: Vec<bool> = items
                    .iter()
                    .map(|(p, s)| model.allowed(&user, PERMISSIONS[*p], SCOPES[*s]))
                    .collect();
                prop_assert_eq!(got, want);
            }
        }
    }
    Ok(())
}

on_both_backends!(
    checks_agree_with_a_naive_model,
    "authz",
    MIGRATIONS,
    oracle_body
);
async fn oracle_body(db: &Database) {
    run_oracle(db, None).await;
}

// The same with the instances sharing grants through Redis (`TEST_REDIS_URL`).
on_both_backends!(
    checks_agree_with_a_naive_model_sharing_redis,
    "authz",
    MIGRATIONS,
    oracle_redis_body
);
async fn oracle_redis_body(db: &Database) {
    let url = std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let prefix = format!("test-{stamp:x}:");
    let shared =
        RedisGrants::connect(&url, &prefix, std::time::Duration::from_secs(60)).expect("redis");
    run_oracle(db, Some(Arc::new(shared))).await;
}

async fn run_oracle(db: &Database, shared: Option<Arc<dyn SharedGrants>>) {
    let cases = std::env::var("AUTHZ_ORACLE_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(24);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let handle = tokio::runtime::Handle::current();
    let db = db.clone();
    let case_no = std::sync::atomic::AtomicUsize::new(0);
    // proptest drives the cases synchronously; each runs on this test's runtime from a
    // blocking thread.
    let result = tokio::task::spawn_blocking(move || {
        runner.run(&prop::collection::vec(op(), 1..60), |ops| {
            let n = case_no.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            handle.block_on(run_case(&db, shared.clone(), n, ops))
        })
    })
    .await
    .expect("runner");
    if let Err(e) = result {
        panic!("{e}");
    }
}
