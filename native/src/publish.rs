//! One PublishAsync stream: requests sent as Python encoded them, responses handed back in bulk;
//! and one message published and its ack made here (`PublishCall.publish`).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::uri::PathAndQuery;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};
use tokio::sync::{mpsc, watch};
use tonic::transport::Channel;
use tonic::{Code, Status};

use crate::acks::{AckMaker, Texts};
use crate::codec::RawCodec;
use crate::proto::{Ack, PublishAsyncError, PublishResponse};
use crate::request;
use crate::runtime::{ended, receive, runtime, wait, Canceller};
use crate::status::{classify, failure, failure_from};

/// Responses handed to Python at most this many at a time.
const DRAIN: usize = 4096;

/// The longest a lone `publish` spins for its response (see `runtime::receive`): twice its call's
/// usual round trip, while that is under this; a longer round trip (a remote broker) gets none.
const SPIN_LIMIT: Duration = Duration::from_millis(1);

/// How long a batch's `answers` waits after the first answer for more, while more are to come:
/// Python then wakes once per many acks, not once per few (17 acks a wake, without).
const LINGER: Duration = Duration::from_millis(2);

enum Event {
    Response(Vec<u8>),
    Failed(Status),
    End,
}

/// A caller of `publish`: the stream its message goes to, and where its response goes.
struct Waiter {
    stream: String,
    reply: std::sync::mpsc::SyncSender<Result<PublishResponse, Status>>,
}

/// The callers waiting for a response, by correlation id; None once the call is over.
type Waiters = Arc<Mutex<Option<HashMap<String, Waiter>>>>;

/// A PublishAsync call: `send` queues an encoded PublishRequest (it never blocks), `responses`
/// waits for the next encoded PublishResponses (GIL released), `publish` sends one message and
/// waits for its own response (which `responses` then does not give), `close` ends the requests
/// (the server still acks what it has), `cancel` ends the call at once.
#[pyclass(frozen, module = "liftbridge_nb._native")]
pub struct PublishCall {
    requests: Mutex<Option<mpsc::UnboundedSender<Vec<u8>>>>,
    events: tokio::sync::Mutex<mpsc::UnboundedReceiver<Event>>,
    last: Mutex<Option<Event>>,
    waiters: Waiters,
    cancel: Canceller,
    acks: AckMaker,
    /// The strings of the last ack `publish` made (the next mostly repeats them).
    texts: Mutex<Texts>,
    /// A moving average of `publish`'s round trips, in µs (what it spins for).
    round_trip: AtomicU64,
}

impl PublishCall {
    pub fn start(
        channel: Channel,
        max_message_bytes: usize,
        acks: AckMaker,
        closed: watch::Receiver<bool>,
    ) -> Self {
        let (requests, requests_rx) = mpsc::unbounded_channel();
        let (tx, rx) = mpsc::unbounded_channel();
        let (cancel, cancel_rx) = Canceller::new();
        let waiters = Waiters::new(Mutex::new(Some(HashMap::new())));
        let watching = waiters.clone();
        runtime().spawn(async move {
            let end = tokio::select! {
                biased;
                _ = cancel_rx => Some(Status::cancelled("cancelled by the client")),
                _ = ended(closed) => Some(Status::cancelled("the client is closed")),
                end = run(channel, requests_rx, max_message_bytes, &tx, &watching) => end,
            };
            let status = end
                .clone()
                .unwrap_or_else(|| Status::unavailable("the publish stream ended"));
            let left = watching.lock().expect("waiters lock").take();
            for (_, waiter) in left.into_iter().flatten() {
                let _ = waiter.reply.try_send(Err(status.clone()));
            }
            let _ = tx.send(end.map_or(Event::End, Event::Failed));
        });
        PublishCall {
            requests: Mutex::new(Some(requests)),
            events: tokio::sync::Mutex::new(rx),
            last: Mutex::new(None),
            waiters,
            cancel,
            acks,
            texts: Mutex::new(Texts::default()),
            round_trip: AtomicU64::new(SPIN_LIMIT.as_micros() as u64 / 2),
        }
    }

