//! The ACS: verifying a SAML Response. Pure and CPU-bound; the caller runs it on the
//! blocking pool, catches panics, and does what needs the database (InResponseTo lookup
//! before, replay cache after).
//!
//! # The pipeline
//!
//! 1. size cap on the base64 text ([`MAX_SAML_RESPONSE_B64`]) → base64 (whitespace and
//!    missing padding tolerated) → UTF-8 → XML declaration says UTF-8 (or nothing), so
//!    roxmltree and libxml2 read the same characters;
//! 2. [`super::precheck::check_response`] with roxmltree, before libxml2/xmlsec see
//!    anything: no DOCTYPE, references/transforms/KeyInfo/algorithms whitelisted, one
//!    assertion in place, signatures where SAML puts them, Status Success;
//! 3. unsolicited responses refused unless the connector allows IdP-initiated login;
//! 4. xmlsec (through samael's `reduce_xml_to_signed_with_allowed_algorithms`) verifies
//!    EVERY signature in the document with the configured IdP certificates only and
//!    returns the signed content alone; everything we read about the person comes from
//!    that reduced document, so an unsigned look-alike placed anywhere cannot be read;
//! 5. our checks on the signed content (below); for an EncryptedAssertion: decrypt
//!    ([`super::decrypt`]) the one in the signed Response, pre-check the plaintext, verify
//!    its own signature the same way, and check it as a standalone assertion (it is NOT
//!    spliced back: the Response signature covers the ciphertext, and the assertion's
//!    enveloped signature with exclusive C14N does not depend on where it sits);
//! 6. samael's `ServiceProvider::parse_xml_response` runs last as a second, independent
//!    opinion on the same document (same certificates and algorithm list), its errors
//!    mapped to our codes.
//!
//! # What samael 0.0.22 does and does not do (read in its source, probed by our tests)
//!
//! Does: `ServiceProvider::parse_xml_response_with_mode` calls
//! `Crypto::reduce_xml_to_signed_with_allowed_algorithms` (default
//! `ReduceMode::ValidateAndMarkNoAncestors`) when the IdP metadata has signing
//! certificates: every `ds:Signature` must verify with one of those certificates (the key
//! is set on the xmlsec context, KeyInfo is never used), the algorithm list is applied to
//! SignatureMethod and every DigestMethod, duplicate `ID`s are refused, and all nodes not
//! matched against a verified reference's pre-digest content are pruned; the Response or
//! the Assertion is then deserialized from that reduced XML only. A signed-content text
//! node split by a comment (`alice@acme.test<!---->.evil.com`) does not match the
//! comment-free pre-digest content, so the reduction fails and the response is refused.
//! It checks Issuer (Response only when present), Destination (when the Response is signed
//! or has one), Status, InResponseTo (unless `allow_idp_initiated`), IssueInstant age
//! (`max_issue_delay`), Conditions NotBefore/NotOnOrAfter and SubjectConfirmationData
//! times with `max_clock_skew`, bearer confirmation with Recipient == ACS URL.
//!
//! Does not (each handled here, each with a test): restrict Reference URIs, transforms or
//! KeyInfo before xmlsec acts on them (precheck); verify anything at all when the metadata
//! has no signing certificate (we build its IdP descriptor from our settings and refuse to
//! run without a certificate); refuse unsigned assertions inside a signed Response; count
//! assertions in the raw document; require AudienceRestriction; refuse a future
//! IssueInstant; honour SessionNotOnOrAfter; look at NameID formats; use the caller's
//! clock (it uses `Utc::now()`, so [`Expected::now`] must be the wall clock too); decrypt
//! Keycloak's default encryption; express SHA-1 in `AllowedSignatureAlgorithm` (with
//! `allow_sha1` samael gets no list and our pre-check's list is the only one).
//! Its checks on the Response (Destination, Status, InResponseTo) only run when the
//! Response itself is signed; ours run on what is signed and refuse what is not. Its
//! "Destination is required on a signed Response" rule never fires: it looks for the
//! Response's `Signature` in the reduced document, from which the enveloped-signature
//! transform has removed it (probed: a signed Response without Destination passes
//! samael). Extra unsigned assertions are pruned, not refused, and with
//! `allow_idp_initiated` any InResponseTo is accepted (ours: refused).

use std::str::FromStr;

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use chrono::{DateTime, Utc};
use openssl::x509::X509;
use roxmltree::{Document, Node};
use samael::crypto::{
    AllowedSignatureAlgorithm, CertificateDer, Crypto, CryptoProvider, ReduceMode,
};
use samael::metadata::EntityDescriptor;
use samael::service_provider::{Error as SamaelError, ServiceProvider};
use serde_json::{Map, Value};

