//! OpenID Connect relying party (openidconnect 4; see docs/DEPENDENCY-GUARDS.md for what it does
//! not check).
//!
//! Who does what:
//! - openidconnect: discovery (and the issuer equality of the document), the authorization
//!   URL, PKCE S256, the code exchange (client_secret_basic / _post), and in the ID token
//!   the signature, `iss`, `aud` contains us, `exp` and the nonce;
//! - [`provider`]: the per-issuer cache, JWKS refetch on unknown keys (rate-limited,
//!   single-flight);
//! - [`id_token`]: `alg` allow-list and key choice before openidconnect, `azp`, `at_hash`
//!   and `iat` after it, each refusal with its own code ([`error::OidcError::code`]);
//! - [`rp`]: RFC 9207 `iss`, the provider's error, userinfo (its `sub` must match);
//! - [`userinfo`]: the userinfo answer, JSON or a signed JWT verified like an ID token;
//! - [`claims`]: the merge (ID token wins) and the mapping to an `ExternalProfile`.

pub mod claims;
pub mod discovery;
pub mod error;
pub mod id_token;
pub mod provider;
pub mod rp;
pub mod userinfo;
