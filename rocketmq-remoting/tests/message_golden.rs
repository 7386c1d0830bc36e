//! Golden byte vectors for the message encodings (docs/protocol/message.md).

use bytes::{Bytes, BytesMut};
use rocketmq_rs_remoting::protocol::message::{
    body_crc, compress, decode_batch, decode_message, decode_messages, decode_properties,
    encode_batch, encode_message, encode_message_with_version, encode_properties, offset_msg_id,
    parse_offset_msg_id, property, sys_flag, tag_hash_code, BatchMessage, MessageExt,
    MessageVersion, Properties, MAGIC_V2,
};
use std::net::SocketAddr;

fn hex(s: &str) -> Vec<u8> {
    // Everything after `#` on a line is a comment.
    let clean: String = s
        .lines()
        .map(|l| l.split('#').next().unwrap_or(""))
        .flat_map(|l| l.split_whitespace())
        .collect();
    assert!(clean.len().is_multiple_of(2), "odd hex length");
    (0..clean.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&clean[i..i + 2], 16).unwrap())
        .collect()
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// docs/protocol/message.md §9, field by field.
const A1: &str = "
    000000a7 daa320a7 77d18982 00000000          # totalSize magic bodyCRC queueId
    00000000 0000000000000005 0000000000001000   # flag queueOffset physicalOffset
    00000000 0000018fc52cd200                    # sysFlag bornTimestamp
    c0a8010a 0000cfdb 0000018fc52cd27b           # bornHost storeTimestamp
    c0a80114 00002a9f 00000000 0000000000000000  # storeHost reconsumeTimes preparedTxOffset
    00000005 48656c6c6f                          # body
    09 546f70696354657374                        # topic
    003e 54414753015461674102                    # propertiesLength 62, TAGS=TagA
    554e49515f4b455901433041383031304137413639313842344141433230303030303030303030303002 # UNIQ_KEY
    57414954017472756502                         # WAIT=true
";

fn a1_message() -> MessageExt {
    let mut m = MessageExt::new("TopicTest", "Hello");
    m.queue_offset = 5;
    m.commit_log_offset = 0x1000;
    m.born_timestamp = 1_717_000_000_000;
    m.born_host = addr("192.168.1.10:53211");
    m.store_timestamp = 1_717_000_000_123;
    m.store_host = addr("192.168.1.20:10911");
    m.properties.insert(property::TAGS, "TagA");
    m.properties
        .insert(property::UNIQ_KEY, "C0A8010A7A6918B4AAC2000000000000");
    m.properties.insert(property::WAIT, "true");
    m.store_size = 167;
    m.body_crc = 0x77D1_8982;
    m.msg_id = "C0A8011400002A9F0000000000001000".into();
    m
}

#[test]
fn a1_record_encodes_exactly() {
    let expected = hex(A1);
    assert_eq!(expected.len(), 167);
    let got = encode_message(&a1_message()).unwrap();
    assert_eq!(got.as_ref(), expected.as_slice());
}

#[test]
fn a1_record_decodes() {
    let mut buf = Bytes::from(hex(A1));
    let m = decode_message(&mut buf, true, true).unwrap();
    assert!(buf.is_empty());
    assert_eq!(m, a1_message());
    assert_eq!(m.offset_msg_id(), "C0A8011400002A9F0000000000001000");
    assert_eq!(m.client_msg_id(), "C0A8010A7A6918B4AAC2000000000000");
    assert_eq!(body_crc(&m.body), m.body_crc);
}

#[test]
fn a1_record_skipping_the_body() {
    let mut buf = Bytes::from(hex(A1));
    let m = decode_message(&mut buf, false, true).unwrap();
    assert!(m.body.is_empty());
    assert_eq!(m.topic, "TopicTest");
    assert_eq!(m.tags(), Some("TagA"));
}

/// A zlib stream of "Hello" in a stored (uncompressed) deflate block, built by hand:
/// header 78 01, block header 01 (final, stored), LEN 0005, NLEN fffa, data, Adler-32 058c01f5.
const ZLIB_HELLO: &str = "7801 01 0500 faff 48656c6c6f 058c01f5";

