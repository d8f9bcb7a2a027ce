//! Test-only builders: an AWS-shaped SAML Response template, signature templates, and an RSA test
//! key signed with xmlsec through samael. Keys are generated per test run; nothing here is a secret.

use super::preflight::{ALG_ENVELOPED, ALG_EXC_C14N};
use super::TrustedIdp;
use chrono::{DateTime, Duration, TimeZone, Utc};
use samael::crypto::{Crypto, CryptoProvider};
use std::sync::OnceLock;

pub const IDP_ENTITY: &str = "https://idp.example.test/metadata";
pub const RECIPIENT: &str = "https://signin.aws.amazon.com/saml";
pub const AUDIENCE: &str = "urn:amazon:webservices";
pub const ROLE_PAIR: &str =
    "arn:aws:iam::123456789012:role/Admin,arn:aws:iam::123456789012:saml-provider/Corp";
pub const RESPONSE_ID: &str = "_resp1";
pub const ASSERTION_ID: &str = "_assert1";

pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 1, 12, 0, 0).single().unwrap()
}

fn ts(d: Duration) -> String {
    (now() + d).format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// A signature template (empty DigestValue/SignatureValue) referencing `#id`.
pub fn sig_template(id: &str) -> String {
    format!(
        r##"<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="{ALG_EXC_C14N}"/><ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/><ds:Reference URI="#{id}"><ds:Transforms><ds:Transform Algorithm="{ALG_ENVELOPED}"/><ds:Transform Algorithm="{ALG_EXC_C14N}"/></ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue></ds:DigestValue></ds:Reference></ds:SignedInfo><ds:SignatureValue></ds:SignatureValue></ds:Signature>"##
    )
}

/// The Assertion. `sig` is inserted right after its Issuer.
pub fn assertion(sig: &str, name_id: &str) -> String {
    format!(
        r#"<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{ASSERTION_ID}" Version="2.0" IssueInstant="{ii}"><saml:Issuer>{IDP_ENTITY}</saml:Issuer>{sig}<saml:Subject><saml:NameID Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent">{name_id}</saml:NameID><saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData NotOnOrAfter="{noa}" Recipient="{RECIPIENT}"/></saml:SubjectConfirmation></saml:Subject><saml:Conditions NotBefore="{nb}" NotOnOrAfter="{noa}"><saml:AudienceRestriction><saml:Audience>{AUDIENCE}</saml:Audience></saml:AudienceRestriction></saml:Conditions><saml:AuthnStatement AuthnInstant="{ii}" SessionIndex="s1"><saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement><saml:AttributeStatement><saml:Attribute Name="https://aws.amazon.com/SAML/Attributes/Role"><saml:AttributeValue>{ROLE_PAIR}</saml:AttributeValue></saml:Attribute><saml:Attribute Name="https://aws.amazon.com/SAML/Attributes/RoleSessionName"><saml:AttributeValue>alice@example.com</saml:AttributeValue></saml:Attribute></saml:AttributeStatement></saml:Assertion>"#,
        ii = ts(Duration::seconds(-5)),
        nb = ts(Duration::seconds(-10)),
        noa = ts(Duration::minutes(5)),
    )
}

/// The Response around `assertion_xml`; `sig` is inserted after the Response Issuer.
pub fn response(sig: &str, assertion_xml: &str) -> String {
    format!(
        r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{RESPONSE_ID}" Version="2.0" IssueInstant="{ii}" Destination="{RECIPIENT}"><saml:Issuer>{IDP_ENTITY}</saml:Issuer>{sig}<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>{assertion_xml}</samlp:Response>"#,
        ii = ts(Duration::seconds(-5)),
    )
}

/// Unsigned Response with signature *templates* on both elements (shape tests only).
pub fn templated_both() -> String {
    response(
        &sig_template(RESPONSE_ID),
        &assertion(&sig_template(ASSERTION_ID), "alice"),
    )
}

/// (private key DER, certificate DER) of a fresh RSA-2048 key; `which` picks one of two keys.
pub fn key(which: usize) -> &'static (Vec<u8>, Vec<u8>) {
    static KEYS: OnceLock<Vec<(Vec<u8>, Vec<u8>)>> = OnceLock::new();
    &KEYS.get_or_init(|| (0..2).map(|_| gen_key(2048)).collect())[which]
}

/// (private key DER, certificate DER) of a fresh RSA-1024 key (legacy IdPs only).
pub fn key_1024() -> &'static (Vec<u8>, Vec<u8>) {
    static KEY: OnceLock<(Vec<u8>, Vec<u8>)> = OnceLock::new();
    KEY.get_or_init(|| gen_key(1024))
}

fn gen_key(bits: u32) -> (Vec<u8>, Vec<u8>) {
    use openssl::{asn1::Asn1Time, bn::BigNum, hash::MessageDigest, pkey::PKey, rsa::Rsa, x509};
    let pkey = PKey::from_rsa(Rsa::generate(bits).unwrap()).unwrap();
    let mut name = x509::X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", "test idp").unwrap();
    let name = name.build();
    let mut b = x509::X509Builder::new().unwrap();
    b.set_version(2).unwrap();
    b.set_serial_number(&BigNum::from_u32(1).unwrap().to_asn1_integer().unwrap())
        .unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(&name).unwrap();
    b.set_pubkey(&pkey).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::days_from_now(30).unwrap())
        .unwrap();
    b.sign(&pkey, MessageDigest::sha256()).unwrap();
    (
        pkey.private_key_to_der().unwrap(),
        b.build().to_der().unwrap(),
    )
}

/// Sign the first Signature template in document order with key `which`.
pub fn sign(xml: &str, which: usize) -> String {
    Crypto::sign_xml(xml, &key(which).0).unwrap()
}

/// Sign the first Signature template in document order with the private key DER `key_der`.
pub fn sign_with(xml: &str, key_der: &[u8]) -> String {
    Crypto::sign_xml(xml, key_der).unwrap()
}

pub fn idp() -> TrustedIdp {
    TrustedIdp::from_der_certs(
        "corp",
        IDP_ENTITY,
        vec![key(0).1.clone()],
        vec![AUDIENCE.into()],
        vec![RECIPIENT.into()],
    )
    .unwrap()
}

/// Standard base64 of `xml`.
pub fn b64(xml: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(xml)
}
