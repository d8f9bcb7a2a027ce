//! JWK / JWKS ingest: untrusted JSON from the IdP in, [`KeySet`] of checked verification keys out.
//!
//! Invariants (docs/SECURITY.md J14, J19): only `kty` RSA and EC become keys; `oct` (HMAC secrets) and
//! keys meant for encryption (`use` other than `sig`, `key_ops` without `verify`) are refused;
//! private members (`d`, `p`, ...) make a key unusable (an IdP that publishes them is compromised);
//! RSA moduli are 2048-8192 bits with an odd public exponent ≥ 3 and no ROCA fingerprint; EC keys are
//! on P-256 or P-384 with coordinates of exact length; a key's `alg`, when present, fixes the one
//! algorithm it may verify. Unparseable keys are skipped, not fatal. A `kid` used by two keys is
//! unusable (ambiguous). Lookups are per provider: one provider's keys never verify another's tokens.

use super::alg::{KeyFamily, SigningAlg};
use super::json::parse_object;
use aws_lc_rs::signature::{self as lc, ParsedPublicKey, RsaPublicKeyComponents};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::DecodingKey;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::sync::Arc;

/// Smallest RSA modulus accepted (NIST SP 800-131A; docs/SECURITY.md J19 `rejects1024bitRsaKey`).
pub const MIN_RSA_BITS: usize = 2048;
/// Largest RSA modulus accepted: aws-lc verifies up to 8192 bits; bigger keys only cost CPU.
pub const MAX_RSA_BITS: usize = 8192;
/// Most keys one JWKS may hold; real IdPs publish 1-10. Bounds memory and kid-less searches.
pub const MAX_JWKS_KEYS: usize = 100;

/// Private-key members that must never appear in a published JWK.
const PRIVATE_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// A checked verification key from a provider's JWKS.
pub struct TrustedKey {
    pub kid: Option<String>,
    pub family: KeyFamily,
    /// The JWK's own `alg`, when it set one: then the key verifies only that algorithm.
    pub alg: Option<SigningAlg>,
    pub(crate) decoding: DecodingKey,
    /// The key parsed once (at JWKS ingest) for each algorithm it may verify: verification then
    /// costs the signature check alone, not a key parse and Montgomery set-up per token.
    verifiers: Vec<(SigningAlg, ParsedPublicKey)>,
    /// `kid` (or `-`) and the RFC 7638 SHA-256 thumbprint (hex), for audit.
    pub fingerprint: String,
}

impl std::fmt::Debug for TrustedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrustedKey")
            .field("kid", &self.kid)
            .field("family", &self.family)
            .field("alg", &self.alg)
            .field("fingerprint", &self.fingerprint)
            .finish()
    }
}

impl TrustedKey {
    /// May this key verify a signature made with `alg`? Key type decides the family (J02).
    pub fn allows(&self, alg: SigningAlg) -> bool {
        self.family == alg.family() && self.alg.is_none_or(|a| a == alg)
    }

    /// Check `signature` over `message` with `alg`; false when this key may not verify `alg`
    /// (`verifiers` holds exactly the algorithms [`Self::allows`] accepts).
    pub(crate) fn verify(&self, alg: SigningAlg, message: &[u8], signature: &[u8]) -> bool {
        self.verifiers
            .iter()
            .find(|(a, _)| *a == alg)
            .is_some_and(|(_, key)| key.verify_sig(message, signature).is_ok())
    }
}

/// aws-lc-rs parameters for an RSA algorithm (`None` for EC algorithms).
fn rsa_params(alg: SigningAlg) -> Option<&'static lc::RsaParameters> {
    Some(match alg {
        SigningAlg::RS256 => &lc::RSA_PKCS1_2048_8192_SHA256,
        SigningAlg::RS384 => &lc::RSA_PKCS1_2048_8192_SHA384,
        SigningAlg::RS512 => &lc::RSA_PKCS1_2048_8192_SHA512,
        SigningAlg::PS256 => &lc::RSA_PSS_2048_8192_SHA256,
        SigningAlg::PS384 => &lc::RSA_PSS_2048_8192_SHA384,
        SigningAlg::PS512 => &lc::RSA_PSS_2048_8192_SHA512,
        SigningAlg::ES256 | SigningAlg::ES384 => return None,
    })
}

/// aws-lc-rs parameters for an EC algorithm (`None` for RSA algorithms).
fn ec_params(alg: SigningAlg) -> Option<&'static lc::EcdsaVerificationAlgorithm> {
    match alg {
        SigningAlg::ES256 => Some(&lc::ECDSA_P256_SHA256_FIXED),
        SigningAlg::ES384 => Some(&lc::ECDSA_P384_SHA384_FIXED),
        _ => None,
    }
}

