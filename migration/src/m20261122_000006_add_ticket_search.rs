//! Full-text search over ticket titles, descriptions and comment bodies.
//!
//! PostgreSQL: generated `tsvector` columns on tickets (title weighted above description) and
//! comments, each with a GIN index, kept current by the database itself. The `simple`
//! configuration (no stemming, no stop words) treats every language alike.
//!
//! SQLite: one FTS5 table holding a row per ticket (title, description) and per comment (body),
//! kept current by triggers. Updates and deletes find their rows by the unindexed id columns,
//! a scan of the index's content; fine at the embedded default's scale, where writes are few.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

const POSTGRES_UP: &[&str] = &[
    "ALTER TABLE tickets ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('simple', coalesce(title, '')), 'A') ||
        setweight(to_tsvector('simple', coalesce(description, '')), 'B')) STORED",
    // Serves `tickets(filter: { search })`.
    "CREATE INDEX ix_tickets_search ON tickets USING GIN (search_vector)",
    "ALTER TABLE comments ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
        to_tsvector('simple', coalesce(body, ''))) STORED",
    // Serves the comment half of the same search.
    "CREATE INDEX ix_comments_search ON comments USING GIN (search_vector)",
];

const POSTGRES_DOWN: &[&str] = &[
    "DROP INDEX IF EXISTS ix_comments_search",
    "ALTER TABLE comments DROP COLUMN IF EXISTS search_vector",
    "DROP INDEX IF EXISTS ix_tickets_search",
    "ALTER TABLE tickets DROP COLUMN IF EXISTS search_vector",
];

const SQLITE_UP: &[&str] = &[
    "CREATE VIRTUAL TABLE ticket_search USING fts5(
        ticket_id UNINDEXED, comment_id UNINDEXED, internal UNINDEXED, title, body,
        tokenize = 'unicode61 remove_diacritics 2')",
    "CREATE TRIGGER ticket_search_ticket_insert AFTER INSERT ON tickets BEGIN
        INSERT INTO ticket_search (ticket_id, comment_id, internal, title, body)
        VALUES (new.id, NULL, 0, new.title, new.description);
    END",
    "CREATE TRIGGER ticket_search_ticket_update AFTER UPDATE OF title, description ON tickets BEGIN
        DELETE FROM ticket_search WHERE ticket_id = old.id AND comment_id IS NULL;
        INSERT INTO ticket_search (ticket_id, comment_id, internal, title, body)
        VALUES (new.id, NULL, 0, new.title, new.description);
    END",
    "CREATE TRIGGER ticket_search_ticket_delete AFTER DELETE ON tickets BEGIN
        DELETE FROM ticket_search WHERE ticket_id = old.id;
    END",
    "CREATE TRIGGER ticket_search_comment_insert AFTER INSERT ON comments BEGIN
        INSERT INTO ticket_search (ticket_id, comment_id, internal, title, body)
        VALUES (new.ticket_id, new.id, new.is_internal, '', new.body);
    END",
    "CREATE TRIGGER ticket_search_comment_update AFTER UPDATE OF body, is_internal ON comments BEGIN
        DELETE FROM ticket_search WHERE comment_id = old.id;
        INSERT INTO ticket_search (ticket_id, comment_id, internal, title, body)
        VALUES (new.ticket_id, new.id, new.is_internal, '', new.body);
    END",
    "CREATE TRIGGER ticket_search_comment_delete AFTER DELETE ON comments BEGIN
        DELETE FROM ticket_search WHERE comment_id = old.id;
    END",
    // Index what is already there.
    "INSERT INTO ticket_search (ticket_id, comment_id, internal, title, body)
        SELECT id, NULL, 0, title, description FROM tickets",
    "INSERT INTO ticket_search (ticket_id, comment_id, internal, title, body)
        SELECT ticket_id, id, is_internal, '', body FROM comments",
];

const SQLITE_DOWN: &[&str] = &[
    "DROP TRIGGER IF EXISTS ticket_search_comment_delete",
    "DROP TRIGGER IF EXISTS ticket_search_comment_update",
    "DROP TRIGGER IF EXISTS ticket_search_comment_insert",
    "DROP TRIGGER IF EXISTS ticket_search_ticket_delete",
    "DROP TRIGGER IF EXISTS ticket_search_ticket_update",
    "DROP TRIGGER IF EXISTS ticket_search_ticket_insert",
    "DROP TABLE IF EXISTS ticket_search",
];

async fn run(manager: &SchemaManager<'_>, postgres: &[&str], sqlite: &[&str]) -> Result<(), DbErr> {
    let statements = match manager.get_database_backend() {
        DbBackend::Postgres => postgres,
        _ => sqlite,
    };
    for statement in statements {
        manager
            .get_connection()
            .execute_unprepared(statement)
            .await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, POSTGRES_UP, SQLITE_UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, POSTGRES_DOWN, SQLITE_DOWN).await
    }
}
