//! Whether a lock has an artifact the image can install, checked once the
//! base image (its platform, and its Python when it says so) is known.
//!
//! A package installs from its sdist (built in the builder) or from a wheel
//! whose tags fit the target environment: the image's machine, C library
//! and interpreter, as far as the image tells them (the rules are in
//! [`crate::wheel`]). A package with no sdist and no fitting wheel would fail
//! deep in the installer; it is an error at its line in the lock instead,
//! naming what the lock has and what the image is.
//!
//! Only packages every environment needs are checked: one that the lock
//! reaches only through an environment marker (a Windows-only dependency,
//! say) may well have no Linux wheel, and is left to the installer.
//!
//! [`wheelhouse`] chooses, from the same facts with the files' addresses,
//! what BuildKit fetches for a venv (each file a checksummed HTTP source):
//! the fitting wheels, and the sdists of packages that have none, each
//! built into a wheel by a step of its own, so that the install itself runs
//! with the network off.

use crate::diagnostic::{Diagnostic, Diagnostics, Position};
use crate::environment::TargetEnvironment;
use crate::llb::Platform;
use crate::lock::{Artifact, Package, file_name};
use crate::select::{Need, Selection};

/// A file a lock names with its address and sha256, for BuildKit to fetch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockedFile {
    /// Where it is.
    pub url: String,
    /// Its sha256, lowercase hex.
    pub sha256: String,
    /// Its file name (the last segment of `url`).
    pub filename: String,
    /// Where the lock records its sha256 (`uv.lock:57:120`), when known:
    /// the step that fetches the file names it, so that a digest mismatch,
    /// which BuildKit reports under that step, points at the lock's line.
    pub recorded_at: Option<String>,
}

impl LockedFile {
    /// The file at `url` whose sha256 is `sha256`, recorded in the lock
    /// `lock_file` at `at` (when known); `None` unless the sha256 is 64 hex
    /// digits.
    pub fn recorded(
        url: &str,
        sha256: &str,
        lock_file: &str,
        at: Option<Position>,
    ) -> Option<Self> {
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        Some(Self {
            url: url.to_owned(),
            sha256: sha256.to_ascii_lowercase(),
            filename: file_name(url).to_owned(),
            recorded_at: at.map(|at| format!("{lock_file}:{}:{}", at.line, at.column)),
        })
    }
}

/// Which of a venv's files BuildKit fetches itself, each a checksummed
/// HTTP source, so that the install runs with the network off.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Fetching {
    /// None: uv downloads what it installs (a lock whose files pybase does
    /// not fetch, a project that builds packages from source).
    #[default]
    Nothing,
    /// The fitting wheels; when a package the target needs has none, uv
    /// downloads everything (pybase may not build its sdist alone).
    Wheels,
    /// The fitting wheels, and the sdist of a package the target needs
    /// that has none, built into a wheel by a step of its own.
    WheelsAndSdists,
}

impl Fetching {
    /// What to fetch when files may be fetched, sdists too when
    /// `with_sdists`.
    pub fn files(with_sdists: bool) -> Self {
        if with_sdists {
            Self::WheelsAndSdists
        } else {
            Self::Wheels
        }
    }
}

/// What BuildKit fetches for a venv.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Wheelhouse {
    /// The wheels that fit, sorted by file name.
    pub wheels: Vec<LockedFile>,
    /// The sdists of packages every environment needs that have no fitting
    /// wheel, sorted by name: each is built into a wheel in the builder.
    pub sdists: Vec<SdistBuild>,
}

impl Wheelhouse {
    /// Whether there is nothing to fetch.
    pub fn is_empty(&self) -> bool {
        self.wheels.is_empty() && self.sdists.is_empty()
    }
}

/// A package installed from a wheel built from its sdist.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SdistBuild {
    /// Its normalized name.
    pub name: String,
    /// Its locked version.
    pub version: String,
    /// Its sdist.
    pub sdist: LockedFile,
}

