//! The broker's own SAML service-provider key pair (`[saml] sp_key_file` / `sp_cert_file`) and
//! AuthnRequest signing with the HTTP-Redirect binding.
//!
//! Invariants:
//! - the key is RSA of at least [`MIN_SP_RSA_BITS`] bits, parsed by aws-lc-rs, and the certificate
//!   published in `/saml/metadata` holds exactly its public key (a mismatch is a config error, so
//!   an IdP never receives a certificate that cannot verify the broker's signatures);
//! - the signature (RSA PKCS#1 v1.5 with SHA-256) covers exactly the octets
//!   `SAMLRequest=<v>[&RelayState=<v>]&SigAlg=<v>`, each value URL-encoded exactly as it appears in
//!   the query the browser is sent (SAML 2.0 bindings, HTTP-Redirect DEFLATE encoding, signing):
//!   the verifier recomputes it from the same bytes;
//! - an IdP whose metadata says `WantAuthnRequestsSigned="true"` is a config error without a key;
//! - private key material never appears in `Debug` output, an error message or a log line.

use crate::config::{Config, SamlConfig};
use crate::saml::TrustedIdp;
use aws_lc_rs::rsa::KeyPair as RsaKeyPair;
use aws_lc_rs::signature::RSA_PKCS1_SHA256;
use base64::Engine as _;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::PrivateKeyDer;
use x509_parser::public_key::PublicKey;

/// The only AuthnRequest signature algorithm: RSA-SHA256.
pub const SIG_ALG_RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
/// Smallest SP key accepted (the same floor as for IdP keys).
pub const MIN_SP_RSA_BITS: usize = 2048;
/// Largest key or certificate file read.
const MAX_FILE_BYTES: u64 = 64 * 1024;

/// The SP key pair: the private key signs AuthnRequests; the certificate is published.
pub struct SpKey {
    pair: RsaKeyPair,
    cert_der: Vec<u8>,
}

impl std::fmt::Debug for SpKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpKey")
            .field("key", &"[redacted]")
            .field("bits", &(self.pair.public_modulus_len() * 8))
            .finish()
    }
}

impl SpKey {
    /// From PEM text: an RSA private key (PKCS#8 or PKCS#1) and its certificate.
    pub fn from_pem(key_pem: &[u8], cert_pem: &[u8]) -> Result<Self, String> {
        let key = PrivateKeyDer::from_pem_slice(key_pem)
            .map_err(|_| "sp_key_file holds no PEM private key".to_owned())?;
        let pair = match &key {
            PrivateKeyDer::Pkcs8(d) => RsaKeyPair::from_pkcs8(d.secret_pkcs8_der()),
            PrivateKeyDer::Pkcs1(d) => RsaKeyPair::from_der(d.secret_pkcs1_der()),
            _ => return Err("sp_key_file must hold an RSA private key".into()),
        }
        .map_err(|e| {
            format!("sp_key_file is not an acceptable RSA private key ({e}); RSA keys must be {MIN_SP_RSA_BITS} to 8192 bits")
        })?;
        let bits = pair.public_modulus_len() * 8;
        if bits < MIN_SP_RSA_BITS {
            return Err(format!(
                "sp_key_file is a {bits}-bit RSA key; at least {MIN_SP_RSA_BITS} bits are required"
            ));
        }
        let cert_der = x509_parser::pem::Pem::iter_from_buffer(cert_pem)
            .filter_map(Result::ok)
            .find(|p| p.label == "CERTIFICATE")
            .map(|p| p.contents)
            .ok_or("sp_cert_file holds no PEM CERTIFICATE")?;
        let (_, cert) = x509_parser::parse_x509_certificate(&cert_der)
            .map_err(|_| "sp_cert_file is not an X.509 certificate".to_owned())?;
        let matches = match cert.public_key().parsed() {
            Ok(PublicKey::RSA(rsa)) => {
                let public = aws_lc_rs::signature::KeyPair::public_key(&pair);
                strip(rsa.modulus) == public.modulus().big_endian_without_leading_zero()
                    && strip(rsa.exponent) == public.exponent().big_endian_without_leading_zero()
            }
            _ => false,
        };
        if !matches {
            return Err("sp_cert_file does not hold the public key of sp_key_file".into());
        }
        Ok(Self { pair, cert_der })
    }

    /// From `[saml] sp_key_file` / `sp_cert_file`: `None` when neither is set.
    pub fn from_config(saml: &SamlConfig) -> Result<Option<Self>, String> {
        let (key_path, cert_path) = match (&saml.sp_key_file, &saml.sp_cert_file) {
            (None, None) => return Ok(None),
            (Some(k), Some(c)) => (k, c),
            _ => {
                return Err(
                    "saml.sp_key_file and saml.sp_cert_file go together: set both or neither"
                        .into(),
                )
            }
        };
        let key = read_small(key_path, "sp_key_file")?;
        let cert = read_small(cert_path, "sp_cert_file")?;
        Self::from_pem(&key, &cert)
            .map(Some)
            .map_err(|why| format!("saml: {why} ({key_path}, {cert_path})"))
    }

