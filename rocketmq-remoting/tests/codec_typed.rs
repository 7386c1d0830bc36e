//! The typed fast path of the frame codec (`encode_frame_with`: header fields written straight
//! into the frame) against the generic path (the same fields in an `ExtFields` map, then
//! `encode_frame`): byte-identical frames in both header encodings, and the same errors.

use bytes::BytesMut;
use proptest::prelude::*;
use rocketmq_rs_remoting::protocol::codec::{
    decode_frame, encode_frame, encode_frame_head, encode_frame_head_with, encode_frame_with,
};
use rocketmq_rs_remoting::protocol::header::{
    CommandHeader, FieldSink, SendMessageRequestHeaderV2, WriteFields,
};
use rocketmq_rs_remoting::protocol::{LanguageCode, RemotingCommand, SerializeType};
use rocketmq_rs_remoting::RemotingError;

/// Strings that stress escaping: ASCII, control characters (the 0x01/0x02 property separators
/// among them), quotes, backslashes, multi-byte characters.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9_%@.:-]{0,12}",
        "[\\x00-\\x1f\"\\\\/a-z]{0,12}",
        any::<String>().prop_map(|s| s.chars().take(24).collect()),
    ]
}

fn header() -> impl Strategy<Value = SendMessageRequestHeaderV2> {
    (
        (
            text(),
            text(),
            text(),
            any::<i32>(),
            any::<i32>(),
            any::<i32>(),
        ),
        (any::<i64>(), any::<i32>(), proptest::option::of(text())),
        (
            proptest::option::of(any::<i32>()),
            proptest::option::of(any::<bool>()),
            proptest::option::of(any::<i32>()),
            proptest::option::of(any::<bool>()),
            proptest::option::of(text()),
            proptest::option::of(text()),
        ),
    )
        .prop_map(|((a, b, c, d, e, f), (g, h, i), (j, k, l, m, n, bname))| {
            SendMessageRequestHeaderV2 {
                a,
                b,
                c,
                d,
                e,
                f,
                g,
                h,
                i,
                j,
                k,
                l,
                m,
                n,
                bname,
            }
        })
}

/// A command without ext fields (or with a few, some of them the header's own keys, as a
/// signed request would have), in either header encoding.
fn command() -> impl Strategy<Value = RemotingCommand> {
    (
        any::<i16>(),
        any::<i16>(),
        any::<i32>(),
        any::<i32>(),
        proptest::option::of(text()),
        any::<bool>(),
        proptest::collection::vec(
            (
                prop_oneof![Just("a".to_owned()), Just("i".to_owned()), text()],
                text(),
            ),
            0..3,
        ),
        proptest::collection::vec(any::<u8>(), 0..64),
    )
        .prop_map(|(code, version, opaque, flag, remark, binary, ext, body)| {
            let mut cmd = RemotingCommand::request(i32::from(code))
                .with_opaque(opaque)
                .with_body(body);
            cmd.version = i32::from(version);
            cmd.flag = flag;
            cmd.remark = remark;
            cmd.language = LanguageCode::Rust;
            cmd.serialize_type = if binary {
                SerializeType::RocketMq
            } else {
                SerializeType::Json
            };
            for (k, v) in ext {
                cmd.ext_fields.insert(k, v);
            }
            cmd
        })
}

/// `cmd` with `header` written into its map: what the generic path encodes.
fn mapped(cmd: &RemotingCommand, header: &SendMessageRequestHeaderV2) -> RemotingCommand {
    let mut m = cmd.clone();
    header.write_to(&mut m.ext_fields);
    m
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn typed_frames_equal_map_frames(cmd in command(), header in header()) {
        let via_map = mapped(&cmd, &header);
        let mut want = BytesMut::new();
        encode_frame(&via_map, &mut want).unwrap();
        let mut got = BytesMut::new();
        encode_frame_with(&cmd, &header.borrowed(), &mut got).unwrap();
        prop_assert_eq!(&got, &want);

        let mut want_head = BytesMut::from(&b"queued"[..]);
        encode_frame_head(&via_map, &mut want_head).unwrap();
        let mut got_head = BytesMut::from(&b"queued"[..]);
        encode_frame_head_with(&cmd, &header.borrowed(), &mut got_head).unwrap();
        prop_assert_eq!(&got_head, &want_head);

        // And the frame reads back as the header. (The binary decoder reads an empty value
        // as Java's null, an absent field: only headers without empty texts round-trip.)
        let decoded = decode_frame(got.freeze()).unwrap();
        let texts = [Some(&header.a), Some(&header.b), Some(&header.c), header.i.as_ref(), header.n.as_ref(), header.bname.as_ref()];
        if cmd.ext_fields.is_empty() && texts.iter().flatten().all(|t| !t.is_empty()) {
            prop_assert_eq!(SendMessageRequestHeaderV2::read_from(&decoded.ext_fields).unwrap(), header);
        }
    }
}

