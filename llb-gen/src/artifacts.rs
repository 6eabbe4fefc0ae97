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
use crate::wheel::WheelFilename;

/// A locked package's artifacts, as its lock lists them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockedArtifacts {
    /// The package's name, as the lock writes it.
    pub name: String,
    /// Its locked version.
    pub version: String,
    /// The lock file, as errors name it.
    pub file: String,
    /// Where the lock names the package.
    pub at: Option<Position>,
    /// The file names of its wheels.
    pub wheels: Vec<String>,
    /// Whether it has an sdist (or another artifact that builds anywhere).
    pub has_sdist: bool,
}

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

/// A locked package's files with their addresses, for [`wheelhouse`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchablePackage {
    /// Its normalized name.
    pub name: String,
    /// Its locked version.
    pub version: String,
    /// The environments that need it: true for every one; a marker when
    /// the lock reaches it only under markers, or keeps this version for
    /// some environments only.
    pub needed_when: pep508_rs::MarkerTree,
    /// Its wheels.
    pub wheels: Vec<LockedFile>,
    /// Its sdist, when the lock has one and pybase may build it alone
    /// (no project setting changes how uv builds it).
    pub sdist: Option<LockedFile>,
    /// The environment marker the lock gives it, if any (`pylock.toml`,
    /// whose requirements pybase writes itself: [`requirements_text`]).
    pub marker: Option<String>,
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

/// What to fetch for a venv of `packages` in `environment`: each package's
/// wheels that fit, and the sdist of a package every environment needs that
/// has none. `None` when fetching cannot give the venv everything: such a
/// package has no sdist pybase may build alone, or a file is elsewhere than
/// on PyPI. A package needed only under a marker without a fitting wheel is
/// left out (on Linux, a Windows-only one).
pub fn wheelhouse(
    packages: &[FetchablePackage],
    environment: &TargetEnvironment,
) -> Option<Wheelhouse> {
    environment.machine?;
    let markers = environment.markers();
    // A package needed where the target is, though not everywhere (under a
    // marker true on the target), is needed all the same; with no known
    // interpreter, only what every environment needs.
    let needed = |package: &FetchablePackage| {
        package.needed_when.is_true()
            || markers
                .as_ref()
                .is_some_and(|markers| package.needed_when.evaluate(markers, &[]))
    };
    let on_pypi = |file: &LockedFile| file.url.starts_with(PYPI_FILES);
    let mut house = Wheelhouse::default();
    for package in packages {
        let fitting: Vec<&LockedFile> = package
            .wheels
            .iter()
            .filter(|wheel| fits(&wheel.filename, environment))
            .collect();
        if fitting.is_empty() && needed(package) {
            let sdist = package.sdist.as_ref().filter(|sdist| on_pypi(sdist))?;
            house.sdists.push(SdistBuild {
                name: package.name.clone(),
                version: package.version.clone(),
                sdist: sdist.clone(),
            });
        }
        for wheel in fitting {
            if !on_pypi(wheel) {
                return None;
            }
            house.wheels.push(wheel.clone());
        }
    }
    house.wheels.sort_by(|a, b| a.filename.cmp(&b.filename));
    house.wheels.dedup();
    house.sdists.sort_by(|a, b| a.name.cmp(&b.name));
    house.sdists.dedup();
    Some(house)
}

/// The requirements with hashes the offline install reads, for a lock
/// uv cannot export (`pylock.toml`): each of `packages` pinned, with its
/// marker and the sha256 of every file it has, but those `built` from an
/// sdist, which the install adds by their pins.
pub fn requirements_text(packages: &[FetchablePackage], built: &[SdistBuild]) -> String {
    let mut text = String::new();
    for package in packages {
        if built.iter().any(|build| build.name == package.name) {
            continue;
        }
        text.push_str(&format!("{}=={}", package.name, package.version));
        if let Some(marker) = &package.marker {
            text.push_str(&format!(" ; {marker}"));
        }
        for file in package.wheels.iter().chain(&package.sdist) {
            text.push_str(&format!(" \\\n    --hash=sha256:{}", file.sha256));
        }
        text.push('\n');
    }
    text
}

