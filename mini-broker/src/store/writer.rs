//! The writer thread: the only code that appends to the commit log, assigns offsets and
//! dispatches records to consume queues and the index.
//!
//! It drains whatever requests are queued, encodes them into one buffer, writes the buffer
//! with positional writes, publishes the new commit-log end, dispatches, and then answers
//! (async flush) or hands the waiters to the group-commit queue (sync flush).

use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures::channel::oneshot;
use rocketmq_rs_remoting::protocol::message::{
    encode_message_into, encode_message_with_encoded_properties, property, MessageExt,
};
use rocketmq_rs_remoting::util::RwLockExt;

use super::commit_log::{write_all_at, Segment};
use super::config::FlushMode;
use super::consume_queue::{is_safe_topic_dir, ConsumeQueue, CqEntry};
use super::error::{Result, StoreError};
use super::flush::{PutReply, Waiter};
use super::record::{
    blank_header, inspect, RecordView, Slot, END_FILE_MIN_BLANK, PHYSICAL_OFFSET_POS,
};
use super::{OffsetMsgId, PutResult, PutStatus, Shared, STORE_CLOCK};
use rocketmq_rs_remoting::util::hash::KeyMap;

/// Properties of a put's messages that arrive in their wire encoding: stored as they are, in
/// place of the messages' (ignored) `properties` maps.
pub(crate) enum Encoded {
    /// Every message's map is encoded.
    None,
    /// The properties of the put's one message.
    One(Vec<u8>),
    /// Per message of a batch: its properties, or `None` where its map is to be encoded.
    Each(Vec<Option<Bytes>>),
}

impl Encoded {
    /// The encoded properties of message `k`, if they came encoded.
    fn get(&self, k: usize) -> Option<&[u8]> {
        match self {
            Encoded::None => None,
            Encoded::One(p) => (k == 0).then_some(p.as_slice()),
            Encoded::Each(v) => v.get(k).and_then(|p| p.as_deref()),
        }
    }
}

/// Work for the writer thread.
pub(crate) enum Request {
    Put {
        msgs: Vec<MessageExt>,
        encoded: Encoded,
        reply: PutReply,
    },
    Raw {
        at: i64,
        data: Bytes,
        reply: oneshot::Sender<Result<i64>>,
    },
    DeleteTopic {
        topic: String,
        reply: oneshot::Sender<Result<()>>,
    },
    Stop {
        crash: bool,
    },
}

/// Most requests handled per batch, and soft cap on the batch buffer.
const MAX_BATCH_REQUESTS: usize = 4096;
const MAX_BATCH_BYTES: usize = 8 << 20;

/// One pending reply of this batch.
enum Pending {
    Put {
        results: Vec<PutResult>,
        reply: PutReply,
        end: i64,
        wait: bool,
    },
    Raw {
        reply: oneshot::Sender<Result<i64>>,
        end: i64,
    },
}

/// A record of the batch: where it is in the batch buffer and the fields dispatch reads,
/// taken from the check that validated it, so that dispatch does not parse it again.
#[derive(Debug, Clone, Copy, Default)]
struct Rec {
    from: usize,
    to: usize,
    queue_id: i32,
    queue_offset: i64,
    physical_offset: i64,
    sys_flag: i32,
    store_timestamp: i64,
    /// Topic and properties, as offsets from `from`.
    topic_at: usize,
    topic_len: usize,
    properties_at: usize,
    /// A replicated record (raw append): its queue offset was assigned by the master.
    raw: bool,
    /// The writer's [`QueueCache`] slot of its queue, once known ([`NO_SLOT`] before).
    slot: u32,
}

impl Rec {
    fn new(from: usize, v: &RecordView<'_>, raw: bool) -> Rec {
        Rec {
            from,
            to: from + v.total_size as usize,
            queue_id: v.queue_id,
            queue_offset: v.queue_offset,
            physical_offset: v.physical_offset,
            sys_flag: v.sys_flag,
            store_timestamp: v.store_timestamp,
            topic_at: v.topic_at,
            topic_len: v.topic.len(),
            properties_at: v.properties_at,
            raw,
            slot: NO_SLOT,
        }
    }

