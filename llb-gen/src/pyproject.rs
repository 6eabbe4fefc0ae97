//! pyproject.toml, read for the checks and the plan: the project's name,
//! version and declared dependencies ([`ProjectMetadata`]), its
//! `requires-python`, whether its version comes from version control, the
//! extras and groups it defines, its build backend's requirements, and the
//! `[tool.uv]` settings that decide how its packages are installed.

use std::str::FromStr;

use crate::diagnostic::{Diagnostic, Position, position_of};
use crate::files::PYPROJECT_FILE;
use crate::names::{normalize_name, requirement_name};
use crate::spec::ProjectDir;

/// The Pythons a project runs on, as `requires-python` says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequiresPython {
    /// The specifiers, as written (`>=3.11`).
    pub specifiers: String,
    /// The project's `pyproject.toml`, as errors name it.
    pub file: String,
    /// Where `requires-python` is.
    pub at: Option<Position>,
}

/// The `requires-python` of `pyproject` (its text `text`, the file `file`).
pub(crate) fn requires_python(
    file: &str,
    text: &str,
    pyproject: &toml::Table,
) -> Option<RequiresPython> {
    let specifiers = pyproject
        .get("project")?
        .get("requires-python")?
        .as_str()?
        .to_owned();
    Some(RequiresPython {
        specifiers,
        file: file.to_owned(),
        at: find_key(text, "requires-python"),
    })
}

/// A project whose version a build tool takes from version control
/// (setuptools_scm, hatch-vcs): without `.git` in the build context its
/// build needs the version from elsewhere.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VcsVersion {
    /// The tool, for messages: `setuptools_scm` or `hatch-vcs`.
    pub tool: &'static str,
    /// The project's `pyproject.toml`, as errors name it.
    pub file: String,
    /// Where pyproject.toml says the version is `dynamic`.
    pub at: Position,
}

