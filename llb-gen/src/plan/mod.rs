//! From a validated spec and a target to the build: stages, LLB and config.
//!
//! A service image is four stages, each its own cache key, ordered so that a
//! change invalidates only what depends on it:
//!
//! 1. **system**: the base image plus the runtime OS packages, the non-root
//!    user and the working directory (one exec, one layer). apt's cache and
//!    lists are cache mounts, so neither reaches the layer.
//! 2. **builder** (never exported): *system* plus the build packages.
//! 3. **venv**: `uv sync --locked` in the builder, seeing only `pyproject.toml`
//!    and `uv.lock` (a local source with include patterns), writing the venv
//!    into an output mount: the venv alone, without the builder around it.
//! 4. **code**: the project installed without dependencies in the builder,
//!    into the venv below (a tier's) or an empty one on the same
//!    interpreter, never the service's own: the files it adds are copied to
//!    an output mount. Only a code change reruns it, not a lock bump.
//!
//! The image is *system* + venv + code; the `<service>-base` target stops
//! before the code. When the server offers MergeOp the three are stacked with
//! it (each keeps its exact layers); otherwise they are copied on top of each
//! other, which gives the same files and the same layer boundaries.
//!
//! With `build-from`, the builder starts from that image instead, and
//! *system* runs nothing in the image: the user and working directory are
//! written in the builder (which also checks that the runtime image has the
//! builder's interpreter) and copied on top of the base image. A base
//! without a shell or package manager (distroless) works that way.
//!
//! uv is a checksummed HTTP download unpacked in a side stage and mounted
//! read-only where it runs. The CA bundle secret (`ca-bundle`) and the netrc
//! secret of private indexes (`netrc`) are mounted only
//! in the steps that download Python packages; the SSH agent (`--ssh
//! default`) and the `known_hosts` secret only in the venv steps of locks
//! with a git dependency over SSH.

use std::collections::BTreeMap;

use serde_json::Value;

use bollard_buildkit_proto::pb;

use crate::diagnostic::Position;
use crate::diagnostic::{Diagnostic, did_you_mean};
use crate::image::{self, ConfigChanges};
use crate::llb::marshal::{ServerCaps, digest_of};
use crate::llb::{
    self, CacheSharing, Exec, FileCopy, LocalOptions, MarshalError, Mount, Network, Platform, State,
};
use crate::project::LockKind;
use crate::spec::{
    BASE_TARGET_SUFFIX, DEFAULT_WORKDIR, ImageName, ProjectDir, Service, Spec, Tier, TierBase, User,
};
use crate::tools;

mod scripts;

use scripts::{
    BACKEND_SCRIPT, BUILD_SCRIPT, CODE_SCRIPT, COPIED_SYSTEM_SCRIPT, DELTA_SCRIPT, EXPORT_SCRIPT,
    FETCHED_DELTA_SCRIPT, FETCHED_VENV_SCRIPT, PINNED_VENV_SCRIPT, POETRY_DELTA_SCRIPT,
    POETRY_VENV_SCRIPT, SCM_VERSION_ENV, SDIST_BUILD_SCRIPT, SYSTEM_SCRIPT, UV_UNPACK_SCRIPT,
    VENV_SCRIPT,
};

pub use crate::files::{DOCKERIGNORE_FILE, LOCK_FILE, PYPROJECT_FILE, VENV_DIR};

/// The non-root user images run as.
pub const APP_USER: &str = "app";
/// Its uid and gid.
pub const APP_UID: u32 = 1000;
/// The build secret id of a CA bundle for TLS-intercepting proxies.
pub const CA_BUNDLE_SECRET: &str = "ca-bundle";
/// The build secret id of a netrc file with the credentials of private
/// package indexes (`machine HOST login USER password TOKEN`).
pub const NETRC_SECRET: &str = "netrc";
/// The BuildKit local that holds the build context.
pub const CONTEXT_LOCAL: &str = "context";

const CA_BUNDLE_PATH: &str = "/run/secrets/ca-bundle";
/// The build secret id of the git hosts' keys, for git dependencies over
/// SSH (`ssh-keyscan HOST` lines).
pub const KNOWN_HOSTS_SECRET: &str = "known_hosts";
const KNOWN_HOSTS_PATH: &str = "/run/secrets/known_hosts";
/// The id of the client's SSH agent (`--ssh default`), for git
/// dependencies over SSH.
pub const SSH_ID: &str = "default";
const SSH_SOCKET: &str = "/run/buildkit/ssh_agent.0";
/// Where the image being assembled is mounted when its user is written in
/// the builder.
const RUNTIME_DIR: &str = "/pybase/runtime";
const NETRC_PATH: &str = "/run/secrets/netrc";
const UV_DIR: &str = "/pybase/uv";
/// The uv binary, in the mount of [`UV_DIR`].
const UV_BINARY: &str = "/pybase/uv/uv";
const WHEEL_DIR: &str = "/pybase/wheel";
const LOCK_DIR: &str = "/pybase/lock";
const SRC_DIR: &str = "/pybase/src";
const OUT_DIR: &str = "/pybase/out";
/// Where the project's build backend environment is made and mounted.
const BACKEND_DIR: &str = "/pybase/backend";
const UV_CACHE_DIR: &str = "/pybase/cache/uv";
const UV_CACHE_ID: &str = "pybase-uv-cache";
/// Where the wheels BuildKit fetched for a venv are mounted.
const WHEELS_DIR: &str = "/pybase/wheels";
/// Where an sdist BuildKit fetched is mounted for its wheel's build.
const SDIST_DIR: &str = "/pybase/sdist";
/// Where the lock exported to requirements (`requirements.txt`) is mounted.
const REQUIREMENTS_DIR: &str = "/pybase/requirements";
/// `SOURCE_DATE_EPOCH` in the steps that install Python packages: 1980-01-01,
/// the earliest time a wheel (a zip) can record.
const PYC_EPOCH: &str = "315532800";

/// What a target builds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetKind {
    /// A service image: its tier (if any), system, venv and code.
    Image,
    /// A service's base image: the same without the project code.
    Base,
    /// A tier's image.
    Tier,
}

/// A resolved `--target`.
#[derive(Clone, Debug)]
pub struct Target<'a> {
    /// What it builds.
    pub kind: TargetKind,
    /// The tiers the image stands on, root first; for a tier target, the
    /// tier itself comes last.
    pub tiers: Vec<&'a Tier>,
    /// The service, for service targets.
    pub service: Option<&'a Service>,
}

impl<'a> Target<'a> {
    fn of_service(spec: &'a Spec, service: &'a Service, kind: TargetKind) -> Self {
        Self {
            kind,
            tiers: service
                .tier
                .as_deref()
                .map(|t| spec.tier_chain(t))
                .unwrap_or_default(),
            service: Some(service),
        }
    }

    fn of_tier(spec: &'a Spec, tier: &'a Tier) -> Self {
        Self {
            kind: TargetKind::Tier,
            tiers: spec.tier_chain(&tier.level.name),
            service: None,
        }
    }

    /// The target's name, as `--target` takes it.
    pub fn name(&self) -> String {
        match (self.kind, self.service, self.tiers.last()) {
            (TargetKind::Base, Some(service), _) => {
                format!("{}{BASE_TARGET_SUFFIX}", service.level.name)
            }
            (_, Some(service), _) => service.level.name.clone(),
            (_, None, Some(tier)) => tier.level.name.clone(),
            (_, None, None) => String::new(),
        }
    }

