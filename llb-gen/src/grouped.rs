//! Locks of pins that record per package the groups that need it
//! (`pdm.lock`, `Pipfile.lock`), read when a project has no `uv.lock`:
//! the packages of the selected groups, translated into requirements locks
//! that uv installs with `--require-hashes`, one per package index, as a
//! `poetry.lock` is (`poetry.rs`, whose [`crate::poetry::IndexRequirements`]
//! and install path they share).
//!
//! The readers (`lock/pdm.rs`, `lock/pipfile.rs`) give each package its
//! `groups` and its marker as written; neither format needs a walk of
//! dependency edges, as both write the groups and the environments of every
//! package. What the venv gets is every package one of whose groups is
//! selected (the caller says which: PDM's `default` and the spec's groups
//! and extras; Pipenv's `default` and its `develop` section), each line
//! `name==version ; marker` with every hash the lock records, in the lock's
//! order. A package the lock records without `groups`, a version or a
//! hash, or from a source that is not an index (git, a path, a URL), is
//! refused at its name, with the format's relock command: installing it
//! would not be exactly the lock; the project itself (Pipenv's `-e .`,
//! a path `.`) is left to the code stage. PDM writes a second entry for a package
//! locked with extras (its `extras`); the base entry pins it, so that one
//! is not written again.

use crate::diagnostic::Diagnostic;
use crate::lock::{Lock, Package, Source};
use crate::names::normalize_name;
use crate::poetry::PoetryLock;
use crate::requirements::Pin;

/// The name of the translation's file at `position` (0-based) of a lock
/// of the format `kind`: `pybase-pdm-requirements.txt` (a Pipfile.lock's:
/// `pybase-pipfile-requirements.txt`), then `pybase-pdm-requirements-2.txt`
/// and so on, next to the lock.
pub fn translated_file(kind: crate::lock::LockKind, position: usize) -> String {
    let format = if kind == crate::lock::LockKind::Pipfile {
        "pipfile"
    } else {
        "pdm"
    };
    match position {
        0 => format!("pybase-{format}-requirements.txt"),
        _ => format!("pybase-{format}-requirements-{}.txt", position + 1),
    }
}

/// The addresses of PyPI's simple index, the default index: a package
/// from it is written without `--index-url`.
const PYPI: [&str; 2] = ["https://pypi.org/simple", "https://pypi.org/simple/"];

