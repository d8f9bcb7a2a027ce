//! What a reload compares with the running process: the sections that only take effect at start
//! (they need a restart), the new rules' references to things only a restart brings (issuer mode,
//! OIDC providers), and which SAML IdPs changed.
//!
//! Invariant: comparisons never log or return a value, only section, rule and IdP names; secret
//! fields (redacted in `Debug`) are compared exposed, in memory, so a changed Redis URL or admin
//! token is still reported as a section that needs a restart.

use crate::config::Config;
use crate::mapping::StsMode;
use crate::saml::TrustedIdp;
use secrecy::{ExposeSecret, SecretString};
use std::fmt::Debug;

/// The sections a reload applies; every other section keeps its start-up value until a restart.
pub const RELOADABLE: [&str; 3] = ["saml", "mapping", "rules"];

/// The sections of `new` that differ from the running configuration but need a restart, in file
/// order of the README table.
pub fn restart_needed(running: &Config, new: &Config) -> Vec<&'static str> {
    let (a, b) = (running, new);
    let changed = [
        (
            "server",
            differ(&a.server, &b.server)
                || secrets_differ(a.server.admin_token.as_ref(), b.server.admin_token.as_ref()),
        ),
        ("aws", differ(&a.aws, &b.aws)),
        (
            "cache",
            differ(&a.cache, &b.cache)
                || secrets_differ(a.cache.redis_url.as_ref(), b.cache.redis_url.as_ref())
                || secrets_differ(&a.cache.redis_cluster_urls, &b.cache.redis_cluster_urls)
                || secrets_differ(&a.cache.sentinel_urls, &b.cache.sentinel_urls)
                || secrets_differ(
                    a.cache.sentinel_master_password.as_ref(),
                    b.cache.sentinel_master_password.as_ref(),
                )
                || secrets_differ(&a.cache.encryption_keys, &b.cache.encryption_keys),
        ),
        ("log", differ(&a.log, &b.log)),
        (
            "oidc",
            differ(&a.oidc, &b.oidc)
                || secrets_differ(
                    a.oidc
                        .providers
                        .iter()
                        .filter_map(|p| p.client_secret.as_ref()),
                    b.oidc
                        .providers
                        .iter()
                        .filter_map(|p| p.client_secret.as_ref()),
                ),
        ),
        ("issuer", differ(&a.issuer, &b.issuer)),
        ("console", differ(&a.console, &b.console)),
        ("audit", differ(&a.audit, &b.audit)),
        ("limits", differ(&a.limits, &b.limits)),
    ];
    changed
        .into_iter()
        .filter(|(_, changed)| *changed)
        .map(|(section, _)| section)
        .collect()
}

/// Problems with `new`'s rules in *this* process: start-up would refuse rules that grant in mode
/// "issuer" without issuer mode, or that match a provider that is not configured; here "running"
/// means the issuer and OIDC providers the process started with (they need a restart) and the
/// SAML IdPs of the new file.
pub fn rules_against_running(running: &Config, new: &Config, issuer_running: bool) -> Vec<String> {
    let mut problems = Vec::new();
    if !issuer_running {
        for rule in new.rules.rules_using(StsMode::Issuer) {
            problems.push(format!(
                "rules ({rule:?}): grants a role in mode \"issuer\", but issuer mode is not \
                 running in this process; [issuer] changes need a restart"
            ));
        }
    }
    for (rule, provider) in new.rules.providers() {
        let saml = new.saml.idps.iter().any(|i| i.name == provider);
        let oidc = running.oidc.providers.iter().any(|p| p.name == provider);
        if !saml && !oidc {
            problems.push(format!(
                "rules ({rule:?}): matches provider {provider:?}, which is not running in this \
                 process; [oidc] changes need a restart"
            ));
        }
    }
    problems
}

