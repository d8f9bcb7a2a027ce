//! Hot reload in process: `Reloader::reload_from` swaps the mapping rules and SAML IdPs
//! that the next request sees (observed through `POST /v1/explain`), keeps the running ones when
//! the file or an IdP's metadata is bad (reporting every problem in check-config's wording), leaves
//! a snapshot taken before the swap untouched, applies the reloadable sections while naming those
//! that need a restart, refuses rules that only a restart could serve, counts every attempt in
//! `/metrics`, and is reachable as `POST /v1/admin/reload` behind the admin token.

use crate::support;

use actix_web::test;
use fedbroker::clock::{FixedClock, SharedClock};
use fedbroker::config;
use fedbroker::http::AppState;
use fedbroker::reload::Reloader;
use fedbroker::replay::memory::MemoryReplayGuard;
use fedbroker::sts::sdk::SdkStsClient;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use support::harness::{metadata_xml, t0, test_idp};
use support::saml_idp::{DigestAlg, KeyPair, SamlResponseBuilder, SigAlg};

const ROLE_A: &str = "arn:aws:iam::111122223333:role/ReaderA";
const ROLE_B: &str = "arn:aws:iam::111122223333:role/ReaderB";
const ADMIN_TOKEN: &str = "reload-test-admin-token-0123456789abcdef";

/// The config: the test IdP from `metadata` and one rule granting `role` to `*@example.com`.
fn config_text(metadata: &Path, role: &str) -> String {
    format!(
        r#"[server]
admin_token = "{ADMIN_TOKEN}"

[[saml.idps]]
name = "test-idp"
metadata_file = "{metadata}"

[[rules]]
name = "readers"
[rules.match]
provider = "test-idp"
subject = {{ glob = "*@example.com" }}
[[rules.grants]]
role_arn = "{role}"
mode = "assume-role"
"#,
        metadata = metadata.display()
    )
}

struct Setup {
    state: AppState,
    reloader: Arc<Reloader>,
    dir: tempfile::TempDir,
}

/// The test IdP's metadata (RSA and EC signing certificates).
fn metadata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("config/test-idp-metadata.xml")
}

/// Write `fedbroker.toml` in `dir`; its path as the reloader takes it.
fn write_config(dir: &Path, text: &str) -> String {
    let path = dir.join("fedbroker.toml");
    std::fs::write(&path, text).expect("write config");
    path.display().to_string()
}

impl Setup {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write_config(&self, text: &str) -> String {
        write_config(self.dir.path(), text)
    }

    async fn reload(&self, text: &str) -> Result<fedbroker::reload::ReloadSummary, Vec<String>> {
        let path = self.write_config(text);
        self.reloader.reload_from(&path).await.map_err(|e| e.0)
    }
}

/// A broker started from a file granting ROLE_A, with its reloader (as `fedbroker serve` wires
/// it). STS is a closed loopback port: explaining never calls it.
fn setup() -> Setup {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_config(dir.path(), &config_text(&metadata(), ROLE_A));
    let cfg = config::load(Some(&path)).expect("config loads");
    let clock: SharedClock = Arc::new(FixedClock::new(t0()));
    let state = AppState::from_parts(
        &cfg,
        vec![test_idp()],
        Arc::new(SdkStsClient::new("us-east-1", Some("http://127.0.0.1:9"))),
        Arc::new(MemoryReplayGuard::new(clock.clone())),
        clock,
    );
    let reloader = Arc::new(Reloader::new(
        path,
        cfg,
        state.live_handle(),
        state.metrics.clone(),
    ));
    Setup {
        state: state.with_reloader(reloader.clone()),
        reloader,
        dir,
    }
}

async fn call(state: &AppState, req: test::TestRequest) -> (u16, Value) {
    let (status, _, body) = support::http::send(state, req).await;
    (status, body)
}

/// A fresh response from the test IdP (its RSA key, or the EC `key` given).
fn saml(key: Option<KeyPair>) -> String {
    let mut b = SamlResponseBuilder::new(t0());
    b.assertion_id = format!("_a{}", uuid::Uuid::new_v4().simple());
    match key {
        Some(k) => b
            .key(k)
            .algorithms(SigAlg::EcdsaSha256, DigestAlg::Sha256)
            .build_base64(),
        None => b.build_base64(),
    }
}

/// `POST /v1/explain` for a fresh response: (status, granted role or error code).
async fn granted(state: &AppState, key: Option<KeyPair>) -> (u16, String) {
    let (status, body) = call(
        state,
        test::TestRequest::post()
            .uri("/v1/explain")
            .set_json(json!({ "saml_response": saml(key) })),
    )
    .await;
    let what = body["role_arn"]
        .as_str()
        .or(body["error"]["code"].as_str())
        .unwrap_or_else(|| panic!("neither a role nor an error: {body}"))
        .to_owned();
    (status, what)
}

