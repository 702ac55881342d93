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

/// Statements for one request of `query` by the administrator, over `parents` organizations,
/// each with two members (an agent and a client), three tickets by its client with two
/// comments each (one an internal note), and a status change in each ticket's history.
async fn nested_cost(parents: usize, query: &str) -> (f64, serde_json::Value) {
    use crate::helpers::{PASSWORD, World, email_of, new_ticket};
    use entity::enums::Role;
    let app = TestApp::spawn().await;
    // The administrator (and two organizations of its own) to ask as.
    World::build(app.db()).await;
    let hash = service::password::hash(PASSWORD).await.expect("hash");
    for n in 0..parents {
        let org = service::organization::create(
            app.db(),
            service::organization::NewOrganization {
                name: format!("Parent {n:02}"),
                ..Default::default()
            },
        )
        .await
        .expect("organization");
        let mut people = Vec::new();
        for (role, who) in [(Role::Agent, "agent"), (Role::Client, "client")] {
            let user = service::user::insert(
                app.db(),
                format!("{who}{n}@parents.example"),
                format!("{who} {n}"),
                hash.clone(),
                role,
                true,
            )
            .await
            .expect("user");
            service::organization::add_member(app.db(), org.id, user.id)
                .await
                .expect("member");
            people.push(user.id);
        }
        for t in 0..3 {
            let ticket = service::ticket::create(
                app.db(),
                Some(people[1]),
                new_ticket(org.id, people[1], &format!("Ticket {t} of {n}")),
            )
            .await
            .expect("ticket");
            let agent = service::auth::actor_for_user(app.db(), people[0])
                .await
                .expect("agent");
            let client = service::auth::actor_for_user(app.db(), people[1])
                .await
                .expect("client");
            service::comment::create_as(app.db(), &client, ticket.id, "A question", false)
                .await
                .expect("comment");
            service::comment::create_as(app.db(), &agent, ticket.id, "A note", true)
                .await
                .expect("note");
            service::ticket::transition(
                app.db(),
                &agent,
                ticket.id,
                entity::enums::TicketStatus::Open,
                None,
            )
            .await
            .expect("status");
        }
    }
    let admin = app.login(&email_of("admin"), PASSWORD).await;
    let before = app.metric(STATEMENTS).await;
    let response = app.graphql_as(&admin, query, json!({})).await;
    let cost = app.metric(STATEMENTS).await - before;
    assert!(response.get("errors").is_none(), "{response}");
    (cost, response)
}

/// Each nested shape costs the same statements below 5 organizations as below 50, and
/// really resolved its level (so a shape that silently came back empty cannot pass).
#[tokio::test]
async fn every_connection_below_a_list_costs_the_same_for_5_and_50_parents() {
    /// A shape's name, its query, and how much of its level one organization resolved.
    type Shape = (&'static str, &'static str, fn(&serde_json::Value) -> usize);
    let shapes: [Shape; 6] = [
        (
            "organization tickets and their count",
            "{ organizations(first: 60) { nodes { tickets(first: 2) { totalCount nodes { number } } } } }",
            |org| {
                org["tickets"]["nodes"].as_array().map_or(0, Vec::len)
                    + org["tickets"]["totalCount"].as_u64().unwrap_or(0) as usize
            },
        ),
        (
            "organization members",
            "{ organizations(first: 60) { nodes { members(first: 5) { nodes { name } } } } }",
            |org| org["members"]["nodes"].as_array().map_or(0, Vec::len),
        ),
        (
            "members' organizations",
            "{ organizations(first: 60) { nodes { members(first: 3) { nodes { organizations(first: 3) { nodes { name } } } } } } }",
            |org| {
                org["members"]["nodes"].as_array().map_or(0, |m| {
                    m.iter()
                        .map(|u| u["organizations"]["nodes"].as_array().map_or(0, Vec::len))
                        .sum()
                })
            },
        ),
        (
            "tickets' history and comments below organizations",
            "{ organizations(first: 60) { nodes { tickets(first: 3) { nodes { commentCount history(first: 5) { nodes { field actor { name } } } comments(first: 5) { nodes { body author { name } } } } } } } }",
            |org| {
                org["tickets"]["nodes"].as_array().map_or(0, |t| {
                    t.iter()
                        .map(|t| {
                            t["history"]["nodes"].as_array().map_or(0, Vec::len)
                                + t["comments"]["nodes"].as_array().map_or(0, Vec::len)
                        })
                        .sum()
                })
            },
        ),
        (
            "organization tickets on a later page",
            "{ organizations(first: 60) { nodes { tickets(first: 1, orderBy: { field: NUMBER, direction: ASC }, after: null) { pageInfo { hasNextPage } nodes { number requester { name } } } } } }",
            |org| {
                org["tickets"]["nodes"].as_array().map_or(0, Vec::len)
                    + usize::from(org["tickets"]["pageInfo"]["hasNextPage"] == json!(true))
            },
        ),
        (
            "comments and history after a cursor, below the tickets of organizations",
            // The cursor names a position on 2000-01-01: every row comes after it.
            "{ organizations(first: 60) { nodes { tickets(first: 3) { nodes {
                history(first: 5, after: \"eyJrZXkiOiIyMDAwLTAxLTAxVDAwOjAwOjAwWiIsImlkIjoiMDAwMDAwMDAtMDAwMC0wMDAwLTAwMDAtMDAwMDAwMDAwMDAwIn0\") { pageInfo { hasPreviousPage } nodes { field } }
                comments(first: 5, after: \"eyJrZXkiOiIyMDAwLTAxLTAxVDAwOjAwOjAwWiIsImlkIjoiMDAwMDAwMDAtMDAwMC0wMDAwLTAwMDAtMDAwMDAwMDAwMDAwIn0\") { nodes { body author { name } } }
            } } } } }",
            |org| {
                org["tickets"]["nodes"].as_array().map_or(0, |t| {
                    t.iter()
                        .filter(|t| t["history"]["pageInfo"]["hasPreviousPage"] == json!(true))
                        .map(|t| {
                            t["history"]["nodes"].as_array().map_or(0, Vec::len)
                                + t["comments"]["nodes"].as_array().map_or(0, Vec::len)
                        })
                        .sum()
                })
            },
        ),
    ];
    for (name, query, resolved) in shapes {
        let (few, few_response) = nested_cost(5, query).await;
        let (many, many_response) = nested_cost(50, query).await;
        assert_eq!(
            few, many,
            "{name}: {few} statements below 5 organizations, {many} below 50"
        );
        for (parents, response) in [(5, few_response), (50, many_response)] {
            let orgs = response["data"]["organizations"]["nodes"]
                .as_array()
                .expect("nodes");
            let seeded: Vec<_> = orgs.iter().filter(|o| resolved(o) > 0).collect();
            assert!(
                seeded.len() >= parents,
                "{name}: only {} of {parents} organizations resolved their level: {response}",
                seeded.len()
            );
        }
    }
}
