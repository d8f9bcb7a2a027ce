//! The sign-in commands against a small fake broker (actix-web, in this test) that follows the
//! broker's CLI contract: device and loopback sign-in, the local credentials copy (a second call
//! makes no request), quiet refresh, logout, and the "run fedbroker login" line.

use crate::cli::broker_client::{BrokerClient, BrokerUrl};
use crate::cli::session::{self, SessionError};
use crate::cli::state::Env;
use crate::cli::{credentials, login, profiles, whoami};
use crate::clock::{Clock, FixedClock};
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use std::collections::{HashMap, HashSet};
use std::os::unix::fs::PermissionsExt;
use std::sync::Mutex;
use std::time::Duration;

const SUBJECT: &str = "alice@example.com";
const ROLE: &str = "arn:aws:iam::111122223333:role/Dev";

#[derive(Default)]
struct Fake {
    /// Every request, as `METHOD path`.
    requests: Vec<String>,
    /// Device-code polls answered so far.
    polls: u32,
    deny: bool,
    /// The device code is never approved, and lives one interval.
    never_approved: bool,
    /// Each refresh answers a new refresh token and retires the old one.
    rotate: bool,
    access: HashSet<String>,
    refresh: HashSet<String>,
    issued: u32,
    /// From `/oauth/authorize`: (code_challenge, redirect_uri).
    authorize: Option<(String, String)>,
    revoked: u32,
}

type Shared = web::Data<Mutex<Fake>>;
type Form = web::Form<HashMap<String, String>>;

fn oauth_error(code: &str) -> HttpResponse {
    HttpResponse::BadRequest().json(serde_json::json!({"error": code, "error_description": "fake"}))
}

fn issue(f: &mut Fake) -> HttpResponse {
    f.issued += 1;
    let access = format!("at-{}", f.issued);
    f.access.insert(access.clone());
    let refresh = if f.rotate {
        format!("rt-{}", f.issued)
    } else {
        "rt-1".to_string()
    };
    f.refresh.insert(refresh.clone());
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(serde_json::json!({
            "access_token": access, "token_type": "Bearer", "expires_in": 600,
            "refresh_token": refresh, "session_expires_at": "2030-01-01T08:00:00Z"
        }))
}

fn log<'a>(f: &'a Shared, req: &HttpRequest) -> std::sync::MutexGuard<'a, Fake> {
    let mut g = f.lock().unwrap();
    g.requests.push(format!("{} {}", req.method(), req.path()));
    g
}

async fn device_authorization(f: Shared, req: HttpRequest, form: Form) -> HttpResponse {
    let g = log(&f, &req);
    assert_eq!(
        form.get("client_id").map(String::as_str),
        Some("fedbroker-cli")
    );
    HttpResponse::Ok().json(serde_json::json!({
        "device_code": "dc-secret", "user_code": "BCDF-GHJK",
        "verification_uri": "https://b.example/device",
        "verification_uri_complete": "https://b.example/device?user_code=BCDF-GHJK",
        "expires_in": if g.never_approved { 20 } else { 600 }, "interval": 1
    }))
}

async fn token(f: Shared, req: HttpRequest, form: Form) -> HttpResponse {
    let mut g = log(&f, &req);
    assert_eq!(
        form.get("client_id").map(String::as_str),
        Some("fedbroker-cli")
    );
    let field = |k: &str| form.get(k).cloned().unwrap_or_default();
    match field("grant_type").as_str() {
        "urn:ietf:params:oauth:grant-type:device_code" => {
            assert_eq!(field("device_code"), "dc-secret");
            g.polls += 1;
            if g.never_approved {
                return oauth_error("authorization_pending");
            }
            match g.polls {
                1 => oauth_error("authorization_pending"),
                2 => oauth_error("slow_down"),
                3 if g.deny => oauth_error("access_denied"),
                3 => issue(&mut g),
                _ => oauth_error("invalid_grant"),
            }
        }
        "authorization_code" => {
            let Some((challenge, redirect)) = g.authorize.clone() else {
                return oauth_error("invalid_grant");
            };
            let verifier_ok = crate::cli::pkce::s256(&field("code_verifier")) == challenge;
            if field("code") == "the-code" && field("redirect_uri") == redirect && verifier_ok {
                issue(&mut g)
            } else {
                oauth_error("invalid_grant")
            }
        }
        "refresh_token" if g.refresh.contains(&field("refresh_token")) => {
            if g.rotate {
                g.refresh.remove(&field("refresh_token"));
            }
            issue(&mut g)
        }
        "refresh_token" => oauth_error("invalid_grant"),
        _ => oauth_error("unsupported_grant_type"),
    }
}

