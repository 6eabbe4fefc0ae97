//! The environment a venv is installed for: the image's interpreter, its C
//! library and its machine, as one value that wheel selection
//! (the `wheel` module, which depends on this one, not the other way) and
//! marker evaluation read.
//!
//! The facts come from the image, not from the spec: `PYTHON_VERSION` in
//! its config (the official images set it) and what the gateway finds in
//! its filesystem ([`ImageFacts`]): the interpreter `python3` points at, and
//! the C library's family and version, read from the package database
//! (dpkg's status for glibc, apk's for musl) or from glibc's own banner.
//! A fact the image does not give stays unknown, and selection then keeps
//! what could fit (every CPython 3, every glibc), as before the probe.
//!
//! The parsers here take bytes the caller read; this module does no I/O.

use crate::llb::Platform;

/// A Python interpreter's version, as far as it is known.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct PythonVersion {
    /// Major version (3).
    pub major: u32,
    /// Minor version.
    pub minor: u32,
    /// Micro version, when the image says it (`PYTHON_VERSION`).
    pub micro: Option<u32>,
}

impl PythonVersion {
    /// A version such as `3.11.2` or `3.11` (a pre-release suffix on the
    /// micro part, `3.14.0rc1`, is dropped).
    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.trim().split('.');
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next()?.parse().ok()?;
        let micro = parts.next().and_then(|micro| {
            let digits: String = micro.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        });
        Some(Self {
            major,
            minor,
            micro,
        })
    }
}

/// The CPython a venv runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Interpreter {
    /// Its version.
    pub version: PythonVersion,
    /// Whether it is a free-threaded build (`python3.13t`), whose ABI is
    /// `cp313t` and which cannot load the stable ABI (`abi3`).
    pub free_threaded: bool,
}

/// A C library family with its version, when known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Libc {
    /// GNU libc: `manylinux` wheels up to its version fit.
    Glibc(Option<(u32, u32)>),
    /// musl: `musllinux` wheels up to its version fit.
    Musl(Option<(u32, u32)>),
    /// Not found in the image: treated as a glibc of any version, as
    /// pybase did before it looked.
    Unknown,
}

/// What the gateway found in an image's filesystem.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImageFacts {
    /// The interpreter `python3` names, when the image has one.
    pub python: Option<Interpreter>,
    /// Its C library.
    pub libc: Option<Libc>,
}

/// Where the gateway looks, in that order, for the interpreter: directories
/// whose `python3` entry (a link to `python3.X`) names it.
pub const PYTHON_DIRS: &[&str] = &["/usr/local/bin", "/usr/bin"];

/// dpkg's database of installed packages (Debian, Ubuntu).
pub const DPKG_STATUS: &str = "/var/lib/dpkg/status";

/// apk's database of installed packages (Alpine).
pub const APK_INSTALLED: &str = "/lib/apk/db/installed";

/// The interpreter named by a directory's entries (`python3` linking to
/// `python3.12`, or `python3.12` alone): each entry as `(name, link
/// target)`, the target empty for a file. The link is followed by name; a
/// directory with several `python3.X` and no link gives the newest.
pub fn interpreter_from_entries<'a>(
    entries: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Option<Interpreter> {
    let entries: Vec<(&str, &str)> = entries.into_iter().collect();
    if let Some((_, target)) = entries.iter().find(|(name, _)| *name == "python3")
        && let Some(found) = interpreter_from_name(target.rsplit('/').next().unwrap_or(target))
    {
        return Some(found);
    }
    entries
        .iter()
        .filter_map(|(name, _)| interpreter_from_name(name))
        .max_by_key(|found| (found.version, !found.free_threaded))
}

/// `python3.12` or `python3.13t`: the interpreter the name is for.
fn interpreter_from_name(name: &str) -> Option<Interpreter> {
    let rest = name.strip_prefix("python")?;
    let (rest, free_threaded) = match rest.strip_suffix('t') {
        Some(rest) => (rest, true),
        None => (rest, false),
    };
    let (major, minor) = rest.split_once('.')?;
    if minor.is_empty() || !minor.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(Interpreter {
        version: PythonVersion {
            major: major.parse().ok()?,
            minor: minor.parse().ok()?,
            micro: None,
        },
        free_threaded,
    })
}

/// The glibc version dpkg's `status` records for `libc6` (`2.36-9+deb12u7`
/// gives 2.36), when it is installed.
pub fn glibc_from_dpkg_status(status: &str) -> Option<(u32, u32)> {
    status
        .split("\n\n")
        .find(|stanza| {
            stanza
                .lines()
                .any(|line| line.trim_end() == "Package: libc6")
                && stanza
                    .lines()
                    .any(|line| line.starts_with("Status:") && line.ends_with(" installed"))
        })?
        .lines()
        .find_map(|line| line.strip_prefix("Version:"))
        .and_then(|version| major_minor(version.trim()))
}

