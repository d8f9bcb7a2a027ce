//! Turning the `[[rules]]` config into checked `Rules`, collecting every problem at once.
//!
//! Each message names the rule, the grant and the key, e.g.
//! `rules[2] ("ci-deploy").grants[0].tags: 51 tags (AWS allows at most 50)`. Everything that can be
//! checked without an identity is checked here: literal values with the AWS newtypes, the literal
//! parts of templates, tag count and case-insensitive key collisions, transitive keys, durations,
//! policies, ExternalId, and which fields each STS mode can carry.

use super::matcher::Matcher;
use super::schema::{GrantConfig, RuleConfig, StsMode};
use super::subject::{RecordSubject, SUBJECT_TAG_KEY};
use super::template::Template;
use crate::aws::policy::{check_session_policies, MAX_POLICY_ARNS};
use crate::aws::tags::MAX_SESSION_TAGS;
use crate::aws::{
    AwsNameError, ExternalId, PolicyArn, RoleArn, RoleSessionName, SessionDuration, SessionPolicy,
    SessionTags, SourceIdentity, TagKey, TagValue,
};
use std::collections::HashSet;

/// Longest rule name and account alias.
pub const NAME_MAX_LEN: usize = 64;

/// The compiled rules, in configuration order. Empty: no rules configured (issue-2 behaviour).
#[derive(Clone, Debug, Default)]
pub struct Rules {
    pub(crate) rules: Vec<Rule>,
}

