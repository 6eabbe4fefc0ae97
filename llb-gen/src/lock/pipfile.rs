//! The `Pipfile.lock` reader (Pipenv): its wire structs, then their
//! conversion into [`Lock`]; and the names a `Pipfile` declares, for the
//! stale-lock check.
//!
//! Pipenv writes JSON: `_meta` (`hash.sha256`, a hash of the Pipfile;
//! `pipfile-spec`; `requires`; `sources`, each a `name` and a `url`) and
//! one object per section, `default` (the Pipfile's `[packages]`) and
//! `develop` (its `[dev-packages]`), mapping each package's name to `{
//! "version": "==x", "hashes": ["sha256:…"], "markers": "…", "index":
//! "name" }` (or `git`/`ref`, `path`, `file`, `editable` for what does not
//! come from an index). Keys the wire structs do not name are ignored, and
//! so are Pipenv's custom sections (package categories): pybase reads
//! `default` and `develop`.
//!
//! A package's [`Package::groups`] is its section (both when both list it
//! at one version: one package), its marker is `markers` as written, its
//! version `version` without its `==` (none when it is not pinned so), its
//! source the index its `index` names in `_meta.sources` (the first source
//! when it names none, as Pipenv installs it), and each hash an artifact
//! known only by its hash ([`super::ArtifactKind::Hashed`]).
//!
//! Positions: serde_json gives the line and column of what it cannot read.
//! serde_json keeps no position of a value it read, so [`read`] scans the
//! text itself ([`Positions`]: a small JSON tokenizer that follows strings
//! and nesting, no parse) for the offset of each package's key in its
//! section and of each string of its `hashes`; a package is reported at its
//! key, a hash at its digest.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{Artifact, ArtifactKind, Lock, LockKind, Package, Source};
use crate::diagnostic::{Diagnostic, Position, position_of};
use crate::names::normalize_name;

/// Pipenv's lock file.
pub const PIPFILE_LOCK_FILE: &str = "Pipfile.lock";

/// Pipenv's manifest, the file the lock is written from.
pub const PIPFILE: &str = "Pipfile";

/// The command a hint offers to write `Pipfile.lock` anew, run in the
/// project's directory (`tests/relock_hints.rs` runs it).
pub const PIPFILE_RELOCK: &str = "pipenv lock";

/// The hint of a problem with the lock itself.
pub(crate) const REGENERATE: &str = "regenerate it: `pipenv lock`";

/// The sections pybase reads, in the order it reads them.
pub const SECTIONS: [&str; 2] = ["default", "develop"];

/// A Pipfile.lock as Pipenv writes it.
#[derive(Deserialize)]
struct WireLock {
    #[serde(rename = "_meta")]
    meta: Option<WireMeta>,
    default: Option<BTreeMap<String, WirePackage>>,
    develop: Option<BTreeMap<String, WirePackage>>,
}

/// `_meta`.
#[derive(Deserialize)]
struct WireMeta {
    #[serde(default)]
    sources: Vec<WireSource>,
}

/// A `_meta.sources` entry.
#[derive(Deserialize)]
struct WireSource {
    name: Option<String>,
    url: Option<String>,
}

/// A package of a section.
#[derive(Deserialize)]
struct WirePackage {
    version: Option<String>,
    #[serde(default)]
    hashes: Vec<String>,
    markers: Option<String>,
    index: Option<String>,
    git: Option<String>,
    path: Option<String>,
    file: Option<String>,
}

