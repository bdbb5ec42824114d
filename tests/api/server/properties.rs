//! Property-based targets (proptest, stable Rust) for the code that reads what outsiders
//! send: return_to, the SAML pre-check and verification entry (and the ACS route), the
//! OIDC ID token, userinfo and claim mapping, email normalization and role-mapping
//! patterns. The property is always "no panic" (and no 5xx from a route), plus what each
//! target promises on top (return_to stays on the origin; email normalization is stable).
//!
//! The normal suite runs each at a modest case count (seconds); `PROPTEST_CASES` sets
//! another, and `scripts/fuzz.sh [minutes]` runs each target for minutes with fresh seeds.
//! A failure prints the smallest failing input; it becomes a regression test next to the
//! code it broke.

use std::sync::{Arc, OnceLock};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestCaseError, TestRunner};
use serde_json::{json, Map, Value};

use ssogate::address::{covering_patterns, domain_matches, normalize_domain, Email};
use ssogate::connectors::oidc::claims::map_profile;
use ssogate::connectors::oidc::id_token::verify_id_token;
use ssogate::connectors::oidc::provider::ProviderCache;
use ssogate::connectors::oidc::userinfo::{self, UserinfoBody};
use ssogate::connectors::saml::precheck;
use ssogate::connectors::saml::verify::verify_response;
use ssogate::connectors::saml::xml_guard::parse_untrusted;
use ssogate::connectors::settings::{AttributeMapping, MappingMode, ProfileSync};
use ssogate::connectors::{ConnectorKind, ExternalProfile};
use ssogate::flow::return_to::{sanitize_return_to, sanitize_return_to_for};
use ssogate::signin::{compile_pattern, decide, ConnectorFacts, Facts, ResolvedMapping};

use crate::support::oidc_mock::MockOp;
use crate::support::saml_forge::{expected, test_sp, Encryption, Forge};

/// The configuration of one target: `PROPTEST_CASES` when set, else `default_cases`.
fn config(default_cases: u32) -> ProptestConfig {
    let mut c = ProptestConfig::default();
    if std::env::var("PROPTEST_CASES").is_err() {
        c.cases = default_cases;
    }
    c
}

