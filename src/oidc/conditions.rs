//! Per-provider claim conditions: `claim = ["pattern", ...]`, every configured claim must match.
//!
//! Patterns follow IAM `StringLike`: `*` matches any run of characters (including `/` and `:`),
//! `?` exactly one; everything else is literal and case-sensitive. A string claim matches when any
//! pattern matches it; an array claim only when it is non-empty and every element matches (no
//! element can smuggle in another value). A missing or non-string claim fails (fail closed).

use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// `*`/`?` glob match, linear-time backtracking (no regex, no catastrophic cases).
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None::<usize>, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || (p[pi] != '*' && p[pi] == t[ti])) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// The first claim whose condition fails, if any.
pub fn first_failure<'a>(
    conditions: &'a BTreeMap<String, Vec<String>>,
    claims: &Map<String, Value>,
) -> Option<&'a str> {
    conditions.iter().find_map(|(claim, patterns)| {
        let any = |s: &str| patterns.iter().any(|p| glob_match(p, s));
        let ok = match claims.get(claim) {
            Some(Value::String(s)) => any(s),
            Some(Value::Array(a)) if !a.is_empty() => a.iter().all(|v| v.as_str().is_some_and(any)),
            _ => false,
        };
        (!ok).then_some(claim.as_str())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("repo:org/*", "repo:org/app:ref:refs/heads/main"));
        assert!(!glob_match("repo:org/*", "repo:org2/app"));
        assert!(glob_match("a?c", "abc"));
        assert!(!glob_match("abc", "abcd"));
        assert!(glob_match("*", ""));
        assert!(glob_match("*x*y", "axbxy"));
    }

    #[test]
    fn arrays_need_every_element() {
        let mut c = BTreeMap::new();
        c.insert("groups".to_string(), vec!["eng-*".to_string()]);
        let claims = |v: Value| {
            serde_json::json!({ "groups": v })
                .as_object()
                .unwrap()
                .clone()
        };
        assert_eq!(
            first_failure(&c, &claims(serde_json::json!(["eng-a"]))),
            None
        );
        assert!(first_failure(&c, &claims(serde_json::json!(["eng-a", "admin"]))).is_some());
        assert!(first_failure(&c, &claims(serde_json::json!([]))).is_some());
        assert!(first_failure(&c, &Map::new()).is_some());
    }
}
