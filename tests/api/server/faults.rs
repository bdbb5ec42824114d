//! Faults ssogate must survive: the database going away while it runs, and ssogate
//! itself killed in the middle of a burst of first sign-ins.
//!
//! Sign-ins go through the mock OpenID provider (`oidc_mock`): the subject here is the
//! database, and the mock makes many distinct first sign-ins cheap and lets a test act
//! while a callback is in flight.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sqlx::{Connection, Executor};

use crate::admin::cli::{free_port, ssogate, wait_healthy, Running};
use crate::signin::refusals::refusal;
use crate::support::downstream::{api_key, header, put_app, trust_loopback, verify};
use crate::support::oidc_mock::MockOp;
use crate::support::private_postgres::PrivatePostgres;
use crate::support::{
    fresh_database, new_client, spawn_app_on, spawn_app_with, test_config, Db, TestDb,
};

/// A `member` role and the organization Acme, which people signing in through
/// `connector` join (SSO JIT) with the role `member`.
async fn jit_org(base: &str, key: &str, connector: &str) {
    let c = reqwest::Client::new();
    let r = c
        .post(format!("{base}/api/v1/roles"))
        .bearer_auth(key)
        .json(&json!({ "name": "member" }))
        .send()
        .await
        .expect("role");
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    let r = c
        .post(format!("{base}/api/v1/organizations"))
        .bearer_auth(key)
        .json(
            &json!({ "name": "Acme", "jit_connectors": [connector], "default_roles": ["member"] }),
        )
        .send()
        .await
        .expect("org");
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
}

/// The session id in a sign-in's `Set-Cookie`.
fn session_id(r: &reqwest::Response, cookie_name: &str) -> String {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| {
            c.split(';')
                .next()?
                .strip_prefix(&format!("{cookie_name}="))
                .map(str::to_string)
        })
        .expect("a session cookie")
}

