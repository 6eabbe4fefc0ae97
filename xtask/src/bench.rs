//! `cargo xtask bench`: pybase against hand-written Dockerfiles, a tier
//! against services built alone, and the venv in per-package layers against
//! a single venv layer, measured in the real BuildKit `up` gives.
//!
//! **Locked venvs.** The fixture `testdata/projects/inventory`, with the
//! pyproject.toml and uv.lock of `testdata/bench/ranged` (its dependencies
//! as ranges, locked at the fixture's pins, so that a lock bump changes
//! uv.lock alone, as `uv lock --upgrade-package` does), is built by
//! pybase and by two peers kept in `testdata/bench/`: `Dockerfile.uv-guide`
//! (the best practice of uv's Docker integration guide) and
//! `Dockerfile.naive` (`COPY . .`, then install). For each, from an empty
//! build cache: a cold build, a rebuild with no change, a code-only change,
//! a lock bump of a pure-Python package (six), a lock bump of the sdist
//! package (psycopg2), each a build loaded into the image store. Every
//! sequence runs `--reps` times; the table gives the minimum and median
//! wall time, the bytes of the layers that changed (uncompressed, read from
//! `docker save`) and the final image's bytes, and pybase's ratio to the
//! uv-guide peer.
//!
//! **Tiers.** The seed `testdata/seeds/004-cpu-ml-gpu` (three tiers, three
//! services): one service and its tiers alone, then every tier and service
//! in one bake session, each from an empty cache; then the bytes the images
//! hold in all, against the bytes of their distinct layers (what a
//! registry stores and a node pulls once).
//!
//! **Per-package venv layers** (issue 19): the fixture
//! `testdata/bench/layered` (numpy, scipy and 13 small pure-Python
//! packages) built with per-package venv layers, with `venv-layers: 1` and
//! by the uv-guide peer, one run each; see [`layered`].
//!
//! `PYBASE_BENCH_FRONTEND=IMAGE` makes the pybase builds use that frontend
//! image instead of the specs' `# syntax=` (`:dev`), as the e2e tests'
//! `PYBASE_E2E_FRONTEND` does.
//!
//! The build cache is pruned between runs (`docker buildx prune -af`): do
//! not run this while other builds use the daemon. Timings are printed,
//! never asserted.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::{cmd, up};

mod layered;

/// The local image the specs' and peers' `python:3.1x-slim` map onto.
const BASE_IMAGE: &str = "pybase-test/python:3.11";
/// The CA bundle, passed as the `ca-bundle` secret.
const CA_SECRET: &str = "id=ca-bundle,src=/etc/ssl/certs/ca-certificates.crt";

/// What builds the fixture.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Tool {
    Pybase,
    UvGuide,
    Naive,
}

impl Tool {
    const ALL: [Tool; 3] = [Tool::Pybase, Tool::UvGuide, Tool::Naive];

    fn name(self) -> &'static str {
        match self {
            Tool::Pybase => "pybase",
            Tool::UvGuide => "uv-guide",
            Tool::Naive => "naive",
        }
    }

    /// `docker buildx build` of the project in `dir`, loaded as `tag`.
    fn build(self, root: &Path, dir: &Path, tag: &str) -> Command {
        let mut command = buildx_load(tag);
        match self {
            Tool::Pybase => {
                command
                    .arg("-f")
                    .arg(dir.join("pybase.yaml"))
                    .args(["--target", "inventory"]);
                frontend_override(&mut command);
            }
            Tool::UvGuide | Tool::Naive => {
                command
                    .arg("-f")
                    .arg(root.join(format!("testdata/bench/Dockerfile.{}", self.name())));
            }
        }
        command
            .args([
                "--build-context",
                &format!("python:3.12-slim=docker-image://{BASE_IMAGE}"),
            ])
            .args(["--secret", CA_SECRET])
            .arg(dir);
        command
    }
}

/// A step of the sequence each tool goes through.
#[derive(Clone, Copy)]
enum Step {
    Cold,
    NoChange,
    CodeChange,
    PurePythonBump,
    SdistBump,
}

