//! Where to send the person after signing in: a relative path on ssogate itself, or an
//! absolute URL on the origin of a configured downstream app (exact scheme, host and
//! port). Anything else (`//evil`, `/\evil`, `https:evil`, another host, credentials
//! in the URL, control characters, and paths that only *become* `//evil` once resolved,
//! such as `/.//evil` or `/%2e//evil`) is ignored: the person lands on the default page
//! and the attempt is audited ([`accept`]).
//!
//! **This is the one gate for return addresses.** Every place that takes an address to
//! send a person to afterwards goes through it: `/login`, `/login/{connector}` and the
//! home-realm form ([`accept`]), the sign-in URL forward-auth builds
//! ([`sanitize_return_to_for`] with the app's origins), and the end of every sign-in,
//! which checks the stored value again before it becomes `Location` ([`accept`]). Later
//! entry points (logout, invitation and email links) must use [`accept`] too, never
//! their own check.
//!
//! The value it returns is exactly the value it checked: the address is normalized
//! (resolved like a browser resolves it: dot-segments, `%2e`), the normalized form is
//! checked (also once more percent-decoded, for a later hop that decodes `%2f`/`%5c`),
//! and it must come out of the check unchanged
//! (`sanitize(sanitize(x)) == sanitize(x)`). The earlier check ran on the raw string and
//! then used the resolved path unchecked: `/.//evil.com` passed the `//` test and left
//! as `Location: //evil.com`, a protocol-relative URL to another host.

use serde_json::json;

use crate::app::AppState;
use crate::error::AppError;
use crate::request::RequestId;
use crate::store::audit::{self, NewAuditEvent};

/// Longer return addresses are refused (a real page address is far shorter; this bounds
/// the work and the audit row).
pub const MAX_RETURN_TO_LEN: usize = 2048;

/// The host relative paths are resolved against (never contacted).
const OWN_BASE: &str = "https://ssogate.invalid/";

/// Returns the path to redirect to, or None when `raw` is not acceptable. Only relative
/// paths: see [`sanitize_return_to_for`] for app origins.
pub fn sanitize_return_to(raw: &str) -> Option<String> {
    sanitize_return_to_for(raw, |_| false)
}

/// Like [`sanitize_return_to`], and also absolute `http(s)://` URLs whose origin
/// (`scheme://host[:port]`, normalized) `allowed_origin` accepts. The result is either a
/// path (starting with one `/`, never `//` or `/\`, no `\`, whitespace or control
/// characters) or an absolute URL on an accepted origin, and is its own sanitized form.
pub fn sanitize_return_to_for(raw: &str, allowed_origin: impl Fn(&str) -> bool) -> Option<String> {
    let out = normalize(raw, &allowed_origin)?;
    // What goes into `Location` must be what was checked: the normalized value is
    // checked again and must not change (a second resolution step, in a browser or in
    // the next check, would otherwise give another address).
    if normalize(&out, &allowed_origin).as_deref() != Some(out.as_str()) {
        return None;
    }
    Some(out)
}

/// Browsers strip tabs and newlines from URLs and read `\` as `/` (so `/\t/evil` and
/// `/\\evil` are `//evil` to them); such addresses are refused rather than guessed at.
fn has_unsafe_char(s: &str) -> bool {
    s.chars()
        .any(|c| c.is_control() || c == '\\' || c.is_whitespace())
}

fn normalize(raw: &str, allowed_origin: &impl Fn(&str) -> bool) -> Option<String> {
    if raw.is_empty() || raw.len() > MAX_RETURN_TO_LEN || has_unsafe_char(raw) {
        return None;
    }
    let lower = raw.get(..8).unwrap_or(raw).to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        return absolute(raw, allowed_origin);
    }
    relative(raw)
}

