//! The CLI: the frontend's checks and LLB, from files on disk.
//!
//! Errors about input are printed as diagnostics with the offending line;
//! data (JSON, target lists) goes to stdout, everything else to stderr.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use llb_gen::diagnostic::{Diagnostic, Diagnostics};
use llb_gen::lint::Warning;
use llb_gen::plan::{self, BuildInputs, TargetImages};
use llb_gen::project::{ProjectFiles, ProjectInfo};
use llb_gen::spec::{BuildArgs, Spec};
use serde_json::json;

use crate::options::parse_platform;

/// What `pybase check` found: every problem, and the report a user reads.
#[derive(Debug)]
pub struct CheckReport {
    /// The problems with the spec and the project files (errors).
    pub errors: Vec<Diagnostic>,
    /// What the lint rules found in a valid spec (see [`llb_gen::lint`]).
    pub warnings: Vec<Warning>,
    /// Every error, then every warning, rendered against the file it points
    /// into, as `pybase check` prints it on stderr.
    pub text: String,
}

/// Input that a command refused: the problems and their rendered report.
#[derive(Debug)]
pub struct Refused {
    /// The problems (never empty).
    pub errors: Vec<Diagnostic>,
    /// The report, as the command prints it on stderr.
    pub text: String,
}

/// What `pybase check` is told of the images a build runs on, for the
/// checks that need them (`--platform`, `--python`, `--libc`); without
/// any, those checks are left to the build, which looks into the images.
#[derive(Clone, Debug, Default)]
pub struct AssumedTarget {
    /// The platforms built (`linux/amd64` when only a Python or a C
    /// library is given).
    pub platforms: Vec<llb_gen::llb::Platform>,
    /// The image's Python, `3.12` or `3.12.8`.
    pub python: Option<String>,
    /// The image's C library.
    pub libc: Option<llb_gen::environment::Libc>,
}

impl AssumedTarget {
    /// From the options as given: `platforms` (each `os/arch[/variant]`),
    /// `python` and `libc` (`glibc`, `glibc-2.36`, `musl`, `musl-1.2`).
    pub fn from_options(
        platforms: &[String],
        python: Option<String>,
        libc: Option<&str>,
    ) -> anyhow::Result<Self> {
        let mut platforms = platforms
            .iter()
            .map(|p| parse_platform(p))
            .collect::<anyhow::Result<Vec<_>>>()?;
        if platforms.is_empty() && (python.is_some() || libc.is_some()) {
            platforms.push(parse_platform("linux/amd64")?);
        }
        if let Some(python) = &python {
            anyhow::ensure!(
                llb_gen::environment::PythonVersion::parse(python).is_some(),
                "invalid --python `{python}`: expected a version such as 3.12 or 3.12.8"
            );
        }
        let libc = libc.map(parse_libc).transpose()?;
        Ok(Self {
            platforms,
            python,
            libc,
        })
    }
}

/// A C library as `--libc` names it: `glibc` or `musl`, with an optional
/// `-MAJOR.MINOR` version.
fn parse_libc(text: &str) -> anyhow::Result<llb_gen::environment::Libc> {
    use llb_gen::environment::Libc;
    let (family, version) = text
        .split_once('-')
        .map_or((text, None), |(f, v)| (f, Some(v)));
    let version = match version {
        None => None,
        Some(version) => {
            let parsed = version
                .split_once('.')
                .and_then(|(major, minor)| Some((major.parse().ok()?, minor.parse().ok()?)));
            Some(parsed.with_context(|| {
                format!("invalid --libc `{text}`: the version must be MAJOR.MINOR, e.g. glibc-2.36")
            })?)
        }
    };
    match family {
        "glibc" | "gnu" => Ok(Libc::Glibc(version)),
        "musl" => Ok(Libc::Musl(version)),
        _ => anyhow::bail!(
            "invalid --libc `{text}`: expected glibc or musl, with an optional version (glibc-2.36, musl-1.2)"
        ),
    }
}

