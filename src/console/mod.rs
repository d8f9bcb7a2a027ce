//! AWS console sign-in URLs (docs/AWS-RULES.md §6): temporary credentials → `getSigninToken` at the
//! role's partition's federation endpoint → `...?Action=login&Issuer&Destination&SigninToken`.
//!
//! Invariants: every caller input (destination, region, session duration) is checked by
//! [`ConsoleService::check`] before any credential exists (the flow in `flow.rs` calls it before
//! the assertion is consumed) and again, for the role's partition, in
//! [`ConsoleService::signin_url`]; the login URL, the token and the session JSON live only in
//! `SecretString`s and are never logged (the audit event names role, partition, destination host
//! and durations). The URL is valid for [`SIGNIN_URL_LIFETIME`] from its creation.

mod destination;
mod duration;
mod endpoint;
mod error;
mod flow;
mod partition;

pub use destination::{default_destination, parse_destination, AllowedDestination};
pub use duration::ConsoleSessionDuration;
pub use endpoint::{
    parse_signin_answer, session_json, FederationEndpoint, HttpFederationEndpoint,
    FEDERATION_TIMEOUT, MAX_SIGNIN_ANSWER_BYTES,
};
pub use error::{ConsoleError, ENDPOINT_RETRY_AFTER_SECS};
pub use flow::{ConsoleSignin, ConsoleUrlRequest};
pub use partition::Partition;

use crate::clock::SharedClock;
use crate::config::Config;
use crate::exchange::IssuedCredentials;
use chrono::{DateTime, TimeDelta, Utc};
use secrecy::{ExposeSecret, SecretString};
use std::collections::BTreeMap;
use std::sync::Arc;
use url::Url;

/// How long a login URL works: AWS accepts a sign-in token for 15 minutes after issuing it
/// (docs/AWS-RULES.md §6.3); answers report `expires_at` = creation + this.
pub const SIGNIN_URL_LIFETIME: TimeDelta = TimeDelta::minutes(15);

/// A caller's console options (unverified text).
#[derive(Debug, Default, Clone)]
pub struct ConsoleRequest {
    /// An https console URL under the allow-list; `None`: the console home.
    pub destination: Option<String>,
    /// Region of the default destination (`?region=`); not together with `destination`.
    pub region: Option<String>,
    /// Console `SessionDuration` in seconds; `None`: omitted (the credentials' lifetime).
    pub session_duration: Option<String>,
}

/// The checked form of a [`ConsoleRequest`].
#[derive(Debug, Clone)]
pub struct CheckedConsoleRequest {
    /// `None`: the console home of the role's partition (in `region`).
    destination: Option<Url>,
    region: Option<String>,
    session_duration: Option<ConsoleSessionDuration>,
}

impl CheckedConsoleRequest {
    /// The requested console `SessionDuration` in seconds (`None`: omitted).
    pub fn session_duration_secs(&self) -> Option<u32> {
        self.session_duration.map(ConsoleSessionDuration::secs)
    }
}

/// A login URL (a bearer secret) and how long it works.
#[derive(Debug)]
pub struct ConsoleUrl {
    pub url: SecretString,
    pub expires_at: DateTime<Utc>,
    /// The `SessionDuration` sent; `None`: omitted, the session lasts as long as the credentials.
    pub session_duration: Option<u32>,
    /// Host of the console page the URL opens (for the audit log, which never holds the URL).
    pub destination_host: String,
}

/// Builds console sign-in URLs; held in `AppState`.
#[derive(Debug)]
pub struct ConsoleService {
    endpoint: Arc<dyn FederationEndpoint>,
    /// Federation endpoint per partition (config overrides, else AWS's).
    federation_urls: BTreeMap<Partition, String>,
    /// `console.allowed_destinations`; `None`: each partition's console (global and regional).
    allowed: Option<Vec<AllowedDestination>>,
    issuer: String,
    clock: SharedClock,
}

impl ConsoleService {
    /// From `[console]`, `aws.federation_endpoint` and `server.public_url`, with the HTTP
    /// federation endpoint. The config was validated at load; an entry that still fails to parse
    /// is left out of the allow-list (refusing more, never less).
    pub fn from_config(cfg: &Config, clock: SharedClock) -> Self {
        let mut federation_urls: BTreeMap<Partition, String> = Partition::ALL
            .into_iter()
            .map(|p| (p, p.federation_endpoint().to_owned()))
            .collect();
        federation_urls.insert(Partition::Aws, cfg.aws.federation_endpoint.clone());
        for (name, url) in &cfg.console.federation_endpoints {
            if let Some(p) = Partition::from_name(name) {
                federation_urls.insert(p, url.clone());
            }
        }
        let allowed = cfg.console.allowed_destinations.as_ref().map(|list| {
            list.iter()
                .filter_map(|d| AllowedDestination::prefix(d).ok())
                .collect()
        });
        Self {
            endpoint: Arc::new(HttpFederationEndpoint::new()),
            federation_urls,
            allowed,
            issuer: cfg
                .console
                .issuer_url
                .clone()
                .unwrap_or_else(|| cfg.server.public_url.clone()),
            clock,
        }
    }

