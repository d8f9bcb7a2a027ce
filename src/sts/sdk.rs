//! `StsClient` over the official `aws-sdk-sts`.
//!
//! Invariants:
//! - AssumeRoleWithSAML and AssumeRoleWithWebIdentity are sent unsigned: the client built by
//!   [`SdkStsClient::new`] has no credentials provider, and the SDK models both operations with the
//!   no-auth scheme anyway;
//! - AssumeRole is signed with the broker's own credentials, through a second client that differs
//!   from the first only by its credentials provider ([`super::broker`]); a chained call asking for
//!   more than one hour is refused before AWS ([`super::check_chaining`]);
//! - the SDK's own retries are off; [`super::retry`] is the single retry policy;
//! - every error is mapped by AWS error code to an [`StsError`] variant (see [`classify`]), and
//!   every message kept from AWS or the SDK passes [`scrub`], so the assertion or token never leaks
//!   into an error, a log or a response;
//! - all calls share one retry policy, one error mapping and one answer conversion
//!   ([`StsAnswer`]); only the request building differs.

use super::broker::BrokerIdentity;
use super::retry::RetryPolicy;
use super::{
    assume_role, check_chaining, AssumeRoleRequest, AssumeRoleWithSamlRequest,
    AssumeRoleWithWebIdentityRequest, StsClient, StsCredentials, StsError,
};
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sdk_sts::config::retry::RetryConfig;
use aws_sdk_sts::config::timeout::TimeoutConfig;
use aws_sdk_sts::config::{BehaviorVersion, Region};
use aws_sdk_sts::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_sts::operation::assume_role::AssumeRoleOutput;
use aws_sdk_sts::operation::assume_role_with_saml::AssumeRoleWithSamlOutput;
use aws_sdk_sts::operation::assume_role_with_web_identity::AssumeRoleWithWebIdentityOutput;
use aws_sdk_sts::operation::RequestId;
use aws_sdk_sts::types::{AssumedRoleUser, Credentials};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;
use std::time::Duration;

/// Time allowed to open a connection (TCP + TLS) to STS. Regional endpoints answer in milliseconds;
/// waiting longer only delays the retry.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Time allowed for one STS call, from sending to the parsed answer. STS itself may wait on the IdP
/// (web identity), so this is generous; a login waits at most `MAX_ATTEMPTS` times this.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest AWS/SDK message kept in an [`StsError`]; AWS messages are one sentence, and a longer one
/// may be echoing request data.
pub const MAX_MESSAGE_CHARS: usize = 512;
/// Runs of base64 characters at least this long are redacted from messages: AWS validation errors
/// echo parameter values (`Value '…' at 'SAMLAssertion' failed to satisfy constraint`), and no
/// legitimate message part (ARN, code, request ID) is that long without a `:`/`-` break.
pub const REDACT_BASE64_RUN: usize = 40;
/// Runs of base64url/JWT characters (`A-Za-z0-9-_.`) starting with `eyJ` (base64url of `{"`, the
/// start of every JWS header and JSON payload) at least this long are redacted from messages: a
/// truncated echo of a web-identity token is broken by `-`/`_` into runs the base64 rule misses.
pub const REDACT_JWT_RUN: usize = 16;

/// An [`StsClient`] talking to AWS STS (or moto) through `aws-sdk-sts`.
#[derive(Debug, Clone)]
pub struct SdkStsClient {
    /// Unsigned: AssumeRoleWithSAML, AssumeRoleWithWebIdentity.
    client: aws_sdk_sts::Client,
    /// The broker's own credentials and the signed client for AssumeRole.
    broker: Arc<BrokerIdentity>,
    retry: RetryPolicy,
}

fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_timeout(OPERATION_TIMEOUT)
        .build()
}

