//! Notifications to people: who hears of what, made from the event log.
//!
//! The relay turns each batch of published events into notices in the same transaction that
//! publishes them ([`enqueue`]), as it does webhook deliveries: a notice exists exactly when
//! its event was published, once per (event, recipient, channel), whatever retries or replicas
//! do. Who hears what ([`plan`]):
//!
//! - the requester: a public reply by someone else (staff), and their ticket moving to
//!   PENDING_INFO, RESOLVED or CLOSED;
//! - the assignee: the ticket assigned to them, the requester's reply, SLA warnings and
//!   breaches on their tickets;
//! - staff a comment mentions ([`crate::mention`]), in an internal note or a reply;
//! - staff of an organization: a new ticket there that nobody is assigned to;
//! - an escalation level's recipients ([`crate::sla::escalation`]): the level firing, and its
//!   reminders.
//!
//! The actor of a change never hears of it, nobody hears of a ticket they may not read (now),
//! nothing derived from an internal note reaches a client, and each user may turn any kind off
//! per channel ([`preferences`]). Notices in the app are delivered when they are made.

pub mod mail;
pub mod unsubscribe;

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use entity::enums::{NotificationChannel, NotificationKind, NotificationStatus, Role};
use entity::{
    escalation, notification, notification_preference, organization_member, outbox_event, ticket,
    user,
};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use serde_json::Value;
use uuid::Uuid;

use crate::actor::Actor;
use crate::{Error, Result, access, event};

/// Every kind, in the order preferences are listed.
pub const KINDS: &[NotificationKind] = &[
    NotificationKind::Reply,
    NotificationKind::Status,
    NotificationKind::Assigned,
    NotificationKind::RequesterReply,
    NotificationKind::Mention,
    NotificationKind::NewTicket,
    NotificationKind::SlaWarning,
    NotificationKind::SlaBreach,
    NotificationKind::Escalation,
];
pub const CHANNELS: &[NotificationChannel] =
    &[NotificationChannel::InApp, NotificationChannel::Email];

/// Characters of a comment quoted in a notice.
const QUOTE_CHARS: usize = 2_000;

/// One notice an event calls for, before preferences and access are applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub user_id: Uuid,
    pub kind: NotificationKind,
    pub title: String,
    pub body: String,
}

fn uuid_at(value: &Value, path: &[&str]) -> Option<Uuid> {
    path.iter()
        .try_fold(value, |v, key| v.get(key))
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
}

fn str_at<'a>(value: &'a Value, path: &[&str]) -> &'a str {
    path.iter()
        .try_fold(value, |v, key| v.get(key))
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn quote(text: &str) -> String {
    let mut quoted: String = text.chars().take(QUOTE_CHARS).collect();
    if text.chars().count() > QUOTE_CHARS {
        quoted.push('…');
    }
    quoted
}

/// Who the events of a batch may reach beyond their tickets' own people, read once for the
/// batch before it is planned.
#[derive(Debug, Default)]
pub struct Audience {
    /// The staff members of each organization (for new unassigned tickets).
    pub staff_of: HashMap<Uuid, Vec<Uuid>>,
    /// Whom each escalation reached (for breaches, levels and reminders).
    pub escalated: HashMap<Uuid, Vec<Uuid>>,
}

