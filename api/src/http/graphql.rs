//! `/graphql`: GraphQL over HTTP, served by our own handler rather than async-graphql-axum's
//! stock service, which accepts mutations over GET, any content type and unbounded batches.
//!
//! - `POST` takes `application/json` only (415 otherwise): one operation, or a batch of at most
//!   `HELPDESK_MAX_BATCH`. `GET` runs queries from the URL; a mutation over GET is 405.
//! - A body that is not a GraphQL request is 400. A request that fails before execution (a
//!   document that does not parse, fails validation, a variable that does not coerce, a limit)
//!   is answered without a `data` entry: 400 in the `application/graphql-response+json` media
//!   type, 200 in `application/json`, as the GraphQL-over-HTTP specification has it.
//! - `Accept` naming `application/graphql-response+json` gets that media type; anything else
//!   (`application/json`, `*/*`, none) gets `application/json`.
//! - The bearer token is checked once, here; the request then carries the viewer, a fresh set of
//!   loaders and where it came from. A lone query whose token named an account on an earlier
//!   request runs as that account while the token is checked, and its answer is sent only if
//!   the check finds the very same account (role, memberships, session); otherwise it is
//!   dropped and the query runs again as whoever the check found.

use service::ErrorCode;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use std::time::Instant;

use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, OperationDefinition, OperationType, Selection,
    SelectionSet,
};
use async_graphql::{
    BatchRequest, BatchResponse, ErrorExtensionValues, Positioned, Request, ServerError,
};
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use service::audit::ClientInfo;

use tracing::Instrument;

use crate::graphql::JsonPages;
use crate::graphql::Limits;
use crate::graphql::context::{CheckAlongside, MayHaveWritten, SignedIn, Viewer};
use crate::graphql::extension::response_size::{ResponseBudget, too_large};
use crate::graphql::loader::Loaders;
use crate::metrics::EarlyOutcome;
use crate::state::AppState;

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";
/// Longest query document accepted, in bytes.
const MAX_DOCUMENT_BYTES: usize = 64 * 1024;

/// `POST /graphql`.
pub async fn post(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let media = response_media(&headers);
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::UnsupportedMediaType,
            "send the request as application/json",
            media,
        );
    }
    let batch: BatchRequest = match serde_json::from_slice(&body) {
        Ok(batch) => batch,
        Err(err) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                ErrorCode::BadRequest,
                &format!("the body is not a GraphQL request: {err}"),
                media,
            );
        }
    };
    let requests = match batch {
        BatchRequest::Single(request) => vec![request],
        BatchRequest::Batch(requests) if requests.len() > state.max_batch() => {
            return refuse(
                StatusCode::BAD_REQUEST,
                ErrorCode::BatchLimit,
                &format!("a batch may hold at most {} operations", state.max_batch()),
                media,
            );
        }
        BatchRequest::Batch(requests) if requests.is_empty() => {
            return refuse(
                StatusCode::BAD_REQUEST,
                ErrorCode::BadRequest,
                "the batch is empty",
                media,
            );
        }
        BatchRequest::Batch(requests) => requests,
    };
    let single = requests.len() == 1 && !body.trim_ascii_start().starts_with(b"[");
    run(&state, &headers, peer, requests, single, media).await
}

/// `GET /graphql`: a query from the URL (`?query=...&variables=...&operationName=...`), or
/// GraphiQL for a browser.
pub async fn get(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let media = response_media(&headers);
    if !params.contains_key("query") && !params.contains_key("extensions") {
        return super::graphiql::page(&state);
    }
    let mut request = Request::new(params.get("query").cloned().unwrap_or_default());
    if let Some(extensions) = params.get("extensions") {
        match serde_json::from_str(extensions) {
            Ok(extensions) => request.extensions = extensions,
            Err(_) => {
                return refuse(
                    StatusCode::BAD_REQUEST,
                    ErrorCode::BadRequest,
                    "`extensions` is not a JSON object",
                    media,
                );
            }
        }
    }
    if let Err(refusal) = persisted(&state, &mut request, media).await {
        return refusal;
    }
    let query = request.query.clone();
    if let Some(name) = params.get("operationName") {
        request = request.operation_name(name.clone());
    }
    if let Some(variables) = params.get("variables") {
        match serde_json::from_str(variables) {
            Ok(variables) => {
                request = request.variables(async_graphql::Variables::from_json(variables))
            }
            Err(_) => {
                return refuse(
                    StatusCode::BAD_REQUEST,
                    ErrorCode::BadRequest,
                    "`variables` is not JSON",
                    media,
                );
            }
        }
    }
    // Mutations change things; GET must not (caches, prefetchers and crawlers send GETs).
    if let Ok(document) = async_graphql::parser::parse_query(&query) {
        let chosen = document.operations.iter().find(|(name, _)| {
            request
                .operation_name
                .as_deref()
                .is_none_or(|wanted| name.is_some_and(|n| n.as_str() == wanted))
        });
        if let Some((_, operation)) = chosen
            && operation.node.ty != OperationType::Query
        {
            let mut response = refuse(
                StatusCode::METHOD_NOT_ALLOWED,
                ErrorCode::MethodNotAllowed,
                "only queries may be sent with GET; send mutations with POST",
                media,
            );
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("POST"));
            return response;
        }
    }
    run(&state, &headers, peer, vec![request], true, media).await
}

