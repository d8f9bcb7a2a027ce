//! The OIDC thumbprint (AWS procedure, `docs/AWS-RULES.md` §3.3) against local HTTPS
//! servers serving the generated chain of `scripts/gen-tls-chain.sh` (root → intermediate → leaf
//! for localhost), compared with what the `openssl` CLI says about the same certificate files.
//! Covers the library, the `fedbroker thumbprint` binary and `GET /v1/thumbprint` in process.

mod server;

use actix_web::{test, web, App};
use fedbroker::clock::{SharedClock, SystemClock};
use fedbroker::config::{Config, OidcProviderConfig};
use fedbroker::error::ApiError;
use fedbroker::http::{routes, AppState};
use fedbroker::replay::memory::MemoryReplayGuard;
use fedbroker::sts::sdk::SdkStsClient;
use fedbroker::thumbprint::{Thumbprint, ThumbprintError, ThumbprintService, TlsThumbprinter};
use serde_json::Value;
use server::{discovery_doc, TlsServer};
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

fn cert(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("certs")
        .join(name)
}

/// `openssl x509 -in FILE -noout ARGS…`, one line, with its `key=` prefix removed.
fn openssl_x509(file: &str, args: &[&str]) -> String {
    let out = Command::new("openssl")
        .args(["x509", "-in"])
        .arg(cert(file))
        .arg("-noout")
        .args(args)
        .output()
        .expect("the openssl CLI is needed by this test");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = String::from_utf8(out.stdout).unwrap();
    let (_, value) = line.trim().split_once('=').expect("key=value");
    value.to_string()
}

/// What AWS says to do: `openssl x509 -fingerprint -sha1`, colons removed (lowercased: our case).
fn openssl_sha1(file: &str) -> String {
    let fp = openssl_x509(file, &["-fingerprint", "-sha1"]).replace(':', "");
    assert_eq!(fp.len(), 40, "{fp}");
    fp.to_ascii_lowercase()
}

fn openssl_name(file: &str, which: &str) -> String {
    openssl_x509(file, &[which, "-nameopt", "sep_comma_plus_space"])
}

