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
            "mutation($e: String!, $p: String!) { authLogin(input: { email: $e, password: $p }) { accessToken user { email organizations { nodes { name } } } } }",
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
        response["data"]["authLogin"]["user"]["organizations"]["nodes"],
        json!([{ "name": "Org A" }])
    );
    // Fields that need a user still say why they cannot answer.
    let me = app.graphql_as("expired.or.garbage", ME, json!({})).await;
    assert_eq!(error_code(&me), "UNAUTHENTICATED");
}

#[tokio::test]
async fn during_a_lock_right_and_wrong_passwords_get_the_same_answer_and_count_nothing() {
    let app = TestApp::spawn().await;
    World::build(app.db()).await;
    let email = email_of("client_a");
    for _ in 1..=5 {
        login(&app, &email, "not the password").await;
    }
    let failures_at_lock = failed_logins(&app, &email).await;
    let wrong = login(&app, &email, "not the password").await;
    let right = login(&app, &email, PASSWORD).await;
    let unknown = login(&app, "nobody@world.example", "not the password").await;
    assert_eq!(error_code(&right), "UNAUTHENTICATED", "{right}");
    assert_eq!(
        right, wrong,
        "the right password is told apart during a lock"
    );
    assert_eq!(right, unknown);
    // No guess during the lock was checked, so none was counted.
    assert_eq!(failed_logins(&app, &email).await, failures_at_lock);
}

async fn failed_logins(app: &TestApp, email: &str) -> i32 {
    entity::user::Entity::find()
        .filter(entity::user::Column::Email.eq(email))
        .one(app.db())
        .await
        .unwrap()
        .unwrap()
        .failed_login_count
}

#[tokio::test]
async fn guesses_over_the_account_and_address_limits_are_rate_limited_before_any_hashing() {
    let app = TestApp::spawn_with(|s| {
        s.auth.login_rate_per_account = 3;
        s.auth.login_rate_per_address = 5;
        s.auth.lockout_threshold = 100;
    })
    .await;
    World::build(app.db()).await;
    let email = email_of("agent_a");
    for attempt in 1..=3 {
        let response = login(&app, &email, "wrong password!").await;
        assert_eq!(
            error_code(&response),
            "UNAUTHENTICATED",
            "attempt {attempt}"
        );
    }
    let limited = login(&app, &email, PASSWORD).await;
    assert_eq!(error_code(&limited), "RATE_LIMITED", "{limited}");
    let wait = limited["errors"][0]["extensions"]["retryAfterSeconds"]
        .as_u64()
        .unwrap_or_else(|| panic!("no retryAfterSeconds in {limited}"));
    assert!((1..=60).contains(&wait), "{wait}");
    // Refused before the password was checked: the attempt was not counted as a failure.
    assert_eq!(failed_logins(&app, &email).await, 3);

    // The address counted every attempt, the refused one too: one check is left, then every
    // account is refused from it.
    let response = login(&app, &email_of("agent_b"), "wrong password!").await;
    assert_eq!(error_code(&response), "UNAUTHENTICATED", "{response}");
    let limited = login(&app, &email_of("admin"), PASSWORD).await;
    assert_eq!(error_code(&limited), "RATE_LIMITED", "{limited}");
    let refresh = refresh(&app, "not-a-token").await;
    assert_eq!(error_code(&refresh), "RATE_LIMITED", "{refresh}");
}