async fn run(
    state: &AppState,
    headers: &HeaderMap,
    peer: SocketAddr,
    requests: Vec<Request>,
    single: bool,
    media: &'static str,
) -> Response {
    // A query whose credential named an account before runs as that account while the
    // credential is checked; its answer is sent only if the check finds the same account
    // (role, memberships, session), and otherwise dropped, the query then running as whoever
    // the check found. A lone request so waits on the check and its first statements at once.
    let call = Call {
        state,
        headers,
        peer,
        single,
        media,
    };
    let credential = credential(headers);
    let known = match &credential {
        Some(credential) => state.known_accounts().get(credential).await,
        None => None,
    };
    if single
        && let Some(credential) = credential
        && let Some(guess) = known.clone()
        && let Some(copy) = requests.first().and_then(copy_request)
    {
        // On PostgreSQL a statement the early run sends alongside a page may also read what
        // the check reads, in place of the check's own statement.
        let alongside = (state.db().get_database_backend() == sea_orm::DatabaseBackend::Postgres
            && guess.api_token.is_none())
        .then(|| {
            CheckAlongside::new(service::ticket::alongside::Viewer {
                user_id: guess.user_id,
                session_id: guess.session_id,
            })
        });
        let (copy, check) = match alongside {
            Some((alongside, rows)) => (
                copy.data(alongside.clone()),
                futures_util::future::Either::Left(viewer_alongside(
                    state, headers, alongside, rows,
                )),
            ),
            None => (
                copy,
                futures_util::future::Either::Right(viewer(state, headers)),
            ),
        };
        let check = std::pin::pin!(check);
        let early = std::pin::pin!(answer(call, vec![copy], Ok(Some(guess.clone())), true));
        // The early run is polled first, so that its statements, the longer wait, go out
        // before the check's, and a statement of its can take the check along; a check that
        // disagrees stops the early run at once (one read alongside a page can only disagree
        // once that statement has answered).
        let (checked, early) = match futures_util::future::select(early, check).await {
            futures_util::future::Either::Left((early, check)) => (check.await, early),
            futures_util::future::Either::Right((checked, early)) => {
                let agrees = matches!(&checked, Ok(Some(actor)) if *actor == guess);
                let early = if agrees { early.await } else { None };
                (checked, early)
            }
        };
        remember(state, &credential, known.as_ref(), &checked).await;
        let agrees = matches!(&checked, Ok(Some(actor)) if *actor == guess);
        match early {
            Some(early) if agrees => {
                state.metrics().record_early_query(EarlyOutcome::sent);
                return early.sent(state);
            }
            _ if !agrees => state.metrics().record_early_query(EarlyOutcome::dropped),
            _ => {}
        }
        return answered(call, requests, checked).await;
    }
    let checked = viewer(state, headers).await;
    if let Some(credential) = credential {
        remember(state, &credential, known.as_ref(), &checked).await;
    }
    answered(call, requests, checked).await
}

/// What one HTTP request to `/graphql` brings to [`answer`] besides its operations.
#[derive(Clone, Copy)]
struct Call<'a> {
    state: &'a AppState,
    headers: &'a HeaderMap,
    peer: SocketAddr,
    single: bool,
    media: &'static str,
}

/// The answer to `requests` from the viewer `checked` found, sent.
async fn answered(
    call: Call<'_>,
    requests: Vec<Request>,
    checked: service::Result<Option<service::actor::Actor>>,
) -> Response {
    answer(call, requests, checked, false).await.map_or_else(
        || refused_internal(call.media),
        |answer| answer.sent(call.state),
    )
}

/// A response, with the operations it ran for the metrics, recorded when it is sent.
struct Answer {
    response: Response,
    operations: Vec<(crate::metrics::OperationType, std::time::Duration, bool)>,
}

impl Answer {
    fn sent(self, state: &AppState) -> Response {
        for (kind, elapsed, failed) in self.operations {
            state.metrics().record_operation(kind, elapsed, failed);
        }
        self.response
    }
}

/// The SHA-256 of the bearer token the request carries, which [`AppState::known_accounts`]
/// keeps accounts by (one key per token, whatever the spelling of the header around it).
fn credential(headers: &HeaderMap) -> Option<[u8; 32]> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(super::bearer)?;
    Some(credential_of(token))
}

/// The key a bearer token is known by.
fn credential_of(token: &str) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(token.as_bytes()).into()
}

/// Keeps the account a credential was found to name, for its next request (unless `known`,
/// what was kept before, is that account already); forgets a credential refused.
async fn remember(
    state: &AppState,
    credential: &[u8; 32],
    known: Option<&service::actor::Actor>,
    checked: &service::Result<Option<service::actor::Actor>>,
) {
    let accounts = state.known_accounts();
    match checked {
        Ok(Some(actor)) if known != Some(actor) => {
            accounts.insert(*credential, actor.clone()).await;
        }
        Err(err) if known.is_some() && err.code() == ErrorCode::Unauthenticated => {
            accounts.invalidate(credential).await;
        }
        _ => {}
    }
}

