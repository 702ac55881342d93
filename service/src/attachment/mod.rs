//! Attachments: files on tickets and comments.
//!
//! An upload takes two steps, so large files never pass through GraphQL: [`begin`] makes the
//! row (state `uploading`) and the API hands out a short-lived upload link ([`link`]); the
//! bytes then arrive on that link ([`Attachments::receive`]), streamed through the cipher
//! ([`cipher`], a key per file, wrapped with the data key) into the storage ([`storage`]),
//! checked on the way (size, type by magic number); then `commentCreate` or `ticketCreate`
//! attaches the stored file ([`attach`]). Uploads never attached expire and are removed.
//!
//! A file is scanned by `clamd` when one is configured ([`scan`]): `pending` -> `clean` |
//! `infected` | `failed` (tried again with backoff); without a scanner it is `not_scanned`.
//! Only clean files, and unscanned ones unless scanning is required, can be downloaded.
//!
//! Who sees a file: an attached file is visible exactly when its ticket, and its comment, is
//! (clients never see the files of internal notes); a file not attached yet only to the one who
//! uploaded it.

pub mod cipher;
pub mod link;
pub mod scan;
pub mod storage;

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Duration, Utc};
use entity::attachment;
use entity::enums::{AttachmentState, ScanStatus};
use entity::{comment, ticket};
use futures_util::Stream;
use sea_orm::sea_query::{Alias, Expr, Func};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, TransactionSession, TransactionTrait,
};
use serde_json::json;
use uuid::Uuid;

use crate::actor::Actor;
use crate::crypto::Keyring;
use crate::{Error, Result, access};

pub use storage::{Refusal, Storage};

/// Default largest file: 50 MiB.
pub const DEFAULT_MAX_BYTES: u64 = 50 * 1024 * 1024;
/// Default largest total of one ticket's files: 200 MiB.
pub const DEFAULT_TICKET_MAX_BYTES: u64 = 200 * 1024 * 1024;
/// Refused by default: executables, by content type and by file name extension.
pub const DEFAULT_REFUSED_TYPES: &str = "application/x-msdownload,application/x-dosexec,\
application/x-msdos-program,application/vnd.microsoft.portable-executable,application/x-executable,\
application/x-elf,application/x-mach-binary,application/x-sharedlib,application/x-msi,\
application/java-archive,.exe,.dll,.com,.bat,.cmd,.msi,.scr,.pif,.cpl,.vbs,.ps1,.jar";
/// Most files one request may attach.
pub const MAX_PER_REQUEST: usize = 20;
pub const MAX_FILE_NAME_CHARS: usize = 255;
pub const SCAN_EVENT: &str = crate::event::ATTACHMENT_SCANNED;

/// How attachments are kept and checked.
#[derive(Debug, Clone)]
pub struct Policy {
    pub max_bytes: u64,
    pub ticket_max_bytes: u64,
    /// Content types (`application/x-msdownload`) and file name extensions (`.exe`) refused.
    pub refused: Vec<String>,
    /// Downloads wait for a clean scan even without a scanner (files stay `not_scanned`).
    pub require_scan: bool,
    /// How long an upload may stay unattached.
    pub upload_ttl: Duration,
    /// How long an upload or download link works.
    pub link_ttl: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            max_bytes: DEFAULT_MAX_BYTES,
            ticket_max_bytes: DEFAULT_TICKET_MAX_BYTES,
            refused: parse_refused(DEFAULT_REFUSED_TYPES),
            require_scan: false,
            upload_ttl: Duration::hours(24),
            link_ttl: Duration::minutes(15),
        }
    }
}

/// A comma-separated list of refused types and extensions, normalised.
pub fn parse_refused(text: &str) -> Vec<String> {
    text.split(',')
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty())
        .collect()
}

/// Everything attachments need at run time, shared by the API and the background jobs.
#[derive(Clone)]
pub struct Attachments {
    pub storage: Storage,
    pub keyring: Arc<Keyring>,
    pub policy: Policy,
    pub scanner: Option<scan::Scanner>,
    /// Wakes the scanner when a file is waiting.
    pub wake: Arc<tokio::sync::Notify>,
}

impl std::fmt::Debug for Attachments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attachments")
            .field("storage", &self.storage)
            .field("policy", &self.policy)
            .field("scanner", &self.scanner)
            .finish()
    }
}

/// What `attachmentUploadBegin` asks for.
#[derive(Debug, Clone)]
pub struct NewUpload {
    /// None: for a ticket the uploader creates next (`ticketCreate` attaches it).
    pub ticket_id: Option<Uuid>,
    pub file_name: String,
    pub content_type: String,
    pub size_bytes: i64,
    pub internal: bool,
}

/// Files a change attaches: uploads of the acting user, by id, and the ticket's cap.
#[derive(Debug, Clone)]
pub struct Attaching {
    pub ids: Vec<Uuid>,
    pub ticket_max_bytes: u64,
}

