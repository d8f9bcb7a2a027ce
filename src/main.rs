//! `fedbroker` command line: `serve`, `check-config`, `thumbprint`, `saml-check`, and the sign-in
//! verbs `login`, `credentials`, `profiles`, `console`, `logout`, `whoami` (their code lives in
//! `fedbroker::cli`). (`anyhow` lives here only.)
#![warn(clippy::disallowed_methods)]
#![warn(clippy::allow_attributes_without_reason)]

use actix_web::{web, HttpServer};
use anyhow::Context;
use clap::{Parser, Subcommand};
use fedbroker::config::{self, Config};
use fedbroker::http::{self, connections, AppState};
use fedbroker::thumbprint::{ThumbprintService, TlsThumbprinter};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// Config file used when neither --config nor FEDBROKER_CONFIG is given.
const DEFAULT_CONFIG: &str = "config/fedbroker.toml";

#[derive(Parser)]
#[command(
    name = "fedbroker",
    version,
    about = "Identity federation broker: SAML/OIDC to AWS STS credentials"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server.
    Serve {
        #[arg(long, env = "FEDBROKER_CONFIG", default_value = DEFAULT_CONFIG)]
        config: String,
    },
    /// Check a configuration (and load every IdP's metadata); print every problem; exit 2 if any.
    CheckConfig {
        #[arg(long, env = "FEDBROKER_CONFIG", default_value = DEFAULT_CONFIG)]
        config: String,
        /// Also contact every configured service (Redis round trip, each OIDC issuer's discovery
        /// and JWKS, each metadata_url, the STS and federation endpoints' reachability), print
        /// one line per service; a failed probe is a configuration problem (exit 2).
        #[arg(long)]
        probe: bool,
    },
    /// Print the IAM OIDC provider thumbprint of an issuer: SHA-1 of the last certificate served by
    /// the host of its jwks_uri (40 lowercase hex digits, no colons). Exit 1 on any failure.
    Thumbprint {
        /// The issuer URL (https), e.g. https://token.actions.githubusercontent.com
        url: String,
        /// Extra trusted root CA certificate(s), PEM; may be repeated. Mozilla's and the system's
        /// roots are always trusted.
        #[arg(long = "ca-file", value_name = "FILE")]
        ca_file: Vec<PathBuf>,
        /// Print the full report (host, certificate subject/issuer/dates, served chain) as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Would the broker accept this SAML Response from IdP NAME, and if not, why? Runs the
    /// server's validation offline (no replay record, no STS) and reports the verdict, the failing
    /// check with a hint, the verified facts and the roles the mapping rules offer.
    /// Exit 0 accepted, 1 refused, 2 usage or configuration error.
    SamlCheck {
        #[arg(long, env = "FEDBROKER_CONFIG", default_value = DEFAULT_CONFIG)]
        config: String,
        /// The `name` of the [[saml.idps]] entry to check against (only this IdP is trusted).
        #[arg(long, value_name = "NAME")]
        idp: String,
        /// Check at this time instead of now (RFC 3339, e.g. the Response's IssueInstant).
        #[arg(long, value_name = "RFC3339", value_parser = fedbroker::cli::saml_check::parse_at)]
        at: Option<chrono::DateTime<chrono::Utc>>,
        /// Print one JSON object instead of the text report.
        #[arg(long)]
        json: bool,
        /// File holding the SAMLResponse (base64, or the raw XML), or `-` for stdin.
        response: String,
    },
    /// Sign in to a broker from this terminal: a browser on this machine, or --device for a code
    /// to approve in any browser. Stores the session under $XDG_CONFIG_HOME/fedbroker/.
    Login(fedbroker::cli::commands::LoginArgs),
    /// Print credential_process JSON for a role (cached locally until shortly before expiry).
    Credentials(fedbroker::cli::commands::CredentialsArgs),
    /// Print (or --write into the AWS config file) one profile per role of the broker.
    Profiles(fedbroker::cli::commands::ProfilesArgs),
    /// Open the AWS console for a role (or --print its sign-in URL).
    Console(fedbroker::cli::commands::ConsoleArgs),
    /// End the session at the broker and forget it (and its cached credentials) here.
    Logout(fedbroker::cli::commands::BrokerArg),
    /// Show the broker, the signed-in subject, the session's end and the roles.
    Whoami(fedbroker::cli::commands::BrokerArg),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::CheckConfig { config, probe } => check_config(&config, probe),
        Command::Thumbprint { url, ca_file, json } => thumbprint(&url, &ca_file, json),
        Command::SamlCheck {
            config,
            idp,
            at,
            json,
            response,
        } => ExitCode::from(fedbroker::cli::saml_check::run(
            &fedbroker::cli::saml_check::SamlCheckArgs {
                config,
                idp,
                at,
                json,
                response,
            },
        )),
        Command::Login(a) => fedbroker::cli::commands::login(a),
        Command::Credentials(a) => fedbroker::cli::commands::credentials(a),
        Command::Profiles(a) => fedbroker::cli::commands::profiles(a),
        Command::Console(a) => fedbroker::cli::commands::console(a),
        Command::Logout(a) => fedbroker::cli::commands::logout(a),
        Command::Whoami(a) => fedbroker::cli::commands::whoami(a),
        Command::Serve { config } => match serve(&config) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("fedbroker: {e:#}");
                ExitCode::from(1)
            }
        },
    }
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
}

