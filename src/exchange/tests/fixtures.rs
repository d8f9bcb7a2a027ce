//! Fixtures for the exchange tests: verified identities built directly (crate-private fields; no
//! public way to forge one exists), an [`Exchange`] over rules covering every STS mode, and an STS
//! double that records what it was asked.

use super::super::plan::PlanRequest;
use super::super::*;
use crate::aws::{RolePair, SessionTags, SourceIdentity, TagKey, TagValue};
use crate::clock::FixedClock;
use crate::config::{IssuerConfig, IssuerKeyConfig, LimitsConfig};
use crate::identity::{AwsClaims, OriginalCredential};
use crate::mapping::compile;
use crate::sts::{AssumeRoleRequest, AssumeRoleWithSamlRequest, AssumeRoleWithWebIdentityRequest};
use std::collections::BTreeMap;
use std::sync::Mutex;

pub(super) const PASS: &str = "arn:aws:iam::111122223333:role/Pass";
pub(super) const DEPLOY: &str = "arn:aws:iam::111122223333:role/Deploy";
pub(super) const PLAIN: &str = "arn:aws:iam::111122223333:role/Plain";
pub(super) const MINTED: &str = "arn:aws:iam::111122223333:role/Minted";
pub(super) const NAMED: &str = "arn:aws:iam::111122223333:role/Named";
pub(super) const PROVIDER: &str = "arn:aws:iam::111122223333:saml-provider/Corp";
pub(super) const ASSERTION: &str = "PHNhbWxwOlJlc3BvbnNlLz4=";
pub(super) const TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJyZXBvIn0.c2ln";

pub(super) const RULES: &str = r#"
[[rules]]
name = "corp"
[rules.match]
provider = "corp"
[[rules.grants]]
role_arn = "arn:aws:iam::111122223333:role/Pass"
mode = "pass-through"
[[rules.grants]]
role_arn = "arn:aws:iam::111122223333:role/Deploy"
mode = "assume-role"
source_identity = "{subject}"
tags = { Team = "platform" }
transitive_tag_keys = ["Team"]
external_id = "Example987"
policy_arns = ["arn:aws:iam::aws:policy/ReadOnlyAccess"]
duration_seconds = 1800
[[rules.grants]]
role_arn = "arn:aws:iam::111122223333:role/Plain"
mode = "assume-role"
[[rules.grants]]
role_arn = "arn:aws:iam::111122223333:role/Minted"
mode = "issuer"
session_name = "{subject}"
tags = { Who = "{subject}" }

[[rules]]
name = "ci"
[rules.match]
provider = "ci"
[[rules.grants]]
role_arn = "arn:aws:iam::111122223333:role/Pass"
mode = "pass-through"
[[rules.grants]]
role_arn = "arn:aws:iam::111122223333:role/Named"
mode = "assume-role"
allow_caller_session_name = true
[[rules.grants]]
role_arn = "arn:aws:iam::111122223333:role/Plain"
mode = "assume-role"
"#;

pub(super) fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-01T10:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

pub(super) fn tags(pairs: &[(&str, &str)], transitive: &[&str]) -> SessionTags {
    SessionTags::new(
        pairs
            .iter()
            .map(|(k, v)| (TagKey::parse(k).unwrap(), TagValue::parse(v).unwrap()))
            .collect(),
        transitive
            .iter()
            .map(|k| TagKey::parse(k).unwrap())
            .collect(),
    )
    .unwrap()
}

pub(super) fn attributes(pairs: &[(&str, &str)]) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (k, v) in pairs {
        out.entry(k.to_string()).or_default().push(v.to_string());
    }
    out
}

/// A verified SAML assertion offering the Pass role, with its own tags and source identity.
pub(super) fn saml(session_name: Option<&str>) -> VerifiedIdentity {
    VerifiedIdentity {
        protocol: Protocol::Saml,
        provider: "corp".into(),
        issuer: "https://idp.example.com".into(),
        subject: "alice@example.com".into(),
        subject_format: Some("urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress".into()),
        token_id: "_a1".into(),
        expires_at: t0() + chrono::Duration::minutes(5),
        authn_instant: Some(t0()),
        attributes: attributes(&[("groups", "eng"), ("groups", "ops"), ("jti", "x")]),
        aws: AwsClaims {
            roles: vec![RolePair::parse(&format!("{PASS},{PROVIDER}")).unwrap()],
            session_name: session_name.map(|n| RoleSessionName::parse(n).unwrap()),
            session_duration: None,
            session_not_on_or_after: Some(t0() + chrono::Duration::minutes(50)),
            tags: tags(&[("Dept", "eng")], &[]),
            source_identity: Some(SourceIdentity::parse("alice-from-idp").unwrap()),
        },
        key_fingerprint: "00".into(),
        legacy_algorithm: false,
        original: OriginalCredential::SamlResponse(ASSERTION.to_owned().into()),
        in_response_to: None,
        recipient: None,
        audiences: Vec::new(),
        encrypted: false,
    }
}

