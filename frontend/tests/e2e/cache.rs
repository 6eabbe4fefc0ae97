//! The build cache in CI: a fresh runner has no build cache, only what an
//! earlier run exported with `--cache-to`. A project built with
//! `--cache-to type=registry,ref=…,mode=max` (to the loopback registry)
//! and `--cache-to type=inline` (the image pushed there), then a code
//! change built on an emptied daemon (`docker builder prune -af`, what a
//! fresh runner is) with `--cache-from` that cache: only the code step
//! and what stacks its layer run; the system, builder and venv steps are
//! CACHED, and the venv layer is the first build's. The twin: the same
//! code change on an emptied daemon without `--cache-from` builds its venv
//! again.
//!
//! One test, with two prunes (one before each import): a prune empties
//! the build cache of every test after it in the run too, which then
//! builds its shared steps again (the test image's apt steps, psycopg2's
//! sdist, uv), a few minutes on this machine. The times (first build,
//! warm code change, code change from each cache) are printed, never
//! asserted.

use std::path::Path;
use std::process::{Command, Output};

use crate::harness::{
    build_with, change_code, e2e_session, failure, fixture, layers, own_system_step, run, stderr,
    step_cached, step_id, unique,
};

/// The loopback registry's repository the caches and the inline-cache
/// image go to, each under a tag of the run's own.
const CACHE_REPOSITORY: &str = "localhost:5000/pybase-e2e/cache";
/// The code step of the fixture's service.
const CODE_STEP: &str = "code: install the project without dependencies";
/// Its venv step.
const VENV_STEP: &str =
    "venv: 2 packages from uv.lock, 1 fetched wheel and 1 built sdist, network off, in 3 layers";

/// A fresh copy of the inventory fixture (a pure-Python project whose
/// dependencies need the builder: psycopg2's sdist, gcc and libpq-dev)
/// whose service is named `service`, on a system step of its own
/// ([`own_system_step`]): no other test's build shares its steps, and
/// none of them sees a cache this test imports.
fn project(service: &str) -> std::path::PathBuf {
    let dir = fixture("inventory");
    let spec = dir.join("pybase.yaml");
    let text = std::fs::read_to_string(&spec).expect("read the spec");
    std::fs::write(
        &spec,
        text.replacen("\n  inventory:\n", &format!("\n  {service}:\n"), 1),
    )
    .expect("write the spec");
    own_system_step(&dir, service);
    dir
}

/// A code change in `dir` (a line no earlier build saw).
fn change(dir: &Path, version: &str) {
    change_code(
        &dir.join("src/inventory/cli.py"),
        "ready",
        &format!("ready, {version}"),
    );
}

/// Empties the daemon's build cache, as a fresh CI runner has none.
fn prune() {
    let pruned = run(Command::new("docker").args(["builder", "prune", "-af"]));
    assert!(pruned.status.success(), "{}", failure(&pruned));
}

/// Whether the step named `name` ran in a build whose plain progress is
/// `log`, or its result was pulled from an imported cache (either ends
/// with `DONE`): not when it is `CACHED` with nothing pulled, or
/// `CANCELED` (started, then not needed: a later step was in the cache).
fn ran(log: &str, name: &str) -> bool {
    let step = step_id(log, name);
    log.lines()
        .any(|line| line.starts_with(&format!("{step} DONE")))
}

/// Whether the result of the step named `name` was pulled from an
/// imported cache in a build whose plain progress is `log` (it shows the
/// layer's extraction), not made by running it.
fn pulled(log: &str, name: &str) -> bool {
    let step = step_id(log, name);
    let extracting = format!("{step} extracting sha256:");
    let prefix = format!("{step} ");
    // A command's output, `#N 0.257 text`: the step ran.
    let ran_a_command = log.lines().any(|line| {
        line.strip_prefix(&prefix)
            .and_then(|rest| rest.split_whitespace().next())
            .is_some_and(|time| time.parse::<f64>().is_ok())
    });
    log.lines().any(|line| line.starts_with(&extracting)) && !ran_a_command
}

