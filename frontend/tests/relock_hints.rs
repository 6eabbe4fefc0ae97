//! Every command a hint prints to write a lock anew (`uv lock`, `uv export`,
//! `uv pip compile`, `pip-compile`, `poetry lock`, `pdm lock`, `pipenv
//! lock`) writes one that `pybase check` then accepts.
//!
//! Each case breaks a fixture project the way a user would (no `uv.lock`
//! and a lock pybase refuses, or none at all), reads the hints of
//! `pybase check` ([`check_report`]), and runs every command they print,
//! between backticks, in the broken project, as a user would. Then it
//! removes the `uv.lock` that `uv export` writes on its way (pybase would
//! read it first), so that the lock checked is the one the command wrote.
//!
//! The tools are the pinned ones that `xtask/provision.sh lock-tools`
//! installs in `/opt/pybase-tools/bin` (`$PYBASE_TOOLS` elsewhere); they
//! reach PyPI. Without them the cases skip, unless `CI=true` or
//! `PYBASE_E2E=1` (`cargo xtask test`) says they must run: then a missing
//! tool fails the test.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use pybase::cli::check_report;

#[path = "support/fixtures.rs"]
mod fixtures;
use fixtures::{copy_dir, tools_dir};

const PROJECTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/projects");

/// Whether the cases must run (a missing tool fails them).
fn required() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
        || std::env::var("PYBASE_E2E").is_ok_and(|v| v == "1")
}

/// Whether every tool is there; panics when one is missing and they must be.
fn tools_present(tools: &[&str]) -> bool {
    let missing: Vec<&str> = tools
        .iter()
        .copied()
        .filter(|tool| !tools_dir().join(tool).is_file())
        .collect();
    if missing.is_empty() {
        return true;
    }
    assert!(
        !required(),
        "{missing:?} not in {}: run `cargo xtask up` (xtask/provision.sh lock-tools)",
        tools_dir().display()
    );
    eprintln!(
        "skipping: {missing:?} not in {} (run `cargo xtask up`)",
        tools_dir().display()
    );
    false
}

/// A fresh copy of the fixture project `name`.
fn copy_fixture(name: &str, case: &str) -> PathBuf {
    let target = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("relock-hints")
        .join(case);
    let _ = std::fs::remove_dir_all(&target);
    copy_dir(&Path::new(PROJECTS).join(name), &target);
    target
}

/// `pybase check` of the project `dir`: its errors, rendered.
fn check(dir: &Path) -> Vec<String> {
    let report = check_report(
        &dir.join("pybase.yaml"),
        Some(dir),
        &llb_gen::spec::BuildArgs::default(),
    )
    .expect("no I/O error");
    report.errors.iter().map(ToString::to_string).collect()
}

/// The commands between backticks in the errors' hints that run one of
/// `tools`, each once, in order.
fn hinted_commands(errors: &[String], tools: &[&str]) -> Vec<String> {
    let mut commands = Vec::new();
    for error in errors {
        let Some((_, hint)) = error.split_once("(hint: ") else {
            continue;
        };
        for (n, span) in hint.split('`').enumerate() {
            let runs_a_tool = span
                .split_whitespace()
                .next()
                .is_some_and(|first| tools.contains(&first));
            if n % 2 == 1 && runs_a_tool && !commands.iter().any(|c| c == span) {
                commands.push(span.to_owned());
            }
        }
    }
    commands
}

