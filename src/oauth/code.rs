//! The authorization code grant for the CLI: PKCE (RFC 7636, `S256` only) and a loopback
//! redirect (RFC 8252 §7.3). `GET /oauth/authorize` is validated here
//! ([`Oauth::validate_authorize`]); once the signed-in person approves, [`Oauth::issue_code`]
//! gives the redirect to the CLI's listener; `POST /oauth/token` exchanges the code
//! ([`Oauth::exchange_code`]).
//!
//! Invariants:
//! - the redirect URI is exactly `http://127.0.0.1:<port>/<path>` or `http://[::1]:<port>/<path>`
//!   (explicit port 1–65535; path of unreserved characters and `/`; no user info, query, fragment,
//!   percent-encoding or `localhost`), compared as a string, never normalised;
//! - the challenge method must be `S256` (`plain` and a missing method are refused) and the
//!   challenge 43 base64url characters (a SHA-256); the verifier 43–128 unreserved characters
//!   (RFC 7636 §4.1), compared through its S256 in constant time;
//! - a code is a 32-byte random secret, stored by its hash for [`CODE_TTL`], bound to the
//!   identity, the redirect URI and the challenge, and consumed by the first exchange that
//!   names it (`take`), whatever its outcome; a code presented again ends the session it
//!   produced (RFC 6749 §4.1.2) and is `invalid_grant`;
//! - errors that cannot be trusted to the redirect (client, redirect URI) are shown to the
//!   person, never redirected (RFC 6749 §4.1.2.1).

use super::events::{EventKind, Grant, OauthEvent};
use super::session::SignIn;
use super::{check_client, new_secret, secret_key, Oauth, TokenError, TokenSet};
use crate::cache::CacheError;
use crate::identity::{StoredIdentity, VerifiedIdentity};
use base64::Engine;
use chrono::{DateTime, TimeDelta, Utc};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

/// How long an authorization code is valid.
pub const CODE_TTL: TimeDelta = TimeDelta::seconds(60);
/// How long a used code is remembered, to end its session if it comes back.
pub const USED_CODE_MEMORY: TimeDelta = TimeDelta::minutes(10);
/// Longest accepted `redirect_uri` and `state`.
pub const MAX_PARAM_LEN: usize = 512;

/// The query of `GET /oauth/authorize`, unvalidated.
#[derive(Clone, Copy, Debug, Default)]
pub struct AuthorizeRequest<'a> {
    pub response_type: Option<&'a str>,
    pub client_id: Option<&'a str>,
    pub redirect_uri: Option<&'a str>,
    pub code_challenge: Option<&'a str>,
    pub code_challenge_method: Option<&'a str>,
    pub state: Option<&'a str>,
}

/// A loopback redirect URI that passed [`LoopbackRedirect::parse`].
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LoopbackRedirect(String);

