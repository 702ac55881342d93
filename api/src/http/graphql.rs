use async_graphql::http::GraphiQLSource;
use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use crate::state::AppState;

/// `POST /graphql`: GraphQL over HTTP.
pub async fn execute(State(state): State<AppState>, request: GraphQLRequest) -> GraphQLResponse {
    state.schema().execute(request.into_inner()).await.into()
}

/// `GET /graphql`: the GraphiQL explorer, unless turned off.
pub async fn graphiql(State(state): State<AppState>) -> Response {
    if !state.graphiql() {
        return (
            StatusCode::NOT_FOUND,
            "GraphiQL is turned off on this server",
        )
            .into_response();
    }
    Html(
        GraphiQLSource::build()
            .endpoint("/graphql")
            .title("helpdesk GraphiQL")
            .finish(),
    )
    .into_response()
}
