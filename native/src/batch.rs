//! A partition's messages as Arrow columns, built as they arrive and handed to Python without a copy.

use std::ffi::CString;
use std::sync::Arc;

use arrow_array::builder::{BinaryBuilder, Int64Builder, MapBuilder, MapFieldNames, StringBuilder};
use arrow_array::types::TimestampNanosecondType;
use arrow_array::{
    Array, ArrayRef, BinaryArray, Int64Array, MapArray, PrimitiveArray, StringArray, StructArray,
};
use arrow_data::ffi::FFI_ArrowArray;
use arrow_schema::ffi::FFI_ArrowSchema;
use arrow_schema::{DataType, Field, Fields, TimeUnit};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyCapsule, PyDict, PyTuple};

use crate::proto::Message;

/// Headers every message carries, set by the server: not the publisher's (`SERVER_HEADERS` in Python).
const SERVER_HEADERS: [&str; 2] = ["subject", "reply"];

/// The columns of a batch, in order (read_stream renames ``reply`` to ``reply_subject``).
fn fields() -> Fields {
    let entries = Field::new(
        "entries",
        DataType::Struct(Fields::from(vec![
            Field::new("keys", DataType::Utf8, false),
            Field::new("values", DataType::Binary, true),
        ])),
        false,
    );
    Fields::from(vec![
        Field::new("offset", DataType::Int64, false),
        Field::new(
            "timestamp",
            DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
            false,
        ),
        Field::new("key", DataType::Binary, true),
        Field::new("value", DataType::Binary, false),
        Field::new("headers", DataType::Map(Arc::new(entries), false), false),
        Field::new("subject", DataType::Utf8, false),
        Field::new("reply", DataType::Utf8, false),
    ])
}

/// Builds one batch, message by message.
pub struct Builder {
    offset: Int64Builder,
    timestamp: Vec<i64>,
    key: BinaryBuilder,
    value: BinaryBuilder,
    headers: MapBuilder<StringBuilder, BinaryBuilder>,
    subject: StringBuilder,
    reply: StringBuilder,
    /// Bytes of keys and values so far: a batch is also cut by size.
    pub bytes: usize,
}

impl Builder {
    pub fn new() -> Self {
        Builder {
            offset: Int64Builder::new(),
            timestamp: Vec::new(),
            key: BinaryBuilder::new(),
            value: BinaryBuilder::new(),
            headers: MapBuilder::new(
                Some(MapFieldNames {
                    entry: "entries".into(),
                    key: "keys".into(),
                    value: "values".into(),
                }),
                StringBuilder::new(),
                BinaryBuilder::new(),
            ),
            subject: StringBuilder::new(),
            reply: StringBuilder::new(),
            bytes: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.timestamp.len()
    }

    pub fn is_empty(&self) -> bool {
        self.timestamp.is_empty()
    }

    pub fn push(&mut self, m: &Message) {
        self.offset.append_value(m.offset);
        self.timestamp.push(m.timestamp);
        if m.key.is_empty() {
            self.key.append_null();
        } else {
            self.key.append_value(&m.key);
        }
        self.value.append_value(&m.value);
        self.bytes += m.key.len() + m.value.len();
        if m.headers.len() > SERVER_HEADERS.len() {
            let mut own: Vec<(&String, &Vec<u8>)> = m
                .headers
                .iter()
                .filter(|(k, _)| !SERVER_HEADERS.contains(&k.as_str()))
                .collect();
            own.sort();
            for (k, v) in own {
                self.headers.keys().append_value(k);
                self.headers.values().append_value(v);
            }
        }
        self.headers
            .append(true)
            .expect("keys and values are appended in pairs");
        self.subject.append_value(&m.subject);
        self.reply.append_value(&m.reply_subject);
    }

    /// The batch so far; the builder starts empty again.
    pub fn finish(&mut self) -> Batch {
        let timestamp =
            PrimitiveArray::<TimestampNanosecondType>::from(std::mem::take(&mut self.timestamp))
                .with_timezone("UTC");
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.offset.finish()),
            Arc::new(timestamp),
            Arc::new(self.key.finish()),
            Arc::new(self.value.finish()),
            Arc::new(self.headers.finish()),
            Arc::new(self.subject.finish()),
            Arc::new(self.reply.finish()),
        ];
        self.bytes = 0;
        Batch {
            columns: StructArray::new(fields(), columns, None),
        }
    }
}

/// Messages of one partition as Arrow columns (offset, timestamp, key, value, headers, subject, reply).
///
/// `pyarrow.record_batch(batch)` takes it without a copy (the Arrow PyCapsule interface).
#[pyclass(frozen, module = "liftbridge_nb._native")]
pub struct Batch {
    columns: StructArray,
}

impl Batch {
    fn offsets(&self) -> &Int64Array {
        self.columns
            .column(0)
            .as_any()
            .downcast_ref()
            .expect("offset column")
    }
}

#[pymethods]
impl Batch {
    fn __len__(&self) -> usize {
        self.columns.len()
    }

