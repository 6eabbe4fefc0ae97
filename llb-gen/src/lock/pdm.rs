//! The `pdm.lock` reader: its wire structs, then their conversion into
//! [`Lock`].
//!
//! PDM writes TOML: a `[metadata]` table (`groups`, the groups locked;
//! `strategy`; `lock_version`; `content_hash`, a hash of pyproject.toml's
//! dependencies) and one `[[package]]` table per locked distribution, with
//! `name`, `version`, `requires_python`, `groups` (the groups that need it,
//! written by the default `inherit_metadata` strategy: `default` for the
//! project's dependencies, an extra's or a dependency group's name for
//! theirs), `marker` (the environments that need it), `dependencies` (PEP
//! 508 requirements) and `files = [{ file, hash }]` (or `{ url, hash }`
//! with the `static_urls` strategy). A package locked with extras has a
//! second entry with `extras = [...]` whose dependencies are the base
//! package, pinned, and what the extras add. Keys the wire structs do not
//! name are ignored. The fields errors point at are [`toml::Spanned`]: a
//! package's `name`, a file's `hash`.
//!
//! Each package keeps its `groups` ([`Package::groups`], `None` when the
//! lock does not say), its `marker` as written, and its files in the
//! lock's order, for the translation into a requirements lock
//! (`grouped.rs`); [`locked_groups`] reads the groups `[metadata]` says
//! the lock was written for. PDM records no index per package (the sources are
//! pyproject.toml's `[[tool.pdm.source]]`), so a package from an index
//! has no [`Package::source`]; one from `git`, a local `path` or a `url`
//! has that source. A lock without `[[package]]` tables locks nothing
//! and reads as a lock of no packages.

use serde::Deserialize;
use toml::Spanned;

use super::{Artifact, Dependency, Lock, LockKind, Package, Source, line_start};
use crate::diagnostic::Diagnostic;
use crate::names::normalize_name;

/// PDM's lock file.
pub const PDM_LOCK_FILE: &str = "pdm.lock";

/// The command a hint offers to write `pdm.lock` anew, run in the
/// project's directory (`tests/relock_hints.rs` runs it).
pub const PDM_RELOCK: &str = "pdm lock";

/// The hint of a problem with the lock itself.
pub(crate) const REGENERATE: &str = "regenerate it: `pdm lock`";

/// A pdm.lock as PDM writes it.
#[derive(Deserialize)]
struct WireLock {
    #[serde(default)]
    package: Vec<WirePackage>,
}

/// A `[[package]]` table.
#[derive(Deserialize)]
struct WirePackage {
    name: Spanned<String>,
    version: Option<String>,
    requires_python: Option<String>,
    groups: Option<Vec<String>>,
    marker: Option<String>,
    #[serde(default)]
    extras: Vec<String>,
    #[serde(default)]
    dependencies: Vec<String>,
    #[serde(default)]
    files: Vec<WireFile>,
    git: Option<String>,
    path: Option<String>,
    url: Option<String>,
}

/// A `files` entry (`{ file = "…", hash = "sha256:…" }`, or `url`).
#[derive(Deserialize)]
struct WireFile {
    file: Option<String>,
    url: Option<String>,
    hash: Option<Spanned<String>>,
}

/// Read the pdm.lock `file` whose text is `text`: an error, at its
/// position, when it is not TOML or not laid out as PDM writes it.
pub fn read(file: &str, text: &str) -> Result<Lock, Diagnostic> {
    let wire: WireLock = super::deserialize(file, text, "pdm.lock", REGENERATE)?;
    let packages = wire
        .package
        .into_iter()
        .map(|package| convert_package(text, package));
    Ok(Lock::new(LockKind::Pdm, file, packages.collect()))
}

/// The `[metadata]` of a pdm.lock: the groups it locks.
#[derive(Deserialize)]
struct WireHead {
    metadata: Option<WireMetadata>,
}

/// `[metadata]`.
#[derive(Deserialize)]
struct WireMetadata {
    groups: Option<Spanned<Vec<String>>>,
}

