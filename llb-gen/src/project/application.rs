//! Checks of a project directory without `pyproject.toml`: an
//! *application*, a directory of code (`app.py`, a Django `manage.py`,
//! scripts) whose dependencies a lock of pins names (`requirements.txt`, or
//! `pylock.toml`); or, with `setup.py` or `setup.cfg`, a *legacy package*,
//! built by setuptools' PEP 517 fallback (`setuptools.build_meta:__legacy__`,
//! with `setuptools>=40.8.0` as its build requirement, as pip and uv build
//! it) and installed like any package, its dependencies from such a lock.
//!
//! Its lock is checked on its own, as for a package (every requirement
//! pinned with `==` and hashed unless the spec says `require-hashes:
//! false`); what needs `pyproject.toml` (a stale lock against declared
//! dependencies, `requires-python`) is skipped, and selecting `extras` or
//! `groups` is an error at the spec's key, since nothing defines them. A
//! `uv.lock` or `poetry.lock` without `pyproject.toml` is refused (both
//! tools read the project's dependencies from it), and so is a directory
//! with no lock at all, each at the spec's `project` key with the fix.

use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::files::PYPROJECT_FILE;
use crate::spec::ProjectDir;

use super::{LockKind, PinnedLock, ProjectFiles, ProjectInfo, Pyproject, read_pins};

/// The command that writes an application's `requirements.txt` with
/// `==` pins and hashes from the names in `requirements.in`, run in its
/// directory.
pub const APPLICATION_LOCK: &str =
    "uv pip compile --generate-hashes requirements.in --output-file requirements.txt";

/// The same for an application whose lock is a `pylock.toml`.
pub const APPLICATION_PYLOCK: &str =
    "uv pip compile --generate-hashes requirements.in --output-file pylock.toml";

/// The build requirements of a project without `pyproject.toml`, as PEP
/// 517 says a frontend builds it: setuptools' legacy backend.
pub const LEGACY_BUILD_REQUIRES: &str = "setuptools>=40.8.0";

/// Check the files of `files.project`, a directory without
/// `pyproject.toml`: an application (or, with `setup.py` or `setup.cfg`, a
/// legacy package) when its lock is a `pylock.toml` or a
/// `requirements.txt`, refused otherwise.
pub(super) fn check(spec_file: &str, files: &ProjectFiles<'_>) -> Result<ProjectInfo, Diagnostics> {
    let project = &files.project;
    let legacy = files.setup_files;
    let refused = |diagnostic: Diagnostic| Err(Diagnostics(vec![diagnostic]));
    match files.chosen_lock() {
        (kind @ (LockKind::Uv | LockKind::Poetry), Some(_)) => {
            refused(lock_without_pyproject(spec_file, project, kind))
        }
        // A Pipenv project: its Pipfile says what the lock must hold, and
        // `develop` is a section the spec may select.
        (LockKind::Pipfile, Some(lock)) => {
            super::check_pinned(spec_file, files, LockKind::Pipfile, lock).map(|info| ProjectInfo {
                application: !legacy,
                build_requires: legacy.then(|| vec![LEGACY_BUILD_REQUIRES.to_owned()]),
                ..info
            })
        }
        (kind, Some(lock)) => pinned(spec_file, project, kind, (lock, &files.included), legacy),
        (_, None) => match project.lock {
            Some(named) => refused(super::named_lock_missing(spec_file, project, named)),
            None if files.ranges => refused(ranges_only(spec_file, project)),
            None => refused(nothing_to_install(spec_file, project)),
        },
    }
}

/// Check the lock of pins (`kind`, its bytes `lock`) of an application, or
/// of a legacy package when `legacy`: every package it pins goes into the
/// venv.
fn pinned(
    spec_file: &str,
    project: &ProjectDir<'_>,
    kind: LockKind,
    lock: (&[u8], &crate::lock::includes::IncludedFiles),
    legacy: bool,
) -> Result<ProjectInfo, Diagnostics> {
    let mut problems: Vec<Diagnostic> = selection(spec_file, project, kind, legacy)
        .into_iter()
        .collect();
    let pinned = read_pins(project, kind, lock, None, None).unwrap_or_else(|found| {
        problems.extend(found.into_iter().map(application_hint));
        PinnedLock::default()
    });
    if !problems.is_empty() {
        return Err(Diagnostics(problems));
    }
    let none = Pyproject {
        file: project.path(PYPROJECT_FILE),
        table: None,
        parsed: None,
    };
    Ok(ProjectInfo {
        application: !legacy,
        build_requires: legacy.then(|| vec![LEGACY_BUILD_REQUIRES.to_owned()]),
        ..super::pinned_project_info(&none, kind, project.owner.to_owned(), None, pinned)
    })
}

