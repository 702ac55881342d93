//! Password hashing with Argon2id at OWASP's recommended parameters (19 MiB, 2 passes, 1 lane:
//! the `argon2` crate's defaults).
//!
//! Hashing costs tens of milliseconds of CPU by design, so it runs on tokio's blocking pool and
//! at most a few hashes run at once: a burst of logins queues instead of starving the runtime.

use std::sync::LazyLock;

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use tokio::sync::Semaphore;

use crate::{Error, Result};

pub const MIN_LENGTH: usize = 10;
pub const MAX_LENGTH: usize = 256;

static HASHING: LazyLock<Semaphore> = LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    Semaphore::new(cores.max(2))
});

/// Rejects passwords that are too short to resist guessing or long enough to be a denial of
/// service on the hasher.
pub fn validate(password: &str) -> Result<()> {
    let length = password.chars().count();
    if length < MIN_LENGTH {
        return Err(Error::invalid(
            "password",
            format!("must be at least {MIN_LENGTH} characters"),
        ));
    }
    if length > MAX_LENGTH {
        return Err(Error::invalid(
            "password",
            format!("must be at most {MAX_LENGTH} characters"),
        ));
    }
    Ok(())
}

/// [`validate`] for a new password given as `field` (`newPassword`): the error names it.
pub fn validate_new(field: &'static str, password: &str) -> Result<()> {
    validate(password).map_err(|_| {
        Error::invalid(
            field,
            format!("must be {MIN_LENGTH} to {MAX_LENGTH} characters"),
        )
    })
}

/// Hashes a password into a PHC string (`$argon2id$v=19$...`) with a fresh random salt.
pub async fn hash(password: &str) -> Result<String> {
    let password = password.to_owned();
    blocking(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|hash| hash.to_string())
            .map_err(|e| Error::Internal(format!("password hashing failed: {e}")))
    })
    .await
}

/// Whether `password` matches the stored PHC string. A malformed stored hash is an internal
/// error, not a mismatch, so corruption is noticed.
pub async fn verify(password: &str, stored: &str) -> Result<bool> {
    let password = password.to_owned();
    let stored = stored.to_owned();
    blocking(move || {
        let parsed = PasswordHash::new(&stored)
            .map_err(|e| Error::Internal(format!("stored password hash is malformed: {e}")))?;
        Ok(Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok())
    })
    .await
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    let _permit = HASHING
        .acquire()
        .await
        .map_err(|_| Error::Internal("password hashing is shut down".into()))?;
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Error::Internal(format!("password hashing task failed: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_and_no_other() {
        let stored = hash("correct horse battery").await.unwrap();
        assert!(stored.starts_with("$argon2id$"), "{stored}");
        assert!(verify("correct horse battery", &stored).await.unwrap());
        assert!(!verify("correct horse battery!", &stored).await.unwrap());
        assert!(verify("x", "not a hash").await.is_err());
    }

    #[test]
    fn validate_bounds_the_length() {
        assert_eq!(validate("short").unwrap_err().field(), Some("password"));
        assert!(validate(&"a".repeat(MAX_LENGTH + 1)).is_err());
        assert!(validate("long enough password").is_ok());
    }
}
