//! A page of tickets resolved from a plan of its selection answers exactly as async-graphql's
//! executor does, field by field, for every viewer: the same values, the same nulls, the same
//! cursors, and nothing of an internal note for a client.

use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, World, email_of, gid};

const PLANNED: &str = "helpdesk_graphql_ticket_pages_total{resolved=\"plan\"}";
const STATEMENTS: &str = "helpdesk_db_statements_total";
const EXECUTED: &str = "helpdesk_graphql_ticket_pages_total{resolved=\"executor\"}";

/// Every field the plan knows, below a page of tickets. The query that has to go through the
/// executor asks for `__typename` in a fragment, which the plan does not take.
const PAGE: &str = "query($after: String) { tickets(first: 10) { nodes {
    $typename
    id number title description status priority category
    createdAt updatedAt firstResponseAt resolvedAt closedAt reopenedCount
    requester { __typename id name role email isLocked isApproved createdAt }
    lead: assignee { id name email isLocked }
    organization { __typename id name email phone timeZone createdAt }
    comments(first: 2) {
        __typename
        nodes { __typename id body internal createdAt updatedAt author { id name role email } }
        edges { __typename cursor node { id body author { name } } }
        pageInfo { __typename hasNextPage hasPreviousPage startCursor endCursor }
    }
    later: comments(first: 5, after: $after) {
        nodes { body internal }
        pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    }
} } }";

async fn page(app: &TestApp, token: &str, after: &Value, executor: bool) -> Value {
    let typename = if executor {
        "... on Ticket { __typename }"
    } else {
        "__typename"
    };
    let query = PAGE.replace("$typename", typename);
    let (planned, executed) = (app.metric(PLANNED).await, app.metric(EXECUTED).await);
    let response = app
        .graphql_as(token, &query, json!({ "after": after }))
        .await;
    assert!(response.get("errors").is_none(), "{response}");
    // Each query went the way asked for, once.
    let (planned, executed) = (
        app.metric(PLANNED).await - planned,
        app.metric(EXECUTED).await - executed,
    );
    assert_eq!(
        (planned, executed),
        if executor { (0.0, 1.0) } else { (1.0, 0.0) }
    );
    response
}

/// Assigns `ticket` to `to` as the signed-in `token`.
async fn assign(app: &TestApp, token: &str, ticket: &str, to: &str) {
    let assign = "mutation($id: ID!, $to: ID) { ticketAssign(input: { id: $id, assigneeId: $to }) { userErrors { code } } }";
    let assigned = app
        .graphql_as(token, assign, json!({ "id": ticket, "to": to }))
        .await;
    assert_eq!(assigned["data"]["ticketAssign"]["userErrors"], json!([]));
}

