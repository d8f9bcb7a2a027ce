//! `GET /saml/metadata`, `GET /saml/login` and `POST /saml/acs`: the broker as a SAML SP for
//! browser sign-in (the flow itself is `sign_in::saml`).

use super::audit;
use super::session::signed_in_to;
use super::{client_of, error_page, login_max_age, saml_binding_cookie, to_idp};
use crate::http::openapi::{ErrorBody, SamlAcsForm};
use crate::http::AppState;
use crate::sign_in::SAML_LOGIN_COOKIE;
use actix_web::{web, HttpRequest, HttpResponse};

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SamlLoginQuery {
    /// A configured SAML IdP (`[[saml.idps]]` with `sso_url`).
    idp: String,
}

/// `GET /saml/metadata`: the broker's SP metadata.
#[utoipa::path(
    get,
    path = "/saml/metadata",
    tag = "browser",
    operation_id = "samlMetadata",
    summary = "The broker's SAML SP metadata (entity ID, ACS, signing and encryption keys)",
    responses(
        (status = 200, description = "The metadata", content_type = "application/samlmetadata+xml", body = String),
        (status = 429, description = "Rate limited (`rate_limited_client`, with `Retry-After`)", body = ErrorBody),
    )
)]
pub async fn saml_metadata(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/samlmetadata+xml")
        .body(state.saml_browser().metadata_xml())
}

/// `GET /saml/login?idp=NAME`: an AuthnRequest to the IdP (HTTP-Redirect), bound to this browser.
#[utoipa::path(
    get,
    path = "/saml/login",
    tag = "browser",
    operation_id = "samlLogin",
    summary = "Start a SAML browser sign-in: an AuthnRequest to the IdP (HTTP-Redirect binding)",
    params(SamlLoginQuery),
    responses(
        (status = 302, description = "To the IdP's SSO URL, with the cookie binding the sign-in to this browser", headers(("Location" = String, description = "Where the browser goes next"), ("Set-Cookie" = String, description = "The cookies of the sign-in"))),
        (status = 400, description = "Unknown IdP (`login_unknown_provider`) or a query string that does not parse (`bad_query`) (HTML error page)", content_type = "text/html", body = String),
        (status = 429, description = "Rate limited (`rate_limited_client`, with `Retry-After`)", body = ErrorBody),
        (status = 500, description = "No SP signing key (`saml_sp_key_missing`) (HTML error page)", content_type = "text/html", body = String),
        (status = 503, description = "Too many sign-ins in progress (`login_busy`) (HTML error page)", content_type = "text/html", body = String),
    )
)]
pub async fn saml_login(
    req: HttpRequest,
    query: web::Query<SamlLoginQuery>,
    state: web::Data<AppState>,
) -> HttpResponse {
    match state
        .saml_browser()
        .start(&query.idp, &client_of(&req))
        .await
    {
        Ok((url, binding)) => to_idp(url, saml_binding_cookie(binding, login_max_age())),
        Err(e) => error_page(&e),
    }
}

/// `POST /saml/acs`: form `SAMLResponse` (+ `RelayState`): verify, match the request (or the
/// IdP-initiated rule), consume the assertion, start the session.
#[utoipa::path(
    post,
    path = "/saml/acs",
    tag = "browser",
    operation_id = "samlAcs",
    summary = "The SAML assertion consumer: verify the IdP's POST and start the broker session",
    request_body(content = SamlAcsForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Signed in: to the RelayState's local path or the role picker, with the session cookie", headers(("Location" = String, description = "Where the browser goes next"), ("Set-Cookie" = String, description = "The cookies of the sign-in"))),
        (status = 400, description = "A form or assertion that does not parse (HTML error page)", content_type = "text/html", body = String),
        (status = 401, description = "The assertion does not verify, answers no sign-in of this browser, or was used before (HTML error page)", content_type = "text/html", body = String),
        (status = 403, description = "The rules refuse the identity (HTML error page)", content_type = "text/html", body = String),
        (status = 408, description = "The body did not arrive in time (`request_timeout`) (HTML error page)", content_type = "text/html", body = String),
        (status = 413, description = "The body or assertion is too large (HTML error page)", content_type = "text/html", body = String),
        (status = 429, description = "Rate limited (`rate_limited_client`, with `Retry-After`)", body = ErrorBody),
        (status = 500, description = "A broker misconfiguration or internal failure (HTML error page)", content_type = "text/html", body = String),
        (status = 502, description = "An upstream failed (HTML error page)", content_type = "text/html", body = String),
        (status = 503, description = "The replay, session or audit store is unavailable (HTML error page)", content_type = "text/html", body = String),
    )
)]
pub async fn saml_acs(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    use crate::http::handlers::body::{parse_strict_form, read_parsed};
    const ROUTE: &str = "saml_acs";
    let form = |_: &HttpRequest, body: &[u8]| {
        let mut response = None;
        let mut relay = None;
        for (name, value) in parse_strict_form(body, &["SAMLResponse", "RelayState"])? {
            match name {
                "SAMLResponse" => response = Some(value),
                "RelayState" => relay = Some(value),
                _ => {}
            }
        }
        Ok((response, relay))
    };
    let (response, relay) = match read_parsed(&req, payload, state.max_body_bytes, form).await {
        Ok(fields) => fields,
        Err(e) => return audit::refused(&state, &req, ROUTE, &e, None),
    };
    let Some(response) = response else {
        let e = crate::http::errors::RequestError::bad(
            "missing_saml_response",
            "the identity provider posted no SAMLResponse",
        );
        return audit::refused(&state, &req, ROUTE, &e, None);
    };
    // One snapshot for the whole sign-in: the IdP that verified it is the one whose rules apply.
    let live = state.live();
    let identity = match live
        .exchange
        .verify_saml_sign_in(secrecy::SecretString::from(response))
        .await
    {
        Ok(i) => i,
        Err(e) => return audit::refused(&state, &req, ROUTE, &e, None),
    };
    let binding = req.cookie(SAML_LOGIN_COOKIE).map(|c| c.value().to_owned());
    if let Err(e) = live
        .saml_browser
        .accept(&identity, binding.as_deref())
        .await
    {
        return audit::refused(&state, &req, ROUTE, &e, Some(&identity));
    }
    if let Err(e) = live.exchange.consume_sign_in(&identity).await {
        return audit::refused(&state, &req, ROUTE, &e, Some(&identity));
    }
    let next = live.saml_browser.next_location(relay.as_deref());
    signed_in_to(&req, &state, identity, &next).await
}