/// The algorithms a key of `family` may verify (its own `alg` only, when it names one that fits),
/// each with the key parsed once by `parse`.
fn parse_verifiers(
    family: KeyFamily,
    alg: Option<SigningAlg>,
    parse: impl Fn(SigningAlg) -> Option<Result<ParsedPublicKey, aws_lc_rs::error::KeyRejected>>,
) -> Result<Vec<(SigningAlg, ParsedPublicKey)>, String> {
    if let Some(a) = alg.filter(|a| a.family() != family) {
        return Err(format!("alg {a} does not match the key type/curve"));
    }
    SigningAlg::ALL
        .into_iter()
        .filter(|a| a.family() == family && alg.is_none_or(|own| own == *a))
        .map(|a| match parse(a) {
            Some(Ok(key)) => Ok((a, key)),
            Some(Err(e)) => Err(format!("the key does not parse for {a}: {e}")),
            None => Err(format!("no verifier for {a}")),
        })
        .collect()
}

/// Why a lookup found no key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LookupError {
    NotFound,
    Ambiguous,
}

/// The usable keys of one JWKS.
#[derive(Debug, Default)]
pub struct KeySet {
    keys: Vec<Arc<TrustedKey>>,
    duplicate_kids: HashSet<String>,
    /// Why each refused key was refused (for the operator's log; no key material).
    pub skipped: Vec<String>,
}

impl KeySet {
    /// Parse a JWKS document. Fails only when the document itself is unusable; bad keys are skipped.
    pub fn from_jwks(bytes: &[u8]) -> Result<Self, String> {
        let doc = parse_object(bytes).map_err(|e| format!("JWKS: {e}"))?;
        let Some(Value::Array(keys)) = doc.get("keys") else {
            return Err("JWKS has no \"keys\" array".into());
        };
        if keys.len() > MAX_JWKS_KEYS {
            return Err(format!(
                "JWKS holds {} keys; at most {MAX_JWKS_KEYS} are accepted",
                keys.len()
            ));
        }
        let mut set = KeySet::default();
        let mut seen = HashSet::new();
        for (i, k) in keys.iter().enumerate() {
            match ingest_jwk(k) {
                Ok(key) => {
                    if let Some(kid) = &key.kid {
                        if !seen.insert(kid.clone()) {
                            set.duplicate_kids.insert(kid.clone());
                        }
                    }
                    set.keys.push(Arc::new(key));
                }
                Err(why) => set.skipped.push(format!("key #{i}: {why}")),
            }
        }
        let dups = &set.duplicate_kids;
        set.keys
            .retain(|k| k.kid.as_ref().is_none_or(|kid| !dups.contains(kid)));
        Ok(set)
    }

    /// [`Self::from_jwks`], refusing a document without any usable key (the JWKS cache keeps its
    /// old keys then; `check-config --probe` reports it).
    pub fn usable_from_jwks(bytes: &[u8]) -> Result<Self, String> {
        let set = Self::from_jwks(bytes)?;
        if set.is_empty() {
            return Err(format!(
                "the JWKS holds no usable signing key ({})",
                set.skipped.join("; ")
            ));
        }
        Ok(set)
    }

    /// Can some key of the set verify some algorithm of `algs`?
    pub fn verifies_any_of(&self, algs: &[SigningAlg]) -> bool {
        self.keys.iter().any(|k| algs.iter().any(|a| k.allows(*a)))
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Does the set name this kid at all (usable or ambiguous)?
    pub fn knows_kid(&self, kid: &str) -> bool {
        self.duplicate_kids.contains(kid) || self.keys.iter().any(|k| k.kid.as_deref() == Some(kid))
    }

    /// The one key for (`kid`, `alg`): by kid when the token has one, else the only eligible key.
    pub fn select(
        &self,
        kid: Option<&str>,
        alg: SigningAlg,
    ) -> Result<Arc<TrustedKey>, LookupError> {
        match kid {
            Some(kid) => {
                if self.duplicate_kids.contains(kid) {
                    return Err(LookupError::Ambiguous);
                }
                self.keys
                    .iter()
                    .find(|k| k.kid.as_deref() == Some(kid) && k.allows(alg))
                    .cloned()
                    .ok_or(LookupError::NotFound)
            }
            None => {
                let mut it = self.keys.iter().filter(|k| k.allows(alg));
                match (it.next(), it.next()) {
                    (Some(k), None) => Ok(k.clone()),
                    (None, _) => Err(LookupError::NotFound),
                    (Some(_), Some(_)) => Err(LookupError::Ambiguous),
                }
            }
        }
    }
}

fn str_member<'a>(m: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, String> {
    match m.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(format!("{name} must be a string")),
    }
}

fn b64_member(m: &Map<String, Value>, name: &str) -> Result<Vec<u8>, String> {
    let s = str_member(m, name)?.ok_or_else(|| format!("missing {name}"))?;
    URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| format!("{name} is not base64url without padding"))
}

