//! Issuer signing keys: PEM private keys from `[[issuer.keys]]` in, a checked [`KeyRing`] out.
//!
//! Invariants: every key is RS256 (RSA 2048-8192 bits) or ES256 (P-256), parsed and checked by
//! aws-lc-rs (the library jsonwebtoken signs with), so the public JWK is derived from the very key
//! that signs; each key passes a sign-then-verify self-test against its own published JWK through
//! the broker's OIDC JWK ingest (`oidc::keys::ingest_jwk`: size, exponent, ROCA); `kid`s are unique
//! and from a safe charset; exactly one key is active. Every problem is collected, none stops the
//! others. Private key material never appears in `Debug` output or error messages.
//!
//! Rotation: publish the next key (listed, `active = false`) at least one JWKS cache lifetime
//! before activating it; after switching `active`, keep the old key listed for at least
//! [`super::MAX_TOKEN_LIFETIME_SECS`] so tokens it signed still verify, then remove it.

use crate::config::IssuerKeyConfig;
use crate::oidc::SigningAlg;
use aws_lc_rs::rsa::KeyPair as RsaKeyPair;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair as _, ECDSA_P256_SHA256_FIXED_SIGNING};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::EncodingKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::PrivateKeyDer;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::HashSet;

/// Algorithms issuer mode signs with: RS256 and ES256 are what AWS STS documents for
/// web-identity tokens and what every IAM OIDC provider verifies.
pub const ISSUER_ALGS: [SigningAlg; 2] = [SigningAlg::RS256, SigningAlg::ES256];
/// Smallest RSA modulus for a signing key (same floor the broker's own validator enforces).
pub const MIN_RSA_BITS: usize = crate::oidc::keys::MIN_RSA_BITS;
/// Most keys one issuer publishes. Rotation needs previous + current + next; every extra listed
/// key is one more key whose compromise forges tokens, so more than a handful is a mistake.
pub const MAX_ISSUER_KEYS: usize = 10;
/// Longest `kid` (it is echoed in every token header and JWKS entry).
pub const MAX_KID_LEN: usize = 64;
/// Largest key file read; a PEM RSA-8192 key is about 6.5 KiB.
pub const MAX_KEY_FILE_BYTES: u64 = 64 * 1024;

/// The public half of a signing key, as JWK members (big-endian, no leading zeros for RSA).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PublicJwk {
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
    },
    /// P-256 affine coordinates, 32 bytes each.
    Ec {
        x: Vec<u8>,
        y: Vec<u8>,
    },
}

impl PublicJwk {
    /// The RFC 7638 required members in lexicographic order, no whitespace: the exact input of
    /// the JWK thumbprint.
    pub fn thumbprint_input(&self) -> String {
        match self {
            Self::Rsa { n, e } => format!(
                r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
                URL_SAFE_NO_PAD.encode(e),
                URL_SAFE_NO_PAD.encode(n)
            ),
            Self::Ec { x, y } => format!(
                r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
                URL_SAFE_NO_PAD.encode(x),
                URL_SAFE_NO_PAD.encode(y)
            ),
        }
    }

    /// RFC 7638 SHA-256 JWK thumbprint, base64url without padding.
    pub fn thumbprint(&self) -> String {
        URL_SAFE_NO_PAD.encode(Sha256::digest(self.thumbprint_input().as_bytes()))
    }

    /// The published JWK: the RFC 7638 members plus `kid`, `alg` and `use: sig`.
    pub fn to_jwk(&self, kid: &str, alg: SigningAlg) -> Value {
        let b = |v: &[u8]| URL_SAFE_NO_PAD.encode(v);
        match self {
            Self::Rsa { n, e } => json!({
                "kty": "RSA", "use": "sig", "alg": alg.as_str(), "kid": kid, "n": b(n), "e": b(e)
            }),
            Self::Ec { x, y } => json!({
                "kty": "EC", "use": "sig", "alg": alg.as_str(), "kid": kid, "crv": "P-256",
                "x": b(x), "y": b(y)
            }),
        }
    }
}

/// One loaded signing key.
#[derive(Clone)]
pub struct IssuerKey {
    kid: String,
    alg: SigningAlg,
    active: bool,
    encoding: EncodingKey,
    public: PublicJwk,
}

impl std::fmt::Debug for IssuerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuerKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("active", &self.active)
            .field("thumbprint", &self.public.thumbprint())
            .finish_non_exhaustive()
    }
}

impl IssuerKey {
    pub fn kid(&self) -> &str {
        &self.kid
    }
    pub fn alg(&self) -> SigningAlg {
        self.alg
    }
    pub fn is_active(&self) -> bool {
        self.active
    }
    pub fn public(&self) -> &PublicJwk {
        &self.public
    }
    /// The published JWK of this key.
    pub fn jwk(&self) -> Value {
        self.public.to_jwk(&self.kid, self.alg)
    }
    pub(crate) fn encoding(&self) -> &EncodingKey {
        &self.encoding
    }
}

/// The issuer's keys: all are published, exactly one ([`KeyRing::active`]) signs.
#[derive(Clone, Debug)]
pub struct KeyRing {
    keys: Vec<IssuerKey>,
    active: usize,
}