    /// The image the target ultimately starts from, and where the spec
    /// names it.
    pub fn base_image(&self) -> Option<(&'a ImageName, Option<Position>)> {
        match (self.service, self.tiers.first()) {
            (Some(service), _) => Some((&service.from, service.from_at)),
            (None, Some(root)) => Some((&root.root_image, root.root_image_at)),
            (None, None) => None,
        }
    }

    /// The image the builder starts from when the image is assembled by
    /// copying (`build-from` of the chain's root, or of a service without
    /// a tier), and where the spec names it.
    pub fn build_image(&self) -> Option<(&'a ImageName, Option<Position>)> {
        match self.tiers.first() {
            Some(root) => root
                .level
                .build_from
                .as_ref()
                .map(|b| (b, root.level.build_from_at)),
            None => self.service.and_then(|s| {
                s.level
                    .build_from
                    .as_ref()
                    .map(|b| (b, s.level.build_from_at))
            }),
        }
    }

    /// The projects whose venvs the image gets, root first: its tiers'
    /// then the service's.
    pub fn projects(&self) -> Vec<ProjectDir<'a>> {
        self.tiers
            .iter()
            .filter_map(|tier| tier.project_dir())
            .chain(self.service.map(Service::project_dir))
            .collect()
    }
}

/// Every target of the spec with a one-line description: tiers, then
/// services and their bases.
pub fn targets(spec: &Spec) -> Vec<(String, String)> {
    let tiers = spec.tiers.values().map(|tier| {
        let from = match &tier.from {
            TierBase::Image(image) => image.as_written.clone(),
            TierBase::Tier(parent) => format!("tier {parent}"),
        };
        let venv = if tier.project.is_some() {
            " + venv"
        } else {
            ""
        };
        (
            tier.level.name.clone(),
            format!("tier image ({from} + system{venv})"),
        )
    });
    let services = spec.services.values().flat_map(|service| {
        let from = match &service.tier {
            Some(tier) => format!("tier {tier}"),
            None => service.from.as_written.clone(),
        };
        [
            (
                service.level.name.clone(),
                format!("service image ({from} + venv + code)"),
            ),
            (
                format!("{}{BASE_TARGET_SUFFIX}", service.level.name),
                format!(
                    "base image of `{}` ({from} + venv, no project code)",
                    service.level.name
                ),
            ),
        ]
    });
    tiers.chain(services).collect()
}

/// Resolve the requested target; without one, the spec must have exactly one
/// service.
pub fn select_target<'a>(
    spec: &'a Spec,
    requested: Option<&str>,
) -> Result<Target<'a>, Diagnostic> {
    let names: Vec<String> = targets(spec).into_iter().map(|(name, _)| name).collect();
    let Some(requested) = requested.filter(|t| !t.is_empty()) else {
        let mut services = spec.services.values();
        return match (services.next(), services.next()) {
            (Some(service), None) => Ok(Target::of_service(spec, service, TargetKind::Image)),
            _ => Err(Diagnostic::at(
                &spec.file,
                spec.services.values().next().and_then(|s| s.level.at),
                format!(
                    "the spec has {}: choose one with --target (targets: {})",
                    if spec.services.is_empty() {
                        "no services"
                    } else {
                        "several services"
                    },
                    names.join(", ")
                ),
            )
            .with_hint(format!(
                "e.g. `docker buildx build --target {} ...`",
                names.first().map(String::as_str).unwrap_or("NAME")
            ))),
        };
    };
    if let Some(service) = spec.services.get(requested) {
        return Ok(Target::of_service(spec, service, TargetKind::Image));
    }
    if let Some(tier) = spec.tiers.get(requested) {
        return Ok(Target::of_tier(spec, tier));
    }
    if let Some(service) = requested
        .strip_suffix(BASE_TARGET_SUFFIX)
        .and_then(|name| spec.services.get(name))
    {
        return Ok(Target::of_service(spec, service, TargetKind::Base));
    }
    let diagnostic = Diagnostic::at(
        &spec.file,
        spec.services.values().next().and_then(|s| s.level.at),
        format!(
            "unknown target `{requested}` (targets: {})",
            names.join(", ")
        ),
    );
    Err(
        match did_you_mean(requested, names.iter().map(String::as_str)) {
            Some(close) => diagnostic.with_hint(format!("did you mean `{close}`?")),
            None => diagnostic,
        },
    )
}

