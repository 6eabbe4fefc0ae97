//! `pybase`: a BuildKit frontend for Python services, and its CLI.
//!
//! The frontend image runs `pybase frontend`; people and CI run the other
//! subcommands (see `pybase --help`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use llb_gen::spec::BuildArgs;

#[derive(Parser)]
#[command(
    name = "pybase",
    version,
    about = "Build Python service images from one YAML spec, with BuildKit"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run as a BuildKit gateway frontend over stdin/stdout (the frontend image's entry point)
    #[command(hide = true)]
    Frontend,
    /// Write a starting pybase.yaml for an existing project, from its pyproject.toml and uv.lock (or for an application: code and a requirements.txt)
    Init {
        /// The project directory, holding pyproject.toml (or an application's requirements.txt)
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// The frontend image named by the spec's `# syntax=` line (by default the released
        /// image's tag of this version's major; name another to use a mirror or a dev build)
        #[arg(long, value_name = "IMAGE", default_value = llb_gen::init::DEFAULT_FRONTEND_IMAGE)]
        frontend: String,
        /// Overwrite an existing pybase.yaml
        #[arg(long)]
        force: bool,
    },
    /// Check a spec and the lock files of its services, then lint the spec, without BuildKit
    Check {
        /// The spec file
        file: PathBuf,
        /// The build context (default: the spec's directory)
        #[arg(long)]
        context: Option<PathBuf>,
        /// Fail on lint warnings too, not only on errors
        #[arg(long)]
        strict: bool,
        /// A value for `${NAME}` in the spec, as `docker buildx build --build-arg` gives it
        #[arg(long = "build-arg", value_name = "NAME[=VALUE]", value_parser = parse_build_arg)]
        build_args: Vec<(String, Option<String>)>,
        /// Also check for these platforms (e.g. linux/amd64,linux/arm64): that every package
        /// has an artifact for each; as `docker buildx build --platform`
        #[arg(long = "platform", value_delimiter = ',')]
        platforms: Vec<String>,
        /// Also check against the image's Python (e.g. 3.12): requires-python, and wheels' tags
        #[arg(long)]
        python: Option<String>,
        /// Also check against the image's C library: glibc or musl, e.g. glibc-2.36, musl-1.2
        #[arg(long)]
        libc: Option<String>,
    },
    /// Print the LLB and image config of a target as JSON
    Llb {
        /// The spec file
        file: PathBuf,
        /// The target (required when the spec has several services)
        #[arg(long)]
        target: Option<String>,
        /// The build context (default: the spec's directory)
        #[arg(long)]
        context: Option<PathBuf>,
        /// The platform, e.g. linux/arm64
        #[arg(long, default_value = "linux/amd64")]
        platform: String,
        /// Assemble with MergeOp, as on a BuildKit with the containerd image store
        #[arg(long)]
        mergeop: bool,
        /// A value for `${NAME}` in the spec, as `docker buildx build --build-arg` gives it
        #[arg(long = "build-arg", value_name = "NAME[=VALUE]", value_parser = parse_build_arg)]
        build_args: Vec<(String, Option<String>)>,
    },
    /// List the targets of a spec
    Targets {
        /// The spec file
        file: PathBuf,
        /// A value for `${NAME}` in the spec, as `docker buildx build --build-arg` gives it
        #[arg(long = "build-arg", value_name = "NAME[=VALUE]", value_parser = parse_build_arg)]
        build_args: Vec<(String, Option<String>)>,
    },
    /// Print the spec's JSON Schema (for editors and validators)
    Schema,
    /// Print a `docker buildx bake` file (JSON) with a target per service and base image
    Bake {
        /// The spec file
        file: PathBuf,
        /// The build context as bake should see it (default: the spec's directory)
        #[arg(long)]
        context: Option<PathBuf>,
        /// A build arg the spec refers to: a bake variable with VALUE as its default
        #[arg(long = "build-arg", value_name = "NAME[=VALUE]", value_parser = parse_build_arg)]
        build_args: Vec<(String, Option<String>)>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Frontend => run_frontend(),
        Command::Init {
            dir,
            frontend,
            force,
        } => pybase::cli::init(&pybase::cli::InitRequest {
            dir: &dir,
            frontend: &frontend,
            force,
        }),
        Command::Check {
            file,
            context,
            strict,
            build_args,
            platforms,
            python,
            libc,
        } => pybase::cli::AssumedTarget::from_options(&platforms, python, libc.as_deref())
            .and_then(|assumed| {
                pybase::cli::check(
                    &file,
                    context.as_deref(),
                    &given(build_args),
                    &assumed,
                    strict,
                )
            }),
        Command::Llb {
            file,
            target,
            context,
            platform,
            mergeop,
            build_args,
        } => pybase::cli::llb(&pybase::cli::LlbRequest {
            file: &file,
            target: target.as_deref(),
            context: context.as_deref(),
            platform: &platform,
            mergeop,
            build_args: &given(build_args),
        }),
        Command::Targets { file, build_args } => pybase::cli::targets(&file, &given(build_args)),
        Command::Schema => pybase::cli::schema(),
        Command::Bake {
            file,
            context,
            build_args,
        } => pybase::cli::bake(&file, context.as_deref(), &given(build_args)),
    };
    match outcome {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// `NAME=VALUE`, as `--build-arg` takes it.
/// `NAME=VALUE`, or `NAME` alone for the value of the environment
/// variable `NAME`, as `docker buildx build --build-arg` takes it (`None`
/// when it is not set: the arg is then not given, as with Docker).
fn parse_build_arg(text: &str) -> Result<(String, Option<String>), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_owned(), Some(value.to_owned()))),
        None if !text.is_empty() => Ok((text.to_owned(), std::env::var(text).ok())),
        _ => Err(format!("expected NAME=VALUE or NAME, got `{text}`")),
    }
}

/// The build args given, without those named alone whose variable is not
/// set.
fn given(build_args: Vec<(String, Option<String>)>) -> BuildArgs {
    build_args
        .into_iter()
        .filter_map(|(name, value)| Some((name, value?)))
        .collect()
}

/// Serve one build over stdio, then exit at once: tokio's blocking stdin read
/// cannot be cancelled, so dropping the runtime would hang the build.
fn run_frontend() -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let outcome = runtime.block_on(async {
        let mut bridge = pybase::gateway::connect_stdio().await?;
        pybase::gateway::run(&mut bridge, &pybase::options::Options::from_env()).await
    });
    match outcome {
        Ok(()) => std::process::exit(0),
        Err(error) => {
            eprintln!("pybase frontend: {error:#}");
            std::process::exit(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_build_arg_named_alone_takes_its_value_from_the_environment_if_set() {
        // PATH is set wherever tests run; this name is set nowhere.
        let path = std::env::var("PATH").expect("PATH");
        assert_eq!(
            parse_build_arg("PATH"),
            Ok(("PATH".to_owned(), Some(path.clone())))
        );
        let unset = "PYBASE_TEST_SURELY_UNSET_ARG";
        assert_eq!(parse_build_arg(unset), Ok((unset.to_owned(), None)));
        assert_eq!(
            parse_build_arg("V=1=2"),
            Ok(("V".to_owned(), Some("1=2".to_owned())))
        );
        assert!(parse_build_arg("=x").is_err() && parse_build_arg("").is_err());
        let args = given(vec![("PATH".into(), Some(path)), (unset.into(), None)]);
        assert!(args.get("PATH").is_some() && args.get(unset).is_none());
    }
}
