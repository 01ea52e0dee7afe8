//! The authz core as an attacker and as an operator would try it.

use chrono::Duration;
use platform_kernel::caller::Caller;
use platform_kernel::clock::Clock as _;

use super::checks::CheckItem;
use super::testing::Harness;
use crate::domain::ADMIN;
use crate::error::AuthzError;

fn denied<T: std::fmt::Debug>(r: Result<T, AuthzError>) {
    match r {
        Err(AuthzError::PermissionDenied(_)) => {}
        other => panic!("expected permission_denied, got {other:?}"),
    }
}

#[tokio::test]
async fn a_plain_user_reads_their_own_rights_and_nothing_else() {
    let h = Harness::new().await;
    let mallory = Caller::user("mallory");
    assert!(
        !h.service
            .has_permission(&mallory, "mallory", "identity.users.list", "", "")
            .await
            .expect("own check")
    );
    assert!(
        h.service
            .user_roles(&mallory, "mallory", "")
            .await
            .expect("own")
            .is_empty()
    );
    denied(
        h.service
            .has_permission(&mallory, "alice", "identity.users.list", "", "")
            .await,
    );
    denied(h.service.user_roles(&mallory, "alice", "").await);
    denied(h.service.user_permissions(&mallory, "alice", "", "").await);
    denied(
        h.service
            .assign_role(&mallory, "mallory", ADMIN, "", None)
            .await,
    );
    denied(
        h.service
            .create_role(&mallory, "mine", "", &["*".into()])
            .await,
    );
    denied(h.service.list_roles(&mallory, 0, "").await);
    denied(h.service.role_holders(&mallory, ADMIN, 0, "").await);
    assert!(
        !h.service
            .list_permissions(&mallory)
            .expect("catalogue")
            .is_empty()
    );
}

#[tokio::test]
async fn nobody_unverified_gets_anything() {
    let h = Harness::new().await;
    let anonymous = Caller::Anonymous;
    for result in [
        h.service
            .has_permission(&anonymous, "u", "identity.users.read", "", "")
            .await
            .map(drop),
        h.service
            .assign_role(&anonymous, "u", ADMIN, "", None)
            .await
            .map(drop),
        h.service.list_permissions(&anonymous).map(drop),
        h.service.get_role(&anonymous, ADMIN).await.map(drop),
    ] {
        assert!(
            matches!(result, Err(AuthzError::Unauthenticated(_))),
            "{result:?}"
        );
    }
}

#[tokio::test]
async fn a_manager_cannot_grant_more_than_they_hold() {
    let h = Harness::new().await;
    let manager = h
        .grant(
            "manager",
            "assigner",
            &[
                "authz.assignments.manage",
                "authz.roles.manage",
                "identity.users.read",
            ],
        )
        .await;
    let admin = h.admin("root").await;
    h.service
        .create_role(&admin, "reader", "", &["identity.users.read".into()])
        .await
        .expect("reader");
    h.service
        .create_role(&admin, "lister", "", &["identity.users.list".into()])
        .await
        .expect("lister");
    // What they hold, they may hand on.
    h.service
        .assign_role(&manager, "bob", "reader", "", None)
        .await
        .expect("reader assigned");
    // Not admin, not a role with a permission they lack, not to themselves either.
    denied(
        h.service
            .assign_role(&manager, "manager", ADMIN, "", None)
            .await,
    );
    denied(
        h.service
            .assign_role(&manager, "bob", "lister", "", None)
            .await,
    );
    denied(
        h.service
            .create_role(&manager, "sneaky", "", &["identity.*".into()])
            .await,
    );
    denied(
        h.service
            .update_role(&manager, "lister", "", &["identity.users.read".into()])
            .await,
    );
    denied(h.service.delete_role(&manager, "lister").await);
    denied(h.service.revoke_role(&manager, "root", ADMIN, "").await);
    assert!(
        h.service
            .has_permission(&admin, "root", "authz.roles.manage", "", "")
            .await
            .expect("check")
    );
}

