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

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_saphyr::{MessageFormatter, Spanned};

use crate::diagnostic::{Diagnostic, Diagnostics, Position, did_you_mean};

/// The only spec version there is.
pub const SPEC_VERSION: u32 = 1;

/// Specs larger than this are refused (BuildKit v0.13 takes 4 MiB requests,
/// and the spec travels in the definition's source map).
pub const MAX_SPEC_BYTES: usize = 1024 * 1024;

/// Suffix of the target that builds a service without its project code.
pub const BASE_TARGET_SUFFIX: &str = "-base";

/// A validated spec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spec {
    /// The file name, as errors should name it.
    pub file: String,
    /// Services by name.
    pub services: BTreeMap<String, Service>,
}

/// One service: an image made of a base image, OS packages, a locked venv and
/// the project's code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Service {
    /// The service name (also its `--target`).
    pub name: String,
    /// Where the service's key is.
    pub at: Option<Position>,
    /// The runtime base image.
    pub from: ImageName,
    /// Where `from` is.
    pub from_at: Option<Position>,
    /// The project directory, relative to the build context, normalized:
    /// no `.` segments, no trailing slash, empty for the context root.
    pub project: String,
    /// Where `project` is (or the service, when it was left out).
    pub project_at: Option<Position>,
    /// OS packages installed in the image.
    pub runtime_packages: Vec<String>,
    /// OS packages installed only in the builder.
    pub build_packages: Vec<String>,
    /// The image's command, if the spec sets one.
    pub command: Option<Vec<String>>,
}

impl Service {
    /// `project/name`, or `name` for the context root.
    pub fn project_path(&self, name: &str) -> String {
        if self.project.is_empty() {
            name.to_owned()
        } else {
            format!("{}/{name}", self.project)
        }
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
        let reference: oci_spec::distribution::Reference =
            text.parse().map_err(|e| format!("{e}"))?;
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

// --- The file as written -------------------------------------------------
//
// These structs are the spec's schema: `json_schema` derives the published
// JSON Schema from them (their doc comments become its descriptions), so a
// key added here is documented for editors with no further step.

/// A pybase spec: Python service images built by BuildKit from one file.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "pybase spec")]
struct RawSpec {
    /// The spec format version. Always `1`.
    #[schemars(with = "u32", range(min = 1, max = 1))]
    version: Spanned<u32>,
    /// The services, by name. Each name is a `--target`, and `NAME-base` is
    /// the same image without the project's code.
    #[schemars(with = "BTreeMap<String, RawService>")]
    services: BTreeMap<Key, RawService>,
}

/// One service image: a base image, OS packages, a venv installed from the
/// project's lock file, and the project's code.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Service")]
struct RawService {
    /// The runtime base image: any image with CPython, e.g. `python:3.12-slim`.
    #[schemars(with = "String")]
    from: Spanned<String>,
    /// The directory holding `pyproject.toml` and `uv.lock`, relative to the
    /// build context. Defaults to the context root.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    project: Option<Spanned<String>>,
    /// OS packages of the image and of the builder.
    #[serde(default)]
    system: RawSystem,
    /// The image's command (its `Cmd`), as a list of arguments.
    #[serde(default)]
    #[schemars(with = "Option<Vec<String>>")]
    command: Option<Spanned<Vec<String>>>,
}

/// OS packages, by the base image's package manager (apt).
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "System")]
struct RawSystem {
    /// Packages installed in the image, e.g. `libpq5`.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    runtime: Vec<Spanned<String>>,
    /// Packages installed only in the builder (compilers, `-dev` headers);
    /// they never reach the image.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    build: Vec<Spanned<String>>,
}

/// The JSON Schema of the spec, for editors (yaml-language-server) and
/// validators. Generated from the types the parser reads, so it cannot drift
/// from what `parse` accepts.
pub fn json_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(RawSpec)).unwrap_or_default()
}

/// A map key that remembers where it was written.
#[derive(Debug, Deserialize)]
#[serde(transparent)]
struct Key(Spanned<String>);

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

fn pos<T>(spanned: &Spanned<T>) -> Option<Position> {
    Position::from_location(spanned.referenced)
}

// --- Parsing and validation ----------------------------------------------

