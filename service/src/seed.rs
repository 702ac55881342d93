//! Demo data: a few organizations, staff and clients, and as many tickets as asked for, with
//! conversations and history that look like a working helpdesk.
//!
//! Tickets go in with multi-row inserts, one transaction per batch, so 100,000 tickets take
//! seconds rather than minutes. The data is generated from a seeded RNG: the same request on the
//! same database gives the same result.

use chrono::{DateTime, Duration, Utc};
use entity::enums::{Role, TicketCategory, TicketPriority, TicketStatus};
use entity::{comment, ticket, ticket_history, user};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    TransactionSession, TransactionTrait,
};
use std::collections::HashMap;

use uuid::Uuid;

use crate::sla::Measure;

use crate::ticket::{display_number, history_entry, next_numbers};
use crate::{Result, organization as orgs, password, user as users};

/// The password of every demo account. Demo data is for trying the API, never for production.
pub const DEMO_PASSWORD: &str = "helpdesk-demo";
const DEMO_DOMAIN: &str = "demo.helpdesk.local";
const BATCH: usize = 500;

const ORGANIZATIONS: &[(&str, &str)] = &[
    ("Acme Corporation", "acme"),
    ("Globex", "globex"),
    ("Initech", "initech"),
    ("Umbrella Health", "umbrella"),
];

const SUBJECTS: &[&str] = &[
    "Cannot log in to the portal",
    "Invoice shows the wrong amount",
    "VPN drops every few minutes",
    "Password reset email never arrives",
    "Printer on the third floor is offline",
    "Export to CSV times out",
    "Need access to the billing dashboard",
    "Two-factor codes are rejected",
    "Mobile app crashes on start",
    "Duplicate charge on credit card",
    "Request to close our account",
    "Slow page loads since this morning",
    "Webhook deliveries failing with 500",
    "Cannot attach files larger than 5 MB",
    "Please update our billing address",
];

const REPLIES: &[&str] = &[
    "Thanks for reporting this. Could you tell us when it started?",
    "It started yesterday after the update.",
    "We have reproduced the problem and are working on a fix.",
    "Could you send a screenshot of the error message?",
    "Screenshot attached, it says the session expired.",
    "The fix is deployed. Can you confirm it works for you now?",
    "Confirmed, everything works again. Thank you!",
    "Internal: looks related to the cache change last week.",
];

/// Someone who can log in to the demo.
#[derive(Debug, Clone)]
pub struct DemoLogin {
    pub email: String,
    pub role: Role,
    pub organization: Option<String>,
}

#[derive(Debug, Clone)]
pub struct DemoSummary {
    pub logins: Vec<DemoLogin>,
    pub tickets_created: u64,
}

/// Whether the database holds no users yet (a fresh install).
pub async fn is_empty(db: &impl ConnectionTrait) -> Result<bool> {
    Ok(user::Entity::find().count(db).await? == 0)
}

struct Org {
    id: Uuid,
    agents: Vec<Uuid>,
    clients: Vec<Uuid>,
}

/// Creates the demo organizations and people if they are missing, then `tickets` tickets.
/// `progress` is called with the number of tickets written so far.
pub async fn demo<C>(db: &C, tickets: u64, progress: &(dyn Fn(u64) + Sync)) -> Result<DemoSummary>
where
    C: ConnectionTrait + TransactionTrait,
{
    let (orgs, logins) = people(db).await?;
    crate::sla::install_defaults(db).await?;
    let mut measures = HashMap::new();
    for priority in crate::ticket::PRIORITIES {
        if let Some(policy) = crate::sla::active_policy(db, priority).await? {
            measures.insert(priority, crate::sla::measure_of(db, policy).await?);
        }
    }
    let mut written = 0u64;
    while written < tickets {
        let batch = (tickets - written).min(BATCH as u64) as usize;
        let txn = crate::db::begin_write(db).await?;
        let first_number = next_numbers(&txn, batch as i64).await?;
        let mut rng = StdRng::seed_from_u64(first_number as u64);
        let rows = generate(&mut rng, &orgs, &measures, first_number, batch);
        insert_batch(&txn, rows).await?;
        txn.commit().await?;
        written += batch as u64;
        progress(written);
    }
    // The tickets went in without the per-change bookkeeping; derive the roll-ups from them.
    crate::stats::rollup::rebuild(db).await?;
    Ok(DemoSummary {
        logins,
        tickets_created: written,
    })
}

