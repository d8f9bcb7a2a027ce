//! Test-time PKI for the TLS listener tests: a CA, server certificates for 127.0.0.1/localhost
//! and client certificates, generated with the `openssl` crate (no committed keys), written as PEM
//! files the broker reads.

use openssl::asn1::{Asn1Integer, Asn1Time};
use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::extension::{
    BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName,
};
use openssl::x509::{X509Builder, X509Name, X509NameBuilder, X509};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

/// The key algorithm of a generated certificate.
#[derive(Clone, Copy, Debug)]
pub enum KeyKind {
    Rsa,
    EcP256,
}

/// How a private key is written: PKCS#8 (`PRIVATE KEY`) or the algorithm's own format
/// (`RSA PRIVATE KEY` / `EC PRIVATE KEY`).
#[derive(Clone, Copy, Debug)]
pub enum KeyFormat {
    Pkcs8,
    Traditional,
}

fn new_key(kind: KeyKind) -> PKey<Private> {
    match kind {
        KeyKind::Rsa => PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap(),
        KeyKind::EcP256 => {
            let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
            PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap()
        }
    }
}

fn key_pem(key: &PKey<Private>, format: KeyFormat) -> Vec<u8> {
    match format {
        KeyFormat::Pkcs8 => key.private_key_to_pem_pkcs8().unwrap(),
        KeyFormat::Traditional => match key.rsa() {
            Ok(rsa) => rsa.private_key_to_pem().unwrap(),
            Err(_) => key.ec_key().unwrap().private_key_to_pem().unwrap(),
        },
    }
}

static SERIAL: AtomicU32 = AtomicU32::new(1);

fn name(cn: &str) -> X509Name {
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_nid(Nid::ORGANIZATIONNAME, "fedbroker TEST ONLY")
        .unwrap();
    name.append_entry_by_nid(Nid::COMMONNAME, cn).unwrap();
    name.build()
}

fn builder(cn: &str, not_after_unix: i64) -> X509Builder {
    let mut b = X509Builder::new().unwrap();
    b.set_version(2).unwrap();
    let serial = BigNum::from_u32(SERIAL.fetch_add(1, Ordering::Relaxed) + 1000).unwrap();
    b.set_serial_number(&Asn1Integer::from_bn(&serial).unwrap())
        .unwrap();
    b.set_subject_name(&name(cn)).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::from_unix(not_after_unix).unwrap())
        .unwrap();
    b
}

/// A year from now, to the second (what `issue_*` use unless told otherwise).
pub fn a_year_from_now() -> i64 {
    chrono::Utc::now().timestamp() + 365 * 86_400
}

/// A certificate authority that signs server and client certificates.
pub struct Ca {
    pub cert: X509,
    key: PKey<Private>,
}

/// A certificate and its key.
pub struct Issued {
    pub cert: X509,
    pub key: PKey<Private>,
    pub ca: X509,
}

impl Ca {
    pub fn new(cn: &str) -> Self {
        let key = new_key(KeyKind::EcP256);
        let mut b = builder(cn, a_year_from_now() + 86_400);
        b.set_issuer_name(&name(cn)).unwrap();
        b.set_pubkey(&key).unwrap();
        b.append_extension(BasicConstraints::new().critical().ca().build().unwrap())
            .unwrap();
        b.append_extension(
            KeyUsage::new()
                .critical()
                .key_cert_sign()
                .crl_sign()
                .build()
                .unwrap(),
        )
        .unwrap();
        b.sign(&key, MessageDigest::sha256()).unwrap();
        Self {
            cert: b.build(),
            key,
        }
    }

    fn issue(&self, cn: &str, kind: KeyKind, not_after: i64, server: bool) -> Issued {
        let key = new_key(kind);
        let mut b = builder(cn, not_after);
        b.set_issuer_name(self.cert.subject_name()).unwrap();
        b.set_pubkey(&key).unwrap();
        b.append_extension(BasicConstraints::new().critical().build().unwrap())
            .unwrap();
        b.append_extension(
            KeyUsage::new()
                .critical()
                .digital_signature()
                .key_encipherment()
                .build()
                .unwrap(),
        )
        .unwrap();
        if server {
            b.append_extension(ExtendedKeyUsage::new().server_auth().build().unwrap())
                .unwrap();
            let san = SubjectAlternativeName::new()
                .dns("localhost")
                .ip("127.0.0.1")
                .build(&b.x509v3_context(Some(&self.cert), None))
                .unwrap();
            b.append_extension(san).unwrap();
        } else {
            b.append_extension(ExtendedKeyUsage::new().client_auth().build().unwrap())
                .unwrap();
        }
        b.sign(&self.key, MessageDigest::sha256()).unwrap();
        Issued {
            cert: b.build(),
            key,
            ca: self.cert.clone(),
        }
    }

    /// A server certificate for `127.0.0.1` and `localhost`, valid until `not_after` (Unix time).
    pub fn server(&self, kind: KeyKind, not_after: i64) -> Issued {
        self.issue("fedbroker test server", kind, not_after, true)
    }

    /// A client certificate (clientAuth) for a workload named `cn`.
    pub fn client(&self, cn: &str) -> Issued {
        self.issue(cn, KeyKind::EcP256, a_year_from_now(), false)
    }

    pub fn pem(&self) -> Vec<u8> {
        self.cert.to_pem().unwrap()
    }

    /// Write the CA certificate to `dir/name`.
    pub fn write(&self, dir: &Path, name: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, self.pem()).unwrap();
        path
    }
}

impl Issued {
    /// The leaf's DER (what a TLS client sees as the peer certificate).
    pub fn der(&self) -> Vec<u8> {
        self.cert.to_der().unwrap()
    }

    /// Chain PEM: the leaf, then its CA.
    pub fn chain_pem(&self) -> Vec<u8> {
        let mut pem = self.cert.to_pem().unwrap();
        pem.extend(self.ca.to_pem().unwrap());
        pem
    }

    pub fn key_pem(&self, format: KeyFormat) -> Vec<u8> {
        key_pem(&self.key, format)
    }

    /// Write `cert.pem` (chain) and `key.pem` (in `format`) to the given paths.
    pub fn write(&self, cert: &Path, key: &Path, format: KeyFormat) {
        std::fs::write(cert, self.chain_pem()).unwrap();
        std::fs::write(key, self.key_pem(format)).unwrap();
    }

    /// Leaf and key in one PEM (what `reqwest::Identity::from_pem` takes).
    pub fn identity_pem(&self) -> Vec<u8> {
        let mut pem = self.cert.to_pem().unwrap();
        pem.extend(self.key_pem(KeyFormat::Pkcs8));
        pem
    }
}