/// A copy of a request as it came (its text, operation, variables and extensions); `None` for
/// one with uploads, which are read once.
fn copy_request(request: &Request) -> Option<Request> {
    if !request.uploads.is_empty() {
        return None;
    }
    let mut copy = Request::new(request.query.clone()).variables(request.variables.clone());
    copy.operation_name.clone_from(&request.operation_name);
    copy.extensions = request.extensions.clone();
    copy.introspection_mode = request.introspection_mode;
    Some(copy)
}

/// The answer when a request could not be answered at all.
fn refused_internal(media: &'static str) -> Response {
    refuse(
        StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::Internal,
        "internal error",
        media,
    )
}

/// The answer to `requests` from the viewer `checked` found. `early` (a query run while its
/// credential is checked, as a guess of the account) declines with `None` anything but a
/// query that runs: the request is then answered after the check.
async fn answer(
    call: Call<'_>,
    requests: Vec<Request>,
    checked: service::Result<Option<service::actor::Actor>>,
    early: bool,
) -> Option<Answer> {
    let Call {
        state,
        headers,
        peer,
        single,
        media,
    } = call;
    let request_id = headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let no_operations = |response| Answer {
        response,
        operations: Vec::new(),
    };
    // A refused token makes the request anonymous (with the reason kept for the fields that
    // need a user); only a failure to check it at all ends the request here.
    let (actor, refused) = match checked {
        Ok(actor) => (actor, None),
        Err(err) if err.code() == ErrorCode::Unauthenticated => (None, Some(err.to_string())),
        Err(err) => {
            let mut error = ServerError::new("internal error", None);
            tracing::error!(error = ?err, "checking the access token failed");
            let mut extensions = ErrorExtensionValues::default();
            extensions.set("code", ErrorCode::Internal.as_str());
            extensions.set("requestId", request_id.as_str());
            error.extensions = Some(extensions);
            let answer = || async_graphql::Response::from_errors(vec![error.clone()]);
            let body = if single {
                serde_json::to_vec(&answer())
            } else {
                serde_json::to_vec(&BatchResponse::Batch(
                    requests.iter().map(|_| answer()).collect(),
                ))
            };
            return Some(no_operations(respond(
                StatusCode::OK,
                media,
                body.unwrap_or_default(),
            )));
        }
    };
    let client = ClientInfo {
        ip: Some(state.forwarded_for().client_ip(headers, peer).to_string()),
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
    };
    let mut requests = requests;
    for request in &mut requests {
        if let Err(refusal) = persisted(state, request, media).await {
            return (!early).then(|| no_operations(refusal));
        }
    }
    // A request without a document is no GraphQL request.
    if requests.iter().any(|r| r.query.trim().is_empty()) {
        return (!early).then(|| {
            no_operations(refuse(
                StatusCode::BAD_REQUEST,
                ErrorCode::BadRequest,
                "the request has no query",
                media,
            ))
        });
    }
    // Each document is parsed once, here, or found parsed before; async-graphql runs the
    // parsed document.
    let mut prepared = Vec::with_capacity(requests.len());
    for request in requests {
        prepared.push(Prepared::new(request, state.documents(), state.limits()).await);
    }
    let requests = prepared;
    // Each credential field hashes a password (or a token): one per HTTP request, batch and
    // aliases included, so a single POST can be neither a guessing tool nor a CPU sink.
    let checks: usize = requests.iter().map(Prepared::credential_checks).sum();
    if checks > MAX_CREDENTIAL_CHECKS {
        return (!early).then(|| {
            no_operations(refuse(
                StatusCode::BAD_REQUEST,
                ErrorCode::CredentialLimit,
                &format!(
                    "a request may check credentials at most once ({} in this one); send sign-ins separately",
                    checks
                ),
                media,
            ))
        });
    }
    let mut bodies = Vec::with_capacity(requests.len());
    let mut status = StatusCode::OK;
    let written = MayHaveWritten::default();
    let signed_in = SignedIn::default();
    let mut operations = Vec::with_capacity(requests.len());
    for prepared in requests {
        let started = Instant::now();
        let kind = prepared.kind;
        if early && kind != Some(OperationType::Query) {
            return None;
        }
        let json_pages = prepared.keys_unique;
        let budget = ResponseBudget::new(state.max_response_bytes());
        // A read-only API token reads: anything else is refused before it runs.
        let read_only_refused = actor.as_ref().is_some_and(|a| a.read_only())
            && !matches!(kind, Some(OperationType::Query));
        let mut source = String::new();
        let mut response = match prepared.runnable(state.limits()) {
            Err(refusal) => async_graphql::Response::from_errors(vec![refusal]),
            Ok(_) if read_only_refused => async_graphql::Response::from_errors(vec![coded(
                ServerError::new("a read-only API token may only run queries", None),
                ErrorCode::Forbidden,
            )]),
            Ok(request) => {
                // Kept to name the argument of an error that names only its type.
                source.clone_from(&request.query);
                // A mutation (or an operation that cannot be told) may commit events, and is
                // not cut short by the size cap once it has run.
                if !matches!(kind, Some(OperationType::Query)) {
                    written.mark();
                    budget.exempt();
                }
                let viewer = match &refused {
                    Some(reason) => Viewer::refused(reason.clone()),
                    None => Viewer::signed_in(actor.clone()),
                };
                let loaders = Loaders::new(state.db(), &viewer);
                let mut request = request
                    .data(viewer)
                    .data(loaders)
                    .data(client.clone())
                    .data(written.clone())
                    .data(budget.clone());
                if json_pages {
                    request = request.data(JsonPages);
                }
                if !matches!(kind, Some(OperationType::Query)) {
                    request = request.data(signed_in.clone());
                }
                // One span per operation, named and described as OpenTelemetry's GraphQL
                // conventions have it (`query Tickets`).
                let span = tracing::info_span!(
                    "graphql",
                    otel.name = %match &request.operation_name {
                        Some(name) => format!("{} {name}", operation_label(kind)),
                        None => operation_label(kind).to_string(),
                    },
                    graphql.operation.type = operation_label(kind),
                    graphql.operation.name = request.operation_name.as_deref(),
                );
                budget
                    .run(state.schema().execute(request))
                    .instrument(span)
                    .await
                    .unwrap_or_else(|| too_large(budget.max_bytes()))
            }
        };
        for error in &mut response.errors {
            classify(error, &request_id, &source);
        }
        let mut body = to_json(&response);
        if body.as_ref().is_ok_and(|body| budget.refuses(body.len())) {
            // Whatever was built is dropped here, unsent.
            response = too_large(budget.max_bytes());
            body = to_json(&response);
        }
        operations.push((metric_kind(kind), started.elapsed(), response.is_err()));
        if before_execution(&response) {
            // Nothing ran: the answer has no `data` entry at all.
            body = serde_json::to_vec(&json!({ "errors": response.errors }));
            if single && media == GRAPHQL_RESPONSE {
                status = StatusCode::BAD_REQUEST;
            }
        }
        match body {
            Ok(body) => bodies.push(body),
            Err(err) => {
                tracing::error!(%err, "serializing a response failed");
                return Some(Answer {
                    response: refused_internal(media),
                    operations,
                });
            }
        }
    }
    // A mutation may have committed events: hand them on now rather than at the next poll.
    // A read committed nothing and wakes nothing.
    if written.is_set() {
        state.bus().wake_relay();
    }
    // A new token's first query may run while it is checked, as the account it was issued to.
    for (token, actor) in signed_in.take() {
        state
            .known_accounts()
            .insert(credential_of(&token), actor)
            .await;
    }
    let body = if single {
        bodies.pop().unwrap_or_default()
    } else {
        let mut batch = Vec::with_capacity(bodies.iter().map(|b| b.len() + 1).sum::<usize>() + 2);
        batch.push(b'[');
        for (n, body) in bodies.iter().enumerate() {
            if n > 0 {
                batch.push(b',');
            }
            batch.extend_from_slice(body);
        }
        batch.push(b']');
        batch
    };
    Some(Answer {
        response: respond(status, media, body),
        operations,
    })
}

