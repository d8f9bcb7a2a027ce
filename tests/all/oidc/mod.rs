//! OIDC/JWT validation: attacks, JWKS handling, the Wycheproof vectors, and a smoke test against the real test OIDC IdP.

mod attacks;
mod idp_smoke;
mod jwks;
mod wycheproof;
