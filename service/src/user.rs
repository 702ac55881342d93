//! Accounts: creation with validated input and a hashed password, lookup by email, deletion.

use chrono::Utc;
use entity::enums::Role;
use entity::user;
use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{
    ActiveValue::Set, ConnectionTrait, EntityTrait, QueryFilter, TransactionSession,
    TransactionTrait,
};
use uuid::Uuid;

use crate::error::{Violation, violation};
use crate::{Error, Result, password};

pub const MAX_EMAIL_LENGTH: usize = 254;
pub const MAX_NAME_LENGTH: usize = 200;

#[derive(Debug, Clone)]
pub struct NewUser {
    pub email: String,
    pub name: String,
    pub password: String,
    pub role: Role,
    /// Staff created by an administrator start approved; self-registered clients may not.
    pub is_approved: bool,
}

/// Emails are compared and stored without regard to letter case.
pub fn normalize_email(email: &str) -> Result<String> {
    let email = email.trim().to_lowercase();
    let valid = email.len() <= MAX_EMAIL_LENGTH
        && !email.chars().any(char::is_whitespace)
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
        });
    if valid {
        Ok(email)
    } else {
        Err(Error::invalid("email", "is not a valid email address"))
    }
}

pub fn validate_name(name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() {
        return Err(Error::invalid("name", "must not be empty"));
    }
    if name.chars().count() > MAX_NAME_LENGTH {
        return Err(Error::invalid(
            "name",
            format!("must be at most {MAX_NAME_LENGTH} characters"),
        ));
    }
    Ok(name.to_string())
}

#[tracing::instrument(skip(db, new), fields(email = %new.email, role = ?new.role))]
pub async fn create(db: &impl ConnectionTrait, new: NewUser) -> Result<user::Model> {
    let email = normalize_email(&new.email)?;
    let name = validate_name(&new.name)?;
    password::validate(&new.password)?;
    let password_hash = password::hash(&new.password).await?;
    insert(db, email, name, password_hash, new.role, new.is_approved).await
}

/// Creates an account and makes it a member of the named organizations, all or nothing.
pub async fn create_with_organizations<C>(
    db: &C,
    new: NewUser,
    organizations: &[String],
) -> Result<user::Model>
where
    C: ConnectionTrait + TransactionTrait,
{
    let txn = db.begin().await?;
    let created = create(&txn, new).await?;
    for name in organizations {
        let organization = crate::organization::find_by_name(&txn, name)
            .await?
            .ok_or_else(|| Error::invalid("org", format!("no organization named `{name}`")))?;
        crate::organization::add_member(&txn, organization.id, created.id).await?;
    }
    txn.commit().await?;
    Ok(created)
}

/// Inserts an account whose password is already hashed (seeding, import).
pub async fn insert(
    db: &impl ConnectionTrait,
    email: String,
    name: String,
    password_hash: String,
    role: Role,
    is_approved: bool,
) -> Result<user::Model> {
    let now = Utc::now();
    let model = user::ActiveModel {
        id: Set(Uuid::now_v7()),
        email: Set(email),
        name: Set(name),
        password_hash: Set(password_hash),
        role: Set(role),
        is_approved: Set(is_approved),
        is_locked: Set(false),
        lock_reason: Set(None),
        locked_until: Set(None),
        failed_login_count: Set(0),
        last_login_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    };
    user::Entity::insert(model)
        .exec_with_returning(db)
        .await
        .map_err(|err| match violation(err) {
            Ok(Violation::Unique) => Error::conflict(
                Some("email"),
                "a user with this email address already exists",
            ),
            Ok(Violation::ForeignKey) => Error::Internal("unexpected foreign key on users".into()),
            Err(other) => other,
        })
}

/// The accounts with these ids, in one statement.
pub async fn by_ids(db: &impl ConnectionTrait, ids: &[Uuid]) -> Result<Vec<user::Model>> {
    use sea_orm::ColumnTrait;
    Ok(user::Entity::find()
        .filter(user::Column::Id.is_in(ids.to_vec()))
        .all(db)
        .await?)
}

/// The account with this email, in any letter case.
pub async fn find_by_email(db: &impl ConnectionTrait, email: &str) -> Result<Option<user::Model>> {
    let email = email.trim().to_lowercase();
    Ok(user::Entity::find()
        .filter(Expr::expr(Func::lower(Expr::col(user::Column::Email))).eq(email))
        .one(db)
        .await?)
}

/// Deletes an account. Refused while the user is the requester of a ticket or the author of a
/// comment: those records must keep their people, so such accounts are locked instead.
#[tracing::instrument(skip(db))]
pub async fn delete(db: &impl ConnectionTrait, id: Uuid) -> Result<()> {
    let result = user::Entity::delete_by_id(id)
        .exec(db)
        .await
        .map_err(|err| match violation(err) {
            Ok(Violation::ForeignKey) => Error::conflict(
                None,
                "the user has requested tickets or written comments; lock the account instead",
            ),
            Ok(Violation::Unique) => {
                Error::Internal("unexpected unique violation on delete".into())
            }
            Err(other) => other,
        })?;
    if result.rows_affected == 0 {
        return Err(Error::NotFound { entity: "user" });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalized_or_refused() {
        assert_eq!(
            normalize_email("  Ann@Example.COM ").unwrap(),
            "ann@example.com"
        );
        for bad in [
            "",
            "ann",
            "@example.com",
            "ann@",
            "ann@example",
            "a b@example.com",
            "ann@.com",
            "a@b@c.com",
        ] {
            let err = normalize_email(bad).unwrap_err();
            assert_eq!(
                (err.code(), err.field()),
                ("BAD_USER_INPUT", Some("email")),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(validate_name("  Ann  ").unwrap(), "Ann");
        assert!(validate_name("   ").is_err());
        assert!(validate_name(&"x".repeat(MAX_NAME_LENGTH + 1)).is_err());
    }
}
