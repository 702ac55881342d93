//! Two-factor sign-in over the real API, with codes computed here from the secret by an
//! RFC 6238 implementation of the tests' own (HMAC-SHA-1 over the time step), not the
//! server's library.

use hmac::{KeyInit, Mac};
use serde_json::{Value, json};

use crate::helpers::*;

/// Decodes RFC 4648 base32 (no padding), as authenticator apps read the secret.
fn base32_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut bits, mut value, mut out) = (0u32, 0u32, Vec::new());
    for c in text.trim_end_matches('=').bytes() {
        let index = ALPHABET
            .iter()
            .position(|a| *a == c.to_ascii_uppercase())
            .expect("a base32 character") as u32;
        value = (value << 5) | index;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((value >> bits) as u8);
            value &= (1 << bits) - 1;
        }
    }
    out
}

/// The six-digit code of `secret` for the 30-second step `step` (RFC 6238 / RFC 4226).
fn code(secret: &[u8], step: i64) -> String {
    let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(secret).unwrap();
    mac.update(&step.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = (digest[19] & 0x0f) as usize;
    let value = u32::from_be_bytes([
        digest[offset] & 0x7f,
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ]);
    format!("{:06}", value % 1_000_000)
}

fn step_now() -> i64 {
    chrono::Utc::now().timestamp().div_euclid(30)
}

/// The secret of an enrolment, read from its `otpauth://` URI as an authenticator app would.
fn secret_of(enrollment: &Value) -> Vec<u8> {
    let uri = url::Url::parse(enrollment["otpauthUri"].as_str().unwrap()).unwrap();
    assert_eq!(uri.scheme(), "otpauth");
    assert_eq!(uri.host_str(), Some("totp"));
    let secret = uri
        .query_pairs()
        .find(|(k, _)| k == "secret")
        .map(|(_, v)| v.to_string())
        .expect("a secret");
    assert_eq!(secret, enrollment["secret"].as_str().unwrap());
    assert!(
        uri.query_pairs()
            .any(|(k, v)| k == "issuer" && v == "Helpdesk")
    );
    base32_decode(&secret)
}

const BEGIN: &str = "mutation($input: TwoFactorEnrollBeginInput) { twoFactorEnrollBegin(input: $input) { secret otpauthUri qrCodeSvg userErrors { field code } } }";
const CONFIRM: &str = "mutation($input: TwoFactorEnrollConfirmInput!) { twoFactorEnrollConfirm(input: $input) { recoveryCodes session { accessToken user { id } } userErrors { field code } } }";
const LOGIN: &str = "mutation($input: AuthLoginInput!) { authLogin(input: $input) { accessToken refreshToken user { id } secondFactorRequired enrollmentRequired challenge challengeExpiresAt } }";
const SECOND: &str = "mutation($input: AuthSecondFactorInput!) { authSecondFactor(input: $input) { accessToken refreshToken user { id } } }";
const STATUS: &str = "{ me { twoFactor { enabled confirmedAt recoveryCodesLeft } } }";

async fn login(app: &TestApp, who: &str) -> Value {
    let answer = app
        .graphql(
            LOGIN,
            json!({ "input": { "email": email_of(who), "password": PASSWORD } }),
        )
        .await;
    assert!(answer["errors"].is_null(), "{answer}");
    answer["data"]["authLogin"].clone()
}

async fn second_factor(app: &TestApp, challenge: &Value, proof: Value) -> Value {
    let mut input = proof;
    input["challenge"] = challenge.clone();
    app.graphql(SECOND, json!({ "input": input })).await
}

/// Enrols `token`'s user; returns the secret and the recovery codes.
pub async fn enrol(app: &TestApp, token: &str) -> (Vec<u8>, Vec<String>) {
    let begun = app.graphql_as(token, BEGIN, json!({})).await;
    let enrollment = &begun["data"]["twoFactorEnrollBegin"];
    assert_eq!(enrollment["userErrors"], json!([]), "{begun}");
    let secret = secret_of(enrollment);
    let confirmed = app
        .graphql_as(
            token,
            CONFIRM,
            json!({ "input": { "code": code(&secret, step_now()) } }),
        )
        .await;
    let codes: Vec<String> = confirmed["data"]["twoFactorEnrollConfirm"]["recoveryCodes"]
        .as_array()
        .unwrap_or_else(|| panic!("{confirmed}"))
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    (secret, codes)
}

#[tokio::test]
async fn totp_enrolment_then_two_step_sign_in_where_no_code_works_twice_and_bad_codes_lock() {
    let app = TestApp::spawn().await;
    let world = World::build(app.db()).await;
    let token = app.login(&email_of("agent_a"), PASSWORD).await;

    // Begun, not on yet: sign-in does not ask for it.
    let begun = app.graphql_as(&token, BEGIN, json!({})).await;
    let enrollment = &begun["data"]["twoFactorEnrollBegin"];
    assert!(
        enrollment["qrCodeSvg"].as_str().unwrap().contains("<svg"),
        "{begun}"
    );
    let secret = secret_of(enrollment);
    let status = app.graphql_as(&token, STATUS, json!({})).await;
    assert_eq!(status["data"]["me"]["twoFactor"]["enabled"], false);
    assert!(login(&app, "agent_a").await["accessToken"].is_string());
    // The secret is sealed at rest.
    let stored = <entity::second_factor::Entity as sea_orm::EntityTrait>::find_by_id(world.agent_a)
        .one(app.db())
        .await
        .unwrap()
        .unwrap();
    assert!(
        !stored
            .secret
            .contains(enrollment["secret"].as_str().unwrap())
    );

    // A wrong code confirms nothing; the current one turns it on, with ten recovery codes.
    let step = step_now();
    let wrong = if code(&secret, step) == "000000" {
        "111111"
    } else {
        "000000"
    };
    let refused = app
        .graphql_as(&token, CONFIRM, json!({ "input": { "code": wrong } }))
        .await;
    assert_eq!(
        refused["data"]["twoFactorEnrollConfirm"]["userErrors"],
        json!([{ "field": "code", "code": "BAD_USER_INPUT" }])
    );
    let confirmed = app
        .graphql_as(
            &token,
            CONFIRM,
            json!({ "input": { "code": code(&secret, step) } }),
        )
        .await;
    let recovery: Vec<String> = confirmed["data"]["twoFactorEnrollConfirm"]["recoveryCodes"]
        .as_array()
        .unwrap_or_else(|| panic!("{confirmed}"))
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    assert_eq!(recovery.len(), 10);
    let mut distinct = recovery.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 10);
    let status = app.graphql_as(&token, STATUS, json!({})).await;
    assert_eq!(status["data"]["me"]["twoFactor"]["enabled"], true);
    assert_eq!(status["data"]["me"]["twoFactor"]["recoveryCodesLeft"], 10);

    // Sign-in is two steps now: the password gives a challenge, not tokens.
    let first = login(&app, "agent_a").await;
    assert_eq!(first["secondFactorRequired"], true);
    assert_eq!(first["enrollmentRequired"], false);
    assert!(first["accessToken"].is_null() && first["refreshToken"].is_null());
    let challenge = first["challenge"].clone();
    // The code that confirmed the enrolment was spent: it works no more.
    let replayed = second_factor(&app, &challenge, json!({ "code": code(&secret, step) })).await;
    assert_eq!(error_code(&replayed), "UNAUTHENTICATED", "{replayed}");
    // The next step's code (within the allowed skew) signs in.
    let signed_in =
        second_factor(&app, &challenge, json!({ "code": code(&secret, step + 1) })).await;
    let access = signed_in["data"]["authSecondFactor"]["accessToken"]
        .as_str()
        .unwrap_or_else(|| panic!("{signed_in}"))
        .to_string();
    let me = app.graphql_as(&access, "{ me { id } }", json!({})).await;
    assert_eq!(me["data"]["me"]["id"], gid("User", world.agent_a));
    // That code is spent too, even with a new challenge.
    let again = login(&app, "agent_a").await["challenge"].clone();
    let reused = second_factor(&app, &again, json!({ "code": code(&secret, step + 1) })).await;
    assert_eq!(error_code(&reused), "UNAUTHENTICATED");

    // A recovery code works once.
    let recovered = second_factor(&app, &again, json!({ "recoveryCode": recovery[0] })).await;
    assert!(
        recovered["data"]["authSecondFactor"]["accessToken"].is_string(),
        "{recovered}"
    );
    let again = login(&app, "agent_a").await["challenge"].clone();
    let spent = second_factor(&app, &again, json!({ "recoveryCode": recovery[0] })).await;
    assert_eq!(error_code(&spent), "UNAUTHENTICATED");
    let status = app.graphql_as(&token, STATUS, json!({})).await;
    assert_eq!(status["data"]["me"]["twoFactor"]["recoveryCodesLeft"], 9);
    // Both proofs, or neither, is bad input; a forged challenge or an access token is none.
    let both = second_factor(
        &app,
        &again,
        json!({ "code": "123456", "recoveryCode": recovery[1] }),
    )
    .await;
    assert_eq!(error_code(&both), "BAD_USER_INPUT");
    let neither = second_factor(&app, &again, json!({})).await;
    assert_eq!(error_code(&neither), "BAD_USER_INPUT");
    for forged in [json!("not-a-challenge"), json!(access)] {
        let refused = second_factor(&app, &forged, json!({ "recoveryCode": recovery[1] })).await;
        assert_eq!(error_code(&refused), "UNAUTHENTICATED", "{refused}");
    }

    // Wrong codes count toward the lockout like wrong passwords: five in a row lock the
    // account, and then even a right proof is refused.
    for _ in 0..5 {
        let bad = second_factor(&app, &again, json!({ "code": wrong })).await;
        assert_eq!(error_code(&bad), "UNAUTHENTICATED");
    }
    let account = <entity::user::Entity as sea_orm::EntityTrait>::find_by_id(world.agent_a)
        .one(app.db())
        .await
        .unwrap()
        .unwrap();
    assert!(account.is_locked, "{account:?}");
    let locked_out = second_factor(&app, &again, json!({ "recoveryCode": recovery[1] })).await;
    assert_eq!(error_code(&locked_out), "UNAUTHENTICATED");
    let status = app.graphql_as(&token, STATUS, json!({})).await;
    assert_eq!(
        status["data"]["me"]["twoFactor"]["recoveryCodesLeft"],
        json!(null),
        "the locked account's session is refused: {status}"
    );
}

