//! Revocation by an administrator (`POST /v1/admin/revoke`): purge the cached credentials of one
//! subject or one role, block re-issue for a while, and hand back the IAM deny policy that cuts off
//! the sessions AWS already issued (AWS cannot revoke temporary credentials; docs/AWS-RULES.md §7.2).
//!
//! Invariants:
//! - exactly one of subject / role per request (a union of both would surprise);
//! - the policy is the console's `AWSRevokeOlderSessions` shape (`Deny *` when
//!   `aws:TokenIssueTime` is before the revocation). For a role it covers every session of the role,
//!   as the console does; for a subject it is narrowed to that subject's session names
//!   (`aws:userid` = `*:<session>`), taken from the purged entries: with none known, no policy is
//!   offered rather than one that would cut off every user of the role;
//! - nothing in the answer or the audit log holds a credential; the subject is logged hashed.

use super::{bad, parse_role_arn, Exchange, ExchangeError};
use crate::cache::Label;
use crate::config::MAX_REVOCATION_BLOCK_SECONDS;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};
use std::time::Duration;

/// Most session ARNs listed in a revocation answer; `sessions_total` gives the full count (a role
/// with 100,000 cached entries would otherwise make a multi-megabyte answer).
pub const MAX_LISTED_SESSIONS: usize = 1_000;

/// Policy name suggested for the deny policy (the console uses `AWSRevokeOlderSessions`).
pub const DENY_POLICY_NAME: &str = "FedbrokerRevokeOlderSessions";

/// What an administrator asks to revoke (fields unverified).
#[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeRequest {
    pub subject: Option<String>,
    pub role_arn: Option<String>,
    /// Block re-issue this long; absent: `cache.revocation_block_seconds`; 0: purge only.
    pub block_seconds: Option<u64>,
}

/// The outcome of a revocation.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Revocation {
    pub revoked_at: String,
    /// Cache entries purged on this replica and in Redis.
    pub purged: u64,
    /// Until when nothing is issued for the subject or role (`None`: not blocked).
    pub blocked_until: Option<String>,
    /// AWS sessions known to be still valid (assumed-role ARNs of the purged entries, sorted; the
    /// first `MAX_LISTED_SESSIONS`).
    pub sessions: Vec<String>,
    /// How many distinct sessions there were in all.
    pub sessions_total: usize,
    /// The deny policy to attach, or `None` when no safe one can be formed.
    #[schema(value_type = Option<Object>)]
    pub deny_policy: Option<Value>,
    /// `{account, role_name}` of each role to attach it to.
    #[schema(value_type = Vec<Object>)]
    pub attach_to: Vec<Value>,
    pub policy_name: &'static str,
    pub note: String,
}

impl Exchange {
    /// Apply a revocation; `default_block` when the request names no duration.
    pub async fn revoke(
        &self,
        req: RevokeRequest,
        default_block: Duration,
    ) -> Result<Revocation, ExchangeError> {
        let block = match req.block_seconds {
            Some(s) if s > MAX_REVOCATION_BLOCK_SECONDS => {
                return Err(bad(
                    "invalid_block_seconds",
                    format!("block_seconds must be between 0 and {MAX_REVOCATION_BLOCK_SECONDS}"),
                ))
            }
            Some(s) => Duration::from_secs(s),
            None => default_block,
        };
        let (label, role) = match (req.subject.as_deref(), req.role_arn.as_deref()) {
            (Some(s), None) if !s.is_empty() && s.len() <= 2048 => (Label::subject(s), None),
            (None, Some(r)) => {
                let role = parse_role_arn(Some(r))?.ok_or_else(revoke_target)?;
                (Label::role(role.as_str()), Some(role))
            }
            _ => return Err(revoke_target()),
        };
        let cache = self.cache.as_ref().ok_or_else(|| {
            bad(
                "credential_cache_disabled",
                "the credential cache is disabled (cache.enabled = false): there is nothing to \
                 purge or block; attach the deny policy from docs/CACHE.md by hand"
                    .into(),
            )
        })?;
        let now = self.clock.now();
        let purged = cache
            .revoke(std::slice::from_ref(&label), block)
            .await
            .map_err(|e| ExchangeError::RevocationIncomplete(e.to_string()))?;
        let blocked_until = (!block.is_zero())
            .then(|| now + chrono::TimeDelta::from_std(block).unwrap_or(chrono::TimeDelta::MAX));
        let (deny_policy, attach_to, note) = match &role {
            Some(role) => (
                Some(deny_policy(now, None)),
                vec![role_target(role.as_str())],
                "attach deny_policy to the role (iam:PutRolePolicy) to cut off every session issued \
                 before revoked_at; later sessions are unaffected"
                    .to_owned(),
            ),
            None => subject_policy(now, &purged.sessions),
        };
        tracing::warn!(
            event = "admin.revoke",
            target = if role.is_some() { "role" } else { "subject" },
            label = %label,
            role_arn = role.as_ref().map(|r| r.as_str()),
            purged = purged.entries,
            sessions = purged.sessions.len(),
            block_seconds = block.as_secs(),
            "credentials revoked"
        );
        let (sessions, sessions_total) = listed(purged.sessions);
        Ok(Revocation {
            revoked_at: rfc3339(now),
            purged: purged.entries,
            blocked_until: blocked_until.map(rfc3339),
            sessions,
            sessions_total,
            deny_policy,
            attach_to,
            policy_name: DENY_POLICY_NAME,
            note,
        })
    }
}

