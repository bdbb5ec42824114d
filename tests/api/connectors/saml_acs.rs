//! The ACS route with responses forged at test time by a fake IdP (idp.key): the state
//! ssogate owns (RelayState bound to the browser, InResponseTo, the assertion-ID replay
//! cache, unsolicited responses) and the input limits, each with its exact reason code.

use std::io::Read;

use serde_json::json;
use ssogate::connectors::saml::sp::SamlSp;
use ssogate::connectors::Connector;
use ssogate::store::connectors;

use crate::signin::refusals::refusal;
use crate::support::api_key;
use crate::support::saml_forge::{fixture, idp_metadata_xml, Forge};
use crate::support::{new_client, spawn_app_with, Db, TestApp};

pub const CONNECTOR: &str = "forged";

pub async fn setup(allow_idp_initiated: bool) -> (TestApp, SamlSp) {
    setup_with(allow_idp_initiated, |_| {}).await
}

/// [`setup`] on an app with a tweaked configuration (e.g. an https public URL).
pub async fn setup_with(
    allow_idp_initiated: bool,
    tweak: impl FnOnce(&mut ssogate::config::Config),
) -> (TestApp, SamlSp) {
    let app = spawn_app_with(Db::Sqlite, tweak).await;
    let key = api_key(&app).await;
    let body = json!({
        "kind": "saml", "domains": ["acme.test"],
        "saml": {
            "idp_metadata_xml": idp_metadata_xml(), "sp_entity_id": "urn:ssogate:test:forged",
            "sp_private_key_pem": fixture("sp.key"), "sp_certificate_pem": fixture("sp.crt"),
            "allow_idp_initiated": allow_idp_initiated,
        }
    });
    let r = app
        .client
        .put(app.url(&format!("/api/v1/connectors/{CONNECTOR}")))
        .bearer_auth(&key)
        .json(&body)
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
    let rec = {
        let mut c = app.store.read().await.expect("conn");
        connectors::get(&mut c, CONNECTOR)
            .await
            .expect("q")
            .expect("connector")
    };
    let sp = SamlSp::new(
        &Connector::from_record(rec).expect("connector"),
        &app.master_key,
        &app.state.public_url,
    )
    .expect("sp");
    (app, sp)
}

/// Starts a sign-in in `browser`; returns (RelayState, AuthnRequest ID) from the redirect.
pub async fn start(app: &TestApp, browser: &reqwest::Client) -> (String, String) {
    let r = browser
        .get(app.url(&format!("/login/{CONNECTOR}")))
        .send()
        .await
        .expect("start");
    relay_and_request_id(r)
}

/// (RelayState, AuthnRequest ID) from the redirect that starts a SAML sign-in.
pub fn relay_and_request_id(r: reqwest::Response) -> (String, String) {
    assert_eq!(r.status(), 303);
    let loc = url::Url::parse(r.headers()["location"].to_str().expect("ascii")).expect("url");
    let q: std::collections::HashMap<String, String> = loc.query_pairs().into_owned().collect();
    let deflated = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        &q["SAMLRequest"],
    )
    .expect("b64");
    let mut xml = String::new();
    flate2::read::DeflateDecoder::new(&deflated[..])
        .read_to_string(&mut xml)
        .expect("inflate");
    let id = xml
        .split(" ID=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("request ID")
        .to_string();
    assert_eq!(id.len(), 33, "`_` + 128 bits in hex: {id}");
    (q["RelayState"].clone(), id)
}

pub async fn post_acs(
    app: &TestApp,
    browser: &reqwest::Client,
    saml_response: &str,
    relay_state: Option<&str>,
) -> reqwest::Response {
    let mut form = vec![("SAMLResponse", saml_response.to_string())];
    if let Some(rs) = relay_state {
        form.push(("RelayState", rs.to_string()));
    }
    browser
        .post(app.url(&format!("/saml/{CONNECTOR}/acs")))
        .form(&form)
        .send()
        .await
        .expect("post")
}

#[tokio::test]
async fn a_forged_but_valid_sp_initiated_sign_in_works_once() {
    let (app, sp) = setup(false).await;
    let browser = new_client();
    let (relay, request_id) = start(&app, &browser).await;
    let response = Forge::for_sp(&sp, Some(&request_id)).b64();
    let r = post_acs(&app, &browser, &response, Some(&relay)).await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap_or_default());
    assert_eq!(
        browser
            .get(app.url("/me"))
            .send()
            .await
            .expect("me")
            .status(),
        200
    );
    // The same answer again: its RelayState was used.
    let r = post_acs(&app, &browser, &response, Some(&relay)).await;
    assert_eq!(refusal(r).await, (400, "login_state_unknown".into()));
}

#[tokio::test]
async fn a_response_posted_from_another_browser_is_refused() {
    let (app, sp) = setup(false).await;
    let a = new_client();
    let (relay, request_id) = start(&app, &a).await;
    let b = new_client();
    start(&app, &b).await; // B has a sign-in cookie of its own
    let response = Forge::for_sp(&sp, Some(&request_id)).b64();
    let r = post_acs(&app, &b, &response, Some(&relay)).await;
    assert_eq!(refusal(r).await, (400, "login_state_other_browser".into()));
    // A can still finish its own sign-in.
    assert_eq!(
        post_acs(&app, &a, &response, Some(&relay)).await.status(),
        303
    );
}

