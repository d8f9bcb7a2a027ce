//! The loopback redirect of the browser sign-in (RFC 8252 §7.3): a one-shot HTTP listener on
//! `127.0.0.1` (a port the system picks) that receives `GET /callback?code=…&state=…`.
//!
//! Invariants: the listener binds the loopback address only; it answers any other path with 404
//! and keeps waiting; the first request to the callback path ends the wait: with the code when its
//! `state` is the one this sign-in sent, with an error otherwise (a different `state` means the
//! request did not come from this sign-in, so the sign-in stops instead of trusting it); the whole
//! wait is bounded by a timeout; the code is a [`Token`] and is never printed.

use crate::cli::state::Token;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// The path of the redirect URI.
pub const CALLBACK_PATH: &str = "/callback";
/// Largest request head read from the browser.
const MAX_HEAD: usize = 16 * 1024;

/// Why the callback did not deliver a code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallbackError {
    /// The `state` is missing or not the one sent.
    StateMismatch,
    /// The broker sent an OAuth error instead (e.g. `access_denied`).
    Refused {
        error: String,
        description: Option<String>,
    },
    /// Neither a code nor an error.
    NoCode,
}

impl std::fmt::Display for CallbackError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::StateMismatch => f.write_str(
                "the sign-in answer does not match this sign-in (wrong or missing state); \
                 start again with `fedbroker login`",
            ),
            Self::Refused { error, description } if error == "access_denied" => write!(
                f,
                "the sign-in was denied{}",
                description
                    .as_deref()
                    .map(|d| format!(" ({d})"))
                    .unwrap_or_default()
            ),
            Self::Refused { error, description } => write!(
                f,
                "the broker refused the sign-in: {error}{}",
                description
                    .as_deref()
                    .map(|d| format!(" ({d})"))
                    .unwrap_or_default()
            ),
            Self::NoCode => f.write_str("the sign-in answer carries no code"),
        }
    }
}

/// What one request to the listener means.
#[derive(Debug, PartialEq, Eq)]
pub enum Request {
    /// Not the callback (another path, a favicon, a malformed line): answer 404, keep waiting.
    Other,
    /// The callback: the code, or why there is none.
    Callback(Result<Token, CallbackError>),
}

/// Read one request's first line (`GET /callback?code=…&state=… HTTP/1.1`).
pub fn parse_request_line(line: &str, expected_state: &str) -> Request {
    let mut parts = line.split_ascii_whitespace();
    let (Some("GET"), Some(target)) = (parts.next(), parts.next()) else {
        return Request::Other;
    };
    let Ok(url) = url::Url::parse(&format!("http://127.0.0.1{target}")) else {
        return Request::Other;
    };
    if url.path() != CALLBACK_PATH {
        return Request::Other;
    }
    let mut code = None;
    let mut state = None;
    let mut error = None;
    let mut description = None;
    for (k, v) in url.query_pairs() {
        match k.as_ref() {
            "code" => code = Some(v.into_owned()),
            "state" => state = Some(v.into_owned()),
            "error" => error = Some(v.into_owned()),
            "error_description" => description = Some(v.into_owned()),
            _ => {}
        }
    }
    if state.as_deref() != Some(expected_state) {
        return Request::Callback(Err(CallbackError::StateMismatch));
    }
    Request::Callback(match (error, code) {
        (Some(error), _) => Err(CallbackError::Refused { error, description }),
        (None, Some(code)) if !code.is_empty() => Ok(Token::new(code)),
        _ => Err(CallbackError::NoCode),
    })
}

/// The bound listener and its redirect URI.
#[derive(Debug)]
pub struct Loopback {
    listener: TcpListener,
    pub redirect_uri: String,
}

