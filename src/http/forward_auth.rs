//! `GET /auth/verify`: forward-auth for nginx `auth_request`, Traefik `ForwardAuth` and
//! Caddy `forward_auth`; and `GET /.well-known/jwks.json`.
//!
//! The app is the one serving the host of the original request, which only a trusted
//! proxy can tell: `X-Original-URL`, or `X-Forwarded-Host` (+ `X-Forwarded-Uri`,
//! `X-Forwarded-Proto`), believed only when the peer address is in
//! `server.trusted_proxies`. From anyone else those headers are ignored, so no app is
//! identified and the answer is 403.
//!
//! Answers: 200 with the identity headers and `Authorization: Bearer <ssogate JWT>`;
//! 401 without a live session (or 302 to the sign-in page with `?rd=1` or an app whose
//! `unauthenticated = "redirect"`), carrying the sign-in URL in `X-Ssogate-Login-Url`;
//! 403 when the app does not admit the person. No database round-trip and no signature
//! on the common path (see [`crate::gateway`]).

use std::borrow::Cow;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, COOKIE, LOCATION};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::app::AppState;
use crate::gateway::apps::AppEntry;
use crate::store::now_ms;

pub static X_SSOGATE_LOGIN_URL: HeaderName = HeaderName::from_static("x-ssogate-login-url");
static X_ORIGINAL_URL: HeaderName = HeaderName::from_static("x-original-url");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
static X_FORWARDED_URI: HeaderName = HeaderName::from_static("x-forwarded-uri");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const NO_STORE: HeaderValue = HeaderValue::from_static("no-store");

/// The original request, as a trusted proxy describes it (borrowed from the headers
/// where it can be: this is the hot path).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Original<'a> {
    /// `host[:port]`, lower-case, default port removed.
    pub host: Cow<'a, str>,
    pub scheme: Option<&'static str>,
    /// Path and query, starting with `/`.
    pub uri: Cow<'a, str>,
}

fn header<'a>(h: &'a HeaderMap, name: &HeaderName) -> Option<&'a str> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

fn normalize_host<'a>(raw: &'a str, scheme: Option<&str>) -> Option<Cow<'a, str>> {
    // A proxy chain may list several hosts; the first is the client's.
    let raw = raw.split(',').next()?.trim();
    if raw.is_empty()
        || raw.len() > 255
        || !raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:[]_".contains(&b))
    {
        return None;
    }
    let default_port = match scheme {
        Some("https") => ":443",
        Some("http") => ":80",
        _ => "",
    };
    let raw = if default_port.is_empty() {
        raw
    } else {
        raw.strip_suffix(default_port).unwrap_or(raw)
    };
    Some(if raw.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(raw.to_ascii_lowercase())
    } else {
        Cow::Borrowed(raw)
    })
}

fn known_scheme(s: &str) -> Option<&'static str> {
    if s.eq_ignore_ascii_case("https") {
        Some("https")
    } else if s.eq_ignore_ascii_case("http") {
        Some("http")
    } else {
        None
    }
}

/// The original request from forwarded headers (call only for a trusted peer).
pub fn original_request(h: &HeaderMap) -> Option<Original<'_>> {
    if let Some(raw) = header(h, &X_ORIGINAL_URL) {
        let u = url::Url::parse(raw).ok()?;
        let scheme = known_scheme(u.scheme())?;
        let host = match u.port() {
            Some(p) => format!("{}:{p}", u.host_str()?),
            None => u.host_str()?.to_string(),
        };
        let mut uri = u.path().to_string();
        if let Some(q) = u.query() {
            uri.push('?');
            uri.push_str(q);
        }
        return Some(Original {
            host: Cow::Owned(normalize_host(&host, Some(scheme))?.into_owned()),
            scheme: Some(scheme),
            uri: Cow::Owned(uri),
        });
    }
    let scheme = header(h, &X_FORWARDED_PROTO)
        .and_then(|p| known_scheme(p.split(',').next().unwrap_or("").trim()));
    let host = normalize_host(header(h, &X_FORWARDED_HOST)?, scheme)?;
    let uri = header(h, &X_FORWARDED_URI)
        .filter(|u| u.starts_with('/') && u.len() <= 4096)
        .unwrap_or("/");
    Some(Original {
        host,
        scheme,
        uri: Cow::Borrowed(uri),
    })
}

