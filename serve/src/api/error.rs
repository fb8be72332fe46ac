//! `ApiError`: every failure a client can cause or see, as an OpenAI-shaped JSON error with the
//! right status. Internal details are logged, never sent.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chat::{ErrorBody, ErrorDetail};

use crate::engine::InvalidField;

/// An error answered to a client.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// OpenAI error type (`invalid_request_error`, `authentication_error`, ...).
    pub kind: &'static str,
    /// Message for the client.
    pub message: String,
    /// The request field at fault.
    pub param: Option<String>,
    /// Seconds to wait before retrying (429).
    pub retry_after: Option<u64>,
}

impl ApiError {
    fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            kind,
            message: message.into(),
            param: None,
            retry_after: None,
        }
    }

    /// 400: the request is wrong; `param` names the field.
    pub fn bad_request(param: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError {
            param: Some(param.into()),
            ..ApiError::new(StatusCode::BAD_REQUEST, "invalid_request_error", message)
        }
    }

    /// 422: well-formed JSON with a field of the wrong type or value.
    pub fn unprocessable(param: Option<String>, message: impl Into<String>) -> ApiError {
        ApiError {
            param,
            ..ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_request_error",
                message,
            )
        }
    }

    /// 401: missing or wrong API key.
    pub fn unauthorized() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            "missing or invalid API key; send `Authorization: Bearer <key>`",
        )
    }

    /// 404: no such model (the message lists the served ones).
    pub fn unknown_model(model: &str, served: &[String]) -> ApiError {
        ApiError {
            param: Some("model".to_string()),
            ..ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found_error",
                format!(
                    "model `{model}` is not served here; served: {}",
                    served.join(", ")
                ),
            )
        }
    }

    /// 413: the body is over the limit.
    pub fn too_large(limit: usize) -> ApiError {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request_error",
            format!("request body over {limit} bytes"),
        )
    }

    /// 429: the queue is full; retry after `seconds`.
    pub fn overloaded(seconds: u64) -> ApiError {
        ApiError {
            retry_after: Some(seconds),
            ..ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_error",
                "server busy: the request queue is full; retry later",
            )
        }
    }

    /// 503: the model is still loading (or failed to load).
    pub fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError {
            retry_after: Some(5),
            ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "server_error", message)
        }
    }

    /// 504: generation took longer than the request timeout.
    pub fn timeout(seconds: f64) -> ApiError {
        ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "timeout_error",
            format!("generation exceeded the {seconds} s request timeout"),
        )
    }

    /// 500: something failed inside; the detail is logged, the client gets a generic message.
    pub fn internal(detail: impl std::fmt::Display) -> ApiError {
        tracing::error!("internal error: {detail}");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "internal error; see the server log",
        )
    }

    /// 404 for unknown routes.
    pub fn no_route() -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found_error", "no such route")
    }

    /// 405 for a known route with the wrong method.
    pub fn wrong_method() -> ApiError {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request_error",
            "method not allowed on this route",
        )
    }

    /// The JSON body.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                message: self.message.clone(),
                kind: self.kind.to_string(),
                param: self.param.clone(),
                code: None,
            },
        }
    }
}

impl From<InvalidField> for ApiError {
    /// 400 naming the field.
    fn from(invalid: InvalidField) -> ApiError {
        ApiError::bad_request(invalid.field, invalid.message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.body())).into_response();
        if let Some(seconds) = self.retry_after {
            if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
        }
        response
    }
}
