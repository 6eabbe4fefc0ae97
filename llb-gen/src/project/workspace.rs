//! A project that is a member of a uv workspace: a directory without a
//! lock of its own below a workspace root, the nearest directory above it
//! in the build context whose `pyproject.toml` declares
//! `[tool.uv.workspace]` with `members` (globs) that match it, and whose
//! `uv.lock` locks every member.
//!
//! No I/O: the caller reads the project's files, then asks which more it
//! needs ([`ProjectFiles::wanted_workspace`]: each ancestor's
//! `pyproject.toml` and `uv.lock`), reads them into
//! [`ProjectFiles::workspace`], and the check finds the root in them
//! ([`find`]). The member is checked against the root's lock as a uv
//! project is against its own ([`super::check_uv`]); what the lock's walk
//! from it reaches that is a workspace member is code, not venv
//! ([`crate::select::Selection::local_projects`]), and [`Workspace`] says what the
//! venv and code steps read.

use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::files::{LOCK_FILE, PYPROJECT_FILE};
use crate::spec::ProjectDir;

use super::{ProjectFiles, ProjectInfo, UV_RELOCK};

/// What a workspace member's venv and code steps read of its workspace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Workspace {
    /// The root's directory in the build context (empty: the context's).
    pub root: String,
    /// The project's package as the lock names it (`uv sync --package`).
    pub package: String,
    /// The context paths (patterns) of the files uv reads to know the
    /// workspace, and nothing else: the root's `pyproject.toml` and
    /// `uv.lock`, and each member glob's `pyproject.toml`. The venv step
    /// mounts a source of exactly these, so no code change reruns it.
    pub lock_inputs: Vec<String>,
    /// The directories (context paths) of the members the code step
    /// installs: the project's, then those it depends on, transitively, in
    /// the lock's order.
    pub code: Vec<String>,
}

impl Workspace {
    /// The root's file `name`, as a context path.
    pub fn path(&self, name: &str) -> String {
        join(&self.root, name)
    }

    /// The root as a user writes it (`.` for the context root).
    pub fn display(&self) -> &str {
        if self.root.is_empty() {
            "."
        } else {
            &self.root
        }
    }
}

/// `dir/name`, or `name` in the context root.
fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_owned()
    } else {
        format!("{dir}/{name}")
    }
}

/// The directories above `dir` in the build context, nearest first, the
/// context root last (none for the root itself).
pub(super) fn ancestors(dir: &str) -> Vec<&str> {
    if dir.is_empty() {
        return Vec::new();
    }
    let mut found: Vec<&str> = dir
        .match_indices('/')
        .map(|(at, _)| &dir[..at])
        .rev()
        .collect();
    found.push("");
    found
}

impl ProjectFiles<'_> {
    /// Whether the project is a candidate workspace member: it has a
    /// `pyproject.toml` and no lock at all (none named by `lock:`).
    pub(super) fn may_be_member(&self) -> bool {
        self.pyproject.is_some() && self.project.lock.is_none() && self.chosen_lock().1.is_none()
    }

    /// The files of a workspace above the project that are not read yet:
    /// each ancestor directory's `pyproject.toml` and `uv.lock`, when the
    /// project has a `pyproject.toml` and no lock (none otherwise). The
    /// caller reads them into `workspace` (`None` for a file the context
    /// lacks) through a source of exactly those files; one round suffices.
    pub fn wanted_workspace(&self) -> Vec<String> {
        if !self.may_be_member() {
            return Vec::new();
        }
        ancestors(self.project.dir)
            .into_iter()
            .flat_map(|dir| [join(dir, PYPROJECT_FILE), join(dir, LOCK_FILE)])
            .filter(|path| !self.workspace.contains_key(path))
            .collect()
    }

    /// Read the workspace files it wants ([`Self::wanted_workspace`]) with
    /// `read` (a build-context path to its bytes, `None` when the context
    /// lacks it).
    pub fn read_workspace<E>(
        &mut self,
        mut read: impl FnMut(&str) -> Result<Option<Vec<u8>>, E>,
    ) -> Result<(), E> {
        for path in self.wanted_workspace() {
            let bytes = read(&path)?;
            self.workspace.insert(path, bytes);
        }
        Ok(())
    }

    /// The bytes of the workspace file `path` read so far.
    fn workspace_file(&self, path: &str) -> Option<&[u8]> {
        self.workspace.get(path)?.as_deref()
    }
}