    /// The first offset in the batch (-1 when empty).
    #[getter]
    fn first_offset(&self) -> i64 {
        let o = self.offsets();
        if o.is_empty() {
            -1
        } else {
            o.value(0)
        }
    }

    /// The last offset in the batch (-1 when empty).
    #[getter]
    fn last_offset(&self) -> i64 {
        let o = self.offsets();
        if o.is_empty() {
            -1
        } else {
            o.value(o.len() - 1)
        }
    }

    /// The Arrow PyCapsule interface: (schema capsule, array capsule) of a struct array.
    #[pyo3(signature = (requested_schema=None))]
    fn __arrow_c_array__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let _ = requested_schema; // the batch has one layout; a consumer casts if it wants another
        let data = self.columns.to_data();
        let schema = FFI_ArrowSchema::try_from(data.data_type())
            .map_err(|e| pyo3::exceptions::PyValueError::new_err(e.to_string()))?;
        let array = FFI_ArrowArray::new(&data);
        let schema = PyCapsule::new(py, schema, Some(CString::new("arrow_schema").unwrap()))?;
        let array = PyCapsule::new(py, array, Some(CString::new("arrow_array").unwrap()))?;
        PyTuple::new(py, [schema.into_any(), array.into_any()])
    }

    /// Each message as a tuple (offset, timestamp, key or None, value, headers, subject, reply).
    fn rows<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyTuple>>> {
        let c = &self.columns;
        let offset = self.offsets();
        let stamp: &PrimitiveArray<TimestampNanosecondType> = c
            .column(1)
            .as_any()
            .downcast_ref()
            .expect("timestamp column");
        let key: &BinaryArray = c.column(2).as_any().downcast_ref().expect("key column");
        let value: &BinaryArray = c.column(3).as_any().downcast_ref().expect("value column");
        let headers: &MapArray = c.column(4).as_any().downcast_ref().expect("headers column");
        let subject: &StringArray = c.column(5).as_any().downcast_ref().expect("subject column");
        let reply: &StringArray = c.column(6).as_any().downcast_ref().expect("reply column");
        let hkeys: &StringArray = headers
            .keys()
            .as_any()
            .downcast_ref()
            .expect("header names");
        let hvalues: &BinaryArray = headers
            .values()
            .as_any()
            .downcast_ref()
            .expect("header values");
        let bounds = headers.value_offsets();
        let mut out = Vec::with_capacity(c.len());
        for i in 0..c.len() {
            let h = PyDict::new(py);
            for j in bounds[i] as usize..bounds[i + 1] as usize {
                h.set_item(hkeys.value(j), PyBytes::new(py, hvalues.value(j)))?;
            }
            let k = if key.is_null(i) {
                py.None().into_bound(py)
            } else {
                PyBytes::new(py, key.value(i)).into_any()
            };
            out.push(PyTuple::new(
                py,
                [
                    offset.value(i).into_pyobject(py)?.into_any(),
                    stamp.value(i).into_pyobject(py)?.into_any(),
                    k,
                    PyBytes::new(py, value.value(i)).into_any(),
                    h.into_any(),
                    subject.value(i).into_pyobject(py)?.into_any(),
                    reply.value(i).into_pyobject(py)?.into_any(),
                ],
            )?);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(offset: i64, key: &[u8], headers: &[(&str, &[u8])]) -> Message {
        Message {
            offset,
            key: key.to_vec(),
            value: format!("v{offset}").into_bytes(),
            timestamp: 1_000 + offset,
            subject: "s.0".into(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_vec()))
                .collect(),
            ..Message::default()
        }
    }

    #[test]
    fn columns_hold_what_was_pushed() {
        let mut b = Builder::new();
        let server = [("subject", b"s.0" as &[u8]), ("reply", b"")];
        b.push(&message(7, b"", &server));
        b.push(&message(
            8,
            b"k",
            &[server[0], server[1], ("z", b"2"), ("a", b"1")],
        ));
        assert_eq!(b.len(), 2);
        assert_eq!(b.bytes, 2 + 2 + 1);
        let batch = b.finish();
        assert!(b.is_empty() && b.bytes == 0);
        assert_eq!((batch.first_offset(), batch.last_offset()), (7, 8));
        let c = &batch.columns;
        assert_eq!(c.fields(), &fields());
        let key: &BinaryArray = c.column(2).as_any().downcast_ref().unwrap();
        assert!(key.is_null(0) && key.value(1) == b"k");
        let headers: &MapArray = c.column(4).as_any().downcast_ref().unwrap();
        assert_eq!(headers.value_offsets(), &[0, 0, 2]); // the server's two are left out
        let names: &StringArray = headers.keys().as_any().downcast_ref().unwrap();
        assert_eq!((names.value(0), names.value(1)), ("a", "z")); // in name order
    }

    #[test]
    fn an_empty_batch_has_no_offsets() {
        let batch = Builder::new().finish();
        assert_eq!((batch.first_offset(), batch.last_offset()), (-1, -1));
        assert_eq!(batch.columns.len(), 0);
    }
}
