//! Body compression against golden vectors made by Apache's Java classes
//! (`tests/data/compression_vectors.txt`, printed by `interop/java/CompressVectors.java` with
//! rocketmq-common 5.5.0; see `interop/java/README.md`): every zlib, zstd and LZ4 body Java
//! wrote decompresses to its input, whole stored records with compressed bodies decode as
//! Java's consumer decodes them, and our own output round-trips and keeps Java's framing.

use std::collections::BTreeMap;

use bytes::Bytes;
use rocketmq_rs_remoting::protocol::message::{
    decode_messages, decode_messages_with, decompress_for_flag, encode_message, sys_flag,
    CompressionError, CompressionType, DecodeOptions, MessageExt,
};
use rocketmq_rs_remoting::RemotingError;

const VECTORS: &str = include_str!("data/compression_vectors.txt");

fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex length");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digit"))
        .collect()
}

struct Body {
    input: String,
    kind: CompressionType,
    level: u32,
    bytes: Vec<u8>,
}

struct Record {
    kind: CompressionType,
    sys_flag: i32,
    bytes: Vec<u8>,
}

struct Vectors {
    inputs: BTreeMap<String, Vec<u8>>,
    bodies: Vec<Body>,
    records: Vec<Record>,
}

fn vectors() -> Vectors {
    let mut v = Vectors {
        inputs: BTreeMap::new(),
        bodies: Vec::new(),
        records: Vec::new(),
    };
    for line in VECTORS.lines().filter(|l| !l.starts_with('#')) {
        let f: Vec<&str> = line.split(' ').collect();
        match f[0] {
            "input" => {
                v.inputs.insert(f[1].to_owned(), unhex(f[2]));
            }
            "body" => v.bodies.push(Body {
                input: f[1].to_owned(),
                kind: f[2].parse().unwrap(),
                level: f[3].parse().unwrap(),
                bytes: unhex(f[4]),
            }),
            "record" => v.records.push(Record {
                kind: f[2].parse().unwrap(),
                sys_flag: f[3].parse().unwrap(),
                bytes: unhex(f[4]),
            }),
            other => panic!("unknown vector line kind {other:?}"),
        }
    }
    assert_eq!(v.inputs.len(), 4);
    assert_eq!(v.bodies.len(), 4 * 7);
    assert_eq!(v.records.len(), 3);
    v
}

/// zstd and LZ4 are cargo features (on by default); without one, its bodies must be a typed
/// error, never bytes.
fn disabled(kind: CompressionType, body: &[u8]) -> bool {
    if kind.is_available() {
        return false;
    }
    assert_eq!(
        kind.decompress(body, 1 << 20),
        Err(CompressionError::Disabled(kind))
    );
    true
}

#[test]
fn java_bodies_decompress_to_their_inputs() {
    let v = vectors();
    for b in &v.bodies {
        if disabled(b.kind, &b.bytes) {
            continue;
        }
        let plain = b
            .kind
            .decompress(&b.bytes, 1 << 20)
            .unwrap_or_else(|e| panic!("{} {} level {}: {e}", b.input, b.kind, b.level));
        assert_eq!(
            plain, v.inputs[&b.input],
            "{} {} level {}",
            b.input, b.kind, b.level
        );
        // The same through the sysFlag a Java producer sets.
        let flag = b.kind.compressed_sys_flag();
        assert_eq!(
            decompress_for_flag(flag, &b.bytes, 1 << 20)
                .unwrap()
                .unwrap(),
            v.inputs[&b.input]
        );
    }
}

#[test]
fn java_records_decode_like_the_java_consumer() {
    let v = vectors();
    for r in &v.records {
        assert_eq!(r.sys_flag, r.kind.compressed_sys_flag(), "{}", r.kind);
        if !r.kind.is_available() {
            assert!(matches!(
                decode_messages(Bytes::from(r.bytes.clone())),
                Err(RemotingError::MessageBody(b)) if b.source == CompressionError::Disabled(r.kind)
            ));
            continue;
        }
        let msgs = decode_messages(Bytes::from(r.bytes.clone())).unwrap();
        assert_eq!(msgs.len(), 1);
        let m = &msgs[0];
        assert_eq!(m.body, v.inputs["text"], "{}", r.kind);
        // Java's MessageDecoder clears only COMPRESSED; the type bits stay.
        assert_eq!(m.sys_flag, r.kind.sys_flag(), "{}", r.kind);
        assert!(!m.is_compressed());
        assert_eq!(m.topic, "CompressTopic");
        assert_eq!(m.tags(), Some("TagA"));
        assert_eq!(m.property("k"), Some("v ✓"));
        assert_eq!(
            (m.queue_id, m.queue_offset, m.commit_log_offset),
            (1, 42, 4096)
        );

        // Without decompression the body is the bytes Java's compressor wrote (level 5).
        let raw = decode_messages_with(Bytes::from(r.bytes.clone()), &{
            let mut c = DecodeOptions::default();
            c.decompress = false;
            c
        })
        .unwrap();
        assert_eq!(raw[0].sys_flag, r.sys_flag);
        assert_eq!(raw[0].compression_type(), Some(r.kind));
        let java_body = v
            .bodies
            .iter()
            .find(|b| b.input == "text" && b.kind == r.kind && b.level == 5)
            .unwrap();
        assert_eq!(raw[0].body, java_body.bytes, "{}", r.kind);
    }
}

