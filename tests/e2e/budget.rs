//! The statement budget: what a query costs in SQL depends on its shape, never on how many
//! rows it returns, alone or under concurrent load.

use serde_json::json;

use crate::helpers::TestApp;

const STATEMENTS: &str = "helpdesk_db_statements_total";
const DASHBOARD: &str = "{ tickets(first: 50) { nodes {
    number
    requester { name }
    assignee { name }
    organization { name }
    comments(first: 5) { nodes { body author { name } } }
} } }";
const BUDGET: f64 = 6.0;

/// (statements for one request, statements for 32 concurrent ones) over `tickets` tickets.
async fn dashboard_cost(tickets: u64) -> (f64, f64) {
    let app = TestApp::spawn().await;
    service::seed::demo(app.db(), tickets, &|_| {})
        .await
        .expect("seed");
    let token = app
        .login("admin@demo.helpdesk.local", service::seed::DEMO_PASSWORD)
        .await;

    let before = app.metric(STATEMENTS).await;
    let response = app.graphql_as(&token, DASHBOARD, json!({})).await;
    let lone = app.metric(STATEMENTS).await - before;
    let nodes = response["data"]["tickets"]["nodes"]
        .as_array()
        .expect("nodes");
    assert_eq!(nodes.len() as u64, tickets.min(50), "{response}");
    // The shape was really resolved: authors and organizations came back.
    assert!(
        nodes.iter().all(|n| n["organization"]["name"].is_string()),
        "{response}"
    );
    let authors = nodes
        .iter()
        .flat_map(|n| {
            n["comments"]["nodes"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter(|c| c["author"]["name"].is_string())
        .count();
    assert!(authors > 0, "no comment authors resolved: {response}");

    let before = app.metric(STATEMENTS).await;
    let requests = (0..32).map(|_| app.graphql_as(&token, DASHBOARD, json!({})));
    for response in futures_util::future::join_all(requests).await {
        assert!(response.get("errors").is_none(), "{response}");
    }
    let concurrent = app.metric(STATEMENTS).await - before;
    (lone, concurrent)
}

#[tokio::test]
async fn the_dashboard_query_costs_the_same_few_statements_for_50_and_500_tickets() {
    let (lone_50, concurrent_50) = dashboard_cost(50).await;
    let (lone_500, concurrent_500) = dashboard_cost(500).await;
    assert!(
        lone_50 <= BUDGET,
        "{lone_50} statements for one request over 50 tickets"
    );
    assert_eq!(
        lone_50, lone_500,
        "the cost grew with the number of tickets"
    );
    for (tickets, concurrent) in [(50, concurrent_50), (500, concurrent_500)] {
        assert!(
            concurrent <= BUDGET * 32.0,
            "{concurrent} statements for 32 concurrent requests over {tickets} tickets"
        );
        assert_eq!(
            concurrent,
            lone_50 * 32.0,
            "concurrency changed the per-request cost"
        );
    }
}

/// Statements for one request of `query` over `tickets` tickets.
async fn lone_cost(tickets: u64, query: &str) -> f64 {
    let app = TestApp::spawn().await;
    service::seed::demo(app.db(), tickets, &|_| {})
        .await
        .expect("seed");
    let token = app
        .login("admin@demo.helpdesk.local", service::seed::DEMO_PASSWORD)
        .await;
    let before = app.metric(STATEMENTS).await;
    let response = app.graphql_as(&token, query, json!({})).await;
    assert!(response.get("errors").is_none(), "{response}");
    app.metric(STATEMENTS).await - before
}

#[tokio::test]
async fn history_and_counts_in_a_list_cost_the_same_for_any_number_of_tickets() {
    let query = "{ tickets(first: 50) { nodes { commentCount history(first: 3) { nodes { field actor { name } } } } } }";
    let small = lone_cost(50, query).await;
    let large = lone_cost(500, query).await;
    assert_eq!(small, large, "the cost grew with the number of tickets");
    assert!(small <= 6.0, "{small} statements");
}
