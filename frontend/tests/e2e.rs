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
//! Builds run one at a time (a 2-core machine), and each test copies the
//! fixture to a fresh directory so it can change files.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

const BASE_IMAGE: &str = "pybase-test/python:3.11";
const CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// One build at a time.
static DOCKER: Mutex<()> = Mutex::new(());

/// The right to use Docker for one test, or `None` when end-to-end tests
/// are skipped here (see [`e2e_enabled`]).
fn e2e_session() -> Option<MutexGuard<'static, ()>> {
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

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A fresh copy of a fixture project.
fn fixture(name: &str) -> PathBuf {
    let source = repo_root().join("testdata/projects").join(name);
    let target = std::env::temp_dir().join(format!(
        "pybase-e2e-{name}-{}-{}",
        std::process::id(),
        unique()
    ));
    copy_dir(&source, &target);
    target
}

fn unique() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create fixture dir");
    for entry in std::fs::read_dir(from).expect("read fixture dir") {
        let entry = entry.expect("fixture entry");
        let path = entry.path();
        let name = entry.file_name();
        if name == "__pycache__" || name == ".venv" {
            continue;
        }
        if path.is_dir() {
            copy_dir(&path, &to.join(name));
        } else {
            std::fs::copy(&path, to.join(name)).expect("copy fixture file");
        }
    }
}

