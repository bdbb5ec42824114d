//! Reading what the engine needs, inside the provisioning transaction.

use crate::connectors::{Connector, ExternalProfile};
use crate::signin::{
    ConnectorFacts, Facts, GrantFact, OrgFacts, ProfileFields, ResolvedMapping, UserFacts,
};
use crate::store::connectors as connector_store;
use crate::store::organizations::{self as orgs, Organization};
use crate::store::users::User;
use crate::store::{identities, users, AnyConnection, StoreError};

pub fn connector_facts(c: &Connector) -> ConnectorFacts {
    ConnectorFacts {
        id: c.id.clone(),
        kind: c.kind,
        create_accounts: c.settings.create_accounts,
        profile_sync: c.settings.profile_sync,
        claimed_domains: c.domains.clone(),
        trusts_verified_email: c
            .settings
            .social
            .as_ref()
            .is_some_and(|s| s.trusts_verified_email()),
        mappings: Vec::new(),
    }
}

/// The connector's role mapping rules with organization and role names resolved to ids.
/// A rule whose organization or role no longer exists is skipped (and logged).
pub async fn resolve_mappings(
    conn: &mut AnyConnection,
    c: &Connector,
) -> Result<Vec<ResolvedMapping>, StoreError> {
    let mut out = Vec::new();
    for m in c.settings.role_mappings.iter().cloned() {
        let (Some(org), Some(role)) = (
            orgs::get_by_name(conn, &m.organization).await?,
            orgs::role_by_name(conn, &m.role).await?,
        ) else {
            tracing::warn!(connector = %c.id, rule = %m.id, "role mapping names a missing organization or role; skipped");
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
