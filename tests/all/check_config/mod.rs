//! `fedbroker check-config` as the real binary: `--probe` against live endpoints, and the Redis topology settings it accepts or refuses.

mod probe;
mod redis;
