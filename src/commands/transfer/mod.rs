//! `helpdesk export` and `helpdesk import`: records as JSON Lines. The first line is a header
//! (format, schema version, what is in the file); every other line is one row,
//! `{"entity": "tickets", "data": {...}}`, in an order that writes referenced rows first.
//!
//! Exported: the helpdesk's records (organizations, people, tickets and everything said and
//! done on them, SLA policies and calendars, preferences, the audit log). Not exported:
//! credentials other than password hashes (sessions, API tokens, second factors, reset links),
//! webhooks (their secrets are sealed with the data key), attachments (their files belong in a
//! backup), and what is derived (statistics, rebuilt on import; the event log; notices).

pub mod anonymize;

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use api::config::DatabaseSettings;
use chrono::{DateTime, NaiveDate, Utc};
use clap::Args;
use futures_util::StreamExt;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveModelBehavior, ActiveModelTrait, ColumnTrait, DatabaseConnection, DatabaseTransaction,
    EntityTrait, IdenStatic, IntoActiveModel, Iterable, ModelTrait, PrimaryKeyToColumn,
    QueryFilter, QueryOrder, TransactionTrait, TryIntoModel,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{CommandResult, connect};
use anonymize::Anonymizer;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// Export files of this format are read.
const FORMAT: u32 = 1;

/// Every exported entity, in the order that writes referenced rows first, with the column
/// `--since` compares (when the row last changed, or was made).
macro_rules! for_each_entity {
    ($apply:ident) => {
        $apply! {
            "organizations" => entity::organization, UpdatedAt;
            "users" => entity::user, UpdatedAt;
            "organization_members" => entity::organization_member, CreatedAt;
            "business_calendars" => entity::business_calendar, UpdatedAt;
            "sla_policies" => entity::sla_policy, UpdatedAt;
            "tickets" => entity::ticket, UpdatedAt;
            "comments" => entity::comment, UpdatedAt;
            "ticket_history" => entity::ticket_history, CreatedAt;
            "escalations" => entity::escalation, CreatedAt;
            "notification_preferences" => entity::notification_preference, UpdatedAt;
            "audit_log" => entity::audit_log, CreatedAt;
        }
    };
}

macro_rules! names {
    ($($name:literal => $module:path, $since:ident;)*) => {
        &[$($name),*]
    };
}

/// The entity names, in export order.
const ENTITIES: &[&str] = for_each_entity!(names);

#[derive(Args)]
pub struct ExportArgs {
    #[command(flatten)]
    database: DatabaseSettings,
    /// The file to write (JSON Lines).
    #[arg(long, short)]
    output: PathBuf,
    /// Only these entities (comma-separated): organizations, users, organization_members,
    /// business_calendars, sla_policies, tickets, comments, ticket_history, escalations,
    /// notification_preferences, audit_log. Default: all.
    #[arg(long, value_delimiter = ',')]
    entities: Vec<String>,
    /// Only rows made or changed on or after this day (YYYY-MM-DD, UTC).
    #[arg(long)]
    since: Option<NaiveDate>,
    /// Replace names, emails, phone numbers, addresses and free text with pseudonyms (the same
    /// person gets the same one everywhere), and passwords with unusable ones.
    #[arg(long)]
    anonymize: bool,
}

#[derive(Args)]
pub struct ImportArgs {
    #[command(flatten)]
    database: DatabaseSettings,
    /// The export file to read.
    file: PathBuf,
    /// Validate every record and report, and write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Records written per transaction: a batch is written whole or not at all.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    batch_size: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct Header {
    format: u32,
    helpdesk_version: String,
    schema_version: Option<String>,
    exported_at: DateTime<Utc>,
    entities: Vec<String>,
    since: Option<NaiveDate>,
    anonymized: bool,
}

#[derive(Deserialize)]
struct Record {
    entity: String,
    data: Value,
}

/// A file being written: removed unless it was renamed into place.
struct Partial(PathBuf);

