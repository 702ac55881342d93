//! Backups and restore with the real `helpdesk` binary: a backup taken while tickets are being
//! written restores to one point in time, files included, and a server starts on it; damaged
//! and too-new backups are refused; pruning keeps the 7 daily / 4 weekly / 12 monthly set.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sea_orm::{ConnectionTrait, DatabaseConnection, EntityTrait, Statement};
use serde_json::{Value, json};

use crate::attachments::{comment_with, content, sha_hex, upload};
use crate::helpers::*;

/// The `helpdesk` binary on `database`, with the database's attachment storage.
pub fn with_storage(database: &TestDatabase) -> tokio::process::Command {
    let mut command = helpdesk(database);
    let storage = storage_for(database);
    if let Some(dir) = &storage.storage_dir {
        command.env("HELPDESK_STORAGE_DIR", dir);
    }
    if let Some(url) = &storage.storage_url {
        command.env("HELPDESK_STORAGE_URL", url);
    }
    command
}

async fn cli(database: &TestDatabase, args: &[&str]) -> Output {
    let mut command = with_storage(database);
    command.args(args);
    run(command, None).await
}

/// The one backup file in `dir`.
fn backup_in(dir: &Path) -> PathBuf {
    let files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    files[0].clone()
}

/// Makes a backup of `database` in `dir` and returns its file.
async fn backup_of(database: &TestDatabase, dir: &Path) -> PathBuf {
    let made = cli(
        database,
        &["backup", "create", "--output", &dir.to_string_lossy()],
    )
    .await;
    assert_eq!(made.code, Some(0), "{}{}", made.stdout, made.stderr);
    backup_in(dir)
}

/// Every entry of a backup file: (name, bytes), in order.
fn entries(path: &Path) -> Vec<(String, Vec<u8>)> {
    let file = std::fs::File::open(path).unwrap();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    archive
        .entries()
        .unwrap()
        .map(|entry| {
            let mut entry = entry.unwrap();
            let name = entry.path().unwrap().to_string_lossy().into_owned();
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).unwrap();
            (name, bytes)
        })
        .collect()
}

/// Writes `entries` as a backup file at `path`.
fn write_entries(path: &Path, entries: &[(String, Vec<u8>)]) {
    let file = std::fs::File::create(path).unwrap();
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        file,
        flate2::Compression::fast(),
    ));
    for (name, bytes) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o600);
        header.set_cksum();
        builder
            .append_data(&mut header, name, bytes.as_slice())
            .unwrap();
    }
    builder
        .into_inner()
        .unwrap()
        .finish()
        .unwrap()
        .flush()
        .unwrap();
}

fn manifest(path: &Path) -> Value {
    let (_, bytes) = entries(path)
        .into_iter()
        .find(|(name, _)| name == "manifest.json")
        .expect("a manifest");
    serde_json::from_slice(&bytes).unwrap()
}

async fn count(db: &DatabaseConnection, sql: &str) -> i64 {
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index::<i64>(0).unwrap()
}

/// How many tables the database has (none: empty).
async fn tables(database: &TestDatabase) -> i64 {
    let db = database.connect().await;
    let sql = if database.is_postgres() {
        "SELECT COUNT(*) FROM pg_tables WHERE schemaname = current_schema()"
    } else {
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'"
    };
    count(&db, sql).await
}

