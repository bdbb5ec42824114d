//! `/api/v1/apps`, `[[apps]]` in apply files, and return_to for app origins.

use serde_json::{json, Value};
use ssogate::apply::{self, ApplyContext};
use ssogate::store::audit::{self, AuditFilter};

use crate::support::downstream::{api_key, put_app};
use crate::support::{spawn_app, Db, TestApp};

both!(
    apps_are_created_listed_replaced_and_deleted,
    apply_upserts_apps_idempotently,
    return_to_is_honoured_for_app_origins_only,
);

async fn send(
    app: &TestApp,
    key: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut r = app.client.request(method, app.url(path)).bearer_auth(key);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().await.expect("req");
    let status = r.status().as_u16();
    let body = r.json().await.unwrap_or(Value::Null);
    (status, body)
}

async fn apps_are_created_listed_replaced_and_deleted(db: Db) {
    let app = spawn_app(db).await;
    let key = api_key(&app).await;
    crate::support::downstream::user(&app, "x@acme.test", "X", &[("Acme", &["admin"])]).await;
    let wiki = json!({
        "name": "wiki",
        "origins": ["https://Wiki.Example.com", "http://127.0.0.1:8081"],
        "organizations": ["Acme"],
        "roles": ["admin"],
    });
    let (s, b) = send(
        &app,
        &key,
        reqwest::Method::POST,
        "/api/v1/apps",
        Some(wiki.clone()),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(
        b["origins"],
        json!(["http://127.0.0.1:8081", "https://wiki.example.com"])
    );
    assert_eq!(
        b["audience"],
        json!("https://wiki.example.com"),
        "defaults to the first origin"
    );
    assert_eq!(b["organizations"], json!(["Acme"]));
    assert_eq!(b["roles"], json!(["admin"]));
    assert_eq!(
        b["headers"],
        json!(["user", "email", "name", "org", "roles", "token"])
    );
    assert_eq!(b["unauthenticated"], json!("status"));
    let (s, _) = send(
        &app,
        &key,
        reqwest::Method::POST,
        "/api/v1/apps",
        Some(wiki.clone()),
    )
    .await;
    assert_eq!(s, 409, "POST does not replace");

    // Another app may not take a host or origin that is already served.
    let (s, b) = send(
        &app,
        &key,
        reqwest::Method::POST,
        "/api/v1/apps",
        Some(json!({"name": "clash", "origins": ["https://wiki.example.com:443"]})),
    )
    .await;
    assert_eq!(s, 409, "{b}");

    for (bad, why) in [
        (
            json!({"name": "Bad Name", "origins": ["https://a.test"]}),
            "name",
        ),
        (json!({"name": "a", "origins": []}), "no origin"),
        (
            json!({"name": "a", "origins": ["https://a.test/path"]}),
            "path",
        ),
        (
            json!({"name": "a", "origins": ["https://a.test"], "organizations": ["Nope"]}),
            "org",
        ),
        (
            json!({"name": "a", "origins": ["https://a.test"], "roles": ["nope"]}),
            "role",
        ),
        (
            json!({"name": "a", "origins": ["https://a.test"], "headers": ["cookie"]}),
            "header",
        ),
        (
            json!({"name": "a", "origins": ["https://a.test"], "unauthenticated": "maybe"}),
            "mode",
        ),
    ] {
        let (s, b) = send(&app, &key, reqwest::Method::POST, "/api/v1/apps", Some(bad)).await;
        assert_eq!(s, 400, "{why}: {b}");
        assert_eq!(b["error"]["code"], json!("invalid_app"), "{why}");
    }
    let (s, b) = send(
        &app,
        &key,
        reqwest::Method::POST,
        "/api/v1/apps",
        Some(json!({"name": "a", "origins": ["https://a.test"], "secret": 1})),
    )
    .await;
    assert_eq!(s, 400, "unknown fields are refused: {b}");
    assert_eq!(b["error"]["code"], json!("invalid_json"));
    assert!(
        b["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("secret")),
        "{b}"
    );

    let (s, b) = send(&app, &key, reqwest::Method::GET, "/api/v1/apps", None).await;
    assert_eq!(s, 200);
    assert_eq!(b.as_array().map(|a| a.len()), Some(1));

    let r = put_app(
        &app,
        &key,
        json!({"name": "wiki", "origins": ["https://wiki.example.com"], "headers": ["user"]}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let (s, b) = send(&app, &key, reqwest::Method::GET, "/api/v1/apps/wiki", None).await;
    assert_eq!(s, 200);
    assert_eq!(b["origins"], json!(["https://wiki.example.com"]));
    assert_eq!(b["organizations"], json!([]));
    assert_eq!(b["headers"], json!(["user"]));
    let (s, _) = send(
        &app,
        &key,
        reqwest::Method::PUT,
        "/api/v1/apps/other",
        Some(json!({"name": "wiki", "origins": ["https://w.test"]})),
    )
    .await;
    assert_eq!(s, 400, "name in URL and body differ");

    let (s, _) = send(
        &app,
        &key,
        reqwest::Method::DELETE,
        "/api/v1/apps/wiki",
        None,
    )
    .await;
    assert_eq!(s, 204);
    let (s, _) = send(&app, &key, reqwest::Method::GET, "/api/v1/apps/wiki", None).await;
    assert_eq!(s, 404);
    let (s, _) = send(
        &app,
        &key,
        reqwest::Method::DELETE,
        "/api/v1/apps/wiki",
        None,
    )
    .await;
    assert_eq!(s, 404);

    let mut c = app.store.read().await.expect("conn");
    for kind in ["app.created", "app.updated", "app.deleted"] {
        let n = audit::query(
            &mut c,
            &AuditFilter {
                kind: Some(kind.into()),
                ..Default::default()
            },
        )
        .await
        .expect("audit")
        .len();
        assert_eq!(n, 1, "{kind}");
    }
}

async fn apply_upserts_apps_idempotently(db: Db) {
    let app = spawn_app(db).await;
    let file: apply::ApplyFile = toml::from_str(
        r#"
[[roles]]
name = "admin"

[[organizations]]
name = "Acme"

[[apps]]
name = "grafana"
origins = ["https://grafana.example.com"]
audience = "grafana"
organizations = ["Acme"]
roles = ["admin"]
headers = ["user", "email", "token"]
unauthenticated = "redirect"
"#,
    )
    .expect("toml");
    let http = ssogate::app::http_client().expect("client");
    let dir = tempfile::tempdir().expect("dir");
    let ctx = ApplyContext {
        store: &app.store,
        master_key: &app.master_key,
        http: &http,
        base_dir: Some(dir.path()),
        strict: false,
    };
    let first = apply::apply(&file, &ctx).await.expect("apply");
    assert!(
        first.lines.contains(&"app grafana: created".to_string()),
        "{:?}",
        first.lines
    );
    let second = apply::apply(&file, &ctx).await.expect("apply again");
    assert!(
        second.lines.contains(&"app grafana: updated".to_string()),
        "{:?}",
        second.lines
    );
    let mut c = app.store.read().await.expect("conn");
    let all = ssogate::store::apps::list(&mut c).await.expect("list");
    assert_eq!(all.len(), 1);
    let views = ssogate::gateway::apps::describe(&mut c, all)
        .await
        .expect("describe");
    assert_eq!(views[0].audience, "grafana");
    assert_eq!(views[0].organizations, vec!["Acme".to_string()]);
    assert_eq!(views[0].roles, vec!["admin".to_string()]);
    assert_eq!(views[0].unauthenticated, "redirect");

    // A bad app fails the whole apply, naming the app.
    let bad: apply::ApplyFile = toml::from_str(
        "[[apps]]\nname = \"x\"\norigins = [\"https://x.test\"]\norganizations = [\"Nope\"]\n",
    )
    .expect("toml");
    let err = apply::apply(&bad, &ctx)
        .await
        .expect_err("refused")
        .to_string();
    assert!(err.contains("\"x\"") && err.contains("Nope"), "{err}");
}

async fn return_to_is_honoured_for_app_origins_only(db: Db) {
    let app = spawn_app(db).await;
    let key = api_key(&app).await;
    assert_eq!(
        put_app(
            &app,
            &key,
            json!({"name": "wiki", "origins": ["http://app.test:8081"]})
        )
        .await
        .status(),
        201
    );
    let target = "http://app.test:8081/docs?a=1";
    let r = app
        .client
        .get(app.url("/login"))
        .query(&[("return_to", target)])
        .send()
        .await
        .expect("login");
    assert_eq!(r.status(), 200);
    let html = r.text().await.expect("html");
    assert!(html.contains("app.test:8081"), "the app's URL is kept");
    let refused = [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example",
        "https:evil.example",
        "http://app.test:8082/",
        "https://app.test:8081/",
        "http://app.test:8081@evil.example/",
    ];
    for bad in refused {
        let r = app
            .client
            .get(app.url("/login"))
            .query(&[("return_to", bad)])
            .send()
            .await
            .expect("login");
        assert_eq!(r.status(), 200, "the person still gets the sign-in page");
        let html = r.text().await.expect("html");
        assert!(!html.contains("evil.example"), "{bad} is dropped");
    }
    let mut c = app.store.read().await.expect("conn");
    let events = audit::query(
        &mut c,
        &AuditFilter {
            kind: Some("signin.return_to_refused".into()),
            ..Default::default()
        },
    )
    .await
    .expect("audit");
    assert_eq!(events.len(), refused.len(), "each refusal is audited");
    assert!(events
        .iter()
        .all(|e| e.reason.as_deref() == Some("return_to_not_allowed")));
}