/// `problem`, found in an application's lock, with a hint that writes it
/// anew without `pyproject.toml` (the hints of a package's lock export it
/// from there).
fn application_hint(mut problem: Diagnostic) -> Diagnostic {
    let relock = crate::requirements::REQUIREMENTS_RELOCK.join("` or `");
    if let Some(hint) = &mut problem.hint {
        *hint = hint
            .replace(&relock, APPLICATION_LOCK)
            .replace(crate::requirements::PYLOCK_RELOCK, APPLICATION_PYLOCK);
    }
    problem
}

/// The error for the extras or groups the spec selects of an application
/// or a legacy package (`legacy`), at the first one, whose lock is `kind`:
/// nothing pybase reads defines them.
fn selection(
    spec_file: &str,
    project: &ProjectDir<'_>,
    kind: LockKind,
    legacy: bool,
) -> Option<Diagnostic> {
    let selection = &project.selection;
    let first = selection.extras.iter().chain(&selection.groups).next()?;
    let what = if legacy {
        "a package without pyproject.toml (setup.py or setup.cfg, whose extras pybase does not read)"
    } else {
        "an application (no pyproject.toml, setup.py or setup.cfg)"
    };
    Some(
        Diagnostic::at(
            spec_file,
            first.at,
            format!(
                "`{}` selects extras or groups of `{}`, {what}: nothing defines them",
                project.owner,
                project.display()
            ),
        )
        .with_hint(format!(
            "drop `extras` and `groups`: {} pins the one set of packages the venv gets (put what the extra or group adds in it), or make `{}` a project with a pyproject.toml that defines them",
            project.path(kind.file_name()),
            project.display()
        )),
    )
}

/// The error for a `uv.lock` or `poetry.lock` (`kind`) in a directory
/// without `pyproject.toml`, at the spec's `project` key.
fn lock_without_pyproject(spec_file: &str, project: &ProjectDir<'_>, kind: LockKind) -> Diagnostic {
    let tool = if kind == LockKind::Poetry {
        "Poetry"
    } else {
        "uv"
    };
    super::missing_file(
        spec_file,
        project,
        PYPROJECT_FILE,
        format!(
            "{lock} is written from a pyproject.toml and installed with it: add `{pyproject}` (its dependencies are what {tool} locked) and check that .dockerignore does not exclude it; for an application without one, pin its dependencies with hashes in `{requirements}` instead (`{APPLICATION_LOCK}` in `{dir}`) and remove {lock}",
            lock = kind.file_name(),
            pyproject = project.path(PYPROJECT_FILE),
            requirements = project.path(crate::requirements::REQUIREMENTS_FILE),
            dir = project.display(),
        ),
    )
}

/// The error for a directory with ranges (`requirements.in`) and no lock,
/// at the spec's `project` key: `--target lock` writes the lock.
fn ranges_only(spec_file: &str, project: &ProjectDir<'_>) -> Diagnostic {
    let requirements = project.path(crate::requirements::REQUIREMENTS_FILE);
    Diagnostic::at(
        spec_file,
        project.at,
        format!(
            "`{}` has only ranges (`{}`) and no lock: pybase installs pinned, hashed packages ({} `{}`)",
            project.display(),
            project.path(crate::files::REQUIREMENTS_IN),
            project.owner_kind,
            project.owner,
        ),
    )
    .with_hint(format!(
        "write `{requirements}` from them with `{}` (uv, in the builder of {} `{}`, on the pins of the tiers below it), and commit it",
        crate::spec::lock_command(spec_file),
        project.owner_kind,
        project.owner,
    ))
}