/// Runs `test` on values of `strategy` (a target that needs a tokio runtime or shared
/// state cannot use the `proptest!` macro's plain functions).
fn run<S: Strategy>(cases: u32, strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S::Value: std::fmt::Debug,
{
    let mut runner = TestRunner::new(config(cases));
    if let Err(e) = runner.run(&strategy, test) {
        panic!("{e}");
    }
}

// ---------------------------------------------------------------------------------------
// return_to

const APP_ORIGINS: [&str; 2] = ["https://app.example.com", "http://127.0.0.1:8081"];

fn app_origin(o: &str) -> bool {
    APP_ORIGINS.contains(&o)
}

/// Pieces that browsers and URL parsers treat specially, and the app origins.
const RETURN_TO_TOKENS: &[&str] = &[
    "/",
    "//",
    "\\",
    ".",
    "..",
    "%",
    "%2e",
    "%2E",
    "%2f",
    "%2F",
    "%5c",
    "%5C",
    "%252f",
    "%25",
    "%00",
    "%09",
    "%0a",
    "%0d",
    "@",
    ":",
    "?",
    "#",
    "\t",
    "\n",
    "\r",
    " ",
    "\u{0}",
    "\u{3000}",
    "\u{ff0f}",
    "%ef%bc%8f",
    "\u{2044}",
    "evil.com",
    "ssogate.example",
    "app.example.com",
    "https://app.example.com",
    "http://127.0.0.1:8081",
    "https://",
    "http://",
    "https:",
    "http:",
    "HTTPS://APP.EXAMPLE.COM",
    "javascript:",
    "data:",
    "a",
    "me",
    "[::1]",
    ":443",
    ":8081",
    "https://evil.com",
    "user:pw@",
    "ä",
    "&",
    "=",
];

/// The few pieces that make a path leave its host once resolved or decoded, so that short
/// paths built of them come up often.
const PATH_TOKENS: &[&str] = &[
    "/", "//", ".", "..", "%2e", "%2E", "%2f", "%5c", "%252f", "\\", "evil.com", "a", "?", "#",
    "@", ":", "\t",
];

fn return_to_corpus() -> impl Strategy<Value = String> {
    let tokens = prop::collection::vec(prop::sample::select(RETURN_TO_TOKENS), 0..14)
        .prop_map(|v| v.concat());
    let path = prop::collection::vec(prop::sample::select(PATH_TOKENS), 0..8)
        .prop_map(|v| format!("/{}", v.concat()));
    prop_oneof![
        4 => path,
        3 => tokens.clone(),
        2 => tokens.clone().prop_map(|s| format!("/{s}")),
        2 => (prop::sample::select(APP_ORIGINS.to_vec()), tokens).prop_map(|(o, s)| format!("{o}{s}")),
        1 => any::<String>(),
        1 => any::<String>().prop_map(|s| format!("/{s}")),
    ]
}

/// Every output is a path that stays on ssogate's host however a browser reads it, or
/// an absolute URL on an app origin; and it is its own sanitized form.
fn return_to_output_is_safe(raw: &str) -> Result<(), TestCaseError> {
    for (out, origins) in [
        (sanitize_return_to_for(raw, app_origin), true),
        (sanitize_return_to(raw), false),
    ] {
        let Some(out) = out else { continue };
        prop_assert!(
            !out.chars()
                .any(|c| c.is_control() || c.is_whitespace() || c == '\\'),
            "{raw:?} -> {out:?}: no control characters, whitespace or backslashes"
        );
        let again = if origins {
            sanitize_return_to_for(&out, app_origin)
        } else {
            sanitize_return_to(&out)
        };
        prop_assert_eq!(
            again.as_deref(),
            Some(out.as_str()),
            "idempotent for {:?}",
            raw
        );
        if out.starts_with('/') {
            prop_assert!(
                !out.starts_with("//") && !out.starts_with("/\\"),
                "{raw:?} -> {out:?}"
            );
            // As a browser resolves it on ssogate's page (WHATWG URL parsing; the `url`
            // crate implements it): still ssogate's host.
            let base = url::Url::parse("https://ssogate.example/").expect("base");
            let resolved = base.join(&out).expect("a path resolves");
            prop_assert_eq!(resolved.origin(), base.origin(), "{:?} -> {:?}", raw, out);
            prop_assert!(resolved.username().is_empty() && resolved.password().is_none());
            // A later hop that decodes the path once more does not make it `//host`.
            let decoded = percent_decoded(resolved.path());
            prop_assert!(
                !decoded.starts_with("//") && !decoded.starts_with("/\\"),
                "{raw:?} -> {out:?} decodes to {decoded:?}"
            );
        } else {
            prop_assert!(
                origins,
                "{raw:?} -> {out:?}: only paths without app origins"
            );
            let u = url::Url::parse(&out).expect("absolute output parses");
            prop_assert!(
                app_origin(&u.origin().ascii_serialization()),
                "{:?} -> {:?}: an app origin",
                raw,
                out
            );
            prop_assert!(u.username().is_empty() && u.password().is_none());
        }
    }
    Ok(())
}

fn percent_decoded(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn return_to_stays_on_the_origin_or_an_app_origin() {
    run(2000, return_to_corpus(), |raw| {
        return_to_output_is_safe(&raw)
    });
}

// ---------------------------------------------------------------------------------------
// SAML

/// A genuine response (plain or with an encrypted assertion) and where to change it.
fn genuine_saml() -> &'static [String; 2] {
    static XML: OnceLock<[String; 2]> = OnceLock::new();
    XML.get_or_init(|| {
        [
            Forge::new().response_xml(),
            Forge {
                encrypt: Some(Encryption::keycloak_default()),
                ..Forge::new()
            }
            .response_xml(),
        ]
    })
}

const XML_TOKENS: &[&str] = &[
    "<",
    ">",
    "</",
    "/>",
    "&",
    "&amp;",
    "&#0;",
    "&#x110000;",
    "\"",
    "'",
    "=",
    "<!--",
    "-->",
    "<![CDATA[",
    "]]>",
    "<?xml version=\"1.0\" encoding=\"UTF-16\"?>",
    "<!DOCTYPE x>",
    "<!ENTITY e \"x\">",
    "xmlns=\"\"",
    "xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"",
    "<ds:Signature>",
    "</ds:Signature>",
    "<saml:Assertion ID=\"_a\">",
    "</saml:Assertion>",
    "ID=\"_dup\"",
    "URI=\"#_a\"",
    "URI=\"http://127.0.0.1:9/x\"",
    "\u{0}",
    "\u{feff}",
    "é",
];

/// How to change a genuine response.
#[derive(Debug, Clone)]
enum Mutation {
    Truncate(prop::sample::Index),
    SetByte(prop::sample::Index, u8),
    Insert(prop::sample::Index, &'static str),
    Remove(prop::sample::Index, prop::sample::Index),
    Duplicate(prop::sample::Index, prop::sample::Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<prop::sample::Index>().prop_map(Mutation::Truncate),
        (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::SetByte(i, b)),
        (
            any::<prop::sample::Index>(),
            prop::sample::select(XML_TOKENS)
        )
            .prop_map(|(i, t)| Mutation::Insert(i, t)),
        (any::<prop::sample::Index>(), any::<prop::sample::Index>())
            .prop_map(|(a, b)| Mutation::Remove(a, b)),
        (any::<prop::sample::Index>(), any::<prop::sample::Index>())
            .prop_map(|(a, b)| Mutation::Duplicate(a, b)),
    ]
}

fn mutate(xml: &str, mutations: &[Mutation]) -> Vec<u8> {
    let mut b = xml.as_bytes().to_vec();
    for m in mutations {
        if b.is_empty() {
            break;
        }
        let n = b.len();
        match m {
            Mutation::Truncate(i) => b.truncate(i.index(n)),
            Mutation::SetByte(i, v) => b[i.index(n)] = *v,
            Mutation::Insert(i, t) => {
                let at = i.index(n);
                b.splice(at..at, t.bytes());
            }
            Mutation::Remove(x, y) => {
                let (a, c) = (x.index(n), y.index(n));
                let (a, c) = (a.min(c), a.max(c).min(a.min(c) + 256));
                b.drain(a..c);
            }
            Mutation::Duplicate(x, y) => {
                let (a, c) = (x.index(n), y.index(n));
                let (a, c) = (a.min(c), a.max(c).min(a.min(c) + 4096));
                let copy = b[a..c].to_vec();
                b.splice(c..c, copy);
            }
        }
    }
    b
}

/// SAMLResponse values: mutated genuine responses, arbitrary base64, arbitrary text.
fn saml_response_corpus() -> impl Strategy<Value = String> {
    prop_oneof![
        5 => (0..2usize, prop::collection::vec(mutation(), 1..6))
            .prop_map(|(which, ms)| STANDARD.encode(mutate(&genuine_saml()[which], &ms))),
        2 => prop::collection::vec(any::<u8>(), 0..2048).prop_map(|b| STANDARD.encode(b)),
        1 => prop::collection::vec(prop::sample::select(XML_TOKENS), 0..40)
            .prop_map(|v| STANDARD.encode(v.concat())),
        1 => any::<String>(),
        1 => "[A-Za-z0-9+/=\\s%-]{0,300}",
    ]
}

#[test]
fn saml_precheck_survives_arbitrary_and_mutated_xml() {
    let corpus = prop_oneof![
        4 => (0..2usize, prop::collection::vec(mutation(), 1..6))
            .prop_map(|(which, ms)| String::from_utf8_lossy(&mutate(&genuine_saml()[which], &ms)).into_owned()),
        1 => prop::collection::vec(prop::sample::select(XML_TOKENS), 0..60).prop_map(|v| v.concat()),
        1 => any::<String>(),
    ];
    run(500, corpus, |xml| {
        if let Ok(doc) = parse_untrusted(&xml) {
            let _ = precheck::check_response(&doc, false);
            let _ = precheck::check_response(&doc, true);
            let _ = precheck::check_decrypted(&doc, false);
        }
        Ok(())
    });
}

#[test]
fn saml_verification_survives_arbitrary_bytes_base64_and_mutated_responses() {
    let sp = test_sp();
    run(300, saml_response_corpus(), |b64| {
        // Verification errors are fine; a panic fails the target (the ACS would survive
        // it on its pool, but it would still be a bug).
        let _ = verify_response(&sp, &b64, &expected());
        Ok(())
    });
}

#[test]
fn the_acs_never_answers_5xx() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (app, _sp) = rt.block_on(crate::connectors::saml_acs::setup_with(true, |c| {
        // The target is the ACS, not the rate limiter.
        c.login.rate_limit_per_minute = 1_000_000;
        c.login.rate_limit_burst = 1_000_000;
    }));
    let url = app.url(&format!(
        "/saml/{}/acs",
        crate::connectors::saml_acs::CONNECTOR
    ));
    let client = crate::support::new_client();
    let corpus = (
        saml_response_corpus(),
        prop::option::of("[A-Za-z0-9_-]{0,50}"),
        any::<bool>(),
    );
    run(48, corpus, |(response, relay, raw_body)| {
        let status = rt.block_on(async {
            let req = client.post(&url);
            let req = if raw_body {
                // The body as sent, not form-encoded: arbitrary `%`, `&`, `=`.
                req.header("content-type", "application/x-www-form-urlencoded")
                    .body(format!(
                        "SAMLResponse={response}&RelayState={}",
                        relay.clone().unwrap_or_default()
                    ))
            } else {
                let mut form = vec![("SAMLResponse", response.clone())];
                if let Some(r) = &relay {
                    form.push(("RelayState", r.clone()));
                }
                req.form(&form)
            };
            req.send().await.expect("the ACS answers").status()
        });
        prop_assert!(!status.is_server_error(), "{status}");
        Ok(())
    });
    drop(app);
}

// ---------------------------------------------------------------------------------------
// OIDC

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        any::<String>().prop_map(Value::String),
        prop::sample::select(vec![
            "",
            "true",
            "false",
            "alice@acme.test",
            "ALICE@ACME.TEST",
            "a@b",
            "mock-key-1",
            "RS256",
            "none",
            "HS256"
        ])
        .prop_map(|s| Value::String(s.to_string())),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(claim_name(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn claim_name() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "sub", "iss", "aud", "azp", "exp", "iat", "nbf", "nonce", "at_hash", "email",
            "email_verified", "name", "given_name", "family_name", "groups", "picture", "upn",
        ]).prop_map(str::to_string),
        1 => any::<String>(),
    ]
}

