//! Evaluating compiled `Rules` against a `VerifiedIdentity`: which grants apply, rendered.
//!
//! Invariants: pure and deterministic — the same identity always yields the same grants, in rule
//! order then grant order, duplicates by role ARN removed (first wins). A SAML pass-through grant
//! only narrows what the assertion's `Role` attribute offers (intersection), never adds to it, and
//! needs the assertion's `RoleSessionName` (AWS reads both); an assertion without them (an IdP
//! application set up for the broker, sending only its own attributes) still gets the rules'
//! assume-role and issuer grants, and a pass-through grant it matches is refused as
//! `saml_role_missing` when it is the one requested or the only one left.
//! With no rules configured, the assertion's offered roles are the grants (pass-through).
//! Every rendered value goes through its AWS newtype; a failure is refused with
//! `template_value_invalid`, never truncated.

use super::compile::{GrantSpec, Rule, RuleMatch, Rules};
use super::schema::StsMode;
use super::subject::{self, RecordSubject};
use super::MappingError;
use crate::aws::{
    ExternalId, PolicyArn, RoleArn, RolePair, RoleSessionName, SamlProviderArn, SessionDuration,
    SessionPolicy, SessionTags, SourceIdentity, TagValue,
};
use crate::identity::{Protocol, VerifiedIdentity};
use crate::saml::attributes::{ATTR_ROLE, ATTR_ROLE_SESSION_NAME};
use std::collections::HashSet;

/// The `rule` of grants derived from the SAML `Role` attribute when no rules are configured.
pub const IMPLICIT_RULE: &str = "saml-role-attribute";

/// Why matching rules produced nothing after the pass-through intersection.
const ONLY_UNOFFERED: &str =
    "the matching rules grant only pass-through roles your identity provider did not offer";

/// One role the identity may use, with every value already checked against AWS's rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    pub role_arn: RoleArn,
    pub mode: StsMode,
    /// SAML pass-through: the provider ARN paired with the role in the assertion.
    pub principal_arn: Option<SamlProviderArn>,
    /// Account alias for display (role picker, answers).
    pub alias: Option<String>,
    pub session_name: Option<RoleSessionName>,
    /// The rule lets the caller name the session (`allow_caller_session_name`); otherwise a
    /// caller's `session_name` is refused outside pass-through.
    pub allow_caller_session_name: bool,
    /// The rule's duration: default and maximum for this grant (see `negotiate`).
    pub duration: Option<SessionDuration>,
    pub tags: SessionTags,
    pub source_identity: Option<SourceIdentity>,
    pub policy: Option<SessionPolicy>,
    pub policy_arns: Vec<PolicyArn>,
    pub external_id: Option<ExternalId>,
    /// Name of the rule that granted it (`IMPLICIT_RULE` without rules).
    pub rule: String,
}

impl Grant {
    /// The grant used without rules for a web-identity token: the caller's role, pass-through
    /// (AWS's trust policy on the role decides).
    pub fn pass_through(role_arn: RoleArn) -> Self {
        Self {
            role_arn,
            mode: StsMode::PassThrough,
            principal_arn: None,
            alias: None,
            session_name: None,
            allow_caller_session_name: false,
            duration: None,
            tags: SessionTags::default(),
            source_identity: None,
            policy: None,
            policy_arns: Vec::new(),
            external_id: None,
            rule: IMPLICIT_RULE.to_owned(),
        }
    }
}

/// A matched grant before rendering.
struct Candidate<'a> {
    rule: &'a Rule,
    index: usize,
    spec: &'a GrantSpec,
    pair: Option<&'a RolePair>,
}

/// Every grant for this identity, rendered. Empty results are errors (`no_role`,
/// `no_matching_rule`).
pub fn evaluate(rules: &Rules, identity: &VerifiedIdentity) -> Result<Vec<Grant>, MappingError> {
    if rules.is_empty() {
        return implicit(identity);
    }
    candidates(rules, identity)?
        .grants
        .iter()
        .map(|c| render(c, identity))
        .collect()
}

/// A grant that matched but does not render for this identity (the role picker lists it as
/// unavailable instead of hiding every grant).
#[derive(Debug)]
pub struct FailedGrant {
    pub role_arn: RoleArn,
    pub alias: Option<String>,
    pub error: MappingError,
}

