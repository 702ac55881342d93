//! The deployment files run this binary: every command they run must work and every variable
//! they set must be one the binary reads.

use std::path::{Path, PathBuf};

use migration::{Migrator, MigratorTrait};

use crate::helpers::{
    RunningServer, TestApp, TestDatabase, error_code, helpdesk, run, settings_for,
};

fn deploy_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("deploy/ exists") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy"),
        &mut files,
    );
    files.sort();
    files
}

/// Words that look like our configuration variables.
fn variables(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
        .filter(|word| {
            word.starts_with("HELPDESK_")
                || word.starts_with("OTEL_")
                || matches!(*word, "DATABASE_URL" | "REDIS_URL" | "RUST_LOG")
        })
        .map(str::to_string)
        .collect()
}

/// The argument lists of `args: [...]` lines and of the image's default command.
fn commands(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim();
            let list = line
                .strip_prefix("args:")
                .or_else(|| line.strip_prefix("CMD"))
                .or_else(|| line.split_once("CMD [\"helpdesk\",").map(|(_, rest)| rest))?;
            let list = list.trim().trim_start_matches('[').trim_end_matches(']');
            let words: Vec<String> = list
                .split(',')
                .map(|w| w.trim().trim_matches('"').to_string())
                .filter(|w| !w.is_empty())
                .collect();
            (!words.is_empty()).then_some(words)
        })
        .collect()
}

/// The OpenTelemetry specification's variables that the SDK and the OTLP exporter read
/// themselves, not through the command line.
const OPENTELEMETRY_VARIABLES: &[&str] = &[
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_SERVICE_NAME",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG",
    "OTEL_TRACES_EXPORTER",
    "OTEL_SDK_DISABLED",
];

#[tokio::test]
async fn deploy_files_set_only_variables_the_binary_reads() {
    let database = TestDatabase::create().await;
    let mut help = helpdesk(&database);
    help.args(["serve", "--help"]);
    let help = run(help, None).await.stdout;
    let example =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(".env.example"))
            .expect(".env.example");
    let mut checked = 0;
    for file in deploy_files() {
        let text = std::fs::read_to_string(&file).expect("readable");
        for variable in variables(&text) {
            assert!(
                help.contains(&format!("[env: {variable}="))
                    || help.contains(&format!("[env: {variable}]"))
                    || OPENTELEMETRY_VARIABLES.contains(&variable.as_str()),
                "{} sets {variable}, which `helpdesk serve` does not read",
                file.display()
            );
            assert!(
                example.contains(&variable),
                ".env.example does not document {variable}"
            );
            checked += 1;
        }
    }
    assert!(checked > 10, "found only {checked} variables in deploy/");
}

#[tokio::test]
async fn the_commands_deploy_files_run_succeed() {
    let database = TestDatabase::create().await;
    let mut found: Vec<Vec<String>> = Vec::new();
    for file in deploy_files() {
        let text = std::fs::read_to_string(&file).expect("readable");
        found.extend(commands(&text));
    }
    assert!(
        found.contains(&vec!["migrate".to_string(), "up".to_string()]),
        "{found:?}"
    );
    assert!(found.contains(&vec!["serve".to_string()]), "{found:?}");
    assert!(found.contains(&vec!["health".to_string()]), "{found:?}");
    assert!(
        found
            .iter()
            .any(|c| c.starts_with(&["backup".into(), "create".into()])),
        "{found:?}"
    );

    // The migrate Job first, as in a release; the backup CronJob's prune after its backup.
    let ordered = {
        let mut commands = found.clone();
        commands.sort_by_key(|c| (c[0] != "migrate", c.get(1).is_some_and(|a| a == "prune")));
        commands.dedup();
        commands
    };
    // The backup volume's mount point, here a directory of the test's own.
    let backups = tempfile::tempdir().expect("temporary directory");
    for args in ordered {
        let mut command = helpdesk(&database);
        if args == ["serve"] {
            // Serving is covered end to end elsewhere; here the arguments must parse.
            command.args(["serve", "--help"]);
        } else {
            command.args(args.iter().map(|a| {
                if a == "/backups" {
                    backups.path().to_string_lossy().into_owned()
                } else {
                    a.clone()
                }
            }));
        }
        let output = run(command, None).await;
        assert_eq!(
            output.code,
            Some(0),
            "{args:?}: {}{}",
            output.stdout,
            output.stderr
        );
    }
    let db = database.connect().await;
    assert!(
        Migrator::get_pending_migrations(&db)
            .await
            .unwrap()
            .is_empty()
    );
    // The CronJob's backup is there, and its prune kept it.
    let made: Vec<_> = std::fs::read_dir(backups.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        made.len() == 1 && made[0].starts_with("helpdesk-backup-"),
        "{made:?}"
    );
}

