//! `[console]`: destination prefixes, the issuer URL and per-partition federation endpoints.

use super::common::check_url;
use crate::config::errors::ConfigErrors;
use crate::config::model::ConsoleConfig;

pub(super) fn check(errors: &mut ConfigErrors, c: &ConsoleConfig) {
    for (i, d) in c.allowed_destinations.iter().flatten().enumerate() {
        if let Err(e) = crate::console::AllowedDestination::prefix(d) {
            errors.push(format!("console.allowed_destinations[{i}] = {d:?}: {e}"));
        }
    }
    if let Some(u) = &c.issuer_url {
        check_url(errors, "console.issuer_url", u, true);
    }
    for (partition, url) in &c.federation_endpoints {
        match crate::console::Partition::from_name(partition) {
            Some(crate::console::Partition::Aws) => errors.push(
                "console.federation_endpoints.aws: set aws.federation_endpoint instead",
            ),
            Some(_) => check_url(
                errors,
                &format!("console.federation_endpoints.{partition}"),
                url,
                true,
            ),
            None => errors.push(format!(
                "console.federation_endpoints: unknown partition {partition:?} (aws-us-gov or aws-cn)"
            )),
        }
    }
}