/// `pybase check FILE`: the spec, the project files of every tier and
/// service with the packages they stack, then the lint rules; with an
/// `assumed` target, also the checks that need it. Fails on an error, or
/// with `strict` on a warning too.
pub fn check(
    file: &Path,
    context: Option<&Path>,
    args: &BuildArgs,
    assumed: &AssumedTarget,
    strict: bool,
) -> anyhow::Result<ExitCode> {
    let report = check_report_on(file, context, args, assumed)?;
    eprint!("{}", report.text);
    if !report.errors.is_empty() || (strict && !report.warnings.is_empty()) {
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// The checks of `pybase check FILE`, with the report as text instead of
/// printed (for tests and tools).
pub fn check_report(
    file: &Path,
    context: Option<&Path>,
    args: &BuildArgs,
) -> anyhow::Result<CheckReport> {
    check_report_on(file, context, args, &AssumedTarget::default())
}

/// The checks of `pybase check FILE` on an `assumed` target, with the
/// report as text instead of printed.
pub fn check_report_on(
    file: &Path,
    context: Option<&Path>,
    args: &BuildArgs,
    assumed: &AssumedTarget,
) -> anyhow::Result<CheckReport> {
    let (spec, text) = match load_spec(file, args)? {
        Ok(loaded) => loaded,
        Err(refused) => {
            return Ok(CheckReport {
                errors: refused.errors,
                warnings: Vec::new(),
                text: refused.text,
            });
        }
    };
    let context = context_dir(file, context);
    let mut errors: Vec<Diagnostic> = Vec::new();
    let mut warnings = llb_gen::lint::lint(&spec, &text);
    for (name, _) in plan::targets(&spec) {
        let Ok(target) = plan::select_target(&spec, Some(&name)) else {
            continue;
        };
        match check_projects(&spec, &target, &context)? {
            Ok((stack, infos)) => {
                let target_checks = [
                    plan::target_version(&target, &infos).err(),
                    plan::rust_toolchain(&spec.file, &target, &infos).err(),
                ];
                for problem in target_checks.into_iter().flatten() {
                    if !errors.contains(&problem) {
                        errors.push(problem);
                    }
                }
                for problem in on_assumed_target(&infos, assumed) {
                    if !errors.contains(&problem) {
                        errors.push(problem);
                    }
                }
                for warning in llb_gen::lint::lint_stack(&stack, &infos) {
                    if !warnings.contains(&warning) {
                        warnings.push(warning);
                    }
                }
            }
            Err(problems) => {
                for problem in problems.0 {
                    if !errors.contains(&problem) {
                        errors.push(problem);
                    }
                }
            }
        }
    }
    let mut reports = Vec::new();
    if !errors.is_empty() {
        reports.push(render_report(
            &Diagnostics(errors.clone()),
            &spec,
            &text,
            &context,
        ));
    }
    reports.extend(warnings.iter().map(|w| {
        let source = if w.diagnostic.file == spec.file {
            Some(text.clone())
        } else {
            std::fs::read(context.join(&w.diagnostic.file))
                .ok()
                .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        };
        w.render(source.as_deref())
    }));
    let mut out = reports.join("\n");
    if errors.is_empty() {
        if !out.is_empty() {
            out.push('\n');
        }
        let plural = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
        out.push_str(&format!(
            "{}: ok ({}{}{})\n",
            file.display(),
            if spec.tiers.is_empty() {
                String::new()
            } else {
                format!("{}, ", plural(spec.tiers.len(), "tier"))
            },
            plural(spec.services.len(), "service"),
            if warnings.is_empty() {
                String::new()
            } else {
                format!(", {}", plural(warnings.len(), "warning"))
            }
        ));
    }
    Ok(CheckReport {
        errors,
        warnings,
        text: out,
    })
}

/// What `pybase init` is asked for.
#[derive(Clone, Copy, Debug)]
pub struct InitRequest<'a> {
    /// The project directory, holding `pyproject.toml` (or an
    /// application's `requirements.txt`).
    pub dir: &'a Path,
    /// The frontend image of the `# syntax=` line.
    pub frontend: &'a str,
    /// Overwrite an existing spec.
    pub force: bool,
}

/// `pybase init [DIR]`: write a starting `DIR/pybase.yaml`, then check it
/// as `pybase check` does (a project without `uv.lock` fails that check,
/// saying how to make one).
pub fn init(request: &InitRequest<'_>) -> anyhow::Result<ExitCode> {
    let (path, starter) = write_starter_spec(request)?;
    eprintln!("wrote {} (service `{}`)", path.display(), starter.service);
    let report = check_report(&path, None, &BuildArgs::default())?;
    eprint!("{}", report.text);
    Ok(if report.errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Write the starting spec of `pybase init`: its path and what it holds.
/// An existing spec is kept unless `force` is set.
pub fn write_starter_spec(
    request: &InitRequest<'_>,
) -> anyhow::Result<(PathBuf, llb_gen::init::Starter)> {
    let read = |name: &str| -> anyhow::Result<Option<String>> {
        let path = request.dir.join(name);
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    };
    let pyproject_path = request.dir.join(plan::PYPROJECT_FILE);
    let mut spec_dir = request.dir.to_path_buf();
    let starter = match read(plan::PYPROJECT_FILE)? {
        Some(pyproject) => {
            let mut lock = read(plan::LOCK_FILE)?;
            let mut project_dir = ".".to_owned();
            if let Some((root, member, root_lock)) = workspace_root(request.dir)? {
                spec_dir = root;
                project_dir = member;
                lock = Some(root_lock);
            }
            let sdist_version = sdist_version(request.dir)?;
            llb_gen::init::starter_spec(
                &llb_gen::init::ProjectFiles {
                    pyproject_file: &pyproject_path.display().to_string(),
                    pyproject: &pyproject,
                    lock: lock.as_deref(),
                    main_packages: &main_packages(request.dir),
                    project_dir: &project_dir,
                    sdist_version: sdist_version.as_deref(),
                    web_modules: &package_inits(request.dir),
                },
                request.frontend,
            )?
        }
        None if request.dir.join(plan::SETUP_FILES[1]).is_file() => {
            let setup_cfg_path = request.dir.join(plan::SETUP_FILES[1]);
            let setup_cfg = std::fs::read_to_string(&setup_cfg_path)
                .with_context(|| format!("reading {}", setup_cfg_path.display()))?;
            llb_gen::init::setup_cfg_spec(
                &setup_cfg_path.display().to_string(),
                &setup_cfg,
                &main_packages(request.dir),
                request.frontend,
            )?
        }
        None => match application(request.dir)? {
            Some((dir_name, scripts)) => {
                let lock = match read(llb_gen::requirements::REQUIREMENTS_FILE)? {
                    Some(lock) => Some(lock),
                    None => read(llb_gen::requirements::PYLOCK_FILE)?,
                };
                // Every top-level module may define the web app.
                let modules = top_level_modules(request.dir);
                let mut script_texts = Vec::new();
                for module in &modules {
                    if let Some(text) = read(module)? {
                        script_texts.push((module.as_str(), text));
                    }
                }
                llb_gen::init::application_spec(
                    &llb_gen::init::Application {
                        dir_name: &dir_name,
                        scripts: &scripts,
                        lock: lock.as_deref(),
                        script_texts: &script_texts,
                    },
                    request.frontend,
                )?
            }
            None => anyhow::bail!(
                "{} not found: `pybase init` starts from an existing Python project (`uv init` makes one), or from an application's code with its dependencies pinned with hashes in requirements.txt (`{}`)",
                pyproject_path.display(),
                llb_gen::project::APPLICATION_LOCK
            ),
        },
    };
    let spec_path = spec_dir.join(llb_gen::init::SPEC_FILE);
    let mut file = std::fs::OpenOptions::new();
    file.write(true);
    if request.force {
        file.create(true).truncate(true);
    } else {
        file.create_new(true);
    }
    let mut file = match file.open(&spec_path) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => anyhow::bail!(
            "{} already exists: pass --force to overwrite it",
            spec_path.display()
        ),
        other => other.with_context(|| format!("creating {}", spec_path.display()))?,
    };
    std::io::Write::write_all(&mut file, starter.text.as_bytes())
        .with_context(|| format!("writing {}", spec_path.display()))?;
    Ok((spec_path, starter))
}

/// The names of the `.py` files at the top of `dir`, sorted.
fn top_level_modules(dir: &Path) -> Vec<String> {
    let mut found: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter(|entry| entry.path().is_file())
        .filter_map(|entry| entry.file_name().to_str().map(str::to_owned))
        .filter(|name| name.ends_with(".py"))
        .collect();
    found.sort();
    found
}

/// When the project in `dir` is a member of a uv workspace whose root is
/// above it (a `pyproject.toml` with `[tool.uv.workspace]` whose members
/// name it, and a `uv.lock`): the root (the build context, where the spec
/// goes), the member's path from it, and the root's lock.
fn workspace_root(dir: &Path) -> anyhow::Result<Option<(PathBuf, String, String)>> {
    let absolute =
        std::fs::canonicalize(dir).with_context(|| format!("resolving {}", dir.display()))?;
    for root in absolute.ancestors().skip(1) {
        let Ok(pyproject) = std::fs::read_to_string(root.join(plan::PYPROJECT_FILE)) else {
            continue;
        };
        let Ok(member) = absolute.strip_prefix(root) else {
            continue;
        };
        let member: Vec<String> = member
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        let member = member.join("/");
        if !llb_gen::init::workspace_includes(&pyproject, &member) {
            continue;
        }
        let lock_path = root.join(plan::LOCK_FILE);
        return match std::fs::read_to_string(&lock_path) {
            Ok(lock) => Ok(Some((root.to_path_buf(), member, lock))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading {}", lock_path.display())),
        };
    }
    Ok(None)
}

/// The `Version` of `dir/PKG-INFO` when `dir` is an unpacked sdist: it has
/// that file, and neither it nor a directory above it has `.git`.
fn sdist_version(dir: &Path) -> anyhow::Result<Option<String>> {
    let absolute =
        std::fs::canonicalize(dir).with_context(|| format!("resolving {}", dir.display()))?;
    if absolute.ancestors().any(|d| d.join(".git").exists()) {
        return Ok(None);
    }
    let Ok(pkg_info) = std::fs::read_to_string(absolute.join("PKG-INFO")) else {
        return Ok(None);
    };
    // PKG-INFO is email headers (core metadata): the body after the first
    // empty line is the description.
    Ok(pkg_info
        .lines()
        .take_while(|line| !line.is_empty())
        .find_map(|line| line.strip_prefix("Version:"))
        .map(|version| version.trim().to_owned())
        .filter(|version| !version.is_empty()))
}

/// The `__init__.py` of each package of the project in `dir` (at its top or
/// under `src/`), by import name, sorted: where a web app may be defined.
fn package_inits(dir: &Path) -> Vec<(String, String)> {
    let mut found: Vec<(String, String)> = [dir.to_path_buf(), dir.join("src")]
        .iter()
        .filter_map(|root| std::fs::read_dir(root).ok())
        .flatten()
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let text = std::fs::read_to_string(entry.path().join("__init__.py")).ok()?;
            Some((entry.file_name().to_str()?.to_owned(), text))
        })
        .collect();
    found.sort();
    found
}

/// The packages of the project in `dir` that have a `__main__.py`, at its
/// top or under `src/`, by import name, sorted.
fn main_packages(dir: &Path) -> Vec<String> {
    let mut found: Vec<String> = [dir.to_path_buf(), dir.join("src")]
        .iter()
        .filter_map(|root| std::fs::read_dir(root).ok())
        .flatten()
        .filter_map(Result::ok)
        .filter(|entry| entry.path().join("__main__.py").is_file())
        .filter_map(|entry| entry.file_name().to_str().map(str::to_owned))
        .collect();
    found.sort();
    found
}

/// When `dir` (which has no `pyproject.toml`) is an application, as
/// `pybase check` reads one: no `setup.py` or `setup.cfg`, and a
/// `requirements.txt` or `pylock.toml` lock. Its name, and which of the
/// scripts an application's command may run it has.
fn application(dir: &Path) -> anyhow::Result<Option<(String, Vec<&'static str>)>> {
    let has = |name: &str| dir.join(name).is_file();
    let locked = [
        llb_gen::requirements::REQUIREMENTS_FILE,
        llb_gen::requirements::PYLOCK_FILE,
    ]
    .iter()
    .any(|lock| has(lock));
    if !locked || plan::SETUP_FILES.iter().any(|file| has(file)) {
        return Ok(None);
    }
    let absolute =
        std::fs::canonicalize(dir).with_context(|| format!("resolving {}", dir.display()))?;
    let name = absolute
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let scripts = llb_gen::init::APPLICATION_SCRIPTS
        .into_iter()
        .filter(|script| has(script))
        .collect();
    Ok(Some((name, scripts)))
}

/// `pybase targets FILE`: one target a line, with its description.
pub fn targets(file: &Path, args: &BuildArgs) -> anyhow::Result<ExitCode> {
    let (spec, _) = match load_spec(file, args)? {
        Ok(loaded) => loaded,
        Err(refused) => return Ok(print_refused(&refused)),
    };
    let mut targets = plan::targets(&spec);
    targets.push((
        plan::LOCK_TARGET.to_owned(),
        plan::LOCK_DESCRIPTION.to_owned(),
    ));
    let width = targets.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
    let lines: String = targets
        .iter()
        .map(|(name, description)| format!("{name:width$}  {description}\n"))
        .collect();
    print_data(&lines)
}

/// `pybase bake FILE`: a bake file for every target. Paths in it are as
/// given (the context defaults to the spec's directory), so run bake from
/// where `pybase bake` ran. The build args the spec refers to become bake
/// variables, `args` giving their defaults.
pub fn bake(file: &Path, context: Option<&Path>, args: &BuildArgs) -> anyhow::Result<ExitCode> {
    let (spec, _) = match load_spec(file, args)? {
        Ok(loaded) => loaded,
        Err(refused) => return Ok(print_refused(&refused)),
    };
    let context = context_dir(file, context);
    let bake = llb_gen::bake::bake_file(
        &spec,
        &file.display().to_string(),
        &context.display().to_string(),
        args,
    );
    print_data(&format!("{}\n", serde_json::to_string_pretty(&bake)?))
}

/// `pybase schema`: the spec's JSON Schema.
pub fn schema() -> anyhow::Result<ExitCode> {
    print_data(&format!(
        "{}\n",
        serde_json::to_string_pretty(&llb_gen::spec::json_schema())?
    ))
}

/// What `pybase llb` is asked for.
#[derive(Clone, Copy, Debug)]
pub struct LlbRequest<'a> {
    /// The spec file.
    pub file: &'a Path,
    /// `--target`, when given.
    pub target: Option<&'a str>,
    /// `--context`, when given (default: the spec's directory).
    pub context: Option<&'a Path>,
    /// `--platform`, e.g. `linux/amd64`.
    pub platform: &'a str,
    /// `--mergeop`: assemble with MergeOp.
    pub mergeop: bool,
    /// `--build-arg` values, for `${NAME}` in the spec.
    pub build_args: &'a BuildArgs,
}

