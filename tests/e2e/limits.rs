//! No short query builds a huge response, no input reaches a panic, and a panic that happens
//! anyway is an `INTERNAL` error with the request id, not a reset connection.

use serde_json::json;

use crate::helpers::{
    PASSWORD, RunningServer, TestApp, World, email_of, error_code, gid, helpdesk, new_ticket,
};

/// Resident memory of a process, in KiB.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

#[tokio::test]
async fn six_levels_of_members_and_organizations_are_refused_before_they_run() {
    let app = TestApp::spawn().await;
    let world = World::build(app.db()).await;
    let hash = service::password::hash(PASSWORD).await.unwrap();
    for n in 0..30 {
        let user = service::user::insert(
            app.db(),
            format!("member{n}@world.example"),
            format!("Member {n}"),
            hash.clone(),
            entity::enums::Role::Agent,
            true,
        )
        .await
        .unwrap();
        service::organization::add_member(app.db(), world.org_a, user.id)
            .await
            .unwrap();
    }
    let agent = app.login(&email_of("agent_a"), PASSWORD).await;
    let deep = "{ me { organizations { nodes { members { nodes { organizations { nodes { members { nodes { organizations { nodes { members { nodes { name } } } } } } } } } } } } } }";
    // The memory is measured on a server process of its own (the test process runs other
    // tests' servers too), on the same database.
    let mut command = helpdesk(&app.database);
    command
        .args(["serve", "--no-demo"])
        .env("HELPDESK_ADDR", "127.0.0.1:0");
    let server = RunningServer::start(command).await;
    let pid = server.child.id().expect("the server runs");
    let client = reqwest::Client::new();
    let ask = || async {
        client
            .post(format!("{}/graphql", server.address))
            .bearer_auth(&agent)
            .json(&json!({ "query": deep }))
            .send()
            .await
            .unwrap()
            .json::<serde_json::Value>()
            .await
            .unwrap()
    };
    let first = ask().await;
    assert_eq!(error_code(&first), "COMPLEXITY_LIMIT", "{first}");
    // A first round of the same, so what a server allocates once (its background jobs' first
    // rounds, connections opened, statements prepared) is not counted as growth.
    for _ in 0..50 {
        assert_eq!(error_code(&ask().await), "COMPLEXITY_LIMIT");
    }
    let before = rss_kib(pid);
    for _ in 0..50 {
        let refused = ask().await;
        assert_eq!(error_code(&refused), "COMPLEXITY_LIMIT", "{refused}");
        assert!(refused["data"].is_null());
    }
    let grown = rss_kib(pid).saturating_sub(before);
    eprintln!("the server's memory grew by {grown} KiB over 50 refused queries");
    assert!(grown < 4 * 1024, "the server's memory grew by {grown} KiB");
    server.terminate().await;

    // The same lists at a sensible size still answer, in full.
    let members = app
        .graphql_as(
            &agent,
            "query($id: ID!) { organization(id: $id) { members(first: 100) { totalCount nodes { name } } } }",
            json!({ "id": gid("Organization", world.org_a) }),
        )
        .await;
    let count = members["data"]["organization"]["members"]["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("{members}"))
        .len();
    assert_eq!(count, 33, "30 added, agent_a and the two clients");
    assert_eq!(members["data"]["organization"]["members"]["totalCount"], 33);
    let few = app
        .graphql_as(
            &agent,
            "query($id: ID!) { organization(id: $id) { members(first: 5) { nodes { name } } } }",
            json!({ "id": gid("Organization", world.org_a) }),
        )
        .await;
    assert_eq!(
        few["data"]["organization"]["members"]["nodes"]
            .as_array()
            .unwrap()
            .len(),
        5
    );
    let many_nodes = format!(
        "{{ nodes(ids: [{}]) {{ ... on Organization {{ members {{ nodes {{ organizations {{ nodes {{ members {{ nodes {{ name }} }} }} }} }} }} }} }} }}",
        vec![format!("\"{}\"", gid("Organization", world.org_a)); 100].join(",")
    );
    let refused = app.graphql_as(&agent, &many_nodes, json!({})).await;
    assert_eq!(error_code(&refused), "COMPLEXITY_LIMIT", "{refused}");
}

#[tokio::test]
async fn a_response_over_the_size_cap_is_abandoned_with_a_code() {
    let app = TestApp::spawn_with(|s| s.server.max_response_bytes = 64 * 1024).await;
    let world = World::build(app.db()).await;
    for n in 0..60 {
        let mut ticket = new_ticket(world.org_a, world.client_a, &format!("Long ticket {n}"));
        ticket.description = "a long description ".repeat(100);
        service::ticket::create(app.db(), Some(world.client_a), ticket)
            .await
            .unwrap();
    }
    let agent = app.login(&email_of("agent_a"), PASSWORD).await;
    let big = app
        .graphql_as(
            &agent,
            "{ tickets(first: 100) { nodes { title description } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        error_code(&big),
        "RESPONSE_TOO_LARGE",
        "{}",
        &big.to_string()[..200.min(big.to_string().len())]
    );
    assert!(big["data"].is_null());
    let small = app
        .graphql_as(
            &agent,
            "{ tickets(first: 10) { nodes { title } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        small["data"]["tickets"]["nodes"].as_array().unwrap().len(),
        10,
        "{small}"
    );
}

#[tokio::test]
async fn dates_outside_the_calendar_a_helpdesk_needs_are_bad_input_not_a_crash() {
    let app = TestApp::spawn().await;
    World::build(app.db()).await;
    let admin = app.login(&email_of("admin"), PASSWORD).await;
    let cases = [
        (json!({ "to": "-262143-01-01" }), "to"),
        (json!({ "from": "-262143-01-01" }), "from"),
        (json!({ "from": "1969-12-31", "to": "1970-01-31" }), "from"),
    ];
    for (filter, field) in cases {
        for query in [
            "query($f: TicketStatsFilter) { ticketStats(filter: $f) { total } }",
            "query($f: TicketStatsFilter) { ticketStatsSeries(filter: $f, interval: MONTH) { points { created } } }",
        ] {
            let answer = app.graphql_as(&admin, query, json!({ "f": filter })).await;
            assert_eq!(error_code(&answer), "BAD_USER_INPUT", "{filter}: {answer}");
            assert_eq!(
                answer["errors"][0]["extensions"]["field"], field,
                "{filter}: {answer}"
            );
        }
    }
    // The defaults near the edges stay inside the range.
    let early = app
        .graphql_as(
            &admin,
            "{ ticketStats(filter: { to: \"1970-01-05\" }) { from } }",
            json!({}),
        )
        .await;
    assert_eq!(
        early["data"]["ticketStats"]["from"], "1970-01-01",
        "{early}"
    );
    let edge = app
        .graphql_as(
            &admin,
            "{ ticketStatsSeries(filter: { from: \"9999-01-01\", to: \"9999-12-31\" }, interval: YEAR) { points { created } } }",
            json!({}),
        )
        .await;
    assert!(edge["errors"].is_null(), "{edge}");
}

#[tokio::test]
async fn a_panicking_resolver_answers_internal_with_the_request_id() {
    let app = TestApp::spawn_with(|s| s.server.panic_in_field = Some("serverInfo".into())).await;
    let response = app
        .client
        .post(format!("{}/graphql", app.address))
        .json(&json!({ "query": "{ serverInfo { version } }" }))
        .send()
        .await
        .expect("an answer, not a reset connection");
    assert_eq!(response.status(), 500);
    let request_id = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("a request id")
        .to_string();
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(error_code(&body), "INTERNAL", "{body}");
    assert_eq!(
        body["errors"][0]["extensions"]["requestId"],
        request_id.as_str()
    );
    assert_eq!(body["errors"][0]["message"], "internal error");
    // The server goes on serving.
    assert_eq!(app.get("/healthz").await.status(), 200);
}