/// The context paths of a project's `pyproject.toml` and `uv.lock`.
pub fn lock_inputs(project: &ProjectDir<'_>) -> [String; 5] {
    [
        project.path(PYPROJECT_FILE),
        project.path(LOCK_FILE),
        project.path(crate::poetry::POETRY_LOCK_FILE),
        project.path(crate::requirements::PYLOCK_FILE),
        project.path(crate::requirements::REQUIREMENTS_FILE),
    ]
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

/// The build-context source holding only a project's lock inputs. The
/// frontend reads the files through it, and the venv stage mounts it, so
/// only a change to these two files reruns the venv. `ignored` are the
/// `.dockerignore` patterns.
pub fn lock_source(project: &ProjectDir<'_>, session_id: &str, ignored: &[String]) -> State {
    let include = lock_inputs(project).to_vec();
    State::local(
        CONTEXT_LOCAL,
        &LocalOptions {
            session_id: session_id.to_owned(),
            shared_key_hint: format!("pybase-lock:{}", project.dir),
            include_patterns: include,
            exclude_patterns: ignored.to_vec(),
            ..Default::default()
        },
        format!("[{}] load {PYPROJECT_FILE} and its lock", project.owner),
    )
}

/// The build-context source holding the project's code: the project
/// directory without what never belongs in an image (VCS data, venvs,
/// bytecode), without the locks the venv stage installs (no build backend
/// reads them: a lock bump must not rerun the code step), without the spec
/// itself and without what `.dockerignore` excludes (`ignored`).
/// `requirements.txt` stays: a `setup.py` may read it.
fn code_source(service: &Service, session_id: &str, spec_file: &str, ignored: &[String]) -> State {
    let mut exclude: Vec<String> = [
        ".git",
        ".venv",
        "**/__pycache__",
        "**/*.pyc",
        "uv.lock",
        "poetry.lock",
        "pylock.toml",
        "pylock.*.toml",
    ]
    .iter()
    .map(|p| service.project_path(p))
    .collect();
    let spec_name = spec_file.rsplit('/').next().unwrap_or(spec_file);
    exclude.push(service.project_path(spec_name));
    exclude.extend(ignored.iter().cloned());
    State::local(
        CONTEXT_LOCAL,
        &LocalOptions {
            session_id: session_id.to_owned(),
            shared_key_hint: format!("pybase-code:{}", service.project),
            include_patterns: if service.project.is_empty() {
                Vec::new()
            } else {
                vec![format!("{}/", service.project)]
            },
            exclude_patterns: exclude,
            ..Default::default()
        },
        format!("[{}] load project code", service.level.name),
    )
}

/// What the wheels fetched for a venv must fit on `platform`: the Python
/// of the image that makes the venv (`builder`, with `build-from`, else
/// `base`), as its config says it (`PYTHON_VERSION`) or its filesystem shows
/// it, and the C library of the image the venv runs in (`base`).
pub fn target_environment(
    platform: &Platform,
    base: &BaseImage,
    builder: Option<&BaseImage>,
) -> crate::environment::TargetEnvironment {
    let build_image = builder.unwrap_or(base);
    let (build_env, runtime_env) = (
        image::base_env(&build_image.config),
        image::base_env(&base.config),
    );
    let python = image::get_env(&build_env, "PYTHON_VERSION")
        .or_else(|| image::get_env(&runtime_env, "PYTHON_VERSION"));
    crate::environment::TargetEnvironment::new(
        platform,
        python,
        &crate::environment::ImageFacts {
            python: build_image.facts.python.or(base.facts.python),
            libc: base.facts.libc.or(build_image.facts.libc),
        },
    )
}

/// The base image, as resolved by the frontend.
#[derive(Clone, Debug)]
pub struct BaseImage {
    /// What to pull: `docker.io/library/x:t@sha256:…`, or without a digest
    /// when the image exists only in the local store.
    pub reference: String,
    /// Its digest, when known.
    pub digest: Option<String>,
    /// Its config JSON (OCI image config with Docker's extensions).
    pub config: Value,
    /// What its filesystem told about its interpreter and C library
    /// (nothing, when it was not looked at).
    pub facts: crate::environment::ImageFacts,
}

impl BaseImage {
    /// An image not resolved by a server (printing LLB offline): its
    /// name, no digest, and a config that says only its platform.
    pub fn unresolved(image: &ImageName, platform: &Platform) -> Self {
        Self {
            reference: image.normalized.clone(),
            digest: None,
            config: serde_json::json!({
                "os": platform.os,
                "architecture": platform.architecture,
                "config": {},
            }),
            facts: crate::environment::ImageFacts::default(),
        }
    }
}

/// Everything besides the spec that decides the build.
#[derive(Clone, Debug)]
pub struct BuildInputs<'a> {
    /// `BUILDKIT_SESSION_ID`, for the build-context sources.
    pub session_id: &'a str,
    /// The target platform.
    pub platform: Platform,
    /// The service's resolved base image.
    pub base: BaseImage,
    /// The resolved image the builder starts from, when the target has
    /// one ([`Target::build_image`]); else the builder starts from `base`.
    pub builder: Option<BaseImage>,
    /// The server's LLB caps, every op is checked against; `None` checks
    /// nothing (printing LLB without a server).
    pub caps: Option<&'a ServerCaps>,
    /// Whether to assemble the image with MergeOp when the server offers
    /// it (without `caps`: whether to assume it does). Off, layers are
    /// copied on top of each other: the same files, different layer digests.
    pub prefer_mergeop: bool,
    /// The spec file name (left out of the code) and its text (for the
    /// source map that lets buildx point failing steps at the spec).
    pub spec_file: &'a str,
    /// The spec's text, when a source map should be attached.
    pub spec_text: Option<&'a [u8]>,
    /// Extra image labels (`--label`).
    pub labels: Vec<(String, String)>,
    /// The `.dockerignore` patterns of the build context.
    pub ignored: Vec<String>,
    /// Where the image comes from, for its OCI labels.
    pub provenance: Provenance,
    /// What the frontend learned of each project's files, by project
    /// directory (as in the spec, normalized).
    pub projects: BTreeMap<String, ProjectFacts>,
}

/// The facts of each project of a stack, by directory, from its files and
/// what [`check_stack`](crate::project::check_stack) learned of them.
pub fn project_facts(
    stack: &[crate::project::ProjectFiles<'_>],
    infos: &[crate::project::ProjectInfo],
) -> BTreeMap<String, ProjectFacts> {
    stack
        .iter()
        .zip(infos)
        .map(|(files, info)| {
            (
                files.project.dir.to_owned(),
                ProjectFacts::of(
                    info,
                    files.pyproject.as_deref().unwrap_or_default(),
                    files.lock_bytes().unwrap_or_default(),
                ),
            )
        })
        .collect()
}

/// The version the target's image carries: its own project's (the
/// service's, or the tier's when it has a project), from the stack's
/// infos (root first, as [`Target::projects`] orders them).
pub fn target_version(
    target: &Target<'_>,
    infos: &[crate::project::ProjectInfo],
) -> Result<Option<String>, Diagnostic> {
    // A service's project is the last of the stack.
    if let Some(service) = target.service {
        let vcs = infos.last().and_then(|i| i.version_from_vcs.as_ref());
        match (&service.version, vcs) {
            (Some(version), _) => return Ok(Some(version.clone())),
            (None, Some(vcs)) if target.kind == TargetKind::Image => {
                return Err(Diagnostic::at(
                    &vcs.file,
                    Some(vcs.at),
                    format!(
                        "the version of service `{}`'s project comes from version control ({}), and the build context has no `.git` to take it from",
                        service.level.name, vcs.tool
                    ),
                )
                .with_hint(format!(
                    "give it in the spec: `version: ${{VERSION}}` under service `{}`, and build with `--build-arg VERSION=1.2.3`",
                    service.level.name
                )));
            }
            (None, _) => {}
        }
    }
    let own = match target.kind {
        TargetKind::Tier => target
            .tiers
            .last()
            .and_then(|t| t.project.as_ref())
            .is_some(),
        TargetKind::Image | TargetKind::Base => target.service.is_some(),
    };
    Ok(own
        .then(|| infos.last().and_then(|i| i.version.clone()))
        .flatten())
}

/// What the frontend learned of a project's files.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProjectFacts {
    /// How many packages its venv gets (for the step's name), when known.
    pub venv_packages: Option<usize>,
    /// The digest of its `pyproject.toml` and lock (for a tier's inputs
    /// label), when read.
    pub files_digest: Option<String>,
    /// The lock it installs from.
    pub lock: LockKind,
    /// The requirements locks translated from it, one per package index,
    /// when uv does not read it (`poetry.lock`): written next to it for the
    /// installer, which installs each with its own index alone.
    pub translated_locks: Vec<crate::poetry::IndexRequirements>,
    /// Whether its install fetches a git repository over SSH.
    pub git_over_ssh: bool,
    /// Its packages' files with their addresses, when BuildKit may fetch
    /// them (see [`crate::artifacts::wheelhouse`]).
    pub fetchable: Option<Vec<crate::artifacts::FetchablePackage>>,
    /// Its build backend's requirements, when read (see
    /// [`crate::project::build_requires`]): the code step builds in an
    /// environment of them made once, not in a fresh isolated one.
    pub build_requires: Option<Vec<String>>,
}

impl ProjectFacts {
    /// The facts of a project whose files are `pyproject` and `lock`.
    pub fn of(info: &crate::project::ProjectInfo, pyproject: &[u8], lock: &[u8]) -> Self {
        let mut both = Vec::with_capacity(pyproject.len() + lock.len() + 1);
        both.extend_from_slice(pyproject);
        both.push(0);
        both.extend_from_slice(lock);
        Self {
            venv_packages: info.venv_packages,
            files_digest: Some(digest_of(&both)),
            lock: info.lock,
            translated_locks: info.translated_locks.clone(),
            git_over_ssh: info.git_over_ssh,
            fetchable: info.fetchable.clone(),
            build_requires: crate::project::build_requires(pyproject),
        }
    }
}

