//! Holes an outside review found in the sign-in flow, through the real routes:
//! - the return address after signing in could leave ssogate's origin once resolved
//!   (`/.//evil.com` and `/%2e//evil.com` ended as `Location: //evil.com`);
//! - the sign-in binding cookie could be planted by a sibling subdomain (login CSRF): on
//!   https it is `__Host-ssogate_login`, and a plain `ssogate_login` is not read.

use serde_json::json;
use ssogate::store::audit::{self, AuditFilter};

use crate::connectors::saml_acs::{post_acs, relay_and_request_id, setup, setup_with, CONNECTOR};
use crate::signin::refusals::refusal;
use crate::support::api_key;
use crate::support::keycloak::redirect_target;
use crate::support::oidc_mock::{MockOp, CLIENT_ID, CLIENT_SECRET};
use crate::support::saml_forge::Forge;
use crate::support::{new_client, spawn_app, Db, TestApp};

/// Return addresses that pass a check on the raw string (they start with one `/`, not
/// `//` or `/\`) but resolve to a path starting with `//` — a browser reads
/// `Location: //evil.com` as the host evil.com — or that decode to one on a later hop.
const ESCAPES: &[&str] = &[
    "/.//evil.com",
    "/%2e//evil.com",
    "/%2E%2E//evil.com",
    "/..//evil.com",
    "/a/..//evil.com",
    "/.%2e//evil.com",
    "/./%2fevil.com",
    "/%5cevil.com",
];

fn with_return_to(path: &str, return_to: &str) -> String {
    format!(
        "{path}?return_to={}",
        url::form_urlencoded::byte_serialize(return_to.as_bytes()).collect::<String>()
    )
}

async fn return_to_refusals(app: &TestApp) -> usize {
    let mut c = app.store.read().await.expect("conn");
    audit::query(
        &mut c,
        &AuditFilter {
            kind: Some("signin.return_to_refused".into()),
            ..Default::default()
        },
    )
    .await
    .expect("audit")
    .len()
}

/// A complete SAML sign-in (forged IdP answer) started at `start_path`; the final answer.
async fn saml_sign_in(
    app: &TestApp,
    sp: &ssogate::connectors::saml::sp::SamlSp,
    start_path: &str,
) -> reqwest::Response {
    let browser = new_client();
    let r = browser
        .get(app.url(start_path))
        .send()
        .await
        .expect("start");
    let (relay, request_id) = relay_and_request_id(r);
    let response = Forge::for_sp(sp, Some(&request_id)).b64();
    post_acs(app, &browser, &response, Some(&relay)).await
}

#[tokio::test]
async fn return_to_that_resolves_to_another_host_never_reaches_location_after_saml() {
    let (app, sp) = setup(false).await;
    for evil in ESCAPES {
        let r = saml_sign_in(
            &app,
            &sp,
            &with_return_to(&format!("/login/{CONNECTOR}"), evil),
        )
        .await;
        assert_eq!(
            r.status(),
            303,
            "{evil}: {}",
            r.text().await.unwrap_or_default()
        );
        assert_eq!(
            redirect_target(&r),
            "/me",
            "{evil} is refused: the person lands on the default page, not on another host"
        );
    }
    assert_eq!(
        return_to_refusals(&app).await,
        ESCAPES.len(),
        "each refusal is audited"
    );
    // A path with harmless dot-segments is honoured in its resolved form.
    let r = saml_sign_in(
        &app,
        &sp,
        &with_return_to(&format!("/login/{CONNECTOR}"), "/x/./y/../me?tab=1"),
    )
    .await;
    assert_eq!(redirect_target(&r), "/x/me?tab=1");
}

#[tokio::test]
async fn the_sign_in_page_drops_return_to_that_resolves_to_another_host() {
    let app = spawn_app(Db::Sqlite).await;
    for evil in ESCAPES {
        let r = app.get(&with_return_to("/login", evil)).await;
        assert_eq!(r.status(), 200);
        let html = r.text().await.expect("html");
        assert!(
            !html.contains("evil.com"),
            "{evil} is dropped from the page"
        );
    }
    assert_eq!(return_to_refusals(&app).await, ESCAPES.len());
}

#[tokio::test]
async fn a_stored_return_to_is_checked_again_before_it_becomes_location() {
    let (app, sp) = setup(false).await;
    let browser = new_client();
    let r = browser
        .get(app.url(&with_return_to(&format!("/login/{CONNECTOR}"), "/me")))
        .send()
        .await
        .expect("start");
    let (relay, request_id) = relay_and_request_id(r);
    // What an older version stored for `/.//evil.com` (its check resolved the path and
    // kept the result): the end of the sign-in must not trust it.
    {
        let mut c = app.store.write().await.expect("conn");
        let n = sqlx::query(&format!(
            "UPDATE pending_logins SET data = json_set(data, '$.return_to', '//evil.com') \
             WHERE id = '{relay}'"
        ))
        .execute(&mut *c)
        .await
        .expect("update")
        .rows_affected();
        assert_eq!(n, 1);
    }
    let response = Forge::for_sp(&sp, Some(&request_id)).b64();
    let r = post_acs(&app, &browser, &response, Some(&relay)).await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap_or_default());
    assert_eq!(redirect_target(&r), "/me");
    assert_eq!(return_to_refusals(&app).await, 1, "audited");
}

