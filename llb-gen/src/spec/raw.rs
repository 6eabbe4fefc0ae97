//! The spec as written: the raw structs serde-saphyr reads `pybase.yaml`
//! into, before validation (unknown keys and wrong types are errors with a
//! line and column).
//!
//! These structs are the spec's schema: [`json_schema`] derives the
//! published JSON Schema from them (their doc comments become its
//! descriptions), so a key added here is documented for editors with no
//! further step.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::diagnostic::Position;

/// A pybase spec: Python service images built by BuildKit from one file.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "pybase spec")]
pub(super) struct RawSpec {
    /// The spec format version. Always `1`.
    #[schemars(with = "u32", range(min = 1, max = 1))]
    pub(super) version: Spanned<u32>,
    /// Shared base images, by name. Each name is a `--target`; services and
    /// other tiers start from a tier by naming it.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, RawTier>")]
    pub(super) tiers: BTreeMap<Key, RawTier>,
    /// The services, by name. Each name is a `--target`, and `NAME-base` is
    /// the same image without the project's code.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, RawService>")]
    pub(super) services: BTreeMap<Key, RawService>,
}

/// A tier: a shared base image with OS packages, a locked venv and
/// environment, that services and other tiers build on.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Tier")]
pub(super) struct RawTier {
    /// What the tier starts from: another tier (by name) or an image with
    /// CPython, e.g. `python:3.12-slim`.
    #[schemars(with = "String")]
    pub(super) from: Spanned<String>,
    /// The image the builder starts from (root tiers only), for a runtime image without a
    /// shell or package manager (distroless): the venv and the code are
    /// built there, and the image is assembled from `from` by copying
    /// alone, so `system.runtime` must be empty. It must have the same
    /// CPython at the same path as `from`.
    #[serde(default, rename = "build-from", deserialize_with = "present")]
    #[schemars(with = "Option<String>")]
    pub(super) build_from: Option<Spanned<String>>,
    /// A directory holding `pyproject.toml` and `uv.lock` (or only a
    /// `requirements.txt` or `pylock.toml`, without `pyproject.toml`),
    /// relative to the build context: the tier's venv gets the project's
    /// locked dependencies (not the project itself). Without it the tier
    /// has no Python packages of its own.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub(super) project: Option<Spanned<String>>,
    /// Extras of the project (`[project.optional-dependencies]`) whose
    /// packages the venv gets too. Needs `uv.lock`, `poetry.lock` or
    /// `pdm.lock`.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub(super) extras: Vec<Spanned<String>>,
    /// Dependency groups (`[dependency-groups]`) whose packages the venv
    /// gets too; none by default, `dev` included. Needs `uv.lock`,
    /// `poetry.lock` or `pdm.lock` (or `Pipfile.lock`, whose `develop`
    /// section `develop` or `dev` selects).
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub(super) groups: Vec<Spanned<String>>,
    /// The project's lock file, relative to the project directory, when
    /// it is not at its default name (`requirements/prod.txt`): its format
    /// is taken from its name (`uv.lock`, `poetry.lock`, `pdm.lock`,
    /// `Pipfile.lock`, `pylock.toml` or `pylock.*.toml`, otherwise a
    /// requirements file). Default: the first of `uv.lock`, `poetry.lock`,
    /// `pdm.lock`, `Pipfile.lock`, `pylock.toml`, `requirements.txt` the
    /// directory has.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub(super) lock: Option<Spanned<String>>,
    /// With a `requirements.txt` lock: `false` accepts requirements without
    /// `--hash` (each still pinned with `==`), installed without hash
    /// checking. Default `true`: every requirement needs its hashes. The
    /// other locks always carry them.
    #[serde(default, rename = "require-hashes")]
    #[schemars(with = "Option<bool>")]
    pub(super) require_hashes: Option<Spanned<bool>>,
    /// The most layers this level's venv takes with MergeOp: each locked
    /// distribution its own layer, the smallest grouped past this budget,
    /// plus one for the venv's own files (`pyvenv.cfg`, `bin/python`).
    /// `1` keeps the whole venv in one layer. Default 16; at most 64.
    #[serde(default, rename = "venv-layers")]
    #[schemars(with = "Option<u32>", range(min = 1, max = 64))]
    pub(super) venv_layers: Option<Spanned<u32>>,
    /// OS packages of the image and of the builder.
    #[serde(default)]
    pub(super) system: RawSystem,
    /// Environment variables of the image and of everything built on it.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, String>")]
    pub(super) env: BTreeMap<Key, Spanned<String>>,
    /// The non-root user images on this tier run as.
    #[serde(default)]
    pub(super) user: Option<RawUser>,
}

