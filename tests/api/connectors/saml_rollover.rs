//! The staged SP key rollover of a SAML connector: `POST …/sp-key/stage` publishes the
//! next certificate (signing and encryption) while the current key still signs and every
//! staged, current or previous key decrypts; `POST …/sp-key/activate` makes it the signing
//! key and keeps the old one for decryption; `ssogate apply` keeps a staged key when the
//! file names the same SP key. Responses are forged by the fake IdP (idp.key) and
//! encrypted to a chosen certificate; AuthnRequest signatures (HTTP-Redirect binding) are
//! verified here with openssl.

use std::process::Command;

use openssl::hash::MessageDigest;
use openssl::sign::Verifier;
use openssl::x509::X509;
use serde_json::{json, Value};
use ssogate::connectors::saml::keys::SpKeyPair;
use ssogate::connectors::saml::sp::SamlSp;
use ssogate::connectors::Connector;
use ssogate::store::connectors;

use crate::signin::refusals::refusal;
use crate::support::api_key;
use crate::support::saml_forge::{cert_b64, fixture, idp_metadata_xml, Encryption, Forge};
use crate::support::{new_client, spawn_app, Db, TestApp};

const CONNECTOR: &str = "rollover";
const MD: &str = "urn:oasis:names:tc:SAML:2.0:metadata";
const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";

both!(
    staging_publishes_the_next_certificate_while_the_current_key_signs,
    activating_makes_the_staged_key_sign_and_keeps_the_old_one_for_decryption,
    staging_again_replaces_the_staged_pair_and_both_steps_are_audited_without_secrets,
    re_applying_the_same_file_keeps_a_staged_key,
    a_new_key_in_the_file_rotates_at_once_and_drops_the_staged_key,
    concurrent_stagings_apply_one_after_the_other,
    a_put_prepared_before_a_staging_does_not_overwrite_it,
);

struct Rollover {
    app: TestApp,
    key: String,
    sp: SamlSp,
}

/// A SAML connector with sp.key/sp.crt that signs AuthnRequests and accepts unsolicited
/// responses (each forged response has a fresh assertion ID, so none is a replay).
async fn setup(db: Db) -> Rollover {
    Rollover::new(
        spawn_app(db).await,
        json!({
            "idp_metadata_xml": idp_metadata_xml(), "sp_entity_id": "urn:ssogate:test:rollover",
            "sp_private_key_pem": fixture("sp.key"), "sp_certificate_pem": fixture("sp.crt"),
            "sign_authn_requests": true, "allow_idp_initiated": true,
        }),
    )
    .await
}

/// `PUT /api/v1/connectors/{id}` with `body`.
async fn put_connector(app: &TestApp, key: &str, id: &str, body: &Value) -> reqwest::Response {
    app.client
        .put(app.url(&format!("/api/v1/connectors/{id}")))
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .expect("put")
}

/// The body that creates [`CONNECTOR`] as a SAML connector with the `saml` table.
fn saml_body(saml: Value) -> Value {
    json!({ "kind": "saml", "domains": ["acme.test"], "saml": saml })
}

async fn sp_of(app: &TestApp) -> SamlSp {
    let rec = {
        let mut c = app.store.read().await.expect("conn");
        connectors::get(&mut c, CONNECTOR)
            .await
            .expect("q")
            .expect("connector")
    };
    SamlSp::new(
        &Connector::from_record(rec).expect("connector"),
        &app.master_key,
        &app.address,
    )
    .expect("sp")
}

impl Rollover {
    /// Creates [`CONNECTOR`] on `app` with the `saml` table, through the API.
    async fn new(app: TestApp, saml: Value) -> Rollover {
        let key = api_key(&app).await;
        let r = put_connector(&app, &key, CONNECTOR, &saml_body(saml)).await;
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
        let sp = sp_of(&app).await;
        Rollover { app, key, sp }
    }

