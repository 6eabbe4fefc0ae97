//! `poetry.lock`, read when a project has no `uv.lock`, and translated
//! into requirements locks that uv installs with `--require-hashes`.
//!
//! Poetry (lock-version 2.1, Poetry 2) writes one `[[package]]` table per
//! locked distribution: its `version`, the dependency `groups` it belongs
//! to, its environment `markers` (a string, or a table of one marker per
//! group), the `files` of its artifacts with their hashes, and, when it
//! comes from an index other than PyPI, a `[package.source]`. The lock
//! carries no URLs: artifacts are found on the index and checked against
//! the hashes, like pip's `--require-hashes`.
//!
//! The translation is one requirements lock per index, each naming only
//! its own (`--index-url`, or none: the default, PyPI, for the packages
//! without a source), installed one after the other: uv applies a file's
//! index options to every package it lists, so one file with the private
//! indexes as `--extra-index-url` would look every PyPI package up on them
//! first (uv's `first-index` strategy takes the first index that has the
//! name), and PyPI first would look the private packages up on PyPI
//! (dependency confusion, either way). No order of one index list serves
//! both.
//!
//! The lock is read by [`crate::lock::poetry`] into the one lock model,
//! which keeps every marker as written: the translation writes them
//! unchanged.
//!
//! The venv gets the `main` group and the groups the spec selects; a
//! package of another group only (`dev`) is left out. A package without a
//! version or hashes, or from a source pybase cannot install (git, a file,
//! a URL), is refused at its `name` line: installing it would not be
//! exactly the lock.
//!
//! A path dependency (`lib = { path = "../lib" }`, locked with a
//! `[package.source]` of type `directory` whose `url` is relative to the
//! project's directory) is code, not venv: the translation leaves it out and
//! lists it in [`crate::select::Selection::local_projects`], for the code
//! step to build and install from its directory, as a uv workspace's
//! members are; its own dependencies are in the lock like any other
//! package's. One the venv needs only under a marker is refused: the code
//! step installs it in every image.
//!
//! Poetry 1 (lock-version 2.0 from 1.3 to 1.8; 1.1 before, with the files
//! in `[metadata.files]`) writes no groups or markers per package, and
//! Poetry 2 marks what an extra needs only with an `extra == "name"`
//! marker. For those, which packages the venv gets follows from the
//! project's own dependencies ([`roots`], from pyproject.toml, with the
//! selected groups and extras) and each package's
//! `[package.dependencies]`, walked like Poetry's installer walks them.
//! Each edge's `markers` is kept, and joined along the way, so that uv
//! skips what the image's environment does not need (a Windows-only
//! dependency); an `optional` dependency is followed only when an extra
//! that names it was asked for. A package the lock does not have is one
//! Poetry found no environment needs, and is left out. Of a package
//! locked at several versions, an edge gets the highest its constraint
//! allows, as `poetry export` chooses; when those versions are for
//! different Pythons (their `python-versions` differ), Poetry chooses by
//! each environment's Python, which pybase does not model, and the lock is
//! refused at the package's line.

use crate::diagnostic::{Diagnostic, Position};
use crate::lock::{Lock, Package, Source};
use crate::names::normalize_name;
use crate::pyproject::Pyproject;
use crate::requirements::Pin;
use std::collections::{BTreeMap, BTreeSet};

/// Poetry's lock file.
pub const POETRY_LOCK_FILE: &str = "poetry.lock";

/// The command a hint offers to bring an out-of-date `poetry.lock` up to
/// date, run in the project's directory (`tests/relock_hints.rs` runs it).
pub const POETRY_RELOCK: &str = "poetry lock";
/// The command a hint offers to write a `poetry.lock` pybase cannot read
/// anew: Poetry 2's, for a plain `poetry lock` stops at a lock without its
/// `[metadata]`, and keeps what it can of an old one.
pub const POETRY_REGENERATE: &str = "poetry lock --regenerate";

/// The requirements file the translation is written to, next to the lock,
/// for uv to install: its first file (see [`translated_file`]).
pub const TRANSLATED_FILE: &str = "pybase-poetry-requirements.txt";

/// The name of the translation's file at `position` (0-based) of
/// [`PoetryLock::requirements`]: [`TRANSLATED_FILE`], then
/// `pybase-poetry-requirements-2.txt` and so on.
pub fn translated_file(position: usize) -> String {
    match position {
        0 => TRANSLATED_FILE.to_owned(),
        _ => format!("pybase-poetry-requirements-{}.txt", position + 1),
    }
}

/// The group every project has: `[project].dependencies`, or
/// `[tool.poetry.dependencies]`.
const MAIN_GROUP: &str = "main";

/// The index a package without a `[package.source]` comes from: PyPI.
const DEFAULT_INDEX: &str = "https://pypi.org/simple";

/// What a `poetry.lock` pins for the venv.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoetryLock {
    /// The packages of the selected groups, in the lock's order.
    pub pins: Vec<Pin>,
    /// The same packages as requirements locks, `name==version`, the
    /// marker, every hash, one per index (see the module's documentation):
    /// first those from the default index (no `[package.source]`), then
    /// each source's, under `--index-url` of its URL, in the order the lock
    /// first names them. At least one, if only a header.
    pub requirements: Vec<IndexRequirements>,
    /// The same packages, each where its marker holds, with the files the
    /// lock names, for [`crate::artifacts::check`].
    pub selection: crate::select::Selection,
}

/// The packages a `poetry.lock` takes from one index, as a requirements
/// lock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexRequirements {
    /// The index: a `[package.source]`'s URL, or `None` for the default
    /// (PyPI, as Poetry reads a package without a source).
    pub index: Option<String>,
    /// The requirements lock: a header, `--index-url` of `index` when it
    /// has one, then each package's `name==version ; marker` and hashes.
    pub text: String,
}

/// A dependency the project declares itself: where the walk of a Poetry 1
/// lock starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Root {
    /// Its normalized name.
    pub name: String,
    /// The environment marker it is declared under, if any.
    pub marker: Option<String>,
    /// The extras it asks for, normalized.
    pub extras: Vec<String>,
    /// Its version constraint as written (PEP 440, or Poetry's `^`/`~`),
    /// which picks among versions the lock has of it.
    pub version: Option<String>,
}

/// The entry of `entries` whose key is `name` once normalized.
fn by_name<'a, T>(entries: &'a [(String, T)], name: &str) -> Option<&'a T> {
    entries
        .iter()
        .find(|(key, _)| normalize_name(key) == name)
        .map(|(_, value)| value)
}

