//! `--target lock` (`testdata/projects/lock-tiers`, the seeds' shape as
//! ranges only): the services build only after it, its locks are hashed
//! and pinned, every package a service shares with the tier at the tier's
//! version, and the services stand on the tier's exact layers, installing
//! only what it lacks; a range the tier's pin excludes is an error naming
//! both; locking again writes the same bytes, and once the inputs are the
//! same, runs no step; the existing pins are kept until `LOCK_UPGRADE`
//! names them, and a tier's upgrade reaches the services on it.
//!
//! `PYBASE_E2E_FRONTEND` (a frontend image reference) replaces the
//! `# syntax=` line of the copied spec, to try a frontend built under
//! another tag; the committed spec names `:dev`.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

use crate::harness::{
    BASE_IMAGE, CA_BUNDLE, assert_venv_packages, build, docker_run, e2e_session, failure, fixture,
    layers, run, stderr, stdout, step_cached, unique,
};

/// The lock steps, as the build's progress names them.
const LOCK_STEPS: [&str; 3] = [
    "[base] lock: uv pip compile base/requirements.in",
    "[api] lock: uv pip compile api/requirements.in",
    "[worker] lock: uv pip compile worker/requirements.in",
];

/// A fresh copy of the fixture, its spec on the frontend under test.
fn lock_tiers() -> std::path::PathBuf {
    let dir = fixture("lock-tiers");
    if let Ok(frontend) = std::env::var("PYBASE_E2E_FRONTEND") {
        let spec = dir.join("pybase.yaml");
        let text = std::fs::read_to_string(&spec).expect("read the spec");
        let rest = text.split_once('\n').map_or("", |(_, rest)| rest);
        std::fs::write(&spec, format!("# syntax={frontend}\n{rest}")).expect("write the spec");
    }
    dir
}

/// `docker buildx build --target lock --output type=local,dest=DIR` of the
/// spec in `dir`, with `extra` arguments.
fn lock(dir: &Path, extra: &[&str]) -> Output {
    let mut command = Command::new("docker");
    command
        .args(["buildx", "build", "--progress", "plain"])
        .arg("-f")
        .arg(dir.join("pybase.yaml"))
        .args([
            "--build-context",
            &format!("python:3.12-slim=docker-image://{BASE_IMAGE}"),
            "--secret",
            &format!("id=ca-bundle,src={CA_BUNDLE}"),
            "--target",
            "lock",
            "--output",
        ])
        .arg(format!("type=local,dest={}", dir.display()))
        .args(extra)
        .arg(dir);
    run(&mut command)
}

fn lock_ok(dir: &Path) -> Output {
    let output = lock(dir, &[]);
    assert!(
        output.status.success(),
        "lock failed:\n{}",
        failure(&output)
    );
    output
}

fn read(dir: &Path, path: &str) -> String {
    std::fs::read_to_string(dir.join(path)).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

/// The pins of a `requirements.txt`: name to version, after checking that
/// every requirement is pinned with `==` and hashed.
fn pins(text: &str) -> BTreeMap<String, String> {
    let mut pins = BTreeMap::new();
    let joined = text.replace("\\\n", " ");
    for line in joined.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let requirement = line.split_whitespace().next().unwrap_or_default();
        let (name, version) = requirement
            .split_once("==")
            .unwrap_or_else(|| panic!("`{line}` is not pinned with =="));
        assert!(line.contains("--hash=sha256:"), "`{line}` has no hash");
        pins.insert(name.to_lowercase(), version.to_owned());
    }
    pins
}

#[test]
fn ranges_build_only_after_lock_and_services_stand_on_the_tiers_pins() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    let dir = lock_tiers();
    let run_id = unique();

    // Ranges alone: refused before any step, with the command that locks.
    let (refused, _) = build(&dir, Some("api"), &format!("pybase-e2e/lock-api:{run_id}"));
    assert!(!refused.status.success(), "a build of ranges passed");
    let log = stderr(&refused);
    assert!(
        log.contains("has only ranges (`api/requirements.in`)"),
        "{log}"
    );
    assert!(
        log.contains("--target lock --output type=local,dest=. ."),
        "{log}"
    );
    for step in LOCK_STEPS {
        assert!(!log.contains(step), "a lock step ran in a build: {log}");
    }

    lock_ok(&dir);
    let base = pins(&read(&dir, "base/requirements.txt"));
    let api = pins(&read(&dir, "api/requirements.txt"));
    let worker = pins(&read(&dir, "worker/requirements.txt"));
    assert_eq!(base.keys().collect::<Vec<_>>(), ["idna", "six"]);
    assert_eq!(api.keys().collect::<Vec<_>>(), ["attrs", "idna", "six"]);
    assert_eq!(
        worker.keys().collect::<Vec<_>>(),
        ["idna", "packaging", "six"]
    );
    for (name, version) in &base {
        assert_eq!(api.get(name), Some(version), "api pins {name} elsewhere");
        assert_eq!(
            worker.get(name),
            Some(version),
            "worker pins {name} elsewhere"
        );
    }
    let header = read(&dir, "api/requirements.txt");
    assert!(
        header.contains("--target lock --output type=local,dest=. ."),
        "the lock names the command that wrote it: {header}"
    );

    // Now the images build: each service on the tier's exact layers, its
    // venv layer holding only what the tier lacks.
    let tier_image = format!("pybase-e2e/lock-base:{run_id}");
    let (tier, _) = build(&dir, Some("base"), &tier_image);
    assert!(tier.status.success(), "{}", failure(&tier));
    let tier_layers = layers(&tier_image);
    for (service, own, module) in [
        ("api", "attrs", "app.py"),
        ("worker", "packaging", "worker.py"),
    ] {
        let image = format!("pybase-e2e/lock-{service}:{run_id}");
        let (built, _) = build(&dir, Some(service), &image);
        assert!(built.status.success(), "{}", failure(&built));
        let service_layers = layers(&image);
        assert_eq!(
            service_layers[..tier_layers.len()],
            tier_layers[..],
            "{service} does not start with the tier's layers"
        );
        assert_venv_packages(&image, service, &[own], &["six", "idna"]);
        let output = docker_run(&image, None, &[]);
        assert!(output.status.success(), "{module}: {}", failure(&output));
        let text = stdout(&output);
        assert!(
            text.contains(&format!("six={}", base["six"]))
                && text.contains(&format!("idna={}", base["idna"])),
            "{service} runs on other versions than the tier's: {text}"
        );
    }
}