/// A response as JSON, as async-graphql serialises it, but for the binary values in its
/// data: those are pages of tickets already written as JSON ([`JsonPages`]), and go in as
/// they are. No resolver gives a binary value otherwise.
fn to_json(response: &async_graphql::Response) -> serde_json::Result<Vec<u8>> {
    fn write(out: &mut Vec<u8>, value: &async_graphql::Value) -> serde_json::Result<()> {
        use async_graphql::Value;
        match value {
            Value::Binary(json) => out.extend_from_slice(json),
            Value::List(items) => {
                out.push(b'[');
                for (n, item) in items.iter().enumerate() {
                    if n > 0 {
                        out.push(b',');
                    }
                    write(out, item)?;
                }
                out.push(b']');
            }
            Value::Object(fields) => {
                out.push(b'{');
                for (n, (key, item)) in fields.iter().enumerate() {
                    if n > 0 {
                        out.push(b',');
                    }
                    serde_json::to_writer(&mut *out, key.as_str())?;
                    out.push(b':');
                    write(out, item)?;
                }
                out.push(b'}');
            }
            scalar => serde_json::to_writer(&mut *out, scalar)?,
        }
        Ok(())
    }
    /// The bytes of the binary values in `value`, the bulk of the response when there are any.
    fn written(value: &async_graphql::Value) -> usize {
        use async_graphql::Value;
        match value {
            Value::Binary(json) => json.len(),
            Value::List(items) => items.iter().map(written).sum(),
            Value::Object(fields) => fields.values().map(written).sum(),
            _ => 0,
        }
    }
    let mut out = Vec::with_capacity(1024 + written(&response.data));
    out.extend_from_slice(b"{\"data\":");
    write(&mut out, &response.data)?;
    if !response.extensions.is_empty() {
        out.extend_from_slice(b",\"extensions\":");
        serde_json::to_writer(&mut out, &response.extensions)?;
    }
    if !response.errors.is_empty() {
        out.extend_from_slice(b",\"errors\":");
        serde_json::to_writer(&mut out, &response.errors)?;
    }
    out.push(b'}');
    Ok(out)
}

