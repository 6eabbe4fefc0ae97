//! The corpus of published projects, `testdata/real` (its README names
//! each project, its sdist's sha256, license and lock command): each test
//! fetches one project with `testdata/real/fetch.sh` (the sdist checked
//! against its pinned sha256, unpacked under the target directory, with
//! the spec and lock this repository keeps for it), copies it to a scratch
//! directory, builds it with the spec's `python:3.11-slim` mapped onto the
//! test image, and probes the image: a CLI prints its version, a web app
//! is asked for its page over loopback inside its own container. Then it
//! changes one code file (the one `projects.tsv` names), rebuilds, and
//! checks that the venv steps were cached, printing both build times.
//!
//! The MCP SDK's sdist is a uv workspace: its service is a member that
//! depends on another (the root package `mcp`), and its probe is an MCP
//! `initialize` request on the server's stdin, whose answer names the
//! version of the member `mcp` the image installed.
//!
//! Every shape of `testdata/real/README.md` is here, the application
//! without `pyproject.toml` (gunicorn's examples) and the `setup.py`-only
//! package (flake8) included: they need a frontend with applications and
//! setuptools' legacy fallback (main since eeaa243). rpds-py, a maturin
//! (PyO3) project, needs one whose code step gives cargo the CA bundle
//! (`code-install-cargo.sh`); its code change is to its Rust source,
//! compiled again (its dependencies too on a cold cache: minutes on
//! two cores).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::harness::{
    BASE_IMAGE, build_with, copy_dir, docker_run, e2e_session, failure, inspect,
    installed_distributions, layers, repo_root, run, stderr, stdout, unique,
};

/// The corpus's list: name, sdist URL, sha256, directory, code file.
fn projects_tsv() -> PathBuf {
    repo_root().join("testdata/real/projects.tsv")
}

/// The code file of `name` that the tests change, from `projects.tsv`.
fn code_file(name: &str) -> String {
    let list = std::fs::read_to_string(projects_tsv()).expect("testdata/real/projects.tsv");
    list.lines()
        .filter(|line| !line.starts_with('#'))
        .map(|line| line.split('\t').collect::<Vec<_>>())
        .find(|fields| fields[0] == name)
        .and_then(|fields| fields.get(4).map(|file| (*file).to_owned()))
        .unwrap_or_else(|| panic!("no code file for {name} in projects.tsv"))
}

/// `name` fetched by `fetch.sh` (its sdists kept in the target directory
/// between runs) and copied to a fresh scratch directory.
pub(crate) fn fetch(name: &str) -> PathBuf {
    let fetched = Path::new(env!("CARGO_TARGET_TMPDIR")).join("real");
    let output = run(Command::new(repo_root().join("testdata/real/fetch.sh"))
        .arg(&fetched)
        .arg(name));
    assert!(
        output.status.success(),
        "fetch.sh {name}: {}",
        failure(&output)
    );
    let dir = std::env::temp_dir().join(format!(
        "pybase-e2e-real-{name}-{}-{}",
        std::process::id(),
        unique()
    ));
    copy_dir(&fetched.join(name), &dir);
    dir
}

/// A project built once: its scratch copy, image and build time.
struct Built {
    name: &'static str,
    dir: PathBuf,
    image: String,
    seconds: f64,
}

/// `docker buildx build` of target `name` in `dir`, the spec's
/// `python:3.11-slim` mapped onto the test image.
fn build(dir: &Path, name: &str, tag: &str) -> (std::process::Output, f64) {
    build_with(
        dir,
        Some(name),
        tag,
        &[
            "--build-context",
            &format!("python:3.11-slim=docker-image://{BASE_IMAGE}"),
        ],
    )
}

/// Fetches and builds `name`; panics with the build's report when it fails.
fn built(name: &'static str) -> Built {
    let dir = fetch(name);
    let image = format!("pybase-e2e/real-{name}:{}", unique());
    let (output, seconds) = build(&dir, name, &image);
    assert!(
        output.status.success(),
        "build of {name} failed:\n{}",
        failure(&output)
    );
    Built {
        name,
        dir,
        image,
        seconds,
    }
}

/// The steps of target `name` in a plain progress `log` whose title starts
/// with `prefix` (`venv`, `code: install`), each with whether it was CACHED.
fn steps(log: &str, name: &str, prefix: &str) -> Vec<(String, bool)> {
    let title = format!("[{name}] {prefix}");
    let mut found: Vec<(&str, &str, bool)> = Vec::new();
    for line in log.lines() {
        let Some((step, rest)) = line.split_once(' ') else {
            continue;
        };
        if rest.starts_with(&title) && !found.iter().any(|(s, _, _)| *s == step) {
            let cached = log.lines().any(|l| l == format!("{step} CACHED"));
            found.push((step, rest, cached));
        }
    }
    found
        .into_iter()
        .map(|(step, rest, cached)| (format!("{step} {rest}"), cached))
        .collect()
}

