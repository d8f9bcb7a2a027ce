//! CLI sessions: what the tokens of `fedbroker login` stand for. A session holds the verified
//! identity, like a browser session ([`crate::sign_in::session`]), server-side in the browser state
//! store (sealed in Redis); the CLI holds an access token (short-lived) and a refresh token (as
//! long as the session), both opaque, of which the store keeps only SHA-256 hashes.
//!
//! Records (under `oauth:`): `sess:<id>` the session (identity, sign-in time, hard end);
//! `at:<H(access)>` and `rt:<H(refresh)>` each naming their session. Ending the session
//! (logout, revocation, expiry) makes both tokens worthless at once.
//!
//! Invariants:
//! - a session ends at the earlier of sign-in + [`super::OauthSettings::cli_session_ttl`] and the
//!   IdP session's end (SAML `SessionNotOnOrAfter`); no token outlives it, and an identity whose
//!   IdP session already ended gets none;
//! - the refresh token does not rotate (parallel `credential_process` runs may refresh at once;
//!   none of them must lose the session), it only ever yields access tokens within the bound;
//! - a subject revoked by an administrator ([`Oauth::revoke_subject`]) cannot use or refresh a
//!   session signed in at or before the revocation, on any replica: the marker
//!   `rev:<revocation label>` (the credential cache's subject label, any issuer) holds the
//!   revocation time for [`super::MAX_CLI_SESSION_TTL`], longer than any session.

use super::events::{EventKind, Grant, OauthEvent};
use super::{check_client, new_secret, secret_key, Oauth, TokenError};
use crate::cache::{CacheError, Label};
use crate::identity::{StoredIdentity, VerifiedIdentity};
use crate::sign_in::BrowserSession;
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;

/// A token answer (RFC 6749 §5.1; `session_expires_at` is the CLI session's hard end).
#[derive(Debug)]
pub struct TokenSet {
    pub access_token: SecretString,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds the access token is accepted.
    pub expires_in: i64,
    pub refresh_token: SecretString,
    pub session_expires_at: DateTime<Utc>,
    /// What to audit (token issued, or refreshed).
    pub event: OauthEvent,
}

impl TokenSet {
    /// The JSON answer (serve with `Cache-Control: no-store`).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "access_token": self.access_token.expose_secret(),
            "token_type": self.token_type,
            "expires_in": self.expires_in,
            "refresh_token": self.refresh_token.expose_secret(),
            "session_expires_at": self
                .session_expires_at
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        })
    }
}

/// A live CLI session, as a bearer token proves it.
#[derive(Clone, Debug)]
pub struct CliSession {
    pub identity: Arc<VerifiedIdentity>,
    /// When the identity signed in at the broker.
    pub signed_in_at: DateTime<Utc>,
    /// The session's hard end.
    pub expires_at: DateTime<Utc>,
    pub grant: Grant,
}

/// An identity about to get a CLI session.
pub(crate) struct SignIn<'a> {
    pub identity: &'a VerifiedIdentity,
    pub signed_in_at: DateTime<Utc>,
    pub grant: Grant,
}

/// When a browser session's person signed in at the broker (its start: sessions last
/// [`crate::sign_in::SESSION_TTL`]); what the approval and authorize handlers pass as
/// `signed_in_at`.
pub fn browser_signed_in_at(session: &BrowserSession) -> DateTime<Utc> {
    session.expires_at - crate::sign_in::SESSION_TTL
}

