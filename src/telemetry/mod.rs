//! Logging: `tracing` with JSON (default) or text output (control characters escaped, see
//! [`text`]), filtered by `log.level` or `RUST_LOG`;
//! Prometheus metrics in [`metrics`].
//!
//! Rule: tokens, assertions, credentials and sign-in URLs are never logged; subjects are logged as
//! `identity::hash_subject` hashes.

pub mod metrics;
pub mod text;

use crate::config::{LogConfig, LogFormat};
use tracing_subscriber::EnvFilter;

/// Install the global subscriber. Call once, from `main`.
pub fn init(cfg: &LogConfig) {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| EnvFilter::try_new(v).ok())
        .or_else(|| EnvFilter::try_new(&cfg.level).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let result = match cfg.format {
        LogFormat::Json => tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init()
            .map_err(|e| e.to_string()),
        LogFormat::Text => {
            use std::io::IsTerminal;
            use tracing_subscriber::util::SubscriberInitExt;
            let ansi = std::io::stderr().is_terminal();
            text::subscriber(filter, std::io::stderr, ansi)
                .try_init()
                .map_err(|e| e.to_string())
        }
    };
    if let Err(e) = result {
        eprintln!("logging already initialised: {e}");
    }
}
