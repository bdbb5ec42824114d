//! Group/claim → organization-role mapping. A rule matches when any value of its claim
//! equals `value` or fully matches `pattern`. `grant` rules add the role; `sync` rules
//! also revoke the grant THIS rule made earlier once the IdP stops asserting the value.
//! Grants from any other source (API, invitation, JIT defaults, another rule) are never
//! touched: every grant row carries its source and rule.

use regex::Regex;
use serde::Serialize;
use serde_json::Value;

use crate::connectors::settings::MappingMode;
use crate::connectors::ExternalProfile;
use crate::store::organizations::GrantSource;

use super::facts::{ConnectorFacts, UserFacts};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MappedGrant {
    pub rule: String,
    pub organization_id: String,
    pub organization_name: String,
    pub role_id: String,
    pub role_name: String,
    /// The value that matched.
    pub matched: String,
    /// The user is not a member yet (and no JIT join in this sign-in makes them one).
    pub new_membership: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MappedRevoke {
    pub rule: String,
    pub organization_id: String,
    pub organization_name: String,
    pub role_id: String,
    pub role_name: String,
}

/// Compiles a rule pattern anchored at both ends (a pattern must match a whole value).
pub fn compile_pattern(p: &str) -> Result<Regex, regex::Error> {
    regex::RegexBuilder::new(&format!("^(?:{p})$"))
        .size_limit(1 << 20)
        .build()
}

/// The values of `claim` in the profile: `groups` is the mapped groups; anything else is
/// looked up in the raw claims/attributes (a string or an array of strings).
pub fn claim_values(profile: &ExternalProfile, claim: &str) -> Vec<String> {
    if claim == "groups" {
        return profile.groups.clone();
    }
    match profile.raw.get(claim) {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        Some(Value::Bool(b)) => vec![b.to_string()],
        Some(Value::Number(n)) => vec![n.to_string()],
        _ => vec![],
    }
}

pub(super) fn evaluate_mappings(
    c: &ConnectorFacts,
    profile: &ExternalProfile,
    user: Option<&UserFacts>,
    joining: &[String],
) -> (Vec<MappedGrant>, Vec<MappedRevoke>, Vec<String>) {
    let mut grants = Vec::new();
    let mut revokes = Vec::new();
    let mut trace = Vec::new();
    for m in &c.mappings {
        let values = claim_values(profile, &m.claim);
        let matched = match (&m.value, &m.pattern) {
            (Some(v), _) => values.iter().find(|x| *x == v).cloned(),
            (None, Some(p)) => match compile_pattern(p) {
                Ok(re) => values.iter().find(|x| re.is_match(x)).cloned(),
                Err(_) => {
                    trace.push(format!("mapping {}: invalid pattern, skipped", m.rule));
                    None
                }
            },
            (None, None) => None,
        };
        let holds = user.is_some_and(|u| {
            u.grants.iter().any(|g| {
                g.organization_id == m.organization_id
                    && g.role_id == m.role_id
                    && g.source == GrantSource::Mapping
                    && g.connector_id.as_deref() == Some(c.id.as_str())
                    && g.mapping_rule.as_deref() == Some(m.rule.as_str())
            })
        });
        match matched {
            Some(value) => {
                if holds {
                    trace.push(format!(
                        "mapping {}: {} {value:?} matches; role {} in {} held already",
                        m.rule, m.claim, m.role_name, m.organization_name
                    ));
                    continue;
                }
                let member = user.is_some_and(|u| u.memberships.contains(&m.organization_id))
                    || joining.contains(&m.organization_id)
                    || grants
                        .iter()
                        .any(|g: &MappedGrant| g.organization_id == m.organization_id);
                trace.push(format!(
                    "mapping {}: {} {value:?} matches: grant {} in {}",
                    m.rule, m.claim, m.role_name, m.organization_name
                ));
                grants.push(MappedGrant {
                    rule: m.rule.clone(),
                    organization_id: m.organization_id.clone(),
                    organization_name: m.organization_name.clone(),
                    role_id: m.role_id.clone(),
                    role_name: m.role_name.clone(),
                    matched: value,
                    new_membership: !member,
                });
            }
            None if holds && m.mode == MappingMode::Sync => {
                trace.push(format!(
                    "mapping {} (sync): {} no longer asserted: revoke {} in {}",
                    m.rule, m.claim, m.role_name, m.organization_name
                ));
                revokes.push(MappedRevoke {
                    rule: m.rule.clone(),
                    organization_id: m.organization_id.clone(),
                    organization_name: m.organization_name.clone(),
                    role_id: m.role_id.clone(),
                    role_name: m.role_name.clone(),
                });
            }
            None if holds => trace.push(format!(
                "mapping {} (grant): no longer asserted; grant mode never revokes",
                m.rule
            )),
            None => {}
        }
    }
    (grants, revokes, trace)
}
