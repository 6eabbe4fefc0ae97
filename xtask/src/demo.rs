//! `cargo xtask demo`: provisions what the demo needs (`up` without arm64 emulation and the lock
//! tools, which only tests use), builds the example service with the pybase frontend, runs it.
//!
//! Tests map the Docker Hub base image the spec names onto the local test image through a named
//! build context, and pass the machine's CA bundle as a build secret (PyPI is reached through a
//! TLS-intercepting proxy that only that bundle trusts).

use std::path::Path;
use std::process::Command;

use anyhow::Result;

use crate::{cmd, up};

/// The example project's build context, relative to the repository root.
const PROJECT_DIR: &str = "testdata/projects/inventory";
/// Its pybase spec, relative to the repository root.
const SPEC: &str = "testdata/projects/inventory/pybase.yaml";
/// The spec's target to build.
const TARGET: &str = "inventory";
/// The base image the spec names, mapped onto the local test base image.
const BASE_CONTEXT: &str = "python:3.12-slim=docker-image://pybase-test/python:3.11";
/// The CA bundle, passed as the `ca-bundle` secret.
const CA_SECRET: &str = "id=ca-bundle,src=/etc/ssl/certs/ca-certificates.crt";
/// The image the demo builds and runs.
const IMAGE: &str = "pybase-demo/inventory:latest";

/// Provisions, builds the example service's image and runs it, its output on stdout.
pub fn run(root: &Path) -> Result<()> {
    up::run_for(root, up::Needs::Demo, up::Engine::Default)?;
    cmd::step("demo: build", || {
        cmd::run(
            Command::new("docker")
                .current_dir(root)
                .args(["buildx", "build", "-f", SPEC, "--target", TARGET])
                .args(["--build-context", BASE_CONTEXT, "--secret", CA_SECRET])
                .args(["--load", "-t", IMAGE, PROJECT_DIR]),
        )
    })?;
    cmd::step("demo: run", || {
        cmd::run(Command::new("docker").args(["run", "--rm", IMAGE]))
    })
}