/// Apollo's automatic persisted queries: a request may name its document by the hex SHA-256 of
/// its text (`extensions.persistedQuery.sha256Hash`, version 1) instead of sending it. A hash
/// this server has not seen yet is answered `PERSISTED_QUERY_NOT_FOUND`; the client then sends
/// the document with its hash, which is checked and kept (in a cache of 32 MiB, per process).
async fn persisted(
    state: &AppState,
    request: &mut Request,
    media: &'static str,
) -> Result<(), Response> {
    use sha2::{Digest, Sha256};
    let Some(extension) = request.extensions.get("persistedQuery") else {
        return Ok(());
    };
    let field = |name: &str| match extension {
        async_graphql::Value::Object(fields) => fields.get(name).cloned(),
        _ => None,
    };
    let hash = match (field("version"), field("sha256Hash")) {
        (Some(async_graphql::Value::Number(version)), Some(async_graphql::Value::String(hash)))
            if version.as_u64() == Some(1) =>
        {
            hash.to_ascii_lowercase()
        }
        _ => {
            return Err(refuse(
                StatusCode::BAD_REQUEST,
                ErrorCode::PersistedQueryNotSupported,
                "persistedQuery must be { version: 1, sha256Hash: \"<hex SHA-256 of the document>\" }",
                media,
            ));
        }
    };
    if request.query.is_empty() {
        return match state.persisted_queries().get(&hash).await {
            Some(query) => {
                request.query = query.to_string();
                Ok(())
            }
            // Not a failure of the request: the client answers it by sending the document.
            None => Err(refuse(
                if media == GRAPHQL_RESPONSE {
                    StatusCode::BAD_REQUEST
                } else {
                    StatusCode::OK
                },
                ErrorCode::PersistedQueryNotFound,
                "PersistedQueryNotFound",
                media,
            )),
        };
    }
    let actual: String = Sha256::digest(request.query.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    if actual != hash {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            ErrorCode::BadRequest,
            "provided sha does not match query",
            media,
        ));
    }
    if request.query.len() <= MAX_DOCUMENT_BYTES {
        state
            .persisted_queries()
            .insert(hash, request.query.as_str().into())
            .await;
    }
    Ok(())
}

/// One operation of a request, parsed.
struct Prepared {
    request: Request,
    /// `None` for a document that does not parse, which async-graphql then reports.
    document: Option<ExecutableDocument>,
    /// Its type, when the document parsed and names one operation to run.
    kind: Option<OperationType>,
    /// No selection set of the document gives a response key twice (see [`Parsed`]).
    keys_unique: bool,
    too_large: bool,
}

/// A document kept parsed, by its text ([`AppState::documents`]), with what is known of it.
pub struct Parsed {
    document: ExecutableDocument,
    /// No selection set gives one response key twice, counting the fields of the fragments
    /// spread in it. async-graphql then merges no values, and a planned page may go into the
    /// response as the JSON it was written as ([`JsonPages`]).
    keys_unique: bool,
}

impl Prepared {
    async fn new(
        request: Request,
        parsed: &moka::future::Cache<String, Arc<Parsed>>,
        limits: &Limits,
    ) -> Self {
        let too_large = request.query.len() > MAX_DOCUMENT_BYTES;
        let (document, keys_unique) = if too_large {
            (None, false)
        } else if let Some(kept) = parsed.get(request.query.as_str()).await {
            (
                Some(ExecutableDocument::clone(&kept.document)),
                kept.keys_unique,
            )
        } else {
            match async_graphql::parser::parse_query(&request.query) {
                // Only documents within the limits are kept (one refused is not worth
                // keeping), and only those are walked for their keys: their expansion is
                // bounded.
                Ok(document)
                    if crate::graphql::extension::limits::check(&document, limits).is_ok() =>
                {
                    let keys_unique = keys_unique(&document);
                    parsed
                        .insert(
                            request.query.clone(),
                            Arc::new(Parsed {
                                document: document.clone(),
                                keys_unique,
                            }),
                        )
                        .await;
                    (Some(document), keys_unique)
                }
                Ok(document) => (Some(document), false),
                Err(_) => (None, false),
            }
        };
        let kind = document
            .as_ref()
            .and_then(|document| chosen(document, request.operation_name.as_deref()))
            .map(|operation| operation.node.ty);
        Self {
            request,
            document,
            kind,
            keys_unique,
            too_large,
        }
    }

    /// How many credential fields the operation it would run holds (none without their names
    /// in the text: most documents are not walked at all).
    fn credential_checks(&self) -> usize {
        if !CREDENTIAL_FIELDS
            .iter()
            .any(|name| self.request.query.contains(name))
        {
            return 0;
        }
        self.document.as_ref().map_or(0, |document| {
            credential_checks(document, self.request.operation_name.as_deref())
        })
    }

    /// The request to execute, or why it may not run.
    fn runnable(self, limits: &Limits) -> Result<Request, ServerError> {
        if self.too_large {
            return Err(coded(
                ServerError::new(
                    format!("the document is larger than {MAX_DOCUMENT_BYTES} bytes"),
                    None,
                ),
                ErrorCode::DocumentTooLarge,
            ));
        }
        let mut request = self.request;
        if let Some(document) = self.document {
            crate::graphql::extension::limits::check(&document, limits)?;
            request.set_parsed_query(document);
        }
        Ok(request)
    }
}

