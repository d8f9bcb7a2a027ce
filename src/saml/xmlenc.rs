//! XML Encryption (decryption only) of one SAML `EncryptedElementType` (`EncryptedAssertion`,
//! `EncryptedID`, `EncryptedAttribute`): `xenc:EncryptedData` (Type Element) whose content key is
//! in an `xenc:EncryptedKey`, either inside `EncryptedData/ds:KeyInfo` or beside the EncryptedData
//! (optionally named by a `ds:RetrievalMethod` with a local `#id` URI).
//!
//! Accepted, and nothing else: key transport RSA-OAEP (`xmlenc#rsa-oaep-mgf1p`, or
//! `xmlenc11#rsa-oaep` with its DigestMethod and MGF) where the OAEP digest and the MGF1 digest are
//! the same SHA (aws-lc-rs offers those pairs; real IdPs send SHA-1/SHA-1); data encryption
//! AES-128/256-GCM, and AES-128/256-CBC only when the caller says the ciphertext may be CBC.
//! RSA PKCS#1 v1.5 (`xmlenc#rsa-1_5`) is always refused.
//!
//! Invariants: nothing is dereferenced (no CipherReference, a RetrievalMethod only to a sibling
//! EncryptedKey by `#id`). Whether CBC is allowed is decided from the algorithm URI before any
//! decryption, so that refusal reveals nothing secret. Every other failure is one opaque
//! [`Failure`] whose reason is for a debug log only; all configured keys are tried against all
//! candidate EncryptedKeys without stopping at the first success, and a failed key unwrap goes on
//! with a random content key, so that wrong key, bad OAEP, bad tag and bad padding take the same
//! path. Plaintext is never longer than the ciphertext.

use super::decryption_key::DecryptionKey;
use super::xml::{self, is, NS_DS};
use aes::cipher::{generic_array::GenericArray, BlockDecrypt, KeyInit};
use aes_gcm::aead::Aead;
use aws_lc_rs::rsa::{
    OaepAlgorithm, OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256, OAEP_SHA384_MGF1SHA384,
    OAEP_SHA512_MGF1SHA512,
};
use roxmltree::Node;
use zeroize::Zeroizing;

/// XML Encryption 1.0 namespace (`xenc:`).
pub const NS_XENC: &str = "http://www.w3.org/2001/04/xmlenc#";
/// XML Encryption 1.1 namespace (`xenc11:`).
pub const NS_XENC11: &str = "http://www.w3.org/2009/xmlenc11#";
/// `EncryptedData Type` for an encrypted element.
pub const TYPE_ELEMENT: &str = "http://www.w3.org/2001/04/xmlenc#Element";
/// `RetrievalMethod Type` for an EncryptedKey.
pub const TYPE_ENCRYPTED_KEY: &str = "http://www.w3.org/2001/04/xmlenc#EncryptedKey";
/// RSA-OAEP with MGF1-SHA1 (XML Encryption 1.0).
pub const ALG_RSA_OAEP_MGF1P: &str = "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p";
/// RSA-OAEP with an explicit MGF (XML Encryption 1.1).
pub const ALG_RSA_OAEP_11: &str = "http://www.w3.org/2009/xmlenc11#rsa-oaep";
/// RSA PKCS#1 v1.5 key transport: refused (Bleichenbacher-type oracles).
pub const ALG_RSA_1_5: &str = "http://www.w3.org/2001/04/xmlenc#rsa-1_5";

/// Most EncryptedKeys tried for one EncryptedData (each costs one RSA decryption per key).
pub const MAX_ENCRYPTED_KEYS: usize = 4;

/// Why decryption did not happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecryptError {
    /// The data is AES-CBC and the caller did not allow CBC (decided before any decryption).
    CbcNotAllowed,
    /// Anything else; the reason is for a debug log only and is never shown to the caller.
    Failure(&'static str),
}

use DecryptError::Failure;

/// The data encryption algorithms accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataAlgorithm {
    Aes128Gcm,
    Aes256Gcm,
    Aes128Cbc,
    Aes256Cbc,
}

impl DataAlgorithm {
    pub fn from_uri(uri: &str) -> Option<Self> {
        Some(match uri {
            "http://www.w3.org/2009/xmlenc11#aes128-gcm" => Self::Aes128Gcm,
            "http://www.w3.org/2009/xmlenc11#aes256-gcm" => Self::Aes256Gcm,
            "http://www.w3.org/2001/04/xmlenc#aes128-cbc" => Self::Aes128Cbc,
            "http://www.w3.org/2001/04/xmlenc#aes256-cbc" => Self::Aes256Cbc,
            _ => return None,
        })
    }

