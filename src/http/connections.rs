//! Connection-level limits: how long a request body may take, how many connections the server
//! holds, and actix's own header, keep-alive and disconnect timeouts.
//!
//! Invariants:
//! - A request body must arrive completely within `server.body_timeout_secs` of its headers
//!   ([`body_deadline`]); after that the handler sees 408 `request_timeout` and the connection
//!   closes. A client announcing a large `Content-Length` and sending a byte at a time holds a
//!   connection for at most that long.
//! - The server never accepts more connections than it has file descriptors for: the cap is
//!   `server.max_connections` or, when 0, derived from the soft open-file limit
//!   (`RLIMIT_NOFILE`) minus [`FD_RESERVE`] for everything else the process opens (Redis, STS,
//!   IdP metadata and JWKS fetches, log and audit files), at most [`MAX_DERIVED_CONNECTIONS`]
//!   (memory). Connections beyond the cap wait in the listen backlog until a slot frees; they
//!   cost no descriptor and no memory in the process.

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::middleware::Next;
use actix_web::HttpMessage;
use futures_util::StreamExt;
use std::time::Duration;

/// Time a client has to send a request's headers (actix's `client_request_timeout`).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// How long an idle keep-alive connection stays open between requests.
pub const KEEP_ALIVE: Duration = Duration::from_secs(5);
/// How long a connection may take to shut down after its last response.
pub const DISCONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// File descriptors kept free for what the process opens besides client connections.
pub const FD_RESERVE: u64 = 256;
/// The derived cap never exceeds this many connections in total, so memory stays bounded even
/// with a very high open-file limit: each held connection costs ~20 KiB of buffers (see
/// docs/BENCHMARKS.md), ~90 MiB at this cap. Set `server.max_connections` for more.
pub const MAX_DERIVED_CONNECTIONS: u64 = 4_096;
/// Open-file limit assumed when it cannot be read (the usual Linux default).
const ASSUMED_FD_LIMIT: u64 = 1024;

/// The body deadline, carried in the `io::Error` a timed-out payload yields.
#[derive(Debug, Clone, Copy)]
pub struct BodyDeadline {
    pub seconds: u64,
}

impl std::fmt::Display for BodyDeadline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the request body did not arrive within {} seconds",
            self.seconds
        )
    }
}

impl std::error::Error for BodyDeadline {}

impl BodyDeadline {
    /// The deadline that cut `err` off, if a deadline did.
    pub fn of(err: &PayloadError) -> Option<BodyDeadline> {
        match err {
            PayloadError::Io(e) => e.get_ref()?.downcast_ref::<BodyDeadline>().copied(),
            _ => None,
        }
    }
}

/// Middleware factory: every request body must arrive within `timeout` of the request's headers.
/// Requests without a body are passed through untouched.
pub async fn body_deadline(
    timeout: Duration,
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let payload = req.take_payload();
    if matches!(payload, Payload::None) {
        req.set_payload(payload);
    } else {
        req.set_payload(with_deadline(payload, timeout));
    }
    next.call(req).await
}

/// `payload`, ending with a `BodyDeadline` error once `timeout` has passed.
pub fn with_deadline(payload: Payload, timeout: Duration) -> Payload {
    struct State {
        inner: Payload,
        sleep: std::pin::Pin<Box<tokio::time::Sleep>>,
        done: bool,
        seconds: u64,
    }
    let state = State {
        inner: payload,
        sleep: Box::pin(tokio::time::sleep(timeout)),
        done: false,
        seconds: timeout.as_secs(),
    };
    let stream = futures_util::stream::unfold(state, |mut s| async move {
        if s.done {
            return None;
        }
        tokio::select! {
            biased;
            item = s.inner.next() => item.map(|i| (i, s)),
            () = &mut s.sleep => {
                s.done = true;
                let e = std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    BodyDeadline { seconds: s.seconds },
                );
                Some((Err(PayloadError::Io(e)), s))
            }
        }
    });
    Payload::Stream {
        payload: Box::pin(stream),
    }
}

/// The soft open-file limit of this process (`Max open files` in `/proc/self/limits`), if known.
pub fn open_file_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    parse_open_file_limit(&text)
}