/// The notices `event` calls for.
pub fn plan(event: &outbox_event::Model, audience: &Audience) -> Vec<Planned> {
    let payload = &event.payload;
    let number = str_at(payload, &["ticket", "number"]);
    let title = str_at(payload, &["ticket", "title"]);
    let requester = uuid_at(payload, &["ticket", "requesterId"]);
    let assignee = uuid_at(payload, &["ticket", "assigneeId"]);
    let actor = event.actor_id;
    let subject = |what: &str| format!("[{number}] {what}: {title}");
    let mut planned: Vec<Planned> = Vec::new();
    let escalated = uuid_at(payload, &["sla", "escalationId"])
        .and_then(|id| audience.escalated.get(&id))
        .map(Vec::as_slice)
        .unwrap_or_default();
    let level = payload["sla"]["level"].as_i64().unwrap_or_default();
    let reminder = payload["sla"]["reminder"].as_i64().is_some();
    // One notice per person and event: the first reason counts.
    let mut to = |user: Option<Uuid>, kind: NotificationKind, title: String, body: String| {
        if let Some(user) = user
            && Some(user) != actor
            && planned.iter().all(|p| p.user_id != user)
        {
            planned.push(Planned {
                user_id: user,
                kind,
                title,
                body,
            });
        }
    };
    let internal = event.internal || payload["comment"]["internal"] == Value::Bool(true);
    match event.kind.as_str() {
        event::COMMENT_CREATED => {
            let author = uuid_at(payload, &["comment", "authorId"]);
            let body = quote(str_at(payload, &["comment", "body"]));
            // The staff a comment mentions; an internal note reaches no one else (clients never
            // hear of one: the relay checks every recipient may see the event).
            let mentioned: Vec<Uuid> = payload["comment"]["mentionIds"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|id| id.as_str()?.parse().ok())
                .collect();
            let what = if internal {
                "You were mentioned in an internal note"
            } else {
                "You were mentioned"
            };
            for user in mentioned {
                to(
                    Some(user),
                    NotificationKind::Mention,
                    subject(what),
                    body.clone(),
                );
            }
            if internal {
                return planned;
            }
            if author.is_some() && author == requester {
                to(
                    assignee,
                    NotificationKind::RequesterReply,
                    subject("The requester replied"),
                    body,
                );
            } else {
                to(
                    requester,
                    NotificationKind::Reply,
                    subject("New reply"),
                    body,
                );
            }
        }
        event::TICKET_STATUS_CHANGED => {
            let status = payload["changes"]
                .as_array()
                .and_then(|changes| changes.iter().find(|c| c["field"] == "status"))
                .and_then(|c| c["new_value"].as_str().or_else(|| c["newValue"].as_str()))
                .unwrap_or_default()
                .to_string();
            if matches!(status.as_str(), "PENDING_INFO" | "RESOLVED" | "CLOSED") {
                let what = match status.as_str() {
                    "PENDING_INFO" => "Waiting for your answer",
                    "RESOLVED" => "Resolved",
                    _ => "Closed",
                };
                to(
                    requester,
                    NotificationKind::Status,
                    subject(what),
                    format!("The ticket is now {status}."),
                );
            }
        }
        event::TICKET_ASSIGNED => {
            to(
                assignee,
                NotificationKind::Assigned,
                subject("Assigned to you"),
                "The ticket was assigned to you.".into(),
            );
        }
        _ if internal => {}
        event::TICKET_CREATED if assignee.is_none() => {
            for member in audience
                .staff_of
                .get(&event.organization_id)
                .into_iter()
                .flatten()
            {
                to(
                    Some(*member),
                    NotificationKind::NewTicket,
                    subject("New ticket"),
                    quote(str_at(payload, &["ticket", "title"])),
                );
            }
        }
        event::SLA_WARNING => to(
            assignee,
            NotificationKind::SlaWarning,
            subject("SLA target close"),
            "An SLA target of this ticket is close.".into(),
        ),
        event::SLA_BREACHED => {
            to(
                assignee,
                NotificationKind::SlaBreach,
                subject("SLA target missed"),
                "An SLA target of this ticket passed unmet.".into(),
            );
            for user in escalated {
                to(
                    Some(*user),
                    NotificationKind::Escalation,
                    subject("Escalated to you (level 1)"),
                    "An SLA target of this ticket passed unmet, and its escalation names you. Acknowledge it to take it.".into(),
                );
            }
        }
        event::SLA_ESCALATED => {
            let what = if reminder {
                format!("Reminder: escalated to you (level {level})")
            } else {
                format!("Escalated to you (level {level})")
            };
            for user in escalated {
                to(
                    Some(*user),
                    NotificationKind::Escalation,
                    subject(&what),
                    "An SLA target of this ticket is still unmet, and nobody acknowledged its escalation. Acknowledge it to take it.".into(),
                );
            }
        }
        _ => {}
    }
    planned
}

