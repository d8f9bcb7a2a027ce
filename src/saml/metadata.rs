//! IdP trust from SAML metadata: entity ID and pinned signing certificates.
//!
//! Invariant: a `TrustedIdp` built here always holds at least one signing certificate that parses
//! as X.509 with an RSA key of at least [`MIN_RSA_BITS`] bits or an EC key of at least
//! [`MIN_EC_BITS`] bits (samael fails open when metadata has none — docs/SECURITY.md R1, Keycloak
//! CVE-2026-16443 — so an IdP without one is a config error). An IdP built with
//! [`AlgorithmPolicy::Legacy`] (`legacy_algorithms = true`) may also pin RSA keys of 1024 to 2047
//! bits (AWS's floor); every other IdP keeps the 2048-bit floor. Metadata is parsed strictly: UTF-8
//! without BOM (as AWS IAM requires), no DTD. Certificate expiry is deliberately not enforced,
//! like AWS IAM (docs/AWS-RULES.md §2.3); rotate by updating metadata.

use super::decryption_key::Decryption;
use super::error::SamlConfigError;
use super::keys::{AlgorithmPolicy, CertificateDer, PinnedKey, LEGACY_MIN_RSA_BITS};
use super::validity::MetadataValidity;
use super::xml::{self, NS_DS, NS_MD};
use base64::Engine as _;
use x509_parser::public_key::PublicKey;

/// Smallest RSA modulus accepted for a signing key (NIST SP 800-131A: 1024-bit RSA is disallowed).
pub const MIN_RSA_BITS: usize = super::keys::STRICT_MIN_RSA_BITS;
/// Smallest EC key accepted (P-256).
pub const MIN_EC_BITS: usize = 256;
/// Most signing certificates one IdP may pin (AWS allows 10 keys per SAML provider); bounds the
/// per-request verification cost, since each key is tried in turn.
pub const MAX_SIGNING_CERTS: usize = 10;

/// A configured IdP with pinned signing keys and its accepted audiences and recipients.
#[derive(Debug, Clone)]
pub struct TrustedIdp {
    pub name: String,
    pub entity_id: String,
    pub signing_certs: Vec<CertificateDer>,
    pub audiences: Vec<String>,
    pub recipients: Vec<String>,
    /// The IdP's SingleSignOnService for the HTTP-Redirect binding (SP-initiated browser sign-in).
    pub sso_redirect_url: Option<String>,
    /// The metadata's `IDPSSODescriptor WantAuthnRequestsSigned="true"`: the broker must sign its
    /// AuthnRequests to this IdP (and so needs an SP key).
    pub want_authn_requests_signed: bool,
    /// How long after IssueInstant an assertion may be used (`max_assertion_age_seconds`; default
    /// [`super::DEFAULT_MAX_ASSERTION_AGE`]).
    pub max_assertion_age: chrono::Duration,
    /// Which signature algorithms and key sizes this IdP may use (`legacy_algorithms`).
    pub algorithm_policy: AlgorithmPolicy,
    /// `cacheDuration` / `validUntil` of the metadata it came from (none for PEM-built IdPs).
    pub metadata_validity: MetadataValidity,
    /// Keys that decrypt this IdP's encrypted assertions (none: they are refused).
    pub decryption: Decryption,
    /// `signing_certs`' public keys, parsed once (same order), for the native verifier.
    keys: Vec<PinnedKey>,
}

/// The SAML HTTP-Redirect binding (AuthnRequests sent by the browser as a query string).
pub const BINDING_REDIRECT: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";

impl TrustedIdp {
    /// Build from IdP metadata XML: `EntityDescriptor` (or an `EntitiesDescriptor` holding exactly
    /// one IdP), `IDPSSODescriptor` KeyDescriptors with `use="signing"` or no `use`.
    pub fn from_metadata_xml(
        name: &str,
        xml_text: &str,
        audiences: Vec<String>,
        recipients: Vec<String>,
    ) -> Result<TrustedIdp, SamlConfigError> {
        Self::from_metadata_xml_with_policy(
            name,
            xml_text,
            audiences,
            recipients,
            AlgorithmPolicy::Strict,
        )
    }

