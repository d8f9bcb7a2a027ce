//! SAML browser sign-in through the real handlers, with responses signed by the test IdP
//! (`tests/all/support/saml_idp.rs`, the IdP of `config/test-idp-metadata.xml`): SP metadata, an
//! SP-initiated AuthnRequest (HTTP-Redirect, DEFLATE), the ACS accepting only a signed
//! InResponseTo that answers a request from this browser, once; IdP-initiated refused unless
//! enabled; RelayState never an open redirect; replay refused.

use crate::support;

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
    setup_with(idp_initiated, "", |_| {})
}

/// `saml_extra`: more `[saml]` keys; `tweak`: changes to the trusted IdP.
fn setup_with(
    idp_initiated: bool,
    saml_extra: &str,
    tweak: impl FnOnce(&mut fedbroker::saml::TrustedIdp),
) -> (AppState, Arc<FixedClock>) {
    setup_full(PUBLIC, idp_initiated, saml_extra, "", tweak)
}

/// [`setup`] with the in-process browser store handed back (to look at its size).
fn setup_with_store() -> (AppState, Arc<FixedClock>, Arc<fedbroker::sign_in::MemoryKv>) {
    let (state, clock) = setup(false);
    let kv = Arc::new(fedbroker::sign_in::MemoryKv::new(clock.clone()));
    let cfg = load_str(
        &format!(
            "[server]\npublic_url = \"{PUBLIC}\"\n[[saml.idps]]\nname = \"test-idp\"\nmetadata_file = \"config/test-idp-metadata.xml\"\n"
        ),
        Vec::<(String, String)>::new(),
    )
    .unwrap();
    let mut idp = test_idp();
    idp.audiences.push(format!("{PUBLIC}/saml/metadata"));
    idp.recipients.push(format!("{PUBLIC}/saml/acs"));
    idp.sso_redirect_url = Some("https://idp.test.fedbroker.local/sso".into());
    let shared: SharedClock = clock.clone();
    let state = AppState::from_parts_with_store(
        &cfg,
        vec![idp],
        state.exchange().sts.clone(),
        Arc::new(MemoryReplayGuard::new(shared.clone())),
        shared,
        kv.clone(),
    );
    (state, clock, kv)
}

