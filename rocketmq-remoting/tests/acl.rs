//! ACL 1.0: signature vectors (captured C++ frames, an independent Python implementation),
//! validator rules, and signing through the transport on every runtime.

use std::net::IpAddr;
use std::path::PathBuf;

use bytes::Bytes;
use rocketmq_rs_remoting::acl::{
    self, calculate_signature, canonical_content, AclConfig, AclCredentials, AclValidator,
};
use rocketmq_rs_remoting::protocol::code::{RequestCode, ResponseCode};
use rocketmq_rs_remoting::protocol::codec::decode_frame;
use rocketmq_rs_remoting::protocol::RemotingCommand;

fn unhex(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    digits
        .chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
        .collect()
}

fn manifest_path(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// The official C++ client always signs, with an empty secret when no credentials are set
/// (docs/protocol/frame.md §3). Every captured C++ request must verify with secret "" and fail with any
/// other secret.
#[test]
fn captured_cpp_signatures_verify() {
    let dir = manifest_path("tests/codec_vectors");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !(name.starts_with("cpp-c2s-") && name.ends_with(".hex")) {
            continue;
        }
        let frame = unhex(&std::fs::read_to_string(&path).unwrap());
        let cmd = decode_frame(Bytes::from(frame)).unwrap();
        let sig = cmd.ext_fields.get("Signature").unwrap().to_owned();
        assert_eq!(cmd.ext_fields.get("AccessKey"), Some(""), "{name}");
        assert!(acl::verify_signature(&cmd, ""), "{name}: {sig}");
        assert!(!acl::verify_signature(&cmd, "x"), "{name}");
        assert_eq!(
            calculate_signature(&canonical_content(&cmd, false), ""),
            sig,
            "{name}"
        );
        // Re-signing with the same (empty) credentials reproduces the captured bytes.
        let mut resigned = cmd.clone();
        acl::sign(&mut resigned, &AclCredentials::new("", ""));
        assert_eq!(
            resigned.ext_fields.get("Signature"),
            Some(sig.as_str()),
            "{name}"
        );
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} C++ frames found in {dir:?}");
}

/// Vectors from `tests/data/acl_sign_vectors.py`, an independent Python implementation of
/// Java's `combineRequestContent` + `calSignature`.
#[test]
fn python_cross_check_vectors() {
    let text = std::fs::read_to_string(manifest_path("tests/data/acl_sign_vectors.json")).unwrap();
    let cases: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    assert_eq!(cases.len(), 6);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let mut cmd = RemotingCommand::request(case["code"].as_i64().unwrap() as i32)
            .with_body(unhex(case["body_hex"].as_str().unwrap()));
        for (k, v) in case["ext"].as_object().unwrap() {
            cmd.ext_fields.insert(k.as_str(), v.as_str().unwrap());
        }
        let mut creds = AclCredentials::new(
            case["access_key"].as_str().unwrap(),
            case["secret_key"].as_str().unwrap(),
        );
        if let Some(token) = case["security_token"].as_str() {
            creds = creds.with_security_token(token);
        }
        acl::sign(&mut cmd, &creds);
        assert_eq!(
            cmd.ext_fields.get("Signature"),
            case["signature"].as_str(),
            "{name}"
        );
        assert!(acl::verify_signature(&cmd, &creds.secret_key), "{name}");
        if let Some(token) = &creds.security_token {
            assert_eq!(cmd.ext_fields.get("SecurityToken"), Some(token.as_str()));
        }
    }
}

/// Computed by hand: sorted keys `AccessKey`, `topic` → content "RocketMQ" + "TopicTest".
#[test]
fn hand_computed_vector() {
    let mut cmd = RemotingCommand::request(RequestCode::GET_ROUTEINFO_BY_TOPIC);
    cmd.ext_fields.insert("topic", "TopicTest");
    acl::sign(&mut cmd, &AclCredentials::new("RocketMQ", "12345678"));
    assert_eq!(canonical_content(&cmd, false), b"RocketMQTopicTest");
    assert_eq!(
        calculate_signature(b"RocketMQTopicTest", "12345678"),
        "0jiwhsaYp5ObE5GObbZH1I8/FT4="
    );
    assert_eq!(
        cmd.ext_fields.get("Signature"),
        Some("0jiwhsaYp5ObE5GObbZH1I8/FT4=")
    );
}