#[tokio::test]
async fn admin_is_built_in_holds_everything_and_cannot_be_changed() {
    let h = Harness::new().await;
    let admin = h.admin("root").await;
    for p in platform_clients::permissions::catalogue() {
        assert!(
            h.service
                .has_permission(&admin, "root", p.name, "", "")
                .await
                .expect("check")
        );
    }
    assert!(matches!(
        h.service.delete_role(&admin, ADMIN).await,
        Err(AuthzError::BuiltIn(_))
    ));
    assert!(matches!(
        h.service.update_role(&admin, ADMIN, "", &[]).await,
        Err(AuthzError::BuiltIn(_))
    ));
    assert!(
        h.service
            .get_role(&admin, ADMIN)
            .await
            .expect("admin")
            .built_in
    );
}

#[tokio::test]
async fn identity_makes_only_the_first_admin_and_the_operator_assigns_freely() {
    let h = Harness::new().await;
    let identity = Caller::service("identity");
    denied(
        h.service
            .assign_role(&Caller::service("audit"), "u", ADMIN, "", None)
            .await,
    );
    // Nothing but a permanent, global admin, while there is none.
    let soon = Some(h.clock.now() + Duration::hours(1));
    denied(h.service.assign_role(&identity, "u", ADMIN, "", soon).await);
    denied(
        h.service
            .assign_role(&identity, "u", ADMIN, "org:1", None)
            .await,
    );
    h.service
        .assign_role(&identity, "u", ADMIN, "", None)
        .await
        .expect("the first admin");
    h.service
        .assign_role(&identity, "u", ADMIN, "", None)
        .await
        .expect("again, the same one");
    denied(h.service.assign_role(&identity, "v", ADMIN, "", None).await);
    denied(h.service.revoke_role(&identity, "u", ADMIN, "").await);
    let operator = Caller::service("platformctl");
    h.service
        .assign_role(&operator, "v", ADMIN, "", None)
        .await
        .expect("the operator assigns");
    h.service
        .revoke_role(&operator, "u", ADMIN, "")
        .await
        .expect("and revokes");
}

#[tokio::test]
async fn a_temporary_grant_cannot_be_made_permanent() {
    let h = Harness::new().await;
    let operator = Caller::service("platformctl");
    let in_an_hour = h.clock.now() + Duration::hours(1);
    h.service
        .assign_role(&operator, "temp", ADMIN, "", Some(in_an_hour))
        .await
        .expect("an admin for an hour");
    let temp = Caller::user("temp");
    denied(h.service.assign_role(&temp, "temp", ADMIN, "", None).await);
    denied(
        h.service
            .assign_role(
                &temp,
                "friend",
                ADMIN,
                "",
                Some(in_an_hour + Duration::seconds(1)),
            )
            .await,
    );
    denied(
        h.service
            .create_role(&temp, "forever", "", &["identity.*".into()])
            .await,
    );
    h.service
        .assign_role(&temp, "friend", ADMIN, "", Some(in_an_hour))
        .await
        .expect("no longer than their own");
}

#[tokio::test]
async fn scoped_expiring_and_wildcard_grants() {
    let h = Harness::new().await;
    let admin = h.admin("root").await;
    let service = Caller::service("gateway");
    h.service
        .create_role(&admin, "org-editor", "", &["identity.users.*".into()])
        .await
        .expect("role");
    h.service
        .assign_role(&admin, "ann", "org-editor", "org:42", None)
        .await
        .expect("scoped");
    let soon = h.clock.now() + Duration::seconds(10);
    h.service
        .assign_role(&admin, "tim", "org-editor", "", Some(soon))
        .await
        .expect("expiring");
    let check = |user: &'static str, permission: &'static str, resource: &'static str| {
        let (s, c) = (h.service.clone(), service.clone());
        async move {
            s.has_permission(&c, user, permission, resource, "")
                .await
                .expect("check")
        }
    };
    assert!(check("ann", "identity.users.update", "org:42").await);
    assert!(!check("ann", "identity.users.update", "org:43").await);
    assert!(!check("ann", "identity.users.update", "").await);
    assert!(!check("ann", "auth.sessions.revoke", "org:42").await);
    assert!(check("tim", "identity.users.delete", "").await);
    assert!(check("tim", "identity.users.delete", "org:1").await);
    h.clock.advance(Duration::seconds(10));
    assert!(
        !check("tim", "identity.users.delete", "").await,
        "expired at its expiry"
    );
    assert!(
        h.service
            .user_roles(&admin, "tim", "")
            .await
            .expect("roles")
            .is_empty()
    );
    assert!(!check("nobody-at-all", "identity.users.read", "").await);
}

