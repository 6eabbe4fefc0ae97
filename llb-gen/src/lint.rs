//! Lint rules: what a valid spec builds, but probably not as meant.
//!
//! [`lint`] is a pure function of the validated spec (and its text, for
//! positions the validated model does not keep); each [`Warning`] names its
//! rule, says what the rule is about and what it found, and points at the
//! spec. `pybase check` prints the warnings after the errors (they fail it
//! only with `--strict`); `docker buildx build --call check` gets them as
//! BuildKit lint results, and buildx exits non-zero when there is one.
//!
//! The rules:
//!
//! - [`BASE_IMAGE_NOT_PINNED`]: an image in `from` (of a service, or of a
//!   tier that starts from an image) or in `build-from` has no tag, or the tag `latest`, and
//!   no digest: the image changes under the spec without notice. A version
//!   tag (`python:3.12-slim`) is accepted: it is what the reference
//!   recommends, and the image records the digest it was built from
//!   (`org.opencontainers.image.base.digest`); a digest pins it fully.
//! - [`PACKAGE_IN_BOTH_LISTS`]: a package in `system.build` that is also in
//!   `system.runtime`: it is in the image, so listing it for the builder
//!   does nothing (the builder starts from the image's system stage).
//! - [`SERVICE_WITHOUT_COMMAND`]: a service with neither `command` nor
//!   `entrypoint` runs its base image's command (`python3` on Python
//!   images), not the project.
//!
//! - [`RUNS_AS_ROOT`]: a tier or service whose `user` is root (uid 0 or the
//!   name `root`): pybase's images run as a non-root user unless told so.
//!
//! Two rules read the project files a target stacks ([`lint_stack`], after
//! [`check_stack`](crate::project::check_stack) passed):
//!
//! - [`PACKAGE_IN_TIER_AND_SERVICE`]: a service (or a tier on a tier)
//!   declares a dependency that a tier below already installs at the same
//!   version: it is not installed twice, but the declaration duplicates the
//!   tier's (the seeds' "services must not duplicate base packages").
//! - [`DEV_GROUP_IN_TIER`]: a tier's project declares dependency groups
//!   (such as `dev`) that the tier does not select (`groups:`): a tier
//!   installs only `[project].dependencies` and the groups it selects, so
//!   those are not in its image, and dev tools put there instead would
//!   reach every service. A group the tier selects is meant to be there.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::diagnostic::{Diagnostic, Position};
use crate::spec::{Service, Spec, TierBase, User};

/// Rule: the base image is not pinned to a version.
pub const BASE_IMAGE_NOT_PINNED: &str = "BaseImageNotPinned";
/// Rule: a build package that is also a runtime package.
pub const PACKAGE_IN_BOTH_LISTS: &str = "PackageInBothLists";
/// Rule: a service that runs its base image's command.
pub const SERVICE_WITHOUT_COMMAND: &str = "ServiceWithoutCommand";
/// Rule: an image that runs as root.
pub const RUNS_AS_ROOT: &str = "RunsAsRoot";
/// Rule: a dependency declared again above the tier that installs it.
pub const PACKAGE_IN_TIER_AND_SERVICE: &str = "PackageInTierAndService";
/// Rule: dependency groups in a tier's project.
pub const DEV_GROUP_IN_TIER: &str = "DevGroupInTier";

/// Every rule: its name and what it is about.
pub const RULES: &[(&str, &str)] = &[
    (
        BASE_IMAGE_NOT_PINNED,
        "The base image should name a version: a tag other than `latest`, or a digest",
    ),
    (
        PACKAGE_IN_BOTH_LISTS,
        "A package in `system.build` that is also in `system.runtime` is listed for nothing",
    ),
    (
        SERVICE_WITHOUT_COMMAND,
        "A service without `command` or `entrypoint` runs its base image's command",
    ),
    (RUNS_AS_ROOT, "An image should run as a non-root user"),
    (
        PACKAGE_IN_TIER_AND_SERVICE,
        "A package a tier installs should not be declared again by what builds on the tier",
    ),
    (
        DEV_GROUP_IN_TIER,
        "A tier installs only the dependency groups it selects: dev tools do not belong in a tier",
    ),
];

