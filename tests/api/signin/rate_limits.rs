//! Rate limits and caps behind the trusted proxy ssogate is meant to run behind: the
//! client is the address the proxy writes into `X-Forwarded-For`; one client's flood
//! never stops everyone's sign-ins; the ACS and callbacks are admitted by their pending
//! sign-in; a flood of made-up session cookies never evicts a live session.

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue};
use ssogate::store::audit;

use crate::signin::keycloak::{setup_keycloak, Setup};
use crate::signin::refusals::refusal;
use crate::support::downstream::{self as support, sign_in, trust_loopback, user};
use crate::support::keycloak::{
    follow_idp_answer, idp_login, redirect_target, unique, KeycloakAdmin, PASSWORD,
};
use crate::support::{spawn_app_with, Db, TestApp};

/// A browser behind the proxy at `client` (the proxy appends the address it saw).
fn browser_at(client: &str) -> reqwest::Client {
    let mut h = HeaderMap::new();
    h.insert(
        "x-forwarded-for",
        HeaderValue::from_str(client).expect("address"),
    );
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .default_headers(h)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

async fn tight_app() -> TestApp {
    spawn_app_with(Db::Sqlite, |c| {
        trust_loopback(c);
        c.login.rate_limit_per_minute = 1;
        c.login.rate_limit_burst = 3;
    })
    .await
}

async fn flood_login(app: &TestApp, browser: &reqwest::Client) {
    let mut last = 0;
    for _ in 0..8 {
        last = browser
            .get(app.url("/login"))
            .send()
            .await
            .expect("login")
            .status()
            .as_u16();
    }
    assert_eq!(last, 429, "the flooding client is limited");
}

async fn keycloak_user(kc: &KeycloakAdmin) -> String {
    let name = unique("rl");
    kc.create_user(&name, &format!("{name}@acme.test"), "Rate", "Limit", &[])
        .await;
    name
}

/// Before: the limiter keyed on the TCP peer, the proxy, so this flood answered every
/// person's `/login`, callback and ACS with 429.
#[tokio::test]
async fn behind_the_trusted_proxy_one_flooding_address_does_not_stop_anothers_sign_in() {
    let kc = KeycloakAdmin::connect().await;
    let name = keycloak_user(&kc).await;
    let app = tight_app().await;
    setup_keycloak(&app, &Setup::default()).await;
    let flooder = browser_at("203.0.113.7");
    flood_login(&app, &flooder).await;
    // A client cannot pick another address: the proxy's entry is the rightmost.
    let spoofer = browser_at("198.51.100.9, 203.0.113.7");
    let r = spoofer.get(app.url("/login")).send().await.expect("login");
    assert_eq!(refusal(r).await, (429, "rate_limited".into()));

    let someone = browser_at("198.51.100.9");
    let answer = idp_login(&app, &someone, "/login/kc-oidc", &name, PASSWORD).await;
    let r = follow_idp_answer(&someone, answer).await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap_or_default());
    assert_eq!(redirect_target(&r), "/me");
}

/// A company behind one NAT address: someone there floods `/login`; a colleague who
/// had started a sign-in still finishes it (the callback carries one-time state and is
/// admitted by it, not by the address budget).
#[tokio::test]
async fn a_callback_with_a_valid_pending_sign_in_is_admitted_when_its_address_is_over_the_limit() {
    let kc = KeycloakAdmin::connect().await;
    let name = keycloak_user(&kc).await;
    let app = tight_app().await;
    setup_keycloak(&app, &Setup::default()).await;
    let colleague = browser_at("203.0.113.50");
    let answer = idp_login(&app, &colleague, "/login/kc-oidc", &name, PASSWORD).await;
    flood_login(&app, &browser_at("203.0.113.50")).await;
    let r = follow_idp_answer(&colleague, answer).await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap_or_default());
    assert_eq!(redirect_target(&r), "/me");
}

