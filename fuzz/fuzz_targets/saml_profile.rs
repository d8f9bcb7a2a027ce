//! cargo-fuzz target: see `fedbroker_fuzz::saml_profile` (fuzz/src/lib.rs) for what it drives and checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = fedbroker_fuzz::saml_profile(data);
});
