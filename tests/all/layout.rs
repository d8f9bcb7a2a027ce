//! The integration tests stay one binary: a new `tests/*.rs` file would be a second test crate
//! linking the whole crate and its dependencies again (and would not share `support`).

#[test]
fn every_integration_test_is_a_module_of_tests_all() {
    let tests = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let mut stray: Vec<String> = std::fs::read_dir(&tests)
        .expect("read tests/")
        .map(|e| e.expect("tests/ entry").path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "rs"))
        .map(|p| p.display().to_string())
        .collect();
    stray.sort();
    assert!(
        stray.is_empty(),
        "integration tests belong in a module under tests/all/ (see tests/README.md), not in \
         their own test binary: {stray:?}"
    );
}
