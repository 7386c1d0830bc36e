//! Golden frames: the worked examples of docs/protocol/frame.md §11 and send.md §2 reproduced byte for
//! byte by the encoder and decoded back, plus a SEND_MESSAGE_V2 request whose bytes were derived
//! by hand from docs/protocol/frame.md §3, §4 and docs/protocol/send.md §2.

use bytes::{Bytes, BytesMut};
use rocketmq_rs_remoting::protocol::codec::{decode_frame, encode_frame, encode_frame_head};
use rocketmq_rs_remoting::protocol::{ExtFields, LanguageCode, RemotingCommand, SerializeType};

fn unhex(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    assert_eq!(digits.len() % 2, 0, "odd number of hex digits");
    digits
        .chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
        .collect()
}

fn encode(cmd: &RemotingCommand) -> Vec<u8> {
    let mut buf = BytesMut::new();
    encode_frame(cmd, &mut buf).unwrap();
    buf.to_vec()
}

/// A JSON frame around `header` and `body`, built independently of the encoder.
fn json_frame(header: &str, body: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&((4 + header.len() + body.len()) as u32).to_be_bytes());
    v.extend_from_slice(&(header.len() as u32).to_be_bytes());
    v.extend_from_slice(header.as_bytes());
    v.extend_from_slice(body);
    v
}

fn command(
    code: i32,
    language: LanguageCode,
    version: i32,
    opaque: i32,
    flag: i32,
    remark: Option<&str>,
    ext: &[(&str, &str)],
) -> RemotingCommand {
    RemotingCommand {
        code,
        language,
        version,
        opaque,
        flag,
        remark: remark.map(str::to_owned),
        ext_fields: ext.iter().copied().collect(),
        body: Bytes::new(),
        serialize_type: SerializeType::Json,
    }
}

fn route_request(serialize_type: SerializeType) -> RemotingCommand {
    command(
        105,
        LanguageCode::Java,
        401,
        1,
        0,
        None,
        &[("topic", "TopicTest")],
    )
    .with_serialize_type(serialize_type)
}

/// docs/protocol/frame.md §11, JSON header (131 header bytes, frame 139 bytes).
const ROUTE_REQUEST_JSON: &str = "
    00 00 00 87 00 00 00 83 7b 22 63 6f 64 65 22 3a
    31 30 35 2c 22 65 78 74 46 69 65 6c 64 73 22 3a
    7b 22 74 6f 70 69 63 22 3a 22 54 6f 70 69 63 54
    65 73 74 22 7d 2c 22 66 6c 61 67 22 3a 30 2c 22
    6c 61 6e 67 75 61 67 65 22 3a 22 4a 41 56 41 22
    2c 22 6f 70 61 71 75 65 22 3a 31 2c 22 73 65 72
    69 61 6c 69 7a 65 54 79 70 65 43 75 72 72 65 6e
    74 52 50 43 22 3a 22 4a 53 4f 4e 22 2c 22 76 65
    72 73 69 6f 6e 22 3a 34 30 31 7d";

/// docs/protocol/frame.md §11, ROCKETMQ binary header (41 header bytes, frame 49 bytes).
const ROUTE_REQUEST_BINARY: &str = "
    00 00 00 2d 01 00 00 29 00 69 00 01 91 00 00 00
    01 00 00 00 00 00 00 00 00 00 00 00 14 00 05 74
    6f 70 69 63 00 00 00 09 54 6f 70 69 63 54 65 73
    74";

#[test]
fn protocol_1_11_route_request_json_frame() {
    let expected = unhex(ROUTE_REQUEST_JSON);
    assert_eq!(expected.len(), 139);
    let cmd = route_request(SerializeType::Json);
    assert_eq!(encode(&cmd), expected);
    assert_eq!(decode_frame(Bytes::from(expected)).unwrap(), cmd);
}

#[test]
fn protocol_1_11_route_request_binary_frame() {
    let expected = unhex(ROUTE_REQUEST_BINARY);
    assert_eq!(expected.len(), 49);
    let cmd = route_request(SerializeType::RocketMq);
    assert_eq!(encode(&cmd), expected);
    assert_eq!(decode_frame(Bytes::from(expected)).unwrap(), cmd);
}