impl Step {
    const ALL: [Step; 5] = [
        Step::Cold,
        Step::NoChange,
        Step::CodeChange,
        Step::PurePythonBump,
        Step::SdistBump,
    ];

    fn label(self) -> &'static str {
        match self {
            Step::Cold => "cold build",
            Step::NoChange => "no-change rebuild",
            Step::CodeChange => "code-only change",
            Step::PurePythonBump => "lock bump: six (pure Python)",
            Step::SdistBump => "lock bump: psycopg2 (sdist)",
        }
    }

    /// Make the change this step measures in the project copy `dir`.
    fn apply(self, root: &Path, dir: &Path) -> Result<()> {
        let variant = |name: &str| overlay(&root.join("testdata/bench/variants").join(name), dir);
        match self {
            Step::Cold => overlay(&root.join("testdata/bench/ranged"), dir),
            Step::NoChange => Ok(()),
            Step::CodeChange => {
                let cli = dir.join("src/inventory/cli.py");
                let code = std::fs::read_to_string(&cli)?;
                std::fs::write(&cli, code.replace("ready", "ready (bench)"))?;
                Ok(())
            }
            Step::PurePythonBump => variant("six-bump"),
            Step::SdistBump => variant("psycopg2-bump"),
        }
    }
}

/// Copy every file of directory `from` into `dir`, replacing those there.
fn overlay(from: &Path, dir: &Path) -> Result<()> {
    for entry in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let path = entry?.path();
        let name = path.file_name().context("a file name")?;
        std::fs::copy(&path, dir.join(name))
            .with_context(|| format!("copying {}", path.display()))?;
    }
    Ok(())
}

/// One measured build.
#[derive(Clone, Copy, Default)]
struct Sample {
    seconds: f64,
    changed_bytes: u64,
    image_bytes: u64,
}

/// Runs the benchmark `reps` times and prints its tables on stdout.
pub fn run(root: &Path, reps: usize) -> Result<()> {
    if reps == 0 {
        bail!("--reps must be at least 1");
    }
    up::run(root)?;
    let work = std::env::temp_dir().join(format!("pybase-bench-{}", std::process::id()));
    let mut sizes = LayerSizes::default();
    let mut samples: BTreeMap<(usize, usize), Vec<Sample>> = BTreeMap::new();
    for rep in 0..reps {
        for (tool_index, tool) in Tool::ALL.into_iter().enumerate() {
            let dir = work.join(tool.name());
            fresh_copy(&root.join("testdata/projects/inventory"), &dir)?;
            prune()?;
            let mut previous: Vec<String> = Vec::new();
            for (step_index, step) in Step::ALL.into_iter().enumerate() {
                step.apply(root, &dir)?;
                let tag = format!("pybase-bench/{}:{step_index}", tool.name());
                let label = format!(
                    "bench {}/{} {} ({})",
                    rep + 1,
                    reps,
                    tool.name(),
                    step.label()
                );
                let seconds = cmd::step(&label, || timed_build(&tool.build(root, &dir, &tag)))?;
                let layers = image_layers(&tag)?;
                let changed: Vec<&String> =
                    layers.iter().filter(|l| !previous.contains(l)).collect();
                sizes.learn(&tag, &layers)?;
                samples
                    .entry((step_index, tool_index))
                    .or_default()
                    .push(Sample {
                        seconds,
                        changed_bytes: changed.iter().map(|l| sizes.get(l)).sum(),
                        image_bytes: layers.iter().map(|l| sizes.get(l)).sum(),
                    });
                previous = layers;
            }
        }
    }
    let source_bytes = dir_bytes(&root.join("testdata/projects/inventory/src"))?;
    let tiers = cmd::step("bench: tiers", || tiers(root, &work, &mut sizes))?;
    let layered = cmd::step("bench: per-package venv layers", || {
        layered::run(root, &work, &mut sizes)
    })?;
    let _ = std::fs::remove_dir_all(&work);

    println!("{}", venv_table(&samples, reps, source_bytes));
    println!("{tiers}");
    println!("{layered}");
    Ok(())
}

