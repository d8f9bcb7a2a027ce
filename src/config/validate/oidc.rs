//! `[[oidc.providers]]`: names (one namespace with the SAML IdPs), browser sign-in client
//! settings, issuer URL, audiences, algorithms, JWKS cache lifetime and claim conditions.

use super::common::is_name;
use crate::config::errors::ConfigErrors;
use crate::config::model::{OidcConfig, OidcProviderConfig, SamlConfig};
use std::collections::HashSet;

/// Every `[[oidc.providers]]` entry (`saml`: for names shared with a SAML IdP).
pub(super) fn check(errors: &mut ConfigErrors, oidc: &OidcConfig, saml: &SamlConfig) {
    let mut names = HashSet::new();
    for (i, p) in oidc.providers.iter().enumerate() {
        let at = format!("oidc.providers[{i}] ({:?})", p.name);
        match (&p.client_id, &p.client_secret, &p.client_secret_file) {
            (_, Some(_), Some(_)) => errors.push(format!(
                "{at}: set client_secret or client_secret_file, not both"
            )),
            (None, Some(_), _) | (None, _, Some(_)) => errors.push(format!(
                "{at}: client_secret without client_id (browser sign-in needs both)"
            )),
            (Some(id), _, _) if id.trim().is_empty() => {
                errors.push(format!("{at}: client_id is empty"))
            }
            (Some(_), None, Some(path)) if std::fs::metadata(path).is_err() => {
                errors.push(format!("{at}: client_secret_file {path} cannot be read"))
            }
            _ => {}
        }
        if !is_name(&p.name) {
            errors.push(format!(
                "{at}: name must be 1-64 characters from [a-z0-9_-]"
            ));
        }
        if !names.insert(p.name.clone()) {
            errors.push(format!("{at}: duplicate provider name"));
        }
        // One namespace for both lists: `match.provider` names either, so a shared name would
        // make a rule written for one protocol grant roles to the other.
        if let Some(j) = saml.idps.iter().position(|s| s.name == p.name) {
            errors.push(format!(
                "{at}: name is also used by saml.idps[{j}]; SAML IdP and OIDC provider names must be unique across both lists (a rule's match.provider names either); rename one"
            ));
        }
        check_oidc_issuer(errors, &at, p);
        if p.audiences.is_empty() || p.audiences.len() > 100 {
            errors.push(format!(
                "{at}.audiences: AWS allows 1 to 100 audiences per provider"
            ));
        }
        if p.audiences.iter().any(|v| v.trim() != v || v.is_empty()) {
            errors.push(format!(
                "{at}.audiences: values must be non-empty with no surrounding spaces"
            ));
        }
        if let Err(e) = crate::oidc::provider::parse_algorithms(p.allowed_algorithms.as_deref()) {
            errors.push(format!("{at}.{e}"));
        }
        if let Some(ttl) = p.jwks_ttl_secs {
            use crate::oidc::provider::{MAX_JWKS_TTL_SECS, MIN_JWKS_TTL_SECS};
            if !(MIN_JWKS_TTL_SECS..=MAX_JWKS_TTL_SECS).contains(&ttl) {
                errors.push(format!(
                    "{at}.jwks_ttl_secs: must be {MIN_JWKS_TTL_SECS} to {MAX_JWKS_TTL_SECS}"
                ));
            }
        }
        if let Some(cooldown) = p.jwks_refetch_cooldown_secs {
            use crate::oidc::provider::{
                MAX_JWKS_REFETCH_COOLDOWN_SECS as MAX, MIN_JWKS_REFETCH_COOLDOWN_SECS as MIN,
            };
            if !(MIN..=MAX).contains(&cooldown) {
                errors.push(format!(
                    "{at}.jwks_refetch_cooldown_secs: must be {MIN} to {MAX}"
                ));
            }
        }
        for (claim, patterns) in p.claim_conditions.iter().flatten() {
            if claim.is_empty() || patterns.is_empty() {
                errors.push(format!(
                    "{at}.claim_conditions: {claim:?} needs a claim name and at least one pattern"
                ));
            }
        }
        if !p.issuer.is_empty() && oidc.providers[..i].iter().any(|o| o.issuer == p.issuer) {
            errors.push(format!("{at}.issuer: configured for two providers"));
        }
    }
}

/// OIDC issuers: https, or http on loopback only with `allow_insecure_http = true`.
fn check_oidc_issuer(errors: &mut ConfigErrors, at: &str, p: &OidcProviderConfig) {
    let key = format!("{at}.issuer");
    match url::Url::parse(&p.issuer) {
        Ok(u) if u.scheme() == "https" => {}
        Ok(u) if u.scheme() == "http" => {
            let loopback = crate::oidc::discovery::is_loopback(&u);
            if !(loopback && p.allow_insecure_http) {
                errors.push(format!(
                    "{key} = {:?}: must be https:// (plain http only for a loopback issuer with allow_insecure_http = true)",
                    p.issuer
                ));
            }
        }
        Ok(_) => errors.push(format!("{key} = {:?}: must be an https URL", p.issuer)),
        Err(e) => errors.push(format!("{key} = {:?}: not a URL ({e})", p.issuer)),
    }
    if p.allow_insecure_http
        && !url::Url::parse(&p.issuer).is_ok_and(|u| crate::oidc::discovery::is_loopback(&u))
    {
        errors.push(format!(
            "{at}.allow_insecure_http: only honoured for a loopback issuer; remove it"
        ));
    }
}