/// What `docker run` of `deploy/Dockerfile` runs: its `ENV` variables, and its `ENTRYPOINT`
/// followed by its `CMD`.
struct Image {
    env: Vec<(String, String)>,
    command: Vec<String>,
}

fn image() -> Image {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/Dockerfile"))
            .expect("deploy/Dockerfile");
    let text = text.replace("\\\n", " ");
    let mut env = Vec::new();
    let mut entrypoint = Vec::new();
    let mut cmd = Vec::new();
    let exec_form = |rest: &str| -> Vec<String> {
        serde_json::from_str(rest.trim()).expect("ENTRYPOINT and CMD in exec (JSON) form")
    };
    for line in text.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("ENV ") {
            for pair in rest.split_whitespace() {
                let (name, value) = pair.split_once('=').expect("ENV NAME=VALUE");
                env.push((name.to_string(), value.trim_matches('"').to_string()));
            }
        } else if let Some(rest) = line.strip_prefix("ENTRYPOINT ") {
            entrypoint = exec_form(rest);
        } else if let Some(rest) = line.strip_prefix("CMD ") {
            cmd = exec_form(rest);
        }
    }
    assert_eq!(
        entrypoint,
        ["helpdesk"],
        "the image runs the helpdesk binary"
    );
    Image { env, command: cmd }
}

/// The image's command in an empty working directory (where the embedded default keeps its
/// file), with the image's variables; only the port of `HELPDESK_ADDR` becomes 0.
fn image_command(database: &TestDatabase, extra_args: &[&str]) -> tokio::process::Command {
    let image = image();
    let mut command = helpdesk(database);
    command
        .env_remove("DATABASE_URL")
        .env_remove("HELPDESK_JWT_SECRET");
    for (name, value) in &image.env {
        let value = if name == "HELPDESK_ADDR" {
            let mut addr: std::net::SocketAddr = value.parse().expect("HELPDESK_ADDR");
            addr.set_port(0);
            addr.to_string()
        } else {
            value.clone()
        };
        command.env(name, value);
    }
    command.args(&image.command).args(extra_args);
    command
}

fn embedded_database() -> TestDatabase {
    let dir = tempfile::tempdir().expect("temporary directory");
    TestDatabase::Sqlite {
        url: format!("sqlite://{}", dir.path().join("helpdesk.db").display()),
        dir,
    }
}

/// Signs in as the demo administrator on a server the binary printed `http://HOST:PORT` for.
async fn demo_admin_login(address: &str) -> serde_json::Value {
    // A server on every address answers on loopback too.
    let address = address.replace("0.0.0.0", "127.0.0.1");
    reqwest::Client::new()
        .post(format!("{address}/graphql"))
        .json(&serde_json::json!({
            "query": "mutation($input: AuthLoginInput!) { authLogin(input: $input) { accessToken } }",
            "variables": { "input": { "email": "admin@demo.helpdesk.local", "password": "helpdesk-demo" } },
        }))
        .send()
        .await
        .expect("POST /graphql")
        .json()
        .await
        .expect("a JSON response")
}

async fn user_count(database: &TestDatabase) -> u64 {
    use sea_orm::{EntityTrait, PaginatorTrait};
    let db = database.connect().await;
    entity::user::Entity::find().count(&db).await.unwrap()
}

