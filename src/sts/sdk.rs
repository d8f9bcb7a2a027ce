//! `StsClient` over the official `aws-sdk-sts`.