/// Parse and validate the spec in `bytes`, read from the file `file`.
pub fn parse(file: &str, bytes: &[u8]) -> Result<Spec, Diagnostics> {
    if bytes.len() > MAX_SPEC_BYTES {
        return Err(Diagnostic::at(
            file,
            None,
            format!(
                "the spec is {} bytes; pybase reads specs of at most {MAX_SPEC_BYTES} bytes",
                bytes.len()
            ),
        )
        .into());
    }
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let before = &bytes[..e.valid_up_to()];
        let line = before.iter().filter(|b| **b == b'\n').count() + 1;
        let column = before.iter().rev().take_while(|b| **b != b'\n').count() + 1;
        Diagnostic::at(
            file,
            Some(Position {
                line: u32::try_from(line).unwrap_or(u32::MAX),
                column: u32::try_from(column).unwrap_or(u32::MAX),
            }),
            "the spec is not valid UTF-8",
        )
        .with_hint("save the file as UTF-8")
    })?;
    let raw = read_yaml(file, text)?;
    validate(file, raw)
}

fn read_yaml(file: &str, text: &str) -> Result<RawSpec, Diagnostic> {
    let mut options = serde_saphyr::Options::default();
    options.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::Error;
    options.strict_booleans = true;
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
    if raw.services.is_empty() {
        problems.push(
            Diagnostic::at(file, pos(&raw.version), "the spec defines no services")
                .with_hint("add a service under `services:`"),
        );
    }
    let mut services = BTreeMap::new();
    for (Key(name), service) in raw.services {
        if let Some(service) = validate_service(file, &name, service, &mut problems) {
            services.insert(name.value, service);
        }
    }
    if problems.is_empty() {
        Ok(Spec {
            file: file.to_owned(),
            services,
        })
    } else {
        Err(Diagnostics(problems))
    }
}

fn validate_service(
    file: &str,
    name: &Spanned<String>,
    raw: RawService,
    problems: &mut Vec<Diagnostic>,
) -> Option<Service> {
    let before = problems.len();
    if !is_target_name(&name.value) {
        problems.push(
            Diagnostic::at(file, pos(name), format!("invalid service name `{}`", name.value))
                .with_hint("use lowercase letters, digits, `.`, `_` and `-`, starting and ending with a letter or digit"),
        );
    } else if let Some(service) = name.value.strip_suffix(BASE_TARGET_SUFFIX) {
        problems.push(
            Diagnostic::at(file, pos(name), format!("the service name `{}` ends in `{BASE_TARGET_SUFFIX}`", name.value))
                .with_hint(format!("`{BASE_TARGET_SUFFIX}` is reserved: `{service}{BASE_TARGET_SUFFIX}` is the target of service `{service}` without its code")),
        );
    }

    let from = match ImageName::parse(&raw.from.value) {
        Ok(from) => Some(from),
        Err(reason) => {
            problems.push(
                Diagnostic::at(
                    file,
                    pos(&raw.from),
                    format!("invalid image reference `{}`: {reason}", raw.from.value),
                )
                .with_hint(
                    "write an image as `name[:tag][@sha256:digest]`, e.g. `python:3.12-slim`",
                ),
            );
            None
        }
    };

    let (project, project_at) = match &raw.project {
        Some(project) => (normalize_project(&project.value), pos(project)),
        None => (Ok(String::new()), pos(name)),
    };
    let project = match project {
        Ok(p) => Some(p),
        Err(reason) => {
            problems.push(Diagnostic::at(
                file,
                project_at,
                format!(
                    "invalid project directory `{}`: {reason}",
                    raw.project
                        .as_ref()
                        .map(|p| p.value.as_str())
                        .unwrap_or(".")
                ),
            ));
            None
        }
    };

    let runtime_packages = validate_packages(file, "system.runtime", &raw.system.runtime, problems);
    let build_packages = validate_packages(file, "system.build", &raw.system.build, problems);

    let command = raw.command.as_ref().map(|c| c.value.clone());
    if let Some(command) = &raw.command
        && (command.value.is_empty() || command.value.iter().any(String::is_empty))
    {
        problems.push(
            Diagnostic::at(
                file,
                pos(command),
                "`command` must be a non-empty list of non-empty strings",
            )
            .with_hint("e.g. `command: [inventory, --port, \"8000\"]`"),
        );
    }

    if problems.len() > before {
        return None;
    }
    Some(Service {
        name: name.value.clone(),
        at: pos(name),
        from: from?,
        from_at: pos(&raw.from),
        project: project?,
        project_at,
        runtime_packages,
        build_packages,
        command,
    })
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
    if path.starts_with('/') {
        return Err("it must be relative to the build context".into());
    }
    if path.contains('\\') {
        return Err("use `/` to separate directories".into());
    }
    let mut parts = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err("it may not leave the build context (`..`)".into()),
            other => parts.push(other),
        }
    }
    Ok(parts.join("/"))
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

#[cfg(test)]
mod tests;