impl Loopback {
    /// Bind `127.0.0.1:0`.
    pub async fn bind() -> Result<Self, String> {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|e| format!("cannot listen on 127.0.0.1 for the sign-in redirect: {e}"))?;
        let port = listener
            .local_addr()
            .map_err(|e| format!("cannot read the listener's port: {e}"))?
            .port();
        Ok(Self {
            listener,
            redirect_uri: format!("http://127.0.0.1:{port}{CALLBACK_PATH}"),
        })
    }

    /// Wait (at most `timeout`) for the callback; answer the browser with a short page.
    pub async fn wait(self, expected_state: &str, timeout: Duration) -> Result<Token, String> {
        let run = async {
            loop {
                let Ok((mut conn, _)) = self.listener.accept().await else {
                    continue;
                };
                let Some(line) = read_request_line(&mut conn).await else {
                    continue;
                };
                match parse_request_line(&line, expected_state) {
                    Request::Other => {
                        respond(&mut conn, "404 Not Found", "Not found.").await;
                    }
                    Request::Callback(Ok(code)) => {
                        respond(
                            &mut conn,
                            "200 OK",
                            "Signed in. You can close this window and go back to the terminal.",
                        )
                        .await;
                        return Ok(code);
                    }
                    Request::Callback(Err(e)) => {
                        respond(
                            &mut conn,
                            "400 Bad Request",
                            "The sign-in did not complete. Look at the terminal for the reason.",
                        )
                        .await;
                        return Err(e.to_string());
                    }
                }
            }
        };
        match tokio::time::timeout(timeout, run).await {
            Ok(r) => r,
            Err(_) => Err(format!(
                "no sign-in arrived within {} minutes; run `fedbroker login` again (or use \
                 --device when the browser cannot reach this machine)",
                timeout.as_secs() / 60
            )),
        }
    }
}

async fn read_request_line(conn: &mut tokio::net::TcpStream) -> Option<String> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    let read = async {
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < MAX_HEAD {
            match conn.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    };
    // A connection that sends nothing (a browser's speculative pre-connect) must not hold the wait.
    let _ = tokio::time::timeout(Duration::from_secs(5), read).await;
    let head = String::from_utf8_lossy(&buf);
    head.lines().next().map(str::to_owned)
}

async fn respond(conn: &mut tokio::net::TcpStream, status: &str, text: &str) {
    let body = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>fedbroker</title></head>\
         <body><p>{text}</p></body></html>"
    );
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = conn.write_all(head.as_bytes()).await;
    let _ = conn.write_all(body.as_bytes()).await;
    let _ = conn.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_callback_gives_the_code_when_the_state_matches() {
        assert_eq!(
            parse_request_line("GET /callback?code=abc%2B1&state=s1 HTTP/1.1", "s1"),
            Request::Callback(Ok(Token::new("abc+1")))
        );
    }

    #[test]
    fn a_wrong_or_missing_state_is_refused() {
        for line in [
            "GET /callback?code=abc&state=other HTTP/1.1",
            "GET /callback?code=abc HTTP/1.1",
            "GET /callback?code=abc&state= HTTP/1.1",
        ] {
            assert_eq!(
                parse_request_line(line, "s1"),
                Request::Callback(Err(CallbackError::StateMismatch)),
                "{line}"
            );
        }
    }

    #[test]
    fn an_error_answer_and_a_missing_code_are_reported() {
        let r = parse_request_line(
            "GET /callback?error=access_denied&error_description=no+thanks&state=s HTTP/1.1",
            "s",
        );
        let Request::Callback(Err(e)) = r else {
            panic!("{r:?}")
        };
        assert_eq!(e.to_string(), "the sign-in was denied (no thanks)");
        assert_eq!(
            parse_request_line("GET /callback?state=s HTTP/1.1", "s"),
            Request::Callback(Err(CallbackError::NoCode))
        );
    }

    #[test]
    fn other_requests_are_not_the_callback() {
        for line in [
            "GET /favicon.ico HTTP/1.1",
            "POST /callback?code=a&state=s HTTP/1.1",
            "GET /callbackx?code=a&state=s HTTP/1.1",
            "",
            "garbage",
        ] {
            assert_eq!(parse_request_line(line, "s"), Request::Other, "{line}");
        }
    }

    #[tokio::test]
    async fn the_listener_skips_other_paths_and_returns_the_code() {
        let lb = Loopback::bind().await.unwrap();
        assert!(lb.redirect_uri.starts_with("http://127.0.0.1:"));
        let base = lb.redirect_uri.trim_end_matches(CALLBACK_PATH).to_string();
        let waiter = tokio::spawn(lb.wait("st", Duration::from_secs(20)));
        let client = reqwest::Client::new();
        let r = client
            .get(format!("{base}/favicon.ico"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404);
        let r = client
            .get(format!("{base}/callback?code=the-code&state=st"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(waiter.await.unwrap().unwrap(), Token::new("the-code"));
    }

    #[tokio::test]
    async fn the_listener_gives_up_after_its_timeout() {
        let lb = Loopback::bind().await.unwrap();
        let e = lb.wait("st", Duration::from_millis(50)).await.unwrap_err();
        assert!(e.contains("no sign-in arrived"), "{e}");
    }
}
