//! Support code shared by pybase's integration tests.
//!
//! Each test file that needs it declares `mod support;` and uses what it needs, so most
//! items are unused in any one test binary: dead-code warnings are switched off here.
//!
//! - [`fake_bridge`]: an in-process fake of BuildKit's LLBBridge gateway service, served
//!   over an in-memory HTTP/2 connection, that records what the frontend asked for.
//!
//! `fixtures.rs` (copies of the fixture projects) is no module of it: the tests that need it
//! include it by path alone.

#![allow(dead_code)]

pub mod fake_bridge;
