//! What the selection below a page of tickets asks of its tickets (each ticket's first
//! comments, the people the tickets and those comments name, the tickets' organizations), read
//! on PostgreSQL by one statement that selects the page's tickets itself. It does not wait for
//! the page, so a lone request waits on one round of statements for the page and all of this.
//!
//! Asked about a [`Viewer`] (the account a query runs as while its credential is checked), it
//! also reads what that check reads: the account, in a person's slots, and one row per
//! organization it is a member of (see `auth::viewer_actor`).
//!
//! Rows of every kind come in one result. A row's first column says its kind; the others
//! are slots, each of one column type, that the kinds share: a comment's `body` and a user's
//! `email` are in the same text slot, their ids in the same uuid slot. A row so carries about
//! as many columns as its widest kind (18 here, against 31 with every kind's columns in
//! columns of their own), and a kind leaves only the slots it has no column for NULL. A ticket
//! without comments gives one comment row with its ticket's id and no comment.
//!
//! The statement and the page read different snapshots. What a ticket that came into the page
//! between them needs is not in this answer, and is read after the page, by the loaders.

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use entity::{comment, organization, organization_member, user};
use futures_util::TryStreamExt;
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::sqlx::{Row, ValueRef};
use sea_orm::{
    ConnectionTrait, DatabaseBackend, EntityName, IdenStatic, Iterable, Statement, StreamTrait,
};
use uuid::Uuid;

use super::query::{TicketFilter, TicketOrder};
use crate::actor::Actor;
use crate::decode::Positional;
use crate::page::PageRequest;
use crate::{Result, access};

/// A position in a ticket's comments: the time and id of the comment before the first wanted.
pub type After = Option<(DateTime<Utc>, Uuid)>;

/// What to read of a page's tickets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Wanted {
    /// Each ticket's first comments that the actor may read: how many rows (one more than the
    /// page of them asks, to tell whether another follows), after which position.
    pub comments: Option<(u64, After)>,
    pub requesters: bool,
    pub assignees: bool,
    /// The authors of those comments.
    pub authors: bool,
    pub organizations: bool,
}

impl Wanted {
    fn anything(&self) -> bool {
        self.comments.is_some() || self.requesters || self.assignees || self.organizations
    }
}

/// The account a request's credential named on an earlier request, and its sign-in: the
/// statement alongside the page may also read what checking that credential reads, so that
/// the check costs no statement of its own (see [`Alongside::viewer`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Viewer {
    pub user_id: Uuid,
    /// The sign-in (refresh token family) of the credential; `None` for a token of none.
    pub session_id: Option<Uuid>,
}

/// What checking a [`Viewer`]'s credential reads of the database: its account, unless gone
/// or (for a sign-in) revoked, and the organizations it is a member of.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ViewerRows {
    pub account: Option<user::Model>,
    pub organization_ids: Vec<Uuid>,
}

/// What [`read`] found.
#[derive(Debug, Default)]
pub struct Alongside {
    /// What checking the [`Viewer`] the statement was asked about reads, in the statement's
    /// snapshot; `None` when it was asked about none.
    pub viewer: Option<ViewerRows>,
    /// Each ticket's comments, oldest first: every ticket of the page as the statement saw it,
    /// with no comments when it has none; empty when comments were not wanted.
    pub windows: HashMap<Uuid, Vec<comment::Model>, foldhash::fast::RandomState>,
    pub people: Vec<user::Model>,
    pub organizations: Vec<organization::Model>,
}

