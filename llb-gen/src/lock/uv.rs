//! The `uv.lock` reader: its wire structs, then their conversion into
//! [`Lock`].
//!
//! The wire structs follow uv's layout (`[[package]]` tables with `name`,
//! `version`, `source = { registry = … }`, `dependencies = [{ name, extra,
//! marker }]`, `[package.optional-dependencies]`,
//! `[package.dev-dependencies]`, `resolution-markers`, `sdist` and `wheels
//! = [{ url, hash }]`); keys they do not name are ignored, as uv adds keys
//! in compatible revisions. The fields errors point at are
//! [`toml::Spanned`]: a package's `name`, a file's `url` and `hash`.
//!
//! [`check_format_version`] refuses a lock of another format version than
//! pybase reads (the project checks run it first, `project.rs`); [`read`]
//! reads the content.

use std::collections::BTreeMap;

use pep508_rs::MarkerTree;
use serde::Deserialize;
use toml::Spanned;

use super::{Artifact, Dependency, Lock, LockKind, Package, Source, key_start, line_start};
use crate::diagnostic::{Diagnostic, Position, position_of};
use crate::names::normalize_name;

/// A uv.lock as uv writes it.
#[derive(Deserialize)]
struct WireLock {
    #[serde(default)]
    package: Vec<WirePackage>,
}

/// A `[[package]]` table.
#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct WirePackage {
    name: Spanned<String>,
    version: Option<String>,
    source: Option<WireSource>,
    #[serde(default)]
    dependencies: Vec<WireDependency>,
    #[serde(default)]
    optional_dependencies: BTreeMap<String, Vec<WireDependency>>,
    #[serde(default)]
    dev_dependencies: BTreeMap<String, Vec<WireDependency>>,
    resolution_markers: Option<Vec<String>>,
    sdist: Option<WireFile>,
    #[serde(default)]
    wheels: Vec<WireFile>,
    metadata: Option<WireMetadata>,
}

/// A package's `[package.metadata]`: what uv read from a local project.
#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct WireMetadata {
    requires_dist: Option<Vec<WireRequirement>>,
}

/// A `requires-dist` entry (`{ name = "x", specifier = "…" }`).
#[derive(Deserialize)]
struct WireRequirement {
    name: String,
}

/// A package's `source = { … }`: one of its keys.
#[derive(Deserialize)]
struct WireSource {
    registry: Option<String>,
    git: Option<String>,
    path: Option<String>,
    directory: Option<String>,
    editable: Option<String>,
    #[serde(rename = "virtual")]
    virtual_path: Option<String>,
    url: Option<String>,
}

/// A dependency entry (`{ name = "x", extra = ["y"], marker = "…" }`).
#[derive(Deserialize)]
struct WireDependency {
    name: String,
    #[serde(default)]
    extra: Vec<String>,
    marker: Option<String>,
}

/// An `sdist` or a `wheels` entry (`{ url = …, hash = "sha256:…" }`, or a
/// `path` or `filename` for local files).
#[derive(Deserialize)]
struct WireFile {
    filename: Option<String>,
    url: Option<Spanned<String>>,
    path: Option<String>,
    hash: Option<Spanned<String>>,
    size: Option<u64>,
}

/// The uv.lock format version pybase reads: uv writes 1, with `revision =
/// N` for the compatible additions; another version is a breaking change.
pub const FORMAT_VERSION: i64 = 1;

/// A uv.lock's top-level keys, as far as the format version goes.
#[derive(Deserialize)]
struct WireHeader {
    version: Option<Spanned<toml::Value>>,
}

