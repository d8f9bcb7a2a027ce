//! Revocation labels: what an administrator can revoke by (a subject, a role), as opaque names.
//!
//! A cached entry is recorded under the labels of the request that produced it, so
//! `POST /v1/admin/revoke` can purge "every entry of alice" or "every entry of role X" although cache
//! keys are one-way hashes; a label can also be *blocked* for a while so nothing new is issued for it.
//!
//! Invariants: a label shows no input bytes (`sub:` / `role:` + 64 hex of a domain-separated SHA-256),
//! so Redis key names built from it reveal no subject or role; the subject label ignores the issuer on
//! purpose: an operator revoking `alice@corp` means every IdP's alice (wider is the safe side).

use sha2::{Digest, Sha256};

const DOMAIN: &[u8] = b"fedbroker.credential-cache.label.v1\0";

/// An opaque revocation label (`sub:<hex>` or `role:<hex>`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Label(String);

impl Label {
    /// Every entry issued for this subject (NameID / `sub`), whatever the issuer.
    pub fn subject(subject: &str) -> Self {
        Self::make("sub", subject)
    }

    /// Every entry issued for this role ARN.
    pub fn role(role_arn: &str) -> Self {
        Self::make("role", role_arn)
    }

    fn make(kind: &str, value: &str) -> Self {
        let mut h = Sha256::new();
        h.update(DOMAIN);
        h.update(kind.as_bytes());
        h.update([0u8]);
        h.update(value.as_bytes());
        Self(format!("{kind}:{}", hex::encode(h.finalize())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Label {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_hide_their_input_and_separate_kinds() {
        let s = Label::subject("alice@example.com");
        assert!(s.as_str().starts_with("sub:"));
        assert!(!s.as_str().contains("alice"));
        assert_eq!(s.as_str().len(), 4 + 64);
        assert_ne!(
            Label::subject("x").as_str()[4..],
            Label::role("x").as_str()[5..]
        );
        assert_eq!(Label::role("r"), Label::role("r"));
    }
}