#[test]
fn a_range_the_tiers_pin_excludes_names_the_pin_and_the_line() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    let dir = lock_tiers();
    // The tier takes the newest idna; api asks for an older one.
    let ranges = read(&dir, "api/requirements.in");
    std::fs::write(
        dir.join("api/requirements.in"),
        format!("{ranges}idna<3.7\n"),
    )
    .expect("write api/requirements.in");
    let output = lock(&dir, &[]);
    assert!(
        !output.status.success(),
        "an unsatisfiable range was locked"
    );
    let log = stderr(&output);
    assert!(
        log.contains("idna<3.7"),
        "uv's message names the range: {log}"
    );
    assert!(
        log.contains("pybase: tier `base` pins idna=="),
        "the tier's pin is named: {log}"
    );
    assert!(
        log.contains("base/requirements.txt:"),
        "the pin's line is named: {log}"
    );
    assert!(
        log.contains("asked for at api/requirements.in:3:idna<3.7"),
        "the range's line is named: {log}"
    );
    assert!(
        !dir.join("api/requirements.txt").exists(),
        "a failed lock wrote a file"
    );
    // Its twin: without the range, the same fixture locks.
    std::fs::write(dir.join("api/requirements.in"), ranges).expect("restore the ranges");
    lock_ok(&dir);
    assert!(dir.join("api/requirements.txt").exists());
}

#[test]
fn locking_again_writes_the_same_bytes_and_runs_no_step_once_inputs_repeat() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    let dir = lock_tiers();
    let files = [
        "base/requirements.txt",
        "api/requirements.txt",
        "worker/requirements.txt",
    ];
    lock_ok(&dir);
    let first: Vec<String> = files.iter().map(|f| read(&dir, f)).collect();
    // The second run has the first's locks in its inputs (uv keeps their
    // pins), so it may run the steps (unless an earlier session cached
    // these very inputs): it writes the same bytes.
    lock_ok(&dir);
    let second: Vec<String> = files.iter().map(|f| read(&dir, f)).collect();
    assert_eq!(first, second, "locking again changed a lock");
    // The third has the same inputs as the second: every lock step is
    // cached, and the files are the same.
    let third_log = stderr(&lock_ok(&dir));
    for step in LOCK_STEPS {
        assert!(
            step_cached(&third_log, step),
            "`{step}` ran again: {third_log}"
        );
    }
    let third: Vec<String> = files.iter().map(|f| read(&dir, f)).collect();
    assert_eq!(first, third);
}

#[test]
fn existing_pins_are_kept_until_lock_upgrade_names_them_and_a_tier_bump_reaches_the_services() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    let dir = lock_tiers();
    let idna = |dir: &Path| -> Vec<String> {
        ["base", "api", "worker"]
            .iter()
            .map(|project| {
                pins(&read(dir, &format!("{project}/requirements.txt")))
                    .get("idna")
                    .cloned()
                    .unwrap_or_default()
            })
            .collect()
    };
    // Locked while the tier's range stops below 3.8.
    std::fs::write(
        dir.join("base/requirements.in"),
        "six>=1.16\nidna>=3.6,<3.8\n",
    )
    .expect("write base/requirements.in");
    lock_ok(&dir);
    let narrow = idna(&dir);
    assert!(
        narrow
            .iter()
            .all(|v| v.starts_with("3.6") || v.starts_with("3.7")),
        "{narrow:?}"
    );
    // The range widened: the existing pins are kept.
    std::fs::write(dir.join("base/requirements.in"), "six>=1.16\nidna>=3.6\n")
        .expect("write base/requirements.in");
    lock_ok(&dir);
    assert_eq!(
        idna(&dir),
        narrow,
        "a lock without LOCK_UPGRADE moved a pin"
    );
    // LOCK_UPGRADE=idna: the tier takes a newer one, and so does every
    // service on it.
    let output = lock(&dir, &["--build-arg", "LOCK_UPGRADE=idna"]);
    assert!(output.status.success(), "{}", failure(&output));
    let upgraded = idna(&dir);
    assert_ne!(
        upgraded[0], narrow[0],
        "LOCK_UPGRADE=idna kept the tier's pin"
    );
    assert!(upgraded.iter().all(|v| *v == upgraded[0]), "{upgraded:?}");
}
