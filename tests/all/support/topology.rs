//! The Redis topologies every shared store is tested on, as one list the conformance suites, the
//! failover test and the two-replica end-to-end test iterate over: standalone (`redis://`), TLS
//! (`rediss://` with a private CA and a client certificate the server requires), Redis Cluster
//! (cluster URLs alone), Cluster over TLS, Sentinel (sentinel URLs + master name) and Sentinel
//! over TLS (sentinels and data nodes TLS-only, client certificates required).
//!
//! Invariants: every topology is described once, by the `[cache]` keys a broker would be given
//! (`cache_toml`), and the stores under test are built from that same section through the
//! broker's own constructors, so a test exercises the configuration an operator writes; a
//! topology whose servers are not running is a failure naming the script that starts them, never
//! a skip; every run uses a fresh key prefix, so suites never see each other's keys; no test
//! changes a server another test uses: a test that fails a Sentinel group over, kills its master or
//! stops its replica has a group of its own ([`sentinel::Group`]), so tests need no lock and can run
//! side by side in any number of threads or processes.
#![allow(dead_code)]

use fedbroker::cache::{CredentialCache, Keyring};
use fedbroker::config::CacheConfig;
use fedbroker::replay::ReplayGuard;
use fedbroker::sign_in::BrowserKv;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The cache encryption key every topology test uses (test value, never a real one).
pub const KEY_SPEC: &str = "t1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// A shared Redis deployment a broker can be configured for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topology {
    Standalone,
    Tls,
    Cluster,
    /// Cluster nodes TLS-only (bus too) with client certificates.
    ClusterTls,
    Sentinel,
    /// Sentinels, master and replica all TLS-only with client certificates.
    SentinelTls,
}

/// A required environment variable written by a services script; fail loudly when absent.
pub fn env(name: &str, script: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: run `bash scripts/{script} start && . .fedbroker-run/{}` first \
             (scripts/test.sh does)",
            script.replace(".sh", ".env")
        )
    })
}

fn list(v: &str) -> Vec<String> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn toml_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("{s:?}")).collect();
    format!("[{}]", quoted.join(", "))
}

/// The CA and client certificate of the TLS test servers, as `[cache]` keys.
fn tls_files_toml() -> String {
    let topo = "redis-topologies.sh";
    format!(
        "tls_ca_file = {:?}\ntls_cert_file = {:?}\ntls_key_file = {:?}\n",
        env("FEDBROKER_TEST_REDIS_TLS_CA", topo),
        env("FEDBROKER_TEST_REDIS_TLS_CLIENT_CERT", topo),
        env("FEDBROKER_TEST_REDIS_TLS_CLIENT_KEY", topo),
    )
}

