//! `[issuer]`: a rule granting an issuer-mode role needs issuer mode on; when on, every issuer
//! check (key files included), so `check-config` reports them with the rest.

use crate::config::errors::ConfigErrors;
use crate::config::model::Config;

pub(super) fn check(errors: &mut ConfigErrors, cfg: &Config) {
    // Issuer mode: every check, key files included, so check-config reports them with the rest.
    if !cfg.issuer.enabled {
        for rule in cfg.rules.rules_using(crate::mapping::StsMode::Issuer) {
            errors.push(format!(
                "rules ({rule:?}): grants a role in mode \"issuer\", but [issuer] enabled = false; enable issuer mode (with keys) or change the grant's mode"
            ));
        }
    }
    if cfg.issuer.enabled {
        for e in crate::issuer::config_problems(&cfg.issuer, &cfg.server.public_url) {
            errors.push(e);
        }
    }
}
