//! Pinned IdP signing keys, parsed once when the configuration loads: each certificate's public key
//! becomes an aws-lc-rs `ParsedPublicKey` per signature method it may verify, so verifying a
//! Response costs the signature check alone (no certificate or key parsing per request). Also the
//! SignatureMethod and DigestMethod allowlists, the one list preflight and `dsig` both use.
//!
//! Invariants: a key verifies only the methods of its own type and size (RSA keys the RSA methods;
//! a P-256 key only ECDSA-SHA256, a P-384 key only ECDSA-SHA384), which rules out key-type and
//! curve confusion (checklist S07). The fingerprint is the SHA-256 of the certificate DER, as the
//! audit log reports it.

use aws_lc_rs::signature::{self as lc, ParsedPublicKey};
use sha2::{Digest, Sha256};
use x509_parser::public_key::PublicKey;

/// A pinned certificate, DER-encoded, as read from metadata or PEM (checked by `metadata`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateDer(Vec<u8>);

impl CertificateDer {
    pub fn der_data(&self) -> &[u8] {
        &self.0
    }
}

impl From<Vec<u8>> for CertificateDer {
    fn from(der: Vec<u8>) -> Self {
        Self(der)
    }
}

/// The XML-DSig SignatureMethods fedbroker accepts (checklist R3, S07, S08).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureMethod {
    RsaSha256,
    RsaSha384,
    RsaSha512,
    EcdsaSha256,
    EcdsaSha384,
}

impl SignatureMethod {
    /// The method for an allowed `Algorithm` URI; `None` for anything else (SHA-1, HMAC, DSA...).
    pub fn from_uri(uri: &str) -> Option<Self> {
        Some(match uri {
            "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256" => Self::RsaSha256,
            "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384" => Self::RsaSha384,
            "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512" => Self::RsaSha512,
            "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256" => Self::EcdsaSha256,
            "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384" => Self::EcdsaSha384,
            _ => return None,
        })
    }
}

/// The XML-DSig DigestMethods fedbroker accepts: SHA-256 and stronger (checklist S08).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestMethod {
    Sha256,
    Sha384,
    Sha512,
}

impl DigestMethod {
    /// The method for an allowed `Algorithm` URI; `None` for anything else (SHA-1, MD5...).
    pub fn from_uri(uri: &str) -> Option<Self> {
        Some(match uri {
            "http://www.w3.org/2001/04/xmlenc#sha256" => Self::Sha256,
            "http://www.w3.org/2001/04/xmldsig-more#sha384" => Self::Sha384,
            "http://www.w3.org/2001/04/xmlenc#sha512" => Self::Sha512,
            _ => return None,
        })
    }

    /// The digest of `data`.
    pub fn digest(self, data: &[u8]) -> aws_lc_rs::digest::Digest {
        use aws_lc_rs::digest;
        let alg = match self {
            Self::Sha256 => &digest::SHA256,
            Self::Sha384 => &digest::SHA384,
            Self::Sha512 => &digest::SHA512,
        };
        digest::digest(alg, data)
    }
}

/// One pinned certificate's key, ready to verify.
#[derive(Clone)]
pub struct PinnedKey {
    /// SHA-256 (lowercase hex) of the certificate DER.
    pub fingerprint: String,
    verifiers: Vec<(SignatureMethod, ParsedPublicKey)>,
}

impl std::fmt::Debug for PinnedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let methods: Vec<_> = self.verifiers.iter().map(|(m, _)| m).collect();
        f.debug_struct("PinnedKey")
            .field("fingerprint", &self.fingerprint)
            .field("methods", &methods)
            .finish()
    }
}

