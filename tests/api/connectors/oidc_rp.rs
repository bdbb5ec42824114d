//! The OIDC relying party against the mock provider: the positive path, and one test per
//! refusal asserting its exact reason code (so each fails if its check is removed).

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use ssogate::app::http_client;
use ssogate::connectors::oidc::error::OidcError;
use ssogate::connectors::oidc::id_token::verify_id_token;
use ssogate::connectors::oidc::rp::{
    finish, start, CallbackParams, OidcRp, ProviderCache, ProviderCacheConfig,
};
use ssogate::connectors::ExternalProfile;

use crate::support::oidc_mock::{
    at_hash, b64url, hmac_sha256, jws, now, ClientAuth, IssParam, MockOp, TestKey, TokenReply,
    CLIENT_ID, CLIENT_SECRET, REDIRECT_URI,
};

fn cache() -> Arc<ProviderCache> {
    ProviderCache::new(http_client().expect("client"))
}

/// start → the mock's authorization endpoint → finish, as the callback route will.
async fn sign_in(
    op: &MockOp,
    rp: &OidcRp,
    providers: &ProviderCache,
) -> Result<ExternalProfile, OidcError> {
    let s = start(rp, providers).await.expect("start");
    let params = op.authorize(&s.url).await;
    assert_eq!(params.state.as_deref(), Some(s.state.as_str()));
    finish(rp, providers, &params, &s.nonce, &s.pkce_verifier).await
}

#[track_caller]
fn assert_refused(r: Result<ExternalProfile, OidcError>, code: &str) -> OidcError {
    match r {
        Err(e) => {
            assert_eq!(e.code(), code, "refused for another reason: {e}");
            e
        }
        Ok(p) => panic!("accepted, expected {code}: {p:?}"),
    }
}

/// Tokens of each sign-in signed by `sign` under `header` (claims tweaked by `tweak`).
fn on_custom_token(
    op: &MockOp,
    header: Value,
    sign: impl Fn(&[u8]) -> Vec<u8> + Send + Sync + 'static,
    tweak: impl Fn(&mut Value) + Send + Sync + 'static,
) {
    op.on_token(move |op, req| {
        let access_token = op.new_access_token();
        let mut claims = op.claims(req.nonce());
        claims["at_hash"] = Value::String(at_hash(&access_token));
        tweak(&mut claims);
        TokenReply::ok(Some(jws(&header, &claims, Some(&sign))), &access_token)
    });
}

#[tokio::test]
async fn positive_path_maps_the_profile() {
    let op = MockOp::start().await;
    op.configure(|c| {
        c.userinfo = Some(json!({
            "sub": "alice-sub-1",
            "groups": ["engineering", "oncall"],
            "email": "someone-else@acme.test",
            "picture": "https://img.acme.test/alice.png",
        }))
    });
    let providers = cache();
    let rp = op.rp();
    let p = sign_in(&op, &rp, &providers).await.expect("signed in");
    assert_eq!(p.connector, "mock");
    assert_eq!(p.subject, "alice-sub-1");
    // The ID token wins over userinfo; userinfo fills in what the ID token lacks.
    assert_eq!(p.email.as_deref(), Some("alice@acme.test"));
    assert!(p.email_verified);
    assert_eq!(p.given_name.as_deref(), Some("Alice"));
    assert_eq!(p.family_name.as_deref(), Some("Liddell"));
    assert_eq!(p.name.as_deref(), Some("Alice Liddell"));
    assert_eq!(
        p.picture.as_deref(),
        Some("https://img.acme.test/alice.png")
    );
    assert_eq!(p.groups, vec!["engineering", "oncall"]);
    assert_eq!(p.raw["iss"], op.issuer);
    assert_eq!(p.raw["groups"], json!(["engineering", "oncall"]));

    // The code was exchanged with client_secret_basic and the PKCE verifier (the mock
    // refuses otherwise; here we look at what it received).
    let reqs = op.token_requests();
    assert_eq!(reqs.len(), 1);
    assert!(reqs[0]
        .authorization
        .as_deref()
        .unwrap_or("")
        .starts_with("Basic "));
    assert!(!reqs[0].form.contains_key("client_secret"));
    assert_eq!(reqs[0].form["redirect_uri"], REDIRECT_URI);
    assert_eq!(
        op.state
            .userinfo_fetches
            .load(std::sync::atomic::Ordering::SeqCst),
        1
    );
}

