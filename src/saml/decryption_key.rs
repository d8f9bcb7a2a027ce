//! The private keys that decrypt an IdP's encrypted assertions (`[[saml.idps]]
//! decryption_key_files`), loaded and checked once when the configuration loads.
//!
//! Invariants: only unencrypted RSA private keys of 2048 to 8192 bits are accepted, in PKCS#8
//! (`BEGIN PRIVATE KEY`) or PKCS#1 (`BEGIN RSA PRIVATE KEY`) PEM; anything else is a config error
//! naming the file and the reason, never the key. A key is a secret: `Debug` shows only its size
//! and the SHA-256 of its public key (the fingerprint an operator compares with the certificate
//! given to the IdP); it is never logged. Keys are shared (`Arc`) between configuration snapshots.

use aws_lc_rs::rsa::{OaepAlgorithm, OaepPrivateDecryptingKey, PrivateDecryptingKey};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::PrivateKeyDer;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use zeroize::Zeroizing;

/// Most decryption keys one IdP may hold (each is tried in turn on every encrypted assertion).
pub const MAX_DECRYPTION_KEYS: usize = 10;
/// Largest key file read (a PEM RSA-8192 key is about 6.5 KiB).
const MAX_KEY_FILE_BYTES: u64 = 64 * 1024;

/// How one IdP's encrypted assertions are decrypted: its keys (tried in turn; several for
/// rotation) and whether AES-CBC is accepted when no verified Response signature covers it.
/// Without keys, encrypted assertions are refused as unsupported.
#[derive(Debug, Clone, Default)]
pub struct Decryption {
    pub keys: Vec<DecryptionKey>,
    pub allow_cbc: bool,
}

/// One RSA private key for RSA-OAEP key transport.
#[derive(Clone)]
pub struct DecryptionKey {
    key: Arc<OaepPrivateDecryptingKey>,
    /// SHA-256 (hex) of the public key's DER (SubjectPublicKeyInfo), for config reports.
    fingerprint: String,
    bits: usize,
}

impl std::fmt::Debug for DecryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecryptionKey")
            .field("bits", &self.bits)
            .field("public_key_sha256", &self.fingerprint)
            .field("private_key", &"<redacted>")
            .finish()
    }
}

impl DecryptionKey {
    /// Parse a PEM private key; the error says what is wrong (no key material in it).
    pub fn from_pem(pem: &[u8]) -> Result<Self, String> {
        let der = PrivateKeyDer::from_pem_slice(pem).map_err(|_| {
            "holds no unencrypted PEM private key (\"BEGIN PRIVATE KEY\" or \"BEGIN RSA PRIVATE KEY\" expected; encrypted keys are not read)".to_owned()
        })?;
        let pkcs8: Zeroizing<Vec<u8>> = match &der {
            PrivateKeyDer::Pkcs8(d) => Zeroizing::new(d.secret_pkcs8_der().to_vec()),
            PrivateKeyDer::Pkcs1(d) => pkcs1_to_pkcs8(d.secret_pkcs1_der()),
            PrivateKeyDer::Sec1(_) => {
                return Err("holds an EC key; decryption keys must be RSA (RSA-OAEP)".into())
            }
            _ => return Err("holds an unsupported private key format".into()),
        };
        let private = PrivateDecryptingKey::from_pkcs8(&pkcs8).map_err(|e| match e.to_string().as_str() {
            "TooSmall" => "holds an RSA key under 2048 bits; generate a key of at least 2048 bits".to_owned(),
            "WrongAlgorithm" => "holds a key that is not RSA; decryption keys must be RSA (RSA-OAEP)".to_owned(),
            other => format!("holds no acceptable RSA private key ({other}); RSA keys must be 2048 to 8192 bits"),
        })?;
        let bits = private.key_size_bits();
        let public_der =
            aws_lc_rs::encoding::AsDer::<aws_lc_rs::encoding::PublicKeyX509Der>::as_der(
                &private.public_key(),
            )
            .map_err(|_| "cannot derive the public key".to_owned())?;
        let fingerprint = hex::encode(Sha256::digest(public_der.as_ref()));
        let key = OaepPrivateDecryptingKey::new(private)
            .map_err(|_| "cannot use the key for RSA-OAEP".to_owned())?;
        Ok(Self {
            key: Arc::new(key),
            fingerprint,
            bits,
        })
    }

    /// Read and parse one key file; the error names the file.
    pub fn from_file(path: &str) -> Result<Self, String> {
        let meta = std::fs::metadata(path)
            .map_err(|e| format!("cannot read decryption key file {path}: {e}"))?;
        if meta.len() > MAX_KEY_FILE_BYTES {
            return Err(format!(
                "decryption key file {path} is larger than 64 KiB; it is not a PEM private key"
            ));
        }
        let pem = Zeroizing::new(
            std::fs::read(path)
                .map_err(|e| format!("cannot read decryption key file {path}: {e}"))?,
        );
        Self::from_pem(&pem).map_err(|why| format!("decryption key file {path} {why}"))
    }