    /// The view of the record at `buf[from..to]`.
    fn view<'a>(&self, buf: &'a [u8]) -> Option<RecordView<'a>> {
        let rec = buf.get(self.from..self.to)?;
        let topic = rec.get(self.topic_at..self.topic_at + self.topic_len)?;
        Some(RecordView {
            total_size: (self.to - self.from) as i32,
            queue_id: self.queue_id,
            queue_offset: self.queue_offset,
            physical_offset: self.physical_offset,
            sys_flag: self.sys_flag,
            store_timestamp: self.store_timestamp,
            // Checked when the record was validated; the check here is a few instructions
            // for a topic's length.
            topic: std::str::from_utf8(topic).ok()?,
            properties: rec.get(self.properties_at..)?,
            topic_at: self.topic_at,
            properties_at: self.properties_at,
        })
    }
}

/// A positional write to perform: `buf[range]` at `seg` position `pos`.
struct WriteOp {
    seg: Arc<Segment>,
    pos: u64,
    from: usize,
    to: usize,
}

pub(crate) struct Writer {
    shared: Arc<Shared>,
    rx: Receiver<Request>,
    write_pos: i64,
    cur: Option<Arc<Segment>>,
    /// Next queue offset and consume queue of every queue written so far.
    queues: QueueCache,
    /// This batch's consume-queue runs and their entries (kept for their allocations).
    runs: Vec<Run>,
    items: Vec<Item>,
    entries: Vec<CqEntry>,
    /// Numbers the batches, so a [`QueueSlot`] tells whether its `run` is this batch's.
    batch_gen: u64,
    buf: BytesMut,
    scratch: BytesMut,
    /// The records of the put being appended (in `buf`, or in `scratch` after a roll).
    bounds: Vec<Rec>,
    ops: Vec<WriteOp>,
    /// Every record written in this batch, for dispatch.
    records: Vec<Rec>,
    pending: Vec<Pending>,
    /// Set when dispatching failed for lack of space: records from here to the write position
    /// are in the commit log but not (all) in their consume queues and the index. Nothing is
    /// appended until they are, or the queues would get gaps.
    redispatch_from: Option<i64>,
}

impl Writer {
    pub fn new(shared: Arc<Shared>, rx: Receiver<Request>, write_pos: i64) -> Writer {
        let cur = shared.log.segment_for(write_pos);
        Writer {
            shared,
            rx,
            write_pos,
            cur,
            queues: QueueCache::default(),
            runs: Vec::new(),
            items: Vec::new(),
            entries: Vec::new(),
            batch_gen: 0,
            buf: BytesMut::with_capacity(1 << 20),
            scratch: BytesMut::with_capacity(64 << 10),
            bounds: Vec::new(),
            ops: Vec::new(),
            records: Vec::new(),
            pending: Vec::new(),
            redispatch_from: None,
        }
    }

    /// Thread body.
    pub fn run(mut self) {
        loop {
            let first = match self.rx.recv() {
                Ok(r) => r,
                Err(_) => return,
            };
            let mut batch = vec![first];
            self.drain_into(&mut batch);
            if batch.len() < YIELD_BELOW_REQUESTS {
                // Woken by the first request of a burst (one network read decodes many), the
                // thread would otherwise write it alone and sleep again, to be woken (a futex
                // call on both sides) for the next one. One yield lets the senders queue the
                // rest of the burst first; on an idle machine it returns at once.
                std::thread::yield_now();
                self.drain_into(&mut batch);
            }
            let mut stop = None;
            let mut work = Vec::with_capacity(batch.len());
            for r in batch {
                match r {
                    Request::Stop { crash } => stop = Some(crash),
                    r if stop.is_some() => reject(r),
                    r => work.push(r),
                }
            }
            self.process(work);
            if stop.is_some() {
                // Fail whatever raced in after the stop request.
                while let Ok(r) = self.rx.try_recv() {
                    reject(r);
                }
                return;
            }
        }
    }

    /// Moves queued requests into `batch`, up to [`MAX_BATCH_REQUESTS`], without waiting.
    fn drain_into(&self, batch: &mut Vec<Request>) {
        while batch.len() < MAX_BATCH_REQUESTS {
            match self.rx.try_recv() {
                Ok(r) => batch.push(r),
                Err(TryRecvError::Empty) | Err(TryRecvError::Disconnected) => break,
            }
        }
    }

