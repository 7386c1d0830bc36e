//! Where consumers keep their progress: on the broker (clustering) or in a local file
//! (broadcasting).

pub mod local;
