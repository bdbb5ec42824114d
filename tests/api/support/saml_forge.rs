//! A test-time SAML IdP: builds Responses with chosen fields, signs them with xmlsec
//! (through samael's `CryptoProvider::sign_xml`) using the fixture keys, and encrypts
//! assertions for the SP certificate with chosen algorithms. Everything is `pub` so
//! route-level tests (ACS replay, other browser, oversized bodies) can reuse it.
//!
//! The defaults describe one valid sign-in of alice answering [`REQUEST_ID`], signed
//! (Response and Assertion) by `tests/fixtures/saml/idp.key`, accepted by [`test_sp`].
//! Change a field, call [`Forge::b64`], post or verify.
#![allow(dead_code)] // a toolbox: not every test uses every tool

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use openssl::hash::MessageDigest;
use openssl::md::Md;
use openssl::pkey::PKey;
use openssl::pkey_ctx::PkeyCtx;
use openssl::rsa::Padding;
use openssl::sign::Signer;
use openssl::symm::Cipher;
use openssl::x509::X509;
use samael::crypto::{CertificateDer, Crypto, CryptoProvider};
use ssogate::connectors::saml::sp::SamlSp;
use ssogate::connectors::saml::verify::Expected;
use ssogate::connectors::settings::{AttributeMapping, SamlSettings};

pub const SP_ENTITY_ID: &str = "urn:ssogate:test:sp";
pub const ACS_URL: &str = "https://sso.example.test/saml/acme/acs";
pub const METADATA_URL: &str = "https://sso.example.test/saml/acme/metadata";
pub const IDP_ENTITY_ID: &str = "https://idp.example.test/realms/acme";
pub const IDP_SSO_URL: &str = "https://idp.example.test/realms/acme/protocol/saml";
/// The AuthnRequest ID the default forged response answers.
pub const REQUEST_ID: &str = "_0123456789abcdef0123456789abcdef";

pub const NS_SAMLP: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
pub const NS_SAML: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
pub const NS_DS: &str = "http://www.w3.org/2000/09/xmldsig#";
pub const NS_XENC: &str = "http://www.w3.org/2001/04/xmlenc#";
pub const NS_XENC11: &str = "http://www.w3.org/2009/xmlenc11#";

pub const STATUS_SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
pub const NAMEID_PERSISTENT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent";
pub const NAMEID_TRANSIENT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient";
pub const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
pub const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
pub const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
pub const RSA_SHA1: &str = "http://www.w3.org/2000/09/xmldsig#rsa-sha1";
pub const HMAC_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256";
pub const DIGEST_SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";
pub const DIGEST_SHA1: &str = "http://www.w3.org/2000/09/xmldsig#sha1";

// ---------------------------------------------------------------------------------------
// Keys and the SP under test

pub fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/saml/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

/// Base64 DER of a PEM certificate (how IdP metadata and our settings carry it).
pub fn cert_b64(cert_pem: &str) -> String {
    let cert = X509::from_pem(cert_pem.as_bytes()).expect("a PEM certificate");
    B64.encode(cert.to_der().expect("DER"))
}

pub fn cert_der(cert_pem: &str) -> CertificateDer {
    let cert = X509::from_pem(cert_pem.as_bytes()).expect("a PEM certificate");
    CertificateDer::from(cert.to_der().expect("DER"))
}

#[derive(Clone, Debug)]
pub struct KeyPair {
    pub key_pem: String,
    pub cert_pem: String,
}

impl KeyPair {
    pub fn idp() -> Self {
        KeyPair {
            key_pem: fixture("idp.key"),
            cert_pem: fixture("idp.crt"),
        }
    }
    pub fn attacker() -> Self {
        KeyPair {
            key_pem: fixture("attacker.key"),
            cert_pem: fixture("attacker.crt"),
        }
    }
    pub fn sp() -> Self {
        KeyPair {
            key_pem: fixture("sp.key"),
            cert_pem: fixture("sp.crt"),
        }
    }
}

/// The SP under test: our entity ID, ACS URL and key pair (sp.key/sp.crt), trusting
/// idp.crt for an IdP at [`IDP_ENTITY_ID`].
pub fn test_sp() -> SamlSp {
    test_sp_for(ACS_URL, SP_ENTITY_ID)
}

