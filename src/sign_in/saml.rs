//! SAML browser sign-in, the broker as service provider: SP metadata, SP-initiated AuthnRequests
//! (HTTP-Redirect binding) and the assertion consumer's InResponseTo / RelayState rules.
//!
//! Invariants:
//! - an SP-initiated response is accepted only if its *signed* `SubjectConfirmationData
//!   InResponseTo` names a request this broker sent, to that IdP, from this browser (login cookie),
//!   and not yet answered: the pending request is taken (removed) before it is checked;
//! - a response without InResponseTo (IdP-initiated) is accepted only from an IdP configured with
//!   `allow_idp_initiated = true`; a response *with* an unknown InResponseTo is always refused;
//! - `RelayState` only ever leads to a local path under an allow-listed prefix (no scheme, no
//!   host, no `//`, no backslash, no control character, no `.` or `..` segment, no
//!   percent-encoded dot, slash, backslash or control character: what the browser resolves is
//!   what was matched): never an open redirect, never a way around the allow-list;
//! - a pending request is stored with [`BrowserKv::put_pending`]: bounded per client and
//!   overall, the oldest evicted, never crowding out sessions;
//! - with an SP key (`[saml] sp_key_file`) every AuthnRequest is signed (RSA-SHA256 over the
//!   HTTP-Redirect query, [`super::saml_sign`]) and `/saml/metadata` publishes the certificate;
//!   an IdP that wants signed requests is never sent an unsigned one; responses are verified as
//!   strictly as on the API.

use super::kv::BrowserKv;
use super::saml_sign::{redirect_query, SpKey};
use super::{random_token, token_hash, LOGIN_TTL};
use crate::clock::SharedClock;
use crate::config::Config;
use crate::error::{ApiError, ErrorKind};
use crate::identity::VerifiedIdentity;
use base64::Engine;
use chrono::SecondsFormat;
use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;

/// Default RelayState prefixes an IdP-initiated sign-in may continue to (the console itself needs
/// the session's CSRF token, so it is reached from the picker, not from a RelayState).
pub const DEFAULT_RELAY_PREFIXES: [&str; 1] = ["/roles"];

#[derive(Debug, thiserror::Error)]
pub enum SamlBrowserError {
    /// The name may be the caller's: not repeated.
    #[error("no SAML IdP of that name is configured for browser sign-in (it needs an SSO URL: metadata SingleSignOnService with the HTTP-Redirect binding, or sso_url)")]
    UnknownIdp,
    #[error("this SAML response answers a sign-in request that is unknown, expired or already answered; start again from the sign-in page")]
    UnknownRequest,
    #[error("this SAML response answers a sign-in started in another browser; start again from the sign-in page")]
    BrowserMismatch,
    #[error("this SAML response answers a request sent to another identity provider")]
    IdpMismatch,
    #[error("IdP-initiated sign-in is not enabled for this identity provider (allow_idp_initiated); start from the broker's sign-in page")]
    IdpInitiatedRefused,
    #[error("too many sign-ins in progress; try again shortly")]
    Busy,
    #[error("this identity provider requires signed sign-in requests and the broker has no usable SP key; an administrator must set [saml] sp_key_file and sp_cert_file")]
    SigningKeyMissing,
}

impl ApiError for SamlBrowserError {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::UnknownIdp => ErrorKind::BadRequest,
            Self::Busy => ErrorKind::Unavailable,
            Self::SigningKeyMissing => ErrorKind::Internal,
            _ => ErrorKind::Unauthenticated,
        }
    }
    fn code(&self) -> &'static str {
        match self {
            Self::UnknownIdp => "login_unknown_provider",
            Self::UnknownRequest => "saml_in_response_to_unknown",
            Self::BrowserMismatch => "login_browser_mismatch",
            Self::IdpMismatch => "saml_in_response_to_mismatch",
            Self::IdpInitiatedRefused => "saml_idp_initiated_refused",
            Self::Busy => "login_busy",
            Self::SigningKeyMissing => "saml_sp_key_missing",
        }
    }
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct PendingRequest {
    idp: String,
    browser: String,
}

#[derive(Clone, Debug)]
struct IdpEndpoints {
    entity_id: String,
    sso_url: Option<String>,
    allow_idp_initiated: bool,
    want_signed_requests: bool,
}