/// Facts about the build's origin that become OCI labels.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Provenance {
    /// The project's version (`[project].version`).
    pub version: Option<String>,
    /// The source revision (buildx's `vcs:revision`: the git commit).
    pub revision: Option<String>,
    /// The source repository (buildx's `vcs:source`).
    pub source: Option<String>,
    /// `SOURCE_DATE_EPOCH`: the build's date, in seconds since 1970.
    pub source_date_epoch: Option<i64>,
    /// The build's date as the seeds' `BUILD_DATE` build arg gives it
    /// (RFC 3339, checked by [`parse_build_date`]); it wins over
    /// `source_date_epoch` for the `created` label.
    pub build_date: Option<String>,
}

/// A `BUILD_DATE` as the `created` label takes it: an RFC 3339 timestamp
/// (`2024-01-31T12:00:00Z`, any offset), normalized to UTC.
pub fn parse_build_date(text: &str) -> Result<String, String> {
    text.parse::<jiff::Timestamp>()
        .map(|t| t.to_string())
        .map_err(|e| format!("expected an RFC 3339 date such as 2024-01-31T12:00:00Z ({e})"))
}

/// A build: the LLB and the config of the image it produces.
#[derive(Clone, Debug)]
pub struct Build {
    /// The LLB definition.
    pub definition: pb::Definition,
    /// The image config JSON.
    pub config: Value,
    /// Whether the image was assembled with MergeOp.
    pub uses_merge: bool,
}

