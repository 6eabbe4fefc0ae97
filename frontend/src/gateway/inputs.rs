//! Reading a build's inputs from the build context: the spec (from the
//! `dockerfile` local, following only the spec file), the context's
//! `.dockerignore` (its own source, so editing it never reruns the venv),
//! and each stacked project's lock inputs (a `context` source whose include
//! patterns are those files, never the whole context, with the
//! `.dockerignore` patterns as excludes; for a project without
//! `pyproject.toml`, whether it has `setup.py` or `setup.cfg`, through a
//! source of only those), then the files a requirements lock includes
//! (`-r`, `-c`), in rounds, each through a source of exactly the files
//! found in the round before; for `--call check`, the projects of every
//! target, for their lint warnings.
//!
//! A problem in one of these files is reported in the file it is in
//! ([`SpecFile::failure`], [`in_files`]).

use std::collections::HashMap;

use anyhow::anyhow;
use llb_gen::diagnostic::Diagnostics;
use llb_gen::llb::marshal::ServerCaps;
use llb_gen::llb::{LocalOptions, State};
use llb_gen::plan;
use llb_gen::project::ProjectFiles;
use llb_gen::spec::ProjectDir;

use crate::bridge::{Bridge, Failure, read_file, solve};
use crate::options::Options;
use crate::subrequests;

/// The spec file as read from the `dockerfile` local.
pub(super) struct SpecFile<'o> {
    /// Its name (`-f`).
    pub name: &'o str,
    /// Its content.
    pub bytes: Vec<u8>,
    /// Its own ignore file's content (`pybase.yaml.dockerignore` beside
    /// it), which replaces the context's `.dockerignore`, as a
    /// `Dockerfile.dockerignore` does for the Dockerfile frontend.
    pub ignore: Option<Vec<u8>>,
}

impl SpecFile<'_> {
    /// A problem in the spec, shown in it.
    pub fn failure(&self, diagnostics: impl Into<Diagnostics>) -> Failure {
        Failure::input(diagnostics, &[(self.name, &self.bytes)])
    }
}

/// Read the spec file, the only file read from the `dockerfile` local.
pub(super) async fn read_spec<'o>(
    bridge: &mut Bridge,
    options: &'o Options,
    caps: &ServerCaps,
) -> Result<SpecFile<'o>, Failure> {
    let filename = options.filename();
    let ignore_file = format!("{filename}{}", plan::DOCKERIGNORE_FILE);
    let spec_source = State::local(
        options.spec_local(),
        &LocalOptions {
            session_id: options.session_id.clone(),
            follow_paths: vec![filename.to_owned(), ignore_file.clone()],
            shared_key_hint: filename.to_owned(),
            ..Default::default()
        },
        format!("[pybase] load spec {filename}"),
    );
    let spec_ref = solve(bridge, &spec_source, caps).await?;
    let bytes = read_file(bridge, &spec_ref, filename)
        .await?
        .ok_or_else(|| anyhow!("the spec file `{filename}` was not found (is `-f` right?)"))?;
    let ignore = read_file(bridge, &spec_ref, &ignore_file).await?;
    Ok(SpecFile {
        name: filename,
        bytes,
        ignore,
    })
}

