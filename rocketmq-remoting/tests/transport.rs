//! Transport tests: one body per scenario, run under every enabled runtime.
#![cfg(any(
    feature = "runtime-tokio",
    feature = "runtime-smol",
    feature = "runtime-async-std"
))]

#[macro_use]
mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures::io::{AsyncReadExt, AsyncWriteExt};
use rocketmq_rs_remoting::protocol::code::ResponseCode;
use rocketmq_rs_remoting::protocol::codec::{encode_frame, FrameDecoder};
use rocketmq_rs_remoting::protocol::header::{FieldSink, WriteFields};
use rocketmq_rs_remoting::protocol::{RemotingCommand, SerializeType};
use rocketmq_rs_remoting::rt::{timeout, AsyncStream, Runtime};
use rocketmq_rs_remoting::transport::{
    Connection, RemotingClient, RemotingServer, RequestHandler, Response, ServerHandle,
    TransportConfig,
};
use rocketmq_rs_remoting::RemotingError;

const ECHO: i32 = 1000;
const NEVER: i32 = 1001;
const LATE: i32 = 1002;
const ASK_CLIENT: i32 = 1003;
const COUNT: i32 = 1004;
const PANIC: i32 = 1005;
const CLIENT_QUESTION: i32 = 2000;

const LONG: Duration = Duration::from_secs(10);

/// The server side of every scenario.
#[derive(Default)]
struct TestHandler {
    counted: AtomicUsize,
    handled: AtomicUsize,
}

impl RequestHandler for TestHandler {
    async fn handle(&self, conn: &Connection, req: RemotingCommand) -> Option<RemotingCommand> {
        self.handled.fetch_add(1, Ordering::Relaxed);
        let ok = || {
            let mut resp =
                RemotingCommand::response(ResponseCode::SUCCESS, None).with_body(req.body.clone());
            if let Some(i) = req.ext_fields.get("i") {
                resp.ext_fields.insert("i", i);
            }
            resp
        };
        match req.code {
            ECHO => Some(ok()),
            NEVER => None,
            LATE => {
                conn.runtime().sleep(Duration::from_millis(200)).await;
                Some(ok())
            }
            ASK_CLIENT => {
                let question =
                    RemotingCommand::request(CLIENT_QUESTION).with_body(req.body.clone());
                match conn.invoke(question, LONG).await {
                    Ok(answer) => {
                        let mut resp = RemotingCommand::response(answer.code, answer.remark);
                        resp.body = answer.body;
                        Some(resp)
                    }
                    Err(e) => Some(RemotingCommand::response(
                        ResponseCode::SYSTEM_ERROR,
                        Some(e.to_string()),
                    )),
                }
            }
            COUNT => {
                self.counted.fetch_add(1, Ordering::SeqCst);
                // Must not be sent when the request is oneway.
                Some(ok())
            }
            PANIC => panic!("handler exploded on purpose"),
            code => Some(RemotingCommand::response(
                ResponseCode::REQUEST_CODE_NOT_SUPPORTED,
                Some(format!(" request type {code} not supported")),
            )),
        }
    }
}

/// Answers every request with a typed header written straight into the frame
/// ([`RequestHandler::respond`]); `handle` gives the same answer as a command.
struct TypedHandler;

/// A response header of the shape of SEND_MESSAGE_V2's: text, numbers, an optional field
/// and characters that need escaping in JSON.
struct Stored {
    msg_id: String,
    queue_offset: i64,
    transaction_id: Option<String>,
}

impl WriteFields for Stored {
    fn write_fields<S: FieldSink + ?Sized>(&self, sink: &mut S) {
        sink.str_field("msgId", &self.msg_id);
        sink.i64_field("queueOffset", self.queue_offset);
        if let Some(t) = &self.transaction_id {
            sink.str_field("transactionId", t);
        }
        sink.bool_field("TRACE_ON", true);
    }
    fn size_hint(&self) -> (usize, usize) {
        (4, 64 + self.msg_id.len())
    }
}

fn typed_answer(req: &RemotingCommand) -> Response {
    let mut cmd = RemotingCommand::response(ResponseCode::SUCCESS, Some("stored".into()))
        .with_body(req.body.clone());
    cmd.ext_fields.insert("own", "first");
    Response::with_fields(
        cmd,
        Stored {
            msg_id: format!("id-{}\u{1}\"q\"", req.body.len()),
            queue_offset: -(req.body.len() as i64),
            transaction_id: req.body.len().is_multiple_of(2).then(|| "tx".to_owned()),
        },
    )
}

impl RequestHandler for TypedHandler {
    async fn handle(&self, conn: &Connection, req: RemotingCommand) -> Option<RemotingCommand> {
        self.respond(conn, req).await.map(Response::into_command)
    }

    async fn respond(&self, _conn: &Connection, req: RemotingCommand) -> Option<Response> {
        Some(typed_answer(&req))
    }
}

fn any_port() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

async fn start_server(
    rt: &Arc<dyn Runtime>,
    config: TransportConfig,
) -> (ServerHandle, Arc<TestHandler>) {
    let handler = Arc::new(TestHandler::default());
    let server = RemotingServer::start(rt.clone(), any_port(), config, handler.clone())
        .await
        .unwrap();
    (server, handler)
}

fn echo(i: usize) -> RemotingCommand {
    let mut cmd = RemotingCommand::request(ECHO).with_body(Bytes::from(format!("body-{i}")));
    cmd.ext_fields.insert("i", i.to_string());
    cmd
}

