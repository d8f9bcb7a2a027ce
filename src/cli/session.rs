//! The stored CLI session of one broker: saving a token answer, handing out a valid access token
//! (refreshed quietly with the refresh token when it is about to end), and forgetting a session
//! the broker no longer accepts.
//!
//! Invariants: an access token is used only until [`ACCESS_SKEW`] before its end, then refreshed;
//! nothing is refreshed past the session's hard end (`session_expires_at`); a 401 on a bearer call
//! triggers one refresh and one retry, no more; when the broker refuses the session (401
//! `cli_session_invalid` after the retry, or `invalid_grant` on refresh) the local entry and the
//! broker's cached credentials are deleted and the caller gets [`SessionError::Ended`], shown as
//! one line telling the person to run `fedbroker login --broker URL` (unless another process
//! rotated the refresh token meanwhile, see [`refresh`]).

use crate::cli::broker_client::{BrokerClient, BrokerUrl, ClientError, TokenAnswer};
use crate::cli::credentials::CredentialCache;
use crate::cli::state::{read_json, write_json, Env, Sessions, StoredSession, Token};
use crate::clock::Clock;
use chrono::{DateTime, Duration, Utc};
use std::future::Future;

/// An access token is refreshed this long before its end (clock skew, request time).
pub const ACCESS_SKEW: Duration = Duration::seconds(60);
/// How many times, and how far apart, the session file is read again after a refused refresh.
pub const ROTATION_CHECKS: u32 = 3;
pub const ROTATION_WAIT: std::time::Duration = std::time::Duration::from_millis(250);
/// Access token lifetime assumed when the token answer names none.
const DEFAULT_ACCESS_LIFETIME: Duration = Duration::seconds(300);

/// Why no call could be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionError {
    /// No session, or the broker ended it: sign in again.
    Ended,
    /// Anything else, as a sentence.
    Other(String),
}

impl SessionError {
    /// The one line shown to the person.
    pub fn message(&self, broker: &BrokerUrl) -> String {
        match self {
            Self::Ended => ended_message(broker),
            Self::Other(s) => s.clone(),
        }
    }
}

impl From<String> for SessionError {
    fn from(s: String) -> Self {
        Self::Other(s)
    }
}

/// "No session": the one line that tells the person what to run.
pub fn ended_message(broker: &BrokerUrl) -> String {
    format!("not signed in to {broker} (no session, or it has ended): run `fedbroker login --broker {broker}`")
}

/// The session to store from a token answer received at `now`.
pub fn from_answer(
    answer: TokenAnswer,
    now: DateTime<Utc>,
    previous: Option<&StoredSession>,
) -> StoredSession {
    let access_expires_at = now
        + answer
            .expires_in
            .map_or(DEFAULT_ACCESS_LIFETIME, Duration::seconds);
    let session_expires_at = answer
        .session_expires_at
        .or(previous.map(|p| p.session_expires_at))
        .unwrap_or(access_expires_at);
    StoredSession {
        access_token: answer.access_token,
        access_expires_at: access_expires_at.min(session_expires_at),
        // The refresh token may rotate; when the answer carries none, the old one still holds.
        refresh_token: answer
            .refresh_token
            .or_else(|| previous.and_then(|p| p.refresh_token.clone())),
        session_expires_at,
        subject: previous.and_then(|p| p.subject.clone()),
    }
}

pub fn load(env: &Env, broker: &BrokerUrl) -> Result<Option<StoredSession>, String> {
    Ok(read_json::<Sessions>(&env.sessions_file())?
        .brokers
        .remove(broker.key()))
}

pub fn save(env: &Env, broker: &BrokerUrl, session: StoredSession) -> Result<(), String> {
    let path = env.sessions_file();
    let mut all: Sessions = read_json(&path)?;
    all.brokers.insert(broker.key().to_string(), session);
    write_json(&path, &all)
}

/// Delete the broker's session and its cached credentials.
pub fn forget(env: &Env, broker: &BrokerUrl) -> Result<(), String> {
    let path = env.sessions_file();
    let mut all: Sessions = read_json(&path)?;
    if all.brokers.remove(broker.key()).is_some() {
        write_json(&path, &all)?;
    }
    CredentialCache::forget_broker(env, broker)
}

