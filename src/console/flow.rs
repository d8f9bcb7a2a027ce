//! `POST /v1/console-url` without actix types: check the console options, exchange the
//! assertion/token through the ordinary credential flow (cache, replay protection, revocation),
//! then build the login URL.
//!
//! Invariant: everything the caller can get wrong in the console options is refused before the
//! exchange, so a bad destination or session duration never consumes an assertion nor reaches STS
//! or the federation endpoint. The console `SessionDuration` is also checked against the
//! negotiated credential duration inside the exchange, before the assertion is consumed. (Only
//! the role-chaining limit needs the issued credentials.)

use super::{ConsoleError, ConsoleRequest, ConsoleService, ConsoleUrl, Partition};
use crate::aws::RoleArn;
use crate::exchange::{
    Exchange, IssuedCredentials, PresentedCredential, SamlCredentialsRequest, WebIdentityRequest,
};

/// A caller's console URL request (fields unverified).
#[derive(Debug)]
pub struct ConsoleUrlRequest {
    pub credential: PresentedCredential,
    pub role_arn: Option<String>,
    pub duration_seconds: Option<String>,
    /// Web identity only (as on `/v1/web-identity/credentials`).
    pub session_name: Option<String>,
    pub console: ConsoleRequest,
}

/// The credentials obtained (for metrics) and the login URL.
#[derive(Debug)]
pub struct ConsoleSignin {
    pub issued: IssuedCredentials,
    pub url: ConsoleUrl,
}

impl ConsoleService {
    /// Check, exchange, sign in; see the module doc.
    pub async fn sign_in(
        &self,
        exchange: &Exchange,
        req: ConsoleUrlRequest,
    ) -> Result<ConsoleSignin, ConsoleError> {
        // A named role fixes the partition now; otherwise the rules choose it during the exchange.
        let partition = req
            .role_arn
            .as_deref()
            .and_then(|r| RoleArn::parse(r).ok())
            .map(|r| Partition::of_role(&r))
            .transpose()?;
        let checked = self.check(&req.console, partition)?;
        let console_session_seconds = checked.session_duration_secs();
        let issued = match req.credential {
            PresentedCredential::SamlResponse(saml_response) => {
                if req.session_name.is_some() {
                    return Err(ConsoleError::SessionNameNotAccepted);
                }
                exchange
                    .saml_credentials(SamlCredentialsRequest {
                        saml_response,
                        role_arn: req.role_arn,
                        duration_seconds: req.duration_seconds,
                        console_session_seconds,
                    })
                    .await?
            }
            PresentedCredential::WebIdentityToken(token) => {
                exchange
                    .web_identity_credentials(WebIdentityRequest {
                        token,
                        role_arn: req.role_arn,
                        duration_seconds: req.duration_seconds,
                        session_name: req.session_name,
                        console_session_seconds,
                    })
                    .await?
            }
        };
        let url = self.signin_url(&issued, &req.console).await?;
        Ok(ConsoleSignin { issued, url })
    }
}
