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
//! - every error is mapped by AWS error code to an [`StsError`] variant and every message kept from
//!   AWS or the SDK is scrubbed ([`super::aws_error`]), so the assertion or token never leaks into
//!   an error, a log or a response;
//! - all calls share one retry policy, one error mapping and one answer conversion
//!   (`answer.rs`); only the request building differs.

use super::answer::credentials_from;
use super::aws_error::map_sdk_error;
use super::broker::BrokerIdentity;
use super::retry::RetryPolicy;
use super::{
    assume_role, check_chaining, AssumeRoleRequest, AssumeRoleWithSamlRequest,
    AssumeRoleWithWebIdentityRequest, StsClient, StsCredentials, StsError, CONNECT_TIMEOUT,
    OPERATION_TIMEOUT,
};
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sdk_sts::config::retry::RetryConfig;
use aws_sdk_sts::config::timeout::TimeoutConfig;
use aws_sdk_sts::config::{BehaviorVersion, Region};
use secrecy::ExposeSecret;
use std::sync::Arc;

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

#[cfg(test)]
mod tests {
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
