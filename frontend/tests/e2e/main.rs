//! End-to-end tests in a real BuildKit, through `docker buildx build`.
//!
//! They need what `cargo xtask up` provides: a Docker daemon with buildx, the
//! test base image `pybase-test/python:3.11` and the frontend image
//! `localhost:5000/pybase-frontend:dev` built from this tree. The spec names
//! `python:3.12-slim`; the tests map it onto the local image with
//! `--build-context`, as a user would map a mirror. The two-platform test
//! maps it onto the amd64+arm64 index `localhost:5000/pybase-test/python:3.11`
//! and runs the arm64 image under the qemu emulation `up` registers.
//!
//! With `CI=true` or `PYBASE_E2E=1` a missing daemon fails the tests; without
//! either, they are skipped with a message (a laptop without Docker).
//! `PYBASE_E2E_FRONTEND=REF` builds with the frontend image `REF` instead of
//! `:dev` (`BUILDKIT_SYNTAX`), so a second checkout never overwrites the tag.
//! Builds run one at a time (a 2-core machine), and each test copies the
//! fixture to a fresh directory so it can change files.
//!
//! One test binary, so that one lock file keeps two runs off one daemon:
//! [`harness`] holds what the tests share, and they stand in a module a
//! topic: [`layers`], [`image`], [`locks`], [`lock_target`] (`--target lock`), [`apps`], [`tiers`], [`seeds`],
//! [`secrets`], [`options`] (`--add-host`, `--network`, `--no-cache-filter system`, secrets
//! from the client's environment), [`platforms`], [`proxies`], [`reproducibility`], [`workspaces`] (with
//! Poetry path dependencies), [`release`] (`cargo xtask release` to the
//! loopback registry, and a build with the released frontend),
//! [`sbom`] (`--sbom=true`'s SPDX document and `--provenance=mode=max`,
//! pushed to the loopback registry), [`real`], the corpus of published
//! projects, [`init_real`], `pybase init` on it, and [`cache`], a code
//! change on an emptied daemon (`docker builder prune -af`, twice) with
//! `--cache-from` a registry or inline cache (every test after it in the
//! run builds its shared steps again), and [`venv_layers`], a venv assembled
//! from per-distribution layers compared with the single layer `uv sync`
//! makes.

mod apps;
mod cache;
#[path = "../support/fixtures.rs"]
mod fixtures;
mod harness;
mod image;
mod init_real;
mod layers;
mod lock_target;
mod locks;
mod options;
mod platforms;
mod proxies;
mod real;
mod release;
mod reproducibility;
mod sbom;
mod secrets;
mod seeds;
mod tiers;
mod venv_layers;
mod workspaces;
