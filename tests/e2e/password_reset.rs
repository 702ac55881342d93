//! Password reset by email, through a real SMTP server on loopback.

use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use serde_json::{Value, json};

use crate::helpers::*;
use crate::smtp::{Mail, SmtpSink};

const REQUEST: &str = "mutation($input: AuthPasswordResetRequestInput!) { authPasswordResetRequest(input: $input) { success userErrors { field code } } }";
const RESET: &str = "mutation($input: AuthPasswordResetInput!) { authPasswordReset(input: $input) { success userErrors { field code } } }";
const NEW_PASSWORD: &str = "a brand new passphrase";

async fn with_mail(sink: &SmtpSink) -> TestApp {
    let url = sink.url();
    TestApp::spawn_with(|settings| settings.mail.smtp_url = Some(url)).await
}

fn is_reset_to(mail: &Mail, who: &str) -> bool {
    mail.to.iter().any(|t| t.contains(&email_of(who)))
        && mail
            .header("Subject")
            .is_some_and(|s| s.contains("Reset your password"))
}

/// The token in a reset mail's link (the text part, quoted-printable undone).
fn token_of(mail: &Mail) -> String {
    let text = mail.data.replace("=\r\n", "").replace("=3D", "=");
    let at = text.find("password-reset?token=").expect("a link") + 21;
    let token: String = text[at..]
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .collect();
    assert_eq!(token.len(), 64, "{text}");
    token
}

async fn reset_mails_to(sink: &SmtpSink, who: &str) -> usize {
    sink.mails().iter().filter(|m| is_reset_to(m, who)).count()
}

#[tokio::test]
async fn a_mailed_link_sets_the_password_once_within_the_hour_and_ends_every_session() {
    let sink = SmtpSink::start().await;
    let app = with_mail(&sink).await;
    let world = World::build(app.db()).await;
    let before: Value = app
        .graphql(
            "mutation($input: AuthLoginInput!) { authLogin(input: $input) { accessToken refreshToken } }",
            json!({ "input": { "email": email_of("client_a"), "password": PASSWORD } }),
        )
        .await;
    let old_access = before["data"]["authLogin"]["accessToken"]
        .as_str()
        .unwrap()
        .to_string();
    let old_refresh = before["data"]["authLogin"]["refreshToken"].clone();

    // The same answer for an address of no account as for a real one; a link only for the
    // real one.
    let known = app
        .graphql(
            REQUEST,
            json!({ "input": { "email": email_of("client_a") } }),
        )
        .await;
    let unknown = app
        .graphql(
            REQUEST,
            json!({ "input": { "email": "nobody@world.example" } }),
        )
        .await;
    assert_eq!(known, unknown);
    assert_eq!(
        known,
        json!({ "data": { "authPasswordResetRequest": { "success": true, "userErrors": [] } } })
    );
    let links = entity::password_reset::Entity::find()
        .all(app.db())
        .await
        .unwrap();
    assert_eq!(links.len(), 1);
    assert_eq!(links[0].user_id, world.client_a);
    let mail = sink.wait_for_mail(|m| is_reset_to(m, "client_a")).await;
    let token = token_of(&mail);
    assert!(!links[0].token_hash.contains(&token), "stored hashed");

    // Opening the link shows a form and changes nothing.
    let page = app.get(&format!("/password-reset?token={token}")).await;
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("name=\"new_password\""));

    // A short password is refused and spends nothing; then the link works.
    let short = app
        .graphql(
            RESET,
            json!({ "input": { "token": token, "newPassword": "short" } }),
        )
        .await;
    assert_eq!(
        short["data"]["authPasswordReset"]["userErrors"],
        json!([{ "field": "newPassword", "code": "BAD_USER_INPUT" }])
    );
    let done = app
        .graphql(
            RESET,
            json!({ "input": { "token": token, "newPassword": NEW_PASSWORD } }),
        )
        .await;
    assert_eq!(done["data"]["authPasswordReset"]["success"], true, "{done}");
    // Every session from before has ended; the new password signs in, the old one not.
    let me = app
        .graphql_as(&old_access, "{ me { id } }", json!({}))
        .await;
    assert_eq!(error_code(&me), "UNAUTHENTICATED");
    let refreshed = app
        .graphql(
            "mutation($input: AuthRefreshInput!) { authRefresh(input: $input) { accessToken } }",
            json!({ "input": { "refreshToken": old_refresh } }),
        )
        .await;
    assert_eq!(error_code(&refreshed), "UNAUTHENTICATED");
    app.login(&email_of("client_a"), NEW_PASSWORD).await;
    let old = app
        .graphql(
            "mutation($input: AuthLoginInput!) { authLogin(input: $input) { accessToken } }",
            json!({ "input": { "email": email_of("client_a"), "password": PASSWORD } }),
        )
        .await;
    assert_eq!(error_code(&old), "UNAUTHENTICATED");
    // Once only.
    let again = app
        .graphql(
            RESET,
            json!({ "input": { "token": token, "newPassword": "yet another passphrase" } }),
        )
        .await;
    assert_eq!(
        again["data"]["authPasswordReset"]["userErrors"],
        json!([{ "field": "token", "code": "BAD_USER_INPUT" }])
    );

    // A link past its hour works no more.
    app.graphql(
        REQUEST,
        json!({ "input": { "email": email_of("client_a") } }),
    )
    .await;
    let late = sink
        .wait_for_mail(|m| is_reset_to(m, "client_a") && token_of(m) != token)
        .await;
    let late_token = token_of(&late);
    let row = entity::password_reset::Entity::find()
        .filter(entity::password_reset::Column::UsedAt.is_null())
        .one(app.db())
        .await
        .unwrap()
        .unwrap();
    let mut expired: entity::password_reset::ActiveModel = row.into();
    expired.expires_at = Set(chrono::Utc::now() - chrono::Duration::seconds(1));
    expired.update(app.db()).await.unwrap();
    let refused = app
        .graphql(
            RESET,
            json!({ "input": { "token": late_token, "newPassword": "too late a passphrase" } }),
        )
        .await;
    assert_eq!(
        refused["data"]["authPasswordReset"]["userErrors"],
        json!([{ "field": "token", "code": "BAD_USER_INPUT" }])
    );

    // The server's own page sets it too.
    app.graphql(
        REQUEST,
        json!({ "input": { "email": email_of("client_a") } }),
    )
    .await;
    let third = sink
        .wait_for_mail(|m| {
            is_reset_to(m, "client_a") && token_of(m) != token && token_of(m) != late_token
        })
        .await;
    let posted = app
        .client
        .post(format!("{}/password-reset", app.address))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "token={}&new_password=set+on+the+page+itself",
            token_of(&third)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 200);
    app.login(&email_of("client_a"), "set on the page itself")
        .await;
    // One mail per request for the real address, none for the other.
    assert_eq!(reset_mails_to(&sink, "client_a").await, 3);
    assert!(
        sink.mails()
            .iter()
            .all(|m| !m.to.iter().any(|t| t.contains("nobody@"))),
    );
    let audited = entity::audit_log::Entity::find()
        .filter(entity::audit_log::Column::Action.eq("auth.password_reset"))
        .all(app.db())
        .await
        .unwrap();
    assert_eq!(audited.len(), 2);
}

