//! The structural pre-check of a SAML Response, done with roxmltree (no DTD, no entity
//! expansion, no network, no files) BEFORE libxml2/xmlsec or samael see the document.
//!
//! Why: xmlsec follows whatever a `ds:Reference` names. Probed on this machine
//! (docs/DEPENDENCY-GUARDS.md), it fetched `http://127.0.0.1:…/` and opened `file:///etc/hostname`
//! from an anonymous POST to the ACS before any signature was checked. So the shapes
//! xmlsec may act on are whitelisted here:
//!
//! * no DOCTYPE (refused by [`super::xml_guard::parse_untrusted`]);
//! * every `ds:Reference` URI is `""` (only on the document element) or `#<NCName>`,
//!   and it names the element the `ds:Signature` sits in (enveloped signatures only, the
//!   SAML profile of XML-DSig, SAML core §5.4);
//! * canonicalization is exclusive C14N without comments; transforms are only
//!   enveloped-signature and exclusive C14N (no XPath, XSLT, base64, C14N-with-comments);
//! * no `RetrievalMethod` anywhere, `ds:KeyInfo` holds only inline key material
//!   (X509Data with inline certificates/names, KeyName, KeyValue, xenc:EncryptedKey);
//!   no `xenc:CipherReference`, `ds:Object`, `ds:Manifest`;
//! * the signature and digest algorithms are on the allow-list (SHA-1 only when the
//!   connector allows it, HMAC never);
//! * IDs are unique (with `xml:id`, which libxml2 registers on its own);
//! * exactly one `saml:Assertion` or `saml:EncryptedAssertion` in the whole document,
//!   as a direct child of the Response, and signatures only on the Response and that
//!   assertion.

use std::collections::HashSet;

use roxmltree::{Document, Node};

use super::error::SamlError;

pub const NS_SAMLP: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
pub const NS_SAML: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
pub const NS_DS: &str = "http://www.w3.org/2000/09/xmldsig#";
pub const NS_XENC: &str = "http://www.w3.org/2001/04/xmlenc#";
pub const NS_XENC11: &str = "http://www.w3.org/2009/xmlenc11#";
const NS_XML: &str = "http://www.w3.org/XML/1998/namespace";

pub const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
pub const ENVELOPED_SIGNATURE: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
pub const STATUS_SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";

pub const RSA_SHA1: &str = "http://www.w3.org/2000/09/xmldsig#rsa-sha1";
pub const DIGEST_SHA1: &str = "http://www.w3.org/2000/09/xmldsig#sha1";

/// Signature methods accepted without configuration (the same set is given to samael).
pub const SIGNATURE_METHODS: [&str; 6] = [
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512",
];

/// Reference digests accepted without configuration.
pub const DIGEST_METHODS: [&str; 3] = [
    "http://www.w3.org/2001/04/xmlenc#sha256",
    "http://www.w3.org/2001/04/xmldsig-more#sha384",
    "http://www.w3.org/2001/04/xmlenc#sha512",
];

/// What the pre-check learnt about a Response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseShape {
    pub response_id: String,
    /// The Response carries an enveloped signature over itself.
    pub response_signed: bool,
    pub assertion: AssertionShape,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssertionShape {
    /// A plain assertion, carrying its own enveloped signature (required).
    Plain { id: String },
    /// An EncryptedAssertion (the Response is then signed: required).
    Encrypted,
}

/// Is `node` the element `{ns}name`?
pub fn is(node: Node<'_, '_>, ns: &str, name: &str) -> bool {
    node.is_element() && node.tag_name().name() == name && node.tag_name().namespace() == Some(ns)
}

/// The element children of `node` named `{ns}name`.
pub fn children<'a, 'input>(
    node: Node<'a, 'input>,
    ns: &'a str,
    name: &'a str,
) -> impl Iterator<Item = Node<'a, 'input>> + 'a {
    node.children().filter(move |c| is(*c, ns, name))
}

/// The only child `{ns}name` of `node`, if any; two or more is malformed.
pub fn unique_child<'a, 'input>(
    node: Node<'a, 'input>,
    ns: &'a str,
    name: &'a str,
) -> Result<Option<Node<'a, 'input>>, SamlError> {
    let mut it = children(node, ns, name);
    let first = it.next();
    if it.next().is_some() {
        return Err(SamlError::Malformed(format!("more than one {name}")));
    }
    Ok(first)
}

