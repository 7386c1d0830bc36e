//! Feeds arbitrary bytes to the stored-message decoder (a PULL_MESSAGE response body): it must
//! return an error or messages, never panic or allocate by a length field.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use rocketmq_rs_remoting::protocol::message::decode_messages;

fuzz_target!(|data: &[u8]| {
    let _ = decode_messages(Bytes::copy_from_slice(data));
});
