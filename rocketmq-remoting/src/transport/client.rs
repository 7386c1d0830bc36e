//! [`RemotingClient`]: a pool of one [`Connection`] per peer address.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use futures::channel::oneshot;
use futures::future::{FutureExt, Shared};

use super::{Connection, RequestHandler, TransportConfig};
use crate::error::{RemotingError, Result};
use crate::protocol::code::ResponseCode;
use crate::protocol::header::WriteFields;
use crate::protocol::{RawResponse, RemotingCommand};
use crate::rt::{run_blocking, timeout, BoxFuture, Runtime};
use crate::util::hash::KeyMap;
use crate::util::{MutexExt, RwLockExt};
use bytes::Bytes;

/// Answers requests that a peer (a broker) sends to the client on a pooled connection:
/// CHECK_TRANSACTION_STATE, NOTIFY_CONSUMER_IDS_CHANGED, GET_CONSUMER_RUNNING_INFO, ...
/// (docs/protocol/frame.md §1). Return `None` to send no response.
///
/// This path is rare, so the handler is a boxed closure rather than a generic.
pub type ClientRequestHandler = Arc<
    dyn Fn(Connection, RemotingCommand) -> BoxFuture<'static, Option<RemotingCommand>>
        + Send
        + Sync,
>;

/// A remoting client: sends requests to peers by address over pooled connections.
///
/// - One connection per address, dialled on first use. Concurrent callers share one dial; no
///   lock is held while dialling.
/// - A connection that died is dropped and redialled on next use. When a dial fails, the
///   address is not redialled before a capped exponential back-off with jitter
///   ([`TransportConfig::reconnect_backoff_initial`], [`TransportConfig::reconnect_backoff_max`])
///   has passed; calls in between fail at once with the last dial error.
/// - Addresses are `"host:port"` strings. IP literals are parsed directly; host names are
///   resolved with the system resolver on the runtime's blocking pool, and the first address
///   returned is dialled.
///
/// Requests a peer sends to the client go to the handler set with
/// [`set_request_handler`](RemotingClient::set_request_handler); without one they are answered
/// `REQUEST_CODE_NOT_SUPPORTED` (oneway requests are not answered), like the Java client does.
///
/// Clones share the pool. Dropping the last clone closes the pooled connections.
///
/// See the [module documentation](super) for an example.
#[derive(Clone)]
pub struct RemotingClient {
    inner: Arc<ClientInner>,
}

struct ClientInner {
    rt: Arc<dyn Runtime>,
    config: Arc<TransportConfig>,
    dispatch: Arc<ClientDispatch>,
    pool: Mutex<Pool>,
}

#[derive(Default)]
struct Pool {
    shut_down: bool,
    /// By address, with the cheap hasher: every request looks its connection up here.
    slots: KeyMap<String, Slot>,
}

#[derive(Default)]
struct Slot {
    state: SlotState,
    /// Dials failed in a row.
    failures: u32,
    /// No redial before this instant.
    retry_at: Option<Instant>,
    last_error: Option<DialError>,
}

#[derive(Default)]
enum SlotState {
    #[default]
    Idle,
    Dialing(Shared<oneshot::Receiver<DialResult>>),
    Connected(Connection),
}

type DialResult = std::result::Result<Connection, DialError>;

/// A dial failure, shareable among the callers waiting for the dial.
#[derive(Clone, Debug)]
struct DialError {
    kind: io::ErrorKind,
    message: String,
}

impl DialError {
    fn new(e: &io::Error) -> Self {
        DialError {
            kind: e.kind(),
            message: e.to_string(),
        }
    }

    fn to_error(&self, addr: &str, suffix: &str) -> RemotingError {
        RemotingError::Connect {
            addr: addr.to_owned(),
            source: io::Error::new(self.kind, format!("{}{suffix}", self.message)),
        }
    }
}

impl RemotingClient {
    /// A client spawning its connections on `rt`.
    pub fn new(rt: Arc<dyn Runtime>, config: TransportConfig) -> Self {
        RemotingClient {
            inner: Arc::new(ClientInner {
                rt,
                config: Arc::new(config),
                dispatch: Arc::new(ClientDispatch {
                    handler: RwLock::new(None),
                }),
                pool: Mutex::new(Pool::default()),
            }),
        }
    }

