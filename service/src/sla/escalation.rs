//! Escalations: who is notified when a ticket breaches, and who took it.
//!
//! When a target of a ticket passes unmet, the scanner ([`super::scan`]) fires level 1 of its
//! policy's ladder with the breach, and each further level its `afterMinutes` of working time
//! later ([`fire`]). A level names its targets ([`Notify`]: users, roles, the staff of the
//! ticket's organization); they are resolved when the level fires ([`recipients`]) to the
//! approved staff among them who may read the ticket then, and the escalation row keeps whom it
//! reached. The relay turns the scanner's event into notices (`sla.breached`: the assignee and
//! level 1's recipients; `sla.escalated`: the level's recipients), once per event and person.
//!
//! A level with `repeatMinutes` reminds its recipients that often ([`remind`]) until someone
//! acknowledges it ([`acknowledge`]) or a higher level fires; staff list the escalations of
//! the tickets they may read ([`list`]), the open ones by default.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::enums::{Role, SlaTarget, TicketStatus};
use entity::{escalation, organization_member, ticket, user};
use sea_orm::sea_query::{Expr, OnConflict, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, IntoActiveModel,
    QueryFilter, QueryOrder, QuerySelect, TransactionSession, TransactionTrait,
};
use serde_json::json;
use uuid::Uuid;

use super::{Level, Measure, Notify};
use crate::actor::Actor;
use crate::notification::After;
use crate::{Error, Result, access, event};

/// The levels of a ticket's breaches written so far, by (target, level).
pub type Fired = HashMap<(SlaTarget, i32), escalation::Model>;

const STAFF: [Role; 3] = [Role::Agent, Role::Superagent, Role::Admin];

/// Whom `notify` reaches for `ticket` now: the approved staff it names (by id, by role, or as
/// members of the ticket's organization) who may read the ticket, in id order.
pub async fn recipients(
    db: &impl ConnectionTrait,
    ticket: &ticket::Model,
    notify: &Notify,
) -> Result<Vec<Uuid>> {
    if notify.is_empty() {
        return Ok(Vec::new());
    }
    let mut named = Condition::any();
    if !notify.user_ids.is_empty() {
        named = named.add(user::Column::Id.is_in(notify.user_ids.iter().copied()));
    }
    if !notify.roles.is_empty() {
        named = named.add(user::Column::Role.is_in(notify.roles.iter().copied()));
    }
    if notify.organization_agents {
        named = named.add(
            user::Column::Id.in_subquery(
                Query::select()
                    .column(organization_member::Column::UserId)
                    .from(organization_member::Entity)
                    .and_where(
                        organization_member::Column::OrganizationId.eq(ticket.organization_id),
                    )
                    .to_owned(),
            ),
        );
    }
    let staff = Condition::all()
        .add(named)
        .add(user::Column::Role.is_in(STAFF));
    let mut ids: Vec<Uuid> = crate::actor::accounts(db, staff)
        .await?
        .into_iter()
        .filter(|account| access::can_read(account, ticket))
        .map(|account| account.user_id)
        .collect();
    ids.sort();
    Ok(ids)
}

/// The user ids an escalation row reached.
pub fn recipients_of(row: &escalation::Model) -> Vec<Uuid> {
    row.recipients
        .clone()
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default()
}

fn reminder_after(measure: &Measure, level: &Level, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    level
        .repeat_minutes
        .map(|minutes| measure.hours.add(now, minutes * 60))
}

