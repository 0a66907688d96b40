//! The one tokio runtime of the process, and waiting on it from Python.

use std::future::Future;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use pyo3::prelude::*;
use tokio::runtime::Runtime;

/// How often a blocking wait takes the GIL back to look for Ctrl-C (a pending signal).
const SIGNAL_CHECK: Duration = Duration::from_millis(50);

pub fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("liftbridge-native")
            .enable_all()
            .build()
            .expect("a tokio runtime")
    })
}

/// Wait for `make()`'s future for up to `timeout` (None: as long as it takes), the GIL released.
///
/// Every 50 ms the GIL is taken back to run Python's signal handlers: Ctrl-C raises
/// `KeyboardInterrupt` here (the future is dropped). `Ok(None)` means the time ran out.
pub fn wait<F, T>(
    py: Python<'_>,
    timeout: Option<f64>,
    mut make: impl FnMut() -> F,
) -> PyResult<Option<T>>
where
    F: Future<Output = T> + Send,
    T: Send,
{
    let deadline = timeout.map(|s| Instant::now() + Duration::from_secs_f64(s.max(0.0)));
    loop {
        let slice = match deadline {
            Some(d) => d
                .saturating_duration_since(Instant::now())
                .min(SIGNAL_CHECK),
            None => SIGNAL_CHECK,
        };
        let fut = make();
        let got = py.allow_threads(|| {
            runtime().block_on(async { tokio::time::timeout(slice, fut).await.ok() })
        });
        if got.is_some() {
            return Ok(got);
        }
        py.check_signals()?;
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(None);
        }
    }
}

/// Wait for a task spawned on the runtime, the GIL released; Ctrl-C aborts it and raises.
pub fn join<T: Send + 'static>(
    py: Python<'_>,
    mut task: tokio::task::JoinHandle<T>,
) -> PyResult<T> {
    loop {
        let got = py.allow_threads(|| {
            runtime().block_on(async { tokio::time::timeout(SIGNAL_CHECK, &mut task).await.ok() })
        });
        match got {
            Some(Ok(value)) => return Ok(value),
            Some(Err(e)) => {
                return Err(pyo3::exceptions::PyRuntimeError::new_err(format!(
                    "the native task failed: {e}"
                )))
            }
            None => {
                if let Err(e) = py.check_signals() {
                    task.abort();
                    return Err(e);
                }
            }
        }
    }
}
