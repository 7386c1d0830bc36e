//! [`Connection`]: one duplex remoting connection, and the [`RequestHandler`] that answers the
//! requests its peer sends.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::fmt;
use std::future::{poll_fn, Future};
use std::io;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use std::collections::VecDeque;
use std::task::Waker;

use futures::future::{select, Either};
use futures::io::{AsyncWrite, AsyncWriteExt};
use futures::stream::{FuturesUnordered, StreamExt};
use futures::FutureExt;
use tracing::Instrument;

use super::TransportConfig;
use crate::error::{RemotingError, Result};
use crate::protocol::code::ResponseCode;
use crate::protocol::codec::{
    encode_frame, encode_frame_head, encode_frame_head_with, FrameDecoder,
};
use crate::protocol::command::{FLAG_ONEWAY, FLAG_RESPONSE};
use crate::protocol::header::{OwnedFields, WriteFields};
use crate::protocol::{RawResponse, RemotingCommand, SerializeType};
use crate::rt::{
    timeout, AsyncStream, BoxFuture, BoxReadBuf, BoxWrite, Clock, Runtime, ShutdownSignal,
    WaitShutdown,
};
use crate::util::MutexExt;

/// Bodies at least this large are written straight from their `Bytes` after the frame head
/// instead of being copied into the coalescing buffer.
const DIRECT_BODY_BYTES: usize = 32 * 1024;

/// Request deadlines are checked by one sweep per connection (see [`Pending`]), at most this
/// often: a timeout fires up to this much late, and a burst of distinct deadlines costs a
/// bounded number of map scans.
const SWEEP_MIN_INTERVAL: Duration = Duration::from_millis(5);

/// Answers the requests a peer sends on a [`Connection`] (every request for a server; the rare
/// broker-initiated ones for a client).
///
/// `handle` returns the response, or `None` to send nothing now: the handler may answer later
/// through [`Connection::send_response`] (long polling), or never. The transport sets the
/// response's `opaque`, serialize type and response flag from the request, and sends nothing at
/// all for a oneway request. Unknown request codes are the handler's business (a server should
/// answer `REQUEST_CODE_NOT_SUPPORTED`, docs/protocol/frame.md §12). A handler that panics is answered
/// with `SYSTEM_ERROR`.
///
/// The connection keeps up to [`TransportConfig::max_inbound_requests`] handler futures in
/// flight at once, so a slow request does not hold up the ones behind it; the futures are stored
/// unboxed.
///
/// ```
/// use rocketmq_rs_remoting::protocol::{RemotingCommand, code::ResponseCode};
/// use rocketmq_rs_remoting::transport::{Connection, RequestHandler};
///
/// struct Echo;
/// impl RequestHandler for Echo {
///     async fn handle(&self, _conn: &Connection, req: RemotingCommand) -> Option<RemotingCommand> {
///         Some(RemotingCommand::response(ResponseCode::SUCCESS, None).with_body(req.body))
///     }
///     fn on_connected(&self, conn: &Connection) {
///         tracing::info!(peer = %conn.peer_addr(), "connected");
///     }
/// }
/// ```
pub trait RequestHandler: Send + Sync + 'static {
    /// Handles one inbound request.
    fn handle(
        &self,
        conn: &Connection,
        req: RemotingCommand,
    ) -> impl Future<Output = Option<RemotingCommand>> + Send;

    /// Handles one inbound request, answering with a [`Response`]: what the connection
    /// calls. The default answers with [`handle`](Self::handle)'s command; a handler that
    /// answers a hot request with a typed header ([`Response::with_fields`]) overrides this
    /// (and keeps `handle` giving the same answer as a command, e.g. through
    /// [`Response::into_command`]).
    fn respond(
        &self,
        conn: &Connection,
        req: RemotingCommand,
    ) -> impl Future<Output = Option<Response>> + Send {
        self.handle(conn, req).map(|r| r.map(Response::from))
    }

    /// Called once when the connection is established, before its first request is read.
    fn on_connected(&self, _conn: &Connection) {}

    /// Called once when the connection has closed, after every pending request has failed.
    fn on_disconnected(&self, _conn: &Connection) {}
}

/// A request handler's answer ([`RequestHandler::respond`]): a response command, and
/// optionally a typed header whose fields the connection writes straight into the frame's
/// `extFields` (after any the command holds), with no [`ExtFields`](crate::ExtFields) map
/// built per response. The frame is the one [`Response::into_command`] would give.
///
/// ```
/// use rocketmq_rs_remoting::protocol::codec::encode_frame;
/// use rocketmq_rs_remoting::protocol::header::{FieldSink, WriteFields};
/// use rocketmq_rs_remoting::protocol::RemotingCommand;
/// use rocketmq_rs_remoting::transport::Response;
///
/// struct Stored { queue_offset: i64 }
/// impl WriteFields for Stored {
///     fn write_fields<S: FieldSink + ?Sized>(&self, sink: &mut S) {
///         sink.i64_field("queueOffset", self.queue_offset);
///     }
///     fn size_hint(&self) -> (usize, usize) {
///         (1, 31)
///     }
/// }
/// let resp = Response::with_fields(RemotingCommand::response(0, None), Stored { queue_offset: 7 });
/// assert!(resp.has_fields());
/// let cmd = resp.into_command();
/// assert_eq!(cmd.ext_fields.get("queueOffset"), Some("7"));
/// ```
pub struct Response {
    /// The response: code, remark, body, and `extFields` of its own if any.
    pub command: RemotingCommand,
    fields: Option<Box<dyn OwnedFields>>,
}

impl Response {
    /// `command` with the fields of `fields` added to its `extFields` when it is written.
    pub fn with_fields<H: WriteFields + Send + 'static>(
        command: RemotingCommand,
        fields: H,
    ) -> Self {
        Response {
            command,
            fields: Some(Box::new(fields)),
        }
    }

    /// Whether a typed header comes with the command.
    pub fn has_fields(&self) -> bool {
        self.fields.is_some()
    }

    /// The response as one command, the typed header's fields written into its `extFields`.
    pub fn into_command(self) -> RemotingCommand {
        let mut command = self.command;
        if let Some(fields) = self.fields {
            fields.write_fields(&mut command.ext_fields);
        }
        command
    }
}

impl From<RemotingCommand> for Response {
    fn from(command: RemotingCommand) -> Self {
        Response {
            command,
            fields: None,
        }
    }
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("command", &self.command)
            .field("has_fields", &self.fields.is_some())
            .finish()
    }
}

static NEXT_CONNECTION_ID: AtomicU64 = AtomicU64::new(1);

/// One duplex remoting connection, shared by cheap clones.
///
/// Both sides of a connection can send requests; responses are matched to requests by
/// `opaque`, counted per connection. Two background tasks drive it: a reader (frame decoding,
/// response routing, inbound requests through a [`RequestHandler`]) and a writer that coalesces
/// everything queued into one buffer per write call and flushes when the queue runs empty.
///
/// When the connection closes (peer gone, I/O or decode error, [`close`](Connection::close)),
/// every pending request fails with [`RemotingError::ConnectionClosed`] and later sends fail the
/// same way. Dropping the handles does not close the connection.
#[derive(Clone)]
pub struct Connection {
    inner: Arc<Inner>,
}

