//! SAML profile stage (see saml/mod.rs).
