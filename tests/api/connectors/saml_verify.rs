//! `verify_response` against forged responses (saml_forge.rs): the positive path, and one
//! test per attack or broken field, each asserting the exact refusal code.

use std::io::ErrorKind;
use std::net::TcpListener;
use std::time::{Duration as StdDuration, Instant};

use chrono::{Duration, Utc};
use ssogate::connectors::saml::error::SamlError;
use ssogate::connectors::saml::sp::SamlSp;
use ssogate::connectors::saml::verify::{
    verify_response, Expected, VerifiedAssertion, MAX_SAML_RESPONSE_B64,
};

use crate::support::saml_forge::*;

fn verify(sp: &SamlSp, xml: &str) -> Result<VerifiedAssertion, SamlError> {
    verify_response(sp, &b64(xml), &expected())
}

/// The refusal code for `xml` at the default SP.
fn code(xml: &str) -> &'static str {
    code_at(&test_sp(), xml)
}

fn code_at(sp: &SamlSp, xml: &str) -> &'static str {
    match verify(sp, xml) {
        Ok(v) => panic!("accepted: {:?}", v.profile),
        Err(e) => e.code(),
    }
}

fn forge(change: impl FnOnce(&mut Forge)) -> String {
    let mut f = Forge::new();
    change(&mut f);
    f.response_xml()
}

// ---------------------------------------------------------------------------------------
// Accepted

#[test]
fn accepts_a_response_signed_by_the_idp() {
    let f = Forge::new();
    let v = verify(&test_sp(), &f.response_xml()).expect("accepted");
    let p = &v.profile;
    assert_eq!(p.connector, "acme");
    assert_eq!(p.subject, "G-6f1c2a9e-alice");
    assert_eq!(p.email.as_deref(), Some("alice@acme.test"));
    assert!(p.email_verified, "the IdP asserted an email");
    assert_eq!(p.given_name.as_deref(), Some("Alice"));
    assert_eq!(p.family_name.as_deref(), Some("Anders"));
    assert_eq!(p.name, None);
    assert_eq!(p.groups, vec!["engineering", "admins"]);
    assert_eq!(
        p.raw,
        serde_json::json!({
            "email": ["alice@acme.test"], "firstName": ["Alice"], "lastName": ["Anders"],
            "groups": ["engineering", "admins"]
        })
    );
    assert_eq!(
        p.session_not_on_or_after,
        f.session_not_on_or_after.map(|t| t.timestamp_millis())
    );
    assert_eq!(v.issuer, IDP_ENTITY_ID);
    assert_eq!(v.assertion_id, f.assertion_id);
    assert_eq!(v.in_response_to.as_deref(), Some(REQUEST_ID));
    // The earliest NotOnOrAfter (Conditions), plus the 60 s skew the replay cache needs.
    assert_eq!(
        v.assertion_expires_at,
        (f.not_on_or_after + Duration::seconds(60)).timestamp_millis()
    );
}

#[test]
fn accepts_an_assertion_signed_in_an_unsigned_response() {
    let v = verify(&test_sp(), &Forge::assertion_signed_only().response_xml()).expect("ok");
    assert_eq!(v.profile.subject, "G-6f1c2a9e-alice");
}

#[test]
fn accepts_base64_with_line_breaks_and_a_rolled_over_certificate_list() {
    let b = Forge::new().b64();
    let wrapped: String = b
        .as_bytes()
        .chunks(76)
        .map(|c| format!("{}\r\n", String::from_utf8_lossy(c)))
        .collect();
    let mut sp = test_sp();
    // During a key rollover the IdP publishes two certificates.
    sp.settings.idp_signing_certificates =
        vec![cert_b64(&fixture("sp.crt")), cert_b64(&fixture("idp.crt"))];
    assert!(verify_response(&sp, &wrapped, &expected()).is_ok());
}

