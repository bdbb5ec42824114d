//! The OIDC relying party against the real Keycloak of the test realm: a person signs in
//! through Keycloak's login form, ssogate finishes the code flow (RFC 9207 `iss`, PKCE,
//! client_secret_basic, ID token, userinfo) and maps the profile.

use crate::keycloak::submit_login;

use ssogate::app::http_client;
use ssogate::connectors::oidc::rp::{finish, start, CallbackParams, OidcRp, ProviderCache};
use ssogate::connectors::settings::{AttributeMapping, OidcSettings};

use crate::helpers::{keycloak_issuer, new_client};
use crate::oidc_mock::callback_params;

const REDIRECT_URI: &str = "http://127.0.0.1:18999/oidc/kc/callback";

fn keycloak_rp() -> OidcRp {
    OidcRp {
        connector_id: "kc".into(),
        settings: OidcSettings {
            issuer: keycloak_issuer(),
            client_id: "ssogate-oidc".into(),
            scopes: vec!["openid".into(), "email".into(), "profile".into()],
            id_token_algorithms: vec!["RS256".into()],
            claims: AttributeMapping::oidc_default(),
        },
        client_secret: Some("ssogate-oidc-secret".into()),
        redirect_uri: REDIRECT_URI.into(),
        domains: vec!["acme.test".into()],
    }
}

/// Plays the browser: opens the authorization URL, submits Keycloak's login form, and
/// returns the query of the redirect back to our redirect_uri.
async fn log_in_at_keycloak(auth_url: &str, username: &str, password: &str) -> CallbackParams {
    let browser = new_client();
    let resp = submit_login(&browser, auth_url, username, password).await;
    assert_eq!(
        resp.status(),
        302,
        "Keycloak redirects back after a good login"
    );
    let location = resp.headers()[reqwest::header::LOCATION]
        .to_str()
        .expect("location")
        .to_string();
    assert!(location.starts_with(REDIRECT_URI), "{location}");
    callback_params(&location)
}

#[tokio::test]
async fn alice_signs_in_through_keycloak() {
    let providers = ProviderCache::new(http_client().expect("client"));
    let rp = keycloak_rp();
    let s = start(&rp, &providers).await.expect("start");
    let params = log_in_at_keycloak(&s.url, "alice", "password").await;
    assert_eq!(params.state.as_deref(), Some(s.state.as_str()));
    // Keycloak 26 sends RFC 9207's iss, and advertises it (so we require it).
    assert_eq!(params.iss.as_deref(), Some(keycloak_issuer().as_str()));

    let p = finish(&rp, &providers, &params, &s.nonce, &s.pkce_verifier)
        .await
        .expect("signed in");
    assert_eq!(p.connector, "kc");
    assert!(!p.subject.is_empty());
    assert_eq!(p.raw["sub"], p.subject.as_str());
    assert_eq!(p.email.as_deref(), Some("alice@acme.test"));
    assert!(p.email_verified);
    assert_eq!(p.given_name.as_deref(), Some("Alice"));
    assert_eq!(p.family_name.as_deref(), Some("Anders"));
    assert!(
        p.groups.iter().any(|g| g == "engineering"),
        "{:?}",
        p.groups
    );
    assert_eq!(p.raw["azp"], "ssogate-oidc");

    // A code works once: the replay is refused by Keycloak at the token endpoint.
    let e = finish(&rp, &providers, &params, &s.nonce, &s.pkce_verifier)
        .await
        .unwrap_err();
    assert_eq!(e.code(), "oidc_token_exchange", "{e}");
}

#[tokio::test]
async fn keycloak_response_without_iss_is_refused() {
    // Keycloak advertises authorization_response_iss_parameter_supported: an attacker who
    // strips `iss` from the redirect gets nowhere (the code is not even exchanged).
    let providers = ProviderCache::new(http_client().expect("client"));
    let rp = keycloak_rp();
    let s = start(&rp, &providers).await.expect("start");
    let mut params = log_in_at_keycloak(&s.url, "bob", "password").await;
    params.iss = None;
    let e = finish(&rp, &providers, &params, &s.nonce, &s.pkce_verifier)
        .await
        .unwrap_err();
    assert_eq!(e.code(), "oidc_iss_missing", "{e}");
}