fn claims_object() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::btree_map(claim_name(), json_value(), 0..12)
        .prop_map(|m| m.into_iter().collect())
}

/// Claims that are right except for what the case changes, so the checks after the
/// signature see them (a random object rarely gets past the signature).
fn near_valid_claims(op: &MockOp, nonce: &str) -> impl Strategy<Value = Map<String, Value>> {
    let base = op.claims(nonce);
    prop::collection::btree_map(claim_name(), json_value(), 0..4).prop_map(move |changes| {
        let mut m = base.as_object().cloned().unwrap_or_default();
        for (k, v) in changes {
            m.insert(k, v);
        }
        m
    })
}

/// JWT-shaped strings: real signatures over arbitrary claims, arbitrary headers and
/// segments, and arbitrary text with dots.
fn jwt_corpus(op: &MockOp, nonce: &str) -> impl Strategy<Value = String> {
    let signer = op.key.clone();
    let signed = (near_valid_claims(op, nonce), prop::option::of(json_value())).prop_map(
        move |(claims, extra)| {
            let mut header = signer.header();
            if let (Value::Object(h), Some(extra)) = (&mut header, extra) {
                h.insert("x".into(), extra);
            }
            signer.sign_jws(&header, &Value::Object(claims))
        },
    );
    let header = prop_oneof![
        prop::collection::btree_map(
            prop::sample::select(vec!["alg", "kid", "typ", "crit", "enc", "jku", "x5u"])
                .prop_map(str::to_string),
            json_value(),
            0..5
        )
        .prop_map(|m| Value::Object(m.into_iter().collect())),
        json_value(),
    ];
    let segments = (
        header,
        claims_object(),
        prop::collection::vec(any::<u8>(), 0..300),
    )
        .prop_map(|(h, c, sig)| {
            format!(
                "{}.{}.{}",
                URL_SAFE_NO_PAD.encode(h.to_string()),
                URL_SAFE_NO_PAD.encode(Value::Object(c).to_string()),
                URL_SAFE_NO_PAD.encode(sig)
            )
        });
    prop_oneof![
        3 => signed,
        3 => segments,
        1 => "[A-Za-z0-9_=.+/-]{0,200}",
        1 => prop::collection::vec("[A-Za-z0-9_-]{0,40}", 0..7).prop_map(|v| v.join(".")),
        1 => any::<String>(),
    ]
}

