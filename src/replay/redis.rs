//! Redis replay store: `SET key 1 NX PX ttl`, shared by all broker instances.
