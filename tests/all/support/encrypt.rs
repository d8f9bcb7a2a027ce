//! Test IdP encryption: XML Encryption of a Response's Assertion (or of a NameID or Attribute)
//! with the `xmlsec1` CLI, an implementation independent of the broker's decryptor, to the
//! broker's test decryption certificate `certs/test-sp-enc.crt`.
//!
//! Invariant: the input is our test IdP's output (`saml_idp`), which always writes the `saml:`
//! prefix; the element is replaced in place by `saml:Encrypted*` holding xmlsec1's EncryptedData,
//! so a signature made before (Assertion signed, then encrypted) stays valid inside it, and one
//! made after (encrypt, then sign the Response) covers the ciphertext.
#![allow(dead_code)]

use super::saml_idp::{certs_dir, strip_xml_declaration};

pub const GCM128: &str = "http://www.w3.org/2009/xmlenc11#aes128-gcm";
pub const GCM256: &str = "http://www.w3.org/2009/xmlenc11#aes256-gcm";
pub const CBC128: &str = "http://www.w3.org/2001/04/xmlenc#aes128-cbc";
pub const CBC256: &str = "http://www.w3.org/2001/04/xmlenc#aes256-cbc";
pub const OAEP_MGF1P: &str = "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p";
pub const RSA_1_5: &str = "http://www.w3.org/2001/04/xmlenc#rsa-1_5";
const NS_XENC: &str = "http://www.w3.org/2001/04/xmlenc#";
const NS_DS: &str = "http://www.w3.org/2000/09/xmldsig#";

/// Where the EncryptedKey goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyPlacement {
    /// Inside `EncryptedData/ds:KeyInfo` (xmlsec, samlify, AD FS).
    InKeyInfo,
    /// Beside the EncryptedData, named by a `ds:RetrievalMethod URI="#_ek-..."` (OpenSAML,
    /// Shibboleth).
    Sibling,
}

#[derive(Clone, Debug)]
pub struct EncSpec {
    pub data_alg: &'static str,
    pub key_transport: &'static str,
    pub placement: KeyPlacement,
    /// Certificate file in `certs/` the content key is encrypted to.
    pub cert: &'static str,
}

impl EncSpec {
    pub fn new(data_alg: &'static str, placement: KeyPlacement) -> Self {
        EncSpec {
            data_alg,
            key_transport: OAEP_MGF1P,
            placement,
            cert: "test-sp-enc.crt",
        }
    }

    fn session_key(&self) -> &'static str {
        if self.data_alg.contains("256") {
            "aes-256"
        } else {
            "aes-128"
        }
    }

    fn template(&self) -> String {
        let digest = if self.key_transport == OAEP_MGF1P {
            format!("<ds:DigestMethod xmlns:ds=\"{NS_DS}\" Algorithm=\"http://www.w3.org/2000/09/xmldsig#sha1\"/>")
        } else {
            String::new()
        };
        format!(
            "<xenc:EncryptedData xmlns:xenc=\"{NS_XENC}\" Type=\"{NS_XENC}Element\">\
             <xenc:EncryptionMethod Algorithm=\"{data}\"/><ds:KeyInfo xmlns:ds=\"{NS_DS}\">\
             <xenc:EncryptedKey xmlns:xenc=\"{NS_XENC}\"><xenc:EncryptionMethod Algorithm=\"{kt}\">{digest}</xenc:EncryptionMethod>\
             <xenc:CipherData><xenc:CipherValue/></xenc:CipherData></xenc:EncryptedKey></ds:KeyInfo>\
             <xenc:CipherData><xenc:CipherValue/></xenc:CipherData></xenc:EncryptedData>",
            data = self.data_alg,
            kt = self.key_transport,
        )
    }
}