#[tokio::test]
async fn turning_it_off_takes_a_code_and_an_administrator_may_reset_it() {
    let app = TestApp::spawn().await;
    let world = World::build(app.db()).await;
    let agent = app.login(&email_of("agent_a"), PASSWORD).await;
    let admin = app.login(&email_of("admin"), PASSWORD).await;
    let (_, recovery) = enrol(&app, &agent).await;
    const DISABLE: &str = "mutation($input: TwoFactorDisableInput!) { twoFactorDisable(input: $input) { success userErrors { field code } } }";
    let refused = app
        .graphql_as(&agent, DISABLE, json!({ "input": { "code": "000000" } }))
        .await;
    assert_eq!(
        refused["data"]["twoFactorDisable"],
        json!({ "success": false, "userErrors": [{ "field": "code", "code": "BAD_USER_INPUT" }] })
    );
    let off = app
        .graphql_as(
            &agent,
            DISABLE,
            json!({ "input": { "recoveryCode": recovery[3] } }),
        )
        .await;
    assert_eq!(off["data"]["twoFactorDisable"]["success"], true, "{off}");
    assert!(login(&app, "agent_a").await["accessToken"].is_string());

    // An administrator resets another's factor; nobody else may, or see it.
    let agent_b = app.login(&email_of("agent_b"), PASSWORD).await;
    enrol(&app, &agent_b).await;
    assert_eq!(login(&app, "agent_b").await["secondFactorRequired"], true);
    const RESET: &str = "mutation($input: TwoFactorResetInput!) { twoFactorReset(input: $input) { success userErrors { field code } } }";
    let input = json!({ "input": { "userId": gid("User", world.agent_b) } });
    let forbidden = app.graphql_as(&agent, RESET, input.clone()).await;
    assert_eq!(error_code(&forbidden), "FORBIDDEN", "{forbidden}");
    let peek = app
        .graphql_as(
            &agent,
            "query($id: ID!) { user(id: $id) { twoFactor { enabled } } }",
            json!({ "id": gid("User", world.agent_b) }),
        )
        .await;
    assert_eq!(error_code(&peek), "FORBIDDEN", "{peek}");
    let reset = app.graphql_as(&admin, RESET, input).await;
    assert_eq!(reset["data"]["twoFactorReset"]["success"], true, "{reset}");
    let seen = app
        .graphql_as(
            &admin,
            "query($id: ID!) { user(id: $id) { twoFactor { enabled } } }",
            json!({ "id": gid("User", world.agent_b) }),
        )
        .await;
    assert_eq!(
        seen["data"]["user"]["twoFactor"]["enabled"], false,
        "{seen}"
    );
    assert!(login(&app, "agent_b").await["accessToken"].is_string());
    // The reset ended agent_b's sessions, and both changes are in the audit log.
    let me = app.graphql_as(&agent_b, "{ me { id } }", json!({})).await;
    assert_eq!(error_code(&me), "UNAUTHENTICATED");
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let actions: Vec<String> = entity::audit_log::Entity::find()
        .filter(entity::audit_log::Column::Action.starts_with("2fa."))
        .all(app.db())
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.action)
        .collect();
    for action in ["2fa.enabled", "2fa.disabled", "2fa.reset"] {
        assert!(actions.iter().any(|a| a == action), "{action}: {actions:?}");
    }
}

