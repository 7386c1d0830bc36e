//! The per-runtime harness shared by the transport and TLS tests: every scenario is one
//! `async fn(Arc<dyn Runtime>)` in the test file's `scenarios` module, and
//! [`for_each_runtime!`] turns a list of them into one `#[test]` per enabled runtime.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use rocketmq_rs_remoting::rt::{timeout, Runtime};

/// A scenario that takes longer than this has hung (fails the test instead of blocking CI).
pub const SCENARIO_DEADLINE: Duration = Duration::from_secs(60);

/// Runs `fut` under [`SCENARIO_DEADLINE`].
pub async fn guarded<Fut: Future<Output = ()>>(rt: Arc<dyn Runtime>, fut: Fut) {
    timeout(&*rt, SCENARIO_DEADLINE, fut)
        .await
        .expect("scenario hung");
}

/// Runs a scenario on a fresh two-worker tokio runtime.
#[cfg(feature = "runtime-tokio")]
pub fn run_tokio<F, Fut>(scenario: F)
where
    F: FnOnce(Arc<dyn Runtime>) -> Fut,
    Fut: Future<Output = ()>,
{
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let rt: Arc<dyn Runtime> = Arc::new(rocketmq_rs_remoting::rt::TokioRuntime::from_handle(
        tokio.handle().clone(),
    ));
    tokio.block_on(guarded(rt.clone(), scenario(rt)));
}

/// Runs a scenario on smol.
#[cfg(feature = "runtime-smol")]
pub fn run_smol<F, Fut>(scenario: F)
where
    F: FnOnce(Arc<dyn Runtime>) -> Fut,
    Fut: Future<Output = ()>,
{
    let rt: Arc<dyn Runtime> = Arc::new(rocketmq_rs_remoting::rt::SmolRuntime::new());
    smol::block_on(guarded(rt.clone(), scenario(rt)));
}

/// Runs a scenario on async-std.
#[cfg(feature = "runtime-async-std")]
pub fn run_async_std<F, Fut>(scenario: F)
where
    F: FnOnce(Arc<dyn Runtime>) -> Fut,
    Fut: Future<Output = ()>,
{
    let rt: Arc<dyn Runtime> = Arc::new(rocketmq_rs_remoting::rt::AsyncStdRuntime::new());
    async_std::task::block_on(guarded(rt.clone(), scenario(rt)));
}

/// One `#[test]` per listed scenario (`scenarios::<name>` of the including file) and per
/// enabled runtime, in modules `tokio_rt`, `smol_rt` and `async_std_rt`.
macro_rules! for_each_runtime {
    ($($name:ident),* $(,)?) => {
        #[cfg(feature = "runtime-tokio")]
        mod tokio_rt {
            $( #[test] fn $name() { $crate::common::run_tokio(super::scenarios::$name) } )*
        }
        #[cfg(feature = "runtime-smol")]
        mod smol_rt {
            $( #[test] fn $name() { $crate::common::run_smol(super::scenarios::$name) } )*
        }
        #[cfg(feature = "runtime-async-std")]
        mod async_std_rt {
            $( #[test] fn $name() { $crate::common::run_async_std(super::scenarios::$name) } )*
        }
    };
}
