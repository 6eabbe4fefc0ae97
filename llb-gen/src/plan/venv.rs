//! The venv stage of a level: the install from the lock (`uv sync`, a lock
//! of pins, the wheelhouse BuildKit fetched, or Poetry's per-index files)
//! into an output mount, whole, or, on a tier's venv, the files it adds.
//!
//! [`Installer`] says what runs (a script and its arguments, whole or as a
//! delta); [`Inputs`] what it reads (the lock, with uv downloading; or the
//! fetched wheels and the lock as requirements, offline).
//!
//! Assembled from layers ([`crate::layering`]), the step ends by moving
//! each layer's files to an output mount of its own (`VENV_LAYERS_SCRIPT`),
//! every file dated `PYC_EPOCH`: each output is a layer whose bytes, and so
//! whose digest, depend on its files alone, so a layer whose files did not
//! change is the same blob after the step ran again, which a registry
//! already has and a node does not pull again.

use std::collections::BTreeSet;

use crate::artifacts::{Fetching, LockedFile, SdistBuild, Wheelhouse};
use crate::image;
use crate::layering::{Distribution, VenvLayer};
use crate::llb::{CacheSharing, Exec, ExecState, FileCopy, Mount, Network, State};
use crate::lock::ArtifactKind;
use crate::poetry::IndexRequirements;
use crate::project::LockKind;
use crate::select::Need;
use crate::spec::ProjectDir;

use super::scripts::{
    DELTA_SCRIPT, EXPORT_SCRIPT, FETCHED_DELTA_SCRIPT, FETCHED_VENV_SCRIPT, PINNED_VENV_SCRIPT,
    POETRY_DELTA_SCRIPT, POETRY_VENV_SCRIPT, SDIST_BUILD_SCRIPT, Script, VENV_LAYERS_SCRIPT,
    VENV_SCRIPT,
};
use super::{
    Context, KNOWN_HOSTS_PATH, KNOWN_HOSTS_SECRET, LOCK_DIR, Level, OUT_DIR, PlanError,
    ProjectFacts, REQUIREMENTS_DIR, SDIST_DIR, SSH_ID, SSH_SOCKET, UV_BINARY, UV_CACHE_DIR,
    UV_CACHE_ID, UV_DIR, VENV_DIR, WHEELS_DIR, lock_source, shell,
};

/// Where the venv step's output mounts, one per layer, are.
const LAYERS_DIR: &str = "/pybase/layers";
/// The layer of the venv's own files (`pyvenv.cfg`, `bin/python`, what no
/// distribution's `RECORD` lists): a name no PEP 503 name can be.
const OWN_FILES: &str = "_venv";
/// Where the script that moves the files to their layers is mounted.
const LAYERS_SCRIPT_DIR: &str = "/pybase-venv-layers";

/// A level's venv: the files, and the lock they come from.
pub(super) struct Venv {
    /// The files.
    pub(super) files: VenvFiles,
    /// The lock's path in the context.
    pub(super) lock_file: String,
}

/// A venv's files.
pub(super) enum VenvFiles {
    /// One layer: the whole venv, or the files the install added to the
    /// one below, relative to the venv (whole) or to `/` (added).
    One(State),
    /// Layers, in the order they stack, each relative to `/`, with what it
    /// holds (for its history entry).
    Layers(Vec<(State, String)>),
}

/// The distributions the lock of `facts` installs on the target (or may:
/// those whose need the target cannot tell) that the venvs below, holding
/// `below`, lack; each with the size of its largest fitting wheel, else of
/// its sdist.
pub(super) fn distributions(
    cx: &Context<'_>,
    facts: Option<&ProjectFacts>,
    below: &BTreeSet<String>,
) -> Vec<Distribution> {
    let Some(facts) = facts else {
        return Vec::new();
    };
    facts
        .selection
        .on_target(&cx.environment)
        .into_iter()
        .filter(|on| on.need != Need::NotHere && !below.contains(&on.selected.package.name))
        .map(|on| {
            let package = &on.selected.package;
            let sdist = package
                .artifacts
                .iter()
                .filter(|a| a.kind == ArtifactKind::Sdist)
                .find_map(|a| a.size);
            Distribution {
                name: package.name.clone(),
                version: package.version.clone().unwrap_or_default(),
                size: on.fitting.iter().filter_map(|a| a.size).max().or(sdist),
            }
        })
        .collect()
}

