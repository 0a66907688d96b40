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

/// The awaitable form of a native call: `fut` runs in the runtime, and once it is over, `done` is
/// called (with the GIL, from a runtime thread) as `done(value, None)`, with what `finish` makes of
/// its output, or as `done(None, error)`. Python's side hands that to its event loop.
///
/// At the interpreter's exit (`shutdown`) `done` is not called: nobody awaits any more. A call
/// under way then is counted in `waiting`, which the exit waits for.
pub fn later<F, T>(
    done: PyObject,
    fut: F,
    finish: impl FnOnce(Python<'_>, T) -> PyResult<PyObject> + Send + 'static,
) where
    F: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    runtime().spawn(async move {
        let out = fut.await;
        if exiting() {
            return;
        }
        let _counted = Waiting::new();
        if exiting() {
            return; // the exit began meanwhile, and may not have counted this call
        }
        Python::with_gil(|py| {
            let (value, error) = match finish(py, out) {
                Ok(value) => (value, py.None()),
                Err(e) => (py.None(), e.into_value(py).into_any()),
            };
            if let Err(e) = done.call1(py, (value, error)) {
                e.write_unraisable(py, None);
            }
        });
    });
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
    wait_in_slices(py, timeout, |slice| {
        let fut = make();
        move || runtime().block_on(async { tokio::time::timeout(slice, fut).await.ok() })
    })
}

/// Wait for what `rx` receives for up to `timeout`, as `wait` does, with the thread itself parked
/// (no timer of the runtime: registering one wakes a parked worker to re-arm its sleep). `Ok(None)`:
/// the time ran out, or the sender is gone.
///
/// For its first `spin` the thread does not sleep: it looks again each time it yielded the CPU to
/// whatever else is ready to run. A thread that sleeps leaves its CPU idle, and waking it takes
/// tens of µs on a virtual machine: an answer due within a round trip of the loopback comes sooner.
pub fn receive<T: Send>(
    py: Python<'_>,
    timeout: Option<f64>,
    rx: std::sync::mpsc::Receiver<T>,
    spin: Duration,
) -> PyResult<Option<T>> {
    use std::sync::mpsc::{RecvTimeoutError, TryRecvError};
    let rx = Mutex::new(rx); // shared with the thread that waits without the GIL: a Receiver is not Sync
    let spin = timeout.map_or(spin, |t| spin.min(Duration::from_secs_f64(t.max(0.0))));
    let spin_until = Instant::now() + spin;
    let got = wait_in_slices(py, timeout, |slice| {
        let rx = &rx;
        move || {
            let rx = rx.lock().expect("receiver lock");
            while Instant::now() < spin_until {
                match rx.try_recv() {
                    Ok(value) => return Some(Some(value)),
                    Err(TryRecvError::Disconnected) => return Some(None),
                    Err(TryRecvError::Empty) => std::thread::yield_now(),
                }
            }
            match rx.recv_timeout(slice) {
                Ok(value) => Some(Some(value)),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => Some(None),
            }
        }
    })?;
    Ok(got.flatten())
}

/// Run the jobs `next` makes (with the GIL) for slices of up to 50 ms of `timeout`, each with the
/// GIL released, until one gives something, looking for Ctrl-C between slices; `Ok(None)` when
/// the time ran out.
fn wait_in_slices<T, J>(
    py: Python<'_>,
    timeout: Option<f64>,
    mut next: impl FnMut(Duration) -> J,
) -> PyResult<Option<T>>
where
    T: Send,
    J: FnOnce() -> Option<T> + Send,
{
    let deadline = timeout.map(|s| Instant::now() + Duration::from_secs_f64(s.max(0.0)));
    loop {
        let slice = match deadline {
            Some(d) => d
                .saturating_duration_since(Instant::now())
                .min(SIGNAL_CHECK),
            None => SIGNAL_CHECK,
        };
        let job = next(slice);
        let got = if exiting() {
            job() // the GIL kept: taking it back could meet a finalized interpreter
        } else {
            let _counted = Waiting::new();
            py.allow_threads(job)
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

#[cfg(test)]
mod tests {
    use std::sync::mpsc::sync_channel;
    use std::thread;

    use super::*;

    fn with_python(test: impl FnOnce(Python<'_>)) {
        pyo3::prepare_freethreaded_python();
        Python::with_gil(test);
    }

    #[test]
    fn later_hands_the_value_or_the_error_to_done_from_a_runtime_thread() {
        use pyo3::types::{PyDict, PyList};
        with_python(|py| {
            let got = PyList::empty(py);
            let scope = PyDict::new(py);
            scope.set_item("got", &got).unwrap();
            let done = py
                .eval(
                    c"lambda value, error: got.append((value, error))",
                    Some(&scope),
                    None,
                )
                .unwrap()
                .unbind();
            later(done.clone_ref(py), async { 7_i64 }, |py, n: i64| {
                Ok(n.into_pyobject(py)?.into_any().unbind())
            });
            later(done, async {}, |_, ()| {
                Err(pyo3::exceptions::PyValueError::new_err("refused"))
            });
            let deadline = Instant::now() + Duration::from_secs(10);
            while got.len() < 2 && Instant::now() < deadline {
                py.allow_threads(|| thread::sleep(Duration::from_millis(5)));
            }
            let mut seen: Vec<String> = got.iter().map(|item| item.to_string()).collect();
            seen.sort();
            assert_eq!(seen, ["(7, None)", "(None, ValueError('refused'))"]);
        });
    }

    #[test]
    fn an_answer_is_received_whether_it_comes_while_spinning_or_after() {
        with_python(|py| {
            for (spin, delay) in [(50, 0), (0, 20), (1, 20), (1_000, 5)] {
                let (tx, rx) = sync_channel(1);
                let sender = thread::spawn(move || {
                    thread::sleep(Duration::from_millis(delay));
                    tx.send(delay).unwrap();
                });
                let got = receive(py, Some(10.0), rx, Duration::from_millis(spin)).unwrap();
                assert_eq!(got, Some(delay), "spin {spin} ms, answer after {delay} ms");
                sender.join().unwrap();
            }
        });
    }

    #[test]
    fn no_answer_is_none_when_the_time_runs_out_or_the_sender_is_gone() {
        with_python(|py| {
            let (tx, rx) = sync_channel::<u8>(1);
            assert_eq!(
                receive(py, Some(0.02), rx, Duration::from_millis(1)).unwrap(),
                None
            );
            drop(tx);
            let (tx, rx) = sync_channel::<u8>(1);
            drop(tx);
            assert_eq!(
                receive(py, Some(10.0), rx, Duration::from_millis(1)).unwrap(),
                None
            );
        });
    }
}
