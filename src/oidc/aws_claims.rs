//! AWS claims carried in a web-identity token (docs/AWS-RULES.md §3.5) into checked newtypes.
//!
//! `https://aws.amazon.com/tags` = `{"principal_tags": {key: [value]}, "transitive_tag_keys": [key]}`
//! with exactly one value per tag (AWS has no multi-valued session tags) and no other members;
//! `https://aws.amazon.com/source_identity` = one string. Anything else is refused, never repaired.
//! Messages name the claim and the rule, never the value.

use super::OidcError;
use crate::aws::{SessionTags, SourceIdentity, TagKey, TagValue};
use crate::identity::AwsClaims;
use serde_json::{Map, Value};

/// The session-tags claim.
pub const CLAIM_TAGS: &str = "https://aws.amazon.com/tags";
/// The source-identity claim.
pub const CLAIM_SOURCE_IDENTITY: &str = "https://aws.amazon.com/source_identity";

fn invalid(why: impl std::fmt::Display) -> OidcError {
    OidcError::ClaimInvalid(format!("{CLAIM_TAGS}: {why}"))
}

/// Extract and check the AWS claims.
pub fn aws_claims(claims: &Map<String, Value>) -> Result<AwsClaims, OidcError> {
    let tags = match claims.get(CLAIM_TAGS) {
        None => SessionTags::default(),
        Some(Value::Object(t)) => session_tags(t)?,
        Some(_) => return Err(invalid("must be a JSON object")),
    };
    let source_identity = match claims.get(CLAIM_SOURCE_IDENTITY) {
        None => None,
        Some(Value::String(s)) => Some(
            SourceIdentity::parse(s)
                .map_err(|e| OidcError::ClaimInvalid(format!("{CLAIM_SOURCE_IDENTITY}: {e}")))?,
        ),
        Some(_) => {
            return Err(OidcError::ClaimInvalid(format!(
                "{CLAIM_SOURCE_IDENTITY} must be a string"
            )))
        }
    };
    Ok(AwsClaims {
        tags,
        source_identity,
        ..AwsClaims::default()
    })
}

fn session_tags(t: &Map<String, Value>) -> Result<SessionTags, OidcError> {
    if let Some(other) = t
        .keys()
        .find(|k| *k != "principal_tags" && *k != "transitive_tag_keys")
    {
        return Err(invalid(format_args!(
            "unknown member {other:?} (only principal_tags and transitive_tag_keys)"
        )));
    }
    let mut tags = Vec::new();
    match t.get("principal_tags") {
        None => {}
        Some(Value::Object(p)) => {
            for (k, v) in p {
                let key = TagKey::parse(k).map_err(invalid)?;
                let value = match v {
                    Value::Array(a) if a.len() == 1 => a[0]
                        .as_str()
                        .ok_or_else(|| invalid("tag values must be strings"))?,
                    _ => {
                        return Err(invalid(
                            "each principal_tags value must be an array of exactly one string",
                        ))
                    }
                };
                tags.push((key, TagValue::parse(value).map_err(invalid)?));
            }
        }
        Some(_) => return Err(invalid("principal_tags must be an object")),
    }
    let transitive = match t.get("transitive_tag_keys") {
        None => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| {
                v.as_str()
                    .ok_or_else(|| invalid("transitive_tag_keys must hold strings"))
                    .and_then(|s| TagKey::parse(s).map_err(invalid))
            })
            .collect::<Result<Vec<_>, _>>()?,
        Some(_) => return Err(invalid("transitive_tag_keys must be an array")),
    };
    SessionTags::new(tags, transitive).map_err(invalid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(v: Value) -> Result<AwsClaims, OidcError> {
        aws_claims(v.as_object().unwrap())
    }

    #[test]
    fn documented_example_is_accepted() {
        let c = run(json!({ CLAIM_TAGS: {
            "principal_tags": {"Project": ["Automation"], "CostCenter": ["987654"]},
            "transitive_tag_keys": ["Project"]},
            CLAIM_SOURCE_IDENTITY: "Admin"}))
        .unwrap();
        assert_eq!(c.tags.len(), 2);
        assert_eq!(c.tags.transitive_keys().len(), 1);
        assert_eq!(c.source_identity.unwrap().as_str(), "Admin");
    }

    #[test]
    fn malformed_tags_refused() {
        for bad in [
            json!({ CLAIM_TAGS: {"principal_tags": {"P": ["a", "b"]}} }),
            json!({ CLAIM_TAGS: {"principal_tags": {"P": "a"}} }),
            json!({ CLAIM_TAGS: {"principal_tags": {"aws:x": ["a"]}} }),
            json!({ CLAIM_TAGS: {"transitive_tag_keys": ["Nope"]} }),
            json!({ CLAIM_TAGS: {"extra": 1} }),
            json!({ CLAIM_TAGS: [] }),
            json!({ CLAIM_SOURCE_IDENTITY: "aws:admin" }),
            json!({ CLAIM_SOURCE_IDENTITY: 5 }),
        ] {
            assert!(matches!(run(bad), Err(OidcError::ClaimInvalid(_))));
        }
    }
}
