//! A Poetry project's path dependencies (`lib = { path = "../lib" }`, or
//! `lib @ file:///…` in `[project]`): the packages its `poetry.lock` locks
//! with a `[package.source]` of type `directory`, at a `url` relative to
//! the project's directory (where Poetry keeps its lock; a lock the spec
//! names elsewhere keeps the urls Poetry wrote), transitively (Poetry
//! locks a path dependency's own path dependencies the same way, relative
//! to the same directory).
//!
//! They are code, as a uv workspace's members are: the translation of the
//! lock leaves them out of the venv ([`crate::poetry`]), their own
//! dependencies stay in it, and the code step builds and installs each
//! (non-editable, without dependencies, whatever `develop` says) from its
//! directory. So each must be a directory of the build context holding a
//! `pyproject.toml` or `setup.py`, named in its pyproject as the lock names
//! it, declaring no dependency the lock does not record for it. (A tier
//! has no code step: its image gets neither its project nor the project's
//! path dependencies, only their dependencies, in its venv.)
//!
//! No I/O: the caller reads each directory's files
//! ([`ProjectFiles::wanted_path_dependencies`]) into
//! [`ProjectFiles::path_dependencies`], and [`check`] reads them there.

use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::files::PYPROJECT_FILE;
use crate::lock::{LockKind, Package, Source};
use crate::names::normalize_name;
use crate::poetry::POETRY_RELOCK;

use super::{ProjectFiles, ProjectInfo, lock_file_name};

/// The setup script that makes a directory without pyproject.toml a
/// package the code step can build.
const SETUP_PY: &str = "setup.py";

/// The build-context directory of a path dependency locked at `url`
/// (relative to `dir`, the project's directory): `None` when it is absolute
/// or leaves the build context.
pub(crate) fn context_dir(dir: &str, url: &str) -> Option<String> {
    if url.starts_with('/') || url.contains(':') || url.contains('\\') {
        return None;
    }
    let mut parts: Vec<&str> = dir.split('/').filter(|p| !p.is_empty()).collect();
    for part in url.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            part => parts.push(part),
        }
    }
    Some(parts.join("/"))
}

/// `dir/name`, or `name` in the context root.
fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_owned()
    } else {
        format!("{dir}/{name}")
    }
}

/// The `url` of a package locked from a `directory` source.
fn directory_url(package: &Package) -> Option<&str> {
    match &package.source {
        Some(Source::Directory { path }) => Some(path),
        _ => None,
    }
}

impl ProjectFiles<'_> {
    /// The files of its path dependencies' directories that are not read
    /// yet: each directory's `pyproject.toml` and `setup.py`, for every
    /// package its `poetry.lock` locks from a directory inside the build
    /// context (none for another lock, or a lock that does not read). The
    /// caller reads them into `path_dependencies` (`None` for a file the
    /// context lacks); one round suffices, as the lock lists them all.
    pub fn wanted_path_dependencies(&self) -> Vec<String> {
        let (LockKind::Poetry, Some(bytes)) = self.chosen_lock() else {
            return Vec::new();
        };
        let Ok(text) = std::str::from_utf8(bytes) else {
            return Vec::new();
        };
        let Ok(lock) = crate::lock::poetry::read("", text) else {
            return Vec::new();
        };
        let mut wanted = Vec::new();
        for url in lock.packages.iter().filter_map(directory_url) {
            let Some(dir) = context_dir(self.project.dir, url) else {
                continue;
            };
            for name in [PYPROJECT_FILE, SETUP_PY] {
                let path = join(&dir, name);
                if !self.path_dependencies.contains_key(&path) && !wanted.contains(&path) {
                    wanted.push(path);
                }
            }
        }
        wanted
    }

    /// Read the files it wants ([`Self::wanted_path_dependencies`]) with
    /// `read` (a build-context path to its bytes, `None` when the context
    /// lacks it).
    pub fn read_path_dependencies<E>(
        &mut self,
        mut read: impl FnMut(&str) -> Result<Option<Vec<u8>>, E>,
    ) -> Result<(), E> {
        for path in self.wanted_path_dependencies() {
            let bytes = read(&path)?;
            self.path_dependencies.insert(path, bytes);
        }
        Ok(())
    }

    /// The bytes of the path dependency's file `path` read so far.
    fn path_dependency_file(&self, path: &str) -> Option<&[u8]> {
        self.path_dependencies.get(path)?.as_deref()
    }
}

