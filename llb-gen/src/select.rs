//! Selection: which of a lock's packages a venv gets, in which
//! environments, and what each installs from on a target.
//!
//! Selection is one function of the lock, the extras, the dependency
//! groups and the target environment ([`select`]). It has two halves,
//! because pybase learns its inputs at two times:
//!
//! - [`needed`], when the project is checked: one walk of the lock for
//!   what the target asks ([`Request`]: the project with its extras and
//!   groups, or every package of a lock of pins), giving each locked
//!   package the environments that need it as one PEP 508 marker (the
//!   disjunction, over the paths to it, of the markers along each path, and
//!   of its own marker or the environments its version is locked for);
//! - [`Selection::on_target`], once the image is resolved and probed: for
//!   the target environment (its interpreter, C library and machine, and
//!   the marker environment they make), whether each package is needed
//!   there and which of its wheels fit.
//!
//! The artifact check and the wheelhouse (`artifacts.rs`) read the second
//! half's answer; the project checks count and compare the first's.

use std::collections::BTreeMap;

use pep508_rs::MarkerTree;

use crate::environment::TargetEnvironment;
use crate::lock::{Artifact, ArtifactKind, Dependency, Lock, LockKind, Package};
use crate::names::normalize_name;

/// What a target asks of a lock.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    /// Where the venv's packages start from.
    pub roots: Roots<'a>,
    /// The project's extras the target selects (as written).
    pub extras: &'a [String],
    /// The project's dependency groups the target selects (as written).
    pub groups: &'a [String],
}

impl Request<'static> {
    /// Every package of a lock of pins, each where its marker holds.
    pub const EVERY_PACKAGE: Self = Self {
        roots: Roots::EveryPackage,
        extras: &[],
        groups: &[],
    };
}

/// Where the venv's packages start from.
#[derive(Clone, Copy, Debug)]
pub enum Roots<'a> {
    /// The package the lock locks for the project of this name (uv.lock):
    /// the venv gets what its dependency graph reaches, the project itself
    /// aside.
    Project(&'a str),
    /// Every package of the lock, each where its own marker holds (a lock
    /// of pins: pylock.toml, requirements.txt, a translated poetry.lock).
    EveryPackage,
}

/// A locked package the venv gets, with the environments that need it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selected {
    /// The package, as the lock has it.
    pub package: Package,
    /// The environments that need it: true for every one; false for none
    /// pybase can tell (a marker it cannot read, contradictory paths).
    pub needed_when: MarkerTree,
}

/// What a venv gets from a lock, before the target is known.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selection {
    /// The lock's format.
    pub kind: LockKind,
    /// The lock file, as errors name it.
    pub file: String,
    /// The packages, in the lock's order.
    pub packages: Vec<Selected>,
    /// The local projects (workspace members, see
    /// [`Package::is_local_project`]) the walk reached from the project,
    /// the project itself aside, in the lock's order: code, which the code
    /// step installs, never the venv (empty for a lock of pins).
    pub local_projects: Vec<Package>,
}

/// Whether a target needs a selected package.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// Every environment needs it.
    Everywhere,
    /// The target's marker environment needs it, though not every one does.
    Here,
    /// Its marker is false in the target's marker environment.
    NotHere,
    /// Its marker cannot be evaluated: the target's interpreter is unknown.
    Unknown,
}

/// A selected package on a target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OnTarget<'s> {
    /// The package and where it is needed.
    pub selected: &'s Selected,
    /// Whether the target needs it.
    pub need: Need,
    /// Its wheels that install on the target.
    pub fitting: Vec<&'s Artifact>,
}

impl Need {
    /// Whether the target surely needs it (everywhere, or here).
    pub fn surely(self) -> bool {
        matches!(self, Self::Everywhere | Self::Here)
    }
}

impl Selection {
    /// The selection of `packages` from the lock `file` (a `kind`), which
    /// reaches no local project: what a lock of pins' translation gives.
    pub fn of(kind: LockKind, file: &str, packages: Vec<Selected>) -> Self {
        Self {
            kind,
            file: file.to_owned(),
            packages,
            local_projects: Vec::new(),
        }
    }