    pub fn is_cbc(self) -> bool {
        matches!(self, Self::Aes128Cbc | Self::Aes256Cbc)
    }

    fn key_len(self) -> usize {
        match self {
            Self::Aes128Gcm | Self::Aes128Cbc => 16,
            Self::Aes256Gcm | Self::Aes256Cbc => 32,
        }
    }
}

/// A decrypted element's text and how it was encrypted.
#[derive(Debug)]
pub struct Plaintext {
    pub text: String,
    pub algorithm: DataAlgorithm,
}

/// Decrypt the one `xenc:EncryptedData` of `encrypted` (an EncryptedElementType) with `keys`.
pub fn decrypt(
    encrypted: Node<'_, '_>,
    keys: &[DecryptionKey],
    cbc_allowed: bool,
) -> Result<Plaintext, DecryptError> {
    let data = one_encrypted_data(encrypted)?;
    if !matches!(data.attribute("Type"), None | Some(TYPE_ELEMENT)) {
        return Err(Failure("EncryptedData Type is not Element"));
    }
    let (method, key_info, cipher_data) = encrypted_data_parts(data)?;
    let algorithm = method
        .attribute("Algorithm")
        .and_then(DataAlgorithm::from_uri)
        .ok_or(Failure("data encryption algorithm not accepted"))?;
    // Decided from the algorithm URI alone, before any RSA or AES operation.
    if algorithm.is_cbc() && !cbc_allowed {
        return Err(DecryptError::CbcNotAllowed);
    }
    let ciphertext = cipher_value(cipher_data)?;
    if let Some(size) = xml::children(method, NS_XENC, "KeySize").next() {
        if xml::strict_text(size, "KeySize")
            .ok()
            .as_deref()
            .map(str::trim)
            != Some(&(algorithm.key_len() * 8).to_string())
        {
            return Err(Failure("KeySize does not match the data algorithm"));
        }
    }
    let candidates = encrypted_keys(encrypted, key_info)?;
    let mut transports = Vec::with_capacity(candidates.len());
    for ek in &candidates {
        transports.push(key_transport(*ek)?);
    }

    // Every key against every candidate, keeping the first content key of the right length.
    let mut content_key: Option<Zeroizing<Vec<u8>>> = None;
    for (oaep, label, wrapped) in &transports {
        for key in keys {
            let unwrapped = key.unwrap_key(oaep, wrapped, label.as_deref());
            if content_key.is_none() {
                content_key = unwrapped.filter(|k| k.len() == algorithm.key_len());
            }
        }
    }
    let unwrapped = content_key.is_some();
    let content_key = content_key.unwrap_or_else(|| random_key(algorithm.key_len()));
    let plaintext = match algorithm {
        DataAlgorithm::Aes128Gcm => gcm::<aes_gcm::Aes128Gcm>(&content_key, &ciphertext),
        DataAlgorithm::Aes256Gcm => gcm::<aes_gcm::Aes256Gcm>(&content_key, &ciphertext),
        DataAlgorithm::Aes128Cbc => cbc::<aes::Aes128>(&content_key, &ciphertext),
        DataAlgorithm::Aes256Cbc => cbc::<aes::Aes256>(&content_key, &ciphertext),
    };
    if !unwrapped {
        return Err(Failure(
            "no configured key unwraps a content key of the right length",
        ));
    }
    let plaintext = plaintext?;
    let text = String::from_utf8(plaintext).map_err(|_| Failure("plaintext is not UTF-8"))?;
    Ok(Plaintext { text, algorithm })
}

/// The data algorithm of `encrypted`'s EncryptedData, if it names an accepted one (no decryption).
pub fn data_algorithm(encrypted: Node<'_, '_>) -> Option<DataAlgorithm> {
    let data = one_encrypted_data(encrypted).ok()?;
    let (method, _, _) = encrypted_data_parts(data).ok()?;
    method
        .attribute("Algorithm")
        .and_then(DataAlgorithm::from_uri)
}

fn one_encrypted_data<'a, 'i>(encrypted: Node<'a, 'i>) -> Result<Node<'a, 'i>, DecryptError> {
    let mut data = None;
    for c in element_children(encrypted)? {
        if is(c, NS_XENC, "EncryptedData") && data.is_none() {
            data = Some(c);
        } else if !is(c, NS_XENC, "EncryptedKey") {
            return Err(Failure(
                "an encrypted element holds one EncryptedData and EncryptedKeys only",
            ));
        }
    }
    data.ok_or(Failure("no EncryptedData"))
}

type Parts<'a, 'i> = (Node<'a, 'i>, Option<Node<'a, 'i>>, Node<'a, 'i>);

