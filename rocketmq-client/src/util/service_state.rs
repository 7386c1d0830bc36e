//! [`ServiceState`]: the lifecycle of a producer or consumer (Java `ServiceState`).

use std::sync::atomic::{AtomicU8, Ordering};

/// Where a producer or consumer is in its lifecycle (Java `ServiceState`). It only moves
/// forward: created, running, shut down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum ServiceState {
    /// Built, not started yet (`CREATE_JUST`).
    CreateJust = 0,
    /// Started and serving (`RUNNING`).
    Running = 1,
    /// Shut down, or failed to start; cannot be started again (`SHUTDOWN_ALREADY`).
    ShutdownAlready = 2,
}

impl ServiceState {
    fn from_u8(v: u8) -> ServiceState {
        match v {
            0 => ServiceState::CreateJust,
            1 => ServiceState::Running,
            _ => ServiceState::ShutdownAlready,
        }
    }
}

/// A [`ServiceState`] that threads read and move without a lock.
#[derive(Debug)]
pub(crate) struct AtomicServiceState(AtomicU8);

impl AtomicServiceState {
    /// A state that starts at [`ServiceState::CreateJust`].
    pub(crate) const fn new() -> Self {
        AtomicServiceState(AtomicU8::new(ServiceState::CreateJust as u8))
    }

    /// `Ok` while running; else the consumers' [`NotRunning`](crate::Error::NotRunning) error
    /// telling the caller to start first.
    pub(crate) fn ensure_consumer_running(&self) -> crate::Result<()> {
        if self.get() == ServiceState::Running {
            Ok(())
        } else {
            Err(crate::Error::NotRunning(
                "call start() first; a shut-down consumer cannot be used",
            ))
        }
    }

    /// The current state.
    pub(crate) fn get(&self) -> ServiceState {
        ServiceState::from_u8(self.0.load(Ordering::Acquire))
    }

    /// Sets the state.
    pub(crate) fn set(&self, s: ServiceState) {
        self.0.store(s as u8, Ordering::Release);
    }

    /// Sets the state and returns the one it replaced.
    pub(crate) fn replace(&self, s: ServiceState) -> ServiceState {
        ServiceState::from_u8(self.0.swap(s as u8, Ordering::AcqRel))
    }

    /// Moves from `from` to `to` if the state is `from`; otherwise returns the current state.
    pub(crate) fn advance(&self, from: ServiceState, to: ServiceState) -> Result<(), ServiceState> {
        self.0
            .compare_exchange(from as u8, to as u8, Ordering::AcqRel, Ordering::Acquire)
            .map(|_| ())
            .map_err(ServiceState::from_u8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moves_forward() {
        let s = AtomicServiceState::new();
        assert_eq!(s.get(), ServiceState::CreateJust);
        assert_eq!(
            s.advance(ServiceState::Running, ServiceState::ShutdownAlready),
            Err(ServiceState::CreateJust)
        );
        assert_eq!(
            s.advance(ServiceState::CreateJust, ServiceState::Running),
            Ok(())
        );
        assert_eq!(
            s.replace(ServiceState::ShutdownAlready),
            ServiceState::Running
        );
        assert_eq!(s.get(), ServiceState::ShutdownAlready);
        s.set(ServiceState::Running);
        assert_eq!(s.get(), ServiceState::Running);
    }
}
