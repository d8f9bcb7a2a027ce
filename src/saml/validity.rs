//! How long IdP metadata may be used: `cacheDuration` (xs:duration) and `validUntil`
//! (xs:dateTime) on the `EntitiesDescriptor`, the `EntityDescriptor` and the `IDPSSODescriptor`,
//! and the `notAfter` of a pinned certificate.
//!
//! Invariants: the strictest value wins (the shortest `cacheDuration`, the earliest `validUntil`);
//! a value that does not parse is an error (it could not be honoured), never silently ignored;
//! nothing here decides what to do with the values: the metadata refresher schedules by them and
//! the loaders refuse a fetched document whose `validUntil` has passed.

use super::xml::NS_MD;
use chrono::{DateTime, TimeDelta, Utc};
use roxmltree::Node;

/// The lifetime a metadata document declares for itself (both absent in most IdPs' metadata).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MetadataValidity {
    /// The shortest `cacheDuration` (how long the document may be cached before fetching again).
    pub cache_duration: Option<TimeDelta>,
    /// The earliest `validUntil` (after it the document must not be relied on as fresh).
    pub valid_until: Option<DateTime<Utc>>,
}

impl MetadataValidity {
    /// Read `cacheDuration` and `validUntil` from each metadata element of `nodes` (the root, the
    /// IdP's EntityDescriptor, its IDPSSODescriptor); `Err` names the attribute that is invalid.
    pub fn read(nodes: &[Node<'_, '_>]) -> Result<Self, String> {
        let mut v = Self::default();
        for node in nodes {
            if node.tag_name().namespace() != Some(NS_MD) {
                continue;
            }
            let element = node.tag_name().name();
            if let Some(text) = node.attribute("cacheDuration") {
                let d = parse_xs_duration(text).ok_or_else(|| {
                    format!("{element} cacheDuration is not an xs:duration (e.g. PT6H, P1D)")
                })?;
                v.cache_duration = Some(v.cache_duration.map_or(d, |c| c.min(d)));
            }
            if let Some(text) = node.attribute("validUntil") {
                let t = DateTime::parse_from_rfc3339(text.trim())
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|_| {
                        format!("{element} validUntil is not an xs:dateTime in UTC (e.g. 2030-01-01T00:00:00Z)")
                    })?;
                v.valid_until = Some(v.valid_until.map_or(t, |u| u.min(t)));
            }
        }
        Ok(v)
    }

    /// `validUntil` has passed at `now`.
    pub fn expired_at(&self, now: DateTime<Utc>) -> bool {
        self.valid_until.is_some_and(|u| u <= now)
    }
}

/// The longest duration read (anything longer is clamped to it): a hundred years.
const MAX_DURATION_SECS: i64 = 100 * 366 * 86_400;

