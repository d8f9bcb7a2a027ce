//! Redis links and topologies (standalone, TLS, Cluster, Sentinel) and Sentinel failover under load.

mod failover;
mod topologies;
