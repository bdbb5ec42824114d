//! The management API: API-key auth, connectors (secrets write-only), organizations,
//! roles, audit events (filters, newest first, pagination), the OpenAPI document.

use reqwest::Method;
use serde_json::{json, Value};
use ssogate::store::api_keys;

use crate::support::api_key;
use crate::support::saml_forge::{fixture, idp_metadata_xml};
use crate::support::{spawn_app, Db, TestApp};

/// The management API as one API key's holder sees it.
struct Api<'a> {
    app: &'a TestApp,
    key: String,
}

impl Api<'_> {
    /// `method path` with the API key and, if given, a JSON body.
    async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> reqwest::Response {
        let mut req = self
            .app
            .client
            .request(method, self.app.url(path))
            .bearer_auth(&self.key);
        if let Some(body) = body {
            req = req.json(body);
        }
        req.send().await.expect("req")
    }
    async fn get(&self, path: &str) -> reqwest::Response {
        self.call(Method::GET, path, None).await
    }
    async fn put(&self, path: &str, body: &Value) -> reqwest::Response {
        self.call(Method::PUT, path, Some(body)).await
    }
    async fn post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.call(Method::POST, path, Some(body)).await
    }
    async fn delete(&self, path: &str) -> reqwest::Response {
        self.call(Method::DELETE, path, None).await
    }
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
    let api = Api {
        app: &app,
        key: api_key(&app).await,
    };
    let r = api.get("/api/v1/connectors").await;
    assert_eq!(r.status(), 200);
    // A revoked key stops working.
    let mut c = app.store.write().await.expect("conn");
    let id = api_keys::list(&mut c).await.expect("list")[0].id.clone();
    api_keys::revoke(&mut c, &id).await.expect("revoke");
    drop(c);
    let r = api.get("/api/v1/connectors").await;
    assert_eq!(r.status(), 401);
}

async fn connectors_round_trip(db: Db) {
    let app = spawn_app(db).await;
    let api = Api {
        app: &app,
        key: api_key(&app).await,
    };
    let sp_key = fixture("sp.key");
    let sp_crt = fixture("sp.crt");
    let body = json!({
        "kind": "saml",
        "display_name": "Acme",
        "domains": ["ACME.test"],
        "saml": { "idp_metadata_xml": idp_metadata_xml(), "sp_private_key_pem": sp_key, "sp_certificate_pem": sp_crt }
    });
    let r = api.put("/api/v1/connectors/acme", &body).await;
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

    let r = api.put("/api/v1/connectors/acme", &body).await;
    assert_eq!(r.status(), 200, "the second PUT updates");

    // The API never reads files on the server.
    let with_file = json!({ "kind": "saml", "saml": { "idp_metadata_file": "/etc/hostname" } });
    let r = api.put("/api/v1/connectors/x", &with_file).await;
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
    let r = api
        .put(
            "/api/v1/connectors/nocert",
            &json!({ "kind": "saml", "saml": { "idp_metadata_xml": no_cert } }),
        )
        .await;
    assert_eq!(r.status(), 400);
    assert!(r
        .text()
        .await
        .expect("body")
        .contains("no signing certificate"));

    let list: Value = api
        .get("/api/v1/connectors")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(list["connectors"].as_array().map(Vec::len), Some(1));

    // Organizations and roles.
    let r = api
        .post("/api/v1/roles", &json!({ "name": "member" }))
        .await;
    assert_eq!(r.status(), 200);
    let acme = json!({ "name": "Acme", "jit_connectors": ["acme"], "jit_email_domains": ["acme.test"], "default_roles": ["member"] });
    let org: Value = api
        .post("/api/v1/organizations", &acme)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(org["jit_connectors"], json!(["acme"]));
    let r = api
        .post(
            "/api/v1/organizations",
            &json!({ "name": "Bad", "default_roles": ["nope"] }),
        )
        .await;
    assert_eq!(r.status(), 400);

    let r = api.delete("/api/v1/connectors/acme").await;
    assert_eq!(r.status(), 204);
    let r = api.get("/api/v1/connectors/acme").await;
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
    let api = Api {
        app: &app,
        key: api_key(&app).await,
    };
    for i in 0..7 {
        let r = api
            .post("/api/v1/roles", &json!({ "name": format!("r{i}") }))
            .await;
        assert_eq!(r.status(), 200);
    }
    let page: Value = api
        .get("/api/v1/audit-events?type=role.updated&limit=5")
        .await
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
    let page2: Value = api
        .get(&format!(
            "/api/v1/audit-events?type=role.updated&limit=5&before={next}"
        ))
        .await
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
    let r = api.get("/api/v1/audit-events?before=garbage").await;
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