/// Whether a kind is on by default on a channel: every kind, on both channels.
pub fn default_enabled(_kind: NotificationKind, _channel: NotificationChannel) -> bool {
    true
}

/// Makes the notices of a batch of published events, inside the relay's transaction: in the
/// app (delivered at once), and by email (`pending`, for the mailer) when `email` is on.
/// Returns how many were made.
pub async fn enqueue(
    txn: &impl ConnectionTrait,
    events: &[outbox_event::Model],
    email: bool,
) -> Result<usize> {
    if events.is_empty() {
        return Ok(0);
    }
    // Staff of the organizations with new unassigned tickets, in one statement.
    let orgs: HashSet<Uuid> = events
        .iter()
        .filter(|e| e.kind == event::TICKET_CREATED && e.payload["ticket"]["assigneeId"].is_null())
        .map(|e| e.organization_id)
        .collect();
    let mut staff_of: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
    if !orgs.is_empty() {
        let rows: Vec<(Uuid, Uuid)> = organization_member::Entity::find()
            .select_only()
            .column(organization_member::Column::OrganizationId)
            .column(organization_member::Column::UserId)
            .inner_join(user::Entity)
            .filter(organization_member::Column::OrganizationId.is_in(orgs))
            .filter(user::Column::Role.is_in([Role::Agent, Role::Superagent, Role::Admin]))
            .into_tuple()
            .all(txn)
            .await?;
        for (org, member) in rows {
            staff_of.entry(org).or_default().push(member);
        }
    }
    // Whom the batch's escalations reached, in one statement.
    let escalation_ids: Vec<Uuid> = events
        .iter()
        .filter_map(|e| uuid_at(&e.payload, &["sla", "escalationId"]))
        .collect();
    let escalated = if escalation_ids.is_empty() {
        HashMap::new()
    } else {
        escalation::Entity::find()
            .filter(escalation::Column::Id.is_in(escalation_ids))
            .all(txn)
            .await?
            .iter()
            .map(|row| (row.id, crate::sla::escalation::recipients_of(row)))
            .collect()
    };
    let audience = Audience {
        staff_of,
        escalated,
    };
    let planned: Vec<(&outbox_event::Model, Planned)> = events
        .iter()
        .flat_map(|e| plan(e, &audience).into_iter().map(move |p| (e, p)))
        .collect();
    if planned.is_empty() {
        return Ok(0);
    }
    // The recipients as they are now, their preferences, and the tickets: three statements.
    let mut users: Vec<Uuid> = planned.iter().map(|(_, p)| p.user_id).collect();
    users.sort();
    users.dedup();
    let accounts: HashMap<Uuid, Actor> = crate::actor::accounts(
        txn,
        Condition::all().add(user::Column::Id.is_in(users.clone())),
    )
    .await?
    .into_iter()
    .map(|a| (a.user_id, a))
    .collect();
    let turned_off: HashSet<(Uuid, NotificationKind, NotificationChannel)> =
        notification_preference::Entity::find()
            .filter(notification_preference::Column::UserId.is_in(users))
            .filter(notification_preference::Column::Enabled.eq(false))
            .all(txn)
            .await?
            .into_iter()
            .map(|p| (p.user_id, p.kind, p.channel))
            .collect();
    let ticket_ids: Vec<Uuid> = events.iter().map(|e| e.ticket_id).collect();
    let tickets: HashMap<Uuid, ticket::Model> = ticket::Entity::find()
        .filter(ticket::Column::Id.is_in(ticket_ids))
        .all(txn)
        .await?
        .into_iter()
        .map(|t| (t.id, t))
        .collect();
    let now = Utc::now();
    let mut rows = Vec::new();
    for (event, notice) in planned {
        let (Some(account), Some(ticket)) =
            (accounts.get(&notice.user_id), tickets.get(&event.ticket_id))
        else {
            continue;
        };
        if !access::can_read(account, ticket) || !access::can_see_event(account, event.internal) {
            continue;
        }
        let channels: &[NotificationChannel] = if email {
            CHANNELS
        } else {
            &[NotificationChannel::InApp]
        };
        for &channel in channels {
            if turned_off.contains(&(notice.user_id, notice.kind, channel)) {
                continue;
            }
            let in_app = channel == NotificationChannel::InApp;
            rows.push(notification::ActiveModel {
                id: Set(Uuid::now_v7()),
                user_id: Set(notice.user_id),
                event_id: Set(Some(event.id)),
                ticket_id: Set(Some(event.ticket_id)),
                kind: Set(notice.kind),
                channel: Set(channel),
                title: Set(notice.title.chars().take(300).collect()),
                body: Set(notice.body.clone()),
                status: Set(if in_app {
                    NotificationStatus::Sent
                } else {
                    NotificationStatus::Pending
                }),
                attempts: Set(0),
                next_attempt_at: Set((!in_app).then_some(now)),
                last_error: Set(None),
                read_at: Set(None),
                created_at: Set(now),
                sent_at: Set(in_app.then_some(now)),
                trace_parent: Set(event.trace_parent.clone()),
            });
        }
    }
    let count = rows.len();
    for chunk in rows.chunks(500) {
        notification::Entity::insert_many(chunk.to_vec())
            .on_conflict_do_nothing_on([
                notification::Column::EventId,
                notification::Column::UserId,
                notification::Column::Channel,
            ])
            .exec_without_returning(txn)
            .await?;
    }
    Ok(count)
}

