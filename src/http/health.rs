//! `/healthz` (the process answers) and `/readyz` (its dependencies answer: the replay store,
//! which is Redis when configured).

use super::errors::error_response;
use super::AppState;
use actix_web::{web, HttpResponse};

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    match state.exchange.replay.ping().await {
        Ok(()) => HttpResponse::Ok().json(serde_json::json!({ "status": "ready" })),
        Err(e) => error_response(&e),
    }
}