/// Read the Pipfile.lock `file` whose text is `text`: an error, at the
/// line and column serde_json gives, when it is not JSON or not laid out
/// as Pipenv writes it.
pub fn read(file: &str, text: &str) -> Result<Lock, Diagnostic> {
    let wire: WireLock = serde_json::from_str(text).map_err(|error| {
        let position = Position {
            line: u32::try_from(error.line()).unwrap_or(1).max(1),
            column: u32::try_from(error.column()).unwrap_or(1).max(1),
        };
        // Its message without the position it appends (the caret's).
        let message = error.to_string();
        let message = message
            .rsplit_once(" at line ")
            .map_or(message.as_str(), |(message, _)| message);
        Diagnostic::at(
            file,
            Some(position),
            format!("not a Pipfile.lock pybase can read: {message}"),
        )
        .with_hint(REGENERATE)
    })?;
    let positions = Positions::scan(text);
    let sources = wire.meta.map(|meta| meta.sources).unwrap_or_default();
    let mut packages: Vec<(usize, Package)> = Vec::new();
    for (section, entries) in SECTIONS.into_iter().zip([wire.default, wire.develop]) {
        // Each section in the file's order.
        let mut entries: Vec<(usize, String, WirePackage)> = entries
            .unwrap_or_default()
            .into_iter()
            .map(|(name, wire)| (positions.key(section, &name), name, wire))
            .collect();
        entries.sort_by_key(|(offset, _, _)| *offset);
        for (offset, name, wire) in entries {
            let version = wire.version.as_deref().and_then(|v| v.strip_prefix("=="));
            let known = packages
                .iter_mut()
                .find(|(_, p)| p.name == normalize_name(&name) && p.version.as_deref() == version);
            if let Some((_, package)) = known {
                if let Some(groups) = &mut package.groups {
                    groups.push(section.to_owned());
                }
                continue;
            }
            let package =
                convert_package(text, &positions, &sources, (section, offset), &name, wire);
            packages.push((offset, package));
        }
    }
    Ok(Lock::new(
        LockKind::Pipfile,
        file,
        packages.into_iter().map(|(_, p)| p).collect(),
    ))
}

/// The package `name` of `section` (its key at `offset`) as a [`Package`].
fn convert_package(
    text: &str,
    positions: &Positions,
    sources: &[WireSource],
    (section, offset): (&str, usize),
    name: &str,
    wire: WirePackage,
) -> Package {
    let at = position_of(text, offset);
    let hash_offsets = positions.hashes(section, name);
    let artifacts = wire
        .hashes
        .iter()
        .enumerate()
        .filter_map(|(n, hash)| {
            let digest = hash.strip_prefix("sha256:")?;
            // The digest, after the quote and `sha256:`.
            let hash_at = hash_offsets
                .get(n)
                .map_or(at, |offset| position_of(text, offset + 1 + "sha256:".len()));
            Some(Artifact {
                kind: ArtifactKind::Hashed,
                filename: None,
                url: None,
                sha256: Some(digest.to_owned()),
                size: None,
                at: hash_at,
            })
        })
        .collect();
    let source = if let Some(url) = wire.git {
        Some(Source::Git { url })
    } else if let Some(path) = wire.path {
        Some(Source::Directory { path })
    } else if let Some(url) = wire.file {
        Some(Source::Url { url })
    } else {
        let named = match &wire.index {
            Some(index) => sources
                .iter()
                .find(|s| s.name.as_deref() == Some(index.as_str())),
            None => sources.first(),
        };
        named
            .and_then(|source| source.url.clone())
            .map(|url| Source::Registry { url })
    };
    let version = wire
        .version
        .as_deref()
        .and_then(|v| v.strip_prefix("=="))
        .map(str::to_owned);
    let mut package = Package::pinned(name, version, source, wire.markers, artifacts, at);
    package.groups = Some(vec![section.to_owned()]);
    package
}

/// Where a Pipfile.lock's text has the keys of its sections' packages and
/// the strings of their `hashes`, by byte offset (at the opening quote).
#[derive(Default)]
struct Positions {
    /// Each package's key, by (section, name).
    keys: BTreeMap<(String, String), usize>,
    /// Each package's hash strings, in order, by (section, name).
    hashes: BTreeMap<(String, String), Vec<usize>>,
}

/// JSON's brackets, as bytes (named: a brace in a byte literal confuses
/// tools that count braces).
const OPEN_OBJECT: u8 = 0x7b;
const CLOSE_OBJECT: u8 = 0x7d;
const OPEN_ARRAY: u8 = 0x5b;
const CLOSE_ARRAY: u8 = 0x5d;

/// An object or array the scan is inside.
struct Frame {
    /// An object (else an array).
    object: bool,
    /// In an object: whether the next string is a key.
    expect_key: bool,
    /// In an object: its key being read, as written (without escapes
    /// resolved, which package names and pybase's keys never have).
    key: Option<String>,
}

impl Positions {
    /// Scan `text`; what it cannot follow (not JSON) is left out.
    fn scan(text: &str) -> Self {
        let mut found = Positions::default();
        let mut stack: Vec<Frame> = Vec::new();
        let bytes = text.as_bytes();
        let mut i = 0;
        while let Some(&byte) = bytes.get(i) {
            match byte {
                OPEN_OBJECT | OPEN_ARRAY => stack.push(Frame {
                    object: byte == OPEN_OBJECT,
                    expect_key: byte == OPEN_OBJECT,
                    key: None,
                }),
                CLOSE_OBJECT | CLOSE_ARRAY => {
                    stack.pop();
                }
                b',' => {
                    if let Some(top) = stack.last_mut() {
                        top.expect_key = top.object;
                    }
                }
                b':' => {
                    if let Some(top) = stack.last_mut() {
                        top.expect_key = false;
                    }
                }
                b'"' => {
                    let end = string_end(bytes, i);
                    let content = text.get(i + 1..end).unwrap_or_default().to_owned();
                    found.string(&mut stack, i, content);
                    i = end;
                }
                _ => {}
            }
            i += 1;
        }
        found
    }

