//! The wire shapes of the authorization server's endpoints, without web-framework types: the
//! forms and queries handlers deserialize, the JSON they answer, the dispatch of
//! `POST /oauth/token` by `grant_type`, and the bearer token of `/v1/roles`,
//! `/v1/credentials` and `/v1/console-url`. Handlers stay glue: parse, call, answer, audit.
//!
//! Invariants: every token answer and every error answer of `/oauth/token` is served with
//! `Cache-Control: no-store` (RFC 6749 §5.1) by the handler; error bodies are
//! `{"error","error_description"}` and never echo a presented secret.

use super::{
    AuthorizeRequest, DeviceAuthorization, Oauth, TokenError, TokenSet, DEVICE_CODE_GRANT,
};
use crate::error::{ApiError, ErrorKind};
use secrecy::ExposeSecret;
use serde_json::{json, Value};

/// `POST /oauth/device_authorization` (form).
#[derive(Debug, Default, serde::Deserialize)]
pub struct DeviceAuthorizationForm {
    pub client_id: Option<String>,
    /// Accepted and ignored (the CLI asks for no scope).
    pub scope: Option<String>,
}

/// `POST /oauth/token` (form): every grant's parameters.
#[derive(Default, serde::Deserialize)]
pub struct TokenForm {
    pub grant_type: Option<String>,
    pub client_id: Option<String>,
    pub device_code: Option<String>,
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
    pub refresh_token: Option<String>,
}

impl std::fmt::Debug for TokenForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenForm")
            .field("grant_type", &self.grant_type)
            .field("client_id", &self.client_id)
            .field("redirect_uri", &self.redirect_uri)
            .finish_non_exhaustive()
    }
}

/// `GET /oauth/authorize` (query).
#[derive(Debug, Default, Clone, serde::Deserialize, serde::Serialize)]
pub struct AuthorizeQuery {
    pub response_type: Option<String>,
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub state: Option<String>,
}

impl AuthorizeQuery {
    pub fn as_request(&self) -> AuthorizeRequest<'_> {
        AuthorizeRequest {
            response_type: self.response_type.as_deref(),
            client_id: self.client_id.as_deref(),
            redirect_uri: self.redirect_uri.as_deref(),
            code_challenge: self.code_challenge.as_deref(),
            code_challenge_method: self.code_challenge_method.as_deref(),
            state: self.state.as_deref(),
        }
    }
}

/// `POST /oauth/revoke` (form, RFC 7009).
#[derive(Default, serde::Deserialize)]
pub struct RevokeForm {
    pub token: Option<String>,
    pub token_type_hint: Option<String>,
    pub client_id: Option<String>,
}

impl std::fmt::Debug for RevokeForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RevokeForm")
            .field("token_type_hint", &self.token_type_hint)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

impl Oauth {
    /// `POST /oauth/token`: the grant `form.grant_type` names.
    pub async fn token(&self, form: &TokenForm) -> Result<TokenSet, TokenError> {
        let client_id = form.client_id.as_deref();
        match form.grant_type.as_deref() {
            Some(DEVICE_CODE_GRANT) => {
                self.device_poll(form.device_code.as_deref(), client_id)
                    .await
            }
            Some("authorization_code") => {
                self.exchange_code(
                    form.code.as_deref(),
                    form.redirect_uri.as_deref(),
                    form.code_verifier.as_deref(),
                    client_id,
                )
                .await
            }
            Some("refresh_token") => self.refresh(form.refresh_token.as_deref(), client_id).await,
            None => Err(TokenError::InvalidRequest("grant_type is required")),
            Some(_) => Err(TokenError::UnsupportedGrantType),
        }
    }
}

/// The error body of `/oauth/token` and `/oauth/device_authorization` (status:
/// [`TokenError::status`]; `slow_down` also says the new interval).
pub fn error_body(e: &TokenError) -> Value {
    let mut body = json!({ "error": e.error(), "error_description": e.to_string() });
    if let TokenError::SlowDown { interval } = e {
        body["interval"] = json!(interval);
    }
    body
}

/// The answer of `POST /oauth/device_authorization` (RFC 8628 §3.2).
pub fn device_authorization_body(d: &DeviceAuthorization, public_url: &str) -> Value {
    json!({
        "device_code": d.device_code.expose_secret(),
        "user_code": d.user_code,
        "verification_uri": DeviceAuthorization::verification_uri(public_url),
        "verification_uri_complete": d.verification_uri_complete(public_url),
        "expires_in": d.expires_in,
        "interval": d.interval,
    })
}

/// One role of `GET /v1/roles` (from the picker's role list: `Exchange::picker_for`).
#[derive(Clone, Copy, Debug)]
pub struct RoleEntry<'a> {
    pub role_arn: &'a str,
    pub alias: Option<&'a str>,
    /// `StsMode::as_str`: `pass-through`, `assume-role` or `issuer`.
    pub mode: &'a str,
}

/// The answer of `GET /v1/roles` for a CLI session: subject, the session's end, and each role
/// with its account and name (what `fedbroker profiles` names profiles from) and the region.
pub fn roles_body<'a>(
    session: &super::CliSession,
    roles: impl IntoIterator<Item = RoleEntry<'a>>,
    region: Option<&str>,
) -> Value {
    let roles: Vec<Value> = roles
        .into_iter()
        .map(|r| {
            let mut v = json!({
                "role_arn": r.role_arn,
                "account_id": r.role_arn.split(':').nth(4).unwrap_or_default(),
                "role_name": r.role_arn.rsplit('/').next().unwrap_or_default(),
                "mode": r.mode,
            });
            if let Some(a) = r.alias {
                v["alias"] = json!(a);
            }
            if let Some(region) = region {
                v["region"] = json!(region);
            }
            v
        })
        .collect();
    json!({
        "subject": session.identity.subject(),
        "session_expires_at": session
            .expires_at
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "roles": roles,
    })
}

