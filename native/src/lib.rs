//! `liftbridge_nb._native`: the data plane of liftbridge-nb (Python owns the API, routing and retries).

mod acks;
mod batch;
mod codec;
mod connections;
mod proto;
mod publish;
mod request;
mod runtime;
mod status;
mod subscribe;

use pyo3::prelude::*;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<connections::Connections>()?;
    m.add_class::<subscribe::Call>()?;
    m.add_class::<publish::PublishCall>()?;
    m.add_class::<publish::BatchCall>()?;
    m.add_class::<batch::Batch>()?;
    m.add("RpcFailure", m.py().get_type::<status::RpcFailure>())?;
    m.add_function(wrap_pyfunction!(runtime::shutdown, m)?)?;
    m.add_function(wrap_pyfunction!(runtime::waiting, m)?)?;
    Ok(())
}
