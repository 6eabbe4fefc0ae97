//! A venv assembled (MergeOp) from per-distribution layers and a glue layer
//! (issue 19): the same files as the single venv layer `uv sync` makes
//! (`venv-layers: 1`), on `inventory` and on `layered-venv`, whose
//! dependencies share a namespace package (`jaraco/`), ship a `.pth` file,
//! console scripts, `.data/scripts` and `.data/data`; that venv passes `uv
//! pip check` and runs its scripts; and a lock bump of one small package
//! changes only its layer (and at most the glue).

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::MutexGuard;

use llb_gen::names::normalize_name;

use crate::harness::{
    add_to_service, build_ok, build_with, containerd_image_store, docker_run, e2e_session, failure,
    fixture, installed_distributions, layers, repo_root, run, stderr, stdout, unique,
};

/// Where the venv is in the image.
const VENV: &str = "/opt/venv";

/// The host's uv (glibc), mounted read-only into a container.
const HOST_UV: &str = "/opt/pybase-tools/bin/uv";

/// Prints one JSON line per entry under `argv[1]` (itself included): its
/// path relative to it, its type, permission bits, owner, and the sha256 of
/// the file's bytes or of the symlink's target; no times.
const MANIFEST_SCRIPT: &str = r#"
import hashlib, json, os, stat, sys
root = sys.argv[1]
def entry(path):
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        kind, digest = "symlink", hashlib.sha256(os.fsencode(os.readlink(path))).hexdigest()
    elif stat.S_ISREG(st.st_mode):
        with open(path, "rb") as f:
            kind, digest = "file", hashlib.sha256(f.read()).hexdigest()
    elif stat.S_ISDIR(st.st_mode):
        kind, digest = "dir", ""
    else:
        kind, digest = "other", ""
    rel = os.path.relpath(path, root)
    print(json.dumps([rel, kind, oct(stat.S_IMODE(st.st_mode)), f"{st.st_uid}:{st.st_gid}", digest]))
entry(root)
for top, dirs, files in os.walk(root):
    for name in sorted(dirs + files):
        entry(os.path.join(top, name))
"#;

/// The fixture's lock with mdurl at 0.1.2 instead of 0.1.1 (`uv lock
/// --upgrade-package mdurl`).
const MDURL_BUMP: &str = "testdata/locks/layered-venv-mdurl-bump.lock";

/// The right to use Docker ([`e2e_session`]), or `None` also on a daemon
/// without MergeOp (the classic image store), where images assembled by
/// copying keep the single venv layer.
fn merge_op_session() -> Option<MutexGuard<'static, ()>> {
    let session = e2e_session()?;
    if !containerd_image_store() {
        eprintln!("skipping: the daemon's classic image store has no MergeOp, so one venv layer");
        return None;
    }
    Some(session)
}

/// A fresh copy of the `layered-venv` fixture, its service built as `image`.
fn built_layered_venv(image: &str) -> std::path::PathBuf {
    let dir = fixture("layered-venv");
    build_ok(&dir, Some("layered"), image);
    dir
}

/// The venv of `image`, path by path: type, mode, owner, digest.
fn venv_manifest(image: &str) -> BTreeMap<String, String> {
    let output = run(Command::new("docker")
        .args(["run", "--rm", "-u", "0", "--entrypoint"])
        .arg(format!("{VENV}/bin/python"))
        .args([image, "-S", "-c", MANIFEST_SCRIPT, VENV]));
    assert!(
        output.status.success(),
        "the venv manifest of {image}: {}",
        failure(&output)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| {
            let fields: Vec<String> = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("manifest line {line:?} of {image}: {e}"));
            let (path, rest) = fields.split_first().expect("a path on every line");
            (path.clone(), rest.join(" "))
        })
        .collect()
}

/// A venv's manifest ([`venv_manifest`]), with a label for messages.
type Labeled<'a> = (&'a str, &'a BTreeMap<String, String>);

