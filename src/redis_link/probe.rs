//! `check-config --probe` for Redis: connect with the configured topology and TLS, AUTH, PING, and
//! a SET/GET/DEL round trip on a random key under `cache.key_prefix`.
//!
//! Invariants: each problem is one line naming the config key and what to fix; a password (from a
//! URL or `sentinel_master_password`) never appears in a line; nothing is left behind in Redis
//! (the key expires after a minute even if the DEL is not reached).

use super::{LinkError, LinkSettings, RedisLink, Store, Topology};
use crate::config::CacheConfig;
use redis::{ErrorKind, RedisError};
use std::time::Duration;

/// Budget of each probe command.
const PROBE_BUDGET: Duration = Duration::from_secs(2);

/// Probe the Redis `cache` configures; empty means fine (or no Redis configured).
pub async fn probe(cache: &CacheConfig) -> Vec<String> {
    let Some(settings) = LinkSettings::from_config(cache) else {
        return Vec::new();
    };
    let secrets = settings.secrets();
    let scrub = |line: String| {
        secrets
            .iter()
            .fold(line, |l, s| l.replace(s.as_str(), "<password>"))
    };
    probe_settings(&settings, &cache.key_prefix)
        .await
        .into_iter()
        .map(scrub)
        .collect()
}

async fn probe_settings(settings: &LinkSettings, key_prefix: &str) -> Vec<String> {
    let key = settings.config_key();
    let mut out = settings.tls.problems();
    if !out.is_empty() {
        return out;
    }
    let link = match RedisLink::connect(settings).await {
        Ok(l) => l,
        Err(LinkError::Config(m)) => return vec![m],
        Err(LinkError::Connect { source, .. }) => {
            return vec![explain(settings, key, &source)];
        }
    };
    if let Err(e) = link.ping().await {
        out.push(explain(settings, key, &e));
        return out;
    }
    let probe_key = format!("{key_prefix}probe:{}", uuid::Uuid::new_v4().simple());
    let value = uuid::Uuid::new_v4().simple().to_string();
    let set = link
        .query::<()>(
            Store::Cache,
            PROBE_BUDGET,
            redis::cmd("SET")
                .arg(&probe_key)
                .arg(&value)
                .arg("EX")
                .arg(60),
        )
        .await;
    if let Err(e) = set {
        out.push(format!(
            "{key}: the write test (SET) failed: {} (the user needs SET/GET/DEL/EVALSHA/WAIT on \
             keys under cache.key_prefix)",
            short(&e)
        ));
        return out;
    }
    match link
        .query::<Option<String>>(
            Store::Cache,
            PROBE_BUDGET,
            redis::cmd("GET").arg(&probe_key),
        )
        .await
    {
        Ok(Some(v)) if v == value => {}
        Ok(_) => out.push(format!(
            "{key}: a value written was not read back (is the URL a replica, or a proxy that \
             spreads reads?)"
        )),
        Err(e) => out.push(format!("{key}: the read test (GET) failed: {}", short(&e))),
    }
    if let Err(e) = link
        .query::<i64>(
            Store::Cache,
            PROBE_BUDGET,
            redis::cmd("DEL").arg(&probe_key),
        )
        .await
    {
        out.push(format!(
            "{key}: the delete test (DEL) failed: {}",
            short(&e)
        ));
    }
    if link.topology() == Topology::Sentinel {
        if let Err(e) = link.acknowledged(Store::Cache, PROBE_BUDGET).await {
            out.push(format!(
                "{key}: no replica acknowledged the test write in time ({}): with Sentinel every \
                 security-relevant write waits for one replica; check that the master has a \
                 connected replica",
                short(&e)
            ));
        }
    }
    out
}

/// The error's own words, first line only, without the redis crate's "- <kind>" suffix.
fn short(e: &RedisError) -> String {
    let text = e.to_string();
    let line = text.lines().next().unwrap_or("");
    match line.rsplit_once("- ") {
        Some((head, kind)) if !kind.is_empty() && kind.chars().all(|c| c.is_ascii_alphabetic()) => {
            head.trim_end().to_owned()
        }
        _ => line.to_owned(),
    }
}

/// One line: which key to fix and how, for a connect/PING failure.
fn explain(settings: &LinkSettings, key: &str, e: &RedisError) -> String {
    let text = format!("{e:?} {e}");
    let lower = text.to_ascii_lowercase();
    if lower.contains("does not know cache.sentinel_master") {
        return "cache.sentinel_master: no sentinel of cache.sentinel_urls monitors a master by \
                that name (see SENTINEL MASTERS on a sentinel)"
            .to_owned();
    }
    if lower.contains("noauth") {
        let which = if settings.topology() == Topology::Sentinel {
            "cache.sentinel_master_password"
        } else {
            "the URL (redis://:PASSWORD@host:port)"
        };
        return format!("{key}: Redis requires a password: set it in {which}");
    }
    if e.kind() == ErrorKind::AuthenticationFailed
        || lower.contains("wrongpass")
        || lower.contains("invalid username-password")
    {
        let which = if settings.topology() == Topology::Sentinel {
            "the password in cache.sentinel_urls or cache.sentinel_master_password"
        } else {
            "the user/password in the URL"
        };
        return format!("{key}: Redis refused the credentials (AUTH failed): check {which}");
    }
    if lower.contains("unknownissuer")
        || lower.contains("unknown issuer")
        || lower.contains("invalid peer certificate")
        || lower.contains("badsignature")
    {
        return format!(
            "{key}: the Redis server's TLS certificate is not trusted ({}): set cache.tls_ca_file \
             to the CA that issued it",
            short(e)
        );
    }
    if lower.contains("notvalidforname") || lower.contains("not valid for name") {
        return format!(
            "{key}: the Redis server's TLS certificate does not name the host of the URL: use the \
             host name (or IP address) the certificate holds"
        );
    }
    if lower.contains("certificaterequired")
        || lower.contains("certificate required")
        || lower.contains("handshakefailure")
        || lower.contains("unknownca")
        || lower.contains("badcertificate")
    {
        return format!(
            "{key}: the Redis server refused the TLS client ({}): it requires a client \
             certificate it trusts: set cache.tls_cert_file and cache.tls_key_file",
            short(e)
        );
    }
    if settings.uses_tls() && (e.is_connection_dropped() || lower.contains("eof")) {
        return format!(
            "{key}: the Redis server closed the TLS connection ({}): if it requires client \
             certificates, set cache.tls_cert_file and cache.tls_key_file",
            short(e)
        );
    }
    if !settings.uses_tls() && (e.is_connection_dropped() || lower.contains("reset")) {
        return format!(
            "{key}: the server closed the connection ({}): if it expects TLS, use a rediss:// URL",
            short(e)
        );
    }
    if e.is_timeout() || lower.contains("timed out") {
        return format!(
            "{key}: Redis did not answer in time: check the host, port and firewall (and rediss:// \
             if the server expects TLS)"
        );
    }
    format!("{key}: {}", short(e))
}
