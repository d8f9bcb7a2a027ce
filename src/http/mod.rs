//! HTTP surface (actix-web). Handlers are thin: extract → call one `Exchange` function → record the
//! outcome → answer, mapping every error through the one status table in `errors.rs`.
//!
//! Map of this folder:
//! - `router.rs`: the one route table (actix registration, [`ROUTES`], the OpenAPI paths);
//! - `handlers/`: one file per route family (credentials by SAML, web identity, container and
//!   console URL; explain and roles; admin; health; issuer; thumbprint), the credential answer
//!   and body parsing they share, and `handlers/sign_in/` for the browser sign-in routes;
//! - `middleware/`: what wraps every request (client address, rate limit, request id, request
//!   metrics, the broker's own answers for unmatched requests and its headers on every answer);
//! - `state.rs`: [`AppState`], the state handlers read (built in `app`);
//! - `errors.rs`: the one error-kind → status table and the JSON error body;
//! - `openapi.rs`: the OpenAPI document and its schemas;
//! - `server.rs`: the public and the metrics application with their middleware in production's
//!   order (what `main.rs` serves, and what tests can build);
//! - `tls.rs`, `connections.rs`: the listener (TLS and client certificates; connection limits).
//!
//! "Browser" in three places: `sign_in` (the sign-in flows and sessions, no HTTP types),
//! `http::handlers::sign_in` (their routes, cookies and pages), `exchange::signed_in` (credentials
//! for a signed-in session).

pub mod connections;
pub mod errors;
pub mod handlers;
pub mod middleware;
pub mod openapi;
pub mod router;
pub mod server;
pub mod state;
pub mod tls;

pub use router::{metrics_routes, public_routes, routes, routes_where, ApiDoc, ROUTES};
pub use state::AppState;
