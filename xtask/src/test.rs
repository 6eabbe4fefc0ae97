//! `cargo xtask test`: what CI runs (`.ci/run`): `up`, then formatting, lints (of the code, and of
//! the GitHub workflow files) and every test. With `--engine trixie` it first swaps the daemon for
//! Debian trixie's Docker 26.1 on the classic image store (not in CI: one daemon at a time, and it
//! doubles the time); the next `up` swaps it back.
//!
//! The tests run with `PYBASE_E2E=1`, which tells the end-to-end tests that the daemon,
//! registry, base image and frontend image that `up` provides are there, so they run, not skip.
//! Before them, a machine short of disk gets room: the end-to-end tests fill a few GB, and a
//! full disk fails every build after the one that filled it.

use std::path::Path;
use std::process::Command;

use anyhow::Result;

use crate::{cmd, up};

/// The free space, in GB, wanted at Docker's root before the tests. On a warm machine, a whole
/// run's builds and temporary files took 2.5 GB more at their peak (the target directory aside);
/// from an empty build cache they take several GB more.
const FREE_DISK_GB: &str = "12";

/// Provisions, then checks formatting, lints with warnings denied, and runs the whole workspace's
/// tests; the first failure ends it.
pub fn run(root: &Path, engine: up::Engine) -> Result<()> {
    up::run_for(root, up::Needs::Everything, engine)?;
    cmd::step("test: free disk", || {
        up::provision(root, &["free-disk", FREE_DISK_GB])
    })?;
    cmd::step("test: rustfmt", || {
        cmd::run(cargo(root).args(["fmt", "--all", "--check"]))
    })?;
    cmd::step("test: clippy", || {
        cmd::run(cargo(root).args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]))
    })?;
    cmd::step("test: workflow lint", || lint_workflows(root))?;
    cmd::step("test: cargo test", || {
        cmd::run(
            // A failed test's message and location are its report; a backtrace of the test
            // harness after it would push the message's end out of a CI excerpt.
            cargo(root)
                .env("PYBASE_E2E", "1")
                .env("RUST_BACKTRACE", "0")
                .args(["test", "--workspace"]),
        )
    })
}

/// The workflow files: the repository's own, and the example for users.
const WORKFLOWS: [&str; 3] = [
    ".github/workflows/ci.yml",
    ".github/workflows/release.yml",
    "docs/examples/images.yml",
];
/// Where `provision.sh lint-tools` installs the linters.
const LINT_TOOLS: &str = "/opt/pybase-lint/bin";

/// Installs the linters, then checks the workflows against GitHub's workflow schema (the one
/// check-jsonschema vendors) and audits them with zizmor (offline: no GitHub API here; its
/// configuration is `.github/zizmor.yml`).
fn lint_workflows(root: &Path) -> Result<()> {
    up::provision(root, &["lint-tools"])?;
    let tools = Path::new(LINT_TOOLS);
    cmd::run(
        Command::new(tools.join("check-jsonschema"))
            .current_dir(root)
            .args(["--builtin-schema", "vendor.github-workflows"])
            .args(WORKFLOWS),
    )?;
    cmd::run(
        Command::new(tools.join("zizmor"))
            .current_dir(root)
            .arg("--offline")
            .args(WORKFLOWS),
    )
}

/// Cargo in the workspace. On CI (`CI=true`), which builds once from a clean checkout, without
/// incremental compilation: its cache (about 700 MB for the tests) would only take disk.
fn cargo(root: &Path) -> Command {
    let mut cargo = cmd::cargo();
    cargo.current_dir(root);
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        cargo.env("CARGO_INCREMENTAL", "0");
    }
    cargo
}
