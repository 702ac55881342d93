//! Counts and times every GraphQL operation by its type (query, mutation, subscription).

use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextRequest,
};
use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, OperationType as Op};
use async_graphql::{Response, ServerResult, Variables};

use crate::graphql::context::MayHaveWritten;
use crate::metrics::{Metrics, OperationType};

pub struct OperationMetrics {
    metrics: Arc<Metrics>,
}

impl OperationMetrics {
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Self { metrics }
    }
}

impl ExtensionFactory for OperationMetrics {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(PerRequest {
            metrics: self.metrics.clone(),
            operations: Mutex::new(Vec::new()),
            chosen: Mutex::new(OperationType::invalid),
        })
    }
}

/// The extension instance of one request: the document's operations are known after parsing,
/// the one that runs when execution starts, and the time when the request ends.
struct PerRequest {
    metrics: Arc<Metrics>,
    operations: Mutex<Vec<(Option<String>, OperationType)>>,
    chosen: Mutex<OperationType>,
}

fn kind(ty: Op) -> OperationType {
    match ty {
        Op::Query => OperationType::query,
        Op::Mutation => OperationType::mutation,
        Op::Subscription => OperationType::subscription,
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for PerRequest {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let started = Instant::now();
        let response = next.run(ctx).await;
        let operation = *self.chosen.lock().unwrap_or_else(|e| e.into_inner());
        self.metrics
            .record_operation(operation, started.elapsed(), response.is_err());
        response
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        let operations = match &document.operations {
            DocumentOperations::Single(op) => vec![(None, kind(op.node.ty))],
            DocumentOperations::Multiple(map) => map
                .iter()
                .map(|(name, op)| (Some(name.to_string()), kind(op.node.ty)))
                .collect(),
        };
        *self.operations.lock().unwrap_or_else(|e| e.into_inner()) = operations;
        Ok(document)
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        {
            let operations = self.operations.lock().unwrap_or_else(|e| e.into_inner());
            let found = match operation_name {
                Some(name) => operations
                    .iter()
                    .find(|(n, _)| n.as_deref() == Some(name))
                    .map(|(_, t)| *t),
                None if operations.len() == 1 => Some(operations[0].1),
                None => None,
            };
            if let Some(found) = found {
                *self.chosen.lock().unwrap_or_else(|e| e.into_inner()) = found;
            }
            // The operation is known here, once per request: a mutation (or one that cannot be
            // told) is marked for the relay's wake-up.
            if !matches!(
                found,
                Some(OperationType::query | OperationType::subscription)
            ) && let Some(written) = ctx.data_opt::<MayHaveWritten>()
            {
                written.mark();
            }
        }
        next.run(ctx, operation_name).await
    }
}
