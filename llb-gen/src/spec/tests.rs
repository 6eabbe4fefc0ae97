//! Tests of spec parsing and validation.
