//! The TLS listener as deployed: the real `fedbroker` binary with `server.tls_cert_file` /
//! `server.tls_key_file` (and `server.tls_client_ca_file`), certificates generated at test time
//! (`support/tls_pki.rs`). HTTPS answers with HSTS, plain http to the TLS port fails, TLS 1.1 is
//! refused while TLS 1.2 with h2 is offered, SIGHUP swaps the certificate for new connections while
//! a kept-alive one keeps working, a broken new pair keeps the old one, the expiry gauge follows,
//! and the container-credentials endpoint needs a verified client certificate when a client CA
//! is configured. `check-config` names the key of each broken file. Needs moto
//! (`scripts/services.sh`) and, for the full container-credentials round trip, the test OIDC IdP
//! (`scripts/oidc-idp.sh`).

use crate::support::broker;
use crate::support::oidc_idp;
use crate::support::tls_pki;

use broker::{spare_port, Broker, BrokerOptions};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use tls_pki::{a_year_from_now, Ca, Issued, KeyFormat, KeyKind};

const HSTS: &str = "max-age=31536000; includeSubDomains";

/// Files of one TLS broker: its CA, the served pair and (optionally) a client CA.
struct Pki {
    dir: tempfile::TempDir,
    ca: Ca,
    server: Issued,
}

impl Pki {
    fn new(kind: KeyKind, format: KeyFormat) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ca = Ca::new("fedbroker test CA");
        let server = ca.server(kind, a_year_from_now());
        let pki = Self { dir, ca, server };
        pki.server.write(&pki.cert(), &pki.key(), format);
        pki
    }
    fn cert(&self) -> PathBuf {
        self.dir.path().join("tls.crt")
    }
    fn key(&self) -> PathBuf {
        self.dir.path().join("tls.key")
    }
}

/// A broker serving HTTPS with `pki`'s files (and `client_ca`, if any).
fn tls_broker(pki: &Pki, client_ca: Option<&Path>) -> Broker {
    tls_broker_with(pki, client_ca, String::new())
}

/// [`tls_broker`] with more TOML sections.
fn tls_broker_with(pki: &Pki, client_ca: Option<&Path>, extra_toml: String) -> Broker {
    let port = spare_port();
    let public_url = format!("https://127.0.0.1:{port}");
    let cert = pki.cert().display().to_string();
    let key = pki.key().display().to_string();
    let ca = client_ca.map(|p| p.display().to_string());
    let mut envs = vec![
        ("FEDBROKER_SERVER__PUBLIC_URL", public_url.as_str()),
        ("FEDBROKER_SERVER__TLS_CERT_FILE", cert.as_str()),
        ("FEDBROKER_SERVER__TLS_KEY_FILE", key.as_str()),
    ];
    if let Some(ca) = &ca {
        envs.push(("FEDBROKER_SERVER__TLS_CLIENT_CA_FILE", ca.as_str()));
    }
    Broker::start_on(
        BrokerOptions {
            redis: false,
            extra_toml,
        },
        port,
        &envs,
    )
}

/// A client that trusts only `ca` and reports the peer certificate of each answer.
fn client(ca: &Ca, identity: Option<&Issued>) -> reqwest::Client {
    let mut b = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&ca.pem()).unwrap())
        .tls_info(true)
        .timeout(Duration::from_secs(10));
    if let Some(id) = identity {
        b = b.identity(reqwest::Identity::from_pem(&id.identity_pem()).unwrap());
    }
    b.build().unwrap()
}

/// The leaf certificate (DER) the server presented on the connection of `resp`.
fn peer_leaf(resp: &reqwest::Response) -> Vec<u8> {
    resp.extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|i| i.peer_certificate())
        .expect("TLS info with the peer certificate")
        .to_vec()
}

/// Wait until the broker's log has a line with `event` (at most 10 s).
fn wait_for_log(broker: &Broker, event: &str, times: usize) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        if broker.logs().matches(event).count() >= times {
            return;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("no {event} in the log:\n{}", broker.logs());
}

