//! The RocketMQ remoting wire protocol: no I/O, no runtime.

pub mod body;
pub mod code;
pub mod codec;
pub mod command;
pub mod header;
pub mod message;
pub mod pop;
pub mod raw;
pub mod topic;

pub use command::{ExtFields, LanguageCode, RemotingCommand, SerializeType};
pub use raw::{RawFields, RawResponse};