/// Why a build could not be planned.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// No pinned uv for the platform.
    #[error("pybase has no pinned uv for platform {0}; supported: linux/amd64, linux/arm64")]
    UnsupportedPlatform(String),
    /// The LLB could not be emitted (a missing BuildKit capability).
    #[error(transparent)]
    Marshal(#[from] MarshalError),
    /// The target names nothing to build (no tiers and no service).
    #[error("internal error: the target has no image to start from; please report this")]
    EmptyTarget,
    /// A step lost the output mount the plan reads: a bug in pybase, reported
    /// instead of building an image without that content.
    #[error("internal error: a build step has no output at {0}; please report this")]
    MissingOutput(&'static str),
    /// The target builds in an image of its own, and it was not resolved.
    #[error("internal error: the build image `{0}` was not resolved; please report this")]
    UnresolvedBuildImage(String),
    /// A level installs OS packages into an image assembled by copying
    /// (validation refuses such specs).
    #[error("{0} installs OS packages, but its image is assembled by copying (`build-from`)")]
    PackagesInCopiedImage(String),
}

/// Plan the target and emit its LLB and image config.
pub fn build(target: &Target<'_>, inputs: &BuildInputs<'_>) -> Result<Build, PlanError> {
    let platform = &inputs.platform;
    let uv = tools::uv_wheel(platform)
        .ok_or_else(|| PlanError::UnsupportedPlatform(platform.to_spec_string()))?;
    let uses_merge = inputs.prefer_mergeop
        && inputs
            .caps
            .is_none_or(|caps| matches!(caps.get("mergeop"), Some(Ok(()))));
    let (from, _) = target.base_image().ok_or(PlanError::EmptyTarget)?;

    let first_name = levels(target)
        .first()
        .map_or_else(String::new, |l| l.name.to_owned());
    let base = State::image(
        &inputs.base.reference,
        platform,
        format!("[{first_name}] base image {}", from.as_written),
    );
    // With `build-from`, the builder steps start from an image of their
    // own, and the image is assembled from `base` by copying alone.
    let copied = match (target.build_image(), &inputs.builder) {
        (None, _) => None,
        (Some((image, _)), None) => {
            return Err(PlanError::UnresolvedBuildImage(image.as_written.clone()));
        }
        (Some((image, _)), Some(builder)) => Some((
            State::image(
                &builder.reference,
                platform,
                format!("[{first_name}] build image {}", image.as_written),
            ),
            builder,
        )),
    };
    let (build_root, build_image) = match &copied {
        Some((state, builder)) => (state, *builder),
        None => (&base, &inputs.base),
    };
    let build_env = image::base_env(&build_image.config);
    let environment = target_environment(platform, &inputs.base, inputs.builder.as_ref());

    // The apt caches belong to one base image: lists of another release
    // must never be mixed in.
    let apt_key = short_hash(&build_image.reference);
    let apt_mounts = |exec: Exec| {
        exec.mount(Mount::cache(
            "/var/cache/apt",
            &format!("pybase-apt-cache-{apt_key}"),
            CacheSharing::Locked,
        ))
        .mount(Mount::cache(
            "/var/lib/apt/lists",
            &format!("pybase-apt-lists-{apt_key}"),
            CacheSharing::Locked,
        ))
    };
    let mut apt_env = build_env.clone();
    image::set_env(&mut apt_env, "DEBIAN_FRONTEND", "noninteractive");

    // uv, unpacked from its verified wheel, for the builders only.
    let wheel = State::http(
        uv.url,
        uv.sha256,
        "uv.whl",
        format!(
            "[pybase] uv {} (sha256 {})",
            tools::UV_VERSION,
            &uv.sha256[..12]
        ),
    );
    let uv_tool = build_root
        .run(
            Exec::argv(&shell(
                UV_UNPACK_SCRIPT,
                "pybase-uv",
                &[tools::uv_path_in_wheel()],
            ))
            .env(build_env.clone())
            .network(Network::None)
            .mount(Mount::readonly(WHEEL_DIR, &wheel))
            .mount(Mount::output(UV_DIR, &State::scratch()))
            .named(format!("[pybase] unpack uv {}", tools::UV_VERSION)),
            platform,
        )
        .output(UV_DIR)
        .ok_or(PlanError::MissingOutput(UV_DIR))?;

    let mut uv_env = build_env.clone();
    for (key, value) in [
        ("UV_CACHE_DIR", UV_CACHE_DIR),
        ("UV_PROJECT_ENVIRONMENT", VENV_DIR),
        ("UV_PYTHON_DOWNLOADS", "never"),
        ("UV_PYTHON_PREFERENCE", "only-system"),
        ("UV_LINK_MODE", "copy"),
        ("UV_COMPILE_BYTECODE", "1"),
        ("UV_NO_PROGRESS", "1"),
        // Set, Python compiles hash-based .pyc files: the same bytes in
        // every build, and still valid when an exporter rewrites file times
        // (`rewrite-timestamp`). A constant, so it never reruns a step.
        ("SOURCE_DATE_EPOCH", PYC_EPOCH),
        // sdists compile in a temporary directory of a random name; without
        // debug information it leaves no trace in the binaries they build.
        ("CFLAGS", "-g0"),
        ("CXXFLAGS", "-g0"),
    ] {
        image::set_env(&mut uv_env, key, value);
    }
    let with_uv = |exec: Exec| {
        exec.mount(Mount::readonly(UV_DIR, &uv_tool))
            .mount(Mount::cache(
                UV_CACHE_DIR,
                UV_CACHE_ID,
                CacheSharing::Shared,
            ))
            .mount(Mount::secret(CA_BUNDLE_PATH, CA_BUNDLE_SECRET, true))
            .mount(Mount::secret(NETRC_PATH, NETRC_SECRET, true))
    };

    // One level per tier of the chain, then the service: each adds its
    // system packages, then its venv (whole for the first level with a
    // project, else what the levels below lack), on top of the one below.
    let mut image_state = base.clone();
    let mut below: Option<(User, &str)> = None;
    let mut build_packages: Vec<String> = Vec::new();
    let mut has_venv = false;
    let mut history = Vec::new();
    let mut code_base = None;
    let mut installed: Vec<&str> = Vec::new();
    // Assembling by copying, the builder's own filesystem with the venv
    // so far (otherwise the builder is the image's system stage).
    let mut build_chain = copied.as_ref().map(|(state, _)| state.clone());
    for level in levels(target) {
        let name = level.name;
        let line = level.line;
        let user = level
            .user
            .cloned()
            .or_else(|| below.as_ref().map(|(user, _)| user.clone()))
            .unwrap_or_default();
        let needs_system = match &below {
            None => true,
            Some((below_user, below_workdir)) => {
                !level.runtime.is_empty() || *below_user != user || *below_workdir != level.workdir
            }
        };

        // 1. system
        let system = if needs_system && copied.is_some() {
            if !level.runtime.is_empty() {
                return Err(PlanError::PackagesInCopiedImage(name.to_owned()));
            }
            let exec = Exec::argv(&shell(COPIED_SYSTEM_SCRIPT, "pybase-system", &[]))
                .env(user_env(&build_env, &user, level.workdir))
                .network(Network::None)
                .mount(Mount::readonly(RUNTIME_DIR, &image_state))
                .mount(Mount::output(OUT_DIR, &State::scratch()))
                .named(format!(
                    "[{name}] system: user {} ({}), {}, written in the builder",
                    user.name, user.uid, level.workdir
                ))
                .at(line);
            let files = build_root
                .run(exec, platform)
                .output(OUT_DIR)
                .ok_or(PlanError::MissingOutput(OUT_DIR))?;
            history.push(format!(
                "pybase: [{name}] user {} ({}), copied in",
                user.name, user.uid
            ));
            let copy = FileCopy::dir_contents("/", "/").named(format!(
                "[{name}] image: add user {} and {}",
                user.name, level.workdir
            ));
            stack(
                uses_merge,
                &image_state,
                &files,
                copy,
                format!("[{name}] image: + user"),
            )
        } else if needs_system {
            let exec = Exec::argv(&shell(SYSTEM_SCRIPT, "pybase-system", level.runtime))
                .env(user_env(&apt_env, &user, level.workdir))
                .named(if level.runtime.is_empty() {
                    format!(
                        "[{name}] system: user {} ({}), {}",
                        user.name, user.uid, level.workdir
                    )
                } else {
                    format!(
                        "[{name}] system: {} + user {} ({})",
                        level.runtime.join(" "),
                        user.name,
                        user.uid
                    )
                })
                .at(line);
            history.push(format!(
                "pybase: [{name}] system packages [{}] and user {} ({})",
                level.runtime.join(" "),
                user.name,
                user.uid
            ));
            image_state.run(apt_mounts(exec), platform).root()
        } else {
            image_state.clone()
        };
        for package in level.build {
            if !build_packages.contains(package) {
                build_packages.push(package.clone());
            }
        }
        below = Some((user, level.workdir));

        let Some(project) = level.project else {
            image_state = system;
            continue;
        };
        // A service whose project is its tier's (seed 001: every
        // dependency in the base) finds its venv complete below.
        let installed_below = installed.contains(&project.dir);
        installed.push(project.dir);

        // 2. builder
        let builder_below = build_chain.clone().unwrap_or_else(|| system.clone());
        let builder = if build_packages.is_empty() {
            builder_below
        } else {
            let exec = Exec::argv(&shell(BUILD_SCRIPT, "pybase-build", &build_packages))
                .env(apt_env.clone())
                .named(format!("[{name}] builder: {}", build_packages.join(" ")))
                .at(line);
            builder_below.run(apt_mounts(exec), platform).root()
        };
        if installed_below {
            image_state = system;
            code_base = Some(builder);
            continue;
        }

        // 3. venv: the whole venv into an output mount, or, on a venv
        // below, the files the sync adds to it.
        let project_mount = |mount: Mount| {
            if project.dir.is_empty() {
                mount
            } else {
                mount.selector(project.dir)
            }
        };
        let facts = inputs.projects.get(project.dir);
        let packages = match facts.and_then(|f| f.venv_packages) {
            Some(1) => "1 package".to_owned(),
            Some(count) => format!("{count} packages"),
            None => "uv sync --locked".to_owned(),
        };
        let lock_kind = facts.map(|f| f.lock).unwrap_or_default();
        // A git dependency over SSH: the client's agent, and git's ssh
        // checking the host against the `known_hosts` secret, never
        // trusting a key on first use. Neither is part of a layer.
        let git_over_ssh = facts.is_some_and(|f| f.git_over_ssh);
        let over_ssh = if git_over_ssh {
            ", git over SSH (--ssh default, --secret id=known_hosts)"
        } else {
            ""
        };
        let with_ssh = |exec: Exec| {
            if !git_over_ssh {
                return exec;
            }
            let mut env = uv_env.clone();
            image::set_env(&mut env, "SSH_AUTH_SOCK", SSH_SOCKET);
            image::set_env(
                &mut env,
                "GIT_SSH_COMMAND",
                &format!(
                    "ssh -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile={KNOWN_HOSTS_PATH}"
                ),
            );
            exec.env(env)
                .mount(Mount::ssh(SSH_SOCKET, SSH_ID))
                .mount(Mount::secret(KNOWN_HOSTS_PATH, KNOWN_HOSTS_SECRET, false))
        };
        let lock_file = project.path(lock_kind.file_name());
        // What the installer reads: the lock, or its translation (one file
        // per index).
        let translated = facts.map_or(&[][..], |f| f.translated_locks.as_slice());
        let translated_files: Vec<String> = (0..translated.len())
            .map(crate::poetry::translated_file)
            .collect();
        let installed_file = lock_kind.file_name();
        // The uv lock syncs the project's environment; a lock of pins is
        // installed file by file, its name the venv script's argument. On
        // a venv below, the delta script runs the installer it is given.
        // The extras and groups the spec selects (uv.lock only: a lock of
        // pins with a selection is refused before planning).
        let selection: Vec<String> = project
            .selection
            .extras
            .iter()
            .flat_map(|extra| ["--extra".to_owned(), extra.name.clone()])
            .chain(
                project
                    .selection
                    .groups
                    .iter()
                    .flat_map(|group| ["--group".to_owned(), group.name.clone()]),
            )
            .collect();
        // Every file the venv needs on PyPI: BuildKit fetches each as a
        // checksummed HTTP source, an sdist is built into a wheel by a step
        // of its own, and the install runs from those files with the
        // network off, after the lock is exported to requirements with
        // hashes (`uv export`, with the network: a stale lock is reported as
        // uv reports it; a pylock.toml's are written by pybase). The built
        // packages are left out of them, their wheels' hashes being unknown
        // to the lock, and installed by `name==version`.
        let fetched = match (lock_kind, facts.and_then(|f| f.fetchable.as_deref())) {
            (LockKind::Uv | LockKind::Pylock, Some(packages)) if !git_over_ssh => {
                crate::artifacts::wheelhouse(packages, &environment)
                    .filter(|house| !house.is_empty())
            }
            _ => None,
        };
        let built_pins: Vec<String> = fetched.as_ref().map_or_else(Vec::new, |house| {
            house
                .sdists
                .iter()
                .map(|build| format!("{}=={}", build.name, build.version))
                .collect()
        });
        // The venv script's arguments, and the delta script's on a venv
        // below: the fetched delta installs the exported requirements itself
        // and takes the built pins; the others run the installer they are
        // given.
        let uv_installer = |args: Vec<&str>, extra: &[String]| -> Vec<String> {
            std::iter::once(UV_BINARY)
                .chain(args)
                .map(str::to_owned)
                .chain(extra.iter().cloned())
                .collect()
        };
        let (venv_script, venv_args, delta_args) = match lock_kind {
            _ if fetched.is_some() => (FETCHED_VENV_SCRIPT, built_pins.clone(), built_pins),
            LockKind::Uv => (
                VENV_SCRIPT,
                selection.clone(),
                uv_installer(
                    vec![
                        "sync",
                        "--locked",
                        "--inexact",
                        "--no-default-groups",
                        "--no-install-project",
                        "--no-editable",
                    ],
                    &selection,
                ),
            ),
            LockKind::Poetry => {
                // Each file after its index, empty for the default.
                let by_index: Vec<String> = translated
                    .iter()
                    .zip(&translated_files)
                    .flat_map(|(lock, file)| [lock.index.clone().unwrap_or_default(), file.clone()])
                    .collect();
                (POETRY_VENV_SCRIPT, by_index.clone(), by_index)
            }
            LockKind::Requirements | LockKind::Pylock => {
                // `require-hashes: false` lets a requirements.txt without
                // hashes through; every other lock has them.
                let hashes = (lock_kind != LockKind::Requirements || project.require_hashes)
                    .then_some("--require-hashes");
                (
                    PINNED_VENV_SCRIPT,
                    hashes
                        .into_iter()
                        .chain([installed_file])
                        .map(str::to_owned)
                        .collect(),
                    uv_installer(
                        ["pip", "install", "--python", "/opt/venv/bin/python"]
                            .into_iter()
                            .chain(hashes)
                            .chain(["-r", installed_file])
                            .collect(),
                        &[],
                    ),
                )
            }
        };
        let mut lock = lock_source(&project, inputs.session_id, &inputs.ignored);
        for (translation, file) in translated.iter().zip(&translated_files) {
            lock = lock.mkfile(
                &format!("/{}", project.path(file)),
                translation.text.as_bytes(),
                format!("[{name}] {lock_file} as requirements with hashes: {file}"),
            );
        }
        // How the install step reads its inputs: the fetched files and the
        // lock as requirements with hashes, offline; or the lock, with uv
        // downloading.
        let install: Box<dyn Fn(Exec) -> Exec> = match &fetched {
            Some(house) => {
                let as_requirements =
                    format!("[{name}] venv: {lock_file} as requirements with hashes");
                let requirements = if lock_kind == LockKind::Pylock {
                    // uv cannot export a pylock.toml: its requirements are
                    // written here, from the facts the wheelhouse came from.
                    let packages = facts
                        .and_then(|f| f.fetchable.as_deref())
                        .unwrap_or_default();
                    let text = crate::artifacts::requirements_text(packages, &house.sdists);
                    State::scratch().mkfile("/requirements.txt", text.as_bytes(), as_requirements)
                } else {
                    let export_args: Vec<String> =
                        selection
                            .iter()
                            .cloned()
                            .chain(house.sdists.iter().flat_map(|build| {
                                ["--no-emit-package".to_owned(), build.name.clone()]
                            }))
                            .collect();
                    build_root
                        .run(
                            with_uv(
                                Exec::argv(&shell(EXPORT_SCRIPT, "pybase-export", &export_args))
                                    .env(uv_env.clone())
                                    .cwd(LOCK_DIR)
                                    .mount(project_mount(Mount::readonly(LOCK_DIR, &lock)))
                                    .mount(Mount::output(OUT_DIR, &State::scratch()))
                                    .named(as_requirements)
                                    .at(line),
                            ),
                            platform,
                        )
                        .output(OUT_DIR)
                        .ok_or(PlanError::MissingOutput(OUT_DIR))?
                };
                // Each sdist built alone: from the builder and the sdist,
                // nothing the project holds.
                let build_sdist = |build: &crate::artifacts::SdistBuild| {
                    let exec = Exec::argv(&shell(
                        SDIST_BUILD_SCRIPT,
                        "pybase-build-sdist",
                        std::slice::from_ref(&build.sdist.filename),
                    ))
                    .env(uv_env.clone())
                    .cwd(SDIST_DIR)
                    .mount(Mount::readonly(SDIST_DIR, &fetch(&build.sdist, name)))
                    .mount(Mount::output(OUT_DIR, &State::scratch()))
                    .named(format!(
                        "[{name}] build {} {} from its sdist",
                        build.name, build.version
                    ))
                    .at(line);
                    builder
                        .run(with_uv(exec), platform)
                        .output(OUT_DIR)
                        .ok_or(PlanError::MissingOutput(OUT_DIR))
                };
                let built = house
                    .sdists
                    .iter()
                    .map(build_sdist)
                    .collect::<Result<Vec<State>, PlanError>>()?;
                let house = wheelhouse(&house.wheels, built, uses_merge, name);
                let uv_tool = uv_tool.clone();
                Box::new(move |exec: Exec| {
                    exec.network(Network::None)
                        .mount(Mount::readonly(UV_DIR, &uv_tool))
                        .mount(Mount::cache(
                            UV_CACHE_DIR,
                            UV_CACHE_ID,
                            CacheSharing::Shared,
                        ))
                        .mount(Mount::readonly(WHEELS_DIR, &house))
                        .mount(Mount::readonly(REQUIREMENTS_DIR, &requirements))
                })
            }
            None => {
                let lock = lock.clone();
                Box::new(move |exec: Exec| {
                    with_ssh(with_uv(
                        exec.cwd(LOCK_DIR)
                            .mount(project_mount(Mount::readonly(LOCK_DIR, &lock))),
                    ))
                })
            }
        };
        let fetched_note = fetched.as_ref().map_or_else(String::new, |house| {
            let plural = |n: usize, one: &str, many: &str| {
                format!("{n} {}", if n == 1 { one } else { many })
            };
            let built = match house.sdists.len() {
                0 => String::new(),
                n => format!(" and {}", plural(n, "built sdist", "built sdists")),
            };
            format!(
                ", {}{built}, network off",
                plural(house.wheels.len(), "fetched wheel", "fetched wheels")
            )
        });
        let (venv, venv_copy) = if has_venv {
            let delta_script = if fetched.is_some() {
                FETCHED_DELTA_SCRIPT
            } else if lock_kind == LockKind::Poetry {
                POETRY_DELTA_SCRIPT
            } else {
                DELTA_SCRIPT
            };
            let exec = Exec::argv(&shell(delta_script, "pybase-venv-delta", &delta_args))
                .env(uv_env.clone())
                .mount(Mount::output(OUT_DIR, &State::scratch()))
                .named(format!(
                    "[{name}] venv: {packages} from {lock_file}, adding what the tier lacks{over_ssh}{fetched_note}"
                ))
                .at(line);
            let delta = builder
                .run(install(exec), platform)
                .output(OUT_DIR)
                .ok_or(PlanError::MissingOutput(OUT_DIR))?;
            if let Some(chain) = &mut build_chain {
                *chain = chain.copy(
                    &delta,
                    FileCopy::dir_contents("/", "/").named(format!("[{name}] build image: + venv")),
                );
            }
            (delta, FileCopy::dir_contents("/", "/"))
        } else {
            let exec = Exec::argv(&shell(venv_script, "pybase-venv", &venv_args))
                .env(uv_env.clone())
                .mount(Mount::output(VENV_DIR, &State::scratch()))
                .named(format!(
                    "[{name}] venv: {packages} from {lock_file}{over_ssh}{fetched_note}"
                ))
                .at(line);
            let venv = builder
                .run(install(exec), platform)
                .output(VENV_DIR)
                .ok_or(PlanError::MissingOutput(VENV_DIR))?;
            if let Some(chain) = &mut build_chain {
                *chain = chain.copy(
                    &venv,
                    FileCopy::dir_contents("/", VENV_DIR)
                        .named(format!("[{name}] build image: + venv")),
                );
            }
            (venv, FileCopy::dir_contents("/", VENV_DIR))
        };
        has_venv = true;
        history.push(format!("pybase: [{name}] venv {VENV_DIR} from {lock_file}"));
        let venv_copy = venv_copy.named(format!("[{name}] image: add the venv"));
        image_state = stack(
            uses_merge,
            &system,
            &venv,
            venv_copy,
            format!("[{name}] image: system + venv"),
        );
        // The code step runs in the builder, which has the venvs below but
        // not this level's: its inputs do not include this lock, so a lock
        // bump does not rerun it (the project's files do not depend on its
        // dependencies). It makes an empty venv when there is none below.
        code_base = Some(builder);
    }

    // 4. code, for a service image.
    let result = match (target.kind, target.service, code_base) {
        (TargetKind::Image, Some(service), Some(code_on)) => {
            let name = &service.level.name;
            // A version from the spec is the one setuptools_scm and
            // hatch-vcs (which uses it) give the package: the context has no
            // `.git` to take one from.
            let mut code_env = uv_env.clone();
            if let Some(version) = &service.version {
                image::set_env(&mut code_env, SCM_VERSION_ENV, version);
            }
            // The build backend, in an environment of its own made once per
            // set of requirements (its step reads nothing else, not even the
            // version), where the code step builds without making an
            // isolated one each time.
            let backend = inputs
                .projects
                .get(service.project.as_str())
                .and_then(|facts| facts.build_requires.as_ref())
                .map(|requires| {
                    code_on
                        .run(
                            with_uv(
                                Exec::argv(&shell(BACKEND_SCRIPT, "pybase-backend", requires))
                                    .env(uv_env.clone())
                                    .mount(Mount::output(BACKEND_DIR, &State::scratch()))
                                    .named(format!(
                                        "[{name}] code: build backend {}",
                                        requires.join(" ")
                                    ))
                                    .at(service.level.at.map(|p| p.line)),
                            ),
                            platform,
                        )
                        .output(BACKEND_DIR)
                        .ok_or(PlanError::MissingOutput(BACKEND_DIR))
                })
                .transpose()?;
            let code_exec = Exec::argv(&shell(CODE_SCRIPT, "pybase-code", &[]))
                .env(code_env)
                .mount({
                    let mount = Mount::scratchpad(
                        SRC_DIR,
                        &code_source(
                            service,
                            inputs.session_id,
                            inputs.spec_file,
                            &inputs.ignored,
                        ),
                    );
                    if service.project.is_empty() {
                        mount
                    } else {
                        mount.selector(&service.project)
                    }
                })
                .named(format!(
                    "[{name}] code: install the project without dependencies"
                ))
                .at(service.level.at.map(|p| p.line));
            let code_exec = code_exec.mount(Mount::output(OUT_DIR, &State::scratch()));
            let code_exec = match &backend {
                Some(backend) => code_exec.mount(Mount::readonly(BACKEND_DIR, backend)),
                None => code_exec,
            };
            let code = code_on
                .run(with_uv(code_exec), platform)
                .output(OUT_DIR)
                .ok_or(PlanError::MissingOutput(OUT_DIR))?;
            history.push(format!("pybase: project code of `{name}`"));
            let code_copy =
                FileCopy::dir_contents("/", "/").named(format!("[{name}] image: add the code"));
            stack(
                uses_merge,
                &image_state,
                &code,
                code_copy,
                format!("[{name}] image: + code"),
            )
        }
        _ => image_state,
    };

    let source = inputs.spec_text.map(|text| pb::SourceInfo {
        filename: inputs.spec_file.to_owned(),
        data: text.to_vec(),
        language: "yaml".to_owned(),
        definition: None,
    });
    let definition = llb::marshal(&result, inputs.caps, source)?;
    let user = below.map(|(user, _)| user).unwrap_or_default();
    let config = image::compose(
        &inputs.base.config,
        &config_changes(target, inputs, &user, history),
    );
    Ok(Build {
        definition,
        config,
        uses_merge,
    })
}

/// One tier or the service, as the build stacks them.
struct Level<'a> {
    name: &'a str,
    line: Option<u32>,
    runtime: &'a [String],
    build: &'a [String],
    project: Option<ProjectDir<'a>>,
    user: Option<&'a User>,
    workdir: &'a str,
}

