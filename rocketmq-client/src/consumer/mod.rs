//! Consumers: push and pull consumers, rebalancing and offset storage.

pub mod offset_store;
pub mod rebalance;
