//! Wheel file names and whether a wheel installs in a target environment.
//!
//! A wheel's name is `{name}-{version}(-{build})?-{python}-{abi}-{platform}.whl`
//! (the binary distribution format); each of the last three may be a
//! compressed set (`py2.py3`). [`WheelFilename::fits`] follows the tag
//! order pip and uv accept for a Linux CPython 3.Y (PEP 425, the packaging
//! library's `sys_tags`):
//! - `cp3Y` with its own ABI (`cp3Yt` for a free-threaded build), `abi3`
//!   (not on a free-threaded build) or `none`;
//! - `cp3W` with `abi3` for 2 <= W < Y: the stable ABI's minimum version
//!   must hold;
//! - `py3Y`, `py3` or `py3W` for W < Y with the ABI `none`;
//!
//! and on a platform tag `any`, `linux_{machine}`, `manylinux_X_Y_{machine}`
//! (or its legacy aliases `manylinux1`, `manylinux2010`, `manylinux2014`)
//! when the image's glibc is X.Y or newer (PEP 600), `musllinux_X_Y_{machine}`
//! when its musl is X.Y or newer (PEP 656). A fact the environment does not
//! know admits every tag it would decide (see [`crate::environment`]).

use crate::environment::{Interpreter, Libc, TargetEnvironment};

/// A wheel's file name, split into its parts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WheelFilename {
    /// The distribution's name, as the file writes it.
    pub name: String,
    /// Its version.
    pub version: String,
    /// The Python tags (`cp312`, `py3`).
    pub python_tags: Vec<String>,
    /// The ABI tags (`cp312`, `abi3`, `none`).
    pub abi_tags: Vec<String>,
    /// The platform tags (`manylinux_2_17_x86_64`, `any`).
    pub platform_tags: Vec<String>,
}

impl WheelFilename {
    /// The parts of `filename`, when it is a wheel's.
    pub fn parse(filename: &str) -> Option<Self> {
        let stem = filename.strip_suffix(".whl")?;
        let parts: Vec<&str> = stem.split('-').collect();
        let (name, version, tags) = match parts.as_slice() {
            [name, version, python, abi, platform] => (name, version, [python, abi, platform]),
            [name, version, build, python, abi, platform]
                if build.starts_with(|c: char| c.is_ascii_digit()) =>
            {
                (name, version, [python, abi, platform])
            }
            _ => return None,
        };
        let split = |tags: &str| -> Vec<String> { tags.split('.').map(str::to_owned).collect() };
        if name.is_empty() || version.is_empty() || tags.iter().any(|t| t.is_empty()) {
            return None;
        }
        Some(Self {
            name: (*name).to_owned(),
            version: (*version).to_owned(),
            python_tags: split(tags[0]),
            abi_tags: split(tags[1]),
            platform_tags: split(tags[2]),
        })
    }

    /// The tags as the file name writes them (`cp312-cp312-manylinux_2_17_x86_64`).
    pub fn tags(&self) -> String {
        format!(
            "{}-{}-{}",
            self.python_tags.join("."),
            self.abi_tags.join("."),
            self.platform_tags.join(".")
        )
    }

    /// Whether the wheel installs in `environment` (on Linux).
    pub fn fits(&self, environment: &TargetEnvironment) -> bool {
        let Some(machine) = environment.machine else {
            return false;
        };
        let platform_fits = self
            .platform_tags
            .iter()
            .any(|tag| platform_fits(tag, machine, environment.libc));
        let interpreter_fits = self.python_tags.iter().any(|python| {
            self.abi_tags
                .iter()
                .any(|abi| interpreter_fits(python, abi, environment.python))
        });
        platform_fits && interpreter_fits
    }
}

/// Whether the platform tag `tag` installs on `machine` with `libc`.
fn platform_fits(tag: &str, machine: &str, libc: Libc) -> bool {
    if tag == "any" || tag == format!("linux_{machine}") {
        return true;
    }
    let Some(family_version) = tag.strip_suffix(&format!("_{machine}")) else {
        return false;
    };
    // The legacy manylinux names and the glibc each requires (PEP 600).
    let needed = match family_version {
        "manylinux1" => Some(("manylinux", (2, 5))),
        "manylinux2010" => Some(("manylinux", (2, 12))),
        "manylinux2014" => Some(("manylinux", (2, 17))),
        other => other
            .strip_prefix("manylinux_")
            .map(|v| ("manylinux", v))
            .or_else(|| other.strip_prefix("musllinux_").map(|v| ("musllinux", v)))
            .and_then(|(family, version)| {
                let (major, minor) = version.split_once('_')?;
                Some((family, (major.parse().ok()?, minor.parse().ok()?)))
            }),
    };
    match (needed, libc) {
        (Some(("manylinux", needs)), Libc::Glibc(has)) => has.is_none_or(|has| needs <= has),
        (Some(("manylinux", _)), Libc::Unknown) => true,
        (Some(("musllinux", needs)), Libc::Musl(has)) => has.is_none_or(|has| needs <= has),
        _ => false,
    }
}