/// `pybase llb FILE`: the target's LLB (decoded) and image config as JSON.
/// The base image is not resolved: its config is taken as empty.
pub fn llb(request: &LlbRequest<'_>) -> anyhow::Result<ExitCode> {
    match llb_json(request)? {
        Ok(out) => print_data(&format!("{}\n", serde_json::to_string_pretty(&out)?)),
        Err(refused) => Ok(print_refused(&refused)),
    }
}

/// The patterns of the spec's own ignore file (`pybase.yaml.dockerignore`
/// beside it) when it has one, else of the context's `.dockerignore`, as a
/// build reads them.
fn ignore_patterns(spec_file: &Path, context: &Path) -> Vec<String> {
    let mut own = spec_file.as_os_str().to_owned();
    own.push(plan::DOCKERIGNORE_FILE);
    std::fs::read_to_string(own)
        .or_else(|_| std::fs::read_to_string(context.join(plan::DOCKERIGNORE_FILE)))
        .map(|text| plan::dockerignore_patterns(&text))
        .unwrap_or_default()
}

/// What `pybase llb` prints, or the input problems it reports instead.
pub fn llb_json(request: &LlbRequest<'_>) -> anyhow::Result<Result<serde_json::Value, Refused>> {
    let LlbRequest {
        file,
        target,
        context,
        platform,
        mergeop,
        build_args,
    } = *request;
    let (spec, text) = match load_spec(file, build_args)? {
        Ok(loaded) => loaded,
        Err(refused) => return Ok(Err(refused)),
    };
    let context = context_dir(file, context);
    let refuse = |problems: Diagnostics| Refused {
        text: render_report(&problems, &spec, &text, &context),
        errors: problems.0,
    };
    let target = match plan::select_target(&spec, target) {
        Ok(target) => target,
        Err(problem) => return Ok(Err(refuse(problem.into()))),
    };
    let (stack, infos) = match check_projects(&spec, &target, &context)? {
        Ok(checked) => checked,
        Err(problems) => return Ok(Err(refuse(problems))),
    };
    let platform = parse_platform(platform)?;
    let images =
        TargetImages::unresolved(&target, platform).context("the target has no base image")?;
    let inputs = match BuildInputs::new(
        "pybase-cli",
        &spec.file,
        text.as_bytes(),
        &target,
        &stack,
        &infos,
        images,
    ) {
        Ok(inputs) => inputs,
        Err(problem) => return Ok(Err(refuse(problem.into()))),
    };
    let build = plan::build(
        &target,
        &BuildInputs {
            prefer_mergeop: mergeop,
            ignored: ignore_patterns(file, &context),
            ..inputs
        },
    )?;
    let out = json!({
        "target": target.name(),
        "mergeop": build.uses_merge,
        "config": build.config,
        "llb": llb_gen::describe::describe(&build.definition)?,
    });
    Ok(Ok(out))
}