#[test]
fn the_forger_adapts_to_any_sp_and_its_metadata_parses() {
    let sp = test_sp_for(
        "http://127.0.0.1:4321/saml/kc/acs",
        "http://127.0.0.1:4321/saml/kc/metadata",
    );
    let f = Forge::for_sp(&sp, Some("_req"));
    let exp = Expected {
        in_response_to: Some("_req".into()),
        ..expected()
    };
    assert!(verify_response(&sp, &f.b64(), &exp).is_ok());
    let md = ssogate::connectors::saml::metadata::parse_idp_metadata(&idp_metadata_xml())
        .expect("forged IdP metadata parses");
    assert_eq!(md.entity_id, IDP_ENTITY_ID);
    assert_eq!(md.signing_certificates, vec![cert_b64(&fixture("idp.crt"))]);
}

#[test]
fn subject_may_come_from_a_configured_attribute() {
    let mut sp = test_sp();
    sp.settings.attributes.subject = Some("email".into());
    let xml = forge(|f| f.name_id_format = Some(NAMEID_TRANSIENT.into()));
    let v = verify(&sp, &xml).expect("transient NameID ignored when the subject is an attribute");
    assert_eq!(v.profile.subject, "alice@acme.test");
}

// ---------------------------------------------------------------------------------------
// Signature wrapping and tampering

#[test]
fn refuses_a_second_unsigned_assertion() {
    let xml = forge(|f| {
        f.sign_response = None;
        f.extra_unsigned_assertions = 1;
    });
    assert_eq!(code(&xml), "saml_assertion_count");
    // Also inside a signed Response (the Response signature would then fail too).
    let xml = forge(|f| f.extra_unsigned_assertions = 1);
    assert_eq!(code(&xml), "saml_assertion_count");
}

#[test]
fn refuses_an_evil_assertion_placed_before_the_signed_one() {
    let f = Forge::assertion_signed_only();
    let xml = f.response_around(&format!("{}{}", f.evil_assertion_xml(0), f.assertion_xml()));
    assert_eq!(code(&xml), "saml_assertion_count");
}

#[test]
fn refuses_the_signed_assertion_moved_to_extensions_with_an_evil_one_in_its_place() {
    let f = Forge::assertion_signed_only();
    let xml = f.response_around(&format!(
        r#"<samlp:Extensions>{}</samlp:Extensions>{}"#,
        f.assertion_xml(),
        f.evil_assertion_xml(0)
    ));
    assert_eq!(code(&xml), "saml_assertion_count");
}

#[test]
fn refuses_the_signed_assertion_moved_out_of_place() {
    let f = Forge::assertion_signed_only();
    let xml = f.response_around(&format!(
        r#"<samlp:Extensions>{}</samlp:Extensions>"#,
        f.assertion_xml()
    ));
    assert_eq!(code(&xml), "saml_assertion_misplaced");
}

#[test]
fn refuses_the_signed_assertion_wrapped_in_a_signature_object() {
    // XSW: the evil assertion carries the original signature, whose Object holds the
    // original signed assertion that the Reference still points to.
    let f = Forge::assertion_signed_only();
    let signed = f.assertion_xml();
    let start = signed.find("<ds:Signature").expect("signature");
    let end = signed.find("</ds:Signature>").expect("end") + "</ds:Signature>".len();
    let sig = signed[start..end].replace(
        "</ds:Signature>",
        &format!("<ds:Object>{signed}</ds:Object></ds:Signature>"),
    );
    let evil =
        f.evil_assertion_xml(0)
            .replacen("</saml:Issuer>", &format!("</saml:Issuer>{sig}"), 1);
    let xml = f.response_around(&evil);
    assert_eq!(code(&xml), "saml_signature_structure");
}

/// A copy of the Response's genuine `<ds:Signature>` (same SignatureValue) whose Object
/// holds `payload` (no Object when empty), inserted right after the genuine one: the "decoy signature" attack on
/// verifiers that find the enveloped signature by its value (OneUptime #2981, 2026).
fn with_decoy_signature(signed_response: &str, payload: &str) -> String {
    let start = signed_response.find("<ds:Signature").expect("signature");
    let end = signed_response.find("</ds:Signature>").expect("end") + "</ds:Signature>".len();
    let decoy = if payload.is_empty() {
        signed_response[start..end].to_string()
    } else {
        signed_response[start..end].replace(
            "</ds:Signature>",
            &format!("<ds:Object>{payload}</ds:Object></ds:Signature>"),
        )
    };
    format!(
        "{}{decoy}{}",
        &signed_response[..end],
        &signed_response[end..]
    )
}

