//! The sign-in commands' HTTP client for one broker: the broker URL rule and every call of the
//! broker's CLI contract (`/oauth/device_authorization`, `/oauth/token`, `/oauth/revoke`,
//! `GET /v1/roles`, `POST /v1/credentials`, `POST /v1/console-url`).
//!
//! Invariants:
//! - a broker URL is https, or plain http to a loopback host only (tokens and credentials never
//!   cross a network unencrypted); it has no user info, query or fragment; its normalised form
//!   ([`BrokerUrl::key`]) names the broker's entry in the state files;
//! - redirects are not followed (a bearer token is only ever sent to the broker's own URL);
//! - tokens and credentials travel in headers and bodies only, are [`Token`]s (redacted `Debug`),
//!   and never appear in a [`ClientError`] (which carries the broker's own error code and message,
//!   never a request).

use crate::cli::state::Token;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use url::Url;

/// The OAuth client id of the command line.
pub const CLIENT_ID: &str = "fedbroker-cli";
/// RFC 8628 device grant type.
pub const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// A broker's base URL, checked and normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerUrl {
    key: String,
}

impl BrokerUrl {
    pub fn parse(input: &str) -> Result<Self, String> {
        let input = input.trim();
        let url = Url::parse(input).map_err(|e| {
            format!("--broker {input:?} is not a URL ({e}); e.g. https://broker.example.com")
        })?;
        match url.scheme() {
            "https" => {}
            "http" if crate::oidc::discovery::is_loopback(&url) => {}
            "http" => {
                return Err(format!(
                "refusing plain http to a remote broker ({input}): tokens and credentials would \
                     cross the network unencrypted; use https:// (plain http is allowed for a \
                     loopback broker only)"
            ))
            }
            other => return Err(format!("--broker must be an https:// URL, not {other}:")),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("--broker must not carry a user name or password".into());
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err("--broker must not carry a query or fragment".into());
        }
        let origin = url.origin().ascii_serialization();
        let path = url.path().trim_end_matches('/');
        Ok(Self {
            key: format!("{origin}{path}"),
        })
    }

    /// The normalised URL (`scheme://host[:port][/path]`, no trailing slash, default port dropped).
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The URL of one of the broker's endpoints (`path` starts with `/`).
    pub fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.key)
    }
}

impl std::fmt::Display for BrokerUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.key)
    }
}

/// A failed call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientError {
    /// `/oauth/token` (or device authorization) refused: the RFC error code and description.
    OAuth {
        error: String,
        description: Option<String>,
    },
    /// 401 on a bearer call: the token is unknown, expired, logged out or revoked.
    SessionInvalid,
    /// The broker's usual error answer `{"error":{"code","message"}}`.
    Api {
        status: u16,
        code: String,
        message: String,
    },
    /// An answer the contract does not describe.
    Unexpected { status: u16, what: String },
    /// No answer (connection, TLS, timeout).
    Transport(String),
}

impl ClientError {
    /// The OAuth error code, if this is one.
    pub fn oauth_code(&self) -> Option<&str> {
        match self {
            Self::OAuth { error, .. } => Some(error),
            _ => None,
        }
    }
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::OAuth { error, description } => match description {
                Some(d) => write!(f, "the broker refused: {error} ({d})"),
                None => write!(f, "the broker refused: {error}"),
            },
            Self::SessionInvalid => f.write_str("the broker no longer accepts this session"),
            Self::Api {
                status,
                code,
                message,
            } => write!(f, "the broker answered {status} {code}: {message}"),
            Self::Unexpected { status, what } => {
                write!(
                    f,
                    "unexpected answer from the broker (HTTP {status}): {what}"
                )
            }
            Self::Transport(e) => write!(f, "cannot reach the broker: {e}"),
        }
    }
}

/// `POST /oauth/device_authorization` answer (RFC 8628 §3.2).
#[derive(Debug, Clone, Deserialize)]
pub struct DeviceAuthorization {
    pub device_code: Token,
    pub user_code: String,
    pub verification_uri: String,
    #[serde(default)]
    pub verification_uri_complete: Option<String>,
    pub expires_in: u64,
    #[serde(default = "default_interval")]
    pub interval: u64,
}

/// RFC 8628 §3.2: 5 seconds when the answer names no interval.
fn default_interval() -> u64 {
    5
}

/// `POST /oauth/token` answer.
#[derive(Debug, Clone, Deserialize)]
pub struct TokenAnswer {
    pub access_token: Token,
    #[serde(default)]
    pub expires_in: Option<i64>,
    #[serde(default)]
    pub refresh_token: Option<Token>,
    #[serde(default)]
    pub session_expires_at: Option<DateTime<Utc>>,
}

/// One role of `GET /v1/roles`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RoleEntry {
    pub role_arn: String,
    #[serde(default)]
    pub alias: Option<String>,
    #[serde(default)]
    pub account_id: String,
    #[serde(default)]
    pub role_name: String,
    #[serde(default)]
    pub mode: Option<String>,
    #[serde(default)]
    pub region: Option<String>,
}

