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
//! 4. **code**: the project installed without dependencies, into the venv
//!    below (a tier's) or an empty one on the same interpreter, never the
//!    service's own: the files it adds are copied to an output mount; an
//!    application's files (no pyproject.toml) are copied into the working
//!    directory instead, owned by root. Only a code change reruns it, not
//!    a lock bump. It runs in the builder only when the project's own
//!    build may compile; a project whose `[build-system] build-backend`
//!    builds from Python files alone (hatchling without a build hook,
//!    poetry-core without a build script, flit-core, uv_build: see
//!    `Pyproject::builds_pure_python`) is installed on the *system* stage
//!    (with the venvs below and uv mounted). Build packages are mostly
//!    there for the dependencies (gcc for an sdist), and a code change on a
//!    runner that imports the cache (`--cache-from`) then needs none of the
//!    builder's layers: they are neither pulled nor, with an inline cache
//!    that lacks them, built again. Whatever pyproject.toml does not make
//!    certain (setuptools, whose `setup.py` the plan does not look for;
//!    pdm-backend, whose `pdm_build.py` hook neither; maturin; a backend
//!    pybase does not know; workspace members and path dependencies, whose
//!    backends are not read) stays in the builder: a wrong guess there
//!    costs time, the other way a failed build.
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
//! with a git dependency over SSH. A venv step that uv downloads with gets
//! the credentials of the indexes its pyproject names as optional secret
//! env (`UV_INDEX_<NAME>_PASSWORD`). With `--no-cache-filter system` the
//! image's system steps are refreshed on a chain of their own (`no_cache`).
//!
//! `build` reads a `Context` shared by every stage and stacks the
//! levels one by one; each stage is a module of its own: `system`
//! (system and builder), `venv`, `code`, `config` (the image
//! config), with the scripts they run in `scripts`. `target`,
//! `sources` and `inputs` hold what decides a build before it starts.

use std::collections::BTreeSet;

use serde_json::Value;

use bollard_buildkit_proto::pb;

use crate::image;
use crate::layering;
use crate::llb::marshal::digest_of;
use crate::llb::{
    self, CacheSharing, Exec, FileCopy, MarshalError, Mount, Network, Platform, State,
};
use crate::spec::{DEFAULT_WORKDIR, ProjectDir, User};
use crate::tools;

mod code;
mod commands;
mod config;
mod inputs;
mod lock;
mod no_cache;
mod scripts;
mod sources;
mod system;
mod target;
mod venv;

pub use inputs::{
    BaseImage, BuildInputs, ImageStore, ProjectFacts, Provenance, TargetImages, parse_build_date,
    project_facts, target_environment,
};
pub use lock::{
    LOCK_DESCRIPTION, LOCK_TARGET, LOCK_TARGETS_ARG, LOCK_UPGRADE_ARG, LockJob, LockOptions,
    Locker, LockerFiles, REQUIREMENTS_IN, Upgrade, build_lock, lock_command, lock_selection,
    locker_inputs, locker_source,
};
pub use no_cache::{NoCacheFilter, STAGES, UnknownStage};
pub use sources::{
    FoundFiles, dockerignore_patterns, dockerignore_source, found_files_source, lock_inputs,
    lock_source, other_lock_inputs, other_lock_source, setup_source, workspace_lock_source,
};
pub use target::{
    CARGO_PACKAGES, Target, TargetKind, rust_toolchain, select_target, target_version, targets,
};

use venv::{Venv, VenvFiles, venv};

use scripts::{INDEX_CREDENTIALS_SCRIPT, Script, UV_UNPACK_SCRIPT};