    /// How long `publish` spins: twice the usual round trip, none when that is over the limit.
    fn spin(&self) -> Duration {
        let twice = Duration::from_micros(2 * self.round_trip.load(Ordering::Relaxed));
        if twice > SPIN_LIMIT {
            Duration::ZERO
        } else {
            twice
        }
    }

    /// Count a round trip into the average (by an eighth; racing updates lose one, harmlessly).
    fn took(&self, round_trip: Duration) {
        let average = self.round_trip.load(Ordering::Relaxed) as i64;
        let sample = round_trip.as_micros().min(u64::MAX as u128) as i64;
        let next = average + (sample - average) / 8;
        self.round_trip.store(next.max(0) as u64, Ordering::Relaxed);
    }

    fn forget(&self, correlation_id: &str) {
        if let Some(map) = self.waiters.lock().expect("waiters lock").as_mut() {
            map.remove(correlation_id);
        }
    }

    fn queue(&self, request: Vec<u8>) -> PyResult<()> {
        let guard = self.requests.lock().expect("requests lock");
        match guard.as_ref().map(|tx| tx.send(request)) {
            Some(Ok(())) => Ok(()),
            _ => Err(failure(Code::Cancelled, "the publish stream is closed")),
        }
    }
}

#[pymethods]
impl PublishCall {
    /// Queue one encoded PublishRequest; raises `RpcFailure` (CANCELLED) once the call is closed.
    fn send(&self, request: &[u8]) -> PyResult<()> {
        self.queue(request.to_vec())
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

    /// Publish a Python `Message` (of ack policy leader or all) to `partition` and wait up to
    /// `timeout` seconds (GIL released) for its response: the one with its correlation id (its
    /// own, else `id`) that refuses it or acks it for its stream (several streams may share a
    /// subject). Returns the `Ack` (made as the call's `ack_type`), a refusal as
    /// (`PublishAsyncError` code, text), the request's size when it is over `max_request_bytes`
    /// (it is not sent), or None when the time ran out; raises `RpcFailure` when the call ends
    /// first.
    fn publish<'py>(
        &self,
        py: Python<'py>,
        message: &Bound<'py, PyAny>,
        partition: i32,
        id: String,
        timeout: f64,
        max_request_bytes: usize,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let request = request::encode(message, partition, id)?;
        if !request.acked {
            return Err(pyo3::exceptions::PyValueError::new_err(
                "a message of ack policy NONE gets no response to wait for",
            ));
        }
        if request.bytes.len() > max_request_bytes {
            return Ok(Some(request.bytes.len().into_pyobject(py)?.into_any()));
        }
        let (reply, rx) = std::sync::mpsc::sync_channel(1);
        let waiter = Waiter {
            stream: request.stream,
            reply,
        };
        match self.waiters.lock().expect("waiters lock").as_mut() {
            Some(map) => map.insert(request.id.clone(), waiter),
            None => return Err(failure(Code::Cancelled, "the publish stream is closed")),
        };
        if let Err(e) = self.queue(request.bytes) {
            self.forget(&request.id);
            return Err(e);
        }
        let sent = Instant::now();
        let response = match receive(py, Some(timeout), rx, self.spin()) {
            Ok(Some(Ok(response))) => {
                self.took(sent.elapsed());
                response
            }
            Ok(Some(Err(status))) => return Err(failure_from(&status)),
            Ok(None) => {
                self.forget(&request.id);
                return Ok(None);
            }
            Err(interrupted) => {
                self.forget(&request.id);
                return Err(interrupted);
            }
        };
        if let Some(error) = response.async_error {
            return Ok(Some(
                (error.code, error.message).into_pyobject(py)?.into_any(),
            ));
        }
        let mut texts = self.texts.lock().expect("texts lock");
        let ack = response.ack.unwrap_or_default();
        self.acks.make(py, ack, partition, &mut texts).map(Some)
    }

    /// End the requests: the server acks what it has, then ends the call.
    fn close(&self) {
        self.requests.lock().expect("requests lock").take();
    }

    /// End the call now (any thread).
    fn cancel(&self) {
        self.close();
        self.cancel.fire();
    }
}