/// The token of an `Authorization: Bearer <token>` header (scheme case-insensitive, RFC 6750
/// §2.1); `None` for any other header.
pub fn bearer(authorization: Option<&str>) -> Option<&str> {
    let value = authorization?.trim();
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() && !token.contains(' '))
        .then_some(token)
}

/// A bearer token that names no live CLI session (unknown, expired, logged out or revoked):
/// 401 `cli_session_invalid`; the CLI tells the person to run `fedbroker login`.
#[derive(Debug, thiserror::Error)]
#[error("the CLI session is unknown, expired, logged out or revoked: run fedbroker login")]
pub struct CliSessionInvalid;

impl ApiError for CliSessionInvalid {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Unauthenticated
    }
    fn code(&self) -> &'static str {
        "cli_session_invalid"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_are_read_strictly() {
        assert_eq!(bearer(Some("Bearer abc")), Some("abc"));
        assert_eq!(bearer(Some("bearer  abc ")), Some("abc"));
        for bad in [
            "Basic abc",
            "Bearer",
            "Bearer ",
            "Bearerabc",
            "Bearer a b",
            "",
        ] {
            assert_eq!(bearer(Some(bad)), None, "{bad}");
        }
        assert_eq!(bearer(None), None);
    }

    #[test]
    fn forms_hide_their_secrets_and_errors_carry_the_oauth_names() {
        let form: TokenForm = serde_urlencoded::from_str(
            "grant_type=refresh_token&refresh_token=s3cret&client_id=fedbroker-cli",
        )
        .unwrap();
        assert!(!format!("{form:?}").contains("s3cret"));
        let form: RevokeForm = serde_urlencoded::from_str("token=s3cret").unwrap();
        assert!(!format!("{form:?}").contains("s3cret"));
        let body = error_body(&TokenError::SlowDown { interval: 10 });
        assert_eq!(body["error"], "slow_down");
        assert_eq!(body["interval"], 10);
        assert_eq!(
            error_body(&TokenError::AuthorizationPending)["error"],
            "authorization_pending"
        );
    }

    #[test]
    fn the_roles_answer_names_account_role_alias_and_region() {
        let session = super::super::CliSession {
            identity: std::sync::Arc::new(super::super::tests::alice()),
            signed_in_at: super::super::tests::t0(),
            expires_at: super::super::tests::t0() + chrono::TimeDelta::hours(12),
            grant: super::super::Grant::DeviceCode,
        };
        let roles = [
            RoleEntry {
                role_arn: "arn:aws:iam::111122223333:role/team/Dev",
                alias: Some("dev"),
                mode: "assume-role",
            },
            RoleEntry {
                role_arn: "arn:aws:iam::444455556666:role/Ops",
                alias: None,
                mode: "pass-through",
            },
        ];
        let body = roles_body(&session, roles, Some("eu-west-1"));
        assert_eq!(body["subject"], "alice@example.com");
        assert_eq!(body["session_expires_at"], "2026-03-01T21:00:00Z");
        assert_eq!(body["roles"][0]["account_id"], "111122223333");
        assert_eq!(body["roles"][0]["role_name"], "Dev");
        assert_eq!(body["roles"][0]["alias"], "dev");
        assert_eq!(body["roles"][0]["region"], "eu-west-1");
        assert!(body["roles"][1].get("alias").is_none());
        assert_eq!(body["roles"][1]["mode"], "pass-through");
    }

    #[tokio::test]
    async fn the_token_endpoint_dispatches_by_grant_type() {
        let h = super::super::tests::memory().await;
        let form = |g: Option<&str>| TokenForm {
            grant_type: g.map(str::to_owned),
            client_id: Some(super::super::CLIENT_ID.into()),
            ..TokenForm::default()
        };
        let e = h.oauth.token(&form(None)).await.unwrap_err();
        assert_eq!(e.error(), "invalid_request");
        let e = h.oauth.token(&form(Some("password"))).await.unwrap_err();
        assert_eq!(e.error(), "unsupported_grant_type");
        let e = h
            .oauth
            .token(&form(Some(DEVICE_CODE_GRANT)))
            .await
            .unwrap_err();
        assert_eq!(e.error(), "invalid_request", "no device_code");
        let e = h
            .oauth
            .token(&form(Some("authorization_code")))
            .await
            .unwrap_err();
        assert_eq!(e.error(), "invalid_request", "no code");
        let e = h
            .oauth
            .token(&form(Some("refresh_token")))
            .await
            .unwrap_err();
        assert_eq!(e.error(), "invalid_request", "no refresh_token");
        let d = h
            .oauth
            .device_authorize(Some("fedbroker-cli"), "10.0.0.1")
            .await
            .unwrap();
        let body = device_authorization_body(&d, "https://broker.example");
        assert_eq!(body["verification_uri"], "https://broker.example/device");
        assert_eq!(body["expires_in"], 600);
        assert_eq!(body["interval"], 5);
        let mut poll = form(Some(DEVICE_CODE_GRANT));
        poll.device_code = body["device_code"].as_str().map(str::to_owned);
        let e = h.oauth.token(&poll).await.unwrap_err();
        assert_eq!(e.error(), "authorization_pending");
    }
}
