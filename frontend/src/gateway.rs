//! The BuildKit gateway frontend: one build, over the LLBBridge gRPC API.
//!
//! A build ([`run`]) is: `Ping` (the server's caps and platform), read the
//! spec and parse it; a subrequest (`--call targets`, `outline`, `check`) is
//! answered right there, building nothing. Otherwise read the context's
//! `.dockerignore` and the lock inputs of every project the target stacks
//! (`inputs`), check them, then for each platform asked for
//! (`--platform`, else the worker's) resolve the target's images for that
//! platform (`images`) and plan the LLB with `llb-gen`; `Solve` the plans
//! side by side and `Return`, exactly once, one ref with its image config,
//! or for several platforms a ref and a config per platform (each step
//! named after its platform) with their `refs.platforms` list; with
//! `--sbom=true`, each platform's image gets pybase's own SPDX attestation
//! (`sbom`). Bad input is
//! returned as an error with a BuildKit source excerpt, so buildx prints
//! the offending spec or lock line.
//!
//! The connection and the bridge calls are [`crate::bridge`]'s; this module
//! re-exports what the binary and the tests need to connect.
//!
//! stderr goes to the daemon's log only, so nothing is printed for the user
//! here: what the user must see travels in the `Return` error.

use std::collections::HashMap;

use anyhow::{Context, anyhow};
use bollard_buildkit_proto::moby::buildkit::v1::frontend as gw;
use bollard_buildkit_proto::pb;
use llb_gen::diagnostic::Diagnostics;
use llb_gen::llb::marshal::ServerCaps;
use llb_gen::llb::{self, Platform};
use llb_gen::plan::{self, BaseImage, BuildInputs, Provenance, TargetImages};
use llb_gen::project::{ProjectFiles, ProjectInfo, PythonOf};
use llb_gen::spec::Spec;
use serde_json::json;

pub use crate::bridge::{Bridge, channel_over, connect_stdio};
use crate::bridge::{Failure, solve_definition};
use crate::options::Options;
use crate::subrequests;

mod images;
mod inputs;
mod lock;
mod sbom;

use images::{Images, Resolved};
use inputs::SpecFile;

/// Run one build and return its outcome to BuildKit.
pub async fn run(bridge: &mut Bridge, options: &Options) -> anyhow::Result<()> {
    // Keys only: build-arg values may be credentials. This reaches the
    // daemon's log, never the user.
    eprintln!(
        "pybase: options: {}",
        options.raw.keys().cloned().collect::<Vec<_>>().join(", ")
    );
    let request = match build(bridge, options).await {
        Ok(result) => gw::ReturnRequest {
            result: Some(result),
            error: None,
        },
        Err(failure) => {
            let status = failure.to_status();
            eprintln!("pybase: build failed: {}", status.message);
            gw::ReturnRequest {
                result: None,
                error: Some(status),
            }
        }
    };
    bridge
        .r#return(request)
        .await
        .context("returning the result to BuildKit")?;
    Ok(())
}