#[tokio::test]
async fn the_image_does_not_serve_the_demo_admin_on_every_address() {
    let image = image();
    let addr = image
        .env
        .iter()
        .find(|(name, _)| name == "HELPDESK_ADDR")
        .map(|(_, value)| value.clone())
        .expect("the image sets HELPDESK_ADDR");
    assert!(addr.starts_with("0.0.0.0:"), "{addr}");

    let database = embedded_database();
    let mut server = RunningServer::start(image_command(&database, &[])).await;
    let stderr = server.child.stderr.take().expect("stderr pipe");
    let printed = server.printed.join("\n");
    assert!(!printed.contains("admin@demo.helpdesk.local"), "{printed}");
    assert!(server.address.contains("0.0.0.0:"), "{}", server.address);

    let login = demo_admin_login(&server.address).await;
    assert_eq!(error_code(&login), "UNAUTHENTICATED", "{login}");
    assert!(database.scratch_dir().join("helpdesk.db").exists());
    assert_eq!(user_count(&database).await, 0);

    let exit = server.terminate().await;
    assert!(exit.success(), "exit status {exit}");
    let mut logs = String::new();
    let mut stderr = stderr;
    tokio::io::AsyncReadExt::read_to_string(&mut stderr, &mut logs)
        .await
        .expect("stderr");
    assert!(
        logs.contains("helpdesk user create --email EMAIL --name NAME --role admin"),
        "{logs}"
    );
}

#[tokio::test]
async fn the_image_with_demo_asked_for_seeds_on_every_address() {
    let database = embedded_database();
    let server =
        RunningServer::start(image_command(&database, &["--demo", "--demo-tickets", "5"])).await;
    let printed = server.printed.join("\n");
    assert!(printed.contains("admin@demo.helpdesk.local"), "{printed}");
    let login = demo_admin_login(&server.address).await;
    assert!(
        login["data"]["authLogin"]["accessToken"].is_string(),
        "{login}"
    );
    let exit = server.terminate().await;
    assert!(exit.success(), "exit status {exit}");
}

#[tokio::test]
async fn no_demo_wins_over_demo_on_loopback_too() {
    let database = embedded_database();
    let mut command = helpdesk(&database);
    command.env_remove("DATABASE_URL").args([
        "serve",
        "--addr",
        "127.0.0.1:0",
        "--demo",
        "--no-demo",
    ]);
    let server = RunningServer::start(command).await;
    assert_eq!(user_count(&database).await, 0);
    let exit = server.terminate().await;
    assert!(exit.success(), "exit status {exit}");
}

/// Fails a sign-in with the given `X-Forwarded-For` headers and returns the address the audit
/// log recorded for it.
async fn audited_address(app: &TestApp, forwarded_for: &[&str]) -> String {
    use entity::audit_log;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let failures = || {
        audit_log::Entity::find()
            .filter(audit_log::Column::Action.eq("auth.login_failed"))
            .all(app.db())
    };
    let before: Vec<_> = failures()
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    let mut request = app.client.post(format!("{}/graphql", app.address));
    for value in forwarded_for {
        request = request.header("x-forwarded-for", *value);
    }
    let response: serde_json::Value = request
        .json(&serde_json::json!({
            "query": "mutation($input: AuthLoginInput!) { authLogin(input: $input) { accessToken } }",
            "variables": { "input": { "email": "nobody@example.com", "password": "wrong password" } },
        }))
        .send()
        .await
        .expect("POST /graphql")
        .json()
        .await
        .expect("a JSON response");
    assert_eq!(error_code(&response), "UNAUTHENTICATED", "{response}");
    let mut new: Vec<_> = failures()
        .await
        .unwrap()
        .into_iter()
        .filter(|e| !before.contains(&e.id))
        .collect();
    assert_eq!(new.len(), 1, "one audit entry per failed sign-in: {new:?}");
    new.remove(0).ip_address.expect("an address")
}