#[test]
fn refuses_a_decoy_signature_carrying_a_forged_assertion() {
    // A genuine, IdP-signed Response without an assertion (as an IdP signs its error
    // answers), plus a decoy signature whose Object holds the attacker's assertion.
    let f = Forge {
        sign_assertion: None,
        ..Forge::new()
    };
    let genuine = f.response_around("");
    assert!(xmlsec_verifies(&genuine, &fixture("idp.crt")));
    let forged = with_decoy_signature(&genuine, &f.evil_assertion_xml(0));
    assert_eq!(code(&forged), "saml_signature_structure");
    // The same around an IdP-signed error answer: refused before any assertion is read.
    let f = Forge {
        sign_assertion: None,
        status: "urn:oasis:names:tc:SAML:2.0:status:Requester".into(),
        ..Forge::new()
    };
    let forged = with_decoy_signature(&f.response_around(""), &f.evil_assertion_xml(0));
    assert_eq!(code(&forged), "saml_signature_structure");
    // A decoy next to a genuine signed assertion.
    let f = Forge::new();
    let forged = with_decoy_signature(&f.response_xml(), &f.evil_assertion_xml(0));
    assert_eq!(code(&forged), "saml_signature_structure");
    // Without an Object: a plain copy of the signature, and the forged assertion where an assertion goes.
    let f = Forge {
        sign_assertion: None,
        ..Forge::new()
    };
    let forged = with_decoy_signature(&f.response_around(""), "").replace(
        "</samlp:Status>",
        &format!("</samlp:Status>{}", f.evil_assertion_xml(0)),
    );
    assert_eq!(code(&forged), "saml_signature_structure");
    // No copy: the genuine signature itself carries the forged assertion in an Object.
    // The shapes above all hold two signatures on the Response, so the one-signature rule
    // alone refuses them; this one needs the ds:Object rule.
    let forged = f.response_around("").replacen(
        "</ds:Signature>",
        &format!(
            "<ds:Object>{}</ds:Object></ds:Signature>",
            f.evil_assertion_xml(0)
        ),
        1,
    );
    assert_eq!(code(&forged), "saml_signature_structure");
}

#[test]
fn a_signed_response_alone_is_not_enough() {
    let xml = forge(|f| f.sign_assertion = None);
    assert_eq!(code(&xml), "saml_assertion_not_signed");
}

#[test]
fn refuses_tampering_after_signing() {
    for f in [Forge::new(), Forge::assertion_signed_only()] {
        let xml = f
            .response_xml()
            .replace("alice@acme.test", "mallory@acme.test");
        assert_eq!(code(&xml), "saml_signature_invalid");
    }
}

#[test]
fn refuses_a_comment_split_name_id_rather_than_truncating_it() {
    // The attacker owns alice@acme.test.evil.com, gets it signed, then splits the text
    // with a comment (ignored by exclusive C14N, so the signature stays valid). A naive
    // reader would take "alice@acme.test". samael's reduction does not match the split
    // text against the signed content and refuses; our reader would read the full text
    // (unit test verify::full_text_reads_across_comments_and_cdata).
    let f = Forge {
        name_id_xml: "alice@acme.test.evil.com".into(),
        ..Forge::assertion_signed_only()
    };
    let xml = f.response_xml().replace(
        ">alice@acme.test.evil.com<",
        ">alice@acme.test<!---->.evil.com<",
    );
    assert!(xml.contains("alice@acme.test<!---->.evil.com"));
    assert!(
        xmlsec_verifies(&xml, &fixture("idp.crt")),
        "the signature is still cryptographically valid"
    );
    assert_eq!(code(&xml), "saml_signature_invalid");
}

