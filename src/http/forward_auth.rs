//! `GET /auth/verify`: forward-auth for nginx `auth_request`, Traefik `ForwardAuth` and
//! Caddy `forward_auth`; and `GET /.well-known/jwks.json`.
//!
//! **Which app (and so which policy) applies is named by the proxy operator's
//! configuration**: the auth URL carries it, `/auth/verify?app=NAME`, one auth URL per
//! protected server block / route / middleware. Nothing a client can send chooses it:
//! nginx, Caddy and Traefik pass the client's own request headers (`Host`,
//! `X-Original-URL`, `X-Forwarded-*`, `Forwarded`) into the auth sub-request, so an app
//! picked from any of them would let a person who may enter app A into app B by naming A
//! in a header (the outside review's attack, docs/SECURITY-CHECKS.md).
//!
//! The forwarded `X-Forwarded-Host` / `X-Forwarded-Uri` / `X-Forwarded-Proto` (set by the
//! proxy, believed only when the peer is in `server.trusted_proxies`) only build the
//! address to come back to after signing in, and must name one of the named app's
//! origins: a host the app is not served on is refused (nginx's `default_server` passes
//! whatever `Host` a client sends). A forwarded header sent twice or as a comma list is
//! refused rather than resolved by picking one (it means client values leaked through).
//! `X-Original-URL` and `Forwarded` are not read.
//!
//! Answers: 200 with the identity headers and `Authorization: Bearer <ssogate JWT>`;
//! 401 without a live session (or 302 to the sign-in page with `?rd=1` or an app whose
//! `unauthenticated = "redirect"`), carrying the sign-in URL in `X-Ssogate-Login-Url`;
//! 403 with the reason in `X-Ssogate-Reason` (and the log) otherwise ([`Denied`]).
//! No database round-trip and no signature on the common path (see [`crate::gateway`]).

use std::borrow::Cow;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, LOCATION};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::app::AppState;
use crate::gateway::apps::AppEntry;
use crate::store::now_ms;

pub static X_SSOGATE_LOGIN_URL: HeaderName = HeaderName::from_static("x-ssogate-login-url");
pub static X_SSOGATE_REASON: HeaderName = HeaderName::from_static("x-ssogate-reason");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
static X_FORWARDED_URI: HeaderName = HeaderName::from_static("x-forwarded-uri");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const NO_STORE: HeaderValue = HeaderValue::from_static("no-store");

/// Why forward-auth answered 403. The code is logged and sent in `X-Ssogate-Reason`
/// (stable names: proxies' logs and the README's troubleshooting use them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// The peer is not in `server.trusted_proxies`: its forwarded headers could be anyone's.
    UntrustedPeer,
    /// The auth URL names no app (`/auth/verify` without `?app=`): a configuration from
    /// before apps were named, or a mistake.
    AppNotNamed,
    /// `app` given twice, empty or not a name.
    AppParamInvalid,
    /// No app has that name.
    UnknownApp,
    /// A forwarded header sent more than once or as a comma list.
    ForwardedHeaderAmbiguous,
    /// A forwarded header that is not a host / a path / http(s).
    ForwardedHeaderInvalid,
    /// The forwarded host (and scheme) is not one of the named app's origins.
    ForwardedHostNotApp,
    /// The app does not admit this person (organizations / roles).
    NotAdmitted,
}

impl Denied {
    pub fn code(self) -> &'static str {
        match self {
            Denied::UntrustedPeer => "untrusted_peer",
            Denied::AppNotNamed => "app_not_named",
            Denied::AppParamInvalid => "app_param_invalid",
            Denied::UnknownApp => "unknown_app",
            Denied::ForwardedHeaderAmbiguous => "forwarded_header_ambiguous",
            Denied::ForwardedHeaderInvalid => "forwarded_header_invalid",
            Denied::ForwardedHostNotApp => "forwarded_host_not_app",
            Denied::NotAdmitted => "not_admitted",
        }
    }

    fn message(self) -> &'static str {
        match self {
            Denied::UntrustedPeer => {
                "forward-auth answers only proxies listed in server.trusted_proxies"
            }
            Denied::AppNotNamed => "the auth URL must name the app: /auth/verify?app=NAME",
            Denied::AppParamInvalid => "the auth URL must name exactly one app",
            Denied::UnknownApp => "no app has the name the auth URL gives",
            Denied::ForwardedHeaderAmbiguous => {
                "a forwarded header was sent more than once or as a list"
            }
            Denied::ForwardedHeaderInvalid => "a forwarded header is malformed",
            Denied::ForwardedHostNotApp => "the forwarded host is not one of this app's origins",
            Denied::NotAdmitted => "this app does not admit you",
        }
    }
}

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

