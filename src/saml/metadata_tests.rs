//! Metadata parsing tests: signing keys pinned, encryption-only metadata refused (docs/SECURITY.md R1).

use super::*;
use crate::saml::test_support::key;

fn b64(der: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(der)
}

fn metadata(key_descriptors: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="https://idp.example.test/metadata">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    {key_descriptors}
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://idp.example.test/sso"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>"#
    )
}

fn kd(usage: Option<&str>, der: &[u8]) -> String {
    let u = usage.map(|u| format!(" use=\"{u}\"")).unwrap_or_default();
    format!(
        "<md:KeyDescriptor{u}><ds:KeyInfo><ds:X509Data><ds:X509Certificate>\n{}\n</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>",
        b64(der)
    )
}

fn parse(xml: &str) -> Result<TrustedIdp, SamlConfigError> {
    TrustedIdp::from_metadata_xml(
        "corp",
        xml,
        vec!["urn:amazon:webservices".into()],
        vec!["https://signin.aws.amazon.com/saml".into()],
    )
}

#[test]
fn pins_signing_and_unspecified_use_keys_only() {
    let (c0, c1) = (&key(0).1, &key(1).1);
    let xml = metadata(&format!(
        "{}{}{}",
        kd(Some("signing"), c0),
        kd(None, c1),
        kd(Some("encryption"), c1)
    ));
    let idp = parse(&xml).unwrap();
    assert_eq!(idp.entity_id, "https://idp.example.test/metadata");
    assert_eq!(idp.signing_certs.len(), 2);
    assert_eq!(idp.signing_certs[0].der_data(), c0.as_slice());
}

#[test]
fn rejects_fail_open_metadata_with_only_encryption_key() {
    let err = parse(&metadata(&kd(Some("encryption"), &key(0).1))).unwrap_err();
    assert!(matches!(err, SamlConfigError::NoSigningCertificate { .. }));
    assert!(err.to_string().contains("refuses to trust it"));
}

#[test]
fn rejects_fail_open_metadata_without_key_descriptor() {
    let err = parse(&metadata("")).unwrap_err();
    assert!(matches!(err, SamlConfigError::NoSigningCertificate { .. }));
}

#[test]
fn rejects_non_certificate_and_weak_rsa_key() {
    let err = parse(&metadata(&kd(Some("signing"), b"not a certificate"))).unwrap_err();
    assert!(
        matches!(err, SamlConfigError::BadCertificate { .. }),
        "{err}"
    );
    let weak = {
        use openssl::{asn1::Asn1Time, hash::MessageDigest, pkey::PKey, rsa::Rsa, x509};
        let pkey = PKey::from_rsa(Rsa::generate(1024).unwrap()).unwrap();
        let mut b = x509::X509Builder::new().unwrap();
        b.set_pubkey(&pkey).unwrap();
        b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
            .unwrap();
        b.set_not_after(&Asn1Time::days_from_now(1).unwrap())
            .unwrap();
        b.sign(&pkey, MessageDigest::sha256()).unwrap();
        b.build().to_der().unwrap()
    };
    let err = parse(&metadata(&kd(Some("signing"), &weak))).unwrap_err();
    assert!(err.to_string().contains("1024 bits"), "{err}");
}

#[test]
fn rejects_metadata_with_bom_or_doctype() {
    let xml = metadata(&kd(Some("signing"), &key(0).1));
    assert!(matches!(
        parse(&format!("\u{feff}{xml}")),
        Err(SamlConfigError::MetadataBom { .. })
    ));
    let dtd = xml.replacen(
        "<md:EntityDescriptor",
        "<!DOCTYPE x><md:EntityDescriptor",
        1,
    );
    assert!(matches!(
        parse(&dtd),
        Err(SamlConfigError::MetadataDtd { .. })
    ));
}

#[test]
fn rejects_sp_metadata() {
    let xml =
        metadata(&kd(Some("signing"), &key(0).1)).replace("IDPSSODescriptor", "SPSSODescriptor");
    assert!(matches!(
        parse(&xml),
        Err(SamlConfigError::MetadataShape { .. })
    ));
}

#[test]
fn from_pem_certs_reads_certificate_blocks() {
    let pem = openssl::x509::X509::from_der(&key(0).1)
        .unwrap()
        .to_pem()
        .unwrap();
    let idp = TrustedIdp::from_pem_certs(
        "corp",
        "https://idp.example.test/metadata",
        std::str::from_utf8(&pem).unwrap(),
        vec!["urn:amazon:webservices".into()],
        vec!["https://signin.aws.amazon.com/saml".into()],
    )
    .unwrap();
    assert_eq!(idp.signing_certs.len(), 1);
}
