//! The pybase spec (`pybase.yaml`, version 1): parsing and validation.
//!
//! Parsing goes in two steps, as ripgrep does with its flags: serde-saphyr
//! reads the YAML into *raw* structs that mirror the file (unknown keys and
//! wrong types are errors with a line and column), then [`parse`] checks what
//! types cannot (names, image references, paths, package names) and builds the
//! validated [`Spec`], keeping the position of everything a later error may
//! need to point at. Every semantic problem found is reported, not just the
//! first.
//!
//! The v1 contract (keys may be added, never renamed):
//!
//! ```yaml
//! version: 1
//! services:
//!   inventory:
//!     from: python:3.12-slim     # runtime base image: any image with CPython
//!     project: .                 # dir with pyproject.toml + uv.lock, in the context
//!     system:
//!       runtime: [libpq5]        # OS packages in the image
//!       build: [gcc, libpq-dev]  # OS packages only in the builder
//!     command: [inventory]
//! ```
//!
//! Tiers are shared base images: a tier starts `from` an image or another
//! tier and adds OS packages, a locked venv and environment; a service names
//! its `tier` and adds its own packages, the part of its venv the tier lacks,
//! and its code. `from` names a tier when a tier has that name.

use std::collections::BTreeMap;

use serde_saphyr::{MessageFormatter, Spanned};

use crate::diagnostic::{Diagnostic, Diagnostics, Position, did_you_mean};

/// The only spec version there is.
pub const SPEC_VERSION: u32 = 1;

/// Specs larger than this are refused (BuildKit v0.13 takes 4 MiB requests,
/// and the spec travels in the definition's source map).
pub const MAX_SPEC_BYTES: usize = 1024 * 1024;

/// Suffix of the target that builds a service without its project code.
pub const BASE_TARGET_SUFFIX: &str = "-base";

/// The reserved target that writes every project's lock (`--target lock`):
/// no tier or service may take its name.
pub const LOCK_TARGET: &str = "lock";

/// The command that writes the locks of the spec `spec_file`
/// (`--target lock`).
pub fn lock_command(spec_file: &str) -> String {
    format!(
        "docker buildx build -f {spec_file} --target {LOCK_TARGET} --output type=local,dest=. ."
    )
}

/// A validated spec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spec {
    /// The file name, as errors should name it.
    pub file: String,
    /// Tiers (shared base images) by name.
    pub tiers: BTreeMap<String, Tier>,
    /// Services by name.
    pub services: BTreeMap<String, Service>,
    /// The build args the spec refers to (`${NAME}`), sorted.
    pub build_args: Vec<String>,
}

impl Spec {
    /// The tiers an image on `tier` stands on, root first, `tier` last.
    /// Validation guarantees the chain ends at an image; an unknown name
    /// gives an empty chain.
    pub fn tier_chain(&self, tier: &str) -> Vec<&Tier> {
        tier_chain(&self.tiers, tier)
    }
}

/// [`Spec::tier_chain`] over the tiers validated so far.
fn tier_chain<'a>(tiers: &'a BTreeMap<String, Tier>, tier: &str) -> Vec<&'a Tier> {
    let mut chain = Vec::new();
    let mut next = tiers.get(tier);
    while let Some(current) = next {
        if chain.len() > tiers.len() {
            break; // a cycle; validation refuses those
        }
        chain.push(current);
        next = match &current.from {
            TierBase::Tier(parent) => tiers.get(parent),
            TierBase::Image(_) => None,
        };
    }
    chain.reverse();
    chain
}

/// What a tier and a service both are: a named level of an image, with
/// its OS packages, the extras and groups of its venv, its environment and
/// user, and where each is written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Level {
    /// The tier or service name (also its `--target`).
    pub name: String,
    /// Where its key is.
    pub at: Option<Position>,
    /// The image the builder starts from, when the runtime image is
    /// assembled by copying alone (`build-from`; only on a root tier or a
    /// service without a tier).
    pub build_from: Option<ImageName>,
    /// Where `build-from` is.
    pub build_from_at: Option<Position>,
    /// The extras and dependency groups its venv gets.
    pub selection: Selection,
    /// Whether a `requirements.txt` lock must hash every requirement.
    pub require_hashes: bool,
    /// The most layers its venv takes with MergeOp (`venv-layers`; 1: the
    /// whole venv in one layer).
    pub venv_layers: u32,
    /// The project's lock file, when the spec names it (`lock:`).
    pub lock: Option<LockFile>,
    /// OS packages installed in the image.
    pub runtime_packages: Vec<String>,
    /// Where the first runtime package is.
    pub runtime_at: Option<Position>,
    /// OS packages installed only in the builder.
    pub build_packages: Vec<String>,
    /// Environment variables, sorted by name.
    pub env: Vec<(String, String)>,
    /// The user the image runs as, when this level sets one (a service
    /// without one runs as its tier's, else the default).
    pub user: Option<User>,
}

impl Level {
    /// Its project directory `dir`, written at `at`, owned by a `kind`.
    fn project_dir<'a>(
        &'a self,
        owner_kind: OwnerKind,
        dir: &'a str,
        at: Option<Position>,
    ) -> ProjectDir<'a> {
        ProjectDir {
            owner: &self.name,
            owner_kind,
            dir,
            at,
            selection: &self.selection,
            require_hashes: self.require_hashes,
            lock: self.lock.as_ref(),
        }
    }
}

/// A project's lock file as the spec names it (`lock:`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockFile {
    /// Its path relative to the project directory, normalized, inside it
    /// (`requirements/prod.txt`).
    pub path: String,
    /// Where `lock` is.
    pub at: Option<Position>,
}

/// A tier: a shared base image other tiers and services start from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tier {
    /// Its name, packages, venv selection, environment and user.
    pub level: Level,
    /// What it starts from.
    pub from: TierBase,
    /// Where `from` is.
    pub from_at: Option<Position>,
    /// The image at the root of its chain of tiers.
    pub root_image: ImageName,
    /// Where the root image is named.
    pub root_image_at: Option<Position>,
    /// The directory whose `pyproject.toml` and `uv.lock` list the tier's
    /// Python packages (normalized as a service's `project`), if any.
    pub project: Option<String>,
    /// Where `project` is.
    pub project_at: Option<Position>,
}

impl Tier {
    /// The tier's project directory, if it has one.
    pub fn project_dir(&self) -> Option<ProjectDir<'_>> {
        let dir = self.project.as_deref()?;
        Some(
            self.level
                .project_dir(OwnerKind::Tier, dir, self.project_at),
        )
    }
}

/// The optional parts of a project a venv gets: extras
/// (`[project.optional-dependencies]`) and dependency groups
/// (`[dependency-groups]`). Without them, the project's dependencies alone.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selection {
    /// Extras, as written, in order.
    pub extras: Vec<Selected>,
    /// Dependency groups, as written, in order.
    pub groups: Vec<Selected>,
}

impl Selection {
    /// Whether it selects nothing.
    pub fn is_empty(&self) -> bool {
        self.extras.is_empty() && self.groups.is_empty()
    }

