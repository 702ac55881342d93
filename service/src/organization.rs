//! Organizations (the customers) and their members.

use chrono::Utc;
use entity::{organization, organization_member};
use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait, QueryFilter};
use serde_json::json;
use uuid::Uuid;

use crate::decode::Positional;
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
    /// An IANA zone name for the organization's statistics days; UTC when omitted.
    pub time_zone: Option<String>,
}

/// Checks an IANA zone name (`Europe/Berlin`).
pub fn validate_time_zone(zone: &str) -> Result<String> {
    let zone = zone.trim();
    zone.parse::<chrono_tz::Tz>()
        .map(|_| zone.to_string())
        .map_err(|_| Error::invalid("timeZone", format!("unknown time zone {zone:?}")))
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
    let time_zone = match new.time_zone.as_deref() {
        None => "UTC".to_string(),
        Some(zone) => validate_time_zone(zone)?,
    };
    let now = Utc::now();
    let model = organization::ActiveModel {
        id: Set(Uuid::now_v7()),
        name: Set(name.to_string()),
        email: Set(email),
        phone: Set(new.phone),
        address: Set(new.address),
        description: Set(new.description),
        time_zone: Set(time_zone),
        created_at: Set(now),
        updated_at: Set(now),
    };
    organization::Entity::insert(model)
        .exec_with_returning(db)
        .await
        .map_err(name_taken)
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

/// The organizations with these ids, in one statement (decoded by position: [`Positional`]).
pub async fn by_ids(db: &impl ConnectionTrait, ids: &[Uuid]) -> Result<Vec<organization::Model>> {
    let rows = organization::Entity::find()
        .filter(crate::page::one_of(
            db.get_database_backend(),
            organization::Column::Id,
            ids,
        ))
        .into_model::<Positional<organization::Model>>()
        .all(db)
        .await?;
    Ok(rows.into_iter().map(|Positional(row)| row).collect())
}

use crate::actor::Actor;
use crate::audit::ClientInfo;
use crate::page::{Key, Page, PageRequest, Position};

/// Which organizations `actor` may see: all for ADMIN and SUPERAGENT, their own otherwise.
fn scope(actor: &Actor) -> sea_orm::Condition {
    use sea_orm::ColumnTrait;
    if actor.sees_everything() {
        sea_orm::Condition::all()
    } else {
        sea_orm::Condition::all()
            .add(organization::Column::Id.is_in(actor.organization_ids.clone()))
    }
}

pub fn visible(actor: &Actor, organization_id: Uuid) -> bool {
    actor.sees_everything() || actor.belongs_to(organization_id)
}

pub fn position(organization: &organization::Model) -> Position {
    Position {
        key: Key::Text(organization.name.clone()),
        id: organization.id,
    }
}

/// A page of the organizations `actor` may see, by name.
pub async fn list(
    db: &impl ConnectionTrait,
    actor: &Actor,
    page: &PageRequest,
) -> Result<Page<organization::Model>> {
    let query = organization::Entity::find().filter(scope(actor));
    crate::page::by_name(
        db,
        query,
        organization::Column::Name,
        organization::Column::Id,
        page,
    )
    .await
}

pub async fn get(
    db: &impl ConnectionTrait,
    actor: &Actor,
    id: Uuid,
) -> Result<organization::Model> {
    organization::Entity::find_by_id(id)
        .one(db)
        .await?
        .filter(|o| visible(actor, o.id))
        .ok_or(Error::NotFound {
            entity: "organization",
        })
}

/// A write's error, with the unique name's violation as the conflict it is.
fn name_taken(err: sea_orm::DbErr) -> Error {
    match violation(err) {
        Ok(Violation::Unique) => Error::conflict(
            Some("name"),
            "an organization with this name already exists",
        ),
        Ok(Violation::ForeignKey) => {
            Error::Internal("unexpected foreign key on organizations".into())
        }
        Err(other) => other,
    }
}

/// Creates an organization (administrators).
pub async fn create_as(
    db: &impl ConnectionTrait,
    actor: &Actor,
    new: NewOrganization,
    client: &ClientInfo,
) -> Result<organization::Model> {
    crate::access::require(actor.is_admin())?;
    let created = create(db, new).await?;
    crate::audit::admin_change(
        db,
        actor,
        "organization.created",
        format!("organization {} created", created.name),
        json!({}),
        fields(&created),
        client,
    )
    .await?;
    Ok(created)
}

/// The fields of an organization an audit entry shows.
fn fields(org: &organization::Model) -> serde_json::Value {
    json!({
        "id": org.id,
        "name": org.name,
        "email": org.email,
        "phone": org.phone,
        "address": org.address,
        "description": org.description,
        "timeZone": org.time_zone,
    })
}

/// New values for an organization; `None` leaves a field, `Some(None)` clears an optional one.
#[derive(Debug, Clone, Default)]
pub struct OrganizationChanges {
    pub name: Option<String>,
    pub email: Option<Option<String>>,
    pub phone: Option<Option<String>>,
    pub address: Option<Option<String>>,
    pub description: Option<Option<String>>,
    pub time_zone: Option<String>,
}

/// Edits an organization (administrators).
pub async fn update_as(
    db: &impl ConnectionTrait,
    actor: &Actor,
    id: Uuid,
    changes: OrganizationChanges,
    client: &ClientInfo,
) -> Result<organization::Model> {
    let current = get(db, actor, id).await?;
    crate::access::require(actor.is_admin())?;
    let mut row = organization::ActiveModel {
        id: Set(current.id),
        updated_at: Set(Utc::now()),
        ..Default::default()
    };
    if let Some(name) = changes.name {
        let name = name.trim().to_string();
        if name.is_empty() {
            return Err(Error::invalid("name", "must not be empty"));
        }
        if name.chars().count() > MAX_NAME_LENGTH {
            return Err(Error::invalid(
                "name",
                format!("must be at most {MAX_NAME_LENGTH} characters"),
            ));
        }
        row.name = Set(name);
    }
    if let Some(email) = changes.email {
        row.email = Set(match email.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(email) => Some(crate::user::normalize_email(email)?),
        });
    }
    if let Some(phone) = changes.phone {
        row.phone = Set(phone);
    }
    if let Some(address) = changes.address {
        row.address = Set(address);
    }
    if let Some(description) = changes.description {
        row.description = Set(description);
    }
    if let Some(zone) = changes.time_zone {
        row.time_zone = Set(validate_time_zone(&zone)?);
    }
    let updated = organization::Entity::update(row)
        .exec(db)
        .await
        .map_err(name_taken)?;
    crate::audit::admin_change(
        db,
        actor,
        "organization.updated",
        format!("organization {} changed", updated.name),
        fields(&current),
        fields(&updated),
        client,
    )
    .await?;
    Ok(updated)
}

