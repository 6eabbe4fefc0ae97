//! What every end-to-end test uses.
//!
//! - [`e2e_session`]: the right to use Docker for one test (one build at a
//!   time in this process, one run at a time on the daemon through a lock
//!   file, the images of earlier runs removed first), or `None` where the
//!   tests are skipped.
//! - Projects: [`fixture`] (a fresh copy of a fixture), [`copy_dir`],
//!   [`own_system_step`] and [`add_to_service`] (a key added to a service),
//!   [`tools_dir`] (the pinned lock tools), [`change_code`],
//!   [`unique`] names, [`repo_root`].
//! - Builds: [`build`], [`build_with`] and [`build_ok`] (`docker buildx
//!   build` with the spec's base image mapped onto the test image and the CA
//!   bundle secret), [`buildx_command`] and [`buildx_command_on`] to add
//!   more, [`bake_spec`] (`pybase bake`, then [`buildx_bake`]),
//!   [`derive_image`] (an image from a Dockerfile text).
//! - Images: [`docker_run`], [`inspect`], [`layers`], [`layer_contents`],
//!   [`assert_only_layer_changed`], [`assert_layer_packages`],
//!   [`installed_distributions`].
//! - Commands and logs: [`run`], [`stdout`], [`stderr`], [`step_cached`], and
//!   [`failure`], a failed command's report for an assertion's message.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

pub const BASE_IMAGE: &str = "pybase-test/python:3.11";
pub const CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// One build at a time.
static DOCKER: Mutex<()> = Mutex::new(());

/// The right to use Docker for one test, or `None` when end-to-end tests
/// are skipped here (see [`e2e_enabled`]).
pub fn e2e_session() -> Option<MutexGuard<'static, ()>> {
    if !e2e_enabled() {
        return None;
    }
    lock_the_daemon();
    Some(DOCKER.lock().unwrap_or_else(|p| p.into_inner()))
}

/// The daemon is this run's alone: a second `cargo test` of these tests
/// (another checkout, a plain `cargo test --workspace` beside `cargo xtask
/// test`) would take the private index's port and overwrite the same image
/// tags. An exclusive lock on a file in the temporary directory, taken by
/// the first test and held until the process ends, makes it wait instead.
fn lock_the_daemon() {
    static HELD: std::sync::OnceLock<std::fs::File> = std::sync::OnceLock::new();
    HELD.get_or_init(|| {
        let path = std::env::temp_dir().join("pybase-e2e.lock");
        let file = std::fs::File::create(&path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
        if file.try_lock().is_err() {
            eprintln!(
                "waiting for another run of the end-to-end tests to finish ({} is locked)",
                path.display()
            );
            file.lock()
                .unwrap_or_else(|e| panic!("cannot lock {}: {e}", path.display()));
        }
        remove_earlier_test_images();
        file
    });
}

/// Removes the `pybase-e2e/*` images that earlier runs left: many tags are
/// unique per run, and a machine that runs the tests daily would otherwise
/// fill its disk with them. Their build cache stays, so no build slows down.
fn remove_earlier_test_images() {
    let listed =
        run(Command::new("docker").args(["image", "ls", "--format", "{{.Repository}}:{{.Tag}}"]));
    let earlier: Vec<String> = stdout(&listed)
        .lines()
        .filter(|image| image.starts_with("pybase-e2e/") && !image.ends_with(":<none>"))
        .map(str::to_owned)
        .collect();
    if earlier.is_empty() {
        return;
    }
    let removed = run(Command::new("docker")
        .args(["image", "rm", "-f"])
        .args(&earlier));
    eprintln!(
        "removed {} images of earlier test runs ({})",
        earlier.len(),
        if removed.status.success() {
            "done".to_owned()
        } else {
            failure(&removed)
        }
    );
}

/// Whether to run; panics when the tests must run but cannot.
fn e2e_enabled() -> bool {
    let required = std::env::var("CI").is_ok_and(|v| v == "true")
        || std::env::var("PYBASE_E2E").is_ok_and(|v| v == "1");
    let daemon = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output();
    let reachable = daemon.as_ref().is_ok_and(|o| o.status.success());
    if !reachable {
        assert!(
            !required,
            "end-to-end tests must run (CI=true or PYBASE_E2E=1) but no Docker daemon answers: run `cargo xtask up` first ({:?})",
            daemon.map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
        );
        eprintln!(
            "skipping end-to-end test: no Docker daemon (run `cargo xtask up`, or set PYBASE_E2E=1 to require it)"
        );
        return false;
    }
    let has_base = Command::new("docker")
        .args(["image", "inspect", BASE_IMAGE])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        has_base,
        "the test base image {BASE_IMAGE} is missing: run `cargo xtask up`"
    );
    true
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Whether the daemon uses the containerd image store, where BuildKit
/// offers MergeOp (the classic store does not: images are then assembled
/// by copying, which gives the same files in new layers).
pub fn containerd_image_store() -> bool {
    stdout(&run(Command::new("docker").args([
        "info",
        "--format",
        "{{json .DriverStatus}}",
    ])))
    .contains("io.containerd.snapshotter.v1")
}

/// A fresh copy of a fixture project.
pub fn fixture(name: &str) -> PathBuf {
    let source = repo_root().join("testdata/projects").join(name);
    let target = std::env::temp_dir().join(format!(
        "pybase-e2e-{name}-{}-{}",
        std::process::id(),
        unique()
    ));
    copy_dir(&source, &target);
    target
}

pub fn unique() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default()
}

