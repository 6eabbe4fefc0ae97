//! Locks that pin packages one by one, read when a project has no
//! `uv.lock`: `pylock.toml` (PEP 751) and `requirements.txt`.
//!
//! `pylock.toml` lists `[[packages]]`, each with a `version` and artifacts
//! (`sdist`, `wheels`, `archive`) that carry `hashes`; a package without a
//! version or an artifact without a hash is refused at its `name` line.
//! Its files' addresses and hashes ([`pylock_fetchable`]) let BuildKit
//! fetch them, as for `uv.lock`.
//!
//! `requirements.txt` is a lock when every package is pinned with `==` and
//! its artifacts' hashes, as `pip-compile --generate-hashes` and
//! `uv export --format requirements-txt` write it.
//!
//! A requirement spans a logical line (lines ending in `\` continue it);
//! `#` starts a comment at the start of a line or after whitespace. A
//! requirement without `==` or without `--hash` is refused: installing it
//! would not be exactly the lock. So are `-r`/`-c` (other files pybase
//! does not read) and `-e` (an editable install is no lock). Other options
//! (`--index-url`, `--find-links`, …) are left to the installer.

use crate::diagnostic::{Diagnostic, Position};
use crate::project::{normalize_name, requirement_name};

/// The requirements lock, read when a project has neither `uv.lock` nor
/// `pylock.toml`.
pub const REQUIREMENTS_FILE: &str = "requirements.txt";
/// The PEP 751 lock, read when a project has no `uv.lock`.
pub const PYLOCK_FILE: &str = "pylock.toml";

/// The pins of a `pylock.toml` (its text `text`, the file `file`), or every
/// problem, positioned.
pub fn parse_pylock(file: &str, text: &str) -> Result<Vec<Pin>, Vec<Diagnostic>> {
    let regenerate = "regenerate it: `uv export --format pylock.toml --no-dev > pylock.toml`";
    let packages = lock_packages(file, text, "packages", regenerate)?;
    let mut pins = Vec::new();
    let mut problems = Vec::new();
    for package in &packages {
        let name = package
            .get("name")
            .and_then(toml::Value::as_str)
            .unwrap_or("");
        let at = crate::project::package_line(text, name).unwrap_or(Position::START);
        let version = package.get("version").and_then(toml::Value::as_str);
        let artifacts: Vec<&toml::Value> = ["sdist", "archive"]
            .iter()
            .filter_map(|key| package.get(*key))
            .chain(
                package
                    .get("wheels")
                    .and_then(toml::Value::as_array)
                    .into_iter()
                    .flatten(),
            )
            .collect();
        let unhashed = artifacts.iter().any(|artifact| {
            artifact
                .get("hashes")
                .and_then(toml::Value::as_table)
                .is_none_or(toml::Table::is_empty)
        });
        match version {
            _ if name.is_empty() => problems.push(
                Diagnostic::at(file, Some(at), "a package without a `name`").with_hint(regenerate),
            ),
            None => problems.push(
                Diagnostic::at(
                    file,
                    Some(at),
                    format!("`{name}` has no `version`: pybase installs only pinned packages"),
                )
                .with_hint(regenerate),
            ),
            Some(_) if artifacts.is_empty() || unhashed => problems.push(
                Diagnostic::at(
                    file,
                    Some(at),
                    format!("`{name}` has an artifact without `hashes`: pybase installs only artifacts whose hashes the lock records"),
                )
                .with_hint(regenerate),
            ),
            Some(version) => pins.push(Pin {
                name: normalize_name(name),
                version: version.to_owned(),
                at,
            }),
        }
    }
    if problems.is_empty() {
        Ok(pins)
    } else {
        Err(problems)
    }
}

/// The artifacts of the packages a `pylock.toml` (its text `text`, the
/// file `file`) installs in every environment (those without a `marker`),
/// for [`crate::artifacts::check`]; an sdist, archive, VCS or directory
/// source counts as buildable anywhere. Meant for a lock that
/// [`parse_pylock`] accepted: unreadable entries are skipped.
pub fn pylock_artifacts(file: &str, text: &str) -> Vec<crate::artifacts::LockedArtifacts> {
    let Ok(packages) = lock_packages(file, text, "packages", "") else {
        return Vec::new();
    };
    packages
        .iter()
        .filter(|package| package.get("marker").is_none())
        .filter_map(|package| {
            let name = package.get("name")?.as_str()?;
            let wheels =
                crate::artifacts::wheel_file_names(package.get("wheels"), &["name", "url", "path"]);
            Some(crate::artifacts::LockedArtifacts {
                name: name.to_owned(),
                version: package.get("version")?.as_str()?.to_owned(),
                file: file.to_owned(),
                at: crate::project::package_line(text, name),
                wheels,
                has_sdist: ["sdist", "archive", "vcs", "directory"]
                    .iter()
                    .any(|key| package.get(*key).is_some()),
            })
        })
        .collect()
}

