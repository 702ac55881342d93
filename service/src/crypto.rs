//! Secrets at rest: one data key for the whole server, AES-256-GCM.
//!
//! Values that must be readable again but must not lie in the database as they are (webhook
//! signing secrets today) are sealed with [`Keyring::seal`] into a self-describing text
//! envelope and opened with [`Keyring::open`]:
//!
//! ```text
//! v1:<key id>:<base64 of nonce || ciphertext || tag>
//! ```
//!
//! - The nonce is 96 random bits, fresh for every seal. With one key, random nonces stay safe
//!   far beyond the number of values this server will ever seal (the bound is about 2^32).
//! - The key id is the first 8 hex digits of the SHA-256 of the key, so no setting has to name
//!   ids: `base64 -d <<< "$KEY" | sha256sum | cut -c1-8` tells an operator which key it is.
//!   The id says which key to try; it is not a secret (a hash of 256 random bits reveals
//!   nothing of them).
//! - The associated data binds a ciphertext to its place (table, column, row id): a sealed
//!   value copied into another row or column does not open there.
//!
//! The keyring holds the current key, which seals, and previous keys, which only open. Rotating
//! the key means: the new key becomes current, the old one moves to the previous list,
//! `helpdesk data-key rewrap` seals every value again under the new key, then the old key can go.
//!
//! Files (attachments) are meant to be encrypted with a random key of their own, so large data
//! never needs re-encrypting when the data key rotates: that per-file key is sealed with
//! [`Keyring::wrap_key`] (associated data: the attachment's id) and stored beside the file's
//! row, and the rewrap only re-seals those 32-byte keys.
//!
//! Key material never reaches a log: [`DataKey`] and [`Keyring`] show key ids only.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use aes_gcm::aead::{Aead, Generate, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine;
use sha2::Digest;

/// The envelope's version tag; a later format gets `v2:`.
const VERSION: &str = "v1";
const NONCE_BYTES: usize = 12;
/// Bytes of a data key (AES-256).
pub const KEY_BYTES: usize = 32;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Why a key could not be had or a value could not be opened. Messages name key ids and
/// files, never key material or plaintext.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("{0}")]
    BadKey(String),
    #[error("not a sealed value (expected `v1:<key id>:<data>`)")]
    Malformed,
    #[error(
        "sealed with data key {0}, which is neither HELPDESK_DATA_KEY nor in \
         HELPDESK_DATA_KEY_PREVIOUS"
    )]
    UnknownKey(String),
    #[error("data key {0} does not open this value: it was altered, or belongs to another row")]
    Undecryptable(String),
    #[error("data key file {path}: {source}")]
    KeyFile {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// One AES-256 key and its id. Only the expanded cipher state is kept (cleared on drop), not
/// the key's text.
#[derive(Clone)]
pub struct DataKey {
    id: String,
    cipher: Aes256Gcm,
}

impl DataKey {
    /// A key from its base64 text (standard alphabet, padding optional): exactly 32 bytes.
    pub fn from_base64(text: &str) -> Result<Self, CryptoError> {
        let text = text.trim();
        let bytes = B64
            .decode(text)
            .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(text))
            .map_err(|_| {
                CryptoError::BadKey(
                    "is not base64 (generate one with `openssl rand -base64 32`)".into(),
                )
            })?;
        if bytes.len() != KEY_BYTES {
            return Err(CryptoError::BadKey(format!(
                "must be {KEY_BYTES} bytes, base64-encoded, not {} (generate one with \
                 `openssl rand -base64 32`)",
                bytes.len()
            )));
        }
        Ok(Self::from_bytes(&bytes))
    }

    /// A new random key.
    pub fn generate() -> Self {
        let key = Key::<Aes256Gcm>::generate();
        Self::from_bytes(key.as_slice())
    }

    fn from_bytes(bytes: &[u8]) -> Self {
        let digest = sha2::Sha256::digest(bytes);
        let id = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
        let key = Key::<Aes256Gcm>::try_from(bytes).expect("a 32-byte key");
        Self {
            id,
            cipher: Aes256Gcm::new(&key),
        }
    }

    /// The first 8 hex digits of the SHA-256 of the key.
    pub fn id(&self) -> &str {
        &self.id
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataKey").field("id", &self.id).finish()
    }
}

