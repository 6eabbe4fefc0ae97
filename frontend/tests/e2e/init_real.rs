//! `pybase init` on the corpus of published projects (`testdata/real`):
//! each project is fetched as the [`real`](crate::real) tests fetch it, the
//! spec this repository keeps for it is removed, and the CLI's `pybase
//! init` writes one in its place (for the MCP SDK's member
//! `examples/servers/simple-tool`, at the workspace root, the build
//! context). Only the spec's first line, the `# syntax=` line, is rewritten
//! to the frontend image under test; the `from:` image init chose (the
//! newest stable Python the project allows, 3.15 for all of them) is mapped
//! onto the test image, `pybase-test/python:3.11` (CPython 3.11, which each
//! project's `requires-python` allows too). One build a project, then the
//! probe of its `real::` test: a CLI prints its version, a web app serves
//! its page, the MCP server answers `initialize`.
//!
//! Not here: rpds-py (init writes `build:
//! [cargo]` for its maturin backend, right for Debian 13's python:3.15-slim;
//! Debian 12's cargo, the test image's, is Rust 1.63, too old for its
//! lock: its kept spec names `cargo-web`). testdata/real/README.md has the
//! table of what init wrote for each.

use std::path::PathBuf;
use std::process::Command;

use crate::harness::{
    BASE_IMAGE, build_with, docker_run, e2e_session, failure, run, stdout, unique,
};
use crate::real::{fetch, mcp_initialize, page, page_of};

/// The frontend image under test, for the spec's `# syntax=` line.
const FRONTEND: &str = "localhost:5000/pybase-frontend:dev";

/// A spec `pybase init` wrote: where, its service and its `from:` image.
struct Initialized {
    /// The build context (the project's directory, or the workspace root).
    context: PathBuf,
    service: String,
    from: String,
    text: String,
}

/// Fetches `name`, removes its kept spec, runs `pybase init` in
/// `name/member` and rewrites the `# syntax=` line of what it wrote.
fn initialized(name: &str, member: &str) -> Initialized {
    let context = fetch(name);
    std::fs::remove_file(context.join("pybase.yaml")).expect("remove the kept spec");
    let project = context.join(member);
    let output = run(Command::new(env!("CARGO_BIN_EXE_pybase"))
        .arg("init")
        .arg(&project));
    assert!(
        output.status.success(),
        "pybase init {name}: {}",
        failure(&output)
    );
    let spec = context.join("pybase.yaml");
    let written = std::fs::read_to_string(&spec)
        .unwrap_or_else(|e| panic!("{name}: init wrote no {}: {e}", spec.display()));
    let (first, rest) = written.split_once('\n').expect("a spec of several lines");
    assert!(first.starts_with("# syntax="), "{name}: {first}");
    let text = format!("# syntax={FRONTEND}\n{rest}");
    std::fs::write(&spec, &text).expect("rewrite the syntax line");
    let service = text
        .lines()
        .skip_while(|line| *line != "services:")
        .nth(1)
        .and_then(|line| line.trim().strip_suffix(':'))
        .unwrap_or_else(|| panic!("{name}: no service in {text}"))
        .to_owned();
    let from = text
        .lines()
        .find_map(|line| line.trim().strip_prefix("from: "))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("{name}: no `from:` in {text}"))
        .to_owned();
    eprintln!("init_real::{name}: pybase init wrote\n{text}");
    Initialized {
        context,
        service,
        from,
        text,
    }
}

/// Builds the spec init wrote, its `from:` image mapped onto the test
/// image; panics with the build's report when it fails. Returns the image.
fn built(name: &str, spec: &Initialized) -> String {
    let image = format!("pybase-e2e/init-real-{name}:{}", unique());
    let (output, seconds) = build_with(
        &spec.context,
        Some(&spec.service),
        &image,
        &[
            "--build-context",
            &format!("{}=docker-image://{BASE_IMAGE}", spec.from),
        ],
    );
    assert!(
        output.status.success(),
        "build of {name} from init's spec failed:\n{}",
        failure(&output)
    );
    eprintln!("init_real::{name}: built in {seconds:.1} s");
    image
}