/// Read and parse the spec; on bad input, the problems instead.
fn load_spec(file: &Path, args: &BuildArgs) -> anyhow::Result<Result<(Spec, String), Refused>> {
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let name = file.file_name().map_or_else(
        || file.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    match llb_gen::spec::parse_with_args(&name, &bytes, args) {
        Ok(spec) => Ok(Ok((spec, String::from_utf8_lossy(&bytes).into_owned()))),
        Err(problems) => Ok(Err(Refused {
            // Lossy: a byte that is not UTF-8 becomes one character, so the
            // columns before it stay right.
            text: problems.render(Some(&String::from_utf8_lossy(&bytes))),
            errors: problems.0,
        })),
    }
}

/// Write data to stdout. A reader that stops early (`pybase llb … | head`)
/// is not an error, and never a panic as `println!` would make it.
fn print_data(text: &str) -> anyhow::Result<ExitCode> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e).context("writing to stdout"),
        _ => Ok(ExitCode::SUCCESS),
    }
}

/// Print the report of refused input; the exit code that goes with it.
fn print_refused(refused: &Refused) -> ExitCode {
    eprint!("{}", refused.text);
    ExitCode::FAILURE
}

fn context_dir(file: &Path, context: Option<&Path>) -> PathBuf {
    context.map(Path::to_path_buf).unwrap_or_else(|| {
        file.parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
    })
}