/// Pre-checks a whole Response (see the module docs).
pub fn check_response(doc: &Document<'_>, allow_sha1: bool) -> Result<ResponseShape, SamlError> {
    let root = doc.root_element();
    if !is(root, NS_SAMLP, "Response") {
        return Err(SamlError::NotAResponse);
    }
    check_signature_shapes(doc)?;
    check_algorithms(doc, allow_sha1)?;
    check_unique_ids(doc)?;
    check_status(root)?;

    let assertions: Vec<Node> = doc
        .descendants()
        .filter(|n| is(*n, NS_SAML, "Assertion") || is(*n, NS_SAML, "EncryptedAssertion"))
        .collect();
    let [assertion] = assertions.as_slice() else {
        return Err(SamlError::AssertionCount);
    };
    let assertion = *assertion;
    if assertion.parent_element() != Some(root) {
        return Err(SamlError::AssertionMisplaced);
    }
    let plain = is(assertion, NS_SAML, "Assertion");

    for sig in doc.descendants().filter(|n| is(*n, NS_DS, "Signature")) {
        let parent = sig.parent_element();
        let allowed_parent = parent == Some(root) || (plain && parent == Some(assertion));
        match parent {
            Some(parent) if allowed_parent => {
                if !signs_its_parent(sig, parent, parent == root) {
                    return Err(SamlError::SignatureStructure);
                }
            }
            _ => return Err(SamlError::SignatureStructure),
        }
    }

    let response_id = root
        .attribute("ID")
        .filter(|id| !id.is_empty())
        .ok_or_else(|| SamlError::Malformed("the Response has no ID".into()))?
        .to_string();
    let response_signed = has_signature_child(root);
    let assertion_signed = plain && has_signature_child(assertion);
    if !plain {
        // The assertion's own signature, if any, is inside the ciphertext: the Response
        // signature is what authenticates the EncryptedAssertion.
        if !response_signed {
            return Err(SamlError::EncryptedResponseNotSigned);
        }
        return Ok(ResponseShape {
            response_id,
            response_signed,
            assertion: AssertionShape::Encrypted,
        });
    }
    if !response_signed && !assertion_signed {
        return Err(SamlError::SignatureMissing);
    }
    if !assertion_signed {
        return Err(SamlError::AssertionNotSigned);
    }
    let id = assertion
        .attribute("ID")
        .filter(|id| !id.is_empty())
        .ok_or_else(|| SamlError::Malformed("the Assertion has no ID".into()))?
        .to_string();
    Ok(ResponseShape {
        response_id,
        response_signed,
        assertion: AssertionShape::Plain { id },
    })
}

/// Pre-checks a decrypted assertion, given wrapped in one element of ours (which holds
/// the namespace declarations in scope where the EncryptedAssertion was). Returns the
/// assertion's ID. Its own signature is required.
pub fn check_decrypted(doc: &Document<'_>, allow_sha1: bool) -> Result<String, SamlError> {
    let wrapper = doc.root_element();
    let mut elements = wrapper.children().filter(|c| c.is_element());
    let (Some(assertion), None) = (elements.next(), elements.next()) else {
        return Err(SamlError::Malformed(
            "the encrypted assertion does not hold exactly one element".into(),
        ));
    };
    let stray_text = wrapper
        .children()
        .any(|c| c.is_text() && !c.text().unwrap_or("").trim().is_empty());
    if !is(assertion, NS_SAML, "Assertion") || stray_text {
        return Err(SamlError::Malformed(
            "the encrypted assertion does not hold a SAML Assertion".into(),
        ));
    }
    check_signature_shapes(doc)?;
    check_algorithms(doc, allow_sha1)?;
    check_unique_ids(doc)?;
    let nested = assertion
        .descendants()
        .skip(1)
        .any(|n| is(n, NS_SAML, "Assertion") || is(n, NS_SAML, "EncryptedAssertion"));
    if nested {
        return Err(SamlError::AssertionCount);
    }
    for sig in doc.descendants().filter(|n| is(*n, NS_DS, "Signature")) {
        if sig.parent_element() != Some(assertion) || !signs_its_parent(sig, assertion, false) {
            return Err(SamlError::SignatureStructure);
        }
    }
    if !has_signature_child(assertion) {
        return Err(SamlError::AssertionNotSigned);
    }
    assertion
        .attribute("ID")
        .filter(|id| !id.is_empty())
        .map(str::to_string)
        .ok_or_else(|| SamlError::Malformed("the Assertion has no ID".into()))
}

