//! Attachments end to end: the two-step upload, attaching, downloading (whole and by range),
//! the limits and checks on the way in, encryption at rest, virus scanning with a real `clamd`,
//! and who sees what. The storage is a local directory, or the S3-compatible server named by
//! `HELPDESK_TEST_STORAGE_URL` (CI runs the suite against both).

use serde_json::{Value, json};
use sha2::Digest;

use crate::clamd::{EICAR, OwnClamd};
use crate::helpers::*;

const BEGIN: &str = "mutation($input: AttachmentUploadBeginInput!) { attachmentUploadBegin(input: $input) { attachment { id status scanStatus } uploadUrl uploadUrlExpiresAt userErrors { field code message } } }";
const COMMENT: &str = "mutation($input: CommentCreateInput!) { commentCreate(input: $input) { comment { id attachments { nodes { id fileName } } } userErrors { field code message } } }";
const TICKET_FILES: &str = "query($id: ID!) { ticket(id: $id) { attachmentCount attachments { nodes { id fileName contentType sizeBytes sha256 internal status scanStatus downloadUrl } } comments { nodes { internal attachments { nodes { id } } } } } }";

/// Deterministic bytes that do not repeat within a file (no plaintext block recurs).
pub fn content(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

pub fn sha_hex(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub struct Upload {
    pub id: String,
    pub url: String,
}

/// `attachmentUploadBegin`, expecting success.
pub async fn begin(
    app: &TestApp,
    token: &str,
    ticket: Option<&str>,
    name: &str,
    content_type: &str,
    size: usize,
    internal: bool,
) -> Upload {
    let begun = begin_raw(
        app,
        token,
        ticket,
        name,
        content_type,
        size as i64,
        internal,
    )
    .await;
    let payload = &begun["data"]["attachmentUploadBegin"];
    assert_eq!(payload["userErrors"], json!([]), "{begun}");
    assert_eq!(payload["attachment"]["status"], "UPLOADING", "{begun}");
    Upload {
        id: payload["attachment"]["id"].as_str().unwrap().to_string(),
        url: payload["uploadUrl"].as_str().unwrap().to_string(),
    }
}

pub async fn begin_raw(
    app: &TestApp,
    token: &str,
    ticket: Option<&str>,
    name: &str,
    content_type: &str,
    size: i64,
    internal: bool,
) -> Value {
    app.graphql_as(
        token,
        BEGIN,
        json!({ "input": { "ticketId": ticket, "fileName": name, "contentType": content_type, "sizeBytes": size, "internal": internal } }),
    )
    .await
}

/// PUTs bytes to an upload link (a path on the server).
pub async fn put(app: &TestApp, url: &str, body: impl Into<reqwest::Body>) -> reqwest::Response {
    app.client
        .put(format!("{}{url}", app.address))
        .body(body)
        .send()
        .await
        .expect("PUT upload")
}

/// Begins, sends and returns the id of a complete upload.
pub async fn upload(
    app: &TestApp,
    token: &str,
    ticket: Option<&str>,
    name: &str,
    content_type: &str,
    bytes: Vec<u8>,
    internal: bool,
) -> String {
    let up = begin(
        app,
        token,
        ticket,
        name,
        content_type,
        bytes.len(),
        internal,
    )
    .await;
    let sent = put(app, &up.url, bytes).await;
    assert_eq!(sent.status(), 200, "{}", sent.text().await.unwrap());
    up.id
}

/// Comments with files; returns the payload.
pub async fn comment_with(
    app: &TestApp,
    token: &str,
    ticket: &str,
    internal: bool,
    ids: &[&str],
) -> Value {
    app.graphql_as(
        token,
        COMMENT,
        json!({ "input": { "ticketId": ticket, "body": "See the attached file.", "internal": internal, "attachmentIds": ids } }),
    )
    .await
}

async fn files_of(app: &TestApp, token: &str, ticket: &str) -> Value {
    let answer = app
        .graphql_as(token, TICKET_FILES, json!({ "id": ticket }))
        .await;
    assert!(answer["errors"].is_null(), "{answer}");
    answer["data"]["ticket"].clone()
}

async fn download(app: &TestApp, url: &str) -> reqwest::Response {
    app.client
        .get(format!("{}{url}", app.address))
        .send()
        .await
        .expect("GET download")
}

#[tokio::test]
async fn a_file_goes_up_is_attached_and_comes_back_whole_and_by_range() {
    let app = TestApp::spawn().await;
    let world = World::build(app.db()).await;
    let client = app.login(&email_of("client_a"), PASSWORD).await;
    let agent = app.login(&email_of("agent_a"), PASSWORD).await;
    let ticket = gid("Ticket", world.ticket_a);
    let bytes = content(1, 3 * 1024 * 1024 + 1234);
    let up = begin(
        &app,
        &client,
        Some(&ticket),
        "../logs/app.log",
        "text/plain",
        bytes.len(),
        false,
    )
    .await;
    let sent = put(&app, &up.url, bytes.clone()).await;
    assert_eq!(sent.status(), 200);
    let stored: Value = sent.json().await.unwrap();
    assert_eq!(stored["sha256"], sha_hex(&bytes));
    assert_eq!(stored["fileName"], "app.log", "the directory is dropped");
    // The same link cannot send a second time.
    let again = put(&app, &up.url, bytes.clone()).await;
    assert_eq!(again.status(), 409);

    let commented = comment_with(&app, &client, &ticket, false, &[&up.id]).await;
    assert_eq!(
        commented["data"]["commentCreate"]["userErrors"],
        json!([]),
        "{commented}"
    );
    assert_eq!(
        commented["data"]["commentCreate"]["comment"]["attachments"]["nodes"][0]["id"],
        up.id.as_str()
    );
    // Attached once only.
    let twice = comment_with(&app, &client, &ticket, false, &[&up.id]).await;
    assert_eq!(
        twice["data"]["commentCreate"]["userErrors"][0]["field"], "attachmentIds",
        "{twice}"
    );

    for token in [&client, &agent] {
        let files = files_of(&app, token, &ticket).await;
        assert_eq!(files["attachmentCount"], 1, "{files}");
        let file = &files["attachments"]["nodes"][0];
        assert_eq!(file["sha256"], sha_hex(&bytes));
        assert_eq!(file["sizeBytes"], bytes.len());
        assert_eq!(file["status"], "ATTACHED");
        assert_eq!(file["scanStatus"], "NOT_SCANNED");
        let url = file["downloadUrl"].as_str().expect("a download URL");
        let whole = download(&app, url).await;
        assert_eq!(whole.status(), 200);
        let headers = whole.headers().clone();
        assert_eq!(headers["content-type"], "text/plain");
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(headers["content-length"], bytes.len().to_string().as_str());
        assert_eq!(headers["accept-ranges"], "bytes");
        assert!(
            headers["content-disposition"]
                .to_str()
                .unwrap()
                .starts_with("attachment; filename=\"app.log\""),
            "{headers:?}"
        );
        assert!(
            whole.bytes().await.unwrap() == bytes,
            "the bytes came back changed"
        );
    }

    // Ranges, across chunk boundaries, and past the end.
    let files = files_of(&app, &agent, &ticket).await;
    let url = files["attachments"]["nodes"][0]["downloadUrl"]
        .as_str()
        .unwrap()
        .to_string();
    for (header, range) in [
        ("bytes=0-9", 0..10),
        ("bytes=65530-131080", 65530..131081),
        ("bytes=-100", bytes.len() - 100..bytes.len()),
        ("bytes=3000000-", 3_000_000..bytes.len()),
    ] {
        let part = app
            .client
            .get(format!("{}{url}", app.address))
            .header("range", header)
            .send()
            .await
            .unwrap();
        assert_eq!(part.status(), 206, "{header}");
        assert_eq!(
            part.headers()["content-range"],
            format!("bytes {}-{}/{}", range.start, range.end - 1, bytes.len()).as_str()
        );
        assert!(
            part.bytes().await.unwrap() == bytes[range.clone()],
            "{header}"
        );
    }
    let outside = app
        .client
        .get(format!("{}{url}", app.address))
        .header("range", format!("bytes={}-", bytes.len()))
        .send()
        .await
        .unwrap();
    assert_eq!(outside.status(), 416);

    // A deleted file disappears at once, and its bytes go with the next clean-up.
    let deleted = app
        .graphql_as(
            &client,
            "mutation($input: AttachmentDeleteInput!) { attachmentDelete(input: $input) { deletedAttachmentId userErrors { code } } }",
            json!({ "input": { "id": up.id } }),
        )
        .await;
    assert_eq!(
        deleted["data"]["attachmentDelete"]["deletedAttachmentId"],
        up.id.as_str(),
        "{deleted}"
    );
    assert_eq!(files_of(&app, &agent, &ticket).await["attachmentCount"], 0);
    assert_eq!(download(&app, &url).await.status(), 404);
    let storage = &app.state.attachments().storage;
    let report = service::attachment::check(app.db(), storage).await.unwrap();
    assert_eq!(report.objects, 1);
    let now = chrono::Utc::now();
    let purged = service::attachment::purge(app.db(), storage, now, now)
        .await
        .unwrap();
    assert_eq!(purged, 1);
    let report = service::attachment::check(app.db(), storage).await.unwrap();
    assert_eq!((report.objects, report.rows), (0, 0), "{report:?}");
}

#[tokio::test]
async fn a_ticket_is_created_with_files_uploaded_before_it() {
    let app = TestApp::spawn().await;
    let world = World::build(app.db()).await;
    let client = app.login(&email_of("client_a"), PASSWORD).await;
    let png = [b"\x89PNG\r\n\x1a\n".as_slice(), &content(2, 5000)].concat();
    let id = upload(
        &app,
        &client,
        None,
        "screenshot.png",
        "image/png",
        png,
        false,
    )
    .await;
    let created = app
        .graphql_as(
            &client,
            "mutation($input: TicketCreateInput!) { ticketCreate(input: $input) { ticket { id attachmentCount attachments { nodes { id contentType } } } userErrors { field message } } }",
            json!({ "input": { "title": "Screen is blank", "organizationId": gid("Organization", world.org_a), "attachmentIds": [id] } }),
        )
        .await;
    let ticket = &created["data"]["ticketCreate"]["ticket"];
    assert_eq!(ticket["attachmentCount"], 1, "{created}");
    assert_eq!(
        ticket["attachments"]["nodes"][0]["contentType"],
        "image/png"
    );
    // The creation event carries the file's metadata, never its bytes.
    let payload: Value = entity::outbox_event::Entity::find()
        .filter(entity::outbox_event::Column::Kind.eq("ticket.created"))
        .filter(entity::outbox_event::Column::TicketId.ne(world.ticket_a))
        .filter(entity::outbox_event::Column::TicketId.ne(world.ticket_b))
        .one(app.db())
        .await
        .unwrap()
        .expect("the event")
        .payload;
    assert_eq!(
        payload["attachments"][0]["fileName"], "screenshot.png",
        "{payload}"
    );
    assert!(payload["attachments"][0].get("storageKey").is_none());

    // Deleting the ticket hides its files: the link handed out before serves nothing, the
    // node is gone.
    let ticket_id = ticket["id"].as_str().unwrap().to_string();
    let files = files_of(&app, &client, &ticket_id).await;
    let url = files["attachments"]["nodes"][0]["downloadUrl"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(download(&app, &url).await.status(), 200);
    let admin = app.login(&email_of("admin"), PASSWORD).await;
    let deleted = app
        .graphql_as(
            &admin,
            "mutation($input: TicketDeleteInput!) { ticketDelete(input: $input) { userErrors { code } } }",
            json!({ "input": { "id": ticket_id } }),
        )
        .await;
    assert_eq!(
        deleted["data"]["ticketDelete"]["userErrors"],
        json!([]),
        "{deleted}"
    );
    assert_eq!(download(&app, &url).await.status(), 404);
    let node = app
        .graphql_as(
            &admin,
            "query($id: ID!) { node(id: $id) { id } }",
            json!({ "id": id }),
        )
        .await;
    assert!(node["data"]["node"].is_null(), "{node}");
}

#[tokio::test]
async fn limits_types_and_sizes_are_checked_before_and_while_the_bytes_arrive() {
    let app = TestApp::spawn_with(|settings| {
        settings.attachments.attachment_max_bytes = 256 * 1024;
        settings.attachments.attachment_ticket_max_bytes = 400 * 1024;
    })
    .await;
    let world = World::build(app.db()).await;
    let client = app.login(&email_of("client_a"), PASSWORD).await;
    let ticket = gid("Ticket", world.ticket_a);
    let field_of = |answer: &Value| {
        let errors = &answer["data"]["attachmentUploadBegin"]["userErrors"];
        assert_eq!(errors[0]["code"], "BAD_USER_INPUT", "{answer}");
        errors[0]["field"].as_str().unwrap().to_string()
    };
    let cases: [(&str, &str, i64, bool, &str); 6] = [
        (
            "big.bin",
            "application/octet-stream",
            256 * 1024 + 1,
            false,
            "sizeBytes",
        ),
        (
            "setup.exe",
            "application/octet-stream",
            10,
            false,
            "fileName",
        ),
        ("tool", "application/x-msdownload", 10, false, "contentType"),
        ("a.txt", "not a type", 10, false, "contentType"),
        ("", "text/plain", 10, false, "fileName"),
        ("note.txt", "text/plain", 10, true, "FORBIDDEN"),
    ];
    for (name, kind, size, internal, field) in cases {
        let answer = begin_raw(&app, &client, Some(&ticket), name, kind, size, internal).await;
        if field == "FORBIDDEN" {
            assert_eq!(
                error_code(&answer),
                "FORBIDDEN",
                "a client's internal upload"
            );
        } else {
            assert_eq!(field_of(&answer), field, "{name} {kind} {size}");
        }
    }
    let count = || async {
        entity::attachment::Entity::find()
            .count(app.db())
            .await
            .unwrap()
    };
    assert_eq!(count().await, 0, "refused uploads leave no row");

    // More bytes than announced: refused while streaming (the body is far larger than the
    // cap), and nothing stays in storage.
    let up = begin(
        &app,
        &client,
        Some(&ticket),
        "grows.log",
        "text/plain",
        1000,
        false,
    )
    .await;
    let endless = futures_util::stream::iter(
        (0..64).map(|i| Ok::<_, std::io::Error>(bytes::Bytes::from(content(i, 64 * 1024)))),
    );
    let refused = put(&app, &up.url, reqwest::Body::wrap_stream(endless)).await;
    assert_eq!(refused.status(), 413);
    let error: Value = refused.json().await.unwrap();
    assert_eq!(error["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
    assert_eq!(error["errors"][0]["extensions"]["field"], "sizeBytes");
    // Fewer bytes than announced.
    let short = put(&app, &up.url, vec![b'a'; 999]).await;
    assert_eq!(short.status(), 400);
    let storage = &app.state.attachments().storage;
    let report = service::attachment::check(app.db(), storage).await.unwrap();
    assert_eq!(report.objects, 0, "nothing was kept: {report:?}");
    // The upload may still be sent right.
    assert_eq!(put(&app, &up.url, vec![b'a'; 1000]).await.status(), 200);

    // A type the bytes contradict: text claimed as PNG is refused, a PNG claimed as text is
    // stored as what it is, an executable under any name is refused.
    let forged = begin(
        &app,
        &client,
        Some(&ticket),
        "shot.png",
        "image/png",
        11,
        false,
    )
    .await;
    let refused = put(&app, &forged.url, b"plain words".to_vec()).await;
    assert_eq!(refused.status(), 415);
    let png = [b"\x89PNG\r\n\x1a\n".as_slice(), &[0u8; 100]].concat();
    let id = upload(
        &app,
        &client,
        Some(&ticket),
        "notes.txt",
        "text/plain",
        png,
        false,
    )
    .await;
    let elf = [b"\x7fELF\x02\x01\x01\0".as_slice(), &[0u8; 200]].concat();
    let exe = begin(
        &app,
        &client,
        Some(&ticket),
        "readme.txt",
        "text/plain",
        elf.len(),
        false,
    )
    .await;
    assert_eq!(put(&app, &exe.url, elf).await.status(), 415);
    let commented = comment_with(&app, &client, &ticket, false, &[&id]).await;
    assert_eq!(
        commented["data"]["commentCreate"]["comment"]["attachments"]["nodes"][0]["fileName"],
        "notes.txt"
    );
    let files = files_of(&app, &client, &ticket).await;
    assert_eq!(
        files["attachments"]["nodes"][0]["contentType"], "image/png",
        "{files}"
    );

    // The ticket's total: 1000 bytes attached + 108 kept; another 300 KiB does not fit.
    let answer = begin_raw(
        &app,
        &client,
        Some(&ticket),
        "more.bin",
        "application/octet-stream",
        300 * 1024,
        false,
    )
    .await;
    assert_eq!(field_of(&answer), "sizeBytes");
}

#[tokio::test]
async fn what_lies_in_storage_is_ciphertext() {
    let app = TestApp::spawn().await;
    let world = World::build(app.db()).await;
    let client = app.login(&email_of("client_a"), PASSWORD).await;
    let ticket = gid("Ticket", world.ticket_a);
    let secret = "Card number 4111 1111 1111 1111, expiry 12/29. ";
    let text = secret.repeat(4000).into_bytes();
    let id = upload(
        &app,
        &client,
        Some(&ticket),
        "card.txt",
        "text/plain",
        text.clone(),
        false,
    )
    .await;
    let (_, uuid) = id_of(&id);
    let storage = &app.state.attachments().storage;
    let stored = storage
        .read_raw(&service::attachment::storage_key(uuid))
        .await
        .unwrap();
    assert!(stored.len() > text.len(), "tags and header");
    for needle in ["4111 1111", "Card number", "expiry"] {
        assert!(
            !stored.windows(needle.len()).any(|w| w == needle.as_bytes()),
            "{needle} is readable in storage"
        );
    }
    // Nor does the key lie beside it in clear: the row holds it sealed.
    let row = entity::attachment::Entity::find_by_id(uuid)
        .one(app.db())
        .await
        .unwrap()
        .unwrap();
    assert!(row.wrapped_key.starts_with("v1:"), "{}", row.wrapped_key);
}

fn id_of(global: &str) -> (String, uuid::Uuid) {
    use base64::Engine;
    let text = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(global)
        .unwrap();
    let text = String::from_utf8(text).unwrap();
    let (kind, id) = text.split_once(':').unwrap();
    (kind.to_string(), id.parse().unwrap())
}

/// Polls the ticket's files until the one with `id` has a scan status in `wanted` (the scanner
/// runs in the background); a deadline, not a sleep, bounds it.
async fn scan_status_of(
    app: &TestApp,
    token: &str,
    ticket: &str,
    id: &str,
    wanted: &[&str],
) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let files = files_of(app, token, ticket).await;
        let file = files["attachments"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("{id} not listed: {files}"));
        if wanted.iter().any(|w| file["scanStatus"] == *w) {
            return file;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still {} after a minute",
            file["scanStatus"]
        );
        // Polled: the scanner works in the background.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_real_clamd_finds_eicar_and_passes_a_clean_file_and_failed_scans_are_retried() {
    let Some(mut clamd) = OwnClamd::start().await else {
        return;
    };
    let addr = clamd.addr();
    let app = TestApp::spawn_with(|settings| settings.attachments.clamd_addr = Some(addr)).await;
    let world = World::build(app.db()).await;
    let client = app.login(&email_of("client_a"), PASSWORD).await;
    let ticket = gid("Ticket", world.ticket_a);

    let virus = upload(
        &app,
        &client,
        Some(&ticket),
        "eicar.com.txt",
        "text/plain",
        EICAR.to_vec(),
        false,
    )
    .await;
    let clean = upload(
        &app,
        &client,
        Some(&ticket),
        "clean.txt",
        "text/plain",
        b"nothing to see here".to_vec(),
        false,
    )
    .await;
    let commented = comment_with(&app, &client, &ticket, false, &[&virus, &clean]).await;
    assert_eq!(
        commented["data"]["commentCreate"]["userErrors"],
        json!([]),
        "{commented}"
    );

    let infected = scan_status_of(&app, &client, &ticket, &virus, &["INFECTED"]).await;
    assert!(infected["downloadUrl"].is_null(), "{infected}");
    let passed = scan_status_of(&app, &client, &ticket, &clean, &["CLEAN"]).await;
    assert!(passed["downloadUrl"].is_string());
    // An infected file is not served even with a link minted for it.
    let (_, virus_id) = id_of(&virus);
    let viewer = actor_of(app.db(), world.client_a).await;
    let token = service::attachment::link::sign(
        &app.state.attachments().keyring,
        &service::attachment::link::Link {
            attachment_id: virus_id,
            user_id: viewer.user_id,
            session_epoch: viewer.session_epoch,
            purpose: service::attachment::link::Purpose::Download,
            expires: chrono::Utc::now().timestamp() + 60,
        },
    );
    let refused = download(&app, &format!("/attachments/download/{token}")).await;
    assert_eq!(refused.status(), 403);
    // The infection is audited, and announced as an event.
    let audited = entity::audit_log::Entity::find()
        .filter(entity::audit_log::Column::Action.eq("attachment.infected"))
        .count(app.db())
        .await
        .unwrap();
    assert_eq!(audited, 1);
    let scanned = entity::outbox_event::Entity::find()
        .filter(entity::outbox_event::Column::Kind.eq("attachment.scanned"))
        .all(app.db())
        .await
        .unwrap();
    assert_eq!(scanned.len(), 2);
    assert!(
        scanned
            .iter()
            .any(|e| e.payload["attachment"]["scanStatus"] == "infected")
    );

    // The scanner goes away: the scan fails, and passes once it is back.
    clamd.stop().await;
    let later = upload(
        &app,
        &client,
        Some(&ticket),
        "later.txt",
        "text/plain",
        b"scanned later".to_vec(),
        false,
    )
    .await;
    comment_with(&app, &client, &ticket, false, &[&later]).await;
    let failed = scan_status_of(&app, &client, &ticket, &later, &["FAILED"]).await;
    assert!(failed["downloadUrl"].is_null());
    clamd.run().await;
    scan_status_of(&app, &client, &ticket, &later, &["CLEAN"]).await;
}

use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};

/// A field of `/proc/PID/status` in KiB (`VmRSS`, `VmHWM`).
fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("process status");
    status
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{field}:")))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in the process status"))
}