/// The groups the pdm.lock `text` locks (`[metadata] groups`, PDM locks
/// an extra as a group of its name), and where it says so; `None` when it
/// does not say (or is not TOML: [`read`] reports that).
pub fn locked_groups(text: &str) -> Option<(Vec<String>, crate::diagnostic::Position)> {
    let head: WireHead = toml::from_str(text).ok()?;
    let groups = head.metadata?.groups?;
    let at = crate::diagnostic::position_of(text, groups.span().start);
    Some((groups.into_inner(), at))
}

/// Whether `package` is the entry PDM writes for a package locked with
/// extras (`extras = [...]`), whose dependencies pin the base package.
pub fn is_extras_entry(package: &Package) -> bool {
    !package.optional_dependencies.is_empty()
}

/// A `[[package]]` table as a [`Package`]: an entry with `extras` keeps
/// its dependencies under each extra's name in
/// [`Package::optional_dependencies`] (so that [`is_extras_entry`] knows
/// it).
fn convert_package(text: &str, wire: WirePackage) -> Package {
    let at = line_start(text, wire.name.span().start);
    let written_name = wire.name.into_inner();
    let artifacts = wire
        .files
        .iter()
        .map(|file| convert_file(text, file, at))
        .collect();
    let dependencies: Vec<Dependency> = wire.dependencies.iter().map(|r| requirement(r)).collect();
    // What does not come from an index: a VCS, a local path, a URL.
    let source = if let Some(url) = wire.git {
        Some(Source::Git { url })
    } else if let Some(path) = wire.path {
        Some(Source::Directory { path })
    } else {
        wire.url.map(|url| Source::Url { url })
    };
    let mut package = Package::pinned(
        &written_name,
        wire.version,
        source,
        wire.marker,
        artifacts,
        at,
    );
    package.python_versions = wire.requires_python;
    package.groups = wire.groups;
    if wire.extras.is_empty() {
        package.dependencies = dependencies;
    } else {
        package.optional_dependencies = wire
            .extras
            .into_iter()
            .map(|extra| (extra, dependencies.clone()))
            .collect();
    }
    package
}

/// A `dependencies` entry (`name[extra]>=1 ; marker`) as a [`Dependency`]
/// on its name, with its marker as written.
fn requirement(requirement: &str) -> Dependency {
    let marker = requirement
        .split_once(';')
        .map(|(_, marker)| marker.trim().to_owned());
    Dependency {
        name: normalize_name(crate::names::requirement_name(requirement)),
        extras: Vec::new(),
        marker: super::marker_or_true(marker.as_deref()),
        marker_text: marker,
        version: None,
        optional: false,
    }
}

