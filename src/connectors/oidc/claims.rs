//! From verified claims (ID token + userinfo) to an [`ExternalProfile`].
//!
//! Merge rule: **the ID token wins**. It is signed, bound to our nonce and checked claim by
//! claim; userinfo only fills in claims the ID token does not carry (some providers put
//! email or groups only there). One exception keeps a pair honest: `email_verified` is
//! read from the same source as the email it qualifies — a verified flag from userinfo
//! never vouches for an ID token email, nor the other way round.
//!
//! `email_verified` is what the IdP asserted (a boolean, or the string `"true"` that some
//! providers send); whether ssogate trusts it is the sign-in engine's decision.

use serde_json::{Map, Value};

use super::error::OidcError;
use crate::connectors::settings::AttributeMapping;
use crate::connectors::ExternalProfile;

const EMAIL_VERIFIED: &str = "email_verified";

/// The userinfo claims under the ID token's.
pub fn merge(
    id_token: &Map<String, Value>,
    userinfo: Option<&Map<String, Value>>,
) -> Map<String, Value> {
    let mut merged = userinfo.cloned().unwrap_or_default();
    for (k, v) in id_token {
        merged.insert(k.clone(), v.clone());
    }
    merged
}

fn string_claim(v: Option<&Value>) -> Option<String> {
    let s = match v? {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    (!s.is_empty()).then_some(s)
}

fn bool_claim(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.trim().eq_ignore_ascii_case("true"),
        _ => false,
    }
}

/// Groups as an array of strings, or one string (one group). Other values are ignored.
fn groups_claim(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(items)) => items.iter().filter_map(|i| string_claim(Some(i))).collect(),
        Some(v) => string_claim(Some(v)).into_iter().collect(),
        None => Vec::new(),
    }
}

fn present(m: &Map<String, Value>, claim: &str) -> bool {
    !matches!(m.get(claim), None | Some(Value::Null))
}

