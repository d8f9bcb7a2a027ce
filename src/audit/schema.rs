//! The audit schema: every event the audit log writes, with exactly its fields and their JSON
//! types. This list is the single source of the table in `docs/OPERATIONS.md` (a unit test
//! compares the two; `FEDBROKER_WRITE_DOCS=1 cargo test --lib audit::schema` rewrites the table)
//! and of [`check`], which the audit tests run on every record they see.
//!
//! Invariants: a record has exactly the fields listed for its event (none missing, none extra)
//! with the listed types; a field marked "or null" is always present, null when not applicable.
//! Event names and existing fields are a contract with SIEM rules: add, never rename or remove.

use serde_json::Value;

/// A field's JSON type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Type {
    Str,
    StrOrNull,
    Int,
    IntOrNull,
    Bool,
    StrArray,
}

impl Type {
    fn name(self) -> &'static str {
        match self {
            Self::Str => "string",
            Self::StrOrNull => "string or null",
            Self::Int => "integer",
            Self::IntOrNull => "integer or null",
            Self::Bool => "boolean",
            Self::StrArray => "array of strings",
        }
    }

    fn accepts(self, v: &Value) -> bool {
        match self {
            Self::Str => v.is_string(),
            Self::StrOrNull => v.is_string() || v.is_null(),
            Self::Int => v.is_u64() || v.is_i64(),
            Self::IntOrNull => v.is_u64() || v.is_i64() || v.is_null(),
            Self::Bool => v.is_boolean(),
            Self::StrArray => v.as_array().is_some_and(|a| a.iter().all(Value::is_string)),
        }
    }
}

/// One field of an event: name, type, what it holds.
pub type Field = (&'static str, Type, &'static str);

/// One event: its name, when it is written, what `audit.fail_closed` does when it cannot be
/// written, and its fields (after `time` and `event`, which every record has).
pub struct Event {
    pub name: &'static str,
    pub when: &'static str,
    pub fail_closed: &'static str,
    pub fields: &'static [Field],
}

use Type::{Bool, Int, IntOrNull, Str, StrArray, StrOrNull};

/// `time` and `event`, first in every record.
pub const COMMON: &[Field] = &[
    ("time", Str, "RFC 3339, UTC, whole seconds"),
    ("event", Str, "the event name"),
];

const CLIENT_IP: Field = (
    "client_ip",
    StrOrNull,
    "the client's address: the TCP peer, or the client a peer in `server.trusted_proxies` named in its forwarding header",
);