struct Inner {
    id: u64,
    peer: SocketAddr,
    rt: Arc<dyn Runtime>,
    config: Arc<TransportConfig>,
    outbound: Outbox,
    pending: Mutex<Pending>,
    /// Set when a request's deadline is earlier than the sweep timer: the reader re-arms it.
    rearm_sweep: AtomicBool,
    next_opaque: AtomicI32,
    closed: ShutdownSignal,
    /// The runtime's clock, copied out so that per-frame activity stamps cost no virtual call.
    clock: Clock,
    created: Instant,
    /// Milliseconds since `created` of the last successful read or write (idle detection).
    last_activity_ms: AtomicU64,
    /// Set (once) before the connection closes when the way it closed suggests a cause.
    closed_hint: std::sync::OnceLock<&'static str>,
    /// Where callers of [`Connection::invoke_with`] encode their frame heads: each head is
    /// split off as `Bytes`, and the space is reused once the writer has dropped them, so an
    /// encoded request costs no allocation of its own.
    scratch: Mutex<BytesMut>,
    /// Callers of [`Connection::invoke_raw`] waiting now: while there are any, the reader
    /// leaves JSON extFields as ranges of the frame ([`FrameDecoder::decode_raw`]).
    raw_waiting: AtomicUsize,
}

/// Why a plain connection closed by its peer before the peer sent anything usually fails.
const PLAIN_TO_TLS_HINT: &str = ": the peer closed it before sending anything, which is what a \
     server enforcing TLS (Apache tls.server.mode=enforcing) does to plain connections; if so, \
     enable TLS on this side (TransportConfig::tls, ClientConfig::with_tls, feature `tls`)";

/// The requests of a connection that wait for their response.
///
/// A request's response slot lives in the map itself (no channel per request), and its
/// deadline is enforced by one sweep per connection run by the reader task (like the Java
/// client's periodic `scanResponseTable`), not by a timer per request: the sweep timer is set
/// for the earliest deadline and fires about once per timeout period under steady load.
struct Pending {
    closed: bool,
    /// Slots still waiting; the others hold an outcome their caller has not collected yet.
    waiting: usize,
    map: HashMap<i32, Slot, OpaqueHash>,
    /// When the reader's sweep timer fires (`None`: not armed).
    sweep_at: Option<Instant>,
    /// The reader task, woken to re-arm the sweep for an earlier deadline.
    sweeper: Option<Waker>,
}

/// Hashes the opaques of [`Pending`]: a multiply by the golden ratio spreads our sequential
/// opaques over the table. The keys are ours (a response's opaque only finds an entry we
/// made), so the DoS-resistant default hasher buys nothing here, and it was ~0.4k instructions
/// per request (three lookups).
#[derive(Clone, Copy, Default)]
struct OpaqueHash;

impl std::hash::BuildHasher for OpaqueHash {
    type Hasher = OpaqueHasher;
    fn build_hasher(&self) -> OpaqueHasher {
        OpaqueHasher(0)
    }
}

#[derive(Default)]
struct OpaqueHasher(u64);

