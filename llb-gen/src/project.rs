//! Checks of a service's or a tier's Python project files before anything
//! builds, and of the packages a tier and what stands on it both lock.
//!
//! The caller reads `pyproject.toml` and `uv.lock` (through the gateway or
//! from disk) and hands in their bytes, or `None` when a file is missing.
//! A missing file is reported at the spec's `project` key; a file that is not
//! valid TOML (or a uv.lock of a format version pybase does not know), at
//! the offending line of that file. A uv.lock not written for this
//! `pyproject.toml` (one that locks the project under another name, or
//! records other dependencies than pyproject declares, by name) is an error
//! at pyproject's line; any other mismatch is left to `uv sync --locked` in
//! the venv stage, which fails the build with uv's own explanation.

use std::collections::{BTreeMap, BTreeSet};

use crate::diagnostic::position_of;
use crate::diagnostic::{Diagnostic, Diagnostics, Position};
use crate::files::{LOCK_FILE, PYPROJECT_FILE};
use crate::lock::{Lock, Package, Source};
use crate::names::{normalize_name, requirement_name};
use crate::pyproject::{
    Dependency, ProjectMetadata, builds_from_source, find_key, requires_python, sdists_build_alone,
    sdists_build_alone_in, unknown_selection, version_from_vcs,
};
use crate::pyproject::{RequiresPython, VcsVersion};
use crate::spec::ProjectDir;

mod application;
mod path_dependencies;
mod workspace;

pub use application::{APPLICATION_LOCK, APPLICATION_PYLOCK};
pub use workspace::Workspace;

/// What the checks learned about the project.
#[derive(Clone, Debug, PartialEq)]
pub struct ProjectInfo {
    /// `[project].name`.
    pub name: String,
    /// `[project].version`, when it is static (not `dynamic`).
    pub version: Option<String>,
    /// Number of packages in the lock (the project itself included).
    pub locked_packages: usize,
    /// Number of packages the venv gets: the project's dependencies in the
    /// lock, followed transitively (with the extras they ask for), without
    /// dependency groups and without the project. Markers are not
    /// evaluated, so platform-specific packages count. `None` when the lock
    /// has no package named like the project (a uv.lock [`check`] refuses).
    pub venv_packages: Option<usize>,
    /// The packages the venv gets (as counted above) by normalized name:
    /// their locked versions and where the lock names them.
    pub packages: BTreeMap<String, LockedPackage>,
    /// Which lock file the venv is installed from.
    pub lock: LockKind,
    /// When the version is `dynamic` and comes from version control.
    pub version_from_vcs: Option<VcsVersion>,
    /// The requirements locks the venv is installed from, one per package
    /// index, when the project's lock is one uv does not read
    /// (`poetry.lock`, translated: [`crate::poetry::PoetryLock::requirements`]),
    /// or one for a `requirements.txt` that includes other files (`-r`,
    /// `-c`), flattened ([`crate::lock::includes::Flattened::text`]);
    /// empty otherwise.
    pub translated_locks: Vec<crate::poetry::IndexRequirements>,
    /// `[project].requires-python`, when set.
    pub requires_python: Option<RequiresPython>,
    /// What the venv gets from the lock: its packages, each with the
    /// environments that need it ([`crate::select::needed`]), for
    /// [`crate::artifacts::check`] and [`crate::artifacts::wheelhouse`].
    pub selection: crate::select::Selection,
    /// Whether a package the venv gets comes from a git repository reached
    /// over SSH (`source = { git = "ssh://…" }` in uv.lock): its install
    /// needs the build's SSH agent (`--ssh`) and the host's key.
    pub git_over_ssh: bool,
    /// Its build backend's requirements, when pyproject.toml reads (see
    /// `Pyproject::build_requires`).
    pub build_requires: Option<Vec<String>>,
    /// Which of its packages' files BuildKit fetches, from the index's
    /// addresses the lock records (uv.lock and pylock.toml only).
    pub fetching: crate::artifacts::Fetching,
    /// Whether the project is an application, not a package: a directory
    /// of code with a lock of pins (`requirements.txt`, `pylock.toml`) and
    /// neither `pyproject.toml` nor `setup.py`/`setup.cfg`. Its code is
    /// copied into the image's working directory, not installed; `name` is
    /// then the spec's name of its service or tier.
    pub application: bool,
    /// Its `pyproject.toml` as the check read it, for the lint rules
    /// (`None` without one).
    pub(crate) pyproject: Option<crate::pyproject::Pyproject>,
    /// When the project is a member of a uv workspace (no lock of its own;
    /// the root's locks it): what its steps read of the workspace.
    pub workspace: Option<Workspace>,
    /// The build-context directories of the path dependencies a
    /// `poetry.lock` locks for its venv (`[package.source] type =
    /// "directory"`), transitively, in the lock's order: code, which the
    /// code step installs after the project, never the venv (see
    /// `project/path_dependencies.rs`). Empty for any other lock.
    pub path_dependencies: Vec<String>,
}

impl ProjectInfo {
    /// Whether the project's build compiles Rust with cargo (its build
    /// backend is maturin): its builder needs a Rust toolchain, and its
    /// code step cargo's registry and the network.
    pub fn builds_with_cargo(&self) -> bool {
        !self.application
            && self
                .pyproject
                .as_ref()
                .is_some_and(crate::pyproject::Pyproject::builds_with_cargo)
    }

    /// Whether the project's build backend builds it from Python files
    /// alone (see `Pyproject::builds_pure_python`): its code step needs
    /// none of the builder's packages. `false` for an application (nothing
    /// is built) and a project without pyproject.toml (setuptools, with a
    /// `setup.py` that may compile).
    pub fn builds_pure_python(&self) -> bool {
        !self.application
            && self
                .pyproject
                .as_ref()
                .is_some_and(crate::pyproject::Pyproject::builds_pure_python)
    }

    /// The context path of the lock `project` (checked as this) installs
    /// from: its own, or its uv workspace root's.
    pub fn lock_path(&self, project: &ProjectDir<'_>) -> String {
        match &self.workspace {
            Some(workspace) => workspace.path(LOCK_FILE),
            None => project.path(lock_file_name(project, self.lock)),
        }
    }
}

/// The Python a target runs, and how pybase knows it.
#[derive(Clone, Copy, Debug)]
pub enum PythonOf<'a> {
    /// The base image `image` says it (its `PYTHON_VERSION`).
    Image {
        /// The image, as messages name it.
        image: &'a str,
        /// Its full version.
        python: &'a str,
    },
    /// The user says it (`pybase check --python`).
    Assumed {
        /// The version given.
        python: &'a str,
    },
}

impl PythonOf<'_> {
    /// The version.
    fn version(&self) -> &str {
        match self {
            Self::Image { python, .. } | Self::Assumed { python } => python,
        }
    }

    /// How a message says where the version comes from.
    fn said(&self) -> String {
        match self {
            Self::Image { image, python } => {
                format!("the base image `{image}` has Python {python} (its PYTHON_VERSION)")
            }
            Self::Assumed { python } => format!("`--python {python}` was given"),
        }
    }
}

/// Check that the target's Python (`python`) satisfies the
/// `requires-python` of every project in `infos`: an error at each
/// `requires-python` line that excludes it. A specifier pybase cannot parse
/// is left to the installer.
pub fn check_python(infos: &[ProjectInfo], python: PythonOf<'_>) -> Result<(), Diagnostics> {
    let Ok(version) = python.version().parse::<pep440_rs::Version>() else {
        return Ok(());
    };
    let problems: Vec<Diagnostic> = infos
        .iter()
        .filter_map(|info| info.requires_python.as_ref())
        .filter(|requires| {
            requires
                .specifiers
                .parse::<pep440_rs::VersionSpecifiers>()
                .is_ok_and(|specifiers| !specifiers.contains(&version))
        })
        .map(|requires| {
            Diagnostic::at(
                &requires.file,
                requires.at,
                format!(
                    "the project needs Python {}, but {}",
                    requires.specifiers,
                    python.said()
                ),
            )
            .with_hint("build on an image whose Python satisfies requires-python (`from:` in the spec), or change requires-python and lock again")
        })
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Diagnostics(problems))
    }
}

/// Every check of the projects in `infos` that needs the target: their
/// `requires-python` against its Python, when known ([`check_python`]),
/// then an artifact on `platform` in `environment` for every package every
/// environment needs ([`crate::artifacts::check`]). The gateway runs it
/// once it has resolved and probed the images, `pybase check` on what it is
/// told.
pub fn check_target(
    infos: &[ProjectInfo],
    python: Option<PythonOf<'_>>,
    platform: &crate::llb::Platform,
    environment: &crate::environment::TargetEnvironment,
) -> Result<(), Diagnostics> {
    if let Some(python) = python {
        check_python(infos, python)?;
    }
    let selections = infos.iter().map(|info| &info.selection);
    crate::artifacts::check(selections, platform, environment)
}

pub use crate::lock::LockKind;

impl LockKind {
    /// The lock's file name in the project directory.
    pub fn file_name(self) -> &'static str {
        match self {
            LockKind::Uv => LOCK_FILE,
            LockKind::Requirements => crate::requirements::REQUIREMENTS_FILE,
            LockKind::Pylock => crate::requirements::PYLOCK_FILE,
            LockKind::Poetry => crate::poetry::POETRY_LOCK_FILE,
            LockKind::Pdm => crate::lock::pdm::PDM_LOCK_FILE,
            LockKind::Pipfile => crate::lock::pipfile::PIPFILE_LOCK_FILE,
        }
    }

    /// The commands that write the lock anew in the project's directory,
    /// each alone, for hints (`tests/relock_hints.rs` runs each).
    pub fn relock_commands(self) -> &'static [&'static str] {
        match self {
            LockKind::Uv => &[UV_RELOCK],
            LockKind::Requirements => &crate::requirements::REQUIREMENTS_RELOCK,
            LockKind::Pylock => &[crate::requirements::PYLOCK_RELOCK],
            LockKind::Poetry => &[crate::poetry::POETRY_RELOCK],
            LockKind::Pdm => &[crate::lock::pdm::PDM_RELOCK],
            LockKind::Pipfile => &[crate::lock::pipfile::PIPFILE_RELOCK],
        }
    }
}

/// The name of `project`'s lock of the format `kind` in its directory:
/// the spec's `lock:`, else the format's default name.
pub fn lock_file_name<'a>(project: &ProjectDir<'a>, kind: LockKind) -> &'a str {
    project
        .lock
        .map_or(kind.file_name(), |lock| lock.path.as_str())
}

/// A package as a lock pins it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockedPackage {
    /// The locked versions (several when the lock forks by marker).
    pub versions: BTreeSet<String>,
    /// Where the lock's `name = "…"` line is.
    pub at: Option<Position>,
}

/// Check a project's files; `spec_file` is the spec that names `project`.
pub fn check(
    spec_file: &str,
    project: &ProjectDir<'_>,
    pyproject: Option<&[u8]>,
    lock: Option<&[u8]>,
) -> Result<ProjectInfo, Diagnostics> {
    check_uv(spec_file, project, pyproject, lock, None)
}

/// [`check`], the lock being its own, or, for a member of a uv workspace,
/// the one at the workspace's `root`.
fn check_uv(
    spec_file: &str,
    project: &ProjectDir<'_>,
    pyproject: Option<&[u8]>,
    lock: Option<&[u8]>,
    root: Option<&workspace::Root<'_>>,
) -> Result<ProjectInfo, Diagnostics> {
    let mut problems = Vec::new();
    // Where the lock is, and where `uv lock` writes it anew.
    let (lock_file, lock_dir) = match root {
        Some(root) => (root.path(LOCK_FILE), root.display()),
        None => (project.path(LOCK_FILE), project.display()),
    };
    let pyproject = Pyproject::read(spec_file, project, pyproject, &mut problems);
    let lock_table = uv_lock_table(spec_file, project, (&lock_file, lock), &mut problems);
    let name = pep621_key(pyproject.parsed.as_ref(), |p| &p.name);
    if pyproject.table.is_some() && name.is_none() {
        problems.push(pyproject.without_name(
            "pybase installs PEP 621 projects: add `[project]` with `name`, `version` and `dependencies`",
        ));
    }
    let locked_packages = lock_table
        .as_ref()
        .and_then(|l| l.get("package"))
        .and_then(toml::Value::as_array)
        .map_or(0, Vec::len);
    if lock_table.is_some() && locked_packages == 0 {
        problems.push(lock_without_packages((&lock_file, lock_dir), lock));
    }
    if let Some(parsed) = &pyproject.parsed {
        problems.extend(unknown_selection(spec_file, project, parsed));
    }
    // The lock's content, read when it is a uv.lock with packages.
    let lock = match lock.and_then(|b| std::str::from_utf8(b).ok()) {
        Some(text) if locked_packages > 0 => crate::lock::uv::read(&lock_file, text)
            .map_err(|d| problems.push(d))
            .ok(),
        _ => None,
    };
    if let (Some(parsed), Some(lock), Some(name)) = (&pyproject.parsed, &lock, &name) {
        problems.extend(stale_lock(project, lock_dir, parsed, lock, name));
    }
    match (problems.is_empty(), name, lock) {
        (true, Some(name), Some(lock)) => Ok(uv_project_info(
            project,
            &pyproject,
            &lock,
            name,
            locked_packages,
        )),
        _ => Err(Diagnostics(problems)),
    }
}