/// The first table, in Markdown.
fn venv_table(
    samples: &BTreeMap<(usize, usize), Vec<Sample>>,
    reps: usize,
    source_bytes: u64,
) -> String {
    let mut out = format!(
        "## Locked venvs: pybase against two Dockerfiles ({reps} run{} each, empty build cache at the start)\n\n",
        if reps == 1 { "" } else { "s" }
    );
    out.push_str(
        "| step | tool | time min | time median | changed layers | image | time vs uv-guide |\n",
    );
    out.push_str("|---|---|---:|---:|---:|---:|---:|\n");
    for (step_index, step) in Step::ALL.into_iter().enumerate() {
        let peer = samples
            .get(&(step_index, 1))
            .map(|s| median(s.iter().map(|x| x.seconds)));
        for (tool_index, tool) in Tool::ALL.into_iter().enumerate() {
            let Some(runs) = samples.get(&(step_index, tool_index)) else {
                continue;
            };
            let times: Vec<f64> = runs.iter().map(|s| s.seconds).collect();
            let median_time = median(times.iter().copied());
            let min_time = times.iter().copied().fold(f64::INFINITY, f64::min);
            let changed = median(runs.iter().map(|s| s.changed_bytes as f64));
            let image = runs.last().map_or(0, |s| s.image_bytes);
            let ratio = match peer {
                Some(peer) if peer > 0.0 => format!("{:.2}x", median_time / peer),
                _ => "-".into(),
            };
            out.push_str(&format!(
                "| {} | {} | {min_time:.1} s | {median_time:.1} s | {} | {} | {ratio} |\n",
                step.label(),
                tool.name(),
                human(changed as u64),
                human(image),
            ));
        }
    }
    out.push_str(&format!(
        "\nThe project's code (`src/`) is {source_bytes} bytes; \"changed layers\" counts the uncompressed bytes of the layers a step added or replaced (median); \"image\" all of the final image's layers.\n"
    ));
    out
}

/// The tier measurement on seed 004, as a Markdown table.
fn tiers(root: &Path, work: &Path, sizes: &mut LayerSizes) -> Result<String> {
    let seed = root.join("testdata/seeds/004-cpu-ml-gpu");
    let dir = work.join("seed-004");
    fresh_copy(&seed, &dir)?;
    let contexts = [
        format!("python:3.12-slim=docker-image://{BASE_IMAGE}"),
        format!("python:3.11-slim=docker-image://{BASE_IMAGE}"),
    ];

    prune()?;
    let mut alone = Command::new("docker");
    alone
        .args(["buildx", "build", "--progress", "plain", "--load"])
        .args(["-t", "pybase-bench-seed/training-alone:latest"])
        .arg("-f")
        .arg(dir.join("pybase.yaml"))
        .args(["--target", "training", "--secret", CA_SECRET]);
    frontend_override(&mut alone);
    for context in &contexts {
        alone.args(["--build-context", context]);
    }
    alone.arg(&dir);
    let alone_seconds = timed_build(&alone)?;

    prune()?;
    let bake_file = dir.join("bake.json");
    let generated = Command::new(pybase_binary(root)?)
        .current_dir(&dir)
        .args(["bake", "pybase.yaml"])
        .output()
        .context("running pybase bake")?;
    if !generated.status.success() {
        bail!(
            "pybase bake: {}",
            String::from_utf8_lossy(&generated.stderr)
        );
    }
    std::fs::write(&bake_file, &generated.stdout)?;
    let mut bake = Command::new("docker");
    bake.current_dir(&dir)
        .env("REGISTRY", "pybase-bench-seed/")
        .env("TAG", "latest")
        .args(["buildx", "bake", "--progress", "plain", "-f"])
        .arg(&bake_file)
        .args(["--set", &format!("*.secrets={CA_SECRET}")])
        .args(["--set", "*.output=type=docker"]);
    for context in &contexts {
        bake.args(["--set", &format!("*.contexts.{context}")]);
    }
    if let Ok(frontend) = std::env::var("PYBASE_BENCH_FRONTEND") {
        bake.args(["--set", &format!("*.args.BUILDKIT_SYNTAX={frontend}")]);
    }
    bake.args(["default", "tiers"]);
    let all_seconds = timed_build(&bake)?;

    let images = ["cpu", "ml", "gpu", "api", "ai", "training"];
    let mut total = 0;
    let mut distinct = BTreeSet::new();
    for image in images {
        let tag = format!("pybase-bench-seed/{image}:latest");
        let layers = image_layers(&tag)?;
        sizes.learn(&tag, &layers)?;
        total += layers.iter().map(|l| sizes.get(l)).sum::<u64>();
        distinct.extend(layers);
    }
    let stored: u64 = distinct.iter().map(|l| sizes.get(l)).sum();
    Ok(format!(
        "## Tiers: seed 004 (3 tiers, 3 services), empty build cache for each row\n\n\
         | build | wall time |\n|---|---:|\n\
         | `training` alone (with its tiers cpu -> ml -> gpu) | {alone_seconds:.1} s |\n\
         | every tier and service, one bake session | {all_seconds:.1} s ({:.2}x) |\n\n\
         | bytes | |\n|---|---:|\n\
         | sum of the 6 images' layers | {} |\n\
         | distinct layers (stored and pulled once) | {} ({:.0}% of the sum) |\n",
        all_seconds / alone_seconds,
        human(total),
        human(stored),
        100.0 * stored as f64 / total.max(1) as f64,
    ))
}

