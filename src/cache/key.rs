//! Credential cache keys: a domain-separated, length-prefixed SHA-256 of everything that changes the
//! STS session a request would get.
//!
//! Invariants:
//! - two inputs that differ in any field (including a tag order difference *after* sorting, a
//!   present-vs-absent optional, or a field boundary shift such as `("ab","c")` vs `("a","bc")`)
//!   give different keys: every field is written as a tag byte, a big-endian `u64` length and its
//!   bytes, lists carry their element count, and optionals carry a presence byte;
//! - tags, transitive tag keys and policy ARNs are sorted before hashing, so the order a mapping rule
//!   produced them in does not split the cache;
//! - the key is 64 lowercase hex characters: no raw token, subject, tag value or secret appears in a
//!   Redis key name or a log line that prints it;
//! - the AccessKeyId is never part of a key (AWS: "unique only in combination with the secret access
//!   key and the session token", docs/AWS-RULES.md §7.1).
//!
//! Field order (the hash input, after the [`DOMAIN`] string), documented in `docs/CACHE.md`:
//! 1 provider, 2 issuer, 3 subject, 4 role_arn, 5 mode, 6 tags (sorted by key, then value),
//! 7 transitive_keys (sorted), 8 source_identity, 9 session_policy, 10 policy_arns (sorted),
//! 11 external_id, 12 duration_class, 13 session_name, 14 sts_endpoint, 15 principal_arn,
//! 16 context (sorted (name, value) pairs).

use sha2::{Digest, Sha256};

/// Domain separator: the first bytes hashed. Bump the version if the encoding or the field list
/// changes, so old entries are never read under the new meaning.
pub const DOMAIN: &[u8] = b"fedbroker.credential-cache.key.v1\0";

/// Everything that makes two STS sessions differ (docs/AWS-RULES.md §7.1 "cache-key inputs").
///
/// `session_name` and `sts_endpoint` go beyond the issue's list: the RoleSessionName appears in the
/// assumed-role ARN (and so in CloudTrail and in resource policies naming the session), and tokens
/// from the global endpoint are not valid in opt-in Regions; leave them empty when they are fixed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CacheKeyInput {
    /// Configured provider name (`saml.idps[].name` / `oidc.providers[].name`).
    pub provider: String,
    /// The verified issuer (SAML entity ID / OIDC `iss`).
    pub issuer: String,
    /// The verified subject (NameID / `sub`). Hashed, never stored.
    pub subject: String,
    pub role_arn: String,
    /// STS mode: `pass-through`, `assume-role` or `issuer`.
    pub mode: String,
    /// Session tags as (key, value); sorted before hashing.
    pub tags: Vec<(String, String)>,
    /// Transitive tag keys; sorted before hashing.
    pub transitive_keys: Vec<String>,
    pub source_identity: Option<String>,
    /// Inline session policy JSON, byte for byte.
    pub session_policy: Option<String>,
    /// Managed session policy ARNs; sorted before hashing.
    pub policy_arns: Vec<String>,
    pub external_id: Option<String>,
    /// The requested session duration, or a class of it (e.g. `"3600"`, `"default"`).
    pub duration_class: String,
    /// RoleSessionName (empty when STS derives it, e.g. SAML).
    pub session_name: String,
    /// STS endpoint or Region the session comes from.
    pub sts_endpoint: String,
    /// SAML pass-through: the SAML provider ARN paired with the role (another provider is another
    /// trust relationship).
    pub principal_arn: Option<String>,
    /// Pass-through modes: every verified attribute or claim AWS may evaluate in the role's trust
    /// policy (`saml:*`, `<provider>:aud`, `:amr`, ...), as (name, value) pairs, sorted before
    /// hashing. Without it a cached session could reach a caller whose own assertion AWS would
    /// refuse. Per-message values (IDs, nonces) must be left out or nothing would ever hit.
    pub context: Vec<(String, String)>,
}

