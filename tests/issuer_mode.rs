//! Issuer mode end to end, without AWS: the broker mints tokens with its `[issuer]` keys, serves
//! its well-known documents from the real actix routes (in process, behind a loopback TLS
//! terminator using the `certs/oidc-*` test CA), and its own strict OIDC validator accepts the
//! tokens as if the broker were any configured provider. Also: rotation, lifetime bounds, the AWS
//! tags claim shape, config errors reported together, and `fedbroker thumbprint` on the broker's
//! own public URL. The STS exchange at moto is in `issuer_moto.rs`.

use actix_web::{web, App, HttpServer};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::DateTime;
use fedbroker::aws::{SessionTags, SourceIdentity, TagKey, TagValue};
use fedbroker::clock::{Clock, FixedClock, SharedClock};
use fedbroker::config::{load_str, Config, IssuerConfig, IssuerKeyConfig, OidcProviderConfig};
use fedbroker::http::{routes, AppState};
use fedbroker::issuer::{Issuer, MintRequest, MAX_TOKEN_LIFETIME_SECS};
use fedbroker::oidc::{verify_jws_with_jwks, OidcError, OidcProvider, OidcValidator};
use fedbroker::replay::memory::MemoryReplayGuard;
use fedbroker::sts::sdk::SdkStsClient;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use secrecy::ExposeSecret;
use serde_json::{json, Value};
use sha1::{Digest, Sha1};
use std::path::PathBuf;
use std::sync::Arc;

const SUBJECT: &str = "repo:my-org/app:ref:refs/heads/main";

fn cert_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("certs")
        .join(name)
}

fn key(kid: &str, file: &str, alg: &str, active: bool) -> IssuerKeyConfig {
    IssuerKeyConfig {
        kid: kid.into(),
        file: cert_path(file).display().to_string(),
        alg: alg.into(),
        active,
    }
}

/// Demo keys: `demo-rsa-1` and `demo-rsa-2` (RS256) and `demo-ec-1` (ES256); `active` signs.
fn issuer_config(issuer_url: &str, active: &str) -> IssuerConfig {
    IssuerConfig {
        enabled: true,
        issuer_url: Some(issuer_url.into()),
        keys: vec![
            key(
                "demo-rsa-1",
                "issuer-rsa-1.key",
                "RS256",
                active == "demo-rsa-1",
            ),
            key(
                "demo-rsa-2",
                "issuer-rsa-2.key",
                "RS256",
                active == "demo-rsa-2",
            ),
            key(
                "demo-ec-1",
                "issuer-ec-1.key",
                "ES256",
                active == "demo-ec-1",
            ),
        ],
        ..IssuerConfig::default()
    }
}

fn fixed_clock() -> Arc<FixedClock> {
    Arc::new(FixedClock::new(
        DateTime::from_timestamp(1_893_456_000, 0).unwrap(),
    ))
}

fn issuer(url: &str, active: &str, clock: &Arc<FixedClock>) -> Issuer {
    let shared: SharedClock = clock.clone();
    Issuer::from_config(&issuer_config(url, active), "http://127.0.0.1:8080", shared)
        .unwrap_or_else(|e| panic!("issuer config refused: {e:#?}"))
}

fn tags(pairs: &[(&str, &str)], transitive: &[&str]) -> SessionTags {
    SessionTags::new(
        pairs
            .iter()
            .map(|(k, v)| (TagKey::parse(k).unwrap(), TagValue::parse(v).unwrap()))
            .collect(),
        transitive
            .iter()
            .map(|k| TagKey::parse(k).unwrap())
            .collect(),
    )
    .unwrap()
}

fn decode_segment(token: &str, i: usize) -> Value {
    let seg = token.split('.').nth(i).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(seg).unwrap()).unwrap()
}

// ---- the broker's documents over HTTPS, from the real routes -----------------------------------

/// The broker's actix app (real `routes`) on a plain loopback port, behind a TLS terminator on
/// another loopback port presenting `oidc-server.crt` + `oidc-ca.crt`. The issuer URL is the TLS
/// side: `https://127.0.0.1:<port>`.
struct BrokerOverTls {
    url: String,
    tls_task: tokio::task::JoinHandle<()>,
    server: actix_web::dev::ServerHandle,
}

