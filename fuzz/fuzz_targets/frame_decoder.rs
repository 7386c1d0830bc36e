//! Feeds arbitrary bytes, in arbitrary chunk sizes, to the stream frame decoder. Every frame it
//! accepts must re-encode (in the encoding it arrived in) and decode back to the same command.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use rocketmq_rs_remoting::protocol::codec::{decode_frame, encode_frame, FrameDecoder};

/// Small enough that the fuzzer reaches the size check, large enough for real frames.
const MAX_FRAME: usize = 64 * 1024;

fuzz_target!(|data: &[u8]| {
    // The first byte picks the chunk size, the rest is the stream.
    let Some((&chunk, stream)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(chunk % 64) + 1;
    let mut decoder = FrameDecoder::new(MAX_FRAME);
    let mut buf = BytesMut::new();
    for piece in stream.chunks(chunk) {
        buf.extend_from_slice(piece);
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(cmd)) => {
                    let mut out = BytesMut::new();
                    encode_frame(&cmd, &mut out).expect("a decoded command re-encodes");
                    let again = decode_frame(out.freeze()).expect("a re-encoded frame decodes");
                    assert_eq!(again, cmd);
                }
                Ok(None) => break,
                // The stream is out of sync after an error: a connection would be closed.
                Err(_) => return,
            }
        }
    }
});