/// The strings of `value` when it is a list (tables, such as a dependency
/// group's `include-group`, are skipped).
fn strings_of(value: Option<&toml::Value>) -> impl Iterator<Item = &str> {
    value
        .and_then(toml::Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(toml::Value::as_str)
}

/// The project's own dependencies in the main group, in `groups` and in
/// `extras`, from `pyproject` in either form: `[project].dependencies`
/// (else `[tool.poetry.dependencies]`, without `python` and the optional
/// ones of extras), then each group's `[tool.poetry.group.NAME.dependencies]`,
/// `[dependency-groups]` list and, for `dev`, the old
/// `[tool.poetry.dev-dependencies]`, then each extra's
/// `[project.optional-dependencies]` list or the optional dependencies its
/// `[tool.poetry.extras]` list names.
pub(crate) fn roots(pyproject: &Pyproject, groups: &[String], extras: &[String]) -> Vec<Root> {
    let project = pyproject.project.as_ref();
    let poetry = pyproject.poetry.as_ref();
    let poetry_dependencies = poetry.and_then(|p| p.dependencies.as_ref());
    let mut roots = Vec::new();
    match project.and_then(|p| p.dependencies.as_ref()) {
        Some(list) => roots.extend(pep508_roots(list.iter().map(String::as_str))),
        None => roots.extend(poetry_roots(poetry_dependencies)),
    }
    for extra in extras {
        let extra = normalize_name(extra);
        let optional = project.map_or(&[][..], |p| &p.optional_dependencies);
        if let Some(list) = by_name(optional, &extra) {
            roots.extend(pep508_roots(list.iter().map(String::as_str)));
        }
        let poetry_extras = poetry.map_or(&[][..], |p| &p.extras);
        let named = strings_of(by_name(poetry_extras, &extra))
            .map(|name| normalize_name(crate::names::requirement_name(name)));
        for name in named {
            let value = poetry_dependencies
                .and_then(|t| t.iter().find(|(key, _)| normalize_name(key) == name));
            if let Some((_, value)) = value {
                roots.extend(constraints(value).into_iter().map(|c| Root {
                    name: name.clone(),
                    marker: c.marker,
                    extras: c.extras,
                    version: c.version,
                }));
            }
        }
    }
    for group in groups {
        let group = normalize_name(group);
        let poetry_groups = poetry.map_or(&[][..], |p| &p.groups);
        let poetry_group = by_name(poetry_groups, &group);
        roots.extend(poetry_roots(
            poetry_group
                .and_then(|g| g.get("dependencies"))
                .and_then(toml::Value::as_table),
        ));
        if group == "dev" {
            roots.extend(poetry_roots(
                poetry
                    .and_then(|p| p.dev_dependencies.as_ref())
                    .and_then(toml::Value::as_table),
            ));
        }
        if let Some(list) = by_name(&pyproject.dependency_groups, &group) {
            roots.extend(pep508_roots(strings_of(Some(list))));
        }
    }
    roots
}

/// Roots from a list of PEP 508 requirement strings (tables, such as a
/// dependency group's `include-group`, are skipped).
fn pep508_roots<'a>(list: impl Iterator<Item = &'a str>) -> Vec<Root> {
    list.filter_map(|requirement| {
        let (spec, marker) = match requirement.split_once(';') {
            Some((spec, marker)) => (spec, Some(marker.trim().to_owned())),
            None => (requirement, None),
        };
        let name = crate::names::requirement_name(spec);
        if name.is_empty() {
            return None;
        }
        let rest = spec.trim_start()[name.len()..].trim_start();
        let (extras, rest) = match rest.strip_prefix('[').and_then(|r| r.split_once(']')) {
            Some((inside, rest)) => (
                inside
                    .split(',')
                    .map(str::trim)
                    .filter(|e| !e.is_empty())
                    .map(normalize_name)
                    .collect(),
                rest,
            ),
            None => (Vec::new(), rest),
        };
        let version = rest
            .trim()
            .trim_start_matches('(')
            .trim_end_matches(')')
            .trim();
        Some(Root {
            name: normalize_name(name),
            marker: marker.filter(|m| !m.is_empty()),
            extras,
            version: (!version.is_empty() && !version.starts_with('@')).then(|| version.to_owned()),
        })
    })
    .collect()
}

/// Roots from a Poetry dependency table: `name = "constraint"`, `name =
/// {version, markers, extras, optional, …}` or a list of such tables.
fn poetry_roots(table: Option<&toml::Table>) -> Vec<Root> {
    let mut roots = Vec::new();
    for (name, value) in table.into_iter().flatten() {
        if name == "python" {
            continue;
        }
        for constraint in constraints(value) {
            if constraint.optional {
                continue;
            }
            roots.push(Root {
                name: normalize_name(name),
                marker: constraint.marker,
                extras: constraint.extras,
                version: constraint.version,
            });
        }
    }
    roots
}

/// One constraint of a dependency in Poetry's form.
struct Constraint {
    marker: Option<String>,
    extras: Vec<String>,
    optional: bool,
    version: Option<String>,
}

/// The constraints of a Poetry dependency value (a string is one without
/// a marker).
fn constraints(value: &toml::Value) -> Vec<Constraint> {
    let one = |value: &toml::Value| Constraint {
        version: match value {
            toml::Value::String(version) => Some(version.clone()),
            other => other
                .get("version")
                .and_then(toml::Value::as_str)
                .map(str::to_owned),
        },
        marker: value
            .get("markers")
            .and_then(toml::Value::as_str)
            .map(str::to_owned),
        extras: value
            .get("extras")
            .and_then(toml::Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(toml::Value::as_str)
            .map(normalize_name)
            .collect(),
        optional: value
            .get("optional")
            .and_then(toml::Value::as_bool)
            .unwrap_or(false),
    };
    match value {
        toml::Value::Array(list) => list.iter().map(one).collect(),
        other => vec![one(other)],
    }
}

/// How many alternative markers a package may collect before the walk
/// gives up on them and installs it wherever uv can.
const MAX_MARKERS: usize = 16;

/// Whether Poetry's version constraint `constraint` (PEP 440 clauses, or
/// Poetry's `^`, `~`, `*`, a bare version, `,` for and, `||` for or)
/// allows `version`; `None` when pybase cannot read one of the two.
fn allows(constraint: &str, version: &str) -> Option<bool> {
    let version: pep440_rs::Version = version.parse().ok()?;
    let mut any = false;
    for branch in constraint.split("||") {
        let mut all = true;
        for clause in branch.split(',').map(str::trim).filter(|c| !c.is_empty()) {
            all &= clause_allows(clause, &version)?;
        }
        any |= all;
    }
    Some(any)
}

/// One clause of a Poetry constraint against `version`.
fn clause_allows(clause: &str, version: &pep440_rs::Version) -> Option<bool> {
    let clause = clause.trim();
    if clause == "*" {
        return Some(true);
    }
    // `^1.2.3` is `>=1.2.3,<2`, `^0.2.3` `>=0.2.3,<0.3`; `~1.2.3` is
    // `>=1.2.3,<1.3`, `~1` `>=1,<2`.
    let (caret, rest) = match (clause.strip_prefix('^'), clause.strip_prefix('~')) {
        (Some(rest), _) => (Some(true), rest),
        (None, Some(rest)) if !rest.starts_with('=') => (Some(false), rest),
        _ => (None, clause),
    };
    if let Some(caret) = caret {
        let lower: pep440_rs::Version = rest.trim().parse().ok()?;
        let release = lower.release();
        let bump_at = if caret {
            release
                .iter()
                .position(|&part| part != 0)
                .unwrap_or(release.len().saturating_sub(1))
        } else if release.len() > 1 {
            1
        } else {
            0
        };
        let mut upper: Vec<u64> = release.iter().take(bump_at + 1).copied().collect();
        if let Some(last) = upper.last_mut() {
            *last += 1;
        }
        let upper = pep440_rs::Version::new(upper);
        return Some(*version >= lower && *version < upper);
    }
    let text = if clause.starts_with(|c: char| c.is_ascii_digit()) {
        format!("=={clause}")
    } else {
        clause.to_owned()
    };
    let specifier: pep440_rs::VersionSpecifier = text.parse().ok()?;
    Some(specifier.contains(version))
}

/// The walk of a lock from the project's `roots`: every locked package
/// (normalized name, version) they reach, with the marker it is needed
/// under (`None`: always), and the names it could not choose a version
/// of.
///
/// Where the lock has a package at several versions, an edge gets the
/// highest its version constraint allows, as Poetry's exporter chooses
/// them, but only when those versions' `python-versions` are the same:
/// otherwise Poetry chooses by the Python each environment has, which
/// pybase does not model, and the name is left ambiguous.
fn walk(packages: &[Package], roots: &[Root]) -> Walked {
    let mut chooser = Chooser {
        versions: locked_versions(packages),
        ambiguous: BTreeSet::new(),
    };
    let mut reached = Reached::default();
    for root in roots {
        if let Some((version, package)) = chooser.choose(&root.name, root.version.as_deref()) {
            let marker = root.marker.clone().map(|m| BTreeSet::from([m]));
            reached.reach((root.name.clone(), version), package, marker, &root.extras);
        }
    }
    while let Some(key) = reached.todo.pop() {
        let Some(package) = reached.packages.get(&key).copied() else {
            continue;
        };
        let marker = reached.needed.get(&key).cloned().flatten();
        let asked = reached.extras.get(&key).cloned().unwrap_or_default();
        let extra_deps = extra_dependencies(package, &asked);
        for dependency in &package.dependencies {
            if dependency.optional && !extra_deps.contains(&dependency.name) {
                continue;
            }
            let Some((version, reached_package)) =
                chooser.choose(&dependency.name, dependency.version.as_deref())
            else {
                continue;
            };
            let edge = dependency.marker_text.as_deref().and_then(without_extra);
            let extras: Vec<String> = dependency
                .extras
                .iter()
                .map(|e| normalize_name(e))
                .collect();
            reached.reach(
                (dependency.name.clone(), version),
                reached_package,
                joined(&marker, edge),
                &extras,
            );
        }
    }
    Walked {
        needed: marker_texts(reached.needed),
        ambiguous: chooser.ambiguous,
    }
}

/// Each normalized name's locked versions, highest first, with their
/// packages.
type Versions<'a> = BTreeMap<&'a str, Vec<(&'a str, &'a Package)>>;

/// The [`Versions`] of `packages` (those with a version).
fn locked_versions(packages: &[Package]) -> Versions<'_> {
    let mut by_name: Versions<'_> = BTreeMap::new();
    for package in packages {
        if let Some(version) = package.version.as_deref() {
            by_name
                .entry(package.name.as_str())
                .or_default()
                .push((version, package));
        }
    }
    for versions in by_name.values_mut() {
        versions.sort_by(|(a, _), (b, _)| {
            match (
                a.parse::<pep440_rs::Version>(),
                b.parse::<pep440_rs::Version>(),
            ) {
                (Ok(a), Ok(b)) => b.cmp(&a),
                _ => b.cmp(a),
            }
        });
    }
    by_name
}

