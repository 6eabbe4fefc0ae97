//! `cargo xtask up`: provisions everything the end-to-end tests need, idempotently.
//!
//! The shell-heavy steps (Docker Engine, registry, base image, arm64 emulation and the
//! multi-platform base image, the lock tools, image build and push, summary)
//! live in `xtask/provision.sh`, called once per step; this module sequences them and builds the
//! static frontend binary with cargo. See the script's header for what goes where on the machine.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Result;

use crate::cmd;

/// The provisioning script, relative to the repository root.
const PROVISION_SCRIPT: &str = "xtask/provision.sh";
/// The frontend image's Dockerfile (its `prebuilt` target), relative to the repository root.
const FRONTEND_DOCKERFILE: &str = "Dockerfile.frontend";
/// The package holding the frontend binary, and the binary's name.
const FRONTEND_PACKAGE: &str = "pybase";
/// The only Rust target installed here; with crt-static it gives a static binary for scratch.
const TARGET_TRIPLE: &str = "x86_64-unknown-linux-gnu";

/// Provisions the engine, the registry, the base image, arm64 emulation with the multi-platform
/// base image, the lock tools, and the frontend image, then prints a summary on stdout.
pub fn run(root: &Path) -> Result<()> {
    run_for(root, Needs::Everything, Engine::Default)
}

/// The Docker Engine the tasks run on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Engine {
    /// Debian forky's Docker 28.5 (else trixie's) with the containerd image store: MergeOp.
    #[default]
    Default,
    /// Debian trixie's Docker 26.1 (BuildKit v0.13) on the classic image store: no MergeOp, as
    /// most users' engines. The next run without it switches back.
    Trixie,
}

/// What a task needs provisioned.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// The tests and the benchmark: everything.
    Everything,
    /// The demo: one amd64 build with the frontend (no arm64 emulation or multi-platform base
    /// image, no lock tools), the quickest path on a fresh machine.
    Demo,
}

/// Provisions what `needs` asks for, then prints the summary (which says what is missing).
pub fn run_for(root: &Path, needs: Needs, engine: Engine) -> Result<()> {
    match engine {
        Engine::Default => cmd::step("up: Docker Engine and BuildKit", || {
            provision(root, &["engine"])
        })?,
        Engine::Trixie => cmd::step("up: test engine Debian trixie (classic store)", || {
            provision(root, &["engine-switch", "trixie"])
        })?,
    }
    cmd::step("up: loopback registry", || provision(root, &["registry"]))?;
    cmd::step("up: test base image", || provision(root, &["base-image"]))?;
    if needs == Needs::Everything {
        cmd::step(
            "up: arm64 emulation and the multi-platform test base image",
            || provision(root, &["multiarch-base"]),
        )?;
        cmd::step("up: lock tools (uv, pip-tools, Poetry)", || {
            provision(root, &["lock-tools"])
        })?;
    }
    cmd::step("up: frontend image", || frontend_image(root))?;
    cmd::step("up: summary", || provision(root, &["summary"]))
}

/// Builds the frontend statically, then the `prebuilt` image from it, tagged and pushed.
fn frontend_image(root: &Path) -> Result<()> {
    cmd::run(
        cmd::cargo()
            .current_dir(root)
            .env("RUSTFLAGS", "-C target-feature=+crt-static")
            .args(["build", "--release", "--target", TARGET_TRIPLE])
            .args(["--package", FRONTEND_PACKAGE]),
    )?;
    let binary = target_dir(root)
        .join(TARGET_TRIPLE)
        .join("release")
        .join(FRONTEND_PACKAGE);
    let dockerfile = root.join(FRONTEND_DOCKERFILE);
    provision(
        root,
        &[
            "frontend-image".as_ref(),
            binary.as_os_str(),
            dockerfile.as_os_str(),
        ],
    )
}

/// Cargo's target directory: `$CARGO_TARGET_DIR`, else `target/` in the workspace.
pub fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(|dir| root.join(dir))
        .unwrap_or_else(|| root.join("target"))
}

/// Runs one step of the provisioning script.
pub fn provision<S: AsRef<std::ffi::OsStr>>(root: &Path, args: &[S]) -> Result<()> {
    cmd::run(
        Command::new("bash")
            .arg(root.join(PROVISION_SCRIPT))
            .args(args)
            .current_dir(root),
    )
}