    /// Load every file (all problems reported together, one per line).
    pub fn load_files(paths: &[String]) -> Result<Vec<Self>, String> {
        if paths.len() > MAX_DECRYPTION_KEYS {
            return Err(format!(
                "at most {MAX_DECRYPTION_KEYS} decryption_key_files are accepted"
            ));
        }
        let (keys, errors): (Vec<_>, Vec<_>) = paths
            .iter()
            .map(|p| Self::from_file(p))
            .partition(Result::is_ok);
        if errors.is_empty() {
            Ok(keys.into_iter().map(Result::unwrap).collect())
        } else {
            Err(errors
                .into_iter()
                .map(|e| e.unwrap_err())
                .collect::<Vec<_>>()
                .join("; "))
        }
    }

    /// SHA-256 (hex) of the public key (SubjectPublicKeyInfo DER).
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    pub fn bits(&self) -> usize {
        self.bits
    }

    /// RSA-OAEP decryption of a wrapped content key; `None` on any failure (no reason is given:
    /// a reason would be an oracle).
    pub(crate) fn unwrap_key(
        &self,
        algorithm: &'static OaepAlgorithm,
        ciphertext: &[u8],
        label: Option<&[u8]>,
    ) -> Option<Zeroizing<Vec<u8>>> {
        if ciphertext.len() != self.key.key_size_bytes() {
            return None;
        }
        let mut out = Zeroizing::new(vec![0u8; self.key.min_output_size()]);
        let len = self
            .key
            .decrypt(algorithm, ciphertext, &mut out, label)
            .ok()?
            .len();
        out.truncate(len);
        Some(out)
    }
}

/// Wrap a PKCS#1 RSAPrivateKey in a PKCS#8 PrivateKeyInfo (version 0, rsaEncryption, NULL).
fn pkcs1_to_pkcs8(pkcs1: &[u8]) -> Zeroizing<Vec<u8>> {
    const VERSION_AND_ALGORITHM: &[u8] = &[
        0x02, 0x01, 0x00, // INTEGER 0
        0x30, 0x0d, // SEQUENCE (AlgorithmIdentifier)
        0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, // rsaEncryption
        0x05, 0x00, // NULL
    ];
    let mut octets = Zeroizing::new(vec![0x04]);
    der_len(&mut octets, pkcs1.len());
    octets.extend_from_slice(pkcs1);
    let mut out = Zeroizing::new(vec![0x30]);
    der_len(&mut out, VERSION_AND_ALGORITHM.len() + octets.len());
    out.extend_from_slice(VERSION_AND_ALGORITHM);
    out.extend_from_slice(&octets);
    out
}

fn der_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert_path(name: &str) -> String {
        format!("{}/certs/{name}", env!("CARGO_MANIFEST_DIR"))
    }

    #[test]
    fn pkcs8_and_pkcs1_pem_of_one_key_load_to_the_same_key() {
        let a = DecryptionKey::from_file(&cert_path("test-sp-enc.key")).unwrap();
        let b = DecryptionKey::from_file(&cert_path("test-sp-enc.pkcs1.key")).unwrap();
        assert_eq!(a.fingerprint(), b.fingerprint());
        assert_eq!(a.bits(), 2048);
    }

    #[test]
    fn debug_never_shows_the_private_key() {
        let pem = std::fs::read(cert_path("test-sp-enc.key")).unwrap();
        let k = DecryptionKey::from_pem(&pem).unwrap();
        let shown = format!("{k:?}");
        assert!(shown.contains("<redacted>"), "{shown}");
        let body: String = String::from_utf8(pem)
            .unwrap()
            .lines()
            .nth(1)
            .unwrap()
            .to_owned();
        assert!(!shown.contains(&body[..20]), "{shown}");
    }

    #[test]
    fn weak_ec_missing_and_garbage_key_files_are_refused_with_the_reason() {
        let weak = DecryptionKey::from_file(&cert_path("weak-rsa1024.key")).unwrap_err();
        assert!(weak.contains("under 2048 bits"), "{weak}");
        let ec = DecryptionKey::from_file(&cert_path("test-idp-ec.key")).unwrap_err();
        assert!(ec.contains("not RSA") || ec.contains("EC key"), "{ec}");
        let missing = DecryptionKey::from_file(&cert_path("nope.key")).unwrap_err();
        assert!(missing.contains("cannot read"), "{missing}");
        let cert = DecryptionKey::from_file(&cert_path("test-sp-enc.crt")).unwrap_err();
        assert!(cert.contains("no unencrypted PEM private key"), "{cert}");
        let all = DecryptionKey::load_files(&[
            cert_path("test-sp-enc.key"),
            cert_path("weak-rsa1024.key"),
            cert_path("nope.key"),
        ])
        .unwrap_err();
        assert!(
            all.contains("weak-rsa1024.key") && all.contains("nope.key"),
            "{all}"
        );
    }
}
