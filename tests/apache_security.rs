//! Scenario 5 of the Apache interop matrix: our client against an Apache NameServer + Broker
//! with TLS enforced and ACL on (4.9.7, 5.3.3, 5.5.0 from Maven Central; see
//! `interop/apache/`).
//!
//! One "secured" cluster per version serves both tests of that version: TLS is enforced on the
//! NameServer and the Broker (plain connections are closed), and the Broker checks every
//! request against a `plain_acl.yml` (ACL 1.0 on 4.x; on 5.3+, which dropped the ACL 1.0
//! engine, the same file migrated into ACL 2.0 users and policies, see
//! `ClusterOptions::acl_v1_yaml`). The certificate is made at test time with rcgen.
//!
//! - `acl_*`: with the right access key and secret our producer sends and our push and pull
//!   consumers read; a wrong secret, an unknown access key, no credentials and a topic or
//!   group the account may not use each fail fast with [`Error::AccessDenied`] naming what to
//!   check: on send, on pull, and on a push or lite-pull consumer's `start`.
//! - `tls_*`: a client without TLS, and a TLS client that does not trust the broker's
//!   certificate, each fail fast with an error that says so.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use rocketmq_it::apache::{ApacheCluster, ClusterOptions, ServerTls, V4, V5_3, V5_NEWEST};
use rocketmq_rs_client::producer::ProducerConfig;
use rocketmq_rs_client::{
    AccessDenied, ClientConfig, ConsumeContext, ConsumeFromWhere, ConsumeResult, Error,
    LitePullConsumer, Message, MessageExt, MessageQueue, MessageSelector, Producer, PullConsumer,
    PullStatus, PushConsumer, SendStatus,
};
use rocketmq_rs_remoting::acl::AclCredentials;
use rocketmq_rs_remoting::protocol::code::{RequestCode, ResponseCode};
use rocketmq_rs_remoting::protocol::header::{
    CreateTopicRequestHeader, GetRouteInfoRequestHeader, TopicFilterType,
};
use rocketmq_rs_remoting::protocol::RemotingCommand;
use rocketmq_rs_remoting::rt::Runtime;
use rocketmq_rs_remoting::tls::TlsClientConfig;
use rocketmq_rs_remoting::transport::{RemotingClient, TransportConfig};

use crate::common::{client_cfg, cluster_with, default_options, run, unique};

// 4.x refuses to start with an access key or secret key of 6 characters or fewer.
const ADMIN: (&str, &str) = ("itAdminKey", "itAdminSecret");
const USER: (&str, &str) = ("itUserKey", "itUserSecret");
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(60);
/// A refusal must come back well within this (no hang until a timeout).
const FAST: Duration = Duration::from_secs(15);

/// The topics and groups of one version's secured cluster (the ACL file names them).
struct Names {
    topic: String,
    denied_topic: String,
    push_group: String,
    pull_group: String,
    producer_group: String,
}

fn names(version: &str) -> Names {
    Names {
        topic: unique("SecTopic", version),
        denied_topic: unique("SecDenied", version),
        push_group: unique("cg_sec_push", version),
        pull_group: unique("cg_sec_pull", version),
        producer_group: unique("pg_sec", version),
    }
}

/// The certificate of every secured cluster of this process (SAN 127.0.0.1), as PEM.
fn server_tls() -> &'static ServerTls {
    static TLS: OnceLock<ServerTls> = OnceLock::new();
    TLS.get_or_init(|| {
        let c = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()])
            .expect("self-signed certificate");
        ServerTls {
            cert_pem: c.cert.pem(),
            key_pem: c.signing_key.serialize_pem(),
        }
    })
}

/// `itAdminKey` may do anything (it creates the topics); `itUserKey` may publish and subscribe
/// `topic` with its two consumer groups and nothing else. No white-listed address: every
/// request from 127.0.0.1 is checked.
fn acl_yaml(n: &Names) -> String {
    format!(
        "globalWhiteRemoteAddresses: []\n\
         accounts:\n\
         - accessKey: {ak}\n  secretKey: {sk}\n  admin: true\n\
         - accessKey: {uk}\n  secretKey: {us}\n  admin: false\n\
         \x20 defaultTopicPerm: DENY\n  defaultGroupPerm: DENY\n\
         \x20 topicPerms:\n  - {topic}=PUB|SUB\n\
         \x20 groupPerms:\n  - {push}=SUB\n  - {pull}=SUB\n  - {pg}=PUB|SUB\n",
        ak = ADMIN.0,
        sk = ADMIN.1,
        uk = USER.0,
        us = USER.1,
        topic = n.topic,
        push = n.push_group,
        pull = n.pull_group,
        pg = n.producer_group,
    )
}