/// The venv of `level`, installed in `builder` from `project`'s lock:
/// whole, or, `on_venv_below`, the files it adds to the venv there.
pub(super) fn venv(
    cx: &Context<'_>,
    level: &Level<'_>,
    project: &ProjectDir<'_>,
    builder: &State,
    (on_venv_below, layers): (bool, &[VenvLayer]),
) -> Result<Venv, PlanError> {
    let (name, line) = (level.name, level.line);
    let facts = cx.inputs.projects.get(project.dir);
    let lock_kind = facts.map(|f| f.lock).unwrap_or_default();
    // A git dependency over SSH: the client's agent, and git's ssh
    // checking the host against the `known_hosts` secret, never
    // trusting a key on first use. Neither is part of a layer.
    let git_over_ssh = facts.is_some_and(|f| f.git_over_ssh);
    // A workspace member installs from the root's lock, for itself alone.
    let workspace = facts.and_then(|f| f.workspace.as_ref());
    let lock_file = match workspace {
        Some(workspace) => workspace.path(super::LOCK_FILE),
        None => project.path(crate::project::lock_file_name(project, lock_kind)),
    };
    // The directory the lock source is mounted at, its steps' working one.
    let lock_dir = workspace.map_or(project.dir, |w| w.root.as_str());
    // What the installer reads: the lock, or its translation (one file
    // per index).
    let translated = facts.map_or(&[][..], |f| f.translated_locks.as_slice());
    let translated_files: Vec<String> = match lock_kind {
        // A requirements.txt with includes, flattened into one file.
        LockKind::Requirements => translated
            .iter()
            .map(|_| crate::lock::includes::FLATTENED_FILE.to_owned())
            .collect(),
        LockKind::Pdm | LockKind::Pipfile => (0..translated.len())
            .map(|position| crate::grouped::translated_file(lock_kind, position))
            .collect(),
        _ => (0..translated.len())
            .map(crate::poetry::translated_file)
            .collect(),
    };
    let selection = selection(project, workspace, "--no-install-workspace");
    let fetched = fetched(cx, lock_kind, facts, git_over_ssh);
    let installer = match &fetched {
        Some(house) => Installer::Fetched {
            built_pins: house
                .sdists
                .iter()
                .map(|build| format!("{}=={}", build.name, build.version))
                .collect(),
        },
        None => Installer::of(
            lock_kind,
            project,
            &selection,
            translated,
            &translated_files,
        ),
    };
    let mut lock = match workspace {
        Some(workspace) => {
            super::workspace_lock_source(workspace, name, cx.inputs.session_id, &cx.inputs.ignored)
        }
        None => lock_source(project, cx.inputs.session_id, &cx.inputs.ignored),
    };
    for (translation, file) in translated.iter().zip(&translated_files) {
        let what = match lock_kind {
            LockKind::Requirements => "with the files it includes, every requirement pinned",
            _ => "as requirements with hashes",
        };
        lock = lock.mkfile(
            &format!("/{}", project.path(file)),
            translation.text.as_bytes(),
            format!("[{name}] {lock_file} {what}: {file}"),
        );
    }
    let inputs = match &fetched {
        Some(house) => {
            let fetch = Fetch {
                cx,
                name,
                line,
                lock_file: &lock_file,
                lock_dir,
                facts,
                house,
                selection: &self::selection(project, workspace, "--no-emit-workspace"),
                lock: &lock,
            };
            fetch.inputs(builder)?
        }
        None => Inputs::Lock {
            lock,
            git_over_ssh,
            indexes: facts.map(|f| f.index_names.clone()).unwrap_or_default(),
        },
    };
    let note = step_note(facts, git_over_ssh, fetched.as_ref());
    let packages = &note.packages;
    let (over_ssh, fetched_note) = (note.over_ssh, &note.fetched);
    // Whole, into an output mount of its own; or the delta's new files.
    // Assembled from layers, each is an output mount, and the venv is made
    // in the step's root (or the delta's files in a mount thrown away).
    let ((script, args), output, adding) = if on_venv_below {
        (installer.delta(), OUT_DIR, ", adding what the tier lacks")
    } else {
        (installer.venv(), VENV_DIR, "")
    };
    let outputs = Outputs {
        output,
        on_venv_below,
        layers,
    };
    let in_layers = outputs.note();
    let exec = shell(script, &args)
        .env(cx.uv_env.clone())
        .named(format!(
            "[{name}] venv: {packages} from {lock_file}{adding}{over_ssh}{fetched_note}{in_layers}"
        ))
        .at(line);
    let ran = builder.run(inputs.mount(cx, lock_dir, outputs.mount(exec)), cx.platform);
    let files = outputs.files(&ran)?;
    Ok(Venv { files, lock_file })
}

