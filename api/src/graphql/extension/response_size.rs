//! A second line of defence behind the complexity limit: a response that grows past a size cap
//! while it is being resolved is abandoned, instead of being built whole and serialised.
//!
//! Every resolved field adds its name and the size of its value, counting scalars and lists of
//! scalars only (an object's fields are counted as they resolve), which approximates the JSON
//! the response would become. Once the total passes the cap no further field runs (each fails
//! at once, so no subtree below it is built), the execution future is dropped if it is still
//! waiting, and the whole answer is replaced by one `RESPONSE_TOO_LARGE` error.
//!
//! Mutations are exempt: cutting one short after it committed would hide what it did (and a
//! secret shown once, such as a new webhook's). Their payloads are small by construction.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextResolve, ResolveInfo,
};
use async_graphql::{ErrorExtensionValues, Response, ServerError, ServerResult, Value};
use tokio::sync::Notify;

pub struct ResponseSize {
    max_bytes: usize,
}

impl ResponseSize {
    pub fn new(max_bytes: usize) -> Self {
        Self { max_bytes }
    }
}

impl ExtensionFactory for ResponseSize {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Budget {
            max_bytes: self.max_bytes,
            used: AtomicUsize::new(0),
            exempt: AtomicBool::new(false),
            exceeded: Notify::new(),
        })
    }
}

struct Budget {
    max_bytes: usize,
    used: AtomicUsize,
    /// A mutation is running.
    exempt: AtomicBool,
    /// Wakes an execution that waits on a resolver once the cap is passed. `notify_waiters`
    /// stores no permit, so a later push of a subscription never sees a stale one.
    exceeded: Notify,
}

/// The JSON size of a value's scalars; objects count nothing here (their fields resolve, and
/// are counted, one by one).
fn scalar_bytes(value: &Value) -> usize {
    match value {
        Value::Null => 4,
        Value::Boolean(_) => 5,
        Value::Number(_) => 12,
        Value::String(text) => text.len() + 2,
        Value::Enum(name) => name.len() + 2,
        Value::Binary(bytes) => bytes.len() * 2,
        Value::List(items) => items.iter().map(|v| scalar_bytes(v) + 1).sum::<usize>() + 2,
        Value::Object(_) => 2,
    }
}

impl Budget {
    fn over(&self) -> bool {
        !self.exempt.load(Ordering::Relaxed) && self.used.load(Ordering::Relaxed) > self.max_bytes
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for Budget {
    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        // A subscription executes once per event: each push has the whole budget.
        self.used.store(0, Ordering::Relaxed);
        let exceeded = self.exceeded.notified();
        tokio::pin!(exceeded);
        // Registered before the execution starts, so a `notify_waiters` during it reaches us.
        exceeded.as_mut().enable();
        let response = tokio::select! {
            biased;
            () = exceeded => None,
            response = next.run(ctx, operation_name) => Some(response),
        };
        match response {
            Some(response) if !self.over() => response,
            // Whatever was built is dropped here, before it is serialised.
            _ => {
                let mut error = ServerError::new(
                    format!(
                        "the response would be larger than {} bytes; ask for less (smaller pages, fewer fields)",
                        self.max_bytes
                    ),
                    None,
                );
                let mut extensions = ErrorExtensionValues::default();
                extensions.set("code", "RESPONSE_TOO_LARGE");
                error.extensions = Some(extensions);
                Response::from_errors(vec![error])
            }
        }
    }

    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        if info.parent_type == "Mutation" {
            self.exempt.store(true, Ordering::Relaxed);
        }
        if self.over() {
            return Err(ServerError::new("the response is too large", None));
        }
        let name = info.alias.unwrap_or(info.name).len() + 4;
        let value = next.run(ctx, info).await?;
        let size = name + value.as_ref().map_or(4, scalar_bytes);
        let used = self.used.fetch_add(size, Ordering::Relaxed) + size;
        if used > self.max_bytes && !self.exempt.load(Ordering::Relaxed) {
            self.exceeded.notify_waiters();
        }
        Ok(value)
    }
}