/// A verified web-identity token of a CI job, with its own tags and source identity.
pub(super) fn oidc() -> VerifiedIdentity {
    VerifiedIdentity {
        protocol: Protocol::Oidc,
        provider: "ci".into(),
        issuer: "https://token.ci.example".into(),
        subject: "repo:org/app:ref:refs/heads/main".into(),
        subject_format: None,
        token_id: "jti-1".into(),
        expires_at: t0() + chrono::Duration::minutes(5),
        authn_instant: None,
        attributes: attributes(&[
            ("aud", "sts.amazonaws.com"),
            ("jti", "jti-1"),
            ("ref", "main"),
        ]),
        aws: AwsClaims {
            tags: tags(&[("Pipeline", "release")], &[]),
            source_identity: Some(SourceIdentity::parse("ci-bot").unwrap()),
            ..AwsClaims::default()
        },
        key_fingerprint: "00".into(),
        legacy_algorithm: false,
        original: OriginalCredential::WebIdentityToken(TOKEN.to_owned().into()),
        in_response_to: None,
        recipient: None,
        audiences: Vec::new(),
        encrypted: false,
    }
}

/// What the STS double was asked.
#[derive(Debug)]
pub(super) enum Seen {
    Saml(AssumeRoleWithSamlRequest),
    WebIdentity(AssumeRoleWithWebIdentityRequest),
    AssumeRole(AssumeRoleRequest),
}

#[derive(Debug, Default)]
pub(super) struct FakeSts(Mutex<Vec<Seen>>);

impl FakeSts {
    pub(super) fn take(&self) -> Vec<Seen> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
    pub(super) fn answer(&self, seen: Seen) -> Result<StsCredentials, StsError> {
        self.0.lock().unwrap().push(seen);
        Ok(StsCredentials {
            access_key_id: "ASIAEXAMPLE".into(),
            secret_access_key: "secret".to_owned().into(),
            session_token: "token".to_owned().into(),
            expiration: t0() + chrono::Duration::hours(1),
            assumed_role_arn: "arn:aws:sts::111122223333:assumed-role/R/s".into(),
            assumed_role_id: "AROAEXAMPLE:s".into(),
            subject: None,
            provider: None,
            audience: None,
            source_identity: None,
            packed_policy_size: None,
            chained: false,
            request_id: None,
        })
    }
}

#[async_trait::async_trait]
impl StsClient for FakeSts {
    async fn assume_role_with_saml(
        &self,
        req: AssumeRoleWithSamlRequest,
    ) -> Result<StsCredentials, StsError> {
        self.answer(Seen::Saml(req))
    }
    async fn assume_role_with_web_identity(
        &self,
        req: AssumeRoleWithWebIdentityRequest,
    ) -> Result<StsCredentials, StsError> {
        self.answer(Seen::WebIdentity(req))
    }
    async fn assume_role(&self, req: AssumeRoleRequest) -> Result<StsCredentials, StsError> {
        self.answer(Seen::AssumeRole(req))
    }
}

pub(super) fn issuer(clock: SharedClock) -> Arc<Issuer> {
    let cfg = IssuerConfig {
        enabled: true,
        issuer_url: Some("https://broker.example.com".into()),
        keys: vec![IssuerKeyConfig {
            kid: "ec-1".into(),
            file: format!("{}/certs/issuer-ec-1.key", env!("CARGO_MANIFEST_DIR")),
            alg: "ES256".into(),
            active: true,
        }],
        ..IssuerConfig::default()
    };
    Arc::new(Issuer::from_config(&cfg, "https://broker.example.com", clock).unwrap())
}

/// An exchange with [`RULES`], no cache, and issuer mode on or off.
pub(super) fn exchange(with_issuer: bool) -> (Exchange, Arc<FakeSts>) {
    let clock: SharedClock = Arc::new(FixedClock::new(t0()));
    let mut t: toml::Table = RULES.parse().unwrap();
    let rules = compile(t.remove("rules").unwrap(), &["corp", "ci"]).unwrap();
    let sts = Arc::new(FakeSts::default());
    let exchange = Exchange {
        saml: Arc::new(SamlValidator::new(Vec::new(), clock.clone())),
        oidc: Arc::new(OidcValidator::without_providers(clock.clone())),
        rules: Arc::new(rules),
        issuer: with_issuer.then(|| issuer(clock.clone())),
        sts: sts.clone(),
        replay: Arc::new(crate::replay::MemoryReplayGuard::new(clock.clone())),
        cache: None,
        limits: Arc::new(crate::limits::RateLimits::from_config(
            &LimitsConfig::default(),
        )),
        sts_scope: "us-east-1".into(),
        browser_sp: Arc::new(BrowserSp::default()),
        clock,
    };
    (exchange, sts)
}

pub(super) fn ask(role: Option<&str>, session_name: Option<&str>) -> PlanRequest {
    PlanRequest {
        role: role.map(|r| RoleArn::parse(r).unwrap()),
        session_name: session_name.map(|n| RoleSessionName::parse(n).unwrap()),
        ..PlanRequest::default()
    }
}

pub(super) fn name(n: &str) -> Option<RoleSessionName> {
    Some(RoleSessionName::parse(n).unwrap())
}

pub(super) fn tag<'a>(tags: &'a SessionTags, key: &str) -> Option<&'a str> {
    tags.iter()
        .find(|(k, _)| k.as_str() == key)
        .map(|(_, v)| v.as_str())
}