    /// [`Self::from_metadata_xml`] for an IdP with the given algorithm policy.
    pub fn from_metadata_xml_with_policy(
        name: &str,
        xml_text: &str,
        audiences: Vec<String>,
        recipients: Vec<String>,
        policy: AlgorithmPolicy,
    ) -> Result<TrustedIdp, SamlConfigError> {
        let idp = || name.to_owned();
        let shape = |why: &str| SamlConfigError::MetadataShape {
            idp: idp(),
            why: why.to_owned(),
        };
        if xml_text.starts_with('\u{feff}') {
            return Err(SamlConfigError::MetadataBom { idp: idp() });
        }
        if super::preflight::contains_dtd_markup(xml_text) {
            return Err(SamlConfigError::MetadataDtd { idp: idp() });
        }
        let doc = xml::parse(xml_text).map_err(|e| SamlConfigError::MetadataXml {
            idp: idp(),
            why: e.to_string(),
        })?;
        let root = doc.root_element();
        let entity = if xml::is(root, NS_MD, "EntityDescriptor") {
            root
        } else if xml::is(root, NS_MD, "EntitiesDescriptor") {
            let idps: Vec<_> = xml::children(root, NS_MD, "EntityDescriptor")
                .filter(|e| {
                    xml::children(*e, NS_MD, "IDPSSODescriptor")
                        .next()
                        .is_some()
                })
                .collect();
            match idps.as_slice() {
                [one] => *one,
                _ => return Err(shape("EntitiesDescriptor must hold exactly one IdP EntityDescriptor; give each IdP its own metadata")),
            }
        } else {
            return Err(shape("the root element must be md:EntityDescriptor"));
        };
        let entity_id = entity
            .attribute("entityID")
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| shape("EntityDescriptor has no entityID"))?
            .to_owned();
        let sso = xml::children(entity, NS_MD, "IDPSSODescriptor")
            .next()
            .ok_or_else(|| shape("metadata has no IDPSSODescriptor (is this SP metadata?)"))?;
        let validity = MetadataValidity::read(&[root, entity, sso]).map_err(|why| shape(&why))?;