#[tokio::test]
async fn authorization_url_has_code_flow_pkce_s256_state_and_nonce() {
    let op = MockOp::start().await;
    let providers = cache();
    let rp = op.rp();
    let a = start(&rp, &providers).await.expect("start");
    let b = start(&rp, &providers).await.expect("start");
    let url = url::Url::parse(&a.url).expect("url");
    assert!(a.url.starts_with(&format!("{}/authorize?", op.issuer)));
    let q: std::collections::HashMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], CLIENT_ID);
    assert_eq!(q["redirect_uri"], REDIRECT_URI);
    assert_eq!(q["scope"], "openid email profile");
    assert_eq!(q["state"], a.state);
    assert_eq!(q["nonce"], a.nonce);
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(
        q["code_challenge"],
        b64url(&Sha256::digest(a.pkce_verifier.as_bytes()))
    );
    // 256 random bits each (base64url of 32 bytes), fresh per start.
    for v in [&a.state, &a.nonce, &a.pkce_verifier] {
        assert!(v.len() >= 43, "{v}");
    }
    assert_ne!(a.state, b.state);
    assert_ne!(a.nonce, b.nonce);
    assert_ne!(a.pkce_verifier, b.pkce_verifier);
    // Discovery is cached.
    assert_eq!(op.discovery_fetches(), 1);
}

#[tokio::test]
async fn client_secret_post_when_the_provider_supports_only_that() {
    let op = MockOp::start().await;
    op.configure(|c| c.client_auth = ClientAuth::Post);
    let providers = cache();
    sign_in(&op, &op.rp(), &providers).await.expect("signed in");
    let reqs = op.token_requests();
    assert_eq!(reqs[0].form["client_secret"], CLIENT_SECRET);
    assert!(reqs[0].authorization.is_none());
}

#[tokio::test]
async fn es256_tokens_are_accepted_when_listed() {
    let op = MockOp::start().await;
    let ec = TestKey::ec_p256("mock-ec-1");
    op.publish(&ec);
    let header = ec.header();
    on_custom_token(&op, header, move |d| ec.sign(d), |_| {});
    let p = sign_in(&op, &op.rp(), &cache())
        .await
        .expect("ES256 accepted");
    assert_eq!(p.subject, "alice-sub-1");
}

#[tokio::test]
async fn alg_none_is_refused_even_when_listed() {
    let op = MockOp::start().await;
    op.on_token(|op, req| {
        let at = op.new_access_token();
        let mut claims = op.claims(req.nonce());
        claims["at_hash"] = Value::String(at_hash(&at));
        TokenReply::ok(
            Some(jws(&json!({"alg": "none", "typ": "JWT"}), &claims, None)),
            &at,
        )
    });
    let providers = cache();
    let mut rp = op.rp();
    assert_refused(sign_in(&op, &rp, &providers).await, "oidc_alg_not_allowed");
    rp.settings.id_token_algorithms.push("none".into());
    rp.settings.id_token_algorithms.push("NONE".into());
    assert_refused(sign_in(&op, &rp, &providers).await, "oidc_alg_not_allowed");
}

#[tokio::test]
async fn hs256_keyed_with_the_providers_public_key_is_refused() {
    let op = MockOp::start().await;
    let providers = cache();
    let header = json!({"alg": "HS256", "typ": "JWT", "kid": op.key.kid});
    // The classic confusion: the public key (PEM, or its JWK bytes) used as the HMAC secret.
    for secret in [
        op.key.public_pem.clone(),
        op.key.jwk.to_string().into_bytes(),
    ] {
        on_custom_token(
            &op,
            header.clone(),
            move |d| hmac_sha256(&secret, d),
            |_| {},
        );
        assert_refused(
            sign_in(&op, &op.rp(), &providers).await,
            "oidc_alg_not_allowed",
        );
    }
}