/// Runs `command` in `dir` as a shell would (words split at spaces, one
/// `> FILE` redirection), with the tools first on PATH.
fn run(dir: &Path, command: &str) {
    let words: Vec<&str> = command.split_whitespace().collect();
    let (words, stdout) = match words.iter().position(|w| *w == ">") {
        Some(at) => (&words[..at], words.get(at + 1)),
        None => (&words[..], None),
    };
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut paths = vec![tools_dir()];
    paths.extend(std::env::split_paths(&path));
    let mut process = Command::new(tools_dir().join(words[0]));
    process
        .args(&words[1..])
        .current_dir(dir)
        .env("PATH", std::env::join_paths(paths).expect("PATH"))
        // Poetry would ask a desktop keyring for credentials.
        .env("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
        // Pipenv makes its virtualenv in the project, not in the home directory.
        .env("PIPENV_VENV_IN_PROJECT", "1")
        .stdin(Stdio::null());
    if let Some(file) = stdout {
        process.stdout(std::fs::File::create(dir.join(file)).expect("create the output"));
    }
    let output = process.output().expect("run the hinted command");
    assert!(
        output.status.success(),
        "`{command}` in {} failed: {}",
        dir.display(),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Drops the spec's `extras:` and `groups:` lines, as the hint to export
/// the lock with them says.
fn drop_selection(dir: &Path) {
    let spec = dir.join("pybase.yaml");
    let text = std::fs::read_to_string(&spec).expect("spec");
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| !matches!(l.trim_start().split(':').next(), Some("extras" | "groups")))
        .collect();
    std::fs::write(&spec, kept.join("\n") + "\n").expect("write spec");
}

/// One case: the fixture, how it is broken (after its `uv.lock` is
/// removed), the tools whose hinted commands run, how many there are, and
/// whether the spec's selection is dropped before (`DropBefore`) or after
/// (`DropAfter`) the commands.
struct Case {
    name: &'static str,
    fixture: &'static str,
    broken: fn(&Path),
    tools: &'static [&'static str],
    commands: usize,
    selection: Selection,
}

#[derive(Clone, Copy, PartialEq)]
enum Selection {
    Keep,
    DropBefore,
    DropAfter,
}

/// Writes `text` as the project's file `file`.
fn write(dir: &Path, file: &str, text: &str) {
    std::fs::write(dir.join(file), text).expect("write the broken file");
}

fn run_case(case: &Case) {
    if !tools_present(case.tools) {
        return;
    }
    let dir = copy_fixture(case.fixture, case.name);
    // (An application's fixture has none.)
    if case.fixture != APPLICATION {
        std::fs::remove_file(dir.join("uv.lock")).expect("the fixture's uv.lock");
    }
    if case.selection == Selection::DropBefore {
        drop_selection(&dir);
    }
    (case.broken)(&dir);
    let errors = check(&dir);
    assert!(
        !errors.is_empty(),
        "{}: the broken project is refused",
        case.name
    );
    let commands = hinted_commands(&errors, case.tools);
    assert_eq!(
        commands.len(),
        case.commands,
        "{}: hinted commands {commands:?} in {errors:#?}",
        case.name
    );
    for command in &commands {
        let started = std::time::Instant::now();
        run(&dir, command);
        if command != llb_gen::project::UV_RELOCK {
            // `uv export` locks first, without a uv.lock: pybase would read
            // that one rather than the exported lock.
            let _ = std::fs::remove_file(dir.join("uv.lock"));
        }
        if case.selection == Selection::DropAfter {
            drop_selection(&dir);
        }
        let errors = check(&dir);
        assert!(
            errors.is_empty(),
            "{}: pybase refuses what `{command}` wrote:\n{}",
            case.name,
            errors.join("\n")
        );
        eprintln!("{}: `{command}` ({:?})", case.name, started.elapsed());
    }
}

/// The application fixture: code, `requirements.in` and a hashed
/// `requirements.txt`, no `pyproject.toml`.
const APPLICATION: &str = "plain-app";

/// An unhashed requirements lock (the hints: `uv export`, `pip-compile`;
/// for an application, `uv pip compile` of its `requirements.in`).
fn unhashed(dir: &Path) {
    write(dir, "requirements.txt", "six==1.17.0\n");
}

/// A pylock.toml whose package has no version (the hint: `uv export`, or
/// for an application `uv pip compile`).
fn unversioned_pylock(dir: &Path) {
    let lock = "lock-version = \"1.0\"\ncreated-by = \"hand\"\n[[packages]]\nname = \"six\"\n";
    write(dir, "pylock.toml", lock);
}

#[test]
fn uv_export_and_uv_lock_write_accepted_locks() {
    for case in [
        Case {
            name: "inventory-requirements",
            fixture: "inventory",
            broken: |dir| write(dir, "requirements.txt", "psycopg2==2.9.10\nsix==1.17.0\n"),
            tools: &["uv"],
            commands: 1,
            selection: Selection::Keep,
        },
        Case {
            name: "inventory-pylock",
            fixture: "inventory",
            broken: unversioned_pylock,
            tools: &["uv"],
            commands: 1,
            selection: Selection::Keep,
        },
        // The spec selects an extra and a group: one hint exports them.
        Case {
            name: "selected-export-with-selection",
            fixture: "selected",
            broken: unhashed,
            tools: &["uv"],
            commands: 2,
            selection: Selection::DropAfter,
        },
        // An application's requirements.txt, from its requirements.in.
        Case {
            name: "application-requirements",
            fixture: APPLICATION,
            broken: unhashed,
            tools: &["uv"],
            commands: 1,
            selection: Selection::Keep,
        },
        // An application's pylock.toml, from its requirements.in.
        Case {
            name: "application-pylock",
            fixture: APPLICATION,
            broken: unversioned_pylock,
            tools: &["uv"],
            commands: 1,
            selection: Selection::Keep,
        },
        Case {
            name: "selected-uv-lock",
            fixture: "selected",
            broken: |_| {},
            tools: &["uv"],
            commands: 1,
            selection: Selection::Keep,
        },
    ] {
        run_case(&case);
    }
}

// The `selected` project, not `inventory`: pip-compile builds psycopg2's
// sdist for its metadata, which needs pg_config.
#[test]
fn pip_compile_writes_an_accepted_lock() {
    run_case(&Case {
        name: "selected-pip-compile",
        fixture: "selected",
        broken: unhashed,
        tools: &["pip-compile"],
        commands: 1,
        selection: Selection::DropBefore,
    });
}

/// The `selected` project as Poetry 2 locks it.
const SELECTED_POETRY_LOCK: &str = include_str!("../../testdata/locks/selected-poetry.lock");

#[test]
fn poetry_lock_writes_an_accepted_lock() {
    for case in [
        // A lock pybase refuses: six without its files' hashes.
        Case {
            name: "selected-poetry-unhashed",
            fixture: "selected",
            broken: |dir| {
                let lock = SELECTED_POETRY_LOCK
                    .lines()
                    .filter(|l| !l.contains("{file = \"six-1.17.0"))
                    .collect::<Vec<_>>()
                    .join("\n");
                write(dir, "poetry.lock", &lock);
            },
            tools: &["poetry"],
            commands: 1,
            selection: Selection::Keep,
        },
        // A lock that pyproject.toml's new dependency left behind (the
        // committed lock names an index source this pyproject.toml lacks).
        Case {
            name: "selected-poetry-stale",
            fixture: "selected",
            broken: |dir| {
                run(dir, llb_gen::poetry::POETRY_RELOCK);
                let pyproject = std::fs::read_to_string(dir.join("pyproject.toml"))
                    .expect("pyproject.toml")
                    .replace("[\"six==1.17.0\"]", "[\"six==1.17.0\", \"idna==3.10\"]");
                write(dir, "pyproject.toml", &pyproject);
            },
            tools: &["poetry"],
            commands: 1,
            selection: Selection::Keep,
        },
    ] {
        run_case(&case);
    }
}

const INVENTORY_PDM_LOCK: &str = include_str!("../../testdata/locks/inventory-pdm.lock");

#[test]
fn pdm_lock_writes_an_accepted_lock() {
    for case in [
        // A lock pybase refuses: six without its files' hashes.
        Case {
            name: "inventory-pdm-unhashed",
            fixture: "inventory",
            broken: |dir| {
                let lock = INVENTORY_PDM_LOCK
                    .lines()
                    .filter(|l| !l.contains("{file = \"six-1.17.0"))
                    .collect::<Vec<_>>()
                    .join("\n");
                write(dir, "pdm.lock", &lock);
            },
            tools: &["pdm"],
            commands: 1,
            selection: Selection::Keep,
        },
        // A lock that pyproject.toml's new dependency left behind.
        Case {
            name: "inventory-pdm-stale",
            fixture: "inventory",
            broken: |dir| {
                write(dir, "pdm.lock", INVENTORY_PDM_LOCK);
                let pyproject = std::fs::read_to_string(dir.join("pyproject.toml"))
                    .expect("pyproject.toml")
                    .replace("\"six==1.17.0\",", "\"six==1.17.0\",\n    \"idna==3.10\",");
                write(dir, "pyproject.toml", &pyproject);
            },
            tools: &["pdm"],
            commands: 1,
            selection: Selection::Keep,
        },
    ] {
        run_case(&case);
    }
}

const INVENTORY_PIPFILE_LOCK: &str = include_str!("../../testdata/locks/inventory-Pipfile.lock");
const INVENTORY_PIPFILE: &str = include_str!("../../testdata/locks/inventory-Pipfile");

#[test]
fn pipenv_lock_writes_an_accepted_lock() {
    for case in [
        // A lock pybase refuses: six without its hashes.
        Case {
            name: "inventory-pipenv-unhashed",
            fixture: "inventory",
            broken: |dir| {
                write(dir, "Pipfile", INVENTORY_PIPFILE);
                let lock = INVENTORY_PIPFILE_LOCK.replace(
                    "\"sha256:4721f391ed90541fddacab5acf947aa0d3dc7d27b2e1e8eda2be8970586c3274\",\n                \"sha256:ff70335d468e7eb6ec65b95b99d3a2836546063f63acc5171de367e834932a81\"",
                    "",
                );
                assert_ne!(lock, INVENTORY_PIPFILE_LOCK, "six's hashes removed");
                write(dir, "Pipfile.lock", &lock);
            },
            tools: &["pipenv"],
            commands: 1,
            selection: Selection::Keep,
        },
        // A lock that the Pipfile's new package left behind.
        Case {
            name: "inventory-pipenv-stale",
            fixture: "inventory",
            broken: |dir| {
                write(dir, "Pipfile.lock", INVENTORY_PIPFILE_LOCK);
                let pipfile = INVENTORY_PIPFILE.replace(
                    "six = \"==1.17.0\"",
                    "six = \"==1.17.0\"\nidna = \"==3.10\"",
                );
                write(dir, "Pipfile", &pipfile);
            },
            tools: &["pipenv"],
            commands: 1,
            selection: Selection::Keep,
        },
    ] {
        run_case(&case);
    }
}
