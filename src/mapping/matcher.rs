//! Matchers on verified identity values: `equals`, `one_of`, `glob`, `regex` and `contains`.
//!
//! Invariants: `glob` (`*` any run of characters, `?` one character) and `regex` are anchored —
//! they must match the whole value (`prod` never matches `preprod`). The scalar matchers (`equals`,
//! `one_of`, `glob`, `regex`) need an attribute with exactly one value: a multi-valued attribute
//! does not match them (use `contains`, which is true when any value equals the given one). A
//! missing attribute matches nothing. Matching is exact and case-sensitive.

use regex::{Regex, RegexBuilder};
use toml::Value;

/// Largest compiled regex (bytes): bounds memory for operator-written patterns.
pub const REGEX_SIZE_LIMIT: usize = 256 * 1024;

/// One compiled matcher.
#[derive(Clone, Debug)]
pub enum Matcher {
    Equals(String),
    OneOf(Vec<String>),
    /// A glob or regex, compiled anchored; `source` is the text as configured.
    Pattern {
        source: String,
        re: Regex,
    },
    Contains(String),
}

const KNOWN: &str = "equals, one_of, glob, regex, contains";

impl Matcher {
    /// Parse a config value: a plain string (shorthand for `equals`) or a table with exactly one of
    /// the matcher keys.
    pub fn from_config(value: &Value) -> Result<Self, String> {
        let table = match value {
            Value::String(s) => return Ok(Self::Equals(s.clone())),
            Value::Table(t) => t,
            other => {
                return Err(format!(
                    "a matcher must be a string or a table with one of {KNOWN} (got a {})",
                    other.type_str()
                ))
            }
        };
        let mut entries = table.iter();
        let (Some((kind, arg)), None) = (entries.next(), entries.next()) else {
            return Err(format!("a matcher table needs exactly one of {KNOWN}"));
        };
        let string = |v: &Value| {
            v.as_str()
                .map(str::to_owned)
                .ok_or_else(|| format!("{kind} takes a string"))
        };
        match kind.as_str() {
            "equals" => Ok(Self::Equals(string(arg)?)),
            "contains" => Ok(Self::Contains(string(arg)?)),
            "one_of" => {
                let list = arg
                    .as_array()
                    .and_then(|a| a.iter().map(|v| v.as_str().map(str::to_owned)).collect())
                    .ok_or("one_of takes a list of strings")?;
                let list: Vec<String> = list;
                if list.is_empty() {
                    return Err("one_of needs at least one value".into());
                }
                Ok(Self::OneOf(list))
            }
            "glob" => {
                let g = string(arg)?;
                let re = anchored(&glob_to_regex(&g)).map_err(|e| format!("glob: {e}"))?;
                Ok(Self::Pattern { source: g, re })
            }
            "regex" => {
                let r = string(arg)?;
                let re = anchored(&r).map_err(|e| format!("regex: {e}"))?;
                Ok(Self::Pattern { source: r, re })
            }
            other => Err(format!("unknown matcher {other:?} (use one of {KNOWN})")),
        }
    }

    /// Whether the verified values of one attribute (or the subject, as one value) match.
    pub fn matches(&self, values: &[String]) -> bool {
        match (self, values) {
            (Self::Contains(want), vals) => vals.iter().any(|v| v == want),
            (Self::Equals(want), [one]) => one == want,
            (Self::OneOf(list), [one]) => list.iter().any(|w| w == one),
            (Self::Pattern { re, .. }, [one]) => re.is_match(one),
            _ => false,
        }
    }
}

fn anchored(pattern: &str) -> Result<Regex, regex::Error> {
    RegexBuilder::new(&format!("^(?:{pattern})$"))
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
}

fn glob_to_regex(glob: &str) -> String {
    let mut re = String::new();
    for c in glob.chars() {
        match c {
            '*' => re.push_str("(?s:.*)"),
            '?' => re.push_str("(?s:.)"),
            c => re.push_str(&regex::escape(&c.to_string())),
        }
    }
    re
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(toml_text: &str) -> Matcher {
        let v: toml::Table = toml_text.parse().unwrap();
        Matcher::from_config(&v["m"]).unwrap()
    }
    fn one(s: &str) -> Vec<String> {
        vec![s.to_owned()]
    }

    #[test]
    fn regex_and_glob_are_anchored() {
        let r = m(r#"m = { regex = "prod" }"#);
        assert!(r.matches(&one("prod")));
        assert!(!r.matches(&one("preprod")));
        assert!(!r.matches(&one("production")));
        let alt = m(r#"m = { regex = "a|b" }"#);
        assert!(
            !alt.matches(&one("ab")),
            "alternation stays inside the anchors"
        );
        let g = m(r#"m = { glob = "repo:my-org/*:ref:refs/heads/main" }"#);
        assert!(g.matches(&one("repo:my-org/app:ref:refs/heads/main")));
        assert!(!g.matches(&one("repo:my-org/app:ref:refs/heads/main2")));
        assert!(!g.matches(&one("xrepo:my-org/app:ref:refs/heads/main")));
        let q = m(r#"m = { glob = "a?c.d" }"#);
        assert!(q.matches(&one("abc.d")));
        assert!(
            !q.matches(&one("abcxd")),
            "glob metacharacters other than * ? are literal"
        );
    }

    #[test]
    fn scalar_matchers_need_one_value_contains_does_not() {
        let e = m(r#"m = "x""#);
        assert!(e.matches(&one("x")));
        assert!(!e.matches(&["x".into(), "y".into()]));
        assert!(!e.matches(&[]));
        let o = m(r#"m = { one_of = ["prod", "staging"] }"#);
        assert!(o.matches(&one("staging")) && !o.matches(&one("dev")));
        let c = m(r#"m = { contains = "admins" }"#);
        assert!(c.matches(&["users".into(), "admins".into()]));
        assert!(!c.matches(&one("Admins")));
    }

    #[test]
    fn bad_matchers_are_refused() {
        for bad in [
            r#"m = { equal = "x" }"#,
            r#"m = { equals = "x", glob = "y" }"#,
            r#"m = { regex = "(" }"#,
            r#"m = { one_of = [] }"#,
            r#"m = { one_of = [1] }"#,
            r#"m = 3"#,
        ] {
            let v: toml::Table = bad.parse().unwrap();
            assert!(Matcher::from_config(&v["m"]).is_err(), "{bad}");
        }
    }
}
