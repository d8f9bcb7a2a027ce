//! Value templates: literal text with `{subject}`, `{issuer}`, `{provider}`, `{attributes.<name>}`
//! and `{claims.<name>}` placeholders; `{{` and `}}` are literal braces.
//!
//! Invariants: a template is parsed once, at config load (unknown placeholders and unbalanced
//! braces are load errors). Rendering reads only from a `VerifiedIdentity` and inserts each value
//! literally — a value containing `{subject}` or `}` is never expanded again, so a caller cannot
//! inject a placeholder. `attributes.X` and `claims.X` read the same verified map (SAML attributes,
//! OIDC string claims). A multi-valued or missing attribute is refused, never joined or guessed.

use crate::identity::VerifiedIdentity;

/// Where a placeholder reads from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    Subject,
    Issuer,
    Provider,
    /// An attribute or claim, by exact name.
    Attribute(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    Literal(String),
    Value(Source),
}

/// A parsed template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

impl Template {
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut lit = String::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    lit.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    lit.push('}');
                }
                '}' => return Err("unbalanced '}' (write '}}' for a literal brace)".into()),
                '{' => {
                    let mut name = String::new();
                    loop {
                        match chars.next() {
                            Some('}') => break,
                            Some('{') | None => {
                                return Err("unbalanced '{' (write '{{' for a literal brace)".into())
                            }
                            Some(c) => name.push(c),
                        }
                    }
                    if !lit.is_empty() {
                        parts.push(Part::Literal(std::mem::take(&mut lit)));
                    }
                    parts.push(Part::Value(parse_placeholder(&name)?));
                }
                c => lit.push(c),
            }
        }
        if !lit.is_empty() {
            parts.push(Part::Literal(lit));
        }
        Ok(Self { parts })
    }

    /// The text when the template has no placeholders.
    pub fn as_literal(&self) -> Option<String> {
        self.parts
            .iter()
            .map(|p| match p {
                Part::Literal(s) => Some(s.as_str()),
                Part::Value(_) => None,
            })
            .collect()
    }

    /// Render with every placeholder replaced by `filler` (used to check literal parts at load).
    pub fn probe(&self, filler: &str) -> String {
        self.parts
            .iter()
            .map(|p| match p {
                Part::Literal(s) => s.as_str(),
                Part::Value(_) => filler,
            })
            .collect()
    }

    /// Render from verified identity data only.
    pub fn render(&self, identity: &VerifiedIdentity) -> Result<String, String> {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Literal(s) => out.push_str(s),
                Part::Value(Source::Subject) => out.push_str(identity.subject()),
                Part::Value(Source::Issuer) => out.push_str(identity.issuer()),
                Part::Value(Source::Provider) => out.push_str(identity.provider()),
                Part::Value(Source::Attribute(name)) => {
                    match identity.attributes().get(name).map(Vec::as_slice) {
                        Some([one]) => out.push_str(one),
                        None | Some([]) => {
                            return Err(format!("the identity has no attribute/claim {name:?}"))
                        }
                        Some(many) => {
                            return Err(format!(
                            "attribute/claim {name:?} has {} values; a template needs exactly one",
                            many.len()
                        ))
                        }
                    }
                }
            }
        }
        Ok(out)
    }
}

fn parse_placeholder(name: &str) -> Result<Source, String> {
    let attr = |n: &str| {
        if n.is_empty() {
            Err(format!(
                "placeholder {{{name}}} needs an attribute/claim name"
            ))
        } else {
            Ok(Source::Attribute(n.to_owned()))
        }
    };
    match name {
        "subject" => Ok(Source::Subject),
        "issuer" => Ok(Source::Issuer),
        "provider" => Ok(Source::Provider),
        _ => match (
            name.strip_prefix("attributes."),
            name.strip_prefix("claims."),
        ) {
            (Some(n), _) | (_, Some(n)) => attr(n),
            _ => Err(format!(
                "unknown placeholder {{{name}}} (use {{subject}}, {{issuer}}, {{provider}}, {{attributes.NAME}} or {{claims.NAME}})"
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_placeholders_and_escapes() {
        let t = Template::parse("ci-{claims.repository}-{{x}}").unwrap();
        assert_eq!(t.as_literal(), None);
        assert_eq!(t.probe("V"), "ci-V-{x}");
        assert_eq!(
            Template::parse("plain").unwrap().as_literal().as_deref(),
            Some("plain")
        );
        assert_eq!(
            Template::parse("{attributes.https://aws.amazon.com/SAML/Attributes/RoleSessionName}")
                .unwrap()
                .probe("v"),
            "v"
        );
    }

    #[test]
    fn refuses_bad_templates() {
        for bad in ["{", "}", "a{subject", "{sub}", "{claims.}", "{a{b}}", "x}y"] {
            assert!(Template::parse(bad).is_err(), "{bad}");
        }
    }
}
