//! One display name, the same everywhere: a SAML IdP (Keycloak) sends only firstName and
//! lastName; the person's name on `/me`, in `X-Auth-Request-Name` and in the token's
//! `name` claim is the same "First Last" (`ssogate::store::users::User::display_name`).

use serde_json::json;

use crate::signin::keycloak::{setup_keycloak, Setup};
use crate::support::downstream::{header, put_app, trust_loopback, verified_claims, verify};
use crate::support::keycloak::{sign_in, unique, KeycloakAdmin};
use crate::support::{new_client, spawn_app_with, Db, TestApp};

both!(a_saml_users_name_reaches_me_the_headers_and_the_token);

const HOST: &str = "names.test:8081";
const ORIGIN: &str = "http://names.test:8081";

/// The session id ssogate set on a sign-in's answer.
fn session_id(app: &TestApp, r: &reqwest::Response) -> String {
    let prefix = format!("{}=", app.state.gateway.cookie_name);
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| c.strip_prefix(prefix.as_str()))
        .and_then(|rest| rest.split(';').next())
        .expect("the sign-in sets the session cookie")
        .to_string()
}

async fn a_saml_users_name_reaches_me_the_headers_and_the_token(db: Db) {
    let kc = KeycloakAdmin::connect().await;
    let name = unique("named");
    kc.create_user(&name, &format!("{name}@acme.test"), "Sam", "Aml", &[])
        .await;
    let app = spawn_app_with(db, trust_loopback).await;
    let key = setup_keycloak(&app, &Setup::default()).await;
    let r = put_app(&app, &key, json!({"name": "names", "origins": [ORIGIN]})).await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());

    let browser = new_client();
    let r = sign_in(&app, &browser, "kc-saml", &name).await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap_or_default());
    let sid = session_id(&app, &r);

    let me = browser
        .get(app.url("/me"))
        .send()
        .await
        .expect("me")
        .text()
        .await
        .expect("html");
    assert!(me.contains(r#"<dd id="name">Sam Aml</dd>"#), "{me}");

    let r = verify(&app, "names", HOST, "/", Some(&sid)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        header(&r, "x-auth-request-name").as_deref(),
        Some("Sam Aml")
    );
    let bearer = header(&r, "authorization").expect("a token");
    let claims = verified_claims(&app, bearer.trim_start_matches("Bearer "), ORIGIN).await;
    assert_eq!(claims["name"], json!("Sam Aml"));
}