    /// Sets (or replaces) the handler for requests peers send to this client. It applies to
    /// requests arriving from now on, on existing and future connections.
    ///
    /// ```
    /// # #[cfg(feature = "runtime-tokio")]
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use std::sync::Arc;
    /// use rocketmq_rs_remoting::protocol::{RemotingCommand, code::ResponseCode};
    /// use rocketmq_rs_remoting::rt::default_runtime;
    /// use rocketmq_rs_remoting::transport::{RemotingClient, TransportConfig};
    ///
    /// let client = RemotingClient::new(default_runtime().unwrap(), TransportConfig::default());
    /// client.set_request_handler(Arc::new(|_conn, req: RemotingCommand| {
    ///     Box::pin(async move {
    ///         tracing::info!(code = req.code, "broker asked something");
    ///         Some(RemotingCommand::response(ResponseCode::SUCCESS, None))
    ///     })
    /// }));
    /// # });
    /// ```
    pub fn set_request_handler(&self, handler: ClientRequestHandler) {
        *self.inner.dispatch.handler.write_unpoisoned() = Some(handler);
    }

    /// The runtime the client runs on.
    pub fn runtime(&self) -> &Arc<dyn Runtime> {
        &self.inner.rt
    }

    /// The client's settings.
    pub fn config(&self) -> &TransportConfig {
        &self.inner.config
    }

    /// Sends `cmd` to `addr` and waits for the response. `timeout` covers getting a connection
    /// (dialling if needed) and the exchange.
    ///
    /// # Errors
    ///
    /// [`RemotingError::Connect`] when the address cannot be dialled (or is backing off after a
    /// failed dial), [`RemotingError::Timeout`], [`RemotingError::ConnectionClosed`],
    /// [`RemotingError::Shutdown`] after [`shutdown`](Self::shutdown), and the encoder's errors.
    pub async fn invoke(
        &self,
        addr: &str,
        cmd: RemotingCommand,
        timeout: Duration,
    ) -> Result<RemotingCommand> {
        let started = self.inner.rt.now();
        let code = cmd.code;
        let conn = self.connection_within(addr, code, timeout).await?;
        let remaining =
            timeout.saturating_sub(self.inner.rt.now().saturating_duration_since(started));
        conn.invoke(cmd, remaining).await
    }

    /// As [`invoke`](Self::invoke) for a request of `code` with the typed `header` and `body`,
    /// the header written straight into the frame (see [`Connection::invoke_with`]).
    ///
    /// # Errors
    ///
    /// As [`invoke`](Self::invoke).
    pub async fn invoke_with<H: WriteFields + ?Sized>(
        &self,
        addr: &str,
        code: i32,
        header: &H,
        body: Bytes,
        timeout: Duration,
    ) -> Result<RemotingCommand> {
        let started = self.inner.rt.now();
        let conn = self.connection_within(addr, code, timeout).await?;
        let remaining =
            timeout.saturating_sub(self.inner.rt.now().saturating_duration_since(started));
        conn.invoke_with(code, header, body, remaining).await
    }

    /// As [`invoke_with`](Self::invoke_with), returning the response with its extFields still
    /// in the received header (see [`Connection::invoke_raw`]).
    ///
    /// # Errors
    ///
    /// As [`invoke`](Self::invoke).
    pub async fn invoke_raw<H: WriteFields + ?Sized>(
        &self,
        addr: &str,
        code: i32,
        header: &H,
        body: Bytes,
        timeout: Duration,
    ) -> Result<RawResponse> {
        let started = self.inner.rt.now();
        let conn = self.connection_within(addr, code, timeout).await?;
        let remaining =
            timeout.saturating_sub(self.inner.rt.now().saturating_duration_since(started));
        conn.invoke_raw(code, header, body, remaining).await
    }

    /// Sends `cmd` to `addr` as a oneway request (no response). `timeout` bounds getting a
    /// connection; the call returns once the frame is queued.
    ///
    /// # Errors
    ///
    /// As [`invoke`](Self::invoke), minus the response timeout.
    pub async fn invoke_oneway(
        &self,
        addr: &str,
        cmd: RemotingCommand,
        timeout: Duration,
    ) -> Result<()> {
        let conn = self.connection_within(addr, cmd.code, timeout).await?;
        conn.send_oneway(cmd)
    }

