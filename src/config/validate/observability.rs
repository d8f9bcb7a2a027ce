//! `[audit]` and `[log]`: a file sink names its file; the log level is a valid filter.

use crate::config::errors::ConfigErrors;
use crate::config::model::{AuditConfig, AuditSinkKind, LogConfig};

pub(super) fn check(errors: &mut ConfigErrors, audit: &AuditConfig, log: &LogConfig) {
    if audit.sink == AuditSinkKind::File && audit.file.is_none() {
        errors.push("audit.sink = \"file\" needs audit.file (a path to append to)");
    }
    if tracing_subscriber::EnvFilter::try_new(&log.level).is_err() {
        errors.push(format!(
            "log.level = {:?} is not a valid filter (try \"info\")",
            log.level
        ));
    }
}
