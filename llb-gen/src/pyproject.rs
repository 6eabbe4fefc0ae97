//! pyproject.toml, read for the checks and the plan: the project's name,
//! version and declared dependencies ([`ProjectMetadata`]), its
//! `requires-python`, whether its version comes from version control, the
//! extras and groups it defines, its build backend's requirements, and the
//! `[tool.uv]` settings that decide how its packages are installed. The
//! file is read once per check into a typed `Pyproject`, which the
//! checks, the lints and the plan read.

use std::collections::BTreeMap;
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

/// The `requires-python` of `pyproject` (the file `file`).
pub(crate) fn requires_python(file: &str, pyproject: &Pyproject) -> Option<RequiresPython> {
    let specifiers = pyproject.project.as_ref()?.requires_python.clone()?;
    Some(RequiresPython {
        specifiers,
        file: file.to_owned(),
        at: pyproject.spans.requires_python,
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
pub(crate) fn version_from_vcs(file: &str, pyproject: &Pyproject) -> Option<VcsVersion> {
    let dynamic_version = pyproject
        .project
        .as_ref()
        .is_some_and(|p| p.dynamic.iter().any(|d| d == "version"));
    if !dynamic_version {
        return None;
    }
    let requires: Vec<String> = pyproject
        .build_system_requires
        .iter()
        .flatten()
        .flatten()
        .map(|r| normalize_name(requirement_name(r)))
        .collect();
    let hatch_vcs = pyproject.hatch_version_source.as_deref() == Some("vcs");
    let name = if hatch_vcs || requires.iter().any(|r| r == "hatch-vcs") {
        "hatch-vcs"
    } else if pyproject.setuptools_scm || requires.iter().any(|r| r == "setuptools-scm") {
        "setuptools_scm"
    } else {
        return None;
    };
    Some(VcsVersion {
        tool: name,
        file: file.to_owned(),
        at: pyproject.spans.dynamic.unwrap_or(Position::START),
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
    /// Where pyproject.toml writes it (its requirement's text, or its key
    /// in Poetry's table).
    pub(crate) at: Option<Position>,
    /// Its PEP 440 version specifiers, when it has some pybase can read
    /// (none for a URL; Poetry's `^1.2` and `~1.2` are not PEP 440 and are
    /// not checked).
    pub(crate) specifiers: Option<pep440_rs::VersionSpecifiers>,
    /// The environments that need it: its PEP 508 marker (always true in
    /// Poetry's table).
    pub(crate) marker: pep508_rs::MarkerTree,
}

impl ProjectMetadata {
    pub(crate) fn of(pyproject: &Pyproject) -> Self {
        let (pep621, poetry) = (pyproject.project.as_ref(), pyproject.poetry.as_ref());
        let dependencies = match pep621.and_then(|t| t.dependencies.as_ref()) {
            Some(list) => list
                .iter()
                .filter_map(|r| {
                    declared_dependency(r, pyproject.spans.requirements.get(r).copied())
                })
                .collect(),
            // Poetry's own table: `name = "constraint"` or `name = {…}`;
            // `python` is the interpreter, an `optional` one an extra's.
            None => poetry
                .and_then(|t| t.dependencies.as_ref())
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
                    at: pyproject.spans.poetry_dependencies.get(name).copied(),
                    specifiers: None,
                    marker: pep508_rs::MarkerTree::TRUE,
                })
                .collect(),
        };
        ProjectMetadata {
            name: pep621
                .and_then(|p| p.name.clone())
                .or_else(|| poetry.and_then(|p| p.name.clone())),
            version: pep621
                .and_then(|p| p.version.clone())
                .or_else(|| poetry.and_then(|p| p.version.clone())),
            dependencies,
        }
    }
}

/// A `[project] dependencies` entry as a [`Dependency`] of the base set:
/// `None` when only an extra brings it (`extra == 'x'`, false for every
/// environment without extras) or when it is not PEP 508 (no lock could
/// have been made from it; it is not checked).
fn declared_dependency(requirement: &str, at: Option<Position>) -> Option<Dependency> {
    // pep508_rs panics on a name ending in `.`, `-` or `_` before more text.
    if crate::names::unfinished_name(requirement.trim()).is_some() {
        return None;
    }
    let parsed = pep508_rs::Requirement::<pep508_rs::VerbatimUrl>::from_str(requirement).ok()?;
    if !parsed.marker.evaluate_extras(&[]) {
        return None;
    }
    Some(Dependency {
        name: normalize_name(parsed.name.as_ref()),
        at,
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
    pyproject: &Pyproject,
) -> Vec<Diagnostic> {
    let names = |entries: &[(String, toml::Value)]| -> Vec<String> {
        entries.iter().map(|(name, _)| name.clone()).collect()
    };
    let mut extras: Vec<String> = pyproject
        .project
        .iter()
        .flat_map(|p| p.optional_dependencies.iter().map(|(name, _)| name.clone()))
        .collect();
    let poetry = pyproject.poetry.as_ref();
    // Poetry's extras, `[tool.poetry.extras]`.
    extras.extend(poetry.map(|p| names(&p.extras)).unwrap_or_default());
    let mut groups = names(&pyproject.dependency_groups);
    // Poetry's groups, `[tool.poetry.group.NAME]`.
    groups.extend(poetry.map(|p| names(&p.groups)).unwrap_or_default());
    // uv's older spelling of the `dev` group.
    if pyproject.uv.as_ref().is_some_and(|uv| uv.dev_dependencies) {
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
pub(crate) fn builds_from_source(pyproject: Option<&Pyproject>) -> bool {
    pyproject
        .and_then(|p| p.uv.as_ref())
        .is_some_and(|uv| uv.no_binary || uv.no_binary_package)
}

/// maturin's PEP 517 backend (`[build-system] build-backend`), which builds
/// a project's Rust code with cargo.
pub(crate) const MATURIN_BACKEND: &str = "maturin";

/// The PEP 517 backends that build a wheel of Python files alone and can
/// run a project's own code at build time only through settings of
/// pyproject.toml (`Pyproject::builds_pure_python` reads them): hatchling
/// (build hooks), Poetry's core (a build script), flit's core and uv's
/// (none). Not here: setuptools (a `setup.py` beside pyproject.toml, which
/// the plan does not look for, may compile), pdm-backend (a `pdm_build.py`
/// hook runs when the file is there), maturin, scikit-build-core,
/// meson-python and every backend pybase does not know.
const PURE_PYTHON_BACKENDS: [&str; 4] = [
    "hatchling.build",
    "poetry.core.masonry.api",
    "flit_core.buildapi",
    "uv_build",
];

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
pub(crate) fn sdists_build_alone(pyproject: Option<&Pyproject>) -> bool {
    pyproject
        .and_then(|p| p.uv.as_ref())
        .is_none_or(UvTable::leaves_sdists_alone)
}

/// [`sdists_build_alone`] for a pyproject.toml table (a lock of pins'
/// reader, which still takes the table).
pub(crate) fn sdists_build_alone_in(pyproject: Option<&toml::Table>) -> bool {
    let uv = pyproject.and_then(|p| p.get("tool")?.get("uv")?.as_table());
    uv.map(UvTable::read)
        .as_ref()
        .is_none_or(UvTable::leaves_sdists_alone)
}

/// The stem of uv's environment variables for the credentials of the index
/// named `name` (`UV_INDEX_<STEM>_USERNAME`, `…_PASSWORD`): the name upper
/// case, every character other than an ASCII letter or digit an `_`, as
/// uv documents it.
pub fn index_env_stem(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

impl UvTable {
    /// Whether it sets none of [`SDIST_BUILD_SETTINGS`].
    fn leaves_sdists_alone(&self) -> bool {
        !SDIST_BUILD_SETTINGS
            .iter()
            .any(|key| self.keys.iter().any(|k| k == key))
    }
}

/// pyproject.toml read once, as the checks and the plan use it. Each key
/// is read leniently: one of another type than pybase expects is taken as
/// absent (or, in a list, skipped), as before the file had a typed form.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Pyproject {
    /// `[project]`, when it is a table.
    pub(crate) project: Option<ProjectTable>,
    /// The names of `[dependency-groups]`, in order, and their lists.
    pub(crate) dependency_groups: Vec<(String, toml::Value)>,
    /// Whether there is a `[build-system]`.
    pub(crate) has_build_system: bool,
    /// `[build-system] requires`, when it is a list: each entry, `None`
    /// for one that is not a string.
    pub(crate) build_system_requires: Option<Vec<Option<String>>>,
    /// `[build-system] build-backend`, when it is a string.
    pub(crate) build_backend: Option<String>,
    /// Whether `[build-system]` has a `backend-path` (a backend of the
    /// project's own).
    pub(crate) backend_path: bool,
    /// Whether pyproject.toml configures a hatchling build hook
    /// (`[tool.hatch.build.hooks.*]`, `[tool.hatch.build.targets.*.hooks.*]`).
    pub(crate) hatch_build_hooks: bool,
    /// `[tool.uv]`, when it is a table.
    pub(crate) uv: Option<UvTable>,
    /// `[tool.poetry]`, when it is a table.
    pub(crate) poetry: Option<PoetryTable>,
    /// `[tool.hatch.version] source`.
    pub(crate) hatch_version_source: Option<String>,
    /// Whether there is a `[tool.setuptools_scm]`.
    pub(crate) setuptools_scm: bool,
    /// Where the checks' keys and requirements are written.
    pub(crate) spans: Spans,
}

/// Where pyproject.toml writes what the checks point at, from the TOML
/// parser's spans (never a search of the text, which a comment or another
/// table could match first): a key where its line starts, a requirement
/// where its text starts inside its quotes.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Spans {
    /// `[project]`: its header, or its first key when it is written dotted.
    pub(crate) project: Option<Position>,
    /// `[project] name`.
    pub(crate) name: Option<Position>,
    /// `[project] dependencies`.
    pub(crate) dependencies: Option<Position>,
    /// `[project] requires-python`.
    pub(crate) requires_python: Option<Position>,
    /// `[project] dynamic`.
    pub(crate) dynamic: Option<Position>,
    /// Each requirement string of `[project] dependencies`,
    /// `optional-dependencies` and `[dependency-groups]`, by its text (the
    /// first, when one is written twice).
    pub(crate) requirements: BTreeMap<String, Position>,
    /// Each key of `[tool.poetry.dependencies]`, by the key as written.
    pub(crate) poetry_dependencies: BTreeMap<String, Position>,
    /// `[dependency-groups]`.
    pub(crate) dependency_groups: Option<Position>,
}

/// A parsed TOML value with its span.
type SpannedValue<'i> = toml::Spanned<toml::de::DeValue<'i>>;

/// A parsed TOML key with its span.
type SpannedKey<'i> = toml::Spanned<toml::de::DeString<'i>>;

impl Spans {
    /// The spans of the TOML document `text` (none when it does not
    /// parse).
    fn of(text: &str) -> Self {
        let mut spans = Spans::default();
        let Ok(document) = toml::de::DeTable::parse(text) else {
            return spans;
        };
        let key_at = |key: &SpannedKey<'_>| crate::lock::key_start(text, key.span().start);
        let root = document.get_ref();
        if let Some((key, project)) = entry(root, "project") {
            spans.project = Some(key_at(key));
            if let toml::de::DeValue::Table(project) = project.get_ref() {
                let at = |name: &str| entry(project, name).map(|(key, _)| key_at(key));
                spans.name = at("name");
                spans.requires_python = at("requires-python");
                spans.dynamic = at("dynamic");
                spans.dependencies = at("dependencies");
                if let Some((_, list)) = entry(project, "dependencies") {
                    spans.add_requirements(text, list);
                }
                if let Some((_, extras)) = entry(project, "optional-dependencies") {
                    spans.add_lists(text, extras);
                }
            }
        }
        if let Some((key, groups)) = entry(root, "dependency-groups") {
            spans.dependency_groups = Some(key_at(key));
            spans.add_lists(text, groups);
        }
        let poetry_dependencies = entry(root, "tool")
            .and_then(|(_, tool)| table_entry(tool, "poetry"))
            .and_then(|poetry| table_entry(poetry, "dependencies"));
        if let Some(toml::de::DeValue::Table(dependencies)) =
            poetry_dependencies.map(toml::Spanned::get_ref)
        {
            for (key, _) in dependencies.iter() {
                spans
                    .poetry_dependencies
                    .entry(key.get_ref().to_string())
                    .or_insert_with(|| key_at(key));
            }
        }
        spans
    }

    /// Adds the requirement strings of each list of the table `lists`.
    fn add_lists(&mut self, text: &str, lists: &SpannedValue<'_>) {
        if let toml::de::DeValue::Table(lists) = lists.get_ref() {
            for (_, list) in lists.iter() {
                self.add_requirements(text, list);
            }
        }
    }

    /// Adds the strings of the array `list`, each where its text starts.
    fn add_requirements(&mut self, text: &str, list: &SpannedValue<'_>) {
        let toml::de::DeValue::Array(list) = list.get_ref() else {
            return;
        };
        for item in list.iter() {
            if let toml::de::DeValue::String(requirement) = item.get_ref() {
                let start = item.span().start;
                let written = text.get(start..).unwrap_or_default();
                let quote = [r#"""""#, "'''", "\"", "'"]
                    .iter()
                    .find(|quote| written.starts_with(**quote))
                    .map_or(0, |quote| quote.len());
                self.requirements
                    .entry(requirement.to_string())
                    .or_insert_with(|| position_of(text, start + quote));
            }
        }
    }
}

/// The key `name` of the parsed table `table`, and its value.
fn entry<'t, 'i>(
    table: &'t toml::de::DeTable<'i>,
    name: &str,
) -> Option<(&'t SpannedKey<'i>, &'t SpannedValue<'i>)> {
    table.iter().find(|(key, _)| key.get_ref() == name)
}

/// The value of the key `name` of `value`, when it is a table.
fn table_entry<'t, 'i>(value: &'t SpannedValue<'i>, name: &str) -> Option<&'t SpannedValue<'i>> {
    match value.get_ref() {
        toml::de::DeValue::Table(table) => entry(table, name).map(|(_, value)| value),
        _ => None,
    }
}

/// `[project]`, as [`Pyproject`] reads it.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct ProjectTable {
    pub(crate) name: Option<String>,
    pub(crate) version: Option<String>,
    /// `dynamic`'s strings.
    pub(crate) dynamic: Vec<String>,
    /// `dependencies`' strings, as written and in order; `None` without
    /// the key (an empty list when it is not a list).
    pub(crate) dependencies: Option<Vec<String>>,
    /// `optional-dependencies`: each extra's name and its strings.
    pub(crate) optional_dependencies: Vec<(String, Vec<String>)>,
    pub(crate) requires_python: Option<String>,
}

/// `[tool.uv]`, as [`Pyproject`] reads it.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct UvTable {
    /// Its keys.
    pub(crate) keys: Vec<String>,
    /// `no-binary = true`.
    pub(crate) no_binary: bool,
    /// `no-binary-package` is a list that names some.
    pub(crate) no_binary_package: bool,
    /// Whether it has `dev-dependencies`.
    pub(crate) dev_dependencies: bool,
    /// `[tool.uv.workspace]`, when it is a table.
    pub(crate) workspace: Option<UvWorkspace>,
    /// The `name` of each `[[tool.uv.index]]`, in order (an index without
    /// a string name is skipped).
    pub(crate) index_names: Vec<String>,
}

/// `[tool.uv.workspace]`: its member globs and its excluded ones, as
/// written (relative to the file's directory, a leading `./` and a
/// trailing `/` dropped).
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct UvWorkspace {
    pub(crate) members: Vec<String>,
    pub(crate) exclude: Vec<String>,
}

impl UvWorkspace {
    /// The `[tool.uv.workspace]` of the pyproject.toml whose table is
    /// `pyproject`, when it declares one.
    pub(crate) fn of_pyproject(pyproject: &toml::Table) -> Option<Self> {
        Self::read(
            pyproject
                .get("tool")?
                .get("uv")?
                .get("workspace")?
                .as_table()?,
        )
    }

    /// `[tool.uv.workspace]` from its table.
    fn read(table: &toml::Table) -> Option<Self> {
        let globs = |key: &str| -> Vec<String> {
            strings(table.get(key))
                .unwrap_or_default()
                .iter()
                .map(|glob| {
                    glob.trim_start_matches("./")
                        .trim_end_matches('/')
                        .to_owned()
                })
                .collect()
        };
        Some(Self {
            members: globs("members"),
            exclude: globs("exclude"),
        })
    }
}

/// `[tool.poetry]`, as [`Pyproject`] reads it; dependencies are kept as
/// written, since Poetry's forms vary.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct PoetryTable {
    pub(crate) name: Option<String>,
    pub(crate) version: Option<String>,
    /// `dependencies`, when it is a table.
    pub(crate) dependencies: Option<toml::Table>,
    /// `extras`' names, in order, and their values.
    pub(crate) extras: Vec<(String, toml::Value)>,
    /// `group`'s names, in order, and their tables.
    pub(crate) groups: Vec<(String, toml::Value)>,
    /// `dev-dependencies` (Poetry 1's `dev` group), as written.
    pub(crate) dev_dependencies: Option<toml::Value>,
    /// Whether it names a build script (`[tool.poetry.build]`, or Poetry
    /// 1's `build = "build.py"`), which may compile.
    pub(crate) build_script: bool,
}

/// Whether hatchling's `[tool.hatch.build]` table `build` configures a
/// build hook, for every target (`hooks`) or one (`targets.*.hooks`).
fn has_hatch_build_hooks(build: &toml::Table) -> bool {
    let has_hooks = |table: &toml::Table| {
        table
            .get("hooks")
            .and_then(toml::Value::as_table)
            .is_some_and(|hooks| !hooks.is_empty())
    };
    has_hooks(build)
        || build
            .get("targets")
            .and_then(toml::Value::as_table)
            .is_some_and(|targets| {
                targets
                    .values()
                    .filter_map(toml::Value::as_table)
                    .any(has_hooks)
            })
}

/// The strings of `value` when it is a list.
fn strings(value: Option<&toml::Value>) -> Option<Vec<String>> {
    let list = value?.as_array()?;
    Some(
        list.iter()
            .filter_map(toml::Value::as_str)
            .map(str::to_owned)
            .collect(),
    )
}

/// The string `key` of `table`.
fn text_of(table: &toml::Table, key: &str) -> Option<String> {
    table.get(key)?.as_str().map(str::to_owned)
}

/// The entries of `value` when it is a table.
fn entries(value: Option<&toml::Value>) -> Vec<(String, toml::Value)> {
    value
        .and_then(toml::Value::as_table)
        .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

impl Pyproject {
    /// The requirements of the project's build backend (`[build-system]
    /// requires`, or setuptools when it has no such table, as PEP 517
    /// says), for an environment the code step builds the project in
    /// without isolation; `None` when a requirement is not a string or
    /// reads as an installer option.
    pub(crate) fn build_requires(&self) -> Option<Vec<String>> {
        let requires: Vec<String> = if self.has_build_system {
            self.build_system_requires
                .as_ref()?
                .iter()
                .map(|r| r.as_ref().map(|r| r.trim().to_owned()))
                .collect::<Option<_>>()?
        } else {
            vec!["setuptools>=40.8.0".to_owned()]
        };
        (!requires.iter().any(|r| r.is_empty() || r.starts_with('-'))).then_some(requires)
    }

    /// Whether its build backend builds the project from Python files
    /// alone, running none of its code that could compile: one of
    /// [`PURE_PYTHON_BACKENDS`], not the project's own (`backend-path`),
    /// without a hatchling build hook or a Poetry build script. Its code
    /// step then needs no build package (the plan runs it on the system
    /// stage); `false` whenever that is not certain from pyproject.toml.
    pub(crate) fn builds_pure_python(&self) -> bool {
        let Some(backend) = self.build_backend.as_deref() else {
            return false;
        };
        PURE_PYTHON_BACKENDS.contains(&backend)
            && !self.backend_path
            && !self.hatch_build_hooks
            && !self.poetry.as_ref().is_some_and(|p| p.build_script)
    }

    /// Whether its build backend compiles Rust with cargo: maturin (PyO3,
    /// cffi and uniffi bindings, Rust binaries), which runs `cargo` from
    /// the builder's `PATH` and fetches the crates from crates.io.
    pub(crate) fn builds_with_cargo(&self) -> bool {
        self.build_backend.as_deref() == Some(MATURIN_BACKEND)
    }

    /// pyproject.toml from its bytes; `None` when it is not UTF-8 TOML.
    #[cfg(test)]
    pub(crate) fn parse(bytes: &[u8]) -> Option<Self> {
        let text = std::str::from_utf8(bytes).ok()?;
        let table: toml::Table = toml::from_str(text).ok()?;
        Some(Self::read(text, &table))
    }

    /// pyproject.toml from its text and its table, parsed by the caller
    /// (which reports a file that does not parse).
    pub(crate) fn read(text: &str, table: &toml::Table) -> Self {
        Pyproject {
            spans: Spans::of(text),
            ..Self::of_table(table)
        }
    }

    /// pyproject.toml from its table alone, without the positions
    /// [`Pyproject::read`] adds from the text.
    fn of_table(table: &toml::Table) -> Self {
        let tool = table.get("tool").and_then(toml::Value::as_table);
        let tool_table = |key: &str| tool.and_then(|t| t.get(key)?.as_table());
        let build_system = table.get("build-system");
        Pyproject {
            project: table
                .get("project")
                .and_then(toml::Value::as_table)
                .map(ProjectTable::read),
            dependency_groups: entries(table.get("dependency-groups")),
            has_build_system: build_system.is_some(),
            build_system_requires: build_system
                .and_then(|b| b.get("requires")?.as_array())
                .map(|list| list.iter().map(|r| r.as_str().map(str::to_owned)).collect()),
            build_backend: build_system
                .and_then(|b| b.get("build-backend")?.as_str())
                .map(|b| b.trim().to_owned()),
            backend_path: build_system.is_some_and(|b| b.get("backend-path").is_some()),
            hatch_build_hooks: tool_table("hatch")
                .and_then(|h| h.get("build")?.as_table())
                .is_some_and(has_hatch_build_hooks),
            uv: tool_table("uv").map(UvTable::read),
            poetry: tool_table("poetry").map(PoetryTable::read),
            hatch_version_source: tool_table("hatch")
                .and_then(|h| h.get("version")?.get("source")?.as_str())
                .map(str::to_owned),
            setuptools_scm: tool.is_some_and(|t| t.contains_key("setuptools_scm")),
            spans: Spans::default(),
        }
    }
}

impl ProjectTable {
    fn read(table: &toml::Table) -> Self {
        ProjectTable {
            name: text_of(table, "name"),
            version: text_of(table, "version"),
            dynamic: strings(table.get("dynamic")).unwrap_or_default(),
            dependencies: table
                .get("dependencies")
                .map(|d| strings(Some(d)).unwrap_or_default()),
            optional_dependencies: entries(table.get("optional-dependencies"))
                .into_iter()
                .map(|(name, list)| (name, strings(Some(&list)).unwrap_or_default()))
                .collect(),
            requires_python: text_of(table, "requires-python"),
        }
    }
}

impl UvTable {
    fn read(table: &toml::Table) -> Self {
        UvTable {
            keys: table.keys().cloned().collect(),
            no_binary: table.get("no-binary").and_then(toml::Value::as_bool) == Some(true),
            no_binary_package: table
                .get("no-binary-package")
                .and_then(toml::Value::as_array)
                .is_some_and(|p| !p.is_empty()),
            dev_dependencies: table.contains_key("dev-dependencies"),
            workspace: table
                .get("workspace")
                .and_then(toml::Value::as_table)
                .and_then(UvWorkspace::read),
            index_names: table
                .get("index")
                .and_then(toml::Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|index| Some(index.get("name")?.as_str()?.to_owned()))
                .collect(),
        }
    }
}

impl PoetryTable {
    fn read(table: &toml::Table) -> Self {
        PoetryTable {
            name: text_of(table, "name"),
            version: text_of(table, "version"),
            dependencies: table
                .get("dependencies")
                .and_then(toml::Value::as_table)
                .cloned(),
            extras: entries(table.get("extras")),
            groups: entries(table.get("group")),
            dev_dependencies: table.get("dev-dependencies").cloned(),
            build_script: table.contains_key("build"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_known_backend_without_hooks_or_scripts_builds_from_python_files_alone() {
        let pure = |text: &str| {
            Pyproject::parse(text.as_bytes())
                .expect("valid TOML")
                .builds_pure_python()
        };
        let system = |backend: &str| {
            format!("[build-system]\nrequires = [\"x\"]\nbuild-backend = \"{backend}\"\n")
        };
        for backend in PURE_PYTHON_BACKENDS {
            assert!(pure(&system(backend)), "{backend}");
        }
        // Backends that may compile, or run a file pyproject.toml does not
        // name, and none at all (setuptools' legacy fallback).
        for backend in [
            "setuptools.build_meta",
            "setuptools.build_meta:__legacy__",
            "pdm.backend",
            "maturin",
            "scikit_build_core.build",
            "mesonpy",
            "in_tree_backend",
        ] {
            assert!(!pure(&system(backend)), "{backend}");
        }
        assert!(!pure("[project]\nname = \"x\"\n"));
        // A build hook, a build script, a backend of the project's own.
        let hatch = system("hatchling.build");
        assert!(!pure(&format!("{hatch}[tool.hatch.build.hooks.custom]\n")));
        assert!(!pure(&format!(
            "{hatch}[tool.hatch.build.targets.wheel.hooks.mypyc]\ndependencies = [\"mypy\"]\n"
        )));
        // Twins: hatchling's other settings, and a metadata hook, leave it pure.
        assert!(pure(&format!(
            "{hatch}[tool.hatch.build.targets.wheel]\npackages = [\"src/x\"]\n[tool.hatch.metadata.hooks.custom]\n"
        )));
        let poetry = system("poetry.core.masonry.api");
        assert!(!pure(&format!(
            "{poetry}[tool.poetry.build]\nscript = \"build.py\"\n"
        )));
        assert!(pure(&format!("{poetry}[tool.poetry]\nname = \"x\"\n")));
        assert!(!pure(
            "[build-system]\nrequires = []\nbuild-backend = \"uv_build\"\nbackend-path = [\".\"]\n"
        ));
    }

    #[test]
    fn a_dependency_whose_name_ends_in_punctuation_is_unreadable_not_a_crash() {
        // Regression: pep508_rs panicked on `six. >=1`, and so did `pybase
        // check` and the frontend.
        for bad in ["six. >=1", "six- ; python_version < '3.11'", "six_ [x]"] {
            assert!(declared_dependency(bad, None).is_none(), "{bad}");
        }
        // Twins: the same requirements written right are read.
        for good in ["six >=1", "six ; python_version < '3.11'", "six[x]"] {
            assert!(declared_dependency(good, None).is_some(), "{good}");
        }
    }
}