    async fn connection_within(
        &self,
        addr: &str,
        code: i32,
        limit: Duration,
    ) -> Result<Connection> {
        if let Some(conn) = self.cached(addr)? {
            return Ok(conn);
        }
        // Boxed: the dial path is rare, and inline it would make every request's future
        // (and so every spawned send task) carry its state.
        let dial: crate::rt::BoxFuture<'_, Result<Connection>> = Box::pin(self.connection(addr));
        match timeout(&*self.inner.rt, limit, dial).await {
            Ok(result) => result,
            Err(_) => Err(RemotingError::Timeout {
                addr: addr.to_owned(),
                code,
                opaque: 0,
                timeout: limit,
            }),
        }
    }

    /// The live pooled connection to `addr`, if there is one (no dialling).
    fn cached(&self, addr: &str) -> Result<Option<Connection>> {
        let pool = self.inner.pool.lock_unpoisoned();
        if pool.shut_down {
            return Err(RemotingError::Shutdown);
        }
        Ok(match pool.slots.get(addr).map(|s| &s.state) {
            Some(SlotState::Connected(conn)) if !conn.is_closed() => Some(conn.clone()),
            _ => None,
        })
    }

    /// The pooled connection to `addr`, dialling it if needed (bounded by
    /// [`TransportConfig::connect_timeout`]).
    ///
    /// # Errors
    ///
    /// [`RemotingError::Connect`] when dialling fails or the address is backing off,
    /// [`RemotingError::Shutdown`] after [`shutdown`](Self::shutdown).
    pub async fn connection(&self, addr: &str) -> Result<Connection> {
        let dial = {
            let mut pool = self.inner.pool.lock_unpoisoned();
            if pool.shut_down {
                return Err(RemotingError::Shutdown);
            }
            if !pool.slots.contains_key(addr) {
                pool.slots.insert(addr.to_owned(), Slot::default());
            }
            let Some(slot) = pool.slots.get_mut(addr) else {
                return Err(RemotingError::Shutdown);
            };
            match &slot.state {
                SlotState::Connected(conn) if !conn.is_closed() => return Ok(conn.clone()),
                SlotState::Dialing(dial) => dial.clone(),
                SlotState::Connected(_) | SlotState::Idle => {
                    let now = self.inner.rt.now();
                    if let (Some(at), Some(err)) = (slot.retry_at, &slot.last_error) {
                        if now < at {
                            let wait = at - now;
                            return Err(err.to_error(addr, &format!(" (next dial in {wait:?})")));
                        }
                    }
                    let (tx, rx) = oneshot::channel();
                    let dial = rx.shared();
                    slot.state = SlotState::Dialing(dial.clone());
                    let task = dial_task(Arc::clone(&self.inner), addr.to_owned(), tx);
                    self.inner.rt.spawn(Box::pin(task));
                    dial
                }
            }
        };
        match dial.await {
            Ok(Ok(conn)) => Ok(conn),
            Ok(Err(e)) => Err(e.to_error(addr, "")),
            // The dial task was dropped unrun: the runtime is going away.
            Err(oneshot::Canceled) => Err(RemotingError::Shutdown),
        }
    }

    /// Closes and forgets the pooled connection to `addr` (a later call dials afresh, without
    /// back-off).
    pub fn close(&self, addr: &str) {
        let slot = self.inner.pool.lock_unpoisoned().slots.remove(addr);
        if let Some(Slot {
            state: SlotState::Connected(conn),
            ..
        }) = slot
        {
            conn.close();
        }
    }

    /// Closes every pooled connection and refuses further requests with
    /// [`RemotingError::Shutdown`]. Idempotent.
    pub fn shutdown(&self) {
        self.inner.shutdown();
    }
}

impl ClientInner {
    fn shutdown(&self) {
        let slots = {
            let mut pool = self.pool.lock_unpoisoned();
            pool.shut_down = true;
            std::mem::take(&mut pool.slots)
        };
        for (_, slot) in slots {
            if let SlotState::Connected(conn) = slot.state {
                conn.close();
            }
        }
    }
}