/// Two records as a PULL_MESSAGE response body: IPv4 hosts and a plain body, then IPv6 hosts
/// (sysFlag bits 4 and 5) and a zlib body (sysFlag 0x301).
const PULL_BODY: &str = "
    0000006a daa320a7 352441c2 00000001                 # total magic crc(abc) queueId 1
    00000007 000000000000000a 0000000000002000          # flag 7 queueOffset 10 physOffset
    00000000 0000018fc52cd200                           # sysFlag 0, bornTimestamp
    0a000005 0000c350                                   # bornHost 10.0.0.5:50000
    0000018fc52cd27b                                    # storeTimestamp
    0a000001 00002a9f                                   # storeHost 10.0.0.1:10911
    00000000 0000000000000000                           # reconsumeTimes, preparedTxOffset
    00000003 616263                                     # body abc
    02 5431                                             # topic T1
    000a 54414753015461674102                           # TAGS=TagA

    000000ba daa320a7 2d00259a 00000002                 # total magic crc(zlib) queueId 2
    00000000 000000000000000b 0000000000002100          # flag queueOffset 11 physOffset
    00000331 0000018fc52cd3c8                           # sysFlag 0x331, bornTimestamp
    fe800000000000000000000000000001 0000c351           # bornHost [fe80::1]:50001
    0000018fc52cd515                                    # storeTimestamp
    20010db8000000000000000000000001 00002a9f           # storeHost [2001:db8::1]:10911
    00000003 0000000000000000                           # reconsumeTimes 3
    00000010 7801010500faff48656c6c6f058c01f5           # body (zlib, 16 bytes)
    02 5431                                             # topic T1
    0035 4b455953016b31206b3202                         # KEYS=k1 k2
    554e49515f4b455901 4143313130303031324139463030303030303130303030303030303030303031 02
";

fn pull_messages() -> [MessageExt; 2] {
    let mut a = MessageExt::new("T1", "abc");
    a.queue_id = 1;
    a.flag = 7;
    a.queue_offset = 10;
    a.commit_log_offset = 0x2000;
    a.born_timestamp = 1_717_000_000_000;
    a.born_host = addr("10.0.0.5:50000");
    a.store_timestamp = 1_717_000_000_123;
    a.store_host = addr("10.0.0.1:10911");
    a.properties.insert(property::TAGS, "TagA");

    let mut b = MessageExt::new("T1", hex(ZLIB_HELLO));
    b.queue_id = 2;
    b.queue_offset = 11;
    b.commit_log_offset = 0x2100;
    b.sys_flag = sys_flag::COMPRESSED | sys_flag::COMPRESSION_ZLIB;
    b.born_timestamp = 1_717_000_000_456;
    b.born_host = addr("[fe80::1]:50001");
    b.store_timestamp = 1_717_000_000_789;
    b.store_host = addr("[2001:db8::1]:10911");
    b.reconsume_times = 3;
    b.properties.insert(property::KEYS, "k1 k2");
    b.properties
        .insert(property::UNIQ_KEY, "AC1100012A9F00000010000000000001");
    [a, b]
}

#[test]
fn pull_body_encodes_exactly() {
    let [a, b] = pull_messages();
    let mut body = BytesMut::new();
    body.extend_from_slice(&encode_message(&a).unwrap());
    body.extend_from_slice(&encode_message(&b).unwrap());
    assert_eq!(body.as_ref(), hex(PULL_BODY).as_slice());
}

#[test]
fn pull_body_decodes_and_decompresses() {
    let msgs = decode_messages(Bytes::from(hex(PULL_BODY))).unwrap();
    assert_eq!(msgs.len(), 2);
    let (a, b) = (&msgs[0], &msgs[1]);

    assert_eq!(a.topic, "T1");
    assert_eq!(a.body, "abc");
    assert_eq!((a.queue_id, a.flag, a.queue_offset), (1, 7, 10));
    assert_eq!(a.born_host, addr("10.0.0.5:50000"));
    assert_eq!(a.store_host, addr("10.0.0.1:10911"));
    assert_eq!(a.store_size, 0x6a);
    assert_eq!(a.body_crc, 0x3524_41c2);
    assert_eq!(a.msg_id, "0A00000100002A9F0000000000002000");
    assert_eq!(a.client_msg_id(), a.msg_id);
    assert_eq!(a.tags(), Some("TagA"));

    assert_eq!(b.body, "Hello");
    // Java clears COMPRESSED after inflating and keeps the rest.
    assert_eq!(b.sys_flag, 0x330);
    assert_eq!(b.born_host, addr("[fe80::1]:50001"));
    assert_eq!(b.store_host, addr("[2001:db8::1]:10911"));
    assert_eq!(b.reconsume_times, 3);
    assert_eq!(b.born_timestamp, 1_717_000_000_456);
    assert_eq!(b.store_timestamp, 1_717_000_000_789);
    assert_eq!(
        b.msg_id,
        "20010DB800000000000000000000000100002A9F0000000000002100"
    );
    assert_eq!(b.client_msg_id(), "AC1100012A9F00000010000000000001");
    assert_eq!(b.key_list().collect::<Vec<_>>(), ["k1", "k2"]);
    assert_eq!(b.tags(), None);
}

