//! `pybase init` on copies of the fixture projects: the spec it writes
//! passes `pybase check` (for a package, and for an application: code and a
//! requirements.txt), an existing spec is kept unless forced, and a project
//! it cannot start from is refused with the file named.

use std::path::{Path, PathBuf};

use llb_gen::init::DEFAULT_FRONTEND_IMAGE;
use pybase::cli::{InitRequest, check_report, write_starter_spec};

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../testdata/projects/inventory"
);

/// A fresh scratch directory for one test.
fn scratch(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("init")
        .join(test);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).expect("clean scratch directory");
    }
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

/// A copy of the fixture project without its spec.
fn copy_of_inventory(test: &str) -> PathBuf {
    let dir = scratch(test);
    for file in [
        "pyproject.toml",
        "uv.lock",
        "src/inventory/__init__.py",
        "src/inventory/cli.py",
    ] {
        let to = dir.join(file);
        std::fs::create_dir_all(to.parent().expect("a parent")).expect("directory");
        std::fs::copy(Path::new(FIXTURE).join(file), to).expect("copy");
    }
    dir
}

fn request(dir: &Path, force: bool) -> InitRequest<'_> {
    InitRequest {
        dir,
        frontend: DEFAULT_FRONTEND_IMAGE,
        force,
    }
}

#[test]
fn the_spec_init_writes_for_the_fixture_passes_check() {
    let dir = copy_of_inventory("passes_check");
    let (path, starter) = write_starter_spec(&request(&dir, false)).expect("written");
    assert_eq!(path, dir.join("pybase.yaml"));
    assert_eq!(starter.service, "inventory");
    let text = std::fs::read_to_string(&path).expect("the spec");
    // No `$schema` line: there is no published schema to point at (the
    // reference says how to point at a local copy).
    assert!(text.starts_with(&format!(
        "# syntax={DEFAULT_FRONTEND_IMAGE}\n# Written by `pybase init`"
    )));
    // requires-python `>=3.11`: the newest stable Python it allows.
    assert!(text.contains("from: python:3.15-slim"), "{text}");
    assert!(text.contains("command: [inventory]"), "{text}");
    let report = check_report(&path, None, &Default::default()).expect("checked");
    assert!(report.errors.is_empty(), "{}", report.text);
}

#[test]
fn an_existing_spec_is_kept_unless_forced() {
    let dir = copy_of_inventory("existing_spec");
    std::fs::write(dir.join("pybase.yaml"), "# mine\n").expect("a spec");
    let error = write_starter_spec(&request(&dir, false)).expect_err("refused");
    assert!(
        error
            .to_string()
            .ends_with("pybase.yaml already exists: pass --force to overwrite it"),
        "{error}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("pybase.yaml")).expect("kept"),
        "# mine\n"
    );
    write_starter_spec(&request(&dir, true)).expect("overwritten");
    let report =
        check_report(&dir.join("pybase.yaml"), None, &Default::default()).expect("checked");
    assert!(report.errors.is_empty(), "{}", report.text);
}

#[test]
fn a_project_init_cannot_start_from_is_refused_naming_the_file() {
    let dir = scratch("no_pyproject");
    let error = write_starter_spec(&request(&dir, false)).expect_err("refused");
    let pyproject = dir.join("pyproject.toml");
    assert!(
        error
            .to_string()
            .starts_with(&format!("{} not found", pyproject.display())),
        "{error}"
    );

    std::fs::write(&pyproject, "[tool.poetry]\nversion = \"1.0\"\n").expect("pyproject");
    let error = write_starter_spec(&request(&dir, false)).expect_err("refused");
    assert!(
        error.to_string().starts_with(&format!(
            "{} has no `[project]` table with a `name`",
            pyproject.display()
        )),
        "{error}"
    );
    assert!(!dir.join("pybase.yaml").exists(), "nothing was written");
}

#[test]
fn the_spec_init_writes_for_an_application_passes_check() {
    let dir = scratch("application");
    let fixture = Path::new(FIXTURE).join("../plain-app");
    for file in ["app.py", "greeting.py", "requirements.txt"] {
        std::fs::copy(fixture.join(file), dir.join(file)).expect("copy");
    }
    let (path, starter) = write_starter_spec(&request(&dir, false)).expect("written");
    assert_eq!(starter.service, "application");
    let text = std::fs::read_to_string(&path).expect("the spec");
    assert!(text.contains("    command: [python, app.py]"), "{text}");
    let report = check_report(&path, None, &Default::default()).expect("checked");
    assert!(report.errors.is_empty(), "{}", report.text);

    // With setup.py it is a package, which needs pyproject.toml.
    std::fs::remove_file(&path).expect("remove the spec");
    std::fs::write(
        dir.join("setup.py"),
        "from setuptools import setup\nsetup()\n",
    )
    .expect("setup.py");
    let error = write_starter_spec(&request(&dir, false)).expect_err("refused");
    assert!(
        error.to_string().contains("pyproject.toml not found"),
        "{error}"
    );
}

#[test]
fn a_uv_workspace_members_spec_goes_to_the_root_with_the_members_path() {
    let root = scratch("workspace_member");
    let member = root.join("servers/tool");
    std::fs::create_dir_all(&member).expect("member directory");
    std::fs::write(
        root.join("pyproject.toml"),
        "[project]\nname = \"root\"\nversion = \"1.0\"\n[tool.uv.workspace]\nmembers = [\"servers/*\"]\n",
    )
    .expect("root pyproject");
    std::fs::write(
        root.join("uv.lock"),
        "version = 1\nrequires-python = \">=3.11\"\n",
    )
    .expect("root lock");
    std::fs::write(
        member.join("pyproject.toml"),
        "[project]\nname = \"tool\"\nversion = \"0.1\"\n[project.scripts]\ntool = \"tool:main\"\n",
    )
    .expect("member pyproject");
    let (path, starter) = write_starter_spec(&request(&member, false)).expect("written");
    assert_eq!(starter.service, "tool");
    assert_eq!(
        path,
        std::fs::canonicalize(&root)
            .expect("root")
            .join("pybase.yaml")
    );
    assert!(!member.join("pybase.yaml").exists());
    assert!(
        starter.text.contains("    project: servers/tool\n"),
        "{}",
        starter.text
    );
    // The twin: a member the workspace does not name is a project of its own.
    std::fs::remove_file(&path).expect("remove the spec");
    std::fs::write(
        root.join("pyproject.toml"),
        "[project]\nname = \"root\"\nversion = \"1.0\"\n[tool.uv.workspace]\nmembers = [\"libs/*\"]\n",
    )
    .expect("root pyproject");
    let (path, starter) = write_starter_spec(&request(&member, false)).expect("written");
    assert_eq!(path, member.join("pybase.yaml"));
    assert!(
        starter.text.contains("    project: .\n"),
        "{}",
        starter.text
    );
}
