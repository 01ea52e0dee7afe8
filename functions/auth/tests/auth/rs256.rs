//! RS256 signing (`keys.algorithm`), for verifiers that know only RSA (API Gateway's JWT
//! authorizer in the Lambda shape), and the OpenID discovery document that points such a
//! verifier from the issuer to the key set.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};

use crate::support::Stack;

#[tokio::test]
async fn with_rs256_tokens_are_rsa_signed_published_and_accepted_by_the_other_services() {
    let stack = Stack::start_with(|c| {
        c.own.keys.algorithm = auth::domain::SigningAlgorithm::RS256;
    })
    .await;
    let user = stack.sign_up("rsa@example.com").await;
    // Login: auth asks identity to check the password with its own (RS256) service token,
    // which identity verifies against auth's key set.
    let pair = stack.login("rsa@example.com").await;
    let access = pair["accessToken"].as_str().expect("access");
    let header = jsonwebtoken::decode_header(access).expect("a JWT");
    assert_eq!(header.alg, Algorithm::RS256);

    let (status, _, jwks) = stack.get(stack.auth, "/.well-known/jwks.json").await;
    assert_eq!(status, 200);
    let keys = jwks["keys"].as_array().expect("keys");
    assert_eq!(keys.len(), 1, "{jwks}");
    let key = &keys[0];
    assert_eq!(
        (
            key["kty"].as_str(),
            key["alg"].as_str(),
            key["use"].as_str()
        ),
        (Some("RSA"), Some("RS256"), Some("sig"))
    );
    assert_eq!(key["kid"].as_str(), header.kid.as_deref());
    assert!(key.get("x").is_none() && key.get("crv").is_none(), "{key}");
    let modulus = URL_SAFE_NO_PAD
        .decode(key["n"].as_str().expect("n"))
        .expect("n is base64url");
    assert_eq!(modulus.len(), 256, "RSA 2048");

    // Verified as a third party would: from the published n and e alone.
    let decoding = DecodingKey::from_rsa_components(
        key["n"].as_str().expect("n"),
        key["e"].as_str().expect("e"),
    )
    .expect("an RSA key");
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&["platform"]);
    validation.set_issuer(&["platform"]);
    let claims = jsonwebtoken::decode::<Value>(access, &decoding, &validation)
        .expect("the token verifies with the published key");
    assert_eq!(claims.claims["sub"], user["id"]);

    // Accepted by auth itself and by identity (its verifier reads the same key set).
    let (status, body) = stack.auth("ValidateToken", json!({"token": access})).await;
    assert_eq!(status, 200, "{body}");
    let (status, _, body) = stack
        .post_with(
            stack.identity,
            "/platform.identity.v1.IdentityService/GetUser",
            &[("authorization", &format!("Bearer {access}"))],
            json!({"id": user["id"]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    // A token whose header claims EdDSA on this RSA key is refused.
    let forged = {
        let mut parts = access.splitn(2, '.');
        let head = parts.next().expect("head");
        let rest = parts.next().expect("rest");
        let mut header: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(head).expect("b64")).expect("json");
        header["alg"] = json!("EdDSA");
        format!(
            "{}.{rest}",
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).expect("json"))
        )
    };
    let (status, _) = stack.auth("ValidateToken", json!({"token": forged})).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn the_discovery_document_names_the_key_set_when_the_issuer_is_a_url() {
    let stack = Stack::start_with(|c| {
        c.own.tokens.issuer = "https://api.example.com/".into();
    })
    .await;
    let (status, _, body) = stack
        .get(stack.auth, "/.well-known/openid-configuration")
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["issuer"], "https://api.example.com/");
    assert_eq!(
        body["jwks_uri"],
        "https://api.example.com/.well-known/jwks.json"
    );
    assert_eq!(
        body["id_token_signing_alg_values_supported"],
        json!(["EdDSA"])
    );

    let plain = Stack::start().await;
    let (status, _, body) = plain
        .get(plain.auth, "/.well-known/openid-configuration")
        .await;
    assert_eq!(status, 404);
    assert!(
        body.as_str()
            .is_some_and(|b| b.contains("`platform` is not a URL")),
        "{body}"
    );
}
