//! `GET /roles`: the role picker of the signed-in browser (HTML, or JSON on request) with the
//! `fedbroker` command lines for this broker, and the sign-in choices when no session is open.

use super::session::current_session;
use super::{error_page, esc, page, secure, urlencode, wants_json};
use crate::http::openapi::{ErrorBody, PickerAnswer, PickerRole, UnavailablePickerRole};
use crate::http::AppState;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

/// `GET /roles`: the role picker for the signed-in browser (HTML, or JSON on request); without a
/// session, the sign-in choices (401).
#[utoipa::path(
    get,
    path = "/roles",
    tag = "browser",
    operation_id = "rolePicker",
    summary = "The role picker of the signed-in browser (HTML, or JSON with `Accept: application/json`)",
    security((), ("browser_session" = [])),
    responses(
        (status = 200, description = "The roles the person may use", content(
            (String = "text/html"),
            (PickerAnswer = "application/json"),
        )),
        (status = 401, description = "Not signed in: the sign-in choices (HTML), or `not_signed_in` with `providers` and `saml_idps` (JSON)", content(
            (String = "text/html"),
            (ErrorBody = "application/json"),
        )),
        (status = 403, description = "The rules refuse the identity (HTML error page)", content_type = "text/html", body = String),
        (status = 429, description = "Rate limited (`rate_limited_client`, with `Retry-After`)", body = ErrorBody),
        (status = 500, description = "A broker misconfiguration (HTML error page)", content_type = "text/html", body = String),
    )
)]
pub async fn roles(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let Some(session) = current_session(&req, &state).await else {
        return sign_in_page(&req, &state);
    };
    let (roles, unavailable) = match state.exchange().picker_for(&session.identity) {
        Ok(r) => r,
        Err(e) => return error_page(&e),
    };
    let account = |arn: &str| arn.split(':').nth(4).unwrap_or_default().to_owned();
    let role_name = |arn: &str| arn.rsplit('/').next().unwrap_or_default().to_owned();
    let unavailable: Vec<UnavailablePickerRole> = unavailable
        .iter()
        .map(|u| {
            let arn = u.role_arn.as_str();
            UnavailablePickerRole {
                role_arn: arn.to_owned(),
                account: account(arn),
                role_name: role_name(arn),
                alias: u.alias.clone(),
                code: u.code.to_owned(),
                reason: u.reason.clone(),
            }
        })
        .collect();
    let rows: Vec<PickerRole> = roles
        .iter()
        .map(|r| {
            let arn = r.role_arn.as_str();
            PickerRole {
                role_arn: arn.to_owned(),
                account: account(arn),
                role_name: role_name(arn),
                alias: r.alias.clone(),
                mode: r.mode,
                console_url: format!(
                    "/console?role={}&csrf={}",
                    urlencode(arn),
                    session.csrf_token
                ),
            }
        })
        .collect();
    if wants_json(&req) {
        return secure(HttpResponse::Ok()).json(PickerAnswer {
            subject: session.identity.subject().to_owned(),
            provider: session.identity.provider().to_owned(),
            roles: rows,
            unavailable,
        });
    }
    let mut table = String::from(
        "<table><caption>Roles you may use</caption><thead><tr><th scope=\"col\">Account</th>\
         <th scope=\"col\">Role</th><th scope=\"col\">Account ID</th><th scope=\"col\"></th></tr></thead><tbody>",
    );
    for r in &rows {
        table.push_str(&format!(
            "<tr><td>{alias}</td><td>{name}</td><td>{acct}</td><td><a class=\"console\" href=\"{href}\" \
             aria-label=\"Open the AWS console as {name} in {acct}\">Open console</a></td></tr>",
            alias = esc(r.alias.as_deref().unwrap_or(&r.account)),
            name = esc(&r.role_name),
            acct = esc(&r.account),
            href = esc(&r.console_url),
        ));
    }
    for u in &unavailable {
        table.push_str(&format!(
            "<tr><td>{alias}</td><td>{name}</td><td>{acct}</td><td>Unavailable: {reason} \
             (<code>{code}</code>)</td></tr>",
            alias = esc(u.alias.as_deref().unwrap_or(&u.account)),
            name = esc(&u.role_name),
            acct = esc(&u.account),
            reason = esc(&u.reason),
            code = esc(&u.code),
        ));
    }
    table.push_str("</tbody></table>");
    if rows.is_empty() && unavailable.is_empty() {
        table =
            "<p>No role is granted to you. Ask an administrator to check the mapping rules.</p>"
                .into();
    }
    let body = format!(
        "<p>Signed in as <strong>{who}</strong> ({provider}).</p>{table}{cli}\
         <form method=\"post\" action=\"/logout\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <button type=\"submit\">Sign out</button></form>",
        who = esc(session.identity.subject()),
        provider = esc(session.identity.provider()),
        csrf = esc(&session.csrf_token),
        cli = command_line_section(&state.public_url),
    );
    secure(HttpResponse::Ok())
        .content_type("text/html; charset=utf-8")
        .body(page("AWS roles", &body))
}

/// The picker's "Command line" section: the `fedbroker` commands for this broker, ready to copy
/// (HTML-escaped; `public_url` comes from the configuration).
fn command_line_section(public_url: &str) -> String {
    let url = esc(public_url);
    format!(
        "<section aria-labelledby=\"cli\"><h2 id=\"cli\">Command line</h2>\
         <p>Sign in on a terminal (on this computer or over SSH; you approve the code here):</p>\
         <pre><code>fedbroker login --broker {url} --device</code></pre>\
         <p>Then write an AWS CLI profile for every role above \
         (<code>aws s3 ls --profile &lt;name&gt;</code> then works, refreshed quietly):</p>\
         <pre><code>fedbroker profiles --broker {url} --write</code></pre></section>"
    )
}

/// The sign-in choices (401): HTML, or JSON on request.
pub(crate) fn sign_in_page(req: &HttpRequest, state: &AppState) -> HttpResponse {
    let saml_browser = state.saml_browser();
    if wants_json(req) {
        return secure(HttpResponse::Unauthorized()).json(json!({"error": {
            "code": "not_signed_in",
            "message": "sign in first: GET /oidc/login?provider=NAME",
            "providers": state.oidc_browser.provider_names(),
            "saml_idps": saml_browser.idp_names(),
        }}));
    }
    let oidc = state.oidc_browser.provider_names().into_iter().map(|p| {
        format!(
            "<li><a href=\"/oidc/login?provider={}\">Sign in with {}</a></li>",
            esc(&urlencode(p)),
            esc(p)
        )
    });
    let saml = saml_browser.idp_names().into_iter().map(|p| {
        format!(
            "<li><a href=\"/saml/login?idp={}\">Sign in with {} (SAML)</a></li>",
            esc(&urlencode(p)),
            esc(p)
        )
    });
    let links: String = oidc.chain(saml).collect();
    secure(HttpResponse::Unauthorized())
        .content_type("text/html; charset=utf-8")
        .body(page("Sign in", &format!("<ul>{links}</ul>")))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_line_section_escapes_the_broker_url() {
        let html = super::command_line_section("https://broker.example/<x>&y");
        assert!(html
            .contains("fedbroker login --broker https://broker.example/&lt;x&gt;&amp;y --device"));
        assert!(html.contains(
            "fedbroker profiles --broker https://broker.example/&lt;x&gt;&amp;y --write"
        ));
        assert!(!html.contains("<x>"));
    }
}
