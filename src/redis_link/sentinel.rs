//! Redis Sentinel: find the master through the sentinels, and find it again after a failover.
//!
//! Resolution asks each sentinel in turn `SENTINEL GET-MASTER-ADDR-BY-NAME <master>`, connects to
//! the address it names and keeps it only if `ROLE` says `master` (a sentinel may lag behind a
//! failover). The connection in use sits behind an atomic pointer: requests load it lock-free.
//!
//! Re-resolution: `Failover::trigger` (a broken connection, a timeout, a failed health PING)
//! starts one background task that retries every [`RETRY_EVERY`] until a master answers;
//! `Failover::reresolve_now` (a `READONLY` reply: the node was demoted, nothing was written)
//! waits for that, bounded, so the command can be sent once more to the new master.
//!
//! Invariants: at most one resolution runs at a time; every connect is bounded by the link's
//! connect timeout; a password never appears in an error or a log line.

use super::CONNECT_TIMEOUT;
use arc_swap::ArcSwap;
use redis::aio::MultiplexedConnection;
use redis::{
    AsyncConnectionConfig, Client, ConnectionAddr, ConnectionInfo, ErrorKind, RedisConnectionInfo,
    RedisError, RedisResult, TlsCertificates,
};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

/// Pause between two resolution attempts while no master answers.
pub const RETRY_EVERY: Duration = Duration::from_millis(250);

/// Where the sentinels are and how to reach the master they name.
pub(crate) struct SentinelSpec {
    pub sentinels: Vec<ConnectionInfo>,
    pub master: String,
    /// Data-node handshake (db, username, password).
    pub node: RedisConnectionInfo,
    /// `rediss://` sentinels: the data nodes are reached over TLS too.
    pub tls: bool,
    pub certs: Option<TlsCertificates>,
    /// Per-reply bound of the data-node connection.
    pub response_timeout: Duration,
}

/// The current master connection of a Sentinel group, replaced after a failover.
pub(crate) struct Failover {
    spec: SentinelSpec,
    current: ArcSwap<MultiplexedConnection>,
    resolving: AtomicBool,
    /// Successful resolutions so far (1 after connecting).
    generation: AtomicU64,
    /// Replicas connected to the current master, as its last `ROLE` reply listed them.
    replicas: AtomicI64,
}

fn client_for(info: ConnectionInfo, certs: &Option<TlsCertificates>) -> RedisResult<Client> {
    match (&info.addr, certs) {
        (ConnectionAddr::TcpTls { .. }, Some(c)) => Client::build_with_tls(info, c.clone()),
        _ => Client::open(info),
    }
}

fn fail(msg: &'static str) -> RedisError {
    RedisError::from((ErrorKind::IoError, msg))
}

impl Failover {
    /// Resolve the master once (bounded); fails if no sentinel names a reachable master.
    pub async fn connect(spec: SentinelSpec) -> RedisResult<Arc<Self>> {
        let (conn, replicas) = tokio::time::timeout(CONNECT_TIMEOUT * 2, resolve(&spec))
            .await
            .map_err(|_| fail("no sentinel named a reachable master in time"))??;
        Ok(Arc::new(Self {
            spec,
            current: ArcSwap::from_pointee(conn),
            resolving: AtomicBool::new(false),
            generation: AtomicU64::new(1),
            replicas: AtomicI64::new(replicas),
        }))
    }

    /// The connection to the master as last resolved (cheap clone, multiplexed).
    pub fn current(&self) -> MultiplexedConnection {
        MultiplexedConnection::clone(&self.current.load())
    }

    /// How many times the master was resolved (1 after connecting).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Replicas connected to the master when its `ROLE` was last read (at resolution and by
    /// [`Self::refresh_replicas`]).
    pub fn replicas(&self) -> i64 {
        self.replicas.load(Ordering::Acquire)
    }

    /// Read the master's `ROLE` again (bounded by `budget`) and keep its replica count; a node
    /// that is no longer master starts a re-resolution.
    pub async fn refresh_replicas(self: &Arc<Self>, budget: Duration) -> RedisResult<()> {
        let mut conn = self.current();
        let role: Vec<redis::Value> =
            tokio::time::timeout(budget, redis::cmd("ROLE").query_async(&mut conn))
                .await
                .map_err(|_| fail("ROLE timed out"))??;
        match master_replicas(&role) {
            Some(n) => {
                self.replicas.store(n, Ordering::Release);
                Ok(())
            }
            None => {
                self.trigger();
                Err(fail("the node is no longer the master"))
            }
        }
    }