/// The walk's choice of a version for each edge, and the names it could
/// not choose among.
struct Chooser<'a> {
    versions: Versions<'a>,
    ambiguous: BTreeSet<String>,
}

impl<'a> Chooser<'a> {
    /// The version (and package) an edge of `name` with `constraint` gets.
    fn choose(&mut self, name: &str, constraint: Option<&str>) -> Option<(String, &'a Package)> {
        let versions = self.versions.get(name)?;
        if let [(version, package)] = versions.as_slice() {
            return Some(((*version).to_owned(), *package));
        }
        let allowed: Option<Vec<&(&str, &Package)>> = versions
            .iter()
            .map(|entry| match constraint {
                None => Some(Some(entry)),
                Some(c) => allows(c, entry.0).map(|yes| yes.then_some(entry)),
            })
            .collect::<Option<Vec<_>>>()
            .map(|v| v.into_iter().flatten().collect());
        match allowed.as_deref() {
            Some([first, ..])
                if allowed
                    .iter()
                    .flatten()
                    .all(|entry| entry.1.python_versions == first.1.python_versions) =>
            {
                Some((first.0.to_owned(), first.1))
            }
            _ => {
                self.ambiguous.insert(name.to_owned());
                None
            }
        }
    }
}

/// A locked package: its normalized name and version.
type Key = (String, String);

/// What the walk has reached so far.
#[derive(Default)]
struct Reached<'a> {
    /// Each package's marker as alternatives (`None`: always).
    needed: BTreeMap<Key, Option<BTreeSet<String>>>,
    /// The extras asked of each package.
    extras: BTreeMap<Key, BTreeSet<String>>,
    /// Each package as the lock has it.
    packages: BTreeMap<Key, &'a Package>,
    /// The packages whose dependencies are still to walk (again).
    todo: Vec<Key>,
}

impl<'a> Reached<'a> {
    /// Reaches `key` (its `package`) under `marker`, asked for `asked`:
    /// to walk (again) when that needs it somewhere new or with a new
    /// extra.
    fn reach(
        &mut self,
        key: Key,
        package: &'a Package,
        marker: Option<BTreeSet<String>>,
        asked: &[String],
    ) {
        self.packages.insert(key.clone(), package);
        let mut changed = false;
        match self.needed.get_mut(&key) {
            None => {
                self.needed.insert(key.clone(), marker);
                changed = true;
            }
            Some(known) => {
                if let (Some(set), Some(new)) = (known.as_mut(), &marker) {
                    for m in new {
                        changed |= set.insert(m.clone());
                    }
                    if set.len() > MAX_MARKERS {
                        *known = None;
                    }
                } else if known.is_some() {
                    *known = None;
                    changed = true;
                }
            }
        }
        let wanted = self.extras.entry(key.clone()).or_default();
        for extra in asked {
            changed |= wanted.insert(extra.clone());
        }
        if changed {
            self.todo.push(key);
        }
    }
}

/// The dependencies of `package` that the `asked` extras name.
fn extra_dependencies(package: &Package, asked: &BTreeSet<String>) -> BTreeSet<String> {
    package
        .optional_dependencies
        .iter()
        .filter(|(extra, _)| asked.contains(&normalize_name(extra)))
        .flat_map(|(_, requirements)| requirements.iter().map(|r| r.name.clone()))
        .collect()
}

/// A dependent's `marker` (alternatives, `None`: always) joined with an
/// `edge`'s.
fn joined(marker: &Option<BTreeSet<String>>, edge: Option<String>) -> Option<BTreeSet<String>> {
    match (marker, edge) {
        (None, None) => None,
        (None, Some(edge)) => Some(BTreeSet::from([edge])),
        (Some(set), None) => Some(set.clone()),
        (Some(set), Some(edge)) => {
            Some(set.iter().map(|m| format!("({m}) and ({edge})")).collect())
        }
    }
}

/// Each package's alternative markers as one, joined with `or`.
fn marker_texts(needed: BTreeMap<Key, Option<BTreeSet<String>>>) -> BTreeMap<Key, Option<String>> {
    needed
        .into_iter()
        .map(|(key, marker)| {
            let marker = marker.map(|set| match set.len() {
                1 => set.into_iter().next().unwrap_or_default(),
                _ => set
                    .into_iter()
                    .map(|m| format!("({m})"))
                    .collect::<Vec<_>>()
                    .join(" or "),
            });
            (key, marker)
        })
        .collect()
}

/// What [`walk`] found.
struct Walked {
    /// Each reached package, (normalized name, version), with its marker.
    needed: BTreeMap<Key, Option<String>>,
    /// The names locked at several versions it could not choose among.
    ambiguous: BTreeSet<String>,
}

/// An edge's marker without its `extra == "…"` terms, which say which extra
/// of the dependent asked for it (the walk has already checked that):
/// `None` when nothing else is left, or when the marker is not a plain
/// conjunction (then the edge is taken as always).
fn without_extra(marker: &str) -> Option<String> {
    if !marker.contains("extra") {
        return Some(marker.to_owned());
    }
    if marker.contains(" or ") {
        return None;
    }
    let kept: Vec<&str> = marker
        .split(" and ")
        .map(str::trim)
        .filter(|term| {
            let term = term.trim_matches(|c| c == '(' || c == ')').trim();
            !term
                .strip_prefix("extra")
                .is_some_and(|rest| rest.trim_start().starts_with("=="))
        })
        .collect();
    (!kept.is_empty()).then(|| kept.join(" and "))
}

/// The hint of a problem with the lock itself (its command is
/// [`POETRY_REGENERATE`]).
const REGENERATE: &str = crate::lock::poetry::REGENERATE;