/// Where a venv step leaves its files: one output mount (`output`), or,
/// assembled from `layers`, one per layer.
struct Outputs<'l> {
    /// The mount of the whole venv, or of the delta's files.
    output: &'static str,
    /// Whether the step adds to the venv below (a delta).
    on_venv_below: bool,
    /// The layers, but the venv's own files'; none: one layer.
    layers: &'l [VenvLayer],
}

impl Outputs<'_> {
    /// What the step's name says of its layers.
    fn note(&self) -> String {
        match self.layers.len() {
            0 => String::new(),
            n => format!(", in {} layers", n + 1),
        }
    }

    /// The layers' directory names, the venv's own files' first.
    fn ids(&self) -> Vec<String> {
        std::iter::once(OWN_FILES.to_owned())
            .chain(self.layers.iter().map(|layer| layer.id.clone()))
            .collect()
    }

    /// `exec` with its output mounts: `output`; or, assembled from
    /// layers, the venv made in its root (or the delta's files in a mount
    /// thrown away), then moved to a mount per layer.
    fn mount(&self, exec: Exec) -> Exec {
        if self.layers.is_empty() {
            return exec.mount(Mount::output(self.output, &State::scratch()));
        }
        let (exec, tree) = if self.on_venv_below {
            (
                exec.mount(Mount::scratchpad(self.output, &State::scratch())),
                format!("{OUT_DIR}{VENV_DIR}"),
            )
        } else {
            (exec, VENV_DIR.to_owned())
        };
        self.ids()
            .iter()
            .fold(into_layers(exec, &tree, self.layers), |exec, id| {
                exec.mount(Mount::output(
                    &format!("{LAYERS_DIR}/{id}"),
                    &State::scratch(),
                ))
            })
    }

    /// The venv's files in what the step `ran`.
    fn files(&self, ran: &ExecState) -> Result<VenvFiles, PlanError> {
        if self.layers.is_empty() {
            return ran
                .output(self.output)
                .map(VenvFiles::One)
                .ok_or(PlanError::MissingOutput(self.output));
        }
        let what = std::iter::once("the venv's own files".to_owned())
            .chain(self.layers.iter().map(VenvLayer::describe));
        let layers = self
            .ids()
            .iter()
            .zip(what)
            .map(|(id, what)| {
                ran.output(&format!("{LAYERS_DIR}/{id}"))
                    .map(|layer| (layer, what))
                    .ok_or(PlanError::MissingOutput(LAYERS_DIR))
            })
            .collect::<Result<_, _>>()?;
        Ok(VenvFiles::Layers(layers))
    }
}