/// The error for a directory with no project file and no lock, at the
/// spec's `project` key.
fn nothing_to_install(spec_file: &str, project: &ProjectDir<'_>) -> Diagnostic {
    Diagnostic::at(
        spec_file,
        project.at,
        format!(
            "`{}` has no pyproject.toml, setup.py or setup.cfg and no lock (requirements.txt or pylock.toml) in the build context ({} `{}`)",
            project.display(),
            project.owner_kind,
            project.owner,
        ),
    )
    .with_hint(format!(
        "`project` names the directory of the code and its lock, relative to the build context (check it, and that .dockerignore does not exclude the files); for an application, pin its dependencies with `==` and hashes in `{}`: list them in requirements.in and run `{APPLICATION_LOCK}` in `{}`; for a package, add pyproject.toml and run `uv lock`",
        project.path(crate::requirements::REQUIREMENTS_FILE),
        project.display(),
    ))
}

#[cfg(test)]
mod tests {
    use super::super::{ProjectFiles, check_files};

    /// Six pinned with its hashes, as uv writes it.
    const SIX: &str = "six==1.17.0 \\\n    --hash=sha256:4721f391ed90541fddacab5acf947aa0d3dc7d27b2e1e8eda2be8970586c3274 \\\n    --hash=sha256:ff70335d468e7eb6ec65b95b99d3a2836546063f63acc5171de367e834932a81\n";

