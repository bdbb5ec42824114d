//! A mock OpenID provider for tests (axum on 127.0.0.1:0), with everything a test needs
//! to play a misbehaving or malicious IdP:
//! - discovery at `<issuer>/.well-known/openid-configuration`, with a switch for RFC 9207's
//!   `authorization_response_iss_parameter_supported`, the token endpoint auth methods, and
//!   an optional userinfo endpoint; fetches counted;
//! - a JWKS endpoint serving the published keys (publish/unpublish to rotate); fetches
//!   counted;
//! - an authorization endpoint that signs the person in at once and redirects (302) to the
//!   `redirect_uri` with `code`, `state` and `iss` (or a wrong or no `iss`, if told); the
//!   token response for that code is produced by a test-supplied factory that sees the
//!   request (so it can put the right — or a wrong — nonce in the ID token);
//! - a token endpoint that checks client authentication (basic or post), `redirect_uri`
//!   and the PKCE S256 verifier, then answers with the factory's reply; codes are
//!   single-use;
//! - a userinfo endpoint answering the configured JSON for any access token it issued;
//! - a way to hold the next token request until the test lets it go
//!   ([`MockOp::hold_next_token`]), to act while a callback is in flight;
//! - sign-ins through a running ssogate ([`MockOp::connect_ssogate`],
//!   [`MockOp::start_sign_in`]).
//!
//! ID tokens are built by hand ([`jws`]) so tests can sign them with any algorithm or key
//! (RS256 / ES256 with the mock's keys, HS256 with any bytes, `none`).

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use openssl::bn::BigNumContext;
use openssl::ec::{EcGroup, EcKey};
use openssl::ecdsa::EcdsaSig;
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::sign::Signer;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use ssogate::connectors::oidc::rp::{CallbackParams, OidcRp};
use ssogate::connectors::settings::OidcSettings;

pub const CLIENT_ID: &str = "ssogate-test-client";
pub const CLIENT_SECRET: &str = "ssogate-test-secret-0123456789";
pub const REDIRECT_URI: &str = "http://127.0.0.1:9/oidc/mock/callback";

pub fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Computes a JWS signature over the signing input.
pub type SignFn<'a> = &'a dyn Fn(&[u8]) -> Vec<u8>;

/// A compact JWS: `header.payload.signature`, the signature computed by `sign` over the
/// signing input (`None` → empty signature, as with `alg: none`).
pub fn jws(header: &Value, claims: &Value, sign: Option<SignFn>) -> String {
    let input = format!(
        "{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(claims.to_string().as_bytes())
    );
    let sig = sign.map(|f| f(input.as_bytes())).unwrap_or_default();
    format!("{input}.{}", b64url(&sig))
}

/// HMAC-SHA256 with any key bytes (for HS256 tokens, e.g. keyed with a public key).
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    let pkey = PKey::hmac(key).expect("hmac key");
    let mut s = Signer::new(MessageDigest::sha256(), &pkey).expect("signer");
    s.update(data).expect("update");
    s.sign_to_vec().expect("sign")
}

/// OIDC Core 3.1.3.6: the left half of SHA-256 of the access token, base64url.
pub fn at_hash(access_token: &str) -> String {
    let h = Sha256::digest(access_token.as_bytes());
    b64url(&h[..16])
}

/// A signing key of the mock provider.
#[derive(Clone)]
pub struct TestKey {
    pub kid: String,
    /// "RS256" or "ES256".
    pub alg: String,
    pub pkey: PKey<Private>,
    /// The public key as the JWKS publishes it.
    pub jwk: Value,
    /// The public key in PEM (SubjectPublicKeyInfo), as an attacker would find it.
    pub public_pem: Vec<u8>,
}

impl TestKey {
    pub fn rsa(kid: &str) -> TestKey {
        let rsa = Rsa::generate(2048).expect("RSA key");
        let jwk = json!({
            "kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
            "n": b64url(&rsa.n().to_vec()), "e": b64url(&rsa.e().to_vec()),
        });
        let pkey = PKey::from_rsa(rsa).expect("pkey");
        let public_pem = pkey.public_key_to_pem().expect("pem");
        TestKey {
            kid: kid.into(),
            alg: "RS256".into(),
            pkey,
            jwk,
            public_pem,
        }
    }

