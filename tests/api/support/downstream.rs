//! Shared steps of the downstream tests.
//!
//! Signing in: the SAML/OIDC connectors are being finished on another branch, so these
//! tests start a session the way a completed sign-in does — a session record in the
//! store (the same layout, `ssogate::session::record_data`) behind the session
//! cookie — from the test process, not through any route. [`sign_in`] is the one place
//! to swap for a real Keycloak sign-in.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::http::HeaderMap;
use axum::Json;
use serde_json::{json, Value};
use ssogate::address::Email;
use ssogate::store::now_ms;
use ssogate::store::organizations::{self as orgs, GrantSource, OrganizationSpec, RoleGrant};
use ssogate::store::sessions::DbSessionStore;
use ssogate::store::users::{self, Profile};
use tower_sessions::session::{Id, Record};
use tower_sessions::SessionStore;

use crate::support::{spawn_app_with, Db, TestApp};

/// Creates a user who is a member of each organization with the given roles (the
/// organizations and roles are created when missing). Returns the user id.
pub async fn user(
    app: &TestApp,
    email: &str,
    name: &str,
    memberships: &[(&str, &[&str])],
) -> String {
    let profile = Profile {
        email: Some(Email::parse(email).expect("email")),
        email_verified: true,
        name: Some(name.into()),
        ..Default::default()
    };
    user_with(app, &profile, memberships).await
}

/// [`user`] with neither an email nor a name (e.g. from an IdP that sends neither).
pub async fn user_without_email_or_name(app: &TestApp, memberships: &[(&str, &[&str])]) -> String {
    user_with(app, &Profile::default(), memberships).await
}

async fn user_with(app: &TestApp, profile: &Profile, memberships: &[(&str, &[&str])]) -> String {
    let mut tx = app.store.begin().await.expect("tx");
    let u = users::insert(&mut tx, profile).await.expect("user");
    for (org, roles) in memberships {
        let o = match orgs::get_by_name(&mut tx, org).await.expect("org") {
            Some(o) => o,
            None => orgs::upsert(
                &mut tx,
                &OrganizationSpec {
                    name: org.to_string(),
                    ..Default::default()
                },
            )
            .await
            .expect("org"),
        };
        orgs::ensure_membership(&mut tx, &o.id, &u.id)
            .await
            .expect("member");
        for r in *roles {
            let role = orgs::upsert_role(&mut tx, r, "").await.expect("role");
            orgs::grant_role(
                &mut tx,
                &RoleGrant {
                    organization_id: o.id.clone(),
                    user_id: u.id.clone(),
                    role_id: role.id,
                    source: GrantSource::Api,
                    connector_id: None,
                    mapping_rule: None,
                },
            )
            .await
            .expect("grant");
        }
    }
    tx.commit().await.expect("commit");
    u.id
}

/// A signed-in browser session for `user_id`: returns the session id (the cookie value).
pub async fn sign_in(app: &TestApp, user_id: &str) -> String {
    sign_in_at(app, user_id, now_ms()).await
}

/// [`sign_in`] as if it happened at `signed_in_at` (unix ms; its last activity too), so
/// that the next request counts as activity and saves the session.
pub async fn sign_in_at(app: &TestApp, user_id: &str, signed_in_at: i64) -> String {
    let c = &app.state.config.session;
    let now = signed_in_at;
    let expires_at = now + c.absolute_lifetime_secs as i64 * 1000;
    let mut record = Record {
        id: Id::default(),
        data: ssogate::session::record_data(user_id, "test", now, expires_at),
        expiry_date: time::OffsetDateTime::now_utc()
            + time::Duration::seconds(c.absolute_lifetime_secs as i64),
    };
    DbSessionStore::new(app.store.clone())
        .with_idle_timeout_ms(c.idle_timeout_secs as i64 * 1000)
        .create(&mut record)
        .await
        .expect("session");
    record.id.to_string()
}

/// `Cookie:` header value for a session id.
pub fn cookie(app: &TestApp, sid: &str) -> String {
    format!("{}={sid}", app.state.gateway.cookie_name)
}

pub use super::api_key;

/// Creates (or replaces) an app through the API.
pub async fn put_app(app: &TestApp, key: &str, body: Value) -> reqwest::Response {
    let name = body["name"].as_str().expect("name").to_string();
    app.client
        .put(app.url(&format!("/api/v1/apps/{name}")))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .expect("request")
}

/// A forward-auth request as a trusted proxy sends it for the app named `name`.
pub async fn verify(
    app: &TestApp,
    name: &str,
    host: &str,
    uri: &str,
    sid: Option<&str>,
) -> reqwest::Response {
    let mut r = app
        .client
        .get(app.url(&format!("/auth/verify?app={name}")))
        .header("x-forwarded-host", host)
        .header("x-forwarded-proto", "http")
        .header("x-forwarded-uri", uri);
    if let Some(sid) = sid {
        r = r.header("cookie", cookie(app, sid));
    }
    r.send().await.expect("request")
}

