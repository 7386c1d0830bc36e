//! Opening a consumer's side of the client and closing it again, the same steps for every
//! queue-owning consumer; the consumer's own lifecycle state stays with it.

use std::sync::Arc;
use std::time::Duration;

use crate::consumer::backend::{ConsumerEvents, HeartbeatSource};
use crate::error::{Error, Result};

use super::ConsumerCore;

impl<X: Send + 'static> ConsumerCore<X> {
    /// Opens the consumer's side of the client: starts the client, loads the offsets, registers
    /// the group with `hooks` for heartbeats and broker events.
    ///
    /// # Errors
    ///
    /// Client start and offset load errors; [`Error::Config`] if the group is registered in
    /// this client already.
    pub(crate) async fn open<H: HeartbeatSource + ConsumerEvents>(&self, hooks: H) -> Result<()> {
        self.backend.start().await?;
        self.store.load().await?;
        let hooks = Arc::new(hooks);
        if !self
            .backend
            .register_consumer(&self.group, hooks.clone(), hooks)
        {
            return Err(Error::Config(format!(
                "consumer group `{}` is already registered in this client",
                self.group
            )));
        }
        Ok(())
    }

    /// Makes the subscriptions known: the routes of the subscribed topics first, so the
    /// heartbeat that follows reaches every broker serving them.
    ///
    /// # Errors
    ///
    /// [`Error::AccessDenied`] when every broker reached refused the heartbeat, one of them by
    /// its ACL (wrong credentials, or no permission for the group or a subscribed topic).
    pub(crate) async fn announce(&self) -> Result<()> {
        for topic in self.topics() {
            if let Err(e) = self.backend.subscribe_queues(&topic).await {
                tracing::debug!(group = %self.group, %topic, error = %e, "no route yet");
            }
        }
        self.backend.heartbeat_checked().await
    }

    /// Shutdown, first step: the services stop (no more rebalance rounds), then every pull
    /// loop (each given up to `grace`).
    pub(crate) async fn stop_pulling(&self, grace: Duration) {
        self.services.shutdown(grace).await;
        for e in self.queues().values() {
            e.stop.trigger();
        }
        self.pulls.shutdown(grace).await;
    }

    /// Shutdown, last step: every owned queue is dropped, the group unregistered from the
    /// brokers and the client closed (if the consumer owns it).
    pub(crate) async fn close(&self) {
        for e in self.queues().values() {
            e.pq.set_dropped();
        }
        self.backend.unregister_consumer(&self.group).await;
        self.backend.close().await;
    }
}
