//! `--no-cache-filter NAMES` (BuildKit's `no-cache` option with a list):
//! which steps run again instead of coming from the cache.
//!
//! A name is one of pybase's stages or a tier or service of the spec,
//! compared without regard to case, as the Dockerfile frontend compares
//! its stage names. A stage selects that stage's steps on every level of
//! the build; a tier or service all the steps named after it (`[NAME] …`).
//! `system` is the security refresh: the image's system steps run again
//! with `apt-get upgrade` on a chain of their own (see
//! [`BuildInputs::refresh_system`](super::BuildInputs::refresh_system)),
//! while the builders, the venvs and the code stay as cached, so with
//! MergeOp their layers are the same. The selection by name is applied
//! to the marshalled definition, whose step names say level and stage.

use bollard_buildkit_proto::pb;

use crate::llb::marshal::digest_of;
use crate::spec::Spec;

/// pybase's stages a name can select, and what each selects.
pub const STAGES: &[(&str, &str)] = &[
    (
        "system",
        "the image's system steps (runtime packages, user, working directory) of every level, run again with `apt-get upgrade`; the builders, venvs and code stay cached",
    ),
    ("builder", "the build packages' steps of every level"),
    (
        "venv",
        "the venv steps of every level: uv's install, the fetched wheels, the sdists' builds, the lock's export",
    ),
    (
        "code",
        "the code steps: the build backend, the project's install or copy, the build commands",
    ),
];

/// A name that is neither a stage nor a tier or service of the spec.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "--no-cache-filter {name}: pybase has no stage, tier or service of that name; the names are the stages {} and this spec's tiers and services: {}",
    stage_names(),
    .levels.join(", ")
)]
pub struct UnknownStage {
    /// The name as given.
    pub name: String,
    /// The spec's tiers and services.
    pub levels: Vec<String>,
}

