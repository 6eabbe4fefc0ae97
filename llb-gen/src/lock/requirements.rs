//! The `requirements.txt` reader: a requirements file that pins every
//! package, read into [`Lock`] (kind [`super::LockKind::Requirements`]).
//!
//! It is a lock when every package is pinned with `==` and its artifacts'
//! hashes, as `pip-compile --generate-hashes` and `uv export --format
//! requirements-txt` write it.
//!
//! It is read as pip reads it: a line ending in `\` is joined to the next
//! first, then `#` starts a comment at the start of the joined line or
//! after whitespace (so a comment before a `\` swallows the next line); a
//! line's requirement is its words before the first that starts with `-`,
//! a PEP 508 requirement. One whose own specifier is not a single `==` (or
//! `===`) or that has no `--hash` is refused: installing it would not be
//! exactly the lock (a `==` in its marker pins nothing), unless a
//! constraint pins and hashes it. So is `-e` (an editable install is no
//! lock), however spelled (`-e.`, `--editable=.`). `-r`/`-c` (however
//! spelled: `-rbase.txt`, `--requirement=base.txt`) name other files,
//! followed by [`super::includes`]. Other options (`--index-url`,
//! `--find-links`, …) are left to the installer. Unlike the TOML readers, this one refuses what it cannot
//! install: every refused line is a positioned problem, all reported.
//!
//! Each pinned requirement is a [`Package`]: its name as written and
//! normalized, its pinned version, its marker as written, no [`Source`]
//! (the file's index options are the installer's) and no dependency edges
//! (a requirements file records none). Each `--hash` is an [`Artifact`] of
//! kind [`ArtifactKind::Hashed`]: a file known only by its hash (no file
//! name, no URL), at the hash's digest; its `sha256` is the digest when the
//! hash is a sha256 (`--hash=sha256:…`), else `None`.
//!
//! [`Source`]: super::Source

use super::{Artifact, ArtifactKind, Lock, Package};
use crate::diagnostic::{Diagnostic, Position};
use crate::names::normalize_name;

/// The commands a hint offers to write `requirements.txt` anew, run in the
/// project's directory; each alone writes a lock pybase accepts (pinned,
/// with hashes, without the project itself: `--no-emit-project`, for
/// `-e .` is refused). `tests/relock_hints.rs` runs each.
pub const REQUIREMENTS_RELOCK: [&str; 2] = [
    "uv export --format requirements-txt --no-default-groups --no-emit-project --output-file requirements.txt",
    "pip-compile --generate-hashes --output-file requirements.txt pyproject.toml",
];
/// Read the requirements file `file` whose text is `text` into a lock, or
/// every problem, positioned. A requirement without `--hash` is one,
/// unless `require_hashes` is off (the spec's `require-hashes: false`).
/// Its `-r` and `-c` files are taken as missing: [`super::includes`]
/// reads a file with the files it includes.
pub fn read(file: &str, text: &str, require_hashes: bool) -> Result<Lock, Vec<Diagnostic>> {
    super::includes::read_including(file, text, require_hashes, &Default::default())
        .map(|flattened| flattened.lock)
}

/// The hint of every problem with a requirements lock.
pub(super) fn regenerate_requirements() -> String {
    format!(
        "regenerate it with hashes: `{}`",
        REQUIREMENTS_RELOCK.join("` or `")
    )
}

/// What one logical line of a requirements file is.
pub(super) enum Line {
    /// Blank, or a comment.
    Blank,
    /// Options pybase leaves to the installer (`--index-url …`), as
    /// written, comment removed.
    Options(String),
    /// `-r FILE` (`constraint` false) or `-c FILE`: another file to read,
    /// its path as written, the option at `at`.
    Include {
        /// Whether it is `-c`/`--constraint`.
        constraint: bool,
        /// The option as written (`-r`, `--constraint`).
        option: String,
        /// The file's path as written.
        path: String,
        /// Where the option is.
        at: Position,
    },
    /// A requirement.
    Requirement(Box<Requirement>),
}