/// Whether the project's version is `dynamic` and taken from version
/// control, judged by the build backend's configuration.
pub(crate) fn version_from_vcs(
    file: &str,
    text: &str,
    pyproject: &toml::Table,
) -> Option<VcsVersion> {
    let dynamic_version = pyproject
        .get("project")
        .and_then(|p| p.get("dynamic"))
        .and_then(toml::Value::as_array)
        .is_some_and(|d| d.iter().any(|v| v.as_str() == Some("version")));
    if !dynamic_version {
        return None;
    }
    let tool = pyproject.get("tool");
    let requires: Vec<String> = pyproject
        .get("build-system")
        .and_then(|b| b.get("requires"))
        .and_then(toml::Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(toml::Value::as_str)
        .map(|r| normalize_name(requirement_name(r)))
        .collect();
    let hatch_vcs = tool
        .and_then(|t| t.get("hatch"))
        .and_then(|h| h.get("version"))
        .and_then(|v| v.get("source"))
        .and_then(toml::Value::as_str)
        == Some("vcs");
    let setuptools_scm = tool.is_some_and(|t| t.get("setuptools_scm").is_some());
    let name = if hatch_vcs || requires.iter().any(|r| r == "hatch-vcs") {
        "hatch-vcs"
    } else if setuptools_scm || requires.iter().any(|r| r == "setuptools-scm") {
        "setuptools_scm"
    } else {
        return None;
    };
    Some(VcsVersion {
        tool: name,
        file: file.to_owned(),
        at: find_key(text, "dynamic").unwrap_or(Position::START),
    })
}

/// What a lock of pins is checked against: a project's name, version and
/// dependencies, from `[project]` (PEP 621), else `[tool.poetry]`.
pub(crate) struct ProjectMetadata {
    pub(crate) name: Option<String>,
    pub(crate) version: Option<String>,
    pub(crate) dependencies: Vec<Dependency>,
}

/// One dependency a project declares.
pub(crate) struct Dependency {
    /// Its normalized name.
    pub(crate) name: String,
    /// The text to point at in pyproject.toml.
    pub(crate) written: String,
    /// Its PEP 440 version specifiers, when it has some pybase can read
    /// (none for a URL; Poetry's `^1.2` and `~1.2` are not PEP 440 and are
    /// not checked).
    pub(crate) specifiers: Option<pep440_rs::VersionSpecifiers>,
    /// The environments that need it: its PEP 508 marker (always true in
    /// Poetry's table).
    pub(crate) marker: pep508_rs::MarkerTree,
}

impl ProjectMetadata {
    pub(crate) fn of(pyproject: &toml::Table) -> Self {
        let pep621 = pyproject.get("project");
        let poetry = pyproject.get("tool").and_then(|t| t.get("poetry"));
        let key = |key: &str| {
            [pep621, poetry]
                .into_iter()
                .flatten()
                .find_map(|t| t.get(key)?.as_str())
                .map(str::to_owned)
        };
        let dependencies = match pep621.and_then(|t| t.get("dependencies")) {
            Some(list) => list
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(toml::Value::as_str)
                .filter_map(declared_dependency)
                .collect(),
            // Poetry's own table: `name = "constraint"` or `name = {…}`;
            // `python` is the interpreter, an `optional` one an extra's.
            None => poetry
                .and_then(|t| t.get("dependencies"))
                .and_then(toml::Value::as_table)
                .into_iter()
                .flatten()
                .filter(|(name, value)| {
                    name.as_str() != "python"
                        && !value
                            .get("optional")
                            .and_then(toml::Value::as_bool)
                            .unwrap_or(false)
                })
                .map(|(name, _)| Dependency {
                    name: normalize_name(name),
                    written: format!("{name} ="),
                    specifiers: None,
                    marker: pep508_rs::MarkerTree::TRUE,
                })
                .collect(),
        };
        ProjectMetadata {
            name: key("name"),
            version: key("version"),
            dependencies,
        }
    }
}

/// A `[project] dependencies` entry as a [`Dependency`] of the base set:
/// `None` when only an extra brings it (`extra == 'x'`, false for every
/// environment without extras) or when it is not PEP 508 (no lock could
/// have been made from it; it is not checked).
fn declared_dependency(requirement: &str) -> Option<Dependency> {
    let parsed = pep508_rs::Requirement::<pep508_rs::VerbatimUrl>::from_str(requirement).ok()?;
    if !parsed.marker.evaluate_extras(&[]) {
        return None;
    }
    Some(Dependency {
        name: normalize_name(parsed.name.as_ref()),
        written: requirement.to_owned(),
        specifiers: match parsed.version_or_url {
            Some(pep508_rs::VersionOrUrl::VersionSpecifier(specifiers)) => Some(specifiers),
            Some(pep508_rs::VersionOrUrl::Url(_)) | None => None,
        },
        marker: parsed.marker,
    })
}

/// The position of the TOML key or table header `key` (`key =`, `[key]`,
/// `[[key]]`) where it starts a line; text inside strings and comments is
/// not a key.
pub(crate) fn find_key(text: &str, key: &str) -> Option<Position> {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        let header = trimmed.trim_start_matches('[');
        let is_header = header.len() < trimmed.len();
        let found = header.strip_prefix(key).is_some_and(|rest| {
            let rest = rest.trim_start();
            if is_header {
                rest.starts_with(']')
            } else {
                rest.starts_with('=')
            }
        });
        if found {
            return Some(position_of(text, offset + line.len() - trimmed.len()));
        }
        offset += line.len();
    }
    None
}

