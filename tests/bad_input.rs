//! Kind input against live servers (the real `mini-broker` and `mini-namesrv` processes):
//! malformed, truncated, oversized and random frames. Every bad connection must be closed by
//! the server, a good client must keep being served meanwhile, and the server's memory and file
//! descriptors must return to (near) their baseline.
//!
//! `cargo test -p rocketmq-it --test bad_input`; `ROCKETMQ_CHAOS_SOAK_SECS=N` repeats the
//! barrage for N seconds.

#[path = "chaos/mod.rs"]
mod support;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use rocketmq_rs_remoting::protocol::code::RequestCode;
use rocketmq_rs_remoting::protocol::codec::encode_frame;
use rocketmq_rs_remoting::protocol::header::{CommandHeader, GetRouteInfoRequestHeader};
use rocketmq_rs_remoting::protocol::RemotingCommand;

use support::procs::{fd_count, rss_kib, BrokerProc, BrokerSpec, NamesrvProc};

/// A valid frame: GET_ROUTEINFO_BY_TOPIC (any server answers it, possibly with an error code).
fn good_frame(opaque: i32) -> Vec<u8> {
    let mut cmd = RemotingCommand::request(RequestCode::GET_ROUTEINFO_BY_TOPIC)
        .with_header(&GetRouteInfoRequestHeader::new("BadInputTopic"))
        .with_opaque(opaque);
    cmd.ext_fields.insert("x", "y");
    let mut out = bytes::BytesMut::new();
    encode_frame(&cmd, &mut out).unwrap();
    out.to_vec()
}

/// The kinds of bad connection.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// Random bytes.
    Garbage,
    /// A total length far over any frame limit.
    Oversized,
    /// A negative total length.
    NegativeLength,
    /// A header length larger than the frame.
    HeaderPastEnd,
    /// A JSON header that is not JSON.
    BadJson,
    /// An unknown serialize type byte.
    BadSerializeType,
    /// A ROCKETMQ binary header with lengths pointing past its end.
    BadBinaryHeader,
    /// A valid frame cut short, then the client half-closes.
    Truncated,
    /// Random bytes inside a correct length prefix.
    RandomFrame,
}

const KINDS: [Kind; 9] = [
    Kind::Garbage,
    Kind::Oversized,
    Kind::NegativeLength,
    Kind::HeaderPastEnd,
    Kind::BadJson,
    Kind::BadSerializeType,
    Kind::BadBinaryHeader,
    Kind::Truncated,
    Kind::RandomFrame,
];

fn random_bytes(n: usize) -> Vec<u8> {
    (0..n).map(|_| fastrand::u8(..)).collect()
}

fn frame(header: &[u8], body: &[u8], serialize_type: u8) -> Vec<u8> {
    let total = 4 + header.len() + body.len();
    let mut v = Vec::with_capacity(4 + total);
    v.extend_from_slice(&(total as u32).to_be_bytes());
    v.push(serialize_type);
    v.extend_from_slice(&(header.len() as u32).to_be_bytes()[1..]);
    v.extend_from_slice(header);
    v.extend_from_slice(body);
    v
}

