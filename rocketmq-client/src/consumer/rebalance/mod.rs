//! Rebalancing: how a consumer group splits the queues of its topics among its members.

pub mod strategy;
