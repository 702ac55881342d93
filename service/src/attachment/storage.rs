//! Where attachments' bytes live: a local directory or an S3-compatible bucket, behind
//! `object_store`. Bytes go in and come out encrypted ([`super::cipher`]) and streamed: an
//! upload is sealed chunk by chunk into a multipart upload, a download opens only the chunks
//! its range covers.

use std::ops::Range;
use std::path::Path as FsPath;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use object_store::path::Path;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt, WriteMultipart};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::cipher::{self, CHUNK, CipherError, FileKey, HEADER, Opener, Sealer, TAG};

/// The storage behind attachments.
#[derive(Clone)]
pub struct Storage {
    store: Arc<dyn ObjectStore>,
    /// Bytes per part of a multipart upload (S3 wants at least 5 MiB for all but the last).
    part_bytes: usize,
    description: String,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.description)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("storage: {0}")]
    Store(#[from] object_store::Error),
    #[error("{0}")]
    Cipher(#[from] CipherError),
    #[error("storage setting: {0}")]
    Config(String),
}

impl Storage {
    /// A directory on local disk (created if missing).
    pub fn local(dir: &FsPath) -> Result<Self, StorageError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StorageError::Config(format!("{}: {e}", dir.display())))?;
        let store = object_store::local::LocalFileSystem::new_with_prefix(dir)?;
        Ok(Self {
            store: Arc::new(store),
            part_bytes: 1024 * 1024,
            description: format!("local directory {}", dir.display()),
        })
    }

    /// `s3://bucket[/prefix]`, with the standard AWS variables (`AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ENDPOINT` for S3-compatible servers,
    /// `AWS_ALLOW_HTTP`).
    pub fn s3(url: &str) -> Result<Self, StorageError> {
        let parsed =
            url::Url::parse(url).map_err(|e| StorageError::Config(format!("{url}: {e}")))?;
        if parsed.scheme() != "s3" || parsed.host_str().is_none_or(str::is_empty) {
            return Err(StorageError::Config(format!(
                "{url}: expected s3://bucket or s3://bucket/prefix"
            )));
        }
        let bucket = parsed.host_str().unwrap_or_default().to_string();
        let prefix = parsed.path().trim_matches('/').to_string();
        let s3 = object_store::aws::AmazonS3Builder::from_env()
            .with_bucket_name(&bucket)
            .build()?;
        let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
            Arc::new(s3)
        } else {
            Arc::new(object_store::prefix::PrefixStore::new(s3, prefix.as_str()))
        };
        Ok(Self {
            store,
            part_bytes: 5 * 1024 * 1024,
            description: format!("S3 bucket {bucket} prefix /{prefix}"),
        })
    }

    /// From the settings: the S3 URL when given, else the directory.
    pub fn from_settings(dir: &FsPath, url: Option<&str>) -> Result<Self, StorageError> {
        match url.map(str::trim).filter(|u| !u.is_empty()) {
            Some(url) => Self::s3(url),
            None => Self::local(dir),
        }
    }

    pub fn describe(&self) -> &str {
        &self.description
    }

    /// Seals `body` into the object at `key`, checking it as it arrives: `check` sees the first
    /// chunk before anything is stored, and at most `limit` bytes are accepted. Nothing is kept
    /// when it fails.
    pub async fn put_sealed<S, E>(
        &self,
        key: &str,
        file_key: &FileKey,
        attachment_id: Uuid,
        mut body: S,
        limit: u64,
        check: impl FnOnce(&[u8]) -> Result<(), Refusal>,
    ) -> Result<Received, Refusal>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let mut sealer = Sealer::new(file_key, attachment_id);
        let mut hasher = Sha256::new();
        let mut size: u64 = 0;
        let mut pending: Vec<u8> = Vec::with_capacity(CHUNK + TAG);
        // The first chunk is complete (or the body ended) before the upload starts.
        let mut ended = false;
        while pending.len() < CHUNK && !ended {
            match body.next().await {
                Some(piece) => {
                    let piece = piece.map_err(|e| Refusal::Body(e.to_string()))?;
                    size += piece.len() as u64;
                    if size > limit {
                        return Err(Refusal::TooLarge { limit });
                    }
                    pending.extend_from_slice(&piece);
                }
                None => ended = true,
            }
        }
        check(&pending[..pending.len().min(CHUNK)])?;

        let location = Path::from(key);
        let upload = self
            .store
            .put_multipart(&location)
            .await
            .map_err(|e| Refusal::Storage(e.to_string()))?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, self.part_bytes);
        writer.write(&sealer.header());
        let result: Result<(), Refusal> = async {
            loop {
                // Seal every full chunk while more bytes follow: only then is it not the last.
                while pending.len() > CHUNK {
                    let rest = pending.split_off(CHUNK);
                    hasher.update(&pending);
                    sealer
                        .seal(&mut pending)
                        .map_err(|e| Refusal::Storage(e.to_string()))?;
                    // One part in flight at a time: memory stays at about one part.
                    writer.wait_for_capacity(0).await.map_err(store_refusal)?;
                    writer.write(&pending);
                    pending = rest;
                    pending.reserve(CHUNK + TAG);
                }
                if ended {
                    break;
                }
                match body.next().await {
                    Some(piece) => {
                        let piece = piece.map_err(|e| Refusal::Body(e.to_string()))?;
                        size += piece.len() as u64;
                        if size > limit {
                            return Err(Refusal::TooLarge { limit });
                        }
                        pending.extend_from_slice(&piece);
                    }
                    None => ended = true,
                }
            }
            Ok(())
        }
        .await;
        if let Err(refusal) = result {
            let _ = writer.abort().await;
            return Err(refusal);
        }
        hasher.update(&pending);
        let last = std::mem::take(&mut pending);
        let mut last = last;
        if let Err(e) = sealer.seal_last(&mut last) {
            let _ = writer.abort().await;
            return Err(Refusal::Storage(e.to_string()));
        }
        writer.write(&last);
        writer.finish().await.map_err(store_refusal)?;
        Ok(Received {
            size,
            sha256: hex(&hasher.finalize()),
        })
    }

    /// The plaintext bytes `range` of the file at `key`, opened chunk by chunk as they arrive.
    pub async fn open_range(
        &self,
        key: &str,
        file_key: FileKey,
        attachment_id: Uuid,
        size: u64,
        range: Range<u64>,
    ) -> Result<impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static, StorageError>
    {
        let location = Path::from(key);
        let header = self.store.get_range(&location, 0..HEADER as u64).await?;
        let opener = Opener::new(&file_key, attachment_id, &header, size)?;
        let chunks = cipher::chunks_of(size);
        let (first, end_chunk) = if range.start >= range.end {
            (0, 0)
        } else {
            (
                range.start / CHUNK as u64,
                (range.end - 1) / CHUNK as u64 + 1,
            )
        };
        let end_chunk = end_chunk.min(chunks);
        let stored = if first < end_chunk {
            let from = cipher::chunk_offset(first);
            let to = cipher::chunk_offset(end_chunk).min(cipher::sealed_len(size));
            let got = self
                .store
                .get_opts(
                    &location,
                    GetOptions {
                        range: Some(GetRange::Bounded(from..to)),
                        ..Default::default()
                    },
                )
                .await?;
            Some(got.into_stream())
        } else {
            None
        };
        Ok(async_stream_open(
            stored, opener, first, end_chunk, size, range,
        ))
    }

    /// Removes the object at `key`; one already gone is fine.
    pub async fn delete(&self, key: &str) -> Result<(), StorageError> {
        match self.store.delete(&Path::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Whether an object exists at `key`.
    pub async fn exists(&self, key: &str) -> Result<bool, StorageError> {
        match self.store.head(&Path::from(key)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// The stored bytes of the object at `key`, as they are (for checks and tests).
    pub async fn read_raw(&self, key: &str) -> Result<Bytes, StorageError> {
        Ok(self.store.get(&Path::from(key)).await?.bytes().await?)
    }

    /// Every object key under `prefix`.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        let prefix = Path::from(prefix);
        let mut keys = Vec::new();
        let mut listing = self.store.list(Some(&prefix));
        while let Some(meta) = listing.next().await {
            keys.push(meta?.location.to_string());
        }
        Ok(keys)
    }
}

fn store_refusal(e: object_store::Error) -> Refusal {
    Refusal::Storage(e.to_string())
}

/// Opens the stored chunks `first..end_chunk` as they stream in and yields the part of each
/// that lies in `range`.
fn async_stream_open<S>(
    stored: Option<S>,
    opener: Opener,
    first: u64,
    end_chunk: u64,
    size: u64,
    range: Range<u64>,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static
where
    S: Stream<Item = Result<Bytes, object_store::Error>> + Send + Unpin + 'static,
{
    struct Reading<S> {
        stored: S,
        buffer: BytesMut,
        index: u64,
        opener: Opener,
    }
    let chunks = cipher::chunks_of(size);
    let start = stored.map(|stored| Reading {
        stored,
        buffer: BytesMut::new(),
        index: first,
        opener,
    });
    futures_util::stream::unfold(start, move |reading| {
        let range = range.clone();
        async move {
            let mut reading = reading?;
            let index = reading.index;
            if index >= end_chunk {
                return None;
            }
            let want = if index + 1 == chunks {
                (size - index * CHUNK as u64) as usize + TAG
            } else {
                CHUNK + TAG
            };
            while reading.buffer.len() < want {
                match reading.stored.next().await {
                    Some(Ok(piece)) => reading.buffer.extend_from_slice(&piece),
                    Some(Err(e)) => return Some((Err(std::io::Error::other(e)), None)),
                    None => {
                        let cut = std::io::Error::other(CipherError::Tampered);
                        return Some((Err(cut), None));
                    }
                }
            }
            let mut chunk = reading.buffer.split_to(want).to_vec();
            if let Err(e) = reading.opener.open(index, &mut chunk) {
                return Some((Err(std::io::Error::other(e)), None));
            }
            let offset = index * CHUNK as u64;
            let to = ((range.end - offset) as usize).min(chunk.len());
            let from = (range.start.saturating_sub(offset) as usize).min(to);
            reading.index += 1;
            Some((Ok(Bytes::from(chunk).slice(from..to)), Some(reading)))
        }
    })
}

/// What an upload received: its size and SHA-256 (hex).
#[derive(Debug, Clone)]
pub struct Received {
    pub size: u64,
    pub sha256: String,
}

/// Why an upload was not kept.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error("the file is larger than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("the file has {received} bytes, not the {declared} announced")]
    SizeMismatch { declared: u64, received: u64 },
    #[error("files of type {0} are not accepted")]
    RefusedType(String),
    #[error("the content is {detected}, not {claimed}")]
    TypeMismatch { claimed: String, detected: String },
    #[error("the upload was interrupted: {0}")]
    Body(String),
    #[error("{0}")]
    Storage(String),
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}
