//! The `pylock.toml` reader (PEP 751): its wire structs, then their
//! conversion into [`Lock`].
//!
//! A pylock lists `[[packages]]`, each with a `name`, a `version`, an
//! environment `marker`, and where it installs from: `wheels = [{ name?,
//! url, hashes = { sha256 = … } }]` and an `sdist` from an index, or one
//! `vcs`, `directory` or `archive` source. Keys the wire structs do not
//! name are ignored; a package's `name` and a file's sha256 are
//! [`toml::Spanned`], for the positions errors point at.
//!
//! [`read`] reads its content; [`read_installable`] also refuses, each at
//! its package's line, what pybase will not install: a package without a
//! version, or with an artifact (wheel, sdist, archive) without `hashes`.

use serde::Deserialize;
use toml::Spanned;

use super::{Artifact, Lock, LockKind, Package, Source, line_start, position_in_string};
use crate::diagnostic::{Diagnostic, Position};

/// A pylock.toml as PEP 751 lays it out.
#[derive(Deserialize)]
struct WireLock {
    packages: Option<Vec<WirePackage>>,
}

/// A `[[packages]]` table.
#[derive(Deserialize)]
struct WirePackage {
    name: Spanned<String>,
    version: Option<String>,
    marker: Option<String>,
    index: Option<String>,
    vcs: Option<WireLocation>,
    directory: Option<WireLocation>,
    archive: Option<WireLocation>,
    sdist: Option<WireFile>,
    #[serde(default)]
    wheels: Vec<WireFile>,
}

/// A `vcs`, `directory` or `archive` table: where the package is (an
/// archive with its `hashes`).
#[derive(Deserialize)]
struct WireLocation {
    url: Option<String>,
    path: Option<String>,
    hashes: Option<WireHashes>,
}

/// An `sdist` or a `wheels` entry.
#[derive(Deserialize)]
struct WireFile {
    name: Option<String>,
    url: Option<String>,
    path: Option<String>,
    hashes: Option<WireHashes>,
    size: Option<u64>,
}

/// A file's `hashes`, by algorithm (pybase reads sha256, and counts the
/// others).
#[derive(Deserialize)]
struct WireHashes {
    sha256: Option<Spanned<String>>,
    #[serde(flatten)]
    others: std::collections::BTreeMap<String, toml::Value>,
}

impl WireHashes {
    /// Whether it records a hash of any algorithm.
    fn any(hashes: Option<&Self>) -> bool {
        hashes.is_some_and(|h| h.sha256.is_some() || !h.others.is_empty())
    }
}

/// The command a hint offers to write `pylock.toml` anew, run in the
/// project's directory: pinned, hashed, without the project itself
/// (`--no-emit-project`: pybase refuses a package without a version), as
/// `requirements::REQUIREMENTS_RELOCK` for requirements.txt.
/// `tests/relock_hints.rs` runs it.
pub const PYLOCK_RELOCK: &str = "uv export --format pylock.toml --no-default-groups --no-emit-project --output-file pylock.toml";

/// Read the pylock.toml `file` whose text is `text`: an error, at its
/// position, when it is not TOML or not laid out as PEP 751 says (it lists
/// no `[[packages]]`, say).
pub fn read(file: &str, text: &str) -> Result<Lock, Diagnostic> {
    let packages = wire_packages(file, text)?;
    let packages = packages.into_iter().map(|p| convert_package(text, p));
    Ok(Lock::new(LockKind::Pylock, file, packages.collect()))
}

/// Read the pylock.toml `file` whose text is `text`, as [`read`] does, and
/// refuse what pybase will not install: a package without a version, or
/// with an artifact without `hashes`; every problem, positioned.
pub fn read_installable(file: &str, text: &str) -> Result<Lock, Vec<Diagnostic>> {
    let packages = wire_packages(file, text).map_err(|problem| vec![problem])?;
    let problems: Vec<Diagnostic> = packages
        .iter()
        .filter_map(|package| refusal(file, text, package))
        .collect();
    if !problems.is_empty() {
        return Err(problems);
    }
    let packages = packages.into_iter().map(|p| convert_package(text, p));
    Ok(Lock::new(LockKind::Pylock, file, packages.collect()))
}

/// The hint of every refusal: write the lock anew.
fn regenerate() -> String {
    format!("regenerate it: `{PYLOCK_RELOCK}`")
}