    /// The extras' names and the groups' names, as written.
    pub fn names(&self) -> (Vec<String>, Vec<String>) {
        let names = |selected: &[Selected]| selected.iter().map(|s| s.name.clone()).collect();
        (names(&self.extras), names(&self.groups))
    }
}

/// One extra or group a spec selects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selected {
    /// The name, as written.
    pub name: String,
    /// Where it is written.
    pub at: Option<Position>,
}

/// What a tier starts from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TierBase {
    /// A base image.
    Image(ImageName),
    /// Another tier, by name.
    Tier(String),
}

/// The user an image runs as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    /// The user name.
    pub name: String,
    /// Its uid.
    pub uid: u32,
    /// Its primary group's gid.
    pub gid: u32,
}

/// The user images run as when the spec names none: `app`, 1000:1000.
pub const DEFAULT_USER_NAME: &str = "app";
/// Its uid and gid.
pub const DEFAULT_UID: u32 = 1000;
/// The layers a level's venv takes by default (`venv-layers`): with the
/// system layer, three levels on a five-layer base stay under 64 layers,
/// half the 128 overlay filesystems stack.
pub const DEFAULT_VENV_LAYERS: u32 = 16;
/// The most `venv-layers` allows.
pub const MAX_VENV_LAYERS: u32 = 64;

impl Default for User {
    fn default() -> Self {
        Self {
            name: DEFAULT_USER_NAME.to_owned(),
            uid: DEFAULT_UID,
            gid: DEFAULT_UID,
        }
    }
}

/// What owns a project directory: a tier or a service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OwnerKind {
    /// A tier.
    Tier,
    /// A service.
    Service,
}

impl std::fmt::Display for OwnerKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Tier => "tier",
            Self::Service => "service",
        })
    }
}

/// A project directory and who owns it, for reading and checking its files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProjectDir<'a> {
    /// The service or tier it belongs to.
    pub owner: &'a str,
    /// Whether a service or a tier owns it (`Display`s as `service` or
    /// `tier`, for messages).
    pub owner_kind: OwnerKind,
    /// The directory, relative to the build context, normalized (empty for
    /// the context root).
    pub dir: &'a str,
    /// Where the spec names it (or its owner, when it was left out).
    pub at: Option<Position>,
    /// The extras and groups its venv gets.
    pub selection: &'a Selection,
    /// Whether a `requirements.txt` lock must give every requirement a
    /// `--hash` (`require-hashes`, default true).
    pub require_hashes: bool,
    /// Its lock file, when the spec names it (`lock:`); else the first
    /// of the default names the directory has.
    pub lock: Option<&'a LockFile>,
}

impl ProjectDir<'_> {
    /// `dir/name`, or `name` for the context root.
    pub fn path(&self, name: &str) -> String {
        if self.dir.is_empty() {
            name.to_owned()
        } else {
            format!("{}/{name}", self.dir)
        }
    }

    /// The directory as a user would write it (`.` for the context root).
    pub fn display(&self) -> &str {
        if self.dir.is_empty() { "." } else { self.dir }
    }
}

/// One service: an image made of a base image, OS packages, a locked venv and
/// the project's code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Service {
    /// Its name, packages, venv selection, environment and user.
    pub level: Level,
    /// The runtime base image: the service's `from`, or the image at the
    /// root of its tier's chain.
    pub from: ImageName,
    /// Where that image is named.
    pub from_at: Option<Position>,
    /// The tier the service stands on, if any.
    pub tier: Option<String>,
    /// Where `tier` is.
    pub tier_at: Option<Position>,
    /// The project directory, relative to the build context, normalized:
    /// no `.` segments, no trailing slash, empty for the context root.
    pub project: String,
    /// Where `project` is (or the service, when it was left out).
    pub project_at: Option<Position>,
    /// Commands run on the code in the builder, in order (`build-commands`).
    pub build_commands: Vec<BuildCommand>,
    /// The image's command, if the spec sets one.
    pub command: Option<Vec<String>>,
    /// The image's entrypoint, if the spec sets one.
    pub entrypoint: Option<Vec<String>>,
    /// The working directory (absolute, normalized).
    pub workdir: String,
    /// Exposed ports, as `8000/tcp`.
    pub ports: Vec<String>,
    /// The health check, if any.
    pub healthcheck: Option<Healthcheck>,
    /// The signal that stops the container.
    pub stop_signal: Option<String>,
    /// Image labels, sorted by name.
    pub labels: Vec<(String, String)>,
    /// The project's version as the spec gives it (a PEP 440 version), for
    /// projects that take theirs from version control.
    pub version: Option<String>,
    /// Where `version` is.
    pub version_at: Option<Position>,
}

/// A container health check, in the image config's terms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Healthcheck {
    /// `["CMD", args...]`, `["CMD-SHELL", command]` or `["NONE"]`.
    pub test: Vec<String>,
    /// Time between checks, in nanoseconds.
    pub interval: Option<i64>,
    /// Time a check may take, in nanoseconds.
    pub timeout: Option<i64>,
    /// Grace period after start, in nanoseconds.
    pub start_period: Option<i64>,
    /// Failures in a row before the container is unhealthy.
    pub retries: Option<u32>,
}

/// The working directory when the spec sets none.
pub const DEFAULT_WORKDIR: &str = "/app";

/// Environment variables pybase owns: the venv's location.
const RESERVED_ENV: &[&str] = &["PATH", "VIRTUAL_ENV"];

impl Service {
    /// `project/name`, or `name` for the context root.
    pub fn project_path(&self, name: &str) -> String {
        self.project_dir().path(name)
    }

    /// The service's project directory.
    pub fn project_dir(&self) -> ProjectDir<'_> {
        self.level
            .project_dir(OwnerKind::Service, &self.project, self.project_at)
    }
}

/// An image reference as written and as BuildKit needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageName {
    /// As written in the spec, e.g. `python:3.12-slim`.
    pub as_written: String,
    /// Fully qualified, e.g. `docker.io/library/python:3.12-slim`.
    pub normalized: String,
    /// Docker's short form, e.g. `python:3.12-slim`.
    pub familiar: String,
}

impl ImageName {
    /// Parse and normalize a Docker image reference.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.trim() != text || text.is_empty() {
            return Err("an image reference may not be empty or have surrounding spaces".into());
        }
        let reference = reference::parse(text)
            .map_err(|e| messages::image_reference_problem(text, &format!("{e}")))?;
        let normalized = reference.whole();
        let familiar = normalized
            .strip_prefix("docker.io/library/")
            .or_else(|| normalized.strip_prefix("docker.io/"))
            .unwrap_or(&normalized)
            .to_owned();
        Ok(Self {
            as_written: text.to_owned(),
            normalized,
            familiar,
        })
    }
}

// --- Parsing and validation ----------------------------------------------

/// Parse and validate the spec in `bytes`, read from the file `file`, for
/// a build without build args.
pub fn parse(file: &str, bytes: &[u8]) -> Result<Spec, Diagnostics> {
    parse_with_args(file, bytes, &BuildArgs::default())
}