/// The statement that reads `wanted` of the page `list` gives `actor` for the same arguments;
/// `None` where there is none: not PostgreSQL, a search (ranked apart), or nothing wanted.
pub fn statement(
    backend: DatabaseBackend,
    actor: &Actor,
    filter: &TicketFilter,
    order: TicketOrder,
    page: &PageRequest,
    wanted: &Wanted,
    viewer: Option<Viewer>,
) -> Result<Option<Statement>> {
    if backend != DatabaseBackend::Postgres || !wanted.anything() {
        return Ok(None);
    }
    let Some(tickets) = super::query::page_keys(backend, actor, filter, order, page)? else {
        return Ok(None);
    };
    let mut values = tickets.values.map(|v| v.0).unwrap_or_default();
    let mut sql = format!("WITH parent AS ({})", tickets.sql);
    let mut branches = Vec::new();
    let mut people = Vec::new();
    if let Some((first, after)) = wanted.comments {
        let only = (!access::sees_internal_notes(actor))
            .then(|| Expr::col((comment::Entity, comment::Column::IsInternal)).eq(false));
        let inner = crate::page::limited(
            backend,
            &crate::page::first_rows_query::<comment::Entity>(after, only),
            first,
        );
        // The page's values come first in the text, the comments' after them.
        // A ticket without comments gives one row, with the ticket's id and no comment.
        static WINDOW: LazyLock<String> = LazyLock::new(|| {
            let mut sql = String::from(", windows AS (SELECT ");
            for column in comment::Column::iter() {
                if matches!(column, comment::Column::TicketId) {
                    sql.push_str("parent.id AS \"ticket_id\", ");
                } else {
                    let _ = write!(sql, "c.\"{}\", ", column.as_str());
                }
            }
            sql.truncate(sql.len() - 2);
            sql + " FROM parent LEFT JOIN LATERAL ("
        });
        sql.push_str(&WINDOW);
        crate::page::renumber(&inner.sql, values.len(), &mut sql);
        sql.push_str(") AS c ON true)");
        values.extend(inner.values.map(|v| v.0).unwrap_or_default());
        branches.push(branch(Group::Comments, "FROM windows"));
        if wanted.authors {
            people.push("SELECT author_id FROM windows");
        }
    }
    if wanted.requesters {
        people.push("SELECT requester_id FROM parent");
    }
    if wanted.assignees {
        people.push("SELECT assignee_id FROM parent");
    }
    if !people.is_empty() {
        branches.push(branch(
            Group::People,
            &format!(
                "FROM \"{0}\" WHERE \"{0}\".\"id\" IN ({1})",
                user::Entity.table_name(),
                people.join(" UNION ")
            ),
        ));
    }
    if wanted.organizations {
        branches.push(branch(
            Group::Organizations,
            &format!(
                "FROM \"{0}\" WHERE \"{0}\".\"id\" IN (SELECT organization_id FROM parent)",
                organization::Entity.table_name()
            ),
        ));
    }
    if let Some(viewer) = viewer {
        // What `auth::actor` reads of the account, for `auth::viewer_actor`.
        let query = Query::select()
            .expr(Expr::cust("1"))
            .from(user::Entity)
            .cond_where(crate::auth::still_signed_in(
                viewer.user_id,
                viewer.session_id,
            ))
            .to_owned();
        let built = backend.build(&query);
        let from = built.sql.strip_prefix("SELECT 1 ").ok_or_else(|| {
            sea_orm::DbErr::Custom(format!(
                "an account's query of another shape: {}",
                built.sql
            ))
        })?;
        let mut account = String::with_capacity(from.len() + 8);
        crate::page::renumber(from, values.len(), &mut account);
        values.extend(built.values.map(|v| v.0).unwrap_or_default());
        values.push(viewer.user_id.into());
        let user_id = values.len();
        branches.push(branch(Group::Viewer, &account));
        branches.push(branch(
            Group::Memberships,
            &format!(
                "FROM \"{0}\" WHERE \"{0}\".\"{1}\" = ${user_id}",
                organization_member::Entity.table_name(),
                organization_member::Column::UserId.as_str(),
            ),
        ));
    }
    sql.push(' ');
    sql.push_str(&branches.join(" UNION ALL "));
    Ok(Some(Statement::from_sql_and_values(backend, sql, values)))
}

/// The kinds of row, by the number in their first column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Group {
    /// A comment, or a ticket without comments: its `ticket_id` is the window's ticket.
    Comments = 0,
    People = 1,
    Organizations = 2,
    /// The account of the [`Viewer`] asked about, in a person's slots.
    Viewer = 3,
    /// One organization the viewer is a member of: its id in the slot of a person's id.
    Memberships = 4,
}

impl Group {
    const ALL: [Self; 5] = [
        Self::Comments,
        Self::People,
        Self::Organizations,
        Self::Viewer,
        Self::Memberships,
    ];

    fn numbered(number: i16) -> Option<Self> {
        Self::ALL.into_iter().find(|group| *group as i16 == number)
    }
}

/// Where each kind of row keeps its columns: slots shared by the kinds, one column type each.
struct Layout {
    /// Each slot's NULL, of the slot's type.
    nulls: Vec<String>,
    /// For each group, in [`Group`]'s order: the slot of each of its model's columns, in their
    /// `Column` order.
    slots: [Vec<usize>; 3],
    /// For each group, its columns' positions in a row (the slots after the kind's number).
    at: [Vec<usize>; 3],
}