#[test]
fn refuses_a_signature_by_the_attacker_whose_certificate_is_in_key_info() {
    let xml = forge(|f| {
        f.sign_response = Some(Signing::attacker());
        f.sign_assertion = Some(Signing::attacker());
    });
    assert!(xml.contains(&cert_b64(&fixture("attacker.crt"))));
    assert!(
        xmlsec_verifies(&xml, &fixture("attacker.crt")),
        "a real signature"
    );
    assert_eq!(code(&xml), "saml_signature_invalid");
}

#[test]
fn refuses_sha1_unless_the_connector_allows_it() {
    let xml = forge(|f| {
        f.sign_response = Some(Signing::sha1());
        f.sign_assertion = Some(Signing::sha1());
    });
    assert!(xml.contains(RSA_SHA1) && !xml.contains(RSA_SHA256));
    assert_eq!(code(&xml), "saml_signature_algorithm");
    let mut sp = test_sp();
    sp.settings.allow_sha1 = true;
    let v = verify(&sp, &xml).expect("accepted with allow_sha1");
    assert_eq!(v.profile.subject, "G-6f1c2a9e-alice");
}

#[test]
fn refuses_an_hmac_signature_keyed_with_the_idp_certificate() {
    let f = Forge::assertion_signed_only();
    for key in [fixture("idp.crt").into_bytes(), X509DerOf::idp().0] {
        let xml = f.response_around(&hmac_signed_assertion(&f, &key));
        assert!(xml.contains(HMAC_SHA256));
        assert_eq!(code(&xml), "saml_signature_algorithm");
        let mut sp = test_sp();
        sp.settings.allow_sha1 = true; // no list for samael then: HMAC must still fail
        assert_eq!(code_at(&sp, &xml), "saml_signature_algorithm");
    }
}

/// The IdP certificate's DER bytes (another key a naive HMAC verifier might use).
struct X509DerOf(Vec<u8>);
impl X509DerOf {
    fn idp() -> Self {
        let cert = openssl::x509::X509::from_pem(fixture("idp.crt").as_bytes()).expect("cert");
        X509DerOf(cert.to_der().expect("der"))
    }
}

#[test]
fn refuses_references_to_other_elements_and_duplicate_ids() {
    // The Response's signature names the assertion (a detached signature inside the doc).
    let f = Forge::assertion_signed_only();
    let signed = f.assertion_xml();
    let start = signed.find("<ds:Signature").expect("signature");
    let end = signed.find("</ds:Signature>").expect("end") + "</ds:Signature>".len();
    let sig = &signed[start..end];
    let unsigned = format!("{}{}", &signed[..start], &signed[end..]);
    let xml =
        f.response_around(&unsigned)
            .replacen("<samlp:Status>", &format!("{sig}<samlp:Status>"), 1);
    assert_eq!(code(&xml), "saml_signature_structure");

    let f = Forge::new();
    let xml = f.response_xml().replacen(
        "<samlp:Status>",
        &format!(
            r#"<samlp:Extensions ID="{}"/><samlp:Status>"#,
            f.assertion_id
        ),
        1,
    );
    assert_eq!(code(&xml), "saml_duplicate_id");
}

// ---------------------------------------------------------------------------------------
// Issuer, audience, destination, recipient, status

#[test]
fn refuses_another_issuer() {
    let xml = forge(|f| f.assertion_issuer = "https://evil.example/idp".into());
    assert_eq!(code(&xml), "saml_issuer_mismatch");
    let xml = forge(|f| f.response_issuer = Some("https://evil.example/idp".into()));
    assert_eq!(code(&xml), "saml_issuer_mismatch");
}

#[test]
fn refuses_another_audience_or_none() {
    let xml = forge(|f| f.audiences = Some(vec!["urn:other:sp".into()]));
    assert_eq!(code(&xml), "saml_audience_mismatch");
    let xml = forge(|f| f.audiences = None);
    assert_eq!(code(&xml), "saml_audience_missing");
    let xml = forge(|f| f.no_conditions = true);
    assert_eq!(code(&xml), "saml_audience_missing");
}