/// Parse the spec in `bytes`, read from the file `file`, replace its
/// `${NAME}` references with `args` (see [`args`]), and validate it.
pub fn parse_with_args(file: &str, bytes: &[u8], args: &BuildArgs) -> Result<Spec, Diagnostics> {
    if bytes.len() > MAX_SPEC_BYTES {
        return Err(Diagnostic::at(
            file,
            Some(Position::START),
            format!(
                "the spec is {} bytes; pybase reads specs of at most {MAX_SPEC_BYTES} bytes",
                bytes.len()
            ),
        )
        .into());
    }
    let text = std::str::from_utf8(bytes).map_err(|e| {
        Diagnostic::at(
            file,
            Some(Position::of_invalid_utf8(bytes, &e)),
            "the spec is not valid UTF-8",
        )
        .with_hint("save the file as UTF-8")
    })?;
    let mut raw = read_yaml(file, text)?;
    // A value with a bad reference would only add a second, confusing
    // error about the value itself: those are reported alone.
    let mut problems = Vec::new();
    let referenced = args::expand_spec(file, &mut raw, args, &mut problems);
    if !problems.is_empty() {
        return Err(Diagnostics(problems));
    }
    let mut spec = validate(file, raw)?;
    spec.build_args = referenced.into_iter().collect();
    Ok(spec)
}

fn read_yaml(file: &str, text: &str) -> Result<RawSpec, Diagnostic> {
    let mut options = serde_saphyr::Options::default();
    options.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::Error;
    options.strict_booleans = true;
    options.reject_unsupported_tags = true;
    serde_saphyr::from_str_with_options::<RawSpec>(text, options).map_err(|error| {
        let message = serde_saphyr::DefaultMessageFormatter
            .format_message(error.without_snippet())
            .into_owned();
        let position = error.location().and_then(Position::from_location);
        let (message, hint) = explain_yaml_error(&message);
        let diagnostic = Diagnostic::at(file, position, message);
        match hint {
            Some(hint) => diagnostic.with_hint(hint),
            None => diagnostic,
        }
    })
}

/// Make serde's wording friendlier and add a did-you-mean for unknown keys.
fn explain_yaml_error(message: &str) -> (String, Option<String>) {
    if let Some(explained) = messages::explain_yaml(message) {
        return explained;
    }
    if let Some(rest) = message.strip_prefix("unknown field `")
        && let Some((field, expected)) = rest.split_once('`')
    {
        let known: Vec<&str> = expected
            .trim_start_matches(", expected one of ")
            .trim_start_matches(", expected ")
            .split(", ")
            .map(|k| k.trim_matches('`'))
            .filter(|k| !k.is_empty())
            .collect();
        let hint = match did_you_mean(field, known.iter().copied()) {
            Some(close) => format!("did you mean `{close}`?"),
            None => format!("the keys allowed here are: {}", known.join(", ")),
        };
        return (format!("unknown key `{field}`"), Some(hint));
    }
    if message.starts_with("duplicate mapping key") {
        let key = message
            .trim_start_matches("duplicate mapping key: ")
            .split(',')
            .next()
            .unwrap_or_default();
        return (format!("the key `{key}` is given twice"), None);
    }
    let friendlier = match message {
        "expected sequence start" => Some((
            "expected a list",
            "write a list as `[a, b]` or as `- a` lines",
        )),
        "expected string scalar" => Some((
            "expected a string",
            "quote the value if it looks like a list, a map or a number",
        )),
        "unexpected end of input" => Some((
            "the spec is empty",
            "start from `version: 1` and a `services:` map",
        )),
        _ => None,
    };
    match friendlier {
        Some((message, hint)) => (message.to_owned(), Some(hint.to_owned())),
        None => (message.to_owned(), None),
    }
}

fn validate(file: &str, raw: RawSpec) -> Result<Spec, Diagnostics> {
    let mut problems = Vec::new();
    if raw.version.value != SPEC_VERSION {
        problems.push(
            Diagnostic::at(
                file,
                pos(&raw.version),
                format!("unsupported spec version {}", raw.version.value),
            )
            .with_hint(format!("this pybase reads `version: {SPEC_VERSION}`")),
        );
    }
    if raw.services.is_empty() && raw.tiers.is_empty() {
        problems.push(
            Diagnostic::at(file, pos(&raw.version), "the spec defines no services")
                .with_hint("add a service under `services:`"),
        );
    }
    let roots = tier_roots(file, &raw.tiers, &mut problems);
    let mut tiers = BTreeMap::new();
    for (Key(name), tier) in &raw.tiers {
        let root = roots.get(name.value.as_str()).copied().flatten();
        if let Some(tier) = validate_tier(file, name, tier, &raw.tiers, root, &mut problems) {
            tiers.insert(name.value.clone(), tier);
        }
    }
    let mut services = BTreeMap::new();
    for (Key(name), service) in raw.services {
        if let Some(service) =
            validate_service(file, &name, service, &raw.tiers, &tiers, &mut problems)
        {
            services.insert(name.value, service);
        }
    }
    check_target_names(file, &raw.tiers, &services, &mut problems);
    check_copied_images(file, &tiers, &services, &mut problems);
    if problems.is_empty() {
        Ok(Spec {
            file: file.to_owned(),
            tiers,
            services,
            build_args: Vec::new(),
        })
    } else {
        Err(Diagnostics(problems))
    }
}

/// For each tier, the `from` at the root of its chain (the image it
/// ultimately starts from), or `None` when the chain is a cycle, which is
/// reported once, at the `from` of the cycle's first tier by name.
fn tier_roots<'a>(
    file: &str,
    tiers: &'a BTreeMap<Key, RawTier>,
    problems: &mut Vec<Diagnostic>,
) -> BTreeMap<&'a str, Option<&'a Spanned<String>>> {
    let by_name: BTreeMap<&str, &RawTier> = tiers
        .iter()
        .map(|(Key(k), t)| (k.value.as_str(), t))
        .collect();
    let mut roots = BTreeMap::new();
    let mut reported_cycles = Vec::new();
    for &name in by_name.keys() {
        let mut path = vec![name];
        let mut current = name;
        let root = loop {
            let Some(tier) = by_name.get(current) else {
                break None;
            };
            let from = tier.from.value.as_str();
            if !by_name.contains_key(from) {
                break Some(&tier.from);
            }
            if let Some(start) = path.iter().position(|n| *n == from) {
                let mut cycle: Vec<&str> = path[start..].to_vec();
                let mut members = cycle.clone();
                members.sort_unstable();
                if !reported_cycles.contains(&members) {
                    let first = members[0];
                    let turn = cycle.iter().position(|n| *n == first).unwrap_or(0);
                    cycle.rotate_left(turn);
                    cycle.push(first);
                    problems.push(
                        Diagnostic::at(
                            file,
                            by_name.get(first).and_then(|t| pos(&t.from)),
                            format!(
                                "the tiers form a cycle: {}",
                                cycle
                                    .iter()
                                    .map(|n| format!("`{n}`"))
                                    .collect::<Vec<_>>()
                                    .join(" -> ")
                            ),
                        )
                        .with_hint(
                            "a chain of tiers must end at an image, e.g. `from: python:3.12-slim`",
                        ),
                    );
                    reported_cycles.push(members);
                }
                break None;
            }
            path.push(from);
            current = from;
        };
        roots.insert(name, root);
    }
    roots
}

