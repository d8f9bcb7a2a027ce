//! SAML assertions that belong to the broker's own browser sign-in are refused on the API
//! (`/v1/saml/credentials`, `/v1/roles`, `/v1/explain`, `/v1/console-url`).
//!
//! Invariant: an assertion that answers an AuthnRequest (`InResponseTo`), names the broker's SP
//! entity ID as an Audience, or names the broker's ACS as its Recipient was issued for a sign-in
//! in one browser; `/saml/acs` redeems it only with that browser's binding cookie. Accepted on the
//! API it would be a bearer token without that binding, so it is refused here (401
//! `saml_browser_assertion`) before anything is consumed. Only verified values are compared.

use super::ExchangeError;
use crate::config::Config;
use crate::identity::VerifiedIdentity;

/// The broker's own SAML SP addresses (browser sign-in).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BrowserSp {
    /// `saml.sp_entity_id`, else `<server.public_url>/saml/metadata`.
    pub entity_id: String,
    /// `<server.public_url>/saml/acs`.
    pub acs_url: String,
}

impl BrowserSp {
    pub fn from_config(cfg: &Config) -> Self {
        Self {
            entity_id: crate::sign_in::saml::sp_entity_id(cfg),
            acs_url: crate::sign_in::saml::acs_url(&cfg.server.public_url),
        }
    }

    /// Why `identity` belongs to the browser flow, if it does.
    pub fn browser_reason(&self, identity: &VerifiedIdentity) -> Option<&'static str> {
        if identity.in_response_to().is_some() {
            return Some("it answers a sign-in request (InResponseTo)");
        }
        if !self.entity_id.is_empty() && identity.audiences().contains(&self.entity_id) {
            return Some("its Audience is the broker's own SP entity ID");
        }
        if !self.acs_url.is_empty() && identity.recipient() == Some(self.acs_url.as_str()) {
            return Some("its Recipient is the broker's /saml/acs");
        }
        None
    }

    /// Refuse an assertion of the browser flow on the API.
    pub(super) fn refuse_on_api(&self, identity: &VerifiedIdentity) -> Result<(), ExchangeError> {
        match self.browser_reason(identity) {
            Some(why) => {
                tracing::warn!(
                    event = "saml.browser_assertion_refused",
                    provider = identity.provider(),
                    subject = %identity.subject_hash(),
                    token_id = identity.token_id(),
                    reason = why,
                    "browser sign-in assertion presented to the API"
                );
                Err(ExchangeError::BrowserAssertion(why))
            }
            None => Ok(()),
        }
    }
}