impl BrokerOverTls {
    /// `make_issuer(url)` builds the issuer once the public URL is known.
    async fn start(make_issuer: impl FnOnce(&str) -> Option<Issuer>) -> Self {
        let tls_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "https://127.0.0.1:{}",
            tls_listener.local_addr().unwrap().port()
        );
        let issuer = make_issuer(&url).map(Arc::new);
        let clock: SharedClock = Arc::new(fedbroker::clock::SystemClock);
        let state = AppState::from_parts(
            &Config::default(),
            Vec::new(),
            Arc::new(SdkStsClient::new("us-east-1", Some("http://127.0.0.1:9"))),
            Arc::new(MemoryReplayGuard::new(clock.clone())),
            clock,
        )
        .with_issuer(issuer);
        let http = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let http_addr = http.local_addr().unwrap();
        let srv = HttpServer::new(move || {
            App::new()
                .app_data(web::Data::new(state.clone()))
                .configure(routes)
        })
        .workers(1)
        .disable_signals()
        .listen(http)
        .unwrap()
        .run();
        let server = srv.handle();
        actix_web::rt::spawn(srv);

        let acceptor = tls_acceptor();
        let tls_task = tokio::spawn(async move {
            while let Ok((tcp, _)) = tls_listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let Ok(mut upstream) = tokio::net::TcpStream::connect(http_addr).await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut upstream).await;
                });
            }
        });
        Self {
            url,
            tls_task,
            server,
        }
    }

    /// A provider config trusting the test CA, as an operator would configure the broker itself.
    fn provider_config(&self) -> OidcProviderConfig {
        OidcProviderConfig {
            name: "broker".into(),
            issuer: self.url.clone(),
            audiences: vec!["sts.amazonaws.com".into()],
            ca_file: Some(cert_path("oidc-ca.crt").display().to_string()),
            ..Default::default()
        }
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        let ca = std::fs::read(cert_path("oidc-ca.crt")).unwrap();
        reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
            .build()
            .unwrap()
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .unwrap()
    }
}

impl Drop for BrokerOverTls {
    fn drop(&mut self) {
        self.tls_task.abort();
        // `stop` sends the command at once; the returned future only waits for completion.
        drop(self.server.stop(false));
    }
}

fn tls_acceptor() -> tokio_rustls::TlsAcceptor {
    let certs = vec![
        CertificateDer::from_pem_file(cert_path("oidc-server.crt")).unwrap(),
        CertificateDer::from_pem_file(cert_path("oidc-ca.crt")).unwrap(),
    ];
    let key = PrivateKeyDer::from_pem_file(cert_path("oidc-server.key")).unwrap();
    let cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    tokio_rustls::TlsAcceptor::from(Arc::new(cfg))
}

fn validator(cfg: &OidcProviderConfig, clock: &Arc<FixedClock>) -> OidcValidator {
    let shared: SharedClock = clock.clone();
    let provider = OidcProvider::from_config(cfg, shared.clone()).unwrap();
    OidcValidator::new(vec![provider], shared).unwrap()
}

#[actix_web::test]
async fn well_known_documents_are_served_with_cache_headers() {
    let clock = fixed_clock();
    let broker = BrokerOverTls::start(|url| Some(issuer(url, "demo-rsa-1", &clock))).await;

    let resp = broker.get("/.well-known/openid-configuration").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["cache-control"].to_str().unwrap(),
        "public, max-age=300"
    );
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let doc: Value = resp.json().await.unwrap();
    assert_eq!(doc["issuer"], broker.url);
    assert_eq!(
        doc["jwks_uri"],
        format!("{}/.well-known/jwks.json", broker.url)
    );
    assert_eq!(doc["response_types_supported"], json!(["id_token"]));
    assert_eq!(doc["subject_types_supported"], json!(["public"]));
    assert_eq!(
        doc["id_token_signing_alg_values_supported"],
        json!(["RS256", "ES256"])
    );

    let resp = broker.get("/.well-known/jwks.json").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["cache-control"].to_str().unwrap(),
        "public, max-age=300"
    );
    let jwks: Value = resp.json().await.unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    let kids: Vec<&str> = keys.iter().map(|k| k["kid"].as_str().unwrap()).collect();
    assert_eq!(kids, ["demo-rsa-1", "demo-rsa-2", "demo-ec-1"]);
    for k in keys {
        assert_eq!(k["use"], "sig");
        let members: Vec<&String> = k.as_object().unwrap().keys().collect();
        let private = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];
        assert!(
            members.iter().all(|m| !private.contains(&m.as_str())),
            "{k}"
        );
        match k["kty"].as_str().unwrap() {
            "RSA" => {
                assert_eq!(k["alg"], "RS256");
                assert_eq!(k["e"], "AQAB");
                assert_eq!(
                    URL_SAFE_NO_PAD
                        .decode(k["n"].as_str().unwrap())
                        .unwrap()
                        .len(),
                    256
                );
            }
            "EC" => {
                assert_eq!(k["alg"], "ES256");
                assert_eq!(k["crv"], "P-256");
            }
            other => panic!("unexpected kty {other}"),
        }
    }
}