fn levels<'a>(target: &Target<'a>) -> Vec<Level<'a>> {
    let tiers = target.tiers.iter().map(|tier| Level {
        name: &tier.level.name,
        line: tier.level.at.map(|p| p.line),
        runtime: &tier.level.runtime_packages,
        build: &tier.level.build_packages,
        project: tier.project_dir(),
        user: tier.level.user.as_ref(),
        workdir: DEFAULT_WORKDIR,
    });
    let service = target.service.map(|service| Level {
        name: &service.level.name,
        line: service.level.at.map(|p| p.line),
        runtime: &service.level.runtime_packages,
        build: &service.level.build_packages,
        project: Some(service.project_dir()),
        user: service.level.user.as_ref(),
        workdir: &service.workdir,
    });
    tiers.chain(service).collect()
}

/// The label that carries the digest of a tier image's inputs.
pub const TIER_INPUTS_LABEL: &str = "dev.pybase.tier.inputs-digest";

/// The digest of what decides a tier image: the base image (with its
/// digest when known), the build image when there is one, and each level's packages, environment, user and
/// lock inputs. `None` when a project's files were not read.
fn tier_inputs_digest(target: &Target<'_>, inputs: &BuildInputs<'_>) -> Option<String> {
    let mut levels_json = Vec::new();
    for tier in &target.tiers {
        let lock = match tier.project_dir() {
            Some(project) => Some(inputs.projects.get(project.dir)?.files_digest.clone()?),
            None => None,
        };
        levels_json.push(serde_json::json!({
            "tier": tier.level.name,
            "runtime": tier.level.runtime_packages,
            "build": tier.level.build_packages,
            "env": tier.level.env,
            "user": tier.level.user.as_ref().map(|u| (&u.name, u.uid, u.gid)),
            "lock": lock,
            "extras": tier.level.selection.extras.iter().map(|e| &e.name).collect::<Vec<_>>(),
            "groups": tier.level.selection.groups.iter().map(|g| &g.name).collect::<Vec<_>>(),
        }));
    }
    let mut canonical = serde_json::json!({
        "base": inputs.base.reference,
        "base_digest": inputs.base.digest,
        "levels": levels_json,
        "uv": tools::UV_VERSION,
    });
    // Only when there is one, so the digests of other tiers stay as they were.
    if let Some(builder) = &inputs.builder {
        canonical["builder"] = serde_json::json!([builder.reference, builder.digest]);
    }
    Some(digest_of(canonical.to_string().as_bytes()))
}