    pub fn ec_p256(kid: &str) -> TestKey {
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).expect("P-256");
        let ec = EcKey::generate(&group).expect("EC key");
        let mut ctx = BigNumContext::new().expect("ctx");
        let mut x = openssl::bn::BigNum::new().expect("bn");
        let mut y = openssl::bn::BigNum::new().expect("bn");
        ec.public_key()
            .affine_coordinates(&group, &mut x, &mut y, &mut ctx)
            .expect("coordinates");
        let jwk = json!({
            "kty": "EC", "use": "sig", "alg": "ES256", "kid": kid, "crv": "P-256",
            "x": b64url(&x.to_vec_padded(32).expect("x")), "y": b64url(&y.to_vec_padded(32).expect("y")),
        });
        let pkey = PKey::from_ec_key(ec).expect("pkey");
        let public_pem = pkey.public_key_to_pem().expect("pem");
        TestKey {
            kid: kid.into(),
            alg: "ES256".into(),
            pkey,
            jwk,
            public_pem,
        }
    }

    pub fn sign(&self, data: &[u8]) -> Vec<u8> {
        let mut s = Signer::new(MessageDigest::sha256(), &self.pkey).expect("signer");
        s.update(data).expect("update");
        let sig = s.sign_to_vec().expect("sign");
        if self.alg == "ES256" {
            // JWS wants r || s (RFC 7518 3.4), openssl gives DER.
            let sig = EcdsaSig::from_der(&sig).expect("DER signature");
            let mut out = sig.r().to_vec_padded(32).expect("r");
            out.extend(sig.s().to_vec_padded(32).expect("s"));
            out
        } else {
            sig
        }
    }

    /// The standard header for this key.
    pub fn header(&self) -> Value {
        json!({"alg": self.alg, "typ": "JWT", "kid": self.kid})
    }

    /// A token signed with this key under `header`.
    pub fn sign_jws(&self, header: &Value, claims: &Value) -> String {
        jws(header, claims, Some(&|d: &[u8]| self.sign(d)))
    }

    /// A token signed with this key under its standard header.
    pub fn token(&self, claims: &Value) -> String {
        self.sign_jws(&self.header(), claims)
    }
}

/// The query of one request to the authorization endpoint.
#[derive(Debug, Clone)]
pub struct AuthRequest {
    pub query: HashMap<String, String>,
}

impl AuthRequest {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query.get(name).map(String::as_str)
    }
    pub fn nonce(&self) -> &str {
        self.param("nonce").unwrap_or_default()
    }
}

/// What the token endpoint answers for a code.
#[derive(Debug, Clone)]
pub struct TokenReply {
    pub status: u16,
    pub body: Value,
}

impl TokenReply {
    /// A successful response carrying `id_token` and `access_token`.
    pub fn ok(id_token: Option<String>, access_token: &str) -> TokenReply {
        let mut body = json!({
            "access_token": access_token, "token_type": "Bearer", "expires_in": 300,
        });
        if let Some(t) = id_token {
            body["id_token"] = Value::String(t);
        }
        TokenReply { status: 200, body }
    }
}

/// Produces the token response for one sign-in; sees the mock and the authorization request.
pub type TokenFactory = Arc<dyn Fn(&MockOp, &AuthRequest) -> TokenReply + Send + Sync>;

/// What the authorization endpoint puts in `iss` of its redirect.
#[derive(Debug, Clone, PartialEq)]
pub enum IssParam {
    /// The issuer (RFC 9207).
    Correct,
    /// No `iss` at all.
    Omit,
    /// Another value (a mix-up attacker's issuer).
    Value(String),
}

/// How the token endpoint wants the client to authenticate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ClientAuth {
    Basic,
    Post,
}

pub struct MockConfig {
    pub iss_parameter_supported: bool,
    pub iss_param: IssParam,
    pub client_auth: ClientAuth,
    /// `Some` → discovery advertises the userinfo endpoint, which answers this (a JSON
    /// string as raw text: a signed userinfo JWT with `userinfo_content_type`
    /// `application/jwt`).
    pub userinfo: Option<Value>,
    pub userinfo_content_type: String,
    /// Redirect with `error=…` instead of a code.
    pub authorize_error: Option<(String, String)>,
}