/// `exec`, and then, for a venv assembled from `layers`, the files of the
/// venv's `tree` moved to the layers' output mounts (`VENV_LAYERS_SCRIPT`,
/// given the venv's own files' layer and each other as `ID=name,name`).
fn into_layers(exec: Exec, tree: &str, layers: &[VenvLayer]) -> Exec {
    if layers.is_empty() {
        return exec;
    }
    let args = [tree, LAYERS_DIR, VENV_DIR, OWN_FILES]
        .into_iter()
        .map(str::to_owned)
        .chain(layers.iter().map(|layer| {
            let names: Vec<&str> = layer.members.iter().map(|d| d.name.as_str()).collect();
            format!("{}={}", layer.id, names.join(","))
        }))
        .collect();
    super::wrapped(exec, &VENV_LAYERS_SCRIPT, LAYERS_SCRIPT_DIR, args)
}

/// The extras and groups the spec selects, as uv's arguments (uv.lock
/// only: a lock of pins with a selection is refused before planning); for
/// a member of a `workspace`, first the member as `--package` and
/// `no_members`, the flag that leaves every member out (they are code).
fn selection(
    project: &ProjectDir<'_>,
    workspace: Option<&crate::project::Workspace>,
    no_members: &str,
) -> Vec<String> {
    let member = workspace.map(|w| ["--package", w.package.as_str(), no_members]);
    member
        .into_iter()
        .flatten()
        .map(str::to_owned)
        .chain(
            project
                .selection
                .extras
                .iter()
                .flat_map(|extra| ["--extra".to_owned(), extra.name.clone()]),
        )
        .chain(
            project
                .selection
                .groups
                .iter()
                .flat_map(|group| ["--group".to_owned(), group.name.clone()]),
        )
        .collect()
}

/// Every file the venv needs on PyPI, when BuildKit may fetch them:
/// BuildKit fetches each as a checksummed HTTP source, an sdist is built
/// into a wheel by a step of its own, and the install runs from those
/// files with the network off, after the lock is exported to requirements
/// with hashes (`uv export`, with the network: a stale lock is reported as
/// uv reports it; a pylock.toml's are written by pybase). The built
/// packages are left out of them, their wheels' hashes being unknown to
/// the lock, and installed by `name==version`.
fn fetched(
    cx: &Context<'_>,
    lock_kind: LockKind,
    facts: Option<&ProjectFacts>,
    git_over_ssh: bool,
) -> Option<Wheelhouse> {
    let facts = facts?;
    let with_sdists = match facts.fetching {
        Fetching::Nothing => return None,
        Fetching::Wheels => false,
        Fetching::WheelsAndSdists => true,
    };
    match lock_kind {
        LockKind::Uv | LockKind::Pylock if !git_over_ssh => {
            crate::artifacts::wheelhouse(&facts.selection, &cx.environment, with_sdists)
                .filter(|house| !house.is_empty())
        }
        _ => None,
    }
}

/// What the venv step runs: its script and arguments, whole or as a delta
/// on the venv below.
enum Installer {
    /// `uv sync --locked`, with the selected extras and groups.
    Uv { selection: Vec<String> },
    /// A lock of pins (`pylock.toml`, `requirements.txt`), installed file
    /// by file, with `--require-hashes` unless the spec turned it off.
    Pinned {
        hashes: Option<&'static str>,
        file: String,
    },
    /// poetry.lock's translation (or pdm.lock's): each file after its
    /// index, empty for the default.
    Poetry { by_index: Vec<String> },
    /// The wheelhouse BuildKit fetched, offline: the exported requirements,
    /// then the packages built from sdists (`name==version`).
    Fetched { built_pins: Vec<String> },
}