pub use crate::fixtures::{copy_dir, tools_dir};

/// Rewrites the file `path` with `from` replaced by `to`, and a line no
/// earlier build saw, so that the code step runs.
pub fn change_code(path: &Path, from: &str, to: &str) {
    let code =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    std::fs::write(
        path,
        format!("{}# e2e run {}\n", code.replace(from, to), unique()),
    )
    .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

pub fn run(command: &mut Command) -> Output {
    command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"))
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// An assertion's message for a command that failed: its exit status, the
/// end of its standard error, where BuildKit reports what stopped a build
/// (a CI excerpt of a long log keeps its start), the whole of it in a file
/// of the target directory, and the free disk space, since a full disk
/// fails every build after it.
pub fn failure(output: &Output) -> String {
    const TAIL: usize = 40;
    let log = stderr(output);
    let lines: Vec<&str> = log.lines().collect();
    let tail = lines[lines.len().saturating_sub(TAIL)..].join("\n");
    let saved =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("e2e-failure-{}.log", unique()));
    let saved = match std::fs::write(&saved, log.as_bytes()) {
        Ok(()) => format!("the whole log: {}", saved.display()),
        Err(e) => format!(
            "the whole log could not be kept in {}: {e}",
            saved.display()
        ),
    };
    let docker_root = run(Command::new("docker").args(["info", "--format", "{{.DockerRootDir}}"]));
    let disk = run(Command::new("df")
        .args(["-h", "--output=target,avail"])
        .arg(std::env::temp_dir())
        .arg(stdout(&docker_root)));
    format!(
        "{} ({} lines of log, {saved}), ending:\n{tail}\nfree disk:\n{}",
        output.status,
        lines.len(),
        stdout(&disk)
    )
}

/// The address of Docker's default bridge (its gateway): where build
/// steps reach a server the test runs on the host.
pub fn bridge_gateway() -> String {
    let output = run(Command::new("docker").args([
        "network",
        "inspect",
        "bridge",
        "--format",
        "{{(index .IPAM.Config 0).Gateway}}",
    ]));
    assert!(output.status.success(), "{}", failure(&output));
    stdout(&output)
}

/// Gives `service` of the spec in `dir` a working directory of its own
/// (`/srv/own-SERVICE`), so that its system step, and every step whose
/// output is an image layer (all built on it), belong to the calling test
/// alone. A test that builds with `--no-cache` must: `--no-cache` gives a
/// step's cache record a second result, and a later build of another test
/// sharing that step may load either, its lower layers changing.
pub fn own_system_step(dir: &Path, service: &str) {
    add_to_service(dir, service, &format!("workdir: /srv/own-{service}"));
}

/// Adds the line `key: value` to `service` of the spec in `dir`, before
/// its other keys.
pub fn add_to_service(dir: &Path, service: &str, line: &str) {
    let spec = dir.join("pybase.yaml");
    let text = std::fs::read_to_string(&spec).expect("read the spec");
    let key = format!("\n  {service}:\n");
    assert!(
        text.contains(&key),
        "no service {service} in {}",
        spec.display()
    );
    std::fs::write(&spec, text.replacen(&key, &format!("{key}    {line}\n"), 1))
        .expect("write the spec");
}

/// `docker buildx build` of `target` from the project in `dir`, loaded as `tag`.
pub fn build(dir: &Path, target: Option<&str>, tag: &str) -> (Output, f64) {
    build_with(dir, target, tag, &[])
}

/// `docker buildx build` of the spec in `dir`, loaded as `tag`, with the
/// spec's base image mapped onto the test image; no secret, no target.
pub fn buildx_command(dir: &Path, tag: &str) -> Command {
    buildx_command_on(dir, tag, BASE_IMAGE)
}

/// [`buildx_command`] with the spec's base image mapped onto `base`.
pub fn buildx_command_on(dir: &Path, tag: &str, base: &str) -> Command {
    buildx_command_mapped(dir, tag, &format!("docker-image://{base}"))
}

/// [`buildx_command`] with the spec's base image mapped onto the build
/// context `base` (`docker-image://…`, `oci-layout://…`).
pub fn buildx_command_mapped(dir: &Path, tag: &str, base: &str) -> Command {
    buildx_exporting(dir, tag, base, "--load")
}

/// [`buildx_command`] pushing `tag` to its registry instead of loading it
/// (one exporter: `--load` and `--push` together race to name the image).
pub fn buildx_push_command(dir: &Path, tag: &str) -> Command {
    buildx_exporting(dir, tag, &format!("docker-image://{BASE_IMAGE}"), "--push")
}

/// [`buildx_command_mapped`], exporting with `export` (`--load`, `--push`).
fn buildx_exporting(dir: &Path, tag: &str, base: &str, export: &str) -> Command {
    let mut command = Command::new("docker");
    command
        .args(["buildx", "build", "--progress", "plain", export, "-t", tag])
        .arg("-f")
        .arg(dir.join("pybase.yaml"))
        .args(["--build-context", &format!("python:3.12-slim={base}")]);
    // A frontend image other than the specs' `:dev` (a branch's own, so
    // that two checkouts never overwrite one tag): the Dockerfile frontend
    // that reads the `# syntax=` line takes this build arg instead of it.
    if let Ok(frontend) = std::env::var("PYBASE_E2E_FRONTEND") {
        command.args(["--build-arg", &format!("BUILDKIT_SYNTAX={frontend}")]);
    }
    command
}

/// [`build`] with extra arguments for buildx.
pub fn build_with(dir: &Path, target: Option<&str>, tag: &str, extra: &[&str]) -> (Output, f64) {
    let mut command = buildx_command(dir, tag);
    command.args(["--secret", &format!("id=ca-bundle,src={CA_BUNDLE}")]);
    if let Some(target) = target {
        command.args(["--target", target]);
    }
    command.args(extra).arg(dir);
    let started = Instant::now();
    let output = run(&mut command);
    (output, started.elapsed().as_secs_f64())
}

pub fn build_ok(dir: &Path, target: Option<&str>, tag: &str) -> f64 {
    let (output, seconds) = build(dir, target, tag);
    assert!(
        output.status.success(),
        "build of {tag} failed:\n{}",
        failure(&output)
    );
    seconds
}

pub fn docker_run(image: &str, entrypoint: Option<&str>, args: &[&str]) -> Output {
    let mut command = Command::new("docker");
    command.args(["run", "--rm"]);
    if let Some(entrypoint) = entrypoint {
        command.args(["--entrypoint", entrypoint]);
    }
    command.arg(image).args(args);
    run(&mut command)
}

pub fn inspect(image: &str, format: &str) -> String {
    let output = run(Command::new("docker").args(["image", "inspect", "--format", format, image]));
    assert!(
        output.status.success(),
        "inspect {image}: {}",
        failure(&output)
    );
    stdout(&output)
}

/// Build `tag` from the Dockerfile `text` (no context) into the image store.
pub fn derive_image(tag: &str, text: &str) {
    let mut derive = Command::new("docker");
    derive
        .args(["build", "-q", "-t", tag, "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = derive.spawn().expect("docker build");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(text.as_bytes()).expect("Dockerfile");
    }
    let derived = child.wait_with_output().expect("docker build");
    assert!(derived.status.success(), "{tag}: {}", failure(&derived));
}

pub fn layers(image: &str) -> Vec<String> {
    serde_json::from_str(&inspect(image, "{{json .RootFS.Layers}}")).expect("layer list")
}

/// The entries and the uncompressed byte size of layers `indices` of
/// `image`, read from one `docker save`. Its `manifest.json` lists the layer
/// blobs in `RootFS.Layers` order; with the containerd image store they are
/// gzipped and named by their compressed digest, so they are found through it.
pub fn layer_contents(image: &str, indices: &[usize]) -> Vec<(Vec<String>, u64)> {
    let dir = std::env::temp_dir().join(format!("pybase-e2e-save-{}", unique()));
    std::fs::create_dir_all(&dir).expect("save dir");
    let tar = dir.join("image.tar");
    let saved = run(Command::new("docker")
        .arg("save")
        .arg("-o")
        .arg(&tar)
        .arg(image));
    assert!(saved.status.success(), "docker save: {}", failure(&saved));
    let unpacked = run(Command::new("tar").arg("-xf").arg(&tar).arg("-C").arg(&dir));
    assert!(
        unpacked.status.success(),
        "unpacking the saved image: {}",
        failure(&unpacked)
    );
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.join("manifest.json")).expect("manifest.json in the saved image"),
    )
    .expect("manifest JSON");
    let contents = indices
        .iter()
        .map(|&index| {
            let blob = manifest[0]["Layers"][index]
                .as_str()
                .unwrap_or_else(|| panic!("no layer {index} in {manifest}"));
            let layer = dir.join(blob);
            // `gzip -dcf` passes an uncompressed layer through unchanged.
            let size = run(Command::new("sh")
                .arg("-c")
                .arg("gzip -dcf \"$0\" | wc -c")
                .arg(&layer));
            let size = stdout(&size).parse().expect("layer size");
            let listing = run(Command::new("tar").arg("-tf").arg(&layer));
            assert!(
                listing.status.success(),
                "listing layer {index}: {}",
                failure(&listing)
            );
            (stdout(&listing).lines().map(str::to_owned).collect(), size)
        })
        .collect();
    let _ = std::fs::remove_dir_all(&dir);
    contents
}

