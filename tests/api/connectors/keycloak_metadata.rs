//! ssogate reads Keycloak's OIDC discovery document and SAML IdP descriptor through its
//! own code (the code the connectors use).

use ssogate::app::http_client;
use ssogate::connectors::oidc::discovery::discover;
use ssogate::connectors::saml::metadata::fetch_idp_metadata;

use crate::support::{keycloak_issuer, keycloak_realm, keycloak_url};

#[tokio::test]
async fn discovers_keycloak_oidc_provider() {
    let http = http_client().expect("client");
    let issuer = keycloak_issuer();
    let md = discover(&http, &issuer).await.expect("discovery");
    assert_eq!(md.issuer().as_str(), issuer);
    assert_eq!(
        md.authorization_endpoint().as_str(),
        format!("{issuer}/protocol/openid-connect/auth")
    );
    assert!(md.token_endpoint().is_some());
    assert!(
        !md.jwks().keys().is_empty(),
        "the realm publishes signing keys"
    );
    // Keycloak 26 supports RFC 9207 and says so; our connector must then require `iss`.
    assert!(
        md.additional_metadata()
            .authorization_response_iss_parameter_supported
    );
}

#[tokio::test]
async fn discovery_of_a_wrong_issuer_fails_with_the_cause() {
    let http = http_client().expect("client");
    let err = discover(&http, &format!("{}/realms/no-such-realm", keycloak_url()))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no-such-realm"), "{err}");
}

#[tokio::test]
async fn reads_keycloak_saml_idp_descriptor() {
    let http = http_client().expect("client");
    let url = format!(
        "{}/realms/{}/protocol/saml/descriptor",
        keycloak_url(),
        keycloak_realm()
    );
    let (xml, md) = fetch_idp_metadata(&http, &url).await.expect("descriptor");
    assert!(xml.contains("EntityDescriptor"));
    assert_eq!(md.entity_id, keycloak_issuer());
    assert_eq!(
        md.sso_url_redirect.as_deref(),
        Some(format!("{}/protocol/saml", keycloak_issuer()).as_str())
    );
    assert!(!md.signing_certificates.is_empty());
    assert!(md.earliest_certificate_expiry.is_some());
}
