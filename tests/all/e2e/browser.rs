//! Browser end to end: headless Chromium (Debian's `/usr/bin/chromium`, driven by npm
//! `playwright-core` from `tests/all/e2e/browser.mjs`) signs in at a real OIDC provider (npm
//! `oidc-provider`, `testidp/server.mjs`) and a real SAML IdP (npm `samlify`,
//! `testidp/saml-idp.mjs`), both on loopback and each on another site than the broker (the OIDC
//! IdP is https, the SAML IdP is `localhost` while the broker is `127.0.0.1`, so the IdP's POST to
//! the ACS is cross-site as with a real IdP; it requires signed AuthnRequests), through the real
//! `fedbroker` binary (STS = moto),
//! lands on the role picker, screenshots it (`target/e2e-artifacts/picker-{oidc,saml}.png`, with
//! what the browser read in `result.json` beside them) and
//! opens the console through the federation-endpoint double, which checks the Session JSON and
//! answers like AWS.
//!
//! Refused on the way: the OIDC callback and the SAML POST replayed (same and another browser),
//! a sign-in started in one browser and finished in another (state / InResponseTo bound to the
//! browser), a hostile RelayState from the IdP, a console `destination` elsewhere, and at the IdP
//! the broker's AuthnRequest with its signature removed or altered or a RelayState added. Afterwards the
//! broker's log holds no sign-in URL, SigninToken or credential.
//!
//! This test starts its own OIDC IdP (its web client's redirect URI must name this broker's port)
//! and SAML IdP; it needs moto (`FEDBROKER_TEST_STS_ENDPOINT`, `scripts/services.sh start`), node
//! with `npm ci` done and Debian's chromium (`scripts/setup.sh` installs both). A missing piece is a
//! failure with a message, never a skip.

use crate::support::broker;
use crate::support::federation;

use broker::{repo_path, spare_port, Broker, BrokerOptions};
use federation::FederationDouble;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Debian's Chromium; `FEDBROKER_E2E_CHROMIUM` may name another build of it.
const DEFAULT_CHROMIUM: &str = "/usr/bin/chromium";
/// How long an IdP may take to start.
const IDP_START_TIMEOUT: Duration = Duration::from_secs(20);
/// The whole browser run (both flows and the attacks) must end within this.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(55);

const OIDC_NAME: &str = "e2e-oidc";
const SAML_NAME: &str = "e2e-saml";
const SAML_USER: &str = "alice@example.com";
/// The SAML IdP's host name as the browser sees it: `localhost`, another site than the broker's
/// `127.0.0.1` (browsers compare host names, not addresses), so the IdP's POST to the ACS is a
/// cross-site POST, as with every real IdP.
const SAML_IDP_HOST: &str = "localhost";
/// The console `Destination` of the login URL (the broker's default).
const CONSOLE: &str = "https://console.aws.amazon.com/";

/// A child process killed (and reaped) on drop.
pub(super) struct Proc {
    child: Child,
    stderr: PathBuf,
}

