//! `POST /v1/saml/credentials` in process: every hostile SAML case of docs/SECURITY.md answers the
//! documented status and code through the real handler and error table, and none reaches STS.
//! STS is the real `SdkStsClient` talking to moto, wrapped in `support::recording_sts` (moto
//! ignores DurationSeconds and cannot parse multi-valued Role attributes, so those are checked on
//! the request itself).

use crate::support;

use chrono::{DateTime, Duration, Utc};
use fedbroker::clock::{FixedClock, SharedClock};
use fedbroker::config::Config;
use fedbroker::http::AppState;
use fedbroker::replay::memory::MemoryReplayGuard;
use serde_json::Value;
use std::sync::Arc;
use support::harness::{t0, test_idp};
use support::http::post_form;
use support::mutate::{self, LoopbackProbe};
use support::recording_sts::RecordingSts;
use support::saml_idp::*;

fn state(now: DateTime<Utc>, sts: Arc<RecordingSts>) -> AppState {
    let clock: SharedClock = Arc::new(FixedClock::new(now));
    AppState::from_parts(
        &Config::default(),
        vec![test_idp()],
        sts,
        Arc::new(MemoryReplayGuard::new(clock.clone())),
        clock,
    )
}

async fn post(state: &AppState, fields: &[(&str, &str)]) -> (u16, Value) {
    post_form(state, "/v1/saml/credentials", fields).await
}

fn signed(what: SignWhat) -> String {
    SamlResponseBuilder::new(t0()).sign(what).build_xml()
}

fn with(edit: impl FnOnce(&mut SamlResponseBuilder)) -> String {
    let mut b = SamlResponseBuilder::new(t0());
    edit(&mut b);
    b.build_xml()
}

