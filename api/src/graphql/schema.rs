//! Building the schema, and printing it: `helpdesk schema` prints the SDL committed as
//! `schema.graphql`, and a test fails when the two differ.

use std::sync::Arc;

use async_graphql::extensions::Tracing;
use async_graphql::{EmptySubscription, Schema, SchemaBuilder};
use sea_orm::DatabaseConnection;
use service::auth::Auth;

use super::extension::metrics::OperationMetrics;
use super::mutation::MutationRoot;
use super::query::QueryRoot;
use crate::metrics::Metrics;

pub type HelpdeskSchema = Schema<QueryRoot, MutationRoot, EmptySubscription>;

fn builder() -> SchemaBuilder<QueryRoot, MutationRoot, EmptySubscription> {
    Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        EmptySubscription,
    )
}

/// The schema the server runs: with the database, per-operation metrics and a tracing span
/// per operation.
pub fn build_schema(
    db: DatabaseConnection,
    auth: Arc<Auth>,
    metrics: Arc<Metrics>,
) -> HelpdeskSchema {
    builder()
        .extension(Tracing)
        .extension(OperationMetrics::new(metrics))
        .data(db)
        .data(auth)
        .finish()
}

/// The schema in SDL, as committed in `schema.graphql`.
pub fn sdl() -> String {
    builder().finish().sdl()
}
