//! `[mail]` settings, checked once at start-up (`Config::validate`) so a bad address
//! stops ssogate with one line instead of failing at the first sign-in code.
//!
//! `mail.smtp_url` says in its scheme how the connection is protected:
//!
//! | scheme | connection | default port |
//! | --- | --- | --- |
//! | `smtp+starttls://` | plain, then STARTTLS, which is **required** (no fallback) | 587 |
//! | `smtps://` | TLS from the first byte (implicit TLS) | 465 |
//! | `smtp://` | no TLS at all: **loopback hosts only** | 25 |
//!
//! An optional `user:password@` (percent-encoded) logs in with SMTP AUTH. The password is
//! never printed: not in errors, not in `Debug`.

use std::fmt;
use std::net::IpAddr;

use url::Url;

use crate::config::MailConfig;

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// `smtp+starttls://`: STARTTLS required; a server that does not offer it gets
    /// nothing (no credentials, no message).
    StartTls,
    /// `smtps://`: implicit TLS.
    Tls,
    /// `smtp://`: clear text, loopback only.
    Plain,
}

/// SMTP login from the URL's user info.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpLogin {
    pub user: String,
    pub password: String,
}

impl fmt::Debug for SmtpLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpLogin")
            .field("user", &self.user)
            .field("password", &"***")
            .finish()
    }
}

/// `mail.smtp_url`, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpSettings {
    pub security: Security,
    /// A host name or an IP address (IPv6 without brackets), as the TLS name and to connect.
    pub host: String,
    pub port: u16,
    pub login: Option<SmtpLogin>,
}

/// The message for a plain `smtp://` URL to a host that is not loopback (tests compare it).
pub fn plain_smtp_refused(host: &str) -> String {
    format!(
        "mail.smtp_url: smtp:// (no TLS) is allowed only for a loopback host (127.0.0.1, ::1, \
         localhost), not {host:?}: sign-in codes and the SMTP password would cross the network \
         in clear text; use smtp+starttls://{host}:587 or smtps://{host}:465"
    )
}

impl SmtpSettings {
    /// Parses and checks `mail.smtp_url`. Errors start with the key and never contain
    /// the password.
    pub fn parse(raw: &str) -> Result<SmtpSettings, String> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err("mail.smtp_url: required when mail.transport = \"smtp\" \
                 (e.g. smtp+starttls://user:password@mail.example.com:587)"
                .into());
        }
        // The URL itself is not echoed: it failed to parse, so the password cannot be
        // cut out of it reliably.
        let url = Url::parse(raw).map_err(|e| format!("mail.smtp_url: not a valid URL ({e})"))?;
        let (security, default_port) = match url.scheme() {
            "smtp+starttls" => (Security::StartTls, 587),
            "smtps" => (Security::Tls, 465),
            "smtp" => (Security::Plain, 25),
            other => {
                return Err(format!(
                    "mail.smtp_url: expected smtp+starttls://, smtps:// or (loopback only) \
                     smtp://, got {other}://"
                ))
            }
        };
        // Anything after the authority would be silently ignored (lettre-style
        // `?tls=required` included): refuse it rather than send with other protection
        // than the administrator believes.
        if !matches!(url.path(), "" | "/") || url.query().is_some() || url.fragment().is_some() {
            return Err(
                "mail.smtp_url: must not have a path, query or fragment; the scheme says \
                 how the connection is protected"
                    .into(),
            );
        }
        let host = match url.host() {
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            Some(url::Host::Domain(d)) if !d.is_empty() => d.to_ascii_lowercase(),
            _ => return Err("mail.smtp_url: has no host".into()),
        };
        // A plain connection is readable and changeable by anyone on the network path:
        // the one-time sign-in codes in it would let them sign in as the recipient, and
        // the AUTH password would be theirs. Only a server on this machine is exempt.
        if security == Security::Plain && !is_loopback(&host) {
            return Err(plain_smtp_refused(&host));
        }
        let login = if url.username().is_empty() && url.password().is_none() {
            None
        } else {
            let user = decode(url.username(), "user")?;
            let password = decode(url.password().unwrap_or_default(), "password")?;
            if user.is_empty() || password.is_empty() {
                return Err(
                    "mail.smtp_url: give both user and password (user:password@host), or neither"
                        .into(),
                );
            }
            Some(SmtpLogin { user, password })
        };
        Ok(SmtpSettings {
            security,
            host,
            port: url.port().unwrap_or(default_port),
            login,
        })
    }
}