#[tokio::test]
async fn a_backup_taken_while_tickets_are_written_restores_to_one_point_in_time() {
    let app = TestApp::spawn().await;
    let world = World::build(app.db()).await;
    let client = app.login(&email_of("client_a"), PASSWORD).await;
    let ticket = gid("Ticket", world.ticket_a);
    let files = [content(11, 300_000), content(12, 1_234)];
    let mut ids = Vec::new();
    for (i, bytes) in files.iter().enumerate() {
        ids.push(
            upload(
                &app,
                &client,
                Some(&ticket),
                &format!("file-{i}.bin"),
                "application/octet-stream",
                bytes.clone(),
                false,
            )
            .await,
        );
    }
    let posted = comment_with(
        &app,
        &client,
        &ticket,
        false,
        &ids.iter().map(String::as_str).collect::<Vec<_>>(),
    )
    .await;
    assert!(posted["errors"].is_null(), "{posted}");

    // A writer creates tickets one after the other until told to stop.
    let (made_tx, mut made) = tokio::sync::watch::channel(0u64);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let db = app.db().clone();
        let stop = stop.clone();
        let (org, requester) = (world.org_a, world.client_a);
        tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                n += 1;
                service::ticket::create(
                    &db,
                    Some(requester),
                    new_ticket(org, requester, &format!("Written during the backup {n}")),
                )
                .await
                .expect("a ticket");
                made_tx.send_replace(n);
            }
        })
    };
    made.wait_for(|n| *n >= 5).await.unwrap();
    let before = *made.borrow();
    let out = tempfile::tempdir().unwrap();
    let created = cli(
        &app.database,
        &[
            "backup",
            "create",
            "--output",
            &out.path().to_string_lossy(),
        ],
    )
    .await;
    assert_eq!(
        created.code,
        Some(0),
        "{}{}",
        created.stdout,
        created.stderr
    );
    let after_backup = *made.borrow();
    made.wait_for(|n| *n >= after_backup + 3).await.unwrap();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    writer.await.unwrap();
    let path = backup_in(out.path());
    let manifest = manifest(&path);
    assert_eq!(manifest["attachments"], 2, "{manifest}");
    // Password hashes and sealed secrets inside: for its owner's eyes only.
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let listed = cli(
        &app.database,
        &["backup", "list", &out.path().to_string_lossy()],
    )
    .await;
    assert!(
        listed.stdout.contains(&format!("{} attachment(s)", 2))
            && listed.stdout.contains("1 backup(s)"),
        "{}",
        listed.stdout
    );

    let verified = cli(
        &app.database,
        &["backup", "verify", &path.to_string_lossy()],
    )
    .await;
    assert_eq!(
        verified.code,
        Some(0),
        "{}{}",
        verified.stdout,
        verified.stderr
    );
    assert!(
        verified.stdout.contains("checksums: ok"),
        "{}",
        verified.stdout
    );
    assert!(
        verified.stdout.contains("trial restore: ok"),
        "{}",
        verified.stdout
    );

    let target = TestDatabase::create().await;
    let restored = cli(&target, &["restore", &path.to_string_lossy()]).await;
    assert_eq!(
        restored.code,
        Some(0),
        "{}{}",
        restored.stdout,
        restored.stderr
    );
    let db = target.connect().await;
    // Every table has the rows the manifest counted at the backup's moment.
    let counted = manifest["tables"].as_object().unwrap();
    assert!(counted.contains_key("tickets") && counted.contains_key("attachments"));
    for (table, digest) in counted {
        assert_eq!(
            count(&db, &format!("SELECT COUNT(*) FROM \"{table}\"")).await,
            digest["rows"].as_i64().unwrap(),
            "{table}"
        );
    }
    // That moment lies inside the backup's run, and it is one moment: the tickets are exactly
    // the first ones made, the number counter stands at the last of them, and each has the
    // event written with it.
    let tickets = entity::ticket::Entity::find().all(&db).await.unwrap();
    let written = tickets.len() as u64 - 2;
    assert!(
        (before..=after_backup).contains(&written),
        "{written} written tickets restored; {before} were made before the backup, {after_backup} by its end"
    );
    let mut numbers: Vec<i64> = tickets.iter().map(|t| t.number).collect();
    numbers.sort();
    let first = numbers[0];
    assert_eq!(
        numbers,
        (first..first + tickets.len() as i64).collect::<Vec<_>>()
    );
    let counter = entity::counter::Entity::find_by_id(service::ticket::NUMBER_COUNTER)
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(counter.value, *numbers.last().unwrap());
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(DISTINCT ticket_id) FROM outbox_events WHERE kind = 'ticket.created'"
        )
        .await,
        tickets.len() as i64
    );
    for t in &tickets {
        let source = entity::ticket::Entity::find_by_id(t.id)
            .one(app.db())
            .await
            .unwrap()
            .expect("the restored ticket exists at the source");
        assert_eq!((&source.title, source.number), (&t.title, t.number));
    }
    // Every file is back, byte for byte as stored (encrypted).
    let (from, to) = (
        storage_for(&app.database).open(app.database.url()).unwrap(),
        storage_for(&target).open(target.url()).unwrap(),
    );
    let rows = entity::attachment::Entity::find().all(&db).await.unwrap();
    assert_eq!(rows.len(), 2);
    for row in &rows {
        assert_eq!(
            from.read_raw(&row.storage_key).await.unwrap(),
            to.read_raw(&row.storage_key).await.unwrap()
        );
    }
    db.close().await.unwrap();

    // A server starts on the restored database and hands out the files.
    let mut serve = with_storage(&target);
    serve.args(["serve", "--addr", "127.0.0.1:0", "--no-demo"]);
    let server = RunningServer::start(serve).await;
    let address = if server.address.starts_with("http") {
        server.address.clone()
    } else {
        format!("http://{}", server.address)
    };
    let token = login_at(&address, "client_a").await;
    let http = reqwest::Client::new();
    let answer: Value = http
        .post(format!("{address}/graphql"))
        .bearer_auth(&token)
        .json(&json!({
            "query": "query($id: ID!) { ticket(id: $id) { attachments { nodes { fileName sha256 downloadUrl } } } }",
            "variables": { "id": ticket },
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut attached = answer["data"]["ticket"]["attachments"]["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("{answer}"))
        .clone();
    attached.sort_by_key(|a| a["fileName"].as_str().unwrap().to_string());
    assert_eq!(attached.len(), 2, "{answer}");
    for (file, bytes) in attached.iter().zip(&files) {
        let url = file["downloadUrl"].as_str().expect("a download URL");
        let got = http
            .get(format!("{address}{url}"))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(sha_hex(&got), sha_hex(bytes));
    }
    assert!(server.terminate().await.success());
}

#[tokio::test]
async fn a_damaged_backup_fails_verification_and_is_not_restored() {
    let database = TestDatabase::create().await;
    let seeded = cli(&database, &["seed", "--demo", "--tickets", "20"]).await;
    assert_eq!(seeded.code, Some(0), "{}", seeded.stderr);
    let out = tempfile::tempdir().unwrap();
    let path = backup_of(&database, out.path()).await;
    let good = cli(&database, &["backup", "verify", &path.to_string_lossy()]).await;
    assert_eq!(good.code, Some(0), "{}{}", good.stdout, good.stderr);

    // One byte of the database part changed.
    let mut parts = entries(&path);
    let (name, bytes) = parts
        .iter_mut()
        .find(|(name, _)| name.starts_with("database."))
        .unwrap();
    let name = name.clone();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x55;
    write_entries(&path, &parts);
    let bad = cli(&database, &["backup", "verify", &path.to_string_lossy()]).await;
    assert_eq!(bad.code, Some(1), "{}{}", bad.stdout, bad.stderr);
    assert!(
        bad.stdout.contains("checksums: error") && bad.stdout.contains(&name),
        "{}",
        bad.stdout
    );
    let target = TestDatabase::create().await;
    let refused = cli(&target, &["restore", &path.to_string_lossy()]).await;
    assert_eq!(refused.code, Some(1), "{}", refused.stdout);
    assert!(
        refused.stderr.contains("does not match its checksum"),
        "{}",
        refused.stderr
    );
    assert_eq!(tables(&target).await, 0);

    // A file cut short is damaged too.
    let whole = std::fs::read(&path).unwrap();
    std::fs::write(&path, &whole[..whole.len() / 2]).unwrap();
    let cut = cli(&database, &["backup", "verify", &path.to_string_lossy()]).await;
    assert_eq!(cut.code, Some(1), "{}{}", cut.stdout, cut.stderr);
    assert!(cut.stdout.contains("is damaged"), "{}", cut.stdout);
}

#[tokio::test]
async fn restore_refuses_a_newer_schema_and_migrates_an_older_one_forward() {
    let database = TestDatabase::create().await;
    for args in [
        &["migrate", "up"][..],
        &["migrate", "down", "--steps", "2", "--yes"][..],
    ] {
        let done = cli(&database, args).await;
        assert_eq!(done.code, Some(0), "{args:?}: {}", done.stderr);
    }
    let out = tempfile::tempdir().unwrap();
    let path = backup_of(&database, out.path()).await;

    // An older schema: restored, then migrated forward.
    let target = TestDatabase::create().await;
    let restored = cli(&target, &["restore", &path.to_string_lossy()]).await;
    assert_eq!(
        restored.code,
        Some(0),
        "{}{}",
        restored.stdout,
        restored.stderr
    );
    assert!(
        restored
            .stdout
            .contains("2 migration(s) applied since the backup"),
        "{}",
        restored.stdout
    );
    let status = cli(&target, &["migrate", "status"]).await;
    assert!(status.stdout.contains(", 0 pending"), "{}", status.stdout);

    // A restore into a database that is not empty asks for --replace; with it, everything
    // there gives way to the backup, tables the backup lacks included.
    let again = cli(&target, &["restore", &path.to_string_lossy()]).await;
    assert_eq!(again.code, Some(1));
    assert!(again.stderr.contains("--replace"), "{}", again.stderr);
    let seeded = cli(&target, &["seed", "--demo", "--tickets", "5"]).await;
    assert_eq!(seeded.code, Some(0), "{}", seeded.stderr);
    let replaced = cli(
        &target,
        &["restore", &path.to_string_lossy(), "--replace", "--yes"],
    )
    .await;
    assert_eq!(
        replaced.code,
        Some(0),
        "{}{}",
        replaced.stdout,
        replaced.stderr
    );
    let db = target.connect().await;
    assert_eq!(count(&db, "SELECT COUNT(*) FROM tickets").await, 0);
    db.close().await.unwrap();
    let status = cli(&target, &["migrate", "status"]).await;
    assert!(status.stdout.contains(", 0 pending"), "{}", status.stdout);

    // A newer schema: refused, nothing written.
    let future = "m20991231_000001_from_a_newer_helpdesk";
    let mut parts = entries(&path);
    let (_, bytes) = parts
        .iter_mut()
        .find(|(name, _)| name == "manifest.json")
        .unwrap();
    let mut manifest: Value = serde_json::from_slice(bytes).unwrap();
    manifest["migrations"]
        .as_array_mut()
        .unwrap()
        .push(json!(future));
    manifest["schema_version"] = json!(future);
    *bytes = serde_json::to_vec(&manifest).unwrap();
    write_entries(&path, &parts);
    let empty = TestDatabase::create().await;
    let refused = cli(&empty, &["restore", &path.to_string_lossy()]).await;
    assert_eq!(refused.code, Some(1), "{}", refused.stdout);
    assert!(
        refused.stderr.contains("newer") && refused.stderr.contains(future),
        "{}",
        refused.stderr
    );
    assert_eq!(tables(&empty).await, 0);
}

#[tokio::test]
async fn prune_keeps_the_newest_of_7_days_4_weeks_and_12_months() {
    let database = TestDatabase::create().await;
    let dir = tempfile::tempdir().unwrap();
    // A backup every night at 02:15 from 2025-11-01 to 2026-12-01, and an earlier one on the
    // last day, which its later one replaces.
    let mut day = chrono::NaiveDate::from_ymd_opt(2025, 11, 1).unwrap();
    let last = chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
    let mut made = 0;
    while day <= last {
        let name = format!(
            "helpdesk-backup-{}T021500.000Z.tar.gz",
            day.format("%Y%m%d")
        );
        std::fs::write(dir.path().join(name), b"").unwrap();
        made += 1;
        day = day.succ_opt().unwrap();
    }
    std::fs::write(
        dir.path()
            .join("helpdesk-backup-20261201T010000.000Z.tar.gz"),
        b"",
    )
    .unwrap();
    std::fs::write(dir.path().join("notes.txt"), b"not a backup").unwrap();
    let listing = || {
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };

    let dry = cli(
        &database,
        &[
            "backup",
            "prune",
            &dir.path().to_string_lossy(),
            "--dry-run",
        ],
    )
    .await;
    assert_eq!(dry.code, Some(0), "{}", dry.stderr);
    assert_eq!(listing().len(), made + 2);
    assert!(dry.stdout.contains("would delete"), "{}", dry.stdout);

    let pruned = cli(
        &database,
        &[
            "backup",
            "prune",
            &dir.path().to_string_lossy(),
            "--keep-daily",
            "7",
            "--keep-weekly",
            "4",
            "--keep-monthly",
            "12",
        ],
    )
    .await;
    assert_eq!(pruned.code, Some(0), "{}", pruned.stderr);
    // Daily: Nov 25 to Dec 1. Weekly (ISO weeks end on Sunday): Dec 1, Nov 29, 22 and 15.
    // Monthly: Dec 1, Nov 30, and the last day of each month back to January.
    let kept: Vec<&str> = vec![
        "20260131", "20260228", "20260331", "20260430", "20260531", "20260630", "20260731",
        "20260831", "20260930", "20261031", "20261115", "20261122", "20261125", "20261126",
        "20261127", "20261128", "20261129", "20261130", "20261201",
    ];
    let mut expected: Vec<String> = kept
        .iter()
        .map(|d| format!("helpdesk-backup-{d}T021500.000Z.tar.gz"))
        .collect();
    expected.push("notes.txt".into());
    expected.sort();
    assert_eq!(listing(), expected);
}
