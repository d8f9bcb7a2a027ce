//! Profile: the SAML Web Browser SSO checks samael leaves out or makes optional (checklist R5,
//! S13-S18), on the *verified* Assertion, with an injected clock and a bounded skew.
//!
//! Invariants: every value in [`AssertionFacts`] comes from the verified Assertion. Response-level
//! fields (Version, Status, Issuer, Destination) are read from the unverified envelope only to
//! *reject*, never to grant. Time comparisons use `CLOCK_SKEW` both ways and cap the validity
//! window at `MAX_ASSERTION_LIFETIME` (bounds replay and stolen-assertion value, S16/S22).

use super::xml::{self, attr, NS_SAML, NS_SAMLP};
use super::{SamlError, TrustedIdp, CLOCK_SKEW, MAX_ASSERTION_LIFETIME};
use chrono::{DateTime, Utc};
use roxmltree::Node;
use std::collections::BTreeMap;

/// Bearer SubjectConfirmation method (the only one accepted).
pub const CM_BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";
/// Top-level success status.
pub const STATUS_SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";

/// Identity data taken from the verified Assertion.
#[derive(Debug)]
pub struct AssertionFacts {
    pub assertion_id: String,
    pub issuer: String,
    pub subject: String,
    pub subject_format: Option<String>,
    /// min(Conditions NotOnOrAfter, SubjectConfirmationData NotOnOrAfter).
    pub expires_at: DateTime<Utc>,
    pub authn_instant: Option<DateTime<Utc>>,
    pub session_not_on_or_after: Option<DateTime<Utc>>,
    /// Every Attribute (all AttributeStatements), name → values, names unique.
    pub attributes: BTreeMap<String, Vec<String>>,
    /// SubjectConfirmationData InResponseTo (SP-initiated flows; checked by the browser ACS).
    pub in_response_to: Option<String>,
}

fn violation(msg: impl Into<String>) -> SamlError {
    SamlError::ProfileViolation(msg.into())
}

/// Parse an xs:dateTime (RFC 3339 form, as SAML requires UTC).
pub fn parse_instant(s: &str, what: &str) -> Result<DateTime<Utc>, SamlError> {
    DateTime::parse_from_rfc3339(s)
        .map(|d| d.with_timezone(&Utc))
        .map_err(|_| violation(format!("{what} is not a valid xs:dateTime in UTC")))
}

fn required_instant(
    node: Node<'_, '_>,
    name: &str,
    what: &str,
) -> Result<DateTime<Utc>, SamlError> {
    let v = attr(node, name).ok_or_else(|| violation(format!("{what} is required")))?;
    parse_instant(v, what)
}

fn optional_instant(
    node: Node<'_, '_>,
    name: &str,
    what: &str,
) -> Result<Option<DateTime<Utc>>, SamlError> {
    attr(node, name).map(|v| parse_instant(v, what)).transpose()
}

fn check_not_before(
    nb: DateTime<Utc>,
    now: DateTime<Utc>,
    what: &'static str,
) -> Result<(), SamlError> {
    if now + CLOCK_SKEW < nb {
        return Err(SamlError::NotYetValid { what });
    }
    Ok(())
}

fn check_not_on_or_after(
    noa: DateTime<Utc>,
    now: DateTime<Utc>,
    what: &'static str,
) -> Result<(), SamlError> {
    if now - CLOCK_SKEW >= noa {
        return Err(SamlError::Expired { what });
    }
    Ok(())
}

/// Response-level checks on the unverified envelope (rejection only; see module doc).
pub fn check_response_envelope(response: Node<'_, '_>, idp: &TrustedIdp) -> Result<(), SamlError> {
    if attr(response, "Version") != Some("2.0") {
        return Err(SamlError::Malformed("Response Version must be 2.0".into()));
    }
    // Required by SAML core (StatusResponseType); not a time check (the envelope may be unsigned),
    // only strictness: a Response whose IssueInstant is missing or not an xs:dateTime is refused.
    required_instant(response, "IssueInstant", "Response IssueInstant")?;
    let status =
        xml::at_most_one(response, NS_SAMLP, "Status")?.ok_or(SamlError::StatusNotSuccess)?;
    let code =
        xml::at_most_one(status, NS_SAMLP, "StatusCode")?.ok_or(SamlError::StatusNotSuccess)?;
    if attr(code, "Value") != Some(STATUS_SUCCESS) {
        return Err(SamlError::StatusNotSuccess);
    }
    if let Some(issuer) = xml::at_most_one(response, NS_SAML, "Issuer")? {
        if xml::strict_text(issuer, "Issuer")?.trim() != idp.entity_id {
            return Err(SamlError::IssuerMismatch(format!(
                "the Response Issuer differs from the entity ID of IdP {}",
                idp.name
            )));
        }
    }
    if let Some(dest) = attr(response, "Destination") {
        if !idp.recipients.iter().any(|r| r == dest) {
            return Err(SamlError::RecipientMismatch(format!(
                "Response Destination {dest:?} is not an accepted endpoint ({})",
                idp.recipients.join(", ")
            )));
        }
    }
    Ok(())
}