const MIB: usize = 1024 * 1024;

/// Piece `i` of the large test file: 1 MiB, made again identically for the comparison.
fn piece(i: usize) -> Vec<u8> {
    content(1000 + i as u64, MIB)
}

#[tokio::test]
async fn twenty_mib_go_up_and_come_back_identical_while_the_server_grows_by_less_than_16_mib() {
    let app = TestApp::spawn().await;
    let world = World::build(app.db()).await;
    let token = app.login(&email_of("client_a"), PASSWORD).await;
    // Measured on a server process of its own (the test process runs other tests' servers).
    let files = tempfile::tempdir().unwrap();
    let mut command = helpdesk(&app.database);
    command
        .args(["serve", "--no-demo"])
        .env("HELPDESK_ADDR", "127.0.0.1:0")
        .env("HELPDESK_STORAGE_DIR", files.path());
    if let Some(url) = storage_url() {
        command.env(
            "HELPDESK_STORAGE_URL",
            format!(
                "{}/{}-large",
                url.trim_end_matches('/'),
                app.database.redis_prefix()
            ),
        );
    }
    let server = RunningServer::start(command).await;
    let pid = server.child.id().expect("the server runs");
    let http = reqwest::Client::new();
    let graphql = |query: &'static str, variables: Value| {
        let (http, token, address) = (http.clone(), token.clone(), server.address.clone());
        async move {
            http.post(format!("{address}/graphql"))
                .bearer_auth(token)
                .json(&json!({ "query": query, "variables": variables }))
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let ticket = gid("Ticket", world.ticket_a);
    // Sends `pieces` MiB and attaches them; returns the file's download URL and SHA-256.
    let round = |pieces: usize, name: &'static str| {
        let (http, address, ticket) = (http.clone(), server.address.clone(), ticket.clone());
        async move {
            let begun = graphql(
                BEGIN,
                json!({ "input": { "ticketId": ticket, "fileName": name, "contentType": "application/octet-stream", "sizeBytes": pieces * MIB } }),
            )
            .await;
            let payload = &begun["data"]["attachmentUploadBegin"];
            let id = payload["attachment"]["id"]
                .as_str()
                .unwrap_or_else(|| panic!("{begun}"))
                .to_string();
            let url = payload["uploadUrl"].as_str().unwrap().to_string();
            let body = futures_util::stream::iter(
                (0..pieces).map(|i| Ok::<_, std::io::Error>(bytes::Bytes::from(piece(i)))),
            );
            let sent = http
                .put(format!("{address}{url}"))
                .body(reqwest::Body::wrap_stream(body))
                .send()
                .await
                .unwrap();
            assert_eq!(sent.status(), 200);
            let stored: Value = sent.json().await.unwrap();
            let commented = graphql(
                COMMENT,
                json!({ "input": { "ticketId": ticket, "body": "The dump.", "attachmentIds": [id] } }),
            )
            .await;
            assert_eq!(
                commented["data"]["commentCreate"]["userErrors"],
                json!([]),
                "{commented}"
            );
            let files = graphql(TICKET_FILES, json!({ "id": ticket })).await;
            let file = files["data"]["ticket"]["attachments"]["nodes"]
                .as_array()
                .unwrap()
                .iter()
                .find(|f| f["id"] == id.as_str())
                .cloned()
                .unwrap();
            assert_eq!(file["sha256"], stored["sha256"]);
            // Streamed back and compared piece by piece, never held whole here either.
            let mut got = http
                .get(format!(
                    "{address}{}",
                    file["downloadUrl"].as_str().unwrap()
                ))
                .send()
                .await
                .unwrap();
            assert_eq!(got.status(), 200);
            let mut hasher = sha2::Sha256::new();
            let (mut index, mut buffer) = (0, Vec::new());
            while let Some(chunk) = got.chunk().await.unwrap() {
                hasher.update(&chunk);
                buffer.extend_from_slice(&chunk);
                while buffer.len() >= MIB {
                    let rest = buffer.split_off(MIB);
                    assert!(buffer == piece(index), "MiB {index} came back changed");
                    buffer = rest;
                    index += 1;
                }
            }
            assert!(
                buffer.is_empty() && index == pieces,
                "{index} MiB came back"
            );
            let sha: String = hasher
                .finalize()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            assert_eq!(stored["sha256"], sha.as_str());
            sha
        }
    };
    // The same round with a 2 MiB file first: what the server allocates once (connections,
    // buffers, its jobs' first rounds) is not counted, and its peak is the baseline, since the
    // allocator hands freed memory back to the system between requests (the RSS between two
    // rounds is lower than what any request needs). What the 20 MiB file adds to that peak is
    // what the size of a file costs.
    let reset_peak =
        || std::fs::write(format!("/proc/{pid}/clear_refs"), "5").expect("reset the peak RSS");
    reset_peak();
    round(2, "warm-up.bin").await;
    let before = status_kib(pid, "VmHWM");
    reset_peak();
    let mut expected = sha2::Sha256::new();
    for i in 0..20 {
        expected.update(piece(i));
    }
    let expected: String = expected
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(round(20, "dump.bin").await, expected);
    let peak = status_kib(pid, "VmHWM");
    let grown = peak.saturating_sub(before);
    eprintln!(
        "20 MiB up and down: the server's peak RSS was {peak} KiB, {grown} KiB above its peak over the same round with 2 MiB ({before} KiB)"
    );
    assert!(grown < 16 * 1024, "the server grew by {grown} KiB");
    server.terminate().await;
}

