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
//!
//! The feature also records, for power-loss tests, what each consume-queue fsync guarantees:
//! a file's content and a directory's entries as they were when the fsync was issued.
//! [`power_loss`] rolls a stopped store's consume queues back to exactly that, which is what a
//! power cut right after the last fsync may leave (the page cache gone).

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

#[cfg(feature = "fault-injection")]
mod shadow {
    use std::collections::{HashMap, HashSet};
    use std::ffi::OsString;
    use std::fs::File;
    use std::os::unix::fs::FileExt;
    use std::path::{Path, PathBuf};
    use std::sync::Mutex;

    use rocketmq_rs_remoting::util::MutexExt;

    #[derive(Default)]
    pub(super) struct Shadow {
        /// Content of each consume-queue file at its last fsync.
        pub files: HashMap<PathBuf, Vec<u8>>,
        /// Entries of each consume-queue directory at its last fsync.
        pub dirs: HashMap<PathBuf, HashSet<OsString>>,
    }

    pub(super) static SHADOW: Mutex<Option<Shadow>> = Mutex::new(None);

    pub(super) fn with<R>(f: impl FnOnce(&mut Shadow) -> R) -> R {
        let mut g = SHADOW.lock_unpoisoned();
        f(g.get_or_insert_with(Shadow::default))
    }

    pub(super) fn file(path: &Path, file: &File) {
        let len = file.metadata().map(|m| m.len()).unwrap_or(0) as usize;
        let mut buf = vec![0u8; len];
        let mut done = 0;
        while done < len {
            match file.read_at(&mut buf[done..], done as u64) {
                Ok(0) | Err(_) => break,
                Ok(n) => done += n,
            }
        }
        buf.truncate(done);
        with(|s| s.files.insert(path.to_path_buf(), buf));
    }

    pub(super) fn dir(dir: &Path) {
        let names: HashSet<OsString> = std::fs::read_dir(dir)
            .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.file_name())).collect())
            .unwrap_or_default();
        with(|s| s.dirs.insert(dir.to_path_buf(), names));
    }
}

/// Called right before a consume-queue file's fsync: with the feature, remembers its content
/// (what the fsync makes durable) for [`power_loss`].
#[inline]
pub(crate) fn before_cq_file_fsync(_path: &std::path::Path, _file: &std::fs::File) {
    #[cfg(feature = "fault-injection")]
    shadow::file(_path, _file);
}

/// Called right before a consume-queue directory's fsync: with the feature, remembers its
/// entries for [`power_loss`].
#[inline]
pub(crate) fn before_cq_dir_fsync(_dir: &std::path::Path) {
    #[cfg(feature = "fault-injection")]
    shadow::dir(_dir);
}

/// Power-loss emulation for crash tests (feature `fault-injection`).
#[cfg(feature = "fault-injection")]
pub mod power_loss {
    use std::path::Path;

    use super::shadow;

    /// What [`consume_queues`] changed.
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
    #[non_exhaustive]
    pub struct Rollback {
        /// Files and directories removed: created but their directory entry never fsynced.
        pub removed: usize,
        /// Files whose content went back to their last fsync (or to zeros: never fsynced).
        pub rewound: usize,
    }

    /// Rolls the consume queues of the store at `root` (stopped, e.g. by
    /// [`MessageStore::simulate_crash`](crate::store::MessageStore::simulate_crash)) back to
    /// what this process's fsyncs made durable, as a power cut would: a file or directory not
    /// listed at its directory's last fsync disappears (a directory never fsynced loses every
    /// entry), and each remaining file gets its content at its last fsync back, or zeros if
    /// it was never fsynced. The `consumequeue` root itself is kept. Only for temp dirs.
    ///
    /// # Errors
    ///
    /// File-system errors while rewriting or removing files.
    pub fn consume_queues(root: &Path) -> std::io::Result<Rollback> {
        let mut out = Rollback::default();
        let cq = root.join("consumequeue");
        shadow::with(|s| roll_dir(&cq, s, &mut out))?;
        Ok(out)
    }

    fn roll_dir(dir: &Path, s: &mut shadow::Shadow, out: &mut Rollback) -> std::io::Result<()> {
        let kept = s.dirs.get(dir).cloned().unwrap_or_default();
        for e in std::fs::read_dir(dir)? {
            let e = e?;
            let path = e.path();
            let is_dir = e.file_type()?.is_dir();
            if !kept.contains(&e.file_name()) {
                if is_dir {
                    std::fs::remove_dir_all(&path)?;
                } else {
                    std::fs::remove_file(&path)?;
                }
                out.removed += 1;
                continue;
            }
            if is_dir {
                roll_dir(&path, s, out)?;
                continue;
            }
            let len = e.metadata()?.len() as usize;
            let mut want = s.files.get(&path).cloned().unwrap_or_default();
            want.resize(len, 0);
            if std::fs::read(&path)? != want {
                std::fs::write(&path, &want)?;
                out.rewound += 1;
            }
        }
        Ok(())
    }
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
