//! AES-256-GCM envelopes for credential cache values that leave the process (Redis).
//!
//! Envelope layout (binary, stored as the Redis value):
//! `0x01 | id_len (u8) | key id | 96-bit random nonce | ciphertext || 128-bit tag`.
//! The plaintext is the JSON of `SealedCredentials`; the AAD is [`AAD_DOMAIN`] plus the cache key,
//! so an entry copied to another key name fails to open.
//!
//! Invariants:
//! - the newest key (first configured) encrypts; every configured key decrypts, chosen by the id in
//!   the envelope, so keys can be rotated by prepending a new one and dropping the old one after the
//!   longest credential lifetime (12 h);
//! - a fresh random nonce per write (96 bits from the OS RNG; far below the 2^32 messages per key
//!   where random nonces become a concern for a cache of short-lived entries);
//! - key material lives in `Zeroizing` buffers while parsed and in the cipher (aes `zeroize`) after;
//!   `Debug` shows key ids only.
//!
//! The AES-GCM implementation is RustCrypto's `aes-gcm` (audited by NCC Group, constant-time
//! AES/GHASH with hardware acceleration when available, maintained with the `aead` trait family).

use super::{CacheError, CacheKey, CachedCredentials};
use crate::sts::StsCredentials;
use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// Envelope format version (first byte).
pub const ENVELOPE_VERSION: u8 = 1;
/// Bytes of the AES-GCM nonce.
const NONCE_LEN: usize = 12;
/// Prefix of the associated data; the cache key follows it.
pub const AAD_DOMAIN: &[u8] = b"fedbroker.credential-cache.value.v1\0";
/// Longest key id (ids are `[A-Za-z0-9_.-]`), so the id fits the envelope's length byte.
pub const MAX_KEY_ID_LEN: usize = 64;

/// One configured key: id and cipher.
struct NamedKey {
    id: String,
    cipher: Aes256Gcm,
}

/// The configured encryption keys, newest first.
pub struct Keyring {
    keys: Vec<NamedKey>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|k| k.id.as_str()).collect();
        f.debug_struct("Keyring").field("key_ids", &ids).finish()
    }
}

/// Why a key specification was refused (never contains key material).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeySpecError {
    #[error("entry {0}: expected \"<id>:<base64 of 32 bytes>\"")]
    Shape(usize),
    #[error("entry {0}: key id must be 1-64 characters from [A-Za-z0-9_.-]")]
    BadId(usize),
    #[error("entry {0}: key is not base64 of exactly 32 bytes")]
    BadKey(usize),
    #[error("key id {0:?} appears twice")]
    DuplicateId(String),
    #[error("no key given")]
    Empty,
}

impl Keyring {
    /// Parse `"<id>:<base64 32 bytes>"` specs, newest first.
    pub fn from_specs<'a>(specs: impl IntoIterator<Item = &'a str>) -> Result<Self, KeySpecError> {
        let mut keys: Vec<NamedKey> = Vec::new();
        for (i, spec) in specs.into_iter().enumerate() {
            let (id, b64) = spec.trim().split_once(':').ok_or(KeySpecError::Shape(i))?;
            if id.is_empty()
                || id.len() > MAX_KEY_ID_LEN
                || !id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
            {
                return Err(KeySpecError::BadId(i));
            }
            let raw = Zeroizing::new(
                base64::engine::general_purpose::STANDARD
                    .decode(b64.trim())
                    .map_err(|_| KeySpecError::BadKey(i))?,
            );
            if raw.len() != 32 {
                return Err(KeySpecError::BadKey(i));
            }
            if keys.iter().any(|k| k.id == id) {
                return Err(KeySpecError::DuplicateId(id.to_owned()));
            }
            let cipher = Aes256Gcm::new_from_slice(&raw).map_err(|_| KeySpecError::BadKey(i))?;
            keys.push(NamedKey {
                id: id.to_owned(),
                cipher,
            });
        }
        if keys.is_empty() {
            return Err(KeySpecError::Empty);
        }
        Ok(Self { keys })
    }

    /// Keys from config values and/or a key file (one spec per line; blank lines and `#` comments
    /// ignored). Config values come first (newest), then the file's lines. `Ok(None)`: none given.
    pub fn from_config(
        values: &[SecretString],
        file: Option<&str>,
    ) -> Result<Option<Self>, String> {
        let mut specs: Vec<Zeroizing<String>> = values
            .iter()
            .map(|v| Zeroizing::new(v.expose_secret().to_owned()))
            .collect();
        if let Some(path) = file {
            let text =
                Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
                    format!("cache.encryption_key_file {path:?} cannot be read: {e}")
                })?);
            specs.extend(
                text.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with('#'))
                    .map(|l| Zeroizing::new(l.to_owned())),
            );
        }
        if specs.is_empty() {
            return Ok(None);
        }
        Self::from_specs(specs.iter().map(|s| s.as_str()))
            .map(Some)
            .map_err(|e| format!("cache.encryption_keys / encryption_key_file: {e}"))
    }

    /// A keyring with one random key (tests, single-process tools).
    pub fn random(id: &str) -> Self {
        Self {
            keys: vec![NamedKey {
                id: id.to_owned(),
                cipher: Aes256Gcm::new(&Aes256Gcm::generate_key(OsRng)),
            }],
        }
    }

    /// Id of the key used for writes.
    pub fn write_key_id(&self) -> &str {
        &self.keys[0].id
    }

    /// Encrypt `entry` for `key`.
    pub fn seal(&self, key: &CacheKey, entry: &CachedCredentials) -> Result<Vec<u8>, CacheError> {
        let plain = Zeroizing::new(
            serde_json::to_vec(&SealedCredentials::from(entry))
                .map_err(|e| CacheError::Corrupt(format!("cannot serialize an entry: {e}")))?,
        );
        self.seal_bytes(&aad(key), &plain)
    }

    /// Encrypt any plaintext under the newest key, bound to `aad` (the same envelope as cache
    /// entries; browser sessions use it with their own AAD domain).
    pub fn seal_bytes(&self, aad: &[u8], plain: &[u8]) -> Result<Vec<u8>, CacheError> {
        let k = &self.keys[0];
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let ct = k
            .cipher
            .encrypt(&nonce, Payload { msg: plain, aad })
            .map_err(|_| CacheError::Corrupt("encryption failed".into()))?;
        let mut out = Vec::with_capacity(2 + k.id.len() + NONCE_LEN + ct.len());
        out.push(ENVELOPE_VERSION);
        out.push(k.id.len() as u8);
        out.extend_from_slice(k.id.as_bytes());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Ok(out)
    }

    /// Decrypt an envelope written for `key`.
    pub fn open(&self, key: &CacheKey, envelope: &[u8]) -> Result<CachedCredentials, CacheError> {
        let plain = self.open_bytes(&aad(key), envelope)?;
        let sealed: SealedCredentials = serde_json::from_slice(&plain).map_err(|_| {
            CacheError::Corrupt("cache entry rejected: unreadable plaintext".into())
        })?;
        Ok(sealed.into())
    }

    /// Decrypt an envelope sealed with [`Self::seal_bytes`] for `aad`.
    pub fn open_bytes(
        &self,
        aad: &[u8],
        envelope: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CacheError> {
        let bad = |why: &str| CacheError::Corrupt(format!("cache entry rejected: {why}"));
        let (&version, rest) = envelope.split_first().ok_or_else(|| bad("empty"))?;
        if version != ENVELOPE_VERSION {
            return Err(bad("unknown envelope version"));
        }
        let (&id_len, rest) = rest.split_first().ok_or_else(|| bad("truncated"))?;
        let id_len = usize::from(id_len);
        if rest.len() < id_len + NONCE_LEN {
            return Err(bad("truncated"));
        }
        let (id, rest) = rest.split_at(id_len);
        let (nonce, ct) = rest.split_at(NONCE_LEN);
        let k = self
            .keys
            .iter()
            .find(|k| k.id.as_bytes() == id)
            .ok_or_else(|| bad("written with a key id that is not configured"))?;
        Ok(Zeroizing::new(
            k.cipher
                .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad })
                .map_err(|_| bad("authentication failed (wrong key or moved entry)"))?,
        ))
    }
}

