use entity::enums::Role;
use entity::{comment, ticket};
use migration::{Migrator, MigratorTrait};
use sea_orm::{EntityTrait, PaginatorTrait};

use crate::helpers::{TestDatabase, helpdesk, organization_with_client, redis_url, run};

/// Bad configuration ends in exactly one line on stderr, never a panic or a backtrace.
fn assert_one_line_error(stderr: &str) {
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "expected one line, got:\n{stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("backtrace"),
        "{stderr}"
    );
}

#[tokio::test]
async fn an_unreachable_database_is_one_line_naming_the_host_but_not_the_password() {
    let database = TestDatabase::create().await;
    for args in [&[][..], &["serve"][..], &["migrate", "status"][..]] {
        let mut command = helpdesk(&database);
        command
            .env("DATABASE_URL", "postgres://u:secret@127.0.0.1:1/x")
            .env("HELPDESK_ADDR", "127.0.0.1:0")
            .args(args);
        let output = run(command, None).await;
        assert_eq!(output.code, Some(1), "{args:?}: {}", output.stderr);
        assert_one_line_error(&output.stderr);
        assert!(output.stderr.contains("127.0.0.1:1"), "{}", output.stderr);
        assert!(!output.stderr.contains("secret"), "{}", output.stderr);
    }
}

#[tokio::test]
async fn a_malformed_database_url_is_one_line_without_the_password() {
    let database = TestDatabase::create().await;
    for url in [
        "postgres://u:secret@[::1/x",
        "mysql://u:secret@db/x",
        "secret",
        "postgres:///nohost",
    ] {
        let mut command = helpdesk(&database);
        command
            .env("DATABASE_URL", url)
            .env("HELPDESK_ADDR", "127.0.0.1:0");
        let output = run(command, None).await;
        assert_eq!(output.code, Some(1), "{url}: {}", output.stderr);
        assert_one_line_error(&output.stderr);
        assert!(
            output.stderr.contains("not a valid database URL"),
            "{}",
            output.stderr
        );
        if url != "secret" {
            assert!(
                !output.stderr.contains("secret"),
                "{url}: {}",
                output.stderr
            );
        }
    }
}

#[tokio::test]
async fn a_bad_flag_or_variable_is_one_line_and_exit_2() {
    let database = TestDatabase::create().await;
    /// Arguments, and environment variables to set.
    type Case = (
        &'static [&'static str],
        &'static [(&'static str, &'static str)],
    );
    let cases: [Case; 7] = [
        (&[], &[("HELPDESK_ADDR", "localhost:8000")]),
        (&[], &[("HELPDESK_DEMO", "maybe")]),
        // Lifetimes so long that adding them to now would overflow, and a limit of nothing.
        (&[], &[("HELPDESK_REFRESH_TOKEN_TTL_DAYS", "100000000")]),
        (&[], &[("HELPDESK_SESSION_MAX_DAYS", "0")]),
        (&[], &[("HELPDESK_LOGIN_RATE_PER_ADDRESS", "0")]),
        (&["serve", "--no-such-flag"], &[]),
        (&["migrate", "sideways"], &[]),
    ];
    for (args, env) in cases {
        let mut command = helpdesk(&database);
        command.args(args);
        for (key, value) in env {
            command.env(key, value);
        }
        let output = run(command, None).await;
        assert_eq!(output.code, Some(2), "{args:?} {env:?}: {}", output.stderr);
        assert_one_line_error(&output.stderr);
    }
}

#[tokio::test]
async fn no_migrate_refuses_to_start_while_migrations_are_pending() {
    let database = TestDatabase::create().await;
    let mut command = helpdesk(&database);
    command
        .args(["serve", "--no-migrate"])
        .env("HELPDESK_ADDR", "127.0.0.1:0");
    let output = run(command, None).await;
    assert_eq!(output.code, Some(1), "{}", output.stderr);
    assert_one_line_error(&output.stderr);
    assert!(output.stderr.contains("pending"), "{}", output.stderr);
    let db = database.connect().await;
    assert_eq!(
        Migrator::get_applied_migrations(&db).await.unwrap().len(),
        0,
        "nothing was migrated"
    );
}

