//! The route table: every route of the broker, registered on actix, listed in [`ROUTES`] and
//! described in the OpenAPI document ([`ApiDoc`]) from one list, so the three never disagree.

use super::handlers::{
    admin, cli, console_url, container, device, explain, health, issuer, oauth, saml, sign_in,
    thumbprint, web_identity,
};
use super::middleware::fallback;
use super::openapi::{self, Describe};
use actix_web::web;

/// The route table: the ONE list of the broker's routes. Each line `method "path" => handler`
/// registers the route on actix ([`routes`]), lists it in [`ROUTES`], and puts the handler's
/// `#[utoipa::path]` description into the OpenAPI document ([`ApiDoc`], served at
/// `GET /openapi.json` by `openapi::openapi_json`). A handler without a description does not
/// compile; a description whose method or path differs from its line here fails `tests/all/openapi.rs`.
macro_rules! route_table {
    ($($method:ident $path:expr => $($handler:ident)::+;)+) => {
        /// Every route as `(method, path)`, in registration order (method in lower case).
        pub const ROUTES: &[(&str, &str)] = &[$((stringify!($method), $path)),+];

        fn register(cfg: &mut web::ServiceConfig, keep: impl Fn(&str, &str) -> bool) {
            $(if keep(stringify!($method), $path) {
                cfg.route($path, web::$method().to($($handler)::+));
            })+
        }

        /// The OpenAPI document of every route in the table (see `openapi`).
        #[derive(utoipa::OpenApi)]
        #[openapi(
            paths($($($handler)::+),+),
            modifiers(&Describe),
            tags(
                (name = "credentials", description = "SAML Responses and web-identity tokens exchanged for AWS credentials"),
                (name = "introspection", description = "Read-only: the roles an assertion or token may assume, and what a request would do"),
                (name = "browser", description = "Browser sign-in (OIDC and SAML), the role picker and the AWS console (HTML pages and redirects)"),
                (name = "cli", description = "The command line's sign-in (`fedbroker login`): OAuth 2.0 device and loopback grants, CLI sessions and their credentials"),
                (name = "admin", description = "Operator endpoints behind the admin bearer token"),
                (name = "issuer", description = "Issuer mode's public OpenID documents"),
                (name = "operations", description = "Health, readiness, metrics and this document"),
            )
        )]
        pub struct ApiDoc;
    };
}

route_table! {
    get "/healthz" => health::healthz;
    get "/readyz" => health::readyz;
    get "/metrics" => health::metrics;
    get "/openapi.json" => openapi::openapi_json;
    post "/v1/admin/revoke" => admin::revoke;
    post "/v1/admin/reload" => admin::reload;
    get "/oidc/login" => sign_in::oidc::oidc_login;
    get "/oidc/callback" => sign_in::oidc::oidc_callback;
    get "/roles" => sign_in::picker::roles;
    get "/console" => sign_in::console::console;
    post "/logout" => sign_in::session::logout;
    get "/saml/metadata" => sign_in::saml::saml_metadata;
    get "/saml/login" => sign_in::saml::saml_login;
    post "/saml/acs" => sign_in::saml::saml_acs;
    post "/v1/saml/credentials" => saml::credentials;
    post "/v1/web-identity/credentials" => web_identity::credentials;
    get "/v1/container-credentials" => container::credentials;
    get "/v1/roles" => explain::roles_get;
    post "/v1/roles" => explain::roles_post;
    post "/v1/explain" => explain::explain;
    post "/v1/console-url" => console_url::console_url;
    post "/v1/credentials" => cli::credentials;
    post "/oauth/device_authorization" => oauth::device_authorization;
    post "/oauth/token" => oauth::token;
    post "/oauth/revoke" => oauth::revoke;
    get "/oauth/authorize" => oauth::authorize;
    post "/oauth/authorize" => oauth::authorize_decision;
    get "/device" => device::device_page;
    post "/device" => device::device_decision;
    get "/v1/thumbprint" => thumbprint::thumbprint;
    get crate::issuer::DISCOVERY_PATH => issuer::openid_configuration;
    get crate::issuer::JWKS_PATH => issuer::jwks;
}

/// Register every route on an actix `App` (the table above), with the broker's own answers for
/// unmatched requests and unparsable query strings and forms (`fallback`).
pub fn routes(cfg: &mut web::ServiceConfig) {
    routes_where(cfg, |_, _| true);
}

/// [`routes`], but only the table's routes for which `keep(method, path)` holds (e.g. a listener
/// that leaves `/metrics` to a separate one). The OpenAPI document still lists every route.
pub fn routes_where(cfg: &mut web::ServiceConfig, keep: impl Fn(&str, &str) -> bool) {
    fallback::configure(cfg);
    register(cfg, keep);
}

/// [`routes`], with `GET /metrics` only when `serve_metrics`: with `server.metrics_listen` set the
/// public listener does not know the route, so it answers it as any unknown path (404
/// `not_found`), and [`metrics_routes`] serves it on its own listener.
pub fn public_routes(cfg: &mut web::ServiceConfig, serve_metrics: bool) {
    routes_where(cfg, |_, path| serve_metrics || path != "/metrics");
}

/// The routes of the `server.metrics_listen` listener: `GET /metrics` (the same registry as the
/// public listener's) and nothing else; any other path is the broker's 404.
pub fn metrics_routes(cfg: &mut web::ServiceConfig) {
    fallback::configure(cfg);
    cfg.route("/metrics", web::get().to(health::metrics));
}