/// `GET /v1/roles` answer.
#[derive(Debug, Clone, Deserialize)]
pub struct RolesAnswer {
    pub subject: String,
    #[serde(default)]
    pub session_expires_at: Option<DateTime<Utc>>,
    pub roles: Vec<RoleEntry>,
}

/// The `credential_process` answer (the five fields the AWS SDKs read).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProcessCredentials {
    pub version: u8,
    pub access_key_id: String,
    pub secret_access_key: Token,
    pub session_token: Token,
    pub expiration: DateTime<Utc>,
}

#[derive(Deserialize)]
struct ApiError {
    error: ApiErrorBody,
}

#[derive(Deserialize)]
struct ApiErrorBody {
    code: String,
    #[serde(default)]
    message: String,
}

#[derive(Deserialize)]
struct OAuthErrorBody {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

#[derive(Deserialize)]
struct ConsoleAnswer {
    url: String,
}

/// The HTTP client for one broker.
#[derive(Debug, Clone)]
pub struct BrokerClient {
    http: reqwest::Client,
    broker: BrokerUrl,
}

impl BrokerClient {
    /// A client trusting Mozilla's roots and the system's (`SSL_CERT_FILE` included).
    pub fn new(broker: BrokerUrl) -> Result<Self, String> {
        let mut b = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("fedbroker-cli/", env!("CARGO_PKG_VERSION")));
        for cert in rustls_native_certs::load_native_certs().certs {
            if let Ok(c) = reqwest::Certificate::from_der(&cert) {
                b = b.add_root_certificate(c);
            }
        }
        let http = b
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Self { http, broker })
    }

    pub fn broker(&self) -> &BrokerUrl {
        &self.broker
    }

    pub async fn device_authorization(&self) -> Result<DeviceAuthorization, ClientError> {
        let rsp = self
            .http
            .post(self.broker.endpoint("/oauth/device_authorization"))
            .form(&[("client_id", CLIENT_ID)])
            .send()
            .await
            .map_err(transport)?;
        oauth_answer(rsp).await
    }

    /// One `POST /oauth/token` with the grant's form fields (`client_id` is added).
    pub async fn token(&self, form: &[(&str, &str)]) -> Result<TokenAnswer, ClientError> {
        let mut fields: Vec<(&str, &str)> = form.to_vec();
        fields.push(("client_id", CLIENT_ID));
        let rsp = self
            .http
            .post(self.broker.endpoint("/oauth/token"))
            .form(&fields)
            .send()
            .await
            .map_err(transport)?;
        oauth_answer(rsp).await
    }

    pub async fn refresh(&self, refresh_token: &Token) -> Result<TokenAnswer, ClientError> {
        self.token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.expose()),
        ])
        .await
    }

    /// `POST /oauth/revoke` (RFC 7009: 200 whatever the token was).
    pub async fn revoke(&self, token: &Token) -> Result<(), ClientError> {
        let rsp = self
            .http
            .post(self.broker.endpoint("/oauth/revoke"))
            .form(&[("token", token.expose()), ("client_id", CLIENT_ID)])
            .send()
            .await
            .map_err(transport)?;
        if rsp.status().is_success() {
            Ok(())
        } else {
            Err(api_error(rsp).await)
        }
    }

    pub async fn roles(&self, access: &Token) -> Result<RolesAnswer, ClientError> {
        let rsp = self
            .http
            .get(self.broker.endpoint("/v1/roles"))
            .bearer_auth(access.expose())
            .send()
            .await
            .map_err(transport)?;
        api_answer(rsp).await
    }

    pub async fn credentials(
        &self,
        access: &Token,
        role: &str,
        duration_seconds: Option<u32>,
    ) -> Result<ProcessCredentials, ClientError> {
        let mut body = serde_json::json!({ "role_arn": role });
        if let Some(d) = duration_seconds {
            body["duration_seconds"] = d.into();
        }
        let rsp = self
            .http
            .post(self.broker.endpoint("/v1/credentials"))
            .bearer_auth(access.expose())
            .json(&body)
            .send()
            .await
            .map_err(transport)?;
        api_answer(rsp).await
    }

    /// `POST /v1/console-url` → the AWS console sign-in URL (a secret: it signs the person in).
    pub async fn console_url(&self, access: &Token, role: &str) -> Result<Token, ClientError> {
        let rsp = self
            .http
            .post(self.broker.endpoint("/v1/console-url"))
            .bearer_auth(access.expose())
            .json(&serde_json::json!({ "role_arn": role }))
            .send()
            .await
            .map_err(transport)?;
        api_answer::<ConsoleAnswer>(rsp)
            .await
            .map(|a| Token::new(a.url))
    }
}

fn transport(e: reqwest::Error) -> ClientError {
    ClientError::Transport(e.without_url().to_string())
}

/// A 2xx answer parsed as `T`; otherwise the error `refusal` reads from the status and body.
async fn answer<T: for<'de> Deserialize<'de>>(
    rsp: reqwest::Response,
    refusal: fn(u16, &[u8]) -> ClientError,
) -> Result<T, ClientError> {
    let status = rsp.status().as_u16();
    let body = rsp.bytes().await.map_err(transport)?;
    if (200..300).contains(&status) {
        return serde_json::from_slice(&body).map_err(|e| ClientError::Unexpected {
            status,
            what: format!("the answer does not follow the contract ({e})"),
        });
    }
    Err(refusal(status, &body))
}

