//! Property tests: encode/decode round trips, and decoders never panic on arbitrary bytes.

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use rocketmq_rs_remoting::protocol::message::{
    body_crc, compress, decode_batch, decode_message, decode_messages, decode_properties,
    decode_properties_bytes, decompress, encode_batch, encode_message, encode_message_into,
    encode_properties, offset_msg_id, parse_offset_msg_id, parse_uniq_id_ip, parse_uniq_id_time,
    property::PROPERTY_SEPARATOR, sys_flag, BatchMessage, MessageExt, Properties,
};
use std::net::{IpAddr, SocketAddr};

/// Strings that survive the properties encoding: no 0x01/0x02, non-empty.
fn prop_text() -> impl Strategy<Value = String> {
    "[^\u{1}\u{2}]{1,12}"
}

fn properties() -> impl Strategy<Value = Properties> {
    prop::collection::vec((prop_text(), prop_text()), 0..8)
        .prop_map(|pairs| pairs.into_iter().collect())
}

fn socket_addr() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![
        (any::<[u8; 4]>(), any::<u16>()).prop_map(|(ip, p)| SocketAddr::new(IpAddr::from(ip), p)),
        (any::<[u8; 16]>(), any::<u16>()).prop_map(|(ip, p)| SocketAddr::new(IpAddr::from(ip), p)),
    ]
}

prop_compose! {
    fn message()(
        topic in "[a-zA-Z0-9_%é✓-]{0,140}",
        flag in any::<i32>(),
        body in prop::collection::vec(any::<u8>(), 0..300),
        properties in properties(),
        queue_id in any::<i32>(),
        queue_offset in any::<i64>(),
        // Bits that the decoder does not act on (no compression / inner batch).
        flag_bits in any::<i32>().prop_map(|f| f & !(sys_flag::COMPRESSED | sys_flag::NEED_UNWRAP | sys_flag::INNER_BATCH)),
        born_timestamp in any::<i64>(),
        born_host in socket_addr(),
        store_timestamp in any::<i64>(),
        store_host in socket_addr(),
        reconsume_times in any::<i32>(),
        prepared_transaction_offset in any::<i64>(),
        commit_log_offset in any::<i64>(),
    ) -> MessageExt {
        let mut sys = flag_bits & !(sys_flag::BORNHOST_V6 | sys_flag::STOREHOSTADDRESS_V6);
        if born_host.is_ipv6() { sys |= sys_flag::BORNHOST_V6; }
        if store_host.is_ipv6() { sys |= sys_flag::STOREHOSTADDRESS_V6; }
        let mut m = MessageExt {
            topic, flag, body: Bytes::from(body), properties, queue_id, store_size: 0,
            queue_offset, sys_flag: sys, born_timestamp, born_host, store_timestamp, store_host,
            reconsume_times, prepared_transaction_offset, commit_log_offset, body_crc: 0,
            msg_id: String::new(),
        };
        m.body_crc = body_crc(&m.body);
        m.refresh_msg_id();
        m
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn message_round_trip(msgs in prop::collection::vec(message(), 1..4)) {
        let mut body = BytesMut::new();
        for m in &msgs {
            let one = encode_message(m).unwrap();
            let mut single = one.clone().freeze();
            let mut back = decode_message(&mut single, true, true).unwrap();
            prop_assert!(single.is_empty());
            prop_assert_eq!(back.store_size as usize, one.len());
            back.store_size = 0;
            prop_assert_eq!(&back, m);
            encode_message_into(m, &mut body).unwrap();
        }
        let decoded = decode_messages(body.freeze()).unwrap();
        prop_assert_eq!(decoded.len(), msgs.len());
        for (d, m) in decoded.iter().zip(&msgs) {
            prop_assert_eq!(&d.body, &m.body);
            prop_assert_eq!(&d.properties, &m.properties);
            prop_assert_eq!(&d.topic, &m.topic);
        }
    }

    #[test]
    fn compressed_message_round_trip(m in message(), level in 0u32..10) {
        let mut c = m.clone();
        c.body = Bytes::from(compress(&m.body, level));
        c.sys_flag = (c.sys_flag & !sys_flag::COMPRESSION_TYPE_MASK)
            | sys_flag::COMPRESSED
            | sys_flag::COMPRESSION_ZLIB;
        let back = decode_messages(encode_message(&c).unwrap().freeze()).unwrap();
        prop_assert_eq!(&back[0].body, &m.body);
        prop_assert!(!back[0].is_compressed());
    }

    #[test]
    fn batch_round_trip(entries in prop::collection::vec(
        (any::<i32>(), prop::collection::vec(any::<u8>(), 0..200), properties()), 0..6)
    ) {
        let msgs: Vec<BatchMessage> = entries.into_iter()
            .map(|(flag, body, properties)| BatchMessage { flag, body: body.into(), properties })
            .collect();
        let body = encode_batch(&msgs).unwrap();
        prop_assert_eq!(decode_batch(body).unwrap(), msgs);
    }

    #[test]
    fn properties_round_trip(p in properties()) {
        let s = encode_properties(&p);
        let ends_ok = s.is_empty() || s.ends_with(PROPERTY_SEPARATOR);
        prop_assert!(ends_ok);
        let back = decode_properties(&s);
        prop_assert_eq!(&back, &p);
        // Order is kept too.
        prop_assert!(back.iter().eq(p.iter()));
    }

    #[test]
    fn offset_msg_id_round_trip(host in socket_addr(), offset in any::<i64>()) {
        let id = offset_msg_id(host, offset);
        prop_assert_eq!(id.len(), if host.is_ipv4() { 32 } else { 56 });
        prop_assert_eq!(parse_offset_msg_id(&id).unwrap(), (host, offset));
        prop_assert_eq!(parse_offset_msg_id(&id.to_lowercase()).unwrap(), (host, offset));
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..400)) {
        let b = Bytes::from(data.clone());
        let _ = decode_messages(b.clone());
        let _ = decode_batch(b.clone());
        let _ = decode_message(&mut b.clone(), true, true);
        let _ = decode_properties_bytes(&data);
        let _ = decompress(&data, 1 << 16);
        let text = String::from_utf8_lossy(&data);
        let _ = decode_properties(&text);
        let _ = parse_offset_msg_id(&text);
        let _ = parse_uniq_id_ip(&text);
        let _ = parse_uniq_id_time(&text);
    }

    #[test]
    fn mutated_records_never_panic(m in message(), edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6)) {
        let mut rec = encode_message(&m).unwrap().to_vec();
        for (i, v) in edits {
            let at = i.index(rec.len());
            rec[at] = v;
        }
        let _ = decode_messages(Bytes::from(rec));
    }

    #[test]
    fn hex_ids_never_panic(s in "[0-9a-fA-F]{0,60}") {
        let _ = parse_offset_msg_id(&s);
        let _ = parse_uniq_id_ip(&s);
        let _ = parse_uniq_id_time(&s);
    }
}