    /// The selected packages every environment needs.
    pub fn needed_everywhere(&self) -> impl Iterator<Item = &Selected> {
        self.packages.iter().filter(|s| s.needed_when.is_true())
    }

    /// Each selected package on the target `environment`: whether it is
    /// needed there, and which of its wheels fit.
    pub fn on_target(&self, environment: &TargetEnvironment) -> Vec<OnTarget<'_>> {
        let markers = environment.markers();
        self.packages
            .iter()
            .map(|selected| {
                let need = match &markers {
                    _ if selected.needed_when.is_true() => Need::Everywhere,
                    None => Need::Unknown,
                    Some(markers) if selected.needed_when.evaluate(markers, &[]) => Need::Here,
                    Some(_) => Need::NotHere,
                };
                let fitting = selected
                    .package
                    .wheels()
                    .filter(|wheel| match &wheel.kind {
                        ArtifactKind::Wheel(Some(name)) => name.fits(environment),
                        _ => false,
                    })
                    .collect();
                OnTarget {
                    selected,
                    need,
                    fitting,
                }
            })
            .collect()
    }
}

/// The packages `request` selects from `lock`, each with the environments
/// that need it; `None` when the lock does not lock the project the
/// request starts from.
pub fn needed(lock: &Lock, request: &Request<'_>) -> Option<Selection> {
    let mut local_projects = Vec::new();
    let packages = match request.roots {
        Roots::EveryPackage => lock
            .packages
            .iter()
            .map(|package| Selected {
                package: package.clone(),
                needed_when: crate::lock::marker_or_true(package.marker.as_deref()),
            })
            .collect(),
        Roots::Project(project) => {
            let reached = reached_from_project(lock, project, request)?;
            let mut packages = Vec::new();
            for package in &lock.packages {
                let Some(reached_when) = reached.get(&package.name) else {
                    continue;
                };
                // A workspace member is code: the code step installs it.
                if package.is_local_project() {
                    local_projects.push(package.clone());
                    continue;
                }
                let mut needed_when = reached_when.clone();
                // A version locked for some environments only (a fork by
                // marker) is needed where those and its paths hold.
                if let Some(forked) = &package.resolution_markers {
                    needed_when.and(forked.clone());
                }
                packages.push(Selected {
                    package: package.clone(),
                    needed_when,
                });
            }
            packages
        }
    };
    Some(Selection {
        kind: lock.kind,
        file: lock.file.clone(),
        packages,
        local_projects,
    })
}

/// A selected package on a target, as [`select`] gives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chosen {
    /// The package and where it is needed.
    pub selected: Selected,
    /// Whether the target needs it.
    pub need: Need,
    /// Its wheels that install on the target.
    pub fitting: Vec<Artifact>,
}

/// What the venv installs from `lock` for `request` on the target
/// `environment`: [`needed`], then [`Selection::on_target`]. The pipeline
/// runs the halves apart (the environment is known only once the image is
/// resolved); this is the whole of it, as tests and readers see it.
pub fn select(
    lock: &Lock,
    request: &Request<'_>,
    environment: &TargetEnvironment,
) -> Option<Vec<Chosen>> {
    let selection = needed(lock, request)?;
    let chosen = selection
        .on_target(environment)
        .into_iter()
        .map(|on| Chosen {
            selected: on.selected.clone(),
            need: on.need,
            fitting: on.fitting.into_iter().cloned().collect(),
        });
    Some(chosen.collect())
}

