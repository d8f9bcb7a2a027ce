//! Evaluation tests: they build `VerifiedIdentity` values directly (crate-private fields), which
//! only code inside the crate can do — no public way to forge an identity exists.

use super::*;
use crate::aws::{RolePair, SessionTags};
use crate::error::{ApiError, ErrorKind};
use crate::identity::{AwsClaims, OriginalCredential, Protocol, VerifiedIdentity};
use std::collections::BTreeMap;

const ACCOUNT: &str = "111122223333";

fn arn(role: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:role/{role}")
}

fn pair(role: &str) -> RolePair {
    RolePair::parse(&format!(
        "{},arn:aws:iam::{ACCOUNT}:saml-provider/Corp",
        arn(role)
    ))
    .unwrap()
}

fn identity(
    protocol: Protocol,
    provider: &str,
    subject: &str,
    attrs: &[(&str, &[&str])],
    offered: &[&str],
) -> VerifiedIdentity {
    let attributes: BTreeMap<String, Vec<String>> = attrs
        .iter()
        .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
        .collect();
    VerifiedIdentity {
        protocol,
        provider: provider.into(),
        issuer: "https://idp.example".into(),
        subject: subject.into(),
        subject_format: None,
        token_id: "id-1".into(),
        expires_at: chrono::DateTime::UNIX_EPOCH,
        authn_instant: None,
        attributes,
        aws: AwsClaims {
            roles: offered.iter().map(|r| pair(r)).collect(),
            // An assertion that offers roles names the session too (AWS requires both).
            session_name: (!offered.is_empty())
                .then(|| crate::aws::RoleSessionName::parse("alice").unwrap()),
            tags: SessionTags::default(),
            ..AwsClaims::default()
        },
        key_fingerprint: "00".into(),
        in_response_to: None,
        recipient: None,
        audiences: Vec::new(),
        legacy_algorithm: false,
        encrypted: false,
        original: OriginalCredential::WebIdentityToken("t".to_owned().into()),
    }
}

fn ci(subject: &str, attrs: &[(&str, &[&str])]) -> VerifiedIdentity {
    identity(Protocol::Oidc, "ci", subject, attrs, &[])
}

fn rules(text: &str) -> Rules {
    let mut t: toml::Table = text.parse().unwrap();
    compile(t.remove("rules").unwrap(), &["ci", "corp"]).unwrap_or_else(|e| panic!("{e:#?}"))
}

const CI_RULES: &str = r#"
[[rules]]
name = "ci-deploy"
[rules.match]
provider = "ci"
subject = { glob = "repo:my-org/*:ref:refs/heads/main" }
claims.environment = { one_of = ["prod", "staging"] }
[[rules.grants]]
role_arn = "arn:aws:iam::111122223333:role/Deploy"
mode = "assume-role"
alias = "prod-deploy"
session_name = "gh-{claims.run_id}"
duration_seconds = 3600
source_identity = "{claims.actor}"
tags = { Repo = "{claims.repository}", Team = "platform" }
transitive_tag_keys = ["Team"]
policy_arns = ["arn:aws:iam::aws:policy/ReadOnlyAccess"]
external_id = "fedbroker-ci"
[[rules.grants]]
role_arn = "arn:aws:iam::111122223333:role/Read"
mode = "issuer"

[[rules]]
name = "everyone-read"
[rules.match]
provider = "ci"
[[rules.grants]]
role_arn = "arn:aws:iam::111122223333:role/Read"
mode = "pass-through"
[[rules.grants]]
role_arn = "arn:aws:iam::111122223333:role/Audit"
mode = "pass-through"
"#;

