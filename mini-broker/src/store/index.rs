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
//! describes a durable prefix. The live slot table is kept in memory and written to the file
//! (changed 4 KiB pages only) when the file is completed and at a clean shutdown, not per
//! entry. Entries past the header count and slot-table words may be stale; on an unclean
//! start the slot table of the last file is recomputed from its durable entries and records
//! past the header's end offset are re-indexed from the commit log.
//! Lookups return candidates; callers verify each against the record (hash collisions).

use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rocketmq_rs_remoting::util::MutexExt;

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

/// Slots per dirty-tracking page (4 KiB of slot table).
const SLOTS_PER_PAGE: usize = 1024;

#[derive(Debug)]
struct Active {
    file: Arc<IndexFile>,
    header: Header,
    /// The live slot table. The file's copy is brought up to date (dirty pages only) when the
    /// file is persisted: a clean start trusts it, an unclean start rebuilds it anyway.
    slots: Vec<u32>,
    /// Bit per `SLOTS_PER_PAGE` slots changed since the last persist.
    dirty: Vec<u64>,
}

impl Active {
    fn new(file: Arc<IndexFile>, header: Header, slots: Vec<u32>) -> Active {
        let pages = slots.len().div_ceil(SLOTS_PER_PAGE);
        Active {
            file,
            header,
            slots,
            dirty: vec![0; pages.div_ceil(64)],
        }
    }

    fn mark_dirty(&mut self, slot: usize) {
        let page = slot / SLOTS_PER_PAGE;
        self.dirty[page / 64] |= 1 << (page % 64);
    }

    fn page_dirty(&self, page: usize) -> bool {
        self.dirty[page / 64] & (1 << (page % 64)) != 0
    }

    /// Writes the dirty pages of the slot table, one positional write per run of pages.
    fn write_dirty_slots(&mut self) -> Result<()> {
        let pages = self.slots.len().div_ceil(SLOTS_PER_PAGE);
        let mut raw = Vec::new();
        let mut page = 0;
        while page < pages {
            if self.dirty[page / 64] == 0 {
                page = (page / 64 + 1) * 64;
                continue;
            }
            if !self.page_dirty(page) {
                page += 1;
                continue;
            }
            let first = page;
            while page < pages && self.page_dirty(page) {
                page += 1;
            }
            let from = first * SLOTS_PER_PAGE;
            let to = (page * SLOTS_PER_PAGE).min(self.slots.len());
            raw.clear();
            raw.resize((to - from) * 4, 0);
            for (out, s) in raw.chunks_exact_mut(4).zip(&self.slots[from..to]) {
                out.copy_from_slice(&s.to_be_bytes());
            }
            write_all_at(
                &self.file.file,
                &raw,
                self.file.slot_pos(from as u32),
                &self.file.path,
            )?;
        }
        self.dirty.iter_mut().for_each(|w| *w = 0);
        Ok(())
    }
}

/// One record's keys to index ([`Index::add_batch`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct IndexRecord<'a> {
    pub topic: &'a str,
    /// `UNIQ_KEY` property.
    pub uniq_key: Option<&'a str>,
    /// `KEYS` property (space-separated).
    pub keys: Option<&'a str>,
    /// Commit-log offset of the record.
    pub phy: i64,
    /// Offset just past the record.
    pub end: i64,
    /// Store timestamp.
    pub ts: i64,
}

impl<'a> IndexRecord<'a> {
    fn key_iter(&self) -> impl Iterator<Item = &'a str> {
        self.uniq_key.filter(|k| !k.is_empty()).into_iter().chain(
            self.keys
                .into_iter()
                .flat_map(|k| k.split(' '))
                .filter(|k| !k.is_empty()),
        )
    }
}

