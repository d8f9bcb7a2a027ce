//! SAML attributes stage (see saml/mod.rs).
