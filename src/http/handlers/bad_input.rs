//! Messages for bodies and query strings that do not parse, built without the caller's input.
//!
//! serde's messages quote what the caller sent (``unknown field `<name>` ``, ``invalid type: integer
//! `123` ``, ``unknown variant `<value>` ``), and a quoted field name can carry a newline or markup. So
//! the Display of a serde, serde_json or serde_urlencoded error never reaches a client. Instead:
//! a fixed description of what kind of problem it is, the position (line and column) for JSON,
//! and the names the broker accepts — which come from our own types ([`fields_of`]), never from
//! the request. A missing field is named only when it is one of those accepted names (or, where they are not
//! known, a plain snake_case identifier).

use serde::de::{self, Deserialize, Deserializer, Visitor};
use std::fmt;

/// What a serde message says is wrong, from its fixed leading words (never from the quoted part).
fn problem(message: &str) -> &'static str {
    const KINDS: [(&str, &str); 9] = [
        ("unknown field", "a field that is not accepted"),
        ("missing field", "a required field missing"),
        ("duplicate field", "a field more than once"),
        ("invalid type", "a value of the wrong type"),
        ("invalid value", "a value that is not accepted"),
        ("invalid length", "a list of the wrong length"),
        (
            "unknown variant",
            "a value that is not one of the accepted ones",
        ),
        ("invalid digit", "a number that is not valid"),
        (
            "data did not match any variant",
            "a value of the wrong type",
        ),
    ];
    KINDS
        .iter()
        .find(|(prefix, _)| message.starts_with(prefix))
        .map_or("a value that is not accepted", |(_, said)| said)
}

/// The name in "missing field `name`": serde writes it from the struct's own field list, so it
/// is ours. Still, it is named only when it is one of `accepted` or, when those are not known,
/// a plain snake_case identifier.
fn missing_field<'m>(message: &'m str, accepted: &[&str]) -> Option<&'m str> {
    let rest = message.strip_prefix("missing field `")?;
    let name = &rest[..rest.find('`')?];
    let plain = (1..=40).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    let ours = if accepted.is_empty() {
        plain
    } else {
        accepted.contains(&name)
    };
    ours.then_some(name)
}

/// The problem, with the missing field's name when it may be named.
fn describe(message: &str, accepted: &[&str]) -> String {
    match missing_field(message, accepted) {
        Some(name) => format!("{} ({name})", problem(message)),
        None => problem(message).to_owned(),
    }
}

fn with_accepted(mut out: String, accepted: &[&str], what: &str) -> String {
    if !accepted.is_empty() {
        out.push_str(&format!("; accepted {what}: {}", accepted.join(", ")));
    }
    out
}

/// The message for a JSON body that did not parse as a type with the `accepted` fields.
pub fn json_message(e: &serde_json::Error, accepted: &[&str]) -> String {
    use serde_json::error::Category;
    let at = format!("line {}, column {}", e.line(), e.column());
    let said = e.to_string();
    let out = match e.classify() {
        Category::Syntax => format!("the JSON body is not well-formed JSON (at {at})"),
        Category::Eof => format!("the JSON body ends too early (at {at})"),
        Category::Io => "the JSON body could not be read".to_owned(),
        Category::Data => format!("the JSON body has {} (at {at})", describe(&said, accepted)),
    };
    with_accepted(out, accepted, "fields")
}

/// The message for a query string or form (serde_urlencoded, no positions) that did not parse.
/// `what` is "query string" or "form body"; `accepted` the parameter names, when known.
pub fn urlencoded_message(what: &str, e: &dyn fmt::Display, accepted: &[&str]) -> String {
    let said = e.to_string();
    let out = format!("the {what} has {}", describe(&said, accepted));
    with_accepted(out, accepted, "parameters")
}

/// The field names a derived `Deserialize` struct accepts (empty for anything else: maps, enums,
/// untagged types). Asks the type itself, so the list cannot drift from the struct.
pub fn fields_of<'de, T: Deserialize<'de>>() -> &'static [&'static str] {
    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(FieldNames(&mut fields));
    fields
}

/// A deserializer that only records the field list a struct asks for, then stops.
struct FieldNames<'f>(&'f mut &'static [&'static str]);

#[derive(Debug)]
struct Stop;

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("field names recorded")
    }
}

impl std::error::Error for Stop {}

impl de::Error for Stop {
    fn custom<M: fmt::Display>(_: M) -> Self {
        Stop
    }
}

impl<'de> Deserializer<'de> for FieldNames<'_> {
    type Error = Stop;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
        Err(Stop)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Stop> {
        *self.0 = fields;
        Err(Stop)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[expect(
        dead_code,
        reason = "serde's field list is what the test reads, not the values"
    )]
    struct Body {
        role_arn: String,
        duration_seconds: Option<u32>,
    }

    fn json_err(body: &str) -> String {
        let e = serde_json::from_str::<Body>(body).unwrap_err();
        json_message(&e, fields_of::<Body>())
    }

    #[test]
    fn field_names_come_from_the_type() {
        assert_eq!(fields_of::<Body>(), ["role_arn", "duration_seconds"]);
        assert!(fields_of::<String>().is_empty());
    }

    #[test]
    fn unknown_field_is_described_not_quoted() {
        let m = json_err("{\"role_arn\":\"a\",\"evil\\n<b>x</b>\":1}");
        assert!(!m.contains("evil") && !m.contains('<'), "{m}");
        assert_eq!(
            m,
            "the JSON body has a field that is not accepted (at line 1, column 32); \
             accepted fields: role_arn, duration_seconds"
        );
    }

    #[test]
    fn wrong_type_is_described_not_quoted() {
        let m = json_err("{\"role_arn\":123456789}");
        assert!(!m.contains("123456789") && !m.contains("integer"), "{m}");
        assert_eq!(
            m,
            "the JSON body has a value of the wrong type (at line 1, column 21); \
             accepted fields: role_arn, duration_seconds"
        );
    }

    #[test]
    fn missing_field_is_named_from_the_type() {
        let m = json_err("{}");
        assert!(m.contains("a required field missing (role_arn)"), "{m}");
    }

    #[test]
    fn syntax_and_truncation_give_a_position() {
        assert!(json_err("{\"role_arn\" 1}").contains("not well-formed JSON (at line 1, column"));
        assert!(json_err("{\"role_arn\":").contains("ends too early"));
    }
}
