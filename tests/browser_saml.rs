//! SAML browser sign-in through the real handlers, with responses signed by the test IdP
//! (`tests/support/saml_idp.rs`, the IdP of `config/test-idp-metadata.xml`): SP metadata, an
//! SP-initiated AuthnRequest (HTTP-Redirect, DEFLATE), the ACS accepting only a signed
//! InResponseTo that answers a request from this browser, once; IdP-initiated refused unless
//! enabled; RelayState never an open redirect; replay refused.

mod support;

use actix_web::test::TestRequest;
use base64::Engine;
use chrono::{SubsecRound, Utc};
use fedbroker::clock::{FixedClock, SharedClock};
use fedbroker::config::load_str;
use fedbroker::http::AppState;
use fedbroker::replay::memory::MemoryReplayGuard;
use std::io::Read;
use std::sync::Arc;
use support::harness::test_idp;
use support::http::{send, CookieJar};
use support::recording_sts::{moto_endpoint, RecordingSts};
use support::saml_idp::SamlResponseBuilder;

const PUBLIC: &str = "http://127.0.0.1:8080";

fn setup(idp_initiated: bool) -> (AppState, Arc<FixedClock>) {
    let cfg = load_str(
        &format!(
            r#"
[server]
public_url = "{PUBLIC}"
[[saml.idps]]
name = "test-idp"
metadata_file = "config/test-idp-metadata.xml"
allow_idp_initiated = {idp_initiated}
"#
        ),
        Vec::<(String, String)>::new(),
    )
    .unwrap();
    let clock = Arc::new(FixedClock::new(Utc::now().trunc_subsecs(0)));
    let shared: SharedClock = clock.clone();
    let sts = RecordingSts::wrapping(fedbroker::sts::sdk::SdkStsClient::new(
        "us-east-1",
        Some(&moto_endpoint()),
    ));
    let mut idp = test_idp();
    // As the broker's own loader does for browser sign-in: also accept assertions addressed to it.
    idp.audiences.push(format!("{PUBLIC}/saml/metadata"));
    idp.recipients.push(format!("{PUBLIC}/saml/acs"));
    idp.sso_redirect_url = Some("https://idp.test.fedbroker.local/sso".into());
    let state = AppState::from_parts(
        &cfg,
        vec![idp],
        sts,
        Arc::new(MemoryReplayGuard::new(shared.clone())),
        shared,
    );
    (state, clock)
}

