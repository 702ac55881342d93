//! Export and import with the real `helpdesk` binary: a round trip into an empty database,
//! anonymised exports that keep no original value and one pseudonym per person, and imports
//! that validate before writing and write a batch whole or not at all.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::{Value, json};

use crate::backups::with_storage;
use crate::helpers::*;

async fn cli(database: &TestDatabase, args: &[&str]) -> Output {
    let mut command = with_storage(database);
    command.args(args);
    run(command, None).await
}

/// A helpdesk with conversations, history, internal notes and audit entries.
async fn busy(app: &TestApp) -> World {
    let world = World::build(app.db()).await;
    let client = app.login(&email_of("client_a"), PASSWORD).await;
    let agent = app.login(&email_of("agent_a"), PASSWORD).await;
    let ticket = gid("Ticket", world.ticket_a);
    app.comment_as(
        &client,
        &ticket,
        "My printer prints only ghosts since Tuesday.",
        false,
    )
    .await;
    app.comment_as(
        &agent,
        &ticket,
        "Internal: the customer's toner is from 2009.",
        true,
    )
    .await;
    let moved = app
        .graphql_as(
            &agent,
            "mutation($input: TicketTransitionInput!) { ticketTransition(input: $input) { userErrors { code } } }",
            json!({ "input": { "id": ticket, "to": "RESOLVED", "comment": "Replaced the toner for you." } }),
        )
        .await;
    assert_eq!(
        moved["data"]["ticketTransition"]["userErrors"],
        json!([]),
        "{moved}"
    );
    world
}

/// The records of an export, without its header.
fn records(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(header["header"]["format"], 1, "{header}");
    lines.map(str::to_string).collect()
}

