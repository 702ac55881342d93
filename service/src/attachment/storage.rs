//! Where attachments' bytes live: a local directory or an S3-compatible bucket, behind
//! `object_store`. Bytes go in and come out encrypted ([`super::cipher`]) and streamed: an
//! upload is sealed chunk by chunk into a multipart upload, a download opens only the chunks
//! its range covers.

use std::ops::Range;
use std::path::Path as FsPath;
use std::sync::Arc;

use bytes::Bytes;
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
            part_bytes: 256 * 1024,
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
    ///
    /// The bytes go straight from the body's pieces into chunk buffers of one size, each handed
    /// to the upload as it is sealed: no buffer grows, so the allocator reuses the same few
    /// blocks whatever the size of the file.
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
        let mut chunks = Chunker::new(Sealer::new(file_key, attachment_id));
        let mut size: u64 = 0;
        let mut next_piece = async || -> Result<Option<Bytes>, Refusal> {
            match body.next().await {
                Some(Ok(piece)) => {
                    size += piece.len() as u64;
                    if size > limit {
                        return Err(Refusal::TooLarge { limit });
                    }
                    Ok(Some(piece))
                }
                Some(Err(e)) => Err(Refusal::Body(e.to_string())),
                None => Ok(None),
            }
        };
        // The first chunk is complete (or the body ended) before the upload starts.
        let mut piece = Bytes::new();
        let mut ended = false;
        while !chunks.first_full() {
            if piece.is_empty() {
                match next_piece().await? {
                    Some(next) => piece = next,
                    None => {
                        ended = true;
                        break;
                    }
                }
            }
            chunks.fill(&mut piece);
        }
        check(chunks.current())?;

        let location = Path::from(key);
        let upload = self
            .store
            .put_multipart(&location)
            .await
            .map_err(|e| Refusal::Storage(e.to_string()))?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, self.part_bytes);
        writer.put(Bytes::from(chunks.header()));
        let result: Result<(), Refusal> = async {
            // Reads until the body ends (it may have ended within the first chunk).
            while !ended {
                if piece.is_empty() {
                    match next_piece().await? {
                        // An empty piece says nothing of whether more bytes follow.
                        Some(next) => piece = next,
                        None => ended = true,
                    }
                    continue;
                }
                // More bytes follow: a full chunk is not the last, and is sealed now.
                if let Some(sealed) = chunks.seal_if_full()? {
                    // One part in flight at a time: memory stays at about one part.
                    writer.wait_for_capacity(0).await.map_err(store_refusal)?;
                    writer.put(Bytes::from(sealed));
                }
                chunks.fill(&mut piece);
            }
            Ok(())
        }
        .await;
        let last = result.and_then(|()| chunks.seal_last());
        let (last, sha256) = match last {
            Ok(done) => done,
            Err(refusal) => {
                let _ = writer.abort().await;
                return Err(refusal);
            }
        };
        writer.put(Bytes::from(last));
        writer.finish().await.map_err(store_refusal)?;
        Ok(Received { size, sha256 })
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

    /// Stores `bytes` as they are at `key` (for checks and tests: attachments go through
    /// [`Storage::put_sealed`]).
    pub async fn put_raw(&self, key: &str, bytes: Vec<u8>) -> Result<(), StorageError> {
        self.store.put(&Path::from(key), bytes.into()).await?;
        Ok(())
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

/// Cuts a stream of pieces into chunks of [`CHUNK`] bytes and seals them, hashing the
/// plaintext on the way.
struct Chunker {
    sealer: Sealer,
    hasher: Sha256,
    current: Vec<u8>,
}

impl Chunker {
    fn new(sealer: Sealer) -> Self {
        Self {
            sealer,
            hasher: Sha256::new(),
            current: Vec::with_capacity(CHUNK + TAG),
        }
    }

    fn header(&self) -> Vec<u8> {
        self.sealer.header()
    }

    fn current(&self) -> &[u8] {
        &self.current
    }

    fn first_full(&self) -> bool {
        self.current.len() == CHUNK
    }

    /// Moves bytes from the front of `piece` into the current chunk, up to its size.
    fn fill(&mut self, piece: &mut Bytes) {
        let take = (CHUNK - self.current.len()).min(piece.len());
        self.current.extend_from_slice(&piece[..take]);
        *piece = piece.slice(take..);
    }

    /// The current chunk sealed (not the last), when it is full; a fresh one takes its place.
    fn seal_if_full(&mut self) -> Result<Option<Vec<u8>>, Refusal> {
        if self.current.len() < CHUNK {
            return Ok(None);
        }
        let mut full = std::mem::replace(&mut self.current, Vec::with_capacity(CHUNK + TAG));
        self.hasher.update(&full);
        self.sealer
            .seal(&mut full)
            .map_err(|e| Refusal::Storage(e.to_string()))?;
        Ok(Some(full))
    }

    /// The last chunk sealed, and the SHA-256 (hex) of the whole plaintext.
    fn seal_last(self) -> Result<(Vec<u8>, String), Refusal> {
        let Self {
            sealer,
            mut hasher,
            mut current,
        } = self;
        hasher.update(&current);
        sealer
            .seal_last(&mut current)
            .map_err(|e| Refusal::Storage(e.to_string()))?;
        Ok((current, hex(&hasher.finalize())))
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
        /// What is left of the last piece read from storage.
        piece: Bytes,
        index: u64,
        opener: Opener,
    }
    let chunks = cipher::chunks_of(size);
    let start = stored.map(|stored| Reading {
        stored,
        piece: Bytes::new(),
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
            // The stored chunk, gathered from the pieces into a buffer of its own size.
            let mut chunk = Vec::with_capacity(want);
            while chunk.len() < want {
                if reading.piece.is_empty() {
                    match reading.stored.next().await {
                        Some(Ok(piece)) => reading.piece = piece,
                        Some(Err(e)) => return Some((Err(std::io::Error::other(e)), None)),
                        None => {
                            let cut = std::io::Error::other(CipherError::Tampered);
                            return Some((Err(cut), None));
                        }
                    }
                }
                let take = (want - chunk.len()).min(reading.piece.len());
                chunk.extend_from_slice(&reading.piece[..take]);
                reading.piece = reading.piece.slice(take..);
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    async fn round_trip(pieces: Vec<Vec<u8>>) {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::local(dir.path()).unwrap();
        let key = cipher::new_file_key();
        let id = Uuid::now_v7();
        let whole: Vec<u8> = pieces.concat();
        let body = futures_util::stream::iter(
            pieces
                .into_iter()
                .map(|p| Ok::<_, std::convert::Infallible>(Bytes::from(p))),
        );
        let received = storage
            .put_sealed("attachments/x", &key, id, body, u64::MAX, |_| Ok(()))
            .await
            .unwrap();
        assert_eq!(received.size, whole.len() as u64);
        assert_eq!(received.sha256, hex(&Sha256::digest(&whole)));
        let stored = storage.read_raw("attachments/x").await.unwrap();
        assert_eq!(stored.len() as u64, cipher::sealed_len(whole.len() as u64));
        let size = whole.len() as u64;
        for range in [0..size, size / 3..size - size / 4] {
            let back: Vec<u8> = storage
                .open_range("attachments/x", key, id, size, range.clone())
                .await
                .unwrap()
                .map(|piece| piece.unwrap().to_vec())
                .concat()
                .await;
            assert!(back == whole[range.start as usize..range.end as usize]);
        }
    }

    #[tokio::test]
    async fn pieces_of_any_size_and_empty_ones_seal_to_the_same_format() {
        let data = |n: usize| (0..n).map(|i| (i % 253) as u8).collect::<Vec<u8>>();
        // Exactly one chunk, then an empty piece: the full chunk is still the last one.
        round_trip(vec![data(CHUNK), vec![]]).await;
        round_trip(vec![vec![], data(3 * CHUNK), vec![], data(7)]).await;
        round_trip(vec![data(1000); 300]).await;
        round_trip(vec![data(CHUNK + 1), data(CHUNK - 1)]).await;
    }
}
