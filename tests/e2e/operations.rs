//! Administration from the shell with the real `helpdesk` binary: account commands and their
//! audit entries, the statistics rebuild, migrations' dry runs and `fresh`, clean-up,
//! maintenance and the detailed health report.

use entity::audit_log;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, Set, Statement,
};
use serde_json::{Value, json};

use crate::backups::with_storage;
use crate::helpers::*;

async fn cli(database: &TestDatabase, args: &[&str], stdin: Option<&str>) -> Output {
    let mut command = with_storage(database);
    command.args(args);
    run(command, stdin).await
}

/// The newest audit entry of `action`, which must exist.
async fn audited(db: &DatabaseConnection, action: &str) -> audit_log::Model {
    audit_log::Entity::find()
        .filter(audit_log::Column::Action.eq(action))
        .order_by_desc(audit_log::Column::CreatedAt)
        .one(db)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no audit entry {action}"))
}

/// An entry written at the shell: no actor account, the command line as user agent.
fn by_the_command_line(entry: &audit_log::Model) {
    assert_eq!(entry.actor_id, None, "{entry:?}");
    assert_eq!(entry.ip_address, None, "{entry:?}");
    assert!(
        entry
            .user_agent
            .as_deref()
            .is_some_and(|ua| ua.starts_with("helpdesk-cli/")),
        "{entry:?}"
    );
}

const ME: &str = "{ me { id role } }";

