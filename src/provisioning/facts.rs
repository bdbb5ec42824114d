//! Reading what the engine needs, inside the provisioning transaction.

use crate::connectors::settings::ConnectorSettings;
use crate::connectors::{ConnectorKind, ExternalProfile};
use crate::signin::{
    ConnectorFacts, Facts, GrantFact, OrgFacts, ProfileFields, ResolvedMapping, UserFacts,
};
use crate::store::connectors::{self as connector_store, ConnectorRecord};
use crate::store::organizations::{self as orgs, Organization};
use crate::store::users::User;
use crate::store::{identities, users, AnyConnection, StoreError};

pub fn connector_facts(rec: &ConnectorRecord) -> Result<ConnectorFacts, StoreError> {
    let kind = ConnectorKind::parse(&rec.kind)
        .ok_or_else(|| StoreError::Corrupt(format!("connector kind {:?}", rec.kind)))?;
    let settings: ConnectorSettings = serde_json::from_value(rec.config.clone())
        .map_err(|e| StoreError::Corrupt(format!("connector {} settings: {e}", rec.id)))?;
    Ok(ConnectorFacts {
        id: rec.id.clone(),
        kind,
        create_accounts: settings.create_accounts,
        profile_sync: settings.profile_sync,
        claimed_domains: rec.domains.clone(),
        trusts_verified_email: settings
            .social
            .as_ref()
            .is_some_and(|s| s.trusts_verified_email()),
        mappings: Vec::new(),
    })
}

/// The connector's role mapping rules with organization and role names resolved to ids.
/// A rule whose organization or role no longer exists is skipped (and logged).
pub async fn resolve_mappings(
    conn: &mut AnyConnection,
    rec: &ConnectorRecord,
) -> Result<Vec<ResolvedMapping>, StoreError> {
    let settings: ConnectorSettings = serde_json::from_value(rec.config.clone())
        .map_err(|e| StoreError::Corrupt(format!("connector {} settings: {e}", rec.id)))?;
    let mut out = Vec::new();
    for m in settings.role_mappings {
        let (Some(org), Some(role)) = (
            orgs::get_by_name(conn, &m.organization).await?,
            orgs::role_by_name(conn, &m.role).await?,
        ) else {
            tracing::warn!(connector = %rec.id, rule = %m.id, "role mapping names a missing organization or role; skipped");
            continue;
        };
        out.push(ResolvedMapping {
            rule: m.id,
            claim: m.claim,
            value: m.value,
            pattern: m.pattern,
            organization_id: org.id,
            organization_name: org.name,
            role_id: role.id,
            role_name: role.name,
            mode: m.mode,
        });
    }
    Ok(out)
}

async fn user_facts(
    conn: &mut AnyConnection,
    c: &ConnectorFacts,
    u: User,
) -> Result<UserFacts, StoreError> {
    let grants = orgs::grants_of(conn, &u.id).await?;
    let memberships = orgs::memberships_of(conn, &u.id).await?;
    let connector_subjects = identities::list_for_user(conn, &u.id)
        .await?
        .into_iter()
        .filter(|i| i.connector_id == c.id)
        .map(|i| i.subject)
        .collect();
    Ok(UserFacts {
        id: u.id,
        suspended: u.suspended,
        email: u.email,
        email_verified: u.email_verified,
        profile: ProfileFields {
            given_name: u.given_name,
            family_name: u.family_name,
            name: u.name,
            picture: u.picture,
        },
        grants: grants
            .into_iter()
            .map(|g| GrantFact {
                organization_id: g.organization_id,
                role_id: g.role_id,
                source: g.source,
                connector_id: g.connector_id,
                mapping_rule: g.mapping_rule,
            })
            .collect(),
        memberships,
        connector_subjects,
    })
}

fn org_facts(list: Vec<Organization>) -> Vec<OrgFacts> {
    list.into_iter()
        .map(|o| OrgFacts {
            id: o.id,
            name: o.name,
            default_roles: o.default_roles,
        })
        .collect()
}

pub async fn load_facts(
    conn: &mut AnyConnection,
    c: &ConnectorFacts,
    profile: &ExternalProfile,
) -> Result<Facts, StoreError> {
    let linked_user = match identities::find(conn, &c.id, &profile.subject).await? {
        Some(identity) => match users::get(conn, &identity.user_id).await? {
            Some(u) => Some(user_facts(conn, c, u).await?),
            None => None,
        },
        None => None,
    };
    let email = crate::signin::profile_email(profile);
    // Usually the linked user is the one with this email: reuse what was read.
    let user_with_email = match &email {
        Some(e)
            if linked_user
                .as_ref()
                .is_some_and(|u| u.email.as_deref() == Some(e.as_str())) =>
        {
            linked_user.clone()
        }
        Some(e) => match users::find_by_email(conn, e).await? {
            Some(u) => Some(user_facts(conn, c, u).await?),
            None => None,
        },
        None => None,
    };
    let sso_jit_orgs = if c.kind.is_enterprise() {
        org_facts(orgs::with_jit_connector(conn, &c.id).await?)
    } else {
        vec![]
    };
    let (email_domain_jit_orgs, domain_claimed_by) = match &email {
        Some(e) => {
            let jit = if c.kind.is_enterprise() {
                vec![]
            } else {
                org_facts(orgs::with_jit_email_domain(conn, e.domain()).await?)
            };
            let mut claimed = Vec::new();
            for (connector_id, _) in connector_store::claiming_domain(conn, e.domain()).await? {
                if connector_id != c.id && !claimed.contains(&connector_id) {
                    claimed.push(connector_id);
                }
            }
            (jit, claimed)
        }
        None => (vec![], vec![]),
    };
    Ok(Facts {
        linked_user,
        user_with_email,
        sso_jit_orgs,
        email_domain_jit_orgs,
        domain_claimed_by,
    })
}