impl Default for Attaching {
    fn default() -> Self {
        Self {
            ids: Vec::new(),
            ticket_max_bytes: DEFAULT_TICKET_MAX_BYTES,
        }
    }
}

impl Policy {
    /// What a change attaching `ids` under this policy carries.
    pub fn attaching(&self, ids: Vec<Uuid>) -> Attaching {
        Attaching {
            ids,
            ticket_max_bytes: self.ticket_max_bytes,
        }
    }
}

/// The attachment ids of a request, for its idempotency fingerprint.
pub fn id_list(ids: &[Uuid]) -> String {
    ids.iter()
        .map(Uuid::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// The storage key of an attachment's bytes.
pub fn storage_key(id: Uuid) -> String {
    format!("attachments/{id}")
}

/// The prefix every attachment's storage key starts with.
pub const STORAGE_PREFIX: &str = "attachments";

fn associated_data(id: Uuid) -> Vec<u8> {
    format!("attachments:{id}").into_bytes()
}

/// A file name as stored: its last path component, without control characters.
pub fn clean_file_name(name: &str) -> Result<String> {
    let last = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = last.chars().filter(|c| !c.is_control()).collect();
    let cleaned = cleaned.trim().to_string();
    if cleaned.is_empty() || cleaned == "." || cleaned == ".." {
        return Err(Error::invalid("fileName", "must name a file"));
    }
    if cleaned.chars().count() > MAX_FILE_NAME_CHARS {
        return Err(Error::invalid(
            "fileName",
            format!("must be at most {MAX_FILE_NAME_CHARS} characters"),
        ));
    }
    Ok(cleaned)
}

/// A content type as stored: `type/subtype` in lower case, parameters dropped.
pub fn clean_content_type(text: &str) -> Result<String> {
    let essence = text.split(';').next().unwrap_or_default().trim();
    let essence = essence.to_ascii_lowercase();
    let valid = essence.split_once('/').is_some_and(|(kind, sub)| {
        let token = |s: &str| {
            !s.is_empty()
                && s.len() <= 127
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "!#$&-^_.+".contains(c))
        };
        token(kind) && token(sub)
    });
    if !valid {
        return Err(Error::invalid(
            "contentType",
            "must be a media type such as image/png",
        ));
    }
    Ok(essence)
}

impl Policy {
    /// Whether a content type or the file name's extension is refused.
    pub fn refuses(&self, content_type: &str, file_name: &str) -> Option<String> {
        let name = file_name.to_ascii_lowercase();
        self.refused.iter().find_map(|refused| {
            let hit = if refused.starts_with('.') {
                name.ends_with(refused.as_str())
            } else {
                content_type == refused
            };
            hit.then(|| refused.clone())
        })
    }
}

/// Starts an upload: checks what is announced and makes the row (state `uploading`).
pub async fn begin<C>(
    db: &C,
    actor: &Actor,
    policy: &Policy,
    keyring: &Keyring,
    upload: NewUpload,
) -> Result<attachment::Model>
where
    C: ConnectionTrait + TransactionTrait,
{
    let file_name = clean_file_name(&upload.file_name)?;
    let content_type = clean_content_type(&upload.content_type)?;
    if let Some(refused) = policy.refuses(&content_type, &file_name) {
        let field = if refused.starts_with('.') {
            "fileName"
        } else {
            "contentType"
        };
        return Err(Error::invalid(
            field,
            format!("files of type {refused} are not accepted"),
        ));
    }
    if upload.size_bytes < 0 {
        return Err(Error::invalid("sizeBytes", "must not be negative"));
    }
    if upload.size_bytes as u64 > policy.max_bytes {
        return Err(Error::invalid(
            "sizeBytes",
            format!("files may have at most {} bytes", policy.max_bytes),
        ));
    }
    let txn = crate::db::begin_write(db).await?;
    if let Some(ticket_id) = upload.ticket_id {
        let ticket = crate::ticket::query::get(&txn, actor, ticket_id)
            .await
            .map_err(|e| match e {
                Error::NotFound { .. } => Error::invalid("ticketId", "no such ticket"),
                other => other,
            })?;
        access::require(access::can_comment(actor, &ticket))?;
        if upload.internal {
            access::require(access::can_comment_internal(actor, &ticket))?;
        }
        let used = ticket_total(&txn, ticket_id).await?;
        if used + upload.size_bytes as u64 > policy.ticket_max_bytes {
            return Err(Error::invalid(
                "sizeBytes",
                format!(
                    "the ticket's files may have at most {} bytes together ({used} in use)",
                    policy.ticket_max_bytes
                ),
            ));
        }
    } else if upload.internal {
        return Err(Error::invalid(
            "internal",
            "a file for a new ticket cannot be internal",
        ));
    }
    let id = Uuid::now_v7();
    let now = Utc::now();
    let file_key = cipher::new_file_key();
    let row = attachment::Entity::insert(attachment::ActiveModel {
        id: Set(id),
        ticket_id: Set(upload.ticket_id),
        comment_id: Set(None),
        uploaded_by: Set(Some(actor.user_id)),
        file_name: Set(file_name),
        content_type: Set(content_type),
        size_bytes: Set(upload.size_bytes),
        sha256: Set(None),
        storage_key: Set(storage_key(id)),
        wrapped_key: Set(keyring.wrap_key(&file_key, &associated_data(id))),
        is_internal: Set(upload.internal),
        state: Set(AttachmentState::Uploading),
        scan_status: Set(ScanStatus::Pending),
        scan_attempts: Set(0),
        scan_next_at: Set(None),
        scan_verdict: Set(None),
        scanned_at: Set(None),
        created_at: Set(now),
        stored_at: Set(None),
        expires_at: Set(Some(now + policy.upload_ttl)),
        deleted_at: Set(None),
    })
    .exec_with_returning(&txn)
    .await?;
    txn.commit().await?;
    Ok(row)
}

/// Bytes the (not deleted) files of a ticket hold, or were announced to hold.
async fn ticket_total(db: &impl ConnectionTrait, ticket_id: Uuid) -> Result<u64> {
    let total: Option<Option<i64>> = attachment::Entity::find()
        .select_only()
        // SUM of a BIGINT is NUMERIC on PostgreSQL.
        .column_as(
            Expr::from(Func::cast_as(
                Func::sum(Expr::col(attachment::Column::SizeBytes)),
                Alias::new("BIGINT"),
            )),
            "total",
        )
        .filter(attachment::Column::TicketId.eq(ticket_id))
        .filter(attachment::Column::DeletedAt.is_null())
        .into_tuple()
        .one(db)
        .await?;
    Ok(total.flatten().unwrap_or(0).max(0) as u64)
}

/// Why bytes sent to an upload link were not taken.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("{0}")]
    Refused(#[from] Refusal),
    #[error("{0}")]
    Service(#[from] Error),
}

impl Attachments {
    fn file_key(&self, row: &attachment::Model) -> Result<cipher::FileKey> {
        let key = self
            .keyring
            .unwrap_key(&row.wrapped_key, &associated_data(row.id))
            .map_err(Error::Crypto)?;
        Ok(key)
    }

    /// Receives the bytes of an upload begun by `user_id`: streamed, checked and sealed into
    /// storage; the row becomes `stored` with its hash and checked content type. Nothing is
    /// kept when the bytes are refused, and the upload may be tried again.
    pub async fn receive<C, S, E>(
        &self,
        db: &C,
        id: Uuid,
        user_id: Uuid,
        body: S,
    ) -> Result<attachment::Model, UploadError>
    where
        C: ConnectionTrait,
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        // Claim the upload: one request at a time streams into it.
        let claimed = attachment::Entity::update_many()
            .col_expr(
                attachment::Column::State,
                Expr::value(AttachmentState::Receiving),
            )
            .filter(attachment::Column::Id.eq(id))
            .filter(attachment::Column::UploadedBy.eq(user_id))
            .filter(attachment::Column::State.eq(AttachmentState::Uploading))
            .filter(attachment::Column::DeletedAt.is_null())
            .filter(attachment::Column::ExpiresAt.gt(Utc::now()))
            .exec(db)
            .await
            .map_err(Error::from)?;
        if claimed.rows_affected == 0 {
            return Err(
                match attachment::Entity::find_by_id(id)
                    .one(db)
                    .await
                    .map_err(Error::from)?
                {
                    Some(row) if row.uploaded_by == Some(user_id) && row.deleted_at.is_none() => {
                        Error::conflict(None, "this upload is complete or in progress").into()
                    }
                    _ => Error::NotFound { entity: "upload" }.into(),
                },
            );
        }
        let row = attachment::Entity::find_by_id(id)
            .one(db)
            .await
            .map_err(Error::from)?
            .ok_or(Error::NotFound { entity: "upload" })?;
        let result = self.store(&row, body).await;
        let (received, content_type) = match result {
            Ok(done) => done,
            Err(err) => {
                attachment::Entity::update_many()
                    .col_expr(
                        attachment::Column::State,
                        Expr::value(AttachmentState::Uploading),
                    )
                    .filter(attachment::Column::Id.eq(id))
                    .exec(db)
                    .await
                    .map_err(Error::from)?;
                return Err(err);
            }
        };
        let now = Utc::now();
        let (scan_status, scan_next_at) = if self.scanner.is_some() {
            (ScanStatus::Pending, Some(now))
        } else {
            (ScanStatus::NotScanned, None)
        };
        let stored = attachment::Entity::update(attachment::ActiveModel {
            id: Set(id),
            state: Set(AttachmentState::Stored),
            sha256: Set(Some(received.sha256)),
            content_type: Set(content_type),
            scan_status: Set(scan_status),
            scan_next_at: Set(scan_next_at),
            stored_at: Set(Some(now)),
            ..Default::default()
        })
        .exec(db)
        .await
        .map_err(Error::from)?;
        self.wake.notify_one();
        Ok(stored)
    }

    async fn store<S, E>(
        &self,
        row: &attachment::Model,
        body: S,
    ) -> Result<(storage::Received, String), UploadError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let file_key = self.file_key(row)?;
        let declared = row.size_bytes as u64;
        let mut content_type = row.content_type.clone();
        let received = self
            .storage
            .put_sealed(
                &row.storage_key,
                &file_key,
                row.id,
                body,
                declared,
                |head| {
                    content_type =
                        checked_type(&self.policy, &row.content_type, &row.file_name, head)?;
                    Ok(())
                },
            )
            .await
            .map_err(|refusal| match refusal {
                // Past the announced size: more than was announced, so the same refusal
                // whatever the announced size was.
                Refusal::TooLarge { .. } => Refusal::SizeMismatch {
                    declared,
                    received: declared + 1,
                },
                other => other,
            })?;
        if received.size != declared {
            self.storage
                .delete(&row.storage_key)
                .await
                .map_err(|e| Error::Internal(e.to_string()))?;
            return Err(Refusal::SizeMismatch {
                declared,
                received: received.size,
            }
            .into());
        }
        Ok((received, content_type))
    }

    /// The plaintext of `row`, bytes `range`, streamed.
    pub async fn read(
        &self,
        row: &attachment::Model,
        range: std::ops::Range<u64>,
    ) -> Result<impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static> {
        let file_key = self.file_key(row)?;
        self.storage
            .open_range(
                &row.storage_key,
                file_key,
                row.id,
                row.size_bytes as u64,
                range,
            )
            .await
            .map_err(|e| Error::Internal(e.to_string()))
    }
}

