//! Our client against real Apache RocketMQ servers (4.9.7, 5.3.3, 5.5.0 from Maven Central,
//! run by `interop/apache/`), one module per scenario of `docs/COMPATIBILITY.md`. One binary,
//! so that each version's cluster starts once and is shared by every scenario (each test has
//! its own topics and groups). Without `java`/`mvn` every test prints `SKIPPED: ...` and
//! passes, unless `ROCKETMQ_IT_REQUIRE_APACHE=1`.

#[path = "apache_common.rs"]
#[macro_use]
mod common;

/// Scenario 1: producer.
#[path = "apache_producer.rs"]
mod producer;

/// Scenario 2: push consumer.
#[path = "apache_push.rs"]
mod push;

/// Scenario 3: pull and lite-pull consumers.
#[path = "apache_pull.rs"]
mod pull;

/// Scenario 4: broker-initiated requests driven by mqadmin.
#[path = "apache_admin.rs"]
mod admin;

/// rocketmq-cli's commands that reach our running consumer through an Apache broker.
#[path = "apache_cli.rs"]
mod cli;

/// Scenario 8: mixed routing.
#[path = "apache_mixed.rs"]
mod mixed;

/// Scenario 6: SYNC_MASTER + SLAVE, master killed, every acknowledged message from the slave.
#[path = "apache_replication.rs"]
mod replication;

/// Scenario 5: TLS enforced and ACL on.
#[path = "apache_security.rs"]
mod security;

/// The send + push round trip on smol and async-std.
#[path = "apache_runtimes.rs"]
mod runtimes;

/// Scenario 7: bytes, both ways with the official Java client (compression types, batches,
/// unicode tags, keys and properties).
#[path = "apache_bytes.rs"]
mod bytes;

/// mini-broker's admin-plane answers compared with Apache 5.5.0's for the same state.
#[path = "apache_admin_bodies.rs"]
mod admin_bodies;

/// RocketMQ 5.x POP with our SimpleConsumer.
#[path = "apache_pop.rs"]
mod pop;

/// Message trace: ours read by Apache's mqadmin, the Java client's decoded by ours.
#[path = "apache_trace.rs"]
mod trace;
