//! Producers: queue selection and fault tolerance building blocks.

pub mod fault;
pub mod selector;
