//! Crash and restart: brokers on the same store and port, the NameServer on the same port.

use std::sync::Arc;
use std::time::Duration;

use rocketmq_rs_mini_namesrv::{NameServer, NamesrvConfig};

use super::{EmbeddedCluster, EmbeddedError};
use crate::config::BrokerConfig;
use crate::error::BrokerError;
use crate::{Broker, BrokerHandle};

/// Attempts at re-binding a port just closed (a listener of the killed process may still be
/// closing).
const REBIND_ATTEMPTS: u32 = 50;

impl EmbeddedCluster {
    /// Kills the master of broker group `name` as `kill -9` would: no clean shutdown (the
    /// store is left marked crashed, consume queues and checkpoint unflushed), no
    /// unregistration; its port closes, so clients see connection errors and the NameServer
    /// keeps the route until it expires it. [`restart_broker`](Self::restart_broker) brings
    /// it back on the same store and port.
    ///
    /// # Errors
    ///
    /// [`EmbeddedError::NotFound`] when no such master runs.
    pub async fn kill_broker(&mut self, name: &str) -> Result<(), EmbeddedError> {
        self.kill_member(name, false).await
    }

    /// Kills the slave of broker group `name` as `kill -9` would (see
    /// [`kill_broker`](Self::kill_broker)): its master goes on taking writes and loses the
    /// replication session; the slave's port closes. [`restart_slave`](Self::restart_slave)
    /// brings it back on the same store and ports, and it catches up from the end of its own
    /// commit log.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap().block_on(async {
    /// use rocketmq_rs_mini_broker::embedded::EmbeddedCluster;
    ///
    /// let rt = rocketmq_rs_remoting::rt::default_runtime().unwrap();
    /// let mut cluster = EmbeddedCluster::builder().with_slaves(true).start(rt).await.unwrap();
    /// let port = cluster.slave("broker-a").unwrap().addr();
    /// cluster.kill_slave("broker-a").await.unwrap();
    /// assert!(cluster.slave("broker-a").is_none());
    /// assert!(cluster.broker("broker-a").is_some(), "the master runs on");
    /// let slave = cluster.restart_slave("broker-a").await.unwrap();
    /// assert_eq!(slave.addr(), port);
    /// cluster.shutdown().await;
    /// # });
    /// ```
    ///
    /// # Errors
    ///
    /// [`EmbeddedError::NotFound`] when no such slave runs.
    pub async fn kill_slave(&mut self, name: &str) -> Result<(), EmbeddedError> {
        self.kill_member(name, true).await
    }

    /// Stops the master of broker group `name` cleanly, as a `kill -15` would: consumer
    /// offsets persisted, store flushed, unregistered from the NameServer; its port closes.
    /// [`restart_broker`](Self::restart_broker) brings it back on the same store and port,
    /// where (unlike after [`kill_broker`](Self::kill_broker)) nothing has to be recovered.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap().block_on(async {
    /// use rocketmq_rs_mini_broker::embedded::EmbeddedCluster;
    ///
    /// let rt = rocketmq_rs_remoting::rt::default_runtime().unwrap();
    /// let mut cluster = EmbeddedCluster::builder().topic("T", 2).start(rt).await.unwrap();
    /// let port = cluster.broker("broker-a").unwrap().addr().port();
    /// cluster.stop_broker("broker-a").await.unwrap();
    /// assert!(cluster.broker("broker-a").is_none());
    /// let b = cluster.restart_broker("broker-a").await.unwrap();
    /// assert_eq!(b.addr().port(), port);
    /// assert_eq!(b.topics().get("T").unwrap().read_queue_nums, 2);
    /// cluster.shutdown().await;
    /// # });
    /// ```
    ///
    /// # Errors
    ///
    /// [`EmbeddedError::NotFound`] when no such master runs.
    pub async fn stop_broker(&mut self, name: &str) -> Result<(), EmbeddedError> {
        let b = self.take_member(name, false)?;
        b.shutdown().await;
        Ok(())
    }

    async fn kill_member(&mut self, name: &str, slave: bool) -> Result<(), EmbeddedError> {
        let b = self.take_member(name, slave)?;
        let store = b.store().clone();
        rocketmq_rs_remoting::rt::run_blocking(&*self.rt, move || store.simulate_crash()).await;
        drop(b);
        Ok(())
    }

    /// Removes the running master (or slave) of `name` from the cluster, remembering how to
    /// start it again on the same ports.
    fn take_member(&mut self, name: &str, slave: bool) -> Result<BrokerHandle, EmbeddedError> {
        let i = self
            .brokers
            .iter()
            .position(|b| b.config().broker_name == name && (b.config().broker_id != 0) == slave)
            .ok_or_else(|| EmbeddedError::NotFound(member(name, slave)))?;
        let b = self.brokers.remove(i);
        let mut cfg = b.config().clone();
        cfg.listen_addr = b.addr();
        // The same replication port too: left unset, the restart (now on a fixed port P) would
        // listen on P + 1, which anything on the host may hold, and slaves dial the old one.
        // (A slave has no replication listener: it keeps dialling its master's.)
        cfg.ha_listen_addr = b.ha_addr().or(cfg.ha_listen_addr);
        self.killed.push(cfg);
        Ok(b)
    }

