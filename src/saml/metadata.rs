//! IdP trust from SAML metadata: entity ID and pinned signing certificates.
//!
//! Invariant: a `TrustedIdp` always holds at least one signing certificate (samael fails open when
//! metadata has none — checklist R1 — so an IdP without one is a config error).

use samael::crypto::CertificateDer;

/// A configured IdP with pinned signing keys and its accepted audiences and recipients.
#[derive(Debug, Clone)]
pub struct TrustedIdp {
    pub name: String,
    pub entity_id: String,
    pub signing_certs: Vec<CertificateDer>,
    pub audiences: Vec<String>,
    pub recipients: Vec<String>,
}
