//! `fedbroker check-config --probe`: after the offline checks, contact every service the
//! configuration names and report each one (ok / failed / skipped) and every problem at once.
//!
//! What is probed, with the broker's own code wherever the broker has it:
//! - Redis (`cache.redis_url`, `cache.redis_cluster_urls` or `cache.sentinel_urls`, with the
//!   configured TLS and AUTH): `redis_link::probe` connects as the broker does, sends `PING`, then a
//!   `SET`/`GET`/`DEL` round trip on a random key under `cache.key_prefix` that expires on its own
//!   even if the `DEL` never arrives;
//! - each `[[oidc.providers]]` issuer: discovery (its `issuer` must match) and its `jwks_uri`,
//!   through the broker's own fetcher (`oidc::fetch`) and JWKS parser (`oidc::keys`): the JWKS must
//!   hold a usable key that can verify one of the provider's `allowed_algorithms`;
//! - each SAML IdP `metadata_url`: fetched, parsed and checked by `trust::load_idp`, the
//!   function start-up, reloads and the metadata refresher use (plain `check-config` does this too);
//! - the STS endpoint (`aws.sts_endpoint`, else the SDK's regional default) and the console
//!   federation endpoints (`aws.federation_endpoint`, `console.federation_endpoints`), which the
//!   broker calls itself: reachability only (TCP, TLS with the system's and Mozilla's roots, any HTTP
//!   answer). No AWS call is signed and no credentials are sent.
//! - issuer mode is not probed: its discovery and JWKS are served by the broker itself, so nothing
//!   outside can be contacted before it runs.
//!
//! Invariants: probes run concurrently and each is bounded (connect and request timeouts, and
//! [`PROBE_DEADLINE`] around each), so the whole run takes about one timeout however many providers
//! are configured; no line carries a password, token or secret (Redis URLs are shown as
//! scheme://host:port only, Redis messages are scrubbed of the URL's credentials); a problem line
//! says which key or provider, what failed and what to fix.

use crate::clock::Stopwatch;
use crate::config::{CacheConfig, Config, OidcProviderConfig};
use crate::oidc::fetch::{FetchError, HttpJwksFetcher, JwksFetcher};
use crate::oidc::keys::KeySet;
use crate::oidc::provider::parse_algorithms;
use crate::trust::{idps_or_errors, load_each_idp, HttpMetadataFetcher};
use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;
use std::future::Future;
use std::time::Duration;

/// Upper bound on any single probe (the longest inner timeout, a metadata fetch, is 10 s).
pub const PROBE_DEADLINE: Duration = Duration::from_secs(12);
/// TCP + TLS connect timeout of a reachability probe (STS, federation endpoint).
pub const REACH_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Whole-request timeout of a reachability probe.
pub const REACH_TIMEOUT: Duration = Duration::from_secs(5);

/// The result of probing one service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// It answered as the broker needs; what was checked.
    Ok(String),
    /// It did not; the problem lines are in [`ProbeReport::problems`].
    Failed,
    /// Not contacted, and why.
    Skipped(String),
}

/// One probed (or deliberately skipped) service.
#[derive(Debug, Clone)]
pub struct Probed {
    /// The configuration key or provider, e.g. `cache.redis_url`, `oidc.providers "corp"`.
    pub what: String,
    /// Where, without credentials (`redis://host:port`, an issuer or endpoint URL); may be empty.
    pub target: String,
    pub status: Status,
}

impl Probed {
    /// One summary line: `ok`, `FAILED` or `skipped`, what, where and (ok, skipped) the detail.
    pub fn summary(&self) -> String {
        let target = if self.target.is_empty() {
            String::new()
        } else {
            format!(" {}", self.target)
        };
        match &self.status {
            Status::Ok(detail) => format!("probe ok      {}{target}: {detail}", self.what),
            Status::Failed => format!("probe FAILED  {}{target} (see below)", self.what),
            Status::Skipped(why) => format!("probe skipped {}{target}: {why}", self.what),
        }
    }
}

/// Everything `--probe` found.
#[derive(Debug, Default)]
pub struct ProbeReport {
    /// One entry per service, in a fixed order: Redis, OIDC providers, SAML metadata URLs, STS,
    /// federation endpoints, issuer mode.
    pub services: Vec<Probed>,
    /// Every problem, one line each. Includes the SAML IdP problems plain `check-config` reports
    /// (this run loads the IdPs instead of it), so the caller must not load them again.
    pub problems: Vec<String>,
}

