//! `VerifiedIdentity`: the one trusted type that crosses from the protocol validators (saml/, oidc/)
//! to mapping and exchange.
//!
//! Invariant: a `VerifiedIdentity` is only constructed by a validator after the signature, issuer,
//! audience, recipient and time checks passed; every field comes from the signed part of the message.
//! Its fields are private to the crate so nothing outside a validator can forge one.

use crate::aws::{RolePair, RoleSessionName, SessionDuration, SessionTags, SourceIdentity};
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Which protocol vouched for the identity.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    Saml,
    Oidc,
}

impl Protocol {
    /// `saml` or `oidc`, as logs and metrics label it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Saml => "saml",
            Self::Oidc => "oidc",
        }
    }
}

/// The original message, kept for STS pass-through calls (AssumeRoleWithSAML/WebIdentity).
#[derive(Clone, Debug)]
pub enum OriginalCredential {
    /// The base64 SAML Response exactly as received.
    SamlResponse(SecretString),
    /// The compact JWS exactly as received.
    WebIdentityToken(SecretString),
}

/// AWS-specific values carried inside the assertion or token, already checked against AWS limits.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct AwsClaims {
    /// SAML `Role` attribute pairs (empty for OIDC).
    pub roles: Vec<RolePair>,
    pub session_name: Option<RoleSessionName>,
    pub session_duration: Option<SessionDuration>,
    /// SAML `SessionNotOnOrAfter` on the AuthnStatement: sessions must not outlive it.
    pub session_not_on_or_after: Option<DateTime<Utc>>,
    pub tags: SessionTags,
    pub source_identity: Option<SourceIdentity>,
}

/// An identity proven by a pinned IdP key.
#[derive(Clone, Debug)]
pub struct VerifiedIdentity {
    pub(crate) protocol: Protocol,
    /// Configured IdP/provider name.
    pub(crate) provider: String,
    pub(crate) issuer: String,
    pub(crate) subject: String,
    pub(crate) subject_format: Option<String>,
    /// Assertion ID or `jti`: the replay-protection key.
    pub(crate) token_id: String,
    /// When the message stops being acceptable (replay entries live until then plus skew).
    pub(crate) expires_at: DateTime<Utc>,
    pub(crate) authn_instant: Option<DateTime<Utc>>,
    /// Every verified attribute or claim, by name.
    pub(crate) attributes: BTreeMap<String, Vec<String>>,
    pub(crate) aws: AwsClaims,
    /// SHA-256 (hex) of the DER key/certificate that verified the signature, for audit.
    pub(crate) key_fingerprint: String,
    /// SAML: the signature was accepted only through the IdP's `legacy_algorithms` opt-in
    /// (RSA-SHA1, a SHA-1 digest or an RSA key under 2048 bits); audited and counted.
    pub(crate) legacy_algorithm: bool,
    pub(crate) original: OriginalCredential,
    /// SAML: the signed `SubjectConfirmationData InResponseTo` (SP-initiated browser sign-in).
    pub(crate) in_response_to: Option<String>,
    /// SAML: the signed `SubjectConfirmationData Recipient` and every `Audience` value, so the API
    /// can refuse assertions addressed to the broker's own browser sign-in (SP entity ID, ACS).
    pub(crate) recipient: Option<String>,
    pub(crate) audiences: Vec<String>,
    /// SAML: the Assertion arrived encrypted (`EncryptedAssertion`) and was decrypted.
    pub(crate) encrypted: bool,
}

