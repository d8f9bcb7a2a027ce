//! Role selection from a VerifiedIdentity.