impl PinnedKey {
    /// Parse the public key of one DER certificate (already checked by `metadata::check_cert`).
    pub fn from_cert_der(der: &[u8]) -> Result<Self, String> {
        let (_, cert) = x509_parser::parse_x509_certificate(der)
            .map_err(|e| format!("not an X.509 certificate ({e})"))?;
        let spki = cert.public_key();
        let key_bytes: &[u8] = &spki.subject_public_key.data;
        let parsed = spki
            .parsed()
            .map_err(|e| format!("unreadable public key ({e})"))?;
        let candidates: &[(SignatureMethod, &'static dyn lc::VerificationAlgorithm)] = match parsed
        {
            PublicKey::RSA(_) => &[
                (SignatureMethod::RsaSha256, &lc::RSA_PKCS1_2048_8192_SHA256),
                (SignatureMethod::RsaSha384, &lc::RSA_PKCS1_2048_8192_SHA384),
                (SignatureMethod::RsaSha512, &lc::RSA_PKCS1_2048_8192_SHA512),
            ],
            PublicKey::EC(_) => &[
                (SignatureMethod::EcdsaSha256, &lc::ECDSA_P256_SHA256_FIXED),
                (SignatureMethod::EcdsaSha384, &lc::ECDSA_P384_SHA384_FIXED),
            ],
            _ => return Err("only RSA and EC signing keys are supported".into()),
        };
        // An EC point parses for its own curve only, so each EC key keeps exactly one method.
        let verifiers: Vec<_> = candidates
            .iter()
            .filter_map(|(m, alg)| ParsedPublicKey::new(*alg, key_bytes).ok().map(|k| (*m, k)))
            .collect();
        if verifiers.is_empty() {
            return Err("the public key is not usable for RSA-SHA2 or ECDSA P-256/P-384".into());
        }
        Ok(Self {
            fingerprint: hex::encode(Sha256::digest(der)),
            verifiers,
        })
    }

    /// Does this key verify `signature` over `message` with `method`?
    pub fn verifies(&self, method: SignatureMethod, message: &[u8], signature: &[u8]) -> bool {
        self.verifiers
            .iter()
            .any(|(m, k)| *m == method && k.verify_sig(message, signature).is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rsa_key_verifies_rsa_methods_only() {
        let (_, cert) = crate::saml::test_support::key(0);
        let key = PinnedKey::from_cert_der(cert).unwrap();
        let methods: Vec<_> = key.verifiers.iter().map(|(m, _)| *m).collect();
        assert_eq!(
            methods,
            [
                SignatureMethod::RsaSha256,
                SignatureMethod::RsaSha384,
                SignatureMethod::RsaSha512
            ]
        );
        assert_eq!(key.fingerprint.len(), 64);
    }

    #[test]
    fn key_confusion_hmac_and_sha1_methods_are_not_methods() {
        for uri in [
            "http://www.w3.org/2000/09/xmldsig#hmac-sha1",
            "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256",
            "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
            "http://www.w3.org/2000/09/xmldsig#dsa-sha1",
            "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha1",
        ] {
            assert_eq!(SignatureMethod::from_uri(uri), None, "{uri}");
        }
    }

    #[test]
    fn curve_confusion_p256_key_verifies_ecdsa_sha256_only() {
        let idp = crate::saml::TrustedIdp::from_metadata_xml(
            "t",
            include_str!("../../config/test-idp-metadata.xml"),
            vec!["a".into()],
            vec!["r".into()],
        )
        .unwrap();
        let ec = &idp.pinned_keys()[1];
        let methods: Vec<_> = ec.verifiers.iter().map(|(m, _)| *m).collect();
        assert_eq!(methods, [SignatureMethod::EcdsaSha256]);
        // and the RSA key of the same IdP never verifies an ECDSA method
        let rsa = &idp.pinned_keys()[0];
        assert!(rsa.verifiers.iter().all(|(m, _)| !matches!(
            m,
            SignatureMethod::EcdsaSha256 | SignatureMethod::EcdsaSha384
        )));
    }

    #[test]
    fn garbage_certificate_is_refused() {
        assert!(PinnedKey::from_cert_der(b"not a certificate").is_err());
    }
}
