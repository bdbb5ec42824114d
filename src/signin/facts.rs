//! What the engine is told: the connector, and what the store knows (read by the
//! provisioning layer inside its transaction).

use serde::Serialize;

use crate::connectors::settings::{MappingMode, ProfileSync};
use crate::connectors::ConnectorKind;
use crate::store::organizations::GrantSource;

use super::sync::ProfileFields;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConnectorFacts {
    pub id: String,
    pub kind: ConnectorKind,
    /// JIT account creation allowed.
    pub create_accounts: bool,
    pub profile_sync: ProfileSync,
    /// Enterprise SSO: the email domains this connector claims (normalized, `*.x`).
    pub claimed_domains: Vec<String>,
    /// Social: the provider is on the allow-list of providers whose email-verified flag
    /// is trustworthy (Google; GitHub's verified primary email).
    pub trusts_verified_email: bool,
    /// Role mapping rules with their organization and role resolved.
    pub mappings: Vec<ResolvedMapping>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResolvedMapping {
    pub rule: String,
    pub claim: String,
    pub value: Option<String>,
    pub pattern: Option<String>,
    pub organization_id: String,
    pub organization_name: String,
    pub role_id: String,
    pub role_name: String,
    pub mode: MappingMode,
}

/// One role grant the user holds, with its provenance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GrantFact {
    pub organization_id: String,
    pub role_id: String,
    pub source: GrantSource,
    pub connector_id: Option<String>,
    pub mapping_rule: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UserFacts {
    pub id: String,
    pub suspended: bool,
    pub email: Option<String>,
    pub email_verified: bool,
    pub profile: ProfileFields,
    pub grants: Vec<GrantFact>,
    pub memberships: Vec<String>,
    /// The subjects under which this user holds identities of the connector signing in
    /// now (usually none or one).
    pub connector_subjects: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OrgFacts {
    pub id: String,
    pub name: String,
    /// Role ids from the organization template.
    pub default_roles: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Facts {
    /// The user linked to (connector, subject), if any.
    pub linked_user: Option<UserFacts>,
    /// The user whose primary email equals the profile's normalized email, if any.
    pub user_with_email: Option<UserFacts>,
    /// Organizations that enabled SSO JIT for this connector.
    pub sso_jit_orgs: Vec<OrgFacts>,
    /// Organizations whose JIT email domains match the profile email's domain.
    pub email_domain_jit_orgs: Vec<OrgFacts>,
    /// Enterprise connectors (other than this one) that claim the email's domain.
    pub domain_claimed_by: Vec<String>,
}