use super::error::SamlError;
use super::metadata::BINDING_REDIRECT;
use super::precheck::{self, children, is, unique_child, AssertionShape, NS_SAML, NS_SAMLP};
use super::sp::SamlSp;
use super::xml_escape::escape;
use super::xml_guard::{parse_untrusted, XmlGuardError};
use crate::connectors::ExternalProfile;

/// Largest POST body accepted at the ACS (checked before base64 decoding).
pub const MAX_SAML_RESPONSE_B64: usize = 512 * 1024;

/// The clock skew a caller may ask for is capped here ("bounded skew").
pub const MAX_CLOCK_SKEW_SECS: i64 = 300;

/// A Response or Assertion issued longer ago than this (plus skew) is refused, whatever
/// its NotOnOrAfter says.
pub const MAX_ISSUE_AGE_SECS: i64 = 180;

/// NameID values longer than this are refused (an identity key, not a document).
const MAX_SUBJECT_LEN: usize = 1024;

const NAMEID_PERSISTENT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent";
const NAMEID_TRANSIENT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient";
const NAMEID_UNSPECIFIED: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified";
const NAMEID_EMAIL: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress";
const CM_BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";
const NS_XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";

#[derive(Debug, Clone)]
pub struct Expected {
    /// The ID of the AuthnRequest this browser sent; None for an unsolicited response
    /// (refused unless the connector allows IdP-initiated login).
    pub in_response_to: Option<String>,
    /// The wall clock (samael, run as a second opinion, reads `Utc::now()` itself).
    pub now: DateTime<Utc>,
    /// Allowed clock difference with the IdP, seconds (capped at [`MAX_CLOCK_SKEW_SECS`]).
    pub max_clock_skew_secs: i64,
}

#[derive(Debug, Clone)]
pub struct VerifiedAssertion {
    pub profile: ExternalProfile,
    pub issuer: String,
    pub assertion_id: String,
    /// Until when the assertion ID must be remembered (unix ms): the earliest of the
    /// assertion's NotOnOrAfter times, plus the allowed clock skew (after that instant the
    /// assertion is refused as expired anyway).
    pub assertion_expires_at: i64,
    pub in_response_to: Option<String>,
}

pub fn verify_response(
    sp: &SamlSp,
    saml_response_b64: &str,
    expected: &Expected,
) -> Result<VerifiedAssertion, SamlError> {
    let xml = decode(saml_response_b64)?;
    let idp = IdpTrust::from_settings(sp)?;
    let ctx = Ctx {
        sp,
        expected,
        now: expected.now,
        skew: chrono::Duration::seconds(expected.max_clock_skew_secs.clamp(0, MAX_CLOCK_SKEW_SECS)),
    };
    let allow_sha1 = sp.settings.allow_sha1;

    let doc = parse(&xml)?;
    let shape = precheck::check_response(&doc, allow_sha1)?;
    if expected.in_response_to.is_none() && !sp.settings.allow_idp_initiated {
        return Err(SamlError::Unsolicited);
    }

    let reduced = reduce_to_signed(&xml, &idp, allow_sha1)?;
    let rdoc = parse_own(&reduced)?;
    let rroot = rdoc.root_element();

    let facts = match &shape.assertion {
        AssertionShape::Plain { id } => {
            let (response, assertion) = if shape.response_signed {
                if !is(rroot, NS_SAMLP, "Response")
                    || rroot.attribute("ID") != Some(shape.response_id.as_str())
                {
                    return Err(SamlError::SignatureInvalid);
                }
                let assertion = unique_child(rroot, NS_SAML, "Assertion")?
                    .ok_or(SamlError::SignatureInvalid)?;
                (rroot, assertion)
            } else {
                if !is(rroot, NS_SAML, "Assertion") {
                    return Err(SamlError::SignatureInvalid);
                }
                (doc.root_element(), rroot)
            };
            if assertion.attribute("ID") != Some(id.as_str()) {
                return Err(SamlError::SignatureInvalid);
            }
            check_response(response, shape.response_signed, &ctx)?;
            let facts = check_assertion(assertion, &ctx)?;
            samael_second_opinion(&xml, &idp, &ctx)?;
            facts
        }
        AssertionShape::Encrypted => {
            if !is(rroot, NS_SAMLP, "Response")
                || rroot.attribute("ID") != Some(shape.response_id.as_str())
            {
                return Err(SamlError::SignatureInvalid);
            }
            check_response(rroot, true, &ctx)?;
            // The EncryptedAssertion read from the signed content, never from the raw one.
            let encrypted = unique_child(rroot, NS_SAML, "EncryptedAssertion")?
                .ok_or(SamlError::SignatureInvalid)?;
            let plaintext = decrypt_with_sp_keys(encrypted, sp)?;
            let wrapped = wrap_decrypted(encrypted, &plaintext)?;
            let ddoc = parse(&wrapped)?;
            let assertion_id = precheck::check_decrypted(&ddoc, allow_sha1)?;
            let dreduced = reduce_to_signed(&wrapped, &idp, allow_sha1)?;
            let drdoc = parse_own(&dreduced)?;
            let assertion = drdoc.root_element();
            if !is(assertion, NS_SAML, "Assertion")
                || assertion.attribute("ID") != Some(assertion_id.as_str())
            {
                return Err(SamlError::SignatureInvalid);
            }
            let facts = check_assertion(assertion, &ctx)?;
            samael_second_opinion(&wrapped, &idp, &ctx)?;
            facts
        }
    };
    Ok(facts.into_verified(sp, ctx.skew))
}

