//! The OIDC relying party against the real Keycloak of the test realm: a person signs in
//! through Keycloak's login form, ssogate finishes the code flow (RFC 9207 `iss`, PKCE,
//! client_secret_basic, ID token, userinfo — also signed) and maps the profile.

use crate::support::keycloak::submit_login;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ssogate::app::http_client;
use ssogate::connectors::oidc::rp::{finish, start, CallbackParams, OidcRp, ProviderCache};
use ssogate::connectors::oidc::userinfo::{self, UserinfoBody};
use ssogate::connectors::settings::{AttributeMapping, OidcSettings};

use crate::support::oidc_mock::callback_params;
use crate::support::{keycloak_issuer, new_client};

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
        allow_insecure_http: false,
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

/// The realm's client that has Keycloak sign userinfo (RS256) and puts `groups` only there.
fn signed_userinfo_rp() -> OidcRp {
    let mut rp = keycloak_rp();
    rp.connector_id = "kc-signed-userinfo".into();
    rp.settings.client_id = "ssogate-oidc-signed-userinfo".into();
    rp.client_secret = Some("ssogate-oidc-signed-userinfo-secret".into());
    rp
}

#[tokio::test]
async fn keycloak_signed_userinfo_is_verified_and_used() {
    let providers = ProviderCache::new(http_client().expect("client"));
    let rp = signed_userinfo_rp();
    let provider = providers
        .provider(&rp.settings.issuer)
        .await
        .expect("discovery");

    // What Keycloak's userinfo endpoint answers for this client: a signed JWT.
    let token_url = format!("{}/protocol/openid-connect/token", keycloak_issuer());
    let tokens: serde_json::Value = new_client()
        .post(&token_url)
        .basic_auth(
            "ssogate-oidc-signed-userinfo",
            Some("ssogate-oidc-signed-userinfo-secret"),
        )
        .form(&[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", "password"),
            ("scope", "openid email profile"),
        ])
        .send()
        .await
        .expect("token endpoint")
        .json()
        .await
        .expect("token JSON");
    let access_token = tokens["access_token"].as_str().expect("access_token");
    let url = provider
        .metadata
        .userinfo_endpoint()
        .expect("userinfo endpoint")
        .url()
        .to_string();
    let body = userinfo::fetch(providers.http(), &url, access_token)
        .await
        .expect("userinfo");
    let jwt = match &body {
        UserinfoBody::Jwt(jwt) => jwt.clone(),
        other => panic!("Keycloak answered JSON, not a signed JWT: {other:?}"),
    };
    assert_eq!(jwt.split('.').count(), 3);
    let claims = userinfo::claims(&rp, &providers, &provider, body)
        .await
        .expect("verified");
    assert_eq!(claims["iss"], keycloak_issuer().as_str());
    assert_eq!(claims["email"], "alice@acme.test");

    // Tampered with, it is refused.
    let parts: Vec<&str> = jwt.split('.').collect();
    let mut forged: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).expect("payload base64"))
            .expect("payload JSON");
    forged["email"] = "mallory@acme.test".into();
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(forged.to_string()),
        parts[2]
    );
    let e = userinfo::claims(&rp, &providers, &provider, UserinfoBody::Jwt(forged))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "oidc_userinfo_signature_invalid", "{e}");

    // A whole sign-in through the login form: the groups, which this client's ID token
    // lacks, come from the verified userinfo.
    let s = start(&rp, &providers).await.expect("start");
    let params = log_in_at_keycloak(&s.url, "alice", "password").await;
    let p = finish(&rp, &providers, &params, &s.nonce, &s.pkce_verifier)
        .await
        .expect("signed in");
    assert_eq!(p.email.as_deref(), Some("alice@acme.test"));
    assert!(
        p.groups.iter().any(|g| g == "engineering"),
        "{:?}",
        p.groups
    );
}