fn main_push(extra: &[(&'static str, &'static [&'static str])]) -> VerifiedIdentity {
    let mut attrs: Vec<(&str, &[&str])> = vec![
        ("environment", &["prod"]),
        ("run_id", &["42"]),
        ("actor", &["octocat"]),
        ("repository", &["my-org/app"]),
    ];
    attrs.extend_from_slice(extra);
    ci("repo:my-org/app:ref:refs/heads/main", &attrs)
}

#[test]
fn same_identity_same_grants_in_rule_then_grant_order_first_wins() {
    let r = rules(CI_RULES);
    let id = main_push(&[]);
    let a = evaluate(&r, &id).unwrap();
    let b = evaluate(&r, &id).unwrap();
    assert_eq!(a, b);
    let roles: Vec<&str> = a.iter().map(|g| g.role_arn.role_name()).collect();
    assert_eq!(roles, ["Deploy", "Read", "Audit"]);
    assert_eq!(a[1].mode, StsMode::Issuer, "the first grant of Read wins");
    assert_eq!(a[1].rule, "ci-deploy");
    assert_eq!(a[2].rule, "everyone-read");
    let d = &a[0];
    assert_eq!(d.session_name.as_ref().unwrap().as_str(), "gh-42");
    assert_eq!(d.source_identity.as_ref().unwrap().as_str(), "octocat");
    let tags: Vec<(&str, &str)> = d
        .tags
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    // Outside pass-through the broker adds the verified subject (record_subject = "tag").
    assert_eq!(
        tags,
        [
            ("Repo", "my-org/app"),
            ("Team", "platform"),
            ("fedbroker:subject", "repo:my-org/app:ref:refs/heads/main"),
        ]
    );
    assert_eq!(d.tags.transitive_keys()[0].as_str(), "Team");
    assert_eq!(d.external_id.as_ref().unwrap().as_str(), "fedbroker-ci");
    assert_eq!(d.duration.unwrap().secs(), 3600);
    assert_eq!(d.alias.as_deref(), Some("prod-deploy"));
}

#[test]
fn non_matching_identity_gets_only_the_broad_rule_or_nothing() {
    let r = rules(CI_RULES);
    let feature = ci(
        "repo:my-org/app:ref:refs/heads/feature",
        &[("environment", &["prod"])],
    );
    let roles: Vec<String> = evaluate(&r, &feature)
        .unwrap()
        .iter()
        .map(|g| g.role_arn.role_name().to_owned())
        .collect();
    assert_eq!(roles, ["Read", "Audit"]);
    let other = identity(Protocol::Saml, "corp", "alice", &[], &[]);
    let e = evaluate(&r, &other).unwrap_err();
    assert_eq!(e.code(), "no_matching_rule");
    assert_eq!(e.kind(), ErrorKind::Forbidden);
}

#[test]
fn template_values_are_inserted_literally_never_re_expanded() {
    let r = rules(
        r#"
[[rules]]
name = "r"
match.provider = "ci"
[[rules.grants]]
role_arn = "arn:aws:iam::111122223333:role/A"
mode = "assume-role"
tags = { Who = "{claims.who}" }
"#,
    );
    let id = ci("alice", &[("who", &["{subject}"])]);
    let g = evaluate(&r, &id);
    // `{` is outside the tag charset, so the literal value is refused; it is never expanded.
    let e = g.unwrap_err();
    assert_eq!(e.code(), "template_value_invalid");
    assert!(!e.to_string().contains("alice"), "{e}");
    let id = ci("alice", &[("who", &["x}y"])]);
    assert_eq!(
        evaluate(&r, &id).unwrap_err().code(),
        "template_value_invalid"
    );
    // A value that only looks like a placeholder name, in the allowed charset, stays as it is.
    let id = ci("alice", &[("who", &["claims.who"])]);
    let g = evaluate(&r, &id).unwrap();
    assert_eq!(g[0].tags.iter().next().unwrap().1.as_str(), "claims.who");
}

#[test]
fn run_time_value_breaking_the_tag_charset_is_refused_naming_rule_and_field() {
    let r = rules(CI_RULES);
    let id = ci(
        "repo:my-org/app:ref:refs/heads/main",
        &[
            ("environment", &["prod"]),
            ("run_id", &["42"]),
            ("actor", &["octocat"]),
            ("repository", &["my-org/app, injected"]),
        ],
    );
    let e = evaluate(&r, &id).unwrap_err();
    assert_eq!(e.code(), "template_value_invalid");
    assert_eq!(e.kind(), ErrorKind::Forbidden);
    let msg = e.to_string();
    assert!(
        msg.contains("ci-deploy") && msg.contains("tags.Repo"),
        "{msg}"
    );
    assert!(msg.contains("','"), "names the character: {msg}");
    assert_eq!(e.detail().unwrap()["field"], "tags.Repo");
    // Never truncated: a 65-character session name is refused, not cut.
    let id = main_push(&[]);
    let mut long = id.clone();
    long.attributes
        .insert("run_id".into(), vec!["9".repeat(63)]);
    let e = evaluate(&r, &long).unwrap_err();
    assert!(e.to_string().contains("session_name"), "{e}");
    // `select` renders only the chosen grant: Audit still works.
    let audit = RoleArn::parse(&arn("Audit")).unwrap();
    assert_eq!(
        select(&r, &long, Some(&audit)).unwrap().rule,
        "everyone-read"
    );
}

#[test]
fn multi_valued_or_missing_attribute_in_a_template_is_refused() {
    let r = rules(CI_RULES);
    let mut id = main_push(&[]);
    id.attributes
        .insert("actor".into(), vec!["a1".into(), "a2".into()]);
    let e = evaluate(&r, &id).unwrap_err();
    assert!(e.to_string().contains("2 values"), "{e}");
    id.attributes.remove("actor");
    let e = evaluate(&r, &id).unwrap_err();
    assert!(
        e.to_string().contains("no attribute/claim \"actor\""),
        "{e}"
    );
}

#[test]
fn multi_valued_attribute_does_not_satisfy_a_scalar_matcher() {
    let r = rules(CI_RULES);
    let id = main_push(&[]);
    let mut two = id.clone();
    two.attributes
        .insert("environment".into(), vec!["dev".into(), "prod".into()]);
    let roles: Vec<String> = evaluate(&r, &two)
        .unwrap()
        .iter()
        .map(|g| g.role_arn.role_name().to_owned())
        .collect();
    assert_eq!(roles, ["Read", "Audit"]);
}

#[test]
fn regex_is_anchored() {
    let r = rules(
        r#"
[[rules]]
name = "prod"
match.provider = "ci"
match.claims.environment = { regex = "prod" }
[[rules.grants]]
role_arn = "arn:aws:iam::111122223333:role/A"
mode = "issuer"
"#,
    );
    assert!(evaluate(&r, &ci("s", &[("environment", &["prod"])])).is_ok());
    for env in ["preprod", "production", "prod\n"] {
        let e = evaluate(&r, &ci("s", &[("environment", &[env])])).unwrap_err();
        assert_eq!(e.code(), "no_matching_rule", "{env:?}");
    }
}

const SAML_RULES: &str = r#"
[[rules]]
name = "admins"
[rules.match]
idp = "corp"
attributes.groups = { contains = "admins" }
[[rules.grants]]
role_arn = "arn:aws:iam::111122223333:role/Admin"
mode = "pass-through"
[[rules.grants]]
role_arn = "arn:aws:iam::111122223333:role/Dev"
mode = "pass-through"
"#;

#[test]
fn saml_pass_through_only_narrows_the_offered_roles() {
    let r = rules(SAML_RULES);
    let id = identity(
        Protocol::Saml,
        "corp",
        "alice",
        &[("groups", &["users", "admins"])],
        &["Dev", "Billing"],
    );
    let grants = evaluate(&r, &id).unwrap();
    assert_eq!(grants.len(), 1, "Admin not offered, Billing not granted");
    assert_eq!(grants[0].role_arn.role_name(), "Dev");
    assert_eq!(
        grants[0].principal_arn.as_ref().unwrap().as_str(),
        "arn:aws:iam::111122223333:saml-provider/Corp"
    );
    let billing = RoleArn::parse(&arn("Billing")).unwrap();
    assert_eq!(
        select(&r, &id, Some(&billing)).unwrap_err().code(),
        "role_not_offered"
    );
    let none = identity(
        Protocol::Saml,
        "corp",
        "alice",
        &[("groups", &["admins"])],
        &["Billing"],
    );
    let e = evaluate(&r, &none).unwrap_err();
    assert_eq!(e.code(), "no_matching_rule");
    assert!(e.to_string().contains("did not offer"), "{e}");
}

const GROUPS_RULES: &str = r#"
[[rules]]
name = "admins"
[rules.match]
idp = "corp"
attributes.groups = { contains = "admins" }
[[rules.grants]]
role_arn = "arn:aws:iam::111122223333:role/Admin"
mode = "assume-role"
session_name = "{subject}"
[[rules.grants]]
role_arn = "arn:aws:iam::111122223333:role/Dev"
mode = "pass-through"
"#;

/// An IdP application set up for the broker sends only its own attributes: the rules' assume-role
/// grant applies, the pass-through one (AWS would read Role/RoleSessionName) is left out.
#[test]
fn groups_only_saml_identity_gets_assume_role_grants_not_pass_through() {
    let r = rules(GROUPS_RULES);
    let id = identity(
        Protocol::Saml,
        "corp",
        "alice",
        &[("groups", &["admins"])],
        &[],
    );
    let grants = evaluate(&r, &id).unwrap();
    assert_eq!(grants.len(), 1);
    assert_eq!(grants[0].role_arn.role_name(), "Admin");
    assert_eq!(grants[0].session_name.as_ref().unwrap().as_str(), "alice");
    assert_eq!(select(&r, &id, None).unwrap().role_arn.role_name(), "Admin");
    let dev = RoleArn::parse(&arn("Dev")).unwrap();
    let e = select(&r, &id, Some(&dev)).unwrap_err();
    assert_eq!(e.code(), "saml_role_missing");
    assert_eq!(e.kind(), ErrorKind::Forbidden);
    assert!(e.to_string().contains("pass-through"), "{e}");
    let other = identity(
        Protocol::Saml,
        "corp",
        "bob",
        &[("groups", &["users"])],
        &[],
    );
    assert_eq!(evaluate(&r, &other).unwrap_err().code(), "no_matching_rule");
}

/// A groups-only assertion whose only matching grant is pass-through: refused with the AWS
/// attribute it lacks, not an empty "no rule" answer.
#[test]
fn groups_only_saml_identity_matched_only_to_pass_through_is_refused_as_role_missing() {
    let r = rules(SAML_RULES);
    let id = identity(
        Protocol::Saml,
        "corp",
        "alice",
        &[("groups", &["admins"])],
        &[],
    );
    let e = evaluate(&r, &id).unwrap_err();
    assert_eq!(e.code(), "saml_role_missing");
    assert_eq!(e.detail().unwrap()["missing_attribute"], ATTR_ROLE_NAME);
    assert_eq!(
        select(&r, &id, None).unwrap_err().code(),
        "saml_role_missing"
    );
}

/// The Role attribute offers the role but RoleSessionName is absent: AWS would refuse the
/// pass-through call ("RoleSessionName is required in AuthnResponse"), so the broker refuses first.
#[test]
fn pass_through_without_role_session_name_is_refused() {
    let r = rules(SAML_RULES);
    let mut id = identity(
        Protocol::Saml,
        "corp",
        "alice",
        &[("groups", &["admins"])],
        &["Dev"],
    );
    id.aws.session_name = None;
    let e = select(&r, &id, None).unwrap_err();
    assert_eq!(e.code(), "saml_role_missing");
    assert_eq!(
        e.detail().unwrap()["missing_attribute"],
        "https://aws.amazon.com/SAML/Attributes/RoleSessionName"
    );
}

const ATTR_ROLE_NAME: &str = "https://aws.amazon.com/SAML/Attributes/Role";

#[test]
fn select_needs_a_choice_among_several() {
    let r = rules(CI_RULES);
    let id = main_push(&[]);
    let e = select(&r, &id, None).unwrap_err();
    assert_eq!(e.code(), "role_choice_required");
    assert_eq!(e.detail().unwrap()["roles"].as_array().unwrap().len(), 3);
    let deploy = RoleArn::parse(&arn("Deploy")).unwrap();
    assert_eq!(
        select(&r, &id, Some(&deploy)).unwrap().mode,
        StsMode::AssumeRole
    );
}

#[test]
fn without_rules_the_assertion_roles_are_pass_through_grants() {
    let r = Rules::default();
    let id = identity(Protocol::Saml, "corp", "alice", &[], &["A", "B", "A"]);
    let grants = evaluate(&r, &id).unwrap();
    assert_eq!(grants.len(), 2);
    assert!(grants
        .iter()
        .all(|g| g.mode == StsMode::PassThrough && g.rule == IMPLICIT_RULE));
    assert_eq!(
        select(&r, &id, None).unwrap_err().code(),
        "role_choice_required"
    );
    let one = identity(Protocol::Saml, "corp", "alice", &[], &["A"]);
    assert_eq!(select(&r, &one, None).unwrap().role_arn.role_name(), "A");
    let none = identity(Protocol::Saml, "corp", "alice", &[], &[]);
    assert_eq!(evaluate(&r, &none).unwrap_err().code(), "no_role");
}

/// Rule evaluation runs on every request, so it must stay linear in the number of grants. The soak
/// (scripts/soak.sh) found the duplicate-role check quadratic: with 1,500 grants a cache hit cost
/// ~15 ms of CPU (65 requests/s instead of ~2,000).
#[test]
fn selecting_among_many_grants_is_linear() {
    const GRANTS: usize = 20_000;
    let mut text = String::from("[[rules]]\nname = \"many\"\n[rules.match]\nprovider = \"ci\"\n");
    for n in 0..GRANTS {
        text.push_str(&format!(
            "[[rules.grants]]\nrole_arn = \"{}\"\nmode = \"pass-through\"\n",
            arn(&format!("R-{n}"))
        ));
    }
    // A later grant of an already granted role: the first one wins.
    text.push_str(&format!(
        "[[rules.grants]]\nrole_arn = \"{}\"\nmode = \"issuer\"\n",
        arn("R-0")
    ));
    let r = rules(&text);
    let id = ci("repo:my-org/app", &[]);
    let last = RoleArn::parse(&arn(&format!("R-{}", GRANTS - 1))).unwrap();
    let started = std::time::Instant::now();
    for _ in 0..5 {
        assert_eq!(select(&r, &id, Some(&last)).unwrap().role_arn, last);
    }
    let took = started.elapsed();
    let first = RoleArn::parse(&arn("R-0")).unwrap();
    assert_eq!(
        select(&r, &id, Some(&first)).unwrap().mode,
        StsMode::PassThrough
    );
    let unknown = RoleArn::parse(&arn("Unknown")).unwrap();
    assert_eq!(
        select(&r, &id, Some(&unknown)).unwrap_err().code(),
        "role_not_offered"
    );
    // Quadratic: ~2e8 ARN comparisons per selection (seconds each); linear: milliseconds.
    assert!(
        took < std::time::Duration::from_secs(2),
        "5 selections among {GRANTS} grants took {took:?}"
    );
}

/// A SAML pass-through grant the assertion did not offer is dropped; it must not hide a later
/// grant of the same role in another mode.
#[test]
fn an_unoffered_pass_through_grant_does_not_shadow_a_later_grant_of_the_role() {
    let r = rules(
        r#"
[[rules]]
name = "pass"
[rules.match]
provider = "corp"
[[rules.grants]]
role_arn = "arn:aws:iam::111122223333:role/Deploy"
mode = "pass-through"

[[rules]]
name = "broker"
[rules.match]
provider = "corp"
[[rules.grants]]
role_arn = "arn:aws:iam::111122223333:role/Deploy"
mode = "assume-role"
"#,
    );
    let id = identity(Protocol::Saml, "corp", "alice", &[], &[]);
    let deploy = RoleArn::parse(&arn("Deploy")).unwrap();
    let g = select(&r, &id, Some(&deploy)).unwrap();
    assert_eq!((g.mode, g.rule.as_str()), (StsMode::AssumeRole, "broker"));
}