#[tokio::test]
async fn account_commands_change_accounts_and_leave_audit_entries_by_the_command_line() {
    let app = TestApp::spawn().await;
    let world = World::build(app.db()).await;
    let db = app.db();

    let listed = cli(&app.database, &["user", "list", "--role", "agent"], None).await;
    assert_eq!(listed.code, Some(0), "{}", listed.stderr);
    assert!(
        listed.stdout.contains(&email_of("agent_a")),
        "{}",
        listed.stdout
    );
    assert!(
        !listed.stdout.contains(&email_of("client_a")),
        "{}",
        listed.stdout
    );
    assert!(listed.stdout.contains("2 account(s)"), "{}", listed.stdout);
    let members = cli(&app.database, &["user", "list", "--org", "Org B"], None).await;
    assert!(
        members.stdout.contains(&email_of("client_b")),
        "{}",
        members.stdout
    );
    assert!(
        !members.stdout.contains(&email_of("client_a")),
        "{}",
        members.stdout
    );

    // A new role ends the account's sessions.
    let agent = app.login(&email_of("agent_a"), PASSWORD).await;
    let set = cli(
        &app.database,
        &["user", "set-role", &email_of("agent_a"), "superagent"],
        None,
    )
    .await;
    assert_eq!(set.code, Some(0), "{}", set.stderr);
    let refused = app.graphql_as(&agent, ME, json!({})).await;
    assert_eq!(error_code(&refused), "UNAUTHENTICATED", "{refused}");
    let again = app.login(&email_of("agent_a"), PASSWORD).await;
    let me = app.graphql_as(&again, ME, json!({})).await;
    assert_eq!(me["data"]["me"]["role"], "SUPERAGENT", "{me}");
    let entry = audited(db, "user.role_changed").await;
    by_the_command_line(&entry);
    assert_eq!(entry.user_id, Some(world.agent_a));
    assert_eq!(entry.new_values, Some(json!({ "role": "superagent" })));

    // Lock and unlock.
    let locked = cli(
        &app.database,
        &[
            "user",
            "lock",
            &email_of("client_a"),
            "--reason",
            "leaked password",
        ],
        None,
    )
    .await;
    assert_eq!(locked.code, Some(0), "{}", locked.stderr);
    let attempt = app
        .graphql(
            "mutation($input: AuthLoginInput!) { authLogin(input: $input) { accessToken } }",
            json!({ "input": { "email": email_of("client_a"), "password": PASSWORD } }),
        )
        .await;
    assert_eq!(error_code(&attempt), "UNAUTHENTICATED", "{attempt}");
    by_the_command_line(&audited(db, "user.locked").await);
    let unlocked = cli(
        &app.database,
        &["user", "unlock", &email_of("client_a")],
        None,
    )
    .await;
    assert_eq!(unlocked.code, Some(0), "{}", unlocked.stderr);
    by_the_command_line(&audited(db, "user.unlocked").await);
    app.login(&email_of("client_a"), PASSWORD).await;

    // Sessions: listed, then ended.
    let client = app.login(&email_of("client_a2"), PASSWORD).await;
    let sessions = cli(
        &app.database,
        &["user", "sessions", &email_of("client_a2")],
        None,
    )
    .await;
    assert!(
        sessions.stdout.contains("1 live session(s)"),
        "{}",
        sessions.stdout
    );
    let revoked = cli(
        &app.database,
        &["user", "revoke-sessions", &email_of("client_a2")],
        None,
    )
    .await;
    assert_eq!(revoked.code, Some(0), "{}", revoked.stderr);
    assert!(
        revoked.stdout.contains("1 session(s)"),
        "{}",
        revoked.stdout
    );
    let ended = app.graphql_as(&client, ME, json!({})).await;
    assert_eq!(error_code(&ended), "UNAUTHENTICATED", "{ended}");
    by_the_command_line(&audited(db, "auth.sessions_revoked").await);

    // A new password from stdin; too short a one changes nothing.
    let short = cli(
        &app.database,
        &["user", "reset-password", &email_of("client_b")],
        Some("short\n"),
    )
    .await;
    assert_eq!(short.code, Some(1));
    app.login(&email_of("client_b"), PASSWORD).await;
    let reset = cli(
        &app.database,
        &["user", "reset-password", &email_of("client_b")],
        Some("a brand new passphrase\n"),
    )
    .await;
    assert_eq!(reset.code, Some(0), "{}", reset.stderr);
    app.login(&email_of("client_b"), "a brand new passphrase")
        .await;
    let old = app
        .graphql(
            "mutation($input: AuthLoginInput!) { authLogin(input: $input) { accessToken } }",
            json!({ "input": { "email": email_of("client_b"), "password": PASSWORD } }),
        )
        .await;
    assert_eq!(error_code(&old), "UNAUTHENTICATED", "{old}");
    by_the_command_line(&audited(db, "user.password_set").await);

    // Two-factor sign-in removed for a lost phone.
    let superagent = app.login(&email_of("superagent"), PASSWORD).await;
    crate::two_factor::enrol(&app, &superagent).await;
    let disabled = cli(
        &app.database,
        &["user", "disable-2fa", &email_of("superagent")],
        None,
    )
    .await;
    assert_eq!(disabled.code, Some(0), "{}", disabled.stderr);
    assert!(
        !service::two_factor::enabled(db, world.superagent)
            .await
            .unwrap()
    );
    app.login(&email_of("superagent"), PASSWORD).await;
    let entry = audited(db, "2fa.reset").await;
    by_the_command_line(&entry);
    assert_eq!(entry.user_id, Some(world.superagent));
    assert!(entry.description.contains("the command line"), "{entry:?}");

    // An unknown account is one line and exit 1.
    let unknown = cli(
        &app.database,
        &["user", "unlock", "nobody@example.com"],
        None,
    )
    .await;
    assert_eq!(unknown.code, Some(1));
    assert!(
        unknown.stderr.contains("nobody@example.com"),
        "{}",
        unknown.stderr
    );
}

#[tokio::test]
async fn reset_password_can_mail_the_owner_a_link() {
    let sink = crate::smtp::SmtpSink::start().await;
    let app = TestApp::spawn().await;
    let world = World::build(app.db()).await;
    let mut command = with_storage(&app.database);
    command
        .env("HELPDESK_SMTP_URL", sink.url())
        .env("HELPDESK_PUBLIC_URL", "https://help.example.com")
        .args([
            "user",
            "reset-password",
            &email_of("client_a"),
            "--send-link",
        ]);
    let sent = run(command, None).await;
    assert_eq!(sent.code, Some(0), "{}{}", sent.stdout, sent.stderr);
    let mail = sink
        .wait_for_mail(|m| m.to.iter().any(|to| to.contains(&email_of("client_a"))))
        .await;
    assert!(
        mail.data
            .contains("https://help.example.com/password-reset?token="),
        "{}",
        mail.data
    );
    let entry = audited(app.db(), "user.password_reset_sent").await;
    by_the_command_line(&entry);
    assert_eq!(entry.user_id, Some(world.client_a));
}