/// Names of the IdPs added, removed or whose trust changed (entity ID, signing keys, audiences,
/// recipients, SSO URL, algorithm policy), sorted.
pub fn changed_idps(old: &[TrustedIdp], new: &[TrustedIdp]) -> Vec<String> {
    let same = |a: &TrustedIdp, b: &TrustedIdp| {
        a.entity_id == b.entity_id
            && a.audiences == b.audiences
            && a.recipients == b.recipients
            && a.sso_redirect_url == b.sso_redirect_url
            && a.algorithm_policy == b.algorithm_policy
            && a.signing_certs.len() == b.signing_certs.len()
            && a.signing_certs
                .iter()
                .zip(&b.signing_certs)
                .all(|(x, y)| x.der_data() == y.der_data())
    };
    let mut names: Vec<String> = old
        .iter()
        .filter(|o| !new.iter().any(|n| n.name == o.name && same(o, n)))
        .chain(new.iter().filter(|n| !old.iter().any(|o| o.name == n.name)))
        .map(|i| i.name.clone())
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Compare through `Debug` (every config struct derives it; secrets print as `[REDACTED]`).
fn differ<T: Debug>(a: &T, b: &T) -> bool {
    format!("{a:?}") != format!("{b:?}")
}

fn secrets_differ<'a>(
    a: impl IntoIterator<Item = &'a SecretString>,
    b: impl IntoIterator<Item = &'a SecretString>,
) -> bool {
    let a: Vec<&str> = a.into_iter().map(|s| s.expose_secret()).collect();
    let b: Vec<&str> = b.into_iter().map(|s| s.expose_secret()).collect();
    a != b
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load_str;

    fn cfg(toml: &str) -> Config {
        load_str(toml, Vec::<(String, String)>::new()).expect("config loads")
    }

    #[test]
    fn unchanged_file_needs_no_restart() {
        let a = cfg("[server]\nlisten = \"127.0.0.1:1\"\n");
        assert!(restart_needed(&a, &a.clone()).is_empty());
    }

    #[test]
    fn changed_sections_are_named_and_reloadable_ones_are_not() {
        let a = cfg("[server]\nlisten = \"127.0.0.1:1\"\n[limits]\nper_client_per_minute = 5\n");
        let b = cfg(
            "[server]\nlisten = \"127.0.0.1:2\"\n[limits]\nper_client_per_minute = 6\n\
             [saml]\nallowed_relay_states = [\"/x\"]\n",
        );
        assert_eq!(restart_needed(&a, &b), ["server", "limits"]);
    }

    #[test]
    fn a_changed_secret_is_detected_though_debug_redacts_it() {
        let key = "encryption_keys = [\"k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"]";
        let a = cfg(&format!(
            "[cache]\n{key}\nredis_url = \"redis://:one@127.0.0.1:6379\"\n"
        ));
        let b = cfg(&format!(
            "[cache]\n{key}\nredis_url = \"redis://:two@127.0.0.1:6379\"\n"
        ));
        assert_eq!(format!("{:?}", a.cache), format!("{:?}", b.cache));
        assert_eq!(restart_needed(&a, &b), ["cache"]);
        let t1 = format!("[server]\nadmin_token = \"{}\"\n", "a".repeat(32));
        let t2 = format!("[server]\nadmin_token = \"{}\"\n", "b".repeat(32));
        assert_eq!(restart_needed(&cfg(&t1), &cfg(&t2)), ["server"]);
    }

    #[test]
    fn rules_for_things_only_a_restart_brings_are_problems() {
        let running = cfg("");
        let new = cfg(r#"
[[oidc.providers]]
name = "ci"
issuer = "https://token.example.com"
audiences = ["sts.amazonaws.com"]

[[rules]]
name = "ci-deploy"
[rules.match]
provider = "ci"
[[rules.grants]]
role_arn = "arn:aws:iam::111122223333:role/Deploy"
mode = "pass-through"
"#);
        let problems = rules_against_running(&running, &new, false);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].contains("\"ci-deploy\"") && problems[0].contains("\"ci\""),
            "{problems:?}"
        );
        assert!(rules_against_running(&new, &new, false).is_empty());
    }

    #[test]
    fn turning_legacy_algorithms_on_changes_the_idp() {
        let idp = |policy| {
            TrustedIdp::from_metadata_xml_with_policy(
                "corp",
                include_str!("../../config/test-idp-metadata.xml"),
                vec!["a".into()],
                vec!["r".into()],
                policy,
            )
            .unwrap()
        };
        use crate::saml::keys::AlgorithmPolicy::{Legacy, Strict};
        assert!(changed_idps(&[idp(Strict)], &[idp(Strict)]).is_empty());
        assert_eq!(changed_idps(&[idp(Strict)], &[idp(Legacy)]), ["corp"]);
    }
}
