//! One-time use of assertion IDs and token IDs (docs/SECURITY.md S13).
//!
//! `first_use` atomically records a key until `until`; it returns `Ok(true)` the first time and
//! `Ok(false)` for every later use before expiry. Two implementations share one conformance suite:
//! in-process (`memory.rs`, default) and Redis `SET NX PX` (`redis.rs`, shared by all instances).
//! Fail closed: if the store cannot answer, the caller refuses the message.

pub mod memory;
pub mod redis;

pub use self::memory::MemoryReplayGuard;
pub use self::redis::RedisReplayGuard;

use crate::error::{ApiError, ErrorKind};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

/// Shortest time a key is remembered, even if `until` is already (nearly) past.
///
/// Redis `PX` needs a positive TTL, and remembering a key for at least a second closes the window in
/// which a message that expires "now" could be submitted twice in quick succession. Both stores apply
/// it, so they behave the same.
pub const MIN_REMEMBER: chrono::TimeDelta = chrono::TimeDelta::seconds(1);

/// SHA-256 of a replay key. Stores keep only this digest: fixed size per entry whatever the caller
/// passes, and no raw assertion or token ID ever lands in Redis or a memory dump.
pub fn key_digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// When a store forgets `key`: `until`, but never sooner than [`MIN_REMEMBER`] from `now`.
pub fn remember_until(now: DateTime<Utc>, until: DateTime<Utc>) -> DateTime<Utc> {
    until.max(now + MIN_REMEMBER)
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("the replay cache is unavailable; retry later")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ApiError for ReplayError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Unavailable
    }
    fn code(&self) -> &'static str {
        "replay_cache_unavailable"
    }
    fn retry_after(&self) -> Option<u64> {
        Some(2)
    }
}

#[async_trait::async_trait]
pub trait ReplayGuard: Send + Sync + std::fmt::Debug {
    /// Record `key` as used until `until`. `Ok(true)`: first use. `Ok(false)`: a replay.
    async fn first_use(&self, key: &str, until: DateTime<Utc>) -> Result<bool, ReplayError>;
    /// Whether the store answers (for `/readyz`).
    async fn ping(&self) -> Result<(), ReplayError>;
}
