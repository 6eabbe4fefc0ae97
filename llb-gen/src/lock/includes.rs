//! A requirements lock with the files it includes, as teams write them:
//! `-r FILE` (`--requirement`) reads another requirements file, `-c FILE`
//! (`--constraint`) a constraints file, each path relative to the
//! directory of the file that names it, as pip reads them.
//!
//! No I/O here: the caller hands in the files it has read
//! ([`IncludedFiles`], by build-context path), and asks which more the
//! lock names ([`wanted_includes`]) until none is left, reading them in
//! rounds (the gateway through a build-context source of exactly those
//! files, the CLI from disk). Then [`read_including`] reads the lock
//! whole.
//!
//! A path must stay in the build context (`..` is allowed while it does);
//! an absolute path, a URL, a path leaving the context, a file the context
//! lacks and a file that includes itself (through others) are refused at
//! the option's line. A problem inside an included file is positioned in
//! that file.
//!
//! The set after includes must be exactly pinned: each requirement `==`
//! in its own file or by a constraint (a `-c` file's `==`), and hashed
//! (unless the spec says `require-hashes: false`), its hashes from its own
//! line or its constraint's (both: those both list, as pip takes them). A
//! constraint alone never adds a package. A lock with includes is
//! installed from one file pybase writes ([`Flattened::text`]): every
//! requirement pinned, with its hashes, after the files' options.

use std::collections::{BTreeMap, BTreeSet};

use super::requirements::{Line, Requirement, logical_lines, parse_line, regenerate_requirements};
use super::{Artifact, Lock, LockKind};
use crate::diagnostic::{Diagnostic, Position};

/// The files a requirements lock includes, by build-context path: their
/// bytes, or `None` for a file the build context lacks. A path not in it
/// has not been read.
pub type IncludedFiles = BTreeMap<String, Option<Vec<u8>>>;

/// The file of the lock's flattened form, written next to it.
pub const FLATTENED_FILE: &str = "pybase-requirements.txt";

/// The hint for a path that is not the build context's.
const OUTSIDE_HINT: &str = "name a file in the build context by its path relative to this file's directory (`-r ../requirements-base.txt`), and copy what an outside file or URL holds into one";

/// A requirements lock read with its includes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flattened {
    /// Its packages: each requirement, pinned. A package of an included
    /// file is at the line of the root file that includes it.
    pub lock: Lock,
    /// The requirements file to install from, every requirement pinned
    /// and hashed, when the lock includes other files (`None`: it is
    /// installed as it is).
    pub text: Option<String>,
}

/// The paths of the files the lock `file` (its text `text`) includes,
/// through the files in `included`, that are not in `included` yet.
pub fn wanted_includes(file: &str, text: &str, included: &IncludedFiles) -> Vec<String> {
    let mut walk = Walk::new(included);
    walk.file(file, text, false, &mut vec![file.to_owned()], None);
    walk.wanted.into_iter().collect()
}

/// Read the requirements lock `file` (its text `text`) with the files it
/// includes (`included`; a file not in it is missing), into its packages
/// and, when it includes any, its flattened text; or every problem,
/// positioned in the file it is in.
pub fn read_including(
    file: &str,
    text: &str,
    require_hashes: bool,
    included: &IncludedFiles,
) -> Result<Flattened, Vec<Diagnostic>> {
    let mut walk = Walk::new(included);
    walk.file(file, text, false, &mut vec![file.to_owned()], None);
    let pinned = walk.pin(require_hashes);
    let mut problems = walk.problems;
    problems.sort_by_key(|(sequence, _)| *sequence);
    if !problems.is_empty() {
        return Err(problems.into_iter().map(|(_, problem)| problem).collect());
    }
    let text = walk
        .any_include
        .then(|| flattened_text(file, &walk.options, &pinned));
    let packages = pinned.into_iter().map(|pin| pin.package).collect();
    Ok(Flattened {
        lock: Lock::new(LockKind::Requirements, file, packages),
        text,
    })
}

/// A requirement or a constraint, found in a file.
struct Found {
    /// The file it is in.
    file: String,
    /// Its place in the walk's order (problems are reported in it).
    sequence: usize,
    /// Where the root file brings it in: its own line, or the `-r` line
    /// of the root file that includes its file.
    root_at: Position,
    /// The line, read.
    requirement: Box<Requirement>,
}

/// A requirement, pinned.
struct Pinned {
    /// As the flattened file writes it (`name[extras]==version ; marker`).
    line: String,
    /// Its hashes, as written.
    hashes: Vec<String>,
    /// The package.
    package: super::Package,
}