fn run(command: &mut Command) -> Output {
    command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"))
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// An assertion's message for a command that failed: its exit status, the
/// end of its standard error, where BuildKit reports what stopped a build
/// (a CI excerpt of a long log keeps its start), the whole of it in a file
/// of the target directory, and the free disk space, since a full disk
/// fails every build after it.
fn failure(output: &Output) -> String {
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

/// `docker buildx build` of `target` from the project in `dir`, loaded as `tag`.
fn build(dir: &Path, target: Option<&str>, tag: &str) -> (Output, f64) {
    build_with(dir, target, tag, &[])
}

/// `docker buildx build` of the spec in `dir`, loaded as `tag`, with the
/// spec's base image mapped onto the test image; no secret, no target.
fn buildx_command(dir: &Path, tag: &str) -> Command {
    buildx_command_on(dir, tag, BASE_IMAGE)
}

/// [`buildx_command`] with the spec's base image mapped onto `base`.
fn buildx_command_on(dir: &Path, tag: &str, base: &str) -> Command {
    let mut command = Command::new("docker");
    command
        .args([
            "buildx",
            "build",
            "--progress",
            "plain",
            "--load",
            "-t",
            tag,
        ])
        .arg("-f")
        .arg(dir.join("pybase.yaml"))
        .args([
            "--build-context",
            &format!("python:3.12-slim=docker-image://{base}"),
        ]);
    command
}

/// [`build`] with extra arguments for buildx.
fn build_with(dir: &Path, target: Option<&str>, tag: &str, extra: &[&str]) -> (Output, f64) {
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

fn build_ok(dir: &Path, target: Option<&str>, tag: &str) -> f64 {
    let (output, seconds) = build(dir, target, tag);
    assert!(
        output.status.success(),
        "build of {tag} failed:\n{}",
        failure(&output)
    );
    seconds
}

fn docker_run(image: &str, entrypoint: Option<&str>, args: &[&str]) -> Output {
    let mut command = Command::new("docker");
    command.args(["run", "--rm"]);
    if let Some(entrypoint) = entrypoint {
        command.args(["--entrypoint", entrypoint]);
    }
    command.arg(image).args(args);
    run(&mut command)
}

fn inspect(image: &str, format: &str) -> String {
    let output = run(Command::new("docker").args(["image", "inspect", "--format", format, image]));
    assert!(
        output.status.success(),
        "inspect {image}: {}",
        failure(&output)
    );
    stdout(&output)
}

/// Build `tag` from the Dockerfile `text` (no context) into the image store.
fn derive_image(tag: &str, text: &str) {
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

fn layers(image: &str) -> Vec<String> {
    serde_json::from_str(&inspect(image, "{{json .RootFS.Layers}}")).expect("layer list")
}

/// The entries and the uncompressed byte size of layers `indices` of
/// `image`, read from one `docker save`. Its `manifest.json` lists the layer
/// blobs in `RootFS.Layers` order; with the containerd image store they are
/// gzipped and named by their compressed digest, so they are found through it.
fn layer_contents(image: &str, indices: &[usize]) -> Vec<(Vec<String>, u64)> {
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

#[test]
fn service_image_runs_and_a_code_change_rebuilds_only_the_last_layer() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    let dir = fixture("inventory");
    // hatchling ships every file of the package: one the context ignores,
    // one it does not.
    std::fs::write(dir.join(".dockerignore"), "**/*.secret\n").expect("write .dockerignore");
    std::fs::write(
        dir.join("src/inventory/notes.secret"),
        "TOKEN=do-not-ship\n",
    )
    .expect("write secret");
    std::fs::write(dir.join("src/inventory/data.txt"), "shipped\n").expect("write data");

    let first = "pybase-e2e/inventory:first";
    let cold = build_ok(&dir, Some("inventory"), first);

    // It runs, with the locked packages, the venv first on PATH.
    let output = docker_run(first, None, &[]);
    assert!(
        output.status.success(),
        "the service failed: {}",
        failure(&output)
    );
    let text = stdout(&output);
    assert!(text.contains("inventory 0.1.0 ready"), "{text}");
    assert!(text.contains("psycopg2 2.9.10"), "{text}");
    assert!(text.contains("six 1.17.0"), "{text}");
    assert!(text.contains("at /opt/venv/bin/python"), "{text}");

    // Non-root, with the config we set.
    assert_eq!(stdout(&docker_run(first, Some("id"), &["-u"])), "1000");
    assert_eq!(inspect(first, "{{.Config.User}}"), "1000:1000");
    assert_eq!(inspect(first, "{{.Config.WorkingDir}}"), "/app");
    assert_eq!(inspect(first, "{{json .Config.Cmd}}"), r#"["inventory"]"#);
    let env = inspect(first, "{{json .Config.Env}}");
    assert!(env.contains(r#""PATH=/opt/venv/bin:"#), "{env}");
    assert!(env.contains(r#""VIRTUAL_ENV=/opt/venv""#), "{env}");

    // No build tools, caches, dev dependencies or secrets in the image.
    let probe = docker_run(
        first,
        Some("/bin/sh"),
        &[
            "-c",
            "for p in /usr/bin/gcc /usr/bin/cc /usr/include/postgresql /run/secrets/ca-bundle /pybase /root/.cache/uv; do [ -e $p ] && echo present:$p; done; ls /var/lib/apt/lists | grep -v -x -e lock -e partial -e auxfiles | sed 's/^/list:/'; true",
        ],
    );
    assert_eq!(stdout(&probe), "", "the image holds build-only files");
    let dev = docker_run(first, Some("python"), &["-c", "import iniconfig"]);
    assert!(!dev.status.success(), "the dev group reached the image");

    // Change only the code.
    let cli = dir.join("src/inventory/cli.py");
    let code = std::fs::read_to_string(&cli).expect("read cli.py");
    // (With a line no earlier build saw, so that the code step runs.)
    std::fs::write(
        &cli,
        format!(
            "{}# e2e run {}\n",
            code.replace("ready", "ready, v2"),
            unique()
        ),
    )
    .expect("write cli.py");
    let second = "pybase-e2e/inventory:second";
    let (output, rebuild) = build(&dir, Some("inventory"), second);
    let log = stderr(&output);
    assert!(output.status.success(), "{}", failure(&output));
    assert!(stdout(&docker_run(second, None, &[])).contains("inventory 0.1.0 ready, v2"));
    // The code step reran, in the build backend's environment made before,
    // without falling back to an isolated build.
    assert!(
        !step_cached(
            &log,
            "[inventory] code: install the project without dependencies"
        ),
        "{log}"
    );
    assert!(
        step_cached(&log, "[inventory] code: build backend hatchling==1.27.0"),
        "{log}"
    );
    assert!(!log.contains("building in an isolated one"), "{log}");

    let before = layers(first);
    let after = layers(second);
    assert_eq!(
        before.len(),
        after.len(),
        "a code change must not add or drop layers"
    );
    let last = after.len() - 1;
    assert_eq!(
        before[..last],
        after[..last],
        "a code change changed a layer below the code layer"
    );
    assert_ne!(before[last], after[last], "the code layer did not change");

    // The code layer holds the project, not the venv.
    let mut contents = layer_contents(second, &[last, last - 1]).into_iter();
    let (entries, code_bytes) = contents.next().expect("the code layer");
    let (_, venv_bytes) = contents.next().expect("the venv layer");
    assert!(
        entries
            .iter()
            .any(|e| e.ends_with("site-packages/inventory/cli.py")),
        "{entries:?}"
    );
    assert!(
        entries.iter().any(|e| e == "opt/venv/bin/inventory"),
        "{entries:?}"
    );
    assert!(
        !entries.iter().any(|e| e.ends_with("/direct_url.json")),
        "{entries:?}"
    );
    assert!(
        !entries.iter().any(|e| e.contains("psycopg2")),
        "dependencies leaked into the code layer: {entries:?}"
    );
    assert!(
        entries.iter().any(|e| e.ends_with("inventory/data.txt")),
        "{entries:?}"
    );
    assert!(
        !entries.iter().any(|e| e.ends_with(".secret")),
        "a file .dockerignore excludes reached the image: {entries:?}"
    );
    let source_bytes: u64 = ["__init__.py", "cli.py"]
        .iter()
        .map(|f| {
            std::fs::metadata(dir.join("src/inventory").join(f))
                .map(|m| m.len())
                .unwrap_or(0)
        })
        .sum();
    eprintln!(
        "measured: cold build {cold:.1}s, code-change rebuild {rebuild:.1}s, code layer {code_bytes} B ({} entries) for {source_bytes} B of source, venv layer {venv_bytes} B",
        entries.len()
    );
    assert!(
        code_bytes < 128 * 1024,
        "the code layer is {code_bytes} bytes: more than the code"
    );
    assert!(
        venv_bytes > 10 * code_bytes,
        "the venv layer ({venv_bytes} B) should dwarf the code layer ({code_bytes} B)"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Whether the step whose name ends with `name` was CACHED in a build's
/// plain progress `log`.
fn step_cached(log: &str, name: &str) -> bool {
    let step = log
        .lines()
        .find(|line| line.ends_with(name))
        .and_then(|line| line.split_whitespace().next())
        .unwrap_or_else(|| panic!("no step {name}: {log}"));
    log.lines().any(|line| line == format!("{step} CACHED"))
}

#[test]
fn a_lock_bump_rebuilds_only_the_venv_layer() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    // The benchmark's project: dependencies as ranges in pyproject.toml,
    // so that a bump changes uv.lock alone (`uv lock --upgrade-package`).
    let dir = fixture("inventory");
    let bench = repo_root().join("testdata/bench");
    for file in ["pyproject.toml", "uv.lock"] {
        std::fs::copy(bench.join("ranged").join(file), dir.join(file)).expect("copy ranged");
    }
    let first = "pybase-e2e/lock-bump:first";
    build_ok(&dir, Some("inventory"), first);
    assert!(stdout(&docker_run(first, None, &[])).contains("six 1.17.0"));

    // Bumped, and a lock text no earlier build saw, so every step that
    // reads the lock runs again (the export to requirements; the venv's
    // install reruns when the export differs).
    let bumped = std::fs::read_to_string(bench.join("variants/six-bump/uv.lock")).expect("lock");
    std::fs::write(
        dir.join("uv.lock"),
        format!("{bumped}# e2e run {}\n", unique()),
    )
    .expect("write the bumped lock");
    let second = "pybase-e2e/lock-bump:second";
    let (output, _) = build(&dir, Some("inventory"), second);
    let log = stderr(&output);
    assert!(output.status.success(), "{}", failure(&output));
    assert!(
        !step_cached(
            &log,
            "[inventory] venv: uv.lock as requirements with hashes"
        ),
        "{log}"
    );
    assert!(
        step_cached(
            &log,
            "[inventory] code: install the project without dependencies"
        ),
        "a lock bump reran the code step: {log}"
    );
    // The new six is a file of its own; psycopg2's sdist is fetched as
    // before and the wheel built from it reused.
    assert!(
        log.contains("[inventory] fetch six-1.16.0-py2.py3-none-any.whl")
            && !log.contains("[inventory] fetch six-1.17.0"),
        "{log}"
    );
    assert!(
        step_cached(&log, "[inventory] build psycopg2 2.9.10 from its sdist"),
        "a bump of six rebuilt psycopg2: {log}"
    );
    let text = stdout(&docker_run(second, None, &[]));
    assert!(
        text.contains("six 1.16.0") && text.contains("inventory 0.1.0 ready"),
        "{text}"
    );

    let (before, after) = (layers(first), layers(second));
    assert_eq!(
        before.len(),
        after.len(),
        "a lock bump added or dropped layers"
    );
    let (code, venv) = (after.len() - 1, after.len() - 2);
    assert_eq!(before[code], after[code], "the code layer changed");
    assert_ne!(before[venv], after[venv], "the venv layer did not change");
    assert_eq!(
        before[..venv],
        after[..venv],
        "a layer below the venv changed"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_base_target_is_the_image_without_the_code() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    let dir = fixture("inventory");
    build_ok(&dir, Some("inventory-base"), "pybase-e2e/inventory-base:1");
    build_ok(&dir, Some("inventory"), "pybase-e2e/inventory:base-check");
    let base = layers("pybase-e2e/inventory-base:1");
    let image = layers("pybase-e2e/inventory:base-check");
    assert_eq!(
        base[..],
        image[..base.len()],
        "the service image must start with its base image's exact layers"
    );
    assert_eq!(image.len(), base.len() + 1);
    let deps = docker_run(
        "pybase-e2e/inventory-base:1",
        Some("python"),
        &["-c", "import psycopg2, six"],
    );
    assert!(deps.status.success(), "{}", failure(&deps));
    let code = docker_run(
        "pybase-e2e/inventory-base:1",
        Some("python"),
        &["-c", "import inventory"],
    );
    assert!(
        !code.status.success(),
        "the base image holds the project code"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_input_stops_the_build_with_file_line_and_column() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    let dir = fixture("inventory");
    let spec_path = dir.join("pybase.yaml");
    let spec = std::fs::read_to_string(&spec_path).expect("spec");

    // An unknown key.
    std::fs::write(&spec_path, spec.replace("    command:", "    comand:")).expect("write spec");
    let (output, _) = build(&dir, Some("inventory"), "pybase-e2e/bad:1");
    assert!(!output.status.success());
    let err = stderr(&output);
    assert!(
        err.contains("pybase.yaml:10:5: unknown key `comand`"),
        "{err}"
    );
    assert!(err.contains("did you mean `command`?"), "{err}");

    // An unknown target.
    std::fs::write(&spec_path, &spec).expect("write spec");
    let (output, _) = build(&dir, Some("inventroy"), "pybase-e2e/bad:2");
    assert!(!output.status.success());
    let err = stderr(&output);
    assert!(
        err.contains("unknown target `inventroy`") && err.contains("did you mean `inventory`?"),
        "{err}"
    );

    // A missing lock.
    std::fs::remove_file(dir.join("uv.lock")).expect("remove lock");
    let (output, _) = build(&dir, Some("inventory"), "pybase-e2e/bad:3");
    assert!(!output.status.success());
    let err = stderr(&output);
    assert!(
        err.contains("pybase.yaml:6:14: `uv.lock` not found in the build context"),
        "{err}"
    );
    assert!(err.contains("uv lock"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn call_targets_lists_the_tiers_services_and_their_bases() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    let dir = repo_root().join("testdata/projects/inventory");
    let output = run(Command::new("docker")
        .args(["buildx", "build", "--call", "targets", "-f"])
        .arg(dir.join("pybase.yaml"))
        .arg(&dir));
    assert!(output.status.success(), "{}", failure(&output));
    let listing = stdout(&output);
    assert!(listing.contains("inventory (default)"), "{listing}");
    assert!(listing.contains("inventory-base"), "{listing}");

    // Tiers are targets too, each with what it builds on.
    let dir = repo_root().join("testdata/projects/tiered");
    let output = run(Command::new("docker")
        .args(["buildx", "build", "--call", "targets", "-f"])
        .arg(dir.join("pybase.yaml"))
        .arg(&dir));
    assert!(output.status.success(), "{}", failure(&output));
    let listing = stdout(&output);
    // --call check: the lint warnings, pyproject.toml lines included, and
    // a failing exit status because there are some.
    let checked = run(Command::new("docker")
        .args(["buildx", "build", "--call", "check", "-f"])
        .arg(dir.join("pybase.yaml"))
        .arg(&dir));
    assert!(!checked.status.success(), "warnings fail --call check");
    let report = format!("{}{}", stdout(&checked), stderr(&checked));
    assert!(
        report.contains("PackageInTierAndService")
            && report.contains("services/orders/pyproject.toml"),
        "{report}"
    );

    for line in [
        "python-base",
        "tier image (python:3.12-slim + system + venv)",
        "tier image (tier python-base + system + venv)",
        "service image (tier python-web + venv + code)",
    ] {
        assert!(listing.contains(line), "{line:?} missing from:\n{listing}");
    }
}

#[test]
fn without_mergeop_the_same_image_is_assembled_by_copies() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    let dir = fixture("inventory");
    let (merged, _) = build(&dir, Some("inventory"), "pybase-e2e/inventory:merged");
    assert!(merged.status.success(), "{}", failure(&merged));
    let (copied, _) = build_with(
        &dir,
        Some("inventory"),
        "pybase-e2e/inventory:copied",
        &["--build-arg", "PYBASE_MERGEOP=false"],
    );
    assert!(copied.status.success(), "{}", failure(&copied));
    // The progress names the assembly that ran.
    let containerd_store = stdout(&run(Command::new("docker").args([
        "info",
        "--format",
        "{{json .DriverStatus}}",
    ])))
    .contains("io.containerd.snapshotter.v1");
    assert_eq!(
        stderr(&merged).contains("image: + code"),
        containerd_store,
        "MergeOp is used exactly when the daemon offers it"
    );
    assert!(
        !stderr(&copied).contains("image: + code"),
        "MergeOp was used although turned off"
    );

    let output = docker_run("pybase-e2e/inventory:copied", None, &[]);
    assert!(
        stdout(&output).contains("inventory 0.1.0 ready"),
        "{}",
        stderr(&output)
    );
    let merged_layers = layers("pybase-e2e/inventory:merged");
    let copied_layers = layers("pybase-e2e/inventory:copied");
    assert_eq!(merged_layers.len(), copied_layers.len());
    // The base image's layers are the same blobs; pybase's three layers
    // (system, venv, code) hold the same files. (Their digests may differ:
    // the system step is not byte-reproducible yet, and after a `--no-cache`
    // build BuildKit may hold two results for it.)
    let ours: Vec<usize> = (merged_layers.len() - 3..merged_layers.len()).collect();
    assert_eq!(merged_layers[..ours[0]], copied_layers[..ours[0]]);
    let merged_files = layer_contents("pybase-e2e/inventory:merged", &ours);
    let copied_files = layer_contents("pybase-e2e/inventory:copied", &ours);
    for ((index, (merged, _)), (copied, _)) in ours.iter().zip(&merged_files).zip(&copied_files) {
        assert_eq!(
            merged, copied,
            "layer {index} differs between the assemblies"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_image_config_comes_from_the_spec() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    let dir = fixture("inventory");
    let spec_path = dir.join("pybase.yaml");
    let mut spec = std::fs::read_to_string(&spec_path).expect("spec");
    spec.push_str(
        "    env: {TZ: UTC, LOG_LEVEL: debug}
    workdir: /srv/inventory
    ports: [8000]
    healthcheck:
      test: [python, -c, 'import inventory']
      interval: 30s
      timeout: 5s
      start-period: 10s
      retries: 3
    stop-signal: SIGINT
    labels: {team: stock}
",
    );
    std::fs::write(&spec_path, spec).expect("write spec");
    let image = "pybase-e2e/inventory:config";
    // buildx passes the SOURCE_DATE_EPOCH variable as this build arg.
    let (output, _) = build_with(
        &dir,
        None,
        image,
        &[
            "--label",
            "extra=1",
            "--build-arg",
            "SOURCE_DATE_EPOCH=1700000000",
            // The seeds' build args for the OCI labels.
            "--build-arg",
            "VCS_REF=feedbeef",
            "--build-arg",
            "VCS_URL=https://example.com/stock.git",
        ],
    );
    assert!(output.status.success(), "{}", failure(&output));

    let env = inspect(image, "{{json .Config.Env}}");
    assert!(
        env.contains(r#""TZ=UTC""#) && env.contains(r#""LOG_LEVEL=debug""#),
        "{env}"
    );
    assert_eq!(inspect(image, "{{.Config.WorkingDir}}"), "/srv/inventory");
    assert_eq!(
        inspect(image, "{{json .Config.ExposedPorts}}"),
        r#"{"8000/tcp":{}}"#
    );
    assert_eq!(
        inspect(image, "{{json .Config.Healthcheck}}"),
        r#"{"Test":["CMD","python","-c","import inventory"],"Interval":30000000000,"Timeout":5000000000,"StartPeriod":10000000000,"Retries":3}"#
    );
    assert_eq!(inspect(image, "{{.Config.StopSignal}}"), "SIGINT");
    let labels: serde_json::Value =
        serde_json::from_str(&inspect(image, "{{json .Config.Labels}}")).expect("labels");
    assert_eq!(labels["team"], "stock");
    assert_eq!(labels["extra"], "1");
    assert_eq!(labels["org.opencontainers.image.version"], "0.1.0");
    assert_eq!(
        labels["org.opencontainers.image.created"],
        "2023-11-14T22:13:20Z"
    );
    assert_eq!(labels["org.opencontainers.image.title"], "inventory");
    assert_eq!(labels["org.opencontainers.image.revision"], "feedbeef");
    assert_eq!(
        labels["org.opencontainers.image.source"],
        "https://example.com/stock.git"
    );
    // BUILD_DATE, when given, is the creation label.
    let dated = "pybase-e2e/inventory:dated";
    let (output, _) = build_with(
        &dir,
        None,
        dated,
        &["--build-arg", "BUILD_DATE=2024-01-31T13:00:00+01:00"],
    );
    assert!(output.status.success(), "{}", failure(&output));
    assert_eq!(
        inspect(
            dated,
            "{{index .Config.Labels \"org.opencontainers.image.created\"}}"
        ),
        "2024-01-31T12:00:00Z"
    );
    // The working directory exists, and the app does not own it.
    let pwd = docker_run(
        image,
        Some("/bin/sh"),
        &["-c", "pwd; stat -c %u /srv/inventory"],
    );
    assert_eq!(stdout(&pwd), "/srv/inventory\n0");
    // The health check's command works in the image.
    assert!(
        docker_run(image, Some("python"), &["-c", "import inventory"])
            .status
            .success()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_stale_lock_fails_the_build_with_the_fix() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    let dir = fixture("inventory");
    let pyproject = dir.join("pyproject.toml");
    let text = std::fs::read_to_string(&pyproject).expect("pyproject");

    // A dependency added without re-locking: the frontend stops before
    // building, at the line in pyproject.toml.
    std::fs::write(
        &pyproject,
        text.replace("\"six==1.17.0\",", "\"six==1.17.0\",\n    \"idna==3.10\","),
    )
    .expect("write pyproject");
    let (output, _) = build(&dir, Some("inventory"), "pybase-e2e/stale:1");
    assert!(!output.status.success(), "a stale lock built an image");
    let err = stderr(&output);
    assert!(
        err.contains("pyproject.toml:10:6: `idna` is a dependency in pyproject.toml but uv.lock does not lock it"),
        "{err}"
    );
    assert!(
        err.contains("run `uv lock`"),
        "the error does not say how to fix it: {err}"
    );

    // A changed version, which only uv can judge: `uv sync --locked` fails
    // the venv step, and buildx ties the failure to the spec's line.
    std::fs::write(&pyproject, text.replace("six==1.17.0", "six==1.16.0"))
        .expect("write pyproject");
    let (output, _) = build(&dir, Some("inventory"), "pybase-e2e/stale:2");
    assert!(!output.status.success(), "a stale lock built an image");
    let err = stderr(&output);
    assert!(
        err.contains("uv lock"),
        "the error does not say how to fix it: {err}"
    );
    assert!(
        err.contains("pybase.yaml"),
        "the failing step is not tied to the spec: {err}"
    );
    let _ = std::fs::remove_dir_all(&dir);

    // The same on a venv installed from wheels BuildKit fetched: the
    // export step (`uv export --locked`) fails, before any install.
    let dir = fixture("selected");
    let pyproject = dir.join("pyproject.toml");
    let text = std::fs::read_to_string(&pyproject).expect("pyproject");
    std::fs::write(&pyproject, text.replace("six==1.17.0", "six==1.16.0"))
        .expect("write pyproject");
    let (output, _) = build(&dir, None, "pybase-e2e/stale:3");
    assert!(!output.status.success(), "a stale lock built an image");
    let err = stderr(&output);
    assert!(
        err.contains("venv: uv.lock as requirements with hashes") && err.contains("uv lock"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_venv_gets_the_extras_and_groups_the_spec_selects_and_no_others() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    let dir = fixture("selected");
    let builds_the_selection = |image: &str| {
        build_ok(&dir, None, image);
        let ran = docker_run(image, None, &[]);
        assert_eq!(
            stdout(&ran),
            "six: yes\nyaml: yes\ntomli_w: no\niniconfig: yes\npackaging: no",
            "{image}: {}",
            stderr(&ran)
        );
    };
    builds_the_selection("pybase-e2e/selected:latest");

    // The same project locked by Poetry 2 instead: the same selection.
    std::fs::remove_file(dir.join("uv.lock")).expect("remove uv.lock");
    std::fs::copy(
        repo_root().join("testdata/locks/selected-poetry.lock"),
        dir.join("poetry.lock"),
    )
    .expect("copy poetry.lock");
    builds_the_selection("pybase-e2e/selected:poetry");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_version_from_a_build_arg_stamps_a_vcs_versioned_project_without_git() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    let dir = fixture("stamped");
    assert!(!dir.join(".git").exists(), "the context must have no .git");

    // Without the build arg the spec refers to, the build stops at the
    // spec's line, before anything runs.
    let (output, _) = build(&dir, None, "pybase-e2e/stamped:none");
    assert!(!output.status.success(), "an undefined build arg built");
    let err = stderr(&output);
    assert!(
        err.contains("pybase.yaml:8:14: `${VERSION}` refers to the build arg `VERSION`"),
        "{err}"
    );

    // With it, hatch-vcs gets the version, the package's metadata records
    // it and the image's OCI label says it; another arg fills a label.
    let image = "pybase-e2e/stamped:1.4.2";
    let (output, _) = build_with(
        &dir,
        None,
        image,
        &[
            "--build-arg",
            "VERSION=1.4.2",
            "--build-arg",
            "CHANNEL=beta",
        ],
    );
    assert!(output.status.success(), "{}", failure(&output));
    let ran = docker_run(image, None, &[]);
    assert_eq!(stdout(&ran).trim(), "stamped 1.4.2", "{}", stderr(&ran));
    assert_eq!(
        inspect(
            image,
            "{{index .Config.Labels \"org.opencontainers.image.version\"}} {{index .Config.Labels \"com.example.release-channel\"}}"
        )
        .trim(),
        "1.4.2 beta"
    );
    // The venv does not depend on the version: a new one reruns only the
    // code step.
    let layers_before = layers(image);
    let next = "pybase-e2e/stamped:1.4.3";
    let (output, _) = build_with(
        &dir,
        None,
        next,
        &[
            "--build-arg",
            "VERSION=1.4.3",
            "--build-arg",
            "CHANNEL=beta",
        ],
    );
    assert!(output.status.success(), "{}", failure(&output));
    let layers_after = layers(next);
    assert_eq!(layers_before.len(), layers_after.len());
    let differing: Vec<usize> = (0..layers_after.len())
        .filter(|&i| layers_before[i] != layers_after[i])
        .collect();
    assert_eq!(
        differing,
        [layers_after.len() - 1],
        "only the code layer differs"
    );
    let ran = docker_run(next, None, &[]);
    assert_eq!(stdout(&ran).trim(), "stamped 1.4.3");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_ca_bundle_secret_reaches_no_layer_and_no_config() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    let dir = fixture("inventory");
    // A working bundle (PyPI is reached through it) carrying a marker line.
    let marker = format!("pybase-secret-marker-{}", unique());
    let bundle = dir.join("..").join(format!("ca-{}.pem", unique()));
    let mut text = std::fs::read_to_string(CA_BUNDLE).expect("CA bundle");
    text.push_str(&format!("# {marker}\n"));
    std::fs::write(&bundle, text).expect("write bundle");
    let image = "pybase-e2e/inventory:secret";
    let mut command = buildx_command(&dir, image);
    command
        .arg("--no-cache")
        .arg("--secret")
        .arg(format!("id=ca-bundle,src={}", bundle.display()))
        .arg(&dir);
    let output = run(&mut command);
    assert!(output.status.success(), "{}", failure(&output));

    assert_no_blob_holds(image, &marker);
    let _ = std::fs::remove_file(&bundle);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Asserts that layer `index` of `image` holds the site-packages entries
/// starting with each of `holds` and none starting with `lacks` (packages a
/// layer below already has, which must not be installed again).
fn assert_layer_packages(image: &str, index: usize, holds: &[&str], lacks: &[&str]) {
    let [(entries, _)] = layer_contents(image, &[index])
        .try_into()
        .expect("one layer");
    let has = |package: &str| {
        let prefix = format!("site-packages/{package}");
        entries.iter().any(|e| e.contains(&prefix))
    };
    for package in holds {
        assert!(
            has(package),
            "{image}: layer {index} lacks `{package}`: {entries:?}"
        );
    }
    for package in lacks {
        assert!(
            !has(package),
            "{image}: layer {index} holds `{package}`, which a layer below already has: {entries:?}"
        );
    }
}

/// Searches every blob of `image` (each layer decompressed, the config,
/// the manifest) for `marker`, and fails if one holds it.
fn assert_no_blob_holds(image: &str, marker: &str) {
    let save_dir = std::env::temp_dir().join(format!("pybase-e2e-secret-{}", unique()));
    std::fs::create_dir_all(&save_dir).expect("save dir");
    let saved = run(Command::new("docker")
        .arg("save")
        .arg("-o")
        .arg(save_dir.join("image.tar"))
        .arg(image));
    assert!(saved.status.success(), "{}", failure(&saved));
    let unpacked = run(Command::new("tar")
        .arg("-xf")
        .arg(save_dir.join("image.tar"))
        .arg("-C")
        .arg(&save_dir));
    assert!(unpacked.status.success());
    let search = run(Command::new("sh").arg("-c").arg(
        "found=0; for blob in \"$0\"/blobs/sha256/*; do if gzip -dcf \"$blob\" | grep -aqF \"$1\"; then echo \"$blob\"; found=1; fi; done; ls \"$0\"/blobs/sha256 | wc -l",
    ).arg(&save_dir).arg(marker));
    let lines = stdout(&search);
    let (hits, count) = lines.rsplit_once('\n').unwrap_or(("", lines.as_str()));
    assert_eq!(hits, "", "the secret's marker is in these blobs");
    assert!(
        count.trim().parse::<u32>().is_ok_and(|n| n >= 4),
        "too few blobs searched: {lines}"
    );
    assert!(!inspect(image, "{{json .Config}}").contains(marker));
    let _ = std::fs::remove_dir_all(&save_dir);
}

#[test]
fn bake_builds_every_target_from_pybase_bake() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    let dir = repo_root().join("testdata/projects/inventory");
    let generated = run(Command::new(env!("CARGO_BIN_EXE_pybase"))
        .current_dir(&dir)
        .args(["bake", "pybase.yaml"]));
    assert!(generated.status.success(), "{}", failure(&generated));
    let bake_file = std::env::temp_dir().join(format!("pybase-e2e-bake-{}.json", unique()));
    std::fs::write(&bake_file, &generated.stdout).expect("write bake file");

    let printed = run(Command::new("docker")
        .current_dir(&dir)
        .env("REGISTRY", "localhost:5000/e2e/")
        .env("TAG", "baked")
        .args(["buildx", "bake", "--print", "-f"])
        .arg(&bake_file));
    assert!(printed.status.success(), "{}", failure(&printed));
    let printed: serde_json::Value =
        serde_json::from_slice(&printed.stdout).expect("bake --print JSON");
    assert_eq!(
        printed["group"]["default"]["targets"],
        serde_json::json!(["inventory"])
    );
    assert_eq!(
        printed["target"]["inventory"]["tags"],
        serde_json::json!(["localhost:5000/e2e/inventory:baked"])
    );

    let built = run(Command::new("docker")
        .current_dir(&dir)
        .env("REGISTRY", "pybase-e2e/")
        .env("TAG", "baked")
        .args(["buildx", "bake", "--progress", "plain", "-f"])
        .arg(&bake_file)
        .args(["--set", &format!("*.secrets=id=ca-bundle,src={CA_BUNDLE}")])
        .args([
            "--set",
            &format!("*.contexts.python:3.12-slim=docker-image://{BASE_IMAGE}"),
        ])
        .args([
            "--set",
            "*.output=type=docker",
            "inventory",
            "inventory-base",
        ]));
    assert!(built.status.success(), "{}", failure(&built));
    let base = layers("pybase-e2e/inventory-base:baked");
    let image = layers("pybase-e2e/inventory:baked");
    assert_eq!(
        base[..],
        image[..base.len()],
        "one bake session: the service starts with its base's layers"
    );
    let _ = std::fs::remove_file(&bake_file);
}

/// `pybase bake` of the spec in `dir`, built by `docker buildx bake` in one
/// session with the base images mapped onto the test image and the CA
/// bundle secret; images are `pybase-e2e/NAME:TAG`. Returns bake's output.
fn bake_spec(dir: &Path, tag: &str, targets: &[&str]) -> Output {
    let generated = run(Command::new(env!("CARGO_BIN_EXE_pybase"))
        .current_dir(dir)
        .args(["bake", "pybase.yaml"]));
    assert!(generated.status.success(), "{}", failure(&generated));
    let bake_file = dir.join("bake.json");
    std::fs::write(&bake_file, &generated.stdout).expect("write bake file");
    let built = run(Command::new("docker")
        .current_dir(dir)
        .env("REGISTRY", "pybase-e2e/")
        .env("TAG", tag)
        .args(["buildx", "bake", "--progress", "plain", "-f"])
        .arg(&bake_file)
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

#[test]
fn services_start_with_their_tiers_exact_layers_and_add_only_what_the_tier_lacks() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    let dir = fixture("tiered");
    let tag = format!("t{}", unique());
    let image = |name: &str| format!("pybase-e2e/{name}:{tag}");
    // A lock no earlier build saw, so python-base's venv step runs now: a
    // second run would write new file times, hence other layer digests, so
    // equal layers below prove it ran once for all four images.
    let base_lock = dir.join("tiers/base/uv.lock");
    let mut text = std::fs::read_to_string(&base_lock).expect("python-base lock");
    text.push_str(&format!("# e2e run {tag}\n"));
    std::fs::write(&base_lock, text).expect("write lock");
    bake_spec(&dir, &tag, &["default", "tiers"]);

    let base = layers(&image("python-base"));
    let web = layers(&image("python-web"));
    let orders = layers(&image("orders"));
    let billing = layers(&image("billing"));
    assert_eq!(
        web[..base.len()],
        base[..],
        "python-web starts with python-base"
    );
    assert_eq!(
        orders[..web.len()],
        web[..],
        "orders starts with python-web"
    );
    assert_eq!(
        billing[..base.len()],
        base[..],
        "billing starts with python-base"
    );
    assert_eq!(
        orders.len(),
        web.len() + 2,
        "orders adds its venv delta and its code"
    );

    // The images run, with the tiers' packages and their own.
    let ran = docker_run(&image("orders"), None, &[]);
    assert!(ran.status.success(), "{}", failure(&ran));
    assert_eq!(
        stdout(&ran),
        "orders: six 1.17.0, packaging 24.2, idna 3.10, attrs 24.3.0"
    );
    let ran = docker_run(&image("billing"), None, &[]);
    assert!(ran.status.success(), "{}", failure(&ran));
    assert_eq!(
        stdout(&ran),
        "billing: six 1.17.0, packaging 24.2, iniconfig 2.0.0"
    );

    // python-web's venv layer holds idna alone: six, which python-base
    // already has at the same version, is not installed again. The
    // service's own delta: attrs, nothing of the tiers.
    assert_layer_packages(
        &image("python-web"),
        web.len() - 1,
        &["idna/"],
        &["six", "packaging"],
    );
    assert_layer_packages(&image("orders"), web.len(), &["attrs/"], &["idna", "six"]);

    // Tier images carry the digest of their inputs; services do not.
    let label = "{{index .Config.Labels \"dev.pybase.tier.inputs-digest\"}}";
    let base_inputs = inspect(&image("python-base"), label);
    let web_inputs = inspect(&image("python-web"), label);
    assert!(base_inputs.starts_with("sha256:"), "{base_inputs}");
    assert!(web_inputs.starts_with("sha256:"), "{web_inputs}");
    assert_ne!(base_inputs, web_inputs);
    assert_eq!(inspect(&image("orders"), label), "");
    assert_eq!(inspect(&image("orders"), "{{.Config.User}}"), "1000:1000");
    assert!(
        inspect(&image("orders"), "{{json .Config.Env}}").contains("\"TZ=UTC\""),
        "the tier's env reaches the service"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn on_a_tier_a_service_builds_its_sdist_alone_and_installs_it_offline_in_its_delta() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    // inventory on the tiered fixture's python-base (six and packaging):
    // what its lock adds is psycopg2, which PyPI has as an sdist only.
    let dir = fixture("inventory");
    copy_dir(
        &repo_root().join("testdata/projects/tiered/tiers/base"),
        &dir.join("tier"),
    );
    std::fs::write(
        dir.join("pybase.yaml"),
        "# syntax=localhost:5000/pybase-frontend:dev
version: 1
tiers:
  python-base:
    from: python:3.12-slim
    project: tier
services:
  inventory:
    tier: python-base
    project: .
    system:
      runtime: [libpq5]
      build: [gcc, libpq-dev]
    command: [inventory]
",
    )
    .expect("write spec");
    let tier = "pybase-e2e/python-base:under-inventory";
    let service = "pybase-e2e/inventory:on-a-tier";
    build_ok(&dir, Some("python-base"), tier);
    let (output, _) = build(&dir, Some("inventory"), service);
    let log = stderr(&output);
    assert!(output.status.success(), "{}", failure(&output));
    assert!(
        log.contains("[inventory] build psycopg2 2.9.10 from its sdist"),
        "{log}"
    );
    let delta = "[inventory] venv: 2 packages from uv.lock, adding what the tier lacks, 1 fetched wheel and 1 built sdist, network off";
    assert!(log.contains(delta), "{log}");

    // The service starts with the tier's layers, then its runtime
    // packages, then a delta of psycopg2 alone (six is the tier's), then
    // its code.
    let (tier_layers, service_layers) = (layers(tier), layers(service));
    assert_eq!(service_layers[..tier_layers.len()], tier_layers[..]);
    assert_eq!(service_layers.len(), tier_layers.len() + 3);
    assert_layer_packages(service, tier_layers.len() + 1, &["psycopg2/"], &["six"]);
    let ran = docker_run(service, None, &[]);
    let text = stdout(&ran);
    assert!(ran.status.success(), "{}", failure(&ran));
    assert!(text.contains("inventory 0.1.0 ready"), "{text}");
    assert!(text.contains("psycopg2 2.9.10"), "{text}");
    assert!(text.contains("six 1.17.0"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_service_pinning_a_tier_package_at_another_version_stops_the_build() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    let dir = fixture("tiered");
    let lock = dir.join("services/orders/uv.lock");
    let text = std::fs::read_to_string(&lock).expect("orders lock");
    let pinned = "name = \"six\"\nversion = \"1.17.0\"";
    assert!(text.contains(pinned), "the fixture pins six 1.17.0");
    std::fs::write(
        &lock,
        text.replace(pinned, "name = \"six\"\nversion = \"1.16.0\""),
    )
    .expect("write lock");
    let (output, _) = build(&dir, Some("orders"), "pybase-e2e/conflict:latest");
    assert!(
        !output.status.success(),
        "a conflicting lock must not build"
    );
    let log = stderr(&output);
    assert!(
        log.contains("services/orders/uv.lock:")
            && log.contains("`six` is locked at 1.16.0 here but at 1.17.0 in tiers/"),
        "{log}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Builds the seed spec `testdata/seeds/NAME` (every tier and service in
/// one bake session), then checks what every seed must show: each tier
/// starts with its parent tier's exact layers and each service with its
/// tier's; every service runs and prints the versions of `expected`; no
/// image holds a compiler. Returns the image name of a target.
fn build_seed(name: &str, expected: &[(&str, &str)]) -> impl Fn(&str) -> String {
    let source = repo_root().join("testdata/seeds").join(name);
    let dir = std::env::temp_dir().join(format!("pybase-e2e-seed-{name}-{}", unique()));
    copy_dir(&source, &dir);
    let tag = format!("{name}-{}", unique());
    bake_spec(&dir, &tag, &["default", "tiers"]);
    let image = move |target: &str| format!("pybase-e2e/{target}:{tag}");

    let text = std::fs::read(dir.join("pybase.yaml")).expect("seed spec");
    let spec = llb_gen::spec::parse("pybase.yaml", &text).expect("the seed spec is valid");
    let starts_with = |upper: &str, lower: &str| {
        let (upper_layers, lower_layers) = (layers(&image(upper)), layers(&image(lower)));
        assert!(
            upper_layers.len() > lower_layers.len()
                && upper_layers[..lower_layers.len()] == lower_layers[..],
            "{name}: `{upper}` does not start with the layers of `{lower}`"
        );
    };
    for tier in spec.tiers.values() {
        if let llb_gen::spec::TierBase::Tier(parent) = &tier.from {
            starts_with(&tier.level.name, parent);
        }
    }
    for service in spec.services.values() {
        let tier = service
            .tier
            .as_deref()
            .expect("seed services stand on tiers");
        starts_with(&service.level.name, tier);
    }
    assert_eq!(
        expected.len(),
        spec.services.len(),
        "{name}: one expectation per service"
    );
    for (service, versions) in expected {
        let ran = docker_run(&image(service), None, &[]);
        assert!(ran.status.success(), "{name}/{service}: {}", failure(&ran));
        assert_eq!(stdout(&ran), format!("{service}: {versions}"), "{name}");
    }
    for target in spec.tiers.keys().chain(spec.services.keys()) {
        let probe = docker_run(
            &image(target),
            Some("/bin/sh"),
            &[
                "-c",
                "for tool in gcc cc g++ make; do command -v $tool; done; true",
            ],
        );
        assert_eq!(stdout(&probe), "", "{name}: `{target}` holds build tools");
    }
    let _ = std::fs::remove_dir_all(&dir);
    image
}

#[test]
fn seed_000_one_ai_base_with_runtime_libraries_and_arcuser() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    let image = build_seed(
        "000-python-ai",
        &[
            ("sherlock-brain", "psycopg2 2.9.10, structlog 24.4.0"),
            ("scarlett-voice", "pyyaml 6.0.2"),
        ],
    );
    let user = docker_run(&image("sherlock-brain"), Some("id"), &["-un"]);
    assert_eq!(stdout(&user), "arcuser");
    let wget = docker_run(
        &image("scarlett-voice"),
        Some("/bin/sh"),
        &["-c", "command -v wget && command -v curl"],
    );
    assert_eq!(
        stdout(&wget),
        "/usr/bin/wget\n/usr/bin/curl",
        "the tier's runtime tools"
    );
    assert!(
        inspect(&image("sherlock-brain"), "{{json .Config.Healthcheck}}").contains("--spider"),
        "the seed's health check"
    );
}

#[test]
fn seed_001_every_dependency_in_the_base_and_the_app_layer_is_the_code() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    let image = build_seed(
        "001-deps-in-base",
        &[(
            "production-control",
            "jinja2 3.1.6, markupsafe 3.0.4, python-dateutil 2.9.0.post0",
        )],
    );
    let base = layers(&image("production-base"));
    let app = layers(&image("production-control"));
    assert_eq!(
        app.len(),
        base.len() + 1,
        "the app adds one layer: its code"
    );
    let [(code, bytes)] = layer_contents(&image("production-control"), &[base.len()])
        .try_into()
        .expect("one layer");
    assert!(
        code.iter()
            .all(|e| !e.contains("jinja2") && !e.contains("dateutil")),
        "dependencies in the app layer: {code:?}"
    );
    assert!(bytes < 64 * 1024, "the app layer is {bytes} bytes");
}

#[test]
fn seed_002_web_and_ml_tiers_on_one_base_without_duplicates() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    let image = build_seed(
        "002-web-and-ml",
        &[
            ("discord", "httpx 0.28.1, pydantic 2.10.6, pynacl 1.5.0"),
            (
                "stt",
                "numpy 2.2.6, python-multipart 0.0.20, scipy 1.15.3, structlog 24.4.0",
            ),
        ],
    );
    let ml = layers(&image("python-ml"));
    assert_layer_packages(&image("stt"), ml.len(), &["multipart"], &["numpy", "scipy"]);
}

#[test]
fn seed_003_a_chain_of_three_tiers_with_env_defaults() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    let image = build_seed(
        "003-kafka-fastapi",
        &[
            (
                "api",
                "fastapi 0.115.12, kafka-python 2.0.2, orjson 3.10.15, python-multipart 0.0.20",
            ),
            (
                "ingest",
                "kafka-python 2.0.2, orjson 3.10.15, tenacity 9.0.0",
            ),
        ],
    );
    let env = inspect(&image("api"), "{{json .Config.Env}}");
    for var in [
        "TZ=UTC",
        "LOOM_KAFKA_BOOTSTRAP_SERVERS=localhost:9092",
        "LOOM_LOG_LEVEL=INFO",
    ] {
        assert!(env.contains(var), "{var} missing from {env}");
    }
    let user = docker_run(&image("ingest"), Some("id"), &["-un"]);
    assert_eq!(stdout(&user), "appuser");
}

#[test]
fn seed_004_cpu_ml_gpu_with_a_native_library_compiled_in_the_builder() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    let image = build_seed(
        "004-cpu-ml-gpu",
        &[
            ("ai", "msgpack 1.1.0, numpy 2.2.6, six 1.17.0"),
            ("api", "idna 3.10, msgpack 1.1.0"),
            ("training", "numpy 2.2.6, packaging 24.2, scipy 1.15.3"),
        ],
    );
    // Built from its sdist here, not a manylinux wheel from PyPI.
    let wheel = docker_run(
        &image("cpu"),
        Some("/bin/sh"),
        &[
            "-c",
            "grep ^Tag: /opt/venv/lib/python3*/site-packages/msgpack-*.dist-info/WHEEL",
        ],
    );
    let tag = stdout(&wheel);
    assert!(
        tag.starts_with("Tag: cp3") && tag.contains("-linux_") && !tag.contains("manylinux"),
        "msgpack was not compiled here: {tag}"
    );
}

#[test]
fn the_frontend_image_is_one_small_static_layer_run_as_nobody_with_its_labels() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    let image = "pybase-frontend:dev";
    // FROM scratch: one layer, the binary.
    assert_eq!(layers(image).len(), 1, "only the binary's layer");
    let [(entries, bytes)] = layer_contents(image, &[0]).try_into().expect("one layer");
    assert_eq!(entries, ["pybase"], "nothing but the static binary");
    assert!(bytes < 10_000_000, "the frontend image is {bytes} bytes");
    assert_eq!(inspect(image, "{{.Config.User}}"), "65534:65534");
    assert_eq!(
        inspect(image, "{{json .Config.Entrypoint}}"),
        r#"["/pybase","frontend"]"#
    );
    assert_eq!(
        inspect(
            image,
            "{{index .Config.Labels \"moby.buildkit.frontend.network.none\"}}"
        ),
        "true"
    );
    let caps = inspect(
        image,
        "{{index .Config.Labels \"moby.buildkit.frontend.caps\"}}",
    );
    assert!(
        caps.contains("moby.buildkit.frontend.subrequests"),
        "{caps}"
    );
}

#[test]
fn two_builds_from_clean_caches_with_source_date_epoch_give_the_same_digest() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    // inventory's venv is downloaded by uv (psycopg2 builds from its
    // sdist); selected's from wheels BuildKit fetched.
    for name in ["inventory", "selected"] {
        let dir = fixture(name);
        let digests: Vec<serde_json::Value> = (0..2)
            .map(|round| clean_build_digest(&dir, round))
            .collect();
        assert!(
            digests[0]
                .as_str()
                .is_some_and(|d| d.starts_with("sha256:"))
        );
        assert_eq!(
            digests[0], digests[1],
            "{name}: the same inputs gave two images"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// The digest of the image of the spec in `dir` built with
/// `SOURCE_DATE_EPOCH` from clean caches: no cache mount survives (uv's
/// built wheels, apt's downloads) and no step result is reused.
fn clean_build_digest(dir: &Path, round: usize) -> serde_json::Value {
    let pruned = run(Command::new("docker").args([
        "buildx",
        "prune",
        "-f",
        "--filter",
        "type=exec.cachemount",
    ]));
    assert!(pruned.status.success(), "{}", failure(&pruned));
    // Outside the build context: the next round must not send this image
    // to BuildKit as part of the project.
    let oci = std::env::temp_dir().join(format!("pybase-e2e-oci-{round}-{}.tar", unique()));
    let mut command = Command::new("docker");
    command
        .args(["buildx", "build", "--progress", "plain", "--no-cache", "-f"])
        .arg(dir.join("pybase.yaml"))
        .args([
            "--build-context",
            &format!("python:3.12-slim=docker-image://{BASE_IMAGE}"),
        ])
        .args(["--secret", &format!("id=ca-bundle,src={CA_BUNDLE}")])
        .args(["--build-arg", "SOURCE_DATE_EPOCH=1700000000"])
        .arg("--output")
        .arg(format!(
            "type=oci,dest={},rewrite-timestamp=true",
            oci.display()
        ))
        .arg(dir);
    let output = run(&mut command);
    assert!(output.status.success(), "{}", failure(&output));
    // Only the index is read: the image's blobs stay in the archive, which
    // is removed before the assertions.
    let untar = run(Command::new("tar").arg("-xOf").arg(&oci).arg("index.json"));
    let _ = std::fs::remove_file(&oci);
    assert!(untar.status.success(), "{}", failure(&untar));
    let index: serde_json::Value = serde_json::from_slice(&untar.stdout).expect("index JSON");
    assert_eq!(
        index["manifests"][0]["annotations"]["org.opencontainers.image.created"],
        serde_json::json!("2023-11-14T22:13:20Z")
    );
    index["manifests"][0]["digest"].clone()
}

/// The package index of the `private-index` fixture: a PEP 503 simple
/// index serving its one wheel to requests with basic auth `user:password`
/// (401 otherwise), on port 18080 of every interface, so that build
/// containers reach it through the Docker bridge. Runs until the test
/// process ends.
fn serve_private_index(user: &str, password: &str) {
    use base64::Engine;
    use std::io::{BufRead, BufReader, Write};
    const WHEEL: &str = "pybase_private_demo-1.0.0-py3-none-any.whl";
    let wheel = std::fs::read(
        repo_root()
            .join("testdata/projects/private-index/index")
            .join(WHEEL),
    )
    .expect("the fixture wheel");
    let digest = {
        let output = run(Command::new("sha256sum").arg(
            repo_root()
                .join("testdata/projects/private-index/index")
                .join(WHEEL),
        ));
        stdout(&output)
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_owned()
    };
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    );
    let listener = std::net::TcpListener::bind("0.0.0.0:18080").expect("port 18080 is free");
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(&stream);
            let mut request = String::new();
            if reader.read_line(&mut request).is_err() {
                continue;
            }
            let mut authorized = false;
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                if let Some((name, value)) = line.split_once(':')
                    && name.eq_ignore_ascii_case("authorization")
                {
                    authorized = value.trim() == expected;
                }
                line.clear();
            }
            let mut parts = request.split_whitespace();
            let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            let (status, content_type, body): (&str, &str, Vec<u8>) = if !authorized {
                (
                    "401 Unauthorized",
                    "text/plain",
                    b"credentials required\n".to_vec(),
                )
            } else if path.trim_end_matches('/') == "/simple/pybase-private-demo" {
                let page = format!(
                    "<html><body><a href=\"/files/{WHEEL}#sha256={digest}\">{WHEEL}</a></body></html>"
                );
                ("200 OK", "text/html", page.into_bytes())
            } else if path == format!("/files/{WHEEL}") {
                ("200 OK", "application/octet-stream", wheel.clone())
            } else {
                ("404 Not Found", "text/plain", b"not found\n".to_vec())
            };
            let mut stream = &stream;
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nWWW-Authenticate: Basic realm=\"pybase\"\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            if method != "HEAD" {
                let _ = stream.write_all(&body);
            }
        }
    });
}

#[test]
fn a_private_index_is_reached_with_the_netrc_secret_which_no_layer_keeps() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    // The fixture's lock names the index at the default bridge's gateway.
    let gateway = run(Command::new("docker").args([
        "network",
        "inspect",
        "bridge",
        "--format",
        "{{(index .IPAM.Config 0).Gateway}}",
    ]));
    assert_eq!(
        stdout(&gateway),
        "172.17.0.1",
        "the private-index fixture expects Docker's default bridge"
    );
    let password = format!("pybase-netrc-marker-{}", unique());
    serve_private_index("pybase", &password);
    let dir = fixture("private-index");

    // Without credentials the venv step fails. (`--no-cache` in both
    // builds: secrets are not part of BuildKit's cache keys, so a venv
    // cached by an earlier build with credentials would be reused.)
    let image = "pybase-e2e/private-app:latest";
    let (output, _) = build_with(&dir, None, image, &["--no-cache"]);
    assert!(!output.status.success(), "the index requires credentials");
    assert!(stderr(&output).contains("401"), "{}", stderr(&output));

    let netrc = dir.join("..").join(format!("netrc-{}", unique()));
    std::fs::write(
        &netrc,
        format!("machine 172.17.0.1\nlogin pybase\npassword {password}\n"),
    )
    .expect("write netrc");
    let (output, _) = build_with(
        &dir,
        None,
        image,
        &[
            "--no-cache",
            "--secret",
            &format!("id=netrc,src={}", netrc.display()),
        ],
    );
    assert!(output.status.success(), "{}", failure(&output));
    let ran = docker_run(image, None, &[]);
    assert_eq!(stdout(&ran), "private-app: from the private index");
    assert_no_blob_holds(image, &password);
    let _ = std::fs::remove_file(&netrc);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The `.dist-info` directories in the venv of `image`, sorted.
fn installed_distributions(image: &str) -> Vec<String> {
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

#[test]
fn every_lock_format_installs_what_uv_lock_does_and_checks_every_hash() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    let from_uv = fixture("inventory");
    build_ok(&from_uv, None, "pybase-e2e/locks:uv");
    let uv = installed_distributions("pybase-e2e/locks:uv");
    assert!(
        uv.iter().any(|d| d.starts_with("psycopg2-2.9.10")),
        "{uv:?}"
    );

    // Hashes that do not match the artifacts stop the build, in every
    // format: six's (its wheel's and its sdist's, either of which would
    // do) replaced by a forged one.
    let forged = "0000000000000000000000000000000000000000000000000000000000000000";
    let six = [
        "4721f391ed90541fddacab5acf947aa0d3dc7d27b2e1e8eda2be8970586c3274",
        "ff70335d468e7eb6ec65b95b99d3a2836546063f63acc5171de367e834932a81",
    ];
    let forge = |dir: &Path, file: &str| {
        let path = dir.join(file);
        let mut text = std::fs::read_to_string(&path).expect("lock");
        for hash in six {
            assert!(text.contains(hash), "{file} records six's hash {hash}");
            text = text.replace(hash, forged);
        }
        std::fs::write(&path, &text).expect("write lock");
        let (output, _) = build(dir, None, "pybase-e2e/locks:forged");
        assert!(
            !output.status.success(),
            "a forged hash in {file} must not build"
        );
        // uv's report names the package and the hashes; BuildKit's, when
        // it fetched the file, is its digest mismatch, under the step that
        // names the file and where the lock records its hash.
        let log = stderr(&output);
        let lower = log.to_lowercase();
        assert!(
            log.contains("six") && (lower.contains("hash") || lower.contains("digest mismatch")),
            "{file}: {log}"
        );
        // A lock that names its files' addresses: BuildKit fetched six's
        // wheel, and the step names the forged hash's line and column.
        if matches!(file, "uv.lock" | "pylock.toml") {
            let (line, column) = text
                .lines()
                .enumerate()
                .find(|(_, l)| l.contains("six-1.17.0-py2.py3-none-any.whl"))
                .and_then(|(n, l)| Some((n + 1, l.find(forged)? + 1)))
                .expect("the forged wheel's line");
            let step = format!(
                "fetch six-1.17.0-py2.py3-none-any.whl (sha256 000000000000, {file}:{line}:{column})"
            );
            assert!(log.contains(&step), "{step}: {log}");
        }
    };

    // The same project with another lock of the same dependency set instead
    // of uv.lock (exported from it, or locked by Poetry 2, Poetry 1.8 and
    // Poetry 1.2, whose lock-version 1.1 lists files under
    // `[metadata.files]`; for Poetry 1, from the pyproject.toml in Poetry's
    // own form it needs): the same distributions are installed.
    let locks = repo_root().join("testdata/locks");
    for (file, exported, pyproject) in [
        ("requirements.txt", "inventory-requirements.txt", None),
        ("pylock.toml", "inventory-pylock.toml", None),
        ("poetry.lock", "inventory-poetry.lock", None),
        (
            "poetry.lock",
            "inventory-poetry1.lock",
            Some("inventory-poetry1-pyproject.toml"),
        ),
        (
            "poetry.lock",
            "inventory-poetry1.2.lock",
            Some("inventory-poetry1.2-pyproject.toml"),
        ),
    ] {
        let dir = fixture("inventory");
        std::fs::remove_file(dir.join("uv.lock")).expect("remove uv.lock");
        std::fs::copy(locks.join(exported), dir.join(file)).expect("copy the lock");
        if let Some(pyproject) = pyproject {
            std::fs::copy(locks.join(pyproject), dir.join("pyproject.toml"))
                .expect("copy the pyproject");
        }
        let image = format!("pybase-e2e/locks:{}", exported.replace('.', "-"));
        let (output, _) = build(&dir, None, &image);
        let log = stderr(&output);
        assert!(output.status.success(), "{file}: {}", failure(&output));
        // A pylock.toml names its files' addresses: BuildKit fetches them,
        // builds the sdist, and the install runs offline, as for uv.lock.
        if file == "pylock.toml" {
            assert!(
                log.contains(
                    "venv: 2 packages from pylock.toml, 1 fetched wheel and 1 built sdist, network off"
                ),
                "{log}"
            );
        }
        assert_eq!(
            installed_distributions(&image),
            uv,
            "{file} and uv.lock of one dependency set installed different packages"
        );
        let ran = docker_run(&image, None, &[]);
        assert!(stdout(&ran).contains("six 1.17.0"), "{}", stdout(&ran));
        forge(&dir, file);
        let _ = std::fs::remove_dir_all(&dir);
    }
    forge(&from_uv, "uv.lock");
    let _ = std::fs::remove_dir_all(&from_uv);
}

/// The amd64 and arm64 test base images as one index in the loopback
/// registry (`cargo xtask up`'s `multiarch-base` step).
const MULTIARCH_BASE: &str = "localhost:5000/pybase-test/python:3.11";

#[test]
fn two_platforms_build_one_index_whose_images_run_their_own_architecture() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    let dir = fixture("selected");
    let image = "pybase-e2e/selected:multi-platform";
    let started = Instant::now();
    let output = run(buildx_command_on(&dir, image, MULTIARCH_BASE)
        .args(["--platform", "linux/amd64,linux/arm64"])
        .args(["--secret", &format!("id=ca-bundle,src={CA_BUNDLE}")])
        .arg(&dir));
    assert!(
        output.status.success(),
        "the two-platform build failed:\n{}",
        failure(&output)
    );
    eprintln!(
        "two-platform build: {:.1}s",
        started.elapsed().as_secs_f64()
    );

    // One image: an index, of these two platforms and no other.
    assert_eq!(
        inspect(image, "{{.Descriptor.MediaType}}"),
        "application/vnd.oci.image.index.v1+json"
    );
    let other = run(Command::new("docker").args([
        "image",
        "inspect",
        "--platform",
        "linux/riscv64",
        image,
    ]));
    assert!(!other.status.success(), "{image} has a linux/riscv64 image");

    for (platform, machine, wheel_arch) in [
        ("linux/amd64", "x86_64", "x86_64"),
        ("linux/arm64", "aarch64", "aarch64"),
    ] {
        let architecture = platform.trim_start_matches("linux/");
        let config = run(Command::new("docker")
            .args(["image", "inspect", "--platform", platform])
            .args(["--format", "{{.Os}}/{{.Architecture}}", image]));
        assert_eq!(stdout(&config), platform, "{}", stderr(&config));

        // Its Python runs as the platform's machine (arm64 under qemu).
        let ran = run(Command::new("docker")
            .args(["run", "--rm", "--platform", platform, image])
            .args(["python", "-c", "import platform; print(platform.machine())"]));
        assert_eq!(stdout(&ran), machine, "{platform}: {}", stderr(&ran));

        // The venv's compiled wheel is the platform's own: PyYAML's C
        // extension and the tag of the wheel it came from.
        let probe = "import importlib.metadata as m, yaml._yaml as y\n\
                     print(y.__file__.rsplit('/', 1)[-1])\n\
                     print(*[l for l in m.distribution('pyyaml').read_text('WHEEL').splitlines() if l.startswith('Tag:')])";
        let ran = run(Command::new("docker")
            .args(["run", "--rm", "--platform", platform, image])
            .args(["python", "-c", probe]));
        let text = stdout(&ran);
        assert!(ran.status.success(), "{platform}: {}", failure(&ran));
        let mut lines = text.lines();
        let extension = lines.next().unwrap_or_default();
        let tag = lines.next().unwrap_or_default();
        assert!(
            extension.contains(&format!("{wheel_arch}-linux-gnu")),
            "{platform} ({architecture}): {text}"
        );
        assert!(
            tag.starts_with("Tag: cp311-cp311-") && tag.ends_with(wheel_arch),
            "{platform}: {text}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_base_python_that_requires_python_excludes_stops_the_build_before_any_step() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    // The test image with the variable the official python images set,
    // telling its real Python (Debian bookworm's 3.11.2).
    let python_image = "pybase-e2e/python-version:3.11";
    derive_image(
        python_image,
        &format!("FROM {BASE_IMAGE}\nENV PYTHON_VERSION=3.11.2\n"),
    );

    // The spec asks for python:3.13-slim, and the build maps that name onto
    // the 3.11 image (a wrong mirror); the project needs 3.12 or newer.
    let dir = fixture("selected");
    let spec = dir.join("pybase.yaml");
    let text = std::fs::read_to_string(&spec).expect("spec");
    std::fs::write(&spec, text.replace("python:3.12-slim", "python:3.13-slim")).expect("spec");
    let pyproject = dir.join("pyproject.toml");
    let text = std::fs::read_to_string(&pyproject).expect("pyproject");
    std::fs::write(
        &pyproject,
        text.replace(
            "requires-python = \">=3.11\"",
            "requires-python = \">=3.12\"",
        ),
    )
    .expect("pyproject");
    let mapping = format!("python:3.13-slim=docker-image://{python_image}");
    let (output, _) = build_with(
        &dir,
        None,
        "pybase-e2e/python:excluded",
        &["--build-context", &mapping],
    );
    let log = stderr(&output);
    assert!(!output.status.success(), "{log}");
    assert!(
        log.contains("pyproject.toml:5:1: the project needs Python >=3.12, but the base image `python:3.13-slim` has Python 3.11.2"),
        "{log}"
    );
    assert!(
        !log.contains("venv:"),
        "no step may run on a Python the project excludes:\n{log}"
    );

    // With requires-python it satisfies, the same base builds and runs.
    std::fs::write(&pyproject, text).expect("pyproject");
    let (output, _) = build_with(
        &dir,
        None,
        "pybase-e2e/python:allowed",
        &["--build-context", &mapping],
    );
    assert!(output.status.success(), "{}", failure(&output));
    let ran = docker_run("pybase-e2e/python:allowed", None, &[]);
    assert!(stdout(&ran).contains("six: yes"), "{}", stdout(&ran));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_package_without_an_artifact_for_the_platform_stops_the_build_at_its_lock_line() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    // The lock as if made where no sdist was published and only arm64
    // wheels of pyyaml exist: its sdist and every x86_64 wheel removed.
    let dir = fixture("selected");
    let lock_path = dir.join("uv.lock");
    let lock = std::fs::read_to_string(&lock_path).expect("uv.lock");
    let mut in_pyyaml = false;
    let mut kept = Vec::new();
    for line in lock.lines() {
        if line.starts_with("name = ") {
            in_pyyaml = line == "name = \"pyyaml\"";
        }
        if in_pyyaml && (line.starts_with("sdist = ") || line.contains("x86_64")) {
            continue;
        }
        kept.push(line);
    }
    assert!(
        kept.len() < lock.lines().count(),
        "the fixture locks pyyaml"
    );
    std::fs::write(&lock_path, kept.join("\n") + "\n").expect("uv.lock");
    let line = kept
        .iter()
        .position(|l| *l == "name = \"pyyaml\"")
        .map(|index| index + 1)
        .expect("pyyaml's line");

    let (output, _) = build(&dir, None, "pybase-e2e/artifacts:none");
    let log = stderr(&output);
    assert!(!output.status.success(), "{log}");
    assert!(
        log.contains(&format!(
            "uv.lock:{line}:1: `pyyaml` 6.0.2 has no artifact for CPython 3.11 with glibc 2.36 on linux/amd64: the lock has no sdist, and wheels for cp311-cp311-macosx"
        )),
        "{log}"
    );
    assert!(!log.contains("venv:"), "nothing may run:\n{log}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A runtime base without a shell or package manager (as distroless is):
/// the test image with its shells, apt, dpkg and useradd removed.
const SHELL_LESS_IMAGE: &str = "pybase-e2e/python-shell-less:3.11";

#[test]
fn a_base_without_a_shell_builds_with_build_from_and_runs() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    derive_image(
        SHELL_LESS_IMAGE,
        &format!(
            "FROM {BASE_IMAGE}\nRUN [\"/usr/bin/rm\", \"-f\", \"/usr/bin/sh\", \"/usr/bin/dash\", \"/usr/bin/bash\", \"/usr/bin/apt\", \"/usr/bin/apt-get\", \"/usr/bin/dpkg\", \"/usr/sbin/useradd\", \"/usr/sbin/groupadd\"]\n"
        ),
    );
    let no_shell = docker_run(SHELL_LESS_IMAGE, Some("/bin/sh"), &["-c", "true"]);
    assert!(
        !no_shell.status.success(),
        "the test base still has a shell"
    );

    // The tiered fixture on that base, built in the test image (mapped from
    // `python:3.12-slim`): no runtime packages, and a service user of its own.
    let dir = fixture("tiered");
    let spec = dir.join("pybase.yaml");
    let text = std::fs::read_to_string(&spec).expect("spec");
    let text = text
        .replace(
            "    from: python:3.12-slim\n",
            "    from: gcr.io/distroless/python3-debian12\n    build-from: python:3.12-slim\n",
        )
        .replace("    system:\n      runtime: [tzdata]\n", "")
        .replace(
            "    command: [orders]\n",
            "    command: [orders]\n    user: {name: orders, uid: 1001}\n",
        );
    assert!(text.contains("build-from") && !text.contains("tzdata"));
    std::fs::write(&spec, text).expect("spec");
    let mapping = format!("gcr.io/distroless/python3-debian12=docker-image://{SHELL_LESS_IMAGE}");
    let tag = format!("pybase-e2e/shell-less:{}", unique());
    let (output, _) = build_with(&dir, Some("orders"), &tag, &["--build-context", &mapping]);
    assert!(output.status.success(), "{}", failure(&output));

    // It runs, with the tiers' packages and its own, as its own user, and
    // still has no shell.
    let ran = docker_run(&tag, None, &[]);
    assert!(ran.status.success(), "{}", failure(&ran));
    assert_eq!(
        stdout(&ran),
        "orders: six 1.17.0, packaging 24.2, idna 3.10, attrs 24.3.0"
    );
    let who = docker_run(
        &tag,
        Some("python"),
        &[
            "-c",
            "import os, pwd, grp; print(pwd.getpwuid(os.getuid()).pw_name, os.getuid(), os.getgid(), os.getcwd(), pwd.getpwuid(1000).pw_name, grp.getgrgid(1001).gr_name, sep=' ')",
        ],
    );
    assert!(who.status.success(), "{}", failure(&who));
    assert_eq!(stdout(&who), "orders 1001 1001 /app app orders");
    assert_eq!(inspect(&tag, "{{.Config.User}}"), "1001:1001");
    let shell = docker_run(&tag, Some("/bin/sh"), &["-c", "true"]);
    assert!(!shell.status.success(), "the image has a shell");

    // The base's exact layers, then: python-base's user and venv,
    // python-web's venv delta (same user: no system layer), orders' user,
    // its venv delta and its code.
    let base = layers(SHELL_LESS_IMAGE);
    let image = layers(&tag);
    assert_eq!(
        image[..base.len()],
        base[..],
        "starts with the base's layers"
    );
    assert_eq!(image.len(), base.len() + 6, "{image:#?}");
    let contents = layer_contents(&tag, &[base.len(), base.len() + 3]);
    for (entries, _) in &contents {
        let mut entries: Vec<&str> = entries.iter().map(String::as_str).collect();
        entries.sort_unstable();
        assert_eq!(
            entries,
            ["app/", "etc/", "etc/group", "etc/passwd"],
            "a user layer holds the user and the working directory alone"
        );
    }

    // A build image whose Python is elsewhere than the runtime image's is
    // refused before the venv is built.
    let elsewhere = "pybase-e2e/python-elsewhere:3.11";
    derive_image(
        elsewhere,
        &format!(
            "FROM {BASE_IMAGE}\nRUN mkdir -p /opt/python/bin && mv /usr/bin/python3.11 /opt/python/bin/ && ln -sf /opt/python/bin/python3.11 /usr/bin/python3\n"
        ),
    );
    let mut command = buildx_command_on(&dir, &format!("{tag}-elsewhere"), elsewhere);
    command
        .args(["--secret", &format!("id=ca-bundle,src={CA_BUNDLE}")])
        .args(["--target", "orders", "--build-context", &mapping])
        .arg(&dir);
    let refused = run(&mut command);
    let log = stderr(&refused);
    assert!(!refused.status.success(), "{log}");
    assert!(
        log.contains("the runtime image has no /opt/python/bin/python3.11"),
        "{log}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A git server over SSH for the `git-ssh` fixture: the test image with
/// openssh-server and git, a user `git` whose key is made at build time,
/// and a bare repository of `pybase-git-demo` whose one commit (fixed
/// names and dates) is the one the fixture's lock pins.
const GIT_SERVER_DOCKERFILE: &str = r#"RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends openssh-server git >/dev/null && rm -rf /var/lib/apt/lists/*
RUN set -eu; mkdir -p /run/sshd /tmp/demo/src/pybase_git_demo /srv/git; \
    useradd --create-home --shell /usr/bin/git-shell git; mkdir -m 700 /home/git/.ssh; \
    ssh-keygen -q -t ed25519 -N '' -C pybase-e2e -f /root/client_key; cp /root/client_key.pub /home/git/.ssh/authorized_keys; chown -R git:git /home/git/.ssh; \
    printf '[project]\nname = "pybase-git-demo"\nversion = "1.0.0"\nrequires-python = ">=3.11"\n\n[build-system]\nrequires = ["hatchling==1.27.0"]\nbuild-backend = "hatchling.build"\n' > /tmp/demo/pyproject.toml; \
    printf 'GREETING = "fetched over ssh"\n' > /tmp/demo/src/pybase_git_demo/__init__.py; \
    cd /tmp/demo; git init -q -b main; git add -A; \
    export GIT_AUTHOR_NAME=pybase GIT_AUTHOR_EMAIL=pybase@example.invalid GIT_COMMITTER_NAME=pybase GIT_COMMITTER_EMAIL=pybase@example.invalid GIT_AUTHOR_DATE=2026-01-01T00:00:00Z GIT_COMMITTER_DATE=2026-01-01T00:00:00Z; \
    git commit -q -m 'pybase-git-demo 1.0.0'; git tag v1.0.0; \
    git clone -q --bare /tmp/demo /srv/git/pybase-git-demo.git; chown -R git:git /srv/git; rm -rf /tmp/demo
CMD ["/usr/sbin/sshd", "-D", "-e", "-o", "PasswordAuthentication=no"]
"#;
const GIT_SERVER_IMAGE: &str = "pybase-e2e/git-ssh-server:1";
const GIT_SERVER: &str = "pybase-e2e-git-ssh";
/// The repository as the fixture names it, reached from build containers
/// through the default bridge's gateway.
const GIT_REPOSITORY: &str = "172.17.0.1:18022/srv/git/pybase-git-demo.git";

/// The running git server; removed when dropped.
struct GitServer {
    key: PathBuf,
    known_hosts: PathBuf,
}

impl GitServer {
    fn start(scratch: &Path) -> Self {
        derive_image(
            GIT_SERVER_IMAGE,
            &format!("FROM {BASE_IMAGE}\n{GIT_SERVER_DOCKERFILE}"),
        );
        let _ = run(Command::new("docker").args(["rm", "-f", GIT_SERVER]));
        let started = run(Command::new("docker").args([
            "run",
            "-d",
            "--name",
            GIT_SERVER,
            "-p",
            "18022:22",
            GIT_SERVER_IMAGE,
        ]));
        assert!(started.status.success(), "{}", failure(&started));
        let read = |path: &str| {
            let output = run(Command::new("docker").args(["exec", GIT_SERVER, "cat", path]));
            assert!(output.status.success(), "{path}: {}", failure(&output));
            output.stdout
        };
        let key = scratch.join("git-client-key");
        std::fs::write(&key, read("/root/client_key")).expect("client key");
        let host_key =
            String::from_utf8(read("/etc/ssh/ssh_host_ed25519_key.pub")).expect("host key");
        let host_key: Vec<&str> = host_key.split_whitespace().take(2).collect();
        let known_hosts = scratch.join("git-known-hosts");
        std::fs::write(
            &known_hosts,
            format!("[172.17.0.1]:18022 {}\n", host_key.join(" ")),
        )
        .expect("known_hosts");
        Self { key, known_hosts }
    }

    /// A new path to the repository, so that no uv cache of an earlier
    /// build has it: a build fetching it goes over SSH.
    fn fresh_path(&self) -> String {
        let name = format!("run-{}.git", unique());
        let cloned = run(Command::new("docker").args([
            "exec",
            "-u",
            "git",
            GIT_SERVER,
            "git",
            "clone",
            "-q",
            "--bare",
            "/srv/git/pybase-git-demo.git",
            &format!("/srv/git/{name}"),
        ]));
        assert!(cloned.status.success(), "{}", failure(&cloned));
        GIT_REPOSITORY.replace("pybase-git-demo.git", &name)
    }
}

impl Drop for GitServer {
    fn drop(&mut self) {
        let _ = run(Command::new("docker").args(["rm", "-f", GIT_SERVER]));
    }
}

/// The `git-ssh` fixture, its repository moved to `repository`.
fn git_fixture_at(repository: &str) -> PathBuf {
    let dir = fixture("git-ssh");
    for file in ["pyproject.toml", "uv.lock"] {
        let path = dir.join(file);
        let text = std::fs::read_to_string(&path).expect("fixture file");
        assert!(text.contains(GIT_REPOSITORY), "{file} names the repository");
        std::fs::write(&path, text.replace(GIT_REPOSITORY, repository)).expect("fixture file");
    }
    dir
}

#[test]
fn a_git_dependency_over_ssh_is_fetched_with_the_forwarded_key_and_checked_host() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    let scratch = std::env::temp_dir().join(format!("pybase-e2e-git-{}", unique()));
    std::fs::create_dir_all(&scratch).expect("scratch dir");
    let server = GitServer::start(&scratch);
    let ssh = format!("default={}", server.key.display());
    let known_hosts = |path: &Path| format!("id=known_hosts,src={}", path.display());

    // With the key forwarded and the host's key known: fetched, built, run.
    let dir = git_fixture_at(&server.fresh_path());
    let image = format!("pybase-e2e/gitdemo:{}", unique());
    let (output, _) = build_with(
        &dir,
        None,
        &image,
        &["--ssh", &ssh, "--secret", &known_hosts(&server.known_hosts)],
    );
    let log = stderr(&output);
    assert!(output.status.success(), "{}", failure(&output));
    assert!(log.contains("git over SSH"), "the venv step says so: {log}");
    assert!(
        log.contains("Updated ssh://git@172.17.0.1:18022/srv/git/run-"),
        "{log}"
    );
    let ran = docker_run(&image, None, &[]);
    assert!(ran.status.success(), "{}", failure(&ran));
    assert_eq!(stdout(&ran), "gitdemo: fetched over ssh");
    // Neither the key nor the host list reaches a layer or the config.
    let key = std::fs::read_to_string(&server.key).expect("key");
    let key_line = key.lines().nth(2).expect("a key body line");
    assert_no_blob_holds(&image, key_line);
    assert_no_blob_holds(&image, "[172.17.0.1]:18022 ssh-ed25519");
    let _ = std::fs::remove_dir_all(&dir);

    // A host whose key is not the one in known_hosts is refused.
    let other = scratch.join("other-host");
    std::fs::write(
        &other,
        "[172.17.0.1]:18022 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n",
    )
    .expect("other known_hosts");
    let dir = git_fixture_at(&server.fresh_path());
    let (output, _) = build_with(
        &dir,
        None,
        &format!("{image}-refused"),
        &["--ssh", &ssh, "--secret", &known_hosts(&other)],
    );
    let log = stderr(&output);
    assert!(!output.status.success(), "{log}");
    assert!(log.contains("Host key verification failed"), "{log}");

    // Without the forwarded key the build stops at the venv step.
    let (output, _) = build_with(
        &dir,
        None,
        &format!("{image}-no-key"),
        &["--secret", &known_hosts(&server.known_hosts)],
    );
    let log = stderr(&output);
    assert!(!output.status.success(), "{log}");
    assert!(log.contains("ssh forward key default"), "{log}");
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&scratch);
}

#[test]
fn wheels_on_pypi_are_fetched_by_buildkit_and_installed_with_the_network_off() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    // A lock no earlier build saw: its export runs now.
    let dir = fixture("selected");
    let lock = dir.join("uv.lock");
    let text = std::fs::read_to_string(&lock).expect("lock");
    std::fs::write(&lock, format!("{text}# e2e run {}\n", unique())).expect("lock");
    let (output, _) = build(&dir, None, "pybase-e2e/fetched:1");
    let log = stderr(&output);
    assert!(output.status.success(), "{}", failure(&output));
    // Each wheel that fits linux/amd64 is a checksummed source: six's and
    // iniconfig's for any Python, PyYAML's for the image's CPython 3.11 only
    // (the test image's config does not say its version; pybase finds
    // `python3.11` in its filesystem).
    for wheel in [
        "fetch six-1.17.0-py2.py3-none-any.whl (sha256 4721f391ed90, uv.lock:100:170)",
        "fetch iniconfig-2.0.0-py3-none-any.whl",
        "fetch PyYAML-6.0.2-cp311-cp311-manylinux_2_17_x86_64",
    ] {
        assert!(log.contains(wheel), "{wheel}: {log}");
    }
    assert!(!log.contains("macosx"), "{log}");
    for other_python in ["cp312-cp312", "cp313-cp313"] {
        assert!(
            !log.contains(&format!("fetch PyYAML-6.0.2-{other_python}")),
            "{other_python}: {log}"
        );
    }
    let install = "[selected] venv: 3 packages from uv.lock, 3 fetched wheels, network off";
    assert!(log.contains(install), "{log}");

    // The same pins under another lock text: exported again, the same
    // requirements, so the install is not run again.
    std::fs::write(&lock, format!("{text}# e2e run {}\n", unique())).expect("lock");
    let (output, _) = build(&dir, None, "pybase-e2e/fetched:2");
    let log = stderr(&output);
    assert!(output.status.success(), "{}", failure(&output));
    assert!(step_cached(&log, install), "the install ran again: {log}");
    let ran = docker_run("pybase-e2e/fetched:2", None, &[]);
    assert_eq!(
        stdout(&ran),
        "six: yes\nyaml: yes\ntomli_w: no\niniconfig: yes\npackaging: no"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_requirements_file_without_hashes_builds_only_when_the_spec_opts_out() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("pybase-e2e-unhashed-{}", unique()));
    std::fs::create_dir_all(dir.join("src/plain")).expect("project dir");
    let spec = |opt_out: &str| {
        format!(
            "# syntax=localhost:5000/pybase-frontend:dev\nversion: 1\nservices:\n  plain:\n    from: python:3.12-slim\n{opt_out}    command: [python, -c, \"import six; print('six', six.__version__)\"]\n"
        )
    };
    for (name, text) in [
        ("pyproject.toml", "[project]\nname = \"plain\"\nversion = \"0.1.0\"\nrequires-python = \">=3.11\"\ndependencies = [\"six==1.17.0\"]\n\n[build-system]\nrequires = [\"hatchling==1.27.0\"]\nbuild-backend = \"hatchling.build\"\n".to_owned()),
        ("requirements.txt", "six==1.17.0\n".to_owned()),
        ("src/plain/__init__.py", String::new()),
        ("pybase.yaml", spec("")),
    ] {
        std::fs::write(dir.join(name), text).expect("project file");
    }
    let (output, _) = build(&dir, None, "pybase-e2e/unhashed:1");
    let log = stderr(&output);
    assert!(!output.status.success(), "{log}");
    assert!(
        log.contains("requirements.txt:1:1: `six==1.17.0` has no `--hash`")
            && log.contains("require-hashes: false"),
        "{log}"
    );

    std::fs::write(dir.join("pybase.yaml"), spec("    require-hashes: false\n")).expect("spec");
    let (output, _) = build(&dir, None, "pybase-e2e/unhashed:2");
    assert!(output.status.success(), "{}", failure(&output));
    let ran = docker_run("pybase-e2e/unhashed:2", None, &[]);
    assert_eq!(stdout(&ran), "six 1.17.0", "{}", stderr(&ran));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_backend_that_asks_for_more_at_build_time_is_built_in_isolation() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    // The build hook imports six, which `[build-system] requires` does not
    // name: the build in the backend's environment fails, and the code
    // step builds again in an isolated one, as uv does by default.
    let dir = fixture("build-hook");
    // (With a line no earlier build saw, so that the code step runs.)
    let init = dir.join("src/hookapp/__init__.py");
    let code = std::fs::read_to_string(&init).expect("read __init__.py");
    std::fs::write(&init, format!("{code}# e2e run {}\n", unique())).expect("write __init__.py");
    let image = "pybase-e2e/build-hook:first";
    let (output, _) = build(&dir, None, image);
    let log = stderr(&output);
    assert!(output.status.success(), "{}", failure(&output));
    assert!(
        log.contains(
            "pybase: the build in the backend's environment failed; building in an isolated one"
        ),
        "{log}"
    );
    let ran = docker_run(image, None, &[]);
    assert_eq!(
        stdout(&ran).trim(),
        "hookapp built with six 1.17.0",
        "{}",
        stderr(&ran)
    );
    // The hook's dependency built the package; it is not installed.
    assert!(
        !installed_distributions(image)
            .iter()
            .any(|d| d.starts_with("six-")),
        "{:?}",
        installed_distributions(image)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
