//! The broker's own AWS credentials, used only to sign AssumeRole (assume-role mode).
//!
//! Invariants:
//! - the credentials come from the SDK's default chain (`aws_config::defaults`: environment,
//!   profile, web identity, ECS, IMDS) unless a provider was given explicitly (tests, embedders);
//! - the default chain is resolved lazily, on the first AssumeRole, so a deployment that never uses
//!   assume-role mode never probes it (no IMDS round trip at start-up), and `SdkStsClient::new`
//!   stays synchronous;
//! - the signed client is the unsigned client's configuration (region, endpoint, timeouts, SDK
//!   retries off) plus the credentials provider: one retry policy (`super::retry`) for both;
//! - "temporary" means the resolved credentials carry a session token. Then AssumeRole is role
//!   chaining and AWS caps the session at one hour. This over-approximates AWS's rule in two
//!   documented cases: EC2 instance-profile credentials do not count as chaining (docs/AWS-RULES.md §5.2),
//!   nor do `GetSessionToken` credentials of an IAM user; with those the broker refuses (before
//!   AWS) durations above one hour that AWS would have granted. It never lets through a duration
//!   AWS would fail. The answer is cached after the first successful resolution: a credential
//!   source does not turn from temporary to long-term (or back) while the process runs.
//! - neither the keys nor the session token are ever logged or put in an error.

use super::aws_error::scrub;
use super::StsError;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sdk_sts::config::BehaviorVersion;
use aws_sdk_sts::error::DisplayErrorContext;
use std::sync::OnceLock;
use tokio::sync::OnceCell;

/// Where the broker's credentials come from.
#[derive(Debug, Clone)]
enum Source {
    /// `aws_config::defaults(BehaviorVersion::latest())`, loaded on first use.
    DefaultChain,
    /// Given by the embedder (tests pass static keys; `from_sdk_config` passes the config's).
    Explicit(SharedCredentialsProvider),
}

/// The broker's AWS identity and the signed STS client built on it.
#[derive(Debug)]
pub struct BrokerIdentity {
    /// The unsigned client's configuration; the signed client adds only credentials to it.
    base: aws_sdk_sts::Config,
    source: Source,
    signed: OnceCell<Signed>,
    temporary: OnceLock<bool>,
}

#[derive(Debug)]
struct Signed {
    client: aws_sdk_sts::Client,
    provider: SharedCredentialsProvider,
}

impl BrokerIdentity {
    /// Credentials from the SDK's default chain, resolved on first use.
    pub(crate) fn default_chain(base: aws_sdk_sts::Config) -> Self {
        Self::with_source(base, Source::DefaultChain)
    }

    /// Credentials from `provider`.
    pub(crate) fn explicit(base: aws_sdk_sts::Config, provider: SharedCredentialsProvider) -> Self {
        Self::with_source(base, Source::Explicit(provider))
    }

    fn with_source(base: aws_sdk_sts::Config, source: Source) -> Self {
        Self {
            base,
            source,
            signed: OnceCell::new(),
            temporary: OnceLock::new(),
        }
    }

    async fn signed(&self) -> Result<&Signed, StsError> {
        self.signed
            .get_or_try_init(|| async {
                let provider = match &self.source {
                    Source::Explicit(p) => p.clone(),
                    Source::DefaultChain => aws_config::defaults(BehaviorVersion::latest())
                        .region(self.base.region().cloned())
                        .load()
                        .await
                        .credentials_provider()
                        .ok_or_else(|| {
                            StsError::BrokerCredentials(
                                "the default AWS credential chain is disabled".into(),
                            )
                        })?,
                };
                let conf = self
                    .base
                    .to_builder()
                    .credentials_provider(provider.clone())
                    .build();
                Ok(Signed {
                    client: aws_sdk_sts::Client::from_conf(conf),
                    provider,
                })
            })
            .await
    }

    /// The STS client that signs with the broker's credentials.
    pub(crate) async fn client(&self) -> Result<&aws_sdk_sts::Client, StsError> {
        Ok(&self.signed().await?.client)
    }

    /// Whether the broker's credentials are temporary (carry a session token), i.e. whether
    /// AssumeRole is role chaining. Resolves the credentials on first call; see the module doc.
    pub async fn are_temporary(&self) -> Result<bool, StsError> {
        if let Some(t) = self.temporary.get() {
            return Ok(*t);
        }
        let creds = self
            .signed()
            .await?
            .provider
            .provide_credentials()
            .await
            .map_err(|e| credentials_error(&e))?;
        let temporary = creds.session_token().is_some_and(|t| !t.is_empty());
        Ok(*self.temporary.get_or_init(|| temporary))
    }
}

/// A credential-chain failure: misconfiguration (nothing found, invalid settings) is ours to fix
/// and not retried; a provider that failed or timed out (IMDS, ECS, STS for web identity) may
/// answer on the next request.
fn credentials_error(err: &CredentialsError) -> StsError {
    let text = scrub(&DisplayErrorContext(err).to_string(), "");
    match err {
        CredentialsError::CredentialsNotLoaded(_) | CredentialsError::InvalidConfiguration(_) => {
            StsError::BrokerCredentials(text)
        }
        _ => StsError::Unavailable(format!("cannot load the broker's AWS credentials: {text}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_credential_types::Credentials;

    fn base() -> aws_sdk_sts::Config {
        aws_sdk_sts::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(aws_sdk_sts::config::Region::new("us-east-1"))
            .build()
    }

    fn explicit(token: Option<&str>) -> BrokerIdentity {
        let creds = Credentials::new(
            "AKIDEXAMPLE",
            "secret",
            token.map(str::to_owned),
            None,
            "test",
        );
        BrokerIdentity::explicit(base(), SharedCredentialsProvider::new(creds))
    }

    #[tokio::test]
    async fn session_token_means_temporary() {
        assert!(!explicit(None).are_temporary().await.unwrap());
        assert!(explicit(Some("FwoGZXIvYXdzEXAMPLE"))
            .are_temporary()
            .await
            .unwrap());
        // An empty token (e.g. AWS_SESSION_TOKEN="") is no session token.
        assert!(!explicit(Some("")).are_temporary().await.unwrap());
    }

    #[test]
    fn chain_failures_split_into_misconfiguration_and_transient() {
        let not_found = CredentialsError::not_loaded("no providers in chain provided credentials");
        assert!(matches!(
            credentials_error(&not_found),
            StsError::BrokerCredentials(_)
        ));
        let timed_out = CredentialsError::provider_timed_out(std::time::Duration::from_secs(5));
        assert!(matches!(
            credentials_error(&timed_out),
            StsError::Unavailable(_)
        ));
    }
}
