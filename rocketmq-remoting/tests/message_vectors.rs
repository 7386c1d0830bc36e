//! Decoding the bodies of PULL_MESSAGE responses captured on the wire (`tests/codec_vectors/`,
//! described in its README.md): three stored records each, the middle one zlib-compressed.

use bytes::Bytes;
use rocketmq_rs_remoting::protocol::message::{
    body_crc, decode_message, decode_messages, encode_message, property, MessageExt,
};

fn frame_body(hex_text: &str) -> Bytes {
    let clean: String = hex_text.split_whitespace().collect();
    let frame: Vec<u8> = (0..clean.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&clean[i..i + 2], 16).unwrap())
        .collect();
    let total = u32::from_be_bytes(frame[0..4].try_into().unwrap()) as usize;
    assert_eq!(total + 4, frame.len());
    let header_len = (u32::from_be_bytes(frame[4..8].try_into().unwrap()) & 0x00FF_FFFF) as usize;
    Bytes::from(frame).slice(8 + header_len..)
}

struct Expected {
    topic: &'static str,
    run: &'static str,
    queue_id: i32,
    born_port: u16,
    /// (stored sysFlag, stored body length, plain body length) per record.
    records: [(i32, usize, usize); 3],
    uniq: [&'static str; 3],
    wait: bool,
}

fn check(file: &str, hex_text: &str, exp: &Expected) {
    let body = frame_body(hex_text);

    // Raw view first: records as stored, CRCs over the stored bytes.
    let mut raw = body.clone();
    let mut stored = Vec::new();
    while !raw.is_empty() {
        stored.push(decode_message(&mut raw, true, false).unwrap());
    }
    assert_eq!(stored.len(), 3, "{file}");
    for (m, &(sys_flag, stored_len, _)) in stored.iter().zip(&exp.records) {
        assert_eq!(m.sys_flag, sys_flag, "{file}");
        assert_eq!(m.body.len(), stored_len, "{file}");
        assert_eq!(body_crc(&m.body), m.body_crc, "{file}");
        // Re-encoding reproduces the captured record byte for byte.
        let re = encode_message(m).unwrap();
        assert_eq!(re.len(), m.store_size as usize, "{file}");
    }
    let mut reencoded = Vec::new();
    for m in &stored {
        reencoded.extend_from_slice(&encode_message(m).unwrap());
    }
    // Property order is kept, so the whole body is reproduced exactly.
    assert_eq!(reencoded.as_slice(), body.as_ref(), "{file}");

    let msgs = decode_messages(body).unwrap();
    assert_eq!(msgs.len(), 3, "{file}");
    let idx = ["3", "7", "11"];
    let tags = ["TagA", "TagB", "TagC"];
    let keys_suffix = ["kk3", "kk0", "kk4"];
    let sym = ["#3", "#2", "#1"];
    for (i, m) in msgs.iter().enumerate() {
        let (stored_flag, _, plain_len) = exp.records[i];
        assert_eq!(m.topic, exp.topic, "{file}");
        assert_eq!(m.queue_id, exp.queue_id, "{file}");
        assert_eq!(m.queue_offset, i as i64, "{file}");
        assert_eq!(m.flag, 0);
        assert_eq!(m.sys_flag, stored_flag & !1, "{file} #{i}");
        assert_eq!(m.body.len(), plain_len, "{file} #{i}");
        assert!(m
            .body
            .starts_with(format!("{}|{}|", exp.run, idx[i]).as_bytes()));
        assert_eq!(
            m.born_host,
            format!("127.0.0.1:{}", exp.born_port).parse().unwrap()
        );
        assert_eq!(m.store_host, "127.0.0.1:10911".parse().unwrap());
        assert_eq!(m.reconsume_times, 0);
        assert_eq!(m.prepared_transaction_offset, 0);
        assert!(m.born_timestamp > 1_700_000_000_000 && m.store_timestamp >= m.born_timestamp);
        assert_eq!(m.tags(), Some(tags[i]));
        assert_eq!(
            m.keys(),
            Some(format!("k{}_{} {}", idx[i], exp.run, keys_suffix[i]).as_str())
        );
        assert_eq!(m.uniq_key(), Some(exp.uniq[i]));
        assert_eq!(m.client_msg_id(), exp.uniq[i]);
        assert_eq!(m.property("u_idx"), Some(idx[i]));
        assert_eq!(m.property("u_run"), Some(exp.run));
        assert_eq!(
            m.property("u_text"),
            Some(format!("héllo wörld ✓ {}", idx[i]).as_str())
        );
        assert_eq!(
            m.property("u_sym"),
            Some(format!("a=b;c:d,e|f {{x}} \"q\" {}", sym[i]).as_str())
        );
        assert_eq!(m.property(property::CLUSTER), Some("DefaultCluster"));
        assert_eq!(m.property(property::MSG_REGION), Some("DefaultRegion"));
        assert_eq!(m.property(property::TRACE_SWITCH), Some("true"));
        assert_eq!(m.property(property::WAIT).is_some(), exp.wait, "{file}");
        assert_eq!(m.properties.len(), if exp.wait { 11 } else { 10 }, "{file}");
        let offset_id = rocketmq_rs_remoting::protocol::message::offset_msg_id(
            m.store_host,
            m.commit_log_offset,
        );
        assert_eq!(m.msg_id, offset_id);
    }
    check_offsets(&msgs);
}

/// Records are contiguous in the commit log: each starts where the previous one ended.
fn check_offsets(msgs: &[MessageExt]) {
    for w in msgs.windows(2) {
        assert!(w[1].commit_log_offset >= w[0].commit_log_offset + i64::from(w[0].store_size));
    }
}

#[test]
fn cpp_pull_found() {
    check(
        "cpp-s2c-11-pull-found",
        include_str!("codec_vectors/cpp-s2c-11-pull-found.hex"),
        &Expected {
            topic: "it_cpp_python_sync_send_push_clustering_2426d8ba7",
            run: "2426d8ba7",
            queue_id: 3,
            born_port: 49884,
            records: [(0, 308, 308), (1, 5898, 7638), (0, 319, 319)],
            uniq: [
                "0100007F000070DD0000BCE0C8710400",
                "0100007F000070DD0000CCE0C8710800",
                "0100007F000070DD0000DCE0C8710C00",
            ],
            wait: true,
        },
    );
    // The C++ bodies are UTF-8 text.
    let msgs = decode_messages(frame_body(include_str!(
        "codec_vectors/cpp-s2c-11-pull-found.hex"
    )))
    .unwrap();
    for m in &msgs {
        assert!(std::str::from_utf8(&m.body).is_ok());
    }
}

#[test]
fn alions_pull_found() {
    check(
        "alions-s2c-11-pull-found",
        include_str!("codec_vectors/alions-s2c-11-pull-found.hex"),
        &Expected {
            topic: "it_ali_ons_sync_send_push_clustering_24273db83",
            run: "24273db83",
            queue_id: 0,
            born_port: 49962,
            records: [(0, 268, 268), (1, 6523, 6512), (0, 269, 269)],
            uniq: [
                "00D392867032AC4C820C6C6BAA960003",
                "00D392867032AC4C820C6C6BAAA60007",
                "00D392867032AC4C820C6C6BAAB4000B",
            ],
            wait: false,
        },
    );
}

#[test]
fn rust_lite_pull_found() {
    check(
        "rust-s2c-361-lite-pull-found",
        include_str!("codec_vectors/rust-s2c-361-lite-pull-found.hex"),
        &Expected {
            topic: "it_rocketmq_client_rust_pull_consumer_24278974f",
            run: "24278974f",
            queue_id: 1,
            born_port: 55320,
            records: [(0, 268, 268), (769, 6523, 6512), (0, 269, 269)],
            uniq: [
                "00D3A7D27391AC4C820C6C6BBFED0003",
                "00D3A7D27391AC4C820C6C6BBFFC0007",
                "00D3A7D27391AC4C820C6C6BC00A000B",
            ],
            wait: true,
        },
    );
}

#[test]
fn every_truncation_of_a_captured_body_fails_cleanly() {
    let body = frame_body(include_str!(
        "codec_vectors/rust-s2c-361-lite-pull-found.hex"
    ));
    let first = decode_messages(body.slice(..632)).unwrap();
    assert_eq!(first.len(), 1);
    for cut in (1..body.len()).step_by(7) {
        let r = decode_messages(body.slice(..cut));
        if cut == 632 || cut == 632 + 6887 {
            assert!(r.is_ok());
        } else {
            assert!(r.is_err(), "cut at {cut}");
        }
    }
}
