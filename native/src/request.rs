//! PublishRequests encoded from Python `Message`s (a batch's, read once with the GIL held).
//!
//! Tags follow `proto/api.proto`'s PublishRequest: key 1, value 2, stream 3, partition 4,
//! headers 5 (map<string, bytes>), correlationId 7, ackPolicy 8, expectedOffset 9. Fields at
//! their default are left out, as every protobuf encoder does, except `expectedOffset`, whose
//! "no expectation" is -1, not the default 0.

use bytes::BufMut;
use prost::encoding::{encode_key, encode_varint, encoded_len_varint, WireType};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

/// Ack policy NONE (`proto.AckPolicy`): no ack comes.
const ACK_NONE: i32 = 2;

/// One request of a batch: its encoding, and what matching its ack needs.
pub struct Request {
    pub bytes: Vec<u8>,
    pub id: String,
    pub stream: String,
    pub acked: bool,
}

fn put_bytes(tag: u32, data: &[u8], out: &mut Vec<u8>) {
    encode_key(tag, WireType::LengthDelimited, out);
    encode_varint(data.len() as u64, out);
    out.put_slice(data);
}

fn put_varint(tag: u32, value: u64, out: &mut Vec<u8>) {
    encode_key(tag, WireType::Varint, out);
    encode_varint(value, out);
}

fn entry_len(name: &[u8], value: &[u8]) -> usize {
    let field = |n: usize| {
        if n == 0 {
            0
        } else {
            1 + encoded_len_varint(n as u64) + n
        }
    };
    field(name.len()) + field(value.len())
}

/// A `Message`'s PublishRequest to `partition`; `id` is its correlation id unless it has its own.
///
/// The attributes are those `liftbridge_nb.models.Message` guarantees: `value` bytes, `key` bytes
/// or None, `stream` str, `headers` a dict of str to bytes, `ack_policy` an int, `expected_offset`
/// an int or None, `correlation_id` a str or None.
pub fn encode(message: &Bound<'_, PyAny>, partition: i32, id: String) -> PyResult<Request> {
    let py = message.py();
    let value = message.getattr(intern!(py, "value"))?;
    let value = value.downcast::<PyBytes>()?.as_bytes();
    let key = message.getattr(intern!(py, "key"))?;
    let key = if key.is_none() {
        &[][..]
    } else {
        key.downcast::<PyBytes>()?.as_bytes()
    };
    let stream: String = message.getattr(intern!(py, "stream"))?.extract()?;
    let headers = message.getattr(intern!(py, "headers"))?;
    let headers = headers.downcast::<PyDict>()?;
    let policy: i32 = message.getattr(intern!(py, "ack_policy"))?.extract()?;
    let expected: Option<i64> = message.getattr(intern!(py, "expected_offset"))?.extract()?;
    let own: Option<String> = message.getattr(intern!(py, "correlation_id"))?.extract()?;
    let id = own.filter(|s| !s.is_empty()).unwrap_or(id);

    let mut out = Vec::with_capacity(value.len() + key.len() + stream.len() + id.len() + 32);
    if !key.is_empty() {
        put_bytes(1, key, &mut out);
    }
    if !value.is_empty() {
        put_bytes(2, value, &mut out);
    }
    if !stream.is_empty() {
        put_bytes(3, stream.as_bytes(), &mut out);
    }
    if partition != 0 {
        put_varint(4, partition as i64 as u64, &mut out);
    }
    for (name, value) in headers.iter() {
        let name = name.downcast_into::<pyo3::types::PyString>()?;
        let name = name.to_str()?.as_bytes();
        let value = value.downcast_into::<PyBytes>()?;
        let value = value.as_bytes();
        encode_key(5, WireType::LengthDelimited, &mut out);
        encode_varint(entry_len(name, value) as u64, &mut out);
        if !name.is_empty() {
            put_bytes(1, name, &mut out);
        }
        if !value.is_empty() {
            put_bytes(2, value, &mut out);
        }
    }
    if !id.is_empty() {
        put_bytes(7, id.as_bytes(), &mut out);
    }
    if policy != 0 {
        put_varint(8, policy as i64 as u64, &mut out);
    }
    put_varint(9, expected.unwrap_or(-1) as u64, &mut out);
    Ok(Request {
        bytes: out,
        id,
        stream,
        acked: policy != ACK_NONE,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    /// `proto.PublishRequest` as prost would decode it (the encoder above writes it by hand).
    #[derive(Clone, PartialEq, prost::Message)]
    struct PublishRequest {
        #[prost(bytes = "vec", tag = "1")]
        key: Vec<u8>,
        #[prost(bytes = "vec", tag = "2")]
        value: Vec<u8>,
        #[prost(string, tag = "3")]
        stream: String,
        #[prost(int32, tag = "4")]
        partition: i32,
        #[prost(map = "string, bytes", tag = "5")]
        headers: HashMap<String, Vec<u8>>,
        #[prost(string, tag = "7")]
        correlation_id: String,
        #[prost(int32, tag = "8")]
        ack_policy: i32,
        #[prost(int64, tag = "9")]
        expected_offset: i64,
    }

    fn encoded(fields: &str, partition: i32) -> (Request, PublishRequest) {
        pyo3::prepare_freethreaded_python();
        Python::with_gil(|py| {
            let code = format!(
                "__import__('types').SimpleNamespace(**{{**dict(value=b'', key=None, stream='s', \
                 headers={{}}, ack_policy=0, expected_offset=None, correlation_id=None), \
                 **dict({fields})}})"
            );
            let code = std::ffi::CString::new(code).unwrap();
            let message = py.eval(&code, None, None).unwrap();
            let request = encode(&message, partition, "p-1f".into()).unwrap();
            let decoded = <PublishRequest as prost::Message>::decode(&request.bytes[..]).unwrap();
            (request, decoded)
        })
    }

    #[test]
    fn a_bare_message_expects_no_offset_and_gets_the_batch_id() {
        let (request, decoded) = encoded("", 0);
        assert_eq!(
            (request.id.as_str(), request.stream.as_str()),
            ("p-1f", "s")
        );
        assert!(request.acked);
        assert_eq!(decoded.expected_offset, -1);
        assert_eq!((decoded.partition, decoded.ack_policy), (0, 0));
        assert_eq!(decoded.correlation_id, "p-1f");
        assert!(decoded.key.is_empty() && decoded.value.is_empty() && decoded.headers.is_empty());
    }

    #[test]
    fn every_field_a_message_sets_is_encoded() {
        let (request, decoded) = encoded(
            "value=b'v'*300, key=b'k', headers={'a': b'1', 'e': b'', '': b'x'}, ack_policy=2, \
             expected_offset=7, correlation_id='mine'",
            3,
        );
        assert!(!request.acked && request.id == "mine");
        assert_eq!(decoded.value, vec![b'v'; 300]);
        assert_eq!(decoded.key, b"k");
        assert_eq!((decoded.partition, decoded.ack_policy), (3, 2));
        assert_eq!(decoded.expected_offset, 7);
        assert_eq!(decoded.correlation_id, "mine");
        let want: HashMap<String, Vec<u8>> = [("a", &b"1"[..]), ("e", b""), ("", b"x")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_vec()))
            .collect();
        assert_eq!(decoded.headers, want);
    }
}