/// Writes buffered entries (numbers `first..`) to the active file.
fn write_pending(a: &Active, first: u32, buf: &mut Vec<u8>) -> Result<()> {
    if !buf.is_empty() {
        write_all_at(&a.file.file, buf, a.file.entry_pos(first), &a.file.path)?;
        buf.clear();
    }
    Ok(())
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
                Some(Active::new(Arc::new(f), h, slots))
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
        self.state.lock_unpoisoned()
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

    /// Indexes the keys (`UNIQ_KEY` and every `KEYS` token) of a run of records in commit-log
    /// order: entries go to the file in one positional write per file, slot-table updates stay
    /// in memory until the next persist. Records below the indexed end are skipped (recovery
    /// re-dispatch). Writer thread only.
    pub fn add_batch(&self, recs: &[IndexRecord<'_>]) -> Result<()> {
        if recs.is_empty() {
            return Ok(());
        }
        let mut st = self.lock();
        let mut end = st
            .active
            .as_ref()
            .map(|a| a.header.end_phy)
            .or_else(|| st.done.last().map(|f| f.header.end_phy))
            .unwrap_or(i64::MIN);
        let mut buf = Vec::new();
        let mut first = 0u32;
        for r in recs {
            if r.phy < end {
                continue;
            }
            for key in r.key_iter() {
                let has_room = matches!(&st.active, Some(a) if a.header.count < a.header.capacity);
                if !has_room {
                    if let Some(a) = st.active.as_ref() {
                        write_pending(a, first, &mut buf)?;
                    }
                    self.roll(&mut st, r.phy, r.ts)?;
                }
                let Some(a) = st.active.as_mut() else {
                    return Err(StoreError::Corrupt(
                        "index roll produced no active file".into(),
                    ));
                };
                let h = key_hash(r.topic, key);
                let slot = (h % a.header.slots as u64) as usize;
                let n = a.header.count + 1;
                if buf.is_empty() {
                    first = n;
                    buf.reserve(ENTRY as usize * 4);
                }
                buf.extend_from_slice(&h.to_be_bytes());
                buf.extend_from_slice(&r.phy.to_be_bytes());
                buf.extend_from_slice(&r.ts.to_be_bytes());
                buf.extend_from_slice(&a.slots[slot].to_be_bytes());
                a.slots[slot] = n;
                a.mark_dirty(slot);
                a.header.count = n;
                if a.header.begin_ts == 0 {
                    a.header.begin_ts = r.ts;
                }
                a.header.end_ts = a.header.end_ts.max(r.ts);
            }
            if let Some(a) = st.active.as_mut() {
                a.header.end_phy = a.header.end_phy.max(r.end);
                end = a.header.end_phy;
            }
        }
        // Lookups read entries from the file once they see a slot pointing at them.
        if let Some(a) = st.active.as_ref() {
            write_pending(a, first, &mut buf)?;
        }
        Ok(())
    }

    fn roll(&self, st: &mut State, phy: i64, ts: i64) -> Result<()> {
        if let Some(mut old) = st.active.take() {
            self.persist(&mut old, true)?;
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
        st.active = Some(Active::new(
            Arc::new(f),
            header,
            vec![0; self.slots as usize],
        ));
        Ok(())
    }

    /// Fsyncs the active file's entries (and, with `slots`, its slot table), then records them
    /// in its header.
    fn persist(&self, a: &mut Active, slots: bool) -> Result<()> {
        if slots {
            a.write_dirty_slots()?;
        }
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

    /// Makes everything indexed so far durable; `slots` also writes the changed parts of the
    /// active file's slot table (needed before a clean shutdown: a clean start trusts it).
    pub fn flush(&self, slots: bool) -> Result<()> {
        if slots {
            let mut st = self.lock();
            if let Some(a) = st.active.as_mut() {
                self.persist(a, true)?;
            }
            return Ok(());
        }
        // Periodic flush: the fsyncs run without the lock, which the writer needs for every
        // batch it indexes (holding it made each flush stall the writer for two fsyncs).
        let (file, header) = {
            let st = self.lock();
            match st.active.as_ref() {
                Some(a) => (a.file.clone(), a.header),
                None => return Ok(()),
            }
        };
        file.file
            .sync_data()
            .map_err(|e| StoreError::io("fsync index file", &file.path, e))?;
        {
            let st = self.lock();
            // After a roll the file's final header is written already; this older one must
            // not replace it.
            if !st
                .active
                .as_ref()
                .is_some_and(|a| Arc::ptr_eq(&a.file, &file))
            {
                return Ok(());
            }
            // Entries counted by `header` were written before it was read: the fsync above
            // covered them.
            write_all_at(&file.file, &header.encode(), 0, &file.path)?;
        }
        file.file
            .sync_data()
            .map_err(|e| StoreError::io("fsync index file", &file.path, e))
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

    /// Disk space of the index files (allocated blocks).
    pub fn allocated_bytes(&self) -> u64 {
        let files: Vec<Arc<IndexFile>> = {
            let st = self.lock();
            st.done
                .iter()
                .cloned()
                .chain(st.active.as_ref().map(|a| a.file.clone()))
                .collect()
        };
        files
            .iter()
            .map(|f| super::retention::allocated(&f.file))
            .sum()
    }

    /// Deletes completed index files (never the active one), oldest first, whose records all
    /// lie below `log_min` (Apache `IndexService.deleteExpiredFile`). Lookups that took a file
    /// before keep reading it through their handle. Returns the number deleted.
    pub fn delete_files_below(&self, log_min: i64) -> Result<usize> {
        let mut deleted = 0;
        loop {
            let f = {
                let mut st = self.lock();
                match st.done.first() {
                    Some(f) if f.header.end_phy <= log_min => {}
                    _ => break,
                }
                let expected = self.dir.join(file_name(st.done[0].header.begin_phy));
                if st.done[0].path != expected {
                    return Err(StoreError::Corrupt(format!(
                        "refusing to delete {}: not an index file of {}",
                        st.done[0].path.display(),
                        self.dir.display()
                    )));
                }
                st.done.remove(0)
            };
            match fs::remove_file(&f.path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(StoreError::io("delete index file", &f.path, e)),
            }
            deleted += 1;
        }
        if deleted > 0 {
            sync_dir(&self.dir)?;
        }
        Ok(deleted)
    }

    /// Forgets everything indexed at or past `end` (the commit log was cut there).
    pub fn reset_end(&self, end: i64) -> Result<()> {
        self.drop_files_from(end)?;
        let mut st = self.lock();
        if let Some(a) = st.active.as_mut() {
            if a.header.end_phy > end {
                a.header.end_phy = end;
                self.persist(a, true)?;
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
                let header = f.header;
                st.active = Some(Active::new(Arc::new(f), header, slots));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn rec<'a>(topic: &'a str, uniq: &'a str, keys: &'a str, phy: i64) -> IndexRecord<'a> {
        IndexRecord {
            topic,
            uniq_key: Some(uniq),
            keys: Some(keys),
            phy,
            end: phy + 100,
            ts: 1_000 + phy,
        }
    }

    #[test]
    fn batched_adds_survive_clean_reopen_and_crash_across_rolls_and_slot_pages() {
        let dir = tempfile::tempdir().unwrap();
        // 5000 slots = 5 dirty-tracking pages; 70 entries per file forces rolls mid-batch.
        let (slots, cap) = (5000u32, 70u32);
        let uniq: Vec<String> = (0..100).map(|i| format!("U{i}")).collect();
        let keys: Vec<String> = (0..100).map(|i| format!("k{i} shared")).collect();
        {
            let idx = Index::open(dir.path().to_path_buf(), slots, cap, true).unwrap();
            for chunk in (0..100).collect::<Vec<usize>>().chunks(17) {
                let recs: Vec<_> = chunk
                    .iter()
                    .map(|&i| rec("T", &uniq[i], &keys[i], i as i64 * 100))
                    .collect();
                idx.add_batch(&recs).unwrap();
            }
            // Re-dispatch below the indexed end adds nothing.
            idx.add_batch(&[rec("T", "U5", "again", 500)]).unwrap();
            assert!(idx
                .lookup("T", "again", 10, 0, i64::MAX)
                .unwrap()
                .is_empty());
            idx.flush(true).unwrap();
        }
        // A periodic flush (entries and header only) followed by a crash: the reopen rebuilds
        // the slot table from the entries.
        {
            let idx = Index::open(dir.path().to_path_buf(), slots, cap, true).unwrap();
            idx.add_batch(&[rec("T", "late", "late-key", 100 * 100)])
                .unwrap();
            idx.flush(false).unwrap();
        }
        let idx = Index::open(dir.path().to_path_buf(), slots, cap, false).unwrap();
        assert_eq!(
            idx.lookup("T", "late-key", 4, 0, i64::MAX).unwrap(),
            vec![100 * 100]
        );
        drop(idx);
        for clean in [false, true] {
            let idx = Index::open(dir.path().to_path_buf(), slots, cap, clean).unwrap();
            for (i, u) in uniq.iter().enumerate() {
                let want = i as i64 * 100;
                let got = idx.lookup("T", u, 4, 0, i64::MAX).unwrap();
                assert!(got.contains(&want), "clean={clean} U{i}: {got:?}");
                let got = idx.lookup("T", &format!("k{i}"), 4, 0, i64::MAX).unwrap();
                assert!(got.contains(&want), "clean={clean} k{i}: {got:?}");
            }
            let all = idx.lookup("T", "shared", 1000, 0, i64::MAX).unwrap();
            assert_eq!(all.len(), 100, "clean={clean}");
            assert_eq!(idx.indexed_end(), 100 * 100 + 100);
        }
    }
}
