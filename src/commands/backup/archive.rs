//! The backup file: a gzip-compressed tar of the database dump, the attachments' objects as
//! stored (still encrypted) under `attachments/`, and `manifest.json` last, which names the
//! schema, counts every table and holds the SHA-256 of every other part.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Component, Path, PathBuf};

use chrono::{DateTime, NaiveDateTime, Utc};
use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::database::{Error, TableDigest, hex};

pub const MANIFEST: &str = "manifest.json";
const PREFIX: &str = "helpdesk-backup-";
const SUFFIX: &str = ".tar.gz";
/// Manifests of this format are read; a later one is refused.
pub const FORMAT: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub created_at: DateTime<Utc>,
    pub helpdesk_version: String,
    /// `sqlite` or `postgres`.
    pub database: String,
    /// The PostgreSQL server's major version.
    pub server_version: Option<String>,
    /// The newest migration applied, and all of them.
    pub schema_version: Option<String>,
    pub migrations: Vec<String>,
    pub tables: BTreeMap<String, TableDigest>,
    pub attachments: u64,
    pub parts: BTreeMap<String, Part>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Part {
    pub bytes: u64,
    pub sha256: String,
}

impl Manifest {
    pub fn rows(&self) -> u64 {
        self.tables.values().map(|t| t.rows).sum()
    }
}

/// The file name of a backup taken at `at`.
pub fn file_name(at: DateTime<Utc>) -> String {
    format!("{PREFIX}{}{SUFFIX}", at.format("%Y%m%dT%H%M%S%.3fZ"))
}

/// When the backup named `name` was taken, if it is a backup's name.
pub fn taken_at(name: &str) -> Option<DateTime<Utc>> {
    let stamp = name.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
    ["%Y%m%dT%H%M%S%.fZ", "%Y%m%dT%H%M%SZ"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(stamp, format).ok())
        .map(|naive| naive.and_utc())
}

/// The backups in `dir` with when they were taken, oldest first.
pub fn backups_in(dir: &Path) -> Result<Vec<(PathBuf, DateTime<Utc>)>, Error> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let entry = entry?;
        let name = entry.file_name();
        if let Some(at) = name.to_str().and_then(taken_at) {
            found.push((entry.path(), at));
        }
    }
    found.sort_by_key(|(_, at)| *at);
    Ok(found)
}

/// Writes a backup file part by part; it appears under its name only once complete.
pub struct Writer {
    /// Taken by [`Writer::finish`].
    builder: Option<tar::Builder<GzEncoder<BufWriter<File>>>>,
    parts: BTreeMap<String, Part>,
    partial: PathBuf,
    path: PathBuf,
}

impl Writer {
    pub fn create(dir: &Path, at: DateTime<Utc>) -> Result<Self, Error> {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let path = dir.join(file_name(at));
        if path.exists() {
            return Err(format!("{} exists already", path.display()).into());
        }
        let partial = dir.join(format!(".{}.partial", file_name(at)));
        let file = private_file(&partial)?;
        let encoder = GzEncoder::new(BufWriter::new(file), Compression::default());
        Ok(Self {
            builder: Some(tar::Builder::new(encoder)),
            parts: BTreeMap::new(),
            partial,
            path,
        })
    }

    /// Adds the file at `path` as `name`.
    pub fn add_file(&mut self, name: &str, path: &Path) -> Result<(), Error> {
        let mut hasher = Sha256::new();
        let mut reader = BufReader::new(File::open(path)?);
        let bytes = std::io::copy(&mut reader, &mut HashWriter(&mut hasher))?;
        let mut header = header(bytes);
        self.builder()?
            .append_data(&mut header, name, File::open(path)?)?;
        self.parts.insert(
            name.to_string(),
            Part {
                bytes,
                sha256: hex(&hasher.finalize()),
            },
        );
        Ok(())
    }

    pub fn add_bytes(&mut self, name: &str, bytes: &[u8]) -> Result<(), Error> {
        let mut header = header(bytes.len() as u64);
        self.builder()?.append_data(&mut header, name, bytes)?;
        self.parts.insert(
            name.to_string(),
            Part {
                bytes: bytes.len() as u64,
                sha256: hex(&Sha256::digest(bytes)),
            },
        );
        Ok(())
    }

    fn builder(&mut self) -> Result<&mut tar::Builder<GzEncoder<BufWriter<File>>>, Error> {
        Ok(self.builder.as_mut().ok_or("the backup is finished")?)
    }

    pub fn parts(&self) -> &BTreeMap<String, Part> {
        &self.parts
    }

    /// Adds the manifest, flushes everything to disk and gives the backup its name.
    pub fn finish(mut self, manifest: &Manifest) -> Result<PathBuf, Error> {
        let json = serde_json::to_vec_pretty(manifest)?;
        let mut header = header(json.len() as u64);
        let mut builder = self.builder.take().ok_or("the backup is finished")?;
        builder.append_data(&mut header, MANIFEST, json.as_slice())?;
        let encoder = builder.into_inner()?;
        let mut writer = encoder.finish()?;
        writer.flush()?;
        let file = writer.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        std::fs::rename(&self.partial, &self.path)?;
        Ok(self.path.clone())
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // A backup that did not finish leaves nothing behind.
        if self.partial.exists() {
            let _ = std::fs::remove_file(&self.partial);
        }
    }
}

