//! Profile: the SAML Web Browser SSO checks samael leaves out or makes optional (docs/SECURITY.md R5,
//! S13-S18), on the *verified* Assertion, with an injected clock and a bounded skew.
//!
//! Invariants: every value in [`AssertionFacts`] comes from the verified Assertion. Response-level
//! fields (Version, Status, Issuer, Destination) are read from the unverified envelope only to
//! *reject*, never to grant. Time comparisons use `CLOCK_SKEW` both ways.
//!
//! Lifetimes (see [`check_lifetimes`]): an assertion is accepted while *every* bound that applies
//! holds: Conditions and SubjectConfirmationData NotOnOrAfter, SessionNotOnOrAfter, and
//! IssueInstant + the IdP's `max_assertion_age`. Their earliest is `expires_at`; the caller keeps
//! the replay record until `expires_at + CLOCK_SKEW`, which is exactly when acceptance ends. The
//! bearer (SubjectConfirmationData) window is capped at [`MAX_BEARER_WINDOW`]; the Conditions window
//! may be long (Entra ID and AD FS send 60 minutes) and is only sanity-capped at
//! [`MAX_CONDITIONS_WINDOW`], since the age bound already limits how long it is usable.

use super::xml::{self, attr, NS_SAML, NS_SAMLP};
use super::{SamlError, TrustedIdp, CLOCK_SKEW};
use chrono::{DateTime, Duration, Utc};
use roxmltree::Node;
use std::collections::BTreeMap;

/// Bearer SubjectConfirmation method (the only one accepted).
pub const CM_BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";
/// Top-level success status.
pub const STATUS_SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";

/// Default `[[saml.idps]] max_assertion_age_seconds`: how long after its IssueInstant an assertion
/// may be used (plus `CLOCK_SKEW`). A browser posts it to the ACS within seconds, and an API client
/// forwards it as soon as the IdP answers. 5 minutes is the bearer (delivery) window AD FS and
/// PingFederate send by default, and longer than Shibboleth SP's default freshness limit (180 s).
pub const DEFAULT_MAX_ASSERTION_AGE: Duration = Duration::minutes(5);
/// Smallest and largest `max_assertion_age_seconds` a configuration may set.
pub const MAX_ASSERTION_AGE_RANGE: (Duration, Duration) =
    (Duration::seconds(60), Duration::minutes(60));
/// Longest bearer window accepted: SubjectConfirmationData NotOnOrAfter − IssueInstant. Entra ID
/// sends 60 minutes (the longest default we know of; AD FS and PingFederate send 5);
/// 5 more minutes absorb IdPs that compute NotOnOrAfter from an instant a little before
/// IssueInstant. Both times come from the IdP's one clock, so no skew widens it.
pub const MAX_BEARER_WINDOW: Duration = Duration::minutes(65);
/// Sanity limit on the Conditions window (Conditions NotOnOrAfter − IssueInstant): one day, the
/// longest SAML token lifetime Entra ID lets an administrator configure. A longer window means a
/// misconfigured IdP; within it the age and bearer bounds decide how long the assertion is usable.
pub const MAX_CONDITIONS_WINDOW: Duration = Duration::hours(24);

/// Identity data taken from the verified Assertion.
#[derive(Debug)]
pub struct AssertionFacts {
    pub assertion_id: String,
    pub issuer: String,
    pub subject: String,
    pub subject_format: Option<String>,
    /// When acceptance ends (before `CLOCK_SKEW`): the earliest of Conditions NotOnOrAfter,
    /// SubjectConfirmationData NotOnOrAfter, SessionNotOnOrAfter and IssueInstant +
    /// `max_assertion_age`. Replay records live until this plus `CLOCK_SKEW`.
    pub expires_at: DateTime<Utc>,
    pub authn_instant: Option<DateTime<Utc>>,
    pub session_not_on_or_after: Option<DateTime<Utc>>,
    /// Every Attribute (all AttributeStatements), name → values, names unique.
    pub attributes: BTreeMap<String, Vec<String>>,
    /// SubjectConfirmationData InResponseTo (SP-initiated flows; checked by the browser ACS).
    pub in_response_to: Option<String>,
    /// SubjectConfirmationData Recipient (one of the IdP's accepted endpoints).
    pub recipient: String,
    /// Every Audience value of every AudienceRestriction (trimmed).
    pub audiences: Vec<String>,
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
    let recipient = recipient.to_owned();

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
    let audiences = check_audiences(conditions, idp)?;

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
    let expires_at = check_lifetimes(
        &Windows {
            issue_instant,
            bearer_not_on_or_after: scd_noa,
            conditions_not_on_or_after: cond_noa,
            session_not_on_or_after,
        },
        idp.max_assertion_age,
        now,
    )?;

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
        recipient,
        audiences,
    })
}