/// Check one JWK and turn it into a verification key.
pub fn ingest_jwk(v: &Value) -> Result<TrustedKey, String> {
    let Value::Object(m) = v else {
        return Err("not a JSON object".into());
    };
    let kty = str_member(m, "kty")?.ok_or("missing kty")?;
    if kty == "oct" {
        return Err("symmetric (kty oct) keys are refused".into());
    }
    if let Some(p) = PRIVATE_MEMBERS.iter().find(|p| m.contains_key(**p)) {
        return Err(format!(
            "private key member {p} is present; a JWKS must hold public keys only"
        ));
    }
    match str_member(m, "use")? {
        None | Some("sig") => {}
        Some(_) => return Err("use is not \"sig\"".into()),
    }
    if let Some(ops) = m.get("key_ops") {
        let ok = matches!(ops, Value::Array(a) if a.iter().any(|o| o == "verify")
            && a.iter().all(Value::is_string));
        if !ok {
            return Err("key_ops does not include \"verify\"".into());
        }
    }
    let kid = match str_member(m, "kid")? {
        Some(k) if k.is_empty() || k.len() > super::unverified::MAX_KID_LEN => {
            return Err("kid is empty or too long".into())
        }
        k => k.map(str::to_owned),
    };
    let alg = match str_member(m, "alg")? {
        None => None,
        Some(a) => Some(
            SigningAlg::parse(a)
                .ok_or_else(|| format!("alg {a:?} is not a supported signing algorithm"))?,
        ),
    };
    let (family, decoding, thumb_json, verifiers) = match kty {
        "RSA" => {
            let n = b64_member(m, "n")?;
            let e = b64_member(m, "e")?;
            let n_trim: &[u8] = {
                let first = n.iter().position(|b| *b != 0).unwrap_or(n.len());
                &n[first..]
            };
            let bits = n_trim.len() * 8 - n_trim.first().map_or(8, |b| b.leading_zeros() as usize);
            if !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits) {
                return Err(format!(
                    "RSA modulus is {bits} bits; {MIN_RSA_BITS} to {MAX_RSA_BITS} are accepted"
                ));
            }
            let e_trim: Vec<u8> = e.iter().copied().skip_while(|b| *b == 0).collect();
            if e_trim.is_empty()
                || e_trim.len() > 8
                || e_trim.last().is_some_and(|b| b & 1 == 0)
                || e_trim == [1]
            {
                return Err(
                    "RSA public exponent must be odd, at least 3 and at most 64 bits".into(),
                );
            }
            if n_trim.last().is_some_and(|b| b & 1 == 0) {
                return Err("RSA modulus is even".into());
            }
            if roca_fingerprint(n_trim) {
                return Err(
                    "RSA modulus has the ROCA fingerprint (CVE-2017-15361); regenerate the key"
                        .into(),
                );
            }
            let thumb = format!(
                r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
                URL_SAFE_NO_PAD.encode(&e_trim),
                URL_SAFE_NO_PAD.encode(n_trim)
            );
            let components = RsaPublicKeyComponents {
                n: n_trim,
                e: &e_trim[..],
            };
            let verifiers = parse_verifiers(KeyFamily::Rsa, alg, |a| {
                rsa_params(a).map(|p| components.to_parsed_public_key(p))
            })?;
            (
                KeyFamily::Rsa,
                DecodingKey::from_rsa_raw_components(n_trim, &e_trim),
                thumb,
                verifiers,
            )
        }
        "EC" => {
            let crv = str_member(m, "crv")?.ok_or("missing crv")?;
            let (family, len) = match crv {
                "P-256" => (KeyFamily::Ec("P-256"), 32),
                "P-384" => (KeyFamily::Ec("P-384"), 48),
                other => return Err(format!("curve {other:?} is not supported (P-256, P-384)")),
            };
            let x = b64_member(m, "x")?;
            let y = b64_member(m, "y")?;
            if x.len() != len || y.len() != len {
                return Err(format!("EC coordinates must be {len} bytes for {crv}"));
            }
            let mut point = Vec::with_capacity(1 + 2 * len);
            point.push(4u8);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            let thumb = format!(
                r#"{{"crv":"{crv}","kty":"EC","x":"{}","y":"{}"}}"#,
                URL_SAFE_NO_PAD.encode(&x),
                URL_SAFE_NO_PAD.encode(&y)
            );
            let verifiers = parse_verifiers(family, alg, |a| {
                ec_params(a).map(|p| ParsedPublicKey::new(p, &point))
            })?;
            (family, DecodingKey::from_ec_der(&point), thumb, verifiers)
        }
        other => return Err(format!("kty {other:?} is not supported (RSA, EC)")),
    };
    let thumbprint = hex::encode(Sha256::digest(thumb_json.as_bytes()));
    Ok(TrustedKey {
        fingerprint: format!("{}:{thumbprint}", kid.as_deref().unwrap_or("-")),
        kid,
        family,
        alg,
        decoding,
        verifiers,
    })
}

