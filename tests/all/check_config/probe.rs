//! `fedbroker check-config --probe` run as a binary against real services: the test Redis and
//! moto (`scripts/services.sh start`), the test OIDC IdP (`scripts/oidc-idp.sh start`), the test
//! Redis Cluster (`scripts/redis-cluster.sh start`), a
//! `redis-server --requirepass` started here, and a loopback HTTP server of this file playing the
//! SAML metadata URL, a broken OIDC issuer and the federation endpoint. Asserts every service is
//! reported, every problem at once, exit codes 0/2, no password in the output, and that plain
//! `check-config` contacts none of the services `--probe` adds.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const KEY: &str = "k1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
/// The password `redis-server` requires in the wrong-password tests.
const RIGHT_PASSWORD: &str = "probe-right-pw-7f3a";
/// The password the configuration gives it.
const WRONG_PASSWORD: &str = "probe-wrong-pw-91c2";

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: run `bash scripts/services.sh start` and `bash scripts/oidc-idp.sh \
             start` (and `scripts/redis-cluster.sh start`), then source the .env files they \
             write under .fedbroker-run/ in the same shell as cargo test"
        )
    })
}

// ---- a loopback HTTP server -------------------------------------------------------------------

/// Answers GET `path` with the (status, body) registered for it, 404 otherwise; counts requests.
struct HttpDouble {
    base: String,
    hits: Arc<AtomicUsize>,
}