fn validate_tier(
    file: &str,
    name: &Spanned<String>,
    raw: &RawTier,
    raw_tiers: &BTreeMap<Key, RawTier>,
    root: Option<&Spanned<String>>,
    problems: &mut Vec<Diagnostic>,
) -> Option<Tier> {
    let before = problems.len();
    if !is_target_name(&name.value) {
        problems.push(
            Diagnostic::at(file, pos(name), format!("invalid tier name `{}`", name.value))
                .with_hint("use lowercase letters, digits, `.`, `_` and `-`, starting and ending with a letter or digit"),
        );
    } else if name.value == LOCK_TARGET {
        problems.push(reserved_lock_name(file, name, "tier"));
    }
    let parent_is_tier = raw_tiers.keys().any(|Key(k)| k.value == raw.from.value);
    let from = if parent_is_tier {
        Some(TierBase::Tier(raw.from.value.clone()))
    } else {
        image_reference(file, &raw.from, raw_tiers, problems).map(TierBase::Image)
    };
    // The root image was checked where it is written; a tier below an
    // invalid one or in a cycle reports nothing more.
    let root_image = root.and_then(|r| ImageName::parse(&r.value).ok());
    let build_from = raw.build_from.as_ref().and_then(|build_from| {
        if parent_is_tier {
            problems.push(
                Diagnostic::at(
                    file,
                    pos(build_from),
                    format!(
                        "tier `{}` starts from the tier `{}`: only the tier at the root of a chain takes `build-from`",
                        name.value, raw.from.value
                    ),
                )
                .with_hint("every tier of a chain builds in its root's build image: move `build-from` there"),
            );
            None
        } else {
            image_reference(file, build_from, raw_tiers, problems)
        }
    });
    let project = raw
        .project
        .as_ref()
        .and_then(|p| validate_project_dir(file, p, problems));
    let selection = validate_selection(file, &raw.extras, &raw.groups, problems);
    if raw.project.is_none()
        && let Some(first) = raw.extras.first().or(raw.groups.first())
    {
        problems.push(
            Diagnostic::at(
                file,
                pos(first),
                format!(
                    "tier `{}` selects extras or groups but has no `project`",
                    name.value
                ),
            )
            .with_hint("extras and groups are parts of a project: add `project:` to the tier"),
        );
    }
    let lock = validate_lock(file, raw.lock.as_ref(), problems);
    if raw.project.is_none() {
        problems.extend(lock_without_project(file, &name.value, raw.lock.as_ref()));
    }
    let runtime_packages = validate_packages(file, "system.runtime", &raw.system.runtime, problems);
    let build_packages = validate_packages(file, "system.build", &raw.system.build, problems);
    let env = validate_env(file, &raw.env, problems);
    let user = raw
        .user
        .as_ref()
        .and_then(|u| validate_user(file, u, problems));
    if problems.len() > before || (raw.user.is_some() && user.is_none()) {
        return None;
    }
    Some(Tier {
        from: from?,
        from_at: pos(&raw.from),
        root_image: root_image?,
        root_image_at: root.and_then(pos),
        project,
        project_at: raw.project.as_ref().and_then(pos),
        level: Level {
            name: name.value.clone(),
            at: pos(name),
            build_from,
            build_from_at: raw.build_from.as_ref().and_then(pos),
            selection,
            require_hashes: raw.require_hashes.as_ref().is_none_or(|r| r.value),
            venv_layers: validate_venv_layers(file, raw.venv_layers.as_ref(), problems),
            lock,
            runtime_packages,
            runtime_at: raw.system.runtime.first().and_then(pos),
            build_packages,
            env,
            user,
        },
    })
}

/// An image named in `from`, with a did-you-mean when it looks like a
/// misspelled tier.
fn image_reference(
    file: &str,
    from: &Spanned<String>,
    raw_tiers: &BTreeMap<Key, RawTier>,
    problems: &mut Vec<Diagnostic>,
) -> Option<ImageName> {
    let text = from.value.as_str();
    let bare = !text.contains([':', '/', '@']);
    if bare && let Some(close) = did_you_mean(text, raw_tiers.keys().map(|Key(k)| k.value.as_str()))
    {
        problems.push(
            Diagnostic::at(
                file,
                pos(from),
                format!("`{text}` is neither a tier nor an image with a tag"),
            )
            .with_hint(format!("did you mean the tier `{close}`?")),
        );
        return None;
    }
    match ImageName::parse(text) {
        Ok(image) => Some(image),
        Err(reason) => {
            problems.push(
                Diagnostic::at(
                    file,
                    pos(from),
                    format!("invalid image reference `{text}`: {reason}"),
                )
                .with_hint(
                    "write an image as `name[:tag][@sha256:digest]`, e.g. `python:3.12-slim`",
                ),
            );
            None
        }
    }
}

/// An image whose chain has a `build-from` is assembled by copying: no
/// tier or service on it may install OS packages into it, for its base may
/// have no package manager (nor a shell to run one).
fn check_copied_images(
    file: &str,
    tiers: &BTreeMap<String, Tier>,
    services: &BTreeMap<String, Service>,
    problems: &mut Vec<Diagnostic>,
) {
    // The level whose `build-from` an image on `tier` builds in: the root
    // of the tier's chain.
    let root = |tier: &str| tier_chain(tiers, tier).first().copied().map(|t| &t.level);
    let levels = tiers
        .values()
        .map(|tier| (OwnerKind::Tier, &tier.level, root(&tier.level.name)))
        .chain(services.values().map(|service| {
            let builder = match service.tier.as_deref() {
                Some(tier) => root(tier),
                None => Some(&service.level),
            };
            (OwnerKind::Service, &service.level, builder)
        }));
    for (kind, level, builder) in levels {
        let Some((build_from, build_from_at)) =
            builder.and_then(|b| Some((b.build_from.as_ref()?, b.build_from_at)))
        else {
            continue;
        };
        if level.runtime_packages.is_empty() {
            continue;
        }
        let line = build_from_at.map_or_else(String::new, |p| format!(", line {}", p.line));
        problems.push(
            Diagnostic::at(
                file,
                level.runtime_at,
                format!(
                    "{kind} `{}` installs OS packages, but its image is assembled by copying: it builds in `{}` (`build-from`{line}), and the runtime image may have no package manager",
                    level.name, build_from.as_written
                ),
            )
            .with_hint("put the packages in the runtime image itself, or remove `build-from` to install them with apt"),
        );
    }
}

