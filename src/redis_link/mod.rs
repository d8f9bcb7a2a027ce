//! The one Redis connection layer every shared store uses (replay store, credential cache,
//! browser store), on every topology, with TLS.
//!
//! API:
//! - [`LinkSettings::from_config`] reads `[cache]`: `redis_url` (standalone), or
//!   `redis_cluster_urls` (Redis Cluster), or `sentinel_urls` + `sentinel_master` (Sentinel), plus
//!   the TLS files (`tls_ca_file`, `tls_cert_file`, `tls_key_file`; [`tls`]). At most one topology
//!   (`check-config` refuses more).
//! - [`RedisLink::connect`] opens it once (bounded by [`CONNECT_TIMEOUT`]); the link is `Clone`
//!   (one `Arc`) and is handed to each store. A store never opens its own connection.
//! - A store sends its commands through [`RedisLink::query`], [`RedisLink::query_pipe`] or
//!   [`RedisLink::invoke`] (reads and writes that may be lost in a failover), or
//!   [`RedisLink::write`] / [`RedisLink::write_script`] (security-relevant writes: see WAIT below),
//!   each bounded by the store's own budget and tagged with the [`Store`] for the error counter.
//!   For anything else, [`RedisLink::conn`] is a `redis::aio::ConnectionLike`.
//! - [`RedisLink::single_node`]: whether commands over several arbitrary keys are allowed (not on
//!   Cluster: there a multi-key command or script must use keys of one hash slot, `{tag}`).
//!
//! Topologies: standalone is a `ConnectionManager` (reconnects by itself); Cluster a
//! `ClusterConnection` (follows MOVED/ASK, refreshes slots); Sentinel a multiplexed connection to
//! the master the sentinels name ([`sentinel`]): a `READONLY` reply (the node was demoted)
//! re-resolves and sends the command once more to the new master; a broken connection, a timeout
//! or a failed health PING re-resolves in the background, so later requests reach the new master
//! without a restart.
//!
//! WAIT: with Sentinel, a write acknowledged only by the master is lost if that master fails
//! before replicating it; a lost replay record would let an assertion be accepted twice. So
//! [`RedisLink::write`] follows the write with `WAIT <n> <budget/2 ms>` on the same connection (one
//! round trip, pipelined), `n` = every replica the master listed in its last `ROLE` reply (read at
//! resolution, by the health check and after a short acknowledgement; at least one), and reports
//! an error unless all `n` acknowledged — Sentinel may promote any of them — : the
//! store treats that as unavailable (the replay store fails closed). Standalone and Cluster have
//! no failover of their own here, so `write` is a plain command there.
//!
//! Worker-local connections (standalone): the HTTP server calls [`mark_worker_thread`] on each
//! worker thread; there a link lazily opens its own connection on the worker's runtime (one per
//! worker and link), so a command does not cross to another thread's driver task and back. Other
//! threads (start-up, background tasks, tests) use the shared connection. Cluster and Sentinel
//! always use the shared connection.
//!
//! Health: [`RedisLink::spawn_health`] PINGs every [`HEALTH_EVERY`] and keeps [`RedisLink::up`]
//! (`fedbroker_redis_up`); every failed command counts in [`RedisLink::errors`]
//! (`fedbroker_redis_errors_total{store}`).
//!
//! Invariants: URLs may hold passwords: they are `SecretString` in the config and are never
//! formatted (`Debug` shows the topology only; [`probe`] scrubs the password out of messages);
//! every command is bounded; nothing here decides to fall back to an in-process store.

mod probe;
pub mod sentinel;
pub mod tls;

pub use probe::probe;
pub use tls::TlsFiles;

use crate::config::CacheConfig;
use redis::aio::{
    ConnectionLike, ConnectionManager, ConnectionManagerConfig, MultiplexedConnection,
};
use redis::cluster_async::ClusterConnection;
use redis::{
    Cmd, ErrorKind, FromRedisValue, IntoConnectionInfo, Pipeline, RedisError, RedisFuture,
    RedisResult, ScriptInvocation, Value,
};
use secrecy::{ExposeSecret, SecretString};
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