#[test]
fn pull_body_without_decompression_keeps_the_stored_bytes() {
    let mut buf = Bytes::from(hex(PULL_BODY));
    decode_message(&mut buf, true, false).unwrap();
    let b = decode_message(&mut buf, true, false).unwrap();
    assert_eq!(b.body.as_ref(), hex(ZLIB_HELLO).as_slice());
    assert_eq!(b.sys_flag, 0x331);
    assert!(b.is_compressed());
    let mut expected = pull_messages()[1]
        .clone()
        .with_decoded_fields(0xba, 0x2d00_259a);
    // The encoder derived the IPv6 bits from the addresses.
    expected.sys_flag |= sys_flag::BORNHOST_V6 | sys_flag::STOREHOSTADDRESS_V6;
    assert_eq!(b, expected);
}

trait Decoded {
    fn with_decoded_fields(self, store_size: i32, crc: u32) -> Self;
}

impl Decoded for MessageExt {
    fn with_decoded_fields(mut self, store_size: i32, crc: u32) -> Self {
        self.store_size = store_size;
        self.body_crc = crc;
        self.refresh_msg_id();
        self
    }
}

#[test]
fn compressed_bodies_from_our_compressor_decode() {
    let plain = "héllo wörld ✓ ".repeat(500);
    let mut m = MessageExt::new("T", compress(plain.as_bytes(), 5));
    m.sys_flag = sys_flag::COMPRESSED | sys_flag::COMPRESSION_ZLIB;
    let msgs = decode_messages(encode_message(&m).unwrap().freeze()).unwrap();
    assert_eq!(msgs[0].body, plain.as_bytes());
    assert_eq!(msgs[0].sys_flag, sys_flag::COMPRESSION_ZLIB);

    // Type 0 (pre-4.9.4 producers) is zlib too.
    m.sys_flag = sys_flag::COMPRESSED;
    let msgs = decode_messages(encode_message(&m).unwrap().freeze()).unwrap();
    assert_eq!(msgs[0].body, plain.as_bytes());
    assert_eq!(msgs[0].sys_flag, 0);
}

#[test]
#[cfg(feature = "lz4")]
fn lz4_bodies_are_decompressed_and_bad_ones_are_errors() {
    use rocketmq_rs_remoting::protocol::message::CompressionType;
    let lz4 = CompressionType::Lz4.compress(b"real lz4 now", 5).unwrap();
    let mut m = MessageExt::new("T", lz4);
    m.sys_flag = sys_flag::COMPRESSED | sys_flag::COMPRESSION_LZ4;
    let msgs = decode_messages(encode_message(&m).unwrap().freeze()).unwrap();
    assert_eq!(msgs[0].body, "real lz4 now");
    assert_eq!(msgs[0].sys_flag, sys_flag::COMPRESSION_LZ4);

    // Bytes that are not an LZ4 frame are never handed on as a body.
    m.body = Bytes::from_static(b"not really lz4");
    assert!(decode_messages(encode_message(&m).unwrap().freeze()).is_err());
}

#[test]
fn corrupt_compressed_body_is_an_error() {
    let mut m = MessageExt::new("T", "garbage");
    m.sys_flag = sys_flag::COMPRESSED;
    assert!(decode_messages(encode_message(&m).unwrap().freeze()).is_err());
}

