//! The typed connector: a store row parsed once, where it is read, into its kind and
//! settings. Everything after that point (the sign-in handlers, the engine's facts, the
//! linter, the jobs, the management API) works on [`Connector`] and never reads the row's
//! `kind` string or `config` JSON again, so one parser decides what a row means: no two
//! readers can disagree about a malformed row (one refusing it, another acting on half of it).

use crate::connectors::settings::{ConnectorSettings, OidcSettings, SamlSettings, SocialSettings};
use crate::connectors::ConnectorKind;
use crate::store::connectors::{self as store, ConnectorRecord};
use crate::store::{AnyConnection, StoreError};

/// A row that does not describe a connector. Only a row written outside `ssogate apply` and
/// the management API (both build rows from typed settings) can be one.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InvalidConnector {
    #[error("connector kind {kind:?}")]
    UnknownKind { id: String, kind: String },
    #[error("connector {id} settings: {error}")]
    Settings { id: String, error: String },
}

/// One connector, as everything past the store uses it.
#[derive(Debug, Clone, PartialEq)]
pub struct Connector {
    pub id: String,
    pub display_name: String,
    pub enabled: bool,
    /// Normalized claimed domains, `*.x` for subdomains.
    pub domains: Vec<String>,
    pub kind: ConnectorKind,
    /// The parsed `config`: what every kind shares, and the section of its protocol.
    pub settings: ConnectorSettings,
    /// The row as read: its sealed secrets, and what a read-modify-write compares against
    /// ([`crate::store::connectors::unchanged_since`]). Not to be read for settings.
    pub record: ConnectorRecord,
}

/// What a connector signs in with, carrying that protocol's settings.
#[derive(Debug, Clone, Copy)]
pub enum Protocol<'a> {
    Saml(&'a SamlSettings),
    Oidc(&'a OidcSettings),
    Social(&'a SocialSettings),
    Email,
    /// A SAML, OIDC or social connector whose protocol section is missing: it still
    /// drives the engine (domains, JIT), but cannot start or finish a sign-in.
    Unconfigured(ConnectorKind),
}

impl Connector {
    /// The one place a connector row's kind and settings are parsed.
    pub fn from_record(record: ConnectorRecord) -> Result<Connector, InvalidConnector> {
        let kind =
            ConnectorKind::parse(&record.kind).ok_or_else(|| InvalidConnector::UnknownKind {
                id: record.id.clone(),
                kind: record.kind.clone(),
            })?;
        let settings: ConnectorSettings =
            serde_json::from_value(record.config.clone()).map_err(|e| {
                InvalidConnector::Settings {
                    id: record.id.clone(),
                    error: e.to_string(),
                }
            })?;
        Ok(Connector {
            id: record.id.clone(),
            display_name: record.display_name.clone(),
            enabled: record.enabled,
            domains: record.domains.clone(),
            kind,
            settings,
            record,
        })
    }

    /// The protocol section that matches the kind (another kind's section in the same
    /// row is never used: a SAML connector is never driven by OIDC settings).
    pub fn protocol(&self) -> Protocol<'_> {
        let s = &self.settings;
        match self.kind {
            ConnectorKind::Saml => s.saml.as_ref().map(Protocol::Saml),
            ConnectorKind::Oidc => s.oidc.as_ref().map(Protocol::Oidc),
            ConnectorKind::Social => s.social.as_ref().map(Protocol::Social),
            ConnectorKind::Email => Some(Protocol::Email),
        }
        .unwrap_or(Protocol::Unconfigured(self.kind))
    }

    pub fn saml(&self) -> Option<&SamlSettings> {
        match self.protocol() {
            Protocol::Saml(s) => Some(s),
            _ => None,
        }
    }

    pub fn oidc(&self) -> Option<&OidcSettings> {
        match self.protocol() {
            Protocol::Oidc(s) => Some(s),
            _ => None,
        }
    }

    pub fn social(&self) -> Option<&SocialSettings> {
        match self.protocol() {
            Protocol::Social(s) => Some(s),
            _ => None,
        }
    }

    /// The row to write back after `settings` changed (the secrets are the caller's).
    pub fn to_record(&self) -> Result<ConnectorRecord, serde_json::Error> {
        let mut rec = self.record.clone();
        rec.config = serde_json::to_value(&self.settings)?;
        Ok(rec)
    }
}

/// The connector `id` from the store, parsed (`None`: no such row). A row that does not
/// parse is returned as such: each reader decides what it means for it (the sign-in
/// refuses it as misconfigured, the management API answers 500).
pub async fn load(
    conn: &mut AnyConnection,
    id: &str,
) -> Result<Option<Result<Connector, InvalidConnector>>, StoreError> {
    Ok(store::get(conn, id).await?.map(Connector::from_record))
}

/// Every connector from the store, parsed, by id. A row that does not parse is left out
/// (and logged): it can neither be shown as a sign-in button nor refreshed.
pub async fn load_all(conn: &mut AnyConnection) -> Result<Vec<Connector>, StoreError> {
    Ok(store::list(conn)
        .await?
        .into_iter()
        .filter_map(|rec| match Connector::from_record(rec) {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!(error = %e, "connector row does not parse; ignored");
                None
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn record(kind: &str, config: serde_json::Value) -> ConnectorRecord {
        ConnectorRecord {
            id: "acme".into(),
            kind: kind.into(),
            display_name: "Acme".into(),
            enabled: true,
            config,
            secrets: None,
            domains: vec!["acme.test".into()],
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn an_unknown_kind_is_not_a_connector() {
        assert_eq!(
            Connector::from_record(record("ldap", json!({}))),
            Err(InvalidConnector::UnknownKind {
                id: "acme".into(),
                kind: "ldap".into()
            })
        );
    }

    #[test]
    fn unreadable_settings_are_not_a_connector() {
        let got = Connector::from_record(record("oidc", json!({ "create_acounts": false })));
        assert!(
            matches!(&got, Err(InvalidConnector::Settings { id, .. }) if id == "acme"),
            "{got:?}"
        );
    }

    /// A section of another protocol in the row never drives the connector: a SAML
    /// connector is never signed in through OIDC settings written next to its own.
    #[test]
    fn only_the_section_of_its_kind_is_its_protocol() {
        let oidc = json!({ "issuer": "https://idp.acme.test", "client_id": "ssogate" });
        let c = Connector::from_record(record("saml", json!({ "oidc": oidc }))).expect("parses");
        assert!(matches!(
            c.protocol(),
            Protocol::Unconfigured(ConnectorKind::Saml)
        ));
        assert!(c.oidc().is_none() && c.saml().is_none());

        let c = Connector::from_record(record("oidc", json!({ "oidc": oidc }))).expect("parses");
        assert!(matches!(c.protocol(), Protocol::Oidc(o) if o.client_id == "ssogate"));
        assert!(matches!(
            Connector::from_record(record("email", json!({})))
                .expect("parses")
                .protocol(),
            Protocol::Email
        ));
    }

    #[test]
    fn to_record_writes_the_changed_settings_and_keeps_the_rest() {
        let mut c = Connector::from_record(record("oidc", json!({}))).expect("parses");
        c.settings.create_accounts = false;
        let rec = c.to_record().expect("serializes");
        assert_eq!(rec.config["create_accounts"], json!(false));
        assert_eq!(rec.domains, c.record.domains);
        assert_eq!(
            Connector::from_record(rec).expect("parses").settings,
            c.settings
        );
    }
}