#[derive(serde::Serialize, serde::Deserialize)]
struct SessionRecord {
    identity: StoredIdentity,
    signed_in_at: DateTime<Utc>,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    grant: Grant,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct TokenRecord {
    session: String,
    expires_at: DateTime<Utc>,
}

fn session_key(id: &str) -> String {
    format!("oauth:sess:{id}")
}
fn access_key(token: &str) -> String {
    secret_key("at", token)
}
fn refresh_key(token: &str) -> String {
    secret_key("rt", token)
}
fn revocation_key(subject: &str) -> String {
    format!("oauth:rev:{}", Label::subject(subject))
}

impl Oauth {
    /// The hard end of a session for `identity` signed in at `signed_in_at`.
    fn session_end(
        &self,
        identity: &VerifiedIdentity,
        signed_in_at: DateTime<Utc>,
    ) -> DateTime<Utc> {
        let by_config = signed_in_at + self.settings.cli_session_ttl;
        match identity.aws().session_not_on_or_after {
            Some(idp_end) => by_config.min(idp_end),
            None => by_config,
        }
    }

    /// Whether an administrator revoked `subject` at or after `signed_in_at`.
    async fn revoked_since(
        &self,
        subject: &str,
        signed_in_at: DateTime<Utc>,
    ) -> Result<bool, CacheError> {
        let at: Option<DateTime<Utc>> = self.get_json(&revocation_key(subject)).await?;
        Ok(at.is_some_and(|at| signed_in_at <= at))
    }

    /// A new CLI session and its first tokens, and the session's id.
    pub(crate) async fn create_session(
        &self,
        s: SignIn<'_>,
    ) -> Result<(TokenSet, String), TokenError> {
        let now = self.clock.now();
        let expires_at = self.session_end(s.identity, s.signed_in_at);
        if expires_at <= now {
            return Err(TokenError::InvalidGrant(
                "the sign-in session has ended: sign in again",
            ));
        }
        if self
            .revoked_since(s.identity.subject(), s.signed_in_at)
            .await?
        {
            return Err(TokenError::InvalidGrant(
                "the sign-in was revoked: sign in again",
            ));
        }
        let id = crate::sign_in::token_hash(new_secret().expose_secret());
        let record = SessionRecord {
            identity: StoredIdentity::from(s.identity),
            signed_in_at: s.signed_in_at,
            created_at: now,
            expires_at,
            grant: s.grant,
        };
        self.put_json(&session_key(&id), &record, expires_at - now)
            .await?;
        let refresh_token = new_secret();
        self.put_json(
            &refresh_key(refresh_token.expose_secret()),
            &TokenRecord {
                session: id.clone(),
                expires_at,
            },
            expires_at - now,
        )
        .await?;
        let (access_token, expires_in) = self.new_access_token(&id, expires_at, now).await?;
        let mut event = OauthEvent::new(EventKind::TokenIssued, now)
            .grant(s.grant)
            .identity(s.identity);
        event.session_expires_at = Some(expires_at);
        let tokens = TokenSet {
            access_token,
            token_type: "Bearer",
            expires_in,
            refresh_token,
            session_expires_at: expires_at,
            event,
        };
        Ok((tokens, id))
    }

