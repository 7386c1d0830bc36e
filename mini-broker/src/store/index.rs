//! Message-key index: `topic#key` → commit-log offsets, for every `KEYS` token and the
//! `UNIQ_KEY` of each record (QUERY_MESSAGE, query by unique id).
//!
//! # File format (ours, not Java's)
//!
//! Directory `index/`, files named by the 20-digit commit-log offset of their first indexed
//! record. Each file is a persistent chained hash table, all integers big-endian:
//!
//! | bytes | content |
//! |---|---|
//! | 48 | header: magic `"MBIX"`, slot count u32, entry capacity u32, entry count u32, begin commit offset i64, end commit offset i64 (end of the last indexed record), begin store time i64, end store time i64 |
//! | 4 × slots | slot table: number (1-based) of the newest entry whose hash falls in the slot, 0 = empty |
//! | 28 × capacity | entries: key hash u64 (FNV-1a of `topic#key`), commit-log offset i64, store timestamp i64, previous entry number u32 (chain) |
//!
//! The header is rewritten after the entries it counts are fsynced, so after a crash it
//! describes a durable prefix. Entries past the header count and slot-table words may be
//! stale; on an unclean start the slot table of the last file is recomputed from its durable
//! entries and records past the header's end offset are re-indexed from the commit log.
//! Lookups return candidates; callers verify each against the record (hash collisions).

use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::commit_log::{file_name, list_numbered, write_all_at};
use super::error::{Result, StoreError};
use super::persist::sync_dir;

const MAGIC: &[u8; 4] = b"MBIX";
const HEADER: u64 = 48;
const ENTRY: u64 = 28;

/// FNV-1a 64 of `topic#key`.
pub(crate) fn key_hash(topic: &str, key: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in topic
        .bytes()
        .chain(std::iter::once(b'#'))
        .chain(key.bytes())
    {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[derive(Debug, Clone, Copy, Default)]
struct Header {
    slots: u32,
    capacity: u32,
    count: u32,
    begin_phy: i64,
    end_phy: i64,
    begin_ts: i64,
    end_ts: i64,
}

impl Header {
    fn encode(&self) -> [u8; HEADER as usize] {
        let mut b = [0u8; HEADER as usize];
        b[..4].copy_from_slice(MAGIC);
        b[4..8].copy_from_slice(&self.slots.to_be_bytes());
        b[8..12].copy_from_slice(&self.capacity.to_be_bytes());
        b[12..16].copy_from_slice(&self.count.to_be_bytes());
        b[16..24].copy_from_slice(&self.begin_phy.to_be_bytes());
        b[24..32].copy_from_slice(&self.end_phy.to_be_bytes());
        b[32..40].copy_from_slice(&self.begin_ts.to_be_bytes());
        b[40..48].copy_from_slice(&self.end_ts.to_be_bytes());
        b
    }

    fn decode(b: &[u8]) -> Option<Header> {
        if &b[..4] != MAGIC {
            return None;
        }
        let u = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let l = |i: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&b[i..i + 8]);
            i64::from_be_bytes(a)
        };
        let h = Header {
            slots: u(4),
            capacity: u(8),
            count: u(12),
            begin_phy: l(16),
            end_phy: l(24),
            begin_ts: l(32),
            end_ts: l(40),
        };
        (h.slots > 0 && h.count <= h.capacity).then_some(h)
    }
}

#[derive(Debug)]
struct IndexFile {
    file: File,
    path: PathBuf,
    /// Header as last persisted (older files) or live (active file).
    header: Header,
}

impl IndexFile {
    fn slot_pos(&self, slot: u32) -> u64 {
        HEADER + slot as u64 * 4
    }

    fn entry_pos(&self, n: u32) -> u64 {
        HEADER + self.header.slots as u64 * 4 + (n as u64 - 1) * ENTRY
    }

    fn read_entry(&self, n: u32) -> Result<(u64, i64, i64, u32)> {
        let mut b = [0u8; ENTRY as usize];
        self.file
            .read_exact_at(&mut b, self.entry_pos(n))
            .map_err(|e| StoreError::io("read index entry", &self.path, e))?;
        let g = |i: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&b[i..i + 8]);
            a
        };
        Ok((
            u64::from_be_bytes(g(0)),
            i64::from_be_bytes(g(8)),
            i64::from_be_bytes(g(16)),
            u32::from_be_bytes([b[24], b[25], b[26], b[27]]),
        ))
    }

    fn write_header(&self) -> Result<()> {
        write_all_at(&self.file, &self.header.encode(), 0, &self.path)
    }
}

