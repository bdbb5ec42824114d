//! One sign-in interface for every connector kind, after Dex: [`open`] a [`Connector`]
//! (check its configuration, unseal its secrets), then [`Opened::start`] a sign-in (where to
//! send the browser, and what to keep until the IdP answers) and [`Opened::finish`] the
//! IdP's answer into an [`ExternalProfile`]. Connectors own no state between the two: the
//! caller keeps [`Kept`] in the pending login, bound to the browser.
//!
//! The HTTP handlers only extract the request, call these and render; a new connector kind
//! adds its module and its arm in [`open`], [`Opened::start`] and [`Opened::finish`].

use crate::connectors::oidc::error::OidcError;
use crate::connectors::oidc::provider::ProviderCache;
use crate::connectors::oidc::rp::{self, CallbackParams, OidcRp};
use crate::connectors::saml::authn_request::build_authn_request;
use crate::connectors::saml::error::SamlError;
use crate::connectors::saml::pool::{PoolError, VerificationPool};
use crate::connectors::saml::sp::SamlSp;
use crate::connectors::saml::verify::{verify_response, Expected};
use crate::connectors::{Connector, ConnectorKind, ExternalProfile, InvalidConnector, Protocol};
use crate::secrets::MasterKey;
use crate::store::{saml_replay, Store, StoreError};

/// What the running server lends a connector for one sign-in.
pub struct SignInEnv<'a> {
    pub master_key: &'a MasterKey,
    pub public_url: &'a str,
    /// OIDC discovery documents and keys, cached per issuer.
    pub oidc: &'a ProviderCache,
    /// SAML verification runs native code: on a bounded blocking pool.
    pub saml_verifications: &'a VerificationPool,
    /// For the SAML assertion replay cache.
    pub store: &'a Store,
    pub max_clock_skew_secs: i64,
}

/// What a started sign-in needs back when the IdP answers (kept in the pending login).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Kept {
    /// SAML: the AuthnRequest ID the response must answer (InResponseTo).
    pub saml_request_id: Option<String>,
    /// OIDC: the nonce and PKCE verifier sent with the authorization request.
    pub oidc_nonce: Option<String>,
    pub oidc_pkce_verifier: Option<String>,
}

/// A started sign-in.
#[derive(Debug)]
pub struct Started {
    /// Names the pending login in the IdP's answer (SAML RelayState, OIDC `state`).
    pub key: String,
    /// Where to send the browser.
    pub redirect_url: String,
    pub kept: Kept,
}

/// The IdP's answer, as the handler extracted it from the request.
pub enum Answer<'a> {
    /// The (base64) SAMLResponse posted to the ACS.
    Saml(String),
    /// The query of the redirect to the OIDC callback.
    Oidc(&'a CallbackParams),
}

/// Why a sign-in could not start or finish; each maps to one refusal reason code.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// The kind has no sign-in flow (yet).
    #[error("this kind of connector cannot sign in yet")]
    Unsupported,
    /// The connector cannot sign anyone in as configured (the cause is for the logs).
    #[error("connector is misconfigured: {0}")]
    Misconfigured(String),
    /// The OIDC provider could not be reached or refused to be used, at start.
    #[error(transparent)]
    IdpUnavailable(OidcError),
    #[error(transparent)]
    Saml(SamlError),
    /// The assertion was accepted before (its ID is in the replay cache).
    #[error("assertion {assertion_id} was already used")]
    SamlReplay { assertion_id: String },
    /// The verification pool is shut down.
    #[error("the SAML verification pool is closed")]
    SamlPoolClosed,
    #[error(transparent)]
    Oidc(OidcError),
    /// The pending login lacks what this connector kept in it.
    #[error("the kept sign-in state is incomplete")]
    StateCorrupt,
    #[error(transparent)]
    Store(StoreError),
}

/// ssogate's addresses an administrator gives the IdP for a connector of `kind`, by name
/// (the management API shows them next to the connector).
pub fn endpoints(kind: ConnectorKind, id: &str, public_url: &str) -> Vec<(&'static str, String)> {
    let base = public_url.trim_end_matches('/');
    match kind {
        ConnectorKind::Saml => vec![
            ("sp_metadata_url", format!("{base}/saml/{id}/metadata")),
            ("acs_url", format!("{base}/saml/{id}/acs")),
        ],
        ConnectorKind::Oidc => vec![("redirect_uri", format!("{base}/oidc/{id}/callback"))],
        ConnectorKind::Social | ConnectorKind::Email => Vec::new(),
    }
}

/// A connector ready to sign in (Dex's `Open`).
pub enum Opened {
    Saml(Box<SamlSp>),
    Oidc(Box<OidcRp>),
}

/// Opens a connector row as read (with the parsed connector, for what follows the sign-in):
/// a row that does not parse, or whose protocol section or secrets are missing, signs
/// nobody in.
pub fn open<'c>(
    c: &'c Result<Connector, InvalidConnector>,
    env: &SignInEnv<'_>,
) -> Result<(&'c Connector, Opened), SignInError> {
    let c = match c {
        Ok(c) => c,
        Err(InvalidConnector::UnknownKind { .. }) => return Err(SignInError::Unsupported),
        Err(e) => return Err(SignInError::Misconfigured(e.to_string())),
    };
    let opened = match c.protocol() {
        Protocol::Saml(_) | Protocol::Unconfigured(ConnectorKind::Saml) => {
            SamlSp::new(c, env.master_key, env.public_url)
                .map(|sp| Opened::Saml(Box::new(sp)))
                .map_err(|e| SignInError::Misconfigured(e.to_string()))
        }
        Protocol::Oidc(_) | Protocol::Unconfigured(ConnectorKind::Oidc) => {
            OidcRp::new(c, env.master_key, env.public_url)
                .map(|rp| Opened::Oidc(Box::new(rp)))
                .map_err(|e| SignInError::Misconfigured(e.to_string()))
        }
        Protocol::Social(_) | Protocol::Email | Protocol::Unconfigured(_) => {
            Err(SignInError::Unsupported)
        }
    }?;
    Ok((c, opened))
}

