//! Disk-error injection for fault tests (cargo feature `fault-injection`, off by default).
//!
//! With the feature on and the environment variable `MINI_BROKER_FAULT_FILE` naming a file, the
//! commit-log write path (once per write batch), the fsync path (once per flush) and the
//! retention pass read that file and fail as it says:
//!
//! | file content | effect |
//! | --- | --- |
//! | `eio-write` | commit-log writes fail with `EIO` |
//! | `eio-fsync` | commit-log fsyncs fail with `EIO` |
//! | `enospc` | commit-log writes fail with `ENOSPC` |
//! | `enospc-dispatch` | consume-queue writes fail with `ENOSPC` (the commit-log write before them succeeds) |
//! | `disk-used <percent>` | retention measures the disk as `<percent>` % used |
//! | `crash-after-segment-delete` | the process aborts right after retention deletes a commit-log segment, before the consume-queue and index clean-up |
//! | absent, empty or anything else | no fault |
//!
//! The file is re-read at most every 20 ms, so a test switches faults on and off by writing or
//! removing it, and a busy writer pays one uncontended lock and `Instant::now()` per batch in
//! between. Only the writer and flusher threads call the checks.
//! Without the feature both checks compile to `Ok(())`.

use std::io;

/// What the fault file asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
// Without the feature only `None` is ever produced; the rest stays for the unit tests.
#[cfg_attr(not(feature = "fault-injection"), allow(dead_code))]
enum Fault {
    None,
    EioWrite,
    EioFsync,
    Enospc,
    EnospcDispatch,
    DiskUsed(u8),
    CrashAfterSegmentDelete,
}

impl Fault {
    #[cfg_attr(not(feature = "fault-injection"), allow(dead_code))]
    fn parse(text: &str) -> Fault {
        match text.trim() {
            "eio-write" => Fault::EioWrite,
            "eio-fsync" => Fault::EioFsync,
            "enospc" => Fault::Enospc,
            "enospc-dispatch" => Fault::EnospcDispatch,
            "crash-after-segment-delete" => Fault::CrashAfterSegmentDelete,
            t => match t.strip_prefix("disk-used").map(|p| p.trim().parse::<u8>()) {
                Some(Ok(p)) if p <= 100 => Fault::DiskUsed(p),
                _ => Fault::None,
            },
        }
    }
}

/// Linux errno values; the error kinds alone would not show up as the real OS messages.
const EIO: i32 = 5;
const ENOSPC: i32 = 28;

#[cfg(feature = "fault-injection")]
mod active {
    use std::path::PathBuf;
    use std::sync::{Mutex, OnceLock};
    use std::time::{Duration, Instant};

    use super::Fault;
    use rocketmq_rs_remoting::util::MutexExt;

    /// Longest time a change of the fault file goes unnoticed.
    const RECHECK: Duration = Duration::from_millis(20);

    struct Cached {
        at: Option<Instant>,
        fault: Fault,
    }

    fn path() -> Option<&'static PathBuf> {
        static PATH: OnceLock<Option<PathBuf>> = OnceLock::new();
        PATH.get_or_init(|| std::env::var_os("MINI_BROKER_FAULT_FILE").map(PathBuf::from))
            .as_ref()
    }

    pub fn current() -> Fault {
        let Some(path) = path() else {
            return Fault::None;
        };
        static CACHE: Mutex<Cached> = Mutex::new(Cached {
            at: None,
            fault: Fault::None,
        });
        let mut c = CACHE.lock_unpoisoned();
        // Throttles reads of a file other processes write: wall time by design (fault injection
        // for out-of-process chaos tests), whatever clock the broker's runtime has.
        let now = Instant::now();
        if c.at.is_none_or(|t| now.duration_since(t) >= RECHECK) {
            c.fault = std::fs::read_to_string(path)
                .map(|s| Fault::parse(&s))
                .unwrap_or(Fault::None);
            c.at = Some(now);
        }
        c.fault
    }
}

#[cfg(feature = "fault-injection")]
fn current() -> Fault {
    active::current()
}

#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
fn current() -> Fault {
    Fault::None
}

fn error_for(fault: Fault, write: bool) -> io::Result<()> {
    match (fault, write) {
        (Fault::EioWrite, true) | (Fault::EioFsync, false) => {
            Err(io::Error::from_raw_os_error(EIO))
        }
        (Fault::Enospc, true) => Err(io::Error::from_raw_os_error(ENOSPC)),
        _ => Ok(()),
    }
}

/// Called before consume-queue writes.
#[inline]
pub(crate) fn check_logic_write() -> io::Result<()> {
    match current() {
        Fault::EnospcDispatch => Err(io::Error::from_raw_os_error(ENOSPC)),
        _ => Ok(()),
    }
}

/// The injected disk use in percent, if any (called once per retention pass).
#[inline]
pub(crate) fn disk_used_percent() -> Option<u8> {
    match current() {
        Fault::DiskUsed(p) => Some(p),
        _ => None,
    }
}

/// Called by retention right after it deletes a commit-log segment: a crash there leaves
/// consume-queue and index files pointing into the deleted segment.
#[inline]
pub(crate) fn after_segment_delete() {
    if current() == Fault::CrashAfterSegmentDelete {
        tracing::error!("fault injection: aborting after a commit-log segment deletion");
        std::process::abort();
    }
}

/// Called once per commit-log write batch, before its first write.
#[inline]
pub(crate) fn check_write() -> io::Result<()> {
    error_for(current(), true)
}

/// Called once per commit-log flush, before its first fsync.
#[inline]
pub(crate) fn check_fsync() -> io::Result<()> {
    error_for(current(), false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_contents_map_to_os_errors() {
        assert_eq!(Fault::parse("eio-write\n"), Fault::EioWrite);
        assert_eq!(Fault::parse("eio-fsync"), Fault::EioFsync);
        assert_eq!(Fault::parse(" enospc "), Fault::Enospc);
        assert_eq!(Fault::parse(""), Fault::None);
        assert_eq!(Fault::parse("bogus"), Fault::None);
        assert_eq!(Fault::parse("disk-used 93\n"), Fault::DiskUsed(93));
        assert_eq!(Fault::parse("disk-used 101"), Fault::None);
        assert_eq!(
            Fault::parse("crash-after-segment-delete"),
            Fault::CrashAfterSegmentDelete
        );
        let e = error_for(Fault::Enospc, true).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(ENOSPC));
        assert!(error_for(Fault::Enospc, false).is_ok());
        let e = error_for(Fault::EioFsync, false).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(EIO));
        assert!(error_for(Fault::EioFsync, true).is_ok());
        assert_eq!(
            error_for(Fault::EioWrite, true).unwrap_err().raw_os_error(),
            Some(EIO)
        );
        assert!(error_for(Fault::None, true).is_ok());
    }

    #[test]
    fn without_the_environment_variable_nothing_fails() {
        // The test process does not set MINI_BROKER_FAULT_FILE.
        if std::env::var_os("MINI_BROKER_FAULT_FILE").is_none() {
            assert!(check_write().is_ok());
            assert!(check_fsync().is_ok());
        }
    }
}
