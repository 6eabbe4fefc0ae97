//! The venv stage of a level: the install from the lock (`uv sync`, a lock
//! of pins, the wheelhouse BuildKit fetched, or Poetry's per-index files)
//! into an output mount, whole, or, on a tier's venv, the files it adds.

use crate::image;
use crate::llb::{CacheSharing, Exec, FileCopy, Mount, Network, State};
use crate::project::LockKind;
use crate::spec::ProjectDir;

use super::scripts::{
    DELTA_SCRIPT, EXPORT_SCRIPT, FETCHED_DELTA_SCRIPT, FETCHED_VENV_SCRIPT, PINNED_VENV_SCRIPT,
    POETRY_DELTA_SCRIPT, POETRY_VENV_SCRIPT, SDIST_BUILD_SCRIPT, VENV_SCRIPT,
};
use super::{
    Context, KNOWN_HOSTS_PATH, KNOWN_HOSTS_SECRET, LOCK_DIR, Level, OUT_DIR, PlanError,
    REQUIREMENTS_DIR, SDIST_DIR, SSH_ID, SSH_SOCKET, UV_BINARY, UV_CACHE_DIR, UV_CACHE_ID, UV_DIR,
    VENV_DIR, WHEELS_DIR, lock_source, shell,
};

/// A level's venv: the files, and the lock they come from.
pub(super) struct Venv {
    /// The whole venv, or the files the install added to the one below.
    pub(super) files: State,
    /// The lock's path in the context.
    pub(super) lock_file: String,
}

