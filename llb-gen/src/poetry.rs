//! `poetry.lock`, read when a project has no `uv.lock`, and translated
//! into a requirements lock that uv installs with `--require-hashes`.
//!
//! Poetry (lock-version 2.1, Poetry 2) writes one `[[package]]` table per
//! locked distribution: its `version`, the dependency `groups` it belongs
//! to, its environment `markers` (a string, or a table of one marker per
//! group), the `files` of its artifacts with their hashes, and, when it
//! comes from an index other than PyPI, a `[package.source]`. The lock
//! carries no URLs: artifacts are found on the index and checked against
//! the hashes, like pip's `--require-hashes`.
//!
//! The venv gets the `main` group and the groups the spec selects; a
//! package of another group only (`dev`) is left out. A package without a
//! version or hashes, from a source pybase cannot install (git, a path,
//! a URL), or a lock written by Poetry 1 (no groups per package) is
//! refused at its `name` line: installing it would not be exactly the lock.

use crate::diagnostic::{Diagnostic, Position};
use crate::project::{normalize_name, package_line};
use crate::requirements::{Pin, lock_packages};

/// Poetry's lock file.
pub const POETRY_LOCK_FILE: &str = "poetry.lock";

/// The requirements file the translation is written to, next to the lock,
/// for uv to install.
pub const TRANSLATED_FILE: &str = "pybase-poetry-requirements.txt";

/// The group every project has: `[project].dependencies`, or
/// `[tool.poetry.dependencies]`.
const MAIN_GROUP: &str = "main";

/// What a `poetry.lock` pins for the venv.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoetryLock {
    /// The packages of the selected groups, in the lock's order.
    pub pins: Vec<Pin>,
    /// The same packages as a requirements lock: `name==version`, the
    /// marker, every hash; the indexes of `[package.source]` first.
    pub requirements: String,
    /// The artifacts of those without a marker (every environment's).
    pub artifacts: Vec<crate::artifacts::LockedArtifacts>,
}

