//! One conversion of every AssumeRole* answer (SAML, web identity, AssumeRole) into
//! [`StsCredentials`].
//!
//! Invariants: each SDK output is first reduced to [`StsAnswer`] (the fields every operation
//! carries), then converted once by [`credentials_from`]; an answer without credentials, without
//! an assumed-role user or with an unreadable expiration is an [`StsError::Unavailable`], never a
//! half-filled credential; the secret key and session token go straight into `SecretString`s.

use super::{StsCredentials, StsError};
use aws_sdk_sts::operation::assume_role::AssumeRoleOutput;
use aws_sdk_sts::operation::assume_role_with_saml::AssumeRoleWithSamlOutput;
use aws_sdk_sts::operation::assume_role_with_web_identity::AssumeRoleWithWebIdentityOutput;
use aws_sdk_sts::operation::RequestId;
use aws_sdk_sts::types::{AssumedRoleUser, Credentials};
use chrono::{DateTime, Utc};
use secrecy::SecretString;

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
            #[expect(
                deprecated,
                reason = "deprecated by AWS in favour of SessionTokenUtilization (a different \
                          measure); kept while the field exists, since callers read it"
            )]
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
            #[expect(deprecated, reason = "see the AssumeRoleWithSAML conversion above")]
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
            #[expect(deprecated, reason = "see the AssumeRoleWithSAML conversion above")]
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