/// A project's `pyproject.toml` as read for the checks: its table and its
/// typed form when it is valid TOML (both `None` when it is missing).
struct Pyproject {
    /// The file, as errors name it.
    file: String,
    /// Its table, when it is valid TOML.
    table: Option<toml::Table>,
    /// Its typed form, when it is valid TOML.
    parsed: Option<crate::pyproject::Pyproject>,
}

impl Pyproject {
    /// Read `project`'s pyproject.toml (`bytes`), each problem added to
    /// `problems`: a missing file at the spec's `project` key, a file that
    /// is not TOML at its line.
    fn read(
        spec_file: &str,
        project: &ProjectDir<'_>,
        bytes: Option<&[u8]>,
        problems: &mut Vec<Diagnostic>,
    ) -> Self {
        let file = project.path(PYPROJECT_FILE);
        let table = match bytes {
            None => {
                problems.push(missing_file(
                    spec_file,
                    project,
                    PYPROJECT_FILE,
                    MISSING_PYPROJECT_HINT,
                ));
                None
            }
            Some(bytes) => parse_toml(&file, bytes).map_err(|d| problems.push(d)).ok(),
        };
        let parsed = table
            .as_ref()
            .zip(bytes.and_then(|b| std::str::from_utf8(b).ok()))
            .map(|(table, text)| crate::pyproject::Pyproject::read(text, table));
        Pyproject {
            file,
            table,
            parsed,
        }
    }

    /// The error for a pyproject.toml without a project name, `hint`
    /// saying which tables pybase reads.
    fn without_name(&self, hint: &str) -> Diagnostic {
        Diagnostic::at(
            &self.file,
            Some(
                self.parsed
                    .as_ref()
                    .and_then(|p| p.spans.project)
                    .unwrap_or(Position::START),
            ),
            "no `[project]` table with a `name`",
        )
        .with_hint(hint)
    }

    /// What the checks learn of the project `name` (version `version`,
    /// locked in a `lock`) from its pyproject.toml; what the lock tells
    /// (its packages, their files) left empty, for the caller to fill.
    fn info(&self, name: String, version: Option<String>, lock: LockKind) -> ProjectInfo {
        let (file, parsed) = (&self.file, self.parsed.as_ref());
        ProjectInfo {
            name,
            version,
            locked_packages: 0,
            venv_packages: None,
            packages: BTreeMap::new(),
            lock,
            version_from_vcs: parsed.and_then(|p| version_from_vcs(file, p)),
            translated_locks: Vec::new(),
            requires_python: parsed.and_then(|p| requires_python(file, p)),
            selection: crate::select::Selection::default(),
            git_over_ssh: false,
            fetching: crate::artifacts::Fetching::Nothing,
            build_requires: parsed.and_then(crate::pyproject::Pyproject::build_requires),
            application: false,
            pyproject: parsed.cloned(),
            workspace: None,
            path_dependencies: Vec::new(),
        }
    }
}

/// The string `key` (`name`, `version`) of `pyproject`'s `[project]` table.
fn pep621_key(
    pyproject: Option<&crate::pyproject::Pyproject>,
    key: impl Fn(&crate::pyproject::ProjectTable) -> &Option<String>,
) -> Option<String> {
    key(pyproject?.project.as_ref()?).clone()
}

/// `project`'s uv.lock (`lock`) as a table; `None`, the problem added to
/// `problems`, when it is missing, not TOML, or of another format version.
fn uv_lock_table(
    spec_file: &str,
    project: &ProjectDir<'_>,
    (lock_file, lock): (&str, Option<&[u8]>),
    problems: &mut Vec<Diagnostic>,
) -> Option<toml::Table> {
    match lock {
        None => {
            problems.push(missing_file(
                spec_file,
                project,
                LOCK_FILE,
                format!(
                    "create it with `{UV_RELOCK}` in `{}` (or pin every package with hashes in requirements.txt), and check that .dockerignore does not exclude it",
                    project.display()
                ),
            ));
            None
        }
        Some(bytes) => parse_lock(lock_file, bytes)
            .map_err(|d| problems.push(d))
            .ok(),
    }
}

/// The error for a uv.lock (`lock`, the file `lock_file` of the directory
/// `lock_dir`) that has no packages.
fn lock_without_packages((lock_file, lock_dir): (&str, &str), lock: Option<&[u8]>) -> Diagnostic {
    Diagnostic::at(
        lock_file,
        Some(key_or_start(lock, "package")),
        "the lock lists no packages (no `[[package]]` tables)",
    )
    .with_hint(format!(
        "is it a uv lock file? recreate it with `uv lock` in `{lock_dir}`"
    ))
}

/// What a checked uv.lock (`lock`, with `locked_packages` packages) tells
/// of the project `name`: the packages its venv gets, and their files.
fn uv_project_info(
    project: &ProjectDir<'_>,
    pyproject: &Pyproject,
    lock: &Lock,
    name: String,
    locked_packages: usize,
) -> ProjectInfo {
    let parsed = pyproject.parsed.as_ref();
    let (extras, groups) = project.selection.names();
    let request = crate::select::Request {
        roots: crate::select::Roots::Project(&name),
        extras: &extras,
        groups: &groups,
    };
    // One walk of the lock's graph: every package the venv gets, with the
    // environments that need it.
    let selection = crate::select::needed(lock, &request);
    let names: Option<BTreeSet<String>> = selection
        .as_ref()
        .map(|s| s.packages.iter().map(|s| s.package.name.clone()).collect());
    let version = pep621_key(parsed, |p| &p.version);
    ProjectInfo {
        git_over_ssh: git_over_ssh(lock, names.as_ref()),
        fetching: match &selection {
            Some(_) if !builds_from_source(parsed) => {
                crate::artifacts::Fetching::files(sdists_build_alone(parsed))
            }
            _ => crate::artifacts::Fetching::Nothing,
        },
        selection: selection.unwrap_or_default(),
        venv_packages: names.as_ref().map(BTreeSet::len),
        packages: names
            .map(|names| {
                pinned_versions(
                    lock.packages
                        .iter()
                        .filter(|p| names.contains(&p.name))
                        .map(|p| {
                            let version = p.version.as_deref().unwrap_or("(no version)");
                            (p.name.as_str(), version, p.at)
                        }),
                )
            })
            .unwrap_or_default(),
        locked_packages,
        ..pyproject.info(name, version, LockKind::Uv)
    }
}

/// Whether a package of `names` (every locked package, when the walk from
/// the project failed) comes from a git repository over SSH. uv writes
/// scp-like addresses (`git@host:org/repo`) as `ssh://` URLs.
fn git_over_ssh(lock: &Lock, names: Option<&BTreeSet<String>>) -> bool {
    lock.packages
        .iter()
        .filter(|package| names.is_none_or(|names| names.contains(&package.name)))
        .filter_map(|package| match &package.source {
            Some(Source::Git { url }) => Some(url),
            _ => None,
        })
        .any(|url| url.starts_with("ssh://") || url.starts_with("git+ssh://"))
}

/// The versions `pins` (name, version, where) lock, by name, and where
/// each name is first pinned.
fn pinned_versions<'a>(
    pins: impl IntoIterator<Item = (&'a str, &'a str, Position)>,
) -> BTreeMap<String, LockedPackage> {
    let mut pinned: BTreeMap<String, LockedPackage> = BTreeMap::new();
    for (name, version, at) in pins {
        pinned
            .entry(name.to_owned())
            .or_insert_with(|| LockedPackage {
                versions: BTreeSet::new(),
                at: Some(at),
            })
            .versions
            .insert(version.to_owned());
    }
    pinned
}

/// A project's files as read from the build context (`None`: missing).
#[derive(Clone, Debug)]
pub struct ProjectFiles<'a> {
    /// The project.
    pub project: ProjectDir<'a>,
    /// Its `pyproject.toml`.
    pub pyproject: Option<Vec<u8>>,
    /// Its `uv.lock`.
    pub lock: Option<Vec<u8>>,
    /// Its `poetry.lock`, the lock when there is no `uv.lock`.
    pub poetry: Option<Vec<u8>>,
    /// Its `pdm.lock`, the lock when there is neither of those (read
    /// through the plan's `other_lock_source` only then).
    pub pdm: Option<Vec<u8>>,
    /// Its `Pipfile.lock`, the lock when there is none of those (read as
    /// `pdm.lock` is).
    pub pipfile_lock: Option<Vec<u8>>,
    /// The `Pipfile` beside its `Pipfile.lock`, for the stale-lock check.
    pub pipfile: Option<Vec<u8>>,
    /// Its `pylock.toml`, the lock when there is none of those.
    pub pylock: Option<Vec<u8>>,
    /// Its `requirements.txt`, the lock when there is none of them.
    pub requirements: Option<Vec<u8>>,
    /// The files a requirements lock includes (`-r`, `-c`), by build-context
    /// path, as read so far ([`ProjectFiles::wanted_includes`]).
    pub included: crate::lock::includes::IncludedFiles,
    /// Whether it has `setup.py` or `setup.cfg` (looked for only when it
    /// has no `pyproject.toml`): a package, not an application.
    pub setup_files: bool,
    /// Whether it has `requirements.in`, ranges to lock (looked for only
    /// when it has no `pyproject.toml`).
    pub ranges: bool,
    /// The files of a uv workspace above it, by build-context path, as
    /// read so far ([`ProjectFiles::wanted_workspace`]): each ancestor
    /// directory's `pyproject.toml` and `uv.lock`, when it has no lock.
    pub workspace: crate::lock::includes::IncludedFiles,
    /// The files of the directories of its `poetry.lock`'s path
    /// dependencies, by build-context path, as read so far
    /// ([`ProjectFiles::wanted_path_dependencies`]): each one's
    /// `pyproject.toml` and `setup.py`.
    pub path_dependencies: crate::lock::includes::IncludedFiles,
}

impl<'a> ProjectFiles<'a> {
    /// The files of `project` before any is read: every one missing. Readers
    /// fill in what they find (`ProjectFiles { lock, ..ProjectFiles::new(project) }`),
    /// so that a new lock file is a field here, not an edit at each reader.
    pub fn new(project: ProjectDir<'a>) -> Self {
        Self {
            project,
            pyproject: None,
            lock: None,
            poetry: None,
            pdm: None,
            pipfile_lock: None,
            pipfile: None,
            pylock: None,
            requirements: None,
            included: Default::default(),
            setup_files: false,
            ranges: false,
            workspace: Default::default(),
            path_dependencies: Default::default(),
        }
    }
}

