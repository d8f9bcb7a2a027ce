//! The device authorization grant's client side (RFC 8628): ask for a code, show it, poll the
//! token endpoint until the person approves or denies in a browser.
//!
//! Invariants: polls are `interval` seconds apart (5 when the broker names none), and each
//! `slow_down` adds 5 seconds for the rest of the flow (RFC 8628 §3.5); a transport failure backs
//! off (the interval doubles, up to a minute) instead of hammering the broker; `access_denied`,
//! `expired_token` and `invalid_grant` end the flow with a sentence for the person; the whole flow
//! stops when the code's `expires_in` has passed. The device code is a
//! [`crate::cli::state::Token`], never printed.

use crate::cli::broker_client::{
    BrokerClient, ClientError, DeviceAuthorization, TokenAnswer, DEVICE_GRANT,
};
use std::time::Duration;

/// Added to the interval by each `slow_down` (RFC 8628 §3.5).
pub const SLOW_DOWN_STEP: u64 = 5;
/// Longest wait between polls after transport failures.
const MAX_BACKOFF: u64 = 60;

/// What to do after a poll that did not return a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Poll again after this many seconds.
    PollAfter(u64),
    /// Stop: the sentence to show.
    Stop(String),
}

/// RFC 8628 §3.5: the next step after a failed poll, given the current interval (seconds).
pub fn after_poll_error(err: &ClientError, interval: u64) -> Next {
    match err.oauth_code() {
        Some("authorization_pending") => Next::PollAfter(interval),
        Some("slow_down") => Next::PollAfter(interval + SLOW_DOWN_STEP),
        Some("access_denied") => {
            Next::Stop("the sign-in was denied in the browser; nothing was signed in".into())
        }
        Some("expired_token") => Next::Stop(
            "the code expired before it was approved; run `fedbroker login --device` again".into(),
        ),
        Some("invalid_grant") => Next::Stop(
            "the broker no longer accepts this code (already used or unknown); run \
             `fedbroker login --device` again"
                .into(),
        ),
        Some(_) => Next::Stop(err.to_string()),
        None => match err {
            ClientError::Transport(_) => Next::PollAfter((interval.max(1) * 2).min(MAX_BACKOFF)),
            other => Next::Stop(other.to_string()),
        },
    }
}

/// The lines shown to the person (stderr): where to go and the code to check.
pub fn instructions(da: &DeviceAuthorization) -> String {
    let open = da
        .verification_uri_complete
        .as_deref()
        .unwrap_or(&da.verification_uri);
    format!(
        "To sign in, open this address in a browser on any device:\n\n    {open}\n\n\
         and check that it shows the code {code} (or go to {base} and type the code).\n\
         The code expires in {mins} minutes. Waiting for approval…",
        code = da.user_code,
        base = da.verification_uri,
        mins = da.expires_in.div_ceil(60),
    )
}

/// Poll until a token, a refusal or the code's expiry. `second` is one second of the interval
/// (tests shorten it).
pub async fn poll(
    client: &BrokerClient,
    da: &DeviceAuthorization,
    second: Duration,
) -> Result<TokenAnswer, String> {
    let mut interval = da.interval;
    let run = async {
        loop {
            tokio::time::sleep(second * u32::try_from(interval).unwrap_or(u32::MAX)).await;
            let answer = client
                .token(&[
                    ("grant_type", DEVICE_GRANT),
                    ("device_code", da.device_code.expose()),
                ])
                .await;
            match answer {
                Ok(token) => return Ok(token),
                Err(e) => match after_poll_error(&e, interval) {
                    Next::PollAfter(next) => interval = next,
                    Next::Stop(why) => return Err(why),
                },
            }
        }
    };
    let limit = second * u32::try_from(da.expires_in).unwrap_or(u32::MAX);
    match tokio::time::timeout(limit, run).await {
        Ok(r) => r,
        Err(_) => Err(
            "the code expired before it was approved; run `fedbroker login --device` again".into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::state::Token;

    fn oauth(code: &str) -> ClientError {
        ClientError::OAuth {
            error: code.into(),
            description: None,
        }
    }

    #[test]
    fn each_rfc8628_error_has_its_step() {
        assert_eq!(
            after_poll_error(&oauth("authorization_pending"), 5),
            Next::PollAfter(5)
        );
        assert_eq!(
            after_poll_error(&oauth("slow_down"), 5),
            Next::PollAfter(10)
        );
        assert_eq!(
            after_poll_error(&oauth("slow_down"), 10),
            Next::PollAfter(15)
        );
        let stop = |c: &str| match after_poll_error(&oauth(c), 5) {
            Next::Stop(s) => s,
            n => panic!("{c}: {n:?}"),
        };
        assert!(stop("access_denied").contains("denied"));
        assert!(stop("expired_token").contains("expired"));
        assert!(stop("invalid_grant").contains("no longer accepts"));
        assert!(stop("invalid_client").contains("invalid_client"));
    }

    #[test]
    fn transport_failures_back_off_and_other_answers_stop() {
        let t = ClientError::Transport("reset".into());
        assert_eq!(after_poll_error(&t, 5), Next::PollAfter(10));
        assert_eq!(after_poll_error(&t, 40), Next::PollAfter(60));
        let e = ClientError::Unexpected {
            status: 500,
            what: "x".into(),
        };
        assert!(matches!(after_poll_error(&e, 5), Next::Stop(_)));
    }

    #[test]
    fn instructions_show_the_complete_uri_and_the_code_but_not_the_device_code() {
        let da = DeviceAuthorization {
            device_code: Token::new("dev-secret"),
            user_code: "BCDF-GHJK".into(),
            verification_uri: "https://b.example/device".into(),
            verification_uri_complete: Some("https://b.example/device?user_code=BCDF-GHJK".into()),
            expires_in: 600,
            interval: 5,
        };
        let text = instructions(&da);
        assert!(text.contains("https://b.example/device?user_code=BCDF-GHJK"));
        assert!(text.contains("BCDF-GHJK"));
        assert!(text.contains("10 minutes"));
        assert!(!text.contains("dev-secret"));
    }
}