/// The files of a `pylock.toml` (accepted by [`parse_pylock`]) with their
/// addresses and sha256, for BuildKit to fetch (sdists only when
/// `with_sdists`); `None` when a package has a file without a URL or a
/// sha256, installs from an archive, a VCS or a directory, or has a marker
/// on the lock's extras or dependency groups. `lock_file` is the lock's
/// path, for the files' [`recorded_at`](crate::artifacts::LockedFile::recorded_at).
pub fn pylock_fetchable(
    lock_file: &str,
    text: &str,
    with_sdists: bool,
) -> Option<Vec<crate::artifacts::FetchablePackage>> {
    let packages = lock_packages("", text, "packages", "").ok()?;
    let file = |entry: &toml::Value| {
        let sha256 = entry.get("hashes")?.get("sha256")?.as_str()?;
        crate::artifacts::LockedFile::new(entry.get("url")?.as_str()?, sha256, lock_file, text)
    };
    packages
        .iter()
        .map(|package| {
            if ["archive", "vcs", "directory"]
                .iter()
                .any(|key| package.get(*key).is_some())
            {
                return None;
            }
            let sdist = match package.get("sdist") {
                Some(entry) => Some(file(entry)?),
                None => None,
            };
            // A marker on the lock's own `extras` or `dependency_groups`
            // (PEP 751) means nothing in a requirements file: uv reads it.
            let marker = match package.get("marker") {
                Some(marker) => Some(marker.as_str()?.to_owned()),
                None => None,
            };
            if marker
                .as_deref()
                .is_some_and(|m| m.contains("extra") || m.contains("dependency_groups"))
            {
                return None;
            }
            Some(crate::artifacts::FetchablePackage {
                name: normalize_name(package.get("name")?.as_str()?),
                version: package.get("version")?.as_str()?.to_owned(),
                needed_everywhere: marker.is_none(),
                wheels: package
                    .get("wheels")
                    .and_then(toml::Value::as_array)
                    .map_or(&[][..], Vec::as_slice)
                    .iter()
                    .map(file)
                    .collect::<Option<Vec<_>>>()?,
                sdist: sdist.filter(|_| with_sdists),
                marker,
            })
        })
        .collect()
}

/// The package tables of a TOML lock (`text`, the file `file`), the array
/// `packages_key`, or its one problem, positioned (`regenerate`: the hint
/// when it lists no packages).
pub(crate) fn lock_packages(
    file: &str,
    text: &str,
    packages_key: &str,
    regenerate: &str,
) -> Result<Vec<toml::Value>, Vec<Diagnostic>> {
    let mut table: toml::Table = toml::from_str(text).map_err(|error| {
        let position = error
            .span()
            .map(|span| crate::project::position_of(text, span.start));
        vec![Diagnostic::at(
            file,
            position.or(Some(Position::START)),
            format!("not valid TOML: {}", error.message().trim_end()),
        )]
    })?;
    let Some(toml::Value::Array(packages)) = table.remove(packages_key) else {
        return Err(vec![
            Diagnostic::at(
                file,
                Some(Position::START),
                format!("the lock lists no packages (no `[[{packages_key}]]` tables)"),
            )
            .with_hint(regenerate),
        ]);
    };
    Ok(packages)
}

/// One pinned requirement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pin {
    /// The normalized distribution name.
    pub name: String,
    /// The pinned version.
    pub version: String,
    /// Where the requirement starts.
    pub at: Position,
}

