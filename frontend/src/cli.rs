//! The CLI: the frontend's checks and LLB, from files on disk.
//!
//! Errors about input are printed as diagnostics with the offending line;
//! data (JSON, target lists) goes to stdout, everything else to stderr.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use llb_gen::diagnostic::{Diagnostic, Diagnostics};
use llb_gen::plan::{self, BaseImage, BuildInputs, Provenance};
use llb_gen::project::{ProjectFiles, ProjectInfo};
use llb_gen::spec::Spec;
use serde_json::json;

use crate::options::parse_platform;

/// `pybase check FILE`: the spec, and the project files of every tier and
/// service with the packages they stack.
pub fn check(file: &Path, context: Option<&Path>) -> anyhow::Result<ExitCode> {
    let (spec, text) = match load_spec(file)? {
        Ok(loaded) => loaded,
        Err(code) => return Ok(code),
    };
    let context = context_dir(file, context);
    let mut problems: Vec<Diagnostic> = Vec::new();
    for (name, _) in plan::targets(&spec) {
        let Ok(target) = plan::select_target(&spec, Some(&name)) else {
            continue;
        };
        if let Err(found) = check_projects(&spec, &target, &context)? {
            for problem in found.0 {
                if !problems.contains(&problem) {
                    problems.push(problem);
                }
            }
        }
    }
    if !problems.is_empty() {
        report(&Diagnostics(problems), &spec, &text, &context);
        return Ok(ExitCode::FAILURE);
    }
    let count = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
    eprintln!(
        "{}: ok ({}{})",
        file.display(),
        if spec.tiers.is_empty() {
            String::new()
        } else {
            format!("{}, ", count(spec.tiers.len(), "tier"))
        },
        count(spec.services.len(), "service"),
    );
    Ok(ExitCode::SUCCESS)
}

/// `pybase targets FILE`: one target a line, with its description.
pub fn targets(file: &Path) -> anyhow::Result<ExitCode> {
    let (spec, _) = match load_spec(file)? {
        Ok(loaded) => loaded,
        Err(code) => return Ok(code),
    };
    let targets = plan::targets(&spec);
    let width = targets.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
    for (name, description) in targets {
        println!("{name:width$}  {description}");
    }
    Ok(ExitCode::SUCCESS)
}

/// `pybase bake FILE`: a bake file for every target. Paths in it are as
/// given (the context defaults to the spec's directory), so run bake from
/// where `pybase bake` ran.
pub fn bake(file: &Path, context: Option<&Path>) -> anyhow::Result<ExitCode> {
    let (spec, _) = match load_spec(file)? {
        Ok(loaded) => loaded,
        Err(code) => return Ok(code),
    };
    let context = context_dir(file, context);
    let bake = llb_gen::bake::bake_file(
        &spec,
        &file.display().to_string(),
        &context.display().to_string(),
    );
    println!("{}", serde_json::to_string_pretty(&bake)?);
    Ok(ExitCode::SUCCESS)
}

/// `pybase schema`: the spec's JSON Schema.
pub fn schema() -> anyhow::Result<ExitCode> {
    println!(
        "{}",
        serde_json::to_string_pretty(&llb_gen::spec::json_schema())?
    );
    Ok(ExitCode::SUCCESS)
}

/// `pybase llb FILE`: the target's LLB (decoded) and image config as JSON.
/// The base image is not resolved: its config is taken as empty.
pub fn llb(
    file: &Path,
    target: Option<&str>,
    context: Option<&Path>,
    platform: &str,
    mergeop: bool,
) -> anyhow::Result<ExitCode> {
    let (spec, text) = match load_spec(file)? {
        Ok(loaded) => loaded,
        Err(code) => return Ok(code),
    };
    let context = context_dir(file, context);
    let target = match plan::select_target(&spec, target) {
        Ok(target) => target,
        Err(problem) => {
            report(&problem.into(), &spec, &text, &context);
            return Ok(ExitCode::FAILURE);
        }
    };
    let (stack, infos) = match check_projects(&spec, &target, &context)? {
        Ok(checked) => checked,
        Err(problems) => {
            report(&problems, &spec, &text, &context);
            return Ok(ExitCode::FAILURE);
        }
    };
    let platform = parse_platform(platform)?;
    let spec_file = spec.file.clone();
    let base_reference = target
        .base_image()
        .map(|(image, _)| image.normalized.clone())
        .context("the target has no base image")?;
    let build = plan::build(
        &target,
        &BuildInputs {
            session_id: "pybase-cli",
            base: BaseImage {
                reference: base_reference,
                digest: None,
                config: json!({"os": platform.os, "architecture": platform.architecture, "config": {}}),
            },
            platform,
            caps: None,
            prefer_mergeop: mergeop,
            spec_file: &spec_file,
            spec_text: Some(text.as_bytes()),
            labels: Vec::new(),
            ignored: std::fs::read_to_string(context.join(plan::DOCKERIGNORE_FILE))
                .map(|text| plan::dockerignore_patterns(&text))
                .unwrap_or_default(),
            projects: plan::project_facts(&stack, &infos),
            provenance: Provenance {
                version: plan::target_version(&target, &infos),
                ..Provenance::default()
            },
        },
    )?;
    let out = json!({
        "target": target.name(),
        "mergeop": build.uses_merge,
        "config": build.config,
        "llb": llb_gen::describe::describe(&build.definition)?,
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(ExitCode::SUCCESS)
}

/// Read and parse the spec; on bad input, print the diagnostics and give the
/// exit code instead.
fn load_spec(file: &Path) -> anyhow::Result<Result<(Spec, String), ExitCode>> {
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let name = file.file_name().map_or_else(
        || file.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    match llb_gen::spec::parse(&name, &bytes) {
        Ok(spec) => Ok(Ok((spec, String::from_utf8_lossy(&bytes).into_owned()))),
        Err(problems) => {
            eprint!("{}", problems.render(std::str::from_utf8(&bytes).ok()));
            Ok(Err(ExitCode::FAILURE))
        }
    }
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
        let [pyproject, lock] = plan::lock_inputs(&project);
        stack.push(ProjectFiles {
            project,
            pyproject: read(&pyproject)?,
            lock: read(&lock)?,
        });
    }
    Ok(llb_gen::project::check_stack(&spec.file, &stack).map(|infos| (stack, infos)))
}

/// Print diagnostics, each against the text of the file it points into.
fn report(problems: &Diagnostics, spec: &Spec, spec_text: &str, context: &Path) {
    for problem in &problems.0 {
        let text = if problem.file == spec.file {
            Some(spec_text.to_owned())
        } else {
            std::fs::read_to_string(context.join(&problem.file)).ok()
        };
        eprint!("{}", problem.render(text.as_deref()));
    }
}