/// (attack, base64 SAMLResponse, clock, expected status, expected code)
fn hostile_cases(probe_url: &str) -> Vec<(&'static str, String, DateTime<Utc>, u16, &'static str)> {
    let t = t0();
    let x = |xml: String| b64(&xml);
    vec![
        (
            "S01 signature stripped",
            x(mutate::strip_signatures(&signed(SignWhat::Response))),
            t,
            401,
            "saml_unsigned",
        ),
        (
            "S06 re-signed by attacker, cert in KeyInfo",
            x(SamlResponseBuilder::new(t)
                .key(KeyPair::attacker())
                .build_xml()),
            t,
            401,
            "saml_signature_invalid",
        ),
        (
            "S01 content altered after signing",
            x(mutate::evilize(&signed(SignWhat::Response))),
            t,
            401,
            "saml_signature_invalid",
        ),
        (
            "S02 XSW1",
            x(mutate::xsw1(&signed(SignWhat::Response))),
            t,
            401,
            "saml_multiple_assertions",
        ),
        (
            "S02 XSW2",
            x(mutate::xsw2(&signed(SignWhat::Response))),
            t,
            401,
            "saml_multiple_assertions",
        ),
        (
            "S02 XSW3",
            x(mutate::xsw3(&signed(SignWhat::Assertion))),
            t,
            401,
            "saml_multiple_assertions",
        ),
        (
            "S02 XSW4",
            x(mutate::xsw4(&signed(SignWhat::Assertion))),
            t,
            401,
            "saml_multiple_assertions",
        ),
        (
            "S02 XSW5",
            x(mutate::xsw5(&signed(SignWhat::Assertion))),
            t,
            401,
            "saml_multiple_assertions",
        ),
        (
            "S02 XSW6",
            x(mutate::xsw6(&signed(SignWhat::Assertion))),
            t,
            401,
            "saml_multiple_assertions",
        ),
        (
            "S02 XSW7",
            x(mutate::xsw7(&signed(SignWhat::Assertion))),
            t,
            401,
            "saml_duplicate_id",
        ),
        (
            "S02 XSW8",
            x(mutate::xsw8(&signed(SignWhat::Assertion))),
            t,
            401,
            "saml_signature_shape",
        ),
        (
            "S03 two assertions",
            x(SamlResponseBuilder::new(t).build_xml_edited(|s, xml| {
                if s == Stage::Response {
                    mutate::append_second_assertion(&xml)
                } else {
                    xml
                }
            })),
            t,
            401,
            "saml_multiple_assertions",
        ),
        (
            "S03 assertion in Advice",
            x(SamlResponseBuilder::new(t).build_xml_edited(|s, xml| {
                if s == Stage::Assertion {
                    mutate::add_advice_assertion(&xml)
                } else {
                    xml
                }
            })),
            t,
            401,
            "saml_multiple_assertions",
        ),
        (
            "S05 comment injection in NameID",
            x(mutate::inject_comment(
                &with(|b| {
                    b.sign = SignWhat::Assertion;
                    b.name_id = Some("alice@example.com.evil.test".into());
                }),
                "alice@example.com.evil.test",
                "alice@example.com",
            )),
            t,
            401,
            "saml_comment_injection",
        ),
        (
            "S08 SHA-1 downgrade",
            x(SamlResponseBuilder::new(t)
                .algorithms(SigAlg::RsaSha1, DigestAlg::Sha1)
                .build_xml()),
            t,
            401,
            "saml_algorithm_forbidden",
        ),
        (
            "S07 HMAC keyed with the IdP certificate",
            x(SamlResponseBuilder::new(t)
                .algorithms(SigAlg::HmacSha256, DigestAlg::Sha256)
                .build_xml()),
            t,
            401,
            "saml_algorithm_forbidden",
        ),
        (
            "S09 external Reference URI",
            x(mutate::set_reference_uri(
                &signed(SignWhat::Response),
                probe_url,
            )),
            t,
            401,
            "saml_signature_shape",
        ),
        (
            "S10 duplicate ID",
            x(mutate::add_element_with_id(
                &signed(SignWhat::Response),
                "_assert-4b7e2f90c3d54a18b6e0",
            )),
            t,
            401,
            "saml_duplicate_id",
        ),
        (
            "S20 signature inside Subject",
            x(mutate::move_assertion_signature_into_subject(&signed(
                SignWhat::Assertion,
            ))),
            t,
            401,
            "saml_signature_misplaced",
        ),
        (
            "S12 DOCTYPE with external entity",
            x(mutate::doctype_xxe(&signed(SignWhat::Response), probe_url)),
            t,
            400,
            "saml_dtd_forbidden",
        ),
        (
            "S12 billion laughs",
            x(mutate::billion_laughs(&signed(SignWhat::Response))),
            t,
            400,
            "saml_dtd_forbidden",
        ),
        (
            "S19 encrypted assertion",
            x(SamlResponseBuilder::new(t).build_xml_edited(|s, xml| {
                if s == Stage::Response {
                    mutate::encrypt_assertion_placeholder(&xml)
                } else {
                    xml
                }
            })),
            t,
            400,
            "saml_encrypted_assertion_unsupported",
        ),
        (
            "S23 oversized response",
            "A".repeat(100_004),
            t,
            413,
            "saml_too_large",
        ),
        (
            "bad base64",
            "PHNhbWxwOlJlc3BvbnNl!!".into(),
            t,
            400,
            "saml_malformed",
        ),
        (
            "S15 wrong audience",
            x(with(|b| {
                b.audiences = vec!["https://evil.example.com/sp".into()]
            })),
            t,
            401,
            "saml_audience_mismatch",
        ),
        (
            "S15 missing AudienceRestriction",
            x(with(|b| b.audiences.clear())),
            t,
            401,
            "saml_audience_mismatch",
        ),
        (
            "S15 wrong recipient",
            x(with(|b| {
                b.recipient = Some("https://evil.example.com/acs".into())
            })),
            t,
            401,
            "saml_recipient_mismatch",
        ),
        (
            "S15 wrong Destination",
            x(with(|b| {
                b.destination = Some("https://evil.example.com/acs".into())
            })),
            t,
            401,
            "saml_recipient_mismatch",
        ),
        (
            "S16 expired",
            x(signed(SignWhat::Response)),
            t + Duration::minutes(10),
            401,
            "saml_expired",
        ),
        (
            "S16 not yet valid",
            x(signed(SignWhat::Response)),
            t - Duration::minutes(10),
            401,
            "saml_not_yet_valid",
        ),
        (
            "S16 bearer window longer than any IdP sends",
            x(with(|b| {
                b.not_on_or_after = Some(t + Duration::hours(2));
                b.subject_not_on_or_after = Some(t + Duration::hours(2));
            })),
            t,
            401,
            "saml_lifetime_too_long",
        ),
        (
            "S17 status Responder",
            x(with(|b| b.status_code = STATUS_RESPONDER.into())),
            t,
            401,
            "saml_status_not_success",
        ),
        (
            "S17 unknown issuer",
            x(with(|b| {
                b.issuer = Some("https://evil.example.com/idp".into());
                b.assertion_issuer = Some("https://evil.example.com/idp".into());
            })),
            t,
            401,
            "saml_issuer_unknown",
        ),
        (
            "S18 duplicate attribute names",
            x(with(|b| {
                b.attributes
                    .push((ATTR_SESSION_NAME.into(), vec!["mallory".into()]))
            })),
            t,
            401,
            "saml_duplicate_attribute",
        ),
        (
            "S18 missing NameID",
            x(with(|b| b.name_id = None)),
            t,
            401,
            "saml_subject_missing",
        ),
        (
            "B01 no Role attribute",
            x(SamlResponseBuilder::new(t)
                .without_attribute(ATTR_ROLE)
                .build_xml()),
            t,
            403,
            "saml_role_missing",
        ),
        (
            "B02 session name with a space",
            x(SamlResponseBuilder::new(t)
                .attribute(ATTR_SESSION_NAME, &["John Doe"])
                .build_xml()),
            t,
            400,
            "saml_attribute_invalid",
        ),
    ]
}