pub fn test_sp_for(acs_url: &str, sp_entity_id: &str) -> SamlSp {
    let sp = KeyPair::sp();
    SamlSp {
        connector_id: "acme".into(),
        sp_entity_id: sp_entity_id.into(),
        acs_url: acs_url.into(),
        metadata_url: METADATA_URL.into(),
        sp_private_key_pem: sp.key_pem,
        previous_sp_private_key_pem: None,
        next_sp_private_key_pem: None,
        sp_certificate_pem: sp.cert_pem.clone(),
        settings: SamlSettings {
            sp_entity_id: Some(sp_entity_id.into()),
            idp_metadata_url: None,
            idp_metadata_xml: String::new(),
            idp_entity_id: IDP_ENTITY_ID.into(),
            idp_sso_url: IDP_SSO_URL.into(),
            idp_signing_certificates: vec![cert_b64(&KeyPair::idp().cert_pem)],
            sp_certificate_pem: sp.cert_pem,
            next_sp_certificate_pem: None,
            sign_authn_requests: false,
            allow_idp_initiated: false,
            allow_sha1: false,
            attributes: AttributeMapping::saml_default(),
        },
        domains: vec!["acme.test".into()],
    }
}

/// IdP metadata for the forged IdP ([`IDP_ENTITY_ID`], HTTP-Redirect SSO at
/// [`IDP_SSO_URL`], signing certificate idp.crt), e.g. to configure a SAML connector
/// through `apply` or the store in route-level tests.
pub fn idp_metadata_xml() -> String {
    format!(
        r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="{NS_DS}" entityID="{IDP_ENTITY_ID}"><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor><md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="{IDP_SSO_URL}"/><md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="{IDP_SSO_URL}"/></md:IDPSSODescriptor></md:EntityDescriptor>"#,
        cert_b64(&KeyPair::idp().cert_pem)
    )
}

/// What the ACS expects for the default forged response: it answers [`REQUEST_ID`].
pub fn expected() -> Expected {
    Expected {
        in_response_to: Some(REQUEST_ID.into()),
        now: Utc::now(),
        max_clock_skew_secs: 60,
    }
}

pub fn b64(xml: &str) -> String {
    B64.encode(xml.as_bytes())
}

/// XML-escapes text or an attribute value.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

