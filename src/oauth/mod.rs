//! The broker as an OAuth 2.0 authorization server for its own command line (`fedbroker login`):
//! the device authorization grant (RFC 8628, [`device`]), the authorization code grant with PKCE
//! and a loopback redirect (RFC 7636 / RFC 8252, [`code`]), and the CLI sessions their tokens
//! stand for ([`session`]). This module knows no HTTP types: handlers parse the forms
//! ([`forms`]), call [`Oauth`], answer what it returns (JSON bodies in [`forms`], HTML bodies in
//! [`pages`]) and write the [`OauthEvent`] it hands back to the audit log ([`events`]).
//!
//! Invariants:
//! - every secret handed out (device code, authorization code, access and refresh tokens) is 32
//!   bytes from the operating system's CSPRNG, base64url; only its SHA-256 is a store key, and
//!   it travels as a [`SecretString`] (redacted `Debug`);
//! - all state lives in the browser state store ([`BrowserKv`]: in-process, or sealed in Redis),
//!   under keys that start with `oauth:`; single-use state is consumed with `take`, so on any
//!   number of replicas a code is approved at most once and exchanged at most once;
//! - every time decision reads the injected [`crate::clock::Clock`];
//! - a CLI session never outlives the IdP session (`SessionNotOnOrAfter`) nor the configured
//!   lifetime, and a subject revoked by an administrator loses every CLI session signed in before
//!   the revocation ([`Oauth::revoke_subject`]).

pub mod code;
pub mod device;
pub mod events;
pub mod forms;
pub mod pages;
pub mod session;
#[cfg(test)]
mod tests;
pub mod user_code;

pub use code::{AuthorizeError, AuthorizeRequest, LoopbackRedirect, ValidAuthorize};
pub use device::{DeviceAuthorization, DeviceDecision, LookupError, PendingDevice};
pub use events::{EventKind, Grant, OauthEvent};
pub use forms::{bearer, CliSessionInvalid};
pub use session::{browser_signed_in_at, CliSession, TokenSet};

use crate::cache::CacheError;
use crate::clock::SharedClock;
use crate::config::LimitsConfig;
use crate::error::{ApiError, ErrorKind};
use crate::limits::RateLimits;
use crate::sign_in::BrowserKv;
use base64::Engine;
use chrono::TimeDelta;
pub use secrecy::SecretString;
use std::sync::Arc;

/// The one client this authorization server knows: the broker's own command line.
pub const CLIENT_ID: &str = "fedbroker-cli";
/// `grant_type` of a device-code poll (RFC 8628 §3.4).
pub const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// Lifetimes and bounds of the authorization server (defaults: [`OauthSettings::default`]).
#[derive(Clone, Debug)]
pub struct OauthSettings {
    /// The longest a CLI session lasts from sign-in (default 12 h), never beyond the IdP session.
    pub cli_session_ttl: TimeDelta,
    /// How long one access token is accepted (default 1 h, never beyond its session).
    pub access_token_ttl: TimeDelta,
    /// User-code lookups allowed per client address and per signed-in subject per minute (a
    /// burst of this many, then one every `60 / n` s): the bound on user-code guesses.
    pub user_code_guesses_per_minute: u32,
}

impl Default for OauthSettings {
    fn default() -> Self {
        Self {
            cli_session_ttl: TimeDelta::hours(12),
            access_token_ttl: TimeDelta::hours(1),
            user_code_guesses_per_minute: 10,
        }
    }
}

/// The longest CLI session any configuration may ask for; a subject's revocation marker is kept
/// this long, so it outlives every session it must refuse.
pub const MAX_CLI_SESSION_TTL: TimeDelta = TimeDelta::days(7);

/// The authorization server's state and rules: one per application, shared by every handler.
#[derive(Debug)]
pub struct Oauth {
    pub(crate) clock: SharedClock,
    pub(crate) kv: Arc<dyn BrowserKv>,
    pub(crate) settings: OauthSettings,
    /// Bounds user-code lookups per client address ("client") and per subject ("subject").
    pub(crate) guesses: RateLimits,
}

impl Oauth {
    /// Over the browser state store `kv` (the same one browser sessions use).
    pub fn new(clock: SharedClock, kv: Arc<dyn BrowserKv>, settings: OauthSettings) -> Self {
        let n = settings.user_code_guesses_per_minute;
        let guesses = RateLimits::from_config(&LimitsConfig {
            per_client_per_minute: n,
            per_subject_per_minute: n,
        });
        let settings = OauthSettings {
            cli_session_ttl: settings.cli_session_ttl.min(MAX_CLI_SESSION_TTL),
            ..settings
        };
        Self {
            clock,
            kv,
            settings,
            guesses,
        }
    }

    pub fn settings(&self) -> &OauthSettings {
        &self.settings
    }

