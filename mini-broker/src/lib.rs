//! (in progress)

pub mod store;
