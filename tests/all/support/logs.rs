//! The one process-wide log capture of the test binary.
//!
//! A test that checks what the broker logs reads it here. It is global rather than a thread-local
//! `set_default`: tests run on parallel threads and tracing caches each call site's interest
//! process-wide, so a thread-local subscriber can miss events whose call site another thread
//! registered first. There can be only one global subscriber per process, so every test of the
//! binary logs into this one (which only makes "never in the log" checks stronger); a check that
//! looks for one request's line finds it by its request id.
//!
//! The format is production's (`telemetry::init`: JSON, the event's fields flattened, the current
//! span beside them), at trace level for fedbroker and info for everything else.

use std::sync::{Arc, Mutex, OnceLock};

/// A writer the subscriber appends to.
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    /// Everything logged so far, by every test of the binary.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// Installs the global subscriber on first use; every call returns the same capture.
pub fn captured() -> Captured {
    static CAPTURED: OnceLock<Captured> = OnceLock::new();
    CAPTURED
        .get_or_init(|| {
            let captured = Captured::default();
            let writer = captured.clone();
            let subscriber = tracing_subscriber::fmt()
                .json()
                .flatten_event(true)
                .with_current_span(true)
                .with_span_list(false)
                .with_env_filter("fedbroker=trace,info")
                .with_writer(move || writer.clone())
                .finish();
            tracing::subscriber::set_global_default(subscriber)
                .expect("no other global subscriber in the test binary");
            captured
        })
        .clone()
}