impl Default for MockConfig {
    fn default() -> Self {
        MockConfig {
            iss_parameter_supported: true,
            iss_param: IssParam::Correct,
            client_auth: ClientAuth::Basic,
            userinfo: None,
            userinfo_content_type: "application/json".into(),
            authorize_error: None,
        }
    }
}

struct IssuedCode {
    reply: TokenReply,
    redirect_uri: String,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
}

/// A token request as the mock received it.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    pub form: HashMap<String, String>,
    pub authorization: Option<String>,
}

pub struct MockState {
    pub config: Mutex<MockConfig>,
    pub keys: Mutex<Vec<TestKey>>,
    pub discovery_fetches: AtomicUsize,
    pub jwks_fetches: AtomicUsize,
    pub userinfo_fetches: AtomicUsize,
    pub token_requests: Mutex<Vec<TokenRequest>>,
    pub auth_requests: Mutex<Vec<AuthRequest>>,
    factory: Mutex<Option<TokenFactory>>,
    codes: Mutex<HashMap<String, IssuedCode>>,
    access_tokens: Mutex<Vec<String>>,
    token_hold: Mutex<Option<TokenHold>>,
}

/// The next token request waits: `arrived` fires when it comes, it is answered once
/// `release` fires (or is dropped).
struct TokenHold {
    arrived: tokio::sync::oneshot::Sender<()>,
    release: tokio::sync::oneshot::Receiver<()>,
}

/// A running mock provider. Cheap to clone; lives until the test's runtime ends.
#[derive(Clone)]
pub struct MockOp {
    /// `http://127.0.0.1:<port>/op`
    pub issuer: String,
    pub state: Arc<MockState>,
    /// The key the default factory signs with (published at start).
    pub key: TestKey,
}

impl MockOp {
    pub async fn start() -> MockOp {
        Self::start_with(MockConfig::default()).await
    }

    pub async fn start_with(config: MockConfig) -> MockOp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let key = TestKey::rsa("mock-key-1");
        let state = Arc::new(MockState {
            config: Mutex::new(config),
            keys: Mutex::new(vec![key.clone()]),
            discovery_fetches: AtomicUsize::new(0),
            jwks_fetches: AtomicUsize::new(0),
            userinfo_fetches: AtomicUsize::new(0),
            token_requests: Mutex::new(Vec::new()),
            auth_requests: Mutex::new(Vec::new()),
            factory: Mutex::new(None),
            codes: Mutex::new(HashMap::new()),
            access_tokens: Mutex::new(Vec::new()),
            token_hold: Mutex::new(None),
        });
        let op = MockOp {
            issuer: format!("http://{addr}/op"),
            state: state.clone(),
            key,
        };
        let app = Router::new()
            .route("/op/.well-known/openid-configuration", get(discovery))
            .route("/op/jwks", get(jwks))
            .route("/op/authorize", get(authorize))
            .route("/op/token", post(token))
            .route("/op/userinfo", get(userinfo))
            .with_state(op.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        op
    }

    /// Holds the next token request: the first receiver fires when it arrives (the RP is
    /// then inside its callback), and it is answered when the sender fires or is dropped.
    pub fn hold_next_token(
        &self,
    ) -> (
        tokio::sync::oneshot::Receiver<()>,
        tokio::sync::oneshot::Sender<()>,
    ) {
        let (arrived, arrived_rx) = tokio::sync::oneshot::channel();
        let (release_tx, release) = tokio::sync::oneshot::channel();
        *self.state.token_hold.lock().unwrap() = Some(TokenHold { arrived, release });
        (arrived_rx, release_tx)
    }

    pub fn configure(&self, f: impl FnOnce(&mut MockConfig)) {
        f(&mut self.state.config.lock().unwrap());
    }

    /// Sets how the token response of each sign-in is made.
    pub fn on_token(
        &self,
        f: impl Fn(&MockOp, &AuthRequest) -> TokenReply + Send + Sync + 'static,
    ) {
        *self.state.factory.lock().unwrap() = Some(Arc::new(f));
    }

