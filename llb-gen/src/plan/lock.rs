//! The `lock` target (`--target lock`): a lock for every project of the
//! spec (or those `--build-arg LOCK_TARGETS=a,b` names), each made in a
//! BuildKit step in the builder of its tier or service (its base image,
//! its Python, its build packages), with the network and the `ca-bundle`
//! and `netrc` secrets as the venv steps download. The result is a
//! filesystem, no image: each lock at its path in the build context, for
//! `--output type=local,dest=.`.
//!
//! Which locker runs ([`Locker`]): a directory with `requirements.in`
//! (pip-tools' convention: ranges and `-r`/`-c` includes in `.in`, the lock
//! in `.txt`) gets `requirements.txt` from `uv pip compile
//! --generate-hashes`; a uv project (`pyproject.toml`, with or without
//! `uv.lock`) gets `uv lock`. Poetry, PDM and Pipenv projects are refused
//! at the spec's `project` key with their own locker's command: their
//! lockers are not run here.
//!
//! Tier-aware: the jobs come tiers first, root first, and a tier's fresh
//! `requirements.txt` is a constraint (`--constraint`) of every project
//! compiled above it, so no service can pin a tier package at another
//! version. The existing lock is in the step (the pins to keep) unless
//! `LOCK_UPGRADE` says `all`; `LOCK_UPGRADE=a,b` upgrades those packages.

use std::collections::BTreeMap;

use bollard_buildkit_proto::pb;

use crate::diagnostic::Diagnostic;
use crate::llb::{self, FileCopy, Mount, State};
use crate::spec::{OwnerKind, ProjectDir, Spec};

use super::scripts::{LOCK_COMPILE_SCRIPT, LOCK_UV_SCRIPT, Script};
use super::sources::only_files;
use super::{
    BuildInputs, Context, LOCK_FILE, OUT_DIR, PYPROJECT_FILE, PlanError, Stacked, Target,
    TargetKind, levels, shell, source_info,
};

pub use crate::files::REQUIREMENTS_IN;
pub use crate::spec::{LOCK_TARGET, lock_command};

/// What `--target lock` is, as `--call targets`, `outline` and `pybase
/// targets` describe it.
pub const LOCK_DESCRIPTION: &str = "the locks of the spec's projects, written at their paths (`--output type=local,dest=.`): requirements.txt from requirements.in, uv.lock from pyproject.toml; tiers first, each a constraint of what stands on it";

/// The build arg that names the tiers and services to lock (`a,b`).
pub const LOCK_TARGETS_ARG: &str = "LOCK_TARGETS";
/// The build arg that upgrades locked packages (`all`, or `a,b`).
pub const LOCK_UPGRADE_ARG: &str = "LOCK_UPGRADE";
/// The lock compiled from `requirements.in`.
const REQUIREMENTS_TXT: &str = crate::requirements::REQUIREMENTS_FILE;
/// Where a lock step finds the project's files.
const CONTEXT_DIR: &str = "/pybase/context";
/// Where a lock step finds the tiers' fresh locks, one directory each.
const TIER_LOCKS_DIR: &str = "/pybase/tier-locks";

/// What `LOCK_UPGRADE` asks for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Upgrade {
    /// Keep the existing locks' pins where the ranges allow them.
    #[default]
    Keep,
    /// Resolve every package anew (`all`).
    All,
    /// Upgrade these packages only.
    Packages(Vec<String>),
}

impl Upgrade {
    /// `LOCK_UPGRADE`'s value: empty, `all`, or package names separated by
    /// commas; an invalid name is an error saying which.
    pub fn parse(value: &str) -> Result<Self, String> {
        let value = value.trim();
        if value.is_empty() {
            return Ok(Self::Keep);
        }
        if value == "all" {
            return Ok(Self::All);
        }
        let mut names = Vec::new();
        for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            pep508_rs::PackageName::new(name.to_owned()).map_err(|e| {
                format!("{LOCK_UPGRADE_ARG}: `{name}` is not a package name ({e}); give `all` or names separated by commas")
            })?;
            names.push(name.to_owned());
        }
        Ok(Self::Packages(names))
    }

    /// The locker's arguments (the same for `uv pip compile` and `uv lock`).
    fn args(&self) -> Vec<String> {
        match self {
            Self::Keep => Vec::new(),
            Self::All => vec!["--upgrade".to_owned()],
            Self::Packages(names) => names
                .iter()
                .flat_map(|name| ["--upgrade-package".to_owned(), name.clone()])
                .collect(),
        }
    }
}