impl Proc {
    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(super) fn chromium() -> String {
    std::env::var("FEDBROKER_E2E_CHROMIUM").unwrap_or_else(|_| DEFAULT_CHROMIUM.to_owned())
}

/// Everything the browser run needs, or a failure saying how to get it.
pub(super) fn preflight() {
    let node = Command::new("node").arg("--version").output();
    assert!(
        node.as_ref().is_ok_and(|o| o.status.success()),
        "node is not installed or does not run ({node:?}): the browser e2e needs Node.js >= 20; run scripts/setup.sh"
    );
    let browser = chromium();
    assert!(
        Path::new(&browser).is_file(),
        "{browser} not found: the browser e2e needs Debian's chromium (apt-get install chromium; scripts/setup.sh does)"
    );
    for pkg in ["playwright-core", "samlify", "oidc-provider"] {
        assert!(
            repo_path(&format!("node_modules/{pkg}/package.json")).is_file(),
            "node_modules/{pkg} missing: run `npm ci` (scripts/setup.sh does)"
        );
    }
}

/// A test OIDC IdP of this test's own (`testidp/server.mjs` on a spare port), whose web client
/// redirects to the broker at `public`; the values of the env file it writes.
pub(super) fn start_own_oidc_idp(dir: &Path, public: &str) -> (Proc, HashMap<String, String>) {
    start_own_oidc_idp_with(dir, public, &[("TESTIDP_PORT", "0".into())])
}

/// [`start_own_oidc_idp`] with more `testidp/server.mjs` settings (`TESTIDP_PORT` is required:
/// 0 for any free port).
pub(super) fn start_own_oidc_idp_with(
    dir: &Path,
    public: &str,
    settings: &[(&str, String)],
) -> (Proc, HashMap<String, String>) {
    let env_file = dir.join("oidc-idp.env");
    let _ = std::fs::remove_file(&env_file);
    let mut envs = vec![
        ("TESTIDP_REDIRECT_URI", format!("{public}/oidc/callback")),
        ("TESTIDP_ENV_FILE", env_file.display().to_string()),
    ];
    envs.extend(settings.iter().cloned());
    let (idp, _) = start_node(
        dir,
        "oidc-idp",
        "testidp/server.mjs",
        &envs,
        "testidp: ready",
    );
    (idp, read_env_file(&env_file))
}

/// Start `node script` with `envs`; wait for a stdout line starting with `ready_prefix`.
pub(super) fn start_node(
    dir: &Path,
    name: &str,
    script: &str,
    envs: &[(&str, String)],
    ready_prefix: &str,
) -> (Proc, String) {
    let stderr = dir.join(format!("{name}.stderr"));
    let mut child = Command::new("node")
        .arg(repo_path(script))
        .current_dir(repo_path(""))
        .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start node {script}: {e}"));
    let out = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let proc = Proc { child, stderr };
    let deadline = Instant::now() + IDP_START_TIMEOUT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line.starts_with(ready_prefix) => return (proc, line),
            Ok(_) => {}
            Err(_) => panic!(
                "{name} ({script}) did not print {ready_prefix:?} within {IDP_START_TIMEOUT:?}; stderr:\n{}",
                proc.stderr()
            ),
        }
    }
}

/// `export K='V'` lines of an env file written by testidp/server.mjs.
pub(super) fn read_env_file(path: &Path) -> HashMap<String, String> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .filter_map(|l| l.strip_prefix("export "))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.trim_matches('\'').to_owned()))
        .collect()
}

/// The e2e IdP's metadata as the broker reads it, saying `WantAuthnRequestsSigned="true"` (the
/// committed file says false; the IdP is started requiring signed requests).
fn saml_metadata_wanting_signed_requests(dir: &Path) -> PathBuf {
    let committed = std::fs::read_to_string(repo_path("config/e2e-saml-idp-metadata.xml"))
        .expect("config/e2e-saml-idp-metadata.xml (scripts/gen-saml-idp-certs.sh)");
    let wanting = committed.replace(
        "WantAuthnRequestsSigned=\"false\"",
        "WantAuthnRequestsSigned=\"true\"",
    );
    assert_ne!(
        wanting, committed,
        "the IdP metadata has no WantAuthnRequestsSigned"
    );
    let path = dir.join("e2e-saml-idp-metadata.xml");
    std::fs::write(&path, wanting).unwrap();
    path
}