/// Whether no selection set of `document` gives one response key twice, with the fields of
/// the fragments spread (or written inline) in a set counted as the set's own. Fields of
/// fragments on different types are counted together: this may say no where async-graphql
/// would merge nothing, never yes where it would. A walk longer or deeper than any document
/// within the limits expands to (a fragment that spreads itself) says no.
fn keys_unique(document: &ExecutableDocument) -> bool {
    struct Walk<'a> {
        document: &'a ExecutableDocument,
        left: usize,
    }
    impl<'a> Walk<'a> {
        /// A selection set on its own, `depth` sets and fragments deep.
        fn set(&mut self, set: &'a SelectionSet, depth: usize) -> bool {
            let mut keys = std::collections::HashSet::new();
            self.keys(set, &mut keys, depth)
        }

        /// The keys of `set`, added to `keys`; false at a key seen before.
        fn keys(
            &mut self,
            set: &'a SelectionSet,
            keys: &mut std::collections::HashSet<&'a str>,
            depth: usize,
        ) -> bool {
            if depth > 64 {
                return false;
            }
            let depth = depth + 1;
            for selection in &set.items {
                self.left = match self.left.checked_sub(1) {
                    Some(left) => left,
                    None => return false,
                };
                let fine = match &selection.node {
                    Selection::Field(field) => {
                        if !keys.insert(field.node.response_key().node.as_str()) {
                            return false;
                        }
                        self.set(&field.node.selection_set.node, depth)
                    }
                    Selection::FragmentSpread(spread) => self
                        .document
                        .fragments
                        .get(&spread.node.fragment_name.node)
                        .is_some_and(|fragment| {
                            self.keys(&fragment.node.selection_set.node, keys, depth)
                        }),
                    Selection::InlineFragment(inline) => {
                        self.keys(&inline.node.selection_set.node, keys, depth)
                    }
                };
                if !fine {
                    return false;
                }
            }
            true
        }
    }
    let mut walk = Walk {
        document,
        left: 20_000,
    };
    document
        .operations
        .iter()
        .all(|(_, operation)| walk.set(&operation.node.selection_set.node, 0))
}

/// The operation of `document` that runs under `name`.
fn chosen<'a>(
    document: &'a ExecutableDocument,
    name: Option<&str>,
) -> Option<&'a Positioned<OperationDefinition>> {
    match (&document.operations, name) {
        (DocumentOperations::Single(operation), None) => Some(operation),
        (DocumentOperations::Single(_), Some(_)) => None,
        (DocumentOperations::Multiple(operations), Some(name)) => operations.get(name),
        (DocumentOperations::Multiple(operations), None) if operations.len() == 1 => {
            operations.values().next()
        }
        (DocumentOperations::Multiple(_), None) => None,
    }
}

fn metric_kind(kind: Option<OperationType>) -> crate::metrics::OperationType {
    match kind {
        Some(OperationType::Query) => crate::metrics::OperationType::query,
        Some(OperationType::Mutation) => crate::metrics::OperationType::mutation,
        Some(OperationType::Subscription) => crate::metrics::OperationType::subscription,
        None => crate::metrics::OperationType::invalid,
    }
}

fn operation_label(kind: Option<OperationType>) -> &'static str {
    match kind {
        Some(OperationType::Query) => "query",
        Some(OperationType::Mutation) => "mutation",
        Some(OperationType::Subscription) => "subscription",
        None => "operation",
    }
}

/// Fields that check a password or a token: at most [`MAX_CREDENTIAL_CHECKS`] per request.
const CREDENTIAL_FIELDS: &[&str] = &[
    "authLogin",
    "authRefresh",
    "authSecondFactor",
    "authPasswordReset",
    "authPasswordResetRequest",
    "twoFactorEnrollConfirm",
    "twoFactorDisable",
    "userPasswordChange",
];
const MAX_CREDENTIAL_CHECKS: usize = 1;

/// How many credential fields the operation named `operation_name` (each, without a name) of
/// `document` holds, counting aliases and fields reached through fragments.
fn credential_checks(document: &ExecutableDocument, operation_name: Option<&str>) -> usize {
    use async_graphql::parser::types::{Selection, SelectionSet};
    /// Each fragment is counted once and its count reused at every spread (each spread runs
    /// its fields again), so a document of fragments spreading each other many times costs
    /// time linear in its size; a fragment being expanded (a cycle, which validation refuses)
    /// counts nothing.
    struct Counter<'a> {
        document: &'a async_graphql::parser::types::ExecutableDocument,
        done: HashMap<&'a str, usize>,
        visiting: Vec<&'a str>,
    }
    impl<'a> Counter<'a> {
        fn set(&mut self, set: &'a SelectionSet) -> usize {
            let mut total = 0usize;
            for item in &set.items {
                let found = match &item.node {
                    Selection::Field(field) => {
                        usize::from(CREDENTIAL_FIELDS.contains(&field.node.name.node.as_str()))
                    }
                    Selection::InlineFragment(fragment) => {
                        self.set(&fragment.node.selection_set.node)
                    }
                    Selection::FragmentSpread(spread) => {
                        self.fragment(spread.node.fragment_name.node.as_str())
                    }
                };
                total = total.saturating_add(found);
            }
            total
        }

        fn fragment(&mut self, name: &'a str) -> usize {
            if let Some(done) = self.done.get(name) {
                return *done;
            }
            if self.visiting.contains(&name) {
                return 0;
            }
            let Some(fragment) = self.document.fragments.get(name) else {
                return 0;
            };
            self.visiting.push(name);
            let found = self.set(&fragment.node.selection_set.node);
            self.visiting.pop();
            self.done.insert(name, found);
            found
        }
    }
    let operations: Vec<_> = match &document.operations {
        DocumentOperations::Single(operation) => vec![operation],
        DocumentOperations::Multiple(operations) => match operation_name {
            Some(name) => operations
                .iter()
                .filter(|(n, _)| n.as_str() == name)
                .map(|(_, operation)| operation)
                .collect(),
            None => operations.values().collect(),
        },
    };
    let mut counter = Counter {
        document,
        done: HashMap::new(),
        visiting: Vec::new(),
    };
    operations.into_iter().fold(0usize, |total, operation| {
        total.saturating_add(counter.set(&operation.node.selection_set.node))
    })
}

