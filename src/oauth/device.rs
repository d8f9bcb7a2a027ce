//! The device authorization grant (RFC 8628): a CLI without a browser gets a device code and a
//! user code; a person signed in at the broker in any browser enters or follows the user code,
//! sees who asked (address, time) and approves or denies; the CLI polls until then.
//!
//! Records (all under `oauth:`, keyed by SHA-256 of the code):
//! - `dev:<H(device_code)>`: the request (requesting address, times); written once, by the
//!   authorization, and removed by the poll that ends the grant (success or denial), so every
//!   later poll is `invalid_grant`;
//! - `uc:<H(user_code)>`: the pointer from the user code to the device code's hash; `take`n by
//!   the approval or denial, so a code is decided at most once, whatever the replicas;
//! - `devok:<H(device_code)>`: the decision (approved with the identity, or denied); written
//!   only by the decision and `take`n only by a poll, so it is handed out at most once;
//! - `devpoll:<H(device_code)>`: the last poll and the current interval; written only by polls,
//!   so a poll never overwrites a decision and a decision is never lost to a poll.
//!
//! The request and the user code are held as pending state ([`BrowserKv::put_pending`], bounded
//! per client address and overall, the oldest evicted), so unauthenticated device
//! authorizations never crowd out sessions.
//!
//! Invariants: the device code expires [`DEVICE_CODE_TTL`] after issue (`expired_token` for
//! [`EXPIRED_GRACE`] more, then `invalid_grant`); polls closer together than the interval (less
//! [`POLL_SLACK`]) are `slow_down` and add 5 s to the interval for every later poll (RFC 8628
//! §3.5); user-code lookups are bounded per client address and per subject
//! ([`super::OauthSettings::user_code_guesses_per_minute`]).
//!
//! [`BrowserKv::put_pending`]: crate::sign_in::BrowserKv::put_pending

use super::events::{EventKind, Grant, OauthEvent};
use super::session::{SignIn, TokenSet};
use super::{check_client, new_secret, secret_key, user_code, Oauth, TokenError};
use crate::cache::CacheError;
use crate::identity::{StoredIdentity, VerifiedIdentity};
use crate::limits::RateLimited;
use chrono::{DateTime, TimeDelta, Utc};
use secrecy::{ExposeSecret, SecretString};

/// How long a device code and its user code are valid (RFC 8628 §6.1: short).
pub const DEVICE_CODE_TTL: TimeDelta = TimeDelta::minutes(10);
/// How long after expiry a poll is still told `expired_token` (then `invalid_grant`).
pub const EXPIRED_GRACE: TimeDelta = TimeDelta::minutes(10);
/// The polling interval handed out, in seconds.
pub const INTERVAL_SECONDS: i64 = 5;
/// What `slow_down` adds to the interval, in seconds (RFC 8628 §3.5).
pub const SLOW_DOWN_SECONDS: i64 = 5;
/// Tolerance for network and scheduling jitter in the poll interval check.
pub const POLL_SLACK: TimeDelta = TimeDelta::seconds(1);

/// A new device authorization: the answer of `POST /oauth/device_authorization`.
#[derive(Debug)]
pub struct DeviceAuthorization {
    pub device_code: SecretString,
    /// `XXXX-XXXX`.
    pub user_code: String,
    pub expires_in: i64,
    pub interval: i64,
    pub expires_at: DateTime<Utc>,
    pub event: OauthEvent,
}

impl DeviceAuthorization {
    /// `verification_uri`: `<public_url>/device`.
    pub fn verification_uri(public_url: &str) -> String {
        format!("{}/device", public_url.trim_end_matches('/'))
    }

    /// `verification_uri_complete`: `<public_url>/device?user_code=XXXX-XXXX`.
    pub fn verification_uri_complete(&self, public_url: &str) -> String {
        format!(
            "{}?user_code={}",
            Self::verification_uri(public_url),
            self.user_code
        )
    }
}

/// A device request waiting for a decision, as the approval page shows it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PendingDevice {
    /// `XXXX-XXXX`.
    pub user_code: String,
    pub client_id: String,
    /// The address that asked for the device code.
    pub requester_ip: String,
    pub requested_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// What the person decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceDecision {
    Approve,
    Deny,
}