/// The warnings of the rules that read project files, for a stack of
/// projects (root first) that passed [`check_stack`](crate::project::check_stack)
/// with `infos`.
pub fn lint_stack(
    stack: &[crate::project::ProjectFiles<'_>],
    infos: &[crate::project::ProjectInfo],
) -> Vec<Warning> {
    use crate::names::{normalize_name, requirement_name};
    let mut warnings = Vec::new();
    for (index, (files, info)) in stack.iter().zip(infos).enumerate() {
        let project = &files.project;
        let file = project.path(crate::plan::PYPROJECT_FILE);
        // The pyproject.toml the check read, not a second parse.
        let Some(pyproject) = &info.pyproject else {
            continue;
        };
        warnings.extend(dev_group_in_tier(project, &file, pyproject));
        let declared = pyproject
            .project
            .iter()
            .flat_map(|p| p.dependencies.iter().flatten())
            .map(String::as_str);
        for requirement in declared {
            let name = normalize_name(requirement_name(requirement));
            let Some(mine) = info.packages.get(&name) else {
                continue;
            };
            let below = stack[..index]
                .iter()
                .zip(infos)
                .filter(|(lower, _)| lower.project.dir != project.dir)
                .find(|(_, lower)| {
                    lower
                        .packages
                        .get(&name)
                        .is_some_and(|theirs| theirs.versions == mine.versions)
                });
            if let Some((lower, lower_info)) = below {
                warnings.push(Warning::new(
                    PACKAGE_IN_TIER_AND_SERVICE,
                    Diagnostic::at(
                        &file,
                        pyproject.spans.requirements.get(requirement).copied(),
                        format!(
                            "`{name}` is already in the {} `{}` ({}), which the {} `{}` builds on",
                            lower.project.owner_kind,
                            lower.project.owner,
                            lower_info.lock_path(&lower.project),
                            project.owner_kind,
                            project.owner,
                        ),
                    )
                    .with_hint(format!(
                        "drop it from {file} and run `uv lock` in `{}`: the package comes with the {} `{}`",
                        project.display(),
                        lower.project.owner_kind,
                        lower.project.owner
                    )),
                ));
            }
        }
    }
    warnings
}

/// [`DEV_GROUP_IN_TIER`] for `project` (its `pyproject.toml`, named
/// `file`): the dependency groups it declares that
/// the tier does not select (`groups:` in the spec), which its image lacks.
fn dev_group_in_tier(
    project: &crate::spec::ProjectDir<'_>,
    file: &str,
    pyproject: &crate::pyproject::Pyproject,
) -> Option<Warning> {
    use crate::names::normalize_name;
    if project.owner_kind != crate::spec::OwnerKind::Tier {
        return None;
    }
    let selected: Vec<String> = project
        .selection
        .groups
        .iter()
        .map(|group| normalize_name(&group.name))
        .collect();
    let left_out: Vec<&str> = pyproject
        .dependency_groups
        .iter()
        .map(|(name, _)| name.as_str())
        .filter(|name| !selected.contains(&normalize_name(name)))
        .collect();
    if left_out.is_empty() {
        return None;
    }
    Some(Warning::new(
        DEV_GROUP_IN_TIER,
        Diagnostic::at(
            file,
            pyproject.spans.dependency_groups,
            format!(
                "the project of tier `{}` declares dependency groups it does not select ({}): a tier installs only `[project].dependencies` and the groups its spec selects, so they are not in its image",
                project.owner,
                left_out.join(", ")
            ),
        )
        .with_hint("keep dev tools out of tiers (they would reach every service); a group every image needs: select it with `groups:` or move it into `[project].dependencies`"),
    ))
}

/// One finding of a lint rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    /// The rule's name, e.g. `BaseImageNotPinned`.
    pub rule: &'static str,
    /// What the rule is about (the same for every finding of the rule).
    pub description: &'static str,
    /// This finding: where, what, and how to fix it.
    pub diagnostic: Diagnostic,
}

