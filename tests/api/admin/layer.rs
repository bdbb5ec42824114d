//! The admin layer (`src/admin/`): the management API and `ssogate apply` make the same
//! change the same way. Each test makes it through both faces and asserts the same
//! outcome: the same validation (and refusal), the same stored row, the same audit events.

use serde_json::{json, Value};
use ssogate::apply::{self, ApplyContext, ApplyFile};
use ssogate::store::audit::{self, AuditEvent, AuditFilter};
use ssogate::store::organizations as orgs;

use crate::support::saml_forge::idp_metadata_xml;
use crate::support::{api_key, spawn_app, Db, TestApp};

/// Runs `ssogate apply` on `text` (a TOML apply file) against `app`'s database.
async fn apply_text(app: &TestApp, text: &str) -> Result<apply::ApplyReport, String> {
    let file: ApplyFile = toml::from_str(text).expect("toml");
    let http = ssogate::app::http_client().expect("client");
    let dir = tempfile::tempdir().expect("dir");
    let ctx = ApplyContext {
        store: &app.store,
        master_key: &app.master_key,
        http: &http,
        base_dir: Some(dir.path()),
        strict: false,
    };
    apply::apply(&file, &ctx).await.map_err(|e| e.to_string())
}

/// `POST path` with a fresh API key; the status and the JSON body.
async fn api_post(app: &TestApp, path: &str, body: &Value) -> (u16, Value) {
    let key = api_key(app).await;
    let r = app
        .client
        .post(app.url(path))
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .expect("post");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn events(app: &TestApp, kind: &str) -> Vec<AuditEvent> {
    let mut c = app.store.read().await.expect("conn");
    audit::query(
        &mut c,
        &AuditFilter {
            kind: Some(kind.into()),
            ..Default::default()
        },
    )
    .await
    .expect("audit")
}

/// JIT domains go through one normalization: the same stored list (lower case, no
/// duplicates) from both faces, and the same refusal, word for word, for a domain that is
/// not one (the API's message used to lack the organization's name).
async fn jit_domains_are_normalized_and_deduplicated_by_both_faces(db: Db) {
    let app = spawn_app(db).await;
    let domains = json!(["Acme.TEST", "acme.test", "b.test", "B.TEST"]);
    let (status, org) = api_post(
        &app,
        "/api/v1/organizations",
        &json!({ "name": "Through API", "jit_email_domains": domains }),
    )
    .await;
    assert_eq!(status, 200, "{org}");
    assert_eq!(org["jit_email_domains"], json!(["acme.test", "b.test"]));

    apply_text(
        &app,
        r#"
[[organizations]]
name = "Through apply"
jit_email_domains = ["Acme.TEST", "acme.test", "b.test", "B.TEST"]
"#,
    )
    .await
    .expect("apply");
    let mut c = app.store.read().await.expect("conn");
    let applied = orgs::get_by_name(&mut c, "Through apply")
        .await
        .expect("get")
        .expect("applied");
    assert_eq!(applied.jit_email_domains, vec!["acme.test", "b.test"]);
    drop(c);

    let (status, body) = api_post(
        &app,
        "/api/v1/organizations",
        &json!({ "name": "Bad", "jit_email_domains": ["not a domain"] }),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "organization_invalid");
    let err = apply_text(
        &app,
        "[[organizations]]\nname = \"Bad\"\njit_email_domains = [\"not a domain\"]\n",
    )
    .await
    .expect_err("refused");
    assert_eq!(Some(err.as_str()), body["error"]["message"].as_str());
    assert_eq!(
        err,
        "organization \"Bad\": \"not a domain\" is not a valid domain"
    );
}

/// `ssogate apply` used to record only `config.applied`: each object it writes now has the
/// event the API records for it, with actor `cli` (and the summary stays).
async fn apply_audits_each_object_as_the_api_does(db: Db) {
    let app = spawn_app(db).await;
    let metadata = idp_metadata_xml();
    apply_text(
        &app,
        &format!(
            r#"
[[roles]]
name = "member"

[[connectors]]
id = "acme"
kind = "saml"
domains = ["acme.test"]
[connectors.saml]
idp_metadata_xml = '''{metadata}'''

[[organizations]]
name = "Acme"
jit_connectors = ["acme"]
default_roles = ["member"]

[[apps]]
name = "wiki"
origins = ["https://wiki.example.com"]
organizations = ["Acme"]
"#
        ),
    )
    .await
    .expect("apply");
    for kind in [
        "role.updated",
        "connector.created",
        "organization.updated",
        "app.created",
        "config.applied",
    ] {
        let found = events(&app, kind).await;
        assert_eq!(found.len(), 1, "{kind}: {found:?}");
        assert_eq!(found[0].actor.as_deref(), Some("cli"), "{kind}");
    }
    let connector = &events(&app, "connector.created").await[0];
    assert_eq!(connector.connector_id.as_deref(), Some("acme"));
    assert_eq!(connector.data["domains"], json!(["acme.test"]));
    let org = &events(&app, "organization.updated").await[0];
    assert_eq!(org.data["name"], "Acme");
    assert_eq!(org.data["jit_connectors"], json!(["acme"]));

    // The same organization through the API: the same event, the API key as actor, and
    // the request that made it.
    let (status, body) = api_post(
        &app,
        "/api/v1/organizations",
        &json!({ "name": "Acme", "jit_connectors": ["acme"], "default_roles": ["member"] }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let updates = events(&app, "organization.updated").await;
    assert_eq!(updates.len(), 2);
    assert!(updates[0]
        .actor
        .as_deref()
        .is_some_and(|a| a.starts_with("api-key:")));
    assert!(updates[0].request_id.is_some(), "{:?}", updates[0]);
    assert_eq!(updates[0].data, updates[1].data);
}

/// A nameless organization or role: apply used to write an organization named " " (and
/// said "a role needs a name" where the API said "name must not be empty"); both faces
/// now refuse both with the same reason and message, and write nothing.
async fn nameless_organizations_and_roles_are_refused_by_both_faces(db: Db) {
    let app = spawn_app(db).await;
    let (status, body) = api_post(&app, "/api/v1/organizations", &json!({ "name": " " })).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "organization_invalid");
    let api_message = body["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(api_message.contains("name must not be empty"), "{body}");

    let err = apply_text(&app, "[[organizations]]\nname = \" \"\n")
        .await
        .expect_err("refused");
    assert_eq!(err, api_message);

    let (status, body) = api_post(&app, "/api/v1/roles", &json!({ "name": "" })).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "role_invalid");
    let err = apply_text(&app, "[[roles]]\nname = \"\"\n")
        .await
        .expect_err("refused");
    assert_eq!(Some(err.as_str()), body["error"]["message"].as_str());

    let mut c = app.store.read().await.expect("conn");
    assert!(orgs::list(&mut c).await.expect("list").is_empty());
    assert!(orgs::list_roles(&mut c).await.expect("roles").is_empty());
    assert!(events(&app, "organization.updated").await.is_empty());
}

both!(
    jit_domains_are_normalized_and_deduplicated_by_both_faces,
    apply_audits_each_object_as_the_api_does,
    nameless_organizations_and_roles_are_refused_by_both_faces,
);
