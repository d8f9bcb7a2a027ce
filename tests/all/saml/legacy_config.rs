//! `[[saml.idps]] legacy_algorithms` at load, through `fedbroker check-config`: an IdP whose
//! metadata pins a 1024-bit RSA key is a configuration error unless it opted in, and an opted-in
//! IdP is named in a warning (a strict IdP never is). The key is generated here (test key only).

use std::path::Path;
use std::process::Output;

/// IdP metadata pinning a fresh self-signed certificate with an RSA key of `bits`.
fn metadata_with_rsa_key(bits: u32) -> String {
    use base64::Engine as _;
    use openssl::{asn1::Asn1Time, bn::BigNum, hash::MessageDigest, pkey::PKey, rsa::Rsa, x509};
    let pkey = PKey::from_rsa(Rsa::generate(bits).unwrap()).unwrap();
    let mut name = x509::X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", "legacy test idp").unwrap();
    let name = name.build();
    let mut b = x509::X509Builder::new().unwrap();
    b.set_version(2).unwrap();
    b.set_serial_number(&BigNum::from_u32(7).unwrap().to_asn1_integer().unwrap())
        .unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(&name).unwrap();
    b.set_pubkey(&pkey).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::days_from_now(30).unwrap())
        .unwrap();
    b.sign(&pkey, MessageDigest::sha256()).unwrap();
    let cert = base64::engine::general_purpose::STANDARD.encode(b.build().to_der().unwrap());
    format!(
        r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="https://old-idp.example.test/metadata"><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor></md:IDPSSODescriptor></md:EntityDescriptor>"#
    )
}

fn check_config(dir: &Path, idps: &str) -> Output {
    let path = dir.join("fedbroker.toml");
    std::fs::write(&path, idps).unwrap();
    std::process::Command::new(env!("CARGO_BIN_EXE_fedbroker"))
        .args(["check-config", "--config"])
        .arg(&path)
        .env_remove("FEDBROKER_SERVER__PUBLIC_URL")
        .output()
        .unwrap()
}

fn idp_entry(name: &str, metadata: &Path, legacy: Option<bool>) -> String {
    let legacy = legacy.map_or(String::new(), |l| format!("legacy_algorithms = {l}\n"));
    format!(
        "[[saml.idps]]\nname = \"{name}\"\nmetadata_file = \"{}\"\n{legacy}",
        metadata.display()
    )
}

#[test]
fn rsa_1024_bit_idp_key_is_a_config_error_unless_the_idp_opted_in_and_then_it_is_warned() {
    let dir = tempfile::tempdir().unwrap();
    let md = dir.path().join("old-idp.xml");
    std::fs::write(&md, metadata_with_rsa_key(1024)).unwrap();

    for legacy in [None, Some(false)] {
        let out = check_config(dir.path(), &idp_entry("old", &md, legacy));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains("\"old\"") && stderr.contains("RSA key of 1024 bits"),
            "{stderr}"
        );
        assert!(stderr.contains("legacy_algorithms = true"), "{stderr}");
        assert!(!stderr.contains("warning:"), "{stderr}");
    }

    let out = check_config(dir.path(), &idp_entry("old", &md, Some(true)));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("warning: saml.idps \"old\": legacy_algorithms = true accepts RSA-SHA1"),
        "{stderr}"
    );
}

#[test]
fn a_strict_idp_beside_an_opted_in_one_is_not_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("old-idp.xml");
    std::fs::write(&old, metadata_with_rsa_key(2048)).unwrap();
    let corp = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/test-idp-metadata.xml");
    let cfg = format!(
        "{}{}",
        idp_entry("old", &old, Some(true)),
        idp_entry("corp", &corp, None)
    );
    let out = check_config(dir.path(), &cfg);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(stderr.matches("warning:").count(), 1, "{stderr}");
    assert!(stderr.contains("saml.idps \"old\""), "{stderr}");
    assert!(!stderr.contains("\"corp\""), "{stderr}");
}
