//! One execution for many sockets: every socket that subscribes the same live `ticketEvents`
//! operation (same document, operation name and variables, no `after`) as the same account
//! (same user, role, organizations, session and token) joins one group, and the group runs the
//! operation once. Each push is resolved and serialised once, and its bytes go to every socket
//! of the group, each under its own operation id. A dashboard open in many tabs, or many
//! screens of one team account, costs one execution per event instead of one per socket.
//!
//! What a socket sees is what its own execution would send: the same `next` messages, the
//! same errors and the same `complete`. A group starts listening to the bus when its first
//! socket subscribes; a socket that joins later gets the events published after it joined, as
//! a new subscription would. A socket that does not read what it is sent leaves the group
//! with `SLOW_CONSUMER` (and the position to resume after) once its queue is full; the others
//! are not held up.
//!
//! Subscriptions that resume (`after`), other root fields, and documents with more than one
//! operation or root field each run on their own, as before.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, OperationType, Selection,
};
use async_graphql::{Data, Pos, Request, Response};
use axum::extract::ws::Message;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use service::actor::Actor;
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;

use crate::graphql::HelpdeskSchema;
use crate::graphql::subscription::SharedRun;
use crate::metrics::Metrics;

/// The root field whose live pushes are shared.
const SHARED_FIELD: &str = "ticketEvents";

/// The groups of this server.
pub struct Hub {
    groups: Mutex<HashMap<Key, Arc<Group>>>,
    metrics: Arc<Metrics>,
    sockets: AtomicU64,
}

/// What must be equal for two subscriptions to share their pushes.
#[derive(Clone, PartialEq, Eq, Hash)]
struct Key {
    actor: Actor,
    query: String,
    operation_name: Option<String>,
    variables: String,
}

/// A shared operation as a socket asked for it.
pub struct Shareable {
    key: Key,
    request: Request,
    /// Where the root field is, and the name it answers under (its alias, if any).
    field: (Pos, String),
}

/// One socket's subscription in a group.
pub struct Member {
    pub socket: u64,
    pub id: String,
    /// `data` (graphql-ws) rather than `next` (graphql-transport-ws) messages.
    pub legacy: bool,
    pub queue: mpsc::Sender<Message>,
}

impl Member {
    /// A push for it: `payload` under its id.
    fn push(&self, payload: &str) -> String {
        frame(
            if self.legacy { "data" } else { "next" },
            &self.id,
            Some(payload),
        )
    }
}

struct Joined {
    member: Member,
    /// The position of the last event queued for it.
    last: Option<i64>,
    /// Where it is counted in `helpdesk_subscriptions_active` (once the group listens); it
    /// is counted out when it leaves the group.
    counted: Option<Arc<Metrics>>,
}

impl Joined {
    fn new(member: Member) -> Self {
        Self {
            member,
            last: None,
            counted: None,
        }
    }

    fn count(&mut self, metrics: &Arc<Metrics>) {
        if self.counted.is_none() {
            metrics.subscription_started();
            self.counted = Some(metrics.clone());
        }
    }
}

impl Drop for Joined {
    fn drop(&mut self) {
        if let Some(metrics) = self.counted.take() {
            metrics.subscription_ended();
        }
    }
}

pub struct Group {
    key: Key,
    field: (Pos, String),
    members: Mutex<Members>,
    run: SharedRun,
    task: Mutex<Option<tokio::task::AbortHandle>>,
}

#[derive(Default)]
struct Members {
    list: Vec<Joined>,
    /// The operation has subscribed to the bus: its members count as active subscriptions.
    listening: bool,
    /// The operation ended; nobody joins any more.
    ended: bool,
}

