//! The API's enumerations, mapped one to one onto the stored ones.

use async_graphql::Enum;
use entity::enums as db;

/// Where a ticket is in its lifecycle.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum TicketStatus {
    /// Just raised, nobody has looked at it yet.
    New,
    /// Acknowledged and waiting to be worked on.
    Open,
    /// Someone is working on it.
    InProgress,
    /// Waiting for the requester to answer; their reply reopens it.
    PendingInfo,
    /// Solved; the requester may close or reopen it.
    Resolved,
    /// Done. Only staff can reopen it.
    Closed,
}

/// How urgent a ticket is; it picks the ticket's SLA policy.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum TicketPriority {
    /// The lowest priority.
    Low,
    /// The usual priority, and the default for new tickets.
    Medium,
    /// Urgent.
    High,
    /// The most urgent, highest priority.
    Critical,
}

/// What a ticket is about.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum TicketCategory {
    /// A technical problem or question.
    Technical,
    /// About an account or access to it.
    Account,
    /// About invoices and payments.
    Billing,
    /// Anything else; the default for new tickets.
    Other,
}

/// What a user may do and see.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum Role {
    /// Everything, including users, roles and organizations.
    Admin,
    /// Every ticket of every organization; manages organization membership.
    Superagent,
    /// Tickets of their organizations and tickets assigned to them.
    Agent,
    /// The tickets they requested.
    Client,
}

macro_rules! both_ways {
    ($api:ident <=> $db:ty { $($variant:ident),* $(,)? }) => {
        impl From<$db> for $api {
            fn from(value: $db) -> Self {
                match value { $(<$db>::$variant => $api::$variant),* }
            }
        }
        impl From<$api> for $db {
            fn from(value: $api) -> Self {
                match value { $($api::$variant => <$db>::$variant),* }
            }
        }
    };
}

both_ways!(TicketStatus <=> db::TicketStatus { New, Open, InProgress, PendingInfo, Resolved, Closed });
both_ways!(TicketPriority <=> db::TicketPriority { Low, Medium, High, Critical });
both_ways!(TicketCategory <=> db::TicketCategory { Technical, Account, Billing, Other });
both_ways!(Role <=> db::Role { Admin, Superagent, Agent, Client });

/// Sort order.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum OrderDirection {
    /// Smallest, earliest or lowest first.
    Asc,
    /// Largest, latest or highest first (the default).
    #[default]
    Desc,
}

/// What tickets are sorted by.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum TicketOrderField {
    /// When the ticket was raised (the default).
    #[default]
    CreatedAt,
    /// When the ticket last changed.
    UpdatedAt,
    /// How urgent the ticket is, from `LOW` to `CRITICAL`.
    Priority,
    /// The ticket's number (`HD-1042`), in the order tickets were raised.
    Number,
    /// When the first answer is due (`ASC`: what is due first, first); tickets without such a
    /// target come after all others (`ASC`) or before them (`DESC`).
    FirstResponseDueAt,
    /// When the resolution is due (`ASC`: what is due first, first); tickets without such a
    /// target come after all others (`ASC`) or before them (`DESC`).
    ResolutionDueAt,
}

/// Where an SLA target stands.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum SlaStatus {
    /// The clock runs and the target is ahead.
    Active,
    /// The resolution clock stands still (waiting for the customer) before its target passed.
    Paused,
    /// Done within the target.
    Met,
    /// The target passed first.
    Breached,
}

both_ways!(SlaStatus <=> service::sla::Status { Active, Paused, Met, Breached });

/// A day of the week.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum Weekday {
    /// Monday.
    Monday,
    /// Tuesday.
    Tuesday,
    /// Wednesday.
    Wednesday,
    /// Thursday.
    Thursday,
    /// Friday.
    Friday,
    /// Saturday.
    Saturday,
    /// Sunday.
    Sunday,
}

impl From<chrono::Weekday> for Weekday {
    fn from(day: chrono::Weekday) -> Self {
        use chrono::Weekday as W;
        match day {
            W::Mon => Weekday::Monday,
            W::Tue => Weekday::Tuesday,
            W::Wed => Weekday::Wednesday,
            W::Thu => Weekday::Thursday,
            W::Fri => Weekday::Friday,
            W::Sat => Weekday::Saturday,
            W::Sun => Weekday::Sunday,
        }
    }
}

