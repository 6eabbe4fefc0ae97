//! Property tests of the lock readers: no text makes the uv.lock format
//! check, the uv.lock, the pylock.toml, the requirements.txt, the
//! poetry.lock, the pdm.lock or the Pipfile.lock reader panic, every error they
//! return has a position inside the text, and every position the model
//! they return carries is inside the text too.
//!
//! Two generators: arbitrary text, and a lock (the fixture project's
//! uv.lock, a pylock.toml of a wheel and an sdist, the inventory's
//! requirements.txt, Poetry 2's and Poetry 1.2's poetry.lock, PDM's
//! pdm.lock and Pipenv's Pipfile.lock of the same project) with random edits (lines deleted, duplicated or swapped; bytes deleted,
//! replaced or inserted; TOML tokens inserted).

use llb_gen::diagnostic::Diagnostic;
use llb_gen::diagnostic::Position;
use llb_gen::lock::{Lock, pdm, pipfile, poetry, pylock, requirements, uv};
use proptest::prelude::*;

const FIXTURE: &str = include_str!("../../testdata/projects/inventory/uv.lock");

/// A requirements.txt as `uv export` writes it: pins with hashes.
const REQUIREMENTS: &str = include_str!("../../testdata/locks/inventory-requirements.txt");

/// A poetry.lock of lock-version 2.1: each package with its `files`.
const POETRY: &str = include_str!("../../testdata/locks/inventory-poetry.lock");

/// A poetry.lock of lock-version 1.1: the files in `[metadata.files]`.
const POETRY_1_1: &str = include_str!("../../testdata/locks/inventory-poetry1.2.lock");

/// A pdm.lock as `pdm lock` writes it: groups, files with hashes.
const PDM: &str = include_str!("../../testdata/locks/inventory-pdm.lock");

/// A Pipfile.lock as `pipenv lock` writes it: JSON, sections, hashes.
const PIPFILE_LOCK: &str = include_str!("../../testdata/locks/inventory-Pipfile.lock");

/// A pylock.toml as `uv export` writes it: a wheel and an sdist.
const PYLOCK: &str = r#"lock-version = "1.0"
created-by = "uv"

[[packages]]
name = "six"
version = "1.17.0"
index = "https://pypi.org/simple"
wheels = [{ url = "https://x/six-1.17.0-py2.py3-none-any.whl", hashes = { sha256 = "b6a85871a79d2e3b22d2d1b94ac2824226a63c6b741c88f7ae975f18b6778374" } }]

[[packages]]
name = "psycopg2"
version = "2.9.10"
marker = "sys_platform == 'linux'"
sdist = { url = "https://x/psycopg2-2.9.10.tar.gz", hashes = { sha256 = "2d91e135bf72d31a410b17c16da610a82cb55f6b0477d1a902134b24a455b8b3" } }
"#;

/// A lock reader.
type Reader = fn(&str, &str) -> Result<Lock, Diagnostic>;

/// One random edit of a lock's text.
#[derive(Clone, Debug)]
enum Edit {
    DeleteLine(usize),
    DuplicateLine(usize),
    SwapLines(usize, usize),
    DeleteByte(usize),
    ReplaceByte(usize, u8),
    InsertToken(usize, &'static str),
}

/// Pieces of TOML, of uv.lock and of requirements.txt that turn a valid lock into a subtly
/// wrong one.
const TOKENS: &[&str] = &[
    "[[package]]\n",
    "[package.dev-dependencies]\n",
    "name = 1\n",
    "name = \"x\"\n",
    "version = 2\n",
    "source = \"registry\"\n",
    "wheels = {}\n",
    "sdist = []\n",
    "dependencies = [{ extra = 1 }]\n",
    "resolution-markers = [\"python_version >\"]\n",
    "hash = \"sha256:\"",
    "[package.dependencies]\n",
    "[metadata.files]\n",
    "markers = { main = 1 }\n",
    "files = [{ hash = 1 }]\n",
    "\"",
    "{",
    "]",
    "=",
    "\n",
    "é",
    "\u{feff}",
    " --hash=sha256:",
    " --hash ",
    " \\\n",
    "# ",
    "-r base.txt\n",
    " ; python_version >",
    "==",
];

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        any::<usize>().prop_map(Edit::DeleteLine),
        any::<usize>().prop_map(Edit::DuplicateLine),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Edit::SwapLines(a, b)),
        any::<usize>().prop_map(Edit::DeleteByte),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::ReplaceByte(i, b)),
        (any::<usize>(), proptest::sample::select(TOKENS))
            .prop_map(|(i, t)| Edit::InsertToken(i, t)),
    ]
}

