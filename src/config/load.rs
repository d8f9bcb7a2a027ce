//! Reading the TOML file, applying `FEDBROKER_SECTION__KEY` overrides, and collecting every error.
//!
//! Environment values are read as TOML literals when they parse as one (numbers, booleans, arrays,
//! quoted strings) and as plain strings otherwise. Array-of-table entries are addressed by index:
//! `FEDBROKER_SAML__IDPS__0__METADATA_FILE`. Only variables containing `__` are config overrides.

use super::errors::ConfigErrors;
use super::model::*;
use super::validate::validate;
use serde::de::DeserializeOwned;
use toml::{Table, Value};

/// Prefix of configuration environment variables.
pub const ENV_PREFIX: &str = "FEDBROKER_";

/// Load from a file (optional: defaults + environment when `None`) and the process environment.
pub fn load(path: Option<&str>) -> Result<Config, ConfigErrors> {
    let text = match path {
        Some(p) => std::fs::read_to_string(p)
            .map_err(|e| ConfigErrors(vec![format!("cannot read config file {p}: {e}")]))?,
        None => String::new(),
    };
    load_str(&text, std::env::vars())
}

/// Load from TOML text and an explicit environment (tests pass their own).
pub fn load_str(
    toml_text: &str,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Config, ConfigErrors> {
    let mut errors = ConfigErrors::default();
    let mut table: Table = match toml_text.parse::<Table>() {
        Ok(t) => t,
        Err(e) => {
            errors.push(format!("config file is not valid TOML: {}", e.message()));
            return Err(errors);
        }
    };
    let mut overrides: Vec<(String, String)> = env
        .into_iter()
        .filter(|(k, _)| k.starts_with(ENV_PREFIX) && k.contains("__"))
        .collect();
    overrides.sort();
    for (key, raw) in overrides {
        let path: Vec<String> = key[ENV_PREFIX.len()..]
            .split("__")
            .map(|s| s.to_ascii_lowercase())
            .collect();
        if let Err(e) = apply_override(&mut table, &path, env_value(&raw)) {
            errors.push(format!("environment variable {key}: {e}"));
        }
    }

    let mut cfg = Config::default();
    let mut inline_rules = None;
    for (section, value) in table {
        match section.as_str() {
            "server" => section_into(&mut cfg.server, "server", value, &mut errors),
            "aws" => section_into(&mut cfg.aws, "aws", value, &mut errors),
            "cache" => section_into(&mut cfg.cache, "cache", value, &mut errors),
            "log" => section_into(&mut cfg.log, "log", value, &mut errors),
            "issuer" => section_into(&mut cfg.issuer, "issuer", value, &mut errors),
            "console" => section_into(&mut cfg.console, "console", value, &mut errors),
            "audit" => section_into(&mut cfg.audit, "audit", value, &mut errors),
            "limits" => section_into(&mut cfg.limits, "limits", value, &mut errors),
            "oauth" => section_into(&mut cfg.oauth, "oauth", value, &mut errors),
            "saml" => saml_section(value, &mut cfg.saml, &mut errors),
            "oidc" => list_section(
                value,
                "oidc",
                "providers",
                &mut cfg.oidc.providers,
                &mut errors,
            ),
            "mapping" => section_into(&mut cfg.mapping, "mapping", value, &mut errors),
            "rules" => inline_rules = Some(value),
            other => errors.push(format!(
                "unknown section [{other}] (known: server, aws, cache, log, saml, oidc, mapping, rules, issuer, console, audit, limits, oauth)"
            )),
        }
    }
    load_rules(&mut cfg, inline_rules, &mut errors);
    validate(&cfg, &mut errors);
    if errors.is_empty() {
        Ok(cfg)
    } else {
        Err(errors)
    }
}

/// Compile `[[rules]]`, or the `[[rules]]` of `mapping.rules_file` (not both), against the
/// configured IdP and provider names.
fn load_rules(cfg: &mut Config, inline: Option<Value>, errors: &mut ConfigErrors) {
    let value = match (inline, &cfg.mapping.rules_file) {
        (Some(_), Some(_)) => {
            errors.push("mapping.rules_file: set it or write [[rules]] in this file, not both");
            return;
        }
        (Some(v), None) => v,
        (None, Some(path)) => match read_rules_file(path) {
            Ok(v) => v,
            Err(e) => {
                errors.push(format!("mapping.rules_file = {path:?}: {e}"));
                return;
            }
        },
        (None, None) => return,
    };
    let known: Vec<&str> = cfg
        .saml
        .idps
        .iter()
        .map(|i| i.name.as_str())
        .chain(cfg.oidc.providers.iter().map(|p| p.name.as_str()))
        .collect();
    match crate::mapping::compile(value, &known) {
        Ok(rules) => cfg.rules = rules,
        Err(all) => errors.0.extend(all),
    }
}

/// A rules file holds only `[[rules]]` tables.
fn read_rules_file(path: &str) -> Result<Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read: {e}"))?;
    let mut t: Table = text
        .parse()
        .map_err(|e: toml::de::Error| format!("not valid TOML: {}", e.message()))?;
    let rules = t.remove("rules").ok_or("holds no [[rules]] tables")?;
    if let Some(other) = t.keys().next() {
        return Err(format!(
            "unknown key {other:?} (a rules file holds only [[rules]])"
        ));
    }
    Ok(rules)
}

