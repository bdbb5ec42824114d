//! The session cookie as the browser sees it, and the clean-up of expired sessions.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::State;
use axum::routing::get;
use axum::Router;
use ssogate::app::AppState;
use ssogate::config::Config;
use ssogate::session;
use ssogate::store::sessions::DbSessionStore;
use tower::ServiceExt;
use tower_sessions::session::{Id, Record};
use tower_sessions::{Session, SessionStore};

use crate::support::{spawn_app_with, Db, TestApp};

/// The Set-Cookie of a sign-in (session::start behind the real session layer).
async fn sign_in_cookie(tweak: impl FnOnce(&mut Config)) -> (TestApp, String) {
    let app = spawn_app_with(Db::Sqlite, tweak).await;
    let uid = crate::support::downstream::user(&app, "kim@acme.test", "Kim", &[]).await;
    let state = app.state.clone();
    let router = Router::new()
        .route(
            "/t",
            get(move |State(s): State<AppState>, sess: Session| async move {
                session::start(&s, &sess, &uid, "test", None)
                    .await
                    .map(|_| "ok")
                    .map_err(|e| e.to_string())
            }),
        )
        .with_state(state.clone())
        .layer(session::layer(&state));
    let resp = router
        .oneshot(
            axum::http::Request::get("/t")
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("response");
    assert_eq!(resp.status(), 200);
    let cookie = resp
        .headers()
        .get("set-cookie")
        .expect("a session cookie")
        .to_str()
        .expect("ascii")
        .to_string();
    (app, cookie)
}

fn attrs(cookie: &str) -> Vec<String> {
    cookie.split(';').map(|p| p.trim().to_string()).collect()
}

#[tokio::test]
async fn on_http_the_cookie_is_httponly_lax_and_plainly_named() {
    let (app, cookie) = sign_in_cookie(|_| {}).await;
    let a = attrs(&cookie);
    assert!(a[0].starts_with("ssogate_session="), "{cookie}");
    assert!(a.contains(&"HttpOnly".to_string()), "{cookie}");
    assert!(a.contains(&"SameSite=Lax".to_string()), "{cookie}");
    assert!(a.contains(&"Path=/".to_string()), "{cookie}");
    assert!(!a.contains(&"Secure".to_string()), "{cookie}");
    assert!(!cookie.contains("Domain"), "{cookie}");
    // Max-Age is the absolute lifetime (apps keep the session active through
    // forward-auth, where ssogate cannot refresh the cookie); idle is server-side.
    assert!(a.contains(&"Max-Age=86400".to_string()), "{cookie}");
    // The session is live for the pages.
    let r = app
        .client
        .get(app.url("/me"))
        .header("cookie", &a[0])
        .send()
        .await
        .expect("me");
    assert_eq!(r.status(), 200, "signed in: /me does not send to /login");
    assert!(r.text().await.expect("html").contains("kim@acme.test"));
}

#[tokio::test]
async fn on_https_without_a_domain_the_cookie_is_host_prefixed_and_secure() {
    let (_app, cookie) =
        sign_in_cookie(|c| c.server.public_url = "https://login.example.com".into()).await;
    let a = attrs(&cookie);
    assert!(a[0].starts_with("__Host-ssogate_session="), "{cookie}");
    assert!(a.contains(&"Secure".to_string()), "{cookie}");
    assert!(a.contains(&"Path=/".to_string()), "{cookie}");
    assert!(!cookie.contains("Domain"), "{cookie}");
}

#[tokio::test]
async fn with_a_cookie_domain_the_cookie_is_shared_and_not_host_prefixed() {
    let (_app, cookie) = sign_in_cookie(|c| {
        c.server.public_url = "https://login.example.com".into();
        c.session.cookie_domain = "example.com".into();
    })
    .await;
    let a = attrs(&cookie);
    assert!(a[0].starts_with("ssogate_session="), "{cookie}");
    assert!(a.contains(&"Secure".to_string()), "{cookie}");
    assert!(a.contains(&"Domain=example.com".to_string()), "{cookie}");
}

#[tokio::test]
async fn expired_sessions_are_cleaned_up_in_the_background() {
    let app = spawn_app_with(Db::Sqlite, |c| c.session.cleanup_interval_secs = 1).await;
    let store = DbSessionStore::new(app.store.clone());
    let count = || async {
        let mut c = app.store.read().await.expect("conn");
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM sessions")
            .fetch_one(&mut *c)
            .await
            .expect("count");
        n
    };
    for offset in [-5, 3600] {
        let mut r = Record {
            id: Id::default(),
            data: session::record_data("u", "test", 0, i64::MAX),
            expiry_date: time::OffsetDateTime::now_utc() + time::Duration::seconds(offset),
        };
        store.create(&mut r).await.expect("create");
    }
    let started = Instant::now();
    while count().await != 1 {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the expired session was not deleted"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Logout while another request of the same browser is between loading the session and
/// saving it (activity moves the idle expiry, about once a minute): the ended session is
/// not written back. Made deterministic on PostgreSQL with a row lock the test holds: the
/// logout's DELETE queues on it first, then the other request's save; the test releases
/// the lock, the logout commits, then the save runs against a row that is gone.
#[tokio::test]
async fn a_session_ended_during_a_request_stays_ended() {
    use sqlx::Connection;
    let app = crate::support::spawn_app(Db::Postgres).await;
    let uid = crate::support::downstream::user(&app, "kim@acme.test", "Kim", &[]).await;
    // Last activity two minutes ago: the next request moves the idle expiry (a save).
    let sid =
        crate::support::downstream::sign_in_at(&app, &uid, ssogate::store::now_ms() - 120_000)
            .await;
    let cookie = crate::support::downstream::cookie(&app, &sid);
    let send = |method: reqwest::Method, path: &str| {
        let req = crate::support::new_client()
            .request(method, app.url(path))
            .header("cookie", cookie.clone());
        tokio::spawn(async move { req.send().await.expect("request") })
    };
    let mut watch = sqlx::AnyConnection::connect(&app.db.url)
        .await
        .expect("connect");
    /// Waits until `n` statements of the app wait for a lock.
    async fn waiting_for_locks(watch: &mut sqlx::AnyConnection, n: i64) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let (waiting,): (i64,) = sqlx::query_as(
                "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
            )
            .fetch_one(&mut *watch)
            .await
            .expect("pg_stat_activity");
            if waiting >= n {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{n} statements never queued on the session's row"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    let mut gate = sqlx::AnyConnection::connect(&app.db.url)
        .await
        .expect("connect");
    let mut tx = gate.begin().await.expect("begin");
    sqlx::query("SELECT id FROM sessions WHERE id = $1 FOR UPDATE")
        .bind(&sid)
        .fetch_one(&mut *tx)
        .await
        .expect("lock the session's row");
    let logout = send(reqwest::Method::POST, "/logout");
    waiting_for_locks(&mut watch, 1).await;
    let me = send(reqwest::Method::GET, "/me");
    waiting_for_locks(&mut watch, 2).await;
    tx.commit().await.expect("release");

    let logout = logout.await.expect("join");
    assert!(logout.status().is_redirection(), "{}", logout.status());
    let me = me.await.expect("join");
    assert_eq!(me.status(), 200, "it was signed in when the request began");
    let mut c = app.store.read().await.expect("conn");
    assert_eq!(
        ssogate::store::sessions::count_for_user(&mut c, &uid)
            .await
            .expect("count"),
        0,
        "the ended session was written back"
    );
    drop(c);
    let r = send(reqwest::Method::GET, "/me").await.expect("join");
    assert_eq!(r.status(), 303, "signed out stays signed out");
    assert_eq!(
        r.headers().get("location").and_then(|v| v.to_str().ok()),
        Some("/login?return_to=%2Fme")
    );
}