#[test]
fn v2_records_carry_a_two_byte_topic_length() {
    let long_topic = "t".repeat(200);
    let m = MessageExt::new(long_topic.clone(), "x");
    let rec = encode_message(&m).unwrap();
    assert_eq!(&rec[4..8], &MAGIC_V2.to_be_bytes());
    // 4+4+4+4+4+8+8+4+8+8+8+8+4+8 = 84, then bodyLength 4 + body 1, then the topic length.
    assert_eq!(&rec[89..91], &[0, 200]);
    assert_eq!(rec.len(), 91 + 1 + 1 + 200);
    let back = decode_messages(rec.freeze()).unwrap();
    assert_eq!(back[0].topic, long_topic);

    // A short topic in an explicitly v2 record.
    let mut buf = BytesMut::new();
    encode_message_with_version(&MessageExt::new("T", "x"), MessageVersion::V2, &mut buf).unwrap();
    assert_eq!(&buf[89..91], &[0, 1]);
    assert_eq!(decode_messages(buf.freeze()).unwrap()[0].topic, "T");
    // v1 cannot hold a long topic.
    let mut buf = BytesMut::new();
    assert!(encode_message_with_version(&m, MessageVersion::V1, &mut buf).is_err());
    assert!(buf.is_empty());
}

#[test]
fn encoder_rejects_what_cannot_round_trip() {
    let mut m = MessageExt::new("T", "x");
    m.properties.insert("k", "a\u{1}b");
    assert!(encode_message(&m).is_err());
    let mut m = MessageExt::new("T", "x");
    m.properties.insert("k", "v".repeat(40_000));
    assert!(encode_message(&m).is_err());
    assert!(encode_batch(&[BatchMessage {
        properties: m.properties.clone(),
        ..BatchMessage::default()
    }])
    .is_err());
}

#[test]
fn decoder_rejects_inconsistent_records() {
    let good = hex(A1);
    let decode = |v: Vec<u8>| decode_message(&mut Bytes::from(v), true, true);
    // totalSize larger than the buffer, smaller than the minimum, disagreeing with the fields.
    let mut v = good.clone();
    v[3] = 0xa8;
    assert!(decode(v).is_err());
    let mut v = good.clone();
    v[3] = 0x10;
    assert!(decode(v).is_err());
    let mut v = good.clone();
    v.push(0);
    v[3] = 0xa8;
    assert!(decode(v).is_err());
    // Unknown magic, body length past the end, negative topic length.
    let mut v = good.clone();
    v[7] = 0;
    assert!(decode(v).is_err());
    let mut v = good.clone();
    v[86] = 0x7f;
    assert!(decode(v).is_err());
    let mut v = good.clone();
    v[93] = 0x80;
    assert!(decode(v).is_err());
    // The buffer is left untouched on error.
    let mut buf = Bytes::from(good[..100].to_vec());
    assert!(decode_message(&mut buf, true, true).is_err());
    assert_eq!(buf.len(), 100);
}

#[test]
fn properties_golden() {
    let mut p = Properties::new();
    p.insert(property::TAGS, "TagA");
    p.insert(property::UNIQ_KEY, "C0A8010A7A6918B4AAC2000000000000");
    p.insert(property::WAIT, "true");
    p.insert("u_text", "héllo wörld ✓ 3");
    let s = encode_properties(&p);
    assert_eq!(
        s,
        "TAGS\u{1}TagA\u{2}UNIQ_KEY\u{1}C0A8010A7A6918B4AAC2000000000000\u{2}WAIT\u{1}true\u{2}\
         u_text\u{1}héllo wörld ✓ 3\u{2}"
    );
    assert_eq!(s.len(), 62 + 27);
    assert_eq!(decode_properties(&s), p);
}

#[test]
fn properties_decoding_is_as_lenient_as_java() {
    // Missing final separator, empty segments, empty name, empty value, no 0x01 at all,
    // a 0x01 inside the value, a repeated key (last value wins, first position kept).
    let p = decode_properties(
        "A\u{1}1\u{2}\u{2}\u{1}x\u{2}B\u{1}\u{2}junk\u{2}C\u{1}x\u{1}y\u{2}A\u{1}2\u{2}D\u{1}4",
    );
    let got: Vec<_> = p.iter().collect();
    assert_eq!(got, [("A", "2"), ("C", "x\u{1}y"), ("D", "4")]);
    assert!(decode_properties("").is_empty());
    assert!(decode_properties("\u{2}\u{2}\u{1}").is_empty());
}

