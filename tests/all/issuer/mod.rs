//! Issuer mode: configuration, the minted tokens, the discovery/JWKS endpoints, and AssumeRoleWithWebIdentity at moto with a minted token.

mod config;
mod http;
mod moto;
mod tokens;