/// Decrypts with the SP keys in a fixed order: current, staged next (the metadata already
/// publishes its certificate), previous (the IdP may still encrypt to the certificate
/// before the last rotation). A key that does not fit fails with `DecryptFailed` and the
/// next one is tried; any other error (a refused algorithm, a broken key) ends the search.
fn decrypt_with_sp_keys(encrypted: Node<'_, '_>, sp: &SamlSp) -> Result<String, SamlError> {
    for key in sp.decryption_keys() {
        match super::decrypt::decrypt_assertion(encrypted, key) {
            Err(SamlError::DecryptFailed) => continue,
            other => return other,
        }
    }
    Err(SamlError::DecryptFailed)
}

struct Ctx<'a> {
    sp: &'a SamlSp,
    expected: &'a Expected,
    now: DateTime<Utc>,
    skew: chrono::Duration,
}

// ---------------------------------------------------------------------------------------
// Decoding and parsing

fn decode(b64: &str) -> Result<String, SamlError> {
    if b64.len() > MAX_SAML_RESPONSE_B64 {
        return Err(SamlError::BodyTooLarge);
    }
    let compact: String = b64.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let engine = GeneralPurpose::new(
        &alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    let bytes = engine.decode(compact).map_err(|_| SamlError::BadBase64)?;
    let mut xml = String::from_utf8(bytes).map_err(|_| SamlError::NotXml)?;
    if xml.starts_with('\u{FEFF}') {
        xml.remove(0);
    }
    check_declared_encoding(&xml)?;
    Ok(xml)
}

/// libxml2 honours `encoding="…"` in the XML declaration and would then read other
/// characters than roxmltree (which reads the UTF-8 we decoded): refuse anything but UTF-8.
fn check_declared_encoding(xml: &str) -> Result<(), SamlError> {
    let Some(rest) = xml.strip_prefix("<?xml") else {
        return Ok(());
    };
    let decl = rest.split("?>").next().unwrap_or("");
    match decl.find("encoding") {
        None => Ok(()),
        Some(at) => {
            let value: String = decl[at + "encoding".len()..]
                .chars()
                .skip_while(|c| c.is_whitespace() || *c == '=')
                .skip_while(|c| *c == '"' || *c == '\'')
                .take_while(|c| *c != '"' && *c != '\'')
                .collect();
            if value.eq_ignore_ascii_case("utf-8") {
                Ok(())
            } else {
                Err(SamlError::NotXml)
            }
        }
    }
}

fn parse(xml: &str) -> Result<Document<'_>, SamlError> {
    parse_untrusted(xml).map_err(|e| match e {
        XmlGuardError::TooLarge => SamlError::BodyTooLarge,
        XmlGuardError::Doctype => SamlError::Doctype,
        XmlGuardError::Malformed(_) => SamlError::NotXml,
    })
}

/// Parses what xmlsec/libxml2 produced from an input we already checked.
fn parse_own(xml: &str) -> Result<Document<'_>, SamlError> {
    parse_untrusted(xml)
        .map_err(|e| SamlError::Internal(format!("reading the verified document: {e}")))
}