#[test]
fn refuses_another_destination() {
    for d in [
        "https://evil.example/saml/acme/acs".to_string(),
        format!("{ACS_URL}/../../evil"),
        format!("{ACS_URL}x"),
        format!("{ACS_URL}?x=1"),
    ] {
        let xml = forge(|f| f.destination = Some(d.clone()));
        assert_eq!(code(&xml), "saml_destination_mismatch", "{d}");
    }
    // Required when the Response is signed.
    let xml = forge(|f| f.destination = None);
    assert_eq!(code(&xml), "saml_destination_mismatch");
    // An unsigned Response may omit it, but not name another one.
    let mut f = Forge::assertion_signed_only();
    f.destination = None;
    assert!(verify(&test_sp(), &f.response_xml()).is_ok());
    f.destination = Some(format!("{ACS_URL}x"));
    assert_eq!(code(&f.response_xml()), "saml_destination_mismatch");
}

#[test]
fn refuses_another_recipient() {
    let xml = forge(|f| f.recipient = Some(format!("{ACS_URL}x")));
    assert_eq!(code(&xml), "saml_recipient_mismatch");
    let xml = forge(|f| f.recipient = None);
    assert_eq!(code(&xml), "saml_recipient_mismatch");
}

#[test]
fn refuses_a_failure_status() {
    let xml = forge(|f| f.status = "urn:oasis:names:tc:SAML:2.0:status:Requester".into());
    assert_eq!(code(&xml), "saml_status_not_success");
}

// ---------------------------------------------------------------------------------------
// Time

#[test]
fn refuses_expired_assertions() {
    let now = Utc::now();
    let xml = forge(|f| f.not_on_or_after = now - Duration::seconds(120));
    assert_eq!(code(&xml), "saml_expired");
    let xml = forge(|f| f.scd_not_on_or_after = now - Duration::seconds(120));
    assert_eq!(code(&xml), "saml_expired");
    // Issued long ago, whatever its window says.
    let xml = forge(|f| {
        f.response_issue_instant = now - Duration::hours(1);
        f.assertion_issue_instant = now - Duration::hours(1);
    });
    assert_eq!(code(&xml), "saml_expired");
    // Within the skew (60 s) is still fine.
    let xml = forge(|f| f.not_on_or_after = now - Duration::seconds(30));
    assert!(verify(&test_sp(), &xml).is_ok());
}

#[test]
fn refuses_assertions_not_yet_valid() {
    let xml = forge(|f| f.not_before = Utc::now() + Duration::seconds(600));
    assert_eq!(code(&xml), "saml_not_yet_valid");
}

#[test]
fn refuses_an_issue_instant_in_the_future() {
    let later = Utc::now() + Duration::seconds(600);
    let xml = forge(|f| f.assertion_issue_instant = later);
    assert_eq!(code(&xml), "saml_issue_instant_future");
    let xml = forge(|f| f.response_issue_instant = later);
    assert_eq!(code(&xml), "saml_issue_instant_future");
}

#[test]
fn refuses_an_idp_session_that_has_ended() {
    let xml = forge(|f| f.session_not_on_or_after = Some(Utc::now() - Duration::seconds(600)));
    assert_eq!(code(&xml), "saml_session_expired");
}

// ---------------------------------------------------------------------------------------
// InResponseTo and unsolicited responses

#[test]
fn refuses_an_answer_to_another_request() {
    let xml = forge(|f| f.in_response_to = Some("_other".into()));
    assert_eq!(code(&xml), "saml_in_response_to_mismatch");
    let xml = forge(|f| f.scd_in_response_to = Some("_other".into()));
    assert_eq!(code(&xml), "saml_in_response_to_mismatch");
    let xml = forge(|f| f.scd_in_response_to = None);
    assert_eq!(code(&xml), "saml_in_response_to_mismatch");
}

#[test]
fn refuses_unsolicited_responses_unless_allowed() {
    let unsolicited = Expected {
        in_response_to: None,
        ..expected()
    };
    let xml = Forge::unsolicited().response_xml();
    let err = verify_response(&test_sp(), &b64(&xml), &unsolicited).unwrap_err();
    assert_eq!(err.code(), "saml_unsolicited");

    let mut sp = test_sp();
    sp.settings.allow_idp_initiated = true;
    let v = verify_response(&sp, &b64(&xml), &unsolicited).expect("IdP-initiated allowed");
    assert_eq!(v.in_response_to, None);

    // A response that answers some request is not unsolicited: its request is elsewhere.
    let solicited = Forge::new().response_xml();
    let err = verify_response(&sp, &b64(&solicited), &unsolicited).unwrap_err();
    assert_eq!(err.code(), "saml_in_response_to_mismatch");
}

