//! Client side of the test OIDC IdP (`testidp/server.mjs`, started by `scripts/oidc-idp.sh`):
//! a reqwest client trusting only the test CA, and workload tokens by client_credentials.
//!
//! The test IdP is one server shared by every test of the binary, and nothing changes it: a test
//! that needs another IdP (other keys, another redirect URI) starts one of its own
//! (`e2e::browser::start_own_oidc_idp`) and reaches it through [`Idp::from_vars`].
#![allow(dead_code)]

use base64::Engine;
use serde_json::Value;
use std::collections::HashMap;

pub fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: run scripts/test.sh (it starts the test IdP and moto), or \
             `scripts/oidc-idp.sh start && . .fedbroker-run/oidc-idp.env` \
             (and `scripts/services.sh start && . .fedbroker-run/services.env`) first"
        )
    })
}

pub struct Idp {
    pub issuer: String,
    pub http: reqwest::Client,
    /// The workload client (client_credentials).
    pub client_id: String,
    pub client_secret: String,
}

impl Idp {
    /// An IdP described by the `FEDBROKER_TEST_OIDC_*` values of the env file it wrote (read by
    /// `get`), with a client that trusts its CA only.
    fn described_by(get: impl Fn(&str) -> String) -> Idp {
        let pem = std::fs::read(get("FEDBROKER_TEST_OIDC_CA")).expect("read the test CA");
        let http = reqwest::Client::builder()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
            .build()
            .unwrap();
        Idp {
            issuer: get("FEDBROKER_TEST_OIDC_ISSUER"),
            http,
            client_id: get("FEDBROKER_TEST_OIDC_CLIENT_ID"),
            client_secret: get("FEDBROKER_TEST_OIDC_CLIENT_SECRET"),
        }
    }

    /// A test IdP of a test's own, from the values of the env file it wrote.
    pub fn from_vars(vars: &HashMap<String, String>) -> Idp {
        Idp::described_by(|name| {
            vars.get(name)
                .unwrap_or_else(|| panic!("the IdP's env file has no {name}"))
                .clone()
        })
    }
}

/// The shared test IdP, with a client that trusts the test CA only.
pub fn idp() -> Idp {
    Idp::described_by(env)
}

pub async fn get_json(http: &reqwest::Client, url: &str) -> Value {
    let res = http.get(url).send().await.expect(url);
    assert_eq!(res.status(), 200, "{url}");
    res.json().await.unwrap()
}

pub fn b64_json(part: &str) -> Value {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .expect("base64url segment");
    serde_json::from_slice(&bytes).expect("JSON segment")
}

/// Discovery, then a client_credentials token for the workload client.
pub async fn workload_token(idp: &Idp) -> (Value, String) {
    let disco = get_json(
        &idp.http,
        &format!("{}/.well-known/openid-configuration", idp.issuer),
    )
    .await;
    let token_endpoint = disco["token_endpoint"].as_str().unwrap().to_owned();
    let res = idp
        .http
        .post(&token_endpoint)
        .basic_auth(&idp.client_id, Some(&idp.client_secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    (disco, body["access_token"].as_str().unwrap().to_owned())
}

/// A browser at the IdP: follows its redirects and submits its sign-in form until it is sent to
/// the broker's callback; returns that callback URL.
pub async fn sign_in_at_idp(authorize_url: &str) -> String {
    let pem = std::fs::read(env("FEDBROKER_TEST_OIDC_CA")).unwrap();
    let idp = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let callback = env("FEDBROKER_TEST_OIDC_REDIRECT_URI");
    let mut next = authorize_url.to_owned();
    let mut post = false;
    for _ in 0..10 {
        if next.starts_with(&callback) {
            return next;
        }
        let resp = if post {
            idp.post(&next)
                .form(&[("login", "1")])
                .send()
                .await
                .unwrap()
        } else {
            idp.get(&next).send().await.unwrap()
        };
        let base = resp.url().clone();
        if resp.status().is_redirection() {
            let loc = resp.headers()["location"].to_str().unwrap();
            next = base.join(loc).unwrap().to_string();
            post = false;
            continue;
        }
        let html = resp.text().await.unwrap();
        let action = html
            .split("action=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap_or_else(|| panic!("no sign-in form at {next}: {html}"));
        next = base.join(action).unwrap().to_string();
        post = true;
    }
    panic!("the IdP never sent the browser back to {callback}");
}
