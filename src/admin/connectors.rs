//! Connectors as an administrator writes them: the input shape (a `[[connectors]]` table,
//! or the API's JSON body), building the stored row from it (IdP metadata fetched or read,
//! SP key pair kept, given or generated, secrets sealed), and writing it with its audit
//! event. The management API and `ssogate apply` both call [`prepare`] then [`save`].

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::json;

use super::{normalize_domains, Actor, AdminError};
use crate::connectors::saml::keys::SpKeyPair;
use crate::connectors::saml::metadata::{fetch_idp_metadata, parse_idp_metadata};
use crate::connectors::secrets::ConnectorSecrets;
use crate::connectors::settings::{
    AttributeMapping, ConnectorSettings, OidcSettings, ProfileSync, RoleMapping, SamlSettings,
};
use crate::connectors::{trust_anchor, valid_connector_id, Connector, ConnectorKind};
use crate::secrets::MasterKey;
use crate::store::audit::{self, NewAuditEvent};
use crate::store::connectors::{self as connector_store, ConnectorRecord};
use crate::store::organizations as org_store;
use crate::store::AnyConnection;

/// The reason code of a refused connector.
pub const INVALID: &str = "connector_invalid";

/// What preparing a connector may read: the master key (to open and seal its secrets),
/// the network (IdP metadata) and, for apply files only, the disk.
pub struct Sources<'a> {
    pub master_key: &'a MasterKey,
    pub http: &'a reqwest::Client,
    /// Relative paths in the input are resolved against this folder. None: file paths are
    /// refused (the management API must not read the server's files).
    pub base_dir: Option<&'a Path>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectorInput {
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
    pub saml: Option<SamlInput>,
    pub oidc: Option<OidcInput>,
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
pub struct SamlInput {
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
pub struct OidcInput {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Option<String>,
    /// Name of an environment variable holding the client secret (keeps it out of files).
    pub client_secret_env: Option<String>,
    pub scopes: Option<Vec<String>>,
    pub id_token_algorithms: Option<Vec<String>>,
    pub claims: Option<AttributeMapping>,
}

fn read_relative(base: Option<&Path>, p: &Path, what: &str) -> Result<String, AdminError> {
    let Some(base) = base else {
        return Err(AdminError::invalid(
            INVALID,
            format!("{what}: file paths are not accepted here; give the content inline"),
        ));
    };
    let full = if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    };
    std::fs::read_to_string(&full).map_err(|e| AdminError::Read {
        file: format!("{what} {}", full.display()),
        cause: e.to_string(),
    })
}