impl ProjectFiles<'_> {
    /// The files its requirements lock includes that are not read yet
    /// (none for another lock): the caller reads them into `included`,
    /// and asks again until none is left.
    pub fn wanted_includes(&self) -> Vec<String> {
        match self.chosen_lock() {
            (LockKind::Requirements, Some(bytes)) => std::str::from_utf8(bytes)
                .map(|text| {
                    let file = self
                        .project
                        .path(lock_file_name(&self.project, LockKind::Requirements));
                    crate::lock::includes::wanted_includes(&file, text, &self.included)
                })
                .unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    /// The lock the venv is installed from, and its bytes (`None`:
    /// missing): the one the spec names (`lock:`), else the first there
    /// is of `uv.lock`, `poetry.lock`, `pdm.lock`, `Pipfile.lock`,
    /// `pylock.toml`, `requirements.txt`.
    pub fn chosen_lock(&self) -> (LockKind, Option<&[u8]>) {
        let of = |kind: LockKind| match kind {
            LockKind::Uv => self.lock.as_deref(),
            LockKind::Poetry => self.poetry.as_deref(),
            LockKind::Pdm => self.pdm.as_deref(),
            LockKind::Pipfile => self.pipfile_lock.as_deref(),
            LockKind::Pylock => self.pylock.as_deref(),
            LockKind::Requirements => self.requirements.as_deref(),
        };
        if let Some(lock) = self.project.lock {
            let kind = LockKind::of_file(&lock.path);
            return (kind, of(kind));
        }
        [
            LockKind::Uv,
            LockKind::Poetry,
            LockKind::Pdm,
            LockKind::Pipfile,
            LockKind::Pylock,
            LockKind::Requirements,
        ]
        .into_iter()
        .find_map(|kind| Some((kind, Some(of(kind)?))))
        .unwrap_or((LockKind::Uv, None))
    }

    /// Read the files its requirements lock includes with `read` (a
    /// build-context path to its bytes, `None` when the context lacks it),
    /// round after round until every one is read.
    pub fn read_includes<E>(
        &mut self,
        mut read: impl FnMut(&str) -> Result<Option<Vec<u8>>, E>,
    ) -> Result<(), E> {
        loop {
            let wanted = self.wanted_includes();
            if wanted.is_empty() {
                return Ok(());
            }
            for path in wanted {
                let bytes = read(&path)?;
                self.included.insert(path, bytes);
            }
        }
    }

    /// Whether the caller reads the plan's `other_lock_inputs`: when
    /// the spec names a lock of their formats, or names none and the
    /// project has neither `uv.lock` nor `poetry.lock` (which come first).
    pub fn wants_other_locks(&self) -> bool {
        match self.project.lock {
            Some(lock) => matches!(
                LockKind::of_file(&lock.path),
                LockKind::Pdm | LockKind::Pipfile
            ),
            None => self.lock.is_none() && self.poetry.is_none(),
        }
    }

    /// The bytes of the lock the venv is installed from: its own, or the
    /// root's of the uv workspace it is a member of.
    pub fn lock_bytes(&self) -> Option<&[u8]> {
        self.chosen_lock().1.or_else(|| {
            workspace::find("", self)
                .and_then(Result::ok)
                .map(|root| root.lock)
        })
    }
}

/// Check a project's files: its `uv.lock`, or, when it has none, the
/// first there is of its `poetry.lock`, `pdm.lock`, `Pipfile.lock`,
/// `pylock.toml`, `requirements.txt` ([`ProjectFiles::chosen_lock`]). A
/// directory without `pyproject.toml` is an application, or a legacy
/// package with `setup.py`/`setup.cfg` (see [`application`]).
pub fn check_files(spec_file: &str, files: &ProjectFiles<'_>) -> Result<ProjectInfo, Diagnostics> {
    if files.pyproject.is_none() {
        return application::check(spec_file, files);
    }
    if let Some(named) = files.project.lock {
        return check_named_lock(spec_file, files, named);
    }
    if let Some(root) = workspace::find(spec_file, files) {
        return workspace::check_member(spec_file, files, &root?);
    }
    match files.chosen_lock() {
        (LockKind::Uv, _) | (_, None) => check(
            spec_file,
            &files.project,
            files.pyproject.as_deref(),
            files.lock.as_deref(),
        )
        .and_then(|info| workspace::at_root(files, info)),
        (kind, Some(bytes)) => check_pinned(spec_file, files, kind, bytes)
            .and_then(|info| path_dependencies::check(files, info)),
    }
}

/// Check a project whose lock the spec names (`lock:`, `named`): that
/// file, of the format its name says, or an error at the `lock` key when
/// the build context lacks it.
fn check_named_lock(
    spec_file: &str,
    files: &ProjectFiles<'_>,
    named: &crate::spec::LockFile,
) -> Result<ProjectInfo, Diagnostics> {
    let project = &files.project;
    match files.chosen_lock() {
        (_, None) => Err(Diagnostics(vec![named_lock_missing(
            spec_file, project, named,
        )])),
        (LockKind::Uv, lock) => check(spec_file, project, files.pyproject.as_deref(), lock),
        (kind, Some(bytes)) => check_pinned(spec_file, files, kind, bytes)
            .and_then(|info| path_dependencies::check(files, info)),
    }
}

/// The error for the lock the spec names (`lock:`, `named`) when the
/// build context lacks it, at the spec's `lock` key.
fn named_lock_missing(
    spec_file: &str,
    project: &ProjectDir<'_>,
    named: &crate::spec::LockFile,
) -> Diagnostic {
    Diagnostic::at(
        spec_file,
        named.at,
        format!(
            "`{}` not found in the build context ({} `{}`, `lock: {}`)",
            project.path(&named.path),
            project.owner_kind,
            project.owner,
            named.path
        ),
    )
    .with_hint(format!(
        "`lock` is relative to the project directory `{}`; a file `.dockerignore` excludes is not in the context either",
        project.display()
    ))
}

/// The command that writes `uv.lock` anew, run in the project's directory
/// (`tests/relock_hints.rs` runs it).
pub const UV_RELOCK: &str = "uv lock";

/// The hint for a project without `pyproject.toml`.
const MISSING_PYPROJECT_HINT: &str =
    "`project` must name the directory that holds pyproject.toml, relative to the build context";

/// A file of `project` (`file`, in its directory) that the build context
/// lacks, reported at the `project` key of the spec `spec_file`.
fn missing_file(
    spec_file: &str,
    project: &ProjectDir<'_>,
    file: &str,
    hint: impl Into<String>,
) -> Diagnostic {
    Diagnostic::at(
        spec_file,
        project.at,
        format!(
            "`{}` not found in the build context ({} `{}`, project `{}`)",
            project.path(file),
            project.owner_kind,
            project.owner,
            project.display()
        ),
    )
    .with_hint(hint)
}

/// Check a project whose lock pins packages one by one (`kind`, its bytes
/// `lock`): every package pinned with hashes, and the lock not out of date
/// with the dependencies pyproject.toml declares, in any environment the
/// lock may have been made for ([`contradicted_dependencies`]); a
/// Pipfile.lock, with its Pipfile instead ([`stale_pipfile_lock`]), and
/// without pyproject.toml (an application that is not a package, named
/// after the service or tier that installs it).
fn check_pinned(
    spec_file: &str,
    files: &ProjectFiles<'_>,
    kind: LockKind,
    bytes: &[u8],
) -> Result<ProjectInfo, Diagnostics> {
    let project = &files.project;
    let lock = (bytes, &files.included);
    let mut problems: Vec<Diagnostic> =
        unselectable(spec_file, project, kind).into_iter().collect();
    // Without pyproject.toml, the lock is still checked on its own; a
    // Pipenv project needs none.
    let pipenv_only = kind == LockKind::Pipfile && files.pyproject.is_none();
    let mut unreported = Vec::new();
    let pyproject = Pyproject::read(
        spec_file,
        project,
        files.pyproject.as_deref(),
        if pipenv_only {
            &mut unreported
        } else {
            &mut problems
        },
    );
    if matches!(kind, LockKind::Poetry | LockKind::Pdm)
        && let Some(parsed) = &pyproject.parsed
    {
        problems.extend(unknown_selection(spec_file, project, parsed));
    }
    let pinned = read_pins(
        project,
        kind,
        lock,
        pyproject.table.as_ref(),
        pyproject.parsed.as_ref(),
    )
    .unwrap_or_else(|found| {
        problems.extend(found);
        PinnedLock::default()
    });
    let metadata = pyproject.parsed.as_ref().map(ProjectMetadata::of);
    let name = metadata
        .as_ref()
        .and_then(|m| m.name.clone())
        .or_else(|| pipenv_only.then(|| project.owner.to_owned()));
    if kind == LockKind::Pipfile {
        if problems.is_empty() {
            problems.extend(stale_pipfile_lock(
                project,
                files.pipfile.as_deref(),
                &pinned.pins,
            ));
        }
    } else if pyproject.table.is_some() && name.is_none() {
        problems.push(pyproject.without_name(
            "pybase installs PEP 621 projects (or Poetry's, `[tool.poetry]`): add `[project]` with `name`, `version` and `dependencies`",
        ));
    }
    if problems.is_empty()
        && kind != LockKind::Pipfile
        && let Some(metadata) = &metadata
    {
        problems.extend(out_of_date_pins(
            project,
            kind,
            metadata,
            &pinned.pins,
            &pinned.selection.local_projects,
        ));
    }
    match (problems.is_empty(), name) {
        (true, Some(name)) => {
            let version = metadata.and_then(|m| m.version);
            Ok(pinned_project_info(&pyproject, kind, name, version, pinned))
        }
        _ => Err(Diagnostics(problems)),
    }
}

/// The error for the extras or groups the spec selects of `project` (at
/// the first one) when its lock (`kind`) pins one set of packages: any
/// lock but Poetry's and PDM's, which record every group and extra.
fn unselectable(spec_file: &str, project: &ProjectDir<'_>, kind: LockKind) -> Option<Diagnostic> {
    if matches!(kind, LockKind::Poetry | LockKind::Pdm) {
        return None;
    }
    if kind == LockKind::Pipfile {
        return unselectable_in_pipfile(spec_file, project);
    }
    let selection = &project.selection;
    let first = selection.extras.iter().chain(&selection.groups).next()?;
    let message = format!(
        "`{}` selects extras or groups of `{}`, but {} pins one set of packages (it has no uv.lock or poetry.lock)",
        project.owner,
        project.display(),
        lock_file_name(project, kind)
    );
    Some(
        Diagnostic::at(spec_file, first.at, message)
        .with_hint(format!(
            "export the lock with them instead (`{}`) and drop `extras`/`groups`, or keep uv.lock or poetry.lock in `{}`",
            crate::requirements::export_selected(
                lock_file_name(project, kind),
                project.selection.extras.iter().map(|e| e.name.as_str()),
                project.selection.groups.iter().map(|g| g.name.as_str()),
            ),
            project.display()
        )),
    )
}

/// The error for the first extra, or group other than `develop` (or
/// `dev`, its alias), the spec selects of a `project` locked by Pipenv: a
/// Pipfile.lock has its `default` section, always installed, and its
/// `develop` section, and an extra's packages are in the section that asks
/// for it.
fn unselectable_in_pipfile(spec_file: &str, project: &ProjectDir<'_>) -> Option<Diagnostic> {
    let selection = &project.selection;
    let groups = selection
        .groups
        .iter()
        .filter(|g| !PIPFILE_DEVELOP.contains(&g.name.as_str()));
    let first = selection.extras.iter().chain(groups).next()?;
    Some(
        Diagnostic::at(
            spec_file,
            first.at,
            format!(
                "`{}` selects `{}` of `{}`, but {} has the sections `default` (always installed) and `develop` alone",
                project.owner,
                first.name,
                project.display(),
                lock_file_name(project, LockKind::Pipfile)
            ),
        )
        .with_hint("select the group `develop` (or `dev`) for the Pipfile's [dev-packages]; an extra's packages are in the section of the package that asks for it"),
    )
}

/// The spec's group names that select a Pipfile.lock's `develop` section.
const PIPFILE_DEVELOP: [&str; 2] = ["develop", "dev"];

/// The errors for the packages `pipfile` (the Pipfile beside `project`'s
/// Pipfile.lock; no check without one) declares in its `[packages]` (and
/// `[dev-packages]`, when the spec selects `develop`) that the lock's
/// `pins` contradict, each at its line: not pinned, or pinned at a version
/// its specifier excludes. Names are compared, not `_meta.hash`, which
/// pybase does not reproduce.
fn stale_pipfile_lock(
    project: &ProjectDir<'_>,
    pipfile: Option<&[u8]>,
    pins: &[crate::requirements::Pin],
) -> Vec<Diagnostic> {
    use crate::lock::pipfile::{PIPFILE, PIPFILE_RELOCK};
    let Some(text) = pipfile.and_then(|b| std::str::from_utf8(b).ok()) else {
        return Vec::new();
    };
    let lock_file = lock_file_name(project, LockKind::Pipfile);
    let beside = lock_file
        .rsplit_once('/')
        .map_or(String::new(), |(dir, _)| format!("{dir}/"));
    let file = project.path(&format!("{beside}{PIPFILE}"));
    let develop = project
        .selection
        .groups
        .iter()
        .any(|g| PIPFILE_DEVELOP.contains(&g.name.as_str()));
    let declared = match crate::lock::pipfile::declared(&file, text, develop) {
        Ok(declared) => declared,
        Err(problem) => return vec![problem],
    };
    let hint = format!(
        "regenerate {lock_file} in `{}` (`{PIPFILE_RELOCK}`)",
        project.display()
    );
    let dependencies: Vec<Dependency> = declared
        .iter()
        .map(|d| Dependency {
            name: normalize_name(&d.name),
            at: Some(d.at),
            specifiers: d.specifier.as_deref().and_then(|s| s.parse().ok()),
            marker: pep508_rs::MarkerTree::TRUE,
        })
        .collect();
    // The name as the Pipfile writes it, for the message.
    let written = |dependency: &Dependency| {
        declared
            .iter()
            .find(|d| Some(d.at) == dependency.at)
            .map_or_else(|| dependency.name.clone(), |d| d.name.clone())
    };
    contradicted_dependencies(&dependencies, pins)
        .into_iter()
        .map(|contradiction| {
            let (dependency, message) = match contradiction {
                Contradiction::Unpinned(d) => (d, format!(
                    "`{}` is in the Pipfile but {lock_file} does not pin it: the lock is out of date",
                    written(d)
                )),
                Contradiction::Excluded(d, specifiers, version) => (d, format!(
                    "the Pipfile asks for `{}{specifiers}` but {lock_file} pins {version}: the lock is out of date",
                    written(d)
                )),
            };
            Diagnostic::at(&file, dependency.at, message).with_hint(hint.clone())
        })
        .collect()
}

/// What a lock of pins gives: its pins, and what its format adds.
#[derive(Default)]
struct PinnedLock {
    /// Every package pinned.
    pins: Vec<crate::requirements::Pin>,
    /// The requirements locks a poetry.lock translates into.
    translated: Vec<crate::poetry::IndexRequirements>,
    /// Its packages, each where its marker holds.
    selection: crate::select::Selection,
    /// Which of their files BuildKit fetches (a pylock.toml's).
    fetching: crate::artifacts::Fetching,
}

/// Read `project`'s lock of pins (`kind`, its bytes `lock`), with its
/// `pyproject` table and `parsed` pyproject.toml when it has one; every
/// problem found when it fails.
fn read_pins(
    project: &ProjectDir<'_>,
    kind: LockKind,
    (lock, included): (&[u8], &crate::lock::includes::IncludedFiles),
    pyproject: Option<&toml::Table>,
    parsed: Option<&crate::pyproject::Pyproject>,
) -> Result<PinnedLock, Vec<Diagnostic>> {
    let file = project.path(lock_file_name(project, kind));
    let Ok(text) = std::str::from_utf8(lock) else {
        return Err(vec![Diagnostic::at(
            &file,
            Some(Position::START),
            "the file is not valid UTF-8",
        )]);
    };
    match kind {
        LockKind::Pylock => read_pylock(&file, text, pyproject),
        LockKind::Poetry => read_poetry_lock(project, &file, text, parsed),
        LockKind::Pdm => read_pdm_lock(project, &file, text),
        LockKind::Pipfile => read_pipfile_lock(project, &file, text),
        _ => crate::lock::includes::read_including(&file, text, project.require_hashes, included)
            .map(|flattened| PinnedLock {
                pins: crate::requirements::pins(&flattened.lock),
                selection: every_package(&flattened.lock),
                // With includes, one file of every requirement pinned.
                translated: flattened
                    .text
                    .map(|text| crate::poetry::IndexRequirements { index: None, text })
                    .into_iter()
                    .collect(),
                ..PinnedLock::default()
            }),
    }
}

/// Read a pylock.toml (`file`, its `text`): its pins, and, when it reads
/// as a lock, its artifacts and the files to fetch.
fn read_pylock(
    file: &str,
    text: &str,
    pyproject: Option<&toml::Table>,
) -> Result<PinnedLock, Vec<Diagnostic>> {
    let lock = crate::lock::pylock::read_installable(file, text)?;
    Ok(PinnedLock {
        pins: crate::requirements::pins(&lock),
        selection: every_package(&lock),
        fetching: crate::artifacts::Fetching::files(sdists_build_alone_in(pyproject)),
        translated: Vec::new(),
    })
}

/// What the venv gets from a lock of pins: every package, where its
/// marker holds.
fn every_package(lock: &Lock) -> crate::select::Selection {
    crate::select::needed(lock, &crate::select::Request::EVERY_PACKAGE).unwrap_or_default()
}

/// Read `project`'s poetry.lock (`file`, its `text`) for the groups and
/// extras the spec selects, from the roots `pyproject` declares.
fn read_poetry_lock(
    project: &ProjectDir<'_>,
    file: &str,
    text: &str,
    pyproject: Option<&crate::pyproject::Pyproject>,
) -> Result<PinnedLock, Vec<Diagnostic>> {
    let names = |selected: &[crate::spec::Selected]| -> Vec<String> {
        selected.iter().map(|s| s.name.clone()).collect()
    };
    let groups = names(&project.selection.groups);
    let extras = names(&project.selection.extras);
    let roots = pyproject
        .map(|pyproject| crate::poetry::roots(pyproject, &groups, &extras))
        .unwrap_or_default();
    crate::poetry::parse(file, text, &groups, &extras, &roots).map(|parsed| PinnedLock {
        pins: parsed.pins,
        translated: parsed.requirements,
        selection: parsed.selection,
        fetching: crate::artifacts::Fetching::Nothing,
    })
}

/// Read `project`'s pdm.lock (`file`, its `text`): the packages of the
/// `default` group and of the groups and extras the spec selects (PDM
/// locks an extra as a group of its name).
fn read_pdm_lock(
    project: &ProjectDir<'_>,
    file: &str,
    text: &str,
) -> Result<PinnedLock, Vec<Diagnostic>> {
    let lock = crate::lock::pdm::read(file, text).map_err(|problem| vec![problem])?;
    let selection = &project.selection;
    let groups: Vec<String> = std::iter::once("default".to_owned())
        .chain(
            selection
                .groups
                .iter()
                .chain(&selection.extras)
                .map(|s| normalize_name(&s.name)),
        )
        .collect();
    let hint = format!("regenerate it: `{}`", crate::lock::pdm::PDM_RELOCK);
    // A group pyproject.toml declares but the lock was written without
    // (`pdm lock --group`): its packages would be silently missing.
    if let Some((locked, at)) = crate::lock::pdm::locked_groups(text) {
        let locked: Vec<String> = locked.iter().map(|g| normalize_name(g)).collect();
        let unlocked: Vec<Diagnostic> =
            groups
                .iter()
                .filter(|group| !locked.contains(group))
                .map(|group| {
                    Diagnostic::at(file, Some(at), format!(
                    "`{}` selects `{group}`, but the lock was written without it (it locks {})",
                    project.owner,
                    locked.join(", ")
                ))
                .with_hint(format!("lock every group: `{}`", crate::lock::pdm::PDM_RELOCK))
                })
                .collect();
        if !unlocked.is_empty() {
            return Err(unlocked);
        }
    }
    crate::grouped::translate(&lock, &groups, &hint).map(|translated| PinnedLock {
        pins: translated.pins,
        translated: translated.requirements,
        selection: translated.selection,
        fetching: crate::artifacts::Fetching::Nothing,
    })
}

/// Read `project`'s Pipfile.lock (`file`, its `text`): its `default`
/// section, and its `develop` section when the spec selects that group (or
/// `dev`).
fn read_pipfile_lock(
    project: &ProjectDir<'_>,
    file: &str,
    text: &str,
) -> Result<PinnedLock, Vec<Diagnostic>> {
    let lock = crate::lock::pipfile::read(file, text).map_err(|problem| vec![problem])?;
    let mut sections = vec!["default".to_owned()];
    if project
        .selection
        .groups
        .iter()
        .any(|g| PIPFILE_DEVELOP.contains(&g.name.as_str()))
    {
        sections.push("develop".to_owned());
    }
    let hint = format!("regenerate it: `{}`", crate::lock::pipfile::PIPFILE_RELOCK);
    crate::grouped::translate(&lock, &sections, &hint).map(|translated| PinnedLock {
        pins: translated.pins,
        translated: translated.requirements,
        selection: translated.selection,
        fetching: crate::artifacts::Fetching::Nothing,
    })
}

/// The errors for the dependencies pyproject.toml (read as `metadata`)
/// declares that the `pins` of `project`'s lock (`kind`) and the versions
/// of its `local` projects (a poetry.lock's path dependencies, code rather
/// than pins) contradict, each at its line.
fn out_of_date_pins(
    project: &ProjectDir<'_>,
    kind: LockKind,
    metadata: &ProjectMetadata,
    pins: &[crate::requirements::Pin],
    local: &[Package],
) -> Vec<Diagnostic> {
    let local_pins: Vec<crate::requirements::Pin> = local
        .iter()
        .filter_map(|package| {
            Some(crate::requirements::Pin {
                name: package.name.clone(),
                version: package.version.clone()?,
                at: package.at,
            })
        })
        .collect();
    let pins = &[pins, &local_pins].concat();
    let hint = format!(
        "regenerate {} in `{}` (`{}`)",
        lock_file_name(project, kind),
        project.display(),
        kind.relock_commands().join("` or `")
    );
    let file = project.path(PYPROJECT_FILE);
    let lock_file = lock_file_name(project, kind);
    contradicted_dependencies(&metadata.dependencies, pins)
        .into_iter()
        .map(|contradiction| {
            let (dependency, message) = match contradiction {
                Contradiction::Unpinned(dependency) => (
                    dependency,
                    format!(
                        "`{}` is a dependency in pyproject.toml but {lock_file} does not pin it: the lock is out of date",
                        dependency.name,
                    ),
                ),
                Contradiction::Excluded(dependency, specifiers, version) => (
                    dependency,
                    format!(
                        "pyproject.toml asks for `{}{specifiers}` but {lock_file} pins {version}: the lock is out of date",
                        dependency.name,
                    ),
                ),
            };
            Diagnostic::at(&file, dependency.at, message).with_hint(hint.clone())
        })
        .collect()
}

/// What a checked lock of pins (`kind`, read as `pinned`) tells of the
/// project `name`: every package it pins goes into the venv.
fn pinned_project_info(
    pyproject: &Pyproject,
    kind: LockKind,
    name: String,
    version: Option<String>,
    pinned: PinnedLock,
) -> ProjectInfo {
    let packages = pinned_versions(
        pinned
            .pins
            .iter()
            .map(|pin| (pin.name.as_str(), pin.version.as_str(), pin.at)),
    );
    ProjectInfo {
        locked_packages: pinned.pins.len(),
        venv_packages: Some(packages.len()),
        packages,
        translated_locks: pinned.translated,
        selection: pinned.selection,
        // Git sources are refused in locks of pins.
        git_over_ssh: false,
        fetching: pinned.fetching,
        ..pyproject.info(name, version, kind)
    }
}

/// How a lock of pins contradicts a declared dependency.
enum Contradiction<'a> {
    /// No version of it is pinned, and every environment needs it.
    Unpinned(&'a Dependency),
    /// Its specifiers exclude a pinned version that no environment allows.
    Excluded(&'a Dependency, &'a pep440_rs::VersionSpecifiers, &'a str),
}

/// Where the lock `pins` contradicts `dependencies`, in their order.
///
/// The lock was made for environments pybase does not know yet (the base
/// image is resolved later), so only what is wrong in *every* environment
/// is reported. A name no version of which is pinned, when its
/// declarations' markers together always hold (one is unconditional, or
/// `numpy>=2; python_version >= '3.10'` with `numpy<2; python_version <
/// '3.10'`): `tomli; python_version < '3.11'` may be absent from a lock
/// made for 3.12. A pinned version, when no environment lets every
/// declaration of the name whose marker holds there allow it (each one
/// excluding it is reported): `numpy==2.1.0` fits the split above, and
/// `numpy==1.26.4` fits `numpy>=2; python_version >= '3.10'` alone, since a
/// lock made for 3.9 may pin it for another package.
fn contradicted_dependencies<'a>(
    dependencies: &'a [Dependency],
    pins: &'a [crate::requirements::Pin],
) -> Vec<Contradiction<'a>> {
    let mut contradictions = Vec::new();
    for dependency in dependencies {
        let declarations = || dependencies.iter().filter(|d| d.name == dependency.name);
        let mut versions = pins
            .iter()
            .filter(|pin| pin.name == dependency.name)
            .map(|pin| pin.version.as_str())
            .peekable();
        if versions.peek().is_none() {
            let mut needed = pep508_rs::MarkerTree::FALSE;
            declarations().for_each(|d| needed.or(d.marker.clone()));
            if needed.is_true() {
                contradictions.push(Contradiction::Unpinned(dependency));
            }
            continue;
        }
        let Some(specifiers) = &dependency.specifiers else {
            continue;
        };
        let excludes = |d: &Dependency, version: &pep440_rs::Version| {
            d.specifiers.as_ref().is_some_and(|s| !s.contains(version))
        };
        let nowhere_allowed = versions.find(|written| {
            written.parse::<pep440_rs::Version>().is_ok_and(|version| {
                let mut allowed = pep508_rs::MarkerTree::TRUE;
                declarations()
                    .filter(|d| excludes(d, &version))
                    .for_each(|d| allowed.and(d.marker.negate()));
                excludes(dependency, &version) && allowed.is_false()
            })
        });
        if let Some(version) = nowhere_allowed {
            contradictions.push(Contradiction::Excluded(dependency, specifiers, version));
        }
    }
    contradictions
}

