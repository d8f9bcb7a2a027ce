//! `fedbroker whoami [--broker URL]` (broker, subject, session end, roles) and
//! `fedbroker logout [--broker URL]` (revoke at the broker, then forget locally). Without
//! `--broker`, both act on every broker with a stored session.
//!
//! Invariants: logout deletes the local session and cached credentials even when the broker
//! cannot be reached (and says so); no token is printed.

use crate::cli::broker_client::{BrokerClient, BrokerUrl, RolesAnswer};
use crate::cli::session::{self, SessionError};
use crate::cli::state::{read_json, Env, Sessions};
use crate::clock::Clock;

/// The brokers to act on: the one given, else every stored one.
pub fn brokers(env: &Env, given: Option<&str>) -> Result<Vec<BrokerUrl>, String> {
    match given {
        Some(b) => Ok(vec![BrokerUrl::parse(b)?]),
        None => read_json::<Sessions>(&env.sessions_file())?
            .brokers
            .keys()
            .map(|k| BrokerUrl::parse(k))
            .collect(),
    }
}

/// `GET /v1/roles` for the broker's session.
pub async fn roles(
    env: &Env,
    client: &BrokerClient,
    clock: &dyn Clock,
) -> Result<RolesAnswer, SessionError> {
    session::with_token(env, client, clock, |token| async move {
        client.roles(&token).await
    })
    .await
}

/// The text `whoami` prints for one broker.
pub fn describe(broker: &BrokerUrl, answer: &RolesAnswer) -> String {
    let mut out = format!("broker:  {broker}\nsubject: {}\n", answer.subject);
    if let Some(end) = answer.session_expires_at {
        out.push_str(&format!(
            "session ends: {}\n",
            end.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ));
    }
    out.push_str("roles:\n");
    if answer.roles.is_empty() {
        out.push_str("  (none)\n");
    }
    for r in &answer.roles {
        match &r.alias {
            Some(a) => out.push_str(&format!("  {} ({a})\n", r.role_arn)),
            None => out.push_str(&format!("  {}\n", r.role_arn)),
        }
    }
    out
}

/// Revoke the session at the broker and forget it here; the line to print.
pub async fn logout(env: &Env, client: &BrokerClient) -> Result<String, String> {
    let broker = client.broker();
    let Some(stored) = session::load(env, broker)? else {
        session::forget(env, broker)?;
        return Ok(format!("not signed in to {broker}"));
    };
    // Revoking the refresh token ends the whole session at the broker.
    let token = stored
        .refresh_token
        .as_ref()
        .unwrap_or(&stored.access_token);
    let revoked = client.revoke(token).await;
    session::forget(env, broker)?;
    Ok(match revoked {
        Ok(()) => format!("signed out of {broker}"),
        Err(e) => format!(
            "forgot the session with {broker}, but the broker could not be told ({e}); it ends \
             on its own at {}",
            stored
                .session_expires_at
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::broker_client::RoleEntry;

    #[test]
    fn whoami_lists_subject_end_and_roles() {
        let b = BrokerUrl::parse("https://b.example").unwrap();
        let a = RolesAnswer {
            subject: "alice@example.com".into(),
            session_expires_at: Some("2030-01-01T08:00:00Z".parse().unwrap()),
            roles: vec![RoleEntry {
                role_arn: "arn:aws:iam::1:role/r".into(),
                alias: Some("dev".into()),
                account_id: "1".into(),
                role_name: "r".into(),
                mode: None,
                region: None,
            }],
        };
        assert_eq!(
            describe(&b, &a),
            "broker:  https://b.example\nsubject: alice@example.com\n\
             session ends: 2030-01-01T08:00:00Z\nroles:\n  arn:aws:iam::1:role/r (dev)\n"
        );
    }
}
