//! `/auth/verify` against the running app: who is identified, what each case answers,
//! how soon sign-out and suspension take effect, sessions across a restart.

use std::time::{Duration, Instant};

use serde_json::json;
use ssogate::store::{now_ms, sessions};

use crate::support::downstream::{
    self as support, api_key, header, put_app, sign_in, trust_loopback, user,
    user_without_email_or_name, verify,
};
use crate::support::{
    fresh_database, spawn_app_on, spawn_app_with, test_config, Db, TestApp, TestDb,
};

both!(
    the_app_is_the_one_the_auth_url_names_never_one_a_header_names,
    anonymous_requests_are_sent_to_sign_in,
    a_member_gets_identity_headers_and_a_token,
    every_identity_header_is_sent_even_when_unknown,
    an_app_admits_only_its_organizations_and_roles,
    logout_takes_effect_within_the_documented_bound,
    suspension_ends_every_session,
    sessions_survive_a_restart,
    a_user_with_200_groups_gets_through,
);

const HOST: &str = "app.test:8081";
const ORIGIN: &str = "http://app.test:8081";

async fn app_with(db: Db, body: serde_json::Value) -> (TestApp, String) {
    let app = spawn_app_with(db, trust_loopback).await;
    let key = api_key(&app).await;
    let r = put_app(&app, &key, body).await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
    (app, key)
}

/// The review's attack: a person admitted by app `open` but not by app `strict` asks
/// for `strict` with headers naming `open`. The proxy's auth URL names `strict`, so
/// nothing the client sends can choose `open`'s policy; a forwarded host that is not
/// `strict`'s is refused, and X-Original-URL / Forwarded are not read at all.
async fn the_app_is_the_one_the_auth_url_names_never_one_a_header_names(db: Db) {
    const OPEN: &str = "open.test:8081";
    const STRICT: &str = "strict.test:8081";
    let app = spawn_app_with(db, trust_loopback).await;
    // The role `strict` asks for exists (someone else holds it).
    user(&app, "boss@acme.test", "Boss", &[("Acme", &["admin"])]).await;
    let key = api_key(&app).await;
    let r = put_app(
        &app,
        &key,
        json!({"name": "open", "origins": [format!("http://{OPEN}")]}),
    )
    .await;
    assert_eq!(r.status(), 201);
    let r = put_app(
        &app,
        &key,
        json!({"name": "strict", "origins": [format!("http://{STRICT}")], "roles": ["admin"]}),
    )
    .await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
    let member = user(&app, "m@acme.test", "M", &[("Acme", &["member"])]).await;
    let sid = sign_in(&app, &member).await;
    let cookie = support::cookie(&app, &sid);
    assert_eq!(
        verify(&app, "open", OPEN, "/", Some(&sid)).await.status(),
        200
    );
    let denied = |r: &reqwest::Response| header(r, "x-ssogate-reason");
    let r = verify(&app, "strict", STRICT, "/", Some(&sid)).await;
    assert_eq!(
        (r.status().as_u16(), denied(&r).as_deref()),
        (403, Some("not_admitted"))
    );
    assert!(header(&r, "x-auth-request-user").is_none());

    // The forwarded host naming the permissive app: refused, not switched.
    let r = verify(&app, "strict", OPEN, "/", Some(&sid)).await;
    assert_eq!(
        (r.status().as_u16(), denied(&r).as_deref()),
        (403, Some("forwarded_host_not_app"))
    );
    // Headers a proxy passes through from the client, naming the permissive app: not read.
    let strict_url = app.url("/auth/verify?app=strict");
    for (name, value) in [
        ("x-original-url", format!("http://{OPEN}/")),
        ("forwarded", format!("host={OPEN};proto=http")),
        ("host", OPEN.to_string()),
    ] {
        let r = app
            .client
            .get(&strict_url)
            .header("x-forwarded-host", STRICT)
            .header("x-forwarded-proto", "http")
            .header(name, value.as_str())
            .header("cookie", &cookie)
            .send()
            .await
            .expect("req");
        assert_eq!(
            (r.status().as_u16(), denied(&r).as_deref()),
            (403, Some("not_admitted")),
            "{name}: {value}"
        );
    }
    // Sent twice or as a list (the client's value leaked through next to the proxy's):
    // refused, not resolved by picking one.
    for hosts in [vec![STRICT, OPEN], vec![OPEN, STRICT]] {
        let mut req = app.client.get(&strict_url).header("cookie", &cookie);
        for h in &hosts {
            req = req.header("x-forwarded-host", *h);
        }
        let r = req.send().await.expect("req");
        assert_eq!(
            (r.status().as_u16(), denied(&r).as_deref()),
            (403, Some("forwarded_header_ambiguous")),
            "{hosts:?}"
        );
        let r = app
            .client
            .get(&strict_url)
            .header("x-forwarded-host", hosts.join(", "))
            .header("cookie", &cookie)
            .send()
            .await
            .expect("req");
        assert_eq!(denied(&r).as_deref(), Some("forwarded_header_ambiguous"));
    }
    // The auth URL must name exactly one existing app: an old configuration without
    // `?app=` gets a 403 whose reason says so (and is logged).
    for (url, reason) in [
        ("/auth/verify", "app_not_named"),
        ("/auth/verify?rd=1", "app_not_named"),
        ("/auth/verify?app=strict&app=open", "app_param_invalid"),
        ("/auth/verify?app=open&app=strict", "app_param_invalid"),
        ("/auth/verify?app=", "app_param_invalid"),
        ("/auth/verify?app=nope", "unknown_app"),
    ] {
        let r = app
            .client
            .get(app.url(url))
            .header("x-forwarded-host", OPEN)
            .header("cookie", &cookie)
            .send()
            .await
            .expect("req");
        assert_eq!(
            (r.status().as_u16(), denied(&r).as_deref()),
            (403, Some(reason)),
            "{url}"
        );
        assert!(header(&r, "x-auth-request-user").is_none());
    }
}