/// The type of bytes of no particular format.
pub const GENERIC_TYPE: &str = "application/octet-stream";

/// The content type to keep for an upload, from what was claimed and what the first bytes
/// are: a known binary format wins over the claim (so a PNG claimed as `text/plain` is stored
/// as `image/png`); a claim of a binary format the bytes do not show is refused; a refused
/// type found in the bytes is refused whatever was claimed.
pub fn checked_type(
    policy: &Policy,
    claimed: &str,
    file_name: &str,
    head: &[u8],
) -> Result<String, Refusal> {
    let detected = infer::get(head).map(|kind| kind.mime_type().to_string());
    if let Some(detected) = &detected {
        if let Some(refused) = policy.refuses(detected, file_name) {
            return Err(Refusal::RefusedType(refused));
        }
        return Ok(detected.clone());
    }
    // `application/octet-stream` claims nothing about the format.
    if claimed != GENERIC_TYPE && infer::is_mime_supported(claimed) {
        return Err(Refusal::TypeMismatch {
            claimed: claimed.to_string(),
            detected: "not recognised".into(),
        });
    }
    Ok(claimed.to_string())
}

/// Where a file sits in the files of a ticket or comment, oldest first.
pub fn position(row: &attachment::Model) -> crate::page::Position {
    crate::page::Position {
        key: crate::page::Key::Time(row.created_at),
        id: row.id,
    }
}

