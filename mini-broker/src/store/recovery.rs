//! Start-up recovery: find the valid end of the commit log, cut a torn or garbage tail,
//! and bring consume queues and the index back in line with it.
//!
//! Scanning starts at the checkpoint's logic offset (every record below it has durable
//! consume-queue entries, and the commit log below it was fsynced) or at the index's durable
//! end, whichever is lower; without a checkpoint it starts at the first segment. Each record
//! is checked (magic, size bounds, all fields inside the record, body CRC, stored physical
//! offset equal to its position). The first record failing a check ends the log: the rest of
//! its segment is zeroed and later segments are deleted. Records scanned are re-dispatched
//! (dispatch skips entries that already exist); consume-queue entries pointing past the new
//! end are removed.

use std::fs;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use super::checkpoint::Checkpoint;
use super::consume_queue::is_safe_topic_dir;
use super::consume_queue::{queue_dir, ConsumeQueue};
use super::error::{Result, StoreError};
use super::record::{inspect, Slot};
use super::Shared;

/// Loads every consume queue found on disk.
pub(crate) fn load_queues(shared: &Shared) -> Result<()> {
    let root = &shared.cq_root;
    let rd = match fs::read_dir(root) {
        Ok(r) => r,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(StoreError::io("list consume queues", root, e)),
    };
    for t in rd {
        let t = t.map_err(|e| StoreError::io("list consume queues", root, e))?;
        let Some(topic) = t.file_name().to_str().map(str::to_string) else {
            continue;
        };
        if !is_safe_topic_dir(&topic) || !t.path().is_dir() {
            continue;
        }
        let qd = fs::read_dir(t.path())
            .map_err(|e| StoreError::io("list consume queues", t.path(), e))?;
        for q in qd {
            let q = q.map_err(|e| StoreError::io("list consume queues", t.path(), e))?;
            let Some(qid) = q.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
                continue;
            };
            let cq = ConsumeQueue::open(
                queue_dir(root, &topic, qid),
                &topic,
                qid,
                shared.cfg.consume_queue_entries_per_file,
            )?;
            shared.insert_queue(Arc::new(cq));
        }
    }
    Ok(())
}

/// Runs recovery and returns the end of the commit log.
pub(crate) fn recover(shared: &Shared, checkpoint: Option<Checkpoint>) -> Result<i64> {
    let log = &shared.log;
    let segments = log.segments();
    let (Some(first), Some(last)) = (segments.first(), segments.last()) else {
        // No commit log: nothing can be referenced.
        for q in shared.all_queues() {
            q.truncate_to(q.min_offset())?;
        }
        shared.index.reset_end(0)?;
        return Ok(0);
    };
    let log_min = first.start;
    let log_cap = last.end();
    let mut start = checkpoint.map(|c| c.logic_offset).unwrap_or(log_min);
    start = start.min(shared.index.indexed_end().max(log_min));
    if start < log_min || start > log_cap {
        start = log_min;
    }
    let max = shared.cfg.max_message_size;
    let mut pos = start;
    let mut dispatched = 0u64;
    let mut reason: Option<&'static str> = None;
    let mut buf: Vec<u8> = Vec::new();
    'segments: while let Some(seg) = log.segment_for(pos) {
        let mut chunk_at = pos; // file offset (global) of buf[0]
        buf.clear();
        loop {
            let in_buf = (pos - chunk_at) as usize;
            let room = (seg.end() - pos) as usize;
            if room == 0 {
                continue 'segments;
            }
            let slot = inspect(&buf[in_buf.min(buf.len())..], room, max, true);
            match slot {
                Slot::NeedMore(n) => {
                    // Refill from pos with at least n bytes (bounded by the segment).
                    let want = n.max(4 << 20).min(room);
                    buf.resize(want, 0);
                    let got = read_up_to(&seg.file, &mut buf, (pos - seg.start) as u64)
                        .map_err(|e| StoreError::io("read commit log", &seg.path, e))?;
                    buf.truncate(got);
                    chunk_at = pos;
                    if got < n.min(room) {
                        reason = Some("segment file shorter than expected");
                        break 'segments;
                    }
                }
                Slot::Record(v) if v.physical_offset != pos => {
                    reason = Some("record stored at the wrong offset");
                    break 'segments;
                }
                Slot::Record(v) => {
                    shared.dispatch(&v)?;
                    dispatched += 1;
                    pos += v.total_size as i64;
                }
                Slot::Blank(n) => {
                    pos += n as i64;
                    continue 'segments;
                }
                Slot::Empty => break 'segments,
                Slot::Invalid(why) => {
                    reason = Some(why);
                    break 'segments;
                }
            }
        }
    }
    let end = pos;
    if let Some(why) = reason {
        tracing::warn!(
            offset = end,
            reason = why,
            "commit log cut at invalid record"
        );
    }
    log.truncate_from(end)?;
    for q in shared.all_queues() {
        q.truncate_dirty(end)?;
    }
    shared.index.reset_end(end)?;
    log.set_max_offset(end);
    log.set_flushed_offset(start.min(end));
    log.flush_to(end)?;
    tracing::info!(
        from = start,
        end,
        records = dispatched,
        "commit-log recovery done"
    );
    Ok(end)
}

/// Dispatches the records of `[from, to)` again from the commit log (after a dispatch failed
/// for lack of space). Entries that already exist are skipped, so this is idempotent.
pub(crate) fn redispatch(shared: &Shared, from: i64, to: i64) -> Result<()> {
    let max = shared.cfg.max_message_size;
    let mut pos = from;
    while pos < to {
        let Some(seg) = shared.log.segment_for(pos) else {
            return Err(StoreError::Corrupt(format!(
                "re-dispatch: no commit-log segment holds offset {pos}"
            )));
        };
        let buf = shared.log.read_raw(pos, (max + 8).max(4 << 20))?;
        let room = (seg.end() - pos) as usize;
        let mut p = 0usize;
        let mut views = Vec::new();
        while p < buf.len() {
            match inspect(&buf[p..], room - p, max, false) {
                Slot::Record(v) => {
                    p += v.total_size as usize;
                    views.push(v);
                }
                Slot::Blank(n) => {
                    p += n;
                    break;
                }
                _ => break,
            }
        }
        shared.dispatch_batch(&views)?;
        if p == 0 {
            return Err(StoreError::Corrupt(format!(
                "re-dispatch: no record at commit-log offset {pos}"
            )));
        }
        pos += p as i64;
    }
    Ok(())
}

fn read_up_to(file: &fs::File, buf: &mut [u8], pos: u64) -> std::io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], pos + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}
