//! The downstream half: apps, ssogate's tokens and JWKS, forward-auth (also behind a real
//! nginx and a real Caddy), the session cookie, suspension. Each test that can runs on both
//! databases.

mod apps_api;
mod caddy;
mod display_name;
mod forward_auth;
mod nginx;
mod pyjwt;
mod sessions;
mod store_apps;
mod tokens;
