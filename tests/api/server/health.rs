use crate::support::{spawn_app, Db};

async fn health_answers(db: Db) {
    let app = spawn_app(db).await;
    let r = app.get("/healthz").await;
    assert_eq!(r.status(), 200);
    assert!(r.headers().contains_key("x-request-id"));
    assert_eq!(r.text().await.expect("body"), "ok");
    let r = app.get("/readyz").await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn health_and_readiness_on_sqlite() {
    health_answers(Db::Sqlite).await;
}

#[tokio::test]
async fn health_and_readiness_on_postgres() {
    health_answers(Db::Postgres).await;
}

#[tokio::test]
async fn readiness_fails_when_the_database_is_gone() {
    let app = spawn_app(Db::Sqlite).await;
    app.store.close().await;
    let r = app.get("/readyz").await;
    assert_eq!(r.status(), 503);
    // Liveness does not depend on the database.
    assert_eq!(app.get("/healthz").await.status(), 200);
}

#[tokio::test]
async fn error_pages_carry_the_request_id() {
    let app = spawn_app(Db::Sqlite).await;
    let r = app.get("/no-such-page").await;
    assert_eq!(r.status(), 404);
    let id = r.headers()["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_string();
    let html = r.text().await.expect("body");
    assert!(
        html.contains(&format!(r#"<code id="request-id">{id}</code>"#)),
        "{html}"
    );
    assert!(html.contains(r#"href="/login""#));

    // A client cannot choose its request id.
    let r = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "forged-id")
        .send()
        .await
        .expect("req");
    assert_ne!(r.headers()["x-request-id"], "forged-id");

    // JSON for API clients.
    let r = app.get("/api/v1/nothing").await;
    assert_eq!(r.status(), 404);
    let id = r.headers()["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_string();
    let body: serde_json::Value = r.json().await.expect("json");
    assert_eq!(body["error"]["code"], "not_found");
    assert_eq!(body["error"]["request_id"], id.as_str());
}
