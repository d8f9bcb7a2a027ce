//! Errors of SAML validation (per request) and of SAML IdP configuration (at startup).
//!
//! Invariants: every [`SamlError`] variant has one stable snake_case code and one [`ErrorKind`];
//! variants are grouped by how the caller reacts (fix the request, identity not verified, not
//! allowed). Messages say what was wrong and what to fix. They never contain the assertion, a
//! NameID or an attribute value; they may name an algorithm URI, an audience or recipient URL, an
//! attribute *name* or a count, which are not secret.

use crate::error::{ApiError, ErrorKind};

/// Why a SAML Response was refused.
#[derive(Debug, thiserror::Error)]
pub enum SamlError {
    /// The base64 SAMLResponse is longer than AWS (and we) accept.
    #[error("SAMLResponse is {len} base64 characters; at most {max} are accepted (AWS limit)")]
    TooLarge { len: usize, max: usize },

    /// Not base64, not UTF-8, not well-formed XML, or not a SAML 2.0 Response.
    #[error("malformed SAMLResponse: {0}")]
    Malformed(String),

    /// A DOCTYPE or entity declaration was present (XXE, entity expansion, ID via ATTLIST).
    #[error("SAMLResponse contains a DOCTYPE or ENTITY declaration; DTDs are refused (send the Response without a DOCTYPE)")]
    DtdForbidden,

    /// A `ds:Signature` sits somewhere other than directly under the Response or the Assertion,
    /// or one element carries two signatures.
    #[error("signature placement refused: {0}")]
    SignatureMisplaced(String),

    /// A signature has a shape we refuse before any crypto (references, transforms, Object, ...).
    #[error("signature structure refused: {0}")]
    SignatureShape(String),

    /// SignatureMethod, DigestMethod or CanonicalizationMethod outside the allowlist.
    #[error("algorithm {algorithm} is not allowed for {what}; configure the IdP to sign with RSA-SHA256 (or RSA-SHA384/512, ECDSA-SHA256/384) and a SHA-256 or stronger digest")]
    AlgorithmForbidden {
        what: &'static str,
        algorithm: String,
    },

    /// More than one Assertion anywhere in the document, or none.
    #[error("the Response must contain exactly one Assertion (found {count})")]
    MultipleAssertions { count: usize },

    /// An EncryptedAssertion or EncryptedID for an IdP without decryption keys, or an encrypted
    /// element where SAML allows none.
    #[error("the Response carries an encrypted assertion or identifier that fedbroker cannot decrypt for this IdP: configure decryption_key_files for it in [[saml.idps]] (the private key of the certificate the IdP encrypts to), or have the IdP send the assertion unencrypted")]
    EncryptedUnsupported,

    /// Every failure to decrypt (wrong key, tampered ciphertext, bad padding, RSA 1.5, unknown
    /// algorithm, malformed EncryptedData or plaintext): one code and one message, so that no
    /// failure can be told from another (padding and decryption oracles).
    #[error("the encrypted assertion could not be decrypted; the IdP must encrypt to the certificate of a key in decryption_key_files, with RSA-OAEP key transport (never RSA 1.5) and AES-GCM (or AES-CBC, see allow_cbc)")]
    DecryptionFailed,

    /// AES-CBC data not covered by a verified Response signature, and the IdP lacks `allow_cbc`.
    /// Decided from the algorithm URI before any decryption, so it reveals nothing secret.
    #[error("the assertion is encrypted with AES-CBC, which is accepted only inside a signed Response or with allow_cbc = true for this IdP; have the IdP sign the Response or encrypt with AES-GCM, or set allow_cbc = true (see docs/SECURITY.md)")]
    EncryptionCbcNotAllowed,

    /// Two elements carry the same `ID` value (signature wrapping, CVE-2025-23369 class).
    #[error("two elements carry the same ID attribute value; IDs must be unique")]
    DuplicateId,

    /// No signature at all.
    #[error("the Response is not signed; the IdP must sign the Assertion or the Response")]
    Unsigned,