/// Probe every service `cfg` names, concurrently. `now` judges SAML metadata `validUntil`.
pub async fn run(cfg: &Config, now: DateTime<Utc>) -> ProbeReport {
    let (redis, oidc, saml, sts, federation) = tokio::join!(
        redis_entry(&cfg.cache),
        futures_util::future::join_all(cfg.oidc.providers.iter().map(probe_oidc)),
        probe_saml(cfg, now),
        probe_sts(cfg),
        futures_util::future::join_all(
            federation_endpoints(cfg)
                .into_iter()
                .map(|(what, url)| async move { reachable(what, url).await })
        ),
    );
    let mut report = ProbeReport::default();
    let (saml_services, saml_problems) = saml;
    let entries = std::iter::once(redis)
        .chain(oidc)
        .chain(saml_services.into_iter().map(|p| (p, Vec::new())))
        .chain([(sts.0, sts.1)])
        .chain(federation);
    for (probed, problems) in entries {
        report.services.push(probed);
        report.problems.extend(problems);
    }
    report.problems.extend(saml_problems);
    if cfg.issuer.enabled {
        report.services.push(Probed {
            what: "issuer".into(),
            target: cfg
                .issuer
                .issuer_url
                .clone()
                .unwrap_or_else(|| cfg.server.public_url.clone()),
            status: Status::Skipped(
                "the broker serves this discovery document and JWKS itself; once it runs, \
                 check that AWS can reach them (`fedbroker thumbprint <issuer_url>`)"
                    .into(),
            ),
        });
    }
    report
}

/// Bound `fut` by [`PROBE_DEADLINE`]; past it, `what` failed with "no answer".
async fn bounded<T>(what: &str, fut: impl Future<Output = Result<T, String>>) -> Result<T, String> {
    tokio::time::timeout(PROBE_DEADLINE, fut)
        .await
        .unwrap_or_else(|_| {
            Err(format!(
                "{what}: no answer within {} s",
                PROBE_DEADLINE.as_secs()
            ))
        })
}

fn ms(d: Duration) -> String {
    format!("{} ms", d.as_millis())
}

// ---- Redis ------------------------------------------------------------------------------------

/// The Redis entry: what is configured, and [`probe_redis`]'s verdict ("skipped" without Redis).
/// Every Redis key of `[cache]` that selects a topology must be listed here, or that topology
/// would be reported as "no Redis configured" and never probed.
async fn redis_entry(cache: &CacheConfig) -> (Probed, Vec<String>) {
    let mut keys = Vec::new();
    let mut targets = Vec::new();
    if let Some(url) = &cache.redis_url {
        keys.push("cache.redis_url");
        targets.push(public_redis_target(url.expose_secret()));
    }
    if !cache.redis_cluster_urls.is_empty() {
        keys.push("cache.redis_cluster_urls");
        targets.extend(
            cache
                .redis_cluster_urls
                .iter()
                .map(|u| public_redis_target(u.expose_secret())),
        );
    }
    if !cache.sentinel_urls.is_empty() {
        keys.push("cache.sentinel_urls");
        targets.extend(
            cache
                .sentinel_urls
                .iter()
                .map(|u| public_redis_target(u.expose_secret())),
        );
    }
    let what = keys.join(" + ");
    let target = targets.join(" ");
    if keys.is_empty() {
        return (
            Probed {
                what: "cache".into(),
                target,
                status: Status::Skipped(
                    "no Redis configured: replay records, cached credentials and browser \
                     sessions stay in this process"
                        .into(),
                ),
            },
            Vec::new(),
        );
    }
    let started = Stopwatch::start();
    let problems = bounded(&what, async { Ok(probe_redis(cache).await) })
        .await
        .unwrap_or_else(|e| vec![e]);
    let status = if problems.is_empty() {
        Status::Ok(format!(
            "PING and a SET/GET/DEL round trip in {}",
            ms(started.elapsed())
        ))
    } else {
        Status::Failed
    };
    (
        Probed {
            what,
            target,
            status,
        },
        problems,
    )
}

/// Connect to each configured Redis (standalone `cache.redis_url`, Cluster
/// `cache.redis_cluster_urls`), authenticate, `PING`, and `SET`/`GET`/`DEL` a probe key; one
/// problem line per failure, naming the key, never the password.
pub async fn probe_redis(cfg: &CacheConfig) -> Vec<String> {
    crate::redis_link::probe(cfg).await
}

/// A Redis URL as `scheme://host:port[/db]`, without user name or password.
pub fn public_redis_target(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) if u.scheme() == "unix" => format!("unix://{}", u.path()),
        Ok(u) => {
            let host = u.host_str().unwrap_or("");
            let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
            let db = match u.path() {
                "" | "/" => String::new(),
                p => p.to_owned(),
            };
            format!("{}://{host}{port}{db}", u.scheme())
        }
        Err(_) => "(unparsable URL)".into(),
    }
}

