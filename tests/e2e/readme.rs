//! The README's API tour, run as written (with the ticket id pasted where it says TICKET_ID).

use serde_json::{Value, json};

use crate::helpers::TestApp;

/// The ```graphql blocks of the README's "API tour" section, in order.
fn tour() -> Vec<String> {
    let readme =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
            .expect("README.md");
    let section = readme
        .split("## API tour")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("an API tour section");
    section
        .split("```graphql")
        .skip(1)
        .map(|block| {
            block
                .split("```")
                .next()
                .unwrap_or_default()
                .trim()
                .to_string()
        })
        .collect()
}

fn assert_clean(step: usize, response: &Value) {
    assert!(response.get("errors").is_none(), "step {step}: {response}");
    let text = response.to_string();
    assert!(
        !text.contains("\"userErrors\":[{"),
        "step {step}: {response}"
    );
}

#[tokio::test]
async fn the_readme_api_tour_works_as_written() {
    let app = TestApp::spawn().await;
    service::seed::demo(app.db(), 50, &|_| {}).await.unwrap();
    let steps = tour();
    assert_eq!(steps.len(), 6, "the tour has six steps");

    let signed_in = app.graphql(&steps[0], json!({})).await;
    assert_clean(1, &signed_in);
    let token = signed_in["data"]["authLogin"]["accessToken"]
        .as_str()
        .expect("a token")
        .to_string();

    let queue = app.graphql_as(&token, &steps[1], json!({})).await;
    assert_clean(2, &queue);
    assert!(
        !queue["data"]["tickets"]["nodes"]
            .as_array()
            .unwrap()
            .is_empty(),
        "{queue}"
    );

    let raised = app.graphql_as(&token, &steps[2], json!({})).await;
    assert_clean(3, &raised);
    let id = raised["data"]["ticketCreate"]["ticket"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let number = raised["data"]["ticketCreate"]["ticket"]["number"]
        .as_str()
        .unwrap()
        .to_string();

    for (step, operation) in steps.iter().enumerate().skip(3) {
        let response = app
            .graphql_as(&token, &operation.replace("TICKET_ID", &id), json!({}))
            .await;
        assert_clean(step + 1, &response);
        if step == 4 {
            assert_eq!(
                response["data"]["ticketTransition"]["ticket"]["status"],
                "IN_PROGRESS"
            );
        }
        if step == 5 {
            let found: Vec<&str> = response["data"]["tickets"]["nodes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["number"].as_str().unwrap())
                .collect();
            assert!(found.contains(&number.as_str()), "{response}");
        }
    }
}
