//! ssogate's tokens verified by an independent implementation: PyJWT, fetching the JWKS
//! like any relying party, before and after a key rotation (the old token too).

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::downstream::{api_key, header, put_app, sign_in, trust_loopback, user, verify};
use crate::support::{required_service, spawn_app_with, Db, TestApp};

const PYTHON_VAR: &str = "SSOGATE_TEST_PYTHON";
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/verify_jwt.py");

async fn pyjwt_verify(app: &TestApp, token: &str, audience: &str) -> Value {
    let python = required_service(PYTHON_VAR, "Python with PyJWT (scripts/install-deps.sh)");
    // Not std's Command: the app under test runs on this test's runtime thread.
    let out = tokio::process::Command::new(python)
        .arg(SCRIPT)
        .arg(app.url("/.well-known/jwks.json"))
        .arg(token)
        .arg(audience)
        .arg(&app.address)
        .output()
        .await
        .expect("run python");
    assert!(
        out.status.success(),
        "PyJWT refused the token: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("claims JSON")
}

async fn token(app: &TestApp, sid: &str) -> String {
    let r = verify(app, "wiki", "app.test:8081", "/", Some(sid)).await;
    assert_eq!(r.status(), 200);
    header(&r, "authorization")
        .expect("token")
        .trim_start_matches("Bearer ")
        .to_string()
}

async fn before_and_after_a_rotation(algorithm: &str) {
    let app = spawn_app_with(Db::Sqlite, |c| {
        trust_loopback(c);
        c.tokens.algorithm = algorithm.into();
        c.tokens.jwks_max_age_secs = 1;
        c.tokens.lifetime_secs = 60;
    })
    .await;
    let key = api_key(&app).await;
    put_app(
        &app,
        &key,
        json!({"name": "wiki", "origins": ["http://app.test:8081"], "audience": "urn:wiki"}),
    )
    .await;
    let uid = user(&app, "grace@acme.test", "Grace", &[("Acme", &["member"])]).await;
    let sid = sign_in(&app, &uid).await;
    let old = token(&app, &sid).await;
    let claims = pyjwt_verify(&app, &old, "urn:wiki").await;
    assert_eq!(claims["sub"], json!(uid));
    assert_eq!(claims["organizations"][0]["roles"], json!(["member"]));
    assert_eq!(claims["typ_header"], json!("at+jwt"));
    let old_kid = claims["kid_header"].clone();

    // Rotate as `ssogate keys rotate` does; the running instance picks the key up at its
    // next reload and signs with it once the publication lead has passed.
    let policy = app.state.gateway.policy;
    ssogate::tokens::rotation::ensure(
        &app.store,
        &app.master_key,
        &policy,
        ssogate::store::now_ms(),
        true,
    )
    .await
    .expect("rotate");
    let started = Instant::now();
    let new = loop {
        let t = token(&app, &sid).await;
        if t != old
            && jsonwebtoken::decode_header(&t).expect("h").kid
                != old_kid.as_str().map(str::to_string)
        {
            break t;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the new key never signed"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let claims = pyjwt_verify(&app, &new, "urn:wiki").await;
    assert_ne!(claims["kid_header"], old_kid);
    // The old token still verifies: its key stays published until it expired.
    pyjwt_verify(&app, &old, "urn:wiki").await;
}

#[tokio::test]
async fn pyjwt_verifies_eddsa_tokens_before_and_after_a_rotation() {
    before_and_after_a_rotation("EdDSA").await;
}

#[tokio::test]
async fn pyjwt_verifies_es256_tokens_before_and_after_a_rotation() {
    before_and_after_a_rotation("ES256").await;
}