/// Where PyPI serves its files: the only host BuildKit fetches artifacts
/// from. Another index may need credentials, which BuildKit's HTTP source
/// cannot take from the `netrc` secret; uv downloads those.
pub const PYPI_FILES: &str = "https://files.pythonhosted.org/";

/// What to fetch for a venv of the `selection` in `environment`: the
/// wheels that fit of each package the target may need, and the sdist of
/// a package it surely needs that has none (when `with_sdists`: pybase may
/// build it alone). `None` when fetching cannot give the venv everything
/// ([`fetchable`]), or when a package the target surely needs has no
/// fitting wheel and no sdist on PyPI. A package whose marker is false on
/// the target (on Linux, a Windows-only one) is left out; so is one under
/// a marker that cannot be evaluated (the image's Python unknown) without
/// a fitting wheel.
pub fn wheelhouse(
    selection: &Selection,
    environment: &TargetEnvironment,
    with_sdists: bool,
) -> Option<Wheelhouse> {
    environment.machine?;
    let on_pypi = |file: &LockedFile| file.url.starts_with(PYPI_FILES);
    let mut house = Wheelhouse::default();
    for on in selection.on_target(environment) {
        let package = &on.selected.package;
        let files = fetchable(&selection.file, package, with_sdists)?;
        if on.need == Need::NotHere {
            continue;
        }
        if on.fitting.is_empty() && on.need.surely() {
            let sdist = files.sdist.filter(on_pypi)?;
            house.sdists.push(SdistBuild {
                name: package.name.clone(),
                version: files.version,
                sdist,
            });
        }
        for wheel in on.fitting {
            let wheel = locked_file(&selection.file, wheel)?;
            if !on_pypi(&wheel) {
                return None;
            }
            house.wheels.push(wheel);
        }
    }
    house.wheels.sort_by(|a, b| a.filename.cmp(&b.filename));
    house.wheels.dedup();
    house.sdists.sort_by(|a, b| a.name.cmp(&b.name));
    house.sdists.dedup();
    Some(house)
}

/// A package's files as BuildKit may fetch them.
struct FetchableFiles {
    /// Its locked version.
    version: String,
    /// Its wheels.
    wheels: Vec<LockedFile>,
    /// Its sdist, when it has one with an address and a sha256, and
    /// pybase may build it alone.
    sdist: Option<LockedFile>,
}

/// The files of `package` (of the lock `lock_file`) with their addresses
/// and hashes (its sdist only when `with_sdists`); `None` when BuildKit
/// cannot fetch what it installs from: it comes from elsewhere than an
/// index (git, a path, a URL), has no version or a wheel without a URL or
/// a sha256, or has a marker on a lock's own extras or dependency groups
/// (PEP 751), which means nothing in a requirements file.
fn fetchable(lock_file: &str, package: &Package, with_sdists: bool) -> Option<FetchableFiles> {
    if !package.from_index() {
        return None;
    }
    if package
        .marker
        .as_deref()
        .is_some_and(|m| m.contains("extra") || m.contains("dependency_groups"))
    {
        return None;
    }
    Some(FetchableFiles {
        version: package.version.clone()?,
        wheels: package
            .wheels()
            .map(|wheel| locked_file(lock_file, wheel))
            .collect::<Option<Vec<_>>>()?,
        sdist: package
            .sdist()
            .filter(|_| with_sdists)
            .and_then(|sdist| locked_file(lock_file, sdist)),
    })
}

/// `artifact` of the lock `lock_file` as a file BuildKit may fetch: its
/// address, its sha256 and where the lock records it; `None` without a URL
/// or a sha256.
fn locked_file(lock_file: &str, artifact: &Artifact) -> Option<LockedFile> {
    LockedFile::recorded(
        artifact.url.as_deref()?,
        artifact.sha256.as_deref()?,
        lock_file,
        Some(artifact.at),
    )
}

