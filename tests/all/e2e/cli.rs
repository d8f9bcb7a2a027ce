//! End to end with real clients: the real `fedbroker` binary as broker (moto as STS) and as CLI.
//! `fedbroker login --device` prints a code; a browser (reqwest with a cookie jar) signs in at the
//! broker through the SAML ACS with a response the test IdP signs, opens the verification URI
//! and approves; `fedbroker profiles --write` writes the profiles into a temporary
//! `AWS_CONFIG_FILE`; then the real AWS CLI (`aws sts get-caller-identity --profile deploy`) and
//! boto3 (the test venv's) get credentials through `credential_process`: the first call reaches
//! the broker, the next ones are served from the CLI's local copy; after `POST /v1/admin/revoke`
//! for the subject the next refresh fails with the line telling the person to run
//! `fedbroker login`.

use crate::support::broker::{repo_path, Broker, BrokerOptions};
use crate::support::fixtures::admin_token;
use crate::support::harness::fresh;

use base64::Engine;
use std::io::Read;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const ADMIN_TOKEN: &str = admin_token!();
const RULES: &str = r#"
[[rules]]
name = "deployers"
[rules.match]
provider = "test-idp"
subject = { glob = "*@example.com" }
[[rules.grants]]
role_arn = "arn:aws:iam::111122223333:role/Deployer"
alias = "deploy"
mode = "assume-role"
session_name = "{subject}"
duration_seconds = 3600
"#;

/// The AWS CLI: `.venv-awscli`'s (scripts/setup.sh; `FEDBROKER_AWSCLI_VENV` overrides), else the
/// one on `PATH`.
fn aws_cli() -> String {
    let venv = std::env::var("FEDBROKER_AWSCLI_VENV")
        .unwrap_or_else(|_| repo_path(".venv-awscli").display().to_string());
    let in_venv = format!("{venv}/bin/aws");
    if Path::new(&in_venv).exists() {
        in_venv
    } else {
        "aws".to_owned()
    }
}

fn python() -> String {
    let venv = std::env::var("FEDBROKER_VENV")
        .unwrap_or_else(|_| repo_path(".venv").display().to_string());
    format!("{venv}/bin/python")
}

