//! The ECS container-credentials answer format (what `AWS_CONTAINER_CREDENTIALS_FULL_URI` /
//! `..._RELATIVE_URI` endpoints return and the AWS SDKs' container provider parses):
//! `{"AccessKeyId","SecretAccessKey","Token","Expiration","RoleArn"}`, `Expiration` in RFC 3339
//! UTC with a `Z`. Format only: no route serves it yet.
//!
//! Invariant: the body holds live credentials; whoever sends it must add `Cache-Control: no-store`
//! and must never log it.

use crate::aws::RoleArn;
use crate::sts::StsCredentials;
use chrono::SecondsFormat;
use secrecy::ExposeSecret;

/// The container-credentials JSON for `creds`, obtained for the role `role_arn`.
pub fn container_credentials_body(creds: &StsCredentials, role_arn: &RoleArn) -> serde_json::Value {
    serde_json::json!({
        "AccessKeyId": creds.access_key_id,
        "SecretAccessKey": creds.secret_access_key.expose_secret(),
        "Token": creds.session_token.expose_secret(),
        "Expiration": creds.expiration.to_rfc3339_opts(SecondsFormat::Secs, true),
        "RoleArn": role_arn.as_str(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use secrecy::SecretString;

    #[test]
    fn ecs_container_credentials_shape() {
        let creds = StsCredentials {
            access_key_id: "ASIAIOSFODNN7EXAMPLE".into(),
            secret_access_key: SecretString::from("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
            session_token: SecretString::from("FwoGZXIvYXdzEXAMPLETOKEN"),
            expiration: Utc.with_ymd_and_hms(2030, 1, 2, 3, 4, 5).unwrap()
                + chrono::TimeDelta::milliseconds(678),
            assumed_role_arn: "arn:aws:sts::123456789012:assumed-role/Admin/alice".into(),
            assumed_role_id: "AROAEXAMPLE:alice".into(),
            subject: None,
            provider: None,
            audience: None,
            source_identity: Some("alice".into()),
            packed_policy_size: Some(6),
            chained: true,
        };
        let role = RoleArn::parse("arn:aws:iam::123456789012:role/Admin").unwrap();
        let body = container_credentials_body(&creds, &role);
        assert_eq!(
            body,
            serde_json::json!({
                "AccessKeyId": "ASIAIOSFODNN7EXAMPLE",
                "SecretAccessKey": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                "Token": "FwoGZXIvYXdzEXAMPLETOKEN",
                "Expiration": "2030-01-02T03:04:05Z",
                "RoleArn": "arn:aws:iam::123456789012:role/Admin",
            })
        );
        // Exactly the five fields the SDK container provider reads; nothing else leaks in.
        assert_eq!(body.as_object().unwrap().len(), 5);
    }
}