// ---------------------------------------------------------------------------------------
// Subject

#[test]
fn refuses_transient_and_unknown_name_id_formats() {
    let xml = forge(|f| f.name_id_format = Some(NAMEID_TRANSIENT.into()));
    assert_eq!(code(&xml), "saml_transient_nameid");
    let xml = forge(|f| {
        f.name_id_format = Some("urn:oasis:names:tc:SAML:2.0:nameid-format:kerberos".into())
    });
    assert_eq!(code(&xml), "saml_nameid_format");
    let xml = forge(|f| f.name_id_xml = "  ".into());
    assert_eq!(code(&xml), "saml_no_subject");
}

// ---------------------------------------------------------------------------------------
// What xmlsec must never act on

#[test]
fn refuses_doctype_and_entities() {
    let signed = Forge::new().response_xml();
    let xml = format!("<!DOCTYPE samlp:Response>{signed}");
    assert_eq!(code(&xml), "saml_doctype");
    let laughs = format!(
        r#"<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>{}"#,
        signed.replacen("G-6f1c2a9e-alice", "&b;", 1)
    );
    assert_eq!(code(&laughs), "saml_doctype");
    let xxe = format!(
        r#"<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/hostname">]>{}"#,
        signed.replacen("G-6f1c2a9e-alice", "&x;", 1)
    );
    assert_eq!(code(&xxe), "saml_doctype");
}