fn broker_toml(oidc: &HashMap<String, String>, saml_metadata: &Path, saml_port: u16) -> String {
    let get = |k: &str| {
        oidc.get(k)
            .unwrap_or_else(|| panic!("{k} missing from the test IdP's env file"))
            .clone()
    };
    format!(
        r#"
[saml]
sp_key_file = "{sp_key}"
sp_cert_file = "{sp_cert}"

[[saml.idps]]
name = "{SAML_NAME}"
metadata_file = "{saml_metadata}"
sso_url = "http://{SAML_IDP_HOST}:{saml_port}/sso"

{oidc_provider}
[[rules]]
name = "oidc-people"
[rules.match]
provider = "{OIDC_NAME}"
subject = "{user}"
[[rules.grants]]
role_arn = "arn:aws:iam::111122223333:role/ReadOnly"
mode = "assume-role"
alias = "sandbox"
session_name = "{{subject}}"
[[rules.grants]]
role_arn = "arn:aws:iam::444455556666:role/Admin"
mode = "assume-role"
session_name = "{{subject}}"

[[rules]]
name = "saml-people"
[rules.match]
provider = "{SAML_NAME}"
subject = "{SAML_USER}"
[[rules.grants]]
role_arn = "arn:aws:iam::777788889999:role/Operator"
mode = "assume-role"
alias = "production"
session_name = "{{subject}}"
[[rules.grants]]
role_arn = "arn:aws:iam::111122223333:role/Auditor"
mode = "assume-role"
session_name = "{{subject}}"
"#,
        saml_metadata = saml_metadata.display(),
        sp_key = repo_path("certs/saml-sp.key").display(),
        sp_cert = repo_path("certs/saml-sp.crt").display(),
        oidc_provider = crate::support::fixtures::oidc_web_provider(OIDC_NAME, &get),
        user = get("FEDBROKER_TEST_OIDC_USER"),
    )
}

/// Run the browser script; its one JSON line.
fn run_browser(dir: &Path, envs: &[(&str, String)]) -> Value {
    let stderr = dir.join("browser.stderr");
    let mut child = Command::new("node")
        .arg(repo_path("tests/all/e2e/browser.mjs"))
        .current_dir(repo_path(""))
        .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
        .env(
            "E2E_TIMEOUT_MS",
            (BROWSER_TIMEOUT.as_millis() - 2000).to_string(),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .expect("start node tests/all/e2e/browser.mjs");
    let mut out = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut out, &mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > BROWSER_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the browser run took more than {BROWSER_TIMEOUT:?}; stderr:\n{}",
                std::fs::read_to_string(&stderr).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stdout = reader.join().unwrap();
    let line = stdout.lines().last().unwrap_or_default();
    let result: Value = serde_json::from_str(line).unwrap_or_else(|_| {
        panic!(
            "the browser run ({status}) printed no JSON line; stdout:\n{stdout}\nstderr:\n{}",
            std::fs::read_to_string(&stderr).unwrap_or_default()
        )
    });
    assert!(
        status.success() && result.get("error").is_none(),
        "the browser run failed ({status}): {}\n{}",
        serde_json::to_string_pretty(&result).unwrap(),
        stderr_files(dir)
    );
    result
}

/// Every `*.stderr` of the processes this test started (browser, IdPs), for a failure message.
fn stderr_files(dir: &Path) -> String {
    let mut out = String::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "stderr") {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            out.push_str(&format!("--- {}:\n{text}\n", path.display()));
        }
    }
    out
}

/// A PNG of some substance: the signature, an IHDR of a real size, > 10 KB.
fn assert_png(path: &str) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("screenshot {path}: {e}"));
    assert!(
        bytes.len() > 10 * 1024,
        "{path} is only {} bytes",
        bytes.len()
    );
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{path} is not a PNG");
    assert_eq!(&bytes[12..16], b"IHDR", "{path}: no IHDR");
    let width = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    assert!(width >= 800 && height >= 300, "{path} is {width}x{height}");
}

fn assert_picker(flow: &Value, expected_rows: Value, who: &str, provider: &str) {
    let picker = &flow["picker"];
    assert_eq!(picker["rows"], expected_rows, "picker rows: {picker}");
    let signed_in = picker["signed_in_as"].as_str().unwrap_or_default();
    assert!(
        signed_in.contains(who) && signed_in.contains(provider),
        "{signed_in}"
    );
    assert!(
        picker["title"]
            .as_str()
            .is_some_and(|t| t.starts_with("AWS roles")),
        "{picker}"
    );
    assert_png(flow["screenshot"].as_str().unwrap());
}

