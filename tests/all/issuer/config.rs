//! Issuer mode configuration: every `[issuer]` problem (key files included) reported at once,
//! defaults, env overrides for rotation, and `fedbroker check-config`.

use crate::support::issuer as issuer_support;

use fedbroker::config::load_str;
use fedbroker::issuer::Issuer;
use issuer_support::*;
use std::sync::Arc;

// ---- configuration -------------------------------------------------------------------------------

fn weak_rsa_file(dir: &std::path::Path) -> String {
    let rsa = openssl::rsa::Rsa::generate(1024).unwrap();
    let pem = openssl::pkey::PKey::from_rsa(rsa)
        .unwrap()
        .private_key_to_pem_pkcs8()
        .unwrap();
    let path = dir.join("weak-rsa-1024.key");
    std::fs::write(&path, pem).unwrap();
    path.display().to_string()
}

#[test]
fn every_issuer_config_problem_is_reported_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let weak = weak_rsa_file(dir.path());
    let rsa1 = cert_path("issuer-rsa-1.key").display().to_string();
    let rsa2 = cert_path("issuer-rsa-2.key").display().to_string();
    let missing = dir.path().join("nope.key").display().to_string();
    let toml = format!(
        r#"
[issuer]
enabled = true
issuer_url = "https://broker.example.com:8443/"
token_lifetime_secs = 7200
[[issuer.keys]]
kid = "one"
file = "{rsa1}"
alg = "RS256"
active = true
[[issuer.keys]]
kid = "two"
file = "{rsa2}"
alg = "RS256"
active = true
[[issuer.keys]]
kid = "weak"
file = "{weak}"
alg = "RS256"
[[issuer.keys]]
kid = "missing"
file = "{missing}"
alg = "RS256"
[[issuer.keys]]
kid = "mismatch"
file = "{rsa1}"
alg = "ES256"
[[issuer.keys]]
kid = "bad kid!"
file = "{rsa2}"
alg = "HS256"
[[issuer.keys]]
kid = "one"
file = "{rsa2}"
alg = "RS256"
"#
    );
    let err = load_str(&toml, Vec::new()).unwrap_err();
    let all = err.to_string();
    for needle in [
        "issuer.issuer_url",
        "must not contain a port",
        "issuer.token_lifetime_secs",
        "exactly one key must have active = true (found 2",
        "(kid \"weak\")",
        "2048",
        "(kid \"missing\"): cannot read file",
        "(kid \"mismatch\")",
        "holds an RSA key, but alg ES256 needs an EC P-256 key",
        "(kid \"bad kid!\").kid",
        "alg \"HS256\" is not supported",
        "kids must be unique",
    ] {
        assert!(all.contains(needle), "missing {needle:?} in:\n{all}");
    }
    assert!(err.0.len() >= 9, "{all}");
    assert!(!all.contains("PRIVATE KEY"), "{all}");
}

#[test]
fn issuer_config_defaults_and_disabled_section() {
    // Disabled: key problems are not looked at; defaults as documented.
    let cfg = load_str("[issuer]\nkeys = []\n", Vec::new()).unwrap();
    assert!(!cfg.issuer.enabled);
    assert_eq!(cfg.issuer.audience, "sts.amazonaws.com");
    assert_eq!(cfg.issuer.token_lifetime_secs, 300);

    // Enabled with the demo keys; issuer_url defaults to server.public_url (loopback http is
    // accepted for local demos; anything else must be https without a port).
    let rsa1 = cert_path("issuer-rsa-1.key").display().to_string();
    let cfg = load_str(
        &format!(
            "[server]\npublic_url = \"http://127.0.0.1:8080\"\n[issuer]\nenabled = true\n\
             [[issuer.keys]]\nkid = \"k\"\nfile = \"{rsa1}\"\nalg = \"RS256\"\nactive = true\n"
        ),
        Vec::new(),
    )
    .unwrap();
    let iss = Issuer::from_config(
        &cfg.issuer,
        &cfg.server.public_url,
        Arc::new(fedbroker::clock::SystemClock),
    )
    .unwrap();
    assert_eq!(iss.issuer_url(), "http://127.0.0.1:8080");
    let env = vec![(
        "FEDBROKER_SERVER__PUBLIC_URL".to_owned(),
        "http://broker.example.com".to_owned(),
    )];
    let err = load_str(
        &format!(
            "[issuer]\nenabled = true\n[[issuer.keys]]\nkid = \"k\"\nfile = \"{rsa1}\"\nalg = \"RS256\"\nactive = true\n"
        ),
        env,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("defaulted from server.public_url"), "{err}");
}

/// Rotation without editing the file: `FEDBROKER_ISSUER__KEYS__<i>__ACTIVE` flips the active key.
#[test]
fn env_overrides_switch_the_active_key() {
    let rsa1 = cert_path("issuer-rsa-1.key").display().to_string();
    let rsa2 = cert_path("issuer-rsa-2.key").display().to_string();
    let toml = format!(
        "[issuer]\nenabled = true\nissuer_url = \"https://broker.example.com\"\n\
         [[issuer.keys]]\nkid = \"old\"\nfile = \"{rsa1}\"\nalg = \"RS256\"\nactive = true\n\
         [[issuer.keys]]\nkid = \"new\"\nfile = \"{rsa2}\"\nalg = \"RS256\"\n"
    );
    let env = |a: &str, b: &str| {
        vec![
            ("FEDBROKER_ISSUER__KEYS__0__ACTIVE".to_owned(), a.to_owned()),
            ("FEDBROKER_ISSUER__KEYS__1__ACTIVE".to_owned(), b.to_owned()),
        ]
    };
    let cfg = load_str(&toml, env("false", "true")).unwrap();
    let iss =
        Issuer::from_config(&cfg.issuer, "", Arc::new(fedbroker::clock::SystemClock)).unwrap();
    assert_eq!(iss.keys().active().kid(), "new");
    assert_eq!(iss.keys().len(), 2);
    let err = load_str(&toml, env("true", "true"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("exactly one key must have active = true"),
        "{err}"
    );
}

/// `fedbroker check-config` lists issuer problems with the rest and exits 2.
#[test]
fn check_config_cli_reports_issuer_problems() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fedbroker.toml");
    let rsa1 = cert_path("issuer-rsa-1.key").display().to_string();
    std::fs::write(
        &path,
        format!(
            "[aws]\nregion = \"Mars\"\n[issuer]\nenabled = true\nissuer_url = \"http://broker.example.com\"\n\
             [[issuer.keys]]\nkid = \"k\"\nfile = \"{rsa1}\"\nalg = \"ES256\"\nactive = true\n"
        ),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_fedbroker"))
        .args(["check-config", "--config"])
        .arg(&path)
        .env_remove("FEDBROKER_SERVER__PUBLIC_URL")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    for needle in [
        "aws.region",
        "issuer.issuer_url",
        "alg ES256 needs an EC P-256 key",
    ] {
        assert!(stderr.contains(needle), "missing {needle:?} in:\n{stderr}");
    }
}