    fn process(&mut self, work: Vec<Request>) {
        let mut work = work.into_iter().peekable();
        while work.peek().is_some() {
            self.buf.clear();
            self.ops.clear();
            self.records.clear();
            self.pending.clear();
            let start_pos = self.write_pos;
            if !self.redispatched() {
                let used_ratio = self.shared.cleaner.last_ratio();
                while let Some(req) = work.next_if(|r| !matches!(r, Request::DeleteTopic { .. })) {
                    refuse(req, || StoreError::DiskFull { used_ratio });
                }
                if let Some(Request::DeleteTopic { topic, reply }) = work.next() {
                    let _ = reply.send(self.delete_topic(&topic));
                }
                continue;
            }
            let mut failed: Option<StoreError> = None;
            while let Some(req) = work.next_if(|r| !matches!(r, Request::DeleteTopic { .. })) {
                if !self.shared.writable.load(Ordering::Acquire) {
                    reject(req);
                    continue;
                }
                // Apache refuses puts on a full disk but keeps taking the master's data on a
                // slave (a write that really fails is refused below).
                let req = match req {
                    Request::Put { reply, .. }
                        if self.shared.disk_full.load(Ordering::Acquire)
                            || self.shared.simulated_full.load(Ordering::Acquire) =>
                    {
                        let _ = reply.send(Err(StoreError::DiskFull {
                            used_ratio: self.shared.cleaner.last_ratio(),
                        }));
                        continue;
                    }
                    req => req,
                };
                let res = match req {
                    Request::Put {
                        msgs,
                        encoded,
                        reply,
                    } => self.append_put(msgs, encoded, reply),
                    Request::Raw { at, data, reply } => self.append_raw(at, data, reply),
                    _ => Ok(()),
                };
                if let Err(e) = res {
                    failed = Some(e);
                    break;
                }
                if self.buf.len() >= MAX_BATCH_BYTES {
                    break;
                }
            }
            if failed.is_none() {
                if let Err(e) = self.write_out() {
                    failed = Some(e);
                }
            }
            if let Some(e) = failed {
                // Bytes of the failed batch that reached the files (the records of a partial
                // write carry valid checksums) must not be found by a later recovery: cut
                // them. Shrinking a file needs no free space.
                let cut = e.is_disk_full()
                    && match self.shared.log.truncate_from(start_pos) {
                        Ok(()) => true,
                        Err(e2) => {
                            tracing::error!(error = %e2, "cannot cut a failed write");
                            false
                        }
                    };
                if cut {
                    // Nothing of this batch was published: the commit log's visible end, the
                    // consume queues and the index are as before it, so the store is intact.
                    // Puts are refused until retention measures the disk again, which it does
                    // at once.
                    tracing::warn!(error = %e, "commit-log append refused: disk full");
                    self.shared.disk_full.store(true, Ordering::Release);
                    self.shared.cleaner.kick();
                    self.write_pos = start_pos;
                    self.cur = self.shared.log.segment_for(start_pos);
                    // Queue offsets handed out to the failed batch are taken back: every
                    // counter restarts from its consume queue, which holds all published data.
                    self.queues.clear();
                    let pending: Vec<Pending> = self.pending.drain(..).collect();
                    for p in pending {
                        let refusal = self.refusal(&e);
                        match p {
                            Pending::Put { reply, .. } => {
                                let _ = reply.send(Err(refusal));
                            }
                            Pending::Raw { reply, .. } => {
                                let _ = reply.send(Err(refusal));
                            }
                        }
                    }
                    continue;
                }
                // A failed write leaves the file state unknown past start_pos: stop accepting
                // writes; recovery at the next open sorts the tail out.
                tracing::error!(error = %e, "commit-log append failed; store is now read-only");
                self.shared.writable.store(false, Ordering::Release);
                self.write_pos = start_pos;
                for p in self.pending.drain(..) {
                    match p {
                        Pending::Put { reply, .. } => {
                            let _ = reply
                                .send(Err(StoreError::NotAvailable("commit-log write failed")));
                        }
                        Pending::Raw { reply, .. } => {
                            let _ = reply
                                .send(Err(StoreError::NotAvailable("commit-log write failed")));
                        }
                    }
                }
                for r in work.by_ref() {
                    reject(r);
                }
                return;
            }
            self.finish_batch();
            if let Some(Request::DeleteTopic { topic, reply }) =
                work.next_if(|r| matches!(r, Request::DeleteTopic { .. }))
            {
                let _ = reply.send(self.delete_topic(&topic));
            }
        }
    }