/// Whether `actor` may see `row` (its ticket given when it has one).
pub fn visible(actor: &Actor, row: &attachment::Model, ticket: Option<&ticket::Model>) -> bool {
    if row.deleted_at.is_some() {
        return false;
    }
    if row.state != AttachmentState::Attached {
        return row.uploaded_by == Some(actor.user_id);
    }
    ticket.is_some_and(|t| access::can_read(actor, t))
        && access::can_see_event(actor, row.is_internal)
}

/// Whether a visible file's bytes may be served now: a clean scan, or no scanner and scanning
/// not required.
pub fn downloadable(policy: &Policy, row: &attachment::Model) -> bool {
    row.state != AttachmentState::Uploading
        && row.state != AttachmentState::Receiving
        && match row.scan_status {
            ScanStatus::Clean => true,
            ScanStatus::NotScanned => !policy.require_scan,
            ScanStatus::Pending | ScanStatus::Infected | ScanStatus::Failed => false,
        }
}

/// An attachment `actor` may see, with its ticket; `NOT_FOUND` otherwise.
pub async fn get(
    db: &impl ConnectionTrait,
    actor: &Actor,
    id: Uuid,
) -> Result<(attachment::Model, Option<ticket::Model>)> {
    let Some(row) = attachment::Entity::find_by_id(id).one(db).await? else {
        return Err(Error::NotFound {
            entity: "attachment",
        });
    };
    let ticket = match row.ticket_id {
        Some(ticket_id) => ticket::Entity::find_by_id(ticket_id).one(db).await?,
        None => None,
    };
    if !visible(actor, &row, ticket.as_ref()) {
        return Err(Error::NotFound {
            entity: "attachment",
        });
    }
    Ok((row, ticket))
}