impl Installer {
    /// The installer of a lock whose files BuildKit does not fetch.
    fn of(
        lock_kind: LockKind,
        project: &ProjectDir<'_>,
        selection: &[String],
        translated: &[IndexRequirements],
        translated_files: &[String],
    ) -> Self {
        match lock_kind {
            LockKind::Uv => Self::Uv {
                selection: selection.to_vec(),
            },
            // A pdm.lock's or Pipfile.lock's translation is installed as Poetry's is.
            LockKind::Poetry | LockKind::Pdm | LockKind::Pipfile => Self::Poetry {
                by_index: translated
                    .iter()
                    .zip(translated_files)
                    .flat_map(|(lock, file)| [lock.index.clone().unwrap_or_default(), file.clone()])
                    .collect(),
            },
            // `require-hashes: false` lets a requirements.txt without
            // hashes through; every other lock has them.
            LockKind::Requirements | LockKind::Pylock => Self::Pinned {
                hashes: (lock_kind != LockKind::Requirements || project.require_hashes)
                    .then_some("--require-hashes"),
                // A requirements.txt with includes: its flattened file.
                file: if translated.is_empty() {
                    crate::project::lock_file_name(project, lock_kind).to_owned()
                } else {
                    crate::lock::includes::FLATTENED_FILE.to_owned()
                },
            },
        }
    }

    /// The script that makes the whole venv, and its arguments: the uv
    /// lock syncs the project's environment; a lock of pins is installed
    /// file by file, its name the script's argument.
    fn venv(&self) -> (&'static Script, Vec<String>) {
        match self {
            Self::Uv { selection } => (&VENV_SCRIPT, selection.clone()),
            Self::Pinned { hashes, file } => (
                &PINNED_VENV_SCRIPT,
                hashes
                    .iter()
                    .copied()
                    .chain([file.as_str()])
                    .map(str::to_owned)
                    .collect(),
            ),
            Self::Poetry { by_index } => (&POETRY_VENV_SCRIPT, by_index.clone()),
            Self::Fetched { built_pins } => (&FETCHED_VENV_SCRIPT, built_pins.clone()),
        }
    }

    /// The script that adds to the venv below, and its arguments: the
    /// fetched delta installs the exported requirements itself and takes
    /// the built pins; the others run the installer they are given.
    fn delta(&self) -> (&'static Script, Vec<String>) {
        let uv_installer = |args: Vec<&str>, extra: &[String]| -> Vec<String> {
            std::iter::once(UV_BINARY)
                .chain(args)
                .map(str::to_owned)
                .chain(extra.iter().cloned())
                .collect()
        };
        match self {
            Self::Uv { selection } => (
                &DELTA_SCRIPT,
                uv_installer(
                    vec![
                        "sync",
                        "--locked",
                        "--inexact",
                        "--no-default-groups",
                        "--no-install-project",
                        "--no-editable",
                    ],
                    selection,
                ),
            ),
            Self::Pinned { hashes, file } => (
                &DELTA_SCRIPT,
                uv_installer(
                    ["pip", "install", "--python", "/opt/venv/bin/python"]
                        .into_iter()
                        .chain(*hashes)
                        .chain(["-r", file.as_str()])
                        .collect(),
                    &[],
                ),
            ),
            Self::Poetry { by_index } => (&POETRY_DELTA_SCRIPT, by_index.clone()),
            Self::Fetched { built_pins } => (&FETCHED_DELTA_SCRIPT, built_pins.clone()),
        }
    }
}

/// What the venv step reads.
enum Inputs {
    /// The lock, with uv downloading (and, for a git dependency over SSH,
    /// the client's agent and the `known_hosts` secret), and the names of
    /// the project's indexes, whose credentials uv reads from secrets.
    Lock {
        lock: State,
        git_over_ssh: bool,
        indexes: Vec<String>,
    },
    /// The fetched wheels and the lock as requirements with hashes, with
    /// the network off.
    Fetched { house: State, requirements: State },
}