#[test]
fn tampering_breaks_the_signature() {
    let creds = AclCredentials::new("ak", "sk");
    let mut cmd = RemotingCommand::request(RequestCode::SEND_MESSAGE).with_body(&b"payload"[..]);
    cmd.ext_fields.insert("topic", "T");
    acl::sign(&mut cmd, &creds);
    assert!(acl::verify_signature(&cmd, "sk"));

    let mut body = cmd.clone();
    body.body = Bytes::from_static(b"payloaD");
    assert!(!acl::verify_signature(&body, "sk"));

    let mut field = cmd.clone();
    field.ext_fields.insert("topic", "U");
    assert!(!acl::verify_signature(&field, "sk"));

    let mut added = cmd.clone();
    added.ext_fields.insert("__ZONE_NAME", "z");
    assert!(!acl::verify_signature(&added, "sk"));

    let mut missing = cmd.clone();
    missing.ext_fields.remove("Signature");
    assert!(!acl::verify_signature(&missing, "sk"));
}

/// Clients ≤ 4.9.3 added `_UNIQUE_KEY_QUERY` after signing; servers ignore it for them only.
#[test]
fn unique_key_query_exemption_depends_on_version() {
    let mut cmd = RemotingCommand::request(RequestCode::QUERY_MESSAGE);
    cmd.ext_fields.insert("topic", "T");
    cmd.version = 399;
    acl::sign(&mut cmd, &AclCredentials::new("ak", "sk"));
    cmd.ext_fields.insert("_UNIQUE_KEY_QUERY", "true");
    assert!(acl::verify_signature(&cmd, "sk"));
    cmd.version = 401;
    assert!(!acl::verify_signature(&cmd, "sk"));
}

// ------------------------------------------------------------------------------------------------
// Validator
// ------------------------------------------------------------------------------------------------

const CONFIG: &str = r#"{
  "globalWhiteRemoteAddresses": ["10.10.103.*", "192.168.0.{1,2}"],
  "accounts": [
    {"accessKey": "RocketMQ", "secretKey": "12345678", "whiteRemoteAddress": "192.168.5.*",
     "admin": false, "defaultTopicPerm": "DENY", "defaultGroupPerm": "SUB",
     "topicPerms": ["topicA=DENY", "topicB=PUB|SUB", "topicC=SUB", "topicP=PUB"],
     "groupPerms": ["groupA=DENY", "groupB=PUB|SUB", "groupC=SUB"]},
    {"accessKey": "admin", "secretKey": "adminsecret", "admin": true}
  ]
}"#;

fn validator() -> AclValidator {
    let config: AclConfig = serde_json::from_str(CONFIG).unwrap();
    AclValidator::new(&config).unwrap()
}

fn peer() -> IpAddr {
    "127.0.0.1".parse().unwrap()
}

fn user() -> AclCredentials {
    AclCredentials::new("RocketMQ", "12345678")
}

fn req(code: i32, ext: &[(&str, &str)], creds: &AclCredentials) -> RemotingCommand {
    let mut cmd = RemotingCommand::request(code);
    for (k, v) in ext {
        cmd.ext_fields.insert(*k, *v);
    }
    acl::sign(&mut cmd, creds);
    cmd
}

fn denied(v: &AclValidator, cmd: &RemotingCommand) -> String {
    v.check(cmd, peer()).unwrap_err().remark
}

#[test]
fn send_permissions() {
    let v = validator();
    let send = |topic| req(RequestCode::SEND_MESSAGE, &[("topic", topic)], &user());
    let send_v2 = |topic| {
        req(
            RequestCode::SEND_MESSAGE_V2,
            &[("a", "pg"), ("b", topic)],
            &user(),
        )
    };
    assert!(v.check(&send("topicB"), peer()).is_ok());
    assert!(v.check(&send("topicP"), peer()).is_ok());
    assert!(v.check(&send_v2("topicP"), peer()).is_ok());
    assert_eq!(
        denied(&v, &send("topicA")),
        "No permission for topic=topicA"
    );
    assert_eq!(
        denied(&v, &send("topicC")),
        "No permission for topic=topicC"
    );
    assert_eq!(
        denied(&v, &send_v2("other")),
        "No default permission for topic=other"
    );
    let batch = req(RequestCode::SEND_BATCH_MESSAGE, &[("b", "topicA")], &user());
    assert_eq!(denied(&v, &batch), "No permission for topic=topicA");
    // A send to a retry topic needs SUB on its group.
    assert!(v.check(&send("%RETRY%groupC"), peer()).is_ok());
    assert_eq!(
        denied(&v, &send("%RETRY%groupA")),
        "No permission for group=groupA"
    );
}

