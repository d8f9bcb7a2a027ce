//! SAML preflight stage (see saml/mod.rs).
