//! The setters the consumer builders share, written once and expanded into each builder's
//! `impl` block (so each builder keeps plain inherent methods with their own rustdoc).

/// `name_server`, `client_config`, `client_instance` and the test-only `backend`, for a builder
/// with the fields `client: ClientConfig` and `backend: Option<Arc<dyn ConsumerBackend>>`.
macro_rules! client_setters {
    () => {
        /// NameServer address list (`;`-separated, like Java).
        pub fn name_server(mut self, addrs: &str) -> Self {
            self.client.namesrv_addrs =
                $crate::config::ClientConfig::with_name_server(addrs).namesrv_addrs;
            self
        }

        /// Replaces the whole client configuration (runtime, namespace, intervals...).
        pub fn client_config(mut self, client: $crate::config::ClientConfig) -> Self {
            self.client = client;
            self
        }

        /// Runs on a shared [`ClientInstance`](crate::client::ClientInstance) (one set of
        /// connections and one heartbeat for several producers/consumers) instead of a private
        /// one. The consumer does not shut a shared instance down.
        pub fn client_instance(mut self, instance: $crate::client::ClientInstance) -> Self {
            self.client = instance.config().clone();
            self.backend = Some($crate::consumer::client_backend::shared_backend(instance));
            self
        }

        /// Runs on a test's in-memory broker instead of a client.
        #[cfg(test)]
        pub(crate) fn backend(
            mut self,
            b: ::std::sync::Arc<dyn $crate::consumer::backend::ConsumerBackend>,
        ) -> Self {
            self.backend = Some(b);
            self
        }
    };
}

/// `group`, `subscribe`, `message_model`, `consume_from_where`, `pull_batch_size` and
/// `allocate_strategy`, for a builder of a rebalancing consumer: the fields `config` (with
/// `group`, `message_model`, `consume_from_where` and `pull_batch_size`),
/// `subscriptions: Vec<(String, MessageSelector)>` and `strategy: Arc<dyn AllocateStrategy>`.
macro_rules! subscription_setters {
    () => {
        /// Consumer group (required).
        pub fn group(mut self, group: impl Into<String>) -> Self {
            self.config.group = group.into();
            self
        }

        /// Subscribes `topic` with a tag expression (`"*"`, `"TagA || TagB"`) or a
        /// [`MessageSelector::sql92`](crate::consumer::MessageSelector::sql92) expression; its
        /// queues are assigned by rebalance. Subscribing a topic twice keeps the last one.
        pub fn subscribe(
            mut self,
            topic: impl Into<String>,
            selector: impl Into<$crate::consumer::MessageSelector>,
        ) -> Self {
            let topic = topic.into();
            self.subscriptions.retain(|(t, _)| *t != topic);
            self.subscriptions.push((topic, selector.into()));
            self
        }

        /// Clustering or broadcasting.
        pub fn message_model(mut self, model: $crate::consumer::MessageModel) -> Self {
            self.config.message_model = model;
            self
        }

        /// Where a new group starts.
        pub fn consume_from_where(mut self, from: $crate::consumer::ConsumeFromWhere) -> Self {
            self.config.consume_from_where = from;
            self
        }

        /// Max messages per pull.
        pub fn pull_batch_size(mut self, n: i32) -> Self {
            self.config.pull_batch_size = n;
            self
        }

        /// Queue allocation strategy (default
        /// [`AllocateAveragely`](crate::consumer::rebalance::strategy::AllocateAveragely)); all
        /// members of a group must use the same one.
        pub fn allocate_strategy(
            mut self,
            s: impl $crate::consumer::rebalance::strategy::AllocateStrategy,
        ) -> Self {
            self.strategy = ::std::sync::Arc::new(s);
            self
        }
    };
}

/// `consume_hook`, for a builder with the field `hooks: Vec<Arc<dyn ConsumeHook>>`.
macro_rules! hook_setter {
    () => {
        /// Adds a [`ConsumeHook`](crate::hook::ConsumeHook) (called in the order added); see
        /// [`crate::hook`].
        pub fn consume_hook(mut self, hook: impl $crate::hook::ConsumeHook) -> Self {
            self.hooks.push(::std::sync::Arc::new(hook));
            self
        }
    };
}

/// `enable_trace`, for a builder with the field `trace: Option<TraceConfig>`.
macro_rules! trace_setter {
    () => {
        /// Turns message trace on (Java `enableMsgTrace`; the topic in `cfg` is Java's
        /// `customizedTraceTopic`): SubBefore and SubAfter records for every message handed to
        /// the application, sent in batches to the trace topic. See [`crate::trace`].
        pub fn enable_trace(mut self, cfg: $crate::trace::TraceConfig) -> Self {
            self.trace = Some(cfg);
            self
        }
    };
}

pub(crate) use {client_setters, hook_setter, subscription_setters, trace_setter};
