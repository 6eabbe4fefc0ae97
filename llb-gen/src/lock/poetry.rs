//! The `poetry.lock` reader: its wire structs, then their conversion into
//! [`Lock`].
//!
//! The wire structs follow Poetry's layout: `[[package]]` tables with
//! `name`, `version`, `optional`, `python-versions`, `groups` and `markers`
//! (a string, or one marker per group; Poetry 2), `[package.dependencies]`
//! (each a constraint string, a table, or a list of tables with `version`,
//! `markers`, `extras`, `optional`), `[package.extras]` (lists of
//! requirements), `[package.source]` (`type` and `url`) and `files = [{
//! file, hash }]` (lock-version 2.x), or, before (lock-version 1.1), the
//! files in `[metadata.files]` by package name. Keys they do not name are
//! ignored. The fields errors point at are [`toml::Spanned`]: a package's
//! `name`, a file's `hash`.
//!
//! The model keeps what the translation into requirements locks
//! (`poetry.rs`) writes as the lock does: each package's and edge's marker
//! as written ([`Package::marker`], [`Package::group_markers`],
//! [`Dependency::marker_text`]) and each package's files in the lock's
//! order. A lock without `[[package]]` tables is refused at its start.

use std::collections::BTreeMap;

use pep508_rs::MarkerTree;
use serde::Deserialize;
use toml::Spanned;

use super::{Artifact, Dependency, Lock, LockKind, Package, Source, line_start};
use crate::diagnostic::Position;
use crate::names::normalize_name;

/// A poetry.lock as Poetry writes it.
#[derive(Deserialize)]
struct WireLock {
    package: Option<Vec<WirePackage>>,
    metadata: Option<WireMetadata>,
}

/// The lock's `[metadata]`: in lock-version 1.1, the packages' files.
#[derive(Deserialize)]
struct WireMetadata {
    #[serde(default)]
    files: BTreeMap<String, Vec<WireFile>>,
}

/// A `[[package]]` table.
#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct WirePackage {
    name: Spanned<String>,
    version: Option<String>,
    #[serde(default)]
    optional: bool,
    python_versions: Option<String>,
    groups: Option<Vec<String>>,
    markers: Option<WireMarkers>,
    #[serde(default)]
    dependencies: BTreeMap<String, WireConstraints>,
    #[serde(default)]
    extras: BTreeMap<String, Vec<String>>,
    source: Option<WireSource>,
    files: Option<Vec<WireFile>>,
}

/// A package's `markers`: one, or one per group.
#[derive(Deserialize)]
#[serde(untagged)]
enum WireMarkers {
    One(String),
    ByGroup(BTreeMap<String, String>),
}

/// A `[package.dependencies]` value: a version constraint, a table, or a
/// list of tables (one per environment).
#[derive(Deserialize)]
#[serde(untagged)]
enum WireConstraints {
    Version(String),
    One(WireConstraint),
    Several(Vec<WireConstraint>),
}

/// A dependency table (`{ version = "…", markers = "…", extras = […],
/// optional = true }`).
#[derive(Deserialize)]
struct WireConstraint {
    version: Option<String>,
    markers: Option<String>,
    #[serde(default)]
    extras: Vec<String>,
    #[serde(default)]
    optional: bool,
}

/// A `[package.source]` (`type = "legacy"`, `url = …`).
#[derive(Deserialize)]
struct WireSource {
    #[serde(rename = "type")]
    kind: Option<String>,
    url: Option<String>,
}

/// A `files` entry (`{ file = "…", hash = "sha256:…" }`).
#[derive(Deserialize)]
struct WireFile {
    file: Option<String>,
    hash: Option<Spanned<String>>,
}

/// The hint of a problem with the lock itself: Poetry 2's command that
/// writes it anew (a plain `poetry lock` stops at a lock without its
/// `[metadata]`, and keeps what it can of an old one).
pub(crate) const REGENERATE: &str = "regenerate it: `poetry lock --regenerate`";

/// Read the poetry.lock `file` whose text is `text`: an error, at its
/// position, when it is not TOML or not laid out as Poetry writes it, or
/// at its start when it has no `[[package]]` tables.
pub fn read(file: &str, text: &str) -> Result<Lock, crate::diagnostic::Diagnostic> {
    let wire: WireLock = super::deserialize(file, text, "poetry.lock", REGENERATE)?;
    let Some(packages) = wire.package else {
        return Err(crate::diagnostic::Diagnostic::at(
            file,
            Some(Position::START),
            "the lock lists no packages (no `[[package]]` tables)",
        )
        .with_hint(REGENERATE));
    };
    let metadata_files = wire.metadata.map(|m| m.files).unwrap_or_default();
    let packages = packages.into_iter().map(|package| {
        let name = normalize_name(package.name.get_ref());
        // Lock-version 1.1: the files by package name, in `[metadata.files]`;
        // every version of a name locked at several gets them all.
        let listed = metadata_files
            .iter()
            .find(|(key, _)| normalize_name(key) == name)
            .map(|(_, files)| files.as_slice());
        convert_package(text, package, listed)
    });
    Ok(Lock::new(LockKind::Poetry, file, packages.collect()))
}