#[tokio::test]
async fn hs256_when_listed_uses_the_client_secret_only() {
    let op = MockOp::start().await;
    let providers = cache();
    let mut rp = op.rp();
    rp.settings.id_token_algorithms = vec!["RS256".into(), "HS256".into()];
    let header = json!({"alg": "HS256", "typ": "JWT"});
    let public_pem = op.key.public_pem.clone();
    on_custom_token(
        &op,
        header.clone(),
        move |d| hmac_sha256(&public_pem, d),
        |_| {},
    );
    assert_refused(
        sign_in(&op, &rp, &providers).await,
        "oidc_signature_invalid",
    );

    on_custom_token(
        &op,
        header.clone(),
        |d| hmac_sha256(CLIENT_SECRET.as_bytes(), d),
        |_| {},
    );
    sign_in(&op, &rp, &providers)
        .await
        .expect("HS256 with the client secret");

    // A public client has no secret worth the name: HS* is refused.
    rp.client_secret = None;
    assert_refused(
        verify_id_token(
            &rp,
            &providers,
            &jws(
                &header,
                &op.claims("n"),
                Some(&|d: &[u8]| hmac_sha256(b"guessable", d)),
            ),
            "n",
            None,
        )
        .await
        .map(|_| ExternalProfile::default()),
        "oidc_alg_not_allowed",
    );
}

#[tokio::test]
async fn algorithm_off_the_allow_list_is_refused() {
    let op = MockOp::start().await;
    let mut rp = op.rp();
    rp.settings.id_token_algorithms = vec!["ES256".into()];
    assert_refused(sign_in(&op, &rp, &cache()).await, "oidc_alg_not_allowed");
    // An algorithm nobody knows, even if listed.
    let op2 = MockOp::start().await;
    let mut rp2 = op2.rp();
    rp2.settings.id_token_algorithms.push("XS999".into());
    let key = op2.key.clone();
    on_custom_token(
        &op2,
        json!({"alg": "XS999", "kid": key.kid}),
        move |d| key.sign(d),
        |_| {},
    );
    assert_refused(sign_in(&op2, &rp2, &cache()).await, "oidc_alg_not_allowed");
}

#[tokio::test]
async fn forged_signatures_are_refused() {
    let op = MockOp::start().await;
    let providers = cache();
    // Signed by another key under the provider's kid.
    let attacker = TestKey::rsa("attacker");
    let header = op.key.header();
    on_custom_token(&op, header, move |d| attacker.sign(d), |_| {});
    assert_refused(
        sign_in(&op, &op.rp(), &providers).await,
        "oidc_signature_invalid",
    );
    // A genuine token whose payload was swapped.
    op.on_token(|op, req| {
        let at = op.new_access_token();
        let mut claims = op.claims(req.nonce());
        claims["at_hash"] = Value::String(at_hash(&at));
        let genuine = op.key.token(&claims);
        claims["sub"] = json!("bob-sub-2");
        let forged = op.key.token(&claims);
        let g: Vec<&str> = genuine.split('.').collect();
        let f: Vec<&str> = forged.split('.').collect();
        TokenReply::ok(Some(format!("{}.{}.{}", g[0], f[1], g[2])), &at)
    });
    assert_refused(
        sign_in(&op, &op.rp(), &providers).await,
        "oidc_signature_invalid",
    );
}

#[tokio::test]
async fn wrong_issuer_is_refused() {
    let op = MockOp::start().await;
    op.on_id_token(|_, c| c["iss"] = json!("http://evil.test/op"));
    assert_refused(
        sign_in(&op, &op.rp(), &cache()).await,
        "oidc_issuer_mismatch",
    );
}

