//! `fedbroker saml-check --config FILE --idp NAME [--at RFC3339] [--json] RESPONSE`: run one SAML
//! Response through the server's own validation for one IdP, offline, and report the verdict, the
//! failing check with a hint, and the verified facts (signature, subject, attributes, the roles
//! the mapping rules offer).
//!
//! Invariants:
//! - The verdict is the server's: the IdP is loaded by the server's loader (`trust`), the
//!   Response goes through `SamlValidator::validate_traced` (the body of `validate`) and the roles
//!   through `exchange::offered_roles` (the body of `/v1/roles`). Nothing is re-implemented here.
//! - Only the IdP named by `--idp` is trusted, so a Response from another IdP is refused
//!   `saml_issuer_unknown`, as a server configured with this IdP alone would refuse it.
//! - Time comes from a `FixedClock` at `--at` (default: the system clock, read once).
//! - No replay record is written, STS and Redis are never called. The one network access is a
//!   `metadata_url` IdP's metadata, fetched once exactly as the server does at start.
//! - Exit codes: 0 accepted, 1 refused, 2 usage or configuration error (nothing on stdout then).

use super::saml_report::{Refusal, Report};
use crate::clock::{Clock, FixedClock, SystemClock};
use crate::config::{self, Config};
use crate::error::ApiError;
use crate::exchange::offered_roles;
use crate::saml::{preflight, trace, AwsAttributes, SamlValidator, Trace, TrustedIdp};
use crate::trust::{load_idp, HttpMetadataFetcher};
use base64::Engine as _;
use chrono::{DateTime, SecondsFormat, Utc};
use std::io::{Read, Write};
use std::sync::Arc;

/// Exit status: the Response would be accepted.
pub const EXIT_ACCEPTED: u8 = 0;
/// Exit status: the Response would be refused.
pub const EXIT_REFUSED: u8 = 1;
/// Exit status: bad usage or configuration (unknown IdP, unreadable file, bad config).
pub const EXIT_USAGE: u8 = 2;

/// The command's arguments (parsed by clap in `main.rs`).
#[derive(Debug, Clone)]
pub struct SamlCheckArgs {
    pub config: String,
    pub idp: String,
    pub at: Option<DateTime<Utc>>,
    pub json: bool,
    /// A file path, or `-` for stdin.
    pub response: String,
}

/// `--at`: an RFC 3339 date-time (any offset), e.g. `2026-01-31T09:00:00Z`.
pub fn parse_at(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s.trim())
        .map(|d| d.with_timezone(&Utc))
        .map_err(|e| format!("expected an RFC 3339 date-time such as 2026-01-31T09:00:00Z ({e})"))
}

/// A usage or configuration error (exit 2): the message says what to fix.
#[derive(Debug)]
pub struct UsageError(pub String);

/// Run the command: read RESPONSE, check it, print the report; the exit status.
pub fn run(args: &SamlCheckArgs) -> u8 {
    let outcome = read_response(&args.response).and_then(|content| check(args, &content));
    match outcome {
        Ok(report) => {
            let text = if args.json {
                report.to_json() + "\n"
            } else {
                report.to_human()
            };
            let mut out = std::io::stdout().lock();
            if out
                .write_all(text.as_bytes())
                .and_then(|_| out.flush())
                .is_err()
            {
                return EXIT_USAGE;
            }
            if report.accepted {
                EXIT_ACCEPTED
            } else {
                EXIT_REFUSED
            }
        }
        Err(UsageError(msg)) => {
            eprintln!("fedbroker saml-check: {msg}");
            EXIT_USAGE
        }
    }
}

/// RESPONSE's bytes: the file, or stdin for `-`.
fn read_response(path: &str) -> Result<Vec<u8>, UsageError> {
    let mut content = Vec::new();
    let read = if path == "-" {
        std::io::stdin()
            .lock()
            .read_to_end(&mut content)
            .map(|_| ())
    } else {
        std::fs::File::open(path).and_then(|mut f| f.read_to_end(&mut content).map(|_| ()))
    };
    read.map_err(|e| {
        let what = if path == "-" { "stdin" } else { path };
        UsageError(format!("cannot read the SAML Response from {what}: {e}"))
    })?;
    Ok(content)
}

