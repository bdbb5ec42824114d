//! Shared steps of the downstream tests.
//!
//! Signing in: the SAML/OIDC connectors are being finished on another branch, so these
//! tests start a session the way a completed sign-in does — a session record in the
//! store (the same layout, `ssogate::http::session::record_data`) behind the session
//! cookie — from the test process, not through any route. [`sign_in`] is the one place
//! to swap for a real Keycloak sign-in.

use std::collections::HashMap;

use serde_json::Value;
use ssogate::email::Email;
use ssogate::store::organizations::{self as orgs, GrantSource, OrganizationSpec, RoleGrant};
use ssogate::store::sessions::DbSessionStore;
use ssogate::store::users::{self, Profile};
use ssogate::store::{api_keys, now_ms};
use tower_sessions::session::{Id, Record};
use tower_sessions::SessionStore;

use crate::helpers::TestApp;

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
    let c = &app.state.config.session;
    let now = now_ms();
    let expires_at = now + c.absolute_lifetime_secs as i64 * 1000;
    let mut record = Record {
        id: Id::default(),
        data: ssogate::http::session::record_data(user_id, "test", now, expires_at),
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

/// A management API key.
pub async fn api_key(app: &TestApp) -> String {
    let mut c = app.store.write().await.expect("conn");
    api_keys::create(&mut c, "tests").await.expect("key").1
}

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

/// A forward-auth request as a trusted proxy sends it.
pub async fn verify(app: &TestApp, host: &str, uri: &str, sid: Option<&str>) -> reqwest::Response {
    let mut r = app
        .client
        .get(app.url("/auth/verify"))
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
