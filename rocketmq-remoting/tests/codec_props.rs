//! Property tests of the frame codec: lossless round trips in both header encodings, no panics on
//! arbitrary or corrupted input, and the size limit enforced before any buffering.

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use rocketmq_rs_remoting::protocol::codec::{
    decode_frame, decode_header_and_body, encode_frame, FrameDecoder, DEFAULT_MAX_FRAME_SIZE,
};
use rocketmq_rs_remoting::protocol::{ExtFields, LanguageCode, RemotingCommand, SerializeType};
use rocketmq_rs_remoting::RemotingError;

const LANGUAGES: [LanguageCode; 14] = [
    LanguageCode::Java,
    LanguageCode::Cpp,
    LanguageCode::Dotnet,
    LanguageCode::Python,
    LanguageCode::Delphi,
    LanguageCode::Erlang,
    LanguageCode::Ruby,
    LanguageCode::Other,
    LanguageCode::Http,
    LanguageCode::Go,
    LanguageCode::Php,
    LanguageCode::Oms,
    LanguageCode::Rust,
    LanguageCode::NodeJs,
];

/// Strings that stress escaping: ASCII, control characters (incl. the 0x01/0x02 property
/// separators), quotes, backslashes, and multi-byte characters.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9_%@.:-]{0,12}",
        "[\\x00-\\x1f\"\\\\/a-z]{0,12}",
        any::<String>().prop_map(|s| s.chars().take(24).collect()),
    ]
}

fn command(binary: bool) -> impl Strategy<Value = RemotingCommand> {
    let small = if binary {
        (i16::MIN as i32)..=(i16::MAX as i32)
    } else {
        i32::MIN..=i32::MAX
    };
    (
        small.clone(),
        0..LANGUAGES.len(),
        small,
        any::<i32>(),
        any::<i32>(),
        proptest::option::of(text()),
        proptest::collection::vec((text(), text()), 0..8),
        proptest::collection::vec(any::<u8>(), 0..300),
    )
        .prop_map(
            move |(code, lang, version, opaque, flag, remark, ext, body)| RemotingCommand {
                code,
                language: LANGUAGES[lang],
                version,
                opaque,
                flag,
                remark,
                ext_fields: ext.into_iter().collect(),
                body: Bytes::from(body),
                serialize_type: if binary {
                    SerializeType::RocketMq
                } else {
                    SerializeType::Json
                },
            },
        )
}

fn encode(cmd: &RemotingCommand) -> BytesMut {
    let mut buf = BytesMut::new();
    encode_frame(cmd, &mut buf).unwrap();
    buf
}

/// What a binary round trip preserves: empty strings are Java nulls there (docs/protocol/frame.md §4).
fn binary_view(cmd: &RemotingCommand) -> RemotingCommand {
    let mut c = cmd.clone();
    c.remark = cmd.remark.clone().filter(|r| !r.is_empty());
    c.ext_fields = cmd
        .ext_fields
        .iter()
        .filter(|(k, v)| !k.is_empty() && !v.is_empty())
        .collect::<ExtFields>();
    c
}