/// A requirement line, read but not yet checked for its pin and hashes
/// (a constraint may give either).
pub(super) struct Requirement {
    /// The requirement as written (before its options).
    pub(super) text: String,
    /// Its name as written.
    pub(super) written_name: String,
    /// Its extras, as written, `[a,b]` or empty.
    pub(super) extras: String,
    /// Its marker as written.
    pub(super) marker: Option<String>,
    /// The version its own specifier pins (`==`/`===`).
    pub(super) version: Option<String>,
    /// Its specifiers, when it has some (for a pin given by a constraint).
    pub(super) specifiers: Option<pep508_rs::pep440_rs::VersionSpecifiers>,
    /// Whether it has a `--hash` option.
    pub(super) hashed: bool,
    /// Its `--hash` values as written, each with its artifact.
    pub(super) hashes: Vec<(String, Artifact)>,
    /// Where it starts.
    pub(super) at: Position,
}

impl Requirement {
    /// Its normalized name.
    pub(super) fn name(&self) -> String {
        normalize_name(&self.written_name)
    }

    /// The package it pins at `version` with `hashes` (the lock naming it
    /// `at`).
    pub(super) fn package(&self, version: String, hashes: Vec<Artifact>, at: Position) -> Package {
        package(&self.text, version, hashes, at)
    }
}

/// What the logical line `logical` of the requirements file `file` is, or
/// its problem.
pub(super) fn parse_line(file: &str, logical: &LogicalLine) -> Result<Line, Diagnostic> {
    let uncommented = &logical.text[..comment_start(&logical.text).unwrap_or(logical.text.len())];
    let entry = uncommented.trim();
    let entry_offset = uncommented.len() - uncommented.trim_start().len();
    let problem = |offset: usize, message: String| {
        Diagnostic::at(file, Some(logical.position(entry_offset + offset)), message)
            .with_hint(regenerate_requirements())
    };
    if entry.is_empty() {
        return Ok(Line::Blank);
    }
    // pip's split: the requirement is every space-separated word before
    // the first that starts with `-`; the options are the rest.
    let options_offset = options_start(entry);
    let (requirement, options) = match options_offset {
        Some(offset) => (entry[..offset].trim_end(), &entry[offset..]),
        None => (entry, ""),
    };
    if requirement.is_empty() {
        return option_line(
            options,
            |offset| logical.position(entry_offset + offset),
            problem,
        );
    }
    if let Some((offset, last)) = crate::names::unfinished_name(requirement) {
        return Err(problem(
            offset,
            format!(
                "`{requirement}` is not a PEP 508 requirement: Package name must end with an alphanumeric character, not '{last}'"
            ),
        ));
    }
    let parsed = requirement
        .parse::<pep508_rs::Requirement>()
        .map_err(|error| {
            problem(
                error.start,
                format!(
                    "`{requirement}` is not a PEP 508 requirement: {}",
                    error.message
                ),
            )
        })?;
    let hashed = words(options)
        .iter()
        .any(|(_, word)| *word == "--hash" || word.starts_with("--hash="));
    let hashes = hashes(options)
        .into_iter()
        .map(|(offset, hash)| {
            let start = entry_offset + options_offset.unwrap_or_default() + offset;
            (
                hash.to_owned(),
                hashed_artifact(hash, |skip| logical.position(start + skip)),
            )
        })
        .collect();
    let specifiers = match &parsed.version_or_url {
        Some(pep508_rs::VersionOrUrl::VersionSpecifier(specifiers)) => Some(specifiers.clone()),
        _ => None,
    };
    let extras = if parsed.extras.is_empty() {
        String::new()
    } else {
        let names: Vec<String> = parsed.extras.iter().map(ToString::to_string).collect();
        format!("[{}]", names.join(","))
    };
    Ok(Line::Requirement(Box::new(Requirement {
        text: requirement.to_owned(),
        written_name: written_name(requirement),
        extras,
        marker: written_marker(requirement).map(str::to_owned),
        version: pinned_version(&parsed),
        specifiers,
        hashed,
        hashes,
        at: logical.position(entry_offset),
    })))
}

