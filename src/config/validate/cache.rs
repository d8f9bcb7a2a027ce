//! `[cache]`: the Redis topology and its URLs, TLS files, the encryption keyring (required with
//! Redis, so no store stays per-replica), the revocation block length and the credential
//! cache's command budget.

use crate::config::errors::ConfigErrors;
use crate::config::model::{
    CacheConfig, CREDENTIAL_CACHE_TIMEOUT_MS, MAX_REVOCATION_BLOCK_SECONDS,
};
use secrecy::ExposeSecret;

pub(super) fn check(errors: &mut ConfigErrors, cache: &CacheConfig) {
    check_redis(errors, cache);
    if cache.revocation_block_seconds > MAX_REVOCATION_BLOCK_SECONDS {
        errors.push(format!(
            "cache.revocation_block_seconds must be at most {MAX_REVOCATION_BLOCK_SECONDS} (a day)"
        ));
    }
    if !CREDENTIAL_CACHE_TIMEOUT_MS.contains(&cache.credential_cache_timeout_ms) {
        errors.push(format!(
            "cache.credential_cache_timeout_ms must be between {} and {} (milliseconds)",
            CREDENTIAL_CACHE_TIMEOUT_MS.start(),
            CREDENTIAL_CACHE_TIMEOUT_MS.end()
        ));
    }
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

#[cfg(test)]
mod tests {
    use crate::config::load_str;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
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