impl Rules {
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
    pub fn len(&self) -> usize {
        self.rules.len()
    }
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().map(|r| r.name.as_str())
    }
    /// The rules (by name) that grant some role in `mode`.
    pub fn rules_using(&self, mode: StsMode) -> impl Iterator<Item = &str> {
        self.rules
            .iter()
            .filter(move |r| r.grants.iter().any(|g| g.mode == mode))
            .map(|r| r.name.as_str())
    }
    /// `(rule, provider)` for every rule that matches on a provider name.
    pub fn providers(&self) -> impl Iterator<Item = (&str, &str)> {
        self.rules
            .iter()
            .filter_map(|r| Some((r.name.as_str(), r.when.provider.as_deref()?)))
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Rule {
    pub(crate) name: String,
    pub(crate) when: RuleMatch,
    pub(crate) grants: Vec<GrantSpec>,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct RuleMatch {
    pub(crate) provider: Option<String>,
    pub(crate) issuer: Option<Matcher>,
    pub(crate) subject: Option<Matcher>,
    /// Attribute/claim name → matcher (`claims.*` and `attributes.*` together).
    pub(crate) attributes: Vec<(String, Matcher)>,
}

#[derive(Clone, Debug)]
pub(crate) struct GrantSpec {
    pub(crate) role_arn: RoleArn,
    pub(crate) mode: StsMode,
    pub(crate) alias: Option<String>,
    pub(crate) session_name: Option<Template>,
    pub(crate) allow_caller_session_name: bool,
    /// `None`: pass-through (AWS reads the subject from the IdP's own message).
    pub(crate) record_subject: Option<RecordSubject>,
    pub(crate) duration: Option<SessionDuration>,
    pub(crate) source_identity: Option<Template>,
    pub(crate) tags: Vec<(TagKey, Template)>,
    pub(crate) transitive: Vec<TagKey>,
    pub(crate) policy: Option<SessionPolicy>,
    pub(crate) policy_arns: Vec<PolicyArn>,
    pub(crate) external_id: Option<ExternalId>,
}

/// Compile the `rules` config value (an array of tables) against the configured provider names.
pub fn compile(value: toml::Value, known_providers: &[&str]) -> Result<Rules, Vec<String>> {
    let mut errors = Vec::new();
    let toml::Value::Array(items) = value else {
        return Err(vec!["rules must be a list of [[rules]] tables".into()]);
    };
    let mut rules = Vec::new();
    let mut names = HashSet::new();
    for (i, item) in items.into_iter().enumerate() {
        let name = item
            .get("name")
            .and_then(toml::Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let at = format!("rules[{i}] ({name:?})");
        let raw: RuleConfig = match item.try_into() {
            Ok(r) => r,
            Err(e) => {
                errors.push(format!("{at}: {}", e.message().trim()));
                continue;
            }
        };
        if !is_rule_name(&raw.name) {
            errors.push(format!(
                "{at}.name: must be 1 to {NAME_MAX_LEN} characters from [A-Za-z0-9_.-]"
            ));
        }
        if !names.insert(raw.name.clone()) {
            errors.push(format!("{at}.name: duplicate rule name"));
        }
        let when = compile_match(&at, &raw, known_providers, &mut errors);
        if raw.grants.is_empty() {
            errors.push(format!(
                "{at}.grants: a rule needs at least one [[rules.grants]]"
            ));
        }
        let grants = raw
            .grants
            .iter()
            .enumerate()
            .filter_map(|(j, g)| compile_grant(&format!("{at}.grants[{j}]"), g, &mut errors))
            .collect();
        rules.push(Rule {
            name: raw.name,
            when,
            grants,
        });
    }
    if errors.is_empty() {
        Ok(Rules { rules })
    } else {
        Err(errors)
    }
}

fn is_rule_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= NAME_MAX_LEN
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

fn compile_match(
    at: &str,
    raw: &RuleConfig,
    known_providers: &[&str],
    errors: &mut Vec<String>,
) -> RuleMatch {
    let m = &raw.match_;
    if let Some(p) = &m.provider {
        if !known_providers.contains(&p.as_str()) {
            errors.push(format!(
                "{at}.match.provider: {p:?} names no configured [[saml.idps]] or [[oidc.providers]] entry"
            ));
        }
    }
    let mut one = |key: String, v: &toml::Value| match Matcher::from_config(v) {
        Ok(m) => Some(m),
        Err(e) => {
            errors.push(format!("{at}.match.{key}: {e}"));
            None
        }
    };
    let issuer = m.issuer.as_ref().and_then(|v| one("issuer".into(), v));
    let subject = m.subject.as_ref().and_then(|v| one("subject".into(), v));
    let mut attributes = Vec::new();
    for (section, map) in [("claims", &m.claims), ("attributes", &m.attributes)] {
        for (name, v) in map {
            if let Some(matcher) = one(format!("{section}.{name:?}"), v) {
                attributes.push((name.clone(), matcher));
            }
        }
    }
    if m.provider.is_none()
        && m.issuer.is_none()
        && m.subject.is_none()
        && m.claims.is_empty()
        && m.attributes.is_empty()
    {
        errors.push(format!(
            "{at}.match: empty; it would grant to every identity (name at least a provider)"
        ));
    }
    RuleMatch {
        provider: m.provider.clone(),
        issuer,
        subject,
        attributes,
    }
}

/// Parse a template and check what can be checked without an identity: a literal is parsed with
/// the AWS newtype; otherwise the literal parts must allow some value (placeholders rendered
/// empty or as `ab` — if both fail, no identity can produce a valid value).
fn template<T>(
    at: &str,
    errors: &mut Vec<String>,
    text: &str,
    parse: fn(&str) -> Result<T, AwsNameError>,
) -> Option<Template> {
    let t = match Template::parse(text) {
        Ok(t) => t,
        Err(e) => {
            errors.push(format!("{at}: {e}"));
            return None;
        }
    };
    let check = match t.as_literal() {
        Some(lit) => parse(&lit).map(|_| ()),
        None => match (parse(&t.probe("")), parse(&t.probe("ab"))) {
            (Err(_), Err(e)) => Err(e),
            _ => Ok(()),
        },
    };
    match check {
        Ok(()) => Some(t),
        Err(e) => {
            errors.push(format!("{at}: {e}"));
            None
        }
    }
}

fn checked<T>(at: &str, errors: &mut Vec<String>, r: Result<T, AwsNameError>) -> Option<T> {
    r.map_err(|e| errors.push(format!("{at}: {e}"))).ok()
}

fn compile_grant(at: &str, g: &GrantConfig, errors: &mut Vec<String>) -> Option<GrantSpec> {
    let before = errors.len();
    let role_arn = checked(
        &format!("{at}.role_arn"),
        errors,
        RoleArn::parse(&g.role_arn),
    );
    if let Some(a) = &g.alias {
        if a.is_empty() || a.chars().count() > NAME_MAX_LEN || a.chars().any(char::is_control) {
            errors.push(format!(
                "{at}.alias: must be 1 to {NAME_MAX_LEN} printable characters"
            ));
        }
    }
    let session_name = g.session_name.as_deref().and_then(|s| {
        template(
            &format!("{at}.session_name"),
            errors,
            s,
            RoleSessionName::parse,
        )
    });
    let source_identity = g.source_identity.as_deref().and_then(|s| {
        template(
            &format!("{at}.source_identity"),
            errors,
            s,
            SourceIdentity::parse,
        )
    });
    let duration = g.duration_seconds.and_then(|d| {
        checked(
            &format!("{at}.duration_seconds"),
            errors,
            SessionDuration::from_secs(d),
        )
    });
    let (tags, transitive) = compile_tags(at, g, errors);
    let policy = g
        .policy
        .as_deref()
        .and_then(|p| checked(&format!("{at}.policy"), errors, SessionPolicy::parse(p)));
    let policy_arns: Vec<PolicyArn> = g
        .policy_arns
        .iter()
        .enumerate()
        .filter_map(|(k, a)| {
            checked(
                &format!("{at}.policy_arns[{k}]"),
                errors,
                PolicyArn::parse(a),
            )
        })
        .collect();
    if policy_arns.len() == g.policy_arns.len() {
        let key = if g.policy_arns.len() > MAX_POLICY_ARNS {
            "policy_arns"
        } else {
            "policy"
        };
        if let Err(e) = check_session_policies(policy.as_ref(), &policy_arns) {
            errors.push(format!("{at}.{key}: {e}"));
        }
    }
    let external_id = g
        .external_id
        .as_deref()
        .and_then(|x| checked(&format!("{at}.external_id"), errors, ExternalId::parse(x)));
    check_mode(at, g, errors);
    if errors.len() != before {
        return None;
    }
    Some(GrantSpec {
        role_arn: role_arn?,
        mode: g.mode,
        alias: g.alias.clone(),
        session_name,
        allow_caller_session_name: g.allow_caller_session_name,
        record_subject: (g.mode != StsMode::PassThrough)
            .then(|| g.record_subject.unwrap_or_default()),
        duration,
        source_identity,
        tags,
        transitive,
        policy,
        policy_arns,
        external_id,
    })
}

fn compile_tags(
    at: &str,
    g: &GrantConfig,
    errors: &mut Vec<String>,
) -> (Vec<(TagKey, Template)>, Vec<TagKey>) {
    let key_at = format!("{at}.tags");
    let mut tags = Vec::new();
    for (k, v) in &g.tags {
        let Some(key) = checked(&format!("{key_at}.{k:?}"), errors, TagKey::parse(k)) else {
            continue;
        };
        if let Some(t) = template(&format!("{key_at}.{k:?}"), errors, v, TagValue::parse) {
            tags.push((key, t));
        }
    }
    let transitive: Vec<TagKey> = g
        .transitive_tag_keys
        .iter()
        .filter_map(|k| {
            checked(
                &format!("{at}.transitive_tag_keys"),
                errors,
                TagKey::parse(k),
            )
        })
        .collect();
    let subject_tag = g.mode != StsMode::PassThrough
        && g.record_subject.unwrap_or_default() == RecordSubject::Tag;
    if subject_tag {
        if let Some(k) = g
            .tags
            .keys()
            .find(|k| k.eq_ignore_ascii_case(SUBJECT_TAG_KEY))
        {
            errors.push(format!(
                "{key_at}.{k:?}: reserved: the broker sets {SUBJECT_TAG_KEY} to the verified subject (record_subject = \"tag\")"
            ));
            return (tags, Vec::new());
        }
    }
    let max_tags = MAX_SESSION_TAGS - usize::from(subject_tag);
    if g.tags.len() > max_tags {
        errors.push(format!(
            "{key_at}: {} tags (AWS allows at most {MAX_SESSION_TAGS}{})",
            g.tags.len(),
            if subject_tag {
                ", one of them the broker's fedbroker:subject"
            } else {
                ""
            }
        ));
    } else if tags.len() == g.tags.len() && transitive.len() == g.transitive_tag_keys.len() {
        // Count, case-insensitive duplicates and transitive ⊆ tags, with placeholder values.
        let empty = || TagValue::parse("").expect("empty tag value is valid");
        let mut probe: Vec<(TagKey, TagValue)> =
            tags.iter().map(|(k, _)| (k.clone(), empty())).collect();
        if subject_tag {
            probe.push((super::subject::subject_tag_key(), empty()));
        }
        if let Err(e) = SessionTags::new(probe, transitive.clone()) {
            let key = if e.why.contains("transitive") {
                "transitive_tag_keys"
            } else {
                "tags"
            };
            errors.push(format!("{at}.{key}: {}", e.why));
        }
    }
    (tags, transitive)
}

/// Which fields each STS mode can carry (docs/ARCHITECTURE.md "STS modes").
fn check_mode(at: &str, g: &GrantConfig, errors: &mut Vec<String>) {
    match g.mode {
        StsMode::PassThrough => {
            let set: Vec<&str> = [
                ("tags", !g.tags.is_empty()),
                ("transitive_tag_keys", !g.transitive_tag_keys.is_empty()),
                ("source_identity", g.source_identity.is_some()),
                ("external_id", g.external_id.is_some()),
            ]
            .into_iter()
            .filter_map(|(k, set)| set.then_some(k))
            .collect();
            if !set.is_empty() {
                errors.push(format!(
                    "{at}: mode \"pass-through\" cannot carry {}: AWS takes tags and source identity only from inside the IdP's assertion/token (set them at the IdP) and AssumeRoleWithSAML/WebIdentity take no ExternalId; use mode \"assume-role\" or \"issuer\"",
                    set.join(", ")
                ));
            }
        }
        StsMode::Issuer if g.external_id.is_some() => errors.push(format!(
            "{at}.external_id: mode \"issuer\" calls AssumeRoleWithWebIdentity, which takes no ExternalId"
        )),
        StsMode::Issuer | StsMode::AssumeRole => {}
    }
    if g.mode == StsMode::PassThrough {
        for (key, set) in [
            ("allow_caller_session_name", g.allow_caller_session_name),
            ("record_subject", g.record_subject.is_some()),
        ] {
            if set {
                errors.push(format!(
                    "{at}.{key}: applies only to modes \"assume-role\" and \"issuer\" (in pass-through AWS reads the caller from the IdP's own assertion or token)"
                ));
            }
        }
    }
    if g.allow_caller_session_name && g.session_name.is_some() {
        errors.push(format!(
            "{at}.allow_caller_session_name: has no effect with session_name (the rule's template names every session); remove one"
        ));
    }
    if g.record_subject == Some(RecordSubject::SourceIdentity) && g.source_identity.is_some() {
        errors.push(format!(
            "{at}.record_subject: \"source_identity\" sets SourceIdentity to the verified subject, and source_identity sets it too; remove one, or use record_subject = \"tag\""
        ));
    }
    // Session policies are sent only on AssumeRole for now; refusing them elsewhere at load is
    // better than dropping them silently at run time.
    if g.mode != StsMode::AssumeRole && (g.policy.is_some() || !g.policy_arns.is_empty()) {
        errors.push(format!(
            "{at}: policy/policy_arns are supported only with mode \"assume-role\" in this version"
        ));
    }
}