/// Why a user code was not found or not accepted on the approval page.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    /// Too many lookups from this address or subject (429 with `Retry-After`).
    #[error(transparent)]
    TooManyGuesses(#[from] RateLimited),
    /// No such code, expired, or already decided (the page says so without telling which).
    #[error("no pending sign-in has this code; check it, or start again on the device")]
    Unknown,
    #[error("the session store is unavailable: {0}")]
    Store(#[from] CacheError),
}

#[derive(serde::Serialize, serde::Deserialize)]
struct DeviceRecord {
    requester_ip: String,
    requested_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct UserCodeRecord {
    device_key: String,
    pending: PendingDevice,
}

#[derive(serde::Serialize, serde::Deserialize)]
enum Decision {
    Approved {
        identity: Box<StoredIdentity>,
        signed_in_at: DateTime<Utc>,
    },
    Denied,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct PollRecord {
    last: DateTime<Utc>,
    interval: i64,
}

fn device_key(hash_of_code: &str) -> String {
    format!("oauth:dev:{hash_of_code}")
}
fn decision_key(hash_of_code: &str) -> String {
    format!("oauth:devok:{hash_of_code}")
}
fn poll_key(hash_of_code: &str) -> String {
    format!("oauth:devpoll:{hash_of_code}")
}
fn user_code_key(normalised: &str) -> String {
    secret_key("uc", normalised)
}

impl Oauth {
    /// `POST /oauth/device_authorization` from `client_ip`.
    pub async fn device_authorize(
        &self,
        client_id: Option<&str>,
        client_ip: &str,
    ) -> Result<DeviceAuthorization, TokenError> {
        check_client(client_id)?;
        let now = self.clock.now();
        let expires_at = now + DEVICE_CODE_TTL;
        let device_code = new_secret();
        let hash = crate::sign_in::token_hash(device_code.expose_secret());
        // A live user code is never reused (a clash among 20^8 codes is rare; try again).
        let mut code = user_code::generate();
        for _ in 0..4 {
            if self.kv.get(&user_code_key(&code)).await?.is_none() {
                break;
            }
            code = user_code::generate();
        }
        let pending = PendingDevice {
            user_code: user_code::display(&code),
            client_id: super::CLIENT_ID.to_owned(),
            requester_ip: client_ip.to_owned(),
            requested_at: now,
            expires_at,
        };
        let record = DeviceRecord {
            requester_ip: client_ip.to_owned(),
            requested_at: now,
            expires_at,
        };
        self.put_pending_json(
            client_ip,
            &device_key(&hash),
            &record,
            DEVICE_CODE_TTL + EXPIRED_GRACE,
        )
        .await?;
        let pointer = UserCodeRecord {
            device_key: hash,
            pending: pending.clone(),
        };
        self.put_pending_json(client_ip, &user_code_key(&code), &pointer, DEVICE_CODE_TTL)
            .await?;
        let mut event = OauthEvent::new(EventKind::DeviceAuthorized, now).grant(Grant::DeviceCode);
        event.requester_ip = Some(client_ip.to_owned());
        Ok(DeviceAuthorization {
            device_code,
            user_code: pending.user_code,
            expires_in: DEVICE_CODE_TTL.num_seconds(),
            interval: INTERVAL_SECONDS,
            expires_at,
            event,
        })
    }

    /// Count one user-code guess from `client_ip` (and `subject_hash`, when signed in).
    fn guess(&self, client_ip: &str, subject_hash: Option<&str>) -> Result<(), RateLimited> {
        self.guesses.check_client(client_ip)?;
        if let Some(s) = subject_hash {
            self.guesses.check_subject(s)?;
        }
        Ok(())
    }

    /// The pending request a user code names, for the approval page (`GET /device`). Every call
    /// counts as a guess for `client_ip` and the signed-in person's `subject_hash`.
    pub async fn device_lookup(
        &self,
        input: &str,
        client_ip: &str,
        subject_hash: Option<&str>,
    ) -> Result<PendingDevice, LookupError> {
        self.guess(client_ip, subject_hash)?;
        let code = user_code::normalise(input).ok_or(LookupError::Unknown)?;
        let record: UserCodeRecord = self
            .get_json(&user_code_key(&code))
            .await?
            .ok_or(LookupError::Unknown)?;
        if record.pending.expires_at <= self.clock.now() {
            return Err(LookupError::Unknown);
        }
        Ok(record.pending)
    }

    /// The signed-in person's explicit decision (`POST /device`, CSRF-checked by the handler)
    /// on the request `input` names. At most one decision per code, across replicas: the user
    /// code is consumed. `signed_in_at`: when `identity` signed in at the broker (see
    /// [`super::session::browser_signed_in_at`]). Counts as a guess like a lookup.
    pub async fn device_decide(
        &self,
        input: &str,
        decision: DeviceDecision,
        identity: &VerifiedIdentity,
        signed_in_at: DateTime<Utc>,
        approver_ip: &str,
    ) -> Result<(PendingDevice, OauthEvent), LookupError> {
        self.guess(approver_ip, Some(&identity.subject_hash()))?;
        let code = user_code::normalise(input).ok_or(LookupError::Unknown)?;
        let record: UserCodeRecord = self
            .take_json(&user_code_key(&code))
            .await?
            .ok_or(LookupError::Unknown)?;
        let now = self.clock.now();
        if record.pending.expires_at <= now {
            return Err(LookupError::Unknown);
        }
        let (stored, kind) = match decision {
            DeviceDecision::Approve => (
                Decision::Approved {
                    identity: Box::new(StoredIdentity::from(identity)),
                    signed_in_at,
                },
                EventKind::DeviceApproved,
            ),
            DeviceDecision::Deny => (Decision::Denied, EventKind::DeviceDenied),
        };
        let ttl = record.pending.expires_at - now + EXPIRED_GRACE;
        if let Err(e) = self
            .put_json(&decision_key(&record.device_key), &stored, ttl)
            .await
        {
            // Give the code back so the person can try again once the store answers.
            let _ = self
                .put_pending_json(
                    &record.pending.requester_ip,
                    &user_code_key(&code),
                    &record,
                    record.pending.expires_at - now,
                )
                .await;
            return Err(e.into());
        }
        let mut event = OauthEvent::new(kind, now)
            .grant(Grant::DeviceCode)
            .identity(identity);
        event.requester_ip = Some(record.pending.requester_ip.clone());
        event.approver_ip = Some(approver_ip.to_owned());
        Ok((record.pending, event))
    }

    /// `POST /oauth/token` with the device-code grant: the RFC 8628 §3.5 answers, and on the
    /// first poll after an approval a new CLI session (exactly once).
    pub async fn device_poll(
        &self,
        device_code: Option<&str>,
        client_id: Option<&str>,
    ) -> Result<TokenSet, TokenError> {
        check_client(client_id)?;
        let device_code = device_code
            .filter(|c| !c.is_empty())
            .ok_or(TokenError::InvalidRequest("device_code is required"))?;
        let hash = crate::sign_in::token_hash(device_code);
        let record: DeviceRecord =
            self.get_json(&device_key(&hash))
                .await?
                .ok_or(TokenError::InvalidGrant(
                    "unknown or already used device code",
                ))?;
        let now = self.clock.now();
        if record.expires_at + EXPIRED_GRACE <= now {
            return Err(TokenError::InvalidGrant(
                "unknown or already used device code",
            ));
        }
        if record.expires_at <= now {
            return Err(TokenError::ExpiredToken);
        }
        match self.take_json::<Decision>(&decision_key(&hash)).await? {
            Some(Decision::Approved {
                identity,
                signed_in_at,
            }) => {
                let identity = VerifiedIdentity::from(*identity);
                let sign_in = SignIn {
                    identity: &identity,
                    signed_in_at,
                    grant: Grant::DeviceCode,
                };
                match self.create_session(sign_in).await {
                    Ok((tokens, _)) => {
                        self.kv.remove(&device_key(&hash)).await?;
                        self.kv.remove(&poll_key(&hash)).await?;
                        Ok(tokens)
                    }
                    Err(e) => {
                        // Keep the approval for the next poll when the store failed.
                        if matches!(e, TokenError::Store(_)) {
                            let back = Decision::Approved {
                                identity: Box::new(StoredIdentity::from(&identity)),
                                signed_in_at,
                            };
                            let _ = self
                                .put_json(&decision_key(&hash), &back, record.expires_at - now)
                                .await;
                        } else {
                            self.kv.remove(&device_key(&hash)).await?;
                        }
                        Err(e)
                    }
                }
            }
            Some(Decision::Denied) => {
                self.kv.remove(&device_key(&hash)).await?;
                self.kv.remove(&poll_key(&hash)).await?;
                Err(TokenError::AccessDenied)
            }
            None => self.pace(&hash, &record, now).await,
        }
    }

    /// No decision yet: `slow_down` when polled faster than the interval, else
    /// `authorization_pending`; records this poll either way.
    async fn pace(
        &self,
        hash: &str,
        record: &DeviceRecord,
        now: DateTime<Utc>,
    ) -> Result<TokenSet, TokenError> {
        let last: Option<PollRecord> = self.get_json(&poll_key(hash)).await?;
        let mut interval = last.as_ref().map_or(INTERVAL_SECONDS, |p| p.interval);
        let too_fast = last
            .as_ref()
            .is_some_and(|p| now - p.last < TimeDelta::seconds(p.interval) - POLL_SLACK);
        if too_fast {
            interval += SLOW_DOWN_SECONDS;
        }
        let ttl = record.expires_at - now + EXPIRED_GRACE;
        self.put_pending_json(
            &record.requester_ip,
            &poll_key(hash),
            &PollRecord {
                last: now,
                interval,
            },
            ttl,
        )
        .await?;
        if too_fast {
            Err(TokenError::SlowDown { interval })
        } else {
            Err(TokenError::AuthorizationPending)
        }
    }
}
