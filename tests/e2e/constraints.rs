use chrono::Utc;
use entity::enums::Role;
use entity::{comment, ticket_history, user};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, SqlErr};
use service::user::NewUser;

use crate::helpers::{TestApp, new_ticket, organization_with_client};

fn person(email: &str) -> NewUser {
    NewUser {
        email: email.to_string(),
        name: "Ann Example".into(),
        password: "a long enough password".into(),
        role: Role::Agent,
        is_approved: true,
    }
}

#[tokio::test]
async fn duplicate_email_in_another_letter_case_is_refused() {
    let app = TestApp::spawn().await;
    let db = app.db();
    service::user::create(db, person("Ann@Example.com"))
        .await
        .expect("first account");

    let err = service::user::create(db, person("ann@EXAMPLE.COM"))
        .await
        .expect_err("same address in other case");
    assert_eq!(
        (err.code().as_str(), err.field()),
        ("CONFLICT", Some("email")),
        "{err}"
    );

    // The database enforces it too, for any path that skips the service's normalization.
    let raw = user::Entity::insert(user::ActiveModel {
        id: Set(uuid::Uuid::now_v7()),
        email: Set("ANN@example.com".into()),
        name: Set("Raw insert".into()),
        password_hash: Set("x".into()),
        role: Set(Role::Client),
        is_approved: Set(true),
        is_locked: Set(false),
        lock_reason: Set(None),
        locked_until: Set(None),
        failed_login_count: Set(0),
        last_login_at: Set(None),
        session_epoch: Set(0),
        created_at: Set(Utc::now()),
        updated_at: Set(Utc::now()),
    })
    .exec_without_returning(db)
    .await
    .expect_err("the unique index on lower(email) refuses it");
    assert!(
        matches!(raw.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))),
        "{raw}"
    );
    assert_eq!(user::Entity::find().count(db).await.unwrap(), 1);
}

#[tokio::test]
async fn deleting_a_user_who_requested_a_ticket_is_refused() {
    let app = TestApp::spawn().await;
    let db = app.db();
    let (org, client) = organization_with_client(db, "Acme").await;
    service::ticket::create(db, Some(client), new_ticket(org, client, "Printer on fire"))
        .await
        .expect("ticket");

    let err = service::user::delete(db, client)
        .await
        .expect_err("requester in use");
    assert_eq!(err.code(), "CONFLICT", "{err}");
    assert!(
        user::Entity::find_by_id(client)
            .one(db)
            .await
            .unwrap()
            .is_some()
    );

    let missing = service::user::delete(db, uuid::Uuid::now_v7())
        .await
        .expect_err("no such user");
    assert_eq!(missing.code(), "NOT_FOUND");
}

#[tokio::test]
async fn deleting_a_ticket_removes_its_comments_and_history() {
    let app = TestApp::spawn().await;
    let db = app.db();
    let (org, client) = organization_with_client(db, "Acme").await;
    let doomed = service::ticket::create(db, Some(client), new_ticket(org, client, "Doomed"))
        .await
        .expect("ticket");
    let kept = service::ticket::create(db, Some(client), new_ticket(org, client, "Kept"))
        .await
        .expect("ticket");
    for ticket in [&doomed, &kept] {
        for body in ["first", "second"] {
            service::comment::create(
                db,
                service::comment::NewComment {
                    ticket_id: ticket.id,
                    author_id: client,
                    body: body.into(),
                    is_internal: false,
                },
            )
            .await
            .expect("comment");
        }
    }
    let comments_of = |id| {
        comment::Entity::find()
            .filter(comment::Column::TicketId.eq(id))
            .count(db)
    };
    assert_eq!(comments_of(doomed.id).await.unwrap(), 2);

    service::ticket::purge(db, doomed.id).await.expect("purge");

    assert_eq!(comments_of(doomed.id).await.unwrap(), 0);
    assert_eq!(
        ticket_history::Entity::find()
            .filter(ticket_history::Column::TicketId.eq(doomed.id))
            .count(db)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        comments_of(kept.id).await.unwrap(),
        2,
        "other tickets keep theirs"
    );
    let again = service::ticket::purge(db, doomed.id)
        .await
        .expect_err("already gone");
    assert_eq!(again.code(), "NOT_FOUND");
}

#[tokio::test]
async fn a_comment_on_a_missing_ticket_is_not_found_not_a_crash() {
    let app = TestApp::spawn().await;
    let db = app.db();
    let (_, client) = organization_with_client(db, "Acme").await;
    let err = service::comment::create(
        db,
        service::comment::NewComment {
            ticket_id: uuid::Uuid::now_v7(),
            author_id: client,
            body: "hello".into(),
            is_internal: false,
        },
    )
    .await
    .expect_err("no such ticket");
    assert_eq!(err.code(), "NOT_FOUND", "{err}");
}

#[tokio::test]
async fn organization_names_are_unique_in_any_letter_case() {
    let app = TestApp::spawn().await;
    let db = app.db();
    organization_with_client(db, "Acme").await;
    let err = service::organization::create(
        db,
        service::organization::NewOrganization {
            name: "ACME".into(),
            ..Default::default()
        },
    )
    .await
    .expect_err("same name");
    assert_eq!(
        (err.code().as_str(), err.field()),
        ("CONFLICT", Some("name"))
    );
}
