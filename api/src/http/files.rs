//! The bytes of attachments, outside GraphQL: `PUT /attachments/upload/{token}` receives an
//! upload begun with `attachmentUploadBegin`, `GET /attachments/download/{token}` serves a file
//! from its `downloadUrl`. Both stream: the body is sealed as it arrives, a download is opened
//! chunk by chunk as it goes out (range requests read only the chunks they cover).
//!
//! A link works for the user it was made for, while their session lasts and until it expires;
//! a download also checks, at the time of the request, that the user still sees the file and
//! that it may be served (its scan). A request that carries another user's bearer token is
//! refused.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::json;
use service::ErrorCode;
use service::attachment::link::{self, Purpose};
use service::attachment::{Refusal, UploadError};

use crate::graphql::id::{Kind, encode};
use crate::state::AppState;

/// The path of a link's token.
pub fn upload_path(token: &str) -> String {
    format!("/attachments/upload/{token}")
}

pub fn download_path(token: &str) -> String {
    format!("/attachments/download/{token}")
}

fn error(status: StatusCode, code: ErrorCode, field: Option<&str>, message: &str) -> Response {
    let mut extensions = json!({ "code": code.as_str() });
    if let Some(field) = field {
        extensions["field"] = json!(field);
    }
    let body = json!({ "errors": [{ "message": message, "extensions": extensions }] });
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn forbidden() -> Response {
    error(
        StatusCode::FORBIDDEN,
        ErrorCode::Forbidden,
        None,
        "the link is not valid: expired, made for someone else, or altered",
    )
}

fn service_error(err: &service::Error) -> Response {
    let status = match err.code() {
        ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::Conflict => StatusCode::CONFLICT,
        ErrorCode::BadUserInput => StatusCode::BAD_REQUEST,
        ErrorCode::Forbidden => StatusCode::FORBIDDEN,
        ErrorCode::Unauthenticated => StatusCode::FORBIDDEN,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    if status == StatusCode::INTERNAL_SERVER_ERROR {
        tracing::error!(error = %err, "attachment request failed");
        return error(status, ErrorCode::Internal, None, "internal error");
    }
    error(status, err.code(), err.field(), &err.to_string())
}

/// The link behind `token`, when it is genuine and current, the user's session still lasts,
/// and no other user's bearer token came with the request.
async fn check_link(
    state: &AppState,
    token: &str,
    purpose: Purpose,
    headers: &HeaderMap,
) -> Result<(link::Link, service::actor::Actor), Response> {
    let link = link::verify(state.keyring(), token, purpose, Utc::now()).ok_or_else(forbidden)?;
    if let Some(bearer) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(super::bearer)
    {
        match service::auth::bearer_actor(state.db(), state.auth(), bearer).await {
            Ok((actor, _)) if actor.user_id == link.user_id => {}
            _ => return Err(forbidden()),
        }
    }
    let actor = service::auth::session_account(state.db(), link.user_id, link.session_epoch)
        .await
        .map_err(|_| forbidden())?;
    Ok((link, actor))
}

/// `PUT /attachments/upload/{token}`: the bytes of an upload, streamed.
pub async fn upload(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let (link, _) = match check_link(&state, &token, Purpose::Upload, &headers).await {
        Ok(checked) => checked,
        Err(response) => return response,
    };
    let attachments = state.attachments().clone();
    let stream = body.into_data_stream();
    match attachments
        .receive(state.db(), link.attachment_id, link.user_id, stream)
        .await
    {
        Ok(row) => {
            let body = json!({
                "id": encode(Kind::Attachment, row.id).0,
                "fileName": row.file_name,
                "contentType": row.content_type,
                "sizeBytes": row.size_bytes,
                "sha256": row.sha256,
                "scanStatus": crate::graphql::enums::ScanStatus::from(row.scan_status),
            });
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                body.to_string(),
            )
                .into_response()
        }
        Err(UploadError::Service(err)) => service_error(&err),
        Err(UploadError::Refused(refusal)) => {
            let message = refusal.to_string();
            let (status, field) = match &refusal {
                Refusal::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "sizeBytes"),
                Refusal::SizeMismatch { declared, received } if received > declared => {
                    (StatusCode::PAYLOAD_TOO_LARGE, "sizeBytes")
                }
                Refusal::SizeMismatch { .. } => (StatusCode::BAD_REQUEST, "sizeBytes"),
                Refusal::RefusedType(_) | Refusal::TypeMismatch { .. } => {
                    (StatusCode::UNSUPPORTED_MEDIA_TYPE, "contentType")
                }
                Refusal::Body(_) => (StatusCode::BAD_REQUEST, "body"),
                Refusal::Storage(reason) => {
                    tracing::error!(%reason, attachment = %link.attachment_id, "storing an upload failed");
                    return error(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        ErrorCode::Internal,
                        None,
                        "internal error",
                    );
                }
            };
            error(status, ErrorCode::BadUserInput, Some(field), &message)
        }
    }
}

/// A range that lies outside the file (answered 416).
#[derive(Debug, PartialEq, Eq)]
pub struct Unsatisfiable;