/// A line of options alone (`options`, whose byte at an offset is at
/// `position(offset)`): another file to read (`-r`/`-c`, however spelled),
/// an editable install (`-e`, refused: it is no lock) or options left to
/// the installer.
fn option_line(
    options: &str,
    position: impl Fn(usize) -> Position,
    problem: impl Fn(usize, String) -> Diagnostic,
) -> Result<Line, Diagnostic> {
    let words = words(options);
    let Some((index, offset, option)) = words
        .iter()
        .enumerate()
        .find_map(|(index, (offset, word))| Some((index, *offset, other_file_option(word)?)))
    else {
        return Ok(Line::Options(options.to_owned()));
    };
    if matches!(option, "-e" | "--editable") {
        return Err(problem(
            offset,
            format!(
                "`{option}` is not supported in a lock: an editable install is no pinned package"
            ),
        ));
    }
    let word = words[index].1;
    let attached = word[option.len()..].trim_start_matches('=');
    let path = if attached.is_empty() {
        words.get(index + 1).map(|(_, next)| *next)
    } else {
        Some(attached)
    };
    let Some(path) = path else {
        return Err(problem(offset, format!("`{option}` names no file")));
    };
    Ok(Line::Include {
        constraint: matches!(option, "-c" | "--constraint"),
        option: option.to_owned(),
        path: path.to_owned(),
        at: position(offset),
    })
}

