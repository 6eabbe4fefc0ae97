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

/// How much an installer prefers a wheel that fits, higher first: its
/// interpreter tags' rank, then its platform's (see [`WheelFilename::priority`]).
pub type Priority = (u32, u32);

impl WheelFilename {
    /// The rank of this wheel's best tag in the order pip and uv prefer the
    /// tags of a Linux CPython 3.Y (the packaging library's `sys_tags`,
    /// which uv's tag priorities follow), when the environment makes that
    /// order certain (its interpreter and its C library's version known)
    /// and the wheel fits:
    /// 1. on a Linux platform tag: `cp3Y` with its own ABI, `cp3Y-abi3`,
    ///    `cp3Y-none`, `cp3W-abi3` for W from Y-1 down, `py3Y-none`,
    ///    `py3-none`, `py3W-none` for W from Y-1 down; each on the platform
    ///    tags from the newest `manylinux_X_Y` (or `musllinux_X_Y`) the C
    ///    library takes down to the oldest, then `linux_{machine}`;
    /// 2. then on `any`: `cp3Y-none`, `py3Y-none`, `py3-none`, `py3W-none`.
    ///
    /// Of two wheels of one package that fit, the installer takes the one
    /// with the higher priority.
    pub fn priority(&self, environment: &TargetEnvironment) -> Option<Priority> {
        let interpreter = environment.python?;
        let machine = environment.machine?;
        if matches!(
            environment.libc,
            Libc::Unknown | Libc::Glibc(None) | Libc::Musl(None)
        ) || !self.fits(environment)
        {
            return None;
        }
        let platforms: Vec<(bool, u32)> = self
            .platform_tags
            .iter()
            .filter(|tag| platform_fits(tag, machine, environment.libc))
            .map(|tag| (tag.as_str() == "any", platform_rank(tag)))
            .collect();
        let mut best = None;
        for python in &self.python_tags {
            for abi in &self.abi_tags {
                if !interpreter_fits(python, abi, Some(interpreter)) {
                    continue;
                }
                for &(any, platform) in &platforms {
                    let Some(rank) = interpreter_rank(python, abi, any, interpreter) else {
                        continue;
                    };
                    best = best.max(Some((rank, platform)));
                }
            }
        }
        best
    }
}

/// The rank of a platform tag that fits among the Linux ones: the glibc
/// (or musl) version a `manylinux`/`musllinux` tag needs, newest first;
/// `linux_{machine}` and `any` last.
fn platform_rank(tag: &str) -> u32 {
    let legacy = [
        ("manylinux1_", (2, 5)),
        ("manylinux2010_", (2, 12)),
        ("manylinux2014_", (2, 17)),
    ];
    if let Some((_, (major, minor))) = legacy.iter().find(|(prefix, _)| tag.starts_with(prefix)) {
        return major * 1000 + minor;
    }
    let version = tag
        .strip_prefix("manylinux_")
        .or_else(|| tag.strip_prefix("musllinux_"))
        .and_then(|rest| {
            let mut parts = rest.splitn(3, '_');
            Some((
                parts.next()?.parse::<u32>().ok()?,
                parts.next()?.parse::<u32>().ok()?,
            ))
        });
    version.map_or(0, |(major, minor)| major * 1000 + minor)
}

/// The rank of the interpreter tags `python`-`abi` (which load in
/// `interpreter`) on a Linux platform tag or, `any`, on `any`; `None` for
/// a pair the tag order does not list there (`cp3Y-cp3Y-any`).
fn interpreter_rank(python: &str, abi: &str, any: bool, interpreter: Interpreter) -> Option<u32> {
    let y = interpreter.version.minor;
    let own = python == format!("cp3{y}");
    let py_rank = |base: u32| {
        let minor = python.strip_prefix("py3")?;
        Some(match minor {
            "" => base + 90,
            _ => match minor.parse::<u32>().ok()? {
                w if w == y => base + 100,
                w => base + w.min(80),
            },
        })
    };
    match (any, abi) {
        (false, "abi3") if own => Some(900),
        (false, "abi3") => {
            let w: u32 = python.strip_prefix("cp3")?.parse().ok()?;
            Some(700 + w.min(99))
        }
        (false, "none") if own => Some(800),
        (false, "none") => py_rank(500),
        (false, _) if own => Some(1000),
        (true, "none") if own => Some(400),
        (true, "none") => py_rank(200),
        _ => None,
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

    #[test]
    fn of_the_wheels_that_fit_the_most_specific_tags_come_first() {
        let environment = cpython("3.12", false, Libc::Glibc(Some((2, 36))));
        let priority = |filename: &str| {
            WheelFilename::parse(filename)
                .expect("a wheel name")
                .priority(&environment)
        };
        // Best first, as pip and uv order them for CPython 3.12 on glibc 2.36.
        let order = [
            "x-1-cp312-cp312-manylinux_2_28_x86_64.whl",
            "x-1-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
            "x-1-cp312-cp312-linux_x86_64.whl",
            "x-1-cp312-abi3-manylinux_2_17_x86_64.whl",
            "x-1-cp39-abi3-manylinux_2_34_x86_64.whl",
            "x-1-cp39-abi3-manylinux_2_28_x86_64.whl",
            "x-1-cp37-abi3-manylinux_2_28_x86_64.whl",
            "x-1-py3-none-manylinux_2_17_x86_64.whl",
            "x-1-py3-none-any.whl",
            "x-1-py2.py3-none-any.whl",
        ];
        let ranks: Vec<_> = order.iter().map(|f| priority(f)).collect();
        assert!(ranks.iter().all(Option::is_some), "{ranks:?}");
        for pair in ranks[..9].windows(2) {
            assert!(pair[0] > pair[1], "{ranks:?}");
        }
        // The last two tie: the same tag fits both.
        assert_eq!(priority(order[8]), priority(order[9]));
        // A wheel that does not fit has none, and nor does any wheel where
        // the order is not certain (the C library's version unknown).
        assert_eq!(priority("x-1-cp312-cp312-manylinux_2_39_x86_64.whl"), None);
        let unknown = cpython("3.12", false, Libc::Unknown);
        let fitting = WheelFilename::parse(order[0]).expect("a wheel name");
        assert!(fitting.fits(&unknown));
        assert_eq!(fitting.priority(&unknown), None);
    }
}
