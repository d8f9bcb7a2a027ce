//! The AssumeRole request as sent: checked newtypes → Query parameters (`Tags.member.N.Key/Value`,
//! `TransitiveTagKeys.member.N`, `SourceIdentity`, `ExternalId`, `Policy`, `PolicyArns.member.N.arn`,
//! `DurationSeconds`). Empty lists and absent options are not sent at all, as the CLI does; a
//! missing duration is left to STS's default (1 hour, also the role-chaining cap).
//!
//! Signing, chaining and retries are the caller's (`sdk.rs`, `broker.rs`); the answer goes through
//! the same conversion (`answer.rs`) and error mapping (`aws_error.rs`) as the unsigned calls.

use super::answer::credentials_from;
use super::aws_error::map_sdk_error;
use super::{AssumeRoleRequest, StsCredentials, StsError};
use aws_sdk_sts::types::{PolicyDescriptorType, Tag};

/// One AssumeRole call with `client` (which signs with the broker's credentials).
pub(super) async fn send_once(
    client: &aws_sdk_sts::Client,
    req: &AssumeRoleRequest,
) -> Result<StsCredentials, StsError> {
    let tags = req
        .tags
        .iter()
        .map(|(k, v)| Tag::builder().key(k.as_str()).value(v.as_str()).build())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| StsError::InvalidRequest {
            aws_code: "RequestConstruction".into(),
            message: e.to_string(),
        })?;
    let transitive = req
        .tags
        .transitive_keys()
        .iter()
        .map(|k| k.as_str().to_owned())
        .collect::<Vec<_>>();
    let policy_arns = req
        .policy_arns
        .iter()
        .map(|a| PolicyDescriptorType::builder().arn(a).build())
        .collect::<Vec<_>>();
    let out = client
        .assume_role()
        .role_arn(req.role_arn.as_str())
        .role_session_name(req.role_session_name.as_str())
        .set_duration_seconds(req.duration.map(|d| d.secs() as i32))
        .set_tags(nonempty(tags))
        .set_transitive_tag_keys(nonempty(transitive))
        .set_source_identity(req.source_identity.as_ref().map(|s| s.as_str().to_owned()))
        .set_external_id(req.external_id.as_ref().map(|e| e.as_str().to_owned()))
        .set_policy(req.policy.clone())
        .set_policy_arns(nonempty(policy_arns))
        .send()
        .await
        // Nothing secret in this request: the ExternalId is not a secret (docs/AWS-RULES.md §8.3), so
        // only the generic base64/JWT-run redaction applies.
        .map_err(|e| map_sdk_error(&e, ""))?;
    credentials_from(out.into())
}

/// `None` for an empty list, so the parameter is left out.
fn nonempty<T>(v: Vec<T>) -> Option<Vec<T>> {
    (!v.is_empty()).then_some(v)
}