/// The first [`MAX_LISTED_SESSIONS`] sessions, and how many there were.
fn listed(mut sessions: Vec<String>) -> (Vec<String>, usize) {
    let total = sessions.len();
    sessions.truncate(MAX_LISTED_SESSIONS);
    (sessions, total)
}

fn revoke_target() -> ExchangeError {
    bad(
        "invalid_revocation_target",
        "give exactly one of subject (the NameID or sub, as issued) or role_arn \
         (arn:aws:iam::<account>:role/<name>)"
            .into(),
    )
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The console's `AWSRevokeOlderSessions` policy, optionally narrowed to some session names.
fn deny_policy(now: DateTime<Utc>, sessions: Option<&[String]>) -> Value {
    let mut condition = json!({ "DateLessThan": { "aws:TokenIssueTime": rfc3339(now) } });
    if let Some(names) = sessions {
        let ids: Vec<String> = names.iter().map(|n| format!("*:{n}")).collect();
        condition["StringLike"] = json!({ "aws:userid": ids });
    }
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": DENY_POLICY_NAME,
            "Effect": "Deny",
            "Action": "*",
            "Resource": "*",
            "Condition": condition,
        }]
    })
}

/// `{account, role_name}` from a role ARN (`arn:aws:iam::123:role/path/Name`).
fn role_target(role_arn: &str) -> Value {
    let account = role_arn.split(':').nth(4).unwrap_or_default();
    let name = role_arn.rsplit('/').next().unwrap_or_default();
    json!({ "account": account, "role_name": name })
}

/// The deny policy for a subject, from the assumed-role ARNs
/// (`arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`) of its purged entries.
fn subject_policy(now: DateTime<Utc>, sessions: &[String]) -> (Option<Value>, Vec<Value>, String) {
    let mut names = Vec::new();
    let mut roles = Vec::new();
    for arn in sessions {
        let account = arn.split(':').nth(4).unwrap_or_default();
        let resource = arn.splitn(6, ':').nth(5).unwrap_or_default();
        let mut parts = resource.splitn(3, '/');
        if let (Some("assumed-role"), Some(role), Some(session)) =
            (parts.next(), parts.next(), parts.next())
        {
            names.push(session.to_owned());
            roles.push(json!({ "account": account, "role_name": role }));
        }
    }
    names.sort();
    names.dedup();
    roles.sort_by_key(|v| v.to_string());
    roles.dedup();
    if names.is_empty() {
        return (
            None,
            Vec::new(),
            "no cached session was found for this subject, so its AWS session names are unknown: \
             no deny policy is offered (a role-wide one would cut off every user of the role); \
             revoke the role instead if that is intended"
                .to_owned(),
        );
    }
    (
        Some(deny_policy(now, Some(&names))),
        roles,
        "attach deny_policy to each role in attach_to (iam:PutRolePolicy): it cuts off this \
         subject's sessions issued before revoked_at, matched by session name"
            .to_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_policy_is_narrowed_to_the_session_names() {
        let now = Utc::now();
        let (p, roles, _) = subject_policy(
            now,
            &["arn:aws:sts::123456789012:assumed-role/Dev/alice@example.com".into()],
        );
        let p = p.expect("policy");
        let cond = &p["Statement"][0]["Condition"];
        assert_eq!(cond["StringLike"]["aws:userid"][0], "*:alice@example.com");
        assert_eq!(
            cond["DateLessThan"]["aws:TokenIssueTime"],
            rfc3339(now).as_str()
        );
        assert_eq!(roles[0]["role_name"], "Dev");
        assert_eq!(roles[0]["account"], "123456789012");
    }

    #[test]
    fn no_known_session_means_no_role_wide_policy_for_a_subject() {
        let (p, roles, note) = subject_policy(Utc::now(), &[]);
        assert!(p.is_none() && roles.is_empty());
        assert!(note.contains("role-wide"));
    }

    #[test]
    fn a_huge_revocation_lists_a_bounded_number_of_sessions_and_counts_them_all() {
        let many: Vec<String> = (0..MAX_LISTED_SESSIONS + 500)
            .map(|i| format!("arn:aws:sts::123456789012:assumed-role/R/s{i:05}"))
            .collect();
        let (shown, total) = listed(many);
        assert_eq!(
            (shown.len(), total),
            (MAX_LISTED_SESSIONS, MAX_LISTED_SESSIONS + 500)
        );
        let (shown, total) = listed(vec!["a".into()]);
        assert_eq!((shown, total), (vec!["a".to_owned()], 1));
    }

    #[test]
    fn role_target_drops_the_path() {
        let t = role_target("arn:aws:iam::123456789012:role/team/ops/Admin");
        assert_eq!(t["role_name"], "Admin");
        assert_eq!(t["account"], "123456789012");
    }
}