#[test]
fn protocol_1_11_route_response_decodes() {
    let header = r#"{"code":0,"flag":1,"language":"JAVA","opaque":1,"serializeTypeCurrentRPC":"JSON","version":479}"#;
    let body = br#"{"brokerDatas":[],"queueDatas":[]}"#;
    let cmd = decode_frame(Bytes::from(json_frame(header, body))).unwrap();
    let mut expected = command(0, LanguageCode::Java, 479, 1, 1, None, &[]);
    expected.body = Bytes::from_static(body);
    assert_eq!(cmd, expected);
    assert!(cmd.is_response());
    // And our encoder writes exactly that header.
    assert_eq!(encode(&expected), json_frame(header, body));
}

/// docs/protocol/send.md §2: a Java 5.x SEND_MESSAGE_V2 request, body `Hello`.
fn send_message_v2(serialize_type: SerializeType) -> RemotingCommand {
    // Built field by field from the V2 table (docs/protocol/send.md §2), in the order a Java client writes them.
    let mut ext = ExtFields::new();
    ext.insert("a", "pg"); // producerGroup
    ext.insert("b", "TopicTest"); // topic
    ext.insert("c", "TBW102"); // defaultTopic
    ext.insert("d", "4"); // defaultTopicQueueNums
    ext.insert("e", "2"); // queueId
    ext.insert("f", "0"); // sysFlag
    ext.insert("g", "1717000000000"); // bornTimestamp
    ext.insert("h", "0"); // flag
    ext.insert(
        "i", // properties: TAGS, UNIQ_KEY, WAIT, each `key 0x01 value 0x02`
        "TAGS\u{1}TagA\u{2}UNIQ_KEY\u{1}C0A8010A7A6918B4AAC2000000000000\u{2}WAIT\u{1}true\u{2}",
    );
    ext.insert("j", "0"); // reconsumeTimes
    ext.insert("k", "false"); // unitMode
    ext.insert("m", "false"); // batch
    ext.insert("n", "broker-a"); // brokerName
    RemotingCommand {
        code: 310,
        language: LanguageCode::Java,
        version: 479,
        opaque: 17,
        flag: 0,
        remark: None,
        ext_fields: ext,
        body: Bytes::from_static(b"Hello"),
        serialize_type,
    }
}

/// Length 0x165 = 4 + 348 (header) + 5 (body); word 0x15c = JSON, 348; the header is the
/// The docs/protocol/send.md §2 text with `\u0001`/`\u0002` escapes; then `Hello`.
const SEND_V2_JSON: &str = "
    000001650000015c7b22636f6465223a3331302c226578744669656c6473223a
    7b2261223a227067222c2262223a22546f70696354657374222c2263223a2254
    4257313032222c2264223a2234222c2265223a2232222c2266223a2230222c22
    67223a2231373137303030303030303030222c2268223a2230222c2269223a22
    544147535c7530303031546167415c7530303032554e49515f4b45595c753030
    3031433041383031304137413639313842344141433230303030303030303030
    30305c7530303032574149545c7530303031747275655c7530303032222c226a
    223a2230222c226b223a2266616c7365222c226d223a2266616c7365222c226e
    223a2262726f6b65722d61227d2c22666c6167223a302c226c616e6775616765
    223a224a415641222c226f7061717565223a31372c2273657269616c697a6554
    79706543757272656e74525043223a224a534f4e222c2276657273696f6e223a
    3437397d48656c6c6f";

/// Length 0xec = 4 + 227 + 5; word 0x010000e3 = binary, 227. Header: code 0x0136, JAVA 00,
/// version 0x01df, opaque 0x11, flag 0, remarkLen 0, extLen 0xce (206), then 13 entries
/// `00 01 <key> <i32 len> <value>`, e.g. `0001 61 00000002 7067` for a=pg.
const SEND_V2_BINARY: &str = "
    000000ec010000e301360001df000000110000000000000000000000ce000161
    00000002706700016200000009546f7069635465737400016300000006544257
    3130320001640000000134000165000000013200016600000001300001670000
    000d3137313730303030303030303000016800000001300001690000003e5441
    4753015461674102554e49515f4b455901433041383031304137413639313842
    3441414332303030303030303030303030025741495401747275650200016a00
    0000013000016b0000000566616c736500016d0000000566616c736500016e00
    00000862726f6b65722d6148656c6c6f";