    /// Record the string `content` whose quote is at `offset`, inside
    /// `stack`: a package's key (depth 2), or a string of its `hashes`.
    fn string(&mut self, stack: &mut [Frame], offset: usize, content: String) {
        let key_of = |frame: Option<&Frame>| frame.and_then(|f| f.key.clone());
        let depth = stack.len();
        let Some(top) = stack.last_mut() else {
            return;
        };
        if top.object && top.expect_key {
            top.key = Some(content.clone());
            if depth == 2
                && let Some(section) = key_of(stack.first())
            {
                self.keys.entry((section, content)).or_insert(offset);
            }
            return;
        }
        if depth == 4
            && !top.object
            && key_of(stack.get(2)).as_deref() == Some("hashes")
            && let (Some(section), Some(name)) = (key_of(stack.first()), key_of(stack.get(1)))
        {
            self.hashes.entry((section, name)).or_default().push(offset);
        }
    }

    /// The offset of `name`'s key in `section` (0 when the scan lost it).
    fn key(&self, section: &str, name: &str) -> usize {
        self.keys
            .get(&(section.to_owned(), name.to_owned()))
            .copied()
            .unwrap_or(0)
    }

    /// The offsets of `name`'s hash strings in `section`.
    fn hashes(&self, section: &str, name: &str) -> &[usize] {
        self.hashes
            .get(&(section.to_owned(), name.to_owned()))
            .map_or(&[], Vec::as_slice)
    }
}

/// The offset of the quote that closes the string opening at `start`
/// (the text's end when none does).
fn string_end(bytes: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    while let Some(&byte) = bytes.get(i) {
        match byte {
            b'\\' => i += 2,
            b'"' => return i,
            _ => i += 1,
        }
    }
    bytes.len()
}

/// A package a Pipfile declares in a section (`[packages]`,
/// `[dev-packages]`): its name as written, its version specifier when it
/// has one (`"*"` and tables without `version` have none), and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Declared {
    /// Its name, as written.
    pub name: String,
    /// Its specifier (`==1.0`, `>=2`), when it has one.
    pub specifier: Option<String>,
    /// Its key in the Pipfile.
    pub at: Position,
}

