//! gRPC failures as one Python exception; the Python side maps it to the client's error tree.

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::PyErr;
use tonic::{Code, Status};

create_exception!(
    _native,
    RpcFailure,
    PyException,
    "A call failed: args are (gRPC status code as an int, the status message)."
);

pub fn failure(code: Code, message: &str) -> PyErr {
    RpcFailure::new_err((code as i32, message.to_string()))
}

pub fn failure_from(status: &Status) -> PyErr {
    let message = if status.message().is_empty() {
        // tonic leaves the message empty for transport errors; the source says what happened.
        std::error::Error::source(status)
            .map(|s| s.to_string())
            .unwrap_or_default()
    } else {
        status.message().to_string()
    };
    failure(status.code(), &message)
}