fn secured_options(version: &str) -> ClusterOptions {
    ClusterOptions {
        // The harness's TBW102 wait speaks plain TCP; this cluster creates its topics itself.
        auto_create_topic: false,
        acl_v1_yaml: Some(acl_yaml(&names(version))),
        tls_enforcing: Some(server_tls().clone()),
        ..default_options()
    }
}

fn secured_cluster(test: &str, version: &str) -> Option<Arc<ApacheCluster>> {
    cluster_with(test, version, &secured_options(version))
}

fn client_tls() -> TlsClientConfig {
    TlsClientConfig::builder()
        .add_ca_pem(server_tls().cert_pem.as_bytes())
        .expect("CA PEM")
        .build()
        .expect("TLS client config")
}

fn creds((ak, sk): (&str, &str)) -> AclCredentials {
    AclCredentials::new(ak, sk)
}

/// Test client settings with TLS and `credentials`.
fn secure_cfg(
    c: &ApacheCluster,
    rt: &Arc<dyn Runtime>,
    credentials: Option<AclCredentials>,
) -> ClientConfig {
    let mut cfg = client_cfg(c, rt).with_tls(client_tls());
    cfg.transport.credentials = credentials;
    cfg
}

fn transport(credentials: Option<AclCredentials>) -> TransportConfig {
    {
        let mut c = TransportConfig::default();
        c.tls = Some(client_tls());
        c.credentials = credentials;
        c
    }
}

/// Creates `topic` as `itAdminKey` over TLS, then waits until the NameServer serves its route.
async fn admin_create_topic(rt: &Arc<dyn Runtime>, c: &ApacheCluster, topic: &str) {
    create_topic_over(rt, c, topic, transport(Some(creds(ADMIN)))).await
}

/// Creates `topic` (4 queues) with a client of `transport` on any runtime, then waits until the
/// NameServer serves its route (5.x brokers register new topics in the background).
pub(crate) async fn create_topic_over(
    rt: &Arc<dyn Runtime>,
    c: &ApacheCluster,
    topic: &str,
    transport: TransportConfig,
) {
    let client = RemotingClient::new(Arc::clone(rt), transport);
    let req = RemotingCommand::request(RequestCode::UPDATE_AND_CREATE_TOPIC).with_header(
        &CreateTopicRequestHeader {
            topic: topic.into(),
            default_topic: "TBW102".into(),
            read_queue_nums: 4,
            write_queue_nums: 4,
            perm: 6,
            topic_filter_type: TopicFilterType::SingleTag,
            topic_sys_flag: Some(0),
            order: false,
            attributes: None,
            force: false,
            bname: None,
        },
    );
    let resp = client
        .invoke(&c.broker_addr().to_string(), req, Duration::from_secs(10))
        .await
        .unwrap_or_else(|e| panic!("create {topic}: {e}"));
    assert_eq!(resp.code, ResponseCode::SUCCESS, "create {topic}: {resp:?}");
    let ns = c.namesrv_addr().to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let req = RemotingCommand::request(RequestCode::GET_ROUTEINFO_BY_TOPIC).with_header(
            &GetRouteInfoRequestHeader {
                topic: topic.into(),
                accept_standard_json_only: None,
            },
        );
        match client.invoke(&ns, req, Duration::from_secs(5)).await {
            Ok(r) if r.code == ResponseCode::SUCCESS => break,
            r => assert!(
                Instant::now() < deadline,
                "no route for {topic} 60 s after creating it: {r:?}"
            ),
        }
        rt.sleep(Duration::from_millis(100)).await;
    }
    client.shutdown();
}

async fn producer(
    c: &ApacheCluster,
    rt: &Arc<dyn Runtime>,
    group: &str,
    credentials: (&str, &str),
) -> Producer {
    let p = Producer::builder()
        .config({
            let mut conf = ProducerConfig::default();
            conf.group = group.into();
            conf.client = secure_cfg(c, rt, Some(creds(credentials)));
            conf.send_timeout = SEND_TIMEOUT;
            conf
        })
        .build()
        .expect("producer config");
    p.start().await.expect("producer start");
    p
}

/// The error of a send that must be refused; it must come fast.
async fn refused_send(p: &Producer, topic: &str, what: &str) -> Error {
    let t0 = Instant::now();
    let e = p
        .send(Message::new(topic, "refused"))
        .await
        .map(|r| panic!("{what}: the broker accepted the send: {r:?}"))
        .unwrap_err();
    assert!(t0.elapsed() < FAST, "{what}: took {:?}: {e}", t0.elapsed());
    e
}

