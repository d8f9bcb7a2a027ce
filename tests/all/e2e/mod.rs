//! End to end: the real `fedbroker` binary (a child process) against moto, Redis and the real test IdPs; a headless browser; the container-credentials endpoint with boto3; the CLI sign-in with the AWS CLI and boto3; TLS.

mod browser;
mod cache;
mod cli;
mod cli_browser;
mod container;
mod oidc;
mod oidc_rotation;
mod reload;
mod replicas;
mod saml;
mod saml_encrypted;
mod tls;
