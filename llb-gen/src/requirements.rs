//! Locks that pin packages one by one, read when a project has no
//! `uv.lock`: `pylock.toml` (PEP 751) and `requirements.txt`.
//!
//! `pylock.toml` is read by `lock/pylock.rs` (`read_installable` refuses a
//! package without a version or an artifact without a hash at its `name`
//! line). Its files' addresses and hashes let BuildKit fetch them, as for
//! `uv.lock` (`select.rs` selects every package, `artifacts::wheelhouse`
//! chooses the files).
//!
//! `requirements.txt` is read by its reader, `lock/requirements.rs`, into
//! the lock model; [`Pin`] is the view of a lock the project checks and
//! `poetry.rs` take: each package's name, version and line ([`pins`]).

use crate::diagnostic::Position;

/// The requirements lock, read when a project has neither `uv.lock` nor
/// `pylock.toml`.
pub const REQUIREMENTS_FILE: &str = "requirements.txt";
/// The PEP 751 lock, read when a project has no `uv.lock`.
pub const PYLOCK_FILE: &str = "pylock.toml";

pub use crate::lock::pylock::PYLOCK_RELOCK;
pub use crate::lock::requirements::REQUIREMENTS_RELOCK;

/// The `uv export` command that writes the lock `file` (`requirements.txt`
/// or `pylock.toml`) with the extras and dependency groups named, for the
/// hint to a spec that selects them from a lock of one set of packages.
pub fn export_selected<'a>(
    file: &str,
    extras: impl IntoIterator<Item = &'a str>,
    groups: impl IntoIterator<Item = &'a str>,
) -> String {
    let format = if file == PYLOCK_FILE {
        "pylock.toml"
    } else {
        "requirements-txt"
    };
    let mut command = format!("uv export --format {format} --no-default-groups --no-emit-project");
    for extra in extras {
        command.push_str(&format!(" --extra {extra}"));
    }
    for group in groups {
        command.push_str(&format!(" --group {group}"));
    }
    command.push_str(&format!(" --output-file {file}"));
    command
}

/// One pinned package: a view of a lock's package that has a version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pin {
    /// The normalized distribution name.
    pub name: String,
    /// The pinned version.
    pub version: String,
    /// Where the requirement starts.
    pub at: Position,
}

