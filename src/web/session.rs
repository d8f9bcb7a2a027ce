//! Broker sessions after a browser sign-in: the verified identity, kept server-side, referenced
//! by a random cookie value and protected by a per-session CSRF token.

use super::{random_token, token_hash, ExpiringStore, SESSION_TTL};
use crate::clock::SharedClock;
use crate::identity::VerifiedIdentity;
use chrono::{DateTime, Utc};
use std::sync::Arc;

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
        let (a, b) = (token_hash(presented), token_hash(&self.csrf_token));
        a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
    }
}

/// Server-side sessions (in-process; a replica only knows its own sessions: put a sticky load
/// balancer in front of several replicas, see docs/BROWSER.md).
#[derive(Debug)]
pub struct SessionStore {
    clock: SharedClock,
    sessions: ExpiringStore<BrowserSession>,
}

impl SessionStore {
    pub fn new(clock: SharedClock) -> Self {
        Self {
            sessions: ExpiringStore::new(clock.clone()),
            clock,
        }
    }

    /// Start a session for `identity`; returns the cookie value, or `None` when the store is full.
    pub fn create(&self, identity: VerifiedIdentity) -> Option<(String, BrowserSession)> {
        let cookie = random_token();
        let session = BrowserSession {
            identity: Arc::new(identity),
            csrf_token: random_token(),
            expires_at: self.clock.now() + SESSION_TTL,
        };
        self.sessions
            .insert(token_hash(&cookie), session.clone(), SESSION_TTL)
            .then_some((cookie, session))
    }

    /// The live session referenced by a cookie value.
    pub fn get(&self, cookie: &str) -> Option<BrowserSession> {
        self.sessions.get(&token_hash(cookie))
    }

    /// Log out.
    pub fn end(&self, cookie: &str) {
        self.sessions.remove(&token_hash(cookie));
    }
}