/// An `/oauth/*` answer: refusals carry the RFC 6749 error body, else the broker's own.
async fn oauth_answer<T: for<'de> Deserialize<'de>>(
    rsp: reqwest::Response,
) -> Result<T, ClientError> {
    answer(rsp, |status, body| {
        match serde_json::from_slice::<OAuthErrorBody>(body) {
            Ok(e) => ClientError::OAuth {
                error: e.error,
                description: e.error_description,
            },
            Err(_) => classify_api_error(status, body),
        }
    })
    .await
}

async fn api_answer<T: for<'de> Deserialize<'de>>(
    rsp: reqwest::Response,
) -> Result<T, ClientError> {
    answer(rsp, classify_api_error).await
}

async fn api_error(rsp: reqwest::Response) -> ClientError {
    let status = rsp.status().as_u16();
    match rsp.bytes().await {
        Ok(body) => classify_api_error(status, &body),
        Err(e) => transport(e),
    }
}

/// Error codes of a 401 that mean "this CLI session is not (or no longer) accepted".
const SESSION_INVALID_CODES: [&str; 2] = ["cli_session_invalid", "invalid_token"];

/// A non-2xx answer: a 401 `cli_session_invalid` (or a 401 without the broker's error body) is an
/// ended session; otherwise the broker's `{"error":{…}}` when present. Another 401 (say, a
/// pass-through grant whose assertion has expired) is reported as it is and keeps the session.
fn classify_api_error(status: u16, body: &[u8]) -> ClientError {
    let parsed = serde_json::from_slice::<ApiError>(body);
    if status == 401 {
        match &parsed {
            Ok(e) if !SESSION_INVALID_CODES.contains(&e.error.code.as_str()) => {}
            _ => return ClientError::SessionInvalid,
        }
    }
    match parsed {
        Ok(e) => ClientError::Api {
            status,
            code: e.error.code,
            message: e.error.message,
        },
        Err(_) => ClientError::Unexpected {
            status,
            what: "no error details".into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_urls_are_normalised() {
        let k = |s: &str| BrokerUrl::parse(s).unwrap().key().to_string();
        assert_eq!(
            k("https://Broker.Example.com/"),
            "https://broker.example.com"
        );
        assert_eq!(
            k("https://broker.example.com:443"),
            "https://broker.example.com"
        );
        assert_eq!(
            k("https://b.example:8443/fed/"),
            "https://b.example:8443/fed"
        );
        assert_eq!(k(" http://127.0.0.1:8080 "), "http://127.0.0.1:8080");
        assert_eq!(k("http://[::1]:8080/"), "http://[::1]:8080");
        assert_eq!(k("http://localhost:8080"), "http://localhost:8080");
        assert_eq!(
            BrokerUrl::parse("https://b.example/x")
                .unwrap()
                .endpoint("/oauth/token"),
            "https://b.example/x/oauth/token"
        );
    }

    #[test]
    fn plain_http_to_a_remote_broker_is_refused() {
        let e = BrokerUrl::parse("http://broker.example.com").unwrap_err();
        assert!(e.contains("refusing plain http"), "{e}");
        assert!(BrokerUrl::parse("http://10.0.0.1").is_err());
        assert!(BrokerUrl::parse("ftp://b.example").is_err());
        assert!(BrokerUrl::parse("https://u:p@b.example").is_err());
        assert!(BrokerUrl::parse("https://b.example/?x=1").is_err());
        assert!(BrokerUrl::parse("broker.example.com").is_err());
    }

    #[test]
    fn errors_are_classified() {
        assert_eq!(
            classify_api_error(
                401,
                br#"{"error":{"code":"cli_session_invalid","message":"m"}}"#
            ),
            ClientError::SessionInvalid
        );
        assert_eq!(classify_api_error(401, b""), ClientError::SessionInvalid);
        assert_eq!(
            classify_api_error(
                401,
                br#"{"error":{"code":"assertion_expired","message":"m"}}"#
            ),
            ClientError::Api {
                status: 401,
                code: "assertion_expired".into(),
                message: "m".into()
            }
        );
        assert_eq!(
            classify_api_error(
                403,
                br#"{"error":{"code":"role_not_allowed","message":"no"}}"#
            ),
            ClientError::Api {
                status: 403,
                code: "role_not_allowed".into(),
                message: "no".into()
            }
        );
        assert!(matches!(
            classify_api_error(502, b"<html>"),
            ClientError::Unexpected { status: 502, .. }
        ));
    }

    #[test]
    fn credentials_debug_hides_the_secrets() {
        let c: ProcessCredentials = serde_json::from_str(
            r#"{"Version":1,"AccessKeyId":"ASIAX","SecretAccessKey":"sek-value","SessionToken":"tok-value",
                "Expiration":"2030-01-01T00:00:00Z","AssumedRoleArn":"arn:x"}"#,
        )
        .unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains("-value"), "{shown}");
    }
}