/// The paths where two manifests differ, each with both sides.
fn manifest_differences((a_label, a): Labeled<'_>, (b_label, b): Labeled<'_>) -> Vec<String> {
    let mut paths: Vec<&String> = a.keys().chain(b.keys()).collect();
    paths.sort();
    paths.dedup();
    let side = |m: &BTreeMap<String, String>, path: &String| {
        m.get(path).map_or("absent".to_owned(), |v| v.to_owned())
    };
    paths
        .into_iter()
        .filter(|path| a.get(*path) != b.get(*path))
        .map(|path| {
            format!(
                "{path}: {a_label} [{}], {b_label} [{}]",
                side(a, path),
                side(b, path)
            )
        })
        .collect()
}

/// The image's config, read from `docker save`.
fn image_config(image: &str) -> serde_json::Value {
    let tar = std::env::temp_dir().join(format!("pybase-e2e-venv-layers-{}.tar", unique()));
    let saved = run(Command::new("docker")
        .args(["save", "-o"])
        .arg(&tar)
        .arg(image));
    assert!(saved.status.success(), "docker save: {}", failure(&saved));
    let member = |name: &str| {
        let read = run(Command::new("tar").arg("-xOf").arg(&tar).arg(name));
        assert!(
            read.status.success(),
            "{name} in the saved {image}: {}",
            failure(&read)
        );
        serde_json::from_slice::<serde_json::Value>(&read.stdout)
            .unwrap_or_else(|e| panic!("{name} in the saved {image}: {e}"))
    };
    let manifest = member("manifest.json");
    let config_name = manifest[0]["Config"]
        .as_str()
        .unwrap_or_else(|| panic!("no Config in {manifest}"))
        .to_owned();
    let config = member(&config_name);
    let _ = std::fs::remove_file(&tar);
    config
}

/// Each layer of `image` (its diff id) with the `created_by` of the
/// history entry that made it (the entries that are not empty layers, in
/// order).
fn layers_with_history(image: &str) -> Vec<(String, String)> {
    let config = image_config(image);
    let diff_ids: Vec<String> = config["rootfs"]["diff_ids"]
        .as_array()
        .unwrap_or_else(|| panic!("no diff_ids in the config of {image}"))
        .iter()
        .map(|d| d.as_str().unwrap_or_default().to_owned())
        .collect();
    let created: Vec<String> = config["history"]
        .as_array()
        .unwrap_or_else(|| panic!("no history in the config of {image}"))
        .iter()
        .filter(|h| !h["empty_layer"].as_bool().unwrap_or(false))
        .map(|h| h["created_by"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        diff_ids.len(),
        created.len(),
        "{image}: {} layers but {} history entries of layers: {created:#?}",
        diff_ids.len(),
        created.len()
    );
    assert_eq!(
        diff_ids,
        layers(image),
        "{image}: the saved config and `docker image inspect` disagree"
    );
    diff_ids.into_iter().zip(created).collect()
}

/// The history entries of `service`'s venv layers.
fn venv_entries<'a>(history: &'a [(String, String)], service: &str) -> Vec<&'a str> {
    let prefix = format!("pybase: [{service}] venv ");
    history
        .iter()
        .map(|(_, created_by)| created_by.as_str())
        .filter(|created_by| created_by.starts_with(&prefix))
        .collect()
}

