//! The typed configuration of a connector, stored as the row's `config` JSON. Secrets
//! (SP private key, client secret) are not here: they are sealed in the row's `secrets`.

use serde::{Deserialize, Serialize};

/// How a connector's sign-ins update the local profile (docs/RULES.md, "Profile sync").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProfileSync {
    /// Only the first sign-in (account creation or linking) copies the profile.
    #[default]
    FirstSignIn,
    /// Every sign-in updates the profile (Just-in-Time update).
    EverySignIn,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectorSettings {
    /// JIT account creation: a person with no account may get one by signing in here.
    #[serde(default = "yes")]
    pub create_accounts: bool,
    /// Home-realm discovery: emails in the claimed domains are sent to this IdP at /login.
    #[serde(default = "yes")]
    pub route_domains: bool,
    #[serde(default)]
    pub profile_sync: ProfileSync,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saml: Option<SamlSettings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oidc: Option<OidcSettings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub social: Option<SocialSettings>,
    /// Group/claim → organization-role mapping rules, evaluated on every sign-in.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub role_mappings: Vec<RoleMapping>,
    /// Accept a plain-`http://` IdP metadata URL or OIDC issuer on a non-loopback host
    /// (refused otherwise: see [`super::trust_anchor`]; the linter warns when set).
    #[serde(default, skip_serializing_if = "is_false")]
    pub allow_insecure_http: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl Default for ConnectorSettings {
    fn default() -> Self {
        ConnectorSettings {
            create_accounts: true,
            route_domains: true,
            profile_sync: ProfileSync::default(),
            saml: None,
            oidc: None,
            social: None,
            role_mappings: Vec::new(),
            allow_insecure_http: false,
        }
    }
}

/// `grant` only adds; `sync` also revokes, on every sign-in, the grants THIS rule made
/// earlier that the IdP no longer asserts (never grants from any other source).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MappingMode {
    #[default]
    Grant,
    Sync,
}

/// "IdP group `engineering` → role `developer` in organization X".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleMapping {
    /// A stable name for the rule: the grants it makes carry it.
    pub id: String,
    /// The claim / attribute to look at (`groups` by default: the mapped groups).
    #[serde(default = "default_claim")]
    pub claim: String,
    /// Exact value to match…
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// …or a regular expression that must match a whole value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// Organization name and role name (from the organization template).
    pub organization: String,
    pub role: String,
    #[serde(default)]
    pub mode: MappingMode,
}

fn default_claim() -> String {
    "groups".into()
}

/// Where profile fields come from (attribute names for SAML, claim names for OIDC).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AttributeMapping {
    /// Take the subject from this attribute/claim instead of the NameID / `sub`.
    pub subject: Option<String>,
    pub email: String,
    pub given_name: String,
    pub family_name: String,
    pub name: String,
    pub picture: String,
    pub groups: String,
}

impl AttributeMapping {
    pub fn saml_default() -> Self {
        AttributeMapping {
            subject: None,
            email: "email".into(),
            given_name: "firstName".into(),
            family_name: "lastName".into(),
            name: "name".into(),
            picture: "picture".into(),
            groups: "groups".into(),
        }
    }

    pub fn oidc_default() -> Self {
        AttributeMapping {
            subject: None,
            email: "email".into(),
            given_name: "given_name".into(),
            family_name: "family_name".into(),
            name: "name".into(),
            picture: "picture".into(),
            groups: "groups".into(),
        }
    }
}

impl Default for AttributeMapping {
    fn default() -> Self {
        Self::saml_default()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SamlSettings {
    /// Our entity ID at this IdP; defaults to `<public_url>/saml/<id>/metadata`.
    #[serde(default)]
    pub sp_entity_id: Option<String>,
    /// Where the IdP's metadata was fetched from (refreshed on a schedule), if anywhere.
    #[serde(default)]
    pub idp_metadata_url: Option<String>,
    /// The IdP metadata document as last fetched or given.
    pub idp_metadata_xml: String,
    /// From the metadata: entity ID, SSO endpoint and signing certificates (base64 DER).
    pub idp_entity_id: String,
    pub idp_sso_url: String,
    pub idp_signing_certificates: Vec<String>,
    /// Our SP certificate (PEM); its private key is sealed in the row's secrets.
    pub sp_certificate_pem: String,
    /// A staged next SP certificate (PEM), published in our metadata (signing and
    /// encryption) before it signs anything; its private key is sealed in the row's
    /// secrets. `POST …/sp-key/activate` makes it the current one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_sp_certificate_pem: Option<String>,
    #[serde(default)]
    pub sign_authn_requests: bool,
    #[serde(default)]
    pub allow_idp_initiated: bool,
    /// SHA-1 signatures are refused unless this is set.
    #[serde(default)]
    pub allow_sha1: bool,
    #[serde(default = "AttributeMapping::saml_default")]
    pub attributes: AttributeMapping,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcSettings {
    pub issuer: String,
    pub client_id: String,
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// ID token signature algorithms accepted; never `none`; HS* only when listed here.
    #[serde(default = "default_algs")]
    pub id_token_algorithms: Vec<String>,
    #[serde(default = "AttributeMapping::oidc_default")]
    pub claims: AttributeMapping,
}

impl OidcSettings {
    /// A relying party of `issuer` as `client_id`, with the defaults a stored connector
    /// gets when a field is absent (scopes, the algorithm allow-list, the claim mapping).
    pub fn new(issuer: &str, client_id: &str) -> OidcSettings {
        OidcSettings {
            issuer: issuer.to_string(),
            client_id: client_id.to_string(),
            scopes: default_scopes(),
            id_token_algorithms: default_algs(),
            claims: AttributeMapping::oidc_default(),
        }
    }
}

fn default_scopes() -> Vec<String> {
    vec!["openid".into(), "email".into(), "profile".into()]
}

fn default_algs() -> Vec<String> {
    vec![
        "RS256".into(),
        "ES256".into(),
        "PS256".into(),
        "EdDSA".into(),
    ]
}

/// Providers whose "email verified" flag is trustworthy (Google; GitHub's verified
/// primary email). Only their verified emails may link accounts or feed email-domain JIT.
pub const TRUSTED_EMAIL_PROVIDERS: &[&str] = &["google", "github"];

/// A social login (its sign-in flow is not built yet; the settings already drive the
/// engine, the dry run and the linter).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SocialSettings {
    /// `google`, `github`, `oidc` (generic) or `oauth2` (generic).
    pub provider: String,
    /// Trust this provider's verified flag although it is not on the allow-list
    /// (the linter warns when this feeds email-domain JIT).
    #[serde(default)]
    pub trust_email_verified: bool,
}

impl SocialSettings {
    pub fn trusts_verified_email(&self) -> bool {
        self.trust_email_verified || TRUSTED_EMAIL_PROVIDERS.contains(&self.provider.as_str())
    }
}
