//! Organizations (the customers) and their members.

use chrono::Utc;
use entity::{organization, organization_member};
use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::error::{Violation, violation};
use crate::{Error, Result};

pub const MAX_NAME_LENGTH: usize = 200;

#[derive(Debug, Clone, Default)]
pub struct NewOrganization {
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub address: Option<String>,
    pub description: Option<String>,
}

#[tracing::instrument(skip(db, new), fields(name = %new.name))]
pub async fn create(
    db: &impl ConnectionTrait,
    new: NewOrganization,
) -> Result<organization::Model> {
    let name = new.name.trim();
    if name.is_empty() {
        return Err(Error::invalid("name", "must not be empty"));
    }
    if name.chars().count() > MAX_NAME_LENGTH {
        return Err(Error::invalid(
            "name",
            format!("must be at most {MAX_NAME_LENGTH} characters"),
        ));
    }
    let email = match new.email.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(email) => Some(crate::user::normalize_email(email)?),
    };
    let now = Utc::now();
    let model = organization::ActiveModel {
        id: Set(Uuid::now_v7()),
        name: Set(name.to_string()),
        email: Set(email),
        phone: Set(new.phone),
        address: Set(new.address),
        description: Set(new.description),
        created_at: Set(now),
        updated_at: Set(now),
    };
    organization::Entity::insert(model)
        .exec_with_returning(db)
        .await
        .map_err(|err| match violation(err) {
            Ok(Violation::Unique) => Error::conflict(
                Some("name"),
                "an organization with this name already exists",
            ),
            Ok(Violation::ForeignKey) => {
                Error::Internal("unexpected foreign key on organizations".into())
            }
            Err(other) => other,
        })
}

/// Makes a user a member of an organization.
#[tracing::instrument(skip(db))]
pub async fn add_member(
    db: &impl ConnectionTrait,
    organization_id: Uuid,
    user_id: Uuid,
) -> Result<()> {
    let model = organization_member::ActiveModel {
        organization_id: Set(organization_id),
        user_id: Set(user_id),
        created_at: Set(Utc::now()),
    };
    organization_member::Entity::insert(model)
        .exec_without_returning(db)
        .await
        .map_err(|err| match violation(err) {
            Ok(Violation::Unique) => {
                Error::conflict(Some("userId"), "the user is already a member")
            }
            Ok(Violation::ForeignKey) => Error::NotFound {
                entity: "organization or user",
            },
            Err(other) => other,
        })?;
    Ok(())
}

/// The organization with this name, in any letter case.
pub async fn find_by_name(
    db: &impl ConnectionTrait,
    name: &str,
) -> Result<Option<organization::Model>> {
    Ok(organization::Entity::find()
        .filter(
            Expr::expr(Func::lower(Expr::col(organization::Column::Name)))
                .eq(name.trim().to_lowercase()),
        )
        .one(db)
        .await?)
}

/// The organizations with these ids, in one statement.
pub async fn by_ids(db: &impl ConnectionTrait, ids: &[Uuid]) -> Result<Vec<organization::Model>> {
    use sea_orm::ColumnTrait;
    Ok(organization::Entity::find()
        .filter(organization::Column::Id.is_in(ids.to_vec()))
        .all(db)
        .await?)
}
