//! The audit log: one JSON line per security event, to stdout or a file, separate from the
//! diagnostic log (stderr): credentials issued and refused, console URLs issued, browser sign-ins
//! (succeeded, refused) and sign-outs, admin revocations and reloads, and refused admin calls.
//! Every event and its exact fields are listed in `schema.rs` (the source of the table in
//! `docs/OPERATIONS.md`); the events beyond credentials are written in `events.rs`. Credential
//! fields are the ones an auditor joins with CloudTrail: time, provider, hashed subject, role ARN,
//! session name (CloudTrail's `roleSessionName`), source identity, tag keys, STS request ID,
//! access key ID (CloudTrail's `accessKeyId`), expiration, decision and reason.
//!
//! Invariants: no secret (secret key, session token, assertion, token, cookie, console URL, admin
//! token) is ever written, and the subject itself is written only hashed (`subject_hash`). Three
//! fields of `credentials.issued` are written in clear because CloudTrail records them in clear and
//! they are the join: `session_name`, `source_identity` and `assumed_role_arn` (which ends with
//! the session name); a rule may build them from the subject (`{subject}`, an e-mail address), so
//! they can carry personal data, as can `client_ip`. With `audit.fail_closed = true` a record that
//! cannot be written refuses the action where `schema.rs` says so: credentials and console URLs
//! are withheld (503 `audit_unavailable`; credentials stay cached, so a retry after the sink
//! recovers costs no STS call) and a browser sign-in's new session is ended.

mod events;
pub mod schema;

pub use events::{sign_in_route, token_fingerprint, RevokeTarget};

use crate::config::{AuditConfig, AuditSinkKind};
use crate::error::{ApiError, ErrorKind};
use crate::exchange::IssuedCredentials;
use crate::identity::hash_subject;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::json;
use std::io::Write;
use std::sync::{Arc, Mutex};

/// Where audit lines go.
pub trait AuditSink: Send + Sync + std::fmt::Debug {
    /// Write one line (no trailing newline in `line`), durably enough for the sink's kind.
    fn write_line(&self, line: &[u8]) -> std::io::Result<()>;
}

/// Standard output (one line per record, flushed).
#[derive(Debug, Default)]
pub struct StdoutSink;

impl AuditSink for StdoutSink {
    fn write_line(&self, line: &[u8]) -> std::io::Result<()> {
        let mut out = std::io::stdout().lock();
        out.write_all(line)?;
        out.write_all(b"\n")?;
        out.flush()
    }
}

/// An append-only file (opened once; each line written with one `write` and flushed).
#[derive(Debug)]
pub struct FileSink(Mutex<std::fs::File>);

impl FileSink {
    pub fn open(path: &str) -> std::io::Result<Self> {
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(Self(Mutex::new(f)))
    }
}

impl AuditSink for FileSink {
    fn write_line(&self, line: &[u8]) -> std::io::Result<()> {
        let mut buf = Vec::with_capacity(line.len() + 1);
        buf.extend_from_slice(line);
        buf.push(b'\n');
        let mut f = self.0.lock().unwrap_or_else(|p| p.into_inner());
        f.write_all(&buf)?;
        f.flush()
    }
}

/// Lines kept in memory (tests), optionally failing every write.
#[derive(Debug, Default)]
pub struct MemorySink {
    pub lines: Mutex<Vec<String>>,
    pub failing: std::sync::atomic::AtomicBool,
}

impl AuditSink for MemorySink {
    fn write_line(&self, line: &[u8]) -> std::io::Result<()> {
        if self.failing.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(std::io::Error::other("audit sink failing (test)"));
        }
        self.lines
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(String::from_utf8_lossy(line).into_owned());
        Ok(())
    }
}

/// A record could not be written and `fail_closed` is set.
#[derive(Debug, thiserror::Error)]
#[error("the audit log cannot be written, so no credentials are handed out (audit.fail_closed); retry shortly")]
pub struct AuditUnavailable;

