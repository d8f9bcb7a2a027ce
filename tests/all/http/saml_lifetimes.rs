//! Real IdP lifetimes through `POST /v1/saml/credentials` with the default configuration: Entra
//! ID-shaped (60-minute Conditions and bearer windows, NotBefore backdated 5 minutes) and AD
//! FS-shaped (60-minute Conditions, 5-minute bearer) assertions exchange for credentials at moto;
//! a stale one (past the IdP's maximum age) and one with a bearer window longer than the bound are
//! refused before STS; the replay record lives exactly as long as the assertion can be accepted.
//! STS is the real `SdkStsClient` talking to moto, wrapped in `support::recording_sts`.

use crate::support;
use crate::support::http::code;

use chrono::{DateTime, Duration, Utc};
use fedbroker::clock::{FixedClock, SharedClock};
use fedbroker::config::{load_str, Config};
use fedbroker::http::AppState;
use fedbroker::replay::memory::MemoryReplayGuard;
use fedbroker::replay::{ReplayError, ReplayGuard};
use fedbroker::saml::{TrustedIdp, CLOCK_SKEW, DEFAULT_MAX_ASSERTION_AGE, MAX_BEARER_WINDOW};
use serde_json::Value;
use std::sync::{Arc, Mutex};
use support::harness::{t0, test_idp};
use support::http::post_form;
use support::recording_sts::RecordingSts;
use support::saml_idp::*;

/// The in-process replay store, remembering the `until` of every record it was asked to keep.
#[derive(Debug)]
struct RecordingReplay {
    inner: MemoryReplayGuard,
    untils: Mutex<Vec<DateTime<Utc>>>,
}

#[async_trait::async_trait]
impl ReplayGuard for RecordingReplay {
    async fn first_use(&self, key: &str, until: DateTime<Utc>) -> Result<bool, ReplayError> {
        self.untils.lock().unwrap().push(until);
        self.inner.first_use(key, until).await
    }
    async fn ping(&self) -> Result<(), ReplayError> {
        self.inner.ping().await
    }
}

struct Setup {
    state: AppState,
    sts: Arc<RecordingSts>,
    clock: Arc<FixedClock>,
    replay: Arc<RecordingReplay>,
}

/// Default config, the test IdP as given, the clock at `now`.
fn setup(idp: TrustedIdp, now: DateTime<Utc>) -> Setup {
    let clock = Arc::new(FixedClock::new(now));
    let shared: SharedClock = clock.clone();
    let sts = RecordingSts::to_moto();
    let replay = Arc::new(RecordingReplay {
        inner: MemoryReplayGuard::new(shared.clone()),
        untils: Mutex::new(Vec::new()),
    });
    let state = AppState::from_parts(
        &Config::default(),
        vec![idp],
        sts.clone(),
        replay.clone(),
        shared,
    );
    Setup {
        state,
        sts,
        clock,
        replay,
    }
}

async fn exchange(s: &Setup, saml: &str) -> (u16, Value) {
    post_form(&s.state, "/v1/saml/credentials", &[("SAMLResponse", saml)]).await
}

#[actix_web::test]
async fn entra_shaped_assertion_exchanges_for_credentials_with_default_config() {
    let s = setup(test_idp(), t0() + Duration::seconds(20));
    let saml = SamlResponseBuilder::new(t0()).entra_shaped().build_base64();
    let (status, body) = exchange(&s, &saml).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["AccessKeyId"].as_str().is_some_and(|k| !k.is_empty()));
    assert_eq!(s.sts.seen().saml.len(), 1);
    // The replay record lives until the default maximum age (+ skew): the assertion's 60-minute
    // window is not usable for longer.
    assert_eq!(
        s.replay.untils.lock().unwrap().as_slice(),
        &[t0() + DEFAULT_MAX_ASSERTION_AGE + CLOCK_SKEW]
    );
}