async fn metrics(state: &AppState) -> String {
    let (_, body) = call(state, test::TestRequest::get().uri("/metrics")).await;
    body.as_str().expect("metrics text").to_owned()
}

#[actix_web::test]
async fn new_rules_take_effect_for_the_next_request() {
    let s = setup();
    assert_eq!(granted(&s.state, None).await, (200, ROLE_A.to_owned()));

    let summary = s
        .reload(&config_text(&metadata(), ROLE_B))
        .await
        .expect("reload applies");
    assert_eq!(granted(&s.state, None).await, (200, ROLE_B.to_owned()));
    assert!(summary.rules_changed, "{summary:?}");
    assert_eq!((summary.rules, summary.rules_before), (1, 1));
    assert_eq!((summary.saml_idps, summary.saml_idps_before), (1, 1));
    assert_eq!(summary.signing_keys, 2, "RSA and EC certificates");
    assert!(summary.restart_needed.is_empty(), "{summary:?}");

    let m = metrics(&s.state).await;
    assert!(
        m.contains("fedbroker_config_reloads_total{outcome=\"success\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("fedbroker_config_last_reload_successful 1"),
        "{m}"
    );
    let stamp = format!(
        "fedbroker_config_last_reload_success_timestamp_seconds {}",
        t0().timestamp()
    );
    assert!(m.contains(&stamp), "{m}");
}

#[actix_web::test]
async fn a_bad_rules_file_keeps_the_old_rules_and_reports_every_problem() {
    let s = setup();
    // Two problems: an invalid role ARN, and a rule for a provider nobody configured.
    let bad = config_text(&metadata(), "arn:aws:iam::1234:role/TooShortAccount").replace(
        "name = \"readers\"\n[rules.match]\nprovider = \"test-idp\"",
        "name = \"readers\"\n[rules.match]\nprovider = \"nobody\"",
    );
    let problems = s.reload(&bad).await.expect_err("reload refused");

    // The same problems, in the same words, as check-config (config::load) reports.
    let path = s.path("fedbroker.toml").display().to_string();
    let expected = config::load(Some(&path)).expect_err("bad file").0;
    assert_eq!(problems, expected);
    assert!(problems.len() >= 2, "{problems:?}");
    assert!(
        problems.iter().any(|p| p.contains("nobody")),
        "{problems:?}"
    );
    assert!(
        problems.iter().any(|p| p.contains("role_arn")),
        "{problems:?}"
    );

    // The running rules stay.
    assert_eq!(granted(&s.state, None).await, (200, ROLE_A.to_owned()));
    let m = metrics(&s.state).await;
    assert!(
        m.contains("fedbroker_config_reloads_total{outcome=\"failure\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("fedbroker_config_last_reload_successful 0"),
        "{m}"
    );

    // A file that is not TOML at all, then a good one: the broker recovers on the next reload.
    let problems = s.reload("[[rules]\nname = ").await.expect_err("refused");
    assert!(problems[0].contains("not valid TOML"), "{problems:?}");
    assert_eq!(granted(&s.state, None).await, (200, ROLE_A.to_owned()));
    s.reload(&config_text(&metadata(), ROLE_B))
        .await
        .expect("good file applies");
    assert_eq!(granted(&s.state, None).await, (200, ROLE_B.to_owned()));
}

#[actix_web::test]
async fn metadata_with_a_bad_certificate_keeps_the_old_idp() {
    let s = setup();
    // The RSA certificate replaced by base64 that is no X.509 certificate; new rules alongside.
    let xml = metadata_xml();
    let start = xml.find("<ds:X509Certificate>").expect("cert") + "<ds:X509Certificate>".len();
    let end = start + xml[start..].find("</ds:X509Certificate>").expect("end");
    let broken = format!("{}AAAAAAAA{}", &xml[..start], &xml[end..]);
    let path = s.path("broken-metadata.xml");
    std::fs::write(&path, broken).unwrap();

    let problems = s
        .reload(&config_text(&path, ROLE_B))
        .await
        .expect_err("reload refused");
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].starts_with("saml.idps \"test-idp\":") && problems[0].contains("certificate"),
        "{problems:?}"
    );
    // Old IdP and old rules: a response signed with the RSA key is still accepted, as before.
    assert_eq!(granted(&s.state, None).await, (200, ROLE_A.to_owned()));
}

