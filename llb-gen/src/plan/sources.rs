//! The build-context sources: `.dockerignore` (read first, its patterns
//! read as BuildKit reads them) and a project's lock inputs.

use crate::llb::{LocalOptions, State};
use crate::spec::ProjectDir;

use super::{CONTEXT_LOCAL, DOCKERIGNORE_FILE, LOCK_FILE, PYPROJECT_FILE, SETUP_FILES};

/// The context paths of a project's `pyproject.toml` and its locks, by
/// format (`uv.lock`, `poetry.lock`, `pylock.toml`, `requirements.txt`):
/// the lock the spec names (`lock:`) in the place of its format's.
pub fn lock_inputs(project: &ProjectDir<'_>) -> [String; 5] {
    let mut inputs = [
        project.path(PYPROJECT_FILE),
        project.path(LOCK_FILE),
        project.path(crate::poetry::POETRY_LOCK_FILE),
        project.path(crate::requirements::PYLOCK_FILE),
        project.path(crate::requirements::REQUIREMENTS_FILE),
    ];
    if let Some(lock) = project.lock {
        let slot = match crate::lock::LockKind::of_file(&lock.path) {
            crate::lock::LockKind::Uv => 1,
            crate::lock::LockKind::Poetry => 2,
            crate::lock::LockKind::Pylock => 3,
            crate::lock::LockKind::Requirements => 4,
            // Read through `other_lock_source`.
            crate::lock::LockKind::Pdm | crate::lock::LockKind::Pipfile => return inputs,
        };
        inputs[slot] = project.path(&lock.path);
    }
    inputs
}

/// The context paths of a project's locks of the formats read only when
/// it has neither `uv.lock` nor `poetry.lock`
/// ([`crate::project::ProjectFiles::wants_other_locks`]): `pdm.lock`,
/// `Pipfile.lock` and its `Pipfile` (beside it), the lock the spec names
/// (`lock:`) in its format's place. They are read
/// through [`other_lock_source`], not [`lock_source`]: the venv step
/// installs their translation, a file of the LLB, and a project with a
/// uv.lock keeps the sources it had.
pub fn other_lock_inputs(project: &ProjectDir<'_>) -> [String; 3] {
    use crate::lock::{LockKind, pipfile};
    let mut inputs = [
        project.path(crate::lock::pdm::PDM_LOCK_FILE),
        project.path(pipfile::PIPFILE_LOCK_FILE),
        project.path(pipfile::PIPFILE),
    ];
    if let Some(lock) = project.lock {
        match LockKind::of_file(&lock.path) {
            LockKind::Pdm => inputs[0] = project.path(&lock.path),
            LockKind::Pipfile => {
                inputs[1] = project.path(&lock.path);
                let beside = match lock.path.rsplit_once('/') {
                    Some((dir, _)) => format!("{dir}/{}", pipfile::PIPFILE),
                    None => pipfile::PIPFILE.to_owned(),
                };
                inputs[2] = project.path(&beside);
            }
            _ => {}
        }
    }
    inputs
}

/// The build-context source holding only a project's
/// [`other_lock_inputs`], for the frontend to read them. `ignored` are the
/// `.dockerignore` patterns.
pub fn other_lock_source(project: &ProjectDir<'_>, session_id: &str, ignored: &[String]) -> State {
    only_files(
        format!("pybase-other-locks:{}", project.dir),
        other_lock_inputs(project).to_vec(),
        (session_id, ignored),
        format!("[{}] load its lock", project.owner),
    )
}

/// The build-context source holding only `.dockerignore`, read before
/// anything else so its patterns apply to every other context source. It is
/// a source of its own so that editing it never touches the venv's inputs.
pub fn dockerignore_source(session_id: &str) -> State {
    State::local(
        CONTEXT_LOCAL,
        &LocalOptions {
            session_id: session_id.to_owned(),
            shared_key_hint: "pybase-dockerignore".to_owned(),
            include_patterns: vec![DOCKERIGNORE_FILE.to_owned()],
            ..Default::default()
        },
        format!("[pybase] load {DOCKERIGNORE_FILE}"),
    )
}

