//! The HTTP API through the in-process app (`actix_web::test`): audit, cache, console, errors, limits, modes, proxies, reload, explain and the SAML exchange.

mod audit;
mod cache;
mod console;
mod errors;
mod exhaustion;
mod explain;
mod limits;
mod modes;
mod proxies;
mod reload;
mod saml;
mod saml_encrypted;
mod saml_groups;
mod saml_lifetimes;
