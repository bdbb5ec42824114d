//! Trust anchors fetched over the network: a SAML IdP's metadata URL (its signing
//! certificates) and an OIDC issuer (discovery and JWKS: its signing keys). Fetched over
//! plain `http://`, anyone on the path can swap the document — a certificate or key of
//! their own — and then forge any sign-in; and both are fetched again and again (the
//! hourly metadata refresh, the discovery cache), so one moment on the path is enough.
//! Such URLs are refused when a connector is saved (apply, the API) and when they are
//! used (metadata refresh, OIDC sign-in), except for loopback hosts (nothing crosses a
//! network) or a connector that sets `allow_insecure_http = true` (which the linter
//! reports).

use std::fmt;

/// The error code of a refused trust anchor (API, audit, error page).
pub const CODE: &str = "insecure_trust_anchor";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InsecureTrustAnchor {
    /// Which setting: `metadata_url` or `issuer`.
    pub what: &'static str,
    pub url: String,
}

impl fmt::Display for InsecureTrustAnchor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{CODE}: {} must be https (or set allow_insecure_http = true): {}",
            self.what, self.url
        )
    }
}

impl std::error::Error for InsecureTrustAnchor {}

/// Whether `url` uses plain http to a host that is not loopback (`127.0.0.0/8`, `::1`,
/// `localhost`). Unparseable URLs and other schemes are not this check's business (the
/// callers refuse them with their own message).
pub fn is_insecure(url: &str) -> bool {
    let Ok(u) = url::Url::parse(url) else {
        return false;
    };
    if u.scheme() != "http" {
        return false;
    }
    match u.host() {
        Some(url::Host::Ipv4(ip)) => !ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => !ip.is_loopback(),
        // `url` lowercases domains. Only `localhost` itself: a name below it may be
        // resolved by DNS like any other.
        Some(url::Host::Domain(d)) => d != "localhost",
        None => true,
    }
}

/// Refuses a plain-http, non-loopback `url` unless `allow_insecure_http`.
/// `what` names the setting in the error (`metadata_url`, `issuer`).
pub fn check_named(
    what: &'static str,
    url: &str,
    allow_insecure_http: bool,
) -> Result<(), InsecureTrustAnchor> {
    if allow_insecure_http || !is_insecure(url) {
        Ok(())
    } else {
        Err(InsecureTrustAnchor {
            what,
            url: url.to_string(),
        })
    }
}

/// [`check_named`] for a SAML metadata URL.
pub fn check(url: &str, allow_insecure_http: bool) -> Result<(), InsecureTrustAnchor> {
    check_named("metadata_url", url, allow_insecure_http)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_is_refused_except_on_loopback_or_when_allowed() {
        for url in [
            "http://idp.example.com/metadata",
            "http://10.0.0.1/metadata",
            "http://[2001:db8::1]/x",
            "http://localhost.example.com/x",
            "http://foo.localhost/x",
            "HTTP://IDP.EXAMPLE.COM/x",
        ] {
            assert!(is_insecure(url), "{url}");
            assert!(check(url, false).is_err(), "{url}");
            assert!(check(url, true).is_ok(), "{url}");
        }
        for url in [
            "https://idp.example.com/metadata",
            "http://127.0.0.1:8080/realms/x",
            "http://127.1.2.3/x",
            "http://[::1]:9000/x",
            "http://localhost:8080/x",
            "http://LOCALHOST/x",
        ] {
            assert!(!is_insecure(url), "{url}");
            assert!(check(url, false).is_ok(), "{url}");
        }
        assert_eq!(
            check("http://idp.example.com/m", false)
                .expect_err("refused")
                .to_string(),
            "insecure_trust_anchor: metadata_url must be https (or set allow_insecure_http = true): http://idp.example.com/m"
        );
    }
}
