use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use entity::{audit_log, refresh_token};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TEST_JWT_SECRET, TestApp, World, email_of, error_code};

const LOGIN: &str = "mutation($input: AuthLoginInput!) {
    authLogin(input: $input) { accessToken refreshToken accessTokenExpiresAt user { name role } }
}";
const REFRESH: &str = "mutation($token: String!) {
    authRefresh(input: { refreshToken: $token }) { accessToken refreshToken }
}";
const ME: &str = "{ me { name email } }";

async fn login(app: &TestApp, email: &str, password: &str) -> Value {
    app.graphql(
        LOGIN,
        json!({ "input": { "email": email, "password": password } }),
    )
    .await
}

async fn refresh(app: &TestApp, token: &str) -> Value {
    app.graphql(REFRESH, json!({ "token": token })).await
}

#[tokio::test]
async fn login_gives_tokens_that_identify_the_user() {
    let app = TestApp::spawn().await;
    World::build(app.db()).await;
    let response = login(&app, &email_of("agent_a").to_uppercase(), PASSWORD).await;
    let session = &response["data"]["authLogin"];
    assert_eq!(session["user"]["role"], "AGENT", "{response}");
    let token = session["accessToken"].as_str().expect("access token");
    let me = app.graphql_as(token, ME, json!({})).await;
    assert_eq!(me["data"]["me"]["name"], "agent_a", "{me}");
    assert_eq!(me["data"]["me"]["email"], email_of("agent_a"));

    // Without a token the API says who is missing, not what exists.
    let anonymous = app.graphql(ME, json!({})).await;
    assert_eq!(error_code(&anonymous), "UNAUTHENTICATED");
}

#[tokio::test]
async fn refresh_rotates_and_reusing_a_rotated_token_revokes_the_family() {
    let app = TestApp::spawn().await;
    World::build(app.db()).await;
    let first = login(&app, &email_of("client_a"), PASSWORD).await;
    let original = first["data"]["authLogin"]["refreshToken"]
        .as_str()
        .unwrap()
        .to_string();

    let rotated = refresh(&app, &original).await;
    let successor = rotated["data"]["authRefresh"]["refreshToken"]
        .as_str()
        .expect("rotated")
        .to_string();
    assert_ne!(successor, original);
    let access = rotated["data"]["authRefresh"]["accessToken"]
        .as_str()
        .unwrap();
    assert_eq!(
        app.graphql_as(access, ME, json!({})).await["data"]["me"]["name"],
        "client_a"
    );

    // The original again: a replay. It fails, and so does the successor from now on.
    let replay = refresh(&app, &original).await;
    assert_eq!(error_code(&replay), "UNAUTHENTICATED", "{replay}");
    let after_replay = refresh(&app, &successor).await;
    assert_eq!(
        error_code(&after_replay),
        "UNAUTHENTICATED",
        "{after_replay}"
    );

    let reuse_entries = audit_log::Entity::find()
        .filter(audit_log::Column::Action.eq("auth.refresh_reuse"))
        .count(app.db())
        .await
        .unwrap();
    assert_eq!(reuse_entries, 1);
}

#[tokio::test]
async fn concurrent_refreshes_of_one_token_yield_one_successor() {
    let app = TestApp::spawn().await;
    World::build(app.db()).await;
    let first = login(&app, &email_of("client_a"), PASSWORD).await;
    let token = first["data"]["authLogin"]["refreshToken"]
        .as_str()
        .unwrap()
        .to_string();
    let attempts = (0..8).map(|_| refresh(&app, &token));
    let results = futures_util::future::join_all(attempts).await;
    let succeeded = results
        .iter()
        .filter(|r| r["data"]["authRefresh"].is_object())
        .count();
    assert_eq!(succeeded, 1, "{results:?}");
    // The others presented a token that was already rotated: a replay. The first one seen is
    // audited and revokes the family, the fresh successor included; the rest find it revoked.
    for result in results
        .iter()
        .filter(|r| !r["data"]["authRefresh"].is_object())
    {
        assert_eq!(error_code(result), "UNAUTHENTICATED", "{result}");
    }
    let reuse = audit_log::Entity::find()
        .filter(audit_log::Column::Action.eq("auth.refresh_reuse"))
        .count(app.db())
        .await
        .unwrap();
    assert_eq!(reuse, 1);
    let live = refresh_token::Entity::find()
        .filter(refresh_token::Column::RevokedAt.is_null())
        .count(app.db())
        .await
        .unwrap();
    assert_eq!(live, 0, "no token of the family survives");
}