/// Every grant for this identity, each rendered on its own: one whose template fails for this
/// identity is its own `Err` and hides no other (the role picker). No grant at all is still an
/// error (`no_role`, `no_matching_rule`), as in [`evaluate`].
pub fn evaluate_each(
    rules: &Rules,
    identity: &VerifiedIdentity,
) -> Result<Vec<Result<Grant, Box<FailedGrant>>>, MappingError> {
    if rules.is_empty() {
        return Ok(implicit(identity)?.into_iter().map(Ok).collect());
    }
    Ok(candidates(rules, identity)?
        .grants
        .iter()
        .map(|c| {
            render(c, identity).map_err(|error| {
                Box::new(FailedGrant {
                    role_arn: c.spec.role_arn.clone(),
                    alias: c.spec.alias.clone(),
                    error,
                })
            })
        })
        .collect())
}

/// The one grant to use: the requested role (which must be granted), or the only grant; several
/// without a request → `role_choice_required`. Only the chosen grant is rendered, so a template
/// failing for another role does not block this one.
pub fn select(
    rules: &Rules,
    identity: &VerifiedIdentity,
    requested: Option<&RoleArn>,
) -> Result<Grant, MappingError> {
    if rules.is_empty() {
        let pair = super::select_saml_role(&identity.aws.roles, requested)?;
        return Ok(implicit_grant(&pair));
    }
    let Found {
        grants: found,
        missing,
    } = candidates(rules, identity)?;
    let chosen =
        match requested {
            Some(want) => found
                .iter()
                .find(|c| &c.spec.role_arn == want)
                .ok_or_else(|| match missing.iter().find(|(role, _)| *role == want) {
                    Some((role, attr)) => MappingError::PassThroughAttributeMissing {
                        role: (*role).clone(),
                        missing: attr,
                    },
                    None => MappingError::RoleNotOffered {
                        requested: want.clone(),
                    },
                })?,
            None => match found.as_slice() {
                [one] => one,
                many => {
                    return Err(MappingError::ChooseRole {
                        offered: many.iter().map(|c| c.spec.role_arn.clone()).collect(),
                    })
                }
            },
        };
    render(chosen, identity)
}

fn implicit(identity: &VerifiedIdentity) -> Result<Vec<Grant>, MappingError> {
    let mut out: Vec<Grant> = Vec::new();
    for pair in &identity.aws.roles {
        if !out.iter().any(|g| g.role_arn == pair.role) {
            out.push(implicit_grant(pair));
        }
    }
    if out.is_empty() {
        return Err(MappingError::NoRole);
    }
    Ok(out)
}

fn implicit_grant(pair: &RolePair) -> Grant {
    Grant {
        role_arn: pair.role.clone(),
        mode: StsMode::PassThrough,
        principal_arn: Some(pair.provider.clone()),
        alias: None,
        session_name: None,
        allow_caller_session_name: false,
        duration: None,
        tags: SessionTags::default(),
        source_identity: None,
        policy: None,
        policy_arns: Vec::new(),
        external_id: None,
        rule: IMPLICIT_RULE.to_owned(),
    }
}

/// The matched grants, and the SAML pass-through grants left out because the assertion lacks an
/// attribute AWS reads (role, attribute name).
struct Found<'a> {
    grants: Vec<Candidate<'a>>,
    missing: Vec<(&'a RoleArn, &'static str)>,
}

/// Why a SAML pass-through grant cannot be used with this assertion.
enum Unusable {
    /// The `Role` attribute offers other roles only.
    NotOffered,
    /// AWS would refuse: this attribute is absent.
    Missing(&'static str),
}

/// The offered role pair a SAML pass-through grant of `role` uses.
fn pass_through_pair<'a>(
    identity: &'a VerifiedIdentity,
    role: &RoleArn,
) -> Result<&'a RolePair, Unusable> {
    if identity.aws.roles.is_empty() {
        return Err(Unusable::Missing(ATTR_ROLE));
    }
    let pair = identity
        .aws
        .roles
        .iter()
        .find(|p| &p.role == role)
        .ok_or(Unusable::NotOffered)?;
    if identity.aws.session_name.is_none() {
        return Err(Unusable::Missing(ATTR_ROLE_SESSION_NAME));
    }
    Ok(pair)
}

