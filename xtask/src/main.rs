//! `cargo xtask`: pybase's developer tasks, one subcommand each.
//!
//! - `up` provisions what the end-to-end tests need on a Debian 12 machine (Docker Engine with
//!   BuildKit, a loopback registry, the test base image, arm64 emulation with an amd64+arm64
//!   index of that image in the registry, the frontend image); see [`up`].
//! - `demo` provisions what it needs (no arm64 emulation, no lock tools), builds the example
//!   service with the frontend and runs it; see [`demo`].
//! - `test` runs `up`, then formatting, lints and every test; see [`test`].
//! - `release` cross-compiles the frontend for linux/amd64 and linux/arm64 and builds, tags
//!   (`X.Y.Z`, `X.Y`, `X`) and pushes one image index of both; see [`release`].
//! - `bench` runs `up`, then measures pybase against peer Dockerfiles, a
//!   tier against a service alone, and per-package venv layers against one
//!   venv layer, printing tables; see [`bench`].
//!
//! Progress goes to stderr, so a CI log reads top to bottom; `up`'s closing summary goes to
//! stdout. Any failure ends the process with a non-zero exit code.

mod bench;
mod cmd;
mod demo;
mod release;
mod test;
mod up;

use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

/// Developer tasks for pybase.
#[derive(Parser)]
#[command(name = "cargo xtask", version, about)]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Provision (idempotently) Docker Engine with BuildKit, the loopback registry on
    /// 127.0.0.1:5000, the test base image, arm64 emulation (qemu-user-static) with an
    /// amd64+arm64 index of the base image in the registry, and the frontend image built from
    /// this tree.
    Up,
    /// Provision what the demo needs (`up` without arm64 emulation and the lock tools), then
    /// build the example service with the frontend and run it.
    Demo,
    /// Run `up`, then `cargo fmt --check`, clippy, the workflow linters and every test,
    /// end-to-end ones included.
    Test {
        /// The engine to run on: `trixie` swaps the daemon for Debian trixie's Docker 26.1
        /// (BuildKit v0.13, classic image store, no MergeOp); the next run without it swaps back
        #[arg(long, value_enum, default_value_t = up::Engine::Default)]
        engine: up::Engine,
    },
    /// Cross-compile the static frontend for linux/amd64 and linux/arm64 and build one image
    /// index of both, tagged REGISTRY/pybase-frontend:X.Y.Z, :X.Y and :X; load it, or push it.
    Release {
        /// The registry path the image goes under, e.g. ghcr.io/OWNER or localhost:5000/NAME
        #[arg(long)]
        registry: String,
        /// The version to release: the workspace's, from Cargo.toml (anything else is refused)
        #[arg(long)]
        version: String,
        /// Push the index (without it, it is loaded into the local image store)
        #[arg(long)]
        push: bool,
    },
    /// Run `up`, then benchmark pybase against two peer Dockerfiles, a tier
    /// against a service alone, and per-package venv layers against one venv
    /// layer; prints Markdown tables. Prunes the build cache.
    Bench {
        /// How many times to run each tool's sequence of builds (the
        /// per-package venv section runs once).
        #[arg(long, default_value_t = 3)]
        reps: usize,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.task) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // The chain, without the backtrace that RUST_BACKTRACE would add to `{:?}`.
            eprintln!("error: {err}");
            for cause in err.chain().skip(1) {
                eprintln!("  Caused by: {cause}");
            }
            ExitCode::FAILURE
        }
    }
}

fn run(task: Task) -> Result<()> {
    let root = cmd::repo_root()?;
    match task {
        Task::Up => up::run(&root),
        Task::Demo => demo::run(&root),
        Task::Test { engine } => test::run(&root, engine),
        Task::Release {
            registry,
            version,
            push,
        } => release::run(
            &root,
            &release::Request {
                registry: &registry,
                version: &version,
                push,
            },
        ),
        Task::Bench { reps } => bench::run(&root, reps),
    }
}