fn aad(key: &CacheKey) -> Vec<u8> {
    [AAD_DOMAIN, key.as_str().as_bytes()].concat()
}

/// The serialized form of a cache entry (private to the envelope).
#[derive(Serialize, Deserialize)]
struct SealedCredentials {
    access_key_id: String,
    #[serde(serialize_with = "expose")]
    secret_access_key: SecretString,
    #[serde(serialize_with = "expose")]
    session_token: SecretString,
    expiration: DateTime<Utc>,
    assumed_role_arn: String,
    assumed_role_id: String,
    subject: Option<String>,
    provider: Option<String>,
    audience: Option<String>,
    source_identity: Option<String>,
    packed_policy_size: Option<i32>,
    /// Whether the session was role-chained (capped at 1 hour); absent in older entries.
    #[serde(default)]
    chained: bool,
    /// The STS request that issued it (audit); absent in older entries.
    #[serde(default)]
    request_id: Option<String>,
    fetched_at: DateTime<Utc>,
}

/// `secrecy` does not serialize a `SecretString`; expose it only into the envelope's plaintext
/// (a `Zeroizing` buffer that is encrypted at once).
fn expose<S: serde::Serializer>(v: &SecretString, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(v.expose_secret())
}

impl From<&CachedCredentials> for SealedCredentials {
    fn from(e: &CachedCredentials) -> Self {
        let c = &e.credentials;
        Self {
            access_key_id: c.access_key_id.clone(),
            secret_access_key: c.secret_access_key.clone(),
            session_token: c.session_token.clone(),
            expiration: c.expiration,
            assumed_role_arn: c.assumed_role_arn.clone(),
            assumed_role_id: c.assumed_role_id.clone(),
            subject: c.subject.clone(),
            provider: c.provider.clone(),
            audience: c.audience.clone(),
            source_identity: c.source_identity.clone(),
            packed_policy_size: c.packed_policy_size,
            chained: c.chained,
            request_id: c.request_id.clone(),
            fetched_at: e.fetched_at,
        }
    }
}

impl From<SealedCredentials> for CachedCredentials {
    fn from(s: SealedCredentials) -> Self {
        Self {
            credentials: StsCredentials {
                access_key_id: s.access_key_id,
                secret_access_key: s.secret_access_key,
                session_token: s.session_token,
                expiration: s.expiration,
                assumed_role_arn: s.assumed_role_arn,
                assumed_role_id: s.assumed_role_id,
                subject: s.subject,
                provider: s.provider,
                audience: s.audience,
                source_identity: s.source_identity,
                packed_policy_size: s.packed_policy_size,
                chained: s.chained,
                request_id: s.request_id,
            },
            fetched_at: s.fetched_at,
        }
    }
}
