//! Lock access that recovers from poisoning.
//!
//! A panic while a lock is held poisons it. Every table behind these locks stays consistent
//! between statements (no half-applied multi-step updates are left visible), so the
//! workspace's policy is to keep serving with the data as the panicking holder left it rather
//! than propagate the panic to every later caller. These traits are that policy, in one place.

use std::sync::{
    Condvar, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard,
    TryLockError, WaitTimeoutResult,
};
use std::time::Duration;

/// [`Mutex`] locking that ignores poisoning.
pub trait MutexExt<T: ?Sized> {
    /// Locks, taking over the guard of a poisoned lock.
    fn lock_unpoisoned(&self) -> MutexGuard<'_, T>;
    /// Locks if free, taking over a poisoned lock; `None` if another holder has it.
    fn try_lock_unpoisoned(&self) -> Option<MutexGuard<'_, T>>;
}

impl<T: ?Sized> MutexExt<T> for Mutex<T> {
    fn lock_unpoisoned(&self) -> MutexGuard<'_, T> {
        self.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn try_lock_unpoisoned(&self) -> Option<MutexGuard<'_, T>> {
        match self.try_lock() {
            Ok(g) => Some(g),
            Err(TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        }
    }
}

/// [`RwLock`] locking that ignores poisoning.
pub trait RwLockExt<T: ?Sized> {
    /// Read-locks, taking over the guard of a poisoned lock.
    fn read_unpoisoned(&self) -> RwLockReadGuard<'_, T>;
    /// Write-locks, taking over the guard of a poisoned lock.
    fn write_unpoisoned(&self) -> RwLockWriteGuard<'_, T>;
}

impl<T: ?Sized> RwLockExt<T> for RwLock<T> {
    fn read_unpoisoned(&self) -> RwLockReadGuard<'_, T> {
        self.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write_unpoisoned(&self) -> RwLockWriteGuard<'_, T> {
        self.write().unwrap_or_else(PoisonError::into_inner)
    }
}

/// [`Condvar`] waits that ignore poisoning of the mutex they re-acquire.
pub trait CondvarExt {
    /// [`Condvar::wait`], taking over a poisoned guard.
    fn wait_unpoisoned<'a, T>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T>;
    /// [`Condvar::wait_timeout`], taking over a poisoned guard.
    fn wait_timeout_unpoisoned<'a, T>(
        &self,
        guard: MutexGuard<'a, T>,
        timeout: Duration,
    ) -> (MutexGuard<'a, T>, WaitTimeoutResult);
}

impl CondvarExt for Condvar {
    fn wait_unpoisoned<'a, T>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        self.wait(guard).unwrap_or_else(PoisonError::into_inner)
    }

    fn wait_timeout_unpoisoned<'a, T>(
        &self,
        guard: MutexGuard<'a, T>,
        timeout: Duration,
    ) -> (MutexGuard<'a, T>, WaitTimeoutResult) {
        self.wait_timeout(guard, timeout)
            .unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn poisoned_locks_stay_usable() {
        let m = Arc::new(Mutex::new(1));
        let l = Arc::new(RwLock::new(2));
        let (m2, l2) = (Arc::clone(&m), Arc::clone(&l));
        let _ = std::thread::spawn(move || {
            let _g = m2.lock().unwrap();
            let _w = l2.write().unwrap();
            panic!("poison both");
        })
        .join();
        assert!(m.is_poisoned() && l.is_poisoned());
        *m.lock_unpoisoned() += 1;
        assert_eq!(*m.try_lock_unpoisoned().unwrap(), 2);
        *l.write_unpoisoned() += 1;
        assert_eq!(*l.read_unpoisoned(), 3);
        let g = m.lock_unpoisoned();
        assert!(m.try_lock_unpoisoned().is_none());
        let (g, r) = Condvar::new().wait_timeout_unpoisoned(g, Duration::from_millis(1));
        assert!(r.timed_out());
        assert_eq!(*g, 2);
    }
}
