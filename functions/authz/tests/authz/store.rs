//! The SQL store on SQLite and PostgreSQL: the properties the core relies on.

use std::sync::Arc;

use authz::domain::{Assignment, PageRequest, Pattern, Resource, Revision, Role, RoleName, UserId};
use authz::error::AuthzError;
use authz::ports::{AuthzStore, Change};
use authz::store::{MIGRATIONS, SqlAuthzStore};
use chrono::{DateTime, Utc};
use platform_database::Database;
use platform_testkit::on_both_backends;

fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000 + seconds, 123_456_000).expect("instant")
}

fn role(name: &str, permissions: &[&str]) -> Role {
    Role {
        name: RoleName::parse("name", name).expect("name"),
        description: "Ünïcode description".to_owned(),
        permissions: permissions
            .iter()
            .map(|p| Pattern::parse("p", p).expect("pattern"))
            .collect(),
        built_in: false,
    }
}

fn user(s: &str) -> UserId {
    UserId::parse("user", s).expect("user")
}

fn assignment(u: &str, r: &str, resource: Option<&str>, expires: Option<i64>) -> Assignment {
    Assignment {
        user: user(u),
        role: RoleName::parse("role", r).expect("role"),
        resource: resource.map(|s| Resource::from_trusted(s.to_owned())),
        expires_at: expires.map(at),
    }
}

fn page(size: u32, after: Option<&[&str]>) -> PageRequest {
    PageRequest {
        size,
        after: after.map(|a| a.iter().map(|s| (*s).to_owned()).collect()),
    }
}

on_both_backends!(roles_round_trip, "authz", MIGRATIONS, roles_round_trip_body);
async fn roles_round_trip_body(db: &Database) {
    let store = SqlAuthzStore::new(db.clone());
    let admin = store
        .role(&RoleName::parse("n", "admin").expect("name"))
        .await
        .expect("read")
        .expect("admin is there from the start");
    assert!(admin.built_in);
    assert_eq!(admin.permissions, [Pattern::All]);
    let editor = role("editor", &["identity.*", "identity.users.read"]);
    store
        .create_role(&editor, at(0), &[])
        .await
        .expect("create");
    assert_eq!(
        store.role(&editor.name).await.expect("read"),
        Some(editor.clone())
    );
    let err = store
        .create_role(&editor, at(1), &[])
        .await
        .expect_err("twice");
    assert!(matches!(err, AuthzError::RoleExists(_)), "{err}");
    let changed = role("editor", &["auth.*"]);
    assert!(
        store
            .update_role(&changed, at(2), &[])
            .await
            .expect("update")
            .is_some()
    );
    assert_eq!(store.role(&editor.name).await.expect("read"), Some(changed));
    assert!(
        store
            .update_role(&role("ghost", &[]), at(2), &[])
            .await
            .expect("update")
            .is_none()
    );
    let mut built_in = admin.clone();
    built_in.permissions.clear();
    built_in.built_in = false;
    assert!(
        store
            .update_role(&built_in, at(3), &[])
            .await
            .expect("update")
            .is_none(),
        "the store never changes a built-in role"
    );
    assert!(
        store
            .delete_role(&admin.name, at(3), &[])
            .await
            .expect("delete")
            .is_none()
    );
    assert!(store.role(&admin.name).await.expect("read").is_some());
}

on_both_backends!(
    roles_page_by_name,
    "authz",
    MIGRATIONS,
    roles_page_by_name_body
);
async fn roles_page_by_name_body(db: &Database) {
    let store = SqlAuthzStore::new(db.clone());
    for name in ["b", "c", "a", "d"] {
        store
            .create_role(&role(name, &["*"]), at(0), &[])
            .await
            .expect("create");
    }
    let names = |roles: Vec<Role>| -> Vec<String> {
        roles
            .into_iter()
            .map(|r| r.name.as_str().to_owned())
            .collect()
    };
    assert_eq!(
        names(store.roles(&page(2, None)).await.expect("page")),
        ["a", "admin", "b"]
    );
    assert_eq!(
        names(store.roles(&page(2, Some(&["admin"]))).await.expect("page")),
        ["b", "c", "d"]
    );
    assert_eq!(
        names(store.roles(&page(2, Some(&["d"]))).await.expect("page")),
        Vec::<String>::new()
    );
}