#[actix_web::test]
async fn well_known_documents_are_404_issuer_disabled_when_off() {
    let broker = BrokerOverTls::start(|_| None).await;
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/jwks.json",
    ] {
        let resp = broker.get(path).await;
        assert_eq!(resp.status(), 404, "{path}");
        assert_eq!(
            resp.headers()["cache-control"].to_str().unwrap(),
            "no-store"
        );
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["code"], "issuer_disabled", "{path}");
        assert!(body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("[issuer]"));
    }
}

#[actix_web::test]
async fn minted_token_passes_the_brokers_own_validator_with_tags_and_source_identity() {
    let clock = fixed_clock();
    let broker = BrokerOverTls::start(|url| Some(issuer(url, "demo-rsa-1", &clock))).await;
    let iss = issuer(&broker.url, "demo-rsa-1", &clock);
    let t = tags(
        &[
            ("Project", "Automation"),
            ("CostCenter", "987654"),
            ("Team", ""),
        ],
        &["Project", "CostCenter"],
    );
    let si = SourceIdentity::parse("alice@example.com").unwrap();
    let minted = iss
        .mint(MintRequest {
            subject: SUBJECT,
            session_tags: &t,
            source_identity: Some(&si),
            audience: None,
        })
        .unwrap();

    let id = validator(&broker.provider_config(), &clock)
        .validate(minted.token.expose_secret())
        .await
        .expect("the broker's validator accepts the broker's token");
    assert_eq!(id.issuer(), broker.url);
    assert_eq!(id.subject(), SUBJECT);
    assert_eq!(id.provider(), "broker");
    assert_eq!(id.aws().tags, t, "tags survive the round trip exactly");
    assert_eq!(id.aws().source_identity.as_ref(), Some(&si));
    assert!(id.key_fingerprint().starts_with("demo-rsa-1:"));
    assert_eq!(id.expires_at(), minted.expires_at);

    // The JWKS served over HTTPS verifies it with the pure JWS check too.
    let jwks = broker
        .get("/.well-known/jwks.json")
        .await
        .bytes()
        .await
        .unwrap();
    let payload = verify_jws_with_jwks(minted.token.expose_secret(), &jwks).unwrap();
    let claims: Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(claims["jti"], minted.jti);
}

#[actix_web::test]
async fn es256_key_mints_tokens_the_validator_accepts() {
    let clock = fixed_clock();
    let broker = BrokerOverTls::start(|url| Some(issuer(url, "demo-ec-1", &clock))).await;
    let minted = issuer(&broker.url, "demo-ec-1", &clock)
        .mint(MintRequest {
            subject: SUBJECT,
            session_tags: &SessionTags::default(),
            source_identity: None,
            audience: None,
        })
        .unwrap();
    let header = decode_segment(minted.token.expose_secret(), 0);
    assert_eq!(
        header,
        json!({"alg": "ES256", "kid": "demo-ec-1", "typ": "JWT"})
    );
    let id = validator(&broker.provider_config(), &clock)
        .validate(minted.token.expose_secret())
        .await
        .unwrap();
    assert!(id.aws().tags.is_empty());
    assert!(id.aws().source_identity.is_none());
}