impl Hub {
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Self {
            groups: Mutex::default(),
            metrics,
            sockets: AtomicU64::new(0),
        }
    }

    /// A number that tells this socket's members from another's.
    pub fn socket_number(&self) -> u64 {
        self.sockets.fetch_add(1, Ordering::Relaxed)
    }

    /// Adds `member` to the group running `shareable`, starting one (with `data`, the context
    /// of the account) when there is none; returns the group, to leave it by.
    pub fn join(
        self: &Arc<Self>,
        schema: &HelpdeskSchema,
        shareable: Shareable,
        data: impl FnOnce() -> Data,
        member: Member,
    ) -> Arc<Group> {
        let mut groups = self.groups.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(group) = groups.get(&shareable.key) {
            let mut members = group.members.lock().unwrap_or_else(|e| e.into_inner());
            if !members.ended {
                let mut joined = Joined::new(member);
                if members.listening {
                    joined.count(&self.metrics);
                }
                members.list.push(joined);
                return group.clone();
            }
        }
        let hub = Arc::downgrade(self);
        let group = Arc::new_cyclic(|weak: &Weak<Group>| {
            let weak = weak.clone();
            Group {
                key: shareable.key.clone(),
                field: shareable.field,
                members: Mutex::new(Members {
                    list: vec![Joined::new(member)],
                    ..Members::default()
                }),
                run: SharedRun::new(move || {
                    if let (Some(hub), Some(group)) = (hub.upgrade(), weak.upgrade()) {
                        hub.listening(&group);
                    }
                }),
                task: Mutex::default(),
            }
        });
        let mut data = data();
        data.insert(group.run.clone());
        let stream = schema.execute_stream_with_session_data(shareable.request, Arc::new(data));
        let task = tokio::spawn(self.clone().run(group.clone(), stream));
        *group.task.lock().unwrap_or_else(|e| e.into_inner()) = Some(task.abort_handle());
        groups.insert(shareable.key, group.clone());
        self.metrics.subscription_group(true);
        group
    }

    /// Takes a socket's subscription out of its group (completed by the client, or the socket
    /// closed); the last one out stops the group.
    pub fn leave(&self, group: &Arc<Group>, socket: u64, id: &str) {
        let mut groups = self.groups.lock().unwrap_or_else(|e| e.into_inner());
        let mut members = group.members.lock().unwrap_or_else(|e| e.into_inner());
        members
            .list
            .retain(|joined| joined.member.socket != socket || joined.member.id != id);
        if members.list.is_empty() && !members.ended {
            members.ended = true;
            self.metrics.subscription_group(false);
            if let Some(task) = group.task.lock().unwrap_or_else(|e| e.into_inner()).take() {
                task.abort();
            }
            if groups
                .get(&group.key)
                .is_some_and(|g| Arc::ptr_eq(g, group))
            {
                groups.remove(&group.key);
            }
        }
    }

    /// The operation listens to the bus now: its members count as active subscriptions.
    fn listening(&self, group: &Group) {
        let mut members = group.members.lock().unwrap_or_else(|e| e.into_inner());
        members.listening = true;
        for joined in &mut members.list {
            joined.count(&self.metrics);
        }
    }

    async fn run(self: Arc<Self>, group: Arc<Group>, mut stream: BoxStream<'static, Response>) {
        while let Some(response) = stream.next().await {
            let payload = match serde_json::to_string(&response) {
                Ok(payload) => payload,
                Err(err) => {
                    tracing::error!(error = %err, "a shared push could not be serialised");
                    break;
                }
            };
            if !self.push(&group, &payload) {
                return;
            }
        }
        self.end(&group);
    }

    /// Queues one push for every member; false when no member is left.
    fn push(&self, group: &Arc<Group>, payload: &str) -> bool {
        let position = group.run.position();
        let mut members = group.members.lock().unwrap_or_else(|e| e.into_inner());
        members.list.retain_mut(|joined| {
            let text = joined.member.push(payload);
            match joined.member.queue.try_send(Message::Text(text.into())) {
                Ok(()) => {
                    joined.last = position;
                    true
                }
                Err(TrySendError::Full(_)) => {
                    self.slow_consumer(group, joined);
                    false
                }
                // The socket is gone.
                Err(TrySendError::Closed(_)) => false,
            }
        });
        if !members.list.is_empty() {
            return true;
        }
        drop(members);
        self.end(group);
        false
    }

    /// The operation ended: every member gets `complete`, and the group is gone.
    fn end(&self, group: &Arc<Group>) {
        let mut groups = self.groups.lock().unwrap_or_else(|e| e.into_inner());
        if groups
            .get(&group.key)
            .is_some_and(|g| Arc::ptr_eq(g, group))
        {
            groups.remove(&group.key);
        }
        let mut members = group.members.lock().unwrap_or_else(|e| e.into_inner());
        if !members.ended {
            members.ended = true;
            self.metrics.subscription_group(false);
        }
        for joined in members.list.drain(..) {
            let complete = frame("complete", &joined.member.id, None);
            send_later(joined.member.queue.clone(), vec![complete]);
        }
    }

    /// A member whose queue is full leaves with `SLOW_CONSUMER` and the position of the last
    /// event it was sent, queued as soon as it reads again.
    fn slow_consumer(&self, group: &Group, joined: &Joined) {
        let (pos, name) = &group.field;
        let mut error =
            crate::graphql::subscription::slow_consumer(joined.last).into_server_error(*pos);
        error.path = vec![async_graphql::PathSegment::Field(name.clone())];
        let response = Response::from_errors(vec![error]);
        let payload = serde_json::to_string(&response).unwrap_or_default();
        send_later(
            joined.member.queue.clone(),
            vec![
                joined.member.push(&payload),
                frame("complete", &joined.member.id, None),
            ],
        );
    }
}