/// Time allowed to open a connection (TCP, TLS, AUTH; for Cluster, to read the slot map).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest wait for one reply at the connection level; each store bounds its calls tighter.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);
/// Reconnection attempts the standalone manager makes before reporting an error.
pub const RECONNECT_RETRIES: usize = 1;
/// Ceiling for the wait between reconnection attempts. redis 0.32 hands `factor` to backon with
/// a 1 s minimum and 60 s maximum delay by default, which made an unreachable Redis take about two
/// minutes to report; a login cannot wait that long.
pub const RECONNECT_MAX_DELAY: Duration = Duration::from_millis(200);
/// Retries of a cluster command (MOVED/ASK redirections, a node restarting).
pub const CLUSTER_RETRIES: u32 = 2;
/// Period of the health PING behind `fedbroker_redis_up`.
pub const HEALTH_EVERY: Duration = Duration::from_secs(10);
/// Fewest replicas that must acknowledge a [`RedisLink::write`] with Sentinel. The write waits
/// for every replica the master listed in its last `ROLE` reply, at least this many: `WAIT 1`
/// with two replicas would prove only that one of them has the write, and Sentinel may promote
/// the other.
pub const SENTINEL_MIN_REPLICAS: i64 = 1;

/// Where the shared stores live, for start-up and `check-config` summaries.
pub fn describe(cache: &CacheConfig) -> &'static str {
    match LinkSettings::from_config(cache).map(|s| (s.topology(), s.uses_tls())) {
        None => "in-process",
        Some((Topology::Standalone, false)) => "redis",
        Some((Topology::Standalone, true)) => "redis (TLS)",
        Some((Topology::Cluster, false)) => "redis cluster",
        Some((Topology::Cluster, true)) => "redis cluster (TLS)",
        Some((Topology::Sentinel, false)) => "redis sentinel",
        Some((Topology::Sentinel, true)) => "redis sentinel (TLS)",
    }
}

/// Which store a command is for (the `store` label of `fedbroker_redis_errors_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    Replay,
    Cache,
    Browser,
}

impl Store {
    pub const ALL: [Store; 3] = [Store::Replay, Store::Cache, Store::Browser];

