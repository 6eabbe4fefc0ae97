//! What a change rebuilds and what each layer holds: a code change reruns
//! only the code layer and a lock bump only the venv layer; the base target
//! is the service image without its code; without MergeOp the same image is
//! assembled by copies; a build backend that needs more at build time than
//! it declares builds in isolation; a wheel is the same venv layer in two
//! services built apart.

use crate::harness::{
    assert_only_layer_changed, assert_only_venv_layers_changed, build, build_ok, build_with,
    change_code, containerd_image_store, docker_run, e2e_session, failure, fixture, inspect,
    installed_distributions, layer_contents, layers, repo_root, stderr, stdout, step_cached,
    unique, venv_layers,
};

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
            "for p in /usr/bin/gcc /usr/bin/cc /usr/include/postgresql /run/secrets/ca-bundle /pybase /pybase-scripts /root/.cache/uv; do [ -e $p ] && echo present:$p; done; ls /var/lib/apt/lists | grep -v -x -e lock -e partial -e auxfiles | sed 's/^/list:/'; true",
        ],
    );
    assert_eq!(stdout(&probe), "", "the image holds build-only files");
    let dev = docker_run(first, Some("python"), &["-c", "import iniconfig"]);
    assert!(!dev.status.success(), "the dev group reached the image");

    // Change only the code.
    change_code(&dir.join("src/inventory/cli.py"), "ready", "ready, v2");
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

    let after = layers(second);
    let last = after.len() - 1;
    assert_only_layer_changed(&layers(first), &after, last, "a code change");

    // The code layer holds the project, not the venv.
    let mut contents = layer_contents(second, &[last]).into_iter();
    let (entries, code_bytes) = contents.next().expect("the code layer");
    let venv_bytes: u64 = layer_contents(second, &venv_layers(second, "inventory"))
        .iter()
        .map(|(_, bytes)| bytes)
        .sum();
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

    // The layer of six alone: psycopg2's, the venv's own files and the
    // code layer above them are the same blobs.
    assert_only_venv_layers_changed(first, second, "inventory", &["six"]);
    assert!(
        venv_layers(second, "inventory").len() > 1,
        "the venv is one layer"
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
    let containerd_store = containerd_image_store();
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
    let (merged, copied) = ("pybase-e2e/inventory:merged", "pybase-e2e/inventory:copied");
    let (merged_layers, copied_layers) = (layers(merged), layers(copied));
    // Copied, the venv is one layer; merged, a layer per package and one
    // of the venv's own files.
    let (merged_venv, copied_venv) = (
        venv_layers(merged, "inventory"),
        venv_layers(copied, "inventory"),
    );
    assert_eq!(copied_venv.len(), 1, "{copied_venv:?}");
    assert_eq!(merged_venv.len(), if containerd_store { 3 } else { 1 });
    assert_eq!(
        merged_layers.len() - merged_venv.len(),
        copied_layers.len() - copied_venv.len()
    );
    // The base image's layers are the same blobs; pybase's system and code
    // layers hold the same files, and so do the venv's layers together.
    // (Their digests may differ: the system step is not byte-reproducible
    // yet, and after a `--no-cache` build BuildKit may hold two results
    // for it.)
    let system = copied_venv[0] - 1;
    assert_eq!(merged_layers[..system], copied_layers[..system]);
    type Files = (Vec<String>, Vec<String>, std::collections::BTreeSet<String>);
    let files = |image: &str| -> Files {
        let last = layers(image).len() - 1;
        let mut ends = layer_contents(image, &[system, last])
            .into_iter()
            .map(|(entries, _)| entries);
        let venv = layer_contents(image, &venv_layers(image, "inventory"))
            .into_iter()
            .flat_map(|(entries, _)| entries)
            .collect();
        let system_files = ends.next().unwrap_or_default();
        (system_files, ends.next().unwrap_or_default(), venv)
    };
    assert_eq!(
        files(merged),
        files(copied),
        "system, code and venv files differ between the assemblies"
    );
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

#[test]
fn the_same_wheel_is_the_same_layer_in_two_services_built_apart() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    if !containerd_image_store() {
        eprintln!("skipping: the classic image store has no MergeOp, so one venv layer");
        return;
    }
    // Two services on system steps of their own (own_system_step): their
    // builders, and so their venv steps, are different steps that run
    // apart; six 1.17.0 from the same wheel is the same layer in both.
    let run_id = unique();
    let images: Vec<String> = ["one", "two"]
        .iter()
        .map(|service| {
            let dir = fixture("inventory");
            let spec = dir.join("pybase.yaml");
            let text = std::fs::read_to_string(&spec).expect("read the spec");
            let renamed = format!("{service}{run_id}");
            std::fs::write(
                &spec,
                text.replacen("\n  inventory:\n", &format!("\n  {renamed}:\n"), 1),
            )
            .expect("write the spec");
            crate::harness::own_system_step(&dir, &renamed);
            let image = format!("pybase-e2e/same-wheel:{renamed}");
            build_ok(&dir, None, &image);
            let _ = std::fs::remove_dir_all(&dir);
            image
        })
        .collect();
    let layer_of = |image: &str, what: &str| -> String {
        let all = layers(image);
        crate::harness::pybase_layers(image)
            .into_iter()
            .find(|(_, entry)| entry.contains(" venv ") && entry.ends_with(what))
            .map(|(index, _)| all[index].clone())
            .unwrap_or_else(|| panic!("{image}: no venv layer of {what}"))
    };
    assert_eq!(
        layer_of(&images[0], ": six 1.17.0"),
        layer_of(&images[1], ": six 1.17.0"),
        "six's layer differs between the services"
    );
    // The twin: the services' system layers (their own working
    // directories) differ, so the steps did run apart.
    assert_ne!(layer_of_system(&images[0]), layer_of_system(&images[1]));
}

/// The system layer of a service image.
fn layer_of_system(image: &str) -> String {
    let all = layers(image);
    crate::harness::pybase_layers(image)
        .into_iter()
        .find(|(_, entry)| entry.contains("] system packages"))
        .map(|(index, _)| all[index].clone())
        .unwrap_or_else(|| panic!("{image}: no system layer"))
}
