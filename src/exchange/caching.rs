//! The credential cache between a session plan and STS: which requests may share an entry (the
//! key), what an administrator can revoke them by (labels), and which entries the broker may renew
//! on its own (assume-role, issuer). The key and labels are computed once, into the plan
//! (`plan.rs`); the session name, tags and source identity in the key are the plan's terms.
//!
//! Invariants:
//! - the key covers everything that shapes the session *and* everything AWS's trust policy may
//!   evaluate: in pass-through modes every verified attribute or claim except per-message ones
//!   ([`PER_MESSAGE_CLAIMS`]), so a cached session never reaches a caller whose own assertion or
//!   token AWS would refuse;
//! - the duration part is the negotiated duration, or the IdP session's end when that is what
//!   limited it (SAML `SessionNotOnOrAfter`), so a cached session never outlives the IdP session;
//! - a blocked (revoked) subject or role gets nothing, from the cache or from STS, and an entry
//!   fetched while a revocation landed is purged rather than served;
//! - pass-through entries are never renewed in the background (the IdP's message is single-use).

use super::plan::{SessionPlan, SessionTerms};
use super::{Exchange, ExchangeError};
use crate::cache::{
    CacheKey, CacheKeyInput, CacheOutcome, CachingExchange, Checked, Label, RenewFn,
};
use crate::identity::VerifiedIdentity;
use crate::mapping::{DurationReason, Grant, Negotiated, StsMode};
use crate::sts::StsCredentials;
use futures_util::FutureExt;
use std::sync::Arc;

/// Claims that differ on every message although the identity is the same (token IDs, nonces,
/// hashes, session IDs). They are not trust-policy keys AWS evaluates, and keeping them would make
/// every pass-through request a miss.
pub const PER_MESSAGE_CLAIMS: &[&str] = &["jti", "nonce", "at_hash", "c_hash", "sid", "uti", "rh"];

/// The revocation labels of a grant: its subject and its role.
pub fn revocation_labels(identity: &VerifiedIdentity, grant: &Grant) -> Vec<Label> {
    vec![
        Label::subject(identity.subject()),
        Label::role(grant.role_arn.as_str()),
    ]
}

/// The cache key for this identity, grant and session (see the module invariants); the plan
/// computes it once ([`SessionPlan::cache_key`]).
pub(super) fn cache_key(
    identity: &VerifiedIdentity,
    grant: &Grant,
    terms: &SessionTerms,
    duration: &Negotiated,
    sts_scope: &str,
) -> CacheKey {
    let mut context = Vec::new();
    if grant.mode == StsMode::PassThrough {
        for (name, values) in identity.attributes() {
            if PER_MESSAGE_CLAIMS.contains(&name.as_str()) {
                continue;
            }
            context.extend(values.iter().map(|v| (name.clone(), v.clone())));
        }
        if let Some(f) = identity.subject_format() {
            context.push(("\0subject_format".into(), f.to_owned()));
        }
    }
    let duration_class = match (duration.reason, identity.aws().session_not_on_or_after) {
        (DurationReason::IdpSessionEnds, Some(end)) => format!("until:{}", end.timestamp()),
        _ => duration.seconds().to_string(),
    };
    CacheKey::derive(&CacheKeyInput {
        provider: identity.provider().to_owned(),
        issuer: identity.issuer().to_owned(),
        subject: identity.subject().to_owned(),
        role_arn: grant.role_arn.as_str().to_owned(),
        mode: grant.mode.as_str().to_owned(),
        tags: terms
            .tags
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.as_str().to_owned()))
            .collect(),
        transitive_keys: terms
            .tags
            .transitive_keys()
            .iter()
            .map(|k| k.as_str().to_owned())
            .collect(),
        source_identity: terms
            .source_identity
            .as_ref()
            .map(|s| s.as_str().to_owned()),
        session_policy: grant.policy.as_ref().map(|p| p.as_str().to_owned()),
        policy_arns: grant
            .policy_arns
            .iter()
            .map(|a| a.as_str().to_owned())
            .collect(),
        external_id: grant.external_id.as_ref().map(|e| e.as_str().to_owned()),
        duration_class,
        session_name: terms
            .session_name
            .as_ref()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default(),
        sts_endpoint: sts_scope.to_owned(),
        principal_arn: grant.principal_arn.as_ref().map(|p| p.as_str().to_owned()),
        context,
    })
}

impl Exchange {
    /// Refuse a revoked subject or role (before the replay store consumes the message).
    pub(super) async fn check_not_revoked(&self, plan: &SessionPlan) -> Result<(), ExchangeError> {
        match &self.cache {
            Some(cache) if cache.blocked(&plan.labels).await => Err(ExchangeError::Revoked),
            _ => Ok(()),
        }
    }

    /// [`Self::check_not_revoked`] and, with a cache, the read of the plan's entry in the same
    /// store call (one Redis round trip for a cache hit), for [`Self::obtain`]. Only where nothing
    /// but synchronous checks comes between this and `obtain`: with a replay consumption between,
    /// check first and let `obtain` read after it, so a revocation landing meanwhile still counts.
    pub(super) async fn check_and_read(
        &self,
        plan: &SessionPlan,
    ) -> Result<Option<Checked>, ExchangeError> {
        match &self.cache {
            Some(cache) => read_checked(cache, plan).await.map(Some),
            None => Ok(None),
        }
    }

    /// Credentials for a plan: from the cache when one is configured (`checked`: what
    /// [`Self::check_and_read`] read, or `None` to check and read here), else straight from STS.
    pub(super) async fn obtain(
        &self,
        plan: &SessionPlan,
        checked: Option<Checked>,
    ) -> Result<(StsCredentials, Option<CacheOutcome>), ExchangeError> {
        let Some(cache) = &self.cache else {
            let c = plan
                .call
                .send(self.sts.as_ref(), plan.duration.duration)
                .await?;
            return Ok((c, None));
        };
        let checked = match checked {
            Some(c) => c,
            // Not read with the check (a replay consumption came between): check and read now.
            None => read_checked(cache, plan).await?,
        };
        let fetch = self.fetcher(plan);
        let renew = (plan.call.mode() != StsMode::PassThrough).then(|| fetch.clone());
        let (credentials, outcome) = cache
            .get_or_fetch_checked(checked, &plan.labels, renew, move || fetch())
            .await?;
        if outcome != CacheOutcome::Hit && cache.blocked(&plan.labels).await {
            // A revocation landed while STS was answering: do not serve or keep the result.
            let _ = cache.purge(&plan.cache_key).await;
            return Err(ExchangeError::Revoked);
        }
        Ok((credentials, Some(outcome)))
    }

    /// The plan's STS call as a repeatable closure (shared copies of what it needs).
    fn fetcher(&self, plan: &SessionPlan) -> RenewFn {
        let sts = Arc::clone(&self.sts);
        let call = Arc::clone(&plan.call);
        let duration = plan.duration.duration;
        Arc::new(move || {
            let (sts, call) = (Arc::clone(&sts), Arc::clone(&call));
            async move { call.send(sts.as_ref(), duration).await }.boxed()
        })
    }
}

/// The block check and the read of the plan's entry, in one store call.
async fn read_checked(
    cache: &CachingExchange,
    plan: &SessionPlan,
) -> Result<Checked, ExchangeError> {
    cache
        .check_and_read(&plan.cache_key, &plan.labels)
        .await
        .ok_or(ExchangeError::Revoked)
}