/// The position a page of the inbox continues after: (created at, id), newest first.
pub type After = Option<(DateTime<Utc>, Uuid)>;

/// The notices after `(at, id)` in newest-first order.
fn older_than(after: (DateTime<Utc>, Uuid)) -> Condition {
    crate::page::older_than(
        notification::Column::CreatedAt,
        notification::Column::Id,
        after,
    )
}

/// The in-app notices of `user_id`, newest first: `first` of them after `after`, plus one to
/// tell whether more follow.
pub async fn inbox(
    db: &impl ConnectionTrait,
    user_id: Uuid,
    first: u64,
    after: After,
    unread_only: bool,
) -> Result<Vec<notification::Model>> {
    let mut query = notification::Entity::find()
        .filter(notification::Column::UserId.eq(user_id))
        .filter(notification::Column::Channel.eq(NotificationChannel::InApp));
    if unread_only {
        query = query.filter(notification::Column::ReadAt.is_null());
    }
    if let Some(after) = after {
        query = query.filter(older_than(after));
    }
    Ok(query
        .order_by_desc(notification::Column::CreatedAt)
        .order_by_desc(notification::Column::Id)
        .limit(first + 1)
        .all(db)
        .await?)
}

/// How many in-app notices of `user_id` are unread.
pub async fn unread_count(db: &impl ConnectionTrait, user_id: Uuid) -> Result<u64> {
    use sea_orm::PaginatorTrait;
    Ok(notification::Entity::find()
        .filter(notification::Column::UserId.eq(user_id))
        .filter(notification::Column::Channel.eq(NotificationChannel::InApp))
        .filter(notification::Column::ReadAt.is_null())
        .count(db)
        .await?)
}

/// Marks notices of `user_id` read: those in `ids` (another user's ids change nothing), or all
/// when `ids` is `None`. Returns how many changed.
pub async fn mark_read(
    db: &impl ConnectionTrait,
    user_id: Uuid,
    ids: Option<&[Uuid]>,
) -> Result<u64> {
    let mut update = notification::Entity::update_many()
        .col_expr(notification::Column::ReadAt, Expr::value(Utc::now()))
        .filter(notification::Column::UserId.eq(user_id))
        .filter(notification::Column::ReadAt.is_null());
    if let Some(ids) = ids {
        if ids.len() > 100 {
            return Err(Error::invalid("ids", "at most 100 at once"));
        }
        update = update.filter(notification::Column::Id.is_in(ids.to_vec()));
    }
    Ok(update.exec(db).await?.rows_affected)
}