async fn eventually(rt: &Arc<dyn Runtime>, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        rt.sleep(Duration::from_millis(10)).await;
    }
}

async fn raw_connect(rt: &Arc<dyn Runtime>, addr: SocketAddr) -> Box<dyn AsyncStream> {
    rt.connect(addr).await.unwrap()
}

/// Reads until the peer closes; `true` if it did within a few seconds.
async fn closed_by_peer(rt: &Arc<dyn Runtime>, stream: &mut Box<dyn AsyncStream>) -> bool {
    let mut buf = [0u8; 1024];
    let outcome = timeout(&**rt, Duration::from_secs(5), async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    })
    .await;
    outcome.is_ok()
}

async fn read_frame(stream: &mut Box<dyn AsyncStream>, buf: &mut BytesMut) -> RemotingCommand {
    let mut decoder = FrameDecoder::default();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(cmd) = decoder.decode(buf).unwrap() {
            return cmd;
        }
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "peer closed before a whole frame arrived");
        buf.extend_from_slice(&chunk[..n]);
    }
}

// ---------------------------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------------------------

mod scenarios {
    use super::*;

    pub async fn typed_responses_are_the_frames_their_commands_give(rt: Arc<dyn Runtime>) {
        let server = RemotingServer::start(
            rt.clone(),
            any_port(),
            TransportConfig::default(),
            Arc::new(TypedHandler),
        )
        .await
        .unwrap();
        for (st, opaque) in [(SerializeType::Json, 11), (SerializeType::RocketMq, 12)] {
            for body_len in [0usize, 3, 4] {
                // Byte for byte on the wire: the frame of the command `into_command` gives.
                let mut stream = raw_connect(&rt, server.local_addr()).await;
                let req = RemotingCommand::request(ECHO)
                    .with_opaque(opaque)
                    .with_serialize_type(st)
                    .with_body(vec![7u8; body_len]);
                let mut out = BytesMut::new();
                encode_frame(&req, &mut out).unwrap();
                stream.write_all(&out).await.unwrap();
                let mut want_cmd = typed_answer(&req).into_command();
                want_cmd.opaque = opaque;
                want_cmd.serialize_type = st;
                let mut want = BytesMut::new();
                encode_frame(&want_cmd, &mut want).unwrap();
                let mut got = vec![0u8; want.len()];
                timeout(&*rt, LONG, stream.read_exact(&mut got))
                    .await
                    .expect("response in time")
                    .unwrap();
                assert_eq!(got, want.to_vec(), "{st:?}, body of {body_len}");
                assert_eq!(want_cmd.ext_fields.get("own"), Some("first"));
                assert_eq!(want_cmd.ext_fields.get("TRACE_ON"), Some("true"));
            }
            // And through a client, which decodes it.
            let mut config = TransportConfig::default();
            config.request_serialize_type = st;
            let client = RemotingClient::new(rt.clone(), config);
            let addr = server.local_addr().to_string();
            let resp = client
                .invoke(
                    &addr,
                    RemotingCommand::request(ECHO).with_body(vec![1u8; 4]),
                    LONG,
                )
                .await
                .unwrap();
            assert_eq!(resp.serialize_type, st);
            assert_eq!(resp.remark.as_deref(), Some("stored"));
            assert_eq!(resp.ext_fields.get("msgId"), Some("id-4\u{1}\"q\""));
            assert_eq!(resp.ext_fields.get("queueOffset"), Some("-4"));
            assert_eq!(resp.ext_fields.get("transactionId"), Some("tx"));
            client.shutdown();
        }
        server.shutdown().await;
    }

    pub async fn concurrent_requests_on_one_connection(rt: Arc<dyn Runtime>) {
        let (server, handler) = start_server(&rt, TransportConfig::default()).await;
        let addr = server.local_addr().to_string();
        let client = RemotingClient::new(rt.clone(), TransportConfig::default());

        let calls = (0..1000).map(|i| {
            let client = client.clone();
            let addr = addr.clone();
            async move { (i, client.invoke(&addr, echo(i), LONG).await) }
        });
        let results = futures::future::join_all(calls).await;
        for (i, result) in results {
            let resp = result.unwrap_or_else(|e| panic!("request {i} failed: {e}"));
            assert!(resp.is_response());
            assert_eq!(resp.code, ResponseCode::SUCCESS);
            assert_eq!(resp.body, Bytes::from(format!("body-{i}")), "request {i}");
            assert_eq!(resp.ext_fields.get("i"), Some(i.to_string().as_str()));
        }
        assert_eq!(handler.handled.load(Ordering::Relaxed), 1000);
        assert_eq!(
            server.connection_count(),
            1,
            "everything went over one connection"
        );
        let conn = client.connection(&addr).await.unwrap();
        assert_eq!(conn.pending_count(), 0);
        client.shutdown();
        server.shutdown().await;
    }

