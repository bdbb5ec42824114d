//! The SAML SP against the real Keycloak (tests/keycloak/ssogate-test-realm.json): our
//! AuthnRequest goes to Keycloak through a browser-like client, a user signs in, and the
//! SAMLResponse Keycloak renders into its auto-post form is verified by `verify_response`.

use crate::support::keycloak::{attr, form_tag, hidden_input, submit_login, PASSWORD};
use crate::support::new_client;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use chrono::Utc;
use ssogate::app::http_client;
use ssogate::connectors::saml::authn_request::build_authn_request;
use ssogate::connectors::saml::error::SamlError;
use ssogate::connectors::saml::metadata::fetch_idp_metadata;
use ssogate::connectors::saml::sp::SamlSp;
use ssogate::connectors::saml::verify::{verify_response, Expected, VerifiedAssertion};
use ssogate::connectors::settings::{AttributeMapping, SamlSettings};

use crate::support::saml_forge::KeyPair;
use crate::support::{keycloak_issuer, keycloak_realm, keycloak_url};

const PLAIN: &str = "urn:ssogate:test:sp";
const ENCRYPTED: &str = "urn:ssogate:test:sp-encrypted";
const SIGNED_REQUESTS: &str = "urn:ssogate:test:sp-signed-requests";
/// Keycloak accepts any `http://127.0.0.1:*` redirect for the test clients; nothing needs
/// to listen there: the browser's POST to the ACS is read from Keycloak's page instead.
const ACS: &str = "http://127.0.0.1:18999/saml/kc/acs";

/// A SamlSp for one Keycloak client, configured from Keycloak's IdP descriptor.
async fn keycloak_sp(client_id: &str, sign_authn_requests: bool) -> SamlSp {
    let http = http_client().expect("client");
    let url = format!(
        "{}/realms/{}/protocol/saml/descriptor",
        keycloak_url(),
        keycloak_realm()
    );
    let (xml, md) = fetch_idp_metadata(&http, &url).await.expect("descriptor");
    assert_eq!(md.entity_id, keycloak_issuer());
    let sp = KeyPair::sp();
    SamlSp {
        connector_id: "kc".into(),
        sp_entity_id: client_id.into(),
        acs_url: ACS.into(),
        metadata_url: "http://127.0.0.1:18999/saml/kc/metadata".into(),
        sp_private_key_pem: sp.key_pem,
        previous_sp_private_key_pem: None,
        next_sp_private_key_pem: None,
        sp_certificate_pem: sp.cert_pem.clone(),
        settings: SamlSettings {
            sp_entity_id: Some(client_id.into()),
            idp_metadata_url: Some(url),
            idp_metadata_xml: xml,
            idp_entity_id: md.entity_id,
            idp_sso_url: md.sso_url_redirect.expect("a redirect SSO endpoint"),
            idp_signing_certificates: md.signing_certificates,
            sp_certificate_pem: sp.cert_pem,
            next_sp_certificate_pem: None,
            sign_authn_requests,
            allow_idp_initiated: false,
            allow_sha1: false,
            attributes: AttributeMapping::saml_default(),
        },
        domains: vec!["acme.test".into()],
    }
}

struct Login {
    request_id: String,
    saml_response: String,
    relay_state: Option<String>,
}

