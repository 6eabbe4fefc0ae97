//! A PyO3 extension module with one function, built by maturin.

use pyo3::prelude::*;

/// `a + b`, computed in Rust.
#[pyfunction]
fn add(a: i64, b: i64) -> i64 {
    a + b
}

#[pymodule]
fn rust_ext(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(add, m)?)
}