fn config_changes(
    target: &Target<'_>,
    inputs: &BuildInputs<'_>,
    user: &User,
    history: Vec<String>,
) -> ConfigChanges {
    let service = target.service;
    let provenance = &inputs.provenance;
    let oci = |key: &str| format!("org.opencontainers.image.{key}");
    let base_name = target
        .base_image()
        .map(|(image, _)| image.normalized.clone())
        .unwrap_or_default();
    // Ours first, then the spec's, then `--label`: later ones win.
    let mut labels = vec![(oci("title"), target.name()), (oci("base.name"), base_name)];
    let optional = [
        ("base.digest", inputs.base.digest.clone()),
        ("version", provenance.version.clone()),
        ("revision", provenance.revision.clone()),
        ("source", provenance.source.clone()),
        (
            "created",
            provenance.build_date.clone().or_else(|| {
                provenance
                    .source_date_epoch
                    .and_then(|epoch| jiff::Timestamp::from_second(epoch).ok())
                    .map(|t| t.to_string())
            }),
        ),
    ];
    labels.extend(
        optional
            .into_iter()
            .filter_map(|(key, value)| value.map(|v| (oci(key), v))),
    );
    if target.kind == TargetKind::Tier
        && let Some(digest) = tier_inputs_digest(target, inputs)
    {
        labels.push((TIER_INPUTS_LABEL.to_owned(), digest));
    }
    if let Some(service) = service {
        labels.extend(service.labels.iter().cloned());
    }
    labels.extend(inputs.labels.iter().cloned());
    let mut env = vec![
        ("VIRTUAL_ENV".to_owned(), VENV_DIR.to_owned()),
        ("PYTHONUNBUFFERED".to_owned(), "1".to_owned()),
        ("PYTHONDONTWRITEBYTECODE".to_owned(), "1".to_owned()),
    ];
    for tier in &target.tiers {
        env.extend(tier.level.env.iter().cloned());
    }
    if let Some(service) = service {
        env.extend(service.level.env.iter().cloned());
    }
    // Only the service image itself gets the service's command and health
    // check: its base target keeps the base image's, which do not need the
    // project.
    let image = service.filter(|_| target.kind == TargetKind::Image);
    ConfigChanges {
        env,
        path_prefix: format!("{VENV_DIR}/bin"),
        working_dir: service.map_or(DEFAULT_WORKDIR, |s| &s.workdir).to_owned(),
        user: format!("{}:{}", user.uid, user.gid),
        cmd: image.and_then(|s| s.command.clone()),
        entrypoint: image.and_then(|s| s.entrypoint.clone()),
        exposed_ports: service.map(|s| s.ports.clone()).unwrap_or_default(),
        healthcheck: image.and_then(|s| s.healthcheck.as_ref()).map(|check| {
            let mut value = serde_json::json!({ "Test": check.test });
            for (key, nanos) in [
                ("Interval", check.interval),
                ("Timeout", check.timeout),
                ("StartPeriod", check.start_period),
            ] {
                if let Some(nanos) = nanos {
                    value[key] = serde_json::json!(nanos);
                }
            }
            if let Some(retries) = check.retries {
                value["Retries"] = serde_json::json!(retries);
            }
            value
        }),
        stop_signal: service.and_then(|s| s.stop_signal.clone()),
        labels,
        history: history.into_iter().map(|h| (h, false)).collect(),
    }
}