impl Inputs {
    /// `exec` with these inputs mounted, the lock source at `lock_dir`
    /// (the project's directory, or its workspace's root) in it.
    fn mount(&self, cx: &Context<'_>, lock_dir: &str, exec: Exec) -> Exec {
        match self {
            Self::Lock {
                lock,
                git_over_ssh,
                indexes,
            } => {
                let exec = cx.with_index_credentials(
                    cx.with_uv(
                        exec.cwd(LOCK_DIR)
                            .mount(project_mount(lock_dir, Mount::readonly(LOCK_DIR, lock))),
                    ),
                    indexes,
                );
                if *git_over_ssh {
                    with_ssh(cx, exec)
                } else {
                    exec
                }
            }
            Self::Fetched {
                house,
                requirements,
            } => exec
                .network(Network::None)
                .mount(Mount::readonly(UV_DIR, &cx.uv_tool))
                .mount(Mount::cache(
                    UV_CACHE_DIR,
                    UV_CACHE_ID,
                    CacheSharing::Shared,
                ))
                .mount(Mount::readonly(WHEELS_DIR, house))
                .mount(Mount::readonly(REQUIREMENTS_DIR, requirements)),
        }
    }
}

/// `mount` of the lock source, at the directory `dir` in it.
fn project_mount(dir: &str, mount: Mount) -> Mount {
    if dir.is_empty() {
        mount
    } else {
        mount.selector(dir)
    }
}

/// `exec` with the client's SSH agent and git's ssh checking hosts
/// against the `known_hosts` secret.
fn with_ssh(cx: &Context<'_>, exec: Exec) -> Exec {
    let mut env = cx.uv_env.clone();
    image::set_env(&mut env, "SSH_AUTH_SOCK", SSH_SOCKET);
    image::set_env(
        &mut env,
        "GIT_SSH_COMMAND",
        &format!(
            "ssh -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile={KNOWN_HOSTS_PATH}"
        ),
    );
    exec.env(env)
        .mount(Mount::ssh(SSH_SOCKET, SSH_ID))
        .mount(Mount::secret(KNOWN_HOSTS_PATH, KNOWN_HOSTS_SECRET, false))
}

/// What the venv step's name says besides the lock.
struct StepNote {
    /// How many packages, when known.
    packages: String,
    /// That git runs over SSH.
    over_ssh: &'static str,
    /// How many files were fetched and built.
    fetched: String,
}

fn step_note(
    facts: Option<&ProjectFacts>,
    git_over_ssh: bool,
    fetched: Option<&Wheelhouse>,
) -> StepNote {
    let packages = match facts.and_then(|f| f.venv_packages) {
        Some(1) => "1 package".to_owned(),
        Some(count) => format!("{count} packages"),
        None => "uv sync --locked".to_owned(),
    };
    let over_ssh = if git_over_ssh {
        ", git over SSH (--ssh default, --secret id=known_hosts)"
    } else {
        ""
    };
    let fetched = fetched.map_or_else(String::new, |house| {
        let plural =
            |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        let built = match house.sdists.len() {
            0 => String::new(),
            n => format!(" and {}", plural(n, "built sdist", "built sdists")),
        };
        format!(
            ", {}{built}, network off",
            plural(house.wheels.len(), "fetched wheel", "fetched wheels")
        )
    });
    StepNote {
        packages,
        over_ssh,
        fetched,
    }
}

/// The steps that make a level's fetched inputs, and what they read.
struct Fetch<'c, 'a> {
    cx: &'c Context<'a>,
    name: &'c str,
    line: Option<u32>,
    lock_file: &'c str,
    lock_dir: &'c str,
    facts: Option<&'c ProjectFacts>,
    house: &'c Wheelhouse,
    selection: &'c [String],
    lock: &'c State,
}

impl Fetch<'_, '_> {
    /// The fetched wheels, the wheels built from the fetched sdists (in
    /// `builder`), and the lock as requirements with hashes.
    fn inputs(&self, builder: &State) -> Result<Inputs, PlanError> {
        let (house, requirements) = (self.house, self.requirements()?);
        let built = house
            .sdists
            .iter()
            .map(|build| self.build_sdist(build, builder))
            .collect::<Result<Vec<State>, PlanError>>()?;
        let house = wheelhouse(&house.wheels, built, self.cx.uses_merge, self.name);
        Ok(Inputs::Fetched {
            house,
            requirements,
        })
    }