/// A header with one long key: 32 768 bytes do not fit the binary header's `i16` key length.
struct LongKey(&'static str);

impl WriteFields for LongKey {
    fn write_fields<S: FieldSink + ?Sized>(&self, sink: &mut S) {
        sink.str_field("topic", "T");
        sink.str_field(self.0, "v");
        sink.i64_field("queueId", -1);
        sink.bool_field("batch", true);
    }
    fn size_hint(&self) -> (usize, usize) {
        (4, self.0.len() + 16)
    }
}

#[test]
fn typed_and_map_paths_fail_alike() {
    let key: &'static str = Box::leak("k".repeat(32_768).into_boxed_str());
    let cmd = RemotingCommand::request(310)
        .with_opaque(1)
        .with_serialize_type(SerializeType::RocketMq);
    let mut ext = cmd.clone();
    LongKey(key).write_fields(&mut ext.ext_fields);
    let mut buf = BytesMut::from(&b"kept"[..]);
    let map_err = encode_frame(&ext, &mut buf).unwrap_err();
    assert_eq!(&buf[..], b"kept");
    let typed_err = encode_frame_with(&cmd, &LongKey(key), &mut buf).unwrap_err();
    assert_eq!(&buf[..], b"kept", "nothing is appended on error");
    assert!(matches!(
        map_err,
        RemotingError::InvalidField {
            field: "extFields",
            ..
        }
    ));
    assert_eq!(typed_err.to_string(), map_err.to_string());

    // In JSON the same header is fine, and both paths agree.
    let json = RemotingCommand::request(310).with_opaque(1);
    let mut ext = json.clone();
    LongKey(key).write_fields(&mut ext.ext_fields);
    let (mut a, mut b) = (BytesMut::new(), BytesMut::new());
    encode_frame(&ext, &mut a).unwrap();
    encode_frame_with(&json, &LongKey(key), &mut b).unwrap();
    assert_eq!(a, b);
}

/// A header writing no field: no `extFields` member at all, as for an empty map.
struct Empty;

impl WriteFields for Empty {
    fn write_fields<S: FieldSink + ?Sized>(&self, _sink: &mut S) {}
    fn size_hint(&self) -> (usize, usize) {
        (0, 0)
    }
}

#[test]
fn an_empty_typed_header_writes_no_ext_fields() {
    for t in [SerializeType::Json, SerializeType::RocketMq] {
        let cmd = RemotingCommand::request(34)
            .with_opaque(9)
            .with_serialize_type(t);
        let (mut a, mut b) = (BytesMut::new(), BytesMut::new());
        encode_frame(&cmd, &mut a).unwrap();
        encode_frame_with(&cmd, &Empty, &mut b).unwrap();
        assert_eq!(a, b);
    }
}

/// The producer's real header (1 KiB body, properties with separators) in both encodings:
/// a fixed case next to the property test above.
#[test]
fn a_producer_send_header_is_byte_identical() {
    let header = SendMessageRequestHeaderV2 {
        a: "please_rename_unique_group_name".into(),
        b: "TopicTest".into(),
        c: "TBW102".into(),
        d: 4,
        e: 3,
        f: 0,
        g: 1_765_000_000_000,
        h: 0,
        i: Some(
            "WAIT\u{1}true\u{2}UNIQ_KEY\u{1}7F000001000018B4AAC2\u{2}TAGS\u{1}TagA\u{2}".into(),
        ),
        j: Some(0),
        k: Some(false),
        l: None,
        m: Some(false),
        n: Some("broker-a".into()),
        bname: None,
    };
    for t in [SerializeType::Json, SerializeType::RocketMq] {
        let cmd = RemotingCommand::request(310)
            .with_opaque(77)
            .with_serialize_type(t)
            .with_body(vec![b'x'; 1024]);
        let (mut a, mut b) = (BytesMut::new(), BytesMut::new());
        encode_frame(&mapped(&cmd, &header), &mut a).unwrap();
        encode_frame_with(&cmd, &header.borrowed(), &mut b).unwrap();
        assert_eq!(a, b, "{t:?}");
    }
}
