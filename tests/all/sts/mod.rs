//! STS: signed AssumeRole at moto (one ignored test run by scripts/test.sh with credentials in the environment), error mapping, and the moto round trips.

mod assume_role;
mod error_mapping;
mod moto;
