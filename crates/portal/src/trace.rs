//! The message trace API: `GET /api/v1/messages/{id}` with `Authorization: Bearer TOKEN` (the
//! token whose SHA-256 is `[portal] api_token_sha256`): the message, each recipient's state,
//! every attempt with its TLS evidence and the variant sent with its reason, the files kept for
//! links, each link and the portal's audit log.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sekisho_store::links::token_hash;

use crate::Portal;
use crate::session::same;

fn error(status: StatusCode, sentence: &str) -> Response {
    (status, Json(serde_json::json!({ "error": sentence }))).into_response()
}

/// `GET /api/v1/messages/{id}`
pub async fn message(State(portal): State<Portal>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let expected = &portal.inner.config.portal.api_token_sha256;
    if expected.is_empty() {
        return error(StatusCode::NOT_FOUND, "the message trace API is off ([portal] api_token_sha256)");
    }
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| token_hash(t.trim()));
    if !given.is_some_and(|g| same(&g, &expected.to_ascii_lowercase())) {
        let mut r = error(StatusCode::UNAUTHORIZED, "a valid bearer token is needed");
        r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return r;
    }
    let stores = &portal.inner.stores;
    let detail = match stores.messages.message(&id).await {
        Ok(Some(d)) => d,
        Ok(None) => return error(StatusCode::NOT_FOUND, "no such message"),
        Err(e) => return error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
    };
    let found =
        tokio::try_join!(stores.links.link_message(&id), stores.links.links(Some(&id)), stores.links.events(&id));
    let (kept, links, events) = match found {
        Ok(v) => v,
        Err(e) => return error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
    };
    Json(serde_json::json!({
        "message": detail,
        "files": kept.map(|k| k.files).unwrap_or_default(),
        "links": links,
        "events": events,
    }))
    .into_response()
}