        let mut b64_certs = Vec::new();
        for kd in xml::children(sso, NS_MD, "KeyDescriptor") {
            if !matches!(kd.attribute("use"), None | Some("signing")) {
                continue;
            }
            for cert in kd
                .descendants()
                .filter(|n| xml::is(*n, NS_DS, "X509Certificate"))
            {
                let text = xml::strict_text(cert, "X509Certificate")
                    .map_err(|_| shape("X509Certificate must be plain base64 text"))?;
                b64_certs.push(text);
            }
        }
        let mut ders = Vec::new();
        for (i, b64) in b64_certs.iter().enumerate() {
            let compact: String = b64.chars().filter(|c| !c.is_ascii_whitespace()).collect();
            let der = base64::engine::general_purpose::STANDARD
                .decode(compact)
                .map_err(|_| SamlConfigError::BadCertificate {
                    idp: idp(),
                    index: i + 1,
                    why: "X509Certificate is not valid base64".into(),
                })?;
            ders.push(der);
        }
        let mut idp = Self::from_der_certs_with_policy(
            name, &entity_id, ders, audiences, recipients, policy,
        )?;
        idp.sso_redirect_url = xml::children(sso, NS_MD, "SingleSignOnService")
            .find(|s| s.attribute("Binding") == Some(BINDING_REDIRECT))
            .and_then(|s| s.attribute("Location"))
            .map(str::to_owned);
        idp.want_authn_requests_signed = matches!(
            sso.attribute("WantAuthnRequestsSigned").map(str::trim),
            Some("true" | "1")
        );
        idp.metadata_validity = validity;
        Ok(idp)
    }

    /// Build from PEM certificates (for IdPs configured without metadata, and for tests).
    pub fn from_pem_certs(
        name: &str,
        entity_id: &str,
        pem: &str,
        audiences: Vec<String>,
        recipients: Vec<String>,
    ) -> Result<TrustedIdp, SamlConfigError> {
        let mut ders = Vec::new();
        for (i, p) in x509_parser::pem::Pem::iter_from_buffer(pem.as_bytes()).enumerate() {
            let p = p.map_err(|e| SamlConfigError::BadCertificate {
                idp: name.to_owned(),
                index: i + 1,
                why: format!("not a PEM block ({e})"),
            })?;
            if p.label == "CERTIFICATE" {
                ders.push(p.contents);
            }
        }
        Self::from_der_certs(name, entity_id, ders, audiences, recipients)
    }

    /// Build from DER certificates, checking every one (see the module invariant).
    pub fn from_der_certs(
        name: &str,
        entity_id: &str,
        ders: Vec<Vec<u8>>,
        audiences: Vec<String>,
        recipients: Vec<String>,
    ) -> Result<TrustedIdp, SamlConfigError> {
        Self::from_der_certs_with_policy(
            name,
            entity_id,
            ders,
            audiences,
            recipients,
            AlgorithmPolicy::Strict,
        )
    }

    /// [`Self::from_der_certs`] for an IdP with the given algorithm policy.
    pub fn from_der_certs_with_policy(
        name: &str,
        entity_id: &str,
        ders: Vec<Vec<u8>>,
        audiences: Vec<String>,
        recipients: Vec<String>,
        policy: AlgorithmPolicy,
    ) -> Result<TrustedIdp, SamlConfigError> {
        let mut idp = TrustedIdp {
            name: name.to_owned(),
            entity_id: entity_id.to_owned(),
            signing_certs: ders.into_iter().map(CertificateDer::from).collect(),
            audiences,
            recipients,
            sso_redirect_url: None,
            want_authn_requests_signed: false,
            max_assertion_age: super::DEFAULT_MAX_ASSERTION_AGE,
            algorithm_policy: policy,
            metadata_validity: MetadataValidity::default(),
            decryption: Decryption::default(),
            keys: Vec::new(),
        };
        idp.check()?;
        idp.keys = idp
            .signing_certs
            .iter()
            .enumerate()
            .map(|(i, c)| {
                PinnedKey::from_cert_der(c.der_data(), policy).map_err(|why| {
                    SamlConfigError::BadCertificate {
                        idp: name.to_owned(),
                        index: i + 1,
                        why,
                    }
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(idp)
    }

    /// The pinned signing keys, parsed (one per entry of `signing_certs`, same order).
    pub fn pinned_keys(&self) -> &[PinnedKey] {
        &self.keys
    }

    /// Re-check the invariants (also for a `TrustedIdp` assembled by hand).
    pub fn check(&self) -> Result<(), SamlConfigError> {
        let idp = || self.name.clone();
        if self.name.is_empty() {
            return Err(SamlConfigError::Empty {
                idp: "(unnamed)".into(),
                what: "name",
            });
        }
        if self.entity_id.trim().is_empty() {
            return Err(SamlConfigError::Empty {
                idp: idp(),
                what: "entity ID",
            });
        }
        if self.audiences.is_empty() {
            return Err(SamlConfigError::Empty {
                idp: idp(),
                what: "audiences",
            });
        }
        if self.recipients.is_empty() {
            return Err(SamlConfigError::Empty {
                idp: idp(),
                what: "recipients",
            });
        }
        if self.signing_certs.is_empty() {
            return Err(SamlConfigError::NoSigningCertificate { idp: idp() });
        }
        if self.signing_certs.len() > MAX_SIGNING_CERTS {
            return Err(SamlConfigError::MetadataShape {
                idp: idp(),
                why: format!("more than {MAX_SIGNING_CERTS} signing certificates"),
            });
        }
        for (i, c) in self.signing_certs.iter().enumerate() {
            check_cert(c.der_data(), self.algorithm_policy).map_err(|why| {
                SamlConfigError::BadCertificate {
                    idp: idp(),
                    index: i + 1,
                    why,
                }
            })?;
        }
        Ok(())
    }
}

/// Parse one DER certificate and check its key type and size (the RSA floor per `policy`).
fn check_cert(der: &[u8], policy: AlgorithmPolicy) -> Result<(), String> {
    let min_rsa_bits = match policy {
        AlgorithmPolicy::Strict => MIN_RSA_BITS,
        AlgorithmPolicy::Legacy => LEGACY_MIN_RSA_BITS,
    };
    let (rest, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| format!("not an X.509 certificate ({e})"))?;
    if !rest.is_empty() {
        return Err("trailing bytes after the certificate".into());
    }
    let key = cert
        .public_key()
        .parsed()
        .map_err(|e| format!("unreadable public key ({e})"))?;
    match key {
        PublicKey::RSA(rsa) if rsa.key_size() >= min_rsa_bits => Ok(()),
        PublicKey::RSA(rsa)
            if policy == AlgorithmPolicy::Strict && rsa.key_size() >= LEGACY_MIN_RSA_BITS =>
        {
            Err(format!(
            "RSA key of {} bits; at least {MIN_RSA_BITS} are required (an IdP that cannot move \
             to a stronger key can be set to legacy_algorithms = true, which accepts 1024 bits)",
            rsa.key_size()
        ))
        }
        PublicKey::RSA(rsa) => Err(format!(
            "RSA key of {} bits; at least {min_rsa_bits} are required",
            rsa.key_size()
        )),
        PublicKey::EC(ec) if ec.key_size() >= MIN_EC_BITS => Ok(()),
        PublicKey::EC(_) => Err(format!("EC key below {MIN_EC_BITS} bits")),
        _ => Err("only RSA and EC signing keys are supported".into()),
    }
}

#[cfg(test)]
#[path = "metadata_tests.rs"]
mod tests;