#[test]
fn tag_hash_codes_a3() {
    for (s, h) in [
        ("", 0i64),
        ("*", 42),
        ("a", 97),
        ("TagA", 2_598_919),
        ("TagB", 2_598_920),
        ("TBW102", -1_826_525_782),
    ] {
        assert_eq!(tag_hash_code(s), h, "{s:?}");
    }
    // Non-BMP characters count as two UTF-16 units: "😀" = D83D DE00.
    assert_eq!(tag_hash_code("😀"), 0xD83D * 31 + 0xDE00);
    let mut m = MessageExt::new("T", "");
    assert_eq!(m.tags_code(), 0);
    m.properties.insert(property::TAGS, "TagA");
    assert_eq!(m.tags_code(), 2_598_919);
}

#[test]
fn offset_msg_id_vectors() {
    assert_eq!(
        offset_msg_id(addr("192.168.1.20:10911"), 0x2A3F),
        "C0A8011400002A9F0000000000002A3F"
    );
    assert_eq!(
        offset_msg_id(addr("192.168.1.20:10911"), 0x1000),
        "C0A8011400002A9F0000000000001000"
    );
    let v6 = "20010DB800000000000000000000000100002A9F0000000000002100";
    assert_eq!(offset_msg_id(addr("[2001:db8::1]:10911"), 0x2100), v6);
    assert_eq!(
        parse_offset_msg_id(v6).unwrap(),
        (addr("[2001:db8::1]:10911"), 0x2100)
    );
    assert_eq!(
        parse_offset_msg_id("c0a8011400002a9f0000000000002a3f").unwrap(),
        (addr("192.168.1.20:10911"), 0x2A3F)
    );
    assert_eq!(
        parse_offset_msg_id("0000000000000000FFFFFFFFFFFFFFFF").unwrap(),
        (addr("0.0.0.0:0"), -1)
    );
    for bad in [
        "",
        "C0A8011400002A9F0000000000002A3",
        "C0A8011400002A9F0000000000002A3G",
        "C0A80114FFFFFFFF0000000000002A3F",
        "C0A8011400002A9F0000000000002A3F00",
        "ÿÿÿÿÿÿÿÿÿÿÿÿÿÿÿÿ",
    ] {
        assert!(parse_offset_msg_id(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn batch_golden() {
    let mut a = BatchMessage::new("hi");
    a.flag = 3;
    a.properties.insert(property::WAIT, "true");
    let b = BatchMessage::new(Bytes::new());
    let body = encode_batch(&[a.clone(), b.clone()]).unwrap();
    let expected = hex("
        00000022 00000000 00000000 00000003 00000002 6869  000a 574149540174727565 02
        00000016 00000000 00000000 00000000 00000000       0000");
    assert_eq!(body.as_ref(), expected.as_slice());
    assert_eq!(decode_batch(body).unwrap(), vec![a, b]);
    assert!(decode_batch(Bytes::new()).unwrap().is_empty());
}

#[test]
fn batch_decoder_rejects_truncation() {
    let body = encode_batch(&[BatchMessage::new("hello")]).unwrap();
    for cut in 1..body.len() {
        assert!(decode_batch(body.slice(..cut)).is_err(), "cut at {cut}");
    }
}

#[test]
fn inner_batch_records_are_unwrapped() {
    let mut e1 = BatchMessage::new("one");
    e1.properties.insert(property::UNIQ_KEY, "AAAA");
    let e2 = BatchMessage::new("two");
    let mut rec = MessageExt::new("T", encode_batch(&[e1, e2]).unwrap());
    rec.queue_offset = 40;
    rec.sys_flag = sys_flag::INNER_BATCH | sys_flag::NEED_UNWRAP;
    rec.store_host = addr("10.0.0.1:10911");
    let msgs = decode_messages(encode_message(&rec).unwrap().freeze()).unwrap();
    assert_eq!(msgs.len(), 2);
    assert_eq!(msgs[0].body, "one");
    assert_eq!(msgs[1].body, "two");
    assert_eq!((msgs[0].queue_offset, msgs[1].queue_offset), (40, 41));
    assert_eq!(msgs[0].client_msg_id(), "AAAA");
    assert_eq!(msgs[1].client_msg_id(), "0A00000100002A9F0000000000000000");
    assert_eq!(msgs[1].topic, "T");
}