#[tokio::test]
async fn health_reports_each_part_and_its_exit_code_follows() {
    let database = TestDatabase::create().await;
    let db = database.connect().await;
    Migrator::up(&db, None).await.unwrap();

    let mut healthy = helpdesk(&database);
    healthy.arg("health");
    if let Some(url) = redis_url() {
        healthy.env("REDIS_URL", url);
    }
    let output = run(healthy, None).await;
    assert_eq!(output.code, Some(0), "{}{}", output.stdout, output.stderr);
    assert!(output.stdout.contains("database: ok"), "{}", output.stdout);
    assert!(
        output.stdout.contains("migrations: ok"),
        "{}",
        output.stdout
    );
    if redis_url().is_some() {
        assert!(output.stdout.contains("redis: ok"), "{}", output.stdout);
    }

    let mut broken = helpdesk(&database);
    broken.arg("health").env("REDIS_URL", "redis://127.0.0.1:1");
    let output = run(broken, None).await;
    assert_eq!(output.code, Some(1), "{}", output.stdout);
    assert!(output.stdout.contains("database: ok"), "{}", output.stdout);
    assert!(output.stdout.contains("redis: error"), "{}", output.stdout);

    let mut unreachable = helpdesk(&database);
    unreachable
        .arg("health")
        .env("DATABASE_URL", "postgres://u:secret@127.0.0.1:1/x");
    let output = run(unreachable, None).await;
    assert_eq!(output.code, Some(1), "{}", output.stdout);
    assert!(
        output.stdout.contains("database: error"),
        "{}",
        output.stdout
    );
    assert!(!output.stdout.contains("secret"), "{}", output.stdout);
}

#[tokio::test]
async fn user_create_reads_the_password_from_stdin_and_joins_organizations() {
    let database = TestDatabase::create().await;
    let db = database.connect().await;
    Migrator::up(&db, None).await.unwrap();
    organization_with_client(&db, "Acme").await;

    let mut create = helpdesk(&database);
    create.args([
        "user",
        "create",
        "--email",
        "Agent.Smith@Example.com",
        "--name",
        "Agent Smith",
        "--role",
        "agent",
        "--org",
        "acme",
    ]);
    let output = run(create, Some("a very secret passphrase\n")).await;
    assert_eq!(output.code, Some(0), "{}", output.stderr);
    assert!(
        output.stdout.contains("agent.smith@example.com"),
        "{}",
        output.stdout
    );

    let user = service::user::find_by_email(&db, "AGENT.SMITH@example.com")
        .await
        .unwrap()
        .expect("created");
    assert_eq!(user.role, Role::Agent);
    assert!(
        service::password::verify("a very secret passphrase", &user.password_hash)
            .await
            .unwrap()
    );
    let organizations = sea_orm::ModelTrait::find_related(&user, entity::organization::Entity)
        .all(&db)
        .await
        .unwrap();
    assert_eq!(organizations.len(), 1);
    assert_eq!(organizations[0].name, "Acme");

    // An unknown organization refuses the whole command: no account is left behind.
    let mut unknown = helpdesk(&database);
    unknown.args([
        "user",
        "create",
        "--email",
        "new@example.com",
        "--name",
        "New",
        "--role",
        "client",
        "--org",
        "Nowhere Inc",
    ]);
    let output = run(unknown, Some("a very secret passphrase\n")).await;
    assert_eq!(output.code, Some(1));
    assert_eq!(output.stderr.lines().count(), 1, "{}", output.stderr);
    assert!(output.stderr.contains("Nowhere Inc"), "{}", output.stderr);
    assert!(
        service::user::find_by_email(&db, "new@example.com")
            .await
            .unwrap()
            .is_none()
    );

    // There is no way to pass the password on the command line.
    let mut argv = helpdesk(&database);
    argv.args([
        "user",
        "create",
        "--email",
        "x@example.com",
        "--name",
        "X",
        "--role",
        "client",
        "--password",
        "visible-to-ps",
    ]);
    let output = run(argv, None).await;
    assert_eq!(output.code, Some(2), "{}", output.stderr);
}