    /// Starts the killed (or [stopped](Self::stop_broker)) master of `name` again on its
    /// store (crash recovery runs after a kill) and port, and registers it with the NameServer
    /// before returning.
    ///
    /// # Errors
    ///
    /// [`EmbeddedError::NotFound`] when `name`'s master was not killed; the broker's start
    /// error.
    pub async fn restart_broker(&mut self, name: &str) -> Result<&BrokerHandle, EmbeddedError> {
        self.restart_member(name, false).await
    }

    /// Starts the killed slave of `name` again on its store (crash recovery runs) and port,
    /// registers it with the NameServer and lets it resume replication from the end of its
    /// own commit log.
    ///
    /// # Errors
    ///
    /// [`EmbeddedError::NotFound`] when `name`'s slave was not killed; the broker's start
    /// error.
    pub async fn restart_slave(&mut self, name: &str) -> Result<&BrokerHandle, EmbeddedError> {
        self.restart_member(name, true).await
    }

    async fn restart_member(
        &mut self,
        name: &str,
        slave: bool,
    ) -> Result<&BrokerHandle, EmbeddedError> {
        let i = self
            .killed
            .iter()
            .position(|c| c.broker_name == name && (c.broker_id != 0) == slave)
            .ok_or_else(|| EmbeddedError::NotFound(format!("killed {}", member(name, slave))))?;
        let cfg = self.killed.remove(i);
        let b = match start_on_port(&self.rt, cfg.clone()).await {
            Ok(b) => b,
            Err(e) => {
                self.killed.push(cfg);
                return Err(e.into());
            }
        };
        if b.register_now().await == 0 {
            return Err(EmbeddedError::Register(b.advertised_addr().to_string()));
        }
        self.brokers.push(b);
        Ok(self.brokers.last().expect("just pushed"))
    }

    /// Stops the NameServer (its port closes; clients keep their cached routes and fail to
    /// refresh them). [`restart_namesrv`](Self::restart_namesrv) brings it back.
    ///
    /// # Errors
    ///
    /// [`EmbeddedError::NotFound`] when it is not running.
    pub async fn kill_namesrv(&mut self) -> Result<(), EmbeddedError> {
        let ns = self
            .namesrv
            .take()
            .ok_or_else(|| EmbeddedError::NotFound("name server".into()))?;
        self.namesrv_addr = Some(ns.addr());
        ns.shutdown().await;
        Ok(())
    }

    /// Starts the NameServer again on its port, empty, and has every broker register at once
    /// (a real restart would wait for the brokers' next registration round).
    ///
    /// # Errors
    ///
    /// [`EmbeddedError::NotFound`] when it was not killed; its start error.
    pub async fn restart_namesrv(&mut self) -> Result<(), EmbeddedError> {
        let addr = self
            .namesrv_addr
            .ok_or_else(|| EmbeddedError::NotFound("killed name server".into()))?;
        let mut last = None;
        for _ in 0..REBIND_ATTEMPTS {
            match NameServer::start(NamesrvConfig::with_listen_addr(addr), Arc::clone(&self.rt))
                .await
            {
                Ok(ns) => {
                    self.namesrv = Some(ns);
                    self.namesrv_addr = None;
                    for b in &self.brokers {
                        if b.register_now().await == 0 {
                            return Err(EmbeddedError::Register(b.advertised_addr().to_string()));
                        }
                    }
                    return Ok(());
                }
                Err(e) => {
                    last = Some(e);
                    real_pause(&self.rt).await;
                }
            }
        }
        Err(last.expect("at least one attempt").into())
    }
}

/// Starts a broker on `cfg.listen_addr`, retrying while the port is still held.
async fn start_on_port(
    rt: &Arc<dyn rocketmq_rs_remoting::rt::Runtime>,
    cfg: BrokerConfig,
) -> Result<BrokerHandle, BrokerError> {
    let mut attempt = 0;
    loop {
        match Broker::start(cfg.clone(), Arc::clone(rt)).await {
            Err(e) if port_still_held(&e) && attempt + 1 < REBIND_ATTEMPTS => {
                attempt += 1;
                real_pause(rt).await;
            }
            other => return other,
        }
    }
}

/// The killed broker's listeners (the remoting port or the replication port) may still be
/// closing when the restart binds them.
fn port_still_held(e: &BrokerError) -> bool {
    match e {
        BrokerError::Bind { .. } => true,
        BrokerError::Ha(crate::ha::HaError::Io(io)) => io.kind() == std::io::ErrorKind::AddrInUse,
        _ => false,
    }
}

/// A short pause in real time, also on a virtual clock (a port frees in real time).
async fn real_pause(rt: &Arc<dyn rocketmq_rs_remoting::rt::Runtime>) {
    let d = Duration::from_millis(20);
    let rt = Arc::clone(rt);
    rocketmq_rs_remoting::rt::run_blocking(&*rt, move || std::thread::sleep(d)).await;
}

/// "master of broker-a" / "slave of broker-a", for errors.
fn member(name: &str, slave: bool) -> String {
    format!(
        "{} of broker {name}",
        if slave { "slave" } else { "master" }
    )
}