#[tokio::test]
async fn return_to_that_resolves_to_another_host_never_reaches_location_after_oidc() {
    let op = MockOp::start().await;
    let app = spawn_app(Db::Sqlite).await;
    let key = api_key(&app).await;
    let r = app
        .client
        .put(app.url("/api/v1/connectors/mock"))
        .bearer_auth(&key)
        .json(&json!({
            "kind": "oidc", "domains": ["acme.test"],
            "oidc": {
                "issuer": op.issuer, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                "scopes": ["openid", "email", "profile"],
            }
        }))
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
    for (return_to, expected) in [
        ("/.//evil.com", "/me"),
        ("/%2e//evil.com", "/me"),
        ("/me?tab=1", "/me?tab=1"),
    ] {
        let browser = new_client();
        let r = browser
            .get(app.url(&with_return_to("/login/mock", return_to)))
            .send()
            .await
            .expect("start");
        assert_eq!(r.status(), 303, "{}", r.text().await.unwrap_or_default());
        // The mock signs the person in at once and sends them back to the callback.
        let at_idp = browser
            .get(redirect_target(&r))
            .send()
            .await
            .expect("authorize");
        assert_eq!(at_idp.status(), 302);
        let r = browser
            .get(redirect_target(&at_idp))
            .send()
            .await
            .expect("callback");
        assert_eq!(r.status(), 303, "{}", r.text().await.unwrap_or_default());
        assert_eq!(redirect_target(&r), expected, "{return_to}");
    }
}

/// A client without a cookie jar: the tests below send the cookies a browser would (a
/// jar would not send `Secure` cookies to the test app's plain-http address).
fn bare_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

fn set_cookie(r: &reqwest::Response) -> String {
    let all: Vec<&str> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    assert_eq!(all.len(), 1, "one cookie: {all:?}");
    all[0].to_string()
}

fn attrs(cookie: &str) -> Vec<String> {
    cookie.split(';').map(|p| p.trim().to_string()).collect()
}

/// 43 base64url characters: shaped like a binding value, known to whoever planted it.
const PLANTED: &str = "planted-by-a-sibling-subdomain-0123456789ab";

#[tokio::test]
async fn on_https_the_binding_cookie_is_host_prefixed_and_a_planted_plain_one_is_not_read() {
    let (app, sp) = setup_with(false, |c| {
        c.server.public_url = "https://login.example.com".into();
    })
    .await;
    assert_eq!(PLANTED.len(), 43);
    let browser = bare_client();
    // The victim's browser carries a cookie a sibling subdomain planted with
    // `Domain=example.com`.
    let r = browser
        .get(app.url(&format!("/login/{CONNECTOR}")))
        .header("cookie", format!("ssogate_login={PLANTED}"))
        .send()
        .await
        .expect("start");
    let cookie = set_cookie(&r);
    let a = attrs(&cookie);
    let (name, value) = a[0].split_once('=').expect("name=value");
    assert_eq!(name, "__Host-ssogate_login", "{cookie}");
    assert_ne!(value, PLANTED, "the planted value is not adopted: {cookie}");
    assert!(a.contains(&"Secure".to_string()), "{cookie}");
    assert!(a.contains(&"Path=/".to_string()), "{cookie}");
    assert!(a.contains(&"HttpOnly".to_string()), "{cookie}");
    assert!(
        !a.iter()
            .any(|p| p.to_ascii_lowercase().starts_with("domain")),
        "{cookie}"
    );
    let value = value.to_string();
    let (relay, request_id) = relay_and_request_id(r);
    let response = Forge::for_sp(&sp, Some(&request_id)).b64();
    let post = |cookie: String| {
        browser
            .post(app.url(&format!("/saml/{CONNECTOR}/acs")))
            .header("cookie", cookie)
            .form(&[
                ("SAMLResponse", response.as_str()),
                ("RelayState", relay.as_str()),
            ])
            .send()
    };
    // The binding value under the plain name (what a sibling can set) is not the cookie.
    let r = post(format!("ssogate_login={value}")).await.expect("acs");
    assert_eq!(refusal(r).await, (400, "login_state_no_cookie".into()));
    // The host-only cookie completes the sign-in.
    let r = post(format!(
        "ssogate_login={PLANTED}; __Host-ssogate_login={value}"
    ))
    .await
    .expect("acs");
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap_or_default());
}

#[tokio::test]
async fn on_http_the_binding_cookie_keeps_its_plain_name() {
    let (app, _sp) = setup(false).await;
    let r = bare_client()
        .get(app.url(&format!("/login/{CONNECTOR}")))
        .send()
        .await
        .expect("start");
    let cookie = set_cookie(&r);
    assert!(cookie.starts_with("ssogate_login="), "{cookie}");
    assert!(!cookie.to_ascii_lowercase().contains("domain="), "{cookie}");
}
