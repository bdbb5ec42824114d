//! The administration layer: every change an administrator makes (connectors, their SP
//! keys, organizations, roles, apps, user suspension) is validated, written in one
//! transaction and audited here, once. The management API (`http/api/`) and `ssogate apply` only translate their input
//! into these calls and the result into their output, so the two faces cannot drift apart
//! again (they had: apply stored an organization without a name that the API refused,
//! worded the same refusals differently, and wrote no per-object audit events).
//!
//! Downstream apps are validated by [`crate::gateway::apps::save`] and audited in
//! [`apps`].

pub mod api_keys;
pub mod apps;
pub mod connectors;
pub mod organizations;
pub mod sp_keys;
pub mod users;

use crate::store::StoreError;

/// Who made a change, as written in the audit event's `actor` (`"cli"` for `ssogate
/// apply`, the API key's name for the API).
#[derive(Debug, Clone)]
pub struct Actor {
    pub name: String,
    /// The request that made the change (API only).
    pub request_id: Option<String>,
}

impl Actor {
    /// `ssogate apply` (no request).
    pub fn cli() -> Actor {
        Actor {
            name: "cli".into(),
            request_id: None,
        }
    }
}

/// Why an administrative change was refused. `code` is the stable reason the API answers
/// with; apply shows the message.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The input failed a check.
    #[error("{message}")]
    Invalid { code: &'static str, message: String },
    /// A file the input names could not be read (apply only: the API refuses file paths).
    #[error("{file}: {cause}")]
    Read { file: String, cause: String },
    #[error("{0} not found")]
    NotFound(&'static str),
    /// An object of that name exists and the change may only create one.
    #[error("{0}")]
    Exists(String),
    /// The change conflicts with the object's current state.
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// Something that cannot be the caller's fault (a stored row that does not parse).
    #[error("internal error: {0}")]
    Internal(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl AdminError {
    pub fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        AdminError::Invalid {
            code,
            message: message.into(),
        }
    }

    pub fn internal(e: impl std::fmt::Display) -> Self {
        AdminError::Internal(e.to_string())
    }
}

/// The domains of a connector or organization, normalized and without duplicates (the
/// same domain twice would be two routing or JIT entries that can never differ).
pub fn normalize_domains(
    list: &[String],
    whose: &str,
    code: &'static str,
) -> Result<Vec<String>, AdminError> {
    let mut out: Vec<String> = Vec::new();
    for d in list {
        let n = crate::address::normalize_domain(d).map_err(|_| {
            AdminError::invalid(code, format!("{whose}: {d:?} is not a valid domain"))
        })?;
        if !out.contains(&n) {
            out.push(n);
        }
    }
    Ok(out)
}

impl From<crate::connectors::secrets::SecretsError> for AdminError {
    fn from(e: crate::connectors::secrets::SecretsError) -> Self {
        AdminError::invalid(connectors::INVALID, e.0)
    }
}