    async fn new_access_token(
        &self,
        session: &str,
        session_end: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(SecretString, i64), CacheError> {
        let token = new_secret();
        let until = (now + self.settings.access_token_ttl).min(session_end);
        self.put_json(
            &access_key(token.expose_secret()),
            &TokenRecord {
                session: session.to_owned(),
                expires_at: until,
            },
            until - now,
        )
        .await?;
        Ok((token, (until - now).num_seconds()))
    }

    /// The live session `session_id` names, checked against its end and revocations; an ended
    /// or revoked one is removed.
    async fn live_session(
        &self,
        session_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<CliSession>, CacheError> {
        let Some(record) = self
            .get_json::<SessionRecord>(&session_key(session_id))
            .await?
        else {
            return Ok(None);
        };
        let identity = VerifiedIdentity::from(record.identity);
        if record.expires_at <= now
            || self
                .revoked_since(identity.subject(), record.signed_in_at)
                .await?
        {
            self.kv.remove(&session_key(session_id)).await?;
            return Ok(None);
        }
        Ok(Some(CliSession {
            identity: Arc::new(identity),
            signed_in_at: record.signed_in_at,
            expires_at: record.expires_at,
            grant: record.grant,
        }))
    }

    /// The session a bearer access token stands for (`Ok(None)`: unknown, expired, logged out or
    /// revoked: 401 `cli_session_invalid`).
    pub async fn authenticate(&self, access_token: &str) -> Result<Option<CliSession>, CacheError> {
        let now = self.clock.now();
        let Some(t) = self
            .get_json::<TokenRecord>(&access_key(access_token))
            .await?
        else {
            return Ok(None);
        };
        if t.expires_at <= now {
            return Ok(None);
        }
        self.live_session(&t.session, now).await
    }

    /// `POST /oauth/token` with `grant_type=refresh_token`: a new access token within the
    /// session's bound (the refresh token is handed back unchanged).
    pub async fn refresh(
        &self,
        refresh_token: Option<&str>,
        client_id: Option<&str>,
    ) -> Result<TokenSet, TokenError> {
        check_client(client_id)?;
        let refresh_token = refresh_token
            .filter(|t| !t.is_empty())
            .ok_or(TokenError::InvalidRequest("refresh_token is required"))?;
        let now = self.clock.now();
        let ended = TokenError::InvalidGrant("the CLI session has ended: run fedbroker login");
        let Some(t) = self
            .get_json::<TokenRecord>(&refresh_key(refresh_token))
            .await?
        else {
            return Err(ended);
        };
        if t.expires_at <= now {
            return Err(ended);
        }
        let Some(session) = self.live_session(&t.session, now).await? else {
            self.kv.remove(&refresh_key(refresh_token)).await?;
            return Err(ended);
        };
        let (access_token, expires_in) = self
            .new_access_token(&t.session, session.expires_at, now)
            .await?;
        let mut event = OauthEvent::new(EventKind::TokenRefreshed, now)
            .grant(session.grant)
            .identity(&session.identity);
        event.session_expires_at = Some(session.expires_at);
        Ok(TokenSet {
            access_token,
            token_type: "Bearer",
            expires_in,
            refresh_token: SecretString::from(refresh_token.to_owned()),
            session_expires_at: session.expires_at,
            event,
        })
    }

    /// `POST /oauth/revoke` (RFC 7009): `token` (access or refresh) ends its CLI session. Always
    /// succeeds for an unknown token (answer 200); `Some(event)` when a session was ended.
    pub async fn logout(&self, token: &str) -> Result<Option<OauthEvent>, CacheError> {
        let now = self.clock.now();
        let mut found = None;
        for key in [access_key(token), refresh_key(token)] {
            if let Some(t) = self.take_json::<TokenRecord>(&key).await? {
                found = Some(t.session);
                break;
            }
        }
        let Some(id) = found else { return Ok(None) };
        let record = self.take_json::<SessionRecord>(&session_key(&id)).await?;
        Ok(record.map(|r| {
            let identity = VerifiedIdentity::from(r.identity);
            let mut event = OauthEvent::new(EventKind::LoggedOut, now)
                .grant(r.grant)
                .identity(&identity);
            event.session_expires_at = Some(r.expires_at);
            event
        }))
    }

    /// End every CLI session of `subject` (as issued: NameID or `sub`; any issuer, like the
    /// credential cache's revocation label) signed in until now, on every replica sharing the
    /// store. The admin revocation handler calls this next to `Exchange::revoke`.
    pub async fn revoke_subject(&self, subject: &str) -> Result<(), CacheError> {
        let now = self.clock.now();
        self.put_json(&revocation_key(subject), &now, super::MAX_CLI_SESSION_TTL)
            .await
    }

    /// End the session an authorization code produced (the code was presented twice); the
    /// identity it held, if it was still there.
    pub(crate) async fn end_session(
        &self,
        session_id: &str,
    ) -> Result<Option<VerifiedIdentity>, CacheError> {
        Ok(self
            .take_json::<SessionRecord>(&session_key(session_id))
            .await?
            .map(|r| VerifiedIdentity::from(r.identity)))
    }
}