fn has_signature_child(node: Node<'_, '_>) -> bool {
    children(node, NS_DS, "Signature").next().is_some()
}

/// The signature's one Reference names its parent: `#<parent ID>`, or `""` when the
/// parent is the document element.
fn signs_its_parent(sig: Node<'_, '_>, parent: Node<'_, '_>, parent_is_root: bool) -> bool {
    let Some(uri) = sig
        .children()
        .find(|c| is(*c, NS_DS, "SignedInfo"))
        .and_then(|si| si.children().find(|c| is(*c, NS_DS, "Reference")))
        .and_then(|r| r.attribute("URI"))
    else {
        return false;
    };
    if uri.is_empty() {
        return parent_is_root;
    }
    match (uri.strip_prefix('#'), parent.attribute("ID")) {
        (Some(target), Some(id)) => target == id,
        _ => false,
    }
}

/// A same-document reference: `#` followed by an XML NCName (so no XPointer).
fn is_local_reference(uri: &str) -> bool {
    let Some(id) = uri.strip_prefix('#') else {
        return false;
    };
    let mut chars = id.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    (first == '_' || first.is_alphabetic())
        && chars.all(|c| c == '_' || c == '-' || c == '.' || c.is_alphanumeric())
}

/// Everything xmlsec could act on before checking a signature: references, transforms,
/// key retrieval, objects, manifests, cipher references.
fn check_signature_shapes(doc: &Document<'_>) -> Result<(), SamlError> {
    for n in doc.descendants().filter(|n| n.is_element()) {
        let name = n.tag_name().name();
        let ns = n.tag_name().namespace();
        if name == "RetrievalMethod" {
            return Err(SamlError::RetrievalMethod);
        }
        if ns == Some(NS_DS) && matches!(name, "Object" | "Manifest" | "SignatureProperties") {
            return Err(SamlError::SignatureStructure);
        }
        if name == "CipherReference" {
            return Err(SamlError::ReferenceUri);
        }
        if is(n, NS_DS, "KeyInfo") {
            check_key_info(n)?;
        }
    }
    for sig in doc.descendants().filter(|n| is(*n, NS_DS, "Signature")) {
        // One signature per element: a second one (e.g. a copy of the genuine one, the
        // "decoy signature" attack) is never what an IdP sends.
        let siblings = sig.parent_element().map_or(0, |p| {
            p.children().filter(|c| is(*c, NS_DS, "Signature")).count()
        });
        if siblings > 1 {
            return Err(SamlError::SignatureStructure);
        }
        let mut signed_info = None;
        for c in sig.children().filter(|c| c.is_element()) {
            if is(c, NS_DS, "SignedInfo") && signed_info.is_none() {
                signed_info = Some(c);
            } else if !(is(c, NS_DS, "SignatureValue") || is(c, NS_DS, "KeyInfo")) {
                return Err(SamlError::SignatureStructure);
            }
        }
        let signed_info = signed_info.ok_or(SamlError::SignatureStructure)?;
        let (mut c14n, mut method, mut reference) = (0, 0, None);
        for c in signed_info.children().filter(|c| c.is_element()) {
            if is(c, NS_DS, "CanonicalizationMethod") {
                c14n += 1;
                if c.attribute("Algorithm") != Some(EXC_C14N) {
                    return Err(SamlError::Transform);
                }
                check_inclusive_namespaces_only(c)?;
            } else if is(c, NS_DS, "SignatureMethod") {
                method += 1;
            } else if is(c, NS_DS, "Reference") && reference.is_none() {
                reference = Some(c);
            } else {
                return Err(SamlError::SignatureStructure);
            }
        }
        let reference = reference.ok_or(SamlError::SignatureStructure)?;
        if c14n != 1 || method != 1 {
            return Err(SamlError::SignatureStructure);
        }
        match reference.attribute("URI") {
            Some("") => {}
            Some(uri) if is_local_reference(uri) => {}
            _ => return Err(SamlError::ReferenceUri),
        }
        let (mut transforms, mut digest_method, mut digest_value) = (0, 0, 0);
        for c in reference.children().filter(|c| c.is_element()) {
            if is(c, NS_DS, "Transforms") {
                transforms += 1;
                for t in c.children().filter(|t| t.is_element()) {
                    if !is(t, NS_DS, "Transform") {
                        return Err(SamlError::Transform);
                    }
                    match t.attribute("Algorithm") {
                        Some(ENVELOPED_SIGNATURE) | Some(EXC_C14N) => {}
                        _ => return Err(SamlError::Transform),
                    }
                    check_inclusive_namespaces_only(t)?;
                }
            } else if is(c, NS_DS, "DigestMethod") {
                digest_method += 1;
            } else if is(c, NS_DS, "DigestValue") {
                digest_value += 1;
            } else {
                return Err(SamlError::SignatureStructure);
            }
        }
        if transforms > 1 || digest_method != 1 || digest_value != 1 {
            return Err(SamlError::SignatureStructure);
        }
    }
    Ok(())
}