/// The walk of a lock through its includes.
struct Walk<'a> {
    /// The files read by the caller.
    included: &'a IncludedFiles,
    /// Every problem, with its place in the walk's order.
    problems: Vec<(usize, Diagnostic)>,
    /// The requirements, in order.
    requirements: Vec<Found>,
    /// The constraints, in order.
    constraints: Vec<Found>,
    /// The option lines of every file, in order, each once.
    options: Vec<String>,
    /// The files already read, and whether as constraints.
    read: BTreeSet<(String, bool)>,
    /// The included files not read yet.
    wanted: BTreeSet<String>,
    /// The next place in the walk's order.
    sequence: usize,
    /// Whether the root file includes another.
    any_include: bool,
}

impl<'a> Walk<'a> {
    fn new(included: &'a IncludedFiles) -> Self {
        Self {
            included,
            problems: Vec::new(),
            requirements: Vec::new(),
            constraints: Vec::new(),
            options: Vec::new(),
            read: BTreeSet::new(),
            wanted: BTreeSet::new(),
            sequence: 0,
            any_include: false,
        }
    }

    /// The next place in the walk's order.
    fn next(&mut self) -> usize {
        self.sequence += 1;
        self.sequence
    }

    /// Read `file` (its `text`; a constraints file when `constraint`),
    /// included through `chain` (the root first, `file` last), brought in
    /// by the root file at `root_at` (`None` for the root).
    fn file(
        &mut self,
        file: &str,
        text: &str,
        constraint: bool,
        chain: &mut Vec<String>,
        root_at: Option<Position>,
    ) {
        if !self.read.insert((file.to_owned(), constraint)) {
            return;
        }
        for logical in logical_lines(text) {
            let sequence = self.next();
            match parse_line(file, &logical) {
                Err(problem) => self.problems.push((sequence, problem)),
                Ok(Line::Blank) => {}
                Ok(Line::Options(options)) => {
                    if !self.options.contains(&options) {
                        self.options.push(options);
                    }
                }
                Ok(Line::Requirement(requirement)) => {
                    let found = Found {
                        file: file.to_owned(),
                        sequence,
                        root_at: root_at.unwrap_or(requirement.at),
                        requirement,
                    };
                    if constraint {
                        self.constraints.push(found);
                    } else {
                        self.requirements.push(found);
                    }
                }
                Ok(Line::Include {
                    constraint: is_constraint,
                    option,
                    path,
                    at,
                }) => {
                    self.any_include = true;
                    let include = Include {
                        file,
                        option: &option,
                        written: &path,
                        at,
                    };
                    self.include(&include, constraint || is_constraint, chain, root_at);
                }
            }
        }
    }

    /// Follow `include` (a constraints file when `constraint`).
    fn include(
        &mut self,
        include: &Include<'_>,
        constraint: bool,
        chain: &mut Vec<String>,
        root_at: Option<Position>,
    ) {
        let sequence = self.next();
        let path = match context_path(include.file, include.written) {
            Ok(path) => path,
            Err(why) => {
                self.problems
                    .push((sequence, include.refused(&why, OUTSIDE_HINT)));
                return;
            }
        };
        if chain.contains(&path) {
            let cycle = chain
                .iter()
                .skip_while(|file| **file != path)
                .chain(std::iter::once(&path))
                .cloned()
                .collect::<Vec<_>>()
                .join(" → ");
            self.problems.push((
                sequence,
                include.refused(
                    &format!("it includes itself: {cycle}"),
                    "a file may not include itself, directly or through others: drop one of these `-r`/`-c` lines",
                ),
            ));
            return;
        }
        let bytes = match self.included.get(&path) {
            None => {
                self.wanted.insert(path.clone());
                None
            }
            Some(bytes) => bytes.as_deref(),
        };
        let Some(bytes) = bytes else {
            self.problems.push((
                sequence,
                include.refused(
                    &format!("`{path}` is not in the build context"),
                    "the path is relative to this file's directory; a file `.dockerignore` excludes is not in the context either",
                ),
            ));
            return;
        };
        let Ok(text) = std::str::from_utf8(bytes) else {
            let problem =
                Diagnostic::at(&path, Some(Position::START), "the file is not valid UTF-8");
            self.problems.push((sequence, problem));
            return;
        };
        chain.push(path.clone());
        self.file(&path, text, constraint, chain, root_at.or(Some(include.at)));
        chain.pop();
    }

