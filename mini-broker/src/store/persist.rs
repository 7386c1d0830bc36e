//! Crash-safe small-file writes.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use super::error::{Result, StoreError};

/// Replaces `path` with `bytes` atomically: after a crash the file holds either the old or the
/// new content, never a mix. Writes a uniquely named `path.tmp.<pid>.<n>`, fsyncs it, renames
/// it over `path`, then fsyncs the directory so the rename itself is durable. Concurrent calls
/// on the same path are safe (the last rename wins). Blocking.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let p = dir.path().join("topics.json");
/// rocketmq_rs_mini_broker::store::write_atomic(&p, b"{}").unwrap();
/// assert_eq!(std::fs::read(&p).unwrap(), b"{}");
/// ```
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(format!(
        ".tmp.{}.{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let tmp = Path::new(&tmp_name);
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(tmp)
        .map_err(|e| StoreError::io("create temp file", tmp, e))?;
    f.write_all(bytes)
        .map_err(|e| StoreError::io("write temp file", tmp, e))?;
    f.sync_all()
        .map_err(|e| StoreError::io("fsync temp file", tmp, e))?;
    drop(f);
    if let Err(e) = fs::rename(tmp, path) {
        let _ = fs::remove_file(tmp);
        return Err(StoreError::io("rename temp file", path, e));
    }
    sync_parent_dir(path)
}

/// Fsyncs the directory containing `path` (makes creations/renames inside it durable).
pub(crate) fn sync_parent_dir(path: &Path) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    sync_dir(dir)
}

/// Fsyncs a directory.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StoreError::io("fsync directory", dir, e))
}

/// Reads a file written by [`write_atomic`], `Ok(None)` if it does not exist. A leftover
/// temp file from an interrupted write is ignored (the old content is still in place).
pub fn read_optional(path: &Path) -> Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(StoreError::io("read file", path, e)),
    }
}
