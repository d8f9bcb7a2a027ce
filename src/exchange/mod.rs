//! Orchestration: verified identity → role → replay check → STS → credentials. Knows no actix types.
//!
//! Order matters for "never lost state": everything that can be fixed by the caller (bad input,
//! role choice) and everything the STS call needs (the session plan) is decided before the
//! assertion ID is consumed in the replay store; the ID is consumed immediately before the STS
//! call, so an assertion reaches STS at most once.
//! The grant comes from the mapping rules (`mapping::select`), the duration from the negotiator;
//! from those `exchange/plan.rs` builds one [`SessionPlan`] per request (session name, tags, source
//! identity, cache key, labels and the STS call), which issuing, the cache (`exchange/caching.rs`)
//! and `/v1/explain` (`exchange/explain.rs`) all read, and `exchange/dispatch.rs` sends the plan's
//! call. The web-identity flow lives in `exchange/web_identity.rs`; credentials for an identity
//! signed in through the browser (web/) in `exchange/signed_in.rs`; the refusal of the browser
//! sign-in's own assertions on the API in `exchange/browser_sp.rs`.

mod browser_sp;
mod caching;
mod dispatch;
mod explain;
mod plan;
mod revoke;
mod signed_in;
#[cfg(test)]
mod tests;
mod web_identity;
pub use browser_sp::BrowserSp;
pub use caching::{revocation_labels, PER_MESSAGE_CLAIMS};
pub use explain::{
    offered_roles, ExplainRequest, Explanation, OfferedRoles, PresentedCredential, Problem,
    RoleSummary,
};
pub use plan::{SessionPlan, SessionTerms, StsCall};
pub use revoke::{Revocation, RevokeRequest, DENY_POLICY_NAME};
pub use web_identity::{derive_session_name, WebIdentityRequest};

use crate::aws::{RoleArn, RoleSessionName, SessionDuration};
use crate::cache::{CacheOutcome, CachingExchange};
use crate::clock::SharedClock;
use crate::error::{ApiError, ErrorKind};
use crate::identity::{Protocol, VerifiedIdentity};
use crate::issuer::{Issuer, IssuerError};
use crate::mapping::{negotiate, select, Grant, MappingError, Negotiated, Rules, StsMode};
use crate::oidc::{OidcError, OidcValidator};
use crate::replay::{ReplayError, ReplayGuard};
use crate::saml::{AwsAttributes, SamlError, SamlValidator, CLOCK_SKEW};
use crate::sts::{StsClient, StsCredentials, StsError};
use chrono::{DateTime, Utc};
use plan::PlanRequest;
use secrecy::SecretString;
use std::sync::Arc;