/// ROCA (CVE-2017-15361) detection: Infineon keys have `n mod p` in the subgroup generated by
/// 65537 for every small prime p. A random modulus passes all 38 tests with probability ~2^-154.
fn roca_fingerprint(n: &[u8]) -> bool {
    const PRIMES: [u64; 38] = [
        3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89,
        97, 101, 103, 107, 109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167,
    ];
    PRIMES.iter().all(|&p| {
        let r = n
            .iter()
            .fold(0u64, |acc, b| (acc * 256 + u64::from(*b)) % p);
        let g = 65537 % p;
        let mut x = 1u64;
        for _ in 0..p {
            if x == r {
                return true;
            }
            x = x * g % p;
        }
        false
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const N2048: &str = "kqGboBfAWttWPCA-0cGRgsY6SaYoIARt0B_PkaEcIq9HPYNdu9n6UuWHuuTHrjF_ZoQW97r5HaAorNvrMEGTGdxCHZdEtkHvNVVmrtxTBLiQCbCozXhFoIrVcr3qUBrdGnNn_M3jJi7Wg7p_-x62nS5gNG875oyheRkutHsQXikFZwsN3q_TsPNOVlCiHy8mxzaFTUQGm-X8UYexFyAivlDSjgDJLAZSWfxd7k9Gxuwa3AUfQqQcVcegmgKGCaErQ3qQbh1x7WB6iopE3_-GZ8HMAVtR9AmrVscqYsnjhaCehfAI0iKKs8zXr8tISc0ORbaalrkk03H1ZrsEnDKEWQ";

    fn rsa(extra: Value) -> Value {
        let mut v = json!({"kty":"RSA","n":N2048,"e":"AQAB","kid":"a"});
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        v
    }

    #[test]
    fn refusals() {
        assert!(ingest_jwk(&rsa(json!({}))).is_ok());
        assert!(ingest_jwk(&json!({"kty":"oct","k":"AAAA"})).is_err());
        assert!(ingest_jwk(&rsa(json!({"use":"enc"}))).is_err());
        assert!(ingest_jwk(&rsa(json!({"key_ops":["encrypt"]}))).is_err());
        assert!(ingest_jwk(&rsa(json!({"e":"AQ"}))).is_err());
        assert!(ingest_jwk(&rsa(json!({"d":"AQAB"}))).is_err());
        assert!(ingest_jwk(&rsa(json!({"alg":"ES256"}))).is_err());
        assert!(ingest_jwk(&rsa(json!({"alg":"RSA1_5"}))).is_err());
    }

    #[test]
    fn usable_key_sets_and_algorithm_coverage() {
        let only_refused = json!({"keys":[rsa(json!({"use":"enc"}))]}).to_string();
        let err = KeySet::usable_from_jwks(only_refused.as_bytes()).unwrap_err();
        assert!(err.contains("no usable signing key"), "{err}");
        assert!(KeySet::usable_from_jwks(b"not json").is_err());

        let rs256 = json!({"keys":[rsa(json!({"alg":"RS256"}))]}).to_string();
        let set = KeySet::usable_from_jwks(rs256.as_bytes()).unwrap();
        assert!(set.verifies_any_of(&[SigningAlg::ES256, SigningAlg::RS256]));
        assert!(!set.verifies_any_of(&[SigningAlg::ES256, SigningAlg::PS256]));
        assert!(!set.verifies_any_of(&[]));
    }

    #[test]
    fn duplicate_kid_and_kidless_ambiguity() {
        let one = json!({"keys":[rsa(json!({}))]}).to_string();
        let set = KeySet::from_jwks(one.as_bytes()).unwrap();
        assert!(set.select(None, SigningAlg::RS256).is_ok());
        assert_eq!(
            set.select(None, SigningAlg::ES256).unwrap_err(),
            LookupError::NotFound
        );
        let dup = json!({"keys":[rsa(json!({})), rsa(json!({}))]}).to_string();
        let set = KeySet::from_jwks(dup.as_bytes()).unwrap();
        assert_eq!(
            set.select(Some("a"), SigningAlg::RS256).unwrap_err(),
            LookupError::Ambiguous
        );
        let two = json!({"keys":[rsa(json!({})), rsa(json!({"kid":"b"}))]}).to_string();
        let set = KeySet::from_jwks(two.as_bytes()).unwrap();
        assert_eq!(
            set.select(None, SigningAlg::RS256).unwrap_err(),
            LookupError::Ambiguous
        );
        assert!(set.select(Some("b"), SigningAlg::RS256).is_ok());
    }
}