/// The one value of a forwarded header: None when absent, an error when it is sent more
/// than once, as a comma list, or is not text.
fn single<'a>(h: &'a HeaderMap, name: &HeaderName) -> Result<Option<&'a str>, Denied> {
    let mut values = h.get_all(name).iter();
    let Some(v) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(Denied::ForwardedHeaderAmbiguous);
    }
    let v = v
        .to_str()
        .map_err(|_| Denied::ForwardedHeaderInvalid)?
        .trim();
    if v.contains(',') {
        return Err(Denied::ForwardedHeaderAmbiguous);
    }
    Ok(Some(v).filter(|s| !s.is_empty()))
}

fn normalize_host<'a>(raw: &'a str, scheme: Option<&str>) -> Option<Cow<'a, str>> {
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

/// The original request from the forwarded headers (call only for a trusted peer):
/// None when the proxy sent no `X-Forwarded-Host`.
pub fn original_request(h: &HeaderMap) -> Result<Option<Original<'_>>, Denied> {
    let scheme = match single(h, &X_FORWARDED_PROTO)? {
        Some(p) => Some(known_scheme(p).ok_or(Denied::ForwardedHeaderInvalid)?),
        None => None,
    };
    let uri = match single(h, &X_FORWARDED_URI)? {
        Some(u) if u.starts_with('/') && u.len() <= 4096 => u,
        Some(_) => return Err(Denied::ForwardedHeaderInvalid),
        None => "/",
    };
    let Some(host) = single(h, &X_FORWARDED_HOST)? else {
        return Ok(None);
    };
    let host = normalize_host(host, scheme).ok_or(Denied::ForwardedHeaderInvalid)?;
    Ok(Some(Original {
        host,
        scheme,
        uri: Cow::Borrowed(uri),
    }))
}

/// The app the auth URL names: `app=NAME` exactly once in the query.
fn app_param(query: Option<&str>) -> Result<&str, Denied> {
    let mut found = None;
    for pair in query.unwrap_or("").split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if k != "app" {
            continue;
        }
        if found.is_some() || !crate::gateway::apps::valid_app_name(v) {
            return Err(Denied::AppParamInvalid);
        }
        found = Some(v);
    }
    found.ok_or(Denied::AppNotNamed)
}

/// The session cookie's value, if present and shaped like a session id.
fn session_id(h: &HeaderMap, name: &str) -> Option<String> {
    crate::request::cookie_value(h, name, |v| {
        v.parse::<tower_sessions::session::Id>().is_ok()
    })
}

fn status(code: StatusCode, body: &'static str) -> Response {
    let mut r = (code, body).into_response();
    r.headers_mut().insert(CACHE_CONTROL, NO_STORE);
    r
}

/// 503 with `Retry-After` (the database is unavailable): never a 401/403, which the proxy
/// would turn into a sign-in or a refusal for a person who is signed in and admitted.
fn try_again() -> Response {
    let mut r = status(StatusCode::SERVICE_UNAVAILABLE, "try again");
    r.headers_mut().insert(
        axum::http::header::RETRY_AFTER,
        HeaderValue::from(crate::error::RETRY_AFTER_SECS),
    );
    r
}