/// A caller's request for credentials from a SAML Response (fields unverified).
#[derive(Debug)]
pub struct SamlCredentialsRequest {
    pub saml_response: SecretString,
    pub role_arn: Option<String>,
    pub duration_seconds: Option<String>,
    /// `/v1/console-url`: the console `SessionDuration` the credentials must cover, checked
    /// against the negotiated limits before the assertion is consumed.
    pub console_session_seconds: Option<u32>,
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
    pub protocol: Protocol,
    pub source_identity: Option<String>,
    /// Keys of the session tags the session carries (audit; values are not logged).
    pub tag_keys: Vec<String>,
    /// How the credentials were obtained.
    pub mode: StsMode,
    /// The grant's display alias, if the rule set one.
    pub alias: Option<String>,
    /// The rule that granted the role.
    pub rule: String,
    /// The negotiated `DurationSeconds` and why it is that value.
    pub duration: Negotiated,
    /// How the credential cache answered (`None`: no cache configured).
    pub cache: Option<CacheOutcome>,
    /// The SAML signature was accepted only through the IdP's `legacy_algorithms` opt-in.
    pub legacy_algorithm: bool,
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
    Issuer(#[from] IssuerError),
    #[error("the granted role uses mode \"issuer\", but issuer mode is not enabled ([issuer] enabled = true)")]
    IssuerDisabled,
    #[error(transparent)]
    Sts(#[from] StsError),
    #[error("the identity provider's session ends in less than 15 minutes; sign in again")]
    SessionEnding,
    #[error("access for this subject or role was revoked by an administrator; ask them to lift the block")]
    Revoked,
    #[error("the revocation was applied on this replica but not in Redis ({0}); retry when Redis answers")]
    RevocationIncomplete(String),
    /// A SAML assertion of the broker's own browser sign-in, presented to the API.
    #[error("this SAML assertion belongs to browser sign-in at the broker ({0}); the API accepts only assertions your identity provider issued for AWS or for an audience configured for API use: sign in with the browser instead")]
    BrowserAssertion(&'static str),
    #[error(transparent)]
    RateLimited(#[from] crate::limits::RateLimited),
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
            Self::Replayed(_) | Self::SessionEnding | Self::BrowserAssertion(_) => {
                ErrorKind::Unauthenticated
            }
            Self::Revoked => ErrorKind::Forbidden,
            Self::RevocationIncomplete(_) => ErrorKind::Unavailable,
            Self::Replay(e) => e.kind(),
            Self::Issuer(e) => e.kind(),
            Self::IssuerDisabled => ErrorKind::Internal,
            Self::Sts(e) => e.kind(),
            Self::RateLimited(e) => e.kind(),
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
            Self::Issuer(e) => e.code(),
            Self::IssuerDisabled => "issuer_disabled",
            Self::Sts(e) => e.code(),
            Self::SessionEnding => "saml_session_ending",
            Self::BrowserAssertion(_) => "saml_browser_assertion",
            Self::Revoked => "access_revoked",
            Self::RevocationIncomplete(_) => "revocation_incomplete",
            Self::RateLimited(e) => e.code(),
            Self::Internal(_) => "internal_error",
        }
    }
    fn retry_after(&self) -> Option<u64> {
        match self {
            Self::Oidc(e) => e.retry_after(),
            Self::Replay(e) => e.retry_after(),
            Self::Sts(e) => e.retry_after(),
            Self::RevocationIncomplete(_) => Some(2),
            Self::RateLimited(e) => e.retry_after(),
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
    /// Mapping rules (empty: the SAML Role attribute / the caller's role_arn decides).
    pub rules: Arc<Rules>,
    /// The broker's own issuer, for grants in mode "issuer".
    pub issuer: Option<Arc<Issuer>>,
    pub sts: Arc<dyn StsClient>,
    pub replay: Arc<dyn ReplayGuard>,
    /// The credential cache (`None`: every request calls STS).
    pub cache: Option<CachingExchange>,
    /// Per-subject rate limit (checked once the identity is verified).
    pub limits: Arc<crate::limits::RateLimits>,
    /// Where sessions come from (Region and STS endpoint): part of every cache key, so replicas
    /// sharing a Redis but not a Region never share an entry.
    pub sts_scope: Arc<str>,
    /// The broker's own SAML SP addresses: assertions addressed to them are refused on the API.
    pub browser_sp: Arc<BrowserSp>,
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

        let identity = self.validate_saml_api(req.saml_response).await?;
        let plan = self.plan(
            identity,
            PlanRequest {
                role: requested_role,
                duration: requested_duration,
                session_name: None,
                console_session_seconds: req.console_session_seconds,
            },
        )?;
        self.check_not_revoked(&plan).await?;
        let identity = &plan.identity;
        self.limits.check_subject(&identity.subject_hash())?;

        let replay_key = format!("saml:{}:{}", identity.issuer(), identity.token_id());
        self.consume_once(identity, &replay_key, identity.expires_at() + CLOCK_SKEW)
            .await?;
        let (credentials, cache) = self.obtain(&plan, None).await?;
        Ok(issued(plan, credentials, cache))
    }

    /// The one grant to use for `identity`. Without rules a web-identity token grants the role the
    /// caller names (pass-through; AWS's trust policy decides), so one must be named.
    fn select_grant(
        &self,
        identity: &VerifiedIdentity,
        requested: Option<&RoleArn>,
    ) -> Result<Grant, ExchangeError> {
        match (identity.protocol(), requested) {
            (Protocol::Oidc, Some(role)) if self.rules.is_empty() => {
                Ok(Grant::pass_through(role.clone()))
            }
            (Protocol::Oidc, None) if self.rules.is_empty() => Err(role_arn_required()),
            _ => Ok(select(&self.rules, identity, requested)?),
        }
    }

    /// The effective duration for a grant whose rule allows `rule_limit` (request, rule, IdP
    /// SessionDuration, the IdP session's end); the answer reports it with the reason.
    fn negotiate(
        &self,
        identity: &VerifiedIdentity,
        rule_limit: Option<SessionDuration>,
        requested: Option<SessionDuration>,
    ) -> Result<Negotiated, ExchangeError> {
        let remaining = identity
            .aws()
            .session_not_on_or_after
            .map(|end| (end - self.clock.now()).num_seconds());
        // Role chaining (temporary broker credentials, assume-role mode) is enforced by the STS
        // client, which knows the broker's credentials; it refuses > 1 h before calling AWS.
        Ok(negotiate(
            requested,
            rule_limit,
            identity.aws().session_duration,
            remaining,
            false,
        )?)
    }

    /// A console `SessionDuration` within the negotiated limits (`None`: no console session asked).
    fn check_console(
        &self,
        identity: &VerifiedIdentity,
        grant: &Grant,
        duration: &Negotiated,
        console_secs: Option<u32>,
    ) -> Result<(), ExchangeError> {
        let Some(secs) = console_secs else {
            return Ok(());
        };
        let remaining = identity
            .aws()
            .session_not_on_or_after
            .map(|end| (end - self.clock.now()).num_seconds());
        Ok(crate::mapping::check_console_duration(
            secs,
            duration,
            grant.duration,
            remaining,
        )?)
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

    /// [`Self::validate_saml`] for the API: assertions of the browser sign-in are refused.
    async fn validate_saml_api(
        &self,
        response: SecretString,
    ) -> Result<VerifiedIdentity, ExchangeError> {
        let identity = self.validate_saml(response).await?;
        self.browser_sp.refuse_on_api(&identity)?;
        Ok(identity)
    }

    async fn validate_saml(
        &self,
        response: SecretString,
    ) -> Result<VerifiedIdentity, ExchangeError> {
        use secrecy::ExposeSecret;
        let saml = Arc::clone(&self.saml);
        // With mapping rules the rules decide the role: Role/RoleSessionName are then needed only
        // by pass-through grants, which `mapping` refuses without them.
        let aws_attributes = AwsAttributes::for_rules(!self.rules.is_empty());
        tokio::task::spawn_blocking(move || {
            saml.validate_with(response.expose_secret(), aws_attributes)
        })
        .await
        .map_err(|e| ExchangeError::Internal(format!("validation task failed: {e}")))?
        .map_err(ExchangeError::from)
    }
}

/// Write the audit event for issued credentials and build the answer.
fn issued(
    plan: SessionPlan,
    credentials: StsCredentials,
    cache: Option<CacheOutcome>,
) -> IssuedCredentials {
    let SessionPlan {
        identity,
        grant,
        terms,
        duration,
        ..
    } = plan;
    tracing::info!(
        event = "credentials.issued",
        protocol = identity.protocol().as_str(),
        provider = identity.provider(),
        issuer = identity.issuer(),
        subject = %identity.subject_hash(),
        token_id = identity.token_id(),
        key_fingerprint = identity.key_fingerprint(),
        legacy_algorithm = identity.legacy_algorithm(),
        rule = %grant.rule,
        mode = ?grant.mode,
        role_arn = grant.role_arn.as_str(),
        session_name = terms.session_name.as_ref().map(|s| s.as_str()),
        duration_seconds = duration.seconds(),
        duration_reason = duration.reason.explain(),
        chained = credentials.chained,
        cache = cache.map_or("off", CacheOutcome::as_str),
        expiration = %credentials.expiration.to_rfc3339(),
        "issued temporary credentials"
    );
    IssuedCredentials {
        tag_keys: terms
            .tags
            .iter()
            .map(|(k, _)| k.as_str().to_owned())
            .collect(),
        // The plan's (what the session carries), else the one STS's answer names.
        source_identity: terms
            .source_identity
            .map(|s| s.as_str().to_owned())
            .or_else(|| credentials.source_identity.clone()),
        credentials,
        role_arn: grant.role_arn,
        subject: identity.subject().to_owned(),
        session_name: terms.session_name,
        issuer: identity.issuer().to_owned(),
        provider: identity.provider().to_owned(),
        protocol: identity.protocol(),
        mode: grant.mode,
        alias: grant.alias,
        rule: grant.rule,
        duration,
        cache,
        legacy_algorithm: identity.legacy_algorithm(),
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

fn role_arn_required() -> ExchangeError {
    bad(
        "role_arn_required",
        "name the role to assume with role_arn (arn:aws:iam::<account>:role/<name>)".into(),
    )
}

fn bad(code: &'static str, message: String) -> ExchangeError {
    ExchangeError::BadInput { code, message }
}
