//! Bad input: each case gets its code and field, and the database is left as it was.

use entity::{comment, ticket, ticket_history};
use sea_orm::{DatabaseConnection, EntityTrait, PaginatorTrait};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, World, actor_of, email_of, gid, new_ticket};

async fn snapshot(db: &DatabaseConnection) -> (u64, u64, u64, Vec<ticket::Model>) {
    (
        ticket::Entity::find().count(db).await.unwrap(),
        comment::Entity::find().count(db).await.unwrap(),
        ticket_history::Entity::find().count(db).await.unwrap(),
        ticket::Entity::find().all(db).await.unwrap(),
    )
}

/// The (code, field) a response reports, from its payload's userErrors or its top-level errors.
fn reported(response: &Value, payload: &str) -> (String, String) {
    let pick = |error: &Value, field: &str| {
        (
            error["code"]
                .as_str()
                .or(error["extensions"]["code"].as_str())
                .unwrap_or_default()
                .to_string(),
            error[field]
                .as_str()
                .or(error["extensions"][field].as_str())
                .unwrap_or_default()
                .to_string(),
        )
    };
    match response["data"][payload]["userErrors"]
        .as_array()
        .and_then(|e| e.first())
    {
        Some(error) => pick(error, "field"),
        None => pick(&response["errors"][0], "field"),
    }
}

#[tokio::test]
async fn bad_input_is_refused_with_its_code_and_field_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let db = app.db();
    let world = World::build(db).await;
    let doomed = service::ticket::create(
        db,
        Some(world.client_a),
        new_ticket(world.org_a, world.client_a, "Doomed"),
    )
    .await
    .unwrap();
    let admin = actor_of(db, world.admin).await;
    service::ticket::soft_delete(db, &admin, doomed.id)
        .await
        .unwrap();
    let token = app.login(&email_of("agent_a"), PASSWORD).await;

    let create = "mutation($input: TicketCreateInput!) { ticketCreate(input: $input) { ticket { id } userErrors { field code message } } }";
    let update = "mutation($input: TicketUpdateInput!) { ticketUpdate(input: $input) { ticket { id } userErrors { field code message } } }";
    let assign = "mutation($input: TicketAssignInput!) { ticketAssign(input: $input) { ticket { id } userErrors { field code message } } }";
    let comment = "mutation($input: CommentCreateInput!) { commentCreate(input: $input) { comment { id } userErrors { field code message } } }";
    let org_a = gid("Organization", world.org_a);
    let ticket_a = gid("Ticket", world.ticket_a);
    let long_title = "x".repeat(201);
    let cases: Vec<(&str, &str, &str, Value, &str, &str)> = vec![
        (
            "empty title",
            create,
            "ticketCreate",
            json!({ "title": "  ", "organizationId": org_a }),
            "BAD_USER_INPUT",
            "title",
        ),
        (
            "title over the limit",
            create,
            "ticketCreate",
            json!({ "title": long_title, "organizationId": org_a }),
            "BAD_USER_INPUT",
            "title",
        ),
        (
            "unknown enum value",
            create,
            "ticketCreate",
            json!({ "title": "Fine", "organizationId": org_a, "priority": "URGENT" }),
            "BAD_USER_INPUT",
            "priority",
        ),
        (
            "malformed organization id",
            create,
            "ticketCreate",
            json!({ "title": "Fine", "organizationId": "nope" }),
            "BAD_USER_INPUT",
            "organizationId",
        ),
        (
            "malformed ticket id",
            update,
            "ticketUpdate",
            json!({ "id": "nope", "title": "New" }),
            "BAD_USER_INPUT",
            "id",
        ),
        (
            "a user id where a ticket id belongs",
            update,
            "ticketUpdate",
            json!({ "id": gid("User", world.agent_a), "title": "New" }),
            "BAD_USER_INPUT",
            "id",
        ),
        (
            "comment on a deleted ticket",
            comment,
            "commentCreate",
            json!({ "ticketId": gid("Ticket", doomed.id), "body": "Hello?" }),
            "BAD_USER_INPUT",
            "ticketId",
        ),
        (
            "empty comment",
            comment,
            "commentCreate",
            json!({ "ticketId": ticket_a, "body": "" }),
            "BAD_USER_INPUT",
            "body",
        ),
        (
            "assignment to a client",
            assign,
            "ticketAssign",
            json!({ "id": ticket_a, "assigneeId": gid("User", world.client_a) }),
            "BAD_USER_INPUT",
            "assigneeId",
        ),
        (
            "assignment to an agent outside the organization",
            assign,
            "ticketAssign",
            json!({ "id": ticket_a, "assigneeId": gid("User", world.agent_b) }),
            "BAD_USER_INPUT",
            "assigneeId",
        ),
    ];
    let before = snapshot(db).await;
    for (case, mutation, payload, input, code, field) in cases {
        let response = app
            .graphql_as(&token, mutation, json!({ "input": input }))
            .await;
        assert_eq!(
            reported(&response, payload),
            (code.to_string(), field.to_string()),
            "{case}: {response}"
        );
        assert!(
            response["data"][payload]["ticket"].is_null()
                && response["data"][payload]["comment"].is_null(),
            "{case}: {response}"
        );
    }
    assert_eq!(snapshot(db).await, before, "a refused change left a trace");
}