impl Warning {
    fn new(rule: &'static str, diagnostic: Diagnostic) -> Self {
        let description = RULES
            .iter()
            .find(|(name, _)| *name == rule)
            .map_or("", |(_, description)| description);
        Self {
            rule,
            description,
            diagnostic,
        }
    }

    /// The report `pybase check` prints: `warning[Rule]: file:line:col: …`,
    /// the line and a caret, the hint.
    pub fn render(&self, source: Option<&str>) -> String {
        self.diagnostic
            .render_as(&format!("warning[{}]", self.rule), source)
    }
}

/// The warnings of every rule for `spec`, whose text is `text`, in the
/// order of the tiers, then of the services, then of the rules.
pub fn lint(spec: &Spec, text: &str) -> Vec<Warning> {
    let packages = PackagePositions::read(text);
    let tiers = spec.tiers.values().flat_map(|tier| {
        let mut warnings = Vec::new();
        let owner = format!("tier `{}`", tier.level.name);
        let base = match &tier.from {
            TierBase::Image(image) => Some(("base image", image, tier.from_at)),
            TierBase::Tier(_) => None,
        };
        let build = tier
            .level
            .build_from
            .as_ref()
            .map(|image| ("build image", image, tier.level.build_from_at));
        for (role, image, at) in base.into_iter().chain(build) {
            warnings.extend(base_image_not_pinned(
                spec,
                role,
                &image.as_written,
                at.or(tier.level.at),
                &owner,
            ));
        }
        warnings.extend(runs_as_root(
            spec,
            tier.level.user.as_ref(),
            tier.level.at,
            &owner,
        ));
        warnings
    });
    let services = spec.services.values().flat_map(|service| {
        let mut warnings = Vec::new();
        let owner = format!("service `{}`", service.level.name);
        // On a tier, the images are the tier's, checked there.
        let base = service
            .tier
            .is_none()
            .then_some(("base image", &service.from, service.from_at));
        let build = service
            .level
            .build_from
            .as_ref()
            .map(|image| ("build image", image, service.level.build_from_at));
        for (role, image, at) in base.into_iter().chain(build) {
            warnings.extend(base_image_not_pinned(
                spec,
                role,
                &image.as_written,
                at.or(service.level.at),
                &owner,
            ));
        }
        warnings.extend(package_in_both_lists(spec, service, &packages));
        warnings.extend(service_without_command(spec, service));
        warnings.extend(runs_as_root(
            spec,
            service.level.user.as_ref(),
            service.level.at,
            &owner,
        ));
        warnings
    });
    tiers.chain(services).collect()
}

fn runs_as_root(
    spec: &Spec,
    user: Option<&User>,
    at: Option<Position>,
    owner: &str,
) -> Option<Warning> {
    let user = user.filter(|u| u.uid == 0 || u.name == "root")?;
    Some(Warning::new(
        RUNS_AS_ROOT,
        Diagnostic::at(
            &spec.file,
            at,
            format!(
                "the {owner} runs as root (user `{}`, uid {})",
                user.name, user.uid
            ),
        )
        .with_hint("leave `user` out (the default is `app`, uid 1000) or give a non-zero uid"),
    ))
}