/// `check-config [--probe]`: exit 0 when the file (and, with `probe`, every service) is fine, 2
/// with every problem listed on stderr, 1 when the check itself cannot run.
fn check_config(path: &str, probe: bool) -> ExitCode {
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("fedbroker: cannot start runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let mut problems = Vec::new();
    let cfg = match config::load(Some(path)) {
        Ok(c) => Some(c),
        Err(e) => {
            problems.extend(e.0);
            None
        }
    };
    let mut probed = Vec::new();
    if let Some(cfg) = &cfg {
        if probe {
            // The probe loads the SAML IdPs itself (concurrently with the other services) and
            // reports their problems with the rest.
            let now = fedbroker::clock::Clock::now(&fedbroker::clock::SystemClock);
            let report = rt.block_on(fedbroker::cli::probe::run(cfg, now));
            problems.extend(report.problems);
            probed = report.services;
        } else if let Err(e) = rt.block_on(fedbroker::trust::load_idps(cfg)) {
            problems.extend(e.0);
        }
        let clock: fedbroker::clock::SharedClock =
            std::sync::Arc::new(fedbroker::clock::SystemClock);
        if let Err(e) = fedbroker::trust::load_oidc(cfg, clock.clone()) {
            problems.extend(e.0);
        }
        if let Err(e) = http::tls::ListenerTls::from_config(cfg, clock) {
            problems.extend(e.0);
        }
    }
    for idp in cfg.iter().flat_map(|c| &c.saml.idps) {
        if let Some(warning) = fedbroker::trust::legacy_algorithms_warning(idp) {
            eprintln!("warning: {warning}");
        }
    }
    for service in &probed {
        println!("{}", service.summary());
    }
    if probe && cfg.is_none() {
        println!("probe skipped: the configuration does not load, so no service was contacted");
    }
    if problems.is_empty() {
        let cfg = cfg.unwrap_or_default();
        println!(
            "config OK: {path} ({} SAML IdP(s), {} OIDC provider(s), replay store: {}, credential cache: {}, listener: {})",
            cfg.saml.idps.len(),
            cfg.oidc.providers.len(),
            fedbroker::redis_link::describe(&cfg.cache),
            credential_cache_kind(&cfg),
            match (&cfg.server.tls_cert_file, &cfg.server.tls_client_ca_file) {
                (None, _) => "http",
                (Some(_), None) => "https",
                (Some(_), Some(_)) => "https (client certificates for container credentials)",
            }
        );
        ExitCode::SUCCESS
    } else {
        eprintln!("{} configuration problem(s) in {path}:", problems.len());
        for p in &problems {
            eprintln!("  - {p}");
        }
        ExitCode::from(2)
    }
}

fn thumbprint(url: &str, ca_files: &[PathBuf], json: bool) -> ExitCode {
    let result = runtime().context("cannot start runtime").and_then(|rt| {
        rt.block_on(async {
            let thumbprinter = TlsThumbprinter::new(ca_files)?;
            thumbprinter.thumbprint(url).await
        })
        .map_err(anyhow::Error::from)
    });
    match result {
        Ok(t) => {
            if json {
                match serde_json::to_string_pretty(&t) {
                    Ok(s) => println!("{s}"),
                    Err(e) => {
                        eprintln!("fedbroker: {e}");
                        return ExitCode::from(1);
                    }
                }
            } else {
                println!("{}", t.thumbprint);
            }
            if t.chain_length == 1 {
                eprintln!(
                    "fedbroker: warning: {} served only its own certificate; this thumbprint \
                     changes whenever that certificate is renewed",
                    t.jwks_host
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("fedbroker thumbprint: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn serve(path: &str) -> anyhow::Result<()> {
    let cfg: Config = config::load(Some(path)).map_err(|e| anyhow::anyhow!("{e}"))?;
    fedbroker::telemetry::init(&cfg.log);
    let clock: fedbroker::clock::SharedClock = Arc::new(fedbroker::clock::SystemClock);
    let tls = http::tls::ListenerTls::from_config(&cfg, clock)
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .map(Arc::new);
    let rt = actix_web::rt::System::new();
    rt.block_on(async move {
        // The state with the metadata refresher (each metadata_url fetched again on its
        // schedule) and the reloader: SIGHUP (and POST /v1/admin/reload) reload the rules and
        // SAML IdPs from this file.
        let state = fedbroker::app::build_for_serving(&cfg, path)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let reloader = state
            .reloader
            .clone()
            .context("the serving state has no reloader")?;
        let hangups = fedbroker::reload::on_sighup(reloader)
            .context("cannot install the SIGHUP (reload) handler")?;
        actix_web::rt::spawn(hangups);
        // The same SIGHUP also re-reads the TLS listener's certificate and key (and a change
        // of the files is picked up without one, within a minute).
        if let Some(tls) = &tls {
            state.metrics.tls_certificate(tls.not_after(), None);
            let reloads = http::tls::reload_on_sighup_and_change(
                tls.clone(),
                state.metrics.clone(),
                http::tls::FILE_CHECK_EVERY,
            )
            .context("cannot install the SIGHUP (certificate reload) handler")?;
            actix_web::rt::spawn(reloads);
        }
        let data = web::Data::new(state);
        let workers = if cfg.server.workers == 0 {
            std::thread::available_parallelism().map_or(2, |n| n.get())
        } else {
            cfg.server.workers
        };
        // Connection limits (see `http::connections`): a deadline on every request body, a cap
        // on connections below the open-file limit, and actix's header/keep-alive/disconnect
        // timeouts set explicitly.
        let body_timeout = std::time::Duration::from_secs(cfg.server.body_timeout_secs);
        let fd_limit = connections::open_file_limit();
        let cap = connections::connection_cap(cfg.server.max_connections, fd_limit, workers);
        if cap.total as u64 > cap.safe {
            tracing::warn!(
                max_connections = cap.total,
                open_file_limit = fd_limit,
                "server.max_connections leaves fewer than {} descriptors free under the \
                 open-file limit: raise the limit (ulimit -n, LimitNOFILE) or lower the cap",
                connections::FD_RESERVE
            );
        }
        let public_url = cfg.server.public_url.clone();
        let metrics_server = metrics_server(&cfg, &data)?;
        let serve_metrics = metrics_server.is_none();
        let server = HttpServer::new(move || {
            // Runs once on each worker thread: standalone Redis links open a connection per
            // worker on its own runtime (no cross-thread hop per command).
            fedbroker::redis_link::mark_worker_thread();
            http::server::public_app(data.clone(), body_timeout, &public_url, serve_metrics)
        })
        .workers(workers)
        .max_connections(cap.per_worker)
        .client_request_timeout(connections::HEADER_TIMEOUT)
        .keep_alive(connections::KEEP_ALIVE)
        .client_disconnect_timeout(connections::DISCONNECT_TIMEOUT)
        .shutdown_timeout(cfg.server.shutdown_timeout_secs);
        let server = match &tls {
            Some(tls) => {
                let config = tls.server_config().map_err(|e| anyhow::anyhow!("{e}"))?;
                server
                    .on_connect(http::tls::on_connect)
                    .bind_rustls_0_23(&cfg.server.listen, config)
            }
            None => server.bind(&cfg.server.listen),
        }
        .with_context(|| format!("cannot listen on {}", cfg.server.listen))?;
        tracing::info!(
            listen = %cfg.server.listen,
            tls = tls.is_some(),
            client_certificates = tls.as_ref().is_some_and(|t| t.client_certificates()),
            idps = cfg.saml.idps.len(),
            rules = cfg.rules.len(),
            max_connections = cap.total,
            open_file_limit = fd_limit,
            body_timeout_secs = cfg.server.body_timeout_secs,
            "fedbroker listening (SIGHUP reloads rules and SAML IdPs)"
        );
        match metrics_server {
            // Both stop on SIGTERM (each server handles the signals itself).
            Some(metrics) => {
                let (public, metrics) = futures_util::future::join(server.run(), metrics).await;
                public.context("server failed")?;
                metrics.context("metrics listener failed")?;
            }
            None => server.run().await.context("server failed")?,
        }
        tracing::info!("fedbroker stopped");
        Ok(())
    })
}

/// The `server.metrics_listen` listener (`GET /metrics` only, same registry), bound now so a
/// taken port fails the start; `None` when not configured (`/metrics` is then on `listen`).
/// Not rate limited, one worker, few connections: it is meant for a scraper on an internal port.
fn metrics_server(
    cfg: &Config,
    data: &web::Data<AppState>,
) -> anyhow::Result<Option<actix_web::dev::Server>> {
    let Some(addr) = cfg.server.metrics_listen.clone() else {
        return Ok(None);
    };
    let data = data.clone();
    let public_url = cfg.server.public_url.clone();
    let server = HttpServer::new(move || http::server::metrics_app(data.clone(), &public_url))
        .workers(1)
        .max_connections(METRICS_MAX_CONNECTIONS)
        .client_request_timeout(connections::HEADER_TIMEOUT)
        .keep_alive(connections::KEEP_ALIVE)
        .client_disconnect_timeout(connections::DISCONNECT_TIMEOUT)
        .shutdown_timeout(cfg.server.shutdown_timeout_secs)
        .bind(&addr)
        .with_context(|| format!("cannot listen on {addr} (server.metrics_listen)"))?;
    tracing::info!(metrics_listen = %addr, "metrics served on their own listener");
    Ok(Some(server.run()))
}

/// Connections the metrics listener holds at once (scrapers: a handful).
const METRICS_MAX_CONNECTIONS: usize = 64;

/// Which credential cache the config selects (see `app::Stores`).
fn credential_cache_kind(cfg: &fedbroker::config::Config) -> &'static str {
    match (
        cfg.cache.enabled,
        fedbroker::redis_link::describe(&cfg.cache),
    ) {
        (false, _) => "disabled",
        (true, "in-process") => "in-process",
        (true, shared) => shared,
    }
}