    /// `invoke_raw` callers read their responses' fields from the frame while `invoke` callers
    /// on the same connection get the usual map; each gets its own answer, and a raw request
    /// that times out leaves nothing behind.
    pub async fn raw_and_map_responses_share_a_connection(rt: Arc<dyn Runtime>) {
        struct Index(i64);
        impl WriteFields for Index {
            fn write_fields<S: FieldSink + ?Sized>(&self, sink: &mut S) {
                sink.i64_field("i", self.0);
            }
            fn size_hint(&self) -> (usize, usize) {
                (1, 21)
            }
        }
        let (server, _) = start_server(&rt, TransportConfig::default()).await;
        let addr = server.local_addr().to_string();
        let client = RemotingClient::new(rt.clone(), TransportConfig::default());
        let calls = (0..600usize).map(|i| {
            let client = client.clone();
            let addr = addr.clone();
            async move {
                let body = Bytes::from(format!("body-{i}"));
                if i % 2 == 0 {
                    let resp = client
                        .invoke_raw(&addr, ECHO, &Index(i as i64), body.clone(), LONG)
                        .await
                        .unwrap_or_else(|e| panic!("raw request {i} failed: {e}"));
                    assert!(resp.is_response());
                    assert_eq!(resp.code, ResponseCode::SUCCESS);
                    assert_eq!(resp.get("i"), Some(i.to_string().as_str()));
                    assert_eq!(resp.fields().count(), 1);
                    assert_eq!(resp.body, body);
                    let cmd = resp.into_command();
                    assert_eq!(cmd.ext_fields.get("i"), Some(i.to_string().as_str()));
                } else {
                    let resp = client
                        .invoke(&addr, echo(i), LONG)
                        .await
                        .unwrap_or_else(|e| panic!("request {i} failed: {e}"));
                    assert_eq!(resp.ext_fields.get("i"), Some(i.to_string().as_str()));
                    assert_eq!(resp.body, body);
                }
            }
        });
        futures::future::join_all(calls).await;
        let late = client
            .invoke_raw(
                &addr,
                NEVER,
                &Index(1),
                Bytes::new(),
                Duration::from_millis(50),
            )
            .await;
        assert!(
            matches!(late, Err(RemotingError::Timeout { .. })),
            "{late:?}"
        );
        let conn = client.connection(&addr).await.unwrap();
        assert_eq!(conn.pending_count(), 0);
        // Back to map-only decoding: still answered.
        let resp = client.invoke(&addr, echo(7), LONG).await.unwrap();
        assert_eq!(resp.ext_fields.get("i"), Some("7"));
        client.shutdown();
        server.shutdown().await;
    }

    pub async fn dials_once_under_concurrency(rt: Arc<dyn Runtime>) {
        let (server, _) = start_server(&rt, TransportConfig::default()).await;
        let addr = server.local_addr().to_string();
        let client = RemotingClient::new(rt.clone(), TransportConfig::default());
        let conns = futures::future::join_all((0..50).map(|_| client.connection(&addr))).await;
        let first = conns[0].as_ref().unwrap().id();
        for conn in &conns {
            assert_eq!(conn.as_ref().unwrap().id(), first);
        }
        eventually(&rt, "server sees the connection", || {
            server.connection_count() == 1
        })
        .await;
        assert_eq!(server.connection_count(), 1);
        client.shutdown();
        assert!(matches!(
            client.invoke(&addr, echo(0), LONG).await,
            Err(RemotingError::Shutdown)
        ));
        server.shutdown().await;
    }

    pub async fn timeout_leaves_no_pending_entry(rt: Arc<dyn Runtime>) {
        let (server, _) = start_server(&rt, TransportConfig::default()).await;
        let addr = server.local_addr().to_string();
        let client = RemotingClient::new(rt.clone(), TransportConfig::default());
        let conn = client.connection(&addr).await.unwrap();

        let started = Instant::now();
        let err = client
            .invoke(
                &addr,
                RemotingCommand::request(NEVER),
                Duration::from_millis(100),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, RemotingError::Timeout { code: NEVER, .. }),
            "{err}"
        );
        assert!(started.elapsed() < Duration::from_secs(3));
        assert_eq!(conn.pending_count(), 0);

        // A response arriving after the deadline is dropped, and the connection stays usable.
        let err = conn
            .invoke(RemotingCommand::request(LATE), Duration::from_millis(20))
            .await
            .unwrap_err();
        assert!(matches!(err, RemotingError::Timeout { .. }), "{err}");
        assert_eq!(conn.pending_count(), 0);
        rt.sleep(Duration::from_millis(400)).await;
        assert_eq!(conn.pending_count(), 0);
        assert!(!conn.is_closed());

        // A caller giving up (dropping the future) leaves nothing behind either.
        let gave_up = timeout(
            &*rt,
            Duration::from_millis(20),
            conn.invoke(RemotingCommand::request(NEVER), LONG),
        )
        .await;
        assert!(gave_up.is_err());
        assert_eq!(conn.pending_count(), 0);

        // A request the server never answers does not hold up later ones on the same connection.
        let stuck = conn.invoke(RemotingCommand::request(NEVER), Duration::from_secs(2));
        let quick = async {
            let started = Instant::now();
            let resp = conn.invoke(echo(7), LONG).await.unwrap();
            (resp, started.elapsed())
        };
        let (stuck, (resp, took)) = futures::future::join(stuck, quick).await;
        assert!(matches!(stuck, Err(RemotingError::Timeout { .. })));
        assert_eq!(resp.body, Bytes::from("body-7"));
        assert!(
            took < Duration::from_secs(1),
            "echo waited behind the stuck request: {took:?}"
        );
        assert_eq!(conn.pending_count(), 0);