/// The build: its result, or why there is none.
async fn build(bridge: &mut Bridge, options: &Options) -> Result<gw::Result, Failure> {
    let (pong, caps) = ping(bridge).await?;
    let session = options.session_id.as_str();

    // The spec.
    let spec_file = inputs::read_spec(bridge, options, &caps).await?;
    let filename = spec_file.name;
    let spec = llb_gen::spec::parse_with_args(filename, &spec_file.bytes, &options.build_args())
        .map_err(|d| spec_file.failure(d))?;
    if let Some(request) = options.request_id() {
        return answer(bridge, options, request, &spec, &spec_file, &caps).await;
    }
    if options.target() == Some(plan::LOCK_TARGET) {
        let lock = lock::LockBuild {
            options,
            spec: &spec,
            spec_file: &spec_file,
            caps: &caps,
            worker: worker_platform(&pong),
        };
        return lock.run(bridge).await;
    }
    let target = plan::select_target(&spec, options.target()).map_err(|d| spec_file.failure(d))?;
    // `--no-cache-filter`: a name pybase does not know is an error that
    // lists the known ones, before anything is read or built.
    let no_cache_filter = match options.no_cache_filter() {
        Some(names) => plan::NoCacheFilter::parse(names, &spec).map_err(anyhow::Error::from)?,
        None => plan::NoCacheFilter::default(),
    };

    // One plan per platform: the base image is resolved for each (an index
    // gives each platform its own config), and so is the uv wheel.
    let mut platforms = options.platforms()?;
    // Platforms asked for are checked against the images' configs; the
    // worker's own is what BuildKit resolves anyway.
    let asked = !platforms.is_empty();
    if platforms.is_empty() {
        platforms.push(worker_platform(&pong));
    }
    let images = Images::of(&target, options, &caps, &spec_file, asked)?;
    let several = platforms.len() > 1;
    // The images are resolved and probed while the context is read: they
    // do not depend on it (a problem in the projects is still reported
    // first).
    let mut image_bridge = bridge.clone();
    let resolving = async {
        let mut resolved = Vec::with_capacity(platforms.len());
        for platform in &platforms {
            let step = step_name(several, platform, &target);
            resolved.push(images.resolve(&mut image_bridge, platform, &step).await?);
        }
        Ok::<_, Failure>(resolved)
    };
    let reading = async {
        // `.dockerignore` first: it applies to every other read of the
        // context.
        let ignored =
            inputs::read_dockerignore(bridge, spec_file.ignore.as_deref(), session, &caps).await?;
        // The lock inputs of every project the image stacks, and only those.
        let mut stack = Vec::new();
        for project in target.projects() {
            stack.push(inputs::read_project(bridge, project, session, &ignored, &caps).await?);
        }
        Ok::<_, Failure>((ignored, stack))
    };
    let (read, resolved) = tokio::join!(reading, resolving);
    let (ignored, stack) = read?;
    // A problem in a project's files is shown in the file it is in.
    let project_failure =
        |diagnostics: Diagnostics| inputs::in_files(&spec_file, &stack, diagnostics);
    let infos = llb_gen::project::check_stack(filename, &stack).map_err(project_failure)?;
    // The plan's inputs, but for the platform and its images: each plan
    // sets its own (the placeholders here are never planned with).
    let inputs = BuildInputs::new(
        session,
        filename,
        &spec_file.bytes,
        &target,
        &stack,
        &infos,
        TargetImages {
            platform: worker_platform(&pong),
            base: BaseImage {
                reference: String::new(),
                digest: None,
                config: serde_json::Value::Null,
                facts: Default::default(),
                store: Default::default(),
            },
            builder: None,
        },
    )
    .map_err(|d| project_failure(d.into()))?;
    let resolved = resolved?;

    let inputs = BuildInputs {
        caps: Some(&caps),
        prefer_mergeop: options.prefer_mergeop()?,
        labels: options.labels(),
        ignored,
        exec_settings: llb::marshal::ExecSettings {
            proxy: options.proxy_env(),
            cache_namespace: options.cache_namespace(),
            extra_hosts: options.add_hosts()?,
            network: options.network()?,
        },
        refresh_system: no_cache_filter.refresh_system,
        provenance: Provenance {
            revision: options.revision(),
            source: options.source(),
            source_date_epoch: options.source_date_epoch()?,
            build_date: options.build_date()?,
            ..inputs.provenance
        },
        ..inputs
    };
    let plans = Plans {
        options,
        target: &target,
        images,
        spec: &spec_file,
        stack: &stack,
        infos: &infos,
        inputs,
        no_cache_filter,
        several,
    };
    let mut planned = Vec::with_capacity(platforms.len());
    for (platform, resolved) in platforms.iter().zip(resolved) {
        planned.push(plans.plan(platform, resolved)?);
    }

    let ids = solve_all(bridge, &planned, cache_imports(options)?).await?;
    let attestations = if options.own_sbom() {
        let levels = llb_gen::sbom::levels(&target, &stack, &infos);
        let name = target.name();
        let attester = sbom::Attester {
            caps: &caps,
            name: &name,
            levels: &levels,
            created: sbom::created(options)?,
        };
        let mut attestations = Vec::with_capacity(planned.len());
        for (planned, id) in planned.iter().zip(&ids) {
            let built = sbom::Built {
                platform: &planned.platform,
                reference: id,
                environment: &planned.environment,
            };
            attestations.push(attester.attestation(bridge, &built).await?);
        }
        Some(attestations)
    } else {
        None
    };
    result(planned, ids, plans.several, attestations)
}