/// The tiers and services whose projects `--target lock` writes: every
/// one with a project, or those `LOCK_TARGETS` names (commas); an unknown
/// name, or one without a project, is an error.
pub fn lock_selection(spec: &Spec, value: Option<&str>) -> Result<Vec<String>, Diagnostic> {
    let with_project: Vec<String> = spec
        .tiers
        .values()
        .filter(|tier| tier.project.is_some())
        .map(|tier| tier.level.name.clone())
        .chain(spec.services.keys().cloned())
        .collect();
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(with_project);
    };
    let mut chosen = Vec::new();
    for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        if !with_project.iter().any(|n| n == name) {
            let at = spec
                .tiers
                .get(name)
                .and_then(|t| t.level.at)
                .or_else(|| spec.services.values().next().and_then(|s| s.level.at));
            return Err(Diagnostic::at(
                &spec.file,
                at,
                format!(
                    "{LOCK_TARGETS_ARG} names `{name}`, which is no tier or service with a project"
                ),
            )
            .with_hint(format!(
                "name tiers and services with a project, separated by commas: {}",
                with_project.join(", ")
            )));
        }
        if !chosen.iter().any(|n| n == name) {
            chosen.push(name.to_owned());
        }
    }
    Ok(chosen)
}

/// The files of a project directory that say which locker runs, as read
/// from the build context (`None`: absent).
#[derive(Clone, Debug, Default)]
pub struct LockerFiles {
    /// `requirements.in`.
    pub requirements_in: Option<Vec<u8>>,
    /// `pyproject.toml`.
    pub pyproject: Option<Vec<u8>>,
    /// The other tools' files the directory has (`poetry.lock`,
    /// `pdm.lock`, `Pipfile`), by name.
    pub other_tools: Vec<&'static str>,
}

/// The context paths of a project's files that say which locker runs:
/// `requirements.in`, `pyproject.toml`, `poetry.lock`, `pdm.lock`,
/// `Pipfile`, in [`LockerFiles`]'s order.
pub fn locker_inputs(project: &ProjectDir<'_>) -> [String; 5] {
    [
        project.path(REQUIREMENTS_IN),
        project.path(PYPROJECT_FILE),
        project.path(crate::poetry::POETRY_LOCK_FILE),
        project.path(crate::lock::pdm::PDM_LOCK_FILE),
        project.path(crate::lock::pipfile::PIPFILE),
    ]
}

/// The build-context source the frontend reads [`locker_inputs`] through
/// (no step mounts it).
pub fn locker_source(project: &ProjectDir<'_>, session_id: &str, ignored: &[String]) -> State {
    only_files(
        format!("pybase-lockers:{}", project.dir),
        locker_inputs(project).to_vec(),
        (session_id, ignored),
        format!(
            "[{}] look for requirements.in and pyproject.toml",
            project.owner
        ),
    )
}

/// How a project is locked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Locker {
    /// `requirements.txt` compiled from `requirements.in`.
    Compile,
    /// `uv lock` of a uv project.
    Uv,
}