async fn count(conn: &mut sqlx::AnyConnection, sql: &str) -> i64 {
    let (n,): (i64,) = sqlx::query_as(sql)
        .fetch_one(conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    n
}

/// Every way an account made by a JIT first sign-in through `connector` can be partial,
/// as (what, how many). All must be 0: each user has exactly one identity of the
/// connector, its Acme membership, its `member` grant from SSO JIT and every audit event
/// of its creation (`user.created`, `identity.linked`, `organization.joined`,
/// `role.granted`, `signin.succeeded`); nothing (identity, membership, grant, audit
/// event) names a user that does not exist.
async fn partial_accounts(url: &str, connector: &str) -> Vec<(String, i64)> {
    sqlx::any::install_default_drivers();
    let mut c = sqlx::AnyConnection::connect(url).await.expect("connect");
    let mut checks = vec![
        (
            "users without exactly one identity of the connector".to_string(),
            format!(
                "SELECT COUNT(*) FROM users u WHERE (SELECT COUNT(*) FROM identities i \
                 WHERE i.user_id = u.id AND i.connector_id = '{connector}') <> 1"
            ),
        ),
        (
            "users without their Acme membership".into(),
            "SELECT COUNT(*) FROM users u WHERE NOT EXISTS (SELECT 1 FROM \
             organization_memberships m JOIN organizations o ON o.id = m.organization_id \
             WHERE m.user_id = u.id AND o.name = 'Acme')"
                .into(),
        ),
        (
            "users without their JIT member grant".into(),
            format!(
                "SELECT COUNT(*) FROM users u WHERE NOT EXISTS (SELECT 1 FROM \
                 organization_role_grants g JOIN organization_roles r ON r.id = g.role_id \
                 WHERE g.user_id = u.id AND r.name = 'member' AND g.source = 'jit-sso' \
                 AND g.connector_id = '{connector}')"
            ),
        ),
        (
            "identities without their user".into(),
            "SELECT COUNT(*) FROM identities i WHERE NOT EXISTS \
             (SELECT 1 FROM users u WHERE u.id = i.user_id)"
                .into(),
        ),
        (
            "memberships without their user".into(),
            "SELECT COUNT(*) FROM organization_memberships m WHERE NOT EXISTS \
             (SELECT 1 FROM users u WHERE u.id = m.user_id)"
                .into(),
        ),
        (
            "grants without their user".into(),
            "SELECT COUNT(*) FROM organization_role_grants g WHERE NOT EXISTS \
             (SELECT 1 FROM users u WHERE u.id = g.user_id)"
                .into(),
        ),
        (
            "audit events naming a user that does not exist".into(),
            "SELECT COUNT(*) FROM audit_events a WHERE a.user_id IS NOT NULL AND NOT EXISTS \
             (SELECT 1 FROM users u WHERE u.id = a.user_id)"
                .into(),
        ),
    ];
    for kind in [
        "user.created",
        "identity.linked",
        "organization.joined",
        "role.granted",
        "signin.succeeded",
    ] {
        checks.push((
            format!("users without their {kind} audit event"),
            format!(
                "SELECT COUNT(*) FROM users u WHERE NOT EXISTS (SELECT 1 FROM audit_events a \
                 WHERE a.user_id = u.id AND a.type = '{kind}')"
            ),
        ));
    }
    let mut found = Vec::new();
    for (what, sql) in checks {
        found.push((what, count(&mut c, &sql).await));
    }
    let _ = c.close().await;
    found
}

async fn assert_whole_accounts(url: &str, connector: &str) {
    let partial: Vec<_> = partial_accounts(url, connector)
        .await
        .into_iter()
        .filter(|(_, n)| *n != 0)
        .collect();
    assert!(partial.is_empty(), "partial accounts: {partial:?}");
}

async fn users_and_identities(url: &str) -> (i64, i64) {
    let mut c = sqlx::AnyConnection::connect(url).await.expect("connect");
    let users = count(&mut c, "SELECT COUNT(*) FROM users").await;
    let identities = count(&mut c, "SELECT COUNT(*) FROM identities").await;
    let _ = c.close().await;
    (users, identities)
}

/// Polls `url` until it answers 200 (the bound is generous; nothing is asserted about
/// how fast).
async fn wait_ready(url: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = reqwest::get(url).await {
            if r.status() == 200 {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{url} did not answer 200 within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn retry_after(r: &reqwest::Response) -> Option<String> {
    header(r, "retry-after")
}

/// PostgreSQL stopped while ssogate runs (a private server this test stops and starts):
/// readiness, sign-ins (a first sign-in whose callback is in flight when the database
/// goes, and new ones) and forward-auth answer 503 with `Retry-After` and
/// `database_unavailable`, never 401/403/400; nothing of the interrupted account is
/// written; once the database is back ssogate serves again by itself.
#[tokio::test]
async fn postgres_going_away_answers_503_and_ssogate_recovers_without_a_restart() {
    let mut pg = PrivatePostgres::start().await;
    let url = pg.create_database("ssogate").await;
    let db = TestDb {
        url: url.clone(),
        dir: tempfile::tempdir().expect("dir"),
    };
    let mut config = test_config(&db);
    // A request waits at most this long for a connection while the database is down.
    config.database.connect_timeout_secs = 1;
    // Every forward-auth request asks the database (no cached answer hides the outage).
    config.forward_auth.cache_ttl_secs = 0;
    trust_loopback(&mut config);
    let app = spawn_app_on(db, config).await;
    let key = api_key(&app).await;
    let op = MockOp::start().await;
    op.connect_ssogate(&app.address, &key, "mock").await;
    jit_org(&app.address, &key, "mock").await;
    let r = put_app(
        &app,
        &key,
        json!({ "name": "wiki", "origins": ["http://wiki.test"] }),
    )
    .await;
    assert_eq!(r.status(), 201);

    // Alice signs in; forward-auth admits her.
    op.sign_in_as("alice-sub", "alice@acme.test");
    let alice = new_client();
    let callback = op.start_sign_in(&app.address, "mock", &alice).await;
    let r = alice.get(&callback).send().await.expect("callback");
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap_or_default());
    let alice_sid = session_id(&r, app.state.gateway.cookie_name);
    assert_eq!(
        verify(&app, "wiki", "wiki.test", "/", Some(&alice_sid))
            .await
            .status(),
        200
    );

    // Bob's first sign-in: the database goes away while his callback is at the provider.
    op.sign_in_as("bob-sub", "bob@acme.test");
    let bob = new_client();
    let callback = op.start_sign_in(&app.address, "mock", &bob).await;
    let (arrived, release) = op.hold_next_token();
    let in_flight = {
        let bob = bob.clone();
        let callback = callback.clone();
        tokio::spawn(async move { bob.get(&callback).send().await.expect("callback") })
    };
    arrived
        .await
        .expect("the callback reaches the token endpoint");
    pg.stop().await;
    let _ = release.send(());
    let r = in_flight.await.expect("task");
    let ra = retry_after(&r);
    assert_eq!(
        refusal(r).await,
        (503, "database_unavailable".to_string()),
        "the interrupted first sign-in"
    );
    assert_eq!(ra.as_deref(), Some("5"), "Retry-After");

    // While it is down: not ready, sign-ins and forward-auth say "try again".
    let r = app.get("/readyz").await;
    let ra = retry_after(&r);
    assert_eq!(refusal(r).await, (503, "database_unavailable".to_string()));
    assert_eq!(ra.as_deref(), Some("5"), "Retry-After");
    let r = new_client()
        .get(app.url("/login/mock"))
        .send()
        .await
        .expect("start");
    let ra = retry_after(&r);
    assert_eq!(
        refusal(r).await,
        (503, "database_unavailable".to_string()),
        "a new sign-in"
    );
    assert_eq!(ra.as_deref(), Some("5"), "Retry-After");
    let r = verify(&app, "wiki", "wiki.test", "/", Some(&alice_sid)).await;
    assert_eq!(
        r.status(),
        503,
        "forward-auth: not 401/403 for a signed-in person"
    );
    assert_eq!(retry_after(&r).as_deref(), Some("5"), "Retry-After");
    assert_eq!(app.get("/healthz").await.status(), 200, "alive all along");

    // Back: no restart of ssogate.
    pg.start_again().await;
    wait_ready(&app.url("/readyz")).await;
    assert_eq!(
        users_and_identities(&url).await,
        (1, 1),
        "nothing of Bob's interrupted sign-in was written"
    );
    assert_eq!(
        verify(&app, "wiki", "wiki.test", "/", Some(&alice_sid))
            .await
            .status(),
        200,
        "Alice's session works again"
    );
    let callback = op.start_sign_in(&app.address, "mock", &bob).await;
    let r = bob.get(&callback).send().await.expect("callback");
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap_or_default());
    assert_eq!(users_and_identities(&url).await, (2, 2));
    assert_whole_accounts(&url, "mock").await;
    drop(app);
}

/// SQLite: another process holds the write lock beyond `busy_timeout` (SQLITE_BUSY) —
/// the same 503 `database_unavailable` with `Retry-After`; the sign-in's state is not
/// consumed, so the very same answer from the provider completes once the lock is gone.
#[tokio::test]
async fn a_locked_sqlite_database_answers_503_and_the_same_answer_completes_later() {
    let app = spawn_app_with(Db::Sqlite, |c| c.database.connect_timeout_secs = 1).await;
    let key = api_key(&app).await;
    let op = MockOp::start().await;
    op.connect_ssogate(&app.address, &key, "mock").await;
    jit_org(&app.address, &key, "mock").await;
    let browser = new_client();
    let callback = op.start_sign_in(&app.address, "mock", &browser).await;

    let mut locker = sqlx::AnyConnection::connect(&app.db.url)
        .await
        .expect("a second connection to the file");
    locker.execute("BEGIN IMMEDIATE").await.expect("lock");
    let r = browser.get(&callback).send().await.expect("callback");
    let ra = retry_after(&r);
    assert_eq!(refusal(r).await, (503, "database_unavailable".to_string()));
    assert_eq!(ra.as_deref(), Some("5"), "Retry-After");
    locker.execute("ROLLBACK").await.expect("unlock");
    let _ = locker.close().await;

    let r = browser.get(&callback).send().await.expect("callback again");
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap_or_default());
    assert_eq!(users_and_identities(&app.db.url).await, (1, 1));
    assert_whole_accounts(&app.db.url, "mock").await;
}

/// The `ssogate serve` binary on `db_url`, listening on `port`.
fn serve(dir: &std::path::Path, db_url: &str, port: u16, master_key: &str) -> Running {
    Running(
        ssogate(dir)
            .arg("serve")
            .env("SSOGATE_DATABASE__URL", db_url)
            .env("SSOGATE_SERVER__LISTEN", format!("127.0.0.1:{port}"))
            .env("SSOGATE_SECRETS__MASTER_KEY", master_key)
            // Every sign-in of the burst comes from 127.0.0.1.
            .env("SSOGATE_LOGIN__RATE_LIMIT_PER_MINUTE", "1000000")
            .env("SSOGATE_LOGIN__RATE_LIMIT_BURST", "1000000")
            .env("SSOGATE_LOGIN__PENDING_CAP_PER_CLIENT", "100000")
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn ssogate"),
    )
}

const BURST: usize = 200;

/// `ssogate serve` SIGKILLed in the middle of a burst of distinct first sign-ins (JIT:
/// user, identity, membership, grant, audit events): after a restart every account is
/// whole or absent, every sign-in the client saw succeed is there, and the restarted
/// ssogate signs people in.
async fn killed_mid_burst_leaves_only_whole_accounts(db: Db) {
    let db = fresh_database(db).await;
    let dir = tempfile::tempdir().expect("dir");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let master_key = ssogate::secrets::MasterKey::generate().to_base64();
    let mut child = serve(dir.path(), &db.url, port, &master_key);
    assert_eq!(
        wait_healthy(&format!("{base}/readyz"), &mut child)
            .await
            .status(),
        200
    );
    let key = {
        let store = ssogate::store::Store::connect(&db.url, 1, Duration::from_secs(5))
            .await
            .expect("connect");
        let mut c = store.write().await.expect("conn");
        let key = ssogate::store::api_keys::create(&mut c, "faults")
            .await
            .expect("key")
            .1;
        drop(c);
        store.close().await;
        key
    };
    let op = MockOp::start().await;
    op.connect_ssogate(&base, &key, "mock").await;
    jit_org(&base, &key, "mock").await;
    // Every authorization signs in a new person.
    let n = Arc::new(AtomicUsize::new(0));
    {
        let n = n.clone();
        op.on_id_token(move |_, claims| {
            let i = n.fetch_add(1, Ordering::SeqCst);
            claims["sub"] = Value::String(format!("burst-{i}"));
            claims["email"] = Value::String(format!("burst-{i}@acme.test"));
        });
    }

    let succeeded = Arc::new(AtomicUsize::new(0));
    let delivered = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..BURST {
        let (op, base) = (op.clone(), base.clone());
        let (succeeded, delivered) = (succeeded.clone(), delivered.clone());
        tasks.push(tokio::spawn(async move {
            let browser = new_client();
            // Until the kill every step works; after it, every request fails: stop there.
            let Ok(r) = browser.get(format!("{base}/login/mock")).send().await else {
                return;
            };
            if r.status() != 303 {
                return;
            }
            let Some(authorize) = r.headers().get("location").and_then(|v| v.to_str().ok()) else {
                return;
            };
            let authorize = authorize.to_string();
            let Ok(r) = new_client().get(&authorize).send().await else {
                return;
            };
            let Some(callback) = r.headers().get("location").and_then(|v| v.to_str().ok()) else {
                return;
            };
            let callback = callback.to_string();
            let _ = op; // the provider lives as long as the sign-ins
            delivered.fetch_add(1, Ordering::SeqCst);
            if let Ok(r) = browser.get(&callback).send().await {
                if r.status() == 303 {
                    succeeded.fetch_add(1, Ordering::SeqCst);
                }
            }
        }));
    }
    // Mid-burst: while accounts are being written (a quarter of them exist), the others
    // in flight.
    let mut watch = sqlx::AnyConnection::connect(&db.url)
        .await
        .expect("connect");
    let deadline = Instant::now() + Duration::from_secs(120);
    while count(&mut watch, "SELECT COUNT(*) FROM users").await < (BURST / 4) as i64 {
        assert!(
            Instant::now() < deadline,
            "the burst did not get going: {} succeeded",
            succeeded.load(Ordering::SeqCst)
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    child.0.kill().expect("SIGKILL");
    let _ = watch.close().await;
    let _ = child.0.wait();
    let seen_at_kill = succeeded.load(Ordering::SeqCst);
    for t in tasks {
        let _ = t.await;
    }
    let succeeded = succeeded.load(Ordering::SeqCst);
    let delivered = delivered.load(Ordering::SeqCst);
    assert!(
        succeeded < BURST,
        "the kill came before the burst ended ({succeeded} of {BURST} succeeded)"
    );

    let mut child = serve(dir.path(), &db.url, port, &master_key);
    assert_eq!(
        wait_healthy(&format!("{base}/readyz"), &mut child)
            .await
            .status(),
        200
    );
    let (users, identities) = users_and_identities(&db.url).await;
    eprintln!(
        "killed mid-burst: {seen_at_kill} sign-ins had succeeded at the kill, {succeeded} in all, \
         {delivered} callbacks delivered, {users} accounts after the restart"
    );
    assert_whole_accounts(&db.url, "mock").await;
    assert_eq!(users, identities);
    assert!(
        users as usize >= succeeded,
        "every sign-in the browser saw succeed survives the kill ({users} < {succeeded})"
    );
    assert!(users as usize <= delivered);

    // The restarted ssogate signs a new person in.
    let browser = new_client();
    let callback = op.start_sign_in(&base, "mock", &browser).await;
    let r = browser.get(&callback).send().await.expect("callback");
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap_or_default());
    assert_eq!(users_and_identities(&db.url).await.0, users + 1);
    assert_whole_accounts(&db.url, "mock").await;
    drop(child);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_burst_on_postgres_leaves_only_whole_accounts() {
    killed_mid_burst_leaves_only_whole_accounts(Db::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_burst_on_sqlite_leaves_only_whole_accounts() {
    killed_mid_burst_leaves_only_whole_accounts(Db::Sqlite).await;
}
