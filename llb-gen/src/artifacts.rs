//! Whether a lock has an artifact the image can install, checked once the
//! base image (its platform, and its Python when it says so) is known.
//!
//! A package installs from its sdist (built in the builder) or from a wheel
//! whose tags fit: a platform tag `any` or a glibc Linux tag
//! (`manylinux…`, `linux_…`) of the platform's machine, and, when the base
//! image's Python is known, a Python tag that CPython X.Y loads (`py3…`,
//! `cpXY` with its own ABI or none, or `cpXW` with the stable ABI `abi3`
//! for W ≤ Y). A package with no sdist and no fitting wheel would fail deep
//! in the installer; it is an error at its line in the lock instead, naming
//! what the lock has.
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
use crate::llb::Platform;

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
    /// `lock_file` whose text is `lock_text`; `None` unless the sha256 is
    /// 64 hex digits.
    pub fn new(url: &str, sha256: &str, lock_file: &str, lock_text: &str) -> Option<Self> {
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        Some(Self {
            url: url.to_owned(),
            sha256: sha256.to_ascii_lowercase(),
            filename: file_name(url).to_owned(),
            recorded_at: hash_position(lock_text, url, sha256)
                .map(|at| format!("{lock_file}:{}:{}", at.line, at.column)),
        })
    }
}

/// Where `lock_text` records the file at `url` with `sha256`: the hash on
/// the URL's line (two files of a forged lock may share a hash), else the
/// URL, else the hash's first occurrence.
fn hash_position(lock_text: &str, url: &str, sha256: &str) -> Option<crate::diagnostic::Position> {
    let Some(url_at) = lock_text.find(url) else {
        return crate::project::find(lock_text, sha256);
    };
    let line_start = lock_text[..url_at].rfind('\n').map_or(0, |i| i + 1);
    let line_end = lock_text[url_at..]
        .find('\n')
        .map_or(lock_text.len(), |i| url_at + i);
    let offset = lock_text[line_start..line_end]
        .find(sha256)
        .map_or(url_at, |i| line_start + i);
    Some(crate::project::position_of(lock_text, offset))
}

/// A locked package's files with their addresses, for [`wheelhouse`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchablePackage {
    /// Its normalized name.
    pub name: String,
    /// Its locked version.
    pub version: String,
    /// Whether every environment needs it (not only under a marker, and
    /// not a version kept for some environments only).
    pub needed_everywhere: bool,
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