/// Whether the wheel `filename` installs in `environment`.
fn fits(filename: &str, environment: &TargetEnvironment) -> bool {
    WheelFilename::parse(filename).is_some_and(|wheel| wheel.fits(environment))
}

/// Check that every package in `locked` has an artifact for `environment`
/// on `platform`: an error at each package's line that has none.
pub fn check(
    locked: &[LockedArtifacts],
    platform: &Platform,
    environment: &TargetEnvironment,
) -> Result<(), Diagnostics> {
    if environment.machine.is_none() {
        return Ok(());
    }
    let problems: Vec<Diagnostic> = locked
        .iter()
        .filter(|package| {
            !package.has_sdist
                && !package.wheels.is_empty()
                && !package
                    .wheels
                    .iter()
                    .any(|wheel| fits(wheel, environment))
        })
        .map(|package| {
            let target = environment.describe(platform);
            let mut tags: Vec<String> = package
                .wheels
                .iter()
                .map(|w| WheelFilename::parse(w).map_or_else(|| w.clone(), |w| w.tags()))
                .collect();
            tags.dedup();
            let shown = if tags.len() > 6 {
                format!("{}, … ({} wheels)", tags[..6].join(", "), tags.len())
            } else {
                tags.join(", ")
            };
            Diagnostic::at(
                &package.file,
                package.at,
                format!(
                    "`{}` {} has no artifact for {target}: the lock has no sdist, and wheels for {shown}",
                    package.name, package.version
                ),
            )
            .with_hint(format!(
                "build for a platform and Python it has wheels for, or lock a version of `{}` that has one (or its sdist)",
                package.name
            ))
        })
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Diagnostics(problems))
    }
}