/// All Assertion checks; returns the verified identity facts.
pub fn check_assertion(
    a: Node<'_, '_>,
    idp: &TrustedIdp,
    now: DateTime<Utc>,
) -> Result<AssertionFacts, SamlError> {
    if attr(a, "Version") != Some("2.0") {
        return Err(SamlError::Malformed("Assertion Version must be 2.0".into()));
    }
    let assertion_id = attr(a, "ID")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| violation("the Assertion has no ID"))?
        .to_owned();
    let issue_instant = required_instant(a, "IssueInstant", "Assertion IssueInstant")?;

    let issuer_el = xml::at_most_one(a, NS_SAML, "Issuer")?
        .ok_or_else(|| SamlError::IssuerMismatch("the Assertion has no Issuer".into()))?;
    let issuer = xml::strict_text(issuer_el, "Issuer")?.trim().to_owned();
    if issuer != idp.entity_id {
        return Err(SamlError::IssuerMismatch(format!(
            "the Assertion Issuer differs from the entity ID of IdP {}",
            idp.name
        )));
    }

    // Subject, NameID, bearer confirmation.
    let subject_el = xml::at_most_one(a, NS_SAML, "Subject")?.ok_or(SamlError::SubjectMissing)?;
    let name_id =
        xml::at_most_one(subject_el, NS_SAML, "NameID")?.ok_or(SamlError::SubjectMissing)?;
    let subject = xml::strict_text(name_id, "NameID")?;
    if subject.trim().is_empty() {
        return Err(SamlError::SubjectMissing);
    }
    let subject_format = attr(name_id, "Format").map(str::to_owned);
    let mut confirmations = xml::children(subject_el, NS_SAML, "SubjectConfirmation");
    let sc = confirmations
        .next()
        .ok_or_else(|| violation("exactly one bearer SubjectConfirmation is required"))?;
    if confirmations.next().is_some() {
        return Err(violation(
            "exactly one SubjectConfirmation is required (found several)",
        ));
    }
    if attr(sc, "Method") != Some(CM_BEARER) {
        return Err(violation("SubjectConfirmation Method must be bearer"));
    }
    let scd = xml::at_most_one(sc, NS_SAML, "SubjectConfirmationData")?
        .ok_or_else(|| violation("SubjectConfirmationData is required"))?;
    let scd_noa = required_instant(scd, "NotOnOrAfter", "SubjectConfirmationData NotOnOrAfter")?;
    let recipient = attr(scd, "Recipient")
        .ok_or_else(|| violation("SubjectConfirmationData Recipient is required"))?;
    if !idp.recipients.iter().any(|r| r == recipient) {
        return Err(SamlError::RecipientMismatch(format!(
            "SubjectConfirmationData Recipient {recipient:?} is not an accepted endpoint ({})",
            idp.recipients.join(", ")
        )));
    }
    if let Some(nb) = optional_instant(scd, "NotBefore", "SubjectConfirmationData NotBefore")? {
        check_not_before(nb, now, "SubjectConfirmationData NotBefore")?;
    }
    check_not_on_or_after(scd_noa, now, "SubjectConfirmationData NotOnOrAfter")?;
    let in_response_to = attr(scd, "InResponseTo").map(str::to_owned);

    // Conditions and audience.
    let conditions = xml::at_most_one(a, NS_SAML, "Conditions")?
        .ok_or_else(|| violation("Conditions are required"))?;
    let cond_nb = optional_instant(conditions, "NotBefore", "Conditions NotBefore")?;
    let cond_noa = optional_instant(conditions, "NotOnOrAfter", "Conditions NotOnOrAfter")?;
    if let Some(nb) = cond_nb {
        check_not_before(nb, now, "Conditions NotBefore")?;
    }
    if let Some(noa) = cond_noa {
        check_not_on_or_after(noa, now, "Conditions NotOnOrAfter")?;
    }
    check_audiences(conditions, idp)?;

    // IssueInstant and the total validity window.
    check_not_before(issue_instant, now, "Assertion IssueInstant")?;
    if now - issue_instant > MAX_ASSERTION_LIFETIME + CLOCK_SKEW {
        return Err(SamlError::Expired {
            what: "the maximum assertion age since IssueInstant",
        });
    }
    // IssueInstant and NotOnOrAfter both come from the IdP's one clock: no skew widens this.
    let latest_noa = cond_noa.map_or(scd_noa, |c| c.max(scd_noa));
    let window = latest_noa - issue_instant;
    if window > MAX_ASSERTION_LIFETIME {
        return Err(SamlError::LifetimeTooLong {
            minutes: window.num_minutes(),
            max_minutes: MAX_ASSERTION_LIFETIME.num_minutes(),
        });
    }
    let expires_at = cond_noa.map_or(scd_noa, |c| c.min(scd_noa));

    // AuthnStatement(s).
    let mut authn_instant = None;
    let mut session_not_on_or_after: Option<DateTime<Utc>> = None;
    let mut any_authn = false;
    for st in xml::children(a, NS_SAML, "AuthnStatement") {
        any_authn = true;
        if authn_instant.is_none() {
            authn_instant = optional_instant(st, "AuthnInstant", "AuthnInstant")?;
        }
        if let Some(s) = optional_instant(st, "SessionNotOnOrAfter", "SessionNotOnOrAfter")? {
            session_not_on_or_after = Some(session_not_on_or_after.map_or(s, |p| p.min(s)));
        }
    }
    if !any_authn {
        return Err(violation("an AuthnStatement is required"));
    }
    if let Some(s) = session_not_on_or_after {
        check_not_on_or_after(s, now, "AuthnStatement SessionNotOnOrAfter")?;
    }

    Ok(AssertionFacts {
        assertion_id,
        issuer,
        subject,
        subject_format,
        expires_at,
        authn_instant,
        session_not_on_or_after,
        attributes: collect_attributes(a)?,
        in_response_to,
    })
}