/// The name a requirement (as written, read as PEP 508) starts with.
fn written_name(requirement: &str) -> String {
    requirement
        .split(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// The marker of a requirement, as written.
fn written_marker(requirement: &str) -> Option<&str> {
    requirement
        .split_once(';')
        .map(|(_, marker)| marker.trim())
        .filter(|marker| !marker.is_empty())
}

/// The package `requirement` (as written, read and pinned to `version`)
/// names, its `artifacts` its hashes, the file naming it `at`.
fn package(requirement: &str, version: String, artifacts: Vec<Artifact>, at: Position) -> Package {
    // The name is the requirement's first characters (it reads as PEP 508).
    let written_name = written_name(requirement);
    let marker = written_marker(requirement);
    Package::pinned(
        &written_name,
        Some(version),
        None,
        marker.map(str::to_owned),
        artifacts,
        at,
    )
}

/// The values of the `--hash` options among `options` (`--hash=VALUE` or
/// `--hash VALUE`), each with the byte offset of its value.
fn hashes(options: &str) -> Vec<(usize, &str)> {
    let words = words(options);
    let mut hashes = Vec::new();
    for (index, (offset, word)) in words.iter().enumerate() {
        if let Some(value) = word.strip_prefix("--hash=") {
            hashes.push((offset + "--hash=".len(), value));
        } else if *word == "--hash"
            && let Some(value) = words.get(index + 1)
        {
            hashes.push(*value);
        }
    }
    hashes
}

/// The artifact a `--hash` value (`ALGORITHM:DIGEST`) records: a file
/// known only by its hash, at its digest (`position` gives where the
/// value's byte at an offset is).
fn hashed_artifact(value: &str, position: impl Fn(usize) -> Position) -> Artifact {
    let (sha256, at) = match value.split_once(':') {
        Some(("sha256", digest)) => (Some(digest.to_owned()), position("sha256:".len())),
        _ => (None, position(0)),
    };
    Artifact {
        kind: ArtifactKind::Hashed,
        filename: None,
        url: None,
        sha256,
        size: None,
        at,
    }
}

/// The version `requirement`'s own specifier pins it to: its one
/// specifier, `==` (without a wildcard) or `===`. A `==` in its marker
/// pins nothing.
fn pinned_version(requirement: &pep508_rs::Requirement) -> Option<String> {
    use pep508_rs::pep440_rs::Operator;
    let Some(pep508_rs::VersionOrUrl::VersionSpecifier(specifiers)) = &requirement.version_or_url
    else {
        return None;
    };
    match &**specifiers {
        [only] if matches!(only.operator(), Operator::Equal | Operator::ExactEqual) => {
            Some(only.version().to_string())
        }
        _ => None,
    }
}

/// The byte offset in `entry` of its first space-separated word that
/// starts with `-`: where pip's options start.
fn options_start(entry: &str) -> Option<usize> {
    let mut offset = 0;
    for word in entry.split(' ') {
        if word.starts_with('-') {
            return Some(offset);
        }
        offset += word.len() + 1;
    }
    None
}

/// The whitespace-separated words of `text`, each with its byte offset.
fn words(text: &str) -> Vec<(usize, &str)> {
    let mut words = Vec::new();
    let mut start = None;
    for (index, character) in text.char_indices() {
        match (character.is_whitespace(), start) {
            (true, Some(word_start)) => {
                words.push((word_start, &text[word_start..index]));
                start = None;
            }
            (false, None) => start = Some(index),
            _ => {}
        }
    }
    words.extend(start.map(|word_start| (word_start, &text[word_start..])));
    words
}

/// The option `word` starts with, as written, when it names another file
/// (`-r`, `--requirement`, `-c`, `--constraint`) or an editable install
/// (`-e`, `--editable`), its value attached (`-rbase.txt`, `-e.`,
/// `--requirement=base.txt`) or not.
fn other_file_option(word: &str) -> Option<&str> {
    if let Some(long) = word.strip_prefix("--") {
        let name = long.split('=').next().unwrap_or_default();
        return matches!(name, "requirement" | "constraint" | "editable")
            .then(|| &word[..2 + name.len()]);
    }
    let short = word.strip_prefix('-')?;
    matches!(short.chars().next(), Some('r' | 'c' | 'e')).then(|| &word[..2])
}

/// A logical line of a requirements file: physical lines joined as pip
/// joins them, before any comment is removed.
#[derive(Debug, Default)]
pub(super) struct LogicalLine {
    /// The joined text, comments still in.
    text: String,
    /// Where each joined part comes from, in order.
    parts: Vec<JoinedPart>,
}

/// Where a part of a [`LogicalLine`] comes from.
#[derive(Debug)]
struct JoinedPart {
    /// Its byte offset in the logical line.
    offset: usize,
    /// Its 1-based line in the file.
    line: u32,
    /// The characters of that line before it (the `\` pip strips).
    skipped: usize,
}

impl LogicalLine {
    /// Appends `part`, the text of the 1-based line `line` after `skipped`
    /// characters.
    fn push(&mut self, line: u32, skipped: usize, part: &str) {
        self.parts.push(JoinedPart {
            offset: self.text.len(),
            line,
            skipped,
        });
        self.text.push_str(part);
    }

    /// The position in the file of the byte `offset` of the line.
    fn position(&self, offset: usize) -> Position {
        let Some(part) = self.parts.iter().rev().find(|part| part.offset <= offset) else {
            return Position::START;
        };
        let before = self
            .text
            .get(part.offset..offset)
            .map_or(0, |text| text.chars().count());
        Position {
            line: part.line,
            column: u32::try_from(part.skipped + before + 1).unwrap_or(u32::MAX),
        }
    }
}

/// The logical lines of `text`, as pip's `join_lines` makes them: a line
/// ending in `\` is joined to the next, without the `\` (stripped from
/// both of its ends) and without a space. A comment line (`#`, perhaps
/// indented) never continues and ends a continued line. A UTF-8 BOM is
/// dropped, as pip's decoding drops it.
pub(super) fn logical_lines(text: &str) -> Vec<LogicalLine> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = Vec::new();
    let mut current = LogicalLine::default();
    for (index, line) in text.lines().enumerate() {
        let number = u32::try_from(index + 1).unwrap_or(u32::MAX);
        if line.trim_start().starts_with('#') {
            // pip joins it, then strips it whole as a comment.
            lines.push(std::mem::take(&mut current));
            continue;
        }
        if line.ends_with('\\') {
            let part = line.trim_start_matches('\\');
            current.push(number, line.len() - part.len(), part.trim_end_matches('\\'));
        } else {
            current.push(number, 0, line);
            lines.push(std::mem::take(&mut current));
        }
    }
    lines.push(current);
    lines
}

/// The byte offset of the comment in `line`: its first `#` at its start
/// or after whitespace.
fn comment_start(line: &str) -> Option<usize> {
    let mut previous: Option<char> = None;
    for (index, character) in line.char_indices() {
        if character == '#' && previous.is_none_or(char::is_whitespace) {
            return Some(index);
        }
        previous = Some(character);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lock::LockKind;

    /// The pins one a line, or every problem one a line.
    fn render(read: Result<Lock, Vec<Diagnostic>>) -> String {
        let lines: Vec<String> = match read {
            Ok(lock) => lock.packages.iter().map(pin_line).collect(),
            Err(problems) => problems.iter().map(ToString::to_string).collect(),
        };
        lines.join("\n")
    }

    /// `name==version @line`.
    fn pin_line(package: &Package) -> String {
        let version = package.version.as_deref().unwrap_or_default();
        format!("{}=={version} @{}", package.name, package.at.line)
    }

    fn report(text: &str) -> String {
        render(read("app/requirements.txt", text, true))
    }

    #[test]
    fn reads_what_uv_export_and_pip_compile_write() {
        let text = "# This file was autogenerated by uv via the following command:\n#    uv export\n--index-url https://pypi.org/simple\nPsycopg2==2.9.10 \\\n    --hash=sha256:aaaa \\\n    --hash=sha256:bbbb\n    # via inventory\nsix==1.17.0 ; python_version >= '3.8' \\\n    --hash=sha256:cccc\nZope.Interface===7.2 --hash=sha256:dddd # comment\n";
        insta::assert_snapshot!(report(text), @r"
        psycopg2==2.9.10 @4
        six==1.17.0 @8
        zope-interface==7.2 @10
        ");
    }

    #[test]
    fn without_require_hashes_an_unhashed_pin_is_accepted_but_still_pinned() {
        let text = "six==1.17.0\nidna>=3\n";
        assert_eq!(
            render(read("app/requirements.txt", text, false)),
            "app/requirements.txt:2:1: `idna>=3` is not pinned to one version with `==` (hint: regenerate it with hashes: `uv export --format requirements-txt --no-default-groups --no-emit-project --output-file requirements.txt` or `pip-compile --generate-hashes --output-file requirements.txt pyproject.toml`)"
        );
        assert!(read("app/requirements.txt", "six==1.17.0\n", false).is_ok());
    }

    #[test]
    fn continuation_lines_are_joined_before_comments_are_stripped() {
        // pip joins first: a comment on a line ending in `\` runs on into
        // the next line, and the joined parts meet without a space.
        let text = "six==1.17.0 --hash=sha256:aaaa # pinned by hand \\\nidna==3.10 --hash=sha256:bbbb\nPsycopg2==2.9.\\\n10 --hash=sha256:cccc\n";
        insta::assert_snapshot!(report(text), @r"
        six==1.17.0 @1
        psycopg2==2.9.10 @3
        ");
        // A comment line ends a continued requirement; what follows it is
        // a line of its own (an option line: its `--hash` is no
        // requirement's).
        let text = "attrs==24.2.0 \\\n    # via inventory\n    --hash=sha256:dddd\n";
        insta::assert_snapshot!(report(text), @"app/requirements.txt:1:1: `attrs==24.2.0` has no `--hash`: pybase installs only artifacts whose hashes the lock records (hint: regenerate it with hashes: `uv export --format requirements-txt --no-default-groups --no-emit-project --output-file requirements.txt` or `pip-compile --generate-hashes --output-file requirements.txt pyproject.toml`; or, to install it unverified, set `require-hashes: false` on its service or tier)");
    }

    #[test]
    fn other_files_are_followed_however_their_option_is_spelled() {
        let text = "-rbase.txt\n-cconstraints.txt\n-e.\n--requirement=base.txt\n--constraint=constraints.txt\n--editable=.\n--index-url https://pypi.org/simple --requirement more.txt\n";
        insta::assert_snapshot!(report(text), @r"
        app/requirements.txt:1:1: `-r base.txt` cannot be read: `app/base.txt` is not in the build context (hint: the path is relative to this file's directory; a file `.dockerignore` excludes is not in the context either)
        app/requirements.txt:2:1: `-c constraints.txt` cannot be read: `app/constraints.txt` is not in the build context (hint: the path is relative to this file's directory; a file `.dockerignore` excludes is not in the context either)
        app/requirements.txt:3:1: `-e` is not supported in a lock: an editable install is no pinned package (hint: regenerate it with hashes: `uv export --format requirements-txt --no-default-groups --no-emit-project --output-file requirements.txt` or `pip-compile --generate-hashes --output-file requirements.txt pyproject.toml`)
        app/requirements.txt:4:1: `--requirement base.txt` cannot be read: `app/base.txt` is not in the build context (hint: the path is relative to this file's directory; a file `.dockerignore` excludes is not in the context either)
        app/requirements.txt:5:1: `--constraint constraints.txt` cannot be read: `app/constraints.txt` is not in the build context (hint: the path is relative to this file's directory; a file `.dockerignore` excludes is not in the context either)
        app/requirements.txt:6:1: `--editable` is not supported in a lock: an editable install is no pinned package (hint: regenerate it with hashes: `uv export --format requirements-txt --no-default-groups --no-emit-project --output-file requirements.txt` or `pip-compile --generate-hashes --output-file requirements.txt pyproject.toml`)
        app/requirements.txt:7:37: `--requirement more.txt` cannot be read: `app/more.txt` is not in the build context (hint: the path is relative to this file's directory; a file `.dockerignore` excludes is not in the context either)
        ");
    }

    #[test]
    fn a_requirement_is_pinned_by_its_own_specifier_never_by_its_marker() {
        let text = "foo ; python_full_version==\"3.11.4\" --hash=sha256:aaaa\nbar==1.0 ; python_version == \"3.11\" --hash=sha256:bbbb\nbaz==1.0,>=0.9 --hash=sha256:cccc\n  qux=1.0 --hash=sha256:dddd\n";
        insta::assert_snapshot!(report(text), @r#"
        app/requirements.txt:1:1: `foo ; python_full_version=="3.11.4"` is not pinned to one version with `==` (hint: regenerate it with hashes: `uv export --format requirements-txt --no-default-groups --no-emit-project --output-file requirements.txt` or `pip-compile --generate-hashes --output-file requirements.txt pyproject.toml`)
        app/requirements.txt:3:1: `baz==1.0,>=0.9` is not pinned to one version with `==` (hint: regenerate it with hashes: `uv export --format requirements-txt --no-default-groups --no-emit-project --output-file requirements.txt` or `pip-compile --generate-hashes --output-file requirements.txt pyproject.toml`)
        app/requirements.txt:4:6: `qux=1.0` is not a PEP 508 requirement: no such comparison operator "=", must be one of ~= == != <= >= < > === (hint: regenerate it with hashes: `uv export --format requirements-txt --no-default-groups --no-emit-project --output-file requirements.txt` or `pip-compile --generate-hashes --output-file requirements.txt pyproject.toml`)
        "#);
        let text = "bar==1.0 ; python_version == \"3.11\" --hash=sha256:bbbb\n";
        insta::assert_snapshot!(report(text), @"bar==1.0 @1");
        // A problem on a continuation line is positioned on that line.
        let text = "six==1.17.0 ; \\\n    python_version >> '3.8' --hash=sha256:aaaa\n";
        insta::assert_snapshot!(report(text), @"app/requirements.txt:2:20: `six==1.17.0 ;     python_version >> '3.8'` is not a PEP 508 requirement: Expected a valid marker operator (such as `>=` or `not in`), found `>>` (hint: regenerate it with hashes: `uv export --format requirements-txt --no-default-groups --no-emit-project --output-file requirements.txt` or `pip-compile --generate-hashes --output-file requirements.txt pyproject.toml`)");
    }

    #[test]
    fn unpinned_unhashed_missing_and_editable_are_refused_at_their_lines() {
        let text = "six>=1.16 --hash=sha256:aaaa\nidna==3.10\n-r base.txt\n-e .\nattrs==24.* --hash=sha256:bbbb\n";
        insta::assert_snapshot!(report(text), @r"
        app/requirements.txt:1:1: `six>=1.16` is not pinned to one version with `==` (hint: regenerate it with hashes: `uv export --format requirements-txt --no-default-groups --no-emit-project --output-file requirements.txt` or `pip-compile --generate-hashes --output-file requirements.txt pyproject.toml`)
        app/requirements.txt:2:1: `idna==3.10` has no `--hash`: pybase installs only artifacts whose hashes the lock records (hint: regenerate it with hashes: `uv export --format requirements-txt --no-default-groups --no-emit-project --output-file requirements.txt` or `pip-compile --generate-hashes --output-file requirements.txt pyproject.toml`; or, to install it unverified, set `require-hashes: false` on its service or tier)
        app/requirements.txt:3:1: `-r base.txt` cannot be read: `app/base.txt` is not in the build context (hint: the path is relative to this file's directory; a file `.dockerignore` excludes is not in the context either)
        app/requirements.txt:4:1: `-e` is not supported in a lock: an editable install is no pinned package (hint: regenerate it with hashes: `uv export --format requirements-txt --no-default-groups --no-emit-project --output-file requirements.txt` or `pip-compile --generate-hashes --output-file requirements.txt pyproject.toml`)
        app/requirements.txt:5:1: `attrs==24.*` is not pinned to one version with `==` (hint: regenerate it with hashes: `uv export --format requirements-txt --no-default-groups --no-emit-project --output-file requirements.txt` or `pip-compile --generate-hashes --output-file requirements.txt pyproject.toml`)
        ");
    }

    #[test]
    fn a_pin_is_a_package_with_its_marker_and_hashes() {
        let text = "Zope.Interface==7.2 ; python_version >= '3.8' \\\n    --hash=sha256:aaaa \\\n    --hash sha512:bbbb\nsix===1.17.0 --hash=md5\n";
        let lock = read("requirements.txt", text, true).expect("a lock");
        assert_eq!(lock.kind, LockKind::Requirements);
        let [zope, six] = lock.packages.as_slice() else {
            panic!("two packages");
        };
        assert_eq!(
            (zope.name.as_str(), zope.written_name.as_str()),
            ("zope-interface", "Zope.Interface")
        );
        assert_eq!(zope.version.as_deref(), Some("7.2"));
        assert_eq!(zope.marker.as_deref(), Some("python_version >= '3.8'"));
        assert_eq!(zope.at, Position { line: 1, column: 1 });
        let hashes: Vec<_> = zope
            .artifacts
            .iter()
            .map(|a| (a.kind.clone(), a.sha256.as_deref(), a.at.line, a.at.column))
            .collect();
        assert_eq!(
            hashes,
            [
                (ArtifactKind::Hashed, Some("aaaa"), 2, 19),
                (ArtifactKind::Hashed, None, 3, 12)
            ]
        );
        assert_eq!(
            zope.wheels().count() + usize::from(zope.sdist().is_some()),
            0
        );
        assert_eq!(
            (six.version.as_deref(), six.marker.as_deref()),
            (Some("1.17.0"), None)
        );
        assert_eq!(six.artifacts.len(), 1);
    }

    #[test]
    fn a_name_ending_in_punctuation_is_refused_not_a_panic() {
        let problems = read(
            "requirements.txt",
            "six. ==1.0 --hash=sha256:aa\nsix.\n",
            true,
        )
        .expect_err("refused");
        let problems: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(problems.len(), 2);
        assert!(problems[0].starts_with("requirements.txt:1:4: `six. ==1.0` is not a PEP 508 requirement: Package name must end with an alphanumeric character, not '.'"), "{problems:?}");
        assert!(problems[1].starts_with("requirements.txt:2:4: `six.` is not a PEP 508 requirement: Package name must end with an alphanumeric character, not '.'"), "{problems:?}");
    }
}