#[tokio::test]
async fn wrong_audience_is_refused() {
    let op = MockOp::start().await;
    op.on_id_token(|_, c| {
        c["aud"] = json!("another-client");
        c["azp"] = json!("another-client");
    });
    assert_refused(
        sign_in(&op, &op.rp(), &cache()).await,
        "oidc_audience_mismatch",
    );
}

#[tokio::test]
async fn azp_of_another_client_is_refused() {
    let op = MockOp::start().await;
    let providers = cache();
    // Issued to another client, with us as an extra audience.
    op.on_id_token(|_, c| {
        c["aud"] = json!(["another-client", CLIENT_ID]);
        c["azp"] = json!("another-client");
    });
    assert_refused(
        sign_in(&op, &op.rp(), &providers).await,
        "oidc_azp_mismatch",
    );
    // Several audiences and no azp.
    op.on_id_token(|_, c| {
        c["aud"] = json!([CLIENT_ID, "another-client"]);
        c.as_object_mut().unwrap().remove("azp");
    });
    assert_refused(
        sign_in(&op, &op.rp(), &providers).await,
        "oidc_azp_mismatch",
    );
    // One audience (us) but azp another client.
    op.on_id_token(|_, c| c["azp"] = json!("another-client"));
    assert_refused(
        sign_in(&op, &op.rp(), &providers).await,
        "oidc_azp_mismatch",
    );
    // Several audiences with azp = us: accepted.
    op.on_id_token(|_, c| c["aud"] = json!([CLIENT_ID, "some-api"]));
    sign_in(&op, &op.rp(), &providers).await.expect("azp = us");
}

#[tokio::test]
async fn expired_token_is_refused() {
    let op = MockOp::start().await;
    op.on_id_token(|_, c| {
        c["iat"] = json!(now() - 900);
        c["exp"] = json!(now() - 300);
    });
    assert_refused(sign_in(&op, &op.rp(), &cache()).await, "oidc_expired");
}

#[tokio::test]
async fn token_issued_in_the_future_is_refused() {
    let op = MockOp::start().await;
    op.on_id_token(|_, c| {
        c["iat"] = json!(now() + 600);
        c["exp"] = json!(now() + 900);
    });
    assert_refused(sign_in(&op, &op.rp(), &cache()).await, "oidc_iat_in_future");
}

#[tokio::test]
async fn nonce_mismatch_is_refused() {
    let op = MockOp::start().await;
    let providers = cache();
    op.on_id_token(|_, c| c["nonce"] = json!("the-nonce-of-another-sign-in"));
    assert_refused(
        sign_in(&op, &op.rp(), &providers).await,
        "oidc_nonce_mismatch",
    );
    op.on_id_token(|_, c| {
        c.as_object_mut().unwrap().remove("nonce");
    });
    assert_refused(
        sign_in(&op, &op.rp(), &providers).await,
        "oidc_nonce_mismatch",
    );
}

#[tokio::test]
async fn at_hash_mismatch_is_refused() {
    let op = MockOp::start().await;
    op.on_id_token(|_, c| c["at_hash"] = json!(at_hash("another-access-token")));
    assert_refused(
        sign_in(&op, &op.rp(), &cache()).await,
        "oidc_at_hash_mismatch",
    );
}

#[tokio::test]
async fn missing_iss_parameter_is_refused_when_advertised() {
    let op = MockOp::start().await;
    op.configure(|c| {
        c.iss_parameter_supported = true;
        c.iss_param = IssParam::Omit;
    });
    assert_refused(sign_in(&op, &op.rp(), &cache()).await, "oidc_iss_missing");
}

#[tokio::test]
async fn missing_iss_parameter_is_accepted_when_not_advertised() {
    let op = MockOp::start().await;
    op.configure(|c| {
        c.iss_parameter_supported = false;
        c.iss_param = IssParam::Omit;
    });
    sign_in(&op, &op.rp(), &cache())
        .await
        .expect("no iss, none promised");
}