#[actix_web::test]
async fn rotation_old_tokens_verify_while_published_new_tokens_carry_the_new_kid() {
    let clock = fixed_clock();
    // Phase 1: demo-rsa-1 signs, demo-rsa-2 is published ahead of its activation.
    let broker = BrokerOverTls::start(|url| Some(issuer(url, "demo-rsa-1", &clock))).await;
    let before = issuer(&broker.url, "demo-rsa-1", &clock);
    let validator = validator(&broker.provider_config(), &clock);
    let none = SessionTags::default();
    let req = MintRequest {
        subject: SUBJECT,
        session_tags: &none,
        source_identity: None,
        audience: None,
    };
    let old = before.mint(req).unwrap();
    assert_eq!(old.kid, "demo-rsa-1");
    assert_eq!(
        decode_segment(old.token.expose_secret(), 0)["kid"],
        "demo-rsa-1"
    );
    validator.validate(old.token.expose_secret()).await.unwrap();

    // Phase 2: switch `active`. The published set is unchanged, so nothing needs refetching.
    let after = issuer(&broker.url, "demo-rsa-2", &clock);
    assert_eq!(before.jwks_json(), after.jwks_json());
    clock.advance(chrono::Duration::seconds(60));
    let new = after.mint(req).unwrap();
    assert_eq!(new.kid, "demo-rsa-2");
    assert_eq!(
        decode_segment(new.token.expose_secret(), 0)["kid"],
        "demo-rsa-2"
    );
    validator.validate(new.token.expose_secret()).await.unwrap();
    validator.validate(old.token.expose_secret()).await.unwrap();
    verify_jws_with_jwks(old.token.expose_secret(), after.jwks_json().as_bytes()).unwrap();
    verify_jws_with_jwks(new.token.expose_secret(), before.jwks_json().as_bytes()).unwrap();

    // Phase 3: once demo-rsa-1 is retired (removed from the list), its tokens stop verifying.
    let mut retired = issuer_config(&broker.url, "demo-rsa-2");
    retired.keys.remove(0);
    let shared: SharedClock = clock.clone();
    let retired = Issuer::from_config(&retired, "http://127.0.0.1:8080", shared).unwrap();
    assert!(matches!(
        verify_jws_with_jwks(old.token.expose_secret(), retired.jwks_json().as_bytes()),
        Err(OidcError::KeyNotFound { .. })
    ));
}

// ---- token content -------------------------------------------------------------------------------

#[test]
fn token_header_and_claims_follow_the_aws_shape() {
    let clock = fixed_clock();
    let iss = issuer("https://broker.example.com", "demo-rsa-1", &clock);
    let t = tags(
        &[("Project", "Automation"), ("CostCenter", "987654")],
        &["Project"],
    );
    let si = SourceIdentity::parse("Admin").unwrap();
    let minted = iss
        .mint(MintRequest {
            subject: "user-1234",
            session_tags: &t,
            source_identity: Some(&si),
            audience: None,
        })
        .unwrap();
    let token = minted.token.expose_secret();
    assert_eq!(
        decode_segment(token, 0),
        json!({"alg": "RS256", "kid": "demo-rsa-1", "typ": "JWT"})
    );
    let c = decode_segment(token, 1);
    let now = clock.now().timestamp();
    assert_eq!(c["iss"], "https://broker.example.com");
    assert_eq!(c["sub"], "user-1234");
    assert_eq!(c["aud"], "sts.amazonaws.com");
    assert_eq!(c["iat"], now);
    assert_eq!(c["nbf"], now);
    assert_eq!(c["exp"], now + 300);
    assert_eq!(c["jti"], minted.jti);
    assert!(uuid::Uuid::parse_str(&minted.jti).is_ok());
    // Exactly AWS's documented shape: each value a single-element array, transitive keys a list.
    assert_eq!(
        c["https://aws.amazon.com/tags"],
        json!({
            "principal_tags": {"CostCenter": ["987654"], "Project": ["Automation"]},
            "transitive_tag_keys": ["Project"]
        })
    );
    assert_eq!(c["https://aws.amazon.com/source_identity"], "Admin");
    let names: Vec<&String> = c.as_object().unwrap().keys().collect();
    assert_eq!(names.len(), 9, "{names:?}");

    // No tags, no source identity: both claims are absent (not empty).
    let bare = iss
        .mint(MintRequest {
            subject: "user-1234",
            session_tags: &SessionTags::default(),
            source_identity: None,
            audience: Some("my-client"),
        })
        .unwrap();
    let c = decode_segment(bare.token.expose_secret(), 1);
    assert!(c.get("https://aws.amazon.com/tags").is_none());
    assert!(c.get("https://aws.amazon.com/source_identity").is_none());
    assert_eq!(c["aud"], "my-client");
    assert_ne!(bare.jti, minted.jti);
}