    /// The Assertion's Issuer names no configured IdP.
    #[error("the Assertion Issuer is not a configured IdP; add its metadata to saml.idps")]
    IssuerUnknown,

    /// xmlsec could not verify the signature(s) with the IdP's pinned keys.
    #[error("signature verification failed with the pinned keys of IdP {idp}; if the IdP rotated its signing certificate, update its metadata")]
    SignatureInvalid { idp: String },

    /// Signatures verified, but none of them covers the Assertion.
    #[error("the Assertion is not covered by a valid signature")]
    AssertionUnsigned,

    /// A comment, processing instruction or child element inside an identity value.
    #[error("{element} contains a comment, processing instruction or element; identity values must be plain text")]
    CommentInjection { element: &'static str },

    /// The Response Status is missing or not Success.
    #[error("the IdP did not report success (top-level StatusCode is not urn:oasis:names:tc:SAML:2.0:status:Success)")]
    StatusNotSuccess,

    /// Issuer present but not the configured entity ID, or Assertion Issuer missing.
    #[error("{0}")]
    IssuerMismatch(String),

    /// NotBefore / IssueInstant in the future beyond the clock skew.
    #[error("{what} is in the future (beyond the allowed clock skew); check the IdP clock")]
    NotYetValid { what: &'static str },

    /// NotOnOrAfter passed, or IssueInstant too old.
    #[error("{what} has passed; obtain a fresh assertion from the IdP")]
    Expired { what: &'static str },

    /// IssueInstant → a NotOnOrAfter longer than its bound (`profile::MAX_BEARER_WINDOW` for
    /// SubjectConfirmationData, `profile::MAX_CONDITIONS_WINDOW` for Conditions).
    #[error("the {what} validity window is {minutes} minutes after IssueInstant; at most {max_minutes} are accepted; shorten the assertion lifetime at the IdP")]
    LifetimeTooLong {
        what: &'static str,
        minutes: i64,
        max_minutes: i64,
    },

    /// No AudienceRestriction, or one without an allowed audience.
    #[error("{0}")]
    AudienceMismatch(String),

    /// Subject or a non-empty NameID is missing.
    #[error("the Assertion has no Subject with a non-empty NameID")]
    SubjectMissing,

    /// SubjectConfirmation Recipient or Response Destination not in the allowed set.
    #[error("{0}")]
    RecipientMismatch(String),

    /// A required SAML element is missing or has an unacceptable shape.
    #[error("SAML profile violation: {0}")]
    ProfileViolation(String),

    /// Two Attribute elements share a Name.
    #[error("attribute {name} appears more than once; each attribute name must appear once")]
    DuplicateAttribute { name: String },

    /// An AWS attribute value violates AWS's rules.
    #[error("invalid AWS SAML attribute: {0}")]
    AttributeInvalid(String),

    /// No usable `https://aws.amazon.com/SAML/Attributes/Role` value.
    #[error("the assertion carries no https://aws.amazon.com/SAML/Attributes/Role value; the IdP must send at least one role-ARN,provider-ARN pair")]
    RoleMissing,

    /// The Assertion ID was already used (the caller's replay check).
    #[error("this assertion was already used; obtain a fresh one from the IdP")]
    Replayed,

    /// The selected IdP has no signing key (configuration bug; fail closed).
    #[error("IdP {idp} has no pinned signing certificate; fix its metadata")]
    IdpMisconfigured { idp: String },
}

impl ApiError for SamlError {
    fn kind(&self) -> ErrorKind {
        use SamlError::*;
        match self {
            TooLarge { .. } => ErrorKind::TooLarge,
            Malformed(_) | DtdForbidden | EncryptedUnsupported | AttributeInvalid(_) => {
                ErrorKind::BadRequest
            }
            RoleMissing => ErrorKind::Forbidden,
            IdpMisconfigured { .. } => ErrorKind::Internal,
            SignatureMisplaced(_)
            | SignatureShape(_)
            | AlgorithmForbidden { .. }
            | MultipleAssertions { .. }
            | DuplicateId
            | DecryptionFailed
            | EncryptionCbcNotAllowed
            | Unsigned
            | IssuerUnknown
            | SignatureInvalid { .. }
            | AssertionUnsigned
            | CommentInjection { .. }
            | StatusNotSuccess
            | IssuerMismatch(_)
            | NotYetValid { .. }
            | Expired { .. }
            | LifetimeTooLong { .. }
            | AudienceMismatch(_)
            | SubjectMissing
            | RecipientMismatch(_)
            | ProfileViolation(_)
            | DuplicateAttribute { .. }
            | Replayed => ErrorKind::Unauthenticated,
        }
    }

    fn code(&self) -> &'static str {
        use SamlError::*;
        match self {
            TooLarge { .. } => "saml_too_large",
            Malformed(_) => "saml_malformed",
            DtdForbidden => "saml_dtd_forbidden",
            SignatureMisplaced(_) => "saml_signature_misplaced",
            SignatureShape(_) => "saml_signature_shape",
            AlgorithmForbidden { .. } => "saml_algorithm_forbidden",
            MultipleAssertions { .. } => "saml_multiple_assertions",
            EncryptedUnsupported => "saml_encrypted_assertion_unsupported",
            DecryptionFailed => "saml_decryption_failed",
            EncryptionCbcNotAllowed => "saml_encryption_cbc_not_allowed",
            DuplicateId => "saml_duplicate_id",
            Unsigned => "saml_unsigned",
            IssuerUnknown => "saml_issuer_unknown",
            SignatureInvalid { .. } => "saml_signature_invalid",
            AssertionUnsigned => "saml_assertion_unsigned",
            CommentInjection { .. } => "saml_comment_injection",
            StatusNotSuccess => "saml_status_not_success",
            IssuerMismatch(_) => "saml_issuer_mismatch",
            NotYetValid { .. } => "saml_not_yet_valid",
            Expired { .. } => "saml_expired",
            LifetimeTooLong { .. } => "saml_lifetime_too_long",
            AudienceMismatch(_) => "saml_audience_mismatch",
            SubjectMissing => "saml_subject_missing",
            RecipientMismatch(_) => "saml_recipient_mismatch",
            ProfileViolation(_) => "saml_profile_violation",
            DuplicateAttribute { .. } => "saml_duplicate_attribute",
            AttributeInvalid(_) => "saml_attribute_invalid",
            RoleMissing => "saml_role_missing",
            Replayed => "saml_replay",
            IdpMisconfigured { .. } => "saml_idp_misconfigured",
        }
    }
}

/// Why an IdP's SAML configuration (metadata, certificates) was refused. Reported at startup and by
/// `fedbroker check-config`.
#[derive(Debug, thiserror::Error)]
pub enum SamlConfigError {
    #[error("IdP {idp}: metadata is not valid XML: {why}")]
    MetadataXml { idp: String, why: String },

    #[error("IdP {idp}: metadata must be UTF-8 without a byte-order mark (as AWS IAM requires)")]
    MetadataBom { idp: String },

    #[error("IdP {idp}: metadata contains a DOCTYPE or ENTITY declaration; remove it")]
    MetadataDtd { idp: String },

    #[error("IdP {idp}: {why}")]
    MetadataShape { idp: String, why: String },

    #[error("IdP {idp} has no signing certificate in its metadata (only encryption keys or none): fedbroker refuses to trust it")]
    NoSigningCertificate { idp: String },

    #[error("IdP {idp}: signing certificate #{index} is unusable: {why}")]
    BadCertificate {
        idp: String,
        index: usize,
        why: String,
    },

    #[error("IdP {idp}: {what} must not be empty")]
    Empty { idp: String, what: &'static str },

    #[error("IdP entity ID {entity_id} is configured twice (IdPs {first} and {second})")]
    DuplicateEntityId {
        entity_id: String,
        first: String,
        second: String,
    },
}