    /// The lock as requirements with hashes, without the packages built
    /// from sdists: exported by uv, or, for a pylock.toml (uv cannot
    /// export one), written here from the facts the wheelhouse came from.
    fn requirements(&self) -> Result<State, PlanError> {
        let (cx, name, lock_file) = (self.cx, self.name, self.lock_file);
        let (facts, house) = (self.facts, self.house);
        let as_requirements = format!("[{name}] venv: {lock_file} as requirements with hashes");
        if facts.is_some_and(|f| f.lock == LockKind::Pylock) {
            let text = facts.map_or_else(String::new, |f| {
                let with_sdists = f.fetching == Fetching::WheelsAndSdists;
                crate::artifacts::requirements_text(&f.selection, &house.sdists, with_sdists)
            });
            return Ok(State::scratch().mkfile(
                "/requirements.txt",
                text.as_bytes(),
                as_requirements,
            ));
        }
        let export_args: Vec<String> = self
            .selection
            .iter()
            .cloned()
            .chain(
                house
                    .sdists
                    .iter()
                    .flat_map(|build| ["--no-emit-package".to_owned(), build.name.clone()]),
            )
            .collect();
        cx.build_root
            .run(
                cx.with_uv(
                    shell(&EXPORT_SCRIPT, &export_args)
                        .env(cx.uv_env.clone())
                        .cwd(LOCK_DIR)
                        .mount(project_mount(
                            self.lock_dir,
                            Mount::readonly(LOCK_DIR, self.lock),
                        ))
                        .mount(Mount::output(OUT_DIR, &State::scratch()))
                        .named(as_requirements)
                        .at(self.line),
                ),
                cx.platform,
            )
            .output(OUT_DIR)
            .ok_or(PlanError::MissingOutput(OUT_DIR))
    }

    /// An sdist built alone: from the builder and the sdist, nothing the
    /// project holds.
    fn build_sdist(&self, build: &SdistBuild, builder: &State) -> Result<State, PlanError> {
        let (cx, name) = (self.cx, self.name);
        let exec = shell(
            &SDIST_BUILD_SCRIPT,
            std::slice::from_ref(&build.sdist.filename),
        )
        .env(cx.uv_env.clone())
        .cwd(SDIST_DIR)
        .mount(Mount::readonly(SDIST_DIR, &fetch(&build.sdist, name)))
        .mount(Mount::output(OUT_DIR, &State::scratch()))
        .named(format!(
            "[{name}] build {} {} from its sdist",
            build.name, build.version
        ))
        .at(self.line);
        builder
            .run(cx.with_uv(exec), cx.platform)
            .output(OUT_DIR)
            .ok_or(PlanError::MissingOutput(OUT_DIR))
    }
}

/// `file` as a checksummed HTTP source, for the level `name`. The step
/// names where the lock records the hash: BuildKit reports a digest
/// mismatch under it.
fn fetch(file: &LockedFile, name: &str) -> State {
    let recorded_at = file
        .recorded_at
        .as_ref()
        .map_or_else(String::new, |at| format!(", {at}"));
    State::http(
        &file.url,
        &file.sha256,
        &file.filename,
        format!(
            "[{name}] fetch {} (sha256 {}{recorded_at})",
            file.filename,
            file.sha256.get(..12).unwrap_or(&file.sha256)
        ),
    )
}

/// The wheels of `files`, each a checksummed HTTP source, and the wheels
/// `built` from sdists, side by side in one directory: stacked with
/// MergeOp, or copied next to each other.
fn wheelhouse(files: &[LockedFile], built: Vec<State>, uses_merge: bool, name: &str) -> State {
    let fetched: Vec<State> = files
        .iter()
        .map(|file| fetch(file, name))
        .chain(built)
        .collect();
    if uses_merge {
        State::merge(
            &fetched.iter().collect::<Vec<_>>(),
            format!("[{name}] wheels: {} files", fetched.len()),
        )
    } else {
        fetched.iter().fold(State::scratch(), |house, wheel| {
            house.copy(
                wheel,
                FileCopy::dir_contents("/", "/").named(format!("[{name}] wheels: + one")),
            )
        })
    }
}