    /// POSTs to `/api/v1/connectors/{CONNECTOR}/{action}`; (status, raw body).
    async fn post(&self, action: &str) -> (u16, String) {
        self.post_as(CONNECTOR, action, Some(&self.key)).await
    }

    /// POSTs to `/api/v1/connectors/{id}/{action}` with the API key `key`, if any.
    async fn post_as(&self, id: &str, action: &str, key: Option<&str>) -> (u16, String) {
        let mut req = self
            .app
            .client
            .post(self.app.url(&format!("/api/v1/connectors/{id}/{action}")));
        if let Some(key) = key {
            req = req.bearer_auth(key);
        }
        let r = req.send().await.expect("post");
        let status = r.status().as_u16();
        let body = r.text().await.expect("body");
        assert!(
            !body.contains("PRIVATE KEY"),
            "no secret in answers: {body}"
        );
        (status, body)
    }

    /// Stages a next pair; returns its certificate.
    async fn stage(&self) -> String {
        let (status, body) = self.post("sp-key/stage").await;
        assert_eq!(status, 200, "{body}");
        let v: Value = serde_json::from_str(&body).expect("json");
        assert_eq!(v["connector"], CONNECTOR);
        assert_eq!(
            v.as_object().map(|o| o.len()),
            Some(2),
            "connector and next_sp_certificate_pem only: {v}"
        );
        let pem = v["next_sp_certificate_pem"].as_str().expect("pem");
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
        pem.to_string()
    }

    /// Activates the staged pair; returns the now current certificate.
    async fn activate(&self) -> String {
        let (status, body) = self.post("sp-key/activate").await;
        assert_eq!(status, 200, "{body}");
        let v: Value = serde_json::from_str(&body).expect("json");
        assert_eq!(v["connector"], CONNECTOR);
        v["sp_certificate_pem"].as_str().expect("pem").to_string()
    }

    /// The SP metadata's (signing, encryption) certificates, base64 DER, in order.
    async fn metadata_certificates(&self) -> (Vec<String>, Vec<String>) {
        let r = self.app.get(&format!("/saml/{CONNECTOR}/metadata")).await;
        assert_eq!(r.status(), 200);
        let xml = r.text().await.expect("xml");
        assert!(!xml.contains("PRIVATE"));
        let doc = roxmltree::Document::parse(&xml).expect("well-formed");
        let of = |usage: &str| -> Vec<String> {
            doc.descendants()
                .filter(|n| {
                    n.has_tag_name((MD, "KeyDescriptor")) && n.attribute("use") == Some(usage)
                })
                .map(|kd| {
                    kd.descendants()
                        .find(|d| d.has_tag_name("X509Certificate"))
                        .and_then(|c| c.text())
                        .expect("a certificate")
                        .to_string()
                })
                .collect()
        };
        (of("signing"), of("encryption"))
    }

    /// Starts a sign-in and checks the AuthnRequest's redirect-binding signature (RSA-SHA256
    /// over `SAMLRequest=…&RelayState=…&SigAlg=…` as sent) with `cert_pem`.
    async fn authn_request_verifies_with(&self, cert_pem: &str) -> bool {
        let r = new_client()
            .get(self.app.url(&format!("/login/{CONNECTOR}")))
            .send()
            .await
            .expect("start");
        assert_eq!(r.status(), 303);
        let location = r.headers()["location"].to_str().expect("ascii").to_string();
        let query = location.split_once('?').expect("a query").1;
        let (signed, signature) = query.split_once("&Signature=").expect("signed");
        let sig_alg: Vec<(String, String)> = url::form_urlencoded::parse(signed.as_bytes())
            .into_owned()
            .filter(|(k, _)| k == "SigAlg")
            .collect();
        assert_eq!(sig_alg, [("SigAlg".to_string(), RSA_SHA256.to_string())]);
        let signature: String = url::form_urlencoded::parse(format!("s={signature}").as_bytes())
            .next()
            .expect("signature")
            .1
            .into_owned();
        let signature =
            base64::Engine::decode(&base64::engine::general_purpose::STANDARD, signature)
                .expect("base64 signature");
        let public = X509::from_pem(cert_pem.as_bytes())
            .expect("cert")
            .public_key()
            .expect("public key");
        let mut v = Verifier::new(MessageDigest::sha256(), &public).expect("verifier");
        v.update(signed.as_bytes()).expect("update");
        v.verify(&signature).unwrap_or(false)
    }

