//! The AWS federation endpoint's `getSigninToken` (docs/AWS-RULES.md §6.2) behind a trait, and its HTTP
//! implementation (reqwest, rustls).
//!
//! Invariants: the request is one GET with `Action=getSigninToken`, `SessionDuration` only when
//! asked for, and `Session` = the form-urlencoded `{"sessionId","sessionKey","sessionToken"}`; no
//! redirect is followed (a redirect would carry the credentials elsewhere); the answer is read up
//! to [`MAX_SIGNIN_ANSWER_BYTES`] within [`FEDERATION_TIMEOUT`]. Nothing here logs or formats the
//! session JSON, the token or a URL carrying either (reqwest errors name the URL, so they are
//! classified, never displayed).

use super::ConsoleError;
use crate::sts::StsCredentials;
use secrecy::{ExposeSecret, SecretString};
use url::Url;

/// Whole-request limit for getSigninToken: AWS answers in well under a second; a hung endpoint
/// must not hold the caller (and its one-time assertion) for long.
pub const FEDERATION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// Connection limit, shorter, so an unreachable endpoint answers 503 quickly.
pub const FEDERATION_CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);
/// Largest answer read: `{"SigninToken":"..."}` is a few KiB; more is not AWS.
pub const MAX_SIGNIN_ANSWER_BYTES: usize = 64 * 1024;

/// A federation endpoint that turns temporary credentials into a sign-in token.
#[async_trait::async_trait]
pub trait FederationEndpoint: Send + Sync + std::fmt::Debug {
    /// `getSigninToken` at `endpoint_url` with the session JSON (see [`session_json`]);
    /// `session_duration` is sent as `SessionDuration` only when `Some`.
    async fn get_signin_token(
        &self,
        endpoint_url: &Url,
        session_json: &SecretString,
        session_duration: Option<u32>,
    ) -> Result<SecretString, ConsoleError>;
}

/// `{"sessionId":AccessKeyId,"sessionKey":SecretAccessKey,"sessionToken":SessionToken}`.
pub fn session_json(c: &StsCredentials) -> SecretString {
    SecretString::from(
        serde_json::json!({
            "sessionId": c.access_key_id,
            "sessionKey": c.secret_access_key.expose_secret(),
            "sessionToken": c.session_token.expose_secret(),
        })
        .to_string(),
    )
}

/// The getSigninToken URL (a secret: it carries the credentials).
pub fn signin_token_url(
    endpoint_url: &Url,
    session_json: &SecretString,
    session_duration: Option<u32>,
) -> SecretString {
    let mut u = endpoint_url.clone();
    {
        let mut q = u.query_pairs_mut();
        q.append_pair("Action", "getSigninToken");
        if let Some(d) = session_duration {
            q.append_pair("SessionDuration", &d.to_string());
        }
        q.append_pair("Session", session_json.expose_secret());
    }
    SecretString::from(String::from(u))
}

/// The reqwest implementation.
#[derive(Debug)]
pub struct HttpFederationEndpoint {
    /// Built once; a failure (TLS setup) is reported on use as an internal error.
    client: Result<reqwest::Client, String>,
}

impl Default for HttpFederationEndpoint {
    fn default() -> Self {
        Self::new()
    }
}

impl HttpFederationEndpoint {
    pub fn new() -> Self {
        let client = reqwest::Client::builder()
            .connect_timeout(FEDERATION_CONNECT_TIMEOUT)
            .timeout(FEDERATION_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("fedbroker/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| {
                format!(
                    "cannot build the federation HTTP client: {}",
                    e.without_url()
                )
            });
        Self { client }
    }
}

#[async_trait::async_trait]
impl FederationEndpoint for HttpFederationEndpoint {
    async fn get_signin_token(
        &self,
        endpoint_url: &Url,
        session_json: &SecretString,
        session_duration: Option<u32>,
    ) -> Result<SecretString, ConsoleError> {
        let client = self
            .client
            .as_ref()
            .map_err(|e| ConsoleError::Internal(e.clone()))?;
        if !transport_allowed(endpoint_url) {
            return Err(ConsoleError::Internal(
                "the federation endpoint must be https (plain http only on loopback)".into(),
            ));
        }
        let url = signin_token_url(endpoint_url, session_json, session_duration);
        let resp = client
            .get(url.expose_secret())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|_| ConsoleError::EndpointUnavailable)?;
        let status = resp.status().as_u16();
        match status {
            200 => {}
            400 | 401 | 403 => return Err(ConsoleError::SigninRefused { status }),
            _ => return Err(ConsoleError::EndpointFailed { status }),
        }
        let body = read_capped(resp).await?;
        parse_signin_answer(&body)
    }
}

