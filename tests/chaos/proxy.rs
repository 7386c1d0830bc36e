//! A small TCP fault proxy on 127.0.0.1: forwards to one target and can drop every
//! connection, black-hole traffic (accept and read, forward nothing), add latency, or refuse
//! new connections. Optionally rewrites same-length byte strings in frames coming back from the
//! target: in front of a NameServer this swaps each broker's address in route data for the
//! address of that broker's proxy, so clients reach brokers only through proxies.
//!
//! Everything stops when the [`Proxy`] is dropped.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::AbortHandle;

/// Upper bound of a frame the rewriting path buffers (route data is small).
const MAX_REWRITE_FRAME: usize = 16 * 1024 * 1024;

#[derive(Default)]
struct State {
    latency_ms: AtomicU64,
    blackhole: AtomicBool,
    refuse: AtomicBool,
    accepted: AtomicU64,
    tasks: Mutex<Vec<AbortHandle>>,
    rewrite: Mutex<Vec<(Vec<u8>, Vec<u8>)>>,
}

/// A running proxy.
pub struct Proxy {
    /// Where clients connect.
    pub addr: SocketAddr,
    /// Where it forwards.
    pub target: SocketAddr,
    state: Arc<State>,
    drop_gen: watch::Sender<u64>,
}

impl Proxy {
    /// Starts a proxy on an OS-chosen 127.0.0.1 port, forwarding to `target`.
    pub async fn start(target: SocketAddr) -> Proxy {
        assert!(
            target.ip().is_loopback(),
            "the proxy only forwards to loopback"
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State::default());
        let (drop_gen, _) = watch::channel(0u64);
        let st = state.clone();
        let gen_rx = drop_gen.subscribe();
        let accept = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                st.accepted.fetch_add(1, Ordering::Relaxed);
                if st.refuse.load(Ordering::Relaxed) {
                    drop(client);
                    continue;
                }
                let st2 = st.clone();
                let mut gen = gen_rx.clone();
                gen.mark_unchanged();
                let task = tokio::spawn(async move {
                    let Ok(upstream) = TcpStream::connect(target).await else {
                        return;
                    };
                    let _ = client.set_nodelay(true);
                    let _ = upstream.set_nodelay(true);
                    let (cr, cw) = client.into_split();
                    let (ur, uw) = upstream.into_split();
                    let up = pump(cr, uw, st2.clone(), false);
                    let down = pump(ur, cw, st2.clone(), true);
                    tokio::select! {
                        _ = up => {}
                        _ = down => {}
                        _ = gen.changed() => {}
                    }
                    // Dropping both halves closes both sockets.
                });
                let mut tasks = st.tasks.lock().unwrap();
                tasks.retain(|t| !t.is_finished());
                tasks.push(task.abort_handle());
            }
        });
        state.tasks.lock().unwrap().push(accept.abort_handle());
        Proxy {
            addr,
            target,
            state,
            drop_gen,
        }
    }

    /// Closes every open connection (new ones are still accepted).
    pub fn drop_connections(&self) {
        self.drop_gen.send_modify(|g| *g += 1);
    }

    /// Black-holes traffic in both directions while `on` (connections stay open).
    pub fn set_blackhole(&self, on: bool) {
        self.state.blackhole.store(on, Ordering::SeqCst);
    }

    /// Delays every forwarded chunk by `d`.
    pub fn set_latency(&self, d: Duration) {
        self.state
            .latency_ms
            .store(d.as_millis() as u64, Ordering::SeqCst);
    }

    /// Accepts and immediately closes new connections while `on`.
    pub fn set_refuse(&self, on: bool) {
        self.state.refuse.store(on, Ordering::SeqCst);
    }

    /// Replaces `from` with `to` (same length) in every frame from the target to the client.
    pub fn add_rewrite(&self, from: &str, to: &str) {
        assert_eq!(from.len(), to.len(), "rewrites keep frame lengths");
        self.state
            .rewrite
            .lock()
            .unwrap()
            .push((from.as_bytes().to_vec(), to.as_bytes().to_vec()));
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> u64 {
        self.state.accepted.load(Ordering::Relaxed)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        for t in self.state.tasks.lock().unwrap().drain(..) {
            t.abort();
        }
    }
}

fn replace_all(buf: &mut [u8], from: &[u8], to: &[u8]) {
    if from.is_empty() || buf.len() < from.len() {
        return;
    }
    let mut i = 0;
    while i + from.len() <= buf.len() {
        if &buf[i..i + from.len()] == from {
            buf[i..i + from.len()].copy_from_slice(to);
            i += from.len();
        } else {
            i += 1;
        }
    }
}

async fn pump(
    mut r: tokio::net::tcp::OwnedReadHalf,
    mut w: tokio::net::tcp::OwnedWriteHalf,
    st: Arc<State>,
    from_target: bool,
) {
    let framed = from_target && !st.rewrite.lock().unwrap().is_empty();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let chunk: Vec<u8> = if framed {
            // Whole frames (4-byte big-endian length + payload), so a rewrite never straddles
            // two reads.
            let mut len = [0u8; 4];
            if r.read_exact(&mut len).await.is_err() {
                return;
            }
            let n = u32::from_be_bytes(len) as usize;
            if n > MAX_REWRITE_FRAME {
                return;
            }
            let mut frame = vec![0u8; 4 + n];
            frame[..4].copy_from_slice(&len);
            if r.read_exact(&mut frame[4..]).await.is_err() {
                return;
            }
            for (from, to) in st.rewrite.lock().unwrap().iter() {
                replace_all(&mut frame[4..], from, to);
            }
            frame
        } else {
            match r.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf[..n].to_vec(),
            }
        };
        if st.blackhole.load(Ordering::SeqCst) {
            continue;
        }
        let lat = st.latency_ms.load(Ordering::SeqCst);
        if lat > 0 {
            tokio::time::sleep(Duration::from_millis(lat)).await;
        }
        if w.write_all(&chunk).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replace_keeps_length_and_hits_every_occurrence() {
        let mut b = b"x127.0.0.1:40001y127.0.0.1:40001".to_vec();
        replace_all(&mut b, b"127.0.0.1:40001", b"127.0.0.1:50002");
        assert_eq!(&b, b"x127.0.0.1:50002y127.0.0.1:50002");
    }
}
