//! `cargo xtask test`: what CI runs (`.ci/run`): `up`, then formatting, lints and every test.
//!
//! The tests run with `PYBASE_E2E=1`, which tells the end-to-end tests that the daemon,
//! registry, base image and frontend image that `up` provides are there, so they run, not skip.

use std::path::Path;

use anyhow::Result;

use crate::{cmd, up};

/// Provisions, then checks formatting, lints with warnings denied, and runs the whole workspace's
/// tests; the first failure ends it.
pub fn run(root: &Path) -> Result<()> {
    up::run(root)?;
    cmd::step("test: rustfmt", || {
        cmd::run(
            cmd::cargo()
                .current_dir(root)
                .args(["fmt", "--all", "--check"]),
        )
    })?;
    cmd::step("test: clippy", || {
        cmd::run(cmd::cargo().current_dir(root).args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]))
    })?;
    cmd::step("test: cargo test", || {
        cmd::run(
            cmd::cargo()
                .current_dir(root)
                .env("PYBASE_E2E", "1")
                .args(["test", "--workspace"]),
        )
    })
}
