//! ssogate's signing keys: the JWKS, sealing, the rotation schedule on the database with
//! an injected clock, and `ssogate keys rotate`.

use std::process::Command;

use jsonwebtoken::Algorithm;
use serde_json::Value;
use ssogate::store::signing_keys;
use ssogate::tokens::{keys, rotation, Policy};

use crate::support::{fresh_store, spawn_app, spawn_app_with, test_config, Db, TestDb};

both!(
    the_jwks_publishes_public_keys_with_the_advertised_cache_lifetime,
    rotation_on_the_database_publishes_before_signing_and_keeps_until_expired,
    keys_rotate_from_the_command_line,
);

async fn the_jwks_publishes_public_keys_with_the_advertised_cache_lifetime(db: Db) {
    let app = spawn_app(db).await;
    let r = app.get("/.well-known/jwks.json").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "public, max-age=3600");
    let jwks: Value = r.json().await.expect("json");
    let keys = jwks["keys"].as_array().expect("keys");
    assert_eq!(keys.len(), 1, "the first key, created on first start");
    let k = &keys[0];
    assert_eq!(k["kty"], "OKP");
    assert_eq!(k["crv"], "Ed25519");
    assert_eq!(k["alg"], "EdDSA");
    assert_eq!(k["use"], "sig");
    assert!(k["kid"].as_str().is_some_and(|s| s.len() >= 40));
    assert!(k.get("d").is_none(), "no private part");

    // Sealed at rest: not the key itself, and bound to its kid.
    let mut c = app.store.read().await.expect("conn");
    let row = signing_keys::list(&mut c).await.expect("keys").remove(0);
    assert!(row.private_key.starts_with("v1:"));
    assert!(app
        .master_key
        .open(&row.private_key, &keys::sealing_context(&row.kid))
        .is_ok());
    assert!(app
        .master_key
        .open(&row.private_key, "signing_key:other")
        .is_err());

    // ES256 when configured, and a custom cache lifetime.
    let app = spawn_app_with(db, |c| {
        c.tokens.algorithm = "ES256".into();
        c.tokens.jwks_max_age_secs = 120;
    })
    .await;
    let r = app.get("/.well-known/jwks.json").await;
    assert_eq!(r.headers()["cache-control"], "public, max-age=120");
    let jwks: Value = r.json().await.expect("json");
    assert_eq!(jwks["keys"][0]["kty"], "EC");
    assert_eq!(jwks["keys"][0]["crv"], "P-256");
    assert_eq!(jwks["keys"][0]["alg"], "ES256");
}

async fn rotation_on_the_database_publishes_before_signing_and_keeps_until_expired(db: Db) {
    let s = fresh_store(db).await;
    let mk = ssogate::secrets::MasterKey::generate();
    let policy = Policy {
        algorithm: Algorithm::ES256,
        token_lifetime_ms: 300_000,
        jwks_max_age_ms: 3_600_000,
        rotation_period_ms: 7 * 86_400_000,
    };
    let t0: i64 = 1_800_000_000_000;
    let at = |t: i64| {
        let store = s.store.clone();
        let mk = mk.clone();
        async move {
            let mut c = store.read().await.expect("conn");
            keys::load(&mut c, &mk, t).await.expect("load")
        }
    };
    let first = rotation::ensure(&s.store, &mk, &policy, t0, false)
        .await
        .expect("ensure");
    let (k1, _, _) = first.created.expect("bootstrap key");
    assert_eq!(
        at(t0).await.signer_at(t0).map(|k| k.kid.clone()),
        Some(k1.clone())
    );
    assert_eq!(
        rotation::ensure(&s.store, &mk, &policy, t0 + 1000, false)
            .await
            .expect("ensure"),
        rotation::Applied::default(),
        "nothing due"
    );
    // The scheduled rotation: due one publish-lead before the period ends.
    let due = t0 + policy.rotation_period_ms - policy.publish_lead_ms();
    let r = rotation::ensure(&s.store, &mk, &policy, due, false)
        .await
        .expect("ensure");
    let (k2, publish_at, sign_from) = r.created.expect("next key");
    assert_eq!(publish_at, due);
    assert!(sign_from - publish_at >= policy.jwks_max_age_ms);
    let kid_set = |set: &ssogate::tokens::KeySet, t: i64| {
        set.jwks_at(t)["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .map(|k| k["kid"].as_str().unwrap_or_default().to_string())
            .collect::<Vec<_>>()
    };
    let set = at(due).await;
    assert_eq!(
        kid_set(&set, due),
        vec![k1.clone(), k2.clone()],
        "published before it signs"
    );
    assert_eq!(
        set.signer_at(sign_from - 1).map(|k| k.kid.clone()),
        Some(k1.clone())
    );
    assert_eq!(
        set.signer_at(sign_from).map(|k| k.kid.clone()),
        Some(k2.clone())
    );
    // k1 stays until its last token expired, then goes.
    let last_k1_expiry = sign_from - 1 + policy.token_lifetime_ms;
    let set = at(last_k1_expiry).await;
    assert!(kid_set(&set, last_k1_expiry).contains(&k1));
    let gone = sign_from + policy.keep_after_retire_ms();
    assert_eq!(kid_set(&at(gone).await, gone), vec![k2.clone()]);
    // Removed keys are deleted by the clean-up.
    let mut c = s.store.write().await.expect("conn");
    assert_eq!(
        signing_keys::delete_removed(&mut c, gone)
            .await
            .expect("delete"),
        1
    );
}

async fn keys_rotate_from_the_command_line(db: Db) {
    let db = crate::support::fresh_database(db).await;
    let config = test_config(&db);
    let run = |db: &TestDb| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_ssogate"));
        for (k, _) in std::env::vars() {
            if k.starts_with("SSOGATE_") {
                c.env_remove(k);
            }
        }
        let out = c
            .current_dir(db.dir.path())
            .args(["keys", "rotate"])
            .env("SSOGATE_DATABASE__URL", &db.url)
            .env("SSOGATE_SECRETS__MASTER_KEY", &config.secrets.master_key)
            .env("SSOGATE_TOKENS__JWKS_MAX_AGE_SECS", "600")
            .output()
            .expect("run ssogate");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // First run on an empty database: the bootstrap key, signing at once.
    let out = run(&db);
    assert!(out.contains("published now; signs from"), "{out}");
    let out = run(&db);
    assert!(out.contains("published now; signs from"), "{out}");
    assert!(out.contains("stops signing at"), "{out}");
    let out = run(&db);
    assert!(out.contains("already waiting to sign"), "{out}");
    let store = ssogate::store::Store::connect(&db.url, 2, std::time::Duration::from_secs(5))
        .await
        .expect("connect");
    let mut c = store.read().await.expect("conn");
    let ks = signing_keys::list(&mut c).await.expect("keys");
    assert_eq!(ks.len(), 2);
    assert!(
        ks[1].sign_from - ks[1].publish_at >= 600_000,
        "published ≥ jwks_max_age before signing"
    );
    assert_eq!(ks[0].retire_at, Some(ks[1].sign_from));
}