/// The `pybase` binary of this tree, built if needed (for `pybase bake`).
fn pybase_binary(root: &Path) -> Result<PathBuf> {
    cmd::run(
        cmd::cargo()
            .current_dir(root)
            .args(["build", "--quiet", "-p", "pybase"]),
    )?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    Ok(target.join("debug/pybase"))
}

/// Uncompressed layer sizes by diff ID, learnt from `docker save`.
#[derive(Default)]
struct LayerSizes(BTreeMap<String, u64>);

impl LayerSizes {
    fn get(&self, diff_id: &str) -> u64 {
        self.0.get(diff_id).copied().unwrap_or(0)
    }

    /// Learn the sizes of `layers` (the diff IDs of `image`, in order) that
    /// are not known yet.
    fn learn(&mut self, image: &str, layers: &[String]) -> Result<()> {
        if layers.iter().all(|l| self.0.contains_key(l)) {
            return Ok(());
        }
        let (dir, manifest) = docker_save(image)?;
        let blobs = manifest["Layers"]
            .as_array()
            .context("no Layers in manifest.json")?;
        for (diff_id, blob) in layers.iter().zip(blobs) {
            if self.0.contains_key(diff_id) {
                continue;
            }
            let blob = blob.as_str().context("a layer path")?;
            // `gzip -dcf` passes an uncompressed layer through unchanged.
            let counted = quiet(
                Command::new("sh")
                    .arg("-c")
                    .arg("gzip -dcf \"$0\" | wc -c")
                    .arg(dir.join(blob)),
            )?;
            let bytes = String::from_utf8_lossy(&counted.stdout)
                .trim()
                .parse()
                .context("a layer size")?;
            self.0.insert(diff_id.clone(), bytes);
        }
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }
}