/// The `SAMLResponse` value the server would receive for `content`. Raw XML (first character `<`
/// after an optional UTF-8 byte-order mark and whitespace) is base64-encoded from that `<` on;
/// anything else is taken as the base64 form value itself, unchanged (the server's decoder skips
/// space, tab, CR and LF, so line-wrapped base64 passes; URL-encoding does not).
pub fn as_saml_response(content: &[u8]) -> String {
    let content = content.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(content);
    let start = content
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(content.len());
    if content.get(start) == Some(&b'<') {
        base64::engine::general_purpose::STANDARD.encode(&content[start..])
    } else {
        String::from_utf8_lossy(content).into_owned()
    }
}

/// Load the config and the named IdP, then validate `content`; a usage error for anything that
/// is not the Response's fault.
pub fn check(args: &SamlCheckArgs, content: &[u8]) -> Result<Report, UsageError> {
    let cfg = config::load(Some(&args.config)).map_err(|e| {
        UsageError(format!(
            "{} configuration problem(s) in {}:\n  - {}",
            e.0.len(),
            args.config,
            e.0.join("\n  - ")
        ))
    })?;
    let at = args.at.unwrap_or_else(|| SystemClock.now());
    let idp = load_named_idp(&cfg, args, at)?;
    let entity_id = idp.entity_id.clone();
    let validator = SamlValidator::try_new(vec![idp], Arc::new(FixedClock::new(at)))
        .map_err(|e| UsageError(format!("saml.idps {:?}: {e}", args.idp)))?;

    let response = as_saml_response(content);
    let encrypted = preflight::decode(&response)
        .ok()
        .and_then(|xml| trace::carries_encrypted_assertion(&xml))
        .unwrap_or(false);
    let mut report = Report::new(
        &args.idp,
        &entity_id,
        at.to_rfc3339_opts(SecondsFormat::Secs, true),
        encrypted,
    );
    let mut trace = Trace::default();
    match validator.validate_traced(
        &response,
        AwsAttributes::for_rules(!cfg.rules.is_empty()),
        &mut trace,
    ) {
        Err(e) => report.refuse(
            Refusal {
                code: e.code(),
                message: e.to_string(),
                check: trace.stage.as_str(),
            },
            &trace,
        ),
        Ok(identity) => {
            report.verified(&identity, &trace);
            match offered_roles(&cfg.rules, &identity) {
                Ok(roles) => report.accept(&roles),
                Err(e) => report.refuse(
                    Refusal {
                        code: e.code(),
                        message: e.to_string(),
                        check: "mapping",
                    },
                    &trace,
                ),
            }
        }
    }
    Ok(report)
}

/// The IdP named by `--idp`, loaded by the server's loader (a `metadata_url` is fetched once).
fn load_named_idp(
    cfg: &Config,
    args: &SamlCheckArgs,
    at: DateTime<Utc>,
) -> Result<TrustedIdp, UsageError> {
    let Some(idp_cfg) = cfg.saml.idps.iter().find(|i| i.name == args.idp) else {
        let names: Vec<&str> = cfg.saml.idps.iter().map(|i| i.name.as_str()).collect();
        return Err(UsageError(format!(
            "no [[saml.idps]] entry is named {:?} in {} (configured: {})",
            args.idp,
            args.config,
            if names.is_empty() {
                "none".to_owned()
            } else {
                names.join(", ")
            }
        )));
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| UsageError(format!("cannot start runtime: {e}")))?;
    let fetcher = HttpMetadataFetcher::new().map_err(UsageError)?;
    rt.block_on(load_idp(cfg, idp_cfg, &fetcher, at))
        .map_err(|e| UsageError(format!("saml.idps {:?}: {e}", idp_cfg.name)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_xml_is_encoded_and_base64_passes_unchanged() {
        let b64 = base64::engine::general_purpose::STANDARD;
        assert_eq!(
            b64.decode(as_saml_response(b"\xEF\xBB\xBF \n<a/>\n"))
                .unwrap(),
            b"<a/>\n"
        );
        assert_eq!(as_saml_response(b"PGEv\nPg==\n"), "PGEv\nPg==\n");
        assert_eq!(as_saml_response(b"\xEF\xBB\xBFPGEvPg=="), "PGEvPg==");
        assert_eq!(as_saml_response(b""), "");
    }

    #[test]
    fn at_takes_rfc3339_with_any_offset_and_refuses_anything_else() {
        assert_eq!(
            parse_at("2026-01-31T10:00:00+01:00").unwrap(),
            parse_at("2026-01-31T09:00:00Z").unwrap()
        );
        for bad in ["2026-01-31", "yesterday", "09:00:00Z", ""] {
            assert!(parse_at(bad).is_err(), "{bad}");
        }
    }
}
