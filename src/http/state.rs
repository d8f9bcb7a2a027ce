//! The state every handler reads: [`AppState`], one per running broker, shared by every worker.
//!
//! It is built in `app` (`app::build` for the server, `AppState::from_parts` for tests); this
//! file only holds the type and what a request does with it.
//!
//! The exchange (mapping rules, SAML validator) and SAML browser sign-in sit in one swappable
//! snapshot (`reload::Live`): handlers take it with [`AppState::exchange`] / [`AppState::live`]
//! once per request; a `Reloader` (SIGHUP) swaps in a new one for later requests.

use crate::console::{ConsoleService, ConsoleSignin};
use crate::error::ApiError;
use crate::exchange::{Exchange, IssuedCredentials};
use crate::issuer::Issuer;
use crate::reload::{Live, Reloader, SharedLive};
use crate::sign_in::{OidcBrowser, SamlBrowser, SessionStore};
use crate::telemetry::metrics::Metrics;
use crate::thumbprint::ThumbprintService;
use secrecy::SecretString;
use std::sync::Arc;
use std::time::Duration;

/// Shared state of a running broker (immutable but for the reloadable snapshot).
#[derive(Debug, Clone)]
pub struct AppState {
    /// Exchange and SAML browser sign-in, swapped as one by a reload (see [`Self::live`]).
    pub(crate) live: SharedLive,
    /// Reloads `live` from the config file (`None`: not started from a file, e.g. tests).
    pub reloader: Option<Arc<Reloader>>,
    pub max_body_bytes: usize,
    /// `GET /v1/thumbprint` (an `IssuerGate` built from the config; tests may replace it).
    pub thumbprint: Arc<dyn ThumbprintService>,
    /// Issuer mode (`[issuer] enabled`): keys and public documents; `None` when disabled.
    pub issuer: Option<Arc<Issuer>>,
    /// Bearer token for `/v1/admin/*`; `None`: admin endpoints disabled.
    pub admin_token: Option<SecretString>,
    /// Default block after a revocation.
    pub revocation_block: Duration,
    /// Prometheus registry behind `GET /metrics`.
    pub metrics: Arc<Metrics>,
    /// The audit log (`[audit]`).
    pub audit: crate::audit::Audit,
    /// Browser sign-in (OIDC code flow) and broker sessions.
    pub oidc_browser: Arc<OidcBrowser>,
    pub sessions: Arc<SessionStore>,
    /// `Secure` cookies: everywhere except a plain-http loopback `public_url` (development, tests).
    pub secure_cookies: bool,
    /// `GET /v1/container-credentials` needs a verified TLS client certificate on the connection
    /// (`server.tls_client_ca_file` is set; see `http::tls`).
    pub container_client_certificates: bool,
    /// Console sign-in URLs (`POST /v1/console-url`).
    pub console: Arc<ConsoleService>,
    /// `server.trusted_proxies`: which peers may name the client (`http::middleware::client_addr`).
    pub trusted_proxies: Arc<crate::config::TrustedProxies>,
    /// The authorization server of `fedbroker login` (device and loopback grants, CLI sessions),
    /// over the browser-state store.
    pub oauth: Arc<crate::oauth::Oauth>,
    /// `server.public_url` without a trailing `/` (the device grant's verification URI).
    pub public_url: Arc<str>,
    /// `aws.region` (the region `GET /v1/roles` tells the CLI to write into its profiles).
    pub aws_region: Arc<str>,
}

impl AppState {
    /// Audit and count an answer about to be handed out on `route`; an `Err` (audit fail-closed)
    /// means the credentials must be withheld. Handlers go through [`Self::record_outcome`].
    fn record_issued(
        &self,
        req: &actix_web::HttpRequest,
        route: &str,
        issued: &IssuedCredentials,
    ) -> Result<(), crate::audit::AuditUnavailable> {
        let now = self.now();
        let client = crate::http::middleware::client_addr::client_ip_string(req);
        self.audit.issued(route, issued, client.as_deref(), now)?;
        self.metrics.issued(issued, now);
        Ok(())
    }

    /// The end every credential route shares (SAML, web identity, container, console URL, the
    /// browser's console): the exchange's `result` recorded on `route` and handed back for the
    /// route's own answer. A refusal is audited and counted (`fedbroker_credential_refusals_total`)
    /// and comes back as the error to answer; issued credentials are audited and counted before
    /// anyone sees them, and when the record cannot be written (`audit.fail_closed`) the audit
    /// failure comes back instead, so the credentials are withheld.
    pub fn record_outcome<T: Issued, E: ApiError + 'static>(
        &self,
        req: &actix_web::HttpRequest,
        route: &str,
        result: Result<T, E>,
    ) -> Result<T, Box<dyn ApiError>> {
        match result {
            Ok(answer) => match self.record_issued(req, route, answer.issued()) {
                Ok(()) => Ok(answer),
                Err(withheld) => Err(Box::new(withheld)),
            },
            Err(refused) => {
                self.record_refused(req, route, &refused);
                Err(Box::new(refused))
            }
        }
    }

    /// The broker's clock (the exchange snapshot's), for audit records.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.live.load().exchange.clock.now()
    }

    /// Audit and count (`fedbroker_credential_refusals_total`) a refused credential request on
    /// `route`.
    pub fn record_refused(&self, req: &actix_web::HttpRequest, route: &str, err: &dyn ApiError) {
        let client = crate::http::middleware::client_addr::client_ip_string(req);
        self.audit
            .refused(route, err, client.as_deref(), self.now());
        self.metrics.refused(route, err.code());
    }

    /// The snapshot one request works with from start to end: a reload swaps in a new one for
    /// later requests and never changes it under a request (lock-free load).
    pub fn live(&self) -> Arc<Live> {
        self.live.load_full()
    }

    /// The current exchange (rules, IdPs and services): see [`Self::live`].
    pub fn exchange(&self) -> Arc<Exchange> {
        Arc::clone(&self.live.load().exchange)
    }

    /// The current SAML browser sign-in: see [`Self::live`].
    pub fn saml_browser(&self) -> Arc<SamlBrowser> {
        Arc::clone(&self.live.load().saml_browser)
    }

    /// The handle a [`Reloader`] swaps (shared by every clone of this state).
    pub fn live_handle(&self) -> SharedLive {
        Arc::clone(&self.live)
    }
}

/// What a credential route hands out: the credentials it audits and counts
/// ([`AppState::record_outcome`]).
pub trait Issued {
    fn issued(&self) -> &IssuedCredentials;
}

impl Issued for IssuedCredentials {
    fn issued(&self) -> &IssuedCredentials {
        self
    }
}

impl Issued for ConsoleSignin {
    fn issued(&self) -> &IssuedCredentials {
        &self.issued
    }
}