pub fn header(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

/// The claims of a JWT, verified against the app's JWKS with jsonwebtoken.
pub async fn verified_claims(app: &TestApp, jwt: &str, audience: &str) -> HashMap<String, Value> {
    let jwks: jsonwebtoken::jwk::JwkSet = app
        .get("/.well-known/jwks.json")
        .await
        .json()
        .await
        .expect("jwks");
    let header = jsonwebtoken::decode_header(jwt).expect("header");
    let kid = header.kid.expect("kid");
    let jwk = jwks.find(&kid).expect("the token's key is published");
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).expect("key");
    let mut v = jsonwebtoken::Validation::new(header.alg);
    v.set_audience(&[audience]);
    v.set_issuer(&[app.address.as_str()]);
    v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    jsonwebtoken::decode::<HashMap<String, Value>>(jwt, &key, &v)
        .expect("the token verifies")
        .claims
}

/// Config tweak: trust the loopback proxy (the tests' client).
pub fn trust_loopback(c: &mut ssogate::config::Config) {
    c.server.trusted_proxies = vec!["127.0.0.1/32".into(), "::1/128".into()];
}

/// The app behind a proxy: answers every request with the headers it received, as JSON,
/// and counts the requests (to prove that a refused one never reaches it).
pub async fn echo_upstream() -> (SocketAddr, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let echo = move |headers: HeaderMap| {
        let counter = counter.clone();
        async move {
            counter.fetch_add(1, Ordering::SeqCst);
            Json(
                headers
                    .iter()
                    .map(|(k, v)| {
                        (
                            k.as_str().to_string(),
                            String::from_utf8_lossy(v.as_bytes()).into_owned(),
                        )
                    })
                    .collect::<BTreeMap<String, String>>(),
            )
        }
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, axum::Router::new().fallback(echo)).await;
    });
    (addr, hits)
}

/// The port ssogate listens on.
pub fn port(app: &TestApp) -> u16 {
    app.address
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port")
}

/// The `return_to` of a sign-in URL.
pub fn return_to(location: &str) -> String {
    let login: url::Url = location.parse().expect("absolute URL");
    login
        .query_pairs()
        .find(|(k, _)| k == "return_to")
        .map(|(_, v)| v.into_owned())
        .expect("return_to")
}

/// A browser's GET of `origin` + `path` through a proxy, with a Cookie header and extra
/// (e.g. forged) headers.
pub async fn get_through(
    browser: &reqwest::Client,
    origin: &str,
    path: &str,
    cookie: Option<&str>,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let mut r = browser.get(format!("{origin}{path}"));
    if let Some(c) = cookie {
        r = r.header("cookie", c);
    }
    for (k, v) in extra {
        r = r.header(*k, *v);
    }
    r.send()
        .await
        .unwrap_or_else(|e| panic!("the proxy at {origin}: {e}"))
}

/// A session created through the store (fast; the real sign-in through Keycloak is
/// [`a_real_keycloak_sign_in_reaches_the_app`] and the Chromium tests): the Cookie header
/// the browser then sends to the app.
pub async fn signed_in_cookie(app: &TestApp, user_id: &str) -> String {
    let sid = sign_in(app, user_id).await;
    cookie(app, &sid)
}

/// The whole path with a real sign-in, behind the proxy `start_site(ssogate port, upstream
/// port)` starts (it gives the site's URL and what keeps it running): the app sends an
/// anonymous visitor to ssogate, who signs in through the real Keycloak (OIDC) and comes
/// back to the app, which then sees who they are and a token that verifies; signing out
/// at ssogate ends access through the proxy.
pub async fn a_real_keycloak_sign_in_reaches_the_app<F, Fut, G>(proxy: &str, start_site: F)
where
    F: FnOnce(u16, u16) -> Fut,
    Fut: Future<Output = (String, G)>,
{
    use crate::signin::keycloak::{setup_keycloak, Setup};
    use crate::support::keycloak::{
        redirect_target, sign_in_with, unique, KeycloakAdmin, PASSWORD,
    };
    let kc = KeycloakAdmin::connect().await;
    let name = unique(proxy);
    let email = format!("{name}@acme.test");
    kc.create_user(&name, &email, "Pat", "Proxy", &[]).await;
    let (upstream, hits) = echo_upstream().await;
    let app = spawn_app_with(Db::Sqlite, trust_loopback).await;
    let key = setup_keycloak(&app, &Setup::default()).await;
    let (site_url, _site) = start_site(port(&app), upstream.port()).await;
    let r = put_app(&app, &key, json!({"name": "echo", "origins": [site_url]})).await;
    assert_eq!(r.status(), 201);
    // A readiness probe may have gone through forward-auth (before the app existed).
    hits.store(0, Ordering::SeqCst);

    let browser = crate::support::new_client();
    let r = browser
        .get(format!("{site_url}/reports?q=1"))
        .send()
        .await
        .expect(proxy);
    assert_eq!(r.status(), 302, "anonymous: sent to sign in");
    let return_to = return_to(&redirect_target(&r));
    assert_eq!(return_to, format!("{site_url}/reports?q=1"));

    let start = format!(
        "/login/kc-oidc?return_to={}",
        url::form_urlencoded::byte_serialize(return_to.as_bytes()).collect::<String>()
    );
    let r = sign_in_with(&app, &browser, &start, &name, PASSWORD).await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap_or_default());
    assert_eq!(redirect_target(&r), return_to, "back to the app");

    let r = browser.get(&return_to).send().await.expect("app");
    assert_eq!(r.status(), 200);
    let seen: Value = r.json().await.expect("echo JSON");
    assert_eq!(seen["x-auth-request-email"], json!(email));
    assert_eq!(seen["x-auth-request-name"], json!("Pat Proxy"));
    assert_eq!(seen["x-auth-request-org"], json!("Acme"));
    let bearer = seen["authorization"]
        .as_str()
        .expect("a token")
        .trim_start_matches("Bearer ")
        .to_string();
    let claims = verified_claims(&app, &bearer, &site_url).await;
    assert_eq!(claims["email"], json!(email));
    assert_eq!(hits.load(Ordering::SeqCst), 1);

    assert_eq!(
        browser
            .post(app.url("/logout"))
            .send()
            .await
            .expect("logout")
            .status(),
        303
    );
    let r = browser.get(&return_to).send().await.expect("app");
    assert_eq!(r.status(), 302, "signed out: sent to sign in again");
}

