//! What wraps every request before and after its handler: the client's address
//! (`client_addr`, behind trusted proxies), the per-client rate limit (`rate_limit`), the request
//! id and access log (`request_id`), request metrics (`request_metrics`), and the broker's own
//! answers for unmatched or unparsable requests with the headers every answer carries
//! (`fallback`). The body deadline lives with the other connection limits (`http::connections`).

pub mod client_addr;
pub mod fallback;
pub mod rate_limit;
pub mod request_id;
pub mod request_metrics;