/// Appends a comment line no earlier build saw to the project's code file
/// (`//` in a Rust file, else `#`), rebuilds,
/// and checks that every venv step was cached (or, for uv.lock's export,
/// canceled unfinished) and that the code step ran again.
/// Returns the rebuild's image.
fn rebuild_after_a_code_change(project: &Built, code_step: &str) -> String {
    let file = project.dir.join(code_file(project.name));
    let mut text =
        std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("read {}: {e}", file.display()));
    let comment = if file.extension().is_some_and(|e| e == "rs") {
        "//"
    } else {
        "#"
    };
    text.push_str(&format!("\n{comment} e2e run {}\n", unique()));
    std::fs::write(&file, text).expect("write the code file");
    let image = format!("{}-edited", project.image);
    let (output, seconds) = build(&project.dir, project.name, &image);
    assert!(
        output.status.success(),
        "rebuild of {} failed:\n{}",
        project.name,
        failure(&output)
    );
    let log = stderr(&output);
    let venv = steps(&log, project.name, "venv");
    assert!(
        venv.iter().any(|(step, _)| step.contains(" package")),
        "{}: no venv install step in {log}",
        project.name
    );
    for (step, cached) in &venv {
        // BuildKit may start uv.lock's export step and cancel it once the
        // install it feeds is found in the cache: not a rerun.
        let canceled = log
            .lines()
            .any(|l| l == format!("{} CANCELED", step.split(' ').next().unwrap_or_default()));
        assert!(
            *cached || (canceled && !step.contains(" package")),
            "{}: a code change reran `{step}`",
            project.name
        );
    }
    let code = steps(&log, project.name, code_step);
    assert!(
        code.iter().any(|(_, cached)| !cached),
        "{}: the code step `{code_step}` did not run again: {code:?}",
        project.name
    );
    assert_eq!(
        layers(&project.image).len(),
        layers(&image).len(),
        "{}: a code change added or dropped layers",
        project.name
    );
    eprintln!(
        "real::{}: cold build {:.1} s, code-change rebuild {seconds:.1} s, image {} bytes",
        project.name,
        project.seconds,
        inspect(&project.image, "{{.Size}}")
    );
    image
}

/// Runs the image's command and returns its standard output.
fn runs(image: &str) -> String {
    let output = docker_run(image, None, &[]);
    assert!(output.status.success(), "{image}: {}", failure(&output));
    stdout(&output)
}

/// Starts `image`, asks it for `http://127.0.0.1:PORT/` from inside its
/// own container until it answers (30 s at most), removes it, and returns
/// the page.
pub(crate) fn page(image: &str, port: u16) -> String {
    page_of(image, port, &[])
}

/// [`page`] of `image` started with `command` in place of its own (none:
/// its own).
pub(crate) fn page_of(image: &str, port: u16, command: &[&str]) -> String {
    let started = run(Command::new("docker")
        .args(["run", "-d", image])
        .args(command));
    assert!(started.status.success(), "{image}: {}", failure(&started));
    let container = stdout(&started);
    let fetch = format!(
        "import sys, urllib.request; sys.stdout.write(urllib.request.urlopen('http://127.0.0.1:{port}/', timeout=5).read().decode())"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let answer = loop {
        let output = run(Command::new("docker").args(["exec", &container, "python", "-c", &fetch]));
        if output.status.success() || Instant::now() > deadline {
            break output;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    let logs = run(Command::new("docker").args(["logs", &container]));
    let _ = run(Command::new("docker").args(["rm", "-f", &container]));
    assert!(
        answer.status.success(),
        "{image} did not serve port {port}: {}\ncontainer log:\n{}{}",
        failure(&answer),
        stdout(&logs),
        stderr(&logs)
    );
    stdout(&answer)
}

/// Runs the image's command, an MCP server on stdio, with one JSON-RPC
/// `initialize` request on its standard input, which then closes, and
/// returns what it answered on its standard output.
pub(crate) fn mcp_initialize(image: &str) -> String {
    use std::io::Write;
    use std::process::Stdio;
    let request = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"pybase-e2e","version":"1"}}}"#;
    let mut child = Command::new("docker")
        .args(["run", "--rm", "-i", image])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("docker run");
    {
        let mut stdin = child.stdin.take().expect("the server's stdin");
        writeln!(stdin, "{request}").expect("write the request");
    }
    let output = child.wait_with_output().expect("docker run");
    assert!(output.status.success(), "{image}: {}", failure(&output));
    stdout(&output)
}

const INSTALL: &str = "code: install the project";

#[test]
fn pipx_a_hatchling_src_layout_cli_with_uv_lock_prints_its_version() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    let pipx = built("pipx");
    assert_eq!(runs(&pipx.image), "1.18.4");
    let edited = rebuild_after_a_code_change(&pipx, INSTALL);
    assert_eq!(runs(&edited), "1.18.4");
}

#[test]
fn wheel_a_flit_core_cli_with_uv_lock_prints_its_version() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    let wheel = built("wheel");
    assert_eq!(runs(&wheel.image), "wheel 0.48.0");
    let edited = rebuild_after_a_code_change(&wheel, INSTALL);
    assert_eq!(runs(&edited), "wheel 0.48.0");
}