async fn anonymous_requests_are_sent_to_sign_in(db: Db) {
    let (app, key) = app_with(db, json!({"name": "wiki", "origins": [ORIGIN]})).await;
    let r = verify(&app, "wiki", HOST, "/docs?a=1&b=2", None).await;
    assert_eq!(r.status(), 401);
    let expected = format!(
        "{}/login?return_to=http%3A%2F%2Fapp.test%3A8081%2Fdocs%3Fa%3D1%26b%3D2",
        app.address
    );
    assert_eq!(
        header(&r, "x-ssogate-login-url").as_deref(),
        Some(expected.as_str())
    );
    assert_eq!(header(&r, "cache-control").as_deref(), Some("no-store"));
    // A session id that is not (or no longer) live is the same as none.
    let r = verify(&app, "wiki", HOST, "/", Some("AAAAAAAAAAAAAAAAAAAAAA")).await;
    assert_eq!(r.status(), 401);

    // Redirect mode for Traefik/Caddy: ?rd=1, or the app's setting.
    let r = app
        .client
        .get(app.url("/auth/verify?rd=1&app=wiki"))
        .header("x-forwarded-host", HOST)
        .header("x-forwarded-uri", "/docs?a=1&b=2")
        .header("x-forwarded-proto", "http")
        .send()
        .await
        .expect("req");
    assert_eq!(r.status(), 302);
    assert_eq!(header(&r, "location").as_deref(), Some(expected.as_str()));
    let r = put_app(
        &app,
        &key,
        json!({"name": "wiki", "origins": [ORIGIN], "unauthenticated": "redirect"}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let r = verify(&app, "wiki", HOST, "/x", None).await;
    assert_eq!(r.status(), 302);

    // X-Original-URL is not read: without X-Forwarded-Host the person signs in without
    // coming back (the address is never built from a header a client could send).
    let r = app
        .client
        .get(app.url("/auth/verify?app=wiki"))
        .header("x-original-url", "http://APP.test:8081/y")
        .send()
        .await
        .expect("req");
    assert_eq!(r.status(), 302);
    assert_eq!(
        header(&r, "location").as_deref(),
        Some(format!("{}/login", app.address).as_str())
    );
    // A host that is not one of the named app's origins: 403 with its reason.
    let r = verify(&app, "wiki", "other.test", "/", None).await;
    assert_eq!(r.status(), 403);
    assert_eq!(
        header(&r, "x-ssogate-reason").as_deref(),
        Some("forwarded_host_not_app")
    );
}

async fn a_member_gets_identity_headers_and_a_token(db: Db) {
    let (app, _) = app_with(
        db,
        json!({"name": "wiki", "origins": [ORIGIN], "audience": "urn:wiki"}),
    )
    .await;
    let uid = user(
        &app,
        "alice@acme.test",
        "Alice Ünal",
        &[("Acme", &["member", "admin"]), ("R&D, Europe", &["viewer"])],
    )
    .await;
    let sid = sign_in(&app, &uid).await;
    let r = verify(&app, "wiki", HOST, "/", Some(&sid)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        header(&r, "x-auth-request-user").as_deref(),
        Some(uid.as_str())
    );
    assert_eq!(
        header(&r, "x-auth-request-email").as_deref(),
        Some("alice@acme.test")
    );
    assert_eq!(
        header(&r, "x-auth-request-name").as_deref(),
        Some("Alice Ünal")
    );
    assert_eq!(
        header(&r, "x-auth-request-org").as_deref(),
        Some("Acme,R&D%2C Europe")
    );
    assert_eq!(
        header(&r, "x-auth-request-roles").as_deref(),
        Some("Acme:admin,Acme:member,R&D%2C Europe:viewer")
    );
    let auth = header(&r, "authorization").expect("a token");
    let jwt = auth.strip_prefix("Bearer ").expect("bearer");
    let h = jsonwebtoken::decode_header(jwt).expect("header");
    assert_eq!(h.typ.as_deref(), Some("at+jwt"));
    assert_eq!(h.alg, jsonwebtoken::Algorithm::EdDSA);
    let c = support::verified_claims(&app, jwt, "urn:wiki").await;
    assert_eq!(c["iss"], json!(app.address));
    assert_eq!(c["sub"], json!(uid));
    assert_eq!(c["aud"], json!("urn:wiki"));
    assert_eq!(c["email"], json!("alice@acme.test"));
    assert_eq!(c["name"], json!("Alice Ünal"));
    let lifetime = c["exp"].as_i64().expect("exp") - c["iat"].as_i64().expect("iat");
    assert_eq!(lifetime, 300, "tokens.lifetime_secs");
    assert!(c["jti"].as_str().is_some_and(|j| j.len() >= 32));
    let orgs = c["organizations"].as_array().expect("organizations");
    assert_eq!(orgs.len(), 2);
    assert_eq!(orgs[0]["name"], json!("Acme"));
    assert_eq!(orgs[0]["roles"], json!(["admin", "member"]));
    assert!(orgs[0]["id"].as_str().is_some());

    // The hot path reuses the token (no signature per request) ...
    let again = verify(&app, "wiki", HOST, "/other", Some(&sid)).await;
    assert_eq!(
        header(&again, "authorization").as_deref(),
        Some(auth.as_str())
    );
    // ... and an app that asks for fewer headers gets fewer.
    let key = api_key(&app).await;
    let r = put_app(
        &app,
        &key,
        json!({"name": "wiki", "origins": [ORIGIN], "headers": ["user", "email"]}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let r = verify(&app, "wiki", HOST, "/", Some(&sid)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        header(&r, "x-auth-request-email").as_deref(),
        Some("alice@acme.test")
    );
    assert!(header(&r, "authorization").is_none());
    // The identity headers it does not get are sent empty (one proxy configuration
    // strips them for every app).
    for name in [
        "x-auth-request-name",
        "x-auth-request-org",
        "x-auth-request-roles",
    ] {
        assert_eq!(header(&r, name).as_deref(), Some(""), "{name}");
    }
}

/// A person without an email or a name still gets every identity header, empty:
/// a proxy that copies a header the answer lacks may pass on what the client sent under
/// that name (Caddy >= 2.10) or a literal placeholder (Caddy < 2.9).
async fn every_identity_header_is_sent_even_when_unknown(db: Db) {
    let (app, key) = app_with(db, json!({"name": "wiki", "origins": [ORIGIN]})).await;
    let uid = user_without_email_or_name(&app, &[("Acme", &["member"])]).await;
    let sid = sign_in(&app, &uid).await;
    let r = verify(&app, "wiki", HOST, "/", Some(&sid)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        header(&r, "x-auth-request-user").as_deref(),
        Some(uid.as_str())
    );
    assert_eq!(header(&r, "x-auth-request-email").as_deref(), Some(""));
    assert_eq!(header(&r, "x-auth-request-name").as_deref(), Some(""));
    assert_eq!(header(&r, "x-auth-request-org").as_deref(), Some("Acme"));
    assert_eq!(
        header(&r, "x-auth-request-roles").as_deref(),
        Some("Acme:member")
    );
    let auth = header(&r, "authorization").expect("a token");
    let c = support::verified_claims(&app, auth.trim_start_matches("Bearer "), ORIGIN).await;
    assert_eq!(c["sub"], json!(uid));

    // Nobody's organizations: empty too.
    let loner = user_without_email_or_name(&app, &[]).await;
    let r = verify(&app, "wiki", HOST, "/", Some(&sign_in(&app, &loner).await)).await;
    assert_eq!(r.status(), 200);
    for name in ["email", "name", "org", "roles"] {
        let h = format!("x-auth-request-{name}");
        assert_eq!(header(&r, &h).as_deref(), Some(""), "{h}");
    }

    // An app that gets fewer headers: the others are sent empty (never with a value),
    // so the same proxy configuration strips them for every app.
    let r = put_app(
        &app,
        &key,
        json!({"name": "wiki", "origins": [ORIGIN], "headers": ["user", "email"]}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let r = verify(&app, "wiki", HOST, "/", Some(&sid)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        header(&r, "x-auth-request-user").as_deref(),
        Some(uid.as_str())
    );
    for name in ["email", "name", "org", "roles"] {
        let h = format!("x-auth-request-{name}");
        assert_eq!(header(&r, &h).as_deref(), Some(""), "{h}");
    }
    assert!(header(&r, "authorization").is_none());
}

async fn an_app_admits_only_its_organizations_and_roles(db: Db) {
    let app = spawn_app_with(db, trust_loopback).await;
    let member = user(
        &app,
        "m@acme.test",
        "M",
        &[("Acme", &["member"]), ("Globex", &["admin"])],
    )
    .await;
    let admin = user(&app, "a@acme.test", "A", &[("Acme", &["admin"])]).await;
    let outsider = user(&app, "o@initech.test", "O", &[("Initech", &["admin"])]).await;
    let key = api_key(&app).await;
    let r = put_app(
        &app,
        &key,
        json!({"name": "admin", "origins": [ORIGIN], "organizations": ["Acme"], "roles": ["admin"]}),
    )
    .await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
    for (who, expected) in [(&member, 403), (&admin, 200), (&outsider, 403)] {
        let sid = sign_in(&app, who).await;
        assert_eq!(
            verify(&app, "admin", HOST, "/", Some(&sid)).await.status(),
            expected,
            "{who}"
        );
    }
    // The admitted user's headers show only the app's organizations.
    let sid = sign_in(&app, &admin).await;
    let r = verify(&app, "admin", HOST, "/", Some(&sid)).await;
    assert_eq!(header(&r, "x-auth-request-org").as_deref(), Some("Acme"));
}

/// On the instance that signs the person out: at once. On another instance (simulated
/// by deleting the session row behind this instance's back): within
/// forward_auth.cache_ttl_secs (5 s), the documented bound.
async fn logout_takes_effect_within_the_documented_bound(db: Db) {
    let (app, _) = app_with(db, json!({"name": "wiki", "origins": [ORIGIN]})).await;
    let uid = user(&app, "bob@acme.test", "Bob", &[]).await;
    let sid = sign_in(&app, &uid).await;
    assert_eq!(
        verify(&app, "wiki", HOST, "/", Some(&sid)).await.status(),
        200
    );
    let r = app
        .client
        .post(app.url("/logout"))
        .header("cookie", support::cookie(&app, &sid))
        .send()
        .await
        .expect("logout");
    assert_eq!(r.status(), 303);
    assert_eq!(
        verify(&app, "wiki", HOST, "/", Some(&sid)).await.status(),
        401,
        "at once"
    );

    let sid = sign_in(&app, &uid).await;
    assert_eq!(
        verify(&app, "wiki", HOST, "/", Some(&sid)).await.status(),
        200
    );
    let started = Instant::now();
    {
        let mut c = app.store.write().await.expect("conn");
        sessions::delete_for_user(&mut c, &uid)
            .await
            .expect("delete");
    }
    let bound = Duration::from_secs(app.state.config.forward_auth.cache_ttl_secs);
    loop {
        let status = verify(&app, "wiki", HOST, "/", Some(&sid)).await.status();
        if status == 401 {
            break;
        }
        assert_eq!(status, 200);
        assert!(
            started.elapsed() <= bound + Duration::from_millis(500),
            "still signed in {:?} after the session ended elsewhere",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn suspension_ends_every_session(db: Db) {
    let (app, key) = app_with(db, json!({"name": "wiki", "origins": [ORIGIN]})).await;
    let uid = user(&app, "carol@acme.test", "Carol", &[]).await;
    let s1 = sign_in(&app, &uid).await;
    let s2 = sign_in(&app, &uid).await;
    for s in [&s1, &s2] {
        assert_eq!(verify(&app, "wiki", HOST, "/", Some(s)).await.status(), 200);
    }
    let r = app
        .client
        .post(app.url(&format!("/api/v1/users/{uid}/suspend")))
        .bearer_auth(&key)
        .send()
        .await
        .expect("suspend");
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.expect("json");
    assert_eq!(body["sessions_ended"], json!(2));
    for s in [&s1, &s2] {
        assert_eq!(verify(&app, "wiki", HOST, "/", Some(s)).await.status(), 401);
    }
    let mut c = app.store.read().await.expect("conn");
    assert_eq!(
        sessions::count_for_user(&mut c, &uid).await.expect("count"),
        0
    );
    let events = ssogate::store::audit::query(
        &mut c,
        &ssogate::store::audit::AuditFilter {
            kind: Some("user.suspended".into()),
            ..Default::default()
        },
    )
    .await
    .expect("audit");
    assert_eq!(events.len(), 1);
    assert!(events[0]
        .actor
        .as_deref()
        .is_some_and(|a| a.starts_with("api-key:")));
    drop(c);
    // A suspended user's older session that is somehow still cached elsewhere is
    // refused within the bound too: the identity check reads the suspended flag.
    let r = app
        .client
        .post(app.url("/api/v1/users/no-such-user/suspend"))
        .bearer_auth(&key)
        .send()
        .await
        .expect("suspend");
    assert_eq!(r.status(), 404);
}

async fn sessions_survive_a_restart(db: Db) {
    let real = fresh_database(db).await;
    let mut config = test_config(&real);
    trust_loopback(&mut config);
    let borrowed = || TestDb {
        url: real.url.clone(),
        dir: tempfile::tempdir().expect("dir"),
    };
    let app = spawn_app_on(borrowed(), config.clone()).await;
    let key = api_key(&app).await;
    assert_eq!(
        put_app(&app, &key, json!({"name": "wiki", "origins": [ORIGIN]}))
            .await
            .status(),
        201
    );
    let uid = user(&app, "dave@acme.test", "Dave", &[]).await;
    let sid = sign_in(&app, &uid).await;
    let first = verify(&app, "wiki", HOST, "/", Some(&sid)).await;
    assert_eq!(first.status(), 200);
    let kid_before = jwt_kid(&first);
    drop(app);
    tokio::time::sleep(Duration::from_millis(300)).await;

    let app = spawn_app_on(borrowed(), config).await;
    let r = verify(&app, "wiki", HOST, "/", Some(&sid)).await;
    assert_eq!(r.status(), 200, "the session outlives the process");
    assert_eq!(jwt_kid(&r), kid_before, "and so does the signing key");
}

fn jwt_kid(r: &reqwest::Response) -> String {
    let auth = header(r, "authorization").expect("token");
    jsonwebtoken::decode_header(auth.trim_start_matches("Bearer "))
        .expect("header")
        .kid
        .expect("kid")
}

/// 200 organizations with a role each: the answer stays within the documented proxy
/// buffer (README: proxy_buffer_size 64k) and the token still verifies.
async fn a_user_with_200_groups_gets_through(db: Db) {
    let (app, _) = app_with(db, json!({"name": "wiki", "origins": [ORIGIN]})).await;
    let names: Vec<String> = (0..200)
        .map(|i| format!("Engineering Group {i:03}"))
        .collect();
    let memberships: Vec<(&str, &[&str])> = names
        .iter()
        .map(|n| (n.as_str(), &["member"][..]))
        .collect();
    let uid = user(&app, "erin@acme.test", "Erin", &memberships).await;
    let sid = sign_in(&app, &uid).await;
    let r = verify(&app, "wiki", HOST, "/", Some(&sid)).await;
    assert_eq!(r.status(), 200);
    let size: usize = r
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum();
    assert!(size < 64 * 1024, "response headers are {size} bytes");
    let jwt = header(&r, "authorization").expect("token");
    let c = support::verified_claims(&app, jwt.trim_start_matches("Bearer "), ORIGIN).await;
    assert_eq!(c["organizations"].as_array().map(|a| a.len()), Some(200));
}

/// Forwarded headers from a peer that is not a trusted proxy are ignored: no app is
/// identified, even with a valid session.
#[tokio::test]
async fn an_untrusted_peer_cannot_name_the_app() {
    for trusted in [vec![], vec!["10.0.0.0/8".to_string()]] {
        let app = spawn_app_with(Db::Sqlite, |c| c.server.trusted_proxies = trusted.clone()).await;
        let key = api_key(&app).await;
        assert_eq!(
            put_app(&app, &key, json!({"name": "wiki", "origins": [ORIGIN]}))
                .await
                .status(),
            201
        );
        let uid = user(&app, "mallory@acme.test", "M", &[]).await;
        let sid = sign_in(&app, &uid).await;
        let r = verify(&app, "wiki", HOST, "/", Some(&sid)).await;
        assert_eq!(r.status(), 403, "trusted_proxies = {trusted:?}");
        assert!(header(&r, "x-auth-request-user").is_none());
        assert_eq!(
            header(&r, "x-ssogate-reason").as_deref(),
            Some("untrusted_peer")
        );
    }
}

#[tokio::test]
async fn activity_through_apps_keeps_a_session_from_idling_out_and_the_absolute_end_holds() {
    let app = spawn_app_with(Db::Sqlite, |c| {
        trust_loopback(c);
        c.session.idle_timeout_secs = 2;
        c.session.absolute_lifetime_secs = 5;
        c.forward_auth.cache_ttl_secs = 0;
    })
    .await;
    let key = api_key(&app).await;
    put_app(&app, &key, json!({"name": "wiki", "origins": [ORIGIN]})).await;
    let uid = user(&app, "frank@acme.test", "Frank", &[]).await;
    let sid = sign_in(&app, &uid).await;
    let started = now_ms();
    // Active for longer than the idle timeout: stays signed in.
    while now_ms() - started < 3_500 {
        assert_eq!(
            verify(&app, "wiki", HOST, "/", Some(&sid)).await.status(),
            200
        );
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    // Idle for longer than the idle timeout: signed out.
    tokio::time::sleep(Duration::from_millis(2_300)).await;
    assert_eq!(
        verify(&app, "wiki", HOST, "/", Some(&sid)).await.status(),
        401
    );

    // Active all along, the absolute lifetime still ends it.
    let sid = sign_in(&app, &uid).await;
    let started = now_ms();
    let mut last = 200;
    while now_ms() - started < 6_000 {
        last = verify(&app, "wiki", HOST, "/", Some(&sid))
            .await
            .status()
            .as_u16();
        if now_ms() - started < 4_500 {
            assert_eq!(last, 200);
        }
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    assert_eq!(last, 401, "past the absolute lifetime");
}