/// The packages of `text` (the file `file`) that the venv gets (the main
/// group and `groups`, normalized names; with `extras`, or in a Poetry 1
/// lock, those the walk from `roots` reaches), or every problem,
/// positioned.
pub fn parse(
    file: &str,
    text: &str,
    groups: &[String],
    extras: &[String],
    roots: &[Root],
) -> Result<PoetryLock, Vec<Diagnostic>> {
    let lock = crate::lock::poetry::read(file, text).map_err(|problem| vec![problem])?;
    let selected: Vec<String> = std::iter::once(MAIN_GROUP.to_owned())
        .chain(groups.iter().map(|g| normalize_name(g)))
        .collect();
    // Poetry 1: no package says its groups. Extras: a package an extra
    // needs says so only in its markers (`extra == "name"`), which uv
    // would take as false; the walk follows the extra's dependencies.
    let walked = (!extras.is_empty() || lock.packages.iter().all(|p| p.groups.is_none()))
        .then(|| walk(&lock.packages, roots));
    let reading = Reading {
        lock: &lock,
        selected: &selected,
        walked: walked.as_ref(),
    };
    let mut out = Translation::default();
    for package in &lock.packages {
        if matches!(package.source, Some(Source::Directory { .. })) {
            reading.path_dependency(package, &mut out);
        } else {
            reading.package(package, &mut out);
        }
    }
    if !out.problems.is_empty() {
        return Err(out.problems);
    }
    let extras_note = if extras.is_empty() {
        String::new()
    } else {
        format!("; extras: {}", extras.join(", "))
    };
    let header = format!(
        "# Generated by pybase from {file} (groups: {}{extras_note}): every package pinned, every hash checked.\n",
        selected.join(", ")
    );
    Ok(PoetryLock {
        requirements: requirements_by_index(&header, &out.indexes, &out.lines),
        pins: out.pins,
        selection: crate::select::Selection {
            local_projects: out.local_projects,
            ..crate::select::Selection::of(crate::lock::LockKind::Poetry, file, out.selected)
        },
    })
}

/// `package` of a poetry.lock, from the index `index` (`None`: the
/// default), as the venv gets it: where its `marker` holds.
fn selected(
    package: &Package,
    marker: Option<&str>,
    index: Option<&str>,
) -> crate::select::Selected {
    let mut package = package.clone();
    // A package without a `[package.source]` comes from the default index.
    package.source = Some(crate::lock::Source::Registry {
        url: index.unwrap_or(DEFAULT_INDEX).to_owned(),
    });
    crate::select::Selected {
        package,
        needed_when: crate::lock::marker_or_true(marker),
    }
}

/// What [`parse`] reads each package with.
struct Reading<'a> {
    lock: &'a Lock,
    /// The main group and the selected ones, normalized.
    selected: &'a [String],
    /// The walk from the project's roots, when the lock needs one.
    walked: Option<&'a Walked>,
}

/// What [`parse`] collects, package by package.
#[derive(Default)]
struct Translation {
    pins: Vec<Pin>,
    /// Each requirement with the index it is looked up on (`None`: the
    /// default).
    lines: Vec<(Option<String>, String)>,
    indexes: Vec<String>,
    selected: Vec<crate::select::Selected>,
    problems: Vec<Diagnostic>,
    /// The ambiguous names already refused, once each.
    refused_twice: Vec<String>,
    /// The path dependencies the venv would get: code, in the lock's order.
    local_projects: Vec<Package>,
}

impl Reading<'_> {
    /// A problem of the package at `at`, fixed by regenerating the lock.
    fn problem(&self, at: Position, message: String) -> Diagnostic {
        Diagnostic::at(&self.lock.file, Some(at), message).with_hint(REGENERATE)
    }

    /// Translates `package` into `out`: its pin and requirement, or its
    /// problem; nothing when the venv does not get it.
    fn package(&self, package: &Package, out: &mut Translation) {
        let name = package.written_name.as_str();
        let at = package.at;
        let Some(marker) = self.marker(package, out) else {
            return;
        };
        let Some(version) = package.version.as_deref() else {
            out.problems.push(self.problem(
                at,
                format!("`{name}` has no `version`: pybase installs only pinned packages"),
            ));
            return;
        };
        let index = match self.index(package, &mut out.indexes) {
            Ok(index) => index,
            Err(problem) => {
                out.problems.push(problem);
                return;
            }
        };
        let hashes = sha256s(package);
        if hashes.is_empty() {
            out.problems.push(self.problem(at, format!(
                "`{name}` has no `files` with a `hash`: pybase installs only artifacts whose hashes the lock records"
            )));
            return;
        }
        out.selected
            .push(selected(package, marker.as_deref(), index.as_deref()));
        let line = requirement_line(name, version, marker.as_deref(), &hashes);
        out.lines.push((index, line));
        out.pins.push(Pin {
            name: package.name.clone(),
            version: version.to_owned(),
            at,
        });
    }

    /// Records `package`, a path dependency (a `directory` source), in
    /// `out` as code when the venv would get it, or its refusal when only
    /// some environments need it: the code step installs it in every
    /// image.
    fn path_dependency(&self, package: &Package, out: &mut Translation) {
        let Some(marker) = self.marker(package, out) else {
            return;
        };
        if let Some(marker) = marker {
            out.problems.push(
                Diagnostic::at(
                    &self.lock.file,
                    Some(package.at),
                    format!(
                        "`{}` is a path dependency needed only where `{marker}` holds: pybase installs path dependencies as code, in every image",
                        package.written_name
                    ),
                )
                .with_hint("drop the marker from the dependency in pyproject.toml and run `poetry lock`, or publish the package and depend on it from an index"),
            );
            return;
        }
        out.local_projects.push(package.clone());
    }

    /// The marker the venv needs `package` under (`Some(None)`: always),
    /// or `None` when the venv does not get it or it is refused (its
    /// problem in `out`).
    fn marker(&self, package: &Package, out: &mut Translation) -> Option<Option<String>> {
        let key = &package.name;
        match self.walked {
            Some(walked) if walked.ambiguous.contains(key) => {
                if !out.refused_twice.contains(key) {
                    out.refused_twice.push(key.clone());
                    out.problems.push(self.ambiguous(package));
                }
                None
            }
            Some(walked) => package
                .version
                .as_ref()
                .and_then(|version| walked.needed.get(&(key.clone(), version.clone())))
                .cloned(),
            None => self.group_marker(package).unwrap_or_else(|problem| {
                out.problems.push(problem);
                None
            }),
        }
    }

    /// The refusal of `package`, whose name the lock locks at several
    /// versions the walk could not choose among.
    fn ambiguous(&self, package: &Package) -> Diagnostic {
        let versions: Vec<&str> = self
            .lock
            .packages
            .iter()
            .filter(|other| other.name == package.name)
            .filter_map(|other| other.version.as_deref())
            .collect();
        Diagnostic::at(
            &self.lock.file,
            Some(package.at),
            format!(
                "`{}` is locked at several versions ({}) for different Pythons, and pybase cannot tell which one the image's gets",
                package.written_name,
                versions.join(", ")
            ),
        )
        .with_hint(format!("regenerate it with Poetry 2 (`{POETRY_REGENERATE}`), whose lock says which, and select a dependency group instead of extras; or lock the project with uv"))
    }

    /// [`Reading::marker`] from a Poetry 2 lock's `groups` and `markers`,
    /// or the refusal of a package without `groups`.
    fn group_marker(&self, package: &Package) -> Result<Option<Option<String>>, Diagnostic> {
        let Some(package_groups) = &package.groups else {
            return Err(self.problem(package.at, format!(
                "`{}` lists no `groups`, while other packages do: the lock is neither Poetry 1's nor Poetry 2's",
                package.written_name
            )));
        };
        let wanted: Vec<String> = package_groups
            .iter()
            .map(|g| normalize_name(g))
            .filter(|g| self.selected.contains(g))
            .collect();
        if wanted.is_empty() {
            return Ok(None);
        }
        Ok(Some(marker_for(package, &wanted)))
    }

    /// The index `package` is looked up on (`None`: the default), added to
    /// `indexes` when new, or its refusal: a source that is not an index.
    fn index(
        &self,
        package: &Package,
        indexes: &mut Vec<String>,
    ) -> Result<Option<String>, Diagnostic> {
        let kind = match &package.source {
            None => return Ok(None),
            Some(Source::Registry { url }) => {
                if !indexes.iter().any(|known| known == url) {
                    indexes.push(url.clone());
                }
                return Ok(Some(url.clone()));
            }
            Some(Source::Git { .. }) => "git",
            Some(Source::Path { .. }) => "file",
            Some(Source::Directory { .. } | Source::Editable { .. } | Source::Virtual { .. }) => {
                "directory"
            }
            Some(Source::Url { .. }) => "url",
            Some(Source::Other { kind }) => kind.as_str(),
        };
        Err(Diagnostic::at(
            &self.lock.file,
            Some(package.at),
            format!(
                "`{}` comes from a `{kind}` source: pybase installs from package indexes only, each artifact checked against its hash",
                package.written_name
            ),
        )
        .with_hint("publish it to an index (a private one works with the `netrc` secret) and lock it from there"))
    }
}