/// A derived cache key: 64 lowercase hex characters.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CacheKey(String);

impl CacheKey {
    /// Hash `input` as described in the module docs.
    pub fn derive(input: &CacheKeyInput) -> Self {
        let mut h = Sha256::new();
        h.update(DOMAIN);
        let mut w = Writer(&mut h);
        w.str(1, &input.provider);
        w.str(2, &input.issuer);
        w.str(3, &input.subject);
        w.str(4, &input.role_arn);
        w.str(5, &input.mode);
        let mut tags: Vec<&(String, String)> = input.tags.iter().collect();
        tags.sort();
        w.count(6, tags.len());
        for (k, v) in tags {
            w.str(6, k);
            w.str(6, v);
        }
        w.sorted_list(7, &input.transitive_keys);
        w.opt(8, input.source_identity.as_deref());
        w.opt(9, input.session_policy.as_deref());
        w.sorted_list(10, &input.policy_arns);
        w.opt(11, input.external_id.as_deref());
        w.str(12, &input.duration_class);
        w.str(13, &input.session_name);
        w.str(14, &input.sts_endpoint);
        w.opt(15, input.principal_arn.as_deref());
        let mut context: Vec<&(String, String)> = input.context.iter().collect();
        context.sort();
        w.count(16, context.len());
        for (k, v) in context {
            w.str(16, k);
            w.str(16, v);
        }
        Self(hex::encode(h.finalize()))
    }

    /// The hex digest.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A key from an already derived hex digest (e.g. read back from Redis). `None` unless it is
    /// 64 lowercase hex characters.
    pub fn from_hex(hex: &str) -> Option<Self> {
        (hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
            .then(|| Self(hex.to_owned()))
    }
}

impl std::fmt::Display for CacheKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Tag byte + big-endian u64 length + bytes, for every field.
struct Writer<'a>(&'a mut Sha256);

