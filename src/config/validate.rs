//! Semantic checks on a deserialized `Config`; every failure is collected, none stops the others.
//! (IdP metadata is loaded and checked when the application state is built; see `app::build`.)

use super::load::ConfigErrors;
use super::model::*;
use secrecy::ExposeSecret;
use std::collections::HashSet;
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

/// `[cache]` Redis settings: one topology, usable URLs, TLS files, and every store shared or
/// none (a config that would keep one store per-replica while another is in Redis is refused).
fn check_redis(errors: &mut ConfigErrors, cache: &CacheConfig) {
    let topologies = [
        cache.redis_url.is_some(),
        !cache.redis_cluster_urls.is_empty(),
        !cache.sentinel_urls.is_empty(),
    ];
    if topologies.iter().filter(|t| **t).count() > 1 {
        errors.push(
            "set one Redis topology: cache.redis_url (standalone), cache.redis_cluster_urls \
             (Cluster) or cache.sentinel_urls (Sentinel), not several",
        );
    }
    let mut schemes = Vec::new();
    if let Some(url) = &cache.redis_url {
        let u = url.expose_secret();
        if !(u.starts_with("redis://") || u.starts_with("rediss://") || u.starts_with("unix://")) {
            errors.push("cache.redis_url must start with redis://, rediss:// or unix://");
        } else if redis::parse_redis_url(u).is_none() {
            errors.push("cache.redis_url is not a valid Redis URL");
        } else {
            check_tls_url(errors, "cache.redis_url", u);
            schemes.push(u.starts_with("rediss://"));
        }
    }
    for (key, urls) in [
        ("cache.redis_cluster_urls", &cache.redis_cluster_urls),
        ("cache.sentinel_urls", &cache.sentinel_urls),
    ] {
        let mut these = Vec::new();
        for url in urls {
            let u = url.expose_secret();
            if !(u.starts_with("redis://") || u.starts_with("rediss://"))
                || redis::parse_redis_url(u).is_none()
            {
                errors.push(format!(
                    "{key}: every entry must be a redis:// or rediss:// URL"
                ));
            } else {
                check_tls_url(errors, key, u);
                these.push(u.starts_with("rediss://"));
            }
        }
        if these.iter().any(|t| *t) && !these.iter().all(|t| *t) {
            errors.push(format!(
                "{key}: mix of redis:// and rediss:// entries: use rediss:// for all or none"
            ));
        }
        schemes.extend(these);
    }
    match (&cache.sentinel_master, cache.sentinel_urls.is_empty()) {
        (None, false) => errors.push(
            "cache.sentinel_urls needs cache.sentinel_master (the name the sentinels monitor, \
             e.g. \"mymaster\")",
        ),
        (Some(_), true) => errors.push(
            "cache.sentinel_master is set without cache.sentinel_urls (the sentinels to ask)",
        ),
        (Some(m), false) if m.trim().is_empty() || m.chars().any(char::is_whitespace) => {
            errors.push("cache.sentinel_master must be a name without spaces")
        }
        _ => {}
    }
    if cache.sentinel_urls.is_empty()
        && (cache.sentinel_master_password.is_some() || cache.sentinel_master_username.is_some())
    {
        errors.push(
            "cache.sentinel_master_username/sentinel_master_password are set without \
             cache.sentinel_urls",
        );
    }
    if cache.sentinel_master_username.is_some() && cache.sentinel_master_password.is_none() {
        errors.push("cache.sentinel_master_username needs cache.sentinel_master_password");
    }
    let tls = crate::redis_link::TlsFiles {
        ca_file: cache.tls_ca_file.clone(),
        cert_file: cache.tls_cert_file.clone(),
        key_file: cache.tls_key_file.clone(),
    };
    for p in tls.problems() {
        errors.push(p);
    }
    if tls.any() && !schemes.iter().any(|t| *t) {
        errors.push(
            "cache.tls_ca_file/tls_cert_file/tls_key_file are set but no Redis URL is rediss://: \
             use rediss:// URLs (TLS) or remove the TLS files",
        );
    }
    if cache.key_prefix.contains('{') || cache.key_prefix.contains('}') {
        errors.push(
            "cache.key_prefix must not contain { or } (the broker adds its own Redis Cluster hash \
             tags after the prefix)",
        );
    }
    let shared = topologies.iter().any(|t| *t);
    match crate::cache::Keyring::from_config(
        &cache.encryption_keys,
        cache.encryption_key_file.as_deref(),
    ) {
        Err(e) => errors.push(e),
        Ok(None) if shared => errors.push(
            "Redis is configured but cache.encryption_keys (or cache.encryption_key_file) is not: \
             the credential cache and browser sessions are stored encrypted in Redis, and no \
             store may stay per-replica while the replay store is shared; add a key (generate \
             one: echo \"k1:$(openssl rand -base64 32)\")",
        ),
        Ok(_) => {}
    }
}