/// A `[[package]]` table as a [`Package`], with the `[metadata.files]`
/// entry `listed` under its name, if any.
fn convert_package(text: &str, wire: WirePackage, listed: Option<&[WireFile]>) -> Package {
    let at = line_start(text, wire.name.span().start);
    let written_name = wire.name.into_inner();
    let (marker, group_markers) = match wire.markers {
        Some(WireMarkers::One(marker)) => (Some(marker), BTreeMap::new()),
        Some(WireMarkers::ByGroup(by_group)) => (None, by_group),
        None => (None, BTreeMap::new()),
    };
    let artifacts: Vec<Artifact> = wire
        .files
        .as_deref()
        .or(listed)
        .unwrap_or_default()
        .iter()
        .map(|file| convert_file(text, file, at))
        .collect();
    Package {
        name: normalize_name(&written_name),
        written_name,
        version: wire.version,
        source: wire.source.and_then(convert_source),
        dependencies: wire
            .dependencies
            .into_iter()
            .flat_map(|(name, constraints)| convert_dependency(&name, constraints))
            .collect(),
        optional_dependencies: wire
            .extras
            .into_iter()
            .map(|(extra, requirements)| {
                (
                    extra,
                    requirements
                        .iter()
                        .map(String::as_str)
                        .map(requirement)
                        .collect(),
                )
            })
            .collect(),
        dev_dependencies: BTreeMap::new(),
        marker,
        resolution_markers: None,
        requires_dist: None,
        optional: wire.optional,
        python_versions: wire.python_versions,
        groups: wire.groups,
        group_markers,
        artifacts,
        at,
    }
}

/// A package's source by its `type`: `legacy` an index, `git`, `file`,
/// `directory` and `url` the others; [`Source::Other`] for another type or
/// one of those without its `url`. `None` without a `type`, or for a
/// `legacy` one without a `url`: the default index, as Poetry reads them.
fn convert_source(wire: WireSource) -> Option<Source> {
    let kind = wire.kind?;
    let source = match (kind.as_str(), wire.url) {
        ("legacy", url) => return url.map(|url| Source::Registry { url }),
        ("git", Some(url)) => Source::Git { url },
        ("file", Some(path)) => Source::Path { path },
        ("directory", Some(path)) => Source::Directory { path },
        ("url", Some(url)) => Source::Url { url },
        _ => Source::Other { kind },
    };
    Some(source)
}

/// The edges of a `[package.dependencies]` entry, one per constraint.
fn convert_dependency(name: &str, wire: WireConstraints) -> Vec<Dependency> {
    let name = normalize_name(name);
    let one = |constraint: WireConstraint| Dependency {
        name: name.clone(),
        extras: constraint.extras,
        marker: super::marker_or_true(constraint.markers.as_deref()),
        marker_text: constraint.markers,
        version: constraint.version,
        optional: constraint.optional,
    };
    match wire {
        WireConstraints::Version(version) => vec![Dependency {
            name: name.clone(),
            extras: Vec::new(),
            marker: MarkerTree::TRUE,
            marker_text: None,
            version: Some(version),
            optional: false,
        }],
        WireConstraints::One(constraint) => vec![one(constraint)],
        WireConstraints::Several(constraints) => constraints.into_iter().map(one).collect(),
    }
}

/// An extra's requirement (`name (>=1.0)`, `name[extra] ; marker`) as a
/// [`Dependency`] on its name (the rest is in the package's own entry).
fn requirement(requirement: &str) -> Dependency {
    let marker = requirement.split_once(';').map(|(_, marker)| marker.trim());
    Dependency {
        name: normalize_name(crate::names::requirement_name(requirement)),
        extras: Vec::new(),
        marker: super::marker_or_true(marker),
        marker_text: marker.map(str::to_owned),
        version: None,
        optional: false,
    }
}