impl Locker {
    /// The locker of `project`, from its `files`; a project only another
    /// tool locks, or with nothing to lock from, is an error at the
    /// spec's `project` key.
    pub fn of(
        spec_file: &str,
        project: &ProjectDir<'_>,
        files: &LockerFiles,
    ) -> Result<Self, Diagnostic> {
        if files.requirements_in.is_some() {
            return Ok(Self::Compile);
        }
        let other = |tool: &str, command: &str| {
            Diagnostic::at(
                spec_file,
                project.at,
                format!(
                    "`--target {LOCK_TARGET}` runs uv only, and {} `{}`'s project `{}` is locked by {tool}",
                    project.owner_kind,
                    project.owner,
                    project.display()
                ),
            )
            .with_hint(format!(
                "run `{command}` in `{}`, and leave `{}` out of this lock: `--build-arg {LOCK_TARGETS_ARG}=...` naming the others",
                project.display(),
                project.owner
            ))
        };
        let tool_table = |key: &str| {
            files
                .pyproject
                .as_deref()
                .and_then(|bytes| std::str::from_utf8(bytes).ok())
                .and_then(|text| text.parse::<toml::Table>().ok())
                .and_then(|table| table.get("tool").and_then(|tool| tool.get(key)).map(|_| ()))
                .is_some()
        };
        let has = |name: &str| files.other_tools.contains(&name);
        if has(crate::poetry::POETRY_LOCK_FILE) || tool_table("poetry") {
            return Err(other("Poetry", "poetry lock"));
        }
        if has(crate::lock::pdm::PDM_LOCK_FILE) || tool_table("pdm") {
            return Err(other("PDM", "pdm lock"));
        }
        if files.pyproject.is_some() {
            return Ok(Self::Uv);
        }
        if has(crate::lock::pipfile::PIPFILE) {
            return Err(other("Pipenv", "pipenv lock"));
        }
        Err(Diagnostic::at(
            spec_file,
            project.at,
            format!(
                "`{}` has no `{REQUIREMENTS_IN}` and no `{PYPROJECT_FILE}` to lock from ({} `{}`)",
                project.display(),
                project.owner_kind,
                project.owner
            ),
        )
        .with_hint(format!(
            "write the ranges of its dependencies in `{}` (one per line, `-r ../base/{REQUIREMENTS_IN}` to include another), or leave `{}` out: `--build-arg {LOCK_TARGETS_ARG}=...` naming the others",
            project.path(REQUIREMENTS_IN),
            project.owner
        )))
    }

    /// The files of `project` its lock step reads, besides those
    /// `requirements.in` includes: the ranges and the lock so far.
    pub fn step_files(self, project: &ProjectDir<'_>) -> Vec<String> {
        match self {
            Self::Compile => vec![
                project.path(REQUIREMENTS_IN),
                project.path(REQUIREMENTS_TXT),
            ],
            Self::Uv => vec![project.path(PYPROJECT_FILE), project.path(LOCK_FILE)],
        }
    }

    /// The lock it writes, in the project's directory.
    fn lock_file(self) -> &'static str {
        match self {
            Self::Compile => REQUIREMENTS_TXT,
            Self::Uv => LOCK_FILE,
        }
    }
}

/// One project `--target lock` locks.
#[derive(Clone, Debug)]
pub struct LockJob<'a> {
    /// The tier or service whose builder locks it.
    pub target: Target<'a>,
    /// That target's inputs, its images resolved for the platform.
    pub inputs: BuildInputs<'a>,
    /// The project.
    pub project: ProjectDir<'a>,
    /// How.
    pub locker: Locker,
    /// The context files its step reads: [`Locker::step_files`] and the
    /// files `requirements.in` includes.
    pub files: Vec<String>,
    /// Whether its lock is in the result (`LOCK_TARGETS` names it); a
    /// tier's that is not is made all the same, as the constraints of the
    /// projects above it.
    pub written: bool,
}

/// What every lock step shares.
#[derive(Clone, Debug)]
pub struct LockOptions<'a> {
    /// `LOCK_UPGRADE`.
    pub upgrade: Upgrade,
    /// Several platforms are built: the requirements are resolved for
    /// every platform (`--universal`) rather than the one of the step.
    pub universal: bool,
    /// The spec file's name, for the command the locks say wrote them.
    pub spec_file: &'a str,
    /// The server's caps (`None`: checked against nothing).
    pub caps: Option<&'a crate::llb::marshal::ServerCaps>,
    /// The spec's text, for the source map that lets buildx show a failed
    /// lock step at the spec's `project` line (`None`: no source map).
    pub spec_text: Option<&'a [u8]>,
    /// The proxies and the cache namespace every lock step gets.
    pub exec_settings: crate::llb::marshal::ExecSettings,
}

