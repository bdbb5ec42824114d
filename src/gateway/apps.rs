//! Downstream apps: the one definition of what an app is (used by `ssogate apply` and the
//! `/api/v1/apps` API), its validation, and the in-memory registry forward-auth and
//! return_to read on every request.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::store::apps::{self as app_store, AppRecord, AppSpec};
use crate::store::organizations as orgs;
use crate::store::{AnyConnection, StoreError};

/// The header kinds forward-auth can send, by their names in configuration.
pub const HEADER_KINDS: [&str; 6] = ["user", "email", "name", "org", "roles", "token"];

/// An app as an administrator writes it (an `[[apps]]` table, or the API's JSON body).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppInput {
    /// A slug: a-z, 0-9, `-` and `_`, at most 64. The proxy names the app by it in its
    /// auth URL (`/auth/verify?app=NAME`).
    pub name: String,
    /// Where the app is served, `https://app.example.com[:port]`. Forward-auth answers
    /// only for requests the proxy says went to one of these; `return_to` may lead to them.
    pub origins: Vec<String>,
    /// `aud` of the tokens for this app; the first origin when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
    /// Only members of these organizations (by name) may enter; empty: any organization.
    #[serde(default)]
    pub organizations: Vec<String>,
    /// Only holders of one of these roles (by name, in an admitted organization) may
    /// enter; empty: any role or none.
    #[serde(default)]
    pub roles: Vec<String>,
    /// Which of user, email, name, org, roles, token to send; all when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<Vec<String>>,
    /// `status` (401, for nginx) or `redirect` (302 to sign-in, for Traefik and Caddy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unauthenticated: Option<String>,
}

/// An app as the API shows it (organizations and roles by name).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppView {
    pub id: String,
    pub name: String,
    pub origins: Vec<String>,
    pub audience: String,
    pub organizations: Vec<String>,
    pub roles: Vec<String>,
    pub headers: Vec<String>,
    pub unauthenticated: String,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum AppInputError {
    #[error("app {name:?}: {message}")]
    Invalid { name: String, message: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Same rule as connector ids: the name appears in URLs (`/api/v1/apps/{name}`).
pub fn valid_app_name(name: &str) -> bool {
    crate::connectors::valid_connector_id(name)
}

/// `scheme://host[:port]` and `host[:port]` of an origin, or why it is not one.
pub fn normalize_origin(raw: &str) -> Result<(String, String), String> {
    let u = url::Url::parse(raw.trim()).map_err(|e| format!("origin {raw:?}: {e}"))?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(format!("origin {raw:?}: must be http or https"));
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err(format!("origin {raw:?}: must not contain credentials"));
    }
    if u.path() != "/" || u.query().is_some() || u.fragment().is_some() {
        return Err(format!(
            "origin {raw:?}: only scheme, host and port (no path, query or fragment)"
        ));
    }
    let host = u
        .host_str()
        .ok_or_else(|| format!("origin {raw:?}: no host"))?;
    let host = match u.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    };
    Ok((u.origin().ascii_serialization(), host))
}

/// Validates `input`, resolves organization and role names, and writes the app. Run it
/// in a transaction.
pub async fn save(
    conn: &mut AnyConnection,
    input: &AppInput,
) -> Result<(AppRecord, bool), AppInputError> {
    let invalid = |message: String| AppInputError::Invalid {
        name: input.name.clone(),
        message,
    };
    if !valid_app_name(&input.name) {
        return Err(invalid(
            "names are 1-64 characters of a-z, 0-9, - and _".into(),
        ));
    }
    if input.origins.is_empty() {
        return Err(invalid("needs at least one origin".into()));
    }
    let mut origins = Vec::new();
    let mut hosts = Vec::new();
    for raw in &input.origins {
        let (origin, host) = normalize_origin(raw).map_err(invalid)?;
        if !origins.contains(&origin) {
            origins.push(origin);
        }
        if !hosts.contains(&host) {
            hosts.push(host);
        }
    }
    let audience = match &input.audience {
        Some(a) => a.clone(),
        None => origins.first().cloned().unwrap_or_default(),
    };
    if audience.trim().is_empty() || audience.len() > 512 {
        return Err(invalid("audience: 1 to 512 characters".into()));
    }
    let headers = match &input.headers {
        None => HEADER_KINDS.iter().map(|h| h.to_string()).collect(),
        Some(list) => {
            let mut out: Vec<String> = Vec::new();
            for h in list {
                if !HEADER_KINDS.contains(&h.as_str()) {
                    return Err(invalid(format!(
                        "headers: {h:?} is not one of {}",
                        HEADER_KINDS.join(", ")
                    )));
                }
                if !out.contains(h) {
                    out.push(h.clone());
                }
            }
            out
        }
    };
    let unauthenticated = input
        .unauthenticated
        .clone()
        .unwrap_or_else(|| "status".into());
    if !matches!(unauthenticated.as_str(), "status" | "redirect") {
        return Err(invalid(
            "unauthenticated: \"status\" (401) or \"redirect\" (302)".into(),
        ));
    }
    let mut organization_ids = Vec::new();
    for name in &input.organizations {
        let org = orgs::get_by_name(conn, name)
            .await?
            .ok_or_else(|| invalid(format!("organization {name:?} does not exist")))?;
        if !organization_ids.contains(&org.id) {
            organization_ids.push(org.id);
        }
    }
    let mut role_ids = Vec::new();
    for name in &input.roles {
        let role = orgs::role_by_name(conn, name).await?.ok_or_else(|| {
            invalid(format!(
                "role {name:?} is not a role of the organization template"
            ))
        })?;
        if !role_ids.contains(&role.id) {
            role_ids.push(role.id);
        }
    }
    let spec = AppSpec {
        name: input.name.clone(),
        audience,
        origins,
        hosts,
        org_restricted: !organization_ids.is_empty(),
        organization_ids,
        role_restricted: !role_ids.is_empty(),
        role_ids,
        headers,
        unauthenticated,
    };
    Ok(app_store::upsert(conn, &spec).await?)
}