/// The packages the venv gets from the project `project` of a uv.lock, by
/// normalized name, each with the environments that need it: the
/// disjunction, over the paths from the project (and the request's extras
/// and groups) to it, of the conjunction of the markers along the path
/// (uv.lock writes a dependency's marker on the edge). A package locked at
/// several versions (a fork by marker) is walked through each version,
/// whose dependencies are needed only where that version is locked (its
/// `resolution-markers`). A package reached only along contradictory paths
/// is still listed (under a false marker), as uv.lock lists it. `None` when
/// the lock does not lock `project`.
fn reached_from_project(
    lock: &Lock,
    project: &str,
    request: &Request<'_>,
) -> Option<BTreeMap<String, MarkerTree>> {
    let mut versions: BTreeMap<&str, Vec<&Package>> = BTreeMap::new();
    for package in &lock.packages {
        versions
            .entry(package.name.as_str())
            .or_default()
            .push(package);
    }
    let root = normalize_name(project);
    let root_package = *versions.get(root.as_str())?.last()?;
    let root_extras: Vec<String> = request.extras.iter().map(|e| normalize_name(e)).collect();
    let mut walk = Walk::default();
    walk.reach((root.clone(), root_extras), MarkerTree::TRUE);
    // The groups' packages hang off the project's own entry.
    for group in request.groups {
        let entries = root_package
            .dev_dependencies
            .iter()
            .find(|(name, _)| normalize_name(name) == normalize_name(group))
            .map(|(_, deps)| deps);
        for dep in entries.into_iter().flatten() {
            walk.reach(edge_key(dep), dep.marker.clone());
        }
    }
    while let Some(key) = walk.queue.pop() {
        let (Some(packages), Some(reached)) = (
            versions.get(key.0.as_str()),
            walk.reached.get(&key).cloned(),
        ) else {
            continue;
        };
        for package in packages {
            // Where this version is the one locked.
            let mut here = reached.clone();
            if let Some(forked) = &package.resolution_markers {
                here.and(forked.clone());
            }
            // Its dependencies, and those of the extras a dependency on it
            // asks for.
            let extras = key
                .1
                .iter()
                .filter_map(|extra| package.optional_dependencies.get(extra))
                .flatten();
            for dep in package.dependencies.iter().chain(extras) {
                let mut marker = dep.marker.clone();
                marker.and(here.clone());
                walk.reach(edge_key(dep), marker);
            }
        }
    }
    let mut by_package: BTreeMap<String, MarkerTree> = BTreeMap::new();
    for ((name, _), marker) in walk.reached {
        if name != root && versions.contains_key(name.as_str()) {
            by_package
                .entry(name)
                .or_insert(MarkerTree::FALSE)
                .or(marker);
        }
    }
    Some(by_package)
}

/// What a dependency edge reaches: the package's normalized name and the
/// extras it asks for.
type EdgeKey = (String, Vec<String>);

/// A walk of a lock's graph: what it reached, under which marker, and
/// what is left to walk.
#[derive(Default)]
struct Walk {
    reached: BTreeMap<EdgeKey, MarkerTree>,
    queue: Vec<EdgeKey>,
}

impl Walk {
    /// Records that `next` is reached under `marker`: its marker widens,
    /// and it is walked (again) when it is new or its marker changed.
    fn reach(&mut self, next: EdgeKey, marker: MarkerTree) {
        match self.reached.get_mut(&next) {
            None => {
                self.reached.insert(next.clone(), marker);
                self.queue.push(next);
            }
            Some(known) => {
                let mut widened = known.clone();
                widened.or(marker);
                if widened != *known {
                    *known = widened;
                    self.queue.push(next);
                }
            }
        }
    }
}