/// The session cookie's value, if present and shaped like a session id.
fn session_id(h: &HeaderMap, name: &str) -> Option<String> {
    for v in h.get_all(COOKIE) {
        let Ok(s) = v.to_str() else { continue };
        for part in s.split(';') {
            if let Some((k, v)) = part.trim().split_once('=') {
                if k == name && v.parse::<tower_sessions::session::Id>().is_ok() {
                    return Some(v.to_string());
                }
            }
        }
    }
    None
}

fn status(code: StatusCode, body: &'static str) -> Response {
    let mut r = (code, body).into_response();
    r.headers_mut().insert(CACHE_CONTROL, NO_STORE);
    r
}

/// Where the person signs in, coming back to the original URL when its origin is one of
/// the app's and the return_to check accepts it (the hot path of the 401 answer).
fn login_url(public_url: &str, app: &AppEntry, orig: &Original) -> String {
    let host = orig.host.as_ref();
    let origin = app.origins.iter().find(|o| match orig.scheme {
        Some(s) => o.strip_prefix(s).and_then(|r| r.strip_prefix("://")) == Some(host),
        // No scheme given: the app's origin on this host.
        None => o.split_once("://").is_some_and(|(_, h)| h == host),
    });
    // The return address goes through the one return_to check (the app's origins only),
    // so the sign-in URL carries only an address `/login` will accept, in its checked form.
    let back = origin.and_then(|origin| {
        let mut raw = String::with_capacity(origin.len() + orig.uri.len());
        raw.push_str(origin);
        raw.push_str(&orig.uri);
        crate::flow::return_to::sanitize_return_to_for(&raw, |o| o == origin.as_str())
    });
    let mut url =
        String::with_capacity(public_url.len() + 20 + back.as_ref().map_or(0, |b| 3 * b.len()));
    url.push_str(public_url);
    url.push_str("/login");
    if let Some(back) = back {
        url.push_str("?return_to=");
        url.extend(url::form_urlencoded::byte_serialize(back.as_bytes()));
    }
    url
}

/// The answer without a live session: 401 with the sign-in URL, or a 302 to it.
fn sign_in_first(public_url: &str, app: &AppEntry, orig: &Original, req: &Request) -> Response {
    let login = login_url(public_url, app, orig);
    let Ok(login) = HeaderValue::try_from(login) else {
        return status(StatusCode::UNAUTHORIZED, "sign in");
    };
    if app.redirect || wants_redirect(req) {
        let mut r = status(StatusCode::FOUND, "");
        r.headers_mut().insert(LOCATION, login);
        return r;
    }
    let mut r = status(StatusCode::UNAUTHORIZED, "sign in");
    r.headers_mut().insert(X_SSOGATE_LOGIN_URL.clone(), login);
    r
}

fn wants_redirect(req: &Request) -> bool {
    req.uri()
        .query()
        .is_some_and(|q| q.split('&').any(|p| p == "rd=1" || p == "rd=true"))
}

pub async fn verify(State(state): State<AppState>, req: Request) -> Response {
    let gw = &state.gateway;
    let trusted = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .is_some_and(|ConnectInfo(peer)| gw.trusts(peer.ip()));
    let orig = if trusted {
        original_request(req.headers())
    } else {
        None
    };
    // The apps are read without a lock or a shared counter; the guard is let go before
    // any `.await` (the anonymous answer needs none).
    let (orig, app, sid) = {
        let registry = gw.registry();
        let Some((orig, app)) = orig.and_then(|o| registry.app_for_host(&o.host).map(|a| (o, a)))
        else {
            tracing::debug!(trusted, "forward-auth: no app identified");
            return status(StatusCode::FORBIDDEN, "no app is configured for this host");
        };
        let Some(sid) = session_id(req.headers(), gw.cookie_name) else {
            return sign_in_first(&state.public_url, app, &orig, &req);
        };
        (orig, app.clone(), sid)
    };
    let app = app.as_ref();
    let now = now_ms();
    let cached = match gw.session(&state.store, &sid, now).await {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "forward-auth: reading the session failed");
            return status(StatusCode::SERVICE_UNAVAILABLE, "try again");
        }
    };
    let Some(identity) = cached.identity.as_deref() else {
        return sign_in_first(&state.public_url, app, &orig, &req);
    };
    let Some(seen) = identity.admitted_by(app) else {
        return status(StatusCode::FORBIDDEN, "this app does not admit you");
    };
    match gw.grant(&cached, identity, &seen, app, &state.public_url, now) {
        Ok(headers) => {
            let mut r = status(StatusCode::OK, "ok");
            r.headers_mut().extend(headers);
            r
        }
        Err(e) => {
            tracing::error!(error = %e, "forward-auth: minting the token failed");
            status(StatusCode::SERVICE_UNAVAILABLE, "try again")
        }
    }
}

