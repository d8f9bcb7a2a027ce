//! The operator-facing observability files match the broker that runs: every metric named by the
//! Grafana dashboard (`deploy/grafana/fedbroker.json`) and the alert rules
//! (`deploy/prometheus/alerts.yml`) is in a live broker's `/metrics`; with
//! `server.metrics_listen` set, `/metrics` is served there and the public listener answers it as
//! any unknown route (404, the broker's error body); and the example configurations under
//! `deploy/` use only configuration keys the broker knows.
//!
//! The live broker is the real binary with Redis and moto (STS), started by `scripts/test.sh`,
//! after one credential issued and one refused, so the per-request series exist too.

use crate::support::broker;
use crate::support::saml_idp;

use broker::{repo_path, spare_port, Broker, BrokerOptions};
use chrono::Utc;
use saml_idp::SamlResponseBuilder;
use std::collections::BTreeSet;

/// Suffixes Prometheus adds to a histogram's (or summary's) samples: the dashboard and alerts may
/// name either the sample or the family.
const SAMPLE_SUFFIXES: [&str; 3] = ["_bucket", "_sum", "_count"];

/// Who adds the metrics that this branch's broker may not export yet (printed when missing).
const PROVIDED_ELSEWHERE: [(&str, &str); 2] = [
    (
        "fedbroker_redis_up",
        "the periodic Redis PING of the shared stores",
    ),
    (
        "fedbroker_redis_errors_total",
        "the Redis-backed stores' error counter",
    ),
];

/// The TLS listener's metrics, exported only by a broker serving TLS itself: checked by
/// `the_tls_listener_metrics_are_exported_by_a_broker_serving_tls`.
const TLS_LISTENER_PREFIX: &str = "fedbroker_tls_listener_";
const TLS_LISTENER_EXPIRY: &str = "fedbroker_tls_listener_certificate_expiry_timestamp_seconds";

/// The names `deploy/grafana/fedbroker.json` and `deploy/prometheus/alerts.yml` use.
fn names_used_by_deploy_files() -> Vec<(&'static str, BTreeSet<String>)> {
    [
        "deploy/grafana/fedbroker.json",
        "deploy/prometheus/alerts.yml",
    ]
    .into_iter()
    .map(|file| {
        let used = names_used(&read(file));
        assert!(used.len() >= 10, "{file}: only {used:?}");
        assert!(used.contains(TLS_LISTENER_EXPIRY), "{file}: {used:?}");
        (file, used)
    })
    .collect()
}

fn family(name: &str) -> &str {
    SAMPLE_SUFFIXES
        .iter()
        .find_map(|s| name.strip_suffix(s))
        .unwrap_or(name)
}

/// Every `fedbroker_*` metric name in `text` (queries, descriptions), as families.
fn names_used(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("fedbroker_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(tail.len());
        names.insert(family(&tail[..end]).to_owned());
        rest = &tail[end..];
    }
    names
}

