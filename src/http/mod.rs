//! HTTP surface (actix-web).
