//! Message encodings (docs/protocol/message.md): the properties string, stored message records (the body of
//! PULL_MESSAGE and friends), batch bodies, message ids, tag hash codes and body compression.
//!
//! Everything here is pure byte work: no I/O and no runtime.
//!
//! ```
//! use rocketmq_rs_remoting::protocol::message::{
//!     decode_messages, encode_message, offset_msg_id, property, MessageExt,
//! };
//!
//! let mut m = MessageExt::new("TopicTest", "Hello");
//! m.properties.insert(property::TAGS, "TagA");
//! m.store_host = "192.168.1.20:10911".parse().unwrap();
//! m.commit_log_offset = 0x1000;
//! let body = encode_message(&m).unwrap().freeze();
//!
//! let msgs = decode_messages(body).unwrap();
//! assert_eq!(msgs[0].tags(), Some("TagA"));
//! assert_eq!(msgs[0].msg_id, offset_msg_id(m.store_host, 0x1000));
//! ```

mod batch;
mod compress;
mod ext;
mod hash;
mod id;
mod properties;
pub mod property;
mod stored;
pub mod sys_flag;

pub use batch::{decode_batch, encode_batch, encode_batch_into, unwrap_inner_batch, BatchMessage};
pub use compress::{
    compress, decompress, decompress_for_flag, CompressionError, CompressionType, UndecodableBody,
    DEFAULT_COMPRESS_LEVEL, DEFAULT_COMPRESS_OVER, DEFAULT_MAX_DECOMPRESSED_LEN, ZSTD_MAX_LEVEL,
};
pub use ext::MessageExt;
pub use hash::{body_crc, tag_hash_code};
pub use id::{
    offset_msg_id, parse_offset_msg_id, parse_uniq_id_ip, parse_uniq_id_time, UniqIdGenerator,
};
pub use properties::{
    decode_properties, decode_properties_bytes, encode_properties, Properties, MAX_PROPERTIES_LEN,
};
pub use stored::{
    decode_message, decode_message_with, decode_messages, decode_messages_with, encode_message,
    encode_message_into, encode_message_with_encoded_properties, encode_message_with_version,
    DecodeOptions, MessageVersion, BLANK_MAGIC, MAGIC_V1, MAGIC_V2,
};