    /// The certificate, base64 DER (for `ds:X509Certificate`).
    pub fn cert_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(&self.cert_der)
    }

    fn sign(&self, octets: &[u8]) -> Result<Vec<u8>, aws_lc_rs::error::Unspecified> {
        let mut sig = vec![0u8; self.pair.public_modulus_len()];
        let rng = aws_lc_rs::rand::SystemRandom::new();
        self.pair.sign(&RSA_PKCS1_SHA256, &rng, octets, &mut sig)?;
        Ok(sig)
    }
}

fn strip(b: &[u8]) -> &[u8] {
    let zeros = b.iter().take_while(|&&x| x == 0).count();
    &b[zeros..]
}

fn read_small(path: &str, what: &str) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| format!("saml.{what} {path}: {e}"))?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("saml.{what} {path}: {e}"))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(format!("saml.{what} {path} is larger than 64 KiB"));
    }
    Ok(bytes)
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The query of an HTTP-Redirect AuthnRequest: `SAMLRequest` (base64 of the DEFLATEd XML),
/// `RelayState` if any, and with a key `SigAlg` and `Signature` over the first parameters as sent.
pub fn redirect_query(
    saml_request_b64: &str,
    relay_state: Option<&str>,
    key: Option<&SpKey>,
) -> Result<String, aws_lc_rs::error::Unspecified> {
    let mut query = format!("SAMLRequest={}", enc(saml_request_b64));
    if let Some(relay) = relay_state {
        query.push_str(&format!("&RelayState={}", enc(relay)));
    }
    if let Some(key) = key {
        query.push_str(&format!("&SigAlg={}", enc(SIG_ALG_RSA_SHA256)));
        let sig = key.sign(query.as_bytes())?;
        let b64 = base64::engine::general_purpose::STANDARD.encode(sig);
        query.push_str(&format!("&Signature={}", enc(&b64)));
    }
    Ok(query)
}