    /// Posts an unsolicited sign-in whose assertion is encrypted to `cert_pem`.
    async fn post_encrypted_to(&self, cert_pem: &str) -> reqwest::Response {
        let mut f = Forge::for_sp(&self.sp, None);
        f.encrypt = Some(Encryption {
            recipient_cert_pem: cert_pem.to_string(),
            ..Encryption::keycloak_default()
        });
        new_client()
            .post(self.app.url(&format!("/saml/{CONNECTOR}/acs")))
            .form(&[("SAMLResponse", f.b64())])
            .send()
            .await
            .expect("post")
    }

    async fn accepts_encrypted_to(&self, cert_pem: &str) {
        let r = self.post_encrypted_to(cert_pem).await;
        assert_eq!(r.status(), 303, "{}", r.text().await.unwrap_or_default());
    }

    async fn refuses_encrypted_to(&self, cert_pem: &str) {
        let r = self.post_encrypted_to(cert_pem).await;
        assert_eq!(refusal(r).await, (400, "saml_decrypt_failed".into()));
    }

    /// Audit events of `kind` through the API, newest first.
    async fn audit(&self, kind: &str) -> Vec<Value> {
        let r = self
            .app
            .client
            .get(self.app.url(&format!("/api/v1/audit-events?type={kind}")))
            .bearer_auth(&self.key)
            .send()
            .await
            .expect("audit");
        assert_eq!(r.status(), 200);
        let body = r.text().await.expect("body");
        assert!(!body.contains("PRIVATE KEY"), "{body}");
        let v: Value = serde_json::from_str(&body).expect("json");
        v["events"].as_array().expect("events").clone()
    }
}

fn sha256_hex(cert_pem: &str) -> String {
    let der = X509::from_pem(cert_pem.as_bytes())
        .expect("cert")
        .to_der()
        .expect("der");
    hex::encode(openssl::sha::sha256(&der))
}

async fn staging_publishes_the_next_certificate_while_the_current_key_signs(db: Db) {
    let t = setup(db).await;
    let current = fixture("sp.crt");
    let next = t.stage().await;
    assert_ne!(cert_b64(&next), cert_b64(&current));

    let both = vec![cert_b64(&current), cert_b64(&next)];
    assert_eq!(t.metadata_certificates().await, (both.clone(), both));
    // AuthnRequests are still signed with the current key, not with the staged one.
    assert!(t.authn_request_verifies_with(&current).await);
    assert!(!t.authn_request_verifies_with(&next).await);
    // Both certificates decrypt: the IdP may take the new one from our metadata at once.
    t.accepts_encrypted_to(&next).await;
    t.accepts_encrypted_to(&current).await;
}

async fn activating_makes_the_staged_key_sign_and_keeps_the_old_one_for_decryption(db: Db) {
    let t = setup(db).await;
    let old = fixture("sp.crt");
    let next = t.stage().await;
    assert_eq!(t.activate().await, next);

    let only_new = vec![cert_b64(&next)];
    assert_eq!(
        t.metadata_certificates().await,
        (only_new.clone(), only_new)
    );
    assert!(t.authn_request_verifies_with(&next).await);
    assert!(!t.authn_request_verifies_with(&old).await);
    // The old key is now the previous one: it still decrypts, and the new one does too.
    t.accepts_encrypted_to(&old).await;
    t.accepts_encrypted_to(&next).await;

    // Nothing staged any more.
    let (status, body) = t.post("sp-key/activate").await;
    assert_eq!(status, 409, "{body}");
    let v: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["error"]["code"], "sp_key_not_staged");
    assert_eq!(
        v["error"]["message"],
        "no next SP key is staged; POST …/sp-key/stage first"
    );
    assert!(v["error"]["request_id"]
        .as_str()
        .is_some_and(|s| !s.is_empty()));
    // …and the connector is unchanged by the refusal.
    assert!(t.authn_request_verifies_with(&next).await);
}

