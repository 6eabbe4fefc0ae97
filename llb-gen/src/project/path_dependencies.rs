//! A Poetry project's path dependencies (`lib = { path = "../lib" }`, or
//! `lib @ file:///…` in `[project]`): the packages its `poetry.lock` locks
//! with a `[package.source]` of type `directory`, at a `url` relative to
//! the lock's directory, transitively (Poetry locks a path dependency's own
//! path dependencies the same way, relative to the same directory).
//!
//! They are code, as a uv workspace's members are: the translation of the
//! lock leaves them out of the venv ([`crate::poetry`]), their own
//! dependencies stay in it, and the code step builds and installs each
//! (non-editable, without dependencies, whatever `develop` says) from its
//! directory. So each must be a directory of the build context holding a
//! `pyproject.toml` or `setup.py`, named in its pyproject as the lock names
//! it, declaring no dependency the lock does not record for it; and only a
//! service has a code step, so a tier's lock may have none.
//!
//! No I/O: the caller reads each directory's files
//! ([`ProjectFiles::wanted_path_dependencies`]) into
//! [`ProjectFiles::path_dependencies`], and [`check`] reads them there.

use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::files::PYPROJECT_FILE;
use crate::lock::{LockKind, Package, Source};
use crate::names::normalize_name;
use crate::poetry::POETRY_RELOCK;
use crate::spec::OwnerKind;

use super::{ProjectFiles, ProjectInfo, lock_file_name};

/// The setup script that makes a directory without pyproject.toml a
/// package the code step can build.
const SETUP_PY: &str = "setup.py";

/// The build-context directory of a path dependency locked at `url`
/// (relative to `dir`, the lock's directory): `None` when it is absolute
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
        if project.owner_kind == OwnerKind::Tier {
            problems.push(problem(
                format!(
                    "`{name}` is a path dependency (`{url}`) of `{}`, the project of tier `{}`: a tier's image gets its venv, never code, so it would be missing",
                    project.display(),
                    project.owner
                ),
                "move the dependency to the project of a service that stands on the tier, or publish it and depend on it from an index".to_owned(),
            ));
            continue;
        }
        let Some(dir) = context_dir(project.dir, url) else {
            problems.push(problem(
                format!(
                    "`{name}` is a path dependency at `{url}`, which is outside the build context: pybase builds path dependencies from the context's files"
                ),
                format!(
                    "build from a context that holds both `{}` and `{name}` (`docker buildx build` of a directory above them, with the spec's `project` relative to it), with the path relative in pyproject.toml, and run `{POETRY_RELOCK}`",
                    project.display()
                ),
            ));
            continue;
        };
        let pyproject_path = join(&dir, PYPROJECT_FILE);
        match files.path_dependency_file(&pyproject_path) {
            Some(bytes) => problems.extend(relocked(&lock_file, package, &pyproject_path, bytes)),
            None if files.path_dependency_file(&join(&dir, SETUP_PY)).is_some() => {}
            None => {
                problems.push(problem(
                    format!(
                        "`{name}` is a path dependency at `{url}`, but the build context has neither `{pyproject_path}` nor `{}`: there is no package to build there",
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

/// The problems of the path dependency `package`, locked in `lock_file`,
/// with its `pyproject.toml` (`path`, its `bytes`): a file that does not
/// parse, at its line; a name other than the lock's, or a dependency the
/// lock does not record for it, which mean the lock is out of date.
fn relocked(lock_file: &str, package: &Package, path: &str, bytes: &[u8]) -> Vec<Diagnostic> {
    let table = match super::parse_toml(path, bytes) {
        Ok(table) => table,
        Err(problem) => return vec![problem],
    };
    let text = String::from_utf8_lossy(bytes);
    let pyproject = crate::pyproject::Pyproject::read(&text, &table);
    let metadata = crate::pyproject::ProjectMetadata::of(&pyproject);
    let lock_name = lock_file.rsplit('/').next().unwrap_or(lock_file);
    let lock_dir = lock_file.rsplit_once('/').map_or(".", |(dir, _)| dir);
    let hint = format!("run `{POETRY_RELOCK}` in `{lock_dir}` and commit the new {lock_name}");
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