    /// Current segment with room for `len` bytes plus a blank header, rolling (and padding the
    /// old segment with a blank filler) when needed.
    fn segment_for_append(&mut self, len: usize) -> Result<Arc<Segment>> {
        if let Some(seg) = &self.cur {
            let room = (seg.end() - self.write_pos) as usize;
            if len + END_FILE_MIN_BLANK <= room {
                return Ok(seg.clone());
            }
            if room > 0 {
                let seg = seg.clone();
                self.push_bytes(&seg, &blank_header(room), room);
            }
        }
        let seg = match self.shared.log.segment_for(self.write_pos) {
            Some(s) => s,
            None => self.new_segment()?,
        };
        if len + END_FILE_MIN_BLANK > (seg.end() - self.write_pos) as usize {
            return Err(StoreError::Corrupt(format!(
                "record of {len} bytes does not fit in segment {}",
                seg.path.display()
            )));
        }
        self.cur = Some(seg.clone());
        Ok(seg)
    }

    /// Creates the segment starting at the write position, unless the store's size cap
    /// (`max_store_bytes`) would be exceeded.
    fn new_segment(&self) -> Result<Arc<Segment>> {
        let cap = self.shared.retention.read_unpoisoned().max_store_bytes;
        if let Some(cap) = cap {
            let used = super::retention::store_bytes(&self.shared);
            if used + self.shared.cfg.commit_log_segment_size > cap {
                return Err(StoreError::DiskFull {
                    used_ratio: used as f64 / cap as f64,
                });
            }
        }
        self.shared.log.create_segment(self.write_pos)
    }

    /// What a put whose batch failed with `e` is answered: `DiskFull` for a full disk (the
    /// store stays writable), `NotAvailable` otherwise (the store turned read-only).
    fn refusal(&self, e: &StoreError) -> StoreError {
        match e {
            StoreError::DiskFull { used_ratio } => StoreError::DiskFull {
                used_ratio: *used_ratio,
            },
            e if e.is_disk_full() => StoreError::DiskFull {
                used_ratio: self.shared.cleaner.last_ratio(),
            },
            _ => StoreError::NotAvailable("commit-log write failed"),
        }
    }

    /// Appends `bytes` to the batch buffer at the current position, accounting `advance` bytes
    /// of log (a blank filler advances to the segment end but writes only its header).
    fn push_bytes(&mut self, seg: &Arc<Segment>, bytes: &[u8], advance: usize) {
        let from = self.buf.len();
        self.buf.extend_from_slice(bytes);
        self.account(seg, from, self.buf.len(), advance);
    }

    /// Records that `buf[from..to]` goes to the log at the current position (see
    /// [`push_bytes`](Self::push_bytes)), merging with the previous write when contiguous.
    fn account(&mut self, seg: &Arc<Segment>, from: usize, to: usize, advance: usize) {
        let pos = (self.write_pos - seg.start) as u64;
        match self.ops.last_mut() {
            Some(op)
                if Arc::ptr_eq(&op.seg, seg)
                    && op.to == from
                    && op.pos + (op.to - op.from) as u64 == pos =>
            {
                op.to = to
            }
            _ => self.ops.push(WriteOp {
                seg: seg.clone(),
                pos,
                from,
                to,
            }),
        }
        self.write_pos += advance as i64;
    }