/// What to fetch for a venv of `packages` on `platform` with the base
/// image's Python `python` (every CPython 3 when unknown): each package's
/// wheels that fit, and the sdist of a package every environment needs that
/// has none. `None` when fetching cannot give the venv everything: such a
/// package has no sdist pybase may build alone, or a file is elsewhere than
/// on PyPI. A package needed only under a marker without a fitting wheel is
/// left out (on Linux, a Windows-only one).
pub fn wheelhouse(
    packages: &[FetchablePackage],
    platform: &Platform,
    python: Option<&str>,
) -> Option<Wheelhouse> {
    let machine = wheel_machine(platform)?;
    let python = python.and_then(python_minor);
    let on_pypi = |file: &LockedFile| file.url.starts_with(PYPI_FILES);
    let mut house = Wheelhouse::default();
    for package in packages {
        let fitting: Vec<&LockedFile> = package
            .wheels
            .iter()
            .filter(|wheel| wheel_fits(&wheel.filename, machine, python))
            .collect();
        if fitting.is_empty() && package.needed_everywhere {
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

/// `(major, minor)` of a Python version such as `3.11.2`.
fn python_minor(text: &str) -> Option<(u32, u32)> {
    let mut parts = text.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// The machine name wheel tags use for `platform`'s architecture, when
/// pybase knows it.
fn wheel_machine(platform: &Platform) -> Option<&'static str> {
    match (platform.architecture.as_str(), platform.variant.as_str()) {
        ("amd64", _) => Some("x86_64"),
        ("arm64", _) => Some("aarch64"),
        ("arm", "v7" | "") => Some("armv7l"),
        ("386", _) => Some("i686"),
        ("ppc64le", _) => Some("ppc64le"),
        ("s390x", _) => Some("s390x"),
        ("riscv64", _) => Some("riscv64"),
        _ => None,
    }
}

/// Whether the wheel `filename` installs on glibc Linux on `machine` with
/// CPython `python` (major, minor; any CPython 3 when unknown).
pub fn wheel_fits(filename: &str, machine: &str, python: Option<(u32, u32)>) -> bool {
    let Some(stem) = filename.strip_suffix(".whl") else {
        return false;
    };
    let parts: Vec<&str> = stem.split('-').collect();
    let [.., python_tags, abi_tags, platform_tags] = parts.as_slice() else {
        return false;
    };
    if parts.len() < 5 {
        return false;
    }
    let platform_fits = platform_tags.split('.').any(|tag| {
        tag == "any"
            || ((tag.starts_with("manylinux") || tag.starts_with("linux_"))
                && tag.ends_with(&format!("_{machine}")))
    });
    let python_fits = python_tags.split('.').any(|tag| {
        if tag.starts_with("py3") {
            return true;
        }
        let Some(minor) = tag.strip_prefix("cp3").and_then(|m| m.parse::<u32>().ok()) else {
            return false;
        };
        match python {
            None => true,
            Some((major, wanted)) => {
                major == 3
                    && abi_tags.split('.').any(|abi| {
                        (minor == wanted
                            && (abi == "none" || abi.starts_with(&format!("cp3{minor}"))))
                            || (minor <= wanted && abi == "abi3")
                    })
            }
        }
    });
    platform_fits && python_fits
}

/// Check that every package in `locked` has an artifact for `platform`
/// and, when known, the base image's Python `python` (its full version):
/// an error at each package's line that has none.
pub fn check(
    locked: &[LockedArtifacts],
    platform: &Platform,
    python: Option<&str>,
) -> Result<(), Diagnostics> {
    let Some(machine) = wheel_machine(platform) else {
        return Ok(());
    };
    let python_version = python.and_then(python_minor);
    let problems: Vec<Diagnostic> = locked
        .iter()
        .filter(|package| {
            !package.has_sdist
                && !package.wheels.is_empty()
                && !package
                    .wheels
                    .iter()
                    .any(|wheel| wheel_fits(wheel, machine, python_version))
        })
        .map(|package| {
            let target = match (python_version, python) {
                (Some(_), Some(full)) => {
                    format!("CPython {full} on {}", platform.to_spec_string())
                }
                _ => platform.to_spec_string(),
            };
            let mut tags: Vec<String> = package.wheels.iter().map(|w| wheel_tags(w)).collect();
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

/// The tags of a wheel file name (`cp312-cp312-manylinux_2_17_x86_64`).
fn wheel_tags(filename: &str) -> String {
    let stem = filename.strip_suffix(".whl").unwrap_or(filename);
    let parts: Vec<&str> = stem.split('-').collect();
    match parts.as_slice() {
        [.., python, abi, platform] if parts.len() >= 5 => format!("{python}-{abi}-{platform}"),
        _ => filename.to_owned(),
    }
}

/// The file names of a lock's array of wheel tables, each named by the
/// first of `keys` it has (a file name, a URL or a path).
pub(crate) fn wheel_file_names(wheels: Option<&toml::Value>, keys: &[&str]) -> Vec<String> {
    wheels
        .and_then(toml::Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|wheel| {
            keys.iter()
                .find_map(|key| wheel.get(*key)?.as_str())
                .map(|location| file_name(location).to_owned())
        })
        .collect()
}

/// The last path segment of a URL or path: an artifact's file name.
pub(crate) fn file_name(location: &str) -> &str {
    let location = location.split(['#', '?']).next().unwrap_or(location);
    location.rsplit('/').next().unwrap_or(location)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wheel_tags_fit_the_platform_and_python_as_pip_would_choose() {
        let fits = |wheel: &str, python| wheel_fits(wheel, "x86_64", python);
        let py311 = Some((3, 11));
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
            Some((3, 8))
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
        match check(locked, &platform, python) {
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
    fn a_file_is_recorded_where_its_url_s_line_holds_its_hash() {
        // A forged lock may give two files one hash: each is found on its
        // own URL's line.
        let hash = "a".repeat(64);
        let lock = format!(
            "[[package]]\n\
             sdist = {{ url = \"https://f/x-1.tar.gz\", hash = \"sha256:{hash}\" }}\n\
             wheels = [{{ url = \"https://f/x-1-py3-none-any.whl\", hash = \"sha256:{hash}\" }}]\n"
        );
        let at = |url: &str| {
            LockedFile::new(url, &hash, "uv.lock", &lock).and_then(|file| file.recorded_at)
        };
        assert_eq!(at("https://f/x-1.tar.gz").as_deref(), Some("uv.lock:2:56"));
        assert_eq!(
            at("https://f/x-1-py3-none-any.whl").as_deref(),
            Some("uv.lock:3:68")
        );
        // A URL the text does not hold as such: the hash's first line.
        assert_eq!(
            at("https://f/elsewhere.whl").as_deref(),
            Some("uv.lock:2:56")
        );
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
            needed_everywhere,
            wheels: names.iter().map(|n| file(n)).collect(),
            sdist: None,
            marker: None,
        };
        let amd64 = Platform {
            os: "linux".into(),
            architecture: "amd64".into(),
            variant: String::new(),
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