/// `docker save` of `image`, unpacked in a temporary directory: the
/// directory (the caller removes it) and the image's entry of its
/// `manifest.json` (`Config`, `Layers`: paths in the directory).
fn docker_save(image: &str) -> Result<(PathBuf, serde_json::Value)> {
    let dir = std::env::temp_dir().join(format!("pybase-bench-save-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let tar = dir.join("image.tar");
    quiet(
        Command::new("docker")
            .arg("save")
            .arg("-o")
            .arg(&tar)
            .arg(image),
    )?;
    quiet(Command::new("tar").arg("-xf").arg(&tar).arg("-C").arg(&dir))?;
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json"))?)
            .context("reading the saved image's manifest.json")?;
    Ok((dir, manifest[0].take()))
}

/// `docker buildx build --progress plain --load -t tag`, for more arguments.
fn buildx_load(tag: &str) -> Command {
    let mut command = Command::new("docker");
    command.args([
        "buildx",
        "build",
        "--progress",
        "plain",
        "--load",
        "-t",
        tag,
    ]);
    command
}

/// Makes a pybase build use the frontend `PYBASE_BENCH_FRONTEND` names, if
/// set, instead of the spec's `# syntax=` line (`:dev`), as the e2e harness's
/// `PYBASE_E2E_FRONTEND` does: `--build-arg BUILDKIT_SYNTAX=`.
fn frontend_override(command: &mut Command) {
    if let Ok(frontend) = std::env::var("PYBASE_BENCH_FRONTEND") {
        command.args(["--build-arg", &format!("BUILDKIT_SYNTAX={frontend}")]);
    }
}

/// Runs a build, failing with its log's end; its wall time in seconds.
fn timed_build(command: &Command) -> Result<f64> {
    let mut command = clone_command(command);
    let started = Instant::now();
    let output = command.output().context("running docker buildx")?;
    let seconds = started.elapsed().as_secs_f64();
    if !output.status.success() {
        let log = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = log.lines().rev().take(30).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        bail!("the build failed:\n{}", tail.join("\n"));
    }
    Ok(seconds)
}

fn clone_command(command: &Command) -> Command {
    let mut copy = Command::new(command.get_program());
    copy.args(command.get_args());
    if let Some(dir) = command.get_current_dir() {
        copy.current_dir(dir);
    }
    for (key, value) in command.get_envs() {
        match value {
            Some(value) => copy.env(key, value),
            None => copy.env_remove(key),
        };
    }
    copy
}

/// Runs a command for its output; fails unless it exits 0.
fn quiet(command: &mut Command) -> Result<Output> {
    let output = command
        .output()
        .with_context(|| format!("running {command:?}"))?;
    if !output.status.success() {
        bail!(
            "{command:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(output)
}

/// Empties BuildKit's build cache, so the next build is cold.
fn prune() -> Result<()> {
    quiet(Command::new("docker").args(["buildx", "prune", "-af"])).map(|_| ())
}

/// The diff IDs of an image's layers, in order.
fn image_layers(image: &str) -> Result<Vec<String>> {
    let output = quiet(Command::new("docker").args([
        "image",
        "inspect",
        "--format",
        "{{json .RootFS.Layers}}",
        image,
    ]))?;
    serde_json::from_slice(&output.stdout).context("reading the image's layers")
}

/// `to` as a fresh copy of `from` (a directory tree of regular files).
fn fresh_copy(from: &Path, to: &Path) -> Result<()> {
    let _ = std::fs::remove_dir_all(to);
    copy_tree(from, to)
}

fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        let target: PathBuf = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// The bytes of the files under `dir`, `__pycache__` left out.
fn dir_bytes(dir: &Path) -> Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_name() == "__pycache__" {
            continue;
        }
        total += if entry.file_type()?.is_dir() {
            dir_bytes(&entry.path())?
        } else {
            entry.metadata()?.len()
        };
    }
    Ok(total)
}

fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut values: Vec<f64> = values.collect();
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => 0.0,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// Bytes for people: `812 B`, `23.0 KB`, `1.52 MB` (powers of 1000).
fn human(bytes: u64) -> String {
    match bytes {
        0..1_000 => format!("{bytes} B"),
        1_000..1_000_000 => format!("{:.1} KB", bytes as f64 / 1e3),
        1_000_000..1_000_000_000 => format!("{:.2} MB", bytes as f64 / 1e6),
        _ => format!("{:.2} GB", bytes as f64 / 1e9),
    }
}
