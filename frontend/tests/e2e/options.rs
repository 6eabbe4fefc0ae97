//! The build options a buildx user already passes: `--add-host` seen by a
//! build step; `--network host` and `none` in the steps that have a network; `--no-cache-filter system`, the security refresh, which
//! reruns the image's system step while the venv and code layers stay
//! (timed against `--no-cache`); `--secret id=UV_INDEX_<NAME>_PASSWORD,
//! env=…`, a private index's credentials from the client's environment,
//! which no layer, config or history keeps.

use std::path::Path;
use std::process::Command;

use crate::harness::{
    CA_BUNDLE, build_with, buildx_command, containerd_image_store, docker_run, e2e_session,
    failure, fixture, layer_contents, layers, own_system_step, pybase_layers, run, stderr, stdout,
};
use crate::secrets::{assert_no_blob_holds, private_index_fixture};

/// Adds a build command to the `inventory` spec in `dir` that runs `run`
/// and ships its output file `output` in the code's layer.
fn add_build_command(dir: &Path, run: &str, output: &str) {
    let spec = dir.join("pybase.yaml");
    let text = std::fs::read_to_string(&spec).expect("read the spec");
    let text = text.replacen(
        "    command: [inventory]",
        &format!(
            "    build-commands:\n      - run: \"{run}\"\n        outputs: [{output}]\n    command: [inventory]"
        ),
        1,
    );
    assert!(text.contains(run), "{text}");
    std::fs::write(&spec, text).expect("write the spec");
}

/// Adds a build command to the `inventory` spec in `dir` that writes what
/// `getent hosts pybase-added.internal` finds (or `absent`) to
/// `hosts.txt`, an output that ships in the code's layer.
fn resolve_in_a_build_command(dir: &Path) {
    add_build_command(
        dir,
        "getent hosts pybase-added.internal > hosts.txt || echo absent > hosts.txt",
        "hosts.txt",
    );
}

