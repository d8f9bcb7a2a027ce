//! `fedbroker saml-check`, run as the real binary: verdicts and exit codes (0 accepted, 1 refused,
//! 2 usage/config), the JSON report's fields, the text report's failing check and hint, input
//! forms (base64 file, raw XML file, stdin), the roles mapping rules offer, and that nothing from
//! an unverified document is reported as verified.
//!
//! Responses come from the test IdP signer (`support/saml_idp.rs`, the IdP of
//! `config/test-idp-metadata.xml`), issued at a fixed instant that `--at` names.

use crate::support::encrypt;
use crate::support::saml_idp;

use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use saml_idp::{SamlResponseBuilder, SignWhat, DEFAULT_ROLE, TEST_IDP_ENTITY_ID};
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const ISSUED: &str = "2026-01-15T10:00:00Z";
const DEPLOY: &str = "arn:aws:iam::111122223333:role/Deploy";

fn issued() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(ISSUED).unwrap().into()
}

fn metadata(name: &str) -> String {
    format!("{}/config/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// A temp dir holding `fedbroker.toml`: IdP `corp` (the test IdP), IdP `other` (another IdP), and
/// `extra` (rules...).
struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    fn new(extra: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let cfg = format!(
            "[[saml.idps]]\nname = \"corp\"\nmetadata_file = \"{}\"\n\n\
             [[saml.idps]]\nname = \"other\"\nmetadata_file = \"{}\"\n\n{extra}\n",
            metadata("test-idp-metadata.xml"),
            metadata("e2e-saml-idp-metadata.xml"),
        );
        std::fs::write(dir.path().join("fedbroker.toml"), cfg).unwrap();
        Self { dir }
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("fedbroker.toml")
    }

    /// `saml-check --idp corp --at ISSUED --json FILE` with this config.
    fn check_json(&self, file: &Path) -> Out {
        saml_check(
            &self.config(),
            &[
                "--idp",
                "corp",
                "--at",
                ISSUED,
                "--json",
                file.to_str().unwrap(),
            ],
            None,
        )
    }
    fn file(&self, name: &str, content: impl AsRef<[u8]>) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, content).unwrap();
        p
    }
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Out {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON object ({e}):\n{}", self.stdout))
    }
}

