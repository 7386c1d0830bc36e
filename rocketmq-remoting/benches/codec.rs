//! Frame codec throughput: encode + decode of a SEND_MESSAGE_V2 request with a 1 KiB body, in
//! both header encodings.

use bytes::{Bytes, BytesMut};
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use rocketmq_rs_remoting::protocol::codec::{encode_frame, FrameDecoder};
use rocketmq_rs_remoting::protocol::header::{
    SendMessageRequestHeaderV2, SendMessageResponseHeader,
};
use rocketmq_rs_remoting::protocol::{ExtFields, LanguageCode, RemotingCommand, SerializeType};

fn send_message_v2(serialize_type: SerializeType) -> RemotingCommand {
    let mut ext = ExtFields::with_capacity(13);
    ext.insert("a", "please_rename_unique_group_name");
    ext.insert("b", "TopicTest");
    ext.insert("c", "TBW102");
    ext.insert("d", "4");
    ext.insert("e", "2");
    ext.insert("f", "0");
    ext.insert("g", "1717000000000");
    ext.insert("h", "0");
    ext.insert(
        "i",
        "KEYS\u{1}order-42\u{2}TAGS\u{1}TagA\u{2}UNIQ_KEY\u{1}C0A8010A7A6918B4AAC2000000000000\u{2}WAIT\u{1}true\u{2}",
    );
    ext.insert("j", "0");
    ext.insert("k", "false");
    ext.insert("m", "false");
    ext.insert("n", "broker-a");
    RemotingCommand {
        code: 310,
        language: LanguageCode::Rust,
        version: 401,
        opaque: 123_456,
        flag: 0,
        remark: None,
        ext_fields: ext,
        body: Bytes::from(vec![0x5a; 1024]),
        serialize_type,
    }
}

fn bench_codec(c: &mut Criterion) {
    for (name, st) in [
        ("json", SerializeType::Json),
        ("binary", SerializeType::RocketMq),
    ] {
        let cmd = send_message_v2(st);
        let mut frame = BytesMut::new();
        encode_frame(&cmd, &mut frame).unwrap();
        let frame_len = frame.len();

        let mut group = c.benchmark_group(format!("send_v2_1k_{name}"));
        group.throughput(Throughput::Elements(1));
        let mut buf = BytesMut::with_capacity(4096);
        group.bench_function("encode", |b| {
            b.iter(|| {
                buf.clear();
                encode_frame(black_box(&cmd), &mut buf).unwrap();
                black_box(buf.len())
            })
        });
        let mut decoder = FrameDecoder::default();
        group.bench_function("decode", |b| {
            b.iter(|| {
                let mut src = BytesMut::from(black_box(&frame[..]));
                black_box(decoder.decode(&mut src).unwrap().unwrap())
            })
        });
        group.bench_function("encode+decode", |b| {
            b.iter(|| {
                let mut src = BytesMut::with_capacity(frame_len);
                encode_frame(black_box(&cmd), &mut src).unwrap();
                black_box(decoder.decode(&mut src).unwrap().unwrap())
            })
        });
        group.finish();
    }
}

/// The broker's other per-message header work: the typed SEND_MESSAGE_V2 header read from a
/// decoded request, and the send response built (header moved in) and encoded.
fn bench_headers(c: &mut Criterion) {
    let mut frame = BytesMut::new();
    encode_frame(&send_message_v2(SerializeType::Json), &mut frame).unwrap();
    let decoded = FrameDecoder::default().decode(&mut frame).unwrap().unwrap();
    let mut group = c.benchmark_group("send_v2_headers");
    group.throughput(Throughput::Elements(1));
    group.bench_function("typed_request_decode", |b| {
        b.iter(|| {
            black_box(
                black_box(&decoded)
                    .decode_header::<SendMessageRequestHeaderV2>()
                    .unwrap(),
            )
        })
    });
    let mut buf = BytesMut::with_capacity(1024);
    group.bench_function("response_build_encode", |b| {
        b.iter(|| {
            let h = SendMessageResponseHeader {
                msg_id: black_box("C0A8010A00002A9F0000000000001234").to_string(),
                queue_id: 3,
                queue_offset: black_box(77),
                transaction_id: None,
                batch_uniq_id: None,
                recall_handle: None,
                msg_region: Some("DefaultRegion".to_string()),
                trace_on: Some(false),
            };
            let resp = RemotingCommand::response(0, None)
                .with_opaque(5)
                .with_owned_header(h);
            buf.clear();
            encode_frame(&resp, &mut buf).unwrap();
            black_box(buf.len())
        })
    });
    group.finish();
}

criterion_group!(benches, bench_codec, bench_headers);
criterion_main!(benches);