/// The instants that bound an assertion's use, all from the verified Assertion.
#[derive(Debug, Clone, Copy)]
pub struct Windows {
    pub issue_instant: DateTime<Utc>,
    pub bearer_not_on_or_after: DateTime<Utc>,
    pub conditions_not_on_or_after: Option<DateTime<Utc>>,
    pub session_not_on_or_after: Option<DateTime<Utc>>,
}

/// IssueInstant not in the future; the bearer window at most [`MAX_BEARER_WINDOW`] and the
/// Conditions window at most [`MAX_CONDITIONS_WINDOW`] (IdP-clock durations, no skew); used no
/// later than `max_age` (+ skew) after IssueInstant. Returns the effective expiry: the earliest of
/// every bound, each of which is checked as a NotOnOrAfter with `CLOCK_SKEW` (the individual
/// NotOnOrAfter checks run before, with their own messages).
pub fn check_lifetimes(
    w: &Windows,
    max_age: Duration,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, SamlError> {
    check_not_before(w.issue_instant, now, "Assertion IssueInstant")?;
    let too_long = |what: &'static str, window: Duration, max: Duration| {
        (window > max).then(|| SamlError::LifetimeTooLong {
            what,
            minutes: window.num_minutes(),
            max_minutes: max.num_minutes(),
        })
    };
    if let Some(e) = too_long(
        "SubjectConfirmationData (bearer)",
        w.bearer_not_on_or_after - w.issue_instant,
        MAX_BEARER_WINDOW,
    ) {
        return Err(e);
    }
    if let Some(e) = w
        .conditions_not_on_or_after
        .and_then(|c| too_long("Conditions", c - w.issue_instant, MAX_CONDITIONS_WINDOW))
    {
        return Err(e);
    }
    let age_limit = w.issue_instant + max_age;
    check_not_on_or_after(
        age_limit,
        now,
        "the maximum assertion age since IssueInstant (max_assertion_age_seconds of this IdP)",
    )?;
    Ok([
        Some(age_limit),
        Some(w.bearer_not_on_or_after),
        w.conditions_not_on_or_after,
        w.session_not_on_or_after,
    ]
    .into_iter()
    .flatten()
    .min()
    .unwrap_or(age_limit))
}