/// The workspace root found above a project.
pub(super) struct Root<'f> {
    /// Its directory in the build context.
    pub(super) dir: String,
    /// Its `uv.lock`.
    pub(super) lock: &'f [u8],
    /// Its member globs, as written (relative to the root).
    members: Vec<String>,
}

impl Root<'_> {
    /// The context path of its file `name`.
    pub(super) fn path(&self, name: &str) -> String {
        join(&self.dir, name)
    }

    /// The root as a user writes it.
    pub(super) fn display(&self) -> &str {
        if self.dir.is_empty() { "." } else { &self.dir }
    }
}

/// The workspace root of `files.project`: `None` when no directory above
/// it declares a workspace (it is no member); the root, when the nearest
/// one whose members match it has a `uv.lock`; otherwise an error at the
/// spec's `project` key (`spec_file`) with the fix.
pub(super) fn find<'f>(
    spec_file: &str,
    files: &'f ProjectFiles<'_>,
) -> Option<Result<Root<'f>, Diagnostics>> {
    if !files.may_be_member() {
        return None;
    }
    let project = &files.project;
    // The nearest workspace that declares itself, and whether it excludes
    // the project.
    let mut nearest_declared: Option<(&str, bool)> = None;
    for dir in ancestors(project.dir) {
        let pyproject_path = join(dir, PYPROJECT_FILE);
        let Some(bytes) = files.workspace_file(&pyproject_path) else {
            continue;
        };
        let table = match super::parse_toml(&pyproject_path, bytes) {
            Ok(table) => table,
            Err(problem) => return Some(Err(Diagnostics(vec![problem]))),
        };
        let Some(crate::pyproject::UvWorkspace {
            members,
            exclude: excluded,
        }) = crate::pyproject::UvWorkspace::of_pyproject(&table)
        else {
            continue;
        };
        let relative = match dir {
            "" => Some(project.dir),
            _ => project
                .dir
                .strip_prefix(dir)
                .and_then(|rest| rest.strip_prefix('/')),
        }
        .unwrap_or_default();
        let matches = |list: &[String]| list.iter().any(|glob| glob_matches(glob, relative));
        if !matches(&members) || matches(&excluded) {
            nearest_declared.get_or_insert((dir, matches(&excluded)));
            continue;
        }
        return Some(match files.workspace_file(&join(dir, LOCK_FILE)) {
            Some(lock) => Ok(Root {
                dir: dir.to_owned(),
                lock,
                members,
            }),
            None => Err(Diagnostics(vec![missing_root_lock(
                spec_file, project, dir,
            )])),
        });
    }
    nearest_declared.map(|(dir, excluded)| {
        Err(Diagnostics(vec![not_a_member(
            spec_file, project, dir, excluded,
        )]))
    })
}

/// What a project with a lock of its own (`info`, checked) that is a uv
/// workspace root with members gets of its workspace: the members it
/// depends on are code, as for a member ([`check_member`]); `info` as it
/// is for any other project.
pub(super) fn at_root(
    files: &ProjectFiles<'_>,
    mut info: ProjectInfo,
) -> Result<ProjectInfo, Diagnostics> {
    // The pyproject.toml the check read, not a second parse.
    let members = info
        .pyproject
        .as_ref()
        .and_then(|p| p.uv.as_ref()?.workspace.as_ref())
        .map(|workspace| workspace.members.clone())
        .filter(|members| !members.is_empty());
    let Some(lock) = files.lock.as_deref() else {
        return Ok(info);
    };
    match members {
        Some(members) => {
            let root = Root {
                dir: files.project.dir.to_owned(),
                lock,
                members,
            };
            info.workspace = Some(workspace(&files.project, &root, &info));
            Ok(info)
        }
        None => match local_dependencies(&files.project, &info) {
            problems if problems.is_empty() => Ok(info),
            problems => Err(Diagnostics(problems)),
        },
    }
}

