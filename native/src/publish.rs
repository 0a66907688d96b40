//! One PublishAsync stream: requests sent as Python encoded them, responses handed back in bulk.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use http::uri::PathAndQuery;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use tokio::sync::{mpsc, oneshot, watch};
use tonic::transport::Channel;
use tonic::{Code, Status};

use crate::codec::RawCodec;
use crate::proto::PublishResponse;
use crate::runtime::{ended, runtime, wait};
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
        closed: watch::Receiver<bool>,
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
                _ = ended(closed) => {
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

/// What `publish_batch` sends: encoded requests, each with its correlation id, its stream (an ack
/// names its stream: several streams may share a subject, each acking with the same id) and
/// whether an ack is to come (ack policy NONE: none).
pub struct Batch {
    pub requests: Vec<Vec<u8>>,
    pub ids: Vec<String>,
    pub streams: Vec<String>,
    pub acked: Vec<bool>,
    pub window: usize,
    pub ack_timeout: Duration,
}

/// Each request's encoded response (None: none came in time, or the stream broke first), and the
/// status that broke the stream, if it broke.
pub type Outcome = (Vec<Option<Vec<u8>>>, Option<Status>);

/// Send a batch over a PublishAsync call of its own, at most `window` requests awaiting an ack.
pub async fn publish_batch(channel: Channel, max_message_bytes: usize, batch: Batch) -> Outcome {
    let n = batch.requests.len();
    let mut out: Vec<Option<Vec<u8>>> = vec![None; n];
    let mut grpc = tonic::client::Grpc::new(channel).max_decoding_message_size(max_message_bytes);
    if let Err(e) = grpc.ready().await {
        return (out, Some(Status::unavailable(e.to_string())));
    }
    let (tx, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
    let body = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    let path = PathAndQuery::from_static("/proto.API/PublishAsync");
    let call = grpc.streaming(
        tonic::Request::new(body),
        path,
        RawCodec::<Vec<u8>>::default(),
    );
    let mut requests = batch.requests.into_iter().enumerate();
    let mut waiting: HashMap<String, usize> = HashMap::new();
    let mut deadlines: VecDeque<(Instant, usize)> = VecDeque::new();
    let mut settled = vec![false; n];
    // Fill the window before the call's headers arrive: the server answers only once it reads.
    let mut send = |waiting: &mut HashMap<String, usize>,
                    deadlines: &mut VecDeque<(Instant, usize)>| {
        while waiting.len() < batch.window.max(1) {
            let Some((i, request)) = requests.next() else {
                return false;
            };
            if tx.send(request).is_err() {
                return false;
            }
            if batch.acked[i] {
                waiting.insert(batch.ids[i].clone(), i);
                deadlines.push_back((Instant::now() + batch.ack_timeout, i));
            }
        }
        true
    };
    let mut more = send(&mut waiting, &mut deadlines);
    let mut stream = match call.await {
        Ok(r) => r.into_inner(),
        Err(status) => return (out, Some(status)),
    };
    while more || !waiting.is_empty() {
        while let Some(&(_, i)) = deadlines.front() {
            if settled[i] || !waiting.contains_key(&batch.ids[i]) {
                deadlines.pop_front(); // acked already
            } else {
                break;
            }
        }
        let next = match deadlines.front() {
            Some(&(at, _)) => tokio::time::timeout_at(at.into(), stream.message()).await,
            None => Ok(stream.message().await),
        };
        match next {
            Err(_) => {
                let (_, i) = deadlines.pop_front().expect("the deadline that passed");
                waiting.remove(&batch.ids[i]); // no ack in time: None
            }
            Ok(Ok(Some(raw))) => {
                let Ok(resp) = <PublishResponse as prost::Message>::decode(raw.as_slice()) else {
                    continue;
                };
                let ack = resp.ack.as_ref();
                let id = if resp.correlation_id.is_empty() {
                    ack.map(|a| a.correlation_id.as_str()).unwrap_or_default()
                } else {
                    resp.correlation_id.as_str()
                };
                let Some(&i) = waiting.get(id) else { continue };
                if resp.async_error.is_none()
                    && ack.map(|a| a.stream.as_str()) != Some(&batch.streams[i])
                {
                    continue; // another stream on the same subject: this message's own ack is to come
                }
                waiting.remove(id);
                settled[i] = true;
                out[i] = Some(raw);
            }
            Ok(Ok(None)) => {
                return (out, Some(Status::unavailable("the publish stream ended")));
            }
            Ok(Err(status)) => return (out, Some(status)),
        }
        if more {
            more = send(&mut waiting, &mut deadlines);
        }
    }
    (out, None)
}