#[tokio::test]
async fn a_bulk_check_agrees_with_single_checks_duplicates_included() {
    let h = Harness::new().await;
    let admin = h.admin("root").await;
    h.service
        .create_role(&admin, "reader", "", &["identity.users.read".into()])
        .await
        .expect("role");
    h.service
        .assign_role(&admin, "ann", "reader", "org:1", None)
        .await
        .expect("assigned");
    let questions = [
        ("identity.users.read", "org:1"),
        ("identity.users.read", ""),
        ("identity.users.read", "org:1"),
        ("identity.users.list", "org:1"),
        ("identity.users.read", "org:1"),
    ];
    let items: Vec<CheckItem<'_>> = questions
        .iter()
        .map(|(permission, resource)| CheckItem {
            permission,
            resource,
        })
        .collect();
    let bulk = h
        .service
        .check_many(&admin, "ann", &items, "")
        .await
        .expect("bulk");
    let mut single = Vec::new();
    for (permission, resource) in questions {
        single.push(
            h.service
                .has_permission(&admin, "ann", permission, resource, "")
                .await
                .expect("one"),
        );
    }
    assert_eq!(bulk, single);
    assert_eq!(bulk, [true, false, true, false, true]);
    let too_many: Vec<CheckItem<'_>> = (0..1001)
        .map(|_| CheckItem {
            permission: "identity.users.read",
            resource: "",
        })
        .collect();
    let err = h
        .service
        .check_many(&admin, "ann", &too_many, "")
        .await
        .expect_err("limit");
    assert!(err.to_string().starts_with("items:"), "{err}");
    let bad = [
        CheckItem {
            permission: "identity.users.read",
            resource: "",
        },
        CheckItem {
            permission: "nope",
            resource: "",
        },
    ];
    let err = h
        .service
        .check_many(&admin, "ann", &bad, "")
        .await
        .expect_err("bad item");
    assert!(err.to_string().contains("item 1"), "{err}");
}

#[tokio::test]
async fn a_revocation_is_seen_by_the_next_check_and_by_another_instance_after_sync() {
    let h = Harness::new().await;
    let admin = h.admin("root").await;
    let other = super::AuthzService::new(
        super::Ports {
            store: h.store.clone(),
            clock: h.clock.clone(),
            shared: None,
        },
        super::testing::catalogue(),
        super::Settings::default(),
    )
    .await
    .expect("second instance");
    h.service
        .create_role(&admin, "reader", "", &["identity.users.read".into()])
        .await
        .expect("role");
    h.service
        .assign_role(&admin, "ann", "reader", "", None)
        .await
        .expect("assigned");
    assert!(
        other
            .has_permission(&admin, "ann", "identity.users.read", "", "")
            .await
            .expect("cached")
    );
    let revision = h
        .service
        .revoke_role(&admin, "ann", "reader", "")
        .await
        .expect("revoked");
    assert!(
        !h.service
            .has_permission(&admin, "ann", "identity.users.read", "", "")
            .await
            .expect("here")
    );
    // The other instance still has its cached answer; asked with the revision, it re-reads.
    assert!(
        !other
            .has_permission(&admin, "ann", "identity.users.read", "", &revision.token())
            .await
            .expect("fresh")
    );
    other.sync().await.expect("sync");
    assert!(
        !other
            .has_permission(&admin, "ann", "identity.users.read", "", "")
            .await
            .expect("synced")
    );
}

/// A shared cache that keeps what it is told to forget: the race where an instance that read
/// the store before a change writes its answer to Redis after the writer cleared it.
#[derive(Default)]
struct StickyShared(
    std::sync::Mutex<
        std::collections::HashMap<
            crate::domain::UserId,
            (crate::domain::Revision, Vec<crate::ports::Held>),
        >,
    >,
);