/// The errors for the local projects (path dependencies inside the
/// project's directory) that the uv.lock of `project` (checked as `info`),
/// which is no workspace's root, locks for it: the venv leaves them out, as
/// code, and only a workspace's members are installed as code; so they
/// would be missing from the image. Each at its package's line.
fn local_dependencies(project: &ProjectDir<'_>, info: &ProjectInfo) -> Vec<Diagnostic> {
    let file = project.path(LOCK_FILE);
    info.selection
        .local_projects
        .iter()
        .map(|package| {
            let path = package.local_path().unwrap_or_default();
            Diagnostic::at(
                &file,
                Some(package.at),
                format!(
                    "`{}` is a path dependency (`{path}`) of `{}`, which is not a uv workspace: pybase installs local projects only as a workspace's members",
                    package.written_name,
                    project.display()
                ),
            )
            .with_hint(format!(
                "declare it a member in `{}` (`[tool.uv.workspace] members = [\"{path}\"]`) and run `uv lock` in `{}`, or depend on a published version",
                project.path(PYPROJECT_FILE),
                project.display()
            ))
        })
        .collect()
}
/// The error for a member of the workspace at `root` without its lock.
fn missing_root_lock(spec_file: &str, project: &ProjectDir<'_>, root: &str) -> Diagnostic {
    let shown = if root.is_empty() { "." } else { root };
    Diagnostic::at(
        spec_file,
        project.at,
        format!(
            "`{}` is a member of the uv workspace at `{shown}`, but `{}` is not in the build context ({} `{}`)",
            project.display(),
            join(root, LOCK_FILE),
            project.owner_kind,
            project.owner,
        ),
    )
    .with_hint(format!(
        "lock the workspace with `{UV_RELOCK}` in `{shown}` and commit its uv.lock, and check that .dockerignore does not exclude it"
    ))
}

/// The error for a project below the workspace at `root` that its
/// members do not list, or that it `excluded`.
fn not_a_member(
    spec_file: &str,
    project: &ProjectDir<'_>,
    root: &str,
    excluded: bool,
) -> Diagnostic {
    let shown = if root.is_empty() { "." } else { root };
    let (how, fix) = if excluded {
        (
            "is excluded from",
            "remove it from `[tool.uv.workspace] exclude`",
        )
    } else {
        (
            "is not a member of",
            "list it in `[tool.uv.workspace] members`",
        )
    };
    Diagnostic::at(
        spec_file,
        project.at,
        format!(
            "`{}` has no lock, and {how} the uv workspace at `{shown}` ({} `{}`)",
            project.display(),
            project.owner_kind,
            project.owner,
        ),
    )
    .with_hint(format!(
        "{fix} of `{}` and run `{UV_RELOCK}` in `{shown}`, or lock it alone with `{UV_RELOCK}` in `{}`",
        join(root, PYPROJECT_FILE),
        project.display()
    ))
}

/// Whether `path` (relative, `/`-separated) matches `glob` as uv matches
/// member globs: with the `glob` crate, uv's own, a wildcard never
/// crossing a `/` (uv expands the globs on the filesystem, an element at a
/// time), `**` any number of elements, `.` elements dropped. A glob that
/// does not parse matches nothing.
pub(super) fn glob_matches(glob: &str, path: &str) -> bool {
    let glob: Vec<&str> = glob
        .split('/')
        .filter(|e| !e.is_empty() && *e != ".")
        .collect();
    let options = glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: false,
    };
    glob::Pattern::new(&glob.join("/"))
        .is_ok_and(|pattern| pattern.matches_with(path.trim_matches('/'), options))
}