    /// Forget idle guess counters (call with the application's other rate-limit sweeps).
    pub fn sweep(&self) {
        self.guesses.sweep();
    }

    pub(crate) async fn put_json<T: serde::Serialize>(
        &self,
        key: &str,
        value: &T,
        ttl: TimeDelta,
    ) -> Result<(), CacheError> {
        let bytes = zeroize::Zeroizing::new(
            serde_json::to_vec(value).map_err(|e| CacheError::Corrupt(e.to_string()))?,
        );
        self.kv.put(key, &bytes, ttl).await
    }

    pub(crate) async fn put_pending_json<T: serde::Serialize>(
        &self,
        client: &str,
        key: &str,
        value: &T,
        ttl: TimeDelta,
    ) -> Result<(), CacheError> {
        let bytes = zeroize::Zeroizing::new(
            serde_json::to_vec(value).map_err(|e| CacheError::Corrupt(e.to_string()))?,
        );
        self.kv.put_pending(client, key, &bytes, ttl).await
    }

    /// The record under `key` (`None`: absent, expired, or unreadable).
    pub(crate) async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        key: &str,
    ) -> Result<Option<T>, CacheError> {
        Ok(self
            .kv
            .get(key)
            .await?
            .and_then(|b| serde_json::from_slice(&b).ok()))
    }

    /// Remove and return the record under `key` (single use across replicas).
    pub(crate) async fn take_json<T: serde::de::DeserializeOwned>(
        &self,
        key: &str,
    ) -> Result<Option<T>, CacheError> {
        Ok(self
            .kv
            .take(key)
            .await?
            .and_then(|b| serde_json::from_slice(&b).ok()))
    }
}

/// A new secret: 32 bytes from the CSPRNG, base64url without padding (43 characters).
pub fn new_secret() -> SecretString {
    let mut bytes = zeroize::Zeroizing::new([0u8; 32]);
    // The operating system's generator does not fail once the process runs; if it ever did,
    // continuing with a predictable token would be worse than stopping.
    aws_lc_rs::rand::fill(bytes.as_mut()).expect("the system CSPRNG failed");
    SecretString::from(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes.as_ref()))
}

/// The store key of a secret: `<space>:` + SHA-256 hex of it.
pub(crate) fn secret_key(space: &str, secret: &str) -> String {
    format!("oauth:{space}:{}", crate::sign_in::token_hash(secret))
}

/// Whether `client_id` is the broker's CLI.
pub(crate) fn check_client(client_id: Option<&str>) -> Result<(), TokenError> {
    match client_id {
        Some(CLIENT_ID) => Ok(()),
        _ => Err(TokenError::InvalidClient),
    }
}

/// Why `POST /oauth/token` (or `/oauth/device_authorization`) refused; [`Self::error`] is the
/// RFC 6749 §5.2 / RFC 8628 §3.5 `error` value.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("{0}")]
    InvalidRequest(&'static str),
    #[error("unknown client_id (this server knows only fedbroker-cli)")]
    InvalidClient,
    #[error("{0}")]
    InvalidGrant(&'static str),
    #[error("the person has not approved or denied the request yet")]
    AuthorizationPending,
    /// Polled faster than the interval, which is now `interval` seconds.
    #[error("polling too fast: wait {interval} s between requests")]
    SlowDown { interval: i64 },
    #[error("the person denied the request")]
    AccessDenied,
    #[error("the device code expired: start again")]
    ExpiredToken,
    #[error("unsupported grant_type")]
    UnsupportedGrantType,
    /// An authorization code came back after its exchange: `invalid_grant`, and the session it
    /// had produced was ended (audit the event).
    #[error("the authorization code was already used; its session was ended")]
    CodeReplayed(Box<OauthEvent>),
    /// The state store failed (503).
    #[error("the session store is unavailable: {0}")]
    Store(#[from] CacheError),
}

impl TokenError {
    /// The OAuth `error` value.
    pub fn error(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant(_) | Self::CodeReplayed(_) => "invalid_grant",
            Self::AuthorizationPending => "authorization_pending",
            Self::SlowDown { .. } => "slow_down",
            Self::AccessDenied => "access_denied",
            Self::ExpiredToken => "expired_token",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::Store(_) => "temporarily_unavailable",
        }
    }

    /// The answer's status: 400 for every OAuth error (401 for an unknown client, RFC 6749
    /// §5.2), 503 when the store failed.
    pub fn status(&self) -> u16 {
        match self {
            Self::InvalidClient => 401,
            Self::Store(_) => 503,
            _ => 400,
        }
    }
}

impl ApiError for TokenError {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::InvalidClient => ErrorKind::Unauthenticated,
            Self::Store(_) => ErrorKind::Unavailable,
            _ => ErrorKind::BadRequest,
        }
    }
    fn code(&self) -> &'static str {
        self.error()
    }
}