/// The pins of `text` (the file `file`), or every problem, positioned. A
/// requirement without `--hash` is one, unless `require_hashes` is off
/// (the spec's `require-hashes: false`).
pub fn parse(file: &str, text: &str, require_hashes: bool) -> Result<Vec<Pin>, Vec<Diagnostic>> {
    let mut pins = Vec::new();
    let mut problems = Vec::new();
    let regenerate = "regenerate it with hashes: `uv export --format requirements-txt --no-dev > requirements.txt` or `pip-compile --generate-hashes`";
    for (line, logical) in logical_lines(text) {
        let at = Position { line, column: 1 };
        let entry = logical.trim();
        if entry.is_empty() {
            continue;
        }
        if let Some(option) = entry.strip_prefix('-') {
            let flag = option.split([' ', '=']).next().unwrap_or_default();
            if matches!(
                flag,
                "r" | "-requirement" | "c" | "-constraint" | "e" | "-editable"
            ) {
                problems.push(
                    Diagnostic::at(
                        file,
                        Some(at),
                        format!("`-{flag}` is not supported in a lock: pybase reads this one file, every package pinned"),
                    )
                    .with_hint(regenerate),
                );
            }
            continue;
        }
        let (requirement, options) = match entry.find(" --") {
            Some(split) => (entry[..split].trim(), &entry[split..]),
            None => (entry, ""),
        };
        let name = requirement_name(requirement);
        let version = requirement
            .split_once("==")
            .map(|(_, rest)| rest.trim_start_matches('='))
            .map(|rest| {
                rest.split([';', ' ', '\t'])
                    .next()
                    .unwrap_or_default()
                    .trim()
            })
            .filter(|v| !v.is_empty() && !v.contains('*'));
        let hashes = options.matches("--hash").count();
        match version {
            None => problems.push(
                Diagnostic::at(
                    file,
                    Some(at),
                    format!("`{requirement}` is not pinned to one version with `==`"),
                )
                .with_hint(regenerate),
            ),
            Some(_) if hashes == 0 && require_hashes => problems.push(
                Diagnostic::at(
                    file,
                    Some(at),
                    format!("`{requirement}` has no `--hash`: pybase installs only artifacts whose hashes the lock records"),
                )
                .with_hint(format!("{regenerate}; or, to install it unverified, set `require-hashes: false` on its service or tier")),
            ),
            Some(version) if !name.is_empty() => pins.push(Pin {
                name: normalize_name(name),
                version: version.to_owned(),
                at,
            }),
            Some(_) => problems.push(Diagnostic::at(
                file,
                Some(at),
                format!("`{requirement}` names no package"),
            )),
        }
    }
    if problems.is_empty() {
        Ok(pins)
    } else {
        Err(problems)
    }
}

/// The logical lines of `text`: continuations (`\` at the end) joined,
/// comments removed, each with the 1-based number of its first line.
fn logical_lines(text: &str) -> Vec<(u32, String)> {
    let mut out = Vec::new();
    let mut current: Option<(u32, String)> = None;
    for (index, raw) in text.lines().enumerate() {
        let number = u32::try_from(index + 1).unwrap_or(u32::MAX);
        let line = strip_comment(raw);
        let (body, continues) = match line.trim_end().strip_suffix('\\') {
            Some(body) => (body, true),
            None => (line, false),
        };
        let entry = current.get_or_insert_with(|| (number, String::new()));
        entry.1.push(' ');
        entry.1.push_str(body);
        if !continues && let Some(done) = current.take() {
            out.push(done);
        }
    }
    out.extend(current);
    out
}