/// Bytes to send, and whether the client half-closes afterwards (a server cannot tell a cut
/// frame from a slow one until then).
fn payload(kind: Kind) -> (Vec<u8>, bool) {
    match kind {
        Kind::Garbage => {
            let mut v = random_bytes(64 + fastrand::usize(..4096));
            // A first byte of 0 would make a small, plausible length: force an absurd one.
            v[0] = 0xff;
            (v, false)
        }
        Kind::Oversized => {
            let mut v = 0x7fff_fff0u32.to_be_bytes().to_vec();
            v.extend(random_bytes(100));
            (v, false)
        }
        Kind::NegativeLength => ((-5i32).to_be_bytes().to_vec(), false),
        Kind::HeaderPastEnd => {
            let mut v = 20u32.to_be_bytes().to_vec();
            v.extend_from_slice(&0x00ff_ffffu32.to_be_bytes());
            v.extend(random_bytes(16));
            (v, false)
        }
        Kind::BadJson => (frame(b"{\"code\": 105, \"opaque\":", b"", 0), false),
        Kind::BadSerializeType => (frame(b"{\"code\":105}", b"", 7), false),
        Kind::BadBinaryHeader => {
            // code, language, version, opaque, flag, then a remark length far past the end.
            let mut h = Vec::new();
            h.extend_from_slice(&105i16.to_be_bytes());
            h.push(0);
            h.extend_from_slice(&401i16.to_be_bytes());
            h.extend_from_slice(&1i32.to_be_bytes());
            h.extend_from_slice(&0i32.to_be_bytes());
            h.extend_from_slice(&0x7fff_0000i32.to_be_bytes());
            (frame(&h, b"", 1), false)
        }
        Kind::Truncated => {
            let mut v = good_frame(1);
            v.truncate(1 + fastrand::usize(..v.len() - 1));
            (v, true)
        }
        Kind::RandomFrame => {
            let n = fastrand::usize(4..2048);
            let mut v = (n as u32).to_be_bytes().to_vec();
            v.extend(random_bytes(n));
            (v, true)
        }
    }
}

/// Sends one bad payload; returns whether the server closed the connection within `limit`.
fn bad_connection(addr: SocketAddr, kind: Kind, limit: Duration) -> bool {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let (bytes, half_close) = payload(kind);
    // The server may close while we write; that is fine.
    let _ = s.write_all(&bytes);
    if half_close {
        let _ = s.shutdown(Shutdown::Write);
    }
    let deadline = Instant::now() + limit;
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) => return true,
            // A random frame may be a valid request: a response is fine, keep reading.
            Ok(_) => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return true, // reset
        }
    }
    false
}

/// A well-behaved client: one request, one response.
fn good_client(addr: SocketAddr) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(&good_frame(7)).unwrap();
    let mut len = [0u8; 4];
    s.read_exact(&mut len)
        .expect("a response to a good request");
    let n = u32::from_be_bytes(len) as usize;
    assert!(n < 16 << 20);
    let mut rest = vec![0u8; n];
    s.read_exact(&mut rest).expect("the whole response");
    let frame = bytes::Bytes::from([&len[..], &rest[..]].concat());
    let resp = rocketmq_rs_remoting::protocol::codec::decode_frame(frame).expect("decodes");
    assert!(resp.is_response());
    assert_eq!(resp.opaque, 7);
}

