//! `fedbroker console --broker URL --role ARN|ALIAS [--print]`: the AWS console for a role, from
//! `POST /v1/console-url` with the CLI session's bearer token.
//!
//! Invariants: the sign-in URL signs whoever holds it in, so it goes only to the browser or, with
//! `--print` (or when no browser can be started), to stdout, never to stderr or a log.

use crate::cli::broker_client::BrokerClient;
use crate::cli::session::{self, SessionError};
use crate::cli::state::{Env, Token};
use crate::clock::Clock;

/// The console sign-in URL for `role`.
pub async fn url(
    env: &Env,
    client: &BrokerClient,
    clock: &dyn Clock,
    role: &str,
) -> Result<Token, SessionError> {
    session::with_token(env, client, clock, |token| async move {
        client.console_url(&token, role).await
    })
    .await
}