/// A `files` entry as an [`Artifact`]: a wheel when its name is one's; at
/// its digest, else at its package (`package_at`).
fn convert_file(text: &str, wire: &WireFile, package_at: crate::diagnostic::Position) -> Artifact {
    let at = wire
        .hash
        .as_ref()
        .map_or(package_at, |hash| super::hash_position(text, hash));
    let location = wire.file.as_deref().or(wire.url.as_deref());
    let wheel = location.is_some_and(|l| super::file_name(l).ends_with(".whl"));
    let sha256 = wire
        .hash
        .as_ref()
        .and_then(|hash| hash.get_ref().strip_prefix("sha256:").map(str::to_owned));
    Artifact::new(wheel, location, wire.url.clone(), sha256, at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostic::Position;
    use crate::lock::ArtifactKind;

    const LOCK: &str = r#"# This file is @generated by PDM.

[metadata]
groups = ["default", "dev", "socks"]
strategy = ["inherit_metadata"]
lock_version = "4.5.0"
content_hash = "sha256:00"

[[package]]
name = "Colorama"
version = "0.4.6"
requires_python = ">=3.7"
groups = ["default"]
marker = "sys_platform == \"win32\""
files = [
    {file = "colorama-0.4.6-py2.py3-none-any.whl", hash = "sha256:aa"},
    {file = "colorama-0.4.6.tar.gz", hash = "sha256:bb"},
]

[[package]]
name = "requests"
version = "2.32.3"
extras = ["socks"]
groups = ["socks"]
dependencies = [
    "PySocks!=1.5.7,>=1.5.6",
    "requests==2.32.3",
]
files = [
    {url = "https://example.org/requests-2.32.3-py3-none-any.whl", hash = "sha256:cc"},
]
"#;

    #[test]
    fn reads_groups_markers_files_and_extras_entries() {
        let lock = read("pdm.lock", LOCK).expect("a valid lock");
        assert_eq!(lock.kind, LockKind::Pdm);
        let [colorama, requests] = lock.packages.as_slice() else {
            panic!("two packages");
        };
        assert_eq!(colorama.name, "colorama");
        assert_eq!(colorama.written_name, "Colorama");
        assert_eq!(
            colorama.at,
            Position {
                line: 10,
                column: 1
            }
        );
        assert_eq!(colorama.groups, Some(vec!["default".to_owned()]));
        assert_eq!(
            colorama.marker.as_deref(),
            Some("sys_platform == \"win32\"")
        );
        assert_eq!(colorama.python_versions.as_deref(), Some(">=3.7"));
        assert_eq!(colorama.source, None);
        let wheel = colorama.wheels().next().expect("a wheel");
        assert_eq!(wheel.sha256.as_deref(), Some("aa"));
        assert_eq!(
            wheel.at,
            Position {
                line: 16,
                column: 67
            }
        );
        assert!(matches!(
            colorama.sdist().map(|s| &s.kind),
            Some(ArtifactKind::Sdist)
        ));
        assert!(!is_extras_entry(colorama));
        assert!(is_extras_entry(requests));
        let [url_wheel] = requests.artifacts.as_slice() else {
            panic!("one file");
        };
        assert!(matches!(url_wheel.kind, ArtifactKind::Wheel(Some(_))));
        assert_eq!(
            url_wheel.filename.as_deref(),
            Some("requests-2.32.3-py3-none-any.whl")
        );
        let names: Vec<&str> = requests.optional_dependencies["socks"]
            .iter()
            .map(|d| d.name.as_str())
            .collect();
        assert_eq!(names, ["pysocks", "requests"]);
    }

    #[test]
    fn a_package_from_git_a_path_or_a_url_keeps_that_source() {
        let text = "[[package]]\nname = \"a\"\nversion = \"1\"\ngit = \"https://x/a.git\"\nrevision = \"00\"\n\n[[package]]\nname = \"b\"\nversion = \"1\"\npath = \"./b\"\n\n[[package]]\nname = \"c\"\nversion = \"1\"\nurl = \"https://x/c-1.tar.gz\"\n";
        let lock = read("pdm.lock", text).expect("a lock");
        let sources: Vec<Option<Source>> = lock.packages.into_iter().map(|p| p.source).collect();
        assert!(
            matches!(sources[0], Some(Source::Git { .. })),
            "{sources:?}"
        );
        assert!(
            matches!(sources[1], Some(Source::Directory { .. })),
            "{sources:?}"
        );
        assert!(
            matches!(sources[2], Some(Source::Url { .. })),
            "{sources:?}"
        );
    }

    #[test]
    fn the_locked_groups_are_read_where_the_metadata_lists_them() {
        let (groups, at) = locked_groups(LOCK).expect("metadata groups");
        assert_eq!(groups, ["default", "dev", "socks"]);
        assert_eq!(
            at,
            Position {
                line: 4,
                column: 10
            }
        );
        assert_eq!(locked_groups("[[package]]\nname = \"a\"\n"), None);
    }

    #[test]
    fn a_lock_without_packages_locks_nothing() {
        let lock = read("pdm.lock", "[metadata]\ngroups = [\"default\"]\n").expect("a lock");
        assert!(lock.packages.is_empty());
    }

    #[test]
    fn a_lock_not_laid_out_as_pdm_writes_it_is_an_error_at_its_line() {
        let error = read("pdm.lock", "[[package]]\nname = 3\n").expect_err("bad");
        assert_eq!(error.position, Some(Position { line: 2, column: 8 }));
        assert!(error.to_string().contains("pdm lock"), "{error}");
        let error = read("pdm.lock", "[[package]\n").expect_err("bad");
        assert_eq!(error.position.map(|p| p.line), Some(1));
    }
}