fn base_image_not_pinned(
    spec: &Spec,
    role: &str,
    written: &str,
    at: Option<Position>,
    owner: &str,
) -> Option<Warning> {
    let (name, digest) = match written.split_once('@') {
        Some((name, digest)) => (name, Some(digest)),
        None => (written, None),
    };
    let last_component = name.rsplit('/').next().unwrap_or(name);
    let tag = last_component.split_once(':').map(|(_, tag)| tag);
    if digest.is_some() || tag.is_some_and(|tag| tag != "latest") {
        return None;
    }
    let what = match tag {
        Some(_) => "the tag `latest`",
        None => "no tag (so `latest`)",
    };
    Some(Warning::new(
        BASE_IMAGE_NOT_PINNED,
        Diagnostic::at(
            &spec.file,
            at,
            format!("the {role} `{written}` of {owner} has {what}: it changes without notice"),
        )
        .with_hint(format!(
            "name a version, e.g. `{name}:{}`, or pin a digest (`@sha256:…`)",
            // The official Python images' tags are the example users know.
            if last_component
                .split(':')
                .next()
                .is_some_and(|n| n == "python")
            {
                "3.12-slim"
            } else {
                "<version>"
            }
        )),
    ))
}

fn package_in_both_lists(
    spec: &Spec,
    service: &Service,
    packages: &PackagePositions,
) -> Vec<Warning> {
    let package_name = |package: &str| {
        let name = package.split_once('=').map_or(package, |(name, _)| name);
        name.split_once(':')
            .map_or(name, |(name, _)| name)
            .to_owned()
    };
    let runtime: Vec<String> = service
        .level
        .runtime_packages
        .iter()
        .map(|p| package_name(p))
        .collect();
    service
        .level
        .build_packages
        .iter()
        .filter(|package| runtime.contains(&package_name(package)))
        .map(|package| {
            Warning::new(
                PACKAGE_IN_BOTH_LISTS,
                Diagnostic::at(
                    &spec.file,
                    packages.build(&service.level.name, package).or(service.level.at),
                    format!(
                        "`{package}` is in both `system.build` and `system.runtime` of service `{}`",
                        service.level.name
                    ),
                )
                .with_hint("the builder starts from the image's packages: list it in `system.runtime` only"),
            )
        })
        .collect()
}

fn service_without_command(spec: &Spec, service: &Service) -> Option<Warning> {
    if service.command.is_some() || service.entrypoint.is_some() {
        return None;
    }
    Some(Warning::new(
        SERVICE_WITHOUT_COMMAND,
        Diagnostic::at(
            &spec.file,
            service.level.at,
            format!(
                "service `{}` sets neither `command` nor `entrypoint`: its image runs the command of `{}`",
                service.level.name, service.from.as_written
            ),
        )
        .with_hint("e.g. `command: [your-script]` (a `[project.scripts]` entry is on the venv's PATH)"),
    ))
}

/// Where each `system.build` entry is written, by service and package: the
/// validated spec keeps the packages, not their positions.
#[derive(Default)]
struct PackagePositions(BTreeMap<(String, String), Position>);

#[derive(Deserialize)]
struct SpecPackages {
    #[serde(default)]
    services: BTreeMap<String, ServicePackages>,
}

#[derive(Deserialize)]
struct ServicePackages {
    #[serde(default)]
    system: Option<SystemPackages>,
}

#[derive(Deserialize)]
struct SystemPackages {
    #[serde(default)]
    build: Vec<Spanned<String>>,
}

impl PackagePositions {
    /// The positions in `text`; none when it does not read (the validated
    /// spec came from it, so it does).
    fn read(text: &str) -> Self {
        let Ok(spec) = serde_saphyr::from_str::<SpecPackages>(text) else {
            return Self::default();
        };
        let mut positions = BTreeMap::new();
        for (service, packages) in spec.services {
            for package in packages.system.map(|s| s.build).unwrap_or_default() {
                if let Some(position) = Position::from_location(package.referenced) {
                    positions
                        .entry((service.clone(), package.value))
                        .or_insert(position);
                }
            }
        }
        Self(positions)
    }