/// A `rediss://` URL the broker would connect to without verifying the server is refused.
fn check_tls_url(errors: &mut ConfigErrors, key: &str, url: &str) {
    if let Ok(u) = url::Url::parse(url) {
        if u.fragment().is_some() {
            errors.push(format!(
                "{key}: a URL fragment (such as #insecure, which turns off certificate checks) is \
                 not accepted: remove it, and set cache.tls_ca_file for a private CA"
            ));
        }
    }
}

pub(super) fn validate(cfg: &Config, errors: &mut ConfigErrors) {
    if cfg.server.listen.parse::<SocketAddr>().is_err() {
        errors.push(format!(
            "server.listen = {:?} is not an address like 127.0.0.1:8080",
            cfg.server.listen
        ));
    }
    check_metrics_listen(errors, &cfg.server);
    check_url(errors, "server.public_url", &cfg.server.public_url, false);
    check_tls_listener(errors, &cfg.server);
    if cfg.server.max_body_bytes < 1024 {
        errors.push("server.max_body_bytes must be at least 1024");
    }
    if !(1..=300).contains(&cfg.server.body_timeout_secs) {
        errors.push("server.body_timeout_secs must be between 1 and 300");
    }
    if let Err(problems) = super::TrustedProxies::from_config(&cfg.server) {
        for p in problems {
            errors.push(p);
        }
    }
    if !is_region(&cfg.aws.region) {
        errors.push(format!(
            "aws.region = {:?} is not an AWS region name like us-east-1",
            cfg.aws.region
        ));
    }
    if let Some(ep) = &cfg.aws.sts_endpoint {
        check_url(errors, "aws.sts_endpoint", ep, true);
    }
    check_url(
        errors,
        "aws.federation_endpoint",
        &cfg.aws.federation_endpoint,
        true,
    );
    check_console(errors, &cfg.console);
    check_redis(errors, &cfg.cache);
    if cfg.cache.revocation_block_seconds > MAX_REVOCATION_BLOCK_SECONDS {
        errors.push(format!(
            "cache.revocation_block_seconds must be at most {MAX_REVOCATION_BLOCK_SECONDS} (a day)"
        ));
    }
    match (&cfg.server.admin_token, &cfg.server.admin_token_file) {
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
    for r in cfg.saml.allowed_relay_states.iter().flatten() {
        if !r.starts_with('/') || r.starts_with("//") || r.contains('\\') {
            errors.push(format!(
                "saml.allowed_relay_states: {r:?} must be a local path like \"/roles\""
            ));
        }
    }
    if cfg.audit.sink == AuditSinkKind::File && cfg.audit.file.is_none() {
        errors.push("audit.sink = \"file\" needs audit.file (a path to append to)");
    }
    if tracing_subscriber::EnvFilter::try_new(&cfg.log.level).is_err() {
        errors.push(format!(
            "log.level = {:?} is not a valid filter (try \"info\")",
            cfg.log.level
        ));
    }

    let mut names = HashSet::new();
    for (i, idp) in cfg.saml.idps.iter().enumerate() {
        let at = format!("saml.idps[{i}] ({:?})", idp.name);
        if !is_name(&idp.name) {
            errors.push(format!(
                "{at}: name must be 1-64 characters from [a-z0-9_-]"
            ));
        }
        if !names.insert(idp.name.clone()) {
            errors.push(format!("{at}: duplicate IdP name"));
        }
        match (&idp.metadata_file, &idp.metadata_url) {
            (Some(_), Some(_)) => {
                errors.push(format!("{at}: set metadata_file or metadata_url, not both"))
            }
            (None, None) => errors.push(format!("{at}: set metadata_file or metadata_url")),
            (None, Some(u)) => check_url(errors, &format!("{at}.metadata_url"), u, false),
            (Some(_), None) => {}
        }
        if let Some(age) = idp.max_assertion_age_seconds {
            let (min, max) = crate::saml::MAX_ASSERTION_AGE_RANGE;
            let (min, max) = (min.num_seconds() as u64, max.num_seconds() as u64);
            if !(min..=max).contains(&age) {
                errors.push(format!(
                    "{at}.max_assertion_age_seconds = {age}: must be {min} to {max} (seconds an assertion may be used after its IssueInstant; omit it for the default, 300)"
                ));
            }
        }
        if let Some(secs) = idp.metadata_refresh_secs {
            use super::{MAX_REFRESH_SECS, MIN_REFRESH_SECS};
            if idp.metadata_url.is_none() {
                errors.push(format!(
                    "{at}.metadata_refresh_secs: only applies to metadata_url (a metadata_file \
                     is re-read on reload)"
                ));
            } else if !(MIN_REFRESH_SECS..=MAX_REFRESH_SECS).contains(&secs) {
                errors.push(format!(
                    "{at}.metadata_refresh_secs: must be {MIN_REFRESH_SECS} to {MAX_REFRESH_SECS}"
                ));
            }
        }
        for (key, list) in [
            ("audiences", &idp.audiences),
            ("recipients", &idp.recipients),
        ] {
            if let Some(list) = list {
                if list.is_empty() {
                    errors.push(format!("{at}.{key}: an empty list would accept nothing; omit it for AWS's defaults"));
                }
                if list.iter().any(|v| v.trim() != v || v.is_empty()) {
                    errors.push(format!(
                        "{at}.{key}: values must be non-empty with no surrounding spaces"
                    ));
                }
            }
        }
        if idp.allow_cbc && idp.decryption_key_files.is_empty() {
            errors.push(format!(
                "{at}: allow_cbc has no effect without decryption_key_files"
            ));
        }
    }
    let mut names = HashSet::new();
    for (i, p) in cfg.oidc.providers.iter().enumerate() {
        let at = format!("oidc.providers[{i}] ({:?})", p.name);
        match (&p.client_id, &p.client_secret, &p.client_secret_file) {
            (_, Some(_), Some(_)) => errors.push(format!(
                "{at}: set client_secret or client_secret_file, not both"
            )),
            (None, Some(_), _) | (None, _, Some(_)) => errors.push(format!(
                "{at}: client_secret without client_id (browser sign-in needs both)"
            )),
            (Some(id), _, _) if id.trim().is_empty() => {
                errors.push(format!("{at}: client_id is empty"))
            }
            (Some(_), None, Some(path)) if std::fs::metadata(path).is_err() => {
                errors.push(format!("{at}: client_secret_file {path} cannot be read"))
            }
            _ => {}
        }
        if !is_name(&p.name) {
            errors.push(format!(
                "{at}: name must be 1-64 characters from [a-z0-9_-]"
            ));
        }
        if !names.insert(p.name.clone()) {
            errors.push(format!("{at}: duplicate provider name"));
        }
        // One namespace for both lists: `match.provider` names either, so a shared name would
        // make a rule written for one protocol grant roles to the other.
        if let Some(j) = cfg.saml.idps.iter().position(|s| s.name == p.name) {
            errors.push(format!(
                "{at}: name is also used by saml.idps[{j}]; SAML IdP and OIDC provider names must be unique across both lists (a rule's match.provider names either); rename one"
            ));
        }
        check_oidc_issuer(errors, &at, p);
        if p.audiences.is_empty() || p.audiences.len() > 100 {
            errors.push(format!(
                "{at}.audiences: AWS allows 1 to 100 audiences per provider"
            ));
        }
        if p.audiences.iter().any(|v| v.trim() != v || v.is_empty()) {
            errors.push(format!(
                "{at}.audiences: values must be non-empty with no surrounding spaces"
            ));
        }
        if let Err(e) = crate::oidc::provider::parse_algorithms(p.allowed_algorithms.as_deref()) {
            errors.push(format!("{at}.{e}"));
        }
        if let Some(ttl) = p.jwks_ttl_secs {
            use crate::oidc::provider::{MAX_JWKS_TTL_SECS, MIN_JWKS_TTL_SECS};
            if !(MIN_JWKS_TTL_SECS..=MAX_JWKS_TTL_SECS).contains(&ttl) {
                errors.push(format!(
                    "{at}.jwks_ttl_secs: must be {MIN_JWKS_TTL_SECS} to {MAX_JWKS_TTL_SECS}"
                ));
            }
        }
        for (claim, patterns) in p.claim_conditions.iter().flatten() {
            if claim.is_empty() || patterns.is_empty() {
                errors.push(format!(
                    "{at}.claim_conditions: {claim:?} needs a claim name and at least one pattern"
                ));
            }
        }
        if !p.issuer.is_empty() && cfg.oidc.providers[..i].iter().any(|o| o.issuer == p.issuer) {
            errors.push(format!("{at}.issuer: configured for two providers"));
        }
    }
    // Issuer mode: every check, key files included, so check-config reports them with the rest.
    if !cfg.issuer.enabled {
        for rule in cfg.rules.rules_using(crate::mapping::StsMode::Issuer) {
            errors.push(format!(
                "rules ({rule:?}): grants a role in mode \"issuer\", but [issuer] enabled = false; enable issuer mode (with keys) or change the grant's mode"
            ));
        }
    }
    if cfg.issuer.enabled {
        for e in crate::issuer::config_problems(&cfg.issuer, &cfg.server.public_url) {
            errors.push(e);
        }
    }
}

/// OIDC issuers: https, or http on loopback only with `allow_insecure_http = true`.
fn check_oidc_issuer(errors: &mut ConfigErrors, at: &str, p: &OidcProviderConfig) {
    let key = format!("{at}.issuer");
    match url::Url::parse(&p.issuer) {
        Ok(u) if u.scheme() == "https" => {}
        Ok(u) if u.scheme() == "http" => {
            let loopback = crate::oidc::discovery::is_loopback(&u);
            if !(loopback && p.allow_insecure_http) {
                errors.push(format!(
                    "{key} = {:?}: must be https:// (plain http only for a loopback issuer with allow_insecure_http = true)",
                    p.issuer
                ));
            }
        }
        Ok(_) => errors.push(format!("{key} = {:?}: must be an https URL", p.issuer)),
        Err(e) => errors.push(format!("{key} = {:?}: not a URL ({e})", p.issuer)),
    }
    if p.allow_insecure_http
        && !url::Url::parse(&p.issuer).is_ok_and(|u| crate::oidc::discovery::is_loopback(&u))
    {
        errors.push(format!(
            "{at}.allow_insecure_http: only honoured for a loopback issuer; remove it"
        ));
    }
}

/// `[console]`: destination prefixes, the issuer URL and per-partition federation endpoints.
fn check_console(errors: &mut ConfigErrors, c: &ConsoleConfig) {
    for (i, d) in c.allowed_destinations.iter().flatten().enumerate() {
        if let Err(e) = crate::console::AllowedDestination::prefix(d) {
            errors.push(format!("console.allowed_destinations[{i}] = {d:?}: {e}"));
        }
    }
    if let Some(u) = &c.issuer_url {
        check_url(errors, "console.issuer_url", u, true);
    }
    for (partition, url) in &c.federation_endpoints {
        match crate::console::Partition::from_name(partition) {
            Some(crate::console::Partition::Aws) => errors.push(
                "console.federation_endpoints.aws: set aws.federation_endpoint instead",
            ),
            Some(_) => check_url(
                errors,
                &format!("console.federation_endpoints.{partition}"),
                url,
                true,
            ),
            None => errors.push(format!(
                "console.federation_endpoints: unknown partition {partition:?} (aws-us-gov or aws-cn)"
            )),
        }
    }
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// An AWS Region name like `us-east-1` or `us-gov-west-1` (syntax only).
pub fn is_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && parts[0].len() == 2
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
        && parts
            .last()
            .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()))
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