/// The user an image runs as. Default: `app`, uid and gid 1000.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "User")]
pub(super) struct RawUser {
    /// The user name. Default `app`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub(super) name: Option<Spanned<String>>,
    /// The uid. Default 1000.
    #[serde(default)]
    #[schemars(with = "Option<u32>")]
    pub(super) uid: Option<Spanned<u32>>,
    /// The gid of the user's group. Default: the uid.
    #[serde(default)]
    #[schemars(with = "Option<u32>")]
    pub(super) gid: Option<Spanned<u32>>,
}

/// One service image: a base image, OS packages, a venv installed from the
/// project's lock file, and the project's code.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Service")]
pub(super) struct RawService {
    /// The runtime base image: any image with CPython, e.g.
    /// `python:3.12-slim`. Leave it out when the service names a `tier`.
    #[serde(default, deserialize_with = "present")]
    #[schemars(with = "Option<String>")]
    pub(super) from: Option<Spanned<String>>,
    /// The tier the service builds on: its image starts with the tier's
    /// exact layers, and its venv adds only what the tier lacks.
    #[serde(default, deserialize_with = "present")]
    #[schemars(with = "Option<String>")]
    pub(super) tier: Option<Spanned<String>>,
    /// The image the builder starts from (without `tier`), for a runtime image without a
    /// shell or package manager (distroless): the venv and the code are
    /// built there, and the image is assembled from `from` by copying
    /// alone, so `system.runtime` must be empty. It must have the same
    /// CPython at the same path as `from`.
    #[serde(default, rename = "build-from", deserialize_with = "present")]
    #[schemars(with = "Option<String>")]
    pub(super) build_from: Option<Spanned<String>>,
    /// The non-root user the image runs as (default: the tier's, else
    /// `app`, 1000).
    #[serde(default)]
    pub(super) user: Option<RawUser>,
    /// The directory holding `pyproject.toml` and `uv.lock`, relative to the
    /// build context; or an application's code with its `requirements.txt`
    /// (or `pylock.toml`) and no `pyproject.toml`, copied into `workdir`.
    /// Defaults to the context root.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub(super) project: Option<Spanned<String>>,
    /// The project's version (PEP 440), for a project that takes its
    /// version from version control (setuptools_scm, hatch-vcs): the build
    /// context has no `.git`, so give it here, usually from a build arg:
    /// `version: ${VERSION}`. It is also the image's
    /// `org.opencontainers.image.version`.
    #[serde(default, deserialize_with = "present")]
    #[schemars(with = "Option<String>")]
    pub(super) version: Option<Spanned<String>>,
    /// Extras of the project (`[project.optional-dependencies]`) whose
    /// packages the venv gets too. Needs `uv.lock`, `poetry.lock` or
    /// `pdm.lock`.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub(super) extras: Vec<Spanned<String>>,
    /// Dependency groups (`[dependency-groups]`) whose packages the venv
    /// gets too; none by default, `dev` included. Needs `uv.lock`,
    /// `poetry.lock` or `pdm.lock` (or `Pipfile.lock`, whose `develop`
    /// section `develop` or `dev` selects).
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub(super) groups: Vec<Spanned<String>>,
    /// The project's lock file, relative to the project directory, when
    /// it is not at its default name (`requirements/prod.txt`): its format
    /// is taken from its name (`uv.lock`, `poetry.lock`, `pdm.lock`,
    /// `Pipfile.lock`, `pylock.toml` or `pylock.*.toml`, otherwise a
    /// requirements file). Default: the first of `uv.lock`, `poetry.lock`,
    /// `pdm.lock`, `Pipfile.lock`, `pylock.toml`, `requirements.txt` the
    /// directory has.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub(super) lock: Option<Spanned<String>>,
    /// With a `requirements.txt` lock: `false` accepts requirements without
    /// `--hash` (each still pinned with `==`), installed without hash
    /// checking. Default `true`: every requirement needs its hashes. The
    /// other locks always carry them.
    #[serde(default, rename = "require-hashes")]
    #[schemars(with = "Option<bool>")]
    pub(super) require_hashes: Option<Spanned<bool>>,
    /// The most layers this level's venv takes with MergeOp: each locked
    /// distribution its own layer, the smallest grouped past this budget,
    /// plus one for the venv's own files (`pyvenv.cfg`, `bin/python`).
    /// `1` keeps the whole venv in one layer. Default 16; at most 64.
    #[serde(default, rename = "venv-layers")]
    #[schemars(with = "Option<u32>", range(min = 1, max = 64))]
    pub(super) venv_layers: Option<Spanned<u32>>,
    /// OS packages of the image and of the builder.
    #[serde(default)]
    pub(super) system: RawSystem,
    /// Commands run on the code before it ships (Django's `collectstatic`,
    /// compiling translations, building web assets with Node), in order,
    /// each its own step in the builder: the image's system, the
    /// `system.build` packages and (unless `venv: false`) the venv with the
    /// project installed, in a writable copy of the project directory at
    /// the working directory that already holds the earlier commands'
    /// outputs. Only their `outputs` reach the image, in the working
    /// directory, in the code's layer; their tools never do.
    #[serde(default, rename = "build-commands")]
    pub(super) build_commands: Vec<RawBuildCommand>,
    /// The image's command (its `Cmd`), as a list of arguments.
    #[serde(default)]
    #[schemars(with = "Option<Vec<String>>")]
    pub(super) command: Option<Spanned<Vec<String>>>,
    /// The image's entrypoint, as a list of arguments. Setting it without
    /// `command` clears the base image's command, as in a Dockerfile.
    #[serde(default)]
    #[schemars(with = "Option<Vec<String>>")]
    pub(super) entrypoint: Option<Spanned<Vec<String>>>,
    /// Environment variables of the image (`PATH` and `VIRTUAL_ENV` belong
    /// to pybase: the venv comes first on `PATH`).
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, String>")]
    pub(super) env: BTreeMap<Key, Spanned<String>>,
    /// The working directory, an absolute path. Default `/app`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub(super) workdir: Option<Spanned<String>>,
    /// Ports the service listens on: `8000`, `8000/tcp` or `53/udp`.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub(super) ports: Vec<Spanned<String>>,
    /// How the container checks its own health.
    #[serde(default)]
    pub(super) healthcheck: Option<RawHealthcheck>,
    /// The signal that stops the container, e.g. `SIGINT`.
    #[serde(default, rename = "stop-signal")]
    #[schemars(with = "Option<String>")]
    pub(super) stop_signal: Option<Spanned<String>>,
    /// Image labels.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, String>")]
    pub(super) labels: BTreeMap<Key, Spanned<String>>,
}