#[tokio::test]
async fn roles_that_must_have_a_second_factor_sign_in_only_through_enrolment() {
    let app = TestApp::spawn_with(|settings| {
        settings.auth.require_2fa_roles = vec![entity::enums::Role::Admin];
    })
    .await;
    let world = World::build(app.db()).await;
    // An agent is not in the list: tokens at once.
    assert!(login(&app, "agent_a").await["accessToken"].is_string());
    // The administrator gets an enrolment challenge only.
    let first = login(&app, "admin").await;
    assert_eq!(first["enrollmentRequired"], true, "{first}");
    assert_eq!(first["secondFactorRequired"], false);
    assert!(first["accessToken"].is_null());
    let challenge = first["challenge"].clone();
    // It is no second-factor challenge, and no access token.
    let misused = second_factor(&app, &challenge, json!({ "code": "123456" })).await;
    assert_eq!(error_code(&misused), "UNAUTHENTICATED");
    let as_token = app
        .graphql_as(challenge.as_str().unwrap(), "{ me { id } }", json!({}))
        .await;
    assert_eq!(error_code(&as_token), "UNAUTHENTICATED");

    let begun = app
        .graphql(BEGIN, json!({ "input": { "challenge": challenge } }))
        .await;
    let secret = secret_of(&begun["data"]["twoFactorEnrollBegin"]);
    let confirmed = app
        .graphql(
            CONFIRM,
            json!({ "input": { "challenge": challenge, "code": code(&secret, step_now()) } }),
        )
        .await;
    let result = &confirmed["data"]["twoFactorEnrollConfirm"];
    assert_eq!(
        result["recoveryCodes"].as_array().map(Vec::len),
        Some(10),
        "{confirmed}"
    );
    assert_eq!(result["session"]["user"]["id"], gid("User", world.admin));
    let access = result["session"]["accessToken"].as_str().unwrap();
    let me = app.graphql_as(access, "{ me { role } }", json!({})).await;
    assert_eq!(me["data"]["me"]["role"], "ADMIN");
    // From now on the administrator signs in with the second factor.
    assert_eq!(login(&app, "admin").await["secondFactorRequired"], true);
}

#[tokio::test]
async fn second_factor_checks_are_throttled_per_account() {
    let app = TestApp::spawn_with(|settings| settings.auth.login_rate_per_account = 3).await;
    World::build(app.db()).await;
    let token = app.login(&email_of("agent_a"), PASSWORD).await;
    enrol(&app, &token).await;
    let challenge = login(&app, "agent_a").await["challenge"].clone();
    let mut codes = Vec::new();
    for _ in 0..4 {
        let answer = second_factor(&app, &challenge, json!({ "recoveryCode": "nope-nope" })).await;
        codes.push(error_code(&answer).to_string());
    }
    assert_eq!(
        codes,
        [
            "UNAUTHENTICATED",
            "UNAUTHENTICATED",
            "UNAUTHENTICATED",
            "RATE_LIMITED"
        ]
    );
}