impl HttpDouble {
    fn start(routes: impl Fn(&str) -> Vec<(String, u16, String)>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let routes: HashMap<String, (u16, String)> = routes(&base)
            .into_iter()
            .map(|(p, s, b)| (p, (s, b)))
            .collect();
        let hits = Arc::new(AtomicUsize::new(0));
        let counted = hits.clone();
        std::thread::spawn(move || {
            for mut tcp in listener.incoming().flatten() {
                counted.fetch_add(1, Ordering::SeqCst);
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tcp.read(&mut chunk) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&buf);
                let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let (status, body) = routes
                    .get(&path)
                    .cloned()
                    .unwrap_or((404, "not found".into()));
                let _ = write!(
                    tcp,
                    "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        Self { base, hits }
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn test_idp_metadata() -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("config/test-idp-metadata.xml"),
    )
    .unwrap()
}

/// The metadata URL, a broken OIDC issuer (`/bad`: discovery fine, JWKS not JSON) and a
/// federation endpoint.
fn double() -> HttpDouble {
    let metadata = test_idp_metadata();
    HttpDouble::start(move |base| {
        vec![
            ("/metadata.xml".into(), 200, metadata.clone()),
            (
                "/bad/.well-known/openid-configuration".into(),
                200,
                format!(r#"{{"issuer":"{base}/bad","jwks_uri":"{base}/bad/jwks"}}"#),
            ),
            ("/bad/jwks".into(), 200, "this is not a JWKS".into()),
            ("/federation".into(), 400, "{}".into()),
        ]
    })
}

// ---- a password-protected redis-server --------------------------------------------------------

struct RedisWithPassword {
    child: Child,
    port: u16,
}

impl RedisWithPassword {
    fn start() -> Self {
        let port = closed_port();
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--requirepass",
                RIGHT_PASSWORD,
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (Debian package redis-server) must be installed");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { child, port }
    }
}

impl Drop for RedisWithPassword {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---- configs and the binary -------------------------------------------------------------------

/// Sections of a config; every field is TOML text.
struct Conf {
    redis_url: Option<String>,
    cluster_urls: Vec<String>,
    sts_endpoint: String,
    federation_endpoint: String,
    oidc: Vec<String>,
    saml: Vec<String>,
}

impl Conf {
    fn toml(&self) -> String {
        let mut t = format!(
            "[aws]\nregion = \"us-east-1\"\nsts_endpoint = \"{}\"\nfederation_endpoint = \"{}\"\n",
            self.sts_endpoint, self.federation_endpoint
        );
        t.push_str(&format!("[cache]\nencryption_keys = [\"{KEY}\"]\n"));
        if let Some(url) = &self.redis_url {
            t.push_str(&format!("redis_url = \"{url}\"\n"));
        }
        if !self.cluster_urls.is_empty() {
            let list: Vec<String> = self.cluster_urls.iter().map(|u| format!("{u:?}")).collect();
            t.push_str(&format!("redis_cluster_urls = [{}]\n", list.join(", ")));
        }
        for p in &self.oidc {
            t.push_str("[[oidc.providers]]\n");
            t.push_str(p);
        }
        for i in &self.saml {
            t.push_str("[[saml.idps]]\n");
            t.push_str(i);
        }
        t
    }
}

fn good_oidc() -> String {
    let audience =
        std::env::var("FEDBROKER_TEST_OIDC_AUDIENCE").unwrap_or("sts.amazonaws.com".into());
    format!(
        "name = \"testidp\"\nissuer = \"{}\"\nca_file = \"{}\"\naudiences = [\"{audience}\"]\n",
        env("FEDBROKER_TEST_OIDC_ISSUER"),
        env("FEDBROKER_TEST_OIDC_CA")
    )
}

fn loopback_oidc(name: &str, issuer: &str) -> String {
    format!(
        "name = \"{name}\"\nissuer = \"{issuer}\"\nallow_insecure_http = true\naudiences = [\"sts.amazonaws.com\"]\n"
    )
}

fn saml_url(name: &str, url: &str) -> String {
    format!("name = \"{name}\"\nmetadata_url = \"{url}\"\n")
}

/// A config where every service is up.
fn all_good(http: &HttpDouble) -> Conf {
    Conf {
        redis_url: Some(env("FEDBROKER_TEST_REDIS_URL")),
        cluster_urls: Vec::new(),
        sts_endpoint: env("FEDBROKER_TEST_STS_ENDPOINT"),
        federation_endpoint: format!("{}/federation", http.base),
        oidc: vec![good_oidc()],
        saml: vec![saml_url("corp", &format!("{}/metadata.xml", http.base))],
    }
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

impl Run {
    fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

fn check_config(dir: &Path, conf: &Conf, probe: bool) -> Run {
    let path: PathBuf = dir.join("fedbroker.toml");
    std::fs::write(&path, conf.toml()).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_fedbroker"));
    cmd.arg("check-config").arg("--config").arg(&path);
    if probe {
        cmd.arg("--probe");
    }
    // No configuration override from the test's environment.
    for (k, _) in std::env::vars() {
        if k.starts_with("FEDBROKER_") && k.contains("__") {
            cmd.env_remove(k);
        }
    }
    let started = Instant::now();
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().unwrap();
    Run {
        code: status.code(),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
        elapsed: started.elapsed(),
    }
}

fn assert_contains(run: &Run, needles: &[&str]) {
    let all = run.all();
    for n in needles {
        assert!(all.contains(n), "missing {n:?} in:\n{all}");
    }
}

// ---- tests ------------------------------------------------------------------------------------

#[test]
fn every_service_up_is_reported_ok_and_exits_0() {
    let http = double();
    let dir = tempfile::tempdir().unwrap();
    let run = check_config(dir.path(), &all_good(&http), true);
    assert_eq!(run.code, Some(0), "{}", run.all());
    for what in [
        "probe ok      cache.redis_url redis://",
        "probe ok      oidc.providers \"testidp\"",
        "probe ok      saml.idps \"corp\" metadata_url",
        "probe ok      aws.sts_endpoint",
        "probe ok      aws.federation_endpoint",
    ] {
        assert!(
            run.stdout.contains(what),
            "missing {what:?} in:\n{}",
            run.all()
        );
    }
    assert!(!run.all().contains("FAILED"), "{}", run.all());
    assert!(run.stdout.contains("config OK"), "{}", run.all());
}

#[test]
fn wrong_redis_password_fails_and_names_cache_redis_url_without_the_password() {
    let redis = RedisWithPassword::start();
    let http = double();
    let dir = tempfile::tempdir().unwrap();
    let mut conf = all_good(&http);
    conf.redis_url = Some(format!(
        "redis://:{WRONG_PASSWORD}@127.0.0.1:{}",
        redis.port
    ));
    let run = check_config(dir.path(), &conf, true);
    assert_eq!(run.code, Some(2), "{}", run.all());
    assert_contains(&run, &["probe FAILED  cache.redis_url"]);
    assert!(
        run.stderr.lines().any(|l| l.contains("cache.redis_url")
            && l.contains("refused")
            && l.contains("password")),
        "no problem line naming cache.redis_url and the refused password:\n{}",
        run.all()
    );
    assert!(!run.all().contains(WRONG_PASSWORD), "{}", run.all());
    assert!(!run.all().contains(RIGHT_PASSWORD), "{}", run.all());

    // The right password passes against the same server.
    conf.redis_url = Some(format!(
        "redis://:{RIGHT_PASSWORD}@127.0.0.1:{}",
        redis.port
    ));
    let run = check_config(dir.path(), &conf, true);
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert!(!run.all().contains(RIGHT_PASSWORD), "{}", run.all());
}

#[test]
fn redis_without_the_password_it_requires_is_named() {
    let redis = RedisWithPassword::start();
    let http = double();
    let dir = tempfile::tempdir().unwrap();
    let mut conf = all_good(&http);
    conf.redis_url = Some(format!("redis://127.0.0.1:{}", redis.port));
    let run = check_config(dir.path(), &conf, true);
    assert_eq!(run.code, Some(2), "{}", run.all());
    assert!(
        run.stderr
            .lines()
            .any(|l| l.contains("cache.redis_url") && l.contains("password")),
        "no problem line naming cache.redis_url and the password:\n{}",
        run.all()
    );
}

#[test]
fn unreachable_redis_port_is_named() {
    let http = double();
    let dir = tempfile::tempdir().unwrap();
    let mut conf = all_good(&http);
    conf.redis_url = Some(format!("redis://127.0.0.1:{}", closed_port()));
    let run = check_config(dir.path(), &conf, true);
    assert_eq!(run.code, Some(2), "{}", run.all());
    assert_contains(
        &run,
        &["probe FAILED  cache.redis_url", "  - cache.redis_url"],
    );
}

#[test]
fn redis_cluster_gets_the_round_trip_and_an_unreachable_seed_is_named() {
    // FEDBROKER_TEST_REDIS_CLUSTER_URLS: `bash scripts/redis-cluster.sh start`, then source
    // .fedbroker-run/redis-cluster.env.
    let http = double();
    let dir = tempfile::tempdir().unwrap();
    let mut conf = all_good(&http);
    conf.redis_url = None;
    conf.cluster_urls = env("FEDBROKER_TEST_REDIS_CLUSTER_URLS")
        .split(',')
        .map(str::to_owned)
        .collect();
    let run = check_config(dir.path(), &conf, true);
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert_contains(
        &run,
        &[
            "probe ok      cache.redis_cluster_urls redis://127.0.0.1:",
            "SET/GET/DEL",
        ],
    );

    conf.cluster_urls = vec![format!("redis://127.0.0.1:{}", closed_port())];
    let run = check_config(dir.path(), &conf, true);
    assert_eq!(run.code, Some(2), "{}", run.all());
    assert_contains(
        &run,
        &[
            "probe FAILED  cache.redis_cluster_urls",
            "  - cache.redis_cluster_urls",
        ],
    );
}

#[test]
fn unreachable_oidc_issuer_and_unparsable_jwks_are_named() {
    let http = double();
    let dir = tempfile::tempdir().unwrap();
    let mut conf = all_good(&http);
    let down = format!("http://127.0.0.1:{}", closed_port());
    conf.oidc.push(loopback_oidc("down", &down));
    conf.oidc
        .push(loopback_oidc("badkeys", &format!("{}/bad", http.base)));
    let run = check_config(dir.path(), &conf, true);
    assert_eq!(run.code, Some(2), "{}", run.all());
    assert_contains(
        &run,
        &[
            "probe ok      oidc.providers \"testidp\"",
            "probe FAILED  oidc.providers \"down\"",
            "oidc.providers \"down\": discovery",
            "connection failed",
            "probe FAILED  oidc.providers \"badkeys\"",
            "oidc.providers \"badkeys\": the JWKS is not usable",
        ],
    );
}

#[test]
fn oidc_issuer_with_a_certificate_from_an_untrusted_ca_is_named() {
    // The test IdP's certificate comes from the test CA; without ca_file it is not trusted.
    let http = double();
    let dir = tempfile::tempdir().unwrap();
    let mut conf = all_good(&http);
    conf.oidc = vec![good_oidc()
        .lines()
        .filter(|l| !l.starts_with("ca_file"))
        .map(|l| format!("{l}\n"))
        .collect()];
    let run = check_config(dir.path(), &conf, true);
    assert_eq!(run.code, Some(2), "{}", run.all());
    assert_contains(
        &run,
        &[
            "oidc.providers \"testidp\": discovery",
            "certificate",
            "set ca_file",
        ],
    );
}

#[test]
fn oidc_keys_that_verify_none_of_allowed_algorithms_are_named() {
    // The test IdP publishes an RS256 and an ES256 (P-256) key: neither can verify ES384.
    let http = double();
    let dir = tempfile::tempdir().unwrap();
    let mut conf = all_good(&http);
    conf.oidc = vec![format!("{}allowed_algorithms = [\"ES384\"]\n", good_oidc())];
    let run = check_config(dir.path(), &conf, true);
    assert_eq!(run.code, Some(2), "{}", run.all());
    assert_contains(
        &run,
        &["oidc.providers \"testidp\": no key in the JWKS can verify any of allowed_algorithms [ES384]"],
    );
}

#[test]
fn metadata_url_answering_404_is_named() {
    let http = double();
    let dir = tempfile::tempdir().unwrap();
    let mut conf = all_good(&http);
    conf.saml = vec![saml_url("gone", &format!("{}/nothing-here.xml", http.base))];
    let run = check_config(dir.path(), &conf, true);
    assert_eq!(run.code, Some(2), "{}", run.all());
    assert_contains(
        &run,
        &[
            "probe FAILED  saml.idps \"gone\" metadata_url",
            "saml.idps \"gone\"",
            "404",
        ],
    );
}

#[test]
fn several_problems_are_all_reported_at_once_within_a_few_seconds() {
    let redis = RedisWithPassword::start();
    let http = double();
    let dir = tempfile::tempdir().unwrap();
    let conf = Conf {
        redis_url: Some(format!(
            "redis://:{WRONG_PASSWORD}@127.0.0.1:{}",
            redis.port
        )),
        cluster_urls: Vec::new(),
        sts_endpoint: format!("http://127.0.0.1:{}", closed_port()),
        federation_endpoint: format!("{}/federation", http.base),
        oidc: vec![
            good_oidc(),
            loopback_oidc("down", &format!("http://127.0.0.1:{}", closed_port())),
            loopback_oidc("badkeys", &format!("{}/bad", http.base)),
        ],
        saml: vec![
            saml_url("corp", &format!("{}/metadata.xml", http.base)),
            saml_url("gone", &format!("{}/nothing-here.xml", http.base)),
        ],
    };
    let run = check_config(dir.path(), &conf, true);
    assert_eq!(run.code, Some(2), "{}", run.all());
    assert_contains(
        &run,
        &[
            "5 configuration problem(s)",
            "  - cache.redis_url",
            "oidc.providers \"down\":",
            "oidc.providers \"badkeys\":",
            "saml.idps \"gone\":",
            "aws.sts_endpoint (http://127.0.0.1:",
            "probe ok      oidc.providers \"testidp\"",
            "probe ok      saml.idps \"corp\" metadata_url",
            "probe ok      aws.federation_endpoint",
        ],
    );
    assert!(!run.all().contains(WRONG_PASSWORD), "{}", run.all());
    assert!(
        run.elapsed < Duration::from_secs(8),
        "probes must run concurrently: {:?}",
        run.elapsed
    );
}

#[test]
fn without_probe_no_added_service_is_contacted() {
    let http = double();
    let dir = tempfile::tempdir().unwrap();
    // Redis on a closed port and an OIDC issuer, STS and federation endpoint on the double: plain
    // check-config must pass without contacting any of them (it loads no metadata_url here).
    let conf = Conf {
        redis_url: Some(format!("redis://127.0.0.1:{}", closed_port())),
        cluster_urls: Vec::new(),
        sts_endpoint: format!("{}/sts", http.base),
        federation_endpoint: format!("{}/federation", http.base),
        oidc: vec![loopback_oidc("badkeys", &format!("{}/bad", http.base))],
        saml: Vec::new(),
    };
    let run = check_config(dir.path(), &conf, false);
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert!(!run.stdout.contains("probe"), "{}", run.all());
    assert_eq!(http.hits(), 0, "plain check-config contacted a service");

    // The same file with --probe contacts them (and fails on the closed port and the JWKS).
    let run = check_config(dir.path(), &conf, true);
    assert_eq!(run.code, Some(2), "{}", run.all());
    assert!(http.hits() >= 3, "hits: {}", http.hits());
}

#[test]
fn a_file_that_does_not_load_probes_nothing_and_exits_2() {
    let http = double();
    let dir = tempfile::tempdir().unwrap();
    let mut conf = all_good(&http);
    conf.sts_endpoint = "not a url".into();
    let run = check_config(dir.path(), &conf, true);
    assert_eq!(run.code, Some(2), "{}", run.all());
    assert_contains(
        &run,
        &[
            "aws.sts_endpoint",
            "probe skipped: the configuration does not load",
        ],
    );
    assert_eq!(http.hits(), 0);
}