fn check_url(errors: &mut ConfigErrors, key: &str, value: &str, allow_loopback_http: bool) {
    match url::Url::parse(value) {
        Ok(u) if u.scheme() == "https" => {}
        Ok(u) if u.scheme() == "http" => {
            let loopback = matches!(u.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
            if !(loopback
                && (allow_loopback_http
                    || key.contains("public_url")
                    || key.contains("metadata_url")
                    || key.contains("issuer")))
            {
                errors.push(format!(
                    "{key} = {value:?}: must be https:// (plain http only on loopback)"
                ));
            }
        }
        Ok(_) => errors.push(format!("{key} = {value:?}: must be an http(s) URL")),
        Err(e) => errors.push(format!("{key} = {value:?}: not a URL ({e})")),
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

#[cfg(test)]
mod tests {
    use crate::config::load_str;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn contract_example_loads() {
        let cfg = load_str(
            r#"
[server]
listen = "127.0.0.1:8080"
public_url = "http://127.0.0.1:8080"
[aws]
region = "us-east-1"
sts_endpoint = "http://127.0.0.1:5000"
federation_endpoint = "https://signin.aws.amazon.com/federation"
[cache]
redis_url = "redis://127.0.0.1:6379"
encryption_keys = ["k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="]
[[saml.idps]]
name = "corp"
metadata_file = "config/idp-metadata.xml"
[[oidc.providers]]
name = "ci"
issuer = "https://token.actions.githubusercontent.com"
audiences = ["sts.amazonaws.com"]
ca_file = "certs/extra-ca.pem"
"#,
            env(&[]),
        )
        .unwrap();
        assert_eq!(cfg.saml.idps[0].name, "corp");
        assert_eq!(
            cfg.aws.sts_endpoint.as_deref(),
            Some("http://127.0.0.1:5000")
        );
    }

    #[test]
    fn env_overrides_nested_and_indexed_keys() {
        let cfg = load_str(
            "[[saml.idps]]\nname = \"corp\"\nmetadata_file = \"a.xml\"\n",
            env(&[
                ("FEDBROKER_AWS__REGION", "eu-west-1"),
                ("FEDBROKER_SERVER__MAX_BODY_BYTES", "4096"),
                ("FEDBROKER_SAML__IDPS__0__METADATA_FILE", "b.xml"),
                ("FEDBROKER_SAML__IDPS__1__NAME", "second"),
                ("FEDBROKER_SAML__IDPS__1__METADATA_FILE", "c.xml"),
                ("FEDBROKER_TEST_REDIS_URL", "ignored: no double underscore"),
            ]),
        )
        .unwrap();
        assert_eq!(cfg.aws.region, "eu-west-1");
        assert_eq!(cfg.server.max_body_bytes, 4096);
        assert_eq!(cfg.saml.idps[0].metadata_file.as_deref(), Some("b.xml"));
        assert_eq!(cfg.saml.idps[1].name, "second");
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let err = load_str(
            r#"
[server]
listen = "nope"
bogus = 1
[aws]
region = "Mars"
[cache]
redis_url = "http://x"
[unknown]
[[saml.idps]]
name = "Bad Name"
"#,
            env(&[("FEDBROKER_LOG__LEVEL", "[[[")]),
        )
        .unwrap_err();
        let all = err.to_string();
        for needle in [
            "[server]",
            "aws.region",
            "cache.redis_url",
            "[unknown]",
            "saml.idps",
        ] {
            assert!(all.contains(needle), "missing {needle} in:\n{all}");
        }
        assert!(err.0.len() >= 5, "{all}");
    }

    #[test]
    fn max_assertion_age_outside_its_range_is_refused() {
        let toml = |age: u64| {
            format!("[[saml.idps]]\nname = \"corp\"\nmetadata_file = \"a.xml\"\nmax_assertion_age_seconds = {age}\n")
        };
        for bad in [0, 59, 3601] {
            let errs = load_str(&toml(bad), Vec::<(String, String)>::new())
                .unwrap_err()
                .to_string();
            assert!(errs.contains("max_assertion_age_seconds"), "{errs}");
        }
        for good in [60, 300, 3600] {
            let cfg = load_str(&toml(good), Vec::<(String, String)>::new()).unwrap();
            assert_eq!(cfg.saml.idps[0].max_assertion_age_seconds, Some(good));
        }
    }

    #[test]
    fn body_timeout_outside_its_range_is_refused() {
        let toml = |secs: u64| format!("[server]\nbody_timeout_secs = {secs}\n");
        for bad in [0, 301] {
            let errs = load_str(&toml(bad), Vec::<(String, String)>::new())
                .unwrap_err()
                .to_string();
            assert!(errs.contains("server.body_timeout_secs"), "{errs}");
        }
        let cfg = load_str(&toml(1), Vec::<(String, String)>::new()).unwrap();
        assert_eq!(cfg.server.body_timeout_secs, 1);
        assert_eq!(
            crate::config::Config::default().server.body_timeout_secs,
            10
        );
        assert_eq!(crate::config::Config::default().server.max_connections, 0);
    }

    #[test]
    fn allow_cbc_without_decryption_keys_is_refused() {
        let errs = load_str(
            "[[saml.idps]]\nname = \"corp\"\nmetadata_file = \"a.xml\"\nallow_cbc = true\n",
            Vec::<(String, String)>::new(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            errs.contains("allow_cbc has no effect without decryption_key_files"),
            "{errs}"
        );
        let ok = load_str(
            "[[saml.idps]]\nname = \"corp\"\nmetadata_file = \"a.xml\"\nallow_cbc = true\n\
             decryption_key_files = [\"certs/test-sp-enc.key\"]\n",
            Vec::<(String, String)>::new(),
        )
        .unwrap();
        assert!(ok.saml.idps[0].allow_cbc);
        assert_eq!(ok.saml.idps[0].decryption_key_files.len(), 1);
    }

    #[test]
    fn browser_sign_in_settings_are_checked() {
        let errs = load_str(
            "[saml]\nallowed_relay_states = [\"https://evil.example/\", \"//x\"]\n\
             [[oidc.providers]]\nname = \"p\"\nissuer = \"https://idp.example.com\"\n\
             audiences = [\"sts.amazonaws.com\"]\nclient_secret = \"s\"\n",
            Vec::<(String, String)>::new(),
        )
        .unwrap_err()
        .to_string();
        assert!(errs.contains("client_secret without client_id"), "{errs}");
        assert!(
            errs.contains("\"https://evil.example/\" must be a local path"),
            "{errs}"
        );
        assert!(errs.contains("\"//x\" must be a local path"), "{errs}");
    }

    #[test]
    fn admin_token_and_revocation_block_are_checked() {
        let errs = load_str(
            "[server]\nadmin_token = \"short\"\n[cache]\nrevocation_block_seconds = 90000\n",
            Vec::<(String, String)>::new(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            errs.contains("server.admin_token must be at least 32"),
            "{errs}"
        );
        assert!(errs.contains("cache.revocation_block_seconds"), "{errs}");
        let errs = load_str(
            "[server]\nadmin_token_file = \"/nonexistent/admin-token\"\n",
            Vec::<(String, String)>::new(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            errs.contains("cannot read /nonexistent/admin-token"),
            "{errs}"
        );
        let ok = load_str(
            &format!("[server]\nadmin_token = \"{}\"\n", "x".repeat(32)),
            Vec::<(String, String)>::new(),
        );
        assert!(ok.is_ok());
    }

    #[test]
    fn cache_encryption_keys_are_checked() {
        let key = "k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
        let cfg = load_str(
            &format!("[cache]\nencryption_keys = [\"{key}\"]\n"),
            env(&[]),
        )
        .unwrap();
        assert_eq!(cfg.cache.encryption_keys.len(), 1);
        let err = load_str(
            "[cache]\nencryption_keys = [\"k1:c2hvcnQ=\"]\nredis_cluster_urls = [\"redis://127.0.0.1:7000\"]\n",
            env(&[]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("32 bytes"), "{err}");
        assert!(!err.contains("c2hvcnQ"), "key material echoed: {err}");
        let err = load_str(
            "[cache]\nredis_cluster_urls = [\"redis://127.0.0.1:7000\"]\n",
            env(&[]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("encryption_keys"), "{err}");
    }

    #[test]
    fn tls_listener_keys_go_together() {
        let load = |toml: &str| load_str(toml, env(&[])).err().map(|e| e.to_string());
        let err = load("[server]\ntls_cert_file = \"c.pem\"\n").unwrap();
        assert!(err.contains("without server.tls_key_file"), "{err}");
        let err = load("[server]\ntls_key_file = \"k.pem\"\n").unwrap();
        assert!(err.contains("without server.tls_cert_file"), "{err}");
        let err = load("[server]\ntls_client_ca_file = \"ca.pem\"\n").unwrap();
        assert!(
            err.contains("tls_client_ca_file needs the TLS listener"),
            "{err}"
        );
        // The default public_url is plain http: with a TLS listener it must be the https one.
        let err = load("[server]\ntls_cert_file = \"c.pem\"\ntls_key_file = \"k.pem\"\n").unwrap();
        assert!(
            err.contains("server.public_url must be the https://"),
            "{err}"
        );
        assert_eq!(
            load(
                "[server]\npublic_url = \"https://broker.example.com\"\ntls_cert_file = \"c.pem\"\n\
                 tls_key_file = \"k.pem\"\ntls_client_ca_file = \"ca.pem\"\n"
            ),
            None
        );
    }

    #[test]
    fn https_required_except_loopback() {
        let err = load_str(
            "[aws]\nsts_endpoint = \"http://sts.example.com\"\n",
            env(&[]),
        )
        .unwrap_err();
        assert!(err.to_string().contains("must be https"));
        assert!(load_str(
            "[aws]\nsts_endpoint = \"http://127.0.0.1:5000\"\n",
            env(&[])
        )
        .is_ok());
    }

    #[test]
    fn oidc_provider_keys_and_http_opt_in() {
        let ok = load_str(
            r#"
[[oidc.providers]]
name = "ci"
issuer = "https://token.actions.githubusercontent.com"
audiences = ["sts.amazonaws.com"]
allowed_algorithms = ["RS256", "ES256"]
jwks_ttl_secs = 600
claim_conditions = { sub = ["repo:my-org/*"] }
[[oidc.providers]]
name = "local"
issuer = "http://127.0.0.1:9000"
audiences = ["a"]
allow_insecure_http = true
"#,
            env(&[]),
        )
        .unwrap();
        assert_eq!(
            ok.oidc.providers[0].claim_conditions.as_ref().unwrap()["sub"].len(),
            1
        );
        let err = load_str(
            r#"
[[oidc.providers]]
name = "a"
issuer = "http://127.0.0.1:9000"
audiences = ["a"]
[[oidc.providers]]
name = "b"
issuer = "http://idp.example"
audiences = ["a"]
allow_insecure_http = true
allowed_algorithms = ["HS256", "none"]
jwks_ttl_secs = 1
"#,
            env(&[]),
        )
        .unwrap_err()
        .to_string();
        for needle in [
            "providers[0]",
            "allow_insecure_http",
            "allowed_algorithms",
            "jwks_ttl_secs",
        ] {
            assert!(err.contains(needle), "missing {needle} in:\n{err}");
        }
    }

    #[test]
    fn saml_idp_and_oidc_provider_sharing_a_name_is_a_config_error() {
        let err = load_str(
            r#"
[[saml.idps]]
name = "corp"
metadata_file = "a.xml"
[[oidc.providers]]
name = "corp"
issuer = "https://idp.example.com"
audiences = ["a"]
"#,
            env(&[]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("oidc.providers[0] (\"corp\"): name is also used by saml.idps[0]"),
            "{err}"
        );
    }

    #[test]
    fn metrics_listen_must_be_an_address_other_than_the_public_listener() {
        let load = |listen: &str, metrics: &str| {
            load_str(
                &format!("[server]\nlisten = \"{listen}\"\nmetrics_listen = \"{metrics}\"\n"),
                env(&[]),
            )
        };
        let cfg = load("0.0.0.0:8080", "0.0.0.0:9090").unwrap();
        assert_eq!(cfg.server.metrics_listen.as_deref(), Some("0.0.0.0:9090"));
        assert!(load("127.0.0.1:8080", "127.0.0.2:8080").is_ok(), "other IP");
        for (listen, metrics) in [
            ("127.0.0.1:8080", "127.0.0.1:8080"),
            ("0.0.0.0:8080", "127.0.0.1:8080"),
            ("127.0.0.1:8080", "0.0.0.0:8080"),
            ("[::]:8080", "127.0.0.1:8080"),
        ] {
            let err = load(listen, metrics).unwrap_err().to_string();
            assert!(
                err.contains("server.metrics_listen") && err.contains("takes the port"),
                "{listen} / {metrics}: {err}"
            );
        }
        let err = load("127.0.0.1:8080", "metrics.internal")
            .unwrap_err()
            .to_string();
        assert!(err.contains("is not an address like 0.0.0.0:9090"), "{err}");
        let cfg = load_str("", env(&[])).unwrap();
        assert_eq!(cfg.server.metrics_listen, None, "off by default");
    }

    const KEY: &str = "k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

    /// The config errors of a `[cache]` section (with an encryption key unless it sets one).
    fn cache_errors(body: &str) -> String {
        let key = if body.contains("encryption_key") {
            String::new()
        } else {
            format!("encryption_keys = [\"{KEY}\"]\n")
        };
        match load_str(&format!("[cache]\n{key}{body}"), env(&[])) {
            Ok(_) => String::new(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn valid_redis_topologies_load() {
        for body in [
            "redis_url = \"rediss://127.0.0.1:6380\"\ntls_ca_file = \"certs/chain-root.crt\"\n\
             tls_cert_file = \"certs/chain-leaf.crt\"\ntls_key_file = \"certs/chain-leaf.key\"\n",
            "redis_cluster_urls = [\"rediss://127.0.0.1:7000\", \"rediss://127.0.0.1:7001\"]\n",
            "sentinel_urls = [\"redis://127.0.0.1:26379\"]\nsentinel_master = \"mymaster\"\n",
            "sentinel_urls = [\"rediss://127.0.0.1:26379\"]\nsentinel_master = \"mymaster\"\n\
             sentinel_master_password = \"pw\"\ntls_ca_file = \"certs/chain-root.crt\"\n",
        ] {
            assert_eq!(cache_errors(body), "", "{body}");
        }
    }

    #[test]
    fn two_redis_topologies_at_once_are_refused() {
        let err = cache_errors(
            "redis_url = \"redis://127.0.0.1:6379\"\n\
             redis_cluster_urls = [\"redis://127.0.0.1:7000\"]\n",
        );
        assert!(err.contains("one Redis topology"), "{err}");
        let err = cache_errors(
            "redis_url = \"redis://127.0.0.1:6379\"\nsentinel_urls = [\"redis://127.0.0.1:26379\"]\n\
             sentinel_master = \"m\"\n",
        );
        assert!(err.contains("one Redis topology"), "{err}");
    }

    #[test]
    fn sentinel_urls_without_a_master_name_are_refused() {
        let err = cache_errors("sentinel_urls = [\"redis://127.0.0.1:26379\"]\n");
        assert!(err.contains("cache.sentinel_master"), "{err}");
    }

    #[test]
    fn sentinel_master_without_sentinel_urls_is_refused() {
        let err = cache_errors("redis_url = \"redis://127.0.0.1:6379\"\nsentinel_master = \"m\"\n");
        assert!(err.contains("without cache.sentinel_urls"), "{err}");
        let err = cache_errors("sentinel_master_password = \"pw\"\n");
        assert!(err.contains("without cache.sentinel_urls"), "{err}");
    }

    #[test]
    fn sentinel_url_that_is_not_redis_is_refused() {
        let err =
            cache_errors("sentinel_urls = [\"http://127.0.0.1:26379\"]\nsentinel_master = \"m\"\n");
        assert!(err.contains("cache.sentinel_urls: every entry"), "{err}");
    }

    #[test]
    fn client_certificate_without_its_key_is_refused() {
        let err = cache_errors(
            "redis_url = \"rediss://127.0.0.1:6380\"\ntls_cert_file = \"certs/chain-leaf.crt\"\n",
        );
        assert!(err.contains("needs both"), "{err}");
        let err = cache_errors(
            "redis_url = \"rediss://127.0.0.1:6380\"\ntls_key_file = \"certs/chain-leaf.key\"\n",
        );
        assert!(err.contains("needs both"), "{err}");
    }

    #[test]
    fn client_key_of_another_certificate_is_refused() {
        let err = cache_errors(
            "redis_url = \"rediss://127.0.0.1:6380\"\ntls_cert_file = \"certs/chain-leaf.crt\"\n\
             tls_key_file = \"certs/chain-intermediate.key\"\n",
        );
        assert!(err.contains("not the certificate's private key"), "{err}");
        assert!(!err.contains("PRIVATE KEY"), "key material echoed: {err}");
    }

    #[test]
    fn unreadable_or_non_pem_tls_files_are_refused() {
        let err = cache_errors(
            "redis_url = \"rediss://127.0.0.1:6380\"\ntls_ca_file = \"certs/no-such-ca.pem\"\n",
        );
        assert!(err.contains("cache.tls_ca_file: cannot read"), "{err}");
        let err = cache_errors(
            "redis_url = \"rediss://127.0.0.1:6380\"\ntls_ca_file = \"certs/chain-root.key\"\n",
        );
        assert!(
            err.contains("cache.tls_ca_file") && err.contains("CERTIFICATE"),
            "{err}"
        );
        let err = cache_errors(
            "redis_url = \"rediss://127.0.0.1:6380\"\ntls_cert_file = \"certs/chain-leaf.crt\"\n\
             tls_key_file = \"certs/chain-leaf.crt\"\n",
        );
        assert!(
            err.contains("cache.tls_key_file") && err.contains("no PEM private key"),
            "{err}"
        );
    }

    #[test]
    fn tls_files_without_a_rediss_url_are_refused() {
        let err = cache_errors(
            "redis_url = \"redis://127.0.0.1:6379\"\ntls_ca_file = \"certs/chain-root.crt\"\n",
        );
        assert!(err.contains("no Redis URL is rediss://"), "{err}");
        let err = cache_errors("tls_ca_file = \"certs/chain-root.crt\"\n");
        assert!(err.contains("no Redis URL is rediss://"), "{err}");
    }

    #[test]
    fn rediss_url_that_turns_off_certificate_checks_is_refused() {
        let err = cache_errors("redis_url = \"rediss://127.0.0.1:6380/#insecure\"\n");
        assert!(err.contains("#insecure"), "{err}");
        let err = cache_errors("redis_cluster_urls = [\"rediss://127.0.0.1:7000#insecure\"]\n");
        assert!(err.contains("#insecure"), "{err}");
    }

    #[test]
    fn mixed_tls_and_plain_cluster_urls_are_refused() {
        let err = cache_errors(
            "redis_cluster_urls = [\"rediss://127.0.0.1:7000\", \"redis://127.0.0.1:7001\"]\n",
        );
        assert!(err.contains("mix of redis:// and rediss://"), "{err}");
    }

    #[test]
    fn redis_without_an_encryption_key_is_refused_as_it_would_leave_stores_per_replica() {
        for body in [
            "redis_url = \"redis://127.0.0.1:6379\"\n",
            "redis_cluster_urls = [\"redis://127.0.0.1:7000\"]\n",
            "sentinel_urls = [\"redis://127.0.0.1:26379\"]\nsentinel_master = \"m\"\n",
            // Even with the credential cache off, browser sessions would stay per-replica.
            "redis_url = \"redis://127.0.0.1:6379\"\nenabled = false\n",
        ] {
            let err = match load_str(&format!("[cache]\n{body}"), env(&[])) {
                Ok(_) => String::new(),
                Err(e) => e.to_string(),
            };
            assert!(err.contains("per-replica"), "{body}: {err}");
        }
    }

    #[test]
    fn key_prefix_with_a_hash_tag_is_refused() {
        let err = cache_errors("redis_url = \"redis://127.0.0.1:6379\"\nkey_prefix = \"{x}:\"\n");
        assert!(err.contains("cache.key_prefix"), "{err}");
    }

    #[test]
    fn every_redis_problem_is_reported_at_once_without_the_password() {
        let err = match load_str(
            "[cache]\nredis_url = \"redis://:s3cret-pw@127.0.0.1:6379\"\n\
             redis_cluster_urls = [\"redis://:s3cret-pw@127.0.0.1:7000\"]\n\
             tls_cert_file = \"certs/chain-leaf.crt\"\nsentinel_master = \"m\"\n",
            env(&[]),
        ) {
            Ok(_) => panic!("accepted"),
            Err(e) => e,
        };
        let all = err.to_string();
        for needle in [
            "one Redis topology",
            "needs both",
            "no Redis URL is rediss://",
            "without cache.sentinel_urls",
            "per-replica",
        ] {
            assert!(all.contains(needle), "missing {needle} in:\n{all}");
        }
        assert!(!all.contains("s3cret-pw"), "password echoed: {all}");
    }
}
