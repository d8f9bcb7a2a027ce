//! Issuer mode over HTTPS, without AWS: the broker's well-known documents from the real routes
//! (in process, behind a loopback TLS terminator using the `certs/oidc-*` test CA), and its own
//! strict OIDC validator accepting minted tokens as if the broker were any configured provider;
//! rotation; `fedbroker thumbprint` on the broker's own public URL. Token content:
//! `issuer_tokens.rs`; configuration: `issuer_config.rs`; the STS exchange: `issuer_moto.rs`.

use crate::support::issuer as issuer_support;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use fedbroker::aws::{SessionTags, SourceIdentity};
use fedbroker::clock::SharedClock;
use fedbroker::issuer::{Issuer, MintRequest};
use fedbroker::oidc::{verify_jws_with_jwks, OidcError};
use issuer_support::*;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use secrecy::ExposeSecret;
use serde_json::{json, Value};
use sha1::{Digest, Sha1};

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
