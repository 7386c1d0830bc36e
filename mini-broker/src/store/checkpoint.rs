//! The checkpoint file: how far each structure is known to be durable.
//!
//! Format (ours): 36 bytes, big-endian: physic flushed offset i64, logic (consume-queue)
//! flushed offset i64, index flushed offset i64, wall-clock ms of the write i64, CRC32 of the
//! previous 32 bytes u32. Written with [`write_atomic`](super::persist::write_atomic); a file
//! that fails its CRC is ignored (recovery then scans the whole commit log).

use std::path::{Path, PathBuf};

use super::error::Result;
use super::persist::{read_optional, write_atomic};

/// Durable progress recorded at the last checkpoint. Offsets are commit-log offsets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Checkpoint {
    /// Commit log fsynced up to here.
    pub physic_offset: i64,
    /// Consume-queue entries for every record below this offset are durable.
    pub logic_offset: i64,
    /// Index entries for every record below this offset are durable.
    pub index_offset: i64,
    /// When the checkpoint was written (ms since the epoch).
    pub timestamp: i64,
}

impl Checkpoint {
    fn encode(&self) -> [u8; 36] {
        let mut b = [0u8; 36];
        b[..8].copy_from_slice(&self.physic_offset.to_be_bytes());
        b[8..16].copy_from_slice(&self.logic_offset.to_be_bytes());
        b[16..24].copy_from_slice(&self.index_offset.to_be_bytes());
        b[24..32].copy_from_slice(&self.timestamp.to_be_bytes());
        let crc = crc32fast::hash(&b[..32]);
        b[32..].copy_from_slice(&crc.to_be_bytes());
        b
    }

    fn decode(b: &[u8]) -> Option<Checkpoint> {
        if b.len() != 36 || crc32fast::hash(&b[..32]).to_be_bytes() != b[32..36] {
            return None;
        }
        let l = |i: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&b[i..i + 8]);
            i64::from_be_bytes(a)
        };
        Some(Checkpoint {
            physic_offset: l(0),
            logic_offset: l(8),
            index_offset: l(16),
            timestamp: l(24),
        })
    }

    /// Loads the checkpoint at `path`; `None` if absent or damaged.
    pub fn load(path: &Path) -> Result<Option<Checkpoint>> {
        Ok(read_optional(path)?.and_then(|b| {
            let cp = Checkpoint::decode(&b);
            if cp.is_none() {
                tracing::warn!(path = %path.display(), "ignoring damaged checkpoint");
            }
            cp
        }))
    }

    /// Writes the checkpoint atomically.
    pub fn store(&self, path: &Path) -> Result<()> {
        write_atomic(path, &self.encode())
    }
}

/// Path of the checkpoint file under the store root.
pub(crate) fn checkpoint_path(root: &Path) -> PathBuf {
    root.join("checkpoint")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_damage() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("cp");
        let cp = Checkpoint {
            physic_offset: 10,
            logic_offset: 7,
            index_offset: 5,
            timestamp: 99,
        };
        cp.store(&p).unwrap();
        assert_eq!(Checkpoint::load(&p).unwrap(), Some(cp));
        let mut b = std::fs::read(&p).unwrap();
        b[3] ^= 1;
        std::fs::write(&p, b).unwrap();
        assert_eq!(Checkpoint::load(&p).unwrap(), None);
    }
}