/// Every tier, service and `<service>-base` is a `--target`: two may not
/// share a name.
fn check_target_names(
    file: &str,
    raw_tiers: &BTreeMap<Key, RawTier>,
    services: &BTreeMap<String, Service>,
    problems: &mut Vec<Diagnostic>,
) {
    for Key(name) in raw_tiers.keys() {
        let clash = if services.contains_key(&name.value) {
            Some(format!("the service `{}`", name.value))
        } else {
            name.value
                .strip_suffix(BASE_TARGET_SUFFIX)
                .filter(|s| services.contains_key(*s))
                .map(|s| format!("the base target of service `{s}`"))
        };
        if let Some(clash) = clash {
            problems.push(
                Diagnostic::at(
                    file,
                    pos(name),
                    format!("the tier `{}` has the same name as {clash}", name.value),
                )
                .with_hint("every tier and service is a `--target`: give them distinct names"),
            );
        }
    }
}

fn validate_project_dir(
    file: &str,
    project: &Spanned<String>,
    problems: &mut Vec<Diagnostic>,
) -> Option<String> {
    normalized_path(
        file,
        project,
        "project directory",
        normalize_project,
        problems,
    )
}

/// The path in `path` normalized by `normalize`, or a problem that names it
/// as `what`.
fn normalized_path(
    file: &str,
    path: &Spanned<String>,
    what: &str,
    normalize: fn(&str) -> Result<String, String>,
    problems: &mut Vec<Diagnostic>,
) -> Option<String> {
    match normalize(&path.value) {
        Ok(path) => Some(path),
        Err(reason) => {
            problems.push(Diagnostic::at(
                file,
                pos(path),
                format!("invalid {what} `{}`: {reason}", path.value),
            ));
            None
        }
    }
}

fn validate_env(
    file: &str,
    raw: &BTreeMap<Key, Spanned<String>>,
    problems: &mut Vec<Diagnostic>,
) -> Vec<(String, String)> {
    let mut env = Vec::new();
    for (Key(name), value) in raw {
        if RESERVED_ENV.contains(&name.value.as_str()) {
            problems.push(
                Diagnostic::at(
                    file,
                    pos(name),
                    format!("`env` may not set `{}`", name.value),
                )
                .with_hint(format!(
                    "pybase sets it: the venv ({}) comes first on PATH",
                    crate::files::VENV_DIR
                )),
            );
        } else if !is_env_name(&name.value) {
            problems.push(
                Diagnostic::at(
                    file,
                    pos(name),
                    format!("invalid environment variable name `{}`", name.value),
                )
                .with_hint("use letters, digits and `_`, not starting with a digit"),
            );
        } else {
            env.push((name.value.clone(), value.value.clone()));
        }
    }
    env
}

/// `venv-layers`: 1 to [`MAX_VENV_LAYERS`], [`DEFAULT_VENV_LAYERS`] when
/// absent.
fn validate_venv_layers(
    file: &str,
    raw: Option<&Spanned<u32>>,
    problems: &mut Vec<Diagnostic>,
) -> u32 {
    let Some(layers) = raw else {
        return DEFAULT_VENV_LAYERS;
    };
    if !(1..=MAX_VENV_LAYERS).contains(&layers.value) {
        problems.push(
            Diagnostic::at(
                file,
                pos(layers),
                format!("`venv-layers: {}` is out of range", layers.value),
            )
            .with_hint(format!(
                "use 1 (the whole venv in one layer) to {MAX_VENV_LAYERS}; the default is {DEFAULT_VENV_LAYERS}"
            )),
        );
    }
    layers.value.clamp(1, MAX_VENV_LAYERS)
}

fn validate_user(file: &str, raw: &RawUser, problems: &mut Vec<Diagnostic>) -> Option<User> {
    let name = match &raw.name {
        None => DEFAULT_USER_NAME.to_owned(),
        Some(name) => {
            let text = name.value.as_str();
            let valid = !text.is_empty()
                && text.len() <= 32
                && text
                    .bytes()
                    .next()
                    .is_some_and(|b| b.is_ascii_lowercase() || b == b'_')
                && text.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-')
                });
            if !valid {
                problems.push(
                    Diagnostic::at(file, pos(name), format!("invalid user name `{text}`"))
                        .with_hint("use up to 32 lowercase letters, digits, `_` and `-`, starting with a letter or `_`"),
                );
                return None;
            }
            text.to_owned()
        }
    };
    let uid = raw.uid.as_ref().map_or(DEFAULT_UID, |u| u.value);
    let gid = raw.gid.as_ref().map_or(uid, |g| g.value);
    Some(User { name, uid, gid })
}

/// A service, checked against the tiers validated before it. Each part is
/// checked by its own function, in the order of the file's keys, and every
/// problem found is reported.
fn validate_service(
    file: &str,
    name: &Spanned<String>,
    raw: RawService,
    raw_tiers: &BTreeMap<Key, RawTier>,
    tiers: &BTreeMap<String, Tier>,
    problems: &mut Vec<Diagnostic>,
) -> Option<Service> {
    let before = problems.len();
    check_service_name(file, name, problems);
    let tier = service_tier(file, raw.tier.as_ref(), raw_tiers, tiers, problems);
    let from = service_from(file, name, &raw, raw_tiers, tier, problems);
    let build_from = service_build_from(file, name, &raw, raw_tiers, tier, problems);

    let (project, project_at) = match &raw.project {
        Some(project) => (validate_project_dir(file, project, problems), pos(project)),
        None => (Some(String::new()), pos(name)),
    };
    let lock = validate_lock(file, raw.lock.as_ref(), problems);
    let user = raw
        .user
        .as_ref()
        .and_then(|u| validate_user(file, u, problems));

    let runtime_packages = validate_packages(file, "system.runtime", &raw.system.runtime, problems);
    let build_packages = validate_packages(file, "system.build", &raw.system.build, problems);

    let command = validate_argv(
        file,
        "command",
        raw.command.as_ref(),
        Some("e.g. `command: [inventory, --port, \"8000\"]`"),
        problems,
    );
    let entrypoint = validate_argv(file, "entrypoint", raw.entrypoint.as_ref(), None, problems);
    let env = validate_env(file, &raw.env, problems);
    let workdir = validate_workdir(file, raw.workdir.as_ref(), problems);
    let ports = validate_ports(file, &raw.ports, problems);
    let healthcheck = raw
        .healthcheck
        .as_ref()
        .and_then(|check| validate_healthcheck(file, check, problems));
    let stop_signal = raw
        .stop_signal
        .as_ref()
        .and_then(|signal| validate_stop_signal(file, signal, problems));
    let version = raw
        .version
        .as_ref()
        .and_then(|version| validate_version(file, version, problems));
    let labels = validate_labels(file, &raw.labels, problems);
    let build_commands =
        commands::validate_build_commands(file, &raw.build_commands, workdir.as_deref(), problems);

    if problems.len() > before {
        return None;
    }
    let (from, from_at) = from?;
    Some(Service {
        from,
        from_at,
        tier: tier.map(|t| t.level.name.clone()),
        tier_at: raw.tier.as_ref().and_then(pos),
        project: project?,
        project_at,
        level: Level {
            name: name.value.clone(),
            at: pos(name),
            build_from,
            build_from_at: raw.build_from.as_ref().and_then(pos),
            // Checked only once the rest of the service is valid.
            selection: validate_selection(file, &raw.extras, &raw.groups, problems),
            require_hashes: raw.require_hashes.as_ref().is_none_or(|r| r.value),
            venv_layers: validate_venv_layers(file, raw.venv_layers.as_ref(), problems),
            lock,
            runtime_packages,
            runtime_at: raw.system.runtime.first().and_then(pos),
            build_packages,
            env,
            user,
        },
        build_commands,
        command,
        entrypoint,
        workdir: workdir?,
        ports,
        healthcheck,
        stop_signal,
        labels,
        version,
        version_at: raw.version.as_ref().and_then(pos),
    })
}