/// The packages the Pipfile `file` (its `text`) declares in its
/// `[packages]` and, `with_dev`, its `[dev-packages]`; an error at the
/// parser's position when it is not TOML.
pub fn declared(file: &str, text: &str, with_dev: bool) -> Result<Vec<Declared>, Diagnostic> {
    let table: toml::Table = toml::from_str(text).map_err(|error| {
        let position = error
            .span()
            .map_or(Position::START, |span| position_of(text, span.start));
        Diagnostic::at(
            file,
            Some(position),
            format!("not valid TOML: {}", error.message().trim_end()),
        )
    })?;
    let mut declared = Vec::new();
    for (section, wanted) in [("packages", true), ("dev-packages", with_dev)] {
        let Some(entries) = table.get(section).and_then(toml::Value::as_table) else {
            continue;
        };
        if !wanted {
            continue;
        }
        for (name, value) in entries {
            let specifier = match value {
                toml::Value::String(s) => Some(s.clone()),
                toml::Value::Table(t) => t
                    .get("version")
                    .and_then(toml::Value::as_str)
                    .map(str::to_owned),
                _ => None,
            }
            .filter(|s| s.trim() != "*");
            let at =
                crate::diagnostic::find_table_key(text, section, name).unwrap_or(Position::START);
            declared.push(Declared {
                name: name.clone(),
                specifier,
                at,
            });
        }
    }
    Ok(declared)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCK: &str = r#"{
    "_meta": {
        "hash": {"sha256": "00"},
        "sources": [
            {"name": "pypi", "url": "https://pypi.org/simple", "verify_ssl": true},
            {"name": "private", "url": "https://example.org/simple", "verify_ssl": true}
        ]
    },
    "default": {
        "six": {
            "hashes": ["sha256:aa", "sha256:bb"],
            "index": "pypi",
            "markers": "python_version >= '2.7'",
            "version": "==1.17.0"
        },
        "Acme": {"hashes": ["sha256:cc"], "index": "private", "version": "==1.0"},
        "tool": {"git": "https://example.org/tool.git", "ref": "abc"}
    },
    "develop": {
        "six": {"hashes": ["sha256:aa", "sha256:bb"], "version": "==1.17.0"},
        "iniconfig": {"hashes": ["sha256:dd"], "version": "==2.0.0"}
    }
}
"#;

    #[test]
    fn reads_sections_markers_indexes_and_hashes_at_their_positions() {
        let lock = read("Pipfile.lock", LOCK).expect("a valid lock");
        assert_eq!(lock.kind, LockKind::Pipfile);
        type Read<'a> = (&'a str, Option<&'a str>, Option<Vec<String>>, Position);
        let read: Vec<Read<'_>> = lock
            .packages
            .iter()
            .map(|p| {
                (
                    p.name.as_str(),
                    p.version.as_deref(),
                    p.groups.clone(),
                    p.at,
                )
            })
            .collect();
        let groups = |g: &[&str]| Some(g.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>());
        assert_eq!(
            read,
            [
                (
                    "six",
                    Some("1.17.0"),
                    groups(&["default", "develop"]),
                    Position {
                        line: 10,
                        column: 9
                    }
                ),
                (
                    "acme",
                    Some("1.0"),
                    groups(&["default"]),
                    Position {
                        line: 16,
                        column: 9
                    }
                ),
                (
                    "tool",
                    None,
                    groups(&["default"]),
                    Position {
                        line: 17,
                        column: 9
                    }
                ),
                (
                    "iniconfig",
                    Some("2.0.0"),
                    groups(&["develop"]),
                    Position {
                        line: 21,
                        column: 9
                    }
                ),
            ]
        );
        let six = &lock.packages[0];
        assert_eq!(six.marker.as_deref(), Some("python_version >= '2.7'"));
        assert_eq!(
            six.source,
            Some(Source::Registry {
                url: "https://pypi.org/simple".to_owned()
            })
        );
        let hashes: Vec<(Option<&str>, Position)> = six
            .artifacts
            .iter()
            .map(|a| (a.sha256.as_deref(), a.at))
            .collect();
        assert_eq!(
            hashes,
            [
                (
                    Some("aa"),
                    Position {
                        line: 11,
                        column: 32
                    }
                ),
                (
                    Some("bb"),
                    Position {
                        line: 11,
                        column: 45
                    }
                )
            ]
        );
        assert_eq!(
            lock.packages[1].source,
            Some(Source::Registry {
                url: "https://example.org/simple".to_owned()
            })
        );
        assert!(matches!(lock.packages[2].source, Some(Source::Git { .. })));
    }

    #[test]
    fn what_is_not_a_pipfile_lock_is_an_error_at_its_line_and_column() {
        let error = read(
            "Pipfile.lock",
            "{\n  \"default\": {\"six\": {\"version\": 3}}\n}",
        )
        .expect_err("bad");
        assert_eq!(error.position.map(|p| p.line), Some(2));
        assert!(error.to_string().contains("pipenv lock"), "{error}");
        let error = read("Pipfile.lock", "{\n  \"default\": {\n").expect_err("bad");
        assert_eq!(error.position.map(|p| p.line), Some(3));
    }

    #[test]
    fn a_pipfile_declares_its_packages_at_their_keys() {
        let pipfile = "[[source]]\nurl = \"https://pypi.org/simple\"\n\n[packages]\nsix = \"==1.17.0\"\nrequests = {version = \">=2\", extras = [\"socks\"]}\nflask = \"*\"\n\n[dev-packages]\niniconfig = \"==2.0.0\"\n";
        let found = declared("Pipfile", pipfile, false).expect("TOML");
        let seen: Vec<(&str, Option<&str>, u32)> = found
            .iter()
            .map(|d| (d.name.as_str(), d.specifier.as_deref(), d.at.line))
            .collect();
        assert_eq!(
            seen,
            [
                ("flask", None, 7),
                ("requests", Some(">=2"), 6),
                ("six", Some("==1.17.0"), 5)
            ]
        );
        assert_eq!(declared("Pipfile", pipfile, true).expect("TOML").len(), 4);
        let error = declared("Pipfile", "[packages\n", true).expect_err("bad");
        assert_eq!(error.position.map(|p| p.line), Some(1));
    }
}
