//! The report of `fedbroker saml-check`: one JSON object (`--json`) or a short text an IdP
//! administrator can act on, with a hint per error code ([`HINTS`]: one line per code).
//!
//! Invariants: identity fields (`issuer`, `subject`, `attributes`, `roles`, `signature`) are only
//! ever filled from a verified Assertion. The one value read from an unverified document, the
//! Assertion Issuer used to pick the IdP, appears only as `unverified_issuer`, and is listed in
//! `unverified_fields`. Codes and messages are the server's own.

use crate::exchange::RoleSummary;
use crate::http::handlers::explain::roles_body;
use crate::identity::VerifiedIdentity;
use crate::saml::trace::{SignatureFacts, Trace};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// What to change, per error code: at the IdP, in the broker config, or in the command line.
/// One line per code; a code without an entry gets no hint.
pub const HINTS: &[(&str, &str)] = &[
    ("saml_too_large", "the Response exceeds AWS's 100,000-character limit: release fewer attributes or groups to this application at the IdP"),
    ("saml_malformed", "pass the SAMLResponse value exactly as the browser posts it (base64, not URL-encoded), or the decoded XML"),
    ("saml_dtd_forbidden", "configure the IdP not to emit a DOCTYPE in the Response"),
    ("saml_signature_misplaced", "sign the Response and/or the Assertion with one enveloped signature each, nowhere else"),
    ("saml_signature_shape", "sign with one enveloped signature: Reference to the signed element's ID, transforms enveloped-signature then exclusive (or inclusive) C14N without comments"),
    ("saml_algorithm_forbidden", "set the IdP's signing algorithm to RSA-SHA256 (or stronger) and its digest to SHA-256; if the IdP can only sign with SHA-1, set legacy_algorithms = true for this IdP (accepted as AWS does, warned and audited)"),
    ("saml_multiple_assertions", "configure the IdP to send exactly one Assertion per Response"),
    ("saml_encrypted_assertion_unsupported", "set decryption_key_files for this IdP to the private key whose certificate the IdP encrypts to (or [saml] sp_key_file), or turn off assertion encryption at the IdP"),
    ("saml_decryption_failed", "the Assertion could not be decrypted with this IdP's decryption keys: check that the IdP encrypts to the certificate of a key in decryption_key_files, with RSA-OAEP key transport (not RSA 1.5) and AES-GCM or AES-CBC"),
    ("saml_encryption_cbc_not_allowed", "the one thing missing is the CBC opt-in: the Assertion is AES-CBC encrypted and no verified Response signature covers it; switch the IdP to AES-GCM or to signing the whole Response, or set allow_cbc = true for this IdP (padding-oracle exposure, see docs/SECURITY.md)"),
    ("saml_duplicate_id", "every ID attribute in the Response must be unique: the document was altered or the IdP is misbehaving"),
    ("saml_unsigned", "enable signing of the Assertion (or the whole Response) for this application at the IdP"),
    ("saml_issuer_unknown", "the Assertion Issuer is not this IdP's entity ID: check --idp, or compare the IdP's entity ID with the metadata of this [[saml.idps]] entry"),
    ("saml_signature_invalid", "the Response was altered after signing, or signed with a key missing from this IdP's metadata: after a certificate rollover, update metadata_file or metadata_url"),
    ("saml_assertion_unsigned", "sign the Assertion, or the whole Response, at the IdP"),
    ("saml_comment_injection", "identity values (NameID, attribute values, Issuer, Audience) must be plain text: the document was altered"),
    ("saml_status_not_success", "the IdP reported a failed sign-in: look up this sign-in in the IdP's logs"),
    ("saml_issuer_mismatch", "the Response and Assertion Issuer must both equal the entity ID in this IdP's metadata"),
    ("saml_not_yet_valid", "the IdP clock is ahead of this host: synchronise both with NTP (or check --at)"),
    ("saml_expired", "obtain a fresh Response, or pass --at with the time the Response was issued to check an old one"),
    ("saml_lifetime_too_long", "shorten the bearer window (SubjectConfirmationData NotOnOrAfter) or the token lifetime for this application at the IdP"),
    ("saml_audience_mismatch", "set the application's audience (SP entity ID) at the IdP to urn:amazon:webservices or the broker's SP entity ID, or list it in this IdP's audiences"),
    ("saml_subject_missing", "release a NameID (name identifier) to this application at the IdP"),
    ("saml_recipient_mismatch", "set the application's ACS/reply URL at the IdP to https://signin.aws.amazon.com/saml or the broker's /saml/acs, or list it in this IdP's recipients"),
    ("saml_profile_violation", "the Response breaks the SAML Web Browser SSO profile as stated in the message: fix that element at the IdP"),
    ("saml_duplicate_attribute", "release each attribute once: merge the duplicate claim rules at the IdP"),
    ("saml_attribute_invalid", "fix the named AWS attribute's value at the IdP (Role: role-ARN,provider-ARN pairs; RoleSessionName: 2-64 characters of [\\w+=,.@-])"),
    ("saml_role_missing", "send the Role attribute (role-ARN,provider-ARN) from the IdP, or add a [[rules]] entry that grants this IdP's users a role"),
    ("saml_idp_misconfigured", "this IdP's metadata has no usable signing certificate: fix the metadata"),
    ("no_role", "the IdP sent no Role value this broker can use: send role-ARN,provider-ARN pairs in the Role attribute"),
    ("no_matching_rule", "no [[rules]] entry matches this identity: compare the rules' match (provider, subject, attributes) with the verified values below"),
    ("template_value_invalid", "a rule's template renders an invalid AWS value from these attributes: fix the template or the attribute at the IdP"),
];

