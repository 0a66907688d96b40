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

/// The failure for a status (see `classify`).
pub fn failure_from(status: &Status) -> PyErr {
    let (code, message) = classify(status);
    failure(code, &message)
}

/// A status's code and text: one the server sent keeps its code; one tonic made of a broken
/// connection (an h2 or transport error, UNKNOWN or INTERNAL) is UNAVAILABLE, as grpcio says.
pub fn classify(status: &Status) -> (Code, String) {
    let source = std::error::Error::source(status);
    let mut message = status.message().to_string();
    // What broke a connection is said at the end of the error's chain (an h2 GOAWAY and its reason).
    let mut cause = source;
    while let Some(error) = cause {
        let text = error.to_string();
        if !message.contains(&text) {
            if !message.is_empty() {
                message.push_str(": ");
            }
            message.push_str(&text);
        }
        cause = error.source();
    }
    let transport = source.is_some()
        || message.starts_with("h2 protocol error")
        || message.starts_with("transport error");
    let lost = transport && matches!(status.code(), Code::Unknown | Code::Internal);
    (
        if lost {
            Code::Unavailable
        } else {
            status.code()
        },
        message,
    )
}