#[tokio::test]
async fn an_expired_token_in_the_header_does_not_stop_signing_in_again() {
    let app = TestApp::spawn().await;
    World::build(app.db()).await;
    let response = app
        .graphql_as(
            "expired.or.garbage",
            "mutation($e: String!, $p: String!) { authLogin(input: { email: $e, password: $p }) { accessToken user { email organizations { name } } } }",
            json!({ "e": email_of("client_a"), "p": PASSWORD }),
        )
        .await;
    assert!(response.get("errors").is_none(), "{response}");
    // The payload is answered as the user who just signed in.
    assert_eq!(
        response["data"]["authLogin"]["user"]["email"],
        email_of("client_a")
    );
    assert_eq!(
        response["data"]["authLogin"]["user"]["organizations"],
        json!([{ "name": "Org A" }])
    );
    // Fields that need a user still say why they cannot answer.
    let me = app.graphql_as("expired.or.garbage", ME, json!({})).await;
    assert_eq!(error_code(&me), "UNAUTHENTICATED");
}

#[tokio::test]
async fn a_locked_account_is_told_apart_only_with_the_right_password() {
    let app = TestApp::spawn().await;
    let world = World::build(app.db()).await;
    let admin = crate::helpers::actor_of(app.db(), world.admin).await;
    service::user::update_as(
        app.db(),
        &admin,
        world.client_a,
        service::user::UserChanges {
            lock: Some(Some("abuse".into())),
            ..Default::default()
        },
        &Default::default(),
    )
    .await
    .unwrap();
    let wrong = login(&app, &email_of("client_a"), "not the password").await;
    let unknown = login(&app, "nobody@world.example", "not the password").await;
    assert_eq!(
        wrong["errors"][0]["message"], unknown["errors"][0]["message"],
        "{wrong}"
    );
    let right = login(&app, &email_of("client_a"), PASSWORD).await;
    assert!(
        right["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("locked"),
        "{right}"
    );
}

#[tokio::test]
async fn unapproving_an_account_ends_its_sessions_at_once() {
    let app = TestApp::spawn().await;
    let world = World::build(app.db()).await;
    let token = app.login(&email_of("client_a"), PASSWORD).await;
    let admin = crate::helpers::actor_of(app.db(), world.admin).await;
    service::user::update_as(
        app.db(),
        &admin,
        world.client_a,
        service::user::UserChanges {
            approved: Some(false),
            ..Default::default()
        },
        &Default::default(),
    )
    .await
    .unwrap();
    let me = app.graphql_as(&token, ME, json!({})).await;
    assert_eq!(error_code(&me), "UNAUTHENTICATED", "{me}");
}

#[tokio::test]
async fn logout_revokes_the_session() {
    let app = TestApp::spawn().await;
    World::build(app.db()).await;
    let session = login(&app, &email_of("client_a"), PASSWORD).await;
    let token = session["data"]["authLogin"]["refreshToken"]
        .as_str()
        .unwrap()
        .to_string();
    let out = app
        .graphql(
            "mutation($t: String!) { authLogout(input: { refreshToken: $t }) { success } }",
            json!({ "t": token }),
        )
        .await;
    assert_eq!(out["data"]["authLogout"]["success"], true, "{out}");
    assert_eq!(error_code(&refresh(&app, &token).await), "UNAUTHENTICATED");
}

#[tokio::test]
async fn five_failures_lock_the_account_and_a_locked_user_is_refused() {
    let app = TestApp::spawn().await;
    World::build(app.db()).await;
    let email = email_of("agent_a");
    for attempt in 1..=5 {
        let response = login(&app, &email, "wrong password!").await;
        assert_eq!(
            error_code(&response),
            "UNAUTHENTICATED",
            "attempt {attempt}: {response}"
        );
    }
    let locked = login(&app, &email, PASSWORD).await;
    assert_eq!(error_code(&locked), "UNAUTHENTICATED", "{locked}");
    assert!(
        locked["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("locked"),
        "{locked}"
    );

    let count = |action: &'static str| {
        audit_log::Entity::find()
            .filter(audit_log::Column::Action.eq(action))
            .count(app.db())
    };
    assert_eq!(count("auth.login_failed").await.unwrap(), 5);
    assert_eq!(count("auth.lockout").await.unwrap(), 1);
    let entry = audit_log::Entity::find()
        .filter(audit_log::Column::Action.eq("auth.lockout"))
        .one(app.db())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(entry.ip_address.as_deref(), Some("127.0.0.1"));
}

#[tokio::test]
async fn unknown_email_and_wrong_password_are_indistinguishable() {
    let app = TestApp::spawn().await;
    World::build(app.db()).await;
    let unknown = login(&app, "nobody@world.example", PASSWORD).await;
    let wrong = login(&app, &email_of("client_a"), "not the password").await;
    assert_eq!(error_code(&unknown), "UNAUTHENTICATED");
    assert_eq!(
        unknown["errors"][0]["message"],
        wrong["errors"][0]["message"]
    );
}

fn token(claims: Value, key: &str) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(key.as_bytes()),
    )
    .expect("encode")
}

