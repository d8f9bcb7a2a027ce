//! The audit events beyond credentials: browser sign-in and sign-out, console URLs, the CLI's
//! sign-in (`oauth.*`), admin actions and admin authentication failures. Fields and their types are listed in `schema.rs`; what each
//! event does under `audit.fail_closed` is stated there and enforced by the return types here:
//! the events that can refuse an action return `Result<(), AuditUnavailable>`, the others `()`.
//!
//! Invariants: no URL, token, cookie or clear subject is written by these events; the admin is
//! named by the token's fingerprint (never the token), and a failed admin authentication writes
//! nothing about what was presented.

use super::{rfc3339, Audit, AuditUnavailable};
use crate::console::ConsoleUrl;
use crate::error::ApiError;
use crate::exchange::IssuedCredentials;
use crate::identity::{hash_subject, VerifiedIdentity};
use chrono::{DateTime, Utc};
use serde_json::json;
use sha2::{Digest, Sha256};

/// The admin token as the audit log names it: the first 16 hex of SHA-256 of the token
/// (`printf %s "$TOKEN" | sha256sum | cut -c1-16`).
pub fn token_fingerprint(token: &str) -> String {
    hex::encode(&Sha256::digest(token.as_bytes())[..8])
}

/// The browser sign-in route an identity of this protocol arrives on.
pub fn sign_in_route(identity: &VerifiedIdentity) -> &'static str {
    match identity.protocol() {
        crate::identity::Protocol::Saml => "saml_acs",
        crate::identity::Protocol::Oidc => "oidc_callback",
    }
}

/// What an admin revocation targeted.
#[derive(Debug, Default)]
pub struct RevokeTarget {
    /// `subject` or `role`; `None`: the request named neither validly.
    pub kind: Option<&'static str>,
    /// The role ARN, or the subject's revocation label (`sub:<hex>`).
    pub target: Option<String>,
}

impl Audit {
    /// What the CLI's authorization server did (`oauth.*`); `Err` under `fail_closed` when the
    /// record could not be written: the caller withholds what the event hands out, for the
    /// events whose schema entry says "refused".
    pub fn oauth(&self, event: &crate::oauth::OauthEvent) -> Result<(), AuditUnavailable> {
        self.write(event.to_record())
    }

    /// A browser session was started for `identity`; `Err`: fail-closed, end the session.
    pub fn signed_in(
        &self,
        identity: &VerifiedIdentity,
        client_ip: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), AuditUnavailable> {
        self.write(json!({
            "time": rfc3339(now),
            "event": "signin.succeeded",
            "decision": "succeeded",
            "route": sign_in_route(identity),
            "protocol": identity.protocol().as_str(),
            "provider": identity.provider(),
            "issuer": identity.issuer(),
            "subject_hash": identity.subject_hash(),
            "client_ip": client_ip,
        }))
    }

    /// A browser sign-in on `route` was refused; `identity` when it had been verified.
    pub fn sign_in_refused(
        &self,
        route: &str,
        err: &dyn ApiError,
        identity: Option<&VerifiedIdentity>,
        client_ip: Option<&str>,
        now: DateTime<Utc>,
    ) {
        let _ = self.write(json!({
            "time": rfc3339(now),
            "event": "signin.refused",
            "decision": "refused",
            "reason": err.code(),
            "route": route,
            "provider": identity.map(VerifiedIdentity::provider),
            "subject_hash": identity.map(VerifiedIdentity::subject_hash),
            "client_ip": client_ip,
        }));
    }

    /// A browser session was ended (never refuses).
    pub fn signed_out(
        &self,
        identity: &VerifiedIdentity,
        client_ip: Option<&str>,
        now: DateTime<Utc>,
    ) {
        let _ = self.write(json!({
            "time": rfc3339(now),
            "event": "signout",
            "decision": "signed_out",
            "route": "logout",
            "protocol": identity.protocol().as_str(),
            "provider": identity.provider(),
            "subject_hash": identity.subject_hash(),
            "client_ip": client_ip,
        }));
    }

    /// A console URL for `issued` is about to be handed out on `route` (the URL is not written).
    pub fn console_url_issued(
        &self,
        route: &str,
        issued: &IssuedCredentials,
        url: &ConsoleUrl,
        now: DateTime<Utc>,
    ) -> Result<(), AuditUnavailable> {
        self.write(json!({
            "time": rfc3339(now),
            "event": "console.url_issued",
            "decision": "issued",
            "route": route,
            "provider": issued.provider,
            "subject_hash": hash_subject(&issued.issuer, &issued.subject),
            "role_arn": issued.role_arn.as_str(),
            "access_key_id": issued.credentials.access_key_id,
            "destination_host": url.destination_host,
            "session_duration": url.session_duration,
            "expires_at": rfc3339(url.expires_at),
        }))
    }

    /// An authenticated revocation by the admin whose token has `fingerprint`: `Ok((purged,
    /// blocked_until))` or the refusal (never refuses).
    pub fn admin_revoke(
        &self,
        fingerprint: &str,
        client_ip: Option<&str>,
        target: &RevokeTarget,
        result: Result<(u64, Option<&str>), &dyn ApiError>,
        now: DateTime<Utc>,
    ) {
        let (decision, reason, purged, blocked_until) = match result {
            Ok((purged, until)) => ("revoked", None, Some(purged), until),
            Err(e) => ("refused", Some(e.code()), None, None),
        };
        let _ = self.write(json!({
            "time": rfc3339(now),
            "event": "admin.revoke",
            "decision": decision,
            "reason": reason,
            "admin": fingerprint,
            "client_ip": client_ip,
            "target_kind": target.kind,
            "target": target.target,
            "purged": purged,
            "blocked_until": blocked_until,
        }));
    }

    /// An authenticated reload and its outcome (`Err`: the refusal; never refuses).
    pub fn admin_reload(
        &self,
        fingerprint: &str,
        client_ip: Option<&str>,
        result: Result<(), &dyn ApiError>,
        now: DateTime<Utc>,
    ) {
        let _ = self.write(json!({
            "time": rfc3339(now),
            "event": "admin.reload",
            "decision": if result.is_ok() { "reloaded" } else { "refused" },
            "reason": result.err().map(|e| e.code()),
            "admin": fingerprint,
            "client_ip": client_ip,
        }));
    }

    /// A call to an admin `route` refused before authentication (`code`: why); nothing about
    /// the presented token is written.
    pub fn admin_unauthorized(
        &self,
        route: &str,
        code: &str,
        client_ip: Option<&str>,
        now: DateTime<Utc>,
    ) {
        let _ = self.write(json!({
            "time": rfc3339(now),
            "event": "admin.unauthorized",
            "decision": "refused",
            "reason": code,
            "route": route,
            "client_ip": client_ip,
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_fingerprint_is_the_sha256_prefix() {
        // SHA-256("abc") = ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad
        assert_eq!(token_fingerprint("abc"), "ba7816bf8f01cfea");
    }
}
