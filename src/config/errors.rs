//! [`ConfigErrors`]: every problem found while loading a configuration, collected rather than
//! returned one at a time.
//!
//! Invariant: loading and validation push into one `ConfigErrors` and never stop at the first
//! problem, so `fedbroker check-config` reports them all at once; each message names the key and
//! what to fix, and never holds a secret value.

use std::fmt;

/// Every problem found in a configuration, each naming the key and what to fix.
#[derive(Debug, Default)]
pub struct ConfigErrors(pub Vec<String>);

impl ConfigErrors {
    pub fn push(&mut self, msg: impl Into<String>) {
        self.0.push(msg.into());
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} configuration problem(s):", self.0.len())?;
        for e in &self.0 {
            writeln!(f, "  - {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}
