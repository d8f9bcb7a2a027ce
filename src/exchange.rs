//! Orchestration: verified identity → role → replay check → STS → credentials. Knows no actix types.
//!
//! Order matters for "never lost state": everything that can be fixed by the caller (bad input,
//! role choice) is decided before the assertion ID is consumed in the replay store; the ID is
//! consumed immediately before the STS call, so an assertion reaches STS at most once.
//! The web-identity flow lives in `exchange/web_identity.rs`.

mod web_identity;
pub use web_identity::{derive_session_name, WebIdentityRequest};

use crate::aws::{RoleArn, RoleSessionName, SessionDuration};
use crate::clock::SharedClock;
use crate::error::{ApiError, ErrorKind};
use crate::identity::{OriginalCredential, Protocol, VerifiedIdentity};
use crate::mapping::{select_saml_role, MappingError};
use crate::oidc::{OidcError, OidcValidator};
use crate::replay::{ReplayError, ReplayGuard};
use crate::saml::{SamlError, SamlValidator, CLOCK_SKEW};
use crate::sts::{AssumeRoleWithSamlRequest, StsClient, StsCredentials, StsError};
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use std::sync::Arc;

/// A caller's request for credentials from a SAML Response (fields unverified).
#[derive(Debug)]
pub struct SamlCredentialsRequest {
    pub saml_response: SecretString,
    pub role_arn: Option<String>,
    pub duration_seconds: Option<String>,
}

/// Credentials issued for a verified identity, with what the answer reports about them.
#[derive(Debug)]
pub struct IssuedCredentials {
    pub credentials: StsCredentials,
    pub role_arn: RoleArn,
    pub subject: String,
    pub session_name: Option<RoleSessionName>,
    pub issuer: String,
    pub provider: String,
    pub source_identity: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    #[error("{message}")]
    BadInput { code: &'static str, message: String },
    #[error(transparent)]
    Saml(#[from] SamlError),
    #[error(transparent)]
    Oidc(#[from] OidcError),
    #[error(transparent)]
    Mapping(#[from] MappingError),
    #[error("{}", match .0 {
        Protocol::Saml => "this SAML assertion was already used; sign in again at your identity provider",
        Protocol::Oidc => "this token was already used; get a new token from your identity provider",
    })]
    Replayed(Protocol),
    #[error(transparent)]
    Replay(#[from] ReplayError),
    #[error(transparent)]
    Sts(#[from] StsError),
    #[error("the identity provider's session ends in less than 15 minutes; sign in again")]
    SessionEnding,
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError for ExchangeError {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::BadInput { .. } => ErrorKind::BadRequest,
            Self::Saml(e) => e.kind(),
            Self::Oidc(e) => e.kind(),
            Self::Mapping(e) => e.kind(),
            Self::Replayed(_) | Self::SessionEnding => ErrorKind::Unauthenticated,
            Self::Replay(e) => e.kind(),
            Self::Sts(e) => e.kind(),
            Self::Internal(_) => ErrorKind::Internal,
        }
    }
    fn code(&self) -> &'static str {
        match self {
            Self::BadInput { code, .. } => code,
            Self::Saml(e) => e.code(),
            Self::Oidc(e) => e.code(),
            Self::Mapping(e) => e.code(),
            Self::Replayed(Protocol::Saml) => "saml_replay",
            Self::Replayed(Protocol::Oidc) => "oidc_replay",
            Self::Replay(e) => e.code(),
            Self::Sts(e) => e.code(),
            Self::SessionEnding => "saml_session_ending",
            Self::Internal(_) => "internal_error",
        }
    }
    fn retry_after(&self) -> Option<u64> {
        match self {
            Self::Oidc(e) => e.retry_after(),
            Self::Replay(e) => e.retry_after(),
            Self::Sts(e) => e.retry_after(),
            _ => None,
        }
    }
    fn detail(&self) -> Option<serde_json::Value> {
        match self {
            Self::Mapping(e) => e.detail(),
            _ => None,
        }
    }
}

/// The services an exchange needs, all behind traits.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub saml: Arc<SamlValidator>,
    pub oidc: Arc<OidcValidator>,
    pub sts: Arc<dyn StsClient>,
    pub replay: Arc<dyn ReplayGuard>,
    pub clock: SharedClock,
}

impl Exchange {
    /// SAML Response → temporary credentials through AssumeRoleWithSAML.
    pub async fn saml_credentials(
        &self,
        req: SamlCredentialsRequest,
    ) -> Result<IssuedCredentials, ExchangeError> {
        let requested_role = parse_role_arn(req.role_arn.as_deref())?;
        let requested_duration = parse_duration(req.duration_seconds.as_deref())?;

        let identity = self.validate_saml(req.saml_response).await?;
        let pair = select_saml_role(&identity.aws().roles, requested_role.as_ref())?;
        let duration = effective_duration(&identity, requested_duration, self.clock.now())?;

        let replay_key = format!("saml:{}:{}", identity.issuer(), identity.token_id());
        self.consume_once(&identity, &replay_key, identity.expires_at() + CLOCK_SKEW)
            .await?;

        let OriginalCredential::SamlResponse(saml_assertion) = identity.original().clone() else {
            return Err(ExchangeError::Internal(
                "SAML identity without its response".into(),
            ));
        };
        let credentials = self
            .sts
            .assume_role_with_saml(AssumeRoleWithSamlRequest {
                role_arn: pair.role.clone(),
                principal_arn: pair.provider.clone(),
                saml_assertion,
                duration,
            })
            .await?;
        let session_name = identity.aws().session_name.clone();
        Ok(issued(
            &identity,
            credentials,
            pair.role,
            session_name,
            duration,
        ))
    }

