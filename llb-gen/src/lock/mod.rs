//! One typed model of a project's lock, whatever its format.
//!
//! Every lock format pybase reads is an adapter: a reader turns the file's
//! text into typed wire structs that follow the format's own layout (their
//! serde derive is the format's schema), then converts them into [`Lock`],
//! the only shape the checks and the planner walk. A reader reports what it
//! cannot read as a positioned [`Diagnostic`], never a panic, and accepts
//! keys it does not know (formats add keys in compatible revisions).
//!
//! The model keeps what pybase decides from, and where the file says it:
//!
//! - a [`Package`] is one locked version of a distribution, with its name
//!   PEP 503-normalized and as written, its [`Source`], its dependency
//!   edges (each with the environment marker the lock writes on the edge,
//!   parsed, and as written where a translation needs it), those
//!   of its extras and of its dependency groups, the environments it is
//!   locked for when the lock forks by marker, the groups and Pythons it
//!   is locked for when the lock says (Poetry), and its [`Artifact`]s;
//! - every package and artifact carries the [`Position`] errors point at:
//!   the package's `name = "…"` line, the artifact's recorded sha256.
//!
//! A marker pybase cannot read is kept as the false marker: such an edge
//! (or forked version) is taken as needed nowhere, so nothing is ever
//! fetched or checked on a guess. [`LockKind`] names the format; its file
//! name and relock command are with the project checks
//! (`project.rs`).
//!
//! Readers: [`uv`] (`uv.lock`), [`pylock`] (`pylock.toml`, PEP 751),
//! [`requirements`] (`requirements.txt`), [`poetry`] (`poetry.lock`),
//! [`pdm`] (`pdm.lock`), [`pipfile`] (`Pipfile.lock`).

pub mod includes;
pub mod pdm;
pub mod pipfile;
pub mod poetry;
pub mod pylock;
pub mod requirements;
pub mod uv;

use std::collections::BTreeMap;

use pep508_rs::MarkerTree;

use crate::diagnostic::{Position, position_of};
use crate::wheel::WheelFilename;

/// The lock file a project's venv is installed from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LockKind {
    /// `uv.lock`, installed with `uv sync --locked`.
    #[default]
    Uv,
    /// `requirements.txt` with `==` pins and hashes, installed with
    /// `uv pip sync --require-hashes`.
    Requirements,
    /// `pylock.toml` (PEP 751), installed with `uv pip sync
    /// --require-hashes`.
    Pylock,
    /// `poetry.lock`, translated into requirements locks, one per package
    /// index (`poetry.rs`), each installed with `uv pip install
    /// --no-deps --require-hashes` and its own index alone.
    Poetry,
    /// `pdm.lock`, translated into one requirements lock (`grouped.rs`),
    /// installed as Poetry's translation is.
    Pdm,
    /// Pipenv's `Pipfile.lock`, translated into requirements locks, one
    /// per package index (`grouped.rs`), installed as Poetry's are.
    Pipfile,
}

impl LockKind {
    /// The format of the lock file at `path` (a spec's `lock:`), by its
    /// name: `uv.lock`, `poetry.lock`, `pdm.lock`, `Pipfile.lock`, `pylock.toml` or
    /// `pylock.NAME.toml` (PEP 751), otherwise a requirements file.
    pub fn of_file(path: &str) -> Self {
        let name = path.rsplit('/').next().unwrap_or(path);
        match name {
            "uv.lock" => Self::Uv,
            "poetry.lock" => Self::Poetry,
            "pdm.lock" => Self::Pdm,
            "Pipfile.lock" => Self::Pipfile,
            "pylock.toml" => Self::Pylock,
            _ if name.starts_with("pylock.") && name.ends_with(".toml") => Self::Pylock,
            _ => Self::Requirements,
        }
    }
}

/// A lock, read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lock {
    /// Its format.
    pub kind: LockKind,
    /// The file, as errors name it (`app/uv.lock`).
    pub file: String,
    /// Its packages, in the file's order.
    pub packages: Vec<Package>,
}