/// The outside review's attack behind a real proxy: two apps, `open` (admits anyone) and
/// `strict` (role `admin` only), each behind its own site of the proxy, whose auth URL
/// names the app (`start_site(app name, ssogate port, upstream port)`). A member
/// without the role asks `strict`'s site for a page while naming `open` in every way a
/// client can (`Host`, `X-Original-URL`, `X-Forwarded-Host`, `X-Forwarded-Uri`,
/// `Forwarded`, the query): each request is refused with the expected reason and the
/// app is never asked. `open`'s site lets the same person in (the attack would work if
/// the policy followed the client's headers).
pub async fn a_client_cannot_choose_a_more_permissive_app<F, Fut, G>(proxy: &str, start_site: F)
where
    F: Fn(&'static str, u16, u16) -> Fut,
    Fut: Future<Output = (String, G)>,
{
    let (upstream, hits) = echo_upstream().await;
    let app = spawn_app_with(Db::Sqlite, trust_loopback).await;
    // The role `strict` asks for exists (someone else holds it).
    user(&app, "boss@acme.test", "Boss", &[("Acme", &["admin"])]).await;
    let (open_url, _open) = start_site("open", port(&app), upstream.port()).await;
    let (strict_url, _strict) = start_site("strict", port(&app), upstream.port()).await;
    let key = api_key(&app).await;
    let r = put_app(&app, &key, json!({"name": "open", "origins": [open_url]})).await;
    assert_eq!(r.status(), 201);
    let r = put_app(
        &app,
        &key,
        json!({"name": "strict", "origins": [strict_url], "roles": ["admin"]}),
    )
    .await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
    let member = user(&app, "mel@acme.test", "Mel", &[("Acme", &["member"])]).await;
    let cookie = signed_in_cookie(&app, &member).await;
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    hits.store(0, Ordering::SeqCst);

    let r = get_through(&browser, &open_url, "/", Some(&cookie), &[]).await;
    assert_eq!(r.status(), 200, "{proxy}: `open` admits the member");
    assert_eq!(hits.swap(0, Ordering::SeqCst), 1);
    let reason = |r: &reqwest::Response| header(r, "x-ssogate-reason").unwrap_or_default();
    let r = get_through(&browser, &strict_url, "/", Some(&cookie), &[]).await;
    assert_eq!(
        (r.status().as_u16(), reason(&r).as_str()),
        (403, "not_admitted"),
        "{proxy}: `strict` does not"
    );

    let open_host = open_url.trim_start_matches("http://").to_string();
    let open_page = format!("{open_url}/");
    let forwarded = format!("host={open_host};proto=http");
    type Attack<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
    let attacks: [Attack; 7] = [
        ("/", &[("host", &open_host)], "forwarded_host_not_app"),
        ("/", &[("x-original-url", &open_page)], "not_admitted"),
        ("/", &[("x-forwarded-host", &open_host)], "not_admitted"),
        ("/", &[("x-forwarded-uri", &open_page)], "not_admitted"),
        ("/", &[("forwarded", &forwarded)], "not_admitted"),
        ("/?app=open", &[], "not_admitted"),
        (
            "/",
            &[
                ("x-original-url", &open_page),
                ("x-forwarded-host", &open_host),
                ("x-forwarded-proto", "http"),
                ("forwarded", &forwarded),
            ],
            "not_admitted",
        ),
    ];
    for (path, headers, expected) in attacks {
        let r = get_through(&browser, &strict_url, path, Some(&cookie), headers).await;
        assert_eq!(
            (r.status().as_u16(), reason(&r).as_str()),
            (403, expected),
            "{proxy}: {path} with {headers:?}"
        );
        assert_eq!(
            hits.load(Ordering::SeqCst),
            0,
            "{proxy}: the app was asked ({path} with {headers:?})"
        );
    }
}