fn expect_denied(e: &Error, want: AccessDenied, what: &str) {
    eprintln!("{what}: {e}");
    match e {
        Error::AccessDenied { reason, .. } => {
            assert_eq!(*reason, want, "{what}: {e}");
        }
        other => panic!("{what}: want Error::AccessDenied({want:?}), got {other:?}"),
    }
    // The message names what to check.
    let text = e.to_string();
    assert!(text.contains(want.hint()), "{what}: no hint in {text:?}");
}

/// Right credentials: send, push, pull. Wrong secret, unknown key, no credentials, missing
/// permission: a typed refusal, fast.
fn acl(version: &str) {
    let test = format!("acl {version}");
    let Some(c) = secured_cluster(&test, version) else {
        return;
    };
    run(&test, |rt| async move {
        let n = names(c.version());
        admin_create_topic(&rt, &c, &n.topic).await;
        admin_create_topic(&rt, &c, &n.denied_topic).await;

        // Right credentials: 10 messages sent, then read by push and by pull.
        let p = producer(&c, &rt, &n.producer_group, USER).await;
        let mut want = BTreeSet::new();
        for i in 0..10 {
            let key = format!("acl-{i}");
            let mut m = Message::new(&n.topic, format!("body {i}"));
            m.set_keys([key.as_str()]);
            let r = p
                .send(m)
                .await
                .unwrap_or_else(|e| panic!("send {key}: {e}"));
            assert_eq!(r.status, SendStatus::SendOk, "{r:?}");
            want.insert(key);
        }

        let got: Arc<Mutex<BTreeSet<String>>> = Arc::default();
        let got2 = Arc::clone(&got);
        let consumer = PushConsumer::builder()
            .client_config(secure_cfg(&c, &rt, Some(creds(USER))))
            .group(&n.push_group)
            .subscribe(&n.topic, MessageSelector::all())
            .consume_from_where(ConsumeFromWhere::FirstOffset)
            .listener(move |msgs: Vec<MessageExt>, _ctx: ConsumeContext| {
                let mut g = got2.lock().unwrap();
                g.extend(msgs.iter().filter_map(|m| m.keys().map(String::from)));
                std::future::ready(ConsumeResult::Success)
            })
            .build()
            .expect("push consumer config");
        consumer.start().await.expect("push consumer start");
        let deadline = Instant::now() + DELIVERY_TIMEOUT;
        while *got.lock().unwrap() != want {
            assert!(
                Instant::now() < deadline,
                "push: got {:?} of {want:?}",
                got.lock().unwrap()
            );
            rt.sleep(Duration::from_millis(100)).await;
        }
        consumer.shutdown().await.expect("push consumer shutdown");

        let puller = PullConsumer::builder()
            .client_config(secure_cfg(&c, &rt, Some(creds(USER))))
            .group(&n.pull_group)
            .build()
            .expect("pull consumer config");
        puller.start().await.expect("pull consumer start");
        let queues = puller
            .fetch_subscribe_queues(&n.topic)
            .await
            .expect("queues over TLS with ACL");
        let mut pulled = BTreeSet::new();
        for q in &queues {
            let r = puller.pull(q, "*", 0, 32).await.expect("signed pull");
            if r.status == PullStatus::Found {
                pulled.extend(r.messages.iter().filter_map(|m| m.keys().map(String::from)));
            }
        }
        assert_eq!(pulled, want, "pull");

        // A topic the account has no permission for.
        let e = refused_send(&p, &n.denied_topic, "missing permission").await;
        expect_denied(&e, AccessDenied::NoPermission, "send to a denied topic");
        let e = puller
            .pull(
                &MessageQueue::new(&n.denied_topic, &queues[0].broker_name, 0),
                "*",
                0,
                32,
            )
            .await
            .map(|r| panic!("pull of a denied topic answered {r:?}"))
            .unwrap_err();
        expect_denied(&e, AccessDenied::NoPermission, "pull of a denied topic");
        let _ = puller.shutdown().await;
        p.shutdown().await;

        // The right access key with a wrong secret.
        let bad = producer(&c, &rt, &n.producer_group, (USER.0, "notTheSecret")).await;
        let e = refused_send(&bad, &n.topic, "wrong secret").await;
        expect_denied(&e, AccessDenied::BadSignature, "wrong secret");
        bad.shutdown().await;

        // An access key the broker does not know.
        let unknown = producer(&c, &rt, &n.producer_group, ("nobodyKey", "nobodySecret")).await;
        let e = refused_send(&unknown, &n.topic, "unknown access key").await;
        expect_denied(&e, AccessDenied::UnknownAccessKey, "unknown access key");
        unknown.shutdown().await;

        // A push consumer with a wrong secret, and one of a group the account may not use:
        // start() fails with the refusal instead of running without ever receiving anything.
        for (group, secret, want, what) in [
            (
                n.push_group.clone(),
                "notTheSecret",
                AccessDenied::BadSignature,
                "push consumer, wrong secret",
            ),
            (
                unique("cg_sec_denied", c.version()),
                USER.1,
                AccessDenied::NoPermission,
                "push consumer, denied group",
            ),
        ] {
            let consumer = PushConsumer::builder()
                .client_config(secure_cfg(&c, &rt, Some(creds((USER.0, secret)))))
                .group(group)
                .subscribe(&n.topic, MessageSelector::all())
                .listener(|_msgs: Vec<MessageExt>, _ctx: ConsumeContext| {
                    std::future::ready(ConsumeResult::Success)
                })
                .build()
                .expect("push consumer config");
            let t0 = Instant::now();
            let e = consumer
                .start()
                .await
                .map(|()| panic!("{what}: start succeeded"))
                .unwrap_err();
            assert!(t0.elapsed() < FAST, "{what}: took {:?}", t0.elapsed());
            expect_denied(&e, want, what);
            assert!(!consumer.is_running(), "{what}: still running");
        }

        // The same for a lite-pull consumer in subscribe mode.
        let lite = LitePullConsumer::builder()
            .client_config(secure_cfg(&c, &rt, Some(creds((USER.0, "notTheSecret")))))
            .group(&n.pull_group)
            .subscribe(&n.topic, "*")
            .build()
            .expect("lite consumer config");
        let e = lite
            .start()
            .await
            .map(|()| panic!("lite consumer with a wrong secret started"))
            .unwrap_err();
        expect_denied(
            &e,
            AccessDenied::BadSignature,
            "lite consumer, wrong secret",
        );

        // No credentials at all (TLS only).
        let anonymous = Producer::builder()
            .config({
                let mut conf = ProducerConfig::default();
                conf.group = n.producer_group.clone();
                conf.client = secure_cfg(&c, &rt, None);
                conf.send_timeout = SEND_TIMEOUT;
                conf
            })
            .build()
            .expect("producer config");
        anonymous.start().await.expect("producer start");
        let e = refused_send(&anonymous, &n.topic, "no credentials").await;
        expect_denied(&e, AccessDenied::MissingCredentials, "no credentials");
        anonymous.shutdown().await;
    });
}