/// EncryptionMethod (required), ds:KeyInfo (optional), CipherData (required), in that order;
/// EncryptionProperties may follow.
fn encrypted_data_parts<'a, 'i>(data: Node<'a, 'i>) -> Result<Parts<'a, 'i>, DecryptError> {
    let kids = element_children(data)?;
    let mut it = kids.iter().copied().peekable();
    let method = it
        .next()
        .filter(|n| is(*n, NS_XENC, "EncryptionMethod"))
        .ok_or(Failure("EncryptedData must start with EncryptionMethod"))?;
    let key_info = it.next_if(|n| is(*n, NS_DS, "KeyInfo"));
    let cipher_data = it
        .next()
        .filter(|n| is(*n, NS_XENC, "CipherData"))
        .ok_or(Failure("EncryptedData has no CipherData"))?;
    if it.any(|n| !is(n, NS_XENC, "EncryptionProperties")) {
        return Err(Failure("unexpected element in EncryptedData"));
    }
    // A KeySize, if given, must agree with the algorithm (checked in `decrypt`).
    for c in element_children(method)? {
        if !is(c, NS_XENC, "KeySize") {
            return Err(Failure("unexpected element in the data EncryptionMethod"));
        }
    }
    Ok((method, key_info, cipher_data))
}

/// The EncryptedKeys to try: those inside KeyInfo, those a RetrievalMethod names by `#id` among
/// the encrypted element's children, or else every EncryptedKey child of the encrypted element.
fn encrypted_keys<'a, 'i>(
    encrypted: Node<'a, 'i>,
    key_info: Option<Node<'a, 'i>>,
) -> Result<Vec<Node<'a, 'i>>, DecryptError> {
    let siblings: Vec<Node<'a, 'i>> = xml::children(encrypted, NS_XENC, "EncryptedKey").collect();
    let mut out = Vec::new();
    let mut referenced = false;
    if let Some(ki) = key_info {
        for c in element_children(ki)? {
            if is(c, NS_XENC, "EncryptedKey") {
                out.push(c);
            } else if is(c, NS_DS, "RetrievalMethod") {
                referenced = true;
                if !matches!(c.attribute("Type"), None | Some(TYPE_ENCRYPTED_KEY))
                    || !element_children(c)?.is_empty()
                {
                    return Err(Failure(
                        "RetrievalMethod must name an EncryptedKey, without Transforms",
                    ));
                }
                let id = c
                    .attribute("URI")
                    .and_then(|u| u.strip_prefix('#'))
                    .filter(|id| !id.is_empty())
                    .ok_or(Failure("RetrievalMethod URI is not a local #id"))?;
                let target = siblings
                    .iter()
                    .find(|ek| ek.attribute("Id") == Some(id))
                    .ok_or(Failure("RetrievalMethod names no sibling EncryptedKey"))?;
                out.push(*target);
            }
            // KeyName, X509Data, ...: identify the recipient's key; every key is tried anyway.
        }
    }
    if out.is_empty() && !referenced {
        out = siblings;
    }
    match out.len() {
        0 => Err(Failure("no EncryptedKey")),
        n if n > MAX_ENCRYPTED_KEYS => Err(Failure("too many EncryptedKeys")),
        _ => Ok(out),
    }
}