    fn append_put(
        &mut self,
        mut msgs: Vec<MessageExt>,
        encoded: Encoded,
        reply: PutReply,
    ) -> Result<()> {
        if msgs.is_empty() {
            let _ = reply.send(Ok(Vec::new()));
            return Ok(());
        }
        let now = self.shared.cfg.clock.now_ms();
        // Records are encoded straight into the batch buffer, after what it already holds.
        let base = self.buf.len();
        self.bounds.clear();
        for (k, m) in msgs.iter_mut().enumerate() {
            m.store_timestamp = now;
            let from = self.buf.len();
            let encoded = match encoded.get(k) {
                Some(props) => encode_message_with_encoded_properties(m, props, &mut self.buf),
                None => encode_message_into(m, &mut self.buf),
            };
            if let Err(e) = encoded {
                self.buf.truncate(base);
                let _ = reply.send(Err(StoreError::MessageIllegal(e.to_string())));
                return Ok(());
            }
            self.bounds.push(Rec {
                from,
                to: self.buf.len(),
                ..Rec::default()
            });
        }
        // Validate everything before touching any state, so a bad batch changes nothing.
        let max = self.shared.cfg.max_message_size;
        let mut wait = true;
        let mut invalid = None;
        for k in 0..self.bounds.len() {
            let (a, b) = (self.bounds[k].from, self.bounds[k].to);
            let len = b - a;
            if len > max {
                invalid = Some(format!(
                    "record of {len} bytes exceeds max_message_size {max}"
                ));
                break;
            }
            match inspect(&self.buf[a..b], usize::MAX, max, false) {
                Slot::Record(v) if is_safe_topic_dir(v.topic) => {
                    // As the map would answer: an encoded map has no repeated names.
                    if k == 0 && v.property(property::WAIT) == Some("false") {
                        wait = false;
                    }
                    self.bounds[k] = Rec::new(a, &v, false);
                }
                Slot::Record(v) => {
                    invalid = Some(format!("invalid topic name {:?}", v.topic));
                    break;
                }
                _ => {
                    invalid = Some(
                        "message cannot be encoded as a valid record (field too long?)".into(),
                    );
                    break;
                }
            }
        }
        if let Some(msg) = invalid {
            self.buf.truncate(base);
            let _ = reply.send(Err(StoreError::MessageIllegal(msg)));
            return Ok(());
        }
        // The usual case: the whole batch fits in the current segment and the records stay
        // where they were encoded. A segment roll puts a blank filler in front of a record, so
        // then the records move out to `scratch` and are appended one by one.
        let total = self.buf.len() - base;
        let in_place = self
            .cur
            .as_ref()
            .is_some_and(|seg| total + END_FILE_MIN_BLANK <= (seg.end() - self.write_pos) as usize);
        if !in_place {
            self.scratch.clear();
            self.scratch.extend_from_slice(&self.buf[base..]);
            self.buf.truncate(base);
            for bound in &mut self.bounds {
                bound.from -= base;
                bound.to -= base;
            }
        }
        let mut results = Vec::with_capacity(msgs.len());
        for (k, m) in msgs.iter().enumerate() {
            let mut meta = self.bounds[k];
            let (a, b) = (meta.from, meta.to);
            let len = b - a;
            let seg = match self.segment_for_append(len) {
                Ok(seg) => seg,
                Err(e) => {
                    let _ = reply.send(Err(self.refusal(&e)));
                    return Err(e);
                }
            };
            let phys = self.write_pos;
            // The record was encoded from `m`: same topic, queue id and transaction bits.
            let dispatched = !matches!(
                m.sys_flag & super::record::TX_MASK,
                super::record::TX_PREPARED | super::record::TX_ROLLBACK
            );
            let (qoff, slot) = if dispatched {
                let slot = self.queues.slot(&self.shared, &m.topic, m.queue_id);
                let s = &mut self.queues.slots[slot as usize];
                s.next += 1;
                (s.next - 1, slot)
            } else {
                (0, NO_SLOT)
            };
            let rec = if in_place {
                &mut self.buf[a..b]
            } else {
                &mut self.scratch[a..b]
            };
            if dispatched {
                rec[20..28].copy_from_slice(&qoff.to_be_bytes());
            }
            rec[PHYSICAL_OFFSET_POS..PHYSICAL_OFFSET_POS + 8].copy_from_slice(&phys.to_be_bytes());
            let from = if in_place {
                self.account(&seg, a, b, len);
                a
            } else {
                let from = self.buf.len();
                let scratch = std::mem::take(&mut self.scratch);
                self.push_bytes(&seg, &scratch[a..b], len);
                self.scratch = scratch;
                from
            };
            meta.from = from;
            meta.to = from + len;
            meta.physical_offset = phys;
            meta.slot = slot;
            if dispatched {
                meta.queue_offset = qoff;
            }
            self.records.push(meta);
            results.push(PutResult {
                status: PutStatus::Ok,
                commit_log_offset: phys,
                queue_offset: qoff,
                store_size: len as i32,
                msg_id: OffsetMsgId::new(m.store_host, phys),
                store_timestamp: now,
            });
        }
        self.pending.push(Pending::Put {
            results,
            reply,
            end: self.write_pos,
            wait,
        });
        Ok(())
    }

