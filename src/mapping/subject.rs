//! The verified subject as AWS sees it, in the modes where AWS sees only the broker as the caller
//! (`assume-role`, `issuer`): a session name derived from it, the session tag
//! [`SUBJECT_TAG_KEY`], or a SourceIdentity.
//!
//! Invariants: every value is deterministic (never random) and collision-free: a subject that
//! already fits the AWS type is used as is; otherwise its allowed characters (others become `-`)
//! are cut short and followed by `.` and 16 hex of SHA-256(issuer NUL subject), the same 16 hex
//! the broker logs as `subject` (`identity::hash_subject`), so two subjects never share a value
//! and an operator can match a session to the log line.

use crate::aws::{RoleSessionName, SourceIdentity, TagKey, TagValue};
use crate::identity::hash_subject;

/// The session tag carrying the verified subject (a tag key may not begin with `aws:`).
pub const SUBJECT_TAG_KEY: &str = "fedbroker:subject";

/// Where a grant in mode `assume-role` or `issuer` puts the verified subject (grant key
/// `record_subject`; default [`Self::Tag`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordSubject {
    /// Session tag `fedbroker:subject` (up to 256 characters: most subjects fit verbatim).
    #[default]
    Tag,
    /// `SourceIdentity` (2–64 characters of `[A-Za-z0-9_+=,.@-]`; kept through role chaining).
    SourceIdentity,
}

/// Hex characters of the subject hash appended when the subject had to be changed.
const HASH_LEN: usize = 16;
/// Characters of a sanitised subject kept in a session name / source identity (47 + '.' + 16 = 64).
const NAME_PREFIX_LEN: usize = 47;
/// Characters of a sanitised subject kept in a tag value (239 + '.' + 16 = 256).
const TAG_PREFIX_LEN: usize = 239;

fn suffixed(issuer: &str, subject: &str, keep: fn(char) -> bool, prefix_len: usize) -> String {
    let sanitised: String = subject
        .chars()
        .map(|c| if keep(c) { c } else { '-' })
        .take(prefix_len)
        .collect();
    format!("{sanitised}.{}", &hash_subject(issuer, subject)[..HASH_LEN])
}

fn sts_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '=' | ',' | '.' | '@' | '-')
}

/// The session name for a subject: `sub` itself when it already matches AWS's
/// `[a-zA-Z_0-9+=,.@-]{2,64}`; otherwise its allowed characters (others become `-`), cut to 47,
/// then `.` and 16 hex of SHA-256(issuer NUL subject), so distinct subjects never collide.
pub fn derive_session_name(issuer: &str, subject: &str) -> RoleSessionName {
    if let Ok(name) = RoleSessionName::parse(subject) {
        return name;
    }
    let name = suffixed(issuer, subject, sts_name_char, NAME_PREFIX_LEN);
    RoleSessionName::parse(&name).unwrap_or_else(|_| {
        // Unreachable by construction (charset and length are guaranteed); keep a valid fallback.
        RoleSessionName::parse(&format!("s.{}", &hash_subject(issuer, subject)[..HASH_LEN]))
            .expect("hex session name is valid")
    })
}

/// The SourceIdentity for a subject: as [`derive_session_name`] (same character set; a derived
/// value never contains `:`, so it cannot begin with the reserved `aws:`).
pub fn subject_source_identity(issuer: &str, subject: &str) -> SourceIdentity {
    if let Ok(si) = SourceIdentity::parse(subject) {
        return si;
    }
    let value = suffixed(issuer, subject, sts_name_char, NAME_PREFIX_LEN);
    SourceIdentity::parse(&value).unwrap_or_else(|_| {
        SourceIdentity::parse(&format!("s.{}", &hash_subject(issuer, subject)[..HASH_LEN]))
            .expect("hex source identity is valid")
    })
}

/// The `fedbroker:subject` tag value: the subject itself when it is a valid tag value (letters,
/// digits, space and `_ . : / = + - @`, at most 256, no `aws:` prefix), else the sanitised form
/// with the hash suffix (`:` and spaces also become `-`, so it cannot begin with `aws:`).
pub fn subject_tag_value(issuer: &str, subject: &str) -> TagValue {
    if let Ok(v) = TagValue::parse(subject) {
        return v;
    }
    let keep =
        |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '/' | '=' | '+' | '-' | '@');
    let value = suffixed(issuer, subject, keep, TAG_PREFIX_LEN);
    TagValue::parse(&value).unwrap_or_else(|_| {
        TagValue::parse(&hash_subject(issuer, subject)).expect("hex tag value is valid")
    })
}

/// The reserved tag key.
pub fn subject_tag_key() -> TagKey {
    TagKey::parse(SUBJECT_TAG_KEY).expect("the subject tag key is a valid tag key")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_that_fit_are_used_verbatim() {
        let gh = "repo:my-org/app:ref:refs/heads/main";
        assert_eq!(subject_tag_value("https://i", gh).as_str(), gh);
        assert_eq!(
            subject_source_identity("https://i", "alice@example.com").as_str(),
            "alice@example.com"
        );
    }

    #[test]
    fn subjects_that_do_not_fit_get_the_audit_hash_and_never_collide() {
        let hash = hash_subject("https://i", "aws:admin");
        let v = subject_tag_value("https://i", "aws:admin");
        assert_eq!(v.as_str(), format!("aws-admin.{hash}"));
        let long_a = format!("{}a;", "x".repeat(300));
        let long_b = format!("{}b;", "x".repeat(300));
        let (a, b) = (
            subject_tag_value("https://i", &long_a),
            subject_tag_value("https://i", &long_b),
        );
        assert_ne!(a, b);
        assert!(a.as_str().chars().count() <= 256);
        let si = subject_source_identity("https://i", "repo:org/app");
        assert_eq!(
            si.as_str(),
            format!("repo-org-app.{}", hash_subject("https://i", "repo:org/app"))
        );
        assert!(subject_source_identity("https://i", "aws:x")
            .as_str()
            .starts_with("aws-x."));
    }
}
