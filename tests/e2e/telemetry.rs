use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::helpers::{
    RunningServer, TestDatabase, World, bearer, comment_with, graphql_at, helpdesk, login_at, run,
};
use crate::webhooks::{Receiver, ok, webhook_for};

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
    let response = graphql_at(
        &server.address,
        &[],
        "{ serverInfo { version } }",
        json!({}),
    )
    .await;
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

/// The spans in OTLP/JSON exports: `(trace id, span id, parent span id, name)`, ids in hex.
fn spans_in(exports: &[Bytes]) -> Vec<(String, String, String, String)> {
    let mut spans = Vec::new();
    for body in exports {
        let export: Value = serde_json::from_slice(body).expect("an OTLP/JSON export");
        let resources = export["resourceSpans"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for scope in resources
            .iter()
            .flat_map(|r| r["scopeSpans"].as_array().cloned().unwrap_or_default())
        {
            for span in scope["spans"].as_array().cloned().unwrap_or_default() {
                let text = |key: &str| span[key].as_str().unwrap_or_default().to_lowercase();
                spans.push((
                    text("traceId"),
                    text("spanId"),
                    text("parentSpanId"),
                    text("name"),
                ));
            }
        }
    }
    spans
}

#[tokio::test]
async fn a_callers_trace_continues_through_the_request_its_log_lines_and_the_webhook_it_causes() {
    let (endpoint, mut exports) = collector().await;
    let database = TestDatabase::create().await;
    let db = database.connect().await;
    api::startup::apply_migrations(&db).await.unwrap();
    let world = World::build(&db).await;
    let mut receiver = Receiver::start(ok()).await;
    webhook_for(&db, &world, &receiver.url, &["comment.created"]).await;

    let mut command = helpdesk(&database);
    command
        .args(["serve", "--no-demo"])
        .env("HELPDESK_ADDR", "127.0.0.1:0")
        .env("HELPDESK_WEBHOOK_ALLOW_PRIVATE", "true")
        .env("HELPDESK_LOG_FORMAT", "json")
        // Request log lines (tower-http's, at debug) inside the request's span.
        .env("RUST_LOG", "info,tower_http=debug")
        // The standard variables, read by the exporter itself: the signal's own endpoint,
        // used as it is, and the JSON encoding, which this stand-in collector reads.
        .env(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            format!("{endpoint}/v1/traces"),
        )
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json");
    let mut server = RunningServer::start(command).await;
    let stderr = server.child.stderr.take().expect("stderr pipe");
    let token = login_at(&server.address, "agent_a").await;

    // The caller's trace and span, as a client library would send them.
    let trace_id = format!("{:032x}", uuid::Uuid::new_v4().as_u128());
    let caller_span = format!("{:016x}", uuid::Uuid::new_v4().as_u128() as u64);
    comment_with(
        &server.address,
        &[
            bearer(&token),
            ("traceparent", format!("00-{trace_id}-{caller_span}-01")),
        ],
        world.ticket_a,
        "Traced",
    )
    .await;

    // The webhook the comment caused carries the same trace, from a span of its own.
    let delivery = receiver.next().await;
    let parts: Vec<&str> = delivery.traceparent.split('-').collect();
    assert_eq!(parts.len(), 4, "{:?}", delivery.traceparent);
    assert_eq!(parts[1], trace_id, "the delivery is in the caller's trace");
    let delivery_span = parts[2].to_string();
    assert_ne!(delivery_span, caller_span);

    assert!(server.terminate().await.success());
    let mut received = Vec::new();
    let wanted = |spans: &[(String, String, String, String)]| {
        let request = spans
            .iter()
            .any(|(t, _, p, n)| *t == trace_id && *p == caller_span && n == "http_request");
        let deliver = spans
            .iter()
            .any(|(t, s, _, n)| *t == trace_id && *s == delivery_span && n == "webhook.deliver");
        (request, deliver)
    };
    while wanted(&spans_in(&received)) != (true, true) {
        match tokio::time::timeout(Duration::from_secs(10), exports.recv()).await {
            Ok(Some(body)) => received.push(body),
            _ => break,
        }
    }
    let spans = spans_in(&received);
    let (request, deliver) = wanted(&spans);
    assert!(
        request,
        "the request's span is a child of the caller's span: {spans:?}"
    );
    assert!(
        deliver,
        "the delivery's span is exported in the caller's trace: {spans:?}"
    );

    // Log lines written inside the request name its trace.
    let mut logs = String::new();
    let mut stderr = stderr;
    tokio::io::AsyncReadExt::read_to_string(&mut stderr, &mut logs)
        .await
        .expect("stderr");
    let traced: Vec<Value> = logs
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line["trace_id"] == trace_id.as_str())
        .collect();
    assert!(!traced.is_empty(), "no log line names the trace: {logs}");
    assert!(
        traced
            .iter()
            .all(|line| line["span_id"].as_str().is_some_and(|s| s.len() == 16)),
        "{traced:?}"
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