#[tokio::test]
async fn seed_writes_the_requested_tickets_with_conversations() {
    let database = TestDatabase::create().await;
    let mut seed = helpdesk(&database);
    seed.args(["seed", "--demo", "--tickets", "120"]);
    let output = run(seed, None).await;
    assert_eq!(output.code, Some(0), "{}", output.stderr);
    assert!(
        output.stdout.contains("seeded 120 tickets"),
        "{}",
        output.stdout
    );
    assert!(
        output.stdout.contains("admin@demo.helpdesk.local"),
        "{}",
        output.stdout
    );

    let db = database.connect().await;
    assert_eq!(ticket::Entity::find().count(&db).await.unwrap(), 120);
    assert!(comment::Entity::find().count(&db).await.unwrap() > 0);

    // Seeding again adds tickets with new numbers and reuses the people.
    let mut again = helpdesk(&database);
    again.args(["seed", "--demo", "--tickets", "30"]);
    let output = run(again, None).await;
    assert_eq!(output.code, Some(0), "{}", output.stderr);
    assert_eq!(ticket::Entity::find().count(&db).await.unwrap(), 150);
    assert_eq!(
        entity::user::Entity::find().count(&db).await.unwrap(),
        2 + 4 * 5
    );
}

#[tokio::test]
async fn every_subcommand_has_help() {
    let database = TestDatabase::create().await;
    for args in [
        &["--help"][..],
        &["serve", "--help"][..],
        &["migrate", "--help"][..],
        &["migrate", "down", "--help"][..],
        &["seed", "--help"][..],
        &["user", "create", "--help"][..],
        &["schema", "--help"][..],
        &["health", "--help"][..],
        &["data-key", "rewrap", "--help"][..],
        &["backup", "create", "--help"][..],
        &["backup", "verify", "--help"][..],
        &["backup", "list", "--help"][..],
        &["backup", "prune", "--help"][..],
        &["restore", "--help"][..],
        &["export", "--help"][..],
        &["import", "--help"][..],
        &["user", "list", "--help"][..],
        &["user", "reset-password", "--help"][..],
        &["stats", "rebuild", "--help"][..],
        &["cleanup", "--help"][..],
        &["maintenance", "--help"][..],
    ] {
        let mut command = helpdesk(&database);
        command.args(args);
        let output = run(command, None).await;
        assert_eq!(output.code, Some(0), "{args:?}: {}", output.stderr);
        assert!(
            output.stdout.contains("Usage:"),
            "{args:?}: {}",
            output.stdout
        );
    }
    let mut serve_help = helpdesk(&database);
    serve_help.args(["serve", "--help"]);
    let help = run(serve_help, None).await.stdout;
    for variable in [
        "HELPDESK_ADDR",
        "DATABASE_URL",
        "REDIS_URL",
        "HELPDESK_SLOW_QUERY_MS",
        "HELPDESK_DATA_KEY",
        "HELPDESK_DATA_KEY_PREVIOUS",
    ] {
        assert!(
            help.contains(variable),
            "serve --help does not mention {variable}"
        );
    }
    // The harness sets both secrets; help names them, never shows them.
    for secret in [
        crate::helpers::TEST_DATA_KEY,
        crate::helpers::TEST_JWT_SECRET,
    ] {
        assert!(
            !help.contains(secret),
            "serve --help shows a secret:\n{help}"
        );
    }
}