struct OidcTarget {
    rt: tokio::runtime::Runtime,
    op: MockOp,
    providers: Arc<ProviderCache>,
}

fn oidc_target() -> OidcTarget {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let op = rt.block_on(MockOp::start());
    let providers = ProviderCache::new(reqwest::Client::new());
    OidcTarget { rt, op, providers }
}

#[test]
fn oidc_id_token_verification_survives_jwt_shaped_strings() {
    let t = oidc_target();
    let rp = t.op.rp();
    let nonce = "n-0123456789";
    run(200, jwt_corpus(&t.op, nonce), |raw| {
        let _ = t.rt.block_on(verify_id_token(
            &rp,
            &t.providers,
            &raw,
            nonce,
            Some("at-x"),
        ));
        Ok(())
    });
}

#[test]
fn oidc_userinfo_and_claim_mapping_survive_arbitrary_json_and_jwts() {
    let t = oidc_target();
    let rp = t.op.rp();
    let provider =
        t.rt.block_on(t.providers.provider(&t.op.issuer))
            .expect("the mock provider");
    let mapping = prop_oneof![
        Just(AttributeMapping::oidc_default()),
        (
            prop::option::of(claim_name()),
            claim_name(),
            claim_name(),
            claim_name()
        )
            .prop_map(|(subject, email, name, groups)| AttributeMapping {
                subject,
                email,
                name,
                groups,
                ..AttributeMapping::oidc_default()
            }),
    ];
    let body = prop_oneof![
        claims_object().prop_map(UserinfoBody::Json),
        jwt_corpus(&t.op, "unused").prop_map(UserinfoBody::Jwt),
    ];
    run(
        200,
        (body, claims_object(), mapping, "[a-z0-9-]{0,20}"),
        |(body, id_token, mapping, subject)| {
            let userinfo =
                t.rt.block_on(userinfo::claims(&rp, &t.providers, &provider, body));
            let _ = map_profile(
                "mock",
                &mapping,
                &subject,
                &id_token,
                userinfo.as_ref().ok(),
            );
            Ok(())
        },
    );
}

