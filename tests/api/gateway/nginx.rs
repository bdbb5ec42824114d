//! Behind a real nginx (scripts/services/nginx.sh, the README's configuration):
//! auth_request to /auth/verify in front of a tiny upstream that reports the headers it
//! received.

use std::net::SocketAddr;

use serde_json::{json, Value};

use crate::support::downstream::{
    self as support, api_key, echo_upstream, get_through, put_app, signed_in_cookie,
    trust_loopback, user, user_without_email_or_name,
};
use crate::support::{required_service, spawn_app_with, Db, TestApp};

const NGINX_VAR: &str = "SSOGATE_TEST_NGINX_URL";

struct Setup {
    app: TestApp,
    /// `http://app.<ssogate>-<upstream>.ssogate.test:<nginx port>`
    origin: String,
    /// A browser pointed at nginx.
    browser: reqwest::Client,
}

async fn setup() -> Setup {
    let nginx = required_service(NGINX_VAR, "nginx");
    let nginx: url::Url = nginx.parse().expect("nginx URL");
    let nginx_port = nginx.port().expect("nginx port");
    let (upstream, _) = echo_upstream().await;
    let app = spawn_app_with(Db::Sqlite, trust_loopback).await;
    let sg_port = support::port(&app);
    let name = format!("app.{sg_port}-{}.ssogate.test", upstream.port());
    let host = format!("{name}:{nginx_port}");
    let origin = format!("http://{host}");
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .resolve(&name, SocketAddr::from(([127, 0, 0, 1], nginx_port)))
        .build()
        .expect("client");
    let key = api_key(&app).await;
    let r = put_app(&app, &key, json!({"name": "echo", "origins": [origin]})).await;
    assert_eq!(r.status(), 201);
    Setup {
        app,
        origin,
        browser,
    }
}

impl Setup {
    async fn get(
        &self,
        path: &str,
        cookie: Option<&str>,
        extra: &[(&str, &str)],
    ) -> reqwest::Response {
        get_through(&self.browser, &self.origin, path, cookie, extra).await
    }
}

#[tokio::test]
async fn behind_nginx_anonymous_people_are_sent_to_sign_in() {
    let s = setup().await;
    let r = s.get("/private/page?x=1&y=2", None, &[]).await;
    assert_eq!(r.status(), 302, "error_page 401 = sign-in redirect");
    let location = r.headers()["location"].to_str().expect("ascii").to_string();
    let login: url::Url = location.parse().expect("absolute URL");
    assert_eq!(
        format!("{}{}", login.origin().ascii_serialization(), login.path()),
        s.app.url("/login")
    );
    assert_eq!(
        support::return_to(&location),
        format!("{}/private/page?x=1&y=2", s.origin)
    );
    // ...and the sign-in page keeps it (an app origin).
    let page = s
        .app
        .client
        .get(&location)
        .send()
        .await
        .expect("login page");
    assert_eq!(page.status(), 200);
}