impl ApiError for AuditUnavailable {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Unavailable
    }
    fn code(&self) -> &'static str {
        "audit_unavailable"
    }
    fn retry_after(&self) -> Option<u64> {
        Some(5)
    }
}

/// The audit log (held in `AppState`).
#[derive(Debug, Clone)]
pub struct Audit {
    sink: Option<Arc<dyn AuditSink>>,
    fail_closed: bool,
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

impl Audit {
    /// From `[audit]` (opens the file).
    pub fn from_config(cfg: &AuditConfig) -> Result<Self, String> {
        let sink: Option<Arc<dyn AuditSink>> = match cfg.sink {
            AuditSinkKind::Off => None,
            AuditSinkKind::Stdout => Some(Arc::new(StdoutSink)),
            AuditSinkKind::File => {
                let path = cfg
                    .file
                    .as_deref()
                    .ok_or("audit.sink = \"file\" needs audit.file")?;
                Some(Arc::new(FileSink::open(path).map_err(|e| {
                    format!("audit.file {path}: cannot open for appending: {e}")
                })?))
            }
        };
        Ok(Self {
            sink,
            fail_closed: cfg.fail_closed,
        })
    }

    /// An audit log writing to `sink` (tests).
    pub fn to_sink(sink: Arc<dyn AuditSink>, fail_closed: bool) -> Self {
        Self {
            sink: Some(sink),
            fail_closed,
        }
    }

    /// No audit log.
    pub fn off() -> Self {
        Self {
            sink: None,
            fail_closed: false,
        }
    }

    fn write(&self, record: serde_json::Value) -> Result<(), AuditUnavailable> {
        let Some(sink) = &self.sink else {
            return Ok(());
        };
        let line = serde_json::to_vec(&record).unwrap_or_default();
        match sink.write_line(&line) {
            Ok(()) => Ok(()),
            Err(e) => {
                tracing::error!(error = %e, fail_closed = self.fail_closed, "audit record not written");
                if self.fail_closed {
                    Err(AuditUnavailable)
                } else {
                    Ok(())
                }
            }
        }
    }

    /// Record credentials about to be handed out on `route`.
    pub fn issued(
        &self,
        route: &str,
        issued: &IssuedCredentials,
        client_ip: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), AuditUnavailable> {
        let c = &issued.credentials;
        self.write(json!({
            "time": rfc3339(now),
            "event": "credentials.issued",
            "decision": "issued",
            "reason": format!("rule {}; cache {}", issued.rule, issued.cache.map_or("off", |o| o.as_str())),
            "route": route,
            "protocol": issued.protocol.as_str(),
            "provider": issued.provider,
            "issuer": issued.issuer,
            "subject_hash": hash_subject(&issued.issuer, &issued.subject),
            "role_arn": issued.role_arn.as_str(),
            "mode": issued.mode.as_str(),
            "session_name": issued.session_name.as_ref().map(|s| s.as_str()),
            "source_identity": issued.source_identity,
            "tag_keys": issued.tag_keys,
            "sts_request_id": c.request_id,
            "access_key_id": c.access_key_id,
            "assumed_role_arn": c.assumed_role_arn,
            "expiration": rfc3339(c.expiration),
            "duration_seconds": issued.duration.seconds(),
            "legacy_algorithm": issued.legacy_algorithm,
            "client_ip": client_ip,
        }))
    }

    /// Record a refused request on `route` (what is known: the stable code and the kind).
    pub fn refused(
        &self,
        route: &str,
        err: &dyn ApiError,
        client_ip: Option<&str>,
        now: DateTime<Utc>,
    ) {
        let _ = self.write(json!({
            "time": rfc3339(now),
            "event": "credentials.refused",
            "decision": "refused",
            "reason": err.code(),
            "route": route,
            "client_ip": client_ip,
        }));
    }
}