        client.shutdown();
        server.shutdown().await;
    }

    /// Deadlines are enforced by one sweep per connection rather than a timer per request:
    /// every timeout must still fire, never early and only slightly late, whatever the order
    /// of the deadlines (an earlier one behind a later one re-arms the sweep), and after the
    /// sweep has gone quiet.
    pub async fn timeouts_fire_on_time_under_the_sweep(rt: Arc<dyn Runtime>) {
        const SLACK: Duration = Duration::from_millis(700);
        let (server, _) = start_server(&rt, TransportConfig::default()).await;
        let addr = server.local_addr().to_string();
        let client = RemotingClient::new(rt.clone(), TransportConfig::default());
        let conn = client.connection(&addr).await.unwrap();

        let timed = |timeout: Duration| {
            let conn = conn.clone();
            async move {
                let started = Instant::now();
                let err = conn
                    .invoke(RemotingCommand::request(NEVER), timeout)
                    .await
                    .unwrap_err();
                (err, started.elapsed(), timeout)
            }
        };
        let check = |(err, took, timeout): (RemotingError, Duration, Duration)| {
            assert!(
                matches!(err, RemotingError::Timeout { code: NEVER, timeout: t, .. } if t == timeout),
                "{err}"
            );
            assert!(took >= timeout, "fired early: {took:?} < {timeout:?}");
            assert!(
                took < timeout + SLACK,
                "fired late: {took:?} for {timeout:?}"
            );
        };

        // A short deadline behind a long one, and a spread of distinct deadlines at once.
        let long = conn.invoke(RemotingCommand::request(NEVER), Duration::from_secs(30));
        let short = async {
            let mut all: Vec<_> = (0..20)
                .rev()
                .map(|i| timed(Duration::from_millis(50 + 15 * i)))
                .collect();
            all.push(timed(Duration::from_millis(120)));
            futures::future::join_all(all).await
        };
        match futures::future::select(std::pin::pin!(long), std::pin::pin!(short)).await {
            // The long request (pinned in this statement) is dropped at its end.
            futures::future::Either::Right((results, _)) => {
                results.into_iter().for_each(check);
                assert_eq!(conn.pending_count(), 1);
            }
            futures::future::Either::Left((r, _)) => panic!("long request ended first: {r:?}"),
        }
        assert_eq!(conn.pending_count(), 0);

        // After answered requests only, the sweep fires on an empty table and disarms; the
        // next request must arm it again.
        for i in 0..3 {
            let resp = conn
                .invoke(echo(i), Duration::from_millis(30))
                .await
                .unwrap();
            assert_eq!(resp.body, Bytes::from(format!("body-{i}")));
        }
        rt.sleep(Duration::from_millis(100)).await;
        check(timed(Duration::from_millis(80)).await);
        assert_eq!(conn.pending_count(), 0);
        assert!(!conn.is_closed());

        client.shutdown();
        server.shutdown().await;
    }

    pub async fn peer_initiated_requests_reach_client_handler(rt: Arc<dyn Runtime>) {
        let (server, _) = start_server(&rt, TransportConfig::default()).await;
        let addr = server.local_addr().to_string();

        let client = RemotingClient::new(rt.clone(), TransportConfig::default());
        let asked = Arc::new(AtomicUsize::new(0));
        let counter = asked.clone();
        client.set_request_handler(Arc::new(move |_conn, req: RemotingCommand| {
            let counter = counter.clone();
            Box::pin(async move {
                assert_eq!(req.code, CLIENT_QUESTION);
                counter.fetch_add(1, Ordering::SeqCst);
                let mut body = b"client says: ".to_vec();
                body.extend_from_slice(&req.body);
                Some(RemotingCommand::response(ResponseCode::SUCCESS, None).with_body(body))
            })
        }));
        let resp = client
            .invoke(
                &addr,
                RemotingCommand::request(ASK_CLIENT).with_body(&b"hello"[..]),
                LONG,
            )
            .await
            .unwrap();
        assert_eq!(resp.code, ResponseCode::SUCCESS);
        assert_eq!(&resp.body[..], b"client says: hello");
        assert_eq!(asked.load(Ordering::SeqCst), 1);

        // Without a handler the client answers REQUEST_CODE_NOT_SUPPORTED, like the Java client.
        let bare = RemotingClient::new(rt.clone(), TransportConfig::default());
        let resp = bare
            .invoke(&addr, RemotingCommand::request(ASK_CLIENT), LONG)
            .await
            .unwrap();
        assert_eq!(resp.code, ResponseCode::REQUEST_CODE_NOT_SUPPORTED);
        assert_eq!(
            resp.remark.as_deref(),
            Some(" request type 2000 not supported")
        );

        // ... but never answers a oneway request.
        let server_side = server.connections();
        assert_eq!(server_side.len(), 2);
        let mut oneway = RemotingCommand::request(CLIENT_QUESTION);
        oneway.mark_oneway();
        for conn in &server_side {
            conn.send_oneway(oneway.clone()).unwrap();
            let resp = conn
                .invoke(RemotingCommand::request(CLIENT_QUESTION), LONG)
                .await
                .unwrap();
            assert!(resp.is_response());
        }
        eventually(&rt, "one oneway + one request reached the handler", || {
            asked.load(Ordering::SeqCst) == 3
        })
        .await;

        client.shutdown();
        bare.shutdown();
        server.shutdown().await;
    }

    pub async fn killed_peer_fails_every_pending_request(rt: Arc<dyn Runtime>) {
        // The server shuts down while 20 requests wait.
        let (server, _) = start_server(&rt, TransportConfig::default()).await;
        let addr = server.local_addr().to_string();
        let client = RemotingClient::new(rt.clone(), TransportConfig::default());
        let conn = client.connection(&addr).await.unwrap();
        let waiting = futures::future::join_all(
            (0..20).map(|_| conn.invoke(RemotingCommand::request(NEVER), LONG)),
        );
        let kill = async {
            eventually(&rt, "all requests pending", || conn.pending_count() == 20).await;
            rt.sleep(Duration::from_millis(50)).await;
            server.shutdown().await;
        };
        let started = Instant::now();
        let (results, ()) = futures::future::join(waiting, kill).await;
        for result in results {
            assert!(
                matches!(result, Err(RemotingError::ConnectionClosed { .. })),
                "{result:?}"
            );
        }
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(conn.pending_count(), 0);
        timeout(&*rt, Duration::from_secs(5), conn.closed())
            .await
            .unwrap();
        assert!(conn.is_closed());
        let err = conn.invoke(echo(1), LONG).await.unwrap_err();
        assert!(matches!(err, RemotingError::ConnectionClosed { .. }));

        // A bare peer drops the socket while requests wait.
        let mut listener = rt.bind(any_port()).await.unwrap();
        let peer_addr = listener.local_addr().unwrap().to_string();
        let waiting =
            futures::future::join_all((0..5).map(|_| client.invoke(&peer_addr, echo(0), LONG)));
        let kill = async {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut buf = BytesMut::new();
            for _ in 0..5 {
                let req = read_frame(&mut stream, &mut buf).await;
                assert_eq!(req.code, ECHO);
            }
            drop(stream);
        };
        let (results, ()) = futures::future::join(waiting, kill).await;
        for result in results {
            assert!(
                matches!(result, Err(RemotingError::ConnectionClosed { .. })),
                "{result:?}"
            );
        }
        client.shutdown();
    }

    /// A peer that closes a plain connection without sending a byte (what a TLS-enforcing
    /// Apache server does) yields a `ConnectionClosed` that mentions TLS; a peer that has
    /// answered before closing does not.
    pub async fn silent_close_of_a_plain_connection_hints_at_tls(rt: Arc<dyn Runtime>) {
        let client = RemotingClient::new(rt.clone(), TransportConfig::default());
        let mut listener = rt.bind(any_port()).await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let silent = async {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut buf = BytesMut::new();
            read_frame(&mut stream, &mut buf).await;
            drop(stream);
        };
        let (result, ()) = futures::future::join(client.invoke(&addr, echo(0), LONG), silent).await;
        match result {
            Err(e @ RemotingError::ConnectionClosed { hint, .. }) => {
                assert!(hint.contains("TLS"), "{e}");
                assert!(e.to_string().contains("enable TLS"), "{e}");
            }
            other => panic!("want ConnectionClosed, got {other:?}"),
        }

        let answering = async {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut buf = BytesMut::new();
            let first = read_frame(&mut stream, &mut buf).await;
            let mut resp = RemotingCommand::response(ResponseCode::SUCCESS, None);
            resp.opaque = first.opaque;
            let mut out = BytesMut::new();
            encode_frame(&resp, &mut out).unwrap();
            stream.write_all(&out).await.unwrap();
            stream.flush().await.unwrap();
            read_frame(&mut stream, &mut buf).await;
            drop(stream);
        };
        let calls = async {
            client
                .invoke(&addr, echo(1), LONG)
                .await
                .expect("first answered");
            client.invoke(&addr, echo(2), LONG).await
        };
        let (result, ()) = futures::future::join(calls, answering).await;
        match result {
            Err(RemotingError::ConnectionClosed { hint, .. }) => assert_eq!(hint, ""),
            other => panic!("want ConnectionClosed, got {other:?}"),
        }
        client.shutdown();
    }

    pub async fn reconnects_after_server_restart(rt: Arc<dyn Runtime>) {
        let config = {
            let mut c = TransportConfig::default();
            c.reconnect_backoff_initial = Duration::from_millis(400);
            c.reconnect_backoff_max = Duration::from_millis(800);
            c
        };
        let (server, _) = start_server(&rt, TransportConfig::default()).await;
        let socket_addr = server.local_addr();
        let addr = socket_addr.to_string();
        let client = RemotingClient::new(rt.clone(), config);
        client.invoke(&addr, echo(1), LONG).await.unwrap();
        let first = client.connection(&addr).await.unwrap();
        server.shutdown().await;
        timeout(&*rt, Duration::from_secs(5), first.closed())
            .await
            .unwrap();

        // Nobody listens: the dial fails, and the next call fails fast without redialling.
        let err = client.invoke(&addr, echo(2), LONG).await.unwrap_err();
        assert!(matches!(err, RemotingError::Connect { .. }), "{err}");
        let started = Instant::now();
        let err = client.invoke(&addr, echo(2), LONG).await.unwrap_err();
        assert!(matches!(err, RemotingError::Connect { .. }), "{err}");
        assert!(err.to_string().contains("next dial in"), "{err}");
        assert!(started.elapsed() < Duration::from_millis(100));

        // The server comes back on the same port.
        let handler = Arc::new(TestHandler::default());
        let mut restarted = None;
        for _ in 0..50 {
            match RemotingServer::start(
                rt.clone(),
                socket_addr,
                TransportConfig::default(),
                handler.clone(),
            )
            .await
            {
                Ok(server) => {
                    restarted = Some(server);
                    break;
                }
                Err(_) => rt.sleep(Duration::from_millis(50)).await,
            }
        }
        let server = restarted.expect("port reusable after shutdown");
        let mut answer = None;
        for _ in 0..200 {
            match client.invoke(&addr, echo(3), LONG).await {
                Ok(resp) => {
                    answer = Some(resp);
                    break;
                }
                Err(RemotingError::Connect { .. }) => rt.sleep(Duration::from_millis(20)).await,
                Err(e) => panic!("unexpected error: {e}"),
            }
        }
        assert_eq!(answer.expect("reconnected").body, Bytes::from("body-3"));
        let second = client.connection(&addr).await.unwrap();
        assert_ne!(first.id(), second.id());
        assert_eq!(handler.handled.load(Ordering::Relaxed), 1);

        // `close(addr)` drops the pooled connection; the next call dials afresh.
        client.close(&addr);
        timeout(&*rt, Duration::from_secs(5), second.closed())
            .await
            .unwrap();
        client.invoke(&addr, echo(4), LONG).await.unwrap();
        assert_ne!(client.connection(&addr).await.unwrap().id(), second.id());

        client.shutdown();
        server.shutdown().await;
    }

    pub async fn bad_frames_close_only_that_connection(rt: Arc<dyn Runtime>) {
        let config = {
            let mut c = TransportConfig::default();
            c.max_frame_size = 64 * 1024;
            c
        };
        let (server, _) = start_server(&rt, config.clone()).await;
        let socket_addr = server.local_addr();
        let addr = socket_addr.to_string();
        let client = RemotingClient::new(rt.clone(), config);
        client.invoke(&addr, echo(1), LONG).await.unwrap();

        let garbage: [&[u8]; 4] = [
            // Unknown serialize type 9.
            &[0, 0, 0, 8, 9, 0, 0, 4, 1, 2, 3, 4],
            // Header length larger than the frame.
            &[0, 0, 0, 8, 0, 0, 0, 200, 1, 2, 3, 4],
            // A JSON header that is not JSON.
            &[0, 0, 0, 9, 0, 0, 0, 5, b'{', b'{', b'{', b'{', b'{'],
            // A frame far above the 64 KiB limit.
            &[0x7f, 0xff, 0xff, 0xff],
        ];
        for bytes in garbage {
            let mut raw = raw_connect(&rt, socket_addr).await;
            raw.write_all(bytes).await.unwrap();
            raw.flush().await.unwrap();
            assert!(
                closed_by_peer(&rt, &mut raw).await,
                "server kept a connection that sent {bytes:?}"
            );
            // The well-behaved client is unaffected.
            let resp = client.invoke(&addr, echo(2), LONG).await.unwrap();
            assert_eq!(resp.body, Bytes::from("body-2"));
        }
        eventually(&rt, "bad connections dropped", || {
            server.connection_count() == 1
        })
        .await;

        // An oversized outbound command fails by itself, without killing the connection.
        let conn = client.connection(&addr).await.unwrap();
        let big = RemotingCommand::request(ECHO).with_body(vec![0u8; 128 * 1024]);
        let err = conn.invoke(big, LONG).await.unwrap_err();
        assert!(matches!(err, RemotingError::FrameTooLarge { .. }), "{err}");
        assert_eq!(conn.pending_count(), 0);
        conn.invoke(echo(3), LONG).await.unwrap();
        assert!(!conn.is_closed());

        client.shutdown();
        server.shutdown().await;
    }

    pub async fn oneway_requests_get_no_response(rt: Arc<dyn Runtime>) {
        let (server, handler) = start_server(&rt, TransportConfig::default()).await;
        let socket_addr = server.local_addr();

        let mut raw = raw_connect(&rt, socket_addr).await;
        let mut out = BytesMut::new();
        let mut oneway = RemotingCommand::request(COUNT).with_opaque(7);
        oneway.mark_oneway();
        encode_frame(&oneway, &mut out).unwrap();
        encode_frame(&echo(5).with_opaque(8), &mut out).unwrap();
        raw.write_all(&out).await.unwrap();
        raw.flush().await.unwrap();

        let mut buf = BytesMut::new();
        let resp = read_frame(&mut raw, &mut buf).await;
        assert_eq!(
            resp.opaque, 8,
            "the first frame back answers the normal request"
        );
        assert!(resp.is_response());
        assert_eq!(resp.body, Bytes::from("body-5"));
        assert_eq!(
            handler.counted.load(Ordering::SeqCst),
            1,
            "the oneway request was handled"
        );
        // Nothing else arrives.
        let mut chunk = [0u8; 64];
        let more = timeout(&*rt, Duration::from_millis(300), raw.read(&mut chunk)).await;
        assert!(
            more.is_err(),
            "unexpected bytes after the response: {more:?}"
        );
        assert!(buf.is_empty());

        // Through the client API.
        let addr = socket_addr.to_string();
        let client = RemotingClient::new(rt.clone(), TransportConfig::default());
        client
            .invoke_oneway(&addr, RemotingCommand::request(COUNT), LONG)
            .await
            .unwrap();
        eventually(&rt, "oneway delivered", || {
            handler.counted.load(Ordering::SeqCst) == 2
        })
        .await;
        assert_eq!(client.connection(&addr).await.unwrap().pending_count(), 0);

        client.shutdown();
        server.shutdown().await;
    }

    pub async fn inbound_concurrency_is_bounded(rt: Arc<dyn Runtime>) {
        let config = {
            let mut c = TransportConfig::default();
            c.max_inbound_requests = 2;
            c
        };
        let (server, _) = start_server(&rt, config).await;
        let addr = server.local_addr().to_string();
        let client = RemotingClient::new(rt.clone(), TransportConfig::default());
        let conn = client.connection(&addr).await.unwrap();
        // Two slow requests fill the server's two handler slots; the echo behind them waits.
        let slow = futures::future::join(
            conn.invoke(RemotingCommand::request(LATE), LONG),
            conn.invoke(RemotingCommand::request(LATE), LONG),
        );
        let quick = async {
            eventually(&rt, "slow requests sent", || conn.pending_count() >= 2).await;
            let started = Instant::now();
            conn.invoke(echo(1), LONG).await.unwrap();
            started.elapsed()
        };
        let ((a, b), waited) = futures::future::join(slow, quick).await;
        a.unwrap();
        b.unwrap();
        assert!(
            waited >= Duration::from_millis(100),
            "echo did not wait for a free slot: {waited:?}"
        );
        client.shutdown();
        server.shutdown().await;
    }

    pub async fn panicking_handler_answers_system_error(rt: Arc<dyn Runtime>) {
        let (server, _) = start_server(&rt, TransportConfig::default()).await;
        let addr = server.local_addr().to_string();
        let client = RemotingClient::new(rt.clone(), TransportConfig::default());
        let resp = client
            .invoke(&addr, RemotingCommand::request(PANIC), LONG)
            .await
            .unwrap();
        assert_eq!(resp.code, ResponseCode::SYSTEM_ERROR);
        assert!(
            resp.remark
                .as_deref()
                .unwrap_or_default()
                .contains("exploded"),
            "{resp:?}"
        );
        // The connection survives.
        client.invoke(&addr, echo(1), LONG).await.unwrap();
        assert_eq!(server.connection_count(), 1);
        client.shutdown();
        server.shutdown().await;
    }

    pub async fn idle_connections_are_closed(rt: Arc<dyn Runtime>) {
        let config = {
            let mut c = TransportConfig::default();
            c.idle_timeout = Some(Duration::from_millis(300));
            c
        };
        let (server, _) = start_server(&rt, config).await;
        let socket_addr = server.local_addr();
        let addr = socket_addr.to_string();
        let client = RemotingClient::new(rt.clone(), TransportConfig::default());
        let busy = client.connection(&addr).await.unwrap();
        let mut silent = raw_connect(&rt, socket_addr).await;
        let started = Instant::now();
        // Traffic every 50 ms keeps one connection open while the silent one is dropped.
        let keep_busy = async {
            while started.elapsed() < Duration::from_millis(900) {
                busy.invoke(echo(1), LONG).await.unwrap();
                rt.sleep(Duration::from_millis(50)).await;
            }
        };
        let (closed, ()) = futures::future::join(closed_by_peer(&rt, &mut silent), keep_busy).await;
        assert!(closed);
        assert!(started.elapsed() >= Duration::from_millis(250));
        assert!(!busy.is_closed());
        client.shutdown();
        server.shutdown().await;
    }

    /// Responses written while the peer does not read: the server's direct writes find the
    /// socket full and hand the rest to its writer task; every response still arrives whole,
    /// exactly once.
    pub async fn responses_to_a_stalled_reader_all_arrive_whole(rt: Arc<dyn Runtime>) {
        const N: usize = 400;
        let (server, _) = start_server(&rt, TransportConfig::default()).await;
        let mut raw = raw_connect(&rt, server.local_addr()).await;
        let body = Bytes::from(vec![7u8; 30 * 1024]);
        let mut out = BytesMut::new();
        for i in 0..N {
            let mut cmd = echo(i).with_body(body.clone());
            cmd.opaque = i as i32;
            encode_frame(&cmd, &mut out).unwrap();
        }
        raw.write_all(&out).await.unwrap();
        raw.flush().await.unwrap();
        // Let the server fill the socket buffers before reading anything.
        rt.sleep(Duration::from_millis(300)).await;
        let mut buf = BytesMut::new();
        let mut seen = vec![false; N];
        for _ in 0..N {
            let resp = read_frame(&mut raw, &mut buf).await;
            assert!(resp.is_response());
            let i = usize::try_from(resp.opaque).unwrap();
            assert!(!std::mem::replace(&mut seen[i], true), "response {i} twice");
            assert_eq!(resp.ext_fields.get("i"), Some(i.to_string().as_str()));
            assert_eq!(resp.body, body);
        }
        assert!(buf.is_empty());
        server.shutdown().await;
    }

    /// The reader splits frames off its buffer wherever the stream was cut: two requests sent
    /// in two writes split at every byte boundary (with a pause between the writes, so the
    /// server reads them apart) are both answered, whole and in order; so is a frame cut inside
    /// its length prefix or header word.
    pub async fn frames_split_at_every_byte_boundary_are_decoded(rt: Arc<dyn Runtime>) {
        let config = {
            let mut c = TransportConfig::default();
            // A small read size exercises moving an unfinished frame to a new buffer.
            c.read_chunk_bytes = 64;
            c
        };
        let (server, handler) = start_server(&rt, config).await;
        let mut raw = raw_connect(&rt, server.local_addr()).await;
        let mut stream = BytesMut::new();
        for (opaque, body) in [(1, vec![1u8; 10]), (2, vec![2u8; 150])] {
            let mut cmd = echo(opaque).with_body(body);
            cmd.opaque = opaque as i32;
            encode_frame(&cmd, &mut stream).unwrap();
        }
        let mut buf = BytesMut::new();
        for cut in 0..=stream.len() {
            raw.write_all(&stream[..cut]).await.unwrap();
            raw.flush().await.unwrap();
            rt.sleep(Duration::from_millis(1)).await;
            raw.write_all(&stream[cut..]).await.unwrap();
            raw.flush().await.unwrap();
            for (opaque, len) in [(1, 10), (2, 150)] {
                let resp = read_frame(&mut raw, &mut buf).await;
                assert_eq!(resp.opaque, opaque, "cut at {cut}");
                assert_eq!(resp.body.len(), len, "cut at {cut}");
                assert!(resp.body.iter().all(|&b| b == opaque as u8), "cut at {cut}");
            }
        }
        assert_eq!(
            handler.handled.load(Ordering::Relaxed),
            2 * (stream.len() + 1)
        );
        server.shutdown().await;
    }

    /// Frames larger than the read size, back to back in both directions: the reader grows its
    /// buffer for each frame it is receiving and every body arrives intact.
    pub async fn frames_larger_than_the_read_size_arrive_whole(rt: Arc<dyn Runtime>) {
        let config = {
            let mut c = TransportConfig::default();
            c.read_chunk_bytes = 1000;
            c
        };
        let (server, _) = start_server(&rt, config.clone()).await;
        let addr = server.local_addr().to_string();
        let client = RemotingClient::new(rt.clone(), config);
        let conn = client.connection(&addr).await.unwrap();
        let calls = (0..24usize).map(|i| {
            // Sizes around and far above the read size; distinct contents per request.
            let len = [1, 999, 1000, 1001, 70_000, 300_000][i % 6] + i;
            let body: Vec<u8> = (0..len).map(|j| (i * 31 + j) as u8).collect();
            let conn = conn.clone();
            async move {
                let resp = conn
                    .invoke(echo(i).with_body(body.clone()), LONG)
                    .await
                    .unwrap();
                assert_eq!(resp.body, Bytes::from(body), "request {i}");
            }
        });
        futures::future::join_all(calls).await;
        client.shutdown();
        server.shutdown().await;
    }

    pub async fn server_shutdown_frees_port_and_refuses(rt: Arc<dyn Runtime>) {
        let (server, _) = start_server(&rt, TransportConfig::default()).await;
        let socket_addr = server.local_addr();
        let mut raw = raw_connect(&rt, socket_addr).await;
        eventually(&rt, "connection registered", || {
            server.connection_count() == 1
        })
        .await;
        let id = server.connections()[0].id();
        assert!(server.connection(id).is_some());
        server.shutdown().await;
        assert_eq!(server.connection_count(), 0);
        assert!(closed_by_peer(&rt, &mut raw).await);
        assert!(
            rt.connect(socket_addr).await.is_err(),
            "nobody listens after shutdown"
        );
        server.shutdown().await; // idempotent
    }

    /// `max_connections`: at the cap the next connection waits (in the listen backlog) and is
    /// served once one closes. Also serves a listener bound beforehand.
    pub async fn connection_cap_makes_newcomers_wait(rt: Arc<dyn Runtime>) {
        let listener = rt.bind(any_port()).await.unwrap();
        let config = {
            let mut c = TransportConfig::default();
            c.max_connections = Some(1);
            c
        };
        let handler = Arc::new(TestHandler::default());
        let server = RemotingServer::serve(rt.clone(), listener, config, handler).unwrap();
        let addr = server.local_addr();
        let ask = |i: usize| {
            let mut out = BytesMut::new();
            encode_frame(&echo(i).with_opaque(i as i32), &mut out).unwrap();
            out
        };

        let mut first = raw_connect(&rt, addr).await;
        first.write_all(&ask(1)).await.unwrap();
        first.flush().await.unwrap();
        let mut buf = BytesMut::new();
        assert_eq!(read_frame(&mut first, &mut buf).await.opaque, 1);

        let mut second = raw_connect(&rt, addr).await;
        second.write_all(&ask(2)).await.unwrap();
        second.flush().await.unwrap();
        let mut buf2 = BytesMut::new();
        let early = timeout(
            &*rt,
            Duration::from_millis(500),
            read_frame(&mut second, &mut buf2),
        )
        .await;
        assert!(early.is_err(), "served above the cap");
        assert_eq!(server.connection_count(), 1);

        drop(first);
        let resp = timeout(
            &*rt,
            Duration::from_secs(5),
            read_frame(&mut second, &mut buf2),
        )
        .await
        .expect("served once the first connection closed");
        assert_eq!(resp.opaque, 2);
        assert_eq!(server.connection_count(), 1);
        server.shutdown().await;
    }
}

