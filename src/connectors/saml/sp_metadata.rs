//! Our own SP metadata (samael's is wrong in ways docs/DEPENDENCY-GUARDS.md lists): entity ID, ACS
//! (HTTP-POST), separate signing and encryption KeyDescriptors (one of each per
//! certificate: the current one and a staged next one), a truthful
//! AuthnRequestsSigned, WantAssertionsSigned, the encryption methods we can decrypt.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use openssl::x509::X509;

use super::decrypt::{DATA_ALGORITHMS, KEY_TRANSPORT_ALGORITHMS};
use super::metadata::BINDING_POST;
use super::sp::SamlSp;
use super::xml_escape::escape;

const NAMEID_PERSISTENT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent";

pub fn sp_metadata_xml(sp: &SamlSp) -> String {
    // The current certificate first, then a staged next one (published before it signs, so
    // the IdP knows it when it is activated; both decrypt meanwhile).
    let certs: Vec<String> = std::iter::once(sp.sp_certificate_pem.as_str())
        .chain(sp.settings.next_sp_certificate_pem.as_deref())
        .filter_map(certificate_b64)
        .collect();
    let key_descriptor = |usage: &str, methods: &str| -> String {
        certs
            .iter()
            .map(|c| {
                format!(
                    r#"<md:KeyDescriptor use="{usage}"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>{methods}</md:KeyDescriptor>"#,
                    escape(c)
                )
            })
            .collect()
    };
    let encryption_methods: String = DATA_ALGORITHMS
        .iter()
        .chain(KEY_TRANSPORT_ALGORITHMS.iter())
        .map(|a| format!(r#"<md:EncryptionMethod Algorithm="{a}"/>"#))
        .collect();
    format!(
        concat!(
            r#"<?xml version="1.0" encoding="UTF-8"?>"#,
            r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" "#,
            r#"xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{entity_id}">"#,
            r#"<md:SPSSODescriptor AuthnRequestsSigned="{signed}" WantAssertionsSigned="true" "#,
            r#"protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">"#,
            "{signing}{encryption}",
            r#"<md:NameIDFormat>{nameid}</md:NameIDFormat>"#,
            r#"<md:AssertionConsumerService Binding="{binding}" Location="{acs}" index="0" isDefault="true"/>"#,
            r#"</md:SPSSODescriptor></md:EntityDescriptor>"#
        ),
        entity_id = escape(&sp.sp_entity_id),
        signed = sp.settings.sign_authn_requests,
        signing = key_descriptor("signing", ""),
        encryption = key_descriptor("encryption", &encryption_methods),
        nameid = NAMEID_PERSISTENT,
        binding = BINDING_POST,
        acs = escape(&sp.acs_url),
    )
}

/// The certificate as base64 DER; None if the PEM does not hold a certificate (then no
/// KeyDescriptor is published rather than a broken one).
fn certificate_b64(pem: &str) -> Option<String> {
    let cert = X509::from_pem(pem.as_bytes()).ok()?;
    Some(B64.encode(cert.to_der().ok()?))
}

#[cfg(test)]
mod tests {
    use super::super::authn_request::tests::test_sp;
    use super::*;

    const MD: &str = "urn:oasis:names:tc:SAML:2.0:metadata";

    #[test]
    fn metadata_is_truthful_and_escaped() {
        for sign in [false, true] {
            let sp = test_sp(sign);
            let xml = sp_metadata_xml(&sp);
            let doc = roxmltree::Document::parse(&xml).expect("well-formed");
            let root = doc.root_element();
            assert!(root.has_tag_name((MD, "EntityDescriptor")));
            assert_eq!(root.attribute("entityID"), Some(sp.sp_entity_id.as_str()));
            let spsso = root
                .children()
                .find(|c| c.has_tag_name((MD, "SPSSODescriptor")))
                .expect("SPSSODescriptor");
            let signed = if sign { "true" } else { "false" };
            assert_eq!(spsso.attribute("AuthnRequestsSigned"), Some(signed));
            assert_eq!(spsso.attribute("WantAssertionsSigned"), Some("true"));

            let kds: Vec<_> = spsso
                .children()
                .filter(|c| c.has_tag_name((MD, "KeyDescriptor")))
                .collect();
            let uses: Vec<_> = kds.iter().filter_map(|k| k.attribute("use")).collect();
            assert_eq!(uses, ["signing", "encryption"]);
            let expected_cert = certificate_b64(&sp.sp_certificate_pem).expect("cert");
            for kd in &kds {
                let cert = kd
                    .descendants()
                    .find(|d| d.has_tag_name("X509Certificate"))
                    .and_then(|c| c.text());
                assert_eq!(cert, Some(expected_cert.as_str()));
            }
            let methods: Vec<_> = kds[1]
                .children()
                .filter(|c| c.has_tag_name((MD, "EncryptionMethod")))
                .filter_map(|m| m.attribute("Algorithm"))
                .collect();
            assert!(methods.contains(&"http://www.w3.org/2009/xmlenc11#aes256-gcm"));
            assert!(methods.contains(&"http://www.w3.org/2009/xmlenc11#rsa-oaep"));
            assert!(!methods
                .iter()
                .any(|m| m.contains("cbc") || m.contains("1_5")));

            let nameid = spsso
                .children()
                .find(|c| c.has_tag_name((MD, "NameIDFormat")))
                .and_then(|n| n.text());
            assert_eq!(nameid, Some(NAMEID_PERSISTENT));
            let acs = spsso
                .children()
                .find(|c| c.has_tag_name((MD, "AssertionConsumerService")))
                .expect("ACS");
            assert_eq!(acs.attribute("Binding"), Some(BINDING_POST));
            assert_eq!(acs.attribute("Location"), Some(sp.acs_url.as_str()));
        }
    }
    #[test]
    fn a_staged_certificate_is_published_after_the_current_one() {
        let mut sp = test_sp(true);
        let next = crate::connectors::saml::keys::SpKeyPair::generate("next").expect("pair");
        sp.settings.next_sp_certificate_pem = Some(next.certificate_pem.clone());
        let xml = sp_metadata_xml(&sp);
        let doc = roxmltree::Document::parse(&xml).expect("well-formed");
        let kds: Vec<(Option<&str>, Option<&str>)> = doc
            .descendants()
            .filter(|c| c.has_tag_name((MD, "KeyDescriptor")))
            .map(|k| {
                (
                    k.attribute("use"),
                    k.descendants()
                        .find(|d| d.has_tag_name("X509Certificate"))
                        .and_then(|c| c.text()),
                )
            })
            .collect();
        let current = certificate_b64(&sp.sp_certificate_pem).expect("cert");
        let next = certificate_b64(&next.certificate_pem).expect("cert");
        assert_eq!(
            kds,
            [
                (Some("signing"), Some(current.as_str())),
                (Some("signing"), Some(next.as_str())),
                (Some("encryption"), Some(current.as_str())),
                (Some("encryption"), Some(next.as_str())),
            ]
        );
    }
}
