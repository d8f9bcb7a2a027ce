//! HTTP surface (actix-web). Handlers are thin: extract → call one `Exchange` function → map the
//! result through the one error table in `errors.rs`.

pub mod admin;
pub mod answer;
pub mod bad_input;
pub mod body;
pub mod browser;
pub mod browser_audit;
pub mod client_addr;
pub mod connections;
pub mod console;
pub mod console_browser;
pub mod container;
pub mod errors;
pub mod explain;
pub mod fallback;
pub mod health;
pub mod issuer;
pub mod limits;
pub mod request_id;
pub mod request_metrics;
pub mod saml;
pub mod state;
pub mod thumbprint;
pub mod tls;
pub mod trust;
pub mod web_identity;

pub use state::AppState;

use actix_web::web;

/// Register every route on an actix `App`, with the broker's own answers for unmatched requests
/// and unparsable query strings and forms (`fallback`). `/metrics` included: the public listener
/// when `server.metrics_listen` is not set.
pub fn routes(cfg: &mut web::ServiceConfig) {
    public_routes(cfg, true);
}

/// [`routes`], with `GET /metrics` only when `serve_metrics`: with `server.metrics_listen` set the
/// public listener does not know the route, so it answers it as any unknown path (404
/// `not_found`), and [`metrics_routes`] serves it on its own listener.
pub fn public_routes(cfg: &mut web::ServiceConfig, serve_metrics: bool) {
    fallback::configure(cfg);
    if serve_metrics {
        cfg.route("/metrics", web::get().to(health::metrics));
    }
    cfg.route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .route("/v1/admin/revoke", web::post().to(admin::revoke))
        .route("/v1/admin/reload", web::post().to(admin::reload))
        .route("/oidc/login", web::get().to(browser::oidc_login))
        .route("/oidc/callback", web::get().to(browser::oidc_callback))
        .route("/roles", web::get().to(browser::roles))
        .route("/console", web::get().to(console_browser::console))
        .route("/logout", web::post().to(browser::logout))
        .route("/saml/metadata", web::get().to(browser::saml_metadata))
        .route("/saml/login", web::get().to(browser::saml_login))
        .route("/saml/acs", web::post().to(browser::saml_acs))
        .route("/v1/saml/credentials", web::post().to(saml::credentials))
        .route(
            "/v1/web-identity/credentials",
            web::post().to(web_identity::credentials),
        )
        .route(
            "/v1/container-credentials",
            web::get().to(container::credentials),
        )
        .route("/v1/roles", web::get().to(explain::roles_get))
        .route("/v1/roles", web::post().to(explain::roles_post))
        .route("/v1/explain", web::post().to(explain::explain))
        .route("/v1/console-url", web::post().to(console::console_url))
        .route("/v1/thumbprint", web::get().to(thumbprint::thumbprint))
        .route(
            crate::issuer::DISCOVERY_PATH,
            web::get().to(issuer::openid_configuration),
        )
        .route(crate::issuer::JWKS_PATH, web::get().to(issuer::jwks));
}

/// The routes of the `server.metrics_listen` listener: `GET /metrics` (the same registry as the
/// public listener's) and nothing else; any other path is the broker's 404.
pub fn metrics_routes(cfg: &mut web::ServiceConfig) {
    fallback::configure(cfg);
    cfg.route("/metrics", web::get().to(health::metrics));
}
