//! In-process replay store (default when no `redis_url` is configured).
