//! Where the sign-in commands keep their state, and how they write it.
//!
//! Layout: `$XDG_CONFIG_HOME/fedbroker/` (else `~/.config/fedbroker/`), directory mode 0700:
//! - `sessions.json`: one entry per broker, keyed by the normalised broker URL
//!   ([`crate::cli::broker_client::BrokerUrl`]): access token, refresh token, when each ends, the
//!   subject;
//! - `credentials.json`: the local copy of credentials handed to `credential_process`, keyed by
//!   broker, role and duration (see [`crate::cli::credentials`]).
//!
//! Invariants: every file is written atomically (a temporary file in the same directory, mode 0600
//! from its creation, flushed, then renamed over the old one), so a reader sees the old or the new
//! file, never half of one, and a secret is never readable by another user, even briefly; tokens
//! are [`Token`]s, whose `Debug` is redacted, so no log or error message carries one.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{self, OpenOptions, Permissions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// A bearer or refresh token (or any secret string): serialised as itself, never shown by `Debug`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Token(String);

impl Token {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    /// The token itself, for a request header or body only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token([redacted])")
    }
}

/// What the commands read from the environment, resolved once (tests build it directly).
#[derive(Debug, Clone)]
pub struct Env {
    /// `$XDG_CONFIG_HOME/fedbroker` or `~/.config/fedbroker`.
    pub state_dir: PathBuf,
    /// `$AWS_CONFIG_FILE`, else `~/.aws/config`.
    pub aws_config_file: PathBuf,
    /// `$BROWSER`, when set.
    pub browser: Option<String>,
}

impl Env {
    /// From the process environment; `None` when neither `XDG_CONFIG_HOME` nor `HOME` is set.
    pub fn from_process() -> Option<Self> {
        let non_empty = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
        let home = non_empty("HOME").map(PathBuf::from);
        let config_home = non_empty("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .or_else(|| home.as_ref().map(|h| h.join(".config")))?;
        // Like the AWS CLI, a leading `~/` in AWS_CONFIG_FILE is the home directory.
        let aws_config_file = non_empty("AWS_CONFIG_FILE")
            .map(
                |v| match (v.to_str().and_then(|s| s.strip_prefix("~/")), &home) {
                    (Some(rest), Some(h)) => h.join(rest),
                    _ => PathBuf::from(v),
                },
            )
            .or_else(|| home.as_ref().map(|h| h.join(".aws").join("config")))?;
        Some(Self {
            state_dir: config_home.join("fedbroker"),
            aws_config_file,
            browser: std::env::var("BROWSER")
                .ok()
                .filter(|b| !b.trim().is_empty()),
        })
    }

    pub fn sessions_file(&self) -> PathBuf {
        self.state_dir.join("sessions.json")
    }

    pub fn credentials_file(&self) -> PathBuf {
        self.state_dir.join("credentials.json")
    }
}

/// One broker's CLI session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredSession {
    pub access_token: Token,
    /// When the access token stops being accepted (`expires_in` after it was issued).
    pub access_expires_at: DateTime<Utc>,
    pub refresh_token: Option<Token>,
    /// The session's hard end (the broker's `session_expires_at`): no refresh goes beyond it.
    pub session_expires_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
}

/// `sessions.json`: broker key → session.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sessions {
    #[serde(default)]
    pub brokers: BTreeMap<String, StoredSession>,
}

/// Read a JSON state file; a missing file is the default value.
pub fn read_json<T: Default + for<'de> Deserialize<'de>>(path: &Path) -> Result<T, String> {
    match fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
            format!(
                "{} is not valid ({e}); delete it and sign in again",
                path.display()
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(T::default()),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

/// Write a JSON state file atomically, mode 0600, in its directory (created, or narrowed, to 0700).
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), String> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(|e| e.to_string())?;
    bytes.push(b'\n');
    if let Some(dir) = path.parent() {
        ensure_private_dir(dir)?;
        // The state directory is this program's own: an existing one open to others is closed.
        let mode = fs::metadata(dir)
            .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            fs::set_permissions(dir, Permissions::from_mode(0o700))
                .map_err(|e| format!("cannot set the mode of {}: {e}", dir.display()))?;
        }
    }
    write_atomic(path, &bytes, 0o600)
}

/// Create `dir` (and its parents) if missing; the last component gets mode 0700.
pub fn ensure_private_dir(dir: &Path) -> Result<(), String> {
    if !dir.exists() {
        fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        fs::set_permissions(dir, Permissions::from_mode(0o700))
            .map_err(|e| format!("cannot set the mode of {}: {e}", dir.display()))?;
    }
    Ok(())
}

/// Replace `path` with `bytes`: a temporary file next to it, created with `mode`, synced, then
/// renamed over `path` (atomic on one file system). The temporary file is removed on failure.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), String> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", uuid::Uuid::new_v4().simple()));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        // The umask may have narrowed the mode at creation; set it exactly.
        f.set_permissions(Permissions::from_mode(mode))?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    result.map_err(|e| {
        let _ = fs::remove_file(&tmp);
        format!("cannot write {}: {e}", path.display())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> StoredSession {
        StoredSession {
            access_token: Token::new("at-secret"),
            access_expires_at: "2030-01-01T00:00:00Z".parse().unwrap(),
            refresh_token: Some(Token::new("rt-secret")),
            session_expires_at: "2030-01-01T08:00:00Z".parse().unwrap(),
            subject: Some("alice".into()),
        }
    }

    #[test]
    fn state_files_are_0600_in_a_0700_directory_and_round_trip() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("cfg").join("fedbroker");
        let path = dir.join("sessions.json");
        let mut s = Sessions::default();
        s.brokers.insert("https://b.example".into(), session());
        write_json(&path, &s).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(read_json::<Sessions>(&path).unwrap(), s);
        // Rewritten: still 0600, no temporary file left behind.
        s.brokers.clear();
        write_json(&path, &s).unwrap();
        assert_eq!(mode(&path), 0o600);
        let names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("sessions.json")]);
        // A state directory left open to others is closed on the next write.
        fs::set_permissions(&dir, Permissions::from_mode(0o755)).unwrap();
        write_json(&path, &s).unwrap();
        assert_eq!(mode(&dir), 0o700);
    }

    #[test]
    fn a_missing_file_is_empty_and_a_broken_one_is_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("sessions.json");
        assert_eq!(read_json::<Sessions>(&path).unwrap(), Sessions::default());
        fs::write(&path, b"{not json").unwrap();
        assert!(read_json::<Sessions>(&path)
            .unwrap_err()
            .contains("sign in again"));
    }

    #[test]
    fn atomic_write_replaces_the_whole_file_and_cleans_up_on_failure() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("f");
        fs::write(&path, b"old old old old").unwrap();
        write_atomic(&path, b"new", 0o600).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new");
        // A directory that does not exist: an error naming the file, nothing left behind.
        let missing = tmp.path().join("nope").join("f");
        assert!(write_atomic(&missing, b"x", 0o600)
            .unwrap_err()
            .contains("cannot write"));
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 1);
    }

    #[test]
    fn tokens_never_show_in_debug() {
        let shown = format!("{:?}", session());
        assert!(!shown.contains("secret"), "{shown}");
        assert!(shown.contains("redacted"));
    }
}
