//! The targets of a spec (each tier, each service and its `-base`), the
//! one `--target` names, what it stands on and the version it carries.

use crate::diagnostic::{Diagnostic, Position, did_you_mean};
use crate::spec::{BASE_TARGET_SUFFIX, ImageName, ProjectDir, Service, Spec, Tier, TierBase};

/// What a target builds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetKind {
    /// A service image: its tier (if any), system, venv and code.
    Image,
    /// A service's base image: the same without the project code.
    Base,
    /// A tier's image.
    Tier,
}

/// A resolved `--target`.
#[derive(Clone, Debug)]
pub struct Target<'a> {
    /// What it builds.
    pub kind: TargetKind,
    /// The tiers the image stands on, root first; for a tier target, the
    /// tier itself comes last.
    pub tiers: Vec<&'a Tier>,
    /// The service, for service targets.
    pub service: Option<&'a Service>,
}

impl<'a> Target<'a> {
    fn of_service(spec: &'a Spec, service: &'a Service, kind: TargetKind) -> Self {
        Self {
            kind,
            tiers: service
                .tier
                .as_deref()
                .map(|t| spec.tier_chain(t))
                .unwrap_or_default(),
            service: Some(service),
        }
    }

    fn of_tier(spec: &'a Spec, tier: &'a Tier) -> Self {
        Self {
            kind: TargetKind::Tier,
            tiers: spec.tier_chain(&tier.level.name),
            service: None,
        }
    }

    /// The target's name, as `--target` takes it.
    pub fn name(&self) -> String {
        match (self.kind, self.service, self.tiers.last()) {
            (TargetKind::Base, Some(service), _) => {
                format!("{}{BASE_TARGET_SUFFIX}", service.level.name)
            }
            (_, Some(service), _) => service.level.name.clone(),
            (_, None, Some(tier)) => tier.level.name.clone(),
            (_, None, None) => String::new(),
        }
    }

    /// The image the target ultimately starts from, and where the spec
    /// names it.
    pub fn base_image(&self) -> Option<(&'a ImageName, Option<Position>)> {
        match (self.service, self.tiers.first()) {
            (Some(service), _) => Some((&service.from, service.from_at)),
            (None, Some(root)) => Some((&root.root_image, root.root_image_at)),
            (None, None) => None,
        }
    }

    /// The image the builder starts from when the image is assembled by
    /// copying (`build-from` of the chain's root, or of a service without
    /// a tier), and where the spec names it.
    pub fn build_image(&self) -> Option<(&'a ImageName, Option<Position>)> {
        match self.tiers.first() {
            Some(root) => root
                .level
                .build_from
                .as_ref()
                .map(|b| (b, root.level.build_from_at)),
            None => self.service.and_then(|s| {
                s.level
                    .build_from
                    .as_ref()
                    .map(|b| (b, s.level.build_from_at))
            }),
        }
    }

    /// The projects whose venvs the image gets, root first: its tiers'
    /// then the service's.
    pub fn projects(&self) -> Vec<ProjectDir<'a>> {
        self.tiers
            .iter()
            .filter_map(|tier| tier.project_dir())
            .chain(self.service.map(Service::project_dir))
            .collect()
    }
}

/// Every target of the spec with a one-line description: tiers, then
/// services and their bases.
pub fn targets(spec: &Spec) -> Vec<(String, String)> {
    let tiers = spec.tiers.values().map(|tier| {
        let from = match &tier.from {
            TierBase::Image(image) => image.as_written.clone(),
            TierBase::Tier(parent) => format!("tier {parent}"),
        };
        let venv = if tier.project.is_some() {
            " + venv"
        } else {
            ""
        };
        (
            tier.level.name.clone(),
            format!("tier image ({from} + system{venv})"),
        )
    });
    let services = spec.services.values().flat_map(|service| {
        let from = match &service.tier {
            Some(tier) => format!("tier {tier}"),
            None => service.from.as_written.clone(),
        };
        [
            (
                service.level.name.clone(),
                format!("service image ({from} + venv + code)"),
            ),
            (
                format!("{}{BASE_TARGET_SUFFIX}", service.level.name),
                format!(
                    "base image of `{}` ({from} + venv, no project code)",
                    service.level.name
                ),
            ),
        ]
    });
    tiers.chain(services).collect()
}

