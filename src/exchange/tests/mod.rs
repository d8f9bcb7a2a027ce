//! Session plan tests: the plan, explain and dispatch over the fixtures in `fixtures.rs`, without
//! a validator, a store or AWS.

mod fixtures;

use super::plan::{accept_caller_session_name, PlanRequest, SessionTerms, StsCall};
use super::*;
use crate::aws::SessionTags;
use crate::mapping::DurationReason;
use crate::sts::AssumeRoleRequest;
use fixtures::*;
use secrecy::ExposeSecret;

#[test]
fn each_mode_gets_its_own_call_with_the_fields_it_needs() {
    let (ex, _) = exchange(true);

    let plan = ex.plan(saml(Some("alice")), ask(Some(PASS), None)).unwrap();
    let StsCall::SamlPassThrough {
        role_arn,
        principal_arn,
        assertion,
    } = plan.call.as_ref()
    else {
        panic!("{:?}", plan.call)
    };
    assert_eq!(
        (role_arn.as_str(), principal_arn.as_str()),
        (PASS, PROVIDER)
    );
    assert_eq!(assertion.expose_secret(), ASSERTION);

    let plan = ex.plan(oidc(), ask(Some(PASS), Some("build-7"))).unwrap();
    let StsCall::WebIdentityPassThrough {
        role_arn,
        session_name,
        token,
    } = plan.call.as_ref()
    else {
        panic!("{:?}", plan.call)
    };
    assert_eq!(
        (role_arn.as_str(), session_name.as_str()),
        (PASS, "build-7")
    );
    assert_eq!(token.expose_secret(), TOKEN);

    let plan = ex
        .plan(saml(Some("alice")), ask(Some(DEPLOY), None))
        .unwrap();
    let StsCall::AssumeRole {
        role_arn,
        session_name,
        tags,
        source_identity,
        external_id,
        policy,
        policy_arns,
    } = plan.call.as_ref()
    else {
        panic!("{:?}", plan.call)
    };
    assert_eq!(role_arn.as_str(), DEPLOY);
    assert_eq!(
        session_name.as_str(),
        "alice",
        "the assertion's RoleSessionName"
    );
    assert_eq!(tags, &plan.grant.tags);
    assert_eq!(tag(tags, "Team"), Some("platform"));
    assert_eq!(
        source_identity.as_ref().unwrap().as_str(),
        "alice@example.com"
    );
    assert_eq!(external_id.as_ref().unwrap().as_str(), "Example987");
    assert!(policy.is_none());
    assert_eq!(policy_arns.len(), 1);

    let plan = ex
        .plan(saml(Some("alice")), ask(Some(MINTED), None))
        .unwrap();
    let StsCall::Issuer {
        subject,
        role_arn,
        session_name,
        tags,
        source_identity,
        ..
    } = plan.call.as_ref()
    else {
        panic!("{:?}", plan.call)
    };
    assert_eq!(
        (subject.as_str(), role_arn.as_str(), session_name.as_str()),
        ("alice@example.com", MINTED, "alice@example.com")
    );
    assert_eq!(tag(tags, "Who"), Some("alice@example.com"));
    assert!(source_identity.is_none());
    assert_eq!(plan.call.mode(), StsMode::Issuer);
    assert_eq!(plan.call.role_arn().as_str(), MINTED);
}

#[test]
fn a_plan_exists_only_if_its_call_can_be_made() {
    let (ex, _) = exchange(false);
    let e = ex
        .plan(saml(Some("alice")), ask(Some(MINTED), None))
        .unwrap_err();
    assert_eq!(e.code(), "issuer_disabled");

    // A SAML pass-through grant must name the provider AWS checks the assertion against.
    let identity = saml(Some("alice"));
    let grant = Grant::pass_through(RoleArn::parse(PASS).unwrap());
    let terms = SessionTerms::decide(&identity, &grant, None);
    let e = StsCall::new(&identity, &grant, &terms, None).unwrap_err();
    assert_eq!(e.code(), "internal_error");
}

#[test]
fn pass_through_carries_the_messages_tags_and_source_identity_other_modes_the_grants() {
    let (ex, _) = exchange(true);
    for identity in [saml(Some("alice")), oidc()] {
        let plan = ex.plan(identity.clone(), ask(Some(PASS), None)).unwrap();
        assert_eq!(plan.terms.tags, identity.aws().tags);
        assert_eq!(plan.terms.source_identity, identity.aws().source_identity);

        // The message's source identity does not reach an AssumeRole call the grant names none
        // for: the session does not carry it.
        let plan = ex.plan(identity.clone(), ask(Some(PLAIN), None)).unwrap();
        assert_eq!(plan.terms.tags, plan.grant.tags);
        assert_eq!(plan.terms.source_identity, None);
        assert!(plan.grant.source_identity.is_none());
    }
}

