//! OIDC browser sign-in with the `openidconnect` crate: authorization code + PKCE (S256), `state`
//! and `nonce` single-use and bound to the browser, ID token verified by the crate (signature
//! against the provider's JWKS, `iss`, `aud`, `azp`, `exp`, `nonce`, and the provider's
//! `allowed_algorithms`, the same list its API tokens are held to) plus `at_hash` when present,
//! then the provider's `claim_conditions` and AWS claims.
//!
//! Invariants: discovery must name the configured issuer; the HTTP client follows no redirects
//! (OAuth 2.0 security BCP for the token endpoint) and is https-only unless the provider is a
//! loopback issuer with `allow_insecure_http`; a pending login is taken (removed) before it is
//! checked, so a `state` is never usable twice, even by a failing attempt.

use super::kv::BrowserKv;
use super::{random_token, token_hash, LOGIN_TTL};
use crate::clock::SharedClock;
use crate::config::{Config, OidcProviderConfig};
use crate::error::{ApiError, ErrorKind};
use crate::identity::{OriginalCredential, Protocol, VerifiedIdentity};
use crate::oidc::alg::SigningAlg;
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreJwsSigningAlgorithm, CoreProviderMetadata,
};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet,
    EndpointNotSet, EndpointSet, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};
use secrecy::{ExposeSecret, SecretString};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use std::time::Instant;

/// How long discovery (and the JWKS it carries) is reused, unless the provider sets
/// `jwks_ttl_secs`: the same default as the token validator's JWKS cache.
pub const DISCOVERY_TTL_SECS: u64 = 600;
/// Time allowed for discovery, JWKS and the token request.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(10);
/// The `openidconnect` name of an algorithm the broker can accept (`SigningAlg` cannot name
/// `none` or HMAC, so neither can this).
fn core_alg(a: SigningAlg) -> CoreJwsSigningAlgorithm {
    use CoreJwsSigningAlgorithm as C;
    match a {
        SigningAlg::RS256 => C::RsaSsaPkcs1V15Sha256,
        SigningAlg::RS384 => C::RsaSsaPkcs1V15Sha384,
        SigningAlg::RS512 => C::RsaSsaPkcs1V15Sha512,
        SigningAlg::PS256 => C::RsaSsaPssSha256,
        SigningAlg::PS384 => C::RsaSsaPssSha384,
        SigningAlg::PS512 => C::RsaSsaPssSha512,
        SigningAlg::ES256 => C::EcdsaP256Sha256,
        SigningAlg::ES384 => C::EcdsaP384Sha384,
    }
}

type Client = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

#[derive(Debug, thiserror::Error)]
pub enum OidcBrowserError {
    /// The name is the caller's: not repeated.
    #[error("no OIDC provider of that name is configured for browser sign-in (it needs a client_id); start from the sign-in page")]
    UnknownProvider,
    #[error(
        "this sign-in link is unknown, expired or already used; start again from the sign-in page"
    )]
    UnknownState,
    #[error("this sign-in was started in another browser (or its cookie was lost); start again from the sign-in page")]
    BrowserMismatch,
    #[error("the identity provider refused the sign-in: {0}")]
    IdpRefused(String),
    #[error("the identity provider could not be reached: {0}")]
    IdpUnavailable(String),
    #[error("the ID token was refused: {0}")]
    IdTokenInvalid(String),
    #[error("too many sign-ins in progress; try again shortly")]
    Busy,
}

impl ApiError for OidcBrowserError {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::UnknownProvider => ErrorKind::BadRequest,
            Self::UnknownState | Self::BrowserMismatch | Self::IdTokenInvalid(_) => {
                ErrorKind::Unauthenticated
            }
            Self::IdpRefused(_) => ErrorKind::Forbidden,
            Self::IdpUnavailable(_) => ErrorKind::BadGateway,
            Self::Busy => ErrorKind::Unavailable,
        }
    }
    fn code(&self) -> &'static str {
        match self {
            Self::UnknownProvider => "login_unknown_provider",
            Self::UnknownState => "login_state_invalid",
            Self::BrowserMismatch => "login_browser_mismatch",
            Self::IdpRefused(_) => "login_refused",
            Self::IdpUnavailable(_) => "login_idp_unavailable",
            Self::IdTokenInvalid(_) => "login_id_token_invalid",
            Self::Busy => "login_busy",
        }
    }
    fn retry_after(&self) -> Option<u64> {
        matches!(self, Self::IdpUnavailable(_) | Self::Busy).then_some(5)
    }
}

