//! Turning service errors into GraphQL errors with a stable `extensions.code`.
//!
//! Resolvers convert with [`gql`] (or [`ResultExt::gql`]) instead of a bare `?`: async-graphql
//! converts any `Display` error by its text, which would send database messages to clients.

use service::ErrorCode;
use std::sync::Arc;

use async_graphql::{Error, ErrorExtensions};

/// The GraphQL error for a service error. Internal errors are logged with their cause and
/// reach the client only as `INTERNAL` with a generic message.
pub fn gql(err: service::Error) -> Error {
    gql_ref(&err)
}

pub fn gql_ref(err: &service::Error) -> Error {
    let code = err.code();
    let message = if code == ErrorCode::Internal {
        tracing::error!(error = ?err, "internal error while resolving a field");
        "internal error".to_string()
    } else {
        err.to_string()
    };
    let field = err.field();
    let retry_after = err.retry_after_seconds();
    Error::new(message).extend_with(|_, ext| {
        ext.set("code", code.as_str());
        if let Some(field) = field {
            ext.set("field", field);
        }
        if let Some(seconds) = retry_after {
            ext.set("retryAfterSeconds", seconds);
        }
    })
}

/// A loader's shared error.
pub fn loaded(err: Arc<service::Error>) -> Error {
    gql_ref(&err)
}

pub trait ResultExt<T> {
    fn gql(self) -> Result<T, Error>;
}

impl<T> ResultExt<T> for Result<T, service::Error> {
    fn gql(self) -> Result<T, Error> {
        self.map_err(gql)
    }
}

impl<T> ResultExt<T> for Result<T, Arc<service::Error>> {
    fn gql(self) -> Result<T, Error> {
        self.map_err(loaded)
    }
}
