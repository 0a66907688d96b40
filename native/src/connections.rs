//! A few HTTP/2 channels per broker address, plaintext or TLS (mutual TLS with a client identity).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::{PyList, PyType};
use tokio::sync::watch;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use tonic::Code;

use crate::acks::AckMaker;
use crate::publish::{Batch, BatchCall, PublishCall};
use crate::request;
use crate::runtime::runtime;
use crate::status::failure;
use crate::subscribe::{Call, Limits};

/// The client's channels, by broker address; `close()` ends every call.
#[pyclass(frozen, module = "liftbridge_nb._native")]
pub struct Connections {
    tls: Option<ClientTlsConfig>,
    connect_timeout: Duration,
    keepalive: Duration,
    max_message_bytes: usize,
    pool: usize,
    turn: AtomicUsize,
    channels: Mutex<Option<HashMap<String, Vec<Channel>>>>,
    closed: watch::Sender<bool>,
}

impl Connections {
    fn channel(&self, address: &str) -> PyResult<Channel> {
        let mut guard = self.channels.lock().expect("channels lock");
        let Some(channels) = guard.as_mut() else {
            return Err(failure(Code::Cancelled, "the client is closed"));
        };
        let pool = channels.entry(address.to_string()).or_default();
        let turn = self.turn.fetch_add(1, Ordering::Relaxed) % self.pool;
        if let Some(c) = pool.get(turn) {
            return Ok(c.clone());
        }
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        let bad = |e: tonic::transport::Error| {
            pyo3::exceptions::PyValueError::new_err(format!("broker address {address:?}: {e}"))
        };
        let mut endpoint = Endpoint::from_shared(format!("{scheme}://{address}"))
            .map_err(bad)?
            .connect_timeout(self.connect_timeout)
            .tcp_nodelay(true)
            .http2_keep_alive_interval(self.keepalive)
            .keep_alive_while_idle(false);
        if let Some(tls) = &self.tls {
            endpoint = endpoint.tls_config(tls.clone()).map_err(bad)?;
        }
        let _entered = runtime().enter();
        let channel = endpoint.connect_lazy();
        pool.push(channel.clone());
        Ok(channel)
    }
}