#[tokio::test]
async fn a_planned_page_answers_as_the_executor_does_for_every_viewer() {
    let app = TestApp::spawn().await;
    let world = World::build(app.db()).await;
    let ticket = gid("Ticket", world.ticket_a);
    let admin = app.login(&email_of("admin"), PASSWORD).await;
    let agent = app.login(&email_of("agent_a"), PASSWORD).await;
    let client = app.login(&email_of("client_a"), PASSWORD).await;
    assign(&app, &agent, &ticket, &gid("User", world.agent_a)).await;
    app.comment_as(&agent, &ticket, "first public reply", false)
        .await;
    app.comment_as(&agent, &ticket, "a note for staff", true)
        .await;
    app.comment_as(&client, &ticket, "the client answers", false)
        .await;
    app.comment_as(&agent, &ticket, "second public reply", false)
        .await;

    for (who, token) in [("admin", &admin), ("agent", &agent), ("client", &client)] {
        let first = page(&app, token, &Value::Null, false).await;
        assert_eq!(first, page(&app, token, &Value::Null, true).await, "{who}");
        let nodes = first["data"]["tickets"]["nodes"].as_array().expect("nodes");
        let ours = nodes
            .iter()
            .find(|n| n["id"] == ticket)
            .unwrap_or_else(|| panic!("{who}: {first}"));
        // The page was really built: people, organization and comments came back.
        assert_eq!(ours["requester"]["name"], "client_a", "{who}");
        assert_eq!(ours["lead"]["name"], "agent_a", "{who}");
        assert_eq!(ours["organization"]["name"], "Org A", "{who}");
        assert_eq!(ours["comments"]["pageInfo"]["hasNextPage"], true, "{who}");
        // Account details only for staff (and the person themselves).
        let staff = who != "client";
        assert_eq!(ours["lead"]["email"].is_string(), staff, "{who}");
        assert!(ours["requester"]["email"].is_string(), "{who}");

        // The page after the first two comments, through a variable.
        let after = ours["comments"]["pageInfo"]["endCursor"].clone();
        assert!(after.is_string(), "{who}: {first}");
        let later = page(&app, token, &after, false).await;
        assert_eq!(later, page(&app, token, &after, true).await, "{who}");
        let ours = later["data"]["tickets"]["nodes"]
            .as_array()
            .and_then(|nodes| nodes.iter().find(|n| n["id"] == ticket))
            .cloned()
            .expect("the ticket");
        assert_eq!(ours["later"]["pageInfo"]["hasPreviousPage"], true);
        let bodies: Vec<&str> = ours["comments"]["nodes"]
            .as_array()
            .into_iter()
            .flatten()
            .chain(ours["later"]["nodes"].as_array().into_iter().flatten())
            .filter_map(|c| c["body"].as_str())
            .collect();
        let expected: &[&str] = if staff {
            &[
                "first public reply",
                "a note for staff",
                "the client answers",
                "second public reply",
            ]
        } else {
            &[
                "first public reply",
                "the client answers",
                "second public reply",
            ]
        };
        // The first two, then every one after them.
        assert_eq!(bodies[..2], expected[..2], "{who}: {later}");
        assert_eq!(bodies[2..], expected[2..], "{who}: {later}");
        assert!(
            staff || !later.to_string().contains("note for staff"),
            "{later}"
        );
    }
}

