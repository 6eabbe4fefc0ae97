//! The code stage of a service image: the project built and installed
//! without its dependencies in the builder (or, built from Python files
//! alone, on the system stage: see [`install_base`]), into the venv below it (a
//! tier's) or an empty one on the same interpreter, with the files it adds
//! copied to an output mount and stacked on the image; with it, from
//! their own directories, the local projects it depends on (a uv
//! workspace's members, a Poetry project's path dependencies), each built
//! and installed the same way, non-editable. An application (a
//! directory of code without pyproject.toml) is not installed: its files
//! are copied into the image's working directory, owned by root.

use crate::image;
use crate::llb::{CacheSharing, Exec, FileCopy, Mount, Network, State};
use crate::spec::Service;

use super::commands::{CommandBases, build_command_outputs};
use super::scripts::{
    APP_CODE_SCRIPT, BACKEND_SCRIPT, CARGO_CODE_SCRIPT, CARGO_WORKSPACE_CODE_SCRIPT, CODE_SCRIPT,
    SCM_VERSION_ENV, WORKSPACE_CODE_SCRIPT,
};
use super::{
    BACKEND_DIR, CARGO_CACHE_ID, CARGO_HOME_DIR, CARGO_TARGET_CACHE_ID, CARGO_TARGET_DIR, Context,
    OUT_DIR, PlanError, SRC_DIR, shell, stack_all,
};

/// `image` with the code of `service` on top: the project installed in
/// `code_on` (the builder of its level), or an application's files copied;
/// its history entry goes to `history`.
pub(super) fn code(
    cx: &Context<'_>,
    service: &Service,
    builders: &Builders<'_>,
    image: &State,
    history: &mut Vec<String>,
) -> Result<State, PlanError> {
    let name = &service.level.name;
    let facts = cx.inputs.projects.get(service.project.as_str());
    let application = facts.is_some_and(|f| f.application);
    let code = if application {
        application_code(cx, service)?
    } else {
        installed(cx, service, install_base(cx, service, builders))?
    };
    let outputs = build_command_outputs(
        cx,
        service,
        &CommandBases {
            with_venv: builders.with_venv,
            without_venv: builders.code_on,
            code: &code,
            application,
            tiers_env: builders.tiers_env,
        },
    )?;
    let kind = if application {
        "application"
    } else {
        "project"
    };
    history.push(if outputs.is_empty() {
        format!("pybase: {kind} code of `{name}`")
    } else {
        format!("pybase: {kind} code of `{name}` and its build commands' outputs")
    });
    // The code and the commands' outputs: one layer.
    let copies = std::iter::once((&code, format!("[{name}] image: add the code")))
        .chain(outputs.iter().map(|output| {
            (
                output,
                format!("[{name}] image: add the build commands' outputs"),
            )
        }))
        .map(|(state, label)| (state, FileCopy::dir_contents("/", "/").named(label)))
        .collect();
    Ok(stack_all(
        cx.uses_merge,
        image,
        copies,
        format!("[{name}] image: + code"),
    ))
}

/// What the code stage's steps run on.
pub(super) struct Builders<'a> {
    /// The builder of the service's level, without its venv: where the
    /// project is built, unless it is built from Python files alone.
    pub(super) code_on: &'a State,
    /// That builder without the build packages (see [`install_base`]).
    pub(super) system: &'a State,
    /// That builder with the service's whole venv: where build commands
    /// run.
    pub(super) with_venv: &'a State,
    /// The environment the tiers below set, in order.
    pub(super) tiers_env: &'a [(String, String)],
}

/// Where the project of `service` and its build backend are installed:
/// with a build backend that builds from Python files alone
/// (`ProjectFacts::pure_python`) and no other local project to install (a
/// workspace member's or path dependency's backend is not read), the
/// system stage with the venvs below, which has the interpreter; else the
/// builder, whose build packages a backend that may compile needs. A code
/// change on a daemon whose cache was imported (`--cache-from`) then needs
/// no layer of the builder: for an image's inline cache, which holds the
/// image's layers alone, the builder's apt step is not run again.
fn install_base<'a>(cx: &Context<'_>, service: &Service, builders: &Builders<'a>) -> &'a State {
    let pure = cx
        .inputs
        .projects
        .get(service.project.as_str())
        .is_some_and(|facts| facts.pure_python);
    let local = local_projects(cx, service).is_some_and(|local| local.dirs.len() > 1);
    if pure && !local {
        builders.system
    } else {
        builders.code_on
    }
}