/// The musl version apk's database records (`V:1.2.4-r2` in the `P:musl`
/// entry gives 1.2).
pub fn musl_from_apk_installed(installed: &str) -> Option<(u32, u32)> {
    installed
        .split("\n\n")
        .find(|entry| entry.lines().any(|line| line.trim_end() == "P:musl"))?
        .lines()
        .find_map(|line| line.strip_prefix("V:"))
        .and_then(|version| major_minor(version.trim()))
}

/// The version glibc's banner states (`… stable release version 2.36.`),
/// found in the bytes of `libc.so.6`.
pub fn glibc_from_banner(library: &[u8]) -> Option<(u32, u32)> {
    const MARKER: &[u8] = b"release version ";
    let at = library
        .windows(MARKER.len())
        .position(|window| window == MARKER)?;
    let rest = &library[at + MARKER.len()..];
    let end = rest
        .iter()
        .position(|b| !(b.is_ascii_digit() || *b == b'.'))
        .unwrap_or(rest.len());
    major_minor(
        std::str::from_utf8(&rest[..end])
            .ok()?
            .trim_end_matches('.'),
    )
}

/// Where glibc's `libc.so.6` is on `platform`, in the places Debian-like and
/// Red Hat-like images keep it.
pub fn glibc_paths(platform: &Platform) -> Vec<String> {
    let triplet = match platform.architecture.as_str() {
        "amd64" => "x86_64-linux-gnu",
        "arm64" => "aarch64-linux-gnu",
        "arm" => "arm-linux-gnueabihf",
        "386" => "i386-linux-gnu",
        "ppc64le" => "powerpc64le-linux-gnu",
        "s390x" => "s390x-linux-gnu",
        "riscv64" => "riscv64-linux-gnu",
        _ => return vec!["/lib64/libc.so.6".to_owned(), "/lib/libc.so.6".to_owned()],
    };
    vec![
        format!("/usr/lib/{triplet}/libc.so.6"),
        format!("/lib/{triplet}/libc.so.6"),
        "/usr/lib64/libc.so.6".to_owned(),
        "/lib64/libc.so.6".to_owned(),
    ]
}

/// The name of musl's dynamic loader on `platform`, whose presence in
/// `/lib` marks a musl image.
pub fn musl_loader(platform: &Platform) -> Option<String> {
    let machine = machine(platform)?;
    Some(format!("/lib/ld-musl-{machine}.so.1"))
}

/// The machine name wheel tags use for `platform`'s architecture, when
/// pybase knows it.
pub fn machine(platform: &Platform) -> Option<&'static str> {
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

/// `2.36` of `2.36-9+deb12u7`, `1.2` of `1.2.4-r2`.
fn major_minor(version: &str) -> Option<(u32, u32)> {
    let mut parts = version.split(['.', '-', '+', '~']);
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// The environment a venv is installed for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetEnvironment {
    /// The wheel tags' name of the machine (`x86_64`), when pybase knows
    /// the platform's architecture.
    pub machine: Option<&'static str>,
    /// The venv's interpreter, when known.
    pub python: Option<Interpreter>,
    /// The image's C library.
    pub libc: Libc,
}

impl TargetEnvironment {
    /// The environment on `platform` of an image whose config says
    /// `python_version` (`PYTHON_VERSION`) and whose filesystem told
    /// `facts`. The config's version, which has the micro part, wins; the
    /// filesystem's says whether the build is free-threaded.
    pub fn new(platform: &Platform, python_version: Option<&str>, facts: &ImageFacts) -> Self {
        let from_config = python_version.and_then(PythonVersion::parse);
        let python = match (from_config, facts.python) {
            (Some(version), probed) => Some(Interpreter {
                version,
                free_threaded: probed.is_some_and(|p| {
                    p.free_threaded
                        && (p.version.major, p.version.minor) == (version.major, version.minor)
                }),
            }),
            (None, probed) => probed,
        };
        Self {
            machine: machine(platform),
            python,
            libc: facts.libc.unwrap_or(Libc::Unknown),
        }
    }

    /// How messages name it: `CPython 3.11.2 with glibc 2.36 on linux/amd64`,
    /// or as much of it as is known.
    pub fn describe(&self, platform: &Platform) -> String {
        let mut known = Vec::new();
        if let Some(python) = &self.python {
            let version = &python.version;
            let micro = version.micro.map(|m| format!(".{m}")).unwrap_or_default();
            let threaded = if python.free_threaded {
                " (free-threaded)"
            } else {
                ""
            };
            known.push(format!(
                "CPython {}.{}{micro}{threaded}",
                version.major, version.minor
            ));
        }
        match self.libc {
            Libc::Glibc(Some((major, minor))) => known.push(format!("glibc {major}.{minor}")),
            Libc::Musl(Some((major, minor))) => known.push(format!("musl {major}.{minor}")),
            Libc::Musl(None) => known.push("musl".to_owned()),
            Libc::Glibc(None) | Libc::Unknown => {}
        }
        let platform = platform.to_spec_string();
        if known.is_empty() {
            platform
        } else {
            format!("{} on {platform}", known.join(" with "))
        }
    }

