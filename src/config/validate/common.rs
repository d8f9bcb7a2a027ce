//! Checks shared by several sections: URLs, IdP/provider names, AWS Region names.

use crate::config::errors::ConfigErrors;

pub(super) fn check_url(
    errors: &mut ConfigErrors,
    key: &str,
    value: &str,
    allow_loopback_http: bool,
) {
    match url::Url::parse(value) {
        Ok(u) if u.scheme() == "https" => {}
        Ok(u) if u.scheme() == "http" => {
            let loopback = matches!(u.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
            if !(loopback
                && (allow_loopback_http
                    || key.contains("public_url")
                    || key.contains("metadata_url")
                    || key.contains("issuer")))
            {
                errors.push(format!(
                    "{key} = {value:?}: must be https:// (plain http only on loopback)"
                ));
            }
        }
        Ok(_) => errors.push(format!("{key} = {value:?}: must be an http(s) URL")),
        Err(e) => errors.push(format!("{key} = {value:?}: not a URL ({e})")),
    }
}

/// An IdP or provider name: 1-64 characters from `[a-z0-9_-]`.
pub(super) fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// An AWS Region name like `us-east-1` or `us-gov-west-1` (syntax only).
pub fn is_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && parts[0].len() == 2
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
        && parts
            .last()
            .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()))
}