impl SdkStsClient {
    /// A client for `region`. AssumeRoleWithSAML/WebIdentity are sent without any AWS credentials;
    /// AssumeRole is signed with the broker's credentials from the SDK's default chain, resolved on
    /// the first AssumeRole (so this stays synchronous and cheap). `endpoint` overrides the SDK's
    /// endpoint resolution (moto, VPC endpoints); without it the SDK uses the regional endpoint
    /// `https://sts.<region>.amazonaws.com` (partition-aware).
    pub fn new(region: &str, endpoint: Option<&str>) -> Self {
        let mut builder = aws_sdk_sts::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region.to_owned()))
            .retry_config(RetryConfig::disabled())
            .timeout_config(timeouts());
        if let Some(url) = endpoint {
            builder = builder.endpoint_url(url);
        }
        let conf = builder.build();
        let broker = BrokerIdentity::default_chain(conf.clone());
        Self::from_parts(conf, broker)
    }

    /// A client from a loaded `SdkConfig` (region, endpoint, HTTP client and, for AssumeRole,
    /// credentials: the config's provider, or the default chain when it has none). Our retry and
    /// timeout settings replace the config's.
    pub fn from_sdk_config(config: &aws_config::SdkConfig) -> Self {
        let conf = aws_sdk_sts::config::Builder::from(config)
            .retry_config(RetryConfig::disabled())
            .timeout_config(timeouts())
            .build();
        let broker = match config.credentials_provider() {
            Some(p) => BrokerIdentity::explicit(conf.clone(), p),
            None => BrokerIdentity::default_chain(conf.clone()),
        };
        Self::from_parts(conf, broker)
    }

    fn from_parts(conf: aws_sdk_sts::Config, broker: BrokerIdentity) -> Self {
        Self {
            client: aws_sdk_sts::Client::from_conf(conf),
            broker: Arc::new(broker),
            retry: RetryPolicy::default(),
        }
    }

    /// Sign AssumeRole with `provider` instead of the default chain (tests pass static keys, with
    /// or without a session token, without touching the process environment).
    pub fn with_broker_credentials(mut self, provider: impl ProvideCredentials + 'static) -> Self {
        let base = self.client.config().clone();
        self.broker = Arc::new(BrokerIdentity::explicit(
            base,
            SharedCredentialsProvider::new(provider),
        ));
        self
    }

    /// Whether the broker's own credentials are temporary (have a session token), which makes
    /// AssumeRole role chaining, capped by AWS at one hour. Resolves the credentials if needed;
    /// see [`super::broker`] for the cases where this is stricter than AWS.
    pub async fn broker_credentials_are_temporary(&self) -> Result<bool, StsError> {
        self.broker.are_temporary().await
    }

    /// Replace the retry policy (tests inject sleep and jitter).
    pub fn with_retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    async fn saml_once(&self, req: &AssumeRoleWithSamlRequest) -> Result<StsCredentials, StsError> {
        let assertion = req.saml_assertion.expose_secret();
        let out = self
            .client
            .assume_role_with_saml()
            .role_arn(req.role_arn.as_str())
            .principal_arn(req.principal_arn.as_str())
            .saml_assertion(assertion)
            .set_duration_seconds(req.duration.map(|d| d.secs() as i32))
            .send()
            .await
            .map_err(|e| map_sdk_error(&e, assertion))?;
        credentials_from(out.into())
    }

    async fn web_identity_once(
        &self,
        req: &AssumeRoleWithWebIdentityRequest,
    ) -> Result<StsCredentials, StsError> {
        let token = req.web_identity_token.expose_secret();
        let out = self
            .client
            .assume_role_with_web_identity()
            .role_arn(req.role_arn.as_str())
            .role_session_name(req.role_session_name.as_str())
            .web_identity_token(token)
            .set_duration_seconds(req.duration.map(|d| d.secs() as i32))
            .send()
            .await
            .map_err(|e| map_sdk_error(&e, token))?;
        credentials_from(out.into())
    }
}

#[async_trait::async_trait]
impl StsClient for SdkStsClient {
    async fn assume_role_with_saml(
        &self,
        req: AssumeRoleWithSamlRequest,
    ) -> Result<StsCredentials, StsError> {
        self.retry.run(|_| self.saml_once(&req)).await
    }

    async fn assume_role_with_web_identity(
        &self,
        req: AssumeRoleWithWebIdentityRequest,
    ) -> Result<StsCredentials, StsError> {
        self.retry.run(|_| self.web_identity_once(&req)).await
    }

    async fn assume_role(&self, req: AssumeRoleRequest) -> Result<StsCredentials, StsError> {
        let chained = self.broker.are_temporary().await?;
        check_chaining(chained, req.duration)?;
        let client = self.broker.client().await?;
        let mut creds = self
            .retry
            .run(|_| assume_role::send_once(client, &req))
            .await?;
        creds.chained = chained;
        Ok(creds)
    }
}

