//! Speaking GraphQL to a server: global ids, error codes, signing in and commenting.

use serde_json::{Value, json};

use super::*;

/// A global ID as the API shows it.
pub fn gid(kind: &str, id: uuid::Uuid) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{kind}:{id}"))
}

/// The `extensions.code` of the first error of a response.
pub fn error_code(response: &Value) -> &str {
    response["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error code in {response}"))
}

/// The global id of the active SLA policy of `priority` (`"CRITICAL"` ...), read as `token`.
pub async fn policy_id(app: &TestApp, token: &str, priority: &str) -> Value {
    let policies = app
        .graphql_as(token, "{ slaPolicies { id priority } }", json!({}))
        .await;
    policies["data"]["slaPolicies"]
        .as_array()
        .unwrap_or_else(|| panic!("{policies}"))
        .iter()
        .find(|p| p["priority"] == priority)
        .unwrap_or_else(|| panic!("no {priority} policy: {policies}"))["id"]
        .clone()
}

/// The uuid in a global id.
pub fn uuid_of(id: &Value) -> uuid::Uuid {
    use base64::Engine;
    let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(id.as_str().expect("a global id"))
        .expect("base64");
    String::from_utf8(decoded)
        .expect("text")
        .split_once(':')
        .expect("kind:uuid")
        .1
        .parse()
        .expect("a uuid")
}

/// Signs `who` in at a running server; returns the access token.
pub async fn login_at(address: &str, who: &str) -> String {
    let response: Value = reqwest::Client::new()
        .post(format!("{address}/graphql"))
        .json(&json!({
            "query": "mutation($input: AuthLoginInput!) { authLogin(input: $input) { accessToken } }",
            "variables": { "input": { "email": email_of(who), "password": PASSWORD } },
        }))
        .send()
        .await
        .expect("POST /graphql")
        .json()
        .await
        .expect("a JSON GraphQL response");
    response["data"]["authLogin"]["accessToken"]
        .as_str()
        .unwrap_or_else(|| panic!("{response}"))
        .to_string()
}

/// Writes a public comment on `ticket` at a running server; asserts it was written.
pub async fn comment_at(address: &str, token: &str, ticket: uuid::Uuid, body: &str) {
    let response: Value = reqwest::Client::new()
        .post(format!("{address}/graphql"))
        .bearer_auth(token)
        .json(&json!({
            "query": "mutation($input: CommentCreateInput!) { commentCreate(input: $input) { comment { id } } }",
            "variables": { "input": { "ticketId": gid("Ticket", ticket), "body": body } },
        }))
        .send()
        .await
        .expect("POST /graphql")
        .json()
        .await
        .expect("a JSON GraphQL response");
    assert!(
        response["data"]["commentCreate"]["comment"].is_object(),
        "{response}"
    );
}
