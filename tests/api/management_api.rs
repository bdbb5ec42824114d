//! The management API: API-key auth, connectors (secrets write-only), organizations,
//! roles, audit events (filters, newest first, pagination), the OpenAPI document.

use serde_json::{json, Value};
use ssogate::store::api_keys;

use crate::helpers::{spawn_app, Db, TestApp};

async fn api_key(app: &TestApp) -> String {
    let mut c = app.store.write().await.expect("conn");
    api_keys::create(&mut c, "test").await.expect("key").1
}

fn idp_metadata_xml() -> String {
    let pem = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/saml/idp.crt"
    ))
    .expect("cert");
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    format!(
        r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="https://idp.acme.test">
<md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{b64}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.acme.test/sso"/>
</md:IDPSSODescriptor></md:EntityDescriptor>"#
    )
}

/// One extractor guards every `/api/v1` route; checked on both databases.
async fn the_api_requires_a_live_key(db: Db) {
    let app = spawn_app(db).await;
    for auth in [
        None,
        Some("Bearer nope"),
        Some("Bearer sgk_x_y"),
        Some("Basic abc"),
    ] {
        let mut req = app.client.get(app.url("/api/v1/connectors"));
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let r = req.send().await.expect("req");
        assert_eq!(r.status(), 401, "{auth:?}");
        let body: Value = r.json().await.expect("json");
        assert_eq!(body["error"]["code"], "unauthorized");
        assert!(body["error"]["request_id"]
            .as_str()
            .is_some_and(|s| !s.is_empty()));
    }
    for path in [
        "/api/v1/apps",
        "/api/v1/roles",
        "/api/v1/audit-events",
        "/api/v1/lint",
    ] {
        assert_eq!(app.get(path).await.status(), 401, "{path}");
    }
    let key = api_key(&app).await;
    let r = app
        .client
        .get(app.url("/api/v1/connectors"))
        .bearer_auth(&key)
        .send()
        .await
        .expect("req");
    assert_eq!(r.status(), 200);
    // A revoked key stops working.
    let mut c = app.store.write().await.expect("conn");
    let id = api_keys::list(&mut c).await.expect("list")[0].id.clone();
    api_keys::revoke(&mut c, &id).await.expect("revoke");
    drop(c);
    let r = app
        .client
        .get(app.url("/api/v1/connectors"))
        .bearer_auth(&key)
        .send()
        .await
        .expect("req");
    assert_eq!(r.status(), 401);
}

