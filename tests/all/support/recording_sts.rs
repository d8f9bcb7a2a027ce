//! A recorder around the real `SdkStsClient` (talking to moto): keeps every request the broker
//! sends, by operation, then forwards it. Used where moto cannot show what it received (it ignores
//! DurationSeconds on AssumeRoleWithSAML, fails on multi-valued Role attributes, never verifies
//! tokens), and to prove that refused requests never reach STS.
#![allow(dead_code)]

use fedbroker::sts::sdk::SdkStsClient;
use fedbroker::sts::{
    AssumeRoleRequest, AssumeRoleWithSamlRequest, AssumeRoleWithWebIdentityRequest, StsClient,
    StsCredentials, StsError,
};
use std::sync::{Arc, Mutex, MutexGuard};

/// Requests received, by operation.
#[derive(Debug, Default)]
pub struct Seen {
    pub saml: Vec<AssumeRoleWithSamlRequest>,
    pub web_identity: Vec<AssumeRoleWithWebIdentityRequest>,
    pub assume_role: Vec<AssumeRoleRequest>,
    /// Credentials STS returned, in call order (to compare with what was sent onwards).
    pub issued: Vec<StsCredentials>,
}

#[derive(Debug)]
pub struct RecordingSts {
    inner: SdkStsClient,
    seen: Mutex<Seen>,
}

impl RecordingSts {
    /// Forwarding to moto at `FEDBROKER_TEST_STS_ENDPOINT` (fails loudly when unset).
    pub fn to_moto() -> Arc<Self> {
        Self::wrapping(SdkStsClient::new("us-east-1", Some(&moto_endpoint())))
    }

    /// Forwarding to `inner` (e.g. with broker credentials for AssumeRole).
    pub fn wrapping(inner: SdkStsClient) -> Arc<Self> {
        Arc::new(Self {
            inner,
            seen: Mutex::new(Seen::default()),
        })
    }

    pub fn seen(&self) -> MutexGuard<'_, Seen> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Calls of every operation.
    pub fn calls(&self) -> usize {
        let s = self.seen();
        s.saml.len() + s.web_identity.len() + s.assume_role.len()
    }

    /// (role ARN, DurationSeconds) of each AssumeRoleWithSAML call.
    pub fn saml_roles_and_durations(&self) -> Vec<(String, Option<u32>)> {
        self.seen()
            .saml
            .iter()
            .map(|r| (r.role_arn.to_string(), r.duration.map(|d| d.secs())))
            .collect()
    }
}

impl RecordingSts {
    fn record(&self, r: Result<StsCredentials, StsError>) -> Result<StsCredentials, StsError> {
        if let Ok(c) = &r {
            self.seen().issued.push(c.clone());
        }
        r
    }
}

/// moto's URL, from the env file `scripts/services.sh start` writes.
pub fn moto_endpoint() -> String {
    std::env::var("FEDBROKER_TEST_STS_ENDPOINT").unwrap_or_else(|_| {
        panic!(
            "FEDBROKER_TEST_STS_ENDPOINT is not set: run the tests through scripts/test.sh, or \
             `scripts/services.sh start && . .fedbroker-run/services.env` first"
        )
    })
}

#[async_trait::async_trait]
impl StsClient for RecordingSts {
    async fn assume_role_with_saml(
        &self,
        req: AssumeRoleWithSamlRequest,
    ) -> Result<StsCredentials, StsError> {
        self.seen().saml.push(req.clone());
        self.record(self.inner.assume_role_with_saml(req).await)
    }
    async fn assume_role_with_web_identity(
        &self,
        req: AssumeRoleWithWebIdentityRequest,
    ) -> Result<StsCredentials, StsError> {
        self.seen().web_identity.push(req.clone());
        self.record(self.inner.assume_role_with_web_identity(req).await)
    }
    async fn assume_role(&self, req: AssumeRoleRequest) -> Result<StsCredentials, StsError> {
        self.seen().assume_role.push(req.clone());
        self.record(self.inner.assume_role(req).await)
    }
}