/// At least one AudienceRestriction, and *every* one must name an allowed audience (S15).
fn check_audiences(conditions: Node<'_, '_>, idp: &TrustedIdp) -> Result<(), SamlError> {
    let mut restrictions = 0usize;
    for c in conditions.children().filter(Node::is_element) {
        let ns = c.tag_name().namespace();
        match (ns, c.tag_name().name()) {
            (Some(NS_SAML), "AudienceRestriction") => {
                restrictions += 1;
                let mut ok = false;
                for aud in xml::children(c, NS_SAML, "Audience") {
                    let v = xml::strict_text(aud, "Audience")?;
                    if idp.audiences.iter().any(|x| *x == v.trim()) {
                        ok = true;
                    }
                }
                if !ok {
                    return Err(SamlError::AudienceMismatch(format!(
                        "an AudienceRestriction names none of the accepted audiences ({}); set the IdP's relying-party identifier to one of them",
                        idp.audiences.join(", ")
                    )));
                }
            }
            (Some(NS_SAML), "OneTimeUse") | (Some(NS_SAML), "ProxyRestriction") => {}
            _ => {
                // SAML Core 2.5.1: an unknown condition makes the assertion Indeterminate.
                return Err(violation(
                    "Conditions contain an unsupported condition element",
                ));
            }
        }
    }
    if restrictions == 0 {
        return Err(SamlError::AudienceMismatch(format!(
            "the Assertion has no AudienceRestriction; it must name one of: {}",
            idp.audiences.join(", ")
        )));
    }
    Ok(())
}

/// Attributes from every AttributeStatement; a Name seen twice is refused (S18).
fn collect_attributes(a: Node<'_, '_>) -> Result<BTreeMap<String, Vec<String>>, SamlError> {
    let mut out = BTreeMap::new();
    for st in xml::children(a, NS_SAML, "AttributeStatement") {
        for at in xml::children(st, NS_SAML, "Attribute") {
            let name = attr(at, "Name")
                .filter(|n| !n.is_empty())
                .ok_or_else(|| violation("an Attribute has no Name"))?;
            let mut values = Vec::new();
            for v in xml::children(at, NS_SAML, "AttributeValue") {
                values.push(xml::strict_text(v, "AttributeValue")?);
            }
            if out.insert(name.to_owned(), values).is_some() {
                return Err(SamlError::DuplicateAttribute {
                    name: name.to_owned(),
                });
            }
        }
    }
    Ok(out)
}