/// A problem in the spec or in a stacked project's files, shown in the
/// file it is in.
pub(super) fn in_files(
    spec: &SpecFile<'_>,
    stack: &[ProjectFiles<'_>],
    diagnostics: Diagnostics,
) -> Failure {
    let mut named: Vec<(String, &[u8])> = vec![(spec.name.to_owned(), &spec.bytes)];
    for files in stack {
        let [pyproject, lock, poetry, pylock, requirements] = plan::lock_inputs(&files.project);
        let [pdm, pipfile_lock, pipfile] = plan::other_lock_inputs(&files.project);
        let read = [
            (pyproject, &files.pyproject),
            (lock, &files.lock),
            (poetry, &files.poetry),
            (pdm, &files.pdm),
            (pipfile_lock, &files.pipfile_lock),
            (pipfile, &files.pipfile),
            (pylock, &files.pylock),
            (requirements, &files.requirements),
        ];
        for (path, bytes) in read {
            if let Some(bytes) = bytes {
                named.push((path, bytes));
            }
        }
        let read_more = files
            .included
            .iter()
            .chain(&files.workspace)
            .chain(&files.path_dependencies);
        for (path, bytes) in read_more {
            if let Some(bytes) = bytes {
                named.push((path.clone(), bytes));
            }
        }
    }
    let borrowed: Vec<(&str, &[u8])> = named.iter().map(|(n, b)| (n.as_str(), *b)).collect();
    Failure::input(diagnostics, &borrowed)
}

/// The patterns of the spec's own ignore file (`pybase.yaml.dockerignore`)
/// when it has one, else of the build context's `.dockerignore` (none
/// without either).
pub(super) async fn read_dockerignore(
    bridge: &mut Bridge,
    spec_ignore: Option<&[u8]>,
    session: &str,
    caps: &ServerCaps,
) -> Result<Vec<String>, Failure> {
    if let Some(bytes) = spec_ignore {
        return Ok(plan::dockerignore_patterns(&String::from_utf8_lossy(bytes)));
    }
    let ignore_ref = solve(bridge, &plan::dockerignore_source(session), caps).await?;
    Ok(read_file(bridge, &ignore_ref, plan::DOCKERIGNORE_FILE)
        .await?
        .map(|bytes| plan::dockerignore_patterns(&String::from_utf8_lossy(&bytes)))
        .unwrap_or_default())
}

/// A project's lock inputs (`pyproject.toml`, `uv.lock`, `poetry.lock`, `pylock.toml`,
/// `requirements.txt`), read through a build-context source holding only
/// them, then, when it has neither uv.lock nor poetry.lock (or the spec
/// names one of theirs), the other formats' (`pdm.lock`, `Pipfile.lock` and its `Pipfile`) through a source
/// of their own, then the files a requirements lock includes, for a project
/// without a lock the files of a uv workspace above it, and for a
/// poetry.lock with path dependencies their directories' `pyproject.toml`
/// and `setup.py`, each through sources holding only those
/// ([`plan::FoundFiles`]); a missing file is `None`.
pub(super) async fn read_project<'a>(
    bridge: &mut Bridge,
    project: ProjectDir<'a>,
    session: &str,
    ignored: &[String],
    caps: &ServerCaps,
) -> Result<ProjectFiles<'a>, Failure> {
    let lock_ref = solve(bridge, &plan::lock_source(&project, session, ignored), caps).await?;
    let [pyproject, lock, poetry, pylock, requirements] = plan::lock_inputs(&project);
    let pyproject = read_file(bridge, &lock_ref, &pyproject).await?;
    let setup_files =
        pyproject.is_none() && has_setup_files(bridge, &project, session, ignored, caps).await?;
    let mut files = ProjectFiles {
        pyproject,
        lock: read_file(bridge, &lock_ref, &lock).await?,
        poetry: read_file(bridge, &lock_ref, &poetry).await?,
        pylock: read_file(bridge, &lock_ref, &pylock).await?,
        requirements: read_file(bridge, &lock_ref, &requirements).await?,
        setup_files,
        ..ProjectFiles::new(project)
    };
    if files.wants_other_locks() {
        let source = plan::other_lock_source(&files.project, session, ignored);
        let other_ref = solve(bridge, &source, caps).await?;
        let [pdm, pipfile_lock, pipfile] = plan::other_lock_inputs(&files.project);
        files.pdm = read_file(bridge, &other_ref, &pdm).await?;
        files.pipfile_lock = read_file(bridge, &other_ref, &pipfile_lock).await?;
        files.pipfile = read_file(bridge, &other_ref, &pipfile).await?;
    }
    // The files a requirements lock includes (`-r`, `-c`), a round of
    // reads for those each round finds, through a source of exactly them.
    loop {
        let wanted = files.wanted_includes();
        if wanted.is_empty() {
            break;
        }
        let found = (plan::FoundFiles::Includes, wanted.as_slice());
        let read = read_found(bridge, &files.project, found, (session, ignored), caps).await?;
        files.included.extend(read);
    }
    // Without a lock, the uv workspace above it, if any: each ancestor's
    // pyproject.toml and uv.lock.
    let wanted = files.wanted_workspace();
    let found = (plan::FoundFiles::Workspace, wanted.as_slice());
    let read = read_found(bridge, &files.project, found, (session, ignored), caps).await?;
    files.workspace.extend(read);
    // A poetry.lock's path dependencies: each directory's pyproject.toml
    // and setup.py.
    let wanted = files.wanted_path_dependencies();
    let found = (plan::FoundFiles::PathDependencies, wanted.as_slice());
    let read = read_found(bridge, &files.project, found, (session, ignored), caps).await?;
    files.path_dependencies.extend(read);
    Ok(files)
}

