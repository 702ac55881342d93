//! A second line of defence behind the complexity limit: a response that grows past a size cap
//! is answered with one `RESPONSE_TOO_LARGE` error, and abandoned while it is being resolved
//! rather than built whole once it is known to be too large.
//!
//! On `/graphql` ([`ResponseBudget`]) the cap is exact: the handler serialises the response and
//! refuses it when the body is over the cap. What can make a response large is long text
//! (descriptions, comment bodies, history values: up to 100,000 characters each, and one
//! field may be asked for under many aliases); everything else is bounded by the complexity
//! limit times a few hundred bytes. Those long-text fields charge their length as they resolve
//! ([`charge`]); once the charges pass the cap, further long-text fields fail at once and the
//! execution is dropped, so a response of many long texts is never built.
//!
//! On subscription sockets async-graphql runs the operations itself, and the [`ResponseSize`]
//! extension counts every resolved field: its name and the size of its value, counting
//! scalars and lists of scalars only (an object's fields are counted as they resolve). Once
//! the total passes the cap no further field runs, and the push is replaced by the error.
//!
//! Mutations are exempt: cutting one short after it committed would hide what it did (and a
//! secret shown once, such as a new webhook's). Their payloads are small by construction.

use service::ErrorCode;
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
            _ => too_large(self.max_bytes),
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

/// The size budget of one `/graphql` request (in the request's data).
#[derive(Clone)]
pub struct ResponseBudget(Arc<Budget>);

impl ResponseBudget {
    pub fn new(max_bytes: usize) -> Self {
        Self(Arc::new(Budget {
            max_bytes,
            used: AtomicUsize::new(0),
            exempt: AtomicBool::new(false),
            exceeded: Notify::new(),
        }))
    }

    pub fn max_bytes(&self) -> usize {
        self.0.max_bytes
    }

    /// A mutation runs: no cap.
    pub fn exempt(&self) {
        self.0.exempt.store(true, Ordering::Relaxed);
    }

    pub fn is_exempt(&self) -> bool {
        self.0.exempt.load(Ordering::Relaxed)
    }

    /// Whether a body of `bytes` is over the cap.
    pub fn refuses(&self, bytes: usize) -> bool {
        !self.is_exempt() && bytes > self.0.max_bytes
    }

    /// Runs `execution` until it ends, or until the charges pass the cap (then `None`, and
    /// the execution is dropped where it waits).
    pub async fn run<F: std::future::Future>(&self, execution: F) -> Option<F::Output> {
        let exceeded = self.0.exceeded.notified();
        tokio::pin!(exceeded);
        // Registered before the execution starts, so a `notify_waiters` during it reaches us.
        exceeded.as_mut().enable();
        tokio::select! {
            biased;
            () = exceeded => None,
            output = execution => (!self.0.over()).then_some(output),
        }
    }

    /// Charges a long text a response is about to carry: `false` once the response is over
    /// its cap.
    pub fn charge_text(&self, text: &str) -> bool {
        self.charge(text.len() + 2)
    }

    fn charge(&self, bytes: usize) -> bool {
        if self.0.over() {
            return false;
        }
        let used = self.0.used.fetch_add(bytes, Ordering::Relaxed) + bytes;
        if used > self.0.max_bytes && !self.is_exempt() {
            self.0.exceeded.notify_waiters();
            return false;
        }
        true
    }
}

/// A long text a field is about to return, charged to the request's budget: the text, or an
/// error once the response is over its cap (the whole response is then refused).
pub fn charge<'a>(
    ctx: &async_graphql::Context<'_>,
    text: &'a str,
) -> async_graphql::Result<&'a str> {
    match ctx.data_opt::<ResponseBudget>() {
        Some(budget) if !budget.charge_text(text) => {
            Err(async_graphql::Error::new("the response is too large"))
        }
        _ => Ok(text),
    }
}

/// The error a response over the cap is replaced by.
pub fn too_large(max_bytes: usize) -> Response {
    let mut error = ServerError::new(
        format!(
            "the response would be larger than {max_bytes} bytes; ask for less (smaller pages, fewer fields)"
        ),
        None,
    );
    let mut extensions = ErrorExtensionValues::default();
    extensions.set("code", ErrorCode::ResponseTooLarge.as_str());
    error.extensions = Some(extensions);
    Response::from_errors(vec![error])
}