    /// Start resolving again in the background unless it already is; returns at once.
    pub fn trigger(self: &Arc<Self>) {
        if self.resolving.swap(true, Ordering::AcqRel) {
            return;
        }
        let weak: Weak<Self> = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                let Some(me) = weak.upgrade() else { return };
                let got = tokio::time::timeout(CONNECT_TIMEOUT * 2, resolve(&me.spec)).await;
                if let Ok(Ok((conn, replicas))) = got {
                    me.replicas.store(replicas, Ordering::Release);
                    me.current.store(Arc::new(conn));
                    me.generation.fetch_add(1, Ordering::AcqRel);
                    me.resolving.store(false, Ordering::Release);
                    tracing::info!("redis sentinel: connected to the current master");
                    return;
                }
                tracing::warn!("redis sentinel: no reachable master yet; retrying");
                drop(me);
                tokio::time::sleep(RETRY_EVERY).await;
            }
        });
    }

    /// Resolve again and wait (at most `budget`) until a newer master connection is in place.
    pub async fn reresolve_now(self: &Arc<Self>, budget: Duration) -> RedisResult<()> {
        let seen = self.generation();
        self.trigger();
        let wait = async {
            while self.generation() == seen {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        tokio::time::timeout(budget, wait)
            .await
            .map_err(|_| fail("the Sentinel master did not change in time"))
    }
}

/// Ask each sentinel in turn; connect to the first master that confirms its role.
async fn resolve(spec: &SentinelSpec) -> RedisResult<(MultiplexedConnection, i64)> {
    let mut last = fail("cache.sentinel_urls is empty");
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(CONNECT_TIMEOUT)
        .set_response_timeout(CONNECT_TIMEOUT);
    for sentinel in &spec.sentinels {
        let addr = async {
            let client = client_for(sentinel.clone(), &spec.certs)?;
            let mut conn = client
                .get_multiplexed_async_connection_with_config(&config)
                .await?;
            let addr: Option<(String, u16)> = redis::cmd("SENTINEL")
                .arg("GET-MASTER-ADDR-BY-NAME")
                .arg(&spec.master)
                .query_async(&mut conn)
                .await?;
            addr.ok_or_else(|| fail("the sentinel does not know cache.sentinel_master"))
        }
        .await;
        let (host, port) = match addr {
            Ok(a) => a,
            Err(e) => {
                last = e;
                continue;
            }
        };
        match connect_master(spec, host, port).await {
            Ok(found) => return Ok(found),
            Err(e) => last = e,
        }
    }
    Err(last)
}

async fn connect_master(
    spec: &SentinelSpec,
    host: String,
    port: u16,
) -> RedisResult<(MultiplexedConnection, i64)> {
    let addr = if spec.tls {
        ConnectionAddr::TcpTls {
            host,
            port,
            insecure: false,
            tls_params: None,
        }
    } else {
        ConnectionAddr::Tcp(host, port)
    };
    let info = ConnectionInfo {
        addr,
        redis: spec.node.clone(),
    };
    let client = client_for(info, &spec.certs)?;
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(CONNECT_TIMEOUT)
        .set_response_timeout(spec.response_timeout);
    let mut conn = client
        .get_multiplexed_async_connection_with_config(&config)
        .await?;
    let role: Vec<redis::Value> = redis::cmd("ROLE").query_async(&mut conn).await?;
    match master_replicas(&role) {
        Some(replicas) => Ok((conn, replicas)),
        None => Err(fail("the address the sentinel named is not (yet) a master")),
    }
}

/// From a `ROLE` reply: `Some(connected replicas)` when the node is a master, else `None`.
/// A master answers `["master", <offset>, [[ip, port, offset], ...]]`.
pub(crate) fn master_replicas(role: &[redis::Value]) -> Option<i64> {
    let is_master = match role.first() {
        Some(redis::Value::BulkString(b)) => b == b"master",
        Some(redis::Value::SimpleString(s)) => s == "master",
        _ => false,
    };
    if !is_master {
        return None;
    }
    let replicas = match role.get(2) {
        Some(redis::Value::Array(list)) => list.len(),
        _ => 0,
    };
    Some(i64::try_from(replicas).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::master_replicas;
    use redis::Value;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    fn replica(port: &str) -> Value {
        Value::Array(vec![bulk("127.0.0.1"), bulk(port), bulk("1234")])
    }

    #[test]
    fn a_write_waits_for_every_replica_the_master_lists() {
        let role = [
            bulk("master"),
            Value::Int(1234),
            Value::Array(vec![replica("7001"), replica("7002")]),
        ];
        assert_eq!(master_replicas(&role), Some(2));
        let alone = [bulk("master"), Value::Int(0), Value::Array(vec![])];
        assert_eq!(master_replicas(&alone), Some(0));
        let resp3 = [Value::SimpleString("master".into()), Value::Int(9)];
        assert_eq!(master_replicas(&resp3), Some(0), "no list: no replica");
    }

    #[test]
    fn a_demoted_node_is_not_a_master() {
        let role = [
            bulk("slave"),
            bulk("127.0.0.1"),
            Value::Int(7000),
            bulk("connected"),
            Value::Int(1234),
        ];
        assert_eq!(master_replicas(&role), None);
        assert_eq!(master_replicas(&[]), None);
    }
}