/// Whether the step whose name ends with `name` was CACHED in a build's
/// plain progress `log`.
pub fn step_cached(log: &str, name: &str) -> bool {
    let step = step_id(log, name);
    log.lines().any(|line| line == format!("{step} CACHED"))
}

/// The progress id (`#12`) of the step named `name` in a plain progress
/// `log`.
pub fn step_id<'a>(log: &'a str, name: &str) -> &'a str {
    log.lines()
        .find(|line| line.ends_with(name))
        .and_then(|line| line.split_whitespace().next())
        .unwrap_or_else(|| panic!("no step {name}: {log}"))
}

/// Asserts that the image layers `after` are those of `before` but the
/// one at `index`, which `change` (what was changed, for the messages)
/// made anew.
pub fn assert_only_layer_changed(before: &[String], after: &[String], index: usize, change: &str) {
    assert_eq!(
        before.len(),
        after.len(),
        "{change} added or dropped layers"
    );
    assert_ne!(
        before[index], after[index],
        "{change} left layer {index} as it was"
    );
    assert_eq!(
        before[..index],
        after[..index],
        "{change} changed a layer below layer {index}"
    );
    assert_eq!(
        before[index + 1..],
        after[index + 1..],
        "{change} changed a layer above layer {index}"
    );
}

/// The layers pybase made in `image` (the base image's left out), each
/// as its index in [`layers`] and its history entry (`pybase: [LEVEL] …`).
pub fn pybase_layers(image: &str) -> Vec<(usize, String)> {
    let all = layers(image);
    let history = run(Command::new("docker")
        .args(["history", "--no-trunc", "--format", "{{.CreatedBy}}"])
        .arg(image));
    assert!(history.status.success(), "{}", failure(&history));
    // Newest first; every entry pybase writes has a layer.
    let ours: Vec<String> = stdout(&history)
        .lines()
        .take_while(|line| line.starts_with("pybase"))
        .map(str::to_owned)
        .collect();
    let first = all.len() - ours.len();
    ours.into_iter()
        .rev()
        .enumerate()
        .map(|(n, entry)| (first + n, entry))
        .collect()
}