/// Builds the profile. `subject` is the ID token's verified `sub`, used unless the
/// mapping names another claim.
pub fn map_profile(
    connector: &str,
    mapping: &AttributeMapping,
    subject: &str,
    id_token: &Map<String, Value>,
    userinfo: Option<&Map<String, Value>>,
) -> Result<ExternalProfile, OidcError> {
    let merged = merge(id_token, userinfo);
    let get = |name: &str| -> Option<&Value> {
        if name.is_empty() {
            None
        } else {
            merged.get(name)
        }
    };

    let subject = match mapping.subject.as_deref().filter(|s| !s.is_empty()) {
        Some(claim) => string_claim(get(claim)).ok_or(OidcError::SubjectMissing)?,
        None => subject.to_string(),
    };
    if subject.is_empty() {
        return Err(OidcError::SubjectMissing);
    }

    // The email and its verified flag come from one source.
    let email_source = if present(id_token, &mapping.email) {
        Some(id_token)
    } else {
        userinfo.filter(|u| present(u, &mapping.email))
    };
    let (email, email_verified) = match email_source {
        Some(src) => {
            let email = string_claim(src.get(&mapping.email));
            // `email_verified` speaks of the `email` claim only; an email mapped from
            // another claim (e.g. `upn`) is not vouched for by it.
            let verified =
                email.is_some() && mapping.email == "email" && bool_claim(src.get(EMAIL_VERIFIED));
            (email, verified)
        }
        None => (None, false),
    };

    Ok(ExternalProfile {
        connector: connector.to_string(),
        subject,
        email,
        email_verified,
        given_name: string_claim(get(&mapping.given_name)),
        family_name: string_claim(get(&mapping.family_name)),
        name: string_claim(get(&mapping.name)),
        picture: string_claim(get(&mapping.picture)),
        groups: groups_claim(get(&mapping.groups)),
        session_not_on_or_after: None,
        raw: Value::Object(merged),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn id_token_wins_and_userinfo_fills_in() {
        let id = obj(
            json!({"sub": "s1", "name": "From ID", "email": "a@x.test", "email_verified": true}),
        );
        let ui = obj(
            json!({"sub": "s1", "name": "From UI", "groups": ["g1", "g2"], "picture": "https://p"}),
        );
        let p = map_profile("c", &AttributeMapping::oidc_default(), "s1", &id, Some(&ui)).unwrap();
        assert_eq!(p.name.as_deref(), Some("From ID"));
        assert_eq!(p.groups, vec!["g1", "g2"]);
        assert_eq!(p.picture.as_deref(), Some("https://p"));
        assert!(p.email_verified);
        assert_eq!(p.raw["name"], "From ID");
        assert_eq!(p.raw["groups"], json!(["g1", "g2"]));
    }

    #[test]
    fn email_verified_comes_with_its_email() {
        // The ID token's email is not vouched for by userinfo's flag.
        let id = obj(json!({"sub": "s", "email": "a@x.test"}));
        let ui = obj(json!({"sub": "s", "email": "b@x.test", "email_verified": true}));
        let p = map_profile("c", &AttributeMapping::oidc_default(), "s", &id, Some(&ui)).unwrap();
        assert_eq!(p.email.as_deref(), Some("a@x.test"));
        assert!(!p.email_verified);
        // Email only in userinfo: its flag applies.
        let id = obj(json!({"sub": "s"}));
        let ui = obj(json!({"sub": "s", "email": "b@x.test", "email_verified": "true"}));
        let p = map_profile("c", &AttributeMapping::oidc_default(), "s", &id, Some(&ui)).unwrap();
        assert_eq!(p.email.as_deref(), Some("b@x.test"));
        assert!(p.email_verified);
    }

    #[test]
    fn email_verified_string_and_bool_forms() {
        for (v, want) in [
            (json!(true), true),
            (json!("true"), true),
            (json!("TRUE"), true),
            (json!(false), false),
            (json!("false"), false),
            (json!("yes"), false),
            (json!(1), false),
            (Value::Null, false),
        ] {
            let id = obj(json!({"sub": "s", "email": "a@x.test", "email_verified": v}));
            let p = map_profile("c", &AttributeMapping::oidc_default(), "s", &id, None).unwrap();
            assert_eq!(p.email_verified, want, "{v}");
        }
    }

    #[test]
    fn email_from_another_claim_is_never_verified() {
        let mut m = AttributeMapping::oidc_default();
        m.email = "upn".into();
        let id = obj(json!({"sub": "s", "upn": "a@x.test", "email_verified": true}));
        let p = map_profile("c", &m, "s", &id, None).unwrap();
        assert_eq!(p.email.as_deref(), Some("a@x.test"));
        assert!(!p.email_verified);
    }

    #[test]
    fn groups_as_array_or_single_string() {
        let m = AttributeMapping::oidc_default();
        let id = obj(json!({"sub": "s", "groups": "admins"}));
        assert_eq!(
            map_profile("c", &m, "s", &id, None).unwrap().groups,
            vec!["admins"]
        );
        let id = obj(json!({"sub": "s", "groups": ["a", 7, null, {"x": 1}, ""]}));
        assert_eq!(
            map_profile("c", &m, "s", &id, None).unwrap().groups,
            vec!["a", "7"]
        );
        let id = obj(json!({"sub": "s", "groups": {"x": 1}}));
        assert!(map_profile("c", &m, "s", &id, None)
            .unwrap()
            .groups
            .is_empty());
    }

    #[test]
    fn subject_claim_override() {
        let mut m = AttributeMapping::oidc_default();
        m.subject = Some("oid".into());
        let id = obj(json!({"sub": "pairwise-1", "oid": "0000-1111"}));
        assert_eq!(
            map_profile("c", &m, "pairwise-1", &id, None)
                .unwrap()
                .subject,
            "0000-1111"
        );
        let id = obj(json!({"sub": "pairwise-1"}));
        assert_eq!(
            map_profile("c", &m, "pairwise-1", &id, None).unwrap_err(),
            OidcError::SubjectMissing
        );
    }
}