    /// Record the message's ID as used; a second use before it expires is a replay (logged).
    async fn consume_once(
        &self,
        identity: &VerifiedIdentity,
        key: &str,
        until: DateTime<Utc>,
    ) -> Result<(), ExchangeError> {
        if self.replay.first_use(key, until).await? {
            return Ok(());
        }
        tracing::warn!(
            event = "replay.refused",
            protocol = identity.protocol().as_str(),
            provider = identity.provider(),
            token_id = identity.token_id(),
            subject = %identity.subject_hash(),
            "replay refused"
        );
        Err(ExchangeError::Replayed(identity.protocol()))
    }

    async fn validate_saml(
        &self,
        response: SecretString,
    ) -> Result<VerifiedIdentity, ExchangeError> {
        use secrecy::ExposeSecret;
        let saml = Arc::clone(&self.saml);
        tokio::task::spawn_blocking(move || saml.validate(response.expose_secret()))
            .await
            .map_err(|e| ExchangeError::Internal(format!("validation task failed: {e}")))?
            .map_err(ExchangeError::from)
    }
}

/// Write the audit event for issued credentials and build the answer.
fn issued(
    identity: &VerifiedIdentity,
    credentials: StsCredentials,
    role_arn: RoleArn,
    session_name: Option<RoleSessionName>,
    duration: Option<SessionDuration>,
) -> IssuedCredentials {
    tracing::info!(
        event = "credentials.issued",
        protocol = identity.protocol().as_str(),
        provider = identity.provider(),
        issuer = identity.issuer(),
        subject = %identity.subject_hash(),
        token_id = identity.token_id(),
        key_fingerprint = identity.key_fingerprint(),
        role_arn = role_arn.as_str(),
        session_name = session_name.as_ref().map(|s| s.as_str()),
        duration_seconds = duration.map(|d| d.secs()),
        expiration = %credentials.expiration.to_rfc3339(),
        "issued temporary credentials"
    );
    IssuedCredentials {
        source_identity: identity
            .aws()
            .source_identity
            .as_ref()
            .map(|s| s.as_str().to_owned())
            .or_else(|| credentials.source_identity.clone()),
        credentials,
        role_arn,
        subject: identity.subject().to_owned(),
        session_name,
        issuer: identity.issuer().to_owned(),
        provider: identity.provider().to_owned(),
    }
}

fn parse_role_arn(raw: Option<&str>) -> Result<Option<RoleArn>, ExchangeError> {
    raw.map(RoleArn::parse)
        .transpose()
        .map_err(|e| bad("invalid_role_arn", e.to_string()))
}

fn parse_duration(raw: Option<&str>) -> Result<Option<SessionDuration>, ExchangeError> {
    raw.map(SessionDuration::parse)
        .transpose()
        .map_err(|e| bad("invalid_duration", e.to_string()))
}

fn bad(code: &'static str, message: String) -> ExchangeError {
    ExchangeError::BadInput { code, message }
}

/// The session length to request: the caller's choice or the IdP's `SessionDuration`, never more
/// than the IdP allows, and never past the IdP's `SessionNotOnOrAfter` (checklist B03).
fn effective_duration(
    identity: &VerifiedIdentity,
    requested: Option<SessionDuration>,
    now: DateTime<Utc>,
) -> Result<Option<SessionDuration>, ExchangeError> {
    let idp_max = identity.aws().session_duration;
    if let (Some(r), Some(m)) = (requested, idp_max) {
        if r > m {
            return Err(bad(
                "duration_exceeds_idp_limit",
                format!(
                    "duration_seconds {} exceeds the {} seconds your identity provider allows (SessionDuration)",
                    r.secs(),
                    m.secs()
                ),
            ));
        }
    }
    let mut chosen = requested.or(idp_max);
    if let Some(end) = identity.aws().session_not_on_or_after {
        let remaining = (end - now).num_seconds();
        let wanted =
            i64::from(chosen.map_or(crate::aws::duration::DEFAULT_SESSION_SECONDS, |d| d.secs()));
        if remaining < i64::from(crate::aws::duration::MIN_SESSION_SECONDS) {
            return Err(ExchangeError::SessionEnding);
        }
        if wanted > remaining {
            chosen = Some(
                SessionDuration::from_secs(remaining)
                    .map_err(|e| ExchangeError::Internal(e.to_string()))?,
            );
        }
    }
    Ok(chosen)
}
