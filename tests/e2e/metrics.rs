use serde_json::{Value, json};

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

/// The series a metrics exposition offers, from its `# TYPE` lines: a gauge's name, a
/// counter's `_total`, a histogram's `_bucket`, `_sum` and `_count`. Families without samples
/// yet (counters of what has not happened) count too.
fn series_of(exposition: &str) -> std::collections::BTreeSet<String> {
    let mut series = std::collections::BTreeSet::new();
    for line in exposition.lines() {
        let mut words = line.split_whitespace();
        if words.next() != Some("#") || words.next() != Some("TYPE") {
            continue;
        }
        let (Some(name), Some(kind)) = (words.next(), words.next()) else {
            continue;
        };
        match kind {
            "counter" => {
                series.insert(format!("{name}_total"));
            }
            "histogram" => {
                for suffix in ["_bucket", "_sum", "_count"] {
                    series.insert(format!("{name}{suffix}"));
                }
            }
            _ => {
                series.insert(name.to_string());
            }
        }
    }
    series
}

/// PromQL's keywords that take a parenthesised list of labels.
const GROUPING: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

/// The metric names a PromQL expression reads: its identifiers outside label matchers and
/// grouping clauses, less functions, keywords and the Prometheus-made `up`.
fn metrics_in(expr: &str) -> Vec<String> {
    // Label matchers `{...}` and clauses such as `by (...)` name labels, not metrics.
    let mut plain = String::new();
    let mut depth = 0;
    for c in expr.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            _ if depth == 0 => plain.push(c),
            _ => {}
        }
    }
    let clause = without_label_lists(&plain);
    let mut names = Vec::new();
    let mut word = String::new();
    let mut chars = clause.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
            word.push(c);
            if chars
                .peek()
                .is_some_and(|n| n.is_ascii_alphanumeric() || *n == '_' || *n == ':')
            {
                continue;
            }
        } else if c == '"' {
            // A string argument (`label_replace`, a quantile's name): skip to its end.
            for d in chars.by_ref() {
                if d == '"' {
                    break;
                }
            }
            continue;
        } else {
            continue;
        }
        let token = std::mem::take(&mut word);
        let next = chars.clone().find(|c| !c.is_whitespace());
        let is_function = next == Some('(');
        if token
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && !is_function
            && !GROUPING.contains(&token.as_str())
            && !["and", "or", "unless", "bool", "offset", "up", "inf", "nan"]
                .contains(&token.as_str())
        {
            names.push(token);
        }
    }
    names
}

/// `expr` with the parenthesised label lists of `by`, `without`, `on`, `ignoring`,
/// `group_left` and `group_right` removed.
fn without_label_lists(expr: &str) -> String {
    let mut out = String::new();
    let mut rest = expr;
    'outer: while !rest.is_empty() {
        for &keyword in GROUPING {
            if let Some(after) = rest.strip_prefix(keyword)
                && !out.ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
                && after.trim_start().starts_with('(')
            {
                let open = after.find('(').unwrap();
                let close = after[open..]
                    .find(')')
                    .map_or(after.len(), |i| open + i + 1);
                out.push(' ');
                rest = &after[close..];
                continue 'outer;
            }
        }
        let c = rest.chars().next().unwrap();
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// Every `expr` of a Prometheus rules file: one-line values and `|` or `>` blocks.
fn rule_expressions(rules: &str) -> Vec<String> {
    let lines: Vec<&str> = rules.lines().collect();
    let mut exprs = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let indent = line.len() - line.trim_start().len();
        if let Some(value) = line.trim_start().strip_prefix("expr:") {
            let value = value.trim();
            if value.starts_with('|') || value.starts_with('>') {
                let mut block = Vec::new();
                while i + 1 < lines.len() {
                    let next = lines[i + 1];
                    let next_indent = next.len() - next.trim_start().len();
                    if !next.trim().is_empty() && next_indent <= indent {
                        break;
                    }
                    block.push(next.trim());
                    i += 1;
                }
                exprs.push(block.join(" "));
            } else {
                exprs.push(value.trim_matches(|c| c == '\'' || c == '"').to_string());
            }
        }
        i += 1;
    }
    exprs
}

/// Every `expr` of the dashboard's panels' targets.
fn dashboard_expressions(panel: &Value, exprs: &mut Vec<String>) {
    for target in panel["targets"].as_array().into_iter().flatten() {
        if let Some(expr) = target["expr"].as_str() {
            exprs.push(expr.to_string());
        }
    }
    for inner in panel["panels"].as_array().into_iter().flatten() {
        dashboard_expressions(inner, exprs);
    }
}

#[test]
fn promql_names_are_told_from_functions_labels_and_keywords() {
    assert_eq!(
        metrics_in(
            "sum by (http_route) (rate(http_server_request_duration_seconds_bucket{http_response_status_code=~\"5..\"}[5m])) / on(job) group_left sum(up) > 0.05"
        ),
        vec!["http_server_request_duration_seconds_bucket"]
    );
    assert_eq!(
        metrics_in("histogram_quantile(0.99, sum(rate(a_bucket[5m])) by (le)) and b_total"),
        vec!["a_bucket", "b_total"]
    );
}