// ---- OIDC -------------------------------------------------------------------------------------

/// Discovery and JWKS of one provider, with the broker's fetcher and parser.
async fn probe_oidc(p: &OidcProviderConfig) -> (Probed, Vec<String>) {
    let what = format!("oidc.providers {:?}", p.name);
    let skipped = |why: &str| {
        (
            Probed {
                what: what.clone(),
                target: p.issuer.clone(),
                status: Status::Skipped(why.into()),
            },
            Vec::new(),
        )
    };
    // A ca_file or issuer problem is already reported by the offline checks.
    let ca = match &p.ca_file {
        Some(path) => match std::fs::read(path) {
            Ok(pem) => Some(pem),
            Err(_) => return skipped("ca_file cannot be read (reported above)"),
        },
        None => None,
    };
    let Ok(fetcher) = HttpJwksFetcher::new(&p.issuer, ca.as_deref(), p.allow_insecure_http) else {
        return skipped("the provider's configuration is refused (reported above)");
    };
    let started = Stopwatch::start();
    let result = bounded(&what, async {
        let fix = |m: &str| {
            if m.contains("certificate") {
                match &p.ca_file {
                    Some(_) => "ca_file must hold the CA that issued the IdP's certificate",
                    None => "set ca_file to the CA that issued the IdP's certificate",
                }
            } else {
                "check that issuer is exact (trailing slash included) and that this host can \
                 reach it (DNS, egress firewall, proxy)"
            }
        };
        let jwks = fetcher.fetch_jwks().await.map_err(|e| match e {
            FetchError::Discovery(m) => format!(
                "{what}: discovery ({}) failed: {m}; {}",
                crate::oidc::discovery::discovery_url(&p.issuer)
                    .map(|u| u.to_string())
                    .unwrap_or_default(),
                fix(&m)
            ),
            FetchError::Jwks(m) => format!(
                "{what}: the jwks_uri named by discovery failed: {m}; the IdP must serve its keys \
                 there ({})",
                fix(&m)
            ),
        })?;
        let set = KeySet::usable_from_jwks(&jwks).map_err(|m| {
            format!(
                "{what}: the JWKS is not usable: {m}; the IdP must publish its public signing \
                 keys as a JSON Web Key Set"
            )
        })?;
        let algs = parse_algorithms(p.allowed_algorithms.as_deref()).unwrap_or_default();
        if !set.verifies_any_of(&algs) {
            let names: Vec<String> = algs.iter().map(|a| a.to_string()).collect();
            return Err(format!(
                "{what}: no key in the JWKS can verify any of allowed_algorithms [{}]; allow the \
                 algorithm the IdP signs with",
                names.join(", ")
            ));
        }
        Ok(set.len())
    })
    .await;
    match result {
        Ok(n) => (
            Probed {
                what,
                target: p.issuer.clone(),
                status: Status::Ok(format!(
                    "discovery and JWKS ({n} usable key(s)) in {}",
                    ms(started.elapsed())
                )),
            },
            Vec::new(),
        ),
        Err(problem) => (
            Probed {
                what,
                target: p.issuer.clone(),
                status: Status::Failed,
            },
            vec![problem],
        ),
    }
}

// ---- SAML -------------------------------------------------------------------------------------

/// Load every IdP exactly as start-up does (concurrently); one entry per `metadata_url`, and all
/// IdP problems (files included) in plain `check-config`'s wording.
async fn probe_saml(cfg: &Config, now: DateTime<Utc>) -> (Vec<Probed>, Vec<String>) {
    let fetcher = match HttpMetadataFetcher::new() {
        Ok(f) => f,
        Err(e) => return (Vec::new(), vec![e]),
    };
    let started = Stopwatch::start();
    let loaded = load_each_idp(cfg, &fetcher, now).await;
    let elapsed = started.elapsed();
    let services = cfg
        .saml
        .idps
        .iter()
        .zip(&loaded)
        .filter_map(|(idp, result)| {
            let url = idp.metadata_url.as_ref()?;
            Some(Probed {
                what: format!("saml.idps {:?} metadata_url", idp.name),
                target: url.clone(),
                status: match result {
                    Ok(t) => Status::Ok(format!(
                        "fetched and verified ({} signing certificate(s)) in {}",
                        t.signing_certs.len(),
                        ms(elapsed)
                    )),
                    Err(_) => Status::Failed,
                },
            })
        })
        .collect();
    let problems = idps_or_errors(cfg, loaded)
        .err()
        .map(|e| e.0)
        .unwrap_or_default();
    (services, problems)
}

// ---- AWS endpoints ------------------------------------------------------------------------------