fn stage_names() -> String {
    STAGES
        .iter()
        .map(|(name, _)| *name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The steps a `--no-cache-filter` list selects.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NoCacheFilter {
    /// `system` was named: the refresh.
    pub refresh_system: bool,
    /// The other stages named, lower case.
    stages: Vec<String>,
    /// The tiers and services named, as the spec spells them.
    levels: Vec<String>,
}

impl NoCacheFilter {
    /// The filter of `names` (the option's comma-separated value; empty
    /// entries are skipped) for a build of `spec`.
    pub fn parse(value: &str, spec: &Spec) -> Result<Self, UnknownStage> {
        let levels: Vec<&String> = spec.tiers.keys().chain(spec.services.keys()).collect();
        let mut filter = Self::default();
        for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            if name.eq_ignore_ascii_case("system") {
                filter.refresh_system = true;
            } else if let Some((stage, _)) =
                STAGES.iter().find(|(s, _)| s.eq_ignore_ascii_case(name))
            {
                filter.stages.push((*stage).to_owned());
            } else if let Some(level) = levels.iter().find(|l| l.eq_ignore_ascii_case(name)) {
                filter.levels.push((*level).clone());
            } else {
                return Err(UnknownStage {
                    name: name.to_owned(),
                    levels: levels.iter().map(|l| (*l).clone()).collect(),
                });
            }
        }
        Ok(filter)
    }

    /// Mark the steps the filter selects by name in `definition` to run
    /// again (their `ignore_cache`).
    pub fn apply(&self, definition: &mut pb::Definition) {
        if self.stages.is_empty() && self.levels.is_empty() {
            return;
        }
        for bytes in &definition.def {
            let digest = digest_of(bytes);
            let selected = definition
                .metadata
                .get(&digest)
                .and_then(|m| m.description.get("llb.customname"))
                .is_some_and(|name| self.selects(name));
            if selected {
                definition.metadata.entry(digest).or_default().ignore_cache = true;
            }
        }
    }

    /// Whether the step named `name` (`[LEVEL] STAGE: …`) is selected.
    fn selects(&self, name: &str) -> bool {
        let Some((level, rest)) = name.strip_prefix('[').and_then(|n| n.split_once("] ")) else {
            return false;
        };
        if self.levels.iter().any(|l| l == level) {
            return true;
        }
        let stage = match rest.split([':', ' ']).next().unwrap_or_default() {
            "builder" => "builder",
            "venv" | "wheels" | "fetch" => "venv",
            // `build NAME VERSION from its sdist`, not `build image …`.
            "build" if !rest.starts_with("build image") => "venv",
            "code" => "code",
            _ => return false,
        };
        self.stages.iter().any(|s| s == stage)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str = r#"version: 1
tiers:
  python-base:
    from: python:3.12-slim
    project: tiers/base
services:
  orders:
    tier: python-base
    project: services/orders
"#;

    fn spec() -> Spec {
        crate::spec::parse("pybase.yaml", SPEC.as_bytes()).expect("valid spec")
    }

    #[test]
    fn names_select_stages_on_every_level_or_every_step_of_a_level() {
        let filter = |value: &str| NoCacheFilter::parse(value, &spec()).expect("known names");
        let venv = filter("venv");
        assert!(venv.selects("[orders] venv: uv sync"));
        assert!(venv.selects("[python-base] wheels: 3 files"));
        assert!(venv.selects("[python-base] fetch six-1.17.0-py2.py3-none-any.whl"));
        assert!(venv.selects("[orders] build psycopg2 2.9.10 from its sdist"));
        assert!(!venv.selects("[orders] code: install the project"));
        assert!(!venv.selects("[orders] build image python:3.12"));
        assert!(!venv.selects("[orders] system: user app (1000), /app"));
        assert!(!venv.refresh_system);
        // A level: all its steps, and no other level's.
        let orders = filter("ORDERS");
        assert!(orders.selects("[orders] system: user app (1000), /app"));
        assert!(orders.selects("[orders] code: install the project"));
        assert!(!orders.selects("[python-base] venv: uv sync"));
        assert!(!orders.selects("[pybase] unpack uv 0.13.9"));
        // `system` is the refresh, not a selection by name.
        let system = filter("system,");
        assert!(system.refresh_system);
        assert!(!system.selects("[orders] system: user app (1000), /app"));
        let both = filter("code, builder");
        assert!(both.selects("[orders] code: build backend hatchling"));
        assert!(both.selects("[python-base] builder: gcc"));
        assert!(!both.selects("[python-base] venv: uv sync"));
    }

    #[test]
    fn an_unknown_name_is_an_error_listing_the_known_ones() {
        let error = NoCacheFilter::parse("venv,sytem", &spec()).expect_err("a typo");
        assert_eq!(
            error.to_string(),
            "--no-cache-filter sytem: pybase has no stage, tier or service of that name; the names are the stages system, builder, venv, code and this spec's tiers and services: python-base, orders"
        );
    }

    #[test]
    fn the_selected_steps_get_ignore_cache_and_the_others_not() {
        use crate::llb::{Exec, Platform, State};
        let platform = Platform {
            os: "linux".into(),
            architecture: "amd64".into(),
            variant: String::new(),
        };
        let base = State::image(
            "docker.io/library/python:3.12",
            &platform,
            "[orders] base image",
        );
        let venv = base
            .run(
                Exec::argv(&["true"]).named("[orders] venv: uv sync"),
                &platform,
            )
            .root();
        let code = venv
            .run(
                Exec::argv(&["true"]).named("[orders] code: install"),
                &platform,
            )
            .root();
        let mut definition = crate::llb::marshal(&code, None, None).expect("marshal");
        NoCacheFilter::parse("venv", &spec())
            .expect("known")
            .apply(&mut definition);
        let ignored: Vec<bool> = definition
            .def
            .iter()
            .map(|bytes| {
                definition
                    .metadata
                    .get(&digest_of(bytes))
                    .is_some_and(|m| m.ignore_cache)
            })
            .collect();
        // image, venv, code, terminal
        assert_eq!(ignored, [false, true, false, false]);
    }
}
