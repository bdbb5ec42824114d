//! Behind a real Caddy, two of them: Debian's 2.6.2 (`SSOGATE_TEST_CADDY`, the `caddy`
//! package from scripts/install-deps.sh) and a current release built from source
//! (`SSOGATE_TEST_CADDY_CURRENT`, v2.11.9 by `go install`, cached by install-deps.sh);
//! every test runs on both ([`caddies!`]). The Caddyfile each test runs is the README's
//! Caddy snippet, read from README.md when the test runs, with its example host, ports
//! and app name replaced, so the README cannot drift from what is tested. One Caddy per
//! test, a child process on a free 127.0.0.1 port with its own (temporary) state, killed
//! when the test ends.

use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::downstream::{
    self as support, api_key, echo_upstream, get_through, put_app, return_to, signed_in_cookie,
    trust_loopback, user, user_without_email_or_name,
};
use crate::support::{required_service, spawn_app_with, Db, TestApp};

/// Which Caddy runs a test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caddy {
    /// Debian's package (2.6.2).
    Debian,
    /// A current release (v2.11.9), built from source by scripts/install-deps.sh.
    Current,
}

impl Caddy {
    fn binary(self) -> String {
        match self {
            Caddy::Debian => required_service("SSOGATE_TEST_CADDY", "Caddy (Debian's)"),
            Caddy::Current => required_service("SSOGATE_TEST_CADDY_CURRENT", "Caddy (current)"),
        }
    }
}