    /// Every requirement, pinned by itself or by its constraint; a
    /// problem at each one that is not pinned, or not hashed when
    /// `require_hashes`.
    fn pin(&mut self, require_hashes: bool) -> Vec<Pinned> {
        let mut pinned = Vec::new();
        let requirements = std::mem::take(&mut self.requirements);
        for found in &requirements {
            let constraint = self
                .constraints
                .iter()
                .find(|c| c.requirement.name() == found.requirement.name());
            match pin_one(
                found,
                constraint,
                require_hashes,
                !self.constraints.is_empty(),
            ) {
                Ok(pin) => pinned.push(pin),
                Err(problem) => self.problems.push((found.sequence, problem)),
            }
        }
        pinned
    }
}

/// An `-r`/`-c` option of a file.
struct Include<'a> {
    /// The file that names it.
    file: &'a str,
    /// The option as written.
    option: &'a str,
    /// The path as written.
    written: &'a str,
    /// Where the option is.
    at: Position,
}

impl Include<'_> {
    /// The error that refuses it, `why`, with `hint`.
    fn refused(&self, why: &str, hint: &str) -> Diagnostic {
        Diagnostic::at(
            self.file,
            Some(self.at),
            format!("`{} {}` cannot be read: {why}", self.option, self.written),
        )
        .with_hint(hint)
    }
}

/// `found`, pinned by its own `==` or `constraint`'s, hashed by its own
/// `--hash` or the constraint's; the problem otherwise (`constrained`:
/// whether the lock has constraints, for the message).
fn pin_one(
    found: &Found,
    constraint: Option<&Found>,
    require_hashes: bool,
    constrained: bool,
) -> Result<Pinned, Diagnostic> {
    let requirement = &found.requirement;
    let text = &requirement.text;
    let at_requirement =
        |message: String| Diagnostic::at(&found.file, Some(requirement.at), message);
    let constraint_pin = constraint.and_then(|c| Some((c, c.requirement.version.clone()?)));
    let version = match (&requirement.version, &constraint_pin) {
        (Some(own), Some((c, theirs))) if own != theirs => {
            return Err(at_requirement(format!(
                "`{text}` contradicts the constraint `{}` ({}:{})",
                c.requirement.text, c.file, c.requirement.at.line
            ))
            .with_hint("pin it at one version: drop the pin here or change the constraint"));
        }
        (Some(own), _) => own.clone(),
        (None, Some((c, theirs))) => {
            let allowed = requirement.specifiers.as_ref().is_none_or(|specifiers| {
                theirs
                    .parse::<pep440_rs::Version>()
                    .is_ok_and(|version| specifiers.contains(&version))
            });
            if !allowed {
                return Err(at_requirement(format!(
                    "`{text}` excludes {theirs}, the version the constraint `{}` ({}:{}) pins",
                    c.requirement.text, c.file, c.requirement.at.line
                ))
                .with_hint("change the requirement or the constraint so that they agree"));
            }
            theirs.clone()
        }
        (None, None) => {
            let message = if constrained {
                format!("`{text}` is not pinned to one version with `==`, here or by a constraint")
            } else {
                format!("`{text}` is not pinned to one version with `==`")
            };
            let hint = if constrained {
                "pin it with `==` and its `--hash` here or in a constraints file (`-c`)".to_owned()
            } else {
                regenerate_requirements()
            };
            return Err(at_requirement(message).with_hint(hint));
        }
    };
    let hashes = hashes_of(found, constraint);
    let (own_hashed, their_hashed) = (
        requirement.hashed,
        constraint.is_some_and(|c| c.requirement.hashed),
    );
    if require_hashes
        && (!own_hashed && !their_hashed || own_hashed && their_hashed && hashes.is_empty())
    {
        let message = if own_hashed {
            format!(
                "`{text}` has no `--hash` that its constraint also lists: pip and uv would install neither"
            )
        } else {
            format!(
                "`{text}` has no `--hash`: pybase installs only artifacts whose hashes the lock records"
            )
        };
        return Err(at_requirement(message).with_hint(format!(
            "{}; or, to install it unverified, set `require-hashes: false` on its service or tier",
            regenerate_requirements()
        )));
    }
    let line = format!(
        "{}{}=={version}{}",
        requirement.written_name,
        requirement.extras,
        requirement
            .marker
            .as_deref()
            .map(|marker| format!(" ; {marker}"))
            .unwrap_or_default()
    );
    let artifacts: Vec<Artifact> = hashes
        .iter()
        .map(|(_, artifact)| artifact.clone())
        .collect();
    Ok(Pinned {
        line,
        hashes: hashes.into_iter().map(|(written, _)| written).collect(),
        package: requirement.package(version, artifacts, found.root_at),
    })
}