/// Config problems of AuthnRequest signing: the key pair (when configured) and every IdP whose
/// metadata wants signed AuthnRequests while no key is configured.
pub fn sp_signing_problems(cfg: &Config, idps: &[TrustedIdp]) -> Vec<String> {
    let key = match SpKey::from_config(&cfg.saml) {
        Ok(k) => k,
        Err(e) => return vec![e],
    };
    if key.is_some() {
        return Vec::new();
    }
    idps.iter()
        .filter(|i| i.want_authn_requests_signed)
        .map(|i| {
            format!(
                "saml.idps {:?}: its metadata says WantAuthnRequestsSigned=\"true\", but the broker has no SP key to sign AuthnRequests with: set [saml] sp_key_file and sp_cert_file (an RSA key of at least {MIN_SP_RSA_BITS} bits and its certificate)",
                i.name
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::signature::{UnparsedPublicKey, RSA_PKCS1_2048_8192_SHA256};

    fn file(name: &str) -> Vec<u8> {
        std::fs::read(format!("{}/certs/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    fn sp_key() -> SpKey {
        SpKey::from_pem(&file("saml-sp.key"), &file("saml-sp.crt")).unwrap()
    }

    /// Verify a redirect query's signature the way an IdP does: with the published certificate's
    /// public key over the raw `SAMLRequest=…[&RelayState=…]&SigAlg=…` octets as received.
    fn verify_with_cert(query: &str, cert_b64: &str) -> bool {
        let der = base64::engine::general_purpose::STANDARD
            .decode(cert_b64)
            .unwrap();
        let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
        let spki = cert.public_key().subject_public_key.data.to_vec();
        let (signed, sig) = query.split_once("&Signature=").unwrap();
        let sig: String = url::form_urlencoded::parse(format!("s={sig}").as_bytes())
            .next()
            .unwrap()
            .1
            .into_owned();
        let sig = base64::engine::general_purpose::STANDARD
            .decode(sig)
            .unwrap();
        UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, spki)
            .verify(signed.as_bytes(), &sig)
            .is_ok()
    }

    #[test]
    fn signature_verifies_with_the_published_certificate_over_the_exact_octets() {
        let key = sp_key();
        let q = redirect_query(
            "PHNhbWxwOkF1dGhuUmVxdWVzdC8++/=",
            Some("/roles?x=1 2"),
            Some(&key),
        )
        .unwrap();
        assert!(q.starts_with(
            "SAMLRequest=PHNhbWxwOkF1dGhuUmVxdWVzdC8%2B%2B%2F%3D&RelayState=%2Froles%3Fx%3D1+2&SigAlg=http%3A%2F%2Fwww.w3.org%2F2001%2F04%2Fxmldsig-more%23rsa-sha256&Signature="
        ), "{q}");
        assert!(verify_with_cert(&q, &key.cert_base64()));
        let no_relay = redirect_query("QUJD", None, Some(&key)).unwrap();
        assert!(
            no_relay.starts_with("SAMLRequest=QUJD&SigAlg="),
            "{no_relay}"
        );
        assert!(verify_with_cert(&no_relay, &key.cert_base64()));
    }

    #[test]
    fn tampered_relay_state_or_request_breaks_the_signature() {
        let key = sp_key();
        let q = redirect_query("QUJD", Some("/roles"), Some(&key)).unwrap();
        let cert = key.cert_base64();
        for tampered in [
            q.replace("RelayState=%2Froles", "RelayState=%2Fevil"),
            q.replace("SAMLRequest=QUJD", "SAMLRequest=QUJE"),
            q.replace("&RelayState=%2Froles", ""),
            q.replace("rsa-sha256", "rsa-sha512"),
        ] {
            assert_ne!(tampered, q);
            assert!(!verify_with_cert(&tampered, &cert), "{tampered}");
        }
        // A RelayState added to a request signed without one is refused too.
        let bare = redirect_query("QUJD", None, Some(&key)).unwrap();
        let added = bare.replace("&SigAlg=", "&RelayState=%2Fevil&SigAlg=");
        assert!(!verify_with_cert(&added, &cert));
    }

    #[test]
    fn signature_by_another_key_does_not_verify_with_the_published_certificate() {
        let key = sp_key();
        let q = redirect_query("QUJD", None, Some(&key)).unwrap();
        let other =
            std::fs::read_to_string(format!("{}/certs/saml-idp.crt", env!("CARGO_MANIFEST_DIR")))
                .unwrap();
        let other_b64: String = other.lines().filter(|l| !l.starts_with("-----")).collect();
        assert!(!verify_with_cert(&q, &other_b64));
    }

    #[test]
    fn without_a_key_the_request_is_unsigned() {
        let q = redirect_query("QUJD", Some("/roles"), None).unwrap();
        assert_eq!(q, "SAMLRequest=QUJD&RelayState=%2Froles");
    }

    #[test]
    fn small_keys_mismatched_certificates_and_lone_files_are_refused() {
        let small = SpKey::from_pem(&file("saml-sp-rsa1024.key"), &file("saml-sp-rsa1024.crt"))
            .unwrap_err();
        assert!(small.contains("2048"), "{small}");
        let mismatch = SpKey::from_pem(&file("saml-sp.key"), &file("saml-idp.crt")).unwrap_err();
        assert!(
            mismatch.contains("does not hold the public key"),
            "{mismatch}"
        );
        let not_a_key = SpKey::from_pem(&file("saml-sp.crt"), &file("saml-sp.crt")).unwrap_err();
        assert!(not_a_key.contains("no PEM private key"), "{not_a_key}");
        let lone = SamlConfig {
            sp_key_file: Some("certs/saml-sp.key".into()),
            ..SamlConfig::default()
        };
        assert!(SpKey::from_config(&lone).unwrap_err().contains("both"));
    }

    #[test]
    fn an_idp_wanting_signed_requests_without_an_sp_key_is_a_config_error() {
        let metadata = std::fs::read_to_string(format!(
            "{}/config/e2e-saml-idp-metadata.xml",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
        .replace(
            "WantAuthnRequestsSigned=\"false\"",
            "WantAuthnRequestsSigned=\"true\"",
        );
        let idp = TrustedIdp::from_metadata_xml(
            "wants-signed",
            &metadata,
            vec!["urn:amazon:webservices".into()],
            vec!["https://signin.aws.amazon.com/saml".into()],
        )
        .unwrap();
        assert!(idp.want_authn_requests_signed);
        let mut cfg = Config::default();
        let problems = sp_signing_problems(&cfg, std::slice::from_ref(&idp));
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("wants-signed") && problems[0].contains("sp_key_file"));
        let dir = env!("CARGO_MANIFEST_DIR");
        cfg.saml.sp_key_file = Some(format!("{dir}/certs/saml-sp.key"));
        cfg.saml.sp_cert_file = Some(format!("{dir}/certs/saml-sp.crt"));
        assert!(sp_signing_problems(&cfg, &[idp]).is_empty());
        cfg.saml.sp_cert_file = Some(format!("{dir}/certs/no-such.crt"));
        let missing = sp_signing_problems(&cfg, &[]);
        assert!(missing[0].contains("sp_cert_file"), "{missing:?}");
    }

    #[test]
    fn debug_output_never_shows_the_key() {
        let key = sp_key();
        let shown = format!("{key:?}");
        assert!(
            shown.contains("[redacted]") && shown.contains("2048"),
            "{shown}"
        );
        let pem = String::from_utf8(file("saml-sp.key")).unwrap();
        let body: String = pem.lines().nth(1).unwrap().chars().take(20).collect();
        assert!(!shown.contains(&body));
    }
}