/// A single byte range of a file of `size` bytes: `Ok(None)` for the whole file (no header, or
/// one this server does not split, like several ranges), `Err` when it lies outside the file.
pub fn parse_range(
    value: Option<&str>,
    size: u64,
) -> Result<Option<std::ops::Range<u64>>, Unsatisfiable> {
    let Some(value) = value else {
        return Ok(None);
    };
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((start, end)) = spec.trim().split_once('-') else {
        return Ok(None);
    };
    let (start, end) = (start.trim(), end.trim());
    let range = if start.is_empty() {
        let Ok(suffix) = end.parse::<u64>() else {
            return Ok(None);
        };
        if suffix == 0 {
            return Err(Unsatisfiable);
        }
        size.saturating_sub(suffix)..size
    } else {
        let Ok(start) = start.parse::<u64>() else {
            return Ok(None);
        };
        let end = if end.is_empty() {
            size
        } else {
            match end.parse::<u64>() {
                Ok(end) if end >= start => end.saturating_add(1).min(size),
                _ => return Ok(None),
            }
        };
        start..end
    };
    if range.start >= size {
        return Err(Unsatisfiable);
    }
    Ok(Some(range))
}

/// `Content-Disposition: attachment` with the file's name, safe for any name: a plain ASCII
/// fallback and the exact name percent-encoded (RFC 6266 / 5987).
pub fn content_disposition(file_name: &str) -> String {
    let fallback: String = file_name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::new();
    for byte in file_name.bytes() {
        if byte.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&byte) {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

/// `GET /attachments/download/{token}`: the file, decrypted as it streams, whole or one range.
pub async fn download(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Response {
    let (link, actor) = match check_link(&state, &token, Purpose::Download, &headers).await {
        Ok(checked) => checked,
        Err(response) => return response,
    };
    let attachments = state.attachments();
    let row = match service::attachment::get(state.db(), &actor, link.attachment_id).await {
        Ok((row, _)) => row,
        Err(err) => return service_error(&err),
    };
    if !service::attachment::downloadable(&attachments.policy, &row) {
        return error(
            StatusCode::FORBIDDEN,
            ErrorCode::Forbidden,
            None,
            "the file cannot be downloaded: it has not passed its virus scan",
        );
    }
    let size = row.size_bytes.max(0) as u64;
    let range = match parse_range(
        headers.get(header::RANGE).and_then(|v| v.to_str().ok()),
        size,
    ) {
        Ok(range) => range,
        Err(Unsatisfiable) => {
            let mut response = error(
                StatusCode::RANGE_NOT_SATISFIABLE,
                ErrorCode::BadUserInput,
                Some("range"),
                "the range lies outside the file",
            );
            if let Ok(value) = HeaderValue::from_str(&format!("bytes */{size}")) {
                response.headers_mut().insert(header::CONTENT_RANGE, value);
            }
            return response;
        }
    };
    let (status, bytes) = match &range {
        Some(range) => (StatusCode::PARTIAL_CONTENT, range.clone()),
        None => (StatusCode::OK, 0..size),
    };
    let stream = match attachments.read(&row, bytes.clone()).await {
        Ok(stream) => stream,
        Err(err) => return service_error(&err),
    };
    let mut response = Response::new(Body::from_stream(stream));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    let content_type = HeaderValue::from_str(&row.content_type)
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    headers.insert(header::CONTENT_TYPE, content_type);
    if let Ok(value) = HeaderValue::from_str(&content_disposition(&row.file_name)) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    headers.insert(
        header::CONTENT_LENGTH,
        HeaderValue::from(bytes.end - bytes.start),
    );
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox"),
    );
    if let Some(sha) = &row.sha256
        && let Ok(etag) = HeaderValue::from_str(&format!("\"{sha}\""))
    {
        headers.insert(header::ETAG, etag);
    }
    if status == StatusCode::PARTIAL_CONTENT
        && let Ok(value) = HeaderValue::from_str(&format!(
            "bytes {}-{}/{size}",
            bytes.start,
            bytes.end.saturating_sub(1)
        ))
    {
        headers.insert(header::CONTENT_RANGE, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse_like_rfc_9110() {
        assert_eq!(parse_range(None, 100), Ok(None));
        assert_eq!(parse_range(Some("bytes=0-9"), 100), Ok(Some(0..10)));
        assert_eq!(parse_range(Some("bytes=90-"), 100), Ok(Some(90..100)));
        assert_eq!(parse_range(Some("bytes=-10"), 100), Ok(Some(90..100)));
        assert_eq!(parse_range(Some("bytes=95-200"), 100), Ok(Some(95..100)));
        assert_eq!(parse_range(Some("bytes=100-"), 100), Err(Unsatisfiable));
        assert_eq!(parse_range(Some("bytes=0-1,5-6"), 100), Ok(None));
        assert_eq!(parse_range(Some("items=0-1"), 100), Ok(None));
        assert_eq!(parse_range(Some("bytes=9-3"), 100), Ok(None));
    }

    #[test]
    fn file_names_are_safe_in_the_header() {
        assert_eq!(
            content_disposition("report.pdf"),
            "attachment; filename=\"report.pdf\"; filename*=UTF-8''report.pdf"
        );
        let tricky = content_disposition("a\"b\r\nc é.txt");
        assert!(!tricky.contains('\r') && !tricky.contains('\n'));
        assert!(tricky.contains("filename=\"a_b__c _.txt\""));
        assert!(tricky.contains("%C3%A9"));
    }
}
