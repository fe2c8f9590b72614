//! The one error type of the HTTP API and its mapping to status codes, including the
//! run engine's own errors (architecture §7.4).
//!
//! Policy: the client gets `{"error": {"code", "message"}}` with a status that says
//! what to do; anything internal is logged with its cause and answered with a generic
//! 500, so no SQL, path or secret ever reaches a client.

use crate::sync::dispatch::DispatchError;
use crate::sync::held::DecideError;
use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    /// The message says what credentials were expected or why they failed.
    #[error("{0}")]
    Unauthenticated(&'static str),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
    /// With the seconds until the limit lifts (the `Retry-After` header).
    #[error("too many attempts, try again in {0} seconds")]
    TooManyRequests(u64),
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Timeout(String),
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::Unauthenticated(_) => (StatusCode::UNAUTHORIZED, "unauthenticated"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::Invalid(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid"),
            ApiError::TooManyRequests(_) => (StatusCode::TOO_MANY_REQUESTS, "too_many_requests"),
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ApiError::Timeout(_) => (StatusCode::GATEWAY_TIMEOUT, "timeout"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        ApiError::Internal(anyhow::Error::new(e).context("database"))
    }
}

/// The one shape of every error answer.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    error: ErrorDetail,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// What kind of error: what to do about it.
    #[schema(value_type = String, pattern = "^(bad_request|unauthenticated|forbidden|not_found|conflict|invalid|too_many_requests|unavailable|timeout|internal)$")]
    code: &'static str,
    /// What is wrong, for a person.
    message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        if let ApiError::Internal(e) = &self {
            tracing::error!(error = format!("{e:#}"), "request failed");
        }
        let body = ErrorBody {
            error: ErrorDetail {
                code,
                message: self.to_string(),
            },
        };
        let mut resp = (status, Json(body)).into_response();
        if let ApiError::TooManyRequests(secs) = self {
            resp.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(secs.max(1)),
            );
        }
        resp
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        match r {
            JsonRejection::JsonDataError(e) => ApiError::Invalid(e.body_text()),
            other => ApiError::BadRequest(other.body_text()),
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        ApiError::BadRequest(r.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::BadRequest(r.body_text())
    }
}

/// For bodies holding a password: serde's message may quote the value it choked on
/// (a password sent as a number, say), so only the expected shape is told (architecture §8.1).
pub fn body_error_without_values(r: JsonRejection, shape: &'static str) -> ApiError {
    match r {
        JsonRejection::JsonDataError(_) => ApiError::Invalid(format!("the body must be {shape}")),
        _ => ApiError::BadRequest(format!("the body must be JSON: {shape}")),
    }
}

/// The run engine's refusals, as the API answers them.
impl From<DispatchError> for ApiError {
    fn from(e: DispatchError) -> Self {
        match e {
            DispatchError::Db(e) => e.into(),
            // The synchronization's state, not the server's health: a 5xx here would
            // page whoever watches the server's error rate.
            DispatchError::NoAgent | DispatchError::Active(_) => ApiError::Conflict(e.to_string()),
            DispatchError::OtherReplica | DispatchError::AgentGone => {
                ApiError::Unavailable(e.to_string())
            }
        }
    }
}

impl From<DecideError> for ApiError {
    fn from(e: DecideError) -> Self {
        match e {
            DecideError::Stale | DecideError::DecidedMeanwhile => ApiError::Conflict(e.to_string()),
            DecideError::Db(e) => e.into(),
        }
    }
}

/// A unique-constraint violation becomes a 409 with `message`; anything else stays an
/// internal error.
pub fn on_unique(e: sqlx::Error, message: impl Into<String>) -> ApiError {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => ApiError::Conflict(message.into()),
        _ => e.into(),
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// `Json` whose rejections answer in the API's error shape.
#[derive(axum::extract::FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

/// `Query` whose rejections answer in the API's error shape.
#[derive(axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

/// `Path` whose rejections answer in the API's error shape.
#[derive(axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);