#[actix_web::test]
async fn rotated_metadata_takes_effect_and_a_held_snapshot_keeps_the_old_trust() {
    let s = setup();
    // The new metadata pins only the EC certificate (the RSA key is retired).
    let xml = metadata_xml();
    let first = xml.find("<md:KeyDescriptor").expect("key descriptor");
    let second = first + 1 + xml[first + 1..].find("<md:KeyDescriptor").expect("second");
    let rotated = format!("{}{}", &xml[..first], &xml[second..]);
    let path = s.path("rotated-metadata.xml");
    std::fs::write(&path, rotated).unwrap();

    let in_flight = s.state.live();
    let summary = s
        .reload(&config_text(&path, ROLE_A))
        .await
        .expect("rotation applies");
    assert_eq!(summary.idps_changed, ["test-idp"]);
    assert_eq!(summary.signing_keys, 1);
    assert!(!summary.rules_changed, "{summary:?}");

    // New requests: RSA-signed responses are refused, EC-signed ones accepted.
    let (status, code) = granted(&s.state, None).await;
    assert_eq!(status, 401, "{code}");
    assert_eq!(
        granted(&s.state, Some(KeyPair::test_idp_ec())).await,
        (200, ROLE_A.to_owned())
    );
    // A request that took its snapshot before the swap finishes with the trust it started with.
    assert_eq!(in_flight.exchange.saml.idps()[0].signing_certs.len(), 2);
    assert_eq!(s.state.exchange().saml.idps()[0].signing_certs.len(), 1);
    assert!(in_flight
        .exchange
        .saml
        .validate(&saml(None))
        .is_ok_and(|i| i.provider() == "test-idp"));
    assert!(!Arc::ptr_eq(&in_flight.exchange, &s.state.exchange()));
}

#[actix_web::test]
async fn sections_that_need_a_restart_are_named_and_keep_their_running_values() {
    let s = setup();
    let before = s.state.exchange();
    let text = format!(
        "{}\n[limits]\nper_client_per_minute = 7\n[aws]\nregion = \"eu-west-1\"\n",
        config_text(&metadata(), ROLE_B)
    );
    let summary = s.reload(&text).await.expect("reloadable parts apply");
    assert_eq!(summary.restart_needed, ["aws", "limits"]);
    assert_eq!(granted(&s.state, None).await, (200, ROLE_B.to_owned()));
    let after = s.state.exchange();
    assert!(Arc::ptr_eq(&before.limits, &after.limits));
    assert_eq!(before.sts_scope, after.sts_scope);
    // The IdP was rebuilt with the running region: its regional recipient is still us-east-1's.
    let recipients = &after.saml.idps()[0].recipients;
    assert!(
        recipients.iter().any(|r| r.contains("us-east-1"))
            && !recipients.iter().any(|r| r.contains("eu-west-1")),
        "{recipients:?}"
    );
}

#[actix_web::test]
async fn rules_only_a_restart_could_serve_are_refused() {
    let s = setup();
    let text = format!(
        "{}\n[[oidc.providers]]\nname = \"ci\"\nissuer = \"https://token.example.com\"\n\
         audiences = [\"sts.amazonaws.com\"]\n\n[[rules]]\nname = \"ci-deploy\"\n\
         [rules.match]\nprovider = \"ci\"\n[[rules.grants]]\n\
         role_arn = \"arn:aws:iam::111122223333:role/Deploy\"\nmode = \"pass-through\"\n",
        config_text(&metadata(), ROLE_B)
    );
    let problems = s.reload(&text).await.expect_err("refused");
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains("\"ci-deploy\"") && problems[0].contains("restart"),
        "{problems:?}"
    );
    assert_eq!(granted(&s.state, None).await, (200, ROLE_A.to_owned()));
}

#[actix_web::test]
async fn admin_reload_needs_the_token_and_reports_the_outcome() {
    let s = setup();
    let post = || test::TestRequest::post().uri("/v1/admin/reload");

    let (status, body) = call(&s.state, post()).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"]["code"], "admin_unauthorized");

    s.write_config(&config_text(&metadata(), ROLE_B));
    let auth = ("Authorization", format!("Bearer {ADMIN_TOKEN}"));
    let (status, body) = call(&s.state, post().insert_header(auth.clone())).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "reloaded");
    assert_eq!(body["applied"]["rules"], 1);
    assert_eq!(body["applied"]["rules_changed"], true);
    assert_eq!(granted(&s.state, None).await, (200, ROLE_B.to_owned()));

    s.write_config("[[rules]]\nname = 1\n");
    let (status, body) = call(&s.state, post().insert_header(auth)).await;
    assert_eq!(status, 500, "{body}");
    assert_eq!(body["error"]["code"], "config_reload_failed");
    assert!(!body["error"]["problems"]
        .as_array()
        .expect("problems")
        .is_empty());
    assert_eq!(granted(&s.state, None).await, (200, ROLE_B.to_owned()));
}