/// The sha256 hashes `package`'s artifacts record, in the lock's order.
pub(crate) fn sha256s(package: &Package) -> Vec<&str> {
    package
        .artifacts
        .iter()
        .filter_map(|artifact| artifact.sha256.as_deref())
        .collect()
}

/// A translation's requirement: `name==version ; marker`, then each of
/// `hashes` as `--hash=sha256:…` on a line of its own.
pub(crate) fn requirement_line(
    name: &str,
    version: &str,
    marker: Option<&str>,
    hashes: &[&str],
) -> String {
    let mut line = format!("{name}=={version}");
    if let Some(marker) = marker {
        line.push_str(&format!(" ; {marker}"));
    }
    for hash in hashes {
        line.push_str(&format!(" \\\n    --hash=sha256:{hash}"));
    }
    line
}

/// The requirements locks of `lines` (each with its index, `None` for the
/// default), one per index that has some: the default's first, naming no
/// index, then those of `indexes` in order, each under `--index-url` of its
/// own alone; each starts with `header`. A lock of no package gives one
/// file, the header alone.
pub(crate) fn requirements_by_index(
    header: &str,
    indexes: &[String],
    lines: &[(Option<String>, String)],
) -> Vec<IndexRequirements> {
    let mut files = Vec::new();
    for index in std::iter::once(None).chain(indexes.iter().map(Some)) {
        let pinned: Vec<&String> = lines
            .iter()
            .filter(|(of, _)| of.as_ref() == index)
            .map(|(_, line)| line)
            .collect();
        if pinned.is_empty() && !(index.is_none() && lines.is_empty()) {
            continue;
        }
        let mut text = header.to_owned();
        if let Some(url) = index {
            text.push_str(&format!("--index-url {url}\n"));
        }
        for line in pinned {
            text.push_str(line);
            text.push('\n');
        }
        files.push(IndexRequirements {
            index: index.cloned(),
            text,
        });
    }
    files
}