#[tokio::test]
async fn behind_nginx_the_app_sees_the_identity_and_a_verifiable_token_never_forged_headers() {
    let s = setup().await;
    let uid = user(&s.app, "henry@acme.test", "Henry", &[("Acme", &["member"])]).await;
    let cookie = signed_in_cookie(&s.app, &uid).await;
    let forged = [
        ("x-auth-request-user", "admin"),
        ("x-auth-request-email", "admin@evil.test"),
        ("x-auth-request-roles", "Acme:owner"),
        ("authorization", "Bearer forged"),
    ];
    let r = s.get("/dashboard", Some(&cookie), &forged).await;
    assert_eq!(r.status(), 200);
    let seen: Value = r.json().await.expect("echo JSON");
    assert_eq!(seen["x-auth-request-user"], json!(uid));
    assert_eq!(seen["x-auth-request-email"], json!("henry@acme.test"));
    assert_eq!(seen["x-auth-request-name"], json!("Henry"));
    assert_eq!(seen["x-auth-request-org"], json!("Acme"));
    assert_eq!(seen["x-auth-request-roles"], json!("Acme:member"));
    let bearer = seen["authorization"].as_str().expect("token").to_string();
    let claims =
        support::verified_claims(&s.app, bearer.trim_start_matches("Bearer "), &s.origin).await;
    assert_eq!(claims["sub"], json!(uid));

    // An app that gets fewer headers: the others are removed, not left to the client.
    let key = api_key(&s.app).await;
    let r = put_app(
        &s.app,
        &key,
        json!({"name": "echo", "origins": [s.origin], "headers": ["user"]}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let r = s.get("/dashboard", Some(&cookie), &forged).await;
    assert_eq!(r.status(), 200);
    let seen: Value = r.json().await.expect("echo JSON");
    assert_eq!(seen["x-auth-request-user"], json!(uid));
    for (name, _) in &forged[1..] {
        assert!(seen.get(*name).is_none(), "{name} reached the app: {seen}");
    }

    // A person without an email or a name: ssogate sends those headers empty, and nginx
    // removes an empty one, so the app sees neither them nor the forged ones.
    let r = put_app(&s.app, &key, json!({"name": "echo", "origins": [s.origin]})).await;
    assert_eq!(r.status(), 200);
    let nameless = user_without_email_or_name(&s.app, &[("Acme", &["member"])]).await;
    let cookie = signed_in_cookie(&s.app, &nameless).await;
    let r = s.get("/dashboard", Some(&cookie), &forged).await;
    assert_eq!(r.status(), 200);
    let seen: Value = r.json().await.expect("echo JSON");
    assert_eq!(seen["x-auth-request-user"], json!(nameless));
    assert!(seen.get("x-auth-request-email").is_none(), "{seen}");
    assert!(seen.get("x-auth-request-name").is_none(), "{seen}");
    assert_eq!(seen["x-auth-request-roles"], json!("Acme:member"));
    assert_ne!(seen["authorization"], json!("Bearer forged"));
}

#[tokio::test]
async fn behind_nginx_logout_and_refusal_take_effect() {
    let s = setup().await;
    let uid = user(&s.app, "ivy@acme.test", "Ivy", &[]).await;
    let cookie = signed_in_cookie(&s.app, &uid).await;
    assert_eq!(s.get("/", Some(&cookie), &[]).await.status(), 200);
    let r = s
        .app
        .client
        .post(s.app.url("/logout"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("logout");
    assert_eq!(r.status(), 303);
    assert_eq!(
        s.get("/", Some(&cookie), &[]).await.status(),
        302,
        "signed out at once"
    );

    // Not admitted: 403 through nginx.
    let key = api_key(&s.app).await;
    let r = put_app(
        &s.app,
        &key,
        json!({"name": "echo", "origins": [s.origin], "organizations": ["Nobody's"]}),
    )
    .await;
    assert_eq!(r.status(), 400, "the organization must exist");
    user(&s.app, "boss@acme.test", "Boss", &[("Board", &["member"])]).await;
    let r = put_app(
        &s.app,
        &key,
        json!({"name": "echo", "origins": [s.origin], "organizations": ["Board"]}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let cookie = signed_in_cookie(&s.app, &uid).await;
    assert_eq!(s.get("/", Some(&cookie), &[]).await.status(), 403);
}

#[tokio::test]
async fn behind_nginx_a_user_with_200_groups_gets_through() {
    let s = setup().await;
    let names: Vec<String> = (0..200)
        .map(|i| format!("Engineering Group {i:03}"))
        .collect();
    let memberships: Vec<(&str, &[&str])> = names
        .iter()
        .map(|n| (n.as_str(), &["member", "reader"][..]))
        .collect();
    let uid = user(&s.app, "jack@acme.test", "Jack", &memberships).await;
    let cookie = signed_in_cookie(&s.app, &uid).await;
    let r = s.get("/", Some(&cookie), &[]).await;
    assert_eq!(
        r.status(),
        200,
        "nginx's proxy_buffer_size (64k) holds the answer"
    );
    let seen: Value = r.json().await.expect("echo JSON");
    let roles = seen["x-auth-request-roles"].as_str().expect("roles");
    assert_eq!(roles.split(',').count(), 400);
    let bearer = seen["authorization"].as_str().expect("token");
    let claims =
        support::verified_claims(&s.app, bearer.trim_start_matches("Bearer "), &s.origin).await;
    assert_eq!(
        claims["organizations"].as_array().map(|a| a.len()),
        Some(200)
    );
}

/// The whole path with a real sign-in through the real Keycloak, behind nginx.
#[tokio::test]
async fn behind_nginx_a_real_keycloak_sign_in_reaches_the_app() {
    support::a_real_keycloak_sign_in_reaches_the_app(
        "nginx",
        |sg_port, upstream_port| async move {
            let site = crate::support::nginx_site::NginxSite::start(sg_port, upstream_port).await;
            (site.url.clone(), site)
        },
    )
    .await;
}

/// The review's attack behind nginx: `auth_request` passes the client's headers into the
/// sub-request and each site is nginx's default server on its port (any `Host` lands
/// there); only the auth URL (`?app=`) decides the app.
#[tokio::test]
async fn behind_nginx_a_client_cannot_choose_a_more_permissive_app() {
    support::a_client_cannot_choose_a_more_permissive_app(
        "nginx",
        |app, sg_port, upstream_port| async move {
            let site =
                crate::support::nginx_site::NginxSite::start_for(app, sg_port, upstream_port).await;
            (site.url.clone(), site)
        },
    )
    .await;
}