/// The last path segment of a URL or path: an artifact's file name.
pub(crate) fn file_name(location: &str) -> &str {
    let location = location.split(['#', '?']).next().unwrap_or(location);
    location.rsplit('/').next().unwrap_or(location)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::environment::ImageFacts;

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

    fn yaml(wheels: &[&str], has_sdist: bool) -> LockedArtifacts {
        LockedArtifacts {
            name: "pyyaml".to_owned(),
            version: "6.0.2".to_owned(),
            file: "uv.lock".to_owned(),
            at: Some(Position {
                line: 26,
                column: 1,
            }),
            wheels: wheels.iter().map(|w| (*w).to_owned()).collect(),
            has_sdist,
        }
    }

    fn verdict(locked: &[LockedArtifacts], platform: &str, python: Option<&str>) -> String {
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
        let sdist = LockedFile {
            url: format!("{PYPI_FILES}packages/psycopg2-2.9.10.tar.gz"),
            sha256: "0".repeat(64),
            filename: "psycopg2-2.9.10.tar.gz".to_owned(),
            recorded_at: None,
        };
        let under = |marker: &str| FetchablePackage {
            name: "psycopg2".to_owned(),
            version: "2.9.10".to_owned(),
            needed_when: marker.parse().expect("a marker"),
            wheels: Vec::new(),
            sdist: Some(sdist.clone()),
            marker: None,
        };
        let built = |package: FetchablePackage, python: Option<&str>| {
            wheelhouse(&[package], &environment(&amd64(), python)).map(|house| house.sdists.len())
        };
        // Regression: `psycopg2==2.9.10; sys_platform == 'linux'` was left
        // out, and the offline install then failed where `uv sync` builds it.
        assert_eq!(
            built(under("sys_platform == 'linux'"), Some("3.11.2")),
            Some(1)
        );
        assert_eq!(
            built(
                under("python_version >= '3.10' and platform_machine == 'x86_64'"),
                Some("3.11.2")
            ),
            Some(1)
        );
        // Twins: false on the target, or not decidable without the image's
        // Python, it stays out.
        assert_eq!(
            built(under("sys_platform == 'win32'"), Some("3.11.2")),
            Some(0)
        );
        assert_eq!(
            built(under("python_version < '3.10'"), Some("3.11.2")),
            Some(0)
        );
        assert_eq!(built(under("sys_platform == 'linux'"), None), Some(0));
    }

    #[test]
    fn the_wheelhouse_has_the_fitting_wheels_and_the_sdists_of_packages_without_one() {
        let file = |name: &str| LockedFile {
            url: format!("{PYPI_FILES}packages/{name}"),
            sha256: "0".repeat(64),
            filename: name.to_owned(),
            recorded_at: None,
        };
        let package = |needed_everywhere, names: &[&str]| FetchablePackage {
            name: names
                .first()
                .and_then(|n| n.split('-').next())
                .unwrap_or("psycopg2")
                .to_lowercase(),
            version: "1.0".into(),
            needed_when: if needed_everywhere {
                pep508_rs::MarkerTree::TRUE
            } else {
                "sys_platform == 'win32'".parse().expect("a marker")
            },
            wheels: names.iter().map(|n| file(n)).collect(),
            sdist: None,
            marker: None,
        };
        let amd64 = amd64();
        let wheelhouse = |packages: &[FetchablePackage], platform: &Platform, python| {
            wheelhouse(packages, &environment(platform, python))
        };
        let yaml = package(
            true,
            &[
                "PyYAML-6.0.2-cp311-cp311-manylinux_2_17_x86_64.whl",
                "PyYAML-6.0.2-cp312-cp312-manylinux_2_17_x86_64.whl",
                "PyYAML-6.0.2-cp312-cp312-win_amd64.whl",
            ],
        );
        // Windows-only, under a marker: left out.
        let pywin32 = package(false, &["pywin32-308-cp311-cp311-win_amd64.whl"]);
        let names = |house: Option<Wheelhouse>| {
            house.map(|house| {
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
        assert_eq!(
            names(wheelhouse(&[yaml.clone(), pywin32.clone()], &amd64, None)),
            Some(vec![
                "PyYAML-6.0.2-cp311-cp311-manylinux_2_17_x86_64.whl".to_owned(),
                "PyYAML-6.0.2-cp312-cp312-manylinux_2_17_x86_64.whl".to_owned(),
            ])
        );
        assert_eq!(
            names(wheelhouse(
                std::slice::from_ref(&yaml),
                &amd64,
                Some("3.12.8")
            )),
            Some(vec![
                "PyYAML-6.0.2-cp312-cp312-manylinux_2_17_x86_64.whl".to_owned()
            ])
        );
        // A package every environment needs with no fitting wheel: its
        // sdist is fetched to be built, or, without one, uv downloads all.
        let mut sdist_only = package(true, &[]);
        assert_eq!(
            wheelhouse(&[yaml.clone(), sdist_only.clone()], &amd64, None),
            None
        );
        sdist_only.sdist = Some(file("psycopg2-1.0.tar.gz"));
        assert_eq!(
            names(wheelhouse(
                &[yaml.clone(), sdist_only.clone()],
                &amd64,
                Some("3.11.2")
            )),
            Some(vec![
                "PyYAML-6.0.2-cp311-cp311-manylinux_2_17_x86_64.whl".to_owned(),
                "psycopg2 1.0 from psycopg2-1.0.tar.gz".to_owned(),
            ])
        );
        // Not when a wheel fits, nor for a package under a marker.
        let mut yaml_with_sdist = yaml.clone();
        yaml_with_sdist.sdist = Some(file("PyYAML-6.0.2.tar.gz"));
        let mut pywin32_with_sdist = pywin32.clone();
        pywin32_with_sdist.sdist = Some(file("pywin32-308.tar.gz"));
        assert_eq!(
            names(wheelhouse(
                &[yaml_with_sdist, pywin32_with_sdist],
                &amd64,
                Some("3.11.2")
            )),
            Some(vec![
                "PyYAML-6.0.2-cp311-cp311-manylinux_2_17_x86_64.whl".to_owned()
            ])
        );
        // An sdist on another index: uv downloads all.
        sdist_only.sdist = Some(LockedFile {
            url: "https://pypi.example.com/files/psycopg2-1.0.tar.gz".into(),
            ..file("psycopg2-1.0.tar.gz")
        });
        assert_eq!(wheelhouse(&[yaml.clone(), sdist_only], &amd64, None), None);
        // A wheel on another index: uv downloads it (with the netrc secret).
        let mut private = package(true, &["private-1.0-py3-none-any.whl"]);
        private.wheels[0].url =
            "https://pypi.example.com/files/private-1.0-py3-none-any.whl".into();
        assert_eq!(wheelhouse(&[yaml, private], &amd64, None), None);
    }
}
