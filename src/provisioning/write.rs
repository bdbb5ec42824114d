//! Writing one decision. Every write of a sign-in happens here, inside the caller's
//! transaction, with its audit event next to it.

use serde_json::json;

use super::{raw_profile, AuditContext};
use crate::address::Email;
use crate::connectors::ExternalProfile;
use crate::signin::{ConnectorFacts, Decision, Outcome};
use crate::store::audit::{self, NewAuditEvent};
use crate::store::organizations::{self as orgs, GrantSource, RoleGrant};
use crate::store::users::{self, Profile};
use crate::store::{identities, now_ms, AnyConnection, StoreError};

async fn event(
    conn: &mut AnyConnection,
    ctx: &AuditContext,
    kind: &str,
    user_id: &str,
    connector_id: &str,
    organization_id: Option<&str>,
    data: serde_json::Value,
) -> Result<(), StoreError> {
    audit::record(
        conn,
        &NewAuditEvent {
            kind: kind.into(),
            request_id: ctx.request_id.clone(),
            actor: Some(format!("user:{user_id}")),
            user_id: Some(user_id.to_string()),
            organization_id: organization_id.map(str::to_string),
            connector_id: Some(connector_id.to_string()),
            reason: None,
            data,
        },
    )
    .await
    .map(|_| ())
}