/// The pins of `lock`: each package with a version, at its line.
pub fn pins(lock: &crate::lock::Lock) -> Vec<Pin> {
    lock.packages
        .iter()
        .filter_map(|package| {
            Some(Pin {
                name: package.name.clone(),
                version: package.version.clone()?,
                at: package.at,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostic::Diagnostic;

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

    fn read_pylock(text: &str) -> crate::lock::Lock {
        crate::lock::pylock::read("pylock.toml", text).expect("a pylock")
    }

    fn pylock_report(text: &str) -> String {
        render(crate::lock::pylock::read_installable("pylock.toml", text).map(|lock| pins(&lock)))
    }

    #[test]
    fn reads_a_pep_751_lock_and_refuses_unpinned_or_unhashed_packages() {
        let good = "lock-version = \"1.0\"\n[[packages]]\nname = \"Six\"\nversion = \"1.17.0\"\nsdist = { url = \"https://x/six.tar.gz\", hashes = { sha256 = \"ff70\" } }\nwheels = [{ url = \"https://x/six.whl\", hashes = { sha256 = \"4721\" } }]\n";
        insta::assert_snapshot!(pylock_report(good), @"six==1.17.0 @3");
        let bad = "lock-version = \"1.0\"\n[[packages]]\nname = \"six\"\nwheels = [{ url = \"https://x/six.whl\", hashes = { sha256 = \"4721\" } }]\n[[packages]]\nname = \"idna\"\nversion = \"3.10\"\nwheels = [{ url = \"https://x/idna.whl\" }]\n";
        insta::assert_snapshot!(pylock_report(bad), @"
        pylock.toml:3:1: `six` has no `version`: pybase installs only pinned packages (hint: regenerate it: `uv export --format pylock.toml --no-default-groups --no-emit-project --output-file pylock.toml`)
        pylock.toml:6:1: `idna` has an artifact without `hashes`: pybase installs only artifacts whose hashes the lock records (hint: regenerate it: `uv export --format pylock.toml --no-default-groups --no-emit-project --output-file pylock.toml`)
        ");
        insta::assert_snapshot!(pylock_report("lock-version = [\n"), @"pylock.toml:1:17: not valid TOML: unclosed array, expected `]`");
    }

    /// What the venv gets from a pylock.toml: every package, where its
    /// marker holds.
    fn every_package(text: &str) -> crate::select::Selection {
        crate::select::needed(&read_pylock(text), &crate::select::Request::EVERY_PACKAGE)
            .expect("a lock of pins selects")
    }

    #[test]
    fn a_pylock_s_packages_that_every_environment_installs_are_those_without_a_marker() {
        let text = "lock-version = \"1.0\"\n[[packages]]\nname = \"pyyaml\"\nversion = \"6.0.2\"\nwheels = [{ url = \"https://x/PyYAML-6.0.2-cp312-cp312-manylinux_2_17_x86_64.whl\", hashes = { sha256 = \"00\" } }]\n[[packages]]\nname = \"pywin32\"\nversion = \"308\"\nmarker = \"sys_platform == 'win32'\"\nwheels = [{ name = \"pywin32-308-cp311-cp311-win_amd64.whl\", url = \"https://x/y\", hashes = { sha256 = \"00\" } }]\n[[packages]]\nname = \"six\"\nversion = \"1.17.0\"\nsdist = { url = \"https://x/six-1.17.0.tar.gz\", hashes = { sha256 = \"00\" } }\n";
        let selection = every_package(text);
        let listed: Vec<String> = selection
            .needed_everywhere()
            .map(|s| {
                let package = &s.package;
                let wheels: Vec<_> = package
                    .wheels()
                    .filter_map(|w| w.filename.clone())
                    .collect();
                format!(
                    "{} @{} sdist={} {wheels:?}",
                    package.name,
                    package.at.line,
                    package.sdist().is_some(),
                )
            })
            .collect();
        assert_eq!(
            listed,
            [
                "pyyaml @3 sdist=false [\"PyYAML-6.0.2-cp312-cp312-manylinux_2_17_x86_64.whl\"]",
                "six @12 sdist=true []"
            ]
        );
        // The twin: the one under a marker is selected all the same.
        assert_eq!(selection.packages.len(), 3);
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
        let amd64 = crate::llb::Platform {
            os: "linux".into(),
            architecture: "amd64".into(),
            variant: String::new(),
        };
        let environment =
            crate::environment::TargetEnvironment::new(&amd64, Some("3.11.2"), &Default::default());
        let wheelhouse = |text: &str, with_sdists| {
            crate::artifacts::wheelhouse(&every_package(text), &environment, with_sdists)
        };
        let house = wheelhouse(&text, true).expect("a wheelhouse");
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
            crate::artifacts::requirements_text(&every_package(&text), &house.sdists, true),
            @r"
        pyyaml==6.0.2 \
            --hash=sha256:1111111111111111111111111111111111111111111111111111111111111111
        pywin32==308 ; sys_platform == 'win32' \
            --hash=sha256:2222222222222222222222222222222222222222222222222222222222222222
        "
        );
        // Without sdists to build (a setting changes how uv builds them),
        // or with a file that has no URL, BuildKit fetches nothing.
        assert_eq!(wheelhouse(&text, false), None);
        let pathed = text.replace(
            "url = \"https://files.pythonhosted.org/p/PyYAML",
            "path = \"PyYAML",
        );
        assert_eq!(wheelhouse(&pathed, true), None);
        let grouped = text.replace("sys_platform == 'win32'", "'dev' in dependency_groups");
        assert_eq!(wheelhouse(&grouped, true), None);
    }
}