/// The names of the steps a build's plain progress `log` shows run or
/// pulled (a `DONE` line and no `CACHED` one), in order.
fn steps_run(log: &str) -> Vec<String> {
    let mut named: Vec<(String, String)> = Vec::new();
    for line in log.lines() {
        let Some((id, rest)) = line.split_once(' ') else {
            continue;
        };
        if id.starts_with('#') && !named.iter().any(|(seen, _)| seen == id) {
            named.push((id.to_owned(), rest.to_owned()));
        }
    }
    named
        .into_iter()
        .filter(|(id, _)| {
            log.lines().any(|l| l.starts_with(&format!("{id} DONE")))
                && !log.lines().any(|l| l == format!("{id} CACHED"))
        })
        .map(|(_, name)| name)
        .collect()
}

/// Whether the step `name` is no step that runs but BuildKit's own vertex
/// or a source, which the plain progress shows `DONE` whenever it is
/// resolved: the spec, the context's files, the base image, a fetched
/// file, a script's file, uv's wheel.
fn is_source(name: &str) -> bool {
    !name.starts_with('[')
        || name.starts_with("[internal]")
        || name.starts_with("[pybase] script ")
        || name.starts_with("[pybase] uv ")
        || name.starts_with("[pybase] load ")
        || ["] fetch ", "] load ", "] resolve ", "] look for "]
            .iter()
            .any(|source| name.contains(source))
}

/// Asserts that a code-change build of `service` (its output `output`)
/// ran its code step and, of the steps that run (not sources:
/// [`is_source`]), only those `may_run` names besides it and what stacks
/// the code's layer ([`steps_run`]); its system, builder and venv steps
/// neither ran nor were pulled ([`ran`]). Returns the log.
fn assert_only_code_ran(output: &Output, service: &str, may_run: &[&str], cache: &str) -> String {
    assert!(output.status.success(), "{}", failure(output));
    let log = stderr(output);
    let step = |name: &str| format!("[{service}] {name}");
    assert!(
        ran(&log, &step(CODE_STEP)),
        "the code step did not run with {cache}: {log}"
    );
    assert!(
        step_cached(&log, &step(VENV_STEP)),
        "the venv step was not CACHED with {cache}: {log}"
    );
    for not_run in [
        "system: libpq5 + user app (1000)",
        "builder: gcc libpq-dev",
        "build psycopg2 2.9.10 from its sdist",
        VENV_STEP,
    ] {
        assert!(
            !ran(&log, &step(not_run)),
            "`{not_run}` ran, or its result was pulled, with {cache}: {log}"
        );
    }
    let expected = [CODE_STEP, "image: add the code", "image: + code"];
    let unexpected: Vec<String> = steps_run(&log)
        .into_iter()
        .filter(|name| !is_source(name))
        .filter(|name| {
            !expected
                .iter()
                .chain(may_run)
                .any(|ok| name.starts_with(&step(ok)) || name.starts_with(ok))
        })
        .collect();
    assert!(
        unexpected.is_empty(),
        "with {cache}, a code change ran more than the code step: {unexpected:?}\n{log}"
    );
    log
}

/// A code change in `dir` (`kind`, for its tag and the printed time) built
/// on an emptied daemon, a fresh runner, with `--cache-from` the registry
/// reference `cache`: the image and the build's output.
fn on_a_fresh_runner(dir: &Path, kind: &str, cache: &str) -> (String, Output) {
    prune();
    change(dir, kind);
    let image = format!("pybase-e2e/cache-ci:{kind}");
    let (output, seconds) = build_with(
        dir,
        None,
        &image,
        &["--cache-from", &format!("type=registry,ref={cache}")],
    );
    eprintln!("measured: code change after a prune, from the {kind} cache {seconds:.1}s");
    (image, output)
}