/// The SP side of SAML browser sign-in.
#[derive(Debug)]
pub struct SamlBrowser {
    sp_entity_id: String,
    acs_url: String,
    idps: HashMap<String, IdpEndpoints>,
    relay_prefixes: Vec<String>,
    pending: Arc<dyn BrowserKv>,
    clock: SharedClock,
    /// The SP key pair signing AuthnRequests (`[saml] sp_key_file`), if configured.
    sp_key: Option<Arc<SpKey>>,
}

/// The assertion consumer URL: `<server.public_url>/saml/acs`.
pub fn acs_url(public_url: &str) -> String {
    format!("{}/saml/acs", public_url.trim_end_matches('/'))
}

/// The SP entity ID: `saml.sp_entity_id`, else `<server.public_url>/saml/metadata`.
pub fn sp_entity_id(cfg: &Config) -> String {
    cfg.saml.sp_entity_id.clone().unwrap_or_else(|| {
        format!(
            "{}/saml/metadata",
            cfg.server.public_url.trim_end_matches('/')
        )
    })
}

impl SamlBrowser {
    /// Build from the config and the loaded IdPs (their metadata's SSO endpoints).
    pub fn new(
        cfg: &Config,
        idps: &[crate::saml::TrustedIdp],
        clock: SharedClock,
        pending: Arc<dyn BrowserKv>,
    ) -> Self {
        let idps = idps
            .iter()
            .map(|t| {
                let c = cfg.saml.idps.iter().find(|c| c.name == t.name);
                (
                    t.name.clone(),
                    IdpEndpoints {
                        entity_id: t.entity_id.clone(),
                        sso_url: c
                            .and_then(|c| c.sso_url.clone())
                            .or_else(|| t.sso_redirect_url.clone()),
                        allow_idp_initiated: c.is_some_and(|c| c.allow_idp_initiated),
                        want_signed_requests: t.want_authn_requests_signed,
                    },
                )
            })
            .collect();
        // Start-up, check-config and reload have refused a bad key already (`load_idps`); a key
        // that broke since then leaves requests unsigned, and IdPs that want them signed refused.
        let sp_key = SpKey::from_config(&cfg.saml)
            .inspect_err(|e| tracing::error!(error = %e, "SAML SP key unusable"))
            .ok()
            .flatten()
            .map(Arc::new);
        Self {
            sp_entity_id: sp_entity_id(cfg),
            acs_url: acs_url(&cfg.server.public_url),
            idps,
            relay_prefixes: cfg.saml.allowed_relay_states.clone().unwrap_or_else(|| {
                DEFAULT_RELAY_PREFIXES
                    .iter()
                    .map(|s| s.to_string())
                    .collect()
            }),
            pending,
            clock,
            sp_key,
        }
    }

    /// The same sign-in (pending requests, clock) for a reloaded `[saml]` section: the new IdPs'
    /// endpoints, SP entity ID and RelayState prefixes. Pending requests survive: one answered by
    /// an IdP that is gone fails at validation (its trust is gone too).
    pub fn reloaded(&self, cfg: &Config, idps: &[crate::saml::TrustedIdp]) -> Self {
        Self::new(cfg, idps, self.clock.clone(), self.pending.clone())
    }

    /// IdPs offering browser sign-in, by name.
    pub fn idp_names(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self
            .idps
            .iter()
            .filter(|(_, i)| i.sso_url.is_some())
            .map(|(n, _)| n.as_str())
            .collect();
        v.sort();
        v
    }