fn relative(raw: &str) -> Option<String> {
    if !raw.starts_with('/') || raw.starts_with("//") {
        return None;
    }
    // Resolve it on our own origin, as the browser will (dot-segments, `%2e`).
    let base = url::Url::parse(OWN_BASE).ok()?;
    let joined = base.join(raw).ok()?;
    if joined.origin() != base.origin() {
        return None;
    }
    let mut out = joined.path().to_string();
    if let Some(q) = joined.query() {
        out.push('?');
        out.push_str(q);
    }
    // The resolved path is what the browser follows: `/.//evil` and `/%2e//evil` resolve
    // to `//evil`, which a browser reads as the host `evil`.
    if !safe_path(joined.path()) || has_unsafe_char(&out) {
        return None;
    }
    Some(out)
}

/// A resolved path that no browser, and no server decoding it on a later hop (a
/// trailing-slash redirect, a proxy that decodes `%2f`), can read as another host.
fn safe_path(path: &str) -> bool {
    if !path.starts_with('/') {
        return false;
    }
    // Decode up to three times (`%252f` is `%2f` is `/`).
    let mut current = std::borrow::Cow::Borrowed(path);
    for _ in 0..4 {
        let bytes = current.as_bytes();
        if bytes.starts_with(b"//")
            || bytes.starts_with(b"/\\")
            || bytes.iter().any(|b| b.is_ascii_control())
        {
            return false;
        }
        let decoded = percent_decode(bytes);
        if decoded == bytes {
            return true;
        }
        current = std::borrow::Cow::Owned(String::from_utf8_lossy(&decoded).into_owned());
    }
    // Still changing after three decodings: nobody links like that.
    false
}