/// [`open`], for an endpoint of one protocol (the SAML ACS, the OIDC callback): a connector
/// of another kind (or of none) is misconfigured there, refused before anything else is
/// read.
pub fn open_as<'c>(
    c: &'c Result<Connector, InvalidConnector>,
    env: &SignInEnv<'_>,
    kind: ConnectorKind,
) -> Result<(&'c Connector, Opened), SignInError> {
    let other_kind = || SignInError::Misconfigured(format!("not a {} connector", kind.as_str()));
    if c.as_ref().is_ok_and(|c| c.kind != kind) {
        return Err(other_kind());
    }
    match open(c, env) {
        Err(SignInError::Unsupported) => Err(other_kind()),
        other => other,
    }
}

impl Opened {
    pub fn kind(&self) -> ConnectorKind {
        match self {
            Opened::Saml(_) => ConnectorKind::Saml,
            Opened::Oidc(_) => ConnectorKind::Oidc,
        }
    }

    /// Starts a sign-in: the redirect to the IdP and what to keep until it answers.
    pub async fn start(&self, env: &SignInEnv<'_>) -> Result<Started, SignInError> {
        match self {
            Opened::Saml(sp) => {
                let relay_state = rp::random_token();
                let req = build_authn_request(sp, &relay_state)
                    .map_err(|e| SignInError::Misconfigured(e.to_string()))?;
                Ok(Started {
                    key: relay_state,
                    redirect_url: req.url,
                    kept: Kept {
                        saml_request_id: Some(req.request_id),
                        ..Kept::default()
                    },
                })
            }
            Opened::Oidc(rp) => {
                let started = rp::start(rp, env.oidc)
                    .await
                    .map_err(SignInError::IdpUnavailable)?;
                Ok(Started {
                    key: started.state,
                    redirect_url: started.url,
                    kept: Kept {
                        oidc_nonce: Some(started.nonce),
                        oidc_pkce_verifier: Some(started.pkce_verifier),
                        ..Kept::default()
                    },
                })
            }
        }
    }

    /// Finishes a sign-in from the IdP's answer. `kept` is what [`Opened::start`] returned,
    /// from the pending login the answer named (default for an unsolicited SAML response).
    pub async fn finish(
        &self,
        env: &SignInEnv<'_>,
        answer: Answer<'_>,
        kept: &Kept,
    ) -> Result<ExternalProfile, SignInError> {
        match (self, answer) {
            (Opened::Saml(sp), Answer::Saml(response)) => {
                finish_saml(sp, env, response, kept).await
            }
            (Opened::Oidc(rp), Answer::Oidc(params)) => {
                let (Some(nonce), Some(verifier)) = (
                    kept.oidc_nonce.as_deref(),
                    kept.oidc_pkce_verifier.as_deref(),
                ) else {
                    return Err(SignInError::StateCorrupt);
                };
                rp::finish(rp, env.oidc, params, nonce, verifier)
                    .await
                    .map_err(SignInError::Oidc)
            }
            // The endpoints open with `open_as`: an answer of the other protocol cannot
            // reach a connector.
            _ => Err(SignInError::Misconfigured(
                "answer of another protocol".into(),
            )),
        }
    }
}

async fn finish_saml(
    sp: &SamlSp,
    env: &SignInEnv<'_>,
    saml_response: String,
    kept: &Kept,
) -> Result<ExternalProfile, SignInError> {
    let expected = Expected {
        in_response_to: kept.saml_request_id.clone(),
        now: chrono::Utc::now(),
        max_clock_skew_secs: env.max_clock_skew_secs,
    };
    // Verification is CPU-bound and runs native code (libxml2/xmlsec): bounded blocking
    // pool, and a panic in there is this request's 400, not a dead worker.
    let job_sp = sp.clone();
    let verified = match env
        .saml_verifications
        .run(move || verify_response(&job_sp, &saml_response, &expected))
        .await
    {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => return Err(SignInError::Saml(e)),
        Err(PoolError::Panicked) => {
            tracing::error!(
                connector = sp.connector_id.as_str(),
                "SAML verification panicked"
            );
            return Err(SignInError::Saml(SamlError::Internal(
                "verification panicked".into(),
            )));
        }
        Err(PoolError::Closed) => return Err(SignInError::SamlPoolClosed),
    };

    // Replay cache: each assertion ID once per IdP, remembered until it expires.
    let fresh = async {
        let mut conn = env.store.write().await?;
        saml_replay::remember(
            &mut conn,
            &verified.issuer,
            &verified.assertion_id,
            verified.assertion_expires_at,
        )
        .await
    }
    .await
    .map_err(SignInError::Store)?;
    if !fresh {
        return Err(SignInError::SamlReplay {
            assertion_id: verified.assertion_id,
        });
    }
    Ok(verified.profile)
}
