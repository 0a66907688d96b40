//! One PublishAsync stream: requests sent as Python encoded them, responses handed back in bulk.

use std::sync::Mutex;

use http::uri::PathAndQuery;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use tokio::sync::{mpsc, oneshot, watch};
use tonic::transport::Channel;
use tonic::{Code, Status};

use crate::codec::RawCodec;
use crate::runtime::{runtime, wait};
use crate::status::{failure, failure_from};

/// Responses handed to Python at most this many at a time.
const DRAIN: usize = 4096;

enum Event {
    Response(Vec<u8>),
    Failed(Status),
    End,
}

/// A PublishAsync call: `send` queues an encoded PublishRequest (it never blocks), `responses`
/// waits for the next encoded PublishResponses (GIL released), `close` ends the requests (the
/// server still acks what it has), `cancel` ends the call at once.
#[pyclass(frozen, module = "liftbridge_nb._native")]
pub struct PublishCall {
    requests: Mutex<Option<mpsc::UnboundedSender<Vec<u8>>>>,
    events: tokio::sync::Mutex<mpsc::UnboundedReceiver<Event>>,
    last: Mutex<Option<Event>>,
    cancel: Mutex<Option<oneshot::Sender<()>>>,
}

impl PublishCall {
    pub fn start(
        channel: Channel,
        max_message_bytes: usize,
        mut closed: watch::Receiver<bool>,
    ) -> Self {
        let (requests, requests_rx) = mpsc::unbounded_channel();
        let (tx, rx) = mpsc::unbounded_channel();
        let (cancel_tx, cancel_rx) = oneshot::channel();
        runtime().spawn(async move {
            let tx2 = tx.clone();
            tokio::select! {
                biased;
                _ = cancel_rx => {
                    let _ = tx2.send(Event::Failed(Status::cancelled("cancelled by the client")));
                }
                _ = async { closed.wait_for(|c| *c).await.is_ok() } => {
                    let _ = tx2.send(Event::Failed(Status::cancelled("the client is closed")));
                }
                _ = run(channel, requests_rx, max_message_bytes, tx) => {}
            }
        });
        PublishCall {
            requests: Mutex::new(Some(requests)),
            events: tokio::sync::Mutex::new(rx),
            last: Mutex::new(None),
            cancel: Mutex::new(Some(cancel_tx)),
        }
    }
}

#[pymethods]
impl PublishCall {
    /// Queue one encoded PublishRequest; raises `RpcFailure` (CANCELLED) once the call is closed.
    fn send(&self, request: &[u8]) -> PyResult<()> {
        let guard = self.requests.lock().expect("requests lock");
        match guard.as_ref().map(|tx| tx.send(request.to_vec())) {
            Some(Ok(())) => Ok(()),
            _ => Err(failure(Code::Cancelled, "the publish stream is closed")),
        }
    }

    /// The next encoded PublishResponses (at least one); None when the call ended; raises
    /// `RpcFailure` when it failed (after every response before). `TimeoutError` after `timeout`.
    #[pyo3(signature = (timeout=None))]
    fn responses<'py>(
        &self,
        py: Python<'py>,
        timeout: Option<f64>,
    ) -> PyResult<Option<Vec<Bound<'py, PyBytes>>>> {
        let first = match self.last.lock().expect("last lock").take() {
            Some(event) => Some(event),
            None => wait(py, timeout, || async {
                self.events.lock().await.recv().await
            })?
            .map(|e| {
                e.unwrap_or(Event::Failed(Status::internal(
                    "the native publisher stopped",
                )))
            }),
        };
        let mut out = Vec::new();
        let mut next = first;
        loop {
            match next {
                None => return Err(pyo3::exceptions::PyTimeoutError::new_err("no response yet")),
                Some(Event::Response(bytes)) => out.push(PyBytes::new(py, &bytes)),
                Some(end) => {
                    if out.is_empty() {
                        return match end {
                            Event::Failed(status) => Err(failure_from(&status)),
                            _ => Ok(None),
                        };
                    }
                    *self.last.lock().expect("last lock") = Some(end); // for the next call
                    return Ok(Some(out));
                }
            }
            if out.len() >= DRAIN {
                return Ok(Some(out));
            }
            match self
                .events
                .try_lock()
                .ok()
                .and_then(|mut rx| rx.try_recv().ok())
            {
                Some(event) => next = Some(event),
                None => return Ok(Some(out)),
            }
        }
    }

    /// End the requests: the server acks what it has, then ends the call.
    fn close(&self) {
        self.requests.lock().expect("requests lock").take();
    }

    /// End the call now (any thread).
    fn cancel(&self) {
        self.close();
        if let Some(tx) = self.cancel.lock().expect("cancel lock").take() {
            let _ = tx.send(());
        }
    }
}

impl Drop for PublishCall {
    fn drop(&mut self) {
        self.cancel();
    }
}

async fn run(
    channel: Channel,
    mut requests: mpsc::UnboundedReceiver<Vec<u8>>,
    max_message_bytes: usize,
    tx: mpsc::UnboundedSender<Event>,
) {
    let mut grpc = tonic::client::Grpc::new(channel).max_decoding_message_size(max_message_bytes);
    if let Err(e) = grpc.ready().await {
        let _ = tx.send(Event::Failed(Status::unavailable(e.to_string())));
        return;
    }
    let body = futures_util::stream::poll_fn(move |cx| requests.poll_recv(cx));
    let path = PathAndQuery::from_static("/proto.API/PublishAsync");
    let codec = RawCodec::<Vec<u8>>::default();
    let mut stream = match grpc.streaming(tonic::Request::new(body), path, codec).await {
        Ok(r) => r.into_inner(),
        Err(status) => {
            let _ = tx.send(Event::Failed(status));
            return;
        }
    };
    loop {
        let event = match stream.message().await {
            Ok(Some(bytes)) => Event::Response(bytes),
            Ok(None) => Event::End,
            Err(status) => Event::Failed(status),
        };
        let over = !matches!(event, Event::Response(_));
        if tx.send(event).is_err() || over {
            return;
        }
    }
}