/// Puts stored uploads of `actor` on `ticket` (and `comment`), inside the caller's
/// transaction. Each must be the actor's own, complete, not attached, and (when it was begun
/// for a ticket) for this ticket; the files of an internal note become internal, and an
/// internal upload cannot go on a public comment or a new ticket.
pub async fn attach(
    txn: &impl ConnectionTrait,
    uploader: Uuid,
    ticket: &ticket::Model,
    comment: Option<&comment::Model>,
    attaching: &Attaching,
) -> Result<Vec<attachment::Model>> {
    let ids = attaching.ids.as_slice();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut unique = ids.to_vec();
    unique.sort();
    unique.dedup();
    if unique.len() != ids.len() {
        return Err(Error::invalid("attachmentIds", "lists a file twice"));
    }
    if ids.len() > MAX_PER_REQUEST {
        return Err(Error::invalid(
            "attachmentIds",
            format!("at most {MAX_PER_REQUEST} files at once"),
        ));
    }
    let rows = attachment::Entity::find()
        .filter(attachment::Column::Id.is_in(unique.clone()))
        .all(txn)
        .await?;
    let internal = comment.is_some_and(|c| c.is_internal);
    let mut added: u64 = 0;
    for id in ids {
        let row = rows
            .iter()
            .find(|r| r.id == *id && r.uploaded_by == Some(uploader) && r.deleted_at.is_none())
            .ok_or_else(|| Error::invalid("attachmentIds", format!("no upload {id} of yours")))?;
        match row.state {
            AttachmentState::Stored => {}
            AttachmentState::Uploading | AttachmentState::Receiving => {
                return Err(Error::invalid(
                    "attachmentIds",
                    format!("the upload of {} is not complete", row.file_name),
                ));
            }
            AttachmentState::Attached => {
                return Err(Error::invalid(
                    "attachmentIds",
                    format!("{} is attached already", row.file_name),
                ));
            }
        }
        if row.ticket_id.is_some_and(|t| t != ticket.id) {
            return Err(Error::invalid(
                "attachmentIds",
                format!("{} was uploaded for another ticket", row.file_name),
            ));
        }
        if row.is_internal && !internal {
            return Err(Error::invalid(
                "attachmentIds",
                format!(
                    "{} was uploaded for an internal note and cannot go on a public one",
                    row.file_name
                ),
            ));
        }
        if row.ticket_id.is_none() {
            added += row.size_bytes.max(0) as u64;
        }
    }
    if added > 0 && ticket_total(txn, ticket.id).await? + added > attaching.ticket_max_bytes {
        return Err(Error::invalid(
            "attachmentIds",
            format!(
                "the ticket's files may have at most {} bytes together",
                attaching.ticket_max_bytes
            ),
        ));
    }
    let updated = attachment::Entity::update_many()
        .col_expr(
            attachment::Column::State,
            Expr::value(AttachmentState::Attached),
        )
        .col_expr(attachment::Column::TicketId, Expr::value(ticket.id))
        .col_expr(
            attachment::Column::CommentId,
            Expr::value(comment.map(|c| c.id)),
        )
        .col_expr(attachment::Column::IsInternal, Expr::value(internal))
        .col_expr(
            attachment::Column::ExpiresAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .filter(attachment::Column::Id.is_in(unique))
        .filter(attachment::Column::State.eq(AttachmentState::Stored))
        .exec(txn)
        .await?;
    if updated.rows_affected != ids.len() as u64 {
        return Err(Error::conflict(
            Some("attachmentIds"),
            "a file changed while it was being attached; try again",
        ));
    }
    let mut attached: Vec<attachment::Model> = rows
        .into_iter()
        .map(|mut r| {
            r.state = AttachmentState::Attached;
            r.ticket_id = Some(ticket.id);
            r.comment_id = comment.map(|c| c.id);
            r.is_internal = internal;
            r.expires_at = None;
            r
        })
        .collect();
    attached.sort_by_key(|r| ids.iter().position(|id| *id == r.id));
    Ok(attached)
}

/// Seals every file key not sealed under the keyring's current key again (inside the caller's
/// transaction); the files themselves stay as they are. Returns how many were sealed again.
pub async fn rewrap_keys(txn: &impl ConnectionTrait, keyring: &Keyring) -> Result<u64> {
    let rows: Vec<(Uuid, String)> = attachment::Entity::find()
        .select_only()
        .column(attachment::Column::Id)
        .column(attachment::Column::WrappedKey)
        .order_by_asc(attachment::Column::Id)
        .into_tuple()
        .all(txn)
        .await?;
    let mut sealed = 0;
    for (id, wrapped) in rows {
        if !keyring.needs_rewrap(&wrapped) {
            continue;
        }
        let key = keyring
            .unwrap_key(&wrapped, &associated_data(id))
            .map_err(Error::Crypto)?;
        attachment::Entity::update_many()
            .col_expr(
                attachment::Column::WrappedKey,
                Expr::value(keyring.wrap_key(&key, &associated_data(id))),
            )
            .filter(attachment::Column::Id.eq(id))
            .exec(txn)
            .await?;
        sealed += 1;
    }
    Ok(sealed)
}

/// What events and webhooks say of a file: its metadata, never its bytes or where they are.
pub fn metadata(row: &attachment::Model) -> serde_json::Value {
    json!({
        "id": row.id,
        "fileName": row.file_name,
        "contentType": row.content_type,
        "sizeBytes": row.size_bytes,
        "sha256": row.sha256,
        "internal": row.is_internal,
        "scanStatus": row.scan_status,
        "commentId": row.comment_id,
        "uploadedBy": row.uploaded_by,
    })
}

fn listed(actor: &Actor) -> Condition {
    let mut condition = Condition::all()
        .add(attachment::Column::State.eq(AttachmentState::Attached))
        .add(attachment::Column::DeletedAt.is_null());
    if !access::sees_internal_notes(actor) {
        condition = condition.add(attachment::Column::IsInternal.eq(false));
    }
    condition
}

/// The files `actor` may see on each of `ticket_ids` (tickets the caller checked `actor` may
/// read), oldest first, in one statement.
pub async fn of_tickets(
    db: &impl ConnectionTrait,
    actor: &Actor,
    ticket_ids: &[Uuid],
) -> Result<HashMap<Uuid, Vec<attachment::Model>>> {
    let mut by_ticket: HashMap<Uuid, Vec<attachment::Model>> = HashMap::new();
    if ticket_ids.is_empty() {
        return Ok(by_ticket);
    }
    for row in attachment::Entity::find()
        .filter(attachment::Column::TicketId.is_in(ticket_ids.to_vec()))
        .filter(listed(actor))
        .order_by_asc(attachment::Column::CreatedAt)
        .order_by_asc(attachment::Column::Id)
        .all(db)
        .await?
    {
        if let Some(ticket_id) = row.ticket_id {
            by_ticket.entry(ticket_id).or_default().push(row);
        }
    }
    Ok(by_ticket)
}

/// The files `actor` may see on each of `comment_ids` (comments the caller checked `actor` may
/// read), in one statement.
pub async fn of_comments(
    db: &impl ConnectionTrait,
    actor: &Actor,
    comment_ids: &[Uuid],
) -> Result<HashMap<Uuid, Vec<attachment::Model>>> {
    let mut by_comment: HashMap<Uuid, Vec<attachment::Model>> = HashMap::new();
    if comment_ids.is_empty() {
        return Ok(by_comment);
    }
    for row in attachment::Entity::find()
        .filter(attachment::Column::CommentId.is_in(comment_ids.to_vec()))
        .filter(listed(actor))
        .order_by_asc(attachment::Column::CreatedAt)
        .order_by_asc(attachment::Column::Id)
        .all(db)
        .await?
    {
        if let Some(comment_id) = row.comment_id {
            by_comment.entry(comment_id).or_default().push(row);
        }
    }
    Ok(by_comment)
}

/// How many files `actor` may see on each of `ticket_ids`, in one statement.
pub async fn counts_of_tickets(
    db: &impl ConnectionTrait,
    actor: &Actor,
    ticket_ids: &[Uuid],
) -> Result<HashMap<Uuid, i64>> {
    if ticket_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(Option<Uuid>, i64)> = attachment::Entity::find()
        .select_only()
        .column(attachment::Column::TicketId)
        .column_as(attachment::Column::Id.count(), "count")
        .filter(attachment::Column::TicketId.is_in(ticket_ids.to_vec()))
        .filter(listed(actor))
        .group_by(attachment::Column::TicketId)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, count)| Some((id?, count)))
        .collect())
}

