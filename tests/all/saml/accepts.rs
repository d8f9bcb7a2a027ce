//! Positive SAML suite: what the test IdP signs is accepted in every signature layout and key
//! type, and the verified identity equals exactly what was signed (subject, roles, session name,
//! tags, source identity, expiry).

use crate::support;

use fedbroker::identity::Protocol;
use support::harness::*;
use support::saml_idp::*;

const ROLE_B: &str =
    "arn:aws:iam::111122223333:role/Developer,arn:aws:iam::111122223333:saml-provider/TestIdp";

fn role_arns(id: &fedbroker::identity::VerifiedIdentity) -> Vec<String> {
    id.aws().roles.iter().map(|r| r.role.to_string()).collect()
}

fn assert_default_identity(id: &fedbroker::identity::VerifiedIdentity) {
    assert_eq!(id.protocol(), Protocol::Saml);
    assert_eq!(id.issuer(), TEST_IDP_ENTITY_ID);
    assert_eq!(id.subject(), "alice@example.com");
    assert_eq!(id.subject_format(), Some(NAMEID_EMAIL));
    assert_eq!(
        role_arns(id),
        vec!["arn:aws:iam::111122223333:role/ReadOnly".to_string()]
    );
    assert_eq!(
        id.aws().roles[0].provider.to_string(),
        "arn:aws:iam::111122223333:saml-provider/TestIdp"
    );
    assert_eq!(
        id.aws().session_name.as_ref().map(|s| s.as_str()),
        Some("alice")
    );
    assert_eq!(id.token_id(), "_assert-4b7e2f90c3d54a18b6e0");
    assert!(!id.key_fingerprint().is_empty());
}

#[test]
fn response_signed_rsa_is_accepted() {
    let id = accept(&SamlResponseBuilder::new(t0()).sign(SignWhat::Response));
    assert_default_identity(&id);
}

#[test]
fn assertion_signed_rsa_is_accepted() {
    let id = accept(&SamlResponseBuilder::new(t0()).sign(SignWhat::Assertion));
    assert_default_identity(&id);
}

#[test]
fn both_signed_rsa_is_accepted() {
    let id = accept(&SamlResponseBuilder::new(t0()).sign(SignWhat::Both));
    assert_default_identity(&id);
}

#[test]
fn response_signed_ec_p256_is_accepted() {
    let b = SamlResponseBuilder::new(t0())
        .key(KeyPair::test_idp_ec())
        .algorithms(SigAlg::EcdsaSha256, DigestAlg::Sha256);
    assert_default_identity(&accept(&b));
}

#[test]
fn assertion_signed_ec_p256_is_accepted() {
    let b = SamlResponseBuilder::new(t0())
        .sign(SignWhat::Assertion)
        .key(KeyPair::test_idp_ec())
        .algorithms(SigAlg::EcdsaSha256, DigestAlg::Sha256);
    assert_default_identity(&accept(&b));
}

#[test]
fn ec_and_rsa_keys_have_different_fingerprints() {
    let rsa = accept(&SamlResponseBuilder::new(t0()));
    let ec = accept(
        &SamlResponseBuilder::new(t0())
            .key(KeyPair::test_idp_ec())
            .algorithms(SigAlg::EcdsaSha256, DigestAlg::Sha256),
    );
    assert_ne!(rsa.key_fingerprint(), ec.key_fingerprint());
}

#[test]
fn multiple_roles_are_all_returned() {
    let id = accept(&SamlResponseBuilder::new(t0()).roles(&[DEFAULT_ROLE, ROLE_B]));
    let mut roles = role_arns(&id);
    roles.sort();
    assert_eq!(
        roles,
        vec![
            "arn:aws:iam::111122223333:role/Developer".to_string(),
            "arn:aws:iam::111122223333:role/ReadOnly".to_string()
        ]
    );
}

#[test]
fn provider_first_role_pair_is_accepted() {
    let reversed =
        "arn:aws:iam::111122223333:saml-provider/TestIdp,arn:aws:iam::111122223333:role/ReadOnly";
    let id = accept(&SamlResponseBuilder::new(t0()).roles(&[reversed]));
    assert_eq!(
        role_arns(&id),
        vec!["arn:aws:iam::111122223333:role/ReadOnly".to_string()]
    );
}

#[test]
fn session_tags_transitive_keys_and_source_identity_are_parsed() {
    let b = SamlResponseBuilder::new(t0())
        .attribute(
            &format!("{ATTR_PRINCIPAL_TAG_PREFIX}Project"),
            &["Marketing"],
        )
        .attribute(
            &format!("{ATTR_PRINCIPAL_TAG_PREFIX}CostCenter"),
            &["12345"],
        )
        .attribute(ATTR_TRANSITIVE_TAG_KEYS, &["Project"])
        .attribute(ATTR_SOURCE_IDENTITY, &["DiegoRamirez"]);
    let id = accept(&b);
    let tags: Vec<(String, String)> = id
        .aws()
        .tags
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), v.as_str().to_string()))
        .collect();
    assert_eq!(
        tags,
        vec![
            ("CostCenter".to_string(), "12345".to_string()),
            ("Project".to_string(), "Marketing".to_string())
        ]
    );
    let transitive: Vec<&str> = id
        .aws()
        .tags
        .transitive_keys()
        .iter()
        .map(|k| k.as_str())
        .collect();
    assert_eq!(transitive, vec!["Project"]);
    assert_eq!(
        id.aws().source_identity.as_ref().map(|s| s.as_str()),
        Some("DiegoRamirez")
    );
}

#[test]
fn session_not_on_or_after_is_carried() {
    let b = SamlResponseBuilder::new(t0());
    let id = accept(&b);
    assert_eq!(id.aws().session_not_on_or_after, b.session_not_on_or_after);
    assert!(id.expires_at() <= b.not_on_or_after.expect("set"));
}

#[test]
fn example_defaults_match_the_trusted_test_idp() {
    // The example binary's defaults are the builder's defaults: what it prints must validate.
    let b = SamlResponseBuilder::new(t0());
    assert_eq!(b.issuer.as_deref(), Some(TEST_IDP_ENTITY_ID));
    assert_eq!(b.recipient.as_deref(), Some(AWS_RECIPIENT));
    assert_eq!(b.audiences, vec![AWS_AUDIENCE.to_string()]);
    assert_default_identity(&accept(&b));
}