/// One sample of the broker's `/metrics` (the whole line's value), `None` if absent.
async fn metric(client: &reqwest::Client, broker: &Broker, series: &str) -> Option<f64> {
    let text = client
        .get(broker.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines().find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

fn not_after(issued: &Issued) -> f64 {
    let epoch = openssl::asn1::Asn1Time::from_unix(0).unwrap();
    let d = epoch.diff(issued.cert.not_after()).unwrap();
    f64::from(d.days) * 86_400.0 + f64::from(d.secs)
}

#[tokio::test]
async fn api_answers_over_https_with_hsts_and_the_expiry_gauge() {
    let pki = Pki::new(KeyKind::Rsa, KeyFormat::Pkcs8);
    let broker = tls_broker(&pki, None);
    assert!(broker.base_url.starts_with("https://"));
    let c = client(&pki.ca, None);
    let resp = c.get(broker.url("/healthz")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["strict-transport-security"], HSTS);
    assert_eq!(peer_leaf(&resp), pki.server.der());
    // An API refusal over https carries it too (every answer).
    let resp = c.get(broker.url("/v1/no-such-route")).send().await.unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(resp.headers()["strict-transport-security"], HSTS);
    assert_eq!(
        metric(
            &c,
            &broker,
            "fedbroker_tls_listener_certificate_expiry_timestamp_seconds"
        )
        .await,
        Some(not_after(&pki.server))
    );
}

#[tokio::test]
async fn plain_http_to_the_tls_port_gets_no_answer() {
    let pki = Pki::new(KeyKind::EcP256, KeyFormat::Traditional);
    let broker = tls_broker(&pki, None);
    let plain = broker.url("/healthz").replace("https://", "http://");
    let result = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
        .get(&plain)
        .send()
        .await;
    assert!(
        result.is_err(),
        "plain http got an answer from the TLS port: {result:?}"
    );
    // The listener is still fine afterwards.
    let resp = client(&pki.ca, None)
        .get(broker.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn hsts_is_absent_on_plain_http_and_no_expiry_gauge_is_exported() {
    let broker = Broker::start(BrokerOptions {
        redis: false,
        ..Default::default()
    });
    let c = reqwest::Client::new();
    let resp = c.get(broker.url("/healthz")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().get("strict-transport-security").is_none());
    let text = c
        .get(broker.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !text.contains("fedbroker_tls_listener_certificate_expiry_timestamp_seconds"),
        "a plain-http broker must not export a certificate expiry (an alert would read 1970)"
    );
}

/// An OpenSSL client limited to `min..=max`, offering h2 and http/1.1.
fn openssl_handshake(
    pki: &Pki,
    broker: &Broker,
    version: openssl::ssl::SslVersion,
) -> Result<(String, Option<Vec<u8>>), String> {
    use openssl::ssl::{SslConnector, SslMethod};
    let mut b = SslConnector::builder(SslMethod::tls()).unwrap();
    // Level 0: let this client offer TLS 1.1 at all (OpenSSL 3 refuses it by default); the
    // broker's refusal is what is tested.
    b.set_security_level(0);
    b.set_min_proto_version(Some(version)).unwrap();
    b.set_max_proto_version(Some(version)).unwrap();
    b.set_alpn_protos(b"\x02h2\x08http/1.1").unwrap();
    let ca = pki.dir.path().join("ca.pem");
    std::fs::write(&ca, pki.ca.pem()).unwrap();
    b.set_ca_file(&ca).unwrap();
    let connector = b.build();
    let host = broker.base_url.strip_prefix("https://").unwrap();
    let tcp = std::net::TcpStream::connect(host).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let stream = connector
        .configure()
        .unwrap()
        .verify_hostname(false)
        .connect("localhost", tcp)
        .map_err(|e| e.to_string())?;
    Ok((
        stream.ssl().version_str().to_owned(),
        stream.ssl().selected_alpn_protocol().map(<[u8]>::to_vec),
    ))
}

#[test]
fn tls_1_1_is_refused_and_tls_1_2_negotiates_h2() {
    use openssl::ssl::SslVersion;
    let pki = Pki::new(KeyKind::EcP256, KeyFormat::Pkcs8);
    let broker = tls_broker(&pki, None);
    // The client offers TLS 1.1 and the broker answers with an alert (not a client-side refusal).
    let old = openssl_handshake(&pki, &broker, SslVersion::TLS1_1);
    assert!(
        old.as_ref().is_err_and(|e| e.contains("alert")),
        "TLS 1.1 was not refused by the server: {old:?}"
    );
    let (version, alpn) = openssl_handshake(&pki, &broker, SslVersion::TLS1_2).unwrap();
    assert_eq!(version, "TLSv1.2");
    assert_eq!(alpn.as_deref(), Some(&b"h2"[..]));
    let (version, _) = openssl_handshake(&pki, &broker, SslVersion::TLS1_3).unwrap();
    assert_eq!(version, "TLSv1.3");
}

#[tokio::test]
async fn sighup_serves_the_new_certificate_to_new_connections_and_keeps_open_ones() {
    let pki = Pki::new(KeyKind::Rsa, KeyFormat::Pkcs8);
    let broker = tls_broker(&pki, None);
    let before = client(&pki.ca, None);
    let resp = before.get(broker.url("/healthz")).send().await.unwrap();
    assert_eq!(peer_leaf(&resp), pki.server.der());
    resp.bytes().await.unwrap();

    // Renewal: a new key of another type, a different notAfter.
    let renewed = pki.ca.server(KeyKind::EcP256, a_year_from_now() + 86_400);
    renewed.write(&pki.cert(), &pki.key(), KeyFormat::Traditional);
    broker.signal("HUP");
    wait_for_log(&broker, "tls.certificate_reloaded", 1);

    // The connection opened before the reload (kept alive in the pool) still answers, with the
    // session it negotiated then.
    let resp = before.get(broker.url("/healthz")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        peer_leaf(&resp),
        pki.server.der(),
        "the kept-alive connection was not reused"
    );
    // A new connection gets the new certificate.
    let after = client(&pki.ca, None);
    let resp = after.get(broker.url("/healthz")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(peer_leaf(&resp), renewed.der());
    assert_eq!(
        metric(
            &after,
            &broker,
            "fedbroker_tls_listener_certificate_expiry_timestamp_seconds"
        )
        .await,
        Some(not_after(&renewed))
    );
    assert_eq!(
        metric(
            &after,
            &broker,
            "fedbroker_tls_listener_certificate_reloads_total{outcome=\"success\"}"
        )
        .await,
        Some(1.0)
    );
}

#[tokio::test]
async fn broken_new_certificate_keeps_the_old_one() {
    let pki = Pki::new(KeyKind::EcP256, KeyFormat::Pkcs8);
    let broker = tls_broker(&pki, None);
    // A renewed certificate whose key was not copied along: the pair does not match.
    let renewed = pki.ca.server(KeyKind::EcP256, a_year_from_now() + 86_400);
    std::fs::write(pki.cert(), renewed.chain_pem()).unwrap();
    broker.signal("HUP");
    wait_for_log(&broker, "tls.certificate_reload_failed", 1);
    // A truncated certificate file.
    std::fs::write(pki.cert(), b"-----BEGIN CERTIFICATE-----\nMIIB\n").unwrap();
    broker.signal("HUP");
    wait_for_log(&broker, "tls.certificate_reload_failed", 2);

    let c = client(&pki.ca, None);
    let resp = c.get(broker.url("/healthz")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(peer_leaf(&resp), pki.server.der(), "the old pair is served");
    assert_eq!(
        metric(
            &c,
            &broker,
            "fedbroker_tls_listener_certificate_reloads_total{outcome=\"failure\"}"
        )
        .await,
        Some(2.0)
    );
    assert_eq!(
        metric(
            &c,
            &broker,
            "fedbroker_tls_listener_certificate_expiry_timestamp_seconds"
        )
        .await,
        Some(not_after(&pki.server))
    );
    assert!(
        !broker.logs().contains("MIIB"),
        "file contents reached the log"
    );
}

/// A broker requiring client certificates from `workload_ca` on the container endpoint.
fn mtls_broker() -> (Pki, Ca, Broker) {
    mtls_broker_with(String::new())
}

fn mtls_broker_with(extra_toml: String) -> (Pki, Ca, Broker) {
    let pki = Pki::new(KeyKind::EcP256, KeyFormat::Pkcs8);
    let workload_ca = Ca::new("workload CA");
    let ca_file = workload_ca.write(pki.dir.path(), "workload-ca.pem");
    let broker = tls_broker_with(&pki, Some(&ca_file), extra_toml);
    (pki, workload_ca, broker)
}

const CONTAINER: &str =
    "/v1/container-credentials?role_arn=arn:aws:iam::111122223333:role/CiDeploy";

#[tokio::test]
async fn container_credentials_without_client_certificate_is_refused() {
    let (pki, workload_ca, broker) = mtls_broker();
    let anonymous = client(&pki.ca, None);
    let resp = anonymous
        .get(broker.url(CONTAINER))
        .header("authorization", "any-token")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "client_certificate_required");
    // Other routes (and browsers) need no certificate.
    let resp = anonymous.get(broker.url("/healthz")).send().await.unwrap();
    assert_eq!(resp.status(), 200);

    // With a certificate from the workload CA the request reaches the token check.
    let workload = workload_ca.client("ci-runner");
    let resp = client(&pki.ca, Some(&workload))
        .get(broker.url(CONTAINER))
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "missing_token", "{body}");
}

/// The whole way with the test OIDC IdP (`scripts/oidc-idp.sh`): a workload with its client
/// certificate and its token gets credentials; the same token without the certificate does not.
#[tokio::test]
async fn workload_with_its_client_certificate_and_token_gets_container_credentials() {
    let (pki, workload_ca, broker) = mtls_broker_with(format!(
        "\n[[oidc.providers]]\nname = \"testidp\"\nissuer = \"{}\"\naudiences = [\"sts.amazonaws.com\"]\nca_file = \"{}\"\n",
        oidc_idp::env("FEDBROKER_TEST_OIDC_ISSUER"),
        oidc_idp::env("FEDBROKER_TEST_OIDC_CA")
    ));
    let (_, token) = oidc_idp::workload_token(&oidc_idp::idp()).await;
    let workload = client(&pki.ca, Some(&workload_ca.client("ci-runner")));
    let resp = workload
        .get(broker.url(CONTAINER))
        .header("authorization", &token)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(status, 200, "{body}\n{}", broker.logs());
    assert_eq!(body["RoleArn"], "arn:aws:iam::111122223333:role/CiDeploy");
    assert!(body["AccessKeyId"]
        .as_str()
        .is_some_and(|k| k.starts_with("ASIA")));
    let resp = client(&pki.ca, None)
        .get(broker.url(CONTAINER))
        .header("authorization", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
}

#[tokio::test]
async fn client_certificate_from_untrusted_ca_is_refused() {
    let (pki, _workload_ca, broker) = mtls_broker();
    let other = Ca::new("attacker CA").client("ci-runner");
    let result = client(&pki.ca, Some(&other))
        .get(broker.url(CONTAINER))
        .header("authorization", "any-token")
        .send()
        .await;
    match result {
        // rustls refuses the handshake with an alert (unknown CA)...
        Err(e) => assert!(format!("{e:?}").contains("Alert"), "{e:?}"),
        // ...or, if the alert arrives after the request was sent, never as a success.
        Ok(resp) => {
            let status = resp.status();
            let body: serde_json::Value = resp.json().await.unwrap_or_default();
            assert_eq!(status, 401, "{body}");
            assert_eq!(body["error"]["code"], "client_certificate_required");
        }
    }
    // The server's own CA does not sign client certificates for it either.
    let server_ca_client = pki.ca.client("not-a-workload");
    let result = client(&pki.ca, Some(&server_ca_client))
        .get(broker.url(CONTAINER))
        .send()
        .await;
    match result {
        Err(e) => assert!(format!("{e:?}").contains("Alert"), "{e:?}"),
        Ok(resp) => assert_eq!(resp.status(), 401),
    }
}

/// `fedbroker check-config` on a config with a TLS listener; (exit code, stdout + stderr).
fn check_config(dir: &Path, cert: &Path, key: &Path, client_ca: Option<&Path>) -> (i32, String) {
    let mut toml = format!(
        "[server]\npublic_url = \"https://broker.example.com\"\ntls_cert_file = \"{}\"\ntls_key_file = \"{}\"\n",
        cert.display(),
        key.display()
    );
    if let Some(ca) = client_ca {
        toml.push_str(&format!("tls_client_ca_file = \"{}\"\n", ca.display()));
    }
    let path = dir.join("check.toml");
    std::fs::write(&path, toml).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_fedbroker"))
        .args(["check-config", "--config"])
        .arg(&path)
        .env_remove("FEDBROKER_CONFIG")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn check_config_names_the_key_of_each_broken_tls_file() {
    let pki = Pki::new(KeyKind::Rsa, KeyFormat::Traditional);
    let dir = pki.dir.path();
    let (code, out) = check_config(dir, &pki.cert(), &pki.key(), None);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("listener: https"), "{out}");

    let missing = dir.join("missing.pem");
    let (code, out) = check_config(dir, &missing, &missing, Some(&missing));
    assert_eq!(code, 2, "{out}");
    for key in [
        "server.tls_cert_file: cannot read",
        "server.tls_key_file: cannot read",
        "server.tls_client_ca_file: cannot read",
    ] {
        assert!(out.contains(key), "{key} not reported:\n{out}");
    }

    // A key from another issuance.
    let other = pki.ca.server(KeyKind::Rsa, a_year_from_now());
    let other_key = dir.join("other.key");
    std::fs::write(&other_key, other.key_pem(KeyFormat::Pkcs8)).unwrap();
    let (code, out) = check_config(dir, &pki.cert(), &other_key, None);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("server.tls_key_file") && out.contains("is not the key of"),
        "{out}"
    );
    // The key's bytes never reach the output.
    let pem = String::from_utf8(other.key_pem(KeyFormat::Pkcs8)).unwrap();
    let body_line = pem.lines().nth(1).unwrap();
    assert!(!out.contains(body_line), "{out}");

    // A certificate file that holds a key, and a key file that holds a certificate.
    let (code, out) = check_config(dir, &pki.key(), &pki.cert(), None);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("server.tls_cert_file") && out.contains("no certificate"),
        "{out}"
    );
    assert!(
        out.contains("server.tls_key_file") && out.contains("no private key"),
        "{out}"
    );
}