impl std::hash::Hasher for OpaqueHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Not reached for `i32` keys; kept correct for any other use.
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_i32(&mut self, n: i32) {
        self.0 = u64::from(n as u32).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

struct Slot {
    /// `None`: never times out.
    deadline: Option<Instant>,
    state: SlotState,
}

enum SlotState {
    Waiting(Option<Waker>),
    Done(Result<RawResponse>),
    TimedOut,
}

impl Pending {
    /// Moves a waiting slot to `state`; returns the waker to wake (after unlocking).
    fn settle(&mut self, opaque: i32, state: SlotState) -> std::result::Result<Option<Waker>, ()> {
        let Some(slot) = self.map.get_mut(&opaque) else {
            return Err(());
        };
        match std::mem::replace(&mut slot.state, state) {
            SlotState::Waiting(waker) => {
                self.waiting -= 1;
                Ok(waker)
            }
            settled => {
                // Already timed out or failed: the late outcome is dropped.
                slot.state = settled;
                Err(())
            }
        }
    }
}

impl Connection {
    /// Runs the remoting protocol over `stream` (already connected to `peer`), spawning the
    /// connection's reader and writer tasks on `rt`. Inbound requests go to `handler`.
    ///
    /// [`RemotingClient`](super::RemotingClient) and [`RemotingServer`](super::RemotingServer)
    /// call this for their sockets; call it directly to run the protocol over a stream of your
    /// own (for example a TLS session).
    pub fn spawn<H: RequestHandler>(
        rt: Arc<dyn Runtime>,
        stream: Box<dyn AsyncStream>,
        peer: SocketAddr,
        config: Arc<TransportConfig>,
        handler: Arc<H>,
    ) -> Connection {
        let (conn, reader, writer) = Self::start(rt, stream, peer, config, handler);
        let rt = &conn.inner.rt;
        rt.spawn(reader);
        rt.spawn(writer);
        conn
    }

    /// Builds the connection and returns its reader and writer tasks for the caller to spawn.
    pub(crate) fn start<H: RequestHandler>(
        rt: Arc<dyn Runtime>,
        stream: Box<dyn AsyncStream>,
        peer: SocketAddr,
        config: Arc<TransportConfig>,
        handler: Arc<H>,
    ) -> (Connection, BoxFuture<'static, ()>, BoxFuture<'static, ()>) {
        let (read_half, write_half) = stream.into_split_buf();
        let outbound = Outbox::new(write_half, config.write_coalesce_bytes.max(1));
        let clock = rt.clock();
        let conn = Connection {
            inner: Arc::new(Inner {
                id: NEXT_CONNECTION_ID.fetch_add(1, Ordering::Relaxed),
                peer,
                rt,
                config,
                outbound,
                pending: Mutex::new(Pending {
                    closed: false,
                    waiting: 0,
                    map: HashMap::default(),
                    sweep_at: None,
                    sweeper: None,
                }),
                rearm_sweep: AtomicBool::new(false),
                next_opaque: AtomicI32::new(1),
                closed: ShutdownSignal::new(),
                clock,
                created: clock.now(),
                last_activity_ms: AtomicU64::new(0),
                closed_hint: std::sync::OnceLock::new(),
                scratch: Mutex::new(BytesMut::new()),
                raw_waiting: AtomicUsize::new(0),
            }),
        };
        tracing::debug!(id = conn.id(), peer = %peer, "connection established");
        handler.on_connected(&conn);
        let reader = Box::pin(read_loop(conn.clone(), read_half, handler));
        let writer = Box::pin(write_loop(conn.clone()));
        (conn, reader, writer)
    }

    /// Process-unique id of this connection.
    pub fn id(&self) -> u64 {
        self.inner.id
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.inner.peer
    }

    /// The runtime driving this connection (handy for handlers that answer later).
    pub fn runtime(&self) -> &Arc<dyn Runtime> {
        &self.inner.rt
    }

    /// The settings this connection runs with.
    pub fn config(&self) -> &TransportConfig {
        &self.inner.config
    }

    /// Whether the connection has closed.
    pub fn is_closed(&self) -> bool {
        self.inner.closed.is_triggered()
    }

    /// A future completing when the connection has closed.
    pub fn closed(&self) -> WaitShutdown {
        self.inner.closed.wait()
    }

    /// Closes the connection: pending requests fail with `ConnectionClosed`, queued frames not
    /// yet written are dropped, and both tasks stop. Idempotent.
    pub fn close(&self) {
        self.shutdown("closed locally");
    }

    /// Number of requests waiting for their response (for metrics and tests).
    pub fn pending_count(&self) -> usize {
        self.inner.pending.lock_unpoisoned().waiting
    }

    /// Sends `cmd` as a request and waits up to `timeout` for its response.
    ///
    /// The connection assigns the `opaque`, clears the response and oneway flags, and applies
    /// [`TransportConfig::request_serialize_type`]. A response arriving after the deadline is
    /// dropped. The deadline is checked by a per-connection sweep, so a timeout may be reported
    /// a few milliseconds late (never early).
    ///
    /// # Errors
    ///
    /// [`RemotingError::Timeout`] when no response came in time,
    /// [`RemotingError::ConnectionClosed`] when the connection is or becomes closed, and the
    /// encoder's errors (e.g. [`RemotingError::FrameTooLarge`]) when `cmd` cannot be sent.
    pub async fn invoke(
        &self,
        mut cmd: RemotingCommand,
        timeout: Duration,
    ) -> Result<RemotingCommand> {
        cmd.flag &= !(FLAG_RESPONSE | FLAG_ONEWAY);
        cmd.serialize_type = self.inner.config.request_serialize_type;
        if let Some(creds) = &self.inner.config.credentials {
            crate::acl::sign(&mut cmd, creds);
        }
        let code = cmd.code;
        let deadline = self.inner.rt.now().checked_add(timeout);
        let (opaque, alone) = self.register(deadline)?;
        cmd.opaque = opaque;
        // No span per request: on the hot path its creation and the instrumented poll cost more
        // than the rest of the bookkeeping; the events below carry the same fields.
        // Removes the entry however this future ends: timeout, error, or the caller dropping it.
        let guard = PendingGuard {
            conn: self,
            opaque: Some(opaque),
        };
        self.submit(Outgoing::Command(cmd), alone)?;
        let response = self.response(guard, code, timeout).await?;
        Ok(response.into_command())
    }

    /// As [`invoke`](Self::invoke) for a request made of `code`, the typed `header` and
    /// `body`: the header's fields are written straight into the frame
    /// ([`encode_frame_head_with`]), with no [`ExtFields`](crate::ExtFields) map in between.
    /// The frame is the one `invoke` sends for the same command (with ACL credentials
    /// configured the request is signed, which needs the map: then it goes through `invoke`).
    ///
    /// # Errors
    ///
    /// As [`invoke`](Self::invoke).
    pub async fn invoke_with<H: WriteFields + ?Sized>(
        &self,
        code: i32,
        header: &H,
        body: Bytes,
        timeout: Duration,
    ) -> Result<RemotingCommand> {
        if self.inner.config.credentials.is_some() {
            let mut cmd = RemotingCommand::request(code).with_body(body);
            header.write_fields(&mut cmd.ext_fields);
            return Box::pin(self.invoke(cmd, timeout)).await;
        }
        let response = self.exchange_with(code, header, body, timeout).await?;
        Ok(response.into_command())
    }

    /// As [`invoke_with`](Self::invoke_with), returning the response with its extFields still
    /// in the received header ([`RawResponse`]): a caller that reads a few known fields copies
    /// only those, and no [`ExtFields`](crate::ExtFields) map is built. The response is the
    /// one `invoke_with` returns ([`RawResponse::into_command`]).
    ///
    /// # Errors
    ///
    /// As [`invoke`](Self::invoke).
    pub async fn invoke_raw<H: WriteFields + ?Sized>(
        &self,
        code: i32,
        header: &H,
        body: Bytes,
        timeout: Duration,
    ) -> Result<RawResponse> {
        if self.inner.config.credentials.is_some() {
            let mut cmd = RemotingCommand::request(code).with_body(body);
            header.write_fields(&mut cmd.ext_fields);
            return Box::pin(self.invoke(cmd, timeout))
                .await
                .map(RawResponse::from);
        }
        // Counted before the request can be answered, so the reader sees it for the response.
        self.inner.raw_waiting.fetch_add(1, Ordering::Relaxed);
        let _waiting = RawWaiting(&self.inner.raw_waiting);
        self.exchange_with(code, header, body, timeout).await
    }

    /// The typed request of `invoke_with` / `invoke_raw`, and its response as read.
    async fn exchange_with<H: WriteFields + ?Sized>(
        &self,
        code: i32,
        header: &H,
        body: Bytes,
        timeout: Duration,
    ) -> Result<RawResponse> {
        let deadline = self.inner.rt.now().checked_add(timeout);
        let (opaque, alone) = self.register(deadline)?;
        let guard = PendingGuard {
            conn: self,
            opaque: Some(opaque),
        };
        let head = self.encode_head(code, opaque, header, &body)?;
        self.submit(Outgoing::Encoded { head, body }, alone)?;
        self.response(guard, code, timeout).await
    }

    /// The frame head of request `opaque` (`code`, `header`, then `body`), in the configured
    /// header encoding, split off the connection's scratch buffer.
    fn encode_head<H: WriteFields + ?Sized>(
        &self,
        code: i32,
        opaque: i32,
        header: &H,
        body: &Bytes,
    ) -> Result<Bytes> {
        let mut cmd = RemotingCommand::request(code)
            .with_opaque(opaque)
            .with_serialize_type(self.inner.config.request_serialize_type);
        // Only the body's length goes into the head; the clone is a reference count.
        cmd.body = body.clone();
        let mut scratch = self.inner.scratch.lock_unpoisoned();
        if scratch.capacity() < SCRATCH_MIN_FREE {
            // Reclaims the space of heads the writer has dropped, or starts a new buffer
            // (the old one is freed with its last head).
            scratch.reserve(SCRATCH_BYTES);
        }
        encode_frame_head_with(&cmd, header, &mut scratch)?;
        let head = scratch.split().freeze();
        drop(scratch);
        let len = head.len() + body.len();
        let max = self.inner.config.max_frame_size;
        if len > max {
            return Err(RemotingError::FrameTooLarge { len, max });
        }
        Ok(head)
    }

    /// The frame head of the response `cmd` with the typed header `fields`, split off the
    /// connection's scratch buffer (as a request head of [`Connection::invoke_with`]).
    fn encode_response_head(
        &self,
        cmd: &RemotingCommand,
        fields: &dyn OwnedFields,
    ) -> Result<Bytes> {
        let mut scratch = self.inner.scratch.lock_unpoisoned();
        if scratch.capacity() < SCRATCH_MIN_FREE {
            scratch.reserve(SCRATCH_BYTES);
        }
        encode_frame_head_with(cmd, fields, &mut scratch)?;
        let head = scratch.split().freeze();
        drop(scratch);
        let len = head.len() + cmd.body.len();
        let max = self.inner.config.max_frame_size;
        if len > max {
            return Err(RemotingError::FrameTooLarge { len, max });
        }
        Ok(head)
    }

    /// Queues `out`; a lone request (nothing else in flight) is written right here.
    fn submit(&self, out: Outgoing, alone: bool) -> Result<()> {
        if alone {
            // Nothing else in flight: likely a sync caller, for whom the lowest latency is to
            // write the frame now rather than wake the writer. With other requests in flight
            // the writer coalesces this one with theirs (fewer syscalls).
            self.enqueue_quietly(out)?;
            self.inner.outbound.flush_queued(self);
            Ok(())
        } else {
            self.enqueue(out)
        }
    }

    /// Waits for the response of the request `guard` holds.
    async fn response(
        &self,
        mut guard: PendingGuard<'_>,
        code: i32,
        timeout: Duration,
    ) -> Result<RawResponse> {
        let Some(opaque) = guard.opaque else {
            return Err(self.closed_error());
        };
        let outcome = poll_fn(|cx| {
            let mut pending = self.inner.pending.lock_unpoisoned();
            let Entry::Occupied(mut entry) = pending.map.entry(opaque) else {
                // Only the guard removes a slot before this future has seen its outcome.
                return Poll::Ready(None);
            };
            if let SlotState::Waiting(waker) = &mut entry.get_mut().state {
                match waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    slot => *slot = Some(cx.waker().clone()),
                }
                return Poll::Pending;
            }
            Poll::Ready(Some(entry.remove().state))
        })
        .await;
        guard.opaque = None;
        match outcome {
            Some(SlotState::Done(result)) => result,
            None | Some(SlotState::Waiting(_)) => Err(self.closed_error()),
            Some(SlotState::TimedOut) => {
                tracing::debug!(code, opaque, addr = %self.inner.peer, ?timeout, "request timed out");
                Err(RemotingError::Timeout {
                    addr: self.inner.peer.to_string(),
                    code,
                    opaque,
                    timeout,
                })
            }
        }
    }

    /// Sends `cmd` as a oneway request: the peer sends no response. Completes once the frame is
    /// queued for writing.
    ///
    /// # Errors
    ///
    /// [`RemotingError::ConnectionClosed`] when the connection is closed.
    pub fn send_oneway(&self, mut cmd: RemotingCommand) -> Result<()> {
        cmd.flag = (cmd.flag & !FLAG_RESPONSE) | FLAG_ONEWAY;
        cmd.serialize_type = self.inner.config.request_serialize_type;
        if let Some(creds) = &self.inner.config.credentials {
            crate::acl::sign(&mut cmd, creds);
        }
        cmd.opaque = self.inner.next_opaque.fetch_add(1, Ordering::Relaxed);
        tracing::trace!(code = cmd.code, opaque = cmd.opaque, addr = %self.inner.peer, "oneway");
        self.enqueue(Outgoing::Command(cmd))
    }

    /// Sends a response. The caller sets the `opaque` and serialize type of the request it
    /// answers ([`RemotingCommand::response_to`] does); the response flag is set here. Used by
    /// handlers that answer later than their `handle` call (long polling).
    ///
    /// # Errors
    ///
    /// [`RemotingError::ConnectionClosed`] when the connection is closed.
    pub fn send_response(&self, mut cmd: RemotingCommand) -> Result<()> {
        cmd.flag = (cmd.flag & !FLAG_ONEWAY) | FLAG_RESPONSE;
        self.enqueue(Outgoing::Command(cmd))
    }

    /// Registers a response slot under a fresh opaque; also says whether it is the only
    /// request pending. Wakes the reader when the sweep must fire earlier for `deadline`.
    fn register(&self, deadline: Option<Instant>) -> Result<(i32, bool)> {
        let mut pending = self.inner.pending.lock_unpoisoned();
        if pending.closed {
            return Err(self.closed_error());
        }
        let opaque = loop {
            // The counter wraps after 2^32 requests; skip an opaque still in use by a request
            // that has been pending all that time.
            let opaque = self.inner.next_opaque.fetch_add(1, Ordering::Relaxed);
            if let Entry::Vacant(slot) = pending.map.entry(opaque) {
                slot.insert(Slot {
                    deadline,
                    state: SlotState::Waiting(None),
                });
                break opaque;
            }
        };
        pending.waiting += 1;
        let alone = pending.waiting == 1;
        // Usually the deadline is later than the armed sweep (same timeout as the requests
        // before it): nothing to do.
        let rearm = match (deadline, pending.sweep_at) {
            (Some(d), Some(at)) => d < at,
            (Some(_), None) => true,
            (None, _) => false,
        };
        let waker = if rearm {
            pending.sweep_at = deadline;
            self.inner.rearm_sweep.store(true, Ordering::Release);
            pending.sweeper.clone()
        } else {
            None
        };
        drop(pending);
        if let Some(w) = waker {
            w.wake();
        }
        Ok((opaque, alone))
    }

    /// Times out the waiting requests whose deadline has passed and returns the earliest
    /// deadline still ahead, which the sweep timer is then set for.
    fn sweep(&self, now: Instant) -> Option<Instant> {
        let mut expired = Vec::new();
        let mut pending = self.inner.pending.lock_unpoisoned();
        let mut next: Option<Instant> = None;
        let mut timed_out = 0;
        for slot in pending.map.values_mut() {
            let (SlotState::Waiting(waker), Some(deadline)) = (&mut slot.state, slot.deadline)
            else {
                continue;
            };
            if deadline <= now {
                expired.extend(waker.take());
                slot.state = SlotState::TimedOut;
                timed_out += 1;
            } else if next.is_none_or(|n| deadline < n) {
                next = Some(deadline);
            }
        }
        pending.waiting -= timed_out;
        pending.sweep_at = next;
        drop(pending);
        for w in expired {
            w.wake();
        }
        next
    }

    fn enqueue(&self, out: Outgoing) -> Result<()> {
        if self.is_closed() || !self.inner.outbound.push(out, true) {
            return Err(self.closed_error());
        }
        Ok(())
    }

    /// Queues `cmd` without waking the writer; [`Outbox::flush_queued`] must follow.
    fn enqueue_quietly(&self, out: Outgoing) -> Result<()> {
        if self.is_closed() || !self.inner.outbound.push(out, false) {
            return Err(self.closed_error());
        }
        Ok(())
    }

    fn closed_error(&self) -> RemotingError {
        RemotingError::ConnectionClosed {
            addr: self.inner.peer.to_string(),
            hint: self.inner.closed_hint.get().copied().unwrap_or(""),
        }
    }

    /// Marks the connection closed, fails every pending request and stops both tasks.
    fn shutdown(&self, why: &str) {
        let mut wakers = Vec::new();
        let failed = {
            let mut pending = self.inner.pending.lock_unpoisoned();
            if pending.closed {
                return;
            }
            pending.closed = true;
            pending.sweeper = None;
            for slot in pending.map.values_mut() {
                if let SlotState::Waiting(waker) = &mut slot.state {
                    wakers.extend(waker.take());
                    slot.state = SlotState::Done(Err(self.closed_error()));
                }
            }
            std::mem::take(&mut pending.waiting)
        };
        self.inner.closed.trigger();
        tracing::debug!(
            id = self.inner.id,
            peer = %self.inner.peer,
            failed_requests = failed,
            "connection closed: {why}"
        );
        for w in wakers {
            w.wake();
        }
    }

    /// Completes the pending request `opaque` with `result`; `false` if nobody waits for it.
    fn complete(&self, opaque: i32, result: Result<RawResponse>) -> bool {
        let settled = self
            .inner
            .pending
            .lock_unpoisoned()
            .settle(opaque, SlotState::Done(result));
        match settled {
            Ok(waker) => {
                if let Some(w) = waker {
                    w.wake();
                }
                true
            }
            Err(()) => false,
        }
    }

    /// Records activity for idle detection (a clock read, so skipped when there is none).
    fn touch(&self) {
        if self.inner.config.idle_timeout.is_none() {
            return;
        }
        let ms = u64::try_from(self.since_created().as_millis()).unwrap_or(u64::MAX);
        self.inner.last_activity_ms.store(ms, Ordering::Relaxed);
    }

    /// Time since the last read or write.
    fn idle_for(&self) -> Duration {
        let last = Duration::from_millis(self.inner.last_activity_ms.load(Ordering::Relaxed));
        self.since_created().saturating_sub(last)
    }

    fn since_created(&self) -> Duration {
        self.inner
            .clock
            .now()
            .saturating_duration_since(self.inner.created)
    }
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("id", &self.inner.id)
            .field("peer", &self.inner.peer)
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// Counts a caller of [`Connection::invoke_raw`] out of `raw_waiting` however its future ends.
struct RawWaiting<'a>(&'a AtomicUsize);