/// A C14N method or transform may only carry an exclusive-C14N InclusiveNamespaces list.
fn check_inclusive_namespaces_only(node: Node<'_, '_>) -> Result<(), SamlError> {
    for c in node.children().filter(|c| c.is_element()) {
        if !is(c, EXC_C14N, "InclusiveNamespaces") || c.children().any(|g| g.is_element()) {
            return Err(SamlError::Transform);
        }
    }
    Ok(())
}

/// Inline key material only: nothing that names a key somewhere else.
fn check_key_info(key_info: Node<'_, '_>) -> Result<(), SamlError> {
    for c in key_info.children().filter(|c| c.is_element()) {
        if is(c, NS_DS, "X509Data") {
            for x in c.children().filter(|x| x.is_element()) {
                let inline = is(x, NS_DS, "X509Certificate")
                    || is(x, NS_DS, "X509IssuerSerial")
                    || is(x, NS_DS, "X509SubjectName")
                    || is(x, NS_DS, "X509SKI");
                if !inline {
                    return Err(SamlError::RetrievalMethod);
                }
            }
        } else if !(is(c, NS_DS, "KeyName")
            || is(c, NS_DS, "KeyValue")
            || is(c, NS_XENC, "EncryptedKey"))
        {
            return Err(SamlError::RetrievalMethod);
        }
        // Nothing inside may name a location, except an EncryptedKey's ReferenceList
        // pointing at the EncryptedData of this document.
        for d in c.descendants().filter(|d| d.attribute("URI").is_some()) {
            let local_list_entry = (is(d, NS_XENC, "DataReference")
                || is(d, NS_XENC, "KeyReference"))
                && d.attribute("URI").is_some_and(is_local_reference);
            if !local_list_entry {
                return Err(SamlError::RetrievalMethod);
            }
        }
    }
    Ok(())
}

fn check_algorithms(doc: &Document<'_>, allow_sha1: bool) -> Result<(), SamlError> {
    for sig in doc.descendants().filter(|n| is(*n, NS_DS, "Signature")) {
        for n in sig.descendants() {
            if is(n, NS_DS, "SignatureMethod") {
                let alg = n.attribute("Algorithm").unwrap_or("");
                let ok = SIGNATURE_METHODS.contains(&alg) || (allow_sha1 && alg == RSA_SHA1);
                // HMAC is never acceptable: its "key" would be the IdP's public certificate.
                if !ok || n.children().any(|c| c.is_element()) {
                    return Err(SamlError::SignatureAlgorithm);
                }
            } else if is(n, NS_DS, "DigestMethod") {
                let alg = n.attribute("Algorithm").unwrap_or("");
                if !(DIGEST_METHODS.contains(&alg) || (allow_sha1 && alg == DIGEST_SHA1)) {
                    return Err(SamlError::SignatureAlgorithm);
                }
            }
        }
    }
    Ok(())
}

