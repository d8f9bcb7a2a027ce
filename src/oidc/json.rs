//! Strict JSON for JOSE headers and claim sets: duplicate member names are refused at every depth.
//!
//! `serde_json::Value` silently keeps the last of two equal keys (`{"sub":"a","sub":"admin"}`), a
//! JSON-interoperability hazard (docs/SECURITY.md J17, RFC 7515 §5.2). [`parse_object`] is the only way
//! header and payload bytes become JSON here. The top level must be an object; nesting is bounded
//! by serde_json's recursion limit (128).

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::fmt;

/// A JSON value whose objects, at every depth, had no duplicate member names.
struct Strict(Value);

impl<'de> serde::Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Strict;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Strict, E> {
        Ok(Strict(Value::Bool(v)))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Strict, E> {
        Ok(Strict(Value::from(v)))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Strict, E> {
        Ok(Strict(Value::from(v)))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Strict, E> {
        // Non-finite floats cannot come out of JSON text; keep Null as the impossible fallback.
        Ok(Strict(
            serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number),
        ))
    }
    fn visit_str<E>(self, v: &str) -> Result<Strict, E> {
        Ok(Strict(Value::String(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Strict, E> {
        Ok(Strict(Value::String(v)))
    }
    fn visit_unit<E>(self) -> Result<Strict, E> {
        Ok(Strict(Value::Null))
    }
    fn visit_none<E>(self) -> Result<Strict, E> {
        Ok(Strict(Value::Null))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Strict, A::Error> {
        let mut out = Vec::new();
        while let Some(Strict(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Strict(Value::Array(out)))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Strict, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                // The name is the sender's: the message says where, not what.
                return Err(de::Error::custom("a member name appears twice"));
            }
            let Strict(v) = map.next_value()?;
            out.insert(key, v);
        }
        Ok(Strict(Value::Object(out)))
    }
}

/// Parse `bytes` as one JSON object with no duplicate member names at any depth.
pub fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, String> {
    let Strict(v) = serde_json::from_slice::<Strict>(bytes).map_err(|e| {
        // serde_json's own messages quote the sender's names and values: only the kind of
        // problem and its position are reported.
        if e.to_string().starts_with("a member name appears twice") {
            format!(
                "a member name appears twice (at line {}, column {})",
                e.line(),
                e.column()
            )
        } else {
            format!("not valid JSON ({})", e.classify_name())
        }
    })?;
    match v {
        Value::Object(m) => Ok(m),
        _ => Err("not a JSON object".into()),
    }
}

trait ClassifyName {
    fn classify_name(&self) -> &'static str;
}

impl ClassifyName for serde_json::Error {
    fn classify_name(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "I/O",
            serde_json::error::Category::Syntax => "syntax error",
            serde_json::error::Category::Data => "unexpected data",
            serde_json::error::Category::Eof => "truncated",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_object;

    #[test]
    fn duplicates_refused_at_every_depth() {
        assert!(parse_object(br#"{"sub":"a","sub":"admin"}"#).is_err());
        assert!(parse_object(br#"{"x":{"k":1,"k":2}}"#).is_err());
        assert!(parse_object(br#"{"x":[{"k":1,"k":2}]}"#).is_err());
        assert!(parse_object(br#"{"x":{"k":1},"y":{"k":2}}"#).is_ok());
    }

    #[test]
    fn top_level_must_be_object_and_text_must_be_json() {
        assert!(parse_object(b"[]").is_err());
        assert!(parse_object(b"\xef\xbb\xbf{}").is_err()); // BOM
        assert!(parse_object(br#"{"a":"\ud800"}"#).is_err()); // lone surrogate
        assert!(parse_object(b"{} x").is_err());
    }
}