#[pymethods]
impl Connections {
    /// Channels in plaintext, or with `tls`: the CA (PEM; None trusts the system's roots), a client
    /// certificate and key (PEM) for mutual TLS, and the name to check in the server's certificate
    /// instead of the host.
    ///
    /// Each broker gets up to `pool` channels, used in turn; HTTP/2 pings go every `keepalive`
    /// seconds while a call is open; a message may be up to `max_message_bytes`.
    #[new]
    #[pyo3(signature = (*, tls=false, ca=None, cert=None, key=None, server_name=None, connect_timeout=5.0, keepalive=360.0, max_message_bytes=64 << 20, pool=2))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        tls: bool,
        ca: Option<Vec<u8>>,
        cert: Option<Vec<u8>>,
        key: Option<Vec<u8>>,
        server_name: Option<String>,
        connect_timeout: f64,
        keepalive: f64,
        max_message_bytes: usize,
        pool: usize,
    ) -> PyResult<Self> {
        let tls = tls.then(|| {
            let mut config = match ca {
                Some(ca) => ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca)),
                None => ClientTlsConfig::new().with_native_roots(),
            };
            if let (Some(cert), Some(key)) = (cert, key) {
                config = config.identity(Identity::from_pem(cert, key));
            }
            if let Some(name) = server_name {
                config = config.domain_name(name);
            }
            config
        });
        Ok(Connections {
            tls,
            connect_timeout: Duration::from_secs_f64(connect_timeout.max(0.001)),
            keepalive: Duration::from_secs_f64(keepalive.max(1.0)),
            max_message_bytes,
            pool: pool.max(1),
            turn: AtomicUsize::new(0),
            channels: Mutex::new(Some(HashMap::new())),
            closed: watch::Sender::new(false),
        })
    }

    /// Start a Subscribe call to `address` with `request` (an encoded SubscribeRequest).
    ///
    /// Messages at or below offset `after` are dropped (a resubscription's repeats). Batches are
    /// cut at `rows` messages or `bytes` of keys and values, or when none is ready and the batch
    /// is `linger` seconds old; at most `buffer` batches wait for Python.
    #[pyo3(signature = (address, request, *, after=-1, rows=65536, bytes=16 << 20, linger=0.0, buffer=4))]
    #[allow(clippy::too_many_arguments)]
    fn subscribe(
        &self,
        address: &str,
        request: &[u8],
        after: i64,
        rows: usize,
        bytes: usize,
        linger: f64,
        buffer: usize,
    ) -> PyResult<Call> {
        let channel = self.channel(address)?;
        let limits = Limits {
            after,
            rows,
            bytes,
            linger,
            buffer,
            max_message_bytes: self.max_message_bytes,
        };
        Ok(Call::start(
            channel,
            request.to_vec(),
            limits,
            self.closed.subscribe(),
        ))
    }

    /// Open a PublishAsync call to `address`; its `publish` makes acks as `ack_type` objects,
    /// their policy the member of `policies` (as `publish_batch` does).
    #[pyo3(signature = (address, *, ack_type, policies))]
    fn publish(
        &self,
        address: &str,
        ack_type: Bound<'_, PyType>,
        policies: Vec<PyObject>,
    ) -> PyResult<PublishCall> {
        let channel = self.channel(address)?;
        Ok(PublishCall::start(
            channel,
            self.max_message_bytes,
            AckMaker::new(ack_type, policies)?,
            self.closed.subscribe(),
        ))
    }

    /// Publish `messages` (Python `Message`s, each to its partition in `partitions`) over a
    /// PublishAsync call of its own (see `publish::publish_batch`), at most `window` awaiting an
    /// ack, each for up to `ack_timeout` seconds. A message without a correlation id gets
    /// `id_prefix` and its position in hex. One whose request is over `max_request_bytes` is not
    /// sent (`BatchCall.too_large`): a broker would fail the whole stream.
    ///
    /// Acks are made as `ack_type` objects (`liftbridge_nb.models.Ack`), their policy the member of
    /// `policies` (AckPolicy's, by number).
    #[pyo3(signature = (address, messages, partitions, *, ack_type, policies, id_prefix, window=1024, ack_timeout=5.0, max_request_bytes=4 << 20))]
    #[allow(clippy::too_many_arguments)]
    fn publish_batch(
        &self,
        address: &str,
        messages: &Bound<'_, PyList>,
        partitions: Vec<i32>,
        ack_type: Bound<'_, PyType>,
        policies: Vec<PyObject>,
        id_prefix: &str,
        window: usize,
        ack_timeout: f64,
        max_request_bytes: usize,
    ) -> PyResult<BatchCall> {
        let n = messages.len();
        if partitions.len() != n {
            return Err(pyo3::exceptions::PyValueError::new_err(
                "messages and partitions go together: a partition per message",
            ));
        }
        let channel = self.channel(address)?;
        let mut batch = Batch {
            requests: Vec::with_capacity(n),
            ids: Vec::with_capacity(n),
            streams: Vec::with_capacity(n),
            acked: Vec::with_capacity(n),
            window,
            ack_timeout: Duration::from_secs_f64(ack_timeout.max(0.0)),
        };
        let (mut positions, mut too_large) = (Vec::with_capacity(n), Vec::new());
        for (i, (message, partition)) in messages.iter().zip(partitions).enumerate() {
            let request = request::encode(&message, partition, format!("{id_prefix}{i:x}"))?;
            if request.bytes.len() > max_request_bytes {
                too_large.push((i, request.bytes.len()));
                continue;
            }
            positions.push((i, partition));
            batch.requests.push(request.bytes);
            batch.ids.push(request.id);
            batch.streams.push(request.stream);
            batch.acked.push(request.acked);
        }
        Ok(BatchCall::start(
            channel,
            self.max_message_bytes,
            batch,
            positions,
            AckMaker::new(ack_type, policies)?,
            too_large,
            self.closed.subscribe(),
        ))
    }

    /// Close every channel: open calls end with CANCELLED, later ones fail.
    fn close(&self) {
        self.channels.lock().expect("channels lock").take();
        self.closed.send_replace(true);
    }
}