#[test]
fn our_bodies_round_trip_and_keep_javas_framing() {
    let v = vectors();
    for b in v.bodies.iter().filter(|b| b.kind.is_available()) {
        let input = &v.inputs[&b.input];
        let ours = b.kind.compress(input, b.level).unwrap();
        assert_eq!(&b.kind.decompress(&ours, 1 << 20).unwrap(), input);
        match b.kind {
            // zlib CMF byte (deflate, 32 KiB window) as Java's Deflater; FLG's level class is
            // informational and differs between zlib implementations.
            CompressionType::Zlib => assert_eq!(ours[0], b.bytes[0], "zlib level {}", b.level),
            // zstd frame magic.
            CompressionType::Zstd => assert_eq!(ours[..4], b.bytes[..4]),
            // LZ4 frame magic and FLG (version 01, independent blocks, no checksums); the block
            // size byte may differ (we size it to the body).
            CompressionType::Lz4 => assert_eq!(ours[..5], b.bytes[..5]),
        }
    }
}

#[test]
fn records_we_encode_with_each_type_decode() {
    let plain = "ünïcödé body ✓ ".repeat(400);
    for kind in CompressionType::ALL
        .into_iter()
        .filter(|k| k.is_available())
    {
        let mut m = MessageExt::new("T", kind.compress(plain.as_bytes(), 5).unwrap());
        m.sys_flag = kind.compressed_sys_flag() | sys_flag::TRANSACTION_COMMIT_TYPE;
        let msgs = decode_messages(encode_message(&m).unwrap().freeze()).unwrap();
        assert_eq!(msgs[0].body, plain.as_bytes(), "{kind}");
        assert_eq!(
            msgs[0].sys_flag,
            kind.sys_flag() | sys_flag::TRANSACTION_COMMIT_TYPE
        );
    }
}

#[test]
fn unknown_type_bits_fail_that_message_with_a_typed_error() {
    let zlib = CompressionType::Zlib.compress(b"payload", 5).unwrap();
    for value in 4..8 {
        let mut m = MessageExt::new("T", zlib.clone());
        m.queue_id = 3;
        m.queue_offset = 17;
        m.sys_flag = sys_flag::COMPRESSED | (value << 8);
        match decode_messages(encode_message(&m).unwrap().freeze()) {
            Err(RemotingError::MessageBody(b)) => {
                assert_eq!((b.topic.as_str(), b.queue_id, b.queue_offset), ("T", 3, 17));
                assert_eq!(b.source, CompressionError::UnknownType(value));
            }
            other => panic!("type {value}: {other:?}"),
        }
    }
}

#[test]
fn corrupt_bodies_of_each_type_are_typed_errors() {
    for kind in CompressionType::ALL {
        let mut m = MessageExt::new("T", "not compressed at all");
        m.sys_flag = kind.compressed_sys_flag();
        match decode_messages(encode_message(&m).unwrap().freeze()) {
            Err(RemotingError::MessageBody(b)) => {
                assert!(
                    matches!(b.source, CompressionError::Corrupt { kind: k, .. } if k == kind)
                        || b.source == CompressionError::Disabled(kind),
                    "{kind}: {b}"
                )
            }
            other => panic!("{kind}: {other:?}"),
        }
    }
}

#[test]
fn an_empty_compressed_body_stays_as_java_leaves_it() {
    // Java inflates only when bodyLength > 0; the flag stays set on an empty body.
    let mut m = MessageExt::new("T", "");
    m.sys_flag = CompressionType::Zstd.compressed_sys_flag();
    let msgs = decode_messages(encode_message(&m).unwrap().freeze()).unwrap();
    assert!(msgs[0].body.is_empty());
    assert_eq!(
        msgs[0].sys_flag,
        CompressionType::Zstd.compressed_sys_flag()
    );
}
