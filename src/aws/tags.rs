//! Session tags (docs/AWS-RULES.md §4.2): at most 50; key 1–128 and value 0–256 characters from letters,
//! digits, space and `_ . : / = + - @`; no `aws:` prefix; keys unique case-insensitively (AWS
//! overrides "regardless of case"); transitive keys must name passed tags.

use super::AwsNameError;
use std::collections::BTreeMap;

/// Most session tags one session may carry.
pub const MAX_SESSION_TAGS: usize = 50;
/// Longest tag key.
pub const TAG_KEY_MAX_LEN: usize = 128;
/// Longest tag value.
pub const TAG_VALUE_MAX_LEN: usize = 256;

fn is_tag_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, ' ' | '_' | '.' | ':' | '/' | '=' | '+' | '-' | '@')
}

fn check_tag_text(what: &'static str, s: &str, max: usize) -> Result<(), AwsNameError> {
    if s.chars().count() > max {
        return Err(AwsNameError::new(
            what,
            format!("must be at most {max} characters"),
        ));
    }
    if s.to_ascii_lowercase().starts_with("aws:") {
        return Err(AwsNameError::new(
            what,
            "must not begin with \"aws:\" (reserved)",
        ));
    }
    if let Some(bad) = s.chars().find(|c| !is_tag_char(*c)) {
        return Err(AwsNameError::new(
            what,
            format!(
                "character {bad:?} is not allowed (letters, digits, space and _ . : / = + - @)"
            ),
        ));
    }
    if s.starts_with(char::is_whitespace) || s.ends_with(char::is_whitespace) {
        return Err(AwsNameError::new(
            what,
            "must not have leading or trailing whitespace",
        ));
    }
    Ok(())
}

/// A session tag key.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct TagKey(String);

impl TagKey {
    pub fn parse(s: &str) -> Result<Self, AwsNameError> {
        if s.is_empty() {
            return Err(AwsNameError::new("session tag key", "must not be empty"));
        }
        check_tag_text("session tag key", s, TAG_KEY_MAX_LEN)?;
        Ok(Self(s.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A session tag value (may be empty).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct TagValue(String);

impl TagValue {
    pub fn parse(s: &str) -> Result<Self, AwsNameError> {
        check_tag_text("session tag value", s, TAG_VALUE_MAX_LEN)?;
        Ok(Self(s.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A checked set of session tags plus the keys marked transitive.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct SessionTags {
    tags: BTreeMap<TagKey, TagValue>,
    transitive: Vec<TagKey>,
}

impl SessionTags {
    pub fn new(
        tags: Vec<(TagKey, TagValue)>,
        transitive: Vec<TagKey>,
    ) -> Result<Self, AwsNameError> {
        const WHAT: &str = "session tags";
        if tags.len() > MAX_SESSION_TAGS {
            return Err(AwsNameError::new(
                WHAT,
                format!("at most {MAX_SESSION_TAGS} tags (got {})", tags.len()),
            ));
        }
        let mut lower = std::collections::HashSet::new();
        let mut map = BTreeMap::new();
        for (k, v) in tags {
            if !lower.insert(k.as_str().to_lowercase()) {
                return Err(AwsNameError::new(
                    WHAT,
                    format!(
                        "tag key {:?} appears twice (keys are compared case-insensitively)",
                        k.as_str()
                    ),
                ));
            }
            map.insert(k, v);
        }
        let mut seen = std::collections::HashSet::new();
        for t in &transitive {
            if !map.contains_key(t) {
                return Err(AwsNameError::new(
                    WHAT,
                    format!("transitive tag key {:?} names no passed tag", t.as_str()),
                ));
            }
            if !seen.insert(t.as_str()) {
                return Err(AwsNameError::new(
                    WHAT,
                    format!("transitive tag key {:?} listed twice", t.as_str()),
                ));
            }
        }
        Ok(Self {
            tags: map,
            transitive,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.tags.is_empty()
    }
    pub fn len(&self) -> usize {
        self.tags.len()
    }
    pub fn iter(&self) -> impl Iterator<Item = (&TagKey, &TagValue)> {
        self.tags.iter()
    }
    pub fn transitive_keys(&self) -> &[TagKey] {
        &self.transitive
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(k: &str, v: &str) -> (TagKey, TagValue) {
        (TagKey::parse(k).unwrap(), TagValue::parse(v).unwrap())
    }

    #[test]
    fn limits() {
        assert!(TagKey::parse("").is_err());
        assert!(TagKey::parse(&"k".repeat(129)).is_err());
        assert!(TagValue::parse("").is_ok());
        assert!(TagValue::parse(&"v".repeat(257)).is_err());
        assert!(TagKey::parse("aws:foo").is_err());
        assert!(TagValue::parse("a;b").is_err());
        let many: Vec<_> = (0..51).map(|i| kv(&format!("k{i}"), "v")).collect();
        assert!(SessionTags::new(many, vec![]).is_err());
    }

    #[test]
    fn case_insensitive_duplicate_keys_rejected() {
        assert!(SessionTags::new(vec![kv("Team", "a"), kv("team", "b")], vec![]).is_err());
    }

    #[test]
    fn transitive_must_be_subset() {
        let t = vec![kv("Project", "x")];
        assert!(SessionTags::new(t.clone(), vec![TagKey::parse("Other").unwrap()]).is_err());
        assert!(SessionTags::new(t, vec![TagKey::parse("Project").unwrap()]).is_ok());
    }
}
