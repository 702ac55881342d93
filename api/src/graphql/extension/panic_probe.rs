//! Test builds only (the `test-hooks` feature): makes the resolver of one named field panic,
//! so the tests can show that a panic while resolving becomes `INTERNAL` with the request id
//! and never a reset connection.

use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextResolve, ResolveInfo,
};
use async_graphql::{ServerResult, Value};

pub struct PanicProbe(pub String);

impl ExtensionFactory for PanicProbe {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(PanicProbe(self.0.clone()))
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for PanicProbe {
    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        if info.name == self.0 {
            panic!("a deliberate panic in `{}`, for the tests", self.0);
        }
        next.run(ctx, info).await
    }
}