/// Every row of the roll-up tables, as JSON, sorted; counts that went back to zero are left
/// out (the live tracking keeps such rows, a rebuild does not write them).
async fn rollups(db: &DatabaseConnection) -> Vec<String> {
    use entity::{
        ticket_count, ticket_resolution_bucket, ticket_resolution_bucket_monthly,
        ticket_stats_daily,
    };
    let mut rows: Vec<String> = Vec::new();
    for row in ticket_count::Entity::find().all(db).await.unwrap() {
        if row.count != 0 {
            rows.push(format!("count {}", serde_json::to_string(&row).unwrap()));
        }
    }
    for row in ticket_stats_daily::Entity::find().all(db).await.unwrap() {
        rows.push(format!("day {}", serde_json::to_string(&row).unwrap()));
    }
    for row in ticket_resolution_bucket::Entity::find()
        .all(db)
        .await
        .unwrap()
    {
        rows.push(format!("bucket {}", serde_json::to_string(&row).unwrap()));
    }
    for row in ticket_resolution_bucket_monthly::Entity::find()
        .all(db)
        .await
        .unwrap()
    {
        rows.push(format!("month {}", serde_json::to_string(&row).unwrap()));
    }
    rows.sort();
    rows
}

#[tokio::test]
async fn stats_rebuild_equals_the_live_rollups_with_reopens() {
    let app = TestApp::spawn().await;
    let world = World::build(app.db()).await;
    let agent = app.login(&email_of("agent_a"), PASSWORD).await;
    let client = app.login(&email_of("client_a"), PASSWORD).await;
    let step = |query: &'static str, input: Value| {
        let (app, agent) = (&app, agent.clone());
        async move {
            let done = app
                .graphql_as(&agent, query, json!({ "input": input }))
                .await;
            assert!(done["errors"].is_null(), "{done}");
            let payload = done["data"]
                .as_object()
                .unwrap()
                .values()
                .next()
                .unwrap()
                .clone();
            assert_eq!(payload["userErrors"], json!([]), "{done}");
            payload
        }
    };
    const CREATE: &str = "mutation($input: TicketCreateInput!) { ticketCreate(input: $input) { ticket { id } userErrors { code } } }";
    const ASSIGN: &str = "mutation($input: TicketAssignInput!) { ticketAssign(input: $input) { ticket { id } userErrors { code } } }";
    const MOVE: &str = "mutation($input: TicketTransitionInput!) { ticketTransition(input: $input) { ticket { id status } userErrors { code message } } }";
    let mut tickets = Vec::new();
    for (i, priority) in ["HIGH", "MEDIUM", "LOW"].iter().enumerate() {
        let created = app
            .graphql_as(
                &client,
                CREATE,
                json!({ "input": { "title": format!("Problem {i}"), "priority": priority } }),
            )
            .await;
        tickets.push(
            created["data"]["ticketCreate"]["ticket"]["id"]
                .as_str()
                .unwrap_or_else(|| panic!("{created}"))
                .to_string(),
        );
    }
    let agent_id = gid("User", world.agent_a);
    // The first: assigned, answered, resolved, reopened, resolved again, closed.
    step(ASSIGN, json!({ "id": tickets[0], "assigneeId": agent_id })).await;
    app.comment_as(&agent, &tickets[0], "Looking into it.", false)
        .await;
    for to in [
        "IN_PROGRESS",
        "RESOLVED",
        "OPEN",
        "IN_PROGRESS",
        "RESOLVED",
        "CLOSED",
    ] {
        step(MOVE, json!({ "id": tickets[0], "to": to })).await;
    }
    // The second: resolved unassigned, then assigned and reopened.
    step(
        MOVE,
        json!({ "id": tickets[1], "to": "RESOLVED", "comment": "Fixed." }),
    )
    .await;
    step(ASSIGN, json!({ "id": tickets[1], "assigneeId": agent_id })).await;
    step(MOVE, json!({ "id": tickets[1], "to": "OPEN" })).await;
    // The third stays new.
    let live = rollups(app.db()).await;
    let reopened: i64 = live
        .iter()
        .filter_map(|r| r.strip_prefix("day "))
        .map(|r| {
            serde_json::from_str::<Value>(r).unwrap()["reopened"]
                .as_i64()
                .unwrap()
        })
        .sum();
    assert_eq!(reopened, 2, "{live:#?}");

    let rebuilt = cli(&app.database, &["stats", "rebuild"], None).await;
    assert_eq!(rebuilt.code, Some(0), "{}", rebuilt.stderr);
    let again = rollups(app.db()).await;
    let only_live: Vec<&String> = live.iter().filter(|r| !again.contains(r)).collect();
    let only_rebuilt: Vec<&String> = again.iter().filter(|r| !live.contains(r)).collect();
    assert!(
        only_live.is_empty() && only_rebuilt.is_empty(),
        "live only: {only_live:#?}\nrebuilt only: {only_rebuilt:#?}"
    );
    let shown = cli(&app.database, &["stats", "show", "--org", "Org A"], None).await;
    assert_eq!(shown.code, Some(0), "{}", shown.stderr);
    assert!(
        shown.stdout.contains("reopened          2"),
        "{}",
        shown.stdout
    );
}