/// The decrypted Assertion, inside one element of ours that declares the namespaces in
/// scope at the EncryptedAssertion (the plaintext may use prefixes declared there).
fn wrap_decrypted(encrypted: Node<'_, '_>, plaintext: &str) -> Result<String, SamlError> {
    let mut body = plaintext.trim_start_matches('\u{FEFF}');
    if body.starts_with("<?xml") {
        check_declared_encoding(body)?;
        let end = body.find("?>").ok_or(SamlError::NotXml)?;
        body = &body[end + 2..];
    }
    let mut out = String::with_capacity(body.len() + 512);
    out.push_str("<ssogate-decrypted");
    for ns in encrypted.namespaces() {
        if ns.uri() == "http://www.w3.org/XML/1998/namespace" {
            continue;
        }
        match ns.name() {
            Some(prefix) => out.push_str(&format!(" xmlns:{prefix}=\"{}\"", escape(ns.uri()))),
            None => out.push_str(&format!(" xmlns=\"{}\"", escape(ns.uri()))),
        }
    }
    out.push('>');
    out.push_str(body);
    out.push_str("</ssogate-decrypted>");
    Ok(out)
}

/// Full text of an element: every text descendant concatenated, so a comment inside a
/// value (`alice@acme.test<!---->.evil.com`) can never truncate it.
fn full_text(node: Node<'_, '_>) -> String {
    node.descendants()
        .filter(|d| d.is_text())
        .filter_map(|d| d.text())
        .collect()
}

// ---------------------------------------------------------------------------------------
// The IdP's certificates and xmlsec

struct IdpTrust {
    certs: Vec<CertificateDer>,
    descriptor: EntityDescriptor,
}

impl IdpTrust {
    /// The IdP certificates from the connector settings (never from the document, never
    /// from the stored metadata XML), and an IdP descriptor for samael built from them.
    fn from_settings(sp: &SamlSp) -> Result<IdpTrust, SamlError> {
        let s = &sp.settings;
        let mut certs = Vec::new();
        let mut key_descriptors = String::new();
        for c in &s.idp_signing_certificates {
            let b64: String = c.chars().filter(|c| !c.is_whitespace()).collect();
            let der = base64::engine::general_purpose::STANDARD
                .decode(&b64)
                .map_err(|_| SamlError::NotConfigured("an IdP certificate is not base64".into()))?;
            X509::from_der(&der).map_err(|_| {
                SamlError::NotConfigured("an IdP certificate is not an X.509 certificate".into())
            })?;
            certs.push(CertificateDer::from(der));
            key_descriptors.push_str(&format!(
                r#"<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"#,
                escape(&b64)
            ));
        }
        // Without a certificate samael skips verification entirely (docs/DEPENDENCY-GUARDS.md).
        if certs.is_empty() {
            return Err(SamlError::NotConfigured(
                "no IdP signing certificate".into(),
            ));
        }
        if s.idp_entity_id.trim().is_empty() {
            return Err(SamlError::NotConfigured("no IdP entity ID".into()));
        }
        // Audience, Destination and Recipient are compared with these: never with "".
        if sp.sp_entity_id.trim().is_empty() || sp.acs_url.trim().is_empty() {
            return Err(SamlError::NotConfigured(
                "no SP entity ID or ACS URL".into(),
            ));
        }
        let xml = format!(
            r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{}"><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">{key_descriptors}<md:SingleSignOnService Binding="{BINDING_REDIRECT}" Location="{}"/></md:IDPSSODescriptor></md:EntityDescriptor>"#,
            escape(&s.idp_entity_id),
            escape(&s.idp_sso_url),
        );
        let descriptor = EntityDescriptor::from_str(&xml)
            .map_err(|e| SamlError::NotConfigured(format!("IdP descriptor: {e}")))?;
        Ok(IdpTrust { certs, descriptor })
    }
}

/// The list given to samael/xmlsec. samael cannot name SHA-1, so with `allow_sha1` it
/// gets none and the pre-check's list (which still refuses HMAC and unknown methods) is
/// the only one.
fn samael_algorithms(allow_sha1: bool) -> Option<Vec<AllowedSignatureAlgorithm>> {
    if allow_sha1 {
        return None;
    }
    Some(vec![
        AllowedSignatureAlgorithm::RsaSha256,
        AllowedSignatureAlgorithm::RsaSha384,
        AllowedSignatureAlgorithm::RsaSha512,
        AllowedSignatureAlgorithm::EcdsaSha256,
        AllowedSignatureAlgorithm::EcdsaSha384,
        AllowedSignatureAlgorithm::EcdsaSha512,
    ])
}