/// Extras and groups the spec selects that the project does not define,
/// each an error at the spec's line.
pub(crate) fn unknown_selection(
    spec_file: &str,
    project: &ProjectDir<'_>,
    pyproject: &toml::Table,
) -> Vec<Diagnostic> {
    let names_of = |table: Option<&toml::Value>| -> Vec<String> {
        table
            .and_then(toml::Value::as_table)
            .map(|t| t.keys().cloned().collect())
            .unwrap_or_default()
    };
    let mut extras = names_of(
        pyproject
            .get("project")
            .and_then(|p| p.get("optional-dependencies")),
    );
    // Poetry's extras, `[tool.poetry.extras]`.
    extras.extend(names_of(
        pyproject
            .get("tool")
            .and_then(|t| t.get("poetry"))
            .and_then(|p| p.get("extras")),
    ));
    let mut groups = names_of(pyproject.get("dependency-groups"));
    // Poetry's groups, `[tool.poetry.group.NAME]`.
    groups.extend(names_of(
        pyproject
            .get("tool")
            .and_then(|t| t.get("poetry"))
            .and_then(|p| p.get("group")),
    ));
    // uv's older spelling of the `dev` group.
    if pyproject
        .get("tool")
        .and_then(|t| t.get("uv"))
        .and_then(|u| u.get("dev-dependencies"))
        .is_some()
    {
        groups.push("dev".to_owned());
    }
    let mut problems = Vec::new();
    for (key, table, selected) in [
        (
            "[project.optional-dependencies]",
            &extras,
            &project.selection.extras,
        ),
        ("[dependency-groups]", &groups, &project.selection.groups),
    ] {
        for choice in selected {
            let wanted = normalize_name(&choice.name);
            if table.iter().any(|name| normalize_name(name) == wanted) {
                continue;
            }
            let hint = match crate::diagnostic::did_you_mean(
                &choice.name,
                table.iter().map(String::as_str),
            ) {
                Some(close) => format!("did you mean `{close}`?"),
                None if table.is_empty() => {
                    format!("`{}` defines none", project.path(PYPROJECT_FILE))
                }
                None => format!(
                    "`{}` defines: {}",
                    project.path(PYPROJECT_FILE),
                    table.join(", ")
                ),
            };
            problems.push(
                Diagnostic::at(
                    spec_file,
                    choice.at,
                    format!(
                        "`{}` is not in {key} of `{}`",
                        choice.name,
                        project.path(PYPROJECT_FILE)
                    ),
                )
                .with_hint(hint),
            );
        }
    }
    problems
}

/// Whether the project tells uv to build packages from source rather than
/// install their wheels (`[tool.uv] no-binary` or `no-binary-package`):
/// the lock still lists the wheels, so only uv may choose.
pub(crate) fn builds_from_source(pyproject: Option<&toml::Table>) -> bool {
    pyproject
        .and_then(|p| p.get("tool")?.get("uv")?.as_table())
        .is_some_and(|uv| {
            uv.get("no-binary").and_then(toml::Value::as_bool) == Some(true)
                || uv
                    .get("no-binary-package")
                    .and_then(toml::Value::as_array)
                    .is_some_and(|p| !p.is_empty())
        })
}

/// The requirements of the project's build backend (`[build-system]
/// requires` in `pyproject`, or setuptools when it has no such table, as
/// PEP 517 says), for an environment the code step builds the project in
/// without isolation; `None` when the file is unreadable or a requirement
/// reads as an installer option.
pub fn build_requires(pyproject: &[u8]) -> Option<Vec<String>> {
    let table: toml::Table = toml::from_str(std::str::from_utf8(pyproject).ok()?).ok()?;
    let requires: Vec<String> = match table.get("build-system") {
        None => vec!["setuptools>=40.8.0".to_owned()],
        Some(build_system) => build_system
            .get("requires")?
            .as_array()?
            .iter()
            .map(|r| r.as_str().map(str::trim).map(str::to_owned))
            .collect::<Option<_>>()?,
    };
    (!requires.iter().any(|r| r.is_empty() || r.starts_with('-'))).then_some(requires)
}

/// The `[tool.uv]` settings that change how uv builds an sdist: with one
/// of them, an sdist is built by `uv sync` in the project, not alone.
const SDIST_BUILD_SETTINGS: &[&str] = &[
    "build-constraint-dependencies",
    "config-settings",
    "config-settings-package",
    "extra-build-dependencies",
    "extra-build-variables",
    "extra-index-url",
    "find-links",
    "index",
    "index-url",
    "no-build-isolation",
    "no-build-isolation-package",
    "sources",
];

/// Whether the project leaves sdist builds to uv's defaults, so that each
/// may be built on its own, outside the project (see
/// [`SDIST_BUILD_SETTINGS`]).
pub(crate) fn sdists_build_alone(pyproject: Option<&toml::Table>) -> bool {
    let uv = pyproject.and_then(|p| p.get("tool")?.get("uv")?.as_table());
    uv.is_none_or(|uv| !SDIST_BUILD_SETTINGS.iter().any(|key| uv.contains_key(*key)))
}