/// Runs `program args` in `image` and returns its standard output.
fn prints(image: &str, program: &str, args: &[&str]) -> String {
    let output = docker_run(image, Some(program), args);
    assert!(output.status.success(), "{image}: {}", failure(&output));
    stdout(&output)
}

/// Init's spec for a CLI: its command is `command`, and the image prints
/// `expected` for `program args`.
fn cli(name: &str, command: &str, program: &str, args: &[&str], expected: &str) -> Initialized {
    let spec = initialized(name, ".");
    assert!(spec.text.contains(command), "{name}: {}", spec.text);
    let image = built(name, &spec);
    assert_eq!(prints(&image, program, args), expected, "{name}");
    spec
}

#[test]
fn pipx_init_writes_its_script_and_its_sdist_version() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    let spec = cli(
        "pipx",
        "    command: [pipx]",
        "pipx",
        &["--version"],
        "1.18.4",
    );
    assert!(
        spec.text.contains("    version: \"1.18.4\""),
        "{}",
        spec.text
    );
}

#[test]
fn wheel_init_writes_its_script() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    cli(
        "wheel",
        "    command: [wheel]",
        "wheel",
        &["version"],
        "wheel 0.48.0",
    );
}

#[test]
fn dunamai_init_reads_tool_poetry() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    // `dunamai check 1.26.5` validates the version and prints nothing.
    cli(
        "dunamai",
        "    command: [dunamai]",
        "dunamai",
        &["check", "1.26.5"],
        "",
    );
}

#[test]
fn findpython_init_writes_its_script() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    cli(
        "findpython",
        "    command: [findpython]",
        "findpython",
        &["--version"],
        "findpython 0.9.0",
    );
}

#[test]
fn python_dotenv_init_writes_its_script() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    cli(
        "python-dotenv",
        "    command: [dotenv]",
        "dotenv",
        &["--version"],
        "dotenv, version 1.2.4",
    );
}

#[test]
fn flake8_init_reads_setup_cfg() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    let spec = initialized("flake8", ".");
    assert!(
        spec.text
            .contains("    command: [flake8]    # the first of setup.cfg's console_scripts"),
        "{}",
        spec.text
    );
    let image = built("flake8", &spec);
    let version = prints(&image, "flake8", &["--version"]);
    assert!(
        version.starts_with("7.5.0 (mccabe: 0.7.0, pycodestyle: 2.15.0, pyflakes: 4.1.0)"),
        "{version}"
    );
}

#[test]
fn gunicorn_example_init_names_every_app_and_the_image_serves_the_chosen_one() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    let spec = initialized("gunicorn-example", ".");
    // Twelve modules of the examples define `app`: init leaves the choice.
    assert!(
        spec.text.contains("# several modules define `app` (bad, "),
        "{}",
        spec.text
    );
    assert!(!spec.text.contains("\n    command:"), "{}", spec.text);
    let image = built("gunicorn-example", &spec);
    let served = page_of(
        &image,
        8000,
        &["gunicorn", "--bind", "0.0.0.0:8000", "test:app"],
    );
    assert_eq!(served, "Hello, World!");
}

#[test]
fn flask_js_example_init_serves_its_flask_app() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    let spec = initialized("flask-js-example", ".");
    assert!(
        spec.text.contains(
            "    command: [flask, --app, js_example, run, --host, 0.0.0.0, --port, \"5000\"]"
        ),
        "{}",
        spec.text
    );
    let image = built("flask-js-example", &spec);
    let index = page(&image, 5000);
    assert!(
        index.contains("<title>JavaScript Example</title>"),
        "{index}"
    );
}

#[test]
fn mcp_simple_tool_init_in_the_member_writes_the_spec_at_the_workspace_root() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    let spec = initialized("mcp-simple-tool", "examples/servers/simple-tool");
    assert!(
        spec.text
            .contains("    project: examples/servers/simple-tool\n")
            && spec.text.contains("    command: [mcp-simple-tool]"),
        "{}",
        spec.text
    );
    let image = built("mcp-simple-tool", &spec);
    let reply = mcp_initialize(&image);
    assert!(
        reply.contains(r#""serverInfo":{"name":"mcp-website-fetcher","version":"1.30.0"}"#),
        "{reply}"
    );
}