fn check_unique_ids(doc: &Document<'_>) -> Result<(), SamlError> {
    let mut seen = HashSet::new();
    for n in doc.descendants().filter(|n| n.is_element()) {
        for a in n.attributes() {
            let is_id = (a.name() == "ID" && a.namespace().is_none())
                || (a.name() == "id" && a.namespace() == Some(NS_XML));
            if is_id && !seen.insert(a.value()) {
                return Err(SamlError::DuplicateId);
            }
        }
    }
    Ok(())
}

/// A failure status is reported as such even when the Response is unsigned: refusing is
/// always safe, and an IdP's error response usually carries no assertion at all.
fn check_status(root: Node<'_, '_>) -> Result<(), SamlError> {
    let status = unique_child(root, NS_SAMLP, "Status")?
        .ok_or_else(|| SamlError::Malformed("the Response has no Status".into()))?;
    let code = unique_child(status, NS_SAMLP, "StatusCode")?
        .ok_or_else(|| SamlError::Malformed("the Status has no StatusCode".into()))?;
    let value = code.attribute("Value").unwrap_or("");
    if value == STATUS_SUCCESS {
        return Ok(());
    }
    let mut what = short(value);
    if let Some(sub) = children(code, NS_SAMLP, "StatusCode")
        .next()
        .and_then(|s| s.attribute("Value"))
    {
        what.push_str(" / ");
        what.push_str(&short(sub));
    }
    if let Some(msg) = children(status, NS_SAMLP, "StatusMessage").next() {
        let text: String = msg
            .descendants()
            .filter_map(|d| d.text().filter(|_| d.is_text()))
            .collect();
        if !text.trim().is_empty() {
            what.push_str(": ");
            what.push_str(&short(text.trim()));
        }
    }
    Err(SamlError::StatusNotSuccess(what))
}

