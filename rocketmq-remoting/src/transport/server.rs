//! [`RemotingServer`]: accepts connections and runs each through a [`RequestHandler`].

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;

use futures::future::{select, Either};
use futures::task::AtomicWaker;

use super::{Connection, RequestHandler, Response, TransportConfig};
use crate::protocol::RemotingCommand;
use crate::rt::{Listener, Runtime, TaskGroup};
use crate::util::MutexExt;

/// A remoting server: binds a TCP port and serves every accepted connection with one shared
/// [`RequestHandler`].
///
/// See the [module documentation](super) for a complete client/server example.
#[derive(Debug, Clone, Copy)]
pub struct RemotingServer {
    _private: (),
}

impl RemotingServer {
    /// Binds `addr` (use port 0 for an OS-chosen port) and starts accepting connections in the
    /// background.
    ///
    /// # Errors
    ///
    /// The bind error, e.g. `AddrInUse`.
    pub async fn start<H: RequestHandler>(
        rt: Arc<dyn Runtime>,
        addr: SocketAddr,
        config: TransportConfig,
        handler: Arc<H>,
    ) -> io::Result<ServerHandle> {
        let listener = rt.bind(addr).await?;
        Self::serve(rt, listener, config, handler)
    }

    /// Starts accepting connections on a listener bound beforehand (with
    /// [`Runtime::bind`]). Binding first lets a caller learn the bound address (port 0) before
    /// it builds the handler that needs it; dropping the listener instead releases the port.
    ///
    /// # Errors
    ///
    /// The listener cannot report its address.
    pub fn serve<H: RequestHandler>(
        rt: Arc<dyn Runtime>,
        listener: Box<dyn Listener>,
        config: TransportConfig,
        handler: Arc<H>,
    ) -> io::Result<ServerHandle> {
        let local_addr = listener.local_addr()?;
        let registry: Registry = Arc::new(Mutex::new(HashMap::new()));
        let group = TaskGroup::new(Arc::clone(&rt));
        let dispatch = Arc::new(ServerDispatch {
            user: handler,
            registry: Arc::clone(&registry),
        });
        let config = Arc::new(config);
        let limit = config.max_connections.map(ConnectionLimit::new);
        let accept = accept_loop(
            listener,
            group.clone(),
            Arc::clone(&config),
            dispatch,
            limit,
        );
        group.spawn(accept);
        tracing::info!(addr = %local_addr, "remoting server listening");
        Ok(ServerHandle {
            local_addr,
            group,
            registry,
            grace: config.shutdown_grace,
        })
    }
}

/// The connection cap of a server ([`TransportConfig::max_connections`]): a counting semaphore
/// with a single waiter, the accept loop, so one waker slot is enough.
struct ConnectionLimit {
    free: AtomicUsize,
    waiter: AtomicWaker,
}

/// One accepted connection's share of the cap, returned when the connection ends.
struct Permit(Arc<ConnectionLimit>);

impl Drop for Permit {
    fn drop(&mut self) {
        self.0.free.fetch_add(1, Ordering::AcqRel);
        self.0.waiter.wake();
    }
}

impl ConnectionLimit {
    fn new(max: usize) -> Arc<Self> {
        Arc::new(ConnectionLimit {
            // A cap of 0 would never accept anything: it means one.
            free: AtomicUsize::new(max.max(1)),
            waiter: AtomicWaker::new(),
        })
    }

    fn try_acquire(self: &Arc<Self>) -> Option<Permit> {
        self.free
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .ok()
            .map(|_| Permit(Arc::clone(self)))
    }

    /// Waits for a free slot. The waker is registered before the second try, so a release
    /// between the two is not missed.
    fn acquire(self: &Arc<Self>) -> impl Future<Output = Permit> + '_ {
        std::future::poll_fn(move |cx| {
            if let Some(p) = self.try_acquire() {
                return Poll::Ready(p);
            }
            self.waiter.register(cx.waker());
            match self.try_acquire() {
                Some(p) => Poll::Ready(p),
                None => Poll::Pending,
            }
        })
    }
}

type Registry = Arc<Mutex<HashMap<u64, Connection>>>;

/// The running server. Dropping the handle also stops the server (without waiting).
pub struct ServerHandle {
    local_addr: SocketAddr,
    group: TaskGroup,
    registry: Registry,
    grace: Duration,
}

impl ServerHandle {
    /// The bound address (with the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The live connections.
    pub fn connections(&self) -> Vec<Connection> {
        self.registry.lock_unpoisoned().values().cloned().collect()
    }

    /// The live connection with the given [`Connection::id`].
    pub fn connection(&self, id: u64) -> Option<Connection> {
        self.registry.lock_unpoisoned().get(&id).cloned()
    }

    /// Number of live connections.
    pub fn connection_count(&self) -> usize {
        self.registry.lock_unpoisoned().len()
    }

    /// A function returning [`connection_count`](Self::connection_count), for a reader that
    /// outlives this borrow (a metrics endpoint).
    pub fn connection_counter(&self) -> Arc<dyn Fn() -> usize + Send + Sync> {
        let registry = Arc::clone(&self.registry);
        Arc::new(move || registry.lock_unpoisoned().len())
    }

    /// Stops accepting, closes every connection (their pending requests fail), and waits up to
    /// [`TransportConfig::shutdown_grace`] for the connection tasks to end. When it returns the
    /// port is free again. Idempotent.
    pub async fn shutdown(&self) {
        self.stop_now();
        if !self.group.shutdown(self.grace).await {
            tracing::warn!(addr = %self.local_addr, "server tasks did not stop in time; aborted");
        }
        tracing::info!(addr = %self.local_addr, "remoting server stopped");
    }