#[test]
fn network_host_gives_the_steps_the_hosts_network_and_none_takes_it_away() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    let dir = fixture("inventory");
    own_system_step(&dir, "inventory");
    // The network interfaces the build command sees, shipped in the image.
    add_build_command(&dir, "ls /sys/class/net > interfaces.txt", "interfaces.txt");
    let image = "pybase-e2e/inventory:network";
    let interfaces = |image: &str| {
        let output = docker_run(image, Some("cat"), &["/srv/own-inventory/interfaces.txt"]);
        assert!(output.status.success(), "{}", failure(&output));
        stdout(&output)
    };
    // The daemon's bridge is an interface of the host's network only.
    let (output, _) = build_with(&dir, None, image, &[]);
    assert!(output.status.success(), "{}", failure(&output));
    let sandboxed = interfaces(image);
    assert!(!sandboxed.contains("docker0"), "{sandboxed}");
    let (output, _) = build_with(
        &dir,
        None,
        image,
        &["--network", "host", "--allow", "network.host"],
    );
    assert!(output.status.success(), "{}", failure(&output));
    let host = interfaces(image);
    assert!(host.contains("docker0"), "{host}");
    // With no network, the steps that download (their network is part of
    // their cache key: they run again) fail with uv's own error: no name
    // resolves.
    let (output, _) = build_with(&dir, None, image, &["--network", "none"]);
    assert!(!output.status.success());
    let log = stderr(&output);
    assert!(
        log.contains("dns error") && log.contains("https://pypi.org/simple/"),
        "{}",
        failure(&output)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_added_host_is_in_the_build_steps_hosts_file() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    let dir = fixture("inventory");
    own_system_step(&dir, "inventory");
    resolve_in_a_build_command(&dir);
    let image = "pybase-e2e/inventory:add-host";
    let hosts = |image: &str| {
        let output = docker_run(image, Some("cat"), &["/srv/own-inventory/hosts.txt"]);
        assert!(output.status.success(), "{}", failure(&output));
        stdout(&output)
    };
    // With `--add-host`, the step resolves the name to the address given.
    let (output, _) = build_with(
        &dir,
        None,
        image,
        &["--add-host", "pybase-added.internal:10.9.8.7"],
    );
    assert!(output.status.success(), "{}", failure(&output));
    let found = hosts(image);
    assert!(
        found.starts_with("10.9.8.7") && found.contains("pybase-added.internal"),
        "{found}"
    );
    // Without it, the same step finds nothing.
    let (output, _) = build_with(&dir, None, image, &[]);
    assert!(output.status.success(), "{}", failure(&output));
    assert_eq!(hosts(image), "absent");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Asserts that a refresh (`--no-cache-filter system`) whose plain progress
/// is `log` ran the image's refreshed system step and nothing else: the
/// builder, the venv and the code came from the cache.
fn assert_only_the_system_step_ran(log: &str) {
    assert!(
        step_ran(log, "system: refreshed (--no-cache-filter system)"),
        "the refreshed system step did not run: {log}"
    );
    for cached in ["] builder: gcc libpq-dev", "] venv: ", "] code: install"] {
        assert!(
            !step_ran(log, cached),
            "`{cached}` ran again on a refresh: {log}"
        );
    }
}

/// Whether the step whose name contains `name` ran (done, not CACHED) in
/// a build's plain progress `log`.
fn step_ran(log: &str, name: &str) -> bool {
    let Some(step) = log
        .lines()
        .find(|line| line.contains(name))
        .and_then(|line| line.split_whitespace().next())
    else {
        return false;
    };
    !log.lines().any(|line| line == format!("{step} CACHED"))
        && log
            .lines()
            .any(|line| line.starts_with(&format!("{step} DONE")))
}

#[test]
fn no_cache_filter_system_reruns_the_system_step_alone_and_keeps_the_venv_and_code_layers() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    let dir = fixture("inventory");
    // The refresh's and `--no-cache`'s steps are this test's alone.
    own_system_step(&dir, "inventory");
    let image = "pybase-e2e/inventory:refresh";
    let (output, _) = build_with(&dir, None, image, &[]);
    assert!(output.status.success(), "{}", failure(&output));
    let before = layers(image);

    let (output, refresh_seconds) = build_with(&dir, None, image, &["--no-cache-filter", "system"]);
    assert!(output.status.success(), "{}", failure(&output));
    assert_only_the_system_step_ran(&stderr(&output));
    let after = layers(image);
    assert_eq!(before.len(), after.len(), "{before:?} {after:?}");
    let system = pybase_layers(image)
        .into_iter()
        .find(|(_, entry)| entry.starts_with("pybase: [inventory] system "))
        .map(|(index, _)| index)
        .expect("a system layer");
    // With MergeOp the venv's and the code's layers (all above the
    // system's) are the same blobs; assembled by copying (the classic
    // store), they are copied onto the new system layer: new layers of the
    // same files. The base image's layers below the system's are the same
    // either way.
    assert_ne!(before[system], after[system], "the system layer");
    if containerd_image_store() {
        assert_eq!(
            before[system + 1..],
            after[system + 1..],
            "venv and code layers"
        );
    }
    assert_eq!(before[..system], after[..system], "the base image's layers");
    // The image still runs, with its packages.
    let ran = docker_run(image, None, &[]);
    assert!(ran.status.success(), "{}", failure(&ran));
    assert!(stdout(&ran).contains("psycopg2 2.9.10"), "{}", stdout(&ran));

    // `--no-cache` reruns every step; the refresh's time against it.
    let (output, no_cache_seconds) = build_with(&dir, None, image, &["--no-cache"]);
    assert!(output.status.success(), "{}", failure(&output));
    assert!(
        step_ran(&stderr(&output), "] venv: "),
        "--no-cache reran the venv"
    );
    eprintln!(
        "pybase e2e: --no-cache-filter system {refresh_seconds:.1} s, --no-cache {no_cache_seconds:.1} s"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn no_cache_filter_system_assembled_by_copying_puts_the_same_venv_and_code_files_on_the_refreshed_system()
 {
    let Some(_docker) = e2e_session() else {
        return;
    };
    let dir = fixture("inventory");
    own_system_step(&dir, "inventory");
    let image = "pybase-e2e/inventory:refresh-copied";
    // Docker's classic store's way, on any daemon.
    let copied = ["--build-arg", "PYBASE_MERGEOP=false"];
    let (output, _) = build_with(&dir, None, image, &copied);
    assert!(output.status.success(), "{}", failure(&output));
    let before = layers(image);
    let n = before.len();
    let files_before = layer_contents(image, &[n - 2, n - 1]);

    let refresh = [&copied[..], &["--no-cache-filter", "system"]].concat();
    let (output, _) = build_with(&dir, None, image, &refresh);
    assert!(output.status.success(), "{}", failure(&output));
    assert_only_the_system_step_ran(&stderr(&output));
    // The venv and the code are copied onto the new system layer: the
    // same files (names and sizes) in the same two top layers.
    let after = layers(image);
    assert_eq!(n, after.len(), "{before:?} {after:?}");
    assert_eq!(files_before, layer_contents(image, &[n - 2, n - 1]));
    assert_eq!(before[..n - 3], after[..n - 3], "the base image's layers");
    let ran = docker_run(image, None, &[]);
    assert!(ran.status.success(), "{}", failure(&ran));
    assert!(stdout(&ran).contains("psycopg2 2.9.10"), "{}", stdout(&ran));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Builds the `private-index` fixture in `dir` with `--no-cache` (secrets
/// are in no cache key) and these `--secret`s, the client's environment
/// holding `env`.
fn build_with_env(
    dir: &Path,
    image: &str,
    secrets: &[&str],
    env: &[(&str, &str)],
) -> std::process::Output {
    let mut command: Command = buildx_command(dir, image);
    command
        .arg("--no-cache")
        .args(["--secret", &format!("id=ca-bundle,src={CA_BUNDLE}")]);
    for secret in secrets {
        command.args(["--secret", secret]);
    }
    command.envs(env.iter().copied()).arg(dir);
    run(&mut command)
}

#[test]
fn an_index_password_from_the_clients_environment_reaches_uv_and_no_layer() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    // An index of its own on another port than the netrc test's.
    let (dir, password) = private_index_fixture(18081, "pybase-env-secret-marker");
    let image = "pybase-e2e/private-app:env-secret";
    let secrets = [
        "id=UV_INDEX_PRIVATE_USERNAME,env=PYBASE_E2E_INDEX_USER",
        "id=UV_INDEX_PRIVATE_PASSWORD,env=PYBASE_E2E_INDEX_TOKEN",
    ];
    // Without the secrets the index refuses the venv step.
    let output = build_with_env(&dir, image, &[], &[]);
    assert!(!output.status.success(), "the index requires credentials");
    assert!(stderr(&output).contains("401"), "{}", stderr(&output));
    // With them, from the client's environment, uv is let in.
    let output = build_with_env(
        &dir,
        image,
        &secrets,
        &[
            ("PYBASE_E2E_INDEX_USER", "pybase"),
            ("PYBASE_E2E_INDEX_TOKEN", password.as_str()),
        ],
    );
    assert!(output.status.success(), "{}", failure(&output));
    let ran = docker_run(image, None, &[]);
    assert_eq!(stdout(&ran), "private-app: from the private index");
    // The password is in no layer, not in the config, not in the history;
    // the history is read (the twin: it names the venv step's lock).
    assert_no_blob_holds(image, &password);
    let history = stdout(&run(Command::new("docker").args([
        "history",
        "--no-trunc",
        "--format",
        "{{.CreatedBy}}",
        image,
    ])));
    assert!(history.contains("uv.lock"), "{history}");
    assert!(!history.contains(&password), "{history}");
    let _ = std::fs::remove_dir_all(&dir);
}