/// The current key, which seals, and earlier keys, which still open.
#[derive(Clone)]
pub struct Keyring {
    current: DataKey,
    previous: Vec<DataKey>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("current", &self.current.id)
            .field(
                "previous",
                &self.previous.iter().map(|k| &k.id).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Keyring {
    /// A keyring sealing with `current`; `previous` keys only open. A previous key equal to
    /// the current one is dropped.
    pub fn new(current: DataKey, previous: Vec<DataKey>) -> Self {
        let mut kept: Vec<DataKey> = Vec::new();
        for key in previous {
            if key.id != current.id && !kept.iter().any(|k| k.id == key.id) {
                kept.push(key);
            }
        }
        Self {
            current,
            previous: kept,
        }
    }

    /// The id of the key that seals.
    pub fn current_id(&self) -> &str {
        &self.current.id
    }

    /// Seals `plaintext`, bound to `associated_data`, under the current key.
    pub fn seal(&self, plaintext: &[u8], associated_data: &[u8]) -> String {
        let nonce = Nonce::generate();
        let sealed = self
            .current
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: associated_data,
                },
            )
            // Only inputs beyond 2^36 bytes make AES-GCM refuse.
            .expect("AES-GCM seals any value this server keeps");
        let mut data = Vec::with_capacity(NONCE_BYTES + sealed.len());
        data.extend_from_slice(nonce.as_slice());
        data.extend_from_slice(&sealed);
        format!("{VERSION}:{}:{}", self.current.id, B64.encode(data))
    }

    /// Opens an envelope made by [`Keyring::seal`] with the same associated data, under
    /// whichever key of the ring its id names.
    pub fn open(&self, envelope: &str, associated_data: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let (key_id, data) = parse(envelope)?;
        let key = self.key(key_id)?;
        let data = B64.decode(data).map_err(|_| CryptoError::Malformed)?;
        if data.len() < NONCE_BYTES {
            return Err(CryptoError::Malformed);
        }
        let (nonce, sealed) = data.split_at(NONCE_BYTES);
        let nonce = Nonce::try_from(nonce).map_err(|_| CryptoError::Malformed)?;
        key.cipher
            .decrypt(
                &nonce,
                Payload {
                    msg: sealed,
                    aad: associated_data,
                },
            )
            .map_err(|_| CryptoError::Undecryptable(key.id.clone()))
    }

    /// Seals a 32-byte key (a file's own data key), bound to `associated_data`.
    pub fn wrap_key(&self, key: &[u8; KEY_BYTES], associated_data: &[u8]) -> String {
        self.seal(key, associated_data)
    }

    /// Opens a key sealed by [`Keyring::wrap_key`].
    pub fn unwrap_key(
        &self,
        envelope: &str,
        associated_data: &[u8],
    ) -> Result<[u8; KEY_BYTES], CryptoError> {
        let key = self.open(envelope, associated_data)?;
        let id = self.key_id_of(envelope).unwrap_or_default().to_string();
        key.try_into().map_err(|_| CryptoError::Undecryptable(id))
    }

    /// Whether `value` is an envelope (as opposed to a value stored before sealing began).
    pub fn is_sealed(value: &str) -> bool {
        parse(value).is_ok()
    }

    /// The key id an envelope names.
    pub fn key_id_of<'a>(&self, envelope: &'a str) -> Option<&'a str> {
        parse(envelope).ok().map(|(id, _)| id)
    }

    /// Whether the key an envelope names is in this ring.
    pub fn knows(&self, envelope: &str) -> bool {
        self.key_id_of(envelope)
            .is_some_and(|id| self.key(id).is_ok())
    }

    /// Whether an envelope is sealed under a key other than the current one.
    pub fn needs_rewrap(&self, envelope: &str) -> bool {
        self.key_id_of(envelope)
            .is_none_or(|id| id != self.current.id)
    }

    fn key(&self, id: &str) -> Result<&DataKey, CryptoError> {
        std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|k| k.id == id)
            .ok_or_else(|| CryptoError::UnknownKey(id.to_string()))
    }
}