on_both_backends!(
    assignments_round_trip,
    "authz",
    MIGRATIONS,
    assignments_round_trip_body
);
async fn assignments_round_trip_body(db: &Database) {
    let store = SqlAuthzStore::new(db.clone());
    store
        .create_role(&role("reader", &["identity.users.read"]), at(0), &[])
        .await
        .expect("role");
    let global = assignment("u1", "reader", None, None);
    let scoped = assignment("u1", "reader", Some("org:42"), Some(100));
    store
        .assign(&global, at(1), &[])
        .await
        .expect("assign")
        .expect("role exists");
    store
        .assign(&scoped, at(1), &[])
        .await
        .expect("assign")
        .expect("role exists");
    assert!(
        store
            .assign(&assignment("u1", "ghost", None, None), at(1), &[])
            .await
            .expect("assign")
            .is_none()
    );
    let mut held: Vec<Assignment> = store
        .held(&user("u1"))
        .await
        .expect("held")
        .into_iter()
        .map(|h| {
            assert_eq!(h.role.name.as_str(), "reader");
            h.assignment
        })
        .collect();
    held.sort_by(|a, b| a.resource.cmp(&b.resource));
    assert_eq!(held, [global.clone(), scoped.clone()]);
    // Assigning again replaces the expiry.
    let longer = assignment("u1", "reader", Some("org:42"), Some(200));
    store.assign(&longer, at(2), &[]).await.expect("again");
    assert_eq!(store.held(&user("u1")).await.expect("held").len(), 2);
    store
        .revoke(&user("u1"), &global.role, None, at(3), &[])
        .await
        .expect("revoke");
    let held = store.held(&user("u1")).await.expect("held");
    assert_eq!(
        held.into_iter().map(|h| h.assignment).collect::<Vec<_>>(),
        [longer]
    );
    assert!(store.held(&user("nobody")).await.expect("held").is_empty());
    // Deleting the role takes its assignments with it.
    store
        .delete_role(&global.role, at(4), &[])
        .await
        .expect("delete")
        .expect("existed");
    assert!(store.held(&user("u1")).await.expect("held").is_empty());
}

on_both_backends!(
    holders_page_by_user_then_resource,
    "authz",
    MIGRATIONS,
    holders_body
);
async fn holders_body(db: &Database) {
    let store = SqlAuthzStore::new(db.clone());
    store
        .create_role(&role("r", &["*"]), at(0), &[])
        .await
        .expect("role");
    for (u, res) in [
        ("u2", None),
        ("u1", Some("org:2")),
        ("u1", None),
        ("u1", Some("org:1")),
    ] {
        store
            .assign(&assignment(u, "r", res, None), at(0), &[])
            .await
            .expect("assign");
    }
    let name = RoleName::parse("r", "r").expect("name");
    let key = |a: &Assignment| {
        (
            a.user.as_str().to_owned(),
            a.resource
                .as_ref()
                .map(|r| r.as_str().to_owned())
                .unwrap_or_default(),
        )
    };
    let first = store.holders(&name, &page(2, None)).await.expect("page");
    let keys: Vec<_> = first.iter().map(key).collect();
    assert_eq!(
        keys[..2],
        [("u1".into(), "".into()), ("u1".into(), "org:1".into())]
    );
    let rest = store
        .holders(&name, &page(2, Some(&["u1", "org:1"])))
        .await
        .expect("page");
    let keys: Vec<_> = rest.iter().map(key).collect();
    assert_eq!(
        keys,
        [
            ("u1".to_owned(), "org:2".to_owned()),
            ("u2".to_owned(), String::new())
        ]
    );
}

on_both_backends!(
    every_write_takes_the_next_revision_and_logs_it,
    "authz",
    MIGRATIONS,
    revisions_body
);
async fn revisions_body(db: &Database) {
    let store = Arc::new(SqlAuthzStore::new(db.clone()));
    let start = store.revision().await.expect("revision");
    let r1 = store
        .create_role(&role("r", &["*"]), at(0), &[])
        .await
        .expect("role");
    assert_eq!(r1, Revision(start.0 + 1));
    // Concurrent writers: distinct, consecutive revisions, each logged once.
    let writers: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .assign(&assignment(&format!("u{i}"), "r", None, None), at(1), &[])
                    .await
                    .expect("assign")
                    .expect("role exists")
            })
        })
        .collect();
    let mut revisions = Vec::new();
    for w in writers {
        revisions.push(w.await.expect("task").0);
    }
    revisions.sort_unstable();
    assert_eq!(revisions, (start.0 + 2..start.0 + 10).collect::<Vec<_>>());
    assert_eq!(
        store.revision().await.expect("revision"),
        Revision(start.0 + 9)
    );
    let changes = store.changes_since(start).await.expect("changes");
    assert_eq!(changes.len(), 9);
    assert_eq!(
        changes[0],
        Change {
            revision: r1,
            user: None
        }
    );
    assert!(
        changes
            .windows(2)
            .all(|w| w[1].revision.0 == w[0].revision.0 + 1)
    );
    assert!(changes[1..].iter().all(|c| c.user.is_some()));
    assert!(
        store
            .changes_since(Revision(start.0 + 9))
            .await
            .expect("none")
            .is_empty()
    );
    // A write that changes nothing takes no revision.
    assert!(
        store
            .update_role(&role("ghost", &[]), at(2), &[])
            .await
            .expect("update")
            .is_none()
    );
    assert_eq!(
        store.revision().await.expect("revision"),
        Revision(start.0 + 9)
    );
}