#[test]
fn minted_token_debug_is_redacted() {
    let clock = fixed_clock();
    let iss = issuer("https://broker.example.com", "demo-rsa-1", &clock);
    let minted = iss
        .mint(MintRequest {
            subject: "user-1234",
            session_tags: &SessionTags::default(),
            source_identity: None,
            audience: None,
        })
        .unwrap();
    let dbg = format!("{minted:?} {iss:?}");
    let token = minted.token.expose_secret();
    assert!(!dbg.contains(token.split('.').nth(1).unwrap()), "{dbg}");
    assert!(!dbg.contains(token.split('.').nth(2).unwrap()), "{dbg}");
    assert!(!dbg.contains("PRIVATE"), "{dbg}");
}

#[test]
fn bad_subject_or_audience_is_refused() {
    let clock = fixed_clock();
    let iss = issuer("https://broker.example.com", "demo-rsa-1", &clock);
    let none = SessionTags::default();
    let long = "s".repeat(256);
    for (subject, audience) in [
        ("", None),
        (long.as_str(), None),
        ("a\nb", None),
        ("ok", Some("")),
        ("ok", Some(" x")),
    ] {
        assert!(
            iss.mint(MintRequest {
                subject,
                session_tags: &none,
                source_identity: None,
                audience,
            })
            .is_err(),
            "{subject:?} {audience:?}"
        );
    }
}

#[tokio::test]
async fn lifetime_is_bounded_and_tokens_expire_for_the_validator() {
    // Configured lifetime shows in exp; the maximum is accepted, one second more is not.
    let clock = fixed_clock();
    let mut cfg = issuer_config("https://broker.example.com", "demo-rsa-1");
    cfg.token_lifetime_secs = MAX_TOKEN_LIFETIME_SECS;
    let shared: SharedClock = clock.clone();
    let iss = Issuer::from_config(&cfg, "", shared.clone()).unwrap();
    let none = SessionTags::default();
    let req = MintRequest {
        subject: SUBJECT,
        session_tags: &none,
        source_identity: None,
        audience: None,
    };
    let m = iss.mint(req).unwrap();
    assert_eq!(m.expires_at - m.issued_at, chrono::Duration::seconds(3600));
    for bad in [MAX_TOKEN_LIFETIME_SECS + 1, 0, 59] {
        cfg.token_lifetime_secs = bad;
        let errs = Issuer::from_config(&cfg, "", shared.clone()).unwrap_err();
        assert!(
            errs.iter()
                .any(|e| e.contains("issuer.token_lifetime_secs")),
            "{errs:?}"
        );
    }

    // A default (300 s) token is refused by the validator once expired (plus its 60 s leeway).
    let iss = issuer("https://broker.example.com", "demo-rsa-1", &clock);
    let m = iss.mint(req).unwrap();
    assert_eq!(m.expires_at - m.issued_at, chrono::Duration::seconds(300));
    let jwks = iss.jwks_json().to_owned();
    let cfg = OidcProviderConfig {
        name: "broker".into(),
        issuer: "https://broker.example.com".into(),
        audiences: vec!["sts.amazonaws.com".into()],
        ..Default::default()
    };
    let v = OidcValidator::new(
        vec![OidcProvider::new(&cfg, Arc::new(StaticJwks(jwks))).unwrap()],
        shared,
    )
    .unwrap();
    v.validate(m.token.expose_secret()).await.unwrap();
    clock.advance(chrono::Duration::seconds(300 + 60));
    assert!(matches!(
        v.validate(m.token.expose_secret()).await,
        Err(OidcError::Expired)
    ));
}

