//! A stand-in for the AWS federation endpoint (docs/AWS-RULES.md §6.2–6.3): a real HTTP server on a
//! loopback port, in its own thread and actix System, so any test (in-process handlers, a running
//! broker, a browser) can use it.
//!
//! - `GET /federation?Action=getSigninToken&Session=<json>[&SessionDuration=N]`: the Session JSON
//!   must have exactly `sessionId`, `sessionKey`, `sessionToken`, each a non-empty string, and
//!   SessionDuration must be 900–43200; anything else (including unknown or repeated parameters)
//!   is a 400, as a strict AWS would answer. Each accepted request is recorded; the answer is
//!   `{"SigninToken": "<random>"}`.
//! - `GET /federation?Action=login&Issuer=..&Destination=..&SigninToken=..`: 200 (an HTML page,
//!   as AWS signs the browser in) when the token was issued here less than 15 minutes ago and not
//!   used before; 400 otherwise. Each attempt is recorded.
//!
//! [`Mode`] makes getSigninToken fail the ways AWS can (5xx, refusal, garbage).
#![allow(dead_code)]

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// A sign-in token works this long after it is issued (AWS: 15 minutes).
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(15 * 60);

/// How getSigninToken answers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    #[default]
    Normal,
    /// 500 (AWS having a bad day).
    ServerError,
    /// 400, as AWS answers credentials it will not sign in.
    Refuse,
    /// 200 with HTML instead of JSON.
    Garbage,
}

/// One accepted getSigninToken request.
#[derive(Clone, Debug)]
pub struct TokenRequest {
    /// The Session JSON as received.
    pub session: serde_json::Value,
    pub session_duration: Option<u32>,
    pub token: String,
}

/// One login attempt.
#[derive(Clone, Debug)]
pub struct Login {
    pub issuer: Option<String>,
    pub destination: Option<String>,
    pub accepted: bool,
}

#[derive(Debug, Default)]
pub struct Recorded {
    pub mode: Mode,
    pub token_requests: Vec<TokenRequest>,
    /// Every request that reached the endpoint, valid or not.
    pub hits: usize,
    pub logins: Vec<Login>,
    /// token → (issued at, used)
    tokens: HashMap<String, (Instant, bool)>,
}

/// A running double; the server lives until the test process exits.
#[derive(Clone, Debug)]
pub struct FederationDouble {
    /// `http://127.0.0.1:<port>/federation`
    pub url: String,
    state: Arc<Mutex<Recorded>>,
}

impl FederationDouble {
    pub fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(Recorded::default()));
        let shared = state.clone();
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                HttpServer::new(move || {
                    App::new()
                        .app_data(web::Data::new(shared.clone()))
                        .route("/federation", web::get().to(federation))
                })
                .workers(1)
                .disable_signals()
                .listen(listener)
                .expect("listen")
                .run()
                .await
            })
        });
        Self {
            url: format!("http://127.0.0.1:{port}/federation"),
            state,
        }
    }

    pub fn recorded(&self) -> MutexGuard<'_, Recorded> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn set_mode(&self, mode: Mode) {
        self.recorded().mode = mode;
    }

    pub fn token_requests(&self) -> Vec<TokenRequest> {
        self.recorded().token_requests.clone()
    }

    pub fn hits(&self) -> usize {
        self.recorded().hits
    }
}

/// A loopback URL where nothing listens (a federation endpoint that is down).
pub fn closed_endpoint() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let port = l.local_addr().unwrap().port();
    drop(l);
    format!("http://127.0.0.1:{port}/federation")
}

async fn federation(req: HttpRequest, state: web::Data<Arc<Mutex<Recorded>>>) -> HttpResponse {
    let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
    s.hits += 1;
    let mut params: HashMap<String, String> = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(req.query_string().as_bytes()) {
        if params
            .insert(k.clone().into_owned(), v.into_owned())
            .is_some()
        {
            return bad(&format!("parameter {k} repeated"));
        }
    }
    match params.get("Action").map(String::as_str) {
        Some("getSigninToken") => signin_token(&mut s, &params),
        Some("login") => login(&mut s, &params),
        _ => bad("unknown Action"),
    }
}

fn signin_token(s: &mut Recorded, p: &HashMap<String, String>) -> HttpResponse {
    if let Some(k) = p
        .keys()
        .find(|k| !["Action", "Session", "SessionDuration"].contains(&k.as_str()))
    {
        return bad(&format!("unexpected parameter {k}"));
    }
    let Some(session) = p.get("Session") else {
        return bad("Session is required");
    };
    let Ok(session) = serde_json::from_str::<serde_json::Value>(session) else {
        return bad("Session is not JSON");
    };
    let fields_ok = session.as_object().is_some_and(|o| {
        o.len() == 3
            && ["sessionId", "sessionKey", "sessionToken"].iter().all(|f| {
                o.get(*f)
                    .and_then(|v| v.as_str())
                    .is_some_and(|v| !v.is_empty())
            })
    });
    if !fields_ok {
        return bad("Session must be {sessionId, sessionKey, sessionToken}, all non-empty");
    }
    let session_duration = match p.get("SessionDuration") {
        None => None,
        Some(d) => match d.parse::<u32>() {
            Ok(n) if (900..=43_200).contains(&n) && d.bytes().all(|b| b.is_ascii_digit()) => {
                Some(n)
            }
            _ => return bad("SessionDuration must be 900-43200"),
        },
    };
    match s.mode {
        Mode::Normal => {}
        Mode::ServerError => return HttpResponse::InternalServerError().finish(),
        Mode::Refuse => return bad("credentials refused"),
        Mode::Garbage => {
            return HttpResponse::Ok()
                .content_type("text/html")
                .body("<html>maintenance</html>")
        }
    }
    let token = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    s.tokens.insert(token.clone(), (Instant::now(), false));
    s.token_requests.push(TokenRequest {
        session,
        session_duration,
        token: token.clone(),
    });
    HttpResponse::Ok().json(serde_json::json!({ "SigninToken": token }))
}

fn login(s: &mut Recorded, p: &HashMap<String, String>) -> HttpResponse {
    let token = p.get("SigninToken").cloned().unwrap_or_default();
    let destination = p.get("Destination").cloned();
    let accepted = destination
        .as_deref()
        .is_some_and(|d| d.starts_with("https://"))
        && match s.tokens.get_mut(&token) {
            Some((issued, used)) if !*used && issued.elapsed() < TOKEN_LIFETIME => {
                *used = true;
                true
            }
            _ => false,
        };
    s.logins.push(Login {
        issuer: p.get("Issuer").cloned(),
        destination,
        accepted,
    });
    if accepted {
        HttpResponse::Ok()
            .content_type("text/html")
            .body("<html><title>AWS Management Console</title>signed in</html>")
    } else {
        bad("invalid, used or expired SigninToken")
    }
}

fn bad(why: &str) -> HttpResponse {
    HttpResponse::BadRequest()
        .content_type("text/plain")
        .body(why.to_owned())
}