/// The key a dependency edge reaches.
fn edge_key(dep: &Dependency) -> EdgeKey {
    (dep.name.clone(), dep.extras.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::environment::{ImageFacts, Interpreter, Libc, PythonVersion};
    use crate::llb::Platform;

    const LOCK: &str = r#"
version = 1
[[package]]
name = "api"
version = "1.0"
source = { editable = "." }
dependencies = [
    { name = "psycopg2", marker = "sys_platform == 'linux'" },
    { name = "pywin32", marker = "sys_platform == 'win32'" },
]
[package.optional-dependencies]
yaml = [{ name = "pyyaml" }]
[package.dev-dependencies]
dev = [{ name = "tomli", marker = "python_version < '3.11'" }]
[[package]]
name = "psycopg2"
version = "2.9.10"
source = { registry = "https://pypi.org/simple" }
dependencies = [{ name = "six", marker = "platform_machine == 'x86_64'" }]
sdist = { url = "https://files.pythonhosted.org/p/psycopg2-2.9.10.tar.gz", hash = "sha256:00" }
[[package]]
name = "pywin32"
version = "308"
source = { registry = "https://pypi.org/simple" }
dependencies = [{ name = "six" }]
wheels = [{ url = "https://files.pythonhosted.org/p/pywin32-308-cp311-cp311-win_amd64.whl", hash = "sha256:00" }]
[[package]]
name = "pyyaml"
version = "6.0.2"
source = { registry = "https://pypi.org/simple" }
wheels = [
    { url = "https://files.pythonhosted.org/p/PyYAML-6.0.2-cp311-cp311-manylinux_2_17_x86_64.whl", hash = "sha256:00" },
    { url = "https://files.pythonhosted.org/p/PyYAML-6.0.2-cp311-cp311-musllinux_1_1_x86_64.whl", hash = "sha256:00" },
    { url = "https://files.pythonhosted.org/p/PyYAML-6.0.2-cp312-cp312-manylinux_2_17_x86_64.whl", hash = "sha256:00" },
]
[[package]]
name = "six"
version = "1.17.0"
source = { registry = "https://pypi.org/simple" }
wheels = [{ url = "https://files.pythonhosted.org/p/six-1.17.0-py2.py3-none-any.whl", hash = "sha256:00" }]
[[package]]
name = "tomli"
version = "2.2.1"
source = { registry = "https://pypi.org/simple" }
wheels = [{ url = "https://files.pythonhosted.org/p/tomli-2.2.1-py3-none-any.whl", hash = "sha256:00" }]
"#;

    /// An amd64 image with CPython `minor` (3.x) and `libc`.
    fn image(minor: u32, libc: Libc) -> TargetEnvironment {
        let platform = Platform {
            os: "linux".into(),
            architecture: "amd64".into(),
            variant: String::new(),
        };
        let facts = ImageFacts {
            python: Some(Interpreter {
                version: PythonVersion {
                    major: 3,
                    minor,
                    micro: None,
                },
                free_threaded: false,
            }),
            libc: Some(libc),
        };
        TargetEnvironment::new(&platform, None, &facts)
    }

    /// What `select` gives, one package a line: its need and fitting files.
    fn shown(extras: &[&str], groups: &[&str], environment: &TargetEnvironment) -> Vec<String> {
        let lock = crate::lock::uv::read("uv.lock", LOCK).expect("a lock");
        let extras: Vec<String> = extras.iter().map(|e| (*e).to_owned()).collect();
        let groups: Vec<String> = groups.iter().map(|g| (*g).to_owned()).collect();
        let request = Request {
            roots: Roots::Project("api"),
            extras: &extras,
            groups: &groups,
        };
        let chosen = select(&lock, &request, environment).expect("the project is locked");
        chosen
            .iter()
            .map(|c| {
                let files: Vec<_> = c
                    .fitting
                    .iter()
                    .filter_map(|f| f.filename.clone())
                    .collect();
                format!("{} {:?} {files:?}", c.selected.package.name, c.need)
            })
            .collect()
    }

    #[test]
    fn each_package_is_needed_where_the_markers_along_its_paths_hold() {
        let lock = crate::lock::uv::read("uv.lock", LOCK).expect("a lock");
        let request = Request {
            roots: Roots::Project("api"),
            extras: &[],
            groups: &["dev".to_owned()],
        };
        let selection = needed(&lock, &request).expect("the project is locked");
        let shown: Vec<String> = selection
            .packages
            .iter()
            .map(|s| {
                let marker = s.needed_when.try_to_string();
                format!("{}: {}", s.package.name, marker.unwrap_or("true".into()))
            })
            .collect();
        // six: through psycopg2 on x86_64 Linux, or through pywin32 on
        // Windows; tomli: through the group, before 3.11.
        assert_eq!(
            shown,
            [
                "psycopg2: sys_platform == 'linux'",
                "pywin32: sys_platform == 'win32'",
                "six: (platform_machine == 'x86_64' and sys_platform == 'linux') or sys_platform == 'win32'",
                "tomli: python_full_version < '3.11'",
            ]
        );
        // Nothing is needed everywhere; with the extra, PyYAML is.
        assert_eq!(selection.needed_everywhere().count(), 0);
        let extras = ["yaml".to_owned()];
        let with_yaml = Request {
            extras: &extras,
            ..request
        };
        let selection = needed(&lock, &with_yaml).expect("the project is locked");
        let everywhere: Vec<_> = selection
            .needed_everywhere()
            .map(|s| s.package.name.as_str())
            .collect();
        assert_eq!(everywhere, ["pyyaml"]);
    }

    #[test]
    fn selection_is_one_function_of_lock_extras_groups_and_target() {
        let glibc = image(11, Libc::Glibc(Some((2, 36))));
        assert_eq!(
            shown(&[], &[], &glibc),
            [
                "psycopg2 Here []",
                "pywin32 NotHere []",
                "six Here [\"six-1.17.0-py2.py3-none-any.whl\"]",
            ]
        );
        // An extra and a group add their packages; the group's only where
        // its marker holds (tomli is for Pythons before 3.11).
        assert_eq!(
            shown(&["yaml"], &["dev"], &glibc),
            [
                "psycopg2 Here []",
                "pywin32 NotHere []",
                "pyyaml Everywhere [\"PyYAML-6.0.2-cp311-cp311-manylinux_2_17_x86_64.whl\"]",
                "six Here [\"six-1.17.0-py2.py3-none-any.whl\"]",
                "tomli NotHere [\"tomli-2.2.1-py3-none-any.whl\"]",
            ]
        );
        // On a Python 3.10 with musl, tomli is needed and PyYAML's musl
        // wheel fits instead.
        let musl = image(10, Libc::Musl(Some((1, 2))));
        assert_eq!(
            shown(&["yaml"], &["dev"], &musl)[2..],
            [
                "pyyaml Everywhere []",
                "six Here [\"six-1.17.0-py2.py3-none-any.whl\"]",
                "tomli Here [\"tomli-2.2.1-py3-none-any.whl\"]",
            ]
        );
        // An image whose interpreter is unknown: markers cannot be
        // evaluated.
        let platform = Platform {
            os: "linux".into(),
            architecture: "amd64".into(),
            variant: String::new(),
        };
        let unknown = TargetEnvironment::new(&platform, None, &ImageFacts::default());
        assert_eq!(shown(&[], &[], &unknown)[0], "psycopg2 Unknown []");
        let musl311 = image(11, Libc::Musl(Some((1, 2))));
        assert_eq!(
            shown(&["yaml"], &[], &musl311)[2],
            "pyyaml Everywhere [\"PyYAML-6.0.2-cp311-cp311-musllinux_1_1_x86_64.whl\"]"
        );
    }

    #[test]
    fn a_lock_without_the_project_selects_nothing() {
        let lock = crate::lock::uv::read("uv.lock", LOCK).expect("a lock");
        let request = Request {
            roots: Roots::Project("other"),
            extras: &[],
            groups: &[],
        };
        assert_eq!(needed(&lock, &request), None);
        // The twin: a lock of pins selects every package.
        let every = needed(&lock, &Request::EVERY_PACKAGE).expect("selected");
        assert_eq!(every.packages.len(), 6);
    }

    #[test]
    fn a_workspace_members_selection_walks_through_members_and_leaves_them_out() {
        let text = include_str!("../../testdata/projects/workspace/uv.lock");
        let lock = crate::lock::uv::read("uv.lock", text).expect("a lock");
        let request = Request {
            roots: Roots::Project("api"),
            extras: &[],
            groups: &[],
        };
        let selected = needed(&lock, &request).expect("api is locked");
        let names: Vec<&str> = selected
            .packages
            .iter()
            .map(|s| s.package.name.as_str())
            .collect();
        // lib's idna (through the member lib), api's six; neither member,
        // nor other's iniconfig.
        assert_eq!(names, ["idna", "six"]);
        let local: Vec<&str> = selected
            .local_projects
            .iter()
            .map(|p| p.name.as_str())
            .collect();
        assert_eq!(local, ["lib"]);
        let every = needed(&lock, &Request::EVERY_PACKAGE).expect("a lock of pins");
        assert!(every.local_projects.is_empty());
    }

    /// A lock forked by Python version, as uv writes one for a project
    /// whose `requires-python` spans a dependency's drop of old Pythons
    /// (the MCP SDK's lock of `testdata/real`): `app` depends on two
    /// versions of `model`, each under its marker, and each version on its
    /// own `core` and on `types`, under the same markers.
    fn forked_lock() -> String {
        const OLD: &str = "python_full_version < '3.14'";
        const NEW: &str = "python_full_version >= '3.14'";
        let registry = r#"source = { registry = "https://pypi.org/simple" }"#;
        let wheel = |name: &str, version: &str| {
            format!(
                r#"wheels = [{{ url = "https://files.pythonhosted.org/p/{name}-{version}-py3-none-any.whl", hash = "sha256:00" }}]"#
            )
        };
        // One fork: `model` at `version` and its `core`, where `marker` holds.
        let fork = |version: &str, core: &str, marker: &str| {
            format!(
                "[[package]]\nname = \"core\"\nversion = \"{core}\"\n{registry}\n\
                 resolution-markers = [\"{marker}\"]\n{}\n\
                 [[package]]\nname = \"model\"\nversion = \"{version}\"\n{registry}\n\
                 resolution-markers = [\"{marker}\"]\ndependencies = [\n\
                 {{ name = \"core\", version = \"{core}\", {registry}, marker = \"{marker}\" }},\n\
                 {{ name = \"types\", marker = \"{marker}\" }},\n]\n{}\n",
                wheel("core", core),
                wheel("model", version),
            )
        };
        format!(
            "version = 1\nrequires-python = \">=3.10\"\n\
             [[package]]\nname = \"app\"\nversion = \"1.0\"\nsource = {{ editable = \".\" }}\n\
             dependencies = [\n\
             {{ name = \"model\", version = \"2.11.7\", {registry}, marker = \"{OLD}\" }},\n\
             {{ name = \"model\", version = \"2.13.4\", {registry}, marker = \"{NEW}\" }},\n]\n\
             {}{}[[package]]\nname = \"types\"\nversion = \"0.7.0\"\n{registry}\n{}\n",
            fork("2.11.7", "2.33.2", OLD),
            fork("2.13.4", "2.46.4", NEW),
            wheel("types", "0.7.0"),
        )
    }

    #[test]
    fn each_version_of_a_forked_package_brings_its_own_dependencies() {
        let lock = crate::lock::uv::read("uv.lock", &forked_lock()).expect("a lock");
        let request = Request {
            roots: Roots::Project("app"),
            extras: &[],
            groups: &[],
        };
        let needed_on = |minor: u32| -> Vec<String> {
            let environment = image(minor, Libc::Glibc(Some((2, 36))));
            select(&lock, &request, &environment)
                .expect("app is locked")
                .iter()
                .filter(|c| c.need.surely())
                .map(|c| {
                    let version = c.selected.package.version.clone().unwrap_or_default();
                    format!("{} {version}", c.selected.package.name)
                })
                .collect()
        };
        // `types` is needed on 3.11 through model 2.11.7, not only where
        // the last `model` of the lock (2.13.4) is locked.
        assert_eq!(
            needed_on(11),
            ["core 2.33.2", "model 2.11.7", "types 0.7.0"]
        );
        // The twin: on 3.14 the other fork, `types` again.
        assert_eq!(
            needed_on(14),
            ["core 2.46.4", "model 2.13.4", "types 0.7.0"]
        );
    }
}