    fn append_raw(
        &mut self,
        at: i64,
        data: Bytes,
        reply: oneshot::Sender<Result<i64>>,
    ) -> Result<()> {
        if at != self.write_pos {
            let _ = reply.send(Err(StoreError::OffsetMismatch {
                requested: at,
                expected: self.write_pos,
            }));
            return Ok(());
        }
        // Validate the whole chunk first so a bad one changes nothing.
        let seg_size = self.shared.cfg.commit_log_segment_size as i64;
        let max = self.shared.cfg.max_message_size;
        let mut p = 0usize;
        let mut pos = at;
        // End of a segment this chunk will create (it does not exist yet): fixed by the first
        // record that starts it, so later records and a closing filler are sized against the
        // same segment end rather than against one counted from their own position.
        let mut new_seg_end: Option<i64> = None;
        while p < data.len() {
            let seg_end = match self.shared.log.segment_for(pos) {
                Some(s) => s.end(),
                None => match new_seg_end {
                    Some(end) if pos < end => end,
                    _ => *new_seg_end.insert(pos + seg_size),
                },
            };
            let room = (seg_end - pos) as usize;
            match inspect(&data[p..], room, max, true) {
                Slot::Record(v) if v.physical_offset == pos => {
                    p += v.total_size as usize;
                    pos += v.total_size as i64;
                }
                Slot::Blank(n) => {
                    p += n.min(data.len() - p);
                    pos += n as i64;
                }
                other => {
                    let _ = reply.send(Err(StoreError::Corrupt(format!(
                        "raw append: invalid data at offset {pos}: {other:?}"
                    ))));
                    return Ok(());
                }
            }
        }
        let mut p = 0usize;
        while p < data.len() {
            let seg = match &self.cur {
                Some(s) if s.start <= self.write_pos && self.write_pos < s.end() => s.clone(),
                _ => {
                    let s = match self.shared.log.segment_for(self.write_pos) {
                        Some(s) => s,
                        None => match self.new_segment() {
                            Ok(s) => s,
                            Err(e) => {
                                let _ = reply.send(Err(self.refusal(&e)));
                                return Err(e);
                            }
                        },
                    };
                    self.cur = Some(s.clone());
                    s
                }
            };
            let room = (seg.end() - self.write_pos) as usize;
            match inspect(&data[p..], room, max, false) {
                Slot::Record(v) => {
                    let n = v.total_size as usize;
                    let from = self.buf.len();
                    let rec = Rec::new(from, &v, true);
                    self.push_bytes(&seg, &data[p..p + n], n);
                    self.records.push(rec);
                    p += n;
                }
                Slot::Blank(n) => {
                    self.push_bytes(&seg, &blank_header(n), n);
                    p += n.min(data.len() - p);
                }
                _ => {
                    return Err(StoreError::Corrupt(
                        "raw data changed after validation".into(),
                    ))
                }
            }
        }
        self.pending.push(Pending::Raw {
            reply,
            end: self.write_pos,
        });
        Ok(())
    }

    fn write_out(&mut self) -> Result<()> {
        if let Some(op) = self.ops.first() {
            super::fault::check_write()
                .map_err(|e| StoreError::io("write commit log", &op.seg.path, e))?;
        }
        let now_ms = self.shared.cfg.clock.now_ms();
        for op in &self.ops {
            write_all_at(
                &op.seg.file,
                &self.buf[op.from..op.to],
                op.pos,
                &op.seg.path,
            )?;
            op.seg.touch(now_ms);
        }
        Ok(())
    }