/// At least one AudienceRestriction, and *every* one must name an allowed audience (S15).
/// Returns every Audience value named.
fn check_audiences(conditions: Node<'_, '_>, idp: &TrustedIdp) -> Result<Vec<String>, SamlError> {
    let mut restrictions = 0usize;
    let mut named = Vec::new();
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
                    named.push(v.trim().to_owned());
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
    Ok(named)
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
                values.push(match xml::attribute_value_name_id(v) {
                    Some(name_id) => xml::strict_text(name_id, "NameID")?,
                    None => xml::strict_text(v, "AttributeValue")?,
                });
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

#[cfg(test)]
mod lifetime_tests {
    use super::*;
    use crate::error::ApiError;
    use chrono::TimeZone;

    fn ii() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2030, 1, 2, 3, 4, 5).unwrap()
    }

    /// Entra ID: Conditions NotBefore = IssueInstant - 5 min, Conditions and SubjectConfirmationData
    /// NotOnOrAfter = IssueInstant + 60 min.
    fn entra() -> Windows {
        Windows {
            issue_instant: ii(),
            bearer_not_on_or_after: ii() + Duration::minutes(60),
            conditions_not_on_or_after: Some(ii() + Duration::minutes(60)),
            session_not_on_or_after: None,
        }
    }

    /// AD FS: Conditions + 60 min, SubjectConfirmationData + 5 min.
    fn adfs() -> Windows {
        Windows {
            bearer_not_on_or_after: ii() + Duration::minutes(5),
            ..entra()
        }
    }

    fn code(r: Result<DateTime<Utc>, SamlError>) -> &'static str {
        r.map(|_| "ok").unwrap_or_else(|e| e.code())
    }

    #[test]
    fn entra_shape_is_accepted_and_expires_at_the_age_bound() {
        let at = ii() + Duration::seconds(3);
        let end = check_lifetimes(&entra(), DEFAULT_MAX_ASSERTION_AGE, at).unwrap();
        assert_eq!(end, ii() + DEFAULT_MAX_ASSERTION_AGE);
        // An IdP allowed a full hour: the bearer NotOnOrAfter is then the earliest bound.
        let end = check_lifetimes(&entra(), Duration::minutes(60), at).unwrap();
        assert_eq!(end, ii() + Duration::minutes(60));
    }

    #[test]
    fn adfs_shape_is_accepted_and_expires_at_the_bearer_bound() {
        let end = check_lifetimes(&adfs(), Duration::minutes(60), ii()).unwrap();
        assert_eq!(end, ii() + Duration::minutes(5));
    }

    #[test]
    fn session_not_on_or_after_is_a_bound_too() {
        let w = Windows {
            session_not_on_or_after: Some(ii() + Duration::minutes(2)),
            ..entra()
        };
        let end = check_lifetimes(&w, DEFAULT_MAX_ASSERTION_AGE, ii()).unwrap();
        assert_eq!(end, ii() + Duration::minutes(2));
    }

    /// A captured assertion from an IdP with a long window, presented after the IdP's maximum
    /// age: refused, with the clock skew honoured exactly.
    #[test]
    fn stale_assertion_past_max_age_is_refused() {
        let limit = ii() + DEFAULT_MAX_ASSERTION_AGE + CLOCK_SKEW;
        let w = entra();
        assert_eq!(
            code(check_lifetimes(
                &w,
                DEFAULT_MAX_ASSERTION_AGE,
                limit - Duration::seconds(1)
            )),
            "ok"
        );
        assert_eq!(
            code(check_lifetimes(&w, DEFAULT_MAX_ASSERTION_AGE, limit)),
            "saml_expired"
        );
    }

    /// A bearer confirmation valid for longer than any IdP sends by default (a stolen assertion
    /// stays usable longer): refused, whatever the age limit.
    #[test]
    fn bearer_window_longer_than_the_bound_is_refused() {
        let w = Windows {
            bearer_not_on_or_after: ii() + MAX_BEARER_WINDOW + Duration::seconds(1),
            conditions_not_on_or_after: Some(ii() + Duration::hours(2)),
            ..entra()
        };
        let e = check_lifetimes(&w, Duration::minutes(60), ii()).unwrap_err();
        assert_eq!(e.code(), "saml_lifetime_too_long");
        assert!(e.to_string().contains("SubjectConfirmationData"), "{e}");
        let at_bound = Windows {
            bearer_not_on_or_after: ii() + MAX_BEARER_WINDOW,
            ..w
        };
        assert_eq!(
            code(check_lifetimes(&at_bound, Duration::minutes(60), ii())),
            "ok"
        );
    }

    #[test]
    fn conditions_window_longer_than_a_day_is_refused() {
        let w = Windows {
            conditions_not_on_or_after: Some(ii() + MAX_CONDITIONS_WINDOW + Duration::seconds(1)),
            ..adfs()
        };
        let e = check_lifetimes(&w, DEFAULT_MAX_ASSERTION_AGE, ii()).unwrap_err();
        assert_eq!(e.code(), "saml_lifetime_too_long");
        assert!(e.to_string().contains("Conditions"), "{e}");
        let a_day = Windows {
            conditions_not_on_or_after: Some(ii() + MAX_CONDITIONS_WINDOW),
            ..w
        };
        assert_eq!(
            code(check_lifetimes(&a_day, DEFAULT_MAX_ASSERTION_AGE, ii())),
            "ok"
        );
    }

    /// The replay record lives until `expires_at + CLOCK_SKEW`: acceptance ends exactly then, for
    /// every shape (so no accepted use can outlive the record, and the record outlives none).
    #[test]
    fn acceptance_ends_exactly_at_expires_at_plus_skew() {
        for (w, age) in [
            (entra(), DEFAULT_MAX_ASSERTION_AGE),
            (entra(), Duration::minutes(60)),
            (adfs(), Duration::minutes(60)),
        ] {
            let end = check_lifetimes(&w, age, ii()).unwrap();
            let accepted = |at: DateTime<Utc>| {
                check_not_on_or_after(w.bearer_not_on_or_after, at, "b")
                    .and_then(|_| {
                        w.conditions_not_on_or_after
                            .map_or(Ok(()), |c| check_not_on_or_after(c, at, "c"))
                    })
                    .and_then(|_| check_lifetimes(&w, age, at))
                    .is_ok()
            };
            assert!(accepted(end + CLOCK_SKEW - Duration::seconds(1)), "{w:?}");
            assert!(!accepted(end + CLOCK_SKEW), "{w:?}");
        }
    }
}