    /// Sets the ID token claims (and header) of each sign-in, starting from
    /// [`MockOp::claims`] for the request's nonce; signed with the mock's key, `at_hash` set
    /// for the issued access token unless the tweak sets one.
    pub fn on_id_token(&self, tweak: impl Fn(&mut Value, &mut Value) + Send + Sync + 'static) {
        self.on_token(move |op, req| {
            let access_token = op.new_access_token();
            let mut claims = op.claims(req.nonce());
            claims["at_hash"] = Value::String(at_hash(&access_token));
            let mut header = op.key.header();
            tweak(&mut header, &mut claims);
            TokenReply::ok(Some(op.key.sign_jws(&header, &claims)), &access_token)
        });
    }

    /// Valid claims for `nonce`: this issuer, our client, 5 minutes, alice's profile.
    pub fn claims(&self, nonce: &str) -> Value {
        json!({
            "iss": self.issuer,
            "aud": CLIENT_ID,
            "azp": CLIENT_ID,
            "sub": "alice-sub-1",
            "iat": now(),
            "exp": now() + 300,
            "nonce": nonce,
            "email": "alice@acme.test",
            "email_verified": true,
            "given_name": "Alice",
            "family_name": "Liddell",
            "name": "Alice Liddell",
        })
    }

    /// An access token the userinfo endpoint will accept.
    pub fn new_access_token(&self) -> String {
        let t = format!("at-{}", uuid::Uuid::new_v4().simple());
        self.state.access_tokens.lock().unwrap().push(t.clone());
        t
    }

    pub fn publish(&self, key: &TestKey) {
        self.state.keys.lock().unwrap().push(key.clone());
    }

    pub fn unpublish(&self, kid: &str) {
        self.state.keys.lock().unwrap().retain(|k| k.kid != kid);
    }

    pub fn jwks_fetches(&self) -> usize {
        self.state.jwks_fetches.load(Ordering::SeqCst)
    }

    pub fn discovery_fetches(&self) -> usize {
        self.state.discovery_fetches.load(Ordering::SeqCst)
    }

    pub fn token_requests(&self) -> Vec<TokenRequest> {
        self.state.token_requests.lock().unwrap().clone()
    }

    pub fn auth_requests(&self) -> Vec<AuthRequest> {
        self.state.auth_requests.lock().unwrap().clone()
    }

    /// OIDC settings of a connector for this provider (default algorithms and claims).
    pub fn settings(&self) -> OidcSettings {
        OidcSettings::new(&self.issuer, CLIENT_ID)
    }

    /// A relying party for this provider (confidential client, [`REDIRECT_URI`]).
    pub fn rp(&self) -> OidcRp {
        OidcRp {
            connector_id: "mock".into(),
            settings: self.settings(),
            client_secret: Some(CLIENT_SECRET.into()),
            redirect_uri: REDIRECT_URI.into(),
            domains: vec!["acme.test".into()],
            allow_insecure_http: false,
        }
    }

    /// Plays the browser at the authorization endpoint: GETs `auth_url` (the output of
    /// `start`) and returns the query of the redirect back to the RP.
    pub async fn authorize(&self, auth_url: &str) -> CallbackParams {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        let resp = client.get(auth_url).send().await.expect("authorize");
        assert_eq!(resp.status(), 302, "the mock redirects back");
        let location = resp.headers()[header::LOCATION].to_str().expect("location");
        callback_params(location)
    }
}

/// The `CallbackParams` in a redirect URL's query.
pub fn callback_params(location: &str) -> CallbackParams {
    let url = url::Url::parse(location).expect("redirect URL");
    let q: HashMap<String, String> = url.query_pairs().into_owned().collect();
    CallbackParams {
        code: q.get("code").cloned(),
        state: q.get("state").cloned(),
        iss: q.get("iss").cloned(),
        error: q.get("error").cloned(),
        error_description: q.get("error_description").cloned(),
    }
}

