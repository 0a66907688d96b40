//! Subscribe calls read by a tokio task into Arrow batches, which Python takes in turn.

use std::time::{Duration, Instant};

use futures_util::FutureExt;
use http::uri::PathAndQuery;
use pyo3::prelude::*;
use tokio::sync::{mpsc, watch};
use tonic::transport::Channel;
use tonic::{Code, Status};

use crate::batch::{Batch, Builder};
use crate::codec::RawCodec;
use crate::proto::Message;
use crate::runtime::{ended, later, runtime, wait, Canceller};
use crate::status::{failure, failure_from};

/// What the reading task tells the Python side, in order.
enum Event {
    /// The handshake (the empty first message) arrived: the subscription is open.
    Ready,
    Batch(Batch),
    /// The call ended with this status (after every batch before it).
    Failed(Status),
    /// The server ended the call.
    End,
}

/// What a call reads and how it cuts batches (see `Connections.subscribe`).
pub struct Limits {
    /// Messages at or below this offset are dropped.
    pub after: i64,
    pub rows: usize,
    pub bytes: usize,
    /// Seconds: a batch older than this is sent once no message is ready (zero: as soon as none is).
    pub linger: f64,
    /// Batches that may wait for Python.
    pub buffer: usize,
    pub max_message_bytes: usize,
}

#[derive(Clone, Copy)]
struct Cuts {
    rows: usize,
    bytes: usize,
    linger: Duration,
}

/// One Subscribe call, read in the native runtime.
///
/// `handshake(timeout)` waits for the subscription to open; `next_batch(timeout)`
/// gives the next batch, None at the end, or raises `RpcFailure` (the call's gRPC
/// status) after every batch before it. Both release the GIL and let Ctrl-C through.
/// `next_batch_then(done)` is the awaitable form of `next_batch()` (see `runtime::later`).
/// `cancel()` (from any thread) ends the call: the next `next_batch` raises CANCELLED.
#[pyclass(frozen, module = "liftbridge_nb._native")]
pub struct Call {
    events: tokio::sync::Mutex<mpsc::Receiver<Event>>,
    cancel: Canceller,
}

impl Call {
    pub fn start(
        channel: Channel,
        request: Vec<u8>,
        limits: Limits,
        closed: watch::Receiver<bool>,
    ) -> Call {
        let (tx, rx) = mpsc::channel(limits.buffer.max(1));
        let (cancel, cancel_rx) = Canceller::new();
        let cuts = Cuts {
            rows: limits.rows.max(1),
            bytes: limits.bytes.max(1),
            linger: Duration::from_secs_f64(limits.linger.max(0.0)),
        };
        let (after, max) = (limits.after, limits.max_message_bytes);
        runtime().spawn(async move {
            let tx2 = tx.clone();
            tokio::select! {
                biased;
                _ = cancel_rx => {
                    let _ = tx2.send(Event::Failed(Status::cancelled("cancelled by the client"))).await;
                }
                _ = ended(closed) => {
                    let _ = tx2.send(Event::Failed(Status::cancelled("the client is closed"))).await;
                }
                _ = read(channel, request, after, max, cuts, tx) => {}
            }
        });
        Call {
            events: tokio::sync::Mutex::new(rx),
            cancel,
        }
    }

    /// The next event; the task sends End or Failed last, so a channel closed without either is a
    /// reader that died.
    async fn event(&self) -> Event {
        let got = self.events.lock().await.recv().await;
        got.unwrap_or_else(|| {
            Event::Failed(Status::internal("the native reader stopped unexpectedly"))
        })
    }

    fn next_event(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Option<Event>> {
        wait(py, timeout, || self.event())
    }

    /// What `next_batch` makes of an event after the handshake.
    fn batch_of(&self, event: Event) -> PyResult<Option<Batch>> {
        match event {
            Event::Batch(b) => Ok(Some(b)),
            Event::Failed(status) => Err(failure_from(&status)),
            Event::End => {
                self.cancel.fire();
                Ok(None)
            }
            Event::Ready => unreachable!("the handshake comes once, first"),
        }
    }
}

#[pymethods]
impl Call {
    /// Wait for the handshake; raises `RpcFailure` (DEADLINE_EXCEEDED after `timeout` seconds).
    fn handshake(&self, py: Python<'_>, timeout: f64) -> PyResult<()> {
        match self.next_event(py, Some(timeout))? {
            Some(Event::Ready) => Ok(()),
            Some(Event::Failed(status)) => Err(failure_from(&status)),
            Some(Event::End) => Err(failure(
                Code::Unavailable,
                "the subscription ended before its handshake",
            )),
            Some(Event::Batch(_)) => unreachable!("batches come after the handshake"),
            None => {
                self.cancel();
                Err(failure(
                    Code::DeadlineExceeded,
                    &format!("no handshake within {timeout:.3} s"),
                ))
            }
        }
    }

