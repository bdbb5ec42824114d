//! The configuration linter: one test per warning code (exact codes), none on a clean
//! configuration, and `apply --strict`.

use openssl::asn1::Asn1Time;
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::rsa::Rsa;
use openssl::x509::{X509NameBuilder, X509};
use serde_json::{json, Value};
use ssogate::store::api_keys;

use crate::support::{spawn_app, Db, TestApp};

fn cert_b64(days: u32) -> String {
    let key = PKey::from_rsa(Rsa::generate(2048).expect("rsa")).expect("pkey");
    let mut name = X509NameBuilder::new().expect("name");
    name.append_entry_by_text("CN", "lint-test").expect("cn");
    let name = name.build();
    let mut b = X509::builder().expect("builder");
    b.set_version(2).expect("v");
    b.set_subject_name(&name).expect("s");
    b.set_issuer_name(&name).expect("i");
    b.set_pubkey(&key).expect("k");
    let nb = Asn1Time::days_from_now(0).expect("nb");
    let na = Asn1Time::days_from_now(days).expect("na");
    b.set_not_before(&nb).expect("nb");
    b.set_not_after(&na).expect("na");
    b.sign(&key, MessageDigest::sha256()).expect("sign");
    let der = b.build().to_der().expect("der");
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(der)
}

fn metadata(cert: &str, nameid_email_only: bool) -> String {
    let nameid = if nameid_email_only {
        "<md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat>"
    } else {
        ""
    };
    format!(
        r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="https://idp.example">
<md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>{nameid}
<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.example/sso"/>
</md:IDPSSODescriptor></md:EntityDescriptor>"#
    )
}

struct Lint {
    app: TestApp,
    key: String,
}

impl Lint {
    async fn new() -> Lint {
        let app = spawn_app(Db::Sqlite).await;
        let key = {
            let mut c = app.store.write().await.expect("conn");
            api_keys::create(&mut c, "lint").await.expect("key").1
        };
        let l = Lint { app, key };
        l.post("/api/v1/roles", json!({ "name": "member" })).await;
        l
    }

    async fn post(&self, path: &str, body: Value) {
        let r = self
            .app
            .client
            .post(self.app.url(path))
            .bearer_auth(&self.key)
            .json(&body)
            .send()
            .await
            .expect("req");
        assert!(
            r.status().is_success(),
            "{path}: {}",
            r.text().await.unwrap_or_default()
        );
    }

    async fn saml(&self, id: &str, domains: &[&str], saml_extra: Value) {
        let mut saml = json!({ "idp_metadata_xml": metadata(&cert_b64(365), false) });
        if let (Some(obj), Some(extra)) = (saml.as_object_mut(), saml_extra.as_object()) {
            for (k, v) in extra {
                obj.insert(k.clone(), v.clone());
            }
        }
        let r = self
            .app
            .client
            .put(self.app.url(&format!("/api/v1/connectors/{id}")))
            .bearer_auth(&self.key)
            .json(&json!({ "kind": "saml", "domains": domains, "saml": saml }))
            .send()
            .await
            .expect("req");
        assert!(
            r.status().is_success(),
            "{}",
            r.text().await.unwrap_or_default()
        );
    }

    async fn codes(&self) -> Vec<String> {
        let v: Value = self
            .app
            .client
            .get(self.app.url("/api/v1/lint"))
            .bearer_auth(&self.key)
            .send()
            .await
            .expect("req")
            .json()
            .await
            .expect("json");
        let mut codes: Vec<String> = v["warnings"]
            .as_array()
            .expect("warnings")
            .iter()
            .map(|w| {
                assert!(
                    w["fix"].as_str().is_some_and(|f| !f.is_empty()),
                    "every warning has a fix: {w}"
                );
                assert!(
                    w["objects"].as_array().is_some_and(|o| !o.is_empty()),
                    "and names its objects: {w}"
                );
                w["code"].as_str().unwrap_or_default().to_string()
            })
            .collect();
        codes.sort();
        codes
    }
}

#[tokio::test]
async fn a_clean_configuration_has_no_warnings() {
    let l = Lint::new().await;
    l.saml("acme", &["acme.test"], json!({})).await;
    l.post(
        "/api/v1/organizations",
        json!({ "name": "Acme", "jit_connectors": ["acme"], "default_roles": ["member"] }),
    )
    .await;
    l.post(
        "/api/v1/organizations",
        json!({ "name": "Globex", "jit_email_domains": ["globex.test"] }),
    )
    .await;
    assert_eq!(l.codes().await, Vec::<String>::new());
}