#[tokio::test]
async fn requests_are_throttled_alike_for_every_address_and_administrators_may_send_a_link() {
    let sink = SmtpSink::start().await;
    let url = sink.url();
    let app = TestApp::spawn_with(|settings| {
        settings.mail.smtp_url = Some(url);
        settings.auth.login_rate_per_account = 2;
    })
    .await;
    let world = World::build(app.db()).await;
    for email in [email_of("client_b"), "nobody@world.example".to_string()] {
        let mut codes = Vec::new();
        for _ in 0..3 {
            let answer = app
                .graphql(REQUEST, json!({ "input": { "email": email } }))
                .await;
            codes.push(if answer["errors"].is_null() {
                "OK".to_string()
            } else {
                error_code(&answer).to_string()
            });
        }
        assert_eq!(codes, ["OK", "OK", "RATE_LIMITED"], "{email}");
    }

    const SEND: &str = "mutation($input: UserPasswordResetSendInput!) { userPasswordResetSend(input: $input) { success userErrors { field code } } }";
    let input = json!({ "input": { "userId": gid("User", world.agent_a) } });
    let agent = app.login(&email_of("agent_b"), PASSWORD).await;
    let refused = app.graphql_as(&agent, SEND, input.clone()).await;
    assert_eq!(error_code(&refused), "FORBIDDEN");
    let admin = app.login(&email_of("admin"), PASSWORD).await;
    let sent = app.graphql_as(&admin, SEND, input).await;
    assert_eq!(
        sent["data"]["userPasswordResetSend"]["success"], true,
        "{sent}"
    );
    let mail = sink.wait_for_mail(|m| is_reset_to(m, "agent_a")).await;
    let done = app
        .graphql(
            RESET,
            json!({ "input": { "token": token_of(&mail), "newPassword": NEW_PASSWORD } }),
        )
        .await;
    assert_eq!(done["data"]["authPasswordReset"]["success"], true, "{done}");
}