/// Replace the first `saml:{local}` element of `xml` by `saml:Encrypted{wrapper}` holding its
/// encryption (e.g. `("Assertion", "EncryptedAssertion")`, `("NameID", "EncryptedID")`).
pub fn encrypt_element(xml: &str, local: &str, wrapper: &str, spec: &EncSpec) -> String {
    let open = format!("<saml:{local}");
    let close = format!("</saml:{local}>");
    let start = xml
        .match_indices(&open)
        .map(|(i, _)| i)
        .find(|i| matches!(xml.as_bytes().get(i + open.len()), Some(b' ' | b'>')))
        .unwrap_or_else(|| panic!("no {open} in {xml}"));
    let end = xml[start..].find(&close).expect("closing tag") + start + close.len();
    let wrapped = format!(
        "{}<saml:{wrapper}>{}</saml:{wrapper}>{}",
        &xml[..start],
        &xml[start..end],
        &xml[end..]
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let (data, tmpl, out) = (
        dir.path().join("data.xml"),
        dir.path().join("tmpl.xml"),
        dir.path().join("out.xml"),
    );
    std::fs::write(&data, &wrapped).unwrap();
    std::fs::write(&tmpl, spec.template()).unwrap();
    let result = std::process::Command::new("xmlsec1")
        .arg("--encrypt")
        .arg("--pubkey-cert-pem")
        .arg(certs_dir().join(spec.cert))
        .arg("--session-key")
        .arg(spec.session_key())
        .arg("--xml-data")
        .arg(&data)
        .arg("--node-name")
        .arg(format!("urn:oasis:names:tc:SAML:2.0:assertion:{local}"))
        .arg("--output")
        .arg(&out)
        .arg(&tmpl)
        .output()
        .expect("run xmlsec1");
    assert!(
        result.status.success(),
        "xmlsec1 --encrypt: {}",
        String::from_utf8_lossy(&result.stderr)
    );
    let encrypted = strip_xml_declaration(&std::fs::read_to_string(out).unwrap());
    match spec.placement {
        KeyPlacement::InKeyInfo => encrypted,
        KeyPlacement::Sibling => move_key_beside(&encrypted, wrapper),
    }
}

/// The Response with its Assertion encrypted.
pub fn encrypt_assertion(xml: &str, spec: &EncSpec) -> String {
    encrypt_element(xml, "Assertion", "EncryptedAssertion", spec)
}

/// Move the EncryptedKey out of KeyInfo to follow the EncryptedData, named by a RetrievalMethod.
fn move_key_beside(xml: &str, wrapper: &str) -> String {
    let start = xml.find("<xenc:EncryptedKey").expect("EncryptedKey");
    let close = "</xenc:EncryptedKey>";
    let end = xml.find(close).expect("EncryptedKey end") + close.len();
    let key = xml[start..end].replacen("<xenc:EncryptedKey", "<xenc:EncryptedKey Id=\"_ek-1\"", 1);
    let without = format!(
        "{}<ds:RetrievalMethod Type=\"{NS_XENC}EncryptedKey\" URI=\"#_ek-1\"/>{}",
        &xml[..start],
        &xml[end..]
    );
    let end_wrapper = format!("</saml:{wrapper}>");
    without.replacen(&end_wrapper, &format!("{key}{end_wrapper}"), 1)
}

/// Encrypt raw `plaintext` as an element (Type Element) with AES-128-GCM to the test key, inside
/// `saml:EncryptedAssertion`: for hostile plaintexts no IdP would produce.
pub fn encrypted_assertion_of(plaintext: &str) -> String {
    let spec = EncSpec::new(GCM128, KeyPlacement::InKeyInfo);
    let dir = tempfile::tempdir().expect("tempdir");
    let (data, tmpl, out) = (
        dir.path().join("data.bin"),
        dir.path().join("tmpl.xml"),
        dir.path().join("out.xml"),
    );
    std::fs::write(&data, plaintext).unwrap();
    std::fs::write(&tmpl, spec.template()).unwrap();
    let result = std::process::Command::new("xmlsec1")
        .arg("--encrypt")
        .arg("--pubkey-cert-pem")
        .arg(certs_dir().join(spec.cert))
        .arg("--session-key")
        .arg("aes-128")
        .arg("--binary-data")
        .arg(&data)
        .arg("--output")
        .arg(&out)
        .arg(&tmpl)
        .output()
        .expect("run xmlsec1");
    assert!(
        result.status.success(),
        "xmlsec1 --encrypt --binary-data: {}",
        String::from_utf8_lossy(&result.stderr)
    );
    let data = strip_xml_declaration(&std::fs::read_to_string(out).unwrap());
    format!("<saml:EncryptedAssertion>{data}</saml:EncryptedAssertion>")
}

/// The bytes of the (last) `xenc:CipherValue`, i.e. the data ciphertext, and its text.
pub fn data_cipher_value(xml: &str) -> (Vec<u8>, String) {
    use base64::Engine as _;
    let doc = roxmltree::Document::parse(xml).expect("parses");
    let text = doc
        .descendants()
        .rfind(|n| {
            n.tag_name().name() == "CipherValue"
                && n.ancestors()
                    .nth(2)
                    .is_some_and(|d| d.tag_name().name() == "EncryptedData")
        })
        .and_then(|n| n.text())
        .expect("data CipherValue")
        .to_owned();
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(compact)
        .expect("base64");
    (bytes, text)
}

/// `xml` with the data CipherValue replaced by `bytes`.
pub fn with_data_cipher_value(xml: &str, bytes: &[u8]) -> String {
    use base64::Engine as _;
    let (_, text) = data_cipher_value(xml);
    xml.replacen(
        &text,
        &base64::engine::general_purpose::STANDARD.encode(bytes),
        1,
    )
}

/// The Response with its Assertion encrypted by samlify (`SamlLib.encryptAssertion`, using
/// @authenio/xml-encryption; RSA-OAEP-MGF1P) to `certs/test-sp-enc.crt`: a second, outside
/// implementation (`tests/all/support/samlify-encrypt.mjs`, node and `node_modules` required).
pub fn samlify_encrypt_assertion(xml: &str, data_alg: &str) -> String {
    use std::io::Write as _;
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/all/support/samlify-encrypt.mjs");
    let mut child = std::process::Command::new("node")
        .arg(script)
        .arg(certs_dir().join("test-sp-enc.crt"))
        .arg(data_alg)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run node (samlify)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(strip_xml_declaration(xml).as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "samlify encryptAssertion: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}