/// A service name is a target name, and not one `<service>-base` takes.
fn check_service_name(file: &str, name: &Spanned<String>, problems: &mut Vec<Diagnostic>) {
    if !is_target_name(&name.value) {
        problems.push(
            Diagnostic::at(file, pos(name), format!("invalid service name `{}`", name.value))
                .with_hint("use lowercase letters, digits, `.`, `_` and `-`, starting and ending with a letter or digit"),
        );
    } else if name.value == LOCK_TARGET {
        problems.push(reserved_lock_name(file, name, "service"));
    } else if let Some(service) = name.value.strip_suffix(BASE_TARGET_SUFFIX) {
        problems.push(
            Diagnostic::at(file, pos(name), format!("the service name `{}` ends in `{BASE_TARGET_SUFFIX}`", name.value))
                .with_hint(format!("`{BASE_TARGET_SUFFIX}` is reserved: `{service}{BASE_TARGET_SUFFIX}` is the target of service `{service}` without its code")),
        );
    }
}

/// The error for a tier or service (`kind`) named `lock`, the reserved
/// target that writes the locks.
fn reserved_lock_name(file: &str, name: &Spanned<String>, kind: &str) -> Diagnostic {
    Diagnostic::at(
        file,
        pos(name),
        format!("the {kind} name `{LOCK_TARGET}` is reserved"),
    )
    .with_hint(format!(
        "`--target {LOCK_TARGET}` writes the locks of the spec's projects, so no tier or service may be named `{LOCK_TARGET}`: rename this {kind}"
    ))
}

