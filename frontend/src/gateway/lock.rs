//! `--target lock`: the locks of the spec's projects (or those
//! `LOCK_TARGETS` names), made in BuildKit steps and returned as a
//! filesystem without an image config, for `--output type=local,dest=.`.
//!
//! The tiers come first, root first (a tier a chosen project stands on is
//! locked even when not chosen: its fresh lock is the constraint of those
//! above it, see `llb_gen::plan::build_lock`), then the services; a
//! project directory is locked once. For each, the files that say which
//! locker runs are read through a source of their own, and for a
//! `requirements.in` the files it includes (`-r`, `-c`), in rounds; then
//! its target's images are resolved for the platform, and the steps are
//! planned and solved as one definition.

use anyhow::anyhow;
use bollard_buildkit_proto::moby::buildkit::v1::frontend as gw;
use llb_gen::diagnostic::{Diagnostic, Diagnostics};
use llb_gen::llb::marshal::ServerCaps;
use llb_gen::llb::{self, Platform};
use llb_gen::lock::includes::{IncludedFiles, wanted_includes};
use llb_gen::plan::{self, BaseImage, BuildInputs, LockJob, Locker, LockerFiles};
use llb_gen::spec::{ProjectDir, Spec};

use super::images::{Images, Resolved};
use super::inputs::SpecFile;
use crate::bridge::{Bridge, Failure, read_file, solve, solve_definition};
use crate::options::Options;

/// What the lock build reads everywhere.
pub(super) struct LockBuild<'a> {
    pub options: &'a Options,
    pub spec: &'a Spec,
    pub spec_file: &'a SpecFile<'a>,
    pub caps: &'a ServerCaps,
    /// The worker's platform, when no `--platform` is given.
    pub worker: Platform,
}

/// A project to lock, found but not yet planned.
struct Found<'a> {
    target: plan::Target<'a>,
    project: ProjectDir<'a>,
    locker: Locker,
    files: Vec<String>,
    written: bool,
}

impl<'a> LockBuild<'a> {
    /// The lock target's result: a ref of the locks at their context
    /// paths, no image config.
    pub async fn run(&self, bridge: &mut Bridge) -> Result<gw::Result, Failure> {
        let options = self.options;
        let session = options.session_id.as_str();
        let chosen = plan::lock_selection(self.spec, options.build_arg(plan::LOCK_TARGETS_ARG))
            .map_err(|d| self.spec_file.failure(d))?;
        let upgrade = plan::Upgrade::parse(options.build_arg(plan::LOCK_UPGRADE_ARG).unwrap_or(""))
            .map_err(|e| anyhow!(e))?;
        let ignored = super::inputs::read_dockerignore(
            bridge,
            self.spec_file.ignore.as_deref(),
            session,
            self.caps,
        )
        .await?;
        let found = self.find(bridge, &chosen, &ignored).await?;

        let mut platforms = options.platforms()?;
        let asked = !platforms.is_empty();
        let universal = platforms.len() > 1;
        let platform = if platforms.is_empty() {
            self.worker.clone()
        } else {
            platforms.remove(0)
        };
        let mut jobs = Vec::with_capacity(found.len());
        for one in found {
            let images = Images::of(&one.target, options, self.caps, self.spec_file, asked)?;
            let step = format!("{} {}", plan::LOCK_TARGET, one.target.name());
            let Resolved { base, builder, .. } = images.resolve(bridge, &platform, &step).await?;
            jobs.push(LockJob {
                inputs: self.inputs(session, &platform, base, builder, &ignored)?,
                target: one.target,
                project: one.project,
                locker: one.locker,
                files: one.files,
                written: one.written,
            });
        }
        let mut definition = plan::build_lock(
            &jobs,
            &plan::LockOptions {
                upgrade,
                universal,
                spec_file: self.spec_file.name,
                caps: Some(self.caps),
                spec_text: Some(&self.spec_file.bytes),
                exec_settings: llb::marshal::ExecSettings {
                    proxy: options.proxy_env(),
                    cache_namespace: options.cache_namespace(),
                    extra_hosts: options.add_hosts()?,
                    network: options.network()?,
                },
            },
        )
        .map_err(anyhow::Error::from)?;
        if options.no_cache() {
            llb::marshal::ignore_cache(&mut definition);
        }
        let id = solve_definition(bridge, definition, Vec::new()).await?;
        // No `containerimage.config`: the result is files, not an image.
        Ok(gw::Result {
            result: Some(gw::result::Result::Ref(gw::Ref { id, def: None })),
            ..Default::default()
        })
    }