#[test]
fn pull_and_offset_permissions() {
    let v = validator();
    let pull = |topic, group| {
        req(
            RequestCode::PULL_MESSAGE,
            &[("topic", topic), ("consumerGroup", group), ("queueId", "0")],
            &user(),
        )
    };
    assert!(v.check(&pull("topicC", "groupC"), peer()).is_ok());
    assert!(v.check(&pull("topicB", "anyGroup"), peer()).is_ok());
    assert_eq!(
        denied(&v, &pull("topicP", "groupC")),
        "No permission for topic=topicP"
    );
    assert_eq!(
        denied(&v, &pull("topicC", "groupA")),
        "No permission for group=groupA"
    );
    let update = req(
        RequestCode::UPDATE_CONSUMER_OFFSET,
        &[("topic", "topicC"), ("consumerGroup", "groupA")],
        &user(),
    );
    assert_eq!(denied(&v, &update), "No permission for group=groupA");
    let lite = req(
        RequestCode::LITE_PULL_MESSAGE,
        &[("topic", "secret"), ("consumerGroup", "groupC")],
        &user(),
    );
    assert_eq!(denied(&v, &lite), "No default permission for topic=secret");
    let back = req(
        RequestCode::CONSUMER_SEND_MSG_BACK,
        &[("group", "groupA")],
        &user(),
    );
    assert_eq!(denied(&v, &back), "No permission for group=groupA");
    // The C++ producer unregisters with an empty consumer group: nothing to check.
    let unregister = req(
        RequestCode::UNREGISTER_CLIENT,
        &[
            ("clientID", "c"),
            ("producerGroup", "pg"),
            ("consumerGroup", ""),
        ],
        &user(),
    );
    assert!(v.check(&unregister, peer()).is_ok());
}

