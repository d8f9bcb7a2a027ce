//! Encrypted assertions through `POST /v1/saml/credentials` (pass-through to moto): the broker
//! decrypts and verifies, and AWS receives the Response exactly as the IdP sent it, encrypted; a
//! decryption failure answers the uniform code and never reaches STS.

use crate::support;

use chrono::{SubsecRound, Utc};
use fedbroker::clock::{FixedClock, SharedClock};
use fedbroker::config::Config;
use fedbroker::http::AppState;
use fedbroker::replay::memory::MemoryReplayGuard;
use fedbroker::saml::{Decryption, DecryptionKey};
use secrecy::ExposeSecret;
use std::sync::Arc;
use support::encrypt::*;
use support::harness::test_idp;
use support::http::post_form;
use support::recording_sts::RecordingSts;
use support::saml_idp::*;

fn state(now: chrono::DateTime<Utc>, sts: Arc<RecordingSts>) -> AppState {
    let clock: SharedClock = Arc::new(FixedClock::new(now));
    let mut idp = test_idp();
    idp.decryption = Decryption {
        keys: vec![
            DecryptionKey::from_file(certs_dir().join("test-sp-enc.key").to_str().unwrap())
                .unwrap(),
        ],
        allow_cbc: false,
    };
    AppState::from_parts(
        &Config::default(),
        vec![idp],
        sts,
        Arc::new(MemoryReplayGuard::new(clock.clone())),
        clock,
    )
}

fn encrypted_response(now: chrono::DateTime<Utc>, alg: &'static str) -> String {
    let mut b = SamlResponseBuilder::new(now).sign(SignWhat::Assertion);
    b.assertion_id = format!("_a{}", uuid::Uuid::new_v4().simple());
    encrypt_assertion(&b.build_xml(), &EncSpec::new(alg, KeyPlacement::Sibling))
}

#[tokio::test]
async fn encrypted_assertion_is_exchanged_and_aws_receives_the_original_encrypted_response() {
    let now = Utc::now().trunc_subsecs(0);
    let sts = RecordingSts::to_moto();
    let app = state(now, sts.clone());
    let xml = encrypted_response(now, GCM128);
    let saml = b64(&xml);
    let (status, body) = post_form(&app, "/v1/saml/credentials", &[("SAMLResponse", &saml)]).await;
    let seen = sts.seen();
    assert_eq!(seen.saml.len(), 1, "one AssumeRoleWithSAML call: {body}");
    assert_eq!(
        seen.saml[0].saml_assertion.expose_secret(),
        saml,
        "pass-through sends the Response as received (encrypted)"
    );
    assert_eq!(
        seen.saml[0].role_arn.to_string(),
        "arn:aws:iam::111122223333:role/ReadOnly"
    );
    eprintln!("moto answered {status}: {body}");
    // moto reads the assertion itself; whatever it answers, the broker validated and forwarded.
    assert!(status == 200 || status >= 500, "{status} {body}");
    if status == 200 {
        assert_eq!(body["Subject"], "alice@example.com", "{body}");
    }
}

#[tokio::test]
async fn undecryptable_assertion_answers_the_uniform_code_and_never_reaches_sts() {
    let now = Utc::now().trunc_subsecs(0);
    let sts = RecordingSts::to_moto();
    let app = state(now, sts.clone());
    let xml = encrypted_response(now, GCM256);
    let (mut bytes, _) = data_cipher_value(&xml);
    bytes[30] ^= 0x80;
    let tampered = b64(&with_data_cipher_value(&xml, &bytes));
    let (status, body) =
        post_form(&app, "/v1/saml/credentials", &[("SAMLResponse", &tampered)]).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"]["code"], "saml_decryption_failed", "{body}");
    let cbc = b64(&encrypted_response(now, CBC128));
    let (status, body) = post_form(&app, "/v1/saml/credentials", &[("SAMLResponse", &cbc)]).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(
        body["error"]["code"], "saml_encryption_cbc_not_allowed",
        "{body}"
    );
    assert_eq!(sts.calls(), 0);
}