per_version!(acl, acl_v4, acl_v5_3, acl_v5_newest);

/// Without TLS, or with TLS that does not trust the broker: a fast error that says so.
fn tls(version: &str) {
    let test = format!("tls {version}");
    let Some(c) = secured_cluster(&test, version) else {
        return;
    };
    run(&test, |rt| async move {
        let n = names(c.version());

        // Plain TCP to the enforcing NameServer: closed at once.
        let mut plain = client_cfg(&c, &rt);
        plain.transport.credentials = Some(creds(USER));
        let p = Producer::builder()
            .config({
                let mut c = ProducerConfig::default();
                c.group = n.producer_group.clone();
                c.client = plain;
                c.send_timeout = SEND_TIMEOUT;
                c
            })
            .build()
            .expect("producer config");
        p.start().await.expect("producer start (no I/O yet)");
        let e = refused_send(&p, &n.topic, "plain TCP").await;
        let text = e.to_string();
        eprintln!("plain client, TLS-only NameServer: {text}");
        assert!(
            text.contains("TLS"),
            "a plain client refused by a TLS-only server must hear about TLS: {text}"
        );
        p.shutdown().await;

        // Plain TCP straight to the enforcing broker.
        let client = RemotingClient::new(Arc::clone(&rt), TransportConfig::default());
        let t0 = Instant::now();
        let req = RemotingCommand::request(RequestCode::GET_BROKER_RUNTIME_INFO);
        let e = client
            .invoke(&c.broker_addr().to_string(), req, Duration::from_secs(10))
            .await
            .map(|r| panic!("a TLS-only broker answered plain TCP: {r:?}"))
            .unwrap_err();
        assert!(
            t0.elapsed() < FAST,
            "plain to broker took {:?}",
            t0.elapsed()
        );
        eprintln!("plain client, TLS-only broker: {e}");
        assert!(e.to_string().contains("TLS"), "{e}");
        client.shutdown();

        // TLS without trusting the broker's certificate: the handshake fails, and says why.
        let other =
            rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).expect("certificate");
        let untrusting = TlsClientConfig::builder()
            .add_ca_pem(other.cert.pem().as_bytes())
            .expect("CA")
            .build()
            .expect("TLS config");
        let client = RemotingClient::new(Arc::clone(&rt), {
            let mut c = TransportConfig::default();
            c.tls = Some(untrusting);
            c
        });
        let t0 = Instant::now();
        let req = RemotingCommand::request(RequestCode::GET_BROKER_RUNTIME_INFO);
        let e = client
            .invoke(&c.broker_addr().to_string(), req, Duration::from_secs(10))
            .await
            .map(|r| panic!("an untrusted certificate was accepted: {r:?}"))
            .unwrap_err();
        assert!(t0.elapsed() < FAST, "bad cert took {:?}", t0.elapsed());
        eprintln!("untrusted certificate: {e}");
        assert!(
            e.to_string().contains("certificate is not trusted"),
            "the error must say the certificate is not trusted: {e}"
        );
        client.shutdown();
    });
}