/// https anywhere; plain http only to a loopback test double (config validation says the same).
fn transport_allowed(u: &Url) -> bool {
    u.scheme() == "https" || (u.scheme() == "http" && crate::oidc::discovery::is_loopback(u))
}

async fn read_capped(mut resp: reqwest::Response) -> Result<Vec<u8>, ConsoleError> {
    if resp
        .content_length()
        .is_some_and(|n| n > MAX_SIGNIN_ANSWER_BYTES as u64)
    {
        return Err(ConsoleError::BadAnswer("answer too large"));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|_| ConsoleError::EndpointUnavailable)?
    {
        if body.len() + chunk.len() > MAX_SIGNIN_ANSWER_BYTES {
            return Err(ConsoleError::BadAnswer("answer too large"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// `{"SigninToken": "<non-empty, printable ASCII>"}`.
pub fn parse_signin_answer(body: &[u8]) -> Result<SecretString, ConsoleError> {
    #[derive(serde::Deserialize)]
    struct Answer {
        #[serde(rename = "SigninToken")]
        signin_token: String,
    }
    let a: Answer = serde_json::from_slice(body)
        .map_err(|_| ConsoleError::BadAnswer("not {\"SigninToken\": \"...\"}"))?;
    if a.signin_token.is_empty() || !a.signin_token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ConsoleError::BadAnswer(
            "empty or non-printable SigninToken",
        ));
    }
    Ok(SecretString::from(a.signin_token))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn creds() -> StsCredentials {
        StsCredentials {
            access_key_id: "ASIAEXAMPLE".into(),
            secret_access_key: SecretString::from("se/cr+et=".to_owned()),
            session_token: SecretString::from("tok&en ".to_owned()),
            expiration: Utc::now(),
            assumed_role_arn: String::new(),
            assumed_role_id: String::new(),
            subject: None,
            provider: None,
            audience: None,
            source_identity: None,
            packed_policy_size: None,
            chained: false,
            request_id: None,
        }
    }

    #[test]
    fn session_parameter_is_form_encoded_json_with_the_three_fields() {
        let ep = Url::parse("https://signin.aws.amazon.com/federation").unwrap();
        let url = signin_token_url(&ep, &session_json(&creds()), Some(1800));
        let u = Url::parse(url.expose_secret()).unwrap();
        let q: Vec<(String, String)> = u.query_pairs().into_owned().collect();
        assert_eq!(q[0], ("Action".into(), "getSigninToken".into()));
        assert_eq!(q[1], ("SessionDuration".into(), "1800".into()));
        let session: serde_json::Value = serde_json::from_str(&q[2].1).unwrap();
        assert_eq!(
            session,
            serde_json::json!({"sessionId":"ASIAEXAMPLE","sessionKey":"se/cr+et=","sessionToken":"tok&en "})
        );
        let without = signin_token_url(&ep, &session_json(&creds()), None);
        assert!(!without.expose_secret().contains("SessionDuration"));
    }

    #[test]
    fn answers_other_than_a_printable_token_are_bad_answers() {
        assert!(parse_signin_answer(br#"{"SigninToken":"abc-DEF_1"}"#).is_ok());
        for bad in [
            &br#"{"SigninToken":""}"#[..],
            b"<html>",
            br#"{"Token":"x"}"#,
            br#"{"SigninToken":"a\nb"}"#,
        ] {
            assert!(matches!(
                parse_signin_answer(bad),
                Err(ConsoleError::BadAnswer(_))
            ));
        }
    }

    #[test]
    fn plain_http_only_to_loopback() {
        assert!(transport_allowed(
            &Url::parse("http://127.0.0.1:9/federation").unwrap()
        ));
        assert!(!transport_allowed(
            &Url::parse("http://signin.aws.amazon.com/federation").unwrap()
        ));
    }
}