/// Check `files.project`, a member of the workspace at `root`: its
/// `pyproject.toml` against the root's `uv.lock`, as a uv project is
/// checked against its own; then what its workspace gives its steps.
pub(super) fn check_member(
    spec_file: &str,
    files: &ProjectFiles<'_>,
    root: &Root<'_>,
) -> Result<ProjectInfo, Diagnostics> {
    let mut info = super::check_uv(
        spec_file,
        &files.project,
        files.pyproject.as_deref(),
        Some(root.lock),
        Some(root),
    )?;
    info.workspace = Some(workspace(&files.project, root, &info));
    Ok(info)
}

/// What the steps of `project` (checked as `info`, against the lock of the
/// workspace at `root`) read of the workspace: the code is the project's
/// directory, then those of the members its lock's walk reached.
fn workspace(project: &ProjectDir<'_>, root: &Root<'_>, info: &ProjectInfo) -> Workspace {
    let lock_file = root.path(LOCK_FILE);
    let package = crate::names::normalize_name(&info.name);
    let members = info
        .selection
        .local_projects
        .iter()
        .filter_map(crate::lock::Package::local_path)
        .map(
            |path| match path.trim_start_matches("./").trim_end_matches('/') {
                "" | "." => root.dir.clone(),
                path => join(&root.dir, path),
            },
        );
    let code = std::iter::once(project.dir.to_owned()).chain(members).fold(
        Vec::new(),
        |mut code: Vec<String>, dir| {
            if !code.contains(&dir) {
                code.push(dir);
            }
            code
        },
    );
    let lock_inputs = [root.path(PYPROJECT_FILE), lock_file]
        .into_iter()
        .chain(
            root.members
                .iter()
                .map(|glob| join(&join(&root.dir, glob), PYPROJECT_FILE)),
        )
        .collect();
    Workspace {
        root: root.dir.clone(),
        package,
        lock_inputs,
        code,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../testdata/projects/workspace"
    );

    /// A spec with the service `api` at `project`.
    fn spec(project: &str) -> crate::spec::Spec {
        let text = format!(
            "version: 1\nservices:\n  api:\n    from: python:3.12-slim\n    project: {project}\n"
        );
        crate::spec::parse("pybase.yaml", text.as_bytes()).expect("valid spec")
    }

    /// The fixture's file `path`.
    fn fixture(path: &str) -> Option<Vec<u8>> {
        std::fs::read(format!("{FIXTURE}/{path}")).ok()
    }

    /// The files of `project` in the context `files` (path to text, the
    /// fixture's own for the others), read as the callers read them.
    fn read<'s>(spec: &'s crate::spec::Spec, files: &[(&str, Option<&str>)]) -> ProjectFiles<'s> {
        let get = |path: &str| match files.iter().find(|(p, _)| *p == path) {
            Some((_, text)) => text.map(|t| t.as_bytes().to_vec()),
            None => fixture(path),
        };
        let project = spec.services["api"].project_dir();
        let mut read = uv_files(
            project,
            get(&project.path(PYPROJECT_FILE)),
            get(&project.path(LOCK_FILE)),
        );
        read.read_workspace(|path| Ok::<_, ()>(get(path)))
            .expect("in memory");
        read
    }

    /// The files of a `project` with only `pyproject` and a uv `lock`.
    fn uv_files<'s>(
        project: ProjectDir<'s>,
        pyproject: Option<Vec<u8>>,
        lock: Option<Vec<u8>>,
    ) -> ProjectFiles<'s> {
        ProjectFiles {
            pyproject,
            lock,
            ..ProjectFiles::new(project)
        }
    }

    #[test]
    fn a_member_asks_for_each_ancestors_pyproject_and_lock_once() {
        let spec = spec("packages/api");
        let mut files = read(&spec, &[]);
        files.workspace.clear();
        assert_eq!(
            files.wanted_workspace(),
            [
                "packages/pyproject.toml",
                "packages/uv.lock",
                "pyproject.toml",
                "uv.lock"
            ]
        );
        files
            .read_workspace(|path| Ok::<_, ()>(fixture(path)))
            .expect("read");
        assert!(files.wanted_workspace().is_empty());
        // A project with a lock of its own asks for nothing.
        files.lock = Some(b"version = 1\n".to_vec());
        files.workspace.clear();
        assert!(files.wanted_workspace().is_empty());
        assert_eq!(ancestors("a/b/c"), ["a/b", "a", ""]);
        assert!(ancestors("").is_empty());
    }

    #[test]
    fn a_member_is_checked_against_the_roots_lock_and_its_members_are_code() {
        let spec = spec("packages/api");
        let files = read(&spec, &[]);
        let info = super::super::check_files(&spec.file, &files).expect("the member checks");
        // Its own third-party dependencies and lib's, not the members, not
        // other's iniconfig.
        assert_eq!(info.packages.keys().collect::<Vec<_>>(), ["idna", "six"]);
        let selected: Vec<&str> = info
            .selection
            .packages
            .iter()
            .map(|s| s.package.name.as_str())
            .collect();
        assert_eq!(selected, ["idna", "six"]);
        assert_eq!(info.selection.file, "uv.lock");
        assert_eq!(
            info.workspace,
            Some(Workspace {
                root: String::new(),
                package: "api".to_owned(),
                lock_inputs: vec![
                    "pyproject.toml".to_owned(),
                    "uv.lock".to_owned(),
                    "packages/*/pyproject.toml".to_owned()
                ],
                code: vec!["packages/api".to_owned(), "packages/lib".to_owned()],
            })
        );
        // The whole wheelhouse is on PyPI: BuildKit fetches it.
        assert_ne!(info.fetching, crate::artifacts::Fetching::Nothing);
        assert_eq!(files.lock_bytes(), fixture("uv.lock").as_deref());
    }

    #[test]
    fn a_stale_member_is_reported_at_its_pyproject_with_the_roots_relock() {
        let spec = spec("packages/api");
        let stale = "[project]\nname = \"api\"\nversion = \"0.1.0\"\ndependencies = [\"lib\", \"six==1.17.0\", \"attrs\"]\n";
        let files = read(&spec, &[("packages/api/pyproject.toml", Some(stale))]);
        insta::assert_snapshot!(
            super::super::check_files(&spec.file, &files).expect_err("stale").to_string(),
            @"packages/api/pyproject.toml:4:40: `attrs` is a dependency in pyproject.toml but uv.lock does not lock it: the lock is out of date (hint: run `uv lock` in `.` and commit the new uv.lock)"
        );
    }

    #[test]
    fn a_member_without_the_roots_lock_or_not_listed_is_refused_at_the_project_key() {
        let spec = spec("packages/api");
        let files = read(&spec, &[("uv.lock", None)]);
        insta::assert_snapshot!(
            super::super::check_files(&spec.file, &files).expect_err("no lock").to_string(),
            @"pybase.yaml:5:14: `packages/api` is a member of the uv workspace at `.`, but `uv.lock` is not in the build context (service `api`) (hint: lock the workspace with `uv lock` in `.` and commit its uv.lock, and check that .dockerignore does not exclude it)"
        );
        let only_lib = "[tool.uv.workspace]\nmembers = [\"packages/lib\"]\n";
        let files = read(&spec, &[("pyproject.toml", Some(only_lib))]);
        insta::assert_snapshot!(
            super::super::check_files(&spec.file, &files).expect_err("not listed").to_string(),
            @"pybase.yaml:5:14: `packages/api` has no lock, and is not a member of the uv workspace at `.` (service `api`) (hint: list it in `[tool.uv.workspace] members` of `pyproject.toml` and run `uv lock` in `.`, or lock it alone with `uv lock` in `packages/api`)"
        );
        let excluded =
            "[tool.uv.workspace]\nmembers = [\"packages/*\"]\nexclude = [\"packages/api\"]\n";
        let files = read(&spec, &[("pyproject.toml", Some(excluded))]);
        assert!(
            super::super::check_files(&spec.file, &files)
                .expect_err("excluded")
                .to_string()
                .contains("is excluded from")
        );
        // No workspace above: the lock is missing, as before.
        let files = read(&spec, &[("pyproject.toml", None)]);
        assert!(
            super::super::check_files(&spec.file, &files)
                .expect_err("no workspace")
                .to_string()
                .contains("`packages/api/uv.lock` not found")
        );
    }

    #[test]
    fn member_globs_match_as_uv_matches_them() {
        for (glob, path, matches) in [
            ("packages/*", "packages/api", true),
            ("packages/*", "packages/api/sub", false),
            ("packages/**", "packages/api/sub", true),
            ("./packages/api/", "packages/api", true),
            ("packages/a?i", "packages/api", true),
            ("packages/[a-c]pi", "packages/api", true),
            ("packages/[!a]pi", "packages/api", false),
            ("libs/*", "packages/api", false),
            ("*", "api", true),
        ] {
            let glob = glob.trim_start_matches("./").trim_end_matches('/');
            assert_eq!(glob_matches(glob, path), matches, "{glob} {path}");
        }
    }

    #[test]
    fn a_workspace_root_with_its_own_lock_installs_its_members_as_code() {
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../testdata/locks/workspace-root"
        );
        let read = |path: &str| std::fs::read(format!("{dir}/{path}")).ok();
        let spec = spec("services/root");
        let project = spec.services["api"].project_dir();
        let files = uv_files(project, read(PYPROJECT_FILE), read(LOCK_FILE));
        assert!(files.wanted_workspace().is_empty());
        let info = super::super::check_files(&spec.file, &files).expect("the root checks");
        assert_eq!(info.packages.keys().collect::<Vec<_>>(), ["idna", "six"]);
        assert_eq!(
            info.workspace,
            Some(Workspace {
                root: "services/root".to_owned(),
                package: "root".to_owned(),
                lock_inputs: vec![
                    "services/root/pyproject.toml".to_owned(),
                    "services/root/uv.lock".to_owned(),
                    "services/root/packages/*/pyproject.toml".to_owned()
                ],
                code: vec![
                    "services/root".to_owned(),
                    "services/root/packages/lib".to_owned()
                ],
            })
        );
    }

    #[test]
    fn a_path_dependency_of_a_project_that_is_no_workspace_is_refused_at_its_lock_line() {
        // The twin of the test above: the same lock, the pyproject without
        // its `[tool.uv.workspace]`. lib would be neither in the venv nor
        // installed as code: refused before anything builds.
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../testdata/locks/workspace-root"
        );
        let read = |path: &str| std::fs::read(format!("{dir}/{path}")).ok();
        let pyproject = String::from_utf8(read(PYPROJECT_FILE).expect("the fixture"))
            .expect("text")
            .replace("[tool.uv.workspace]\nmembers = [\"packages/*\"]\n", "");
        let spec = spec("services/root");
        let project = spec.services["api"].project_dir();
        let files = uv_files(project, Some(pyproject.into_bytes()), read(LOCK_FILE));
        let problems = super::super::check_files(&spec.file, &files).expect_err("refused");
        let shown = problems.to_string();
        assert!(
            shown.starts_with("services/root/uv.lock:")
                && shown.contains("`lib` is a path dependency (`packages/lib`) of `services/root`, which is not a uv workspace"),
            "{shown}"
        );
    }
}
