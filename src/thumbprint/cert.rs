//! Step 5 of the AWS procedure and the report: the SHA-1 fingerprint of a DER certificate (what
//! `openssl x509 -fingerprint -sha1` prints, lowercase, colons removed) and its names and dates.

use chrono::SecondsFormat;
use serde::Serialize;
use sha1::{Digest, Sha1};
use x509_parser::prelude::{FromDer, X509Certificate};

/// One served certificate, as reported.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct CertInfo {
    /// Subject DN, in certificate order (`O=…, CN=…`, as `openssl x509 -nameopt sep_comma_plus_space`).
    pub subject: String,
    /// Issuer DN, same format.
    pub issuer: String,
    /// Start of validity, RFC 3339 UTC.
    pub not_before: String,
    /// End of validity, RFC 3339 UTC.
    pub not_after: String,
    /// SHA-1 of the DER: 40 lowercase hex digits.
    pub sha1: String,
    /// A CA certificate that issued itself and whose signature verifies with its own key.
    pub self_signed_root: bool,
}

/// SHA-1 of `der` as 40 lowercase hex digits without separators.
pub fn sha1_hex(der: &[u8]) -> String {
    hex::encode(Sha1::digest(der))
}

/// Parse a DER certificate into its report.
pub fn cert_info(der: &[u8]) -> Result<CertInfo, String> {
    let (rest, cert) = X509Certificate::from_der(der).map_err(|e| e.to_string())?;
    if !rest.is_empty() {
        return Err("trailing bytes after the certificate".into());
    }
    Ok(CertInfo {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        not_before: rfc3339(cert.validity().not_before.timestamp()),
        not_after: rfc3339(cert.validity().not_after.timestamp()),
        sha1: sha1_hex(der),
        self_signed_root: is_self_signed_root(&cert),
    })
}

fn is_self_signed_root(cert: &X509Certificate<'_>) -> bool {
    cert.is_ca()
        && cert.subject().as_raw() == cert.issuer().as_raw()
        && cert.verify_signature(None).is_ok()
}

fn rfc3339(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
        .unwrap_or_else(|| unix.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha1_of_empty_input_is_the_known_vector() {
        assert_eq!(sha1_hex(b""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    }

    #[test]
    fn garbage_is_not_a_certificate() {
        assert!(cert_info(b"not DER").is_err());
    }
}
