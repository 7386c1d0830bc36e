//! The writer thread: the only code that appends to the commit log, assigns offsets and
//! dispatches records to consume queues and the index.
//!
//! It drains whatever requests are queued, encodes them into one buffer, writes the buffer
//! with positional writes, publishes the new commit-log end, dispatches, and then answers
//! (async flush) or hands the waiters to the group-commit queue (sync flush).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
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
use super::consume_queue::is_safe_topic_dir;
use super::error::{Result, StoreError};
use super::flush::{PutReply, Waiter};
use super::record::{
    blank_header, inspect, RecordView, Slot, END_FILE_MIN_BLANK, PHYSICAL_OFFSET_POS,
};
use super::{OffsetMsgId, PutResult, PutStatus, Shared, STORE_CLOCK};

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
    next_queue_offset: QueueOffsets,
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
            next_queue_offset: QueueOffsets::default(),
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
                    self.next_queue_offset.clear();
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
            let qoff = if dispatched {
                take_queue_offset(
                    &mut self.next_queue_offset,
                    &self.shared,
                    &m.topic,
                    m.queue_id,
                )
            } else {
                0
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
        let mut arrived: Vec<(&str, i32, Vec<super::ArrivedMessage<'_>>)> = Vec::new();
        let mut views = Vec::with_capacity(self.records.len());
        for r in &self.records {
            let Some(v) = r.view(&self.buf) else {
                continue;
            };
            // Raw appends carry queue offsets assigned by the master; keep our counters ahead
            // (a put's offsets were taken from them).
            if v.is_dispatched_to_queue() {
                if r.raw {
                    if let Some(next) = self
                        .next_queue_offset
                        .get_mut(v.topic)
                        .and_then(|m| m.get_mut(&v.queue_id))
                    {
                        *next = (*next).max(v.queue_offset + 1);
                    }
                }
                let m = super::ArrivedMessage {
                    queue_offset: v.queue_offset,
                    properties: v.properties,
                };
                match arrived
                    .iter_mut()
                    .find(|(t, q, _)| *q == v.queue_id && *t == v.topic)
                {
                    Some((_, _, msgs)) => msgs.push(m),
                    None => arrived.push((v.topic, v.queue_id, vec![m])),
                }
            }
            views.push(v);
        }
        match shared.dispatch_batch(&views) {
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
                arrived.clear();
            }
            Err(e) => {
                tracing::error!(error = %e, "dispatch failed; store is now read-only");
                shared.writable.store(false, Ordering::Release);
                arrived.clear();
            }
        }
        // Wake long-polling pulls before answering the senders: the data is visible now.
        if !arrived.is_empty() {
            if let Some(l) = shared.listener() {
                for (t, q, msgs) in &arrived {
                    let (t, q) = (*t, *q);
                    let max = shared.queue(t, q).map(|c| c.max_offset()).unwrap_or(0);
                    let call = std::panic::AssertUnwindSafe(|| l(t, q, max, msgs));
                    if std::panic::catch_unwind(call).is_err() {
                        tracing::error!(topic = %t, queue_id = q, "arrival listener panicked");
                    }
                }
            }
        }
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
        self.next_queue_offset.remove(topic);
        self.shared.remove_topic_queues(topic)
    }
}

/// Below this many requests taken at once, the writer thread yields once and looks again.
const YIELD_BELOW_REQUESTS: usize = 4;

/// Next queue offset per topic and queue id. Looked up once per stored message by the writer
/// thread; keys are the broker's own topics, so a fast non-keyed hash is enough.
type QueueOffsets = HashMap<String, HashMap<i32, i64, FastHash>, FastHash>;

type FastHash = BuildHasherDefault<FxHasher>;

/// The multiply-rotate hash of rustc's `FxHasher`: a few instructions per word instead of
/// SipHash's rounds.
#[derive(Default, Clone, Copy)]
struct FxHasher(u64);

const FX_SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(FX_SEED);
    }
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    fn write_i32(&mut self, i: i32) {
        self.add(u64::from(i as u32));
    }

    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// Next queue offset of (topic, queue), initialised from the consume queue on first use.
fn take_queue_offset(map: &mut QueueOffsets, shared: &Shared, topic: &str, queue_id: i32) -> i64 {
    let per_topic = match map.get_mut(topic) {
        Some(m) => m,
        None => map.entry(topic.to_string()).or_default(),
    };
    let next = per_topic.entry(queue_id).or_insert_with(|| {
        shared
            .queue(topic, queue_id)
            .map(|q| q.max_offset())
            .unwrap_or(0)
    });
    let q = *next;
    *next += 1;
    q
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
