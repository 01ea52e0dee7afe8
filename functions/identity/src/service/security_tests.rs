//! The account-takeover chain and its relatives, tried against the core as an attacker would.

use platform_kernel::caller::{Caller, UserCaller};

use super::testing::Harness;
use super::users::UpdateUserInput;
use crate::error::IdentityError;

fn denied<T: std::fmt::Debug>(r: Result<T, IdentityError>) {
    assert!(
        matches!(r, Err(IdentityError::PermissionDenied(_))),
        "expected permission_denied, got {r:?}"
    );
}

#[tokio::test]
async fn a_plain_user_reads_themself_and_touches_no_one_else() {
    let h = Harness::new();
    let mallory = h.user("mallory@example.com").await;
    let victim = h.user("victim@example.com").await;
    let me = Harness::me(&mallory);
    let id = victim.id.to_string();
    assert_eq!(
        h.service
            .get_user(&me, &mallory.id.to_string())
            .await
            .expect("self")
            .id,
        mallory.id
    );
    denied(h.service.get_user(&me, &id).await);
    denied(h.service.list_users(&me, 0, "", "").await);
    // The first step of the takeover: point the victim's account at a mailbox we own.
    let hijack = UpdateUserInput {
        email: Some("mallory+victim@example.com"),
        ..Default::default()
    };
    denied(h.service.update_user(&me, &id, hijack).await);
    let disable = UpdateUserInput {
        disabled: Some(true),
        ..Default::default()
    };
    denied(h.service.update_user(&me, &id, disable).await);
    denied(h.service.delete_user(&me, &id).await);
    // An update that changes nothing would still answer the record.
    denied(
        h.service
            .update_user(&me, &id, UpdateUserInput::default())
            .await,
    );
    // No enumeration by email: an existing address and a missing one answer alike.
    denied(h.service.get_user_by_email(&me, "victim@example.com").await);
    denied(h.service.get_user_by_email(&me, "nobody@example.com").await);
    let own = h
        .service
        .get_user_by_email(&me, "mallory@example.com")
        .await;
    assert_eq!(own.expect("own address").id, mallory.id);
    assert_eq!(
        h.service
            .get_user(&Harness::admin(), &id)
            .await
            .expect("untouched"),
        victim
    );
}

#[tokio::test]
async fn nobody_disables_or_re_enables_themself() {
    let h = Harness::new();
    let ann = h.user("ann@example.com").await;
    let me = Harness::me(&ann);
    for disabled in [true, false] {
        let input = UpdateUserInput {
            disabled: Some(disabled),
            ..Default::default()
        };
        denied(h.service.update_user(&me, &ann.id.to_string(), input).await);
    }
}

#[tokio::test]
async fn changing_ones_own_email_needs_the_current_password() {
    let h = Harness::new();
    let ann = h.user("ann@example.com").await;
    let (me, id) = (Harness::me(&ann), ann.id.to_string());
    let change = |password| UpdateUserInput {
        email: Some("ann2@example.com"),
        current_password: password,
        ..Default::default()
    };
    let missing = h.service.update_user(&me, &id, change("")).await;
    assert!(
        matches!(&missing, Err(e) if e.to_string().starts_with("current_password:")),
        "{missing:?}"
    );
    denied(
        h.service
            .update_user(&me, &id, change("not my password!"))
            .await,
    );
    let changed = h
        .service
        .update_user(&me, &id, change(Harness::PASSWORD))
        .await
        .expect("changed");
    assert_eq!(changed.email.as_str(), "ann2@example.com");
    // The display name needs no password.
    let renamed = UpdateUserInput {
        display_name: Some("Ann"),
        ..Default::default()
    };
    h.service
        .update_user(&me, &id, renamed)
        .await
        .expect("renamed");
}

#[tokio::test]
async fn a_permission_opens_exactly_its_own_door() {
    let h = Harness::new();
    let support = h.user("support@example.com").await;
    let victim = h.user("victim@example.com").await;
    h.permissions.grant(support.id, "identity.users.read");
    let me = Harness::me(&support);
    let id = victim.id.to_string();
    h.service.get_user(&me, &id).await.expect("may read");
    denied(h.service.list_users(&me, 0, "", "").await);
    let disable = UpdateUserInput {
        disabled: Some(true),
        ..Default::default()
    };
    denied(h.service.update_user(&me, &id, disable).await);
    h.permissions.grant(support.id, "identity.users.disable");
    let disable = UpdateUserInput {
        disabled: Some(true),
        ..Default::default()
    };
    let user = h
        .service
        .update_user(&me, &id, disable)
        .await
        .expect("disabled");
    assert!(user.disabled);
    assert_eq!(
        h.sessions.ended(),
        [(victim.id, None)],
        "signed out everywhere"
    );
    // Again (as after auth could not be reached): the sessions are ended again.
    let again = UpdateUserInput {
        disabled: Some(true),
        ..Default::default()
    };
    h.service
        .update_user(&me, &id, again)
        .await
        .expect("still disabled");
    assert_eq!(h.sessions.ended().len(), 2);
}