    pub fn as_str(self) -> &'static str {
        match self {
            Store::Replay => "replay",
            Store::Cache => "cache",
            Store::Browser => "browser",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The Redis deployment shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topology {
    Standalone,
    Cluster,
    Sentinel,
}

/// Where the shared Redis is (secrets stay secret).
#[derive(Clone)]
pub enum Target {
    /// `cache.redis_url`.
    Standalone(SecretString),
    /// `cache.redis_cluster_urls` (seed nodes).
    Cluster(Vec<SecretString>),
    /// `cache.sentinel_urls` + `cache.sentinel_master`; the data nodes authenticate with
    /// `sentinel_master_username`/`sentinel_master_password`, else with the sentinel URL's.
    Sentinel {
        urls: Vec<SecretString>,
        master: String,
        username: Option<String>,
        password: Option<SecretString>,
    },
}

/// Everything needed to open the link.
#[derive(Clone)]
pub struct LinkSettings {
    pub target: Target,
    pub tls: TlsFiles,
}

impl std::fmt::Debug for LinkSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkSettings")
            .field("topology", &self.topology())
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

impl LinkSettings {
    /// The topology `[cache]` asks for; `None` when no Redis is configured (in-process stores).
    /// Precedence if several are set (which `check-config` refuses): Sentinel, Cluster, standalone.
    pub fn from_config(cache: &CacheConfig) -> Option<Self> {
        let target = if !cache.sentinel_urls.is_empty() {
            Target::Sentinel {
                urls: cache.sentinel_urls.clone(),
                master: cache.sentinel_master.clone().unwrap_or_default(),
                username: cache.sentinel_master_username.clone(),
                password: cache.sentinel_master_password.clone(),
            }
        } else if !cache.redis_cluster_urls.is_empty() {
            Target::Cluster(cache.redis_cluster_urls.clone())
        } else {
            Target::Standalone(cache.redis_url.clone()?)
        };
        Some(Self {
            target,
            tls: TlsFiles {
                ca_file: cache.tls_ca_file.clone(),
                cert_file: cache.tls_cert_file.clone(),
                key_file: cache.tls_key_file.clone(),
            },
        })
    }

    /// A standalone Redis at `url` without TLS files (tests, tools).
    pub fn standalone(url: &str) -> Self {
        Self {
            target: Target::Standalone(SecretString::from(url.to_owned())),
            tls: TlsFiles::default(),
        }
    }

    /// A Redis Cluster through the seed nodes `urls`.
    pub fn cluster(urls: &[&str]) -> Self {
        Self {
            target: Target::Cluster(
                urls.iter()
                    .map(|u| SecretString::from((*u).to_owned()))
                    .collect(),
            ),
            tls: TlsFiles::default(),
        }
    }

    /// The master `master` of the sentinels at `urls`.
    pub fn sentinel(urls: &[&str], master: &str) -> Self {
        Self {
            target: Target::Sentinel {
                urls: urls
                    .iter()
                    .map(|u| SecretString::from((*u).to_owned()))
                    .collect(),
                master: master.to_owned(),
                username: None,
                password: None,
            },
            tls: TlsFiles::default(),
        }
    }

    /// With these TLS files.
    pub fn with_tls(mut self, tls: TlsFiles) -> Self {
        self.tls = tls;
        self
    }

    pub fn topology(&self) -> Topology {
        match self.target {
            Target::Standalone(_) => Topology::Standalone,
            Target::Cluster(_) => Topology::Cluster,
            Target::Sentinel { .. } => Topology::Sentinel,
        }
    }

    /// The config key that names the servers (for messages).
    pub fn config_key(&self) -> &'static str {
        match self.target {
            Target::Standalone(_) => "cache.redis_url",
            Target::Cluster(_) => "cache.redis_cluster_urls",
            Target::Sentinel { .. } => "cache.sentinel_urls",
        }
    }

    /// Every URL of the target (secret).
    pub fn urls(&self) -> Vec<&SecretString> {
        match &self.target {
            Target::Standalone(u) => vec![u],
            Target::Cluster(us) | Target::Sentinel { urls: us, .. } => us.iter().collect(),
        }
    }

    /// Whether the target uses TLS (`rediss://`).
    pub fn uses_tls(&self) -> bool {
        self.urls()
            .iter()
            .any(|u| u.expose_secret().starts_with("rediss://"))
    }

    /// The passwords that must never appear in a message.
    pub(crate) fn secrets(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .urls()
            .iter()
            .filter_map(|u| url::Url::parse(u.expose_secret()).ok())
            .filter_map(|u| u.password().map(str::to_owned))
            .filter(|p| !p.is_empty())
            .collect();
        if let Target::Sentinel {
            password: Some(p), ..
        } = &self.target
        {
            out.push(p.expose_secret().to_owned());
        }
        out
    }
}

/// A failure to open the link; the message names the config key and never holds a password.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("{0}")]
    Config(String),
    #[error("{key}: cannot connect to Redis: {source}")]
    Connect {
        key: &'static str,
        #[source]
        source: RedisError,
    },
}

/// The connection of each topology.
enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
    Sentinel(Arc<sentinel::Failover>),
}

struct Inner {
    /// Distinguishes links in the worker-local connection table.
    id: usize,
    /// Standalone: the client worker-local connections are opened with.
    client: Option<(redis::Client, ConnectionManagerConfig)>,
    conn: Conn,
    topology: Topology,
    tls: bool,
    up: AtomicBool,
    errors: [AtomicU64; 3],
    health_started: AtomicBool,
}

