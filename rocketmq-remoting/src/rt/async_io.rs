//! [`Runtime`]s on the `async-io` reactor: smol and async-std.
//!
//! Both executors drive sockets and timers through the same global `async-io` reactor, so they
//! share the stream, listener and timer code and differ only in how they spawn tasks.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use async_io::{Async, Timer};
use futures::io::{AsyncRead, AsyncWrite};

use super::{AsyncStream, BoxFuture, BoxRead, BoxWrite, Listener, Runtime};

fn sleep(dur: Duration) -> BoxFuture<'static, ()> {
    Box::pin(async move {
        Timer::after(dur).await;
    })
}

fn connect(addr: SocketAddr) -> BoxFuture<'static, io::Result<Box<dyn AsyncStream>>> {
    Box::pin(async move {
        let stream = Async::<TcpStream>::connect(addr).await?;
        stream.get_ref().set_nodelay(true)?;
        Ok(Box::new(AsyncIoStream(Arc::new(stream))) as Box<dyn AsyncStream>)
    })
}

fn bind(addr: SocketAddr) -> BoxFuture<'static, io::Result<Box<dyn Listener>>> {
    Box::pin(async move {
        let listener = Async::<TcpListener>::bind(addr)?;
        Ok(Box::new(AsyncIoListener(listener)) as Box<dyn Listener>)
    })
}

/// A TCP stream registered with the `async-io` reactor. Reads and writes go through `&Async<_>`,
/// so the two halves of a split share the socket through an `Arc` without any lock.
struct AsyncIoStream(Arc<Async<TcpStream>>);

impl AsyncRead for AsyncIoStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut &*self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for AsyncIoStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut &*self.0).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut &*self.0).poll_write_vectored(cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut &*self.0).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut &*self.0).poll_close(cx)
    }
}

impl AsyncStream for AsyncIoStream {
    fn local_addr(&self) -> Option<SocketAddr> {
        self.0.get_ref().local_addr().ok()
    }

    fn into_split(self: Box<Self>) -> (BoxRead, BoxWrite) {
        let read = AsyncIoStream(Arc::clone(&self.0));
        (Box::new(read), self)
    }
}

struct AsyncIoListener(Async<TcpListener>);

impl Listener for AsyncIoListener {
    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.get_ref().local_addr()
    }

    fn accept(&mut self) -> BoxFuture<'_, io::Result<(Box<dyn AsyncStream>, SocketAddr)>> {
        Box::pin(async move {
            let (stream, peer) = self.0.accept().await?;
            stream.get_ref().set_nodelay(true)?;
            Ok((
                Box::new(AsyncIoStream(Arc::new(stream))) as Box<dyn AsyncStream>,
                peer,
            ))
        })
    }
}

/// The smol runtime: tasks run on smol's global executor, I/O and timers on `async-io`.
///
/// ```
/// use rocketmq_rs_remoting::rt::{run_blocking, Runtime, SmolRuntime};
///
/// let rt = SmolRuntime::new();
/// smol::block_on(async {
///     rt.sleep(std::time::Duration::from_millis(1)).await;
///     assert_eq!(run_blocking(&rt, || 6 * 7).await, 42);
/// });
/// ```
#[cfg(feature = "runtime-smol")]
#[derive(Debug, Clone, Copy, Default)]
pub struct SmolRuntime {
    _private: (),
}

#[cfg(feature = "runtime-smol")]
impl SmolRuntime {
    /// The smol runtime (smol's global executor needs no setup).
    pub fn new() -> Self {
        SmolRuntime { _private: () }
    }
}

#[cfg(feature = "runtime-smol")]
impl Runtime for SmolRuntime {
    fn spawn(&self, fut: BoxFuture<'static, ()>) {
        smol::spawn(fut).detach();
    }

    fn sleep(&self, dur: Duration) -> BoxFuture<'static, ()> {
        sleep(dur)
    }

    fn connect(&self, addr: SocketAddr) -> BoxFuture<'static, io::Result<Box<dyn AsyncStream>>> {
        connect(addr)
    }

    fn bind(&self, addr: SocketAddr) -> BoxFuture<'static, io::Result<Box<dyn Listener>>> {
        bind(addr)
    }

    fn spawn_blocking(&self, f: Box<dyn FnOnce() + Send>) -> BoxFuture<'static, ()> {
        Box::pin(smol::unblock(f))
    }
}

/// The async-std runtime: tasks run on async-std's executor, I/O and timers on `async-io`.
///
/// async-std is discontinued upstream; prefer smol or tokio for new code.
///
/// ```
/// use rocketmq_rs_remoting::rt::{run_blocking, AsyncStdRuntime, Runtime};
///
/// let rt = AsyncStdRuntime::new();
/// async_std::task::block_on(async {
///     rt.sleep(std::time::Duration::from_millis(1)).await;
///     assert_eq!(run_blocking(&rt, || 6 * 7).await, 42);
/// });
/// ```
#[cfg(feature = "runtime-async-std")]
#[derive(Debug, Clone, Copy, Default)]
pub struct AsyncStdRuntime {
    _private: (),
}

#[cfg(feature = "runtime-async-std")]
impl AsyncStdRuntime {
    /// The async-std runtime (its global executor needs no setup).
    pub fn new() -> Self {
        AsyncStdRuntime { _private: () }
    }
}

#[cfg(feature = "runtime-async-std")]
impl Runtime for AsyncStdRuntime {
    fn spawn(&self, fut: BoxFuture<'static, ()>) {
        // Dropping an async-std JoinHandle detaches the task.
        drop(async_std::task::spawn(fut));
    }

    fn sleep(&self, dur: Duration) -> BoxFuture<'static, ()> {
        sleep(dur)
    }

    fn connect(&self, addr: SocketAddr) -> BoxFuture<'static, io::Result<Box<dyn AsyncStream>>> {
        connect(addr)
    }

    fn bind(&self, addr: SocketAddr) -> BoxFuture<'static, io::Result<Box<dyn Listener>>> {
        bind(addr)
    }

    fn spawn_blocking(&self, f: Box<dyn FnOnce() + Send>) -> BoxFuture<'static, ()> {
        Box::pin(async_std::task::spawn_blocking(f))
    }
}