/// The packages of `lock` that the venv gets (those of one of `groups`,
/// normalized), translated, or every problem, positioned, each with the
/// `relock` hint.
pub fn translate(
    lock: &Lock,
    groups: &[String],
    relock: &str,
) -> Result<PoetryLock, Vec<Diagnostic>> {
    let mut problems = Vec::new();
    let mut pins = Vec::new();
    let mut lines: Vec<(Option<String>, String)> = Vec::new();
    let mut indexes: Vec<String> = Vec::new();
    let mut selected = Vec::new();
    let problem = |package: &Package, message: String| {
        Diagnostic::at(&lock.file, Some(package.at), message).with_hint(relock)
    };
    for package in &lock.packages {
        // The project itself (Pipenv's `-e .`): the code stage installs it.
        let the_project = matches!(&package.source, Some(Source::Directory { path }) if path == "." || path == "./");
        if crate::lock::pdm::is_extras_entry(package) || the_project {
            continue;
        }
        let name = &package.written_name;
        let Some(package_groups) = &package.groups else {
            problems.push(problem(
                package,
                format!("`{name}` lists no `groups`: pybase cannot tell which groups need it"),
            ));
            continue;
        };
        if !package_groups
            .iter()
            .any(|group| groups.contains(&normalize_name(group)))
        {
            continue;
        }
        let Some(version) = package.version.as_deref() else {
            problems.push(problem(
                package,
                format!("`{name}` has no pinned version: pybase installs only pinned packages"),
            ));
            continue;
        };
        let index = match index(package) {
            Ok(index) => index,
            Err(kind) => {
                problems.push(
                    Diagnostic::at(&lock.file, Some(package.at), format!(
                        "`{name}` comes from a `{kind}` source: pybase installs from package indexes only, each artifact checked against its hash"
                    ))
                    .with_hint("publish it to an index (a private one works with the `netrc` secret) and lock it from there"),
                );
                continue;
            }
        };
        let hashes = crate::poetry::sha256s(package);
        if hashes.is_empty() {
            problems.push(problem(
                package,
                format!("`{name}` has no sha256 hash: pybase installs only artifacts whose hashes the lock records"),
            ));
            continue;
        }
        if let Some(url) = &index
            && !indexes.contains(url)
        {
            indexes.push(url.clone());
        }
        let line =
            crate::poetry::requirement_line(name, version, package.marker.as_deref(), &hashes);
        lines.push((index.clone(), line));
        pins.push(Pin {
            name: package.name.clone(),
            version: version.to_owned(),
            at: package.at,
        });
        let mut package = package.clone();
        package.source = Some(Source::Registry {
            url: index.unwrap_or_else(|| PYPI[0].to_owned()),
        });
        selected.push(crate::select::Selected {
            needed_when: crate::lock::marker_or_true(package.marker.as_deref()),
            package,
        });
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let header = format!(
        "# Generated by pybase from {} (groups: {}): every package pinned, every hash checked.\n",
        lock.file,
        groups.join(", ")
    );
    Ok(PoetryLock {
        requirements: crate::poetry::requirements_by_index(&header, &indexes, &lines),
        pins,
        selection: crate::select::Selection::of(lock.kind, &lock.file, selected),
    })
}

/// The index `package` is looked up on (`None`: PyPI, the default), or the
/// kind of its source when that is not an index.
fn index(package: &Package) -> Result<Option<String>, &'static str> {
    match &package.source {
        None => Ok(None),
        Some(Source::Registry { url }) if PYPI.contains(&url.as_str()) => Ok(None),
        Some(Source::Registry { url }) => Ok(Some(url.clone())),
        Some(Source::Git { .. }) => Err("git"),
        Some(Source::Path { .. }) => Err("file"),
        Some(Source::Directory { .. } | Source::Editable { .. } | Source::Virtual { .. }) => {
            Err("directory")
        }
        Some(Source::Url { .. }) => Err("url"),
        Some(Source::Other { .. }) => Err("unknown"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCK: &str = r#"[metadata]
groups = ["default", "dev"]

[[package]]
name = "six"
version = "1.17.0"
groups = ["default"]
marker = "python_version >= \"3.8\""
files = [
    {file = "six-1.17.0-py2.py3-none-any.whl", hash = "sha256:aa"},
    {file = "six-1.17.0.tar.gz", hash = "sha256:bb"},
]

[[package]]
name = "iniconfig"
version = "2.0.0"
groups = ["dev"]
files = [
    {file = "iniconfig-2.0.0-py3-none-any.whl", hash = "sha256:cc"},
]
"#;

    fn translated(text: &str, groups: &[&str]) -> Result<String, String> {
        let lock = crate::lock::pdm::read("app/pdm.lock", text).map_err(|d| d.to_string())?;
        let groups: Vec<String> = groups.iter().map(|g| (*g).to_owned()).collect();
        translate(&lock, &groups, "run `pdm lock`")
            .map(|t| t.requirements.iter().map(|r| r.text.as_str()).collect())
            .map_err(|problems| {
                problems
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("\n")
            })
    }

    #[test]
    fn the_selected_groups_are_pinned_with_their_markers_and_every_hash() {
        insta::assert_snapshot!(translated(LOCK, &["default"]).expect("translates"), @r#"
        # Generated by pybase from app/pdm.lock (groups: default): every package pinned, every hash checked.
        six==1.17.0 ; python_version >= "3.8" \
            --hash=sha256:aa \
            --hash=sha256:bb
        "#);
        let both = translated(LOCK, &["default", "dev"]).expect("translates");
        assert!(
            both.contains("iniconfig==2.0.0 \\\n    --hash=sha256:cc"),
            "{both}"
        );
    }

    #[test]
    fn pdms_own_lock_of_inventory_gives_its_default_group() {
        let real = include_str!("../../testdata/locks/inventory-pdm.lock");
        let text = translated(real, &["default"]).expect("translates");
        assert!(text.starts_with("# Generated by pybase from app/pdm.lock (groups: default)"));
        assert!(text.contains("psycopg2==2.9.10 \\\n    --hash=sha256:47c4f9875125344f4c2b870e41b6aad585901318068acd01de93f3677a6522c2"), "{text}");
        assert!(text.contains("six==1.17.0 \\\n    --hash=sha256:4721f391ed90541fddacab5acf947aa0d3dc7d27b2e1e8eda2be8970586c3274 \\\n    --hash=sha256:ff70335d468e7eb6ec65b95b99d3a2836546063f63acc5171de367e834932a81\n"), "{text}");
        assert!(!text.contains("iniconfig"), "{text}");
        let dev = translated(real, &["default", "dev"]).expect("translates");
        assert!(dev.contains("iniconfig==2.0.0"), "{dev}");
    }

    #[test]
    fn pipenvs_own_lock_of_inventory_gives_its_default_section() {
        let real = include_str!("../../testdata/locks/inventory-Pipfile.lock");
        let lock = crate::lock::pipfile::read("Pipfile.lock", real).expect("reads");
        let sections = ["default".to_owned()];
        let translated = translate(&lock, &sections, "run `pipenv lock`").expect("translates");
        let [one] = translated.requirements.as_slice() else {
            panic!("one file: every package is from PyPI");
        };
        assert_eq!(one.index, None);
        let text = &one.text;
        assert!(
            text.contains("six==1.17.0 ; python_version >= '2.7' and python_version != '3.0' and python_version != '3.1' and python_version != '3.2' \\\n    --hash=sha256:4721f391ed90541fddacab5acf947aa0d3dc7d27b2e1e8eda2be8970586c3274"),
            "{text}"
        );
        assert_eq!(text.matches("--hash=sha256:").count(), 12, "{text}");
        assert!(!text.contains("iniconfig"), "{text}");
    }

    #[test]
    fn a_pipfile_lock_with_a_private_index_gives_a_file_per_index() {
        let text = r#"{
    "_meta": {"sources": [
        {"name": "pypi", "url": "https://pypi.org/simple"},
        {"name": "private", "url": "https://example.org/simple"}
    ]},
    "default": {
        "six": {"hashes": ["sha256:aa"], "index": "pypi", "version": "==1.17.0"},
        "acme": {"hashes": ["sha256:bb"], "index": "private", "version": "==1.0"},
        "app": {"editable": true, "path": "."}
    },
    "develop": {}
}"#;
        let lock = crate::lock::pipfile::read("Pipfile.lock", text).expect("reads");
        let translated =
            translate(&lock, &["default".to_owned()], "run `pipenv lock`").expect("translates");
        let files: Vec<(Option<&str>, &str)> = translated
            .requirements
            .iter()
            .map(|r| (r.index.as_deref(), r.text.as_str()))
            .collect();
        let header = "# Generated by pybase from Pipfile.lock (groups: default): every package pinned, every hash checked.\n";
        assert_eq!(
            files,
            [
                (None, format!("{header}six==1.17.0 \\\n    --hash=sha256:aa\n").as_str()),
                (
                    Some("https://example.org/simple"),
                    format!("{header}--index-url https://example.org/simple\nacme==1.0 \\\n    --hash=sha256:bb\n").as_str()
                ),
            ]
        );
    }

    #[test]
    fn a_package_from_git_is_refused_at_its_name() {
        let text = "[[package]]\nname = \"a\"\nversion = \"1\"\ngroups = [\"default\"]\ngit = \"https://x/a.git\"\n";
        insta::assert_snapshot!(translated(text, &["default"]).expect_err("refused"), @"app/pdm.lock:2:1: `a` comes from a `git` source: pybase installs from package indexes only, each artifact checked against its hash (hint: publish it to an index (a private one works with the `netrc` secret) and lock it from there)");
    }

    #[test]
    fn a_package_without_groups_version_or_hash_is_refused_at_its_name() {
        let text = "[[package]]\nname = \"a\"\nversion = \"1\"\n\n[[package]]\nname = \"b\"\ngroups = [\"default\"]\nfiles = [{file = \"b.whl\", hash = \"sha256:00\"}]\n\n[[package]]\nname = \"c\"\nversion = \"1\"\ngroups = [\"default\"]\n";
        insta::assert_snapshot!(translated(text, &["default"]).expect_err("refused"), @r"
        app/pdm.lock:2:1: `a` lists no `groups`: pybase cannot tell which groups need it (hint: run `pdm lock`)
        app/pdm.lock:6:1: `b` has no pinned version: pybase installs only pinned packages (hint: run `pdm lock`)
        app/pdm.lock:11:1: `c` has no sha256 hash: pybase installs only artifacts whose hashes the lock records (hint: run `pdm lock`)
        ");
    }
}
