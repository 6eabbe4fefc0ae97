//! A service's build commands (`build-commands`): each its own step in the
//! builder, run as root in a copy of the project directory at the working
//! directory, whose declared outputs are copied to an output mount under
//! the working directory; the code stage puts them in the code's layer.
//!
//! A command's step reads the builder (the image's system and the
//! `system.build` packages), the venv with the project installed (unless
//! `venv: false`), the project's files (or only its `inputs`), and the
//! outputs of the commands before it, laid over that copy; so it reruns
//! only when one of those changes, and nothing else of the step reaches
//! the image. The network is on (`npm ci`), with the CA bundle secret
//! mounted for the tools that download.

use crate::image;
use crate::llb::{CacheSharing, FileCopy, Mount, State};
use crate::spec::{BuildCommand, Service};

use super::scripts::BUILD_COMMAND_SCRIPT;
use super::{
    CA_BUNDLE_PATH, CA_BUNDLE_SECRET, Context, OUT_DIR, PlanError, SRC_DIR, VENV_DIR, shell,
};

/// Where the outputs of the earlier commands are mounted.
const BUILT_DIR: &str = "/pybase/built";

/// What the build commands of a service run on.
pub(super) struct CommandBases<'a> {
    /// The builder with the service's whole venv.
    pub(super) with_venv: &'a State,
    /// The builder without the service's venv.
    pub(super) without_venv: &'a State,
    /// The project's code as the code stage made it (installed files, or
    /// an application's files under the working directory).
    pub(super) code: &'a State,
    /// The environment the tiers below set, in order.
    pub(super) tiers_env: &'a [(String, String)],
}

/// The outputs of `service`'s build commands, in order: each a filesystem
/// holding that command's outputs under the working directory.
pub(super) fn build_command_outputs(
    cx: &Context<'_>,
    service: &Service,
    bases: &CommandBases<'_>,
) -> Result<Vec<State>, PlanError> {
    let mut outputs: Vec<State> = Vec::new();
    for command in &service.build_commands {
        let built = match outputs.as_slice() {
            [] => None,
            earlier => Some(
                State::scratch().copy_all(
                    earlier
                        .iter()
                        .map(|output| {
                            (
                                output,
                                FileCopy::dir_contents("/", "/").named(format!(
                                    "[{}] code: outputs of the earlier build commands",
                                    service.level.name
                                )),
                            )
                        })
                        .collect(),
                ),
            ),
        };
        outputs.push(run_command(cx, service, command, bases, built.as_ref())?);
    }
    Ok(outputs)
}

/// The step of one build `command`, on `built`, the outputs of the
/// commands before it.
fn run_command(
    cx: &Context<'_>,
    service: &Service,
    command: &BuildCommand,
    bases: &CommandBases<'_>,
    built: Option<&State>,
) -> Result<State, PlanError> {
    let name = &service.level.name;
    // Without `inputs`, the command sees the project installed as the
    // image has it; with them, only those files.
    let root = match (command.venv, &command.inputs) {
        (false, _) => bases.without_venv.clone(),
        (true, Some(_)) => bases.with_venv.clone(),
        (true, None) => super::stack(
            cx.uses_merge,
            bases.with_venv,
            bases.code,
            FileCopy::dir_contents("/", "/").named(format!("[{name}] builder: + code")),
            format!("[{name}] builder: venv + code"),
        ),
    };
    let mut exec = shell(&BUILD_COMMAND_SCRIPT, &command.argv)
        .env(command_env(cx, service, command, bases.tiers_env))
        .mount(super::code::command_source(
            cx,
            service,
            command.inputs.as_deref(),
            SRC_DIR,
        ))
        .mount(Mount::output(OUT_DIR, &State::scratch()))
        .mount(Mount::secret(CA_BUNDLE_PATH, CA_BUNDLE_SECRET, true))
        .named(format!("[{name}] code: build command: {}", command.shown))
        .at(command.at.map(|p| p.line));
    if let Some(built) = built {
        exec = exec.mount(Mount::readonly(BUILT_DIR, built));
    }
    for cache in &command.caches {
        exec = exec.mount(Mount::cache(
            cache,
            &format!("pybase-build-cache:{cache}"),
            CacheSharing::Shared,
        ));
    }
    root.run(exec, cx.platform)
        .output(OUT_DIR)
        .ok_or(PlanError::MissingOutput(OUT_DIR))
}

/// The environment of a build command: the build image's, with the
/// working directory and the outputs for the script, and, with the venv,
/// the venv first on `PATH` and the tiers' and the service's environment,
/// as the image runs.
fn command_env(
    cx: &Context<'_>,
    service: &Service,
    command: &BuildCommand,
    tiers_env: &[(String, String)],
) -> Vec<String> {
    let mut env = cx.build_env.clone();
    image::set_env(&mut env, "PYBASE_WORKDIR", &service.workdir);
    image::set_env(&mut env, "PYBASE_OUTPUTS", &command.outputs.join("\n"));
    image::set_env(&mut env, "PYTHONDONTWRITEBYTECODE", "1");
    if command.venv {
        let path = image::get_env(&env, "PATH")
            .unwrap_or(image::DEFAULT_PATH)
            .to_owned();
        image::set_env(&mut env, "PATH", &format!("{VENV_DIR}/bin:{path}"));
        image::set_env(&mut env, "VIRTUAL_ENV", VENV_DIR);
        for (key, value) in tiers_env.iter().chain(&service.level.env) {
            image::set_env(&mut env, key, value);
        }
    }
    env
}