/// The project files a target stacks, root first, and what their checks
/// learned of each.
type CheckedStack<'a> = (Vec<ProjectFiles<'a>>, Vec<ProjectInfo>);

/// Read the project files of every project `target` stacks and check them.
fn check_projects<'a>(
    spec: &Spec,
    target: &plan::Target<'a>,
    context: &Path,
) -> anyhow::Result<Result<CheckedStack<'a>, Diagnostics>> {
    let read = |path: &str| -> anyhow::Result<Option<Vec<u8>>> {
        match std::fs::read(context.join(path)) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading {}", context.join(path).display())),
        }
    };
    let mut stack = Vec::new();
    for project in target.projects() {
        let [pyproject, lock, poetry, pylock, requirements] = plan::lock_inputs(&project);
        let pyproject = read(&pyproject)?;
        // setup.py or setup.cfg without pyproject.toml: a package, not an
        // application (looked for only then, as the frontend does).
        let setup_files = pyproject.is_none()
            && plan::SETUP_FILES
                .iter()
                .any(|file| context.join(project.path(file)).is_file());
        let ranges =
            pyproject.is_none() && context.join(project.path(plan::REQUIREMENTS_IN)).is_file();
        let mut files = ProjectFiles {
            pyproject,
            lock: read(&lock)?,
            poetry: read(&poetry)?,
            pylock: read(&pylock)?,
            requirements: read(&requirements)?,
            setup_files,
            ranges,
            ..ProjectFiles::new(project)
        };
        if files.wants_other_locks() {
            let [pdm, pipfile_lock, pipfile] = plan::other_lock_inputs(&files.project);
            files.pdm = read(&pdm)?;
            files.pipfile_lock = read(&pipfile_lock)?;
            files.pipfile = read(&pipfile)?;
        }
        // The files a requirements lock includes (`-r`, `-c`), in rounds.
        files.read_includes(read)?;
        // Without a lock, the uv workspace above it, if any (each
        // ancestor's pyproject.toml and uv.lock).
        files.read_workspace(read)?;
        // A poetry.lock's path dependencies: each directory's
        // pyproject.toml and setup.py.
        files.read_path_dependencies(read)?;
        stack.push(files);
    }
    Ok(llb_gen::project::check_stack(&spec.file, &stack).map(|infos| (stack, infos)))
}

