//! IdP metadata: parsed with samael after the safe pre-check, fetched by us (samael
//! never fetches metadata). A descriptor without a signing certificate is refused:
//! samael would then skip signature verification altogether and accept a forged,
//! unsigned Response (docs/DEPENDENCY-GUARDS.md).

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use openssl::x509::X509;
use std::str::FromStr;

use samael::metadata::EntityDescriptor;

use super::xml_guard::{parse_untrusted, XmlGuardError};

pub const BINDING_REDIRECT: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
pub const BINDING_POST: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";

/// What ssogate needs from an IdP's metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct IdpMetadata {
    pub entity_id: String,
    /// SSO endpoint for the HTTP-Redirect binding (how we send AuthnRequests).
    pub sso_url_redirect: Option<String>,
    pub sso_url_post: Option<String>,
    /// Base64 DER of every signing certificate (more than one during a key rollover).
    pub signing_certificates: Vec<String>,
    /// The earliest `notAfter` among them (unix seconds), for the linter.
    pub earliest_certificate_expiry: Option<i64>,
}

#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    #[error("IdP metadata: {0}")]
    Xml(#[from] XmlGuardError),
    #[error("IdP metadata: not a SAML EntityDescriptor ({0})")]
    Parse(String),
    #[error("IdP metadata: no IDPSSODescriptor")]
    NoIdp,
    #[error("IdP metadata: no entityID")]
    NoEntityId,
    #[error("IdP metadata: no SingleSignOnService with the HTTP-Redirect or HTTP-POST binding")]
    NoSsoService,
    #[error("IdP metadata: no signing certificate (refused: responses could not be verified)")]
    NoSigningCertificate,
    #[error("IdP metadata: a signing certificate is not a valid X.509 certificate")]
    BadCertificate,
    #[error("IdP metadata: fetching {url}: {cause}")]
    Fetch { url: String, cause: String },
}

pub fn parse_idp_metadata(xml: &str) -> Result<IdpMetadata, MetadataError> {
    let doc = parse_untrusted(xml)?;
    if doc.root_element().tag_name().name() != "EntityDescriptor" {
        return Err(MetadataError::Parse(format!(
            "root element is {}",
            doc.root_element().tag_name().name()
        )));
    }
    let ed: EntityDescriptor =
        EntityDescriptor::from_str(xml).map_err(|e| MetadataError::Parse(e.to_string()))?;
    let entity_id = ed
        .entity_id
        .clone()
        .filter(|s| !s.trim().is_empty())
        .ok_or(MetadataError::NoEntityId)?;
    let idp = ed
        .idp_sso_descriptors
        .as_ref()
        .and_then(|v| v.first())
        .ok_or(MetadataError::NoIdp)?;
    let endpoint = |binding: &str| {
        idp.single_sign_on_services
            .iter()
            .find(|e| e.binding == binding)
            .map(|e| e.location.clone())
    };
    let sso_url_redirect = endpoint(BINDING_REDIRECT);
    let sso_url_post = endpoint(BINDING_POST);
    if sso_url_redirect.is_none() && sso_url_post.is_none() {
        return Err(MetadataError::NoSsoService);
    }
    let mut signing_certificates = Vec::new();
    let mut earliest: Option<i64> = None;
    for kd in &idp.key_descriptors {
        // A KeyDescriptor without `use` serves both signing and encryption.
        if kd.key_use.as_deref().is_some_and(|u| u != "signing") {
            continue;
        }
        for cert in kd
            .key_info
            .x509_data
            .iter()
            .flat_map(|d| d.certificates.iter())
        {
            let b64: String = cert.chars().filter(|c| !c.is_whitespace()).collect();
            let der = B64
                .decode(&b64)
                .map_err(|_| MetadataError::BadCertificate)?;
            let x509 = X509::from_der(&der).map_err(|_| MetadataError::BadCertificate)?;
            let not_after = asn1_to_unix(x509.not_after());
            earliest = Some(earliest.map_or(not_after, |e| e.min(not_after)));
            if !signing_certificates.contains(&b64) {
                signing_certificates.push(b64);
            }
        }
    }
    if signing_certificates.is_empty() {
        return Err(MetadataError::NoSigningCertificate);
    }
    Ok(IdpMetadata {
        entity_id,
        sso_url_redirect,
        sso_url_post,
        signing_certificates,
        earliest_certificate_expiry: earliest,
    })
}