impl Writer<'_> {
    fn bytes(&mut self, tag: u8, b: &[u8]) {
        self.0.update([tag]);
        self.0.update((b.len() as u64).to_be_bytes());
        self.0.update(b);
    }
    fn str(&mut self, tag: u8, s: &str) {
        self.bytes(tag, s.as_bytes());
    }
    fn count(&mut self, tag: u8, n: usize) {
        self.bytes(tag, &(n as u64).to_be_bytes());
    }
    fn opt(&mut self, tag: u8, s: Option<&str>) {
        match s {
            None => self.bytes(tag, &[0]),
            Some(s) => {
                self.bytes(tag, &[1]);
                self.str(tag, s);
            }
        }
    }
    fn sorted_list(&mut self, tag: u8, items: &[String]) {
        let mut items: Vec<&String> = items.iter().collect();
        items.sort();
        self.count(tag, items.len());
        for i in items {
            self.str(tag, i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> CacheKeyInput {
        CacheKeyInput {
            provider: "corp".into(),
            issuer: "https://idp.example.com".into(),
            subject: "alice@example.com".into(),
            role_arn: "arn:aws:iam::123456789012:role/Dev".into(),
            mode: "assume-role".into(),
            tags: vec![("team".into(), "blue".into()), ("cc".into(), "42".into())],
            transitive_keys: vec!["team".into(), "cc".into()],
            source_identity: Some("alice".into()),
            session_policy: Some(r#"{"Version":"2012-10-17"}"#.into()),
            policy_arns: vec![
                "arn:aws:iam::aws:policy/ReadOnlyAccess".into(),
                "arn:aws:iam::aws:policy/Billing".into(),
            ],
            external_id: Some("ext-1".into()),
            duration_class: "3600".into(),
            session_name: "alice".into(),
            sts_endpoint: "us-east-1".into(),
            principal_arn: None,
            context: vec![
                ("aud".into(), "sts.amazonaws.com".into()),
                ("groups".into(), "dev".into()),
            ],
        }
    }

    /// Every single-field change, each naming the field it changes.
    fn variants() -> Vec<(&'static str, CacheKeyInput)> {
        let b = base();
        let mut v: Vec<(&'static str, CacheKeyInput)> = Vec::new();
        let mut push = |name, f: &dyn Fn(&mut CacheKeyInput)| {
            let mut i = base();
            f(&mut i);
            assert_ne!(i, b, "{name} variant must differ");
            v.push((name, i));
        };
        push("provider", &|i| i.provider = "corp2".into());
        push("issuer", &|i| i.issuer.push('/'));
        push("subject", &|i| i.subject = "bob@example.com".into());
        push("role_arn", &|i| i.role_arn.push('2'));
        push("mode", &|i| i.mode = "issuer".into());
        push("tag value", &|i| i.tags[0].1 = "red".into());
        push("tag key", &|i| i.tags[0].0 = "Team".into());
        push("tag added", &|i| i.tags.push(("x".into(), "".into())));
        push("tag removed", &|i| {
            i.tags.pop();
        });
        push("transitive key", &|i| {
            i.transitive_keys.pop();
        });
        push("source_identity none", &|i| i.source_identity = None);
        push("source_identity empty", &|i| {
            i.source_identity = Some("".into())
        });
        push("session_policy", &|i| i.session_policy = None);
        push("policy_arns", &|i| i.policy_arns.truncate(1));
        push("external_id", &|i| i.external_id = Some("ext-2".into()));
        push("duration_class", &|i| i.duration_class = "7200".into());
        push("session_name", &|i| i.session_name = "alice2".into());
        push("sts_endpoint", &|i| i.sts_endpoint = "eu-west-1".into());
        push("principal_arn", &|i| {
            i.principal_arn = Some("arn:aws:iam::123456789012:saml-provider/corp".into())
        });
        push("context value", &|i| {
            i.context[0].1 = "other-audience".into()
        });
        push("context added", &|i| {
            i.context.push(("amr".into(), "mfa".into()))
        });
        // Boundary shifts between adjacent fields.
        push("provider/issuer boundary", &|i| {
            i.provider = "corphttps://idp.example.com".into();
            i.issuer = "".into();
        });
        push("tag pair boundary", &|i| {
            i.tags = vec![("teamblue".into(), "".into()), ("cc".into(), "42".into())]
        });
        push("tag moved to transitive", &|i| {
            i.transitive_keys.push("team".into());
        });
        v
    }

    #[test]
    fn any_single_field_change_changes_the_key() {
        let k0 = CacheKey::derive(&base());
        let mut seen = std::collections::HashSet::new();
        seen.insert(k0.clone());
        for (name, input) in variants() {
            let k = CacheKey::derive(&input);
            assert_ne!(k, k0, "changing {name} must change the key");
            assert!(seen.insert(k), "{name} collides with another variant");
        }
    }

    #[test]
    fn list_order_does_not_matter() {
        let mut i = base();
        i.tags.reverse();
        i.transitive_keys.reverse();
        i.policy_arns.reverse();
        i.context.reverse();
        assert_eq!(CacheKey::derive(&i), CacheKey::derive(&base()));
    }

    #[test]
    fn key_is_hex_and_holds_no_input_bytes() {
        let input = base();
        let k = CacheKey::derive(&input);
        assert_eq!(k.as_str().len(), 64);
        assert!(CacheKey::from_hex(k.as_str()).is_some());
        for needle in ["alice", "corp", "blue", "ext-1", "Dev", "idp.example"] {
            assert!(!k.as_str().contains(needle), "{needle} leaked into the key");
        }
        // Deterministic: the same input gives the same key.
        assert_eq!(k, CacheKey::derive(&input));
    }

    #[test]
    fn from_hex_rejects_non_keys() {
        assert!(CacheKey::from_hex("abc").is_none());
        assert!(CacheKey::from_hex(&"A".repeat(64)).is_none());
        assert!(CacheKey::from_hex(&"0".repeat(64)).is_some());
    }
}