async fn authorize(f: Shared, req: HttpRequest) -> HttpResponse {
    let mut g = log(&f, &req);
    let q: HashMap<String, String> =
        serde_urlencoded::from_str(req.query_string()).unwrap_or_default();
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["response_type"], "code");
    let redirect = q["redirect_uri"].clone();
    g.authorize = Some((q["code_challenge"].clone(), redirect.clone()));
    let to =
        url::Url::parse_with_params(&redirect, &[("code", "the-code"), ("state", &q["state"])])
            .unwrap();
    HttpResponse::Found()
        .insert_header(("Location", to.as_str()))
        .finish()
}

async fn revoke(f: Shared, req: HttpRequest, form: Form) -> HttpResponse {
    let mut g = log(&f, &req);
    if form.get("token").is_some_and(|t| g.refresh.remove(t)) {
        g.access.clear();
    }
    g.revoked += 1;
    HttpResponse::Ok().finish()
}

fn bearer_ok(g: &Fake, req: &HttpRequest) -> bool {
    req.headers()
        .get("Authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| g.access.contains(t))
}

fn session_invalid() -> HttpResponse {
    HttpResponse::Unauthorized().json(serde_json::json!({"error": {
        "code": "cli_session_invalid", "message": "sign in again"}}))
}

async fn roles(f: Shared, req: HttpRequest) -> HttpResponse {
    let g = log(&f, &req);
    if !bearer_ok(&g, &req) {
        return session_invalid();
    }
    HttpResponse::Ok().json(serde_json::json!({
        "subject": SUBJECT, "session_expires_at": "2030-01-01T08:00:00Z",
        "roles": [{"role_arn": ROLE, "alias": "dev", "account_id": "111122223333",
                   "role_name": "Dev", "mode": "saml", "region": "eu-west-1"}]
    }))
}

async fn credentials_endpoint(
    f: Shared,
    req: HttpRequest,
    body: web::Json<serde_json::Value>,
) -> HttpResponse {
    let g = log(&f, &req);
    if !bearer_ok(&g, &req) {
        return session_invalid();
    }
    assert!(
        body["role_arn"] == ROLE || body["role_arn"] == "dev",
        "{body}"
    );
    HttpResponse::Ok().json(serde_json::json!({
        "Version": 1, "AccessKeyId": format!("ASIA{}", g.requests.len()),
        "SecretAccessKey": "secret-key", "SessionToken": "session-token",
        "Expiration": "2030-01-01T01:00:00Z", "AssumedRoleArn": ROLE, "Subject": SUBJECT
    }))
}

/// Start the fake broker; its URL and state.
async fn fake_broker(fake: Fake) -> (BrokerClient, Shared) {
    let data = web::Data::new(Mutex::new(fake));
    let shared = data.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route(
                "/oauth/device_authorization",
                web::post().to(device_authorization),
            )
            .route("/oauth/token", web::post().to(token))
            .route("/oauth/authorize", web::get().to(authorize))
            .route("/oauth/revoke", web::post().to(revoke))
            .route("/v1/roles", web::get().to(roles))
            .route("/v1/credentials", web::post().to(credentials_endpoint))
    })
    .workers(1)
    .disable_signals()
    .bind(("127.0.0.1", 0))
    .unwrap();
    let port = server.addrs()[0].port();
    actix_web::rt::spawn(server.run());
    let broker = BrokerUrl::parse(&format!("http://127.0.0.1:{port}/")).unwrap();
    (BrokerClient::new(broker).unwrap(), shared)
}

fn env(dir: &tempfile::TempDir) -> Env {
    Env {
        state_dir: dir.path().join("config").join("fedbroker"),
        aws_config_file: dir.path().join("aws").join("config"),
        browser: None,
    }
}

fn clock() -> FixedClock {
    FixedClock::new("2030-01-01T00:00:00Z".parse().unwrap())
}

fn requests(f: &Shared) -> Vec<String> {
    f.lock().unwrap().requests.clone()
}

async fn device_login(env: &Env, client: &BrokerClient, clock: &dyn Clock) -> Result<(), String> {
    let mut told = String::new();
    login::device(
        env,
        client,
        clock,
        |t| told = t.to_string(),
        Duration::from_millis(10),
    )
    .await
    .map(|_| ())?;
    assert!(
        told.contains("https://b.example/device?user_code=BCDF-GHJK"),
        "{told}"
    );
    assert!(!told.contains("dc-secret"));
    Ok(())
}

