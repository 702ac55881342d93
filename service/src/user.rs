//! Accounts: creation with validated input and a hashed password, lookup by email, deletion.

use chrono::Utc;
use entity::enums::Role;
use entity::user;
use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{
    ActiveValue::Set, ConnectionTrait, EntityTrait, QueryFilter, TransactionSession,
    TransactionTrait,
};
use serde_json::json;
use uuid::Uuid;

use crate::decode::Positional;
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

/// Validates a new account and hashes its password: everything that can be done before a
/// transaction is opened (hashing is slow on purpose; writers should not wait for it).
async fn prepare(new: &NewUser) -> Result<(String, String, String)> {
    let email = normalize_email(&new.email)?;
    let name = validate_name(&new.name)?;
    password::validate(&new.password)?;
    let password_hash = password::hash(&new.password).await?;
    Ok((email, name, password_hash))
}

#[tracing::instrument(skip(db, new), fields(email = %new.email, role = ?new.role))]
pub async fn create(db: &impl ConnectionTrait, new: NewUser) -> Result<user::Model> {
    let (email, name, password_hash) = prepare(&new).await?;
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
    let (email, name, password_hash) = prepare(&new).await?;
    let txn = crate::db::begin_write(db).await?;
    let created = insert(&txn, email, name, password_hash, new.role, new.is_approved).await?;
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
        session_epoch: Set(0),
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

/// The accounts with these ids, in one statement (decoded by position: [`Positional`]).
pub async fn by_ids(db: &impl ConnectionTrait, ids: &[Uuid]) -> Result<Vec<user::Model>> {
    let rows = user::Entity::find()
        .filter(crate::page::one_of(
            db.get_database_backend(),
            user::Column::Id,
            ids,
        ))
        .into_model::<Positional<user::Model>>()
        .all(db)
        .await?;
    Ok(rows.into_iter().map(|Positional(row)| row).collect())
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

/// Which users `actor` may look up: staff see everyone, clients themselves.
pub fn can_read(actor: &crate::actor::Actor, user_id: Uuid) -> bool {
    crate::access::can_see_account_details(actor, user_id)
}

pub async fn get(
    db: &impl ConnectionTrait,
    actor: &crate::actor::Actor,
    id: Uuid,
) -> Result<user::Model> {
    if !can_read(actor, id) {
        return Err(Error::NotFound { entity: "user" });
    }
    user::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(Error::NotFound { entity: "user" })
}

#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    pub role: Vec<Role>,
    pub organization_id: Option<Uuid>,
    /// Matches the start of the name or the email, without regard to case.
    pub query: Option<String>,
}

pub fn position(user: &user::Model) -> crate::page::Position {
    crate::page::Position {
        key: crate::page::Key::Text(user.name.clone()),
        id: user.id,
    }
}

fn filtered(filter: &UserFilter) -> sea_orm::Select<user::Entity> {
    use sea_orm::{ColumnTrait, Condition};
    let mut query = user::Entity::find();
    if !filter.role.is_empty() {
        query = query.filter(user::Column::Role.is_in(filter.role.clone()));
    }
    if let Some(organization_id) = filter.organization_id {
        query = query.filter(
            user::Column::Id.in_subquery(
                sea_orm::sea_query::Query::select()
                    .column(entity::organization_member::Column::UserId)
                    .from(entity::organization_member::Entity)
                    .and_where(
                        Expr::col(entity::organization_member::Column::OrganizationId)
                            .eq(organization_id),
                    )
                    .to_owned(),
            ),
        );
    }
    if let Some(text) = filter
        .query
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        let pattern = format!("{}%", text.to_lowercase().replace(['%', '_'], ""));
        query = query.filter(
            Condition::any()
                .add(Expr::expr(Func::lower(Expr::col(user::Column::Name))).like(pattern.clone()))
                .add(Expr::expr(Func::lower(Expr::col(user::Column::Email))).like(pattern)),
        );
    }
    query
}

/// A page of users by name (staff only).
pub async fn list(
    db: &impl ConnectionTrait,
    actor: &crate::actor::Actor,
    filter: &UserFilter,
    page: &crate::page::PageRequest,
) -> Result<crate::page::Page<user::Model>> {
    crate::access::require(actor.is_staff())?;
    crate::page::by_name(
        db,
        filtered(filter),
        user::Column::Name,
        user::Column::Id,
        page,
    )
    .await
}