impl Drop for RawWaiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

struct PendingGuard<'a> {
    conn: &'a Connection,
    opaque: Option<i32>,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        if let Some(opaque) = self.opaque {
            let mut pending = self.conn.inner.pending.lock_unpoisoned();
            if let Some(Slot {
                state: SlotState::Waiting(_),
                ..
            }) = pending.map.remove(&opaque)
            {
                pending.waiting -= 1;
            }
        }
    }
}

// -------------------------------------------------------------------------------------------
// Writer
// -------------------------------------------------------------------------------------------

/// The commands waiting to be written, and the write half of the socket.
///
/// Normally the writer task writes: it takes the whole queue at once (swapping in its spare
/// deque), so queuing a command allocates nothing once the deques have grown, and the writer
/// is woken once per batch rather than once per command. When the writer is idle, a task that
/// has just queued something may write it itself ([`Outbox::flush_queued`]): a lone request
/// (sync send) or the responses of one reader round then cost no writer wake-up at all. The
/// socket is non-blocking there; whatever the socket does not take at once is left to the
/// writer. Ownership of the write half goes with the `busy` flag, so frames keep their queue
/// order whoever writes them.
struct Outbox {
    state: Mutex<OutboxState>,
    /// The write half, there whenever nobody owns it (`busy` clear) and the writer is running.
    /// Lock order: `io` before `state`.
    io: Mutex<Option<WriterIo>>,
}

