//! Reading request bodies ourselves, so that every bad body gets an OpenAI-shaped error: 413 over
//! the size limit, 400 for invalid UTF-8 or JSON, 422 for a field of the wrong type (naming it).

use axum::body::Body;
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// Reads and decodes a JSON body of at most `limit` bytes.
pub async fn read_json<T: DeserializeOwned>(body: Body, limit: usize) -> Result<T, ApiError> {
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|error| {
        let inner = error.into_inner();
        if inner
            .downcast_ref::<http_body_util::LengthLimitError>()
            .is_some()
        {
            ApiError::too_large(limit)
        } else {
            ApiError::bad_request("(body)", format!("could not read the body: {inner}"))
        }
    })?;
    decode_json(&bytes)
}

/// Decodes JSON bytes into `T` with the error statuses described above.
pub fn decode_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let text = std::str::from_utf8(bytes).map_err(|error| {
        ApiError::bad_request(
            "(body)",
            format!(
                "the body is not valid UTF-8 (at byte {})",
                error.valid_up_to()
            ),
        )
    })?;
    let value: serde_json::Value = serde_json::from_str(text).map_err(|error| {
        ApiError::bad_request(
            "(body)",
            format!(
                "invalid JSON at line {} column {}: {error}",
                error.line(),
                error.column()
            ),
        )
    })?;
    if !value.is_object() {
        return Err(ApiError::bad_request(
            "(body)",
            "the body must be a JSON object",
        ));
    }
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        let param = (path != ".").then_some(path);
        ApiError::unprocessable(param, error.inner().to_string())
    })
}

/// Fields a client may send that do not change the answer; ignored.
const IGNORED_FIELDS: [&str; 6] = [
    "user",
    "metadata",
    "store",
    "stream_options",
    "service_tier",
    "reasoning_effort",
];

/// 400 naming the first field of `other` (the fields a request type does not model) that this
/// server does not honour: tools, `best_of`, `suffix`... would change the answer, and a client
/// must not believe they were applied.
pub fn refuse_unsupported(
    other: &serde_json::Map<String, serde_json::Value>,
) -> Result<(), ApiError> {
    match other
        .keys()
        .find(|field| !IGNORED_FIELDS.contains(&field.as_str()))
    {
        None => Ok(()),
        Some(field) => Err(ApiError::bad_request(
            field,
            format!("`{field}` is not supported by this server; remove it from the request"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    #[test]
    fn decoding_errors_have_the_right_status_and_field() {
        let status = |bytes: &[u8]| {
            decode_json::<chat::ChatRequest>(bytes)
                .map(|_| ())
                .unwrap_err()
        };
        assert_eq!(status(b"{\"model\": ").status, StatusCode::BAD_REQUEST);
        assert_eq!(status(&[0x7b, 0xff, 0x7d]).status, StatusCode::BAD_REQUEST);
        assert_eq!(status(b"[1, 2]").status, StatusCode::BAD_REQUEST);
        let wrong_type = status(b"{\"model\": \"m\", \"messages\": [], \"max_tokens\": \"ten\"}");
        assert_eq!(wrong_type.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(wrong_type.param.as_deref(), Some("max_tokens"));
        let missing = status(b"{\"model\": \"m\"}");
        assert_eq!(missing.status, StatusCode::UNPROCESSABLE_ENTITY);
    }

    #[test]
    fn fields_that_would_change_the_answer_are_refused_by_name() {
        let other = |json: &str| -> serde_json::Map<String, serde_json::Value> {
            let request: chat::ChatRequest =
                decode_json(json.as_bytes()).unwrap_or_else(|e| panic!("{}", e.message));
            request.other
        };
        let base = r#""model": "m", "messages": [{"role": "user", "content": "hi"}]"#;
        assert!(refuse_unsupported(&other(&format!("{{{base}, \"user\": \"u1\"}}"))).is_ok());
        // The sampling controls are request fields, honoured, not other fields.
        let controls = r#""presence_penalty": 1, "top_k": 5, "logit_bias": {"7": -100}"#;
        assert!(other(&format!("{{{base}, {controls}}}")).is_empty());
        for field in [
            "tools",
            "functions",
            "best_of",
            "suffix",
            "an_unknown_field",
        ] {
            let refused = refuse_unsupported(&other(&format!("{{{base}, \"{field}\": 1}}")))
                .expect_err(field);
            assert_eq!(refused.status, StatusCode::BAD_REQUEST);
            assert_eq!(refused.param.as_deref(), Some(field));
        }
    }
}