/// `text` with `edit` applied (bytes that are no longer UTF-8 replaced).
fn apply(text: &str, edit: &Edit) -> String {
    let at = |i: usize, len: usize| if len == 0 { 0 } else { i % len };
    let mut lines: Vec<&str> = text.split('\n').collect();
    let n = lines.len();
    let mut bytes = text.as_bytes().to_vec();
    match *edit {
        Edit::DeleteLine(i) => {
            lines.remove(at(i, n));
            return lines.join("\n");
        }
        Edit::DuplicateLine(i) => {
            let i = at(i, n);
            lines.insert(i, lines[i]);
            return lines.join("\n");
        }
        Edit::SwapLines(i, j) => {
            lines.swap(at(i, n), at(j, n));
            return lines.join("\n");
        }
        Edit::DeleteByte(i) if !bytes.is_empty() => {
            bytes.remove(at(i, bytes.len()));
        }
        Edit::ReplaceByte(i, b) if !bytes.is_empty() => {
            let i = at(i, bytes.len());
            bytes[i] = b;
        }
        Edit::InsertToken(i, token) => {
            let i = at(i, bytes.len() + 1);
            bytes.splice(i..i, token.bytes());
        }
        _ => {}
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Whether `position` lies in `text` (the line after the last allowed, for
/// "unexpected end").
fn within(position: Position, text: &str) -> bool {
    let lines = text.split('\n').count();
    position.line >= 1 && position.line as usize <= lines + 1 && position.column >= 1
}

/// The requirements.txt reader, as a [`Reader`]: its first problem (every
/// problem is checked by [`check_requirements`]).
fn read_requirements(file: &str, text: &str) -> Result<Lock, Diagnostic> {
    check_requirements(text);
    requirements::read(file, text, true)
        .map_err(|problems| problems.into_iter().next().expect("a problem"))
}

/// Read `text` as a pylock.toml pybase installs: every problem must have a
/// message and a position inside the text.
fn read_installable_pylock(file: &str, text: &str) -> Result<Lock, Diagnostic> {
    pylock::read_installable(file, text).map_err(|problems| {
        for problem in &problems {
            assert!(!problem.message.is_empty(), "a problem without a message");
            let position = problem.position.expect("every problem has a position");
            assert!(within(position, text), "{problem} points outside the text");
        }
        problems.into_iter().next().expect("a problem")
    })
}

/// Read `text` as requirements.txt, with and without hashes required:
/// every problem must have a message and a position inside the text.
fn check_requirements(text: &str) {
    for require_hashes in [true, false] {
        if let Err(problems) = requirements::read("requirements.txt", text, require_hashes) {
            assert!(!problems.is_empty(), "a failure without a problem");
            for problem in &problems {
                assert!(!problem.message.is_empty(), "a problem without a message");
                let position = problem.position.expect("every problem has a position");
                assert!(within(position, text), "{problem} points outside the text");
            }
        }
    }
}

/// Read `text`: an error must have a message and a position inside the
/// text; a lock's package and artifact positions must be inside it too.
fn check(read: Reader, text: &str) {
    if let Err(error) = uv::check_format_version("uv.lock", text) {
        let position = error.position.expect("a format error has a position");
        assert!(within(position, text), "{error} points outside the text");
    }
    match read("uv.lock", text) {
        Err(error) => {
            assert!(!error.message.is_empty(), "an error without a message");
            let position = error.position.expect("every reader error has a position");
            assert!(within(position, text), "{error} points outside the text");
        }
        Ok(lock) => {
            for package in &lock.packages {
                assert!(
                    within(package.at, text),
                    "{} at {:?}",
                    package.name,
                    package.at
                );
                for artifact in &package.artifacts {
                    assert!(within(artifact.at, text), "{artifact:?}");
                }
            }
        }
    }
}

#[test]
fn the_sample_locks_read() {
    let lock = uv::read("uv.lock", FIXTURE).expect("the fixture reads");
    assert!(lock.packages.iter().any(|p| p.name == "inventory"));
    let lock = pylock::read("pylock.toml", PYLOCK).expect("the pylock reads");
    let positions: Vec<(u32, u32)> = lock
        .packages
        .iter()
        .flat_map(|p| p.artifacts.iter().map(|a| (a.at.line, a.at.column)))
        .collect();
    assert_eq!(positions, [(8, 85), (14, 74)]);
    let lock = requirements::read("requirements.txt", REQUIREMENTS, true).expect("it reads");
    let pins: Vec<(&str, Option<&str>, usize)> = lock
        .packages
        .iter()
        .map(|p| (p.name.as_str(), p.version.as_deref(), p.artifacts.len()))
        .collect();
    assert_eq!(
        pins,
        [("psycopg2", Some("2.9.10"), 6), ("six", Some("1.17.0"), 2)]
    );
    let first = &lock.packages[0].artifacts[0];
    assert_eq!((first.at.line, first.at.column), (4, 19));
    let lock = pdm::read("pdm.lock", PDM).expect("the pdm.lock reads");
    let groups: Vec<(&str, Option<&[String]>)> = lock
        .packages
        .iter()
        .map(|p| (p.name.as_str(), p.groups.as_deref()))
        .collect();
    assert_eq!(groups.len(), 3, "{groups:?}");
    assert!(
        lock.packages
            .iter()
            .all(|p| p.artifacts.iter().all(|a| a.sha256.is_some()))
    );
    let lock = pipfile::read("Pipfile.lock", PIPFILE_LOCK).expect("the Pipfile.lock reads");
    let sections: Vec<(&str, Option<&[String]>, usize)> = lock
        .packages
        .iter()
        .map(|p| (p.name.as_str(), p.groups.as_deref(), p.artifacts.len()))
        .collect();
    assert_eq!(sections.len(), 3, "{sections:?}");
    assert_eq!((sections[0].0, sections[0].2), ("psycopg2", 10));
    for sample in [POETRY, POETRY_1_1] {
        let lock = poetry::read("poetry.lock", sample).expect("the poetry.lock reads");
        assert!(
            lock.packages
                .iter()
                .all(|p| !p.artifacts.is_empty() && p.artifacts.iter().all(|a| a.sha256.is_some()))
        );
    }
}

fn reader() -> impl Strategy<Value = (Reader, &'static str)> {
    prop_oneof![
        Just((uv::read as Reader, FIXTURE)),
        Just((pylock::read as Reader, PYLOCK)),
        Just((read_installable_pylock as Reader, PYLOCK)),
        Just((read_requirements as Reader, REQUIREMENTS)),
        Just((poetry::read as Reader, POETRY)),
        Just((poetry::read as Reader, POETRY_1_1)),
        Just((pdm::read as Reader, PDM)),
        Just((pipfile::read as Reader, PIPFILE_LOCK)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn arbitrary_text_never_panics_a_lock_reader((read, _) in reader(), text in ".{0,512}") {
        check(read, &text);
    }

    #[test]
    fn edited_locks_never_panic_a_lock_reader(
        (read, sample) in reader(),
        edits in proptest::collection::vec(edit(), 1..8),
    ) {
        let mut text = sample.to_owned();
        for edit in &edits {
            text = apply(&text, edit);
        }
        check(read, &text);
    }
}
