//! Test harness: runs the real `fedbroker` binary against moto (STS) and a real Redis, both started
//! by `scripts/services.sh` (via `scripts/test.sh`), and captures its logs for secret-leak checks.
#![allow(dead_code)]

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long the broker may take to become ready.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// A required environment variable set by `scripts/test.sh`; fail loudly when absent.
pub fn required_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the tests with scripts/test.sh (it starts moto and Redis)")
    })
}

pub fn repo_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// A free loopback port (bound and released; fine for tests).
pub fn spare_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port")
}

/// A running broker process; killed on drop.
pub struct Broker {
    child: Child,
    pub base_url: String,
    pub log_path: PathBuf,
    /// The config file the broker was started with (tests edit it and send SIGHUP).
    pub config_path: PathBuf,
    _dir: tempfile::TempDir,
}

/// Options for the broker's config.
pub struct BrokerOptions {
    pub redis: bool,
    pub extra_toml: String,
}

impl Default for BrokerOptions {
    fn default() -> Self {
        Self {
            redis: true,
            extra_toml: String::new(),
        }
    }
}

impl Broker {
    pub fn start(opts: BrokerOptions) -> Self {
        Self::start_on(opts, spare_port(), &[])
    }

    /// Like [`Broker::start`], on a chosen loopback `port` (e.g. the one in an IdP's registered
    /// redirect URI) and with extra environment variables for the process (e.g. the broker's own
    /// AWS credentials, or `FEDBROKER_SECTION__KEY` overrides of keys in the generated sections).
    pub fn start_on(opts: BrokerOptions, port: u16, envs: &[(&str, &str)]) -> Self {
        let sts = required_env("FEDBROKER_TEST_STS_ENDPOINT");
        let redis = if opts.redis {
            Some(required_env("FEDBROKER_TEST_REDIS_URL"))
        } else {
            None
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let metadata = repo_path("config/test-idp-metadata.xml");
        let mut toml = format!(
            r#"[server]
listen = "127.0.0.1:{port}"
public_url = "http://127.0.0.1:{port}"
workers = 2

[aws]
region = "us-east-1"
sts_endpoint = "{sts}"

[log]
format = "json"
level = "info"

[[saml.idps]]
name = "test-idp"
metadata_file = "{metadata}"
"#,
            metadata = metadata.display()
        );
        if let Some(r) = &redis {
            let prefix = format!("fedbroker-test-{}:", uuid::Uuid::new_v4());
            toml.push_str(&format!(
                "\n[cache]\nredis_url = \"{r}\"\nkey_prefix = \"{prefix}\"\n\
                 encryption_keys = [\"test:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"]\n"
            ));
        }
        toml.push_str(&opts.extra_toml);
        let cfg_path = dir.path().join("fedbroker.toml");
        std::fs::write(&cfg_path, toml).expect("write config");
        let log_path = dir.path().join("broker.log");
        let log = std::fs::File::create(&log_path).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_fedbroker"))
            .arg("serve")
            .arg("--config")
            .arg(&cfg_path)
            .env_remove("RUST_LOG")
            .envs(envs.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn fedbroker");
        // A TLS listener (its files set through `FEDBROKER_SERVER__TLS_*` in `envs`) answers https.
        let tls = envs
            .iter()
            .any(|(k, _)| *k == "FEDBROKER_SERVER__TLS_CERT_FILE");
        let scheme = if tls { "https" } else { "http" };
        let broker = Self {
            child,
            base_url: format!("{scheme}://127.0.0.1:{port}"),
            log_path,
            config_path: cfg_path,
            _dir: dir,
        };
        broker.wait_ready();
        broker
    }

    fn wait_ready(&self) {
        let start = Instant::now();
        if let Some(host) = self.base_url.strip_prefix("https://") {
            // The listener is bound once the state is built: accepting TCP is ready enough (the
            // tests then speak TLS themselves).
            while start.elapsed() < READY_TIMEOUT {
                if std::net::TcpStream::connect(host).is_ok() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            panic!(
                "fedbroker (https) did not start listening; log:\n{}",
                self.logs()
            );
        }
        while start.elapsed() < READY_TIMEOUT {
            if let Ok(resp) = reqwest::blocking_get(&format!("{}/readyz", self.base_url)) {
                if resp == 200 {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("fedbroker did not become ready; log:\n{}", self.logs());
    }

    pub fn logs(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.log_path) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// The broker's process id (e.g. to count its open descriptors in `/proc`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Send a signal by name (e.g. `HUP`: reload the configuration).
    pub fn signal(&self, name: &str) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill")
            .args([&format!("-{name}"), &pid])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} {pid} failed");
    }

    /// The process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Send SIGTERM and wait for a clean exit (graceful shutdown).
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            if start.elapsed() > Duration::from_secs(40) {
                let _ = self.child.kill();
                panic!("fedbroker did not stop after SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Minimal blocking GET returning the status code, without pulling in reqwest's blocking feature.
mod reqwest {
    pub fn blocking_get(url: &str) -> std::io::Result<u16> {
        use std::io::{Read, Write};
        let rest = url.strip_prefix("http://").unwrap_or(url);
        let (host, path) = rest
            .split_once('/')
            .map_or((rest, "/".to_string()), |(h, p)| (h, format!("/{p}")));
        let mut s = std::net::TcpStream::connect(host)?;
        s.set_read_timeout(Some(std::time::Duration::from_secs(2)))?;
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        )?;
        let mut buf = String::new();
        s.read_to_string(&mut buf)?;
        buf.split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| std::io::Error::other("bad status line"))
    }
}