static LAYOUT: LazyLock<Layout> = LazyLock::new(|| {
    let groups = [
        typed::<comment::Entity>(),
        typed::<user::Entity>(),
        typed::<organization::Entity>(),
    ];
    let mut nulls: Vec<String> = Vec::new();
    let slots = groups.map(|columns| {
        let mut taken = vec![false; nulls.len()];
        columns
            .into_iter()
            .map(|null| {
                let free = (0..nulls.len()).find(|&slot| !taken[slot] && nulls[slot] == null);
                let slot = free.unwrap_or_else(|| {
                    nulls.push(null);
                    taken.push(false);
                    nulls.len() - 1
                });
                taken[slot] = true;
                slot
            })
            .collect::<Vec<_>>()
    });
    let at = slots
        .clone()
        .map(|slots| slots.into_iter().map(|slot| slot + 1).collect());
    Layout { nulls, slots, at }
});

/// `E`'s columns, each as the NULL of the slot it can go in: one of the shared column types,
/// or, for a type that is not shared, the column's own NULL.
fn typed<E: EntityName + sea_orm::EntityTrait>() -> Vec<String> {
    use sea_orm::ColumnTrait;
    use sea_orm::sea_query::ColumnType;
    E::Column::iter()
        .map(|column| {
            let shared = match column.def().get_column_type() {
                ColumnType::Uuid => "uuid",
                ColumnType::String(_) | ColumnType::Text => "text",
                ColumnType::TimestampWithTimeZone => "timestamptz",
                ColumnType::Boolean => "boolean",
                ColumnType::Integer => "integer",
                ColumnType::BigInteger => "bigint",
                _ => {
                    return format!(
                        "(NULL::\"{}\").\"{}\"",
                        E::default().table_name(),
                        column.as_str()
                    );
                }
            };
            format!("NULL::{shared}")
        })
        .collect()
}

/// One branch of the statement: `from` gives the rows of `group` (a comment's from the
/// `windows` it names, a person's or an organization's from their table); the slots the group
/// has no column for are NULL.
fn branch(group: Group, from: &str) -> String {
    static SELECTS: LazyLock<[String; 5]> = LazyLock::new(|| {
        let layout = &*LAYOUT;
        let people = Group::People as usize;
        let names = [
            columns::<comment::Entity>("windows"),
            columns::<user::Entity>(""),
            columns::<organization::Entity>(""),
        ];
        let membership = format!(
            "\"{}\".\"{}\"",
            organization_member::Entity.table_name(),
            organization_member::Column::OrganizationId.as_str()
        );
        Group::ALL.map(|group| {
            let index = group as usize;
            let mut row: Vec<&str> = layout.nulls.iter().map(String::as_str).collect();
            match group {
                Group::Comments | Group::People | Group::Organizations => {
                    for (column, &slot) in names[index].iter().zip(&layout.slots[index]) {
                        row[slot] = column;
                    }
                }
                Group::Viewer => {
                    for (column, &slot) in names[people].iter().zip(&layout.slots[people]) {
                        row[slot] = column;
                    }
                }
                Group::Memberships => row[layout.slots[people][user_id_column()]] = &membership,
            }
            format!("SELECT {index}::smallint, {}", row.join(", "))
        })
    });
    let select = &SELECTS[group as usize];
    let mut sql = String::with_capacity(select.len() + from.len() + 1);
    sql.push_str(select);
    sql.push(' ');
    sql.push_str(from);
    sql
}

/// The position of `id` among a user's columns.
fn user_id_column() -> usize {
    user::Column::iter()
        .position(|column| matches!(column, user::Column::Id))
        .unwrap_or_default()
}

/// `E`'s columns, read from `source` (its table when empty).
fn columns<E: EntityName + sea_orm::EntityTrait>(source: &str) -> Vec<String> {
    let table = E::default().table_name();
    let source = if source.is_empty() { table } else { source };
    E::Column::iter()
        .map(|column| format!("\"{source}\".\"{}\"", column.as_str()))
        .collect()
}