#[tokio::test]
async fn page_sizes_are_bounded_and_cursors_must_be_ours() {
    let app = TestApp::spawn().await;
    World::build(app.db()).await;
    let token = app.login(&email_of("admin"), PASSWORD).await;
    for (query, field) in [
        ("{ tickets(first: -1) { nodes { id } } }", "first"),
        ("{ tickets(after: \"bogus\") { nodes { id } } }", "after"),
        ("{ tickets(first: 1, last: 1) { nodes { id } } }", "last"),
    ] {
        let response = app.graphql_as(&token, query, json!({})).await;
        assert_eq!(
            response["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
            "{query}: {response}"
        );
        assert_eq!(
            response["errors"][0]["extensions"]["field"], field,
            "{query}: {response}"
        );
    }
    // Over the cap is served at the cap, not refused.
    let capped = app
        .graphql_as(
            &token,
            "{ tickets(first: 1000) { nodes { id } } }",
            json!({}),
        )
        .await;
    assert!(capped.get("errors").is_none(), "{capped}");
    // Every list follows the same rule, nested ones too.
    let nested = app
        .graphql_as(
            &token,
            "{ tickets(first: 1) { nodes { comments(first: 1000) { nodes { id } } history(first: 1000) { nodes { field } } } } me { notifications(first: 1000) { nodes { id } } organizations(first: 1000) { nodes { id } } sessions(first: 1000) { nodes { id } } apiTokens(first: 1000) { nodes { id } } } organizations(first: 1) { nodes { members(first: 1000) { nodes { id } } } } auditLog(first: 1000) { nodes { id } } webhooks(first: 1000) { nodes { id } } slaPolicies(first: 1000) { nodes { id } } businessCalendars(first: 1000) { nodes { id } } }",
            json!({}),
        )
        .await;
    assert!(nested.get("errors").is_none(), "{nested}");
    assert!(
        nested["data"]["tickets"]["nodes"][0]["comments"]["nodes"].is_array(),
        "{nested}"
    );
}

#[tokio::test]
async fn leaving_out_the_assignee_does_not_unassign_and_foreign_cursors_are_refused() {
    let app = TestApp::spawn().await;
    let world = World::build(app.db()).await;
    let token = app.login(&email_of("admin"), PASSWORD).await;
    let assign = "mutation($id: ID!) { ticketAssign(input: { id: $id }) { ticket { id } userErrors { field code } } }";
    let response = app
        .graphql_as(
            &token,
            assign,
            json!({ "id": gid("Ticket", world.ticket_a) }),
        )
        .await;
    assert_eq!(
        response["data"]["ticketAssign"]["userErrors"],
        json!([{ "field": "assigneeId", "code": "BAD_USER_INPUT" }]),
        "{response}"
    );

    let by_number = app
        .graphql_as(
            &token,
            "{ tickets(first: 1, orderBy: { field: NUMBER }) { pageInfo { endCursor } } }",
            json!({}),
        )
        .await;
    let cursor = by_number["data"]["tickets"]["pageInfo"]["endCursor"].clone();
    for query in [
        "query($c: String) { tickets(first: 1, after: $c, orderBy: { field: CREATED_AT }) { nodes { id } } }",
        "query($c: String) { organizations(after: $c) { nodes { id } } }",
    ] {
        let response = app.graphql_as(&token, query, json!({ "c": cursor })).await;
        assert_eq!(
            response["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
            "{query}: {response}"
        );
        assert_eq!(
            response["errors"][0]["extensions"]["field"], "after",
            "{response}"
        );
    }
}
