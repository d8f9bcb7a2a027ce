//! `[server]`: the listeners (public, metrics, TLS), request limits, trusted proxies and the admin
//! token.

use super::common::check_url;
use crate::config::errors::ConfigErrors;
use crate::config::model::ServerConfig;
use secrecy::ExposeSecret;
use std::net::SocketAddr;

/// Shortest admin token accepted (a guessable token would open revocation to anyone).
pub const MIN_ADMIN_TOKEN_LEN: usize = 32;

/// Read the admin token file: its first line, trimmed, at least [`MIN_ADMIN_TOKEN_LEN`] long.
pub fn read_admin_token(path: &str) -> Result<secrecy::SecretString, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("server.admin_token_file: cannot read {path}: {e}"))?;
    let token = text.lines().next().unwrap_or("").trim().to_owned();
    if token.len() < MIN_ADMIN_TOKEN_LEN {
        return Err(format!(
            "server.admin_token_file {path}: the token must be at least {MIN_ADMIN_TOKEN_LEN} \
             characters (try: openssl rand -hex 32 > {path})"
        ));
    }
    Ok(secrecy::SecretString::from(token))
}

/// Listeners, public URL, body limits and trusted proxies (the admin token is checked apart, after
/// the cache, by [`check_admin_token`]).
pub(super) fn check(errors: &mut ConfigErrors, server: &ServerConfig) {
    if server.listen.parse::<SocketAddr>().is_err() {
        errors.push(format!(
            "server.listen = {:?} is not an address like 127.0.0.1:8080",
            server.listen
        ));
    }
    check_metrics_listen(errors, server);
    check_url(errors, "server.public_url", &server.public_url, false);
    check_tls_listener(errors, server);
    if server.max_body_bytes < 1024 {
        errors.push("server.max_body_bytes must be at least 1024");
    }
    if !(1..=300).contains(&server.body_timeout_secs) {
        errors.push("server.body_timeout_secs must be between 1 and 300");
    }
    if let Err(problems) = crate::config::TrustedProxies::from_config(server) {
        for p in problems {
            errors.push(p);
        }
    }
}

/// `server.admin_token` or `server.admin_token_file` (not both), long enough to resist guessing.
pub(super) fn check_admin_token(errors: &mut ConfigErrors, server: &ServerConfig) {
    match (&server.admin_token, &server.admin_token_file) {
        (Some(_), Some(_)) => {
            errors.push("set server.admin_token or server.admin_token_file, not both")
        }
        (Some(t), None) if t.expose_secret().trim().len() < MIN_ADMIN_TOKEN_LEN => {
            errors.push(format!(
                "server.admin_token must be at least {MIN_ADMIN_TOKEN_LEN} characters \
                 (try: openssl rand -hex 32)"
            ))
        }
        (None, Some(path)) => {
            if let Err(e) = read_admin_token(path) {
                errors.push(e);
            }
        }
        _ => {}
    }
}

/// The TLS listener keys belong together; the files themselves are read by
/// `http::tls::ListenerTls::from_config` (check-config and start-up), not here, so a SIGHUP
/// reload of the rules never depends on the certificate files.
fn check_tls_listener(errors: &mut ConfigErrors, s: &ServerConfig) {
    match (&s.tls_cert_file, &s.tls_key_file) {
        (Some(_), None) => errors.push(
            "server.tls_cert_file is set without server.tls_key_file: set both (HTTPS) or neither",
        ),
        (None, Some(_)) => errors.push(
            "server.tls_key_file is set without server.tls_cert_file: set both (HTTPS) or neither",
        ),
        (Some(_), Some(_)) if !s.public_url.starts_with("https://") => errors.push(
            "server.public_url must be the https:// URL clients use when server.tls_cert_file is \
             set (the listener speaks only TLS)",
        ),
        _ => {}
    }
    if s.tls_client_ca_file.is_some() && s.tls_cert_file.is_none() {
        errors.push(
            "server.tls_client_ca_file needs the TLS listener (server.tls_cert_file and \
             server.tls_key_file): client certificates exist only in a TLS handshake",
        );
    }
}

/// `server.metrics_listen`: an address, and not one the public listener already takes (the same
/// port on the same address, or on a wildcard address either way: the second bind would fail).
fn check_metrics_listen(errors: &mut ConfigErrors, server: &ServerConfig) {
    let Some(metrics) = &server.metrics_listen else {
        return;
    };
    let Ok(m) = metrics.parse::<SocketAddr>() else {
        errors.push(format!(
            "server.metrics_listen = {metrics:?} is not an address like 0.0.0.0:9090"
        ));
        return;
    };
    if let Ok(l) = server.listen.parse::<SocketAddr>() {
        let overlaps = m.ip() == l.ip() || m.ip().is_unspecified() || l.ip().is_unspecified();
        if m.port() == l.port() && m.port() != 0 && overlaps {
            errors.push(format!(
                "server.metrics_listen = {metrics:?} takes the port of server.listen: choose \
                 another port (e.g. 9090), or remove metrics_listen to serve /metrics on listen"
            ));
        }
    }
}
