//! Read-only questions about an assertion or token: which roles may it assume
//! ([`Exchange::roles`]), and what would a credentials request for one role do
//! ([`Exchange::explain`]): the rule, session name, tags, source identity and duration, and every
//! AWS or broker rule the request would break.
//!
//! Invariants: the assertion/token is validated exactly as for credentials (same validators), but
//! it is never consumed in the replay store and STS is never called, so it can still be exchanged
//! afterwards. Identity failures are errors (401 etc.); once the identity verified, everything
//! else is reported as a list of problems, using the same codes the credentials endpoints answer.
//! Nothing here carries the assertion, token or any credential.

use super::web_identity::{
    check_caller_session_name, parse_session_name, web_identity_session_name,
};
use super::{parse_duration, parse_role_arn, saml_session_name, Exchange, ExchangeError};
use crate::aws::{RoleArn, RoleSessionName, SessionTags};
use crate::error::ApiError;
use crate::identity::{Protocol, VerifiedIdentity};
use crate::mapping::{evaluate, Grant, MappingError, Negotiated, Rules, StsMode};
use secrecy::{ExposeSecret, SecretString};

/// The assertion or token a caller presents (unverified).
#[derive(Debug)]
pub enum PresentedCredential {
    /// A base64 SAML Response.
    SamlResponse(SecretString),
    /// A compact JWS (web-identity token).
    WebIdentityToken(SecretString),
}

/// A caller's "what would happen" question (fields unverified).
#[derive(Debug)]
pub struct ExplainRequest {
    pub credential: PresentedCredential,
    pub role_arn: Option<String>,
    pub duration_seconds: Option<String>,
    /// Web identity only: SAML sessions are named by the rule or the assertion.
    pub session_name: Option<String>,
}

/// One role the identity may assume.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleSummary {
    pub role_arn: RoleArn,
    pub alias: Option<String>,
    pub mode: StsMode,
    pub rule: String,
}

impl From<&Grant> for RoleSummary {
    fn from(g: &Grant) -> Self {
        Self {
            role_arn: g.role_arn.clone(),
            alias: g.alias.clone(),
            mode: g.mode,
            rule: g.rule.clone(),
        }
    }
}

/// One rule the request would break: the code and message the credentials endpoint would answer,
/// plus its detail (e.g. the roles to choose from).
#[derive(Clone, Debug)]
pub struct Problem {
    pub code: &'static str,
    pub message: String,
    pub detail: Option<serde_json::Value>,
}

impl Problem {
    fn from_error(e: &dyn ApiError) -> Self {
        Self {
            code: e.code(),
            message: e.to_string(),
            detail: e.detail(),
        }
    }
}

/// The roles a verified identity may assume, with the protocol and provider that verified it (a
/// SAML IdP and an OIDC provider never share a name; answers still say which one spoke).
#[derive(Clone, Debug)]
pub struct OfferedRoles {
    pub protocol: Protocol,
    pub provider: String,
    pub roles: Vec<RoleSummary>,
}

/// What a credentials request would do, decided without consuming anything or calling STS.
#[derive(Clone, Debug)]
pub struct Explanation {
    /// The protocol and configured provider that verified the identity.
    pub protocol: Protocol,
    pub provider: String,
    /// The grant that would be used; `None` when no single grant could be chosen (see problems).
    pub grant: Option<Grant>,
    pub session_name: Option<RoleSessionName>,
    pub source_identity: Option<String>,
    /// The session tags AWS would receive: the grant's (assume-role, issuer) or those inside the
    /// assertion/token (pass-through).
    pub tags: SessionTags,
    pub duration: Option<Negotiated>,
    /// Empty: the request would pass every check the broker makes before calling STS.
    pub problems: Vec<Problem>,
}

impl Exchange {
    /// The roles `credential` may assume under the rules (without rules: what the SAML `Role`
    /// attribute offers; a web-identity token then lists none, the caller names the role).
    pub async fn roles(
        &self,
        credential: PresentedCredential,
    ) -> Result<OfferedRoles, ExchangeError> {
        let identity = self.validate_presented(credential).await?;
        Ok(OfferedRoles {
            roles: offered_roles(&self.rules, &identity)?,
            protocol: identity.protocol(),
            provider: identity.provider().to_owned(),
        })
    }