#[actix_web::test]
async fn device_login_then_credentials_from_the_local_copy_then_a_quiet_refresh() {
    let dir = tempfile::tempdir().unwrap();
    let env = env(&dir);
    let clock = clock();
    let (client, fake) = fake_broker(Fake::default()).await;

    device_login(&env, &client, &clock).await.unwrap();
    assert_eq!(
        fake.lock().unwrap().polls,
        3,
        "pending, slow_down, then the token"
    );
    let stored = session::load(&env, client.broker()).unwrap().unwrap();
    assert_eq!(stored.subject.as_deref(), Some(SUBJECT));
    let mode = std::fs::metadata(env.sessions_file())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    let text = std::fs::read_to_string(env.sessions_file()).unwrap();
    assert!(
        text.contains(client.broker().key()),
        "keyed by the normalised URL: {text}"
    );

    // First call: one request to the broker. Second: none.
    let c1 = credentials::get(&env, &client, &clock, ROLE, None)
        .await
        .unwrap();
    let after_first = requests(&fake);
    assert_eq!(after_first.last().unwrap(), "POST /v1/credentials");
    let c2 = credentials::get(&env, &client, &clock, ROLE, None)
        .await
        .unwrap();
    assert_eq!(c1, c2);
    assert_eq!(
        requests(&fake),
        after_first,
        "the second call made no request"
    );
    let mode = std::fs::metadata(env.credentials_file())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);

    // 46 minutes later: inside the refresh window of one-hour credentials, and the 10-minute
    // access token has ended: the token is refreshed quietly, then the credentials fetched.
    clock.advance(chrono::Duration::minutes(46));
    let c3 = credentials::get(&env, &client, &clock, ROLE, None)
        .await
        .unwrap();
    assert_ne!(c3.access_key_id, c1.access_key_id);
    let new: Vec<String> = requests(&fake)[after_first.len()..].to_vec();
    assert_eq!(new, ["POST /oauth/token", "POST /v1/credentials"]);
    let stored2 = session::load(&env, client.broker()).unwrap().unwrap();
    assert_ne!(stored2.access_token, stored.access_token);
    assert_eq!(stored2.subject.as_deref(), Some(SUBJECT));

    // whoami reads the same session.
    let who = whoami::roles(&env, &client, &clock).await.unwrap();
    assert_eq!(who.subject, SUBJECT);
    assert_eq!(who.roles[0].alias.as_deref(), Some("dev"));

    // profiles --write from the same answer.
    let list = profiles::profiles("corp-", &who.roles);
    let block = profiles::render_block(client.broker(), "/opt/fed broker/fedbroker", &list);
    profiles::write_block(&env.aws_config_file, client.broker(), &block).unwrap();
    let text = std::fs::read_to_string(&env.aws_config_file).unwrap();
    let expected = format!(
        "[profile corp-dev]\ncredential_process = \"/opt/fed broker/fedbroker\" credentials \
         --broker {} --role {ROLE}\nregion = eu-west-1\n",
        client.broker()
    );
    assert!(text.contains(&expected), "{text}");
    assert!(text.starts_with(&format!("# BEGIN fedbroker {}\n", client.broker())));
}

#[actix_web::test]
async fn a_missing_or_revoked_session_says_run_fedbroker_login() {
    let dir = tempfile::tempdir().unwrap();
    let env = env(&dir);
    let clock = clock();
    let (client, fake) = fake_broker(Fake::default()).await;
    let expected = format!(
        "not signed in to {b} (no session, or it has ended): run `fedbroker login --broker {b}`",
        b = client.broker()
    );

    let e = credentials::get(&env, &client, &clock, ROLE, None)
        .await
        .unwrap_err();
    assert_eq!(e, SessionError::Ended);
    assert_eq!(e.message(client.broker()), expected);
    assert!(requests(&fake).is_empty(), "no session: no request");

    device_login(&env, &client, &clock).await.unwrap();
    credentials::get(&env, &client, &clock, ROLE, None)
        .await
        .unwrap();
    // The broker ends the session (admin revoke): the access token is refused (401), the one
    // refresh is refused (invalid_grant), and the local entry is gone.
    {
        let mut g = fake.lock().unwrap();
        g.access.clear();
        g.refresh.clear();
    }
    let e = credentials::get(&env, &client, &clock, "dev", None)
        .await
        .unwrap_err();
    assert_eq!(e.message(client.broker()), expected);
    let tail: Vec<String> = requests(&fake)
        .iter()
        .rev()
        .take(2)
        .rev()
        .cloned()
        .collect();
    assert_eq!(tail, ["POST /v1/credentials", "POST /oauth/token"]);
    assert!(session::load(&env, client.broker()).unwrap().is_none());
    let cache = std::fs::read_to_string(env.credentials_file()).unwrap();
    assert!(
        !cache.contains("ASIA"),
        "cached credentials forgotten: {cache}"
    );
}

#[actix_web::test]
async fn a_denied_device_code_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let env = env(&dir);
    let (client, _fake) = fake_broker(Fake {
        deny: true,
        ..Fake::default()
    })
    .await;
    let e = device_login(&env, &client, &clock()).await.unwrap_err();
    assert!(e.contains("denied"), "{e}");
    assert!(!env.sessions_file().exists());
}

