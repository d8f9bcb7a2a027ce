//! The route handlers, one file per route family. Each is thin: read and check the request
//! (`body`, `bad_input`), call the exchange once, record the outcome
//! (`AppState::record_outcome`) and answer (`answer` for credentials, `errors` for refusals).

pub mod admin;
pub mod answer;
pub mod bad_input;
pub mod body;
pub mod cli;
pub mod console_url;
pub mod container;
pub mod device;
pub mod explain;
pub mod health;
pub mod issuer;
pub mod oauth;
pub mod saml;
pub mod sign_in;
pub mod thumbprint;
pub mod web_identity;
