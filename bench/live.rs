//! Live updates under load, against the release binary on a fresh database:
//!
//! - memory per idle subscription socket (server RSS before and after opening them);
//! - mutation -> subscriber latency, p50/p99/max, with every socket subscribed to the ticket
//!   being changed, through its organization (measured from sending the mutation to each socket receiving the event),
//!   and the SQL statements each event cost (the mutation's own included): flat in the number
//!   of subscribers;
//! - webhook deliveries per second to a local receiver (a replay of the events queued at once),
//!   checking that each ticket's events arrive in order.
//!
//! Every socket is a file descriptor on both sides: the bench raises its open-file limit to the
//! hard limit (the server it starts inherits it) and warns when that is still too low.
//!
//! `cargo build --release && cargo run --release --example live -- [SUBSCRIBERS] [EVENTS] [DELIVERIES] [SIGN_INS]`
//! (defaults 1000, 100, 2000, 1: the sockets are spread over SIGN_INS sign-ins of the same
//! user, at most 10; the sockets of one sign-in share one execution of their subscription). Set `DATABASE_URL` (and `REDIS_URL`) to run on PostgreSQL; the
//! database must be empty.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::{Notify, mpsc};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

const ADMIN: &str = "admin@demo.helpdesk.local";
const PASSWORD: &str = "helpdesk-demo";