/// The requirements with hashes the offline install reads, for a lock
/// uv cannot export (`pylock.toml`): each package of the `selection`
/// pinned, with its marker and the sha256 of every file it has (its sdist's
/// only `with_sdists`), but those `built` from an sdist, which the install
/// adds by their pins. Meant for a selection [`wheelhouse`] accepted.
pub fn requirements_text(selection: &Selection, built: &[SdistBuild], with_sdists: bool) -> String {
    let mut text = String::new();
    for selected in &selection.packages {
        let package = &selected.package;
        let Some(files) = fetchable(&selection.file, package, with_sdists) else {
            continue;
        };
        if built.iter().any(|build| build.name == package.name) {
            continue;
        }
        text.push_str(&format!("{}=={}", package.name, files.version));
        if let Some(marker) = &package.marker {
            text.push_str(&format!(" ; {marker}"));
        }
        for file in files.wheels.iter().chain(&files.sdist) {
            text.push_str(&format!(" \\\n    --hash=sha256:{}", file.sha256));
        }
        text.push('\n');
    }
    text
}

/// Check that every package of the `selections` that every environment
/// needs has an artifact for `environment` on `platform`: an sdist (or a
/// source that builds anywhere), or a fitting wheel; an error at the line
/// of each that has none.
pub fn check<'s>(
    selections: impl IntoIterator<Item = &'s Selection>,
    platform: &Platform,
    environment: &TargetEnvironment,
) -> Result<(), Diagnostics> {
    if environment.machine.is_none() {
        return Ok(());
    }
    let mut problems = Vec::new();
    for selection in selections {
        for on in selection.on_target(environment) {
            let package = &on.selected.package;
            let builds_anywhere = package.sdist().is_some() || !package.from_index();
            let wheels: Vec<&Artifact> = package.wheels().collect();
            if on.need == Need::Everywhere
                && !builds_anywhere
                && !wheels.is_empty()
                && on.fitting.is_empty()
            {
                problems.push(no_artifact(
                    &selection.file,
                    package,
                    &wheels,
                    platform,
                    environment,
                ));
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Diagnostics(problems))
    }
}

/// The error for `package` of the lock `lock_file`, whose `wheels` none
/// fit `environment` on `platform` and that has no sdist.
fn no_artifact(
    lock_file: &str,
    package: &Package,
    wheels: &[&Artifact],
    platform: &Platform,
    environment: &TargetEnvironment,
) -> Diagnostic {
    let target = environment.describe(platform);
    let mut tags: Vec<String> = wheels
        .iter()
        .map(|wheel| match (&wheel.kind, &wheel.filename) {
            (crate::lock::ArtifactKind::Wheel(Some(name)), _) => name.tags(),
            (_, Some(filename)) => filename.clone(),
            (_, None) => String::new(),
        })
        .collect();
    tags.dedup();
    let shown = if tags.len() > 6 {
        format!("{}, … ({} wheels)", tags[..6].join(", "), tags.len())
    } else {
        tags.join(", ")
    };
    let version = package.version.as_deref().unwrap_or("(no version)");
    Diagnostic::at(
        lock_file,
        Some(package.at),
        format!(
            "`{}` {version} has no artifact for {target}: the lock has no sdist, and wheels for {shown}",
            package.written_name
        ),
    )
    .with_hint(format!(
        "build for a platform and Python it has wheels for, or lock a version of `{}` that has one (or its sdist)",
        package.written_name
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::environment::ImageFacts;

    /// Whether the wheel `filename` installs in `environment`.
    fn fits(filename: &str, environment: &TargetEnvironment) -> bool {
        crate::wheel::WheelFilename::parse(filename).is_some_and(|wheel| wheel.fits(environment))
    }

    /// The environment of an image on `platform` whose config says its
    /// Python (`PYTHON_VERSION`) and whose filesystem said nothing.
    fn environment(platform: &Platform, python: Option<&str>) -> TargetEnvironment {
        TargetEnvironment::new(platform, python, &ImageFacts::default())
    }

    fn amd64() -> Platform {
        Platform {
            os: "linux".into(),
            architecture: "amd64".into(),
            variant: String::new(),
        }
    }

    #[test]
    fn wheel_tags_fit_the_platform_and_python_as_pip_would_choose() {
        let fits = |wheel: &str, python: Option<&str>| fits(wheel, &environment(&amd64(), python));
        let py311 = Some("3.11.2");
        assert!(fits("six-1.17.0-py2.py3-none-any.whl", py311));
        assert!(fits(
            "PyYAML-6.0.2-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
            py311
        ));
        assert!(!fits(
            "PyYAML-6.0.2-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
            py311
        ));
        assert!(fits(
            "PyYAML-6.0.2-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
            None
        ));
        assert!(!fits(
            "PyYAML-6.0.2-cp311-cp311-manylinux_2_17_aarch64.manylinux2014_aarch64.whl",
            py311
        ));
        assert!(!fits(
            "PyYAML-6.0.2-cp311-cp311-musllinux_1_1_x86_64.whl",
            py311
        ));
        assert!(!fits("PyYAML-6.0.2-cp311-cp311-win_amd64.whl", py311));
        assert!(!fits(
            "PyYAML-6.0.2-cp311-cp311-macosx_11_0_arm64.whl",
            py311
        ));
        // The stable ABI: built for 3.9, loads on 3.11, not on 3.8.
        assert!(fits(
            "cryptography-44.0.0-cp39-abi3-manylinux_2_28_x86_64.whl",
            py311
        ));
        assert!(!fits(
            "cryptography-44.0.0-cp39-abi3-manylinux_2_28_x86_64.whl",
            Some("3.8.20")
        ));
        // Regressions: a pure wheel for a newer Python, and a free-threaded
        // build on a normal CPython, used to count as fitting.
        assert!(!fits("tomli-2.2.1-py312-none-any.whl", py311));
        assert!(!fits(
            "markupsafe-3.0.2-cp313-cp313t-manylinux_2_17_x86_64.whl",
            Some("3.13.1")
        ));
        assert!(fits(
            "markupsafe-3.0.2-cp313-cp313-manylinux_2_17_x86_64.whl",
            Some("3.13.1")
        ));
        // A build tag, and not a wheel at all.
        assert!(fits("pkg-1.0-1-py3-none-any.whl", py311));
        assert!(!fits("pkg-1.0.tar.gz", py311));
        assert!(!fits("pkg-py3-none-any.whl", py311));
    }

    /// A package of a uv.lock at line 26, from PyPI, with the `wheels`
    /// and the `sdist` named (their files on PyPI, each with a sha256).
    fn package(name: &str, wheels: &[&str], sdist: Option<&str>) -> Package {
        let at = crate::diagnostic::Position {
            line: 26,
            column: 1,
        };
        let file = |wheel: bool, name: &str| {
            let url = format!("{PYPI_FILES}packages/{name}");
            Artifact::new(
                wheel,
                Some(&url),
                Some(url.clone()),
                Some("0".repeat(64)),
                at,
            )
        };
        let artifacts = wheels
            .iter()
            .map(|wheel| file(true, wheel))
            .chain(sdist.map(|sdist| file(false, sdist)))
            .collect();
        let index = crate::lock::Source::Registry {
            url: "https://pypi.org/simple".to_owned(),
        };
        Package::pinned(
            name,
            Some("6.0.2".to_owned()),
            Some(index),
            None,
            artifacts,
            at,
        )
    }

    /// The selection of `packages`, each needed where its marker (`""`:
    /// everywhere) holds.
    fn selection(packages: &[(&Package, &str)]) -> Selection {
        let packages = packages
            .iter()
            .map(|(package, marker)| crate::select::Selected {
                package: (*package).clone(),
                needed_when: if marker.is_empty() {
                    pep508_rs::MarkerTree::TRUE
                } else {
                    marker.parse().expect("a marker")
                },
            })
            .collect();
        Selection::of(crate::lock::LockKind::Uv, "uv.lock", packages)
    }

    fn yaml(wheels: &[&str], has_sdist: bool) -> Selection {
        let sdist = has_sdist.then_some("PyYAML-6.0.2.tar.gz");
        selection(&[(&package("pyyaml", wheels, sdist), "")])
    }

    fn verdict(locked: &[Selection], platform: &str, python: Option<&str>) -> String {
        let (os, architecture) = platform.split_once('/').expect("os/arch");
        let platform = Platform {
            os: os.to_owned(),
            architecture: architecture.to_owned(),
            variant: String::new(),
        };
        match check(locked, &platform, &environment(&platform, python)) {
            Ok(()) => "ok".to_owned(),
            Err(problems) => problems.to_string(),
        }
    }

    #[test]
    fn a_package_without_an_artifact_for_the_image_is_an_error_at_its_line() {
        let wheels = [
            "PyYAML-6.0.2-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
            "PyYAML-6.0.2-cp312-cp312-manylinux_2_17_aarch64.manylinux2014_aarch64.whl",
        ];
        let only_312 = [yaml(&wheels, false)];
        assert_eq!(verdict(&only_312, "linux/amd64", Some("3.12.12")), "ok");
        assert_eq!(verdict(&only_312, "linux/amd64", None), "ok");
        insta::assert_snapshot!(verdict(&only_312, "linux/arm64", Some("3.11.2")), @"uv.lock:26:1: `pyyaml` 6.0.2 has no artifact for CPython 3.11.2 on linux/arm64: the lock has no sdist, and wheels for cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64, cp312-cp312-manylinux_2_17_aarch64.manylinux2014_aarch64 (hint: build for a platform and Python it has wheels for, or lock a version of `pyyaml` that has one (or its sdist))");
        insta::assert_snapshot!(verdict(&[yaml(&wheels[..1], false)], "linux/arm64", None), @"uv.lock:26:1: `pyyaml` 6.0.2 has no artifact for linux/arm64: the lock has no sdist, and wheels for cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64 (hint: build for a platform and Python it has wheels for, or lock a version of `pyyaml` that has one (or its sdist))");
        // An sdist builds anywhere.
        assert_eq!(
            verdict(&[yaml(&wheels, true)], "linux/arm64", Some("3.11.2")),
            "ok"
        );
        assert_eq!(
            file_name("https://x/y/PyYAML-6.0.2.tar.gz#sha256=1"),
            "PyYAML-6.0.2.tar.gz"
        );
    }

    #[test]
    fn a_package_needed_under_a_marker_true_on_the_target_gets_its_sdist_built() {
        let psycopg2 = package("psycopg2", &[], Some("psycopg2-2.9.10.tar.gz"));
        let built = |marker: &str, python: Option<&str>| {
            wheelhouse(
                &selection(&[(&psycopg2, marker)]),
                &environment(&amd64(), python),
                true,
            )
            .map(|house| house.sdists.len())
        };
        // Regression: `psycopg2==2.9.10; sys_platform == 'linux'` was left
        // out, and the offline install then failed where `uv sync` builds it.
        assert_eq!(built("sys_platform == 'linux'", Some("3.11.2")), Some(1));
        assert_eq!(
            built(
                "python_version >= '3.10' and platform_machine == 'x86_64'",
                Some("3.11.2")
            ),
            Some(1)
        );
        // Twins: false on the target, or not decidable without the image's
        // Python, it stays out.
        assert_eq!(built("sys_platform == 'win32'", Some("3.11.2")), Some(0));
        assert_eq!(built("python_version < '3.10'", Some("3.11.2")), Some(0));
        assert_eq!(built("sys_platform == 'linux'", None), Some(0));
    }

    #[test]
    fn the_wheelhouse_has_the_fitting_wheels_and_the_sdists_of_packages_without_one() {
        let amd64 = amd64();
        let names = |packages: &[(&Package, &str)], python| {
            wheelhouse(&selection(packages), &environment(&amd64, python), true).map(|house| {
                house
                    .wheels
                    .into_iter()
                    .map(|f| f.filename)
                    .chain(
                        house
                            .sdists
                            .into_iter()
                            .map(|s| format!("{} {} from {}", s.name, s.version, s.sdist.filename)),
                    )
                    .collect::<Vec<_>>()
            })
        };
        let yaml_wheels = [
            "PyYAML-6.0.2-cp311-cp311-manylinux_2_17_x86_64.whl",
            "PyYAML-6.0.2-cp312-cp312-manylinux_2_17_x86_64.whl",
            "PyYAML-6.0.2-cp312-cp312-win_amd64.whl",
        ];
        let yaml = package("pyyaml", &yaml_wheels, None);
        // Windows-only, under a marker: left out.
        let pywin32 = package("pywin32", &["pywin32-308-cp311-cp311-win_amd64.whl"], None);
        let windows = "sys_platform == 'win32'";
        assert_eq!(
            names(&[(&yaml, ""), (&pywin32, windows)], None),
            Some(vec![
                "PyYAML-6.0.2-cp311-cp311-manylinux_2_17_x86_64.whl".to_owned(),
                "PyYAML-6.0.2-cp312-cp312-manylinux_2_17_x86_64.whl".to_owned(),
            ])
        );
        assert_eq!(
            names(&[(&yaml, "")], Some("3.12.8")),
            Some(vec![
                "PyYAML-6.0.2-cp312-cp312-manylinux_2_17_x86_64.whl".to_owned()
            ])
        );
        // A pure wheel needed only on Windows fits Linux too: it is left
        // out where the marker is false (it used to be fetched), and kept
        // where the marker cannot be evaluated or holds.
        let colorama = package("colorama", &["colorama-0.4.6-py2.py3-none-any.whl"], None);
        let with_colorama = |python| names(&[(&yaml, ""), (&colorama, windows)], python);
        assert_eq!(
            with_colorama(Some("3.11.2")),
            Some(vec![
                "PyYAML-6.0.2-cp311-cp311-manylinux_2_17_x86_64.whl".to_owned()
            ])
        );
        assert_eq!(with_colorama(None).map(|names| names.len()), Some(3));
        let anywhere = "python_version >= '3'";
        assert_eq!(
            names(&[(&colorama, anywhere)], Some("3.11.2")),
            Some(vec!["colorama-0.4.6-py2.py3-none-any.whl".to_owned()])
        );
        // A package every environment needs with no fitting wheel: its
        // sdist is fetched to be built, or, without one, uv downloads all.
        let no_artifact = package("psycopg2", &[], None);
        assert_eq!(names(&[(&yaml, ""), (&no_artifact, "")], None), None);
        let sdist_only = package("psycopg2", &[], Some("psycopg2-1.0.tar.gz"));
        assert_eq!(
            names(&[(&yaml, ""), (&sdist_only, "")], Some("3.11.2")),
            Some(vec![
                "PyYAML-6.0.2-cp311-cp311-manylinux_2_17_x86_64.whl".to_owned(),
                "psycopg2 6.0.2 from psycopg2-1.0.tar.gz".to_owned(),
            ])
        );
        // Not when a wheel fits, nor for a package under a marker.
        let yaml_with_sdist = package("pyyaml", &yaml_wheels, Some("PyYAML-6.0.2.tar.gz"));
        let pywin32_with_sdist = package(
            "pywin32",
            &["pywin32-308-cp311-cp311-win_amd64.whl"],
            Some("pywin32-308.tar.gz"),
        );
        assert_eq!(
            names(
                &[(&yaml_with_sdist, ""), (&pywin32_with_sdist, windows)],
                Some("3.11.2")
            ),
            Some(vec![
                "PyYAML-6.0.2-cp311-cp311-manylinux_2_17_x86_64.whl".to_owned()
            ])
        );
        // An sdist on another index: uv downloads all.
        let mut elsewhere = sdist_only.clone();
        for artifact in &mut elsewhere.artifacts {
            artifact.url = Some("https://pypi.example.com/files/psycopg2-1.0.tar.gz".into());
        }
        assert_eq!(names(&[(&yaml, ""), (&elsewhere, "")], None), None);
        // A wheel on another index: uv downloads it (with the netrc secret).
        let mut private = package("private", &["private-1.0-py3-none-any.whl"], None);
        for artifact in &mut private.artifacts {
            artifact.url =
                Some("https://pypi.example.com/files/private-1.0-py3-none-any.whl".into());
        }
        assert_eq!(names(&[(&yaml, ""), (&private, "")], None), None);
    }
}