async fn staging_again_replaces_the_staged_pair_and_both_steps_are_audited_without_secrets(db: Db) {
    let t = setup(db).await;
    let current = fixture("sp.crt");
    let first = t.stage().await;
    let second = t.stage().await;
    assert_ne!(first, second);
    let both = vec![cert_b64(&current), cert_b64(&second)];
    assert_eq!(t.metadata_certificates().await, (both.clone(), both));
    // The replaced staged key is gone: nothing decrypts for its certificate.
    t.refuses_encrypted_to(&first).await;
    t.accepts_encrypted_to(&second).await;
    assert_eq!(t.activate().await, second);

    let staged = t.audit("connector.sp_key_staged").await;
    let data: Vec<&Value> = staged.iter().map(|e| &e["data"]).collect();
    assert_eq!(
        data,
        [
            &json!({ "next_certificate_sha256": sha256_hex(&second), "replaced": true,
                     "replaced_certificate_sha256": sha256_hex(&first) }),
            &json!({ "next_certificate_sha256": sha256_hex(&first), "replaced": false,
                     "replaced_certificate_sha256": null }),
        ]
    );
    let activated = t.audit("connector.sp_key_activated").await;
    assert_eq!(activated.len(), 1);
    assert_eq!(
        activated[0]["data"],
        json!({ "certificate_sha256": sha256_hex(&second),
                "previous_certificate_sha256": sha256_hex(&current) })
    );
    for e in staged.iter().chain(&activated) {
        assert_eq!(e["connector_id"], CONNECTOR);
        assert!(
            e["actor"]
                .as_str()
                .is_some_and(|a| a.starts_with("api-key:")),
            "{e}"
        );
    }
    // The connector as the API shows it carries certificates, never a private key.
    let r = t
        .app
        .client
        .get(t.app.url(&format!("/api/v1/connectors/{CONNECTOR}")))
        .bearer_auth(&t.key)
        .send()
        .await
        .expect("get");
    let body = r.text().await.expect("body");
    assert!(!body.contains("PRIVATE KEY"), "{body}");
    assert!(body.contains("BEGIN CERTIFICATE"), "{body}");
}

/// Eight stagings at once: each one replaces the pair staged just before it (the row is
/// locked on PostgreSQL; SQLite's single writer serializes), so the audit trail is one
/// chain — no two stagings replaced the same pair, exactly one replaced nothing — and the
/// metadata publishes the last staged certificate.
async fn concurrent_stagings_apply_one_after_the_other(db: Db) {
    let t = std::sync::Arc::new(setup(db).await);
    let runs: Vec<_> = (0..8)
        .map(|_| {
            let t = t.clone();
            tokio::spawn(async move { t.stage().await })
        })
        .collect();
    let mut staged = Vec::new();
    for r in runs {
        staged.push(r.await.expect("joined"));
    }
    let events = t.audit("connector.sp_key_staged").await;
    assert_eq!(events.len(), 8);
    let replaced: Vec<&Value> = events
        .iter()
        .map(|e| &e["data"]["replaced_certificate_sha256"])
        .collect();
    assert_eq!(
        replaced.iter().filter(|v| v.is_null()).count(),
        1,
        "{replaced:?}"
    );
    let mut distinct: Vec<&str> = replaced.iter().filter_map(|v| v.as_str()).collect();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(
        distinct.len(),
        7,
        "two stagings replaced the same pair: {replaced:?}"
    );
    // The end of the chain: the staged certificate no later staging replaced.
    let ends: Vec<&str> = events
        .iter()
        .filter_map(|e| e["data"]["next_certificate_sha256"].as_str())
        .filter(|sha| !distinct.contains(sha))
        .collect();
    assert_eq!(ends.len(), 1, "{ends:?}");
    let last = ends[0];
    let last_pem = staged
        .iter()
        .find(|pem| sha256_hex(pem) == last)
        .expect("a staged certificate");
    let current = cert_b64(&fixture("sp.crt"));
    let both = vec![current, cert_b64(last_pem)];
    assert_eq!(t.metadata_certificates().await, (both.clone(), both));
    t.accepts_encrypted_to(last_pem).await;
}