fn parse_open_file_limit(limits: &str) -> Option<u64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let soft = line
        .trim_start_matches("Max open files")
        .split_whitespace()
        .next()?;
    match soft {
        "unlimited" => Some(u64::MAX),
        n => n.parse().ok(),
    }
}

/// The highest connection count that leaves [`FD_RESERVE`] descriptors free under `fd_limit`
/// (half the limit when it is very low), at most [`MAX_DERIVED_CONNECTIONS`].
pub fn safe_connection_cap(fd_limit: Option<u64>) -> u64 {
    let limit = fd_limit.unwrap_or(ASSUMED_FD_LIMIT);
    let cap = if limit > 2 * FD_RESERVE {
        limit - FD_RESERVE
    } else {
        limit / 2
    };
    cap.clamp(1, MAX_DERIVED_CONNECTIONS)
}

/// The connection cap in force: per worker (actix counts per worker) and in total.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionCap {
    pub per_worker: usize,
    pub total: usize,
    /// The derived safe cap, for a warning when a configured cap exceeds it.
    pub safe: u64,
}

/// `configured` (`server.max_connections`; 0 = derive from the open-file limit) split over
/// `workers`.
pub fn connection_cap(configured: usize, fd_limit: Option<u64>, workers: usize) -> ConnectionCap {
    let safe = safe_connection_cap(fd_limit);
    let total = if configured == 0 {
        usize::try_from(safe).unwrap_or(usize::MAX)
    } else {
        configured
    };
    let workers = workers.max(1);
    let per_worker = (total / workers).max(1);
    ConnectionCap {
        per_worker,
        total: per_worker * workers,
        safe,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: &str =
        "Limit                     Soft Limit           Hard Limit           Units     \n\
        Max processes             63704                63704                processes \n\
        Max open files            20000                524288               files     \n";

    #[test]
    fn reads_the_soft_open_file_limit() {
        assert_eq!(parse_open_file_limit(LIMITS), Some(20000));
        assert_eq!(
            parse_open_file_limit("Max open files unlimited unlimited files"),
            Some(u64::MAX)
        );
        assert_eq!(parse_open_file_limit("Max processes 1 1"), None);
        assert!(
            open_file_limit().is_some(),
            "this process's limit is readable"
        );
    }

    #[test]
    fn derived_cap_stays_below_the_descriptor_limit() {
        assert_eq!(safe_connection_cap(Some(1024)), 768);
        assert_eq!(safe_connection_cap(Some(4000)), 3744);
        assert_eq!(safe_connection_cap(Some(65536)), MAX_DERIVED_CONNECTIONS);
        assert_eq!(safe_connection_cap(Some(300)), 150);
        assert_eq!(safe_connection_cap(Some(u64::MAX)), MAX_DERIVED_CONNECTIONS);
        assert_eq!(safe_connection_cap(None), 768);
        assert_eq!(safe_connection_cap(Some(0)), 1);
    }

    #[test]
    fn cap_is_split_over_workers() {
        let cap = connection_cap(0, Some(1024), 2);
        assert_eq!((cap.per_worker, cap.total), (384, 768));
        let cap = connection_cap(100, Some(1024), 3);
        assert_eq!((cap.per_worker, cap.total), (33, 99));
        assert_eq!(connection_cap(1, Some(1024), 4).per_worker, 1);
    }

    #[actix_web::test]
    async fn a_body_slower_than_its_deadline_ends_with_the_deadline_error() {
        // One byte, then nothing: a client that announced more and stalls.
        let stalled = futures_util::stream::iter([Ok(actix_web::web::Bytes::from_static(b"a"))])
            .chain(futures_util::stream::pending());
        let mut payload = with_deadline(
            Payload::Stream {
                payload: Box::pin(stalled),
            },
            Duration::from_millis(50),
        );
        assert_eq!(payload.next().await.unwrap().unwrap(), &b"a"[..]);
        let err = payload.next().await.unwrap().unwrap_err();
        assert_eq!(BodyDeadline::of(&err).map(|d| d.seconds), Some(0));
        assert!(payload.next().await.is_none(), "nothing after the deadline");
    }
}