/// Every event the audit log writes.
pub const EVENTS: &[Event] = &[
    Event {
        name: "credentials.issued",
        when: "credentials (or the credentials behind a console URL) are about to be handed out on an API or browser route",
        fail_closed: "refused: 503 `audit_unavailable`, credentials withheld (still cached)",
        fields: &[
            ("decision", Str, "`issued`"),
            ("reason", Str, "`rule NAME; cache OUTCOME`"),
            ("route", Str, "`saml`, `web_identity`, `container`, `console_url`, `console`, `cli` (`POST /v1/credentials` with a CLI session)"),
            ("protocol", Str, "`saml` or `oidc`"),
            ("provider", Str, "configured IdP or OIDC provider name"),
            ("issuer", Str, "the IdP's entity ID or the token's `iss`"),
            ("subject_hash", Str, "16 hex: SHA-256 of issuer, NUL, subject"),
            ("role_arn", Str, "the role assumed"),
            ("mode", Str, "`pass-through`, `assume-role` or `issuer`"),
            ("session_name", StrOrNull, "the RoleSessionName sent to STS (CloudTrail `roleSessionName`); **may be personal data**"),
            ("source_identity", StrOrNull, "the SourceIdentity sent to STS; **may be personal data**"),
            ("tag_keys", StrArray, "session tag keys (never their values)"),
            ("sts_request_id", StrOrNull, "STS request ID (CloudTrail `requestID`); null when STS returned none"),
            ("access_key_id", Str, "CloudTrail `userIdentity.accessKeyId`"),
            ("assumed_role_arn", Str, "`arn:…:sts::ACCOUNT:assumed-role/ROLE/SESSION`; ends with the session name, **may be personal data**"),
            ("expiration", Str, "RFC 3339, when the credentials expire"),
            ("duration_seconds", Int, "the negotiated DurationSeconds"),
            ("legacy_algorithm", Bool, "the SAML signature was accepted only through `legacy_algorithms`"),
            CLIENT_IP,
        ],
    },
    Event {
        name: "credentials.refused",
        when: "a credential or console-URL request is refused (the identity may not be verified)",
        fail_closed: "nothing more to refuse",
        fields: &[
            ("decision", Str, "`refused`"),
            ("reason", Str, "the stable error code, e.g. `saml_replay`"),
            ("route", Str, "as for `credentials.issued`"),
            CLIENT_IP,
        ],
    },
    Event {
        name: "console.url_issued",
        when: "a console sign-in URL is about to be handed out (the URL itself is a credential and is never written)",
        fail_closed: "refused: 503 `audit_unavailable`, the URL withheld",
        fields: &[
            ("decision", Str, "`issued`"),
            ("route", Str, "`console_url` (API) or `console` (role picker)"),
            ("provider", Str, "configured IdP or OIDC provider name"),
            ("subject_hash", Str, "as for `credentials.issued`"),
            ("role_arn", Str, "the role of the console session"),
            ("access_key_id", Str, "the credentials behind the URL (joins `credentials.issued`)"),
            ("destination_host", Str, "host of the console page the URL opens"),
            ("session_duration", IntOrNull, "console `SessionDuration` in seconds; null: omitted, the credentials' lifetime"),
            ("expires_at", Str, "RFC 3339, when the URL stops working"),
        ],
    },
    Event {
        name: "signin.succeeded",
        when: "a browser session was started at `/saml/acs` or `/oidc/callback`",
        fail_closed: "refused: the new session is ended, 503 `audit_unavailable` page",
        fields: &[
            ("decision", Str, "`succeeded`"),
            ("route", Str, "`saml_acs` or `oidc_callback`"),
            ("protocol", Str, "`saml` or `oidc`"),
            ("provider", Str, "configured IdP or OIDC provider name"),
            ("issuer", Str, "the IdP's entity ID or the token's `iss`"),
            ("subject_hash", Str, "as for `credentials.issued`"),
            CLIENT_IP,
        ],
    },
    Event {
        name: "signin.refused",
        when: "a browser sign-in at `/saml/acs` or `/oidc/callback` is refused",
        fail_closed: "nothing more to refuse",
        fields: &[
            ("decision", Str, "`refused`"),
            ("reason", Str, "the stable error code shown to the browser, e.g. `saml_replay`, `login_state_invalid`"),
            ("route", Str, "`saml_acs` or `oidc_callback`"),
            ("provider", StrOrNull, "set when the identity was verified but the sign-in still refused (browser binding, replay, session store); else null"),
            ("subject_hash", StrOrNull, "as `provider`"),
            CLIENT_IP,
        ],
    },
    Event {
        name: "signout",
        when: "a browser session is ended at `POST /logout`",
        fail_closed: "never refused (a sign-out always ends the session)",
        fields: &[
            ("decision", Str, "`signed_out`"),
            ("route", Str, "`logout`"),
            ("protocol", Str, "`saml` or `oidc`"),
            ("provider", Str, "configured IdP or OIDC provider name"),
            ("subject_hash", Str, "as for `credentials.issued`"),
            CLIENT_IP,
        ],
    },
    Event {
        name: "admin.revoke",
        when: "an authenticated `POST /v1/admin/revoke` was applied or refused",
        fail_closed: "never refused: the revocation has already cut access when the record is written, and its answer (the deny policy) cannot be rebuilt by a retry",
        fields: &[
            ("decision", Str, "`revoked` or `refused`"),
            ("reason", StrOrNull, "the error code when refused, else null"),
            ("admin", Str, "admin token fingerprint: the first 16 hex of SHA-256 of the token"),
            CLIENT_IP,
            ("target_kind", StrOrNull, "`subject` or `role`; null when the request named neither validly"),
            ("target", StrOrNull, "role: the role ARN; subject: `sub:` and 64 hex (the revocation label, SHA-256 of the subject, as in the diagnostic log); null as `target_kind`"),
            ("purged", IntOrNull, "cache entries purged; null when refused"),
            ("blocked_until", StrOrNull, "RFC 3339, end of the re-issue block; null when none or refused"),
        ],
    },
    Event {
        name: "admin.reload",
        when: "an authenticated `POST /v1/admin/reload` was applied or refused",
        fail_closed: "never refused: it only re-reads the configuration file the operator controls, and a reload can carry an urgent certificate rotation",
        fields: &[
            ("decision", Str, "`reloaded` or `refused`"),
            ("reason", StrOrNull, "the error code when refused (`config_reload_failed`, `reload_unavailable`), else null"),
            ("admin", Str, "as for `admin.revoke`"),
            CLIENT_IP,
        ],
    },
    Event {
        name: "admin.unauthorized",
        when: "a call to `/v1/admin/*` is refused before it is authenticated (no token material is written)",
        fail_closed: "nothing more to refuse",
        fields: &[
            ("decision", Str, "`refused`"),
            ("reason", Str, "`admin_unauthorized` (missing or wrong token) or `admin_disabled` (no token configured)"),
            ("route", Str, "`admin_revoke` or `admin_reload`"),
            CLIENT_IP,
        ],
    },    Event {
        name: "oauth.device_authorized",
        when: "`POST /oauth/device_authorization` is about to hand out a device code (no code is written)",
        fail_closed: "refused: 503 `audit_unavailable`, no code handed out",
        fields: crate::oauth::events::SCHEMA_FIELDS,
    },
    Event {
        name: "oauth.device_approved",
        when: "a signed-in person approved a device code on `POST /device`",
        fail_closed: "never refused: the decision is stored; the tokens it leads to are audited as `oauth.token_issued`, which refuses",
        fields: crate::oauth::events::SCHEMA_FIELDS,
    },
    Event {
        name: "oauth.device_denied",
        when: "a signed-in person denied a device code on `POST /device`",
        fail_closed: "never refused (nothing is handed out)",
        fields: crate::oauth::events::SCHEMA_FIELDS,
    },
    Event {
        name: "oauth.code_issued",
        when: "a signed-in person approved a loopback sign-in: an authorization code is about to go to the CLI's redirect (the code is never written)",
        fail_closed: "refused: 503 `audit_unavailable` page, the redirect withheld (the unused code expires in 60 s)",
        fields: crate::oauth::events::SCHEMA_FIELDS,
    },
    Event {
        name: "oauth.code_denied",
        when: "a signed-in person denied a loopback sign-in",
        fail_closed: "never refused (nothing is handed out)",
        fields: crate::oauth::events::SCHEMA_FIELDS,
    },
    Event {
        name: "oauth.code_replayed",
        when: "an authorization code came back after its exchange: the session it produced was ended",
        fail_closed: "never refused: the session has already ended",
        fields: crate::oauth::events::SCHEMA_FIELDS,
    },
    Event {
        name: "oauth.token_issued",
        when: "a CLI session was created and its first tokens are about to be handed out on `POST /oauth/token` (no token is written)",
        fail_closed: "refused: the new session is ended, 503 `audit_unavailable`",
        fields: crate::oauth::events::SCHEMA_FIELDS,
    },
    Event {
        name: "oauth.token_refreshed",
        when: "a refresh token is about to get a new access token on `POST /oauth/token`",
        fail_closed: "refused: 503 `audit_unavailable`, the new access token withheld",
        fields: crate::oauth::events::SCHEMA_FIELDS,
    },
    Event {
        name: "oauth.logged_out",
        when: "`POST /oauth/revoke` ended a CLI session (`fedbroker logout`)",
        fail_closed: "never refused (the session has already ended)",
        fields: crate::oauth::events::SCHEMA_FIELDS,
    },
];