#[tokio::test]
async fn forged_expired_and_foreign_tokens_are_refused() {
    let app = TestApp::spawn().await;
    let world = World::build(app.db()).await;
    let now = chrono::Utc::now().timestamp();
    let claims = |iat: i64, exp: i64, iss: &str, aud: &str| {
        json!({
            "sub": world.admin, "role": "admin", "iat": iat, "nbf": iat, "exp": exp,
            "iss": iss, "aud": aud, "jti": uuid::Uuid::new_v4(),
        })
    };
    // The genuine article works, so the refusals below are about what was changed.
    let good = token(
        claims(now, now + 600, "helpdesk", "helpdesk-api"),
        TEST_JWT_SECRET,
    );
    assert_eq!(
        app.graphql_as(&good, ME, json!({})).await["data"]["me"]["name"],
        "admin"
    );

    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(claims(now, now + 600, "helpdesk", "helpdesk-api").to_string()),
    );
    let cases = [
        ("alg none", unsigned),
        (
            "wrong signature",
            token(
                claims(now, now + 600, "helpdesk", "helpdesk-api"),
                "another-key-that-is-also-32-bytes-long",
            ),
        ),
        (
            "expired",
            token(
                claims(now - 7200, now - 3600, "helpdesk", "helpdesk-api"),
                TEST_JWT_SECRET,
            ),
        ),
        (
            "wrong audience",
            token(
                claims(now, now + 600, "helpdesk", "someone-else"),
                TEST_JWT_SECRET,
            ),
        ),
        (
            "wrong issuer",
            token(
                claims(now, now + 600, "evil", "helpdesk-api"),
                TEST_JWT_SECRET,
            ),
        ),
        ("garbage", "not.a.token".to_string()),
    ];
    for (what, forged) in cases {
        let response = app.graphql_as(&forged, ME, json!({})).await;
        assert_eq!(
            error_code(&response),
            "UNAUTHENTICATED",
            "{what}: {response}"
        );
        assert!(response["data"].is_null(), "{what}: {response}");
    }
}
