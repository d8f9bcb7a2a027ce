//! Browser sign-in (the corporate SSO entrypoint): login state, broker sessions, the OIDC
//! authorization-code flow and the broker as a SAML SP; this module knows no actix types.
//!
//! "Browser" in three places: here (the flows and sessions), `http::handlers::sign_in` (their
//! routes, cookies and pages), `exchange::signed_in` (credentials for a signed-in session).
//!
//! Invariants:
//! - every login is bound to the browser that started it: `state` is single-use and is accepted
//!   only with the login cookie set by the same browser at `/oidc/login` (a leaked or replayed
//!   callback URL is refused in any other browser, and twice in the same one); a SAML login is
//!   bound the same way by [`SAML_LOGIN_COOKIE`], which is `SameSite=None; Secure` because the
//!   IdP's answer is a cross-site POST;
//! - with an https `public_url` every cookie is `__Host-` (`Secure`, `Path=/`, no `Domain`), so a
//!   sibling subdomain cannot plant a session or login cookie ([`session_cookie_name`],
//!   [`login_cookie_name`]);
//! - a new sign-in in a browser ends the session that browser held before;
//! - pending logins are bounded per client and overall on their own ([`pending`], the oldest
//!   evicted) and never crowd out sessions;
//! - a broker session is server-side (in-process, or sealed in Redis: [`kv`]); the browser holds
//!   only a random reference (`HttpOnly`,
//!   `Secure` except on loopback, `SameSite=Lax`, [`SESSION_TTL`]); the store keeps a hash of the
//!   reference, never the reference itself;
//! - state-changing requests carry the session's CSRF token.

pub mod kv;
pub mod oidc;
pub mod pending;
pub mod saml;
pub mod saml_sign;
pub mod session;
pub mod store;

pub use kv::{BrowserKv, MemoryKv, RedisKv};
pub use oidc::{OidcBrowser, OidcBrowserError, PendingLogin};
pub use saml::{SamlBrowser, SamlBrowserError};
pub use session::{BrowserSession, SessionStore};
pub use store::ExpiringStore;

use chrono::TimeDelta;

/// Name of the broker-session cookie on a plain-http loopback `public_url` (development, tests),
/// where it cannot be `Secure` and so cannot be `__Host-`.
pub const SESSION_COOKIE: &str = "fedbroker_session";
/// Name of the broker-session cookie with an https `public_url`: `__Host-` (`Secure`, `Path=/`,
/// no `Domain`), so no sibling subdomain can set it.
pub const SESSION_COOKIE_HOST: &str = "__Host-fedbroker_session";
/// Name of the cookie binding an OIDC login in progress to its browser (`SameSite=Lax`: the
/// IdP's answer is a top-level GET) on a plain-http loopback `public_url`.
pub const LOGIN_COOKIE: &str = "fedbroker_login";
/// [`LOGIN_COOKIE`] with an https `public_url`.
pub const LOGIN_COOKIE_HOST: &str = "__Host-fedbroker_login";

/// The session cookie's name: `__Host-` whenever cookies are `Secure` (https `public_url`).
pub fn session_cookie_name(secure: bool) -> &'static str {
    if secure {
        SESSION_COOKIE_HOST
    } else {
        SESSION_COOKIE
    }
}

/// The OIDC login cookie's name: `__Host-` whenever cookies are `Secure` (https `public_url`).
pub fn login_cookie_name(secure: bool) -> &'static str {
    if secure {
        LOGIN_COOKIE_HOST
    } else {
        LOGIN_COOKIE
    }
}
/// Name of the cookie binding a SAML login in progress to its browser: `SameSite=None; Secure`
/// (the IdP's answer is a cross-site POST, which never carries a Lax cookie), `__Host-` (only this
/// host, `Path=/`, `Secure`: a sibling domain cannot plant it).
pub const SAML_LOGIN_COOKIE: &str = "__Host-fedbroker_saml_login";
/// How long a broker session lasts: short (an hour), because it can mint console sessions;
/// signing in again at the IdP is usually one click.
pub const SESSION_TTL: TimeDelta = TimeDelta::hours(1);
/// How long a login may take at the IdP before its `state` expires.
pub const LOGIN_TTL: TimeDelta = TimeDelta::minutes(10);

/// A random, unguessable token (two v4 UUIDs: 244 random bits), URL-safe.
pub fn random_token() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// Whether a presented secret equals the expected one, in time independent of where they differ
/// and of their lengths (their SHA-256 digests are compared, byte by byte, without early exit).
pub fn secrets_equal(presented: &str, expected: &str) -> bool {
    use sha2::{Digest, Sha256};
    let (a, b) = (
        Sha256::digest(presented.as_bytes()),
        Sha256::digest(expected.as_bytes()),
    );
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

/// SHA-256 hex of a browser-held token: what the stores keep.
pub fn token_hash(token: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(token.as_bytes()))
}