/// `Ping`: the server's LLB caps, and its workers (for their platform).
async fn ping(bridge: &mut Bridge) -> Result<(gw::PongResponse, ServerCaps), Failure> {
    let pong = bridge
        .ping(gw::PingRequest {})
        .await
        .map_err(|s| anyhow!("BuildKit did not answer Ping: {}", s.message()))?
        .into_inner();
    let caps: ServerCaps = pong
        .llb_caps
        .iter()
        .map(|cap| {
            let state = if cap.enabled {
                Ok(())
            } else {
                Err(cap.disabled_reason_msg.clone())
            };
            (cap.id.clone(), state)
        })
        .collect();
    Ok((pong, caps))
}

/// The answer to the subrequest `request` (`--call`): metadata, no ref.
async fn answer(
    bridge: &mut Bridge,
    options: &Options,
    request: &str,
    spec: &Spec,
    spec_file: &SpecFile<'_>,
    caps: &ServerCaps,
) -> Result<gw::Result, Failure> {
    let project_warnings = if request == subrequests::LINT {
        inputs::lint_projects(
            bridge,
            (spec, spec_file.ignore.as_deref()),
            &options.session_id,
            caps,
        )
        .await?
    } else {
        Vec::new()
    };
    match subrequests::answer(request, spec, &spec_file.bytes, options, &project_warnings) {
        Some(Ok(metadata)) => Ok(gw::Result {
            metadata,
            ..Default::default()
        }),
        Some(Err(problem)) => Err(spec_file.failure(problem)),
        None => Err(Failure::UnsupportedSubrequest {
            name: request.to_owned(),
            answered: subrequests::answered_names(),
        }),
    }
}

/// One platform's plan.
struct Planned {
    /// The platform.
    platform: Platform,
    /// Its definition.
    definition: pb::Definition,
    /// Its image config, encoded.
    config: Vec<u8>,
    /// The environment its venv is installed for (the SBOM's selection).
    environment: llb_gen::environment::TargetEnvironment,
}

/// What the plans of one build's platforms share.
struct Plans<'a> {
    options: &'a Options,
    target: &'a plan::Target<'a>,
    images: Images<'a>,
    spec: &'a SpecFile<'a>,
    /// The stacked projects' files and what their checks found.
    stack: &'a [ProjectFiles<'a>],
    infos: &'a [ProjectInfo],
    /// The plan's inputs, but for the platform and its images.
    inputs: BuildInputs<'a>,
    /// The steps `--no-cache-filter` names by stage or level.
    no_cache_filter: plan::NoCacheFilter,
    /// Several platforms are built: each step name and config says which.
    several: bool,
}