    /// Explain a credentials request without making it; see the module doc.
    pub async fn explain(&self, req: ExplainRequest) -> Result<Explanation, ExchangeError> {
        let identity = self.validate_presented(req.credential).await?;
        let mut problems = Vec::new();
        let mut note = |e: ExchangeError| problems.push(Problem::from_error(&e));

        let requested_role = parse_role_arn(req.role_arn.as_deref()).unwrap_or_else(|e| {
            note(e);
            None
        });
        let role_valid = req.role_arn.is_none() || requested_role.is_some();
        let requested_duration =
            parse_duration(req.duration_seconds.as_deref()).unwrap_or_else(|e| {
                note(e);
                None
            });
        let requested_name = match identity.protocol() {
            Protocol::Saml => {
                if req.session_name.is_some() {
                    note(super::bad(
                        "session_name_not_accepted",
                        "SAML sessions are named by the mapping rule or the assertion's RoleSessionName; /v1/saml/credentials takes no session_name".into(),
                    ));
                }
                None
            }
            Protocol::Oidc => parse_session_name(req.session_name.as_deref()).unwrap_or_else(|e| {
                note(e);
                None
            }),
        };

        // An invalid role_arn names no role: choosing one for it would only add noise.
        let grant = if role_valid {
            self.select_grant(&identity, requested_role.as_ref())
                .map_err(&mut note)
                .ok()
        } else {
            None
        };
        if grant.as_ref().is_some_and(|g| g.mode == StsMode::Issuer) && self.issuer.is_none() {
            note(ExchangeError::IssuerDisabled);
        }
        // Without a grant the IdP's limits still apply; the rule's are unknown.
        let duration = self
            .negotiate(
                &identity,
                grant.as_ref().and_then(|g| g.duration),
                requested_duration,
            )
            .map_err(&mut note)
            .ok();

        let Some(grant) = grant else {
            return Ok(Explanation {
                protocol: identity.protocol(),
                provider: identity.provider().to_owned(),
                grant: None,
                session_name: None,
                source_identity: None,
                tags: Default::default(),
                duration: None,
                problems,
            });
        };
        if let Err(e) = check_caller_session_name(&grant, requested_name.as_ref()) {
            note(e);
        }
        let requested_name = requested_name
            .filter(|_| grant.mode == StsMode::PassThrough || grant.allow_caller_session_name);
        let session_name = match identity.protocol() {
            Protocol::Saml => saml_session_name(&identity, &grant),
            Protocol::Oidc => Some(web_identity_session_name(&identity, &grant, requested_name)),
        };
        let tags = if grant.mode == StsMode::PassThrough {
            identity.aws().tags.clone()
        } else {
            grant.tags.clone()
        };
        let source_identity = grant
            .source_identity
            .as_ref()
            .or(identity.aws().source_identity.as_ref())
            .map(|s| s.as_str().to_owned());
        log_explained(&identity, &grant, problems.len());
        Ok(Explanation {
            protocol: identity.protocol(),
            provider: identity.provider().to_owned(),
            grant: Some(grant),
            session_name,
            source_identity,
            tags,
            duration,
            problems,
        })
    }

    /// Validate with the same validators as the credentials flows; never consumes the message.
    async fn validate_presented(
        &self,
        credential: PresentedCredential,
    ) -> Result<VerifiedIdentity, ExchangeError> {
        match credential {
            PresentedCredential::SamlResponse(saml) => self.validate_saml_api(saml).await,
            PresentedCredential::WebIdentityToken(token) => {
                Ok(self.oidc.validate(token.expose_secret()).await?)
            }
        }
    }
}

/// The roles `rules` offer a verified identity (`/v1/roles`, `fedbroker saml-check`). Without
/// rules: what the SAML `Role` attribute offers; a web-identity token then lists none (the caller
/// names the role).
pub fn offered_roles(
    rules: &Rules,
    identity: &VerifiedIdentity,
) -> Result<Vec<RoleSummary>, MappingError> {
    if identity.protocol() == Protocol::Oidc && rules.is_empty() {
        return Ok(Vec::new());
    }
    Ok(evaluate(rules, identity)?
        .iter()
        .map(RoleSummary::from)
        .collect())
}

/// Audit what was explained (subject hashed; never the message itself).
fn log_explained(identity: &VerifiedIdentity, grant: &Grant, problems: usize) {
    tracing::info!(
        event = "grant.explained",
        protocol = identity.protocol().as_str(),
        provider = identity.provider(),
        subject = %identity.subject_hash(),
        rule = %grant.rule,
        role_arn = grant.role_arn.as_str(),
        problems,
        "explained a grant without calling STS"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_carry_the_credentials_endpoint_codes_and_detail() {
        let role = RoleArn::parse("arn:aws:iam::123456789012:role/A").unwrap();
        let e = ExchangeError::from(crate::mapping::MappingError::ChooseRole {
            offered: vec![role],
        });
        let p = Problem::from_error(&e);
        assert_eq!(p.code, "role_choice_required");
        assert_eq!(p.detail.unwrap()["roles"].as_array().unwrap().len(), 1);
    }
}