fn decode(part: &str, what: &str) -> Result<String, String> {
    percent_decode(part)
        .ok_or_else(|| format!("mail.smtp_url: the {what} is not valid percent-encoded UTF-8"))
}

/// `%XX` decoding of URL user info (the `url` crate keeps it encoded).
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// `127.0.0.0/8`, `::1` and `localhost` itself (a name below it may be resolved by DNS
/// like any other). `url` keeps the host of an `smtp` URL as written, so addresses are
/// parsed here.
fn is_loopback(host: &str) -> bool {
    match host.parse::<IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    }
}

/// Checks `[mail]` (called by `Config::validate`).
pub fn validate(mail: &MailConfig) -> Result<(), String> {
    match mail.transport.as_str() {
        "console" => {}
        "smtp" => {
            SmtpSettings::parse(&mail.smtp_url)?;
        }
        other => {
            return Err(format!(
                "mail.transport: expected \"console\" or \"smtp\", got {other:?}"
            ))
        }
    }
    super::parse_mailbox(&mail.from).map_err(|e| {
        format!(
            "mail.from: expected an address such as \"ssogate <no-reply@example.com>\", got {:?} ({e})",
            mail.from
        )
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scheme_decides_the_protection_and_the_default_port() {
        let s = SmtpSettings::parse("smtp+starttls://mail.example.com").expect("ok");
        assert_eq!((s.security, s.port), (Security::StartTls, 587));
        let s = SmtpSettings::parse("smtps://Mail.Example.com:2465").expect("ok");
        assert_eq!(
            (s.security, s.host.as_str(), s.port),
            (Security::Tls, "mail.example.com", 2465)
        );
        let s = SmtpSettings::parse("smtp://127.0.0.1:1025").expect("ok");
        assert_eq!((s.security, s.port), (Security::Plain, 1025));
        let s = SmtpSettings::parse("smtp://[::1]").expect("ok");
        assert_eq!((s.host.as_str(), s.port), ("::1", 25));
        assert!(SmtpSettings::parse("smtp://LOCALHOST:25").is_ok());
    }

    #[test]
    fn plain_smtp_is_refused_off_loopback() {
        for (url, host) in [
            ("smtp://mail.example.com:25", "mail.example.com"),
            ("smtp://10.0.0.5", "10.0.0.5"),
            ("smtp://127.0.0.1.nip.io", "127.0.0.1.nip.io"),
            ("smtp://localhost.example.com", "localhost.example.com"),
            ("smtp://[2001:db8::1]", "2001:db8::1"),
        ] {
            assert_eq!(
                SmtpSettings::parse(url),
                Err(plain_smtp_refused(host)),
                "{url}"
            );
        }
    }

    #[test]
    fn credentials_are_decoded_and_never_printed() {
        let s = SmtpSettings::parse("smtps://me%40example.com:p%3Ass%2Fw0rd@mail.example.com")
            .expect("ok");
        let login = s.login.clone().expect("login");
        assert_eq!(login.user, "me@example.com");
        assert_eq!(login.password, "p:ss/w0rd");
        assert!(!format!("{s:?}").contains("p:ss"), "{s:?}");
        let err = SmtpSettings::parse("smtp://u:s3cret@mail.example.com").unwrap_err();
        assert!(!err.contains("s3cret"), "{err}");
        let err = SmtpSettings::parse("smtps://u:s3cret@mail.example.com/x").unwrap_err();
        assert!(!err.contains("s3cret"), "{err}");
        let err = SmtpSettings::parse("smtps://u:s3cret@mail.example.com:99999").unwrap_err();
        assert!(!err.contains("s3cret"), "{err}");
    }

    #[test]
    fn other_shapes_are_refused_with_the_key() {
        for bad in [
            "",
            "mail.example.com:587",
            "http://mail.example.com",
            "smtp+starttls://mail.example.com/path",
            "smtp://127.0.0.1?tls=required",
            "smtps://user@mail.example.com",
            "smtps://:pw@mail.example.com",
            "smtps://u:%ff@mail.example.com",
        ] {
            let err = SmtpSettings::parse(bad).unwrap_err();
            assert!(err.starts_with("mail.smtp_url: "), "{bad}: {err}");
        }
    }
}
