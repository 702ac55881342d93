use migration::{Migrator, MigratorTrait, TABLES};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use sea_orm_migration::SchemaManager;

use crate::helpers::{TestDatabase, helpdesk, run};

async fn present_tables(db: &DatabaseConnection) -> Vec<&'static str> {
    let manager = SchemaManager::new(db);
    let mut present = Vec::new();
    for table in TABLES {
        if manager.has_table(*table).await.expect("has_table") {
            present.push(*table);
        }
    }
    present
}

/// Every table and index in the database except the migration bookkeeping, read from the
/// catalog (not from our own list, which could be missing something).
async fn schema_objects(db: &DatabaseConnection) -> (Vec<String>, Vec<String>) {
    let (tables, indexes) = match db.get_database_backend() {
        DbBackend::Postgres => (
            "SELECT tablename AS name FROM pg_tables WHERE schemaname = current_schema() \
             AND tablename <> 'seaql_migrations' ORDER BY 1",
            "SELECT indexname AS name FROM pg_indexes WHERE schemaname = current_schema() \
             AND tablename <> 'seaql_migrations' ORDER BY 1",
        ),
        // Triggers count as indexes here: the search index's triggers must go too.
        _ => (
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
             AND name <> 'seaql_migrations' ORDER BY 1",
            "SELECT name FROM sqlite_master WHERE type IN ('index', 'trigger') \
             AND name NOT LIKE 'sqlite_%' AND tbl_name <> 'seaql_migrations' ORDER BY 1",
        ),
    };
    let names = |sql: &'static str| async move {
        db.query_all_raw(Statement::from_string(db.get_database_backend(), sql))
            .await
            .expect("catalog query")
            .iter()
            .map(|row| row.try_get::<String>("", "name").expect("name"))
            .collect::<Vec<_>>()
    };
    (names(tables).await, names(indexes).await)
}

#[tokio::test]
async fn down_all_the_way_leaves_no_table_or_index_and_up_creates_exactly_ours() {
    let database = TestDatabase::create().await;
    let db = database.connect().await;
    Migrator::up(&db, None).await.expect("up");
    let (tables, indexes) = schema_objects(&db).await;
    let mut expected: Vec<String> = TABLES.iter().map(|t| t.to_string()).collect();
    expected.sort();
    // On SQLite the search index is an FTS5 table with shadow tables of its own.
    let ours: Vec<String> = tables
        .iter()
        .filter(|t| !t.starts_with("ticket_search"))
        .cloned()
        .collect();
    assert_eq!(ours, expected, "migration::TABLES is out of date");
    assert!(
        indexes.iter().any(|i| i == "ux_users_email_lower"),
        "{indexes:?}"
    );

    Migrator::down(&db, None).await.expect("down");
    let (tables, indexes) = schema_objects(&db).await;
    assert!(tables.is_empty(), "left behind: {tables:?}");
    assert!(indexes.is_empty(), "left behind: {indexes:?}");
}

#[tokio::test]
async fn migrations_go_up_from_empty_down_to_nothing_and_up_again() {
    let database = TestDatabase::create().await;
    let db = database.connect().await;
    assert!(
        present_tables(&db).await.is_empty(),
        "a new database has none of our tables"
    );

    Migrator::up(&db, None).await.expect("up from empty");
    assert_eq!(present_tables(&db).await, TABLES, "up creates every table");

    Migrator::down(&db, None).await.expect("down all the way");
    assert!(
        present_tables(&db).await.is_empty(),
        "down leaves tables behind: {:?}",
        present_tables(&db).await
    );

    Migrator::up(&db, None).await.expect("up again");
    assert_eq!(present_tables(&db).await, TABLES);
    assert!(
        Migrator::get_pending_migrations(&db)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        Migrator::get_applied_migrations(&db).await.unwrap().len(),
        Migrator::migrations().len()
    );
}

#[tokio::test]
async fn each_migration_steps_down_and_back_up_on_its_own() {
    let database = TestDatabase::create().await;
    let db = database.connect().await;
    Migrator::up(&db, None).await.expect("up");
    let total = Migrator::migrations().len();
    for remaining in (0..total).rev() {
        Migrator::down(&db, Some(1)).await.expect("one step down");
        assert_eq!(
            Migrator::get_applied_migrations(&db).await.unwrap().len(),
            remaining
        );
    }
    assert!(present_tables(&db).await.is_empty());
    for applied in 1..=total {
        Migrator::up(&db, Some(1)).await.expect("one step up");
        assert_eq!(
            Migrator::get_applied_migrations(&db).await.unwrap().len(),
            applied
        );
    }
    assert_eq!(present_tables(&db).await, TABLES);
}

#[tokio::test]
async fn migrate_status_shows_pending_then_all_applied_after_up() {
    let database = TestDatabase::create().await;
    let names: Vec<String> = Migrator::migrations()
        .iter()
        .map(|m| m.name().to_string())
        .collect();

    let mut status = helpdesk(&database);
    status.args(["migrate", "status"]);
    let before = run(status, None).await;
    assert_eq!(before.code, Some(0), "{}", before.stderr);
    for name in &names {
        assert!(
            before.stdout.contains(&format!("pending  {name}")),
            "{}",
            before.stdout
        );
    }

    let mut up = helpdesk(&database);
    up.args(["migrate", "up"]);
    let up = run(up, None).await;
    assert_eq!(up.code, Some(0), "{}", up.stderr);
    assert!(
        up.stdout
            .contains(&format!("{} migration(s) applied", names.len())),
        "{}",
        up.stdout
    );

    let mut status = helpdesk(&database);
    status.args(["migrate", "status"]);
    let after = run(status, None).await;
    assert_eq!(after.code, Some(0), "{}", after.stderr);
    for name in &names {
        assert!(
            after.stdout.contains(&format!("applied  {name}")),
            "{}",
            after.stdout
        );
    }
    assert!(
        after
            .stdout
            .contains(&format!("{} applied, 0 pending", names.len())),
        "{}",
        after.stdout
    );
}

#[tokio::test]
async fn migrate_down_asks_first_and_a_no_changes_nothing() {
    let database = TestDatabase::create().await;
    let db = database.connect().await;
    Migrator::up(&db, None).await.expect("up");

    let mut down = helpdesk(&database);
    down.args(["migrate", "down", "--all"]);
    let refused = run(down, Some("n\n")).await;
    assert_eq!(refused.code, Some(1), "{}", refused.stdout);
    assert!(refused.stderr.contains("aborted"), "{}", refused.stderr);
    assert_eq!(present_tables(&db).await, TABLES);

    let mut down = helpdesk(&database);
    down.args(["migrate", "down", "--all", "--yes"]);
    let done = run(down, None).await;
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    assert!(present_tables(&db).await.is_empty());

    let mut fresh = helpdesk(&database);
    fresh.args(["migrate", "fresh", "--yes"]);
    let fresh = run(fresh, None).await;
    assert_eq!(fresh.code, Some(0), "{}", fresh.stderr);
    assert_eq!(present_tables(&db).await, TABLES);
}