#[tokio::test]
async fn an_export_imports_into_an_empty_database_record_for_record() {
    let app = TestApp::spawn().await;
    busy(&app).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("export.jsonl");
    let exported = cli(
        &app.database,
        &["export", "--output", &file.to_string_lossy()],
    )
    .await;
    assert_eq!(exported.code, Some(0), "{}", exported.stderr);
    let source = records(&file);
    let kinds: HashSet<String> = source
        .iter()
        .map(|r| {
            serde_json::from_str::<Value>(r).unwrap()["entity"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    for kind in [
        "organizations",
        "users",
        "tickets",
        "comments",
        "ticket_history",
        "audit_log",
    ] {
        assert!(kinds.contains(kind), "no {kind} in {kinds:?}");
    }

    let target = TestDatabase::create().await;
    let dry = cli(&target, &["import", &file.to_string_lossy(), "--dry-run"]).await;
    assert_eq!(dry.code, Some(0), "{}", dry.stderr);
    assert!(dry.stdout.contains("nothing was written"), "{}", dry.stdout);
    let imported = cli(
        &target,
        &["import", &file.to_string_lossy(), "--batch-size", "7"],
    )
    .await;
    assert_eq!(
        imported.code,
        Some(0),
        "{}{}",
        imported.stdout,
        imported.stderr
    );
    let again = dir.path().join("again.jsonl");
    let reexported = cli(&target, &["export", "--output", &again.to_string_lossy()]).await;
    assert_eq!(reexported.code, Some(0), "{}", reexported.stderr);
    assert_eq!(records(&again), source);

    // People keep their passwords, and the statistics were rebuilt.
    let db = target.connect().await;
    let client = service::user::find_by_email(&db, &email_of("client_a"))
        .await
        .unwrap()
        .expect("client_a imported");
    assert!(
        service::password::verify(PASSWORD, &client.password_hash)
            .await
            .unwrap()
    );
    assert!(
        entity::ticket_count::Entity::find()
            .count(&db)
            .await
            .unwrap()
            > 0,
        "statistics rebuilt"
    );
}

#[tokio::test]
async fn an_anonymised_export_keeps_no_original_value_and_one_pseudonym_per_person() {
    let app = TestApp::spawn().await;
    busy(&app).await;
    let db = app.db();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("staging.jsonl");
    let exported = cli(
        &app.database,
        &["export", "--output", &file.to_string_lossy(), "--anonymize"],
    )
    .await;
    assert_eq!(exported.code, Some(0), "{}", exported.stderr);
    let text = std::fs::read_to_string(&file).unwrap();

    // Nothing of the source: emails, names, password hashes, titles, descriptions, bodies.
    let users = entity::user::Entity::find().all(db).await.unwrap();
    let organizations = entity::organization::Entity::find().all(db).await.unwrap();
    let tickets = entity::ticket::Entity::find().all(db).await.unwrap();
    let comments = entity::comment::Entity::find().all(db).await.unwrap();
    let mut long_values: Vec<String> = Vec::new();
    let mut exact_values: HashSet<String> = HashSet::new();
    for u in &users {
        long_values.push(u.email.clone());
        long_values.push(u.password_hash.clone());
        exact_values.insert(u.name.clone());
    }
    for o in &organizations {
        exact_values.insert(o.name.clone());
    }
    for t in &tickets {
        long_values.push(t.title.clone());
        long_values.push(t.description.clone());
    }
    for c in &comments {
        long_values.push(c.body.clone());
    }
    for value in &long_values {
        assert!(!text.contains(value.as_str()), "the export holds {value:?}");
    }
    let mut pseudonyms: HashMap<String, (String, String)> = HashMap::new();
    let mut comments_per_ticket: HashMap<String, usize> = HashMap::new();
    for line in text.lines().skip(1) {
        let record: Value = serde_json::from_str(line).unwrap();
        if let Some(name) = record["data"]["name"].as_str() {
            assert!(!exact_values.contains(name), "the export holds {name:?}");
        }
        let data = &record["data"];
        match record["entity"].as_str().unwrap() {
            "users" => {
                let id = data["id"].as_str().unwrap().to_string();
                let pair = (
                    data["name"].as_str().unwrap().to_string(),
                    data["email"].as_str().unwrap().to_string(),
                );
                assert!(pair.1.ends_with("@example.invalid"), "{pair:?}");
                assert!(pseudonyms.insert(id, pair).is_none());
            }
            "comments" => {
                *comments_per_ticket
                    .entry(data["ticket_id"].as_str().unwrap().to_string())
                    .or_default() += 1;
            }
            _ => {}
        }
    }
    // One pseudonym per person, each person their own: threads and figures keep their shape.
    assert_eq!(pseudonyms.len(), users.len());
    let emails: HashSet<&String> = pseudonyms.values().map(|(_, e)| e).collect();
    assert_eq!(emails.len(), users.len());
    let mut source_threads: HashMap<String, usize> = HashMap::new();
    for c in &comments {
        *source_threads.entry(c.ticket_id.to_string()).or_default() += 1;
    }
    assert_eq!(comments_per_ticket, source_threads);

    // It imports into a staging database, where the statistics match the source's.
    let staging = TestDatabase::create().await;
    let imported = cli(&staging, &["import", &file.to_string_lossy()]).await;
    assert_eq!(
        imported.code,
        Some(0),
        "{}{}",
        imported.stdout,
        imported.stderr
    );
    let rebuilt = cli(&app.database, &["stats", "rebuild"]).await;
    assert_eq!(rebuilt.code, Some(0), "{}", rebuilt.stderr);
    assert_eq!(figures(&staging).await, figures(&app.database).await);
    // Nobody signs in to staging with a production password.
    let staged = staging.connect().await;
    for user in entity::user::Entity::find().all(&staged).await.unwrap() {
        assert!(
            !service::password::verify(PASSWORD, &user.password_hash)
                .await
                .unwrap()
        );
    }
}

#[tokio::test]
async fn an_import_names_each_bad_record_by_line_and_writes_nothing_of_its_batch() {
    let app = TestApp::spawn().await;
    busy(&app).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("export.jsonl");
    let exported = cli(
        &app.database,
        &[
            "export",
            "--output",
            &file.to_string_lossy(),
            "--entities",
            "organizations,users,organization_members,tickets",
        ],
    )
    .await;
    assert_eq!(exported.code, Some(0), "{}", exported.stderr);
    let text = std::fs::read_to_string(&file).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();

    // Invalid records: found before anything is written, each named by its line.
    let mut bad = lines.clone();
    let user_line = change_first(&mut bad, "users", "email", json!("not an address"));
    let ticket_line = change_first(&mut bad, "tickets", "status", json!("sleeping"));
    let org_line = change_first(&mut bad, "organizations", "id", json!(uuid::Uuid::nil()));
    bad.insert(2, "{not json".into());
    let bad_file = dir.path().join("bad.jsonl");
    std::fs::write(&bad_file, bad.join("\n")).unwrap();
    let target = TestDatabase::create().await;
    let refused = cli(&target, &["import", &bad_file.to_string_lossy()]).await;
    assert_eq!(refused.code, Some(1), "{}", refused.stdout);
    for expected in [
        "line 3: not a record".to_string(),
        format!("line {}: users: email:", user_line + 2),
        format!("line {}: tickets: ", ticket_line + 2),
        // Before the line inserted at 3: one line on in the file.
        format!(
            "line {}: organizations: id: the nil UUID is reserved",
            org_line + 1
        ),
        "4 of ".to_string(),
        "nothing was written".to_string(),
    ] {
        assert!(
            refused.stderr.contains(&expected),
            "{expected}: {}",
            refused.stderr
        );
    }
    let db = target.connect().await;
    let tables = sea_orm::ConnectionTrait::query_one_raw(
        &db,
        sea_orm::Statement::from_string(
            sea_orm::ConnectionTrait::get_database_backend(&db),
            if target.is_postgres() {
                "SELECT COUNT(*) FROM pg_tables WHERE tablename = 'organizations'"
            } else {
                "SELECT COUNT(*) FROM sqlite_master WHERE name = 'organizations'"
            },
        ),
    )
    .await
    .unwrap()
    .unwrap()
    .try_get_by_index::<i64>(0)
    .unwrap();
    assert_eq!(tables, 0, "a refused import does not even migrate");

    // A record valid on its own that the database refuses (its requester does not exist):
    // the batches before it are written, its own batch is not.
    let ticket_line = change_first(
        &mut lines,
        "tickets",
        "requester_id",
        json!(uuid::Uuid::new_v4()),
    );
    let orphan_file = dir.path().join("orphan.jsonl");
    std::fs::write(&orphan_file, lines.join("\n")).unwrap();
    let second = TestDatabase::create().await;
    let batch = 3;
    let failed = cli(
        &second,
        &[
            "import",
            &orphan_file.to_string_lossy(),
            "--batch-size",
            &batch.to_string(),
        ],
    )
    .await;
    assert_eq!(failed.code, Some(1), "{}", failed.stdout);
    let line = ticket_line + 1;
    assert!(
        failed.stderr.contains(&format!("line {line}: tickets:")),
        "{}",
        failed.stderr
    );
    // Records are lines 2.. of the file; the failing one's batch starts at the batch boundary.
    let records_before_batch = ((line - 2) / batch) * batch;
    let db = second.connect().await;
    let written = entity::organization::Entity::find()
        .count(&db)
        .await
        .unwrap()
        + entity::user::Entity::find().count(&db).await.unwrap()
        + entity::organization_member::Entity::find()
            .count(&db)
            .await
            .unwrap()
        + entity::ticket::Entity::find().count(&db).await.unwrap();
    assert_eq!(written as usize, records_before_batch);
}

/// `helpdesk stats show --json` of a database.
async fn figures(database: &TestDatabase) -> Value {
    let shown = cli(database, &["stats", "show", "--json"]).await;
    assert_eq!(shown.code, Some(0), "{}", shown.stderr);
    serde_json::from_str(&shown.stdout).unwrap()
}

/// Sets `field` of the first record of `entity` in `lines` to `value`; returns its index.
fn change_first(lines: &mut [String], entity: &str, field: &str, value: Value) -> usize {
    let index = lines
        .iter()
        .position(|l| l.contains(&format!("\"entity\":\"{entity}\"")))
        .unwrap_or_else(|| panic!("no {entity} record"));
    let mut record: Value = serde_json::from_str(&lines[index]).unwrap();
    record["data"][field] = value;
    lines[index] = record.to_string();
    index
}
