//! `liftbridge_nb.models.Ack` objects made from `proto.Ack`s, without running Python per ack.
//!
//! Ack is a frozen dataclass with slots: its fields are set through the slots' descriptors, as its
//! own `__init__` does with `object.__setattr__`.

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyString, PyType};

use crate::proto::Ack;

/// Ack's fields, in the order `make` sets them.
const FIELDS: [&str; 10] = [
    "stream",
    "partition",
    "offset",
    "partition_subject",
    "msg_subject",
    "ack_inbox",
    "correlation_id",
    "ack_policy",
    "reception_timestamp",
    "commit_timestamp",
];

/// Makes Acks: the class, its fields' names, and the AckPolicy members by number.
pub struct AckMaker {
    class: Py<PyType>,
    names: Vec<Py<PyString>>,
    policies: Vec<PyObject>,
}

impl AckMaker {
    pub fn new(class: Bound<'_, PyType>, policies: Vec<PyObject>) -> Self {
        let py = class.py();
        AckMaker {
            names: FIELDS
                .iter()
                .map(|n| PyString::intern(py, n).unbind())
                .collect(),
            class: class.unbind(),
            policies,
        }
    }

    /// The Ack of a message published to `partition`.
    pub fn make<'py>(
        &self,
        py: Python<'py>,
        ack: Ack,
        partition: i32,
    ) -> PyResult<Bound<'py, PyAny>> {
        let class = self.class.bind(py);
        let object = class.call_method1(pyo3::intern!(py, "__new__"), (class,))?;
        let policy = match usize::try_from(ack.ack_policy)
            .ok()
            .and_then(|p| self.policies.get(p))
        {
            Some(member) => member.clone_ref(py).into_bound(py),
            None => ack.ack_policy.into_pyobject(py)?.into_any(),
        };
        let values: [Bound<'py, PyAny>; 10] = [
            PyString::new(py, &ack.stream).into_any(),
            partition.into_pyobject(py)?.into_any(),
            ack.offset.into_pyobject(py)?.into_any(),
            PyString::new(py, &ack.partition_subject).into_any(),
            PyString::new(py, &ack.msg_subject).into_any(),
            PyString::new(py, &ack.ack_inbox).into_any(),
            PyString::new(py, &ack.correlation_id).into_any(),
            policy,
            ack.reception_timestamp.into_pyobject(py)?.into_any(),
            ack.commit_timestamp.into_pyobject(py)?.into_any(),
        ];
        for (name, value) in self.names.iter().zip(values) {
            // SAFETY: three valid objects, the GIL held; the generic setter takes its own references.
            let set = unsafe {
                ffi::PyObject_GenericSetAttr(object.as_ptr(), name.as_ptr(), value.as_ptr())
            };
            if set != 0 {
                return Err(PyErr::fetch(py));
            }
        }
        Ok(object)
    }
}
