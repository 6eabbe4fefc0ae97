//! `pybase check --platform/--python/--libc`: the checks that need the
//! target, run without BuildKit on what the user says of the image
//! (`requires-python`, and an artifact for every package every environment
//! needs), with the same messages as the build's.

use std::path::{Path, PathBuf};

use pybase::cli::{AssumedTarget, check_report, check_report_on};

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/projects/selected");

/// The `selected` fixture (PyYAML through its `yaml` extra) in a scratch
/// directory, its PyYAML locked without the sdist (wheels only, for
/// CPython 3.8 to 3.13 on many platforms), and `requires-python` as
/// `requires_python`.
fn wheels_only_project(test: &str, requires_python: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("check-target")
        .join(test);
    std::fs::create_dir_all(&dir).expect("scratch directory");
    let lock = std::fs::read_to_string(Path::new(FIXTURE).join("uv.lock")).expect("lock");
    let without_sdist: String = lock
        .lines()
        .filter(|line| !line.contains("/pyyaml-6.0.2.tar.gz"))
        .map(|line| format!("{line}\n"))
        .collect();
    assert_ne!(lock, without_sdist, "the fixture locks PyYAML's sdist");
    std::fs::write(dir.join("uv.lock"), without_sdist).expect("lock");
    let pyproject =
        std::fs::read_to_string(Path::new(FIXTURE).join("pyproject.toml")).expect("pyproject");
    let pyproject = pyproject.replace(
        "requires-python = \">=3.11\"",
        &format!("requires-python = \"{requires_python}\""),
    );
    std::fs::write(dir.join("pyproject.toml"), pyproject).expect("pyproject");
    let spec = dir.join("pybase.yaml");
    std::fs::copy(Path::new(FIXTURE).join("pybase.yaml"), &spec).expect("spec");
    spec
}

/// The report's errors, one a line, as `file:line:col: message`.
fn errors(spec: &Path, assumed: &AssumedTarget) -> Vec<String> {
    let report = check_report_on(spec, None, &Default::default(), assumed).expect("checked");
    report
        .errors
        .iter()
        .map(|e| {
            let at = e.position.map(|p| format!("{}:{}", p.line, p.column));
            format!("{}:{}: {}", e.file, at.unwrap_or_default(), e.message)
        })
        .collect()
}

fn assumed(platforms: &[&str], python: Option<&str>, libc: Option<&str>) -> AssumedTarget {
    let platforms: Vec<String> = platforms.iter().map(|p| (*p).to_owned()).collect();
    AssumedTarget::from_options(&platforms, python.map(str::to_owned), libc).expect("valid options")
}

#[test]
fn a_package_without_an_artifact_for_the_assumed_target_is_an_error_at_its_lock_line() {
    let spec = wheels_only_project("no-artifact", ">=3.11");
    // Without a target, nothing is assumed: the check passes as before.
    let plain = check_report(&spec, None, &Default::default()).expect("checked");
    assert!(plain.errors.is_empty(), "{}", plain.text);
    // The locked wheels fit CPython 3.11 on glibc amd64 and arm64.
    let fits = assumed(
        &["linux/amd64", "linux/arm64"],
        Some("3.11"),
        Some("glibc-2.36"),
    );
    assert_eq!(errors(&spec, &fits), Vec::<String>::new());
    // No wheel for CPython 3.14, for ppc64le, or for a glibc older than
    // manylinux2014's 2.17.
    let newer = errors(&spec, &assumed(&[], Some("3.14"), None));
    assert_eq!(newer.len(), 1, "{newer:?}");
    assert!(
        newer[0].starts_with("uv.lock:")
            && newer[0].contains("`pyyaml` 6.0.2 has no artifact for CPython 3.14 on linux/amd64"),
        "{newer:?}"
    );
    let ppc = errors(&spec, &assumed(&["linux/ppc64le"], Some("3.12"), None));
    assert!(
        ppc[0].contains("for CPython 3.12 on linux/ppc64le"),
        "{ppc:?}"
    );
    let old_glibc = errors(&spec, &assumed(&[], Some("3.12"), Some("glibc-2.12")));
    assert!(
        old_glibc[0].contains("for CPython 3.12 with glibc 2.12 on linux/amd64"),
        "{old_glibc:?}"
    );
    // musl: PyYAML has musllinux wheels, so it fits.
    assert_eq!(
        errors(&spec, &assumed(&[], Some("3.12"), Some("musl-1.2"))),
        Vec::<String>::new()
    );
}

#[test]
fn an_assumed_python_outside_requires_python_is_an_error_at_its_line() {
    let spec = wheels_only_project("requires-python", ">=3.12");
    let found = errors(&spec, &assumed(&[], Some("3.11"), None));
    assert_eq!(
        found,
        ["pyproject.toml:5:1: the project needs Python >=3.12, but `--python 3.11` was given"]
    );
    assert_eq!(
        errors(&spec, &assumed(&[], Some("3.12.8"), None)),
        Vec::<String>::new()
    );
}

#[test]
fn options_that_do_not_name_a_target_are_refused() {
    let refused = |platforms: &[&str], python: Option<&str>, libc: Option<&str>| {
        let platforms: Vec<String> = platforms.iter().map(|p| (*p).to_owned()).collect();
        AssumedTarget::from_options(&platforms, python.map(str::to_owned), libc)
            .expect_err("refused")
            .to_string()
    };
    assert!(refused(&[], None, Some("uclibc")).contains("expected glibc or musl"));
    assert!(refused(&[], None, Some("glibc-2")).contains("MAJOR.MINOR"));
    assert!(refused(&[], Some("three"), None).contains("invalid --python `three`"));
    assert!(refused(&["linux"], None, None).contains("os/arch"));
}

/// The `poetry-path` fixture (app, with path dependencies on lib and
/// lib's on core) in a scratch directory, without the files `left_out`.
fn poetry_path_project(test: &str, left_out: &[&str]) -> PathBuf {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/projects/poetry-path");
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("check-target")
        .join(test);
    let _ = std::fs::remove_dir_all(&dir);
    for file in [
        "pybase.yaml",
        "app/pyproject.toml",
        "app/poetry.lock",
        "lib/pyproject.toml",
        "core/pyproject.toml",
    ] {
        if left_out.contains(&file) {
            continue;
        }
        let to = dir.join(file);
        std::fs::create_dir_all(to.parent().expect("a directory")).expect("scratch directory");
        std::fs::copy(fixture.join(file), to).expect("copy");
    }
    dir.join("pybase.yaml")
}

#[test]
fn a_poetry_projects_path_dependencies_pass_on_a_target_and_one_the_context_lacks_does_not() {
    let target = assumed(&["linux/amd64", "linux/arm64"], Some("3.12"), None);
    // The path dependencies are code: no artifact is asked of them, and
    // their own dependencies' wheels fit.
    let spec = poetry_path_project("poetry-path", &[]);
    assert_eq!(errors(&spec, &target), Vec::<String>::new());
    let report = check_report(&spec, None, &Default::default()).expect("checked");
    assert!(
        report.text.ends_with(": ok (1 service)\n"),
        "{}",
        report.text
    );
    // Without lib's pyproject.toml, lib is no package: refused at its line.
    let spec = poetry_path_project("poetry-path-no-lib", &["lib/pyproject.toml"]);
    let found = errors(&spec, &target);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with("app/poetry.lock:58:1: `lib` is a path dependency at `../lib`"),
        "{found:?}"
    );
}