impl Lock {
    /// The lock `file`, of the format `kind`, of `packages`.
    pub fn new(kind: LockKind, file: &str, packages: Vec<Package>) -> Self {
        Self {
            kind,
            file: file.to_owned(),
            packages,
        }
    }

    /// The packages by normalized name (the last, when the lock has
    /// several versions of one).
    pub fn by_name(&self) -> BTreeMap<&str, &Package> {
        self.packages
            .iter()
            .map(|package| (package.name.as_str(), package))
            .collect()
    }
}

/// One locked version of a distribution.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Package {
    /// Its PEP 503-normalized name.
    pub name: String,
    /// Its name as the lock writes it.
    pub written_name: String,
    /// Its version (`None`: the lock gives none, as uv does for a project
    /// with a dynamic version).
    pub version: Option<String>,
    /// Where it comes from (`None`: the lock does not say).
    pub source: Option<Source>,
    /// What it depends on.
    pub dependencies: Vec<Dependency>,
    /// What each of its extras adds, by the extra's name as written.
    pub optional_dependencies: BTreeMap<String, Vec<Dependency>>,
    /// Its dependency groups, by the group's name as written.
    pub dev_dependencies: BTreeMap<String, Vec<Dependency>>,
    /// The environment marker the lock writes on the package itself, as
    /// written (pylock.toml's `marker`: where it is installed).
    pub marker: Option<String>,
    /// The environments this version is locked for, when the lock keeps it
    /// for some only (a fork by marker): the disjunction of its markers.
    pub resolution_markers: Option<MarkerTree>,
    /// The names (normalized) of the requirements the lock records for a
    /// local project it locks (uv's `[package.metadata] requires-dist`),
    /// when it records them.
    pub requires_dist: Option<Vec<String>>,
    /// Whether only an extra brings it in (Poetry's `optional`).
    pub optional: bool,
    /// The Pythons it is locked for, as written (Poetry's
    /// `python-versions`).
    pub python_versions: Option<String>,
    /// The dependency groups it is locked for, as written (Poetry 2's
    /// `groups`; `None` when the lock does not say, as Poetry 1's and
    /// every other format's).
    pub groups: Option<Vec<String>>,
    /// Its marker in each group, as written, when the lock gives one per
    /// group (Poetry 2's `markers` table) rather than one [`Package::marker`].
    pub group_markers: BTreeMap<String, String>,
    /// Its files: its wheels, then its sdist (uv.lock, pylock.toml), or in
    /// the order the lock lists them (poetry.lock, whose translation writes
    /// their hashes in that order).
    pub artifacts: Vec<Artifact>,
    /// Where the lock names it (its `name = "…"` line).
    pub at: Position,
}

impl Package {
    /// A package of a lock of pins, which records no dependency edges:
    /// `written_name` at `version`, from `source`, installed where `marker`
    /// holds, from `artifacts`, named by the lock `at`.
    pub fn pinned(
        written_name: &str,
        version: Option<String>,
        source: Option<Source>,
        marker: Option<String>,
        artifacts: Vec<Artifact>,
        at: Position,
    ) -> Self {
        Self {
            name: crate::names::normalize_name(written_name),
            written_name: written_name.to_owned(),
            version,
            source,
            dependencies: Vec::new(),
            optional_dependencies: BTreeMap::new(),
            dev_dependencies: BTreeMap::new(),
            marker,
            resolution_markers: None,
            requires_dist: None,
            optional: false,
            python_versions: None,
            groups: None,
            group_markers: BTreeMap::new(),
            artifacts,
            at,
        }
    }

    /// Whether it comes from a package index.
    pub fn from_index(&self) -> bool {
        matches!(self.source, Some(Source::Registry { .. }))
    }

    /// Whether it is the project of the lock's own directory (uv locks it
    /// with the source `editable = "."` or `virtual = "."`).
    pub fn is_lock_root(&self) -> bool {
        matches!(&self.source, Some(Source::Editable { path } | Source::Virtual { path }) if path == ".")
    }