    /// Replace the federation endpoint client (tests).
    pub fn with_endpoint(mut self, endpoint: Arc<dyn FederationEndpoint>) -> Self {
        self.endpoint = endpoint;
        self
    }

    /// Check a request before credentials exist. `partition`: the role's, when already known;
    /// `None`: a destination must be allowed for some partition (checked again for the role's in
    /// [`Self::signin_url`]).
    pub fn check(
        &self,
        req: &ConsoleRequest,
        partition: Option<Partition>,
    ) -> Result<CheckedConsoleRequest, ConsoleError> {
        let session_duration = req
            .session_duration
            .as_deref()
            .map(ConsoleSessionDuration::parse)
            .transpose()?;
        let region = match (&req.destination, &req.region) {
            (Some(_), Some(_)) => return Err(ConsoleError::RegionWithDestination),
            (_, Some(r)) if !crate::config::is_region(r) => {
                return Err(ConsoleError::InvalidRegion)
            }
            (_, r) => r.clone(),
        };
        let destination = match &req.destination {
            None => None,
            Some(raw) => {
                let u = parse_destination(raw)?;
                let partitions = partition.map_or(Partition::ALL.to_vec(), |p| vec![p]);
                if !partitions.into_iter().any(|p| self.allows(p, &u)) {
                    return Err(ConsoleError::DestinationNotAllowed(
                        "not under an allowed console URL",
                    ));
                }
                Some(u)
            }
        };
        Ok(CheckedConsoleRequest {
            destination,
            region,
            session_duration,
        })
    }

    fn allows(&self, p: Partition, u: &Url) -> bool {
        match &self.allowed {
            Some(list) => list.iter().any(|a| a.allows(u)),
            None => AllowedDestination::partition_defaults(p)
                .iter()
                .any(|a| a.allows(u)),
        }
    }

    /// The login URL for `issued`'s credentials (see the module doc).
    pub async fn signin_url(
        &self,
        issued: &IssuedCredentials,
        req: &ConsoleRequest,
    ) -> Result<ConsoleUrl, ConsoleError> {
        let partition = Partition::of_role(&issued.role_arn)?;
        let checked = self.check(req, Some(partition))?;
        let session_duration = checked
            .session_duration
            .map(|d| d.for_credentials(&issued.credentials))
            .transpose()?
            .map(ConsoleSessionDuration::secs);
        // The exchange refused this before issuing; kept here so no path can open a console
        // session longer than the credentials were negotiated for.
        if let Some(secs) = session_duration.filter(|s| *s > issued.duration.seconds()) {
            return Err(crate::exchange::ExchangeError::from(
                crate::mapping::MappingError::DurationNotAllowed(format!(
                    "session_duration {secs} exceeds the credentials' negotiated duration ({} seconds); a console session may not outlast its credentials: ask for {} or less, or omit session_duration",
                    issued.duration.seconds(),
                    issued.duration.seconds()
                )),
            )
            .into());
        }
        let destination = match checked.destination {
            Some(d) => d,
            None => default_destination(partition, checked.region.as_deref()),
        };
        let endpoint_url = self.federation_url(partition)?;
        // Taken before the token is issued: the URL expires no later than AWS says.
        let created = self.clock.now();
        let token = self
            .endpoint
            .get_signin_token(
                &endpoint_url,
                &session_json(&issued.credentials),
                session_duration,
            )
            .await?;
        let url = login_url(&endpoint_url, &self.issuer, &destination, &token);
        let expires_at = created + SIGNIN_URL_LIFETIME;
        tracing::info!(
            event = "console.url_issued",
            role_arn = issued.role_arn.as_str(),
            partition = partition.name(),
            provider = issued.provider.as_str(),
            destination_host = destination.host_str().unwrap_or_default(),
            session_duration,
            chained = issued.credentials.chained,
            expires_at = %expires_at.to_rfc3339(),
            "issued a console sign-in URL"
        );
        Ok(ConsoleUrl {
            url,
            expires_at,
            session_duration,
            destination_host: destination.host_str().unwrap_or_default().to_owned(),
        })
    }

    fn federation_url(&self, p: Partition) -> Result<Url, ConsoleError> {
        let raw = self
            .federation_urls
            .get(&p)
            .map_or(p.federation_endpoint(), String::as_str);
        Url::parse(raw).map_err(|_| {
            ConsoleError::Internal(format!("the {} federation endpoint is not a URL", p.name()))
        })
    }
}

/// `<endpoint>?Action=login&Issuer=..&Destination=..&SigninToken=..` (each form-urlencoded).
pub fn login_url(
    endpoint_url: &Url,
    issuer: &str,
    destination: &Url,
    token: &SecretString,
) -> SecretString {
    let mut u = endpoint_url.clone();
    u.query_pairs_mut()
        .append_pair("Action", "login")
        .append_pair("Issuer", issuer)
        .append_pair("Destination", destination.as_str())
        .append_pair("SigninToken", token.expose_secret());
    SecretString::from(String::from(u))
}

#[cfg(test)]
mod tests;