/// Sends our AuthnRequest, signs in as `user`, returns what Keycloak posts to the ACS.
async fn login(sp: &SamlSp, user: &str) -> Login {
    let redirect = build_authn_request(sp, "relay-1").expect("AuthnRequest");
    let browser = new_client();
    let resp = submit_login(&browser, &redirect.url, user, PASSWORD).await;
    let status = resp.status();
    let html = resp.text().await.expect("post-binding page");
    let form = form_tag(&html, r#"name="saml-post-binding""#)
        .unwrap_or_else(|| panic!("no SAML POST form (HTTP {status}): {html}"));
    assert_eq!(attr(form, "action").as_deref(), Some(ACS));
    Login {
        request_id: redirect.request_id,
        saml_response: hidden_input(&html, "SAMLResponse").expect("SAMLResponse"),
        relay_state: hidden_input(&html, "RelayState"),
    }
}

fn expected_for(login: &Login) -> Expected {
    Expected {
        in_response_to: Some(login.request_id.clone()),
        now: Utc::now(),
        max_clock_skew_secs: 60,
    }
}

fn verify(sp: &SamlSp, login: &Login) -> Result<VerifiedAssertion, SamlError> {
    verify_response(sp, &login.saml_response, &expected_for(login))
}

fn assert_alice(v: &VerifiedAssertion) {
    let p = &v.profile;
    assert!(!p.subject.is_empty());
    assert!(
        p.subject.starts_with("G-"),
        "persistent NameID: {}",
        p.subject
    );
    assert_eq!(p.email.as_deref(), Some("alice@acme.test"));
    assert!(p.email_verified);
    assert_eq!(p.given_name.as_deref(), Some("Alice"));
    assert_eq!(p.family_name.as_deref(), Some("Anders"));
    assert_eq!(p.groups, vec!["engineering".to_string()]);
    assert_eq!(v.issuer, keycloak_issuer());
    assert!(p.session_not_on_or_after.is_some());
    assert!(v.assertion_expires_at > Utc::now().timestamp_millis());
}

#[tokio::test]
async fn keycloak_signed_response_verifies_and_the_subject_is_stable() {
    let sp = keycloak_sp(PLAIN, false).await;
    let first = login(&sp, "alice").await;
    assert_eq!(first.relay_state.as_deref(), Some("relay-1"));
    let xml = String::from_utf8(B64.decode(&first.saml_response).expect("b64")).expect("utf8");
    assert!(!xml.contains("EncryptedAssertion"));
    let v1 = verify(&sp, &first).expect("Keycloak's response verifies");
    assert_alice(&v1);
    assert_eq!(
        v1.in_response_to.as_deref(),
        Some(first.request_id.as_str())
    );

    let second = login(&sp, "alice").await;
    let v2 = verify(&sp, &second).expect("second login");
    assert_eq!(v1.profile.subject, v2.profile.subject, "persistent subject");
    assert_ne!(v1.assertion_id, v2.assertion_id);

    // Another user, another subject; no groups means no groups attribute.
    let dave = login(&sp, "dave").await;
    let v = verify(&sp, &dave).expect("dave");
    assert_ne!(v.profile.subject, v1.profile.subject);
    assert_eq!(v.profile.email.as_deref(), Some("dave@globex.test"));
    assert!(v.profile.groups.is_empty());
}

#[tokio::test]
async fn keycloak_encrypted_assertion_with_default_algorithms_verifies() {
    let sp = keycloak_sp(ENCRYPTED, false).await;
    let l = login(&sp, "alice").await;
    let xml = String::from_utf8(B64.decode(&l.saml_response).expect("b64")).expect("utf8");
    assert!(xml.contains("EncryptedAssertion"));
    assert!(xml.contains("http://www.w3.org/2009/xmlenc11#aes256-gcm"));
    assert!(xml.contains("http://www.w3.org/2009/xmlenc11#rsa-oaep"));
    let v = verify(&sp, &l).expect("decrypted and verified");
    assert_alice(&v);

    // The same subject as through the plain client? Keycloak's persistent NameID is per
    // client, so only stability per client is asserted.
    let again = verify(&sp, &login(&sp, "alice").await).expect("again");
    assert_eq!(again.profile.subject, v.profile.subject);
}

#[tokio::test]
async fn keycloak_client_requiring_signed_requests_accepts_ours_and_refuses_unsigned() {
    let sp = keycloak_sp(SIGNED_REQUESTS, true).await;
    let l = login(&sp, "alice").await;
    assert_alice(&verify(&sp, &l).expect("verified"));

    // The same client with an unsigned request: Keycloak must not show a login form.
    let unsigned = keycloak_sp(SIGNED_REQUESTS, false).await;
    let redirect = build_authn_request(&unsigned, "relay-1").expect("AuthnRequest");
    let resp = new_client()
        .get(&redirect.url)
        .send()
        .await
        .expect("GET SSO");
    let status = resp.status();
    let html = resp.text().await.expect("page");
    assert!(
        form_tag(&html, r#"id="kc-form-login""#).is_none(),
        "Keycloak accepted an unsigned AuthnRequest (HTTP {status})"
    );
    assert!(status.is_client_error(), "HTTP {status}");

    // And a request signed with another key is refused as well.
    let mut forged = keycloak_sp(SIGNED_REQUESTS, true).await;
    forged.sp_private_key_pem = KeyPair::attacker().key_pem;
    let redirect = build_authn_request(&forged, "relay-1").expect("AuthnRequest");
    let resp = new_client()
        .get(&redirect.url)
        .send()
        .await
        .expect("GET SSO");
    let status = resp.status();
    let html = resp.text().await.expect("page");
    assert!(
        form_tag(&html, r#"id="kc-form-login""#).is_none(),
        "HTTP {status}"
    );
}

#[tokio::test]
async fn keycloak_response_tampered_after_signing_is_refused() {
    let sp = keycloak_sp(PLAIN, false).await;
    let l = login(&sp, "alice").await;
    let xml = String::from_utf8(B64.decode(&l.saml_response).expect("b64")).expect("utf8");
    // One byte of the signed assertion: the first name.
    let tampered = xml.replacen(">Alice<", ">Alicf<", 1);
    assert_ne!(tampered, xml);
    let forged = Login {
        saml_response: B64.encode(tampered),
        ..l
    };
    let err = verify(&sp, &forged).unwrap_err();
    assert_eq!(err.code(), "saml_signature_invalid");

    // And the genuine one, answering another request, is refused too.
    let other = Expected {
        in_response_to: Some("_not-the-request".into()),
        ..expected_for(&forged)
    };
    let err = verify_response(&sp, &B64.encode(&xml), &other).unwrap_err();
    assert_eq!(err.code(), "saml_in_response_to_mismatch");
}
