//! Full-text search over titles, descriptions and comments, on SQLite and PostgreSQL alike.

use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, World, actor_of, email_of};

fn titles(response: &Value) -> Vec<String> {
    response["data"]["tickets"]["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("{response}"))
        .iter()
        .map(|t| t["title"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn search_finds_words_in_comments_and_ranks_title_matches_first() {
    let app = TestApp::spawn().await;
    let db = app.db();
    let world = World::build(db).await;
    let agent = actor_of(db, world.agent_a).await;
    let client = actor_of(db, world.client_a).await;
    let create = |title: &str, description: &str| service::ticket::CreateTicket {
        title: title.into(),
        description: description.into(),
        priority: entity::enums::TicketPriority::Medium,
        category: entity::enums::TicketCategory::Technical,
        organization_id: Some(world.org_a),
        requester_id: None,
        idempotency_key: None,
        attachments: Default::default(),
    };
    service::ticket::create_as(
        db,
        &client,
        create("Zebra printer jams", "Paper everywhere"),
    )
    .await
    .unwrap();
    service::ticket::create_as(
        db,
        &client,
        create("Office hardware", "The zebra printer in room 4"),
    )
    .await
    .unwrap();
    let in_comment =
        service::ticket::create_as(db, &client, create("Labels come out blank", "Since Monday"))
            .await
            .unwrap();
    service::comment::create_as(
        db,
        &agent,
        in_comment.id,
        "Probably the Zebra printer's ribbon",
        false,
    )
    .await
    .unwrap();
    let internal_only =
        service::ticket::create_as(db, &client, create("Slow network", "Everything is slow"))
            .await
            .unwrap();
    service::comment::create_as(
        db,
        &agent,
        internal_only.id,
        "Internal: the zebra switch again",
        true,
    )
    .await
    .unwrap();

    let query =
        "query($q: String!) { tickets(filter: { search: $q }) { totalCount nodes { title } } }";
    let as_agent = app.login(&email_of("agent_a"), PASSWORD).await;
    let found = app
        .graphql_as(&as_agent, query, json!({ "q": "zebra" }))
        .await;
    // Title, then description, then comments; equal ranks newest first.
    assert_eq!(
        titles(&found),
        vec![
            "Zebra printer jams",
            "Office hardware",
            "Slow network",
            "Labels come out blank"
        ],
        "{found}"
    );
    assert_eq!(found["data"]["tickets"]["totalCount"], 4);

    // A word only in a comment is enough; every word must match; case does not matter.
    let ribbon = app
        .graphql_as(&as_agent, query, json!({ "q": "RIBBON" }))
        .await;
    assert_eq!(titles(&ribbon), vec!["Labels come out blank"]);
    let both = app
        .graphql_as(&as_agent, query, json!({ "q": "zebra jams" }))
        .await;
    assert_eq!(titles(&both), vec!["Zebra printer jams"]);
    let none = app
        .graphql_as(&as_agent, query, json!({ "q": "giraffe" }))
        .await;
    assert_eq!(titles(&none), Vec::<String>::new());

    // Query syntax is not interpreted: quotes, operators and stars are just separators.
    let odd = app
        .graphql_as(&as_agent, query, json!({ "q": "\"zebra\" OR * -printer" }))
        .await;
    assert!(odd.get("errors").is_none(), "{odd}");

    // A client does not find a ticket through an internal note.
    let as_client = app.login(&email_of("client_a"), PASSWORD).await;
    let found = app
        .graphql_as(&as_client, query, json!({ "q": "switch" }))
        .await;
    assert_eq!(titles(&found), Vec::<String>::new(), "{found}");
    let found = app
        .graphql_as(&as_client, query, json!({ "q": "zebra" }))
        .await;
    assert_eq!(
        titles(&found),
        vec![
            "Zebra printer jams",
            "Office hardware",
            "Labels come out blank"
        ]
    );
}

#[tokio::test]
async fn search_results_page_without_overlap() {
    let app = TestApp::spawn().await;
    let db = app.db();
    let world = World::build(db).await;
    let client = actor_of(db, world.client_a).await;
    for i in 0..7 {
        let title = if i % 2 == 0 {
            format!("Kiwi title {i}")
        } else {
            format!("Other {i}")
        };
        service::ticket::create_as(
            db,
            &client,
            service::ticket::CreateTicket {
                title,
                description: "kiwi in the description".into(),
                priority: entity::enums::TicketPriority::Low,
                category: entity::enums::TicketCategory::Other,
                organization_id: None,
                requester_id: None,
                idempotency_key: None,
                attachments: Default::default(),
            },
        )
        .await
        .unwrap();
    }
    let token = app.login(&email_of("client_a"), PASSWORD).await;
    let query = "query($after: String) { tickets(first: 3, after: $after, filter: { search: \"kiwi\" }) { nodes { title } pageInfo { hasNextPage endCursor } } }";
    let mut seen = Vec::new();
    let mut after = Value::Null;
    loop {
        let page = app
            .graphql_as(&token, query, json!({ "after": after }))
            .await;
        seen.extend(titles(&page));
        let info = &page["data"]["tickets"]["pageInfo"];
        if info["hasNextPage"] != true {
            break;
        }
        after = info["endCursor"].clone();
    }
    assert_eq!(seen.len(), 7, "{seen:?}");
    // Title matches (even numbers) rank above description-only matches.
    assert!(seen[..4].iter().all(|t| t.starts_with("Kiwi")), "{seen:?}");
    let mut distinct = seen.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 7);
}
