//! Locks: a stale lock stops the build with the fix; the venv gets the
//! extras and groups the spec selects (from uv.lock, poetry.lock, or
//! requirements.txt exported as the hint says); every lock format (requirements.txt,
//! pylock.toml, Poetry's) installs what uv.lock does and checks every hash,
//! and so do PDM's and Pipenv's locks, each in a test of its own;
//! wheels BuildKit fetched are installed with the network off; a
//! requirements file without hashes builds only where the spec opts out;
//! a requirements file with `-r` and `-c` files installs the set they pin,
//! with the constraints' hashes checked.

use std::path::Path;
use std::process::Command;

use crate::harness::{
    build, build_ok, docker_run, e2e_session, failure, fixture, installed_distributions, repo_root,
    stderr, stdout, step_cached, tools_dir, unique,
};

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

    // The same selection exported to requirements.txt by the command the
    // hint prints (for a spec that selects from a lock of one set), with the
    // spec's selection dropped, as the hint says.
    std::fs::remove_file(dir.join("poetry.lock")).expect("remove poetry.lock");
    std::fs::copy(
        repo_root().join("testdata/projects/selected/uv.lock"),
        dir.join("uv.lock"),
    )
    .expect("copy uv.lock");
    let command = llb_gen::requirements::export_selected("requirements.txt", ["yaml"], ["checks"]);
    let words: Vec<&str> = command.split_whitespace().collect();
    let uv = tools_dir().join(words[0]);
    assert!(
        uv.is_file(),
        "{} missing: run `cargo xtask up` (xtask/provision.sh lock-tools)",
        uv.display()
    );
    let exported = Command::new(uv)
        .args(&words[1..])
        .current_dir(&dir)
        .output()
        .expect("run uv export");
    assert!(
        exported.status.success(),
        "`{command}`: {}",
        failure(&exported)
    );
    std::fs::remove_file(dir.join("uv.lock")).expect("remove uv.lock");
    let spec = dir.join("pybase.yaml");
    let text = std::fs::read_to_string(&spec).expect("spec");
    let unselected: String = text
        .lines()
        .filter(|l| {
            !l.trim_start().starts_with("extras:") && !l.trim_start().starts_with("groups:")
        })
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&spec, unselected).expect("write spec");
    builds_the_selection("pybase-e2e/selected:exported");
    let _ = std::fs::remove_dir_all(&dir);
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
                    "venv: 2 packages from pylock.toml, 1 fetched wheel and 1 built sdist, network off, in 3 layers"
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
    let install =
        "[selected] venv: 3 packages from uv.lock, 3 fetched wheels, network off, in 4 layers";
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
fn a_requirements_lock_with_includes_installs_the_pinned_set_and_no_constraint_alone() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    // Seed 002's shape: services/api/requirements.txt is `-r
    // ../requirements-base.txt` (six, packaging, unpinned) and `-c
    // ../constraints.txt` (their pins and hashes, and attrs's), plus idna
    // pinned and hashed on its own line.
    let dir = fixture("includes");
    build_ok(&dir, Some("api"), "pybase-e2e/includes:latest");
    let installed = installed_distributions("pybase-e2e/includes:latest");
    for wanted in ["six-1.17.0", "packaging-24.2", "idna-3.10", "api-0.1.0"] {
        assert!(
            installed.iter().any(|d| d.starts_with(wanted)),
            "{wanted} is not installed: {installed:?}"
        );
    }
    assert!(
        !installed.iter().any(|d| d.starts_with("attrs")),
        "a constraint alone installed its package: {installed:?}"
    );
    assert_eq!(installed.len(), 4, "{installed:?}");
    let ran = docker_run("pybase-e2e/includes:latest", None, &[]);
    assert_eq!(
        stdout(&ran),
        "api: six 1.17.0, packaging 24.2, idna 3.10",
        "{}",
        stderr(&ran)
    );

    // The hashes a constraint gives are checked: six's replaced by a
    // forged one in constraints.txt stops the venv step.
    let constraints = dir.join("services/constraints.txt");
    let text = std::fs::read_to_string(&constraints).expect("constraints.txt");
    let forged = "0000000000000000000000000000000000000000000000000000000000000000";
    std::fs::write(
        &constraints,
        text.replace(
            "ff70335d468e7eb6ec65b95b99d3a2836546063f63acc5171de367e834932a81",
            forged,
        )
        .replace(
            "4721f391ed90541fddacab5acf947aa0d3dc7d27b2e1e8eda2be8970586c3274",
            forged,
        ),
    )
    .expect("write constraints.txt");
    let (output, _) = build(&dir, Some("api"), "pybase-e2e/includes:forged");
    assert!(
        !output.status.success(),
        "a forged hash in constraints.txt built an image"
    );
    let err = stderr(&output);
    assert!(err.to_lowercase().contains("hash"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Builds the inventory project with `lock` (a file of testdata/locks/)
/// as its `file` in place of uv.lock, and `extra` files of testdata/locks/
/// copied in under their names (a Pipfile beside its lock): the same
/// distributions as from uv.lock are installed, the dev group's stay out,
/// and forged hashes of six stop the build.
fn builds_inventory_from(file: &str, lock: &str, extra: &[(&str, &str)]) {
    let from_uv = fixture("inventory");
    build_ok(&from_uv, None, "pybase-e2e/locks:uv");
    let uv = installed_distributions("pybase-e2e/locks:uv");
    let _ = std::fs::remove_dir_all(&from_uv);

    let locks = repo_root().join("testdata/locks");
    let dir = fixture("inventory");
    std::fs::remove_file(dir.join("uv.lock")).expect("remove uv.lock");
    std::fs::copy(locks.join(lock), dir.join(file)).expect("copy the lock");
    for (name, source) in extra {
        std::fs::copy(locks.join(source), dir.join(name)).expect("copy the file");
    }
    let image = format!("pybase-e2e/locks:{}", lock.replace('.', "-").to_lowercase());
    let (output, _) = build(&dir, None, &image);
    assert!(output.status.success(), "{file}: {}", failure(&output));
    let installed = installed_distributions(&image);
    assert_eq!(
        installed, uv,
        "{file} and uv.lock of one dependency set installed different packages"
    );
    assert!(
        !installed.iter().any(|d| d.starts_with("iniconfig")),
        "{installed:?}"
    );
    let ran = docker_run(&image, None, &[]);
    assert!(stdout(&ran).contains("six 1.17.0"), "{}", stdout(&ran));

    // six's hashes (its wheel's and its sdist's) forged: uv refuses them.
    let forged = "0000000000000000000000000000000000000000000000000000000000000000";
    let path = dir.join(file);
    let mut text = std::fs::read_to_string(&path).expect("lock");
    for hash in [
        "4721f391ed90541fddacab5acf947aa0d3dc7d27b2e1e8eda2be8970586c3274",
        "ff70335d468e7eb6ec65b95b99d3a2836546063f63acc5171de367e834932a81",
    ] {
        assert!(text.contains(hash), "{file} records six's hash {hash}");
        text = text.replace(hash, forged);
    }
    std::fs::write(&path, &text).expect("write lock");
    let (output, _) = build(&dir, None, "pybase-e2e/locks:forged");
    assert!(
        !output.status.success(),
        "a forged hash in {file} must not build"
    );
    let log = stderr(&output);
    assert!(
        log.contains("six") && log.to_lowercase().contains("hash"),
        "{file}: {log}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_pdm_lock_installs_what_uv_lock_does_and_checks_every_hash() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    builds_inventory_from("pdm.lock", "inventory-pdm.lock", &[]);
}

#[test]
fn a_pipfile_lock_installs_what_uv_lock_does_and_checks_every_hash() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    builds_inventory_from(
        "Pipfile.lock",
        "inventory-Pipfile.lock",
        &[("Pipfile", "inventory-Pipfile")],
    );
}
