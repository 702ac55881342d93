//! Idempotency keys on ticketCreate and commentCreate.

use entity::{comment, ticket};
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, World, email_of, gid};

const CREATE: &str = "mutation($input: TicketCreateInput!) { ticketCreate(input: $input) { ticket { id number } userErrors { field code } } }";
const COMMENT: &str = "mutation($input: CommentCreateInput!) { commentCreate(input: $input) { comment { id } userErrors { field code } } }";

#[tokio::test]
async fn a_retried_create_returns_the_original_and_other_input_is_a_conflict() {
    let app = TestApp::spawn().await;
    let world = World::build(app.db()).await;
    let token = app.login(&email_of("client_a"), PASSWORD).await;
    let input = json!({ "title": "Printer on fire", "idempotencyKey": "retry-1" });
    let before = ticket::Entity::find().count(app.db()).await.unwrap();

    let first = app
        .graphql_as(&token, CREATE, json!({ "input": input }))
        .await;
    let again = app
        .graphql_as(&token, CREATE, json!({ "input": input }))
        .await;
    let original = &first["data"]["ticketCreate"]["ticket"];
    assert!(original["id"].is_string(), "{first}");
    assert_eq!(
        &again["data"]["ticketCreate"]["ticket"], original,
        "{again}"
    );
    assert_eq!(
        ticket::Entity::find().count(app.db()).await.unwrap(),
        before + 1
    );

    let different = app
        .graphql_as(
            &token,
            CREATE,
            json!({ "input": { "title": "Something else", "idempotencyKey": "retry-1" } }),
        )
        .await;
    assert_eq!(
        different["data"]["ticketCreate"]["userErrors"],
        json!([{ "field": "idempotencyKey", "code": "CONFLICT" }]),
        "{different}"
    );

    // Keys belong to their user: another user's same key is a new request.
    let other = app.login(&email_of("client_a2"), PASSWORD).await;
    let theirs = app
        .graphql_as(&other, CREATE, json!({ "input": input }))
        .await;
    assert_ne!(
        &theirs["data"]["ticketCreate"]["ticket"]["id"], &original["id"],
        "{theirs}"
    );

    // Comments too.
    let comment = json!({ "ticketId": gid("Ticket", world.ticket_a), "body": "Any news?", "idempotencyKey": "c-1" });
    let first = app
        .graphql_as(&token, COMMENT, json!({ "input": comment }))
        .await;
    let again = app
        .graphql_as(&token, COMMENT, json!({ "input": comment }))
        .await;
    assert_eq!(
        first["data"]["commentCreate"]["comment"], again["data"]["commentCreate"]["comment"],
        "{again}"
    );
    assert_eq!(comment::Entity::find().count(app.db()).await.unwrap(), 1);
}

#[tokio::test]
async fn concurrent_requests_with_one_key_create_one_ticket() {
    let app = TestApp::spawn().await;
    World::build(app.db()).await;
    let token = app.login(&email_of("client_a"), PASSWORD).await;
    let before = ticket::Entity::find().count(app.db()).await.unwrap();
    let input = json!({ "input": { "title": "Double click", "idempotencyKey": "burst" } });
    let requests = (0..8).map(|_| app.graphql_as(&token, CREATE, input.clone()));
    let responses: Vec<Value> = futures_util::future::join_all(requests).await;
    let ids: std::collections::HashSet<String> = responses
        .iter()
        .filter_map(|r| {
            r["data"]["ticketCreate"]["ticket"]["id"]
                .as_str()
                .map(str::to_string)
        })
        .collect();
    assert_eq!(ids.len(), 1, "{responses:?}");
    assert_eq!(
        ticket::Entity::find().count(app.db()).await.unwrap(),
        before + 1
    );
}
