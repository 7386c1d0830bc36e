//! Shared by the integration tests: run one scenario on tokio, smol or async-std, optionally
//! under a deadline so that a hung scenario fails with "scenario hung" instead of blocking the
//! suite. Each test binary uses a part of it.
#![allow(dead_code, unused_macros, unused_imports)]

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use rocketmq_rs_remoting::rt::{timeout, AsyncStdRuntime, Runtime, SmolRuntime, TokioRuntime};

async fn guarded<Fut: Future<Output = ()>>(
    rt: Arc<dyn Runtime>,
    deadline: Option<Duration>,
    fut: Fut,
) {
    match deadline {
        Some(d) => timeout(&*rt, d, fut).await.expect("scenario hung"),
        None => fut.await,
    }
}

/// Runs `scenario` on a two-worker tokio runtime.
pub fn run_tokio<F, Fut>(deadline: Option<Duration>, scenario: F)
where
    F: FnOnce(Arc<dyn Runtime>) -> Fut,
    Fut: Future<Output = ()>,
{
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let rt: Arc<dyn Runtime> = Arc::new(TokioRuntime::from_handle(tokio.handle().clone()));
    tokio.block_on(guarded(rt.clone(), deadline, scenario(rt)));
}

/// Runs `scenario` on smol.
pub fn run_smol<F, Fut>(deadline: Option<Duration>, scenario: F)
where
    F: FnOnce(Arc<dyn Runtime>) -> Fut,
    Fut: Future<Output = ()>,
{
    let rt: Arc<dyn Runtime> = Arc::new(SmolRuntime::new());
    smol::block_on(guarded(rt.clone(), deadline, scenario(rt)));
}

/// Runs `scenario` on async-std.
pub fn run_async_std<F, Fut>(deadline: Option<Duration>, scenario: F)
where
    F: FnOnce(Arc<dyn Runtime>) -> Fut,
    Fut: Future<Output = ()>,
{
    let rt: Arc<dyn Runtime> = Arc::new(AsyncStdRuntime::new());
    async_std::task::block_on(guarded(rt.clone(), deadline, scenario(rt)));
}

/// `for_each_runtime!(DEADLINE; a, b, ...)`: a `#[test]` per scenario `scenarios::a` (a
/// function of the calling file taking `Arc<dyn Runtime>`) on each runtime, in the modules
/// `tokio_rt`, `smol_rt` and `async_std_rt`. `DEADLINE` is an `Option<Duration>` expression
/// written with paths from the crate root (`Some(crate::SCENARIO_DEADLINE)`, `None`).
macro_rules! for_each_runtime {
    ($deadline:expr; $($name:ident),* $(,)?) => {
        mod tokio_rt {
            $( #[test] fn $name() { $crate::common::run_tokio($deadline, super::scenarios::$name) } )*
        }
        mod smol_rt {
            $( #[test] fn $name() { $crate::common::run_smol($deadline, super::scenarios::$name) } )*
        }
        mod async_std_rt {
            $( #[test] fn $name() { $crate::common::run_async_std($deadline, super::scenarios::$name) } )*
        }
    };
}
pub(crate) use for_each_runtime;
