//! `xmlenc::decrypt` against EncryptedData built here with aws-lc-rs and the aes crates (full
//! control over padding, key lengths and placement); xmlsec1-made inputs are in
//! `tests/all/saml/encrypted.rs`.

use super::*;
use aes::cipher::BlockEncrypt;
use aws_lc_rs::rsa::{OaepPublicEncryptingKey, Pkcs1PublicEncryptingKey, PublicEncryptingKey};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;

const ASSERTION: &str =
    "<saml:Assertion xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" ID=\"_a\"/>";
pub const GCM128: &str = "http://www.w3.org/2009/xmlenc11#aes128-gcm";
pub const GCM256: &str = "http://www.w3.org/2009/xmlenc11#aes256-gcm";
pub const CBC128: &str = "http://www.w3.org/2001/04/xmlenc#aes128-cbc";
pub const CBC256: &str = "http://www.w3.org/2001/04/xmlenc#aes256-cbc";
const SHA1: &str = "http://www.w3.org/2000/09/xmldsig#sha1";
const SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";

fn cert(name: &str) -> String {
    format!("{}/certs/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn our_key() -> DecryptionKey {
    DecryptionKey::from_file(&cert("test-sp-enc.key")).unwrap()
}

fn spki(cert_file: &str) -> Vec<u8> {
    let der = std::fs::read(cert(cert_file)).unwrap();
    let (_, c) = x509_parser::parse_x509_certificate(&der).unwrap();
    c.public_key().raw.to_vec()
}

/// How the test encryptor works; each field is one thing an attacker or a sloppy IdP can vary.
#[derive(Clone)]
pub struct Enc {
    pub data_alg: &'static str,
    pub content_key_len: usize,
    pub key_transport: &'static str,
    /// DigestMethod inside the key EncryptionMethod (None: omitted).
    pub digest: Option<&'static str>,
    /// xenc11:MGF (None: omitted).
    pub mgf: Option<&'static str>,
    /// Encrypt to this certificate's key.
    pub to_cert: &'static str,
    /// `Inside` KeyInfo, `Sibling` with a RetrievalMethod to this URI, or a bare sibling.
    pub placement: Placement,
    /// CBC: the padding bytes appended (None: a valid XML Encryption padding).
    pub cbc_padding: Option<Vec<u8>>,
}

#[derive(Clone)]
pub enum Placement {
    Inside,
    Retrieval(&'static str),
    BareSibling,
}

impl Default for Enc {
    fn default() -> Self {
        Enc {
            data_alg: GCM128,
            content_key_len: 16,
            key_transport: ALG_RSA_OAEP_MGF1P,
            digest: Some(SHA1),
            mgf: None,
            to_cert: "test-sp-enc.crt.der",
            placement: Placement::Inside,
            cbc_padding: None,
        }
    }
}

fn cbc_encrypt<C: KeyInit + BlockEncrypt>(key: &[u8], iv: &[u8; 16], data: &[u8]) -> Vec<u8> {
    assert_eq!(data.len() % 16, 0);
    let c = C::new_from_slice(key).unwrap();
    let mut out = iv.to_vec();
    let mut prev = *iv;
    for chunk in data.chunks(16) {
        let mut block = GenericArray::clone_from_slice(
            &chunk
                .iter()
                .zip(prev)
                .map(|(a, b)| a ^ b)
                .collect::<Vec<u8>>(),
        );
        c.encrypt_block(&mut block);
        prev.copy_from_slice(&block);
        out.extend_from_slice(&block);
    }
    out
}

/// An `EncryptedAssertion` (with `xenc` and `ds` declared on it) around `plaintext`.
pub fn encrypt(plaintext: &[u8], e: &Enc) -> String {
    let mut key = vec![0u8; e.content_key_len];
    aws_lc_rs::rand::fill(&mut key).unwrap();
    let iv = [7u8; 16];
    let data = match e.data_alg {
        GCM128 | GCM256 => {
            let body = if e.content_key_len == 16 {
                aes_gcm::Aes128Gcm::new_from_slice(&key)
                    .unwrap()
                    .encrypt(GenericArray::from_slice(&iv[..12]), plaintext)
            } else {
                aes_gcm::Aes256Gcm::new_from_slice(&key)
                    .unwrap()
                    .encrypt(GenericArray::from_slice(&iv[..12]), plaintext)
            }
            .unwrap();
            [&iv[..12], &body].concat()
        }
        _ => {
            let mut padded = plaintext.to_vec();
            match &e.cbc_padding {
                Some(p) => padded.extend_from_slice(p),
                None => {
                    let n = 16 - plaintext.len() % 16;
                    padded.extend(std::iter::repeat_n(0xAAu8, n - 1));
                    padded.push(n as u8);
                }
            }
            if e.content_key_len == 16 {
                cbc_encrypt::<aes::Aes128>(&key, &iv, &padded)
            } else {
                cbc_encrypt::<aes::Aes256>(&key, &iv, &padded)
            }
        }
    };
    let public = PublicEncryptingKey::from_der(&spki(e.to_cert)).unwrap();
    let mut wrapped = vec![0u8; public.key_size_bytes()];
    let wrapped = if e.key_transport == ALG_RSA_1_5 {
        let k = Pkcs1PublicEncryptingKey::new(public).unwrap();
        k.encrypt(&key, &mut wrapped).unwrap().to_vec()
    } else {
        let oaep = match (e.digest, e.mgf) {
            (Some(SHA256), Some(_)) => &OAEP_SHA256_MGF1SHA256,
            _ => &OAEP_SHA1_MGF1SHA1,
        };
        let k = OaepPublicEncryptingKey::new(public).unwrap();
        k.encrypt(oaep, &key, &mut wrapped, None).unwrap().to_vec()
    };
    let digest = e
        .digest
        .map(|d| format!("<ds:DigestMethod Algorithm=\"{d}\"/>"))
        .unwrap_or_default();
    let mgf = e
        .mgf
        .map(|m| format!("<xenc11:MGF xmlns:xenc11=\"{NS_XENC11}\" Algorithm=\"{m}\"/>"))
        .unwrap_or_default();
    let ek = |id: &str| {
        format!(
            "<xenc:EncryptedKey{id}><xenc:EncryptionMethod Algorithm=\"{}\">{digest}{mgf}</xenc:EncryptionMethod>\
             <xenc:CipherData><xenc:CipherValue>{}</xenc:CipherValue></xenc:CipherData></xenc:EncryptedKey>",
            e.key_transport,
            B64.encode(&wrapped)
        )
    };
    let (key_info, sibling) = match e.placement {
        Placement::Inside => (format!("<ds:KeyInfo>{}</ds:KeyInfo>", ek("")), String::new()),
        Placement::Retrieval(uri) => (
            format!("<ds:KeyInfo><ds:RetrievalMethod Type=\"{TYPE_ENCRYPTED_KEY}\" URI=\"{uri}\"/></ds:KeyInfo>"),
            ek(" Id=\"_ek1\""),
        ),
        Placement::BareSibling => (String::new(), ek(" Id=\"_ek1\"")),
    };
    format!(
        "<saml:EncryptedAssertion xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" \
         xmlns:xenc=\"{NS_XENC}\" xmlns:ds=\"{NS_DS}\">\
         <xenc:EncryptedData Type=\"{TYPE_ELEMENT}\"><xenc:EncryptionMethod Algorithm=\"{}\"/>{key_info}\
         <xenc:CipherData><xenc:CipherValue>{}</xenc:CipherValue></xenc:CipherData></xenc:EncryptedData>{sibling}\
         </saml:EncryptedAssertion>",
        e.data_alg,
        B64.encode(&data)
    )
}

fn run(xml: &str, cbc_allowed: bool) -> Result<Plaintext, DecryptError> {
    let doc = roxmltree::Document::parse(xml).unwrap();
    decrypt(doc.root_element(), &[our_key()], cbc_allowed)
}

#[track_caller]
fn assert_plaintext(xml: &str, cbc_allowed: bool) {
    let p = run(xml, cbc_allowed).unwrap_or_else(|e| panic!("{e:?}\n{xml}"));
    assert_eq!(p.text, ASSERTION);
}

#[track_caller]
fn assert_failure(xml: &str, cbc_allowed: bool) {
    match run(xml, cbc_allowed) {
        Err(Failure(_)) => {}
        other => panic!("expected the uniform failure, got {other:?}"),
    }
}

#[test]
fn gcm_and_allowed_cbc_decrypt_with_every_key_placement() {
    for (alg, len) in [(GCM128, 16), (GCM256, 32), (CBC128, 16), (CBC256, 32)] {
        for placement in [
            Placement::Inside,
            Placement::Retrieval("#_ek1"),
            Placement::BareSibling,
        ] {
            let e = Enc {
                data_alg: alg,
                content_key_len: len,
                placement,
                ..Enc::default()
            };
            assert_plaintext(&encrypt(ASSERTION.as_bytes(), &e), true);
        }
    }
}

#[test]
fn oaep_defaults_and_xmlenc11_sha256_pair_are_accepted() {
    let no_digest = Enc {
        digest: None,
        ..Enc::default()
    };
    assert_plaintext(&encrypt(ASSERTION.as_bytes(), &no_digest), false);
    let xenc11 = Enc {
        key_transport: ALG_RSA_OAEP_11,
        digest: Some(SHA256),
        mgf: Some("http://www.w3.org/2009/xmlenc11#mgf1sha256"),
        ..Enc::default()
    };
    assert_plaintext(&encrypt(ASSERTION.as_bytes(), &xenc11), false);
}

#[test]
fn cbc_without_permission_is_refused_before_any_decryption() {
    let e = Enc {
        data_alg: CBC128,
        // Even a key that nothing can unwrap gets the CBC answer: no RSA work happened.
        to_cert: "attacker.crt.der",
        ..Enc::default()
    };
    assert_eq!(
        run(&encrypt(ASSERTION.as_bytes(), &e), false).unwrap_err(),
        DecryptError::CbcNotAllowed
    );
}

#[test]
fn rsa_1_5_key_transport_is_refused() {
    let e = Enc {
        key_transport: ALG_RSA_1_5,
        digest: None,
        ..Enc::default()
    };
    assert_failure(&encrypt(ASSERTION.as_bytes(), &e), true);
}

#[test]
fn content_key_encrypted_to_another_key_is_refused() {
    let e = Enc {
        to_cert: "attacker.crt.der",
        ..Enc::default()
    };
    assert_failure(&encrypt(ASSERTION.as_bytes(), &e), true);
}

#[test]
fn key_length_that_does_not_match_the_algorithm_is_refused() {
    // Encrypted correctly with one key size, then labelled with the other size's algorithm.
    for (alg, len, label) in [
        (GCM128, 16, GCM256),
        (GCM256, 32, GCM128),
        (CBC128, 16, CBC256),
        (CBC256, 32, CBC128),
    ] {
        let e = Enc {
            data_alg: alg,
            content_key_len: len,
            ..Enc::default()
        };
        assert_failure(&encrypt(ASSERTION.as_bytes(), &e).replace(alg, label), true);
    }
}

#[test]
fn tampered_gcm_ciphertext_is_refused() {
    let xml = encrypt(ASSERTION.as_bytes(), &Enc::default());
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let value = doc
        .descendants()
        .rfind(|n| is(*n, NS_XENC, "CipherValue"))
        .unwrap()
        .text()
        .unwrap()
        .to_owned();
    let mut bytes = B64.decode(&value).unwrap();
    bytes[20] ^= 1;
    assert_failure(&xml.replace(&value, &B64.encode(&bytes)), true);
}

#[test]
fn cbc_padding_oracle_probe_every_bad_padding_is_the_same_failure() {
    // Valid XML Encryption padding: arbitrary pad bytes, last byte = length (not PKCS#7).
    let ok = Enc {
        data_alg: CBC128,
        cbc_padding: Some(vec![0x13, 0x37, 0x00, 4]),
        ..Enc::default()
    };
    let text = &ASSERTION.as_bytes()[..ASSERTION.len() - (ASSERTION.len() + 4) % 16];
    let plain = run(&encrypt(text, &ok), true).unwrap();
    assert_eq!(plain.text.as_bytes(), text);
    // Bad: pad length 0, 17, 255 (and a full block of 0x00).
    let mut reasons = Vec::new();
    for last in [0u8, 17, 255] {
        let n = 16 - text.len() % 16;
        let mut pad = vec![0u8; n - 1];
        pad.push(last);
        let e = Enc {
            cbc_padding: Some(pad),
            ..ok.clone()
        };
        match run(&encrypt(text, &e), true) {
            Err(Failure(r)) => reasons.push(r),
            other => panic!("pad byte {last}: {other:?}"),
        }
    }
    assert!(reasons.iter().all(|r| *r == reasons[0]), "{reasons:?}");
}

#[test]
fn retrieval_method_to_a_non_local_uri_is_refused_without_fetching() {
    for uri in [
        "http://127.0.0.1:9/ek.xml",
        "ek.xml",
        "#",
        "#_other",
        "file:///etc/passwd",
    ] {
        let e = Enc {
            placement: Placement::Retrieval(uri),
            ..Enc::default()
        };
        assert_failure(&encrypt(ASSERTION.as_bytes(), &e), true);
    }
}

#[test]
fn unsupported_oaep_mix_cipher_reference_and_unknown_algorithms_are_refused() {
    let mixed = Enc {
        digest: Some(SHA256),
        ..Enc::default()
    };
    assert_failure(&encrypt(ASSERTION.as_bytes(), &mixed), true);
    let xml = encrypt(ASSERTION.as_bytes(), &Enc::default());
    let unknown_data = xml.replace(GCM128, "http://www.w3.org/2009/xmlenc11#aes192-gcm");
    assert_failure(&unknown_data, true);
    let reference = xml.replacen(
        "<xenc:CipherData><xenc:CipherValue>",
        "<xenc:CipherData><xenc:CipherReference URI=\"http://127.0.0.1:9/\"/><xenc:CipherValue>",
        2,
    );
    assert_failure(&reference, true);
    let content_type = xml.replace(TYPE_ELEMENT, "http://www.w3.org/2001/04/xmlenc#Content");
    assert_failure(&content_type, true);
}
