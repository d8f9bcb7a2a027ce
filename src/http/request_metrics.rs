//! Request count and latency by route pattern, method and status class
//! (`fedbroker_http_request_duration_seconds`). The label is the *matched pattern*, so the series
//! count stays bounded whatever paths clients send.

use super::AppState;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web;

pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = std::time::Instant::now();
    let metrics = req
        .app_data::<web::Data<AppState>>()
        .map(|s| s.metrics.clone());
    let method = req.method().as_str().to_owned();
    let res = next.call(req).await?;
    if let Some(m) = metrics {
        let route = res.request().match_pattern();
        m.request(
            route.as_deref(),
            &method,
            res.status().as_u16(),
            started.elapsed().as_secs_f64(),
        );
    }
    Ok(res)
}
