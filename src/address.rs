//! Email addresses and domains, compared normalized (docs/RULES.md, "Connector domains"):
//! lower-cased, IDN domains in punycode; a domain pattern matches exactly unless it is
//! written `*.example.com`, which matches any subdomain (not the apex itself).

/// A normalized email address: `local@domain`, lower-case, domain in punycode.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct Email(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("not an email address")]
    Malformed,
    #[error("the email domain is not a valid domain name")]
    BadDomain,
}

impl Email {
    pub fn parse(raw: &str) -> Result<Email, EmailError> {
        let raw = raw.trim();
        if raw.len() > 320 || raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(EmailError::Malformed);
        }
        let (local, domain) = raw.rsplit_once('@').ok_or(EmailError::Malformed)?;
        // The limits hold for the normalized form, which is what is stored and parsed
        // again: lower case can be longer in UTF-8 (`İ` is 2 bytes, `i̇` 3), so a 64-byte
        // local part could normalize to one that no longer parses, and an account with it
        // could not be provisioned or synced.
        let local = local.to_lowercase();
        if local.is_empty() || local.len() > 64 || local.contains('@') {
            return Err(EmailError::Malformed);
        }
        let domain = normalize_domain(domain).map_err(|_| EmailError::BadDomain)?;
        let email = format!("{local}@{domain}");
        if email.len() > 320 {
            return Err(EmailError::Malformed);
        }
        Ok(Email(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map(|(_, d)| d).unwrap_or_default()
    }
}

impl std::fmt::Display for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Lower-cases a domain and converts IDN labels to punycode (UTS #46). A leading `*.` is
/// kept (a pattern). A trailing dot is dropped.
pub fn normalize_domain(raw: &str) -> Result<String, EmailError> {
    let raw = raw.trim().trim_end_matches('.');
    let (wild, rest) = match raw.strip_prefix("*.") {
        Some(rest) => (true, rest),
        None => (false, raw),
    };
    if rest.is_empty() || rest.contains('*') {
        return Err(EmailError::BadDomain);
    }
    let ascii = idna::domain_to_ascii(rest).map_err(|_| EmailError::BadDomain)?;
    if ascii.is_empty()
        || !ascii.contains('.')
        || ascii.split('.').any(|l| l.is_empty() || l.len() > 63)
        || !ascii
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
    {
        return Err(EmailError::BadDomain);
    }
    Ok(if wild { format!("*.{ascii}") } else { ascii })
}

/// The patterns that can match a normalized `domain`: itself and `*.` + each proper
/// parent (`a.b.example` → `a.b.example`, `*.b.example`, `*.example`), for index lookups.
pub fn covering_patterns(domain: &str) -> Vec<String> {
    let mut out = vec![domain.to_string()];
    let labels: Vec<&str> = domain.split('.').collect();
    for i in 1..labels.len() {
        out.push(format!("*.{}", labels[i..].join(".")));
    }
    out
}

/// Does the normalized `domain` match the normalized `pattern`?
pub fn domain_matches(pattern: &str, domain: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(suffix) => {
            domain.len() > suffix.len() + 1
                && domain.ends_with(suffix)
                && domain.as_bytes()[domain.len() - suffix.len() - 1] == b'.'
        }
        None => pattern == domain,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by `properties::email_normalization_never_panics_and_is_stable`: 32 × `İ`
    /// (64 bytes) lower-cased to 96 bytes and the stored email no longer parsed.
    #[test]
    fn a_normalized_email_parses_to_itself_or_is_refused() {
        for raw in [
            format!("{}@acme.test", "İ".repeat(32)),
            format!("{}@acme.test", "Ⱥ".repeat(32)),
            format!("{}@acme.test", "İ".repeat(21)),
            format!("{}@{}.test", "a".repeat(64), "bücher".repeat(40)),
        ] {
            if let Ok(e) = Email::parse(&raw) {
                assert_eq!(Email::parse(e.as_str()), Ok(e.clone()), "{raw}");
            }
        }
        assert_eq!(
            Email::parse(&format!("{}@acme.test", "İ".repeat(32))),
            Err(EmailError::Malformed)
        );
        assert!(Email::parse(&format!("{}@acme.test", "İ".repeat(21))).is_ok());
    }

    #[test]
    fn normalizes_case_and_idn() {
        assert_eq!(
            Email::parse(" Alice@ACME.Test ").expect("ok").as_str(),
            "alice@acme.test"
        );
        assert_eq!(
            Email::parse("bob@Bücher.example").expect("ok").as_str(),
            "bob@xn--bcher-kva.example"
        );
        assert_eq!(
            Email::parse("bob@xn--bcher-kva.example")
                .expect("ok")
                .domain(),
            "xn--bcher-kva.example"
        );
    }

    #[test]
    fn refuses_malformed() {
        for bad in [
            "",
            "no-at",
            "@acme.test",
            "a@",
            "a b@acme.test",
            "a@acme",
            "a@ac me.test",
            "a@-\u{0}.test",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn domain_patterns() {
        assert!(domain_matches("acme.test", "acme.test"));
        assert!(!domain_matches("acme.test", "eu.acme.test"));
        assert!(domain_matches("*.acme.test", "eu.acme.test"));
        assert!(!domain_matches("*.acme.test", "acme.test"));
        assert!(!domain_matches("*.acme.test", "evilacme.test"));
        assert_eq!(
            normalize_domain("*.Bücher.example").expect("ok"),
            "*.xn--bcher-kva.example"
        );
        assert!(normalize_domain("a.*.example").is_err());
    }
}