/// Made-up callbacks (no valid pending sign-in) spend a budget of their own; over it,
/// 429 and no audit event (the flood must not grow the audit table).
#[tokio::test]
async fn stray_callbacks_are_limited_without_filling_the_audit_log() {
    let app = tight_app().await;
    setup_keycloak(&app, &Setup::default()).await;
    let stray = browser_at("203.0.113.66");
    let mut statuses = Vec::new();
    for i in 0..6 {
        let r = stray
            .get(app.url(&format!("/oidc/kc-oidc/callback?state=made-up-{i}&code=x")))
            .send()
            .await
            .expect("callback");
        statuses.push(refusal(r).await);
    }
    assert_eq!(
        statuses[..3],
        vec![(400, "login_state_no_cookie".to_string()); 3]
    );
    assert!(
        statuses[3..]
            .iter()
            .all(|s| *s == (429, "rate_limited".into())),
        "{statuses:?}"
    );
    let mut c = app.store.read().await.expect("conn");
    let refused = audit::query(
        &mut c,
        &audit::AuditFilter {
            kind: Some("signin.refused".into()),
            limit: 100,
            ..Default::default()
        },
    )
    .await
    .expect("audit");
    assert_eq!(
        refused.len(),
        3,
        "only the refusals within the budget are audited"
    );
    // An unsolicited SAML response costs a signature check: it spends the same budget.
    let r = stray
        .post(app.url("/saml/kc-saml/acs"))
        .form(&[("SAMLResponse", "PHNhbWxwOlJlc3BvbnNlLz4=")])
        .send()
        .await
        .expect("acs");
    assert_eq!(refusal(r).await, (429, "rate_limited".into()));
    // Another client is not affected.
    let r = browser_at("198.51.100.1")
        .get(app.url("/oidc/kc-oidc/callback?state=made-up&code=x"))
        .send()
        .await
        .expect("callback");
    assert_eq!(refusal(r).await, (400, "login_state_no_cookie".into()));
}

/// One client cannot fill the global cap of sign-ins in flight.
#[tokio::test]
async fn sign_ins_in_flight_are_capped_per_client() {
    let app = spawn_app_with(Db::Sqlite, |c| {
        trust_loopback(c);
        c.login.pending_cap_per_client = 3;
    })
    .await;
    setup_keycloak(&app, &Setup::default()).await;
    for _ in 0..3 {
        let r = browser_at("203.0.113.80")
            .get(app.url("/login/kc-oidc"))
            .send()
            .await
            .expect("start");
        assert_eq!(r.status(), 303);
    }
    let r = browser_at("203.0.113.80")
        .get(app.url("/login/kc-oidc"))
        .send()
        .await
        .expect("start");
    assert_eq!(refusal(r).await, (400, "login_client_capacity".into()));
    // The same /64 is the same client; another address is not affected.
    let r = browser_at("198.51.100.2")
        .get(app.url("/login/kc-oidc"))
        .send()
        .await
        .expect("start");
    assert_eq!(r.status(), 303);
}

/// Random, well-formed session cookies (from one client, and from many): the live
/// session stays cached (before: the cache was cleared whole at capacity), and one
/// client's unknown cookies cost at most its budget of database reads.
#[tokio::test]
async fn a_flood_of_random_cookies_does_not_evict_a_live_session() {
    let app = spawn_app_with(Db::Sqlite, |c| {
        trust_loopback(c);
        c.forward_auth.cache_capacity = 50;
        c.forward_auth.unknown_session_lookups_per_minute = 40;
    })
    .await;
    let key = support::api_key(&app).await;
    let r = support::put_app(
        &app,
        &key,
        serde_json::json!({"name": "wiki", "origins": ["http://app.test:8081"]}),
    )
    .await;
    assert_eq!(r.status(), 201);
    let uid = user(&app, "liv@acme.test", "Liv", &[]).await;
    let sid = sign_in(&app, &uid).await;
    let verify = |sid: String, client: String| {
        let app = &app;
        async move {
            app.client
                .get(app.url("/auth/verify?app=wiki"))
                .header("x-forwarded-host", "app.test:8081")
                .header("x-forwarded-for", client)
                .header("cookie", support::cookie(app, &sid))
                .send()
                .await
                .expect("verify")
                .status()
                .as_u16()
        }
    };
    assert_eq!(verify(sid.clone(), "198.51.100.1".into()).await, 200);
    assert!(app.state.gateway.is_cached(&sid));
    let random_sid = || {
        let mut b = [0u8; 16];
        rand::fill(&mut b);
        tower_sessions::session::Id(i128::from_le_bytes(b)).to_string()
    };
    let db_reads_before = app.state.gateway.unknown_sessions_seen();
    for _ in 0..300 {
        assert_eq!(verify(random_sid(), "203.0.113.99".into()).await, 401);
    }
    let from_one_client = app.state.gateway.unknown_sessions_seen() - db_reads_before;
    assert!(
        from_one_client <= 12,
        "one client's unknown cookies were looked up {from_one_client} times"
    );
    for i in 0..300 {
        let client = format!("203.0.{}.{}", i / 250, i % 250 + 1);
        assert_eq!(verify(random_sid(), client).await, 401);
    }
    assert!(
        app.state.gateway.is_cached(&sid),
        "the live session is still cached"
    );
    assert!(app.state.gateway.cached_sessions() <= 50);
    assert_eq!(verify(sid, "198.51.100.1".into()).await, 200);
}