async fn people<C>(db: &C) -> Result<(Vec<Org>, Vec<DemoLogin>)>
where
    C: ConnectionTrait + TransactionTrait,
{
    // One hash for all demo accounts: Argon2 is slow on purpose, and they share the password.
    let hash = password::hash(DEMO_PASSWORD).await?;
    let txn = crate::db::begin_write(db).await?;
    let mut logins = Vec::new();
    ensure_user(
        &txn,
        &hash,
        "admin",
        "Ada Admin",
        Role::Admin,
        &mut logins,
        None,
    )
    .await?;
    ensure_user(
        &txn,
        &hash,
        "lead",
        "Sam Superagent",
        Role::Superagent,
        &mut logins,
        None,
    )
    .await?;

    let mut result = Vec::new();
    for (name, slug) in ORGANIZATIONS {
        let org = match orgs::find_by_name(&txn, name).await? {
            Some(org) => org,
            None => {
                orgs::create(
                    &txn,
                    orgs::NewOrganization {
                        name: name.to_string(),
                        email: Some(format!("support@{slug}.example")),
                        description: Some(format!("Demo customer {name}")),
                        ..Default::default()
                    },
                )
                .await?
            }
        };
        let mut agents = Vec::new();
        let mut clients = Vec::new();
        for i in 1..=2 {
            let local = format!("agent{i}.{slug}");
            let id = ensure_user(
                &txn,
                &hash,
                &local,
                &format!("Agent {i} of {name}"),
                Role::Agent,
                &mut logins,
                Some((org.id, name)),
            )
            .await?;
            agents.push(id);
        }
        for i in 1..=3 {
            let local = format!("client{i}.{slug}");
            let id = ensure_user(
                &txn,
                &hash,
                &local,
                &format!("Client {i} of {name}"),
                Role::Client,
                &mut logins,
                Some((org.id, name)),
            )
            .await?;
            clients.push(id);
        }
        result.push(Org {
            id: org.id,
            agents,
            clients,
        });
    }
    txn.commit().await?;
    Ok((result, logins))
}

#[allow(clippy::too_many_arguments)]
async fn ensure_user(
    db: &impl ConnectionTrait,
    hash: &str,
    local: &str,
    name: &str,
    role: Role,
    logins: &mut Vec<DemoLogin>,
    organization: Option<(Uuid, &str)>,
) -> Result<Uuid> {
    let email = format!("{local}@{DEMO_DOMAIN}");
    let id = match users::find_by_email(db, &email).await? {
        Some(existing) => existing.id,
        None => {
            let created = users::insert(
                db,
                email.clone(),
                name.to_string(),
                hash.to_string(),
                role,
                true,
            )
            .await?;
            if let Some((org_id, _)) = organization {
                orgs::add_member(db, org_id, created.id).await?;
            }
            created.id
        }
    };
    // Print the first of each kind per organization: enough to try every role.
    let first_of_kind =
        local.starts_with("admin") || local.starts_with("lead") || local.contains("1.");
    if first_of_kind {
        logins.push(DemoLogin {
            email,
            role,
            organization: organization.map(|(_, name)| name.to_string()),
        });
    }
    Ok(id)
}

struct Rows {
    tickets: Vec<ticket::ActiveModel>,
    comments: Vec<comment::ActiveModel>,
    history: Vec<ticket_history::ActiveModel>,
}