/// Whether the Python tag `python` with the ABI tag `abi` loads in
/// `interpreter` (any CPython 3 when unknown).
fn interpreter_fits(python: &str, abi: &str, interpreter: Option<Interpreter>) -> bool {
    if let Some(tag_minor) = python.strip_prefix("py3") {
        // `py3` alone, or `py3W` for W <= Y, with no ABI.
        return abi == "none"
            && (tag_minor.is_empty()
                || tag_minor.parse::<u32>().is_ok_and(|w| {
                    interpreter.is_none_or(|i| i.version.major == 3 && w <= i.version.minor)
                }));
    }
    let Some(w) = python
        .strip_prefix("cp3")
        .and_then(|m| m.parse::<u32>().ok())
    else {
        return false;
    };
    let Some(interpreter) = interpreter else {
        return true;
    };
    let y = interpreter.version.minor;
    if interpreter.version.major != 3 {
        return false;
    }
    let own_abi = match (interpreter.free_threaded, y) {
        (true, _) => format!("cp3{y}t"),
        (false, ..=7) => format!("cp3{y}m"),
        (false, _) => format!("cp3{y}"),
    };
    match abi {
        "abi3" => !interpreter.free_threaded && (2..=y).contains(&w),
        "none" => w == y,
        _ => w == y && abi == own_abi,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::environment::{ImageFacts, PythonVersion};
    use crate::llb::Platform;

    fn amd64() -> Platform {
        Platform {
            os: "linux".into(),
            architecture: "amd64".into(),
            variant: String::new(),
        }
    }

    fn cpython(version: &str, free_threaded: bool, libc: Libc) -> TargetEnvironment {
        TargetEnvironment::new(
            &amd64(),
            None,
            &ImageFacts {
                python: PythonVersion::parse(version).map(|version| Interpreter {
                    version,
                    free_threaded,
                }),
                libc: Some(libc),
            },
        )
    }

    fn fits(filename: &str, environment: &TargetEnvironment) -> bool {
        WheelFilename::parse(filename)
            .unwrap_or_else(|| panic!("{filename} is a wheel name"))
            .fits(environment)
    }

    #[test]
    fn file_names_split_into_their_tags() {
        let wheel = WheelFilename::parse("six-1.17.0-py2.py3-none-any.whl")
            .expect("the test's input parses");
        assert_eq!(wheel.python_tags, ["py2", "py3"]);
        assert_eq!(wheel.tags(), "py2.py3-none-any");
        let built = WheelFilename::parse("pkg-1.0-1build-cp312-abi3-linux_x86_64.whl")
            .expect("the test's input parses");
        assert_eq!(built.tags(), "cp312-abi3-linux_x86_64");
        assert_eq!(WheelFilename::parse("pkg-1.0.tar.gz"), None);
        assert_eq!(WheelFilename::parse("pkg-1.0-x-cp312-abi3-any.whl"), None);
        assert_eq!(WheelFilename::parse("pkg-1.0--none-any.whl"), None);
    }

    #[test]
    fn python_tags_fit_only_the_interpreters_that_load_them() {
        let cp311 = cpython("3.11", false, Libc::Glibc(Some((2, 36))));
        // A pure wheel for a newer Python does not install on 3.11 (pip and
        // uv refuse `py312` there); its twin for 3.11 and older does.
        assert!(!fits("x-1-py312-none-any.whl", &cp311));
        assert!(fits("x-1-py311-none-any.whl", &cp311));
        assert!(fits("x-1-py38-none-any.whl", &cp311));
        assert!(fits("x-1-py2.py3-none-any.whl", &cp311));
        assert!(!fits("x-1-py2-none-any.whl", &cp311));
        // The stable ABI's minimum version must hold.
        assert!(fits("x-1-cp38-abi3-manylinux_2_17_x86_64.whl", &cp311));
        assert!(fits("x-1-cp311-abi3-manylinux_2_17_x86_64.whl", &cp311));
        assert!(!fits("x-1-cp312-abi3-manylinux_2_17_x86_64.whl", &cp311));
        // Version-specific builds: only the interpreter's own.
        assert!(fits("x-1-cp311-cp311-manylinux_2_17_x86_64.whl", &cp311));
        assert!(!fits("x-1-cp312-cp312-manylinux_2_17_x86_64.whl", &cp311));
        assert!(!fits("x-1-cp310-cp310-manylinux_2_17_x86_64.whl", &cp311));
    }

    #[test]
    fn free_threaded_builds_take_only_their_own_abi() {
        let cp313 = cpython("3.13", false, Libc::Glibc(Some((2, 36))));
        let cp313t = cpython("3.13", true, Libc::Glibc(Some((2, 36))));
        let threaded = "x-1-cp313-cp313t-manylinux_2_17_x86_64.whl";
        let normal = "x-1-cp313-cp313-manylinux_2_17_x86_64.whl";
        let stable = "x-1-cp39-abi3-manylinux_2_17_x86_64.whl";
        assert!(!fits(threaded, &cp313));
        assert!(fits(threaded, &cp313t));
        assert!(fits(normal, &cp313));
        assert!(!fits(normal, &cp313t));
        assert!(fits(stable, &cp313));
        assert!(!fits(stable, &cp313t));
        assert!(fits("x-1-py3-none-any.whl", &cp313t));
    }

    #[test]
    fn platform_tags_fit_the_images_libc_and_its_version() {
        let glibc_2_31 = cpython("3.11", false, Libc::Glibc(Some((2, 31))));
        assert!(fits(
            "x-1-cp311-cp311-manylinux_2_17_x86_64.whl",
            &glibc_2_31
        ));
        assert!(fits(
            "x-1-cp311-cp311-manylinux2014_x86_64.whl",
            &glibc_2_31
        ));
        assert!(fits("x-1-cp311-cp311-manylinux1_x86_64.whl", &glibc_2_31));
        assert!(fits(
            "x-1-cp311-cp311-manylinux_2_31_x86_64.whl",
            &glibc_2_31
        ));
        // Needs a newer glibc than the image has.
        assert!(!fits(
            "x-1-cp311-cp311-manylinux_2_34_x86_64.whl",
            &glibc_2_31
        ));
        assert!(!fits(
            "x-1-cp311-cp311-musllinux_1_2_x86_64.whl",
            &glibc_2_31
        ));
        assert!(!fits(
            "x-1-cp311-cp311-manylinux_2_17_aarch64.whl",
            &glibc_2_31
        ));
        assert!(fits("x-1-cp311-cp311-linux_x86_64.whl", &glibc_2_31));
        let musl_1_2 = cpython("3.11", false, Libc::Musl(Some((1, 2))));
        assert!(fits("x-1-cp311-cp311-musllinux_1_2_x86_64.whl", &musl_1_2));
        assert!(fits("x-1-cp311-cp311-musllinux_1_1_x86_64.whl", &musl_1_2));
        assert!(!fits("x-1-cp311-cp311-musllinux_1_3_x86_64.whl", &musl_1_2));
        assert!(!fits(
            "x-1-cp311-cp311-manylinux_2_17_x86_64.whl",
            &musl_1_2
        ));
        // A compressed tag set fits when one of its tags does.
        assert!(fits(
            "x-1-cp311-cp311-manylinux_2_34_x86_64.manylinux_2_17_x86_64.whl",
            &glibc_2_31
        ));
    }

    #[test]
    fn what_the_image_does_not_tell_admits_every_tag_it_would_decide() {
        let unknown = TargetEnvironment::new(&amd64(), None, &ImageFacts::default());
        assert!(fits("x-1-cp315-cp315-manylinux_2_39_x86_64.whl", &unknown));
        assert!(fits("x-1-py312-none-any.whl", &unknown));
        // Twin: the machine is always known, and musl wheels never fit glibc
        // or an unknown libc.
        assert!(!fits(
            "x-1-cp315-cp315-manylinux_2_39_aarch64.whl",
            &unknown
        ));
        assert!(!fits("x-1-cp311-cp311-musllinux_1_2_x86_64.whl", &unknown));
    }
}