/// At most 200 characters of something the IdP said, for error pages and audit events.
fn short(s: &str) -> String {
    let mut out: String = s.chars().filter(|c| !c.is_control()).take(200).collect();
    if s.chars().count() > 200 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::xml_guard::parse_untrusted;
    use super::*;

    const SIG_ALG: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
    const DIGEST: &str = "http://www.w3.org/2001/04/xmlenc#sha256";

    fn signature(uri: &str) -> String {
        signature_with(
            uri,
            EXC_C14N,
            &[ENVELOPED_SIGNATURE, EXC_C14N],
            SIG_ALG,
            DIGEST,
            "",
        )
    }

    fn signature_with(
        uri: &str,
        c14n: &str,
        transforms: &[&str],
        sig_alg: &str,
        digest: &str,
        key_info: &str,
    ) -> String {
        let transforms: String = transforms
            .iter()
            .map(|t| format!(r#"<ds:Transform Algorithm="{t}"/>"#))
            .collect();
        format!(
            r#"<ds:Signature xmlns:ds="{NS_DS}"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="{c14n}"/><ds:SignatureMethod Algorithm="{sig_alg}"/><ds:Reference URI="{uri}"><ds:Transforms>{transforms}</ds:Transforms><ds:DigestMethod Algorithm="{digest}"/><ds:DigestValue>AA==</ds:DigestValue></ds:Reference></ds:SignedInfo><ds:SignatureValue>AA==</ds:SignatureValue>{key_info}</ds:Signature>"#
        )
    }

    fn response(response_sig: &str, assertion_sig: &str, extra: &str) -> String {
        format!(
            r#"<samlp:Response xmlns:samlp="{NS_SAMLP}" xmlns:saml="{NS_SAML}" ID="r1" Version="2.0"><saml:Issuer>idp</saml:Issuer>{response_sig}<samlp:Status><samlp:StatusCode Value="{STATUS_SUCCESS}"/></samlp:Status><saml:Assertion ID="a1" Version="2.0"><saml:Issuer>idp</saml:Issuer>{assertion_sig}</saml:Assertion>{extra}</samlp:Response>"#
        )
    }

    fn check(xml: &str) -> Result<ResponseShape, SamlError> {
        let doc = parse_untrusted(xml).expect("well-formed test document");
        check_response(&doc, false)
    }

    #[test]
    fn accepts_signed_response_and_assertion() {
        let shape = check(&response(&signature("#r1"), &signature("#a1"), "")).expect("ok");
        assert_eq!(
            shape,
            ResponseShape {
                response_id: "r1".into(),
                response_signed: true,
                assertion: AssertionShape::Plain { id: "a1".into() }
            }
        );
        let shape = check(&response("", &signature("#a1"), "")).expect("ok");
        assert!(!shape.response_signed);
        // URI="" on the document element means the whole document: the Response.
        assert!(check(&response(&signature(""), &signature("#a1"), "")).is_ok());
    }

    #[test]
    fn refuses_references_that_leave_the_document() {
        for uri in [
            "http://127.0.0.1:9/x",
            "file:///etc/hostname",
            "#xpointer(/)",
            "#xpointer(id('a1'))",
            "a1",
            "#",
        ] {
            let xml = response("", &signature(uri), "");
            assert_eq!(check(&xml), Err(SamlError::ReferenceUri), "{uri}");
        }
        let no_uri = response("", &signature("#a1").replace(r##" URI="#a1""##, ""), "");
        assert_eq!(check(&no_uri), Err(SamlError::ReferenceUri));
    }

    #[test]
    fn refuses_other_transforms_and_canonicalizations() {
        for t in [
            "http://www.w3.org/TR/1999/REC-xslt-19991116",
            "http://www.w3.org/TR/1999/REC-xpath-19991116",
            "http://www.w3.org/2002/06/xmldsig-filter2",
            "http://www.w3.org/2001/10/xml-exc-c14n#WithComments",
            "http://www.w3.org/2000/09/xmldsig#base64",
            "http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
        ] {
            let sig = signature_with(
                "#a1",
                EXC_C14N,
                &[ENVELOPED_SIGNATURE, t],
                SIG_ALG,
                DIGEST,
                "",
            );
            assert_eq!(
                check(&response("", &sig, "")),
                Err(SamlError::Transform),
                "{t}"
            );
            let sig = signature_with("#a1", t, &[ENVELOPED_SIGNATURE], SIG_ALG, DIGEST, "");
            assert_eq!(
                check(&response("", &sig, "")),
                Err(SamlError::Transform),
                "{t}"
            );
        }
        // An XPath expression smuggled inside an allowed transform.
        let sig = signature("#a1").replace(
            &format!(r#"<ds:Transform Algorithm="{EXC_C14N}"/>"#),
            &format!(
                r#"<ds:Transform Algorithm="{EXC_C14N}"><ds:XPath>/</ds:XPath></ds:Transform>"#
            ),
        );
        assert_eq!(check(&response("", &sig, "")), Err(SamlError::Transform));
    }

    #[test]
    fn refuses_retrieval_method_and_external_key_info() {
        let rm = r##"<ds:KeyInfo><ds:RetrievalMethod URI="http://127.0.0.1:9/key"/></ds:KeyInfo>"##;
        let sig = signature_with(
            "#a1",
            EXC_C14N,
            &[ENVELOPED_SIGNATURE, EXC_C14N],
            SIG_ALG,
            DIGEST,
            rm,
        );
        assert_eq!(
            check(&response("", &sig, "")),
            Err(SamlError::RetrievalMethod)
        );
        // RetrievalMethod anywhere, in any namespace.
        let xml = response(
            "",
            &signature("#a1"),
            r#"<x:RetrievalMethod xmlns:x="urn:x"/>"#,
        );
        assert_eq!(check(&xml), Err(SamlError::RetrievalMethod));
        for ki in [
            r#"<ds:KeyInfo><ds:X509Data><ds:X509URL>http://127.0.0.1:9/c</ds:X509URL></ds:X509Data></ds:KeyInfo>"#,
            r##"<ds:KeyInfo><dsig11:KeyInfoReference xmlns:dsig11="http://www.w3.org/2009/xmldsig11#" URI="#k"/></ds:KeyInfo>"##,
            r#"<ds:KeyInfo><ds:KeyName URI="http://x/">k</ds:KeyName></ds:KeyInfo>"#,
        ] {
            let sig = signature_with(
                "#a1",
                EXC_C14N,
                &[ENVELOPED_SIGNATURE, EXC_C14N],
                SIG_ALG,
                DIGEST,
                ki,
            );
            assert_eq!(
                check(&response("", &sig, "")),
                Err(SamlError::RetrievalMethod),
                "{ki}"
            );
        }
        let ek = |uri: &str| {
            format!(
                r#"<ds:KeyInfo><xenc:EncryptedKey xmlns:xenc="{NS_XENC}"><xenc:ReferenceList><xenc:DataReference URI="{uri}"/></xenc:ReferenceList></xenc:EncryptedKey></ds:KeyInfo>"#
            )
        };
        let sig = signature_with(
            "#a1",
            EXC_C14N,
            &[ENVELOPED_SIGNATURE, EXC_C14N],
            SIG_ALG,
            DIGEST,
            &ek("#ed1"),
        );
        assert!(check(&response("", &sig, "")).is_ok());
        let sig = signature_with(
            "#a1",
            EXC_C14N,
            &[ENVELOPED_SIGNATURE, EXC_C14N],
            SIG_ALG,
            DIGEST,
            &ek("http://x/"),
        );
        assert_eq!(
            check(&response("", &sig, "")),
            Err(SamlError::RetrievalMethod)
        );
        let inline = r#"<ds:KeyInfo><ds:KeyName>k</ds:KeyName><ds:X509Data><ds:X509Certificate>AA==</ds:X509Certificate></ds:X509Data></ds:KeyInfo>"#;
        let sig = signature_with(
            "#a1",
            EXC_C14N,
            &[ENVELOPED_SIGNATURE, EXC_C14N],
            SIG_ALG,
            DIGEST,
            inline,
        );
        assert!(check(&response("", &sig, "")).is_ok());
    }

    #[test]
    fn refuses_sha1_unless_allowed_and_hmac_always() {
        let sha1 = signature_with(
            "#a1",
            EXC_C14N,
            &[ENVELOPED_SIGNATURE, EXC_C14N],
            RSA_SHA1,
            DIGEST_SHA1,
            "",
        );
        let xml = response("", &sha1, "");
        assert_eq!(check(&xml), Err(SamlError::SignatureAlgorithm));
        let doc = parse_untrusted(&xml).expect("xml");
        assert!(check_response(&doc, true).is_ok());
        let sha1_digest = signature_with(
            "#a1",
            EXC_C14N,
            &[ENVELOPED_SIGNATURE, EXC_C14N],
            SIG_ALG,
            DIGEST_SHA1,
            "",
        );
        assert_eq!(
            check(&response("", &sha1_digest, "")),
            Err(SamlError::SignatureAlgorithm)
        );
        for hmac in [
            "http://www.w3.org/2000/09/xmldsig#hmac-sha1",
            "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256",
        ] {
            let sig = signature_with(
                "#a1",
                EXC_C14N,
                &[ENVELOPED_SIGNATURE, EXC_C14N],
                hmac,
                DIGEST,
                "",
            );
            let xml = response("", &sig, "");
            let doc = parse_untrusted(&xml).expect("xml");
            assert_eq!(
                check_response(&doc, true),
                Err(SamlError::SignatureAlgorithm)
            );
        }
    }

    #[test]
    fn requires_exactly_one_assertion_in_place() {
        let second = r#"<saml:Assertion ID="a2"/>"#;
        assert_eq!(
            check(&response("", &signature("#a1"), second)),
            Err(SamlError::AssertionCount)
        );
        let none = response("", "", "").replace(r#"<saml:Assertion ID="a1" Version="2.0"><saml:Issuer>idp</saml:Issuer></saml:Assertion>"#, "");
        assert_eq!(check(&none), Err(SamlError::AssertionCount));
        let moved = response(&signature("#r1"), "", "").replace(
            r#"<saml:Assertion ID="a1" Version="2.0"><saml:Issuer>idp</saml:Issuer></saml:Assertion>"#,
            &format!(r#"<samlp:Extensions><saml:Assertion ID="a1" Version="2.0"><saml:Issuer>idp</saml:Issuer>{}</saml:Assertion></samlp:Extensions>"#, signature("#a1")),
        );
        assert_eq!(check(&moved), Err(SamlError::AssertionMisplaced));
    }

    #[test]
    fn requires_signatures_in_place_and_on_the_assertion() {
        assert_eq!(
            check(&response("", "", "")),
            Err(SamlError::SignatureMissing)
        );
        assert_eq!(
            check(&response(&signature("#r1"), "", "")),
            Err(SamlError::AssertionNotSigned)
        );
        // A Response-level signature that signs the assertion instead of the Response.
        assert_eq!(
            check(&response(&signature("#a1"), "", "")),
            Err(SamlError::SignatureStructure)
        );
        // URI="" inside the assertion would sign the whole document, not the assertion.
        assert_eq!(
            check(&response("", &signature(""), "")),
            Err(SamlError::SignatureStructure)
        );
        let objects = signature("#a1").replace(
            "</ds:Signature>",
            r#"<ds:Object><x/></ds:Object></ds:Signature>"#,
        );
        assert_eq!(
            check(&response("", &objects, "")),
            Err(SamlError::SignatureStructure)
        );
        let two_refs = signature("#a1").replace(
            "</ds:SignedInfo>",
            &format!(r##"<ds:Reference URI="#r1"><ds:DigestMethod Algorithm="{DIGEST}"/><ds:DigestValue>AA==</ds:DigestValue></ds:Reference></ds:SignedInfo>"##),
        );
        assert_eq!(
            check(&response("", &two_refs, "")),
            Err(SamlError::SignatureStructure)
        );
    }

    #[test]
    fn refuses_duplicate_ids_status_failures_and_other_roots() {
        let dup = response("", &signature("#a1"), r#"<samlp:Extensions ID="a1"/>"#);
        assert_eq!(check(&dup), Err(SamlError::DuplicateId));
        let xml_id = response("", &signature("#a1"), r#"<samlp:Extensions xml:id="a1"/>"#);
        assert_eq!(check(&xml_id), Err(SamlError::DuplicateId));
        let failed = response("", "", "").replace(
            &format!(r#"<samlp:StatusCode Value="{STATUS_SUCCESS}"/>"#),
            r#"<samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Responder"><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:AuthnFailed"/></samlp:StatusCode><samlp:StatusMessage>no</samlp:StatusMessage>"#,
        );
        assert_eq!(
            check(&failed),
            Err(SamlError::StatusNotSuccess(
                "urn:oasis:names:tc:SAML:2.0:status:Responder / urn:oasis:names:tc:SAML:2.0:status:AuthnFailed: no".into()
            ))
        );
        let assertion_root = format!(r#"<saml:Assertion xmlns:saml="{NS_SAML}" ID="a1"/>"#);
        assert_eq!(check(&assertion_root), Err(SamlError::NotAResponse));
    }

    #[test]
    fn decrypted_assertions_must_be_alone_and_signed() {
        let wrap = |inner: &str| format!(r#"<w xmlns:saml="{NS_SAML}">{inner}</w>"#);
        let ok = wrap(&format!(
            r#"<saml:Assertion ID="a1">{}</saml:Assertion>"#,
            signature("#a1")
        ));
        let doc = parse_untrusted(&ok).expect("xml");
        assert_eq!(check_decrypted(&doc, false), Ok("a1".into()));
        let unsigned = wrap(r#"<saml:Assertion ID="a1"/>"#);
        let doc = parse_untrusted(&unsigned).expect("xml");
        assert_eq!(
            check_decrypted(&doc, false),
            Err(SamlError::AssertionNotSigned)
        );
        let two = wrap(&format!(
            r#"<saml:Assertion ID="a1">{}</saml:Assertion><saml:Assertion ID="a2"/>"#,
            signature("#a1")
        ));
        let doc = parse_untrusted(&two).expect("xml");
        assert!(matches!(
            check_decrypted(&doc, false),
            Err(SamlError::Malformed(_))
        ));
        let nested = wrap(&format!(
            r#"<saml:Assertion ID="a1">{}<saml:Assertion ID="a2"/></saml:Assertion>"#,
            signature("#a1")
        ));
        let doc = parse_untrusted(&nested).expect("xml");
        assert_eq!(check_decrypted(&doc, false), Err(SamlError::AssertionCount));
        let whole_doc = wrap(&format!(
            r#"<saml:Assertion ID="a1">{}</saml:Assertion>"#,
            signature("")
        ));
        let doc = parse_untrusted(&whole_doc).expect("xml");
        assert_eq!(
            check_decrypted(&doc, false),
            Err(SamlError::SignatureStructure)
        );
    }
}
