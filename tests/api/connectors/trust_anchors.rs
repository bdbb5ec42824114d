//! Plain-http trust anchors (IdP metadata URLs, OIDC issuers) are refused — when a
//! connector is saved and when it is used — except on loopback hosts or with an explicit
//! `allow_insecure_http = true`, which the linter reports. The refusals need no network:
//! nothing is requested before the check.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};
use ssogate::jobs::refresh_saml_metadata;
use ssogate::store::connectors::{self, ConnectorRecord};

use crate::signin::refusals::{last_refusal_reason, refusal};
use crate::support::api_key;
use crate::support::{new_client, spawn_app, Db, TestApp};

const SAML_REFUSED: &str = "connector \"acme\": insecure_trust_anchor: metadata_url must be https (or set allow_insecure_http = true): http://idp.example.com/metadata";
const OIDC_REFUSED: &str = "connector \"corp\": insecure_trust_anchor: issuer must be https (or set allow_insecure_http = true): http://idp.example.com/realms/corp";

fn metadata_xml() -> String {
    let pem = std::fs::read_to_string(format!(
        "{}/tests/fixtures/saml/idp.crt",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("cert");
    let cert: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    format!(
        r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="https://idp.acme.test">
<md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.acme.test/sso"/>
</md:IDPSSODescriptor></md:EntityDescriptor>"#
    )
}

/// A metadata server on this machine that counts its requests. Its address for the tests
/// is `0.0.0.0:port`: Linux connects that to the local host, but it is not a loopback
/// address, so ssogate treats it like any remote host (plain http refused).
async fn counting_metadata_server() -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let router = Router::new().route(
        "/metadata",
        get(move || {
            h.fetch_add(1, Ordering::SeqCst);
            async { metadata_xml() }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (format!("http://0.0.0.0:{port}/metadata"), hits)
}

async fn put(app: &TestApp, key: &str, id: &str, body: Value) -> (u16, Value) {
    let r = app
        .client
        .put(app.url(&format!("/api/v1/connectors/{id}")))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .expect("req");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn lint_codes(app: &TestApp, key: &str) -> Vec<String> {
    let v: Value = app
        .client
        .get(app.url("/api/v1/lint"))
        .bearer_auth(key)
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
        .map(|w| w["code"].as_str().unwrap_or_default().to_string())
        .collect();
    codes.sort();
    codes
}

#[tokio::test]
async fn the_api_refuses_plain_http_trust_anchors_unless_allowed() {
    let app = spawn_app(Db::Sqlite).await;
    let key = api_key(&app).await;

    let (status, e) = put(
        &app,
        &key,
        "acme",
        json!({ "kind": "saml", "saml": { "idp_metadata_url": "http://idp.example.com/metadata" } }),
    )
    .await;
    assert_eq!(status, 400, "{e}");
    assert_eq!(e["error"]["code"], "insecure_trust_anchor");
    assert_eq!(e["error"]["message"], SAML_REFUSED);

    let oidc = |allow: Option<bool>| {
        let mut body = json!({ "kind": "oidc", "oidc": { "issuer": "http://idp.example.com/realms/corp", "client_id": "ssogate" } });
        if let Some(a) = allow {
            body["allow_insecure_http"] = json!(a);
        }
        body
    };
    for allow in [None, Some(false)] {
        let (status, e) = put(&app, &key, "corp", oidc(allow)).await;
        assert_eq!(status, 400, "{e}");
        assert_eq!(e["error"]["code"], "insecure_trust_anchor");
        assert_eq!(e["error"]["message"], OIDC_REFUSED);
    }

    // Loopback stays allowed, like https; a look-alike of localhost does not.
    for issuer in [
        "https://idp.example.com/realms/corp",
        "http://127.0.0.1:8080/realms/corp",
        "http://localhost:8080/realms/corp",
        "http://[::1]:8080/realms/corp",
    ] {
        let (status, e) = put(
            &app,
            &key,
            "loop",
            json!({ "kind": "oidc", "oidc": { "issuer": issuer, "client_id": "ssogate" } }),
        )
        .await;
        assert_eq!(
            status,
            if issuer.starts_with("https") {
                201
            } else {
                200
            },
            "{issuer}: {e}"
        );
    }
    let (status, e) = put(&app, &key, "loop", json!({ "kind": "oidc", "oidc": { "issuer": "http://localhost.example.com/x", "client_id": "ssogate" } })).await;
    assert_eq!(
        (status, e["error"]["code"].clone()),
        (400, json!("insecure_trust_anchor"))
    );
    assert_eq!(lint_codes(&app, &key).await, Vec::<String>::new());

    // Explicitly allowed: saved (OIDC does not fetch at save time) and reported.
    let (status, v) = put(&app, &key, "corp", oidc(Some(true))).await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["config"]["allow_insecure_http"], true);

    // SAML fetches at save time: refused before any request is made; with the flag,
    // fetched and saved.
    let (url, hits) = counting_metadata_server().await;
    let saml = |allow: bool| json!({ "kind": "saml", "allow_insecure_http": allow, "saml": { "idp_metadata_url": url } });
    let (status, e) = put(&app, &key, "acme", saml(false)).await;
    assert_eq!(status, 400, "{e}");
    assert_eq!(e["error"]["code"], "insecure_trust_anchor");
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "nothing fetched over plain http"
    );
    let (status, v) = put(&app, &key, "acme", saml(true)).await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(hits.load(Ordering::SeqCst), 1);

    assert_eq!(
        lint_codes(&app, &key).await,
        vec!["insecure_http_allowed", "insecure_http_allowed"]
    );
}

/// A connector saved before the check existed (written to the store directly): its OIDC
/// sign-ins are refused before discovery and its SAML metadata is not refreshed.
#[tokio::test]
async fn an_insecure_trust_anchor_saved_earlier_is_refused_when_used() {
    let app = spawn_app(Db::Sqlite).await;
    let key = api_key(&app).await;
    let (url, hits) = counting_metadata_server().await;
    let saml = json!({
        "saml": {
            "idp_metadata_url": url,
            "idp_metadata_xml": "<old/>",
            "idp_entity_id": "https://idp.acme.test",
            "idp_sso_url": "https://idp.acme.test/sso",
            "idp_signing_certificates": [],
            "sp_certificate_pem": "",
        }
    });
    let oidc = json!({ "oidc": { "issuer": "http://idp.example.com/realms/corp", "client_id": "ssogate" } });
    for (id, kind, config) in [("acme", "saml", saml), ("corp", "oidc", oidc)] {
        let rec = ConnectorRecord {
            id: id.into(),
            kind: kind.into(),
            display_name: id.into(),
            enabled: true,
            config,
            secrets: None,
            domains: vec![],
            created_at: 0,
            updated_at: 0,
        };
        let mut c = app.store.write().await.expect("conn");
        connectors::upsert(&mut c, &rec).await.expect("upsert");
    }

    let r = new_client()
        .get(app.url("/login/corp"))
        .send()
        .await
        .expect("req");
    assert_eq!(refusal(r).await, (400, "insecure_trust_anchor".into()));
    assert_eq!(
        last_refusal_reason(&app).await.as_deref(),
        Some("insecure_trust_anchor")
    );

    let report = refresh_saml_metadata(&app.state).await.expect("refresh");
    assert_eq!(report.failed, vec!["acme".to_string()], "{report:?}");
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "nothing fetched over plain http"
    );

    // The linter names both.
    assert_eq!(
        lint_codes(&app, &key).await,
        vec!["insecure_trust_anchor", "insecure_trust_anchor"]
    );
}