/// The problems of the checks that need the target, on each platform of
/// the `assumed` one (none when it names no platform).
fn on_assumed_target(infos: &[ProjectInfo], assumed: &AssumedTarget) -> Vec<Diagnostic> {
    let facts = llb_gen::environment::ImageFacts {
        python: None,
        libc: assumed.libc,
    };
    let python = assumed
        .python
        .as_deref()
        .map(|python| llb_gen::project::PythonOf::Assumed { python });
    let mut problems = Vec::new();
    for platform in &assumed.platforms {
        let environment = llb_gen::environment::TargetEnvironment::new(
            platform,
            assumed.python.as_deref(),
            &facts,
        );
        if let Err(found) = llb_gen::project::check_target(infos, python, platform, &environment) {
            problems.extend(found.0);
        }
    }
    problems
}

/// Diagnostics rendered each against the text of the file it points into.
fn render_report(problems: &Diagnostics, spec: &Spec, spec_text: &str, context: &Path) -> String {
    let rendered: Vec<String> = problems
        .0
        .iter()
        .map(|problem| {
            let text = if problem.file == spec.file {
                Some(spec_text.to_owned())
            } else {
                std::fs::read(context.join(&problem.file))
                    .ok()
                    .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            };
            problem.render(text.as_deref())
        })
        .collect();
    rendered.join("\n")
}