/// Deletes a file `actor` sees: the one who uploaded it, or staff who may change its ticket.
/// The row is hidden at once; its bytes are purged by retention.
pub async fn delete(db: &impl ConnectionTrait, actor: &Actor, id: Uuid) -> Result<Uuid> {
    let (row, ticket) = get(db, actor, id).await?;
    let own = row.uploaded_by == Some(actor.user_id);
    let staff = ticket
        .as_ref()
        .is_some_and(|t| access::can_comment_internal(actor, t));
    access::require(own || staff)?;
    attachment::Entity::update_many()
        .col_expr(attachment::Column::DeletedAt, Expr::value(Utc::now()))
        .filter(attachment::Column::Id.eq(id))
        .filter(attachment::Column::DeletedAt.is_null())
        .exec(db)
        .await?;
    Ok(row.id)
}

/// Files waiting for a scan now: `pending`, and `failed` ones whose retry is due.
pub async fn due_for_scan(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<attachment::Model>> {
    Ok(attachment::Entity::find()
        .filter(attachment::Column::ScanStatus.is_in([ScanStatus::Pending, ScanStatus::Failed]))
        .filter(attachment::Column::ScanNextAt.lte(now))
        .filter(attachment::Column::DeletedAt.is_null())
        .order_by_asc(attachment::Column::ScanNextAt)
        .limit(limit)
        .all(db)
        .await?)
}

/// When the next scan is due, if any file waits.
pub async fn next_scan_at(db: &impl ConnectionTrait) -> Result<Option<DateTime<Utc>>> {
    let next: Option<Option<DateTime<Utc>>> = attachment::Entity::find()
        .select_only()
        .column_as(attachment::Column::ScanNextAt.min(), "next")
        .filter(attachment::Column::ScanStatus.is_in([ScanStatus::Pending, ScanStatus::Failed]))
        .filter(attachment::Column::DeletedAt.is_null())
        .into_tuple()
        .one(db)
        .await?;
    Ok(next.flatten())
}

/// The wait before scan attempt `attempts + 1`: 2, 4, 8 ... seconds, at most 10 minutes.
pub fn scan_backoff(attempts: i32) -> Duration {
    Duration::seconds(2i64.saturating_pow(attempts.clamp(1, 20) as u32).min(600))
}

/// Scans one file and records the outcome: `clean` or `infected` (with an audit entry) and an
/// `attachment.scanned` event when its ticket exists; `failed` with the next try otherwise.
pub async fn scan_one<C>(
    db: &C,
    attachments: &Attachments,
    scanner: &scan::Scanner,
    row: &attachment::Model,
) -> Result<ScanStatus>
where
    C: ConnectionTrait + TransactionTrait,
{
    let outcome = match attachments.read(row, 0..row.size_bytes as u64).await {
        Ok(content) => scanner.scan(Box::pin(content)).await,
        Err(e) => Err(e.to_string()),
    };
    let now = Utc::now();
    let txn = crate::db::begin_write(db).await?;
    let mut update = attachment::ActiveModel {
        id: Set(row.id),
        scan_attempts: Set(row.scan_attempts + 1),
        ..Default::default()
    };
    let status = match &outcome {
        Ok(scan::Verdict::Clean) => {
            update.scan_status = Set(ScanStatus::Clean);
            update.scan_verdict = Set(None);
            update.scan_next_at = Set(None);
            update.scanned_at = Set(Some(now));
            ScanStatus::Clean
        }
        Ok(scan::Verdict::Infected(signature)) => {
            update.scan_status = Set(ScanStatus::Infected);
            update.scan_verdict = Set(Some(signature.chars().take(255).collect()));
            update.scan_next_at = Set(None);
            update.scanned_at = Set(Some(now));
            crate::audit::record(
                &txn,
                row.uploaded_by,
                "attachment.infected",
                row.ticket_id,
                format!(
                    "attachment {} ({}) is infected: {signature}",
                    row.id, row.file_name
                ),
                &Default::default(),
            )
            .await?;
            ScanStatus::Infected
        }
        Err(reason) => {
            tracing::warn!(attachment = %row.id, %reason, "scan failed; will try again");
            update.scan_status = Set(ScanStatus::Failed);
            update.scan_verdict = Set(Some(reason.chars().take(255).collect()));
            update.scan_next_at = Set(Some(now + scan_backoff(row.scan_attempts + 1)));
            ScanStatus::Failed
        }
    };
    let updated = attachment::Entity::update(update).exec(&txn).await?;
    if status != ScanStatus::Failed
        && let Some(ticket_id) = updated.ticket_id
        && let Some(ticket) = ticket::Entity::find_by_id(ticket_id).one(&txn).await?
    {
        crate::event::record_attachment(&txn, &ticket, SCAN_EVENT, &updated).await?;
    }
    txn.commit().await?;
    Ok(status)
}

/// Uploads never attached and past their expiry, and files deleted before `deleted_before`:
/// their bytes are removed from storage, then their rows. Returns how many went.
pub async fn purge(
    db: &impl ConnectionTrait,
    storage: &Storage,
    now: DateTime<Utc>,
    deleted_before: DateTime<Utc>,
) -> Result<u64> {
    let rows = attachment::Entity::find()
        .filter(purgeable(now, deleted_before))
        .limit(1000)
        .all(db)
        .await?;
    let mut purged = 0;
    for row in rows {
        storage
            .delete(&row.storage_key)
            .await
            .map_err(|e| Error::Internal(e.to_string()))?;
        purged += attachment::Entity::delete_by_id(row.id)
            .exec(db)
            .await?
            .rows_affected;
    }
    Ok(purged)
}

/// How many files [`purge`] would remove now (all of them, not one round's 1000).
pub async fn purgeable_count(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    deleted_before: DateTime<Utc>,
) -> Result<u64> {
    use sea_orm::PaginatorTrait;
    Ok(attachment::Entity::find()
        .filter(purgeable(now, deleted_before))
        .count(db)
        .await?)
}

fn purgeable(now: DateTime<Utc>, deleted_before: DateTime<Utc>) -> Condition {
    Condition::any()
        .add(
            Condition::all()
                .add(attachment::Column::State.ne(AttachmentState::Attached))
                .add(attachment::Column::ExpiresAt.lte(now)),
        )
        .add(attachment::Column::DeletedAt.lte(deleted_before))
}

/// What [`check`] found: stored objects without a row, and complete files whose object is
/// missing.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Consistency {
    pub objects: u64,
    pub rows: u64,
    pub objects_without_row: Vec<String>,
    pub rows_without_object: Vec<Uuid>,
}