/// `caddies!(test_fn, …)`: each `async fn test_fn(caddy: Caddy)` as a test behind each Caddy.
macro_rules! caddies {
    ($($name:ident),* $(,)?) => {
        mod debian { $(#[tokio::test] async fn $name() { super::$name(super::Caddy::Debian).await })* }
        mod current { $(#[tokio::test] async fn $name() { super::$name(super::Caddy::Current).await })* }
    };
}

caddies!(
    behind_caddy_anonymous_people_are_sent_to_sign_in,
    behind_caddy_the_app_sees_the_identity_and_a_verifiable_token,
    behind_caddy_client_sent_identity_headers_never_reach_the_app,
    behind_caddy_a_person_the_app_does_not_admit_is_refused_and_the_app_never_asked,
    behind_caddy_logout_takes_effect_at_once,
    behind_caddy_a_real_keycloak_sign_in_reaches_the_app,
    behind_caddy_a_client_cannot_choose_a_more_permissive_app,
    without_the_strip_lines_caddy_passes_what_the_readme_says,
);

/// The README's example names, replaced by the test's.
const README_SITE: &str = "wiki.example.com";
const README_SSOGATE: &str = "127.0.0.1:8080";
const README_APP: &str = "127.0.0.1:3000";
const README_APP_NAME: &str = "?app=wiki";

/// The ```caddyfile block of README.md (there must be exactly one).
fn readme_caddyfile() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let readme = std::fs::read_to_string(&path).expect("README.md");
    let blocks: Vec<&str> = readme
        .split("```caddyfile\n")
        .skip(1)
        .map(|rest| rest.split("```").next().expect("a closed block"))
        .collect();
    assert_eq!(blocks.len(), 1, "README.md has one ```caddyfile block");
    let block = blocks[0].to_string();
    for example in [README_SITE, README_SSOGATE, README_APP, README_APP_NAME] {
        assert!(
            block.contains(example),
            "the README's Caddy snippet names {example} (the test replaces it)"
        );
    }
    block
}

/// A running Caddy serving the README's snippet at `url`.
pub struct CaddySite {
    pub url: String,
    /// Killed on drop.
    _child: tokio::process::Child,
    _dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

impl CaddySite {
    /// The README's snippet for the app named `echo`.
    pub async fn start(caddy: Caddy, ssogate_port: u16, upstream_port: u16) -> CaddySite {
        CaddySite::start_with(
            caddy,
            &readme_caddyfile(),
            "echo",
            ssogate_port,
            upstream_port,
        )
        .await
    }

    /// `snippet` (the README's, or a variant of it) with its auth URL naming `app`.
    pub async fn start_with(
        caddy: Caddy,
        snippet: &str,
        app: &str,
        ssogate_port: u16,
        upstream_port: u16,
    ) -> CaddySite {
        let caddy = caddy.binary();
        // A port freed just before Caddy binds it may be taken meanwhile: try again.
        let mut last_log = String::new();
        for _ in 0..3 {
            let port = free_port();
            let dir = tempfile::tempdir().expect("a temporary directory");
            // No admin endpoint, no HTTPS, no state outside `dir` (HOME and XDG_* too: the
            // autosaved config lands there), only 127.0.0.1: tests running in parallel
            // share nothing.
            let config = format!(
                "{{\n\tadmin off\n\tauto_https off\n\tdefault_bind 127.0.0.1\n\tstorage file_system {}\n}}\n\n{}",
                dir.path().join("data").display(),
                snippet
                    .replace(README_SITE, &format!("http://127.0.0.1:{port}"))
                    .replace(README_SSOGATE, &format!("127.0.0.1:{ssogate_port}"))
                    .replace(README_APP, &format!("127.0.0.1:{upstream_port}"))
                    .replace(README_APP_NAME, &format!("?app={app}")),
            );
            let file = dir.path().join("Caddyfile");
            std::fs::write(&file, &config).expect("write the Caddyfile");
            let log_path = dir.path().join("caddy.log");
            let log = std::fs::File::create(&log_path).expect("log file");
            let mut child = tokio::process::Command::new(&caddy)
                .args(["run", "--adapter", "caddyfile", "--config"])
                .arg(&file)
                .env("HOME", dir.path())
                .env("XDG_DATA_HOME", dir.path().join("data"))
                .env("XDG_CONFIG_HOME", dir.path().join("config"))
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("log file"))
                .stderr(log)
                .kill_on_drop(true)
                .spawn()
                .unwrap_or_else(|e| panic!("running {caddy}: {e}"));
            let url = format!("http://127.0.0.1:{port}");
            // Ready when this Caddy has bound its port (it logs "serving initial
            // configuration" only then; another process that took the port meanwhile
            // makes it exit instead) and answers there.
            let probe = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(5))
                .build()
                .expect("client");
            let deadline = Instant::now() + Duration::from_secs(15);
            let ready = loop {
                if child.try_wait().expect("caddy status").is_some() {
                    break false;
                }
                let started = std::fs::read_to_string(&log_path)
                    .unwrap_or_default()
                    .contains("serving initial configuration");
                let answers = started
                    && probe
                        .get(format!("{url}/_caddy_ready"))
                        .send()
                        .await
                        .is_ok_and(|r| {
                            // Caddy 2.6 says `Server: Caddy`; 2.11 keeps the upstream's
                            // Server and adds `Via: 1.0 Caddy`.
                            let h = r.headers();
                            h.get_all("server").iter().any(|s| s.as_bytes() == b"Caddy")
                                || h.get_all("via")
                                    .iter()
                                    .any(|s| s.as_bytes().ends_with(b" Caddy"))
                        });
                if answers {
                    break true;
                }
                assert!(
                    Instant::now() < deadline,
                    "Caddy did not answer on {url}:\n{}",
                    std::fs::read_to_string(&log_path).unwrap_or_default()
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            };
            if ready {
                return CaddySite {
                    url,
                    _child: child,
                    _dir: dir,
                };
            }
            last_log = std::fs::read_to_string(&log_path).unwrap_or_default();
            if !last_log.contains("address already in use") {
                break;
            }
        }
        panic!("Caddy did not start:\n{last_log}");
    }
}

struct Setup {
    app: TestApp,
    /// Runs until the test ends.
    _site: CaddySite,
    /// The app's origin: Caddy's address.
    origin: String,
    hits: Arc<AtomicUsize>,
    /// A browser pointed at Caddy (cookies given per request).
    browser: reqwest::Client,
}

async fn setup(caddy: Caddy) -> Setup {
    let (upstream, hits) = echo_upstream().await;
    let app = spawn_app_with(Db::Sqlite, trust_loopback).await;
    let site = CaddySite::start(caddy, support::port(&app), upstream.port()).await;
    let origin = site.url.clone();
    let key = api_key(&app).await;
    let r = put_app(&app, &key, json!({"name": "echo", "origins": [origin]})).await;
    assert_eq!(r.status(), 201);
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    // The readiness probe went through forward-auth too (before the app existed).
    hits.store(0, Ordering::SeqCst);
    Setup {
        app,
        _site: site,
        origin,
        hits,
        browser,
    }
}

impl Setup {
    async fn get(
        &self,
        path: &str,
        cookie: Option<&str>,
        extra: &[(&str, &str)],
    ) -> reqwest::Response {
        get_through(&self.browser, &self.origin, path, cookie, extra).await
    }

    async fn signed_in_cookie(&self, user_id: &str) -> String {
        signed_in_cookie(&self.app, user_id).await
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// What a client sends to pass for someone else.
const FORGED: [(&str, &str); 6] = [
    ("x-auth-request-user", "admin"),
    ("x-auth-request-email", "admin@evil.test"),
    ("x-auth-request-name", "Admin"),
    ("x-auth-request-org", "Evil"),
    ("x-auth-request-roles", "Acme:owner"),
    ("authorization", "Bearer forged"),
];

/// No header the app saw holds a forged value or an unexpanded Caddy placeholder.
fn assert_nothing_forged(seen: &Value) {
    for (name, value) in seen.as_object().expect("echo JSON") {
        let value = value.as_str().expect("text");
        assert!(
            !value.contains("{http."),
            "a Caddy placeholder reached the app: {name}: {value}"
        );
        for (_, forged) in FORGED {
            assert!(
                !value.contains(forged),
                "a forged value reached the app: {name}: {value}"
            );
        }
    }
}

/// Caddy 2.6.2 cannot show why the snippet strips the client's identity headers first:
/// it always sets every `copy_headers` header (to a literal placeholder when the answer
/// lacks it). Caddy >= 2.10 leaves the client's header instead (GHSA-7r4p-vjf4-gxv4),
/// so the snippet itself is checked: inside `route` (written order), every copied header
/// is removed before `forward_auth`, and nothing else is copied.
#[test]
fn the_readme_caddy_snippet_strips_client_identity_headers_before_forward_auth() {
    let snippet = readme_caddyfile();
    let lines: Vec<&str> = snippet.lines().map(str::trim).collect();
    let at = |line: &str| lines.iter().position(|l| *l == line);
    let route = at("route {").expect("a route block");
    let forward_auth = lines
        .iter()
        .position(|l| l.starts_with("forward_auth "))
        .expect("forward_auth");
    let copied: Vec<&str> = lines
        .iter()
        .find_map(|l| l.strip_prefix("copy_headers "))
        .expect("copy_headers")
        .split_whitespace()
        .collect();
    assert_eq!(
        copied,
        [
            "X-Auth-Request-User",
            "X-Auth-Request-Email",
            "X-Auth-Request-Name",
            "X-Auth-Request-Org",
            "X-Auth-Request-Roles",
            "Authorization"
        ]
    );
    for h in copied {
        let strip = at(&format!("request_header -{h}"))
            .unwrap_or_else(|| panic!("the snippet does not remove a client's {h}"));
        assert!(
            route < strip && strip < forward_auth,
            "{h} is removed inside route, before forward_auth"
        );
    }
}

async fn behind_caddy_anonymous_people_are_sent_to_sign_in(caddy: Caddy) {
    let s = setup(caddy).await;
    let r = s.get("/private/page?x=1&y=2", None, &FORGED).await;
    assert_eq!(
        r.status(),
        302,
        "/auth/verify?rd=1: Caddy passes the 302 on"
    );
    let location = r.headers()["location"].to_str().expect("ascii").to_string();
    let login: url::Url = location.parse().expect("absolute URL");
    assert_eq!(
        format!("{}{}", login.origin().ascii_serialization(), login.path()),
        s.app.url("/login")
    );
    assert_eq!(
        return_to(&location),
        format!("{}/private/page?x=1&y=2", s.origin)
    );
    assert_eq!(s.hits(), 0, "the app was never asked");
    // ...and the sign-in page keeps it (an app origin).
    let page = s
        .app
        .client
        .get(&location)
        .send()
        .await
        .expect("login page");
    assert_eq!(page.status(), 200);
}

async fn behind_caddy_the_app_sees_the_identity_and_a_verifiable_token(caddy: Caddy) {
    let s = setup(caddy).await;
    let uid = user(&s.app, "henry@acme.test", "Henry", &[("Acme", &["member"])]).await;
    let cookie = s.signed_in_cookie(&uid).await;
    let r = s.get("/dashboard?tab=1", Some(&cookie), &FORGED).await;
    assert_eq!(r.status(), 200);
    let seen: Value = r.json().await.expect("echo JSON");
    assert_eq!(seen["x-auth-request-user"], json!(uid));
    assert_eq!(seen["x-auth-request-email"], json!("henry@acme.test"));
    assert_eq!(seen["x-auth-request-name"], json!("Henry"));
    assert_eq!(seen["x-auth-request-org"], json!("Acme"));
    assert_eq!(seen["x-auth-request-roles"], json!("Acme:member"));
    let bearer = seen["authorization"].as_str().expect("token").to_string();
    let jwt = bearer.strip_prefix("Bearer ").expect("a bearer token");
    let claims = support::verified_claims(&s.app, jwt, &s.origin).await;
    assert_eq!(claims["sub"], json!(uid));
    assert_eq!(claims["aud"], json!(s.origin));
    assert_eq!(claims["email"], json!("henry@acme.test"));
    assert_nothing_forged(&seen);
    assert_eq!(s.hits(), 1);
}

/// The case Caddy versions mishandle: the answer has nothing to say about the email and
/// the name. ssogate sends them empty and the README's snippet strips what the client
/// sent first, so the app sees neither the client's values (Caddy 2.10 until the
/// GHSA-7r4p-vjf4-gxv4 fix would keep them) nor a literal `{http.reverse_proxy.header.…}`
/// (Caddy < 2.9).
async fn behind_caddy_client_sent_identity_headers_never_reach_the_app(caddy: Caddy) {
    let s = setup(caddy).await;
    let uid = user_without_email_or_name(&s.app, &[("Acme", &["member"])]).await;
    let cookie = s.signed_in_cookie(&uid).await;
    let r = s.get("/", Some(&cookie), &FORGED).await;
    assert_eq!(r.status(), 200);
    let seen: Value = r.json().await.expect("echo JSON");
    assert_eq!(seen["x-auth-request-user"], json!(uid));
    // Caddy 2.6 copies the empty value as an empty header; 2.11 drops an empty one.
    let empty = match caddy {
        Caddy::Debian => json!(""),
        Caddy::Current => Value::Null,
    };
    assert_eq!(seen["x-auth-request-email"], empty);
    assert_eq!(seen["x-auth-request-name"], empty);
    assert_eq!(seen["x-auth-request-org"], json!("Acme"));
    assert_eq!(seen["x-auth-request-roles"], json!("Acme:member"));
    let bearer = seen["authorization"].as_str().expect("token");
    let jwt = bearer.strip_prefix("Bearer ").expect("a bearer token");
    let claims = support::verified_claims(&s.app, jwt, &s.origin).await;
    assert_eq!(claims["sub"], json!(uid));
    assert_nothing_forged(&seen);

    // In no organization at all: the organization and role headers are empty too.
    let loner = user_without_email_or_name(&s.app, &[]).await;
    let cookie = s.signed_in_cookie(&loner).await;
    let r = s.get("/", Some(&cookie), &FORGED).await;
    assert_eq!(r.status(), 200);
    let seen: Value = r.json().await.expect("echo JSON");
    assert_eq!(seen["x-auth-request-user"], json!(loner));
    for name in ["email", "name", "org", "roles"] {
        assert_eq!(seen[format!("x-auth-request-{name}")], empty, "{name}");
    }
    assert_nothing_forged(&seen);
    assert_eq!(s.hits(), 2);
}

async fn behind_caddy_a_person_the_app_does_not_admit_is_refused_and_the_app_never_asked(
    caddy: Caddy,
) {
    let s = setup(caddy).await;
    user(
        &s.app,
        "boss@acme.test",
        "Boss",
        &[("Board", &["director"])],
    )
    .await;
    let key = api_key(&s.app).await;
    let r = put_app(
        &s.app,
        &key,
        json!({"name": "echo", "origins": [s.origin], "organizations": ["Board"], "roles": ["director"]}),
    )
    .await;
    assert_eq!(r.status(), 200);
    // A member of another organization, and a member of the Board without the role.
    let outsider = user(&s.app, "ivy@acme.test", "Ivy", &[("Acme", &["member"])]).await;
    let clerk = user(
        &s.app,
        "clerk@acme.test",
        "Clerk",
        &[("Board", &["member"])],
    )
    .await;
    for uid in [&outsider, &clerk] {
        let cookie = s.signed_in_cookie(uid).await;
        let r = s.get("/", Some(&cookie), &FORGED).await;
        assert_eq!(r.status(), 403, "{uid}");
    }
    assert_eq!(s.hits(), 0, "the app was never asked");
    let director = user(
        &s.app,
        "dora@acme.test",
        "Dora",
        &[("Board", &["director"])],
    )
    .await;
    let cookie = s.signed_in_cookie(&director).await;
    let r = s.get("/", Some(&cookie), &[]).await;
    assert_eq!(r.status(), 200);
    let seen: Value = r.json().await.expect("echo JSON");
    assert_eq!(seen["x-auth-request-roles"], json!("Board:director"));
    assert_eq!(s.hits(), 1);
}

async fn behind_caddy_logout_takes_effect_at_once(caddy: Caddy) {
    let s = setup(caddy).await;
    let uid = user(&s.app, "ivy@acme.test", "Ivy", &[]).await;
    let cookie = s.signed_in_cookie(&uid).await;
    assert_eq!(s.get("/notes", Some(&cookie), &[]).await.status(), 200);
    let r = s
        .app
        .client
        .post(s.app.url("/logout"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("logout");
    assert_eq!(r.status(), 303);
    let r = s.get("/notes", Some(&cookie), &[]).await;
    assert_eq!(r.status(), 302, "signed out at once: sent to sign in");
    let location = r.headers()["location"].to_str().expect("ascii").to_string();
    assert!(location.starts_with(&s.app.url("/login?")), "{location}");
    assert_eq!(return_to(&location), format!("{}/notes", s.origin));
    assert_eq!(s.hits(), 1, "only the request before the logout");
}

/// The whole path with a real sign-in through the real Keycloak, behind Caddy. Caddy and
/// ssogate share the host 127.0.0.1 (cookies ignore ports), as sibling hosts share a
/// cookie domain.
async fn behind_caddy_a_real_keycloak_sign_in_reaches_the_app(caddy: Caddy) {
    support::a_real_keycloak_sign_in_reaches_the_app(
        "caddy",
        |sg_port, upstream_port| async move {
            let site = CaddySite::start(caddy, sg_port, upstream_port).await;
            (site.url.clone(), site)
        },
    )
    .await;
}

/// The review's attack behind Caddy: its `forward_auth` passes the client's headers into
/// the auth request, and only the auth URL (`?app=`) decides the app.
async fn behind_caddy_a_client_cannot_choose_a_more_permissive_app(caddy: Caddy) {
    support::a_client_cannot_choose_a_more_permissive_app(
        &format!("caddy {caddy:?}"),
        |app, sg_port, upstream_port| async move {
            let site =
                CaddySite::start_with(caddy, &readme_caddyfile(), app, sg_port, upstream_port)
                    .await;
            (site.url.clone(), site)
        },
    )
    .await;
}

/// What the README says of Caddy versions, run rather than quoted: without the
/// snippet's `request_header -…` lines, when ssogate's answer lacks a copied header (here
/// `Authorization`, for an app that gets no token), Caddy 2.6.2 sends the app a literal
/// placeholder, and Caddy 2.11.9 (which has the GHSA-7r4p-vjf4-gxv4 fix, caddy PR 7545)
/// removes the client's value. With the lines (the README's snippet) the client's value
/// never reaches the app on either. (Releases from 2.10.0 until that fix passed the
/// client's value on; none of them is run here.)
async fn without_the_strip_lines_caddy_passes_what_the_readme_says(caddy: Caddy) {
    let (upstream, hits) = echo_upstream().await;
    let app = spawn_app_with(Db::Sqlite, trust_loopback).await;
    let unstripped: String = readme_caddyfile()
        .lines()
        .filter(|l| !l.trim_start().starts_with("request_header -"))
        .collect::<Vec<_>>()
        .join("\n");
    let bare = CaddySite::start_with(
        caddy,
        &unstripped,
        "echo",
        support::port(&app),
        upstream.port(),
    )
    .await;
    let readme = CaddySite::start(caddy, support::port(&app), upstream.port()).await;
    let key = api_key(&app).await;
    let body = json!({"name": "echo", "origins": [bare.url, readme.url], "headers": ["user"]});
    assert_eq!(put_app(&app, &key, body).await.status(), 201);
    let uid = user(&app, "kim@acme.test", "Kim", &[]).await;
    let cookie = signed_in_cookie(&app, &uid).await;
    let browser = crate::support::new_client();
    let forged = [("authorization", "Bearer forged")];
    hits.store(0, Ordering::SeqCst);
    let r = get_through(&browser, &bare.url, "/", Some(&cookie), &forged).await;
    assert_eq!(r.status(), 200);
    let seen: Value = r.json().await.expect("echo JSON");
    let expected = match caddy {
        Caddy::Debian => json!("{http.reverse_proxy.header.Authorization}"),
        Caddy::Current => Value::Null,
    };
    assert_eq!(seen["authorization"], expected, "{caddy:?}: {seen}");
    let r = get_through(&browser, &readme.url, "/", Some(&cookie), &forged).await;
    assert_eq!(r.status(), 200);
    let seen: Value = r.json().await.expect("echo JSON");
    // The client's value never passes; Caddy 2.6.2 still writes its placeholder (hence
    // the README: for an app without `token`, drop Authorization from copy_headers).
    assert_eq!(seen["authorization"], expected, "{caddy:?}: {seen}");
    assert_eq!(hits.load(Ordering::SeqCst), 2);
}