/// How many users match `filter` (staff only).
pub async fn count(
    db: &impl ConnectionTrait,
    actor: &crate::actor::Actor,
    filter: &UserFilter,
) -> Result<u64> {
    use sea_orm::PaginatorTrait;
    crate::access::require(actor.is_staff())?;
    Ok(filtered(filter).count(db).await?)
}

/// Creates an account (administrators), approved, in the given organizations.
pub async fn create_as<C>(
    db: &C,
    actor: &crate::actor::Actor,
    new: NewUser,
    organization_ids: &[Uuid],
    client: &crate::audit::ClientInfo,
) -> Result<user::Model>
where
    C: ConnectionTrait + TransactionTrait,
{
    crate::access::require(actor.is_admin())?;
    let (email, name, password_hash) = prepare(&new).await?;
    let txn = crate::db::begin_write(db).await?;
    let created = insert(&txn, email, name, password_hash, new.role, new.is_approved).await?;
    for organization_id in organization_ids {
        crate::organization::add_member(&txn, *organization_id, created.id)
            .await
            .map_err(|e| match e {
                Error::NotFound { .. } => Error::invalid("organizationIds", "no such organization"),
                other => other,
            })?;
    }
    crate::audit::record_change(
        &txn,
        crate::audit::Change {
            actor_id: actor.user_id,
            user_id: Some(created.id),
            action: "user.created",
            description: format!("account {} created by {}", created.email, actor.user_id),
            old: json!({}),
            new: json!({
                "email": created.email,
                "name": created.name,
                "role": created.role,
                "approved": created.is_approved,
                "organizationIds": organization_ids,
            }),
        },
        client,
    )
    .await?;
    txn.commit().await?;
    Ok(created)
}

/// Changes to an account. Role, approval and locks are for administrators; a user may change
/// their own name.
#[derive(Debug, Clone, Default)]
pub struct UserChanges {
    pub name: Option<String>,
    pub role: Option<Role>,
    pub approved: Option<bool>,
    /// `Some(Some(reason))` locks the account until an administrator unlocks it;
    /// `Some(None)` unlocks it (and clears failed logins).
    pub lock: Option<Option<String>>,
}

pub async fn update_as<C>(
    db: &C,
    actor: &crate::actor::Actor,
    id: Uuid,
    changes: UserChanges,
    client: &crate::audit::ClientInfo,
) -> Result<user::Model>
where
    C: ConnectionTrait + TransactionTrait,
{
    let current = get(db, actor, id).await?;
    let admin_only = changes.role.is_some() || changes.approved.is_some() || changes.lock.is_some();
    crate::access::require(actor.is_admin() || (!admin_only && actor.user_id == id))?;
    if changes.lock.as_ref().is_some_and(Option::is_some) && id == actor.user_id {
        return Err(Error::invalid("lock", "you cannot lock your own account"));
    }
    let txn = crate::db::begin_write(db).await?;
    let mut row = user::ActiveModel {
        id: Set(current.id),
        updated_at: Set(Utc::now()),
        ..Default::default()
    };
    if let Some(name) = changes.name {
        row.name = Set(validate_name(&name)?);
    }
    if let Some(role) = changes.role {
        row.role = Set(role);
    }
    if let Some(approved) = changes.approved {
        row.is_approved = Set(approved);
        if !approved {
            crate::auth::end_sessions(&txn, id).await?;
        }
    }
    match changes.lock {
        Some(Some(reason)) => {
            row.is_locked = Set(true);
            row.locked_until = Set(None);
            row.lock_reason = Set(Some(reason.chars().take(500).collect()));
            // A locked account keeps no session alive.
            crate::auth::end_sessions(&txn, id).await?;
            crate::audit::record_change(
                &txn,
                crate::audit::Change {
                    actor_id: actor.user_id,
                    user_id: Some(id),
                    action: "user.locked",
                    description: format!("locked by {}", actor.label()),
                    old: json!({ "locked": current.is_locked, "lockReason": current.lock_reason }),
                    new: json!({ "locked": true, "lockReason": reason }),
                },
                client,
            )
            .await?;
        }
        Some(None) => {
            row.is_locked = Set(false);
            row.locked_until = Set(None);
            row.lock_reason = Set(None);
            row.failed_login_count = Set(0);
            crate::audit::record_change(
                &txn,
                crate::audit::Change {
                    actor_id: actor.user_id,
                    user_id: Some(id),
                    action: "user.unlocked",
                    description: format!("unlocked by {}", actor.label()),
                    old: json!({ "locked": current.is_locked, "lockReason": current.lock_reason }),
                    new: json!({ "locked": false, "lockReason": null }),
                },
                client,
            )
            .await?;
        }
        None => {}
    }
    if let Some(role) = changes.role.filter(|r| *r != current.role) {
        // Tokens carry the role they were issued with: none may outlive the change.
        crate::auth::end_sessions(&txn, id).await?;
        crate::audit::record_change(
            &txn,
            crate::audit::Change {
                actor_id: actor.user_id,
                user_id: Some(id),
                action: "user.role_changed",
                description: format!("{:?} -> {role:?} by {}", current.role, actor.label()),
                old: json!({ "role": current.role }),
                new: json!({ "role": role }),
            },
            client,
        )
        .await?;
    }
    if let Some(approved) = changes.approved.filter(|a| *a != current.is_approved) {
        crate::audit::record_change(
            &txn,
            crate::audit::Change {
                actor_id: actor.user_id,
                user_id: Some(id),
                action: if approved {
                    "user.approved"
                } else {
                    "user.unapproved"
                },
                description: format!(
                    "{} by {}",
                    if approved { "approved" } else { "unapproved" },
                    actor.label()
                ),
                old: json!({ "approved": current.is_approved }),
                new: json!({ "approved": approved }),
            },
            client,
        )
        .await?;
    }
    let updated = user::Entity::update(row).exec(&txn).await?;
    txn.commit().await?;
    Ok(updated)
}

