//! The relying party: starting a code flow (PKCE S256, state, nonce) and finishing it
//! (RFC 9207 `iss`, code exchange, ID token checks, userinfo merge, claim mapping).
//! The caller owns `state`: it stores the pending login under it and takes it back,
//! single-use and bound to the browser, before calling [`finish`].

use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreAuthenticationFlow, CoreClientAuthMethod,
    CoreErrorResponseType, CoreGenderClaim, CoreIdToken, CoreJsonWebKey,
    CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm, CoreRevocableToken,
    CoreRevocationErrorResponse, CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AccessToken, AuthType, AuthorizationCode, ClientId, ClientSecret, CsrfToken,
    EmptyAdditionalClaims, EndpointMaybeSet, EndpointNotSet, EndpointSet, ExtraTokenFields, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken,
    RequestTokenError, Scope, StandardErrorResponse, StandardTokenResponse, TokenResponse,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::claims::map_profile;
use super::discovery::error_chain;
use super::error::OidcError;
use super::id_token::verify_with_provider;
use super::userinfo;
use crate::connectors::secrets::ConnectorSecrets;
use crate::connectors::settings::OidcSettings;
use crate::connectors::Connector;
use crate::connectors::ExternalProfile;
use crate::secrets::MasterKey;

/// One OIDC connector as the relying party sees it.
#[derive(Clone)]
pub struct OidcRp {
    pub connector_id: String,
    pub settings: OidcSettings,
    pub client_secret: Option<String>,
    /// `<public_url>/oidc/<id>/callback`.
    pub redirect_uri: String,
    pub domains: Vec<String>,
    /// The connector's `allow_insecure_http` (see [`crate::connectors::trust_anchor`]).
    pub allow_insecure_http: bool,
}

impl std::fmt::Debug for OidcRp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcRp")
            .field("connector_id", &self.connector_id)
            .field("issuer", &self.settings.issuer)
            .finish_non_exhaustive()
    }
}

impl OidcRp {
    pub fn new(c: &Connector, key: &MasterKey, public_url: &str) -> Result<OidcRp, OidcError> {
        let oidc = c
            .oidc()
            .cloned()
            .ok_or_else(|| OidcError::Internal(format!("connector {} is not OIDC", c.id)))?;
        let secrets = ConnectorSecrets::open(&c.record, key)
            .map_err(|e| OidcError::Internal(e.to_string()))?;
        Ok(OidcRp {
            connector_id: c.id.clone(),
            settings: oidc,
            client_secret: secrets.client_secret,
            redirect_uri: format!(
                "{}/oidc/{}/callback",
                public_url.trim_end_matches('/'),
                c.id
            ),
            domains: c.domains.clone(),
            allow_insecure_http: c.settings.allow_insecure_http,
        })
    }

    /// The issuer's discovery document and keys, unless the issuer is a plain-http
    /// address that was not explicitly allowed (checked at every use, not only when the
    /// connector was saved: a row saved before the check existed is refused too).
    pub(crate) async fn provider(
        &self,
        providers: &ProviderCache,
    ) -> Result<Arc<Provider>, OidcError> {
        crate::connectors::trust_anchor::check_named(
            "issuer",
            &self.settings.issuer,
            self.allow_insecure_http,
        )
        .map_err(|e| OidcError::InsecureTrustAnchor(e.to_string()))?;
        providers.provider(&self.settings.issuer).await
    }
}

pub use super::provider::{Provider, ProviderCache, ProviderCacheConfig};

/// What the caller stores in the pending login and passes back to [`finish`].
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct AuthStart {
    pub url: String,
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
}

/// Query parameters of the redirect back to `/oidc/{id}/callback`.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct CallbackParams {
    pub code: Option<String>,
    pub state: Option<String>,
    pub iss: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// The token response as openidconnect's HTTP code receives it, with the ID token kept as