/// What the plan does not know goes to the executor, with the same answer as ever: a fragment,
/// a field outside the plan, a bad argument.
#[tokio::test]
async fn what_the_plan_does_not_know_is_left_to_the_executor() {
    let app = TestApp::spawn().await;
    let world = World::build(app.db()).await;
    let agent = app.login(&email_of("agent_a"), PASSWORD).await;
    let ticket = gid("Ticket", world.ticket_a);
    assign(&app, &agent, &ticket, &gid("User", world.agent_a)).await;
    let shapes = [
        "{ tickets { nodes { id ... on Ticket { title } } } }",
        "{ tickets { nodes { id commentCount viewerCan { comment } } } }",
        "{ tickets { nodes { id comments(first: 1) { nodes { attachments { nodes { id } } } } } } }",
        // A selection `@include` empties is answered with null, as ever.
        "{ tickets { nodes { id assignee { name @include(if: false) } } } }",
    ];
    for shape in shapes {
        let executed = app.metric(EXECUTED).await;
        let response = app.graphql_as(&agent, shape, json!({})).await;
        assert!(response.get("errors").is_none(), "{response}");
        assert_eq!(response["data"]["tickets"]["nodes"][0]["id"], ticket);
        if shape.contains("@include") {
            assert!(
                response["data"]["tickets"]["nodes"][0]["assignee"].is_null(),
                "{response}"
            );
        }
        assert_eq!(app.metric(EXECUTED).await - executed, 1.0, "{shape}");
    }
    for (shape, field) in [
        (
            "{ tickets { nodes { id comments(first: -1) { nodes { id } } } } }",
            "first",
        ),
        (
            "{ tickets { nodes { id comments(after: \"bogus\") { nodes { id } } } } }",
            "after",
        ),
    ] {
        let executed = app.metric(EXECUTED).await;
        let bad = app.graphql_as(&agent, shape, json!({})).await;
        assert_eq!(
            bad["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
            "{bad}"
        );
        assert_eq!(bad["errors"][0]["extensions"]["field"], field, "{bad}");
        assert_eq!(app.metric(EXECUTED).await - executed, 1.0, "{shape}");
    }
}

/// A page whose response key is given twice above it (here `tickets`, asked for twice with
/// different fields) is merged with its twin as the executor merges it: each ticket has the
/// fields of both selections.
#[tokio::test]
async fn a_page_asked_for_twice_is_merged_as_the_executor_merges_it() {
    let app = TestApp::spawn().await;
    let world = World::build(app.db()).await;
    let agent = app.login(&email_of("agent_a"), PASSWORD).await;
    let ticket = gid("Ticket", world.ticket_a);
    let twice = |nodes: &str| {
        format!(
            "{{ tickets(first: 10) {{ nodes {{ {nodes} number }} }} \
               tickets(first: 10) {{ nodes {{ id title requester {{ name }} }} }} }}"
        )
    };
    let (planned, executed) = (app.metric(PLANNED).await, app.metric(EXECUTED).await);
    let merged = app.graphql_as(&agent, &twice("id"), json!({})).await;
    // Both pages were planned.
    assert_eq!(app.metric(PLANNED).await - planned, 2.0);
    assert!(merged.get("errors").is_none(), "{merged}");
    let ours = merged["data"]["tickets"]["nodes"]
        .as_array()
        .and_then(|nodes| nodes.iter().find(|n| n["id"] == ticket))
        .cloned()
        .unwrap_or_else(|| panic!("{merged}"));
    assert!(ours["number"].is_string(), "{merged}");
    assert!(ours["title"].is_string(), "{merged}");
    assert_eq!(ours["requester"]["name"], "client_a", "{merged}");
    // The executor, made to resolve the first selection by a fragment, gives the same.
    let by_executor = app
        .graphql_as(&agent, &twice("id ... on Ticket { id }"), json!({}))
        .await;
    assert_eq!(app.metric(EXECUTED).await - executed, 1.0);
    assert_eq!(merged, by_executor);
}

/// What a page gives of each ticket (read, on PostgreSQL, alongside the page itself: the first
/// comments, their authors, the requester, assignee and organization) is what the ticket gives
/// on its own, for staff and for a client, with the next page of comments after them, and
/// nothing of an internal note for the client.
#[tokio::test]
async fn a_page_gives_each_ticket_what_it_gives_on_its_own() {
    let app = TestApp::spawn().await;
    let world = World::build(app.db()).await;
    let agent = app.login(&email_of("agent_a"), PASSWORD).await;
    let client = app.login(&email_of("client_a"), PASSWORD).await;
    let ticket = gid("Ticket", world.ticket_a);
    app.comment_as(&agent, &ticket, "a note for staff", true)
        .await;
    app.comment_as(&agent, &ticket, "first public reply", false)
        .await;
    app.comment_as(&client, &ticket, "the client answers", false)
        .await;
    let fields = "requester { name } assignee { name } organization { name } \
        comments(first: 2) { nodes { id body internal author { name } } \
        pageInfo { hasNextPage endCursor } }";
    for (who, token) in [("agent", &agent), ("client", &client)] {
        let before = app.metric(STATEMENTS).await;
        let page = app
            .graphql_as(
                token,
                &format!("{{ tickets(first: 10) {{ nodes {{ id {fields} }} }} }}"),
                json!({}),
            )
            .await;
        // On PostgreSQL: the page, and one statement alongside it for the rest, which also
        // reads what checking the (known) token reads.
        let statements = app.metric(STATEMENTS).await - before;
        let expected = if app.database.is_postgres() { 2.0 } else { 5.0 };
        assert_eq!(statements, expected, "{who}: {page}");
        let nodes = page["data"]["tickets"]["nodes"]
            .as_array()
            .unwrap_or_else(|| panic!("{who}: {page}"));
        let ours = nodes
            .iter()
            .find(|n| n["id"] == ticket)
            .unwrap_or_else(|| panic!("{who}: {page}"));
        let bodies: Vec<&str> = ours["comments"]["nodes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["body"].as_str())
            .collect();
        let expected: &[&str] = if who == "client" {
            &["first public reply", "the client answers"]
        } else {
            &["a note for staff", "first public reply"]
        };
        assert_eq!(bodies, expected, "{who}: {page}");
        assert_eq!(
            ours["comments"]["pageInfo"]["hasNextPage"],
            who != "client",
            "{who}: {page}"
        );
        for node in nodes {
            let alone = app
                .graphql_as(
                    token,
                    &format!("query($id: ID!) {{ ticket(id: $id) {{ id {fields} }} }}"),
                    json!({ "id": node["id"] }),
                )
                .await;
            assert_eq!(node, &alone["data"]["ticket"], "{who}: {alone}");
        }
    }
}