    /// What `check_files` says of the service `api` (project `app`, the
    /// spec's `more` lines added to it) whose directory has `files`.
    fn check(more: &str, files: &[(&str, &str)], setup_files: bool) -> String {
        let spec = crate::spec::parse(
            "pybase.yaml",
            format!("version: 1\nservices:\n  api:\n    from: python:3.12-slim\n    project: app\n{more}")
                .as_bytes(),
        )
        .expect("valid spec");
        let file = |name: &str| {
            files
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, text)| text.as_bytes().to_vec())
        };
        let files = ProjectFiles {
            pyproject: file("pyproject.toml"),
            lock: file("uv.lock"),
            poetry: file("poetry.lock"),
            pdm: file("pdm.lock"),
            pipfile_lock: file("Pipfile.lock"),
            pipfile: file("Pipfile"),
            pylock: file("pylock.toml"),
            requirements: file("requirements.txt"),
            setup_files,
            ..ProjectFiles::new(spec.services["api"].project_dir())
        };
        match check_files(&spec.file, &files) {
            Ok(info) => format!(
                "ok: {} application={} lock={:?} packages={:?} build_requires={:?}",
                info.name,
                info.application,
                info.lock,
                info.packages.keys().collect::<Vec<_>>(),
                info.build_requires,
            ),
            Err(problems) => problems.to_string(),
        }
    }

    #[test]
    fn a_directory_of_code_with_a_requirements_lock_is_an_application() {
        insta::assert_snapshot!(
            check("", &[("requirements.txt", SIX)], false),
            @"ok: api application=true lock=Requirements packages=[\"six\"] build_requires=None"
        );
    }

    #[test]
    fn setup_files_without_pyproject_are_a_package_built_by_setuptools_legacy_backend() {
        // Regression: refused as `pyproject.toml not found`.
        insta::assert_snapshot!(
            check("", &[("requirements.txt", SIX)], true),
            @"ok: api application=false lock=Requirements packages=[\"six\"] build_requires=Some([\"setuptools>=40.8.0\"])"
        );
    }

    #[test]
    fn an_application_lock_is_checked_on_its_own_with_an_application_hint() {
        insta::assert_snapshot!(
            check("", &[("requirements.txt", "six==1.17.0 --hash=sha256:00\nidna==3.10\n")], false),
            @r#"app/requirements.txt:2:1: `idna==3.10` has no `--hash`: pybase installs only artifacts whose hashes the lock records (hint: regenerate it with hashes: `uv pip compile --generate-hashes requirements.in --output-file requirements.txt`; or, to install it unverified, set `require-hashes: false` on its service or tier)"#
        );
        insta::assert_snapshot!(
            check("", &[("pylock.toml", "lock-version = \"1.0\"\n[[packages]]\nname = \"six\"\n")], false),
            @r#"app/pylock.toml:3:1: `six` has no `version`: pybase installs only pinned packages (hint: regenerate it: `uv pip compile --generate-hashes requirements.in --output-file pylock.toml`)"#
        );
        assert!(
            check(
                "    require-hashes: false\n",
                &[("requirements.txt", "idna==3.10\n")],
                false
            )
            .starts_with("ok:")
        );
    }

    #[test]
    fn extras_or_groups_of_an_application_are_an_error_at_the_spec() {
        insta::assert_snapshot!(
            check("    extras: [s3]\n    groups: [dev]\n", &[("requirements.txt", SIX)], false),
            @r#"pybase.yaml:6:14: `api` selects extras or groups of `app`, an application (no pyproject.toml, setup.py or setup.cfg): nothing defines them (hint: drop `extras` and `groups`: app/requirements.txt pins the one set of packages the venv gets (put what the extra or group adds in it), or make `app` a project with a pyproject.toml that defines them)"#
        );
    }

    #[test]
    fn a_uv_or_poetry_lock_without_pyproject_is_refused_at_the_project_key() {
        insta::assert_snapshot!(check("", &[("uv.lock", "version = 1\n")], false), @r#"pybase.yaml:5:14: `app/pyproject.toml` not found in the build context (service `api`, project `app`) (hint: uv.lock is written from a pyproject.toml and installed with it: add `app/pyproject.toml` (its dependencies are what uv locked) and check that .dockerignore does not exclude it; for an application without one, pin its dependencies with hashes in `app/requirements.txt` instead (`uv pip compile --generate-hashes requirements.in --output-file requirements.txt` in `app`) and remove uv.lock)"#);
        insta::assert_snapshot!(
            check("", &[("poetry.lock", ""), ("requirements.txt", SIX)], false),
            @r#"pybase.yaml:5:14: `app/pyproject.toml` not found in the build context (service `api`, project `app`) (hint: poetry.lock is written from a pyproject.toml and installed with it: add `app/pyproject.toml` (its dependencies are what Poetry locked) and check that .dockerignore does not exclude it; for an application without one, pin its dependencies with hashes in `app/requirements.txt` instead (`uv pip compile --generate-hashes requirements.in --output-file requirements.txt` in `app`) and remove poetry.lock)"#
        );
    }

    #[test]
    fn a_directory_without_a_project_file_or_a_lock_is_refused_at_the_project_key() {
        insta::assert_snapshot!(check("", &[], false), @r#"pybase.yaml:5:14: `app` has no pyproject.toml, setup.py or setup.cfg and no lock (requirements.txt or pylock.toml) in the build context (service `api`) (hint: `project` names the directory of the code and its lock, relative to the build context (check it, and that .dockerignore does not exclude the files); for an application, pin its dependencies with `==` and hashes in `app/requirements.txt`: list them in requirements.in and run `uv pip compile --generate-hashes requirements.in --output-file requirements.txt` in `app`; for a package, add pyproject.toml and run `uv lock`)"#);
    }

    #[test]
    fn applications_stack_on_a_tier_and_may_not_repin_its_packages() {
        let spec = crate::spec::parse(
            "pybase.yaml",
            b"version: 1\ntiers:\n  base:\n    from: python:3.12-slim\n    project: base\nservices:\n  api:\n    tier: base\n    project: app\n",
        )
        .expect("valid spec");
        let target = crate::plan::select_target(&spec, Some("api")).expect("a target");
        let stack = |upper: &str| -> Vec<ProjectFiles<'_>> {
            target
                .projects()
                .into_iter()
                .zip([SIX.to_owned(), upper.to_owned()])
                .map(|(project, requirements)| ProjectFiles {
                    requirements: Some(requirements.into_bytes()),
                    ..ProjectFiles::new(project)
                })
                .collect()
        };
        let infos = super::super::check_stack(&spec.file, &stack(SIX)).expect("the stack checks");
        assert!(infos.iter().all(|info| info.application));
        let repinned = stack(
            "six==1.16.0 --hash=sha256:1e61c37477a1626458e36f7b1d82aa5c9b094fa4802892072e49de9c60c4c926\n",
        );
        let problems = super::super::check_stack(&spec.file, &repinned).expect_err("a conflict");
        insta::assert_snapshot!(problems.to_string(), @r#"app/requirements.txt:1:1: `six` is locked at 1.16.0 here but at 1.17.0 in base/requirements.txt of the tier `base`, which service `api` builds on (hint: a service must not override its tier's packages: pin `six` to 1.17.0 in app/requirements.txt (or drop it and use the tier's))"#);
    }
}