fn header(size: u64) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_size(size);
    header.set_mode(0o600);
    header.set_mtime(0);
    header.set_cksum();
    header
}

struct HashWriter<'a>(&'a mut Sha256);

impl Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A new file only its owner may read: backups and exports hold password hashes and sealed
/// secrets.
pub fn private_file(path: &Path) -> Result<File, Error> {
    use std::os::unix::fs::OpenOptionsExt;
    // A file left by an earlier attempt goes first: the mode applies to new files only.
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("{}: {e}", path.display()).into()),
    }
    Ok(std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?)
}

/// Only plain relative paths may come out of an archive.
fn safe(path: &Path) -> bool {
    path.components().all(|c| matches!(c, Component::Normal(_)))
}

/// Unpacks the backup at `archive` into `into` and checks it: the manifest is readable, every
/// part it names is there with its size and SHA-256, and nothing else is.
pub fn extract(archive: &Path, into: &Path) -> Result<Manifest, Error> {
    let damaged = |e: &dyn std::fmt::Display| format!("{} is damaged: {e}", archive.display());
    let file = File::open(archive).map_err(|e| format!("{}: {e}", archive.display()))?;
    let mut tar = tar::Archive::new(GzDecoder::new(BufReader::new(file)));
    let mut found: BTreeMap<String, Part> = BTreeMap::new();
    let mut manifest: Option<Manifest> = None;
    for entry in tar.entries().map_err(|e| damaged(&e))? {
        let mut entry = entry.map_err(|e| damaged(&e))?;
        let path = entry.path().map_err(|e| damaged(&e))?.into_owned();
        if !safe(&path) || !entry.header().entry_type().is_file() {
            return Err(damaged(&format!("unexpected entry {}", path.display())).into());
        }
        let name = path.to_string_lossy().into_owned();
        if name == MANIFEST {
            let mut json = Vec::new();
            entry.read_to_end(&mut json).map_err(|e| damaged(&e))?;
            manifest = Some(serde_json::from_slice(&json).map_err(|e| damaged(&e))?);
            continue;
        }
        let target = into.join(&path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let mut hasher = Sha256::new();
        let mut out = BufWriter::new(File::create(&target)?);
        let mut buffer = vec![0u8; 64 * 1024];
        let mut bytes = 0u64;
        loop {
            let n = entry.read(&mut buffer).map_err(|e| damaged(&e))?;
            if n == 0 {
                break;
            }
            hasher.update(&buffer[..n]);
            out.write_all(&buffer[..n])?;
            bytes += n as u64;
        }
        out.flush()?;
        found.insert(
            name,
            Part {
                bytes,
                sha256: hex(&hasher.finalize()),
            },
        );
    }
    let manifest = manifest.ok_or_else(|| damaged(&"it has no manifest"))?;
    if manifest.format > FORMAT {
        return Err(format!(
            "{} is a backup of format {}, newer than this helpdesk reads ({FORMAT})",
            archive.display(),
            manifest.format
        )
        .into());
    }
    for (name, part) in &manifest.parts {
        match found.get(name) {
            None => return Err(damaged(&format!("{name} is missing")).into()),
            Some(got) if got != part => {
                return Err(damaged(&format!(
                    "{name} does not match its checksum (sha256 {} of {} bytes, expected {} of {})",
                    got.sha256, got.bytes, part.sha256, part.bytes
                ))
                .into());
            }
            Some(_) => {}
        }
    }
    if let Some(extra) = found
        .keys()
        .find(|name| !manifest.parts.contains_key(*name))
    {
        return Err(damaged(&format!("{extra} is not in the manifest")).into());
    }
    Ok(manifest)
}

/// The manifest of the backup at `archive`, without unpacking the rest.
pub fn read_manifest(archive: &Path) -> Result<Manifest, Error> {
    let damaged = |e: &dyn std::fmt::Display| format!("{} is damaged: {e}", archive.display());
    let file = File::open(archive).map_err(|e| format!("{}: {e}", archive.display()))?;
    let mut tar = tar::Archive::new(GzDecoder::new(BufReader::new(file)));
    for entry in tar.entries().map_err(|e| damaged(&e))? {
        let mut entry = entry.map_err(|e| damaged(&e))?;
        if entry.path().map_err(|e| damaged(&e))?.as_ref() == Path::new(MANIFEST) {
            let mut json = Vec::new();
            entry.read_to_end(&mut json).map_err(|e| damaged(&e))?;
            return Ok(serde_json::from_slice(&json).map_err(|e| damaged(&e))?);
        }
    }
    Err(damaged(&"it has no manifest").into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn names_carry_the_time() {
        let at = Utc.with_ymd_and_hms(2026, 12, 2, 6, 5, 4).unwrap();
        let name = file_name(at);
        assert_eq!(name, "helpdesk-backup-20261202T060504.000Z.tar.gz");
        assert_eq!(taken_at(&name), Some(at));
        assert_eq!(
            taken_at("helpdesk-backup-20261202T060504Z.tar.gz"),
            Some(at)
        );
        assert_eq!(taken_at("notes.txt"), None);
        assert_eq!(
            taken_at(".helpdesk-backup-20261202T060504Z.tar.gz.partial"),
            None
        );
    }
}