#[tokio::test]
async fn in_response_to_must_be_the_request_this_browser_sent() {
    let (app, sp) = setup(false).await;
    let a = new_client();
    let (relay_a, _request_a) = start(&app, &a).await;
    let (_relay_a2, request_a2) = start(&app, &a).await; // another request of the same browser
    let response = Forge::for_sp(&sp, Some(&request_a2)).b64();
    let r = post_acs(&app, &a, &response, Some(&relay_a)).await;
    assert_eq!(
        refusal(r).await,
        (403, "saml_in_response_to_mismatch".into())
    );
}

#[tokio::test]
async fn unsolicited_responses_are_refused_unless_enabled_and_then_replay_protected() {
    let (app, sp) = setup(false).await;
    let r = post_acs(&app, &new_client(), &Forge::for_sp(&sp, None).b64(), None).await;
    assert_eq!(refusal(r).await, (403, "saml_unsolicited".into()));

    let (app, sp) = setup(true).await;
    let response = Forge::for_sp(&sp, None).b64();
    let r = post_acs(&app, &new_client(), &response, None).await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap_or_default());
    // The same assertion again (another browser, no state to consume): the replay cache.
    let r = post_acs(&app, &new_client(), &response, None).await;
    assert_eq!(refusal(r).await, (403, "saml_replay".into()));
    let mut c = app.store.read().await.expect("conn");
    let refused = ssogate::store::audit::query(
        &mut c,
        &ssogate::store::audit::AuditFilter {
            kind: Some("signin.refused".into()),
            ..Default::default()
        },
    )
    .await
    .expect("q");
    assert_eq!(refused[0].reason.as_deref(), Some("saml_replay"));
}

#[tokio::test]
async fn input_limits_and_garbage() {
    let (app, _sp) = setup(false).await;
    let browser = new_client();
    let huge = "A".repeat(600 * 1024);
    let r = post_acs(&app, &browser, &huge, None).await;
    assert_eq!(refusal(r).await, (400, "saml_body_too_large".into()));
    let r = post_acs(&app, &browser, "%%% not base64 %%%", None).await;
    assert_eq!(refusal(r).await, (400, "saml_bad_base64".into()));
    let not_xml = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        b"hello, not xml",
    );
    let r = post_acs(&app, &browser, &not_xml, None).await;
    assert_eq!(refusal(r).await, (400, "saml_not_xml".into()));
    let r = browser
        .post(app.url(&format!("/saml/{CONNECTOR}/acs")))
        .form(&[("RelayState", "x")])
        .send()
        .await
        .expect("post");
    assert_eq!(refusal(r).await, (400, "saml_response_missing".into()));
    // Bodies beyond the transport limit are not even read.
    let r = browser
        .post(app.url(&format!("/saml/{CONNECTOR}/acs")))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(vec![b'a'; 3 * 1024 * 1024])
        .send()
        .await
        .expect("post");
    assert_eq!(refusal(r).await, (400, "saml_body_too_large".into()));
}

#[tokio::test]
async fn sp_metadata_is_served() {
    let (app, sp) = setup(false).await;
    let r = app.get(&format!("/saml/{CONNECTOR}/metadata")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/samlmetadata+xml");
    let xml = r.text().await.expect("xml");
    assert!(
        xml.contains(r#"entityID="urn:ssogate:test:forged""#),
        "{xml}"
    );
    assert!(xml.contains(&sp.acs_url));
    assert!(xml.contains(r#"AuthnRequestsSigned="false""#));
    assert!(!xml.contains("PRIVATE"));
}

#[tokio::test]
async fn the_sp_key_pair_can_be_rotated_with_an_overlap_for_decryption() {
    use crate::support::saml_forge::Encryption;
    let (app, sp) = setup(true).await;
    let key = api_key(&app).await;
    let rotate = || async {
        let r = app
            .client
            .post(app.url(&format!("/api/v1/connectors/{CONNECTOR}/rotate-sp-key")))
            .bearer_auth(&key)
            .send()
            .await
            .expect("rotate");
        assert_eq!(r.status(), 200);
        let v: serde_json::Value = r.json().await.expect("json");
        v["sp_certificate_pem"].as_str().expect("cert").to_string()
    };
    // An assertion encrypted to the original certificate (sp.crt).
    let encrypted_to_original = || {
        let mut f = Forge::for_sp(&sp, None);
        f.encrypt = Some(Encryption::keycloak_default());
        f.b64()
    };
    let before = app
        .get(&format!("/saml/{CONNECTOR}/metadata"))
        .await
        .text()
        .await
        .expect("xml");

    let new_pem = rotate().await;
    let new_b64: String = new_pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let after = app
        .get(&format!("/saml/{CONNECTOR}/metadata"))
        .await
        .text()
        .await
        .expect("xml");
    assert_ne!(before, after);
    assert!(
        after.contains(&new_b64),
        "the metadata publishes the new certificate"
    );
    // During the overlap the previous key still decrypts what the IdP encrypted to it.
    let r = post_acs(&app, &new_client(), &encrypted_to_original(), None).await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap_or_default());
    // Sign-ins start with the new key (it opens from the sealed secrets).
    start(&app, &new_client()).await;

    // A second rotation ends the original key's overlap.
    rotate().await;
    let r = post_acs(&app, &new_client(), &encrypted_to_original(), None).await;
    assert_eq!(refusal(r).await, (400, "saml_decrypt_failed".into()));
}