/// The dashboard and the alert rules in `deploy/` read only metrics the server exposes.
#[tokio::test]
async fn the_dashboard_and_alert_rules_name_only_metrics_the_server_exposes() {
    let app = TestApp::spawn().await;
    app.graphql("{ serverInfo { version } }", json!({})).await;
    let body = app.get("/metrics").await.text().await.unwrap();
    let exposed = series_of(&body);

    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/observability");
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("grafana/dashboards/helpdesk.json"))
            .expect("the dashboard"),
    )
    .expect("the dashboard is JSON");
    let mut dashboard_exprs = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        dashboard_expressions(panel, &mut dashboard_exprs);
    }
    let alerts = rule_expressions(
        &std::fs::read_to_string(root.join("alerts.yaml")).expect("the alert rules"),
    );
    for (what, exprs) in [("dashboard", &dashboard_exprs), ("alert rules", &alerts)] {
        assert!(exprs.len() >= 5, "{what}: only {} expressions", exprs.len());
        let mut read = 0;
        for expr in exprs.iter() {
            for name in metrics_in(expr) {
                read += 1;
                assert!(
                    exposed.contains(&name),
                    "{what}: `{name}` (in `{expr}`) is not exposed; the server has {exposed:?}"
                );
            }
        }
        assert!(read > 0, "{what}: reads no metric of the server");
    }
}

/// `helpdesk_db_pool_waiting` counts the requests waiting for a connection: with a pool of one
/// connection held by a comment that waits for a lock the test holds, the requests behind it
/// show as waiting, the scrape still answers at once, and once the lock goes everything is
/// served and nothing waits.
#[tokio::test]
async fn requests_waiting_for_a_database_connection_are_counted() {
    use crate::helpers::{RunningServer, World, bearer, graphql_at, helpdesk, login_at};
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let app = TestApp::spawn().await;
    let world = World::build(app.db()).await;
    let mut command = helpdesk(&app.database);
    command
        .args(["serve", "--no-demo"])
        .env("HELPDESK_ADDR", "127.0.0.1:0")
        .env("HELPDESK_DB_MAX_CONNECTIONS", "1");
    let server = RunningServer::start(command).await;
    let address = server.address.clone();
    let token = login_at(&address, "agent_a").await;
    let client = reqwest::Client::new();
    let waiting = || async {
        let body = client
            .get(format!("{address}/metrics"))
            .send()
            .await
            .expect("GET /metrics")
            .text()
            .await
            .unwrap();
        metric_value(&body, "helpdesk_db_pool_waiting")
            .unwrap_or_else(|| panic!("helpdesk_db_pool_waiting in\n{body}"))
    };
    // Background work may be starting a statement at the moment of a scrape; on an idle pool
    // it waits no longer than that.
    let nothing_waits = || async {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let now = waiting().await;
            if now == 0.0 || std::time::Instant::now() > deadline {
                return now;
            }
        }
    };
    assert_eq!(
        nothing_waits().await,
        0.0,
        "nothing waits on an idle server"
    );

    // The test's own connection takes a lock that the comment's insert waits for.
    let lock = app.database.connect().await;
    let held = lock.begin().await.unwrap();
    let statement = if app.database.is_postgres() {
        "LOCK TABLE comments IN ACCESS EXCLUSIVE MODE"
    } else {
        // A write takes SQLite's one write lock until the transaction ends.
        "UPDATE organizations SET name = name"
    };
    held.execute_unprepared(statement).await.unwrap();
    let comment = tokio::spawn({
        let (address, token) = (address.clone(), token.clone());
        let ticket = crate::helpers::gid("Ticket", world.ticket_a);
        async move {
            graphql_at(
                &address,
                &[bearer(&token)],
                "mutation($input: CommentCreateInput!) { commentCreate(input: $input) { comment { id } userErrors { field } } }",
                json!({ "input": { "ticketId": ticket, "body": "behind a lock" } }),
            )
            .await
        }
    });

    // Requests keep coming until the count shows them waiting behind the comment.
    let mut behind = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let seen = loop {
        let (address, token) = (address.clone(), token.clone());
        behind.push(tokio::spawn(async move {
            graphql_at(&address, &[bearer(&token)], "{ me { name } }", json!({})).await
        }));
        let now = waiting().await;
        if now >= 1.0 || std::time::Instant::now() > deadline {
            break now;
        }
    };
    assert!(seen >= 1.0, "no request was counted as waiting");

    held.rollback().await.unwrap();
    let written = comment.await.unwrap();
    assert_eq!(
        written["data"]["commentCreate"]["userErrors"],
        json!([]),
        "{written}"
    );
    for request in behind {
        let answer = request.await.unwrap();
        assert!(answer["data"]["me"]["name"].is_string(), "{answer}");
    }
    assert_eq!(nothing_waits().await, 0.0, "every request was served");
    server.terminate().await;
}
