//! [`ChildGuard`]: a child process that cannot outlive its test.

use std::io;
use std::process::{Child, Command, ExitStatus};
use std::time::Duration;

use crate::ItError;

/// Owns a child process and kills (then reaps) it when dropped, so a failing or panicking test
/// never leaves processes behind.
///
/// ```
/// use std::process::Command;
/// use std::time::Duration;
/// use rocketmq_it::ChildGuard;
///
/// let mut guard = ChildGuard::spawn("sleeper", Command::new("sleep").arg("30")).unwrap();
/// assert!(guard.wait_timeout(Duration::from_millis(50)).unwrap().is_none());
/// drop(guard); // killed and reaped here
/// ```
#[derive(Debug)]
pub struct ChildGuard {
    name: String,
    child: Option<Child>,
}

impl ChildGuard {
    /// Guards an already spawned child; `name` appears in errors and logs.
    pub fn new(name: impl Into<String>, child: Child) -> Self {
        ChildGuard {
            name: name.into(),
            child: Some(child),
        }
    }

    /// Spawns `cmd` and guards the child.
    pub fn spawn(name: impl Into<String>, cmd: &mut Command) -> Result<Self, ItError> {
        let name = name.into();
        let child = cmd
            .spawn()
            .map_err(|e| ItError::io(format!("spawning {name} ({cmd:?})"), e))?;
        Ok(ChildGuard::new(name, child))
    }

    /// The name given at creation.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The child's process id.
    pub fn id(&self) -> u32 {
        self.child().id()
    }

    fn child(&self) -> &Child {
        self.child
            .as_ref()
            .expect("ChildGuard holds its child until dropped or released")
    }

    /// The child itself, e.g. to take its stdio handles.
    pub fn child_mut(&mut self) -> &mut Child {
        self.child
            .as_mut()
            .expect("ChildGuard holds its child until dropped or released")
    }

    /// The exit status if the child has exited, without blocking.
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        self.child_mut().try_wait()
    }

    /// Waits up to `timeout` for the child to exit; `None` if it is still running.
    pub fn wait_timeout(&mut self, timeout: Duration) -> io::Result<Option<ExitStatus>> {
        let exited = crate::eventually_some_blocking(timeout, "the child to exit", || {
            self.try_wait().transpose()
        });
        match exited {
            Ok(status) => status.map(Some),
            Err(_) => Ok(None),
        }
    }

    /// Kills the child (SIGKILL) unless it has already exited, and reaps it.
    pub fn kill(&mut self) -> io::Result<ExitStatus> {
        let child = self.child_mut();
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        match child.kill() {
            Ok(()) => {}
            // It exited between try_wait and kill.
            Err(e) if e.kind() == io::ErrorKind::InvalidInput => {}
            Err(e) => return Err(e),
        }
        child.wait()
    }

    /// Gives up ownership without killing the child.
    pub fn release(mut self) -> Child {
        self.child
            .take()
            .expect("ChildGuard holds its child until dropped or released")
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if self.child.is_some() {
            if let Err(e) = self.kill() {
                tracing::warn!(name = %self.name, error = %e, "could not kill child process");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn alive(pid: u32) -> bool {
        Path::new(&format!("/proc/{pid}")).exists()
    }

    #[test]
    fn drop_kills_and_reaps_the_child() {
        let guard = ChildGuard::spawn("sleep", Command::new("sleep").arg("60")).unwrap();
        let pid = guard.id();
        assert!(alive(pid));
        drop(guard);
        assert!(!alive(pid), "process {pid} survived its guard");
    }

    #[test]
    fn wait_timeout_reports_exit_and_running() {
        let mut quick = ChildGuard::spawn("true", &mut Command::new("true")).unwrap();
        let status = quick
            .wait_timeout(Duration::from_secs(10))
            .unwrap()
            .expect("exits");
        assert!(status.success());
        // Killing an exited child is not an error.
        assert!(quick.kill().unwrap().success());

        let mut slow = ChildGuard::spawn("sleep", Command::new("sleep").arg("60")).unwrap();
        assert!(slow
            .wait_timeout(Duration::from_millis(30))
            .unwrap()
            .is_none());
        assert!(!slow.kill().unwrap().success());
    }

    #[test]
    fn spawn_failure_is_an_error() {
        let err = ChildGuard::spawn("nope", &mut Command::new("/nonexistent/binary")).unwrap_err();
        assert!(matches!(err, ItError::Io { .. }), "{err}");
    }

    #[test]
    fn release_hands_over_the_child() {
        let guard = ChildGuard::spawn("sleep", Command::new("sleep").arg("60")).unwrap();
        let mut child = guard.release();
        assert!(alive(child.id()));
        child.kill().unwrap();
        child.wait().unwrap();
    }
}
