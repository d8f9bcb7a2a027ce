//! An in-process broker for handler tests: the config given, the test SAML IdP, STS = the SDK
//! client against moto (with test broker credentials for assume-role, wrapped in the recorder), an
//! in-process replay store and a fixed clock at the current whole second.

use super::harness::test_idp_with;
use super::recording_sts::{moto_endpoint, RecordingSts};
use super::saml_idp::SamlResponseBuilder;
use chrono::{SubsecRound, Utc};
use fedbroker::clock::{Clock, FixedClock, SharedClock};
use fedbroker::config::load_str;
use fedbroker::http::AppState;
use fedbroker::replay::memory::MemoryReplayGuard;
use fedbroker::sts::sdk::SdkStsClient;
use std::sync::Arc;

pub struct TestApp {
    pub state: AppState,
    pub sts: Arc<RecordingSts>,
    pub clock: Arc<FixedClock>,
}

/// A broker for `config` (TOML; it names the test IdP in `[[saml.idps]]` when SAML is used; that
/// entry's `legacy_algorithms` is honoured).
pub fn test_app(config: &str) -> TestApp {
    let cfg = load_str(config, Vec::<(String, String)>::new()).expect("config loads");
    let broker_creds =
        aws_credential_types::Credentials::new("test", "test", None, None, "fedbroker-test");
    let sts = RecordingSts::wrapping(
        SdkStsClient::new("us-east-1", Some(&moto_endpoint()))
            .with_broker_credentials(broker_creds),
    );
    // Real time (moto's expirations are real-time), in whole seconds as SAML instants are: the
    // IdP's SessionNotOnOrAfter is then exactly 1 h away and does not shorten (and so key) the
    // session by a fraction of a second.
    let clock = Arc::new(FixedClock::new(Utc::now().trunc_subsecs(0)));
    let shared: SharedClock = clock.clone();
    let policy = fedbroker::saml::keys::AlgorithmPolicy::from_legacy_flag(
        cfg.saml.idps.first().is_some_and(|i| i.legacy_algorithms),
    );
    let state = AppState::from_parts(
        &cfg,
        vec![test_idp_with(policy)],
        sts.clone(),
        Arc::new(MemoryReplayGuard::new(shared.clone())),
        shared,
    );
    TestApp { state, sts, clock }
}

impl TestApp {
    /// A fresh response from the test IdP, issued now, with a unique assertion ID, as edited.
    pub fn saml(&self, edit: impl FnOnce(&mut SamlResponseBuilder)) -> String {
        let mut b = SamlResponseBuilder::new(self.clock.now());
        b.assertion_id = format!("_a{}", uuid::Uuid::new_v4().simple());
        edit(&mut b);
        b.build_base64()
    }
}