/// the raw string: openidconnect's own response type parses the ID token while decoding
/// the body, so a token with an unknown `alg` or a malformed claim would surface as an
/// undifferentiated "could not parse the token response". We parse it ourselves, later,
/// to give each refusal its own reason code.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct RawIdTokenField {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}
impl ExtraTokenFields for RawIdTokenField {}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(transparent)]
pub struct RawTokenResponse(StandardTokenResponse<RawIdTokenField, CoreTokenType>);

impl RawTokenResponse {
    pub fn id_token(&self) -> Option<&str> {
        self.0.extra_fields().id_token.as_deref()
    }
}

impl OAuth2TokenResponse for RawTokenResponse {
    type TokenType = CoreTokenType;
    fn access_token(&self) -> &AccessToken {
        self.0.access_token()
    }
    fn token_type(&self) -> &CoreTokenType {
        self.0.token_type()
    }
    fn expires_in(&self) -> Option<Duration> {
        self.0.expires_in()
    }
    fn refresh_token(&self) -> Option<&RefreshToken> {
        self.0.refresh_token()
    }
    fn scopes(&self) -> Option<&Vec<Scope>> {
        self.0.scopes()
    }
}

impl
    TokenResponse<
        EmptyAdditionalClaims,
        CoreGenderClaim,
        CoreJweContentEncryptionAlgorithm,
        CoreJwsSigningAlgorithm,
    > for RawTokenResponse
{
    /// Always `None`: see [`RawTokenResponse::id_token`] (the raw string) and
    /// [`super::id_token`] for its verification.
    fn id_token(&self) -> Option<&CoreIdToken> {
        None
    }
}

type RpClient = openidconnect::Client<
    EmptyAdditionalClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    RawTokenResponse,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// client_secret_basic unless the provider supports only client_secret_post (OIDC
/// Discovery: absent means client_secret_basic).
fn client_auth_type(provider: &Provider) -> AuthType {
    match provider.metadata.token_endpoint_auth_methods_supported() {
        Some(methods)
            if !methods.contains(&CoreClientAuthMethod::ClientSecretBasic)
                && methods.contains(&CoreClientAuthMethod::ClientSecretPost) =>
        {
            AuthType::RequestBody
        }
        _ => AuthType::BasicAuth,
    }
}

fn rp_client(rp: &OidcRp, provider: &Provider) -> Result<RpClient, OidcError> {
    let redirect = RedirectUrl::new(rp.redirect_uri.clone())
        .map_err(|e| OidcError::Internal(format!("redirect_uri {:?}: {e}", rp.redirect_uri)))?;
    let secret = rp
        .client_secret
        .as_ref()
        .filter(|s| !s.is_empty())
        .map(|s| ClientSecret::new(s.clone()));
    Ok(RpClient::from_provider_metadata(
        provider.metadata.clone(),
        ClientId::new(rp.settings.client_id.clone()),
        secret,
    )
    .set_redirect_uri(redirect)
    .set_auth_type(client_auth_type(provider)))
}

/// 256 bits from the OS RNG, base64url.
pub(crate) fn random_token() -> String {
    let bytes: [u8; 32] = rand::random();
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The authorization URL of a code flow with PKCE S256, a fresh state and nonce.
pub async fn start(rp: &OidcRp, providers: &ProviderCache) -> Result<AuthStart, OidcError> {
    let provider = rp.provider(providers).await?;
    let client = rp_client(rp, &provider)?;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256_len(32);
    let state = random_token();
    let nonce = random_token();
    let (state_for_url, nonce_for_url) = (state.clone(), nonce.clone());
    let (url, _, _) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            move || CsrfToken::new(state_for_url),
            move || Nonce::new(nonce_for_url),
        )
        // openidconnect always sends `openid` itself.
        .add_scopes(
            rp.settings
                .scopes
                .iter()
                .filter(|s| s.as_str() != "openid" && !s.is_empty())
                .map(|s| Scope::new(s.clone())),
        )
        .set_pkce_challenge(challenge)
        .url();
    Ok(AuthStart {
        url: url.to_string(),
        state,
        nonce,
        pkce_verifier: verifier.secret().clone(),
    })
}