/// `GET /.well-known/jwks.json`: the published keys, cacheable for the advertised time.
pub async fn jwks(State(state): State<AppState>) -> Response {
    let gw = &state.gateway;
    let body = gw.keys.snapshot().jwks_at(now_ms()).to_string();
    let mut r = (StatusCode::OK, body).into_response();
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Ok(v) = HeaderValue::from_str(&format!(
        "public, max-age={}",
        gw.policy.jwks_max_age_ms / 1000
    )) {
        r.headers_mut().insert(CACHE_CONTROL, v);
    }
    r
}

/// `GET /bench/baseline` (feature `bench` only): the cheapest answer the same router
/// and middleware give, the reference of scripts/bench-forward-auth.sh.
#[cfg(feature = "bench")]
pub async fn bench_baseline() -> Response {
    status(StatusCode::OK, "ok")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                HeaderName::from_bytes(k.as_bytes()).expect("name"),
                HeaderValue::from_str(v).expect("value"),
            );
        }
        h
    }

    fn app(origins: &[&str]) -> AppEntry {
        AppEntry {
            id: "a1".into(),
            name: "wiki".into(),
            audience: "wiki".into(),
            origins: origins.iter().map(|o| o.to_string()).collect(),
            org_restricted: false,
            organization_ids: Default::default(),
            role_restricted: false,
            role_ids: Default::default(),
            headers: Default::default(),
            redirect: false,
            updated_at: 0,
        }
    }

    fn orig<'a>(host: &'a str, scheme: Option<&'static str>, uri: &'a str) -> Original<'a> {
        Original {
            host: Cow::Borrowed(host),
            scheme,
            uri: Cow::Borrowed(uri),
        }
    }

    #[test]
    fn the_login_url_returns_only_to_an_origin_of_the_app() {
        let base = "https://login.example.com";
        let wiki = app(&["https://wiki.example.com", "http://wiki.example.com:8080"]);
        assert_eq!(
            login_url(
                base,
                &wiki,
                &orig("wiki.example.com", Some("https"), "/a?b=c")
            ),
            "https://login.example.com/login?return_to=https%3A%2F%2Fwiki.example.com%2Fa%3Fb%3Dc"
        );
        // No scheme from the proxy: the app's origin on that host.
        assert_eq!(
            login_url(base, &wiki, &orig("wiki.example.com:8080", None, "/")),
            "https://login.example.com/login?return_to=http%3A%2F%2Fwiki.example.com%3A8080%2F"
        );
        // A scheme the app does not list on that host: sign in without coming back.
        assert_eq!(
            login_url(base, &wiki, &orig("wiki.example.com", Some("http"), "/a")),
            "https://login.example.com/login"
        );
        assert_eq!(
            login_url(
                base,
                &app(&[]),
                &orig("wiki.example.com", Some("https"), "/a")
            ),
            "https://login.example.com/login"
        );
        // The return address is the return_to check's form of it (what /login accepts),
        // or none.
        assert_eq!(
            login_url(
                base,
                &wiki,
                &orig("wiki.example.com", Some("https"), "/a/../b")
            ),
            "https://login.example.com/login?return_to=https%3A%2F%2Fwiki.example.com%2Fb"
        );
        assert_eq!(
            login_url(
                base,
                &wiki,
                &orig("wiki.example.com", Some("https"), "/\\x")
            ),
            "https://login.example.com/login"
        );
    }

    #[test]
    fn forwarded_headers_describe_the_original_request() {
        let h = headers(&[
            ("x-forwarded-host", "App.Example.com:443"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-uri", "/a?b=c&d"),
        ]);
        let o = original_request(&h).expect("some");
        assert_eq!(o.host, "app.example.com");
        assert_eq!(o.scheme, Some("https"));
        assert_eq!(o.uri, "/a?b=c&d");
        let h = headers(&[("x-original-url", "http://127.0.0.1:8081/x?y=1")]);
        let o = original_request(&h).expect("some");
        assert_eq!(o.host, "127.0.0.1:8081");
        assert_eq!(o.uri, "/x?y=1");
        assert!(original_request(&headers(&[("x-forwarded-host", "evil host/")])).is_none());
        assert!(original_request(&headers(&[])).is_none());
        let h = headers(&[
            ("x-forwarded-host", "app.example.com"),
            ("x-forwarded-uri", "https://evil/"),
        ]);
        let o = original_request(&h).expect("some");
        assert_eq!(o.uri, "/", "a URI that is not a path is ignored");
    }
}
