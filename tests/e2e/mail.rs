//! Notices by email through a real SMTP server on loopback.

use entity::enums::{NotificationChannel, NotificationStatus};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};

use crate::helpers::*;
use crate::smtp::SmtpSink;

async fn with_mail(sink: &SmtpSink) -> TestApp {
    let url = sink.url();
    TestApp::spawn_with(|settings| settings.mail.smtp_url = Some(url)).await
}

/// Waits until no mail is waiting for its first attempt (the mailer has had its go at each).
async fn first_attempts_made(app: &TestApp) {
    app.published().await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let waiting = entity::notification::Entity::find()
            .filter(entity::notification::Column::Channel.eq(NotificationChannel::Email))
            .filter(entity::notification::Column::Status.eq(NotificationStatus::Pending))
            .filter(entity::notification::Column::Attempts.eq(0))
            .count(app.db())
            .await
            .unwrap();
        if waiting == 0 {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{waiting} mail(s) never tried"
        );
        // Polled: the mailer works in the background.
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

fn to(mail: &crate::smtp::Mail, user: &str) -> bool {
    mail.to.iter().any(|t| t.contains(&email_of(user)))
}

#[tokio::test]
async fn a_public_reply_mails_the_requester_once_in_the_tickets_thread_and_nobody_else() {
    let sink = SmtpSink::start().await;
    let app = with_mail(&sink).await;
    let world = World::build(app.db()).await;
    let agent = app.login(&email_of("agent_a"), PASSWORD).await;
    let ticket = gid("Ticket", world.ticket_a);
    first_attempts_made(&app).await;
    let before = sink.mails().len();
    app.comment_as(&agent, &ticket, "We replaced the toner.", false)
        .await;
    app.comment_as(&agent, &ticket, "Internal: billed to their account.", true)
        .await;
    sink.wait_for(before + 1).await;
    first_attempts_made(&app).await;
    let mails = sink.mails()[before..].to_vec();
    assert_eq!(mails.len(), 1, "{mails:?}");
    let mail = &mails[0];
    assert!(to(mail, "client_a"), "{mail:?}");
    assert!(mail.from.contains("helpdesk@localhost"), "{mail:?}");
    let subject = mail.header("Subject").unwrap();
    assert!(
        subject.starts_with("[HD-") && subject.contains("New reply"),
        "{subject}"
    );
    let thread = format!("<ticket-{}@helpdesk>", world.ticket_a);
    assert_eq!(mail.header("In-Reply-To").as_deref(), Some(thread.as_str()));
    assert_eq!(mail.header("References").as_deref(), Some(thread.as_str()));
    assert!(
        mail.header("Message-ID")
            .is_some_and(|id| id.starts_with("<notification-") && id.ends_with("@helpdesk>"))
    );
    assert!(mail.data.contains("We replaced the toner."));
    assert!(!mail.data.contains("billed to their account"));
    // No mail to the agent of their own reply, none to anyone of the note.
    assert!(sink.mails()[before..].iter().all(|m| !to(m, "agent_a")));

    // The one-click unsubscribe link turns replies by email off, without signing in; opening
    // it (as a mail scanner would) changes nothing.
    assert_eq!(
        mail.header("List-Unsubscribe-Post").as_deref(),
        Some("List-Unsubscribe=One-Click")
    );
    let link = mail.header("List-Unsubscribe").unwrap();
    let path = link
        .trim_matches(['<', '>'])
        .split_once("/notifications/unsubscribe/")
        .map(|(_, token)| format!("/notifications/unsubscribe/{token}"))
        .unwrap_or_else(|| panic!("{link}"));
    let client = app.login(&email_of("client_a"), PASSWORD).await;
    let hears = || async {
        let listed = app
            .graphql_as(
                &client,
                "{ me { notificationPreferences { kind channel enabled } } }",
                serde_json::json!({}),
            )
            .await;
        listed["data"]["me"]["notificationPreferences"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!({ "kind": "REPLY", "channel": "EMAIL", "enabled": true }))
    };
    let page = app.get(&path).await;
    assert_eq!(page.status(), 200);
    assert!(
        page.text()
            .await
            .unwrap()
            .contains("<form method=\"post\">")
    );
    assert!(hears().await);
    let forged = app
        .client
        .post(format!(
            "{}/notifications/unsubscribe/{}",
            app.address,
            "x".repeat(80)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 404);
    let done = app
        .client
        .post(format!("{}{path}", app.address))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 200);
    assert!(!hears().await);
    let count = sink.mails().len();
    app.comment_as(&agent, &ticket, "And the drum too.", false)
        .await;
    first_attempts_made(&app).await;
    assert_eq!(sink.mails().len(), count, "no mail after unsubscribing");
}

#[tokio::test]
async fn a_refused_mail_is_retried_on_its_schedule_then_sent_or_given_up() {
    let sink = SmtpSink::start().await;
    let app = with_mail(&sink).await;
    let world = World::build(app.db()).await;
    let agent = app.login(&email_of("agent_a"), PASSWORD).await;
    first_attempts_made(&app).await;
    let mailer = app.state.mailer().expect("a mailer").clone();
    let reply_to_client = || async {
        entity::notification::Entity::find()
            .filter(entity::notification::Column::Channel.eq(NotificationChannel::Email))
            .filter(entity::notification::Column::UserId.eq(world.client_a))
            .all(app.db())
            .await
            .unwrap()
    };

    // Refused twice, then taken: three attempts, each when the last one's wait is over.
    sink.refuse_next(2);
    let before = sink.mails().len();
    app.comment_as(
        &agent,
        &gid("Ticket", world.ticket_a),
        "First answer.",
        false,
    )
    .await;
    first_attempts_made(&app).await;
    let notice = reply_to_client().await.remove(0);
    assert_eq!(
        (notice.status, notice.attempts),
        (NotificationStatus::Pending, 1)
    );
    let wait = notice.next_attempt_at.unwrap() - chrono::Utc::now();
    assert!(
        wait >= chrono::Duration::seconds(50) && wait <= chrono::Duration::seconds(75),
        "the second attempt waits a minute or so: {wait}"
    );
    // Not due yet: nothing happens.
    let now = chrono::Utc::now();
    let round = service::notification::mail::send_due(app.db(), &mailer, now, 10)
        .await
        .unwrap();
    assert_eq!(round.sent + round.retrying, 0);
    let later = notice.next_attempt_at.unwrap();
    let round = service::notification::mail::send_due(app.db(), &mailer, later, 10)
        .await
        .unwrap();
    assert_eq!(round.retrying, 1);
    let notice = reply_to_client().await.remove(0);
    assert_eq!(notice.attempts, 2);
    assert!(
        notice
            .last_error
            .as_deref()
            .unwrap_or_default()
            .contains("451"),
        "{notice:?}"
    );
    let round = service::notification::mail::send_due(
        app.db(),
        &mailer,
        notice.next_attempt_at.unwrap(),
        10,
    )
    .await
    .unwrap();
    assert_eq!(round.sent, 1);
    let notice = reply_to_client().await.remove(0);
    assert_eq!(
        (notice.status, notice.attempts),
        (NotificationStatus::Sent, 3)
    );
    assert_eq!(sink.mails().len(), before + 1, "sent once");

    // Refused every time: given up after the maximum, with the reason kept.
    sink.refuse_next(1000);
    app.comment_as(
        &agent,
        &gid("Ticket", world.ticket_a),
        "Second answer.",
        false,
    )
    .await;
    first_attempts_made(&app).await;
    let mut at = chrono::Utc::now();
    for _ in 0..service::notification::mail::MAX_ATTEMPTS + 2 {
        at += chrono::Duration::hours(2);
        service::notification::mail::send_due(app.db(), &mailer, at, 10)
            .await
            .unwrap();
    }
    let given_up: Vec<_> = reply_to_client()
        .await
        .into_iter()
        .filter(|n| n.status == NotificationStatus::Failed)
        .collect();
    assert_eq!(given_up.len(), 1);
    assert_eq!(
        given_up[0].attempts,
        service::notification::mail::MAX_ATTEMPTS
    );
    assert_eq!(sink.mails().len(), before + 1, "nothing more was sent");

    // Administrators see it, with its attempts and the reason; nobody else does.
    let admin = app.login(&email_of("admin"), PASSWORD).await;
    let query = "{ notificationDeliveries(status: FAILED) { nodes { status attempts lastError nextAttemptAt recipient { name } } } }";
    let listed = app.graphql_as(&admin, query, serde_json::json!({})).await;
    let nodes = listed["data"]["notificationDeliveries"]["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("{listed}"))
        .clone();
    assert_eq!(nodes.len(), 1, "{listed}");
    assert_eq!(
        nodes[0]["attempts"],
        service::notification::mail::MAX_ATTEMPTS
    );
    assert_eq!(nodes[0]["recipient"]["name"], "client_a");
    assert!(nodes[0]["lastError"].as_str().unwrap().contains("451"));
    assert!(nodes[0]["nextAttemptAt"].is_null());
    let refused = app.graphql_as(&agent, query, serde_json::json!({})).await;
    assert_eq!(error_code(&refused), "FORBIDDEN", "{refused}");
}

/// The email notices not sent yet.
async fn unsent(db: &sea_orm::DatabaseConnection) -> Vec<entity::notification::Model> {
    entity::notification::Entity::find()
        .filter(entity::notification::Column::Channel.eq(NotificationChannel::Email))
        .filter(entity::notification::Column::Status.eq(NotificationStatus::Pending))
        .all(db)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_mail_cut_short_by_a_crash_is_sent_once_after_the_restart_with_its_message_id() {
    let database = TestDatabase::create().await;
    let db = database.connect().await;
    api::startup::apply_migrations(&db).await.unwrap();
    let world = World::build(&db).await;
    let sink = SmtpSink::start().await;
    let start = || {
        let mut command = helpdesk(&database);
        command
            .args(["serve", "--no-demo"])
            .env("HELPDESK_ADDR", "127.0.0.1:0")
            .env("HELPDESK_SMTP_URL", sink.url())
            .env("HELPDESK_SMTP_TIMEOUT", "8");
        RunningServer::start(command)
    };
    let mut first = start().await;
    // The notices of the world's tickets go out first.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while !unsent(&db).await.is_empty() || {
        use sea_orm::PaginatorTrait;
        entity::outbox_event::Entity::find()
            .filter(entity::outbox_event::Column::PublishedAt.is_null())
            .count(&db)
            .await
            .unwrap()
            > 0
    } {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the first mails never went out"
        );
        // Polled: the server works on its own.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let before = sink.mails().len();

    let token = login_at(&first.address, "agent_a").await;
    // The SMTP server falls silent at the reply's mail: the server is killed mid-conversation.
    sink.hang_next(1);
    comment_at(
        &first.address,
        &token,
        world.ticket_a,
        "Sent before the crash",
    )
    .await;
    sink.wait_for_held(1).await;
    first.child.start_kill().unwrap();
    first.child.wait().await.unwrap();
    let cut_short = unsent(&db).await;
    assert_eq!(cut_short.len(), 1, "{cut_short:?}");
    let notice = cut_short[0].clone();
    assert_eq!(notice.user_id, world.client_a);
    assert_eq!(
        sink.mails().len(),
        before,
        "nothing was taken before the crash"
    );

    // The restarted server sends it once the dead one's hold lapses: once, as the same message.
    let second = start().await;
    sink.wait_for(before + 1).await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let row = entity::notification::Entity::find_by_id(notice.id)
            .one(&db)
            .await
            .unwrap()
            .unwrap();
        if row.status == NotificationStatus::Sent {
            assert_eq!(row.attempts, 1, "{row:?}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{row:?}");
        // Polled: the mark follows the SMTP answer.
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let mails = sink.mails()[before..].to_vec();
    let of_notice: Vec<_> = mails
        .iter()
        .filter(|m| {
            m.header("Message-ID").as_deref()
                == Some(service::notification::mail::message_id(notice.id).as_str())
        })
        .collect();
    assert_eq!(of_notice.len(), 1, "{mails:?}");
    assert!(of_notice[0].data.contains("Sent before the crash"));
    assert!(to(of_notice[0], "client_a"));
    assert_eq!(mails.len(), 1, "no other mail: {mails:?}");
    assert!(second.terminate().await.success());
}

#[tokio::test]
async fn a_recipient_refused_for_good_fails_at_once_and_holds_back_no_one_else() {
    let sink = SmtpSink::start().await;
    let app = with_mail(&sink).await;
    let world = World::build(app.db()).await;
    first_attempts_made(&app).await;
    let before = sink.mails().len();
    // client_a's mailbox does not exist; client_b's does.
    sink.reject_recipient(&email_of("client_a"));
    let agent_a = app.login(&email_of("agent_a"), PASSWORD).await;
    let agent_b = app.login(&email_of("agent_b"), PASSWORD).await;
    app.comment_as(&agent_a, &gid("Ticket", world.ticket_a), "To A.", false)
        .await;
    app.comment_as(&agent_b, &gid("Ticket", world.ticket_b), "To B.", false)
        .await;
    first_attempts_made(&app).await;
    let mails = sink.wait_for(before + 1).await[before..].to_vec();
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert!(to(&mails[0], "client_b"));
    let refused = entity::notification::Entity::find()
        .filter(entity::notification::Column::Channel.eq(NotificationChannel::Email))
        .filter(entity::notification::Column::UserId.eq(world.client_a))
        .all(app.db())
        .await
        .unwrap();
    assert_eq!(refused.len(), 1);
    assert_eq!(
        (refused[0].status, refused[0].attempts),
        (NotificationStatus::Failed, 1),
        "a permanent refusal is not tried again: {refused:?}"
    );
    assert!(
        refused[0]
            .last_error
            .as_deref()
            .unwrap_or_default()
            .contains("550"),
        "{refused:?}"
    );
}