impl Drop for Partial {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

pub async fn export(args: ExportArgs) -> CommandResult {
    let chosen: Vec<&str> = if args.entities.is_empty() {
        ENTITIES.to_vec()
    } else {
        for name in &args.entities {
            if !ENTITIES.contains(&name.as_str()) {
                return Err(format!(
                    "--entities: unknown entity `{name}` (known: {})",
                    ENTITIES.join(", ")
                )
                .into());
            }
        }
        ENTITIES
            .iter()
            .copied()
            .filter(|e| args.entities.iter().any(|n| n == e))
            .collect()
    };
    let db = connect(&args.database).await?;
    let anonymizer = if args.anonymize {
        Some(Anonymizer::new().await?)
    } else {
        None
    };
    let since = args
        .since
        .map(|day| day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc());
    let partial = Partial(PathBuf::from(format!("{}.partial", args.output.display())));
    let mut out = BufWriter::new(super::backup::archive::private_file(&partial.0)?);
    // Every entity read at one moment: a comment never names a ticket the file lacks.
    let txn = match service::db::Backend::of(&db) {
        service::db::Backend::Postgres => {
            db.begin_with_config(
                Some(sea_orm::IsolationLevel::RepeatableRead),
                Some(sea_orm::AccessMode::ReadOnly),
            )
            .await?
        }
        // A read transaction on SQLite (write-ahead log) reads one snapshot.
        service::db::Backend::Sqlite => db.begin().await?,
    };
    let header = Header {
        format: FORMAT,
        helpdesk_version: env!("CARGO_PKG_VERSION").into(),
        schema_version: service::db::schema_version(&txn).await?,
        exported_at: Utc::now(),
        entities: chosen.iter().map(|e| e.to_string()).collect(),
        since: args.since,
        anonymized: args.anonymize,
    };
    serde_json::to_writer(&mut out, &json!({ "header": header }))?;
    out.write_all(b"\n")?;
    let mut counts = BTreeMap::new();
    for name in &chosen {
        let n = export_named(&txn, name, since, anonymizer.as_ref(), &mut out).await?;
        counts.insert(*name, n);
    }
    txn.rollback().await?;
    out.flush()?;
    out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    std::fs::rename(&partial.0, &args.output)?;
    for name in &chosen {
        out!("{:>8} {name}", counts[name]);
    }
    out!(
        "exported {} record(s) to {}{}",
        counts.values().sum::<u64>(),
        args.output.display(),
        if args.anonymize { " (anonymised)" } else { "" }
    );
    Ok(ExitCode::SUCCESS)
}

async fn export_named(
    db: &DatabaseTransaction,
    name: &str,
    since: Option<DateTime<Utc>>,
    anonymizer: Option<&Anonymizer>,
    out: &mut impl Write,
) -> Result<u64, Error> {
    macro_rules! dispatch {
        ($($entity:literal => $module:path, $since:ident;)*) => {
            match name {
                $($entity => {
                    use $module as m;
                    export_entity::<m::Entity>(
                        db, name, since.map(|at| (m::Column::$since, at)), anonymizer, out,
                    ).await
                })*
                other => Err(format!("unknown entity {other}").into()),
            }
        };
    }
    for_each_entity!(dispatch)
}

async fn export_entity<E>(
    db: &DatabaseTransaction,
    name: &str,
    since: Option<(E::Column, DateTime<Utc>)>,
    anonymizer: Option<&Anonymizer>,
    out: &mut impl Write,
) -> Result<u64, Error>
where
    E: EntityTrait,
    E::Model: Serialize + Sync,
{
    let mut query = E::find();
    for key in E::PrimaryKey::iter() {
        query = query.order_by_asc(key.into_column());
    }
    if let Some((column, at)) = since {
        query = query.filter(column.gte(at));
    }
    let mut stream = query.stream(db).await?;
    let mut written = 0;
    while let Some(model) = stream.next().await {
        let Value::Object(mut data) = serde_json::to_value(model?)? else {
            return Err(format!("a {name} row is not an object").into());
        };
        if let Some(anonymizer) = anonymizer {
            anonymizer.record(name, &mut data);
        }
        serde_json::to_writer(&mut *out, &json!({ "entity": name, "data": data }))?;
        out.write_all(b"\n")?;
        written += 1;
    }
    Ok(written)
}

/// A record's primary key, as text, after checking that it is a valid row of its entity.
fn check_named(name: &str, data: &Value) -> Result<String, String> {
    macro_rules! dispatch {
        ($($entity:literal => $module:path, $since:ident;)*) => {
            match name {
                $($entity => {
                    use $module as m;
                    check_entity::<m::Entity>(data)
                })*
                other => Err(format!("unknown entity `{other}`")),
            }
        };
    }
    let key = for_each_entity!(dispatch)?;
    check_fields(name, data)?;
    Ok(key)
}

fn check_entity<E>(data: &Value) -> Result<String, String>
where
    E: EntityTrait,
    E::Model: for<'de> Deserialize<'de>,
{
    let model: E::Model = serde_json::from_value(data.clone()).map_err(|e| e.to_string())?;
    // The nil id stands for the command line in the audit log: no row may have it.
    if let Some((field, _)) = data.as_object().and_then(|fields| {
        fields
            .iter()
            .find(|(_, v)| v.as_str() == Some("00000000-0000-0000-0000-000000000000"))
    }) {
        return Err(format!("{field}: the nil UUID is reserved"));
    }
    Ok(E::PrimaryKey::iter()
        .map(|key| format!("{:?}", model.get(key.into_column())))
        .collect::<Vec<_>>()
        .join("|"))
}

/// The rules the service applies to what people type, for the fields that have them.
fn check_fields(name: &str, data: &Value) -> Result<(), String> {
    let text = |field: &str| data.get(field).and_then(Value::as_str).unwrap_or_default();
    let not_blank = |field: &str| {
        if text(field).trim().is_empty() {
            Err(format!("{field}: must not be empty"))
        } else {
            Ok(())
        }
    };
    match name {
        "users" => {
            let email = text("email");
            match service::user::normalize_email(email) {
                Ok(normal) if normal == email => {}
                Ok(_) => return Err("email: must be trimmed and in lower case".into()),
                Err(err) => return Err(err.to_string()),
            }
            service::user::validate_name(text("name")).map_err(|e| e.to_string())?;
        }
        "organizations" => not_blank("name")?,
        "tickets" => not_blank("title")?,
        "comments" => not_blank("body")?,
        _ => {}
    }
    Ok(())
}

async fn write_named(
    txn: &sea_orm::DatabaseTransaction,
    name: &str,
    data: Value,
) -> Result<(), String> {
    macro_rules! dispatch {
        ($($entity:literal => $module:path, $since:ident;)*) => {
            match name {
                $($entity => {
                    use $module as m;
                    write_entity::<m::Entity, m::ActiveModel>(txn, data).await
                })*
                other => Err(format!("unknown entity `{other}`")),
            }
        };
    }
    for_each_entity!(dispatch)
}

/// Inserts the row, or updates every column of the row with its primary key.
async fn write_entity<E, A>(txn: &sea_orm::DatabaseTransaction, data: Value) -> Result<(), String>
where
    E: EntityTrait<ActiveModel = A>,
    A: ActiveModelTrait<Entity = E> + ActiveModelBehavior + TryIntoModel<E::Model> + Send,
    E::Model: IntoActiveModel<A> + for<'de> Deserialize<'de> + Serialize,
{
    let row = A::from_json(data).map_err(|e| e.to_string())?;
    let keys: Vec<E::Column> = E::PrimaryKey::iter().map(|k| k.into_column()).collect();
    let others: Vec<E::Column> = E::Column::iter()
        .filter(|c| !keys.iter().any(|k| k.as_str() == c.as_str()))
        .collect();
    let mut conflict = OnConflict::columns(keys);
    if others.is_empty() {
        conflict.do_nothing();
    } else {
        conflict.update_columns(others);
    }
    E::insert(row)
        .on_conflict(conflict)
        .exec_without_returning(txn)
        .await
        .map_err(|e| e.to_string())?;
    Ok(())
}

fn open_lines(file: &PathBuf) -> Result<std::io::Lines<BufReader<File>>, Error> {
    Ok(BufReader::new(File::open(file).map_err(|e| format!("{}: {e}", file.display()))?).lines())
}

fn read_header(line: Option<std::io::Result<String>>) -> Result<Header, Error> {
    let line = line.ok_or("line 1: the file is empty")??;
    #[derive(Deserialize)]
    struct First {
        header: Header,
    }
    let first: First = serde_json::from_str(&line)
        .map_err(|e| format!("line 1: not a helpdesk export header ({e})"))?;
    if first.header.format > FORMAT {
        return Err(format!(
            "line 1: an export of format {}, newer than this helpdesk reads ({FORMAT})",
            first.header.format
        )
        .into());
    }
    Ok(first.header)
}

pub async fn import(args: ImportArgs) -> CommandResult {
    // Validation first: every record, before anything is written.
    let mut lines = open_lines(&args.file)?;
    let header = read_header(lines.next())?;
    let known: Vec<String> = {
        use migration::MigratorTrait;
        migration::Migrator::migrations()
            .iter()
            .map(|m| m.name().to_string())
            .collect()
    };
    if let Some(version) = &header.schema_version
        && !known.contains(version)
    {
        return Err(format!(
            "the export was made by a newer schema ({version}) than this helpdesk knows; \
             import it with helpdesk {} or newer",
            header.helpdesk_version
        )
        .into());
    }
    let mut problems = Vec::new();
    let mut keys: HashSet<(String, String)> = HashSet::new();
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    let mut total = 0u64;
    for (index, line) in lines.enumerate() {
        let number = index + 2;
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        total += 1;
        let record: Record = match serde_json::from_str(&line) {
            Ok(record) => record,
            Err(err) => {
                problems.push(format!("line {number}: not a record ({err})"));
                continue;
            }
        };
        match check_named(&record.entity, &record.data) {
            Ok(key) => {
                if !keys.insert((record.entity.clone(), key)) {
                    problems.push(format!(
                        "line {number}: {}: a second record with the same key",
                        record.entity
                    ));
                }
                *counts.entry(record.entity).or_default() += 1;
            }
            Err(err) => problems.push(format!("line {number}: {}: {err}", record.entity)),
        }
    }
    drop(keys);
    if !problems.is_empty() {
        for problem in &problems {
            eprintln!("{problem}");
        }
        eprintln!(
            "error: {} of {total} record(s) are invalid; nothing was written",
            problems.len()
        );
        return Ok(ExitCode::FAILURE);
    }
    for (name, count) in &counts {
        out!("{count:>8} {name}");
    }
    if args.dry_run {
        out!("{total} record(s) are valid; nothing was written (dry run)");
        return Ok(ExitCode::SUCCESS);
    }

    let db = connect(&args.database).await?;
    api::startup::apply_migrations(&db).await?;
    let progress = super::backup::bar(total, "records")?;
    let mut lines = open_lines(&args.file)?.enumerate().skip(1);
    let mut written = 0u64;
    loop {
        let txn = service::db::begin_write(&db).await?;
        let mut in_batch = 0u64;
        let mut first_line = None;
        let mut failure = None;
        for (index, line) in lines.by_ref() {
            let number = index + 1;
            let line = line?;
            if line.trim().is_empty() {
                continue;
            }
            first_line.get_or_insert(number);
            let record: Record = serde_json::from_str(&line)?;
            if let Err(err) = write_named(&txn, &record.entity, record.data).await {
                failure = Some(format!("line {number}: {}: {err}", record.entity));
                break;
            }
            in_batch += 1;
            if in_batch == args.batch_size {
                break;
            }
        }
        if let Some(failure) = failure {
            txn.rollback().await?;
            progress.abandon();
            if written > 0 {
                // What earlier batches wrote is in: numbers and statistics follow it.
                settle(&db).await?;
            }
            eprintln!("{failure}");
            eprintln!(
                "error: the batch from line {} was rolled back; {written} record(s) in earlier \
                 batches were written",
                first_line.unwrap_or_default()
            );
            return Ok(ExitCode::FAILURE);
        }
        txn.commit().await?;
        written += in_batch;
        progress.set_position(written);
        if in_batch < args.batch_size {
            break;
        }
    }
    progress.finish_and_clear();
    settle(&db).await?;
    out!("imported {written} record(s); statistics rebuilt");
    Ok(ExitCode::SUCCESS)
}

/// After an import: ticket numbers continue after the highest imported one, and the
/// statistics are rebuilt from the tickets and their history.
async fn settle(db: &DatabaseConnection) -> Result<(), Error> {
    use entity::{counter, ticket};
    use sea_orm::QuerySelect;
    let highest: Option<i64> = ticket::Entity::find()
        .select_only()
        .column_as(ticket::Column::Number.max(), "highest")
        .into_tuple::<Option<i64>>()
        .one(db)
        .await?
        .flatten();
    if let Some(highest) = highest {
        let current = counter::Entity::find_by_id(service::ticket::NUMBER_COUNTER)
            .one(db)
            .await?;
        match current {
            Some(row) if row.value >= highest => {}
            Some(_) => {
                counter::Entity::update(counter::ActiveModel {
                    name: sea_orm::Set(service::ticket::NUMBER_COUNTER.into()),
                    value: sea_orm::Set(highest),
                })
                .exec(db)
                .await?;
            }
            None => {
                counter::Entity::insert(counter::ActiveModel {
                    name: sea_orm::Set(service::ticket::NUMBER_COUNTER.into()),
                    value: sea_orm::Set(highest),
                })
                .exec_without_returning(db)
                .await?;
            }
        }
    }
    service::stats::rollup::rebuild(db).await?;
    Ok(())
}
