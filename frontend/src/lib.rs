//! The `pybase` binary's library: the BuildKit gateway frontend and the CLI.
//!
//! [`gateway`] runs a build inside BuildKit (the frontend image's entry
//! point), over the connection and LLBBridge calls of [`bridge`]; [`cli`]
//! gives people and CI the same checks and LLB without BuildKit;
//! [`options`] types BuildKit's frontend options; [`subrequests`] answers
//! `--call`; [`probe`] looks into a base image for its Python and C library.
//! All decisions about what to build live in the `llb-gen` crate; this crate
//! only does I/O (gRPC, files) around it.

pub mod bridge;
pub mod cli;
pub mod gateway;
pub mod options;
pub mod probe;
pub mod subrequests;