/// A key source over a fixed JWKS (no network), for the clock-only test above.
#[derive(Debug)]
struct StaticJwks(String);

#[async_trait::async_trait]
impl fedbroker::oidc::KeySource for StaticJwks {
    async fn key_for(
        &self,
        kid: Option<&str>,
        alg: fedbroker::oidc::SigningAlg,
    ) -> Result<Arc<fedbroker::oidc::keys::TrustedKey>, OidcError> {
        let set = fedbroker::oidc::keys::KeySet::from_jwks(self.0.as_bytes()).unwrap();
        set.select(kid, alg).map_err(|_| OidcError::KeyNotFound {
            provider: "broker".into(),
        })
    }
}

// ---- configuration -------------------------------------------------------------------------------

fn weak_rsa_file(dir: &std::path::Path) -> String {
    let rsa = openssl::rsa::Rsa::generate(1024).unwrap();
    let pem = openssl::pkey::PKey::from_rsa(rsa)
        .unwrap()
        .private_key_to_pem_pkcs8()
        .unwrap();
    let path = dir.join("weak-rsa-1024.key");
    std::fs::write(&path, pem).unwrap();
    path.display().to_string()
}

#[test]
fn every_issuer_config_problem_is_reported_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let weak = weak_rsa_file(dir.path());
    let rsa1 = cert_path("issuer-rsa-1.key").display().to_string();
    let rsa2 = cert_path("issuer-rsa-2.key").display().to_string();
    let missing = dir.path().join("nope.key").display().to_string();
    let toml = format!(
        r#"
[issuer]
enabled = true
issuer_url = "https://broker.example.com:8443/"
token_lifetime_secs = 7200
[[issuer.keys]]
kid = "one"
file = "{rsa1}"
alg = "RS256"
active = true
[[issuer.keys]]
kid = "two"
file = "{rsa2}"
alg = "RS256"
active = true
[[issuer.keys]]
kid = "weak"
file = "{weak}"
alg = "RS256"
[[issuer.keys]]
kid = "missing"
file = "{missing}"
alg = "RS256"
[[issuer.keys]]
kid = "mismatch"
file = "{rsa1}"
alg = "ES256"
[[issuer.keys]]
kid = "bad kid!"
file = "{rsa2}"
alg = "HS256"
[[issuer.keys]]
kid = "one"
file = "{rsa2}"
alg = "RS256"
"#
    );
    let err = load_str(&toml, Vec::new()).unwrap_err();
    let all = err.to_string();
    for needle in [
        "issuer.issuer_url",
        "must not contain a port",
        "issuer.token_lifetime_secs",
        "exactly one key must have active = true (found 2",
        "(kid \"weak\")",
        "2048",
        "(kid \"missing\"): cannot read file",
        "(kid \"mismatch\")",
        "holds an RSA key, but alg ES256 needs an EC P-256 key",
        "(kid \"bad kid!\").kid",
        "alg \"HS256\" is not supported",
        "kids must be unique",
    ] {
        assert!(all.contains(needle), "missing {needle:?} in:\n{all}");
    }
    assert!(err.0.len() >= 9, "{all}");
    assert!(!all.contains("PRIVATE KEY"), "{all}");
}

#[test]
fn issuer_config_defaults_and_disabled_section() {
    // Disabled: key problems are not looked at; defaults as documented.
    let cfg = load_str("[issuer]\nkeys = []\n", Vec::new()).unwrap();
    assert!(!cfg.issuer.enabled);
    assert_eq!(cfg.issuer.audience, "sts.amazonaws.com");
    assert_eq!(cfg.issuer.token_lifetime_secs, 300);

    // Enabled with the demo keys; issuer_url defaults to server.public_url (loopback http is
    // accepted for local demos; anything else must be https without a port).
    let rsa1 = cert_path("issuer-rsa-1.key").display().to_string();
    let cfg = load_str(
        &format!(
            "[server]\npublic_url = \"http://127.0.0.1:8080\"\n[issuer]\nenabled = true\n\
             [[issuer.keys]]\nkid = \"k\"\nfile = \"{rsa1}\"\nalg = \"RS256\"\nactive = true\n"
        ),
        Vec::new(),
    )
    .unwrap();
    let iss = Issuer::from_config(
        &cfg.issuer,
        &cfg.server.public_url,
        Arc::new(fedbroker::clock::SystemClock),
    )
    .unwrap();
    assert_eq!(iss.issuer_url(), "http://127.0.0.1:8080");
    let env = vec![(
        "FEDBROKER_SERVER__PUBLIC_URL".to_owned(),
        "http://broker.example.com".to_owned(),
    )];
    let err = load_str(
        &format!(
            "[issuer]\nenabled = true\n[[issuer.keys]]\nkid = \"k\"\nfile = \"{rsa1}\"\nalg = \"RS256\"\nactive = true\n"
        ),
        env,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("defaulted from server.public_url"), "{err}");
}