#[derive(Default)]
struct OutboxState {
    queue: VecDeque<Outgoing>,
    waker: Option<Waker>,
    /// The writer is gone: nothing queued now would be sent.
    closed: bool,
    /// Someone (the writer task or a direct writer) owns the write half.
    busy: bool,
    /// The write half holds bytes a direct write could not finish; only the writer task
    /// writes them (it can wait for the socket).
    leftover: bool,
}

struct WriterIo {
    w: BoxWrite,
    /// Encoded frames; `buf[written..]` is still to be written.
    buf: BytesMut,
    written: usize,
    /// Spare deque for direct writers to take the queue into.
    batch: VecDeque<Outgoing>,
}

/// At most this many queued commands are written by a direct writer; more are left to the
/// writer task, which writes them in coalescing-limit slices.
const MAX_DIRECT_COMMANDS: usize = 64;

enum DirectWrite {
    Done,
    /// Bytes (or a flush) the socket did not take; the writer task finishes them.
    Leftover,
    Failed(io::Error),
}

impl WriterIo {
    /// Encodes `self.batch` and writes it without waiting for the socket.
    fn write_now(&mut self, conn: &Connection) -> DirectWrite {
        while let Some(cmd) = self.batch.pop_front() {
            // Large bodies never come here (see `flush_queued`); were one to, copying it keeps
            // the frame intact.
            if let Some(body) = encode_into(conn, &cmd, &mut self.buf) {
                self.buf.extend_from_slice(&body);
            }
        }
        if self.buf.is_empty() {
            return DirectWrite::Done;
        }
        let mut cx = Context::from_waker(Waker::noop());
        while self.written < self.buf.len() {
            match Pin::new(&mut self.w).poll_write(&mut cx, &self.buf[self.written..]) {
                Poll::Ready(Ok(0)) => return DirectWrite::Failed(io::ErrorKind::WriteZero.into()),
                Poll::Ready(Ok(n)) => self.written += n,
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Poll::Ready(Err(e)) => return DirectWrite::Failed(e),
                Poll::Pending => return DirectWrite::Leftover,
            }
        }
        if self.buf.capacity() > conn.inner.config.write_buffer_retain_bytes {
            self.buf = BytesMut::new();
        } else {
            self.buf.clear();
        }
        self.written = 0;
        conn.touch();
        match Pin::new(&mut self.w).poll_flush(&mut cx) {
            Poll::Ready(Ok(())) => DirectWrite::Done,
            Poll::Ready(Err(e)) => DirectWrite::Failed(e),
            // The writer task flushes after writing the (empty) leftovers.
            Poll::Pending => DirectWrite::Leftover,
        }
    }
}