/// The marker under which the venv needs `package`: the lock's `markers`
/// string, or, when it gives one per group, those of the `wanted` groups
/// (normalized) joined with `or` (none when a wanted group has no marker:
/// always).
fn marker_for(package: &Package, wanted: &[String]) -> Option<String> {
    if let Some(marker) = &package.marker {
        return Some(marker.clone());
    }
    let mut found = Vec::new();
    for group in wanted {
        let marker = package
            .group_markers
            .iter()
            .find(|(key, _)| normalize_name(key) == *group)
            .map(|(_, marker)| marker)?;
        if !found.contains(&marker) {
            found.push(marker);
        }
    }
    match found.as_slice() {
        [one] => Some((*one).clone()),
        _ => Some(
            found
                .iter()
                .map(|marker| format!("({marker})"))
                .collect::<Vec<_>>()
                .join(" or "),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pyproject.toml of a test.
    fn pyproject(text: &str) -> Pyproject {
        Pyproject::parse(text.as_bytes()).expect("valid TOML")
    }

    fn owned(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| (*n).to_owned()).collect()
    }

    /// A requirements lock without its `--hash` lines.
    fn without_hashes(requirements: &str) -> String {
        requirements
            .lines()
            .filter(|line| !line.trim_start().starts_with("--hash"))
            .map(|line| line.trim_end_matches(" \\"))
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn report(text: &str, groups: &[&str]) -> String {
        let groups = owned(groups);
        match parse("app/poetry.lock", text, &groups, &[], &[]) {
            Ok(lock) => {
                let pins: Vec<String> = lock
                    .pins
                    .iter()
                    .map(|p| format!("{}=={} @{}", p.name, p.version, p.at.line))
                    .collect();
                format!(
                    "{}\n---\n{}",
                    pins.join("\n"),
                    lock.requirements
                        .iter()
                        .map(|r| r.text.as_str())
                        .collect::<String>()
                )
            }
            Err(problems) => one_a_line(&problems),
        }
    }

    /// Problems one a line, as a user reads them.
    fn one_a_line(problems: &[Diagnostic]) -> String {
        problems
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    }

    const LOCK: &str = r#"# This file is automatically @generated by Poetry 2.5.1 and should not be changed by hand.

[[package]]
name = "iniconfig"
version = "2.0.0"
optional = false
groups = ["dev"]
files = [
    {file = "iniconfig-2.0.0-py3-none-any.whl", hash = "sha256:aaaa"},
]

[[package]]
name = "Six"
version = "1.17.0"
groups = ["main"]
files = [
    {file = "six-1.17.0-py2.py3-none-any.whl", hash = "sha256:bbbb"},
    {file = "six-1.17.0.tar.gz", hash = "sha256:cccc"},
]

[package.source]
type = "legacy"
url = "https://pypi.example/simple"
reference = "example"

[[package]]
name = "tomli"
version = "2.2.1"
groups = ["main", "dev"]
markers = {main = "python_version < \"3.11\"", dev = "python_version < \"3.12\""}
files = [
    {file = "tomli-2.2.1-py3-none-any.whl", hash = "sha256:dddd"},
]

[metadata]
lock-version = "2.1"
python-versions = ">=3.9"
content-hash = "0000"
"#;

    #[test]
    fn the_lock_problems_hint_offers_the_regenerate_command() {
        assert_eq!(REGENERATE, format!("regenerate it: `{POETRY_REGENERATE}`"));
    }

    #[test]
    fn the_main_group_becomes_a_requirements_lock_with_every_hash() {
        insta::assert_snapshot!(report(LOCK, &[]), @r#"
        six==1.17.0 @13
        tomli==2.2.1 @27
        ---
        # Generated by pybase from app/poetry.lock (groups: main): every package pinned, every hash checked.
        tomli==2.2.1 ; python_version < "3.11" \
            --hash=sha256:dddd
        # Generated by pybase from app/poetry.lock (groups: main): every package pinned, every hash checked.
        --index-url https://pypi.example/simple
        Six==1.17.0 \
            --hash=sha256:bbbb \
            --hash=sha256:cccc
        "#);
    }

    #[test]
    fn a_selected_group_adds_its_packages_and_markers() {
        insta::assert_snapshot!(report(LOCK, &["Dev"]), @r#"
        iniconfig==2.0.0 @4
        six==1.17.0 @13
        tomli==2.2.1 @27
        ---
        # Generated by pybase from app/poetry.lock (groups: main, dev): every package pinned, every hash checked.
        iniconfig==2.0.0 \
            --hash=sha256:aaaa
        tomli==2.2.1 ; (python_version < "3.11") or (python_version < "3.12") \
            --hash=sha256:dddd
        # Generated by pybase from app/poetry.lock (groups: main, dev): every package pinned, every hash checked.
        --index-url https://pypi.example/simple
        Six==1.17.0 \
            --hash=sha256:bbbb \
            --hash=sha256:cccc
        "#);
    }

    /// The requirements files of a translation, in install order.
    fn files(lock: &PoetryLock) -> Vec<String> {
        lock.requirements.iter().map(|r| r.text.clone()).collect()
    }

    /// `a` from the private source `private`, `b` (which `a` needs) from
    /// PyPI.
    const PRIVATE_AND_PYPI: &str = r#"[[package]]
name = "a"
version = "1.0"
groups = ["main"]
files = [{file = "a-1.0-py3-none-any.whl", hash = "sha256:aaaa"}]

[package.dependencies]
b = ">=1"

[package.source]
type = "legacy"
url = "https://private.example/simple"
reference = "private"

[[package]]
name = "b"
version = "2.0"
groups = ["main"]
files = [{file = "b-2.0-py3-none-any.whl", hash = "sha256:bbbb"}]

[metadata]
lock-version = "2.1"
python-versions = ">=3.9"
content-hash = "0000"
"#;

    #[test]
    fn each_package_is_looked_up_only_on_the_index_the_lock_took_it_from() {
        let lock = parse("poetry.lock", PRIVATE_AND_PYPI, &[], &[], &[]).expect("a Poetry 2 lock");
        let files = files(&lock);
        // Whatever else a file says, the index options it gives apply to
        // every package in it.
        let indexes_for = |package: &str| -> Vec<Vec<&str>> {
            files
                .iter()
                .filter(|file| {
                    pinned(file)
                        .iter()
                        .any(|p| p.starts_with(&format!("{package}==")))
                })
                .map(|file| file.lines().filter(|l| l.starts_with("--")).collect())
                .collect()
        };
        assert_eq!(
            indexes_for("b"),
            [Vec::<&str>::new()],
            "b comes from PyPI: its file must name no other index"
        );
        assert_eq!(
            indexes_for("a"),
            [vec!["--index-url https://private.example/simple"]],
            "a comes from `private`: its file must name that index alone"
        );
        // The installer is told each file's index too.
        let indexes: Vec<Option<&str>> = lock
            .requirements
            .iter()
            .map(|r| r.index.as_deref())
            .collect();
        assert_eq!(indexes, [None, Some("https://private.example/simple")]);
        insta::assert_snapshot!(without_hashes(&files.concat()), @r#"
        # Generated by pybase from poetry.lock (groups: main): every package pinned, every hash checked.
        b==2.0
        # Generated by pybase from poetry.lock (groups: main): every package pinned, every hash checked.
        --index-url https://private.example/simple
        a==1.0
        "#);
    }

    #[test]
    fn mixed_locks_unhashed_packages_and_other_sources_are_refused() {
        let text = "[[package]]\nname = \"six\"\nversion = \"1.17.0\"\ncategory = \"main\"\nfiles = []\n\n[[package]]\nname = \"idna\"\nversion = \"3.10\"\ngroups = [\"main\"]\nfiles = []\n\n[[package]]\nname = \"mylib\"\nversion = \"0.1.0\"\ngroups = [\"main\"]\nfiles = []\n\n[package.source]\ntype = \"git\"\nurl = \"https://example.com/mylib.git\"\n";
        insta::assert_snapshot!(report(text, &[]), @"
        app/poetry.lock:2:1: `six` lists no `groups`, while other packages do: the lock is neither Poetry 1's nor Poetry 2's (hint: regenerate it: `poetry lock --regenerate`)
        app/poetry.lock:8:1: `idna` has no `files` with a `hash`: pybase installs only artifacts whose hashes the lock records (hint: regenerate it: `poetry lock --regenerate`)
        app/poetry.lock:14:1: `mylib` comes from a `git` source: pybase installs from package indexes only, each artifact checked against its hash (hint: publish it to an index (a private one works with the `netrc` secret) and lock it from there)
        ");
        insta::assert_snapshot!(report("[[package]\n", &[]), @"app/poetry.lock:1:11: not a poetry.lock pybase can read: unclosed array table, expected `]` (hint: regenerate it: `poetry lock --regenerate`)");
    }

    #[test]
    fn a_path_dependency_is_code_not_a_pin_and_one_under_a_marker_is_refused() {
        let lock = |lib_groups: &str, lib_markers: &str| {
            format!(
                "[[package]]\nname = \"idna\"\nversion = \"3.10\"\ngroups = [\"main\", \"dev\"]\nfiles = [{{file = \"idna-3.10-py3-none-any.whl\", hash = \"sha256:aa\"}}]\n\n[[package]]\nname = \"lib\"\nversion = \"0.1.0\"\ngroups = {lib_groups}\n{lib_markers}files = []\ndevelop = true\n\n[package.dependencies]\nidna = \"3.10\"\n\n[package.source]\ntype = \"directory\"\nurl = \"../lib\"\n"
            )
        };
        let local = |text: &str, groups: &[&str]| -> Vec<String> {
            let parsed = parse("app/poetry.lock", text, &owned(groups), &[], &[]).expect("reads");
            assert_eq!(
                parsed
                    .pins
                    .iter()
                    .map(|p| p.name.as_str())
                    .collect::<Vec<_>>(),
                ["idna"],
                "only idna is pinned"
            );
            parsed
                .selection
                .local_projects
                .iter()
                .map(|p| p.name.clone())
                .collect()
        };
        assert_eq!(local(&lock("[\"main\"]", ""), &[]), ["lib"]);
        // In the dev group alone: code only when the group is selected.
        assert!(local(&lock("[\"dev\"]", ""), &[]).is_empty());
        assert_eq!(local(&lock("[\"dev\"]", ""), &["dev"]), ["lib"]);
        let marked = lock("[\"main\"]", "markers = \"sys_platform == 'linux'\"\n");
        insta::assert_snapshot!(report(&marked, &[]), @"app/poetry.lock:8:1: `lib` is a path dependency needed only where `sys_platform == 'linux'` holds: pybase installs path dependencies as code, in every image (hint: drop the marker from the dependency in pyproject.toml and run `poetry lock`, or publish the package and depend on it from an index)");
    }

    #[test]
    fn a_poetry_1_locks_path_dependency_is_reached_by_the_walk_and_is_code() {
        // Poetry 1 writes no groups: the walk from pyproject's own
        // dependencies reaches lib, then idna through lib's edge.
        let text = "[[package]]\nname = \"idna\"\nversion = \"3.10\"\ncategory = \"main\"\noptional = false\npython-versions = \">=3.6\"\nfiles = [{file = \"idna-3.10-py3-none-any.whl\", hash = \"sha256:aa\"}]\n\n[[package]]\nname = \"iniconfig\"\nversion = \"2.0.0\"\ncategory = \"dev\"\noptional = false\npython-versions = \">=3.7\"\nfiles = [{file = \"iniconfig-2.0.0-py3-none-any.whl\", hash = \"sha256:bb\"}]\n\n[[package]]\nname = \"lib\"\nversion = \"0.1.0\"\ncategory = \"main\"\noptional = false\npython-versions = \"^3.11\"\nfiles = []\ndevelop = false\n\n[package.dependencies]\nidna = \"3.10\"\n\n[package.source]\ntype = \"directory\"\nurl = \"../lib\"\n\n[metadata]\nlock-version = \"2.0\"\n";
        let declared = pyproject(
            "[tool.poetry]\nname = \"app\"\nversion = \"0.1.0\"\n\n[tool.poetry.dependencies]\npython = \"^3.11\"\nlib = { path = \"../lib\" }\n\n[tool.poetry.group.dev.dependencies]\niniconfig = \"2.0.0\"\n",
        );
        let parsed = parse(
            "app/poetry.lock",
            text,
            &[],
            &[],
            &roots(&declared, &[], &[]),
        )
        .expect("reads");
        let pins: Vec<&str> = parsed.pins.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(pins, ["idna"]);
        let local: Vec<&str> = parsed
            .selection
            .local_projects
            .iter()
            .map(|p| p.name.as_str())
            .collect();
        assert_eq!(local, ["lib"]);
    }

    /// A lock Poetry 1.8.5 wrote (`testdata/locks/poetry1-graph.lock`) for
    /// `requests[socks]`, `click` and a `tomli` only Python < 3.11 needs,
    /// with a dev group, read with the roots of its own pyproject.toml.
    fn poetry1_report(groups: &[&str]) -> String {
        let pyproject = pyproject(include_str!(
            "../../testdata/locks/poetry1-graph-pyproject.toml"
        ));
        let groups = owned(groups);
        let roots = roots(&pyproject, &groups, &[]);
        let lock = parse(
            "poetry.lock",
            include_str!("../../testdata/locks/poetry1-graph.lock"),
            &groups,
            &[],
            &roots,
        )
        .expect("a Poetry 1 lock");
        without_hashes(
            &lock
                .requirements
                .iter()
                .map(|r| r.text.as_str())
                .collect::<String>(),
        )
    }

    #[test]
    fn a_poetry_1_lock_is_walked_from_the_projects_dependencies() {
        // requests' dependencies, PySocks through the `socks` extra (its
        // `extra == "socks"` marker dropped), colorama under click's
        // marker; not tomli (Poetry locked none), not the dev group.
        insta::assert_snapshot!(poetry1_report(&[]), @r#"
        # Generated by pybase from poetry.lock (groups: main): every package pinned, every hash checked.
        --index-url https://pypi.org/simple
        certifi==2026.10.19.post1
        charset-normalizer==3.5.3
        click==8.1.7
        colorama==0.4.6 ; platform_system == "Windows"
        idna==3.20
        pysocks==1.7.1
        requests==2.32.3
        urllib3==2.8.0
        "#);
        insta::assert_snapshot!(poetry1_report(&["dev"]), @r#"
        # Generated by pybase from poetry.lock (groups: main, dev): every package pinned, every hash checked.
        --index-url https://pypi.org/simple
        certifi==2026.10.19.post1
        charset-normalizer==3.5.3
        click==8.1.7
        colorama==0.4.6 ; platform_system == "Windows"
        idna==3.20
        iniconfig==2.0.0
        pysocks==1.7.1
        requests==2.32.3
        urllib3==2.8.0
        "#);
    }

    #[test]
    fn a_poetry_1_2_lock_lists_its_files_apart_and_gives_the_same_requirements() {
        // The same project locked by Poetry 1.2.2 (lock-version 1.1, every
        // package's files under `[metadata.files]`).
        let pyproject = pyproject(include_str!(
            "../../testdata/locks/poetry1-graph-pyproject.toml"
        ));
        let roots = roots(&pyproject, &[], &[]);
        let requirements = |text: &str| {
            parse("poetry.lock", text, &[], &[], &roots)
                .expect("a Poetry 1 lock")
                .requirements
                .iter()
                .map(|r| r.text.as_str())
                .collect::<String>()
        };
        let old = requirements(include_str!("../../testdata/locks/poetry1.2-graph.lock"));
        assert_eq!(
            old,
            requirements(include_str!("../../testdata/locks/poetry1-graph.lock"))
        );
        assert!(old.contains("--hash=sha256:"), "{old}");
    }

    #[test]
    fn an_extra_adds_what_its_dependencies_reach() {
        // Poetry 2's lock of a project whose `cli` extra is click: click
        // is in `main` under `extra == "cli"`, which uv takes as false.
        let text = r#"[[package]]
name = "click"
version = "8.1.7"
groups = ["main"]
markers = "extra == \"cli\""
files = [{file = "click-8.1.7.tar.gz", hash = "sha256:01"}]

[package.dependencies]
colorama = {version = "*", markers = "platform_system == \"Windows\""}

[[package]]
name = "colorama"
version = "0.4.6"
groups = ["main"]
markers = "extra == \"cli\" and platform_system == \"Windows\""
files = [{file = "colorama-0.4.6.tar.gz", hash = "sha256:02"}]

[[package]]
name = "six"
version = "1.17.0"
groups = ["main"]
files = [{file = "six-1.17.0.tar.gz", hash = "sha256:03"}]
"#;
        let pep621 = pyproject(
            "[project]\nname = \"a\"\ndependencies = [\"six\"]\n[project.optional-dependencies]\ncli = [\"click==8.1.7\"]\n",
        );
        let poetry = pyproject(
            "[tool.poetry.dependencies]\nsix = \"*\"\nclick = {version = \"8.1.7\", optional = true}\n[tool.poetry.extras]\nCLI = [\"click\"]\n",
        );
        let pins = |pyproject: &Pyproject, extras: &[&str]| {
            let extras = owned(extras);
            let roots = roots(pyproject, &[], &extras);
            without_hashes(
                &parse("poetry.lock", text, &[], &extras, &roots)
                    .expect("a lock")
                    .requirements
                    .iter()
                    .map(|r| r.text.as_str())
                    .collect::<String>(),
            )
        };
        insta::assert_snapshot!(pins(&pep621, &[]), @r#"
        # Generated by pybase from poetry.lock (groups: main): every package pinned, every hash checked.
        click==8.1.7 ; extra == "cli"
        colorama==0.4.6 ; extra == "cli" and platform_system == "Windows"
        six==1.17.0
        "#);
        insta::assert_snapshot!(pins(&pep621, &["cli"]), @r#"
        # Generated by pybase from poetry.lock (groups: main; extras: cli): every package pinned, every hash checked.
        click==8.1.7
        colorama==0.4.6 ; platform_system == "Windows"
        six==1.17.0
        "#);
        assert_eq!(pins(&poetry, &["cli"]), pins(&pep621, &["cli"]));
    }

    /// `name==version` of each line of a requirements file, the name
    /// normalized and without extras, sorted and deduplicated.
    fn pinned(requirements: &str) -> Vec<String> {
        let mut pins: Vec<String> = requirements
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with("--"))
            .filter_map(|l| {
                let (name, rest) = l.split_once("==")?;
                let name = name.split('[').next().unwrap_or(name);
                let version = rest.split([' ', ';']).next().unwrap_or(rest);
                Some(format!("{}=={version}", normalize_name(name.trim())))
            })
            .collect();
        pins.sort();
        pins.dedup();
        pins
    }

    #[test]
    fn a_poetry_1_walk_installs_what_poetrys_own_export_does() {
        // A lock Poetry 1.8.5 wrote for FastAPI[standard], requests[socks],
        // SQLAlchemy[asyncio], click, a Python < 3.10 backport, an extra
        // and a dev group over Pythons 3.9 to 3.13 (59 packages, typer at
        // two versions), and what `poetry export` (poetry-plugin-export,
        // bundled with 1.8.5) made of it: the same packages at the same
        // versions.
        let pyproject = pyproject(include_str!(
            "../../testdata/locks/poetry1-web-pyproject.toml"
        ));
        let lock = include_str!("../../testdata/locks/poetry1-web.lock");
        for (groups, extras, exported) in [
            (
                &[][..],
                &[][..],
                include_str!("../../testdata/locks/poetry1-web-export.txt"),
            ),
            (
                &["dev"][..],
                &["test"][..],
                include_str!("../../testdata/locks/poetry1-web-export-dev-test.txt"),
            ),
        ] {
            let (groups, extras) = (owned(groups), owned(extras));
            let roots = roots(&pyproject, &groups, &extras);
            let ours = parse("poetry.lock", lock, &groups, &extras, &roots).expect("a lock");
            assert_eq!(
                pinned(
                    &ours
                        .requirements
                        .iter()
                        .map(|r| r.text.as_str())
                        .collect::<String>()
                ),
                pinned(exported),
                "{groups:?} {extras:?}"
            );
        }
    }

    #[test]
    fn of_a_package_locked_at_two_versions_an_edge_gets_the_highest_it_allows() {
        // Two versions for the same Pythons: the highest the constraint
        // allows, as Poetry's exporter chooses. For different Pythons:
        // refused, pybase does not tell the environments apart.
        let lock = |python_of_old: &str| {
            format!(
                "[[package]]\nname = \"typer\"\nversion = \"0.23.1\"\npython-versions = \"{python_of_old}\"\nfiles = [{{file = \"typer-0.23.1.tar.gz\", hash = \"sha256:01\"}}]\n\n[[package]]\nname = \"typer\"\nversion = \"0.23.2\"\npython-versions = \">=3.9\"\nfiles = [{{file = \"typer-0.23.2.tar.gz\", hash = \"sha256:02\"}}]\n"
            )
        };
        let root = |version: Option<&str>| Root {
            name: "typer".to_owned(),
            marker: None,
            extras: Vec::new(),
            version: version.map(str::to_owned),
        };
        let report = |text: &str, version: Option<&str>| match parse(
            "poetry.lock",
            text,
            &[],
            &[],
            &[root(version)],
        ) {
            Ok(lock) => without_hashes(
                &lock
                    .requirements
                    .iter()
                    .map(|r| r.text.as_str())
                    .collect::<String>(),
            )
            .lines()
            .filter(|l| !l.starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n"),
            Err(problems) => one_a_line(&problems),
        };
        let same = lock(">=3.9");
        assert_eq!(report(&same, Some(">=0.16.0")), "typer==0.23.2");
        assert_eq!(report(&same, None), "typer==0.23.2");
        assert_eq!(report(&same, Some("~0.23.1,<0.23.2")), "typer==0.23.1");
        assert_eq!(report(&same, Some("0.23.1")), "typer==0.23.1");
        insta::assert_snapshot!(report(&lock(">=3.8"), Some(">=0.16.0")), @"poetry.lock:2:1: `typer` is locked at several versions (0.23.1, 0.23.2) for different Pythons, and pybase cannot tell which one the image's gets (hint: regenerate it with Poetry 2 (`poetry lock --regenerate`), whose lock says which, and select a dependency group instead of extras; or lock the project with uv)");
    }

    #[test]
    fn each_version_of_a_name_is_refused_at_its_own_package_and_pinned_at_its_line() {
        // Poetry 2, two versions of one name for two groups: the pin and
        // the problem of the second are at its own `name` line, not the
        // first's.
        let text = "[[package]]\nname = \"numpy\"\nversion = \"1.26.4\"\ngroups = [\"main\"]\nfiles = [{file = \"numpy-1.26.4.tar.gz\", hash = \"sha256:01\"}]\n\n[[package]]\nname = \"numpy\"\nversion = \"2.2.0\"\ngroups = [\"new\"]\nfiles = []\n";
        insta::assert_snapshot!(report(text, &[]), @"
        numpy==1.26.4 @2
        ---
        # Generated by pybase from app/poetry.lock (groups: main): every package pinned, every hash checked.
        numpy==1.26.4 \\
            --hash=sha256:01
        ");
        insta::assert_snapshot!(report(text, &["new"]), @"app/poetry.lock:8:1: `numpy` has no `files` with a `hash`: pybase installs only artifacts whose hashes the lock records (hint: regenerate it: `poetry lock --regenerate`)");
        // Lock-version 1.1: `[metadata.files]` lists the files of every
        // version under the name, and each version is given them all.
        let old = "[[package]]\nname = \"numpy\"\nversion = \"1.26.4\"\npython-versions = \"*\"\n\n[[package]]\nname = \"numpy\"\nversion = \"2.2.0\"\npython-versions = \"*\"\n\n[metadata]\nlock-version = \"1.1\"\n\n[metadata.files]\nnumpy = [{file = \"numpy-1.26.4.tar.gz\", hash = \"sha256:01\"}, {file = \"numpy-2.2.0.tar.gz\", hash = \"sha256:02\"}]\n";
        let root = Root {
            name: "numpy".to_owned(),
            marker: None,
            extras: Vec::new(),
            version: Some("<2".to_owned()),
        };
        let lock = parse("poetry.lock", old, &[], &[], &[root]).expect("a Poetry 1 lock");
        assert!(
            lock.requirements[0]
                .text
                .contains("numpy==1.26.4 \\\n    --hash=sha256:01 \\\n    --hash=sha256:02\n")
        );
    }

    #[test]
    fn a_lock_without_packages_is_refused_at_its_start() {
        insta::assert_snapshot!(report("[metadata]\nlock-version = \"2.1\"\n", &[]), @"app/poetry.lock:1:1: the lock lists no packages (no `[[package]]` tables) (hint: regenerate it: `poetry lock --regenerate`)");
    }

    #[test]
    fn poetry_constraints_read_as_poetry_reads_them() {
        for (constraint, version, expected) in [
            ("^1.2.3", "1.9.0", Some(true)),
            ("^1.2.3", "2.0.0", Some(false)),
            ("^0.2.3", "0.2.9", Some(true)),
            ("^0.2.3", "0.3.0", Some(false)),
            ("~1.2.3", "1.2.9", Some(true)),
            ("~1.2.3", "1.3.0", Some(false)),
            ("~1", "1.9", Some(true)),
            ("*", "4.0", Some(true)),
            ("1.2.3", "1.2.3", Some(true)),
            (">=1.5.6,<1.5.7 || >1.5.7", "1.5.7", Some(false)),
            (">=1.5.6,<1.5.7 || >1.5.7", "1.7.1", Some(true)),
            ("~=1.4", "1.9", Some(true)),
            ("!=3.0.*", "3.0.2", Some(false)),
            ("whatever", "1.0", None),
        ] {
            assert_eq!(
                allows(constraint, version),
                expected,
                "{constraint} {version}"
            );
        }
    }

    #[test]
    fn markers_join_along_paths_and_a_path_without_one_wins() {
        // a (linux only) -> b (Python < 3.13) -> c; d -> c too, always;
        // e only through an extra nobody asked for.
        let package = |name: &str, deps: &str| {
            format!(
                "[[package]]\nname = \"{name}\"\nversion = \"1\"\nfiles = [{{file = \"{name}-1.tar.gz\", hash = \"sha256:00\"}}]\n{deps}\n"
            )
        };
        let text = [
            package("a", "[package.dependencies]\nb = {version = \"*\", markers = \"python_version < '3.13'\"}\ne = {version = \"*\", optional = true, markers = \"extra == 'fast'\"}\n"),
            package("b", "[package.dependencies]\nc = \"*\"\n"),
            package("c", ""),
            package("d", "[package.dependencies]\nb = \"*\"\n"),
            package("e", ""),
        ]
        .concat();
        let root = |name: &str, marker: Option<&str>| Root {
            name: name.to_owned(),
            marker: marker.map(str::to_owned),
            extras: Vec::new(),
            version: None,
        };
        let only_a = [root("a", Some("sys_platform == 'linux'"))];
        let pins = |roots: &[Root]| {
            parse("poetry.lock", &text, &[], &[], roots)
                .expect("a lock")
                .requirements
                .iter()
                .map(|r| r.text.as_str())
                .collect::<String>()
                .lines()
                .filter(|l| l.contains("=="))
                .map(|l| l.trim_end_matches(" \\").to_owned())
                .collect::<Vec<_>>()
                .join("\n")
        };
        insta::assert_snapshot!(pins(&only_a), @"
        a==1 ; sys_platform == 'linux'
        b==1 ; (sys_platform == 'linux') and (python_version < '3.13')
        c==1 ; (sys_platform == 'linux') and (python_version < '3.13')
        ");
        insta::assert_snapshot!(pins(&[only_a[0].clone(), root("d", None)]), @"
        a==1 ; sys_platform == 'linux'
        b==1
        c==1
        d==1
        ");
    }

    #[test]
    fn roots_come_from_either_form_of_pyproject_and_the_selected_groups() {
        let pep621 = pyproject(
            "[project]\nname = \"a\"\ndependencies = [\"Requests[SOCKS, security] >=2 ; python_version >= '3.8'\", \"six\"]\n[dependency-groups]\ntest = [\"pytest>=8\", {include-group = \"lint\"}]\n",
        );
        let poetry = pyproject(
            "[tool.poetry.dependencies]\npython = \"^3.11\"\nsix = \"^1.16\"\nextra-only = {version = \"1\", optional = true}\nnumpy = [{version = \">=1.26\", markers = \"python_version >= '3.12'\"}, {version = \"<2\", markers = \"python_version < '3.12'\"}]\n[tool.poetry.group.Test.dependencies]\npytest = {version = \"8\", extras = [\"Testing\"]}\n[tool.poetry.dev-dependencies]\nblack = \"*\"\n",
        );
        let show = |table: &Pyproject, groups: &[&str]| {
            roots(table, &owned(groups), &[])
                .iter()
                .map(|r| format!("{} {:?} {:?}", r.name, r.marker, r.extras))
                .collect::<Vec<_>>()
                .join("\n")
        };
        insta::assert_snapshot!(show(&pep621, &["test"]), @r#"
        requests Some("python_version >= '3.8'") ["socks", "security"]
        six None []
        pytest None []
        "#);
        insta::assert_snapshot!(show(&poetry, &["test", "dev"]), @r#"
        numpy Some("python_version >= '3.12'") []
        numpy Some("python_version < '3.12'") []
        six None []
        pytest None ["testing"]
        black None []
        "#);
    }
}