    /// The next batch; None at the end of the call; `TimeoutError` when `timeout` seconds pass first.
    #[pyo3(signature = (timeout=None))]
    fn next_batch(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Option<Batch>> {
        match self.next_event(py, timeout)? {
            Some(event) => self.batch_of(event),
            None => Err(pyo3::exceptions::PyTimeoutError::new_err("no batch yet")),
        }
    }

    /// The awaitable form of `next_batch()`: returns at once, and `done(batch, None)` (None at the
    /// end) or `done(None, RpcFailure)` is called from a runtime thread when the batch comes.
    fn next_batch_then(slf: Py<Self>, done: PyObject) {
        later(
            done,
            async move {
                let event = slf.get().event().await;
                (slf, event)
            },
            |py, (slf, event)| Ok(slf.get().batch_of(event)?.into_pyobject(py)?.unbind()),
        );
    }

    /// End the call (any thread); what was read stays readable, then CANCELLED.
    fn cancel(&self) {
        self.cancel.fire();
    }
}

async fn read(
    channel: Channel,
    request: Vec<u8>,
    after: i64,
    max_message_bytes: usize,
    cuts: Cuts,
    tx: mpsc::Sender<Event>,
) {
    let mut grpc = tonic::client::Grpc::new(channel).max_decoding_message_size(max_message_bytes);
    if let Err(e) = grpc.ready().await {
        let _ = tx
            .send(Event::Failed(Status::unavailable(e.to_string())))
            .await;
        return;
    }
    let path = PathAndQuery::from_static("/proto.API/Subscribe");
    let codec = RawCodec::<Message>::default();
    let mut stream = match grpc
        .server_streaming(tonic::Request::new(request), path, codec)
        .await
    {
        Ok(r) => r.into_inner(),
        Err(status) => {
            let _ = tx.send(Event::Failed(status)).await;
            return;
        }
    };
    match stream.message().await {
        Ok(Some(_)) => {
            if tx.send(Event::Ready).await.is_err() {
                return;
            }
        }
        Ok(None) => {
            let _ = tx.send(Event::End).await;
            return;
        }
        Err(status) => {
            let _ = tx.send(Event::Failed(status)).await;
            return;
        }
    }
    let mut builder = Builder::new();
    let mut started = Instant::now();
    let mut last = after;
    loop {
        let got = if builder.is_empty() {
            stream.message().await
        } else {
            match stream.message().now_or_never() {
                Some(got) => got,
                None => {
                    // Nothing ready: send what there is if it is old enough, else wait a little.
                    let age = started.elapsed();
                    if age >= cuts.linger {
                        if tx.send(Event::Batch(builder.finish())).await.is_err() {
                            return;
                        }
                        stream.message().await
                    } else {
                        match tokio::time::timeout(cuts.linger - age, stream.message()).await {
                            Ok(got) => got,
                            Err(_) => {
                                if tx.send(Event::Batch(builder.finish())).await.is_err() {
                                    return;
                                }
                                stream.message().await
                            }
                        }
                    }
                }
            }
        };
        match got {
            Ok(Some(m)) => {
                if m.offset <= last {
                    continue; // a new leader may resend what was delivered: nothing is seen twice
                }
                last = m.offset;
                if builder.is_empty() {
                    started = Instant::now();
                }
                builder.push(&m);
                let full = builder.len() >= cuts.rows || builder.bytes >= cuts.bytes;
                if full && tx.send(Event::Batch(builder.finish())).await.is_err() {
                    return;
                }
            }
            end => {
                if !builder.is_empty() && tx.send(Event::Batch(builder.finish())).await.is_err() {
                    return;
                }
                let _ = tx
                    .send(match end {
                        Err(status) => Event::Failed(status),
                        _ => Event::End,
                    })
                    .await;
                return;
            }
        }
    }
}
