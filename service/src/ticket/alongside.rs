//! What the selection below a page of tickets asks of its tickets (each ticket's first
//! comments, the people the tickets and those comments name, the tickets' organizations), read
//! on PostgreSQL by one statement that selects the page's tickets itself. It does not wait for
//! the page, so a lone request waits on one round of statements for the page and all of this.
//!
//! Rows of the three kinds come in one result, side by side: a comment's columns and its
//! ticket's id, then a user's columns, then an organization's. Each row fills one group and
//! leaves the others NULL, typed as their table's columns so that the branches line up.
//!
//! The statement and the page read different snapshots. What a ticket that came into the page
//! between them needs is not in this answer, and is read after the page, by the loaders.

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use entity::{comment, organization, user};
use futures_util::TryStreamExt;
use sea_orm::sea_query::{Expr, ExprTrait};
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

/// What [`read`] found.
#[derive(Debug, Default)]
pub struct Alongside {
    /// Each ticket's comments, oldest first: every ticket of the page as the statement saw it,
    /// with no comments when it has none; empty when comments were not wanted.
    pub windows: HashMap<Uuid, Vec<comment::Model>>,
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
        static WINDOW: LazyLock<String> = LazyLock::new(|| {
            let mut sql = String::from(", windows AS (SELECT ");
            for column in comment::Column::iter() {
                let _ = write!(sql, "c.\"{}\", ", column.as_str());
            }
            sql + "parent.id AS parent_id FROM parent LEFT JOIN LATERAL ("
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
    sql.push(' ');
    sql.push_str(&branches.join(" UNION ALL "));
    Ok(Some(Statement::from_sql_and_values(backend, sql, values)))
}

/// The groups of columns of a row, in their order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Group {
    /// A comment's columns, then `parent_id`: the ticket whose window it is.
    Comments,
    People,
    Organizations,
}

/// One branch of the statement: `from` gives the rows of `group`; every other group's columns
/// are NULLs of their table's types.
fn branch(group: Group, from: &str) -> String {
    static SELECTS: LazyLock<[String; 3]> = LazyLock::new(|| {
        [Group::Comments, Group::People, Group::Organizations].map(|group| {
            let mut sql = String::from("SELECT ");
            columns(
                &mut sql,
                group == Group::Comments,
                comment::Entity,
                "windows",
            );
            if group == Group::Comments {
                sql.push_str("windows.parent_id, ");
            } else {
                sql.push_str("NULL::uuid AS parent_id, ");
            }
            columns(&mut sql, group == Group::People, user::Entity, "");
            columns(
                &mut sql,
                group == Group::Organizations,
                organization::Entity,
                "",
            );
            sql.truncate(sql.len() - 2);
            sql
        })
    });
    let select = &SELECTS[group as usize];
    let mut sql = String::with_capacity(select.len() + from.len() + 1);
    sql.push_str(select);
    sql.push(' ');
    sql.push_str(from);
    sql
}

/// `entity`'s columns, each followed by ", ": read from `source` (its table when empty) when
/// `present`, else NULLs of the column's type.
fn columns<E: EntityName + sea_orm::EntityTrait>(
    sql: &mut String,
    present: bool,
    entity: E,
    source: &str,
) {
    let table = entity.table_name();
    let source = if source.is_empty() { table } else { source };
    for column in E::Column::iter() {
        let name = column.as_str();
        if present {
            let _ = write!(sql, "\"{source}\".\"{name}\", ");
        } else {
            let _ = write!(sql, "(NULL::\"{table}\").\"{name}\" AS \"{name}\", ");
        }
    }
}

/// Runs a [`statement`]. Its rows are decoded as they come in, while PostgreSQL is still
/// sending the rest.
pub async fn read(
    db: &(impl ConnectionTrait + StreamTrait),
    statement: Statement,
) -> Result<Alongside> {
    let mut rows = std::pin::pin!(db.stream_raw(statement).await?);
    let parent = comment::Column::iter().count();
    let people = parent + 1;
    let organizations = people + user::Column::iter().count();
    let mut found = Alongside::default();
    while let Some(row) = rows.try_next().await? {
        let row = row.try_as_pg_row().ok_or_else(|| {
            sea_orm::DbErr::Custom("a PostgreSQL row was expected alongside a page".into())
        })?;
        let filled = |index: usize| {
            row.try_get_raw(index)
                .map(|value| !value.is_null())
                .map_err(undecoded)
        };
        if filled(parent)? {
            let ticket_id: Uuid = row.try_get(parent).map_err(undecoded)?;
            let window = found.windows.entry(ticket_id).or_default();
            if filled(0)? {
                window.push(Positional::<comment::Model>::at(row, 0)?.0);
            }
        } else if filled(people)? {
            found
                .people
                .push(Positional::<user::Model>::at(row, people)?.0);
        } else if filled(organizations)? {
            found
                .organizations
                .push(Positional::<organization::Model>::at(row, organizations)?.0);
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