/// `(key id, base64 data)` of an envelope.
fn parse(envelope: &str) -> Result<(&str, &str), CryptoError> {
    let mut parts = envelope.splitn(3, ':');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(VERSION), Some(id), Some(data))
            if id.len() == 8 && id.bytes().all(|b| b.is_ascii_hexdigit()) && !data.is_empty() =>
        {
            Ok((id, data))
        }
        _ => Err(CryptoError::Malformed),
    }
}

/// The key file of the embedded default: beside the SQLite database, `<database>.key`.
pub fn key_file_of(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push(".key");
    PathBuf::from(name)
}

/// Reads the key in `path`, or creates the file with a new random key: readable by the owner
/// only (0600), created atomically so two processes starting at once cannot each write a
/// different key. Returns the key and whether the file was created now.
pub fn load_or_create_key_file(path: &Path) -> Result<(DataKey, bool), CryptoError> {
    let failed = |source: std::io::Error| CryptoError::KeyFile {
        path: path.to_path_buf(),
        source,
    };
    let bytes = Key::<Aes256Gcm>::generate();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(mut file) => {
            // Written in full before anyone can read it: a reader that finds a short file
            // (another process is mid-write) retries below.
            file.write_all(format!("{}\n", B64.encode(bytes.as_slice())).as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(failed)?;
            Ok((DataKey::from_bytes(bytes.as_slice()), true))
        }
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
            for _ in 0..50 {
                let text = std::fs::read_to_string(path).map_err(failed)?;
                if !text.trim().is_empty() {
                    let key = DataKey::from_base64(&text).map_err(|e| CryptoError::KeyFile {
                        path: path.to_path_buf(),
                        source: std::io::Error::other(e.to_string()),
                    })?;
                    return Ok((key, false));
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(failed(std::io::Error::other("the file is empty")))
        }
        Err(err) => Err(failed(err)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring() -> Keyring {
        Keyring::new(DataKey::generate(), vec![])
    }

    #[test]
    fn a_sealed_value_opens_with_the_same_associated_data() {
        let ring = ring();
        let sealed = ring.seal(b"whsec_abc", b"webhooks.secret:1");
        assert!(sealed.starts_with(&format!("v1:{}:", ring.current_id())));
        assert!(!sealed.contains("whsec_abc"));
        assert_eq!(
            ring.open(&sealed, b"webhooks.secret:1").unwrap(),
            b"whsec_abc"
        );
        // A fresh nonce each time: the same value seals differently.
        assert_ne!(sealed, ring.seal(b"whsec_abc", b"webhooks.secret:1"));
    }

    #[test]
    fn other_associated_data_does_not_open() {
        let ring = ring();
        let sealed = ring.seal(b"whsec_abc", b"webhooks.secret:1");
        for other in [
            &b"webhooks.secret:2"[..],
            b"webhooks.previous_secret:1",
            b"",
        ] {
            assert!(matches!(
                ring.open(&sealed, other),
                Err(CryptoError::Undecryptable(_))
            ));
        }
    }

    #[test]
    fn a_tampered_envelope_does_not_open() {
        let ring = ring();
        let sealed = ring.seal(b"whsec_abc", b"ad");
        let (head, data) = sealed.rsplit_once(':').unwrap();
        let mut bytes = B64.decode(data).unwrap();
        for i in [0, NONCE_BYTES, bytes.len() - 1] {
            bytes[i] ^= 1;
            let tampered = format!("{head}:{}", B64.encode(&bytes));
            assert!(
                matches!(
                    ring.open(&tampered, b"ad"),
                    Err(CryptoError::Undecryptable(_))
                ),
                "byte {i}"
            );
            bytes[i] ^= 1;
        }
        let truncated = format!("{head}:{}", B64.encode(&bytes[..5]));
        assert!(matches!(
            ring.open(&truncated, b"ad"),
            Err(CryptoError::Malformed)
        ));
        for garbage in ["whsec_abc", "v1:zz:abc", "v2:00000000:abc", ""] {
            assert!(!Keyring::is_sealed(garbage), "{garbage}");
            assert!(ring.open(garbage, b"ad").is_err());
        }
    }

    fn key_text(byte: u8) -> String {
        B64.encode([byte; KEY_BYTES])
    }

    #[test]
    fn an_unknown_key_id_does_not_open_and_the_error_names_only_the_id() {
        let old_text = key_text(3);
        let old = DataKey::from_base64(&old_text).unwrap();
        let sealed = Keyring::new(old.clone(), vec![]).seal(b"whsec_abc", b"ad");
        let other = ring();
        let err = other.open(&sealed, b"ad").unwrap_err();
        assert!(matches!(&err, CryptoError::UnknownKey(id) if id == old.id()));
        let text = err.to_string();
        assert!(
            text.contains(old.id()) && !text.contains(&old_text),
            "{text}"
        );
        assert!(!other.knows(&sealed));
        // With the old key among the previous ones it opens, and wants rewrapping.
        let rotated = Keyring::new(DataKey::generate(), vec![old]);
        assert_eq!(rotated.open(&sealed, b"ad").unwrap(), b"whsec_abc");
        assert!(rotated.needs_rewrap(&sealed));
        assert!(!rotated.needs_rewrap(&rotated.seal(b"x", b"ad")));
    }

    #[test]
    fn keys_are_32_bytes_of_base64_and_debug_shows_only_the_id() {
        let text = key_text(5);
        let key = DataKey::from_base64(&text).unwrap();
        let unpadded = DataKey::from_base64(text.trim_end_matches('=')).unwrap();
        assert_eq!(unpadded.id(), key.id());
        assert_ne!(DataKey::generate().id(), key.id());
        assert_eq!(key.id().len(), 8);
        for bad in [
            "",
            "not base64!",
            &B64.encode([7u8; 16]),
            &B64.encode([7u8; 33]),
        ] {
            assert!(DataKey::from_base64(bad).is_err(), "{bad}");
        }
        let shown = format!("{:?}", Keyring::new(key.clone(), vec![DataKey::generate()]));
        assert!(
            shown.contains(key.id()) && !shown.contains(&text),
            "{shown}"
        );
    }

    #[test]
    fn the_key_id_is_the_start_of_the_sha256_of_the_key() {
        let key = DataKey::from_base64(&B64.encode([0u8; 32])).unwrap();
        // sha256 of 32 zero bytes: 66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925
        assert_eq!(key.id(), "66687aad");
    }

    #[test]
    fn wrapped_file_keys_unwrap_only_for_their_file() {
        let ring = ring();
        let file_key: [u8; 32] = rand::random();
        let wrapped = ring.wrap_key(&file_key, b"attachments:42");
        assert_eq!(
            ring.unwrap_key(&wrapped, b"attachments:42").unwrap(),
            file_key
        );
        assert!(ring.unwrap_key(&wrapped, b"attachments:43").is_err());
        let not_a_key = ring.seal(b"short", b"attachments:42");
        assert!(ring.unwrap_key(&not_a_key, b"attachments:42").is_err());
    }

    #[test]
    fn the_key_file_is_created_owner_only_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = key_file_of(&dir.path().join("helpdesk.db"));
        assert_eq!(path, dir.path().join("helpdesk.db.key"));
        let (first, created) = load_or_create_key_file(&path).unwrap();
        assert!(created);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{mode:o}");
        }
        let (second, created) = load_or_create_key_file(&path).unwrap();
        assert!(!created);
        assert_eq!(first.id(), second.id());
        let sealed = Keyring::new(first, vec![]).seal(b"x", b"ad");
        assert_eq!(
            Keyring::new(second, vec![]).open(&sealed, b"ad").unwrap(),
            b"x"
        );

        std::fs::write(&path, "not a key\n").unwrap();
        let err = load_or_create_key_file(&path).unwrap_err().to_string();
        assert!(err.contains("helpdesk.db.key"), "{err}");
    }
}