/// The hashes `found` installs with: its own, else its constraint's, and
/// with both those both list.
fn hashes_of(found: &Found, constraint: Option<&Found>) -> Vec<(String, Artifact)> {
    let own = &found.requirement.hashes;
    match constraint.map(|c| &c.requirement.hashes) {
        Some(theirs) if own.is_empty() => theirs.clone(),
        Some(theirs) if !theirs.is_empty() => own
            .iter()
            .filter(|(written, _)| theirs.iter().any(|(other, _)| other == written))
            .cloned()
            .collect(),
        _ => own.clone(),
    }
}

/// The flattened requirements file of the lock `file`: a header, the
/// files' option lines, then each pinned requirement with its hashes.
fn flattened_text(file: &str, options: &[String], pinned: &[Pinned]) -> String {
    let mut text = format!(
        "# {file} with the files it includes (-r, -c), every requirement pinned: written by pybase\n"
    );
    for option in options {
        text.push_str(option);
        text.push('\n');
    }
    for pin in pinned {
        text.push_str(&pin.line);
        for hash in &pin.hashes {
            text.push_str(" \\\n    --hash=");
            text.push_str(hash);
        }
        text.push('\n');
    }
    text
}

/// The build-context path of `written`, a path the file `file` names
/// (relative to its directory, as pip reads it), or why it has none: a
/// URL, an absolute path, or one that leaves the context.
pub fn context_path(file: &str, written: &str) -> Result<String, String> {
    if written.contains("://") || written.starts_with("file:") {
        return Err("a URL is not read: pybase reads files of the build context only".to_owned());
    }
    if written.starts_with('/') || written.starts_with('\\') || written.get(1..2) == Some(":") {
        return Err(
            "an absolute path is not in the build context: name it relative to this file"
                .to_owned(),
        );
    }
    let mut parts: Vec<&str> = file.split('/').collect();
    parts.pop();
    for part in written.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err("it leaves the build context (`..`)".to_owned());
                }
            }
            _ => parts.push(part),
        }
    }
    if parts.is_empty() {
        return Err("it names no file".to_owned());
    }
    Ok(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIX: &str = "sha256:1b2c3d";
    const IDNA: &str = "sha256:4e5f60";

    fn files(list: &[(&str, &str)]) -> IncludedFiles {
        list.iter()
            .map(|(path, text)| ((*path).to_owned(), Some(text.as_bytes().to_vec())))
            .collect()
    }

    /// The flattened text, or every problem one a line.
    fn report(root: &str, included: &IncludedFiles) -> String {
        match read_including("services/api/requirements.txt", root, true, included) {
            Ok(flattened) => flattened.text.unwrap_or_else(|| "(as written)".to_owned()),
            Err(problems) => problems
                .iter()
                .map(|p| {
                    format!(
                        "{}:{}:{}: {}",
                        p.file,
                        p.position.map_or(0, |p| p.line),
                        p.position.map_or(0, |p| p.column),
                        p.message
                    )
                })
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }

    #[test]
    fn nested_requirement_files_are_read_relative_to_the_file_that_names_them() {
        let included = files(&[
            (
                "services/requirements-base.txt",
                "--index-url https://pypi.org/simple\n-r common/more.txt\n",
            ),
            (
                "services/common/more.txt",
                &format!("six==1.17.0 --hash={SIX}\n"),
            ),
        ]);
        let root = format!("-r ../requirements-base.txt\nidna==3.10 --hash={IDNA}\n");
        assert_eq!(
            wanted_includes("services/api/requirements.txt", &root, &Default::default()),
            ["services/requirements-base.txt"]
        );
        let first_round = files(&[("services/requirements-base.txt", "-r common/more.txt\n")]);
        assert_eq!(
            wanted_includes("services/api/requirements.txt", &root, &first_round),
            ["services/common/more.txt"]
        );
        assert!(wanted_includes("services/api/requirements.txt", &root, &included).is_empty());
        insta::assert_snapshot!(report(&root, &included), @r"
        # services/api/requirements.txt with the files it includes (-r, -c), every requirement pinned: written by pybase
        --index-url https://pypi.org/simple
        six==1.17.0 \
            --hash=sha256:1b2c3d
        idna==3.10 \
            --hash=sha256:4e5f60
        ");
        // A package of an included file is at the root's `-r` line.
        let lock = read_including("services/api/requirements.txt", &root, true, &included)
            .expect("a lock")
            .lock;
        let at: Vec<_> = lock
            .packages
            .iter()
            .map(|p| (p.name.as_str(), p.at.line))
            .collect();
        assert_eq!(at, [("six", 1), ("idna", 2)]);
    }

    #[test]
    fn a_constraint_pins_and_hashes_an_unpinned_requirement_and_adds_nothing() {
        let included = files(&[(
            "services/constraints.txt",
            &format!(
                "Six==1.17.0 --hash={SIX}\nidna==3.10 --hash={IDNA}\nattrs==24.2.0 --hash=sha256:00\n"
            ),
        )]);
        let root = "-c ../constraints.txt\nsix\nidna>=3 ; python_version >= '3.8'\n";
        insta::assert_snapshot!(report(root, &included), @r"
        # services/api/requirements.txt with the files it includes (-r, -c), every requirement pinned: written by pybase
        six==1.17.0 \
            --hash=sha256:1b2c3d
        idna==3.10 ; python_version >= '3.8' \
            --hash=sha256:4e5f60
        ");
        // A hash on both lines: the ones both list.
        let root = format!("-c ../constraints.txt\nsix==1.17.0 --hash={SIX} --hash=sha256:ff\n");
        insta::assert_snapshot!(report(&root, &included), @r"
        # services/api/requirements.txt with the files it includes (-r, -c), every requirement pinned: written by pybase
        six==1.17.0 \
            --hash=sha256:1b2c3d
        ");
    }

    #[test]
    fn what_no_file_pins_or_hashes_is_refused_at_its_line_in_its_file() {
        let included = files(&[
            ("services/constraints.txt", "six==1.17.0\nidna<4\n"),
            (
                "services/requirements-base.txt",
                "idna\nsix\nattrs==24.2.0 --hash=sha256:00\nattrs>=\n",
            ),
        ]);
        let root =
            "-r ../requirements-base.txt\n-c ../constraints.txt\nsix==1.16.0 --hash=sha256:aa\n";
        insta::assert_snapshot!(report(root, &included), @r"
        services/requirements-base.txt:1:1: `idna` is not pinned to one version with `==`, here or by a constraint
        services/requirements-base.txt:2:1: `six` has no `--hash`: pybase installs only artifacts whose hashes the lock records
        services/requirements-base.txt:4:6: `attrs>=` is not a PEP 508 requirement: Unexpected end of version specifier, expected version
        services/api/requirements.txt:3:1: `six==1.16.0` contradicts the constraint `six==1.17.0` (services/constraints.txt:1)
        ");
    }

    #[test]
    fn cycles_escapes_urls_and_missing_files_are_refused_at_the_option() {
        let included = files(&[
            ("services/api/a.txt", "-r b.txt\n"),
            ("services/api/b.txt", "-r a.txt\n"),
        ]);
        let mut with_missing = included.clone();
        with_missing.insert("services/api/gone.txt".to_owned(), None);
        let root = "-r a.txt\n-r ../../../outside.txt\n--constraint=/etc/constraints.txt\n-r https://example.com/r.txt\n-rgone.txt\n-r requirements.txt\n";
        insta::assert_snapshot!(report(root, &with_missing), @r"
        services/api/b.txt:1:1: `-r a.txt` cannot be read: it includes itself: services/api/a.txt → services/api/b.txt → services/api/a.txt
        services/api/requirements.txt:2:1: `-r ../../../outside.txt` cannot be read: it leaves the build context (`..`)
        services/api/requirements.txt:3:1: `--constraint /etc/constraints.txt` cannot be read: an absolute path is not in the build context: name it relative to this file
        services/api/requirements.txt:4:1: `-r https://example.com/r.txt` cannot be read: a URL is not read: pybase reads files of the build context only
        services/api/requirements.txt:5:1: `-r gone.txt` cannot be read: `services/api/gone.txt` is not in the build context
        services/api/requirements.txt:6:1: `-r requirements.txt` cannot be read: it includes itself: services/api/requirements.txt → services/api/requirements.txt
        ");
    }

    #[test]
    fn a_lock_without_includes_has_no_flattened_file() {
        let root = format!("six==1.17.0 --hash={SIX}\n");
        assert_eq!(report(&root, &Default::default()), "(as written)");
    }

    #[test]
    fn context_paths_stay_in_the_context() {
        assert_eq!(
            context_path("requirements.txt", "base.txt").as_deref(),
            Ok("base.txt")
        );
        assert_eq!(
            context_path("a/b/r.txt", "./../c/./x.txt").as_deref(),
            Ok("a/c/x.txt")
        );
        assert!(context_path("a/r.txt", "../../x.txt").is_err());
        assert!(context_path("r.txt", "C:/x.txt").is_err());
    }
}
