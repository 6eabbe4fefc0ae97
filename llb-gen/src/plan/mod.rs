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
use crate::image;
use crate::llb::marshal::{ServerCaps, digest_of};
use crate::llb::{
    self, CacheSharing, Exec, FileCopy, LocalOptions, MarshalError, Mount, Network, Platform, State,
};
use crate::project::LockKind;
use crate::spec::{
    BASE_TARGET_SUFFIX, DEFAULT_WORKDIR, ImageName, ProjectDir, Service, Spec, Tier, TierBase, User,
};
use crate::tools;

mod code;
mod config;
mod scripts;
mod system;
mod venv;

use venv::{Venv, venv};

use scripts::UV_UNPACK_SCRIPT;

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
///
/// The levels (the tiers, root first, then the service) are stacked one
/// by one ([`Stacked::add`]), then the code goes on top for a service
/// image, and the result is marshalled with the image config.
pub fn build(target: &Target<'_>, inputs: &BuildInputs<'_>) -> Result<Build, PlanError> {
    let cx = Context::new(target, inputs)?;
    let mut stacked = Stacked::new(&cx);
    for level in levels(target) {
        stacked.add(&cx, level)?;
    }
    let Stacked {
        image: image_state,
        below,
        mut history,
        code_base,
        ..
    } = stacked;
    // 4. code, for a service image.
    let result = match (target.kind, target.service, code_base) {
        (TargetKind::Image, Some(service), Some(code_on)) => {
            code::code(&cx, service, &code_on, &image_state, &mut history)?
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
        &config::config_changes(target, inputs, &user, history),
    );
    Ok(Build {
        definition,
        config,
        uses_merge: cx.uses_merge,
    })
}

/// What every stage of a build reads: the target platform, whether the
/// image is assembled with MergeOp, the image the builder steps start from
/// and its environment, the unpacked uv and the environment it runs in.
struct Context<'a> {
    inputs: &'a BuildInputs<'a>,
    platform: &'a Platform,
    uses_merge: bool,
    /// The image's base.
    base: State,
    /// With `build-from`, the image the builder steps start from: the
    /// image is then assembled from `base` by copying alone.
    copied: Option<State>,
    /// What the builder steps start from: `copied`, else `base`.
    build_root: State,
    /// The build image's environment.
    build_env: Vec<String>,
    /// `build_env` for apt.
    apt_env: Vec<String>,
    /// The build image's own key for apt's cache mounts.
    apt_key: String,
    /// The unpacked uv binary.
    uv_tool: State,
    /// `build_env` for uv.
    uv_env: Vec<String>,
    /// What the wheels fetched for a venv must fit.
    environment: crate::environment::TargetEnvironment,
}

impl<'a> Context<'a> {
    fn new(target: &Target<'_>, inputs: &'a BuildInputs<'a>) -> Result<Self, PlanError> {
        let platform = &inputs.platform;
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
            Some((state, builder)) => (state.clone(), *builder),
            None => (base.clone(), &inputs.base),
        };
        let build_env = image::base_env(&build_image.config);
        let mut apt_env = build_env.clone();
        image::set_env(&mut apt_env, "DEBIAN_FRONTEND", "noninteractive");
        Ok(Self {
            inputs,
            platform,
            uses_merge,
            copied: copied.map(|(state, _)| state),
            uv_tool: unpack_uv(&build_root, &build_env, platform)?,
            uv_env: uv_env(&build_env),
            environment: target_environment(platform, &inputs.base, inputs.builder.as_ref()),
            // The apt caches belong to one base image: lists of another
            // release must never be mixed in.
            apt_key: short_hash(&build_image.reference),
            base,
            build_root,
            build_env,
            apt_env,
        })
    }

    /// `exec` with uv, its cache, and the secrets of the steps that
    /// download Python packages.
    fn with_uv(&self, exec: Exec) -> Exec {
        exec.mount(Mount::readonly(UV_DIR, &self.uv_tool))
            .mount(Mount::cache(
                UV_CACHE_DIR,
                UV_CACHE_ID,
                CacheSharing::Shared,
            ))
            .mount(Mount::secret(CA_BUNDLE_PATH, CA_BUNDLE_SECRET, true))
            .mount(Mount::secret(NETRC_PATH, NETRC_SECRET, true))
    }
}

