//! `liftbridge_nb.models.Ack` objects made from `proto.Ack`s, without running Python per ack.
//!
//! Ack is a frozen dataclass with slots: an object is allocated as `object.__new__` allocates it,
//! and its fields are set through the slots' own setters, as its `__init__` does with
//! `object.__setattr__` (no lookup of the name per field).

use std::ffi::c_void;

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

/// A field's slot: its descriptor and the descriptor's setter.
struct Slot {
    descriptor: PyObject,
    set: ffi::descrsetfunc,
}

/// Makes Acks: the class and its allocator, its fields' slots, and the AckPolicy members by number.
pub struct AckMaker {
    class: Py<PyType>,
    alloc: ffi::allocfunc,
    slots: Vec<Slot>,
    policies: Vec<PyObject>,
}

/// The function in a type's slot `id`, if it has one.
fn type_slot(class: &Bound<'_, PyType>, id: std::ffi::c_int) -> *mut c_void {
    // SAFETY: a valid type object, the GIL held.
    unsafe { ffi::PyType_GetSlot(class.as_type_ptr(), id) }
}

/// The Python strings of the texts most acks repeat (their stream, subjects and inbox): one
/// string per run of equal texts instead of one per ack.
#[derive(Default)]
pub struct Texts([Option<(String, Py<PyString>)>; 4]);

impl Texts {
    fn get<'py>(&mut self, py: Python<'py>, which: usize, text: String) -> Bound<'py, PyAny> {
        match &self.0[which] {
            Some((last, string)) if *last == text => string.bind(py).clone().into_any(),
            _ => {
                let string = PyString::new(py, &text);
                self.0[which] = Some((text, string.clone().unbind()));
                string.into_any()
            }
        }
    }
}

impl AckMaker {
    pub fn new(class: Bound<'_, PyType>, policies: Vec<PyObject>) -> PyResult<Self> {
        let not_slotted = || {
            pyo3::exceptions::PyTypeError::new_err(format!(
                "{} is not a class with slots for the fields of an Ack",
                class
            ))
        };
        let alloc = type_slot(&class, ffi::Py_tp_alloc);
        if alloc.is_null() {
            return Err(not_slotted());
        }
        let mut slots = Vec::with_capacity(FIELDS.len());
        for name in FIELDS {
            let descriptor = class.getattr(name)?;
            let set = type_slot(&descriptor.get_type(), ffi::Py_tp_descr_set);
            if set.is_null() {
                return Err(not_slotted());
            }
            // SAFETY: what a type's tp_descr_set slot holds is a descrsetfunc.
            let set = unsafe { std::mem::transmute::<*mut c_void, ffi::descrsetfunc>(set) };
            slots.push(Slot {
                descriptor: descriptor.unbind(),
                set,
            });
        }
        Ok(AckMaker {
            // SAFETY: what a type's tp_alloc slot holds is an allocfunc.
            alloc: unsafe { std::mem::transmute::<*mut c_void, ffi::allocfunc>(alloc) },
            class: class.unbind(),
            slots,
            policies,
        })
    }

    /// The Ack of a message published to `partition` (`texts`: strings made for earlier acks).
    pub fn make<'py>(
        &self,
        py: Python<'py>,
        ack: Ack,
        partition: i32,
        texts: &mut Texts,
    ) -> PyResult<Bound<'py, PyAny>> {
        // SAFETY: the class's own allocator, the GIL held; a new reference or NULL with an error.
        let object = unsafe {
            let raw = (self.alloc)(self.class.bind(py).as_type_ptr(), 0);
            Bound::from_owned_ptr_or_err(py, raw)?
        };
        let policy = match usize::try_from(ack.ack_policy)
            .ok()
            .and_then(|p| self.policies.get(p))
        {
            Some(member) => member.clone_ref(py).into_bound(py),
            None => ack.ack_policy.into_pyobject(py)?.into_any(),
        };
        let values: [Bound<'py, PyAny>; 10] = [
            texts.get(py, 0, ack.stream),
            partition.into_pyobject(py)?.into_any(),
            ack.offset.into_pyobject(py)?.into_any(),
            texts.get(py, 1, ack.partition_subject),
            texts.get(py, 2, ack.msg_subject),
            texts.get(py, 3, ack.ack_inbox),
            PyString::new(py, &ack.correlation_id).into_any(),
            policy,
            ack.reception_timestamp.into_pyobject(py)?.into_any(),
            ack.commit_timestamp.into_pyobject(py)?.into_any(),
        ];
        for (slot, value) in self.slots.iter().zip(values) {
            // SAFETY: the slot's descriptor and setter, a new object of its class, the GIL held;
            // the setter takes its own reference to the value.
            let set =
                unsafe { (slot.set)(slot.descriptor.as_ptr(), object.as_ptr(), value.as_ptr()) };
            if set != 0 {
                return Err(PyErr::fetch(py));
            }
        }
        Ok(object)
    }
}
