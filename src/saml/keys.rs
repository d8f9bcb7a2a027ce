//! Pinned IdP signing keys, parsed once when the configuration loads: each certificate's public key
//! becomes an aws-lc-rs `ParsedPublicKey` per signature method it may verify, so verifying a
//! Response costs the signature check alone (no certificate or key parsing per request). Also the
//! SignatureMethod and DigestMethod allowlists, the one list preflight and `dsig` both use.
//!
//! Invariants: a key verifies only the methods of its own type and size (RSA keys the RSA methods;
//! a P-256 key only ECDSA-SHA256, a P-384 key only ECDSA-SHA384), which rules out key-type and
//! curve confusion (docs/SECURITY.md S07). The fingerprint is the SHA-256 of the certificate DER, as the
//! audit log reports it.
//!
//! [`AlgorithmPolicy::Strict`] (every IdP's default) accepts SHA-256 and stronger only, and RSA keys
//! of at least 2048 bits. [`AlgorithmPolicy::Legacy`] (`legacy_algorithms = true` on one IdP) adds
//! exactly RSA-SHA1 signatures, SHA-1 digests and RSA keys of 1024 to 2047 bits, which AWS accepts;
//! a key built under the strict policy has no SHA-1 or sub-2048-bit verifier at all, so the policy
//! cannot leak from one IdP to another. HMAC, DSA, MD5 and ECDSA-SHA1 are refused under both.

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

/// Which algorithms and key sizes one IdP's signatures may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AlgorithmPolicy {
    /// SHA-256 and stronger, RSA keys of at least 2048 bits (the default).
    #[default]
    Strict,
    /// Also RSA-SHA1 signatures, SHA-1 digests and RSA keys of 1024 bits or more (AWS parity),
    /// for an IdP configured with `legacy_algorithms = true`.
    Legacy,
}

impl AlgorithmPolicy {
    /// `Legacy` when `legacy` is set (the `legacy_algorithms` IdP setting), else `Strict`.
    pub fn from_legacy_flag(legacy: bool) -> Self {
        if legacy {
            Self::Legacy
        } else {
            Self::Strict
        }
    }
}

/// The XML-DSig SignatureMethods fedbroker knows (docs/SECURITY.md R3, S07, S08); `RsaSha1` only under
/// [`AlgorithmPolicy::Legacy`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureMethod {
    RsaSha1,
    RsaSha256,
    RsaSha384,
    RsaSha512,
    EcdsaSha256,
    EcdsaSha384,
}

impl SignatureMethod {
    /// The method for an `Algorithm` URI `policy` allows; `None` for anything else (SHA-1 under
    /// the strict policy, HMAC, DSA, ECDSA-SHA1...).
    pub fn from_uri(uri: &str, policy: AlgorithmPolicy) -> Option<Self> {
        let m = match uri {
            "http://www.w3.org/2000/09/xmldsig#rsa-sha1" => Self::RsaSha1,
            "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256" => Self::RsaSha256,
            "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384" => Self::RsaSha384,
            "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512" => Self::RsaSha512,
            "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256" => Self::EcdsaSha256,
            "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384" => Self::EcdsaSha384,
            _ => return None,
        };
        (policy == AlgorithmPolicy::Legacy || !m.is_legacy()).then_some(m)
    }

    /// True for a method only the legacy policy allows.
    pub fn is_legacy(self) -> bool {
        self == Self::RsaSha1
    }

    /// A stable short name (`rsa-sha256`, ...), as reports show it.
    pub fn name(self) -> &'static str {
        match self {
            Self::RsaSha1 => "rsa-sha1",
            Self::RsaSha256 => "rsa-sha256",
            Self::RsaSha384 => "rsa-sha384",
            Self::RsaSha512 => "rsa-sha512",
            Self::EcdsaSha256 => "ecdsa-sha256",
            Self::EcdsaSha384 => "ecdsa-sha384",
        }
    }
}

/// The XML-DSig DigestMethods fedbroker knows: SHA-256 and stronger, and SHA-1 only under
/// [`AlgorithmPolicy::Legacy`]: SHA-1 collisions are practical, so a strict IdP's digests must not
/// use it (docs/SECURITY.md, row S08).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestMethod {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

impl DigestMethod {
    /// The method for an `Algorithm` URI `policy` allows; `None` for anything else (SHA-1 under
    /// the strict policy, MD5...).
    pub fn from_uri(uri: &str, policy: AlgorithmPolicy) -> Option<Self> {
        let m = match uri {
            "http://www.w3.org/2000/09/xmldsig#sha1" => Self::Sha1,
            "http://www.w3.org/2001/04/xmlenc#sha256" => Self::Sha256,
            "http://www.w3.org/2001/04/xmldsig-more#sha384" => Self::Sha384,
            "http://www.w3.org/2001/04/xmlenc#sha512" => Self::Sha512,
            _ => return None,
        };
        (policy == AlgorithmPolicy::Legacy || !m.is_legacy()).then_some(m)
    }

    /// True for a digest only the legacy policy allows.
    pub fn is_legacy(self) -> bool {
        self == Self::Sha1
    }

    /// A stable short name (`sha256`, ...), as reports show it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sha1 => "sha1",
            Self::Sha256 => "sha256",
            Self::Sha384 => "sha384",
            Self::Sha512 => "sha512",
        }
    }

    /// The digest of `data`.
    pub fn digest(self, data: &[u8]) -> aws_lc_rs::digest::Digest {
        use aws_lc_rs::digest;
        let alg = match self {
            Self::Sha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
            Self::Sha256 => &digest::SHA256,
            Self::Sha384 => &digest::SHA384,
            Self::Sha512 => &digest::SHA512,
        };
        digest::digest(alg, data)
    }
}