    /// SP metadata: entity ID, the ACS (HTTP-POST), assertions must be signed; with an SP key,
    /// its certificate for signing (AuthnRequests are signed) and for encryption.
    pub fn metadata_xml(&self) -> String {
        let (signed, keys) = match &self.sp_key {
            Some(key) => {
                let cert = key.cert_base64();
                let descriptor = |usage: &str, extra: &str| {
                    format!(
                        "    <md:KeyDescriptor use=\"{usage}\">\n      <ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>{extra}\n    </md:KeyDescriptor>\n"
                    )
                };
                let methods: String = ENCRYPTION_METHODS
                    .iter()
                    .map(|m| format!("\n      <md:EncryptionMethod Algorithm=\"{m}\"/>"))
                    .collect();
                (
                    "true",
                    descriptor("signing", "") + &descriptor("encryption", &methods),
                )
            }
            None => ("false", String::new()),
        };
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{entity}">
  <md:SPSSODescriptor AuthnRequestsSigned="{signed}" WantAssertionsSigned="true" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
{keys}    <md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat>
    <md:NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:persistent</md:NameIDFormat>
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="{acs}" index="0" isDefault="true"/>
  </md:SPSSODescriptor>
</md:EntityDescriptor>
"#,
            entity = xml_attr(&self.sp_entity_id),
            acs = xml_attr(&self.acs_url),
        )
    }

    /// Start a sign-in at `idp` for `client` (its address: pending requests are bounded per
    /// client): the redirect URL (AuthnRequest, HTTP-Redirect binding) and the login cookie value
    /// binding the request to this browser.
    pub async fn start(
        &self,
        idp: &str,
        client: &str,
    ) -> Result<(String, String), SamlBrowserError> {
        let endpoints = self
            .idps
            .get(idp)
            .filter(|e| e.sso_url.is_some())
            .ok_or(SamlBrowserError::UnknownIdp)?;
        let sso = endpoints.sso_url.as_deref().unwrap_or_default();
        if endpoints.want_signed_requests && self.sp_key.is_none() {
            return Err(SamlBrowserError::SigningKeyMissing);
        }
        let id = format!("_fb{}", random_token());
        let request = format!(
            r#"<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{id}" Version="2.0" IssueInstant="{now}" Destination="{dest}" AssertionConsumerServiceURL="{acs}" ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"><saml:Issuer>{issuer}</saml:Issuer><samlp:NameIDPolicy AllowCreate="true"/></samlp:AuthnRequest>"#,
            now = self.clock.now().to_rfc3339_opts(SecondsFormat::Secs, true),
            dest = xml_attr(sso),
            acs = xml_attr(&self.acs_url),
            issuer = xml_attr(&self.sp_entity_id),
        );
        let mut deflater =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        deflater
            .write_all(request.as_bytes())
            .and_then(|_| deflater.try_finish())
            .map_err(|_| SamlBrowserError::Busy)?;
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(deflater.get_ref().as_slice());
        let browser_cookie = random_token();
        let pending = PendingRequest {
            idp: idp.to_owned(),
            browser: token_hash(&browser_cookie),
        };
        let bytes = serde_json::to_vec(&pending).map_err(|_| SamlBrowserError::Busy)?;
        self.pending
            .put_pending(client, &pending_key(&id), &bytes, LOGIN_TTL)
            .await
            .map_err(|_| SamlBrowserError::Busy)?;
        let query = redirect_query(&encoded, None, self.sp_key.as_deref())
            .map_err(|_| SamlBrowserError::Busy)?;
        let sep = if sso.contains('?') { '&' } else { '?' };
        let url = format!("{sso}{sep}{query}");
        Ok((url, browser_cookie))
    }

    /// Check a verified response against the request it answers (or the IdP-initiated rule).
    pub async fn accept(
        &self,
        identity: &VerifiedIdentity,
        browser_cookie: Option<&str>,
    ) -> Result<(), SamlBrowserError> {
        let endpoints = self
            .idps
            .get(identity.provider())
            .ok_or(SamlBrowserError::UnknownIdp)?;
        let Some(request_id) = identity.in_response_to() else {
            return if endpoints.allow_idp_initiated {
                Ok(())
            } else {
                Err(SamlBrowserError::IdpInitiatedRefused)
            };
        };
        let bytes = self
            .pending
            .take(&pending_key(request_id))
            .await
            .map_err(|_| SamlBrowserError::Busy)?
            .ok_or(SamlBrowserError::UnknownRequest)?;
        let pending: PendingRequest =
            serde_json::from_slice(&bytes).map_err(|_| SamlBrowserError::UnknownRequest)?;
        if pending.idp != identity.provider() || endpoints.entity_id != identity.issuer() {
            return Err(SamlBrowserError::IdpMismatch);
        }
        if browser_cookie.map(token_hash).as_deref() != Some(pending.browser.as_str()) {
            return Err(SamlBrowserError::BrowserMismatch);
        }
        Ok(())
    }

    /// Where to go after sign-in: the RelayState if it is an allow-listed local path, else the
    /// role picker.
    pub fn next_location(&self, relay_state: Option<&str>) -> String {
        relay_state
            .filter(|r| is_safe_local_path(r))
            .filter(|r| !has_dot_segment_or_encoded_separator(r))
            .filter(|r| {
                self.relay_prefixes.iter().any(|p| {
                    r.strip_prefix(p.as_str())
                        .is_some_and(|rest| rest.is_empty() || rest.starts_with(['/', '?']))
                })
            })
            .unwrap_or("/roles")
            .to_owned()
    }
}

