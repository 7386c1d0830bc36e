//! The raw response decode (`decode_raw_header_and_body`: extFields left as ranges of the
//! received header, read by the caller) against the generic decode (`decode_header_and_body`):
//! the same command for every frame, the same errors for malformed ones, and fields that read
//! as the map holds them.

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use rocketmq_rs_remoting::protocol::codec::{
    decode_header_and_body, decode_raw_header_and_body, encode_frame, FrameDecoder,
};
use rocketmq_rs_remoting::protocol::{LanguageCode, RemotingCommand, SerializeType};

/// Texts that stress the reader: plain ASCII, quotes, backslashes and control characters
/// (escaped on the wire, so the general path takes over), multi-byte characters.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-zA-Z0-9_%@.:-]{0,12}",
        1 => "[\\x00-\\x1f\"\\\\/a-z]{0,6}",
        1 => any::<String>().prop_map(|s| s.chars().take(12).collect()),
    ]
}

fn command() -> impl Strategy<Value = RemotingCommand> {
    (
        any::<i16>(),
        any::<i32>(),
        any::<i32>(),
        proptest::option::of(text()),
        any::<bool>(),
        // Up to 14 fields: more than the raw reader keeps as ranges, so both ways are taken.
        proptest::collection::vec(
            (
                prop_oneof![Just("msgId".to_owned()), Just("queueId".to_owned()), text()],
                text(),
            ),
            0..14,
        ),
        proptest::collection::vec(any::<u8>(), 0..8),
    )
        .prop_map(|(code, opaque, flag, remark, binary, ext, body)| {
            let mut cmd = RemotingCommand::request(i32::from(code))
                .with_opaque(opaque)
                .with_body(body)
                .with_serialize_type(if binary {
                    SerializeType::RocketMq
                } else {
                    SerializeType::Json
                });
            cmd.flag = flag;
            cmd.remark = remark;
            cmd.language = LanguageCode::Java;
            for (k, v) in ext {
                cmd.ext_fields.insert(k, v);
            }
            cmd
        })
}

/// The frame after its length prefix, as `decode_header_and_body` takes it.
fn frame_of(cmd: &RemotingCommand) -> Option<Bytes> {
    let mut buf = BytesMut::new();
    encode_frame(cmd, &mut buf).ok()?;
    Some(Bytes::from(buf).slice(4..))
}

/// A JSON frame after its length prefix, from header text.
fn json_frame(header: &str, body: &[u8]) -> Bytes {
    let mut f = Vec::new();
    f.extend_from_slice(&(header.len() as u32).to_be_bytes());
    f.extend_from_slice(header.as_bytes());
    f.extend_from_slice(body);
    Bytes::from(f)
}