for_each_runtime!(
    typed_responses_are_the_frames_their_commands_give,
    concurrent_requests_on_one_connection,
    raw_and_map_responses_share_a_connection,
    dials_once_under_concurrency,
    timeout_leaves_no_pending_entry,
    timeouts_fire_on_time_under_the_sweep,
    peer_initiated_requests_reach_client_handler,
    killed_peer_fails_every_pending_request,
    reconnects_after_server_restart,
    bad_frames_close_only_that_connection,
    oneway_requests_get_no_response,
    inbound_concurrency_is_bounded,
    panicking_handler_answers_system_error,
    idle_connections_are_closed,
    server_shutdown_frees_port_and_refuses,
    responses_to_a_stalled_reader_all_arrive_whole,
    connection_cap_makes_newcomers_wait,
    silent_close_of_a_plain_connection_hints_at_tls,
    frames_split_at_every_byte_boundary_are_decoded,
    frames_larger_than_the_read_size_arrive_whole,
);

/// `TokioRuntime` holds a handle, so code polled by another executor (a user's thread, a
/// callback) can still use it.
#[cfg(feature = "runtime-tokio")]
#[test]
fn tokio_runtime_works_from_a_foreign_executor() {
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let rt: Arc<dyn Runtime> = Arc::new(rocketmq_rs_remoting::rt::TokioRuntime::from_handle(
        tokio.handle().clone(),
    ));
    futures::executor::block_on(common::guarded(
        rt.clone(),
        scenarios::concurrent_requests_on_one_connection(rt),
    ));
}
