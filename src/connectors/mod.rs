//! Connectors: the ways to sign in. After Dex's design, a connector verifies what the
//! identity provider says and returns one normalized [`ExternalProfile`]; it knows
//! nothing of users or organizations, and it owns no state between the redirect and the
//! callback (ssogate keeps that in `pending_logins`). Connector configurations are store
//! rows ([`crate::store::connectors`]), parsed once into a [`Connector`] (its kind and
//! [`settings::ConnectorSettings`]).

pub mod connector;
pub mod oidc;
pub mod saml;
pub mod secrets;
pub mod settings;
pub mod signin;
pub mod trust_anchor;

pub use connector::{load, load_all, Connector, InvalidConnector, Protocol};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What one completed sign-in tells us about the person, whatever the protocol.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExternalProfile {
    /// The connector id.
    pub connector: String,
    /// Stable identifier at the IdP: a persistent/unspecified NameID, a configured
    /// attribute, or the OIDC `sub`.
    pub subject: String,
    /// As the IdP sent it; normalized by the engine.
    pub email: Option<String>,
    /// What the IdP claims. Whether ssogate trusts it is the engine's decision
    /// (claimed domains of the connector).
    pub email_verified: bool,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub name: Option<String>,
    pub picture: Option<String>,
    pub groups: Vec<String>,
    /// SAML SessionNotOnOrAfter (unix ms): caps the ssogate session's lifetime.
    pub session_not_on_or_after: Option<i64>,
    /// Every attribute / claim received, for mapping and the identity's last profile.
    pub raw: Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConnectorKind {
    Saml,
    Oidc,
    Social,
    Email,
}

impl ConnectorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectorKind::Saml => "saml",
            ConnectorKind::Oidc => "oidc",
            ConnectorKind::Social => "social",
            ConnectorKind::Email => "email",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "saml" => ConnectorKind::Saml,
            "oidc" => ConnectorKind::Oidc,
            "social" => ConnectorKind::Social,
            "email" => ConnectorKind::Email,
            _ => return None,
        })
    }

    /// Enterprise SSO connectors claim domains and drive SSO JIT.
    pub fn is_enterprise(self) -> bool {
        matches!(self, ConnectorKind::Saml | ConnectorKind::Oidc)
    }
}

/// Connector ids appear in URLs (`/login/{id}`, `/saml/{id}/acs`): a short slug.
pub fn valid_connector_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && !id.starts_with('-')
}