/// `env` with the user and working directory the system scripts create.
fn user_env(env: &[String], user: &User, workdir: &str) -> Vec<String> {
    let mut env = env.to_vec();
    image::set_env(&mut env, "PYBASE_WORKDIR", workdir);
    image::set_env(&mut env, "PYBASE_USER", &user.name);
    image::set_env(&mut env, "PYBASE_UID", &user.uid.to_string());
    image::set_env(&mut env, "PYBASE_GID", &user.gid.to_string());
    env
}

/// `file` as a checksummed HTTP source, for the level `name`. The step
/// names where the lock records the hash: BuildKit reports a digest
/// mismatch under it.
fn fetch(file: &crate::artifacts::LockedFile, name: &str) -> State {
    let recorded_at = file
        .recorded_at
        .as_ref()
        .map_or_else(String::new, |at| format!(", {at}"));
    State::http(
        &file.url,
        &file.sha256,
        &file.filename,
        format!(
            "[{name}] fetch {} (sha256 {}{recorded_at})",
            file.filename,
            file.sha256.get(..12).unwrap_or(&file.sha256)
        ),
    )
}

/// The wheels of `files`, each a checksummed HTTP source, and the wheels
/// `built` from sdists, side by side in one directory: stacked with
/// MergeOp, or copied next to each other.
fn wheelhouse(
    files: &[crate::artifacts::LockedFile],
    built: Vec<State>,
    uses_merge: bool,
    name: &str,
) -> State {
    let fetched: Vec<State> = files
        .iter()
        .map(|file| fetch(file, name))
        .chain(built)
        .collect();
    if uses_merge {
        State::merge(
            &fetched.iter().collect::<Vec<_>>(),
            format!("[{name}] wheels: {} files", fetched.len()),
        )
    } else {
        fetched.iter().fold(State::scratch(), |house, wheel| {
            house.copy(
                wheel,
                FileCopy::dir_contents("/", "/").named(format!("[{name}] wheels: + one")),
            )
        })
    }
}

/// `below` with what `copy` takes from `output` on top, as one layer of its
/// own: stacked with MergeOp (`merge_name`), or copied onto `below`.
fn stack(
    uses_merge: bool,
    below: &State,
    output: &State,
    copy: FileCopy,
    merge_name: String,
) -> State {
    if uses_merge {
        let layer = State::scratch().copy(output, copy);
        State::merge(&[below, &layer], merge_name)
    } else {
        below.copy(output, copy)
    }
}

/// `sh -c SCRIPT NAME ARGS...`: arguments reach the script as `"$@"`, never
/// spliced into the script text.
fn shell(script: &str, name: &str, args: &[String]) -> Vec<String> {
    ["/bin/sh", "-c", script, name]
        .iter()
        .map(|s| (*s).to_owned())
        .chain(args.iter().cloned())
        .collect()
}

fn short_hash(text: &str) -> String {
    digest_of(text.as_bytes())
        .trim_start_matches("sha256:")
        .chars()
        .take(12)
        .collect()
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