async fn discovery(State(op): State<MockOp>) -> Json<Value> {
    op.state.discovery_fetches.fetch_add(1, Ordering::SeqCst);
    let c = op.state.config.lock().unwrap();
    let i = &op.issuer;
    let mut doc = json!({
        "issuer": i,
        "authorization_endpoint": format!("{i}/authorize"),
        "token_endpoint": format!("{i}/token"),
        "jwks_uri": format!("{i}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256", "ES256"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": match c.client_auth {
            ClientAuth::Basic => json!(["client_secret_basic"]),
            ClientAuth::Post => json!(["client_secret_post"]),
        },
        "authorization_response_iss_parameter_supported": c.iss_parameter_supported,
    });
    if c.userinfo.is_some() {
        doc["userinfo_endpoint"] = Value::String(format!("{i}/userinfo"));
    }
    Json(doc)
}

async fn jwks(State(op): State<MockOp>) -> Json<Value> {
    op.state.jwks_fetches.fetch_add(1, Ordering::SeqCst);
    let keys: Vec<Value> = op
        .state
        .keys
        .lock()
        .unwrap()
        .iter()
        .map(|k| k.jwk.clone())
        .collect();
    Json(json!({ "keys": keys }))
}

fn redirect(to: url::Url) -> Response {
    (StatusCode::FOUND, [(header::LOCATION, to.to_string())]).into_response()
}

async fn authorize(
    State(op): State<MockOp>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let req = AuthRequest { query };
    op.state.auth_requests.lock().unwrap().push(req.clone());
    let Some(redirect_uri) = req.param("redirect_uri") else {
        return (StatusCode::BAD_REQUEST, "no redirect_uri").into_response();
    };
    let Ok(mut to) = url::Url::parse(redirect_uri) else {
        return (StatusCode::BAD_REQUEST, "bad redirect_uri").into_response();
    };
    let (iss_param, error) = {
        let c = op.state.config.lock().unwrap();
        (c.iss_param.clone(), c.authorize_error.clone())
    };
    {
        let mut q = to.query_pairs_mut();
        if let Some((e, d)) = error {
            q.append_pair("error", &e)
                .append_pair("error_description", &d);
        } else {
            let factory = op.state.factory.lock().unwrap().clone();
            let reply = match factory {
                Some(f) => f(&op, &req),
                None => {
                    let access_token = op.new_access_token();
                    let mut claims = op.claims(req.nonce());
                    claims["at_hash"] = Value::String(at_hash(&access_token));
                    TokenReply::ok(Some(op.key.token(&claims)), &access_token)
                }
            };
            let code = format!("code-{}", uuid::Uuid::new_v4().simple());
            op.state.codes.lock().unwrap().insert(
                code.clone(),
                IssuedCode {
                    reply,
                    redirect_uri: redirect_uri.to_string(),
                    code_challenge: req.param("code_challenge").map(str::to_string),
                    code_challenge_method: req.param("code_challenge_method").map(str::to_string),
                },
            );
            q.append_pair("code", &code);
        }
        if let Some(state) = req.param("state") {
            q.append_pair("state", state);
        }
        match &iss_param {
            IssParam::Correct => {
                q.append_pair("iss", &op.issuer);
            }
            IssParam::Omit => {}
            IssParam::Value(v) => {
                q.append_pair("iss", v);
            }
        }
    }
    redirect(to)
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}