/// What every AssumeRole* answer carries, whichever operation produced it.
pub(super) struct StsAnswer {
    credentials: Option<Credentials>,
    assumed_role_user: Option<AssumedRoleUser>,
    subject: Option<String>,
    provider: Option<String>,
    audience: Option<String>,
    source_identity: Option<String>,
    packed_policy_size: Option<i32>,
    request_id: Option<String>,
}

impl From<AssumeRoleWithSamlOutput> for StsAnswer {
    fn from(out: AssumeRoleWithSamlOutput) -> Self {
        let request_id = out.request_id().map(str::to_owned);
        Self {
            request_id,
            credentials: out.credentials,
            assumed_role_user: out.assumed_role_user,
            subject: out.subject,
            provider: out.issuer,
            audience: out.audience,
            source_identity: out.source_identity,
            // Deprecated by AWS in favour of SessionTokenUtilization (a different measure); kept
            // while the field exists, since callers read it.
            #[allow(deprecated)]
            packed_policy_size: out.packed_policy_size,
        }
    }
}

impl From<AssumeRoleOutput> for StsAnswer {
    fn from(out: AssumeRoleOutput) -> Self {
        let request_id = out.request_id().map(str::to_owned);
        Self {
            request_id,
            credentials: out.credentials,
            assumed_role_user: out.assumed_role_user,
            subject: None,
            provider: None,
            audience: None,
            source_identity: out.source_identity,
            #[allow(deprecated)]
            packed_policy_size: out.packed_policy_size,
        }
    }
}

impl From<AssumeRoleWithWebIdentityOutput> for StsAnswer {
    fn from(out: AssumeRoleWithWebIdentityOutput) -> Self {
        let request_id = out.request_id().map(str::to_owned);
        Self {
            request_id,
            credentials: out.credentials,
            assumed_role_user: out.assumed_role_user,
            subject: out.subject_from_web_identity_token,
            provider: out.provider,
            audience: out.audience,
            source_identity: out.source_identity,
            #[allow(deprecated)]
            packed_policy_size: out.packed_policy_size,
        }
    }
}

pub(super) fn credentials_from(out: StsAnswer) -> Result<StsCredentials, StsError> {
    let missing = |what: &str| StsError::Unavailable(format!("STS answer without {what}"));
    let creds = out.credentials.ok_or_else(|| missing("Credentials"))?;
    let user = out
        .assumed_role_user
        .ok_or_else(|| missing("AssumedRoleUser"))?;
    let expiration =
        DateTime::<Utc>::from_timestamp(creds.expiration.secs(), creds.expiration.subsec_nanos())
            .ok_or_else(|| missing("a valid Expiration"))?;
    Ok(StsCredentials {
        access_key_id: creds.access_key_id,
        secret_access_key: SecretString::from(creds.secret_access_key),
        session_token: SecretString::from(creds.session_token),
        expiration,
        assumed_role_arn: user.arn,
        assumed_role_id: user.assumed_role_id,
        subject: out.subject,
        provider: out.provider,
        audience: out.audience,
        source_identity: out.source_identity,
        packed_policy_size: out.packed_policy_size,
        chained: false,
        request_id: out.request_id,
    })
}

/// Map any SDK error to an [`StsError`], scrubbing `assertion` (the SAML assertion or web-identity
/// token) out of every message.
pub(crate) fn map_sdk_error<E>(err: &SdkError<E, HttpResponse>, assertion: &str) -> StsError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match err {
        SdkError::ServiceError(ctx) => {
            let status = Some(ctx.raw().status().as_u16());
            let message = ctx.err().message().unwrap_or("").to_owned();
            classify(ctx.err().code(), status, &scrub(&message, assertion))
        }
        SdkError::TimeoutError(_) => {
            StsError::Unavailable(format!("no answer within {OPERATION_TIMEOUT:?}"))
        }
        SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            StsError::Unavailable(scrub(&DisplayErrorContext(err).to_string(), assertion))
        }
        // Includes SdkError::ConstructionFailure: the request could not be built at all.
        _ => StsError::InvalidRequest {
            aws_code: "RequestConstruction".into(),
            message: scrub(&DisplayErrorContext(err).to_string(), assertion),
        },
    }
}