#[test]
fn dunamai_a_poetry_application_with_poetry_lock_runs_its_cli() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    let dunamai = built("dunamai");
    // `dunamai check 1.26.5` validates the version and prints nothing.
    assert_eq!(runs(&dunamai.image), "");
    let version = docker_run(
        &dunamai.image,
        Some("python"),
        &[
            "-c",
            "import importlib.metadata as m; print(m.version('dunamai'), m.version('packaging'))",
        ],
    );
    assert_eq!(stdout(&version), "1.26.5 26.4", "{}", failure(&version));
    let edited = rebuild_after_a_code_change(&dunamai, INSTALL);
    assert_eq!(runs(&edited), "");
}

#[test]
fn findpython_a_pdm_backend_cli_with_pdm_lock_prints_its_version() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    let findpython = built("findpython");
    assert_eq!(runs(&findpython.image), "findpython 0.9.0");
    let edited = rebuild_after_a_code_change(&findpython, INSTALL);
    assert_eq!(runs(&edited), "findpython 0.9.0");
}

#[test]
fn python_dotenv_a_setuptools_cli_with_a_pip_compile_lock_prints_its_version() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    let dotenv = built("python-dotenv");
    assert_eq!(runs(&dotenv.image), "dotenv, version 1.2.4");
    let edited = rebuild_after_a_code_change(&dotenv, INSTALL);
    assert_eq!(runs(&edited), "dotenv, version 1.2.4");
}

#[test]
fn gunicorn_example_an_application_without_pyproject_serves_its_page() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    let app = built("gunicorn-example");
    assert_eq!(page(&app.image, 8000), "Hello, World!");
    let edited = rebuild_after_a_code_change(&app, "code");
    assert_eq!(page(&edited, 8000), "Hello, World!");
}

#[test]
fn flask_js_example_a_wsgi_app_serves_its_page() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    let app = built("flask-js-example");
    let index = page(&app.image, 5000);
    assert!(
        index.contains("<title>JavaScript Example</title>"),
        "{index}"
    );
    let edited = rebuild_after_a_code_change(&app, INSTALL);
    assert!(page(&edited, 5000).contains("<title>JavaScript Example</title>"));
}

#[test]
fn flake8_a_setup_py_only_package_prints_its_version() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    let flake8 = built("flake8");
    let version = runs(&flake8.image);
    assert!(
        version.starts_with("7.5.0 (mccabe: 0.7.0, pycodestyle: 2.15.0, pyflakes: 4.1.0)"),
        "{version}"
    );
    rebuild_after_a_code_change(&flake8, INSTALL);
}

#[test]
fn mcp_simple_tool_a_uv_workspace_member_answers_an_mcp_initialize() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    let server = built("mcp-simple-tool");
    // The server's name is the member's, its version the member mcp's.
    let answer = r#""serverInfo":{"name":"mcp-website-fetcher","version":"1.30.0"}"#;
    let reply = mcp_initialize(&server.image);
    assert!(reply.contains(answer), "{reply}");
    // The venv has the locked runtime set of mcp-simple-tool and of mcp:
    // pydantic and its pydantic-core through the lock's fork by Python
    // version; never another member, nor the other fork's pydantic.
    let installed = installed_distributions(&server.image);
    for wanted in [
        "mcp-1.30.0.dist-info",
        "mcp_simple_tool-0.1.0.dist-info",
        "pydantic-2.11.7.dist-info",
        "pydantic_core-2.33.2.dist-info",
        "annotated_types-0.7.0.dist-info",
    ] {
        assert!(
            installed.iter().any(|d| d == wanted),
            "{wanted} is not installed: {installed:?}"
        );
    }
    for unwanted in ["mcp_simple_prompt-", "pydantic-2.13"] {
        assert!(
            !installed.iter().any(|d| d.starts_with(unwanted)),
            "{unwanted} is installed: {installed:?}"
        );
    }
    let edited = rebuild_after_a_code_change(&server, INSTALL);
    assert!(mcp_initialize(&edited).contains(answer));
}

#[test]
fn rpds_py_a_maturin_pyo3_extension_compiled_in_the_builder_runs() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    let rpds = built("rpds-py");
    let expected = "2026.9.1 HashTrieMap({'a': 1})";
    assert_eq!(runs(&rpds.image), expected);
    // The extension module is the one compiled here, for the image's
    // CPython; the toolchain stayed in the builder.
    let files = docker_run(
        &rpds.image,
        Some("sh"),
        &[
            "-c",
            "ls /opt/venv/lib/python3.11/site-packages/rpds/; command -v cargo rustc || true",
        ],
    );
    let listed = stdout(&files);
    assert!(
        listed.contains("rpds.cpython-311-x86_64-linux-gnu.so"),
        "{listed}"
    );
    assert!(
        !listed.contains("/cargo") && !listed.contains("/rustc"),
        "{listed}"
    );
    let edited = rebuild_after_a_code_change(&rpds, INSTALL);
    assert_eq!(runs(&edited), expected);
}