    fn stop_now(&self) {
        self.group.signal().trigger();
        let connections: Vec<Connection> = self
            .registry
            .lock_unpoisoned()
            .drain()
            .map(|(_, c)| c)
            .collect();
        for conn in connections {
            conn.close();
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        if !self.group.signal().is_triggered() {
            self.stop_now();
        }
    }
}

impl fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerHandle")
            .field("local_addr", &self.local_addr)
            .field("connections", &self.connection_count())
            .finish()
    }
}

/// Wraps the user's handler to keep the connection registry up to date.
struct ServerDispatch<H> {
    user: Arc<H>,
    registry: Registry,
}

impl<H: RequestHandler> RequestHandler for ServerDispatch<H> {
    fn handle(
        &self,
        conn: &Connection,
        req: RemotingCommand,
    ) -> impl Future<Output = Option<RemotingCommand>> + Send {
        self.user.handle(conn, req)
    }

    fn respond(
        &self,
        conn: &Connection,
        req: RemotingCommand,
    ) -> impl Future<Output = Option<Response>> + Send {
        self.user.respond(conn, req)
    }

    fn on_connected(&self, conn: &Connection) {
        self.registry
            .lock_unpoisoned()
            .insert(conn.id(), conn.clone());
        self.user.on_connected(conn);
    }

    fn on_disconnected(&self, conn: &Connection) {
        self.registry.lock_unpoisoned().remove(&conn.id());
        self.user.on_disconnected(conn);
    }
}

async fn accept_loop<H: RequestHandler>(
    mut listener: Box<dyn Listener>,
    group: TaskGroup,
    config: Arc<TransportConfig>,
    dispatch: Arc<ServerDispatch<H>>,
    limit: Option<Arc<ConnectionLimit>>,
) {
    let rt = Arc::clone(group.runtime());
    let mut stop = group.signal().wait();
    loop {
        // At the cap, wait for a connection to close before accepting: the next peer waits in
        // the listen backlog instead of being accepted and starved.
        let permit = match &limit {
            None => None,
            Some(l) => match select(std::pin::pin!(l.acquire()), &mut stop).await {
                Either::Left((p, _)) => Some(p),
                Either::Right(((), _)) => break,
            },
        };
        let accepted = match select(listener.accept(), &mut stop).await {
            Either::Left((accepted, _)) => accepted,
            Either::Right(((), _)) => break,
        };
        match accepted {
            Ok((stream, peer)) => {
                #[cfg(feature = "tls")]
                if let Some(tls) = config
                    .tls_server
                    .as_ref()
                    .filter(|t| t.mode() != crate::tls::TlsMode::Disabled)
                {
                    // Sniffing and handshaking wait for the peer: never in the accept loop.
                    group.spawn(tls_accept(
                        tls.clone(),
                        stream,
                        peer,
                        group.clone(),
                        Arc::clone(&config),
                        Arc::clone(&dispatch),
                        permit,
                    ));
                    continue;
                }
                serve(stream, peer, &group, &config, &dispatch, permit);
            }
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                if !matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionAborted
                        | io::ErrorKind::ConnectionReset
                        | io::ErrorKind::Interrupted
                ) {
                    // Typically out of file descriptors: pause rather than spin.
                    let pause = rt.sleep(Duration::from_millis(100));
                    if let Either::Right(_) = select(pause, &mut stop).await {
                        break;
                    }
                }
            }
        }
    }
    tracing::debug!("accept loop stopped");
}

fn serve<H: RequestHandler>(
    stream: Box<dyn crate::rt::AsyncStream>,
    peer: SocketAddr,
    group: &TaskGroup,
    config: &Arc<TransportConfig>,
    dispatch: &Arc<ServerDispatch<H>>,
    permit: Option<Permit>,
) {
    let (conn, reader, writer) = Connection::start(
        Arc::clone(group.runtime()),
        stream,
        peer,
        Arc::clone(config),
        Arc::clone(dispatch),
    );
    // The reader ends last, after `on_disconnected`: the slot is free once it returns (or,
    // when it never runs, as soon as the refused future is dropped).
    let reader = async move {
        reader.await;
        drop(permit);
    };
    // Refused only when shutdown began meanwhile: close the newcomer ourselves.
    let reader_running = group.spawn(reader);
    if !reader_running || !group.spawn(writer) || group.signal().is_triggered() {
        conn.close();
        if !reader_running {
            // The reader would have run `on_disconnected`; do its bookkeeping.
            dispatch.on_disconnected(&conn);
        }
    }
}

/// Runs the TLS sniffing/handshake of one accepted connection (see
/// [`TlsServerConfig::accept`](crate::tls::TlsServerConfig::accept)), then serves it.
#[cfg(feature = "tls")]
async fn tls_accept<H: RequestHandler>(
    tls: crate::tls::TlsServerConfig,
    stream: Box<dyn crate::rt::AsyncStream>,
    peer: SocketAddr,
    group: TaskGroup,
    config: Arc<TransportConfig>,
    dispatch: Arc<ServerDispatch<H>>,
    permit: Option<Permit>,
) {
    let rt = Arc::clone(group.runtime());
    let handshake = tls.accept_within(&*rt, config.idle_timeout, config.connect_timeout, stream);
    let stream = match select(std::pin::pin!(handshake), group.signal().wait()).await {
        Either::Left((Ok(stream), _)) => stream,
        Either::Left((Err(e), _)) => {
            tracing::debug!(%peer, error = %e, "TLS accept failed; connection closed");
            return;
        }
        Either::Right(((), _)) => return,
    };
    serve(stream, peer, &group, &config, &dispatch, permit);
}