    fn build(&self, service: &str, package: &str) -> Option<Position> {
        self.0
            .get(&(service.to_owned(), package.to_owned()))
            .copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The warnings for `yaml`, as `pybase check` prints them.
    fn check(yaml: &str) -> String {
        let spec = crate::spec::parse("pybase.yaml", yaml.as_bytes()).expect("a valid spec");
        lint(&spec, yaml)
            .iter()
            .map(|w| w.render(Some(yaml)))
            .collect::<Vec<_>>()
            .join("\n")
    }

    const SERVICE: &str = "version: 1\nservices:\n  api:\n";

    #[test]
    fn tiers_are_checked_once_for_their_image_and_root_is_a_warning() {
        let yaml = "version: 1\ntiers:\n  base:\n    from: python\n    user: {name: root, uid: 0}\n  web:\n    from: base\nservices:\n  api:\n    tier: web\n    command: [api]\n  worker:\n    tier: base\n    command: [worker]\n";
        let report = check(yaml);
        assert_eq!(
            report.matches("warning[BaseImageNotPinned]").count(),
            1,
            "{report}"
        );
        assert!(
            report.contains("the base image `python` of tier `base` has no tag"),
            "{report}"
        );
        assert_eq!(report.matches("warning[RunsAsRoot]").count(), 1, "{report}");
        assert!(
            report.contains("the tier `base` runs as root (user `root`, uid 0)"),
            "{report}"
        );
    }

    #[test]
    fn a_versioned_base_image_with_a_command_has_no_warning() {
        for from in [
            "python:3.12-slim",
            "ghcr.io/acme/python:3.12",
            "localhost:5000/python:3",
            "python@sha256:0000000000000000000000000000000000000000000000000000000000000000",
            "python:latest@sha256:0000000000000000000000000000000000000000000000000000000000000000",
        ] {
            let yaml = format!("{SERVICE}    from: {from}\n    command: [api]\n");
            assert_eq!(check(&yaml), "", "{from}");
        }
    }

    #[test]
    fn a_base_image_without_a_tag_or_with_latest_is_not_pinned() {
        insta::assert_snapshot!(check(&format!("{SERVICE}    from: localhost:5000/python\n    command: [api]\n")), @r"
        warning[BaseImageNotPinned]: pybase.yaml:4:11: the base image `localhost:5000/python` of service `api` has no tag (so `latest`): it changes without notice
          |
        4 |     from: localhost:5000/python
          |           ^
        hint: name a version, e.g. `localhost:5000/python:3.12-slim`, or pin a digest (`@sha256:…`)
        ");
        assert!(
            check(&format!(
                "{SERVICE}    from: python:latest\n    command: [api]\n"
            ))
            .contains("has the tag `latest`")
        );
    }

    #[test]
    fn a_build_image_without_a_tag_is_not_pinned_either() {
        assert!(
            check(&format!(
                "{SERVICE}    from: gcr.io/distroless/python3-debian12\n    command: [api]\n"
            ))
            .contains("e.g. `gcr.io/distroless/python3-debian12:<version>`")
        );
        insta::assert_snapshot!(check(&format!("{SERVICE}    from: gcr.io/distroless/python3-debian12:nonroot\n    build-from: registry.example.com/debian-python\n    command: [api]\n")), @r"
        warning[BaseImageNotPinned]: pybase.yaml:5:17: the build image `registry.example.com/debian-python` of service `api` has no tag (so `latest`): it changes without notice
          |
        5 |     build-from: registry.example.com/debian-python
          |                 ^
        hint: name a version, e.g. `registry.example.com/debian-python:<version>`, or pin a digest (`@sha256:…`)
        ");
    }

    #[test]
    fn a_build_package_that_is_also_a_runtime_package_is_pointed_at() {
        insta::assert_snapshot!(check(&format!("{SERVICE}    from: python:3.12-slim\n    system:\n      runtime: [libpq5, curl]\n      build: [gcc, curl=8.5.0-2]\n    command: [api]\n")), @r"
        warning[PackageInBothLists]: pybase.yaml:7:20: `curl=8.5.0-2` is in both `system.build` and `system.runtime` of service `api`
          |
        7 |       build: [gcc, curl=8.5.0-2]
          |                    ^
        hint: the builder starts from the image's packages: list it in `system.runtime` only
        ");
    }

    #[test]
    fn a_service_without_command_or_entrypoint_runs_the_base_command() {
        insta::assert_snapshot!(check(&format!("{SERVICE}    from: python:3.12-slim\n")), @r"
        warning[ServiceWithoutCommand]: pybase.yaml:3:3: service `api` sets neither `command` nor `entrypoint`: its image runs the command of `python:3.12-slim`
          |
        3 |   api:
          |   ^
        hint: e.g. `command: [your-script]` (a `[project.scripts]` entry is on the venv's PATH)
        ");
        let with_entrypoint =
            format!("{SERVICE}    from: python:3.12-slim\n    entrypoint: [api]\n");
        assert_eq!(check(&with_entrypoint), "");
    }

    /// The `DevGroupInTier` warnings for a tier whose project declares the
    /// groups `dev` and `tracing` and whose spec selects `selected`.
    fn dev_groups_in_tier(selected: &str) -> String {
        let yaml = format!(
            "version: 1\ntiers:\n  base:\n    from: python:3.12-slim\n    project: base\n    groups: [{selected}]\nservices:\n  api:\n    tier: base\n    command: [api]\n"
        );
        let spec = crate::spec::parse("pybase.yaml", yaml.as_bytes()).expect("a valid spec");
        let project = spec.tiers["base"].project_dir().expect("a project");
        let pyproject = "[project]\nname = \"base\"\nversion = \"1\"\n\n[dependency-groups]\ndev = [\"pytest\"]\ntracing = [\"opentelemetry-sdk\"]\n";
        let lock = "version = 1\n[[package]]\nname = \"base\"\nversion = \"1\"\n";
        let stack = [crate::project::ProjectFiles {
            pyproject: Some(pyproject.as_bytes().to_vec()),
            lock: Some(lock.as_bytes().to_vec()),
            ..crate::project::ProjectFiles::new(project)
        }];
        let infos = crate::project::check_stack("pybase.yaml", &stack).expect("valid project");
        lint_stack(&stack, &infos)
            .iter()
            .map(|w| w.render(Some(pyproject)))
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn groups_a_tier_does_not_select_are_a_warning() {
        insta::assert_snapshot!(dev_groups_in_tier(""), @r"
        warning[DevGroupInTier]: base/pyproject.toml:5:1: the project of tier `base` declares dependency groups it does not select (dev, tracing): a tier installs only `[project].dependencies` and the groups its spec selects, so they are not in its image
          |
        5 | [dependency-groups]
          | ^
        hint: keep dev tools out of tiers (they would reach every service); a group every image needs: select it with `groups:` or move it into `[project].dependencies`
        ");
        assert!(
            dev_groups_in_tier("tracing").contains("does not select (dev)"),
            "only the group left out is named"
        );
    }

    #[test]
    fn groups_a_tier_selects_are_no_warning() {
        assert_eq!(dev_groups_in_tier("tracing, Dev"), "");
    }

    #[test]
    fn every_warning_names_a_known_rule_and_has_a_position() {
        let yaml = "version: 1\nservices:\n  a:\n    from: python\n    system: {runtime: [gcc], build: [gcc]}\n  b:\n    from: python:latest\n";
        let spec = crate::spec::parse("pybase.yaml", yaml.as_bytes()).expect("valid");
        let warnings = lint(&spec, yaml);
        let rules: Vec<&str> = warnings.iter().map(|w| w.rule).collect();
        assert_eq!(
            rules,
            [
                BASE_IMAGE_NOT_PINNED,
                PACKAGE_IN_BOTH_LISTS,
                SERVICE_WITHOUT_COMMAND,
                BASE_IMAGE_NOT_PINNED,
                SERVICE_WITHOUT_COMMAND
            ]
        );
        assert!(
            warnings
                .iter()
                .all(|w| w.diagnostic.position.is_some() && !w.description.is_empty())
        );
    }
}