    /// The inputs of a lock step's target on `platform`.
    fn inputs(
        &self,
        session: &'a str,
        platform: &Platform,
        base: BaseImage,
        builder: Option<BaseImage>,
        ignored: &[String],
    ) -> Result<BuildInputs<'a>, Failure> {
        Ok(BuildInputs {
            session_id: session,
            platform: platform.clone(),
            base,
            builder,
            caps: Some(self.caps),
            prefer_mergeop: self.options.prefer_mergeop()?,
            spec_file: self.spec_file.name,
            spec_text: None,
            labels: Vec::new(),
            ignored: ignored.to_vec(),
            provenance: Default::default(),
            projects: Default::default(),
            exec_settings: Default::default(),
            refresh_system: false,
        })
    }

    /// The projects to lock, tiers first (root first), each directory
    /// once, with its locker and the files its step reads; every project
    /// that cannot be locked is reported.
    async fn find(
        &self,
        bridge: &mut Bridge,
        chosen: &[String],
        ignored: &[String],
    ) -> Result<Vec<Found<'a>>, Failure> {
        let spec = self.spec;
        let mut found: Vec<Found<'a>> = Vec::new();
        let mut problems: Vec<Diagnostic> = Vec::new();
        for name in lock_order(spec, chosen) {
            let target =
                plan::select_target(spec, Some(&name)).map_err(|d| self.spec_file.failure(d))?;
            let project = match (target.service, target.tiers.last()) {
                (Some(service), _) => service.project_dir(),
                (None, Some(tier)) => match tier.project_dir() {
                    Some(project) => project,
                    None => continue,
                },
                (None, None) => continue,
            };
            let written = chosen.contains(&name);
            if let Some(same) = found.iter_mut().find(|f| f.project.dir == project.dir) {
                same.written |= written;
                continue;
            }
            let files = self.locker_files(bridge, &project, ignored).await?;
            let locker = match Locker::of(&spec.file, &project, &files) {
                Ok(locker) => locker,
                Err(problem) => {
                    problems.push(problem);
                    continue;
                }
            };
            let mut step_files = locker.step_files(&project);
            if let (Locker::Compile, Some(text)) = (locker, &files.requirements_in) {
                let included = self.includes(bridge, &project, text, ignored).await?;
                step_files.extend(included);
            }
            found.push(Found {
                target,
                project,
                locker,
                files: step_files,
                written,
            });
        }
        if !problems.is_empty() {
            return Err(self.spec_file.failure(Diagnostics(problems)));
        }
        Ok(found)
    }

    /// The files that say which locker `project` gets.
    async fn locker_files(
        &self,
        bridge: &mut Bridge,
        project: &ProjectDir<'_>,
        ignored: &[String],
    ) -> Result<LockerFiles, Failure> {
        let session = self.options.session_id.as_str();
        let source = plan::locker_source(project, session, ignored);
        let reference = solve(bridge, &source, self.caps).await?;
        let [requirements_in, pyproject, poetry, pdm, pipfile] = plan::locker_inputs(project);
        let mut files = LockerFiles {
            requirements_in: read_file(bridge, &reference, &requirements_in).await?,
            pyproject: read_file(bridge, &reference, &pyproject).await?,
            other_tools: Vec::new(),
        };
        let others = [
            (poetry, llb_gen::poetry::POETRY_LOCK_FILE),
            (pdm, llb_gen::lock::pdm::PDM_LOCK_FILE),
            (pipfile, llb_gen::lock::pipfile::PIPFILE),
        ];
        for (path, name) in others {
            if read_file(bridge, &reference, &path).await?.is_some() {
                files.other_tools.push(name);
            }
        }
        Ok(files)
    }

    /// The context paths of the files `requirements.in` (its text `text`)
    /// includes, through each other, that the context has; read in
    /// rounds, each through a source of exactly that round's files.
    async fn includes(
        &self,
        bridge: &mut Bridge,
        project: &ProjectDir<'_>,
        text: &[u8],
        ignored: &[String],
    ) -> Result<Vec<String>, Failure> {
        let session = self.options.session_id.as_str();
        let file = project.path(plan::REQUIREMENTS_IN);
        let text = String::from_utf8_lossy(text);
        let mut included = IncludedFiles::new();
        loop {
            let wanted = wanted_includes(&file, &text, &included);
            if wanted.is_empty() {
                break;
            }
            let source = plan::found_files_source(
                project,
                plan::FoundFiles::Includes,
                &wanted,
                (session, ignored),
            );
            let reference = solve(bridge, &source, self.caps).await?;
            for path in wanted {
                let bytes = read_file(bridge, &reference, &path).await?;
                included.insert(path, bytes);
            }
        }
        Ok(included
            .into_iter()
            .filter_map(|(path, bytes)| bytes.map(|_| path))
            .collect())
    }
}

/// The tiers and services to lock, in the order their locks are made:
/// every tier with a project that a chosen one stands on (or is), root
/// first, then the chosen services in the spec's order.
fn lock_order(spec: &Spec, chosen: &[String]) -> Vec<String> {
    let chain_of = |name: &str| -> Vec<String> {
        let tier = spec
            .services
            .get(name)
            .map(|service| service.tier.clone())
            .unwrap_or_else(|| Some(name.to_owned()));
        tier.map(|tier| {
            spec.tier_chain(&tier)
                .into_iter()
                .filter(|t| t.project.is_some())
                .map(|t| t.level.name.clone())
                .collect()
        })
        .unwrap_or_default()
    };
    let mut tiers: Vec<(usize, String)> = Vec::new();
    for name in chosen {
        for (depth, tier) in chain_of(name).into_iter().enumerate() {
            if !tiers.iter().any(|(_, t)| *t == tier) {
                tiers.push((depth, tier));
            }
        }
    }
    tiers.sort();
    let services = chosen
        .iter()
        .filter(|name| spec.services.contains_key(*name));
    tiers
        .into_iter()
        .map(|(_, tier)| tier)
        .chain(services.cloned())
        .collect()
}