#[actix_web::test]
async fn a_device_code_never_approved_ends_when_it_expires() {
    let dir = tempfile::tempdir().unwrap();
    let env = env(&dir);
    let (client, fake) = fake_broker(Fake {
        never_approved: true,
        ..Fake::default()
    })
    .await;
    let e = device_login(&env, &client, &clock()).await.unwrap_err();
    assert!(e.contains("expired"), "{e}");
    let polls = fake.lock().unwrap().polls;
    assert!(
        (1..=20).contains(&polls),
        "one poll per interval until expiry: {polls}"
    );
    assert!(!env.sessions_file().exists());
}

#[actix_web::test]
async fn loopback_login_with_pkce_and_state() {
    let dir = tempfile::tempdir().unwrap();
    let env = env(&dir);
    let clock = clock();
    let (client, fake) = fake_broker(Fake::default()).await;
    device_login(&env, &client, &clock).await.unwrap();
    // The "browser": follows the authorize URL and its redirect to the loopback listener.
    let show = |url: &str| {
        let url = url.to_string();
        actix_web::rt::spawn(async move {
            let _ = reqwest::get(url).await;
        });
    };
    let stored = login::loopback(&env, &client, &clock, show, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(stored.subject.as_deref(), Some(SUBJECT));
    let (_, redirect) = fake.lock().unwrap().authorize.clone().unwrap();
    assert!(redirect.starts_with("http://127.0.0.1:") && redirect.ends_with("/callback"));
    assert_eq!(fake.lock().unwrap().issued, 2);
    assert_eq!(
        fake.lock().unwrap().revoked,
        1,
        "the previous session was ended"
    );
}

#[actix_web::test]
async fn a_callback_with_another_state_stops_the_loopback_sign_in() {
    let dir = tempfile::tempdir().unwrap();
    let env = env(&dir);
    let (client, fake) = fake_broker(Fake::default()).await;
    // Something other than this sign-in's browser reaches the listener first.
    let show = |url: &str| {
        let url = url::Url::parse(url).unwrap();
        let redirect = url
            .query_pairs()
            .find(|(k, _)| k == "redirect_uri")
            .unwrap()
            .1
            .into_owned();
        actix_web::rt::spawn(async move {
            let _ = reqwest::get(format!("{redirect}?code=the-code&state=forged")).await;
        });
    };
    let e = login::loopback(&env, &client, &clock(), show, Duration::from_secs(30))
        .await
        .unwrap_err();
    assert!(e.contains("does not match this sign-in"), "{e}");
    assert!(requests(&fake).is_empty(), "no code was redeemed");
    assert!(!env.sessions_file().exists());
}

#[actix_web::test]
async fn a_refresh_token_rotated_by_another_process_is_picked_up() {
    let dir = tempfile::tempdir().unwrap();
    let env = env(&dir);
    let clock = clock();
    let (client, _fake) = fake_broker(Fake {
        rotate: true,
        ..Fake::default()
    })
    .await;
    device_login(&env, &client, &clock).await.unwrap();
    let stale = session::load(&env, client.broker()).unwrap().unwrap();
    // Another process refreshes first (rotating the refresh token) and stores its session.
    let theirs = session::refresh(&env, &client, &clock, stale.clone())
        .await
        .unwrap();
    // This one, still holding the old session, is refused, then finds the newer session.
    let mine = session::refresh(&env, &client, &clock, stale)
        .await
        .unwrap();
    assert_eq!(mine, theirs);
    assert!(session::load(&env, client.broker()).unwrap().is_some());
}

#[actix_web::test]
async fn logout_revokes_at_the_broker_and_forgets_locally() {
    let dir = tempfile::tempdir().unwrap();
    let env = env(&dir);
    let clock = clock();
    let (client, fake) = fake_broker(Fake::default()).await;
    device_login(&env, &client, &clock).await.unwrap();
    credentials::get(&env, &client, &clock, ROLE, None)
        .await
        .unwrap();
    let line = whoami::logout(&env, &client).await.unwrap();
    assert_eq!(line, format!("signed out of {}", client.broker()));
    assert_eq!(fake.lock().unwrap().revoked, 1);
    assert!(
        fake.lock().unwrap().refresh.is_empty(),
        "the refresh token was revoked"
    );
    assert!(session::load(&env, client.broker()).unwrap().is_none());
    assert!(!std::fs::read_to_string(env.credentials_file())
        .unwrap()
        .contains("ASIA"));
    // Signed out: the next call says to sign in.
    assert_eq!(
        credentials::get(&env, &client, &clock, ROLE, None)
            .await
            .unwrap_err(),
        SessionError::Ended
    );
}