#[tokio::test]
async fn jit_domain_routed_to_sso() {
    let l = Lint::new().await;
    l.saml("acme", &["acme.test"], json!({})).await;
    l.post(
        "/api/v1/organizations",
        json!({ "name": "Acme", "jit_email_domains": ["acme.test"] }),
    )
    .await;
    assert_eq!(l.codes().await, vec!["jit_domain_routed_to_sso"]);
}

#[tokio::test]
async fn domain_claimed_by_two_connectors() {
    let l = Lint::new().await;
    l.saml("a", &["eu.acme.test"], json!({})).await;
    l.saml("b", &["*.acme.test"], json!({})).await;
    assert_eq!(l.codes().await, vec!["domain_claimed_by_two_connectors"]);
}

#[tokio::test]
async fn jit_domain_in_two_organizations() {
    let l = Lint::new().await;
    l.post(
        "/api/v1/organizations",
        json!({ "name": "A", "jit_email_domains": ["acme.test"] }),
    )
    .await;
    l.post(
        "/api/v1/organizations",
        json!({ "name": "B", "jit_email_domains": ["acme.test"] }),
    )
    .await;
    assert_eq!(l.codes().await, vec!["jit_domain_in_two_organizations"]);
}

#[tokio::test]
async fn public_mail_domains() {
    let l = Lint::new().await;
    l.post(
        "/api/v1/organizations",
        json!({ "name": "A", "jit_email_domains": ["Gmail.com"] }),
    )
    .await;
    l.saml("x", &["outlook.com"], json!({})).await;
    assert_eq!(
        l.codes().await,
        vec!["public_mail_domain", "public_mail_domain"]
    );
}

#[tokio::test]
async fn saml_subject_is_email() {
    let l = Lint::new().await;
    l.saml(
        "by-attr",
        &[],
        json!({ "attributes": { "subject": "email" } }),
    )
    .await;
    assert_eq!(l.codes().await, vec!["saml_subject_is_email"]);
    let l = Lint::new().await;
    l.saml(
        "by-nameid",
        &[],
        json!({ "idp_metadata_xml": metadata(&cert_b64(365), true) }),
    )
    .await;
    assert_eq!(l.codes().await, vec!["saml_subject_is_email"]);
}

#[tokio::test]
async fn saml_certificate_expiring() {
    let l = Lint::new().await;
    l.saml(
        "soon",
        &[],
        json!({ "idp_metadata_xml": metadata(&cert_b64(10), false) }),
    )
    .await;
    assert_eq!(l.codes().await, vec!["saml_certificate_expiring"]);
}

#[tokio::test]
async fn idp_initiated_enabled() {
    let l = Lint::new().await;
    l.saml("unsolicited", &[], json!({ "allow_idp_initiated": true }))
        .await;
    assert_eq!(l.codes().await, vec!["idp_initiated_enabled"]);
}

#[test]
fn apply_strict_refuses_a_configuration_the_linter_warns_about() {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("setup.toml");
    std::fs::write(
        &file,
        "[[organizations]]\nname = \"A\"\njit_email_domains = [\"gmail.com\"]\n",
    )
    .expect("write");
    let run = |strict: bool| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_ssogate"));
        c.current_dir(dir.path()).arg("apply").arg(&file);
        if strict {
            c.arg("--strict");
        }
        for (k, _) in std::env::vars() {
            if k.starts_with("SSOGATE_") {
                c.env_remove(k);
            }
        }
        c.output().expect("run")
    };
    let out = run(true);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("public_mail_domain") && err.contains("nothing was applied"),
        "{err}"
    );
    let out = run(false);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("warning [public_mail_domain]"), "{err}");
}

#[tokio::test]
async fn social_unverified_email_jit() {
    let l = Lint::new().await;
    l.post(
        "/api/v1/organizations",
        json!({ "name": "A", "jit_email_domains": ["acme.test"] }),
    )
    .await;
    let put = |id: &str, social: Value| {
        let body = json!({ "kind": "social", "social": social });
        let url = l.app.url(&format!("/api/v1/connectors/{id}"));
        let client = l.app.client.clone();
        let key = l.key.clone();
        async move {
            let r = client
                .put(url)
                .bearer_auth(key)
                .json(&body)
                .send()
                .await
                .expect("req");
            assert!(
                r.status().is_success(),
                "{}",
                r.text().await.unwrap_or_default()
            );
        }
    };
    // Google's flag is trusted by default: no warning.
    put("google", json!({ "provider": "google" })).await;
    assert_eq!(l.codes().await, Vec::<String>::new());
    // A generic OAuth 2.0 provider forced to be trusted, feeding JIT: warned.
    put(
        "generic",
        json!({ "provider": "oauth2", "trust_email_verified": true }),
    )
    .await;
    assert_eq!(l.codes().await, vec!["social_unverified_email_jit"]);
}
