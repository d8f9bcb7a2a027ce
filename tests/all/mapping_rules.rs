//! Mapping rules at config load: every AWS limit is refused when the config loads, all at once,
//! each message naming the rule, the grant and the key. (Evaluation against identities is tested
//! inside the crate, `src/mapping/tests.rs`: only validators can build a `VerifiedIdentity`.)

use fedbroker::config::{load_str, ConfigErrors};

const PROVIDERS: &str = r#"
[[oidc.providers]]
name = "ci"
issuer = "https://token.actions.githubusercontent.com"
audiences = ["sts.amazonaws.com"]
"#;

const ROLE: &str = "arn:aws:iam::111122223333:role/Deploy";

fn load(rules: &str) -> Result<fedbroker::config::Config, ConfigErrors> {
    load_str(&format!("{PROVIDERS}\n{rules}"), Vec::new())
}

/// One rule named `ci-deploy` with one assume-role grant plus `extra` grant keys.
fn grant(extra: &str) -> String {
    format!(
        r#"
[[rules]]
name = "ci-deploy"
match.provider = "ci"
[[rules.grants]]
role_arn = "{ROLE}"
mode = "assume-role"
{extra}
"#
    )
}

/// Load, expect exactly one error, and check it names the rule, the grant, the key and `why`.
fn refused(extra: &str, key: &str, why: &str) {
    let errs = load(&grant(extra)).unwrap_err().0;
    assert_eq!(errs.len(), 1, "{errs:#?}");
    let msg = &errs[0];
    let at = format!("rules[0] (\"ci-deploy\").grants[0].{key}");
    assert!(msg.starts_with(&at), "{msg:?} should start with {at:?}");
    assert!(msg.contains(why), "{msg:?} should say {why:?}");
}

fn tags(n: usize) -> String {
    let body: Vec<String> = (0..n).map(|i| format!("K{i} = \"v\"")).collect();
    format!("tags = {{ {} }}", body.join(", "))
}