#[test]
fn heartbeat_and_lock_bodies_are_checked() {
    let v = validator();
    let hb = |body: &'static str| {
        let mut cmd = RemotingCommand::request(RequestCode::HEART_BEAT).with_body(body.as_bytes());
        acl::sign(&mut cmd, &user());
        cmd
    };
    let ok = hb(
        r#"{"clientID":"c","consumerDataSet":[{"groupName":"groupC","subscriptionDataSet":[{"topic":"topicC","subString":"*"},{"topic":"%RETRY%groupC","subString":"*"}]}],"producerDataSet":[{"groupName":"pg"}]}"#,
    );
    assert!(v.check(&ok, peer()).is_ok());
    let bad_topic = hb(
        r#"{"clientID":"c","consumerDataSet":[{"groupName":"groupC","subscriptionDataSet":[{"topic":"topicA","subString":"*"}]}]}"#,
    );
    assert_eq!(denied(&v, &bad_topic), "No permission for topic=topicA");
    let bad_group = hb(r#"{"clientID":"c","consumerDataSet":[{"groupName":"groupA"}]}"#);
    assert_eq!(denied(&v, &bad_group), "No permission for group=groupA");
    let garbage = hb("not json");
    assert!(denied(&v, &garbage).starts_with("Cannot read the heartbeat body"));

    let mut lock = RemotingCommand::request(RequestCode::LOCK_BATCH_MQ)
        .with_body(&br#"{"consumerGroup":"groupA","clientId":"c","mqSet":[]}"#[..]);
    acl::sign(&mut lock, &user());
    assert_eq!(denied(&v, &lock), "No permission for group=groupA");
}

#[test]
fn admin_requests_need_an_admin() {
    let v = validator();
    let create = |creds: &AclCredentials| {
        req(
            RequestCode::UPDATE_AND_CREATE_TOPIC,
            &[("topic", "newTopic"), ("readQueueNums", "8")],
            creds,
        )
    };
    assert_eq!(
        denied(&v, &create(&user())),
        "Need admin permission for request code=17, but accessKey=RocketMQ is not"
    );
    let admin = AclCredentials::new("admin", "adminsecret");
    assert!(v.check(&create(&admin), peer()).is_ok());
    let delete = req(
        RequestCode::DELETE_TOPIC_IN_BROKER,
        &[("topic", "x")],
        &user(),
    );
    assert!(denied(&v, &delete).starts_with("Need admin permission for request code=215"));
    // An admin without explicit permissions reaches every resource.
    let send = req(RequestCode::SEND_MESSAGE, &[("topic", "anything")], &admin);
    assert!(v.check(&send, peer()).is_ok());
    // Non-admin requests without resources only need a good signature.
    let route = req(
        RequestCode::GET_ROUTEINFO_BY_TOPIC,
        &[("topic", "topicA")],
        &user(),
    );
    assert!(v.check(&route, peer()).is_ok());
}

#[test]
fn identity_and_signature_failures() {
    let v = validator();
    let mut anonymous = RemotingCommand::request(RequestCode::SEND_MESSAGE);
    anonymous.ext_fields.insert("topic", "topicB");
    assert_eq!(denied(&v, &anonymous), "No accessKey is configured");

    let unknown = req(
        RequestCode::SEND_MESSAGE,
        &[("topic", "topicB")],
        &AclCredentials::new("nobody", "x"),
    );
    assert_eq!(denied(&v, &unknown), "No acl config for nobody");

    let wrong_secret = req(
        RequestCode::SEND_MESSAGE,
        &[("topic", "topicB")],
        &AclCredentials::new("RocketMQ", "wrong"),
    );
    assert_eq!(
        denied(&v, &wrong_secret),
        "Check signature failed for accessKey=RocketMQ"
    );

    let mut tampered = req(RequestCode::SEND_MESSAGE, &[("topic", "topicB")], &user());
    tampered.ext_fields.insert("topic", "topicA");
    assert_eq!(
        denied(&v, &tampered),
        "Check signature failed for accessKey=RocketMQ"
    );

    // The refusal is a NO_PERMISSION response to the request, remark included.
    let resp = v
        .check(&tampered, peer())
        .unwrap_err()
        .to_response(&tampered);
    assert_eq!(resp.code, ResponseCode::NO_PERMISSION);
    assert!(resp.is_response());
    assert_eq!(
        resp.remark.as_deref(),
        Some("Check signature failed for accessKey=RocketMQ")
    );
}

#[test]
fn white_lists() {
    let v = validator();
    let mut anonymous = RemotingCommand::request(RequestCode::UPDATE_AND_CREATE_TOPIC);
    anonymous.ext_fields.insert("topic", "topicA");
    for ip in ["10.10.103.7", "192.168.0.2", "::ffff:192.168.0.1"] {
        assert!(v.check(&anonymous, ip.parse().unwrap()).is_ok(), "{ip}");
    }
    assert!(v.check(&anonymous, "192.168.0.3".parse().unwrap()).is_err());
    // An account's own white list skips the signature (not the access key lookup).
    let wrong_secret = req(
        RequestCode::SEND_MESSAGE,
        &[("topic", "topicA")],
        &AclCredentials::new("RocketMQ", "wrong"),
    );
    assert!(v
        .check(&wrong_secret, "192.168.5.9".parse().unwrap())
        .is_ok());
    assert!(v
        .check(&wrong_secret, "192.168.6.9".parse().unwrap())
        .is_err());
}

#[test]
fn bad_configs_are_rejected() {
    for bad in [
        r#"{"accounts":[{"accessKey":"a","secretKey":"s","defaultTopicPerm":"READ"}]}"#,
        r#"{"accounts":[{"accessKey":"a","secretKey":"s","topicPerms":["noequals"]}]}"#,
        r#"{"accounts":[{"accessKey":"a","secretKey":"s","topicPerms":["t=ALL"]}]}"#,
        r#"{"accounts":[{"accessKey":"a","secretKey":"s","whiteRemoteAddress":"1.2.3.400"}]}"#,
        r#"{"globalWhiteRemoteAddresses":["not an address"]}"#,
        r#"{"accounts":[{"accessKey":"a","secretKey":"s"},{"accessKey":"a","secretKey":"t"}]}"#,
        r#"{"accounts":[{"accessKey":"","secretKey":"s"}]}"#,
    ] {
        let config: AclConfig = serde_json::from_str(bad).unwrap();
        assert!(AclValidator::new(&config).is_err(), "{bad}");
    }
}

#[test]
fn debug_output_hides_secrets() {
    let creds = AclCredentials::new("ak", "topsecret").with_security_token("tok3n");
    let shown = format!("{creds:?}");
    assert!(
        !shown.contains("topsecret") && !shown.contains("tok3n"),
        "{shown}"
    );
    let config: AclConfig = serde_json::from_str(CONFIG).unwrap();
    assert!(!format!("{config:?}").contains("12345678"));
}

// ------------------------------------------------------------------------------------------------
// Through the transport, on every runtime
// ------------------------------------------------------------------------------------------------

#[cfg(any(
    feature = "runtime-tokio",
    feature = "runtime-smol",
    feature = "runtime-async-std"
))]
mod transport {
    use std::future::Future;
    use std::sync::Arc;
    use std::time::Duration;

