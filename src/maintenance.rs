//! IdP metadata refresh while `serve` runs (URL-configured SAML connectors, so an IdP's
//! key rollover does not break sign-ins). Expired rows are purged by the one clean-up
//! task in [`crate::gateway::maintenance`].

use std::time::Duration;

use serde_json::json;

use crate::app::AppState;
use crate::connectors::saml::metadata::fetch_idp_metadata;
use crate::connectors::settings::ConnectorSettings;
use crate::store::audit::{self, NewAuditEvent};
use crate::store::connectors as connector_store;
use crate::store::StoreError;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct RefreshReport {
    pub updated: Vec<String>,
    pub unchanged: Vec<String>,
    pub failed: Vec<String>,
}

/// Refetches the metadata of every enabled SAML connector configured with a URL. A fetch
/// or parse failure keeps the last good metadata (logged, never breaks sign-ins); a
/// change is saved and audited.
pub async fn refresh_saml_metadata(state: &AppState) -> Result<RefreshReport, StoreError> {
    let mut report = RefreshReport::default();
    let all = {
        let mut conn = state.store.read().await?;
        connector_store::list(&mut conn).await?
    };
    for mut rec in all.into_iter().filter(|c| c.kind == "saml" && c.enabled) {
        let Ok(mut settings) = serde_json::from_value::<ConnectorSettings>(rec.config.clone())
        else {
            continue;
        };
        let Some(saml) = settings.saml.as_mut() else {
            continue;
        };
        let Some(url) = saml.idp_metadata_url.clone() else {
            continue;
        };
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
        saml.idp_metadata_xml = xml;
        saml.idp_entity_id = md.entity_id.clone();
        saml.idp_sso_url = sso;
        saml.idp_signing_certificates = md.signing_certificates.clone();
        let after = json!({ "entity_id": saml.idp_entity_id, "sso_url": saml.idp_sso_url, "certificates": saml.idp_signing_certificates.len() });
        rec.config =
            serde_json::to_value(&settings).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let mut tx = state.store.begin().await?;
        connector_store::upsert(&mut tx, &rec).await?;
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
