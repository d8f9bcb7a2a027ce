//! The HTML bodies of the pages a person sees during a CLI sign-in (to be wrapped in the browser
//! pages' frame and security headers by the handler): the user-code form, the device approval
//! page, the loopback approval page, and the outcome.
//!
//! Invariants: every value shown is HTML-escaped; every decision is an explicit click on a POST
//! form carrying the browser session's CSRF token; the approval pages say plainly what approving
//! does and who asked (address, time), because a device code can be phished: someone else may
//! have started the sign-in and sent the link.

use super::{PendingDevice, ValidAuthorize};

/// HTML-escape text for element content and quoted attributes.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn hidden(name: &str, value: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
        esc(name),
        esc(value)
    )
}

/// `GET /device` without a code (or with an unknown one: `problem`): the form to type it.
pub fn user_code_form(problem: Option<&str>) -> String {
    let problem = problem
        .map(|p| format!("<p class=\"err\" role=\"alert\">{}</p>", esc(p)))
        .unwrap_or_default();
    format!(
        "{problem}<p>Enter the code shown by <code>fedbroker login --device</code> on your \
         terminal.</p><form method=\"get\" action=\"/device\"><label>Code \
         <input name=\"user_code\" autocomplete=\"off\" autocapitalize=\"characters\" \
         spellcheck=\"false\" placeholder=\"XXXX-XXXX\" required></label> \
         <button type=\"submit\">Continue</button></form>"
    )
}

/// `GET /device?user_code=…` for a signed-in person: what is asking, and approve / deny.
pub fn device_approval(pending: &PendingDevice, subject: &str, csrf: &str) -> String {
    let when = pending.requested_at.format("%Y-%m-%d %H:%M:%S UTC");
    let until = pending.expires_at.format("%H:%M:%S UTC");
    format!(
        "<p>A command line asks to sign in to AWS as <strong>{who}</strong>.</p>\
         <table><tbody>\
         <tr><th>Client</th><td><code>{client}</code> (the <code>fedbroker</code> command)</td></tr>\
         <tr><th>Code</th><td><code>{code}</code></td></tr>\
         <tr><th>Asked from</th><td>{ip}</td></tr>\
         <tr><th>Asked at</th><td>{when}</td></tr>\
         <tr><th>Valid until</th><td>{until}</td></tr>\
         </tbody></table>\
         <p><strong>Approve only if you started this yourself, just now, and the code matches \
         your terminal.</strong> Approving lets that command line get AWS credentials for every \
         role you can use, as you, until its session ends or you run <code>fedbroker \
         logout</code>. If someone sent you this link or code, deny.</p>\
         <form method=\"post\" action=\"/device\">{csrf}{uc}\
         <button type=\"submit\" name=\"decision\" value=\"approve\">Approve</button> \
         <button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button></form>",
        who = esc(subject),
        client = esc(&pending.client_id),
        code = esc(&pending.user_code),
        ip = esc(&pending.requester_ip),
        csrf = hidden("csrf", csrf),
        uc = hidden("user_code", &pending.user_code),
    )
}

/// `GET /oauth/authorize` for a signed-in person: approve the loopback sign-in. The form posts
/// the validated request back (re-validated on POST) with the CSRF token.
///
/// The handler's Content-Security-Policy must allow the redirect that follows the POST
/// (`form-action 'self' http://127.0.0.1:* http://[::1]:*`): browsers apply `form-action` to
/// a form's redirects too.
pub fn loopback_approval(req: &ValidAuthorize, subject: &str, csrf: &str) -> String {
    format!(
        "<p>The <code>fedbroker</code> command line on this computer asks to sign in to AWS as \
         <strong>{who}</strong>.</p>\
         <p>Approving lets it get AWS credentials for every role you can use, as you, until its \
         session ends or you run <code>fedbroker logout</code>. Approve only if you just ran \
         <code>fedbroker login</code>.</p>\
         <form method=\"post\" action=\"/oauth/authorize\">{csrf}{ru}{cc}{st}\
         <button type=\"submit\" name=\"decision\" value=\"approve\">Approve</button> \
         <button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button></form>",
        who = esc(subject),
        csrf = hidden("csrf", csrf),
        ru = hidden("redirect_uri", req.redirect_uri.as_str()),
        cc = hidden("code_challenge", &req.code_challenge),
        st = hidden("state", &req.state),
    )
}

/// After a device decision.
pub fn device_done(approved: bool) -> String {
    if approved {
        "<p>Approved. You can close this page and go back to your terminal.</p>".to_owned()
    } else {
        "<p>Denied: the command line gets nothing. If you did not start this sign-in, tell your \
         security team.</p>"
            .to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn pages_escape_and_carry_the_csrf_token() {
        let t = chrono::Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap();
        let pending = PendingDevice {
            user_code: "BCDF-GHJK".into(),
            client_id: "fedbroker-cli".into(),
            requester_ip: "203.0.113.7".into(),
            requested_at: t,
            expires_at: t + chrono::TimeDelta::minutes(10),
        };
        let page = device_approval(&pending, "<alice>", "tok\"en");
        assert!(page.contains("&lt;alice&gt;") && !page.contains("<alice>"));
        assert!(page.contains("value=\"tok&quot;en\""));
        assert!(page.contains("203.0.113.7") && page.contains("2026-03-01 09:00:00 UTC"));
        assert!(page.contains("method=\"post\""));
        let problem = user_code_form(Some("<b>"));
        assert!(problem.contains("&lt;b&gt;"));
        let req = ValidAuthorize {
            redirect_uri: crate::oauth::LoopbackRedirect::parse("http://127.0.0.1:5000/cb")
                .unwrap(),
            code_challenge: "c".repeat(43),
            state: "a\"b".into(),
        };
        let page = loopback_approval(&req, "alice", "csrf");
        assert!(page.contains("value=\"a&quot;b\""));
        assert!(page.contains("value=\"http://127.0.0.1:5000/cb\""));
    }
}
