//! The per-client rate limit as actix middleware (see `crate::limits`): every route except health,
//! readiness and metrics, keyed by the client address (`client_addr`: the TCP peer, or the client a
//! trusted proxy names); over the limit → 429 with `Retry-After`.

use crate::http::errors::error_response;
use crate::http::middleware::client_addr::service_client_ip;
use crate::http::AppState;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web;

/// Routes never limited (probes and scrapes must see the process as it is).
const UNLIMITED: [&str; 3] = ["/healthz", "/readyz", "/metrics"];

pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    if !UNLIMITED.contains(&req.path()) {
        let client = service_client_ip(&req).map(|ip| ip.to_string());
        if let (Some(state), Some(client)) = (req.app_data::<web::Data<AppState>>(), client) {
            if let Err(e) = state.exchange().limits.check_client(&client) {
                let resp = error_response(&e);
                return Ok(req.into_response(resp).map_into_right_body());
            }
        }
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_left_body)
}