pub fn instant(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

// ---------------------------------------------------------------------------------------
// Signing

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SigAlg {
    RsaSha256,
    /// rsa-sha1 with a sha1 digest.
    RsaSha1,
}

impl SigAlg {
    pub fn uris(self) -> (&'static str, &'static str) {
        match self {
            SigAlg::RsaSha256 => (RSA_SHA256, DIGEST_SHA256),
            SigAlg::RsaSha1 => (RSA_SHA1, DIGEST_SHA1),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Signing {
    pub key: KeyPair,
    pub alg: SigAlg,
    /// Put the signer's certificate in `ds:KeyInfo` (as IdPs do; must never be trusted).
    pub key_info_cert: bool,
}

impl Signing {
    pub fn idp() -> Self {
        Signing {
            key: KeyPair::idp(),
            alg: SigAlg::RsaSha256,
            key_info_cert: true,
        }
    }
    pub fn attacker() -> Self {
        Signing {
            key: KeyPair::attacker(),
            ..Signing::idp()
        }
    }
    pub fn sha1() -> Self {
        Signing {
            alg: SigAlg::RsaSha1,
            ..Signing::idp()
        }
    }
}

/// An enveloped-signature template over `#id` (exclusive C14N), for xmlsec to fill in.
pub fn signature_template(id: &str, alg: SigAlg) -> String {
    let (sig, digest) = alg.uris();
    format!(
        r##"<ds:Signature xmlns:ds="{NS_DS}"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="{EXC_C14N}"/><ds:SignatureMethod Algorithm="{sig}"/><ds:Reference URI="#{id}"><ds:Transforms><ds:Transform Algorithm="{ENVELOPED}"/><ds:Transform Algorithm="{EXC_C14N}"/></ds:Transforms><ds:DigestMethod Algorithm="{digest}"/><ds:DigestValue></ds:DigestValue></ds:Reference></ds:SignedInfo><ds:SignatureValue></ds:SignatureValue></ds:Signature>"##,
        id = esc(id)
    )
}

fn strip_xml_declaration(xml: &str) -> String {
    let xml = xml.trim_start();
    let body = match xml.strip_prefix("<?xml") {
        Some(rest) => rest.split_once("?>").map(|(_, b)| b).unwrap_or(rest),
        None => xml,
    };
    body.trim().to_string()
}

/// Signs the first `ds:Signature` template (in document order) of `xml` with xmlsec and
/// the given key; then, if asked, adds a KeyInfo with the signer's certificate (after
/// signing: KeyInfo is not covered by the signature, as with most IdPs).
pub fn sign_first_template(xml: &str, signing: &Signing) -> String {
    let key = PKey::private_key_from_pem(signing.key.key_pem.as_bytes()).expect("a PEM key");
    let der = key.private_key_to_der().expect("DER key");
    let signed = <Crypto as CryptoProvider>::sign_xml(xml, &der).expect("xmlsec signs");
    let mut signed = strip_xml_declaration(&signed);
    if signing.key_info_cert {
        let key_info = format!(
            "</ds:SignatureValue><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>",
            cert_b64(&signing.key.cert_pem)
        );
        signed = signed.replacen("</ds:SignatureValue>", &key_info, 1);
    }
    signed
}

/// xmlsec's own opinion of the first signature in `xml` with `cert_pem` (no samael
/// reduction, no pre-check): proves a forged signature is cryptographically real.
pub fn xmlsec_verifies(xml: &str, cert_pem: &str) -> bool {
    <Crypto as CryptoProvider>::verify_signed_xml(xml, &cert_der(cert_pem), Some("ID")).is_ok()
}

// ---------------------------------------------------------------------------------------
// Encryption

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyTransport {
    /// xmlenc#rsa-oaep-mgf1p (SHA-1 OAEP digest, MGF1-SHA-1).
    RsaOaepMgf1p,
    /// xmlenc11#rsa-oaep with SHA-256 digest and MGF1-SHA-256 (Keycloak's default).
    RsaOaepSha256,
    /// xmlenc#rsa-1_5 (must be refused).
    Rsa15,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataEncryption {
    Aes128Gcm,
    Aes256Gcm,
    /// xmlenc#aes128-cbc (must be refused).
    Aes128Cbc,
}

#[derive(Clone, Debug)]
pub struct Encryption {
    pub key_transport: KeyTransport,
    pub data: DataEncryption,
    pub recipient_cert_pem: String,
}

impl Encryption {
    /// What Keycloak does by default, for the SP certificate.
    pub fn keycloak_default() -> Self {
        Encryption {
            key_transport: KeyTransport::RsaOaepSha256,
            data: DataEncryption::Aes256Gcm,
            recipient_cert_pem: KeyPair::sp().cert_pem,
        }
    }
}

/// A `saml:EncryptedAssertion` holding `assertion_xml`, laid out as Keycloak does
/// (EncryptedKey inside EncryptedData's KeyInfo).
pub fn encrypt_assertion(assertion_xml: &str, enc: &Encryption) -> String {
    let plaintext = assertion_xml.as_bytes();
    let (cipher, data_uri) = match enc.data {
        DataEncryption::Aes128Gcm => (
            Cipher::aes_128_gcm(),
            "http://www.w3.org/2009/xmlenc11#aes128-gcm",
        ),
        DataEncryption::Aes256Gcm => (
            Cipher::aes_256_gcm(),
            "http://www.w3.org/2009/xmlenc11#aes256-gcm",
        ),
        DataEncryption::Aes128Cbc => (
            Cipher::aes_128_cbc(),
            "http://www.w3.org/2001/04/xmlenc#aes128-cbc",
        ),
    };
    let mut cek = vec![0u8; cipher.key_len()];
    openssl::rand::rand_bytes(&mut cek).expect("random key");
    let content = if enc.data == DataEncryption::Aes128Cbc {
        let mut iv = [0u8; 16];
        openssl::rand::rand_bytes(&mut iv).expect("iv");
        let ct = openssl::symm::encrypt(cipher, &cek, Some(&iv), plaintext).expect("cbc");
        [iv.as_slice(), &ct].concat()
    } else {
        let mut iv = [0u8; 12];
        openssl::rand::rand_bytes(&mut iv).expect("iv");
        let mut tag = [0u8; 16];
        let ct = openssl::symm::encrypt_aead(cipher, &cek, Some(&iv), &[], plaintext, &mut tag)
            .expect("gcm");
        [iv.as_slice(), &ct, &tag].concat()
    };

    let cert = X509::from_pem(enc.recipient_cert_pem.as_bytes()).expect("recipient cert");
    let public = cert.public_key().expect("public key");
    let mut ctx = PkeyCtx::new(&public).expect("ctx");
    ctx.encrypt_init().expect("encrypt init");
    let method = match enc.key_transport {
        KeyTransport::Rsa15 => {
            ctx.set_rsa_padding(Padding::PKCS1).expect("pkcs1");
            r#"<xenc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#rsa-1_5"/>"#
                .to_string()
        }
        KeyTransport::RsaOaepMgf1p => {
            ctx.set_rsa_padding(Padding::PKCS1_OAEP).expect("oaep");
            ctx.set_rsa_oaep_md(Md::sha1()).expect("md");
            ctx.set_rsa_mgf1_md(Md::sha1()).expect("mgf");
            format!(
                r#"<xenc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"><ds:DigestMethod xmlns:ds="{NS_DS}" Algorithm="{DIGEST_SHA1}"/></xenc:EncryptionMethod>"#
            )
        }
        KeyTransport::RsaOaepSha256 => {
            ctx.set_rsa_padding(Padding::PKCS1_OAEP).expect("oaep");
            ctx.set_rsa_oaep_md(Md::sha256()).expect("md");
            ctx.set_rsa_mgf1_md(Md::sha256()).expect("mgf");
            format!(
                r#"<xenc:EncryptionMethod Algorithm="http://www.w3.org/2009/xmlenc11#rsa-oaep"><ds:DigestMethod xmlns:ds="{NS_DS}" Algorithm="{DIGEST_SHA256}"/><xenc11:MGF xmlns:xenc11="{NS_XENC11}" Algorithm="http://www.w3.org/2009/xmlenc11#mgf1sha256"/></xenc:EncryptionMethod>"#
            )
        }
    };
    let mut wrapped = Vec::new();
    ctx.encrypt_to_vec(&cek, &mut wrapped).expect("wrap key");

    format!(
        r#"<saml:EncryptedAssertion><xenc:EncryptedData xmlns:xenc="{NS_XENC}" Type="http://www.w3.org/2001/04/xmlenc#Element"><xenc:EncryptionMethod Algorithm="{data_uri}"/><ds:KeyInfo xmlns:ds="{NS_DS}"><xenc:EncryptedKey>{method}<xenc:CipherData><xenc:CipherValue>{}</xenc:CipherValue></xenc:CipherData></xenc:EncryptedKey></ds:KeyInfo><xenc:CipherData><xenc:CipherValue>{}</xenc:CipherValue></xenc:CipherData></xenc:EncryptedData></saml:EncryptedAssertion>"#,
        B64.encode(&wrapped),
        B64.encode(&content),
    )
}

// ---------------------------------------------------------------------------------------
// The response

#[derive(Clone, Debug)]
pub struct Forge {
    pub response_id: String,
    pub assertion_id: String,
    /// None: the Response has no Issuer.
    pub response_issuer: Option<String>,
    pub assertion_issuer: String,
    pub destination: Option<String>,
    /// On the Response.
    pub in_response_to: Option<String>,
    /// On the SubjectConfirmationData.
    pub scd_in_response_to: Option<String>,
    pub recipient: Option<String>,
    /// None: Conditions without AudienceRestriction.
    pub audiences: Option<Vec<String>>,
    /// Without Conditions at all.
    pub no_conditions: bool,
    /// Inserted as XML text (escape it yourself; raw so tests can inject markup).
    pub name_id_xml: String,
    pub name_id_format: Option<String>,
    pub response_issue_instant: DateTime<Utc>,
    pub assertion_issue_instant: DateTime<Utc>,
    pub not_before: DateTime<Utc>,
    pub not_on_or_after: DateTime<Utc>,
    pub scd_not_on_or_after: DateTime<Utc>,
    pub session_not_on_or_after: Option<DateTime<Utc>>,
    pub status: String,
    pub attributes: Vec<(String, Vec<String>)>,
    /// Unsigned look-alike assertions (NameID `evil`) appended after the real one.
    pub extra_unsigned_assertions: usize,
    pub sign_response: Option<Signing>,
    pub sign_assertion: Option<Signing>,
    pub encrypt: Option<Encryption>,
}

impl Default for Forge {
    fn default() -> Self {
        Forge::new()
    }
}

impl Forge {
    /// A valid sign-in of alice, issued now, answering [`REQUEST_ID`].
    pub fn new() -> Self {
        let now = Utc::now();
        Forge {
            response_id: format!("_r{}", uuid::Uuid::new_v4().simple()),
            assertion_id: format!("_a{}", uuid::Uuid::new_v4().simple()),
            response_issuer: Some(IDP_ENTITY_ID.into()),
            assertion_issuer: IDP_ENTITY_ID.into(),
            destination: Some(ACS_URL.into()),
            in_response_to: Some(REQUEST_ID.into()),
            scd_in_response_to: Some(REQUEST_ID.into()),
            recipient: Some(ACS_URL.into()),
            audiences: Some(vec![SP_ENTITY_ID.into()]),
            no_conditions: false,
            name_id_xml: "G-6f1c2a9e-alice".into(),
            name_id_format: Some(NAMEID_PERSISTENT.into()),
            response_issue_instant: now,
            assertion_issue_instant: now,
            not_before: now - Duration::seconds(5),
            not_on_or_after: now + Duration::seconds(60),
            scd_not_on_or_after: now + Duration::seconds(300),
            session_not_on_or_after: Some(now + Duration::hours(10)),
            status: STATUS_SUCCESS.into(),
            attributes: vec![
                ("email".into(), vec!["alice@acme.test".into()]),
                ("firstName".into(), vec!["Alice".into()]),
                ("lastName".into(), vec!["Anders".into()]),
                ("groups".into(), vec!["engineering".into(), "admins".into()]),
            ],
            extra_unsigned_assertions: 0,
            sign_response: Some(Signing::idp()),
            sign_assertion: Some(Signing::idp()),
            encrypt: None,
        }
    }

    /// A valid sign-in for `sp` (its ACS URL as Destination and Recipient, its entity ID
    /// as Audience, its IdP entity ID as Issuer) answering `request_id` (None: an
    /// unsolicited response). `sp` must trust idp.crt, as [`test_sp_for`] does.
    pub fn for_sp(sp: &SamlSp, request_id: Option<&str>) -> Self {
        Forge {
            response_issuer: Some(sp.settings.idp_entity_id.clone()),
            assertion_issuer: sp.settings.idp_entity_id.clone(),
            destination: Some(sp.acs_url.clone()),
            recipient: Some(sp.acs_url.clone()),
            audiences: Some(vec![sp.sp_entity_id.clone()]),
            in_response_to: request_id.map(str::to_string),
            scd_in_response_to: request_id.map(str::to_string),
            ..Forge::new()
        }
    }

    /// Only the assertion signed (the Response itself unsigned).
    pub fn assertion_signed_only() -> Self {
        Forge {
            sign_response: None,
            ..Forge::new()
        }
    }

    /// Unsolicited (IdP-initiated): no InResponseTo anywhere.
    pub fn unsolicited() -> Self {
        Forge {
            in_response_to: None,
            scd_in_response_to: None,
            ..Forge::new()
        }
    }

    fn assertion_body(&self, id: &str, name_id_xml: &str, signature: &str) -> String {
        let fmt = self
            .name_id_format
            .as_ref()
            .map(|f| format!(r#" Format="{}""#, esc(f)))
            .unwrap_or_default();
        let scd_irt = self
            .scd_in_response_to
            .as_ref()
            .map(|v| format!(r#" InResponseTo="{}""#, esc(v)))
            .unwrap_or_default();
        let recipient = self
            .recipient
            .as_ref()
            .map(|v| format!(r#" Recipient="{}""#, esc(v)))
            .unwrap_or_default();
        let conditions = if self.no_conditions {
            String::new()
        } else {
            let audience = self
                .audiences
                .as_ref()
                .map(|auds| {
                    let inner: String = auds
                        .iter()
                        .map(|a| format!("<saml:Audience>{}</saml:Audience>", esc(a)))
                        .collect();
                    format!("<saml:AudienceRestriction>{inner}</saml:AudienceRestriction>")
                })
                .unwrap_or_default();
            format!(
                r#"<saml:Conditions NotBefore="{}" NotOnOrAfter="{}">{audience}</saml:Conditions>"#,
                instant(self.not_before),
                instant(self.not_on_or_after)
            )
        };
        let session = self
            .session_not_on_or_after
            .map(|t| format!(r#" SessionNotOnOrAfter="{}""#, instant(t)))
            .unwrap_or_default();
        let attributes: String = self
            .attributes
            .iter()
            .map(|(name, values)| {
                let values: String = values
                    .iter()
                    .map(|v| {
                        format!(
                            r#"<saml:AttributeValue xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="xs:string">{}</saml:AttributeValue>"#,
                            esc(v)
                        )
                    })
                    .collect();
                format!(
                    r#"<saml:Attribute Name="{0}" FriendlyName="{0}" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:basic">{values}</saml:Attribute>"#,
                    esc(name)
                )
            })
            .collect();
        let attribute_statement = if attributes.is_empty() {
            String::new()
        } else {
            format!("<saml:AttributeStatement>{attributes}</saml:AttributeStatement>")
        };
        format!(
            concat!(
                r#"<saml:Assertion xmlns:saml="{ns}" ID="{id}" IssueInstant="{ii}" Version="2.0">"#,
                r#"<saml:Issuer>{issuer}</saml:Issuer>{signature}"#,
                r#"<saml:Subject><saml:NameID{fmt}>{name_id}</saml:NameID>"#,
                r#"<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">"#,
                r#"<saml:SubjectConfirmationData{scd_irt} NotOnOrAfter="{scd_noa}"{recipient}/>"#,
                r#"</saml:SubjectConfirmation></saml:Subject>{conditions}"#,
                r#"<saml:AuthnStatement AuthnInstant="{ii}" SessionIndex="s1"{session}>"#,
                r#"<saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef></saml:AuthnContext>"#,
                r#"</saml:AuthnStatement>{attribute_statement}</saml:Assertion>"#
            ),
            ns = NS_SAML,
            id = esc(id),
            ii = instant(self.assertion_issue_instant),
            issuer = esc(&self.assertion_issuer),
            signature = signature,
            fmt = fmt,
            name_id = name_id_xml,
            scd_irt = scd_irt,
            scd_noa = instant(self.scd_not_on_or_after),
            recipient = recipient,
            conditions = conditions,
            session = session,
            attribute_statement = attribute_statement,
        )
    }

    /// The assertion alone (it declares its namespaces), signed if `sign_assertion`.
    pub fn assertion_xml(&self) -> String {
        match &self.sign_assertion {
            Some(s) => {
                let template = signature_template(&self.assertion_id, s.alg);
                sign_first_template(
                    &self.assertion_body(&self.assertion_id, &self.name_id_xml, &template),
                    s,
                )
            }
            None => self.assertion_body(&self.assertion_id, &self.name_id_xml, ""),
        }
    }

    /// An unsigned look-alike assertion for `evil`, with its own ID.
    pub fn evil_assertion_xml(&self, n: usize) -> String {
        self.assertion_body(&format!("_evil{n}"), "evil", "")
    }

    /// The Response around `assertion_or_encrypted` (XML of one child), signed if
    /// `sign_response`.
    pub fn response_around(&self, assertion_or_encrypted: &str) -> String {
        let mut attrs = format!(
            r#"ID="{}" Version="2.0" IssueInstant="{}""#,
            esc(&self.response_id),
            instant(self.response_issue_instant)
        );
        if let Some(d) = &self.destination {
            attrs.push_str(&format!(r#" Destination="{}""#, esc(d)));
        }
        if let Some(irt) = &self.in_response_to {
            attrs.push_str(&format!(r#" InResponseTo="{}""#, esc(irt)));
        }
        let issuer = self
            .response_issuer
            .as_ref()
            .map(|i| format!("<saml:Issuer>{}</saml:Issuer>", esc(i)))
            .unwrap_or_default();
        let template = self
            .sign_response
            .as_ref()
            .map(|s| signature_template(&self.response_id, s.alg))
            .unwrap_or_default();
        let extra: String = (0..self.extra_unsigned_assertions)
            .map(|n| self.evil_assertion_xml(n))
            .collect();
        let xml = format!(
            r#"<samlp:Response xmlns:samlp="{NS_SAMLP}" xmlns:saml="{NS_SAML}" {attrs}>{issuer}{template}<samlp:Status><samlp:StatusCode Value="{}"/></samlp:Status>{assertion_or_encrypted}{extra}</samlp:Response>"#,
            esc(&self.status)
        );
        match &self.sign_response {
            Some(s) => sign_first_template(&xml, s),
            None => xml,
        }
    }

    /// The whole Response XML: assertion signed, then encrypted, then the Response signed,
    /// as each field says.
    pub fn response_xml(&self) -> String {
        let assertion = self.assertion_xml();
        let inner = match &self.encrypt {
            Some(enc) => encrypt_assertion(&assertion, enc),
            None => assertion,
        };
        self.response_around(&inner)
    }

    pub fn b64(&self) -> String {
        b64(&self.response_xml())
    }
}

// ---------------------------------------------------------------------------------------
// Attacks that need more than a field

/// An assertion whose signature is HMAC-SHA256 keyed with `hmac_key` (e.g. the IdP's
/// certificate: the classic key-confusion attack). The Reference digest is the real one
/// (taken from an RSA signature xmlsec made over the same assertion), and the HMAC is
/// computed over SignedInfo written directly in its exclusive-C14N form, so the signature
/// is genuine for anyone who accepts HMAC with that key.
pub fn hmac_signed_assertion(forge: &Forge, hmac_key: &[u8]) -> String {
    let rsa_signed = Forge {
        sign_assertion: Some(Signing {
            key_info_cert: false,
            ..Signing::idp()
        }),
        ..forge.clone()
    }
    .assertion_xml();
    let digest = between(&rsa_signed, "<ds:DigestValue>", "</ds:DigestValue>").to_string();
    let signed_info = format!(
        r##"<ds:SignedInfo xmlns:ds="{NS_DS}"><ds:CanonicalizationMethod Algorithm="{EXC_C14N}"></ds:CanonicalizationMethod><ds:SignatureMethod Algorithm="{HMAC_SHA256}"></ds:SignatureMethod><ds:Reference URI="#{id}"><ds:Transforms><ds:Transform Algorithm="{ENVELOPED}"></ds:Transform><ds:Transform Algorithm="{EXC_C14N}"></ds:Transform></ds:Transforms><ds:DigestMethod Algorithm="{DIGEST_SHA256}"></ds:DigestMethod><ds:DigestValue>{digest}</ds:DigestValue></ds:Reference></ds:SignedInfo>"##,
        id = forge.assertion_id
    );
    let key = PKey::hmac(hmac_key).expect("hmac key");
    let mut signer = Signer::new(MessageDigest::sha256(), &key).expect("hmac signer");
    signer.update(signed_info.as_bytes()).expect("hmac");
    let mac = B64.encode(signer.sign_to_vec().expect("mac"));
    let start = rsa_signed.find("<ds:SignedInfo>").expect("SignedInfo");
    let end = rsa_signed
        .find("</ds:SignatureValue>")
        .expect("SignatureValue")
        + "</ds:SignatureValue>".len();
    format!(
        "{}{signed_info}<ds:SignatureValue>{mac}</ds:SignatureValue>{}",
        &rsa_signed[..start],
        &rsa_signed[end..]
    )
}

/// The text between the first `start` and the next `end`.
pub fn between<'a>(s: &'a str, start: &str, end: &str) -> &'a str {
    let from = s.find(start).expect("start marker") + start.len();
    let to = s[from..].find(end).expect("end marker") + from;
    &s[from..to]
}