fn candidates<'a>(
    rules: &'a Rules,
    identity: &'a VerifiedIdentity,
) -> Result<Found<'a>, MappingError> {
    let mut out: Vec<Candidate<'a>> = Vec::new();
    let mut missing: Vec<(&'a RoleArn, &'static str)> = Vec::new();
    // Roles already granted (first wins). A set, not a scan of `out`: this runs on every request,
    // and a scan made it quadratic in the number of grants (1,500 grants: ~15 ms per request).
    let mut seen: HashSet<&'a RoleArn> = HashSet::new();
    let mut dropped = false;
    for rule in rules.rules.iter().filter(|r| matches(&r.when, identity)) {
        for (index, spec) in rule.grants.iter().enumerate() {
            if seen.contains(&spec.role_arn) {
                continue;
            }
            let pair = if spec.mode == StsMode::PassThrough && identity.protocol == Protocol::Saml {
                match pass_through_pair(identity, &spec.role_arn) {
                    Ok(p) => Some(p),
                    Err(Unusable::NotOffered) => {
                        dropped = true;
                        continue;
                    }
                    Err(Unusable::Missing(attr)) => {
                        missing.push((&spec.role_arn, attr));
                        continue;
                    }
                }
            } else {
                None
            };
            seen.insert(&spec.role_arn);
            out.push(Candidate {
                rule,
                index,
                spec,
                pair,
            });
        }
    }
    if out.is_empty() {
        if let Some((role, attr)) = missing.first() {
            return Err(MappingError::PassThroughAttributeMissing {
                role: (*role).clone(),
                missing: attr,
            });
        }
        return Err(MappingError::NoMatchingRule {
            reason: dropped.then_some(ONLY_UNOFFERED),
        });
    }
    Ok(Found {
        grants: out,
        missing,
    })
}

fn matches(m: &RuleMatch, id: &VerifiedIdentity) -> bool {
    m.provider.as_ref().is_none_or(|p| p == &id.provider)
        && m.issuer
            .as_ref()
            .is_none_or(|x| x.matches(std::slice::from_ref(&id.issuer)))
        && m.subject
            .as_ref()
            .is_none_or(|x| x.matches(std::slice::from_ref(&id.subject)))
        && m.attributes
            .iter()
            .all(|(name, x)| x.matches(id.attributes.get(name).map(Vec::as_slice).unwrap_or(&[])))
}

fn render(c: &Candidate<'_>, id: &VerifiedIdentity) -> Result<Grant, MappingError> {
    let spec = c.spec;
    let fail = |field: String, why: String| MappingError::TemplateValueInvalid {
        rule: c.rule.name.clone(),
        grant: c.index,
        role: spec.role_arn.clone(),
        field,
        why,
    };
    let field = |name: &str, t: &super::template::Template| {
        t.render(id).map_err(|why| fail(name.to_owned(), why))
    };
    let session_name = match &spec.session_name {
        Some(t) => Some(
            RoleSessionName::parse(&field("session_name", t)?)
                .map_err(|e| fail("session_name".into(), e.why))?,
        ),
        None => None,
    };
    let mut source_identity = match &spec.source_identity {
        Some(t) => Some(
            SourceIdentity::parse(&field("source_identity", t)?)
                .map_err(|e| fail("source_identity".into(), e.why))?,
        ),
        None => None,
    };
    let mut tags = Vec::with_capacity(spec.tags.len() + 1);
    // Outside pass-through AWS sees only the broker: the verified subject always goes along.
    match spec.record_subject {
        Some(RecordSubject::Tag) => tags.push((
            subject::subject_tag_key(),
            subject::subject_tag_value(&id.issuer, &id.subject),
        )),
        Some(RecordSubject::SourceIdentity) => {
            source_identity = Some(subject::subject_source_identity(&id.issuer, &id.subject));
        }
        None => {}
    }
    for (key, t) in &spec.tags {
        let name = format!("tags.{}", key.as_str());
        let value = TagValue::parse(&field(&name, t)?).map_err(|e| fail(name, e.why))?;
        tags.push((key.clone(), value));
    }
    let tags =
        SessionTags::new(tags, spec.transitive.clone()).map_err(|e| fail("tags".into(), e.why))?;
    Ok(Grant {
        role_arn: spec.role_arn.clone(),
        mode: spec.mode,
        principal_arn: c.pair.map(|p| p.provider.clone()),
        alias: spec.alias.clone(),
        session_name,
        allow_caller_session_name: spec.allow_caller_session_name,
        duration: spec.duration,
        tags,
        source_identity,
        policy: spec.policy.clone(),
        policy_arns: spec.policy_arns.clone(),
        external_id: spec.external_id.clone(),
        rule: c.rule.name.clone(),
    })
}