/// The indices of the venv layers `level` (a tier or service) added to
/// `image`.
pub fn venv_layers(image: &str, level: &str) -> Vec<usize> {
    let prefix = format!("pybase: [{level}] venv ");
    pybase_layers(image)
        .into_iter()
        .filter(|(_, entry)| entry.starts_with(&prefix))
        .map(|(index, _)| index)
        .collect()
}

/// Asserts that the venv layers `level` added to `image` hold, among
/// them, the site-packages entries starting with each of `holds` and none
/// starting with `lacks` (packages a layer below already has, which must
/// not be installed again).
pub fn assert_venv_packages(image: &str, level: &str, holds: &[&str], lacks: &[&str]) {
    let indices = venv_layers(image, level);
    assert!(!indices.is_empty(), "{image}: no venv layer of {level}");
    let entries: Vec<String> = layer_contents(image, &indices)
        .into_iter()
        .flat_map(|(entries, _)| entries)
        .collect();
    let has = |package: &str| {
        let prefix = format!("site-packages/{package}");
        entries.iter().any(|e| e.contains(&prefix))
    };
    for package in holds {
        assert!(
            has(package),
            "{image}: the venv layers of {level} lack `{package}`: {entries:?}"
        );
    }
    for package in lacks {
        assert!(
            !has(package),
            "{image}: the venv layers of {level} hold `{package}`, which a layer below already has: {entries:?}"
        );
    }
}