#[test]
fn session_name_comes_from_the_rule_then_the_message_or_caller_then_the_subject() {
    let (ex, _) = exchange(true);
    let terms = |identity: VerifiedIdentity, role: &str, caller: Option<&str>| {
        ex.plan(identity, ask(Some(role), caller))
            .unwrap()
            .terms
            .session_name
    };
    assert_eq!(
        terms(saml(Some("alice")), MINTED, None),
        name("alice@example.com")
    );
    assert_eq!(terms(saml(Some("alice")), PLAIN, None), name("alice"));
    assert_eq!(
        terms(saml(None), PLAIN, None),
        Some(derive_session_name(
            "https://idp.example.com",
            "alice@example.com"
        ))
    );
    let ci = derive_session_name(
        "https://token.ci.example",
        "repo:org/app:ref:refs/heads/main",
    );
    assert_eq!(terms(oidc(), PLAIN, None), Some(ci.clone()));
    assert_eq!(terms(oidc(), PASS, None), Some(ci));
    assert_eq!(terms(oidc(), PASS, Some("me")), name("me"));
    assert_eq!(terms(oidc(), NAMED, Some("me")), name("me"));

    // SAML pass-through: AWS names the session from the assertion; nothing is derived.
    let grant = Grant::pass_through(RoleArn::parse(PASS).unwrap());
    assert_eq!(
        SessionTerms::decide(&saml(None), &grant, None).session_name,
        None
    );

    // Outside pass-through the caller names the session only where the grant allows it.
    let e = ex.plan(oidc(), ask(Some(PLAIN), Some("me"))).unwrap_err();
    assert_eq!(e.code(), "session_name_not_accepted");
    let plain = ex
        .select_grant(&oidc(), RoleArn::parse(PLAIN).ok().as_ref())
        .unwrap();
    assert_eq!(accept_caller_session_name(&plain, None).unwrap(), None);
}

/// Explain and issuing read the same plan: the same session name, tags, source identity, grant
/// and duration when the request would succeed, and the error issuing answers as the first problem
/// when it would not.
#[test]
fn explain_and_issuing_agree() {
    /// Issuer mode on, the identity, the role asked for, the caller's session name.
    type Case = (
        bool,
        fn() -> VerifiedIdentity,
        Option<&'static str>,
        Option<&'static str>,
    );
    let cases: &[Case] = &[
        (true, || saml(Some("alice")), Some(PASS), None),
        (true, || saml(Some("alice")), Some(DEPLOY), None),
        (true, || saml(None), Some(PLAIN), None),
        (true, || saml(Some("alice")), Some(MINTED), None),
        (false, || saml(Some("alice")), Some(MINTED), None),
        (true, || saml(Some("alice")), None, None),
        (true, oidc, Some(PASS), Some("build-7")),
        (true, oidc, Some(PASS), None),
        (true, oidc, Some(NAMED), Some("build-7")),
        (true, oidc, Some(PLAIN), Some("build-7")),
        (true, oidc, Some(PLAIN), None),
        (true, oidc, Some(DEPLOY), None),
    ];
    for (with_issuer, identity, role, caller) in cases {
        let (ex, _) = exchange(*with_issuer);
        let case = format!("{role:?} {caller:?} issuer={with_issuer}");
        let explained = ex.explain_verified(&identity(), *role, None, *caller);
        match ex.plan(identity(), ask(*role, *caller)) {
            Ok(plan) => {
                let codes: Vec<_> = explained.problems.iter().map(|p| p.code).collect();
                assert!(codes.is_empty(), "{case}: {codes:?}");
                assert_eq!(explained.grant.as_ref(), Some(&plan.grant), "{case}");
                assert_eq!(explained.duration, Some(plan.duration), "{case}");
                assert_eq!(explained.session_name, plan.terms.session_name, "{case}");
                assert_eq!(explained.tags, plan.terms.tags, "{case}");
                assert_eq!(
                    explained.source_identity.as_deref(),
                    plan.terms.source_identity.as_ref().map(|s| s.as_str()),
                    "{case}"
                );
            }
            Err(e) => assert_eq!(
                explained.problems.first().map(|p| p.code),
                Some(e.code()),
                "{case}"
            ),
        }
    }
}

