//! The one tokio runtime of the process, and waiting on it from Python.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use pyo3::prelude::*;
use tokio::runtime::Runtime;
use tokio::sync::{oneshot, watch};

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

/// Set once, when the interpreter exits (`shutdown`): every call ends.
fn stopping() -> &'static watch::Sender<bool> {
    static STOPPING: OnceLock<watch::Sender<bool>> = OnceLock::new();
    STOPPING.get_or_init(|| watch::Sender::new(false))
}

fn exiting() -> bool {
    *stopping().borrow()
}

/// Threads waiting in `wait` or `join`, the GIL released.
static WAITING: AtomicUsize = AtomicUsize::new(0);

/// Counts a thread in `WAITING` while it lives.
struct Waiting;

impl Waiting {
    fn new() -> Self {
        WAITING.fetch_add(1, Ordering::SeqCst);
        Waiting
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        WAITING.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Resolves when `closed` says the connections closed (or its sender is gone), or at `shutdown`.
pub async fn ended(mut closed: watch::Receiver<bool>) {
    let mut exiting = stopping().subscribe();
    tokio::select! {
        _ = closed.wait_for(|c| *c) => {}
        _ = exiting.wait_for(|c| *c) => {}
    }
}

/// End every call of the process, for the interpreter's exit: a thread that waits in one returns
/// (into Python) at once, before the interpreter is finalized under it.
#[pyfunction]
pub fn shutdown() {
    stopping().send_replace(true);
}

/// How many threads wait in a native call, the GIL released (what the interpreter's exit waits for).
#[pyfunction]
pub fn waiting() -> usize {
    WAITING.load(Ordering::SeqCst)
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
        let wait = async { tokio::time::timeout(slice, fut).await.ok() };
        let got = if exiting() {
            runtime().block_on(wait) // the GIL kept: taking it back could meet a finalized interpreter
        } else {
            let _counted = Waiting::new();
            py.allow_threads(|| runtime().block_on(wait))
        };
        if got.is_some() {
            return Ok(got);
        }
        py.check_signals()?;
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(None);
        }
    }
}

/// The cancelling side of a call's task: `fire` (or dropping it) ends the task's wait on `receiver`.
pub struct Canceller(Mutex<Option<oneshot::Sender<()>>>);

impl Canceller {
    /// The canceller, and what the task waits on.
    pub fn new() -> (Self, oneshot::Receiver<()>) {
        let (tx, rx) = oneshot::channel();
        (Canceller(Mutex::new(Some(tx))), rx)
    }

    /// Cancel the task (once; later calls do nothing).
    pub fn fire(&self) {
        if let Some(tx) = self.0.lock().expect("canceller lock").take() {
            let _ = tx.send(());
        }
    }
}

impl Drop for Canceller {
    fn drop(&mut self) {
        self.fire();
    }
}