/// A valid access token for `broker`, refreshing it first when it is about to end (or `force`).
pub async fn access_token(
    env: &Env,
    client: &BrokerClient,
    clock: &dyn Clock,
    force: bool,
) -> Result<Token, SessionError> {
    let broker = client.broker();
    let Some(session) = load(env, broker)? else {
        return Err(SessionError::Ended);
    };
    let now = clock.now();
    if now >= session.session_expires_at {
        forget(env, broker)?;
        return Err(SessionError::Ended);
    }
    if !force && now < session.access_expires_at - ACCESS_SKEW {
        return Ok(session.access_token);
    }
    refresh(env, client, clock, session).await
}

/// Refresh `session` (as read from the file) and store the answer. When the broker refuses the
/// refresh token, another `fedbroker` process (a parallel `aws` call) may have rotated it a moment
/// ago: the file is read again, [`ROTATION_CHECKS`] times [`ROTATION_WAIT`] apart, and a newer
/// session found there is used instead of ending this one.
pub async fn refresh(
    env: &Env,
    client: &BrokerClient,
    clock: &dyn Clock,
    session: StoredSession,
) -> Result<Token, SessionError> {
    let broker = client.broker();
    let Some(refresh) = session.refresh_token.clone() else {
        forget(env, broker)?;
        return Err(SessionError::Ended);
    };
    match client.refresh(&refresh).await {
        Ok(answer) => {
            let fresh = from_answer(answer, clock.now(), Some(&session));
            let token = fresh.access_token.clone();
            save(env, broker, fresh)?;
            Ok(token)
        }
        Err(e) if e.oauth_code() == Some("invalid_grant") || e == ClientError::SessionInvalid => {
            for attempt in 0..ROTATION_CHECKS {
                if attempt > 0 {
                    tokio::time::sleep(ROTATION_WAIT).await;
                }
                if let Some(stored) = load(env, broker)? {
                    if stored.refresh_token != session.refresh_token
                        || stored.access_token != session.access_token
                    {
                        return Ok(stored.access_token);
                    }
                }
            }
            forget(env, broker)?;
            Err(SessionError::Ended)
        }
        Err(e) => Err(SessionError::Other(format!(
            "cannot refresh the session: {e}"
        ))),
    }
}

/// Make a bearer call; on 401 refresh once and retry; a second 401 ends the session.
pub async fn with_token<T, F, Fut>(
    env: &Env,
    client: &BrokerClient,
    clock: &dyn Clock,
    call: F,
) -> Result<T, SessionError>
where
    F: Fn(Token) -> Fut,
    Fut: Future<Output = Result<T, ClientError>>,
{
    let token = access_token(env, client, clock, false).await?;
    match call(token).await {
        Err(ClientError::SessionInvalid) => {}
        Ok(v) => return Ok(v),
        Err(e) => return Err(SessionError::Other(e.to_string())),
    }
    let token = access_token(env, client, clock, true).await?;
    match call(token).await {
        Ok(v) => Ok(v),
        Err(ClientError::SessionInvalid) => {
            forget(env, client.broker())?;
            Err(SessionError::Ended)
        }
        Err(e) => Err(SessionError::Other(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(expires_in: Option<i64>, refresh: Option<&str>) -> TokenAnswer {
        TokenAnswer {
            access_token: Token::new("at"),
            expires_in,
            refresh_token: refresh.map(Token::new),
            session_expires_at: None,
        }
    }

    #[test]
    fn a_token_answer_is_bounded_by_the_session_and_keeps_the_old_refresh_token() {
        let now: DateTime<Utc> = "2030-01-01T00:00:00Z".parse().unwrap();
        let mut a = answer(Some(3600), Some("rt1"));
        a.session_expires_at = Some(now + Duration::minutes(30));
        let s = from_answer(a, now, None);
        assert_eq!(s.access_expires_at, now + Duration::minutes(30));
        assert_eq!(s.refresh_token, Some(Token::new("rt1")));
        let s2 = from_answer(answer(Some(600), None), now, Some(&s));
        assert_eq!(s2.refresh_token, Some(Token::new("rt1")));
        assert_eq!(s2.session_expires_at, now + Duration::minutes(30));
        assert_eq!(s2.access_expires_at, now + Duration::minutes(10));
    }

    #[test]
    fn the_ended_message_is_one_line_naming_the_command() {
        let b = BrokerUrl::parse("https://b.example/").unwrap();
        let m = SessionError::Ended.message(&b);
        assert!(!m.contains('\n'));
        assert!(
            m.contains("run `fedbroker login --broker https://b.example`"),
            "{m}"
        );
    }
}