/// Writes `d` (not a refusal) and returns the user id. Unique-constraint races come
/// back as `StoreError::Conflict`: the caller rolls back and retries.
pub async fn write_decision(
    conn: &mut AnyConnection,
    c: &ConnectorFacts,
    profile: &ExternalProfile,
    d: &Decision,
    ctx: &AuditContext,
) -> Result<String, StoreError> {
    let raw = raw_profile(profile);
    let user_id = match &d.outcome {
        Outcome::Refuse { reason, .. } => {
            return Err(StoreError::Corrupt(format!(
                "write_decision called with a refusal ({})",
                reason.code()
            )))
        }
        Outcome::Create => {
            let email = match &d.new_user_email {
                Some(e) => Some(
                    Email::parse(e)
                        .map_err(|_| StoreError::Corrupt("planned email is invalid".into()))?,
                ),
                None => None,
            };
            let p = &d.new_user_profile;
            let user = users::insert(
                conn,
                &Profile {
                    email_verified: email.is_some(),
                    email,
                    given_name: p.given_name.clone(),
                    family_name: p.family_name.clone(),
                    name: p.name.clone(),
                    picture: p.picture.clone(),
                    custom_attributes: serde_json::Value::Null,
                },
            )
            .await?;
            identities::link(conn, &user.id, &c.id, &profile.subject, &raw).await?;
            event(
                conn,
                ctx,
                "user.created",
                &user.id,
                &c.id,
                None,
                json!({ "email": user.email, "given_name": user.given_name, "family_name": user.family_name, "name": user.name }),
            )
            .await?;
            event(
                conn,
                ctx,
                "identity.linked",
                &user.id,
                &c.id,
                None,
                json!({ "subject": profile.subject, "new_user": true }),
            )
            .await?;
            user.id
        }
        Outcome::Link { user_id } => {
            identities::link(conn, user_id, &c.id, &profile.subject, &raw).await?;
            event(
                conn,
                ctx,
                "identity.linked",
                user_id,
                &c.id,
                None,
                json!({ "subject": profile.subject, "new_user": false }),
            )
            .await?;
            user_id.clone()
        }
        Outcome::SignIn { user_id } => {
            // The facts read the identity in this same transaction; only a concurrent
            // removal can make this miss.
            if !identities::record_sign_in(conn, &c.id, &profile.subject, &raw).await? {
                return Err(StoreError::Conflict("identity vanished"));
            }
            user_id.clone()
        }
    };

    // Profile sync.
    if !d.profile_changes.is_empty() || d.email_change.is_some() {
        let current = users::get(conn, &user_id)
            .await?
            .ok_or(StoreError::NotFound("user"))?;
        let mut p = Profile {
            email: match &current.email {
                Some(e) => Some(
                    Email::parse(e)
                        .map_err(|_| StoreError::Corrupt("stored email is invalid".into()))?,
                ),
                None => None,
            },
            email_verified: current.email_verified,
            given_name: current.given_name.clone(),
            family_name: current.family_name.clone(),
            name: current.name.clone(),
            picture: current.picture.clone(),
            custom_attributes: current.custom_attributes.clone(),
        };
        for ch in &d.profile_changes {
            let slot = match ch.field {
                "given_name" => &mut p.given_name,
                "family_name" => &mut p.family_name,
                "name" => &mut p.name,
                "picture" => &mut p.picture,
                _ => continue,
            };
            *slot = ch.new.clone();
        }
        if let Some(ec) = &d.email_change {
            p.email = Some(
                Email::parse(&ec.new)
                    .map_err(|_| StoreError::Corrupt("planned email is invalid".into()))?,
            );
            p.email_verified = ec.verified;
        }
        match users::update_profile(conn, &user_id, &p).await {
            Ok(_) => {}
            // Another account took the address meanwhile: retry from fresh facts (the
            // engine then records a conflict instead).
            Err(StoreError::Conflict(w)) => return Err(StoreError::Conflict(w)),
            Err(e) => return Err(e),
        }
        let changes: Vec<_> = d
            .profile_changes
            .iter()
            .map(|ch| json!({ "field": ch.field, "old": ch.old, "new": ch.new }))
            .chain(d.email_change.iter().map(|ec| json!({ "field": "email", "old": ec.old, "new": ec.new, "verified": ec.verified })))
            .collect();
        event(
            conn,
            ctx,
            "profile.synced",
            &user_id,
            &c.id,
            None,
            json!({ "changes": changes }),
        )
        .await?;
    }
    for conflict in &d.conflicts {
        event(
            conn,
            ctx,
            "profile.sync_conflict",
            &user_id,
            &c.id,
            None,
            json!({ "field": conflict.field, "kept": conflict.kept, "offered": conflict.offered, "reason": conflict.reason }),
        )
        .await?;
    }

    // JIT: memberships and the missing grants.
    for j in &d.joins {
        let new_member = orgs::ensure_membership(conn, &j.organization_id, &user_id).await?;
        if new_member {
            event(
                conn,
                ctx,
                "organization.joined",
                &user_id,
                &c.id,
                Some(&j.organization_id),
                json!({ "organization": j.organization_name, "rule": j.rule }),
            )
            .await?;
        }
        for role_id in &j.grant_roles {
            let g = RoleGrant {
                organization_id: j.organization_id.clone(),
                user_id: user_id.clone(),
                role_id: role_id.clone(),
                source: j.source,
                connector_id: Some(j.connector_id.clone()),
                mapping_rule: None,
            };
            if orgs::grant_role(conn, &g).await? {
                event(
                    conn,
                    ctx,
                    "role.granted",
                    &user_id,
                    &c.id,
                    Some(&j.organization_id),
                    json!({ "role_id": role_id, "source": j.source, "rule": j.rule }),
                )
                .await?;
            }
        }
    }

    // Role mapping: grants carry their rule; a sync rule revokes only its own grants.
    for g in &d.mapping_grants {
        if orgs::ensure_membership(conn, &g.organization_id, &user_id).await? {
            event(
                conn,
                ctx,
                "organization.joined",
                &user_id,
                &c.id,
                Some(&g.organization_id),
                json!({ "organization": g.organization_name, "rule": { "rule": "mapping", "mapping": g.rule } }),
            )
            .await?;
        }
        let grant = RoleGrant {
            organization_id: g.organization_id.clone(),
            user_id: user_id.clone(),
            role_id: g.role_id.clone(),
            source: GrantSource::Mapping,
            connector_id: Some(c.id.clone()),
            mapping_rule: Some(g.rule.clone()),
        };
        if orgs::grant_role(conn, &grant).await? {
            event(
                conn,
                ctx,
                "role.granted",
                &user_id,
                &c.id,
                Some(&g.organization_id),
                json!({ "role_id": g.role_id, "role": g.role_name, "source": "mapping", "mapping": g.rule, "matched": g.matched }),
            )
            .await?;
        }
    }
    for r in &d.mapping_revokes {
        let grant = RoleGrant {
            organization_id: r.organization_id.clone(),
            user_id: user_id.clone(),
            role_id: r.role_id.clone(),
            source: GrantSource::Mapping,
            connector_id: Some(c.id.clone()),
            mapping_rule: Some(r.rule.clone()),
        };
        if orgs::revoke_grant(conn, &grant).await? {
            event(
                conn,
                ctx,
                "role.revoked",
                &user_id,
                &c.id,
                Some(&r.organization_id),
                json!({ "role_id": r.role_id, "role": r.role_name, "source": "mapping", "mapping": r.rule }),
            )
            .await?;
        }
    }

    users::record_sign_in(conn, &user_id, now_ms()).await?;
    let result = match &d.outcome {
        Outcome::Create => "created",
        Outcome::Link { .. } => "linked",
        _ => "signed_in",
    };
    event(
        conn,
        ctx,
        "signin.succeeded",
        &user_id,
        &c.id,
        None,
        json!({ "result": result, "subject": profile.subject, "trace": d.trace }),
    )
    .await?;
    Ok(user_id)
}