/// Every (kind, channel) with whether `user_id` hears it.
pub async fn preferences(
    db: &impl ConnectionTrait,
    user_id: Uuid,
) -> Result<Vec<(NotificationKind, NotificationChannel, bool)>> {
    let set: HashMap<(NotificationKind, NotificationChannel), bool> =
        notification_preference::Entity::find()
            .filter(notification_preference::Column::UserId.eq(user_id))
            .all(db)
            .await?
            .into_iter()
            .map(|p| ((p.kind, p.channel), p.enabled))
            .collect();
    Ok(KINDS
        .iter()
        .flat_map(|kind| CHANNELS.iter().map(move |channel| (*kind, *channel)))
        .map(|(kind, channel)| {
            let enabled = set
                .get(&(kind, channel))
                .copied()
                .unwrap_or_else(|| default_enabled(kind, channel));
            (kind, channel, enabled)
        })
        .collect())
}

/// Sets some of `user_id`'s preferences.
pub async fn set_preferences(
    db: &impl ConnectionTrait,
    user_id: Uuid,
    changes: &[(NotificationKind, NotificationChannel, bool)],
) -> Result<()> {
    if changes.is_empty() {
        return Ok(());
    }
    if changes.len() > KINDS.len() * CHANNELS.len() {
        return Err(Error::invalid(
            "preferences",
            "lists a kind and channel twice",
        ));
    }
    let now = Utc::now();
    let rows: Vec<notification_preference::ActiveModel> = changes
        .iter()
        .map(
            |(kind, channel, enabled)| notification_preference::ActiveModel {
                user_id: Set(user_id),
                kind: Set(*kind),
                channel: Set(*channel),
                enabled: Set(*enabled),
                updated_at: Set(now),
            },
        )
        .collect();
    notification_preference::Entity::insert_many(rows)
        .on_conflict(
            OnConflict::columns([
                notification_preference::Column::UserId,
                notification_preference::Column::Kind,
                notification_preference::Column::Channel,
            ])
            .update_columns([
                notification_preference::Column::Enabled,
                notification_preference::Column::UpdatedAt,
            ])
            .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// A notice's place in the inbox, for cursors.
pub fn position(notice: &notification::Model) -> crate::page::Position {
    crate::page::Position {
        key: crate::page::Key::Time(notice.created_at),
        id: notice.id,
    }
}

/// Notices by email, newest first, for administrators to see what went out, what is being
/// retried and what failed (with attempts and the last reason): `first` after `after`, plus
/// one to tell whether more follow; only those with `status` when given.
pub async fn deliveries(
    db: &impl ConnectionTrait,
    actor: &Actor,
    status: Option<NotificationStatus>,
    first: u64,
    after: After,
) -> Result<Vec<notification::Model>> {
    access::require(actor.is_admin())?;
    let mut query = notification::Entity::find()
        .filter(notification::Column::Channel.eq(NotificationChannel::Email));
    if let Some(status) = status {
        query = query.filter(notification::Column::Status.eq(status));
    }
    if let Some(after) = after {
        query = query.filter(older_than(after));
    }
    Ok(query
        .order_by_desc(notification::Column::CreatedAt)
        .order_by_desc(notification::Column::Id)
        .limit(first + 1)
        .all(db)
        .await?)
}

/// The in-app notices `user_id` got from the event `event_id` (for the live push).
pub async fn of_event(
    db: &impl ConnectionTrait,
    user_id: Uuid,
    event_id: i64,
) -> Result<Vec<notification::Model>> {
    Ok(notification::Entity::find()
        .filter(notification::Column::EventId.eq(event_id))
        .filter(notification::Column::UserId.eq(user_id))
        .filter(notification::Column::Channel.eq(NotificationChannel::InApp))
        .all(db)
        .await?)
}