/// A `files` entry as an [`Artifact`]: a wheel when its file name is one's;
/// at its digest, else at its package (`package_at`).
fn convert_file(text: &str, wire: &WireFile, package_at: Position) -> Artifact {
    let at = wire
        .hash
        .as_ref()
        .map_or(package_at, |hash| super::hash_position(text, hash));
    let wheel = wire.file.as_deref().is_some_and(|f| f.ends_with(".whl"));
    let sha256 = wire
        .hash
        .as_ref()
        .and_then(|hash| hash.get_ref().strip_prefix("sha256:").map(str::to_owned));
    Artifact::new(wheel, wire.file.as_deref(), None, sha256, at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lock::ArtifactKind;

    const LOCK: &str = r#"[[package]]
name = "Attrs"
version = "25.1.0"
optional = false
python-versions = ">=3.8"
groups = ["main", "dev"]
markers = { main = "sys_platform == 'linux'" }
files = [
    {file = "attrs-25.1.0.tar.gz", hash = "sha256:aa"},
    {file = "attrs-25.1.0-py3-none-any.whl", hash = "sha256:bb"},
]

[package.dependencies]
six = ">=1"
idna = [
    {version = "<3", markers = "python_version < '3.9'"},
    {version = ">=3", markers = "python_version >= '3.9'", optional = true},
]

[package.extras]
tests = ["pytest (>=6) ; extra == \"tests\""]

[package.source]
type = "legacy"
url = "https://example.org/simple"
reference = "private"

[[package]]
name = "six"
version = "1.17.0"
optional = false
python-versions = "*"

[metadata]
lock-version = "1.1"

[metadata.files]
Six = [
    {file = "six-1.17.0-py2.py3-none-any.whl", hash = "sha256:cc"},
]
"#;

    #[test]
    fn reads_packages_edges_sources_and_files_of_either_layout() {
        let lock = read("poetry.lock", LOCK).expect("a valid lock");
        let [attrs, six] = lock.packages.as_slice() else {
            panic!("two packages");
        };
        assert_eq!(attrs.name, "attrs");
        assert_eq!(attrs.at, Position { line: 2, column: 1 });
        assert_eq!(
            attrs.groups,
            Some(vec!["main".to_owned(), "dev".to_owned()])
        );
        assert_eq!(attrs.python_versions.as_deref(), Some(">=3.8"));
        assert!(attrs.marker.is_none() && attrs.group_markers.contains_key("main"));
        assert!(attrs.from_index());
        let edges: Vec<(&str, Option<&str>, bool)> = attrs
            .dependencies
            .iter()
            .map(|d| (d.name.as_str(), d.version.as_deref(), d.optional))
            .collect();
        assert_eq!(
            edges,
            [
                ("idna", Some("<3"), false),
                ("idna", Some(">=3"), true),
                ("six", Some(">=1"), false)
            ]
        );
        // Each edge's marker as written, for the translation to write it.
        assert_eq!(
            attrs.dependencies[0].marker_text.as_deref(),
            Some("python_version < '3.9'")
        );
        assert_eq!(attrs.dependencies[2].marker_text, None);
        assert_eq!(attrs.optional_dependencies["tests"][0].name, "pytest");
        let wheel = attrs.wheels().next().expect("a wheel");
        assert_eq!(wheel.sha256.as_deref(), Some("bb"));
        assert_eq!(
            wheel.at,
            Position {
                line: 10,
                column: 61
            }
        );
        assert!(matches!(
            attrs.sdist().map(|s| &s.kind),
            Some(ArtifactKind::Sdist)
        ));
        let [wheel] = six.artifacts.as_slice() else {
            panic!("six's file from [metadata.files]");
        };
        assert_eq!(wheel.sha256.as_deref(), Some("cc"));
    }

    #[test]
    fn a_source_is_an_index_a_known_type_or_another_kept_by_its_type() {
        let source = |table: &str| {
            let text = format!(
                "[[package]]\nname = \"a\"\nversion = \"1\"\n\n[package.source]\n{table}\n"
            );
            read("poetry.lock", &text).expect("a lock").packages[0]
                .source
                .clone()
        };
        let other = |kind: &str| {
            Some(Source::Other {
                kind: kind.to_owned(),
            })
        };
        assert_eq!(
            source("type = \"legacy\"\nurl = \"https://x/simple\""),
            Some(Source::Registry {
                url: "https://x/simple".to_owned()
            })
        );
        // Poetry reads a `legacy` source without a `url`, or a source
        // without a `type`, as the default index.
        assert_eq!(source("type = \"legacy\""), None);
        assert_eq!(source("url = \"https://x/simple\""), None);
        assert_eq!(source("type = \"git\""), other("git"));
        assert_eq!(source("type = \"svn\"\nurl = \"svn://x\""), other("svn"));
    }

    #[test]
    fn a_lock_not_laid_out_as_poetry_writes_it_is_an_error_at_its_line() {
        let error = read("poetry.lock", "[[package]]\nname = 3\n").expect_err("bad");
        assert_eq!(error.position, Some(Position { line: 2, column: 8 }));
    }
}