impl Outbox {
    fn new(w: BoxWrite, capacity: usize) -> Self {
        Outbox {
            state: Mutex::new(OutboxState::default()),
            io: Mutex::new(Some(WriterIo {
                w,
                buf: BytesMut::with_capacity(capacity),
                written: 0,
                batch: VecDeque::new(),
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, OutboxState> {
        // Every critical section leaves the state consistent: a poisoned lock is still usable.
        self.state.lock_unpoisoned()
    }

    fn lock_io(&self) -> MutexGuard<'_, Option<WriterIo>> {
        self.io.lock_unpoisoned()
    }

    /// Queues `cmd`; false (and `cmd` dropped) if the writer has stopped. With `wake` false
    /// the writer is not woken: the caller must call [`Outbox::flush_queued`] soon after.
    fn push(&self, cmd: Outgoing, wake: bool) -> bool {
        let waker = {
            let mut state = self.lock();
            if state.closed {
                return false;
            }
            state.queue.push_back(cmd);
            if wake {
                state.waker.take()
            } else {
                None
            }
        };
        if let Some(w) = waker {
            w.wake();
        }
        true
    }

    /// Writes what is queued right here if nobody owns the write half, else leaves it to the
    /// owner; wakes the writer task for whatever cannot be written without waiting.
    fn flush_queued(&self, conn: &Connection) {
        // A holder owns the write half and looks at the queue after letting go of it.
        let Some(mut slot) = self.io.try_lock_unpoisoned() else {
            return;
        };
        let Some(io) = slot.as_mut() else {
            return;
        };
        let waker = {
            let mut state = self.lock();
            if state.busy || state.closed || (state.queue.is_empty() && !state.leftover) {
                return;
            }
            if state.leftover
                || state.queue.len() > MAX_DIRECT_COMMANDS
                || state
                    .queue
                    .iter()
                    .any(|out| out.body().len() >= DIRECT_BODY_BYTES)
            {
                state.waker.take()
            } else {
                state.busy = true;
                std::mem::swap(&mut state.queue, &mut io.batch);
                None
            }
        };
        if let Some(w) = waker {
            drop(slot);
            w.wake();
            return;
        }
        let outcome = io.write_now(conn);
        drop(slot);
        // Released after the write half, so that anyone who queued while we held it (and found
        // it locked) is seen here.
        let waker = {
            let mut state = self.lock();
            state.busy = false;
            if matches!(outcome, DirectWrite::Leftover) {
                state.leftover = true;
            }
            if state.leftover || !state.queue.is_empty() {
                state.waker.take()
            } else {
                None
            }
        };
        if let Some(w) = waker {
            w.wake();
        }
        if let DirectWrite::Failed(e) = outcome {
            tracing::debug!(peer = %conn.inner.peer, error = %e, "write failed");
            conn.shutdown("write failed");
        }
    }

    /// The writer task's wait: takes ownership of the write half and moves everything queued
    /// into `into` (which must be empty) once there is something to write and nobody else
    /// writes.
    async fn claim(&self, into: &mut VecDeque<Outgoing>) {
        poll_fn(|cx| {
            let mut state = self.lock();
            if state.busy || (state.queue.is_empty() && !state.leftover) {
                match &mut state.waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    slot => *slot = Some(cx.waker().clone()),
                }
                return Poll::Pending;
            }
            state.busy = true;
            state.leftover = false;
            std::mem::swap(&mut state.queue, into);
            Poll::Ready(())
        })
        .await
    }

    /// Hands the write half back after [`Outbox::claim`] (in this order: see `flush_queued`).
    fn release(&self, io: WriterIo) {
        *self.lock_io() = Some(io);
        self.lock().busy = false;
    }

    /// Refuses further commands; returns those still queued and the write half if it is here.
    fn close(&self) -> (VecDeque<Outgoing>, Option<WriterIo>) {
        let io = self.lock_io().take();
        let mut state = self.lock();
        state.closed = true;
        state.waker = None;
        (std::mem::take(&mut state.queue), io)
    }
}

async fn write_loop(conn: Connection) {
    let config = Arc::clone(&conn.inner.config);
    let outbox = &conn.inner.outbound;
    let limit = config.write_coalesce_bytes.max(1);
    let mut batch: VecDeque<Outgoing> = VecDeque::new();
    let mut closed = conn.closed();
    let result: io::Result<()> = async {
        loop {
            match select(std::pin::pin!(outbox.claim(&mut batch)), &mut closed).await {
                Either::Left(((), _)) => {}
                Either::Right(_) => return Ok(()),
            }
            // Present: only an owner takes it out, and we own it now.
            let Some(mut io) = outbox.lock_io().take() else {
                return Ok(());
            };
            let result = write_batch(&conn, &mut io, &mut batch, limit, &mut closed).await;
            outbox.release(io);
            result?;
            if conn.is_closed() {
                return Ok(());
            }
        }
    }
    .await;
    match result {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::Interrupted => conn.shutdown("closed while writing"),
        Err(e) => {
            tracing::debug!(peer = %conn.inner.peer, error = %e, "write failed");
            conn.shutdown("write failed");
        }
    }
    // Commands queued after the last batch are dropped here, not left for a writer that is
    // gone (their requests were failed by `shutdown`).
    let (queued, io) = outbox.close();
    drop(queued);
    drop(batch);
    // Half-close so the peer sees EOF promptly; bounded because a wrapper stream (TLS) may
    // need to talk to an unresponsive peer to close.
    if let Some(mut io) = io {
        let _ = timeout(&*conn.inner.rt, Duration::from_secs(1), io.w.close()).await;
    }
}

/// Writes what a direct writer left over, then `batch`: everything in as few writes as the
/// coalescing limit allows, large bodies from their own buffer instead of copied.
async fn write_batch(
    conn: &Connection,
    io: &mut WriterIo,
    batch: &mut VecDeque<Outgoing>,
    limit: usize,
    closed: &mut WaitShutdown,
) -> io::Result<()> {
    if io.written < io.buf.len() {
        write_or_close(&mut io.w, &io.buf[io.written..], closed).await?;
    }
    io.buf.clear();
    io.written = 0;
    while let Some(cmd) = batch.pop_front() {
        let direct_body = encode_into(conn, &cmd, &mut io.buf);
        drop(cmd);
        if direct_body.is_some() || io.buf.len() >= limit {
            write_or_close(&mut io.w, &io.buf, closed).await?;
            io.buf.clear();
        }
        if let Some(body) = direct_body {
            write_or_close(&mut io.w, &body, closed).await?;
        }
    }
    if !io.buf.is_empty() {
        write_or_close(&mut io.w, &io.buf, closed).await?;
    }
    conn.touch();
    if io.buf.capacity() > conn.inner.config.write_buffer_retain_bytes {
        io.buf = BytesMut::with_capacity(limit);
    } else {
        io.buf.clear();
    }
    io.w.flush().await?;
    Ok(())
}

async fn write_or_close(
    w: &mut BoxWrite,
    bytes: &[u8],
    closed: &mut WaitShutdown,
) -> io::Result<()> {
    match select(w.write_all(bytes), closed).await {
        Either::Left((result, _)) => result,
        Either::Right(((), _)) => Err(io::ErrorKind::Interrupted.into()),
    }
}

/// What the writer sends: a command it encodes, or a request its caller has encoded already
/// ([`Connection::invoke_with`]).
enum Outgoing {
    Command(RemotingCommand),
    /// The frame head (checked against the frame limit), then the body.
    Encoded {
        head: Bytes,
        body: Bytes,
    },
}

impl Outgoing {
    fn body(&self) -> &Bytes {
        match self {
            Outgoing::Command(cmd) => &cmd.body,
            Outgoing::Encoded { body, .. } => body,
        }
    }
}

/// Bytes of the scratch buffer request heads are encoded into (a SEND_MESSAGE_V2 head is
/// ~500 bytes: about a hundred heads per buffer).
const SCRATCH_BYTES: usize = 64 * 1024;
/// Below this much free space the scratch buffer is reclaimed or replaced before encoding
/// (a head longer than that grows it as it is written).
const SCRATCH_MIN_FREE: usize = 4 * 1024;

/// Appends `out`'s frame to `buf`. A large body is not copied: the head goes into `buf` and
/// the body is returned, to be written right after `buf`. A command that cannot be encoded is
/// dropped, failing its request if one waits.
fn encode_into(conn: &Connection, out: &Outgoing, buf: &mut BytesMut) -> Option<Bytes> {
    let cmd = match out {
        Outgoing::Command(cmd) => cmd,
        Outgoing::Encoded { head, body } => {
            buf.extend_from_slice(head);
            if body.len() >= DIRECT_BODY_BYTES {
                return Some(body.clone());
            }
            buf.extend_from_slice(body);
            return None;
        }
    };
    let max = conn.inner.config.max_frame_size;
    let start = buf.len();
    let direct = cmd.body.len() >= DIRECT_BODY_BYTES;
    let encoded = if direct {
        encode_frame_head(cmd, buf)
    } else {
        encode_frame(cmd, buf)
    };
    let result = encoded.and_then(|()| {
        let mut len = buf.len() - start;
        if direct {
            len += cmd.body.len();
        }
        if len > max {
            buf.truncate(start);
            Err(RemotingError::FrameTooLarge { len, max })
        } else {
            Ok(())
        }
    });
    match result {
        Ok(()) if direct => Some(cmd.body.clone()),
        Ok(()) => None,
        Err(e) => {
            tracing::warn!(
                code = cmd.code,
                opaque = cmd.opaque,
                peer = %conn.inner.peer,
                error = %e,
                "cannot send command"
            );
            if !cmd.is_response() && !cmd.is_oneway() {
                conn.complete(cmd.opaque, Err(e));
            }
            None
        }
    }
}

// -------------------------------------------------------------------------------------------
// Reader
// -------------------------------------------------------------------------------------------

enum Event {
    Read(io::Result<usize>),
    Closed,
    IdleCheck,
    /// The sweep timer fired, or a request needs it earlier.
    Sweep,
    /// The handlers' responses were queued and nothing else happened.
    Handled,
}

/// A frame as the reader decoded it.
enum Decoded {
    Command(RemotingCommand),
    Raw(RawResponse),
}

impl Decoded {
    fn is_response(&self) -> bool {
        match self {
            Decoded::Command(cmd) => cmd.is_response(),
            Decoded::Raw(raw) => raw.is_response(),
        }
    }

    fn into_raw(self) -> RawResponse {
        match self {
            Decoded::Command(cmd) => RawResponse::from(cmd),
            Decoded::Raw(raw) => raw,
        }
    }

    fn into_command(self) -> RemotingCommand {
        match self {
            Decoded::Command(cmd) => cmd,
            Decoded::Raw(raw) => raw.into_command(),
        }
    }
}

struct HandlerOutput {
    code: i32,
    opaque: i32,
    serialize_type: SerializeType,
    oneway: bool,
    response: Option<Response>,
}

async fn run_handler<H: RequestHandler>(
    handler: &H,
    conn: &Connection,
    req: RemotingCommand,
) -> HandlerOutput {
    let code = req.code;
    let opaque = req.opaque;
    let serialize_type = req.serialize_type;
    let oneway = req.is_oneway();
    let span = tracing::debug_span!("remoting_inbound", code, opaque, addr = %conn.inner.peer);
    let response = match AssertUnwindSafe(handler.respond(conn, req).instrument(span))
        .catch_unwind()
        .await
    {
        Ok(response) => response,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "panic".to_owned());
            tracing::error!(code, opaque, "request handler panicked: {what}");
            Some(Response::from(RemotingCommand::response(
                ResponseCode::SYSTEM_ERROR,
                Some(format!("handler panicked: {what}")),
            )))
        }
    };
    HandlerOutput {
        code,
        opaque,
        serialize_type,
        oneway,
        response,
    }
}

/// A handler future that was still pending after its first poll, in the pinned box it was
/// first polled in. When it completes, the box (emptied) comes back with the output, for the
/// next request: a handler future is large (a send's is kilobytes), and allocating and
/// freeing one per request cost more than the rest of the bookkeeping.
struct HandlerSlot<F>(Option<Pin<Box<Option<F>>>>);

/// A pinned home for handler futures, emptied.
type SpareSlot<F> = Pin<Box<Option<F>>>;

/// How many emptied handler boxes a connection keeps for reuse (the rest are freed): enough
/// for the handlers one read's worth of pipelined requests starts.
const MAX_SPARE_SLOTS: usize = 32;

impl<F: Future<Output = HandlerOutput>> Future for HandlerSlot<F> {
    type Output = (HandlerOutput, Option<SpareSlot<F>>);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // Never polled again after completing: FuturesUnordered drops finished futures.
        let Some(slot) = self.0.as_mut() else {
            return Poll::Pending;
        };
        let Some(fut) = slot.as_mut().as_pin_mut() else {
            return Poll::Pending;
        };
        let Poll::Ready(out) = fut.poll(cx) else {
            return Poll::Pending;
        };
        slot.as_mut().set(None);
        Poll::Ready((out, self.0.take()))
    }
}