/// Encryption algorithms offered in the SP metadata (key transport RSA-OAEP, content AES-GCM).
const ENCRYPTION_METHODS: [&str; 4] = [
    "http://www.w3.org/2009/xmlenc11#aes256-gcm",
    "http://www.w3.org/2009/xmlenc11#aes128-gcm",
    "http://www.w3.org/2009/xmlenc11#rsa-oaep",
    "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p",
];

fn pending_key(request_id: &str) -> String {
    format!("saml:{}", token_hash(request_id))
}

/// A path on this host: `/` then no second `/` or `\`, no scheme, no control characters.
fn is_safe_local_path(s: &str) -> bool {
    s.starts_with('/')
        && !s.starts_with("//")
        && !s.contains('\\')
        && !s.contains("://")
        && s.len() <= 2048
        && s.chars().all(|c| c.is_ascii_graphic())
}

/// Whether `s` (a local path, maybe with a query) could resolve to another path than it reads:
/// a `.` or `..` path segment (browsers and servers remove them, so `/roles/../x` is `/x`), or a
/// percent-encoded dot, slash, backslash or control character anywhere (some servers and
/// proxies decode them before resolving), or a `%` not followed by two hex digits. Such a
/// RelayState is refused rather than normalised: no real sign-in needs one.
fn has_dot_segment_or_encoded_separator(s: &str) -> bool {
    let path = s.split(['?', '#']).next().unwrap_or_default();
    if path.split('/').any(|seg| seg == "." || seg == "..") {
        return true;
    }
    let bytes = s.as_bytes();
    bytes.iter().enumerate().any(|(i, &b)| {
        b == b'%'
            && match (bytes.get(i + 1), bytes.get(i + 2)) {
                (Some(h), Some(l)) if h.is_ascii_hexdigit() && l.is_ascii_hexdigit() => {
                    let hex = |c: u8| (c as char).to_digit(16).unwrap_or(0) as u8;
                    let decoded = hex(*h) << 4 | hex(*l);
                    matches!(decoded, b'.' | b'/' | b'\\') || decoded < 0x20 || decoded == 0x7f
                }
                _ => true,
            }
    })
}

fn xml_attr(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn browser() -> SamlBrowser {
        let cfg = Config::default();
        let clock: SharedClock = std::sync::Arc::new(crate::clock::SystemClock);
        SamlBrowser::new(
            &cfg,
            &[],
            clock.clone(),
            Arc::new(super::super::MemoryKv::new(clock)),
        )
    }

    #[test]
    fn relay_state_open_redirects_are_ignored() {
        let b = browser();
        for evil in [
            "https://evil.example/",
            "//evil.example/roles",
            "/\\evil.example",
            "/rolesX",
            "javascript:alert(1)",
            "/console\n",
            "http://127.0.0.1/roles",
            "/other",
        ] {
            assert_eq!(b.next_location(Some(evil)), "/roles", "{evil:?}");
        }
        assert_eq!(b.next_location(Some("/roles")), "/roles");
        assert_eq!(b.next_location(Some("/roles?view=all")), "/roles?view=all");
        assert_eq!(b.next_location(None), "/roles");
    }

    #[test]
    fn relay_state_dot_segments_and_encoded_separators_are_refused() {
        let b = browser();
        for evil in [
            "/roles/../oidc/login?provider=web",
            "/roles/.",
            "/roles/%2e%2e/x",
            "/roles/%2E./x",
            "/roles%2fx",
            "/roles/%5cx",
            "/roles?x=%0a",
            "/roles?x=%7f",
            "/roles/%zz",
            "/roles/%2",
        ] {
            assert_eq!(b.next_location(Some(evil)), "/roles", "{evil:?}");
        }
        for ok in [
            "/roles/a.b",
            "/roles/...x",
            "/roles?q=%20a%C3%A9",
            "/roles/",
        ] {
            assert_eq!(b.next_location(Some(ok)), ok, "{ok:?}");
        }
    }
}