    /// Publishes the batch, dispatches it and answers its requests.
    fn finish_batch(&mut self) {
        let shared = self.shared.clone();
        shared.log.set_max_offset(self.write_pos);
        self.batch_gen += 1;
        let gen = self.batch_gen;
        let mut runs = std::mem::take(&mut self.runs);
        let mut items = std::mem::take(&mut self.items);
        runs.clear();
        items.clear();
        let mut views = Vec::with_capacity(self.records.len());
        let mut keys = Vec::with_capacity(self.records.len());
        // Each record's entry joins its queue's run of this batch (found through the queue's
        // slot: no name lookup for a put, whose slot was taken with its offset).
        for r in &self.records {
            let Some(v) = r.view(&self.buf) else {
                continue;
            };
            if !is_safe_topic_dir(v.topic) {
                // Only a replicated record can get here (puts are checked first).
                tracing::warn!(
                    offset = v.physical_offset,
                    "record with invalid topic not dispatched"
                );
                continue;
            }
            let (entry, key) = shared.entries_of(&v);
            keys.extend(key);
            if let Some(entry) = entry {
                let slot = match r.slot {
                    NO_SLOT => self.queues.slot(&shared, v.topic, v.queue_id),
                    slot => slot,
                };
                let s = &mut self.queues.slots[slot as usize];
                if r.raw {
                    // Raw appends carry queue offsets assigned by the master; keep the
                    // counter ahead (a put's offsets were taken from it).
                    s.next = s.next.max(v.queue_offset + 1);
                }
                let item = items.len() as u32;
                items.push(Item {
                    view: views.len() as u32,
                    entry,
                    next: NO_ITEM,
                });
                match runs.get_mut(s.run as usize) {
                    Some(run) if s.gen == gen && run.first + run.count == v.queue_offset => {
                        items[run.tail as usize].next = item;
                        run.tail = item;
                        run.count += 1;
                    }
                    _ => {
                        s.gen = gen;
                        s.run = runs.len() as u32;
                        runs.push(Run {
                            slot,
                            first: v.queue_offset,
                            count: 1,
                            head: item,
                            tail: item,
                        });
                    }
                }
            }
            views.push(v);
        }
        let dispatched = (|| {
            for run in &runs {
                let s = &mut self.queues.slots[run.slot as usize];
                let cq = match &s.cq {
                    Some(cq) => cq.clone(),
                    None => {
                        let v = &views[items[run.head as usize].view as usize];
                        let cq = shared.queue_or_create(v.topic, v.queue_id)?;
                        s.cq = Some(cq.clone());
                        cq
                    }
                };
                self.entries.clear();
                let mut i = run.head;
                while i != NO_ITEM {
                    self.entries.push(items[i as usize].entry);
                    i = items[i as usize].next;
                }
                cq.append(run.first, &self.entries)?;
            }
            shared.index.add_batch(&keys)
        })();
        let mut announce = true;
        match dispatched {
            Ok(()) => shared.dispatched.store(self.write_pos, Ordering::Release),
            // The records are in the commit log (their puts are answered as stored); their
            // consume-queue and index entries are written again from the log once there is
            // space (dispatch skips what already exists). `dispatched` stays behind them, so
            // a checkpoint never claims them and a restart re-dispatches them too.
            Err(e) if e.is_disk_full() => {
                tracing::warn!(error = %e, "dispatch refused: disk full; appends wait for space");
                self.redispatch_from = Some(shared.dispatched.load(Ordering::Acquire));
                shared.disk_full.store(true, Ordering::Release);
                shared.cleaner.kick();
                announce = false;
            }
            Err(e) => {
                tracing::error!(error = %e, "dispatch failed; store is now read-only");
                shared.writable.store(false, Ordering::Release);
                announce = false;
            }
        }
        // Wake long-polling pulls before answering the senders: the data is visible now.
        if let Some(l) = shared.listener().filter(|_| announce) {
            let mut arrived = Vec::new();
            for run in &runs {
                let Some(cq) = &self.queues.slots[run.slot as usize].cq else {
                    continue;
                };
                arrived.clear();
                let mut i = run.head;
                while i != NO_ITEM {
                    let item = &items[i as usize];
                    let v = &views[item.view as usize];
                    arrived.push(super::ArrivedMessage {
                        queue_offset: v.queue_offset,
                        properties: v.properties,
                    });
                    i = item.next;
                }
                let (t, q, max) = (cq.topic.as_str(), cq.queue_id, cq.max_offset());
                let call = std::panic::AssertUnwindSafe(|| l(t, q, max, &arrived));
                if std::panic::catch_unwind(call).is_err() {
                    tracing::error!(topic = %t, queue_id = q, "arrival listener panicked");
                }
            }
        }
        drop(views);
        self.runs = runs;
        self.items = items;
        let deadline = match shared.cfg.flush_mode {
            FlushMode::Sync { timeout } => Some(STORE_CLOCK.now() + timeout),
            FlushMode::Async { .. } => None,
        };
        let mut waiters = Vec::new();
        for p in self.pending.drain(..) {
            match p {
                Pending::Put {
                    results,
                    reply,
                    end,
                    wait,
                } => match deadline {
                    Some(deadline) if wait => waiters.push(Waiter {
                        end,
                        deadline,
                        results,
                        reply,
                    }),
                    _ => {
                        let _ = reply.send(Ok(results));
                    }
                },
                Pending::Raw { reply, end } => {
                    let _ = reply.send(Ok(end));
                }
            }
        }
        if !waiters.is_empty() {
            shared.gc.push(waiters);
        }
    }

    /// Re-dispatches records a disk-full dispatch left out, if any; false while that still
    /// fails (appends must wait).
    fn redispatched(&mut self) -> bool {
        let Some(from) = self.redispatch_from else {
            return true;
        };
        match super::recovery::redispatch(&self.shared, from, self.write_pos) {
            Ok(()) => {
                tracing::info!(
                    from,
                    to = self.write_pos,
                    "re-dispatched records after disk full"
                );
                self.shared
                    .dispatched
                    .store(self.write_pos, Ordering::Release);
                self.redispatch_from = None;
                true
            }
            Err(e) if e.is_disk_full() => false,
            Err(e) => {
                tracing::error!(error = %e, "re-dispatch failed; store is now read-only");
                self.shared.writable.store(false, Ordering::Release);
                self.redispatch_from = None;
                true
            }
        }
    }