/// RFC 6749 2.3.1: form-urlencoded, then HTTP Basic.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let b = STANDARD.decode(v.strip_prefix("Basic ")?).ok()?;
    let s = String::from_utf8(b).ok()?;
    let (id, secret) = s.split_once(':')?;
    let dec = |x: &str| -> String {
        url::form_urlencoded::parse(format!("x={x}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Some((dec(id), dec(secret)))
}

async fn token(
    State(op): State<MockOp>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let hold = op.state.token_hold.lock().unwrap().take();
    if let Some(hold) = hold {
        let _ = hold.arrived.send(());
        let _ = hold.release.await;
    }
    op.state.token_requests.lock().unwrap().push(TokenRequest {
        form: form.clone(),
        authorization: headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
    });
    let client_auth = op.state.config.lock().unwrap().client_auth;
    let creds = match client_auth {
        ClientAuth::Basic => basic_credentials(&headers),
        ClientAuth::Post => match (form.get("client_id"), form.get("client_secret")) {
            (Some(i), Some(s)) => Some((i.clone(), s.clone())),
            _ => None,
        },
    };
    if creds != Some((CLIENT_ID.to_string(), CLIENT_SECRET.to_string())) {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client authentication failed",
        );
    }
    if form.get("grant_type").map(String::as_str) != Some("authorization_code") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "code only",
        );
    }
    // Single use: the code is gone after this request, whatever happens next.
    let issued = form
        .get("code")
        .and_then(|c| op.state.codes.lock().unwrap().remove(c));
    let Some(issued) = issued else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "unknown or used code",
        );
    };
    if form.get("redirect_uri") != Some(&issued.redirect_uri) {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "redirect_uri mismatch",
        );
    }
    match (
        issued.code_challenge_method.as_deref(),
        issued.code_challenge,
        form.get("code_verifier"),
    ) {
        (Some("S256"), Some(challenge), Some(verifier))
            if b64url(&Sha256::digest(verifier.as_bytes())) == challenge => {}
        _ => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                "PKCE verification failed",
            )
        }
    }
    let status = StatusCode::from_u16(issued.reply.status).unwrap_or(StatusCode::OK);
    (status, Json(issued.reply.body)).into_response()
}

async fn userinfo(State(op): State<MockOp>, headers: HeaderMap) -> Response {
    op.state.userinfo_fetches.fetch_add(1, Ordering::SeqCst);
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string);
    let known = bearer
        .as_ref()
        .is_some_and(|b| op.state.access_tokens.lock().unwrap().contains(b));
    if !known {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer error=\"invalid_token\"")],
        )
            .into_response();
    }
    let c = op.state.config.lock().unwrap();
    match &c.userinfo {
        Some(v) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, c.userinfo_content_type.clone())],
            // A JSON string is sent as is (a signed userinfo JWT), anything else as JSON.
            match v {
                Value::String(raw) => raw.clone(),
                v => v.to_string(),
            },
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

// Sign-ins through a running ssogate.

impl MockOp {
    /// Registers this provider at the ssogate at `base` (management API key `key`) as the
    /// OIDC connector `id`, claiming acme.test and creating accounts.
    pub async fn connect_ssogate(&self, base: &str, key: &str, id: &str) {
        let body = json!({
            "kind": "oidc", "domains": ["acme.test"], "create_accounts": true,
            "oidc": { "issuer": self.issuer, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                      "scopes": ["openid", "email", "profile"] },
        });
        let r = reqwest::Client::new()
            .put(format!("{base}/api/v1/connectors/{id}"))
            .bearer_auth(key)
            .json(&body)
            .send()
            .await
            .expect("put connector");
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
    }

    /// Signs everyone in as the person `sub` / `email` from now on.
    pub fn sign_in_as(&self, sub: &str, email: &str) {
        let (sub, email) = (sub.to_string(), email.to_string());
        self.on_id_token(move |_, claims| {
            claims["sub"] = Value::String(sub.clone());
            claims["email"] = Value::String(email.clone());
        });
    }

    /// Starts a sign-in at the ssogate at `base` with connector `id` as `browser` (a
    /// cookie jar that follows no redirects) and plays the provider's part: returns the
    /// callback URL the browser is sent back to, not yet visited.
    pub async fn start_sign_in(&self, base: &str, id: &str, browser: &reqwest::Client) -> String {
        let r = browser
            .get(format!("{base}/login/{id}"))
            .send()
            .await
            .expect("start");
        assert_eq!(r.status(), 303, "{}", r.text().await.unwrap_or_default());
        let authorize = r.headers()[header::LOCATION]
            .to_str()
            .expect("location")
            .to_string();
        assert!(
            authorize.starts_with(&self.issuer),
            "sent to the provider: {authorize}"
        );
        let r = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client")
            .get(&authorize)
            .send()
            .await
            .expect("authorize");
        assert_eq!(r.status(), 302, "the mock redirects back");
        r.headers()[header::LOCATION]
            .to_str()
            .expect("location")
            .to_string()
    }
}