impl Drop for ClientInner {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl fmt::Debug for RemotingClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pool = self.inner.pool.lock_unpoisoned();
        f.debug_struct("RemotingClient")
            .field("addresses", &pool.slots.keys().collect::<Vec<_>>())
            .field("shut_down", &pool.shut_down)
            .finish()
    }
}

async fn dial_task(inner: Arc<ClientInner>, addr: String, tx: oneshot::Sender<DialResult>) {
    let result = dial(&inner, &addr).await;
    let outcome = {
        let mut pool = inner.pool.lock_unpoisoned();
        let shut_down = pool.shut_down;
        match (pool.slots.get_mut(&addr), result) {
            (Some(slot), Ok(conn)) if !shut_down => {
                slot.state = SlotState::Connected(conn.clone());
                slot.failures = 0;
                slot.retry_at = None;
                slot.last_error = None;
                Ok(conn)
            }
            (Some(slot), Err(e)) => {
                slot.state = SlotState::Idle;
                slot.failures = slot.failures.saturating_add(1);
                let delay = inner.config.backoff_delay(slot.failures);
                slot.retry_at = Some(inner.rt.now() + delay);
                slot.last_error = Some(e.clone());
                tracing::debug!(addr, failures = slot.failures, ?delay, error = %e.message, "dial failed");
                Err(e)
            }
            // Closed or shut down while dialling.
            (_, Ok(conn)) => {
                conn.close();
                Err(DialError {
                    kind: io::ErrorKind::ConnectionAborted,
                    message: "connection closed by the client while dialling".to_owned(),
                })
            }
            (None, Err(e)) => Err(e),
        }
    };
    let _ = tx.send(outcome);
}

async fn dial(inner: &ClientInner, addr: &str) -> DialResult {
    let socket_addr = resolve(&inner.rt, addr)
        .await
        .map_err(|e| DialError::new(&e))?;
    let connect = inner.rt.connect(socket_addr);
    let stream = match timeout(&*inner.rt, inner.config.connect_timeout, connect).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => return Err(DialError::new(&e)),
        Err(_) => {
            return Err(DialError {
                kind: io::ErrorKind::TimedOut,
                message: format!("connect timed out after {:?}", inner.config.connect_timeout),
            })
        }
    };
    tracing::debug!(addr, %socket_addr, "connected");
    #[cfg(feature = "tls")]
    let stream = match &inner.config.tls {
        // The handshake shares the connect budget, so a plain peer fails the dial in time.
        Some(tls) => {
            let limit = inner.config.connect_timeout;
            tls.connect_within(&*inner.rt, limit, addr, stream)
                .await
                .map_err(|e| DialError::new(&e))?
        }
        None => stream,
    };
    Ok(Connection::spawn(
        Arc::clone(&inner.rt),
        stream,
        socket_addr,
        Arc::clone(&inner.config),
        Arc::clone(&inner.dispatch),
    ))
}

/// Parses an `ip:port` literal, or resolves `host:port` off the async executor.
async fn resolve(rt: &Arc<dyn Runtime>, addr: &str) -> io::Result<SocketAddr> {
    if let Ok(socket_addr) = addr.parse::<SocketAddr>() {
        return Ok(socket_addr);
    }
    let host = addr.to_owned();
    let resolved = run_blocking(&**rt, move || {
        host.to_socket_addrs().map(|mut it| it.next())
    })
    .await?;
    resolved.ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("`{addr}` resolves to no address"),
        )
    })
}

/// Routes peer-initiated requests to the client's [`ClientRequestHandler`].
struct ClientDispatch {
    handler: RwLock<Option<ClientRequestHandler>>,
}

impl RequestHandler for ClientDispatch {
    fn handle(
        &self,
        conn: &Connection,
        req: RemotingCommand,
    ) -> impl Future<Output = Option<RemotingCommand>> + Send {
        let handler = self.handler.read_unpoisoned().clone();
        let conn = conn.clone();
        async move {
            match handler {
                Some(handler) => handler(conn, req).await,
                None if req.is_oneway() => None,
                None => {
                    tracing::debug!(code = req.code, peer = %conn.peer_addr(), "no handler for peer request");
                    Some(RemotingCommand::response(
                        ResponseCode::REQUEST_CODE_NOT_SUPPORTED,
                        Some(format!(" request type {} not supported", req.code)),
                    ))
                }
            }
        }
    }
}