// ---------------------------------------------------------------------------------------
// Email normalization

fn email_corpus() -> impl Strategy<Value = String> {
    let part = prop_oneof![
        "[a-zA-Z0-9._+-]{0,20}",
        any::<String>(),
        prop::sample::select(vec![
            "",
            ".",
            "..",
            "*",
            "*.",
            "xn--",
            "xn--bcher-kva",
            "Bücher",
            "İ",
            "ß",
            "\u{200d}",
            "\u{3002}",
            "\u{ff0e}",
            "-",
            "a-",
            "@",
            " ",
            "\t",
            "\u{0}",
        ])
        .prop_map(str::to_string),
    ];
    // Long local parts of letters whose lower case is longer in UTF-8 (`İ` → `i̇`, `Ⱥ` →
    // `ⱥ`): the length limits must hold for the normalized form too.
    let growing =
        prop::collection::vec(prop::sample::select(vec!["İ", "Ⱥ", "Ⱦ", "a", "A"]), 20..70)
            .prop_map(|v| v.concat());
    prop_oneof![
        3 => (part.clone(), prop::collection::vec(part.clone(), 1..5))
            .prop_map(|(l, labels)| format!("{l}@{}", labels.join("."))),
        1 => (growing, prop::collection::vec("[a-zA-Z]{1,60}", 1..6))
            .prop_map(|(l, labels)| format!("{l}@{}", labels.join("."))),
        1 => any::<String>(),
        1 => part,
    ]
}

