//! A Prometheus scrape endpoint (text exposition format 0.0.4) for the mini servers'
//! `--metrics-listen` (feature `metrics-endpoint`).
//!
//! [`PromText`] writes metric families with their `# HELP` / `# TYPE` lines and escaped label
//! values; [`serve`] answers `GET /metrics` with whatever the server's render function writes,
//! over hyper's HTTP/1 server driven by our [`Runtime`] (any of tokio, async-std, smol).
//! Other paths get 404, other methods 405. Each connection is closed after
//! [`CONNECTION_TIMEOUT`] so a client that never finishes its request holds nothing for long.
//!
//! ```
//! # #[cfg(feature = "runtime-tokio")]
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use std::sync::Arc;
//! use rocketmq_rs_remoting::metrics_endpoint::{serve, MetricType, PromText};
//! use rocketmq_rs_remoting::rt::{Runtime, TokioRuntime};
//!
//! let rt: Arc<dyn Runtime> = Arc::new(TokioRuntime::try_current().unwrap());
//! let server = serve(rt, "127.0.0.1:0".parse().unwrap(), Arc::new(|| {
//!     Box::pin(async {
//!         let mut t = PromText::new();
//!         t.family("rocketmq_up", "Whether the server runs.", MetricType::Gauge);
//!         t.sample("rocketmq_up", &[("node_type", "broker")], 1.0);
//!         t.finish()
//!     })
//! }))
//! .await
//! .unwrap();
//! assert_ne!(server.local_addr().port(), 0);
//! server.stop();
//! # });
//! ```

use std::convert::Infallible;
use std::fmt::Write as _;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures::future::{select, Either};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{header, Method, Request, Response, StatusCode};

use crate::rt::{timeout, AsyncStream, BoxFuture, Runtime, ShutdownSignal};

/// The `Content-Type` of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// How long one scrape connection may stay open.
pub const CONNECTION_TIMEOUT: Duration = Duration::from_secs(30);

/// Writes the exposition text of one scrape, when called.
pub type RenderFn = Arc<dyn Fn() -> BoxFuture<'static, String> + Send + Sync>;

/// A Prometheus metric type, for `# TYPE` lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MetricType {
    /// A value that only goes up (name it `..._total`).
    Counter,
    /// A value that goes up and down.
    Gauge,
}

/// A text exposition (format 0.0.4) being written: families in the order they are declared,
/// each with its `# HELP` and `# TYPE` line, then its samples.
///
/// ```
/// use rocketmq_rs_remoting::metrics_endpoint::{MetricType, PromText};
///
/// let mut t = PromText::new();
/// t.family("rocketmq_messages_in_total", "Messages stored.", MetricType::Counter);
/// t.sample("rocketmq_messages_in_total", &[("topic", "a\"b")], 3.0);
/// let text = t.finish();
/// let lines: Vec<&str> = text.lines().collect();
/// assert_eq!(lines[0], "# HELP rocketmq_messages_in_total Messages stored.");
/// assert_eq!(lines[1], "# TYPE rocketmq_messages_in_total counter");
/// assert_eq!(lines[2], r#"rocketmq_messages_in_total{topic="a\"b"} 3"#);
/// ```
#[derive(Debug, Default)]
pub struct PromText {
    out: String,
}

impl PromText {
    /// An empty exposition.
    pub fn new() -> Self {
        PromText::default()
    }

    /// Declares family `name` (its samples follow).
    pub fn family(&mut self, name: &str, help: &str, kind: MetricType) {
        let kind = match kind {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
        };
        let help = help.replace('\\', "\\\\").replace('\n', "\\n");
        let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    /// One sample of `name` with `labels` (values escaped as the format requires).
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                self.out.push_str(k);
                self.out.push_str("=\"");
                for c in v.chars() {
                    match c {
                        '\\' => self.out.push_str("\\\\"),
                        '"' => self.out.push_str("\\\""),
                        '\n' => self.out.push_str("\\n"),
                        c => self.out.push(c),
                    }
                }
                self.out.push('"');
            }
            self.out.push('}');
        }
        self.out.push(' ');
        if value.is_nan() {
            self.out.push_str("NaN");
        } else if value.is_infinite() {
            self.out.push_str(if value > 0.0 { "+Inf" } else { "-Inf" });
        } else if value.fract() == 0.0 && value.abs() < 1e15 {
            let _ = write!(self.out, "{}", value as i64);
        } else {
            let _ = write!(self.out, "{value}");
        }
        self.out.push('\n');
    }

    /// The text.
    pub fn finish(self) -> String {
        self.out
    }
}

