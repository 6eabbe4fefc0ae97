//! An application, not a package: a directory of code (`app.py`, a module
//! next to it) with a hashed `requirements.txt` and no `pyproject.toml`
//! (`testdata/projects/plain-app`). Its venv is installed from the lock,
//! its files are copied into the workdir owned by root, the command runs
//! there; a code change reruns only the code layer, a lock change leaves
//! the code step cached.

use crate::harness::{
    assert_only_layer_changed, assert_only_venv_layers_changed, build, build_ok, change_code,
    docker_run, e2e_session, failure, fixture, layer_contents, layers, stderr, stdout, step_cached,
    unique,
};

/// The application's code step, as the build's progress names it.
const COPY_STEP: &str = "[web] code: copy the application into /app";

/// iniconfig 2.0.0 pinned with the hashes of its wheel and sdist on PyPI
/// (as in `testdata/bad/086-missing-pyproject/uv.lock`).
const INICONFIG_PIN: &str = "iniconfig==2.0.0 \\
    --hash=sha256:b6a85871a79d2e3b22d2d1b94ac2824226a63c6b741c88f7ae975f18b6778374 \\
    --hash=sha256:2d91e135bf72d31a410b17c16da610a82cb55f6b0477d1a902134b24a455b8b3
";

#[test]
fn an_application_runs_from_its_workdir_with_its_code_owned_by_root() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    let dir = fixture("plain-app");
    std::fs::write(dir.join(".dockerignore"), "**/*.secret\n").expect("write .dockerignore");
    std::fs::write(dir.join("notes.secret"), "TOKEN=do-not-ship\n").expect("write secret");
    let image = "pybase-e2e/plain-app:first";
    build_ok(&dir, Some("web"), image);

    // `python app.py` runs in /app with the venv's python, which has six.
    let output = docker_run(image, None, &[]);
    assert!(
        output.status.success(),
        "the app failed: {}",
        failure(&output)
    );
    let text = stdout(&output);
    assert!(
        text.contains("plain-app ready with six 1.17.0 at /opt/venv/bin/python in /app"),
        "{text}"
    );

    // The code is in the workdir, owned by root, readable and not writable
    // by the image's user; the lock, the spec and what .dockerignore
    // excludes are not.
    let probe = docker_run(
        image,
        Some("/bin/sh"),
        &[
            "-c",
            "id -u; ls -A /app; stat -c '%u:%g %A %n' /app /app/app.py /app/greeting.py; \
             for f in /app /app/app.py; do [ -w $f ] && echo writable:$f; [ -r $f ] || echo unreadable:$f; done; true",
        ],
    );
    assert!(probe.status.success(), "{}", failure(&probe));
    let probed = stdout(&probe);
    let mut lines = probed.lines();
    assert_eq!(lines.next(), Some("1000"), "{probed}");
    let listed: Vec<&str> = lines.by_ref().take_while(|l| !l.contains(' ')).collect();
    assert!(
        listed.contains(&"app.py") && listed.contains(&"greeting.py"),
        "{probed}"
    );
    for absent in ["requirements.txt", "pybase.yaml", "notes.secret"] {
        assert!(!listed.contains(&absent), "{absent} reached /app: {probed}");
    }
    assert!(
        probed.contains("0:0 drwxr-xr-x /app")
            && probed.contains("0:0 -rw-r--r-- /app/app.py")
            && probed.contains("0:0 -rw-r--r-- /app/greeting.py"),
        "{probed}"
    );
    assert!(
        !probed.contains("writable:") && !probed.contains("unreadable:"),
        "{probed}"
    );

    // The last layer is the code alone.
    let all = layers(image);
    let [(entries, _)] = layer_contents(image, &[all.len() - 1])
        .try_into()
        .expect("one layer");
    assert!(entries.iter().any(|e| e == "app/app.py"), "{entries:?}");
    assert!(
        !entries
            .iter()
            .any(|e| e.starts_with("opt/") || e.ends_with("requirements.txt")),
        "{entries:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_application_code_change_reruns_only_the_code_and_a_lock_change_only_the_venv() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    let dir = fixture("plain-app");
    let first = "pybase-e2e/plain-app:layers-1";
    build_ok(&dir, Some("web"), first);

    // Change only the code.
    change_code(
        &dir.join("greeting.py"),
        "plain-app ready",
        "plain-app ready, v2",
    );
    let second = "pybase-e2e/plain-app:layers-2";
    let (output, _) = build(&dir, Some("web"), second);
    let log = stderr(&output);
    assert!(output.status.success(), "{}", failure(&output));
    assert!(!step_cached(&log, COPY_STEP), "{log}");
    assert!(
        step_cached(
            &log,
            "[web] venv: 1 package from requirements.txt, in 2 layers"
        ),
        "a code change reran the venv: {log}"
    );
    assert!(stdout(&docker_run(second, None, &[])).contains("plain-app ready, v2"));
    let after = layers(second);
    let last = after.len() - 1;
    assert_only_layer_changed(&layers(first), &after, last, "a code change");

    // Change only the lock: one more package, and a text no earlier build
    // saw.
    let lock = dir.join("requirements.txt");
    let pins = std::fs::read_to_string(&lock).expect("read requirements.txt");
    std::fs::write(
        &lock,
        format!("{pins}{INICONFIG_PIN}# e2e run {}\n", unique()),
    )
    .expect("write requirements.txt");
    let third = "pybase-e2e/plain-app:layers-3";
    let (output, _) = build(&dir, Some("web"), third);
    let log = stderr(&output);
    assert!(output.status.success(), "{}", failure(&output));
    assert!(
        step_cached(&log, COPY_STEP),
        "a lock change reran the code step: {log}"
    );
    assert!(
        !step_cached(
            &log,
            "[web] venv: 2 packages from requirements.txt, in 3 layers"
        ),
        "{log}"
    );
    let imported = docker_run(third, Some("python"), &["-c", "import iniconfig, six"]);
    assert!(imported.status.success(), "{}", failure(&imported));
    assert!(stdout(&docker_run(third, None, &[])).contains("plain-app ready, v2"));
    // A layer of iniconfig's own is new; every other layer, the code's
    // above the venv's included, is the same.
    assert_only_venv_layers_changed(second, third, "web", &["iniconfig"]);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A package without `pyproject.toml` (`testdata/projects/setup-py`: a
/// `setup.py`, a package, a hashed `requirements.txt`), as many published
/// projects still are: built by setuptools' PEP 517 fallback and installed
/// into the venv like any package, its console script the command.
#[test]
fn a_setup_py_package_without_pyproject_is_built_and_its_script_runs() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    let dir = fixture("setup-py");
    let image = "pybase-e2e/setup-py:first";
    build_ok(&dir, Some("greeter"), image);
    let output = docker_run(image, None, &[]);
    assert!(
        output.status.success(),
        "greet failed: {}",
        failure(&output)
    );
    assert!(
        stdout(&output).contains("legacy-greeter 1.0.0 ready with six 1.17.0"),
        "{}",
        stdout(&output)
    );
    // Installed as a package (its dist-info in the venv), not copied: the
    // twin of the application above, whose code is in /app.
    let probe = docker_run(
        image,
        Some("/bin/sh"),
        &[
            "-c",
            "ls /opt/venv/lib/python3*/site-packages | grep -i legacy_greeter; ls -A /app 2>/dev/null; true",
        ],
    );
    assert!(probe.status.success(), "{}", failure(&probe));
    let probed = stdout(&probe);
    assert!(
        probed.contains("legacy_greeter-1.0.0.dist-info"),
        "{probed}"
    );
    assert!(!probed.contains("setup.py"), "{probed}");
}

/// The Node step of `testdata/projects/build-commands`, as the build's
/// progress names it.
const NODE_STEP: &str = "[shop] code: build command: node assets/build.js";
/// Its Django step.
const COLLECTSTATIC_STEP: &str =
    "[shop] code: build command: python manage.py collectstatic --noinput";

/// A Django application with build commands
/// (`testdata/projects/build-commands`): Node (a build package) bundles
/// its assets, then Django's `collectstatic`, from the venv, gathers that
/// bundle and the app's own static files into `staticfiles`. Both outputs
/// are in the image under the working directory, in the code's layer,
/// owned by root; Node is not in the image, though it built the bundle.
#[test]
fn build_commands_outputs_join_the_code_layer_and_their_tools_stay_in_the_builder() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    let dir = fixture("build-commands");
    let image = "pybase-e2e/build-commands:first";
    build_ok(&dir, Some("shop"), image);

    // The server reads what collectstatic wrote: the bundle Node made
    // (its first line names the node that ran) and the app's own file.
    let text = crate::real::page(image, 8000);
    assert!(
        text.contains("shop ready; bundle: // built by node v")
            && text.contains("static: app.bundle.js shop/style.css"),
        "{text}"
    );

    // Node ran in the builder (above), and is not in the image; the
    // outputs are owned by root, readable, not writable by the user.
    let probe = docker_run(
        image,
        Some("/bin/sh"),
        &[
            "-c",
            "id -u; command -v node || echo no-node; ls /usr/lib/node_modules 2>/dev/null || echo no-node-modules; \
             stat -c '%u:%g %A %n' /app/staticfiles /app/staticfiles/app.bundle.js /app/assets/dist/app.bundle.js; \
             [ -w /app/staticfiles ] && echo writable; true",
        ],
    );
    assert!(probe.status.success(), "{}", failure(&probe));
    let probed = stdout(&probe);
    assert!(
        probed.starts_with("1000\n")
            && probed.contains("no-node\n")
            && probed.contains("no-node-modules\n"),
        "{probed}"
    );
    assert!(
        probed.contains("0:0 drwxr-xr-x /app/staticfiles")
            && probed.contains("0:0 -rw-r--r-- /app/staticfiles/app.bundle.js")
            && probed.contains("0:0 -rw-r--r-- /app/assets/dist/app.bundle.js")
            && !probed.contains("writable"),
        "{probed}"
    );

    // One layer holds the code and the outputs, and nothing of the builder.
    let all = layers(image);
    let [(entries, _)] = layer_contents(image, &[all.len() - 1])
        .try_into()
        .expect("one layer");
    for present in [
        "app/manage.py",
        "app/staticfiles/app.bundle.js",
        "app/staticfiles/shop/style.css",
    ] {
        assert!(
            entries.iter().any(|e| e == present),
            "{present}: {entries:?}"
        );
    }
    assert!(
        !entries
            .iter()
            .any(|e| e.starts_with("usr/") || e.starts_with("opt/") || e.starts_with("root/")),
        "{entries:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A Python change reruns collectstatic (it reads the whole project) but
/// not the Node step (its `inputs` are `assets`, without the venv); an
/// asset change reruns both; the venv stays cached, and only the last
/// layer changes.
#[test]
fn a_build_command_reruns_only_when_its_inputs_change() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    let dir = fixture("build-commands");
    let first = "pybase-e2e/build-commands:rerun-1";
    build_ok(&dir, Some("shop"), first);

    change_code(&dir.join("shop/urls.py"), "shop ready", "shop ready, v2");
    let second = "pybase-e2e/build-commands:rerun-2";
    let (output, _) = build(&dir, Some("shop"), second);
    let log = stderr(&output);
    assert!(output.status.success(), "{}", failure(&output));
    assert!(
        step_cached(&log, NODE_STEP),
        "a Python change reran Node: {log}"
    );
    assert!(!step_cached(&log, COLLECTSTATIC_STEP), "{log}");
    assert!(
        step_cached(
            &log,
            "[shop] venv: 3 packages from requirements.txt, in 4 layers"
        ),
        "{log}"
    );
    let after = layers(second);
    assert_only_layer_changed(&layers(first), &after, after.len() - 1, "a code change");

    change_code(
        &dir.join("assets/src/menu.js"),
        "\"home\", \"cart\"",
        "\"home\", \"cart\", \"checkout\"",
    );
    let third = "pybase-e2e/build-commands:rerun-3";
    let (output, _) = build(&dir, Some("shop"), third);
    let log = stderr(&output);
    assert!(output.status.success(), "{}", failure(&output));
    assert!(!step_cached(&log, NODE_STEP), "{log}");
    assert!(!step_cached(&log, COLLECTSTATIC_STEP), "{log}");
    let bundle = docker_run(third, Some("cat"), &["/app/staticfiles/app.bundle.js"]);
    assert!(
        stdout(&bundle).contains("\"checkout\""),
        "{}",
        failure(&bundle)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `pybase.yaml.dockerignore` beside the spec replaces the context's
/// `.dockerignore`, as `Dockerfile.dockerignore` does for a Dockerfile:
/// what it excludes stays out of the code, and what only `.dockerignore`
/// excludes is in it.
#[test]
fn the_specs_own_ignore_file_replaces_the_dockerignore() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    let dir = fixture("plain-app");
    std::fs::write(dir.join("pybase.yaml.dockerignore"), "notes.txt\n").expect("write");
    std::fs::write(dir.join(".dockerignore"), "extra.txt\n").expect("write");
    std::fs::write(dir.join("notes.txt"), "private notes\n").expect("write");
    std::fs::write(dir.join("extra.txt"), "shipped\n").expect("write");
    let image = "pybase-e2e/plain-app:own-ignore";
    build_ok(&dir, Some("web"), image);
    let listed = docker_run(image, Some("ls"), &["-A", "/app"]);
    let listed = stdout(&listed);
    let names: Vec<&str> = listed.lines().collect();
    assert!(
        names.contains(&"app.py") && names.contains(&"extra.txt"),
        "{listed}"
    );
    assert!(!names.contains(&"notes.txt"), "{listed}");
    let _ = std::fs::remove_dir_all(&dir);
}