fn percent_decode(bytes: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

fn absolute(raw: &str, allowed_origin: &impl Fn(&str) -> bool) -> Option<String> {
    let url = url::Url::parse(raw).ok()?;
    if !matches!(url.scheme(), "http" | "https")
        || !url.username().is_empty()
        || url.password().is_some()
        || url.host().is_none()
    {
        return None;
    }
    if !allowed_origin(&url.origin().ascii_serialization()) {
        return None;
    }
    let out = url.to_string();
    if has_unsafe_char(&out) {
        return None;
    }
    Some(out)
}

/// The return address `raw` checked against ssogate's own origin and the configured
/// apps' origins (the one check; see the module docs), without auditing.
pub fn check(state: &AppState, raw: &str) -> Option<String> {
    let own = url::Url::parse(&state.public_url)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default();
    let registry = state.gateway.registry();
    sanitize_return_to_for(raw, |o| o == own || registry.allows_origin(o))
}

/// The sanitized `return_to`, or None; a refused non-empty value is audited as
/// `signin.return_to_refused` (the person still goes on, to the default page). Every
/// entry point that takes a return address from a request calls this.
pub async fn accept(
    state: &AppState,
    rid: &RequestId,
    raw: Option<&str>,
    connector_id: Option<&str>,
) -> Result<Option<String>, AppError> {
    let raw = match raw {
        None | Some("") => return Ok(None),
        Some(r) => r,
    };
    if let Some(ok) = check(state, raw) {
        return Ok(Some(ok));
    }
    tracing::warn!(return_to = %raw.chars().take(256).collect::<String>(), "return_to refused");
    let mut conn = state.store.write().await?;
    audit::record(
        &mut conn,
        &NewAuditEvent {
            kind: "signin.return_to_refused".into(),
            request_id: Some(rid.0.clone()),
            connector_id: connector_id.map(str::to_string),
            reason: Some("return_to_not_allowed".into()),
            data: json!({ "return_to": raw.chars().take(512).collect::<String>() }),
            ..Default::default()
        },
    )
    .await?;
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::{sanitize_return_to, sanitize_return_to_for};

    fn apps(origin: &str) -> bool {
        origin == "https://app.example.com" || origin == "http://127.0.0.1:8081"
    }

    #[test]
    fn app_origins_pass_exactly() {
        assert_eq!(
            sanitize_return_to_for("https://app.example.com/x?y=1#f", apps).as_deref(),
            Some("https://app.example.com/x?y=1#f")
        );
        assert_eq!(
            sanitize_return_to_for("HTTPS://APP.example.com:443/", apps).as_deref(),
            Some("https://app.example.com/")
        );
        assert_eq!(
            sanitize_return_to_for("http://127.0.0.1:8081/a", apps).as_deref(),
            Some("http://127.0.0.1:8081/a")
        );
        assert_eq!(
            sanitize_return_to_for("/relative", apps).as_deref(),
            Some("/relative")
        );
        for bad in [
            "http://app.example.com/",         // other scheme
            "https://app.example.com:8443/",   // other port
            "https://app.example.com.evil/",   // other host
            "https://evil@app.example.com/",   // credentials
            "https://app.example.com@evil/",   // credentials / other host
            "https://app.example.com\\@evil/", // backslash
            "https:app.example.com",           // no slashes
            "https:/app.example.com",
            "//app.example.com/",
            "/\\app.example.com",
            "https://app.example.com/\n",
            "https://app.example.com/ x",
            "http://127.0.0.1:8082/",
            "javascript://app.example.com/%0aalert(1)",
        ] {
            assert_eq!(sanitize_return_to_for(bad, apps), None, "{bad:?}");
        }
    }

    #[test]
    fn relative_paths_pass() {
        assert_eq!(
            sanitize_return_to("/app/x?y=1").as_deref(),
            Some("/app/x?y=1")
        );
        assert_eq!(sanitize_return_to("/").as_deref(), Some("/"));
    }

    /// Values that pass a check on the raw string but resolve (dot-segments, `%2e`) or
    /// decode (`%2f`, `%5c`, double encoding) to a path starting with `//` or `/\`.
    #[test]
    fn paths_that_resolve_to_another_host_are_refused() {
        for bad in [
            "/.//evil.com",
            "/%2e//evil.com",
            "/%2E//evil.com",
            "/..//evil.com",
            "/%2e%2e//evil.com",
            "/.%2E//evil.com",
            "/a/..//evil.com",
            "/a/%2e%2e//evil.com",
            "/././/evil.com",
            "/./%2fevil.com",
            "/%2f/evil.com",
            "/%2F%2Fevil.com",
            "/%5cevil.com",
            "/%5C%5Cevil.com",
            "/%252f/evil.com",
            "/%25252f/evil.com",
            "/%0a/x",
        ] {
            assert_eq!(sanitize_return_to(bad), None, "{bad:?}");
            assert_eq!(sanitize_return_to_for(bad, apps), None, "{bad:?}");
        }
        // Harmless dot-segments and encodings are kept, in the resolved form.
        for (ok, want) in [
            ("/a/./b/../c", "/a/c"),
            ("/a/%2e%2e/me", "/me"),
            ("/a%2fb", "/a%2fb"),
            ("/me?next=//evil.com", "/me?next=//evil.com"),
            ("/me#frag", "/me"),
        ] {
            assert_eq!(sanitize_return_to(ok).as_deref(), Some(want), "{ok:?}");
            assert_eq!(sanitize_return_to(want).as_deref(), Some(want), "{want:?}");
        }
        // An app URL keeps its path as is: it is on the app's own origin.
        assert_eq!(
            sanitize_return_to_for("https://app.example.com/.//x", apps).as_deref(),
            Some("https://app.example.com//x")
        );
    }

    #[test]
    fn open_redirects_are_refused() {
        for bad in [
            "//evil.example",
            "/\\evil.example",
            "https:evil.example",
            "https://evil.example/",
            "evil.example",
            "/%0d%0aSet-Cookie:x",
            "/a\nb",
            "/\tx",
            "javascript:alert(1)",
            "",
            "\\\\evil",
        ] {
            let got = sanitize_return_to(bad);
            assert!(
                got.is_none() || !got.as_deref().unwrap_or_default().contains('\n'),
                "{bad:?} -> {got:?}"
            );
            if bad != "/%0d%0aSet-Cookie:x" {
                assert_eq!(got, None, "{bad:?}");
            }
        }
    }
}
