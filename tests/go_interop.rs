//! Interop with Apache's official Go client (`github.com/apache/rocketmq-client-go/v2`, the
//! commit pinned in `interop/go/go.mod`) through our harness in `interop/go`: every test starts
//! its own mini NameServer and mini broker in-process on OS-chosen ports and runs the shared
//! scenarios of [`rocketmq_it::scenarios`] with the Go client as the peer.
//!
//! The harness is built with `go build` on first use (modules from the Go module proxy). Without
//! a `go` tool each test prints `SKIPPED:` and passes, unless `ROCKETMQ_IT_REQUIRE_GO=1`.

use std::sync::Arc;

use rocketmq_it::goclient::GoClient;
use rocketmq_it::scenarios::{self, run_test, Cluster, Peer};

/// The Go peer, or `None` after printing why the test is skipped.
fn go_peer(test: &str) -> Option<Peer> {
    match GoClient::get() {
        Ok(Some(go)) => Some(Peer::new(
            "go",
            Arc::new(move |what: &str, sub: &str, args: &[String]| go.run(what, sub, args)),
        )),
        Ok(None) => {
            eprintln!(
                "SKIPPED: {test}: no Go toolchain (`go`); set {}=1 to make this a failure",
                rocketmq_it::goclient::REQUIRE_VAR
            );
            None
        }
        Err(e) => panic!("{test}: {e}"),
    }
}

#[test]
fn go_producer_modes_read_by_rust() {
    let Some(peer) = go_peer("go_producer_modes_read_by_rust") else {
        return;
    };
    run_test("go_producer_modes_read_by_rust", |rt| async move {
        let c = Cluster::start(&rt).await;
        scenarios::peer_producer_modes(&peer, &c).await;
        c.shutdown().await;
    });
}

#[test]
fn rust_producer_to_go_consumers() {
    let Some(peer) = go_peer("rust_producer_to_go_consumers") else {
        return;
    };
    run_test("rust_producer_to_go_consumers", |rt| async move {
        let c = Cluster::start(&rt).await;
        scenarios::rust_producer_to_peer_consumers(&peer, &c).await;
        c.shutdown().await;
    });
}

#[test]
fn go_consumer_continues_from_the_oldest_message_after_retention() {
    let test = "go_consumer_continues_from_the_oldest_message_after_retention";
    let Some(peer) = go_peer(test) else {
        return;
    };
    run_test(test, |rt| async move {
        let c = Cluster::start_with(&rt, scenarios::fast_retention).await;
        scenarios::peer_consumer_after_retention(&peer, &c).await;
        c.shutdown().await;
    });
}

#[test]
fn go_retry_and_dlq() {
    let Some(peer) = go_peer("go_retry_and_dlq") else {
        return;
    };
    run_test("go_retry_and_dlq", |rt| async move {
        let c = Cluster::start(&rt).await;
        scenarios::retry_and_dlq(&peer, &c).await;
        c.shutdown().await;
    });
}

#[test]
fn go_request_reply() {
    let Some(peer) = go_peer("go_request_reply") else {
        return;
    };
    run_test("go_request_reply", |rt| async move {
        let c = Cluster::start(&rt).await;
        scenarios::request_reply(&peer, &c).await;
        c.shutdown().await;
    });
}