/// Queues `texts` in order, waiting for room (the socket's writer gives up on a client that
/// does not read, and the queue closes with it).
fn send_later(queue: mpsc::Sender<Message>, texts: Vec<String>) {
    tokio::spawn(async move {
        for text in texts {
            if queue.send(Message::Text(text.into())).await.is_err() {
                return;
            }
        }
    });
}

/// A protocol message, in the shape async-graphql writes them.
fn frame(kind: &str, id: &str, payload: Option<&str>) -> String {
    let id = serde_json::to_string(id).unwrap_or_else(|_| "\"\"".into());
    match payload {
        Some(payload) => format!("{{\"type\":\"{kind}\",\"id\":{id},\"payload\":{payload}}}"),
        None => format!("{{\"type\":\"{kind}\",\"id\":{id}}}"),
    }
}

/// Whether a subscribed operation is run once for its group: a lone subscription operation
/// whose one root field is `ticketEvents` without `after`. `payload` is the `subscribe`
/// message's payload, `document` its parsed query.
pub fn shareable(
    actor: &Actor,
    payload: &serde_json::Value,
    document: &ExecutableDocument,
) -> Option<Shareable> {
    let operation = match &document.operations {
        DocumentOperations::Single(operation) => operation,
        DocumentOperations::Multiple(operations) if operations.len() == 1 => {
            operations.values().next()?
        }
        DocumentOperations::Multiple(_) => return None,
    };
    if operation.node.ty != OperationType::Subscription || !operation.node.directives.is_empty() {
        return None;
    }
    let [item] = operation.node.selection_set.node.items.as_slice() else {
        return None;
    };
    let Selection::Field(field) = &item.node else {
        return None;
    };
    if field.node.name.node != SHARED_FIELD
        || field.node.get_argument("after").is_some()
        || !field.node.directives.is_empty()
    {
        return None;
    }
    let request: Request = serde_json::from_value(payload.clone()).ok()?;
    let key = Key {
        actor: actor.clone(),
        query: request.query.clone(),
        operation_name: request.operation_name.clone(),
        variables: serde_json::to_string(&payload["variables"]).ok()?,
    };
    Some(Shareable {
        key,
        request,
        field: (field.pos, field.node.response_key().node.to_string()),
    })
}
