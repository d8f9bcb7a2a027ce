//! The credential cache: one conformance suite over the in-process store and every Redis topology, and single-flight (one STS call for concurrent misses).

mod conformance;
mod single_flight;