#[tokio::test]
async fn the_unverified_get_nothing_and_services_only_what_they_are_for() {
    let h = Harness::new();
    let ann = h.user("ann@example.com").await;
    let id = ann.id.to_string();
    for caller in [
        Caller::Anonymous,
        Caller::Rejected("invalid credential: expired".into()),
    ] {
        let err = h.service.get_user(&caller, &id).await.expect_err("refused");
        assert!(matches!(err, IdentityError::Unauthenticated(_)), "{err}");
    }
    let auth = Caller::service("auth");
    let audit = Caller::service("audit");
    h.service
        .get_user(&auth, &id)
        .await
        .expect("auth reads users");
    denied(h.service.get_user(&audit, &id).await);
    denied(h.service.list_users(&audit, 0, "", "").await);
    denied(h.service.get_user_by_email(&audit, "ann@example.com").await);
    denied(
        h.service
            .verify_password(&audit, "ann@example.com", Harness::PASSWORD)
            .await,
    );
    h.service
        .verify_password(&auth, "ann@example.com", Harness::PASSWORD)
        .await
        .expect("auth checks passwords");
    let rename = UpdateUserInput {
        display_name: Some("x"),
        ..Default::default()
    };
    denied(h.service.update_user(&audit, &id, rename).await);
    denied(h.service.delete_user(&audit, &id).await);
}

#[tokio::test]
async fn changing_the_password_keeps_only_the_current_session() {
    let h = Harness::new();
    let ann = h.user("ann@example.com").await;
    let me = Caller::User(UserCaller {
        id: ann.id.to_string(),
        session: "this-session".into(),
        token_id: "t".into(),
    });
    denied(
        h.service
            .change_password(&me, "not my password!", "a brand new passphrase")
            .await,
    );
    h.service
        .change_password(&me, Harness::PASSWORD, "a brand new passphrase")
        .await
        .expect("changed");
    assert_eq!(
        h.sessions.ended(),
        [(ann.id, Some("this-session".to_owned()))]
    );
    let auth = Caller::service("auth");
    assert!(
        h.service
            .verify_password(&auth, "ann@example.com", Harness::PASSWORD)
            .await
            .is_err()
    );
    h.service
        .verify_password(&auth, "ann@example.com", "a brand new passphrase")
        .await
        .expect("the new one works");
    denied(
        h.service
            .change_password(&Caller::service("auth"), "x", "a brand new passphrase")
            .await,
    );
}

#[tokio::test]
async fn deleting_and_resetting_sign_the_user_out() {
    let h = Harness::new();
    let ann = h.user("ann@example.com").await;
    h.request_reset("ann@example.com").await;
    let token = h.mailer.last_token().expect("reset mail");
    h.service
        .reset_password(&token, "another good passphrase")
        .await
        .expect("reset");
    h.service
        .delete_user(&Harness::admin(), &ann.id.to_string())
        .await
        .expect("deleted");
    assert_eq!(h.sessions.ended(), [(ann.id, None), (ann.id, None)]);
}

#[tokio::test]
async fn a_verification_link_verifies_only_the_address_it_was_mailed_to() {
    // The bootstrap address is not registered yet: the attacker signs up with their own
    // mailbox, keeps the link, and moves the account to the bootstrap address.
    let boss = crate::domain::Email::parse("boss@example.com").expect("email");
    let h = Harness::with_bootstrap_admin(boss);
    let mallory = h.user("mallory@example.com").await;
    let kept = h
        .mailer
        .last_token_to("mallory@example.com")
        .expect("welcome mail");
    let moved = UpdateUserInput {
        email: Some("boss@example.com"),
        current_password: Harness::PASSWORD,
        ..Default::default()
    };
    h.service
        .update_user(&Harness::me(&mallory), &mallory.id.to_string(), moved)
        .await
        .expect("own email changed");
    let err = h.service.verify_email(&kept).await.expect_err("old link");
    assert!(matches!(err, IdentityError::InvalidToken), "{err}");
    assert!(
        h.permissions.admins().is_empty(),
        "no admin for an unverified address"
    );
    let user = h
        .service
        .get_user(&Harness::admin(), &mallory.id.to_string())
        .await
        .expect("user");
    assert!(!user.email_verified);
    // The link mailed to the new address is the one that verifies it.
    let fresh = h
        .mailer
        .last_token_to("boss@example.com")
        .expect("new mail");
    h.service
        .verify_email(&fresh)
        .await
        .expect("verified by its owner");
}

#[tokio::test]
async fn a_reset_link_mailed_before_an_email_change_is_dead() {
    let h = Harness::new();
    let ann = h.user("ann@example.com").await;
    h.request_reset("ann@example.com").await;
    let reset = h
        .mailer
        .last_token_to("ann@example.com")
        .expect("reset mail");
    let moved = UpdateUserInput {
        email: Some("ann@elsewhere.example"),
        current_password: Harness::PASSWORD,
        ..Default::default()
    };
    h.service
        .update_user(&Harness::me(&ann), &ann.id.to_string(), moved)
        .await
        .expect("moved");
    let err = h
        .service
        .reset_password(&reset, "a completely new passphrase")
        .await
        .expect_err("dead");
    assert!(matches!(err, IdentityError::InvalidToken), "{err}");
}