/// Resolve the requested target; without one, the spec must have exactly one
/// service.
pub fn select_target<'a>(
    spec: &'a Spec,
    requested: Option<&str>,
) -> Result<Target<'a>, Diagnostic> {
    let names: Vec<String> = targets(spec).into_iter().map(|(name, _)| name).collect();
    let Some(requested) = requested.filter(|t| !t.is_empty()) else {
        let mut services = spec.services.values();
        return match (services.next(), services.next()) {
            (Some(service), None) => Ok(Target::of_service(spec, service, TargetKind::Image)),
            _ => Err(Diagnostic::at(
                &spec.file,
                spec.services.values().next().and_then(|s| s.level.at),
                format!(
                    "the spec has {}: choose one with --target (targets: {})",
                    if spec.services.is_empty() {
                        "no services"
                    } else {
                        "several services"
                    },
                    names.join(", ")
                ),
            )
            .with_hint(format!(
                "e.g. `docker buildx build --target {} ...`",
                names.first().map(String::as_str).unwrap_or("NAME")
            ))),
        };
    };
    if let Some(service) = spec.services.get(requested) {
        return Ok(Target::of_service(spec, service, TargetKind::Image));
    }
    if let Some(tier) = spec.tiers.get(requested) {
        return Ok(Target::of_tier(spec, tier));
    }
    if let Some(service) = requested
        .strip_suffix(BASE_TARGET_SUFFIX)
        .and_then(|name| spec.services.get(name))
    {
        return Ok(Target::of_service(spec, service, TargetKind::Base));
    }
    let diagnostic = Diagnostic::at(
        &spec.file,
        spec.services.values().next().and_then(|s| s.level.at),
        format!(
            "unknown target `{requested}` (targets: {})",
            names.join(", ")
        ),
    );
    Err(
        match did_you_mean(requested, names.iter().map(String::as_str)) {
            Some(close) => diagnostic.with_hint(format!("did you mean `{close}`?")),
            None => diagnostic,
        },
    )
}

/// The version the target's image carries: its own project's (the
/// service's, or the tier's when it has a project), from the stack's
/// infos (root first, as [`Target::projects`] orders them).
pub fn target_version(
    target: &Target<'_>,
    infos: &[crate::project::ProjectInfo],
) -> Result<Option<String>, Diagnostic> {
    // A service's project is the last of the stack.
    if let Some(service) = target.service {
        let vcs = infos.last().and_then(|i| i.version_from_vcs.as_ref());
        match (&service.version, vcs) {
            (Some(version), _) => return Ok(Some(version.clone())),
            (None, Some(vcs)) if target.kind == TargetKind::Image => {
                return Err(Diagnostic::at(
                    &vcs.file,
                    Some(vcs.at),
                    format!(
                        "the version of service `{}`'s project comes from version control ({}), and the build context has no `.git` to take it from",
                        service.level.name, vcs.tool
                    ),
                )
                .with_hint(format!(
                    "give it in the spec: `version: ${{VERSION}}` under service `{}`, and build with `--build-arg VERSION=1.2.3`",
                    service.level.name
                )));
            }
            (None, _) => {}
        }
    }
    let own = match target.kind {
        TargetKind::Tier => target
            .tiers
            .last()
            .and_then(|t| t.project.as_ref())
            .is_some(),
        TargetKind::Image | TargetKind::Base => target.service.is_some(),
    };
    Ok(own
        .then(|| infos.last().and_then(|i| i.version.clone()))
        .flatten())
}

/// The OS packages that put `cargo` (and `rustc`) on the builder's `PATH`:
/// `cargo` (Debian's, Ubuntu's, Alpine's), and Debian 12's newer
/// toolchain for browsers, `cargo-web` (Rust 1.85, where Debian 12's
/// `cargo` is 1.63), which installs `/usr/bin/cargo` too.
pub const CARGO_PACKAGES: [&str; 2] = ["cargo", "cargo-web"];

/// A service image whose project builds Rust with cargo (maturin, see
/// [`ProjectInfo::builds_with_cargo`](crate::project::ProjectInfo::builds_with_cargo))
/// needs a Rust toolchain in its builder: one of [`CARGO_PACKAGES`] among
/// the OS packages of its levels (tiers' and its own, `system.build` or
/// `system.runtime`). Without one the code step would fail after the
/// venv, with maturin asking for `cargo` or trying to download Rust, so
/// this says so at the service's `project` key (in `spec_file`) before
/// anything builds. A `<service>-base` target builds no code and needs
/// none.
pub fn rust_toolchain(
    spec_file: &str,
    target: &Target<'_>,
    infos: &[crate::project::ProjectInfo],
) -> Result<(), Diagnostic> {
    let Some(service) = target.service else {
        return Ok(());
    };
    // A service's project is the last of the stack.
    let cargo_build = infos.last().is_some_and(|i| i.builds_with_cargo());
    if target.kind != TargetKind::Image || !cargo_build {
        return Ok(());
    }
    let has_toolchain = target
        .tiers
        .iter()
        .map(|tier| &tier.level)
        .chain([&service.level])
        .flat_map(|level| level.build_packages.iter().chain(&level.runtime_packages))
        .any(|package| {
            // `name=version` and `name:arch` name the package `name`.
            let name = package.split(['=', ':']).next().unwrap_or(package);
            CARGO_PACKAGES.contains(&name)
        });
    if has_toolchain {
        return Ok(());
    }
    let project = service.project_dir();
    let name = &service.level.name;
    Err(Diagnostic::at(
        spec_file,
        project.at,
        format!(
            "service `{name}`'s project `{}` is built by maturin (`build-backend = \"maturin\"` in {}), which compiles its Rust code with cargo, and no `system.build` of the image installs a Rust toolchain",
            project.display(),
            project.path(crate::files::PYPROJECT_FILE),
        ),
    )
    .with_hint(format!(
        "add `cargo` to `system.build` of service `{name}` (on a Debian 12 base, `cargo-web`: Debian 12's `cargo` is Rust 1.63, too old for current PyO3 and for a Cargo.lock of version 4)"
    )))
}
