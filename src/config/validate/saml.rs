//! `[saml]` and `[[saml.idps]]`: relay states, IdP names, metadata source, assertion age, metadata
//! refresh, audiences/recipients and the CBC opt-in.

use super::common::{check_url, is_name};
use crate::config::errors::ConfigErrors;
use crate::config::model::SamlConfig;
use std::collections::HashSet;

/// `saml.allowed_relay_states`: local paths only (an absolute URL would be an open redirect).
pub(super) fn check_relay_states(errors: &mut ConfigErrors, saml: &SamlConfig) {
    for r in saml.allowed_relay_states.iter().flatten() {
        if !r.starts_with('/') || r.starts_with("//") || r.contains('\\') {
            errors.push(format!(
                "saml.allowed_relay_states: {r:?} must be a local path like \"/roles\""
            ));
        }
    }
}

/// Every `[[saml.idps]]` entry.
pub(super) fn check_idps(errors: &mut ConfigErrors, saml: &SamlConfig) {
    let mut names = HashSet::new();
    for (i, idp) in saml.idps.iter().enumerate() {
        let at = format!("saml.idps[{i}] ({:?})", idp.name);
        if !is_name(&idp.name) {
            errors.push(format!(
                "{at}: name must be 1-64 characters from [a-z0-9_-]"
            ));
        }
        if !names.insert(idp.name.clone()) {
            errors.push(format!("{at}: duplicate IdP name"));
        }
        match (&idp.metadata_file, &idp.metadata_url) {
            (Some(_), Some(_)) => {
                errors.push(format!("{at}: set metadata_file or metadata_url, not both"))
            }
            (None, None) => errors.push(format!("{at}: set metadata_file or metadata_url")),
            (None, Some(u)) => check_url(errors, &format!("{at}.metadata_url"), u, false),
            (Some(_), None) => {}
        }
        if let Some(age) = idp.max_assertion_age_seconds {
            let (min, max) = crate::saml::MAX_ASSERTION_AGE_RANGE;
            let (min, max) = (min.num_seconds() as u64, max.num_seconds() as u64);
            if !(min..=max).contains(&age) {
                errors.push(format!(
                    "{at}.max_assertion_age_seconds = {age}: must be {min} to {max} (seconds an assertion may be used after its IssueInstant; omit it for the default, 300)"
                ));
            }
        }
        if let Some(secs) = idp.metadata_refresh_secs {
            use crate::config::{MAX_REFRESH_SECS, MIN_REFRESH_SECS};
            if idp.metadata_url.is_none() {
                errors.push(format!(
                    "{at}.metadata_refresh_secs: only applies to metadata_url (a metadata_file \
                     is re-read on reload)"
                ));
            } else if !(MIN_REFRESH_SECS..=MAX_REFRESH_SECS).contains(&secs) {
                errors.push(format!(
                    "{at}.metadata_refresh_secs: must be {MIN_REFRESH_SECS} to {MAX_REFRESH_SECS}"
                ));
            }
        }
        for (key, list) in [
            ("audiences", &idp.audiences),
            ("recipients", &idp.recipients),
        ] {
            if let Some(list) = list {
                if list.is_empty() {
                    errors.push(format!("{at}.{key}: an empty list would accept nothing; omit it for AWS's defaults"));
                }
                if list.iter().any(|v| v.trim() != v || v.is_empty()) {
                    errors.push(format!(
                        "{at}.{key}: values must be non-empty with no surrounding spaces"
                    ));
                }
            }
        }
        if idp.allow_cbc && idp.decryption_key_files.is_empty() {
            errors.push(format!(
                "{at}: allow_cbc has no effect without decryption_key_files"
            ));
        }
    }
}