#[tokio::test]
async fn behind_one_proxy_the_audit_log_records_the_address_the_proxy_saw() {
    let app = TestApp::spawn_with(|s| s.server.trust_forwarded_for = true).await;
    // 6.6.6.6 is what the client wrote; the proxy appended the address it saw.
    assert_eq!(
        audited_address(&app, &["6.6.6.6, 203.0.113.7"]).await,
        "203.0.113.7"
    );
    // Several headers are one list.
    assert_eq!(
        audited_address(&app, &["6.6.6.6", "203.0.113.8"]).await,
        "203.0.113.8"
    );
    assert_eq!(audited_address(&app, &[]).await, "127.0.0.1");
    app.stop().await;
}

#[tokio::test]
async fn behind_several_proxies_the_audit_log_records_the_first_untrusted_hop() {
    let app = TestApp::spawn_with(|s| {
        s.server.trust_forwarded_for = true;
        s.server.trusted_proxies = vec![
            "127.0.0.1".parse().unwrap(),
            "203.0.113.0/24".parse().unwrap(),
        ];
    })
    .await;
    assert_eq!(
        audited_address(&app, &["6.6.6.6, 198.51.100.9, 203.0.113.7"]).await,
        "198.51.100.9"
    );
    app.stop().await;

    // A peer that is not one of the proxies is the client, whatever its header says.
    let app = TestApp::spawn_with(|s| {
        s.server.trust_forwarded_for = true;
        s.server.trusted_proxies = vec!["203.0.113.0/24".parse().unwrap()];
    })
    .await;
    assert_eq!(
        audited_address(&app, &["6.6.6.6, 198.51.100.9, 203.0.113.7"]).await,
        "127.0.0.1"
    );
    app.stop().await;
}

#[tokio::test]
async fn without_trust_the_audit_log_records_the_peer_whatever_the_header_says() {
    let app = TestApp::spawn().await;
    assert_eq!(
        audited_address(&app, &["6.6.6.6, 203.0.113.7"]).await,
        "127.0.0.1"
    );
    app.stop().await;
}

#[tokio::test]
async fn metrics_on_their_own_address_are_served_only_there_and_stop_with_the_server() {
    let database = TestDatabase::create().await;
    let mut settings = settings_for(&database);
    settings.server.metrics_addr = Some("127.0.0.1:0".parse().unwrap());
    let app = api::Application::build(settings).await.expect("starts");
    let main = format!("http://{}", app.local_addr());
    let metrics = format!("http://{}", app.metrics_addr().expect("a metrics address"));
    assert_ne!(main, metrics);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::new();

    let on_main = client.get(format!("{main}/metrics")).send().await.unwrap();
    assert_eq!(on_main.status(), 404);
    let scraped = client
        .get(format!("{metrics}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(scraped.status(), 200);
    let body = scraped.text().await.unwrap();
    assert!(
        body.contains("helpdesk_db_statements_total") && body.trim_end().ends_with("# EOF"),
        "{body}"
    );
    // The metrics listener serves nothing else.
    let graphql = client
        .get(format!("{metrics}/graphql"))
        .send()
        .await
        .unwrap();
    assert_eq!(graphql.status(), 404);
    assert_eq!(
        client
            .get(format!("{main}/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    let _ = stop.send(());
    server.await.unwrap().expect("stopped cleanly");
    assert!(
        client
            .get(format!("{metrics}/metrics"))
            .send()
            .await
            .is_err(),
        "the metrics listener outlived the server"
    );
}

#[tokio::test]
async fn a_metrics_address_that_cannot_be_bound_is_a_startup_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let database = TestDatabase::create().await;
    let mut settings = settings_for(&database);
    settings.server.metrics_addr = Some(taken.local_addr().unwrap());
    let error = match api::Application::build(settings).await {
        Ok(_) => panic!("started on a taken metrics address"),
        Err(error) => error.to_string(),
    };
    assert!(error.starts_with("cannot listen on 127.0.0.1:"), "{error}");
}