/// The hint for `code`, if [`HINTS`] has one.
pub fn hint(code: &str) -> Option<&'static str> {
    HINTS.iter().find(|(c, _)| *c == code).map(|(_, h)| *h)
}

/// Why the Response would be refused: the server's code and message, and the check that failed.
#[derive(Debug)]
pub struct Refusal {
    pub code: &'static str,
    pub message: String,
    pub check: &'static str,
}

/// The command's report; see the module invariants. Field order is the JSON order.
#[derive(Debug, Serialize)]
pub struct Report {
    pub accepted: bool,
    pub code: Option<&'static str>,
    pub message: Option<String>,
    /// The check that failed: a pipeline stage (`preflight`, `issuer`, `envelope`, `signature`,
    /// `profile`, `attributes`) or `mapping`.
    pub check: Option<&'static str>,
    pub hint: Option<&'static str>,
    /// The `--idp` name and that IdP's entity ID from its metadata.
    pub idp: String,
    pub idp_entity_id: String,
    pub checked_at: String,
    /// Every signature verified with a pinned key of this IdP.
    pub signature_verified: bool,
    pub issuer: Option<String>,
    pub unverified_issuer: Option<String>,
    pub unverified_fields: Vec<&'static str>,
    pub subject: Option<String>,
    pub subject_format: Option<String>,
    pub assertion_id: Option<String>,
    pub expires_at: Option<String>,
    pub attributes: BTreeMap<String, Vec<String>>,
    pub roles: Value,
    pub encrypted: bool,
    pub signature: Option<SignatureFacts>,
}

impl Report {
    pub fn new(idp: &str, entity_id: &str, checked_at: String, encrypted: bool) -> Self {
        Self {
            accepted: false,
            code: None,
            message: None,
            check: None,
            hint: None,
            idp: idp.to_owned(),
            idp_entity_id: entity_id.to_owned(),
            checked_at,
            signature_verified: false,
            issuer: None,
            unverified_issuer: None,
            unverified_fields: Vec::new(),
            subject: None,
            subject_format: None,
            assertion_id: None,
            expires_at: None,
            attributes: BTreeMap::new(),
            roles: Value::Array(Vec::new()),
            encrypted,
            signature: None,
        }
    }

    /// Record the verified identity (every field from the verified Assertion).
    pub fn verified(&mut self, identity: &VerifiedIdentity, trace: &Trace) {
        self.signature_verified = true;
        self.issuer = Some(identity.issuer().to_owned());
        self.subject = Some(identity.subject().to_owned());
        self.subject_format = identity.subject_format().map(str::to_owned);
        self.assertion_id = Some(identity.token_id().to_owned());
        self.expires_at = Some(
            identity
                .expires_at()
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        );
        self.attributes = identity.attributes().clone();
        self.signature = trace.signature.clone();
    }

    pub fn accept(&mut self, roles: &[RoleSummary]) {
        self.accepted = true;
        self.roles = roles_body(roles)["roles"].clone();
    }

    /// Record the refusal and what the trace learnt before it.
    pub fn refuse(&mut self, why: Refusal, trace: &Trace) {
        self.accepted = false;
        self.hint = hint(why.code);
        self.code = Some(why.code);
        self.message = Some(why.message);
        self.check = Some(why.check);
        if let Some(sig) = &trace.signature {
            // The signature covers the Assertion whose Issuer selected this IdP.
            self.signature_verified = true;
            self.signature = Some(sig.clone());
            self.issuer
                .get_or_insert_with(|| self.idp_entity_id.clone());
        } else if let Some(claimed) = &trace.unverified_issuer {
            self.unverified_issuer = Some(claimed.clone());
            self.unverified_fields.push("unverified_issuer");
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| {
            // Unreachable for this plain struct; still one JSON object.
            serde_json::json!({"accepted": false, "code": "internal_error", "message": e.to_string()})
                .to_string()
        })
    }