per_version!(tls, tls_v4, tls_v5_3, tls_v5_newest);

/// `rocketmq-cli` against the secured cluster: `--tls-ca` and `--access-key`/`--secret-key`
/// make `topic status` (offset requests to the broker) work; a wrong secret and a missing
/// `--tls-ca` each fail with the error that says what to check.
fn cli(version: &str) {
    use clap::Parser;
    use rocketmq_rs_cli::cli::{run as cli_run, Cli};
    use rocketmq_rs_cli::error::CliError;

    let test = format!("cli {version}");
    let Some(c) = secured_cluster(&test, version) else {
        return;
    };
    let ca = tempfile::NamedTempFile::new().expect("CA file");
    std::fs::write(ca.path(), &server_tls().cert_pem).expect("write CA");
    let ca_path = ca.path().display().to_string();
    run(&test, |rt| async move {
        let n = names(c.version());
        // The acl test may not have created it yet (tests run in any order).
        admin_create_topic(&rt, &c, &n.topic).await;
        let ns = c.namesrv_addr().to_string();
        let cli = |extra: &[&str]| {
            let mut args = vec!["rocketmq-cli", "-n", &ns, "--timeout-ms", "5000"];
            args.extend_from_slice(extra);
            args.extend_from_slice(&["topic", "status", "-t", &n.topic]);
            Cli::try_parse_from(args).expect("command line")
        };
        let with_keys = |(ak, sk): (&str, &str)| {
            cli(&["--tls-ca", &ca_path, "--access-key", ak, "--secret-key", sk])
        };
        // The user account may query offsets on 4.9.7 but not on 5.x, where the policies
        // migrated from `PUB|SUB` grant only those two actions.
        let r = cli_run(with_keys(USER), Arc::clone(&rt)).await;
        if c.version() == V4 {
            r.unwrap_or_else(|e| panic!("topic status as {}: {e}", USER.0));
        } else {
            let e = r
                .map(|()| panic!("5.x served topic status to a PUB|SUB account"))
                .unwrap_err();
            eprintln!("cli, 5.x user account: {e}");
            assert!(
                e.to_string().contains(AccessDenied::NoPermission.hint()),
                "{e}"
            );
        }
        cli_run(with_keys(ADMIN), Arc::clone(&rt))
            .await
            .unwrap_or_else(|e| panic!("topic status as {} with TLS: {e}", ADMIN.0));

        let wrong = with_keys((ADMIN.0, "nope1234"));
        match cli_run(wrong, Arc::clone(&rt)).await {
            Err(e @ CliError::Failed(_)) => {
                eprintln!("cli, wrong secret: {e}");
                assert!(
                    e.to_string().contains(AccessDenied::BadSignature.hint()),
                    "{e}"
                );
            }
            other => panic!("cli with a wrong secret: {other:?}"),
        }

        let plain = cli(&["--access-key", ADMIN.0, "--secret-key", ADMIN.1]);
        match cli_run(plain, Arc::clone(&rt)).await {
            Err(e @ CliError::Unreachable(_)) => {
                eprintln!("cli without --tls-ca: {e}");
                assert!(e.to_string().contains("enable TLS"), "{e}");
            }
            other => panic!("cli without TLS: {other:?}"),
        }
    });
}

per_version!(cli, cli_v4, cli_v5_3, cli_v5_newest);
