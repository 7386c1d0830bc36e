//! Waiting for a condition on an [`EmbeddedCluster`], on real or virtual time, with the state
//! last seen in the error when it does not come.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use super::inspect::{ConsumerGroupView, StoredMessage};
use super::{EmbeddedCluster, EmbeddedError};

/// Pause between two probes on real time.
const REAL_POLL: Duration = Duration::from_millis(10);

impl EmbeddedCluster {
    /// Runs `probe` until it returns `Ok`, at most `timeout` by the cluster's clock; on
    /// timeout the error names `what` and shows the last `Err` the probe returned (the state
    /// it saw), so a failing test says what it was looking at.
    ///
    /// On real time the probe runs every 10 ms. On [virtual
    /// time](super::EmbeddedClusterBuilder::virtual_time) it runs after every step of the
    /// clock: the cluster settles, the probe looks, and the clock
    /// [advances](super::EmbeddedCluster::advance) to the next timer (never past the
    /// timeout), so a wait for an hour-long delay returns at once.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap().block_on(async {
    /// use std::time::Duration;
    /// use rocketmq_rs_mini_broker::embedded::{EmbeddedCluster, EmbeddedError};
    ///
    /// let rt = rocketmq_rs_remoting::rt::default_runtime().unwrap();
    /// let cluster = EmbeddedCluster::builder().topic("T", 1).start(rt).await.unwrap();
    /// let err = cluster
    ///     .wait_until("a message in T", Duration::from_millis(50), || async {
    ///         let n = cluster.messages("T").await.len();
    ///         if n > 0 { Ok(n) } else { Err(format!("{n} messages")) }
    ///     })
    ///     .await
    ///     .unwrap_err();
    /// assert!(matches!(err, EmbeddedError::Timeout { .. }));
    /// assert!(err.to_string().contains("0 messages"), "{err}");
    /// cluster.shutdown().await;
    /// # });
    /// ```
    ///
    /// # Errors
    ///
    /// [`EmbeddedError::Timeout`] when the probe did not succeed in time.
    pub async fn wait_until<T, S, F, Fut>(
        &self,
        what: &str,
        timeout: Duration,
        mut probe: F,
    ) -> Result<T, EmbeddedError>
    where
        S: fmt::Debug,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, S>>,
    {
        let clock = self.rt.clock();
        let start = clock.now();
        loop {
            if let Some(vc) = self.clock {
                vc.settle().await;
            }
            let last = match probe().await {
                Ok(v) => return Ok(v),
                Err(state) => state,
            };
            let waited = clock.since(start);
            if waited >= timeout {
                return Err(EmbeddedError::Timeout {
                    what: what.to_string(),
                    waited,
                    last: format!("{last:?}"),
                });
            }
            let left = timeout - waited;
            match self.clock {
                Some(vc) => {
                    // To the next timer, but at least one granularity step so that a coarse
                    // clock coalesces the one-second tickers instead of stopping at each.
                    let step = vc
                        .next_deadline()
                        .map_or(left, |d| d.saturating_duration_since(vc.now()))
                        .max(vc.granularity())
                        .min(left);
                    vc.advance(step).await;
                }
                None => self.rt.sleep(REAL_POLL.min(left)).await,
            }
        }
    }

    /// Waits until `topic` holds at least `n` messages (over all masters) and returns them.
    ///
    /// # Errors
    ///
    /// [`EmbeddedError::Timeout`] with the count seen last.
    pub async fn wait_for_messages(
        &self,
        topic: &str,
        n: usize,
        timeout: Duration,
    ) -> Result<Vec<StoredMessage>, EmbeddedError> {
        self.wait_until(&format!("{n} messages in {topic}"), timeout, || async {
            let m = self.messages(topic).await;
            if m.len() >= n {
                Ok(m)
            } else {
                Err(format!("{} messages in {topic}", m.len()))
            }
        })
        .await
    }

    /// Waits until at least `n` messages of `group` are dead-lettered and returns the DLQ.
    ///
    /// # Errors
    ///
    /// [`EmbeddedError::Timeout`] with the DLQ and retry-topic counts seen last.
    pub async fn wait_for_dlq(
        &self,
        group: &str,
        n: usize,
        timeout: Duration,
    ) -> Result<Vec<StoredMessage>, EmbeddedError> {
        self.wait_until(
            &format!("{n} messages in the DLQ of {group}"),
            timeout,
            || async {
                let m = self.dlq_messages(group).await;
                if m.len() >= n {
                    Ok(m)
                } else {
                    let retry = self.retry_messages(group).await.len();
                    Err(format!(
                        "{} in %DLQ%{group}, {retry} in %RETRY%{group}",
                        m.len()
                    ))
                }
            },
        )
        .await
    }

    /// Waits until `group` has committed every message of `topic` (lag 0 on every queue).
    ///
    /// # Errors
    ///
    /// [`EmbeddedError::Timeout`] with the per-queue offsets seen last.
    pub async fn wait_for_consumed(
        &self,
        group: &str,
        topic: &str,
        timeout: Duration,
    ) -> Result<(), EmbeddedError> {
        self.wait_until(
            &format!("{group} to consume all of {topic}"),
            timeout,
            || async {
                let offsets = self.consumer_offsets(group, topic);
                if offsets.iter().all(|q| q.lag == 0) {
                    Ok(())
                } else {
                    Err(offsets)
                }
            },
        )
        .await
    }

    /// Waits until `n` clients of consumer group `group` are registered with the brokers.
    ///
    /// # Errors
    ///
    /// [`EmbeddedError::Timeout`] with the group as seen last.
    pub async fn wait_for_consumers(
        &self,
        group: &str,
        n: usize,
        timeout: Duration,
    ) -> Result<ConsumerGroupView, EmbeddedError> {
        self.wait_until(&format!("{n} consumers in {group}"), timeout, || async {
            match self.consumer_group(group) {
                Some(v) if v.client_ids().len() >= n => Ok(v),
                other => Err(other),
            }
        })
        .await
    }
}