fn generate(
    rng: &mut StdRng,
    orgs: &[Org],
    measures: &HashMap<TicketPriority, Measure>,
    first_number: i64,
    count: usize,
) -> Rows {
    let now = Utc::now();
    // Creation times over the last year, oldest first so numbers grow with time.
    let mut created: Vec<DateTime<Utc>> = (0..count)
        .map(|_| now - Duration::minutes(rng.random_range(60..365 * 24 * 60)))
        .collect();
    created.sort();

    let mut rows = Rows {
        tickets: Vec::with_capacity(count),
        comments: Vec::with_capacity(count * 3),
        history: Vec::with_capacity(count * 3),
    };
    for (offset, created_at) in created.into_iter().enumerate() {
        let org = &orgs[rng.random_range(0..orgs.len())];
        let requester = *org
            .clients
            .choose(rng)
            .expect("demo organizations have clients");
        let agent = *org
            .agents
            .choose(rng)
            .expect("demo organizations have agents");
        let status = *[
            TicketStatus::New,
            TicketStatus::Open,
            TicketStatus::InProgress,
            TicketStatus::PendingInfo,
            TicketStatus::Resolved,
            TicketStatus::Closed,
        ]
        .choose(rng)
        .expect("non-empty");
        let priority = *[
            TicketPriority::Low,
            TicketPriority::Medium,
            TicketPriority::Medium,
            TicketPriority::High,
            TicketPriority::Critical,
        ]
        .choose(rng)
        .expect("non-empty");
        let category = *[
            TicketCategory::Technical,
            TicketCategory::Account,
            TicketCategory::Billing,
            TicketCategory::Other,
        ]
        .choose(rng)
        .expect("non-empty");
        let id = Uuid::now_v7();
        let number = first_number + offset as i64;
        let subject = SUBJECTS.choose(rng).expect("non-empty");

        // A conversation: the client and the agent take turns, minutes to hours apart.
        let replies = if status == TicketStatus::New {
            0
        } else {
            rng.random_range(1..=4)
        };
        let mut at = created_at;
        let mut first_response_at = None;
        for turn in 0..replies {
            at = (at + Duration::minutes(rng.random_range(5..600))).min(now);
            let from_staff = turn % 2 == 0;
            let is_internal = from_staff && rng.random_bool(0.2);
            if from_staff && !is_internal && first_response_at.is_none() {
                first_response_at = Some(at);
            }
            rows.comments.push(comment::ActiveModel {
                id: Set(Uuid::now_v7()),
                ticket_id: Set(id),
                author_id: Set(if from_staff { agent } else { requester }),
                body: Set(REPLIES.choose(rng).expect("non-empty").to_string()),
                is_internal: Set(is_internal),
                created_at: Set(at),
                updated_at: Set(at),
            });
        }
        let updated_at = at;
        let resolved_at =
            matches!(status, TicketStatus::Resolved | TicketStatus::Closed).then_some(updated_at);
        let closed_at = (status == TicketStatus::Closed).then_some(updated_at);
        let assignee = (status != TicketStatus::New).then_some(agent);

        rows.history.push(history_entry(
            id,
            Some(requester),
            "created",
            None,
            Some(display_number(number)),
            created_at,
        ));
        if status != TicketStatus::New {
            rows.history.push(history_entry(
                id,
                Some(agent),
                "status",
                Some(status_name(TicketStatus::New)),
                Some(status_name(status)),
                updated_at,
            ));
            rows.history.push(history_entry(
                id,
                Some(agent),
                "assignee",
                None,
                Some(agent.to_string()),
                created_at,
            ));
        }

        let mut ticket = ticket::Model {
            id,
            number,
            title: format!("{subject} (#{number})"),
            description: format!("{subject}. Reported through the demo data generator."),
            status,
            priority,
            category,
            requester_id: requester,
            assignee_id: assignee,
            organization_id: org.id,
            first_response_at,
            resolved_at,
            closed_at,
            reopened_count: 0,
            deleted_at: None,
            created_at,
            updated_at,
            sla_policy_id: None,
            sla_pauses: None,
            sla_paused_since: None,
            first_response_due_at: None,
            resolution_due_at: None,
            sla_next_check_at: None,
            first_response_warned_at: None,
            first_response_breached_at: None,
            resolution_warned_at: None,
            resolution_breached_at: None,
        };
        crate::sla::stamp(&mut ticket, measures.get(&priority), now);
        rows.tickets.push(ticket.into());
    }
    rows
}

fn status_name(status: TicketStatus) -> String {
    use sea_orm::ActiveEnum;
    status.to_value()
}

async fn insert_batch(db: &impl ConnectionTrait, rows: Rows) -> Result<()> {
    if !rows.tickets.is_empty() {
        ticket::Entity::insert_many(rows.tickets)
            .exec_without_returning(db)
            .await?;
    }
    // Comments and history have fewer columns than tickets but more rows; chunk them so no
    // statement comes near SQLite's or PostgreSQL's bound-parameter limits.
    for chunk in chunks(rows.comments) {
        comment::Entity::insert_many(chunk)
            .exec_without_returning(db)
            .await?;
    }
    for chunk in chunks(rows.history) {
        ticket_history::Entity::insert_many(chunk)
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

fn chunks<T>(mut items: Vec<T>) -> Vec<Vec<T>> {
    let mut out = Vec::new();
    while !items.is_empty() {
        let rest = items.split_off(items.len().min(BATCH * 2));
        out.push(std::mem::replace(&mut items, rest));
    }
    out
}

/// Only for the seed's own bookkeeping: the ids of demo users by role.
pub async fn demo_user_ids(db: &impl ConnectionTrait, role: Role) -> Result<Vec<Uuid>> {
    Ok(user::Entity::find()
        .filter(user::Column::Role.eq(role))
        .filter(user::Column::Email.like(format!("%@{DEMO_DOMAIN}")))
        .all(db)
        .await?
        .into_iter()
        .map(|u| u.id)
        .collect())
}
