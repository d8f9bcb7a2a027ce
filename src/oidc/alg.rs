//! The signing algorithms this broker can ever accept, and what key each one needs.
//!
//! Invariant: `none` and every HMAC algorithm are unrepresentable here, so no configuration can
//! allow them (docs/SECURITY.md J01, J02). EdDSA and ES512 are not offered: AWS STS does not document
//! them for web-identity tokens and no supported IdP needs them.

use std::fmt;

/// An asymmetric JWS algorithm (RFC 7518 §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SigningAlg {
    RS256,
    RS384,
    RS512,
    PS256,
    PS384,
    PS512,
    ES256,
    ES384,
}

/// The key family an algorithm needs: the key type decides the algorithm family, never the header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyFamily {
    Rsa,
    /// EC on the named curve (`crv`).
    Ec(&'static str),
}

impl SigningAlg {
    pub const ALL: [SigningAlg; 8] = [
        Self::RS256,
        Self::RS384,
        Self::RS512,
        Self::PS256,
        Self::PS384,
        Self::PS512,
        Self::ES256,
        Self::ES384,
    ];

    /// Default per-provider allowlist when `allowed_algorithms` is not configured: every RSA
    /// variant plus ES256/ES384 (what GitHub, GitLab, Kubernetes, Google, Entra and Okta use).
    pub const DEFAULT_ALLOWED: [SigningAlg; 6] = [
        Self::RS256,
        Self::RS384,
        Self::RS512,
        Self::PS256,
        Self::ES256,
        Self::ES384,
    ];

    /// Exact, case-sensitive JOSE name (RFC 7515 §4.1.1: `alg` is case-sensitive).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::RS256 => "RS256",
            Self::RS384 => "RS384",
            Self::RS512 => "RS512",
            Self::PS256 => "PS256",
            Self::PS384 => "PS384",
            Self::PS512 => "PS512",
            Self::ES256 => "ES256",
            Self::ES384 => "ES384",
        }
    }

    pub fn family(self) -> KeyFamily {
        match self {
            Self::ES256 => KeyFamily::Ec("P-256"),
            Self::ES384 => KeyFamily::Ec("P-384"),
            _ => KeyFamily::Rsa,
        }
    }

    pub fn to_jsonwebtoken(self) -> jsonwebtoken::Algorithm {
        use jsonwebtoken::Algorithm as A;
        match self {
            Self::RS256 => A::RS256,
            Self::RS384 => A::RS384,
            Self::RS512 => A::RS512,
            Self::PS256 => A::PS256,
            Self::PS384 => A::PS384,
            Self::PS512 => A::PS512,
            Self::ES256 => A::ES256,
            Self::ES384 => A::ES384,
        }
    }
}

impl fmt::Display for SigningAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::SigningAlg;

    #[test]
    fn none_and_hmac_are_unrepresentable() {
        for bad in [
            "none", "None", "HS256", "HS384", "HS512", "rs256", "EdDSA", "ES512", "",
        ] {
            assert_eq!(SigningAlg::parse(bad), None, "{bad}");
        }
        assert_eq!(SigningAlg::parse("PS512"), Some(SigningAlg::PS512));
    }
}