/// What a provider said, shortened and stripped of control characters: it is shown to
/// people and written to the audit log.
pub(crate) fn provider_text(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(200).collect()
}

/// Finishes a code flow. The caller has already taken back the pending login stored under
/// `params.state` (single-use, bound to the browser) and passes its nonce and verifier.
///
/// Order: RFC 9207 `iss` first (a mix-up attacker's response, error or not, is refused as
/// such), then the provider's error, the code exchange, the ID token, userinfo.
pub async fn finish(
    rp: &OidcRp,
    providers: &ProviderCache,
    params: &CallbackParams,
    nonce: &str,
    pkce_verifier: &str,
) -> Result<ExternalProfile, OidcError> {
    let provider = rp.provider(providers).await?;

    // RFC 9207 section 2.4: compare by simple string comparison; require it when the
    // provider advertises it (otherwise stripping it would defeat the check).
    match params.iss.as_deref() {
        Some(iss) if iss != rp.settings.issuer => return Err(OidcError::IssMismatch),
        None if provider.sends_iss_parameter() => return Err(OidcError::IssMissing),
        _ => {}
    }

    if let Some(error) = params.error.as_deref() {
        let mut msg = provider_text(error);
        if let Some(d) = params.error_description.as_deref() {
            msg.push_str(": ");
            msg.push_str(&provider_text(d));
        }
        return Err(OidcError::ProviderError(msg));
    }

    let code = params
        .code
        .as_deref()
        .filter(|c| !c.is_empty())
        .ok_or(OidcError::CodeMissing)?;
    if pkce_verifier.is_empty() {
        return Err(OidcError::Internal(
            "no PKCE verifier was stored for this sign-in".into(),
        ));
    }

    let client = rp_client(rp, &provider)?;
    let response = client
        .exchange_code(AuthorizationCode::new(code.to_string()))
        .map_err(|e| OidcError::Discovery(format!("no token endpoint: {e}")))?
        .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_string()))
        .request_async(providers.http())
        .await
        .map_err(token_error)?;

    let raw_id_token = response.id_token().ok_or(OidcError::IdTokenInvalid)?;
    let access_token = response.access_token().secret();
    let id_token = verify_with_provider(
        rp,
        providers,
        provider.clone(),
        raw_id_token,
        nonce,
        Some(access_token),
    )
    .await?;

    let userinfo = match provider.metadata.userinfo_endpoint() {
        Some(url) => {
            let body = userinfo::fetch(providers.http(), url.as_str(), access_token).await?;
            let claims = userinfo::claims(rp, providers, &provider, body).await?;
            // OIDC Core 5.3.2: the sub of userinfo MUST exactly match the ID token's;
            // otherwise the response must not be used (token substitution).
            match claims.get("sub") {
                Some(Value::String(s)) if *s == id_token.subject => {}
                _ => return Err(OidcError::UserinfoSubjectMismatch),
            }
            Some(claims)
        }
        None => None,
    };

    map_profile(
        &rp.connector_id,
        &rp.settings.claims,
        &id_token.subject,
        &id_token.claims,
        userinfo.as_ref(),
    )
}

fn token_error<RE: std::error::Error + 'static>(
    e: RequestTokenError<RE, StandardErrorResponse<CoreErrorResponseType>>,
) -> OidcError {
    OidcError::TokenExchange(match e {
        RequestTokenError::ServerResponse(r) => {
            let mut msg = provider_text(r.error().as_ref());
            if let Some(d) = r.error_description() {
                msg.push_str(": ");
                msg.push_str(&provider_text(d));
            }
            msg
        }
        RequestTokenError::Request(e) => format!("request failed: {}", error_chain(&e)),
        RequestTokenError::Parse(e, _) => format!("unreadable token response: {e}"),
        RequestTokenError::Other(s) => provider_text(&s),
    })
}