#[tokio::test]
async fn foreign_iss_parameter_is_refused() {
    let op = MockOp::start().await;
    let evil = MockOp::start().await;
    for advertised in [true, false] {
        op.configure(|c| {
            c.iss_parameter_supported = advertised;
            c.iss_param = IssParam::Value(evil.issuer.clone());
        });
        assert_refused(sign_in(&op, &op.rp(), &cache()).await, "oidc_iss_mismatch");
    }
    // Not even a trailing slash more.
    op.configure(|c| c.iss_param = IssParam::Value(format!("{}/", op.issuer)));
    assert_refused(sign_in(&op, &op.rp(), &cache()).await, "oidc_iss_mismatch");
}

#[tokio::test]
async fn provider_error_is_reported() {
    let op = MockOp::start().await;
    op.configure(|c| {
        c.authorize_error = Some(("access_denied".into(), "The user said no\r\n".into()))
    });
    let e = assert_refused(
        sign_in(&op, &op.rp(), &cache()).await,
        "oidc_provider_error",
    );
    assert_eq!(
        e,
        OidcError::ProviderError("access_denied: The user said no".into())
    );
}

#[tokio::test]
async fn missing_code_is_refused() {
    let op = MockOp::start().await;
    let providers = cache();
    let rp = op.rp();
    let s = start(&rp, &providers).await.expect("start");
    let params = CallbackParams {
        state: Some(s.state.clone()),
        iss: Some(op.issuer.clone()),
        ..Default::default()
    };
    assert_refused(
        finish(&rp, &providers, &params, &s.nonce, &s.pkce_verifier).await,
        "oidc_code_missing",
    );
}

#[tokio::test]
async fn wrong_pkce_verifier_and_replayed_code_fail_the_exchange() {
    let op = MockOp::start().await;
    let providers = cache();
    let rp = op.rp();
    let s = start(&rp, &providers).await.expect("start");
    let params = op.authorize(&s.url).await;
    let e = assert_refused(
        finish(
            &rp,
            &providers,
            &params,
            &s.nonce,
            "a-verifier-of-another-sign-in-0123456789abc",
        )
        .await,
        "oidc_token_exchange",
    );
    assert!(e.to_string().contains("invalid_grant"), "{e}");

    let s = start(&rp, &providers).await.expect("start");
    let params = op.authorize(&s.url).await;
    finish(&rp, &providers, &params, &s.nonce, &s.pkce_verifier)
        .await
        .expect("first use");
    assert_refused(
        finish(&rp, &providers, &params, &s.nonce, &s.pkce_verifier).await,
        "oidc_token_exchange",
    );
}

#[tokio::test]
async fn missing_or_malformed_id_token_is_refused() {
    let op = MockOp::start().await;
    let providers = cache();
    op.on_token(|op, _| TokenReply::ok(None, &op.new_access_token()));
    assert_refused(
        sign_in(&op, &op.rp(), &providers).await,
        "oidc_id_token_invalid",
    );
    for bad in ["not-a-jwt", "a.b", "a.b.c.d.e", "e30.e30.", "!!!.???.***"] {
        op.on_token(move |op, _| TokenReply::ok(Some(bad.to_string()), &op.new_access_token()));
        assert_refused(
            sign_in(&op, &op.rp(), &providers).await,
            "oidc_id_token_invalid",
        );
    }
    // Signed, but without the required claims (exp).
    op.on_id_token(|_, c| {
        c.as_object_mut().unwrap().remove("exp");
    });
    assert_refused(
        sign_in(&op, &op.rp(), &providers).await,
        "oidc_id_token_invalid",
    );
}

#[tokio::test]
async fn userinfo_about_another_subject_is_refused() {
    let op = MockOp::start().await;
    op.configure(|c| c.userinfo = Some(json!({"sub": "bob-sub-2", "email": "bob@acme.test"})));
    assert_refused(
        sign_in(&op, &op.rp(), &cache()).await,
        "oidc_userinfo_subject_mismatch",
    );
    // No sub at all is no better.
    op.configure(|c| c.userinfo = Some(json!({"email": "bob@acme.test"})));
    assert_refused(
        sign_in(&op, &op.rp(), &cache()).await,
        "oidc_userinfo_subject_mismatch",
    );
}