/// The LLB of `--target lock`: a step per job, tiers first (the order
/// `jobs` must come in), and their written locks in one filesystem.
pub fn build_lock(
    jobs: &[LockJob<'_>],
    options: &LockOptions<'_>,
) -> Result<pb::Definition, PlanError> {
    // Each tier's fresh requirements.txt, by tier name, with its path.
    let mut tier_locks: BTreeMap<&str, (State, String)> = BTreeMap::new();
    let mut written = Vec::new();
    for job in jobs {
        let cx = Context::new(&job.target, &job.inputs)?;
        let builder = lock_builder(&cx, &job.target)?;
        let below: Vec<(&str, &(State, String))> = job
            .target
            .tiers
            .iter()
            .map(|tier| tier.level.name.as_str())
            .filter(|name| {
                job.project.owner_kind == OwnerKind::Service || *name != job.project.owner
            })
            .filter_map(|name| tier_locks.get(name).map(|lock| (name, lock)))
            .collect();
        let lock = lock_step(&cx, job, &builder, &below, options)?;
        if job.target.kind == TargetKind::Tier && job.locker == Locker::Compile {
            let path = job.project.path(REQUIREMENTS_TXT);
            if let Some(tier) = job.target.tiers.last() {
                tier_locks.insert(&tier.level.name, (lock.clone(), path));
            }
        }
        if job.written {
            written.push((lock, job.project.path(job.locker.lock_file())));
        }
    }
    if written.is_empty() {
        return Err(PlanError::EmptyTarget);
    }
    let paths: Vec<&str> = written.iter().map(|(_, path)| path.as_str()).collect();
    let name = format!("[{LOCK_TARGET}] {}", paths.join(", "));
    let copies = written
        .iter()
        .map(|(state, _)| (state, FileCopy::dir_contents("/", "/").named(name.clone())))
        .collect();
    let result = State::scratch().copy_all(copies);
    let source = options
        .spec_text
        .map(|text| source_info(options.spec_file, text));
    Ok(llb::marshal::marshal_with(
        &result,
        options.caps,
        source,
        &options.exec_settings,
    )?)
}

/// The builder of the target's last level (its system stages and build
/// packages, no venv).
fn lock_builder(cx: &Context<'_>, target: &Target<'_>) -> Result<State, PlanError> {
    let mut stacked = Stacked::new(cx);
    let mut builder = None;
    for level in levels(target) {
        // The builder stands on the system stages as cached.
        let (system, _) = stacked.system(cx, &level)?;
        builder = Some(stacked.builder(cx, &level, &system));
        stacked.image = system;
    }
    builder.ok_or(PlanError::EmptyTarget)
}

/// The lock step of `job` on `builder`, with the fresh locks of the tiers
/// `below` as constraints: its output holds the lock at its context path.
fn lock_step(
    cx: &Context<'_>,
    job: &LockJob<'_>,
    builder: &State,
    below: &[(&str, &(State, String))],
    options: &LockOptions<'_>,
) -> Result<State, PlanError> {
    let project = &job.project;
    let source = only_files(
        format!("pybase-lock-target:{}", project.dir),
        job.files.clone(),
        (job.inputs.session_id, &job.inputs.ignored),
        format!("[{}] load the files its lock is made from", project.owner),
    );
    let dir = if project.dir.is_empty() {
        ".".to_owned()
    } else {
        project.dir.to_owned()
    };
    let mut args = vec![dir, below.len().to_string()];
    let mut mounts = Vec::new();
    for (index, (tier, (state, path))) in below.iter().enumerate() {
        let mount = format!("{TIER_LOCKS_DIR}/{index}");
        args.extend([format!("{mount}/{path}"), path.clone(), (*tier).to_owned()]);
        mounts.push(Mount::readonly(&mount, state));
    }
    let (script, what): (&Script, String) = match job.locker {
        Locker::Compile => {
            args.extend([
                "--custom-compile-command".to_owned(),
                lock_command(options.spec_file),
            ]);
            for (_, (_, path)) in below {
                args.extend(["--constraint".to_owned(), relative_path(project.dir, path)]);
            }
            args.extend(python_args(cx, options.universal));
            (
                &LOCK_COMPILE_SCRIPT,
                format!("uv pip compile {}", project.path(REQUIREMENTS_IN)),
            )
        }
        Locker::Uv => (
            &LOCK_UV_SCRIPT,
            format!("uv lock {}", project.path(PYPROJECT_FILE)),
        ),
    };
    args.extend(options.upgrade.args());
    let mut exec = shell(script, &args)
        .env(cx.uv_env.clone())
        .mount(Mount::readonly(CONTEXT_DIR, &source))
        .mount(Mount::output(OUT_DIR, &State::scratch()))
        .named(format!("[{}] lock: {what}", project.owner))
        .at(project.at.map(|p| p.line));
    for mount in mounts {
        exec = exec.mount(mount);
    }
    builder
        .run(cx.with_uv(exec), cx.platform)
        .output(OUT_DIR)
        .ok_or(PlanError::MissingOutput(OUT_DIR))
}

/// `--python-version` of the builder's Python (when known) and
/// `--python-platform` of the step's platform and C library (when uv
/// knows it), or `--universal` for a lock of every platform.
fn python_args(cx: &Context<'_>, universal: bool) -> Vec<String> {
    let mut args = Vec::new();
    if let Some(python) = cx.environment.python {
        args.extend([
            "--python-version".to_owned(),
            format!("{}.{}", python.version.major, python.version.minor),
        ]);
    }
    if universal {
        args.push("--universal".to_owned());
        return args;
    }
    let libc = match cx.environment.libc {
        crate::environment::Libc::Musl(_) => "musl",
        _ => "gnu",
    };
    if let Some(machine @ ("x86_64" | "aarch64")) = cx.environment.machine {
        args.extend([
            "--python-platform".to_owned(),
            format!("{machine}-unknown-linux-{libc}"),
        ]);
    }
    args
}

/// `path` (a file's path in the build context) relative to the directory
/// `from` (normalized, empty for the context's root), as `-c` takes it.
fn relative_path(from: &str, path: &str) -> String {
    let from: Vec<&str> = from.split('/').filter(|p| !p.is_empty()).collect();
    let to: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let ups = std::iter::repeat_n("..", from.len() - common);
    ups.chain(to[common..].iter().copied())
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_is_made_relative_to_the_including_directory() {
        assert_eq!(
            relative_path("services/web", "base/requirements.txt"),
            "../../base/requirements.txt"
        );
        assert_eq!(
            relative_path("web", "base/requirements.txt"),
            "../base/requirements.txt"
        );
        assert_eq!(
            relative_path("", "base/requirements.txt"),
            "base/requirements.txt"
        );
        assert_eq!(
            relative_path("base/web", "base/requirements.txt"),
            "../requirements.txt"
        );
    }

    const SPEC: &str = "version: 1\ntiers:\n  base:\n    from: python:3.12-slim\n    project: base\nservices:\n  api:\n    tier: base\n    project: api\n    command: [api]\n  worker:\n    tier: base\n    project: worker\n    command: [worker]\n";

    fn spec() -> Spec {
        crate::spec::parse("pybase.yaml", SPEC.as_bytes()).expect("valid spec")
    }

    /// The locker of service `api` whose directory has `files`, or the
    /// error as a user reads it.
    fn locker_of(files: &LockerFiles) -> Result<Locker, String> {
        let spec = spec();
        let project = spec.services["api"].project_dir();
        Locker::of(&spec.file, &project, files).map_err(|d| d.to_string())
    }

    #[test]
    fn requirements_in_is_compiled_and_a_uv_project_is_locked_by_uv() {
        let ranges = LockerFiles {
            requirements_in: Some(b"six\n".to_vec()),
            ..LockerFiles::default()
        };
        assert_eq!(locker_of(&ranges), Ok(Locker::Compile));
        let uv = LockerFiles {
            pyproject: Some(b"[project]\nname = \"api\"\n".to_vec()),
            ..LockerFiles::default()
        };
        assert_eq!(locker_of(&uv), Ok(Locker::Uv));
    }

    #[test]
    fn other_tools_projects_are_refused_with_their_lockers_command() {
        let poetry = LockerFiles {
            pyproject: Some(b"[tool.poetry]\nname = \"api\"\n".to_vec()),
            ..LockerFiles::default()
        };
        insta::assert_snapshot!(locker_of(&poetry).expect_err("refused"), @"pybase.yaml:9:14: `--target lock` runs uv only, and service `api`'s project `api` is locked by Poetry (hint: run `poetry lock` in `api`, and leave `api` out of this lock: `--build-arg LOCK_TARGETS=...` naming the others)");
        let pdm = LockerFiles {
            pyproject: Some(b"[project]\nname = \"api\"\n".to_vec()),
            other_tools: vec![crate::lock::pdm::PDM_LOCK_FILE],
            ..LockerFiles::default()
        };
        assert!(locker_of(&pdm).is_err_and(|e| e.contains("locked by PDM")));
        let pipenv = LockerFiles {
            other_tools: vec![crate::lock::pipfile::PIPFILE],
            ..LockerFiles::default()
        };
        assert!(locker_of(&pipenv).is_err_and(|e| e.contains("`pipenv lock`")));
        // With requirements.in beside them, the ranges are what is locked.
        let both = LockerFiles {
            requirements_in: Some(b"six\n".to_vec()),
            ..pipenv
        };
        assert_eq!(locker_of(&both), Ok(Locker::Compile));
        insta::assert_snapshot!(locker_of(&LockerFiles::default()).expect_err("refused"), @"pybase.yaml:9:14: `api` has no `requirements.in` and no `pyproject.toml` to lock from (service `api`) (hint: write the ranges of its dependencies in `api/requirements.in` (one per line, `-r ../base/requirements.in` to include another), or leave `api` out: `--build-arg LOCK_TARGETS=...` naming the others)");
    }

    #[test]
    fn lock_targets_names_tiers_and_services_with_a_project() {
        let spec = spec();
        assert_eq!(
            lock_selection(&spec, None),
            Ok(vec![
                "base".to_owned(),
                "api".to_owned(),
                "worker".to_owned()
            ])
        );
        assert_eq!(
            lock_selection(&spec, Some("worker, api,worker")),
            Ok(vec!["worker".to_owned(), "api".to_owned()])
        );
        let unknown = lock_selection(&spec, Some("api,apy")).map_err(|d| d.to_string());
        insta::assert_snapshot!(unknown.expect_err("refused"), @"pybase.yaml:7:3: LOCK_TARGETS names `apy`, which is no tier or service with a project (hint: name tiers and services with a project, separated by commas: base, api, worker)");
    }

    #[test]
    fn lock_upgrade_is_all_or_names() {
        assert_eq!(Upgrade::parse(""), Ok(Upgrade::Keep));
        assert_eq!(Upgrade::parse("all"), Ok(Upgrade::All));
        assert_eq!(
            Upgrade::parse("six, idna"),
            Ok(Upgrade::Packages(vec!["six".into(), "idna".into()]))
        );
        assert_eq!(
            Upgrade::parse("six,idna").map(|u| u.args()),
            Ok(vec![
                "--upgrade-package".to_owned(),
                "six".to_owned(),
                "--upgrade-package".to_owned(),
                "idna".to_owned()
            ])
        );
        assert_eq!(Upgrade::All.args(), ["--upgrade"]);
        assert!(Upgrade::Keep.args().is_empty());
        let bad = Upgrade::parse("six,-x");
        assert!(bad.as_ref().is_err_and(|e| e.contains("`-x`")), "{bad:?}");
    }
}