/// `notAfter` as RFC 3339.
fn openssl_not_after(file: &str) -> String {
    let raw = openssl_x509(file, &["-enddate"]);
    chrono::NaiveDateTime::parse_from_str(&raw, "%b %e %H:%M:%S %Y GMT")
        .unwrap_or_else(|e| panic!("{raw}: {e}"))
        .and_utc()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A server on localhost serving `chain` whose discovery points jwks_uri at itself.
async fn self_contained(chain: &str) -> TlsServer {
    TlsServer::start("127.0.0.1", &cert(chain), &cert("chain-leaf.key"), |port| {
        discovery_doc(
            &format!("https://localhost:{port}"),
            &format!("https://localhost:{port}/jwks"),
        )
    })
    .await
}

fn trusting_test_root() -> TlsThumbprinter {
    TlsThumbprinter::new(&[cert("chain-root.crt")]).expect("trust store")
}

fn assert_describes(t: &Thumbprint, file: &str, self_signed_root: bool) {
    assert_eq!(t.thumbprint, openssl_sha1(file), "{t:#?}");
    assert_eq!(t.certificate.sha1, t.thumbprint);
    assert_eq!(t.certificate.subject, openssl_name(file, "-subject"));
    assert_eq!(t.certificate.issuer, openssl_name(file, "-issuer"));
    assert_eq!(t.certificate.not_after, openssl_not_after(file));
    assert_eq!(t.certificate.self_signed_root, self_signed_root);
    assert!(t
        .thumbprint
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
}

#[tokio::test]
async fn full_chain_thumbprint_is_the_served_root() {
    let srv = self_contained("chain-full.pem").await;
    let issuer = format!("https://localhost:{}", srv.port);
    let t = trusting_test_root().thumbprint(&issuer).await.unwrap();
    assert_describes(&t, "chain-root.crt", true);
    assert_eq!(t.jwks_host, "localhost");
    assert_eq!(t.jwks_port, srv.port);
    assert_eq!(t.chain_length, 3);
    assert_eq!(t.chain[0].sha1, openssl_sha1("chain-leaf.crt"));
    assert_eq!(t.chain[1].sha1, openssl_sha1("chain-intermediate.crt"));
    assert!(!t.chain[0].self_signed_root && !t.chain[1].self_signed_root);
    // Discovery and the chain read both sent SNI = the host name.
    let sni = srv.sni_after(2).await;
    assert_eq!(sni.len(), 2, "{sni:?}");
    assert!(
        sni.iter().all(|s| s.as_deref() == Some("localhost")),
        "{sni:?}"
    );
}

#[tokio::test]
async fn partial_chain_thumbprint_is_the_top_intermediate() {
    let srv = self_contained("chain-partial.pem").await;
    let issuer = format!("https://localhost:{}/", srv.port); // trailing slash tolerated
    let t = trusting_test_root().thumbprint(&issuer).await.unwrap();
    assert_describes(&t, "chain-intermediate.crt", false);
    assert_eq!(t.chain_length, 2);
    assert_eq!(
        t.certificate.issuer,
        openssl_name("chain-root.crt", "-subject")
    );
}

/// A jwks host on 127.0.0.1 (an IP: no SNI) serving `jwks_chain`, and an issuer on localhost
/// serving the full chain whose discovery points at it: (jwks server, issuer server, jwks_uri,
/// issuer URL).
async fn split_hosts(jwks_chain: &str) -> (TlsServer, TlsServer, String, String) {
    let jwks = TlsServer::start(
        "127.0.0.1",
        &cert(jwks_chain),
        &cert("chain-leaf.key"),
        |_| "{}".into(),
    )
    .await;
    let jwks_uri = format!("https://127.0.0.1:{}/jwks", jwks.port);
    let issuer_srv = TlsServer::start(
        "127.0.0.1",
        &cert("chain-full.pem"),
        &cert("chain-leaf.key"),
        |port| discovery_doc(&format!("https://localhost:{port}"), &jwks_uri),
    )
    .await;
    let issuer = format!("https://localhost:{}", issuer_srv.port);
    (jwks, issuer_srv, jwks_uri, issuer)
}

#[tokio::test]
async fn the_jwks_uri_host_is_followed_not_the_issuer_host() {
    // jwks on 127.0.0.1 (an IP: no SNI) serving leaf+intermediate; issuer on localhost serving the
    // full chain. The thumbprint must be the jwks host's last certificate: the intermediate.
    let (jwks, _issuer_srv, jwks_uri, issuer) = split_hosts("chain-partial.pem").await;
    let t = trusting_test_root().thumbprint(&issuer).await.unwrap();
    assert_describes(&t, "chain-intermediate.crt", false);
    assert_eq!(t.jwks_host, "127.0.0.1");
    assert_eq!(t.jwks_port, jwks.port);
    assert_eq!(t.jwks_uri, jwks_uri);
    assert_eq!(
        jwks.sni_after(1).await,
        vec![None],
        "no SNI for an IP literal"
    );
}

#[tokio::test]
async fn unknown_ca_without_ca_file_is_a_tls_failure_that_says_what_to_do() {
    let srv = self_contained("chain-full.pem").await;
    let issuer = format!("https://localhost:{}", srv.port);
    let e = TlsThumbprinter::new(&[])
        .unwrap()
        .thumbprint(&issuer)
        .await
        .unwrap_err();
    // Discovery is the first TLS connection, so it is what fails here, with the same advice.
    assert!(
        matches!(
            e.code(),
            "thumbprint_discovery_failed" | "thumbprint_tls_failed"
        ),
        "{e}"
    );
    assert!(e.to_string().contains("--ca-file"), "{e}");
}

#[tokio::test]
async fn unknown_ca_on_the_jwks_host_is_thumbprint_tls_failed() {
    // The issuer is trusted (root given) but the jwks host is an IP the leaf is valid for, served
    // with a chain that omits the intermediate: no path to the root → verification fails there.
    let (_jwks, _issuer_srv, _, issuer) = split_hosts("chain-leaf.crt").await;
    let e = trusting_test_root().thumbprint(&issuer).await.unwrap_err();
    assert_eq!(e.code(), "thumbprint_tls_failed", "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("127.0.0.1") && msg.contains("unknown issuer"),
        "{msg}"
    );
    assert!(msg.contains("--ca-file"), "{msg}");
}

#[tokio::test]
async fn http_issuer_is_refused_before_any_connection() {
    let srv = self_contained("chain-full.pem").await;
    let e = trusting_test_root()
        .thumbprint(&format!("http://localhost:{}", srv.port))
        .await
        .unwrap_err();
    assert!(matches!(e, ThumbprintError::BadIssuer { .. }), "{e}");
    assert_eq!(e.code(), "thumbprint_bad_issuer");
    assert!(srv.sni_seen().is_empty());
}

#[tokio::test]
async fn http_jwks_uri_is_refused() {
    let srv = TlsServer::start(
        "127.0.0.1",
        &cert("chain-full.pem"),
        &cert("chain-leaf.key"),
        |port| {
            discovery_doc(
                &format!("https://localhost:{port}"),
                &format!("http://localhost:{port}/jwks"),
            )
        },
    )
    .await;
    let e = trusting_test_root()
        .thumbprint(&format!("https://localhost:{}", srv.port))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "thumbprint_discovery_failed", "{e}");
    assert!(e.to_string().contains("not https"), "{e}");
}

#[tokio::test]
async fn discovery_naming_another_issuer_is_refused() {
    let srv = TlsServer::start(
        "127.0.0.1",
        &cert("chain-full.pem"),
        &cert("chain-leaf.key"),
        |port| {
            discovery_doc(
                "https://evil.example",
                &format!("https://localhost:{port}/jwks"),
            )
        },
    )
    .await;
    let e = trusting_test_root()
        .thumbprint(&format!("https://localhost:{}", srv.port))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "thumbprint_discovery_failed", "{e}");
}

