use std::collections::HashSet;

use entity::{counter, ticket, ticket_history};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};

use crate::helpers::{TestApp, new_ticket, organization_with_client};

#[tokio::test]
async fn fifty_concurrent_ticket_creates_get_fifty_distinct_numbers() {
    let app = TestApp::spawn().await;
    let (org, client) = organization_with_client(app.db(), "Acme").await;

    let creates = (0..50).map(|i| {
        let db = app.db().clone();
        tokio::spawn(async move {
            service::ticket::create(
                &db,
                Some(client),
                new_ticket(org, client, &format!("Ticket {i}")),
            )
            .await
            .map(|t| t.number)
        })
    });
    let numbers: Vec<i64> = futures_util::future::join_all(creates)
        .await
        .into_iter()
        .map(|joined| joined.expect("task").expect("create"))
        .collect();

    let distinct: HashSet<i64> = numbers.iter().copied().collect();
    assert_eq!(
        distinct.len(),
        50,
        "numbers were handed out twice: {numbers:?}"
    );
    let (low, high) = (
        *distinct.iter().min().unwrap(),
        *distinct.iter().max().unwrap(),
    );
    assert_eq!(high - low, 49, "numbers are consecutive: {numbers:?}");
    assert_eq!(ticket::Entity::find().count(app.db()).await.unwrap(), 50);
}

#[tokio::test]
async fn a_failed_create_writes_nothing_and_gives_its_number_back() {
    let app = TestApp::spawn().await;
    let db = app.db();
    let (org, client) = organization_with_client(db, "Acme").await;
    let first = service::ticket::create(db, Some(client), new_ticket(org, client, "First"))
        .await
        .expect("ticket");
    assert_eq!(service::ticket::display_number(first.number), "HD-1001");

    // The organization check fails after the number was taken inside the transaction.
    let err = service::ticket::create(
        db,
        Some(client),
        new_ticket(uuid::Uuid::now_v7(), client, "Lost"),
    )
    .await
    .expect_err("no such organization");
    assert_eq!(
        (err.code().as_str(), err.field()),
        ("BAD_USER_INPUT", Some("organizationId"))
    );

    let second = service::ticket::create(db, Some(client), new_ticket(org, client, "Second"))
        .await
        .expect("ticket");
    assert_eq!(
        second.number,
        first.number + 1,
        "the failed create's number was reused"
    );
    assert_eq!(ticket::Entity::find().count(db).await.unwrap(), 2);
    let counter = counter::Entity::find_by_id("ticket_number")
        .one(db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(counter.value, second.number);
}

#[tokio::test]
async fn bad_ticket_input_is_refused_with_its_field_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let db = app.db();
    let (org, client) = organization_with_client(db, "Acme").await;
    let long_title = "x".repeat(service::ticket::MAX_TITLE_LENGTH + 1);
    let cases = [
        ("", "title"),
        ("   ", "title"),
        (long_title.as_str(), "title"),
    ];
    for (title, field) in cases {
        let err = service::ticket::create(db, Some(client), new_ticket(org, client, title))
            .await
            .expect_err("refused");
        assert_eq!(
            (err.code().as_str(), err.field()),
            ("BAD_USER_INPUT", Some(field)),
            "{title:?}"
        );
    }
    let mut missing_requester = new_ticket(org, client, "Valid title");
    missing_requester.requester_id = uuid::Uuid::now_v7();
    let err = service::ticket::create(db, None, missing_requester)
        .await
        .expect_err("refused");
    assert_eq!(
        (err.code().as_str(), err.field()),
        ("BAD_USER_INPUT", Some("requesterId"))
    );

    assert_eq!(ticket::Entity::find().count(db).await.unwrap(), 0);
}

#[tokio::test]
async fn creating_a_ticket_records_who_created_it() {
    let app = TestApp::spawn().await;
    let db = app.db();
    let (org, client) = organization_with_client(db, "Acme").await;
    let created =
        service::ticket::create(db, Some(client), new_ticket(org, client, "  Padded title "))
            .await
            .expect("ticket");
    assert_eq!(created.title, "Padded title");
    assert_eq!(created.status, entity::enums::TicketStatus::New);
    let history = ticket_history::Entity::find()
        .filter(ticket_history::Column::TicketId.eq(created.id))
        .all(db)
        .await
        .unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].field, "created");
    assert_eq!(history[0].actor_id, Some(client));
    assert_eq!(history[0].new_value.as_deref(), Some("HD-1001"));
}