/// A command run on the service's code in the builder; what it makes
/// (`outputs`) joins the code in the image.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "BuildCommand")]
pub(super) struct RawBuildCommand {
    /// The command: a string (run by `/bin/sh -c`) or a list of
    /// arguments, run as root in the copy of the project directory.
    #[schemars(with = "CommandLine")]
    pub(super) run: Spanned<CommandLine>,
    /// What it makes that the image gets: paths relative to the project
    /// directory (`staticfiles`, `frontend/dist`), each copied to the same
    /// path under the working directory, owned by root and readable by
    /// everyone. A path the command did not make fails the build.
    #[schemars(with = "Vec<String>")]
    pub(super) outputs: Spanned<Vec<Spanned<String>>>,
    /// The paths of the project directory the command reads (`frontend`,
    /// `package.json`): it sees only those, so it reruns only when they
    /// change. Default: the whole project directory and the project
    /// installed in the venv, so any code change reruns it.
    #[serde(default)]
    #[schemars(with = "Option<Vec<String>>")]
    pub(super) inputs: Option<Spanned<Vec<Spanned<String>>>>,
    /// `false` runs the command without the venv (a Node build), so a lock
    /// change does not rerun it. Default `true`: the venv comes first on
    /// `PATH`, with the service's environment.
    #[serde(default)]
    #[schemars(with = "Option<bool>")]
    pub(super) venv: Option<Spanned<bool>>,
    /// Directories kept between builds as BuildKit cache mounts (`/root/.npm`),
    /// absolute paths: never in the image.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub(super) caches: Vec<Spanned<String>>,
}