#[test]
fn email_normalization_never_panics_and_is_stable() {
    run(1000, (email_corpus(), email_corpus()), |(raw, pattern)| {
        if let Ok(e) = Email::parse(&raw) {
            // What was normalized once normalizes to itself (it is stored and read again).
            let again = Email::parse(e.as_str());
            prop_assert_eq!(again.as_ref(), Ok(&e), "{:?}", raw);
            let domain = normalize_domain(e.domain());
            prop_assert_eq!(domain.as_deref(), Ok(e.domain()));
            for p in covering_patterns(e.domain()) {
                prop_assert!(
                    domain_matches(&p, e.domain()),
                    "{} covers {}",
                    p,
                    e.domain()
                );
            }
        }
        if let Ok(d) = normalize_domain(&raw) {
            let again = normalize_domain(&d);
            prop_assert_eq!(again.as_deref(), Ok(d.as_str()), "{:?}", raw);
        }
        let _ = domain_matches(&pattern, &raw);
        let _ = covering_patterns(&raw);
        Ok(())
    });
}

// ---------------------------------------------------------------------------------------
// Role-mapping patterns

const REGEX_TOKENS: &[&str] = &[
    "(", ")", "(?:", "[", "]", "[^", "^", "$", ".", "*", "+", "?", "{", "}", "{1000}", "{0,1000}",
    "|", "\\", "\\d", "\\p{L}", "\\b", "(?i)", "(?P<n>", "eng", "-", "a", "ä",
];

fn pattern_corpus() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::collection::vec(prop::sample::select(REGEX_TOKENS), 0..16).prop_map(|v| v.concat()),
        any::<String>(),
    ]
}

#[test]
fn role_mapping_patterns_never_panic() {
    let values = prop::collection::vec(prop_oneof!["[a-z-]{0,12}", any::<String>()], 0..6);
    run(
        300,
        (pattern_corpus(), values, claim_name(), json_value()),
        |(pattern, groups, claim, raw_claim)| {
            if let Ok(re) = compile_pattern(&pattern) {
                for g in &groups {
                    let _ = re.is_match(g);
                }
            }
            // Through the engine, as a sign-in evaluates the rules.
            let mapping =
                |rule: &str, value: Option<String>, pattern: Option<String>| ResolvedMapping {
                    rule: rule.into(),
                    claim: claim.clone(),
                    value,
                    pattern,
                    organization_id: "o1".into(),
                    organization_name: "Acme".into(),
                    role_id: "r1".into(),
                    role_name: "dev".into(),
                    mode: MappingMode::Sync,
                };
            let connector = ConnectorFacts {
                id: "acme".into(),
                kind: ConnectorKind::Saml,
                create_accounts: true,
                profile_sync: ProfileSync::FirstSignIn,
                claimed_domains: vec!["acme.test".into()],
                trusts_verified_email: false,
                mappings: vec![
                    mapping("p", None, Some(pattern.clone())),
                    mapping("v", groups.first().cloned(), None),
                    mapping("g", None, Some(pattern.clone())),
                ],
            };
            let mut raw = Map::new();
            raw.insert(claim.clone(), raw_claim.clone());
            let profile = ExternalProfile {
                connector: "acme".into(),
                subject: "s1".into(),
                email: Some("kim@acme.test".into()),
                email_verified: true,
                groups: groups.clone(),
                raw: Value::Object(raw),
                ..Default::default()
            };
            let facts = Facts {
                linked_user: None,
                user_with_email: None,
                sso_jit_orgs: vec![],
                email_domain_jit_orgs: vec![],
                domain_claimed_by: vec![],
            };
            let _ = decide(&connector, &profile, &facts);
            Ok(())
        },
    );
}