/// RSA keys below this many bits verify only under [`AlgorithmPolicy::Legacy`].
pub const STRICT_MIN_RSA_BITS: usize = 2048;
/// The smallest RSA key accepted at all (AWS's own floor), under [`AlgorithmPolicy::Legacy`].
pub const LEGACY_MIN_RSA_BITS: usize = 1024;

/// One pinned certificate's key, ready to verify.
#[derive(Clone)]
pub struct PinnedKey {
    /// SHA-256 (lowercase hex) of the certificate DER.
    pub fingerprint: String,
    verifiers: Vec<(SignatureMethod, ParsedPublicKey)>,
    /// An RSA key under [`STRICT_MIN_RSA_BITS`] (only ever built under the legacy policy).
    pub short_key: bool,
}

impl std::fmt::Debug for PinnedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let methods: Vec<_> = self.verifiers.iter().map(|(m, _)| m).collect();
        f.debug_struct("PinnedKey")
            .field("fingerprint", &self.fingerprint)
            .field("methods", &methods)
            .field("short_key", &self.short_key)
            .finish()
    }
}

impl PinnedKey {
    /// Parse the public key of one DER certificate (already checked by `metadata::check_cert`)
    /// into the verifiers `policy` allows.
    pub fn from_cert_der(der: &[u8], policy: AlgorithmPolicy) -> Result<Self, String> {
        let (_, cert) = x509_parser::parse_x509_certificate(der)
            .map_err(|e| format!("not an X.509 certificate ({e})"))?;
        let spki = cert.public_key();
        let key_bytes: &[u8] = &spki.subject_public_key.data;
        let parsed = spki
            .parsed()
            .map_err(|e| format!("unreadable public key ({e})"))?;
        let mut short_key = false;
        type Candidates = [(SignatureMethod, &'static dyn lc::VerificationAlgorithm)];
        let candidates: &Candidates = match (parsed, policy) {
            (PublicKey::RSA(_), AlgorithmPolicy::Strict) => &[
                (SignatureMethod::RsaSha256, &lc::RSA_PKCS1_2048_8192_SHA256),
                (SignatureMethod::RsaSha384, &lc::RSA_PKCS1_2048_8192_SHA384),
                (SignatureMethod::RsaSha512, &lc::RSA_PKCS1_2048_8192_SHA512),
            ],
            (PublicKey::RSA(rsa), AlgorithmPolicy::Legacy)
                if rsa.key_size() >= STRICT_MIN_RSA_BITS =>
            {
                &[
                    (
                        SignatureMethod::RsaSha1,
                        &lc::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
                    ),
                    (SignatureMethod::RsaSha256, &lc::RSA_PKCS1_2048_8192_SHA256),
                    (SignatureMethod::RsaSha384, &lc::RSA_PKCS1_2048_8192_SHA384),
                    (SignatureMethod::RsaSha512, &lc::RSA_PKCS1_2048_8192_SHA512),
                ]
            }
            // aws-lc-rs has no 1024-bit RSA-SHA384 verifier; no IdP is known to pair the two.
            (PublicKey::RSA(_), AlgorithmPolicy::Legacy) => {
                short_key = true;
                &[
                    (
                        SignatureMethod::RsaSha1,
                        &lc::RSA_PKCS1_1024_8192_SHA1_FOR_LEGACY_USE_ONLY,
                    ),
                    (
                        SignatureMethod::RsaSha256,
                        &lc::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY,
                    ),
                    (
                        SignatureMethod::RsaSha512,
                        &lc::RSA_PKCS1_1024_8192_SHA512_FOR_LEGACY_USE_ONLY,
                    ),
                ]
            }
            (PublicKey::EC(_), _) => &[
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
            short_key,
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
        let key = PinnedKey::from_cert_der(cert, AlgorithmPolicy::Strict).unwrap();
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
            assert_eq!(
                SignatureMethod::from_uri(uri, AlgorithmPolicy::Strict),
                None,
                "{uri}"
            );
        }
        assert_eq!(
            DigestMethod::from_uri(
                "http://www.w3.org/2000/09/xmldsig#sha1",
                AlgorithmPolicy::Strict
            ),
            None
        );
    }

    #[test]
    fn legacy_policy_adds_rsa_sha1_and_sha1_only() {
        let legacy = AlgorithmPolicy::Legacy;
        for uri in [
            "http://www.w3.org/2000/09/xmldsig#hmac-sha1",
            "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256",
            "http://www.w3.org/2000/09/xmldsig#dsa-sha1",
            "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha1",
            "http://www.w3.org/2001/04/xmldsig-more#rsa-md5",
        ] {
            assert_eq!(SignatureMethod::from_uri(uri, legacy), None, "{uri}");
        }
        assert_eq!(
            SignatureMethod::from_uri("http://www.w3.org/2000/09/xmldsig#rsa-sha1", legacy),
            Some(SignatureMethod::RsaSha1)
        );
        assert_eq!(
            DigestMethod::from_uri("http://www.w3.org/2000/09/xmldsig#sha1", legacy),
            Some(DigestMethod::Sha1)
        );
        assert_eq!(
            DigestMethod::from_uri("http://www.w3.org/2001/04/xmldsig-more#md5", legacy),
            None
        );
        // A 2048-bit key under the legacy policy gains RSA-SHA1 and stays a full-size key.
        let (_, cert) = crate::saml::test_support::key(0);
        let key = PinnedKey::from_cert_der(cert, legacy).unwrap();
        assert!(!key.short_key);
        assert_eq!(key.verifiers[0].0, SignatureMethod::RsaSha1);
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
        assert!(PinnedKey::from_cert_der(b"not a certificate", AlgorithmPolicy::Legacy).is_err());
    }
}
