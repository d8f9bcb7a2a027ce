//! `fedbroker login --broker URL [--device] [--no-browser]`: sign in and store the CLI session.
//!
//! - Default, the loopback flow (RFC 8252): a one-shot listener on `127.0.0.1` (see
//!   [`crate::cli::loopback`]), PKCE S256 with a random verifier and a random `state`, the system
//!   browser opened on `GET /oauth/authorize` (the URL is printed too, and only printed with
//!   `--no-browser` or when no browser can be started); then `authorization_code` at
//!   `/oauth/token` with the verifier. The wait ends after [`LOOPBACK_TIMEOUT`].
//! - `--device`, the device flow (RFC 8628, see [`crate::cli::device`]): prints the code and
//!   `verification_uri_complete`, polls until approved.
//!
//! Invariants: the session is stored only after the broker issued a token; the verifier, the code
//! and the tokens are never printed; the lines for the person go to stderr.

use crate::cli::broker_client::{BrokerClient, CLIENT_ID};
use crate::cli::loopback::Loopback;
use crate::cli::pkce::{random_b64url, Pkce};
use crate::cli::session;
use crate::cli::state::{Env, StoredSession};
use crate::clock::Clock;
use std::time::Duration;

/// How long the loopback flow waits for the browser to come back.
pub const LOOPBACK_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// The URL the browser opens for the loopback flow.
pub fn authorize_url(
    client: &BrokerClient,
    redirect_uri: &str,
    pkce: &Pkce,
    state: &str,
) -> Result<String, String> {
    url::Url::parse_with_params(
        &client.broker().endpoint("/oauth/authorize"),
        &[
            ("response_type", "code"),
            ("client_id", CLIENT_ID),
            ("redirect_uri", redirect_uri),
            ("code_challenge", pkce.challenge.as_str()),
            ("code_challenge_method", "S256"),
            ("state", state),
        ],
    )
    .map(String::from)
    .map_err(|e| format!("cannot build the sign-in URL: {e}"))
}

/// The loopback flow; `show` receives the URL to open (it opens a browser and/or prints it).
pub async fn loopback(
    env: &Env,
    client: &BrokerClient,
    clock: &dyn Clock,
    show: impl FnOnce(&str),
    timeout: Duration,
) -> Result<StoredSession, String> {
    let pkce = Pkce::generate()?;
    let state = random_b64url(16)?;
    let listener = Loopback::bind().await?;
    let redirect_uri = listener.redirect_uri.clone();
    show(&authorize_url(client, &redirect_uri, &pkce, &state)?);
    let code = listener.wait(&state, timeout).await?;
    let answer = client
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", code.expose()),
            ("redirect_uri", &redirect_uri),
            ("code_verifier", &pkce.verifier),
        ])
        .await
        .map_err(|e| format!("the broker did not issue a session: {e}"))?;
    finish(env, client, clock, answer).await
}

/// The device flow; `tell` receives the instructions for the person.
pub async fn device(
    env: &Env,
    client: &BrokerClient,
    clock: &dyn Clock,
    tell: impl FnOnce(&str),
    second: Duration,
) -> Result<StoredSession, String> {
    let da = client
        .device_authorization()
        .await
        .map_err(|e| format!("cannot start the device sign-in: {e}"))?;
    tell(&crate::cli::device::instructions(&da));
    let answer = crate::cli::device::poll(client, &da, second).await?;
    finish(env, client, clock, answer).await
}

/// Store the session, then learn the subject (a failure there does not undo the sign-in).
async fn finish(
    env: &Env,
    client: &BrokerClient,
    clock: &dyn Clock,
    answer: crate::cli::broker_client::TokenAnswer,
) -> Result<StoredSession, String> {
    let broker = client.broker();
    let mut stored = session::from_answer(answer, clock.now(), None);
    if let Ok(roles) = client.roles(&stored.access_token).await {
        stored.subject = Some(roles.subject);
        if let Some(end) = roles.session_expires_at {
            stored.session_expires_at = stored.session_expires_at.min(end);
        }
    }
    // A new sign-in replaces the old session (ended at the broker, best effort) and whatever was
    // cached under it.
    let previous = session::load(env, broker).ok().flatten();
    crate::cli::credentials::CredentialCache::forget_broker(env, broker)?;
    session::save(env, broker, stored.clone())?;
    if let Some(old) = previous.and_then(|p| p.refresh_token) {
        let _ = client.revoke(&old).await;
    }
    Ok(stored)
}

/// The line printed after a sign-in.
pub fn signed_in_message(client: &BrokerClient, s: &StoredSession) -> String {
    format!(
        "Signed in to {broker}{who}; the session ends at {end}. Next: `fedbroker profiles --broker {broker} --write`",
        broker = client.broker(),
        who = s
            .subject
            .as_deref()
            .map(|w| format!(" as {w}"))
            .unwrap_or_default(),
        end = s.session_expires_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::broker_client::BrokerUrl;

    #[test]
    fn the_authorize_url_carries_the_contract_parameters() {
        let client = BrokerClient::new(BrokerUrl::parse("https://b.example/").unwrap()).unwrap();
        let pkce = Pkce::from_verifier("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".into());
        let u = authorize_url(&client, "http://127.0.0.1:4711/callback", &pkce, "st8").unwrap();
        let u = url::Url::parse(&u).unwrap();
        assert_eq!(u.path(), "/oauth/authorize");
        let q: std::collections::HashMap<_, _> = u.query_pairs().into_owned().collect();
        assert_eq!(q["response_type"], "code");
        assert_eq!(q["client_id"], "fedbroker-cli");
        assert_eq!(q["redirect_uri"], "http://127.0.0.1:4711/callback");
        assert_eq!(
            q["code_challenge"],
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        assert_eq!(q["code_challenge_method"], "S256");
        assert_eq!(q["state"], "st8");
        assert!(!q.contains_key("code_verifier"));
    }
}