/// Builds the row for a connector spec. `existing` keeps a generated SP key pair across
/// applies that do not name one.
pub async fn prepare(
    spec: &ConnectorInput,
    existing: Option<&ConnectorRecord>,
    src: &Sources<'_>,
) -> Result<ConnectorRecord, AdminError> {
    let who = format!("connector {:?}", spec.id);
    if !valid_connector_id(&spec.id) {
        return Err(AdminError::invalid(
            INVALID,
            format!("{who}: ids are 1-64 characters of a-z, 0-9, - and _"),
        ));
    }
    let kind = ConnectorKind::parse(&spec.kind).ok_or_else(|| {
        AdminError::invalid(
            INVALID,
            format!("{who}: kind must be saml, oidc, social or email"),
        )
    })?;
    let domains = normalize_domains(&spec.domains, &who, INVALID)?;
    let mut secrets = match existing {
        Some(rec) => ConnectorSecrets::open(rec, src.master_key)?,
        None => ConnectorSecrets::default(),
    };
    validate_mappings(&spec.role_mappings)
        .map_err(|e| AdminError::invalid(INVALID, format!("{who}: {e}")))?;
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
    // A plain-http trust anchor has its own reason code: it is the one refusal an
    // administrator may knowingly override (`allow_insecure_http`).
    let insecure = |cause: trust_anchor::InsecureTrustAnchor| {
        AdminError::invalid(trust_anchor::CODE, format!("{who}: {cause}"))
    };
    match kind {
        ConnectorKind::Saml => {
            let s = spec.saml.as_ref().ok_or_else(|| {
                AdminError::invalid(
                    INVALID,
                    format!("{who}: kind saml needs a [connectors.saml] table"),
                )
            })?;
            let (xml, url) = match (&s.idp_metadata_url, &s.idp_metadata_file, &s.idp_metadata_xml) {
                (Some(url), None, None) => {
                    // Checked before fetching: nothing is requested over an insecure URL.
                    trust_anchor::check(url, spec.allow_insecure_http).map_err(insecure)?;
                    let (xml, _) = fetch_idp_metadata(src.http, url).await.map_err(|e| AdminError::invalid(INVALID, format!("{who}: {e}")))?;
                    (xml, Some(url.clone()))
                }
                (None, Some(file), None) => (read_relative(src.base_dir, file, "IdP metadata")?, None),
                (None, None, Some(xml)) => (xml.clone(), None),
                _ => {
                    return Err(AdminError::invalid(INVALID, format!(
                        "{who}: give exactly one of idp_metadata_url, idp_metadata_file, idp_metadata_xml"
                    )))
                }
            };
            let md = parse_idp_metadata(&xml)
                .map_err(|e| AdminError::invalid(INVALID, format!("{who}: {e}")))?;
            let sso_url = md.sso_url_redirect.clone().ok_or_else(|| {
                AdminError::invalid(
                    INVALID,
                    format!("{who}: the IdP has no HTTP-Redirect SingleSignOnService"),
                )
            })?;
            let given_key = match (&s.sp_private_key_file, &s.sp_private_key_pem) {
                (Some(k), None) => Some(read_relative(src.base_dir, k, "SP private key")?),
                (None, Some(pem)) => Some(pem.clone()),
                (None, None) => None,
                _ => {
                    return Err(AdminError::invalid(
                        INVALID,
                        format!("{who}: give sp_private_key_file or sp_private_key_pem, not both"),
                    ))
                }
            };
            let given_cert = match (&s.sp_certificate_file, &s.sp_certificate_pem) {
                (Some(c), None) => Some(read_relative(src.base_dir, c, "SP certificate")?),
                (None, Some(pem)) => Some(pem.clone()),
                (None, None) => None,
                _ => {
                    return Err(AdminError::invalid(
                        INVALID,
                        format!("{who}: give sp_certificate_file or sp_certificate_pem, not both"),
                    ))
                }
            };
            let existing_saml = existing
                .and_then(|r| Connector::from_record(r.clone()).ok())
                .and_then(|c| c.settings.saml);
            let pair = match (given_key, given_cert) {
                (Some(key), Some(cert)) => SpKeyPair::from_pem(&key, &cert)
                    .map_err(|e| AdminError::invalid(INVALID, format!("{who}: {e}")))?,
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
                        // On the blocking pool, as for the API's key changes.
                        None => super::sp_keys::new_pair(&spec.id).await?,
                    }
                }
                _ => {
                    return Err(AdminError::invalid(
                        INVALID,
                        format!(
                        "{who}: give both the SP private key and the SP certificate, or neither"
                    ),
                    ))
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
                AdminError::invalid(
                    INVALID,
                    format!("{who}: kind oidc needs a [connectors.oidc] table"),
                )
            })?;
            let issuer = url::Url::parse(&o.issuer)
                .map_err(|e| AdminError::invalid(INVALID, format!("{who}: oidc.issuer: {e}")))?;
            if !matches!(issuer.scheme(), "http" | "https") {
                return Err(AdminError::invalid(
                    INVALID,
                    format!("{who}: oidc.issuer must be an http(s) URL"),
                ));
            }
            trust_anchor::check_named("issuer", &o.issuer, spec.allow_insecure_http)
                .map_err(insecure)?;
            let secret = match (&o.client_secret, &o.client_secret_env) {
                (Some(s), None) => Some(s.clone()),
                (None, Some(var)) => Some(std::env::var(var).map_err(|_| {
                    AdminError::invalid(
                        INVALID,
                        format!(
                            "{who}: oidc.client_secret_env: environment variable {var} is not set"
                        ),
                    )
                })?),
                (None, None) => None,
                _ => {
                    return Err(AdminError::invalid(
                        INVALID,
                        format!("{who}: give client_secret or client_secret_env, not both"),
                    ))
                }
            };
            if let Some(s) = secret {
                secrets.client_secret = Some(s);
            }
            let mut oidc = OidcSettings::new(&o.issuer, &o.client_id);
            if let Some(claims) = &o.claims {
                oidc.claims = claims.clone();
            }
            if let Some(scopes) = &o.scopes {
                oidc.scopes = scopes.clone();
            }
            if let Some(algs) = &o.id_token_algorithms {
                if algs.iter().any(|a| a.eq_ignore_ascii_case("none")) {
                    return Err(AdminError::invalid(
                        INVALID,
                        format!("{who}: id_token_algorithms must not contain \"none\""),
                    ));
                }
                oidc.id_token_algorithms = algs.clone();
            }
            settings.oidc = Some(oidc);
        }
        ConnectorKind::Social => {
            let social = spec.social.clone().ok_or_else(|| {
                AdminError::invalid(
                    INVALID,
                    format!("{who}: kind social needs a [connectors.social] table"),
                )
            })?;
            if !["google", "github", "oidc", "oauth2"].contains(&social.provider.as_str()) {
                return Err(AdminError::invalid(
                    INVALID,
                    format!("{who}: social.provider must be google, github, oidc or oauth2"),
                ));
            }
            settings.social = Some(social);
        }
        ConnectorKind::Email => {
            return Err(AdminError::invalid(
                INVALID,
                format!("{who}: kind email is not supported by apply yet"),
            ));
        }
    }
    let sealed = if secrets.sp_private_key_pem.is_some() || secrets.client_secret.is_some() {
        Some(secrets.seal(&spec.id, src.master_key)?)
    } else {
        None
    };
    Ok(ConnectorRecord {
        id: spec.id.clone(),
        kind: kind.as_str().to_string(),
        display_name: spec.display_name.clone().unwrap_or_else(|| spec.id.clone()),
        enabled: spec.enabled,
        config: serde_json::to_value(&settings)
            .map_err(|e| AdminError::invalid(INVALID, e.to_string()))?,
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
) -> Result<(), AdminError> {
    for r in rules {
        if org_store::get_by_name(conn, &r.organization)
            .await?
            .is_none()
        {
            return Err(AdminError::invalid(
                INVALID,
                format!(
                "connector {connector_id:?}: role mapping {:?}: organization {:?} does not exist",
                r.id, r.organization
            ),
            ));
        }
        if org_store::role_by_name(conn, &r.role).await?.is_none() {
            return Err(AdminError::invalid(INVALID, format!(
                "connector {connector_id:?}: role mapping {:?}: role {:?} is not a role of the organization template",
                r.id, r.role
            )));
        }
    }
    Ok(())
}

/// Writes a prepared connector row and records `connector.created` or `connector.updated`,
/// in `conn` (the caller's transaction). `existing` is the row [`prepare`] started from: if
/// the connector changed since (an SP key staged meanwhile), nothing is written, because
/// the prepared row would silently undo that change.
///
/// The row's role mappings are checked against the organizations by
/// [`check_mapping_targets`], which the caller runs once the organizations it writes in
/// the same transaction exist (an apply file may create both).
pub async fn save(
    conn: &mut AnyConnection,
    rec: &ConnectorRecord,
    existing: Option<&ConnectorRecord>,
    actor: &Actor,
) -> Result<bool, AdminError> {
    if !connector_store::unchanged_since(conn, &rec.id, existing).await? {
        return Err(AdminError::Conflict {
            code: "connector_changed",
            message: format!(
                "connector {:?} changed while this change was being prepared (for example an SP key was staged); send it again",
                rec.id
            ),
        });
    }
    let created = connector_store::upsert(conn, rec).await?;
    audit::record(
        conn,
        &NewAuditEvent {
            kind: if created {
                "connector.created".into()
            } else {
                "connector.updated".into()
            },
            request_id: actor.request_id.clone(),
            actor: Some(actor.name.clone()),
            connector_id: Some(rec.id.clone()),
            data: json!({ "kind": rec.kind, "domains": rec.domains }),
            ..Default::default()
        },
    )
    .await?;
    Ok(created)
}

/// Deletes a connector and records `connector.deleted`.
pub async fn delete(conn: &mut AnyConnection, id: &str, actor: &Actor) -> Result<(), AdminError> {
    if !connector_store::delete(conn, id).await? {
        return Err(AdminError::NotFound("connector"));
    }
    audit::record(
        conn,
        &NewAuditEvent {
            kind: "connector.deleted".into(),
            request_id: actor.request_id.clone(),
            actor: Some(actor.name.clone()),
            connector_id: Some(id.to_string()),
            ..Default::default()
        },
    )
    .await?;
    Ok(())
}