    fn delete_topic(&mut self, topic: &str) -> Result<()> {
        self.queues.remove_topic(topic);
        self.shared.remove_topic_queues(topic)
    }
}

/// Below this many requests taken at once, the writer thread yields once and looks again.
const YIELD_BELOW_REQUESTS: usize = 4;

/// [`Rec::slot`] of a record whose queue is not looked up yet.
const NO_SLOT: u32 = u32::MAX;
/// End of an [`Item`] list.
const NO_ITEM: u32 = u32::MAX;

/// The writer's state of one queue.
struct QueueSlot {
    /// Next queue offset to hand out.
    next: i64,
    /// The consume queue, once it exists (the first dispatch into it creates it).
    cq: Option<Arc<ConsumeQueue>>,
    /// `run` is an index into [`Writer::runs`] when `gen` is the current batch's number.
    gen: u64,
    run: u32,
}

/// Queue state by topic and queue id, looked up once per stored message (with the fast
/// hash, and without allocating: a topic's name is copied once, when it is first seen).
/// Slots are numbered so that a record carries its queue's slot from the offset it took to
/// its dispatch.
#[derive(Default)]
struct QueueCache {
    ids: KeyMap<String, KeyMap<i32, u32>>,
    slots: Vec<QueueSlot>,
    /// Slots of deleted topics, for reuse.
    free: Vec<u32>,
}

impl QueueCache {
    /// The slot of (topic, queue), created on first use with the consume queue's end as the
    /// next offset.
    fn slot(&mut self, shared: &Shared, topic: &str, queue_id: i32) -> u32 {
        if let Some(&id) = self.ids.get(topic).and_then(|m| m.get(&queue_id)) {
            return id;
        }
        let cq = shared.queue(topic, queue_id);
        let s = QueueSlot {
            next: cq.as_ref().map(|q| q.max_offset()).unwrap_or(0),
            cq,
            gen: 0,
            run: 0,
        };
        let id = match self.free.pop() {
            Some(id) => {
                self.slots[id as usize] = s;
                id
            }
            None => {
                self.slots.push(s);
                (self.slots.len() - 1) as u32
            }
        };
        match self.ids.get_mut(topic) {
            Some(m) => m.insert(queue_id, id),
            None => self
                .ids
                .entry(topic.to_string())
                .or_default()
                .insert(queue_id, id),
        };
        id
    }

    /// Forgets a deleted topic's queues (their offsets restart from the new queues' ends).
    fn remove_topic(&mut self, topic: &str) {
        for (_, id) in self.ids.remove(topic).into_iter().flatten() {
            self.slots[id as usize].cq = None;
            self.free.push(id);
        }
    }

    /// Forgets everything: every counter restarts from its consume queue.
    fn clear(&mut self) {
        self.ids.clear();
        self.slots.clear();
        self.free.clear();
    }
}

/// A run of consecutive queue offsets of one queue in a batch: its entries are the [`Item`]
/// list from `head`.
struct Run {
    slot: u32,
    first: i64,
    count: i64,
    head: u32,
    tail: u32,
}

/// One consume-queue entry of a batch: its record's index in the batch's views and the
/// next item of its run.
struct Item {
    view: u32,
    entry: CqEntry,
    next: u32,
}

/// Answers an append with `err()` (a delete-topic request is answered too).
fn refuse(r: Request, err: impl Fn() -> StoreError) {
    match r {
        Request::Put { reply, .. } => {
            let _ = reply.send(Err(err()));
        }
        Request::Raw { reply, .. } => {
            let _ = reply.send(Err(err()));
        }
        Request::DeleteTopic { reply, .. } => {
            let _ = reply.send(Err(err()));
        }
        Request::Stop { .. } => {}
    }
}

/// Answers a request the writer will not process.
fn reject(r: Request) {
    let e = || StoreError::NotAvailable("store is shut down or read-only");
    match r {
        Request::Put { reply, .. } => {
            let _ = reply.send(Err(e()));
        }
        Request::Raw { reply, .. } => {
            let _ = reply.send(Err(e()));
        }
        Request::DeleteTopic { reply, .. } => {
            let _ = reply.send(Err(e()));
        }
        Request::Stop { .. } => {}
    }
}