/// The validated tier a service's `tier` names, if any. An unknown name is
/// reported here; a tier that is written but invalid was reported where it
/// is defined.
fn service_tier<'a>(
    file: &str,
    tier: Option<&Spanned<String>>,
    raw_tiers: &BTreeMap<Key, RawTier>,
    tiers: &'a BTreeMap<String, Tier>,
    problems: &mut Vec<Diagnostic>,
) -> Option<&'a Tier> {
    let tier = tier?;
    if let Some(found) = tiers.get(&tier.value) {
        return Some(found);
    }
    if raw_tiers.keys().any(|Key(k)| k.value == tier.value) {
        return None; // reported there
    }
    let diagnostic = Diagnostic::at(file, pos(tier), format!("unknown tier `{}`", tier.value));
    let names = raw_tiers.keys().map(|Key(k)| k.value.as_str());
    problems.push(match did_you_mean(&tier.value, names) {
        Some(close) => diagnostic.with_hint(format!("did you mean `{close}`?")),
        None if raw_tiers.is_empty() => {
            diagnostic.with_hint("define it under `tiers:`, or name an image with `from`")
        }
        None => diagnostic.with_hint(format!(
            "the tiers are: {}",
            raw_tiers
                .keys()
                .map(|Key(k)| k.value.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    });
    None
}

/// A service's runtime base image and where it is named: its `from`, or
/// the image at the root of its tier's chain.
fn service_from(
    file: &str,
    name: &Spanned<String>,
    raw: &RawService,
    raw_tiers: &BTreeMap<Key, RawTier>,
    tier: Option<&Tier>,
    problems: &mut Vec<Diagnostic>,
) -> Option<(ImageName, Option<Position>)> {
    match (&raw.from, &raw.tier, tier) {
        (None, None, _) => {
            problems.push(
                Diagnostic::at(
                    file,
                    pos(name),
                    format!("the service `{}` has no base image", name.value),
                )
                .with_hint("give it `from: IMAGE` (e.g. `python:3.12-slim`) or `tier: NAME`"),
            );
            None
        }
        (Some(from), None, _) => {
            if raw_tiers.keys().any(|Key(k)| k.value == from.value) {
                problems.push(
                    Diagnostic::at(file, pos(from), format!("`{}` is a tier", from.value))
                        .with_hint(format!(
                            "a service names its tier with `tier: {}`",
                            from.value
                        )),
                );
                None
            } else {
                image_reference(file, from, raw_tiers, problems).map(|image| (image, pos(from)))
            }
        }
        (from, Some(_), Some(tier)) => tier_image(file, from.as_ref(), tier, problems),
        (_, Some(_), None) => None,
    }
}

/// The root image of a service's tier, which its `from`, if written, must
/// name too.
fn tier_image(
    file: &str,
    from: Option<&Spanned<String>>,
    tier: &Tier,
    problems: &mut Vec<Diagnostic>,
) -> Option<(ImageName, Option<Position>)> {
    let root = (tier.root_image.clone(), tier.root_image_at);
    match from {
        Some(from)
            if ImageName::parse(&from.value).map(|i| i.normalized).as_ref()
                != Ok(&tier.root_image.normalized) =>
        {
            problems.push(
                Diagnostic::at(
                    file,
                    pos(from),
                    format!(
                        "`from: {}` differs from the image the tier `{}` starts from ({})",
                        from.value, tier.level.name, tier.root_image.as_written
                    ),
                )
                .with_hint("a service on a tier takes its base image from the tier: remove `from`"),
            );
            None
        }
        _ => Some(root),
    }
}

/// A service's `build-from`: an image, and only on a service without a tier.
fn service_build_from(
    file: &str,
    name: &Spanned<String>,
    raw: &RawService,
    raw_tiers: &BTreeMap<Key, RawTier>,
    tier: Option<&Tier>,
    problems: &mut Vec<Diagnostic>,
) -> Option<ImageName> {
    let build_from = raw.build_from.as_ref()?;
    match (&raw.tier, tier) {
        (Some(_), Some(tier)) => {
            problems.push(
                Diagnostic::at(
                    file,
                    pos(build_from),
                    format!(
                        "the service `{}` is on the tier `{}`: it builds in the tier chain's build image",
                        name.value, tier.level.name
                    ),
                )
                .with_hint("give `build-from` to the tier at the root of the chain, and remove it here"),
            );
            None
        }
        (Some(_), None) => None,
        (None, _) => image_reference(file, build_from, raw_tiers, problems),
    }
}

/// `command` or `entrypoint` (`key`): a non-empty list of non-empty
/// strings. The list is kept as written; a problem is reported.
fn validate_argv(
    file: &str,
    key: &str,
    argv: Option<&Spanned<Vec<String>>>,
    hint: Option<&str>,
    problems: &mut Vec<Diagnostic>,
) -> Option<Vec<String>> {
    let argv = argv?;
    if argv.value.is_empty() || argv.value.iter().any(String::is_empty) {
        let diagnostic = Diagnostic::at(
            file,
            pos(argv),
            format!("`{key}` must be a non-empty list of non-empty strings"),
        );
        problems.push(match hint {
            Some(hint) => diagnostic.with_hint(hint),
            None => diagnostic,
        });
    }
    Some(argv.value.clone())
}

/// `workdir`: an absolute directory, normalized; [`DEFAULT_WORKDIR`] when
/// left out.
fn validate_workdir(
    file: &str,
    workdir: Option<&Spanned<String>>,
    problems: &mut Vec<Diagnostic>,
) -> Option<String> {
    match workdir {
        None => Some(DEFAULT_WORKDIR.to_owned()),
        Some(dir) => normalized_path(file, dir, "`workdir`", normalize_absolute, problems),
    }
}

/// `ports`, each normalized to `number/protocol`.
fn validate_ports(
    file: &str,
    raw: &[Spanned<String>],
    problems: &mut Vec<Diagnostic>,
) -> Vec<String> {
    let mut ports = Vec::new();
    for port in raw {
        match normalize_port(&port.value) {
            Ok(port) => ports.push(port),
            Err(reason) => problems.push(
                Diagnostic::at(
                    file,
                    pos(port),
                    format!("invalid port `{}`: {reason}", port.value),
                )
                .with_hint("write a port as `8000`, `8000/tcp` or `53/udp`"),
            ),
        }
    }
    ports
}

/// `stop-signal`: a signal's name (`SIGINT`) or number.
fn validate_stop_signal(
    file: &str,
    signal: &Spanned<String>,
    problems: &mut Vec<Diagnostic>,
) -> Option<String> {
    let text = signal.value.as_str();
    let valid = !text.is_empty()
        && (text.bytes().all(|b| b.is_ascii_digit())
            || text
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'+' || b == b'-'));
    if valid {
        Some(text.to_owned())
    } else {
        problems.push(
            Diagnostic::at(file, pos(signal), format!("invalid `stop-signal` `{text}`"))
                .with_hint("name a signal, e.g. `SIGINT`, or give its number"),
        );
        None
    }
}

/// `version`: a PEP 440 version, kept as written.
fn validate_version(
    file: &str,
    version: &Spanned<String>,
    problems: &mut Vec<Diagnostic>,
) -> Option<String> {
    let text = version.value.as_str();
    match text.parse::<pep440_rs::Version>() {
        Ok(_) if !text.is_empty() => Some(text.to_owned()),
        Ok(_) | Err(_) => {
            problems.push(
                Diagnostic::at(
                    file,
                    pos(version),
                    format!("`{text}` is not a PEP 440 version"),
                )
                .with_hint("give a version such as `1.4.2`, `1.5.0rc1` or `1.4.3.dev2+g1a2b3c4`, e.g. `version: ${VERSION}` with `--build-arg VERSION=1.4.2`"),
            );
            None
        }
    }
}

/// `labels`, sorted by name; a name may not be empty or contain spaces.
fn validate_labels(
    file: &str,
    raw: &BTreeMap<Key, Spanned<String>>,
    problems: &mut Vec<Diagnostic>,
) -> Vec<(String, String)> {
    let mut labels = Vec::new();
    for (Key(name), value) in raw {
        if name.value.is_empty() || name.value.chars().any(char::is_whitespace) {
            problems.push(Diagnostic::at(
                file,
                pos(name),
                format!(
                    "invalid label name `{}`: it may not be empty or contain spaces",
                    name.value
                ),
            ));
        } else {
            labels.push((name.value.clone(), value.value.clone()));
        }
    }
    labels
}

fn validate_healthcheck(
    file: &str,
    raw: &RawHealthcheck,
    problems: &mut Vec<Diagnostic>,
) -> Option<Healthcheck> {
    let before = problems.len();
    let test = match &raw.test.value {
        CommandLine::Shell(command) if !command.trim().is_empty() => {
            vec!["CMD-SHELL".to_owned(), command.clone()]
        }
        CommandLine::Argv(argv)
            if !argv.is_empty() && matches!(argv[0].as_str(), "CMD" | "CMD-SHELL" | "NONE") =>
        {
            argv.clone()
        }
        CommandLine::Argv(argv) if !argv.is_empty() && argv.iter().all(|a| !a.is_empty()) => {
            std::iter::once("CMD".to_owned())
                .chain(argv.iter().cloned())
                .collect()
        }
        _ => {
            problems.push(
                Diagnostic::at(file, pos(&raw.test), "the health check's `test` is empty")
                    .with_hint("e.g. `test: [wget, --spider, -q, http://localhost:8000/health]`"),
            );
            Vec::new()
        }
    };
    let mut duration = |key: &str, value: &Option<Spanned<String>>| {
        value.as_ref().and_then(|v| match parse_duration(&v.value) {
            Ok(nanos) => Some(nanos),
            Err(reason) => {
                problems.push(
                    Diagnostic::at(
                        file,
                        pos(v),
                        format!("invalid duration `{}` for `{key}`: {reason}", v.value),
                    )
                    .with_hint("write a duration as `30s`, `1m30s`, `500ms` or `1h`"),
                );
                None
            }
        })
    };
    let interval = duration("interval", &raw.interval);
    let timeout = duration("timeout", &raw.timeout);
    let start_period = duration("start-period", &raw.start_period);
    (problems.len() == before).then(|| Healthcheck {
        test,
        interval,
        timeout,
        start_period,
        retries: raw.retries.as_ref().map(|r| r.value),
    })
}

/// A Go-style duration (`1h`, `1m30s`, `500ms`, `2.5s`) in nanoseconds,
/// at least 1ms (Docker's minimum for health checks).
fn parse_duration(text: &str) -> Result<i64, String> {
    const UNITS: &[(&str, f64)] = &[
        ("ns", 1.0),
        ("us", 1e3),
        ("µs", 1e3),
        ("ms", 1e6),
        ("s", 1e9),
        ("m", 60e9),
        ("h", 3600e9),
    ];
    if text.is_empty() {
        return Err("it is empty".into());
    }
    let mut rest = text;
    let mut total = 0f64;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..number_len]
            .parse()
            .map_err(|_| "expected a number before each unit".to_owned())?;
        rest = &rest[number_len..];
        let (unit, scale) = UNITS
            .iter()
            .filter(|(unit, _)| rest.starts_with(unit))
            .max_by_key(|(unit, _)| unit.len())
            .ok_or_else(|| "expected a unit: h, m, s, ms, us or ns".to_owned())?;
        rest = &rest[unit.len()..];
        total += number * scale;
    }
    if !(1e6..=i64::MAX as f64).contains(&total) {
        return Err("it must be at least 1ms".into());
    }
    Ok(total as i64)
}

/// `8000` → `8000/tcp`; `53/udp` stays.
fn normalize_port(text: &str) -> Result<String, String> {
    let (number, protocol) = text.split_once('/').unwrap_or((text, "tcp"));
    let number: u16 = number
        .parse()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| "the port number must be 1 to 65535".to_owned())?;
    match protocol {
        "tcp" | "udp" | "sctp" => Ok(format!("{number}/{protocol}")),
        other => Err(format!("unknown protocol `{other}` (tcp, udp or sctp)")),
    }
}