/// Verifies every signature in `xml` with the IdP certificates and returns the signed
/// content only (samael's reduction, see the module docs).
fn reduce_to_signed(xml: &str, idp: &IdpTrust, allow_sha1: bool) -> Result<String, SamlError> {
    let algorithms = samael_algorithms(allow_sha1);
    Crypto::reduce_xml_to_signed_with_allowed_algorithms(
        xml,
        &idp.certs,
        ReduceMode::ValidateAndMarkNoAncestors,
        algorithms.as_deref(),
    )
    .map_err(|_| SamlError::SignatureInvalid)
}

fn samael_second_opinion(xml: &str, idp: &IdpTrust, ctx: &Ctx<'_>) -> Result<(), SamlError> {
    let sp = ctx.sp;
    let service_provider = ServiceProvider {
        entity_id: Some(sp.sp_entity_id.clone()),
        metadata_url: Some(sp.metadata_url.clone()),
        acs_url: Some(sp.acs_url.clone()),
        idp_metadata: idp.descriptor.clone(),
        allow_idp_initiated: ctx.expected.in_response_to.is_none(),
        max_clock_skew: ctx.skew,
        max_issue_delay: chrono::Duration::seconds(MAX_ISSUE_AGE_SECS) + ctx.skew,
        allowed_signature_algorithms: samael_algorithms(sp.settings.allow_sha1),
        ..ServiceProvider::default()
    };
    // Never let samael run without certificates: it would verify nothing.
    match service_provider.idp_signing_certs() {
        Ok(Some(certs)) if !certs.is_empty() => {}
        _ => {
            return Err(SamlError::NotConfigured(
                "samael sees no IdP certificate".into(),
            ))
        }
    }
    let ids: Vec<&str> = ctx
        .expected
        .in_response_to
        .iter()
        .map(String::as_str)
        .collect();
    let possible = (!ids.is_empty()).then_some(ids.as_slice());
    service_provider
        .parse_xml_response(xml, possible)
        .map(|_| ())
        .map_err(map_samael_error)
}

fn map_samael_error(e: SamaelError) -> SamlError {
    use SamaelError as E;
    match e {
        E::DestinationValidationError { .. } => SamlError::DestinationMismatch,
        E::AssertionExpired { .. }
        | E::AssertionSubjectConfirmationExpired { .. }
        | E::AssertionConditionExpired { .. }
        | E::ResponseExpired { .. } => SamlError::Expired,
        E::AssertionSubjectConfirmationExpiredBefore { .. }
        | E::AssertionConditionExpiredBefore { .. } => SamlError::NotYetValid,
        E::AssertionBearerSubjectConfirmationMissing | E::AssertionSubjectConfirmationMissing => {
            SamlError::SubjectConfirmation
        }
        E::AssertionIssuerMismatch { .. } | E::ResponseIssuerMismatch { .. } => {
            SamlError::IssuerMismatch
        }
        E::AssertionConditionAudienceRestrictionFailed { .. } => SamlError::AudienceMismatch,
        E::AssertionRecipientMismatch { .. } => SamlError::RecipientMismatch,
        E::AssertionInResponseToInvalid { .. } | E::ResponseInResponseToInvalid { .. } => {
            SamlError::InResponseToMismatch
        }
        E::ResponseBadStatusCode { code } => SamlError::StatusNotSuccess(code),
        E::FailedToValidateSignature => SamlError::SignatureInvalid,
        E::FailedToParseSamlResponse(e) => SamlError::Malformed(format!("samael: {e}")),
        E::FailedToParseSamlAssertion(e) => SamlError::Malformed(format!("samael: {e}")),
        other => SamlError::Internal(format!("samael: {other}")),
    }
}

// ---------------------------------------------------------------------------------------
// Our checks on the signed content

fn time_attr(node: Node<'_, '_>, name: &str) -> Result<Option<DateTime<Utc>>, SamlError> {
    match node.attribute(name) {
        None => Ok(None),
        Some(v) => DateTime::parse_from_rfc3339(v.trim())
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|_| SamlError::Malformed(format!("{name} is not a dateTime"))),
    }
}

/// IssueInstant: required, not in the future beyond the skew, not older than
/// [`MAX_ISSUE_AGE_SECS`] plus the skew.
fn check_issue_instant(node: Node<'_, '_>, ctx: &Ctx<'_>) -> Result<(), SamlError> {
    let t = time_attr(node, "IssueInstant")?
        .ok_or_else(|| SamlError::Malformed("no IssueInstant".into()))?;
    if t > ctx.now + ctx.skew {
        return Err(SamlError::IssueInstantInFuture);
    }
    if t + chrono::Duration::seconds(MAX_ISSUE_AGE_SECS) + ctx.skew < ctx.now {
        return Err(SamlError::Expired);
    }
    Ok(())
}

