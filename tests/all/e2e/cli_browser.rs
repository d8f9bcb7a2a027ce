//! Both `fedbroker login` flows with a real browser: the real `fedbroker` binary as broker and as
//! CLI, the real OIDC test IdP (`testidp/server.mjs`, its redirect URI on this broker's port) and
//! headless Chromium (`tests/all/e2e/cli-browser.mjs`). The browser opens what the CLI printed,
//! is sent to sign in, signs in at the IdP, comes back to the approval page and approves; the
//! CLI then holds a session whose credentials come from moto.

use super::browser::{chromium, preflight, start_own_oidc_idp};
use crate::support::broker::{repo_path, spare_port, Broker, BrokerOptions};

use serde_json::Value;
use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const PROVIDER: &str = "e2e-oidc";

fn client_env(cmd: &mut Command, home: &Path) {
    cmd.env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("AWS_CONFIG_FILE", home.join("aws-config"))
        .env_remove("AWS_PROFILE");
}

/// Run the driver on `url`; its JSON line.
fn run_driver(broker: &Broker, url: &str, mode: &str, dir: &Path) -> Value {
    let stderr = dir.join(format!("cli-browser-{mode}.stderr"));
    let out = Command::new("node")
        .arg(repo_path("tests/all/e2e/cli-browser.mjs"))
        .current_dir(repo_path(""))
        .env("E2E_URL", url)
        .env("E2E_BROKER_URL", broker.url(""))
        .env("E2E_OIDC_PROVIDER", PROVIDER)
        .env("E2E_MODE", mode)
        .env("E2E_CHROMIUM", chromium())
        .stdin(Stdio::null())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .output()
        .expect("node tests/all/e2e/cli-browser.mjs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    let v: Value = serde_json::from_str(line).unwrap_or_else(|_| {
        panic!(
            "the driver printed no JSON: {stdout}\n{}",
            std::fs::read_to_string(&stderr).unwrap_or_default()
        )
    });
    assert!(
        v.get("error").is_none(),
        "{v}\n{}\n{}",
        std::fs::read_to_string(&stderr).unwrap_or_default(),
        broker.logs()
    );
    v
}

/// Start `fedbroker login` with `args`; the line of its instructions that holds `marker`, and the
/// rest of what it prints.
pub(super) fn start_login(
    home: &Path,
    args: &[&str],
    marker: &str,
) -> (
    std::process::Child,
    String,
    std::sync::mpsc::Receiver<String>,
) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_fedbroker"));
    cmd.arg("login")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    client_env(&mut cmd, home);
    let mut child = cmd.spawn().expect("spawn fedbroker login");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let line = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("fedbroker login printed where to sign in");
        if line.contains(marker) {
            break line.trim().to_owned();
        }
    };
    (child, line, rx)
}

fn wait_ok(mut child: std::process::Child, rx: &std::sync::mpsc::Receiver<String>) {
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("fedbroker login did not finish");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let said: Vec<String> = rx.try_iter().collect();
    assert!(status.success(), "fedbroker login: {said:?}");
}

#[test]
fn both_cli_logins_through_headless_chromium_and_the_real_idp() {
    preflight();
    let dir = tempfile::tempdir().unwrap();
    let port = spare_port();
    let public = format!("http://127.0.0.1:{port}");
    let (_idp, oidc) = start_own_oidc_idp(dir.path(), &public);
    let get = |k: &str| oidc.get(k).unwrap_or_else(|| panic!("{k} missing")).clone();
    let toml = format!(
        r#"
{oidc_provider}
[[rules]]
name = "people"
[rules.match]
provider = "{PROVIDER}"
subject = "{user}"
[[rules.grants]]
role_arn = "arn:aws:iam::111122223333:role/ReadOnly"
mode = "assume-role"
alias = "sandbox"
session_name = "{{subject}}"
"#,
        oidc_provider = crate::support::fixtures::oidc_web_provider(PROVIDER, &get),
        user = get("FEDBROKER_TEST_OIDC_USER"),
    );
    let broker = Broker::start_on(
        BrokerOptions {
            redis: false,
            extra_toml: toml,
        },
        port,
        &[
            ("AWS_ACCESS_KEY_ID", "AKIAE2EBROKERTESTKEY"),
            ("AWS_SECRET_ACCESS_KEY", "e2e-broker-secret-TEST-ONLY"),
        ],
    );

    // The device flow: the browser opens verification_uri_complete.
    let home = tempfile::tempdir().unwrap();
    let (child, line, rx) = start_login(
        home.path(),
        &["--broker", &public, "--device"],
        "/device?user_code=",
    );
    let url = &line[line.find("http").unwrap()..];
    let seen = run_driver(&broker, url, "device", dir.path());
    assert_eq!(seen["first_status"], 401, "asked to sign in first: {seen}");
    assert_eq!(
        seen["approval_path"], "/device",
        "back on the approval page: {seen}"
    );
    assert_eq!(seen["says_what_approving_does"], true, "{seen}");
    assert_eq!(seen["approved"], true);
    wait_ok(child, &rx);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_fedbroker"));
    cmd.args(["credentials", "--broker", &public, "--role", "sandbox"]);
    client_env(&mut cmd, home.path());
    let out = cmd.output().unwrap();
    let creds: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "credentials: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            broker.logs()
        )
    });
    assert_eq!(creds["Version"], 1);
    assert!(creds["AccessKeyId"].as_str().is_some());

    // The loopback flow: the browser follows the URL the CLI printed.
    let home = tempfile::tempdir().unwrap();
    let (child, line, rx) = start_login(
        home.path(),
        &["--broker", &public, "--no-browser"],
        "/oauth/authorize?",
    );
    let url = &line[line.find("http").unwrap()..];
    let seen = run_driver(&broker, url, "loopback", dir.path());
    assert_eq!(seen["first_status"], 401, "{seen}");
    assert_eq!(seen["approval_path"], "/oauth/authorize", "{seen}");
    assert_eq!(
        seen["landed_host"], "127.0.0.1",
        "the CLI's listener: {seen}"
    );
    wait_ok(child, &rx);
}