/// Rotation without editing the file: `FEDBROKER_ISSUER__KEYS__<i>__ACTIVE` flips the active key.
#[test]
fn env_overrides_switch_the_active_key() {
    let rsa1 = cert_path("issuer-rsa-1.key").display().to_string();
    let rsa2 = cert_path("issuer-rsa-2.key").display().to_string();
    let toml = format!(
        "[issuer]\nenabled = true\nissuer_url = \"https://broker.example.com\"\n\
         [[issuer.keys]]\nkid = \"old\"\nfile = \"{rsa1}\"\nalg = \"RS256\"\nactive = true\n\
         [[issuer.keys]]\nkid = \"new\"\nfile = \"{rsa2}\"\nalg = \"RS256\"\n"
    );
    let env = |a: &str, b: &str| {
        vec![
            ("FEDBROKER_ISSUER__KEYS__0__ACTIVE".to_owned(), a.to_owned()),
            ("FEDBROKER_ISSUER__KEYS__1__ACTIVE".to_owned(), b.to_owned()),
        ]
    };
    let cfg = load_str(&toml, env("false", "true")).unwrap();
    let iss =
        Issuer::from_config(&cfg.issuer, "", Arc::new(fedbroker::clock::SystemClock)).unwrap();
    assert_eq!(iss.keys().active().kid(), "new");
    assert_eq!(iss.keys().len(), 2);
    let err = load_str(&toml, env("true", "true"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("exactly one key must have active = true"),
        "{err}"
    );
}

/// `fedbroker check-config` lists issuer problems with the rest and exits 2.
#[test]
fn check_config_cli_reports_issuer_problems() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fedbroker.toml");
    let rsa1 = cert_path("issuer-rsa-1.key").display().to_string();
    std::fs::write(
        &path,
        format!(
            "[aws]\nregion = \"Mars\"\n[issuer]\nenabled = true\nissuer_url = \"http://broker.example.com\"\n\
             [[issuer.keys]]\nkid = \"k\"\nfile = \"{rsa1}\"\nalg = \"ES256\"\nactive = true\n"
        ),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_fedbroker"))
        .args(["check-config", "--config"])
        .arg(&path)
        .env_remove("FEDBROKER_SERVER__PUBLIC_URL")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    for needle in [
        "aws.region",
        "issuer.issuer_url",
        "alg ES256 needs an EC P-256 key",
    ] {
        assert!(stderr.contains(needle), "missing {needle:?} in:\n{stderr}");
    }
}

// ---- thumbprint of the broker's own public URL ---------------------------------------------------

/// `fedbroker thumbprint <broker public URL> --ca-file <CA>` reads the broker's own discovery
/// document, follows its jwks_uri (the broker itself) and prints the SHA-1 of the last certificate
/// the broker's TLS front served (here the test CA, as `openssl s_client -showcerts` would show).
#[actix_web::test]
async fn thumbprint_cli_works_on_the_brokers_own_public_url() {
    let clock = fixed_clock();
    let broker = BrokerOverTls::start(|url| Some(issuer(url, "demo-rsa-1", &clock))).await;
    let ca_der = CertificateDer::from_pem_file(cert_path("oidc-ca.crt")).unwrap();
    let expected = hex::encode(Sha1::digest(ca_der.as_ref()));

    let (url, ca) = (
        broker.url.clone(),
        cert_path("oidc-ca.crt").display().to_string(),
    );
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_fedbroker"))
            .args(["thumbprint", &url, "--ca-file", &ca])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{expected}\n")
    );
}