fn check_version(node: Node<'_, '_>) -> Result<(), SamlError> {
    if node.attribute("Version") != Some("2.0") {
        return Err(SamlError::Malformed("not SAML 2.0".into()));
    }
    Ok(())
}

fn check_issuer(issuer: Option<Node<'_, '_>>, ctx: &Ctx<'_>) -> Result<(), SamlError> {
    match issuer {
        Some(i) if full_text(i).trim() == ctx.sp.settings.idp_entity_id => Ok(()),
        _ => Err(SamlError::IssuerMismatch),
    }
}

/// InResponseTo on the Response or a SubjectConfirmationData: equal to the request this
/// browser sent; absent when there was none (an unsolicited response that answers some
/// request was solicited by someone else).
fn check_in_response_to(
    value: Option<&str>,
    required: bool,
    ctx: &Ctx<'_>,
) -> Result<(), SamlError> {
    match (&ctx.expected.in_response_to, value) {
        (Some(expected), Some(got)) if got == expected => Ok(()),
        (Some(_), None) if !required => Ok(()),
        (None, None) => Ok(()),
        _ => Err(SamlError::InResponseToMismatch),
    }
}

/// The Response element: signed (`signed`) or not, in which case only refusals are
/// drawn from it.
fn check_response(response: Node<'_, '_>, signed: bool, ctx: &Ctx<'_>) -> Result<(), SamlError> {
    check_version(response)?;
    if let Some(issuer) = unique_child(response, NS_SAML, "Issuer")? {
        check_issuer(Some(issuer), ctx)?;
    }
    match response.attribute("Destination") {
        Some(d) if d == ctx.sp.acs_url => {}
        None if !signed => {}
        // Missing on a signed Response (SAML bindings §3.5.5.2), or any other URL:
        // compared whole, so a URL that merely starts with ours is refused.
        _ => return Err(SamlError::DestinationMismatch),
    }
    check_issue_instant(response, ctx)?;
    check_in_response_to(response.attribute("InResponseTo"), signed, ctx)?;
    Ok(())
}

struct AssertionFacts {
    id: String,
    issuer: String,
    expires_at: DateTime<Utc>,
    in_response_to: Option<String>,
    session_not_on_or_after: Option<DateTime<Utc>>,
    subject: String,
    attributes: Map<String, Value>,
    friendly_names: Vec<(String, String)>,
}

fn check_assertion(a: Node<'_, '_>, ctx: &Ctx<'_>) -> Result<AssertionFacts, SamlError> {
    check_version(a)?;
    let id = a
        .attribute("ID")
        .ok_or_else(|| SamlError::Malformed("the Assertion has no ID".into()))?
        .to_string();
    let issuer = unique_child(a, NS_SAML, "Issuer")?;
    check_issuer(issuer, ctx)?;
    let issuer = issuer.map(full_text).unwrap_or_default().trim().to_string();
    check_issue_instant(a, ctx)?;

    // Conditions: time window and the audience, which must be present and name us.
    let conditions = unique_child(a, NS_SAML, "Conditions")?.ok_or(SamlError::AudienceMissing)?;
    let not_before = time_attr(conditions, "NotBefore")?;
    let not_on_or_after = time_attr(conditions, "NotOnOrAfter")?;
    if not_before.is_some_and(|nb| ctx.now + ctx.skew < nb) {
        return Err(SamlError::NotYetValid);
    }
    if not_on_or_after.is_some_and(|noa| ctx.now >= noa + ctx.skew) {
        return Err(SamlError::Expired);
    }
    let restrictions: Vec<Node> = children(conditions, NS_SAML, "AudienceRestriction").collect();
    if restrictions.is_empty() {
        return Err(SamlError::AudienceMissing);
    }
    // Every AudienceRestriction must be satisfied (SAML core §2.5.1.4).
    for r in restrictions {
        let ours = children(r, NS_SAML, "Audience")
            .any(|aud| full_text(aud).trim() == ctx.sp.sp_entity_id);
        if !ours {
            return Err(SamlError::AudienceMismatch);
        }
    }

    let subject = unique_child(a, NS_SAML, "Subject")?.ok_or(SamlError::NoSubject)?;
    let (scd_not_on_or_after, in_response_to) = check_bearer_confirmation(subject, ctx)?;

    let authn: Vec<Node> = children(a, NS_SAML, "AuthnStatement").collect();
    if authn.is_empty() {
        return Err(SamlError::Malformed("no AuthnStatement".into()));
    }
    let mut session_not_on_or_after: Option<DateTime<Utc>> = None;
    for s in authn {
        if let Some(t) = time_attr(s, "SessionNotOnOrAfter")? {
            session_not_on_or_after = Some(session_not_on_or_after.map_or(t, |e| e.min(t)));
        }
    }
    if session_not_on_or_after.is_some_and(|t| ctx.now >= t + ctx.skew) {
        return Err(SamlError::SessionExpired);
    }

    let (attributes, friendly_names) = read_attributes(a)?;
    let subject = read_subject(subject, &attributes, &friendly_names, ctx)?;

    let expires_at = match not_on_or_after {
        Some(noa) => noa.min(scd_not_on_or_after),
        None => scd_not_on_or_after,
    };
    Ok(AssertionFacts {
        id,
        issuer,
        expires_at,
        in_response_to,
        session_not_on_or_after,
        subject,
        attributes,
        friendly_names,
    })
}