impl KeyRing {
    /// Load and check every configured key; all problems are returned together.
    pub fn load(cfgs: &[IssuerKeyConfig]) -> Result<Self, Vec<String>> {
        let mut errors = Vec::new();
        if cfgs.is_empty() {
            errors.push("issuer.keys: at least one [[issuer.keys]] entry is required".to_owned());
        }
        if cfgs.len() > MAX_ISSUER_KEYS {
            errors.push(format!(
                "issuer.keys: {} keys listed; at most {MAX_ISSUER_KEYS} (current, next, and the retiring one)",
                cfgs.len()
            ));
        }
        let active: Vec<usize> = (0..cfgs.len()).filter(|i| cfgs[*i].active).collect();
        if !cfgs.is_empty() && active.len() != 1 {
            let kids: Vec<&str> = active.iter().map(|i| cfgs[*i].kid.as_str()).collect();
            errors.push(format!(
                "issuer.keys: exactly one key must have active = true (found {}: {kids:?}); the active key signs, the others are only published",
                active.len()
            ));
        }
        let mut seen = HashSet::new();
        let mut keys = Vec::new();
        for (i, cfg) in cfgs.iter().enumerate() {
            let at = format!("issuer.keys[{i}] (kid {:?})", cfg.kid);
            let mut ok = true;
            if let Err(why) = check_kid(&cfg.kid) {
                errors.push(format!("{at}.kid: {why}"));
                ok = false;
            }
            if !seen.insert(cfg.kid.as_str()) {
                errors.push(format!("{at}.kid: used by two keys; kids must be unique"));
                ok = false;
            }
            match load_key(cfg) {
                Ok(k) if ok => keys.push(k),
                Ok(_) => {}
                Err(why) => errors.push(format!("{at}: {why}")),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let active = active[0];
        Ok(Self { keys, active })
    }

    /// The key that signs new tokens.
    pub fn active(&self) -> &IssuerKey {
        &self.keys[self.active]
    }

    /// Every published key, in configuration order.
    pub fn iter(&self) -> impl Iterator<Item = &IssuerKey> {
        self.keys.iter()
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// `kid`: 1-64 characters from `[A-Za-z0-9._-]` (safe in headers, logs, JSON and file names).
pub fn check_kid(kid: &str) -> Result<(), String> {
    if kid.is_empty() || kid.len() > MAX_KID_LEN {
        return Err(format!("must be 1 to {MAX_KID_LEN} characters"));
    }
    if let Some(c) = kid
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(format!(
            "character {c:?} is not allowed (letters, digits, '.', '_', '-')"
        ));
    }
    Ok(())
}

/// Load one key file and check it against its `alg`.
pub fn load_key(cfg: &IssuerKeyConfig) -> Result<IssuerKey, String> {
    let alg = SigningAlg::parse(&cfg.alg)
        .filter(|a| ISSUER_ALGS.contains(a))
        .ok_or_else(|| format!("alg {:?} is not supported (RS256 or ES256)", cfg.alg))?;
    let path = &cfg.file;
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read file {path}: {e}"))?;
    if meta.len() > MAX_KEY_FILE_BYTES {
        return Err(format!(
            "file {path} is larger than {MAX_KEY_FILE_BYTES} bytes; it is not a PEM private key"
        ));
    }
    let pem = std::fs::read(path).map_err(|e| format!("cannot read file {path}: {e}"))?;
    let der = PrivateKeyDer::from_pem_slice(&pem).map_err(|_| {
        format!("file {path} holds no unencrypted PEM private key (PKCS#8 \"BEGIN PRIVATE KEY\" expected; encrypted keys are not read)")
    })?;
    let (public, encoding) = match alg {
        SigningAlg::RS256 => rsa_key(&der, &pem, path)?,
        _ => ec_key(&der, path)?,
    };
    let key = IssuerKey {
        kid: cfg.kid.clone(),
        alg,
        active: cfg.active,
        encoding,
        public,
    };
    self_test(&key).map_err(|why| format!("file {path}: {why}"))?;
    Ok(key)
}

fn mismatch(path: &str, found: &str, alg: &str, needs: &str) -> String {
    format!("file {path} holds {found}, but alg {alg} needs {needs}: fix alg or file")
}

fn rsa_key(
    der: &PrivateKeyDer<'_>,
    pem: &[u8],
    path: &str,
) -> Result<(PublicJwk, EncodingKey), String> {
    let parsed = match der {
        PrivateKeyDer::Pkcs8(d) => {
            let bytes = d.secret_pkcs8_der();
            RsaKeyPair::from_pkcs8(bytes).map_err(|e| {
                if EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, bytes).is_ok() {
                    mismatch(path, "an EC P-256 key", "RS256", "an RSA key")
                } else {
                    rsa_rejected(path, &e)
                }
            })?
        }
        PrivateKeyDer::Pkcs1(d) => {
            RsaKeyPair::from_der(d.secret_pkcs1_der()).map_err(|e| rsa_rejected(path, &e))?
        }
        PrivateKeyDer::Sec1(_) => return Err(mismatch(path, "an EC key", "RS256", "an RSA key")),
        _ => return Err(format!("file {path}: unsupported private key format")),
    };
    let public = parsed.public_key();
    let n = public.modulus().big_endian_without_leading_zero().to_vec();
    let e = public.exponent().big_endian_without_leading_zero().to_vec();
    let bits = n.len() * 8 - n.first().map_or(8, |b| b.leading_zeros() as usize);
    if bits < MIN_RSA_BITS {
        return Err(format!(
            "file {path}: RSA key is {bits} bits; at least {MIN_RSA_BITS} are required"
        ));
    }
    let encoding = EncodingKey::from_rsa_pem(pem)
        .map_err(|e| format!("file {path}: jsonwebtoken cannot use the RSA key ({e})"))?;
    Ok((PublicJwk::Rsa { n, e }, encoding))
}

fn rsa_rejected(path: &str, e: &aws_lc_rs::error::KeyRejected) -> String {
    // aws-lc-rs refuses RSA keys below 2048 bits when parsing ("TooSmall").
    if e.to_string() == "TooSmall" {
        return format!(
            "file {path}: RSA key is smaller than {MIN_RSA_BITS} bits; generate a new key (scripts/gen-issuer-keys.sh shows how)"
        );
    }
    format!("file {path}: not an acceptable RSA private key ({e}); RSA keys must be {MIN_RSA_BITS} to 8192 bits")
}

fn ec_key(der: &PrivateKeyDer<'_>, path: &str) -> Result<(PublicJwk, EncodingKey), String> {
    let pair = match der {
        PrivateKeyDer::Pkcs8(d) => {
            let bytes = d.secret_pkcs8_der();
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, bytes).map_err(|e| {
                if RsaKeyPair::from_pkcs8(bytes).is_ok() {
                    mismatch(path, "an RSA key", "ES256", "an EC P-256 key")
                } else {
                    format!("file {path}: not an EC P-256 private key ({e}); ES256 needs P-256")
                }
            })?
        }
        PrivateKeyDer::Sec1(d) => EcdsaKeyPair::from_private_key_der(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            d.secret_sec1_der(),
        )
        .map_err(|e| {
            format!("file {path}: not an EC P-256 private key ({e}); ES256 needs P-256")
        })?,
        PrivateKeyDer::Pkcs1(_) => {
            return Err(mismatch(path, "an RSA key", "ES256", "an EC P-256 key"))
        }
        _ => return Err(format!("file {path}: unsupported private key format")),
    };
    // Uncompressed SEC1 point: 0x04 || x || y.
    let point = pair.public_key().as_ref();
    if point.len() != 65 || point[0] != 4 {
        return Err(format!("file {path}: unexpected P-256 public key encoding"));
    }
    let public = PublicJwk::Ec {
        x: point[1..33].to_vec(),
        y: point[33..].to_vec(),
    };
    // jsonwebtoken signs ES256 from PKCS#8 DER; re-encode so SEC1 files work too.
    let pkcs8 = pair
        .to_pkcs8v1()
        .map_err(|_| format!("file {path}: cannot re-encode the EC key as PKCS#8"))?;
    Ok((public, EncodingKey::from_ec_der(pkcs8.as_ref())))
}

/// Sign a probe with the private key and verify it with the published JWK through the broker's
/// own JWK ingest: the JWKS we serve verifies what we sign, and passes our own validator's rules.
fn self_test(key: &IssuerKey) -> Result<(), String> {
    const PROBE: &[u8] = b"fedbroker issuer key self-test";
    let trusted = crate::oidc::keys::ingest_jwk(&key.jwk())
        .map_err(|why| format!("the derived public key is refused by the OIDC validator: {why}"))?;
    let alg = key.alg.to_jsonwebtoken();
    let sig = jsonwebtoken::crypto::sign(PROBE, &key.encoding, alg)
        .map_err(|e| format!("signing self-test failed ({e})"))?;
    match jsonwebtoken::crypto::verify(&sig, PROBE, &trusted.decoding, alg) {
        Ok(true) => Ok(()),
        _ => Err("self-test: the signature does not verify with the derived public key".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7638_example_thumbprint() {
        // RFC 7638 §3.1: the example RSA key and its SHA-256 thumbprint.
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        let jwk = PublicJwk::Rsa {
            n: URL_SAFE_NO_PAD.decode(n).unwrap(),
            e: URL_SAFE_NO_PAD.decode("AQAB").unwrap(),
        };
        assert_eq!(
            jwk.thumbprint(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
        let published = jwk.to_jwk("2011-04-29", SigningAlg::RS256);
        assert_eq!(published["use"], "sig");
        assert_eq!(published["n"], n);
    }

    #[test]
    fn kid_charset() {
        assert!(check_kid("demo-rsa-1").is_ok());
        assert!(check_kid("2026.11_a").is_ok());
        for bad in ["", "a b", "a/b", "ä", "a\"b", &"k".repeat(65)] {
            assert!(check_kid(bad).is_err(), "{bad:?}");
        }
    }
}