async fn user_count(database: &TestDatabase) -> u64 {
    use sea_orm::PaginatorTrait;
    entity::user::Entity::find()
        .count(&database.connect().await)
        .await
        .unwrap()
}

#[tokio::test]
async fn migrate_fresh_and_the_dry_runs_on_either_database() {
    let database = TestDatabase::create().await;
    let seeded = cli(&database, &["seed", "--demo", "--tickets", "10"], None).await;
    assert_eq!(seeded.code, Some(0), "{}", seeded.stderr);
    let users = user_count(&database).await;
    assert!(users > 0);

    let dry = cli(&database, &["migrate", "fresh", "--dry-run"], None).await;
    assert_eq!(dry.code, Some(0), "{}", dry.stderr);
    assert!(dry.stdout.contains("would drop   users"), "{}", dry.stdout);
    assert!(dry.stdout.contains("(dry run)"), "{}", dry.stdout);
    assert_eq!(user_count(&database).await, users);

    let down = cli(
        &database,
        &["migrate", "down", "--steps", "2", "--dry-run"],
        None,
    )
    .await;
    assert_eq!(down.code, Some(0), "{}", down.stderr);
    assert_eq!(
        down.stdout.matches("would roll back").count(),
        2,
        "{}",
        down.stdout
    );
    let up = cli(&database, &["migrate", "up", "--dry-run"], None).await;
    assert!(
        up.stdout.contains("0 migration(s) would be applied"),
        "{}",
        up.stdout
    );
    let status = cli(&database, &["migrate", "status"], None).await;
    assert_eq!(status.code, Some(0));
    assert!(status.stdout.contains(", 0 pending"), "{}", status.stdout);

    let fresh = cli(&database, &["migrate", "fresh", "--yes"], None).await;
    assert_eq!(fresh.code, Some(0), "{}{}", fresh.stdout, fresh.stderr);
    assert_eq!(user_count(&database).await, 0);
    let status = cli(&database, &["migrate", "status"], None).await;
    assert!(status.stdout.contains(", 0 pending"), "{}", status.stdout);

    // A migration this binary does not know: a newer helpdesk ran here.
    let db = database.connect().await;
    db.execute_raw(Statement::from_string(
        db.get_database_backend(),
        "INSERT INTO seaql_migrations (version, applied_at) VALUES ('m20991231_000001_from_a_newer_helpdesk', 0)",
    ))
    .await
    .unwrap();
    let newer = cli(&database, &["migrate", "status"], None).await;
    assert_eq!(newer.code, Some(1), "{}", newer.stdout);
    assert!(
        newer
            .stdout
            .contains("unknown  m20991231_000001_from_a_newer_helpdesk"),
        "{}",
        newer.stdout
    );
}