/// [`setup_with`] at another `public_url` and with more config (e.g. `[[rules]]`).
fn setup_full(
    public: &str,
    idp_initiated: bool,
    saml_extra: &str,
    more: &str,
    tweak: impl FnOnce(&mut fedbroker::saml::TrustedIdp),
) -> (AppState, Arc<FixedClock>) {
    let cfg = load_str(
        &format!(
            r#"
[server]
public_url = "{public}"
[saml]
{saml_extra}
[[saml.idps]]
name = "test-idp"
metadata_file = "config/test-idp-metadata.xml"
allow_idp_initiated = {idp_initiated}
{more}
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
    idp.audiences.push(format!("{public}/saml/metadata"));
    idp.recipients.push(format!("{public}/saml/acs"));
    idp.sso_redirect_url = Some("https://idp.test.fedbroker.local/sso".into());
    tweak(&mut idp);
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
    start_with(state, TestRequest::get()).await
}

/// [`start`] with `req` (e.g. its peer and headers).
async fn start_with(state: &AppState, req: TestRequest) -> (String, CookieJar) {
    let (status, headers, _) = send(state, req.uri("/saml/login?idp=test-idp")).await;
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
    assert!(
        jar.get("__Host-fedbroker_saml_login").is_none(),
        "login cookie cleared"
    );
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

/// The `Set-Cookie` header for cookie `name`.
fn set_cookie(headers: &actix_web::http::header::HeaderMap, name: &str) -> String {
    headers
        .get_all("set-cookie")
        .map(|h| h.to_str().unwrap().to_owned())
        .find(|h| h.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no Set-Cookie for {name}: {headers:?}"))
}

#[actix_web::test]
async fn login_binding_cookie_reaches_the_acs_on_the_idps_cross_site_post() {
    // Browsers never send SameSite=Lax cookies with a cross-site POST: the IdP's POST to
    // the ACS would arrive without the binding, so the SAML binding cookie is SameSite=None;
    // Secure (and __Host-: Path=/, no Domain), also on plain-http loopback.
    let (state, clock) = setup(false);
    let (status, headers, _) =
        send(&state, TestRequest::get().uri("/saml/login?idp=test-idp")).await;
    assert_eq!(status, 302);
    let binding = set_cookie(&headers, "__Host-fedbroker_saml_login");
    for attr in [
        "HttpOnly",
        "SameSite=None",
        "Secure",
        "Path=/",
        "Max-Age=600",
    ] {
        assert!(binding.contains(attr), "{attr} missing: {binding}");
    }
    assert!(!binding.contains("Domain"), "{binding}");
    // The session cookie stays Lax (and not Secure on a plain-http loopback public_url).
    let (id, jar) = start(&state).await;
    let (status, headers, _) = send(
        &state,
        jar.apply(
            TestRequest::post()
                .uri("/saml/acs")
                .set_form([("SAMLResponse", response(&clock, Some(&id)).as_str())]),
        ),
    )
    .await;
    assert_eq!(status, 303);
    let session = set_cookie(&headers, "fedbroker_session");
    assert!(
        session.contains("SameSite=Lax") && session.contains("HttpOnly"),
        "{session}"
    );
    let cleared = set_cookie(&headers, "__Host-fedbroker_saml_login");
    assert!(
        cleared.contains("Max-Age=0") && cleared.contains("Secure") && cleared.contains("Path=/"),
        "{cleared}"
    );
}

#[actix_web::test]
async fn oidc_login_cookie_does_not_bind_a_saml_response() {
    // The OIDC binding cookie (Lax) carries a login's value under another name: presented as the
    // OIDC cookie, a SAML binding value proves nothing.
    let (state, clock) = setup(false);
    let (id, jar) = start(&state).await;
    let value = jar.get("__Host-fedbroker_saml_login").unwrap().to_owned();
    let mut wrong = CookieJar::default();
    let mut h = actix_web::http::header::HeaderMap::new();
    h.insert(
        actix_web::http::header::SET_COOKIE,
        format!("fedbroker_login={value}").parse().unwrap(),
    );
    wrong.keep(&h);
    let (status, _, body) = acs(&state, &wrong, &response(&clock, Some(&id)), None).await;
    assert_eq!(status, 401);
    assert!(body.contains("login_browser_mismatch"), "{body}");
}

const SP_KEYS: &str = r#"sp_key_file = "certs/saml-sp.key"
sp_cert_file = "certs/saml-sp.crt""#;

#[actix_web::test]
async fn sp_metadata_publishes_the_sp_certificate_for_signing_and_encryption() {
    let (state, _) = setup_with(false, SP_KEYS, |_| {});
    let (_, _, body) = send(&state, TestRequest::get().uri("/saml/metadata")).await;
    let xml = body.as_str().unwrap();
    let doc = roxmltree::Document::parse(xml).unwrap();
    let sp = doc
        .descendants()
        .find(|n| n.has_tag_name("SPSSODescriptor"))
        .unwrap();
    assert_eq!(sp.attribute("AuthnRequestsSigned"), Some("true"));
    let cert = std::fs::read_to_string("certs/saml-sp.crt").unwrap();
    let cert: String = cert.lines().filter(|l| !l.starts_with("-----")).collect();
    let mut uses: Vec<&str> = sp
        .children()
        .filter(|n| n.has_tag_name("KeyDescriptor"))
        .map(|kd| {
            let published = kd
                .descendants()
                .find(|n| n.has_tag_name("X509Certificate"))
                .and_then(|n| n.text())
                .unwrap();
            assert_eq!(published, cert);
            kd.attribute("use").unwrap()
        })
        .collect();
    uses.sort_unstable();
    assert_eq!(uses, ["encryption", "signing"]);
    // Without a key: nothing published, requests unsigned.
    let (state, _) = setup(false);
    let (_, _, body) = send(&state, TestRequest::get().uri("/saml/metadata")).await;
    let xml = body.as_str().unwrap();
    assert!(xml.contains("AuthnRequestsSigned=\"false\"") && !xml.contains("KeyDescriptor"));
}

#[actix_web::test]
async fn signed_authn_request_verifies_with_the_published_certificate() {
    use aws_lc_rs::signature::{UnparsedPublicKey, RSA_PKCS1_2048_8192_SHA256};
    let (state, _) = setup_with(false, SP_KEYS, |_| {});
    let (status, headers, _) =
        send(&state, TestRequest::get().uri("/saml/login?idp=test-idp")).await;
    assert_eq!(status, 302);
    let location = headers.get("location").unwrap().to_str().unwrap();
    let query = location.split_once('?').unwrap().1;
    let (signed, signature) = query.split_once("&Signature=").unwrap();
    assert!(signed.starts_with("SAMLRequest="), "{signed}");
    assert!(
        signed.ends_with("&SigAlg=http%3A%2F%2Fwww.w3.org%2F2001%2F04%2Fxmldsig-more%23rsa-sha256"),
        "{signed}"
    );
    let signature: String = url::form_urlencoded::parse(format!("s={signature}").as_bytes())
        .next()
        .unwrap()
        .1
        .into_owned();
    let signature = base64::engine::general_purpose::STANDARD
        .decode(signature)
        .unwrap();
    let pem = std::fs::read("certs/saml-sp.crt").unwrap();
    let (_, pem) = x509_parser::pem::parse_x509_pem(&pem).unwrap();
    let cert = pem.parse_x509().unwrap();
    let key = UnparsedPublicKey::new(
        &RSA_PKCS1_2048_8192_SHA256,
        cert.public_key().subject_public_key.data.to_vec(),
    );
    assert!(key.verify(signed.as_bytes(), &signature).is_ok());
    let tampered = signed.replace("&SigAlg=", "&RelayState=%2Fevil&SigAlg=");
    assert!(key.verify(tampered.as_bytes(), &signature).is_err());
}

#[actix_web::test]
async fn idp_wanting_signed_requests_is_never_sent_an_unsigned_one() {
    let (state, _) = setup_with(false, "", |idp| idp.want_authn_requests_signed = true);
    let (status, headers, body) =
        send(&state, TestRequest::get().uri("/saml/login?idp=test-idp")).await;
    assert_eq!(status, 500, "{body}");
    assert!(headers.get("location").is_none());
    assert!(
        body.as_str()
            .unwrap_or_default()
            .contains("saml_sp_key_missing"),
        "{body}"
    );
}

#[test]
fn plain_http_public_url_off_loopback_is_refused_so_no_cookie_falls_back_to_lax() {
    // Browsers drop Secure cookies from a plain-http non-loopback origin, and the SAML binding
    // cookie has to be Secure (SameSite=None): such a public_url is a config error, not a
    // silently weaker cookie.
    let err = load_str(
        "[server]\npublic_url = \"http://broker.example.com\"\n",
        Vec::<(String, String)>::new(),
    )
    .unwrap_err();
    assert!(
        err.0
            .iter()
            .any(|e| e.contains("server.public_url") && e.contains("plain http only on loopback")),
        "{err:?}"
    );
    for ok in [
        "http://127.0.0.1:8080",
        "http://localhost:8080",
        "https://broker.example.com",
    ] {
        let cfg = format!("[server]\npublic_url = \"{ok}\"\n");
        assert!(
            load_str(&cfg, Vec::<(String, String)>::new()).is_ok(),
            "{ok}"
        );
    }
}

#[actix_web::test]
async fn relay_state_dot_segments_cannot_escape_the_allow_list() {
    let (state, clock) = setup(true);
    for evil in [
        "/roles/../oidc/login?provider=web",
        "/roles/./../console",
        "/roles/..",
        "/roles/%2e%2e/oidc/login?provider=web",
        "/roles/%2E%2E/oidc/login",
        "/roles/.%2e/oidc/login",
        "/roles%2f..%2foidc/login",
        "/roles/%2F/evil.example",
        "/roles/..\\oidc/login",
        "/roles\\..\\oidc",
        "//evil.example/roles",
        "/roles/%5c..%5coidc",
        "/roles/\u{1}",
        "/roles?next=%0d%0aSet-Cookie",
    ] {
        let (status, location, _) = acs(
            &state,
            &CookieJar::default(),
            &response(&clock, None),
            Some(evil),
        )
        .await;
        assert_eq!((status, location.as_str()), (303, "/roles"), "{evil:?}");
    }
    // Harmless forms still lead where they say.
    for ok in ["/roles", "/roles/", "/roles?view=all", "/roles/team/a"] {
        let (status, location, _) = acs(
            &state,
            &CookieJar::default(),
            &response(&clock, None),
            Some(ok),
        )
        .await;
        assert_eq!((status, location.as_str()), (303, ok), "{ok}");
    }
}

/// The SAML sign-in at an https `public_url` (same IdP; responses addressed to that URL).
const HTTPS_PUBLIC: &str = "https://broker.example.com";

fn https_response(clock: &FixedClock, in_response_to: Option<&str>) -> String {
    let mut b = SamlResponseBuilder::new(fedbroker::clock::Clock::now(clock));
    b.assertion_id = format!("_a{}", uuid::Uuid::new_v4().simple());
    b.audiences = vec![format!("{HTTPS_PUBLIC}/saml/metadata")];
    b.recipient = Some(format!("{HTTPS_PUBLIC}/saml/acs"));
    b.destination = Some(format!("{HTTPS_PUBLIC}/saml/acs"));
    b.in_response_to = in_response_to.map(str::to_owned);
    b.build_base64()
}

#[actix_web::test]
async fn sibling_subdomain_cannot_plant_cookies_on_an_https_broker() {
    // With an https public_url every browser cookie is __Host- (Secure, Path=/, no Domain): a
    // sibling subdomain cannot set a cookie with that name, so it cannot plant a session.
    let (state, clock) = setup_full(HTTPS_PUBLIC, true, "", "", |_| {});
    let (status, headers, _) = send(
        &state,
        CookieJar::default().apply(
            TestRequest::post()
                .uri("/saml/acs")
                .set_form([("SAMLResponse", https_response(&clock, None).as_str())]),
        ),
    )
    .await;
    assert_eq!(status, 303);
    let session = set_cookie(&headers, "__Host-fedbroker_session");
    for attr in ["Secure", "Path=/", "HttpOnly", "SameSite=Lax"] {
        assert!(session.contains(attr), "{attr} missing: {session}");
    }
    assert!(!session.contains("Domain"), "{session}");
    assert!(
        !headers
            .get_all("set-cookie")
            .any(|h| h.to_str().unwrap().starts_with("fedbroker_")),
        "no cookie without the prefix: {headers:?}"
    );
    // The session works under its __Host- name, and a planted unprefixed cookie is not read.
    let mut jar = CookieJar::default();
    jar.keep(&headers);
    let value = jar.get("__Host-fedbroker_session").unwrap().to_owned();
    let (status, _, _) = send(
        &state,
        jar.apply(TestRequest::get().uri("/roles"))
            .insert_header(("accept", "application/json")),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _, _) = send(
        &state,
        TestRequest::get()
            .uri("/roles")
            .insert_header(("accept", "application/json"))
            .insert_header(("cookie", format!("fedbroker_session={value}"))),
    )
    .await;
    assert_eq!(status, 401, "an unprefixed (plantable) cookie is ignored");
}

#[actix_web::test]
async fn new_sign_in_in_a_browser_ends_its_previous_session() {
    let (state, clock) = setup(true);
    let mut jar = CookieJar::default();
    let (status, headers, _) = send(
        &state,
        jar.apply(
            TestRequest::post()
                .uri("/saml/acs")
                .set_form([("SAMLResponse", response(&clock, None).as_str())]),
        ),
    )
    .await;
    assert_eq!(status, 303);
    jar.keep(&headers);
    let old = jar.get("fedbroker_session").unwrap().to_owned();
    let (status, headers, _) = send(
        &state,
        jar.apply(
            TestRequest::post()
                .uri("/saml/acs")
                .set_form([("SAMLResponse", response(&clock, None).as_str())]),
        ),
    )
    .await;
    assert_eq!(status, 303);
    jar.keep(&headers);
    let new = jar.get("fedbroker_session").unwrap().to_owned();
    assert_ne!(old, new);
    let roles = |cookie: String| {
        TestRequest::get()
            .uri("/roles")
            .insert_header(("accept", "application/json"))
            .insert_header(("cookie", format!("fedbroker_session={cookie}")))
    };
    assert_eq!(
        send(&state, roles(new)).await.0,
        200,
        "the new session works"
    );
    assert_eq!(
        send(&state, roles(old)).await.0,
        401,
        "the previous session token no longer works"
    );
}

#[actix_web::test]
async fn one_failing_template_does_not_empty_the_role_picker() {
    // The second grant's tag template makes a value longer than AWS's 256-character tag limit
    // for this subject; the other grants must still be listed, that one marked (without value).
    let long = "x".repeat(250);
    let rules = format!(
        r#"
[[rules]]
name = "people"
[rules.match]
provider = "test-idp"
[[rules.grants]]
role_arn = "arn:aws:iam::111122223333:role/ReadOnly"
mode = "assume-role"
[[rules.grants]]
role_arn = "arn:aws:iam::111122223333:role/Tagged"
mode = "assume-role"
tags = {{ Who = "{long}{{subject}}" }}
[[rules.grants]]
role_arn = "arn:aws:iam::444455556666:role/Deploy"
mode = "assume-role"
"#
    );
    let (state, clock) = setup_full(PUBLIC, true, "", &rules, |_| {});
    let mut jar = CookieJar::default();
    let (status, headers, _) = send(
        &state,
        jar.apply(
            TestRequest::post()
                .uri("/saml/acs")
                .set_form([("SAMLResponse", response(&clock, None).as_str())]),
        ),
    )
    .await;
    assert_eq!(status, 303);
    jar.keep(&headers);
    let (status, _, page) = send(
        &state,
        jar.apply(TestRequest::get().uri("/roles"))
            .insert_header(("accept", "application/json")),
    )
    .await;
    assert_eq!(status, 200, "{page}");
    let arns: Vec<&str> = page["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["role_arn"].as_str().unwrap())
        .collect();
    assert_eq!(
        arns,
        [
            "arn:aws:iam::111122223333:role/ReadOnly",
            "arn:aws:iam::444455556666:role/Deploy"
        ],
        "{page}"
    );
    let unavailable = page["unavailable"].as_array().expect("unavailable grants");
    assert_eq!(unavailable.len(), 1, "{page}");
    assert_eq!(
        unavailable[0]["role_arn"],
        "arn:aws:iam::111122223333:role/Tagged"
    );
    assert_eq!(unavailable[0]["code"], "template_value_invalid");
    let text = page.to_string();
    assert!(
        !text.contains(&long) && !text.contains("xxxxxalice"),
        "the rendered value is never shown: {text}"
    );
    let (status, _, html) = send(&state, jar.apply(TestRequest::get().uri("/roles"))).await;
    assert_eq!(status, 200);
    let html = html.as_str().unwrap();
    assert!(
        html.contains("ReadOnly") && html.contains("Deploy"),
        "{html}"
    );
    assert!(
        html.contains("Tagged") && html.contains("template_value_invalid"),
        "{html}"
    );
    assert!(!html.contains(&long));
}

#[actix_web::test]
async fn flooding_pending_logins_never_stops_a_real_sign_in() {
    // The attack: 100,000 `GET /saml/login` from 35 addresses (each under its rate limit). Pending
    // logins are bounded on their own (per client and overall, oldest evicted), so a real
    // sign-in started afterwards still completes and still gets a session.
    use actix_web::{test, web, App};
    let (state, clock, kv) = setup_with_store();
    let app = test::init_service(
        App::new()
            .app_data(web::Data::new(state.clone()))
            .configure(fedbroker::http::routes),
    )
    .await;
    for i in 0..100_000u32 {
        let peer: std::net::SocketAddr = format!("10.0.0.{}:4000", i % 35).parse().unwrap();
        let resp = test::call_service(
            &app,
            TestRequest::get()
                .uri("/saml/login?idp=test-idp")
                .peer_addr(peer)
                .to_request(),
        )
        .await;
        assert_eq!(resp.status().as_u16(), 302, "flood request {i} refused");
    }
    assert!(
        kv.pending_len() <= fedbroker::sign_in::pending::MAX_PENDING,
        "memory stays bounded: {} pending logins",
        kv.pending_len()
    );
    // The victim, from another address: starts, completes, has a session.
    let (id, mut jar) = start(&state).await;
    let (status, headers, body) = send(
        &state,
        jar.apply(
            TestRequest::post()
                .uri("/saml/acs")
                .set_form([("SAMLResponse", response(&clock, Some(&id)).as_str())]),
        ),
    )
    .await;
    assert_eq!(status, 303, "{body}");
    jar.keep(&headers);
    let (status, _, _) = send(
        &state,
        jar.apply(TestRequest::get().uri("/roles"))
            .insert_header(("accept", "application/json")),
    )
    .await;
    assert_eq!(status, 200);
}

#[actix_web::test]
async fn flooding_pending_logins_in_redis_keeps_keys_bounded_and_sessions_intact() {
    // With Redis, pending logins were uncapped. Now: per client and overall bounds (here 8 and
    // 100), the oldest evicted atomically; sessions are never evicted by pending logins.
    use fedbroker::sign_in::BrowserKv;
    let redis_url = std::env::var("FEDBROKER_TEST_REDIS_URL").expect(
        "FEDBROKER_TEST_REDIS_URL is not set: run scripts/services.sh start && . .fedbroker-run/services.env",
    );
    let prefix = format!("fedbroker-pending-{}:", uuid::Uuid::new_v4().simple());
    let keyring =
        fedbroker::cache::Keyring::from_specs(["t1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="])
            .unwrap();
    let kv = fedbroker::sign_in::RedisKv::connect(&redis_url, &prefix, keyring)
        .await
        .unwrap()
        .with_pending_limits(100, 8);
    let ttl = chrono::TimeDelta::minutes(10);
    kv.put("sess:victim", b"session", chrono::TimeDelta::hours(1))
        .await
        .unwrap();
    kv.put_pending("192.0.2.1", "saml:victim", b"v", ttl)
        .await
        .unwrap();
    // One address floods: only its own oldest go.
    for i in 0..200 {
        kv.put_pending("198.51.100.7", &format!("saml:f{i}"), b"f", ttl)
            .await
            .unwrap();
    }
    assert!(kv.get("saml:victim").await.unwrap().is_some());
    assert!(kv.get("saml:f199").await.unwrap().is_some());
    assert!(kv.get("saml:f100").await.unwrap().is_none());
    // 35 addresses flood: the overall bound holds; a new login is never refused.
    for i in 0..1_000 {
        kv.put_pending(
            &format!("203.0.113.{}", i % 35),
            &format!("oidc:g{i}"),
            b"g",
            ttl,
        )
        .await
        .unwrap();
    }
    assert!(kv.get("oidc:g999").await.unwrap().is_some());
    assert_eq!(
        kv.get("sess:victim")
            .await
            .unwrap()
            .as_deref()
            .map(Vec::as_slice),
        Some(&b"session"[..]),
        "a session is never crowded out"
    );
    let client = redis::Client::open(redis_url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut conn)
        .await
        .unwrap();
    let mut members = 0usize;
    for k in keys.iter().filter(|k| k.contains("pending-")) {
        let t: String = redis::cmd("TYPE")
            .arg(k)
            .query_async(&mut conn)
            .await
            .unwrap();
        if t == "zset" {
            let n: usize = redis::cmd("ZCARD")
                .arg(k)
                .query_async(&mut conn)
                .await
                .unwrap();
            members += n;
        }
    }
    let entries = keys
        .iter()
        .filter(|k| k.contains("web:oidc:") || k.contains("web:saml:"))
        .count();
    assert!(entries <= 100, "{entries} pending entries");
    assert!(members <= 200, "{members} index members");
    assert!(keys.len() <= 100 + 37 + 3, "{} keys", keys.len());
    let _: () = redis::cmd("DEL")
        .arg(&keys)
        .query_async(&mut conn)
        .await
        .unwrap();
}

#[actix_web::test]
async fn console_session_longer_than_the_idp_session_is_refused_through_the_picker() {
    let (state, clock) = setup(false);
    let (id, mut jar) = start(&state).await;
    let now = fedbroker::clock::Clock::now(&*clock);
    let mut b = SamlResponseBuilder::new(now);
    b.assertion_id = format!("_a{}", uuid::Uuid::new_v4().simple());
    b.audiences = vec![format!("{PUBLIC}/saml/metadata")];
    b.recipient = Some(format!("{PUBLIC}/saml/acs"));
    b.destination = Some(format!("{PUBLIC}/saml/acs"));
    b.in_response_to = Some(id);
    b.set_attribute(
        "https://aws.amazon.com/SAML/Attributes/SessionDuration",
        &["900"],
    );
    b.session_not_on_or_after = Some(now + chrono::Duration::minutes(16));
    let saml = b.build_base64();
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
    jar.keep(&headers);
    let (_, _, page) = send(
        &state,
        jar.apply(
            TestRequest::get()
                .uri("/roles")
                .insert_header(("accept", "application/json")),
        ),
    )
    .await;
    let link = page["roles"][0]["console_url"].as_str().unwrap().to_owned();
    for d in [43200, 3600, 901] {
        let (status, _, body) = send(
            &state,
            jar.apply(TestRequest::get().uri(&format!("{link}&session_duration={d}"))),
        )
        .await;
        assert_eq!(status, 400, "{d}: {body}");
        assert!(
            body.as_str().unwrap().contains("duration_not_allowed"),
            "{d}: {body}"
        );
    }
}

#[actix_web::test]
async fn a_login_flood_behind_a_trusted_proxy_does_not_evict_another_clients_pending_login() {
    // Both browsers come through the same load balancer (10.0.0.5). Listed in
    // `server.trusted_proxies`, each is counted as the client it names, so one flooding
    // `/saml/login` evicts only its own pending logins (at most `MAX_PENDING_PER_CLIENT`), and the
    // other's sign-in still completes.
    let (mut state, clock, kv) = setup_with_store();
    state.trusted_proxies = Arc::new(
        fedbroker::config::TrustedProxies::parse(
            &["10.0.0.0/8".to_owned()],
            fedbroker::config::ProxyHeader::XForwardedFor,
        )
        .unwrap(),
    );
    let lb: std::net::SocketAddr = "10.0.0.5:4000".parse().unwrap();
    let behind_lb = |client: &str| {
        TestRequest::get()
            .peer_addr(lb)
            .insert_header(("x-forwarded-for", client.to_owned()))
    };
    let (id, jar) = start_with(&state, behind_lb("198.51.100.1")).await;
    for _ in 0..fedbroker::sign_in::pending::MAX_PENDING_PER_CLIENT + 10 {
        start_with(&state, behind_lb("10.1.1.1, 198.51.100.66")).await;
    }
    assert_eq!(
        kv.pending_len(),
        1 + fedbroker::sign_in::pending::MAX_PENDING_PER_CLIENT,
        "the flooder holds at most its own share"
    );
    let (status, _, body) = send(
        &state,
        jar.apply(
            behind_lb("198.51.100.1")
                .method(actix_web::http::Method::POST)
                .uri("/saml/acs")
                .set_form([("SAMLResponse", response(&clock, Some(&id)).as_str())]),
        ),
    )
    .await;
    assert_eq!(status, 303, "the other client's sign-in completes: {body}");
}
