//! The service layer's error type. Every variant maps to one stable code that the API puts in
//! `extensions.code`; database and Redis failures are `INTERNAL` and keep their cause for the log.

use sea_orm::{DbErr, SqlErr};

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The caller sent a value that can never be accepted (empty title, malformed email).
    #[error("{field}: {message}")]
    InvalidInput {
        field: &'static str,
        message: String,
    },
    /// The thing does not exist, or the caller may not know that it does.
    #[error("{entity} not found")]
    NotFound { entity: &'static str },
    /// The change contradicts the current state: a duplicate, or a row still in use.
    #[error("{message}")]
    Conflict {
        field: Option<&'static str>,
        message: String,
    },
    /// No valid credentials: a bad password, a missing, expired or forged token.
    #[error("{0}")]
    Unauthenticated(String),
    #[error("not allowed")]
    Forbidden,
    /// Too many attempts (credential checks) from one address or for one account; the caller
    /// may try again after the given number of seconds.
    #[error("too many attempts; try again in {retry_after_seconds} s")]
    RateLimited { retry_after_seconds: u64 },
    /// The ticket's state machine has no such edge (for this viewer).
    #[error("cannot move a ticket from {from} to {to}")]
    InvalidTransition { from: String, to: String },
    /// A change-feed cursor older than what the event log keeps: the events after it were
    /// removed by retention, so the reader must resynchronise instead of resuming.
    #[error(
        "events after this cursor were removed by retention; read the current state again, then follow the feed after position {oldest}"
    )]
    CursorExpired { oldest: i64 },
    #[error("database error")]
    Database(#[source] DbErr),
    #[error("redis error")]
    Redis(#[source] ::redis::RedisError),
    /// A stored secret that the configured data keys do not open.
    #[error("a stored secret cannot be opened")]
    Crypto(#[source] crate::crypto::CryptoError),
    #[error("{0}")]
    Internal(String),
}

/// Every code the API answers errors with, spelled once: `extensions.code` of GraphQL errors,
/// `UserError.code`, the `code` of the HTTP error bodies of uploads and downloads, and
/// WebSocket refusals.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// Input that can never be accepted; `field` names it.
    BadUserInput,
    /// No such thing, or one the caller may not know of.
    NotFound,
    /// The change contradicts the current state (a duplicate, a row in use).
    Conflict,
    /// No valid credentials.
    Unauthenticated,
    /// The caller may not do this.
    Forbidden,
    /// Too many attempts; `retryAfterSeconds` says when to try again.
    RateLimited,
    /// The ticket's state machine has no such move.
    InvalidTransition,
    /// The events after a change-feed cursor were removed by retention.
    CursorExpired,
    /// The server failed; the message says nothing more, the log does.
    Internal,
    /// A request the transport cannot take (no query, a malformed body or message).
    BadRequest,
    /// A mutation over GET, or a method `/graphql` does not serve.
    MethodNotAllowed,
    /// A body that is not JSON.
    UnsupportedMediaType,
    /// More operations in one batch than allowed.
    BatchLimit,
    /// Too many credential checks in one request.
    CredentialLimit,
    /// A query document longer than allowed.
    DocumentTooLarge,
    /// A document that does not parse.
    GraphqlParseFailed,
    /// A document that does not validate against the schema.
    GraphqlValidationFailed,
    /// An automatic persisted query's hash the server does not know: send the query with it.
    PersistedQueryNotFound,
    /// A persisted query the server cannot take.
    PersistedQueryNotSupported,
    /// A query nested deeper than allowed.
    DepthLimit,
    /// A query more complex than allowed.
    ComplexityLimit,
    /// More aliases than allowed.
    AliasLimit,
    /// More directives than allowed.
    DirectiveLimit,
    /// A response larger than allowed; execution was abandoned.
    ResponseTooLarge,
    /// More subscriptions on one socket, or sockets, than allowed.
    TooManySubscriptions,
    /// A subscription resuming further back than the log replays.
    TooFarBehind,
    /// A subscriber that did not keep up; it was ended.
    SlowConsumer,
    /// The server ended a subscription; subscribe again after the last event seen.
    Resubscribe,
}

impl ErrorCode {
    /// Every code, for documentation and tests.
    pub const ALL: &[ErrorCode] = &[
        ErrorCode::BadUserInput,
        ErrorCode::NotFound,
        ErrorCode::Conflict,
        ErrorCode::Unauthenticated,
        ErrorCode::Forbidden,
        ErrorCode::RateLimited,
        ErrorCode::InvalidTransition,
        ErrorCode::CursorExpired,
        ErrorCode::Internal,
        ErrorCode::BadRequest,
        ErrorCode::MethodNotAllowed,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::BatchLimit,
        ErrorCode::CredentialLimit,
        ErrorCode::DocumentTooLarge,
        ErrorCode::GraphqlParseFailed,
        ErrorCode::GraphqlValidationFailed,
        ErrorCode::PersistedQueryNotFound,
        ErrorCode::PersistedQueryNotSupported,
        ErrorCode::DepthLimit,
        ErrorCode::ComplexityLimit,
        ErrorCode::AliasLimit,
        ErrorCode::DirectiveLimit,
        ErrorCode::ResponseTooLarge,
        ErrorCode::TooManySubscriptions,
        ErrorCode::TooFarBehind,
        ErrorCode::SlowConsumer,
        ErrorCode::Resubscribe,
    ];

    /// The code of its name on the wire; `None` for a name that is no code of ours.
    pub fn parse(name: &str) -> Option<ErrorCode> {
        Self::ALL.iter().copied().find(|code| code.as_str() == name)
    }

    /// The code on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadUserInput => "BAD_USER_INPUT",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::Conflict => "CONFLICT",
            ErrorCode::Unauthenticated => "UNAUTHENTICATED",
            ErrorCode::Forbidden => "FORBIDDEN",
            ErrorCode::RateLimited => "RATE_LIMITED",
            ErrorCode::InvalidTransition => "INVALID_TRANSITION",
            ErrorCode::CursorExpired => "CURSOR_EXPIRED",
            ErrorCode::Internal => "INTERNAL",
            ErrorCode::BadRequest => "BAD_REQUEST",
            ErrorCode::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            ErrorCode::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            ErrorCode::BatchLimit => "BATCH_LIMIT",
            ErrorCode::CredentialLimit => "CREDENTIAL_LIMIT",
            ErrorCode::DocumentTooLarge => "DOCUMENT_TOO_LARGE",
            ErrorCode::GraphqlParseFailed => "GRAPHQL_PARSE_FAILED",
            ErrorCode::GraphqlValidationFailed => "GRAPHQL_VALIDATION_FAILED",
            ErrorCode::PersistedQueryNotFound => "PERSISTED_QUERY_NOT_FOUND",
            ErrorCode::PersistedQueryNotSupported => "PERSISTED_QUERY_NOT_SUPPORTED",
            ErrorCode::DepthLimit => "DEPTH_LIMIT",
            ErrorCode::ComplexityLimit => "COMPLEXITY_LIMIT",
            ErrorCode::AliasLimit => "ALIAS_LIMIT",
            ErrorCode::DirectiveLimit => "DIRECTIVE_LIMIT",
            ErrorCode::ResponseTooLarge => "RESPONSE_TOO_LARGE",
            ErrorCode::TooManySubscriptions => "TOO_MANY_SUBSCRIPTIONS",
            ErrorCode::TooFarBehind => "TOO_FAR_BEHIND",
            ErrorCode::SlowConsumer => "SLOW_CONSUMER",
            ErrorCode::Resubscribe => "RESUBSCRIBE",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Compares with the code on the wire, as clients see it.
impl PartialEq<&str> for ErrorCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl Error {
    /// The stable code clients match on (`extensions.code` in the API).
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::InvalidInput { .. } => ErrorCode::BadUserInput,
            Error::NotFound { .. } => ErrorCode::NotFound,
            Error::Conflict { .. } => ErrorCode::Conflict,
            Error::Unauthenticated(_) => ErrorCode::Unauthenticated,
            Error::Forbidden => ErrorCode::Forbidden,
            Error::RateLimited { .. } => ErrorCode::RateLimited,
            Error::InvalidTransition { .. } => ErrorCode::InvalidTransition,
            Error::CursorExpired { .. } => ErrorCode::CursorExpired,
            Error::Database(_) | Error::Redis(_) | Error::Crypto(_) | Error::Internal(_) => {
                ErrorCode::Internal
            }
        }
    }

    /// The input field the error is about, if any.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            Error::InvalidInput { field, .. } => Some(field),
            Error::Conflict { field, .. } => *field,
            Error::InvalidTransition { .. } => Some("to"),
            Error::CursorExpired { .. } => Some("after"),
            _ => None,
        }
    }

    /// Seconds to wait before trying again, for `RATE_LIMITED`.
    pub fn retry_after_seconds(&self) -> Option<u64> {
        match self {
            Error::RateLimited {
                retry_after_seconds,
            } => Some(*retry_after_seconds),
            _ => None,
        }
    }

    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Error::InvalidInput {
            field,
            message: message.into(),
        }
    }

    pub fn conflict(field: Option<&'static str>, message: impl Into<String>) -> Self {
        Error::Conflict {
            field,
            message: message.into(),
        }
    }
}

