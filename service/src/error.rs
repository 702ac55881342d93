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

impl Error {
    /// The stable code clients match on (`extensions.code` in the API).
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidInput { .. } => "BAD_USER_INPUT",
            Error::NotFound { .. } => "NOT_FOUND",
            Error::Conflict { .. } => "CONFLICT",
            Error::Unauthenticated(_) => "UNAUTHENTICATED",
            Error::Forbidden => "FORBIDDEN",
            Error::RateLimited { .. } => "RATE_LIMITED",
            Error::InvalidTransition { .. } => "INVALID_TRANSITION",
            Error::CursorExpired { .. } => "CURSOR_EXPIRED",
            Error::Database(_) | Error::Redis(_) | Error::Crypto(_) | Error::Internal(_) => {
                "INTERNAL"
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