/// The schema of `event`, if it is one.
pub fn event(name: &str) -> Option<&'static Event> {
    EVENTS.iter().find(|e| e.name == name)
}

/// Whether `record` has exactly the fields of its event, with their types.
pub fn check(record: &Value) -> Result<(), String> {
    let obj = record.as_object().ok_or("not a JSON object")?;
    let name = obj
        .get("event")
        .and_then(Value::as_str)
        .ok_or("no string \"event\"")?;
    let schema = event(name).ok_or_else(|| format!("event {name:?} is not in the schema"))?;
    let fields: Vec<&Field> = COMMON.iter().chain(schema.fields).collect();
    for (field, ty, _) in &fields {
        match obj.get(*field) {
            None => return Err(format!("{name}: field {field:?} missing")),
            Some(v) if !ty.accepts(v) => {
                return Err(format!("{name}: field {field:?} is {v}, not {}", ty.name()))
            }
            Some(_) => {}
        }
    }
    if let Some(extra) = obj.keys().find(|k| !fields.iter().any(|(f, _, _)| f == k)) {
        return Err(format!("{name}: field {extra:?} is not in the schema"));
    }
    Ok(())
}

/// The schema as the Markdown tables of `docs/OPERATIONS.md`.
pub fn markdown() -> String {
    let mut out = String::from(
        "| Event | When it is written | If it cannot be written and `fail_closed = true` |\n|---|---|---|\n",
    );
    for e in EVENTS {
        out.push_str(&format!(
            "| `{}` | {} | {} |\n",
            e.name, e.when, e.fail_closed
        ));
    }
    out.push_str("\nEvery record starts with `time` (string, RFC 3339, UTC, whole seconds) and `event` (string). Then:\n\n| Event | Field | Type | Value |\n|---|---|---|---|\n");
    for e in EVENTS {
        for (field, ty, meaning) in e.fields {
            out.push_str(&format!(
                "| `{}` | `{field}` | {} | {meaning} |\n",
                e.name,
                ty.name()
            ));
        }
    }
    out
}