/// Check the projects an image stacks, root first (a target's
/// `projects`, from the plan): each one's files, then that
/// none pins a package at another version than one below it.
pub fn check_stack(
    spec_file: &str,
    stack: &[ProjectFiles<'_>],
) -> Result<Vec<ProjectInfo>, Diagnostics> {
    let mut problems = Vec::new();
    let mut infos = Vec::new();
    for files in stack {
        match check_files(spec_file, files) {
            Ok(info) => infos.push(info),
            Err(Diagnostics(found)) => problems.extend(found),
        }
    }
    if !problems.is_empty() {
        return Err(Diagnostics(problems));
    }
    for (index, (files, info)) in stack.iter().zip(&infos).enumerate().skip(1) {
        let lower: Vec<Layered<'_>> = stack
            .iter()
            .zip(&infos)
            .take(index)
            .map(|(f, i)| Layered {
                project: f.project,
                info: i,
            })
            .collect();
        if let Err(Diagnostics(found)) = check_conflicts(
            &lower,
            &Layered {
                project: files.project,
                info,
            },
        ) {
            problems.extend(found);
        }
    }
    if problems.is_empty() {
        Ok(infos)
    } else {
        Err(Diagnostics(problems))
    }
}

/// A project whose venv is installed on top of lower ones (a tier's, or a
/// service's on its tier), with what its lock pins.
#[derive(Clone, Copy, Debug)]
pub struct Layered<'a> {
    /// The project.
    pub project: ProjectDir<'a>,
    /// What its checks learned.
    pub info: &'a ProjectInfo,
}

