use serde_json::{Value, json};

use crate::helpers::{RunningServer, TestApp, TestDatabase, helpdesk, redis_url};

#[tokio::test]
async fn server_info_answers_over_http() {
    let app = TestApp::spawn().await;
    let response = app
        .graphql(
            "{ serverInfo { version database schemaVersion } }",
            json!({}),
        )
        .await;
    let info = &response["data"]["serverInfo"];
    assert_eq!(info["version"], env!("CARGO_PKG_VERSION"), "{response}");
    let expected = if app.database.is_postgres() {
        "postgres"
    } else {
        "sqlite"
    };
    assert_eq!(info["database"], expected);
    use migration::MigratorTrait;
    let newest = migration::Migrator::migrations()
        .last()
        .map(|m| m.name().to_string())
        .unwrap();
    assert_eq!(
        info["schemaVersion"],
        newest.as_str(),
        "the newest migration"
    );
}

#[tokio::test]
async fn graphiql_is_served_on_get_and_can_be_turned_off() {
    let app = TestApp::spawn().await;
    let page = app.get("/graphql").await;
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = page.text().await.unwrap();
    assert!(html.contains("graphiql"), "not the GraphiQL page");

    let off = TestApp::spawn_with(|s| s.server.graphiql = false).await;
    assert_eq!(off.get("/graphql").await.status(), 404);
    // The API itself still answers.
    let response = off.graphql("{ serverInfo { version } }", json!({})).await;
    assert!(
        response["data"]["serverInfo"]["version"].is_string(),
        "{response}"
    );
}

#[tokio::test]
async fn readiness_checks_every_configured_part() {
    let app = TestApp::spawn().await;
    assert_eq!(app.get("/healthz").await.status(), 200);
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 200);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["checks"]["database"], "ok");
    match redis_url() {
        Some(_) => assert_eq!(body["checks"]["redis"], "ok", "{body}"),
        None => assert!(body["checks"].get("redis").is_none(), "{body}"),
    }
}

#[tokio::test]
async fn readiness_turns_503_when_the_server_starts_draining() {
    let app = TestApp::spawn().await;
    assert_eq!(app.get("/readyz").await.status(), 200);
    app.state.start_draining();
    let draining = app.get("/readyz").await;
    assert_eq!(draining.status(), 503);
    let body: Value = draining.json().await.unwrap();
    assert_eq!(body["status"], "shutting_down");
    // Liveness is unaffected: the process is fine, it is just leaving.
    assert_eq!(app.get("/healthz").await.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn a_shutdown_signal_turns_readiness_to_503_while_requests_are_still_served() {
    let mut app = TestApp::spawn_with(|s| s.server.shutdown_delay_secs = 120).await;
    assert_eq!(app.get("/readyz").await.status(), 200);
    app.signal_shutdown();
    // The signal is handled on the server's own task; every try is a real request.
    let flipped = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        loop {
            if app.get("/readyz").await.status() == 503 {
                return;
            }
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert!(
        flipped.is_ok(),
        "readiness never turned 503 after the signal"
    );
    // During the delay the server keeps answering, so in-flight and late requests succeed.
    let response = app.graphql("{ serverInfo { version } }", json!({})).await;
    assert!(
        response["data"]["serverInfo"]["version"].is_string(),
        "{response}"
    );
}

#[tokio::test]
async fn a_body_over_one_mebibyte_is_refused_before_it_is_read() {
    let app = TestApp::spawn().await;
    let padding = "x".repeat(2 * 1024 * 1024);
    let response = app
        .client
        .post(format!("{}/graphql", app.address))
        .header("content-type", "application/json")
        .body(format!(
            r#"{{"query":"{{ serverInfo {{ version }} }}","extensions":{{"pad":"{padding}"}}}}"#
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
}

#[tokio::test]
async fn a_stopped_server_refuses_new_connections() {
    let app = TestApp::spawn().await;
    let address = app.address.clone();
    app.stop().await;
    let client = reqwest::Client::new();
    let refused = client.get(format!("{address}/healthz")).send().await;
    assert!(refused.is_err(), "still serving after stop");
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = TestApp::spawn().await;
    let response = app.get("/healthz").await;
    let id = response.headers()["x-request-id"].to_str().unwrap();
    assert_eq!(id.len(), 36, "a UUID: {id}");
}

/// The newcomer's path: the binary on the embedded default in an empty directory seeds demo
/// data, prints the logins and where it listens, serves, and exits cleanly on SIGTERM.
#[tokio::test]
async fn the_binary_serves_demo_data_on_the_embedded_default_and_stops_on_sigterm() {
    let scratch = tempfile::tempdir().unwrap();
    let database = TestDatabase::Sqlite {
        url: format!("sqlite://{}", scratch.path().join("helpdesk.db").display()),
        dir: scratch,
    };
    let mut command = helpdesk(&database);
    // The default database URL: `helpdesk.db` in the working directory.
    command
        .env_remove("DATABASE_URL")
        .env("HELPDESK_ADDR", "127.0.0.1:0");
    let server = RunningServer::start(command).await;
    let printed = server.printed.join("\n");
    assert!(printed.contains("Demo logins"), "{printed}");
    assert!(printed.contains("admin@demo.helpdesk.local"), "{printed}");
    assert!(printed.contains("GraphiQL: http://"), "{printed}");
    assert!(database.scratch_dir().join("helpdesk.db").exists());

    let address = &server.address;
    let client = reqwest::Client::new();
    let info: Value = client
        .post(format!("{address}/graphql"))
        .json(&json!({ "query": "{ serverInfo { version database } }" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["data"]["serverInfo"]["database"], "sqlite", "{info}");
    let status = |path: &str| {
        let request = client.get(format!("{address}{path}")).send();
        async move { request.await.unwrap().status() }
    };
    assert_eq!(status("/graphql").await, 200);
    assert_eq!(status("/readyz").await, 200);

    let db = database.connect().await;
    use sea_orm::{EntityTrait, PaginatorTrait};
    assert_eq!(
        entity::ticket::Entity::find().count(&db).await.unwrap(),
        200
    );

    let exit = server.terminate().await;
    assert!(exit.success(), "exit status {exit}");
}