/// An absolute directory, normalized.
fn normalize_absolute(path: &str) -> Result<String, String> {
    let Some(relative) = path.strip_prefix('/') else {
        return Err("it must be an absolute path".into());
    };
    if relative.split('/').any(|part| part == "..") {
        return Err("it may not contain `..`".into());
    }
    normalize_project(relative).map(|p| format!("/{p}"))
}

fn is_env_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Target names: what buildx and bake accept as names, lowercase.
fn is_target_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    let edge = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    !bytes.is_empty()
        && bytes.len() <= 128
        && bytes.first().is_some_and(edge)
        && bytes.last().is_some_and(edge)
        && bytes
            .iter()
            .all(|b| edge(b) || matches!(b, b'.' | b'_' | b'-'))
}

/// A relative path inside the build context, normalized.
fn normalize_project(path: &str) -> Result<String, String> {
    normalize_inside(path, "the build context")
}

/// A relative path inside `base` (the directory it is relative to, as the
/// messages name it), normalized: no `.` segments, no `..`.
fn normalize_inside(path: &str, base: &str) -> Result<String, String> {
    if path.starts_with('/') {
        return Err(format!("it must be relative to {base}"));
    }
    if path.contains('\\') {
        return Err("use `/` to separate directories".into());
    }
    let mut parts = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(format!("it may not leave {base} (`..`)")),
            other => parts.push(other),
        }
    }
    Ok(parts.join("/"))
}

/// The error for a tier (`tier`) that names a `lock` but no project.
fn lock_without_project(
    file: &str,
    tier: &str,
    lock: Option<&Spanned<String>>,
) -> Option<Diagnostic> {
    Some(
        Diagnostic::at(
            file,
            pos(lock?),
            format!("tier `{tier}` names a `lock` but has no `project`"),
        )
        .with_hint("the lock is a project's: add `project:` to the tier"),
    )
}

/// A `lock:` path: relative to the project directory and inside it
/// (`..` only while it stays there), a file, and `uv.lock` only at the
/// directory's top (uv reads it next to pyproject.toml).
fn validate_lock(
    file: &str,
    lock: Option<&Spanned<String>>,
    problems: &mut Vec<Diagnostic>,
) -> Option<LockFile> {
    let lock = lock?;
    let normalize = |path: &str| -> Result<String, String> {
        if path.starts_with('/') {
            return Err("it must be relative to the project directory".into());
        }
        if path.contains('\\') {
            return Err("use `/` to separate directories".into());
        }
        let mut parts: Vec<&str> = Vec::new();
        for part in path.split('/') {
            match part {
                "" | "." => {}
                ".." if parts.pop().is_some() => {}
                ".." => {
                    return Err("it may not leave the project directory (`..`): the venv step sees that directory alone".into());
                }
                other => parts.push(other),
            }
        }
        if parts.is_empty() || path.ends_with('/') {
            return Err("it must name a file".into());
        }
        let normalized = parts.join("/");
        if normalized != crate::files::LOCK_FILE
            && normalized.ends_with(&format!("/{}", crate::files::LOCK_FILE))
        {
            return Err("uv reads uv.lock next to pyproject.toml: it must be `uv.lock`".into());
        }
        Ok(normalized)
    };
    match normalize(&lock.value) {
        Ok(path) => Some(LockFile {
            path,
            at: pos(lock),
        }),
        Err(reason) => {
            problems.push(Diagnostic::at(
                file,
                pos(lock),
                format!("invalid lock file `{}`: {reason}", lock.value),
            ));
            None
        }
    }
}

/// Extras and groups: PEP 508 names (PEP 685 / 735), each once.
fn validate_selection(
    file: &str,
    extras: &[Spanned<String>],
    groups: &[Spanned<String>],
    problems: &mut Vec<Diagnostic>,
) -> Selection {
    let mut check = |key: &str, names: &[Spanned<String>]| {
        let mut seen = std::collections::BTreeSet::new();
        let mut selected = Vec::new();
        for name in names {
            let text = name.value.as_str();
            let valid = text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
                && text
                    .bytes()
                    .next()
                    .is_some_and(|b| b.is_ascii_alphanumeric())
                && text
                    .bytes()
                    .last()
                    .is_some_and(|b| b.is_ascii_alphanumeric());
            if !valid {
                problems.push(
                    Diagnostic::at(file, pos(name), format!("invalid name `{text}` in `{key}`"))
                        .with_hint("a name is letters, digits, `-`, `_` and `.`, starting and ending with a letter or digit, as pyproject.toml writes it"),
                );
            } else if !seen.insert(crate::names::normalize_name(text)) {
                problems.push(Diagnostic::at(
                    file,
                    pos(name),
                    format!("`{text}` is listed twice in `{key}`"),
                ));
            } else {
                selected.push(Selected {
                    name: text.to_owned(),
                    at: pos(name),
                });
            }
        }
        selected
    };
    Selection {
        extras: check("extras", extras),
        groups: check("groups", groups),
    }
}

/// OS package names (Debian's rules, with an optional `:arch` and `=version`).
/// They end up as arguments of a package manager, never in a shell string, but
/// refusing odd names early gives a better error than apt would.
fn validate_packages(
    file: &str,
    key: &str,
    packages: &[Spanned<String>],
    problems: &mut Vec<Diagnostic>,
) -> Vec<String> {
    let mut seen = BTreeMap::new();
    for package in packages {
        let name = package.value.as_str();
        if !is_package_name(name) {
            problems.push(
                Diagnostic::at(
                    file,
                    pos(package),
                    format!("invalid package name `{name}` in `{key}`"),
                )
                .with_hint("a package is `name`, `name=version` or `name:arch`, e.g. `libpq5`"),
            );
        } else if seen.insert(name, ()).is_some() {
            problems.push(Diagnostic::at(
                file,
                pos(package),
                format!("the package `{name}` is listed twice in `{key}`"),
            ));
        }
    }
    packages.iter().map(|p| p.value.clone()).collect()
}

fn is_package_name(text: &str) -> bool {
    let (name, version) = match text.split_once('=') {
        Some((name, version)) => (name, Some(version)),
        None => (text, None),
    };
    let (name, arch) = match name.split_once(':') {
        Some((name, arch)) => (name, Some(arch)),
        None => (name, None),
    };
    let name_ok = name.len() >= 2
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.')
        });
    let arch_ok = arch.is_none_or(|a| {
        !a.is_empty()
            && a.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    });
    let version_ok = version.is_none_or(|v| {
        !v.is_empty()
            && v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'+' | b'-' | b':' | b'~'))
    });
    name_ok && arch_ok && version_ok
}

pub mod args;
mod commands;
mod messages;
mod raw;
mod reference;

pub use args::BuildArgs;
pub use commands::BuildCommand;
pub use raw::json_schema;
use raw::{CommandLine, Key, RawHealthcheck, RawService, RawSpec, RawTier, RawUser, pos};

#[cfg(test)]
mod tests;