#[tokio::test]
async fn each_call_reaches_sts_as_its_mode_says_and_can_be_repeated() {
    let (ex, sts) = exchange(true);
    let secs = |plan: &SessionPlan| Some(plan.duration.duration);

    let plan = ex.plan(saml(Some("alice")), ask(Some(PASS), None)).unwrap();
    let (_, cache) = ex.obtain(&plan, None).await.unwrap();
    assert_eq!(cache, None, "no cache configured");
    let [Seen::Saml(req)] = &sts.take()[..] else {
        panic!("not one AssumeRoleWithSAML")
    };
    assert_eq!(req.principal_arn.as_str(), PROVIDER);
    assert_eq!(req.saml_assertion.expose_secret(), ASSERTION);
    assert_eq!(req.duration, secs(&plan));

    let plan = ex.plan(oidc(), ask(Some(PASS), None)).unwrap();
    ex.obtain(&plan, None).await.unwrap();
    let [Seen::WebIdentity(req)] = &sts.take()[..] else {
        panic!("not one AssumeRoleWithWebIdentity")
    };
    assert_eq!(req.web_identity_token.expose_secret(), TOKEN);
    assert_eq!(
        Some(&req.role_session_name),
        plan.terms.session_name.as_ref()
    );

    let plan = ex
        .plan(saml(Some("alice")), ask(Some(DEPLOY), None))
        .unwrap();
    ex.obtain(&plan, None).await.unwrap();
    let [Seen::AssumeRole(req)] = &sts.take()[..] else {
        panic!("not one AssumeRole")
    };
    assert_eq!(req.tags, plan.terms.tags);
    assert_eq!(req.source_identity, plan.terms.source_identity);
    assert_eq!(req.duration.map(|d| d.secs()), Some(1800));
    assert_eq!(req.policy_arns, ["arn:aws:iam::aws:policy/ReadOnlyAccess"]);

    // Issuer mode mints a fresh token for every call (renewals included).
    let plan = ex
        .plan(saml(Some("alice")), ask(Some(MINTED), None))
        .unwrap();
    let d = plan.duration.duration;
    plan.call.send(sts.as_ref(), d).await.unwrap();
    plan.call.send(sts.as_ref(), d).await.unwrap();
    let [Seen::WebIdentity(a), Seen::WebIdentity(b)] = &sts.take()[..] else {
        panic!("not two AssumeRoleWithWebIdentity")
    };
    assert_eq!(a.role_arn.as_str(), MINTED);
    assert_eq!(a.web_identity_token.expose_secret().split('.').count(), 3);
    assert_ne!(
        a.web_identity_token.expose_secret(),
        b.web_identity_token.expose_secret()
    );
}

#[test]
fn issued_credentials_report_the_plans_terms() {
    let (ex, sts) = exchange(true);
    let plan = ex
        .plan(saml(Some("alice")), ask(Some(DEPLOY), None))
        .unwrap();
    let terms = plan.terms.clone();
    let creds = sts
        .answer(Seen::AssumeRole(AssumeRoleRequest {
            role_arn: RoleArn::parse(DEPLOY).unwrap(),
            role_session_name: RoleSessionName::parse("alice").unwrap(),
            duration: None,
            tags: SessionTags::default(),
            source_identity: None,
            external_id: None,
            policy: None,
            policy_arns: Vec::new(),
        }))
        .unwrap();
    let issued = issued(plan, creds, None);
    assert_eq!(issued.session_name, terms.session_name);
    assert_eq!(
        issued.source_identity.as_deref(),
        terms.source_identity.as_ref().map(|s| s.as_str())
    );
    let keys: Vec<&str> = terms.tags.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(issued.tag_keys, keys);
    assert_eq!(issued.mode, StsMode::AssumeRole);
}

/// The cache key of each kind of plan, pinned: entries written before the session plan existed
/// (and by replicas running that code) must keep hitting. What goes into the key is `caching.rs`'s
/// module doc; the key's own format is `cache/key.rs`'s.
#[test]
fn cache_keys_are_unchanged() {
    let (ex, _) = exchange(true);
    let key = |identity: VerifiedIdentity, role: &str, caller: Option<&str>| {
        let plan = ex.plan(identity, ask(Some(role), caller)).unwrap();
        plan.cache_key.as_str().to_owned()
    };
    let pinned = [
        (
            key(saml(Some("alice")), PASS, None),
            "d3ab3077fbca2c7ec70083448a99aa70a64760f784fb689c3fbc87ce0eeddd3b",
        ),
        (
            key(saml(Some("alice")), DEPLOY, None),
            "c9612ab6c7d5bcb171601a57cf6bfdbbdac861e21f05b8d85e09caa21c2eaa98",
        ),
        (
            key(saml(None), PLAIN, None),
            "55d679ab0baa2cf6c8181b637374c3717502a0fa088c50a4bcdec8a72de6f008",
        ),
        (
            key(saml(Some("alice")), MINTED, None),
            "a9e0b49f2fb45a91476ff5e9324f7dc04781650bec88e087762742a32d7e7153",
        ),
        (
            key(oidc(), PASS, Some("build-7")),
            "b26bfef8865e8d3d383eacae629f858593a1fb12c0e08e358a4fcf49b412c601",
        ),
        (
            key(oidc(), NAMED, Some("build-7")),
            "fcc91c5a3b6664f1b91bee0f2aeb516bb941e1237415de78a0f7d8a985ba9913",
        ),
        (
            key(oidc(), PLAIN, None),
            "6605d7e56f2a81458a7155ee69b7ffa9ac07db91552569d858df5e7efe9bce49",
        ),
    ];
    for (i, (got, want)) in pinned.iter().enumerate() {
        assert_eq!(got, want, "case {i}");
    }

    // A session shortened to the IdP session's end is keyed by that end, not by its seconds:
    // asking for an hour or for the default (both cut to the 50 minutes left) shares the entry.
    let plan = ex
        .plan(
            saml(Some("alice")),
            PlanRequest {
                duration: Some(SessionDuration::parse("3500").unwrap()),
                ..ask(Some(PASS), None)
            },
        )
        .unwrap();
    assert_eq!(plan.duration.reason, DurationReason::IdpSessionEnds);
    assert_eq!(plan.cache_key.as_str(), pinned[0].1);
}