/// The API view of stored apps (ids resolved to names).
pub async fn describe(
    conn: &mut AnyConnection,
    records: Vec<AppRecord>,
) -> Result<Vec<AppView>, StoreError> {
    let org_names: HashMap<String, String> = orgs::list(conn)
        .await?
        .into_iter()
        .map(|o| (o.id, o.name))
        .collect();
    let role_names: HashMap<String, String> = orgs::list_roles(conn)
        .await?
        .into_iter()
        .map(|r| (r.id, r.name))
        .collect();
    let names = |ids: &[String], table: &HashMap<String, String>| {
        let mut v: Vec<String> = ids.iter().filter_map(|i| table.get(i).cloned()).collect();
        v.sort();
        v
    };
    Ok(records
        .into_iter()
        .map(|r| AppView {
            organizations: names(&r.organization_ids, &org_names),
            roles: names(&r.role_ids, &role_names),
            id: r.id,
            name: r.name,
            origins: r.origins,
            audience: r.audience,
            headers: r.headers,
            unauthenticated: r.unauthenticated,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
        .collect())
}

/// Which headers an app gets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HeaderKinds {
    pub user: bool,
    pub email: bool,
    pub name: bool,
    pub org: bool,
    pub roles: bool,
    pub token: bool,
}

impl HeaderKinds {
    fn from_names(names: &[String]) -> Self {
        let has = |k: &str| names.iter().any(|n| n == k);
        HeaderKinds {
            user: has("user"),
            email: has("email"),
            name: has("name"),
            org: has("org"),
            roles: has("roles"),
            token: has("token"),
        }
    }
}

/// An app as forward-auth uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppEntry {
    pub id: String,
    pub name: String,
    pub audience: String,
    pub origins: Vec<String>,
    pub org_restricted: bool,
    pub organization_ids: HashSet<String>,
    pub role_restricted: bool,
    pub role_ids: HashSet<String>,
    pub headers: HeaderKinds,
    /// Unauthenticated requests get a 302 to the sign-in page instead of a 401.
    pub redirect: bool,
    /// Changes whenever the app's settings change (cached grants are re-made).
    pub updated_at: i64,
}

impl AppEntry {
    /// The app's origin that `host` (`host[:port]`, lower-case, default port off) and
    /// `scheme` name, if any. Without a scheme, the app's origin on that host.
    pub fn origin_for(&self, host: &str, scheme: Option<&str>) -> Option<&str> {
        self.origins
            .iter()
            .find(|o| match scheme {
                Some(s) => o.strip_prefix(s).and_then(|r| r.strip_prefix("://")) == Some(host),
                None => o.split_once("://").is_some_and(|(_, h)| h == host),
            })
            .map(String::as_str)
    }
}

/// Every app, by name, and every allowed return_to origin.
#[derive(Debug, Default)]
pub struct Registry {
    by_name: HashMap<String, Arc<AppEntry>>,
    origins: HashSet<String>,
}

impl Registry {
    pub fn from_records(records: Vec<AppRecord>) -> Registry {
        let mut reg = Registry::default();
        for r in records {
            let entry = Arc::new(AppEntry {
                id: r.id,
                name: r.name,
                audience: r.audience,
                origins: r.origins.clone(),
                org_restricted: r.org_restricted,
                organization_ids: r.organization_ids.into_iter().collect(),
                role_restricted: r.role_restricted,
                role_ids: r.role_ids.into_iter().collect(),
                headers: HeaderKinds::from_names(&r.headers),
                redirect: r.unauthenticated == "redirect",
                updated_at: r.updated_at,
            });
            reg.by_name.insert(entry.name.clone(), entry.clone());
            reg.origins.extend(r.origins);
        }
        reg
    }

    /// The app named `name` (forward-auth: the name the proxy's auth URL gives).
    pub fn app_named(&self, name: &str) -> Option<&Arc<AppEntry>> {
        self.by_name.get(name)
    }

    /// Whether `origin` (`scheme://host[:port]`) is an app's.
    pub fn allows_origin(&self, origin: &str) -> bool {
        self.origins.contains(origin)
    }

    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_normalized_and_checked() {
        assert_eq!(
            normalize_origin("https://App.Example.com").expect("ok"),
            ("https://app.example.com".into(), "app.example.com".into())
        );
        assert_eq!(
            normalize_origin("https://app.example.com:443/").expect("ok"),
            ("https://app.example.com".into(), "app.example.com".into())
        );
        assert_eq!(
            normalize_origin("http://127.0.0.1:8081").expect("ok"),
            ("http://127.0.0.1:8081".into(), "127.0.0.1:8081".into())
        );
        for bad in [
            "app.example.com",
            "ftp://app.example.com",
            "https://u:p@app.example.com",
            "https://app.example.com/path",
            "https://app.example.com/?q",
            "javascript:alert(1)",
        ] {
            assert!(normalize_origin(bad).is_err(), "{bad}");
        }
    }
}