/// 403 with the reason, logged (with what the proxy sent, to tell a misconfigured proxy
/// from an attempt).
fn deny(why: Denied, app: Option<&str>, h: &HeaderMap) -> Response {
    let shown = |name: &HeaderName| -> String {
        let v: Vec<&str> = h
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap_or("<not text>"))
            .collect();
        v.join(" | ").chars().take(256).collect()
    };
    if why == Denied::NotAdmitted {
        tracing::info!(reason = why.code(), app, "forward-auth: denied");
    } else {
        tracing::warn!(
            reason = why.code(),
            app,
            forwarded_host = %shown(&X_FORWARDED_HOST),
            forwarded_proto = %shown(&X_FORWARDED_PROTO),
            "forward-auth: denied: {}",
            why.message()
        );
    }
    let mut r = status(StatusCode::FORBIDDEN, why.message());
    r.headers_mut().insert(
        X_SSOGATE_REASON.clone(),
        HeaderValue::from_static(why.code()),
    );
    r
}

/// Where the person signs in, coming back to the original URL when its origin is one of
/// the app's and the return_to check accepts it (the hot path of the 401 answer).
fn login_url(public_url: &str, app: &AppEntry, orig: Option<&Original>) -> String {
    // The return address goes through the one return_to check (the app's origins only),
    // so the sign-in URL carries only an address `/login` will accept, in its checked form.
    let back = orig.and_then(|o| {
        let origin = app.origin_for(&o.host, o.scheme)?;
        let mut raw = String::with_capacity(origin.len() + o.uri.len());
        raw.push_str(origin);
        raw.push_str(&o.uri);
        crate::flow::return_to::sanitize_return_to_for(&raw, |x| x == origin)
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
fn sign_in_first(
    public_url: &str,
    app: &AppEntry,
    orig: Option<&Original>,
    req: &Request,
) -> Response {
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
    let h = req.headers();
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| *peer);
    let trusted = peer.is_some_and(|p| state.proxies.trusts(p.ip()));
    if !trusted {
        return deny(Denied::UntrustedPeer, None, h);
    }
    let name = match app_param(req.uri().query()) {
        Ok(n) => n,
        Err(why) => return deny(why, None, h),
    };
    let orig = match original_request(h) {
        Ok(o) => o,
        Err(why) => return deny(why, Some(name), h),
    };
    // The apps are read without a lock or a shared counter; the guard is let go before
    // any `.await` (the anonymous answer needs none).
    let (app, sid) = {
        let registry = gw.registry();
        let Some(app) = registry.app_named(name) else {
            return deny(Denied::UnknownApp, Some(name), h);
        };
        if let Some(o) = &orig {
            if app.origin_for(&o.host, o.scheme).is_none() {
                return deny(Denied::ForwardedHostNotApp, Some(name), h);
            }
        }
        let Some(sid) = session_id(h, gw.cookie_name) else {
            return sign_in_first(&state.public_url, app, orig.as_ref(), &req);
        };
        (app.clone(), sid)
    };
    let app = app.as_ref();
    let now = now_ms();
    // Who presented the cookie (X-Forwarded-For through the trusted proxy), worked out
    // only on a cache miss: it bounds the database reads made-up cookies can cause.
    let client = || state.proxies.client_of(peer, h);
    let cached = match gw.session(&state.store, &sid, now, client).await {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "forward-auth: reading the session failed");
            return try_again();
        }
    };
    let Some(identity) = cached.identity.as_deref() else {
        return sign_in_first(&state.public_url, app, orig.as_ref(), &req);
    };
    let Some(seen) = identity.admitted_by(app) else {
        return deny(Denied::NotAdmitted, Some(name), h);
    };
    match gw.grant(&cached, identity, &seen, app, &state.public_url, now) {
        Ok(headers) => {
            let mut r = status(StatusCode::OK, "ok");
            r.headers_mut().extend(headers);
            r
        }
        Err(e) => {
            tracing::error!(error = %e, "forward-auth: minting the token failed");
            try_again()
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
                Some(&orig("wiki.example.com", Some("https"), "/a?b=c"))
            ),
            "https://login.example.com/login?return_to=https%3A%2F%2Fwiki.example.com%2Fa%3Fb%3Dc"
        );
        // No scheme from the proxy: the app's origin on that host.
        assert_eq!(
            login_url(base, &wiki, Some(&orig("wiki.example.com:8080", None, "/"))),
            "https://login.example.com/login?return_to=http%3A%2F%2Fwiki.example.com%3A8080%2F"
        );
        // A scheme the app does not list on that host: sign in without coming back.
        assert_eq!(
            login_url(
                base,
                &wiki,
                Some(&orig("wiki.example.com", Some("http"), "/a"))
            ),
            "https://login.example.com/login"
        );
        assert_eq!(
            login_url(
                base,
                &app(&[]),
                Some(&orig("wiki.example.com", Some("https"), "/a"))
            ),
            "https://login.example.com/login"
        );
        assert_eq!(
            login_url(base, &wiki, None),
            "https://login.example.com/login"
        );
        // The return address is the return_to check's form of it (what /login accepts),
        // or none.
        assert_eq!(
            login_url(
                base,
                &wiki,
                Some(&orig("wiki.example.com", Some("https"), "/a/../b"))
            ),
            "https://login.example.com/login?return_to=https%3A%2F%2Fwiki.example.com%2Fb"
        );
        assert_eq!(
            login_url(
                base,
                &wiki,
                Some(&orig("wiki.example.com", Some("https"), "/\\x"))
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
        let o = original_request(&h).expect("valid").expect("some");
        assert_eq!(o.host, "app.example.com");
        assert_eq!(o.scheme, Some("https"));
        assert_eq!(o.uri, "/a?b=c&d");
        assert_eq!(original_request(&headers(&[])), Ok(None));
        // X-Original-URL and Forwarded are not read (a client's own would pass through
        // Caddy and Traefik).
        let h = headers(&[
            ("x-original-url", "http://127.0.0.1:8081/x?y=1"),
            ("forwarded", "host=127.0.0.1:8081;proto=http"),
        ]);
        assert_eq!(original_request(&h), Ok(None));
    }

    #[test]
    fn malformed_forwarded_headers_are_refused() {
        for (name, value) in [
            ("x-forwarded-host", "evil host/"),
            ("x-forwarded-uri", "https://evil/"),
            ("x-forwarded-proto", "gopher"),
        ] {
            let h = headers(&[("x-forwarded-host", "app.example.com"), (name, value)]);
            assert_eq!(
                original_request(&h),
                Err(Denied::ForwardedHeaderInvalid),
                "{name}: {value}"
            );
        }
    }

    #[test]
    fn duplicated_or_listed_forwarded_headers_are_refused_not_resolved() {
        for name in ["x-forwarded-host", "x-forwarded-uri", "x-forwarded-proto"] {
            let value = if name == "x-forwarded-host" {
                "a.example.com"
            } else if name == "x-forwarded-uri" {
                "/a"
            } else {
                "https"
            };
            let mut h = headers(&[("x-forwarded-host", "app.example.com")]);
            h.append(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
            if name != "x-forwarded-host" {
                h.append(
                    HeaderName::from_static(name),
                    HeaderValue::from_static(value),
                );
            }
            assert_eq!(
                original_request(&h),
                Err(Denied::ForwardedHeaderAmbiguous),
                "{name} twice"
            );
            let listed = format!("{value}, {value}");
            let h = headers(&[
                ("x-forwarded-host", "app.example.com"),
                (name, listed.as_str()),
            ]);
            assert_eq!(
                original_request(&h),
                Err(Denied::ForwardedHeaderAmbiguous),
                "{name} listed"
            );
        }
    }

    #[test]
    fn the_auth_url_names_exactly_one_app() {
        assert_eq!(app_param(Some("app=wiki")), Ok("wiki"));
        assert_eq!(app_param(Some("rd=1&app=wiki")), Ok("wiki"));
        assert_eq!(app_param(None), Err(Denied::AppNotNamed));
        assert_eq!(app_param(Some("rd=1")), Err(Denied::AppNotNamed));
        assert_eq!(app_param(Some("apps=wiki")), Err(Denied::AppNotNamed));
        for bad in [
            "app=wiki&app=admin",
            "app=",
            "app",
            "app=Wiki",
            "app=a%20b",
            "app=a/b",
        ] {
            assert_eq!(app_param(Some(bad)), Err(Denied::AppParamInvalid), "{bad}");
        }
    }
}