    use rocketmq_rs_remoting::acl::{AclCredentials, AclValidator};
    use rocketmq_rs_remoting::protocol::code::{RequestCode, ResponseCode};
    use rocketmq_rs_remoting::protocol::RemotingCommand;
    use rocketmq_rs_remoting::rt::{timeout, Runtime};
    use rocketmq_rs_remoting::transport::{
        Connection, RemotingClient, RemotingServer, RequestHandler, TransportConfig,
    };

    /// A server that checks every request the way a broker with ACL does.
    struct Guarded {
        acl: AclValidator,
    }

    impl RequestHandler for Guarded {
        async fn handle(&self, conn: &Connection, req: RemotingCommand) -> Option<RemotingCommand> {
            if let Err(denied) = self.acl.check(&req, conn.peer_addr().ip()) {
                return Some(denied.to_response(&req));
            }
            Some(RemotingCommand::response(ResponseCode::SUCCESS, None))
        }
    }

    pub(super) async fn signed_requests_pass_and_bad_ones_fail(rt: Arc<dyn Runtime>) {
        let server = RemotingServer::start(
            rt.clone(),
            "127.0.0.1:0".parse().unwrap(),
            TransportConfig::default(),
            Arc::new(Guarded {
                acl: super::validator(),
            }),
        )
        .await
        .unwrap();
        let addr = server.local_addr().to_string();
        let client_with = |creds: Option<AclCredentials>| {
            RemotingClient::new(rt.clone(), {
                let mut c = TransportConfig::default();
                c.credentials = creds;
                c
            })
        };
        let send = || {
            let mut cmd =
                RemotingCommand::request(RequestCode::SEND_MESSAGE).with_body(&b"hello"[..]);
            cmd.ext_fields.insert("topic", "topicB");
            cmd.ext_fields.insert("producerGroup", "pg");
            cmd
        };
        let t = Duration::from_secs(5);

        let good = client_with(Some(super::user()));
        assert_eq!(
            good.invoke(&addr, send(), t).await.unwrap().code,
            ResponseCode::SUCCESS
        );
        // Oneway requests are signed too: follow one with a request on the same connection.
        good.invoke_oneway(&addr, send(), t).await.unwrap();
        let mut pull = RemotingCommand::request(RequestCode::PULL_MESSAGE);
        pull.ext_fields.insert("topic", "topicC");
        pull.ext_fields.insert("consumerGroup", "groupA");
        let resp = good.invoke(&addr, pull, t).await.unwrap();
        assert_eq!(resp.code, ResponseCode::NO_PERMISSION);
        assert_eq!(
            resp.remark.as_deref(),
            Some("No permission for group=groupA")
        );

        let bad = client_with(Some(AclCredentials::new("RocketMQ", "wrong")));
        let resp = bad.invoke(&addr, send(), t).await.unwrap();
        assert_eq!(resp.code, ResponseCode::NO_PERMISSION);
        assert_eq!(
            resp.remark.as_deref(),
            Some("Check signature failed for accessKey=RocketMQ")
        );

        let anonymous = client_with(None);
        let resp = anonymous.invoke(&addr, send(), t).await.unwrap();
        assert_eq!(resp.remark.as_deref(), Some("No accessKey is configured"));

        for c in [good, bad, anonymous] {
            c.shutdown();
        }
        server.shutdown().await;
    }

    async fn guarded<Fut: Future<Output = ()>>(rt: Arc<dyn Runtime>, fut: Fut) {
        timeout(&*rt, Duration::from_secs(60), fut)
            .await
            .expect("scenario hung");
    }

    #[cfg(feature = "runtime-tokio")]
    #[test]
    fn tokio_signed_requests() {
        let tokio = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let rt: Arc<dyn Runtime> = Arc::new(rocketmq_rs_remoting::rt::TokioRuntime::from_handle(
            tokio.handle().clone(),
        ));
        tokio.block_on(guarded(
            rt.clone(),
            signed_requests_pass_and_bad_ones_fail(rt),
        ));
    }

    #[cfg(feature = "runtime-smol")]
    #[test]
    fn smol_signed_requests() {
        let rt: Arc<dyn Runtime> = Arc::new(rocketmq_rs_remoting::rt::SmolRuntime::new());
        smol::block_on(guarded(
            rt.clone(),
            signed_requests_pass_and_bad_ones_fail(rt),
        ));
    }

    #[cfg(feature = "runtime-async-std")]
    #[test]
    fn async_std_signed_requests() {
        let rt: Arc<dyn Runtime> = Arc::new(rocketmq_rs_remoting::rt::AsyncStdRuntime::new());
        async_std::task::block_on(guarded(
            rt.clone(),
            signed_requests_pass_and_bad_ones_fail(rt),
        ));
    }
}