    /// The PEP 508 marker environment of a Linux CPython `python` on this
    /// machine: what an environment marker in a lock is evaluated against.
    /// `None` without a known interpreter or machine.
    pub fn markers(&self) -> Option<pep508_rs::MarkerEnvironment> {
        let python = self.python?;
        let machine = self.machine?;
        let version = python.version;
        let full = format!(
            "{}.{}.{}",
            version.major,
            version.minor,
            version.micro.unwrap_or(0)
        );
        pep508_rs::MarkerEnvironment::try_from(pep508_rs::MarkerEnvironmentBuilder {
            implementation_name: "cpython",
            implementation_version: &full,
            os_name: "posix",
            platform_machine: machine,
            platform_python_implementation: "CPython",
            platform_release: "",
            platform_system: "Linux",
            platform_version: "",
            python_full_version: &full,
            python_version: &format!("{}.{}", version.major, version.minor),
            sys_platform: "linux",
        })
        .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn amd64() -> Platform {
        Platform {
            os: "linux".into(),
            architecture: "amd64".into(),
            variant: String::new(),
        }
    }

    #[test]
    fn the_interpreter_is_the_one_python3_links_to() {
        let official = [
            ("python3", "python3.12"),
            ("python3.12", ""),
            ("python3.11", ""),
        ];
        let found = interpreter_from_entries(official).expect("the test's input parses");
        assert_eq!((found.version.minor, found.free_threaded), (12, false));
        // Twin: without the link, the newest interpreter of the directory.
        let unlinked = [
            ("python3.11", ""),
            ("python3.13", ""),
            ("python3.13-config", ""),
        ];
        assert_eq!(
            interpreter_from_entries(unlinked)
                .expect("the test's input parses")
                .version
                .minor,
            13
        );
        let threaded = [("python3", "/usr/bin/python3.13t"), ("python3.13t", "")];
        assert!(
            interpreter_from_entries(threaded)
                .expect("the test's input parses")
                .free_threaded
        );
        assert_eq!(interpreter_from_entries([("pip3", "")]), None);
    }

    #[test]
    fn glibc_and_musl_versions_come_from_the_package_databases() {
        let status = "Package: libc-bin\nStatus: install ok installed\nVersion: 2.36-9\n\nPackage: libc6\nStatus: install ok installed\nPriority: optional\nVersion: 2.36-9+deb12u7\n\nPackage: zlib1g\nVersion: 1:1.2.13\n";
        assert_eq!(glibc_from_dpkg_status(status), Some((2, 36)));
        // Twin: a removed libc6 (config files left) is not the image's libc.
        let removed = "Package: libc6\nStatus: deinstall ok config-files\nVersion: 2.31-13\n";
        assert_eq!(glibc_from_dpkg_status(removed), None);
        let apk = "C:Q1abc\nP:busybox\nV:1.36.1-r2\n\nC:Q1def\nP:musl\nV:1.2.4-r2\nA:x86_64\n";
        assert_eq!(musl_from_apk_installed(apk), Some((1, 2)));
        assert_eq!(musl_from_apk_installed("P:busybox\nV:1.36.1-r2\n"), None);
    }

    #[test]
    fn glibc_states_its_version_in_its_banner() {
        let library = b"\x7fELF\0\0GNU C Library (Debian GLIBC 2.36-9+deb12u7) stable release version 2.36.\nCopyright";
        assert_eq!(glibc_from_banner(library), Some((2, 36)));
        assert_eq!(glibc_from_banner(b"\x7fELF\0\0no banner"), None);
    }

    #[test]
    fn the_config_gives_the_micro_version_and_the_filesystem_the_build() {
        let facts = ImageFacts {
            python: Some(Interpreter {
                version: PythonVersion::parse("3.13").expect("the test's input parses"),
                free_threaded: true,
            }),
            libc: Some(Libc::Glibc(Some((2, 36)))),
        };
        let env = TargetEnvironment::new(&amd64(), Some("3.13.1"), &facts);
        assert_eq!(
            env.describe(&amd64()),
            "CPython 3.13.1 (free-threaded) with glibc 2.36 on linux/amd64"
        );
        let markers = env.markers().expect("the test's input parses");
        assert_eq!(markers.python_full_version().string, "3.13.1");
        let unknown = TargetEnvironment::new(&amd64(), None, &ImageFacts::default());
        assert_eq!(unknown.python, None);
        assert_eq!(unknown.libc, Libc::Unknown);
        assert!(unknown.markers().is_none());
    }
}
