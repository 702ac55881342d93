use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::helpers::{RunningServer, TestDatabase, helpdesk, run};

/// A stand-in OTLP/HTTP collector on loopback that hands every trace export to the test.
async fn collector() -> (String, mpsc::UnboundedReceiver<Bytes>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let app = Router::new()
        .route(
            "/v1/traces",
            post(
                |State(tx): State<mpsc::UnboundedSender<Bytes>>, body: Bytes| async move {
                    let _ = tx.send(body);
                    ""
                },
            ),
        )
        .with_state(tx);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (address, rx)
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[tokio::test]
async fn spans_of_http_requests_and_graphql_operations_are_exported_over_otlp() {
    let (endpoint, mut exports) = collector().await;
    let database = TestDatabase::create().await;
    let mut command = helpdesk(&database);
    command
        .args(["serve", "--no-demo"])
        .env("HELPDESK_ADDR", "127.0.0.1:0")
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)
        .env("OTEL_SERVICE_NAME", "helpdesk-under-test");
    let server = RunningServer::start(command).await;
    let response: Value = reqwest::Client::new()
        .post(format!("{}/graphql", server.address))
        .json(&json!({ "query": "{ serverInfo { version } }" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        response["data"]["serverInfo"]["version"].is_string(),
        "{response}"
    );
    // Buffered spans are flushed when the process shuts down.
    assert!(server.terminate().await.success());

    let mut received = Vec::new();
    while let Ok(Some(body)) = tokio::time::timeout(Duration::from_secs(10), exports.recv()).await {
        received.extend_from_slice(&body);
        if contains(&received, "http_request") && contains(&received, "graphql.operation.type") {
            break;
        }
    }
    assert!(
        contains(&received, "helpdesk-under-test"),
        "the service name is on the resource"
    );
    assert!(
        contains(&received, "http_request"),
        "a span per HTTP request"
    );
    assert!(
        contains(&received, "graphql.operation.type"),
        "a span per GraphQL operation"
    );
}

#[tokio::test]
async fn json_logs_report_slow_statements_with_their_duration() {
    let database = TestDatabase::create().await;
    let mut command = helpdesk(&database);
    command
        .args(["migrate", "up"])
        .env("HELPDESK_LOG_FORMAT", "json")
        .env("HELPDESK_SLOW_QUERY_MS", "0");
    let output = run(command, None).await;
    assert_eq!(output.code, Some(0), "{}", output.stderr);
    let lines: Vec<Value> = output
        .stderr
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect();
    let slow = lines
        .iter()
        .find(|l| l["fields"]["message"] == "slow SQL statement")
        .unwrap_or_else(|| panic!("no slow statement logged: {}", output.stderr));
    assert_eq!(slow["level"], "WARN");
    assert!(slow["fields"]["duration_ms"].is_u64(), "{slow}");
    assert!(
        slow["fields"]["sql"]
            .as_str()
            .is_some_and(|s| !s.is_empty()),
        "{slow}"
    );

    // Under a threshold no statement reaches, nothing is logged as slow.
    let mut quiet = helpdesk(&database);
    quiet
        .args(["migrate", "status"])
        .env("HELPDESK_LOG_FORMAT", "json")
        .env("HELPDESK_SLOW_QUERY_MS", "600000");
    let output = run(quiet, None).await;
    assert!(
        !output.stderr.contains("slow SQL statement"),
        "{}",
        output.stderr
    );
}
