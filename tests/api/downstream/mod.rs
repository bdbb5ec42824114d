//! The downstream half: apps, ssogate's tokens and JWKS, forward-auth (also behind a real
//! nginx), the session cookie, suspension. Each test that can runs on both databases.

mod apps_api;
mod forward_auth;
mod nginx;
mod pyjwt;
mod sessions;
mod store_apps;
mod support;
mod tokens;