fn barrage(name: &str, addr: SocketAddr, pid: impl Fn() -> u32) {
    // Warm up allocator pools and lazily created state before the baseline.
    for (i, kind) in KINDS.iter().cycle().take(90).enumerate() {
        assert!(
            bad_connection(addr, *kind, Duration::from_secs(5)),
            "{name}: {kind:?} not closed"
        );
        if i.is_multiple_of(10) {
            good_client(addr);
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    let rss0 = rss_kib(pid()).unwrap();
    let fd0 = fd_count(pid());
    let soak = support::soak();
    let until = Instant::now() + soak.unwrap_or(Duration::ZERO);
    let mut conns = 0usize;
    let mut not_closed = Vec::new();
    loop {
        for kind in KINDS.iter().cycle().take(900) {
            if !bad_connection(addr, *kind, Duration::from_secs(5)) {
                not_closed.push(*kind);
            }
            conns += 1;
            if conns.is_multiple_of(25) {
                good_client(addr);
            }
        }
        if Instant::now() >= until {
            break;
        }
    }
    // The server reaps closed connections asynchronously: wait until their descriptors are
    // gone (the assertion below reports it if they never are).
    let _ =
        rocketmq_it::eventually_blocking(Duration::from_secs(10), || fd_count(pid()) <= fd0 + 4);
    good_client(addr);
    let rss1 = rss_kib(pid()).unwrap();
    let fd1 = fd_count(pid());
    println!(
        "BAD_INPUT {name}: bad_connections={conns} not_closed={} rss_kib {rss0} -> {rss1} fds {fd0} -> {fd1}",
        not_closed.len()
    );
    assert!(
        not_closed.is_empty(),
        "{name}: bad connections left open: {not_closed:?}"
    );
    assert!(fd1 <= fd0 + 4, "{name}: fds grew {fd0} -> {fd1}");
    // Flat: allocator noise only, not a per-connection leak (900+ connections).
    assert!(
        rss1 <= rss0 + 16 * 1024,
        "{name}: RSS grew {rss0} -> {rss1} KiB"
    );
}

#[test]
fn namesrv_closes_bad_connections_and_keeps_serving() {
    let ns = NamesrvProc::start();
    let pid = ns.pid();
    barrage("namesrv", ns.addr, || pid);
}

#[test]
fn broker_closes_bad_connections_and_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let ns = NamesrvProc::start();
    let broker = BrokerProc::start(BrokerSpec::new(
        ns.addr,
        &dir.path().join("s"),
        "async",
        "broker-bad",
    ));
    barrage("broker", broker.addr, || broker.pid());
}

#[test]
fn header_is_checked_before_use() {
    // A JSON header with the wrong types for known fields is a typed error on decode, not a
    // panic: the server answers or closes, and serves the next client.
    let ns = NamesrvProc::start();
    let bad = frame(
        br#"{"code":"x","opaque":[],"extFields":{"topic":5}}"#,
        b"",
        0,
    );
    let mut s = TcpStream::connect(ns.addr).unwrap();
    s.write_all(&bad).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 256];
    let _ = s.read(&mut buf);
    good_client(ns.addr);
    // And a typed header read of bad ext fields is an error.
    let ext = rocketmq_rs_remoting::ExtFields::new();
    assert!(GetRouteInfoRequestHeader::read_from(&ext).is_err());
}

/// Regression (fuzz target `broker_request`): VIEW_MESSAGE_BY_ID with a commit-log offset near
/// `i64::MAX` overflowed `offset + size` in `CommitLog::read` and panicked the handler task.
/// The broker must answer "not found" and not panic (this test build has overflow checks).
#[test]
fn view_message_by_huge_offset_is_not_found_without_panic() {
    use rocketmq_rs_remoting::protocol::code::ResponseCode;
    use rocketmq_rs_remoting::protocol::header::ViewMessageRequestHeader;
    let dir = tempfile::tempdir().unwrap();
    let ns = NamesrvProc::start();
    let broker = BrokerProc::start(BrokerSpec::new(
        ns.addr,
        &dir.path().join("s"),
        "async",
        "broker-view",
    ));
    let mut s = TcpStream::connect(broker.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    for (i, offset) in [i64::MAX, i64::MAX - 3, i64::MAX - 200, -1, 1 << 62]
        .into_iter()
        .enumerate()
    {
        let header = ViewMessageRequestHeader {
            topic: None,
            offset,
        };
        let cmd = RemotingCommand::request(RequestCode::VIEW_MESSAGE_BY_ID)
            .with_header(&header)
            .with_opaque(100 + i as i32);
        let mut out = bytes::BytesMut::new();
        encode_frame(&cmd, &mut out).unwrap();
        s.write_all(&out).unwrap();
        let mut len = [0u8; 4];
        s.read_exact(&mut len).expect("a response");
        let mut rest = vec![0u8; u32::from_be_bytes(len) as usize];
        s.read_exact(&mut rest).unwrap();
        let resp = rocketmq_rs_remoting::protocol::codec::decode_frame(bytes::Bytes::from(
            [&len[..], &rest[..]].concat(),
        ))
        .unwrap();
        assert_eq!(
            resp.code,
            ResponseCode::SYSTEM_ERROR,
            "offset {offset}: {resp:?}"
        );
    }
    good_client(broker.addr);
    std::thread::sleep(Duration::from_millis(200));
    let out = broker.output();
    assert!(!out.contains("panicked"), "the broker panicked:\n{out}");
}