/// The venv of `level`, installed in `builder` from `project`'s lock:
/// whole, or, `on_venv_below`, the files it adds to the venv there.
pub(super) fn venv(
    cx: &Context<'_>,
    level: &Level<'_>,
    project: &ProjectDir<'_>,
    builder: &State,
    on_venv_below: bool,
) -> Result<Venv, PlanError> {
    let (name, line) = (level.name, level.line);
    let project_mount = |mount: Mount| {
        if project.dir.is_empty() {
            mount
        } else {
            mount.selector(project.dir)
        }
    };
    let facts = cx.inputs.projects.get(project.dir);
    let packages = match facts.and_then(|f| f.venv_packages) {
        Some(1) => "1 package".to_owned(),
        Some(count) => format!("{count} packages"),
        None => "uv sync --locked".to_owned(),
    };
    let lock_kind = facts.map(|f| f.lock).unwrap_or_default();
    // A git dependency over SSH: the client's agent, and git's ssh
    // checking the host against the `known_hosts` secret, never
    // trusting a key on first use. Neither is part of a layer.
    let git_over_ssh = facts.is_some_and(|f| f.git_over_ssh);
    let over_ssh = if git_over_ssh {
        ", git over SSH (--ssh default, --secret id=known_hosts)"
    } else {
        ""
    };
    let with_ssh = |exec: Exec| {
        if !git_over_ssh {
            return exec;
        }
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
    };
    let lock_file = project.path(lock_kind.file_name());
    // What the installer reads: the lock, or its translation (one file
    // per index).
    let translated = facts.map_or(&[][..], |f| f.translated_locks.as_slice());
    let translated_files: Vec<String> = (0..translated.len())
        .map(crate::poetry::translated_file)
        .collect();
    let installed_file = lock_kind.file_name();
    // The uv lock syncs the project's environment; a lock of pins is
    // installed file by file, its name the venv script's argument. On
    // a venv below, the delta script runs the installer it is given.
    // The extras and groups the spec selects (uv.lock only: a lock of
    // pins with a selection is refused before planning).
    let selection: Vec<String> = project
        .selection
        .extras
        .iter()
        .flat_map(|extra| ["--extra".to_owned(), extra.name.clone()])
        .chain(
            project
                .selection
                .groups
                .iter()
                .flat_map(|group| ["--group".to_owned(), group.name.clone()]),
        )
        .collect();
    // Every file the venv needs on PyPI: BuildKit fetches each as a
    // checksummed HTTP source, an sdist is built into a wheel by a step
    // of its own, and the install runs from those files with the
    // network off, after the lock is exported to requirements with
    // hashes (`uv export`, with the network: a stale lock is reported as
    // uv reports it; a pylock.toml's are written by pybase). The built
    // packages are left out of them, their wheels' hashes being unknown
    // to the lock, and installed by `name==version`.
    let fetched = match (lock_kind, facts.and_then(|f| f.fetchable.as_deref())) {
        (LockKind::Uv | LockKind::Pylock, Some(packages)) if !git_over_ssh => {
            crate::artifacts::wheelhouse(packages, &cx.environment)
                .filter(|house| !house.is_empty())
        }
        _ => None,
    };
    let built_pins: Vec<String> = fetched.as_ref().map_or_else(Vec::new, |house| {
        house
            .sdists
            .iter()
            .map(|build| format!("{}=={}", build.name, build.version))
            .collect()
    });
    // The venv script's arguments, and the delta script's on a venv
    // below: the fetched delta installs the exported requirements itself
    // and takes the built pins; the others run the installer they are
    // given.
    let uv_installer = |args: Vec<&str>, extra: &[String]| -> Vec<String> {
        std::iter::once(UV_BINARY)
            .chain(args)
            .map(str::to_owned)
            .chain(extra.iter().cloned())
            .collect()
    };
    let (venv_script, venv_args, delta_args) = match lock_kind {
        _ if fetched.is_some() => (FETCHED_VENV_SCRIPT, built_pins.clone(), built_pins),
        LockKind::Uv => (
            VENV_SCRIPT,
            selection.clone(),
            uv_installer(
                vec![
                    "sync",
                    "--locked",
                    "--inexact",
                    "--no-default-groups",
                    "--no-install-project",
                    "--no-editable",
                ],
                &selection,
            ),
        ),
        LockKind::Poetry => {
            // Each file after its index, empty for the default.
            let by_index: Vec<String> = translated
                .iter()
                .zip(&translated_files)
                .flat_map(|(lock, file)| [lock.index.clone().unwrap_or_default(), file.clone()])
                .collect();
            (POETRY_VENV_SCRIPT, by_index.clone(), by_index)
        }
        LockKind::Requirements | LockKind::Pylock => {
            // `require-hashes: false` lets a requirements.txt without
            // hashes through; every other lock has them.
            let hashes = (lock_kind != LockKind::Requirements || project.require_hashes)
                .then_some("--require-hashes");
            (
                PINNED_VENV_SCRIPT,
                hashes
                    .into_iter()
                    .chain([installed_file])
                    .map(str::to_owned)
                    .collect(),
                uv_installer(
                    ["pip", "install", "--python", "/opt/venv/bin/python"]
                        .into_iter()
                        .chain(hashes)
                        .chain(["-r", installed_file])
                        .collect(),
                    &[],
                ),
            )
        }
    };
    let mut lock = lock_source(project, cx.inputs.session_id, &cx.inputs.ignored);
    for (translation, file) in translated.iter().zip(&translated_files) {
        lock = lock.mkfile(
            &format!("/{}", project.path(file)),
            translation.text.as_bytes(),
            format!("[{name}] {lock_file} as requirements with hashes: {file}"),
        );
    }
    // How the install step reads its inputs: the fetched files and the
    // lock as requirements with hashes, offline; or the lock, with uv
    // downloading.
    let install: Box<dyn Fn(Exec) -> Exec> = match &fetched {
        Some(house) => {
            let as_requirements = format!("[{name}] venv: {lock_file} as requirements with hashes");
            let requirements =
                if lock_kind == LockKind::Pylock {
                    // uv cannot export a pylock.toml: its requirements are
                    // written here, from the facts the wheelhouse came from.
                    let packages = facts
                        .and_then(|f| f.fetchable.as_deref())
                        .unwrap_or_default();
                    let text = crate::artifacts::requirements_text(packages, &house.sdists);
                    State::scratch().mkfile("/requirements.txt", text.as_bytes(), as_requirements)
                } else {
                    let export_args: Vec<String> =
                        selection
                            .iter()
                            .cloned()
                            .chain(house.sdists.iter().flat_map(|build| {
                                ["--no-emit-package".to_owned(), build.name.clone()]
                            }))
                            .collect();
                    cx.build_root
                        .run(
                            cx.with_uv(
                                Exec::argv(&shell(EXPORT_SCRIPT, "pybase-export", &export_args))
                                    .env(cx.uv_env.clone())
                                    .cwd(LOCK_DIR)
                                    .mount(project_mount(Mount::readonly(LOCK_DIR, &lock)))
                                    .mount(Mount::output(OUT_DIR, &State::scratch()))
                                    .named(as_requirements)
                                    .at(line),
                            ),
                            cx.platform,
                        )
                        .output(OUT_DIR)
                        .ok_or(PlanError::MissingOutput(OUT_DIR))?
                };
            // Each sdist built alone: from the builder and the sdist,
            // nothing the project holds.
            let build_sdist = |build: &crate::artifacts::SdistBuild| {
                let exec = Exec::argv(&shell(
                    SDIST_BUILD_SCRIPT,
                    "pybase-build-sdist",
                    std::slice::from_ref(&build.sdist.filename),
                ))
                .env(cx.uv_env.clone())
                .cwd(SDIST_DIR)
                .mount(Mount::readonly(SDIST_DIR, &fetch(&build.sdist, name)))
                .mount(Mount::output(OUT_DIR, &State::scratch()))
                .named(format!(
                    "[{name}] build {} {} from its sdist",
                    build.name, build.version
                ))
                .at(line);
                builder
                    .run(cx.with_uv(exec), cx.platform)
                    .output(OUT_DIR)
                    .ok_or(PlanError::MissingOutput(OUT_DIR))
            };
            let built = house
                .sdists
                .iter()
                .map(build_sdist)
                .collect::<Result<Vec<State>, PlanError>>()?;
            let house = wheelhouse(&house.wheels, built, cx.uses_merge, name);
            let uv_tool = cx.uv_tool.clone();
            Box::new(move |exec: Exec| {
                exec.network(Network::None)
                    .mount(Mount::readonly(UV_DIR, &uv_tool))
                    .mount(Mount::cache(
                        UV_CACHE_DIR,
                        UV_CACHE_ID,
                        CacheSharing::Shared,
                    ))
                    .mount(Mount::readonly(WHEELS_DIR, &house))
                    .mount(Mount::readonly(REQUIREMENTS_DIR, &requirements))
            })
        }
        None => {
            let lock = lock.clone();
            Box::new(move |exec: Exec| {
                with_ssh(
                    cx.with_uv(
                        exec.cwd(LOCK_DIR)
                            .mount(project_mount(Mount::readonly(LOCK_DIR, &lock))),
                    ),
                )
            })
        }
    };
    let fetched_note = fetched.as_ref().map_or_else(String::new, |house| {
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
    let venv = if on_venv_below {
        let delta_script = if fetched.is_some() {
            FETCHED_DELTA_SCRIPT
        } else if lock_kind == LockKind::Poetry {
            POETRY_DELTA_SCRIPT
        } else {
            DELTA_SCRIPT
        };
        let exec = Exec::argv(&shell(delta_script, "pybase-venv-delta", &delta_args))
                .env(cx.uv_env.clone())
                .mount(Mount::output(OUT_DIR, &State::scratch()))
                .named(format!(
                    "[{name}] venv: {packages} from {lock_file}, adding what the tier lacks{over_ssh}{fetched_note}"
                ))
                .at(line);
        builder
            .run(install(exec), cx.platform)
            .output(OUT_DIR)
            .ok_or(PlanError::MissingOutput(OUT_DIR))?
    } else {
        let exec = Exec::argv(&shell(venv_script, "pybase-venv", &venv_args))
            .env(cx.uv_env.clone())
            .mount(Mount::output(VENV_DIR, &State::scratch()))
            .named(format!(
                "[{name}] venv: {packages} from {lock_file}{over_ssh}{fetched_note}"
            ))
            .at(line);
        builder
            .run(install(exec), cx.platform)
            .output(VENV_DIR)
            .ok_or(PlanError::MissingOutput(VENV_DIR))?
    };
    Ok(Venv {
        files: venv,
        lock_file,
    })
}

/// `file` as a checksummed HTTP source, for the level `name`. The step
/// names where the lock records the hash: BuildKit reports a digest
/// mismatch under it.
fn fetch(file: &crate::artifacts::LockedFile, name: &str) -> State {
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
fn wheelhouse(
    files: &[crate::artifacts::LockedFile],
    built: Vec<State>,
    uses_merge: bool,
    name: &str,
) -> State {
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