#[actix_web::test]
async fn adfs_shaped_assertion_exchanges_for_credentials_with_default_config() {
    let s = setup(test_idp(), t0() + Duration::seconds(20));
    let saml = SamlResponseBuilder::new(t0())
        .adfs_shaped()
        .sign(SignWhat::Assertion)
        .build_base64();
    let (status, body) = exchange(&s, &saml).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(s.sts.seen().saml.len(), 1);
    // The bearer NotOnOrAfter (5 minutes) is the earliest bound.
    assert_eq!(
        s.replay.untils.lock().unwrap().as_slice(),
        &[t0() + Duration::minutes(5) + CLOCK_SKEW]
    );
}

/// A captured Entra assertion (its Conditions still valid for most of an hour) presented after
/// the default maximum age: refused, and STS never sees it.
#[actix_web::test]
async fn stale_assertion_past_the_max_age_is_refused_before_sts() {
    let s = setup(test_idp(), t0() + DEFAULT_MAX_ASSERTION_AGE + CLOCK_SKEW);
    let saml = SamlResponseBuilder::new(t0()).entra_shaped().build_base64();
    let (status, body) = exchange(&s, &saml).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(code(&body), "saml_expired");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("max_assertion_age_seconds"));
    assert_eq!(s.sts.calls(), 0);
}

/// A bearer confirmation longer than any IdP sends by default, even with the longest maximum age
/// an operator may configure: refused.
#[actix_web::test]
async fn bearer_window_longer_than_the_bound_is_refused_before_sts() {
    let mut idp = test_idp();
    idp.max_assertion_age = Duration::minutes(60);
    let s = setup(idp, t0());
    let mut b = SamlResponseBuilder::new(t0()).entra_shaped();
    b.subject_not_on_or_after = Some(t0() + MAX_BEARER_WINDOW + Duration::minutes(1));
    b.not_on_or_after = b.subject_not_on_or_after;
    let (status, body) = exchange(&s, &b.build_base64()).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(code(&body), "saml_lifetime_too_long");
    assert_eq!(s.sts.calls(), 0);
}

/// With `max_assertion_age_seconds = 3600` an Entra assertion is usable for its whole 60-minute
/// window; a replay is refused as a replay up to the last second of it (the record lives until
/// NotOnOrAfter + skew) and as expired afterwards. STS is called once.
#[actix_web::test]
async fn replay_within_the_long_conditions_window_is_refused_until_it_ends() {
    let mut idp = test_idp();
    idp.max_assertion_age = Duration::minutes(60);
    let s = setup(idp, t0() + Duration::minutes(1));
    let saml = SamlResponseBuilder::new(t0()).entra_shaped().build_base64();
    let (status, body) = exchange(&s, &saml).await;
    assert_eq!(status, 200, "{body}");
    let end = t0() + Duration::minutes(60) + CLOCK_SKEW;
    assert_eq!(s.replay.untils.lock().unwrap().as_slice(), &[end]);

    for at in [t0() + Duration::minutes(30), end - Duration::seconds(1)] {
        s.clock.set(at);
        let (status, body) = exchange(&s, &saml).await;
        assert_eq!((status, code(&body)), (401, "saml_replay"), "at {at}");
    }
    s.clock.set(end);
    let (status, body) = exchange(&s, &saml).await;
    assert_eq!((status, code(&body)), (401, "saml_expired"), "{body}");
    assert_eq!(s.sts.calls(), 1);
}

/// `[[saml.idps]] max_assertion_age_seconds` reaches the IdP the validator uses; omitted, the
/// default applies.
#[actix_web::test]
async fn max_assertion_age_seconds_from_config_reaches_the_trusted_idp() {
    let toml = |extra: &str| {
        format!(
            "[[saml.idps]]\nname = \"test-idp\"\nmetadata_file = \"config/test-idp-metadata.xml\"\n{extra}"
        )
    };
    let cfg = load_str(
        &toml("max_assertion_age_seconds = 1800\n"),
        Vec::<(String, String)>::new(),
    )
    .unwrap();
    let idps = fedbroker::trust::load_idps(&cfg).await.unwrap();
    assert_eq!(idps[0].max_assertion_age, Duration::minutes(30));
    let cfg = load_str(&toml(""), Vec::<(String, String)>::new()).unwrap();
    let idps = fedbroker::trust::load_idps(&cfg).await.unwrap();
    assert_eq!(idps[0].max_assertion_age, DEFAULT_MAX_ASSERTION_AGE);
}
