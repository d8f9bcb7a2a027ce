//! `[aws]`: the Region name and the STS and federation endpoints.

use super::common::{check_url, is_region};
use crate::config::errors::ConfigErrors;
use crate::config::model::AwsConfig;

pub(super) fn check(errors: &mut ConfigErrors, aws: &AwsConfig) {
    if !is_region(&aws.region) {
        errors.push(format!(
            "aws.region = {:?} is not an AWS region name like us-east-1",
            aws.region
        ));
    }
    if let Some(ep) = &aws.sts_endpoint {
        check_url(errors, "aws.sts_endpoint", ep, true);
    }
    check_url(
        errors,
        "aws.federation_endpoint",
        &aws.federation_endpoint,
        true,
    );
}
