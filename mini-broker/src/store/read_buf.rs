//! Reusable read buffers for [`get_messages`](super::MessageStore::get_messages).
//!
//! A pull body must be a fresh `Bytes` (it leaves with the response), and without `unsafe` a
//! positional read needs an initialised buffer: allocating one per pull meant zero-filling every
//! byte before the read overwrote it (a third of the broker's instructions per drained message).
//! The pool keeps the buffers of past pulls and hands one out again once every slice of it
//! (response body, record views) is gone, so its bytes are initialised already and the read
//! overwrites them in place.

use std::sync::Mutex;

use bytes::{Bytes, BytesMut};
use rocketmq_rs_remoting::util::MutexExt;

/// Smallest buffer the pool allocates: a default 32-message pull of 1 KiB messages fits.
const MIN_BUF: usize = 64 * 1024;
/// Largest buffer kept for reuse (a default `max_transfer_bytes` pull fits); bigger reads, like
/// a single huge first record, get a buffer of their own.
const MAX_POOLED: usize = 512 * 1024;
/// Buffers kept at most: bounds the idle memory to `POOL_CAP * MAX_POOLED`.
const POOL_CAP: usize = 16;

/// Buffers whose slices may still be alive; reusable once [`Bytes::is_unique`].
#[derive(Default)]
pub(crate) struct ReadBufPool {
    bufs: Mutex<Vec<Bytes>>,
}

impl ReadBufPool {
    /// An initialised buffer of at least `len` bytes (its content is stale, not zero).
    pub(crate) fn take(&self, len: usize) -> BytesMut {
        if len <= MAX_POOLED {
            let mut bufs = self.bufs.lock_unpoisoned();
            let mut i = 0;
            while i < bufs.len() {
                if !bufs[i].is_unique() {
                    i += 1;
                    continue;
                }
                let b = bufs.swap_remove(i);
                if b.len() < len {
                    // Free: too small for this read; later reads allocate a bigger one.
                    continue;
                }
                match b.try_into_mut() {
                    Ok(m) => return m,
                    // A slice was cloned since the check: it stays in use, keep it pooled.
                    Err(b) => bufs.push(b),
                }
            }
        }
        BytesMut::zeroed(len.max(MIN_BUF))
    }

    /// Returns a buffer handed out by [`take`](Self::take) (whole, frozen); the caller may keep
    /// slices of it; the pool reuses it once they are dropped.
    pub(crate) fn give_back(&self, buf: Bytes) {
        if buf.len() > MAX_POOLED {
            return;
        }
        let mut bufs = self.bufs.lock_unpoisoned();
        if bufs.len() < POOL_CAP {
            bufs.push(buf);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuses_a_buffer_only_after_its_slices_are_gone() {
        let pool = ReadBufPool::default();
        let mut b = pool.take(100);
        assert!(b.len() >= 100);
        b[..3].copy_from_slice(b"abc");
        let full = b.freeze();
        let body = full.slice(..3);
        let ptr = full.as_ptr();
        pool.give_back(full);
        // The body is still alive: a second buffer is needed.
        let other = pool.take(100);
        assert_ne!(other.as_ptr(), ptr);
        assert_eq!(&body[..], b"abc");
        drop(body);
        let again = pool.take(100);
        assert_eq!(again.as_ptr(), ptr, "the first buffer is reused");
        assert_eq!(&again[..3], b"abc", "reused bytes are not cleared");
    }

    #[test]
    fn oversized_reads_are_not_pooled() {
        let pool = ReadBufPool::default();
        let big = pool.take(MAX_POOLED + 1);
        assert_eq!(big.len(), MAX_POOLED + 1);
        pool.give_back(big.freeze());
        assert!(pool.bufs.lock().unwrap().is_empty());
        let small = pool.take(10).freeze();
        assert_eq!(small.len(), MIN_BUF);
        pool.give_back(small);
        // Too small for the next read: dropped, a bigger one is allocated.
        assert_eq!(pool.take(MIN_BUF + 1).len(), MIN_BUF + 1);
        assert!(pool.bufs.lock().unwrap().is_empty());
    }
}
