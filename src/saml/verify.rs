//! SAML verify stage (see saml/mod.rs).