/// The packages of `text` (the file `file`) that the venv gets (the main
/// group and `groups`, normalized names), or every problem, positioned.
pub fn parse(file: &str, text: &str, groups: &[String]) -> Result<PoetryLock, Vec<Diagnostic>> {
    let regenerate = "regenerate it with Poetry 2: `poetry lock`";
    let packages = lock_packages(file, text, "package", regenerate)?;
    let selected: Vec<String> = std::iter::once(MAIN_GROUP.to_owned())
        .chain(groups.iter().map(|g| normalize_name(g)))
        .collect();
    let mut pins = Vec::new();
    let mut lines = Vec::new();
    let mut indexes: Vec<String> = Vec::new();
    let mut artifacts = Vec::new();
    let mut problems = Vec::new();
    for package in &packages {
        let name = package
            .get("name")
            .and_then(toml::Value::as_str)
            .unwrap_or("");
        let at = package_line(text, name).unwrap_or(Position::START);
        let problem =
            |message: String| Diagnostic::at(file, Some(at), message).with_hint(regenerate);
        if name.is_empty() {
            problems.push(problem("a package without a `name`".to_owned()));
            continue;
        }
        let Some(package_groups) = package.get("groups").and_then(toml::Value::as_array) else {
            problems.push(problem(format!(
                "`{name}` lists no `groups`: a lock written by Poetry 1 does not say which packages the main group needs"
            )));
            continue;
        };
        let package_groups: Vec<String> = package_groups
            .iter()
            .filter_map(toml::Value::as_str)
            .map(normalize_name)
            .collect();
        let wanted: Vec<&String> = package_groups
            .iter()
            .filter(|g| selected.contains(g))
            .collect();
        if wanted.is_empty() {
            continue;
        }
        let Some(version) = package.get("version").and_then(toml::Value::as_str) else {
            problems.push(problem(format!(
                "`{name}` has no `version`: pybase installs only pinned packages"
            )));
            continue;
        };
        let source = package.get("source");
        match source
            .and_then(|s| s.get("type"))
            .and_then(toml::Value::as_str)
        {
            None => {}
            Some("legacy") => {
                if let Some(url) = source
                    .and_then(|s| s.get("url"))
                    .and_then(toml::Value::as_str)
                    && !indexes.iter().any(|known| known == url)
                {
                    indexes.push(url.to_owned());
                }
            }
            Some(other) => {
                problems.push(
                    Diagnostic::at(
                        file,
                        Some(at),
                        format!(
                            "`{name}` comes from a `{other}` source: pybase installs from package indexes only, each artifact checked against its hash"
                        ),
                    )
                    .with_hint("publish it to an index (a private one works with the `netrc` secret) and lock it from there"),
                );
                continue;
            }
        }
        let entries = package
            .get("files")
            .and_then(toml::Value::as_array)
            .map_or(&[][..], Vec::as_slice);
        let field = |key: &str| -> Vec<&str> {
            entries
                .iter()
                .filter_map(|f| f.get(key).and_then(toml::Value::as_str))
                .collect()
        };
        let files = field("file");
        let hashes = field("hash");
        if hashes.is_empty() {
            problems.push(problem(format!(
                "`{name}` has no `files` with a `hash`: pybase installs only artifacts whose hashes the lock records"
            )));
            continue;
        }
        let marker = marker_for(package.get("markers"), &wanted);
        if marker.is_none() {
            artifacts.push(crate::artifacts::LockedArtifacts {
                name: name.to_owned(),
                version: version.to_owned(),
                file: file.to_owned(),
                at: Some(at),
                wheels: files
                    .iter()
                    .filter(|f| f.ends_with(".whl"))
                    .map(|f| (*f).to_owned())
                    .collect(),
                has_sdist: files.iter().any(|f| !f.ends_with(".whl")),
            });
        }
        let mut line = format!("{name}=={version}");
        if let Some(marker) = marker {
            line.push_str(&format!(" ; {marker}"));
        }
        for hash in hashes {
            line.push_str(&format!(" \\\n    --hash={hash}"));
        }
        lines.push(line);
        pins.push(Pin {
            name: normalize_name(name),
            version: version.to_owned(),
            at,
        });
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let mut requirements = format!(
        "# Generated by pybase from {file} (groups: {}): every package pinned, every hash checked.\n",
        selected.join(", ")
    );
    for index in &indexes {
        requirements.push_str(&format!("--extra-index-url {index}\n"));
    }
    for line in lines {
        requirements.push_str(&line);
        requirements.push('\n');
    }
    Ok(PoetryLock {
        pins,
        requirements,
        artifacts,
    })
}

/// The marker under which the venv needs a package: the lock's `markers`
/// string, or, when it gives one per group, those of the `wanted` groups
/// joined with `or` (none when a wanted group has no marker: always).
fn marker_for(markers: Option<&toml::Value>, wanted: &[&String]) -> Option<String> {
    match markers? {
        toml::Value::String(marker) => Some(marker.clone()),
        toml::Value::Table(by_group) => {
            let mut found = Vec::new();
            for group in wanted {
                let marker = by_group
                    .iter()
                    .find(|(key, _)| normalize_name(key) == **group)
                    .and_then(|(_, value)| value.as_str())?;
                if !found.contains(&marker) {
                    found.push(marker);
                }
            }
            match found.as_slice() {
                [one] => Some((*one).to_owned()),
                _ => Some(
                    found
                        .iter()
                        .map(|marker| format!("({marker})"))
                        .collect::<Vec<_>>()
                        .join(" or "),
                ),
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(text: &str, groups: &[&str]) -> String {
        let groups: Vec<String> = groups.iter().map(|g| (*g).to_owned()).collect();
        match parse("app/poetry.lock", text, &groups) {
            Ok(lock) => {
                let pins: Vec<String> = lock
                    .pins
                    .iter()
                    .map(|p| format!("{}=={} @{}", p.name, p.version, p.at.line))
                    .collect();
                format!("{}\n---\n{}", pins.join("\n"), lock.requirements)
            }
            Err(problems) => problems
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n"),
        }
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
    fn the_main_group_becomes_a_requirements_lock_with_every_hash() {
        insta::assert_snapshot!(report(LOCK, &[]), @r#"
        six==1.17.0 @13
        tomli==2.2.1 @27
        ---
        # Generated by pybase from app/poetry.lock (groups: main): every package pinned, every hash checked.
        --extra-index-url https://pypi.example/simple
        Six==1.17.0 \
            --hash=sha256:bbbb \
            --hash=sha256:cccc
        tomli==2.2.1 ; python_version < "3.11" \
            --hash=sha256:dddd
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
        --extra-index-url https://pypi.example/simple
        iniconfig==2.0.0 \
            --hash=sha256:aaaa
        Six==1.17.0 \
            --hash=sha256:bbbb \
            --hash=sha256:cccc
        tomli==2.2.1 ; (python_version < "3.11") or (python_version < "3.12") \
            --hash=sha256:dddd
        "#);
    }

    #[test]
    fn poetry_1_locks_unhashed_packages_and_other_sources_are_refused() {
        let text = "[[package]]\nname = \"six\"\nversion = \"1.17.0\"\ncategory = \"main\"\nfiles = []\n\n[[package]]\nname = \"idna\"\nversion = \"3.10\"\ngroups = [\"main\"]\nfiles = []\n\n[[package]]\nname = \"mylib\"\nversion = \"0.1.0\"\ngroups = [\"main\"]\nfiles = []\n\n[package.source]\ntype = \"git\"\nurl = \"https://example.com/mylib.git\"\n";
        insta::assert_snapshot!(report(text, &[]), @"
        app/poetry.lock:2:1: `six` lists no `groups`: a lock written by Poetry 1 does not say which packages the main group needs (hint: regenerate it with Poetry 2: `poetry lock`)
        app/poetry.lock:8:1: `idna` has no `files` with a `hash`: pybase installs only artifacts whose hashes the lock records (hint: regenerate it with Poetry 2: `poetry lock`)
        app/poetry.lock:14:1: `mylib` comes from a `git` source: pybase installs from package indexes only, each artifact checked against its hash (hint: publish it to an index (a private one works with the `netrc` secret) and lock it from there)
        ");
        insta::assert_snapshot!(report("[[package]\n", &[]), @"app/poetry.lock:1:11: not valid TOML: unclosed array table, expected `]`");
    }
}