    /// Whether it is a local project inside the lock's directory (a uv
    /// workspace member, or a path dependency below it: source
    /// `editable`, `virtual` or `directory` at a relative path that does
    /// not leave the directory): its code is built and installed by the
    /// code step, never by the venv's.
    pub fn is_local_project(&self) -> bool {
        self.local_path()
            .is_some_and(|path| !path.starts_with('/') && !path.split('/').any(|part| part == ".."))
    }

    /// The directory of a local project's source (`editable`, `virtual`
    /// or `directory`), as the lock writes it (relative to the lock's).
    pub fn local_path(&self) -> Option<&str> {
        match &self.source {
            Some(
                Source::Editable { path } | Source::Virtual { path } | Source::Directory { path },
            ) => Some(path),
            _ => None,
        }
    }

    /// Its wheels.
    pub fn wheels(&self) -> impl Iterator<Item = &Artifact> {
        self.artifacts
            .iter()
            .filter(|a| matches!(a.kind, ArtifactKind::Wheel(_)))
    }

    /// Its sdist.
    pub fn sdist(&self) -> Option<&Artifact> {
        self.artifacts
            .iter()
            .find(|a| matches!(a.kind, ArtifactKind::Sdist))
    }
}

/// Where a package comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// A package index (or a local registry directory).
    Registry {
        /// The index's address.
        url: String,
    },
    /// A git repository.
    Git {
        /// The repository's address, with its reference.
        url: String,
    },
    /// A local archive or wheel.
    Path {
        /// Its path.
        path: String,
    },
    /// A local project, installed as built.
    Directory {
        /// Its directory.
        path: String,
    },
    /// A local project, installed editable.
    Editable {
        /// Its directory.
        path: String,
    },
    /// A local project that is not installed itself (a workspace root).
    Virtual {
        /// Its directory.
        path: String,
    },
    /// A direct URL to an archive.
    Url {
        /// Its address.
        url: String,
    },
    /// A source the lock names by a type pybase does not know, or without
    /// the address its type needs (Poetry's `[package.source]`).
    Other {
        /// Its type, as written.
        kind: String,
    },
}

/// A dependency edge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dependency {
    /// The package it reaches, normalized.
    pub name: String,
    /// The extras it asks for, as written.
    pub extras: Vec<String>,
    /// The environments it applies in (true without a marker; false with
    /// one pybase cannot read).
    pub marker: MarkerTree,
    /// Its marker as the lock writes it (`None`: it writes none), for a
    /// translation that must write it unchanged (poetry.lock into
    /// requirements locks). Filled by the readers of locks with edges:
    /// uv.lock and poetry.lock.
    pub marker_text: Option<String>,
    /// Its version constraint as written, when the lock records one
    /// (Poetry's; PEP 440, or Poetry's `^`/`~`).
    pub version: Option<String>,
    /// Whether only an extra of the dependent follows it (Poetry's
    /// `optional`).
    pub optional: bool,
}

/// A file a package installs from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Artifact {
    /// A wheel or an sdist.
    pub kind: ArtifactKind,
    /// Its file name: the lock's, else the last segment of its URL or
    /// path (`None`: the lock gives none of them).
    pub filename: Option<String>,
    /// Its address, when the lock gives one.
    pub url: Option<String>,
    /// Its sha256 as written, when the lock records one.
    pub sha256: Option<String>,
    /// Its size in bytes, when the lock records it (uv.lock, pylock.toml).
    pub size: Option<u64>,
    /// Where the lock records it: its sha256, else its address, else the
    /// package's line.
    pub at: Position,
}