fn saml_check(config: &Path, args: &[&str], stdin: Option<&[u8]>) -> Out {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_fedbroker"));
    cmd.arg("saml-check")
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("FEDBROKER_CONFIG")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn response() -> SamlResponseBuilder {
    SamlResponseBuilder::new(issued()).sign(SignWhat::Both)
}

fn assert_accepted_json(out: &Out) -> Value {
    assert_eq!(
        out.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        out.stdout, out.stderr
    );
    let j = out.json();
    assert_eq!(j["accepted"], true);
    assert_eq!(j["code"], Value::Null);
    assert_eq!(j["message"], Value::Null);
    assert_eq!(j["issuer"], TEST_IDP_ENTITY_ID);
    assert_eq!(j["subject"], "alice@example.com");
    assert_eq!(j["signature_verified"], true);
    assert_eq!(j["unverified_issuer"], Value::Null);
    j
}

#[test]
fn accepted_base64_file_reports_identity_signature_and_roles() {
    let s = Setup::new("");
    let file = s.file("r.b64", response().build_base64());
    let out = s.check_json(&file);
    let j = assert_accepted_json(&out);
    assert_eq!(
        j["attributes"]["https://aws.amazon.com/SAML/Attributes/RoleSessionName"][0],
        "alice"
    );
    assert_eq!(j["encrypted"], false);
    assert_eq!(j["checked_at"], ISSUED);
    let sig = &j["signature"];
    assert_eq!(sig["algorithm"], "rsa-sha256");
    assert_eq!(sig["digest"], "sha256");
    assert_eq!(sig["c14n"], "exc-c14n");
    assert_eq!(sig["legacy"], false);
    assert_eq!(sig["signed"], "both");
    let fp = sig["key_fingerprint"].as_str().unwrap();
    assert!(
        fp.len() == 64 && fp.bytes().all(|b| b.is_ascii_hexdigit()),
        "{fp}"
    );
    // Without rules, the Role attribute offers its role, pass-through.
    let role = DEFAULT_ROLE.split(',').next().unwrap();
    assert_eq!(j["roles"].as_array().unwrap().len(), 1);
    assert_eq!(j["roles"][0]["role_arn"], role);
    assert_eq!(j["roles"][0]["mode"], "pass-through");
    assert_eq!(j["roles"][0]["rule"], "saml-role-attribute");
    assert!(j["roles"][0].as_object().unwrap().contains_key("alias"));
}

#[test]
fn raw_xml_file_and_stdin_in_either_form_are_accepted() {
    let s = Setup::new("");
    let xml = response().build_xml();
    // Raw XML with a byte-order mark and leading blank line, as editors save it.
    let file = s.file("r.xml", format!("\u{feff}\n{xml}\n"));
    let args = |last: &str| -> Vec<String> {
        ["--idp", "corp", "--at", ISSUED, "--json", last]
            .map(String::from)
            .to_vec()
    };
    let run = |last: &str, stdin: Option<&[u8]>| {
        let argv = args(last);
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        saml_check(&s.config(), &argv, stdin)
    };
    let out = run(file.to_str().unwrap(), None);
    assert_accepted_json(&out);

    // Base64 on stdin, wrapped at 76 columns (as `base64` prints it).
    let b64 = base64::engine::general_purpose::STANDARD.encode(xml.as_bytes());
    let wrapped: Vec<&str> = b64
        .as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    let out = run("-", Some(wrapped.join("\n").as_bytes()));
    assert_accepted_json(&out);

    // Raw XML on stdin.
    let out = run("-", Some(xml.as_bytes()));
    assert_accepted_json(&out);
}

#[test]
fn which_element_is_signed_is_reported() {
    let s = Setup::new("");
    for (what, name) in [
        (SignWhat::Response, "response"),
        (SignWhat::Assertion, "assertion"),
    ] {
        let file = s.file("r.b64", response().sign(what).build_base64());
        let out = s.check_json(&file);
        let j = assert_accepted_json(&out);
        assert_eq!(j["signature"]["signed"], name);
    }
}

#[test]
fn the_same_response_later_is_refused_expired() {
    let s = Setup::new("");
    let file = s.file("r.b64", response().build_base64());
    let later = (issued() + Duration::minutes(10)).to_rfc3339();
    let out = saml_check(
        &s.config(),
        &[
            "--idp",
            "corp",
            "--at",
            &later,
            "--json",
            file.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(out.code, 1, "{}", out.stdout);
    let j = out.json();
    assert_eq!(j["accepted"], false);
    assert_eq!(j["code"], "saml_expired");
    assert!(j["message"].as_str().unwrap().contains("has passed"));
    assert_eq!(j["check"], "profile");
    // The signature verified before the time check: its facts are reported, the roles are not.
    assert_eq!(j["signature_verified"], true);
    assert_eq!(j["signature"]["signed"], "both");
    assert_eq!(j["issuer"], TEST_IDP_ENTITY_ID);
    assert_eq!(j["roles"], serde_json::json!([]));
}

#[test]
fn checking_consumes_nothing_so_the_same_response_checks_twice() {
    let s = Setup::new("");
    let file = s.file("r.b64", response().build_base64());
    for _ in 0..2 {
        let out = saml_check(
            &s.config(),
            &["--idp", "corp", "--at", ISSUED, file.to_str().unwrap()],
            None,
        );
        assert_eq!(out.code, 0, "{}", out.stdout);
    }
}

#[test]
fn tampered_response_is_refused_and_its_unverified_subject_is_not_reported() {
    let s = Setup::new("");
    let xml = response().build_xml();
    assert!(xml.contains("alice@example.com"));
    let file = s.file(
        "t.xml",
        xml.replace("alice@example.com", "mallory@example.com"),
    );
    let out = s.check_json(&file);
    assert_eq!(out.code, 1, "{}", out.stdout);
    let j = out.json();
    assert_eq!(j["code"], "saml_signature_invalid");
    assert_eq!(j["check"], "signature");
    assert_eq!(j["signature_verified"], false);
    assert_eq!(j["subject"], Value::Null);
    assert_eq!(j["issuer"], Value::Null);
    assert_eq!(j["signature"], Value::Null);
    assert_eq!(j["attributes"], serde_json::json!({}));
    assert_eq!(j["unverified_issuer"], TEST_IDP_ENTITY_ID);
    assert_eq!(
        j["unverified_fields"],
        serde_json::json!(["unverified_issuer"])
    );
    assert!(!out.stdout.contains("mallory"), "{}", out.stdout);

    let human = saml_check(
        &s.config(),
        &["--idp", "corp", "--at", ISSUED, file.to_str().unwrap()],
        None,
    );
    assert_eq!(human.code, 1);
    assert!(human.stdout.contains("UNVERIFIED"), "{}", human.stdout);
    assert!(!human.stdout.contains("mallory"), "{}", human.stdout);
}

#[test]
fn response_from_another_configured_idp_is_refused_issuer_unknown() {
    let s = Setup::new("");
    let file = s.file("r.b64", response().build_base64());
    let out = saml_check(
        &s.config(),
        &[
            "--idp",
            "other",
            "--at",
            ISSUED,
            "--json",
            file.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(out.code, 1, "{}", out.stdout);
    let j = out.json();
    assert_eq!(j["code"], "saml_issuer_unknown");
    assert_eq!(j["check"], "issuer");
    assert_eq!(j["issuer"], Value::Null);
}

#[test]
fn text_report_names_the_failing_check_the_server_message_and_the_hint() {
    let s = Setup::new("");
    let file = s.file("r.b64", response().build_base64());
    let later = (issued() + Duration::hours(1)).to_rfc3339();
    let out = saml_check(
        &s.config(),
        &["--idp", "corp", "--at", &later, file.to_str().unwrap()],
        None,
    );
    assert_eq!(out.code, 1);
    let text = &out.stdout;
    assert!(text.starts_with("REFUSED"), "{text}");
    let check_line = text
        .lines()
        .find(|l| l.trim_start().starts_with("failed check:"));
    assert!(check_line.is_some_and(|l| l.ends_with("profile")), "{text}");
    assert!(text.contains("saml_expired: "), "{text}");
    assert!(text.contains("hint:") && text.contains("--at"), "{text}");

    let ok = saml_check(
        &s.config(),
        &["--idp", "corp", "--at", ISSUED, file.to_str().unwrap()],
        None,
    );
    assert_eq!(ok.code, 0);
    assert!(ok.stdout.starts_with("ACCEPTED"), "{}", ok.stdout);
    assert!(ok.stdout.contains("alice@example.com"), "{}", ok.stdout);
    assert!(ok.stdout.contains("roles offered"), "{}", ok.stdout);
}

const RULES: &str = r#"
[[rules]]
name = "corp-admins"
[rules.match]
provider = "corp"
attributes.groups = { contains = "admins" }
[[rules.grants]]
role_arn = "arn:aws:iam::111122223333:role/Deploy"
mode = "assume-role"
alias = "deploy"
"#;

#[test]
fn roles_come_from_the_mapping_rules() {
    let s = Setup::new(RULES);
    let file = s.file(
        "r.b64",
        response()
            .attribute("groups", &["staff", "admins"])
            .build_base64(),
    );
    let out = s.check_json(&file);
    let j = assert_accepted_json(&out);
    assert_eq!(
        j["roles"],
        serde_json::json!([{
            "role_arn": DEPLOY, "alias": "deploy", "mode": "assume-role", "rule": "corp-admins"
        }])
    );
    assert!(out.stdout.contains("groups"));
}

#[test]
fn no_matching_rule_is_refused_with_the_verified_identity_reported() {
    let s = Setup::new(RULES);
    let file = s.file(
        "r.b64",
        response().attribute("groups", &["staff"]).build_base64(),
    );
    let out = s.check_json(&file);
    assert_eq!(out.code, 1, "{}", out.stdout);
    let j = out.json();
    assert_eq!(j["code"], "no_matching_rule");
    assert_eq!(j["check"], "mapping");
    assert_eq!(j["subject"], "alice@example.com");
    assert_eq!(j["attributes"]["groups"][0], "staff");
    assert_eq!(j["roles"], serde_json::json!([]));
}

#[test]
fn an_encrypted_assertion_is_reported_as_encrypted() {
    let s = Setup::new("");
    let xml = format!(
        r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_r" Version="2.0" IssueInstant="{ISSUED}"><saml:Issuer>{TEST_IDP_ENTITY_ID}</saml:Issuer><saml:EncryptedAssertion><xenc:EncryptedData xmlns:xenc="http://www.w3.org/2001/04/xmlenc#"/></saml:EncryptedAssertion></samlp:Response>"#
    );
    let file = s.file("enc.xml", xml);
    let out = s.check_json(&file);
    assert_eq!(out.code, 1, "{}", out.stdout);
    let j = out.json();
    assert_eq!(j["encrypted"], true);
    assert!(j["code"].is_string());
    assert_eq!(j["subject"], Value::Null);
}

#[test]
fn usage_and_config_errors_exit_2_with_a_clear_message_and_nothing_on_stdout() {
    let s = Setup::new("");
    let file = s.file("r.b64", response().build_base64());
    let f = file.to_str().unwrap();
    let cases: Vec<(PathBuf, Vec<&str>, &str)> = vec![
        (
            s.config(),
            vec!["--idp", "nope", f],
            "no [[saml.idps]] entry is named \"nope\"",
        ),
        (
            s.config(),
            vec!["--idp", "corp", "/nonexistent/response.b64"],
            "cannot read the SAML Response from /nonexistent/response.b64",
        ),
        (
            s.config(),
            vec!["--idp", "corp", "--at", "yesterday", f],
            "RFC 3339",
        ),
        (
            s.file("bad.toml", "[[saml.idps]\nname ="),
            vec!["--idp", "corp", f],
            "not valid TOML",
        ),
        (
            s.file(
                "nometa.toml",
                "[[saml.idps]]\nname = \"corp\"\nmetadata_file = \"/nonexistent/md.xml\"\n",
            ),
            vec!["--idp", "corp", f],
            "cannot read metadata_file /nonexistent/md.xml",
        ),
        (s.config(), vec!["--idp", "corp"], "RESPONSE"),
    ];
    for (config, args, needle) in cases {
        let out = saml_check(&config, &args, None);
        assert_eq!(out.code, 2, "{args:?}: {}{}", out.stdout, out.stderr);
        assert!(out.stdout.is_empty(), "{args:?}: {}", out.stdout);
        assert!(
            out.stderr.contains(needle),
            "{args:?}: {needle:?} not in {}",
            out.stderr
        );
    }
}

#[test]
fn sha1_signed_response_is_refused_with_the_algorithm_and_a_hint() {
    let s = Setup::new("");
    let file = s.file(
        "r.b64",
        response()
            .algorithms(saml_idp::SigAlg::RsaSha1, saml_idp::DigestAlg::Sha1)
            .build_base64(),
    );
    let out = s.check_json(&file);
    assert_eq!(out.code, 1, "{}", out.stdout);
    let j = out.json();
    assert_eq!(j["code"], "saml_algorithm_forbidden");
    assert!(
        j["message"].as_str().unwrap().contains("rsa-sha1")
            || j["message"].as_str().unwrap().contains("sha1")
    );
    assert!(j["hint"].as_str().unwrap().contains("RSA-SHA256"));
    assert_eq!(j["signature"], Value::Null);
}

/// An Assertion signed by the IdP, then AES-CBC encrypted, in an unsigned Response (what most real
/// IdPs send): without `allow_cbc` the report names the CBC opt-in as the one thing missing; with
/// it (and the decryption key) the Response is accepted and reported as encrypted.
#[test]
fn cbc_encrypted_assertion_names_the_cbc_opt_in_then_is_accepted_with_it() {
    let key = format!("{}/certs/test-sp-enc.key", env!("CARGO_MANIFEST_DIR"));
    let xml = SamlResponseBuilder::new(issued())
        .sign(SignWhat::Assertion)
        .build_xml();
    let spec = encrypt::EncSpec::new(encrypt::CBC128, encrypt::KeyPlacement::InKeyInfo);
    let encrypted = encrypt::encrypt_assertion(&xml, &spec);
    let run = |extra: &str, json: bool| {
        let s = Setup::new("");
        let cfg = std::fs::read_to_string(s.config()).unwrap().replacen(
            "name = \"corp\"\n",
            &format!("name = \"corp\"\ndecryption_key_files = [\"{key}\"]\n{extra}"),
            1,
        );
        std::fs::write(s.config(), cfg).unwrap();
        let file = s.file("enc.xml", &encrypted);
        let mut args = vec!["--idp", "corp", "--at", ISSUED];
        if json {
            args.push("--json");
        }
        args.push(file.to_str().unwrap());
        saml_check(&s.config(), &args, None)
    };

    let refused = run("", true);
    assert_eq!(refused.code, 1, "{}", refused.stdout);
    let j = refused.json();
    assert_eq!(j["code"], "saml_encryption_cbc_not_allowed");
    assert_eq!(j["encrypted"], true);
    assert_eq!(j["check"], "decryption");
    assert!(j["hint"].as_str().unwrap().contains("allow_cbc"), "{j}");
    let text = run("", false);
    assert!(text.stdout.contains("allow_cbc"), "{}", text.stdout);

    let accepted = run("allow_cbc = true\n", true);
    let j = assert_accepted_json(&accepted);
    assert_eq!(j["encrypted"], true);
    assert_eq!(j["signature"]["signed"], "assertion");
}

/// The broker's own SP key (`[saml] sp_key_file`), whose certificate `/saml/metadata` publishes for
/// encryption, decrypts every IdP's assertions without a `decryption_key_files` entry; without it
/// the same Response is refused as unsupported encryption.
#[test]
fn the_sp_key_published_for_encryption_also_decrypts() {
    let certs = format!("{}/certs", env!("CARGO_MANIFEST_DIR"));
    let xml = SamlResponseBuilder::new(issued())
        .sign(SignWhat::Assertion)
        .build_xml();
    let mut spec = encrypt::EncSpec::new(encrypt::GCM128, encrypt::KeyPlacement::InKeyInfo);
    spec.cert = "saml-sp.crt";
    let encrypted = encrypt::encrypt_assertion(&xml, &spec);
    let run = |sp_key: bool| {
        let extra = if sp_key {
            format!(
                "[saml]\nsp_key_file = \"{certs}/saml-sp.key\"\nsp_cert_file = \"{certs}/saml-sp.crt\"\n"
            )
        } else {
            String::new()
        };
        let s = Setup::new(&extra);
        let file = s.file("enc.xml", &encrypted);
        s.check_json(&file)
    };
    let j = assert_accepted_json(&run(true));
    assert_eq!(j["encrypted"], true);
    let refused = run(false);
    assert_eq!(refused.code, 1, "{}", refused.stdout);
    assert_eq!(
        refused.json()["code"],
        "saml_encrypted_assertion_unsupported"
    );
}