/// `info` (the checked lock of `files`) with the directories of the path
/// dependencies its venv would get ([`ProjectInfo::path_dependencies`]),
/// or every problem with them, each at its package's line in the lock.
pub(super) fn check(
    files: &ProjectFiles<'_>,
    mut info: ProjectInfo,
) -> Result<ProjectInfo, Diagnostics> {
    if info.selection.local_projects.is_empty() {
        return Ok(info);
    }
    let project = &files.project;
    let lock_file = project.path(lock_file_name(project, info.lock));
    let mut problems = Vec::new();
    let mut dirs = Vec::new();
    for package in &info.selection.local_projects {
        let url = directory_url(package).unwrap_or_default();
        let problem = |message: String, hint: String| {
            Diagnostic::at(&lock_file, Some(package.at), message).with_hint(hint)
        };
        let name = &package.written_name;
        let Some(dir) = context_dir(project.dir, url) else {
            problems.push(problem(
                format!(
                    "`{name}` is a path dependency at `{url}`, which is outside the build context: pybase builds path dependencies from the context's files"
                ),
                format!(
                    "make the build context a directory that also holds `{url}` (relative to `{}`), with the spec's `project` relative to it; or publish `{name}` to an index and depend on it from there",
                    project.display()
                ),
            ));
            continue;
        };
        let pyproject_path = join(&dir, PYPROJECT_FILE);
        match files.path_dependency_file(&pyproject_path) {
            Some(bytes) => problems.extend(relocked(
                (&lock_file, project.display()),
                package,
                &pyproject_path,
                bytes,
            )),
            None if files.path_dependency_file(&join(&dir, SETUP_PY)).is_some() => {}
            None => {
                problems.push(problem(
                    format!(
                        "`{name}` is a path dependency at `{url}`, but the build context has neither `{pyproject_path}` nor `{}`: the directory is missing, or holds no package pybase can build",
                        join(&dir, SETUP_PY)
                    ),
                    format!(
                        "check the path in `{}` and that .dockerignore does not exclude the directory, then run `{POETRY_RELOCK}` in `{}`",
                        project.path(PYPROJECT_FILE),
                        project.display()
                    ),
                ));
                continue;
            }
        }
        if !dirs.contains(&dir) && dir != project.dir {
            dirs.push(dir);
        }
    }
    if !problems.is_empty() {
        return Err(Diagnostics(problems));
    }
    info.path_dependencies = dirs;
    Ok(info)
}