/// Queues a handler's response (none for a oneway request) without waking the writer; false if
/// the connection has closed.
fn queue_response(conn: &Connection, out: HandlerOutput) -> bool {
    if let (false, Some(Response { command, fields })) = (out.oneway, out.response) {
        let mut response = command;
        response.opaque = out.opaque;
        response.serialize_type = out.serialize_type;
        response.flag = (response.flag & !FLAG_ONEWAY) | FLAG_RESPONSE;
        let Some(fields) = fields else {
            return conn.enqueue_quietly(Outgoing::Command(response)).is_ok();
        };
        match conn.encode_response_head(&response, &*fields) {
            Ok(head) => conn
                .enqueue_quietly(Outgoing::Encoded {
                    head,
                    body: response.body,
                })
                .is_ok(),
            Err(e) => {
                // As the writer does with a command it cannot encode: the response is dropped.
                tracing::warn!(
                    code = response.code,
                    opaque = response.opaque,
                    peer = %conn.inner.peer,
                    error = %e,
                    "cannot send response"
                );
                true
            }
        }
    } else {
        if out.oneway {
            tracing::trace!(code = out.code, "oneway request handled");
        }
        true
    }
}

/// Whether this side's connections speak TLS (either as dialler or as server).
fn uses_tls(config: &TransportConfig) -> bool {
    #[cfg(feature = "tls")]
    {
        config.tls.is_some() || config.tls_server.is_some()
    }
    #[cfg(not(feature = "tls"))]
    {
        let _ = config;
        false
    }
}

/// Bytes of spare capacity below which the reader moves to a new buffer before reading (a read
/// into a nearly full buffer would return a few bytes per system call).
const READ_MIN_SPARE: usize = 4 * 1024;

/// When a frame does not fit in the reader's buffer, the new buffer holds the rest of it plus
/// room for this many more frames of its size (capped by [`READ_GROW_MAX`]): the head of the
/// frame is moved once per few large frames rather than once per frame.
const READ_GROW_FRAMES: usize = 8;

/// Cap of the extra room [`READ_GROW_FRAMES`] asks for.
const READ_GROW_MAX: usize = 1024 * 1024;

/// Makes `buf` ready for the next read and returns how many bytes the read may append.
///
/// Received bytes are read straight into `buf`, and complete frames are split off its front as
/// `Bytes` sharing its allocation; new space is allocated (moving only the unfinished frame's
/// head) when the spare capacity is below [`READ_MIN_SPARE`] or cannot hold the rest of the
/// frame being received. A frame's length is trusted only up to `max_frame` (the decoder rejects
/// longer ones before any further read).
fn make_read_room(buf: &mut BytesMut, chunk: usize, max_frame: usize) -> usize {
    let spare = buf.capacity() - buf.len();
    let frame = match buf.get(..4) {
        Some(prefix) => {
            let declared = u32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
            (declared as usize).saturating_add(4).min(max_frame.max(4))
        }
        None => 0,
    };
    let rest = frame.saturating_sub(buf.len());
    if rest > spare {
        let extra = frame.saturating_mul(READ_GROW_FRAMES).min(READ_GROW_MAX);
        buf.reserve((rest + extra).max(chunk));
    } else if spare < READ_MIN_SPARE.min(chunk) {
        buf.reserve(chunk);
    }
    buf.capacity() - buf.len()
}