impl Plans<'_> {
    /// The plan for `platform`, whose images are `resolved`: the projects
    /// checked against them, then `plan::build`.
    fn plan(&self, platform: &Platform, resolved: Resolved) -> Result<Planned, Failure> {
        let project_failure =
            |diagnostics: Diagnostics| inputs::in_files(self.spec, self.stack, diagnostics);
        let Resolved {
            base,
            builder,
            python,
        } = resolved;
        // The projects' requires-python holds the image's Python, and every
        // package the venv needs has an artifact for this platform, the
        // image's Python and its C library (as far as they are known).
        let environment = plan::target_environment(platform, &base, builder.as_ref());
        let python = python.as_deref().map(|python| PythonOf::Image {
            image: self.images.base_name(),
            python,
        });
        llb_gen::project::check_target(self.infos, python, platform, &environment)
            .map_err(project_failure)?;
        let mut build = plan::build(
            self.target,
            &BuildInputs {
                platform: platform.clone(),
                base,
                builder,
                ..self.inputs.clone()
            },
        )
        .map_err(anyhow::Error::from)?;
        if self.options.no_cache() {
            llb::marshal::ignore_cache(&mut build.definition);
        }
        self.no_cache_filter.apply(&mut build.definition);
        let config = if self.several {
            name_steps_for(&mut build.definition, platform);
            platform_config(build.config, platform)
        } else {
            build.config
        };
        let config = serde_json::to_vec(&config).context("encoding the image config")?;
        Ok(Planned {
            platform: platform.clone(),
            definition: build.definition,
            config,
            environment,
        })
    }
}

/// The name the progress lines of `target`'s image steps carry: with
/// several platforms, which one too.
fn step_name(several: bool, platform: &Platform, target: &plan::Target<'_>) -> String {
    if several {
        format!("{} {}", platform.to_spec_string(), target.name())
    } else {
        target.name()
    }
}

/// Solve the platforms' definitions side by side (their graphs are
/// independent); their refs, in the same order.
async fn solve_all(
    bridge: &Bridge,
    planned: &[Planned],
    imports: Vec<gw::CacheOptionsEntry>,
) -> Result<Vec<String>, Failure> {
    let solves: Vec<_> = planned
        .iter()
        .map(|planned| {
            let mut bridge = bridge.clone();
            let definition = planned.definition.clone();
            let imports = imports.clone();
            tokio::spawn(async move { solve_definition(&mut bridge, definition, imports).await })
        })
        .collect();
    let mut ids = Vec::with_capacity(solves.len());
    for solve in solves {
        ids.push(
            solve
                .await
                .map_err(|e| anyhow!("internal error: a solve task failed: {e}"))??,
        );
    }
    Ok(ids)
}

/// The result to return: one ref with `containerimage.config`, or with
/// several platforms a ref and a config per platform; with `attestations`
/// (one per platform, in the same order), each keyed by its platform's id,
/// and the platforms listed in `refs.platforms` even for one, so that
/// BuildKit's exporters find them under that id.
fn result(
    mut planned: Vec<Planned>,
    mut ids: Vec<String>,
    several: bool,
    attestations: Option<Vec<gw::Attestation>>,
) -> Result<gw::Result, Failure> {
    let keys: Vec<String> = planned
        .iter()
        .map(|p| p.platform.to_spec_string())
        .collect();
    let listed = platforms_list(planned.iter().map(|p| &p.platform))?;
    let mut result = if several {
        multi_platform_result(
            planned
                .into_iter()
                .zip(ids)
                .map(|(p, id)| (p.platform, p.config, id)),
        )?
    } else {
        let (Some(id), Some(Planned { config, .. })) = (ids.pop(), planned.pop()) else {
            return Err(anyhow!("internal error: no platform was planned").into());
        };
        gw::Result {
            metadata: HashMap::from([("containerimage.config".to_owned(), config)]),
            result: Some(gw::result::Result::Ref(gw::Ref { id, def: None })),
            ..Default::default()
        }
    };
    if let Some(attestations) = attestations {
        result.metadata.insert("refs.platforms".to_owned(), listed);
        result.attestations = keys
            .into_iter()
            .zip(attestations)
            .map(|(key, attestation)| {
                let attestation = vec![attestation];
                (key, gw::Attestations { attestation })
            })
            .collect();
    }
    Ok(result)
}

/// `refs.platforms`: the platforms of a result, each with its id
/// (`linux/arm64`), as BuildKit's exporters read them.
fn platforms_list<'p>(platforms: impl Iterator<Item = &'p Platform>) -> Result<Vec<u8>, Failure> {
    let listed: Vec<serde_json::Value> = platforms
        .map(|platform| {
            let mut spec = json!({"os": platform.os, "architecture": platform.architecture});
            if !platform.variant.is_empty() {
                spec["variant"] = json!(platform.variant);
            }
            json!({"ID": platform.to_spec_string(), "Platform": spec})
        })
        .collect();
    Ok(serde_json::to_vec(&json!({ "Platforms": listed }))
        .context("encoding the platforms of the result")?)
}