/// Whether the history entry `created_by` names the distribution `name`:
/// a word of it is the name, or the name, `-` and a version.
fn names(created_by: &str, name: &str) -> bool {
    let name = normalize_name(name);
    created_by
        .split(|c: char| !(c.is_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .map(normalize_name)
        .any(|word| {
            word == name
                || word
                    .strip_prefix(&name)
                    .and_then(|rest| rest.strip_prefix('-'))
                    .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
        })
}

/// The names of the distributions installed in `image`'s venv, from their
/// `.dist-info` directories.
fn distribution_names(image: &str) -> Vec<String> {
    installed_distributions(image)
        .iter()
        .map(|dist_info| {
            let stem = dist_info.trim_end_matches(".dist-info");
            // NAME-VERSION; the name of a wheel's dist-info has no `-`.
            stem.rsplit_once('-')
                .map_or(stem, |(name, _)| name)
                .to_owned()
        })
        .collect()
}

/// Builds `service` of the fixture `name` with per-package venv layers and
/// with one, and returns what differs between them (empty when they agree
/// as they must).
fn compare_layered_and_single(name: &str, service: &str, paths: &[&str]) -> Vec<String> {
    let layered_dir = fixture(name);
    let single_dir = fixture(name);
    add_to_service(&single_dir, service, "venv-layers: 1");
    let layered = format!("pybase-e2e/venv-layers-{name}:layered");
    let single = format!("pybase-e2e/venv-layers-{name}:single");
    build_ok(&layered_dir, Some(service), &layered);
    build_ok(&single_dir, Some(service), &single);

    let mut problems = Vec::new();
    let layered_history = layers_with_history(&layered);
    let single_history = layers_with_history(&single);
    let layered_venv = venv_entries(&layered_history, service);
    let single_venv = venv_entries(&single_history, service);
    if single_venv.len() != 1 {
        problems.push(format!(
            "{name}: with `venv-layers: 1` the history has {} venv entries, not one: {single_venv:#?}",
            single_venv.len()
        ));
    }
    if layered_venv.len() < 2 {
        problems.push(format!(
            "{name}: the layered venv's history has {} venv entries: {layered_venv:#?}",
            layered_venv.len()
        ));
    }
    // Every other layer is the same in number: the venv's layers replace
    // the one.
    let expected = single_history.len() - single_venv.len() + layered_venv.len();
    if layered_history.len() <= single_history.len() || layered_history.len() != expected {
        problems.push(format!(
            "{name}: the layered image has {} layers, the single-layer one {} (expected {expected}: one a venv entry)",
            layered_history.len(),
            single_history.len()
        ));
    }
    eprintln!(
        "{name}: {} layers layered ({} venv), {} single; venv entries: {layered_venv:#?}",
        layered_history.len(),
        layered_venv.len(),
        single_history.len()
    );

    let layered_files = venv_manifest(&layered);
    let single_files = venv_manifest(&single);
    // The files that a naive split would lose are there to compare.
    for path in paths {
        if !single_files.contains_key(*path) {
            problems.push(format!(
                "{name}: the single-layer venv lacks {path} ({} entries)",
                single_files.len()
            ));
        }
    }
    let differences =
        manifest_differences(("single layer", &single_files), ("layered", &layered_files));
    if !differences.is_empty() {
        problems.push(format!(
            "{name}: the venvs differ at {} of {} paths:\n{}",
            differences.len(),
            single_files.len().max(layered_files.len()),
            differences.join("\n")
        ));
    }
    let _ = std::fs::remove_dir_all(&layered_dir);
    let _ = std::fs::remove_dir_all(&single_dir);
    problems
}

#[test]
fn the_layered_venv_equals_the_single_layer_one() {
    let Some(_docker) = merge_op_session() else {
        return;
    };
    let site = "lib/python3.11/site-packages";
    let mut problems = compare_layered_and_single(
        "layered-venv",
        "layered",
        &[
            &format!("{site}/jaraco/text/Lorem ipsum.txt"),
            &format!("{site}/jaraco/functools/__init__.py"),
            &format!("{site}/distutils-precedence.pth"),
            &format!("{site}/__pycache__/typing_extensions.cpython-311.pyc"),
            &format!("{site}/mdurl-0.1.1.dist-info/RECORD"),
            "bin/pygmentize",
            "bin/rst2html.py",
            "share/jupyter/labextensions/jupyterlab_pygments/package.json",
            "pyvenv.cfg",
            "bin/python",
        ],
    );
    problems.extend(compare_layered_and_single(
        "inventory",
        "inventory",
        &[&format!("{site}/six.py"), "bin/inventory", "pyvenv.cfg"],
    ));
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

/// Runs `script` with `sh -c` in `image` as root, `extra` docker arguments
/// before the image.
fn sh_in(image: &str, extra: &[&str], script: &str) -> std::process::Output {
    run(Command::new("docker")
        .args(["run", "--rm", "-u", "0"])
        .args(extra)
        .args(["--entrypoint", "/bin/sh", image, "-c", script]))
}

#[test]
fn the_layered_venv_passes_uv_pip_check_and_runs_its_scripts() {
    let Some(_docker) = merge_op_session() else {
        return;
    };
    let image = "pybase-e2e/venv-layers-layered-venv:checked";
    let dir = built_layered_venv(image);
    let history = layers_with_history(image);
    assert!(
        venv_entries(&history, "layered").len() > 1,
        "not a layered venv: {history:#?}"
    );

    // `uv pip check`, by the host's uv, finds every distribution and no
    // problem.
    let mount = format!("{HOST_UV}:/pybase-host-uv:ro");
    let check = format!("/pybase-host-uv pip check --python {VENV}/bin/python");
    let checked = sh_in(image, &["-v", &mount], &check);
    let report = format!("{}{}", stdout(&checked), stderr(&checked));
    assert!(checked.status.success(), "uv pip check: {report}");
    let distributions = installed_distributions(image);
    assert!(
        report.contains(&format!("Checked {} packages", distributions.len()))
            && report.contains("All installed packages are compatible"),
        "uv pip check: {report} ({distributions:?})"
    );
    // The twin: it fails once a dependency (markdown-it-py's mdurl) is gone.
    let broken = sh_in(
        image,
        &["-v", &mount],
        &format!("rm -rf {VENV}/lib/python3*/site-packages/mdurl-*.dist-info && {check}"),
    );
    assert!(
        !broken.status.success()
            && format!("{}{}", stdout(&broken), stderr(&broken)).contains("mdurl"),
        "uv pip check passed without mdurl: {}{}",
        stdout(&broken),
        stderr(&broken)
    );

    // The service, its console scripts and a wheel's `.data/scripts`.
    let service = docker_run(image, None, &[]);
    let text = stdout(&service);
    assert!(
        service.status.success() && text.contains("layered-venv 0.1.0 ready"),
        "{text}{}",
        stderr(&service)
    );
    assert!(text.contains("markdown: <p><em>layered</em></p>"), "{text}");
    assert!(text.contains("jaraco: Lorem ipsum"), "{text}");
    assert!(text.contains("mdurl 0.1.1"), "{text}");
    for (script, args, expected) in [
        ("pygmentize", &["-V"][..], "Pygments version 2.21.0"),
        ("markdown-it", &["--help"][..], "usage: markdown-it"),
        ("rst2html.py", &["--version"][..], "Docutils 0.20.1"),
        ("typer", &["--help"][..], "Usage"),
    ] {
        let ran = docker_run(image, Some(&format!("{VENV}/bin/{script}")), args);
        let out = format!("{}{}", stdout(&ran), stderr(&ran));
        assert!(
            ran.status.success() && out.contains(expected),
            "{script} {args:?}: {out}"
        );
    }

    // jaraco/ is one native namespace package of four distributions.
    let jaraco = docker_run(
        image,
        Some("python"),
        &[
            "-c",
            "import jaraco, jaraco.functools, jaraco.context, jaraco.text, jaraco.classes.properties; \
             print(getattr(jaraco, '__file__', None), list(jaraco.__path__))",
        ],
    );
    let out = stdout(&jaraco);
    assert!(jaraco.status.success(), "{}", failure(&jaraco));
    assert!(
        out.starts_with("None ['/opt/venv/lib/python3.11/site-packages/jaraco']"),
        "{out}"
    );

    // setuptools' distutils-precedence.pth is there and ran at startup (it
    // puts setuptools' distutils shim on sys.meta_path); the twin: without
    // `site` (-S) no .pth runs and the shim is absent.
    let shim =
        "import sys; print(any(type(f).__name__ == 'DistutilsMetaFinder' for f in sys.meta_path))";
    let with_site = docker_run(image, Some("python"), &["-c", shim]);
    assert_eq!(stdout(&with_site), "True", "{}", failure(&with_site));
    let without_site = docker_run(image, Some("python"), &["-S", "-c", shim]);
    assert_eq!(stdout(&without_site), "False", "{}", failure(&without_site));
    let files = sh_in(
        image,
        &[],
        &format!(
            "ls {VENV}/lib/python3.11/site-packages/distutils-precedence.pth \
             {VENV}/share/jupyter/labextensions/jupyterlab_pygments/package.json"
        ),
    );
    assert!(files.status.success(), "{}", failure(&files));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_lock_bump_changes_only_the_bumped_packages_layer_and_the_glue() {
    let Some(_docker) = merge_op_session() else {
        return;
    };
    let first = "pybase-e2e/venv-layers-bump:first";
    let dir = built_layered_venv(first);
    let version = "from importlib.metadata import version; print(version('mdurl'))";
    assert_eq!(
        stdout(&docker_run(first, Some("python"), &["-c", version])),
        "0.1.1"
    );

    // mdurl 0.1.1 -> 0.1.2, with every venv step run again
    // (`--no-cache-filter venv`: the export, the fetches, and uv's install,
    // whose outputs are the layers), so that the layers that stay the same
    // are the same blobs made anew from the same files, not cache hits of
    // an earlier run of this test.
    std::fs::copy(repo_root().join(MDURL_BUMP), dir.join("uv.lock")).expect("copy the bump");
    let second = "pybase-e2e/venv-layers-bump:second";
    let (output, _) = build_with(
        &dir,
        Some("layered"),
        second,
        &["--no-cache-filter", "venv"],
    );
    let log = stderr(&output);
    assert!(output.status.success(), "{}", failure(&output));
    let install = log
        .lines()
        .find(|line| line.contains("[layered] venv: ") && line.ends_with(" layers"))
        .and_then(|line| line.split_whitespace().next())
        .unwrap_or_else(|| panic!("no venv step: {log}"));
    assert!(
        !log.lines().any(|line| line == format!("{install} CACHED")),
        "the venv step was a cache hit: {log}"
    );
    assert_eq!(
        stdout(&docker_run(second, Some("python"), &["-c", version])),
        "0.1.2"
    );

    let before = layers_with_history(first);
    let after = layers_with_history(second);
    let distributions = distribution_names(second);
    assert!(
        distributions.iter().any(|d| normalize_name(d) == "mdurl"),
        "{distributions:?}"
    );
    let venv = venv_entries(&after, "layered");
    assert!(venv.len() > 1, "not a layered venv: {after:#?}");
    // The glue: a venv layer whose history names no distribution.
    let glue: Vec<&str> = venv
        .iter()
        .copied()
        .filter(|created_by| !distributions.iter().any(|d| names(created_by, d)))
        .collect();
    assert!(
        glue.len() <= 1,
        "more than one venv layer names no distribution: {glue:#?}"
    );
    let layout =
        |h: &[(String, String)]| -> Vec<String> { h.iter().map(|(_, c)| c.clone()).collect() };
    assert_eq!(
        before.len(),
        after.len(),
        "the bump added or dropped layers: {:#?} -> {:#?}",
        layout(&before),
        layout(&after)
    );
    let mut mdurl_changed = false;
    let mut unexpected = Vec::new();
    for (index, ((was, _), (now, created_by))) in before.iter().zip(&after).enumerate() {
        if was == now {
            continue;
        }
        eprintln!("changed: layer {index} ({created_by})");
        if names(created_by, "mdurl") {
            mdurl_changed = true;
        } else if !glue.contains(&created_by.as_str()) {
            unexpected.push(format!("layer {index} ({created_by}): {was} -> {now}"));
        }
    }
    assert!(
        unexpected.is_empty(),
        "a bump of mdurl changed layers other than mdurl's and the glue:\n{}",
        unexpected.join("\n")
    );
    // The venvs differ in mdurl's files alone (the twin of the manifests'
    // equality in `the_layered_venv_equals_the_single_layer_one`).
    let differences = manifest_differences(
        ("mdurl 0.1.1", &venv_manifest(first)),
        ("mdurl 0.1.2", &venv_manifest(second)),
    );
    assert!(
        !differences.is_empty() && differences.iter().all(|d| d.contains("/mdurl")),
        "{differences:#?}"
    );
    // The twin: the bumped package's layer did change.
    assert!(
        mdurl_changed,
        "no layer naming mdurl changed: {:#?}",
        layout(&after)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