/// The shared Redis connection (cheap to clone; all clones share one connection).
#[derive(Clone)]
pub struct RedisLink {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for RedisLink {
    // URLs may hold a password: only the topology is shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisLink")
            .field("topology", &self.inner.topology)
            .field("tls", &self.inner.tls)
            .finish_non_exhaustive()
    }
}

static NEXT_LINK_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// Whether this thread is an HTTP worker (its runtime lives as long as the thread).
    static WORKER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// This worker's own connection of each link (by link id).
    static LOCAL: std::cell::RefCell<Vec<(usize, ConnectionManager)>> =
        const { std::cell::RefCell::new(Vec::new()) };
    /// When this worker last failed to open its own connection of a link (by link id).
    static LOCAL_FAILED: std::cell::RefCell<Vec<(usize, std::time::Instant)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// After a worker failed to open its own connection, it uses the shared one this long before
/// trying again (a Redis outage must not add a connect attempt to every command).
pub const LOCAL_RETRY_AFTER: Duration = Duration::from_secs(1);

/// Mark the calling thread as an HTTP worker whose Tokio runtime lives as long as the thread:
/// standalone links then open a connection of its own there on first use. Call it from the
/// `HttpServer` app factory (it runs once on each worker thread).
pub fn mark_worker_thread() {
    WORKER.with(|w| w.set(true));
}

/// How many worker-local connections this thread holds (tests, diagnostics).
pub fn worker_connections_on_this_thread() -> usize {
    LOCAL.with(|l| l.borrow().len())
}

fn timed_out() -> RedisError {
    RedisError::from(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        "Redis did not answer in time",
    ))
}

fn not_acknowledged() -> RedisError {
    RedisError::from((
        ErrorKind::ClientError,
        "the write was not acknowledged by a replica in time",
    ))
}

fn is_readonly(e: &RedisError) -> bool {
    e.kind() == ErrorKind::ReadOnly
}

fn value_is_readonly(v: &Value) -> bool {
    match v {
        Value::ServerError(e) => e.code() == "READONLY",
        Value::Array(items) => items.iter().any(value_is_readonly),
        _ => false,
    }
}