impl Topology {
    /// Every topology, in the order the suites run them.
    pub const ALL: [Topology; 6] = [
        Topology::Standalone,
        Topology::Tls,
        Topology::Cluster,
        Topology::ClusterTls,
        Topology::Sentinel,
        Topology::SentinelTls,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Standalone => "redis",
            Self::Tls => "redis-tls",
            Self::Cluster => "redis-cluster",
            Self::ClusterTls => "redis-cluster-tls",
            Self::Sentinel => "redis-sentinel",
            Self::SentinelTls => "redis-sentinel-tls",
        }
    }

    /// The `[cache]` keys (without the section header) selecting this topology, read from the
    /// environment the services scripts write.
    pub fn topology_toml(self) -> String {
        match self {
            Self::Standalone => {
                let url = env("FEDBROKER_TEST_REDIS_URL", "services.sh");
                format!("redis_url = {url:?}\n")
            }
            Self::Tls => format!(
                "redis_url = {:?}\n{}",
                env("FEDBROKER_TEST_REDIS_TLS_URL", "redis-topologies.sh"),
                tls_files_toml()
            ),
            Self::Cluster => {
                let urls = list(&env(
                    "FEDBROKER_TEST_REDIS_CLUSTER_URLS",
                    "redis-cluster.sh",
                ));
                format!("redis_cluster_urls = {}\n", toml_list(&urls))
            }
            Self::ClusterTls => {
                let urls = list(&env(
                    "FEDBROKER_TEST_REDIS_CLUSTER_TLS_URLS",
                    "redis-topologies.sh",
                ));
                format!(
                    "redis_cluster_urls = {}\n{}",
                    toml_list(&urls),
                    tls_files_toml()
                )
            }
            Self::Sentinel => {
                let topo = "redis-topologies.sh";
                let urls = list(&env("FEDBROKER_TEST_SENTINEL_URLS", topo));
                format!(
                    "sentinel_urls = {}\nsentinel_master = {:?}\n",
                    toml_list(&urls),
                    env("FEDBROKER_TEST_SENTINEL_MASTER", topo)
                )
            }
            Self::SentinelTls => {
                let topo = "redis-topologies.sh";
                let urls = list(&env("FEDBROKER_TEST_SENTINEL_TLS_URLS", topo));
                format!(
                    "sentinel_urls = {}\nsentinel_master = {:?}\n{}",
                    toml_list(&urls),
                    env("FEDBROKER_TEST_SENTINEL_MASTER", topo),
                    tls_files_toml()
                )
            }
        }
    }

    /// A whole `[cache]` section: this topology, `prefix` and the test encryption key.
    pub fn cache_toml(self, prefix: &str) -> String {
        format!(
            "\n[cache]\nkey_prefix = {prefix:?}\nencryption_keys = [{KEY_SPEC:?}]\n{}",
            self.topology_toml()
        )
    }

    /// The same section, parsed as the broker parses it.
    pub fn cache_config(self, prefix: &str) -> CacheConfig {
        let toml = self.cache_toml(prefix);
        let body = toml.trim_start().trim_start_matches("[cache]");
        toml::from_str(body)
            .unwrap_or_else(|e| panic!("{}: the [cache] section does not parse: {e}", self.name()))
    }

    /// Wait until the servers behind this topology accept writes (for Sentinel: a master known
    /// to the sentinels with a connected replica, e.g. after another test's failover).
    pub async fn wait_ready(self) {
        if self == Self::Sentinel {
            sentinel::wait_healthy(sentinel::Group::SHARED, Duration::from_secs(60)).await;
        }
    }
}

