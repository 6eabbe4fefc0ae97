//! A service's `build-commands`: commands run on its code in the builder
//! before it ships (`collectstatic`, a Vite build), checked into
//! [`BuildCommand`]s: a command to run, the paths it makes (`outputs`) and
//! reads (`inputs`), relative to the project directory and inside it,
//! whether it needs the venv, and its cache directories.

use serde_saphyr::Spanned;

use crate::diagnostic::{Diagnostic, Position};

use super::raw::{CommandLine, RawBuildCommand, pos};

/// One build command of a service, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildCommand {
    /// The arguments it runs (`/bin/sh -c TEXT` for a string).
    pub argv: Vec<String>,
    /// The command as the spec writes it, for the step's name.
    pub shown: String,
    /// What it makes: paths relative to the project directory, normalized.
    pub outputs: Vec<String>,
    /// The paths of the project directory it reads, normalized; `None`:
    /// the whole directory and the installed project.
    pub inputs: Option<Vec<String>>,
    /// Whether it runs with the venv.
    pub venv: bool,
    /// Its cache directories, absolute and normalized.
    pub caches: Vec<String>,
    /// Where its `run` is.
    pub at: Option<Position>,
}

/// Where pybase mounts what its steps read; no cache may go there.
const RESERVED_DIRS: [&str; 3] = ["/pybase", "/pybase-scripts", "/run/secrets"];

/// `build-commands` of a service whose working directory is `workdir`
/// (`None` when it is invalid): every problem is reported.
pub(super) fn validate_build_commands(
    file: &str,
    raw: &[RawBuildCommand],
    workdir: Option<&str>,
    problems: &mut Vec<Diagnostic>,
) -> Vec<BuildCommand> {
    raw.iter()
        .filter_map(|command| validate_build_command(file, command, workdir, problems))
        .collect()
}

fn validate_build_command(
    file: &str,
    raw: &RawBuildCommand,
    workdir: Option<&str>,
    problems: &mut Vec<Diagnostic>,
) -> Option<BuildCommand> {
    let before = problems.len();
    let (argv, shown) = match &raw.run.value {
        CommandLine::Shell(text) => (
            vec!["/bin/sh".to_owned(), "-c".to_owned(), text.clone()],
            text.trim().to_owned(),
        ),
        CommandLine::Argv(args) => (args.clone(), args.join(" ")),
    };
    if shown.is_empty() || argv.iter().any(String::is_empty) {
        problems.push(
            Diagnostic::at(
                file,
                pos(&raw.run),
                "`run` must be a command: a non-empty string or a list of non-empty arguments",
            )
            .with_hint("e.g. `run: python manage.py collectstatic --noinput`"),
        );
    }
    if raw.outputs.value.is_empty() {
        problems.push(
            Diagnostic::at(
                file,
                pos(&raw.outputs),
                "`outputs` must list what the command makes for the image",
            )
            .with_hint(
                "e.g. `outputs: [staticfiles]`: only the outputs of a build command reach the image",
            ),
        );
    }
    let outputs = project_paths(file, "output", &raw.outputs.value, problems);
    let inputs = raw
        .inputs
        .as_ref()
        .map(|inputs| project_paths(file, "input", &inputs.value, problems));
    let caches = raw
        .caches
        .iter()
        .filter_map(|cache| cache_dir(file, cache, workdir, problems))
        .collect();
    if problems.len() > before {
        return None;
    }
    Some(BuildCommand {
        argv,
        shown,
        outputs,
        inputs,
        venv: raw.venv.as_ref().is_none_or(|venv| venv.value),
        caches,
        at: pos(&raw.run),
    })
}

/// `paths` (`what`s of a command), each relative to the project directory
/// and inside it, normalized.
fn project_paths(
    file: &str,
    what: &str,
    paths: &[Spanned<String>],
    problems: &mut Vec<Diagnostic>,
) -> Vec<String> {
    paths
        .iter()
        .filter_map(|path| super::normalized_path(file, path, what, in_project, problems))
        .collect()
}

/// A path relative to the project directory naming something inside it,
/// normalized.
fn in_project(path: &str) -> Result<String, String> {
    let normalized = super::normalize_inside(path, "the project directory")?;
    if normalized.is_empty() {
        return Err(
            "it must name a file or directory inside the project directory, not the directory itself".into(),
        );
    }
    Ok(normalized)
}

/// A cache directory: absolute, not where pybase mounts its own inputs,
/// and neither the working directory nor above it (the command's copy of
/// the project would land in the cache).
fn cache_dir(
    file: &str,
    cache: &Spanned<String>,
    workdir: Option<&str>,
    problems: &mut Vec<Diagnostic>,
) -> Option<String> {
    let under = |dir: &str, parent: &str| {
        parent == "/" || dir == parent || dir.starts_with(&format!("{parent}/"))
    };
    let reason = match super::normalize_absolute(&cache.value) {
        Err(reason) => reason,
        Ok(dir) if dir == "/" => "it may not be `/`".to_owned(),
        Ok(dir) if RESERVED_DIRS.iter().any(|reserved| under(&dir, reserved)) => {
            format!(
                "pybase mounts its own files under {}",
                RESERVED_DIRS.join(", ")
            )
        }
        Ok(dir) if under(&dir, crate::files::VENV_DIR) => {
            format!("the venv ({}) is not a cache", crate::files::VENV_DIR)
        }
        Ok(dir) if workdir.is_some_and(|workdir| under(workdir, &dir)) => {
            "it may not hold the working directory, where the command's copy of the project is"
                .to_owned()
        }
        Ok(dir) => return Some(dir),
    };
    problems.push(
        Diagnostic::at(
            file,
            pos(cache),
            format!("invalid cache `{}`: {reason}", cache.value),
        )
        .with_hint("a cache is a directory a tool keeps between builds, e.g. `/root/.npm`"),
    );
    None
}