impl VerifiedIdentity {
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }
    pub fn provider(&self) -> &str {
        &self.provider
    }
    pub fn issuer(&self) -> &str {
        &self.issuer
    }
    pub fn subject(&self) -> &str {
        &self.subject
    }
    pub fn subject_format(&self) -> Option<&str> {
        self.subject_format.as_deref()
    }
    pub fn token_id(&self) -> &str {
        &self.token_id
    }
    pub fn expires_at(&self) -> DateTime<Utc> {
        self.expires_at
    }
    pub fn authn_instant(&self) -> Option<DateTime<Utc>> {
        self.authn_instant
    }
    pub fn attributes(&self) -> &BTreeMap<String, Vec<String>> {
        &self.attributes
    }
    pub fn aws(&self) -> &AwsClaims {
        &self.aws
    }
    pub fn key_fingerprint(&self) -> &str {
        &self.key_fingerprint
    }
    pub fn legacy_algorithm(&self) -> bool {
        self.legacy_algorithm
    }
    pub fn original(&self) -> &OriginalCredential {
        &self.original
    }
    pub fn in_response_to(&self) -> Option<&str> {
        self.in_response_to.as_deref()
    }
    /// SAML: the verified `SubjectConfirmationData Recipient`.
    pub fn recipient(&self) -> Option<&str> {
        self.recipient.as_deref()
    }
    /// SAML: every verified `Audience` value (empty for OIDC).
    pub fn audiences(&self) -> &[String] {
        &self.audiences
    }
    /// SAML: the Assertion arrived encrypted and was decrypted by the broker.
    pub fn encrypted(&self) -> bool {
        self.encrypted
    }

    /// The subject as logs may show it: a SHA-256 prefix of `issuer | subject` (docs/ARCHITECTURE.md rule 7).
    pub fn subject_hash(&self) -> String {
        hash_subject(&self.issuer, &self.subject)
    }
}

/// Hash a subject for logs: 16 hex characters of SHA-256 over `issuer \0 subject`.
pub fn hash_subject(issuer: &str, subject: &str) -> String {
    let mut h = Sha256::new();
    h.update(issuer.as_bytes());
    h.update([0u8]);
    h.update(subject.as_bytes());
    hex::encode(&h.finalize()[..8])
}

/// The serialized form of a [`VerifiedIdentity`], for a browser session kept in a store (sealed
/// with AES-256-GCM when that store is Redis). Reading it back re-checks every AWS newtype.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct StoredIdentity {
    protocol: Protocol,
    provider: String,
    issuer: String,
    subject: String,
    subject_format: Option<String>,
    token_id: String,
    expires_at: DateTime<Utc>,
    authn_instant: Option<DateTime<Utc>>,
    attributes: BTreeMap<String, Vec<String>>,
    aws: AwsClaims,
    key_fingerprint: String,
    #[serde(default)]
    legacy_algorithm: bool,
    /// `saml` or `jwt`, then the original message (exposed only into the sealed plaintext).
    original_kind: String,
    original: String,
    in_response_to: Option<String>,
    #[serde(default)]
    encrypted: bool,
    #[serde(default)]
    recipient: Option<String>,
    #[serde(default)]
    audiences: Vec<String>,
}

impl From<&VerifiedIdentity> for StoredIdentity {
    fn from(i: &VerifiedIdentity) -> Self {
        use secrecy::ExposeSecret;
        let (original_kind, original) = match &i.original {
            OriginalCredential::SamlResponse(s) => ("saml", s.expose_secret().to_owned()),
            OriginalCredential::WebIdentityToken(t) => ("jwt", t.expose_secret().to_owned()),
        };
        Self {
            protocol: i.protocol,
            provider: i.provider.clone(),
            issuer: i.issuer.clone(),
            subject: i.subject.clone(),
            subject_format: i.subject_format.clone(),
            token_id: i.token_id.clone(),
            expires_at: i.expires_at,
            authn_instant: i.authn_instant,
            attributes: i.attributes.clone(),
            aws: i.aws.clone(),
            key_fingerprint: i.key_fingerprint.clone(),
            legacy_algorithm: i.legacy_algorithm,
            original_kind: original_kind.to_owned(),
            original,
            in_response_to: i.in_response_to.clone(),
            encrypted: i.encrypted,
            recipient: i.recipient.clone(),
            audiences: i.audiences.clone(),
        }
    }
}

impl From<StoredIdentity> for VerifiedIdentity {
    fn from(s: StoredIdentity) -> Self {
        let original = secrecy::SecretString::from(s.original);
        Self {
            protocol: s.protocol,
            provider: s.provider,
            issuer: s.issuer,
            subject: s.subject,
            subject_format: s.subject_format,
            token_id: s.token_id,
            expires_at: s.expires_at,
            authn_instant: s.authn_instant,
            attributes: s.attributes,
            aws: s.aws,
            key_fingerprint: s.key_fingerprint,
            legacy_algorithm: s.legacy_algorithm,
            original: if s.original_kind == "saml" {
                OriginalCredential::SamlResponse(original)
            } else {
                OriginalCredential::WebIdentityToken(original)
            },
            in_response_to: s.in_response_to,
            encrypted: s.encrypted,
            recipient: s.recipient,
            audiences: s.audiences,
        }
    }
}