/// Asserts that `after`'s layers are `before`'s, in the same order, but
/// for new venv layers of `level` that each name one of the `changed`
/// distributions (`six 1.16.0`, or a group holding it); and that each of
/// `changed` has a new layer (the twin: the change did reach the image).
pub fn assert_only_venv_layers_changed(before: &str, after: &str, level: &str, changed: &[&str]) {
    let (old, new) = (layers(before), layers(after));
    let labels: std::collections::BTreeMap<usize, String> =
        pybase_layers(after).into_iter().collect();
    let prefix = format!("pybase: [{level}] venv ");
    let mut reached: Vec<&str> = Vec::new();
    for (index, digest) in new.iter().enumerate() {
        if old.contains(digest) {
            continue;
        }
        let label = labels
            .get(&index)
            .map_or("a base image layer", String::as_str);
        let names: Vec<&str> = changed
            .iter()
            .copied()
            .filter(|name| label.contains(&format!(" {name} ")))
            .collect();
        assert!(
            label.starts_with(&prefix) && !names.is_empty(),
            "{after}: layer {index} ({label}) is new, but only the venv layers of {changed:?} should be"
        );
        reached.extend(names);
    }
    for name in changed {
        assert!(
            reached.contains(name),
            "{after}: no new layer holds {name}: {labels:?}"
        );
    }
    // What stayed is in the same order; what went was a changed one.
    let kept_old: Vec<&String> = old.iter().filter(|d| new.contains(d)).collect();
    let kept_new: Vec<&String> = new.iter().filter(|d| old.contains(d)).collect();
    assert_eq!(kept_old, kept_new, "{after}: the unchanged layers moved");
    let old_labels: std::collections::BTreeMap<usize, String> =
        pybase_layers(before).into_iter().collect();
    for (index, digest) in old.iter().enumerate() {
        if !new.contains(digest) {
            let label = old_labels.get(&index).map_or("", String::as_str);
            assert!(
                label.starts_with(&prefix)
                    && changed
                        .iter()
                        .any(|name| label.contains(&format!(" {name} "))),
                "{before}: layer {index} ({label}) is gone from {after}"
            );
        }
    }
}

/// `pybase bake` of the spec in `dir`, built by [`buildx_bake`].
pub fn bake_spec(dir: &Path, tag: &str, targets: &[&str]) -> Output {
    let generated = run(Command::new(env!("CARGO_BIN_EXE_pybase"))
        .current_dir(dir)
        .args(["bake", "pybase.yaml"]));
    assert!(generated.status.success(), "{}", failure(&generated));
    let bake_file = dir.join("bake.json");
    std::fs::write(&bake_file, &generated.stdout).expect("write bake file");
    buildx_bake(dir, &bake_file, tag, targets)
}

/// `docker buildx bake` of `bake_file` (in `dir`) for `targets`, in one
/// session with the base images mapped onto the test image and the CA
/// bundle secret; images are `pybase-e2e/NAME:TAG`. Returns bake's output,
/// once it succeeded.
pub fn buildx_bake(dir: &Path, bake_file: &Path, tag: &str, targets: &[&str]) -> Output {
    let built = run(Command::new("docker")
        .current_dir(dir)
        .env("REGISTRY", "pybase-e2e/")
        .env("TAG", tag)
        .args(["buildx", "bake", "--progress", "plain", "-f"])
        .arg(bake_file)
        .args(["--set", &format!("*.secrets=id=ca-bundle,src={CA_BUNDLE}")])
        .args([
            "--set",
            &format!("*.contexts.python:3.12-slim=docker-image://{BASE_IMAGE}"),
        ])
        .args([
            "--set",
            &format!("*.contexts.python:3.11-slim=docker-image://{BASE_IMAGE}"),
        ])
        .args(["--set", "*.output=type=docker"])
        .args(targets));
    assert!(built.status.success(), "{}", failure(&built));
    built
}

/// The `.dist-info` directories in the venv of `image`, sorted.
pub fn installed_distributions(image: &str) -> Vec<String> {
    let listing = docker_run(
        image,
        Some("/bin/sh"),
        &[
            "-c",
            "ls -d /opt/venv/lib/python3*/site-packages/*.dist-info | xargs -n1 basename | sort",
        ],
    );
    assert!(listing.status.success(), "{}", failure(&listing));
    stdout(&listing).lines().map(str::to_owned).collect()
}