#[test]
fn refuses_xslt_and_other_transforms() {
    let f = Forge::assertion_signed_only();
    let signed = f.response_xml();
    let xslt = signed.replacen(
        &format!(r#"<ds:Transform Algorithm="{EXC_C14N}"/>"#),
        r#"<ds:Transform Algorithm="http://www.w3.org/TR/1999/REC-xslt-19991116"><xsl:stylesheet xmlns:xsl="http://www.w3.org/1999/XSL/Transform" version="1.0"><xsl:template match="/"><xsl:copy-of select="document('http://127.0.0.1:9/x')"/></xsl:template></xsl:stylesheet></ds:Transform>"#,
        1,
    );
    assert_ne!(xslt, signed);
    assert_eq!(code(&xslt), "saml_transform");
    let with_comments = signed.replacen(
        &format!(r#"<ds:CanonicalizationMethod Algorithm="{EXC_C14N}"/>"#),
        r#"<ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#WithComments"/>"#,
        1,
    );
    assert_ne!(with_comments, signed);
    assert_eq!(code(&with_comments), "saml_transform");
}

/// Runs verification on another thread while watching `listener`: returns the result
/// and whether anything connected (a connection is closed at once so nothing hangs).
fn verify_watching(
    listener: &TcpListener,
    xml: String,
) -> (Result<VerifiedAssertion, SamlError>, bool) {
    listener.set_nonblocking(true).expect("nonblocking");
    let sp = test_sp();
    let worker = std::thread::spawn(move || verify_response(&sp, &b64(&xml), &expected()));
    let mut connected = false;
    let deadline = Instant::now() + StdDuration::from_secs(20);
    while !worker.is_finished() && Instant::now() < deadline {
        match listener.accept() {
            Ok((stream, _)) => {
                connected = true;
                drop(stream);
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(StdDuration::from_millis(5))
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
    if let Ok((_, _)) = listener.accept() {
        connected = true;
    }
    let result = worker.join().expect("verification does not panic");
    (result, connected)
}

#[test]
fn refuses_a_reference_to_an_http_url_without_connecting() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("listener");
    let port = listener.local_addr().expect("addr").port();
    let f = Forge::assertion_signed_only();
    let xml = f.response_xml().replacen(
        &format!(r##"URI="#{}""##, f.assertion_id),
        &format!(r#"URI="http://127.0.0.1:{port}/probe""#),
        1,
    );
    assert!(xml.contains(&format!("http://127.0.0.1:{port}/probe")));
    let (result, connected) = verify_watching(&listener, xml);
    assert_eq!(result.map(|_| ()).unwrap_err().code(), "saml_reference_uri");
    assert!(!connected, "nothing may be fetched for an anonymous POST");
}

#[test]
fn refuses_a_reference_to_a_file() {
    let f = Forge::assertion_signed_only();
    let xml = f.response_xml().replacen(
        &format!(r##"URI="#{}""##, f.assertion_id),
        r#"URI="file:///etc/hostname""#,
        1,
    );
    assert!(xml.contains("file:///etc/hostname"));
    assert_eq!(code(&xml), "saml_reference_uri");
}

#[test]
fn refuses_retrieval_method_in_key_info() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("listener");
    let port = listener.local_addr().expect("addr").port();
    let xml = Forge::assertion_signed_only().response_xml().replacen(
        "<ds:KeyInfo>",
        &format!(r#"<ds:KeyInfo><ds:RetrievalMethod URI="http://127.0.0.1:{port}/key" Type="http://www.w3.org/2000/09/xmldsig#X509Data"/>"#),
        1,
    );
    let (result, connected) = verify_watching(&listener, xml);
    assert_eq!(
        result.map(|_| ()).unwrap_err().code(),
        "saml_retrieval_method"
    );
    assert!(!connected);
}

#[test]
fn refuses_unsigned_responses() {
    let xml = forge(|f| {
        f.sign_response = None;
        f.sign_assertion = None;
    });
    assert_eq!(code(&xml), "saml_signature_missing");
}

#[test]
fn refuses_when_no_idp_certificate_is_configured() {
    // samael would verify nothing at all (docs/DEPENDENCY-GUARDS.md): a forged unsigned response.
    let mut sp = test_sp();
    sp.settings.idp_signing_certificates.clear();
    let xml = forge(|f| {
        f.sign_response = None;
        f.sign_assertion = None;
    });
    assert_eq!(code_at(&sp, &xml), "saml_not_configured");
}

// ---------------------------------------------------------------------------------------
// Input that is not a SAML Response

#[test]
fn refuses_bad_base64_non_xml_and_oversized_bodies() {
    let sp = test_sp();
    let err = verify_response(&sp, "%%%not base64%%%", &expected()).unwrap_err();
    assert_eq!(err.code(), "saml_bad_base64");
    assert_eq!(code("this is not XML"), "saml_not_xml");
    assert_eq!(code("<samlp:Response"), "saml_not_xml");
    assert_eq!(code("<html><body>hi</body></html>"), "saml_not_a_response");
    let latin1 = format!(
        r#"<?xml version="1.0" encoding="ISO-8859-1"?>{}"#,
        Forge::new().response_xml()
    );
    assert_eq!(code(&latin1), "saml_not_xml");
    let big = "A".repeat(MAX_SAML_RESPONSE_B64 + 4);
    let err = verify_response(&sp, &big, &expected()).unwrap_err();
    assert_eq!(err.code(), "saml_body_too_large");
}

// ---------------------------------------------------------------------------------------
// Encrypted assertions

fn encrypted(enc: Encryption, change: impl FnOnce(&mut Forge)) -> String {
    forge(|f| {
        f.encrypt = Some(enc);
        change(f)
    })
}

#[test]
fn accepts_encrypted_assertions_keycloak_default_and_oaep_mgf1p() {
    for enc in [
        Encryption::keycloak_default(),
        Encryption {
            key_transport: KeyTransport::RsaOaepMgf1p,
            data: DataEncryption::Aes128Gcm,
            ..Encryption::keycloak_default()
        },
    ] {
        let xml = encrypted(enc, |_| {});
        assert!(xml.contains("EncryptedAssertion") && !xml.contains("<saml:Assertion"));
        let v = verify(&test_sp(), &xml).expect("decrypted and verified");
        assert_eq!(v.profile.subject, "G-6f1c2a9e-alice");
        assert_eq!(v.profile.email.as_deref(), Some("alice@acme.test"));
    }
}

#[test]
fn refuses_rsa_1_5_and_cbc() {
    let rsa15 = Encryption {
        key_transport: KeyTransport::Rsa15,
        ..Encryption::keycloak_default()
    };
    assert_eq!(code(&encrypted(rsa15, |_| {})), "saml_encryption_algorithm");
    let cbc = Encryption {
        data: DataEncryption::Aes128Cbc,
        ..Encryption::keycloak_default()
    };
    assert_eq!(code(&encrypted(cbc, |_| {})), "saml_encryption_algorithm");
}

#[test]
fn refuses_an_encrypted_assertion_in_an_unsigned_response() {
    let xml = encrypted(Encryption::keycloak_default(), |f| f.sign_response = None);
    assert_eq!(code(&xml), "saml_encrypted_response_not_signed");
}

#[test]
fn refuses_an_unsigned_or_tampered_assertion_inside_the_encryption() {
    let xml = encrypted(Encryption::keycloak_default(), |f| f.sign_assertion = None);
    assert_eq!(code(&xml), "saml_assertion_not_signed");
    // Signed by the attacker, then encrypted and wrapped in a genuinely signed Response.
    let xml = encrypted(Encryption::keycloak_default(), |f| {
        f.sign_assertion = Some(Signing::attacker())
    });
    assert_eq!(code(&xml), "saml_signature_invalid");
}

#[test]
fn checks_the_decrypted_assertion_like_any_other() {
    let xml = encrypted(Encryption::keycloak_default(), |f| {
        f.audiences = Some(vec!["urn:other:sp".into()])
    });
    assert_eq!(code(&xml), "saml_audience_mismatch");
    let xml = encrypted(Encryption::keycloak_default(), |f| {
        f.scd_in_response_to = Some("_other".into())
    });
    assert_eq!(code(&xml), "saml_in_response_to_mismatch");
}

#[test]
fn refuses_an_assertion_encrypted_for_another_key() {
    let other = Encryption {
        recipient_cert_pem: fixture("attacker.crt"),
        ..Encryption::keycloak_default()
    };
    assert_eq!(code(&encrypted(other, |_| {})), "saml_decrypt_failed");
}

// ---------------------------------------------------------------------------------------
// No panics, whatever arrives

#[test]
fn survives_deep_nesting() {
    let depth = 50_000;
    let deep = format!(
        "{}{}",
        "<samlp:Extensions>".repeat(depth),
        "</samlp:Extensions>".repeat(depth)
    );
    let xml =
        Forge::new()
            .response_xml()
            .replacen("<samlp:Status>", &format!("{deep}<samlp:Status>"), 1);
    let sp = test_sp();
    let b = b64(&xml);
    // On a 2 MiB stack, like tokio's blocking pool threads.
    let result = std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(move || verify_response(&sp, &b, &expected()).map(|_| ()))
        .expect("thread")
        .join()
        .expect("no panic");
    assert!(result.is_err(), "{result:?}");
}

#[test]
fn survives_truncated_and_mangled_responses() {
    let sp = test_sp();
    for f in [
        Forge::new(),
        Forge {
            encrypt: Some(Encryption::keycloak_default()),
            ..Forge::new()
        },
    ] {
        let xml = f.response_xml();
        let bytes = xml.as_bytes();
        let step = (bytes.len() / 150).max(1);
        for cut in (0..bytes.len()).step_by(step) {
            let truncated = String::from_utf8_lossy(&bytes[..cut]).into_owned();
            let r = std::panic::catch_unwind(|| verify(&sp, &truncated).map(|_| ()));
            assert!(matches!(r, Ok(Err(_))), "truncated at {cut}: {r:?}");
        }
        for (i, at) in (0..bytes.len()).step_by(step).enumerate() {
            let mut mangled = bytes.to_vec();
            mangled[at] = b"<>&\"'/=#x \0"[i % 11];
            let mangled = String::from_utf8_lossy(&mangled).into_owned();
            let r = std::panic::catch_unwind(|| verify(&sp, &mangled).map(|_| ()));
            assert!(r.is_ok(), "panicked with a byte changed at {at}");
        }
    }
}