/// Run the call: each response to its waiter (`send_and_wait`), the others to `tx`; returns what
/// ended it (None: the server ended the call).
async fn run(
    channel: Channel,
    mut requests: mpsc::UnboundedReceiver<Vec<u8>>,
    max_message_bytes: usize,
    tx: &mpsc::UnboundedSender<Event>,
    waiters: &Waiters,
) -> Option<Status> {
    let mut grpc = tonic::client::Grpc::new(channel).max_decoding_message_size(max_message_bytes);
    if let Err(e) = grpc.ready().await {
        return Some(Status::unavailable(e.to_string()));
    }
    let body = futures_util::stream::poll_fn(move |cx| requests.poll_recv(cx));
    let path = PathAndQuery::from_static("/proto.API/PublishAsync");
    let codec = RawCodec::<Vec<u8>>::default();
    let mut stream = match grpc.streaming(tonic::Request::new(body), path, codec).await {
        Ok(r) => r.into_inner(),
        Err(status) => return Some(status),
    };
    loop {
        match stream.message().await {
            Ok(Some(bytes)) => match waiter_of(waiters, &bytes) {
                Some((waiter, response)) => {
                    let _ = waiter.reply.try_send(Ok(response));
                }
                None if tx.send(Event::Response(bytes)).is_err() => return None,
                None => {}
            },
            Ok(None) => return None,
            Err(status) => return Some(status),
        }
    }
}