impl From<DbErr> for Error {
    fn from(err: DbErr) -> Self {
        Error::Database(err)
    }
}

impl From<crate::crypto::CryptoError> for Error {
    fn from(err: crate::crypto::CryptoError) -> Self {
        Error::Crypto(err)
    }
}

impl From<::redis::RedisError> for Error {
    fn from(err: ::redis::RedisError) -> Self {
        Error::Redis(err)
    }
}

/// Which constraint a failed statement ran into. The one place that reads driver error codes:
/// callers decide what a violation means for their change.
pub(crate) enum Violation {
    Unique,
    ForeignKey,
}

/// Splits a database error into a constraint violation (for the caller to name) or anything
/// else (an internal error).
pub(crate) fn violation(err: DbErr) -> std::result::Result<Violation, Error> {
    match err.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => Ok(Violation::Unique),
        Some(SqlErr::ForeignKeyConstraintViolation(_)) => Ok(Violation::ForeignKey),
        _ if is_restrict(&err) => Ok(Violation::ForeignKey),
        _ => Err(Error::Database(err)),
    }
}

/// `ON DELETE RESTRICT` refusals that SeaORM does not classify: SQLite reports them as
/// SQLITE_CONSTRAINT_TRIGGER (1811) and PostgreSQL 18 as restrict_violation (23001), though
/// they are the same foreign-key refusal as 787 and 23503.
fn is_restrict(err: &DbErr) -> bool {
    use sea_orm::RuntimeErr;
    use sea_orm::sqlx::Error as SqlxError;
    match err {
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            match e.as_ref() {
                SqlxError::Database(db) => match db.code().as_deref() {
                    Some("1811") => db.message().contains("FOREIGN KEY constraint failed"),
                    Some("23001") => true,
                    _ => false,
                },
                _ => false,
            }
        }
        _ => false,
    }
}
