use serde_json::json;

use crate::helpers::{TestApp, metric_value};

const STATEMENTS: &str = "helpdesk_db_statements_total";

#[tokio::test]
async fn statement_counter_grows_by_exactly_the_statements_a_query_runs() {
    let app = TestApp::spawn().await;

    // `version` and `database` need no SQL.
    let before = app.metric(STATEMENTS).await;
    let response = app
        .graphql("{ serverInfo { version database } }", json!({}))
        .await;
    assert!(response.get("errors").is_none(), "{response}");
    assert_eq!(app.metric(STATEMENTS).await - before, 0.0);

    // `schemaVersion` reads the newest migration: one statement.
    let before = app.metric(STATEMENTS).await;
    let response = app
        .graphql("{ serverInfo { schemaVersion } }", json!({}))
        .await;
    let version = response["data"]["serverInfo"]["schemaVersion"]
        .as_str()
        .expect("a version");
    assert!(version.starts_with('m'), "{response}");
    assert_eq!(app.metric(STATEMENTS).await - before, 1.0);

    // Asked for three times under aliases: three statements.
    let before = app.metric(STATEMENTS).await;
    let response = app
        .graphql(
            "{ a: serverInfo { schemaVersion } b: serverInfo { schemaVersion } c: serverInfo { schemaVersion } }",
            json!({}),
        )
        .await;
    assert!(response.get("errors").is_none(), "{response}");
    assert_eq!(app.metric(STATEMENTS).await - before, 3.0);
}

#[tokio::test]
async fn operations_are_counted_and_timed_by_type() {
    let app = TestApp::spawn().await;
    for _ in 0..2 {
        app.graphql("query Info { serverInfo { version } }", json!({}))
            .await;
    }
    // In the GraphQL response media type, a document that does not parse is a 400.
    let broken: serde_json::Value = app
        .client
        .post(format!("{}/graphql", app.address))
        .header("accept", "application/graphql-response+json")
        .json(&json!({ "query": "{ serverInfo { version " }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(broken["errors"].is_array(), "{broken}");

    let body = app.get("/metrics").await.text().await.unwrap();
    let value =
        |name: &str| metric_value(&body, name).unwrap_or_else(|| panic!("{name} in\n{body}"));
    assert_eq!(
        value("helpdesk_graphql_requests_total{operation=\"query\"}"),
        2.0
    );
    assert_eq!(
        value("helpdesk_graphql_request_duration_seconds_count{operation=\"query\"}"),
        2.0
    );
    assert_eq!(
        value("helpdesk_graphql_requests_total{operation=\"invalid\"}"),
        1.0
    );
    assert_eq!(
        value("helpdesk_graphql_errors_total{operation=\"invalid\"}"),
        1.0
    );
    assert_eq!(
        value("helpdesk_http_requests_total{method=\"POST\",status=\"200\"}"),
        2.0
    );
    assert_eq!(
        value("helpdesk_http_requests_total{method=\"POST\",status=\"400\"}"),
        1.0
    );
}

#[tokio::test]
async fn metrics_are_served_in_the_prometheus_text_format() {
    let app = TestApp::spawn().await;
    // Histograms appear once they have an observation.
    app.graphql("{ serverInfo { version } }", json!({})).await;
    let response = app.get("/metrics").await;
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    let body = response.text().await.unwrap();
    assert!(
        body.contains("# TYPE helpdesk_db_statements counter"),
        "{body}"
    );
    assert!(
        body.contains("# TYPE helpdesk_graphql_request_duration_seconds histogram"),
        "{body}"
    );
    assert!(body.trim_end().ends_with("# EOF"), "{body}");
}

/// The metrics operators alert on besides our own: HTTP durations by route and status (the
/// route's template, never the raw path), the pool, the build and the process.
#[tokio::test]
async fn http_pool_build_and_process_metrics_are_exposed() {
    let app = TestApp::spawn().await;
    app.graphql("{ serverInfo { version } }", json!({})).await;
    let token = uuid::Uuid::new_v4().to_string();
    let missing = app
        .get(&format!("/attachments/download/{token}"))
        .await
        .status();
    let body = app.get("/metrics").await.text().await.unwrap();
    let value =
        |name: &str| metric_value(&body, name).unwrap_or_else(|| panic!("{name} in\n{body}"));
    assert_eq!(
        value(
            "http_server_request_duration_seconds_count{http_request_method=\"POST\",http_route=\"/graphql\",http_response_status_code=\"200\"}"
        ),
        1.0
    );
    assert!(
        body.contains(&format!(
            "http_route=\"/attachments/download/{{token}}\",http_response_status_code=\"{}\"",
            missing.as_u16()
        )),
        "{body}"
    );
    assert!(!body.contains(&token), "a raw path in the labels: {body}");
    assert_eq!(
        value(&format!(
            "helpdesk_build_info{{version=\"{}\"}}",
            env!("CARGO_PKG_VERSION")
        )),
        1.0
    );
    let max = value("helpdesk_db_pool_max_connections");
    let in_use = value("helpdesk_db_pool_connections{state=\"in_use\"}");
    let idle = value("helpdesk_db_pool_connections{state=\"idle\"}");
    assert!(
        max >= 1.0 && in_use + idle <= max && in_use + idle >= 1.0,
        "{body}"
    );
    for queue in ["events", "webhooks", "email"] {
        assert_eq!(
            value(&format!("helpdesk_backlog{{queue=\"{queue}\"}}")),
            0.0,
            "{queue}"
        );
        assert_eq!(
            value(&format!(
                "helpdesk_backlog_oldest_age_seconds{{queue=\"{queue}\"}}"
            )),
            0.0,
            "{queue}"
        );
    }
    assert!(value("process_resident_memory_bytes") > 1_000_000.0);
    assert!(value("process_cpu_seconds") > 0.0);
    assert!(value("process_open_fds") >= 3.0);
    assert!(value("process_start_time_seconds") > 1.7e9);
}

/// The outbox's lag and the delivery backlogs: what waits, and for how long.
#[tokio::test]
async fn backlogs_show_what_waits_and_for_how_long() {
    use sea_orm::{ActiveModelTrait, EntityTrait};
    let app = TestApp::spawn().await;
    let world = crate::helpers::World::build(app.db()).await;
    let waiting_since = chrono::Utc::now() - chrono::Duration::minutes(10);
    entity::notification::ActiveModel::from_json(json!({
        "id": uuid::Uuid::now_v7(), "user_id": world.client_a, "event_id": null,
        "ticket_id": world.ticket_a, "kind": "reply", "channel": "email", "title": "t",
        "body": "b", "status": "pending", "attempts": 0, "next_attempt_at": waiting_since,
        "last_error": null, "read_at": null, "created_at": waiting_since, "sent_at": null,
    }))
    .unwrap()
    .insert(app.db())
    .await
    .unwrap();
    let before = entity::notification::Entity::find()
        .all(app.db())
        .await
        .unwrap()
        .len();
    assert_eq!(before, 1);
    let body = app.get("/metrics").await.text().await.unwrap();
    let value =
        |name: &str| metric_value(&body, name).unwrap_or_else(|| panic!("{name} in\n{body}"));
    assert_eq!(value("helpdesk_backlog{queue=\"email\"}"), 1.0);
    let age = value("helpdesk_backlog_oldest_age_seconds{queue=\"email\"}");
    assert!((600.0..700.0).contains(&age), "{age}");
}