    /// The text report: verdict, failing check, message, hint, then the facts.
    pub fn to_human(&self) -> String {
        let mut s = String::new();
        let verdict = if self.accepted { "ACCEPTED" } else { "REFUSED" };
        let _ = writeln!(
            s,
            "{verdict}: the broker would {} this Response for IdP {:?} ({}) at {}",
            if self.accepted { "accept" } else { "refuse" },
            self.idp,
            self.idp_entity_id,
            self.checked_at
        );
        if let (Some(code), Some(message)) = (self.code, &self.message) {
            let _ = writeln!(
                s,
                "  failed check:   {}",
                self.check.unwrap_or("validation")
            );
            let _ = writeln!(s, "  error:          {code}: {message}");
            if let Some(h) = self.hint {
                let _ = writeln!(s, "  hint:           {h}");
            }
        }
        let _ = writeln!(s);
        match (&self.issuer, &self.unverified_issuer) {
            (Some(i), _) => line(&mut s, "issuer", i),
            (None, Some(u)) => line(
                &mut s,
                "issuer",
                &format!("{u} (UNVERIFIED: the signature was not verified)"),
            ),
            (None, None) => line(&mut s, "issuer", "(not reached)"),
        }
        match &self.subject {
            Some(sub) => {
                let fmt = self.subject_format.as_deref().unwrap_or("no Format");
                line(&mut s, "subject", &format!("{sub} ({fmt})"));
            }
            None if self.signature_verified && self.code.is_some() => line(
                &mut s,
                "subject",
                "(not reported: the Assertion failed a check after its signature verified)",
            ),
            None => line(&mut s, "subject", "(not reached)"),
        }
        match &self.signature {
            Some(sig) => {
                line(&mut s, "signed", sig.signed.as_str());
                line(&mut s, "algorithm", &sig.method);
                line(&mut s, "digest", &sig.digest);
                line(&mut s, "c14n", &sig.c14n);
                if sig.legacy {
                    line(
                        &mut s,
                        "legacy",
                        "yes: accepted only because of legacy_algorithms = true",
                    );
                }
                line(&mut s, "key (SHA-256)", &sig.key_fingerprint);
            }
            None => line(&mut s, "signature", "not verified"),
        }
        line(
            &mut s,
            "encrypted",
            if self.encrypted { "yes" } else { "no" },
        );
        if let Some(e) = &self.expires_at {
            line(&mut s, "valid until", e);
        }
        if !self.attributes.is_empty() {
            let _ = writeln!(s, "  attributes:");
            for (name, values) in &self.attributes {
                let _ = writeln!(s, "    {name} = {}", values.join(" | "));
            }
        }
        if let Some(roles) = self.roles.as_array().filter(|r| !r.is_empty()) {
            let _ = writeln!(s, "  roles offered:");
            for r in roles {
                let text = |k: &str| r[k].as_str().unwrap_or("-").to_owned();
                let _ = writeln!(
                    s,
                    "    {} (mode {}, rule {:?}, alias {})",
                    text("role_arn"),
                    text("mode"),
                    text("rule"),
                    text("alias")
                );
            }
        }
        s
    }
}

fn line(s: &mut String, label: &str, value: &str) {
    let _ = writeln!(s, "  {:<16}{value}", format!("{label}:"));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::saml::trace::{Signed, Stage};

    #[test]
    fn every_hint_is_keyed_once() {
        for (i, (code, _)) in HINTS.iter().enumerate() {
            assert!(HINTS[..i].iter().all(|(c, _)| c != code), "{code} twice");
        }
        assert!(hint("saml_expired").unwrap().contains("--at"));
        assert_eq!(hint("no_such_code"), None);
    }

    #[test]
    fn an_unverified_issuer_is_labelled_and_never_reported_as_the_issuer() {
        let mut r = Report::new("corp", "https://idp", "2026-01-01T00:00:00Z".into(), false);
        let trace = Trace {
            stage: Stage::Signature,
            unverified_issuer: Some("https://idp".into()),
            signature: None,
        };
        r.refuse(
            Refusal {
                code: "saml_signature_invalid",
                message: "m".into(),
                check: trace.stage.as_str(),
            },
            &trace,
        );
        let j: Value = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(j["issuer"], Value::Null);
        assert_eq!(j["subject"], Value::Null);
        assert_eq!(j["unverified_issuer"], "https://idp");
        assert_eq!(j["unverified_fields"][0], "unverified_issuer");
        assert_eq!(j["signature_verified"], false);
        assert!(r.to_human().contains("UNVERIFIED"));
    }

    #[test]
    fn after_a_verified_signature_the_issuer_is_the_idp_and_the_facts_are_kept() {
        let mut r = Report::new("corp", "https://idp", "2026-01-01T00:00:00Z".into(), false);
        let trace = Trace {
            stage: Stage::Profile,
            unverified_issuer: Some("https://idp".into()),
            signature: Some(SignatureFacts {
                method: "a".into(),
                digest: "d".into(),
                c14n: "c".into(),
                signed: Signed::Both,
                key_fingerprint: "f".into(),
                legacy: false,
            }),
        };
        r.refuse(
            Refusal {
                code: "saml_expired",
                message: "m".into(),
                check: "profile",
            },
            &trace,
        );
        let j: Value = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(j["issuer"], "https://idp");
        assert_eq!(j["unverified_issuer"], Value::Null);
        assert_eq!(j["signature"]["signed"], "both");
        assert_eq!(j["check"], "profile");
    }
}
