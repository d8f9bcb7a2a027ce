//! Test oracle: samael + xmlsec (libxml2) checking every Signature against the selected IdP's
//! pinned certificates with an algorithm allowlist, returning only the verified subtree
//! (`ReduceMode::ValidateAndMarkNoAncestors`): the verifier fedbroker used before the native
//! `dsig` module, kept (test builds only; samael is a dev-dependency) to compare against.

use super::keys::CertificateDer as PinnedCert;
use super::{SamlError, TrustedIdp};
use samael::crypto::{
    AllowedSignatureAlgorithm, CertificateDer, Crypto, CryptoProvider, ReduceMode,
};
use sha2::{Digest, Sha256};

/// The same allowlist as `keys::SignatureMethod` under the strict policy, in samael's terms.
const ALLOWED_ALGORITHMS: &[AllowedSignatureAlgorithm] = &[
    AllowedSignatureAlgorithm::RsaSha256,
    AllowedSignatureAlgorithm::RsaSha384,
    AllowedSignatureAlgorithm::RsaSha512,
    AllowedSignatureAlgorithm::EcdsaSha256,
    AllowedSignatureAlgorithm::EcdsaSha384,
];

/// The signed-only XML and which key verified it.
#[derive(Debug)]
pub struct VerifiedXml {
    /// Reduced document: only content covered by a verified signature.
    pub xml: String,
    /// SHA-256 (hex) of the certificate that verified.
    pub key_fingerprint: String,
}

/// SHA-256 hex of a DER certificate.
pub fn fingerprint(cert: &PinnedCert) -> String {
    hex::encode(Sha256::digest(cert.der_data()))
}

/// Verify every signature in `xml` with `idp`'s pinned certificates, one at a time.
pub fn verify_signatures(xml: &str, idp: &TrustedIdp) -> Result<VerifiedXml, SamlError> {
    for cert in &idp.signing_certs {
        let der = CertificateDer::from(cert.der_data().to_vec());
        if let Ok(reduced) = Crypto::reduce_xml_to_signed_with_allowed_algorithms(
            xml,
            std::slice::from_ref(&der),
            ReduceMode::ValidateAndMarkNoAncestors,
            Some(ALLOWED_ALGORITHMS),
        ) {
            return Ok(VerifiedXml {
                xml: reduced,
                key_fingerprint: fingerprint(cert),
            });
        }
    }
    Err(SamlError::SignatureInvalid {
        idp: idp.name.clone(),
    })
}