impl From<Weekday> for chrono::Weekday {
    fn from(day: Weekday) -> Self {
        use chrono::Weekday as W;
        match day {
            Weekday::Monday => W::Mon,
            Weekday::Tuesday => W::Tue,
            Weekday::Wednesday => W::Wed,
            Weekday::Thursday => W::Thu,
            Weekday::Friday => W::Fri,
            Weekday::Saturday => W::Sat,
            Weekday::Sunday => W::Sun,
        }
    }
}

/// The length of one point of a statistics series.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum StatsInterval {
    /// One calendar day.
    Day,
    /// Weeks start on Monday.
    Week,
    /// One calendar month.
    Month,
    /// One calendar year.
    Year,
}

both_ways!(StatsInterval <=> service::stats::Interval { Day, Week, Month, Year });

/// Where a file is in its virus scan.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ScanStatus {
    /// Waiting for the scanner.
    Pending,
    /// The scanner found nothing: the file can be downloaded.
    Clean,
    /// The scanner found malware: the file is never served.
    Infected,
    /// The scan could not run (the scanner was unreachable); it is tried again.
    Failed,
    /// No scanner is configured: the file can be downloaded unless scanning is required.
    NotScanned,
}

impl From<db::ScanStatus> for ScanStatus {
    fn from(status: db::ScanStatus) -> Self {
        match status {
            db::ScanStatus::Pending => Self::Pending,
            db::ScanStatus::Clean => Self::Clean,
            db::ScanStatus::Infected => Self::Infected,
            db::ScanStatus::Failed => Self::Failed,
            db::ScanStatus::NotScanned => Self::NotScanned,
        }
    }
}

/// Where an upload is.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum AttachmentStatus {
    /// Begun: its bytes have not (all) arrived at the upload URL yet.
    Uploading,
    /// Its bytes arrived; attach it with `commentCreate` or `ticketCreate`.
    Uploaded,
    /// On a ticket or comment.
    Attached,
}

impl From<db::AttachmentState> for AttachmentStatus {
    fn from(state: db::AttachmentState) -> Self {
        match state {
            db::AttachmentState::Uploading | db::AttachmentState::Receiving => Self::Uploading,
            db::AttachmentState::Stored => Self::Uploaded,
            db::AttachmentState::Attached => Self::Attached,
        }
    }
}

/// What a notice is about.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum NotificationKind {
    /// Staff replied publicly on your ticket.
    Reply,
    /// Your ticket is waiting for your answer, resolved or closed.
    Status,
    /// A ticket was assigned to you.
    Assigned,
    /// The requester replied on a ticket assigned to you.
    RequesterReply,
    /// A comment (an internal note, or a reply) mentions you.
    Mention,
    /// A new ticket nobody is assigned to, in one of your organizations.
    NewTicket,
    /// An SLA target of a ticket assigned to you is close.
    SlaWarning,
    /// An SLA target of a ticket assigned to you passed unmet.
    SlaBreach,
    /// An escalation level names you.
    Escalation,
}

macro_rules! same_variants {
    ($api:ident, $db:ident, $($variant:ident),*) => {
        impl From<db::$db> for $api {
            fn from(value: db::$db) -> Self {
                match value {
                    $(db::$db::$variant => Self::$variant,)*
                }
            }
        }

        impl From<$api> for db::$db {
            fn from(value: $api) -> Self {
                match value {
                    $($api::$variant => Self::$variant,)*
                }
            }
        }
    };
}

same_variants!(
    NotificationKind,
    NotificationKind,
    Reply,
    Status,
    Assigned,
    RequesterReply,
    Mention,
    NewTicket,
    SlaWarning,
    SlaBreach,
    Escalation
);

/// Where a notice goes.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum NotificationChannel {
    /// Your inbox in the app (`me.notifications`).
    InApp,
    /// An email to your address.
    Email,
}

same_variants!(NotificationChannel, NotificationChannel, InApp, Email);

/// How sending a notice by email went.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum NotificationStatus {
    /// Not sent yet: waiting for its first or next attempt.
    Pending,
    /// The mail server accepted it.
    Sent,
    /// Given up after the last attempt.
    Failed,
}