/// The AWS error code → variant table. `status` decides only for codes not in the table.
pub fn classify(code: Option<&str>, status: Option<u16>, message: &str) -> StsError {
    let aws = |code: &str| (code.to_owned(), message.to_owned());
    match code {
        Some(
            c @ ("InvalidIdentityToken"
            | "ExpiredTokenException"
            | "ExpiredToken"
            | "IDPRejectedClaim"),
        ) => {
            let (aws_code, message) = aws(c);
            StsError::IdentityRejected { aws_code, message }
        }
        Some(
            c @ ("AccessDenied"
            | "AccessDeniedException"
            | "RegionDisabledException"
            | "NotAuthorized"
            | "OptInRequired"),
        ) => {
            let (aws_code, message) = aws(c);
            StsError::Refused { aws_code, message }
        }
        Some(
            c @ ("ValidationError"
            | "MalformedPolicyDocument"
            | "PackedPolicyTooLarge"
            | "InvalidParameterValue"
            | "InvalidParameterCombination"
            | "MissingParameter"
            | "InvalidQueryParameter"
            | "MalformedQueryString"
            | "InvalidAction"),
        ) => {
            let (aws_code, message) = aws(c);
            StsError::InvalidRequest { aws_code, message }
        }
        Some("Throttling" | "ThrottlingException" | "RequestLimitExceeded") => StsError::Throttled,
        Some("IDPCommunicationError") => StsError::IdpUnreachable,
        Some(c @ ("InternalFailure" | "InternalError" | "ServiceUnavailable")) => {
            StsError::Unavailable(format!("{c}: {message}"))
        }
        other => {
            let c = other.unwrap_or("unknown");
            match status {
                Some(429) => StsError::Throttled,
                Some(s) if s >= 500 => StsError::Unavailable(format!("HTTP {s} ({c}): {message}")),
                // An unknown client error: AWS said no; never retried.
                _ => StsError::Refused {
                    aws_code: c.to_owned(),
                    message: message.to_owned(),
                },
            }
        }
    }
}

/// Remove the assertion or token (and anything that looks like a chunk of one) from `message`, and
/// bound its length.
pub fn scrub(message: &str, assertion: &str) -> String {
    let mut text = if assertion.len() >= 8 {
        message.replace(assertion, "[redacted]")
    } else {
        message.to_owned()
    };
    text = redact_jwt_runs(&text);
    text = redact_base64_runs(&text);
    if text.chars().count() > MAX_MESSAGE_CHARS {
        text = text.chars().take(MAX_MESSAGE_CHARS).collect::<String>() + "…";
    }
    text
}

fn redact_jwt_runs(text: &str) -> String {
    redact_runs(
        text,
        |c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'),
        |run| run.starts_with("eyJ") && run.len() >= REDACT_JWT_RUN,
    )
}

fn redact_base64_runs(text: &str) -> String {
    redact_runs(
        text,
        |c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '='),
        |run| run.chars().count() >= REDACT_BASE64_RUN,
    )
}

