//! The stored form of an attachment: the STREAM construction (Hoang, Reyhanitabar, Rogaway and
//! Vizár) over AES-256-GCM, with a random key per file, so a file is encrypted and decrypted
//! one chunk at a time and never held whole in memory.
//!
//! ```text
//! "HDF1" || nonce prefix (7 bytes) || chunk 0 || chunk 1 || ... || chunk n-1
//! chunk i = AES-256-GCM(key, nonce prefix || i (32-bit big endian) || last flag, plaintext i)
//! ```
//!
//! Every chunk but the last holds [`CHUNK`] bytes of plaintext (plus a 16-byte tag); the last
//! holds the rest, possibly nothing, and is sealed with the last-block flag, so a stored file
//! cut short, reordered or extended does not open. The associated data of every chunk is the
//! attachment's id: chunks moved between files do not open either. Because chunks have a fixed
//! size, a byte range of the plaintext maps to a range of chunks, which is what range requests
//! read.

use aead_stream::{NewStream, StreamBE32, StreamPrimitive};
use aes_gcm::aead::{Generate, KeyInit};
use aes_gcm::{Aes256Gcm, Key};
use uuid::Uuid;

/// Plaintext bytes per chunk.
pub const CHUNK: usize = 64 * 1024;
/// Bytes the cipher adds to every chunk.
pub const TAG: usize = 16;
const MAGIC: &[u8; 4] = b"HDF1";
const NONCE_PREFIX: usize = 7;
/// Bytes before the first chunk.
pub const HEADER: usize = MAGIC.len() + NONCE_PREFIX;

#[derive(Debug, thiserror::Error)]
pub enum CipherError {
    #[error("the stored file is not in the expected format")]
    Format,
    #[error("the stored file does not open with its key: altered, cut short or misplaced")]
    Tampered,
    #[error("the file is too large for its format")]
    TooLarge,
}

/// A file's own key: 32 random bytes.
pub type FileKey = [u8; crate::crypto::KEY_BYTES];

pub fn new_file_key() -> FileKey {
    let key = Key::<Aes256Gcm>::generate();
    key.into()
}

/// How many chunks a file of `size` plaintext bytes has (at least one: an empty file is one
/// empty last chunk).
pub fn chunks_of(size: u64) -> u64 {
    size.div_ceil(CHUNK as u64).max(1)
}

/// Bytes of the stored form of a file of `size` plaintext bytes.
pub fn sealed_len(size: u64) -> u64 {
    HEADER as u64 + size + chunks_of(size) * TAG as u64
}

/// Where chunk `index` starts in the stored form.
pub fn chunk_offset(index: u64) -> u64 {
    HEADER as u64 + index * (CHUNK + TAG) as u64
}

fn stream(key: &FileKey, prefix: &[u8]) -> StreamBE32<Aes256Gcm> {
    let cipher = Aes256Gcm::new(&Key::<Aes256Gcm>::from(*key));
    StreamBE32::from_aead(cipher, prefix.try_into().expect("a 7-byte nonce prefix"))
}

/// Encrypts a file chunk by chunk: [`Sealer::header`] first, then [`Sealer::seal`] for every
/// full chunk and [`Sealer::seal_last`] for the rest.
pub struct Sealer {
    stream: StreamBE32<Aes256Gcm>,
    prefix: [u8; NONCE_PREFIX],
    aad: [u8; 16],
    next: u32,
}

impl Sealer {
    pub fn new(key: &FileKey, attachment_id: Uuid) -> Self {
        let prefix: [u8; NONCE_PREFIX] = rand::random();
        Self {
            stream: stream(key, &prefix),
            prefix,
            aad: *attachment_id.as_bytes(),
            next: 0,
        }
    }

    pub fn header(&self) -> Vec<u8> {
        let mut header = Vec::with_capacity(HEADER);
        header.extend_from_slice(MAGIC);
        header.extend_from_slice(&self.prefix);
        header
    }

    /// Seals a full chunk (exactly [`CHUNK`] bytes) in place: `buffer` gains its tag.
    pub fn seal(&mut self, buffer: &mut Vec<u8>) -> Result<(), CipherError> {
        debug_assert_eq!(buffer.len(), CHUNK);
        self.seal_at(buffer, false)
    }