/// A download link for `user` made directly (to try what the API would not hand out).
fn link_for(
    app: &TestApp,
    attachment: &str,
    user: &service::actor::Actor,
    expires_in: i64,
) -> String {
    let token = service::attachment::link::sign(
        &app.state.attachments().keyring,
        &service::attachment::link::Link {
            attachment_id: id_of(attachment).1,
            user_id: user.user_id,
            session_epoch: user.session_epoch,
            purpose: service::attachment::link::Purpose::Download,
            expires: chrono::Utc::now().timestamp() + expires_in,
        },
    );
    format!("/attachments/download/{token}")
}

#[tokio::test]
async fn who_sees_which_file_for_every_role_organization_and_kind_of_comment() {
    let app = TestApp::spawn().await;
    let world = World::build(app.db()).await;
    let agent_a = app.login(&email_of("agent_a"), PASSWORD).await;
    let agent_b = app.login(&email_of("agent_b"), PASSWORD).await;
    let (ticket_a, ticket_b) = (gid("Ticket", world.ticket_a), gid("Ticket", world.ticket_b));
    // On each ticket: a file on a public reply and one on an internal note, by its agent.
    let mut files = std::collections::HashMap::new();
    for (token, ticket, org) in [(&agent_a, &ticket_a, "A"), (&agent_b, &ticket_b, "B")] {
        for internal in [false, true] {
            let name = format!("{org}-{}.txt", if internal { "internal" } else { "public" });
            let id = upload(
                &app,
                token,
                Some(ticket),
                &name,
                "text/plain",
                name.clone().into_bytes(),
                internal,
            )
            .await;
            let commented = comment_with(&app, token, ticket, internal, &[&id]).await;
            assert_eq!(
                commented["data"]["commentCreate"]["userErrors"],
                json!([]),
                "{commented}"
            );
            files.insert((org, internal), id);
        }
    }
    // An internal upload cannot go on a public reply.
    let hidden = upload(
        &app,
        &agent_a,
        Some(&ticket_a),
        "x.txt",
        "text/plain",
        b"x".to_vec(),
        true,
    )
    .await;
    let refused = comment_with(&app, &agent_a, &ticket_a, false, &[&hidden]).await;
    assert_eq!(
        refused["data"]["commentCreate"]["userErrors"][0]["field"],
        "attachmentIds"
    );

    // (viewer, own organization) for the four roles; admin and superagent belong to none and
    // see both, so "own" is A for them.
    let viewers = [
        ("admin", world.admin),
        ("superagent", world.superagent),
        ("agent_a", world.agent_a),
        ("client_a", world.client_a),
    ];
    for (name, user_id) in viewers {
        let token = app.login(&email_of(name), PASSWORD).await;
        let actor = actor_of(app.db(), user_id).await;
        for (org, ticket) in [("A", &ticket_a), ("B", &ticket_b)] {
            let listed = app
                .graphql_as(&token, TICKET_FILES, json!({ "id": ticket }))
                .await;
            let shown: Vec<Value> = listed["data"]["ticket"]["attachments"]["nodes"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            for internal in [false, true] {
                let id = &files[&(org, internal)];
                let expected = match name {
                    "admin" | "superagent" => true,
                    "agent_a" => org == "A",
                    _ => org == "A" && !internal,
                };
                let file = shown.iter().find(|f| f["id"] == id.as_str());
                assert_eq!(
                    file.is_some(),
                    expected,
                    "{name} listing {org} internal={internal}: {listed}"
                );
                let node = app
                    .graphql_as(
                        &token,
                        "query($id: ID!) { node(id: $id) { id } }",
                        json!({ "id": id }),
                    )
                    .await;
                assert_eq!(
                    node["data"]["node"].is_object(),
                    expected,
                    "{name} node {org} {internal}: {node}"
                );
                // The URL the API hands out works; one made for this viewer anyway does not
                // when the viewer may not see the file.
                let url = match file {
                    Some(file) => file["downloadUrl"]
                        .as_str()
                        .expect("a download URL")
                        .to_string(),
                    None => link_for(&app, id, &actor, 60),
                };
                let got = download(&app, &url).await;
                if expected {
                    assert_eq!(got.status(), 200, "{name} download {org} {internal}");
                    let body = got.bytes().await.unwrap();
                    assert!(body.starts_with(org.as_bytes()));
                } else {
                    assert_eq!(got.status(), 404, "{name} download {org} {internal}");
                }
            }
            let count = &listed["data"]["ticket"]["attachmentCount"];
            let expected_count = shown.len();
            if !listed["data"]["ticket"].is_null() {
                assert_eq!(count, expected_count, "{name} count on {org}");
            }
        }
    }

    // A URL minted for one user does not serve another who brings their own token, and an
    // expired or altered one serves nobody.
    let files_of_agent = files_of(&app, &agent_a, &ticket_a).await;
    let internal_url = files_of_agent["attachments"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["internal"] == true)
        .unwrap()["downloadUrl"]
        .as_str()
        .unwrap()
        .to_string();
    let client = app.login(&email_of("client_a"), PASSWORD).await;
    let stolen = app
        .client
        .get(format!("{}{internal_url}", app.address))
        .bearer_auth(&client)
        .send()
        .await
        .unwrap();
    assert_eq!(stolen.status(), 403);
    let body: Value = stolen.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN");
    let agent = actor_of(app.db(), world.agent_a).await;
    let expired = link_for(&app, &files[&("A", true)], &agent, -1);
    assert_eq!(download(&app, &expired).await.status(), 403);
    let mut altered = internal_url.clone();
    altered.insert(altered.len() - 5, 'x');
    assert_eq!(download(&app, &altered).await.status(), 403);
    // An upload link does not download, and ending the sessions ends the links.
    app.change_password(&agent_a, "another long passphrase")
        .await;
    assert_eq!(download(&app, &internal_url).await.status(), 403);
}

#[tokio::test]
async fn uploads_never_attached_expire_and_health_finds_what_storage_and_table_disagree_on() {
    let app = TestApp::spawn().await;
    let world = World::build(app.db()).await;
    let client = app.login(&email_of("client_a"), PASSWORD).await;
    let ticket = gid("Ticket", world.ticket_a);
    let kept = upload(
        &app,
        &client,
        Some(&ticket),
        "kept.txt",
        "text/plain",
        b"kept".to_vec(),
        false,
    )
    .await;
    comment_with(&app, &client, &ticket, false, &[&kept]).await;
    let forgotten = upload(
        &app,
        &client,
        Some(&ticket),
        "left.txt",
        "text/plain",
        b"left".to_vec(),
        false,
    )
    .await;
    let storage = &app.state.attachments().storage;
    let now = chrono::Utc::now();
    // Not expired yet: nothing goes.
    assert_eq!(
        service::attachment::purge(app.db(), storage, now, now)
            .await
            .unwrap(),
        0
    );
    // A day later the unattached upload is past its expiry: its bytes and row go, the
    // attached file stays.
    let later = now + chrono::Duration::hours(25);
    assert_eq!(
        service::attachment::purge(app.db(), storage, later, now)
            .await
            .unwrap(),
        1
    );
    let (_, forgotten_id) = id_of(&forgotten);
    assert!(
        entity::attachment::Entity::find_by_id(forgotten_id)
            .one(app.db())
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        !storage
            .exists(&service::attachment::storage_key(forgotten_id))
            .await
            .unwrap()
    );
    assert_eq!(files_of(&app, &client, &ticket).await["attachmentCount"], 1);

    // `helpdesk health` compares the storage with the table.
    let health = || {
        let mut command = helpdesk(&app.database);
        let settings = storage_for(&app.database);
        command.arg("health");
        if let Some(dir) = &settings.storage_dir {
            command.env("HELPDESK_STORAGE_DIR", dir);
        }
        if let Some(url) = &settings.storage_url {
            command.env("HELPDESK_STORAGE_URL", url);
        }
        run(command, None)
    };
    let output = health().await;
    assert_eq!(output.code, Some(0), "{}{}", output.stdout, output.stderr);
    assert!(
        output.stdout.contains("attachments: ok (1 file(s)"),
        "{}",
        output.stdout
    );
    // An object without a row, and a file whose object is gone.
    storage
        .put_raw(
            "attachments/00000000-0000-0000-0000-000000000000",
            b"stray".to_vec(),
        )
        .await
        .unwrap();
    let (_, kept_id) = id_of(&kept);
    storage
        .delete(&service::attachment::storage_key(kept_id))
        .await
        .unwrap();
    let output = health().await;
    assert_eq!(output.code, Some(1), "{}", output.stdout);
    assert!(
        output.stdout.contains("1 object(s) without a row")
            && output.stdout.contains(&format!(
                "1 file(s) without their object, e.g. attachment {kept_id}"
            )),
        "{}",
        output.stdout
    );
}

/// Statements for the files of every ticket and comment of a list, over `tickets` tickets
/// that each have a comment with a file.
async fn files_cost(tickets: usize) -> f64 {
    let app = TestApp::spawn().await;
    let world = World::build(app.db()).await;
    let client = app.login(&email_of("client_a"), PASSWORD).await;
    for n in 0..tickets {
        let created = service::ticket::create(
            app.db(),
            Some(world.client_a),
            new_ticket(world.org_a, world.client_a, &format!("Ticket {n}")),
        )
        .await
        .unwrap();
        let ticket = gid("Ticket", created.id);
        let id = upload(
            &app,
            &client,
            Some(&ticket),
            "f.txt",
            "text/plain",
            b"file".to_vec(),
            false,
        )
        .await;
        comment_with(&app, &client, &ticket, false, &[&id]).await;
    }
    let agent = app.login(&email_of("agent_a"), PASSWORD).await;
    let query = "{ tickets(first: 50) { nodes { attachmentCount attachments { nodes { fileName downloadUrl uploadedBy { name } } } comments(first: 5) { nodes { attachments { nodes { fileName } } } } } } }";
    let before = app.metric("helpdesk_db_statements_total").await;
    let response = app.graphql_as(&agent, query, json!({})).await;
    let cost = app.metric("helpdesk_db_statements_total").await - before;
    assert!(response.get("errors").is_none(), "{response}");
    let files: u64 = response["data"]["tickets"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["attachmentCount"].as_u64().unwrap())
        .sum();
    assert_eq!(files, tickets as u64, "{response}");
    cost
}

#[tokio::test]
async fn the_files_of_a_list_cost_the_same_statements_for_3_and_15_tickets() {
    let small = files_cost(3).await;
    let large = files_cost(15).await;
    assert_eq!(small, large, "the cost grew with the number of tickets");
    assert!(small <= 8.0, "{small} statements");
}
