//! SAML validation: the test IdP itself, accepted layouts, attacks, profile rejections, encrypted assertions, metadata refresh, legacy config, `saml-check` and the interop corpus.

mod accepts;
mod attacks;
mod check;
mod encrypted;
mod idp_roundtrip;
mod interop;
mod legacy_config;
mod metadata_refresh;
mod profile_rejects;
