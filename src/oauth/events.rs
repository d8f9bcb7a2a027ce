//! What the authorization server did, as values the HTTP layer writes to the audit log: every
//! device authorization, approval, denial, authorization code, token issue, refresh and logout
//! is an [`OauthEvent`] returned by the [`super::Oauth`] call that did it.
//!
//! Invariants: an event holds no token, code or clear subject (the subject only as
//! `identity::hash_subject`), and no user code (a short-lived secret until it is used).

use crate::identity::VerifiedIdentity;
use chrono::{DateTime, Utc};

/// Which grant produced a CLI session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Grant {
    /// RFC 8628 device authorization grant.
    DeviceCode,
    /// Authorization code with PKCE and a loopback redirect.
    AuthorizationCode,
}

impl Grant {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DeviceCode => "device_code",
            Self::AuthorizationCode => "authorization_code",
        }
    }
}

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// `POST /oauth/device_authorization` issued a device code.
    DeviceAuthorized,
    /// A signed-in person approved a device code.
    DeviceApproved,
    /// A signed-in person denied a device code.
    DeviceDenied,
    /// A signed-in person approved a loopback sign-in: an authorization code went to the CLI.
    CodeIssued,
    /// A signed-in person denied a loopback sign-in.
    CodeDenied,
    /// An authorization code was presented again: the session it had produced was ended
    /// (RFC 6749 §4.1.2).
    CodeReplayed,
    /// A CLI session was created and its first tokens issued.
    TokenIssued,
    /// A refresh token gave a new access token.
    TokenRefreshed,
    /// The CLI session was ended by its holder (`POST /oauth/revoke`).
    LoggedOut,
}

impl EventKind {
    /// The audit log's `event` value.
    pub fn name(self) -> &'static str {
        match self {
            Self::DeviceAuthorized => "oauth.device_authorized",
            Self::DeviceApproved => "oauth.device_approved",
            Self::DeviceDenied => "oauth.device_denied",
            Self::CodeIssued => "oauth.code_issued",
            Self::CodeDenied => "oauth.code_denied",
            Self::CodeReplayed => "oauth.code_replayed",
            Self::TokenIssued => "oauth.token_issued",
            Self::TokenRefreshed => "oauth.token_refreshed",
            Self::LoggedOut => "oauth.logged_out",
        }
    }
}

/// One audit record's worth of facts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OauthEvent {
    pub kind: EventKind,
    pub time: DateTime<Utc>,
    pub grant: Option<Grant>,
    /// Configured IdP/provider name of the identity, when one is involved.
    pub provider: Option<String>,
    /// `identity::hash_subject` of the identity, when one is involved.
    pub subject_hash: Option<String>,
    /// The address that asked for the device code (device events).
    pub requester_ip: Option<String>,
    /// The address of the signed-in person who approved or denied (device and code events).
    pub approver_ip: Option<String>,
    /// The CLI session's hard end (token events).
    pub session_expires_at: Option<DateTime<Utc>>,
}

impl OauthEvent {
    pub(crate) fn new(kind: EventKind, time: DateTime<Utc>) -> Self {
        Self {
            kind,
            time,
            grant: None,
            provider: None,
            subject_hash: None,
            requester_ip: None,
            approver_ip: None,
            session_expires_at: None,
        }
    }

    pub(crate) fn identity(mut self, identity: &VerifiedIdentity) -> Self {
        self.provider = Some(identity.provider().to_owned());
        self.subject_hash = Some(identity.subject_hash());
        self
    }

    pub(crate) fn grant(mut self, grant: Grant) -> Self {
        self.grant = Some(grant);
        self
    }

    /// The audit record: `time`, `event` and every other field, always present (null when not
    /// applicable), so one schema entry per event describes it.
    pub fn to_record(&self) -> serde_json::Value {
        let rfc3339 = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        serde_json::json!({
            "time": rfc3339(self.time),
            "event": self.kind.name(),
            "grant": self.grant.map(Grant::as_str),
            "provider": self.provider,
            "subject_hash": self.subject_hash,
            "requester_ip": self.requester_ip,
            "approver_ip": self.approver_ip,
            "session_expires_at": self.session_expires_at.map(rfc3339),
        })
    }
}

/// The fields of every `oauth.*` audit record after `time` and `event`, in the shape of
/// `audit::schema` (for its `EVENTS` table: one entry per [`EventKind::name`]).
pub const SCHEMA_FIELDS: &[crate::audit::schema::Field] = {
    use crate::audit::schema::Type::StrOrNull;
    &[
        ("grant", StrOrNull, "`device_code` or `authorization_code`"),
        (
            "provider",
            StrOrNull,
            "configured IdP or OIDC provider name of the person",
        ),
        (
            "subject_hash",
            StrOrNull,
            "16 hex: SHA-256 of issuer, NUL, subject",
        ),
        (
            "requester_ip",
            StrOrNull,
            "device grant: the address that asked for the device code; **may be personal data**",
        ),
        (
            "approver_ip",
            StrOrNull,
            "the address of the signed-in person who approved or denied; **may be personal data**",
        ),
        (
            "session_expires_at",
            StrOrNull,
            "RFC 3339: the CLI session's hard end (token and logout events)",
        ),
    ]
};

/// Every kind, for the schema table.
pub const ALL_KINDS: &[EventKind] = &[
    EventKind::DeviceAuthorized,
    EventKind::DeviceApproved,
    EventKind::DeviceDenied,
    EventKind::CodeIssued,
    EventKind::CodeDenied,
    EventKind::CodeReplayed,
    EventKind::TokenIssued,
    EventKind::TokenRefreshed,
    EventKind::LoggedOut,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_record_has_every_field_and_no_secret() {
        let t = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 3, 1, 9, 0, 0).unwrap();
        let mut e = OauthEvent::new(EventKind::TokenIssued, t).grant(Grant::DeviceCode);
        e.session_expires_at = Some(t);
        let r = e.to_record();
        assert_eq!(r["event"], "oauth.token_issued");
        assert_eq!(r["grant"], "device_code");
        assert_eq!(r["session_expires_at"], "2026-03-01T09:00:00Z");
        assert_eq!(r.as_object().unwrap().len(), 8);
        assert!(r["subject_hash"].is_null() && r["approver_ip"].is_null());
        let names: Vec<&str> = r
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .filter(|k| !["time", "event"].contains(k))
            .collect();
        let mut schema: Vec<&str> = SCHEMA_FIELDS.iter().map(|f| f.0).collect();
        schema.sort_unstable();
        assert_eq!(names, schema, "the record and its schema fields agree");
    }
}