/// The files the project of `service` adds to a venv, installed in
/// `code_on` without its dependencies.
fn installed(cx: &Context<'_>, service: &Service, code_on: &State) -> Result<State, PlanError> {
    let name = &service.level.name;
    let inputs = cx.inputs;
    // A version from the spec is the one setuptools_scm and hatch-vcs
    // (which uses it) give the package: the context has no `.git` to take
    // one from.
    let mut code_env = cx.uv_env.clone();
    if let Some(version) = &service.version {
        image::set_env(&mut code_env, SCM_VERSION_ENV, version);
    }
    let backend = backend(cx, service, code_on)?;
    let facts = inputs.projects.get(service.project.as_str());
    let cargo = facts.is_some_and(|facts| facts.cargo);
    let (script, local_script) = if cargo {
        image::set_env(&mut code_env, "CARGO_HOME", CARGO_HOME_DIR);
        image::set_env(&mut code_env, "CARGO_TARGET_DIR", CARGO_TARGET_DIR);
        (&CARGO_CODE_SCRIPT, &CARGO_WORKSPACE_CODE_SCRIPT)
    } else {
        (&CODE_SCRIPT, &WORKSPACE_CODE_SCRIPT)
    };
    let code_exec = match local_projects(cx, service) {
        // A workspace member, or a project with path dependencies: it and
        // the local projects it depends on, from their directories.
        Some(local) => shell(local_script, &local.dirs)
            .mount(Mount::scratchpad(
                SRC_DIR,
                &members_source(
                    service,
                    (&local.dirs, local.source_name),
                    (inputs.session_id, inputs.spec_file),
                    &inputs.ignored,
                ),
            ))
            .named(format!(
                "[{name}] code: install the project and the {} it depends on ({}) without dependencies",
                local.what,
                local
                    .dirs
                    .iter()
                    .map(|dir| if dir.is_empty() { "." } else { dir.as_str() })
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        None => shell(script, &[])
            .mount(in_project(
                Mount::scratchpad(
                    SRC_DIR,
                    &code_source(
                        service,
                        inputs.session_id,
                        inputs.spec_file,
                        &inputs.ignored,
                        false,
                    ),
                ),
                service,
            ))
            .named(format!(
                "[{name}] code: install the project without dependencies{}",
                if cargo {
                    " (its Rust code compiled by cargo)"
                } else {
                    ""
                }
            )),
    }
    .env(code_env)
    .at(service.level.at.map(|p| p.line));
    let code_exec = code_exec.mount(Mount::output(OUT_DIR, &State::scratch()));
    let code_exec = match &backend {
        Some(backend) => code_exec.mount(Mount::readonly(BACKEND_DIR, backend)),
        None => code_exec,
    };
    let code_exec = if cargo {
        with_cargo(code_exec, cx.platform)
    } else {
        code_exec
    };
    code_on
        .run(cx.with_uv(code_exec), cx.platform)
        .output(OUT_DIR)
        .ok_or(PlanError::MissingOutput(OUT_DIR))
}

/// `exec` with cargo's caches, for a project whose backend compiles Rust
/// (the network and the CA bundle, see `cargo_setup!` in the scripts, are
/// the step's anyway): its home, shared by every build (cargo locks its
/// own registry), so crates are downloaded once; and its target directory
/// on `platform`, locked by one step at a time, so that a code change
/// compiles the project's crate but not its dependencies again, and no
/// other build replaces the library maturin packs between cargo's end and
/// the wheel (cargo locks the directory only while it builds).
fn with_cargo(exec: Exec, platform: &crate::llb::Platform) -> Exec {
    exec.mount(Mount::cache(
        CARGO_HOME_DIR,
        CARGO_CACHE_ID,
        CacheSharing::Shared,
    ))
    .mount(Mount::cache(
        CARGO_TARGET_DIR,
        &format!("{CARGO_TARGET_CACHE_ID}-{}", platform.to_spec_string()),
        CacheSharing::Locked,
    ))
}

/// The local projects a service's code step installs, the project first.
struct LocalProjects {
    /// Their directories in the build context.
    dirs: Vec<String>,
    /// What they are, for the step's name.
    what: &'static str,
    /// The name of the source of their code.
    source_name: &'static str,
}

/// The local projects `service`'s code step installs with its project:
/// the workspace members it depends on, or the path dependencies its
/// `poetry.lock` locks; `None` when it has neither.
fn local_projects(cx: &Context<'_>, service: &Service) -> Option<LocalProjects> {
    let facts = cx.inputs.projects.get(service.project.as_str())?;
    if let Some(workspace) = &facts.workspace {
        return Some(LocalProjects {
            dirs: workspace.code.clone(),
            what: "workspace members",
            source_name: "load the workspace members' code",
        });
    }
    (!facts.path_dependencies.is_empty()).then(|| LocalProjects {
        dirs: std::iter::once(service.project.clone())
            .chain(facts.path_dependencies.iter().cloned())
            .collect(),
        what: "path dependencies",
        source_name: "load the code of the project and its path dependencies",
    })
}

/// The code of `service`, an application: the project directory's files
/// (without its lock) under the working directory, owned by root and
/// readable by every user, copied by a step whose inputs are the build
/// image, the code and the working directory alone (no lock, no venv, no
/// build packages), with the network off.
fn application_code(cx: &Context<'_>, service: &Service) -> Result<State, PlanError> {
    let inputs = cx.inputs;
    let source = code_source(
        service,
        inputs.session_id,
        inputs.spec_file,
        &inputs.ignored,
        true,
    );
    let exec = shell(&APP_CODE_SCRIPT, std::slice::from_ref(&service.workdir))
        .env(cx.build_env.clone())
        .network(Network::None)
        .mount(in_project(Mount::readonly(SRC_DIR, &source), service))
        .mount(Mount::output(OUT_DIR, &State::scratch()))
        .named(format!(
            "[{}] code: copy the application into {}",
            service.level.name, service.workdir
        ))
        .at(service.level.at.map(|p| p.line));
    cx.build_root
        .run(exec, cx.platform)
        .output(OUT_DIR)
        .ok_or(PlanError::MissingOutput(OUT_DIR))
}

/// `mount` of the code source, of `service`'s project directory alone.
fn in_project(mount: Mount, service: &Service) -> Mount {
    if service.project.is_empty() {
        mount
    } else {
        mount.selector(&service.project)
    }
}

/// The build backend, in an environment of its own made once per set of
/// requirements (its step reads nothing else, not even the version), where
/// the code step builds without making an isolated one each time; `None`
/// when the project's build requirements were not read.
fn backend(
    cx: &Context<'_>,
    service: &Service,
    code_on: &State,
) -> Result<Option<State>, PlanError> {
    let name = &service.level.name;
    cx.inputs
        .projects
        .get(service.project.as_str())
        .and_then(|facts| facts.build_requires.as_ref())
        .map(|requires| {
            code_on
                .run(
                    cx.with_uv(
                        shell(&BACKEND_SCRIPT, requires)
                            .env(cx.uv_env.clone())
                            .mount(Mount::output(BACKEND_DIR, &State::scratch()))
                            .named(format!(
                                "[{name}] code: build backend {}",
                                requires.join(" ")
                            ))
                            .at(service.level.at.map(|p| p.line)),
                    ),
                    cx.platform,
                )
                .output(BACKEND_DIR)
                .ok_or(PlanError::MissingOutput(BACKEND_DIR))
        })
        .transpose()
}

/// What a code source leaves out of a project directory, as patterns
/// relative to it.
const NOT_CODE: [&str; 10] = [
    ".git",
    ".venv",
    "**/__pycache__",
    "**/*.pyc",
    "uv.lock",
    "poetry.lock",
    "pylock.toml",
    "pylock.*.toml",
    "pdm.lock",
    "Pipfile.lock",
];

/// The build-context source holding the code of a uv workspace member and
/// of the members it depends on, or of a project and its path
/// dependencies: their directories (`members`, context paths), each
/// without what [`code_source`] leaves out of a project (the spec too),
/// and nothing else of the context (a workspace root's lock, the other
/// members); named `[service] name`.
fn members_source(
    service: &Service,
    (members, name): (&[String], &str),
    (session_id, spec_file): (&str, &str),
    ignored: &[String],
) -> State {
    let spec_name = spec_file.rsplit('/').next().unwrap_or(spec_file);
    let under = |dir: &str, name: &str| {
        if dir.is_empty() {
            name.to_owned()
        } else {
            format!("{dir}/{name}")
        }
    };
    let mut exclude: Vec<String> = members
        .iter()
        .flat_map(|dir| {
            NOT_CODE
                .iter()
                .chain([&spec_name])
                .map(move |p| under(dir, p))
        })
        .collect();
    exclude.extend(ignored.iter().cloned());
    // A workspace root at the context's: the whole context.
    let include = if members.iter().any(String::is_empty) {
        Vec::new()
    } else {
        members.iter().map(|dir| format!("{dir}/")).collect()
    };
    code_local(
        service,
        (include, exclude),
        session_id,
        format!("[{}] {name}", service.level.name),
    )
}

/// The build-context source of `service`'s code: the patterns `include`
/// less `exclude`, for the session `session_id`, named `name`.
fn code_local(
    service: &Service,
    (include, exclude): (Vec<String>, Vec<String>),
    session_id: &str,
    name: String,
) -> State {
    super::sources::only_files(
        format!("pybase-code:{}", service.project),
        include,
        (session_id, &exclude),
        name,
    )
}

/// The read-only mount at `dest` of the project directory a build command
/// reads: the project's code as [`code_source`] makes it (the same source
/// as the code step's, an `application`'s without its lock), or, with
/// `inputs`, only those paths of it (less what never belongs in an image).
pub(super) fn command_source(
    cx: &Context<'_>,
    service: &Service,
    (inputs, application): (Option<&[String]>, bool),
    dest: &str,
) -> Mount {
    let (session_id, spec_file) = (cx.inputs.session_id, cx.inputs.spec_file);
    let source = match inputs {
        None => code_source(
            service,
            session_id,
            spec_file,
            &cx.inputs.ignored,
            application,
        ),
        Some(inputs) => {
            let mut exclude: Vec<String> =
                NOT_CODE.iter().map(|p| service.project_path(p)).collect();
            exclude.extend(cx.inputs.ignored.iter().cloned());
            super::sources::only_files(
                format!("pybase-command:{}", service.project),
                inputs
                    .iter()
                    .map(|path| service.project_path(path))
                    .collect(),
                (session_id, &exclude),
                format!("[{}] load a build command's inputs", service.level.name),
            )
        }
    };
    in_project(Mount::readonly(dest, &source), service)
}

/// The build-context source holding the project's code: the project
/// directory without what never belongs in an image (VCS data, venvs,
/// bytecode), without the locks the venv stage installs (no build backend
/// reads them: a lock bump must not rerun the code step), without the spec
/// itself and without what `.dockerignore` excludes (`ignored`).
/// `requirements.txt` stays, since a `setup.py` may read it, except in an
/// `application`'s code, which nothing builds: there it is the lock.
fn code_source(
    service: &Service,
    session_id: &str,
    spec_file: &str,
    ignored: &[String],
    application: bool,
) -> State {
    let mut exclude: Vec<String> = NOT_CODE.iter().map(|p| service.project_path(p)).collect();
    if application {
        exclude.push(service.project_path(crate::requirements::REQUIREMENTS_FILE));
    }
    let spec_name = spec_file.rsplit('/').next().unwrap_or(spec_file);
    exclude.push(service.project_path(spec_name));
    exclude.extend(ignored.iter().cloned());
    let include = if service.project.is_empty() {
        Vec::new()
    } else {
        vec![format!("{}/", service.project)]
    };
    code_local(
        service,
        (include, exclude),
        session_id,
        format!("[{}] load project code", service.level.name),
    )
}