/// The patterns of a `.dockerignore` file, read as BuildKit reads it
/// (moby/patternmatcher's `ignorefile.ReadAll`), for its
/// `local.excludepatterns`: a UTF-8 BOM at the start of the file dropped; a
/// line starting with `#` (in its first column: an indented `#` is a
/// pattern) is a comment; each other line trimmed, blank ones skipped; a
/// leading `!` (an exception) and the rest trimmed again; the pattern
/// cleaned as Go's `filepath.Clean` cleans a path ([`clean_path`]), then a
/// leading `/` removed (patterns are relative to the context root). What
/// cleans to `.` or `/` is kept (it matches no path), and so is a bare `!`
/// (BuildKit refuses it, as `docker build` does).
pub fn dockerignore_patterns(text: &str) -> Vec<String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(|line| {
            let (exception, pattern) = match line.strip_prefix('!') {
                Some(rest) => ("!", rest.trim()),
                None => ("", line),
            };
            let pattern = if pattern.is_empty() {
                String::new()
            } else {
                let cleaned = clean_path(pattern);
                match cleaned.strip_prefix('/') {
                    Some(relative) if !relative.is_empty() => relative.to_owned(),
                    _ => cleaned,
                }
            };
            format!("{exception}{pattern}")
        })
        .collect()
}

/// `path` as Go's `filepath.Clean` (on Unix) makes it: the shortest
/// equivalent path, `/` repeated once, no `.` element, each `..` resolved
/// against the element before it (kept at the start of a relative path,
/// dropped at the root), no trailing `/`; `.` for an empty result.
fn clean_path(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut elements: Vec<&str> = Vec::new();
    for element in path.split('/') {
        match element {
            "" | "." => {}
            ".." => match elements.last() {
                Some(&last) if last != ".." => {
                    elements.pop();
                }
                _ if rooted => {}
                _ => elements.push(".."),
            },
            _ => elements.push(element),
        }
    }
    let joined = elements.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_owned(),
        (false, false) => joined,
    }
}

/// The build-context source holding only a project's lock inputs (with a
/// lock the spec names, `pyproject.toml` and that lock alone). The
/// frontend reads the files through it, and the venv stage mounts it, so
/// only a change to these two files reruns the venv. `ignored` are the
/// `.dockerignore` patterns.
pub fn lock_source(project: &ProjectDir<'_>, session_id: &str, ignored: &[String]) -> State {
    let mut include = lock_inputs(project).to_vec();
    // A lock the spec names is the only one: another beside it is no input.
    if let Some(lock) = project.lock {
        let kept = [project.path(PYPROJECT_FILE), project.path(&lock.path)];
        include.retain(|path| kept.contains(path));
    }
    only_files(
        format!("pybase-lock:{}", project.dir),
        include,
        (session_id, ignored),
        format!("[{}] load {PYPROJECT_FILE} and its lock", project.owner),
    )
}

/// The build-context source holding only the files `include` (patterns),
/// less the patterns `ignored` (`.dockerignore`'s, and more), for the
/// session `session_id`, under BuildKit's `shared_key_hint` and the step
/// `name`.
pub(super) fn only_files(
    shared_key_hint: String,
    include: Vec<String>,
    (session_id, ignored): (&str, &[String]),
    name: String,
) -> State {
    State::local(
        CONTEXT_LOCAL,
        &LocalOptions {
            session_id: session_id.to_owned(),
            shared_key_hint,
            include_patterns: include,
            exclude_patterns: ignored.to_vec(),
            ..Default::default()
        },
        name,
    )
}

/// Files of the build context the frontend reads beyond a project's lock
/// inputs, as it finds it needs them: each kind through a source of its
/// own ([`found_files_source`]), which no step mounts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FoundFiles {
    /// Files a project's requirements lock includes (`-r`, `-c`:
    /// [`ProjectFiles::wanted_includes`](crate::project::ProjectFiles::wanted_includes)).
    /// The venv step installs from the lock flattened, a file of the LLB.
    Includes,
    /// The files of a uv workspace above a project without a lock (each
    /// ancestor directory's `pyproject.toml` and `uv.lock`:
    /// [`ProjectFiles::wanted_workspace`](crate::project::ProjectFiles::wanted_workspace)).
    /// The venv step of a workspace member mounts [`workspace_lock_source`].
    Workspace,
    /// The files of the directories of a Poetry project's path
    /// dependencies (each one's `pyproject.toml` and `setup.py`:
    /// [`ProjectFiles::wanted_path_dependencies`](crate::project::ProjectFiles::wanted_path_dependencies)),
    /// to check that each is a package. The code step mounts their whole
    /// directories.
    PathDependencies,
}

