//! A safe first look at XML from outside, before samael/libxml2/xmlsec see it.
//!
//! roxmltree never resolves external entities and, as configured here, refuses any
//! DOCTYPE: that stops XXE, billion-laughs and DTD-based tricks regardless of what
//! libxml2 would do with them.

use roxmltree::{Document, ParsingOptions};

/// Documents larger than this are refused before parsing.
pub const MAX_XML_BYTES: usize = 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlGuardError {
    #[error("the document is larger than {MAX_XML_BYTES} bytes")]
    TooLarge,
    #[error("the document has a DOCTYPE (DTDs and entities are not allowed)")]
    Doctype,
    #[error("not well-formed XML: {0}")]
    Malformed(String),
}

impl XmlGuardError {
    /// Stable reason code for audit events and error pages.
    pub fn code(&self) -> &'static str {
        match self {
            XmlGuardError::TooLarge => "xml_too_large",
            XmlGuardError::Doctype => "xml_doctype",
            XmlGuardError::Malformed(_) => "xml_malformed",
        }
    }
}

/// Parses `xml` with no DTD allowed. The caller inspects the tree further.
pub fn parse_untrusted(xml: &str) -> Result<Document<'_>, XmlGuardError> {
    if xml.len() > MAX_XML_BYTES {
        return Err(XmlGuardError::TooLarge);
    }
    let opts = ParsingOptions {
        allow_dtd: false,
        ..ParsingOptions::default()
    };
    Document::parse_with_options(xml, opts).map_err(|e| match e {
        roxmltree::Error::DtdDetected => XmlGuardError::Doctype,
        other => XmlGuardError::Malformed(other.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_doctype_and_entities() {
        let xxe = r#"<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/hostname">]><r>&x;</r>"#;
        assert_eq!(parse_untrusted(xxe).unwrap_err(), XmlGuardError::Doctype);
        let plain = r#"<!DOCTYPE r><r/>"#;
        assert_eq!(parse_untrusted(plain).unwrap_err(), XmlGuardError::Doctype);
    }

    #[test]
    fn refuses_oversized_and_malformed() {
        let big = format!("<r>{}</r>", "a".repeat(MAX_XML_BYTES));
        assert_eq!(parse_untrusted(&big).unwrap_err(), XmlGuardError::TooLarge);
        assert_eq!(parse_untrusted("<r>").unwrap_err().code(), "xml_malformed");
        assert_eq!(
            parse_untrusted("not xml").unwrap_err().code(),
            "xml_malformed"
        );
    }

    #[test]
    fn accepts_plain_xml() {
        assert!(parse_untrusted("<r a='1'><c/></r>").is_ok());
    }
}