// ---- the binary -------------------------------------------------------------------------------

/// Run `fedbroker thumbprint ARGS` off the runtime (the servers keep answering meanwhile).
async fn run_cli(args: Vec<String>) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_fedbroker"))
            .arg("thumbprint")
            .args(args)
            .output()
            .expect("run fedbroker")
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn cli_prints_the_same_thumbprint_as_openssl() {
    let srv = self_contained("chain-full.pem").await;
    let issuer = format!("https://localhost:{}", srv.port);
    let ca = cert("chain-root.crt").display().to_string();

    let out = run_cli(vec![issuer.clone(), "--ca-file".into(), ca.clone()]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout, format!("{}\n", openssl_sha1("chain-root.crt")));

    let out = run_cli(vec![
        issuer.clone(),
        "--ca-file".into(),
        ca,
        "--json".into(),
    ])
    .await;
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["thumbprint"], openssl_sha1("chain-root.crt"));
    assert_eq!(v["jwks_host"], "localhost");
    assert_eq!(v["certificate"]["self_signed_root"], true);
    assert_eq!(
        v["certificate"]["not_after"],
        openssl_not_after("chain-root.crt")
    );

    let out = run_cli(vec![issuer]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--ca-file"), "{stderr}");

    let out = run_cli(vec!["http://localhost:1".into()]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("https"));
}

// ---- GET /v1/thumbprint -----------------------------------------------------------------------

fn state(cfg: &Config) -> AppState {
    let clock: SharedClock = Arc::new(SystemClock);
    AppState::from_parts(
        cfg,
        Vec::new(),
        Arc::new(SdkStsClient::new("us-east-1", Some("http://127.0.0.1:9"))),
        Arc::new(MemoryReplayGuard::new(clock.clone())),
        clock,
    )
}

fn provider(issuer: &str, ca_file: Option<PathBuf>) -> OidcProviderConfig {
    OidcProviderConfig {
        name: "test".into(),
        issuer: issuer.into(),
        audiences: vec!["sts.amazonaws.com".into()],
        ca_file: ca_file.map(|p| p.display().to_string()),
        allowed_algorithms: None,
        allow_insecure_http: false,
        claim_conditions: None,
        jwks_ttl_secs: None,
        ..Default::default()
    }
}

async fn get(cfg: &Config, query: &str) -> (u16, Value) {
    let app = test::init_service(
        App::new()
            .app_data(web::Data::new(state(cfg)))
            .configure(routes),
    )
    .await;
    let req = test::TestRequest::get()
        .uri(&format!("/v1/thumbprint{query}"))
        .to_request();
    let resp = test::call_service(&app, req).await;
    let status = resp.status().as_u16();
    let body: Value = test::read_body_json(resp).await;
    (status, body)
}

fn q(issuer: &str) -> String {
    format!(
        "?issuer={}",
        url::form_urlencoded::byte_serialize(issuer.as_bytes()).collect::<String>()
    )
}

#[actix_web::test]
async fn endpoint_answers_for_a_configured_issuer() {
    let srv = self_contained("chain-partial.pem").await;
    let issuer = format!("https://localhost:{}", srv.port);
    let mut cfg = Config::default();
    cfg.oidc
        .providers
        .push(provider(&issuer, Some(cert("chain-root.crt"))));
    let (status, body) = get(&cfg, &q(&issuer)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["thumbprint"], openssl_sha1("chain-intermediate.crt"));
    assert_eq!(body["jwks_host"], "localhost");
    let c = &body["certificate"];
    assert_eq!(
        c["subject"],
        openssl_name("chain-intermediate.crt", "-subject")
    );
    assert_eq!(
        c["issuer"],
        openssl_name("chain-intermediate.crt", "-issuer")
    );
    assert_eq!(c["not_after"], openssl_not_after("chain-intermediate.crt"));
    assert_eq!(c["self_signed_root"], false);
}

#[actix_web::test]
async fn endpoint_refuses_unconfigured_issuers_and_bad_queries() {
    let srv = self_contained("chain-full.pem").await;
    let issuer = format!("https://localhost:{}", srv.port);
    let mut cfg = Config::default();
    cfg.oidc
        .providers
        .push(provider("https://token.example.com", None));

    let (status, body) = get(&cfg, &q(&issuer)).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "thumbprint_issuer_not_allowed");
    assert!(
        srv.sni_seen().is_empty(),
        "no connection for a refused issuer"
    );

    let (status, body) = get(&cfg, "").await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "thumbprint_bad_issuer");

    let (status, body) = get(&cfg, &q("http://token.example.com")).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "thumbprint_bad_issuer");

    // thumbprint_any_issuer lets it through, trusting public and system roots only.
    cfg.server.thumbprint_any_issuer = true;
    let (status, body) = get(&cfg, &q(&issuer)).await;
    assert_eq!(status, 502, "{body}");
    assert!(
        matches!(
            body["error"]["code"].as_str(),
            Some("thumbprint_discovery_failed" | "thumbprint_tls_failed")
        ),
        "{body}"
    );
}