/// `GET /saml/login`: the AuthnRequest's ID (decoded from the redirect) and the browser's jar.
async fn start(state: &AppState) -> (String, CookieJar) {
    let (status, headers, _) =
        send(state, TestRequest::get().uri("/saml/login?idp=test-idp")).await;
    assert_eq!(status, 302);
    let mut jar = CookieJar::default();
    jar.keep(&headers);
    let loc = url::Url::parse(headers.get("location").unwrap().to_str().unwrap()).unwrap();
    assert_eq!(loc.host_str(), Some("idp.test.fedbroker.local"));
    let req = loc
        .query_pairs()
        .find(|(k, _)| k == "SAMLRequest")
        .unwrap()
        .1
        .into_owned();
    let deflated = base64::engine::general_purpose::STANDARD
        .decode(req)
        .unwrap();
    let mut xml = String::new();
    flate2::read::DeflateDecoder::new(deflated.as_slice())
        .read_to_string(&mut xml)
        .unwrap();
    assert!(
        xml.contains(&format!(
            "AssertionConsumerServiceURL=\"{PUBLIC}/saml/acs\""
        )),
        "{xml}"
    );
    assert!(
        xml.contains(&format!(
            "<saml:Issuer>{PUBLIC}/saml/metadata</saml:Issuer>"
        )),
        "{xml}"
    );
    let id = xml
        .split("ID=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    (id, jar)
}

fn response(clock: &FixedClock, in_response_to: Option<&str>) -> String {
    let mut b = SamlResponseBuilder::new(fedbroker::clock::Clock::now(clock));
    b.assertion_id = format!("_a{}", uuid::Uuid::new_v4().simple());
    b.audiences = vec![format!("{PUBLIC}/saml/metadata")];
    b.recipient = Some(format!("{PUBLIC}/saml/acs"));
    b.destination = Some(format!("{PUBLIC}/saml/acs"));
    b.in_response_to = in_response_to.map(str::to_owned);
    b.build_base64()
}

async fn acs(
    state: &AppState,
    jar: &CookieJar,
    saml: &str,
    relay: Option<&str>,
) -> (u16, String, String) {
    let mut form = vec![("SAMLResponse", saml)];
    if let Some(r) = relay {
        form.push(("RelayState", r));
    }
    let (status, headers, body) = send(
        state,
        jar.apply(TestRequest::post().uri("/saml/acs").set_form(form)),
    )
    .await;
    let location = headers
        .get("location")
        .map(|l| l.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (
        status,
        location,
        body.as_str().unwrap_or_default().to_owned(),
    )
}

#[actix_web::test]
async fn sp_metadata_names_the_entity_and_the_acs() {
    let (state, _) = setup(false);
    let (status, headers, body) = send(&state, TestRequest::get().uri("/saml/metadata")).await;
    assert_eq!(status, 200);
    assert_eq!(
        headers.get("content-type").unwrap(),
        "application/samlmetadata+xml"
    );
    let xml = body.as_str().unwrap();
    assert!(xml.contains(&format!("entityID=\"{PUBLIC}/saml/metadata\"")));
    assert!(xml.contains(&format!("Location=\"{PUBLIC}/saml/acs\"")));
    assert!(xml.contains("WantAssertionsSigned=\"true\""));
}

#[actix_web::test]
async fn sp_initiated_sign_in_lands_on_the_role_picker() {
    let (state, clock) = setup(false);
    let (id, mut jar) = start(&state).await;
    let saml = response(&clock, Some(&id));
    let (status, headers, _) = send(
        &state,
        jar.apply(
            TestRequest::post()
                .uri("/saml/acs")
                .set_form([("SAMLResponse", saml.as_str())]),
        ),
    )
    .await;
    assert_eq!(status, 303);
    assert_eq!(headers.get("location").unwrap(), "/roles");
    jar.keep(&headers);
    assert!(jar.get("fedbroker_session").is_some());
    assert!(jar.get("fedbroker_login").is_none(), "login cookie cleared");
    let (status, _, page) = send(
        &state,
        jar.apply(
            TestRequest::get()
                .uri("/roles")
                .insert_header(("accept", "application/json")),
        ),
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["subject"], "alice@example.com");
    assert_eq!(page["provider"], "test-idp");
    assert_eq!(
        page["roles"].as_array().unwrap().len(),
        1,
        "the Role attribute's role: {page}"
    );
}

#[actix_web::test]
async fn replayed_in_response_to_is_refused() {
    let (state, clock) = setup(false);
    let (id, jar) = start(&state).await;
    assert_eq!(
        acs(&state, &jar, &response(&clock, Some(&id)), None)
            .await
            .0,
        303
    );
    // A second response answering the same request (a replay of the exchange).
    let (status, _, body) = acs(&state, &jar, &response(&clock, Some(&id)), None).await;
    assert_eq!(status, 401);
    assert!(body.contains("saml_in_response_to_unknown"), "{body}");
}

#[actix_web::test]
async fn replayed_assertion_at_the_acs_is_refused() {
    let (state, clock) = setup(true);
    let saml = response(&clock, None);
    assert_eq!(acs(&state, &CookieJar::default(), &saml, None).await.0, 303);
    let (status, _, body) = acs(&state, &CookieJar::default(), &saml, None).await;
    assert_eq!(status, 401);
    assert!(body.contains("saml_replay"), "{body}");
}

#[actix_web::test]
async fn response_to_a_request_from_another_browser_is_refused() {
    let (state, clock) = setup(false);
    let (id, _victim) = start(&state).await;
    let attacker = CookieJar::default();
    let (status, _, body) = acs(&state, &attacker, &response(&clock, Some(&id)), None).await;
    assert_eq!(status, 401);
    assert!(body.contains("login_browser_mismatch"), "{body}");
}

#[actix_web::test]
async fn unsolicited_in_response_to_is_refused() {
    let (state, clock) = setup(true);
    let (_, jar) = start(&state).await;
    let (status, _, body) = acs(&state, &jar, &response(&clock, Some("_never-sent")), None).await;
    assert_eq!(status, 401);
    assert!(body.contains("saml_in_response_to_unknown"), "{body}");
}

#[actix_web::test]
async fn idp_initiated_login_csrf_is_refused_unless_enabled() {
    let (state, clock) = setup(false);
    let (status, _, body) = acs(&state, &CookieJar::default(), &response(&clock, None), None).await;
    assert_eq!(status, 401);
    assert!(body.contains("saml_idp_initiated_refused"), "{body}");
    let (state, clock) = setup(true);
    let (status, location, _) =
        acs(&state, &CookieJar::default(), &response(&clock, None), None).await;
    assert_eq!((status, location.as_str()), (303, "/roles"));
}

#[actix_web::test]
async fn open_redirect_through_relay_state_is_impossible() {
    let (state, clock) = setup(true);
    for evil in [
        "https://evil.example/",
        "//evil.example/roles",
        "/\\evil.example",
        "javascript:alert(1)",
        "/rolesevil",
    ] {
        let (status, location, _) = acs(
            &state,
            &CookieJar::default(),
            &response(&clock, None),
            Some(evil),
        )
        .await;
        assert_eq!((status, location.as_str()), (303, "/roles"), "{evil}");
    }
    let (status, location, _) = acs(
        &state,
        &CookieJar::default(),
        &response(&clock, None),
        Some("/roles?view=all"),
    )
    .await;
    assert_eq!((status, location.as_str()), (303, "/roles?view=all"));
}

#[actix_web::test]
async fn unsigned_or_tampered_response_at_the_acs_is_refused() {
    let (state, clock) = setup(true);
    let mut b = SamlResponseBuilder::new(fedbroker::clock::Clock::now(clock.as_ref()));
    b.audiences = vec![format!("{PUBLIC}/saml/metadata")];
    b.recipient = Some(format!("{PUBLIC}/saml/acs"));
    b.destination = Some(format!("{PUBLIC}/saml/acs"));
    b.sign = support::saml_idp::SignWhat::Nothing;
    let (status, _, body) = acs(&state, &CookieJar::default(), &b.build_base64(), None).await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("saml_unsigned"), "{body}");
}