impl Consistency {
    pub fn is_consistent(&self) -> bool {
        self.objects_without_row.is_empty() && self.rows_without_object.is_empty()
    }
}

/// How many complete files the table has (their objects should exist), for a storage that
/// is not there at all.
pub async fn check_rows_only(db: &impl ConnectionTrait) -> Result<u64> {
    use sea_orm::PaginatorTrait;
    Ok(attachment::Entity::find()
        .filter(
            attachment::Column::State.is_in([AttachmentState::Stored, AttachmentState::Attached]),
        )
        .count(db)
        .await?)
}

/// Compares storage with the table: nothing in storage without a row, nothing complete in a
/// row without its object. An object whose upload is still arriving is not an orphan.
pub async fn check(db: &impl ConnectionTrait, storage: &Storage) -> Result<Consistency> {
    let rows: Vec<(Uuid, String, AttachmentState)> = attachment::Entity::find()
        .select_only()
        .column(attachment::Column::Id)
        .column(attachment::Column::StorageKey)
        .column(attachment::Column::State)
        .into_tuple()
        .all(db)
        .await?;
    let keys = storage
        .list(STORAGE_PREFIX)
        .await
        .map_err(|e| Error::Internal(e.to_string()))?;
    let known: std::collections::HashSet<&str> = rows.iter().map(|(_, k, _)| k.as_str()).collect();
    let present: std::collections::HashSet<&str> = keys.iter().map(String::as_str).collect();
    let mut report = Consistency {
        objects: keys.len() as u64,
        rows: rows.len() as u64,
        ..Default::default()
    };
    for key in &keys {
        if !known.contains(key.as_str()) {
            report.objects_without_row.push(key.clone());
        }
    }
    for (id, key, state) in &rows {
        let complete = matches!(state, AttachmentState::Stored | AttachmentState::Attached);
        if complete && !present.contains(key.as_str()) {
            report.rows_without_object.push(*id);
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_lose_their_directories() {
        assert_eq!(clean_file_name("../../etc/passwd").unwrap(), "passwd");
        assert_eq!(clean_file_name("C:\\x\\report.pdf").unwrap(), "report.pdf");
        assert_eq!(clean_file_name(" a\u{0}b.txt ").unwrap(), "ab.txt");
        assert_eq!(
            clean_file_name("dir/").unwrap_err().field(),
            Some("fileName")
        );
        assert!(clean_file_name(&"x".repeat(256)).is_err());
    }

    #[test]
    fn content_types_are_media_types() {
        assert_eq!(
            clean_content_type("Text/Plain; charset=utf-8").unwrap(),
            "text/plain"
        );
        for bad in ["", "text", "/plain", "text/", "te xt/plain"] {
            assert_eq!(
                clean_content_type(bad).unwrap_err().field(),
                Some("contentType"),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn executables_are_refused_by_type_name_and_bytes() {
        let policy = Policy::default();
        assert!(
            policy
                .refuses("application/x-msdownload", "a.bin")
                .is_some()
        );
        assert!(
            policy
                .refuses("application/octet-stream", "SETUP.EXE")
                .is_some()
        );
        assert!(policy.refuses("image/png", "shot.png").is_none());
        let elf = [b"\x7fELF\x02\x01\x01\0".as_slice(), &[0u8; 200]].concat();
        assert!(matches!(
            checked_type(&policy, "text/plain", "notes.txt", &elf),
            Err(Refusal::RefusedType(_))
        ));
    }

    #[test]
    fn the_bytes_decide_a_binary_type() {
        let policy = Policy::default();
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
        assert_eq!(
            checked_type(&policy, "text/plain", "shot.txt", png).unwrap(),
            "image/png"
        );
        assert!(matches!(
            checked_type(&policy, "image/png", "shot.png", b"just text"),
            Err(Refusal::TypeMismatch { .. })
        ));
        assert_eq!(
            checked_type(&policy, "text/csv", "a.csv", b"a,b\n1,2\n").unwrap(),
            "text/csv"
        );
        assert_eq!(
            checked_type(&policy, GENERIC_TYPE, "dump.bin", b"\x01\x02").unwrap(),
            GENERIC_TYPE
        );
    }

    #[test]
    fn scans_back_off_to_ten_minutes() {
        assert_eq!(scan_backoff(1), Duration::seconds(2));
        assert_eq!(scan_backoff(3), Duration::seconds(8));
        assert_eq!(scan_backoff(30), Duration::seconds(600));
    }
}
