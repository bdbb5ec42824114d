//! `ssogate apply FILE`: idempotently upserts roles, connectors, organizations and apps from a
//! TOML file, like a realm import. Everything that needs the network or the disk (IdP
//! metadata, key files) is read first; then one transaction writes it all, or nothing.
//!
//! ```toml
//! [[roles]]
//! name = "member"
//!
//! [[connectors]]
//! id = "acme"
//! kind = "saml"
//! display_name = "Acme"
//! domains = ["acme.test"]
//! [connectors.saml]
//! idp_metadata_url = "https://idp.acme.test/metadata"
//! sp_entity_id = "https://login.example.com/saml/acme/metadata"
//! sp_private_key_file = "sp.key"     # optional: generated (and then kept) when absent
//! sp_certificate_file = "sp.crt"
//!
//! [[organizations]]
//! name = "Acme"
//! jit_connectors = ["acme"]
//! default_roles = ["member"]
//!
//! [[apps]]
//! name = "wiki"
//! origins = ["https://wiki.example.com"]
//! organizations = ["Acme"]
//! ```

use std::path::Path;

use serde::Deserialize;
use serde_json::json;

use crate::admin::connectors::{ConnectorInput, Sources};
use crate::admin::organizations::{OrganizationInput, RoleInput};
use crate::admin::{self, Actor, AdminError};
use crate::secrets::MasterKey;
use crate::store::audit::{self, NewAuditEvent};
use crate::store::connectors as connector_store;
use crate::store::{now_ms, Store};

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ApplyFile {
    #[serde(default)]
    pub roles: Vec<RoleInput>,
    #[serde(default)]
    pub connectors: Vec<ConnectorInput>,
    #[serde(default)]
    pub organizations: Vec<OrganizationInput>,
    /// Downstream apps (see [`crate::gateway::apps::AppInput`]).
    #[serde(default)]
    pub apps: Vec<crate::gateway::apps::AppInput>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("{file}: {cause}")]
    Read { file: String, cause: String },
    #[error("{0}")]
    Invalid(String),
    /// Refused by the admin layer (the same checks as the management API).
    #[error(transparent)]
    Admin(#[from] AdminError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// What one apply did, one line per object.
#[derive(Debug, Default)]
pub struct ApplyReport {
    pub lines: Vec<String>,
    /// What the configuration linter says about the result.
    pub warnings: Vec<crate::lint::LintWarning>,
}

pub struct ApplyContext<'a> {
    pub store: &'a Store,
    pub master_key: &'a MasterKey,
    pub http: &'a reqwest::Client,
    /// Relative paths in the file are resolved against this folder. None: file paths are
    /// refused (the management API must not read the server's files).
    pub base_dir: Option<&'a Path>,
    /// Refuse to apply when the linter warns.
    pub strict: bool,
}

pub fn parse_file(path: &Path) -> Result<ApplyFile, ApplyError> {
    let text = std::fs::read_to_string(path).map_err(|e| ApplyError::Read {
        file: path.display().to_string(),
        cause: e.to_string(),
    })?;
    toml::from_str(&text).map_err(|e| ApplyError::Read {
        file: path.display().to_string(),
        cause: e
            .to_string()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect::<Vec<_>>()
            .join(" "),
    })
}

/// Applies `file`: reads what it needs, then writes everything in one transaction through
/// the admin layer (each object validated and audited as through the API, actor `cli`),
/// plus one `config.applied` event naming what the file held.
pub async fn apply(file: &ApplyFile, ctx: &ApplyContext<'_>) -> Result<ApplyReport, ApplyError> {
    let mut report = ApplyReport::default();
    let actor = Actor::cli();
    let sources = Sources {
        master_key: ctx.master_key,
        http: ctx.http,
        base_dir: ctx.base_dir,
    };
    // 1. Prepare connectors (network and disk) outside the transaction.
    let mut records = Vec::new();
    {
        let mut conn = ctx.store.read().await?;
        for spec in &file.connectors {
            let existing = connector_store::get(&mut conn, &spec.id).await?;
            let rec = admin::connectors::prepare(spec, existing.as_ref(), &sources).await?;
            records.push((rec, existing));
        }
    }
    // 2. Write.
    let mut tx = ctx.store.begin().await?;
    for r in &file.roles {
        admin::organizations::save_role(&mut tx, r, &actor).await?;
        report.lines.push(format!("role {}: applied", r.name));
    }
    for (rec, existing) in &records {
        // A change made meanwhile (e.g. an SP key staged through the API) is not overwritten.
        let created = admin::connectors::save(&mut tx, rec, existing.as_ref(), &actor).await?;
        report.lines.push(format!(
            "connector {}: {}",
            rec.id,
            if created { "created" } else { "updated" }
        ));
    }
    for o in &file.organizations {
        admin::organizations::save(&mut tx, o, &actor).await?;
        report
            .lines
            .push(format!("organization {}: applied", o.name));
    }
    for app in &file.apps {
        let (rec, created) = admin::apps::save(&mut tx, app, false, &actor).await?;
        report.lines.push(format!(
            "app {}: {}",
            rec.name,
            if created { "created" } else { "updated" }
        ));
    }
    // Mapping rules may name organizations this file creates: checked once they exist.
    for spec in &file.connectors {
        admin::connectors::check_mapping_targets(&mut tx, &spec.id, &spec.role_mappings).await?;
    }
    audit::record(
        &mut tx,
        &NewAuditEvent {
            kind: "config.applied".into(),
            actor: Some("cli".into()),
            data: json!({
                "roles": file.roles.iter().map(|r| &r.name).collect::<Vec<_>>(),
                "connectors": file.connectors.iter().map(|c| &c.id).collect::<Vec<_>>(),
                "organizations": file.organizations.iter().map(|o| &o.name).collect::<Vec<_>>(),
                "apps": file.apps.iter().map(|a| &a.name).collect::<Vec<_>>(),
                "at": now_ms(),
            }),
            ..Default::default()
        },
    )
    .await?;
    report.warnings = crate::lint::lint_store(&mut tx).await?;
    if ctx.strict && !report.warnings.is_empty() {
        tx.rollback()
            .await
            .map_err(crate::store::StoreError::from)?;
        let codes: Vec<&str> = report.warnings.iter().map(|w| w.code).collect();
        return Err(ApplyError::Invalid(format!(
            "--strict: the linter warns ({}); nothing was applied",
            codes.join(", ")
        )));
    }
    tx.commit().await.map_err(crate::store::StoreError::from)?;
    Ok(report)
}