#[actix_web::test]
async fn every_hostile_saml_response_is_refused_with_its_status_and_code_and_never_reaches_sts() {
    let probe = LoopbackProbe::start();
    let sts = RecordingSts::to_moto();
    let mut failures = Vec::new();
    for (attack, saml, now, status, code) in hostile_cases(&probe.url()) {
        let st = state(now, sts.clone());
        let (got_status, body) = post(&st, &[("SAMLResponse", &saml)]).await;
        let got_code = body["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if got_status != status || got_code != code {
            failures.push(format!(
                "{attack}: expected {status} {code}, got {got_status} {body}"
            ));
        }
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(
            !message.is_empty(),
            "{attack}: error message must say what to fix"
        );
        assert!(
            !body.to_string().contains(&saml[..saml.len().min(48)]),
            "{attack}: echoed the assertion"
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(sts.calls(), 0, "a hostile response reached STS");
    assert!(!probe.was_contacted(), "an external URI was fetched");
}

#[actix_web::test]
async fn replayed_assertion_reaches_sts_once() {
    let sts = RecordingSts::to_moto();
    let st = state(t0(), sts.clone());
    let saml = SamlResponseBuilder::new(t0()).build_base64();
    let (first, body) = post(&st, &[("SAMLResponse", &saml)]).await;
    assert_eq!(first, 200, "{body}");
    let (second, body) = post(&st, &[("SAMLResponse", &saml)]).await;
    assert_eq!(second, 401);
    assert_eq!(body["error"]["code"], "saml_replay");
    assert_eq!(sts.calls(), 1);
}

#[actix_web::test]
async fn requested_duration_is_sent_to_sts() {
    let sts = RecordingSts::to_moto();
    let st = state(t0(), sts.clone());
    let saml = SamlResponseBuilder::new(t0()).build_base64();
    let (status, body) = post(&st, &[("SAMLResponse", &saml), ("duration_seconds", "900")]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(sts.saml_roles_and_durations()[0].1, Some(900));
}

#[actix_web::test]
async fn idp_session_not_on_or_after_caps_the_duration() {
    let sts = RecordingSts::to_moto();
    let st = state(t0(), sts.clone());
    let mut b = SamlResponseBuilder::new(t0());
    b.session_not_on_or_after = Some(t0() + Duration::seconds(1200));
    let (status, body) = post(&st, &[("SAMLResponse", &b.build_base64())]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(sts.saml_roles_and_durations()[0].1, Some(1200));
}

#[actix_web::test]
async fn duration_above_idp_session_duration_is_refused_before_sts() {
    let sts = RecordingSts::to_moto();
    let st = state(t0(), sts.clone());
    let saml = SamlResponseBuilder::new(t0())
        .attribute(
            "https://aws.amazon.com/SAML/Attributes/SessionDuration",
            &["1800"],
        )
        .build_base64();
    let (status, body) = post(
        &st,
        &[("SAMLResponse", &saml), ("duration_seconds", "3600")],
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "duration_not_allowed");
    assert_eq!(sts.calls(), 0);
}

#[actix_web::test]
async fn role_chosen_after_409_is_the_one_sent_to_sts() {
    let sts = RecordingSts::to_moto();
    let st = state(t0(), sts.clone());
    let admin = "arn:aws:iam::111122223333:role/Admin";
    let saml = SamlResponseBuilder::new(t0())
        .roles(&[
            "arn:aws:iam::111122223333:role/ReadOnly,arn:aws:iam::111122223333:saml-provider/TestIdp",
            "arn:aws:iam::111122223333:role/Admin,arn:aws:iam::111122223333:saml-provider/TestIdp",
        ])
        .build_base64();
    let (status, body) = post(&st, &[("SAMLResponse", &saml)]).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(
        sts.calls(),
        0,
        "a 409 must not consume the assertion or call STS"
    );
    let (status, body) = post(&st, &[("SAMLResponse", &saml), ("role_arn", admin)]).await;
    assert_ne!(status, 401, "the 409 consumed the assertion: {body}");
    assert_eq!(
        sts.saml_roles_and_durations().as_slice(),
        // The negotiated duration is always sent: here STS's default, one hour.
        &[(admin.to_string(), Some(3600))]
    );
}