/// The STS endpoint the broker calls: `aws.sts_endpoint`, else the SDK's default for the region.
async fn probe_sts(cfg: &Config) -> (Probed, Vec<String>) {
    match &cfg.aws.sts_endpoint {
        Some(url) => reachable("aws.sts_endpoint".into(), url.clone()).await,
        None => match default_sts_endpoint(&cfg.aws.region).await {
            Ok(url) => {
                reachable(
                    format!("STS (default for aws.region {})", cfg.aws.region),
                    url,
                )
                .await
            }
            Err(e) => (
                Probed {
                    what: "aws.region".into(),
                    target: String::new(),
                    status: Status::Failed,
                },
                vec![format!(
                    "aws.region {:?}: the SDK has no STS endpoint for it ({e}); set aws.region or \
                     aws.sts_endpoint",
                    cfg.aws.region
                )],
            ),
        },
    }
}

/// What `aws-sdk-sts` resolves for `region` without an endpoint override.
async fn default_sts_endpoint(region: &str) -> Result<String, String> {
    use aws_sdk_sts::config::endpoint::{DefaultResolver, Params, ResolveEndpoint};
    let params = Params::builder()
        .region(region)
        .build()
        .map_err(|e| e.to_string())?;
    DefaultResolver::new()
        .resolve_endpoint(&params)
        .await
        .map(|ep| ep.url().to_owned())
        .map_err(|e| e.to_string())
}

/// The federation endpoints console sign-in calls: the `aws` partition's, and any configured for
/// other partitions.
fn federation_endpoints(cfg: &Config) -> Vec<(String, String)> {
    let mut v = vec![(
        "aws.federation_endpoint".to_owned(),
        cfg.aws.federation_endpoint.clone(),
    )];
    v.extend(
        cfg.console
            .federation_endpoints
            .iter()
            .map(|(partition, url)| {
                (
                    format!("console.federation_endpoints.{partition}"),
                    url.clone(),
                )
            }),
    );
    v
}

/// Reachability of `url`: TCP, TLS (system and Mozilla roots) and any HTTP answer; no redirect
/// followed, nothing signed, no credentials sent.
async fn reachable(what: String, url: String) -> (Probed, Vec<String>) {
    let started = Stopwatch::start();
    let result = bounded(&what, async {
        let tls = crate::thumbprint::trust::client_config(&[]).map_err(|e| e.to_string())?;
        let client = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .connect_timeout(REACH_CONNECT_TIMEOUT)
            .timeout(REACH_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("cannot build HTTP client: {e}"))?;
        client
            .get(&url)
            .send()
            .await
            .map(|resp| resp.status().as_u16())
            .map_err(|e| describe_http(&e))
    })
    .await;
    match result {
        Ok(status) => (
            Probed {
                what,
                target: url,
                status: Status::Ok(format!(
                    "reachable (HTTP {status}) in {}",
                    ms(started.elapsed())
                )),
            },
            Vec::new(),
        ),
        Err(why) => {
            let problem = format!(
                "{what} ({url}): not reachable: {why}; check the URL, DNS, the egress firewall or \
                 proxy, and that the host's CA store trusts the endpoint's certificate"
            );
            (
                Probed {
                    what,
                    target: url,
                    status: Status::Failed,
                },
                vec![problem],
            )
        }
    }
}

/// A reqwest failure without the URL (the top-level message names it): a timeout, or the innermost
/// cause (`Connection refused`, a DNS failure, `invalid peer certificate: UnknownIssuer`).
pub fn describe_http(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return format!("no answer within {} s", REACH_TIMEOUT.as_secs());
    }
    let mut cause: &(dyn std::error::Error + 'static) = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_targets_never_show_credentials() {
        assert_eq!(
            public_redis_target("redis://user:hunter22@cache.internal:6380/2"),
            "redis://cache.internal:6380/2"
        );
        assert_eq!(
            public_redis_target("rediss://:hunter22@cache.internal"),
            "rediss://cache.internal"
        );
        assert_eq!(public_redis_target("not a url"), "(unparsable URL)");
    }

    #[test]
    fn summaries_name_the_key_and_the_verdict() {
        let p = Probed {
            what: "aws.sts_endpoint".into(),
            target: "http://127.0.0.1:5000".into(),
            status: Status::Failed,
        };
        assert_eq!(
            p.summary(),
            "probe FAILED  aws.sts_endpoint http://127.0.0.1:5000 (see below)"
        );
    }

    #[tokio::test]
    async fn default_sts_endpoint_is_the_sdks_regional_one() {
        assert_eq!(
            default_sts_endpoint("eu-west-1").await.unwrap(),
            "https://sts.eu-west-1.amazonaws.com"
        );
    }
}
