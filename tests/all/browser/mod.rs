//! Browser sign-in (SAML and OIDC) against the in-process broker, and the browser state store (`kv_conformance`: one suite over the in-process store and every Redis topology).

mod kv_conformance;
mod oidc;
mod saml;