/// The browser ended on the double's login page.
fn assert_console(flow: &Value) {
    assert_eq!(
        flow["console"],
        json!({"status": 200, "origin": "federation", "path": "/federation", "title": "AWS Management Console"}),
        "{flow}"
    );
}

/// A refusal shown on a broker page: status and one of the codes.
fn assert_refused(what: &str, v: &Value, status: u64, codes: &[&str]) {
    assert_eq!(v["origin"], "broker", "{what}: {v}");
    assert_eq!(v["status"], status, "{what}: {v}");
    let code = v["code"].as_str().unwrap_or_default();
    assert!(
        codes.contains(&code),
        "{what}: code {code:?}, want one of {codes:?}: {v}"
    );
}

#[test]
fn browser_sign_in_end_to_end_oidc_and_saml() {
    preflight();
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let artifacts = repo_path("target/e2e-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    for f in ["picker-oidc.png", "picker-saml.png"] {
        let _ = std::fs::remove_file(artifacts.join(f));
    }

    let double = FederationDouble::start();
    let broker_port = spare_port();
    let saml_port = spare_port();
    let public = format!("http://127.0.0.1:{broker_port}");

    // The OIDC provider, its web client's redirect URI on this broker's port.
    let (_oidc_idp, oidc) = start_own_oidc_idp(dir.path(), &public);

    let broker = Broker::start_on(
        BrokerOptions {
            redis: false,
            extra_toml: broker_toml(
                &oidc,
                &saml_metadata_wanting_signed_requests(dir.path()),
                saml_port,
            ),
        },
        broker_port,
        &[
            ("AWS_ACCESS_KEY_ID", "AKIAE2EBROKERTESTKEY"),
            ("AWS_SECRET_ACCESS_KEY", "e2e-broker-secret-TEST-ONLY"),
            ("FEDBROKER_AWS__FEDERATION_ENDPOINT", double.url.as_str()),
        ],
    );

    // The SAML IdP reads the broker's SP metadata; it sends a hostile RelayState back, which must
    // not take the browser anywhere but the picker.
    let hostile_relay_state = "https://evil.example/phish";
    let (_saml_idp, ready) = start_node(
        dir.path(),
        "saml-idp",
        "testidp/saml-idp.mjs",
        &[
            ("SAMLIDP_PORT", saml_port.to_string()),
            ("SAMLIDP_SP_METADATA_URL", broker.url("/saml/metadata")),
            ("SAMLIDP_USER", SAML_USER.into()),
            ("SAMLIDP_RELAY_STATE", hostile_relay_state.into()),
            ("SAMLIDP_HOST", SAML_IDP_HOST.into()),
            ("SAMLIDP_WANT_AUTHN_REQUESTS_SIGNED", "1".into()),
        ],
        "saml-idp: ready",
    );
    assert!(
        ready.contains(&format!("http://{SAML_IDP_HOST}:{saml_port} "))
            && ready.contains("want_authn_requests_signed=true"),
        "{ready}"
    );

    let setup = started.elapsed();
    let browser_started = Instant::now();
    let result = run_browser(
        dir.path(),
        &[
            ("E2E_BROKER_URL", public.clone()),
            ("E2E_OIDC_PROVIDER", OIDC_NAME.into()),
            ("E2E_SAML_IDP", SAML_NAME.into()),
            ("E2E_FEDERATION_URL", double.url.clone()),
            ("E2E_ARTIFACTS", artifacts.display().to_string()),
            ("E2E_CHROMIUM", chromium()),
        ],
    );
    // What the browser saw, beside the screenshots (no secrets: paths, statuses, codes, the picker).
    std::fs::write(
        artifacts.join("result.json"),
        serde_json::to_string_pretty(&result).unwrap(),
    )
    .unwrap();
    eprintln!(
        "e2e_browser: setup {setup:?}, browser {:?} (Chromium {})",
        browser_started.elapsed(),
        result["browser_version"]
    );

    // OIDC: sign-in page → IdP (HTTPS) → picker → console.
    let oidc_flow = &result["oidc"];
    assert_eq!(oidc_flow["sign_in_page_status"], 401, "{oidc_flow}");
    assert_eq!(oidc_flow["idp_is_https"], true, "{oidc_flow}");
    // https://127.0.0.1 (IdP) and http://127.0.0.1 (broker) are two sites for Chromium (the scheme
    // counts); the callback is a top-level GET, which carries the Lax login cookie across sites.
    assert_eq!(
        oidc_flow["callback_cookies"],
        json!(["fedbroker_login"]),
        "{oidc_flow}"
    );
    assert_eq!(
        oidc_flow["request_to_idp"],
        json!({"state": true, "nonce": true, "pkce_s256": true, "saml_request": false}),
        "{oidc_flow}"
    );
    let oidc_user = oidc
        .get("FEDBROKER_TEST_OIDC_USER")
        .cloned()
        .unwrap_or_default();
    assert_picker(
        oidc_flow,
        json!([
            {"alias": "sandbox", "role_name": "ReadOnly", "account": "111122223333", "link_text": "Open console"},
            {"alias": "444455556666", "role_name": "Admin", "account": "444455556666", "link_text": "Open console"},
        ]),
        &oidc_user,
        OIDC_NAME,
    );
    assert_console(oidc_flow);
    assert_refused(
        "console destination elsewhere",
        &oidc_flow["foreign_destination"],
        400,
        &["console_destination_not_allowed"],
    );
    assert_refused(
        "OIDC callback replayed in the same browser",
        &oidc_flow["callback_replay_same_browser"],
        401,
        &["login_state_invalid"],
    );
    assert_refused(
        "OIDC callback replayed in another browser",
        &oidc_flow["callback_replay_other_browser"],
        401,
        &["login_state_invalid", "login_browser_mismatch"],
    );
    assert_refused(
        "OIDC sign-in started in one browser, finished in another",
        &oidc_flow["sign_in_finished_in_other_browser"],
        401,
        &["login_browser_mismatch"],
    );

    // SAML: sign-in page → IdP → POST to the ACS → picker (not the hostile RelayState) → console.
    let saml_flow = &result["saml"];
    assert_eq!(saml_flow["sign_in_page_status"], 401, "{saml_flow}");
    // Two sites: the IdP's POST to the ACS is cross-site, and still carried the binding cookie
    // (SameSite=None; Secure), never the Lax session or OIDC cookies.
    assert_eq!(saml_flow["idp_host"], SAML_IDP_HOST, "{saml_flow}");
    assert_eq!(saml_flow["broker_host"], "127.0.0.1", "{saml_flow}");
    assert_eq!(
        saml_flow["acs_post_cookies"],
        json!(["__Host-fedbroker_saml_login"]),
        "{saml_flow}"
    );
    // Signed AuthnRequest (RSA-SHA256), verified by samlify against the broker's SP metadata; a
    // missing or broken signature, or a changed query, is refused by the IdP.
    assert_eq!(
        saml_flow["request_to_idp"],
        json!({
            "state": false, "nonce": false, "pkce_s256": false, "saml_request": true,
            "sig_alg": "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256", "signature": true,
        }),
        "{saml_flow}"
    );
    let tampered = &saml_flow["tampered_authn_requests"];
    assert_eq!(
        tampered["signature_removed"],
        json!({"status": 400, "error": "ERR_MISSING_SIG_ALG"}),
        "{tampered}"
    );
    for what in ["signature_altered", "relay_state_added"] {
        assert_eq!(
            tampered[what],
            json!({"status": 400, "error": "ERR_FAILED_MESSAGE_SIGNATURE_VERIFICATION"}),
            "{what}: {tampered}"
        );
    }
    assert_eq!(
        tampered["untouched"],
        json!({"status": 200, "sign_in_page": true}),
        "{tampered}"
    );
    assert_eq!(
        saml_flow["relay_state_sent"], hostile_relay_state,
        "{saml_flow}"
    );
    assert_eq!(
        saml_flow["response"],
        json!({
            "signatures": 2,
            "signature_methods": ["http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"],
            "canonicalization": ["http://www.w3.org/2001/10/xml-exc-c14n#"],
            "digest_methods": ["http://www.w3.org/2001/04/xmlenc#sha256"],
            "has_dtd": false,
            "in_response_to": true,
        }),
        "the SAML IdP signs Response and Assertion with RSA-SHA256, exclusive C14N: {saml_flow}"
    );
    assert_eq!(
        saml_flow["landed"],
        json!({"origin": "broker", "path": "/roles"}),
        "{saml_flow}"
    );
    assert_picker(
        saml_flow,
        json!([
            {"alias": "production", "role_name": "Operator", "account": "777788889999", "link_text": "Open console"},
            {"alias": "111122223333", "role_name": "Auditor", "account": "111122223333", "link_text": "Open console"},
        ]),
        SAML_USER,
        SAML_NAME,
    );
    assert_console(saml_flow);
    assert_refused(
        "SAML response replayed in the same browser",
        &saml_flow["acs_replay_same_browser"],
        401,
        &["saml_in_response_to_unknown", "saml_replay"],
    );
    assert_refused(
        "SAML response replayed in another browser",
        &saml_flow["acs_replay_other_browser"],
        401,
        &[
            "saml_in_response_to_unknown",
            "saml_replay",
            "login_browser_mismatch",
        ],
    );
    assert_refused(
        "SAML sign-in started in one browser, finished in another",
        &saml_flow["sign_in_finished_in_other_browser"],
        401,
        &["login_browser_mismatch"],
    );

    // The double: two getSigninToken calls with a proper Session, two accepted logins to the console.
    let requests = double.token_requests();
    assert_eq!(requests.len(), 2, "{requests:?}");
    for r in &requests {
        let s = r.session.as_object().unwrap();
        let mut keys: Vec<&str> = s.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["sessionId", "sessionKey", "sessionToken"]);
        assert!(
            s["sessionId"].as_str().unwrap().starts_with("ASIA"),
            "{s:?}"
        );
    }
    let logins = double.recorded().logins.clone();
    assert_eq!(logins.len(), 2, "{logins:?}");
    for l in &logins {
        assert!(l.accepted, "{l:?}");
        assert_eq!(l.destination.as_deref(), Some(CONSOLE), "{l:?}");
        assert_eq!(l.issuer.as_deref(), Some(public.as_str()), "{l:?}");
    }

    // The broker's log: no sign-in URL, SigninToken or credential, ever.
    let logs = broker.logs();
    assert!(
        logs.contains("console.signin"),
        "no console sign-in was logged:\n{logs}"
    );
    for needle in ["Action=login", "SigninToken="] {
        assert!(!logs.contains(needle), "the broker log mentions {needle}");
    }
    for r in &requests {
        let s = &r.session;
        for (what, secret) in [
            ("SigninToken", r.token.as_str()),
            ("SecretAccessKey", s["sessionKey"].as_str().unwrap()),
            ("SessionToken", s["sessionToken"].as_str().unwrap()),
        ] {
            assert!(!logs.contains(secret), "the broker log contains a {what}");
        }
    }
    assert!(
        !logs.contains(&double.url),
        "the broker log contains the federation endpoint URL"
    );
    eprintln!("e2e_browser: total {:?}", started.elapsed());
}