/// Fires one level of one breach: resolves its recipients and writes its row. `None` when that
/// level of that breach was already written. A higher level takes over from the lower ones:
/// they remind no more.
pub(super) async fn fire(
    txn: &impl ConnectionTrait,
    ticket: &ticket::Model,
    measure: &Measure,
    target: SlaTarget,
    due_at: DateTime<Utc>,
    level: &Level,
    now: DateTime<Utc>,
) -> Result<Option<escalation::Model>> {
    let row = escalation::Model {
        id: Uuid::now_v7(),
        ticket_id: ticket.id,
        sla_policy_id: Some(measure.policy.id),
        target,
        level: level.level,
        due_at,
        escalated_at: now,
        acknowledged_at: None,
        acknowledged_by: None,
        created_at: now,
        recipients: Some(json!(recipients(txn, ticket, &level.notify).await?)),
        notices: 1,
        next_notice_at: reminder_after(measure, level, now),
    };
    let inserted = escalation::Entity::insert(row.clone().into_active_model())
        .on_conflict(
            OnConflict::columns([
                escalation::Column::TicketId,
                escalation::Column::Target,
                escalation::Column::Level,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(txn)
        .await?;
    if inserted == 0 {
        return Ok(None);
    }
    escalation::Entity::update_many()
        .col_expr(
            escalation::Column::NextNoticeAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .filter(escalation::Column::TicketId.eq(ticket.id))
        .filter(escalation::Column::Target.eq(target))
        .filter(escalation::Column::Level.lt(level.level))
        .exec(txn)
        .await?;
    Ok(Some(row))
}

/// Reminds the recipients of an escalation nobody acknowledged (resolved again, as they are
/// now), and sets the next reminder.
pub(super) async fn remind(
    txn: &impl ConnectionTrait,
    ticket: &ticket::Model,
    measure: &Measure,
    row: &escalation::Model,
    level: &Level,
    now: DateTime<Utc>,
) -> Result<escalation::Model> {
    Ok(escalation::Entity::update(escalation::ActiveModel {
        id: Set(row.id),
        recipients: Set(Some(json!(recipients(txn, ticket, &level.notify).await?))),
        notices: Set(row.notices + 1),
        next_notice_at: Set(reminder_after(measure, level, now)),
        ..Default::default()
    })
    .exec(txn)
    .await?)
}

/// Records that `actor` (staff who may read the ticket) took the escalation `id`: its
/// reminders stop, and an `sla.acknowledged` event tells the others. Acknowledging it again
/// changes nothing (the first one who took it stays).
pub async fn acknowledge<C>(db: &C, actor: &Actor, id: Uuid) -> Result<escalation::Model>
where
    C: ConnectionTrait + TransactionTrait,
{
    access::require(actor.is_staff())?;
    let txn = crate::db::begin_write(db).await?;
    let not_found = Error::NotFound {
        entity: "escalation",
    };
    let row = escalation::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or(not_found)?;
    let ticket = access::readable(
        actor,
        ticket::Entity::find_by_id(row.ticket_id).one(&txn).await?,
    )
    .map_err(|_| Error::NotFound {
        entity: "escalation",
    })?;
    let now = Utc::now();
    let taken = escalation::Entity::update_many()
        .col_expr(escalation::Column::AcknowledgedAt, Expr::value(Some(now)))
        .col_expr(
            escalation::Column::AcknowledgedBy,
            Expr::value(Some(actor.user_id)),
        )
        .col_expr(
            escalation::Column::NextNoticeAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .filter(escalation::Column::Id.eq(id))
        .filter(escalation::Column::AcknowledgedAt.is_null())
        .exec(&txn)
        .await?;
    if taken.rows_affected > 0 {
        event::record_sla(
            &txn,
            &ticket,
            event::SLA_ACKNOWLEDGED,
            Some(actor.user_id),
            json!({
                "target": super::scan::target_name(row.target),
                "level": row.level,
                "escalationId": row.id,
            }),
        )
        .await?;
    }
    let row = escalation::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or(Error::NotFound {
            entity: "escalation",
        })?;
    txn.commit().await?;
    Ok(row)
}

/// Which escalations to list.
#[derive(Debug, Clone, Default)]
pub struct EscalationFilter {
    /// Open: nobody acknowledged it and its target is still unmet (the first response not
    /// given, or the ticket not resolved or closed). `None`: open and closed alike.
    pub open: Option<bool>,
    pub ticket_id: Option<Uuid>,
    pub target: Option<SlaTarget>,
    pub level: Option<i32>,
}

fn open_condition() -> Condition {
    let tickets = |condition: Condition| {
        escalation::Column::TicketId.in_subquery(
            Query::select()
                .column(ticket::Column::Id)
                .from(ticket::Entity)
                .cond_where(condition)
                .to_owned(),
        )
    };
    Condition::all()
        .add(escalation::Column::AcknowledgedAt.is_null())
        .add(tickets(Condition::all().add(
            ticket::Column::Status.is_not_in([TicketStatus::Resolved, TicketStatus::Closed]),
        )))
        .add(
            Condition::any()
                .add(escalation::Column::Target.eq(SlaTarget::Resolution))
                .add(tickets(
                    Condition::all().add(ticket::Column::FirstResponseAt.is_null()),
                )),
        )
}

/// The escalations of the tickets `actor` (staff) may read, newest first: `first` of them
/// after `after`, plus one to tell whether more follow.
pub async fn list(
    db: &impl ConnectionTrait,
    actor: &Actor,
    filter: &EscalationFilter,
    first: u64,
    after: After,
) -> Result<Vec<escalation::Model>> {
    access::require(actor.is_staff())?;
    let readable = Query::select()
        .column(ticket::Column::Id)
        .from(ticket::Entity)
        .cond_where(access::ticket_scope(actor))
        .to_owned();
    let mut query =
        escalation::Entity::find().filter(escalation::Column::TicketId.in_subquery(readable));
    match filter.open {
        Some(true) => query = query.filter(open_condition()),
        Some(false) => query = query.filter(open_condition().not()),
        None => {}
    }
    if let Some(ticket_id) = filter.ticket_id {
        query = query.filter(escalation::Column::TicketId.eq(ticket_id));
    }
    if let Some(target) = filter.target {
        query = query.filter(escalation::Column::Target.eq(target));
    }
    if let Some(level) = filter.level {
        query = query.filter(escalation::Column::Level.eq(level));
    }
    if let Some(after) = after {
        query = query.filter(crate::page::older_than(
            escalation::Column::EscalatedAt,
            escalation::Column::Id,
            after,
        ));
    }
    Ok(query
        .order_by_desc(escalation::Column::EscalatedAt)
        .order_by_desc(escalation::Column::Id)
        .limit(first + 1)
        .all(db)
        .await?)
}

/// An escalation's place in the list, for cursors.
pub fn position(row: &escalation::Model) -> crate::page::Position {
    crate::page::Position {
        key: crate::page::Key::Time(row.escalated_at),
        id: row.id,
    }
}
