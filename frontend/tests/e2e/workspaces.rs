//! A service whose project is a member of a uv workspace
//! (`testdata/projects/workspace`: a virtual root with one uv.lock, members
//! `packages/api`, `packages/lib`, `packages/other`). api's venv holds its
//! and lib's third-party packages from the root's lock, never `other`'s;
//! its code step installs api and lib; a change to lib's code reruns only
//! the code step.
//!
//! A Poetry project with path dependencies (`testdata/projects/poetry-path`:
//! `app` depends on `../lib`, which depends on `../core`) is built the same
//! way: the venv gets their third-party packages from app's poetry.lock,
//! the code step app, lib and core; a change to lib's code reruns only the
//! code step.

use crate::harness::{
    build, build_ok, change_code, docker_run, e2e_session, failure, fixture,
    installed_distributions, stderr, stdout, step_cached,
};

/// api's venv step, as the build's progress names it.
const VENV_STEP: &str =
    "[api] venv: 2 packages from uv.lock, 2 fetched wheels, network off, in 3 layers";

/// api's code step.
const CODE_STEP: &str = "[api] code: install the project and the workspace members it depends on (packages/api, packages/lib) without dependencies";

#[test]
fn a_workspace_member_runs_with_the_members_it_depends_on_and_only_their_packages() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    let dir = fixture("workspace");
    let first = "pybase-e2e/workspace:first";
    build_ok(&dir, Some("api"), first);

    // api's script runs, with lib (a member) and six and idna (locked).
    let output = docker_run(first, None, &[]);
    assert!(output.status.success(), "api failed: {}", failure(&output));
    let text = stdout(&output);
    assert!(
        text.contains("api: hello from lib via xn--bcher-kva.example (six 1.17.0)"),
        "{text}"
    );
    let installed = installed_distributions(first);
    for wanted in ["api-0.1.0", "lib-0.1.0", "idna-3.10", "six-1.17.0"] {
        assert!(
            installed.iter().any(|d| d.starts_with(wanted)),
            "{wanted} is not installed: {installed:?}"
        );
    }
    // The unrelated member and its dependency never reach api's image.
    for unwanted in ["iniconfig", "other-"] {
        assert!(
            !installed.iter().any(|d| d.starts_with(unwanted)),
            "{unwanted} is installed: {installed:?}"
        );
    }

    // A change to lib's code reruns the code step alone.
    change_code(
        &dir.join("packages/lib/src/lib/__init__.py"),
        "hello from lib",
        "hello again from lib",
    );
    let second = "pybase-e2e/workspace:second";
    let (output, _) = build(&dir, Some("api"), second);
    let log = stderr(&output);
    assert!(output.status.success(), "{}", failure(&output));
    assert!(
        step_cached(&log, VENV_STEP),
        "a change to lib's code reran the venv: {log}"
    );
    assert!(!step_cached(&log, CODE_STEP), "{log}");
    let text = stdout(&docker_run(second, None, &[]));
    assert!(text.contains("api: hello again from lib"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// app's venv step (poetry-path), as the build's progress names it.
const POETRY_VENV_STEP: &str = "[app] venv: 3 packages from app/poetry.lock, in 4 layers";

/// app's code step (poetry-path).
const POETRY_CODE_STEP: &str = "[app] code: install the project and the path dependencies it depends on (app, core, lib) without dependencies";

#[test]
fn a_poetry_project_runs_with_its_path_dependencies_installed_as_code() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    let dir = fixture("poetry-path");
    let first = "pybase-e2e/poetry-path:first";
    build_ok(&dir, Some("app"), first);

    // app's script runs, with lib and core (path dependencies, `develop =
    // true` for lib) and six, idna and iniconfig (locked).
    let output = docker_run(first, None, &[]);
    assert!(output.status.success(), "app failed: {}", failure(&output));
    let text = stdout(&output);
    assert!(
        text.contains(
            "app: hello from lib via xn--bcher-kva.example and core (iniconfig iniconfig) (six 1.17.0)"
        ),
        "{text}"
    );
    let installed = installed_distributions(first);
    for wanted in [
        "app-0.1.0",
        "lib-0.1.0",
        "core-0.2.0",
        "idna-3.10",
        "iniconfig-2.0.0",
        "six-1.17.0",
    ] {
        assert!(
            installed.iter().any(|d| d.starts_with(wanted)),
            "{wanted} is not installed: {installed:?}"
        );
    }
    // Installed non-editable: lib's code is in site-packages, and no
    // `.pth` file points back at a source directory.
    let listing = docker_run(
        first,
        Some("/bin/sh"),
        &[
            "-c",
            "ls /opt/venv/lib/python3*/site-packages/lib/__init__.py && cat /opt/venv/lib/python3*/site-packages/*.pth 2>/dev/null; true",
        ],
    );
    let listed = stdout(&listing);
    assert!(listed.contains("site-packages/lib/__init__.py"), "{listed}");
    assert!(!listed.contains("/pybase/src"), "{listed}");

    // A change to lib's code reruns the code step alone.
    change_code(
        &dir.join("lib/src/lib/__init__.py"),
        "hello from lib",
        "hello again from lib",
    );
    let second = "pybase-e2e/poetry-path:second";
    let (output, _) = build(&dir, Some("app"), second);
    let log = stderr(&output);
    assert!(output.status.success(), "{}", failure(&output));
    assert!(
        step_cached(&log, POETRY_VENV_STEP),
        "a change to lib's code reran the venv: {log}"
    );
    assert!(!step_cached(&log, POETRY_CODE_STEP), "{log}");
    let text = stdout(&docker_run(second, None, &[]));
    assert!(text.contains("app: hello again from lib"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}