/// Runs a [`statement`]. Its rows are decoded as they come in, while PostgreSQL is still
/// sending the rest.
/// `viewer` is the one the statement was asked about, if any.
pub async fn read(
    db: &(impl ConnectionTrait + StreamTrait),
    statement: Statement,
    viewer: Option<Viewer>,
) -> Result<Alongside> {
    let mut rows = std::pin::pin!(db.stream_raw(statement).await?);
    let layout = &*LAYOUT;
    let comments = &layout.at[Group::Comments as usize];
    let position = |wanted: comment::Column| {
        let found = comment::Column::iter().position(|column| column.as_str() == wanted.as_str());
        found
            .map(|found| comments[found])
            .ok_or_else(|| sea_orm::DbErr::Custom(format!("no comment column {}", wanted.as_str())))
    };
    let (comment_id, ticket_id) = (
        position(comment::Column::Id)?,
        position(comment::Column::TicketId)?,
    );
    let mut found = Alongside {
        viewer: viewer.map(|_| ViewerRows::default()),
        ..Alongside::default()
    };
    let people = &layout.at[Group::People as usize];
    let user_id = people[user_id_column()];
    while let Some(row) = rows.try_next().await? {
        let row = row.try_as_pg_row().ok_or_else(|| {
            sea_orm::DbErr::Custom("a PostgreSQL row was expected alongside a page".into())
        })?;
        let group: i16 = crate::decode::value(row, 0)?;
        match Group::numbered(group) {
            Some(Group::Comments) => {
                let ticket_id: Uuid = crate::decode::value(row, ticket_id)?;
                let window = found.windows.entry(ticket_id).or_default();
                let commented = !row.try_get_raw(comment_id).map_err(undecoded)?.is_null();
                if commented {
                    window.push(Positional::<comment::Model>::mapped(row, comments)?.0);
                }
            }
            Some(Group::People) => found.people.push(
                Positional::<user::Model>::mapped(row, &layout.at[Group::People as usize])?.0,
            ),
            Some(Group::Organizations) => found.organizations.push(
                Positional::<organization::Model>::mapped(
                    row,
                    &layout.at[Group::Organizations as usize],
                )?
                .0,
            ),
            Some(Group::Viewer) => {
                let account = Positional::<user::Model>::mapped(row, people)?.0;
                if let Some(viewer) = &mut found.viewer {
                    viewer.account = Some(account);
                }
            }
            Some(Group::Memberships) => {
                let organization_id: Uuid = crate::decode::value(row, user_id)?;
                if let Some(viewer) = &mut found.viewer {
                    viewer.organization_ids.push(organization_id);
                }
            }
            None => {
                return Err(sea_orm::DbErr::Custom(format!(
                    "a row of no kind ({group}) alongside a page"
                ))
                .into());
            }
        }
    }
    for window in found.windows.values_mut() {
        window.sort_by_key(|c| (c.created_at, c.id));
    }
    Ok(found)
}

fn undecoded(err: sea_orm::sqlx::Error) -> sea_orm::DbErr {
    sea_orm::DbErr::Type(err.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kinds_of_row_share_slots_of_their_columns_types() {
        let layout = &*LAYOUT;
        let groups = [
            typed::<comment::Entity>(),
            typed::<user::Entity>(),
            typed::<organization::Entity>(),
        ];
        for (group, columns) in groups.iter().enumerate() {
            let slots = &layout.slots[group];
            assert_eq!(slots.len(), columns.len());
            for (column, &slot) in columns.iter().zip(slots) {
                assert_eq!(&layout.nulls[slot], column, "group {group}");
            }
            let mut distinct = slots.clone();
            distinct.sort_unstable();
            distinct.dedup();
            assert_eq!(
                distinct.len(),
                slots.len(),
                "group {group} takes a slot twice"
            );
            let at: Vec<usize> = slots.iter().map(|slot| slot + 1).collect();
            assert_eq!(layout.at[group], at);
        }
        // As many slots of a type as the kind with most columns of it needs, no more.
        for null in &layout.nulls {
            let most = groups
                .iter()
                .map(|columns| columns.iter().filter(|column| *column == null).count())
                .max();
            let slots = layout.nulls.iter().filter(|slot| *slot == null).count();
            assert_eq!(Some(slots), most, "{null}");
        }
        let widest = groups.iter().map(Vec::len).max().unwrap_or_default();
        let side_by_side: usize = groups.iter().map(Vec::len).sum();
        assert!(layout.nulls.len() >= widest && layout.nulls.len() < side_by_side);
    }

    #[test]
    fn each_branch_selects_the_kind_and_every_slot() {
        let width = LAYOUT.nulls.len() + 1;
        for group in Group::ALL {
            let sql = branch(group, "FROM somewhere");
            assert!(sql.starts_with(&format!("SELECT {}::smallint, ", group as usize)));
            assert!(sql.ends_with(" FROM somewhere"));
            // Column names and NULLs have no commas of their own.
            assert_eq!(sql.matches(", ").count() + 1, width, "{sql}");
        }
    }
}