/// `line` without its comment: `#` at the start or after whitespace.
fn strip_comment(line: &str) -> &str {
    let bytes = line.as_bytes();
    for (index, byte) in bytes.iter().enumerate() {
        if *byte == b'#' && (index == 0 || bytes[index - 1].is_ascii_whitespace()) {
            return &line[..index];
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pins one a line, or every problem one a line.
    fn render(parsed: Result<Vec<Pin>, Vec<Diagnostic>>) -> String {
        match parsed {
            Ok(pins) => pins
                .iter()
                .map(|p| format!("{}=={} @{}", p.name, p.version, p.at.line))
                .collect::<Vec<_>>()
                .join("\n"),
            Err(problems) => problems
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }

    fn report(text: &str) -> String {
        render(parse("app/requirements.txt", text, true))
    }

    fn pylock_report(text: &str) -> String {
        render(parse_pylock("pylock.toml", text))
    }

    #[test]
    fn reads_a_pep_751_lock_and_refuses_unpinned_or_unhashed_packages() {
        let good = "lock-version = \"1.0\"\n[[packages]]\nname = \"Six\"\nversion = \"1.17.0\"\nsdist = { url = \"https://x/six.tar.gz\", hashes = { sha256 = \"ff70\" } }\nwheels = [{ url = \"https://x/six.whl\", hashes = { sha256 = \"4721\" } }]\n";
        insta::assert_snapshot!(pylock_report(good), @"six==1.17.0 @3");
        let bad = "lock-version = \"1.0\"\n[[packages]]\nname = \"six\"\nwheels = [{ url = \"https://x/six.whl\", hashes = { sha256 = \"4721\" } }]\n[[packages]]\nname = \"idna\"\nversion = \"3.10\"\nwheels = [{ url = \"https://x/idna.whl\" }]\n";
        insta::assert_snapshot!(pylock_report(bad), @"
        pylock.toml:3:1: `six` has no `version`: pybase installs only pinned packages (hint: regenerate it: `uv export --format pylock.toml --no-dev > pylock.toml`)
        pylock.toml:6:1: `idna` has an artifact without `hashes`: pybase installs only artifacts whose hashes the lock records (hint: regenerate it: `uv export --format pylock.toml --no-dev > pylock.toml`)
        ");
        insta::assert_snapshot!(pylock_report("lock-version = [\n"), @"pylock.toml:1:17: not valid TOML: unclosed array, expected `]`");
    }

    #[test]
    fn a_pylock_lists_the_artifacts_of_what_every_environment_installs() {
        let text = "lock-version = \"1.0\"\n[[packages]]\nname = \"pyyaml\"\nversion = \"6.0.2\"\nwheels = [{ url = \"https://x/PyYAML-6.0.2-cp312-cp312-manylinux_2_17_x86_64.whl\", hashes = { sha256 = \"00\" } }]\n[[packages]]\nname = \"pywin32\"\nversion = \"308\"\nmarker = \"sys_platform == 'win32'\"\nwheels = [{ name = \"pywin32-308-cp311-cp311-win_amd64.whl\", url = \"https://x/y\", hashes = { sha256 = \"00\" } }]\n[[packages]]\nname = \"six\"\nversion = \"1.17.0\"\nsdist = { url = \"https://x/six-1.17.0.tar.gz\", hashes = { sha256 = \"00\" } }\n";
        let listed: Vec<String> = pylock_artifacts("pylock.toml", text)
            .iter()
            .map(|a| {
                format!(
                    "{} @{:?} sdist={} {:?}",
                    a.name,
                    a.at.map(|p| p.line),
                    a.has_sdist,
                    a.wheels
                )
            })
            .collect();
        assert_eq!(
            listed,
            [
                "pyyaml @Some(3) sdist=false [\"PyYAML-6.0.2-cp312-cp312-manylinux_2_17_x86_64.whl\"]",
                "six @Some(12) sdist=true []"
            ]
        );
    }

    #[test]
    fn a_pylock_gives_buildkit_its_files_and_the_install_its_requirements() {
        let hash = |digit: char| std::iter::repeat_n(digit, 64).collect::<String>();
        let text = format!(
            "lock-version = \"1.0\"\n\
             [[packages]]\nname = \"PyYAML\"\nversion = \"6.0.2\"\n\
             wheels = [{{ url = \"https://files.pythonhosted.org/p/PyYAML-6.0.2-cp311-cp311-manylinux_2_17_x86_64.whl\", hashes = {{ sha256 = \"{}\" }} }}]\n\
             [[packages]]\nname = \"pywin32\"\nversion = \"308\"\nmarker = \"sys_platform == 'win32'\"\n\
             wheels = [{{ url = \"https://files.pythonhosted.org/p/pywin32-308-cp311-cp311-win_amd64.whl\", hashes = {{ sha256 = \"{}\" }} }}]\n\
             [[packages]]\nname = \"psycopg2\"\nversion = \"2.9.10\"\n\
             sdist = {{ url = \"https://files.pythonhosted.org/p/psycopg2-2.9.10.tar.gz\", hashes = {{ sha256 = \"{}\" }} }}\n",
            hash('1'),
            hash('2'),
            hash('3')
        );
        let packages = pylock_fetchable("pylock.toml", &text, true).expect("fetchable");
        let amd64 = crate::llb::Platform {
            os: "linux".into(),
            architecture: "amd64".into(),
            variant: String::new(),
        };
        let house = crate::artifacts::wheelhouse(
            &packages,
            &crate::environment::TargetEnvironment::new(
                &amd64,
                Some("3.11.2"),
                &Default::default(),
            ),
        )
        .expect("a wheelhouse");
        assert_eq!(
            house
                .wheels
                .iter()
                .map(|w| w.filename.as_str())
                .chain(house.sdists.iter().map(|s| s.sdist.filename.as_str()))
                .collect::<Vec<_>>(),
            [
                "PyYAML-6.0.2-cp311-cp311-manylinux_2_17_x86_64.whl",
                "psycopg2-2.9.10.tar.gz"
            ]
        );
        // Each file knows where the lock records its hash, for the step
        // that fetches it to name.
        assert_eq!(
            house
                .wheels
                .iter()
                .chain(house.sdists.iter().map(|s| &s.sdist))
                .map(|file| file.recorded_at.as_deref())
                .collect::<Vec<_>>(),
            [Some("pylock.toml:5:127"), Some("pylock.toml:14:97")]
        );
        // Every package but the one built from its sdist, with its marker
        // and every hash.
        insta::assert_snapshot!(
            crate::artifacts::requirements_text(&packages, &house.sdists),
            @r"
        pyyaml==6.0.2 \
            --hash=sha256:1111111111111111111111111111111111111111111111111111111111111111
        pywin32==308 ; sys_platform == 'win32' \
            --hash=sha256:2222222222222222222222222222222222222222222222222222222222222222
        "
        );
        // Without sdists to build (a setting changes how uv builds them),
        // or with a file that has no URL, BuildKit fetches nothing.
        let without = pylock_fetchable("pylock.toml", &text, false).expect("fetchable");
        assert_eq!(
            crate::artifacts::wheelhouse(
                &without,
                &crate::environment::TargetEnvironment::new(
                    &amd64,
                    Some("3.11.2"),
                    &Default::default()
                )
            ),
            None
        );
        let pathed = text.replace(
            "url = \"https://files.pythonhosted.org/p/PyYAML",
            "path = \"PyYAML",
        );
        assert_eq!(pylock_fetchable("pylock.toml", &pathed, true), None);
        let grouped = text.replace("sys_platform == 'win32'", "'dev' in dependency_groups");
        assert_eq!(pylock_fetchable("pylock.toml", &grouped, true), None);
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
            render(parse("app/requirements.txt", text, false)),
            "app/requirements.txt:2:1: `idna>=3` is not pinned to one version with `==` (hint: regenerate it with hashes: `uv export --format requirements-txt --no-dev > requirements.txt` or `pip-compile --generate-hashes`)"
        );
        assert!(parse("app/requirements.txt", "six==1.17.0\n", false).is_ok());
    }

    #[test]
    fn unpinned_unhashed_and_other_files_are_refused_at_their_lines() {
        let text = "six>=1.16 --hash=sha256:aaaa\nidna==3.10\n-r base.txt\n-e .\nattrs==24.* --hash=sha256:bbbb\n";
        insta::assert_snapshot!(report(text), @"
        app/requirements.txt:1:1: `six>=1.16` is not pinned to one version with `==` (hint: regenerate it with hashes: `uv export --format requirements-txt --no-dev > requirements.txt` or `pip-compile --generate-hashes`)
        app/requirements.txt:2:1: `idna==3.10` has no `--hash`: pybase installs only artifacts whose hashes the lock records (hint: regenerate it with hashes: `uv export --format requirements-txt --no-dev > requirements.txt` or `pip-compile --generate-hashes`; or, to install it unverified, set `require-hashes: false` on its service or tier)
        app/requirements.txt:3:1: `-r` is not supported in a lock: pybase reads this one file, every package pinned (hint: regenerate it with hashes: `uv export --format requirements-txt --no-dev > requirements.txt` or `pip-compile --generate-hashes`)
        app/requirements.txt:4:1: `-e` is not supported in a lock: pybase reads this one file, every package pinned (hint: regenerate it with hashes: `uv export --format requirements-txt --no-dev > requirements.txt` or `pip-compile --generate-hashes`)
        app/requirements.txt:5:1: `attrs==24.*` is not pinned to one version with `==` (hint: regenerate it with hashes: `uv export --format requirements-txt --no-dev > requirements.txt` or `pip-compile --generate-hashes`)
        ");
    }
}