/// One bearer SubjectConfirmation must hold: SubjectConfirmationData with Recipient equal
/// to our ACS URL, NotOnOrAfter (required) not passed, NotBefore (if any) reached, and
/// InResponseTo as expected. Returns its NotOnOrAfter and InResponseTo.
fn check_bearer_confirmation(
    subject: Node<'_, '_>,
    ctx: &Ctx<'_>,
) -> Result<(DateTime<Utc>, Option<String>), SamlError> {
    let mut first_error = None;
    for sc in children(subject, NS_SAML, "SubjectConfirmation") {
        if sc.attribute("Method") != Some(CM_BEARER) {
            continue;
        }
        match check_one_confirmation(sc, ctx) {
            Ok(found) => return Ok(found),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    Err(first_error.unwrap_or(SamlError::SubjectConfirmation))
}

fn check_one_confirmation(
    sc: Node<'_, '_>,
    ctx: &Ctx<'_>,
) -> Result<(DateTime<Utc>, Option<String>), SamlError> {
    let data = unique_child(sc, NS_SAML, "SubjectConfirmationData")?
        .ok_or(SamlError::SubjectConfirmation)?;
    if time_attr(data, "NotBefore")?.is_some_and(|nb| ctx.now + ctx.skew < nb) {
        return Err(SamlError::NotYetValid);
    }
    let noa = time_attr(data, "NotOnOrAfter")?.ok_or(SamlError::SubjectConfirmation)?;
    if ctx.now >= noa + ctx.skew {
        return Err(SamlError::Expired);
    }
    if data.attribute("Recipient") != Some(ctx.sp.acs_url.as_str()) {
        return Err(SamlError::RecipientMismatch);
    }
    let irt = data.attribute("InResponseTo");
    check_in_response_to(irt, true, ctx)?;
    Ok((noa, irt.map(str::to_string)))
}

type Attributes = (Map<String, Value>, Vec<(String, String)>);

/// All attributes as `{ Name: [values…] }` (full text of each value, xsi:nil skipped),
/// and (FriendlyName, Name) pairs so a mapping may use either.
fn read_attributes(a: Node<'_, '_>) -> Result<Attributes, SamlError> {
    let mut map = Map::new();
    let mut friendly = Vec::new();
    for statement in children(a, NS_SAML, "AttributeStatement") {
        for attr in children(statement, NS_SAML, "Attribute") {
            let Some(name) = attr.attribute("Name") else {
                continue;
            };
            if let Some(f) = attr.attribute("FriendlyName") {
                friendly.push((f.to_string(), name.to_string()));
            }
            let entry = map
                .entry(name.to_string())
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(values) = entry {
                for v in children(attr, NS_SAML, "AttributeValue") {
                    let nil = v
                        .attribute((NS_XSI, "nil"))
                        .is_some_and(|n| n == "true" || n == "1");
                    if !nil {
                        values.push(Value::String(full_text(v)));
                    }
                }
            }
        }
    }
    Ok((map, friendly))
}

fn attribute_values<'m>(
    map: &'m Map<String, Value>,
    friendly: &[(String, String)],
    name: &str,
) -> Vec<&'m str> {
    let values = map.get(name).or_else(|| {
        friendly
            .iter()
            .find(|(f, _)| f == name)
            .and_then(|(_, n)| map.get(n))
    });
    match values {
        Some(Value::Array(vs)) => vs
            .iter()
            .filter_map(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect(),
        _ => Vec::new(),
    }
}

/// The identity key: a configured attribute, or the NameID (persistent, unspecified or
/// email; transient refused: it changes at every sign-in).
fn read_subject(
    subject: Node<'_, '_>,
    attributes: &Map<String, Value>,
    friendly: &[(String, String)],
    ctx: &Ctx<'_>,
) -> Result<String, SamlError> {
    let value = match ctx
        .sp
        .settings
        .attributes
        .subject
        .as_deref()
        .filter(|s| !s.is_empty())
    {
        Some(attr) => attribute_values(attributes, friendly, attr)
            .first()
            .map(|s| s.to_string())
            .ok_or(SamlError::NoSubject)?,
        None => {
            let name_id = unique_child(subject, NS_SAML, "NameID")?.ok_or(SamlError::NoSubject)?;
            match name_id.attribute("Format") {
                None | Some(NAMEID_PERSISTENT) | Some(NAMEID_UNSPECIFIED) | Some(NAMEID_EMAIL) => {}
                Some(NAMEID_TRANSIENT) => return Err(SamlError::TransientNameId),
                Some(other) => {
                    return Err(SamlError::NameIdFormat(other.chars().take(200).collect()))
                }
            }
            full_text(name_id).trim().to_string()
        }
    };
    if value.is_empty() {
        return Err(SamlError::NoSubject);
    }
    if value.len() > MAX_SUBJECT_LEN {
        return Err(SamlError::Malformed("the subject is too long".into()));
    }
    Ok(value)
}

impl AssertionFacts {
    fn into_verified(self, sp: &SamlSp, skew: chrono::Duration) -> VerifiedAssertion {
        let m = &sp.settings.attributes;
        let first = |name: &str| {
            if name.is_empty() {
                return None;
            }
            attribute_values(&self.attributes, &self.friendly_names, name)
                .first()
                .map(|s| s.to_string())
        };
        let email = first(&m.email);
        let mut groups: Vec<String> = Vec::new();
        if !m.groups.is_empty() {
            for g in attribute_values(&self.attributes, &self.friendly_names, &m.groups) {
                if !groups.iter().any(|x| x == g) {
                    groups.push(g.to_string());
                }
            }
        }
        let profile = ExternalProfile {
            connector: sp.connector_id.clone(),
            subject: self.subject.clone(),
            // "The IdP asserted it": whether ssogate trusts it is the engine's decision.
            email_verified: email.is_some(),
            email,
            given_name: first(&m.given_name),
            family_name: first(&m.family_name),
            name: first(&m.name),
            picture: first(&m.picture),
            groups,
            session_not_on_or_after: self.session_not_on_or_after.map(|t| t.timestamp_millis()),
            raw: Value::Object(self.attributes),
        };
        VerifiedAssertion {
            profile,
            issuer: self.issuer,
            assertion_id: self.id,
            assertion_expires_at: (self.expires_at + skew).timestamp_millis(),
            in_response_to: self.in_response_to,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_text_reads_across_comments_and_cdata() {
        let xml =
            r#"<r><n>alice@acme.test<!---->.evil.com</n><m>a<![CDATA[<b>]]>c<i>d</i></m></r>"#;
        let doc = roxmltree::Document::parse(xml).expect("xml");
        let n = doc.descendants().find(|n| n.has_tag_name("n")).expect("n");
        assert_eq!(full_text(n), "alice@acme.test.evil.com");
        let m = doc.descendants().find(|n| n.has_tag_name("m")).expect("m");
        assert_eq!(full_text(m), "a<b>cd");
    }

    #[test]
    fn decoding_caps_size_and_tolerates_whitespace() {
        let big = "A".repeat(MAX_SAML_RESPONSE_B64 + 1);
        assert_eq!(decode(&big), Err(SamlError::BodyTooLarge));
        assert_eq!(decode("not base64!"), Err(SamlError::BadBase64));
        assert_eq!(decode("/w=="), Err(SamlError::NotXml));
        assert_eq!(decode("PHIv\r\nPg").as_deref(), Ok("<r/>"));
    }

    #[test]
    fn only_utf8_may_be_declared() {
        assert!(check_declared_encoding(r#"<?xml version="1.0"?><r/>"#).is_ok());
        assert!(check_declared_encoding(r#"<?xml version="1.0" encoding="UTF-8"?><r/>"#).is_ok());
        assert!(check_declared_encoding(r#"<?xml version='1.0' encoding = 'utf-8'?><r/>"#).is_ok());
        assert_eq!(
            check_declared_encoding(r#"<?xml version="1.0" encoding="ISO-8859-1"?><r/>"#),
            Err(SamlError::NotXml)
        );
        assert_eq!(
            check_declared_encoding(r#"<?xml version="1.0" encoding="UTF-7"?><r/>"#),
            Err(SamlError::NotXml)
        );
    }
}
