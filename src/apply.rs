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

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::json;

use crate::address::normalize_domain;
use crate::connectors::saml::keys::SpKeyPair;
use crate::connectors::saml::metadata::{fetch_idp_metadata, parse_idp_metadata};
use crate::connectors::secrets::ConnectorSecrets;
use crate::connectors::secrets::SecretsError;
use crate::connectors::settings::{
    AttributeMapping, ConnectorSettings, OidcSettings, ProfileSync, RoleMapping, SamlSettings,
};
use crate::connectors::{trust_anchor, valid_connector_id, Connector, ConnectorKind};
use crate::secrets::MasterKey;
use crate::store::audit::{self, NewAuditEvent};
use crate::store::connectors::{self as connector_store, ConnectorRecord};
use crate::store::organizations::{self as org_store, OrganizationSpec};
use crate::store::{now_ms, Store};

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ApplyFile {
    #[serde(default)]
    pub roles: Vec<RoleSpec>,
    #[serde(default)]
    pub connectors: Vec<ConnectorSpec>,
    #[serde(default)]
    pub organizations: Vec<OrganizationFileSpec>,
    /// Downstream apps (see [`crate::gateway::apps::AppInput`]).
    #[serde(default)]
    pub apps: Vec<crate::gateway::apps::AppInput>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleSpec {
    pub name: String,
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectorSpec {
    /// Required in files; the API takes it from the path.
    #[serde(default)]
    pub id: String,
    pub kind: String,
    pub display_name: Option<String>,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub domains: Vec<String>,
    #[serde(default = "yes")]
    pub create_accounts: bool,
    #[serde(default = "yes")]
    pub route_domains: bool,
    #[serde(default)]
    pub profile_sync: ProfileSync,
    pub saml: Option<SamlSpec>,
    pub oidc: Option<OidcSpec>,
    pub social: Option<crate::connectors::settings::SocialSettings>,
    /// Group/claim → organization-role mapping rules.
    #[serde(default)]
    pub role_mappings: Vec<RoleMapping>,
    /// Accept a plain-http metadata URL or issuer on a non-loopback host (optional,
    /// default false; see [`crate::connectors::trust_anchor`]).
    #[serde(default)]
    pub allow_insecure_http: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SamlSpec {
    pub idp_metadata_url: Option<String>,
    pub idp_metadata_file: Option<PathBuf>,
    pub idp_metadata_xml: Option<String>,
    pub sp_entity_id: Option<String>,
    pub sp_private_key_file: Option<PathBuf>,
    pub sp_certificate_file: Option<PathBuf>,
    /// The same as PEM text (the API accepts only these, never file paths).
    pub sp_private_key_pem: Option<String>,
    pub sp_certificate_pem: Option<String>,
    #[serde(default)]
    pub sign_authn_requests: bool,
    #[serde(default)]
    pub allow_idp_initiated: bool,
    #[serde(default)]
    pub allow_sha1: bool,
    pub attributes: Option<AttributeMapping>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcSpec {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Option<String>,
    /// Name of an environment variable holding the client secret (keeps it out of files).
    pub client_secret_env: Option<String>,
    pub scopes: Option<Vec<String>>,
    pub id_token_algorithms: Option<Vec<String>>,
    pub claims: Option<AttributeMapping>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrganizationFileSpec {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub jit_email_domains: Vec<String>,
    #[serde(default)]
    pub jit_connectors: Vec<String>,
    /// Role names from the organization template.
    #[serde(default)]
    pub default_roles: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("{file}: {cause}")]
    Read { file: String, cause: String },
    #[error("{0}")]
    Invalid(String),
    /// A plain-http trust anchor (its own error code in the API).
    #[error("{who}: {cause}")]
    InsecureTrustAnchor {
        who: String,
        cause: crate::connectors::trust_anchor::InsecureTrustAnchor,
    },
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

impl From<SecretsError> for ApplyError {
    fn from(e: SecretsError) -> Self {
        ApplyError::Invalid(e.0)
    }
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

fn read_relative(base: Option<&Path>, p: &Path, what: &str) -> Result<String, ApplyError> {
    let Some(base) = base else {
        return Err(ApplyError::Invalid(format!(
            "{what}: file paths are not accepted here; give the content inline"
        )));
    };
    let full = if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    };
    std::fs::read_to_string(&full).map_err(|e| ApplyError::Read {
        file: format!("{what} {}", full.display()),
        cause: e.to_string(),
    })
}

fn normalize_domains(list: &[String], whose: &str) -> Result<Vec<String>, ApplyError> {
    let mut out: Vec<String> = Vec::new();
    for d in list {
        let n = normalize_domain(d)
            .map_err(|_| ApplyError::Invalid(format!("{whose}: {d:?} is not a valid domain")))?;
        if !out.contains(&n) {
            out.push(n);
        }
    }
    Ok(out)
}

/// Builds the row for a connector spec. `existing` keeps a generated SP key pair across
/// applies that do not name one.
pub async fn prepare_connector(
    spec: &ConnectorSpec,
    existing: Option<&ConnectorRecord>,
    ctx: &ApplyContext<'_>,
) -> Result<ConnectorRecord, ApplyError> {
    let who = format!("connector {:?}", spec.id);
    if !valid_connector_id(&spec.id) {
        return Err(ApplyError::Invalid(format!(
            "{who}: ids are 1-64 characters of a-z, 0-9, - and _"
        )));
    }
    let kind = ConnectorKind::parse(&spec.kind).ok_or_else(|| {
        ApplyError::Invalid(format!("{who}: kind must be saml, oidc, social or email"))
    })?;
    let domains = normalize_domains(&spec.domains, &who)?;
    let mut secrets = match existing {
        Some(rec) => ConnectorSecrets::open(rec, ctx.master_key)?,
        None => ConnectorSecrets::default(),
    };
    validate_mappings(&spec.role_mappings)
        .map_err(|e| ApplyError::Invalid(format!("{who}: {e}")))?;
    let mut settings = ConnectorSettings {
        create_accounts: spec.create_accounts,
        route_domains: spec.route_domains,
        profile_sync: spec.profile_sync,
        saml: None,
        oidc: None,
        social: None,
        role_mappings: spec.role_mappings.clone(),
        allow_insecure_http: spec.allow_insecure_http,
    };
    let insecure = |cause| ApplyError::InsecureTrustAnchor {
        who: who.clone(),
        cause,
    };
    match kind {
        ConnectorKind::Saml => {
            let s = spec.saml.as_ref().ok_or_else(|| {
                ApplyError::Invalid(format!("{who}: kind saml needs a [connectors.saml] table"))
            })?;
            let (xml, url) = match (&s.idp_metadata_url, &s.idp_metadata_file, &s.idp_metadata_xml) {
                (Some(url), None, None) => {
                    // Checked before fetching: nothing is requested over an insecure URL.
                    trust_anchor::check(url, spec.allow_insecure_http).map_err(insecure)?;
                    let (xml, _) = fetch_idp_metadata(ctx.http, url).await.map_err(|e| ApplyError::Invalid(format!("{who}: {e}")))?;
                    (xml, Some(url.clone()))
                }
                (None, Some(file), None) => (read_relative(ctx.base_dir, file, "IdP metadata")?, None),
                (None, None, Some(xml)) => (xml.clone(), None),
                _ => {
                    return Err(ApplyError::Invalid(format!(
                        "{who}: give exactly one of idp_metadata_url, idp_metadata_file, idp_metadata_xml"
                    )))
                }
            };
            let md =
                parse_idp_metadata(&xml).map_err(|e| ApplyError::Invalid(format!("{who}: {e}")))?;
            let sso_url = md.sso_url_redirect.clone().ok_or_else(|| {
                ApplyError::Invalid(format!(
                    "{who}: the IdP has no HTTP-Redirect SingleSignOnService"
                ))
            })?;
            let given_key = match (&s.sp_private_key_file, &s.sp_private_key_pem) {
                (Some(k), None) => Some(read_relative(ctx.base_dir, k, "SP private key")?),
                (None, Some(pem)) => Some(pem.clone()),
                (None, None) => None,
                _ => {
                    return Err(ApplyError::Invalid(format!(
                        "{who}: give sp_private_key_file or sp_private_key_pem, not both"
                    )))
                }
            };
            let given_cert = match (&s.sp_certificate_file, &s.sp_certificate_pem) {
                (Some(c), None) => Some(read_relative(ctx.base_dir, c, "SP certificate")?),
                (None, Some(pem)) => Some(pem.clone()),
                (None, None) => None,
                _ => {
                    return Err(ApplyError::Invalid(format!(
                        "{who}: give sp_certificate_file or sp_certificate_pem, not both"
                    )))
                }
            };
            let existing_saml = existing
                .and_then(|r| Connector::from_record(r.clone()).ok())
                .and_then(|c| c.settings.saml);
            let pair = match (given_key, given_cert) {
                (Some(key), Some(cert)) => SpKeyPair::from_pem(&key, &cert)
                    .map_err(|e| ApplyError::Invalid(format!("{who}: {e}")))?,
                (None, None) => {
                    let kept = existing_saml
                        .as_ref()
                        .map(|saml| saml.sp_certificate_pem.clone())
                        .zip(secrets.sp_private_key_pem.clone());
                    match kept {
                        Some((cert, key)) => SpKeyPair {
                            private_key_pem: key,
                            certificate_pem: cert,
                        },
                        None => SpKeyPair::generate(&format!("ssogate SP {}", spec.id))
                            .map_err(|e| ApplyError::Invalid(format!("{who}: {e}")))?,
                    }
                }
                _ => {
                    return Err(ApplyError::Invalid(format!(
                        "{who}: give both the SP private key and the SP certificate, or neither"
                    )))
                }
            };
            // A new key is an immediate rotation: the old one keeps decrypting until the next
            // change (rotation overlap) and a staged next key is dropped. The same key again
            // (re-applying the same file) keeps a staged next key.
            let same_key = secrets.sp_private_key_pem.as_ref() == Some(&pair.private_key_pem);
            let next_certificate = existing_saml
                .and_then(|saml| saml.next_sp_certificate_pem)
                .filter(|_| same_key && secrets.next_sp_private_key_pem.is_some());
            if !same_key {
                secrets.rotate_sp_key(pair.private_key_pem.clone());
            } else if next_certificate.is_none() {
                secrets.next_sp_private_key_pem = None;
            }
            settings.saml = Some(SamlSettings {
                sp_entity_id: s.sp_entity_id.clone(),
                idp_metadata_url: url,
                idp_metadata_xml: xml,
                idp_entity_id: md.entity_id,
                idp_sso_url: sso_url,
                idp_signing_certificates: md.signing_certificates,
                sp_certificate_pem: pair.certificate_pem,
                next_sp_certificate_pem: next_certificate,
                sign_authn_requests: s.sign_authn_requests,
                allow_idp_initiated: s.allow_idp_initiated,
                allow_sha1: s.allow_sha1,
                attributes: s
                    .attributes
                    .clone()
                    .unwrap_or_else(AttributeMapping::saml_default),
            });
        }
        ConnectorKind::Oidc => {
            let o = spec.oidc.as_ref().ok_or_else(|| {
                ApplyError::Invalid(format!("{who}: kind oidc needs a [connectors.oidc] table"))
            })?;
            let issuer = url::Url::parse(&o.issuer)
                .map_err(|e| ApplyError::Invalid(format!("{who}: oidc.issuer: {e}")))?;
            if !matches!(issuer.scheme(), "http" | "https") {
                return Err(ApplyError::Invalid(format!(
                    "{who}: oidc.issuer must be an http(s) URL"
                )));
            }
            trust_anchor::check_named("issuer", &o.issuer, spec.allow_insecure_http)
                .map_err(insecure)?;
            let secret = match (&o.client_secret, &o.client_secret_env) {
                (Some(s), None) => Some(s.clone()),
                (None, Some(var)) => Some(std::env::var(var).map_err(|_| {
                    ApplyError::Invalid(format!(
                        "{who}: oidc.client_secret_env: environment variable {var} is not set"
                    ))
                })?),
                (None, None) => None,
                _ => {
                    return Err(ApplyError::Invalid(format!(
                        "{who}: give client_secret or client_secret_env, not both"
                    )))
                }
            };
            if let Some(s) = secret {
                secrets.client_secret = Some(s);
            }
            let mut oidc = OidcSettings {
                issuer: o.issuer.clone(),
                client_id: o.client_id.clone(),
                scopes: vec!["openid".into(), "email".into(), "profile".into()],
                id_token_algorithms: vec![
                    "RS256".into(),
                    "ES256".into(),
                    "PS256".into(),
                    "EdDSA".into(),
                ],
                claims: o
                    .claims
                    .clone()
                    .unwrap_or_else(AttributeMapping::oidc_default),
            };
            if let Some(scopes) = &o.scopes {
                oidc.scopes = scopes.clone();
            }
            if let Some(algs) = &o.id_token_algorithms {
                if algs.iter().any(|a| a.eq_ignore_ascii_case("none")) {
                    return Err(ApplyError::Invalid(format!(
                        "{who}: id_token_algorithms must not contain \"none\""
                    )));
                }
                oidc.id_token_algorithms = algs.clone();
            }
            settings.oidc = Some(oidc);
        }
        ConnectorKind::Social => {
            let social = spec.social.clone().ok_or_else(|| {
                ApplyError::Invalid(format!(
                    "{who}: kind social needs a [connectors.social] table"
                ))
            })?;
            if !["google", "github", "oidc", "oauth2"].contains(&social.provider.as_str()) {
                return Err(ApplyError::Invalid(format!(
                    "{who}: social.provider must be google, github, oidc or oauth2"
                )));
            }
            settings.social = Some(social);
        }
        ConnectorKind::Email => {
            return Err(ApplyError::Invalid(format!(
                "{who}: kind email is not supported by apply yet"
            )));
        }
    }
    let sealed = if secrets.sp_private_key_pem.is_some() || secrets.client_secret.is_some() {
        Some(secrets.seal(&spec.id, ctx.master_key)?)
    } else {
        None
    };
    Ok(ConnectorRecord {
        id: spec.id.clone(),
        kind: kind.as_str().to_string(),
        display_name: spec.display_name.clone().unwrap_or_else(|| spec.id.clone()),
        enabled: spec.enabled,
        config: serde_json::to_value(&settings).map_err(|e| ApplyError::Invalid(e.to_string()))?,
        secrets: sealed,
        domains,
        created_at: 0,
        updated_at: 0,
    })
}

/// Checks mapping rules that need no database: ids, exactly one matcher, valid regexes.
pub fn validate_mappings(rules: &[RoleMapping]) -> Result<(), String> {
    let mut ids = std::collections::HashSet::new();
    for r in rules {
        if r.id.trim().is_empty() || !ids.insert(r.id.as_str()) {
            return Err(format!(
                "role mapping ids must be non-empty and unique ({:?})",
                r.id
            ));
        }
        match (&r.value, &r.pattern) {
            (Some(_), None) => {}
            (None, Some(p)) => {
                crate::signin::compile_pattern(p)
                    .map_err(|e| format!("role mapping {:?}: pattern: {e}", r.id))?;
            }
            _ => {
                return Err(format!(
                    "role mapping {:?}: give exactly one of value and pattern",
                    r.id
                ))
            }
        }
        if r.claim.trim().is_empty() || r.organization.trim().is_empty() || r.role.trim().is_empty()
        {
            return Err(format!(
                "role mapping {:?}: claim, organization and role are required",
                r.id
            ));
        }
    }
    Ok(())
}

/// Mapping rules must name an existing organization and a role of the template.
pub async fn check_mapping_targets(
    conn: &mut crate::store::AnyConnection,
    connector_id: &str,
    rules: &[RoleMapping],
) -> Result<(), ApplyError> {
    for r in rules {
        if org_store::get_by_name(conn, &r.organization)
            .await?
            .is_none()
        {
            return Err(ApplyError::Invalid(format!(
                "connector {connector_id:?}: role mapping {:?}: organization {:?} does not exist",
                r.id, r.organization
            )));
        }
        if org_store::role_by_name(conn, &r.role).await?.is_none() {
            return Err(ApplyError::Invalid(format!(
                "connector {connector_id:?}: role mapping {:?}: role {:?} is not a role of the organization template",
                r.id, r.role
            )));
        }
    }
    Ok(())
}

/// Applies `file`: reads what it needs, then writes everything in one transaction.
pub async fn apply(file: &ApplyFile, ctx: &ApplyContext<'_>) -> Result<ApplyReport, ApplyError> {
    let mut report = ApplyReport::default();
    // 1. Prepare connectors (network and disk) outside the transaction.
    let mut records = Vec::new();
    {
        let mut conn = ctx.store.read().await?;
        for spec in &file.connectors {
            let existing = connector_store::get(&mut conn, &spec.id).await?;
            let rec = prepare_connector(spec, existing.as_ref(), ctx).await?;
            records.push((rec, existing));
        }
    }
    for o in &file.organizations {
        normalize_domains(&o.jit_email_domains, &format!("organization {:?}", o.name))?;
    }
    // 2. Write.
    let mut tx = ctx.store.begin().await?;
    for r in &file.roles {
        if r.name.trim().is_empty() {
            return Err(ApplyError::Invalid("a role needs a name".into()));
        }
        org_store::upsert_role(&mut tx, &r.name, &r.description).await?;
        report.lines.push(format!("role {}: applied", r.name));
    }
    for (rec, existing) in &records {
        // A change made meanwhile (e.g. an SP key staged through the API) is not overwritten.
        if !connector_store::unchanged_since(&mut tx, &rec.id, existing.as_ref()).await? {
            return Err(ApplyError::Invalid(format!(
                "connector {:?} changed while this file was being applied; apply it again",
                rec.id
            )));
        }
        let created = connector_store::upsert(&mut tx, rec).await?;
        report.lines.push(format!(
            "connector {}: {}",
            rec.id,
            if created { "created" } else { "updated" }
        ));
    }
    for o in &file.organizations {
        let who = format!("organization {:?}", o.name);
        let mut role_ids = Vec::new();
        for name in &o.default_roles {
            let role = org_store::role_by_name(&mut tx, name)
                .await?
                .ok_or_else(|| {
                    ApplyError::Invalid(format!(
                        "{who}: default role {name:?} is not a role of the organization template"
                    ))
                })?;
            role_ids.push(role.id);
        }
        for c in &o.jit_connectors {
            let rec = connector_store::get(&mut tx, c).await?.ok_or_else(|| {
                ApplyError::Invalid(format!("{who}: JIT connector {c:?} does not exist"))
            })?;
            if !Connector::from_record(rec).is_ok_and(|c| c.kind.is_enterprise()) {
                return Err(ApplyError::Invalid(format!(
                    "{who}: JIT connector {c:?} is not an enterprise SSO connector"
                )));
            }
        }
        let spec = OrganizationSpec {
            name: o.name.clone(),
            description: o.description.clone(),
            jit_email_domains: normalize_domains(&o.jit_email_domains, &who)?,
            jit_connectors: o.jit_connectors.clone(),
            default_roles: role_ids,
        };
        org_store::upsert(&mut tx, &spec).await?;
        report
            .lines
            .push(format!("organization {}: applied", o.name));
    }
    for app in &file.apps {
        let (rec, created) =
            crate::gateway::apps::save(&mut tx, app)
                .await
                .map_err(|e| match e {
                    crate::gateway::apps::AppInputError::Store(s) => ApplyError::Store(s),
                    other => ApplyError::Invalid(other.to_string()),
                })?;
        report.lines.push(format!(
            "app {}: {}",
            rec.name,
            if created { "created" } else { "updated" }
        ));
    }
    for spec in &file.connectors {
        check_mapping_targets(&mut tx, &spec.id, &spec.role_mappings).await?;
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