/// Wait (at most `limit`) for `fedbroker login` to exit, and require success; what it printed
/// is the failure message.
async fn login_succeeds(
    mut login: std::process::Child,
    rx: &std::sync::mpsc::Receiver<String>,
    limit: Duration,
) {
    let started = Instant::now();
    let status = loop {
        if let Some(s) = login.try_wait().unwrap() {
            break s;
        }
        assert!(started.elapsed() < limit, "fedbroker login did not finish");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let said: Vec<String> = rx.try_iter().collect();
    assert!(status.success(), "fedbroker login: {said:?}");
}

/// The environment every client process gets: its own config directories, no ambient AWS
/// credentials, STS at moto.
fn client_env(cmd: &mut Command, home: &Path) {
    cmd.env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("AWS_CONFIG_FILE", home.join("aws-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join("aws-credentials"))
        .env(
            "AWS_ENDPOINT_URL_STS",
            std::env::var("FEDBROKER_TEST_STS_ENDPOINT").unwrap(),
        )
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE");
}

fn fedbroker(home: &Path, args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_fedbroker"));
    cmd.args(args);
    client_env(&mut cmd, home);
    cmd.output().expect("run fedbroker")
}

fn aws(home: &Path, args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(aws_cli());
    cmd.args(args);
    client_env(&mut cmd, home);
    // `credential_process` runs the fedbroker binary the profile names (an absolute path).
    cmd.output()
        .expect("run the AWS CLI: `aws` in the test venv or on PATH (PyPI awscli)")
}

/// The AuthnRequest ID in a `GET /saml/login` redirect.
fn authn_request_id(location: &str) -> String {
    let loc = url::Url::parse(location).unwrap();
    let req = loc
        .query_pairs()
        .find(|(k, _)| k == "SAMLRequest")
        .unwrap()
        .1
        .into_owned();
    let deflated = base64::engine::general_purpose::STANDARD
        .decode(req)
        .unwrap();
    let mut xml = String::new();
    flate2::read::DeflateDecoder::new(deflated.as_slice())
        .read_to_string(&mut xml)
        .unwrap();
    xml.split("ID=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_owned()
}

/// A browser signed in at `broker` through its SAML ACS (the test IdP's signed answer).
async fn signed_in_browser(broker: &Broker) -> reqwest::Client {
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let resp = browser
        .get(broker.url("/saml/login?idp=test-idp"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 302, "{}", broker.logs());
    let id = authn_request_id(resp.headers()["location"].to_str().unwrap());
    let public = broker.url("");
    let public = public.trim_end_matches('/');
    let mut b = fresh();
    b.audiences = vec![format!("{public}/saml/metadata")];
    b.recipient = Some(format!("{public}/saml/acs"));
    b.destination = Some(format!("{public}/saml/acs"));
    b.in_response_to = Some(id);
    let resp = browser
        .post(broker.url("/saml/acs"))
        .form(&[("SAMLResponse", b.build_base64().as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 303, "{}", broker.logs());
    browser
}

/// The sum of `fedbroker_credentials_issued_total` (every credential answer the broker gave).
async fn issued(broker: &Broker) -> f64 {
    let text = reqwest::get(broker.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| l.starts_with("fedbroker_credentials_issued_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn device_login_profiles_and_the_aws_cli_through_credential_process() {
    let broker = Broker::start_on(
        BrokerOptions {
            redis: false,
            extra_toml: RULES.to_owned(),
        },
        crate::support::broker::spare_port(),
        &[
            ("AWS_ACCESS_KEY_ID", "AKIAE2EBROKERTESTKEY"),
            ("AWS_SECRET_ACCESS_KEY", "e2e-broker-secret-TEST-ONLY"),
            ("FEDBROKER_SERVER__ADMIN_TOKEN", ADMIN_TOKEN),
        ],
    );
    let home = tempfile::tempdir().unwrap();
    let base = broker.url("");
    let base = base.trim_end_matches('/').to_owned();

    // 1. `fedbroker login --device`: read the verification URI from its instructions.
    let (login, line, rx) = super::cli_browser::start_login(
        home.path(),
        &["--broker", &base, "--device"],
        "/device?user_code=",
    );
    let complete = line[line.find("/device?user_code=").unwrap()..].to_owned();

    // 2. The person, signed in at the broker, opens it and approves.
    let browser = signed_in_browser(&broker).await;
    let page = browser
        .get(broker.url(&complete))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or_else(|| panic!("the approval page: {page}"))
        .to_owned();
    let user_code = complete.rsplit('=').next().unwrap().to_owned();
    let resp = browser
        .post(broker.url("/device"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("user_code", user_code.as_str()),
            ("decision", "approve"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);

    login_succeeds(login, &rx, Duration::from_secs(60)).await;

    // 3. `fedbroker profiles --write` into the temporary AWS config file.
    let out = fedbroker(home.path(), &["profiles", "--broker", &base, "--write"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let config = std::fs::read_to_string(home.path().join("aws-config")).unwrap();
    assert!(config.contains("[profile deploy]"), "{config}");
    assert!(config.contains("credential_process"), "{config}");

    // 4. The real AWS CLI: the first call reaches the broker, the second does not.
    let out = aws(
        home.path(),
        &[
            "sts",
            "get-caller-identity",
            "--profile",
            "deploy",
            "--output",
            "json",
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "aws: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        broker.logs()
    );
    assert!(stdout.contains("assumed-role/Deployer/"), "{stdout}");
    let after_first = issued(&broker).await;
    assert_eq!(after_first, 1.0, "one credential answer");
    let out = aws(
        home.path(),
        &[
            "sts",
            "get-caller-identity",
            "--profile",
            "deploy",
            "--output",
            "json",
        ],
    );
    assert!(out.status.success());
    // boto3 through the same profile.
    let mut py = Command::new(python());
    py.args([
        "-c",
        "import boto3; print(boto3.Session(profile_name='deploy').client('sts').get_caller_identity()['Arn'])",
    ]);
    client_env(&mut py, home.path());
    let out = py.output().expect("python with boto3 (the test venv)");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("assumed-role/Deployer/"),
        "boto3: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        issued(&broker).await,
        after_first,
        "within the refresh window no call reaches the broker"
    );

    // 5. The administrator revokes the person; the next refresh (the local copy gone, as when
    // the refresh window is reached) is refused with the line to run `fedbroker login`.
    let resp = reqwest::Client::new()
        .post(broker.url("/v1/admin/revoke"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&serde_json::json!({"subject": "alice@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    std::fs::remove_file(home.path().join("config/fedbroker/credentials.json")).unwrap();
    let out = aws(
        home.path(),
        &["sts", "get-caller-identity", "--profile", "deploy"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("fedbroker login"), "{stderr}");
}

/// The value of the hidden field `name` on a page (HTML-unescaped).
fn hidden(page: &str, name: &str) -> String {
    page.split(&format!("name=\"{name}\" value=\""))
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or_else(|| panic!("no field {name}: {page}"))
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

#[tokio::test]
async fn loopback_login_with_the_real_cli_follows_the_printed_url() {
    let broker = Broker::start_on(
        BrokerOptions {
            redis: false,
            extra_toml: RULES.to_owned(),
        },
        crate::support::broker::spare_port(),
        &[],
    );
    let home = tempfile::tempdir().unwrap();
    let base = broker.url("");
    let base = base.trim_end_matches('/').to_owned();
    let (login, printed, rx) = super::cli_browser::start_login(
        home.path(),
        &["--broker", &base, "--no-browser"],
        "/oauth/authorize?",
    );
    assert!(printed.starts_with(&base), "{printed}");

    // The browser follows the printed URL, approves, and is sent to the CLI's loopback listener.
    let browser = signed_in_browser(&broker).await;
    let resp = browser.get(&printed).send().await.unwrap();
    let csp = resp.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("http://127.0.0.1:*"), "{csp}");
    let page = resp.text().await.unwrap();
    let resp = browser
        .post(broker.url("/oauth/authorize"))
        .form(&[
            ("csrf", hidden(&page, "csrf").as_str()),
            ("decision", "approve"),
            ("redirect_uri", hidden(&page, "redirect_uri").as_str()),
            ("code_challenge", hidden(&page, "code_challenge").as_str()),
            ("state", hidden(&page, "state").as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 302, "{}", broker.logs());
    let to_cli = resp.headers()["location"].to_str().unwrap().to_owned();
    assert!(to_cli.starts_with("http://127.0.0.1:"), "{to_cli}");
    let resp = reqwest::get(&to_cli)
        .await
        .expect("the CLI's listener answers");
    assert!(resp.status().is_success(), "{}", resp.status());

    login_succeeds(login, &rx, Duration::from_secs(30)).await;

    let out = fedbroker(home.path(), &["whoami", "--broker", &base]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(text.contains("alice@example.com"), "{text}");

    // `fedbroker logout` ends the session at the broker: whoami then says to sign in again.
    let out = fedbroker(home.path(), &["logout", "--broker", &base]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = fedbroker(
        home.path(),
        &["credentials", "--broker", &base, "--role", "deploy"],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("fedbroker login"));
}