impl RedisLink {
    /// Open the link `settings` describe; fails if Redis does not answer within the connect
    /// timeout (a misconfiguration shows at start-up), or if the TLS files are unusable.
    pub async fn connect(settings: &LinkSettings) -> Result<Self, LinkError> {
        let key = settings.config_key();
        let connect_err = |source: RedisError| LinkError::Connect { key, source };
        let uses_tls = settings.uses_tls();
        if settings.tls.any() && !uses_tls {
            return Err(LinkError::Config(format!(
                "cache.tls_* files are set but {key} is not a rediss:// URL"
            )));
        }
        let certs = settings.tls.load().map_err(LinkError::Config)?;
        if uses_tls {
            tls::ensure_crypto_provider();
        }
        let mut local_client = None;
        let conn = match &settings.target {
            Target::Standalone(url) => {
                let info = url
                    .expose_secret()
                    .into_connection_info()
                    .map_err(connect_err)?;
                let client = match &certs {
                    Some(c) if uses_tls => redis::Client::build_with_tls(info, c.clone()),
                    _ => redis::Client::open(info),
                }
                .map_err(connect_err)?;
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(CONNECT_TIMEOUT)
                    .set_response_timeout(RESPONSE_TIMEOUT)
                    .set_number_of_retries(RECONNECT_RETRIES)
                    .set_factor(2)
                    .set_max_delay(RECONNECT_MAX_DELAY.as_millis() as u64);
                local_client = Some((client.clone(), config.clone()));
                let manager = tokio::time::timeout(
                    CONNECT_TIMEOUT,
                    ConnectionManager::new_with_config(client, config),
                )
                .await
                .map_err(|_| connect_err(timed_out()))?
                .map_err(connect_err)?;
                Conn::Single(manager)
            }
            Target::Cluster(urls) => {
                let urls: Vec<&str> = urls.iter().map(|u| u.expose_secret()).collect();
                let mut builder = redis::cluster::ClusterClient::builder(urls)
                    .connection_timeout(CONNECT_TIMEOUT)
                    .response_timeout(RESPONSE_TIMEOUT)
                    .retries(CLUSTER_RETRIES);
                if let Some(c) = &certs {
                    builder = builder.certs(c.clone());
                }
                let client = builder.build().map_err(connect_err)?;
                let conn = tokio::time::timeout(CONNECT_TIMEOUT, client.get_async_connection())
                    .await
                    .map_err(|_| connect_err(timed_out()))?
                    .map_err(connect_err)?;
                Conn::Cluster(conn)
            }
            Target::Sentinel {
                urls,
                master,
                username,
                password,
            } => {
                if master.is_empty() {
                    return Err(LinkError::Config(
                        "cache.sentinel_urls needs cache.sentinel_master (the master's name)"
                            .into(),
                    ));
                }
                let mut sentinels = Vec::new();
                for u in urls {
                    sentinels.push(
                        u.expose_secret()
                            .into_connection_info()
                            .map_err(connect_err)?,
                    );
                }
                let node = node_credentials(sentinels.first(), username, password);
                let spec = sentinel::SentinelSpec {
                    sentinels,
                    master: master.clone(),
                    node,
                    tls: uses_tls,
                    certs,
                    response_timeout: RESPONSE_TIMEOUT,
                };
                Conn::Sentinel(
                    sentinel::Failover::connect(spec)
                        .await
                        .map_err(connect_err)?,
                )
            }
        };
        Ok(Self {
            inner: Arc::new(Inner {
                id: NEXT_LINK_ID.fetch_add(1, Ordering::Relaxed) as usize,
                client: local_client,
                conn,
                topology: settings.topology(),
                tls: uses_tls,
                up: AtomicBool::new(true),
                errors: Default::default(),
                health_started: AtomicBool::new(false),
            }),
        })
    }

    /// A standalone link to `url` (tests, tools).
    pub async fn connect_url(url: &str) -> Result<Self, LinkError> {
        Self::connect(&LinkSettings::standalone(url)).await
    }

    pub fn topology(&self) -> Topology {
        self.inner.topology
    }

    /// Whether one command may touch arbitrary keys (standalone, Sentinel) rather than keys of
    /// one hash slot only (Cluster).
    pub fn single_node(&self) -> bool {
        self.inner.topology != Topology::Cluster
    }

    /// Replicas a [`Self::write`] waits for (0: none).
    pub fn min_replicas(&self) -> i64 {
        match &self.inner.conn {
            Conn::Sentinel(f) => f.replicas().max(SENTINEL_MIN_REPLICAS),
            _ => 0,
        }
    }

    /// A write came back acknowledged by fewer replicas than were waited for: a replica may have
    /// left, so read the master's replica count again (in the background).
    fn short_acknowledgement(&self) {
        if let Conn::Sentinel(f) = &self.inner.conn {
            let f = Arc::clone(f);
            tokio::spawn(async move {
                let _ = f.refresh_replicas(RESPONSE_TIMEOUT).await;
            });
        }
    }

    /// A connection handle (cheap clone) for commands the helpers below do not cover.
    pub fn conn(&self) -> LinkConn {
        LinkConn(match &self.inner.conn {
            Conn::Single(c) => ConnKind::Single(c.clone()),
            Conn::Cluster(c) => ConnKind::Cluster(c.clone()),
            Conn::Sentinel(f) => ConnKind::Sentinel(f.current(), Arc::clone(f)),
        })
    }