#[tokio::test]
async fn a_request_with_two_credential_checks_is_refused_before_any_password_is_hashed() {
    let app = TestApp::spawn().await;
    World::build(app.db()).await;
    let email = email_of("agent_a");
    let input = json!({ "email": email, "password": "wrong password!" });
    let aliases = format!(
        "mutation($i: AuthLoginInput!) {{ {} }}",
        (0..101)
            .map(|n| format!("a{n}: authLogin(input: $i) {{ accessToken }}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let fragments = "mutation($i: AuthLoginInput!) { ...Twice }
        fragment Twice on Mutation { a: authLogin(input: $i) { accessToken } ...Once }
        fragment Once on Mutation { b: authRefresh(input: { refreshToken: \"x\" }) { accessToken } }";
    let repeated = "mutation($i: AuthLoginInput!) { ...L ...L }
        fragment L on Mutation { authLogin(input: $i) { accessToken } }";
    let one = json!({ "query": LOGIN, "variables": { "input": input } });
    let bodies = [
        json!([one, one]),
        json!({ "query": aliases, "variables": { "i": input } }),
        json!({ "query": fragments, "variables": { "i": input } }),
        json!({ "query": repeated, "variables": { "i": input } }),
        json!([one, { "query": "mutation { userPasswordChange(input: { currentPassword: \"a\", newPassword: \"bbbbbbbbbbbb\" }) { success } }" }]),
    ];
    for body in bodies {
        let response = app
            .client
            .post(format!("{}/graphql", app.address))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400);
        let answer: Value = response.json().await.unwrap();
        assert_eq!(error_code(&answer), "CREDENTIAL_LIMIT", "{answer}");
    }
    // Nothing was checked: no failure counted, no audit row.
    assert_eq!(failed_logins(&app, &email).await, 0);
    let audited = audit_log::Entity::find()
        .filter(audit_log::Column::Action.eq("auth.login_failed"))
        .count(app.db())
        .await
        .unwrap();
    assert_eq!(audited, 0);
    // One check per request still works.
    let single = login(&app, &email, PASSWORD).await;
    assert!(
        single["data"]["authLogin"]["accessToken"].is_string(),
        "{single}"
    );
}

#[tokio::test]
async fn guessing_the_current_password_with_a_stolen_token_locks_the_account() {
    let app = TestApp::spawn().await;
    World::build(app.db()).await;
    let email = email_of("agent_a");
    let token = app.login(&email, PASSWORD).await;
    let change = "mutation($current: String!) {
        userPasswordChange(input: { currentPassword: $current, newPassword: \"a brand new password\" }) {
            success userErrors { field code }
        }
    }";
    for attempt in 1..=5 {
        let response = app
            .graphql_as(
                &token,
                change,
                json!({ "current": format!("guess {attempt}") }),
            )
            .await;
        assert_eq!(
            response["data"]["userPasswordChange"]["userErrors"][0]["field"], "currentPassword",
            "attempt {attempt}: {response}"
        );
    }
    let user = entity::user::Entity::find()
        .filter(entity::user::Column::Email.eq(email.as_str()))
        .one(app.db())
        .await
        .unwrap()
        .unwrap();
    assert!(user.is_locked, "five wrong guesses lock the account");
    // The stolen token is useless while the account is locked, and so is the right password.
    let next = app
        .graphql_as(&token, change, json!({ "current": PASSWORD }))
        .await;
    assert_eq!(error_code(&next), "UNAUTHENTICATED", "{next}");
    let me = app.graphql_as(&token, ME, json!({})).await;
    assert_eq!(error_code(&me), "UNAUTHENTICATED", "{me}");
}

#[tokio::test]
async fn a_password_change_ends_every_session_at_once() {
    let app = TestApp::spawn().await;
    World::build(app.db()).await;
    let email = email_of("agent_a");
    let first = app.login(&email, PASSWORD).await;
    let second = app.login(&email, PASSWORD).await;
    app.change_password(&first, "a brand new password").await;
    for token in [&first, &second] {
        let me = app.graphql_as(token, ME, json!({})).await;
        assert_eq!(error_code(&me), "UNAUTHENTICATED", "{me}");
    }
    let fresh = app.login(&email, "a brand new password").await;
    let me = app.graphql_as(&fresh, ME, json!({})).await;
    assert_eq!(me["data"]["me"]["email"], email.as_str(), "{me}");
}

#[tokio::test]
async fn a_role_change_ends_the_sessions_of_that_user_only() {
    let app = TestApp::spawn().await;
    let world = World::build(app.db()).await;
    let agent = app.login(&email_of("agent_a"), PASSWORD).await;
    let other = app.login(&email_of("agent_b"), PASSWORD).await;
    let admin = app.login(&email_of("admin"), PASSWORD).await;
    let demoted = app
        .graphql_as(
            &admin,
            "mutation($id: ID!) { userUpdate(input: { id: $id, role: CLIENT }) { user { role } userErrors { code } } }",
            json!({ "id": crate::helpers::gid("User", world.agent_a) }),
        )
        .await;
    assert_eq!(
        demoted["data"]["userUpdate"]["user"]["role"], "CLIENT",
        "{demoted}"
    );
    let me = app.graphql_as(&agent, ME, json!({})).await;
    assert_eq!(error_code(&me), "UNAUTHENTICATED", "{me}");
    let me = app.graphql_as(&other, ME, json!({})).await;
    assert!(me["data"]["me"]["name"].is_string(), "{me}");
}

#[tokio::test]
async fn a_sign_in_ends_after_its_maximum_age_however_often_it_is_refreshed() {
    let app = TestApp::spawn().await;
    let world = World::build(app.db()).await;
    let session = login(&app, &email_of("client_a"), PASSWORD).await;
    let token = session["data"]["authLogin"]["refreshToken"]
        .as_str()
        .unwrap()
        .to_string();
    let renewed = refresh(&app, &token).await;
    let token = renewed["data"]["authRefresh"]["refreshToken"]
        .as_str()
        .unwrap_or_else(|| panic!("{renewed}"))
        .to_string();
    // The login happened 91 days ago (the default maximum is 90): the family id, a UUIDv7
    // made at sign-in, says so. The tokens themselves are still within their own lifetime,
    // and the login's own row may long be gone (retention deletes expired tokens).
    use sea_orm::sea_query::Expr;
    let then = (chrono::Utc::now() - chrono::Duration::days(91)).timestamp() as u64;
    let old_family = uuid::Uuid::new_v7(uuid::Timestamp::from_unix(uuid::NoContext, then, 0));
    refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::FamilyId, Expr::value(old_family))
        .filter(refresh_token::Column::UserId.eq(world.client_a))
        .exec(app.db())
        .await
        .unwrap();
    refresh_token::Entity::delete_many()
        .filter(refresh_token::Column::UserId.eq(world.client_a))
        .filter(refresh_token::Column::ParentId.is_null())
        .exec(app.db())
        .await
        .unwrap();
    let refused = refresh(&app, &token).await;
    assert_eq!(error_code(&refused), "UNAUTHENTICATED", "{refused}");
    assert!(
        refused["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("maximum age"),
        "{refused}"
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
    assert!(locked["data"].is_null(), "{locked}");

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