/// The provider answers userinfo with `jwt` (`application/jwt`).
fn signed_userinfo(op: &MockOp, jwt: String) {
    op.configure(move |c| {
        c.userinfo = Some(Value::String(jwt));
        c.userinfo_content_type = "application/jwt".into();
    });
}

/// Userinfo claims about alice, as a provider signs them (iss, aud, groups).
fn userinfo_claims(op: &MockOp) -> Value {
    json!({
        "iss": op.issuer, "aud": CLIENT_ID, "sub": "alice-sub-1",
        "groups": ["engineering"], "exp": now() + 300,
    })
}

#[tokio::test]
async fn signed_userinfo_is_verified_then_used() {
    let op = MockOp::start().await;
    signed_userinfo(&op, op.key.token(&userinfo_claims(&op)));
    let p = sign_in(&op, &op.rp(), &cache()).await.expect("signed in");
    assert_eq!(p.groups, vec!["engineering"]);
    // Without iss/aud/exp (they SHOULD be there, but need not): still fine.
    signed_userinfo(
        &op,
        op.key
            .token(&json!({"sub": "alice-sub-1", "groups": ["ops"]})),
    );
    let p = sign_in(&op, &op.rp(), &cache()).await.expect("signed in");
    assert_eq!(p.groups, vec!["ops"]);
}

#[tokio::test]
async fn signed_userinfo_with_a_bad_signature_is_refused() {
    let op = MockOp::start().await;
    // Signed by another key under the provider's kid.
    let attacker = TestKey::rsa("attacker");
    signed_userinfo(
        &op,
        attacker.sign_jws(&op.key.header(), &userinfo_claims(&op)),
    );
    assert_refused(
        sign_in(&op, &op.rp(), &cache()).await,
        "oidc_userinfo_signature_invalid",
    );
    // A genuine signature over other claims.
    let genuine = op.key.token(&userinfo_claims(&op));
    let mut forged_claims = userinfo_claims(&op);
    forged_claims["groups"] = json!(["admins"]);
    let forged = op.key.token(&forged_claims);
    let g: Vec<&str> = genuine.split('.').collect();
    let f: Vec<&str> = forged.split('.').collect();
    signed_userinfo(&op, format!("{}.{}.{}", g[0], f[1], g[2]));
    assert_refused(
        sign_in(&op, &op.rp(), &cache()).await,
        "oidc_userinfo_signature_invalid",
    );
}

#[tokio::test]
async fn signed_userinfo_off_the_allow_list_or_unsigned_is_refused() {
    let op = MockOp::start().await;
    let none = jws(&json!({"alg": "none"}), &userinfo_claims(&op), None);
    signed_userinfo(&op, none);
    assert_refused(
        sign_in(&op, &op.rp(), &cache()).await,
        "oidc_alg_not_allowed",
    );
    // HS256 keyed with the provider's public key (not listed, so refused as an algorithm).
    let public_pem = op.key.public_pem.clone();
    let hs = jws(
        &json!({"alg": "HS256", "kid": op.key.kid}),
        &userinfo_claims(&op),
        Some(&move |d: &[u8]| hmac_sha256(&public_pem, d)),
    );
    signed_userinfo(&op, hs);
    assert_refused(
        sign_in(&op, &op.rp(), &cache()).await,
        "oidc_alg_not_allowed",
    );
}

#[tokio::test]
async fn signed_userinfo_from_another_issuer_or_for_another_client_is_refused() {
    let op = MockOp::start().await;
    let mut c = userinfo_claims(&op);
    c["iss"] = json!("https://evil.test");
    signed_userinfo(&op, op.key.token(&c));
    assert_refused(
        sign_in(&op, &op.rp(), &cache()).await,
        "oidc_userinfo_issuer_mismatch",
    );
    let mut c = userinfo_claims(&op);
    c["aud"] = json!(["another-client"]);
    signed_userinfo(&op, op.key.token(&c));
    assert_refused(
        sign_in(&op, &op.rp(), &cache()).await,
        "oidc_userinfo_audience_mismatch",
    );
}

