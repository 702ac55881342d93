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
        .graphql_as(
            token,
            "{ slaPolicies { nodes { id priority } } }",
            json!({}),
        )
        .await;
    policies["data"]["slaPolicies"]["nodes"]
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

/// A GraphQL request to a running server at `address`, with `headers` (an `authorization`
/// among them when signed in); the JSON response.
pub async fn graphql_at(
    address: &str,
    headers: &[(&str, String)],
    query: &str,
    variables: Value,
) -> Value {
    let mut request = reqwest::Client::new().post(format!("{address}/graphql"));
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    request
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .expect("POST /graphql")
        .json()
        .await
        .expect("a JSON GraphQL response")
}

/// The `authorization` header of a signed-in request.
pub fn bearer(token: &str) -> (&'static str, String) {
    ("authorization", format!("Bearer {token}"))
}

/// Signs `who` in at a running server; returns the access token.
pub async fn login_at(address: &str, who: &str) -> String {
    let response = graphql_at(
        address,
        &[],
        "mutation($input: AuthLoginInput!) { authLogin(input: $input) { accessToken } }",
        json!({ "input": { "email": email_of(who), "password": PASSWORD } }),
    )
    .await;
    response["data"]["authLogin"]["accessToken"]
        .as_str()
        .unwrap_or_else(|| panic!("{response}"))
        .to_string()
}

/// Writes a public comment on `ticket` at a running server; asserts it was written.
pub async fn comment_at(address: &str, token: &str, ticket: uuid::Uuid, body: &str) {
    comment_with(address, &[bearer(token)], ticket, body).await;
}

/// [`comment_at`], with the request's headers given.
pub async fn comment_with(
    address: &str,
    headers: &[(&str, String)],
    ticket: uuid::Uuid,
    body: &str,
) {
    let response = graphql_at(
        address,
        headers,
        "mutation($input: CommentCreateInput!) { commentCreate(input: $input) { comment { id } } }",
        json!({ "input": { "ticketId": gid("Ticket", ticket), "body": body } }),
    )
    .await;
    assert!(
        response["data"]["commentCreate"]["comment"].is_object(),
        "{response}"
    );
}