/// The six conformance tests of a store suite, one per topology (as [`Topology::ALL`]), each on a
/// 4-thread runtime calling `$run(topology)`: `redis_store_conforms`, `redis_tls_store_conforms`,
/// `redis_cluster_store_conforms`, `redis_cluster_tls_store_conforms`,
/// `redis_sentinel_store_conforms`, `redis_sentinel_tls_store_conforms`.
macro_rules! conforms_on_every_topology {
    ($run:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn redis_store_conforms() {
            $run($crate::support::topology::Topology::Standalone).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn redis_tls_store_conforms() {
            $run($crate::support::topology::Topology::Tls).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn redis_cluster_store_conforms() {
            $run($crate::support::topology::Topology::Cluster).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn redis_cluster_tls_store_conforms() {
            $run($crate::support::topology::Topology::ClusterTls).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn redis_sentinel_store_conforms() {
            $run($crate::support::topology::Topology::Sentinel).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn redis_sentinel_tls_store_conforms() {
            $run($crate::support::topology::Topology::SentinelTls).await;
        }
    };
}
pub(crate) use conforms_on_every_topology;

/// A fresh key prefix for one suite run.
pub fn prefix(what: &str) -> String {
    format!("fedbroker-test:{what}:{}:", uuid::Uuid::new_v4().simple())
}

pub fn keyring() -> Keyring {
    Keyring::from_specs([KEY_SPEC]).unwrap()
}

/// The replay store a broker configured for `t` uses.
pub async fn replay_store(t: Topology, prefix: &str) -> Arc<dyn ReplayGuard> {
    t.wait_ready().await;
    let cfg = t.cache_config(prefix);
    stores::replay(&cfg)
        .await
        .unwrap_or_else(|e| panic!("{}: replay store: {e}", t.name()))
}

/// The credential cache a broker configured for `t` uses.
pub async fn cache_store(t: Topology, prefix: &str) -> Arc<dyn CredentialCache> {
    cache_store_with(t, &t.cache_config(prefix)).await
}

/// The credential cache a broker configured with `cfg` (a section of topology `t`) uses.
pub async fn cache_store_with(t: Topology, cfg: &CacheConfig) -> Arc<dyn CredentialCache> {
    t.wait_ready().await;
    stores::cache(cfg)
        .await
        .unwrap_or_else(|e| panic!("{}: credential cache: {e}", t.name()))
}

/// The credential cache of a `[cache]` section (any Redis, e.g. a test's own server).
pub async fn cache_store_of(cfg: &CacheConfig) -> Arc<dyn CredentialCache> {
    stores::cache(cfg)
        .await
        .unwrap_or_else(|e| panic!("credential cache: {e}"))
}

/// The browser-state store a broker configured for `t` uses, with pending-login bounds
/// `max` overall and `per_client` per client.
pub async fn browser_store(
    t: Topology,
    prefix: &str,
    max: usize,
    per_client: usize,
) -> Arc<dyn BrowserKv> {
    t.wait_ready().await;
    let cfg = t.cache_config(prefix);
    stores::browser(&cfg, max, per_client)
        .await
        .unwrap_or_else(|e| panic!("{}: browser store: {e}", t.name()))
}

/// [`browser_store`] with `budget` per Redis command instead of the broker's 500 ms.
pub async fn browser_store_with_budget(
    t: Topology,
    prefix: &str,
    max: usize,
    per_client: usize,
    budget: Duration,
) -> Arc<dyn BrowserKv> {
    t.wait_ready().await;
    let cfg = t.cache_config(prefix);
    let link = stores::link(&cfg)
        .await
        .unwrap_or_else(|e| panic!("{}: browser store: {e}", t.name()));
    Arc::new(
        fedbroker::sign_in::RedisKv::new(link, &cfg.key_prefix, keyring())
            .with_pending_limits(max, per_client)
            .with_op_timeout(budget),
    )
}

/// The three stores of one broker configured for `t`: one link shared by all, as the broker
/// builds them (pending-login bounds `max`, `per_client`).
pub async fn broker_stores(
    t: Topology,
    prefix: &str,
    max: usize,
    per_client: usize,
) -> (
    Arc<dyn ReplayGuard>,
    Arc<dyn CredentialCache>,
    Arc<dyn BrowserKv>,
) {
    t.wait_ready().await;
    broker_stores_for(&t.cache_config(prefix), t.name(), max, per_client).await
}

/// The same for a broker given the `[cache]` section `cfg` (`what` names it in a failure).
pub async fn broker_stores_for(
    cfg: &CacheConfig,
    what: &str,
    max: usize,
    per_client: usize,
) -> (
    Arc<dyn ReplayGuard>,
    Arc<dyn CredentialCache>,
    Arc<dyn BrowserKv>,
) {
    let link = stores::link(cfg)
        .await
        .unwrap_or_else(|e| panic!("{what}: cannot connect: {e}"));
    (
        Arc::new(fedbroker::replay::RedisReplayGuard::new(
            link.clone(),
            &cfg.key_prefix,
        )),
        stores::cache_on(link.clone(), cfg),
        stores::browser_on(link, cfg, max, per_client),
    )
}

/// Store construction from a `[cache]` section, as the broker does it: one shared link
/// (`fedbroker::redis_link`) for the topology, each store on it.
mod stores {
    use super::*;
    use fedbroker::redis_link::{LinkSettings, RedisLink};

    type Error = Box<dyn std::error::Error>;

    pub async fn link(cfg: &CacheConfig) -> Result<RedisLink, Error> {
        let settings = LinkSettings::from_config(cfg).ok_or("no Redis topology in [cache]")?;
        Ok(RedisLink::connect(&settings).await?)
    }

    pub async fn replay(cfg: &CacheConfig) -> Result<Arc<dyn ReplayGuard>, Error> {
        Ok(Arc::new(fedbroker::replay::RedisReplayGuard::new(
            link(cfg).await?,
            &cfg.key_prefix,
        )))
    }

    pub async fn cache(cfg: &CacheConfig) -> Result<Arc<dyn CredentialCache>, Error> {
        Ok(cache_on(link(cfg).await?, cfg))
    }

    /// The credential cache on an open link, as `app::Stores` builds it from `cfg` (key prefix,
    /// `credential_cache_timeout_ms`).
    pub fn cache_on(link: RedisLink, cfg: &CacheConfig) -> Arc<dyn CredentialCache> {
        Arc::new(
            fedbroker::cache::RedisCredentialCache::new(link, &cfg.key_prefix, keyring())
                .with_op_timeout(Duration::from_millis(cfg.credential_cache_timeout_ms)),
        )
    }

    pub fn browser_on(
        link: RedisLink,
        cfg: &CacheConfig,
        max: usize,
        per_client: usize,
    ) -> Arc<dyn BrowserKv> {
        Arc::new(
            fedbroker::sign_in::RedisKv::new(link, &cfg.key_prefix, keyring())
                .with_pending_limits(max, per_client),
        )
    }

    pub async fn browser(
        cfg: &CacheConfig,
        max: usize,
        per_client: usize,
    ) -> Result<Arc<dyn BrowserKv>, Error> {
        Ok(browser_on(link(cfg).await?, cfg, max, per_client))
    }
}

/// Sentinel group control for the failover tests: who is master, fail over, wait for health.
pub mod sentinel {
    use super::*;

    /// A plain Sentinel group of the test servers, named by the variable listing its sentinels
    /// (every group's master has the same name, `FEDBROKER_TEST_SENTINEL_MASTER`).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Group(&'static str);

    impl Group {
        /// The group of `Topology::Sentinel`, shared by every test that only stores through it:
        /// no test changes its master or stops its replica (see the module documentation).
        pub const SHARED: Group = Group("FEDBROKER_TEST_SENTINEL_URLS");
        /// The `SENTINEL FAILOVER` under-load test's own group.
        pub const FAILOVER: Group = Group("FEDBROKER_TEST_SENTINEL_FAILOVER_URLS");
        /// The killed-master under-load test's own group.
        pub const KILL: Group = Group("FEDBROKER_TEST_SENTINEL_KILL_URLS");
        /// The failover-is-followed test's own group (`redis::topologies`).
        pub const SWITCH: Group = Group("FEDBROKER_TEST_SENTINEL_SWITCH_URLS");
        /// The stopped-replica test's own group (`redis::topologies`).
        pub const STALL: Group = Group("FEDBROKER_TEST_SENTINEL_STALL_URLS");

        pub fn urls(self) -> Vec<String> {
            list(&env(self.0, "redis-topologies.sh"))
        }

        /// The `[cache]` section of a broker storing through this group, with `prefix` and the
        /// test encryption key, parsed as the broker parses it.
        pub fn cache_config(self, prefix: &str) -> CacheConfig {
            let body = format!(
                "key_prefix = {prefix:?}\nencryption_keys = [{KEY_SPEC:?}]\n\
                 sentinel_urls = {}\nsentinel_master = {:?}\n",
                toml_list(&self.urls()),
                master_name()
            );
            toml::from_str(&body)
                .unwrap_or_else(|e| panic!("{}: the [cache] section does not parse: {e}", self.0))
        }
    }

    pub fn master_name() -> String {
        env("FEDBROKER_TEST_SENTINEL_MASTER", "redis-topologies.sh")
    }

    async fn query<T: redis::FromRedisValue>(url: &str, cmd: &redis::Cmd) -> redis::RedisResult<T> {
        let client = redis::Client::open(url)?;
        let mut conn = tokio::time::timeout(
            Duration::from_secs(2),
            client.get_multiplexed_async_connection(),
        )
        .await
        .map_err(|_| redis::RedisError::from((redis::ErrorKind::IoError, "connect timed out")))??;
        tokio::time::timeout(Duration::from_secs(2), cmd.query_async(&mut conn))
            .await
            .map_err(|_| redis::RedisError::from((redis::ErrorKind::IoError, "timed out")))?
    }

    /// The master's `host:port` as the first answering sentinel reports it.
    pub async fn master_addr(g: Group) -> Option<String> {
        for url in g.urls() {
            let r: redis::RedisResult<Option<(String, String)>> = query(
                &url,
                redis::cmd("SENTINEL")
                    .arg("get-master-addr-by-name")
                    .arg(master_name()),
            )
            .await;
            if let Ok(Some((host, port))) = r {
                return Some(format!("{host}:{port}"));
            }
        }
        None
    }

    /// Wait (up to `limit`) until every sentinel names `master`: the failover is complete
    /// everywhere, not only at the sentinel that led it.
    pub async fn wait_all_name(g: Group, master: &str, limit: Duration) {
        let start = Instant::now();
        loop {
            let seen = masters_by_sentinel(g).await;
            if seen.iter().all(|m| m.as_deref() == Some(master)) {
                return;
            }
            assert!(
                start.elapsed() < limit,
                "the sentinels do not all name {master} as master after {limit:?}: {seen:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// What every sentinel reports as master (to check they agree).
    pub async fn masters_by_sentinel(g: Group) -> Vec<Option<String>> {
        let mut out = Vec::new();
        for url in g.urls() {
            let r: redis::RedisResult<Option<(String, String)>> = query(
                &url,
                redis::cmd("SENTINEL")
                    .arg("get-master-addr-by-name")
                    .arg(master_name()),
            )
            .await;
            out.push(r.ok().flatten().map(|(h, p)| format!("{h}:{p}")));
        }
        out
    }

    /// A command to a data node at `host:port`.
    pub async fn node<T: redis::FromRedisValue>(
        addr: &str,
        cmd: &redis::Cmd,
    ) -> redis::RedisResult<T> {
        query(&format!("redis://{addr}"), cmd).await
    }

    /// `INFO <section>` of a data node, as `field -> value`.
    pub async fn info(addr: &str, section: &str) -> Option<Vec<(String, String)>> {
        let text: String = node(addr, redis::cmd("INFO").arg(section)).await.ok()?;
        Some(
            text.lines()
                .filter_map(|l| l.split_once(':'))
                .map(|(k, v)| (k.to_owned(), v.trim().to_owned()))
                .collect(),
        )
    }

    fn field<'a>(info: &'a [(String, String)], name: &str) -> Option<&'a str> {
        info.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Replicas online in a master's `INFO replication`.
    pub fn replicas_online(info: &[(String, String)]) -> usize {
        info.iter()
            .filter(|(k, _)| k.starts_with("slave") && k[5..].parse::<u32>().is_ok())
            .filter(|(_, v)| v.contains("state=online"))
            .count()
    }

    /// The group is healthy: every sentinel names the same master, that node says it is master
    /// and has at least one replica online.
    pub async fn healthy(g: Group) -> Result<String, String> {
        let all = masters_by_sentinel(g).await;
        let first = all
            .first()
            .cloned()
            .flatten()
            .ok_or("no sentinel names a master")?;
        if all.iter().any(|m| m.as_deref() != Some(first.as_str())) {
            return Err(format!("sentinels disagree: {all:?}"));
        }
        let info = info(&first, "replication")
            .await
            .ok_or_else(|| format!("master {first} does not answer"))?;
        if field(&info, "role") != Some("master") {
            return Err(format!("{first} is not (yet) a master"));
        }
        if replicas_online(&info) == 0 {
            return Err(format!("master {first} has no replica online"));
        }
        Ok(first)
    }

    /// Wait (up to `limit`) until [`healthy`]; panic with the last reason otherwise.
    pub async fn wait_healthy(g: Group, limit: Duration) -> String {
        let start = Instant::now();
        loop {
            match healthy(g).await {
                Ok(master) => return master,
                Err(why) if start.elapsed() > limit => {
                    panic!("the Sentinel group is not healthy after {limit:?}: {why}")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }

    /// `SENTINEL FAILOVER <master>` on the first sentinel that accepts it.
    pub async fn failover(g: Group) {
        let mut errors = Vec::new();
        for url in g.urls() {
            match query::<String>(
                &url,
                redis::cmd("SENTINEL").arg("failover").arg(master_name()),
            )
            .await
            {
                Ok(_) => return,
                Err(e) => errors.push(e.to_string()),
            }
        }
        panic!("no sentinel accepted SENTINEL FAILOVER: {errors:?}");
    }

    /// Wait (up to `limit`) until the sentinels name a master other than `old`.
    pub async fn wait_master_change(g: Group, old: &str, limit: Duration) -> String {
        let start = Instant::now();
        loop {
            if let Some(m) = master_addr(g).await {
                if m != old {
                    return m;
                }
            }
            assert!(
                start.elapsed() < limit,
                "the sentinels still name {old} as master after {limit:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
