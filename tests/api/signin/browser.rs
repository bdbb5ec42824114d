//! A real browser: headless Chromium signs in through SAML with Keycloak at
//! http://localhost and ssogate at http://127.0.0.1 — two different sites, so the IdP's
//! POST to the ACS is a cross-site POST and real cookie rules apply to ssogate's
//! pending-login cookie.

use serde_json::json;

use crate::support::api_key;
use crate::support::browser::Browser;
use crate::support::keycloak::{unique, KeycloakAdmin, PASSWORD};
use crate::support::saml_forge::fixture;
use crate::support::{keycloak_realm, keycloak_url, spawn_app, Db, TestApp};

/// Keycloak's address as another site: `localhost` instead of `127.0.0.1`.
pub fn keycloak_other_site() -> String {
    keycloak_url().replace("127.0.0.1", "localhost")
}

/// A SAML connector whose IdP is Keycloak at http://localhost.
pub async fn saml_connector_at_localhost(app: &TestApp, id: &str) {
    let key = api_key(app).await;
    let descriptor = format!(
        "{}/realms/{}/protocol/saml/descriptor",
        keycloak_other_site(),
        keycloak_realm()
    );
    let body = json!({
        "kind": "saml", "display_name": "Keycloak (browser)", "domains": ["acme.test"],
        "saml": {
            "idp_metadata_url": descriptor, "sp_entity_id": "urn:ssogate:test:sp",
            "sp_private_key_pem": fixture("sp.key"), "sp_certificate_pem": fixture("sp.crt"),
        }
    });
    let r = app
        .client
        .put(app.url(&format!("/api/v1/connectors/{id}")))
        .bearer_auth(&key)
        .json(&body)
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
}

/// On Keycloak's login page: fill in the form and submit; Keycloak's SAML POST form then
/// submits itself (JavaScript) to ssogate's ACS.
pub async fn log_in_at_keycloak(browser: &Browser, username: &str) {
    browser
        .wait_for_url("Keycloak's login page", |u| {
            u.starts_with(&keycloak_other_site())
        })
        .await;
    browser.type_into("#username", username).await;
    browser.type_into("#password", PASSWORD).await;
    browser.click("#kc-login").await;
}

#[tokio::test]
async fn chromium_signs_in_through_saml_across_sites() {
    let kc = KeycloakAdmin::connect().await;
    let name = unique("chrome");
    let email = format!("{name}@acme.test");
    kc.create_user(&name, &email, "Chro", "Mium", &["engineering"])
        .await;
    let app = spawn_app(Db::Sqlite).await;
    saml_connector_at_localhost(&app, "kc-browser").await;

    let browser = Browser::start().await;
    browser.goto(&app.url("/login")).await;
    browser.click("#connectors a").await;
    log_in_at_keycloak(&browser, &name).await;
    let landed = browser
        .wait_for_url("ssogate's signed-in page", |u| u.starts_with(&app.address))
        .await;
    let page = browser.source().await;
    assert!(landed.ends_with("/me"), "landed on {landed}: {page}");
    assert!(page.contains(&email), "{page}");
    browser.quit().await;
}

/// The same sign-in starting at an app behind the real nginx: anonymous → ssogate's sign-in
/// page → Keycloak (another site) → the ACS → back at the app, which sees the identity.
#[tokio::test]
async fn chromium_ends_signed_in_at_the_nginx_protected_app() {
    use crate::support::downstream::{put_app, trust_loopback};
    use crate::support::nginx_site::NginxSite;
    let kc = KeycloakAdmin::connect().await;
    let name = unique("chrome-app");
    let email = format!("{name}@acme.test");
    kc.create_user(&name, &email, "App", "User", &[]).await;
    let (upstream, _) = crate::support::downstream::echo_upstream().await;
    let app = crate::support::spawn_app_with(Db::Sqlite, trust_loopback).await;
    saml_connector_at_localhost(&app, "kc-browser").await;
    let site = NginxSite::start(crate::support::downstream::port(&app), upstream.port()).await;
    let key = api_key(&app).await;
    assert_eq!(
        put_app(&app, &key, json!({"name": "echo", "origins": [site.url]}))
            .await
            .status(),
        201
    );

    let browser = Browser::start().await;
    browser.goto(&format!("{}/inbox", site.url)).await;
    browser
        .wait_for_url("ssogate's sign-in page", |u| {
            u.starts_with(&app.url("/login"))
        })
        .await;
    browser.click("#connectors a").await;
    log_in_at_keycloak(&browser, &name).await;
    let landed = browser
        .wait_for_url("the app", |u| u.starts_with(&site.url))
        .await;
    assert_eq!(landed, format!("{}/inbox", site.url));
    let page = browser.source().await;
    assert!(
        page.contains(&email),
        "the app sees the signed-in person: {page}"
    );
    assert!(page.contains("Bearer "), "and gets ssogate's token: {page}");
    browser.quit().await;
}