/// The problems of the path dependency `package`, locked in `lock_file`
/// (of the project in `project_dir`, as shown), with its `pyproject.toml`
/// (`path`, its `bytes`): a file that does not parse, at its line; a name
/// other than the lock's, or a dependency the lock does not record for
/// it, which mean the lock is out of date.
fn relocked(
    (lock_file, project_dir): (&str, &str),
    package: &Package,
    path: &str,
    bytes: &[u8],
) -> Vec<Diagnostic> {
    let table = match super::parse_toml(path, bytes) {
        Ok(table) => table,
        Err(problem) => return vec![problem],
    };
    let text = String::from_utf8_lossy(bytes);
    let pyproject = crate::pyproject::Pyproject::read(&text, &table);
    let metadata = crate::pyproject::ProjectMetadata::of(&pyproject);
    let lock_name = lock_file.rsplit('/').next().unwrap_or(lock_file);
    let hint = format!("run `{POETRY_RELOCK}` in `{project_dir}` and commit the new {lock_name}");
    if let Some(name) = &metadata.name
        && normalize_name(name) != package.name
    {
        return vec![
            Diagnostic::at(
                lock_file,
                Some(package.at),
                format!(
                    "{lock_name} locks the path dependency `{}`, but `{path}` names the project `{name}`: the lock is out of date",
                    package.written_name
                ),
            )
            .with_hint(hint),
        ];
    }
    metadata
        .dependencies
        .iter()
        .filter(|dependency| {
            !package
                .dependencies
                .iter()
                .any(|locked| locked.name == dependency.name)
        })
        .map(|dependency| {
            Diagnostic::at(
                path,
                dependency.at,
                format!(
                    "`{}` is a dependency in `{path}` but {lock_name} does not record it for the path dependency `{}`: the lock is out of date",
                    dependency.name, package.written_name
                ),
            )
            .with_hint(hint.clone())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lock::includes::IncludedFiles;

    const FIXTURE: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../testdata/projects/poetry-path"
    );

    /// A spec with the service `app` at `app`.
    fn spec() -> crate::spec::Spec {
        let text = "version: 1\nservices:\n  app:\n    from: python:3.12-slim\n    project: app\n";
        crate::spec::parse("pybase.yaml", text.as_bytes()).expect("valid spec")
    }

    /// The fixture's file `path`.
    fn fixture(path: &str) -> Option<Vec<u8>> {
        std::fs::read(format!("{FIXTURE}/{path}")).ok()
    }

    /// The fixture's file `path` with `from` replaced by `to`.
    fn edited(path: &str, from: &str, to: &str) -> Option<String> {
        let text = String::from_utf8(fixture(path).expect("fixture file")).expect("text");
        assert!(text.contains(from), "{from} in {path}");
        Some(text.replace(from, to))
    }

    /// `app` of `spec` checked in the fixture's context with the files
    /// `replaced` (path to text, `None`: missing).
    fn check_app(
        spec: &crate::spec::Spec,
        replaced: &[(&str, Option<String>)],
    ) -> Result<ProjectInfo, Diagnostics> {
        let get = |path: &str| match replaced.iter().find(|(p, _)| *p == path) {
            Some((_, text)) => text.clone().map(String::into_bytes),
            None => fixture(path),
        };
        let project = spec.services["app"].project_dir();
        let mut files = ProjectFiles {
            pyproject: get("app/pyproject.toml"),
            poetry: get("app/poetry.lock"),
            ..ProjectFiles::new(project)
        };
        files
            .read_path_dependencies(|path| Ok::<_, ()>(get(path)))
            .expect("in memory");
        super::super::check_files(&spec.file, &files)
    }

    #[test]
    fn a_url_is_resolved_against_the_locks_directory_inside_the_context() {
        assert_eq!(context_dir("app", "../lib").as_deref(), Some("lib"));
        assert_eq!(
            context_dir("svc/app", "./../lib/").as_deref(),
            Some("svc/lib")
        );
        assert_eq!(context_dir("", "libs/core").as_deref(), Some("libs/core"));
        assert_eq!(context_dir("app", "..").as_deref(), Some(""));
        assert_eq!(context_dir("app", "../../lib"), None);
        assert_eq!(context_dir("", "../lib"), None);
        assert_eq!(context_dir("app", "/srv/lib"), None);
        assert_eq!(context_dir("app", "C:\\lib"), None);
    }

    #[test]
    fn the_lock_asks_for_each_path_dependencys_pyproject_and_setup_py_once() {
        let spec = spec();
        let project = spec.services["app"].project_dir();
        let mut files = ProjectFiles {
            pyproject: fixture("app/pyproject.toml"),
            poetry: fixture("app/poetry.lock"),
            ..ProjectFiles::new(project)
        };
        assert_eq!(
            files.wanted_path_dependencies(),
            [
                "core/pyproject.toml",
                "core/setup.py",
                "lib/pyproject.toml",
                "lib/setup.py"
            ]
        );
        files
            .read_path_dependencies(|path| Ok::<_, ()>(fixture(path)))
            .expect("in memory");
        assert!(files.wanted_path_dependencies().is_empty());
        // A lock that is not Poetry's asks for nothing.
        files.lock = Some(b"version = 1\n".to_vec());
        files.path_dependencies = IncludedFiles::new();
        assert!(files.wanted_path_dependencies().is_empty());
    }

    #[test]
    fn path_dependencies_are_code_and_their_dependencies_are_the_venvs() {
        let info = check_app(&spec(), &[]).expect("the fixture checks");
        assert_eq!(info.path_dependencies, ["core", "lib"]);
        assert_eq!(
            info.packages.keys().collect::<Vec<_>>(),
            ["idna", "iniconfig", "six"]
        );
        let local: Vec<&str> = info
            .selection
            .local_projects
            .iter()
            .map(|p| p.name.as_str())
            .collect();
        assert_eq!(local, ["core", "lib"]);
        // `lib` in app's dependencies counts as locked: its version is
        // checked like a pin's.
        let stale = edited(
            "app/pyproject.toml",
            r#"dependencies = ["lib", "six==1.17.0"]"#,
            r#"dependencies = ["lib>=1.0", "six==1.17.0"]"#,
        );
        let problems = check_app(&spec(), &[("app/pyproject.toml", stale)])
            .expect_err("stale")
            .to_string();
        assert!(
            problems.contains("pyproject.toml asks for `lib>=1.0` but poetry.lock pins 0.1.0"),
            "{problems}"
        );
    }

    #[test]
    fn a_path_dependency_outside_the_context_or_without_a_package_is_refused_at_its_lock_line() {
        let spec = spec();
        let outside = edited(
            "app/poetry.lock",
            r#"url = "../lib""#,
            r#"url = "../../lib""#,
        );
        insta::assert_snapshot!(
            check_app(&spec, &[("app/poetry.lock", outside)]).expect_err("outside").to_string(),
            @"app/poetry.lock:58:1: `lib` is a path dependency at `../../lib`, which is outside the build context: pybase builds path dependencies from the context's files (hint: make the build context a directory that also holds `../../lib` (relative to `app`), with the spec's `project` relative to it; or publish `lib` to an index and depend on it from there)"
        );
        insta::assert_snapshot!(
            check_app(&spec, &[("lib/pyproject.toml", None)]).expect_err("no package").to_string(),
            @"app/poetry.lock:58:1: `lib` is a path dependency at `../lib`, but the build context has neither `lib/pyproject.toml` nor `lib/setup.py`: the directory is missing, or holds no package pybase can build (hint: check the path in `app/pyproject.toml` and that .dockerignore does not exclude the directory, then run `poetry lock` in `app`)"
        );
        // The twin: a setup.py alone is a package.
        let setup_py = Some("from setuptools import setup\nsetup(name=\"lib\")\n".to_owned());
        let info = check_app(
            &spec,
            &[("lib/pyproject.toml", None), ("lib/setup.py", setup_py)],
        )
        .expect("a setup.py package");
        assert_eq!(info.path_dependencies, ["core", "lib"]);
    }

    #[test]
    fn a_path_dependency_renamed_or_with_a_dependency_not_locked_makes_the_lock_stale() {
        let spec = spec();
        let renamed = edited("lib/pyproject.toml", r#"name = "lib""#, r#"name = "libby""#);
        insta::assert_snapshot!(
            check_app(&spec, &[("lib/pyproject.toml", renamed)]).expect_err("renamed").to_string(),
            @"app/poetry.lock:58:1: poetry.lock locks the path dependency `lib`, but `lib/pyproject.toml` names the project `libby`: the lock is out of date (hint: run `poetry lock` in `app` and commit the new poetry.lock)"
        );
        let added = edited(
            "lib/pyproject.toml",
            "idna = \"3.10\"\n",
            "idna = \"3.10\"\nattrs = \"25.1.0\"\n",
        );
        insta::assert_snapshot!(
            check_app(&spec, &[("lib/pyproject.toml", added)]).expect_err("added").to_string(),
            @"lib/pyproject.toml:11:1: `attrs` is a dependency in `lib/pyproject.toml` but poetry.lock does not record it for the path dependency `lib`: the lock is out of date (hint: run `poetry lock` in `app` and commit the new poetry.lock)"
        );
    }
}