#[test]
fn send_message_v2_json_golden() {
    let cmd = send_message_v2(SerializeType::Json);
    let expected = unhex(SEND_V2_JSON);
    assert_eq!(encode(&cmd), expected);
    // The header is exactly the text in docs/protocol/send.md §2.
    let a2 = r#"{"code":310,"extFields":{"a":"pg","b":"TopicTest","c":"TBW102","d":"4","e":"2","f":"0","g":"1717000000000","h":"0","i":"TAGS\u0001TagA\u0002UNIQ_KEY\u0001C0A8010A7A6918B4AAC2000000000000\u0002WAIT\u0001true\u0002","j":"0","k":"false","m":"false","n":"broker-a"},"flag":0,"language":"JAVA","opaque":17,"serializeTypeCurrentRPC":"JSON","version":479}"#;
    assert_eq!(expected, json_frame(a2, b"Hello"));
    assert_eq!(decode_frame(Bytes::from(expected)).unwrap(), cmd);
}

#[test]
fn send_message_v2_binary_golden() {
    let cmd = send_message_v2(SerializeType::RocketMq);
    let expected = unhex(SEND_V2_BINARY);
    assert_eq!(encode(&cmd), expected);
    assert_eq!(decode_frame(Bytes::from(expected)).unwrap(), cmd);
}

#[test]
fn frame_head_plus_body_equals_whole_frame() {
    for st in [SerializeType::Json, SerializeType::RocketMq] {
        let cmd = send_message_v2(st);
        let mut head = BytesMut::new();
        encode_frame_head(&cmd, &mut head).unwrap();
        head.extend_from_slice(&cmd.body);
        assert_eq!(head.to_vec(), encode(&cmd));
    }
}

/// The other example headers (docs/protocol/send.md §2, pull.md §1, offsets.md §2): our encoder reproduces each text exactly, and decodes it back.
#[test]
fn appendix_a2_headers_round_trip_exactly() {
    let cases: Vec<(&str, RemotingCommand)> = vec![
        (
            r#"{"code":0,"extFields":{"msgId":"C0A8011400002A9F0000000000001000","queueId":"2","queueOffset":"5","transactionId":"C0A8010A7A6918B4AAC2000000000000","MSG_REGION":"DefaultRegion","TRACE_ON":"true"},"flag":1,"language":"JAVA","opaque":17,"serializeTypeCurrentRPC":"JSON","version":479}"#,
            command(
                0,
                LanguageCode::Java,
                479,
                17,
                1,
                None,
                &[
                    ("msgId", "C0A8011400002A9F0000000000001000"),
                    ("queueId", "2"),
                    ("queueOffset", "5"),
                    ("transactionId", "C0A8010A7A6918B4AAC2000000000000"),
                    ("MSG_REGION", "DefaultRegion"),
                    ("TRACE_ON", "true"),
                ],
            ),
        ),
        (
            r#"{"code":11,"extFields":{"consumerGroup":"cg","topic":"TopicTest","queueId":"2","queueOffset":"6","maxMsgNums":"32","sysFlag":"3","commitOffset":"6","suspendTimeoutMillis":"15000","subVersion":"1717000000000","expressionType":"TAG","maxMsgBytes":"262144","bname":"broker-a"},"flag":0,"language":"JAVA","opaque":18,"serializeTypeCurrentRPC":"JSON","version":479}"#,
            command(
                11,
                LanguageCode::Java,
                479,
                18,
                0,
                None,
                &[
                    ("consumerGroup", "cg"),
                    ("topic", "TopicTest"),
                    ("queueId", "2"),
                    ("queueOffset", "6"),
                    ("maxMsgNums", "32"),
                    ("sysFlag", "3"),
                    ("commitOffset", "6"),
                    ("suspendTimeoutMillis", "15000"),
                    ("subVersion", "1717000000000"),
                    ("expressionType", "TAG"),
                    ("maxMsgBytes", "262144"),
                    ("bname", "broker-a"),
                ],
            ),
        ),
        (
            r#"{"code":19,"extFields":{"suggestWhichBrokerId":"0","nextBeginOffset":"6","minOffset":"0","maxOffset":"6","topicSysFlag":"0","groupSysFlag":"0"},"flag":1,"language":"JAVA","opaque":18,"remark":"OFFSET_OVERFLOW_ONE","serializeTypeCurrentRPC":"JSON","version":479}"#,
            command(
                19,
                LanguageCode::Java,
                479,
                18,
                1,
                Some("OFFSET_OVERFLOW_ONE"),
                &[
                    ("suggestWhichBrokerId", "0"),
                    ("nextBeginOffset", "6"),
                    ("minOffset", "0"),
                    ("maxOffset", "6"),
                    ("topicSysFlag", "0"),
                    ("groupSysFlag", "0"),
                ],
            ),
        ),
        (
            r#"{"code":15,"extFields":{"consumerGroup":"cg","topic":"TopicTest","queueId":"2","commitOffset":"6","bname":"broker-a"},"flag":2,"language":"JAVA","opaque":19,"serializeTypeCurrentRPC":"JSON","version":479}"#,
            command(
                15,
                LanguageCode::Java,
                479,
                19,
                2,
                None,
                &[
                    ("consumerGroup", "cg"),
                    ("topic", "TopicTest"),
                    ("queueId", "2"),
                    ("commitOffset", "6"),
                    ("bname", "broker-a"),
                ],
            ),
        ),
    ];
    for (text, cmd) in cases {
        let frame = json_frame(text, b"");
        assert_eq!(encode(&cmd), frame, "{text}");
        assert_eq!(decode_frame(Bytes::from(frame)).unwrap(), cmd, "{text}");
    }
}

