//! TLS: round trips, custom CA, client certificates, permissive/enforcing servers and
//! TLS/plain mismatches, on every enabled runtime. Certificates are generated with rcgen.
#![cfg(all(
    feature = "tls",
    any(
        feature = "runtime-tokio",
        feature = "runtime-smol",
        feature = "runtime-async-std"
    )
))]

#[macro_use]
mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rocketmq_rs_remoting::protocol::code::ResponseCode;
use rocketmq_rs_remoting::protocol::RemotingCommand;
use rocketmq_rs_remoting::rt::Runtime;
use rocketmq_rs_remoting::tls::{TlsClientConfig, TlsMode, TlsServerConfig};
use rocketmq_rs_remoting::transport::{
    Connection, RemotingClient, RemotingServer, RequestHandler, ServerHandle, TransportConfig,
};
use rocketmq_rs_remoting::RemotingError;

const T: Duration = Duration::from_secs(5);

struct Echo;

impl RequestHandler for Echo {
    async fn handle(&self, _conn: &Connection, req: RemotingCommand) -> Option<RemotingCommand> {
        Some(RemotingCommand::response(ResponseCode::SUCCESS, None).with_body(req.body))
    }
}

/// A CA and PEMs it issued.
struct Pki {
    ca_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

struct Leaf {
    cert_pem: String,
    key_pem: String,
}

impl Pki {
    fn new(name: &str) -> Pki {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let ca = params.self_signed(&key).unwrap();
        Pki {
            ca_pem: ca.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    fn issue(&self, names: &[&str]) -> Leaf {
        let key = KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        params.distinguished_name.push(DnType::CommonName, "leaf");
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }
}

fn server_tls(leaf: &Leaf, mode: TlsMode) -> TlsServerConfig {
    TlsServerConfig::builder(leaf.cert_pem.as_bytes(), leaf.key_pem.as_bytes())
        .unwrap()
        .mode(mode)
        .build()
        .unwrap()
}

fn client_tls(ca: &Pki) -> TlsClientConfig {
    TlsClientConfig::builder()
        .add_ca_pem(ca.ca_pem.as_bytes())
        .unwrap()
        .build()
        .unwrap()
}

async fn start(rt: &Arc<dyn Runtime>, tls: Option<TlsServerConfig>) -> ServerHandle {
    let config = {
        let mut c = TransportConfig::default();
        c.tls_server = tls;
        c
    };
    RemotingServer::start(
        rt.clone(),
        "127.0.0.1:0".parse().unwrap(),
        config,
        Arc::new(Echo),
    )
    .await
    .unwrap()
}

fn client(rt: &Arc<dyn Runtime>, tls: Option<TlsClientConfig>) -> RemotingClient {
    RemotingClient::new(rt.clone(), {
        let mut c = TransportConfig::default();
        c.tls = tls;
        c.connect_timeout = Duration::from_secs(2);
        c
    })
}

async fn echo(
    client: &RemotingClient,
    addr: SocketAddr,
    body: Vec<u8>,
) -> Result<Vec<u8>, RemotingError> {
    let req = RemotingCommand::request(105).with_body(body);
    let resp = client.invoke(&addr.to_string(), req, T).await?;
    assert_eq!(resp.code, ResponseCode::SUCCESS);
    Ok(resp.body.to_vec())
}

mod scenarios {
    use super::*;

    pub async fn round_trip_with_custom_ca(rt: Arc<dyn Runtime>) {
        let ca = Pki::new("test CA");
        let server = start(
            &rt,
            Some(server_tls(&ca.issue(&["127.0.0.1"]), TlsMode::Enforcing)),
        )
        .await;
        let c = client(&rt, Some(client_tls(&ca)));
        assert_eq!(
            echo(&c, server.local_addr(), b"hi".to_vec()).await.unwrap(),
            b"hi"
        );
        // Big frames cross many TLS records, concurrently.
        let big: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
        let calls: Vec<_> = (0..4)
            .map(|_| echo(&c, server.local_addr(), big.clone()))
            .collect();
        for r in futures::future::join_all(calls).await {
            assert_eq!(r.unwrap(), big);
        }
        assert_eq!(server.connection_count(), 1);
        c.shutdown();
        server.shutdown().await;
    }

    pub async fn untrusted_certificate_is_refused(rt: Arc<dyn Runtime>) {
        let ca = Pki::new("server CA");
        let other = Pki::new("other CA");
        let server = start(
            &rt,
            Some(server_tls(&ca.issue(&["127.0.0.1"]), TlsMode::Enforcing)),
        )
        .await;
        let c = client(&rt, Some(client_tls(&other)));
        match echo(&c, server.local_addr(), b"x".to_vec()).await {
            Err(RemotingError::Connect { source, .. }) => {
                assert!(source.to_string().contains("TLS handshake"), "{source}");
                // It says what to do about it.
                assert!(source.to_string().contains("add_ca_pem"), "{source}");
            }
            other => panic!("expected a connect error, got {other:?}"),
        }
        c.shutdown();
        server.shutdown().await;
    }

    pub async fn server_name_override(rt: Arc<dyn Runtime>) {
        let ca = Pki::new("CA");
        let server = start(
            &rt,
            Some(server_tls(&ca.issue(&["broker.test"]), TlsMode::Enforcing)),
        )
        .await;
        // The certificate names a host; the address dialled is an IP.
        let by_ip = client(&rt, Some(client_tls(&ca)));
        assert!(matches!(
            echo(&by_ip, server.local_addr(), b"x".to_vec()).await,
            Err(RemotingError::Connect { .. })
        ));
        let named = client(
            &rt,
            Some(client_tls(&ca).with_server_name("broker.test").unwrap()),
        );
        assert_eq!(
            echo(&named, server.local_addr(), b"ok".to_vec())
                .await
                .unwrap(),
            b"ok"
        );
        by_ip.shutdown();
        named.shutdown();
        server.shutdown().await;
    }

    pub async fn client_certificates(rt: Arc<dyn Runtime>) {
        let ca = Pki::new("CA");
        let leaf = ca.issue(&["127.0.0.1"]);
        let tls = TlsServerConfig::builder(leaf.cert_pem.as_bytes(), leaf.key_pem.as_bytes())
            .unwrap()
            .mode(TlsMode::Enforcing)
            .client_auth_ca_pem(ca.ca_pem.as_bytes(), true)
            .unwrap()
            .build()
            .unwrap();
        let server = start(&rt, Some(tls)).await;
        let me = ca.issue(&["client"]);
        let with_cert = TlsClientConfig::builder()
            .add_ca_pem(ca.ca_pem.as_bytes())
            .unwrap()
            .client_cert_pem(me.cert_pem.as_bytes(), me.key_pem.as_bytes())
            .unwrap()
            .build()
            .unwrap();
        let good = client(&rt, Some(with_cert));
        assert_eq!(
            echo(&good, server.local_addr(), b"m".to_vec())
                .await
                .unwrap(),
            b"m"
        );
        // Without a certificate the server refuses the session (with TLS 1.3 the client learns
        // it right after its handshake, so the failure is a closed connection or a dial error).
        let anonymous = client(&rt, Some(client_tls(&ca)));
        let started = Instant::now();
        assert!(echo(&anonymous, server.local_addr(), b"m".to_vec())
            .await
            .is_err());
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
        good.shutdown();
        anonymous.shutdown();
        server.shutdown().await;
    }

    pub async fn permissive_server_accepts_both(rt: Arc<dyn Runtime>) {
        let ca = Pki::new("CA");
        let server = start(
            &rt,
            Some(server_tls(&ca.issue(&["127.0.0.1"]), TlsMode::Permissive)),
        )
        .await;
        let tls = client(&rt, Some(client_tls(&ca)));
        let plain = client(&rt, None);
        for _ in 0..3 {
            assert_eq!(
                echo(&tls, server.local_addr(), b"t".to_vec())
                    .await
                    .unwrap(),
                b"t"
            );
            assert_eq!(
                echo(&plain, server.local_addr(), b"p".to_vec())
                    .await
                    .unwrap(),
                b"p"
            );
        }
        assert_eq!(server.connection_count(), 2);
        tls.shutdown();
        plain.shutdown();
        server.shutdown().await;
    }

    pub async fn disabled_mode_is_plain(rt: Arc<dyn Runtime>) {
        let ca = Pki::new("CA");
        let server = start(
            &rt,
            Some(server_tls(&ca.issue(&["127.0.0.1"]), TlsMode::Disabled)),
        )
        .await;
        let plain = client(&rt, None);
        assert_eq!(
            echo(&plain, server.local_addr(), b"p".to_vec())
                .await
                .unwrap(),
            b"p"
        );
        let tls = client(&rt, Some(client_tls(&ca)));
        assert!(echo(&tls, server.local_addr(), b"t".to_vec())
            .await
            .is_err());
        plain.shutdown();
        tls.shutdown();
        server.shutdown().await;
    }

    pub async fn tls_client_to_plain_server_fails_fast(rt: Arc<dyn Runtime>) {
        let ca = Pki::new("CA");
        let server = start(&rt, None).await;
        let c = client(&rt, Some(client_tls(&ca)));
        let started = Instant::now();
        let err = echo(&c, server.local_addr(), b"x".to_vec())
            .await
            .unwrap_err();
        assert!(matches!(err, RemotingError::Connect { .. }), "{err:?}");
        assert!(err.to_string().contains("TLS handshake"), "{err}");
        // The plain server drops the ClientHello as an oversized frame: well within the timeout.
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        c.shutdown();
        server.shutdown().await;
    }

    /// A peer that accepts and then says nothing: the handshake gives up at the connect timeout.
    pub async fn tls_client_to_silent_peer_times_out(rt: Arc<dyn Runtime>) {
        let ca = Pki::new("CA");
        let mut listener = rt.bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (held_tx, held_rx) = futures::channel::oneshot::channel();
        rt.spawn(Box::pin(async move {
            let accepted = listener.accept().await;
            // Keep the socket open (and silent) until the test is done.
            let _ = held_rx.await;
            drop(accepted);
        }));
        let c = RemotingClient::new(rt.clone(), {
            let mut c = TransportConfig::default();
            c.tls = Some(client_tls(&ca));
            c.connect_timeout = Duration::from_millis(500);
            c
        });
        let started = Instant::now();
        let err = echo(&c, addr, b"x".to_vec()).await.unwrap_err();
        let elapsed = started.elapsed();
        match &err {
            RemotingError::Connect { source, .. } => {
                assert_eq!(source.kind(), std::io::ErrorKind::TimedOut, "{err}")
            }
            other => panic!("expected a connect timeout, got {other:?}"),
        }
        assert!(
            elapsed >= Duration::from_millis(450) && elapsed < Duration::from_secs(3),
            "{elapsed:?}"
        );
        let _ = held_tx.send(());
        c.shutdown();
    }

    pub async fn plain_client_to_enforcing_server_fails_fast(rt: Arc<dyn Runtime>) {
        let ca = Pki::new("CA");
        let server = start(
            &rt,
            Some(server_tls(&ca.issue(&["127.0.0.1"]), TlsMode::Enforcing)),
        )
        .await;
        let c = client(&rt, None);
        let started = Instant::now();
        let err = echo(&c, server.local_addr(), b"x".to_vec())
            .await
            .unwrap_err();
        assert!(
            matches!(err, RemotingError::ConnectionClosed { .. }),
            "{err:?}"
        );
        // Our server, like Apache's, closes without a byte: the error points at TLS.
        assert!(err.to_string().contains("enable TLS"), "{err}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        // Nothing was served in plain.
        assert_eq!(server.connection_count(), 0);
        c.shutdown();
        server.shutdown().await;
    }

    /// Server shutdown also ends connections still in the TLS sniffing phase.
    pub async fn shutdown_ends_pending_handshakes(rt: Arc<dyn Runtime>) {
        let ca = Pki::new("CA");
        let server = start(
            &rt,
            Some(server_tls(&ca.issue(&["127.0.0.1"]), TlsMode::Permissive)),
        )
        .await;
        let _silent = rt.connect(server.local_addr()).await.unwrap();
        rt.sleep(Duration::from_millis(50)).await;
        let started = Instant::now();
        server.shutdown().await;
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
    }
}

for_each_runtime!(
    round_trip_with_custom_ca,
    untrusted_certificate_is_refused,
    server_name_override,
    client_certificates,
    permissive_server_accepts_both,
    disabled_mode_is_plain,
    tls_client_to_plain_server_fails_fast,
    tls_client_to_silent_peer_times_out,
    plain_client_to_enforcing_server_fails_fast,
    shutdown_ends_pending_handshakes,
);