/// The waiter a response answers (taken from `waiters`), if any, and the response decoded.
fn waiter_of(waiters: &Waiters, response: &[u8]) -> Option<(Waiter, PublishResponse)> {
    let mut guard = waiters.lock().expect("waiters lock");
    let map = guard.as_mut().filter(|m| !m.is_empty())?;
    let resp = <PublishResponse as prost::Message>::decode(response).ok()?;
    let id = resp.id();
    if !resp.answers(&map.get(id)?.stream) {
        return None; // another stream's ack on the same subject: the waiter's own is to come
    }
    let waiter = map.remove(id)?;
    Some((waiter, resp))
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

/// What a batch's task tells Python: a request's ack or refusal, as it comes, and, last, the
/// status that broke the stream (None: every request was answered, timed out or needs none).
pub enum Answer {
    Ack(usize, Ack),
    Refused(usize, PublishAsyncError),
    Done(Option<Status>),
}

/// Send a batch over a PublishAsync call of its own, at most `window` requests awaiting an ack, each
/// response handed to `answers` as it comes.
///
/// The requests end (half-close) once every one was answered (see `Sender::fill`): the server then
/// ends the call, which also ends a batch of ack policy NONE (the server sends nothing for it, not
/// even headers, until then).
pub async fn publish_batch(
    channel: Channel,
    max_message_bytes: usize,
    batch: Batch,
    answers: &mpsc::UnboundedSender<Answer>,
) -> Option<Status> {
    let n = batch.requests.len();
    let mut answered = vec![false; n];
    let mut grpc = tonic::client::Grpc::new(channel).max_decoding_message_size(max_message_bytes);
    if let Err(e) = grpc.ready().await {
        return Some(Status::unavailable(e.to_string()));
    }
    let (tx, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
    let body = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    let path = PathAndQuery::from_static("/proto.API/PublishAsync");
    let call = grpc.streaming(
        tonic::Request::new(body),
        path,
        RawCodec::<Vec<u8>>::default(),
    );
    let mut sender = Sender {
        tx: Some(tx),
        requests: batch.requests.into_iter().enumerate(),
        waiting: HashMap::new(),
        deadlines: VecDeque::new(),
        window: batch.window.max(1),
        ack_timeout: batch.ack_timeout,
    };
    // Fill the window before the call's headers arrive: the server sends them with its first ack.
    sender.fill(&batch.ids, &batch.acked);
    let started = match sender.deadlines.front() {
        Some(&(at, _)) => tokio::time::timeout_at(at.into(), call).await,
        None => Ok(call.await),
    };
    let mut stream = match started {
        Ok(Ok(r)) => r.into_inner(),
        Ok(Err(status)) => return Some(status),
        Err(_) => return None, // not even headers within the ack timeout: every ack is late
    };
    while sender.tx.is_some() || !sender.waiting.is_empty() {
        // The oldest deadline of a message still waiting (those answered are skipped as they come up).
        while let Some(&(_, i)) = sender.deadlines.front() {
            if answered[i] || !sender.waiting.contains_key(&batch.ids[i]) {
                sender.deadlines.pop_front();
            } else {
                break;
            }
        }
        let next = match sender.deadlines.front() {
            Some(&(at, _)) => tokio::time::timeout_at(at.into(), stream.message()).await,
            None => Ok(stream.message().await),
        };
        match next {
            Err(_) => {
                let (_, i) = sender
                    .deadlines
                    .pop_front()
                    .expect("the deadline that passed");
                sender.waiting.remove(&batch.ids[i]); // no ack in time: no answer
            }
            Ok(Ok(Some(raw))) => {
                if let Some((i, answer)) = sender.match_response(&raw, &batch.streams) {
                    answered[i] = true;
                    if answers.send(answer).is_err() {
                        return None; // nobody listens any more
                    }
                }
            }
            Ok(Ok(None)) if sender.tx.is_none() && sender.waiting.is_empty() => break,
            Ok(Ok(None)) => return Some(Status::unavailable("the publish stream ended")),
            Ok(Err(status)) => return Some(status),
        }
        sender.fill(&batch.ids, &batch.acked);
    }
    None
}

/// A refusal handed to Python: the index of its request, the `PublishAsyncError` code and text.
type Refusal = (usize, i32, String);

/// A batch published in the native runtime (`Connections.publish_batch`): `answers` gives the
/// acks and refusals as they come, `failure` what broke the stream once the batch is over.
#[pyclass(frozen, module = "liftbridge_nb._native")]
pub struct BatchCall {
    answers: tokio::sync::Mutex<mpsc::UnboundedReceiver<Answer>>,
    done: Mutex<Option<Option<(i32, String)>>>,
    /// The position among the messages of each request sent (the batch's requests leave out those
    /// too large), and its partition.
    positions: Vec<(usize, i32)>,
    /// Answers still to come (the requests that await an ack), as `answers` counts them.
    awaited: AtomicUsize,
    acks: AckMaker,
    too_large: Vec<(usize, usize)>,
    task: tokio::task::AbortHandle,
}

impl BatchCall {
    pub fn start(
        channel: Channel,
        max_message_bytes: usize,
        batch: Batch,
        positions: Vec<(usize, i32)>,
        acks: AckMaker,
        too_large: Vec<(usize, usize)>,
        closed: watch::Receiver<bool>,
    ) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let awaited = AtomicUsize::new(batch.acked.iter().filter(|&&a| a).count());
        let task = runtime().spawn(async move {
            let broken = tokio::select! {
                biased;
                _ = ended(closed) => Some(Status::cancelled("the client is closed")),
                broken = publish_batch(channel, max_message_bytes, batch, &tx) => broken,
            };
            let _ = tx.send(Answer::Done(broken));
        });
        BatchCall {
            answers: tokio::sync::Mutex::new(rx),
            done: Mutex::new(None),
            positions,
            awaited,
            acks,
            too_large,
            task: task.abort_handle(),
        }
    }
}

#[pymethods]
impl BatchCall {
    /// Wait up to `timeout` seconds for answers; each ack that came is put into `results` at its
    /// message's position, as an Ack. Returns the positions acked and the refusals (two empty lists
    /// when nothing came); None once the batch is over.
    fn answers(
        &self,
        py: Python<'_>,
        timeout: f64,
        results: &Bound<'_, PyList>,
    ) -> PyResult<Option<(Vec<usize>, Vec<Refusal>)>> {
        if self.done.lock().expect("done lock").is_some() {
            return Ok(None);
        }
        let first = wait(py, Some(timeout), || async {
            self.answers.lock().await.recv().await
        })?;
        if matches!(first, Some(Some(Answer::Ack(..) | Answer::Refused(..))))
            && self.awaited.load(Ordering::Relaxed) > 1
        {
            // The next answers come meanwhile, without waking Python. (A wait that ends before the
            // sleep does loses nothing; the answer taken above stays with this call.)
            wait(py, Some(1.0), || async { tokio::time::sleep(LINGER).await })?;
        }
        let (mut acks, mut refusals) = (Vec::new(), Vec::new());
        let mut texts = Texts::default();
        let mut next =
            first.map(|a| a.unwrap_or(Answer::Done(Some(Status::internal("the batch stopped")))));
        while let Some(answer) = next.take() {
            if !matches!(answer, Answer::Done(_)) {
                let _ = self
                    .awaited
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
            }
            match answer {
                Answer::Ack(i, a) => {
                    let (position, partition) = self.positions[i];
                    results.set_item(position, self.acks.make(py, a, partition, &mut texts)?)?;
                    acks.push(position);
                }
                Answer::Refused(i, e) => refusals.push((self.positions[i].0, e.code, e.message)),
                Answer::Done(broken) => {
                    let broken = broken.map(|s| {
                        let (code, message) = classify(&s);
                        (code as i32, message)
                    });
                    *self.done.lock().expect("done lock") = Some(broken);
                    break;
                }
            }
            if acks.len() + refusals.len() < DRAIN {
                next = self
                    .answers
                    .try_lock()
                    .ok()
                    .and_then(|mut rx| rx.try_recv().ok());
            }
        }
        if acks.is_empty() && refusals.is_empty() && self.done.lock().expect("done lock").is_some()
        {
            return Ok(None);
        }
        Ok(Some((acks, refusals)))
    }

    /// The requests not sent for their size: (index, encoded size), in order.
    #[getter]
    fn too_large(&self) -> Vec<(usize, usize)> {
        self.too_large.clone()
    }

    /// What broke the stream, as (gRPC code, text), once the batch is over; None if nothing did.
    fn failure(&self) -> Option<(i32, String)> {
        self.done.lock().expect("done lock").clone().flatten()
    }

    /// Stop the batch: what was not answered gets no answer.
    fn cancel(&self) {
        self.task.abort();
    }
}

impl Drop for BatchCall {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The sending side of `publish_batch`: what is left to send, and what awaits an ack.
struct Sender {
    /// None once every request was sent (the requests' end, a half-close).
    tx: Option<mpsc::UnboundedSender<Vec<u8>>>,
    requests: std::iter::Enumerate<std::vec::IntoIter<Vec<u8>>>,
    /// Correlation id: request index.
    waiting: HashMap<String, usize>,
    /// When each request sent awaits its ack until, in the order sent.
    deadlines: VecDeque<(Instant, usize)>,
    window: usize,
    ack_timeout: Duration,
}

impl Sender {
    /// Send until `window` requests await an ack, or none is left; end the requests once every
    /// one was sent and answered (or timed out).
    ///
    /// Not sooner: the server ends the call when it has had as many acks as requests in flight,
    /// counting every stream's, and several streams on one subject each ack each message; so the
    /// message's own acks, still to come, would be lost.
    fn fill(&mut self, ids: &[String], acked: &[bool]) {
        let Some(tx) = &self.tx else { return };
        while self.waiting.len() < self.window {
            let Some((i, request)) = self.requests.next() else {
                break;
            };
            if tx.send(request).is_err() {
                self.tx = None; // the call is over: what is waiting fails with it
                return;
            }
            if acked[i] {
                self.waiting.insert(ids[i].clone(), i);
                self.deadlines
                    .push_back((Instant::now() + self.ack_timeout, i));
            }
        }
        if self.requests.len() == 0 && self.waiting.is_empty() {
            self.tx = None;
        }
    }

    /// The request a response answers, no longer waiting, and the answer; None if it answers none
    /// of them (timed out, or an ack of another stream on the same subject: the message's own is to
    /// come).
    fn match_response(&mut self, raw: &[u8], streams: &[String]) -> Option<(usize, Answer)> {
        let resp = <PublishResponse as prost::Message>::decode(raw).ok()?;
        let id = resp.id();
        let &i = self.waiting.get(id)?;
        if !resp.answers(&streams[i]) {
            return None;
        }
        self.waiting.remove(id);
        let answer = match (resp.async_error, resp.ack) {
            (Some(error), _) => Answer::Refused(i, error),
            (None, ack) => Answer::Ack(i, ack.unwrap_or_default()),
        };
        Some((i, answer))
    }
}
