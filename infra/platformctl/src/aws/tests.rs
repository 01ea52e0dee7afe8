use std::collections::BTreeMap;

use serde_yaml::Value;

use super::*;

fn generated() -> String {
    template(&core_manifests().expect("the core manifests"))
}

/// `!Ref X` → `X`.
fn reference(value: &Value) -> String {
    match value {
        Value::Tagged(tagged) if tagged.tag == "!Ref" => {
            tagged.value.as_str().expect("a name").to_owned()
        }
        other => panic!("not a !Ref: {other:?}"),
    }
}

/// Every route: (api, route key) → whether it is behind the JWT authorizer.
fn routes(text: &str) -> BTreeMap<(String, String), bool> {
    let doc: Value = serde_yaml::from_str(text).expect("YAML");
    doc["Resources"]
        .as_mapping()
        .expect("resources")
        .values()
        .filter(|r| r["Type"] == "AWS::ApiGatewayV2::Route")
        .map(|r| {
            let p = &r["Properties"];
            let api = reference(&p["ApiId"]);
            let key = p["RouteKey"].as_str().expect("a key").to_owned();
            let jwt = match p["AuthorizationType"].as_str() {
                Some("JWT") => {
                    assert_eq!(reference(&p["AuthorizerId"]), "JwtAuthorizer");
                    true
                }
                Some("NONE") => false,
                other => panic!("{key}: authorization {other:?}"),
            };
            ((api, key), jwt)
        })
        .collect()
}

#[test]
fn the_shipped_template_is_the_one_the_manifests_give() {
    let path = std::path::PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo"))
        .join("../aws/template.yaml");
    let shipped = std::fs::read_to_string(&path).expect("infra/aws/template.yaml");
    assert!(
        shipped == generated(),
        "{} is not what the manifests give: cargo run -p platformctl -- aws template > infra/aws/template.yaml",
        path.display()
    );
}

#[test]
fn each_rpc_is_routed_as_its_manifest_says_and_internal_ones_never_publicly() {
    let routes = routes(&generated());
    let mut expected = BTreeMap::new();
    for manifest in core_manifests().expect("manifests") {
        for rpc in &manifest.rpcs {
            let key = format!("POST /{}/{}", manifest.service, rpc.name);
            match rpc.access {
                Access::Internal => {}
                Access::Authenticated => {
                    expected.insert(("PublicApi".to_owned(), key.clone()), true);
                }
                Access::Public | Access::Signup => {
                    expected.insert(("PublicApi".to_owned(), key.clone()), false);
                }
            }
            expected.insert(("ServiceApi".to_owned(), key), false);
        }
        for page in &manifest.pages {
            let methods: &[&str] = if page.ends_with(".css") || page.ends_with(".js") {
                &["GET"]
            } else {
                &["GET", "POST"]
            };
            for method in methods {
                expected.insert(("PublicApi".to_owned(), format!("{method} {page}")), false);
            }
        }
    }
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/jwks.json",
    ] {
        expected.insert(("PublicApi".to_owned(), format!("GET {path}")), false);
    }
    for path in ["/.well-known/jwks.json", "/revocations"] {
        expected.insert(("ServiceApi".to_owned(), format!("GET {path}")), false);
    }
    assert_eq!(routes, expected);
    // The tests' own check: an internal method exists and is not public.
    assert!(routes.contains_key(&(
        "ServiceApi".to_owned(),
        "POST /platform.auth.v1.AuthService/IssueServiceToken".to_owned()
    )));
    assert!(!routes.contains_key(&(
        "PublicApi".to_owned(),
        "POST /platform.auth.v1.AuthService/IssueServiceToken".to_owned()
    )));
}

#[test]
fn nothing_secret_is_inline() {
    let doc: Value = serde_yaml::from_str(&generated()).expect("YAML");
    let mut checked = 0;
    for resource in doc["Resources"].as_mapping().expect("resources").values() {
        if resource["Type"] != "AWS::Lambda::Function" {
            continue;
        }
        let variables = resource["Properties"]["Environment"]["Variables"]
            .as_mapping()
            .expect("variables");
        for (name, value) in variables {
            let name = name.as_str().expect("a name");
            let secret = name.ends_with("_KEY")
                || name.contains("__SERVICE_KEYS__")
                || name.contains("DATABASE_URL")
                || name.contains("SMTP");
            if secret {
                let Value::Tagged(tagged) = value else {
                    panic!("{name} is inline: {value:?}")
                };
                let text = tagged.value.as_str().expect("a string");
                assert!(
                    tagged.tag == "!Sub"
                        && text.starts_with("{{resolve:secretsmanager:${SecretName}:"),
                    "{name}: {text}"
                );
                checked += 1;
            }
        }
    }
    // identity, authz, audit: database and service key; identity: SMTP; audit: checkpoint
    // key; auth: database, encryption key and four public keys (platformctl's too).
    assert_eq!(checked, 2 * 3 + 1 + 1 + 6);
}