impl Artifact {
    /// A wheel (when `wheel`) or an sdist the lock locates at `location`
    /// (its file name, URL or path), at `url` when it gives one, with the
    /// `sha256` it records, the lock saying so `at`.
    pub(crate) fn new(
        wheel: bool,
        location: Option<&str>,
        url: Option<String>,
        sha256: Option<String>,
        at: Position,
    ) -> Self {
        let filename = location.map(|location| file_name(location).to_owned());
        let kind = if wheel {
            ArtifactKind::Wheel(filename.as_deref().and_then(WheelFilename::parse))
        } else {
            ArtifactKind::Sdist
        };
        Self {
            kind,
            filename,
            url,
            sha256,
            size: None,
            at,
        }
    }

    /// This artifact, `size` bytes long as the lock records.
    pub(crate) fn with_size(mut self, size: Option<u64>) -> Self {
        self.size = size;
        self
    }
}

/// The last path segment of a URL or path: an artifact's file name.
pub(crate) fn file_name(location: &str) -> &str {
    let location = location.split(['#', '?']).next().unwrap_or(location);
    location.rsplit('/').next().unwrap_or(location)
}

/// What an artifact is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ArtifactKind {
    /// A wheel; its name's parts when its file name is a wheel's.
    Wheel(Option<WheelFilename>),
    /// A source distribution.
    Sdist,
    /// A file the lock knows only by its hash, without a name or an
    /// address, so neither a wheel nor an sdist as far as pybase can tell
    /// (a `--hash` of requirements.txt).
    Hashed,
}

/// Where the string value `value` (spanned in `text`) has its content
/// `skip` bytes in: there when the value is written plainly (quoted,
/// without escapes), else at the value's start.
pub(crate) fn position_in_string(
    text: &str,
    value: &toml::Spanned<String>,
    skip: usize,
) -> Position {
    let span = value.span();
    let plain = format!("\"{}\"", value.get_ref());
    let offset = if skip <= value.get_ref().len() && text.get(span.clone()) == Some(plain.as_str())
    {
        span.start + 1 + skip
    } else {
        span.start
    };
    position_of(text, offset)
}

/// Where a `hash = "sha256:…"` value records its digest: at the digest,
/// after the quote and the algorithm, when the value is written plainly.
pub(crate) fn hash_position(text: &str, hash: &toml::Spanned<String>) -> Position {
    let skip = if hash.get_ref().starts_with("sha256:") {
        "sha256:".len()
    } else {
        0
    };
    position_in_string(text, hash, skip)
}

/// The start of the line `offset` is on.
pub(crate) fn line_start(text: &str, offset: usize) -> Position {
    let start = text
        .get(..offset)
        .and_then(|before| before.rfind('\n'))
        .map_or(0, |newline| newline + 1);
    position_of(text, start)
}

/// The wire structs `T` of the lock `file` (a `format`) whose text is
/// `text`, or an error at the position TOML's parser gives, with `hint`.
pub(crate) fn deserialize<T: serde::de::DeserializeOwned>(
    file: &str,
    text: &str,
    format: &str,
    hint: &str,
) -> Result<T, crate::diagnostic::Diagnostic> {
    toml::from_str(text).map_err(|error| {
        let position = error
            .span()
            .map_or(Position::START, |span| position_of(text, span.start));
        let message = error.message().trim_end();
        crate::diagnostic::Diagnostic::at(
            file,
            Some(position),
            format!("not a {format} pybase can read: {message}"),
        )
        .with_hint(hint)
    })
}

/// Where the key whose value starts at `offset` starts: the first
/// character of its line that is not blank.
pub(crate) fn key_start(text: &str, offset: usize) -> Position {
    let start = text
        .get(..offset)
        .and_then(|before| before.rfind('\n'))
        .map_or(0, |newline| newline + 1);
    let indent = text
        .get(start..offset)
        .map_or(0, |line| line.len() - line.trim_start().len());
    position_of(text, start + indent)
}

/// An environment marker as a lock writes it, parsed: true without one,
/// false for one pybase cannot read (so that nothing is taken as needed on
/// a guess).
pub fn marker_or_true(marker: Option<&str>) -> MarkerTree {
    marker.map_or(MarkerTree::TRUE, |marker| {
        marker.parse().unwrap_or(MarkerTree::FALSE)
    })
}