#[tokio::test]
async fn signed_userinfo_that_expired_or_names_another_subject_is_refused() {
    let op = MockOp::start().await;
    let mut c = userinfo_claims(&op);
    c["exp"] = json!(now() - 3600);
    signed_userinfo(&op, op.key.token(&c));
    assert_refused(
        sign_in(&op, &op.rp(), &cache()).await,
        "oidc_userinfo_expired",
    );
    let mut c = userinfo_claims(&op);
    c["sub"] = json!("bob-sub-2");
    signed_userinfo(&op, op.key.token(&c));
    assert_refused(
        sign_in(&op, &op.rp(), &cache()).await,
        "oidc_userinfo_subject_mismatch",
    );
}

#[tokio::test]
async fn encrypted_or_malformed_userinfo_is_refused() {
    let op = MockOp::start().await;
    signed_userinfo(&op, "eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d".into());
    assert_refused(
        sign_in(&op, &op.rp(), &cache()).await,
        "oidc_userinfo_encrypted",
    );
    // The JSON claims, served as if they were a JWT.
    signed_userinfo(&op, json!({"sub": "alice-sub-1"}).to_string());
    assert_refused(sign_in(&op, &op.rp(), &cache()).await, "oidc_userinfo");
}

#[tokio::test]
async fn email_verified_as_a_string_and_groups_as_one_string() {
    let op = MockOp::start().await;
    op.on_id_token(|_, c| {
        c["email_verified"] = json!("true");
        c["groups"] = json!("engineering");
    });
    let p = sign_in(&op, &op.rp(), &cache()).await.expect("signed in");
    assert!(p.email_verified);
    assert_eq!(p.groups, vec!["engineering"]);
}