/// The `[[packages]]` of the pylock.toml `file` (its `text`), or why not:
/// not TOML (at the parser's position), not laid out as PEP 751 says, or
/// without packages.
fn wire_packages(file: &str, text: &str) -> Result<Vec<WirePackage>, Diagnostic> {
    if let Err(error) = text.parse::<toml::Table>() {
        let position = error.span().map_or(Position::START, |span| {
            crate::diagnostic::position_of(text, span.start)
        });
        return Err(Diagnostic::at(
            file,
            Some(position),
            format!("not valid TOML: {}", error.message().trim_end()),
        ));
    }
    let wire: WireLock = super::deserialize(file, text, "pylock.toml", &regenerate())?;
    wire.packages.ok_or_else(|| {
        Diagnostic::at(
            file,
            Some(Position::START),
            "the lock lists no packages (no `[[packages]]` tables)",
        )
        .with_hint(regenerate())
    })
}

/// Why pybase will not install `package` of the pylock.toml `file` (its
/// `text`), at its `name` line: it has no version, or no artifact, or an
/// artifact without `hashes`.
fn refusal(file: &str, text: &str, package: &WirePackage) -> Option<Diagnostic> {
    let name = package.name.get_ref();
    let at = line_start(text, package.name.span().start);
    let hashed = package
        .wheels
        .iter()
        .chain(&package.sdist)
        .map(|file| WireHashes::any(file.hashes.as_ref()))
        .chain(
            package
                .archive
                .iter()
                .map(|archive| WireHashes::any(archive.hashes.as_ref())),
        )
        .collect::<Vec<bool>>();
    let message = if package.version.is_none() {
        format!("`{name}` has no `version`: pybase installs only pinned packages")
    } else if hashed.is_empty() || hashed.contains(&false) {
        format!(
            "`{name}` has an artifact without `hashes`: pybase installs only artifacts whose hashes the lock records"
        )
    } else {
        return None;
    };
    Some(Diagnostic::at(file, Some(at), message).with_hint(regenerate()))
}

/// A `[[packages]]` table as a [`Package`].
fn convert_package(text: &str, wire: WirePackage) -> Package {
    let at = line_start(text, wire.name.span().start);
    let written_name = wire.name.into_inner();
    let location = |l: WireLocation| l.url.or(l.path).unwrap_or_default();
    let source = if let Some(vcs) = wire.vcs {
        Source::Git { url: location(vcs) }
    } else if let Some(directory) = wire.directory {
        Source::Directory {
            path: location(directory),
        }
    } else if let Some(archive) = wire.archive {
        Source::Url {
            url: location(archive),
        }
    } else {
        Source::Registry {
            url: wire.index.unwrap_or_default(),
        }
    };
    let mut artifacts: Vec<Artifact> = wire
        .wheels
        .into_iter()
        .map(|file| convert_file(text, file, true, at))
        .collect();
    artifacts.extend(wire.sdist.map(|file| convert_file(text, file, false, at)));
    Package::pinned(
        &written_name,
        wire.version,
        Some(source),
        wire.marker,
        artifacts,
        at,
    )
}

/// A file entry as an [`Artifact`] (a wheel when `wheel`), `package_at`
/// being where its package is.
fn convert_file(text: &str, wire: WireFile, wheel: bool, package_at: Position) -> Artifact {
    let sha256 = wire.hashes.and_then(|hashes| hashes.sha256);
    let at = sha256
        .as_ref()
        .map_or(package_at, |sha256| position_in_string(text, sha256, 0));
    let location = wire.name.as_deref().or(wire.url.as_deref());
    let location = location.or(wire.path.as_deref());
    Artifact::new(
        wheel,
        location,
        wire.url.clone(),
        sha256.map(Spanned::into_inner),
        at,
    )
    .with_size(wire.size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_sources_markers_and_artifacts() {
        let text = "lock-version = \"1.0\"\n\
            [[packages]]\nname = \"My_Pkg\"\nversion = \"1\"\nmarker = \"os_name == 'nt'\"\n\
            wheels = [{ name = \"my_pkg-1-py3-none-any.whl\", url = \"https://x/w\", hashes = { sha256 = \"ab\", sha512 = \"cd\" } }]\n\
            [[packages]]\nname = \"tool\"\nvcs = { url = \"https://git/x\", type = \"git\" }\n";
        let lock = read("pylock.toml", text).expect("a valid pylock");
        let [pkg, tool] = lock.packages.as_slice() else {
            panic!("two packages");
        };
        assert_eq!(
            (pkg.name.as_str(), pkg.at),
            ("my-pkg", Position { line: 3, column: 1 })
        );
        assert_eq!(pkg.marker.as_deref(), Some("os_name == 'nt'"));
        assert!(pkg.from_index());
        let wheel = pkg.wheels().next().expect("a wheel");
        assert_eq!(wheel.filename.as_deref(), Some("my_pkg-1-py3-none-any.whl"));
        assert_eq!(wheel.sha256.as_deref(), Some("ab"));
        assert_eq!(
            tool.source,
            Some(Source::Git {
                url: "https://git/x".to_owned()
            })
        );
    }
}