type Transport = (&'static OaepAlgorithm, Option<Vec<u8>>, Vec<u8>);

/// The OAEP parameters, label and wrapped key of one EncryptedKey.
fn key_transport(ek: Node<'_, '_>) -> Result<Transport, DecryptError> {
    let kids = element_children(ek)?;
    let method = kids
        .iter()
        .copied()
        .find(|n| is(*n, NS_XENC, "EncryptionMethod"))
        .ok_or(Failure("EncryptedKey has no EncryptionMethod"))?;
    let cipher_data = kids
        .iter()
        .copied()
        .find(|n| is(*n, NS_XENC, "CipherData"))
        .ok_or(Failure("EncryptedKey has no CipherData"))?;
    let alg = method.attribute("Algorithm").unwrap_or_default();
    let (mut digest, mut mgf) = ("sha1", "sha1");
    let mut label = None;
    match alg {
        ALG_RSA_1_5 => return Err(Failure("RSA PKCS#1 v1.5 key transport is refused")),
        ALG_RSA_OAEP_MGF1P | ALG_RSA_OAEP_11 => {}
        _ => return Err(Failure("key transport algorithm not accepted")),
    }
    for p in element_children(method)? {
        if is(p, NS_DS, "DigestMethod") {
            digest = match p.attribute("Algorithm").unwrap_or_default() {
                "http://www.w3.org/2000/09/xmldsig#sha1" => "sha1",
                "http://www.w3.org/2001/04/xmlenc#sha256" => "sha256",
                "http://www.w3.org/2001/04/xmldsig-more#sha384" => "sha384",
                "http://www.w3.org/2001/04/xmlenc#sha512" => "sha512",
                _ => return Err(Failure("OAEP DigestMethod not accepted")),
            };
        } else if is(p, NS_XENC11, "MGF") && alg == ALG_RSA_OAEP_11 {
            mgf = match p.attribute("Algorithm").unwrap_or_default() {
                "http://www.w3.org/2009/xmlenc11#mgf1sha1" => "sha1",
                "http://www.w3.org/2009/xmlenc11#mgf1sha256" => "sha256",
                "http://www.w3.org/2009/xmlenc11#mgf1sha384" => "sha384",
                "http://www.w3.org/2009/xmlenc11#mgf1sha512" => "sha512",
                _ => return Err(Failure("OAEP MGF not accepted")),
            };
        } else if is(p, NS_XENC, "OAEPparams") {
            label = Some(base64_text(p)?);
        } else {
            return Err(Failure("unexpected element in the key EncryptionMethod"));
        }
    }
    let oaep = match (digest, mgf) {
        ("sha1", "sha1") => &OAEP_SHA1_MGF1SHA1,
        ("sha256", "sha256") => &OAEP_SHA256_MGF1SHA256,
        ("sha384", "sha384") => &OAEP_SHA384_MGF1SHA384,
        ("sha512", "sha512") => &OAEP_SHA512_MGF1SHA512,
        _ => return Err(Failure("OAEP digest and MGF1 digest differ (unsupported)")),
    };
    Ok((oaep, label, cipher_value(cipher_data)?))
}

/// The base64 CipherValue of a CipherData (a CipherReference is never followed).
fn cipher_value(cipher_data: Node<'_, '_>) -> Result<Vec<u8>, DecryptError> {
    match element_children(cipher_data)?.as_slice() {
        [v] if is(*v, NS_XENC, "CipherValue") => base64_text(*v),
        _ => Err(Failure("CipherData must hold one CipherValue")),
    }
}

fn base64_text(node: Node<'_, '_>) -> Result<Vec<u8>, DecryptError> {
    let text = xml::strict_text(node, "CipherValue").map_err(|_| Failure("not plain text"))?;
    xml::decode_base64_text(&text).ok_or(Failure("not valid base64"))
}

/// Element children; whitespace text is allowed, other text, comments and PIs are not.
fn element_children<'a, 'i>(node: Node<'a, 'i>) -> Result<Vec<Node<'a, 'i>>, DecryptError> {
    xml::signature_children(node).map_err(|_| Failure("unexpected text or comment"))
}

fn random_key(len: usize) -> Zeroizing<Vec<u8>> {
    let mut k = Zeroizing::new(vec![0u8; len]);
    // A failure leaves zeros: the decryption that follows fails the same way.
    let _ = aws_lc_rs::rand::fill(&mut k);
    k
}

/// AES-GCM: 12-byte IV, ciphertext, 16-byte tag.
fn gcm<C: KeyInit + Aead>(key: &[u8], data: &[u8]) -> Result<Vec<u8>, DecryptError> {
    if data.len() < 12 + 16 {
        return Err(Failure("GCM ciphertext too short"));
    }
    let cipher = C::new_from_slice(key).map_err(|_| Failure("content key length"))?;
    let (iv, body) = data.split_at(12);
    cipher
        .decrypt(GenericArray::from_slice(iv), body)
        .map_err(|_| Failure("GCM authentication failed"))
}

/// AES-CBC: 16-byte IV, then whole blocks; XML Encryption padding (the last byte is the pad
/// length, 1 to 16; the other pad bytes are arbitrary, unlike PKCS#7).
fn cbc<C: KeyInit + BlockDecrypt>(key: &[u8], data: &[u8]) -> Result<Vec<u8>, DecryptError> {
    if data.len() < 32 || data.len() % 16 != 0 {
        return Err(Failure("CBC ciphertext is not IV plus whole blocks"));
    }
    let cipher = C::new_from_slice(key).map_err(|_| Failure("content key length"))?;
    let (iv, body) = data.split_at(16);
    let mut out = Vec::with_capacity(body.len());
    let mut prev = iv;
    for chunk in body.chunks_exact(16) {
        let mut block = GenericArray::clone_from_slice(chunk);
        cipher.decrypt_block(&mut block);
        out.extend(block.iter().zip(prev).map(|(b, p)| b ^ p));
        prev = chunk;
    }
    let pad = usize::from(out[out.len() - 1]);
    if !(1..=16).contains(&pad) {
        return Err(Failure("bad CBC padding"));
    }
    out.truncate(out.len() - pad);
    Ok(out)
}

#[cfg(test)]
#[path = "xmlenc_tests.rs"]
mod tests;
