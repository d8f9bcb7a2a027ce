//! One-time use of assertion IDs and token IDs (checklist S13).
//!
//! `first_use` atomically records a key until `until`; it returns `Ok(true)` the first time and
//! `Ok(false)` for every later use before expiry. Two implementations share one conformance suite:
//! in-process (`memory.rs`, default) and Redis `SET NX PX` (`redis.rs`, shared by all instances).
//! Fail closed: if the store cannot answer, the caller refuses the message.

pub mod memory;
pub mod redis;

use crate::error::{ApiError, ErrorKind};
use chrono::{DateTime, Utc};

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
