//! Local accounts.

use serde::Serialize;
use serde_json::Value;
use sqlx::FromRow;

use super::{json_text, new_id, now_ms, parse_json, AnyConnection, Result, StoreError};
use crate::address::Email;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct User {
    pub id: String,
    /// Normalized (see [`crate::address`]).
    pub email: Option<String>,
    pub email_verified: bool,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub name: Option<String>,
    pub picture: Option<String>,
    pub custom_attributes: Value,
    pub suspended: bool,
    pub created_at: i64,
    pub updated_at: i64,
    pub last_sign_in_at: Option<i64>,
}

#[derive(FromRow)]
struct UserRow {
    id: String,
    email: Option<String>,
    email_verified: i64,
    given_name: Option<String>,
    family_name: Option<String>,
    name: Option<String>,
    picture: Option<String>,
    custom_attributes: String,
    suspended: i64,
    created_at: i64,
    updated_at: i64,
    last_sign_in_at: Option<i64>,
}

impl TryFrom<UserRow> for User {
    type Error = StoreError;
    fn try_from(r: UserRow) -> Result<User> {
        Ok(User {
            id: r.id,
            email: r.email,
            email_verified: r.email_verified != 0,
            given_name: r.given_name,
            family_name: r.family_name,
            name: r.name,
            picture: r.picture,
            custom_attributes: parse_json(&r.custom_attributes)?,
            suspended: r.suspended != 0,
            created_at: r.created_at,
            updated_at: r.updated_at,
            last_sign_in_at: r.last_sign_in_at,
        })
    }
}

impl User {
    /// The person's display name, one definition for every place that shows it (`/me`,
    /// forward-auth's `X-Auth-Request-Name`, the `name` claim of ssogate's tokens): the
    /// full name the IdP gave, else the given and family names joined (SAML IdPs such as
    /// Keycloak send only those), else none.
    pub fn display_name(&self) -> Option<String> {
        display_name(
            self.name.as_deref(),
            self.given_name.as_deref(),
            self.family_name.as_deref(),
        )
    }
}

fn display_name(name: Option<&str>, given: Option<&str>, family: Option<&str>) -> Option<String> {
    fn clean(s: Option<&str>) -> Option<&str> {
        s.map(str::trim).filter(|s| !s.is_empty())
    }
    if let Some(n) = clean(name) {
        return Some(n.to_string());
    }
    let parts: Vec<&str> = [clean(given), clean(family)]
        .into_iter()
        .flatten()
        .collect();
    (!parts.is_empty()).then(|| parts.join(" "))
}

const COLUMNS: &str = "id, email, email_verified, given_name, family_name, name, picture, \
    custom_attributes, suspended, created_at, updated_at, last_sign_in_at";

/// The profile fields of a user (what sign-ins create and sync).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Profile {
    pub email: Option<Email>,
    pub email_verified: bool,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub name: Option<String>,
    pub picture: Option<String>,
    pub custom_attributes: Value,
}

pub async fn insert(conn: &mut AnyConnection, p: &Profile) -> Result<User> {
    let now = now_ms();
    let attrs = if p.custom_attributes.is_null() {
        Value::Object(Default::default())
    } else {
        p.custom_attributes.clone()
    };
    let row: UserRow = sqlx::query_as(&format!(
        "INSERT INTO users (id, email, email_verified, given_name, family_name, name, picture, \
         custom_attributes, suspended, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, $9, $9) RETURNING {COLUMNS}"
    ))
    .bind(new_id())
    .bind(p.email.as_ref().map(|e| e.as_str().to_string()))
    .bind(i64::from(p.email_verified))
    .bind(p.given_name.clone())
    .bind(p.family_name.clone())
    .bind(p.name.clone())
    .bind(p.picture.clone())
    .bind(json_text(&attrs))
    .bind(now)
    .fetch_one(conn)
    .await
    .map_err(|e| StoreError::on_unique(e, "a user with this email"))?;
    row.try_into()
}

pub async fn get(conn: &mut AnyConnection, id: &str) -> Result<Option<User>> {
    let row: Option<UserRow> =
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM users WHERE id = $1"))
            .bind(id)
            .fetch_optional(conn)
            .await?;
    row.map(User::try_from).transpose()
}

pub async fn find_by_email(conn: &mut AnyConnection, email: &Email) -> Result<Option<User>> {
    let row: Option<UserRow> =
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM users WHERE email = $1"))
            .bind(email.as_str())
            .fetch_optional(conn)
            .await?;
    row.map(User::try_from).transpose()
}

/// Replaces the profile fields. A clash with another user's email is `Conflict`.
pub async fn update_profile(conn: &mut AnyConnection, id: &str, p: &Profile) -> Result<User> {
    let attrs = if p.custom_attributes.is_null() {
        Value::Object(Default::default())
    } else {
        p.custom_attributes.clone()
    };
    let row: Option<UserRow> = sqlx::query_as(&format!(
        "UPDATE users SET email = $2, email_verified = $3, given_name = $4, family_name = $5, \
         name = $6, picture = $7, custom_attributes = $8, updated_at = $9 WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(p.email.as_ref().map(|e| e.as_str().to_string()))
    .bind(i64::from(p.email_verified))
    .bind(p.given_name.clone())
    .bind(p.family_name.clone())
    .bind(p.name.clone())
    .bind(p.picture.clone())
    .bind(json_text(&attrs))
    .bind(now_ms())
    .fetch_optional(conn)
    .await
    .map_err(|e| StoreError::on_unique(e, "a user with this email"))?;
    row.ok_or(StoreError::NotFound("user"))?.try_into()
}

pub async fn set_suspended(conn: &mut AnyConnection, id: &str, suspended: bool) -> Result<()> {
    let done = sqlx::query("UPDATE users SET suspended = $2, updated_at = $3 WHERE id = $1")
        .bind(id)
        .bind(i64::from(suspended))
        .bind(now_ms())
        .execute(conn)
        .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound("user"));
    }
    Ok(())
}

pub async fn record_sign_in(conn: &mut AnyConnection, id: &str, at: i64) -> Result<()> {
    sqlx::query("UPDATE users SET last_sign_in_at = $2 WHERE id = $1")
        .bind(id)
        .bind(at)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn count(conn: &mut AnyConnection) -> Result<i64> {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users")
        .fetch_one(conn)
        .await?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::display_name;

    #[test]
    fn the_display_name_is_the_full_name_else_given_and_family() {
        assert_eq!(
            display_name(Some("Alice Anders"), Some("Al"), Some("A")).as_deref(),
            Some("Alice Anders")
        );
        assert_eq!(
            display_name(None, Some("Sam"), Some("Aml")).as_deref(),
            Some("Sam Aml")
        );
        assert_eq!(
            display_name(Some("  "), None, Some("Aml")).as_deref(),
            Some("Aml")
        );
        assert_eq!(
            display_name(None, Some(" Sam "), None).as_deref(),
            Some("Sam")
        );
        assert_eq!(display_name(None, None, Some("")), None);
        assert_eq!(display_name(None, None, None), None);
    }
}
