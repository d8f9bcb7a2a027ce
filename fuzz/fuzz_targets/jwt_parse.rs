//! cargo-fuzz target: see `fedbroker_fuzz::jwt_parse` (fuzz/src/lib.rs) for what it drives and checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = fedbroker_fuzz::jwt_parse(data);
});