/// `PUT /api/v1/connectors/{id}` reads the connector, fetches the IdP metadata, then
/// writes. A key staged while the metadata was being fetched must not be lost: the PUT is
/// refused with 409 `connector_changed`, and sent again it keeps the staged key.
async fn a_put_prepared_before_a_staging_does_not_overwrite_it(db: Db) {
    use std::sync::{Arc, Mutex};
    // The IdP's metadata endpoint; while `stage_on_fetch` holds (app URL, API key), each
    // fetch first stages a next SP key through the API (a second administrator).
    type Stager = Arc<Mutex<Option<(String, String)>>>;
    let stage_on_fetch: Stager = Arc::new(Mutex::new(None));
    let hook = stage_on_fetch.clone();
    let idp = axum::Router::new().route(
        "/metadata",
        axum::routing::get(move || {
            let hook = hook.clone();
            async move {
                let pending = hook.lock().expect("lock").take();
                if let Some((url, key)) = pending {
                    let r = new_client()
                        .post(url)
                        .bearer_auth(key)
                        .send()
                        .await
                        .expect("stage");
                    assert_eq!(r.status(), 200);
                }
                idp_metadata_xml()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let idp_url = format!("http://{}/metadata", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, idp).await;
    });

    let saml = json!({
        "idp_metadata_url": idp_url, "sp_entity_id": "urn:ssogate:test:rollover",
        "sp_private_key_pem": fixture("sp.key"), "sp_certificate_pem": fixture("sp.crt"),
        "sign_authn_requests": true, "allow_idp_initiated": true,
    });
    let t = Rollover::new(spawn_app(db).await, saml.clone()).await;
    let body = saml_body(saml);
    let put = || put_connector(&t.app, &t.key, CONNECTOR, &body);

    *stage_on_fetch.lock().expect("lock") = Some((
        t.app
            .url(&format!("/api/v1/connectors/{CONNECTOR}/sp-key/stage")),
        t.key.clone(),
    ));
    let r = put().await;
    assert_eq!(r.status(), 409);
    let e: Value = r.json().await.expect("json");
    assert_eq!(e["error"]["code"], "connector_changed", "{e}");
    let staged = t.audit("connector.sp_key_staged").await;
    assert_eq!(staged.len(), 1);
    let next_sha = staged[0]["data"]["next_certificate_sha256"].clone();
    let (signing, _) = t.metadata_certificates().await;
    assert_eq!(signing.len(), 2, "the staged key survived");

    // Sent again (nothing staged meanwhile this time), it applies and keeps the staged key.
    assert_eq!(put().await.status(), 200);
    let (signing, encryption) = t.metadata_certificates().await;
    assert_eq!(signing.len(), 2);
    assert_eq!(signing, encryption);
    assert_eq!(signing[0], cert_b64(&fixture("sp.crt")));
    let activated = t.activate().await;
    assert_eq!(json!(sha256_hex(&activated)), next_sha);
}

/// Runs `ssogate apply` on the app's database with `file`.
fn apply(t: &Rollover, dir: &std::path::Path, file: &str) {
    let path = dir.join("setup.toml");
    std::fs::write(&path, file).expect("write");
    let mut c = Command::new(env!("CARGO_BIN_EXE_ssogate"));
    for (k, _) in std::env::vars() {
        if k.starts_with("SSOGATE_") {
            c.env_remove(k);
        }
    }
    let out = c
        .current_dir(dir)
        .arg("apply")
        .arg(&path)
        .env("SSOGATE_DATABASE__URL", &t.app.db.url)
        .env("SSOGATE_SECRETS__MASTER_KEY", t.app.master_key.to_base64())
        .output()
        .expect("run apply");
    assert!(
        out.status.success(),
        "apply failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The connector as an apply file, with the SP key pair in `key_file`/`cert_file`.
fn apply_file(key_file: &str, cert_file: &str) -> String {
    format!(
        r#"
[[connectors]]
id = "{CONNECTOR}"
kind = "saml"
domains = ["acme.test"]
[connectors.saml]
idp_metadata_xml = '''{idp}'''
sp_entity_id = "urn:ssogate:test:rollover"
sp_private_key_file = "{key_file}"
sp_certificate_file = "{cert_file}"
sign_authn_requests = true
allow_idp_initiated = true
"#,
        idp = idp_metadata_xml(),
    )
}

fn fixture_path(name: &str) -> String {
    format!("{}/tests/fixtures/saml/{name}", env!("CARGO_MANIFEST_DIR"))
}

async fn re_applying_the_same_file_keeps_a_staged_key(db: Db) {
    let t = setup(db).await;
    let dir = tempfile::tempdir().expect("dir");
    let file = apply_file(&fixture_path("sp.key"), &fixture_path("sp.crt"));
    apply(&t, dir.path(), &file);
    let current = fixture("sp.crt");
    let next = t.stage().await;
    apply(&t, dir.path(), &file);

    let both = vec![cert_b64(&current), cert_b64(&next)];
    assert_eq!(t.metadata_certificates().await, (both.clone(), both));
    t.accepts_encrypted_to(&next).await;
    assert!(t.authn_request_verifies_with(&current).await);
    // The staged pair is intact: it activates.
    assert_eq!(t.activate().await, next);
    assert!(t.authn_request_verifies_with(&next).await);
}

async fn a_new_key_in_the_file_rotates_at_once_and_drops_the_staged_key(db: Db) {
    let t = setup(db).await;
    let dir = tempfile::tempdir().expect("dir");
    let old = fixture("sp.crt");
    let staged = t.stage().await;
    let new = SpKeyPair::generate("ssogate SP from the file").expect("pair");
    std::fs::write(dir.path().join("new.key"), &new.private_key_pem).expect("key");
    std::fs::write(dir.path().join("new.crt"), &new.certificate_pem).expect("crt");
    apply(&t, dir.path(), &apply_file("new.key", "new.crt"));

    let only_new = vec![cert_b64(&new.certificate_pem)];
    assert_eq!(
        t.metadata_certificates().await,
        (only_new.clone(), only_new)
    );
    assert!(t.authn_request_verifies_with(&new.certificate_pem).await);
    // The old key keeps decrypting as the previous one; the staged one is gone.
    t.accepts_encrypted_to(&old).await;
    t.refuses_encrypted_to(&staged).await;
    let (status, body) = t.post("sp-key/activate").await;
    assert_eq!(status, 409, "{body}");
}

#[tokio::test]
async fn the_rollover_routes_need_an_api_key_and_a_saml_connector() {
    let t = setup(Db::Sqlite).await;
    let code = |body: &str| {
        let v: Value = serde_json::from_str(body).expect("json");
        v["error"]["code"].clone()
    };
    for action in ["sp-key/stage", "sp-key/activate"] {
        let (status, _) = t.post_as(CONNECTOR, action, None).await;
        assert_eq!(status, 401, "{action}");
        let (status, body) = t.post_as("nope", action, Some(&t.key)).await;
        assert_eq!(status, 404, "{action}");
        assert_eq!(code(&body), "not_found");
    }
    // Nothing was staged by the refused calls.
    let only = vec![cert_b64(&fixture("sp.crt"))];
    assert_eq!(t.metadata_certificates().await, (only.clone(), only));

    let oidc = json!({ "kind": "oidc", "oidc": { "issuer": "https://idp.example.test", "client_id": "x" } });
    let r = put_connector(&t.app, &t.key, "oidc", &oidc).await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
    for action in ["sp-key/stage", "sp-key/activate"] {
        let (status, body) = t.post_as("oidc", action, Some(&t.key)).await;
        assert_eq!(status, 400, "{action}");
        assert_eq!(code(&body), "connector_not_saml");
    }
}

#[tokio::test]
async fn the_immediate_rotation_drops_a_staged_key_and_keeps_the_current_one_for_decryption() {
    let t = setup(Db::Sqlite).await;
    let old = fixture("sp.crt");
    let staged = t.stage().await;
    let (status, body) = t.post("rotate-sp-key").await;
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).expect("json");
    let rotated = v["sp_certificate_pem"].as_str().expect("pem").to_string();

    let only = vec![cert_b64(&rotated)];
    assert_eq!(t.metadata_certificates().await, (only.clone(), only));
    assert!(t.authn_request_verifies_with(&rotated).await);
    t.accepts_encrypted_to(&old).await;
    t.refuses_encrypted_to(&staged).await;
    let (status, _) = t.post("sp-key/activate").await;
    assert_eq!(status, 409);
    let rotations = t.audit("connector.sp_key_rotated").await;
    assert_eq!(rotations.len(), 1);
    assert_eq!(rotations[0]["data"], json!({ "dropped_staged_key": true }));
}

/// End to end with the real Keycloak, on a client of this test's own that requires signed
/// AuthnRequests (a copy of `urn:ssogate:test:sp-signed-requests`, which knows sp.crt):
/// staging changes nothing for Keycloak; after activation it refuses our requests until
/// its admin gives it the new certificate, then the sign-in works with the new key.
#[tokio::test]
async fn keycloak_accepts_the_activated_key_once_it_has_the_new_certificate() {
    use crate::support::keycloak::{form_tag, sign_in, unique, KeycloakAdmin};
    use crate::support::{keycloak_realm, keycloak_url};

    let admin = KeycloakAdmin::connect().await;
    let client_id = unique("urn:ssogate:test:rollover");
    let kc_id = admin
        .copy_client("urn:ssogate:test:sp-signed-requests", &client_id)
        .await;
    let saml = json!({
        "idp_metadata_url": format!("{}/realms/{}/protocol/saml/descriptor", keycloak_url(), keycloak_realm()),
        "sp_entity_id": client_id, "sign_authn_requests": true,
        "sp_private_key_pem": fixture("sp.key"), "sp_certificate_pem": fixture("sp.crt"),
    });
    let t = Rollover::new(spawn_app(Db::Sqlite).await, saml).await;
    let signs_in = || async {
        let browser = new_client();
        let r = sign_in(&t.app, &browser, CONNECTOR, "alice").await;
        assert_eq!(r.status(), 303, "{}", r.text().await.unwrap_or_default());
        let me = browser.get(t.app.url("/me")).send().await.expect("me");
        assert_eq!(me.status(), 200);
    };
    signs_in().await;

    let next = t.stage().await;
    signs_in().await;

    assert_eq!(t.activate().await, next);
    // Keycloak still has the old certificate: it refuses the request signed with the new key.
    let r = new_client()
        .get(t.app.url(&format!("/login/{CONNECTOR}")))
        .send()
        .await
        .expect("start");
    let idp_url = r.headers()["location"].to_str().expect("ascii").to_string();
    let r = new_client().get(&idp_url).send().await.expect("sso");
    let status = r.status();
    let html = r.text().await.expect("page");
    assert!(status.is_client_error(), "HTTP {status}");
    assert!(form_tag(&html, r#"id="kc-form-login""#).is_none());

    admin
        .set_client_attribute(&kc_id, "saml.signing.certificate", &cert_b64(&next))
        .await;
    signs_in().await;
    admin.delete_client(&kc_id).await;
}