/// The venv layer of a service image (below its code layer).
fn venv_layer(image: &str) -> String {
    let all = layers(image);
    all[all.len() - 2].clone()
}

#[test]
fn a_code_change_on_a_fresh_daemon_takes_everything_else_from_a_registry_or_an_inline_cache() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    let service = "cache-ci";
    let dir = project(service);
    let twin_service = "cache-ci-twin";
    let twin = project(twin_service);
    let run_id = unique();
    let registry_cache = format!("{CACHE_REPOSITORY}:registry-{run_id}");
    let inline_image = format!("{CACHE_REPOSITORY}:inline-{run_id}");

    // The first build exports both caches; the image, with its inline
    // cache, goes to the registry.
    let (output, first_build) = build_with(
        &dir,
        None,
        &inline_image,
        &[
            "--cache-to",
            &format!("type=registry,ref={registry_cache},mode=max"),
            "--cache-to",
            "type=inline",
        ],
    );
    assert!(output.status.success(), "{}", failure(&output));
    // (Cold only on a daemon that never built this fixture's steps.)
    eprintln!("measured: first build {first_build:.1}s");
    let pushed = run(Command::new("docker").args(["push", &inline_image]));
    assert!(pushed.status.success(), "{}", failure(&pushed));
    let first_venv = venv_layer(&inline_image);
    let (output, _) = build_with(&twin, None, "pybase-e2e/cache-ci-twin:first", &[]);
    assert!(output.status.success(), "{}", failure(&output));

    // A code change on the warm daemon, the time to beat.
    change(&dir, "warm");
    let (output, warm) = build_with(&dir, None, "pybase-e2e/cache-ci:warm", &[]);
    eprintln!("measured: code change on a warm daemon {warm:.1}s");
    assert_only_code_ran(&output, service, &[], "a warm daemon");

    // A fresh runner: the code change from the registry cache.
    let (image, output) = on_a_fresh_runner(&dir, "registry", &registry_cache);
    // What the code step reads and no layer holds, uv and the build
    // backend's environment, is pulled from the cache, not made again.
    let log = assert_only_code_ran(
        &output,
        service,
        &["[pybase] unpack uv", "code: build backend"],
        "--cache-from type=registry",
    );
    for input in [
        "[pybase] unpack uv 0.13.9".to_owned(),
        format!("[{service}] code: build backend hatchling==1.27.0"),
    ] {
        // (BuildKit shows a layer's pull under either step that has it:
        // uv's under its download or its unpacking, the other CACHED.)
        assert!(
            pulled(&log, &input) || step_cached(&log, &input),
            "`{input}` was made again, not pulled from the registry cache: {log}"
        );
    }
    assert_eq!(
        venv_layer(&image),
        first_venv,
        "the venv layer from the registry cache is not the first build's"
    );

    // The twin: without --cache-from, the emptied daemon builds the venv.
    change(&twin, "no cache");
    let (output, _) = build_with(&twin, None, "pybase-e2e/cache-ci-twin:second", &[]);
    assert!(output.status.success(), "{}", failure(&output));
    let log = stderr(&output);
    assert!(
        ran(&log, &format!("[{twin_service}] {VENV_STEP}")),
        "after a prune, a build without --cache-from found its venv cached: {log}"
    );

    // Again a fresh runner: the code change from the image's inline cache,
    // which holds the image's layers alone (mode=min): uv and the build
    // backend, which the code step needs and no layer holds, run again.
    let (image, output) = on_a_fresh_runner(&dir, "inline", &inline_image);
    assert_only_code_ran(
        &output,
        service,
        &["code: build backend", "[pybase] unpack uv"],
        "--cache-from an image with an inline cache",
    );
    assert_eq!(
        venv_layer(&image),
        first_venv,
        "the venv layer from the inline cache is not the first build's"
    );

    // The local tag of the pushed image, which the harness's removal of
    // `pybase-e2e/*` images does not match (the registry keeps it).
    run(Command::new("docker").args(["image", "rm", &inline_image]));
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&twin);
}