/// A login in progress, stored under its `state` until the callback.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct PendingLogin {
    provider: String,
    nonce: String,
    pkce_verifier: String,
    /// SHA-256 of the login cookie set in the browser that started the login.
    browser: String,
}

impl std::fmt::Debug for PendingLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingLogin")
            .field("provider", &self.provider)
            .finish_non_exhaustive()
    }
}

struct Provider {
    cfg: OidcProviderConfig,
    /// ID-token algorithms: the provider's `allowed_algorithms` (default as for its API tokens).
    algs: Vec<CoreJwsSigningAlgorithm>,
    secret: Option<SecretString>,
    http: reqwest::Client,
    /// The discovered client (its JWKS included) and when it was discovered.
    client: tokio::sync::Mutex<Option<(Arc<Client>, Instant)>>,
}

/// The browser sign-in side of every `[[oidc.providers]]` entry with a `client_id`.
pub struct OidcBrowser {
    providers: HashMap<String, Provider>,
    redirect: RedirectUrl,
    pending: Arc<dyn BrowserKv>,
    clock: SharedClock,
}

impl std::fmt::Debug for OidcBrowser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcBrowser")
            .field("providers", &self.providers.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// The callback URL registered at the IdPs: `<server.public_url>/oidc/callback`.
pub fn redirect_uri(public_url: &str) -> String {
    format!("{}/oidc/callback", public_url.trim_end_matches('/'))
}

impl OidcBrowser {
    /// Build from the config (reads client secret files and CA files; no network).
    pub fn from_config(
        cfg: &Config,
        clock: SharedClock,
        pending: Arc<dyn BrowserKv>,
    ) -> Result<Self, String> {
        let redirect = RedirectUrl::new(redirect_uri(&cfg.server.public_url))
            .map_err(|e| format!("server.public_url: {e}"))?;
        let mut providers = HashMap::new();
        for p in cfg.oidc.providers.iter().filter(|p| p.client_id.is_some()) {
            let at = format!("oidc.providers {:?}", p.name);
            let secret = match (&p.client_secret, &p.client_secret_file) {
                (Some(s), None) => Some(s.clone()),
                (None, Some(path)) => {
                    let text = std::fs::read_to_string(path)
                        .map_err(|e| format!("{at}: client_secret_file {path}: {e}"))?;
                    Some(SecretString::from(
                        text.lines().next().unwrap_or("").trim().to_owned(),
                    ))
                }
                (None, None) => None,
                (Some(_), Some(_)) => {
                    return Err(format!(
                        "{at}: set client_secret or client_secret_file, not both"
                    ))
                }
            };
            let http = http_client(p).map_err(|e| format!("{at}: {e}"))?;
            let algs = crate::oidc::provider::parse_algorithms(p.allowed_algorithms.as_deref())
                .map_err(|e| format!("{at}: {e}"))?
                .into_iter()
                .map(core_alg)
                .collect();
            providers.insert(
                p.name.clone(),
                Provider {
                    cfg: p.clone(),
                    algs,
                    secret,
                    http,
                    client: tokio::sync::Mutex::new(None),
                },
            );
        }
        Ok(Self {
            providers,
            redirect,
            pending,
            clock,
        })
    }

    /// No browser sign-in at all (a config that could not be read; tests).
    pub fn none(clock: SharedClock) -> Self {
        Self {
            providers: HashMap::new(),
            redirect: RedirectUrl::new("http://127.0.0.1/oidc/callback".into())
                .expect("a valid URL"),
            pending: Arc::new(super::MemoryKv::new(clock.clone())),
            clock,
        }
    }

    /// Providers offering browser sign-in, by name.
    pub fn provider_names(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.providers.keys().map(String::as_str).collect();
        v.sort();
        v
    }

    fn provider(&self, name: &str) -> Result<&Provider, OidcBrowserError> {
        self.providers
            .get(name)
            .ok_or(OidcBrowserError::UnknownProvider)
    }

    /// The provider's client, discovered again (with its JWKS) after `jwks_ttl_secs`, so key
    /// rotation at the IdP is picked up.
    async fn client(&self, p: &Provider) -> Result<Arc<Client>, OidcBrowserError> {
        let ttl = Duration::from_secs(p.cfg.jwks_ttl_secs.unwrap_or(DISCOVERY_TTL_SECS));
        let mut slot = p.client.lock().await;
        if let Some((c, at)) = slot.as_ref() {
            if at.elapsed() < ttl {
                return Ok(c.clone());
            }
        }
        let issuer = IssuerUrl::new(p.cfg.issuer.clone())
            .map_err(|e| OidcBrowserError::IdpUnavailable(e.to_string()))?;
        let metadata = CoreProviderMetadata::discover_async(issuer, &p.http)
            .await
            .map_err(|e| OidcBrowserError::IdpUnavailable(format!("discovery: {e}")))?;
        let client_id = ClientId::new(p.cfg.client_id.clone().unwrap_or_default());
        let secret = p
            .secret
            .as_ref()
            .map(|s| ClientSecret::new(s.expose_secret().to_owned()));
        let client = Arc::new(
            Client::from_provider_metadata(metadata, client_id, secret)
                .set_redirect_uri(self.redirect.clone()),
        );
        #[expect(
            clippy::disallowed_methods,
            reason = "the age of the cached discovery document on the monotonic clock: no test \
                      pins it and it decides nothing about a sign-in's validity"
        )]
        let fetched_at = Instant::now();
        *slot = Some((client.clone(), fetched_at));
        Ok(client)
    }

    /// Start a login at `provider` for `peer` (the client's address: pending logins are bounded per
    /// client and overall, the oldest evicted): the IdP URL to send the browser to, and the login
    /// cookie value that binds the login to this browser.
    pub async fn start(
        &self,
        provider: &str,
        peer: &str,
    ) -> Result<(String, String), OidcBrowserError> {
        let p = self.provider(provider)?;
        let client = self.client(p).await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut req = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge);
        let default_scopes = ["email".to_owned(), "profile".to_owned()];
        for s in p.cfg.scopes.as_deref().unwrap_or(&default_scopes) {
            req = req.add_scope(Scope::new(s.clone()));
        }
        let (url, state, nonce) = req.url();
        let browser_cookie = random_token();
        let pending = PendingLogin {
            provider: provider.to_owned(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
            browser: token_hash(&browser_cookie),
        };
        let bytes = zeroize::Zeroizing::new(
            serde_json::to_vec(&pending).map_err(|_| OidcBrowserError::Busy)?,
        );
        self.pending
            .put_pending(peer, &pending_key(state.secret()), &bytes, LOGIN_TTL)
            .await
            .map_err(|_| OidcBrowserError::Busy)?;
        Ok((url.to_string(), browser_cookie))
    }

    /// Finish a login: `state` and `code` from the callback, `browser_cookie` from the request.
    pub async fn finish(
        &self,
        state: &str,
        code: &str,
        browser_cookie: Option<&str>,
    ) -> Result<VerifiedIdentity, OidcBrowserError> {
        let bytes = self
            .pending
            .take(&pending_key(state))
            .await
            .map_err(|_| OidcBrowserError::Busy)?
            .ok_or(OidcBrowserError::UnknownState)?;
        let pending: PendingLogin =
            serde_json::from_slice(&bytes).map_err(|_| OidcBrowserError::UnknownState)?;
        if browser_cookie.map(token_hash).as_deref() != Some(pending.browser.as_str()) {
            return Err(OidcBrowserError::BrowserMismatch);
        }
        let p = self.provider(&pending.provider)?;
        let client = self.client(p).await?;
        let token = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| OidcBrowserError::IdpUnavailable(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier.clone()))
            .request_async(&p.http)
            .await
            .map_err(|e| OidcBrowserError::IdpRefused(format!("token request: {e}")))?;
        let id_token = token.id_token().ok_or_else(|| {
            OidcBrowserError::IdTokenInvalid("the token response has no id_token".into())
        })?;
        let now = self.clock.now();
        let verifier = client
            .id_token_verifier()
            .set_allowed_algs(p.algs.iter().cloned())
            .set_time_fn(move || now);
        let claims = id_token
            .claims(&verifier, &Nonce::new(pending.nonce.clone()))
            .map_err(|e| OidcBrowserError::IdTokenInvalid(e.to_string()))?;
        if let Some(expected) = claims.access_token_hash() {
            let alg = id_token
                .signing_alg()
                .map_err(|e| OidcBrowserError::IdTokenInvalid(e.to_string()))?;
            let key = id_token
                .signing_key(&verifier)
                .map_err(|e| OidcBrowserError::IdTokenInvalid(e.to_string()))?;
            let actual = AccessTokenHash::from_token(token.access_token(), alg, key)
                .map_err(|e| OidcBrowserError::IdTokenInvalid(e.to_string()))?;
            if actual != *expected {
                return Err(OidcBrowserError::IdTokenInvalid(
                    "at_hash does not match the access token".into(),
                ));
            }
        }
        let json = serde_json::to_value(claims)
            .map_err(|e| OidcBrowserError::IdTokenInvalid(e.to_string()))?;
        let map = json.as_object().cloned().unwrap_or_default();
        if let Some(claim) = p
            .cfg
            .claim_conditions
            .as_ref()
            .and_then(|c| crate::oidc::conditions::first_failure(c, &map))
        {
            return Err(OidcBrowserError::IdpRefused(format!(
                "claim {claim:?} does not meet this provider's claim_conditions"
            )));
        }
        let aws = crate::oidc::aws_claims::aws_claims(&map)
            .map_err(|e| OidcBrowserError::IdTokenInvalid(e.to_string()))?;
        let raw = id_token.to_string();
        Ok(VerifiedIdentity {
            protocol: Protocol::Oidc,
            provider: p.cfg.name.clone(),
            issuer: claims.issuer().to_string(),
            subject: claims.subject().to_string(),
            subject_format: None,
            token_id: crate::oidc::token_id(claims.issuer().as_str(), None, &raw),
            expires_at: claims.expiration(),
            authn_instant: claims.auth_time(),
            attributes: crate::oidc::claims::attributes(&map),
            aws,
            key_fingerprint: format!(
                "kid:{}",
                id_token
                    .signing_key(&verifier)
                    .ok()
                    .and_then(|k| openidconnect::JsonWebKey::key_id(k).map(|k| k.to_string()))
                    .unwrap_or_default()
            ),
            legacy_algorithm: false,
            original: OriginalCredential::WebIdentityToken(SecretString::from(raw)),
            in_response_to: None,
            recipient: None,
            audiences: Vec::new(),
            encrypted: false,
        })
    }
}

fn pending_key(state: &str) -> String {
    format!("oidc:{}", token_hash(state))
}

/// The provider's HTTP client: CA file, timeouts, no redirects, https unless an opted-in loopback.
fn http_client(p: &OidcProviderConfig) -> Result<reqwest::Client, String> {
    let loopback =
        url::Url::parse(&p.issuer).is_ok_and(|u| crate::oidc::discovery::is_loopback(&u));
    let mut b = reqwest::Client::builder()
        .timeout(HTTP_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .https_only(!(loopback && p.allow_insecure_http));
    if let Some(path) = &p.ca_file {
        let pem = std::fs::read(path).map_err(|e| format!("ca_file {path}: {e}"))?;
        for c in reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| format!("ca_file {path} is not PEM ({e})"))?
        {
            b = b.add_root_certificate(c);
        }
    }
    b.build().map_err(|e| format!("HTTP client: {e}"))
}

/// Shared handle (held in `AppState`).
pub type SharedOidcBrowser = Arc<OidcBrowser>;
