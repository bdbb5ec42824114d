//! The downstream half: apps, ssogate's tokens and JWKS, forward-auth (also behind a real
//! nginx and a real Caddy), the session cookie, suspension. Each test that can runs on both
//! databases.

/// `both!(test_fn, …)`: each `async fn test_fn(db: Db)` as a test on SQLite and on
/// PostgreSQL (the store conformance pattern).
macro_rules! both {
    ($($name:ident),* $(,)?) => {
        mod sqlite { $(#[tokio::test] async fn $name() { super::$name(crate::helpers::Db::Sqlite).await })* }
        mod postgres { $(#[tokio::test] async fn $name() { super::$name(crate::helpers::Db::Postgres).await })* }
    };
}

mod apps_api;
mod caddy;
mod display_name;
mod forward_auth;
mod nginx;
pub mod nginx_site;
mod pyjwt;
mod sessions;
mod store_apps;
pub mod support;
mod tokens;
