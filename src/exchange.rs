//! Orchestration: identity → role → STS → credentials. Knows no actix types.