/// Packages that `upper` locks at another version than a project below it
/// (`lower`, root first): each is an error, since installing it would
/// replace the tier's copy in a layer above, leaving both in the image.
/// The same version is no conflict: it is not installed again.
pub fn check_conflicts(lower: &[Layered<'_>], upper: &Layered<'_>) -> Result<(), Diagnostics> {
    let mut problems = Vec::new();
    for (name, pinned) in &upper.info.packages {
        for below in lower {
            let Some(theirs) = below.info.packages.get(name) else {
                continue;
            };
            if theirs.versions != pinned.versions {
                let list = |v: &BTreeSet<String>| v.iter().cloned().collect::<Vec<_>>().join(", ");
                problems.push(
                    Diagnostic::at(
                        &upper.info.lock_path(&upper.project),
                        pinned.at,
                        format!(
                            "`{name}` is locked at {} here but at {} in {} of the {} `{}`, which {} `{}` builds on",
                            list(&pinned.versions),
                            list(&theirs.versions),
                            below.info.lock_path(&below.project),
                            below.project.owner_kind,
                            below.project.owner,
                            upper.project.owner_kind,
                            upper.project.owner,
                        ),
                    )
                    .with_hint(if upper.info.application {
                        // An application's lock is its only list of
                        // dependencies.
                        format!(
                            "a {} must not override its tier's packages: pin `{name}` to {} in {} (or drop it and use the tier's)",
                            upper.project.owner_kind,
                            list(&theirs.versions),
                            upper.project.path(upper.info.lock.file_name()),
                        )
                    } else {
                        format!(
                            "a {} must not override its tier's packages: pin `{name}` to {} in {} (or drop it and use the tier's), then run `uv lock` in `{}`",
                            upper.project.owner_kind,
                            list(&theirs.versions),
                            upper.project.path(PYPROJECT_FILE),
                            upper.project.display(),
                        )
                    }),
                );
            }
            break;
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Diagnostics(problems))
    }
}

/// A uv.lock that was not written for this `pyproject.toml`: one that
/// does not lock the project `name` (renamed since, or another project's
/// lock), or whose record of the project's dependencies differs from
/// pyproject's ([`stale_dependencies`]). `uv sync --locked` would refuse
/// it in the venv step; this says so before anything builds, at the line
/// to look at.
fn stale_lock(
    project: &ProjectDir<'_>,
    lock_dir: &str,
    pyproject: &crate::pyproject::Pyproject,
    lock: &Lock,
    name: &str,
) -> Vec<Diagnostic> {
    let file = project.path(PYPROJECT_FILE);
    let hint = format!("run `uv lock` in `{lock_dir}` and commit the new uv.lock");
    let wanted = normalize_name(name);
    if let Some(root) = lock.packages.iter().find(|p| p.name == wanted) {
        return stale_dependencies(&file, pyproject, root, name, &hint);
    }
    if lock.packages.is_empty() {
        // Reported as a lock without packages.
        return Vec::new();
    }
    // The project as uv locks it: its source is the lock's own directory.
    let locked_root = lock.packages.iter().find(|package| package.is_lock_root());
    let message = match locked_root {
        Some(package) => {
            let old = &package.written_name;
            let where_locked = format!("{}:{}:{}", lock.file, package.at.line, package.at.column);
            format!(
                "pyproject.toml names the project `{name}`, but uv.lock locks it as `{old}` ({where_locked}): the lock is out of date"
            )
        }
        None => format!(
            "uv.lock does not lock the project `{name}`: the lock is out of date, or was written for another project"
        ),
    };
    let at = pyproject.spans.name.or(pyproject.spans.project);
    vec![Diagnostic::at(&file, at, message).with_hint(hint)]
}

/// A lock that no longer matches `pyproject.toml`: a dependency added to
/// `[project]` (or its optional dependencies) but not locked, or locked but
/// no longer declared. Only *names* are compared, against the lock's record
/// of the project's `requires-dist` (in `root`, the project's package in
/// the lock), so uv's own spelling of specifiers and markers can never
/// cause a false alarm; a changed version specifier is left to `uv sync
/// --locked`, which fails the build with uv's explanation. Dynamic
/// dependencies are not checked.
fn stale_dependencies(
    file: &str,
    pyproject: &crate::pyproject::Pyproject,
    root: &Package,
    project: &str,
    hint: &str,
) -> Vec<Diagnostic> {
    let Some(table) = &pyproject.project else {
        return Vec::new();
    };
    let dynamic = table
        .dynamic
        .iter()
        .any(|v| matches!(v.as_str(), "dependencies" | "optional-dependencies"));
    let Some(locked) = locked_requirements(root).filter(|_| !dynamic) else {
        return Vec::new();
    };
    let root = normalize_name(project);
    // Every requirement string of `[project]`, with its name.
    let mut declared: Vec<(&str, String)> = Vec::new();
    let mut lists = vec![table.dependencies.as_deref().unwrap_or_default()];
    lists.extend(
        table
            .optional_dependencies
            .iter()
            .map(|(_, l)| l.as_slice()),
    );
    for requirement in lists.into_iter().flatten().map(String::as_str) {
        declared.push((requirement, normalize_name(requirement_name(requirement))));
    }
    let mut problems = Vec::new();
    for (requirement, name) in &declared {
        if !locked.contains(name) && *name != root {
            problems.push(
                Diagnostic::at(
                    file,
                    pyproject.spans.requirements.get(*requirement).copied(),
                    format!("`{name}` is a dependency in pyproject.toml but uv.lock does not lock it: the lock is out of date"),
                )
                .with_hint(hint),
            );
        }
    }
    let declared_names: std::collections::BTreeSet<&String> =
        declared.iter().map(|(_, n)| n).collect();
    for name in locked
        .iter()
        .filter(|n| !declared_names.contains(n) && **n != root)
    {
        problems.push(
            Diagnostic::at(
                file,
                pyproject.spans.dependencies.or(pyproject.spans.project),
                format!("uv.lock locks `{name}`, which pyproject.toml no longer declares: the lock is out of date"),
            )
            .with_hint(hint),
        );
    }
    problems
}

/// The names of the dependencies uv.lock records for the project whose
/// package in the lock is `root` (`[package.metadata] requires-dist`), or
/// `None` when the lock does not say. uv writes the table only when it is
/// not empty, so a package it locked from a source (`source = { editable
/// = "." }`) without one has no dependencies.
fn locked_requirements(root: &Package) -> Option<BTreeSet<String>> {
    match &root.requires_dist {
        None => root.source.as_ref().map(|_| BTreeSet::new()),
        Some(names) => Some(names.iter().cloned().collect()),
    }
}

/// Where a problem with `key` of a file is reported: at the key, or at the
/// start of the file when the key is absent (or the file is not text).
fn key_or_start(bytes: Option<&[u8]>, key: &str) -> Position {
    bytes
        .and_then(|b| std::str::from_utf8(b).ok())
        .and_then(|text| find_key(text, key))
        .unwrap_or(Position::START)
}

fn parse_toml(file: &str, bytes: &[u8]) -> Result<toml::Table, Diagnostic> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        Diagnostic::at(
            file,
            Some(Position::of_invalid_utf8(bytes, &e)),
            "the file is not valid UTF-8",
        )
        .with_hint("save it as UTF-8 (TOML files are UTF-8)")
    })?;
    toml::from_str::<toml::Table>(text).map_err(|error| {
        let position = Some(
            error
                .span()
                .map_or(Position::START, |span| position_of(text, span.start)),
        );
        let message = error.message().trim_end();
        let diagnostic = Diagnostic::at(file, position, format!("not valid TOML: {message}"));
        if file.ends_with(LOCK_FILE) {
            diagnostic.with_hint("uv writes this file: recreate it with `uv lock`")
        } else if message.contains("expected `inf`") || message.contains("invalid string") {
            diagnostic.with_hint("TOML strings are quoted, e.g. `name = \"inventory\"`")
        } else {
            diagnostic
        }
    })
}