/// Whether the uv.lock `file` whose text is `text` is of the format version
/// pybase reads: an error at its `version` key when it is another (its
/// content is then not read, as it may mean something else). Text that is
/// not TOML, or has no version, passes: it is reported elsewhere.
pub fn check_format_version(file: &str, text: &str) -> Result<(), Diagnostic> {
    let Ok(WireHeader {
        version: Some(version),
    }) = toml::from_str::<WireHeader>(text)
    else {
        return Ok(());
    };
    if version.get_ref().as_integer() == Some(FORMAT_VERSION) {
        return Ok(());
    }
    let at = key_start(text, version.span().start);
    let version = version.get_ref();
    Err(Diagnostic::at(
        file,
        Some(at),
        format!(
            "uv.lock's format is version {version}, which this pybase does not know (it reads version {FORMAT_VERSION})"
        ),
    )
    .with_hint(format!(
        "upgrade pybase to a release that reads uv.lock version {version}, or lock with a uv that writes version {FORMAT_VERSION}"
    )))
}

/// Read the uv.lock `file` whose text is `text`: an error, at its position,
/// when it is not TOML or not laid out as uv writes it.
pub fn read(file: &str, text: &str) -> Result<Lock, Diagnostic> {
    let wire: WireLock = super::deserialize(
        file,
        text,
        "uv.lock",
        "uv writes this file: recreate it with `uv lock`",
    )?;
    let packages = wire.package.into_iter().map(|p| convert_package(text, p));
    Ok(Lock::new(LockKind::Uv, file, packages.collect()))
}

/// A `[[package]]` table as a [`Package`].
fn convert_package(text: &str, wire: WirePackage) -> Package {
    let at = line_start(text, wire.name.span().start);
    let written_name = wire.name.into_inner();
    let edges = |list: Vec<WireDependency>| list.into_iter().map(convert_dependency).collect();
    let groups = |table: BTreeMap<String, Vec<WireDependency>>| {
        table
            .into_iter()
            .map(|(name, list)| (name, edges(list)))
            .collect()
    };
    let mut artifacts: Vec<Artifact> = wire
        .wheels
        .into_iter()
        .map(|file| convert_file(text, file, true, at))
        .collect();
    artifacts.extend(wire.sdist.map(|file| convert_file(text, file, false, at)));
    Package {
        name: normalize_name(&written_name),
        written_name,
        version: wire.version,
        source: wire.source.and_then(convert_source),
        dependencies: edges(wire.dependencies),
        optional_dependencies: groups(wire.optional_dependencies),
        dev_dependencies: groups(wire.dev_dependencies),
        marker: None,
        resolution_markers: wire.resolution_markers.map(|forks| {
            let mut forked = MarkerTree::FALSE;
            for fork in forks {
                match fork.parse::<MarkerTree>() {
                    Ok(marker) => forked.or(marker),
                    Err(_) => return MarkerTree::FALSE,
                }
            }
            forked
        }),
        requires_dist: wire
            .metadata
            .and_then(|metadata| metadata.requires_dist)
            .map(|requires| requires.iter().map(|r| normalize_name(&r.name)).collect()),
        optional: false,
        python_versions: None,
        groups: None,
        group_markers: BTreeMap::new(),
        artifacts,
        at,
    }
}

/// A package's source, by the first key uv may write it under.
fn convert_source(wire: WireSource) -> Option<Source> {
    wire.registry
        .map(|url| Source::Registry { url })
        .or_else(|| wire.git.map(|url| Source::Git { url }))
        .or_else(|| wire.path.map(|path| Source::Path { path }))
        .or_else(|| wire.directory.map(|path| Source::Directory { path }))
        .or_else(|| wire.editable.map(|path| Source::Editable { path }))
        .or_else(|| wire.virtual_path.map(|path| Source::Virtual { path }))
        .or_else(|| wire.url.map(|url| Source::Url { url }))
}

/// A dependency entry as a [`Dependency`].
fn convert_dependency(wire: WireDependency) -> Dependency {
    Dependency {
        name: normalize_name(&wire.name),
        extras: wire.extra,
        marker: super::marker_or_true(wire.marker.as_deref()),
        marker_text: wire.marker,
        version: None,
        optional: false,
    }
}