/// The build-context source holding only `paths`, files of the kind
/// `found` of `project`, for the frontend to read them; `ignored` are the
/// `.dockerignore` patterns.
pub fn found_files_source(
    project: &ProjectDir<'_>,
    found: FoundFiles,
    paths: &[String],
    (session_id, ignored): (&str, &[String]),
) -> State {
    let (key, what) = match found {
        FoundFiles::Includes => ("pybase-includes", "load the files its lock includes"),
        FoundFiles::Workspace => ("pybase-workspace", "look for a uv workspace above it"),
        FoundFiles::PathDependencies => {
            ("pybase-path-dependencies", "look for its path dependencies")
        }
    };
    only_files(
        format!("{key}:{}", project.dir),
        paths.to_vec(),
        (session_id, ignored),
        format!("[{}] {what}", project.owner),
    )
}

/// The build-context source a workspace member's venv step mounts: the
/// files uv reads to know the workspace and nothing else (the root's
/// `pyproject.toml` and `uv.lock`, each member's `pyproject.toml`:
/// [`Workspace::lock_inputs`](crate::project::Workspace::lock_inputs)), so
/// no code change, in the member or another, reruns the venv. `owner`
/// names the service or tier; `ignored` are the `.dockerignore` patterns.
pub fn workspace_lock_source(
    workspace: &crate::project::Workspace,
    owner: &str,
    session_id: &str,
    ignored: &[String],
) -> State {
    only_files(
        format!("pybase-workspace-lock:{}", workspace.root),
        workspace.lock_inputs.clone(),
        (session_id, ignored),
        format!(
            "[{owner}] load the uv workspace's pyproject.toml files and {}",
            workspace.path(LOCK_FILE)
        ),
    )
}

/// The build-context source holding only a project's `setup.py`,
/// `setup.cfg` and `requirements.in`, read by the frontend (never part of
/// the LLB it builds) when the project has no `pyproject.toml`, to tell a
/// package from an application, and ranges without a lock from no
/// dependencies at all. `ignored` are the `.dockerignore` patterns.
pub fn setup_source(project: &ProjectDir<'_>, session_id: &str, ignored: &[String]) -> State {
    only_files(
        format!("pybase-setup:{}", project.dir),
        SETUP_FILES
            .iter()
            .chain([&crate::files::REQUIREMENTS_IN])
            .map(|f| project.path(f))
            .collect(),
        (session_id, ignored),
        format!(
            "[{}] look for setup.py, setup.cfg and requirements.in",
            project.owner
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockerignore_patterns_are_read_like_docker_reads_them() {
        // (the file, the patterns moby/patternmatcher's `ignorefile.ReadAll`
        // returns for it)
        let table: &[(&str, &[&str])] = &[
            // A UTF-8 BOM is dropped at the start of the file only.
            ("\u{feff}# comment\nlogs\n", &["logs"]),
            ("\u{feff}data\n", &["data"]),
            ("a\n\u{feff}b\n", &["a", "\u{feff}b"]),
            // A comment starts in column 1; an indented `#` is a pattern.
            ("# comment\n  # not a comment\n", &["# not a comment"]),
            // Blank and whitespace-only lines are skipped; patterns are
            // trimmed.
            ("\n   \n\t\n  *.log  \n", &["*.log"]),
            // `!` marks an exception; what follows it is trimmed again.
            (
                "!keep.log\n! keep.log\n!\t/src/x\n",
                &["!keep.log", "!keep.log", "!src/x"],
            ),
            // A leading `/` is removed after cleaning, once.
            ("/abs\n//abs\n/.env\n", &["abs", "abs", ".env"]),
            // Go's filepath.Clean: `//` and `/./` collapse, a trailing `/`
            // goes, `..` is resolved (never above a rooted path).
            ("a//b/./c/\n", &["a/b/c"]),
            (
                "a/../b\n../x\n/../x\na/../../y\n",
                &["b", "../x", "x", "../y"],
            ),
            ("data/\n**/__pycache__/\n", &["data", "**/__pycache__"]),
            // What cleans to `.` or `/` is kept: it matches no path of the
            // context. A bare `!` is kept too: BuildKit refuses it, as
            // `docker build` does.
            (
                ".\n./\na/..\n/\n!\n! \n!/\n",
                &[".", ".", ".", "/", "!", "!", "!/"],
            ),
            // CRLF line endings.
            ("# comment\r\none\r\n!two/\r\n\r\n", &["one", "!two"]),
        ];
        let misread: Vec<String> = table
            .iter()
            .filter(|(text, expected)| dockerignore_patterns(text) != *expected)
            .map(|(text, expected)| {
                format!(
                    "{text:?}: {:?}, not {expected:?}",
                    dockerignore_patterns(text)
                )
            })
            .collect();
        assert!(misread.is_empty(), "misread:\n{}", misread.join("\n"));
    }
}