/// A uv.lock's table, `file` being its name and `bytes` its content: an
/// error when it is not TOML, or of a format version pybase does not know
/// (its content is then not read, as it may mean something else).
fn parse_lock(file: &str, bytes: &[u8]) -> Result<toml::Table, Diagnostic> {
    let lock = parse_toml(file, bytes)?;
    let text = std::str::from_utf8(bytes).unwrap_or_default();
    crate::lock::uv::check_format_version(file, text)?;
    Ok(lock)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build_requires(pyproject: &[u8]) -> Option<Vec<String>> {
        crate::pyproject::Pyproject::parse(pyproject)?.build_requires()
    }
    use crate::spec::{OwnerKind, Selected, Selection};

    fn spec() -> crate::spec::Spec {
        crate::spec::parse(
            "pybase.yaml",
            b"version: 1\nservices:\n  api:\n    from: python:3.12-slim\n    project: app\n",
        )
        .expect("valid spec")
    }

    /// What `check` learns of a valid project at the spec's `app`.
    fn valid_project(pyproject: &str, lock: &str) -> ProjectInfo {
        let spec = spec();
        check(
            &spec.file,
            &spec.services["api"].project_dir(),
            Some(pyproject.as_bytes()),
            Some(lock.as_bytes()),
        )
        .expect("valid project")
    }

    fn check_text(pyproject: Option<&str>, lock: Option<&str>) -> String {
        let spec = spec();
        let service = &spec.services["api"];
        match check(
            &spec.file,
            &service.project_dir(),
            pyproject.map(str::as_bytes),
            lock.map(str::as_bytes),
        ) {
            Ok(info) => format!("ok: {info:?}"),
            Err(problems) => problems.to_string(),
        }
    }

    const PYPROJECT: &str = "[project]\nname = \"api\"\nversion = \"1\"\n";
    const LOCK: &str = "version = 1\n[[package]]\nname = \"api\"\n";

    /// The normalized names of the packages the venv gets (the project's
    /// dependencies, with the `selection`'s extras and groups); see
    /// `ProjectInfo::venv_packages`. With `unconditional`, only those every
    /// environment installs (reached along edges without a marker).
    fn venv_package_names(
        lock: &Lock,
        project: &str,
        selection: &crate::spec::Selection,
        unconditional: bool,
    ) -> Option<BTreeSet<String>> {
        let (extras, groups) = selection.names();
        let request = crate::select::Request {
            roots: crate::select::Roots::Project(project),
            extras: &extras,
            groups: &groups,
        };
        let selected = crate::select::needed(lock, &request)?;
        Some(
            selected
                .packages
                .into_iter()
                .filter(|s| !unconditional || s.needed_when.is_true())
                .map(|s| s.package.name)
                .collect(),
        )
    }

    #[test]
    fn a_missing_lock_is_reported_at_the_project_key() {
        insta::assert_snapshot!(check_text(Some(PYPROJECT), None), @"pybase.yaml:5:14: `app/uv.lock` not found in the build context (service `api`, project `app`) (hint: create it with `uv lock` in `app` (or pin every package with hashes in requirements.txt), and check that .dockerignore does not exclude it)");
    }

    #[test]
    fn a_corrupt_lock_is_reported_at_its_line() {
        insta::assert_snapshot!(check_text(Some(PYPROJECT), Some("version = 1\n[[package]\nname = 1\n")), @"app/uv.lock:2:11: not valid TOML: unclosed array table, expected `]` (hint: uv writes this file: recreate it with `uv lock`)");
    }

    #[test]
    fn the_venv_counts_runtime_dependencies_with_extras_but_not_groups() {
        let lock = r#"
version = 1
[[package]]
name = "api"
dependencies = [{ name = "Web_Kit", extra = ["fast"] }, { name = "six" }]
[package.dev-dependencies]
dev = [{ name = "pytest" }]
[[package]]
name = "web-kit"
dependencies = [{ name = "six" }]
[package.optional-dependencies]
fast = [{ name = "uvloop", marker = "sys_platform != 'win32'" }]
slow = [{ name = "nothing-else" }]
[[package]]
name = "six"
[[package]]
name = "uvloop"
[[package]]
name = "pytest"
[[package]]
name = "nothing-else"
"#;
        let table = crate::lock::uv::read("uv.lock", lock).expect("TOML");
        let none = Selection::default();
        assert_eq!(
            venv_package_names(&table, "api", &none, false).map(|n| n.len()),
            Some(3),
            "web-kit, six, uvloop"
        );
        assert_eq!(
            venv_package_names(&table, "api", &none, true).map(|n| n.len()),
            Some(2),
            "every environment's: web-kit, six (uvloop is under a marker)"
        );
        assert_eq!(venv_package_names(&table, "other", &none, false), None);
        let dev = Selection {
            groups: vec![Selected {
                name: "Dev".into(),
                at: None,
            }],
            ..Selection::default()
        };
        assert_eq!(
            venv_package_names(&table, "api", &dev, false).map(|n| n.len()),
            Some(4),
            "with the dev group: pytest too"
        );
    }

    #[test]
    fn the_venv_counts_the_projects_own_extras_when_selected() {
        let lock = r#"
version = 1
[[package]]
name = "api"
dependencies = [{ name = "six" }]
[package.optional-dependencies]
postgres = [{ name = "psycopg", extra = ["binary"] }]
[[package]]
name = "six"
[[package]]
name = "psycopg"
[package.optional-dependencies]
binary = [{ name = "psycopg-binary" }]
[[package]]
name = "psycopg-binary"
"#;
        let table = crate::lock::uv::read("uv.lock", lock).expect("TOML");
        let postgres = Selection {
            extras: vec![Selected {
                name: "postgres".into(),
                at: None,
            }],
            ..Selection::default()
        };
        let names =
            venv_package_names(&table, "api", &postgres, false).expect("the project is locked");
        assert_eq!(
            names.into_iter().collect::<Vec<_>>(),
            ["psycopg", "psycopg-binary", "six"]
        );
    }

    #[test]
    fn selecting_an_extra_or_group_the_project_lacks_is_an_error_at_the_spec() {
        let pyproject = crate::pyproject::Pyproject::parse(
            b"[project]\nname = \"api\"\n[project.optional-dependencies]\npostgres = []\n[dependency-groups]\nlint = []\n",
        )
        .expect("TOML");
        let selection = Selection {
            extras: vec![Selected {
                name: "postgress".into(),
                at: Some(Position {
                    line: 7,
                    column: 15,
                }),
            }],
            groups: vec![
                Selected {
                    name: "lint".into(),
                    at: None,
                },
                Selected {
                    name: "docs".into(),
                    at: Some(Position {
                        line: 8,
                        column: 15,
                    }),
                },
            ],
        };
        let project = ProjectDir {
            owner: "api",
            owner_kind: OwnerKind::Service,
            dir: "app",
            at: None,
            selection: &selection,
            require_hashes: true,
            lock: None,
        };
        let rendered: Vec<String> = unknown_selection("pybase.yaml", &project, &pyproject)
            .iter()
            .map(|d| {
                format!(
                    "{}: {} ({})",
                    d.location(),
                    d.message,
                    d.hint.clone().unwrap_or_default()
                )
            })
            .collect();
        assert_eq!(
            rendered,
            [
                "pybase.yaml:7:15: `postgress` is not in [project.optional-dependencies] of `app/pyproject.toml` (did you mean `postgres`?)",
                "pybase.yaml:8:15: `docs` is not in [dependency-groups] of `app/pyproject.toml` (`app/pyproject.toml` defines: lint)",
            ]
        );
    }

    const LOCK_WITH_METADATA: &str = r#"
version = 1
[[package]]
name = "api"
dependencies = [{ name = "six" }, { name = "idna" }]
[package.metadata]
requires-dist = [{ name = "idna", marker = "extra == 'net'" }, { name = "six", specifier = ">=1.16" }]
[[package]]
name = "six"
[[package]]
name = "idna"
"#;

    #[test]
    fn a_lock_that_matches_pyproject_passes_whatever_the_spelling() {
        let pyproject = "[project]\nname = \"API\"\nversion = \"1\"\ndependencies = [\"Six >= 1.16 ; python_version >= '3'\"]\n[project.optional-dependencies]\nnet = [\"IDNA\"]\n";
        assert!(check_text(Some(pyproject), Some(LOCK_WITH_METADATA)).starts_with("ok:"));
    }

    #[test]
    fn an_added_or_removed_dependency_makes_the_lock_stale() {
        let pyproject = "[project]\nname = \"api\"\nversion = \"1\"\ndependencies = [\n  \"six>=1.16\",\n  \"requests==2.32.3\",\n]\n";
        insta::assert_snapshot!(check_text(Some(pyproject), Some(LOCK_WITH_METADATA)), @"
        app/pyproject.toml:6:4: `requests` is a dependency in pyproject.toml but uv.lock does not lock it: the lock is out of date (hint: run `uv lock` in `app` and commit the new uv.lock)
        app/pyproject.toml:4:1: uv.lock locks `idna`, which pyproject.toml no longer declares: the lock is out of date (hint: run `uv lock` in `app` and commit the new uv.lock)
        ");
    }

    #[test]
    fn positions_in_pyproject_come_from_the_parser_not_a_search_of_the_text() {
        // The requirement's text and the keys also appear earlier, in a
        // comment and in another table: a search of the text found those.
        let pyproject = |name: &str| {
            format!(
                "# pin \"requests==2.32.3\" when the API allows\n\
                 [tool.other]\nname = \"x\"\ndependencies = []\n\
                 [project]\nname = \"{name}\"\nversion = \"1\"\n\
                 dependencies = [\"six>=1.16\", \"requests==2.32.3\"]\n"
            )
        };
        // Before, `requests` was reported in the comment (1:8), and the
        // stale `idna` at `[tool.other]`'s `dependencies` (4:1).
        insta::assert_snapshot!(check_text(Some(&pyproject("api")), Some(LOCK_WITH_METADATA)), @"
        app/pyproject.toml:8:31: `requests` is a dependency in pyproject.toml but uv.lock does not lock it: the lock is out of date (hint: run `uv lock` in `app` and commit the new uv.lock)
        app/pyproject.toml:8:1: uv.lock locks `idna`, which pyproject.toml no longer declares: the lock is out of date (hint: run `uv lock` in `app` and commit the new uv.lock)
        ");
        insta::assert_snapshot!(check_text(Some(&pyproject("renamed")), Some(LOCK_WITH_METADATA)), @"app/pyproject.toml:6:1: uv.lock does not lock the project `renamed`: the lock is out of date, or was written for another project (hint: run `uv lock` in `app` and commit the new uv.lock)");
    }

    /// What `check_files` says of `dependencies` (a TOML array's items)
    /// against a requirements.txt of `pins` (`name==version` lines, no
    /// hashes).
    fn pinned_check(dependencies: &str, pins: &str) -> String {
        let spec = spec();
        let mut project = spec.services["api"].project_dir();
        project.require_hashes = false;
        let pyproject = format!(
            "[project]\nname = \"api\"\nversion = \"1\"\ndependencies = [{dependencies}]\n"
        );
        let files = ProjectFiles {
            pyproject: Some(pyproject.into_bytes()),
            requirements: Some(pins.as_bytes().to_vec()),
            ..ProjectFiles::new(project)
        };
        match check_files(&spec.file, &files) {
            Ok(_) => "ok".to_owned(),
            Err(problems) => problems.to_string(),
        }
    }

    #[test]
    fn a_dependency_whose_marker_was_false_where_the_lock_was_made_may_be_unpinned() {
        // Locked for Python 3.12: tomli is not needed there.
        assert_eq!(
            pinned_check(
                "\"six\", \"tomli; python_version < '3.11'\"",
                "six==1.17.0\n"
            ),
            "ok"
        );
        // Only an extra brings it: not part of the base set.
        assert_eq!(
            pinned_check("\"six\", \"idna; extra == 'net'\"", "six==1.17.0\n"),
            "ok"
        );
    }

    #[test]
    fn a_dependency_every_environment_needs_must_be_pinned() {
        insta::assert_snapshot!(pinned_check("\"six\", \"tomli\"", "six==1.17.0\n"), @"app/pyproject.toml:4:25: `tomli` is a dependency in pyproject.toml but requirements.txt does not pin it: the lock is out of date (hint: regenerate requirements.txt in `app` (`uv export --format requirements-txt --no-default-groups --no-emit-project --output-file requirements.txt` or `pip-compile --generate-hashes --output-file requirements.txt pyproject.toml`))");
        // Declared for every Python, in two halves.
        insta::assert_snapshot!(
            pinned_check(
                "\"six\", \"numpy>=2; python_version >= '3.10'\", \"numpy<2; python_version < '3.10'\"",
                "six==1.17.0\n"
            ),
            @"
        app/pyproject.toml:4:25: `numpy` is a dependency in pyproject.toml but requirements.txt does not pin it: the lock is out of date (hint: regenerate requirements.txt in `app` (`uv export --format requirements-txt --no-default-groups --no-emit-project --output-file requirements.txt` or `pip-compile --generate-hashes --output-file requirements.txt pyproject.toml`))
        app/pyproject.toml:4:63: `numpy` is a dependency in pyproject.toml but requirements.txt does not pin it: the lock is out of date (hint: regenerate requirements.txt in `app` (`uv export --format requirements-txt --no-default-groups --no-emit-project --output-file requirements.txt` or `pip-compile --generate-hashes --output-file requirements.txt pyproject.toml`))
        "
        );
    }

    #[test]
    fn a_pin_is_checked_only_against_the_declarations_whose_markers_can_hold_with_it() {
        let split = "\"numpy>=2; python_version >= '3.10'\", \"numpy<2; python_version < '3.10'\"";
        assert_eq!(pinned_check(split, "numpy==2.1.0\n"), "ok");
        assert_eq!(pinned_check(split, "numpy==1.26.4\n"), "ok");
        // Made for a Python where only something else needs numpy.
        assert_eq!(
            pinned_check("\"numpy>=2; python_version >= '3.10'\"", "numpy==1.26.4\n"),
            "ok"
        );
    }

    #[test]
    fn a_pin_no_environment_allows_is_outside_the_declarations() {
        insta::assert_snapshot!(pinned_check("\"numpy>=2\"", "numpy==1.26.4\n"), @"app/pyproject.toml:4:18: pyproject.toml asks for `numpy>=2` but requirements.txt pins 1.26.4: the lock is out of date (hint: regenerate requirements.txt in `app` (`uv export --format requirements-txt --no-default-groups --no-emit-project --output-file requirements.txt` or `pip-compile --generate-hashes --output-file requirements.txt pyproject.toml`))");
        // Each half excludes it where it holds, and the halves cover every
        // Python.
        insta::assert_snapshot!(
            pinned_check(
                "\"numpy>=2; python_version >= '3.10'\", \"numpy>=1.20; python_version < '3.10'\"",
                "numpy==1.19.5\n"
            ),
            @"
        app/pyproject.toml:4:18: pyproject.toml asks for `numpy>=2` but requirements.txt pins 1.19.5: the lock is out of date (hint: regenerate requirements.txt in `app` (`uv export --format requirements-txt --no-default-groups --no-emit-project --output-file requirements.txt` or `pip-compile --generate-hashes --output-file requirements.txt pyproject.toml`))
        app/pyproject.toml:4:56: pyproject.toml asks for `numpy>=1.20` but requirements.txt pins 1.19.5: the lock is out of date (hint: regenerate requirements.txt in `app` (`uv export --format requirements-txt --no-default-groups --no-emit-project --output-file requirements.txt` or `pip-compile --generate-hashes --output-file requirements.txt pyproject.toml`))
        "
        );
        // The unconditional declaration excludes it wherever the other holds.
        insta::assert_snapshot!(
            pinned_check("\"six>=1.18\", \"six<1.18; python_version < '3.8'\"", "six==1.17.0\n"),
            @"app/pyproject.toml:4:18: pyproject.toml asks for `six>=1.18` but requirements.txt pins 1.17.0: the lock is out of date (hint: regenerate requirements.txt in `app` (`uv export --format requirements-txt --no-default-groups --no-emit-project --output-file requirements.txt` or `pip-compile --generate-hashes --output-file requirements.txt pyproject.toml`))"
        );
    }

    #[test]
    fn a_lock_of_the_project_under_its_old_name_is_stale() {
        let pyproject = "[build-system]\nrequires = [\"hatchling\"]\n[project]\nversion = \"1\"\nname = \"new\"\n";
        let locked_as_old = |root: &str| {
            let lock = format!(
                "version = 1\nrevision = 3\n\n[[package]]\nname = \"old\"\nversion = \"1\"\nsource = {{ {root} = \".\" }}\n"
            );
            check_text(Some(pyproject), Some(&lock))
        };
        assert_eq!(locked_as_old("virtual"), locked_as_old("editable"));
        insta::assert_snapshot!(locked_as_old("editable"), @"app/pyproject.toml:5:1: pyproject.toml names the project `new`, but uv.lock locks it as `old` (app/uv.lock:5:1): the lock is out of date (hint: run `uv lock` in `app` and commit the new uv.lock)");
        // A lock with no package of the project at all.
        let foreign = "version = 1\n[[package]]\nname = \"six\"\nversion = \"1.17.0\"\n";
        insta::assert_snapshot!(check_text(Some(pyproject), Some(foreign)), @"app/pyproject.toml:5:1: uv.lock does not lock the project `new`: the lock is out of date, or was written for another project (hint: run `uv lock` in `app` and commit the new uv.lock)");
    }

    #[test]
    fn dependencies_added_to_a_project_locked_without_any_make_the_lock_stale() {
        // uv writes `[package.metadata]` only when it is not empty: a
        // project locked without dependencies has none.
        let lock = "version = 1\nrevision = 3\n[[package]]\nname = \"api\"\nversion = \"1\"\nsource = { editable = \".\" }\n";
        let pyproject =
            "[project]\nname = \"api\"\nversion = \"1\"\ndependencies = [\"six\", \"idna\"]\n";
        insta::assert_snapshot!(check_text(Some(pyproject), Some(lock)), @"
        app/pyproject.toml:4:18: `six` is a dependency in pyproject.toml but uv.lock does not lock it: the lock is out of date (hint: run `uv lock` in `app` and commit the new uv.lock)
        app/pyproject.toml:4:25: `idna` is a dependency in pyproject.toml but uv.lock does not lock it: the lock is out of date (hint: run `uv lock` in `app` and commit the new uv.lock)
        ");
        assert!(check_text(Some(PYPROJECT), Some(lock)).starts_with("ok:"));
    }

    #[test]
    fn a_lock_format_version_other_than_1_is_refused_at_its_line() {
        let lock = |version: &str| {
            format!(
                "# written by a future uv\nversion = {version}\nrevision = 1\n[[package]]\nname = \"api\"\nversion = \"1\"\nsource = {{ editable = \".\" }}\n"
            )
        };
        insta::assert_snapshot!(check_text(Some(PYPROJECT), Some(&lock("2"))), @"app/uv.lock:2:1: uv.lock's format is version 2, which this pybase does not know (it reads version 1) (hint: upgrade pybase to a release that reads uv.lock version 2, or lock with a uv that writes version 1)");
        assert!(
            check_text(Some(PYPROJECT), Some(&lock("\"1\"")))
                .contains("uv.lock's format is version \"1\"")
        );
        // A new revision of version 1 is compatible.
        assert!(check_text(Some(PYPROJECT), Some(&lock("1"))).starts_with("ok:"));
    }

    #[test]
    fn a_lock_of_pins_without_pyproject_reports_every_problem() {
        let spec = crate::spec::parse(
            "pybase.yaml",
            b"version: 1\nservices:\n  api:\n    from: python:3.12-slim\n    project: app\n    groups: [dev]\n",
        )
        .expect("valid spec");
        let files = ProjectFiles {
            requirements: Some(b"six==1.17.0 --hash=sha256:00\nidna==3.10\n".to_vec()),
            // A package of setup.py's, not an application (see
            // `application`'s tests for those).
            setup_files: true,
            ..ProjectFiles::new(spec.services["api"].project_dir())
        };
        let problems = check_files(&spec.file, &files).expect_err("refused");
        insta::assert_snapshot!(problems.to_string(), @"
        pybase.yaml:6:14: `api` selects extras or groups of `app`, a package without pyproject.toml (setup.py or setup.cfg, whose extras pybase does not read): nothing defines them (hint: drop `extras` and `groups`: app/requirements.txt pins the one set of packages the venv gets (put what the extra or group adds in it), or make `app` a project with a pyproject.toml that defines them)
        app/requirements.txt:2:1: `idna==3.10` has no `--hash`: pybase installs only artifacts whose hashes the lock records (hint: regenerate it with hashes: `uv pip compile --generate-hashes requirements.in --output-file requirements.txt`; or, to install it unverified, set `require-hashes: false` on its service or tier)
        ");
    }

    #[test]
    fn dynamic_dependencies_are_not_checked() {
        let pyproject =
            "[project]\nname = \"api\"\nversion = \"1\"\ndynamic = [\"dependencies\"]\n";
        assert!(check_text(Some(pyproject), Some(LOCK_WITH_METADATA)).starts_with("ok:"));
    }

    #[test]
    fn good_files_pass() {
        let info = valid_project(PYPROJECT, LOCK);
        let shown = format!(
            "{} {:?} locked={} venv={:?} {:?} {:?} selected={} {:?} application={}",
            info.name,
            info.version,
            info.locked_packages,
            info.venv_packages,
            info.lock,
            info.build_requires,
            info.selection.packages.len(),
            info.fetching,
            info.application,
        );
        assert_eq!(
            shown,
            "api Some(\"1\") locked=1 venv=Some(0) Uv Some([\"setuptools>=40.8.0\"]) selected=0 WheelsAndSdists application=false"
        );
        assert!(info.pyproject.is_some() && info.requires_python.is_none());
    }

    #[test]
    fn a_git_dependency_over_ssh_is_told_only_when_the_venv_gets_it() {
        let over_ssh = |deps: &str, dev: &str| {
            let pyproject = format!(
                "[project]\nname = \"api\"\nversion = \"1\"\ndependencies = [{deps}]\n[dependency-groups]\ndev = [{dev}]\n"
            );
            let lock = r#"version = 1
[[package]]
name = "api"
version = "1"
source = { editable = "." }
dependencies = [{ name = "private" }, { name = "public" }]
[package.dev-dependencies]
dev = [{ name = "tool" }]
[[package]]
name = "private"
version = "1.0.0"
source = { git = "ssh://git@git.example.com/org/private.git?rev=v1#0123456789abcdef0123456789abcdef01234567" }
[[package]]
name = "public"
version = "2.0.0"
source = { git = "https://git.example.com/org/public.git?rev=v2#0123456789abcdef0123456789abcdef01234567" }
[[package]]
name = "tool"
version = "3.0.0"
source = { git = "ssh://git@git.example.com/org/tool.git?rev=v3#0123456789abcdef0123456789abcdef01234567" }
"#
            .replace(
                "dependencies = [{ name = \"private\" }, { name = \"public\" }]",
                &format!(
                    "dependencies = [{0}]\n[package.metadata]\nrequires-dist = [{0}]",
                    deps.split(", ")
                        .filter(|d| !d.is_empty())
                        .map(|d| format!("{{ name = {d} }}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
            valid_project(&pyproject, &lock).git_over_ssh
        };
        assert!(over_ssh("\"private\", \"public\"", "\"tool\""));
        // Over HTTPS, or only in a dependency group the spec does not select.
        assert!(!over_ssh("\"public\"", "\"tool\""));
    }

    #[test]
    fn the_build_backend_requirements_come_from_build_system() {
        let requires = |text: &str| build_requires(text.as_bytes());
        assert_eq!(
            requires("[build-system]\nrequires = [\"hatchling\", \" hatch-vcs>=0.4 \"]\n"),
            Some(vec!["hatchling".to_owned(), "hatch-vcs>=0.4".to_owned()])
        );
        // No table: setuptools, as PEP 517 says.
        assert_eq!(
            requires("[project]\nname = \"a\"\n"),
            Some(vec!["setuptools>=40.8.0".to_owned()])
        );
        // What uv would read as an option, or an unreadable file: the code
        // step builds in isolation, as uv does.
        assert_eq!(
            requires("[build-system]\nrequires = [\"--index-url=https://x\"]\n"),
            None
        );
        assert_eq!(requires("[build-system]\nrequires = [1]\n"), None);
        assert_eq!(requires("[build-system\n"), None);
    }

    #[test]
    fn wheels_are_fetchable_unless_the_project_builds_from_source() {
        let lock = r#"version = 1
[[package]]
name = "api"
version = "1"
source = { editable = "." }
dependencies = [{ name = "six" }]
[package.metadata]
requires-dist = [{ name = "six" }]
[[package]]
name = "six"
version = "1.17.0"
source = { registry = "https://pypi.org/simple" }
sdist = { url = "https://files.pythonhosted.org/packages/94/e7/six-1.17.0.tar.gz", hash = "sha256:ff70335d468e7eb6ec65b95b99d3a2836546063f63acc5171de367e834932a81" }
wheels = [{ url = "https://files.pythonhosted.org/packages/b7/ce/six-1.17.0-py2.py3-none-any.whl", hash = "sha256:4721f391ed90541fddacab5acf947aa0d3dc7d27b2e1e8eda2be8970586c3274" }]
"#;
        // Each package's wheels, and whether its sdist may be built alone.
        let fetchable = |tool: &str| {
            let pyproject = format!(
                "[project]\nname = \"api\"\nversion = \"1\"\ndependencies = [\"six\"]\n{tool}"
            );
            let info = valid_project(&pyproject, lock);
            let with_sdists = match info.fetching {
                crate::artifacts::Fetching::Nothing => return None,
                fetching => fetching == crate::artifacts::Fetching::WheelsAndSdists,
            };
            let packages = info.selection.packages.iter().map(|s| {
                let p = &s.package;
                let sdist = p.sdist().filter(|_| with_sdists);
                format!(
                    "{} {}: {} wheel, sdist {:?}",
                    p.name,
                    p.version.as_deref().unwrap_or_default(),
                    p.wheels().count(),
                    sdist.and_then(|s| s.filename.as_ref())
                )
            });
            Some(packages.collect::<Vec<_>>())
        };
        assert_eq!(
            fetchable(""),
            Some(vec![
                "six 1.17.0: 1 wheel, sdist Some(\"six-1.17.0.tar.gz\")".to_owned()
            ])
        );
        assert_eq!(
            fetchable("[tool.uv]\nno-binary-package = [\"six\"]\n"),
            None
        );
        assert_eq!(fetchable("[tool.uv]\nno-binary = true\n"), None);
        // A setting that changes how uv builds an sdist: none is built
        // alone, outside the project.
        assert_eq!(
            fetchable("[tool.uv.extra-build-dependencies]\nsix = [\"wheel\"]\n"),
            Some(vec!["six 1.17.0: 1 wheel, sdist None".to_owned()])
        );
    }

    #[test]
    fn artifacts_are_checked_for_what_every_environment_installs() {
        let spec = spec();
        let service = &spec.services["api"];
        let pyproject = "[project]\nname = \"api\"\nversion = \"1\"\ndependencies = [\"six\", \"numpy\", \"pywin32; sys_platform == 'win32'\"]\n";
        let lock = r#"version = 1
[[package]]
name = "api"
version = "1"
source = { editable = "." }
dependencies = [{ name = "six" }, { name = "numpy", version = "1.24.4", source = { registry = "https://pypi.org/simple" } }, { name = "pywin32", marker = "sys_platform == 'win32'" }]
[package.metadata]
requires-dist = [{ name = "six" }, { name = "numpy" }, { name = "pywin32", marker = "sys_platform == 'win32'" }]
[[package]]
name = "six"
version = "1.17.0"
source = { registry = "https://pypi.org/simple" }
wheels = [{ url = "https://x/six-1.17.0-py2.py3-none-any.whl", hash = "sha256:00" }]
[[package]]
name = "numpy"
version = "1.24.4"
source = { registry = "https://pypi.org/simple" }
resolution-markers = ["python_full_version < '3.9'"]
wheels = [{ url = "https://x/numpy-1.24.4-cp38-cp38-manylinux_2_17_x86_64.whl", hash = "sha256:00" }]
[[package]]
name = "pywin32"
version = "308"
source = { registry = "https://pypi.org/simple" }
wheels = [{ url = "https://x/pywin32-308-cp311-cp311-win_amd64.whl", hash = "sha256:00" }]
"#;
        let info = check(
            &spec.file,
            &service.project_dir(),
            Some(pyproject.as_bytes()),
            Some(lock.as_bytes()),
        )
        .expect("valid project");
        let checked: Vec<String> = info
            .selection
            .needed_everywhere()
            .map(|s| {
                let a = &s.package;
                let wheels: Vec<_> = a.wheels().filter_map(|w| w.filename.clone()).collect();
                format!(
                    "{} {} at {:?} {wheels:?}",
                    a.name,
                    a.version.as_deref().unwrap_or_default(),
                    Some(a.at.line),
                )
            })
            .collect();
        // The twins: the fork and the one under a marker are selected all
        // the same.
        assert_eq!(info.selection.packages.len(), 3);
        assert_eq!(
            checked,
            ["six 1.17.0 at Some(10) [\"six-1.17.0-py2.py3-none-any.whl\"]"],
            "numpy's locked version is a fork, pywin32 is under a marker"
        );
    }

    #[test]
    fn a_base_python_outside_requires_python_is_an_error_at_its_line() {
        let spec = spec();
        let service = &spec.services["api"];
        let pyproject =
            "[project]\nname = \"api\"\nversion = \"1\"\n  requires-python = \">=3.12, <3.14\"\n";
        let info = check(
            &spec.file,
            &service.project_dir(),
            Some(pyproject.as_bytes()),
            Some(LOCK.as_bytes()),
        )
        .expect("valid project");
        let infos = [info];
        let verdict = |python: &str| match check_python(
            &infos,
            PythonOf::Image {
                image: "python:3.12-slim",
                python,
            },
        ) {
            Ok(()) => "ok".to_owned(),
            Err(problems) => problems.to_string(),
        };
        insta::assert_snapshot!(verdict("3.11.14"), @"app/pyproject.toml:4:3: the project needs Python >=3.12, <3.14, but the base image `python:3.12-slim` has Python 3.11.14 (its PYTHON_VERSION) (hint: build on an image whose Python satisfies requires-python (`from:` in the spec), or change requires-python and lock again)");
        assert_eq!(verdict("3.12.12"), "ok");
        assert_ne!(verdict("3.14.0"), "ok");
        assert_eq!(verdict("not a version"), "ok");
        let assumed = check_python(&infos, PythonOf::Assumed { python: "3.11" });
        insta::assert_snapshot!(assumed.map_err(|p| p.to_string()).expect_err("excluded"), @"app/pyproject.toml:4:3: the project needs Python >=3.12, <3.14, but `--python 3.11` was given (hint: build on an image whose Python satisfies requires-python (`from:` in the spec), or change requires-python and lock again)");
    }

    #[test]
    fn a_dynamic_version_from_version_control_is_recognized_by_its_backend() {
        let vcs = |pyproject: &str| {
            let parsed = crate::pyproject::Pyproject::parse(pyproject.as_bytes()).expect("toml");
            version_from_vcs("app/pyproject.toml", &parsed)
                .map(|v| format!("{} at {}:{}", v.tool, v.at.line, v.at.column))
        };
        let hatch = "[project]\nname = \"a\"\ndynamic = [\"version\"]\n[build-system]\nrequires = [\"hatchling\", \"hatch-vcs>=0.4\"]\n[tool.hatch.version]\nsource = \"vcs\"\n";
        assert_eq!(vcs(hatch).as_deref(), Some("hatch-vcs at 3:1"));
        let scm = "[project]\nname = \"a\"\n  dynamic = [\"version\", \"readme\"]\n[build-system]\nrequires = [\"setuptools>=64\", \"setuptools_scm[toml]>=8\"]\n";
        assert_eq!(vcs(scm).as_deref(), Some("setuptools_scm at 3:3"));
        // A dynamic version from a file, or a static one, needs nothing.
        let from_file = "[project]\nname = \"a\"\ndynamic = [\"version\"]\n[tool.hatch.version]\npath = \"a/__init__.py\"\n";
        assert_eq!(vcs(from_file), None);
        let fixed = "[project]\nname = \"a\"\nversion = \"1\"\n[tool.setuptools_scm]\n";
        assert_eq!(vcs(fixed), None);
    }

    fn info(project: &ProjectDir<'_>, name: &str, deps: &[(&str, &str)]) -> ProjectInfo {
        let mut lock = format!(
            "version = 1\n[[package]]\nname = \"{name}\"\nversion = \"1\"\ndependencies = [{}]\n",
            deps.iter()
                .map(|(n, _)| format!("{{ name = \"{n}\" }}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        for (dep, version) in deps {
            lock.push_str(&format!(
                "[[package]]\nname = \"{dep}\"\nversion = \"{version}\"\n"
            ));
        }
        let pyproject = format!("[project]\nname = \"{name}\"\nversion = \"1\"\n");
        check(
            "pybase.yaml",
            project,
            Some(pyproject.as_bytes()),
            Some(lock.as_bytes()),
        )
        .expect("valid project")
    }

    #[test]
    fn a_service_pinning_a_tier_package_at_another_version_conflicts() {
        let none = Selection::default();
        let tier = ProjectDir {
            owner: "python-web",
            owner_kind: OwnerKind::Tier,
            dir: "tiers/web",
            at: None,
            selection: &none,
            require_hashes: true,
            lock: None,
        };
        let service = ProjectDir {
            owner: "api",
            owner_kind: OwnerKind::Service,
            dir: "services/api",
            at: None,
            selection: &none,
            require_hashes: true,
            lock: None,
        };
        let tier_info = info(&tier, "web", &[("fastapi", "0.118.0"), ("six", "1.16.0")]);
        let same = info(&service, "api", &[("six", "1.16.0"), ("idna", "3.10")]);
        let other = info(&service, "api", &[("six", "1.17.0"), ("idna", "3.10")]);
        let lower = [Layered {
            project: tier,
            info: &tier_info,
        }];
        assert!(
            check_conflicts(
                &lower,
                &Layered {
                    project: service,
                    info: &same
                }
            )
            .is_ok()
        );
        let error = check_conflicts(
            &lower,
            &Layered {
                project: service,
                info: &other,
            },
        )
        .expect_err("six differs");
        insta::assert_snapshot!(error.to_string(), @"services/api/uv.lock:7:1: `six` is locked at 1.17.0 here but at 1.16.0 in tiers/web/uv.lock of the tier `python-web`, which service `api` builds on (hint: a service must not override its tier's packages: pin `six` to 1.16.0 in services/api/pyproject.toml (or drop it and use the tier's), then run `uv lock` in `services/api`)");
    }

    /// The spec with a service `api` at `app` whose `lock:` is `lock`.
    fn spec_with_lock(lock: &str) -> crate::spec::Spec {
        let text = format!(
            "version: 1\nservices:\n  api:\n    from: python:3.12-slim\n    project: app\n    lock: {lock}\n"
        );
        crate::spec::parse("pybase.yaml", text.as_bytes()).expect("valid spec")
    }

    #[test]
    fn a_named_pdm_or_pipfile_lock_is_read_through_the_other_locks_source() {
        let named_spec = spec_with_lock("locks/Pipfile.lock");
        let project = named_spec.services["api"].project_dir();
        // Its Pipfile beside it; the default formats' slots unchanged.
        assert_eq!(
            crate::plan::other_lock_inputs(&project),
            [
                "app/pdm.lock",
                "app/locks/Pipfile.lock",
                "app/locks/Pipfile"
            ]
        );
        assert_eq!(crate::plan::lock_inputs(&project)[1], "app/uv.lock");
        let files = |pyproject: Option<&str>, lock: Option<&str>| ProjectFiles {
            pyproject: pyproject.map(|p| p.as_bytes().to_vec()),
            pipfile_lock: lock.map(|l| l.as_bytes().to_vec()),
            ..ProjectFiles::new(project)
        };
        let named = files(None, Some("{}"));
        assert!(named.wants_other_locks());
        assert_eq!(named.chosen_lock().0, LockKind::Pipfile);
        // A Pipenv project without pyproject.toml is named after its service.
        let lock = r#"{"default": {"six": {"hashes": ["sha256:aa"], "version": "==1.17.0"}}}"#;
        let info = check_files("pybase.yaml", &files(None, Some(lock))).expect("accepted");
        assert_eq!((info.name.as_str(), info.venv_packages), ("api", Some(1)));
        let pdm = spec_with_lock("pdm.lock");
        let project = pdm.services["api"].project_dir();
        assert_eq!(crate::plan::other_lock_inputs(&project)[0], "app/pdm.lock");
        // Without `lock:`, read only when neither uv.lock nor poetry.lock is there.
        let unnamed = spec();
        let mut files = ProjectFiles {
            project: unnamed.services["api"].project_dir(),
            ..named
        };
        assert!(files.wants_other_locks());
        files.poetry = Some(Vec::new());
        assert!(!files.wants_other_locks());
    }

    #[test]
    fn a_lock_the_spec_names_is_read_in_the_format_its_name_says() {
        let spec = spec_with_lock("requirements/prod.txt");
        let project = spec.services["api"].project_dir();
        let inputs = crate::plan::lock_inputs(&project);
        assert_eq!(inputs[4], "app/requirements/prod.txt");
        // The venv's source of lock inputs holds it and pyproject alone.
        let source = crate::plan::lock_source(&project, "session", &[]);
        let definition = crate::llb::marshal::marshal(&source, None, None).expect("marshal");
        let described = crate::describe::describe(&definition).expect("decodable");
        assert!(
            described
                .to_string()
                .contains(r#"[\"app/pyproject.toml\",\"app/requirements/prod.txt\"]"#),
            "{described}"
        );
        // A uv.lock next to it is not the lock: the spec says which.
        let pyproject = "[project]\nname = \"api\"\nversion = \"1\"\ndependencies = [\"six\"]\n";
        let mut files = ProjectFiles {
            pyproject: Some(pyproject.as_bytes().to_vec()),
            lock: Some(b"not a lock [".to_vec()),
            requirements: Some(b"-r ../base.txt\n".to_vec()),
            ..ProjectFiles::new(project)
        };
        // Its includes are relative to its own directory.
        assert_eq!(files.wanted_includes(), ["app/base.txt"]);
        files.included.insert(
            "app/base.txt".to_owned(),
            Some(b"six==1.17.0 --hash=sha256:00\n".to_vec()),
        );
        let info = check_files(&spec.file, &files).expect("the named lock checks");
        assert_eq!(info.lock, LockKind::Requirements);
        assert_eq!(info.packages.keys().collect::<Vec<_>>(), ["six"]);
        // Missing: an error at the spec's `lock` key.
        files.requirements = None;
        insta::assert_snapshot!(
            check_files(&spec.file, &files).expect_err("missing").to_string(),
            @"pybase.yaml:6:11: `app/requirements/prod.txt` not found in the build context (service `api`, `lock: requirements/prod.txt`) (hint: `lock` is relative to the project directory `app`; a file `.dockerignore` excludes is not in the context either)"
        );
        // Formats by name.
        for (name, kind) in [
            ("uv.lock", LockKind::Uv),
            ("locks/poetry.lock", LockKind::Poetry),
            ("pylock.toml", LockKind::Pylock),
            ("pylock.prod.toml", LockKind::Pylock),
            ("requirements/prod.in.txt", LockKind::Requirements),
        ] {
            assert_eq!(LockKind::of_file(name), kind, "{name}");
        }
    }

    #[test]
    fn a_named_pylock_is_installed_under_its_own_name() {
        let spec = spec_with_lock("pylock.prod.toml");
        let project = spec.services["api"].project_dir();
        assert_eq!(
            crate::plan::lock_inputs(&project)[3],
            "app/pylock.prod.toml"
        );
        assert_eq!(
            lock_file_name(&project, LockKind::Pylock),
            "pylock.prod.toml"
        );
    }
}