/// Whether the request failed before execution began: a document that did not parse or
/// failed validation, a variable that did not coerce, a limit. Refusals of who is asking
/// (UNAUTHENTICATED, FORBIDDEN) and internal errors are answers of execution.
fn before_execution(response: &async_graphql::Response) -> bool {
    if response.data != async_graphql::Value::Null || response.errors.is_empty() {
        return false;
    }
    let code = |e: &ServerError| {
        e.extensions
            .as_ref()
            .and_then(|ext| ext.get("code"))
            .map(|v| v.to_string().trim_matches('"').to_string())
            .unwrap_or_default()
    };
    let answered = [
        ErrorCode::Unauthenticated,
        ErrorCode::Forbidden,
        ErrorCode::NotFound,
        ErrorCode::Internal,
        ErrorCode::ResponseTooLarge,
    ];
    let first = code(&response.errors[0]);
    response.errors.iter().all(|e| e.path.is_empty())
        && !answered.iter().any(|c| *c == first.as_str())
}

fn response_media(headers: &HeaderMap) -> &'static str {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if accept.contains(GRAPHQL_RESPONSE) {
        GRAPHQL_RESPONSE
    } else {
        "application/json"
    }
}

fn respond(status: StatusCode, media: &'static str, body: Vec<u8>) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&format!("{media}; charset=utf-8"))
            .unwrap_or(HeaderValue::from_static(GRAPHQL_RESPONSE)),
    );
    response
}

fn refuse(status: StatusCode, code: ErrorCode, message: &str, media: &'static str) -> Response {
    respond(
        status,
        media,
        json!({ "errors": [{ "message": message, "extensions": { "code": code.as_str() } }] })
            .to_string()
            .into_bytes(),
    )
}

fn coded(mut error: ServerError, code: ErrorCode) -> ServerError {
    let mut extensions = ErrorExtensionValues::default();
    extensions.set("code", code.as_str());
    error.extensions = Some(extensions);
    error
}

/// The actor behind the `Authorization` header: none without a header, an error for a
/// header that does not carry a valid token.
async fn viewer(
    state: &AppState,
    headers: &HeaderMap,
) -> service::Result<Option<service::actor::Actor>> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let token = value.to_str().ok().and_then(super::bearer).ok_or_else(|| {
        service::Error::Unauthenticated("expected `Authorization: Bearer <token>`".into())
    })?;
    let (actor, _) = service::auth::bearer_actor(state.db(), state.auth(), token).await?;
    Ok(Some(actor))
}

/// [`viewer`], for a credential whose check a statement alongside a page may take
/// ([`CheckAlongside`]): the account as that statement read it when one did, else as the check
/// reads it itself.
async fn viewer_alongside(
    state: &AppState,
    headers: &HeaderMap,
    alongside: Arc<CheckAlongside>,
    rows: tokio::sync::oneshot::Receiver<service::ticket::alongside::ViewerRows>,
) -> service::Result<Option<service::actor::Actor>> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(super::bearer)
        .filter(|token| !service::api_token::is_api_token(token));
    if let Some(token) = token {
        let claims = state.auth().verify_access_token(token)?;
        let asked = alongside.viewer();
        // The statement was asked about the account the credential named before; the
        // credential is the same, so are its claims, but only rows of these claims answer.
        if claims.sub == asked.user_id
            && claims.sid == asked.session_id
            && alongside.taken()
            && let Ok(found) = rows.await
        {
            return service::auth::viewer_actor(&claims, found).map(Some);
        }
    }
    viewer(state, headers).await
}