/// A running endpoint; [`stop`](Self::stop) (or dropping every clone of the signal owner)
/// ends it.
#[derive(Debug)]
pub struct MetricsServer {
    addr: SocketAddr,
    stop: ShutdownSignal,
}

impl MetricsServer {
    /// The bound address (with the OS-chosen port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting scrapes. Idempotent.
    pub fn stop(&self) {
        self.stop.trigger();
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop.trigger();
    }
}

/// Binds `addr` and serves `GET /metrics` with `render`'s text until the returned server is
/// stopped or dropped.
///
/// # Errors
///
/// The bind error (address in use, no permission for the port, ...).
pub async fn serve(
    rt: Arc<dyn Runtime>,
    addr: SocketAddr,
    render: RenderFn,
) -> io::Result<MetricsServer> {
    let mut listener = rt.bind(addr).await?;
    let local = listener.local_addr()?;
    let stop = ShutdownSignal::new();
    let signal = stop.clone();
    let rt2 = Arc::clone(&rt);
    rt.spawn(Box::pin(async move {
        loop {
            let accepted = match select(listener.accept(), signal.wait()).await {
                Either::Left((r, _)) => r,
                Either::Right(_) => return,
            };
            let (stream, peer) = match accepted {
                Ok(s) => s,
                Err(e) => {
                    tracing::debug!(error = %e, "metrics endpoint: accept failed");
                    // Out of file descriptors and the like: do not spin.
                    rt2.sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let render = Arc::clone(&render);
            let rt3 = Arc::clone(&rt2);
            let stop = signal.clone();
            rt2.spawn(Box::pin(async move {
                let conn = serve_connection(stream, render);
                let conn = select(Box::pin(conn), stop.wait());
                if timeout(&*rt3, CONNECTION_TIMEOUT, conn).await.is_err() {
                    tracing::debug!(%peer, "metrics endpoint: connection timed out");
                }
            }));
        }
    }));
    Ok(MetricsServer { addr: local, stop })
}

/// [`serve`] when a server's configuration names an address (`metricsListen`), nothing when it
/// does not; `render` is built only when the endpoint starts. Logs the bound address.
///
/// # Errors
///
/// The address that could not be bound, with the bind error.
///
/// # Example
///
/// ```no_run
/// # async fn demo(rt: std::sync::Arc<dyn rocketmq_rs_remoting::rt::Runtime>) {
/// use std::sync::Arc;
/// use rocketmq_rs_remoting::metrics_endpoint::{serve_configured, RenderFn};
/// let listen: Option<std::net::SocketAddr> = Some("127.0.0.1:0".parse().unwrap());
/// let render = || -> RenderFn { Arc::new(|| Box::pin(async { String::new() })) };
/// let server = serve_configured(rt, listen, render)
///     .await
///     .map_err(|(addr, e)| format!("cannot bind the metrics endpoint {addr}: {e}"))
///     .unwrap();
/// assert!(server.is_some());
/// # }
/// ```
pub async fn serve_configured(
    rt: Arc<dyn Runtime>,
    listen: Option<SocketAddr>,
    render: impl FnOnce() -> RenderFn,
) -> Result<Option<MetricsServer>, (SocketAddr, io::Error)> {
    let Some(addr) = listen else {
        return Ok(None);
    };
    let server = serve(rt, addr, render()).await.map_err(|e| (addr, e))?;
    tracing::info!(addr = %server.local_addr(), "metrics endpoint listening");
    Ok(Some(server))
}

async fn serve_connection(stream: Box<dyn AsyncStream>, render: RenderFn) {
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let render = Arc::clone(&render);
        async move { Ok::<_, Infallible>(answer(req, render).await) }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    // Our own timeout bounds the connection; hyper's needs a hyper timer we do not give it.
    builder.header_read_timeout(None);
    if let Err(e) = builder.serve_connection(Io(stream), service).await {
        tracing::debug!(error = %e, "metrics endpoint: connection ended with an error");
    }
}

async fn answer(req: Request<Incoming>, render: RenderFn) -> Response<Full<Bytes>> {
    let status = if req.uri().path() != "/metrics" {
        StatusCode::NOT_FOUND
    } else if req.method() != Method::GET && req.method() != Method::HEAD {
        StatusCode::METHOD_NOT_ALLOWED
    } else {
        let body = render().await;
        let mut resp = Response::new(Full::new(Bytes::from(body)));
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static(CONTENT_TYPE),
        );
        return resp;
    };
    let mut resp = Response::new(Full::new(Bytes::from_static(b"")));
    *resp.status_mut() = status;
    if status == StatusCode::METHOD_NOT_ALLOWED {
        resp.headers_mut()
            .insert(header::ALLOW, header::HeaderValue::from_static("GET, HEAD"));
    }
    resp
}

/// A futures-io stream as hyper's I/O traits.
struct Io(Box<dyn AsyncStream>);

impl hyper::rt::Read for Io {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        // Through a small stack buffer: scrape requests are a few hundred bytes, and this keeps
        // the crate free of unsafe code.
        let mut tmp = [0u8; 4096];
        let want = buf.remaining().min(tmp.len());
        match Pin::new(&mut *self.0).poll_read(cx, &mut tmp[..want]) {
            Poll::Ready(Ok(n)) => {
                buf.put_slice(&tmp[..n]);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl hyper::rt::Write for Io {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_close(cx)
    }
}

#[cfg(all(test, feature = "runtime-tokio"))]
mod tests {
    use super::*;
    use crate::rt::TokioRuntime;
    use futures::{AsyncReadExt, AsyncWriteExt};

    async fn get(rt: &dyn Runtime, addr: SocketAddr, request: &str) -> String {
        let mut s = rt.connect(addr).await.unwrap();
        s.write_all(request.as_bytes()).await.unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).await.unwrap();
        String::from_utf8(out).unwrap()
    }

    #[tokio::test]
    async fn serves_metrics_and_refuses_the_rest() {
        let rt: Arc<dyn Runtime> = Arc::new(TokioRuntime::try_current().unwrap());
        let server = serve(
            Arc::clone(&rt),
            "127.0.0.1:0".parse().unwrap(),
            Arc::new(|| {
                Box::pin(async {
                    let mut t = PromText::new();
                    t.family("rocketmq_x_total", "X.", MetricType::Counter);
                    t.sample("rocketmq_x_total", &[("topic", "T")], 2.0);
                    t.sample("rocketmq_x_total", &[], 0.5);
                    t.finish()
                })
            }),
        )
        .await
        .unwrap();
        let addr = server.local_addr();
        let r = get(
            &*rt,
            addr,
            "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .await;
        assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r}");
        assert!(
            r.contains(&format!("content-type: {CONTENT_TYPE}\r\n")),
            "{r}"
        );
        assert!(
            r.ends_with(
                "\r\n\r\n# HELP rocketmq_x_total X.\n# TYPE rocketmq_x_total counter\n\
                 rocketmq_x_total{topic=\"T\"} 2\nrocketmq_x_total 0.5\n"
            ),
            "{r}"
        );
        let r = get(
            &*rt,
            addr,
            "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .await;
        assert!(r.starts_with("HTTP/1.1 404"), "{r}");
        let r = get(
            &*rt,
            addr,
            "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        )
        .await;
        assert!(r.starts_with("HTTP/1.1 405"), "{r}");
        // Not HTTP at all: the connection is closed, the server goes on.
        let r = get(&*rt, addr, "\u{1}\u{2}garbage\r\n\r\n").await;
        assert!(r.is_empty() || r.starts_with("HTTP/1.1 400"), "{r}");
        server.stop();
        rt.sleep(Duration::from_millis(50)).await;
        // Stopped: nothing accepts any more (the listener was dropped with the accept loop).
        assert!(rt.connect(addr).await.is_err());
    }

    #[test]
    fn special_values() {
        let mut t = PromText::new();
        t.sample("a", &[("l", "x\\y\nz")], f64::NAN);
        t.sample("b", &[], f64::INFINITY);
        t.sample("c", &[], 1e20);
        assert_eq!(
            t.finish(),
            "a{l=\"x\\\\y\\nz\"} NaN\nb +Inf\nc 100000000000000000000\n"
        );
    }
}