/// The result of a multi-platform build (BuildKit's exporters' shape): a
/// ref per platform keyed by its id (`linux/arm64`), the platforms in
/// `refs.platforms`, and each image config as `containerimage.config/<id>`.
fn multi_platform_result(
    built: impl IntoIterator<Item = (Platform, Vec<u8>, String)>,
) -> Result<gw::Result, Failure> {
    let mut refs = HashMap::new();
    let mut metadata = HashMap::new();
    let mut platforms = Vec::new();
    for (platform, config, id) in built {
        let key = platform.to_spec_string();
        metadata.insert(format!("containerimage.config/{key}"), config);
        refs.insert(key, gw::Ref { id, def: None });
        platforms.push(platform);
    }
    metadata.insert(
        "refs.platforms".to_owned(),
        platforms_list(platforms.iter())?,
    );
    Ok(gw::Result {
        metadata,
        result: Some(gw::result::Result::Refs(gw::RefMap { refs })),
        ..Default::default()
    })
}

/// Puts the platform in the progress name of every step of its graph
/// (`[selected] venv: …` → `[linux/arm64 selected] venv: …`, as the
/// Dockerfile frontend names a multi-platform build's steps), so the
/// platforms' steps can be told apart. Names are metadata, not part of an
/// op's digest: the cache is the same.
fn name_steps_for(definition: &mut pb::Definition, platform: &Platform) {
    let id = platform.to_spec_string();
    for metadata in definition.metadata.values_mut() {
        if let Some(name) = metadata.description.get_mut("llb.customname") {
            *name = match name.strip_prefix('[') {
                Some(rest) => format!("[{id} {rest}"),
                None => format!("[{id}] {name}"),
            };
        }
    }
}

/// The image config of one platform of a multi-platform image: its `os`,
/// `architecture` and `variant` are the platform's (the index lists them,
/// and an image must agree with its index entry).
fn platform_config(mut config: serde_json::Value, platform: &Platform) -> serde_json::Value {
    if let Some(map) = config.as_object_mut() {
        map.insert("os".into(), json!(platform.os));
        map.insert("architecture".into(), json!(platform.architecture));
        if platform.variant.is_empty() {
            map.remove("variant");
        } else {
            map.insert("variant".into(), json!(platform.variant));
        }
    }
    config
}

/// The first platform of the first worker, or linux/amd64.
fn worker_platform(pong: &gw::PongResponse) -> Platform {
    pong.workers
        .first()
        .and_then(|w| w.platforms.first())
        .map(|p| Platform {
            os: p.os.clone(),
            architecture: p.architecture.clone(),
            variant: p.variant.clone(),
        })
        .unwrap_or_else(|| Platform {
            os: "linux".into(),
            architecture: "amd64".into(),
            variant: String::new(),
        })
}

/// `--cache-from` entries, passed on to BuildKit.
fn cache_imports(options: &Options) -> anyhow::Result<Vec<gw::CacheOptionsEntry>> {
    #[derive(serde::Deserialize)]
    struct Entry {
        #[serde(rename = "Type")]
        kind: String,
        #[serde(rename = "Attrs", default)]
        attrs: HashMap<String, String>,
    }
    let Some(raw) = options.raw.get("cache-imports").filter(|r| !r.is_empty()) else {
        return Ok(Vec::new());
    };
    let entries: Vec<Entry> =
        serde_json::from_str(raw).context("reading the cache-imports option (--cache-from)")?;
    Ok(entries
        .into_iter()
        .map(|e| gw::CacheOptionsEntry {
            r#type: e.kind,
            attrs: e.attrs,
        })
        .collect())
}
