//! Where consumers keep their progress: on the broker (clustering) or in a local file
//! (broadcasting).

pub mod local;
pub(crate) mod remote;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use rocketmq_rs_remoting::rt::{run_blocking, Runtime};

use crate::consumer::backend::ConsumerBackend;
use crate::consumer::MessageModel;
use crate::error::{Error, Result};
use crate::message_queue::MessageQueue;

use self::local::{default_base_dir, LocalFileOffsetStore, ReadOffsetType};
use self::remote::RemoteOffsetStore;

/// The consumers' offset store: remote (clustering) or a local file (broadcasting).
pub(crate) enum OffsetStore {
    Remote(RemoteOffsetStore),
    Local {
        store: Arc<LocalFileOffsetStore>,
        rt: Arc<dyn Runtime>,
    },
}

fn local_err(e: local::LocalOffsetError) -> Error {
    Error::Config(format!("local offset store: {e}"))
}

impl OffsetStore {
    /// The store a consumer of `group` (with namespace) uses under `model`: the brokers when
    /// clustering; when broadcasting, this client's file under `local_dir` (default
    /// [`default_base_dir`]).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when the local store cannot be set up.
    pub(crate) fn for_model(
        model: MessageModel,
        group: &str,
        backend: &Arc<dyn ConsumerBackend>,
        local_dir: Option<PathBuf>,
    ) -> Result<Self> {
        Ok(match model {
            MessageModel::Clustering => {
                OffsetStore::Remote(RemoteOffsetStore::new(group, Arc::clone(backend)))
            }
            MessageModel::Broadcasting => {
                let dir = local_dir.unwrap_or_else(default_base_dir);
                let local = LocalFileOffsetStore::new(dir, &backend.client_id(), group)
                    .map_err(local_err)?;
                OffsetStore::Local {
                    store: Arc::new(local),
                    rt: backend.runtime(),
                }
            }
        })
    }

    /// Loads persisted state (local file) at start.
    pub(crate) async fn load(&self) -> Result<()> {
        match self {
            OffsetStore::Remote(_) => Ok(()),
            OffsetStore::Local { store, rt } => {
                let s = Arc::clone(store);
                run_blocking(&**rt, move || s.load())
                    .await
                    .map(|_| ())
                    .map_err(local_err)
            }
        }
    }

    /// Sets the in-memory offset; `increase_only` keeps it from moving backwards.
    pub(crate) fn update(&self, mq: &MessageQueue, offset: i64, increase_only: bool) {
        match self {
            OffsetStore::Remote(r) => r.update(mq, offset, increase_only),
            OffsetStore::Local { store, .. } => store.update_offset(mq, offset, increase_only),
        }
    }

    pub(crate) fn read_memory(&self, mq: &MessageQueue) -> Option<i64> {
        match self {
            OffsetStore::Remote(r) => r.read_memory(mq),
            OffsetStore::Local { store, .. } => {
                store.read_offset(mq, ReadOffsetType::Memory).ok().flatten()
            }
        }
    }

    /// The persisted offset: `Ok(None)` when none exists, `Err` when it could not be read.
    pub(crate) async fn read_store(&self, mq: &MessageQueue) -> Result<Option<i64>> {
        match self {
            OffsetStore::Remote(r) => r.read_store(mq).await,
            OffsetStore::Local { store, rt } => {
                let s = Arc::clone(store);
                let mq = mq.clone();
                run_blocking(&**rt, move || {
                    s.read_offset(&mq, ReadOffsetType::MemoryThenStore)
                })
                .await
                .map_err(local_err)
            }
        }
    }

    /// Persists the offsets of `mqs`; `oneway` (remote only) does not wait for the broker.
    pub(crate) async fn persist_all(&self, mqs: &[MessageQueue], oneway: bool) -> Result<()> {
        if mqs.is_empty() {
            return Ok(());
        }
        match self {
            OffsetStore::Remote(r) => r.persist_all(mqs, oneway).await,
            OffsetStore::Local { store, rt } => {
                let s = Arc::clone(store);
                let mqs = mqs.to_vec();
                run_blocking(&**rt, move || s.persist_all(mqs.iter()))
                    .await
                    .map_err(local_err)
            }
        }
    }

    /// The periodic persist of `mqs`: remote, only the offsets that changed since they were
    /// last sent (each is still re-sent about once a minute); local, the whole file as
    /// [`persist_all`](Self::persist_all) writes it.
    pub(crate) async fn persist_changed(&self, mqs: &[MessageQueue]) -> Result<()> {
        match self {
            OffsetStore::Remote(r) if !mqs.is_empty() => r.persist_changed(mqs).await,
            _ => self.persist_all(mqs, true).await,
        }
    }

    /// The in-memory offsets of `topic`'s queues (Java `cloneOffsetTable`, answered to
    /// GET_CONSUMER_STATUS_FROM_CLIENT).
    pub(crate) fn offsets_of(&self, topic: &str) -> BTreeMap<MessageQueue, i64> {
        match self {
            OffsetStore::Remote(r) => r
                .snapshot()
                .into_iter()
                .filter(|(mq, _)| mq.topic == topic)
                .collect(),
            OffsetStore::Local { store, .. } => store.offsets(Some(topic)).into_iter().collect(),
        }
    }

    pub(crate) fn remove(&self, mq: &MessageQueue) {
        match self {
            OffsetStore::Remote(r) => r.remove(mq),
            OffsetStore::Local { store, .. } => store.remove_offset(mq),
        }
    }
}