/// Parse an xs:duration (`PnYnMnDTnHnMnS`, seconds may have a fraction). Years count as 365 days
/// and months as 30 (only used to schedule); a negative duration reads as zero; huge values
/// saturate at a hundred years. `None` when the text is not an xs:duration.
pub fn parse_xs_duration(text: &str) -> Option<TimeDelta> {
    let s = text.trim();
    let (negative, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let s = s.strip_prefix('P')?;
    let (date, time) = match s.split_once('T') {
        Some((d, t)) if !t.is_empty() => (d, Some(t)),
        Some(_) => return None,
        None => (s, None),
    };
    if date.is_empty() && time.is_none() {
        return None;
    }
    let mut secs: f64 = 0.0;
    secs += components(
        date,
        &[
            ('Y', 365.0 * 86_400.0),
            ('M', 30.0 * 86_400.0),
            ('D', 86_400.0),
        ],
        false,
    )?;
    if let Some(t) = time {
        secs += components(t, &[('H', 3_600.0), ('M', 60.0), ('S', 1.0)], true)?;
    }
    if negative {
        return Some(TimeDelta::zero());
    }
    let secs = if secs.is_finite() {
        (secs as i64).min(MAX_DURATION_SECS)
    } else {
        MAX_DURATION_SECS
    };
    Some(TimeDelta::seconds(secs))
}

/// Sum `n<unit>` parts that appear in `units` order, each at most once; only the last unit (the
/// seconds) may have a fraction when `fraction_last`.
fn components(s: &str, units: &[(char, f64)], fraction_last: bool) -> Option<f64> {
    let mut total = 0.0;
    let mut rest = s;
    let mut next = 0;
    while !rest.is_empty() {
        let end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let (number, tail) = rest.split_at(end);
        let unit = tail.chars().next()?;
        let idx = units[next..].iter().position(|(u, _)| *u == unit)? + next;
        let is_last = idx == units.len() - 1;
        let valid_number = !number.is_empty()
            && !number.starts_with('.')
            && !number.ends_with('.')
            && number.matches('.').count() <= usize::from(fraction_last && is_last);
        if !valid_number {
            return None;
        }
        total += number.parse::<f64>().ok()? * units[idx].1;
        next = idx + 1;
        rest = &tail[unit.len_utf8()..];
    }
    Some(total)
}

/// The `notAfter` of a DER certificate (`None` if it does not parse).
pub fn certificate_not_after(der: &[u8]) -> Option<DateTime<Utc>> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    DateTime::from_timestamp(cert.validity().not_after.timestamp(), 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Option<i64> {
        parse_xs_duration(s).map(|d| d.num_seconds())
    }

    #[test]
    fn xs_durations_parse() {
        assert_eq!(d("PT1H"), Some(3_600));
        assert_eq!(d("P1D"), Some(86_400));
        assert_eq!(d("PT6H30M"), Some(6 * 3_600 + 1_800));
        assert_eq!(d("PT0.5S"), Some(0));
        assert_eq!(d("PT90.9S"), Some(90));
        assert_eq!(
            d("P1Y2M3DT4H5M6S"),
            Some(((365 + 60 + 3) * 24 + 4) * 3_600 + 5 * 60 + 6)
        );
        assert_eq!(d(" P7D "), Some(7 * 86_400));
        assert_eq!(d("-PT1H"), Some(0), "negative reads as zero");
        assert_eq!(d("P99999999999Y"), Some(MAX_DURATION_SECS), "saturates");
    }

    #[test]
    fn malformed_xs_durations_are_refused() {
        for bad in [
            "", "P", "PT", "1H", "PT1", "P1H", "PT1D", "P1DT", "PT1H1H", "PT1M1H", "P1.5D",
            "PT.5S", "PT5.S", "PT1.2.3S", "P-1D", "PT1h", "P1D1Y", "P１D",
        ] {
            assert_eq!(d(bad), None, "{bad:?}");
        }
    }

    fn validity(xml: &str) -> Result<MetadataValidity, String> {
        let doc = roxmltree::Document::parse(xml).unwrap();
        let root = doc.root_element();
        let mut nodes = vec![root];
        nodes.extend(root.children().filter(|n| n.is_element()));
        MetadataValidity::read(&nodes)
    }

    #[test]
    fn the_strictest_values_win() {
        let v = validity(
            r#"<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" cacheDuration="P1D" validUntil="2030-02-01T00:00:00Z">
                 <md:EntityDescriptor cacheDuration="PT6H" validUntil="2030-03-01T00:00:00Z"/>
               </md:EntitiesDescriptor>"#,
        )
        .unwrap();
        assert_eq!(v.cache_duration, Some(TimeDelta::hours(6)));
        assert_eq!(
            v.valid_until,
            Some("2030-02-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap())
        );
        let t = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        assert!(!v.expired_at(t("2030-01-31T23:59:59Z")));
        assert!(v.expired_at(t("2030-02-01T00:00:00Z")));
        assert_eq!(
            validity(r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"/>"#),
            Ok(MetadataValidity::default())
        );
    }

    #[test]
    fn unreadable_values_are_errors() {
        let e = validity(r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" cacheDuration="forever"/>"#)
            .unwrap_err();
        assert!(e.contains("cacheDuration"), "{e}");
        let e = validity(r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" validUntil="next week"/>"#)
            .unwrap_err();
        assert!(e.contains("validUntil"), "{e}");
    }
}
