//! Everything besides the spec that decides a build: the resolved base and
//! build images, the server's caps, the context's ignore patterns, the
//! provenance labels and what the frontend learned of each project's files.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::diagnostic::Diagnostic;
use crate::image;
use crate::llb::marshal::{ServerCaps, digest_of};
use crate::llb::{Platform, State};
use crate::project::LockKind;
use crate::spec::ImageName;

use super::{Target, rust_toolchain, target_version};

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
    /// Where its layers come from.
    pub store: ImageStore,
}

/// Where an image's layers come from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ImageStore {
    /// A registry, or the daemon's own image store (`docker-image://`).
    #[default]
    Registry,
    /// An OCI layout directory of the client, shared through the session
    /// (`--build-context NAME=oci-layout://…`).
    OciLayout {
        /// The session the client shares it in.
        session_id: String,
        /// Its content store's id in that session.
        store_id: String,
    },
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
            store: ImageStore::Registry,
        }
    }

    /// The image as an LLB source on `platform`, its step named `name`.
    pub fn state(&self, platform: &Platform, name: impl Into<String>) -> State {
        match &self.store {
            ImageStore::Registry => State::image(&self.reference, platform, name),
            ImageStore::OciLayout {
                session_id,
                store_id,
            } => State::oci_layout(&self.reference, (session_id, store_id), platform, name),
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
    /// one ([`Target::build_image`](super::Target::build_image)); else the builder starts from `base`.
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
    /// What the build's options set on every step: the proxies
    /// (`--build-arg HTTPS_PROXY=…`, out of cache keys and layers) and the
    /// cache mounts' namespace (`BUILDKIT_CACHE_MOUNT_NS`).
    pub exec_settings: crate::llb::marshal::ExecSettings,
    /// Run the image's system steps again (`--no-cache-filter system`):
    /// `apt-get upgrade` and the runtime packages, for the OS's security
    /// fixes, while the builders, venvs and code stay as cached (see
    /// [`NoCacheFilter`](super::NoCacheFilter)).
    pub refresh_system: bool,
}

/// The images a target's build starts from, for one platform.
#[derive(Clone, Debug)]
pub struct TargetImages {
    /// The target platform.
    pub platform: Platform,
    /// The service's base image, resolved for `platform`.
    pub base: BaseImage,
    /// The image the builder starts from, when the target has one
    /// ([`Target::build_image`](super::Target::build_image)).
    pub builder: Option<BaseImage>,
}

impl TargetImages {
    /// The target's images, unresolved (printing LLB offline: see
    /// [`BaseImage::unresolved`]); `None` for a target without a base image.
    pub fn unresolved(target: &Target<'_>, platform: Platform) -> Option<Self> {
        let (base, _) = target.base_image()?;
        Some(Self {
            base: BaseImage::unresolved(base, &platform),
            builder: target
                .build_image()
                .map(|(image, _)| BaseImage::unresolved(image, &platform)),
            platform,
        })
    }
}

impl<'a> BuildInputs<'a> {
    /// The inputs of `target`'s build, as every caller assembles them: the
    /// spec file's name and text, the facts of the projects it stacks from
    /// their files and what [`check_stack`](crate::project::check_stack)
    /// learned of them (`stack` and `infos`, root first), the target's
    /// version, and the images it starts from. The rest is a build without
    /// a server: no caps checked, no MergeOp, no labels, no `.dockerignore`
    /// patterns and no provenance but the version; a caller that has them
    /// sets those fields. Fails when the target's version cannot be known
    /// ([`target_version`]), or its project builds Rust without a Rust
    /// toolchain in the builder ([`rust_toolchain`]).
    pub fn new(
        session_id: &'a str,
        spec_file: &'a str,
        spec_text: &'a [u8],
        target: &Target<'_>,
        stack: &[crate::project::ProjectFiles<'_>],
        infos: &[crate::project::ProjectInfo],
        images: TargetImages,
    ) -> Result<Self, Diagnostic> {
        rust_toolchain(spec_file, target, infos)?;
        Ok(Self {
            session_id,
            platform: images.platform,
            base: images.base,
            builder: images.builder,
            caps: None,
            prefer_mergeop: false,
            spec_file,
            spec_text: Some(spec_text),
            labels: Vec::new(),
            ignored: Vec::new(),
            provenance: Provenance {
                version: target_version(target, infos)?,
                ..Provenance::default()
            },
            projects: project_facts(stack, infos),
            exec_settings: Default::default(),
            refresh_system: false,
        })
    }
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
            // The files a requirements lock includes are part of it.
            let mut lock = files.lock_bytes().unwrap_or_default().to_vec();
            for bytes in files.included.values().flatten() {
                lock.push(0);
                lock.extend_from_slice(bytes);
            }
            (
                files.project.dir.to_owned(),
                ProjectFacts::of(info, files.pyproject.as_deref().unwrap_or_default(), &lock),
            )
        })
        .collect()
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
    /// What its venv gets from the lock (see [`crate::select`]).
    pub selection: crate::select::Selection,
    /// Which of those packages' files BuildKit fetches (see
    /// [`crate::artifacts::wheelhouse`]).
    pub fetching: crate::artifacts::Fetching,
    /// Its build backend's requirements, when read (see
    /// `Pyproject::build_requires`): the code step builds in an
    /// environment of them made once, not in a fresh isolated one.
    pub build_requires: Option<Vec<String>>,
    /// Whether its build compiles Rust with cargo (see
    /// [`ProjectInfo::builds_with_cargo`](crate::project::ProjectInfo::builds_with_cargo)):
    /// its code step gets cargo's registry as a cache and the CA bundle
    /// for cargo.
    pub cargo: bool,
    /// Whether its build backend builds it from Python files alone (see
    /// [`ProjectInfo::builds_pure_python`](crate::project::ProjectInfo::builds_pure_python)):
    /// its code step runs on the system stage, not the builder.
    pub pure_python: bool,
    /// Whether it is an application (see
    /// [`ProjectInfo::application`](crate::project::ProjectInfo::application)):
    /// its code is copied into the working directory, not installed.
    pub application: bool,
    /// When it is a member of a uv workspace: what its venv and code steps
    /// read of the workspace (see
    /// [`Workspace`](crate::project::Workspace)).
    pub workspace: Option<crate::project::Workspace>,
    /// The directories of the path dependencies its `poetry.lock` locks,
    /// which its code step installs after it (see
    /// [`ProjectInfo::path_dependencies`](crate::project::ProjectInfo::path_dependencies)).
    pub path_dependencies: Vec<String>,
    /// The names of the package indexes its `pyproject.toml` declares
    /// (`[[tool.uv.index]] name`), whose credentials its venv step takes
    /// from the optional secrets `UV_INDEX_<NAME>_USERNAME` and
    /// `UV_INDEX_<NAME>_PASSWORD` when BuildKit can set secrets as
    /// environment variables.
    pub index_names: Vec<String>,
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
            selection: info.selection.clone(),
            fetching: info.fetching,
            build_requires: info.build_requires.clone().filter(|_| !info.application),
            cargo: info.builds_with_cargo(),
            pure_python: info.builds_pure_python(),
            application: info.application,
            workspace: info.workspace.clone(),
            path_dependencies: info.path_dependencies.clone(),
            index_names: info
                .pyproject
                .as_ref()
                .and_then(|p| p.uv.as_ref())
                .map(|uv| uv.index_names.clone())
                .unwrap_or_default(),
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