#[async_trait::async_trait]
impl crate::ports::SharedGrants for StickyShared {
    async fn get(
        &self,
        user: &crate::domain::UserId,
    ) -> crate::error::Result<Option<(crate::domain::Revision, Vec<crate::ports::Held>)>> {
        Ok(self.0.lock().expect("lock").get(user).cloned())
    }

    async fn put(
        &self,
        user: &crate::domain::UserId,
        revision: crate::domain::Revision,
        held: &[crate::ports::Held],
    ) -> crate::error::Result<()> {
        self.0
            .lock()
            .expect("lock")
            .insert(user.clone(), (revision, held.to_vec()));
        Ok(())
    }

    async fn forget(&self, _user: &crate::domain::UserId) -> crate::error::Result<()> {
        Ok(())
    }

    async fn forget_all(&self) -> crate::error::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_shared_entry_older_than_a_known_change_is_not_believed() {
    let h = Harness::new().await;
    let service = super::AuthzService::new(
        super::Ports {
            store: h.store.clone(),
            clock: h.clock.clone(),
            shared: Some(std::sync::Arc::new(StickyShared::default())),
        },
        super::testing::catalogue(),
        super::Settings::default(),
    )
    .await
    .expect("service");
    let identity = Caller::service("identity");
    let gateway = Caller::service("gateway");
    service
        .assign_role(&identity, "root", ADMIN, "", None)
        .await
        .expect("admin");
    let root = Caller::user("root");
    service
        .create_role(&root, "reader", "", &["identity.users.read".into()])
        .await
        .expect("role");
    service
        .assign_role(&root, "ann", "reader", "", None)
        .await
        .expect("assigned");
    let check = || service.has_permission(&gateway, "ann", "identity.users.read", "", "");
    assert!(check().await.expect("check"), "read through, and shared");
    service
        .revoke_role(&root, "ann", "reader", "")
        .await
        .expect("revoked");
    // The shared entry still says yes; it predates the revocation this instance made.
    assert!(
        !check().await.expect("check"),
        "the stale shared entry was believed"
    );
}

/// The gateway's coarse question: a permission held on one resource counts "anywhere", a
/// global check of it does not; an expired grant counts nowhere; the user may ask about
/// themself only.
#[tokio::test]
async fn held_anywhere_is_the_coarse_answer_a_resource_grant_gives() {
    let h = Harness::new().await;
    let admin = h.admin("root").await;
    h.service
        .create_role(&admin, "deleter", "", &["identity.users.delete".into()])
        .await
        .expect("role");
    h.service
        .assign_role(&admin, "ann", "deleter", "identity/users/bob", None)
        .await
        .expect("assigned on bob");
    let ann = Caller::user("ann");
    let perm = "identity.users.delete";
    assert!(
        h.service
            .holds_anywhere(&ann, "ann", perm, "")
            .await
            .expect("anywhere")
    );
    assert!(
        !h.service
            .has_permission(&ann, "ann", perm, "", "")
            .await
            .expect("global")
    );
    assert!(
        !h.service
            .holds_anywhere(&ann, "ann", "identity.users.list", "")
            .await
            .expect("other")
    );
    let refused = h.service.holds_anywhere(&ann, "root", perm, "").await;
    assert!(
        matches!(refused, Err(AuthzError::PermissionDenied(_))),
        "{refused:?}"
    );
    let unknown = h
        .service
        .holds_anywhere(&ann, "ann", "identity.users.fly", "")
        .await;
    assert!(
        matches!(unknown, Err(AuthzError::InvalidArgument { .. })),
        "{unknown:?}"
    );
    // Expired: held nowhere.
    h.service
        .assign_role(
            &admin,
            "cy",
            "deleter",
            "",
            Some(h.clock.now() + chrono::Duration::seconds(10)),
        )
        .await
        .expect("assigned for 10 s");
    let cy = Caller::user("cy");
    assert!(
        h.service
            .holds_anywhere(&cy, "cy", perm, "")
            .await
            .expect("held")
    );
    h.clock.advance(chrono::Duration::seconds(11));
    assert!(
        !h.service
            .holds_anywhere(&cy, "cy", perm, "")
            .await
            .expect("expired")
    );
}