    /// Seals the last chunk (at most [`CHUNK`] bytes) in place.
    pub fn seal_last(mut self, buffer: &mut Vec<u8>) -> Result<(), CipherError> {
        debug_assert!(buffer.len() <= CHUNK);
        self.seal_at(buffer, true)
    }

    fn seal_at(&mut self, buffer: &mut Vec<u8>, last: bool) -> Result<(), CipherError> {
        let position = self.next;
        self.next = self.next.checked_add(1).ok_or(CipherError::TooLarge)?;
        self.stream
            .encrypt_in_place(position, last, &self.aad, buffer)
            .map_err(|_| CipherError::TooLarge)
    }
}

/// Opens the chunks of a stored file, in any order.
pub struct Opener {
    stream: StreamBE32<Aes256Gcm>,
    aad: [u8; 16],
    chunks: u64,
}

impl Opener {
    /// From the stored file's header and its plaintext size (from the attachment's row).
    pub fn new(
        key: &FileKey,
        attachment_id: Uuid,
        header: &[u8],
        size: u64,
    ) -> Result<Self, CipherError> {
        if header.len() != HEADER || &header[..MAGIC.len()] != MAGIC {
            return Err(CipherError::Format);
        }
        Ok(Self {
            stream: stream(key, &header[MAGIC.len()..]),
            aad: *attachment_id.as_bytes(),
            chunks: chunks_of(size),
        })
    }

    /// Opens chunk `index` in place (its tag included): `buffer` becomes its plaintext.
    pub fn open(&self, index: u64, buffer: &mut Vec<u8>) -> Result<(), CipherError> {
        let position = u32::try_from(index).map_err(|_| CipherError::Format)?;
        if index >= self.chunks {
            return Err(CipherError::Format);
        }
        let last = index + 1 == self.chunks;
        self.stream
            .decrypt_in_place(position, last, &self.aad, buffer)
            .map_err(|_| CipherError::Tampered)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seal_all(key: &FileKey, id: Uuid, data: &[u8]) -> Vec<u8> {
        let mut sealer = Sealer::new(key, id);
        let mut out = sealer.header();
        let mut rest = data;
        while rest.len() > CHUNK {
            let mut chunk = rest[..CHUNK].to_vec();
            sealer.seal(&mut chunk).unwrap();
            out.extend_from_slice(&chunk);
            rest = &rest[CHUNK..];
        }
        let mut last = rest.to_vec();
        sealer.seal_last(&mut last).unwrap();
        out.extend_from_slice(&last);
        out
    }

    fn open_all(key: &FileKey, id: Uuid, sealed: &[u8], size: u64) -> Result<Vec<u8>, CipherError> {
        let opener = Opener::new(key, id, &sealed[..HEADER], size)?;
        let mut out = Vec::new();
        for index in 0..chunks_of(size) {
            let start = chunk_offset(index) as usize;
            let end = (start + CHUNK + TAG).min(sealed.len());
            let mut chunk = sealed[start..end].to_vec();
            opener.open(index, &mut chunk)?;
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }

    #[test]
    fn files_of_every_boundary_size_round_trip() {
        let key = new_file_key();
        let id = Uuid::now_v7();
        for size in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 3 * CHUNK + 17] {
            let data: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
            let sealed = seal_all(&key, id, &data);
            assert_eq!(sealed.len() as u64, sealed_len(size as u64), "size {size}");
            assert_eq!(open_all(&key, id, &sealed, size as u64).unwrap(), data);
        }
    }

    #[test]
    fn cut_misplaced_or_altered_files_do_not_open() {
        let key = new_file_key();
        let id = Uuid::now_v7();
        let data = vec![7u8; 2 * CHUNK + 5];
        let size = data.len() as u64;
        let sealed = seal_all(&key, id, &data);
        // Another attachment's id, another key.
        assert!(open_all(&key, Uuid::now_v7(), &sealed, size).is_err());
        assert!(open_all(&new_file_key(), id, &sealed, size).is_err());
        // Cut after a full chunk: the last chunk is missing, so chunk 1 is not "last".
        let cut = &sealed[..chunk_offset(2) as usize];
        assert!(open_all(&key, id, cut, 2 * CHUNK as u64).is_err());
        // One bit flipped.
        let mut flipped = sealed.clone();
        flipped[HEADER + 10] ^= 1;
        assert!(open_all(&key, id, &flipped, size).is_err());
        // The stored form shows nothing of the plaintext.
        assert!(!sealed.windows(16).any(|w| w == &data[..16]));
    }
}
