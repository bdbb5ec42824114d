//! IdP metadata refresh while `serve` runs (URL-configured SAML connectors, so an IdP's
//! key rollover does not break sign-ins). Expired rows are purged by the one clean-up
//! task in [`super::schedule`].
//!
//! Its writes follow the rule for background writes ([`crate::jobs`]): it owns the
//! metadata fields (XML, entity ID, SSO URL, signing certificates) and writes them only if
//! they and what its fetch depended on (the metadata URL, `allow_insecure_http`) are
//! unchanged since it read the row ([`connector_store::update_config_fields`]).

use std::time::Duration;

use serde_json::json;

use crate::app::AppState;
use crate::connectors;
use crate::connectors::saml::metadata::fetch_idp_metadata;
use crate::connectors::trust_anchor;
use crate::store::audit::{self, NewAuditEvent};
use crate::store::connectors as connector_store;
use crate::store::StoreError;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct RefreshReport {
    pub updated: Vec<String>,
    pub unchanged: Vec<String>,
    pub failed: Vec<String>,
    /// Changed or deleted while its metadata was fetched: nothing written, tried again at
    /// the next refresh.
    pub skipped: Vec<String>,
}

/// The metadata fields of a SAML connector's `config` that the refresh owns (JSON
/// pointers), and the fields its fetch depended on.
const OWNED: [&str; 4] = [
    "/saml/idp_metadata_xml",
    "/saml/idp_entity_id",
    "/saml/idp_sso_url",
    "/saml/idp_signing_certificates",
];
const DEPENDED_ON: [&str; 2] = ["/saml/idp_metadata_url", "/allow_insecure_http"];

/// Refetches the metadata of every enabled SAML connector configured with a URL. A fetch
/// or parse failure keeps the last good metadata (logged, never breaks sign-ins); a
/// change is saved and audited — only the metadata fields, and only if the connector did
/// not change meanwhile (the rule for background writes in [`crate::jobs`]).
pub async fn refresh_saml_metadata(state: &AppState) -> Result<RefreshReport, StoreError> {
    let mut report = RefreshReport::default();
    let all = {
        let mut conn = state.store.read().await?;
        connectors::load_all(&mut conn).await?
    };
    for rec in all.into_iter().filter(|c| c.enabled) {
        let Some(saml) = rec.saml() else {
            continue;
        };
        let settings = &rec.settings;
        let Some(url) = saml.idp_metadata_url.clone() else {
            continue;
        };
        // Metadata over plain http from a non-loopback host could be swapped by anyone on
        // the path (a new signing certificate: forged sign-ins). A row saved before this
        // check existed is not refetched either.
        if let Err(e) = trust_anchor::check(&url, settings.allow_insecure_http) {
            tracing::warn!(connector = %rec.id, error = %e, "IdP metadata refresh refused; keeping the last good metadata");
            report.failed.push(rec.id.clone());
            continue;
        }
        let (xml, md) = match fetch_idp_metadata(&state.http, &url).await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(connector = %rec.id, error = %e, "IdP metadata refresh failed; keeping the last good metadata");
                report.failed.push(rec.id.clone());
                continue;
            }
        };
        let Some(sso) = md.sso_url_redirect.clone() else {
            tracing::warn!(connector = %rec.id, "refreshed IdP metadata has no HTTP-Redirect SSO endpoint; keeping the last good metadata");
            report.failed.push(rec.id.clone());
            continue;
        };
        if saml.idp_signing_certificates == md.signing_certificates
            && saml.idp_sso_url == sso
            && saml.idp_entity_id == md.entity_id
        {
            report.unchanged.push(rec.id.clone());
            continue;
        }
        let before = json!({ "entity_id": saml.idp_entity_id, "sso_url": saml.idp_sso_url, "certificates": saml.idp_signing_certificates.len() });
        let after = json!({ "entity_id": md.entity_id, "sso_url": sso, "certificates": md.signing_certificates.len() });
        let expect: Vec<(&str, Option<&serde_json::Value>)> = OWNED
            .iter()
            .chain(DEPENDED_ON.iter())
            .map(|p| (*p, rec.record.config.pointer(p)))
            .collect();
        let set = [
            (OWNED[0], json!(xml)),
            (OWNED[1], json!(md.entity_id)),
            (OWNED[2], json!(sso)),
            (OWNED[3], json!(md.signing_certificates)),
        ];
        let mut tx = state.store.begin().await?;
        if !connector_store::update_config_fields(&mut tx, &rec.id, &expect, &set).await? {
            tx.rollback().await?;
            tracing::info!(connector = %rec.id, "the connector changed or was deleted while its IdP metadata was fetched; nothing written, the next refresh tries again");
            report.skipped.push(rec.id.clone());
            continue;
        }
        audit::record(
            &mut tx,
            &NewAuditEvent {
                kind: "connector.metadata_refreshed".into(),
                actor: Some("system".into()),
                connector_id: Some(rec.id.clone()),
                data: json!({ "url": url, "before": before, "after": after }),
                ..Default::default()
            },
        )
        .await?;
        tx.commit().await?;
        report.updated.push(rec.id.clone());
    }
    Ok(report)
}

/// Refreshes IdP metadata on its schedule until the returned handle is aborted.
pub fn spawn(state: AppState) -> tokio::task::JoinHandle<()> {
    let refresh_every = Duration::from_secs(state.config.login.metadata_refresh_secs.max(60));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(refresh_every);
        tick.tick().await; // the first tick is immediate; metadata was fetched at apply time
        loop {
            tick.tick().await;
            if let Err(e) = refresh_saml_metadata(&state).await {
                tracing::warn!(error = %e, "IdP metadata refresh failed");
            }
        }
    })
}