/// uv, unpacked from its verified wheel in `build_root`, for the builders
/// only.
fn unpack_uv(
    build_root: &State,
    build_env: &[String],
    platform: &Platform,
) -> Result<State, PlanError> {
    let uv = tools::uv_wheel(platform)
        .ok_or_else(|| PlanError::UnsupportedPlatform(platform.to_spec_string()))?;
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
    build_root
        .run(
            Exec::argv(&shell(
                UV_UNPACK_SCRIPT,
                "pybase-uv",
                &[tools::uv_path_in_wheel()],
            ))
            .env(build_env.to_vec())
            .network(Network::None)
            .mount(Mount::readonly(WHEEL_DIR, &wheel))
            .mount(Mount::output(UV_DIR, &State::scratch()))
            .named(format!("[pybase] unpack uv {}", tools::UV_VERSION)),
            platform,
        )
        .output(UV_DIR)
        .ok_or(PlanError::MissingOutput(UV_DIR))
}

/// The environment uv runs in: the build image's, with uv's settings.
fn uv_env(build_env: &[String]) -> Vec<String> {
    let mut uv_env = build_env.to_vec();
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
    uv_env
}

/// The image as the levels stacked so far leave it for the next.
struct Stacked<'a> {
    /// The image so far.
    image: State,
    /// The user and working directory of the level below.
    below: Option<(User, &'a str)>,
    /// The build packages of every level so far.
    build_packages: Vec<String>,
    /// Whether a level below has a venv.
    has_venv: bool,
    /// The image's history entries.
    history: Vec<String>,
    /// The builder the code step runs in: the last project's level's.
    code_base: Option<State>,
    /// The project directories installed so far.
    installed: Vec<&'a str>,
    /// Assembling by copying, the builder's own filesystem with the venv
    /// so far (otherwise the builder is the image's system stage).
    build_chain: Option<State>,
}

impl<'a> Stacked<'a> {
    fn new(cx: &Context<'_>) -> Self {
        Self {
            image: cx.base.clone(),
            below: None,
            build_packages: Vec::new(),
            has_venv: false,
            history: Vec::new(),
            code_base: None,
            installed: Vec::new(),
            build_chain: cx.copied.clone(),
        }
    }

    /// Stack `level` on the levels below: its system packages, then its
    /// venv (whole for the first level with a project, else what the
    /// levels below lack).
    fn add(&mut self, cx: &Context<'_>, level: Level<'a>) -> Result<(), PlanError> {
        let user = level
            .user
            .cloned()
            .or_else(|| self.below.as_ref().map(|(user, _)| user.clone()))
            .unwrap_or_default();
        let needs_system = match &self.below {
            None => true,
            Some((below_user, below_workdir)) => {
                !level.runtime.is_empty() || *below_user != user || *below_workdir != level.workdir
            }
        };
        // 1. system
        let system = if needs_system && cx.copied.is_some() {
            system::copied(cx, &level, &user, &self.image, &mut self.history)?
        } else if needs_system {
            system::installed(cx, &level, &user, &self.image, &mut self.history)
        } else {
            self.image.clone()
        };
        for package in level.build {
            if !self.build_packages.contains(package) {
                self.build_packages.push(package.clone());
            }
        }
        self.below = Some((user, level.workdir));

        let Some(project) = level.project else {
            self.image = system;
            return Ok(());
        };
        // A service whose project is its tier's (seed 001: every
        // dependency in the base) finds its venv complete below.
        let installed_below = self.installed.contains(&project.dir);
        self.installed.push(project.dir);

        // 2. builder
        let builder_below = self.build_chain.clone().unwrap_or_else(|| system.clone());
        let builder = system::builder(cx, &level, builder_below, &self.build_packages);
        if installed_below {
            self.image = system;
            self.code_base = Some(builder);
            return Ok(());
        }

        // 3. venv: the whole venv into an output mount, or, on a venv
        // below, the files the sync adds to it.
        let name = level.name;
        let Venv {
            files: venv,
            lock_file,
        } = venv(cx, &level, &project, &builder, self.has_venv)?;
        let destination = if self.has_venv { "/" } else { VENV_DIR };
        if let Some(chain) = &mut self.build_chain {
            *chain = chain.copy(
                &venv,
                FileCopy::dir_contents("/", destination)
                    .named(format!("[{name}] build image: + venv")),
            );
        }
        self.has_venv = true;
        self.history
            .push(format!("pybase: [{name}] venv {VENV_DIR} from {lock_file}"));
        let venv_copy =
            FileCopy::dir_contents("/", destination).named(format!("[{name}] image: add the venv"));
        self.image = stack(
            cx.uses_merge,
            &system,
            &venv,
            venv_copy,
            format!("[{name}] image: system + venv"),
        );
        // The code step runs in the builder, which has the venvs below but
        // not this level's: its inputs do not include this lock, so a lock
        // bump does not rerun it (the project's files do not depend on its
        // dependencies). It makes an empty venv when there is none below.
        self.code_base = Some(builder);
        Ok(())
    }
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