/// docs/protocol/frame.md §3: the Go client's shape (struct order, empty remark) and the C++ client's
/// (numbers in extFields, trailing newline).
#[test]
fn protocol_1_3_other_client_shapes_decode() {
    let go = r#"{"code":105,"language":"GO","version":317,"opaque":3,"flag":0,"remark":"","extFields":{"topic":"TopicTest"}}"#;
    let cmd = decode_frame(Bytes::from(json_frame(go, b""))).unwrap();
    assert_eq!(
        cmd,
        command(
            105,
            LanguageCode::Go,
            317,
            3,
            0,
            Some(""),
            &[("topic", "TopicTest")]
        )
    );

    let cpp = "{\"code\":11,\"extFields\":{\"AccessKey\":\"\",\"OnsChannel\":\"\",\"Signature\":\"\",\"commitOffset\":\"0\",\"consumerGroup\":\"g\",\"maxMsgNums\":32,\"queueId\":0},\"flag\":0,\"language\":\"CPP\",\"opaque\":7,\"remark\":\"\",\"version\":333}\n";
    let cmd = decode_frame(Bytes::from(json_frame(cpp, b""))).unwrap();
    assert_eq!(
        cmd,
        command(
            11,
            LanguageCode::Cpp,
            333,
            7,
            0,
            Some(""),
            &[
                ("AccessKey", ""),
                ("OnsChannel", ""),
                ("Signature", ""),
                ("commitOffset", "0"),
                ("consumerGroup", "g"),
                ("maxMsgNums", "32"),
                ("queueId", "0"),
            ],
        )
    );
}

#[test]
fn rocketmq_rust_server_explicit_nulls_decode() {
    let text = r#"{"code":0,"language":"RUST","version":474,"opaque":17,"flag":1,"remark":null,"extFields":null,"serializeTypeCurrentRPC":"JSON"}"#;
    let cmd = decode_frame(Bytes::from(json_frame(text, b""))).unwrap();
    assert_eq!(cmd, command(0, LanguageCode::Rust, 474, 17, 1, None, &[]));
}

#[test]
fn responses_answer_in_the_encoding_of_the_request() {
    let req = decode_frame(Bytes::from(unhex(ROUTE_REQUEST_BINARY))).unwrap();
    assert_eq!(req.serialize_type, SerializeType::RocketMq);
    let resp = RemotingCommand::response_to(&req, 0, None);
    let frame = encode(&resp);
    assert_eq!(frame[4], 1, "binary header type byte");
    assert_eq!(decode_frame(Bytes::from(frame)).unwrap(), resp);
}
