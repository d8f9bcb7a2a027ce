//! The command line's sign-in (`fedbroker login`) through the real handlers: the device grant
//! (`/oauth/device_authorization`, `/device`, `/oauth/token`), the loopback authorization code
//! grant with PKCE (`/oauth/authorize`), CLI sessions (`/oauth/revoke`, refresh, admin
//! revocation) and their bearer token on `/v1/roles`, `/v1/credentials` and `/v1/console-url`.
//! The broker is `support::app`'s in-process one (STS = moto through the recorder, a fixed
//! clock); a signed-in browser is a broker session started for an identity the test IdP signed.
//!
//! - `device.rs`: the device grant, end to end and every refusal named after its attack;
//! - `code.rs`: the loopback grant and PKCE;
//! - `picker.rs`: the role picker's command lines;
//! - `session.rs`: the bearer token on the API routes, refresh, logout and revocation;
//! - `sso.rs`: the approval page behind the real browser sign-in (the test OIDC IdP).

mod code;
mod device;
mod picker;
mod session;
mod sso;

use crate::support;
use crate::support::fixtures::{admin_server, admin_token, test_saml_idp};

use actix_web::test::TestRequest;
use secrecy::SecretString;
use serde_json::Value;
use support::app::{test_app, TestApp};
use support::http::{send, CookieJar};

pub const DEPLOYER: &str = "arn:aws:iam::111122223333:role/Deployer";
pub const ADMIN_TOKEN: &str = admin_token!();
pub const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
pub const CLIENT: &str = "fedbroker-cli";
pub const REDIRECT: &str = "http://127.0.0.1:53682/callback";

/// One assume-role grant with the alias `deploy`, an admin token, the test SAML IdP.
const CONFIG: &str = concat!(
    admin_server!(),
    "public_url = \"http://127.0.0.1:8080\"\n",
    test_saml_idp!(),
    r#"
[[rules]]
name = "deployers"
[rules.match]
provider = "test-idp"
subject = { glob = "*@example.com" }
[[rules.grants]]
role_arn = "arn:aws:iam::111122223333:role/Deployer"
alias = "deploy"
mode = "assume-role"
session_name = "{subject}"
duration_seconds = 3600
"#
);

/// The broker of these tests.
pub struct Broker(pub TestApp);

/// A browser signed in at the broker: its cookies and the session's CSRF token.
pub struct Browser {
    pub jar: CookieJar,
    pub csrf: String,
}

impl std::ops::Deref for Broker {
    type Target = TestApp;
    fn deref(&self) -> &TestApp {
        &self.0
    }
}

pub fn broker() -> Broker {
    Broker(test_app(CONFIG))
}

/// A broker without rules: the SAML `Role` attribute grants pass-through roles.
pub fn pass_through_broker() -> Broker {
    Broker(test_app(concat!(
        admin_server!(),
        "public_url = \"http://127.0.0.1:8080\"\n",
        test_saml_idp!()
    )))
}

/// [`broker`] with the AWS console's federation endpoint at `federation`.
pub fn broker_with_federation(federation: &str) -> Broker {
    Broker(test_app(&format!(
        "{CONFIG}\n[aws]\nfederation_endpoint = \"{federation}\"\n"
    )))
}

impl Broker {
    /// POST a form; (status, headers, body).
    pub async fn form(
        &self,
        path: &str,
        fields: &[(&str, &str)],
    ) -> (u16, actix_web::http::header::HeaderMap, Value) {
        send(&self.state, TestRequest::post().uri(path).set_form(fields)).await
    }

    /// `POST /oauth/device_authorization`.
    pub async fn device_authorization(&self) -> Value {
        let (status, _, body) = self
            .form("/oauth/device_authorization", &[("client_id", CLIENT)])
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// `POST /oauth/token`; (status, body).
    pub async fn token(&self, fields: &[(&str, &str)]) -> (u16, Value) {
        let (status, headers, body) = self.form("/oauth/token", fields).await;
        assert_eq!(
            headers.get("cache-control").unwrap(),
            "no-store",
            "every token answer is no-store"
        );
        (status, body)
    }

    /// Poll the device code once.
    pub async fn poll(&self, device_code: &str) -> (u16, Value) {
        self.token(&[
            ("grant_type", DEVICE_GRANT),
            ("device_code", device_code),
            ("client_id", CLIENT),
        ])
        .await
    }

    /// A browser signed in as `alice@example.com` (the test IdP's person): a broker session
    /// started for the identity of a freshly signed response, as the SAML ACS starts it.
    pub async fn browser(&self) -> Browser {
        self.browser_with(|_| {}).await
    }

    pub async fn browser_with(
        &self,
        edit: impl FnOnce(&mut support::saml_idp::SamlResponseBuilder),
    ) -> Browser {
        let identity = self
            .state
            .exchange()
            .verify_saml_sign_in(SecretString::from(self.saml(edit)))
            .await
            .expect("the test IdP's response verifies");
        let (cookie, session) = self.state.sessions.create(identity).await.unwrap();
        let mut jar = CookieJar::default();
        let name = fedbroker::sign_in::session_cookie_name(self.state.secure_cookies);
        let mut headers = actix_web::http::header::HeaderMap::new();
        headers.insert(
            actix_web::http::header::SET_COOKIE,
            format!("{name}={cookie}").parse().unwrap(),
        );
        jar.keep(&headers);
        Browser {
            jar,
            csrf: session.csrf_token,
        }
    }

    /// A request as `browser` sends it; (status, headers, body).
    pub async fn in_browser(
        &self,
        browser: &Browser,
        req: TestRequest,
    ) -> (u16, actix_web::http::header::HeaderMap, Value) {
        send(&self.state, browser.jar.apply(req)).await
    }

    /// A complete device sign-in approved by a signed-in browser: the token answer.
    pub async fn device_login(&self) -> Value {
        let d = self.device_authorization().await;
        let b = self.browser().await;
        let (status, _, page) = self
            .in_browser(
                &b,
                TestRequest::post().uri("/device").set_form([
                    ("csrf", b.csrf.as_str()),
                    ("user_code", d["user_code"].as_str().unwrap()),
                    ("decision", "approve"),
                ]),
            )
            .await;
        assert_eq!(status, 200, "{page}");
        let (status, tokens) = self.poll(d["device_code"].as_str().unwrap()).await;
        assert_eq!(status, 200, "{tokens}");
        tokens
    }

    /// A request with `Authorization: Bearer <token>`; (status, headers, body).
    pub async fn bearer(
        &self,
        token: &str,
        req: TestRequest,
    ) -> (u16, actix_web::http::header::HeaderMap, Value) {
        send(
            &self.state,
            req.insert_header(("Authorization", format!("Bearer {token}"))),
        )
        .await
    }

    /// `POST /v1/admin/revoke` for `alice@example.com` with `block_seconds`.
    pub async fn admin_revoke_alice(&self, block_seconds: u64) -> (u16, Value) {
        let (status, _, body) = send(
            &self.state,
            TestRequest::post()
                .uri("/v1/admin/revoke")
                .insert_header(("Authorization", format!("Bearer {ADMIN_TOKEN}")))
                .set_json(serde_json::json!({
                    "subject": "alice@example.com",
                    "block_seconds": block_seconds,
                })),
        )
        .await;
        (status, body)
    }
}

/// The `error` of an OAuth refusal.
pub fn oauth_error(body: &Value) -> &str {
    body["error"].as_str().unwrap_or_default()
}