#[tokio::test]
async fn cleanup_dry_run_changes_nothing_and_cleanup_removes_what_the_rules_say() {
    let app = TestApp::spawn().await;
    let world = World::build(app.db()).await;
    let db = app.db();
    // An audit entry two years old and one from today.
    service::audit::record(
        db,
        Some(world.admin),
        "test.old",
        None,
        "old",
        &Default::default(),
    )
    .await
    .unwrap();
    let mut old: audit_log::ActiveModel = audited(db, "test.old").await.into();
    old.created_at = Set(chrono::Utc::now() - chrono::Duration::days(730));
    old.update(db).await.unwrap();
    service::audit::record(
        db,
        Some(world.admin),
        "test.new",
        None,
        "new",
        &Default::default(),
    )
    .await
    .unwrap();
    let entries = || async {
        use sea_orm::PaginatorTrait;
        audit_log::Entity::find().count(db).await.unwrap()
    };
    let before = entries().await;
    // A ticket resolved 60 days ago, due for auto-close.
    entity::ticket::Entity::update_many()
        .col_expr(
            entity::ticket::Column::Status,
            sea_orm::sea_query::Expr::value("resolved"),
        )
        .col_expr(
            entity::ticket::Column::ResolvedAt,
            sea_orm::sea_query::Expr::value(chrono::Utc::now() - chrono::Duration::days(60)),
        )
        .filter(entity::ticket::Column::Id.eq(world.ticket_a))
        .exec(db)
        .await
        .unwrap();
    let status = || async {
        entity::ticket::Entity::find_by_id(world.ticket_a)
            .one(db)
            .await
            .unwrap()
            .unwrap()
            .status
    };

    let dry = cli(&app.database, &["cleanup", "--dry-run"], None).await;
    assert_eq!(dry.code, Some(0), "{}", dry.stderr);
    assert!(
        dry.stdout.contains("would remove      1 audit log entries"),
        "{}",
        dry.stdout
    );
    assert!(
        dry.stdout
            .contains("would have      1 resolved tickets closed"),
        "{}",
        dry.stdout
    );
    assert!(dry.stdout.contains("nothing was changed"), "{}", dry.stdout);
    assert_eq!(entries().await, before);
    assert_eq!(status().await, entity::enums::TicketStatus::Resolved);

    let done = cli(&app.database, &["cleanup"], None).await;
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    assert!(
        done.stdout.contains("removed      1 audit log entries"),
        "{}",
        done.stdout
    );
    assert!(
        done.stdout
            .contains("closed      1 resolved tickets closed"),
        "{}",
        done.stdout
    );
    assert_eq!(status().await, entity::enums::TicketStatus::Closed);
    // The old entry went; the auto-close wrote its own.
    assert!(entries().await < before + 1);
    assert!(
        audit_log::Entity::find()
            .filter(audit_log::Column::Action.eq("test.old"))
            .one(db)
            .await
            .unwrap()
            .is_none()
    );
    audited(db, "test.new").await;
}

#[tokio::test]
async fn maintenance_and_the_detailed_health_report() {
    let database = TestDatabase::create().await;
    let seeded = cli(&database, &["seed", "--demo", "--tickets", "10"], None).await;
    assert_eq!(seeded.code, Some(0), "{}", seeded.stderr);
    let kept = cli(&database, &["maintenance"], None).await;
    assert_eq!(kept.code, Some(0), "{}{}", kept.stdout, kept.stderr);
    if database.is_postgres() {
        assert!(
            kept.stdout.contains("VACUUM (ANALYZE): done"),
            "{}",
            kept.stdout
        );
    } else {
        assert!(
            kept.stdout.contains("integrity check: ok"),
            "{}",
            kept.stdout
        );
    }
    let health = cli(&database, &["health", "--detailed"], None).await;
    assert_eq!(health.code, Some(0), "{}{}", health.stdout, health.stderr);
    for line in [
        "connections: ",
        "database size: ",
        "table tickets ",
        "event log: ",
        "webhook deliveries: 0 pending",
        "email notices: 0 pending",
        "attachments: ok",
    ] {
        assert!(health.stdout.contains(line), "{line}: {}", health.stdout);
    }
}