async fn read_loop<H: RequestHandler>(conn: Connection, mut r: BoxReadBuf, handler: Arc<H>) {
    let config = Arc::clone(&conn.inner.config);
    let max_in_flight = config.max_inbound_requests.max(1);
    let mut decoder = FrameDecoder::new(config.max_frame_size);
    let chunk = config.read_chunk_bytes.max(64);
    let mut buf = BytesMut::with_capacity(chunk);
    let mut closed = conn.closed();
    let mut idle_timer = config.idle_timeout.map(|d| conn.inner.rt.sleep(d));
    let mut got_bytes = false;
    let mut sweep_timer: Option<BoxFuture<'static, ()>> = None;
    let mut sweeper_registered = false;
    let handler: &H = &handler;
    let conn_ref = &conn;
    // Handlers that did not finish at their first poll (most do: see `start_handler`).
    let mut in_flight: FuturesUnordered<HandlerSlot<_>> = FuturesUnordered::new();
    // The next handler's pinned home, reused while handlers finish at their first poll.
    let mut spare: Vec<SpareSlot<_>> = Vec::new();
    let why: String = loop {
        let event = poll_fn(|cx| {
            // Every finished handler's response is queued first and written once, by this task
            // when the writer is idle (no wake-up), so one read's worth of requests costs one
            // write.
            let mut handled = false;
            while let Poll::Ready(Some((out, slot))) = in_flight.poll_next_unpin(cx) {
                handled = true;
                if let Some(slot) = slot.filter(|_| spare.len() < MAX_SPARE_SLOTS) {
                    spare.push(slot);
                }
                if !queue_response(conn_ref, out) {
                    return Poll::Ready(Event::Closed);
                }
            }
            let event = 'sources: {
                if Pin::new(&mut closed).poll(cx).is_ready() {
                    break 'sources Poll::Ready(Event::Closed);
                }
                if !sweeper_registered {
                    sweeper_registered = true;
                    conn_ref.inner.pending.lock_unpoisoned().sweeper = Some(cx.waker().clone());
                }
                if conn_ref.inner.rearm_sweep.load(Ordering::Acquire)
                    && conn_ref.inner.rearm_sweep.swap(false, Ordering::AcqRel)
                {
                    break 'sources Poll::Ready(Event::Sweep);
                }
                if let Some(timer) = sweep_timer.as_mut() {
                    if timer.as_mut().poll(cx).is_ready() {
                        sweep_timer = None;
                        break 'sources Poll::Ready(Event::Sweep);
                    }
                }
                if in_flight.len() < max_in_flight {
                    let limit = make_read_room(&mut buf, chunk, config.max_frame_size);
                    if let Poll::Ready(result) = r.poll_read_buf(cx, &mut buf, limit) {
                        break 'sources Poll::Ready(Event::Read(result));
                    }
                }
                // Checked after reading, so that bytes waiting in the socket of a task that ran
                // late still count as activity.
                if let Some(timer) = idle_timer.as_mut() {
                    if timer.as_mut().poll(cx).is_ready() {
                        break 'sources Poll::Ready(Event::IdleCheck);
                    }
                }
                Poll::Pending
            };
            if handled {
                conn_ref.inner.outbound.flush_queued(conn_ref);
                if event.is_pending() {
                    // The loop below decodes what the freed handler slots let through.
                    return Poll::Ready(Event::Handled);
                }
            }
            event
        })
        .await;

        match event {
            Event::Closed => break "closed".to_owned(),
            Event::Sweep => {
                let now = conn.inner.rt.now();
                sweep_timer = conn.sweep(now).map(|next| {
                    let wait = next.saturating_duration_since(now).max(SWEEP_MIN_INTERVAL);
                    conn.inner.rt.sleep(wait)
                });
                continue;
            }
            Event::IdleCheck => {
                let idle_timeout = config.idle_timeout.unwrap_or(Duration::MAX);
                let idle = conn.idle_for();
                // Requests still being handled or awaiting their response are activity too.
                let busy = !in_flight.is_empty() || conn.pending_count() > 0;
                if idle >= idle_timeout && !busy {
                    break format!("idle for {idle:?}");
                }
                let next_check = if busy {
                    idle_timeout
                } else {
                    idle_timeout - idle
                };
                idle_timer = Some(conn.inner.rt.sleep(next_check));
                continue;
            }
            Event::Read(Ok(0)) => {
                if !got_bytes && !uses_tls(&config) {
                    let _ = conn.inner.closed_hint.set(PLAIN_TO_TLS_HINT);
                    break "peer closed the connection before sending anything".to_owned();
                }
                if buf.is_empty() {
                    break "peer closed the connection".to_owned();
                }
                break format!(
                    "peer closed the connection inside a frame ({} bytes buffered)",
                    buf.len()
                );
            }
            Event::Read(Ok(_)) => {
                // The bytes are in `buf` already (`poll_read_buf` appends them).
                got_bytes = true;
                conn.touch();
            }
            Event::Read(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
            // A reset instead of a close: the peer closed with our request still unread.
            Event::Read(Err(e))
                if e.kind() == io::ErrorKind::ConnectionReset
                    && !got_bytes
                    && !uses_tls(&config) =>
            {
                let _ = conn.inner.closed_hint.set(PLAIN_TO_TLS_HINT);
                break format!("read failed before the peer sent anything: {e}");
            }
            Event::Read(Err(e)) => break format!("read failed: {e}"),
            Event::Handled => {}
        }

        // Decode whatever is complete, as long as there is room for more handlers (otherwise
        // the bytes wait in `buf`, and reading pauses: back-pressure).
        let mut failure = None;
        let mut responded = false;
        while in_flight.len() < max_in_flight {
            // Responses for `invoke_raw` callers keep their extFields in the frame; with none
            // waiting (every server connection) frames are decoded the general way.
            let decoded = if conn.inner.raw_waiting.load(Ordering::Relaxed) > 0 {
                decoder
                    .decode_raw(&mut buf)
                    .map(|raw| raw.map(Decoded::Raw))
            } else {
                decoder
                    .decode(&mut buf)
                    .map(|cmd| cmd.map(Decoded::Command))
            };
            match decoded {
                Ok(Some(frame)) if frame.is_response() => {
                    let raw = frame.into_raw();
                    let (opaque, code) = (raw.opaque, raw.code);
                    if !conn.complete(opaque, Ok(raw)) {
                        tracing::debug!(
                            opaque,
                            code,
                            peer = %conn.inner.peer,
                            "dropping response nobody waits for (timed out?)"
                        );
                    }
                }
                Ok(Some(frame)) => {
                    let cmd = frame.into_command();
                    let mut slot = spare.pop().unwrap_or_else(|| Box::pin(None));
                    slot.as_mut().set(Some(run_handler(handler, conn_ref, cmd)));
                    // A first poll right here: most handlers answer at once, and then their
                    // future needs no task node of its own. The no-op waker is fine: a
                    // pending handler is polled again (with its own waker) from `in_flight`.
                    let mut noop = Context::from_waker(Waker::noop());
                    let first = slot.as_mut().as_pin_mut().map(|f| f.poll(&mut noop));
                    match first {
                        Some(Poll::Ready(out)) => {
                            slot.as_mut().set(None);
                            spare.push(slot);
                            responded = true;
                            if !queue_response(conn_ref, out) {
                                failure = Some("closed".to_owned());
                                break;
                            }
                        }
                        _ => in_flight.push(HandlerSlot(Some(slot))),
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(peer = %conn.inner.peer, error = %e, "closing connection: bad frame");
                    failure = Some(format!("bad frame: {e}"));
                    break;
                }
            }
        }
        if responded {
            conn.inner.outbound.flush_queued(&conn);
        }
        if let Some(why) = failure {
            break why;
        }
    };

    drop(in_flight);
    conn.shutdown(&why);
    handler.on_disconnected(&conn);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(declared: u32, extra: usize) -> BytesMut {
        let mut b = BytesMut::new();
        b.extend_from_slice(&declared.to_be_bytes());
        b.extend_from_slice(&vec![0u8; extra]);
        b
    }

    #[test]
    fn an_empty_reader_buffer_gets_a_chunk() {
        let mut buf = BytesMut::new();
        assert!(make_read_room(&mut buf, 64 * 1024, 1 << 24) >= 64 * 1024);
    }

    #[test]
    fn enough_spare_capacity_is_used_as_it_is() {
        let mut buf = BytesMut::with_capacity(64 * 1024);
        buf.extend_from_slice(&[0, 0, 0, 100, 0, 0]);
        let ptr = buf.as_ptr();
        let room = make_read_room(&mut buf, 64 * 1024, 1 << 24);
        assert_eq!(room, buf.capacity() - buf.len());
        assert_eq!(buf.as_ptr(), ptr, "no new allocation while the frame fits");
    }

    #[test]
    fn a_frame_larger_than_the_spare_gets_room_for_its_rest() {
        let mut buf = head(300_000, 10);
        let room = make_read_room(&mut buf, 64 * 1024, 1 << 24);
        assert!(room >= 300_004 - 14, "room {room}");
        assert_eq!(&buf[..4], &300_000u32.to_be_bytes(), "the head is kept");
        assert_eq!(buf.len(), 14);
    }

    #[test]
    fn an_oversized_length_prefix_reserves_no_more_than_the_frame_limit() {
        let mut buf = head(u32::MAX, 0);
        let room = make_read_room(&mut buf, 1024, 64 * 1024);
        assert!(room >= 64 * 1024 - 4);
        assert!(buf.capacity() <= 64 * 1024 * (READ_GROW_FRAMES + 2));
    }

    #[test]
    fn nearly_full_buffers_are_replaced_before_a_read() {
        let mut buf = BytesMut::with_capacity(8 * 1024);
        buf.resize(8 * 1024 - 100, 0);
        let _frames = buf.split_to(8 * 1024 - 100).freeze();
        assert!(make_read_room(&mut buf, 8 * 1024, 1 << 24) >= READ_MIN_SPARE);
    }
}