async fn connectors_round_trip(db: Db) {
    let app = spawn_app(db).await;
    let key = api_key(&app).await;
    let sp_key = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/saml/sp.key"
    ))
    .expect("key");
    let sp_crt = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/saml/sp.crt"
    ))
    .expect("crt");
    let body = json!({
        "kind": "saml",
        "display_name": "Acme",
        "domains": ["ACME.test"],
        "saml": { "idp_metadata_xml": idp_metadata_xml(), "sp_private_key_pem": sp_key, "sp_certificate_pem": sp_crt }
    });
    let r = app
        .client
        .put(app.url("/api/v1/connectors/acme"))
        .bearer_auth(&key)
        .json(&body)
        .send()
        .await
        .expect("req");
    assert_eq!(r.status(), 201);
    let text = r.text().await.expect("body");
    assert!(
        !text.contains("PRIVATE KEY"),
        "secrets are write-only: {text}"
    );
    let v: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(v["domains"], json!(["acme.test"]));
    assert_eq!(
        v["sp_metadata_url"],
        format!("{}/saml/acme/metadata", app.address)
    );
    assert_eq!(v["has_secrets"], true);

    let r = app
        .client
        .put(app.url("/api/v1/connectors/acme"))
        .bearer_auth(&key)
        .json(&body)
        .send()
        .await
        .expect("req");
    assert_eq!(r.status(), 200, "the second PUT updates");

    // The API never reads files on the server.
    let with_file = json!({ "kind": "saml", "saml": { "idp_metadata_file": "/etc/hostname" } });
    let r = app
        .client
        .put(app.url("/api/v1/connectors/x"))
        .bearer_auth(&key)
        .json(&with_file)
        .send()
        .await
        .expect("req");
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.expect("json");
    assert_eq!(e["error"]["code"], "connector_invalid");
    assert!(e["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .contains("file paths are not accepted"));

    // Metadata without a certificate cannot be saved.
    let no_cert = idp_metadata_xml();
    let start = no_cert.find("<md:KeyDescriptor").expect("kd");
    let end = no_cert.find("</md:KeyDescriptor>").expect("kd end") + "</md:KeyDescriptor>".len();
    let no_cert = format!("{}{}", &no_cert[..start], &no_cert[end..]);
    let r = app
        .client
        .put(app.url("/api/v1/connectors/nocert"))
        .bearer_auth(&key)
        .json(&json!({ "kind": "saml", "saml": { "idp_metadata_xml": no_cert } }))
        .send()
        .await
        .expect("req");
    assert_eq!(r.status(), 400);
    assert!(r
        .text()
        .await
        .expect("body")
        .contains("no signing certificate"));

    let list: Value = app
        .client
        .get(app.url("/api/v1/connectors"))
        .bearer_auth(&key)
        .send()
        .await
        .expect("req")
        .json()
        .await
        .expect("json");
    assert_eq!(list["connectors"].as_array().map(Vec::len), Some(1));

    // Organizations and roles.
    let r = app
        .client
        .post(app.url("/api/v1/roles"))
        .bearer_auth(&key)
        .json(&json!({ "name": "member" }))
        .send()
        .await
        .expect("req");
    assert_eq!(r.status(), 200);
    let org: Value = app
        .client
        .post(app.url("/api/v1/organizations"))
        .bearer_auth(&key)
        .json(&json!({ "name": "Acme", "jit_connectors": ["acme"], "jit_email_domains": ["acme.test"], "default_roles": ["member"] }))
        .send()
        .await
        .expect("req")
        .json()
        .await
        .expect("json");
    assert_eq!(org["jit_connectors"], json!(["acme"]));
    let r = app
        .client
        .post(app.url("/api/v1/organizations"))
        .bearer_auth(&key)
        .json(&json!({ "name": "Bad", "default_roles": ["nope"] }))
        .send()
        .await
        .expect("req");
    assert_eq!(r.status(), 400);

    let r = app
        .client
        .delete(app.url("/api/v1/connectors/acme"))
        .bearer_auth(&key)
        .send()
        .await
        .expect("req");
    assert_eq!(r.status(), 204);
    let r = app
        .client
        .get(app.url("/api/v1/connectors/acme"))
        .bearer_auth(&key)
        .send()
        .await
        .expect("req");
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn the_api_requires_a_live_key_on_sqlite() {
    the_api_requires_a_live_key(Db::Sqlite).await;
}

#[tokio::test]
async fn the_api_requires_a_live_key_on_postgres() {
    the_api_requires_a_live_key(Db::Postgres).await;
}

#[tokio::test]
async fn connectors_round_trip_on_sqlite() {
    connectors_round_trip(Db::Sqlite).await;
}

#[tokio::test]
async fn connectors_round_trip_on_postgres() {
    connectors_round_trip(Db::Postgres).await;
}

#[tokio::test]
async fn audit_events_are_filtered_and_paginated() {
    let app = spawn_app(Db::Sqlite).await;
    let key = api_key(&app).await;
    for i in 0..7 {
        let r = app
            .client
            .post(app.url("/api/v1/roles"))
            .bearer_auth(&key)
            .json(&json!({ "name": format!("r{i}") }))
            .send()
            .await
            .expect("req");
        assert_eq!(r.status(), 200);
    }
    let page: Value = app
        .client
        .get(app.url("/api/v1/audit-events?type=role.updated&limit=5"))
        .bearer_auth(&key)
        .send()
        .await
        .expect("req")
        .json()
        .await
        .expect("json");
    let names: Vec<String> = page["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["data"]["name"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(names, vec!["r6", "r5", "r4", "r3", "r2"], "newest first");
    let next = page["next"].as_str().expect("a next cursor");
    let page2: Value = app
        .client
        .get(app.url(&format!(
            "/api/v1/audit-events?type=role.updated&limit=5&before={next}"
        )))
        .bearer_auth(&key)
        .send()
        .await
        .expect("req")
        .json()
        .await
        .expect("json");
    let names2: Vec<String> = page2["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["data"]["name"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(names2, vec!["r1", "r0"]);
    assert!(page2["next"].is_null());
    let r = app
        .client
        .get(app.url("/api/v1/audit-events?before=garbage"))
        .bearer_auth(&key)
        .send()
        .await
        .expect("req");
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn the_openapi_document_lists_the_routes() {
    let app = spawn_app(Db::Sqlite).await;
    let r = app.get("/api/v1/openapi.json").await;
    assert_eq!(r.status(), 200);
    let doc: Value = r.json().await.expect("json");
    assert_eq!(doc["openapi"], "3.1.0");
    for p in [
        "/api/v1/connectors",
        "/api/v1/organizations",
        "/api/v1/roles",
        "/api/v1/audit-events",
        "/api/v1/apps",
        "/api/v1/lint",
        "/api/v1/signin/dry-run",
        "/api/v1/users/{id}/suspend",
        "/api/v1/connectors/{id}/rotate-sp-key",
        "/api/v1/connectors/{id}/sp-key/stage",
        "/api/v1/connectors/{id}/sp-key/activate",
    ] {
        assert!(doc["paths"].get(p).is_some(), "{p} documented");
    }
}