/// Replace every maximal run of `in_run` characters for which `secret` holds by `[redacted]`.
fn redact_runs(text: &str, in_run: impl Fn(char) -> bool, secret: impl Fn(&str) -> bool) -> String {
    let mut out = String::with_capacity(text.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if secret(run) {
            out.push_str("[redacted]");
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in text.chars() {
        if in_run(c) {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_how_the_caller_reacts() {
        let c = |code| classify(Some(code), Some(400), "msg");
        for code in [
            "InvalidIdentityToken",
            "ExpiredTokenException",
            "ExpiredToken",
            "IDPRejectedClaim",
        ] {
            assert!(
                matches!(c(code), StsError::IdentityRejected { .. }),
                "{code}"
            );
        }
        for code in ["AccessDenied", "RegionDisabledException"] {
            assert!(matches!(c(code), StsError::Refused { .. }), "{code}");
        }
        for code in [
            "ValidationError",
            "MalformedPolicyDocument",
            "PackedPolicyTooLarge",
        ] {
            assert!(matches!(c(code), StsError::InvalidRequest { .. }), "{code}");
        }
        for code in ["Throttling", "ThrottlingException", "RequestLimitExceeded"] {
            assert!(matches!(c(code), StsError::Throttled), "{code}");
        }
        assert!(matches!(
            c("IDPCommunicationError"),
            StsError::IdpUnreachable
        ));
        assert!(matches!(
            classify(Some("InternalFailure"), Some(500), "x"),
            StsError::Unavailable(_)
        ));
        // Unknown codes: by status.
        assert!(matches!(
            classify(Some("Weird"), Some(503), "x"),
            StsError::Unavailable(_)
        ));
        assert!(matches!(
            classify(None, Some(429), "x"),
            StsError::Throttled
        ));
        assert!(matches!(
            classify(Some("Weird"), Some(400), "x"),
            StsError::Refused { .. }
        ));
        // AWS's message and code are kept.
        match c("AccessDenied") {
            StsError::Refused { aws_code, message } => {
                assert_eq!(aws_code, "AccessDenied");
                assert_eq!(message, "msg");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn scrub_removes_the_assertion_and_long_base64() {
        let assertion = "PHNhbWxwOlJlc3BvbnNlIHhtbG5zOnNhbWxwPSJ1cm46b2FzaXM6bmFtZXM6dGM6U0FNTDoyLjA6cHJvdG9jb2wiPg==";
        let msg =
            format!("1 validation error detected: Value '{assertion}' at 'SAMLAssertion' failed");
        let out = scrub(&msg, assertion);
        assert!(!out.contains(&assertion[..20]), "{out}");
        assert!(out.contains("at 'SAMLAssertion' failed"));
        // A truncated echo is caught by the base64-run rule.
        let partial = format!("Value '{}...' is too long", &assertion[..60]);
        assert!(!scrub(&partial, assertion).contains(&assertion[..20]));
        // Ordinary messages pass unchanged.
        let arn = "Not authorized to perform sts:AssumeRoleWithSAML on arn:aws:iam::123456789012:role/Admin-Role";
        assert_eq!(scrub(arn, assertion), arn);
        // Length is bounded.
        assert!(scrub(&"word ".repeat(1000), assertion).chars().count() <= MAX_MESSAGE_CHARS + 1);
    }

    #[test]
    fn scrub_removes_a_web_identity_token_even_truncated() {
        // Header and payload of a JWT whose base64url is full of `-`/`_` (short base64 runs).
        let token = "eyJhbGciOiJSUzI1NiIsImtpZCI6Ims_Pj8-fn5-Pz4ifQ.eyJzdWIiOiJyZXBvOm8vcj8-Pz5-fn5-Pz4_PiIsImF1ZCI6InN0cy5hbWF6b25hd3MuY29tIn0.c2ln-_-_bmF0dXJl";
        let full = format!("Value '{token}' at 'webIdentityToken' failed");
        let out = scrub(&full, token);
        assert!(!out.contains(&token[..12]), "{out}");
        assert!(out.contains("at 'webIdentityToken' failed"), "{out}");
        let truncated = format!("Value '{}...' at 'webIdentityToken' failed", &token[..70]);
        let out = scrub(&truncated, token);
        assert!(!out.contains(&token[..12]), "{out}");
        assert!(!out.contains("eyJzdWIi"), "{out}");
        // A message merely mentioning a short `eyJ` word is kept.
        assert_eq!(
            scrub("eyJ is base64 for {\"", token),
            "eyJ is base64 for {\""
        );
    }

    #[test]
    fn default_endpoint_is_regional() {
        use aws_sdk_sts::config::endpoint::{DefaultResolver, Params, ResolveEndpoint};
        let resolver = DefaultResolver::new();
        for (region, url) in [
            ("eu-west-1", "https://sts.eu-west-1.amazonaws.com"),
            ("us-east-1", "https://sts.us-east-1.amazonaws.com"),
            ("cn-north-1", "https://sts.cn-north-1.amazonaws.com.cn"),
        ] {
            // What the operation's endpoint-params interceptor builds when only the region is set
            // (no endpoint_url, no FIPS/dual-stack; UseGlobalEndpoint is never set, so false).
            let params = Params::builder().region(region).build().unwrap();
            let ep = futures_util::FutureExt::now_or_never(resolver.resolve_endpoint(&params))
                .unwrap()
                .unwrap();
            assert_eq!(ep.url(), url);
        }
    }
}