#[test]
fn a_valid_rule_set_loads() {
    let cfg = load(&format!(
        "{}\n{}",
        grant(&format!(
            r#"alias = "prod"
session_name = "gh-{{claims.run_id}}"
duration_seconds = 43200
source_identity = "{{claims.actor}}"
{}
transitive_tag_keys = ["K0"]
policy = '{{"Version":"2012-10-17","Statement":[]}}'
policy_arns = ["arn:aws:iam::aws:policy/ReadOnlyAccess"]
external_id = "Example987"
"#,
            // 49: the broker adds the 50th, fedbroker:subject (record_subject = "tag").
            tags(49)
        )),
        r#"
[[rules]]
name = "second"
[rules.match]
provider = "ci"
subject = { glob = "repo:my-org/*" }
claims.environment = { one_of = ["prod", "staging"] }
claims.groups = { contains = "admins" }
[[rules.grants]]
role_arn = "arn:aws:iam::111122223333:role/Read"
mode = "issuer"
duration_seconds = 900

[issuer]
enabled = true
issuer_url = "https://broker.example.com"
[[issuer.keys]]
kid = "demo-rsa-1"
file = "certs/issuer-rsa-1.key"
alg = "RS256"
active = true
"#
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        cfg.rules.names().collect::<Vec<_>>(),
        ["ci-deploy", "second"]
    );
}

#[test]
fn no_rules_configured_is_fine() {
    assert!(load("").unwrap().rules.is_empty());
}

#[test]
fn fifty_one_tags() {
    refused(&tags(51), "tags", "51 tags (AWS allows at most 50");
}

#[test]
fn caller_session_name_and_subject_recording_are_checked_at_load() {
    refused(
        &tags(50),
        "tags",
        "50 tags (AWS allows at most 50, one of them the broker's fedbroker:subject)",
    );
    refused(
        "tags = { \"FedBroker:Subject\" = \"x\" }",
        "tags.\"FedBroker:Subject\"",
        "reserved",
    );
    refused(
        "session_name = \"x{subject}\"\nallow_caller_session_name = true",
        "allow_caller_session_name",
        "has no effect with session_name",
    );
    refused(
        "record_subject = \"source_identity\"\nsource_identity = \"x{subject}\"",
        "record_subject",
        "remove one",
    );
    // With SourceIdentity recording all 50 tags are the rule's.
    assert!(load(&grant(&format!(
        "record_subject = \"source_identity\"\n{}",
        tags(50)
    )))
    .is_ok());
    let errs = load(&format!(
        r#"
[[rules]]
name = "pt"
match.provider = "ci"
[[rules.grants]]
role_arn = "{ROLE}"
mode = "pass-through"
allow_caller_session_name = true
record_subject = "tag"
"#
    ))
    .unwrap_err()
    .0;
    assert_eq!(errs.len(), 2, "{errs:#?}");
    assert!(
        errs[0].starts_with("rules[0] (\"pt\").grants[0].allow_caller_session_name: applies only"),
        "{}",
        errs[0]
    );
    assert!(
        errs[1].starts_with("rules[0] (\"pt\").grants[0].record_subject: applies only"),
        "{}",
        errs[1]
    );
}

#[test]
fn tag_key_of_129_characters() {
    refused(
        &format!("tags = {{ {} = \"v\" }}", "k".repeat(129)),
        "tags",
        "at most 128 characters",
    );
}

#[test]
fn tag_value_of_257_characters() {
    refused(
        &format!("tags = {{ Team = \"{}\" }}", "v".repeat(257)),
        "tags.\"Team\"",
        "at most 256 characters",
    );
}

#[test]
fn tag_charset() {
    refused(
        r#"tags = { Team = "a;b" }"#,
        "tags.\"Team\"",
        "';' is not allowed",
    );
    refused(
        r#"tags = { "T#" = "a" }"#,
        "tags.\"T#\"",
        "'#' is not allowed",
    );
    // A literal part that no placeholder value could make valid is refused at load too.
    refused(
        r#"tags = { Repo = "repo;{claims.repository}" }"#,
        "tags.\"Repo\"",
        "';' is not allowed",
    );
}

#[test]
fn aws_prefix() {
    refused(
        r#"tags = { "aws:team" = "a" }"#,
        "tags.\"aws:team\"",
        "aws:",
    );
    refused(r#"tags = { Team = "AWS:x" }"#, "tags.\"Team\"", "aws:");
}

#[test]
fn keys_equal_ignoring_case() {
    refused(
        r#"tags = { Team = "a", team = "b" }"#,
        "tags",
        "compared case-insensitively",
    );
}

#[test]
fn transitive_keys_must_name_tags() {
    refused(
        r#"tags = { Team = "a" }
transitive_tag_keys = ["Project"]"#,
        "transitive_tag_keys",
        "names no passed tag",
    );
}

#[test]
fn session_name_rules() {
    refused(
        r#"session_name = "John Doe""#,
        "session_name",
        "' ' is not allowed",
    );
    refused(r#"session_name = "a""#, "session_name", "2 to 64");
    refused(
        &format!("session_name = \"{}\"", "a".repeat(65)),
        "session_name",
        "2 to 64",
    );
    refused(
        r#"session_name = "ci {subject}""#,
        "session_name",
        "' ' is not allowed",
    );
}

#[test]
fn source_identity_rules() {
    refused(
        r#"source_identity = "aws:admin""#,
        "source_identity",
        "':' is not allowed",
    );
    refused(
        r#"source_identity = "a/b""#,
        "source_identity",
        "'/' is not allowed",
    );
}

#[test]
fn durations_900_to_43200() {
    refused(
        "duration_seconds = 899",
        "duration_seconds",
        "between 900 and 43200",
    );
    refused(
        "duration_seconds = 43201",
        "duration_seconds",
        "between 900 and 43200",
    );
}

#[test]
fn inline_policy_of_2049_characters() {
    let policy = format!("{{\"a\":\"{}\"}}", "x".repeat(2_049 - 8));
    assert_eq!(policy.len(), 2_049);
    refused(
        &format!("policy = '{policy}'"),
        "policy",
        "2049 characters (AWS allows at most 2048",
    );
    refused("policy = 'not json'", "policy", "not valid JSON");
}

#[test]
fn policy_and_arns_together_over_2048() {
    let policy = format!("{{\"a\":\"{}\"}}", "x".repeat(2_020 - 8));
    refused(
        &format!("policy = '{policy}'\npolicy_arns = [\"arn:aws:iam::aws:policy/ReadOnlyAccess\"]"),
        "policy",
        "together",
    );
}

#[test]
fn eleven_policy_arns() {
    let arns: Vec<String> = (0..11)
        .map(|i| format!("\"arn:aws:iam::111122223333:policy/P{i}\""))
        .collect();
    refused(
        &format!("policy_arns = [{}]", arns.join(", ")),
        "policy_arns",
        "11 policy ARNs (AWS allows at most 10)",
    );
    refused(
        r#"policy_arns = ["arn:aws:iam::111122223333:role/NotAPolicy"]"#,
        "policy_arns[0]",
        "policy ARN",
    );
}

#[test]
fn bad_external_id() {
    refused(r#"external_id = "a""#, "external_id", "2 to 1224");
    refused(
        r#"external_id = "has space""#,
        "external_id",
        "' ' is not allowed",
    );
    refused(
        &format!("external_id = \"{}\"", "a".repeat(1_225)),
        "external_id",
        "2 to 1224",
    );
}

#[test]
fn bad_templates() {
    refused(
        r#"session_name = "{subject""#,
        "session_name",
        "unbalanced '{'",
    );
    refused(r#"session_name = "x}""#, "session_name", "unbalanced '}'");
    refused(
        r#"session_name = "{email}""#,
        "session_name",
        "unknown placeholder {email}",
    );
}

#[test]
fn mode_limits_what_a_grant_carries() {
    let errs = load(&format!(
        r#"
[[rules]]
name = "saml"
match.provider = "ci"
[[rules.grants]]
role_arn = "{ROLE}"
mode = "pass-through"
tags = {{ Team = "a" }}
source_identity = "x{{subject}}"
[[rules.grants]]
role_arn = "{ROLE}"
mode = "issuer"
external_id = "abc"
"#
    ))
    .unwrap_err()
    .0;
    assert_eq!(errs.len(), 2, "{errs:#?}");
    assert!(errs[0].starts_with("rules[0] (\"saml\").grants[0]: mode \"pass-through\" cannot carry tags, source_identity"), "{}", errs[0]);
    assert!(
        errs[1].starts_with("rules[0] (\"saml\").grants[1].external_id"),
        "{}",
        errs[1]
    );
}

#[test]
fn match_problems_name_the_rule_and_key() {
    let errs = load(&format!(
        r#"
[[rules]]
name = "m"
[rules.match]
provider = "nope"
subject = {{ regex = "(" }}
claims.env = {{ equal = "prod" }}
[[rules.grants]]
role_arn = "{ROLE}"
mode = "issuer"

[[rules]]
name = "m"
[[rules.grants]]
role_arn = "arn:aws:iam::1:role/x"
mode = "sideways"
"#
    ))
    .unwrap_err()
    .0;
    let all = errs.join("\n");
    for needle in [
        "rules[0] (\"m\").match.provider: \"nope\" names no configured",
        "rules[0] (\"m\").match.subject: regex:",
        "rules[0] (\"m\").match.claims.\"env\": unknown matcher \"equal\"",
        "rules[1] (\"m\"): unknown variant `sideways`",
    ] {
        assert!(all.contains(needle), "missing {needle:?} in:\n{all}");
    }
}

#[test]
fn every_problem_is_reported_at_once() {
    let errs = load(&format!(
        "{}\n{}",
        grant(&format!(
            "{}\nduration_seconds = 899\nexternal_id = \"a\"",
            tags(51)
        )),
        r#"
[[rules]]
name = "other"
match.provider = "ci"
[[rules.grants]]
role_arn = "arn:aws:iam::111122223333:role/X"
mode = "assume-role"
session_name = "no spaces allowed"
"#
    ))
    .unwrap_err()
    .0;
    assert_eq!(errs.len(), 4, "{errs:#?}");
    assert!(errs[3].starts_with("rules[1] (\"other\").grants[0].session_name"));
}

#[test]
fn duplicate_names_empty_match_and_no_grants() {
    let errs = load(
        r#"
[[rules]]
name = "a"
match = {}
grants = []
[[rules]]
name = "a"
match.provider = "ci"
grants = []
"#,
    )
    .unwrap_err()
    .0;
    let all = errs.join("\n");
    for needle in [
        "rules[0] (\"a\").match: empty",
        "rules[0] (\"a\").grants: a rule needs at least one",
        "rules[1] (\"a\").name: duplicate rule name",
    ] {
        assert!(all.contains(needle), "missing {needle:?} in:\n{all}");
    }
}

#[test]
fn rules_file_is_loaded_and_exclusive_with_inline_rules() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rules.toml");
    std::fs::write(&path, grant("duration_seconds = 1800")).unwrap();
    let p = path.to_str().unwrap();
    let cfg = load(&format!("[mapping]\nrules_file = {p:?}\n")).unwrap();
    assert_eq!(cfg.rules.len(), 1);

    std::fs::write(&path, grant("duration_seconds = 1")).unwrap();
    let e = load(&format!("[mapping]\nrules_file = {p:?}\n"))
        .unwrap_err()
        .0;
    assert!(
        e[0].starts_with("rules[0] (\"ci-deploy\").grants[0].duration_seconds"),
        "{e:?}"
    );

    let e = load(&format!("[mapping]\nrules_file = {p:?}\n{}", grant("")))
        .unwrap_err()
        .0;
    assert!(e[0].contains("not both"), "{e:?}");

    std::fs::write(&path, "[server]\nlisten = \"x\"\n").unwrap();
    let e = load(&format!("[mapping]\nrules_file = {p:?}\n"))
        .unwrap_err()
        .0;
    assert!(e[0].contains("holds no [[rules]]"), "{e:?}");
}

#[test]
fn environment_overrides_reach_rules() {
    let cfg = load_str(
        &format!("{PROVIDERS}\n{}", grant("duration_seconds = 1800")),
        vec![(
            "FEDBROKER_RULES__0__GRANTS__0__DURATION_SECONDS".to_owned(),
            "899".to_owned(),
        )],
    );
    let e = cfg.unwrap_err().0;
    assert!(e[0].contains("grants[0].duration_seconds"), "{e:?}");
}

#[test]
fn the_schema_example_in_docs_loads() {
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/MAPPING.md")).unwrap();
    let block = doc
        .split("```toml")
        .filter_map(|b| b.split("```").next())
        .find(|b| b.contains("[[rules.grants]]"))
        .expect("a [[rules]] example");
    let cfg = load(block).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cfg.rules.names().collect::<Vec<_>>(), ["ci-deploy"]);
}

#[test]
fn issuer_mode_grant_without_issuer_mode_is_a_load_error() {
    let err = fedbroker::config::load_str(
        r#"
[[saml.idps]]
name = "corp"
metadata_file = "config/test-idp-metadata.xml"
[[rules]]
name = "minted"
[rules.match]
provider = "corp"
[[rules.grants]]
role_arn = "arn:aws:iam::111122223333:role/Tagged"
mode = "issuer"
"#,
        Vec::<(String, String)>::new(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("\"minted\"") && err.contains("[issuer] enabled = false"),
        "{err}"
    );
}
