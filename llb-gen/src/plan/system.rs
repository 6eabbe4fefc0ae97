//! The system and builder stages of a level: its runtime OS packages, the
//! non-root user and the working directory (installed with apt in the
//! image, or, with `build-from`, written in the builder and copied on top
//! of the runtime image), and the build packages the builder adds.

use crate::image;
use crate::llb::{CacheSharing, Exec, FileCopy, Mount, Network, State};
use crate::spec::User;

use super::scripts::{BUILD_SCRIPT, COPIED_SYSTEM_SCRIPT, SYSTEM_REFRESH_SCRIPT, SYSTEM_SCRIPT};
use super::{Context, Level, OUT_DIR, PlanError, RUNTIME_DIR, shell, stack};

impl Context<'_> {
    /// `exec` with apt's cache and lists as cache mounts of the build
    /// image's own (lists of another release must never be mixed in).
    fn apt_mounts(&self, exec: Exec) -> Exec {
        let apt_key = &self.apt_key;
        exec.mount(Mount::cache(
            "/var/cache/apt",
            &format!("pybase-apt-cache-{apt_key}"),
            CacheSharing::Locked,
        ))
        .mount(Mount::cache(
            "/var/lib/apt/lists",
            &format!("pybase-apt-lists-{apt_key}"),
            CacheSharing::Locked,
        ))
    }
}

/// The system stage of an image assembled by copying, which runs nothing
/// itself: the user and working directory written in the builder and
/// stacked on `below` (the image so far); its history entry goes to
/// `history`.
pub(super) fn copied(
    cx: &Context<'_>,
    level: &Level<'_>,
    user: &User,
    below: &State,
    history: &mut Vec<String>,
) -> Result<State, PlanError> {
    let name = level.name;
    if !level.runtime.is_empty() {
        return Err(PlanError::PackagesInCopiedImage(name.to_owned()));
    }
    let exec = shell(&COPIED_SYSTEM_SCRIPT, &[])
        .env(user_env(&cx.build_env, user, level.workdir))
        .network(Network::None)
        .mount(Mount::readonly(RUNTIME_DIR, below))
        .mount(Mount::output(OUT_DIR, &State::scratch()))
        .named(format!(
            "[{name}] system: user {} ({}), {}, written in the builder",
            user.name, user.uid, level.workdir
        ))
        .at(level.line);
    let files = cx
        .build_root
        .run(exec, cx.platform)
        .output(OUT_DIR)
        .ok_or(PlanError::MissingOutput(OUT_DIR))?;
    history.push(format!(
        "pybase: [{name}] user {} ({}), copied in",
        user.name, user.uid
    ));
    let copy = FileCopy::dir_contents("/", "/").named(format!(
        "[{name}] image: add user {} and {}",
        user.name, level.workdir
    ));
    Ok(stack(
        cx.uses_merge,
        below,
        &files,
        copy,
        format!("[{name}] image: + user"),
    ))
}

/// The system stage: the runtime packages, user and working directory,
/// installed on `below` (the image so far) in one exec; its history entry
/// goes to `history`.
pub(super) fn installed(
    cx: &Context<'_>,
    level: &Level<'_>,
    user: &User,
    below: &State,
    history: &mut Vec<String>,
) -> State {
    let name = level.name;
    let exec = shell(&SYSTEM_SCRIPT, level.runtime)
        .env(user_env(&cx.apt_env, user, level.workdir))
        .named(if level.runtime.is_empty() {
            format!(
                "[{name}] system: user {} ({}), {}",
                user.name, user.uid, level.workdir
            )
        } else {
            format!(
                "[{name}] system: {} + user {} ({})",
                level.runtime.join(" "),
                user.name,
                user.uid
            )
        })
        .at(level.line);
    history.push(format!(
        "pybase: [{name}] system packages [{}] and user {} ({})",
        level.runtime.join(" "),
        user.name,
        user.uid
    ));
    below.run(cx.apt_mounts(exec), cx.platform).root()
}

/// The system stage run again, never from the cache, on `below` (the
/// refreshed image so far; `--no-cache-filter system`): the image's OS
/// packages upgraded, then what [`installed`] does. Its own script makes
/// it another op than the cached stage the builders stand on, so they,
/// and the venvs and the code made in them, are not run again.
pub(super) fn refreshed(cx: &Context<'_>, level: &Level<'_>, user: &User, below: &State) -> State {
    let name = level.name;
    let exec = shell(&SYSTEM_REFRESH_SCRIPT, level.runtime)
        .env(user_env(&cx.apt_env, user, level.workdir))
        .named(format!(
            "[{name}] system: refreshed (--no-cache-filter system): apt-get upgrade{}{} + user {} ({})",
            if level.runtime.is_empty() { "" } else { ", " },
            level.runtime.join(" "),
            user.name,
            user.uid
        ))
        .at(level.line)
        .ignoring_cache();
    below.run(cx.apt_mounts(exec), cx.platform).root()
}

/// The builder of a level: `below` with the build packages of every level
/// so far, when there are any.
pub(super) fn builder(
    cx: &Context<'_>,
    level: &Level<'_>,
    below: State,
    build_packages: &[String],
) -> State {
    if build_packages.is_empty() {
        return below;
    }
    let exec = shell(&BUILD_SCRIPT, build_packages)
        .env(cx.apt_env.clone())
        .named(format!(
            "[{}] builder: {}",
            level.name,
            build_packages.join(" ")
        ))
        .at(level.line);
    below.run(cx.apt_mounts(exec), cx.platform).root()
}

/// `env` with the user and working directory the system scripts create.
fn user_env(env: &[String], user: &User, workdir: &str) -> Vec<String> {
    let mut env = env.to_vec();
    image::set_env(&mut env, "PYBASE_WORKDIR", workdir);
    image::set_env(&mut env, "PYBASE_USER", &user.name);
    image::set_env(&mut env, "PYBASE_UID", &user.uid.to_string());
    image::set_env(&mut env, "PYBASE_GID", &user.gid.to_string());
    env
}
