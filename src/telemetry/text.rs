//! The `text` log format: tracing-subscriber's human-readable lines, with every field value and
//! every message escaped so that one event is always exactly one line.
//!
//! Invariant: no control character from a logged value reaches the output raw. `\n`, `\r` and
//! `\t` become `\n`, `\r`, `\t`; every other C0 control, DEL, C1 control (which covers ESC and so
//! ANSI escape sequences) and the Unicode line and paragraph separators become `\u{..}`. A caller
//! who gets a newline into a logged value (an unknown JSON field name, a query parameter, an
//! issuer URL) therefore cannot forge a second log line. The JSON format escapes by itself.

use std::fmt::{self, Write as _};
use tracing::field::{Field, Visit};
use tracing_subscriber::field::{MakeVisitor, VisitFmt, VisitOutput};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

/// The text-format subscriber: `filter`, lines written to `writer`, every value escaped; level
/// colours only when `ansi` (the writer is a terminal).
pub fn subscriber<W>(
    filter: EnvFilter,
    writer: W,
    ansi: bool,
) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(ansi)
        .fmt_fields(EscapedFields)
        .finish()
}

/// Formats the fields of events and spans with [`EscapingVisitor`].
#[derive(Clone, Copy, Debug, Default)]
pub struct EscapedFields;

impl<'a> MakeVisitor<Writer<'a>> for EscapedFields {
    type Visitor = EscapingVisitor<'a>;

    fn make_visitor(&self, target: Writer<'a>) -> Self::Visitor {
        EscapingVisitor {
            writer: target,
            is_empty: true,
            result: Ok(()),
        }
    }
}

/// Writes `message` bare and every other field as `name=value`, separated by spaces, each value
/// rendered (Debug for strings and `?` values, Display for `%` values) and then escaped.
pub struct EscapingVisitor<'a> {
    writer: Writer<'a>,
    is_empty: bool,
    result: fmt::Result,
}

impl EscapingVisitor<'_> {
    fn write_field(&mut self, field: &Field, value: fmt::Arguments<'_>) {
        if self.result.is_err() || field.name().starts_with("log.") {
            return;
        }
        let rendered = value.to_string();
        let pad = if self.is_empty { "" } else { " " };
        self.is_empty = false;
        let name = field.name();
        let name = name.strip_prefix("r#").unwrap_or(name);
        self.result = if name == "message" {
            write!(self.writer, "{pad}{}", Escaped(&rendered))
        } else {
            write!(self.writer, "{pad}{name}={}", Escaped(&rendered))
        };
    }
}

impl Visit for EscapingVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.write_field(field, format_args!("{value}"));
        } else {
            self.write_field(field, format_args!("{value:?}"));
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.write_field(field, format_args!("{value}"));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.write_field(field, format_args!("{value:?}"));
    }
}

impl VisitOutput<fmt::Result> for EscapingVisitor<'_> {
    fn finish(self) -> fmt::Result {
        self.result
    }
}

impl VisitFmt for EscapingVisitor<'_> {
    fn writer(&mut self) -> &mut dyn fmt::Write {
        &mut self.writer
    }
}

/// Text with its control characters escaped (see the module header).
pub struct Escaped<'a>(pub &'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for ch in self.0.chars() {
            match ch {
                '\n' => f.write_str("\\n")?,
                '\r' => f.write_str("\\r")?,
                '\t' => f.write_str("\\t")?,
                c if c.is_control() || c == '\u{2028}' || c == '\u{2029}' => {
                    write!(f, "\\u{{{:x}}}", c as u32)?
                }
                c => f.write_char(c)?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A writer that keeps everything written to it.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'w> MakeWriter<'w> for Captured {
        type Writer = Captured;
        fn make_writer(&'w self) -> Self::Writer {
            self.clone()
        }
    }

    fn capture(log: impl FnOnce()) -> String {
        let out = Captured::default();
        let sub = subscriber(EnvFilter::new("info"), out.clone(), false);
        tracing::subscriber::with_default(sub, log);
        let bytes = out.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    const FORGED: &str = "x\n2026-01-01T00:00:00Z  INFO fedbroker: issued temporary credentials \
                          role=arn:aws:iam::123456789012:role/Admin\r\x1b[2K\u{85}\u{2028}";

    #[test]
    fn newline_in_a_logged_value_cannot_forge_a_text_log_line() {
        let out = capture(|| {
            let span = tracing::info_span!("request", path = %FORGED);
            let _in = span.enter();
            tracing::warn!(error.message = %FORGED, debugged = ?FORGED, plain = FORGED, "refused");
            tracing::info!("message with {FORGED}");
            tracing::info!(status = 200u16, "request done");
        });
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 3, "one line per event, got: {out}");
        assert!(lines.iter().all(|l| !l.starts_with("2026-01-01T00:00:00Z")));
        for raw in ['\r', '\x1b', '\u{85}', '\u{2028}'] {
            assert!(!out.contains(raw), "raw {raw:?} in: {out}");
        }
        assert!(lines[0].contains("error.message=x\\n2026-01-01"));
        assert!(lines[0].contains("\\r\\u{1b}[2K\\u{85}\\u{2028}"));
        assert!(lines[1].contains("message with x\\n2026"));
        assert!(lines[2].ends_with("status=200"), "{}", lines[2]);
    }

    #[test]
    fn ordinary_values_are_written_as_before() {
        let out = capture(|| tracing::info!(code = "bad_json", n = 3u8, "request refused"));
        assert!(
            out.trim_end()
                .ends_with("request refused code=\"bad_json\" n=3"),
            "{out}"
        );
    }
}