/// Adds a member (administrators and superagents).
pub async fn add_member_as(
    db: &impl ConnectionTrait,
    actor: &Actor,
    organization_id: Uuid,
    user_id: Uuid,
    client: &ClientInfo,
) -> Result<()> {
    crate::access::require(actor.sees_everything())?;
    get(db, actor, organization_id).await?;
    add_member(db, organization_id, user_id)
        .await
        .map_err(|e| match e {
            Error::NotFound { .. } => Error::invalid("userId", "no such user"),
            other => other,
        })?;
    membership_audit(
        db,
        actor,
        "membership.granted",
        organization_id,
        user_id,
        client,
    )
    .await
}

async fn membership_audit(
    db: &impl ConnectionTrait,
    actor: &Actor,
    action: &'static str,
    organization_id: Uuid,
    user_id: Uuid,
    client: &ClientInfo,
) -> Result<()> {
    let member = json!({ "organizationId": organization_id, "userId": user_id });
    let (old, new) = if action == "membership.granted" {
        (json!({}), member)
    } else {
        (member, json!({}))
    };
    crate::audit::record_change(
        db,
        crate::audit::Change {
            actor_id: actor.user_id,
            user_id: Some(user_id),
            action,
            description: format!("{action}: user {user_id} in organization {organization_id}"),
            old,
            new,
        },
        client,
    )
    .await
}

/// Removes a member (administrators and superagents). Tickets stay where they are.
pub async fn remove_member_as(
    db: &impl ConnectionTrait,
    actor: &Actor,
    organization_id: Uuid,
    user_id: Uuid,
    client: &ClientInfo,
) -> Result<()> {
    crate::access::require(actor.sees_everything())?;
    get(db, actor, organization_id).await?;
    let removed = organization_member::Entity::delete_by_id((organization_id, user_id))
        .exec(db)
        .await?;
    if removed.rows_affected == 0 {
        return Err(Error::invalid("userId", "the user is not a member"));
    }
    membership_audit(
        db,
        actor,
        "membership.revoked",
        organization_id,
        user_id,
        client,
    )
    .await
}

/// The members of each organization, in one statement.
pub async fn members_of(
    db: &impl ConnectionTrait,
    organization_ids: &[Uuid],
) -> Result<std::collections::HashMap<Uuid, Vec<entity::user::Model>>> {
    use sea_orm::ColumnTrait;
    let rows = organization_member::Entity::find()
        .filter(organization_member::Column::OrganizationId.is_in(organization_ids.to_vec()))
        .find_also_related(entity::user::Entity)
        .all(db)
        .await?;
    let mut out: std::collections::HashMap<Uuid, Vec<entity::user::Model>> =
        std::collections::HashMap::new();
    for (membership, user) in rows {
        if let Some(user) = user {
            out.entry(membership.organization_id)
                .or_default()
                .push(user);
        }
    }
    for members in out.values_mut() {
        members.sort_by(|a, b| a.name.cmp(&b.name));
    }
    Ok(out)
}

/// The organizations of each user, in one statement.
pub async fn of_users(
    db: &impl ConnectionTrait,
    user_ids: &[Uuid],
) -> Result<std::collections::HashMap<Uuid, Vec<organization::Model>>> {
    use sea_orm::ColumnTrait;
    let rows = organization_member::Entity::find()
        .filter(organization_member::Column::UserId.is_in(user_ids.to_vec()))
        .find_also_related(organization::Entity)
        .all(db)
        .await?;
    let mut out: std::collections::HashMap<Uuid, Vec<organization::Model>> =
        std::collections::HashMap::new();
    for (membership, organization) in rows {
        if let Some(organization) = organization {
            out.entry(membership.user_id)
                .or_default()
                .push(organization);
        }
    }
    for organizations in out.values_mut() {
        organizations.sort_by(|a, b| a.name.cmp(&b.name));
    }
    Ok(out)
}

/// How many organizations `actor` may see.
pub async fn count(db: &impl ConnectionTrait, actor: &Actor) -> Result<u64> {
    use sea_orm::PaginatorTrait;
    Ok(organization::Entity::find()
        .filter(scope(actor))
        .count(db)
        .await?)
}