same_variants!(
    NotificationStatus,
    NotificationStatus,
    Pending,
    Sent,
    Failed
);

/// Which SLA target a breach or an escalation is about.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum SlaTarget {
    /// The first public reply of staff.
    FirstResponse,
    /// Resolving the ticket.
    Resolution,
}

same_variants!(SlaTarget, SlaTarget, FirstResponse, Resolution);

/// What an event records: the kinds of the change feed, of subscriptions and of webhook
/// deliveries. Webhook bodies carry the same kinds as dotted names in `type`
/// (`ticket.status_changed` for `TICKET_STATUS_CHANGED`).
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// A ticket was raised.
    TicketCreated,
    /// A ticket's title, description, priority or category changed.
    TicketUpdated,
    /// A ticket's assignee changed.
    TicketAssigned,
    /// A ticket's status changed.
    TicketStatusChanged,
    /// A ticket was deleted.
    TicketDeleted,
    /// A comment was added (an internal note, which only staff see, is one too).
    CommentCreated,
    /// An SLA target is `warnBeforeMinutes` away; once per ticket and target.
    SlaWarning,
    /// An SLA target passed unmet; once per ticket and target.
    SlaBreached,
    /// A breach reached a level of the policy's escalation ladder, or reminds its recipients.
    SlaEscalated,
    /// A member of staff took an escalation; its reminders stop.
    SlaAcknowledged,
    /// A file's virus scan finished, clean or infected.
    AttachmentScanned,
    /// A test delivery of a webhook (`webhookTest`): a delivery's kind only, never an event of
    /// the log, and no endpoint subscribes to it.
    WebhookPing,
}

impl EventKind {
    const ALL: [EventKind; 12] = [
        EventKind::TicketCreated,
        EventKind::TicketUpdated,
        EventKind::TicketAssigned,
        EventKind::TicketStatusChanged,
        EventKind::TicketDeleted,
        EventKind::CommentCreated,
        EventKind::SlaWarning,
        EventKind::SlaBreached,
        EventKind::SlaEscalated,
        EventKind::SlaAcknowledged,
        EventKind::AttachmentScanned,
        EventKind::WebhookPing,
    ];

    /// The name the event log and webhook bodies use.
    pub fn name(self) -> &'static str {
        use service::event as e;
        match self {
            EventKind::TicketCreated => e::TICKET_CREATED,
            EventKind::TicketUpdated => e::TICKET_UPDATED,
            EventKind::TicketAssigned => e::TICKET_ASSIGNED,
            EventKind::TicketStatusChanged => e::TICKET_STATUS_CHANGED,
            EventKind::TicketDeleted => e::TICKET_DELETED,
            EventKind::CommentCreated => e::COMMENT_CREATED,
            EventKind::SlaWarning => e::SLA_WARNING,
            EventKind::SlaBreached => e::SLA_BREACHED,
            EventKind::SlaEscalated => e::SLA_ESCALATED,
            EventKind::SlaAcknowledged => e::SLA_ACKNOWLEDGED,
            EventKind::AttachmentScanned => e::ATTACHMENT_SCANNED,
            EventKind::WebhookPing => service::webhook::PING,
        }
    }

    /// The kind of a stored name; an unknown name is an internal error (the log holds only
    /// the names above).
    pub fn of(name: &str) -> async_graphql::Result<Self> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.name() == name)
            .ok_or_else(|| {
                crate::graphql::error::gql(service::Error::Internal(format!(
                    "an event of unknown kind {name:?}"
                )))
            })
    }

    /// The stored names of `kinds`.
    pub fn names(kinds: Vec<EventKind>) -> Vec<String> {
        kinds.into_iter().map(|k| k.name().to_string()).collect()
    }
}

#[cfg(test)]
mod event_kind_tests {
    use super::EventKind;

    #[test]
    fn every_kind_a_webhook_may_ask_for_has_a_graphql_value() {
        for name in service::webhook::KINDS {
            assert_eq!(EventKind::of(name).unwrap().name(), *name);
        }
        assert_eq!(EventKind::ALL.len(), service::webhook::KINDS.len() + 1);
    }
}
