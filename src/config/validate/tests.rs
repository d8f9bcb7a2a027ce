//! Loading and validation end to end: `load_str` on small configs, the messages it reports.

use crate::config::load_str;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn contract_example_loads() {
    let cfg = load_str(
        r#"
[server]
listen = "127.0.0.1:8080"
public_url = "http://127.0.0.1:8080"
[aws]
region = "us-east-1"
sts_endpoint = "http://127.0.0.1:5000"
federation_endpoint = "https://signin.aws.amazon.com/federation"
[cache]
redis_url = "redis://127.0.0.1:6379"
encryption_keys = ["k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="]
[[saml.idps]]
name = "corp"
metadata_file = "config/idp-metadata.xml"
[[oidc.providers]]
name = "ci"
issuer = "https://token.actions.githubusercontent.com"
audiences = ["sts.amazonaws.com"]
ca_file = "certs/extra-ca.pem"
"#,
        env(&[]),
    )
    .unwrap();
    assert_eq!(cfg.saml.idps[0].name, "corp");
    assert_eq!(
        cfg.aws.sts_endpoint.as_deref(),
        Some("http://127.0.0.1:5000")
    );
}

#[test]
fn env_overrides_nested_and_indexed_keys() {
    let cfg = load_str(
        "[[saml.idps]]\nname = \"corp\"\nmetadata_file = \"a.xml\"\n",
        env(&[
            ("FEDBROKER_AWS__REGION", "eu-west-1"),
            ("FEDBROKER_SERVER__MAX_BODY_BYTES", "4096"),
            ("FEDBROKER_SAML__IDPS__0__METADATA_FILE", "b.xml"),
            ("FEDBROKER_SAML__IDPS__1__NAME", "second"),
            ("FEDBROKER_SAML__IDPS__1__METADATA_FILE", "c.xml"),
            ("FEDBROKER_TEST_REDIS_URL", "ignored: no double underscore"),
        ]),
    )
    .unwrap();
    assert_eq!(cfg.aws.region, "eu-west-1");
    assert_eq!(cfg.server.max_body_bytes, 4096);
    assert_eq!(cfg.saml.idps[0].metadata_file.as_deref(), Some("b.xml"));
    assert_eq!(cfg.saml.idps[1].name, "second");
}

#[test]
fn every_problem_is_reported_at_once() {
    let err = load_str(
        r#"
[server]
listen = "nope"
bogus = 1
[aws]
region = "Mars"
[cache]
redis_url = "http://x"
[unknown]
[[saml.idps]]
name = "Bad Name"
"#,
        env(&[("FEDBROKER_LOG__LEVEL", "[[[")]),
    )
    .unwrap_err();
    let all = err.to_string();
    for needle in [
        "[server]",
        "aws.region",
        "cache.redis_url",
        "[unknown]",
        "saml.idps",
    ] {
        assert!(all.contains(needle), "missing {needle} in:\n{all}");
    }
    assert!(err.0.len() >= 5, "{all}");
}

#[test]
fn max_assertion_age_outside_its_range_is_refused() {
    let toml = |age: u64| {
        format!("[[saml.idps]]\nname = \"corp\"\nmetadata_file = \"a.xml\"\nmax_assertion_age_seconds = {age}\n")
    };
    for bad in [0, 59, 3601] {
        let errs = load_str(&toml(bad), Vec::<(String, String)>::new())
            .unwrap_err()
            .to_string();
        assert!(errs.contains("max_assertion_age_seconds"), "{errs}");
    }
    for good in [60, 300, 3600] {
        let cfg = load_str(&toml(good), Vec::<(String, String)>::new()).unwrap();
        assert_eq!(cfg.saml.idps[0].max_assertion_age_seconds, Some(good));
    }
}

#[test]
fn body_timeout_outside_its_range_is_refused() {
    let toml = |secs: u64| format!("[server]\nbody_timeout_secs = {secs}\n");
    for bad in [0, 301] {
        let errs = load_str(&toml(bad), Vec::<(String, String)>::new())
            .unwrap_err()
            .to_string();
        assert!(errs.contains("server.body_timeout_secs"), "{errs}");
    }
    let cfg = load_str(&toml(1), Vec::<(String, String)>::new()).unwrap();
    assert_eq!(cfg.server.body_timeout_secs, 1);
    assert_eq!(
        crate::config::Config::default().server.body_timeout_secs,
        10
    );
    assert_eq!(crate::config::Config::default().server.max_connections, 0);
}