/// Sets the password of account `id` (administrators: an account whose owner cannot sign
/// in). Every session of the account ends, a lock after failed sign-ins is lifted, and the
/// change is audited (the password itself nowhere).
pub async fn set_password_as<C>(
    db: &C,
    actor: &crate::actor::Actor,
    id: Uuid,
    new_password: &str,
    client: &crate::audit::ClientInfo,
) -> Result<()>
where
    C: ConnectionTrait + TransactionTrait,
{
    crate::access::require(actor.is_admin())?;
    password::validate_new("password", new_password)?;
    let current = get(db, actor, id).await?;
    let hash = password::hash(new_password).await?;
    let txn = crate::db::begin_write(db).await?;
    let mut row = user::ActiveModel {
        id: Set(current.id),
        password_hash: Set(hash),
        failed_login_count: Set(0),
        updated_at: Set(Utc::now()),
        ..Default::default()
    };
    if current.is_locked && current.locked_until.is_some() {
        row.is_locked = Set(false);
        row.locked_until = Set(None);
    }
    user::Entity::update(row).exec(&txn).await?;
    crate::auth::end_sessions(&txn, id).await?;
    crate::audit::record_change(
        &txn,
        crate::audit::Change {
            actor_id: actor.user_id,
            user_id: Some(id),
            action: "user.password_set",
            description: format!("password set by {}", actor.label()),
            old: json!({}),
            new: json!({}),
        },
        client,
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// Changes the actor's own password after checking the current one; every session of the
/// account ends, so a stolen session does not outlive the change.
///
/// The check of the current password is a credential check like a login: throttled, and a
/// wrong one counts toward the lockout, so a stolen access token cannot be used to guess it.
pub async fn change_password<C>(
    db: &C,
    auth: &crate::auth::Auth,
    actor: &crate::actor::Actor,
    current_password: &str,
    new_password: &str,
    client: &crate::audit::ClientInfo,
) -> Result<()>
where
    C: ConnectionTrait + TransactionTrait,
{
    password::validate_new("newPassword", new_password)?;
    let user = user::Entity::find_by_id(actor.user_id)
        .one(db)
        .await?
        .ok_or(Error::NotFound { entity: "user" })?;
    auth.throttle(client, Some(&user.email))?;
    if !password::verify(current_password, &user.password_hash).await? {
        crate::auth::record_failure(db, auth, user.id, client).await?;
        return Err(Error::invalid(
            "currentPassword",
            "is not your current password",
        ));
    }
    let hash = password::hash(new_password).await?;
    let txn = crate::db::begin_write(db).await?;
    user::Entity::update(user::ActiveModel {
        id: Set(user.id),
        password_hash: Set(hash),
        updated_at: Set(Utc::now()),
        ..Default::default()
    })
    .exec(&txn)
    .await?;
    crate::auth::end_sessions(&txn, user.id).await?;
    crate::audit::record(
        &txn,
        Some(user.id),
        "user.password_changed",
        None,
        "password changed",
        client,
    )
    .await?;
    txn.commit().await?;
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
                (crate::ErrorCode::BadUserInput, Some("email")),
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