impl LoopbackRedirect {
    /// `http://127.0.0.1:<port>/<path>` or `http://[::1]:<port>/<path>`, nothing else.
    pub fn parse(uri: &str) -> Option<Self> {
        if uri.len() > MAX_PARAM_LEN {
            return None;
        }
        let rest = uri
            .strip_prefix("http://127.0.0.1:")
            .or_else(|| uri.strip_prefix("http://[::1]:"))?;
        let slash = rest.find('/')?;
        let (port, path) = rest.split_at(slash);
        let port_ok = !port.is_empty()
            && port.len() <= 5
            && port.bytes().all(|b| b.is_ascii_digit())
            && !port.starts_with('0')
            && port.parse::<u32>().is_ok_and(|p| p <= 65_535);
        let path_ok = path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~/".contains(&b))
            && !path.split('/').any(|seg| seg == "." || seg == "..");
        (port_ok && path_ok).then(|| Self(uri.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// This URI with the given query parameters (it has no query of its own).
    pub fn with_query(&self, params: &[(&str, &str)]) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in params {
            q.append_pair(k, v);
        }
        format!("{}?{}", self.0, q.finish())
    }
}

/// A valid authorization request: what the approval page and [`Oauth::issue_code`] need.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ValidAuthorize {
    pub redirect_uri: LoopbackRedirect,
    pub code_challenge: String,
    pub state: String,
}

/// Why `GET /oauth/authorize` was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthorizeError {
    /// The client or redirect URI is not acceptable: show an error page, never redirect.
    #[error("{0}")]
    NoRedirect(&'static str),
    /// Tell the CLI through its redirect (`location`, a 302 target carrying `error`,
    /// `error_description` and the `state` when there was one).
    #[error("{description}")]
    Redirect {
        location: String,
        error: &'static str,
        description: &'static str,
    },
}

/// Whether `s` is a syntactically valid S256 challenge (43 base64url characters).
fn challenge_ok(s: &str) -> bool {
    s.len() == 43
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Whether `s` is a syntactically valid code verifier (RFC 7636 §4.1).
fn verifier_ok(s: &str) -> bool {
    (43..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

/// `BASE64URL(SHA256(verifier))`.
pub fn s256(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// A parameter that was sent and is not empty.
fn present(v: Option<&str>) -> Option<&str> {
    v.filter(|s| !s.is_empty())
}

#[derive(serde::Serialize, serde::Deserialize)]
struct CodeRecord {
    identity: StoredIdentity,
    signed_in_at: DateTime<Utc>,
    redirect_uri: String,
    code_challenge: String,
    expires_at: DateTime<Utc>,
}

fn code_key(code: &str) -> String {
    secret_key("code", code)
}
fn used_key(code: &str) -> String {
    secret_key("codeused", code)
}

impl Oauth {
    /// Validate `GET /oauth/authorize` (before and after the person signs in).
    pub fn validate_authorize(
        &self,
        req: &AuthorizeRequest<'_>,
    ) -> Result<ValidAuthorize, AuthorizeError> {
        if req.client_id != Some(super::CLIENT_ID) {
            return Err(AuthorizeError::NoRedirect(
                "unknown client_id (this server knows only fedbroker-cli)",
            ));
        }
        let redirect_uri =
            req.redirect_uri
                .and_then(LoopbackRedirect::parse)
                .ok_or(AuthorizeError::NoRedirect(
                "redirect_uri must be http://127.0.0.1:<port>/<path> or http://[::1]:<port>/<path>",
            ))?;
        let state = req
            .state
            .filter(|s| !s.is_empty() && s.len() <= MAX_PARAM_LEN);
        let refuse = |error: &'static str, description: &'static str| {
            let mut params = vec![("error", error), ("error_description", description)];
            if let Some(s) = state {
                params.push(("state", s));
            }
            AuthorizeError::Redirect {
                location: redirect_uri.with_query(&params),
                error,
                description,
            }
        };
        if req.response_type != Some("code") {
            return Err(refuse(
                "unsupported_response_type",
                "response_type must be code",
            ));
        }
        let Some(state) = state else {
            return Err(refuse(
                "invalid_request",
                "state is required (1 to 512 characters)",
            ));
        };
        if req.code_challenge_method != Some("S256") {
            return Err(refuse(
                "invalid_request",
                "code_challenge_method must be S256 (plain is not supported)",
            ));
        }
        let challenge = req
            .code_challenge
            .filter(|c| challenge_ok(c))
            .ok_or_else(|| {
                refuse(
                    "invalid_request",
                    "code_challenge must be 43 base64url characters",
                )
            })?;
        Ok(ValidAuthorize {
            redirect_uri: redirect_uri.clone(),
            code_challenge: challenge.to_owned(),
            state: state.to_owned(),
        })
    }

    /// The signed-in person approved `req`: a new code bound to `identity`, the redirect URI
    /// and the challenge; returns the code, the 302 target (`redirect_uri?code=…&state=…`,
    /// secret too: it carries the code) and the event.
    pub async fn issue_code(
        &self,
        req: &ValidAuthorize,
        identity: &VerifiedIdentity,
        signed_in_at: DateTime<Utc>,
        approver_ip: &str,
    ) -> Result<(SecretString, SecretString, OauthEvent), CacheError> {
        let now = self.clock.now();
        let code = new_secret();
        let record = CodeRecord {
            identity: StoredIdentity::from(identity),
            signed_in_at,
            redirect_uri: req.redirect_uri.as_str().to_owned(),
            code_challenge: req.code_challenge.clone(),
            expires_at: now + CODE_TTL,
        };
        self.put_json(&code_key(code.expose_secret()), &record, CODE_TTL)
            .await?;
        let location = req.redirect_uri.with_query(&[
            ("code", code.expose_secret()),
            ("state", req.state.as_str()),
        ]);
        let mut event = OauthEvent::new(EventKind::CodeIssued, now)
            .grant(Grant::AuthorizationCode)
            .identity(identity);
        event.approver_ip = Some(approver_ip.to_owned());
        Ok((code, SecretString::from(location), event))
    }

    /// The signed-in person denied `req`: the 302 target telling the CLI
    /// (`redirect_uri?error=access_denied&state=…`) and the event.
    pub fn deny_code(
        &self,
        req: &ValidAuthorize,
        identity: &VerifiedIdentity,
        approver_ip: &str,
    ) -> (String, OauthEvent) {
        let location = req.redirect_uri.with_query(&[
            ("error", "access_denied"),
            ("error_description", "the person denied the sign-in"),
            ("state", req.state.as_str()),
        ]);
        let mut event = OauthEvent::new(EventKind::CodeDenied, self.clock.now())
            .grant(Grant::AuthorizationCode)
            .identity(identity);
        event.approver_ip = Some(approver_ip.to_owned());
        (location, event)
    }

    /// `POST /oauth/token` with `grant_type=authorization_code`.
    pub async fn exchange_code(
        &self,
        code: Option<&str>,
        redirect_uri: Option<&str>,
        code_verifier: Option<&str>,
        client_id: Option<&str>,
    ) -> Result<TokenSet, TokenError> {
        check_client(client_id)?;
        let code = present(code).ok_or(TokenError::InvalidRequest("code is required"))?;
        let redirect_uri =
            present(redirect_uri).ok_or(TokenError::InvalidRequest("redirect_uri is required"))?;
        let verifier = present(code_verifier).ok_or(TokenError::InvalidRequest(
            "code_verifier is required (PKCE)",
        ))?;
        let Some(record) = self.take_json::<CodeRecord>(&code_key(code)).await? else {
            return Err(self.replayed(code).await?);
        };
        let now = self.clock.now();
        if record.expires_at <= now {
            return Err(TokenError::InvalidGrant("the authorization code expired"));
        }
        if redirect_uri != record.redirect_uri {
            return Err(TokenError::InvalidGrant(
                "redirect_uri differs from the authorization request",
            ));
        }
        if !verifier_ok(verifier)
            || !crate::sign_in::secrets_equal(&s256(verifier), &record.code_challenge)
        {
            return Err(TokenError::InvalidGrant(
                "code_verifier does not match the code_challenge",
            ));
        }
        let identity = VerifiedIdentity::from(record.identity);
        let (tokens, session) = self
            .create_session(SignIn {
                identity: &identity,
                signed_in_at: record.signed_in_at,
                grant: Grant::AuthorizationCode,
            })
            .await?;
        self.put_json(&used_key(code), &session, USED_CODE_MEMORY)
            .await?;
        Ok(tokens)
    }

    /// A code that is not (or no longer) there: if it was exchanged, end the session it
    /// produced.
    async fn replayed(&self, code: &str) -> Result<TokenError, CacheError> {
        let Some(session) = self.take_json::<String>(&used_key(code)).await? else {
            return Ok(TokenError::InvalidGrant(
                "unknown, expired or already used authorization code",
            ));
        };
        let now = self.clock.now();
        let ended = self.end_session(&session).await?;
        let mut event =
            OauthEvent::new(EventKind::CodeReplayed, now).grant(Grant::AuthorizationCode);
        if let Some(identity) = ended {
            event = event.identity(&identity);
        }
        Ok(TokenError::CodeReplayed(Box::new(event)))
    }
}