#[test]
fn allow_cbc_without_decryption_keys_is_refused() {
    let errs = load_str(
        "[[saml.idps]]\nname = \"corp\"\nmetadata_file = \"a.xml\"\nallow_cbc = true\n",
        Vec::<(String, String)>::new(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        errs.contains("allow_cbc has no effect without decryption_key_files"),
        "{errs}"
    );
    let ok = load_str(
        "[[saml.idps]]\nname = \"corp\"\nmetadata_file = \"a.xml\"\nallow_cbc = true\n\
         decryption_key_files = [\"certs/test-sp-enc.key\"]\n",
        Vec::<(String, String)>::new(),
    )
    .unwrap();
    assert!(ok.saml.idps[0].allow_cbc);
    assert_eq!(ok.saml.idps[0].decryption_key_files.len(), 1);
}

#[test]
fn browser_sign_in_settings_are_checked() {
    let errs = load_str(
        "[saml]\nallowed_relay_states = [\"https://evil.example/\", \"//x\"]\n\
         [[oidc.providers]]\nname = \"p\"\nissuer = \"https://idp.example.com\"\n\
         audiences = [\"sts.amazonaws.com\"]\nclient_secret = \"s\"\n",
        Vec::<(String, String)>::new(),
    )
    .unwrap_err()
    .to_string();
    assert!(errs.contains("client_secret without client_id"), "{errs}");
    assert!(
        errs.contains("\"https://evil.example/\" must be a local path"),
        "{errs}"
    );
    assert!(errs.contains("\"//x\" must be a local path"), "{errs}");
}

#[test]
fn credential_cache_timeout_outside_its_bounds_is_refused() {
    for ms in [0, 49, 30_001] {
        let errs = load_str(
            &format!("[cache]\ncredential_cache_timeout_ms = {ms}\n"),
            Vec::<(String, String)>::new(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            errs.contains("cache.credential_cache_timeout_ms must be between 50 and 30000"),
            "{ms}: {errs}"
        );
    }
    for ms in [50, 500, 30_000] {
        let cfg = load_str(
            &format!("[cache]\ncredential_cache_timeout_ms = {ms}\n"),
            Vec::<(String, String)>::new(),
        )
        .unwrap_or_else(|e| panic!("{ms}: {e}"));
        assert_eq!(cfg.cache.credential_cache_timeout_ms, ms);
    }
    let default = load_str("", Vec::<(String, String)>::new()).unwrap();
    assert_eq!(default.cache.credential_cache_timeout_ms, 500);
}

#[test]
fn admin_token_and_revocation_block_are_checked() {
    let errs = load_str(
        "[server]\nadmin_token = \"short\"\n[cache]\nrevocation_block_seconds = 90000\n",
        Vec::<(String, String)>::new(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        errs.contains("server.admin_token must be at least 32"),
        "{errs}"
    );
    assert!(errs.contains("cache.revocation_block_seconds"), "{errs}");
    let errs = load_str(
        "[server]\nadmin_token_file = \"/nonexistent/admin-token\"\n",
        Vec::<(String, String)>::new(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        errs.contains("cannot read /nonexistent/admin-token"),
        "{errs}"
    );
    let ok = load_str(
        &format!("[server]\nadmin_token = \"{}\"\n", "x".repeat(32)),
        Vec::<(String, String)>::new(),
    );
    assert!(ok.is_ok());
}

#[test]
fn cache_encryption_keys_are_checked() {
    let key = "k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    let cfg = load_str(
        &format!("[cache]\nencryption_keys = [\"{key}\"]\n"),
        env(&[]),
    )
    .unwrap();
    assert_eq!(cfg.cache.encryption_keys.len(), 1);
    let err = load_str(
        "[cache]\nencryption_keys = [\"k1:c2hvcnQ=\"]\nredis_cluster_urls = [\"redis://127.0.0.1:7000\"]\n",
        env(&[]),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("32 bytes"), "{err}");
    assert!(!err.contains("c2hvcnQ"), "key material echoed: {err}");
    let err = load_str(
        "[cache]\nredis_cluster_urls = [\"redis://127.0.0.1:7000\"]\n",
        env(&[]),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("encryption_keys"), "{err}");
}

#[test]
fn tls_listener_keys_go_together() {
    let load = |toml: &str| load_str(toml, env(&[])).err().map(|e| e.to_string());
    let err = load("[server]\ntls_cert_file = \"c.pem\"\n").unwrap();
    assert!(err.contains("without server.tls_key_file"), "{err}");
    let err = load("[server]\ntls_key_file = \"k.pem\"\n").unwrap();
    assert!(err.contains("without server.tls_cert_file"), "{err}");
    let err = load("[server]\ntls_client_ca_file = \"ca.pem\"\n").unwrap();
    assert!(
        err.contains("tls_client_ca_file needs the TLS listener"),
        "{err}"
    );
    // The default public_url is plain http: with a TLS listener it must be the https one.
    let err = load("[server]\ntls_cert_file = \"c.pem\"\ntls_key_file = \"k.pem\"\n").unwrap();
    assert!(
        err.contains("server.public_url must be the https://"),
        "{err}"
    );
    assert_eq!(
        load(
            "[server]\npublic_url = \"https://broker.example.com\"\ntls_cert_file = \"c.pem\"\n\
             tls_key_file = \"k.pem\"\ntls_client_ca_file = \"ca.pem\"\n"
        ),
        None
    );
}

#[test]
fn https_required_except_loopback() {
    let err = load_str(
        "[aws]\nsts_endpoint = \"http://sts.example.com\"\n",
        env(&[]),
    )
    .unwrap_err();
    assert!(err.to_string().contains("must be https"));
    assert!(load_str(
        "[aws]\nsts_endpoint = \"http://127.0.0.1:5000\"\n",
        env(&[])
    )
    .is_ok());
}

#[test]
fn oidc_provider_keys_and_http_opt_in() {
    let ok = load_str(
        r#"
[[oidc.providers]]
name = "ci"
issuer = "https://token.actions.githubusercontent.com"
audiences = ["sts.amazonaws.com"]
allowed_algorithms = ["RS256", "ES256"]
jwks_ttl_secs = 600
jwks_refetch_cooldown_secs = 5
claim_conditions = { sub = ["repo:my-org/*"] }
[[oidc.providers]]
name = "local"
issuer = "http://127.0.0.1:9000"
audiences = ["a"]
allow_insecure_http = true
"#,
        env(&[]),
    )
    .unwrap();
    assert_eq!(
        ok.oidc.providers[0].claim_conditions.as_ref().unwrap()["sub"].len(),
        1
    );
    let err = load_str(
        r#"
[[oidc.providers]]
name = "a"
issuer = "http://127.0.0.1:9000"
audiences = ["a"]
[[oidc.providers]]
name = "b"
issuer = "http://idp.example"
audiences = ["a"]
allow_insecure_http = true
allowed_algorithms = ["HS256", "none"]
jwks_ttl_secs = 1
jwks_refetch_cooldown_secs = 0
"#,
        env(&[]),
    )
    .unwrap_err()
    .to_string();
    for needle in [
        "providers[0]",
        "allow_insecure_http",
        "allowed_algorithms",
        "jwks_ttl_secs",
        "jwks_refetch_cooldown_secs",
    ] {
        assert!(err.contains(needle), "missing {needle} in:\n{err}");
    }
}

#[test]
fn saml_idp_and_oidc_provider_sharing_a_name_is_a_config_error() {
    let err = load_str(
        r#"
[[saml.idps]]
name = "corp"
metadata_file = "a.xml"
[[oidc.providers]]
name = "corp"
issuer = "https://idp.example.com"
audiences = ["a"]
"#,
        env(&[]),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("oidc.providers[0] (\"corp\"): name is also used by saml.idps[0]"),
        "{err}"
    );
}

#[test]
fn metrics_listen_must_be_an_address_other_than_the_public_listener() {
    let load = |listen: &str, metrics: &str| {
        load_str(
            &format!("[server]\nlisten = \"{listen}\"\nmetrics_listen = \"{metrics}\"\n"),
            env(&[]),
        )
    };
    let cfg = load("0.0.0.0:8080", "0.0.0.0:9090").unwrap();
    assert_eq!(cfg.server.metrics_listen.as_deref(), Some("0.0.0.0:9090"));
    assert!(load("127.0.0.1:8080", "127.0.0.2:8080").is_ok(), "other IP");
    for (listen, metrics) in [
        ("127.0.0.1:8080", "127.0.0.1:8080"),
        ("0.0.0.0:8080", "127.0.0.1:8080"),
        ("127.0.0.1:8080", "0.0.0.0:8080"),
        ("[::]:8080", "127.0.0.1:8080"),
    ] {
        let err = load(listen, metrics).unwrap_err().to_string();
        assert!(
            err.contains("server.metrics_listen") && err.contains("takes the port"),
            "{listen} / {metrics}: {err}"
        );
    }
    let err = load("127.0.0.1:8080", "metrics.internal")
        .unwrap_err()
        .to_string();
    assert!(err.contains("is not an address like 0.0.0.0:9090"), "{err}");
    let cfg = load_str("", env(&[])).unwrap();
    assert_eq!(cfg.server.metrics_listen, None, "off by default");
}