#[tokio::main]
async fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("numbers"))
        .collect();
    let subscribers = args.first().copied().unwrap_or(1000);
    let events = args.get(1).copied().unwrap_or(100);
    let deliveries = args.get(2).copied().unwrap_or(2000);
    // Sign-ins the sockets are spread over (each its own session, so each its own shared
    // execution); at most 10, the sign-ins one account may make in a minute.
    let sign_ins = args.get(3).copied().unwrap_or(1).clamp(1, 10);

    let open_files = raise_open_files();
    if (subscribers as u64) + 200 > open_files {
        eprintln!(
            "warning: {subscribers} sockets need more than the {open_files} open files this process may have (ulimit -n)"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let binary = std::env::var("HELPDESK_BIN").unwrap_or_else(|_| "target/release/helpdesk".into());
    let binary =
        std::fs::canonicalize(&binary).expect("the release binary (cargo build --release)");
    let mut command = tokio::process::Command::new(binary);
    command
        .args(["serve", "--demo", "--demo-tickets", "200"])
        .env("HELPDESK_ADDR", "127.0.0.1:0")
        .env("HELPDESK_WEBHOOK_ALLOW_PRIVATE", "true")
        .env("HELPDESK_ACCESS_TOKEN_TTL", "3600")
        // Every subscriber is the same user on the same address: lift the socket caps.
        .env("HELPDESK_MAX_SOCKETS_PER_USER", "1000000")
        .env("HELPDESK_MAX_SOCKETS_PER_ADDRESS", "1000000")
        .env("RUST_LOG", "error")
        .current_dir(dir.path())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true);
    if std::env::var("DATABASE_URL").is_ok() && std::env::var("HELPDESK_JWT_SECRET").is_err() {
        command.env(
            "HELPDESK_JWT_SECRET",
            "bench-signing-key-of-at-least-32-bytes!!",
        );
    }
    // PostgreSQL requires a data key (on SQLite a key file beside the database is made).
    if std::env::var("DATABASE_URL").is_ok() && std::env::var("HELPDESK_DATA_KEY").is_err() {
        command.env(
            "HELPDESK_DATA_KEY",
            "YmVuY2gtZGF0YS1rZXktb2YtZXhhY3RseS0zMi1ieXQ=",
        );
    }
    let mut server = command.spawn().expect("start helpdesk");
    let pid = server.id().unwrap();
    let mut lines = BufReader::new(server.stdout.take().unwrap()).lines();
    let address = loop {
        let line = lines.next_line().await.unwrap().expect("server output");
        if let Some(rest) = line.split("listening on ").nth(1) {
            break rest.trim().to_string();
        }
    };
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let http = reqwest::Client::new();
    let mut tokens = Vec::with_capacity(sign_ins);
    for _ in 0..sign_ins {
        let token = graphql(
            &http,
            &address,
            None,
            "mutation($input: AuthLoginInput!) { authLogin(input: $input) { accessToken } }",
            json!({ "input": { "email": ADMIN, "password": PASSWORD } }),
        )
        .await["data"]["authLogin"]["accessToken"]
            .as_str()
            .unwrap()
            .to_string();
        tokens.push(token);
    }
    let token = tokens[0].clone();
    let listed = graphql(
        &http,
        &address,
        Some(&token),
        "{ tickets(first: 100) { nodes { id organization { id } } } }",
        json!({}),
    )
    .await;
    let listed = listed["data"]["tickets"]["nodes"].as_array().unwrap();
    let tickets: Vec<String> = listed
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect();
    let organization = listed[0]["organization"]["id"]
        .as_str()
        .unwrap()
        .to_string();

    // Memory per idle socket.
    let before = rss_kib(pid);
    let ws = format!("{}/graphql/ws", address.replace("http://", "ws://"));
    let mut sockets = Vec::with_capacity(subscribers);
    for socket in 0..subscribers {
        let token = &tokens[socket % sign_ins];
        let mut request = ws.as_str().into_client_request().unwrap();
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_static("graphql-transport-ws"),
        );
        let (mut socket, _) = tokio_tungstenite::connect_async(request)
            .await
            .expect("connect");
        socket.send(Message::Text(json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {token}") } }).to_string().into())).await.unwrap();
        let ack = socket.next().await.unwrap().unwrap();
        assert!(ack.to_text().unwrap().contains("connection_ack"), "{ack:?}");
        sockets.push(socket);
    }
    let after = rss_kib(pid);
    println!(
        "idle sockets: {subscribers}, server RSS {before} KiB -> {after} KiB, {:.1} KiB per socket",
        (after.saturating_sub(before)) as f64 / subscribers as f64
    );

    // Mutation -> subscriber latency.
    let ticket = tickets[0].clone();
    let (received_tx, mut received) = mpsc::unbounded_channel::<Instant>();
    // Every socket follows the organization of the ticket being changed.
    let query = "subscription($organization: ID!) { ticketEvents(filter: { organizationId: $organization, kinds: [COMMENT_CREATED] }) { id position } }";
    for mut socket in sockets {
        socket.send(Message::Text(json!({ "id": "1", "type": "subscribe", "payload": { "query": query, "variables": { "organization": organization } } }).to_string().into())).await.unwrap();
        let tx = received_tx.clone();
        tokio::spawn(async move {
            while let Some(Ok(message)) = socket.next().await {
                if let Message::Text(text) = message {
                    if text.contains("\"next\"") && !text.contains("\"errors\"") {
                        let _ = tx.send(Instant::now());
                    } else if !text.contains("\"ping\"") {
                        // A refused subscription would leave the bench waiting for it.
                        eprintln!("unexpected message: {text}");
                        std::process::exit(1);
                    }
                }
            }
        });
    }
    wait_for_subscriptions(&http, &address, subscribers).await;
    let statements_before = metric(&http, &address, "helpdesk_db_statements_total").await;
    let cpu_before = cpu_seconds(pid);
    let mut latencies = Vec::with_capacity(events * subscribers);
    for i in 0..events {
        let sent = Instant::now();
        comment(&http, &address, &token, &ticket, &format!("event {i}")).await;
        for _ in 0..subscribers {
            let at = tokio::time::timeout(Duration::from_secs(30), received.recv())
                .await
                .expect("event within 30 s")
                .unwrap();
            latencies.push(at - sent);
        }
    }
    let statements =
        metric(&http, &address, "helpdesk_db_statements_total").await - statements_before;
    let cpu = cpu_seconds(pid) - cpu_before;
    latencies.sort();
    let pick = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    println!(
        "mutation -> subscriber: {events} events x {subscribers} subscribers ({sign_ins} sign-in(s)), p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms, {:.1} statements per event (the mutation's included)",
        ms(pick(0.50)),
        ms(pick(0.99)),
        ms(*latencies.last().unwrap()),
        statements / events as f64
    );
    println!(
        "server CPU: {:.1} ms per event, {:.1} us per push",
        cpu * 1000.0 / events as f64,
        cpu * 1e6 / (events * subscribers) as f64
    );

    // Webhook deliveries per second.
    let since = chrono::Utc::now();
    let start = feed_end(&http, &address, &token).await;
    for i in 0..deliveries {
        let ticket = &tickets[i % tickets.len()];
        comment(&http, &address, &token, ticket, &format!("delivery {i}")).await;
    }
    // Every comment published, so the relay queues nothing for the endpoint made next: the
    // replay alone queues its deliveries, all at once.
    published(&http, &address, &token, start, deliveries).await;
    let count = Arc::new(AtomicUsize::new(0));
    let out_of_order = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(Notify::new());
    let (counter, misordered, notify) = (count.clone(), out_of_order.clone(), done.clone());
    // The last sequence number received per ticket: each ticket's events must arrive in order.
    let last_of_ticket = Arc::new(std::sync::Mutex::new(std::collections::HashMap::<
        String,
        i64,
    >::new()));
    let target = deliveries;
    let receiver = axum::Router::new().fallback(move |body: String| {
        let counter = counter.clone();
        let misordered = misordered.clone();
        let notify = notify.clone();
        let last_of_ticket = last_of_ticket.clone();
        async move {
            let event: Value = serde_json::from_str(&body).unwrap_or_default();
            let ticket = event["data"]["ticketId"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let sequence = event["data"]["sequence"].as_i64().unwrap_or_default();
            {
                let mut last = last_of_ticket.lock().unwrap();
                let previous = last.insert(ticket, sequence).unwrap_or(0);
                if sequence <= previous {
                    // An earlier event of the ticket after a later one, or one twice.
                    misordered.fetch_add(1, Ordering::SeqCst);
                }
            }
            if counter.fetch_add(1, Ordering::SeqCst) + 1 >= target {
                notify.notify_one();
            }
            "ok"
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, receiver).await });
    let created = graphql(
        &http,
        &address,
        Some(&token),
        "mutation($input: WebhookCreateInput!) { webhookCreate(input: $input) { webhook { id } } }",
        json!({ "input": { "url": url, "events": ["COMMENT_CREATED"] } }),
    )
    .await;
    let id = created["data"]["webhookCreate"]["webhook"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let started = Instant::now();
    let replay = graphql(
        &http,
        &address,
        Some(&token),
        "mutation($input: WebhookReplayInput!) { webhookReplay(input: $input) { queued } }",
        json!({ "input": { "id": id, "since": since } }),
    )
    .await;
    let queued = replay["data"]["webhookReplay"]["queued"].as_u64().unwrap() as usize;
    assert_eq!(queued, deliveries, "{replay}");
    tokio::time::timeout(Duration::from_secs(600), done.notified())
        .await
        .expect("all deliveries within 10 minutes");
    let elapsed = started.elapsed();
    println!(
        "webhook deliveries: {deliveries} over {} tickets in {:.2} s, {:.0} deliveries/s, {} out of per-ticket order or repeated",
        tickets.len(),
        elapsed.as_secs_f64(),
        deliveries as f64 / elapsed.as_secs_f64(),
        out_of_order.load(Ordering::SeqCst)
    );
    let _ = server.kill().await;
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Raises this process's open-file limit to its hard limit, for thousands of sockets; the
/// server started from here inherits it. Returns the limit now in force.
fn raise_open_files() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct they are given.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return 1024;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
    }
    limit.rlim_cur
}

/// User and system CPU time a process has used, from /proc (in clock ticks of 1/100 s).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name (which may hold spaces) follow its ')'.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime: fields 14 and 15 of the line, 12 and 13 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

/// Resident memory of a process, from /proc.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

async fn graphql(
    http: &reqwest::Client,
    address: &str,
    token: Option<&str>,
    query: &str,
    variables: Value,
) -> Value {
    let mut request = http
        .post(format!("{address}/graphql"))
        .json(&json!({ "query": query, "variables": variables }));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap().json().await.unwrap()
}

async fn comment(http: &reqwest::Client, address: &str, token: &str, ticket: &str, body: &str) {
    let response = graphql(
        http,
        address,
        Some(token),
        "mutation($input: CommentCreateInput!) { commentCreate(input: $input) { comment { id } } }",
        json!({ "input": { "ticketId": ticket, "body": body } }),
    )
    .await;
    assert!(
        response["data"]["commentCreate"]["comment"].is_object(),
        "{response}"
    );
}

const COMMENT_FEED: &str = "query($after: String) { events(after: $after, first: 100, filter: { kinds: [COMMENT_CREATED] }) { nodes { id } pageInfo { endCursor } } }";

/// One page of `comment.created` events after `cursor`: how many, and the cursor after them
/// (`cursor` itself when there were none).
async fn comment_page(
    http: &reqwest::Client,
    address: &str,
    token: &str,
    cursor: &Value,
) -> (usize, Value) {
    let page = graphql(
        http,
        address,
        Some(token),
        COMMENT_FEED,
        json!({ "after": cursor }),
    )
    .await;
    let count = page["data"]["events"]["nodes"]
        .as_array()
        .map_or(0, |n| n.len());
    if count == 0 {
        return (0, cursor.clone());
    }
    (
        count,
        page["data"]["events"]["pageInfo"]["endCursor"].clone(),
    )
}

/// The cursor after the last `comment.created` event in the change feed.
async fn feed_end(http: &reqwest::Client, address: &str, token: &str) -> Value {
    let mut cursor = Value::Null;
    loop {
        let (count, next) = comment_page(http, address, token, &cursor).await;
        if count == 0 {
            return cursor;
        }
        cursor = next;
    }
}

/// Waits until the change feed holds `count` `comment.created` events after `cursor` (the
/// relay published them).
async fn published(
    http: &reqwest::Client,
    address: &str,
    token: &str,
    mut cursor: Value,
    count: usize,
) {
    let mut seen = 0;
    while seen < count {
        let (found, next) = comment_page(http, address, token, &cursor).await;
        seen += found;
        cursor = next;
        if found == 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// One unlabelled value from `/metrics`.
async fn metric(http: &reqwest::Client, address: &str, name: &str) -> f64 {
    let body = http
        .get(format!("{address}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    body.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

async fn wait_for_subscriptions(http: &reqwest::Client, address: &str, count: usize) {
    loop {
        let body = http
            .get(format!("{address}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let active = body
            .lines()
            .find_map(|l| l.strip_prefix("helpdesk_subscriptions_active "))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or(0.0);
        if active as usize >= count {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
