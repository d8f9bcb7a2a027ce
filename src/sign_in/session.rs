//! Broker sessions after a browser sign-in: the verified identity, kept server-side (in-process or
//! Redis, sealed), referenced by a random cookie value and protected by a per-session CSRF token.

use super::kv::BrowserKv;
use super::{random_token, token_hash, SESSION_TTL};
use crate::cache::CacheError;
use crate::clock::SharedClock;
use crate::identity::{StoredIdentity, VerifiedIdentity};
use chrono::{DateTime, Utc};
use std::sync::Arc;
use zeroize::Zeroizing;

/// A signed-in browser.
#[derive(Clone, Debug)]
pub struct BrowserSession {
    pub identity: Arc<VerifiedIdentity>,
    /// Must accompany every state-changing request (console sign-in, logout).
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
}

impl BrowserSession {
    /// Whether `presented` is this session's CSRF token (constant time).
    pub fn csrf_ok(&self, presented: &str) -> bool {
        super::secrets_equal(presented, &self.csrf_token)
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Record {
    identity: StoredIdentity,
    csrf_token: String,
    expires_at: DateTime<Utc>,
}

/// Server-side sessions over a [`BrowserKv`] (keys: `sess:` + SHA-256 of the cookie value):
/// in-process, or Redis sealed with the cache keyring (see `sign_in::kv`).
#[derive(Debug)]
pub struct SessionStore {
    clock: SharedClock,
    kv: Arc<dyn BrowserKv>,
}

fn key(cookie: &str) -> String {
    format!("sess:{}", token_hash(cookie))
}

impl SessionStore {
    pub fn new(clock: SharedClock, kv: Arc<dyn BrowserKv>) -> Self {
        Self { clock, kv }
    }

    /// Start a session for `identity`; returns the cookie value.
    pub async fn create(
        &self,
        identity: VerifiedIdentity,
    ) -> Result<(String, BrowserSession), CacheError> {
        let cookie = random_token();
        let session = BrowserSession {
            identity: Arc::new(identity),
            csrf_token: random_token(),
            expires_at: self.clock.now() + SESSION_TTL,
        };
        let record = Record {
            identity: StoredIdentity::from(session.identity.as_ref()),
            csrf_token: session.csrf_token.clone(),
            expires_at: session.expires_at,
        };
        let bytes = Zeroizing::new(
            serde_json::to_vec(&record).map_err(|e| CacheError::Corrupt(e.to_string()))?,
        );
        self.kv.put(&key(&cookie), &bytes, SESSION_TTL).await?;
        Ok((cookie, session))
    }

    /// The live session referenced by a cookie value (`Ok(None)`: none, expired or unreadable).
    pub async fn get(&self, cookie: &str) -> Result<Option<BrowserSession>, CacheError> {
        let Some(bytes) = self.kv.get(&key(cookie)).await? else {
            return Ok(None);
        };
        let Ok(record) = serde_json::from_slice::<Record>(&bytes) else {
            return Ok(None);
        };
        if record.expires_at <= self.clock.now() {
            return Ok(None);
        }
        Ok(Some(BrowserSession {
            identity: Arc::new(record.identity.into()),
            csrf_token: record.csrf_token,
            expires_at: record.expires_at,
        }))
    }

    /// Log out.
    pub async fn end(&self, cookie: &str) -> Result<(), CacheError> {
        self.kv.remove(&key(cookie)).await
    }
}