    /// The connection a command should use: on a marked worker thread with a standalone link,
    /// the worker's own (opened on first use, bounded; the shared one if that fails), else
    /// [`Self::conn`].
    async fn pick(&self) -> LinkConn {
        let Some((client, config)) = &self.inner.client else {
            return self.conn();
        };
        if !WORKER.with(|w| w.get()) {
            return self.conn();
        }
        let id = self.inner.id;
        let found = LOCAL.with(|l| {
            l.borrow()
                .iter()
                .find(|(i, _)| *i == id)
                .map(|(_, c)| c.clone())
        });
        if let Some(c) = found {
            return LinkConn(ConnKind::Single(c));
        }
        let failed_recently = LOCAL_FAILED.with(|f| {
            f.borrow()
                .iter()
                .any(|(i, at)| *i == id && at.elapsed() < LOCAL_RETRY_AFTER)
        });
        if failed_recently {
            return self.conn();
        }
        let opened = tokio::time::timeout(
            CONNECT_TIMEOUT,
            ConnectionManager::new_with_config(client.clone(), config.clone()),
        )
        .await;
        match opened {
            Ok(Ok(c)) => {
                LOCAL.with(|l| {
                    let mut l = l.borrow_mut();
                    if !l.iter().any(|(i, _)| *i == id) {
                        l.push((id, c.clone()));
                    }
                });
                LinkConn(ConnKind::Single(c))
            }
            _ => {
                LOCAL_FAILED.with(|f| {
                    let mut f = f.borrow_mut();
                    f.retain(|(i, _)| *i != id);
                    #[expect(
                        clippy::disallowed_methods,
                        reason = "a per-worker reconnection backoff on the monotonic clock: no \
                                  test pins it and it decides nothing about credentials"
                    )]
                    f.push((id, std::time::Instant::now()));
                });
                self.conn()
            }
        }
    }

    /// With Sentinel: how many times the master was resolved (1 after connecting; tests).
    pub fn sentinel_generation(&self) -> Option<u64> {
        match &self.inner.conn {
            Conn::Sentinel(f) => Some(f.generation()),
            _ => None,
        }
    }

    /// Whether the last health PING (or connect) succeeded (`fedbroker_redis_up`).
    pub fn up(&self) -> bool {
        self.inner.up.load(Ordering::Relaxed)
    }

    /// Failed commands of `store` so far (`fedbroker_redis_errors_total`).
    pub fn errors(&self, store: Store) -> u64 {
        self.inner.errors[store.index()].load(Ordering::Relaxed)
    }

    /// Count a failure of `store` that happened outside the helpers below.
    pub fn record_error(&self, store: Store) {
        self.inner.errors[store.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// Bound `call` by `budget`; count and classify a failure.
    async fn bounded<T>(
        &self,
        store: Store,
        budget: Duration,
        call: impl Future<Output = RedisResult<T>>,
    ) -> RedisResult<T> {
        let out = match tokio::time::timeout(budget, call).await {
            Ok(r) => r,
            Err(_) => Err(timed_out()),
        };
        if let Err(e) = &out {
            self.record_error(store);
            if let Conn::Sentinel(f) = &self.inner.conn {
                if e.is_io_error() || e.is_connection_dropped() || e.is_timeout() {
                    f.trigger();
                }
            }
        }
        out
    }

    /// One command, bounded by `budget`.
    pub async fn query<T: FromRedisValue>(
        &self,
        store: Store,
        budget: Duration,
        cmd: &Cmd,
    ) -> RedisResult<T> {
        let call = async {
            let mut conn = self.pick().await;
            cmd.query_async(&mut conn).await
        };
        self.bounded(store, budget, call).await
    }

    /// One pipeline (one round trip on a single node), bounded by `budget`.
    pub async fn query_pipe<T: FromRedisValue>(
        &self,
        store: Store,
        budget: Duration,
        pipe: &Pipeline,
    ) -> RedisResult<T> {
        let call = async {
            let mut conn = self.pick().await;
            pipe.query_async(&mut conn).await
        };
        self.bounded(store, budget, call).await
    }

    /// One Lua script, bounded by `budget` (on Cluster its keys must share a hash slot).
    pub async fn invoke<T: FromRedisValue>(
        &self,
        store: Store,
        budget: Duration,
        inv: &ScriptInvocation<'_>,
    ) -> RedisResult<T> {
        let call = async {
            let mut conn = self.pick().await;
            inv.invoke_async(&mut conn).await
        };
        self.bounded(store, budget, call).await
    }

    /// A security-relevant write: like [`Self::query`], then (Sentinel) `WAIT` for every replica the
    /// master lists in the same round trip; not acknowledged within half the budget is an error.
    pub async fn write<T: FromRedisValue>(
        &self,
        store: Store,
        budget: Duration,
        cmd: &Cmd,
    ) -> RedisResult<T> {
        let replicas = self.min_replicas();
        if replicas == 0 {
            return self.query(store, budget, cmd).await;
        }
        let mut pipe = redis::pipe();
        pipe.add_command(cmd.clone())
            .cmd("WAIT")
            .arg(replicas)
            .arg(wait_ms(budget));
        let (value, acked): (Value, i64) = self.query_pipe(store, budget, &pipe).await?;
        if acked < replicas {
            self.record_error(store);
            self.short_acknowledgement();
            return Err(not_acknowledged());
        }
        T::from_redis_value(&value)
    }

    /// A security-relevant script: like [`Self::invoke`], then (Sentinel) `WAIT` for every listed
    /// replica.
    pub async fn write_script<T: FromRedisValue>(
        &self,
        store: Store,
        budget: Duration,
        inv: &ScriptInvocation<'_>,
    ) -> RedisResult<T> {
        let value: T = self.invoke(store, budget, inv).await?;
        self.acknowledged(store, budget).await?;
        Ok(value)
    }

    /// (Sentinel) `WAIT` until every listed replica has every write this connection sent so far.
    pub async fn acknowledged(&self, store: Store, budget: Duration) -> RedisResult<()> {
        let replicas = self.min_replicas();
        if replicas == 0 {
            return Ok(());
        }
        let acked: i64 = self
            .query(
                store,
                budget,
                redis::cmd("WAIT").arg(replicas).arg(wait_ms(budget)),
            )
            .await?;
        if acked < replicas {
            self.record_error(store);
            self.short_acknowledgement();
            return Err(not_acknowledged());
        }
        Ok(())
    }

    /// PING (bounded by [`RESPONSE_TIMEOUT`]); updates [`Self::up`].
    pub async fn ping(&self) -> RedisResult<()> {
        let mut conn = self.conn();
        let r: RedisResult<String> =
            match tokio::time::timeout(RESPONSE_TIMEOUT, redis::cmd("PING").query_async(&mut conn))
                .await
            {
                Ok(r) => r,
                Err(_) => Err(timed_out()),
            };
        self.inner.up.store(r.is_ok(), Ordering::Relaxed);
        if let Conn::Sentinel(f) = &self.inner.conn {
            if r.is_err() {
                f.trigger();
            } else {
                // Keep the replica count `write` waits for current (replicas come and go).
                let _ = f.refresh_replicas(RESPONSE_TIMEOUT).await;
            }
        }
        r.map(|_| ())
    }

    /// PING every [`HEALTH_EVERY`] while the link is alive (once per link; needs a Tokio runtime).
    pub fn spawn_health(&self) {
        if self.inner.health_started.swap(true, Ordering::AcqRel) {
            return;
        }
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(HEALTH_EVERY);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                let Some(inner) = weak.upgrade() else { return };
                let link = RedisLink { inner };
                if link.ping().await.is_err() {
                    tracing::warn!(topology = ?link.topology(), "redis: health PING failed");
                }
            }
        });
    }
}