/// Seconds since the epoch of an ASN.1 time.
pub fn asn1_to_unix(t: &openssl::asn1::Asn1TimeRef) -> i64 {
    let epoch = openssl::asn1::Asn1Time::from_unix(0).expect("the epoch is a valid time");
    match epoch.diff(t) {
        Ok(d) => d.days as i64 * 86_400 + d.secs as i64,
        Err(_) => 0,
    }
}

/// Fetches and parses metadata from `url` (http/https only, no redirects, size-capped).
pub async fn fetch_idp_metadata(
    http: &reqwest::Client,
    url: &str,
) -> Result<(String, IdpMetadata), MetadataError> {
    let fetch_err = |cause: String| MetadataError::Fetch {
        url: url.to_string(),
        cause,
    };
    let parsed = url::Url::parse(url).map_err(|e| fetch_err(e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(fetch_err("only http and https URLs are fetched".into()));
    }
    let resp = http
        .get(parsed)
        .send()
        .await
        .map_err(|e| fetch_err(e.to_string()))?;
    if !resp.status().is_success() {
        return Err(fetch_err(format!("HTTP {}", resp.status())));
    }
    if resp
        .content_length()
        .is_some_and(|n| n as usize > super::xml_guard::MAX_XML_BYTES)
    {
        return Err(MetadataError::Xml(XmlGuardError::TooLarge));
    }
    let bytes = resp.bytes().await.map_err(|e| fetch_err(e.to_string()))?;
    if bytes.len() > super::xml_guard::MAX_XML_BYTES {
        return Err(MetadataError::Xml(XmlGuardError::TooLarge));
    }
    let xml = String::from_utf8(bytes.to_vec()).map_err(|_| fetch_err("not UTF-8".into()))?;
    let md = parse_idp_metadata(&xml)?;
    Ok((xml, md))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert_b64() -> String {
        let pem = include_str!("../../../tests/fixtures/saml/idp.crt");
        let x = X509::from_pem(pem.as_bytes()).expect("fixture cert");
        B64.encode(x.to_der().expect("der"))
    }

    fn metadata(key_descriptor: &str) -> String {
        format!(
            r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="https://idp.example/realms/x">
<md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">{key_descriptor}
<md:SingleSignOnService Binding="{BINDING_REDIRECT}" Location="https://idp.example/sso"/>
</md:IDPSSODescriptor></md:EntityDescriptor>"#
        )
    }

    #[test]
    fn parses_entity_sso_and_certificates() {
        let kd = format!(
            r#"<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"#,
            cert_b64()
        );
        let md = parse_idp_metadata(&metadata(&kd)).expect("parses");
        assert_eq!(md.entity_id, "https://idp.example/realms/x");
        assert_eq!(
            md.sso_url_redirect.as_deref(),
            Some("https://idp.example/sso")
        );
        assert_eq!(md.signing_certificates, vec![cert_b64()]);
        assert!(md
            .earliest_certificate_expiry
            .is_some_and(|t| t > 1_700_000_000));
    }

    #[test]
    fn refuses_metadata_without_a_signing_certificate() {
        assert!(matches!(
            parse_idp_metadata(&metadata("")),
            Err(MetadataError::NoSigningCertificate)
        ));
        let enc_only = format!(
            r#"<md:KeyDescriptor use="encryption"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"#,
            cert_b64()
        );
        assert!(matches!(
            parse_idp_metadata(&metadata(&enc_only)),
            Err(MetadataError::NoSigningCertificate)
        ));
    }

    #[test]
    fn refuses_garbage_certificates_and_doctype() {
        let kd = r#"<md:KeyDescriptor><ds:KeyInfo><ds:X509Data><ds:X509Certificate>AAAA</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"#;
        assert!(matches!(
            parse_idp_metadata(&metadata(kd)),
            Err(MetadataError::BadCertificate)
        ));
        let doctype = format!("<!DOCTYPE x>{}", metadata(""));
        assert!(matches!(
            parse_idp_metadata(&doctype),
            Err(MetadataError::Xml(XmlGuardError::Doctype))
        ));
    }
}