/// Markers around the generated tables in `docs/OPERATIONS.md`.
pub const DOC_BEGIN: &str = "<!-- audit-schema:begin (generated from src/audit/schema.rs) -->\n";
pub const DOC_END: &str = "<!-- audit-schema:end -->";

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn operations_doc_has_the_schema_table() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/OPERATIONS.md");
        let doc = std::fs::read_to_string(path).unwrap();
        let start = doc.find(DOC_BEGIN).expect("begin marker") + DOC_BEGIN.len();
        let end = doc.find(DOC_END).expect("end marker");
        let want = markdown();
        if doc[start..end] != want && std::env::var_os("FEDBROKER_WRITE_DOCS").is_some() {
            std::fs::write(path, format!("{}{want}{}", &doc[..start], &doc[end..])).unwrap();
            return;
        }
        assert_eq!(
            doc[start..end],
            want,
            "docs/OPERATIONS.md's audit tables differ from src/audit/schema.rs; \
             rerun with FEDBROKER_WRITE_DOCS=1 to rewrite them"
        );
    }

    #[test]
    fn event_names_are_unique_and_fields_never_repeat() {
        for (i, e) in EVENTS.iter().enumerate() {
            assert!(EVENTS[..i].iter().all(|o| o.name != e.name), "{}", e.name);
            let names: Vec<&str> = COMMON.iter().chain(e.fields).map(|f| f.0).collect();
            for (j, n) in names.iter().enumerate() {
                assert!(!names[..j].contains(n), "{}: {n} twice", e.name);
            }
        }
    }

    #[test]
    fn check_refuses_missing_extra_and_mistyped_fields() {
        let ok = json!({"time":"t","event":"admin.unauthorized","decision":"refused",
            "reason":"admin_unauthorized","route":"admin_revoke","client_ip":null});
        assert_eq!(check(&ok), Ok(()));
        let mut missing = ok.clone();
        missing.as_object_mut().unwrap().remove("client_ip");
        assert!(check(&missing).unwrap_err().contains("missing"));
        let mut extra = ok.clone();
        extra["token"] = json!("x");
        assert!(check(&extra).unwrap_err().contains("not in the schema"));
        let mut mistyped = ok.clone();
        mistyped["route"] = json!(1);
        assert!(check(&mistyped).unwrap_err().contains("not string"));
        assert!(check(&json!({"time":"t","event":"made.up"})).is_err());
    }
}
