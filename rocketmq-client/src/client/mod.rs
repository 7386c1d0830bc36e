//! The client core shared by producers and consumers.
//!
//! - [`instance`]: [`ClientInstance`] — connections, route cache, heartbeats, the registry of
//!   producers ([`ProducerHandle`]) and consumers ([`ConsumerHandle`]) and the handling of
//!   broker-initiated requests.
//! - [`api`]: [`ClientApi`] — typed RPCs for everything producers and consumers send.
//! - [`route`]: route → publish/subscribe queues, the route cache and broker address table.
//!
//! Consumers build on this module like the producer does: create (or receive) a
//! [`ClientInstance`], `start()` it, `register_consumer(Arc<dyn ConsumerHandle>)`, use
//! [`ClientInstance::subscribe_queues`], [`ClientInstance::broker_addr`] and the RPCs of
//! [`ClientInstance::api`], and `unregister_consumer(group).await` on shutdown.

pub mod api;
pub mod instance;
pub mod route;

pub use api::{ClientApi, TopicTarget};
pub use instance::{
    ClientInstance, ConsumerHandle, CreateTopicOptions, ProducerHandle, TransactionCheck,
};
pub use route::{RouteCache, TopicPublishInfo};