/// Gives every error an `extensions.code`. Resolver errors carry theirs already; what is left
/// comes from async-graphql itself: a document that does not parse, one that fails validation
/// or a limit, an argument value of the wrong type. Internal errors get the request id, which
/// is also on the log line with their cause.
fn classify(error: &mut ServerError, request_id: &str, source: &str) {
    let existing = error
        .extensions
        .as_ref()
        .and_then(|ext| ext.get("code"))
        .map(|v| v.to_string().trim_matches('"').to_string());
    if let Some(code) = existing {
        if ErrorCode::Internal == code.as_str() {
            error
                .extensions
                .get_or_insert_with(Default::default)
                .set("requestId", request_id);
        }
        return;
    }
    let message = error.message.clone();
    let extensions = error.extensions.get_or_insert_with(Default::default);
    if message.contains("Invalid value for argument")
        || message.starts_with("Failed to parse")
        || message.contains("got invalid value")
    {
        extensions.set("code", ErrorCode::BadUserInput.as_str());
        // `Failed to parse "Int": ...` (a validator's refusal) names the type; the argument is
        // the name written before the value the error points at.
        let field = if message.starts_with("Failed to parse") {
            error
                .locations
                .first()
                .and_then(|at| argument_at(source, at.line, at.column))
        } else {
            None
        };
        if let Some(field) = field.or_else(|| argument_of(&message)) {
            extensions.set("field", field);
        }
    } else if message.starts_with("Query is too complex") {
        extensions.set("code", ErrorCode::ComplexityLimit.as_str());
    } else if message.starts_with("Query is nested too deep") || message.contains("recursion depth")
    {
        extensions.set("code", ErrorCode::DepthLimit.as_str());
    } else if message.contains("directives") && message.contains("exceed") {
        extensions.set("code", ErrorCode::DirectiveLimit.as_str());
    } else if error.path.is_empty() {
        let parse =
            message.contains("-->") || error.locations.is_empty() && message.contains("expected");
        extensions.set(
            "code",
            if parse {
                ErrorCode::GraphqlParseFailed
            } else {
                ErrorCode::GraphqlValidationFailed
            }
            .as_str(),
        );
    } else {
        tracing::error!(error = %message, path = ?error.path, "unclassified error while resolving");
        extensions.set("code", ErrorCode::Internal.as_str());
        extensions.set("requestId", request_id);
        error.message = "internal error".into();
    }
}

/// The name of the argument whose value starts at `line`:`column` (from 1) of `source`:
/// `first` in `comments(first: -1)`.
fn argument_at(source: &str, line: usize, column: usize) -> Option<String> {
    let text = source.lines().nth(line.checked_sub(1)?)?;
    let at = text.char_indices().nth(column.checked_sub(1)?)?.0;
    let before = text[..at].trim_end().strip_suffix(':')?.trim_end();
    let start = before
        .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .map_or(0, |i| i + 1);
    let name = &before[start..];
    (!name.is_empty()).then(|| name.to_string())
}

/// The innermost argument name in messages like `Invalid value for argument "input.priority"`.
fn argument_of(message: &str) -> Option<String> {
    let start = message.find('"')? + 1;
    let end = start + message[start..].find('"')?;
    message[start..end].rsplit('.').next().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::{argument_at, keys_unique, to_json};

    #[test]
    fn the_argument_an_error_points_at_is_named() {
        let source = "{ tickets {\n  nodes { comments(first: -1) { nodes { id } } } } }";
        assert_eq!(argument_at(source, 2, 27).as_deref(), Some("first"));
        let source =
            "query($at: String) { tickets { nodes { comments(after :  $at) { nodes { id } } } } }";
        assert_eq!(argument_at(source, 1, 58).as_deref(), Some("after"));
        // Not an argument's value: nothing is named.
        assert_eq!(argument_at(source, 1, 1), None);
        assert_eq!(argument_at(source, 1, 500), None);
        assert_eq!(argument_at(source, 0, 1), None);
        assert_eq!(argument_at(source, 3, 1), None);
    }

    #[test]
    fn a_document_gives_each_response_key_once_or_not() {
        let unique = |text: &str| {
            keys_unique(&async_graphql::parser::parse_query(text).expect("a document"))
        };
        assert!(unique(
            "{ tickets(first: 50) { nodes { number requester { name } assignee { name } \
               comments(first: 5) { nodes { body author { name } } } } } }"
        ));
        // The same name in different sets, or under aliases.
        assert!(unique("{ a { id } b { id } c: a { id } }"));
        assert!(unique("query { ...F } fragment F on Query { a { id } }"));
        assert!(!unique("{ a a }"));
        assert!(!unique("{ a { id } x: b { y: id y: name } }"));
        assert!(!unique("{ a { id } a { name } }"));
        // Through fragments, spread or inline, which add their fields to the set.
        assert!(!unique("{ a { id ... on T { id } } }"));
        assert!(!unique("query { a ...F } fragment F on Query { a }"));
        assert!(!unique(
            "query Q { a { ...F ...F } } fragment F on T { id }"
        ));
        // A fragment that is not there, or spreads itself.
        assert!(!unique("{ ...Missing }"));
        assert!(!unique("query { ...F } fragment F on Query { a { ...F } }"));
        // Every operation of the document.
        assert!(!unique("query A { a } query B { b b }"));
    }

    #[test]
    fn a_response_is_written_as_serde_writes_it_with_pages_as_they_are() {
        use async_graphql::{Name, Response, ServerError, Value};
        let data = Value::from_json(serde_json::json!({
            "a": [1, 2.5, "x\"y", null, true, { "b": "\u{1}" }],
            "e": "OPEN",
        }))
        .expect("a value");
        let mut response = Response::new(data);
        response.errors.push(ServerError::new("no", None));
        response
            .extensions
            .insert("cost".to_string(), Value::from(3));
        assert_eq!(
            to_json(&response).expect("json"),
            serde_json::to_vec(&response).expect("json")
        );
        // A page written as JSON goes in as it is.
        let mut fields = async_graphql::indexmap::IndexMap::new();
        fields.insert(
            Name::new("nodes"),
            Value::Binary(br#"[{"id":"x"}]"#.to_vec().into()),
        );
        let page = Response::new(Value::Object(fields));
        assert_eq!(
            to_json(&page).expect("json"),
            br#"{"data":{"nodes":[{"id":"x"}]}}"#
        );
    }
}