#[tokio::test]
async fn discovery_failure_is_reported() {
    let providers = cache();
    let op = MockOp::start().await;
    let mut rp = op.rp();
    rp.settings.issuer = "http://127.0.0.1:9/no-such-op".into();
    let e = start(&rp, &providers).await.unwrap_err();
    assert_eq!(e.code(), "oidc_discovery", "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_kid_flood_fetches_the_jwks_at_most_once() {
    let op = MockOp::start().await;
    let providers = cache();
    let rp = Arc::new(op.rp());
    start(&rp, &providers).await.expect("discovery");
    assert_eq!(op.jwks_fetches(), 1, "discovery fetched the JWKS");

    let claims = op.claims("n");
    let mut tasks = Vec::new();
    for i in 0..1000 {
        let header = json!({"alg": "RS256", "typ": "JWT", "kid": format!("unknown-{i}")});
        // The signature never matters: there is no key to check it with.
        let token = jws(&header, &claims, Some(&|_: &[u8]| vec![7u8; 256]));
        let (rp, providers) = (rp.clone(), providers.clone());
        tasks.push(tokio::spawn(async move {
            verify_id_token(&rp, &providers, &token, "n", None).await
        }));
    }
    for t in tasks {
        let r = t.await.expect("task");
        assert_eq!(r.unwrap_err().code(), "oidc_unknown_kid");
    }
    assert_eq!(
        op.jwks_fetches(),
        2,
        "one refetch for the whole flood, none more"
    );
    // And the cooldown holds after the flood.
    let token = jws(
        &json!({"alg": "RS256", "kid": "unknown-again"}),
        &claims,
        Some(&|_: &[u8]| vec![7u8; 256]),
    );
    let r = verify_id_token(&rp, &providers, &token, "n", None).await;
    assert_eq!(r.unwrap_err().code(), "oidc_unknown_kid");
    assert_eq!(op.jwks_fetches(), 2);
}

#[tokio::test]
async fn rotated_key_is_accepted_after_one_refetch() {
    let op = MockOp::start().await;
    let providers = ProviderCache::with_config(
        http_client().expect("client"),
        ProviderCacheConfig {
            jwks_refetch_cooldown: Duration::from_secs(2),
            ..Default::default()
        },
    );
    // Keys made up front: generating one can take long enough to outlast the cooldown.
    let k2 = TestKey::rsa("mock-key-2");
    let k3 = TestKey::rsa("mock-key-3");
    let rp = op.rp();
    sign_in(&op, &rp, &providers).await.expect("old key");
    assert_eq!(op.jwks_fetches(), 1);

    // The provider rotates: a new key appears in its JWKS and signs from now on.
    op.publish(&k2);
    let header = k2.header();
    on_custom_token(&op, header, move |d| k2.sign(d), |_| {});
    let p = sign_in(&op, &rp, &providers)
        .await
        .expect("new key after refetch");
    assert_eq!(p.subject, "alice-sub-1");
    assert_eq!(op.jwks_fetches(), 2);
    sign_in(&op, &rp, &providers)
        .await
        .expect("new key, cached");
    assert_eq!(op.jwks_fetches(), 2);

    // Another rotation within the cooldown: refused, nothing fetched; after it: accepted.
    op.publish(&k3);
    let header = k3.header();
    let k3b = k3.clone();
    on_custom_token(&op, header, move |d| k3b.sign(d), |_| {});
    assert_refused(sign_in(&op, &rp, &providers).await, "oidc_unknown_kid");
    assert_eq!(op.jwks_fetches(), 2);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    sign_in(&op, &rp, &providers)
        .await
        .expect("after the cooldown");
    assert_eq!(op.jwks_fetches(), 3);
    assert_eq!(op.discovery_fetches(), 1);
}

#[tokio::test]
async fn odd_tokens_are_refused_without_panicking() {
    let op = MockOp::start().await;
    let ec = TestKey::ec_p256("mock-ec-1");
    op.publish(&ec);
    let providers = cache();
    let rp = op.rp();
    start(&rp, &providers).await.expect("discovery");
    let good = op.claims("n");
    let mut cases: Vec<String> = Vec::new();
    // Bad signatures of every length, for RSA and EC keys.
    for len in [0usize, 1, 63, 64, 65, 255, 256, 257, 4096] {
        let sig = vec![0x41u8; len];
        cases.push(jws(&op.key.header(), &good, Some(&|_: &[u8]| sig.clone())));
        cases.push(jws(&ec.header(), &good, Some(&|_: &[u8]| sig.clone())));
    }
    // Claims of the wrong shape, validly signed.
    for (claim, value) in [
        ("exp", json!(1e300)),
        ("exp", json!(-1e300)),
        ("exp", json!(1.5)),
        ("exp", json!("tomorrow")),
        ("iat", json!(i64::MAX)),
        ("iat", json!(u64::MAX)),
        ("aud", json!(42)),
        ("aud", json!([])),
        ("iss", Value::Null),
        ("sub", json!({"id": 1})),
        ("nonce", json!(["n"])),
        ("azp", json!(false)),
        ("at_hash", json!(12)),
        ("email_verified", json!({"x": 1})),
    ] {
        let mut c = good.clone();
        c[claim] = value;
        cases.push(op.key.token(&c));
    }
    // Headers of the wrong shape.
    for header in [
        json!({"alg": 256, "kid": op.key.kid}),
        json!({"alg": ["RS256"]}),
        json!({"alg": "RS256", "kid": op.key.kid, "crit": ["exp"]}),
        json!({"alg": "RS256", "kid": op.key.kid, "typ": "at+jwt"}),
        json!({"alg": "RS256", "kid": op.key.kid, "cty": "JWT"}),
        json!({"alg": "RSA-OAEP", "enc": "A128GCM"}),
    ] {
        let k = op.key.clone();
        cases.push(jws(&header, &good, Some(&move |d: &[u8]| k.sign(d))));
    }
    for token in cases {
        let r = verify_id_token(&rp, &providers, &token, "n", Some("at")).await;
        assert!(r.is_err(), "accepted: {token:.80}");
    }
}