pub use crate::files::{DOCKERIGNORE_FILE, LOCK_FILE, PYPROJECT_FILE, SETUP_FILES, VENV_DIR};

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
/// Where a step's script is mounted, alone (see [`shell`]). At the root:
/// BuildKit removes the mount point it created for a step, but not the
/// parents it created on the way, which would stay in the layer of a step
/// that runs in the image (an empty `/pybase` from `/pybase/scripts`).
const SCRIPTS_DIR: &str = "/pybase-scripts";
/// Where the wrapper of a step with index credentials is mounted (beside
/// [`SCRIPTS_DIR`], which holds the step's own script alone).
const CREDENTIALS_SCRIPT_DIR: &str = "/pybase-credentials";
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
/// cargo's home in a code step that compiles Rust (`CARGO_HOME`): its
/// registry index and the crates it downloaded, a cache mount as uv's
/// cache is, so a rebuild fetches no crate again.
const CARGO_HOME_DIR: &str = "/pybase/cache/cargo";
const CARGO_CACHE_ID: &str = "pybase-cargo-home";
/// cargo's target directory in that step (`CARGO_TARGET_DIR`), a cache
/// mount of its own per platform (`pybase-cargo-target-linux/amd64`), so
/// that a code change compiles the project's crate again but not its
/// dependencies.
const CARGO_TARGET_DIR: &str = "/pybase/cache/cargo-target";
const CARGO_TARGET_CACHE_ID: &str = "pybase-cargo-target";
/// Where the wheels BuildKit fetched for a venv are mounted.
const WHEELS_DIR: &str = "/pybase/wheels";
/// Where an sdist BuildKit fetched is mounted for its wheel's build.
const SDIST_DIR: &str = "/pybase/sdist";
/// Where the lock exported to requirements (`requirements.txt`) is mounted.
const REQUIREMENTS_DIR: &str = "/pybase/requirements";
/// `SOURCE_DATE_EPOCH` in the steps that install Python packages: 1980-01-01,
/// the earliest time a wheel (a zip) can record.
const PYC_EPOCH: &str = "315532800";

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
/// by one (`Stacked::add`), then the code goes on top for a service
/// image, and the result is marshalled with the image config.
pub fn build(target: &Target<'_>, inputs: &BuildInputs<'_>) -> Result<Build, PlanError> {
    let cx = Context::new(target, inputs)?;
    let mut stacked = Stacked::new(&cx);
    for level in levels(target) {
        stacked.add(&cx, level)?;
    }
    let Stacked {
        image,
        refreshed,
        below,
        mut history,
        code_base,
        code_system,
        command_base,
        ..
    } = stacked;
    // The image's own system steps, refreshed when asked.
    let image_state = refreshed.unwrap_or(image);
    // 4. code, for a service image.
    let result = match (
        target.kind,
        target.service,
        code_base.zip(code_system),
        command_base,
    ) {
        (TargetKind::Image, Some(service), Some((code_on, system)), Some(with_venv)) => {
            let tiers_env: Vec<(String, String)> = target
                .tiers
                .iter()
                .flat_map(|tier| tier.level.env.iter().cloned())
                .collect();
            let builders = code::Builders {
                code_on: &code_on,
                system: &system,
                with_venv: &with_venv,
                tiers_env: &tiers_env,
            };
            code::code(&cx, service, &builders, &image_state, &mut history)?
        }
        _ => image_state,
    };

    let source = inputs
        .spec_text
        .map(|text| source_info(inputs.spec_file, text));
    let definition =
        llb::marshal::marshal_with(&result, inputs.caps, source, &inputs.exec_settings)?;
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

/// The spec `file` (its text `text`) as the source map of a definition,
/// which lets buildx show a failed step at its spec line.
fn source_info(file: &str, text: &[u8]) -> pb::SourceInfo {
    pb::SourceInfo {
        filename: file.to_owned(),
        data: text.to_vec(),
        language: "yaml".to_owned(),
        definition: None,
    }
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
        let base = inputs.base.state(
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
                builder.state(
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

    /// `exec` with the credentials of the package indexes named `indexes`
    /// (`[[tool.uv.index]] name`) as uv reads them,
    /// `UV_INDEX_<NAME>_USERNAME` and `UV_INDEX_<NAME>_PASSWORD`, each from
    /// the optional build secret of that id (`--secret
    /// id=UV_INDEX_<NAME>_PASSWORD,env=TOKEN`): in no layer, no config and
    /// no cache key. Only when BuildKit can set a secret as a variable
    /// (`exec.secretenv`, v0.10); an older one gets none, and the `netrc`
    /// secret still works there.
    fn with_index_credentials(&self, exec: Exec, indexes: &[String]) -> Exec {
        let offered = self
            .inputs
            .caps
            .is_none_or(|caps| matches!(caps.get("exec.secretenv"), Some(Ok(()))));
        if !offered {
            return exec;
        }
        let mut exec = exec;
        let mut variables: Vec<String> = Vec::new();
        for name in indexes {
            let stem = crate::pyproject::index_env_stem(name);
            for part in ["USERNAME", "PASSWORD"] {
                let variable = format!("UV_INDEX_{stem}_{part}");
                if !variables.contains(&variable) {
                    exec = exec.optional_secret_env(&variable, &variable);
                    variables.push(variable);
                }
            }
        }
        if variables.is_empty() {
            return exec;
        }
        // A secret the client did not pass is an empty variable: the
        // wrapper unsets it, so that uv still reads the netrc secret.
        wrapped(
            exec,
            &INDEX_CREDENTIALS_SCRIPT,
            CREDENTIALS_SCRIPT_DIR,
            variables,
        )
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
            shell(&UV_UNPACK_SCRIPT, &[tools::uv_path_in_wheel()])
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
    /// That builder without the build packages: its system stage (or,
    /// assembling by copying, the build image with the venvs below), where
    /// the code step of a project built from Python files alone runs.
    code_system: Option<State>,
    /// That builder with the last project's venv, where build commands
    /// run.
    command_base: Option<State>,
    /// The project directories installed so far.
    installed: Vec<&'a str>,
    /// The distributions the venvs so far hold, by PEP 503 name.
    venv_names: BTreeSet<String>,
    /// Assembling by copying, the builder's own filesystem with the venv
    /// so far (otherwise the builder is the image's system stage).
    build_chain: Option<State>,
    /// With the system steps refreshed (`--no-cache-filter system`), the
    /// image so far with them: the image's system steps run again, while
    /// the builders, and so the venvs and the code, stand on `image`, the
    /// system steps as cached.
    refreshed: Option<State>,
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
            code_system: None,
            command_base: None,
            installed: Vec::new(),
            venv_names: BTreeSet::new(),
            build_chain: cx.copied.clone(),
            // Assembling by copying runs no system step in the image.
            refreshed: (cx.inputs.refresh_system && cx.copied.is_none()).then(|| cx.base.clone()),
        }
    }

    /// Stack `level` on the levels below: its system packages, then its
    /// venv (whole for the first level with a project, else what the
    /// levels below lack).
    fn add(&mut self, cx: &Context<'_>, level: Level<'a>) -> Result<(), PlanError> {
        // 1. system
        let (system, refreshed) = self.system(cx, &level)?;
        let Some(project) = level.project else {
            self.image = system;
            self.refreshed = refreshed;
            return Ok(());
        };
        // A service whose project is its tier's (seed 001: every
        // dependency in the base) finds its venv complete below.
        let installed_below = self.installed.contains(&project.dir);
        self.installed.push(project.dir);

        // 2. builder
        let builder = self.builder(cx, &level, &system);
        self.code_system = Some(self.builder_below(&system));
        if installed_below {
            self.image = system;
            self.refreshed = refreshed;
            self.command_base = Some(builder.clone());
            self.code_base = Some(builder);
            return Ok(());
        }
        self.add_venv(cx, &level, &project, (system, builder, refreshed))
    }

    /// The system stage of `level` on the image so far (the image so far
    /// itself when the level changes none of it), and the build packages
    /// and user it leaves for the next level; with the system steps
    /// refreshed, also that stage run again on the refreshed image so far.
    fn system(
        &mut self,
        cx: &Context<'_>,
        level: &Level<'a>,
    ) -> Result<(State, Option<State>), PlanError> {
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
        let system = if needs_system && cx.copied.is_some() {
            system::copied(cx, level, &user, &self.image, &mut self.history)?
        } else if needs_system {
            system::installed(cx, level, &user, &self.image, &mut self.history)
        } else {
            self.image.clone()
        };
        let refreshed = match &self.refreshed {
            Some(below) if needs_system => Some(system::refreshed(cx, level, &user, below)),
            other => other.clone(),
        };
        for package in level.build {
            if !self.build_packages.contains(package) {
                self.build_packages.push(package.clone());
            }
        }
        self.below = Some((user, level.workdir));
        Ok((system, refreshed))
    }

    /// The builder of `level`, whose system stage is `system`: it (or,
    /// assembling by copying, the build image with the venvs so far) with
    /// the build packages of every level so far.
    fn builder(&self, cx: &Context<'_>, level: &Level<'_>, system: &State) -> State {
        system::builder(cx, level, self.builder_below(system), &self.build_packages)
    }

    /// What the builder of a level whose system stage is `system` adds its
    /// build packages to: `system`, or, assembling by copying, the build
    /// image with the venvs so far.
    fn builder_below(&self, system: &State) -> State {
        self.build_chain.clone().unwrap_or_else(|| system.clone())
    }

    /// The venv of `level`, whose project is `project`, made on its
    /// builder and stacked on its system stage.
    fn add_venv(
        &mut self,
        cx: &Context<'_>,
        level: &Level<'a>,
        project: &ProjectDir<'a>,
        (system, builder, refreshed): (State, State, Option<State>),
    ) -> Result<(), PlanError> {
        // 3. venv: the whole venv into an output mount, or, on a venv
        // below, the files the sync adds to it.
        let name = level.name;
        let distributions =
            venv::distributions(cx, cx.inputs.projects.get(project.dir), &self.venv_names);
        // Layers of their own need MergeOp; assembled by copying, the venv
        // stays one layer.
        let layers = if cx.uses_merge && cx.copied.is_none() {
            layering::layers(&distributions, level.venv_layers)
        } else {
            Vec::new()
        };
        self.venv_names
            .extend(distributions.into_iter().map(|d| d.name));
        let Venv { files, lock_file } =
            venv(cx, level, project, &builder, (self.has_venv, &layers))?;
        let venv = match files {
            VenvFiles::One(venv) => venv,
            VenvFiles::Layers(layers) => {
                self.add_layers(name, &lock_file, &layers, (system, builder, refreshed));
                return Ok(());
            }
        };
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
        self.refreshed = refreshed.map(|refreshed| {
            stack(
                cx.uses_merge,
                &refreshed,
                &venv,
                venv_copy.clone(),
                format!("[{name}] image: system + venv"),
            )
        });
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
        // Build commands run with the venv.
        self.command_base = Some(stack(
            cx.uses_merge,
            &builder,
            &venv,
            FileCopy::dir_contents("/", destination).named(format!("[{name}] builder: + venv")),
            format!("[{name}] builder: + venv"),
        ));
        self.code_base = Some(builder);
        Ok(())
    }
}

impl Stacked<'_> {
    /// Stack a venv assembled from `layers` (each with what it holds) on
    /// `system` (and on `refreshed`) for the image, and on `builder` for
    /// the build commands.
    fn add_layers(
        &mut self,
        name: &str,
        lock_file: &str,
        layers: &[(State, String)],
        (system, builder, refreshed): (State, State, Option<State>),
    ) {
        for (_, what) in layers {
            self.history.push(format!(
                "pybase: [{name}] venv {VENV_DIR} from {lock_file}: {what}"
            ));
        }
        self.has_venv = true;
        let count = layers.len();
        let on = |below: &State, merge_name: String| {
            let mut stacked = vec![below];
            stacked.extend(layers.iter().map(|(layer, _)| layer));
            State::merge(&stacked, merge_name)
        };
        self.refreshed = refreshed.map(|refreshed| {
            on(
                &refreshed,
                format!("[{name}] image: system + venv ({count} layers)"),
            )
        });
        self.image = on(
            &system,
            format!("[{name}] image: system + venv ({count} layers)"),
        );
        self.command_base = Some(on(
            &builder,
            format!("[{name}] builder: + venv ({count} layers)"),
        ));
        self.code_base = Some(builder);
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
    /// The most layers its venv takes with MergeOp (`venv-layers`).
    venv_layers: u32,
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
        venv_layers: tier.level.venv_layers,
    });
    let service = target.service.map(|service| Level {
        name: &service.level.name,
        line: service.level.at.map(|p| p.line),
        runtime: &service.level.runtime_packages,
        build: &service.level.build_packages,
        project: Some(service.project_dir()),
        user: service.level.user.as_ref(),
        workdir: &service.workdir,
        venv_layers: service.level.venv_layers,
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
    stack_all(uses_merge, below, vec![(output, copy)], merge_name)
}

/// `below` with what each of `copies` takes from its state on top, in
/// order, as one layer of their own (one `FileOp`): stacked with MergeOp
/// (`merge_name`), or copied onto `below`.
fn stack_all(
    uses_merge: bool,
    below: &State,
    copies: Vec<(&State, FileCopy)>,
    merge_name: String,
) -> State {
    if uses_merge {
        let layer = State::scratch().copy_all(copies);
        State::merge(&[below, &layer], merge_name)
    } else {
        below.copy_all(copies)
    }
}

/// `script` as a file of its own on scratch (`/FILE`, mode 0644, dated
/// the epoch): the same script is the same op.
fn script_file(script: &Script) -> State {
    State::scratch().mkfile(
        &format!("/{}", script.file),
        script.text.as_bytes(),
        format!("[pybase] script {}", script.file),
    )
}

/// `exec` run by the wrapper `script`, mounted alone at `dir`: `/bin/sh
/// DIR/FILE ARGS... -- ARGV...` (the wrapper ends by running what follows
/// `--`).
fn wrapped(exec: Exec, script: &Script, dir: &str, args: Vec<String>) -> Exec {
    let prefix: Vec<String> = ["/bin/sh".to_owned(), format!("{dir}/{}", script.file)]
        .into_iter()
        .chain(args)
        .chain(["--".to_owned()])
        .collect();
    exec.wrapped_in(&prefix)
        .mount(Mount::readonly(dir, &script_file(script)))
}

/// `/bin/sh /pybase-scripts/FILE ARGS...`, with the script's file mounted
/// there read-only, alone: a `FileOp` of its bytes on scratch, so the same
/// script is the same op, and a step's cache key changes only with its own
/// script. Arguments reach the script as `"$@"`, never spliced into its
/// text; a failed step shows this short command, not the script.
fn shell(script: &Script, args: &[String]) -> Exec {
    let file = script_file(script);
    let argv: Vec<String> = [
        "/bin/sh".to_owned(),
        format!("{SCRIPTS_DIR}/{}", script.file),
    ]
    .into_iter()
    .chain(args.iter().cloned())
    .collect();
    Exec::argv(&argv).mount(Mount::readonly(SCRIPTS_DIR, &file))
}

fn short_hash(text: &str) -> String {
    digest_of(text.as_bytes())
        .trim_start_matches("sha256:")
        .chars()
        .take(12)
        .collect()
}