/// Feeds `bytes` to a decoder in `chunk`-sized pieces, collecting everything until the first
/// error.
fn stream(
    decoder: &mut FrameDecoder,
    bytes: &[u8],
    chunk: usize,
) -> (Vec<RemotingCommand>, Option<RemotingError>) {
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for piece in bytes.chunks(chunk.max(1)) {
        buf.extend_from_slice(piece);
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(cmd)) => out.push(cmd),
                Ok(None) => break,
                Err(e) => return (out, Some(e)),
            }
        }
    }
    (out, None)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn json_round_trip(cmd in command(false)) {
        let frame = encode(&cmd);
        prop_assert_eq!(frame[4], 0);
        prop_assert_eq!(decode_frame(frame.freeze()).unwrap(), cmd);
    }

    #[test]
    fn binary_round_trip(cmd in command(true)) {
        let frame = encode(&cmd);
        prop_assert_eq!(frame[4], 1);
        prop_assert_eq!(decode_frame(frame.freeze()).unwrap(), binary_view(&cmd));
    }

    #[test]
    fn stream_of_frames_round_trips_in_any_chunking(
        cmds in proptest::collection::vec(prop_oneof![command(false), command(true)], 1..6),
        chunk in 1usize..64,
    ) {
        let mut wire = BytesMut::new();
        for cmd in &cmds {
            encode_frame(cmd, &mut wire).unwrap();
        }
        let (got, err) = stream(&mut FrameDecoder::default(), &wire, chunk);
        prop_assert!(err.is_none());
        let want: Vec<_> = cmds
            .iter()
            .map(|c| if c.serialize_type == SerializeType::RocketMq { binary_view(c) } else { c.clone() })
            .collect();
        prop_assert_eq!(got, want);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512), chunk in 1usize..40) {
        let _ = decode_frame(Bytes::from(bytes.clone()));
        let _ = decode_header_and_body(Bytes::from(bytes.clone()));
        let _ = stream(&mut FrameDecoder::new(1024), &bytes, chunk);
    }

    #[test]
    fn arbitrary_headers_never_panic(
        header in proptest::collection::vec(any::<u8>(), 0..300),
        json_like in "[{}\\[\\]\":,a-z0-9 .\\\\eE+-]{0,80}",
        binary in any::<bool>(),
    ) {
        // Wrap the garbage in a valid preamble so that the header parsers themselves are hit.
        for h in [&header[..], json_like.as_bytes()] {
            let mut frame = Vec::new();
            frame.extend_from_slice(&(4 + h.len() as u32).to_be_bytes());
            frame.extend_from_slice(&((u32::from(binary) << 24) | h.len() as u32).to_be_bytes());
            frame.extend_from_slice(h);
            let _ = decode_frame(Bytes::from(frame));
        }
    }

    #[test]
    fn corrupted_frames_never_panic(
        cmd in prop_oneof![command(false), command(true)],
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
    ) {
        let mut frame = encode(&cmd).to_vec();
        for (at, byte) in flips {
            let i = at.index(frame.len());
            frame[i] = byte;
        }
        let _ = decode_frame(Bytes::from(frame.clone()));
        let _ = stream(&mut FrameDecoder::default(), &frame, 13);
    }

    #[test]
    fn oversize_prefix_is_rejected_before_buffering(declared in (DEFAULT_MAX_FRAME_SIZE as u32 - 3)..=u32::MAX) {
        let mut src = BytesMut::with_capacity(8);
        src.extend_from_slice(&declared.to_be_bytes());
        let capacity = src.capacity();
        match FrameDecoder::default().decode(&mut src) {
            Err(RemotingError::FrameTooLarge { len, max }) => {
                prop_assert_eq!(len, declared as usize + 4);
                prop_assert_eq!(max, DEFAULT_MAX_FRAME_SIZE);
            }
            other => prop_assert!(false, "unexpected {:?}", other),
        }
        prop_assert_eq!(src.len(), 4);
        prop_assert_eq!(src.capacity(), capacity);
    }
}

#[test]
fn largest_allowed_prefix_waits_for_more_data() {
    // Netty's rule: prefix + 4 <= max, so 16 MiB - 4 is still accepted (just incomplete here).
    let mut src = BytesMut::new();
    src.extend_from_slice(&(DEFAULT_MAX_FRAME_SIZE as u32 - 4).to_be_bytes());
    src.extend_from_slice(&[0, 0, 0, 2, b'{', b'}']);
    let capacity = src.capacity();
    assert!(FrameDecoder::default().decode(&mut src).unwrap().is_none());
    assert_eq!(src.len(), 10);
    assert_eq!(
        src.capacity(),
        capacity,
        "no allocation for the announced frame"
    );
}

#[test]
fn bad_preamble_is_rejected_before_the_frame_is_complete() {
    let mut decoder = FrameDecoder::default();
    // Unknown serialize type 2.
    let mut src = BytesMut::from(&[0, 0, 1, 0, 2, 0, 0, 2][..]);
    assert!(matches!(
        decoder.decode(&mut src),
        Err(RemotingError::Decode(_))
    ));
    // Header longer than the frame.
    let mut src = BytesMut::from(&[0, 0, 1, 0, 0, 0, 1, 0][..]);
    assert!(matches!(
        decoder.decode(&mut src),
        Err(RemotingError::Decode(_))
    ));
    // Length prefix too short to hold the header-length word.
    let mut src = BytesMut::from(&[0, 0, 0, 3][..]);
    assert!(matches!(
        decoder.decode(&mut src),
        Err(RemotingError::Decode(_))
    ));
}

#[test]
fn custom_max_frame_size_is_inclusive_of_the_prefix() {
    let cmd = RemotingCommand::request(34).with_opaque(1);
    let frame = encode(&cmd);
    let mut exact = FrameDecoder::new(frame.len());
    let mut src = frame.clone();
    assert_eq!(exact.decode(&mut src).unwrap(), Some(cmd));
    let mut src = frame.clone();
    assert!(matches!(
        FrameDecoder::new(frame.len() - 1).decode(&mut src),
        Err(RemotingError::FrameTooLarge { .. })
    ));
}

#[test]
fn decoded_body_is_a_zero_copy_slice_of_the_frame() {
    let cmd = RemotingCommand::request(310).with_body(vec![0xab; 4096]);
    let frame = encode(&cmd).freeze();
    let body_start = frame.len() - 4096;
    let expected_ptr = frame[body_start..].as_ptr();
    let decoded = decode_frame(frame).unwrap();
    assert_eq!(decoded.body.as_ptr(), expected_ptr);

    let mut src = encode(&cmd);
    let expected_ptr = src[src.len() - 4096..].as_ptr();
    let decoded = FrameDecoder::default().decode(&mut src).unwrap().unwrap();
    assert_eq!(decoded.body.as_ptr(), expected_ptr);
}