/// The metric names of an OpenMetrics exposition's samples, as families.
fn names_exported(exposition: &str) -> BTreeSet<String> {
    exposition
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(|n| family(n).to_owned())
        .collect()
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo_path(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
}

async fn get(url: &str) -> (u16, String) {
    let resp = reqwest::get(url)
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = resp.status().as_u16();
    (status, resp.text().await.expect("body"))
}

/// A broker with Redis and `server.metrics_listen` on its own port; `extra_toml` is appended to
/// its configuration.
fn broker_with_metrics_listener(extra_toml: &str) -> (Broker, String) {
    let metrics_addr = format!("127.0.0.1:{}", spare_port());
    let broker = Broker::start_on(
        BrokerOptions {
            extra_toml: extra_toml.to_owned(),
            ..BrokerOptions::default()
        },
        spare_port(),
        &[("FEDBROKER_SERVER__METRICS_LISTEN", metrics_addr.as_str())],
    );
    (broker, format!("http://{metrics_addr}/metrics"))
}

/// A plain-HTTP loopback `metadata_url` (a thread answering every request with `body`) for the
/// series only an IdP with fetched metadata has (refreshes, last success, validUntil).
fn serve_metadata(body: String) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!(
        "http://{}/metadata.xml",
        listener.local_addr().expect("addr")
    );
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let _ = conn.read(&mut buf);
            let _ = write!(
                conn,
                "HTTP/1.1 200 OK\r\ncontent-type: application/samlmetadata+xml\r\n\
                 content-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    url
}

/// The test IdP's metadata as another entity, valid for 30 more days.
fn second_idp_metadata() -> String {
    let valid_until = (Utc::now() + chrono::TimeDelta::days(30))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    read("config/test-idp-metadata.xml").replacen(
        "entityID=\"https://idp.test.fedbroker.local/metadata\"",
        &format!(
            "entityID=\"https://idp2.test.fedbroker.local/metadata\" validUntil=\"{valid_until}\""
        ),
        1,
    )
}

/// One credential issued through moto and the same assertion refused as a replay.
async fn issue_one_and_refuse_one(broker: &Broker) {
    let mut b = SamlResponseBuilder::new(Utc::now());
    b.response_id = format!("_r{}", uuid::Uuid::new_v4().simple());
    b.assertion_id = format!("_a{}", uuid::Uuid::new_v4().simple());
    let saml = b.build_base64();
    let client = reqwest::Client::new();
    for expected in [200, 401] {
        let resp = client
            .post(broker.url("/v1/saml/credentials"))
            .form(&[("SAMLResponse", saml.as_str())])
            .send()
            .await
            .expect("request");
        let status = resp.status().as_u16();
        let body = resp.text().await.unwrap_or_default();
        assert_eq!(status, expected, "{body}\n{}", broker.logs());
    }
}

#[tokio::test]
async fn every_metric_the_dashboard_and_alerts_use_is_exported_by_a_live_broker() {
    let metadata = second_idp_metadata();
    assert!(metadata.contains("idp2.test"), "entityID replaced");
    let url = serve_metadata(metadata);
    let (broker, metrics_url) = broker_with_metrics_listener(&format!(
        "\n[[saml.idps]]\nname = \"fetched-idp\"\nmetadata_url = \"{url}\"\n"
    ));
    issue_one_and_refuse_one(&broker).await;
    // A reload (SIGHUP): the reload counters exist from the first one.
    broker.signal("HUP");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let exposition = loop {
        let (status, exposition) = get(&metrics_url).await;
        assert_eq!(status, 200, "{exposition}");
        if exposition.contains("fedbroker_config_reloads_total{outcome=\"success\"} 1") {
            break exposition;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the reload was not counted:\n{exposition}\n{}",
            broker.logs()
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let exported = names_exported(&exposition);
    // The series this test's requests create (a sanity check of the parsing, too).
    for name in [
        "fedbroker_credentials_issued_total",
        "fedbroker_credential_refusals_total",
        "fedbroker_sts_call_duration_seconds",
        "fedbroker_rate_limited_total",
        "fedbroker_http_request_duration_seconds",
    ] {
        assert!(
            exported.contains(name),
            "{name} not exported:\n{exposition}"
        );
    }
    assert!(
        exposition
            .contains(r#"fedbroker_credential_refusals_total{route="saml",code="saml_replay"} 1"#),
        "the replay is counted by route and code:\n{exposition}"
    );

    let mut problems = Vec::new();
    for (file, used) in names_used_by_deploy_files() {
        let plain = used.difference(&exported);
        for name in plain.filter(|n| !n.starts_with(TLS_LISTENER_PREFIX)) {
            let note = PROVIDED_ELSEWHERE
                .iter()
                .find(|(n, _)| n == name)
                .map_or(String::new(), |(_, by)| format!(" (added with {by})"));
            problems.push(format!("{file}: {name}{note}"));
        }
    }
    assert!(
        problems.is_empty(),
        "{} metric name(s) used by the dashboard or the alerts are not in a live broker's \
         /metrics:\n  {}\nexported: {exported:?}",
        problems.len(),
        problems.join("\n  ")
    );
}

#[tokio::test]
async fn with_metrics_listen_the_public_listener_answers_metrics_as_an_unknown_route() {
    let (broker, metrics_url) = broker_with_metrics_listener("");
    let (status, body) = get(&broker.url("/metrics")).await;
    let (unknown_status, unknown_body) = get(&broker.url("/no-such-route")).await;
    assert_eq!((status, unknown_status), (404, 404), "{body}");
    let code = |b: &str| -> serde_json::Value {
        serde_json::from_str::<serde_json::Value>(b).expect("JSON error body")["error"]["code"]
            .clone()
    };
    assert_eq!(code(&body), "not_found", "{body}");
    assert_eq!(body, unknown_body, "same answer as any unknown route");
    assert!(
        !body.contains("fedbroker_"),
        "no metrics on the public port"
    );

    let (status, exposition) = get(&metrics_url).await;
    assert_eq!(status, 200);
    assert!(
        exposition.contains("fedbroker_http_request_duration_seconds"),
        "{exposition}"
    );
    assert!(exposition.ends_with("# EOF\n"), "OpenMetrics text");
    // Only /metrics on the metrics listener: the API is not reachable through it.
    let base = metrics_url.trim_end_matches("/metrics");
    for path in ["/healthz", "/v1/roles", "/saml/metadata"] {
        let (status, _) = get(&format!("{base}{path}")).await;
        assert_eq!(status, 404, "{path} on the metrics listener");
    }
    // SIGTERM stops both listeners and the process exits cleanly.
    let status = broker.terminate();
    assert!(status.success(), "{status:?}");
    assert!(
        reqwest::get(&metrics_url).await.is_err(),
        "the metrics listener is closed"
    );
}

#[tokio::test]
async fn without_metrics_listen_the_public_listener_serves_metrics() {
    let broker = Broker::start(BrokerOptions {
        redis: false,
        ..BrokerOptions::default()
    });
    let (status, exposition) = get(&broker.url("/metrics")).await;
    assert_eq!(status, 200);
    assert!(
        exposition.contains("fedbroker_rate_limited_total"),
        "{exposition}"
    );
}

/// The `fedbroker.toml` text of a ConfigMap manifest (`data: fedbroker.toml: |` block).
fn configmap_toml(yaml: &str) -> String {
    let mut lines = yaml.lines().skip_while(|l| l.trim() != "fedbroker.toml: |");
    lines.next().expect("a fedbroker.toml key");
    lines
        .take_while(|l| l.is_empty() || l.starts_with("    "))
        .map(|l| l.strip_prefix("    ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn deploy_example_configs_use_only_known_config_keys() {
    let mut files: Vec<(String, String)> = vec![(
        "deploy/kubernetes/base/configmap.yaml".into(),
        configmap_toml(&read("deploy/kubernetes/base/configmap.yaml")),
    )];
    files.push((
        "deploy/fedbroker.toml".into(),
        read("deploy/fedbroker.toml"),
    ));
    let overlays = repo_path("deploy/kubernetes/overlays");
    let mut names: Vec<_> = std::fs::read_dir(&overlays)
        .expect("deploy/kubernetes/overlays")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(names.len() >= 3, "{names:?}");
    for name in names {
        let rel = format!("deploy/kubernetes/overlays/{name}/fedbroker.toml");
        files.push((rel.clone(), read(&rel)));
    }
    let mut unknown = Vec::new();
    for (file, text) in &files {
        // Files the examples name (keys, certificates, metadata) do not exist here: only unknown
        // keys and sections, and values the loader cannot parse, are the example's fault.
        if let Err(e) = fedbroker::config::load_str(text, Vec::new()) {
            unknown.extend(
                e.0.iter()
                    .filter(|p| p.contains("unknown") || p.contains("not valid TOML"))
                    .map(|p| format!("{file}: {p}")),
            );
        }
    }
    assert!(unknown.is_empty(), "{}", unknown.join("\n"));
}

/// `notAfter` of a PEM certificate, as Unix time.
fn not_after(pem: &[u8]) -> i64 {
    let cert = openssl::x509::X509::from_pem(pem).expect("PEM certificate");
    let epoch = openssl::asn1::Asn1Time::from_unix(0).expect("epoch");
    let d = epoch.diff(cert.not_after()).expect("diff");
    i64::from(d.days) * 86_400 + i64::from(d.secs)
}

#[test]
fn the_tls_listener_metrics_are_exported_by_a_broker_serving_tls() {
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().expect("tempdir");
    let (port, metrics_port) = (spare_port(), spare_port());
    let cert = repo_path("certs/chain-partial.pem");
    let key = repo_path("certs/chain-leaf.key");
    let config = dir.path().join("fedbroker.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\npublic_url = \"https://127.0.0.1:{port}\"\n\
             metrics_listen = \"127.0.0.1:{metrics_port}\"\ntls_cert_file = \"{}\"\n\
             tls_key_file = \"{}\"\nworkers = 1\n",
            cert.display(),
            key.display()
        ),
    )
    .expect("write config");
    let log = dir.path().join("broker.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_fedbroker"))
        .args(["serve", "--config"])
        .arg(&config)
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("spawn fedbroker");
    let logs = || std::fs::read_to_string(&log).unwrap_or_default();
    let pid = child.id().to_string();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let url = format!("http://127.0.0.1:{metrics_port}/metrics");
    // The metrics listener is plain HTTP: it answers once the broker (TLS listener included) runs.
    let mut wait_for = |what: &str, done: &dyn Fn(&str) -> bool| -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "fedbroker with a TLS listener exited ({status}):\n{}",
                    logs()
                );
            }
            let got = rt.block_on(async {
                let r = reqwest::get(&url).await.ok()?;
                (r.status() == 200).then_some(())?;
                r.text().await.ok()
            });
            if let Some(body) = got.filter(|b| done(b)) {
                return body;
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                panic!("{what}: not seen on {url} after 30 s:\n{}", logs());
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    };
    wait_for("the metrics listener", &|_| true);
    // A SIGHUP reloads the certificate too: its reload counter exists from then on.
    let status = Command::new("kill").args(["-HUP", &pid]).status();
    assert!(status.is_ok_and(|s| s.success()), "kill -HUP {pid}");
    let exposition = wait_for("a TLS certificate reload", &|b| {
        b.contains("fedbroker_tls_listener_certificate_reloads_total")
    });
    let _ = child.kill();
    let _ = child.wait();
    let exported = names_exported(&exposition);
    for (file, used) in names_used_by_deploy_files() {
        for name in used.iter().filter(|n| n.starts_with(TLS_LISTENER_PREFIX)) {
            assert!(
                exported.contains(name),
                "{file}: {name} not in:\n{exposition}"
            );
        }
    }
    let value = exposition
        .lines()
        .find(|l| l.starts_with(TLS_LISTENER_EXPIRY))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("{TLS_LISTENER_EXPIRY} not in /metrics:\n{exposition}"));
    let expected = not_after(&std::fs::read(&cert).expect("certificate"));
    assert_eq!(value as i64, expected, "the served leaf's notAfter");
}

#[test]
fn a_taken_metrics_port_fails_the_start_and_names_the_key() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr");
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("fedbroker.toml");
    let port = spare_port();
    std::fs::write(
        &config,
        format!("[server]\nlisten = \"127.0.0.1:{port}\"\nmetrics_listen = \"{addr}\"\n"),
    )
    .expect("write config");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_fedbroker"))
        .args(["serve", "--config"])
        .arg(&config)
        .env_remove("RUST_LOG")
        .output()
        .expect("run fedbroker");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("cannot listen on {addr} (server.metrics_listen)")),
        "{stderr}"
    );
}
