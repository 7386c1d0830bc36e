//! [`Runtime`] on tokio.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use ::tokio::net::tcp::OwnedReadHalf;
use ::tokio::net::{TcpListener, TcpStream};
use ::tokio::runtime::Handle;
use bytes::{BufMut, BytesMut};
use futures::io::{AsyncRead, AsyncWrite};
use tokio_util::compat::{Compat, TokioAsyncReadCompatExt, TokioAsyncWriteCompatExt};

use super::{
    AsyncReadBuf, AsyncStream, BoxFuture, BoxRead, BoxReadBuf, BoxWrite, Clock, Listener, Runtime,
};

/// The tokio runtime, addressed through a captured [`Handle`].
///
/// Because it holds a handle rather than relying on the thread-local context, tasks can be spawned
/// and sockets opened from any thread, including user callbacks running outside tokio.
///
/// ```
/// use rocketmq_rs_remoting::rt::{Runtime, TokioRuntime};
///
/// let tokio = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
/// let rt = TokioRuntime::from_handle(tokio.handle().clone());
/// tokio.block_on(rt.sleep(std::time::Duration::from_millis(1)));
/// ```
#[derive(Clone)]
pub struct TokioRuntime {
    handle: Handle,
}

impl TokioRuntime {
    /// Uses the given runtime handle. The runtime must have the I/O and time drivers enabled
    /// (`enable_all()`).
    pub fn from_handle(handle: Handle) -> Self {
        TokioRuntime { handle }
    }

    /// Uses the tokio runtime current on this thread, if there is one.
    pub fn try_current() -> Option<Self> {
        Handle::try_current().ok().map(Self::from_handle)
    }

    /// The captured handle.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }
}

impl fmt::Debug for TokioRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokioRuntime").finish_non_exhaustive()
    }
}

fn join_error(e: ::tokio::task::JoinError) -> io::Error {
    io::Error::other(format!("tokio task failed: {e}"))
}

impl Runtime for TokioRuntime {
    fn spawn(&self, fut: BoxFuture<'static, ()>) {
        drop(self.handle.spawn(fut));
    }

    fn sleep(&self, dur: Duration) -> BoxFuture<'static, ()> {
        // Timers bind to the runtime of the thread that creates them; entering the handle makes
        // this work from threads that are not tokio workers.
        let _guard = self.handle.enter();
        Box::pin(::tokio::time::sleep(dur))
    }

    fn connect(&self, addr: SocketAddr) -> BoxFuture<'static, io::Result<Box<dyn AsyncStream>>> {
        // Sockets register with the reactor of the runtime that polls them first, so the dial
        // runs on our runtime even when the caller is polled by another executor.
        let task = self.handle.spawn(async move {
            let stream = TcpStream::connect(addr).await?;
            stream.set_nodelay(true)?;
            Ok::<_, io::Error>(stream)
        });
        Box::pin(async move {
            let stream = task.await.map_err(join_error)??;
            Ok(Box::new(TokioStream(stream.compat())) as Box<dyn AsyncStream>)
        })
    }

    fn bind(&self, addr: SocketAddr) -> BoxFuture<'static, io::Result<Box<dyn Listener>>> {
        let task = self
            .handle
            .spawn(async move { TcpListener::bind(addr).await });
        Box::pin(async move {
            let listener = task.await.map_err(join_error)??;
            Ok(Box::new(TokioListener { listener }) as Box<dyn Listener>)
        })
    }

    /// Tokio's clock: the OS clock, or the paused test clock (`tokio::time::pause`) of the
    /// runtime the caller runs on.
    fn clock(&self) -> Clock {
        // The runtime implementation itself: tokio's clock is the one this runtime provides.
        Clock::new(|| ::tokio::time::Instant::now().into_std())
    }

    fn spawn_blocking(&self, f: Box<dyn FnOnce() + Send>) -> BoxFuture<'static, ()> {
        let task = self.handle.spawn_blocking(f);
        Box::pin(async move {
            // A panic inside `f` is reported by `run_blocking`, which catches it itself.
            let _ = task.await;
        })
    }
}

/// A tokio TCP stream seen through the `futures::io` traits.
struct TokioStream(Compat<TcpStream>);

impl AsyncRead for TokioStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for TokioStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_close(cx)
    }
}

impl AsyncStream for TokioStream {
    fn local_addr(&self) -> Option<SocketAddr> {
        self.0.get_ref().local_addr().ok()
    }

    fn into_split(self: Box<Self>) -> (BoxRead, BoxWrite) {
        let (r, w) = self.0.into_inner().into_split();
        (Box::new(r.compat()), Box::new(w.compat_write()))
    }

    fn into_split_buf(self: Box<Self>) -> (BoxReadBuf, BoxWrite) {
        let (r, w) = self.0.into_inner().into_split();
        (Box::new(TokioReadBuf(r)), Box::new(w.compat_write()))
    }
}

/// A tokio read half filling the frame buffer's spare capacity directly (tokio reads into
/// uninitialised memory soundly), so received bytes are never copied before decoding.
struct TokioReadBuf(OwnedReadHalf);

impl AsyncReadBuf for TokioReadBuf {
    fn poll_read_buf(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut BytesMut,
        limit: usize,
    ) -> Poll<io::Result<usize>> {
        let mut dst = (&mut *buf).limit(limit);
        tokio_util::io::poll_read_buf(Pin::new(&mut self.0), cx, &mut dst)
    }
}

struct TokioListener {
    listener: TcpListener,
}

impl Listener for TokioListener {
    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    fn accept(&mut self) -> BoxFuture<'_, io::Result<(Box<dyn AsyncStream>, SocketAddr)>> {
        Box::pin(async move {
            let (stream, peer) = self.listener.accept().await?;
            stream.set_nodelay(true)?;
            Ok((
                Box::new(TokioStream(stream.compat())) as Box<dyn AsyncStream>,
                peer,
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A paused tokio clock drives the runtime's clock: nothing waits for real time.
    #[::tokio::test(start_paused = true)]
    async fn clock_follows_paused_tokio_time() {
        let rt = TokioRuntime::try_current().unwrap();
        let clock = rt.clock();
        let t0 = rt.now();
        let sw = clock.stopwatch();
        ::tokio::time::advance(Duration::from_secs(3600)).await;
        assert!(clock.since(t0) >= Duration::from_secs(3600));
        assert!(sw.elapsed() >= Duration::from_secs(3600));
        // A std sleep would be real time; only the virtual hour has passed.
        assert!(sw.elapsed() < Duration::from_secs(3700));
        assert!(rt.now() >= t0 + Duration::from_secs(3600));
    }
}