/// The files `paths` of `project`, of the kind `kind`, each with
/// its bytes (`None`: the context lacks it), read through a source holding
/// only them; nothing, without a solve, when there are none.
async fn read_found(
    bridge: &mut Bridge,
    project: &ProjectDir<'_>,
    (kind, paths): (plan::FoundFiles, &[String]),
    (session, ignored): (&str, &[String]),
    caps: &ServerCaps,
) -> Result<Vec<(String, Option<Vec<u8>>)>, Failure> {
    if paths.is_empty() {
        return Ok(Vec::new());
    }
    let source = plan::found_files_source(project, kind, paths, (session, ignored));
    let found_ref = solve(bridge, &source, caps).await?;
    let mut read = Vec::with_capacity(paths.len());
    for path in paths {
        read.push((path.clone(), read_file(bridge, &found_ref, path).await?));
    }
    Ok(read)
}

/// Whether a project without `pyproject.toml` has `setup.py` or
/// `setup.cfg` (a package, not an application), read through a source of
/// its own holding only those, so that the lock inputs' source, which the
/// venv step mounts, stays as it is.
async fn has_setup_files(
    bridge: &mut Bridge,
    project: &ProjectDir<'_>,
    session: &str,
    ignored: &[String],
    caps: &ServerCaps,
) -> Result<bool, Failure> {
    let setup_ref = solve(bridge, &plan::setup_source(project, session, ignored), caps).await?;
    for file in plan::SETUP_FILES {
        if read_file(bridge, &setup_ref, &project.path(file))
            .await?
            .is_some()
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// For `--call check`: the lint warnings about the project files of every
/// target, each with the file it points into. Projects whose files do not
/// pass their checks give no warnings here: a build reports those as
/// errors.
pub(super) async fn lint_projects(
    bridge: &mut Bridge,
    (spec, spec_ignore): (&llb_gen::spec::Spec, Option<&[u8]>),
    session: &str,
    caps: &ServerCaps,
) -> Result<Vec<subrequests::FileWarning>, Failure> {
    let ignored = read_dockerignore(bridge, spec_ignore, session, caps).await?;
    // Each project's files, read once whatever the number of targets.
    let mut read: HashMap<String, ProjectFiles<'_>> = HashMap::new();
    let mut warnings: Vec<subrequests::FileWarning> = Vec::new();
    for (name, _) in plan::targets(spec) {
        let Ok(target) = plan::select_target(spec, Some(&name)) else {
            continue;
        };
        let mut stack = Vec::new();
        for project in target.projects() {
            let files = match read.get(project.dir) {
                Some(files) => files.clone(),
                None => {
                    let files = read_project(bridge, project, session, &ignored, caps).await?;
                    read.insert(project.dir.to_owned(), files.clone());
                    files
                }
            };
            // The same files, as this target's project (owner and position).
            stack.push(ProjectFiles { project, ..files });
        }
        let Ok(infos) = llb_gen::project::check_stack(&spec.file, &stack) else {
            continue;
        };
        for warning in llb_gen::lint::lint_stack(&stack, &infos) {
            if warnings.iter().any(|w| w.warning == warning) {
                continue;
            }
            let source = stack
                .iter()
                .find(|f| f.project.path(plan::PYPROJECT_FILE) == warning.diagnostic.file)
                .and_then(|f| f.pyproject.clone())
                .unwrap_or_default();
            warnings.push(subrequests::FileWarning { warning, source });
        }
    }
    Ok(warnings)
}
