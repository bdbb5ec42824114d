//! Refusals of the sign-in flow itself (state ssogate owns), through the real routes:
//! each asserts the exact reason code on the page and in the audit event, and that
//! nothing else was written.

use serde_json::json;
use ssogate::store::audit::{self, AuditFilter};
use ssogate::store::connectors::{self, ConnectorRecord};
use ssogate::store::users;

use crate::signin::keycloak::{setup_keycloak, Setup};
use crate::support::keycloak::{idp_login, redirect_target, unique, KeycloakAdmin, PASSWORD};
use crate::support::{new_client, spawn_app, spawn_app_with, Db, TestApp};

pub async fn refusal(r: reqwest::Response) -> (u16, String) {
    let status = r.status().as_u16();
    let html = r.text().await.expect("html");
    let code = html
        .split(r#"<code id="error-code">"#)
        .nth(1)
        .and_then(|s| s.split('<').next())
        .unwrap_or_default()
        .to_string();
    assert!(
        html.contains(r#"<code id="request-id">"#),
        "a request id on the page: {html}"
    );
    assert!(html.contains(r#"href="/login""#), "a way back: {html}");
    (status, code)
}

/// The last `signin.refused` event's reason, and that no user exists.
pub async fn last_refusal_reason(app: &TestApp) -> Option<String> {
    let mut c = app.store.read().await.expect("conn");
    assert_eq!(
        users::count(&mut c).await.expect("count"),
        0,
        "nothing written"
    );
    audit::query(
        &mut c,
        &AuditFilter {
            kind: Some("signin.refused".into()),
            limit: 1,
            ..Default::default()
        },
    )
    .await
    .expect("q")
    .first()
    .and_then(|e| e.reason.clone())
}

async fn keycloak_user(kc: &KeycloakAdmin, prefix: &str) -> String {
    let name = unique(prefix);
    kc.create_user(&name, &format!("{name}@acme.test"), "Ref", "Used", &[])
        .await;
    name
}

#[tokio::test]
async fn oidc_state_missing_unknown_reused_and_from_another_browser() {
    let kc = KeycloakAdmin::connect().await;
    let name = keycloak_user(&kc, "state").await;
    let app = spawn_app(Db::Sqlite).await;
    setup_keycloak(&app, &Setup::default()).await;

    // Missing state.
    let r = new_client()
        .get(app.url("/oidc/kc-oidc/callback?code=abc"))
        .send()
        .await
        .expect("req");
    assert_eq!(refusal(r).await, (400, "oidc_state_missing".into()));
    assert_eq!(
        last_refusal_reason(&app).await.as_deref(),
        Some("oidc_state_missing")
    );

    // A browser without the sign-in cookie.
    let r = new_client()
        .get(app.url("/oidc/kc-oidc/callback?code=abc&state=xyz"))
        .send()
        .await
        .expect("req");
    assert_eq!(refusal(r).await, (400, "login_state_no_cookie".into()));

    // Browser A logs in at Keycloak; the callback URL (code + state) is taken to browser
    // B, which has a sign-in cookie of its own.
    let a = new_client();
    let answer = idp_login(&app, &a, "/login/kc-oidc", &name, PASSWORD).await;
    let callback = redirect_target(&answer);
    assert!(callback.contains("state="), "{callback}");
    let b = new_client();
    assert_eq!(
        b.get(app.url("/login/kc-oidc"))
            .send()
            .await
            .expect("start")
            .status(),
        303
    );
    let r = b.get(&callback).send().await.expect("req");
    assert_eq!(refusal(r).await, (400, "login_state_other_browser".into()));
    assert_eq!(
        last_refusal_reason(&app).await.as_deref(),
        Some("login_state_other_browser")
    );

    // An unknown state.
    let bogus = callback.replace("state=", "state=x");
    let r = a.get(&bogus).send().await.expect("req");
    assert_eq!(refusal(r).await, (400, "login_state_unknown".into()));

    // A's own callback works once (B's attempt did not consume it) …
    let r = a.get(&callback).send().await.expect("req");
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap_or_default());
    // … and never again: the state is single-use.
    let r = a.get(&callback).send().await.expect("req");
    assert_eq!(refusal(r).await, (400, "login_state_unknown".into()));
}

#[tokio::test]
async fn the_oidc_iss_response_parameter_is_required_from_keycloak() {
    let kc = KeycloakAdmin::connect().await;
    let name = keycloak_user(&kc, "iss").await;
    let app = spawn_app(Db::Sqlite).await;
    setup_keycloak(&app, &Setup::default()).await;
    let a = new_client();
    let callback = redirect_target(&idp_login(&app, &a, "/login/kc-oidc", &name, PASSWORD).await);
    let mut url = url::Url::parse(&callback).expect("url");
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != "iss")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    url.query_pairs_mut().clear().extend_pairs(kept);
    let r = a.get(url.as_str()).send().await.expect("req");
    assert_eq!(refusal(r).await, (400, "oidc_iss_missing".into()));
}

#[tokio::test]
async fn unknown_or_disabled_connectors_are_not_found() {
    let app = spawn_app(Db::Sqlite).await;
    for path in [
        "/login/nope",
        "/login/..%2Fadmin",
        "/oidc/nope/callback?state=x",
        "/saml/nope/metadata",
    ] {
        let r = app.get(path).await;
        assert_eq!(r.status(), 404, "{path}");
    }
    let r = app
        .client
        .post(app.url("/saml/nope/acs"))
        .form(&[("SAMLResponse", "x")])
        .send()
        .await
        .expect("req");
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn sign_in_entry_points_are_rate_limited() {
    let app = spawn_app_with(Db::Sqlite, |c| {
        c.login.rate_limit_per_minute = 1;
        c.login.rate_limit_burst = 3;
    })
    .await;
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(app.get("/login/nope").await.status().as_u16());
    }
    assert_eq!(&statuses[..3], &[404, 404, 404]);
    assert!(statuses[3..].iter().all(|s| *s == 429), "{statuses:?}");
    let r = app.get("/login/nope").await;
    assert_eq!(refusal(r).await, (429, "rate_limited".into()));
    // The sign-in page (it audits refused return_to values) shares the limit.
    assert_eq!(app.get("/login").await.status(), 429);
    // Other pages are not limited.
    assert_eq!(app.get("/healthz").await.status(), 200);
}

#[tokio::test]
async fn return_to_outside_ssogate_is_ignored_and_audited() {
    let kc = KeycloakAdmin::connect().await;
    let name = keycloak_user(&kc, "rt").await;
    let app = spawn_app(Db::Sqlite).await;
    setup_keycloak(&app, &Setup::default()).await;
    for evil in [
        "//evil.example/x",
        "/\\evil.example",
        "https:evil.example",
        "https://evil.example/",
    ] {
        let path = format!(
            "/login/kc-oidc?return_to={}",
            url::form_urlencoded::byte_serialize(evil.as_bytes()).collect::<String>()
        );
        let browser = new_client();
        let r =
            crate::support::keycloak::sign_in_with(&app, &browser, &path, &name, PASSWORD).await;
        assert_eq!(r.status(), 303);
        assert_eq!(
            redirect_target(&r),
            "/me",
            "{evil} is ignored: the person lands on the default page"
        );
    }
    let mut c = app.store.read().await.expect("conn");
    let refused = audit::query(
        &mut c,
        &AuditFilter {
            kind: Some("signin.return_to_refused".into()),
            ..Default::default()
        },
    )
    .await
    .expect("q");
    assert_eq!(refused.len(), 4);
    drop(c);
    // A relative path is honoured.
    let browser = new_client();
    let r = crate::support::keycloak::sign_in_with(
        &app,
        &browser,
        "/login/kc-oidc?return_to=%2Fme%3Ftab%3D1",
        &name,
        PASSWORD,
    )
    .await;
    assert_eq!(redirect_target(&r), "/me?tab=1");
}

/// Connectors that cannot sign anyone in, written to the store directly (neither `apply`
/// nor the API writes such rows): every sign-in route refuses them with its reason
/// (audited), before reading anything else from the request; a disabled one is a 404.
#[tokio::test]
async fn connectors_that_cannot_sign_in_are_refused_with_their_reason() {
    let app = spawn_app(Db::Sqlite).await;
    for (id, kind, config, enabled) in [
        // Settings that do not parse (a misspelt field).
        ("broken", "saml", json!({ "create_acounts": true }), true),
        ("off", "saml", json!({ "create_acounts": true }), false),
        // Kinds with no sign-in flow yet (the schema admits no unknown kind).
        ("mail", "email", json!({}), true),
        (
            "soc",
            "social",
            json!({ "social": { "provider": "google" } }),
            true,
        ),
        // A SAML connector without its SAML section.
        ("bare", "saml", json!({}), true),
    ] {
        let rec = ConnectorRecord {
            id: id.into(),
            kind: kind.into(),
            display_name: id.into(),
            enabled,
            config,
            secrets: None,
            domains: vec![],
            created_at: 0,
            updated_at: 0,
        };
        let mut c = app.store.write().await.expect("conn");
        connectors::upsert(&mut c, &rec).await.expect("upsert");
    }
    let client = new_client();
    let start = |id: &str| client.get(app.url(&format!("/login/{id}"))).send();
    let acs = |id: &str| {
        client
            .post(app.url(&format!("/saml/{id}/acs")))
            .form(&[("SAMLResponse", "PHg+"), ("RelayState", "r")])
            .send()
    };
    let callback = |id: &str| {
        client
            .get(app.url(&format!("/oidc/{id}/callback?code=c&state=s")))
            .send()
    };
    for (what, r, code) in [
        (
            "start broken",
            start("broken").await,
            "connector_misconfigured",
        ),
        ("ACS broken", acs("broken").await, "connector_misconfigured"),
        (
            "callback broken",
            callback("broken").await,
            "connector_misconfigured",
        ),
        ("start bare", start("bare").await, "connector_misconfigured"),
        ("ACS bare", acs("bare").await, "connector_misconfigured"),
        (
            "start mail",
            start("mail").await,
            "connector_kind_unsupported",
        ),
        ("ACS mail", acs("mail").await, "connector_misconfigured"),
        (
            "start soc",
            start("soc").await,
            "connector_kind_unsupported",
        ),
        (
            "callback soc",
            callback("soc").await,
            "connector_misconfigured",
        ),
    ] {
        let r = r.expect("request");
        let request_id = r.headers()["x-request-id"]
            .to_str()
            .expect("id")
            .to_string();
        assert_eq!(refusal(r).await, (400, code.to_string()), "{what}");
        // This request's audit event (several land in one millisecond: not "the last").
        let mut c = app.store.read().await.expect("conn");
        let events = audit::query(
            &mut c,
            &AuditFilter {
                kind: Some("signin.refused".into()),
                request_id: Some(request_id),
                ..Default::default()
            },
        )
        .await
        .expect("q");
        let reasons: Vec<_> = events.iter().map(|e| e.reason.as_deref()).collect();
        assert_eq!(reasons, [Some(code)], "{what}: audited");
    }
    for r in [start("off").await, acs("off").await, callback("off").await] {
        assert_eq!(r.expect("request").status(), 404, "a disabled connector");
    }
    let r = client
        .get(app.url("/saml/soc/metadata"))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 404, "no SP metadata for a social connector");
}
