//! Where to send the person after signing in: a relative path on ssogate itself, or an
//! absolute URL on the origin of a configured downstream app (exact scheme, host and
//! port). Anything else (`//evil`, `/\evil`, `https:evil`, another host, credentials
//! in the URL, control characters) is ignored: the person lands on the default page and
//! the attempt is audited ([`accept`]).

use serde_json::json;

use crate::app::AppState;
use crate::error::AppError;
use crate::http::RequestId;
use crate::store::audit::{self, NewAuditEvent};

/// Returns the path to redirect to, or None when `raw` is not acceptable. Only relative
/// paths: see [`sanitize_return_to_for`] for app origins.
pub fn sanitize_return_to(raw: &str) -> Option<String> {
    sanitize_return_to_for(raw, |_| false)
}

/// Like [`sanitize_return_to`], and also absolute `http(s)://` URLs whose origin
/// (`scheme://host[:port]`, normalized) `allowed_origin` accepts.
pub fn sanitize_return_to_for(raw: &str, allowed_origin: impl Fn(&str) -> bool) -> Option<String> {
    if raw.is_empty() || raw.len() > 2048 {
        return None;
    }
    let lower = raw.get(..8).unwrap_or(raw).to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        return absolute(raw, allowed_origin);
    }
    if !raw.starts_with('/') || raw.starts_with("//") || raw.starts_with("/\\") {
        return None;
    }
    if raw
        .chars()
        .any(|c| c.is_control() || c == '\\' || c.is_whitespace())
    {
        return None;
    }
    // Must parse as a path on our own origin.
    let base = url::Url::parse("http://ssogate.invalid").ok()?;
    let joined = base.join(raw).ok()?;
    if joined.host_str() != Some("ssogate.invalid") || joined.scheme() != "http" {
        return None;
    }
    let mut out = joined.path().to_string();
    if let Some(q) = joined.query() {
        out.push('?');
        out.push_str(q);
    }
    Some(out)
}

fn absolute(raw: &str, allowed_origin: impl Fn(&str) -> bool) -> Option<String> {
    // Browsers strip tabs and newlines and read `\` as `/`; refuse rather than guess.
    if raw
        .chars()
        .any(|c| c.is_control() || c == '\\' || c.is_whitespace())
    {
        return None;
    }
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
    Some(url.to_string())
}

/// The sanitized `return_to`, or None; a refused non-empty value is audited as
/// `signin.return_to_refused` (the person still goes on, to the default page).
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
    let own = url::Url::parse(&state.public_url)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default();
    let sanitized = {
        let registry = state.gateway.registry();
        sanitize_return_to_for(raw, |o| o == own || registry.allows_origin(o))
    };
    if let Some(ok) = sanitized {
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