#[derive(Debug)]
struct Active {
    file: Arc<IndexFile>,
    header: Header,
    slots: Vec<u32>,
}

#[derive(Debug)]
struct State {
    /// Completed files, oldest first.
    done: Vec<Arc<IndexFile>>,
    active: Option<Active>,
}

/// The index service.
#[derive(Debug)]
pub(crate) struct Index {
    dir: PathBuf,
    slots: u32,
    capacity: u32,
    state: Mutex<State>,
}

impl Index {
    /// Opens the index. `clean` says whether the previous run shut down cleanly; if not, the
    /// last file's slot table is rebuilt from its durable entries.
    pub fn open(dir: PathBuf, slots: u32, capacity: u32, clean: bool) -> Result<Index> {
        fs::create_dir_all(&dir).map_err(|e| StoreError::io("create directory", &dir, e))?;
        let mut files = Vec::new();
        for (_, path) in list_numbered(&dir)? {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .open(&path)
                .map_err(|e| StoreError::io("open index file", &path, e))?;
            let mut hb = [0u8; HEADER as usize];
            let header = file
                .read_exact_at(&mut hb, 0)
                .ok()
                .and_then(|_| Header::decode(&hb));
            match header {
                Some(header) => files.push(IndexFile { file, path, header }),
                None => {
                    // A file whose header never became durable holds nothing we can trust;
                    // its records are re-indexed from the commit log.
                    tracing::warn!(path = %path.display(), "dropping index file with bad header");
                    drop(file);
                    fs::remove_file(&path)
                        .map_err(|e| StoreError::io("delete index file", &path, e))?;
                }
            }
        }
        let active = match files.pop() {
            None => None,
            Some(f) => {
                let h = f.header;
                let mut slots = vec![0u32; h.slots as usize];
                let mut need_rebuild = !clean;
                if clean {
                    let mut raw = vec![0u8; h.slots as usize * 4];
                    f.file
                        .read_exact_at(&mut raw, HEADER)
                        .map_err(|e| StoreError::io("read index slots", &f.path, e))?;
                    for (s, c) in slots.iter_mut().zip(raw.chunks_exact(4)) {
                        *s = u32::from_be_bytes([c[0], c[1], c[2], c[3]]);
                    }
                    need_rebuild = slots.iter().any(|s| *s > h.count);
                }
                if need_rebuild {
                    slots.iter_mut().for_each(|s| *s = 0);
                    rebuild_slots(&f, &mut slots)?;
                }
                Some(Active {
                    file: Arc::new(f),
                    header: h,
                    slots,
                })
            }
        };
        Ok(Index {
            dir,
            slots,
            capacity,
            state: Mutex::new(State {
                done: files.into_iter().map(Arc::new).collect(),
                active,
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// End of the records indexed so far (live).
    pub fn indexed_end(&self) -> i64 {
        let st = self.lock();
        st.active
            .as_ref()
            .map(|a| a.header.end_phy)
            .or_else(|| st.done.last().map(|f| f.header.end_phy))
            .unwrap_or(0)
    }

    /// Indexes one record's keys. `record_end` = offset just past the record. Records below
    /// the indexed end are skipped (recovery re-dispatch). Writer thread only.
    pub fn add<'k>(
        &self,
        topic: &str,
        keys: impl Iterator<Item = &'k str>,
        phy: i64,
        record_end: i64,
        ts: i64,
    ) -> Result<()> {
        let mut st = self.lock();
        let end = st
            .active
            .as_ref()
            .map(|a| a.header.end_phy)
            .or_else(|| st.done.last().map(|f| f.header.end_phy))
            .unwrap_or(i64::MIN);
        if phy < end {
            return Ok(());
        }
        for key in keys {
            let has_room = matches!(&st.active, Some(a) if a.header.count < a.header.capacity);
            if !has_room {
                self.roll(&mut st, phy, ts)?;
            }
            let Some(a) = st.active.as_mut() else {
                return Err(StoreError::Corrupt(
                    "index roll produced no active file".into(),
                ));
            };
            let h = key_hash(topic, key);
            let slot = (h % a.header.slots as u64) as u32;
            let n = a.header.count + 1;
            let prev = a.slots[slot as usize];
            let mut e = [0u8; ENTRY as usize];
            e[..8].copy_from_slice(&h.to_be_bytes());
            e[8..16].copy_from_slice(&phy.to_be_bytes());
            e[16..24].copy_from_slice(&ts.to_be_bytes());
            e[24..].copy_from_slice(&prev.to_be_bytes());
            write_all_at(&a.file.file, &e, a.file.entry_pos(n), &a.file.path)?;
            write_all_at(
                &a.file.file,
                &n.to_be_bytes(),
                a.file.slot_pos(slot),
                &a.file.path,
            )?;
            a.slots[slot as usize] = n;
            a.header.count = n;
            if a.header.begin_ts == 0 {
                a.header.begin_ts = ts;
            }
            a.header.end_ts = a.header.end_ts.max(ts);
        }
        if let Some(a) = st.active.as_mut() {
            a.header.end_phy = a.header.end_phy.max(record_end);
        }
        Ok(())
    }

    fn roll(&self, st: &mut State, phy: i64, ts: i64) -> Result<()> {
        if let Some(old) = st.active.take() {
            self.persist(&old)?;
            st.done.push(Arc::new(reopen(&old.file, old.header)?));
        }
        let path = self.dir.join(file_name(phy));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .map_err(|e| StoreError::io("create index file", &path, e))?;
        let len = HEADER + self.slots as u64 * 4 + self.capacity as u64 * ENTRY;
        file.set_len(len)
            .map_err(|e| StoreError::io("size index file", &path, e))?;
        let header = Header {
            slots: self.slots,
            capacity: self.capacity,
            count: 0,
            begin_phy: phy,
            end_phy: phy,
            begin_ts: ts,
            end_ts: ts,
        };
        let f = IndexFile { file, path, header };
        f.write_header()?;
        f.file
            .sync_all()
            .map_err(|e| StoreError::io("fsync index file", &f.path, e))?;
        sync_dir(&self.dir)?;
        st.active = Some(Active {
            file: Arc::new(f),
            header,
            slots: vec![0; self.slots as usize],
        });
        Ok(())
    }

    /// Fsyncs the active file's entries, then records them in its header.
    fn persist(&self, a: &Active) -> Result<()> {
        a.file
            .file
            .sync_data()
            .map_err(|e| StoreError::io("fsync index file", &a.file.path, e))?;
        write_all_at(&a.file.file, &a.header.encode(), 0, &a.file.path)?;
        a.file
            .file
            .sync_data()
            .map_err(|e| StoreError::io("fsync index file", &a.file.path, e))
    }

    /// Makes everything indexed so far durable.
    pub fn flush(&self) -> Result<()> {
        let st = self.lock();
        if let Some(a) = st.active.as_ref() {
            self.persist(a)?;
        }
        Ok(())
    }

    /// Commit-log offsets of records indexed under `topic#key` with store time in
    /// `[begin_ts, end_ts]`, newest first, at most `max`. Candidates only: verify them.
    pub fn lookup(
        &self,
        topic: &str,
        key: &str,
        max: usize,
        begin_ts: i64,
        end_ts: i64,
    ) -> Result<Vec<i64>> {
        let h = key_hash(topic, key);
        let mut out = Vec::new();
        // Snapshot what to walk so the writer is not blocked by the reads.
        let (active, active_head, older) = {
            let st = self.lock();
            let active = st.active.as_ref().map(|a| {
                let slot = (h % a.header.slots as u64) as usize;
                (a.file.clone(), a.header, a.slots[slot])
            });
            (
                active.clone().map(|x| (x.0, x.1)),
                active.map(|x| x.2),
                st.done.clone(),
            )
        };
        if let (Some((f, hdr)), Some(head)) = (active, active_head) {
            walk_chain(&f, hdr, head, h, max, begin_ts, end_ts, &mut out)?;
        }
        for f in older.iter().rev() {
            if out.len() >= max {
                break;
            }
            let slot = (h % f.header.slots as u64) as u32;
            let mut b = [0u8; 4];
            f.file
                .read_exact_at(&mut b, f.slot_pos(slot))
                .map_err(|e| StoreError::io("read index slot", &f.path, e))?;
            walk_chain(
                f,
                f.header,
                u32::from_be_bytes(b),
                h,
                max,
                begin_ts,
                end_ts,
                &mut out,
            )?;
        }
        Ok(out)
    }

    /// Forgets everything indexed at or past `end` (the commit log was cut there).
    pub fn reset_end(&self, end: i64) -> Result<()> {
        self.drop_files_from(end)?;
        let mut st = self.lock();
        if let Some(a) = st.active.as_mut() {
            if a.header.end_phy > end {
                a.header.end_phy = end;
                self.persist(a)?;
            }
        }
        Ok(())
    }

    /// Drops index files that begin at or after `offset` (used when the commit log is cut
    /// below where an index file begins).
    pub fn drop_files_from(&self, offset: i64) -> Result<()> {
        let mut st = self.lock();
        if st
            .active
            .as_ref()
            .is_some_and(|a| a.header.begin_phy >= offset)
        {
            let a = st.active.take().expect("checked");
            fs::remove_file(&a.file.path)
                .map_err(|e| StoreError::io("delete index file", &a.file.path, e))?;
            while st.done.last().is_some_and(|f| f.header.begin_phy >= offset) {
                let f = st.done.pop().expect("checked");
                fs::remove_file(&f.path)
                    .map_err(|e| StoreError::io("delete index file", &f.path, e))?;
            }
            // Reopen the newest remaining file as active so new keys keep chaining into it.
            if let Some(f) = st.done.pop() {
                let f = reopen(&f, f.header)?;
                let mut slots = vec![0u32; f.header.slots as usize];
                rebuild_slots(&f, &mut slots)?;
                st.active = Some(Active {
                    header: f.header,
                    file: Arc::new(f),
                    slots,
                });
            }
        }
        Ok(())
    }
}

/// Follows one hash chain, collecting matching offsets.
#[allow(clippy::too_many_arguments)]
fn walk_chain(
    f: &IndexFile,
    hdr: Header,
    head: u32,
    h: u64,
    max: usize,
    begin_ts: i64,
    end_ts: i64,
    out: &mut Vec<i64>,
) -> Result<()> {
    if hdr.count == 0 || hdr.end_ts < begin_ts || hdr.begin_ts > end_ts {
        return Ok(());
    }
    let mut n = head;
    while n != 0 && n <= hdr.count && out.len() < max {
        let (eh, phy, ts, prev) = f.read_entry(n)?;
        if eh == h && ts >= begin_ts && ts <= end_ts && !out.contains(&phy) {
            out.push(phy);
        }
        if prev >= n {
            break;
        }
        n = prev;
    }
    Ok(())
}

/// A second handle on the same file with the given header.
fn reopen(f: &IndexFile, header: Header) -> Result<IndexFile> {
    Ok(IndexFile {
        file: f
            .file
            .try_clone()
            .map_err(|e| StoreError::io("clone index file handle", &f.path, e))?,
        path: f.path.clone(),
        header,
    })
}

/// Recomputes a slot table from entries `1..=count` and writes it back.
fn rebuild_slots(f: &IndexFile, slots: &mut [u32]) -> Result<()> {
    let count = f.header.count;
    let chunk = 4096u32;
    let mut n = 1u32;
    let mut buf = vec![0u8; (chunk as u64 * ENTRY) as usize];
    while n <= count {
        let k = chunk.min(count - n + 1);
        let b = &mut buf[..(k as u64 * ENTRY) as usize];
        f.file
            .read_exact_at(b, f.entry_pos(n))
            .map_err(|e| StoreError::io("read index entries", &f.path, e))?;
        for i in 0..k {
            let e = &b[(i as u64 * ENTRY) as usize..];
            let mut a = [0u8; 8];
            a.copy_from_slice(&e[..8]);
            let slot = (u64::from_be_bytes(a) % f.header.slots as u64) as usize;
            slots[slot] = n + i;
        }
        n += k;
    }
    // Entries were chained to their slot's previous head when written; a stale chain link
    // can only point to a smaller entry number, so rebuilding heads is enough.
    let mut raw = Vec::with_capacity(slots.len() * 4);
    for s in slots.iter() {
        raw.extend_from_slice(&s.to_be_bytes());
    }
    write_all_at(&f.file, &raw, HEADER, &f.path)?;
    f.file
        .sync_data()
        .map_err(|e| StoreError::io("fsync index file", &f.path, e))
}

/// The index directory under the store root.
pub(crate) fn index_dir(root: &Path) -> PathBuf {
    root.join("index")
}
