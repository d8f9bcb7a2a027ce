//! End to end with the real `fedbroker` binary and moto: `decryption_key_files` from the config
//! file decrypts an encrypted assertion (xmlsec1-made) exchanged at `/v1/saml/credentials` for an
//! `assume-role` grant; `check-config` names every bad key file and the reason; key material
//! never reaches the logs.

use crate::support::broker;
use crate::support::encrypt;
use crate::support::saml_idp;

use broker::{repo_path, Broker, BrokerOptions};
use chrono::Utc;
use encrypt::{encrypt_assertion, EncSpec, KeyPlacement, GCM256};
use saml_idp::{SamlResponseBuilder, SignWhat};
use serde_json::Value;

fn config_tail(key_files: &[&str]) -> String {
    let files: Vec<String> = key_files
        .iter()
        .map(|f| {
            format!(
                "{:?}",
                repo_path(&format!("certs/{f}")).display().to_string()
            )
        })
        .collect();
    format!(
        r#"decryption_key_files = [{}]

[[rules]]
name = "encrypted-people"
[rules.match]
provider = "test-idp"
subject = "alice@example.com"
[[rules.grants]]
role_arn = "arn:aws:iam::111122223333:role/ReadOnly"
mode = "assume-role"
session_name = "{{subject}}"
"#,
        files.join(", ")
    )
}

#[tokio::test]
async fn encrypted_assertion_is_exchanged_for_credentials_through_moto() {
    let broker = Broker::start_on(
        BrokerOptions {
            // The tail continues the [[saml.idps]] table, so no [cache] section may come between.
            redis: false,
            extra_toml: config_tail(&["test-sp-enc.key"]),
        },
        broker::spare_port(),
        &[
            ("AWS_ACCESS_KEY_ID", "AKIAE2EBROKERTESTKEY"),
            ("AWS_SECRET_ACCESS_KEY", "e2e-broker-secret-TEST-ONLY"),
        ],
    );
    let mut b = SamlResponseBuilder::new(Utc::now()).sign(SignWhat::Assertion);
    b.assertion_id = format!("_a{}", uuid::Uuid::new_v4().simple());
    let xml = encrypt_assertion(
        &b.build_xml(),
        &EncSpec::new(GCM256, KeyPlacement::InKeyInfo),
    );
    let saml = saml_idp::b64(&xml);
    let resp = reqwest::Client::new()
        .post(broker.url("/v1/saml/credentials"))
        .form(&[("SAMLResponse", saml.as_str())])
        .send()
        .await
        .expect("request");
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.expect("JSON body");
    assert_eq!(status, 200, "{body}\n{}", broker.logs());
    assert_eq!(body["Mode"], "assume-role", "{body}");
    assert_eq!(body["Subject"], "alice@example.com");
    let arn = body["AssumedRoleArn"].as_str().expect("AssumedRoleArn");
    assert!(arn.contains("assumed-role/ReadOnly/"), "{arn}");

    let logs = broker.logs();
    let pem = std::fs::read_to_string(repo_path("certs/test-sp-enc.key")).unwrap();
    let key_line = pem.lines().nth(2).unwrap();
    assert!(
        !logs.contains(key_line),
        "decryption key material in the logs"
    );
    assert!(
        !logs.contains(&saml[..60]),
        "the Response leaked into the logs"
    );
}

#[test]
fn check_config_names_each_bad_decryption_key_file_and_why() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("fedbroker.toml");
    std::fs::write(
        &cfg,
        format!(
            "[[saml.idps]]\nname = \"test-idp\"\nmetadata_file = {:?}\n{}",
            repo_path("config/test-idp-metadata.xml")
                .display()
                .to_string(),
            config_tail(&[
                "test-sp-enc.key",
                "weak-rsa1024.key",
                "test-idp-ec.key",
                "test-sp-enc.crt",
                "missing.key",
            ])
        ),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_fedbroker"))
        .args(["check-config", "--config"])
        .arg(&cfg)
        .output()
        .expect("run check-config");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{text}");
    for (file, why) in [
        ("weak-rsa1024.key", "under 2048 bits"),
        ("test-idp-ec.key", "RSA"),
        ("test-sp-enc.crt", "no unencrypted PEM private key"),
        ("missing.key", "cannot read"),
    ] {
        let line = text
            .lines()
            .flat_map(|l| l.split("; "))
            .find(|l| l.contains(file))
            .unwrap_or_else(|| panic!("{file} not reported:\n{text}"));
        assert!(line.contains(why), "{file}: {line}");
    }
    assert!(
        !text.contains("test-sp-enc.key "),
        "the good key is not reported: {text}"
    );
    let pem = std::fs::read_to_string(repo_path("certs/weak-rsa1024.key")).unwrap();
    assert!(
        !text.contains(pem.lines().nth(1).unwrap()),
        "key material in the report"
    );
}
