//! Config fixtures several tests configure a broker with, written once. Macros rather than
//! constants so a test can splice them into its own TOML with `concat!` (or a `format!` string):
//! `concat!(test_saml_idp!(), "[[rules]]\n…")`.
//!
//! Invariants: each fixture is a complete TOML fragment ending in a newline, naming only files in
//! the repository (`config/test-idp-metadata.xml`, from `scripts/gen-certs.sh`) and test values.

/// The test SAML IdP (the signer of `support::saml_idp`, `config/test-idp-metadata.xml`) as a
/// `[[saml.idps]]` entry named `test-idp`.
macro_rules! test_saml_idp {
    () => {
        "[[saml.idps]]\nname = \"test-idp\"\nmetadata_file = \"config/test-idp-metadata.xml\"\n"
    };
}
pub(crate) use test_saml_idp;

/// The admin token of the tests' `[server]` sections (a test value, 43 characters).
macro_rules! admin_token {
    () => {
        "test-admin-token-0123456789abcdef0123456789"
    };
}
pub(crate) use admin_token;

/// A `[server]` section with [`admin_token!`] (the admin endpoints enabled).
macro_rules! admin_server {
    () => {
        concat!(
            "[server]\nadmin_token = \"",
            $crate::support::fixtures::admin_token!(),
            "\"\n"
        )
    };
}
pub(crate) use admin_server;

/// The test OIDC IdP (`scripts/oidc-idp.sh`) as an `[[oidc.providers]]` entry named `name` with its
/// web client (browser sign-in); `var` reads the IdP's `FEDBROKER_TEST_OIDC_*` values (from the
/// environment, or from an env file the test started its own IdP with).
pub fn oidc_web_provider(name: &str, var: &dyn Fn(&str) -> String) -> String {
    format!(
        r#"[[oidc.providers]]
name = "{name}"
issuer = "{issuer}"
audiences = ["sts.amazonaws.com"]
ca_file = "{ca}"
client_id = "{client_id}"
client_secret = "{client_secret}"
scopes = ["email", "profile"]
"#,
        issuer = var("FEDBROKER_TEST_OIDC_ISSUER"),
        ca = var("FEDBROKER_TEST_OIDC_CA"),
        client_id = var("FEDBROKER_TEST_OIDC_WEB_CLIENT_ID"),
        client_secret = var("FEDBROKER_TEST_OIDC_WEB_CLIENT_SECRET"),
    )
}