/// A health check, as Docker runs it.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Healthcheck")]
pub(super) struct RawHealthcheck {
    /// The check: a list of arguments (run directly), a string (run by the
    /// image's shell), or a list starting with `CMD`, `CMD-SHELL` or `NONE`.
    #[schemars(with = "CommandLine")]
    pub(super) test: Spanned<CommandLine>,
    /// Time between checks, e.g. `30s`, `1m30s`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub(super) interval: Option<Spanned<String>>,
    /// Time one check may take, e.g. `10s`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub(super) timeout: Option<Spanned<String>>,
    /// Grace period after start during which failures do not count, e.g. `40s`.
    #[serde(default, rename = "start-period")]
    #[schemars(with = "Option<String>")]
    pub(super) start_period: Option<Spanned<String>>,
    /// Failures in a row before the container is unhealthy.
    #[serde(default)]
    #[schemars(with = "Option<u32>")]
    pub(super) retries: Option<Spanned<u32>>,
}

/// A command given as a string (for a shell) or as a list of arguments.
#[derive(Debug)]
pub(super) enum CommandLine {
    Shell(String),
    Argv(Vec<String>),
}

impl<'de> Deserialize<'de> for CommandLine {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = CommandLine;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a command: a string or a list of strings")
            }
            fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<CommandLine, E> {
                Ok(CommandLine::Shell(value.to_owned()))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<CommandLine, A::Error> {
                let mut argv = Vec::new();
                while let Some(arg) = seq.next_element::<String>()? {
                    argv.push(arg);
                }
                Ok(CommandLine::Argv(argv))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

impl JsonSchema for CommandLine {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "CommandLine".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A string (run by the image's shell) or a list of arguments.",
            "anyOf": [
                {"type": "string"},
                {"type": "array", "items": {"type": "string"}}
            ]
        })
    }
}

/// OS packages, by the base image's package manager (apt).
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "System")]
pub(super) struct RawSystem {
    /// Packages installed in the image, e.g. `libpq5`.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub(super) runtime: Vec<Spanned<String>>,
    /// Packages installed only in the builder (compilers, `-dev` headers);
    /// they never reach the image.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub(super) build: Vec<Spanned<String>>,
}

/// The JSON Schema of the spec, for editors (yaml-language-server) and
/// validators. Generated from the types the parser reads, so it cannot drift
/// from what `parse` accepts.
pub fn json_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(RawSpec)).unwrap_or_default()
}

/// An optional key that, when written, must have a value: `from:` with
/// nothing after it is an error at the key, not a missing key.
fn present<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Spanned<String>>, D::Error> {
    Spanned::<String>::deserialize(deserializer).map(Some)
}

/// A map key that remembers where it was written.
#[derive(Debug, Deserialize)]
#[serde(transparent)]
pub(super) struct Key(pub(super) Spanned<String>);

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.0.value == other.0.value
    }
}
impl Eq for Key {}
impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Key {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.value.cmp(&other.0.value)
    }
}

pub(super) fn pos<T>(spanned: &Spanned<T>) -> Option<Position> {
    Position::from_location(spanned.referenced)
}