fn env_value(raw: &str) -> Value {
    match format!("v = {raw}").parse::<Table>() {
        Ok(mut t) => t
            .remove("v")
            .unwrap_or_else(|| Value::String(raw.to_owned())),
        Err(_) => Value::String(raw.to_owned()),
    }
}

fn apply_override(table: &mut Table, path: &[String], value: Value) -> Result<(), String> {
    let (last, parents) = path.split_last().ok_or("empty key")?;
    let mut cur: &mut Value = table
        .entry(parents.first().cloned().unwrap_or_else(|| last.clone()))
        .or_insert_with(|| Value::Table(Table::new()));
    if parents.is_empty() {
        *cur = value;
        return Ok(());
    }
    for seg in &parents[1..] {
        cur = step(cur, seg)?;
    }
    match cur {
        Value::Table(t) => {
            t.insert(last.clone(), value);
            Ok(())
        }
        _ => Err(format!("cannot set {last:?}: its parent is not a table")),
    }
}

fn step<'a>(cur: &'a mut Value, seg: &str) -> Result<&'a mut Value, String> {
    if let Ok(idx) = seg.parse::<usize>() {
        if let Value::Table(t) = cur {
            if t.is_empty() {
                *cur = Value::Array(Vec::new());
            }
        }
        let Value::Array(arr) = cur else {
            return Err(format!("index {idx} used on something that is not a list"));
        };
        if idx > arr.len() {
            return Err(format!(
                "index {idx} skips entries (the list has {})",
                arr.len()
            ));
        }
        if idx == arr.len() {
            arr.push(Value::Table(Table::new()));
        }
        return Ok(&mut arr[idx]);
    }
    let Value::Table(t) = cur else {
        return Err(format!("cannot descend into {seg:?}: not a table"));
    };
    Ok(t.entry(seg.to_owned())
        .or_insert_with(|| Value::Table(Table::new())))
}

fn section_into<T: DeserializeOwned>(
    slot: &mut T,
    name: &str,
    value: Value,
    errors: &mut ConfigErrors,
) {
    match value.try_into::<T>() {
        Ok(v) => *slot = v,
        Err(e) => errors.push(format!("[{name}]: {}", e.message())),
    }
}

/// `[saml]`: its SP settings, then `[[saml.idps]]`.
fn saml_section(value: Value, saml: &mut super::SamlConfig, errors: &mut ConfigErrors) {
    let mut value = value;
    if let Value::Table(t) = &mut value {
        if let Some(v) = t.remove("sp_entity_id") {
            match v {
                Value::String(s) => saml.sp_entity_id = Some(s),
                _ => errors.push("saml.sp_entity_id must be a string"),
            }
        }
        for (key, slot) in [
            ("sp_key_file", &mut saml.sp_key_file),
            ("sp_cert_file", &mut saml.sp_cert_file),
        ] {
            match t.remove(key) {
                Some(Value::String(s)) => *slot = Some(s),
                Some(_) => errors.push(format!("saml.{key} must be a string (a file path)")),
                None => {}
            }
        }
        if let Some(v) = t.remove("allowed_relay_states") {
            match v.try_into::<Vec<String>>() {
                Ok(list) => saml.allowed_relay_states = Some(list),
                Err(_) => errors.push("saml.allowed_relay_states must be a list of strings"),
            }
        }
    }
    list_section(value, "saml", "idps", &mut saml.idps, errors);
}

fn list_section<T: DeserializeOwned>(
    value: Value,
    section: &str,
    key: &str,
    out: &mut Vec<T>,
    errors: &mut ConfigErrors,
) {
    let Value::Table(mut t) = value else {
        errors.push(format!("[{section}] must be a table"));
        return;
    };
    let list = t.remove(key);
    for other in t.keys() {
        errors.push(format!(
            "unknown key {section}.{other} (known: {key}{})",
            if section == "saml" {
                ", sp_entity_id, allowed_relay_states, sp_key_file, sp_cert_file"
            } else {
                ""
            }
        ));
    }
    let Some(list) = list else { return };
    let Value::Array(items) = list else {
        errors.push(format!(
            "{section}.{key} must be a list ([[{section}.{key}]] tables)"
        ));
        return;
    };
    for (i, item) in items.into_iter().enumerate() {
        match item.try_into::<T>() {
            Ok(v) => out.push(v),
            Err(e) => errors.push(format!("[[{section}.{key}]] #{i}: {}", e.message())),
        }
    }
}
