//! Protobuf JSON as the generated types read it (pbjson with `ignore_unknown_fields` and
//! `ignore_unknown_enum_variants`, shared/proto/build.rs): a message from a newer contract,
//! with fields and enum values this build does not know, is read; enum values are taken by
//! name or by number; what is known is still checked.

use platform_proto::audit::v1::{Outcome, QueryRequest};
use platform_proto::identity::v1::CreateUserRequest;

#[test]
fn unknown_fields_of_any_shape_are_ignored() {
    let request: CreateUserRequest = serde_json::from_str(
        r#"{"email":"ada@example.com","password":"pw","referralCode":"x",
            "future":{"nested":[1,{"deep":true}]},"flags":[null]}"#,
    )
    .expect("a newer client's message is read");
    assert_eq!(request.email, "ada@example.com");
    assert_eq!(request.password, "pw");
}

#[test]
fn enum_values_are_taken_by_name_or_by_number() {
    let by_name: QueryRequest =
        serde_json::from_str(r#"{"outcome":"OUTCOME_DENIED"}"#).expect("by name");
    let by_number: QueryRequest = serde_json::from_str(r#"{"outcome":3}"#).expect("by number");
    assert_eq!(by_name.outcome, Outcome::Denied as i32);
    assert_eq!(by_name, by_number);
}

#[test]
fn an_enum_value_from_a_newer_contract_leaves_the_default() {
    let request: QueryRequest =
        serde_json::from_str(r#"{"outcome":"OUTCOME_EXPIRED","actorId":"u1"}"#)
            .expect("read, the unknown value dropped");
    assert_eq!(request.outcome, Outcome::Unspecified as i32);
    assert_eq!(request.actor_id, "u1");
}

#[test]
fn known_fields_keep_their_types() {
    let wrong = serde_json::from_str::<CreateUserRequest>(r#"{"email":5}"#);
    assert!(wrong.is_err(), "a number for a string field is refused");
    let malformed = serde_json::from_str::<CreateUserRequest>(r#"{"email":"#);
    assert!(malformed.is_err());
}