/// A file entry as an [`Artifact`] (a wheel when `wheel`), `package_at`
/// being where its package is.
fn convert_file(text: &str, wire: WireFile, wheel: bool, package_at: Position) -> Artifact {
    let at = match (&wire.hash, &wire.url) {
        (Some(hash), _) => super::hash_position(text, hash),
        (None, Some(url)) => position_of(text, url.span().start),
        (None, None) => package_at,
    };
    let url = wire.url.map(Spanned::into_inner);
    let location = wire.filename.as_deref().or(url.as_deref());
    let sha256 = wire
        .hash
        .and_then(|hash| hash.into_inner().strip_prefix("sha256:").map(str::to_owned));
    Artifact::new(
        wheel,
        location.or(wire.path.as_deref()),
        url.clone(),
        sha256,
        at,
    )
    .with_size(wire.size)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lock::ArtifactKind;

    const LOCK: &str = r#"version = 1
revision = 5

[[package]]
name = "app"
version = "0.1.0"
source = { editable = "." }
dependencies = [
    { name = "Six", marker = "sys_platform == 'linux'" },
    { name = "attrs", extra = ["tests"] },
]

[package.dev-dependencies]
dev = [{ name = "pytest" }]

[[package]]
name = "six"
version = "1.17.0"
source = { registry = "https://pypi.org/simple" }
resolution-markers = ["python_version >= '3.12'"]
sdist = { url = "https://x/six-1.17.0.tar.gz", hash = "sha256:aa", size = 1 }
wheels = [
    { url = "https://x/six-1.17.0-py2.py3-none-any.whl", hash = "sha256:bb", new-key = 1 },
]
"#;

    #[test]
    fn reads_packages_sources_edges_and_artifacts_with_positions() {
        let lock = read("uv.lock", LOCK).expect("a valid lock");
        let [app, six] = lock.packages.as_slice() else {
            panic!("two packages");
        };
        assert_eq!(app.at, Position { line: 5, column: 1 });
        assert_eq!(
            app.source,
            Some(Source::Editable {
                path: ".".to_owned()
            })
        );
        assert_eq!(app.dependencies[0].name, "six");
        assert!(!app.dependencies[0].marker.is_true());
        assert_eq!(
            app.dependencies[0].marker_text.as_deref(),
            Some("sys_platform == 'linux'")
        );
        assert_eq!(app.dependencies[1].extras, ["tests"]);
        assert_eq!(app.dev_dependencies["dev"][0].name, "pytest");
        assert!(six.from_index() && six.resolution_markers.is_some());
        let wheel = six.wheels().next().expect("a wheel");
        assert_eq!(wheel.sha256.as_deref(), Some("bb"));
        assert_eq!(
            wheel.at,
            Position {
                line: 23,
                column: 73
            }
        );
        assert!(
            matches!(&wheel.kind, ArtifactKind::Wheel(Some(w)) if w.tags() == "py2.py3-none-any")
        );
        assert_eq!(
            six.sdist().and_then(|s| s.filename.as_deref()),
            Some("six-1.17.0.tar.gz")
        );
    }

    #[test]
    fn a_file_is_recorded_at_its_own_hash_even_when_another_shares_it() {
        // A forged lock may give two files one hash: each is recorded at
        // its own entry, and a step that fetches it names that line.
        let hash = "a".repeat(64);
        let text = format!(
            "version = 1\n[[package]]\nname = \"x\"\nversion = \"1\"\n\
             sdist = {{ url = \"https://f/x-1.tar.gz\", hash = \"sha256:{hash}\" }}\n\
             wheels = [{{ url = \"https://f/x-1-py3-none-any.whl\", hash = \"sha256:{hash}\" }}]\n"
        );
        let lock = read("uv.lock", &text).expect("a valid lock");
        let recorded: Vec<(u32, u32)> = lock.packages[0]
            .artifacts
            .iter()
            .map(|artifact| (artifact.at.line, artifact.at.column))
            .collect();
        assert_eq!(recorded, [(6, 68), (5, 56)]);
    }

    #[test]
    fn a_lock_not_laid_out_as_uv_writes_it_is_an_error_at_its_line() {
        let error = read("uv.lock", "version = 1\n[[package]]\nname = 3\n").expect_err("bad");
        assert_eq!(error.position, Some(Position { line: 3, column: 8 }));
    }
}