/// The data nodes' handshake with Sentinel: `sentinel_master_password` (and username) when set,
/// else the first sentinel URL's user, password and db.
fn node_credentials(
    first_sentinel: Option<&redis::ConnectionInfo>,
    username: &Option<String>,
    password: &Option<SecretString>,
) -> redis::RedisConnectionInfo {
    let mut node = first_sentinel.map(|s| s.redis.clone()).unwrap_or_default();
    if let Some(p) = password {
        node.password = Some(p.expose_secret().to_owned());
        node.username = username.clone();
    }
    node
}

fn wait_ms(budget: Duration) -> u64 {
    u64::try_from((budget / 2).as_millis())
        .unwrap_or(u64::MAX)
        .max(1)
}

/// A connection of the link, as a `redis::aio::ConnectionLike` (cheap clone).
#[derive(Clone)]
pub struct LinkConn(ConnKind);

#[derive(Clone)]
enum ConnKind {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
    /// The master's connection and the failover state that replaces it.
    Sentinel(MultiplexedConnection, Arc<sentinel::Failover>),
}

impl ConnectionLike for LinkConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match &mut self.0 {
            ConnKind::Single(c) => c.req_packed_command(cmd),
            ConnKind::Cluster(c) => c.req_packed_command(cmd),
            ConnKind::Sentinel(c, f) => Box::pin(async move {
                let r = c.req_packed_command(cmd).await;
                let demoted = match &r {
                    Ok(v) => value_is_readonly(v),
                    Err(e) => is_readonly(e),
                };
                if !demoted {
                    return r;
                }
                // A demoted master executed nothing: find the new one and send it once more.
                f.reresolve_now(CONNECT_TIMEOUT).await?;
                *c = f.current();
                c.req_packed_command(cmd).await
            }),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match &mut self.0 {
            ConnKind::Single(c) => c.req_packed_commands(cmd, offset, count),
            ConnKind::Cluster(c) => c.req_packed_commands(cmd, offset, count),
            ConnKind::Sentinel(c, f) => Box::pin(async move {
                let r = c.req_packed_commands(cmd, offset, count).await;
                let demoted = match &r {
                    Ok(vs) => vs.iter().any(value_is_readonly),
                    Err(e) => is_readonly(e),
                };
                if !demoted {
                    return r;
                }
                f.reresolve_now(CONNECT_TIMEOUT).await?;
                *c = f.current();
                c.req_packed_commands(cmd, offset, count).await
            }),
        }
    }

    fn get_db(&self) -> i64 {
        match &self.0 {
            ConnKind::Single(c) => c.get_db(),
            ConnKind::Cluster(c) => c.get_db(),
            ConnKind::Sentinel(c, _) => c.get_db(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(url: &str) -> redis::ConnectionInfo {
        url.into_connection_info().unwrap()
    }

    #[test]
    fn sentinel_data_nodes_use_the_sentinel_url_credentials_by_default() {
        let s = info("redis://ops:sentinel-pw@127.0.0.1:26379/2");
        let node = node_credentials(Some(&s), &None, &None);
        assert_eq!(node.username.as_deref(), Some("ops"));
        assert_eq!(node.password.as_deref(), Some("sentinel-pw"));
        assert_eq!(node.db, 2);
    }

    #[test]
    fn sentinel_master_password_replaces_the_sentinel_url_credentials() {
        let s = info("redis://ops:sentinel-pw@127.0.0.1:26379");
        let pw = Some(SecretString::from("master-pw".to_owned()));
        let node = node_credentials(Some(&s), &None, &pw);
        assert_eq!(node.username, None, "the sentinel's ACL user is not reused");
        assert_eq!(node.password.as_deref(), Some("master-pw"));
        let node = node_credentials(Some(&s), &Some("app".into()), &pw);
        assert_eq!(node.username.as_deref(), Some("app"));
    }

    #[test]
    fn settings_debug_never_shows_a_password() {
        let settings = LinkSettings::standalone("redis://:hunter2@127.0.0.1:6379");
        assert!(!format!("{settings:?}").contains("hunter2"));
        assert_eq!(settings.secrets(), vec!["hunter2".to_owned()]);
    }

    #[test]
    fn write_waits_for_half_the_budget() {
        assert_eq!(wait_ms(Duration::from_secs(2)), 1000);
        assert_eq!(wait_ms(Duration::from_millis(1)), 1);
    }
}