fn assert_same(frame: Bytes) {
    let general = decode_header_and_body(frame.clone());
    let raw = decode_raw_header_and_body(frame);
    match (general, raw) {
        (Ok(cmd), Ok(raw)) => {
            // Fields read in wire order with later values overwriting earlier ones give the map.
            let mut seen: Vec<(String, String)> = Vec::new();
            for (k, v) in raw.fields() {
                match seen.iter_mut().find(|(sk, _)| sk == k) {
                    Some(e) => e.1 = v.to_owned(),
                    None => seen.push((k.to_owned(), v.to_owned())),
                }
            }
            let map: Vec<(String, String)> = cmd
                .ext_fields
                .iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
            assert_eq!(seen, map);
            for (k, v) in cmd.ext_fields.iter() {
                assert_eq!(raw.get(k), Some(v), "get({k:?})");
            }
            assert_eq!(raw.is_response(), cmd.is_response());
            assert_eq!(raw.into_command(), cmd);
        }
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
        (a, b) => panic!("general {a:?} but raw {b:?}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn raw_decode_matches_the_general_decode(cmd in command()) {
        if let Some(frame) = frame_of(&cmd) {
            assert_same(frame);
        }
    }

    /// Malformed headers: truncated frames and single-byte corruptions of real ones.
    #[test]
    fn raw_decode_fails_as_the_general_decode(cmd in command(), cut in any::<usize>(), at in any::<usize>(), byte in any::<u8>()) {
        if let Some(frame) = frame_of(&cmd) {
            assert_same(frame.slice(..cut % (frame.len() + 1)));
            let mut bad = frame.to_vec();
            let i = at % bad.len();
            bad[i] = byte;
            assert_same(Bytes::from(bad));
        }
    }
}

#[test]
fn lenient_json_reads_the_same() {
    for header in [
        // Repeated keys, a repeated extFields member (the last one counts), nulls, numbers,
        // booleans, nested values, unknown members, a BOM, blanks and a trailing NUL.
        r#"{"code":0,"extFields":{"msgId":"a","queueId":"1","msgId":"b"},"flag":1,"opaque":3}"#,
        r#"{"extFields":{"x":"1"},"code":0,"extFields":{"y":"2"},"flag":1}"#,
        r#"{"extFields":{"x":"1"},"extFields":null,"flag":1}"#,
        r#"{"extFields":{"a":null,"b":12.5e3,"c":true,"d":false,"e":{"f":[1,{"g":null}]}},"flag":1}"#,
        "\u{feff}{ \"code\" : \"7\" , \"extFields\" : { \"k\" : \"v\" } , \"flag\":1 , \"x\":[1,2]}\n\0",
        r#"{"code":0,"extFields":{"k":"v\"q"},"flag":1,"opaque":3}"#,
        r#"{"code":0,"extFields":{"k":"v\u0001w"},"remark":"r\tx","flag":1}"#,
        r#"{"code":0,"extFields":{},"flag":1,"remark":null,"language":"CPP","version":"12"}"#,
        r#"{"code":0,"extFields":{"1":"","2":"","3":"","4":"","5":"","6":"","7":"","8":"","9":"","10":"","11":""}}"#,
        r#"{"code":0,"extFields":{"k":"v"},"flag":1"#,
        r#"{"code":0,"extFields":{"k":"v",},"flag":1}"#,
        r#"{"code":0,"extFields":{"k":},"flag":1}"#,
        r#"{"code":0,"extFields":{"k":"v"}} trailing"#,
        r#"{"code":99999999999,"flag":1}"#,
        // Names the member shortcut must not take for its own: escaped, longer, or spaced.
        r#"{"co\u0064e":5,"codec":6,"flag" :1,"opaqueX":2,"opaque":3,"extFields":{"k":"v"}}"#,
        r#"{"e":{"x":1},"extField":{"k":"v"},"s":"t","serializeTypeCurrentRPC":"JSON","v":1}"#,
    ] {
        assert_same(json_frame(header, b"body"));
    }
    // Invalid UTF-8 in the header.
    let mut bad = br#"{"code":0,"extFields":{"k":"v"#.to_vec();
    bad.push(0xFF);
    bad.extend_from_slice(br#""},"flag":1}"#);
    let mut f = (bad.len() as u32).to_be_bytes().to_vec();
    f.extend_from_slice(&bad);
    assert_same(Bytes::from(f));
}

#[test]
fn the_frame_decoder_reads_raw_frames_as_it_reads_commands() {
    let mut cmd = RemotingCommand::response(0, None).with_opaque(9);
    cmd.language = LanguageCode::Java;
    cmd.ext_fields.insert("queueOffset", "42");
    let mut buf = BytesMut::new();
    encode_frame(&cmd, &mut buf).unwrap();
    let whole = buf.clone();
    let mut decoder = FrameDecoder::default();
    // Byte by byte: incomplete until the last one.
    let mut partial = BytesMut::new();
    for (i, b) in whole.iter().enumerate() {
        partial.extend_from_slice(&[*b]);
        let got = decoder.decode_raw(&mut partial).unwrap();
        if i + 1 < whole.len() {
            assert!(got.is_none());
        } else {
            let raw = got.unwrap();
            assert_eq!(raw.get("queueOffset"), Some("42"));
            assert_eq!(raw.into_command(), cmd);
        }
    }
    assert!(partial.is_empty());
    // Oversized and undersized prefixes fail as `decode` fails.
    let mut small = FrameDecoder::new(16);
    let mut b = whole.clone();
    assert_eq!(
        small.decode_raw(&mut b).unwrap_err().to_string(),
        small.decode(&mut whole.clone()).unwrap_err().to_string()
    );
    let mut short = BytesMut::from(&[0u8, 0, 0, 2, 0, 0, 0, 0][..]);
    assert!(decoder.decode_raw(&mut short).is_err());
}
