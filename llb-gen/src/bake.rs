//! A `docker buildx bake` file (JSON) for every target of a spec.
//!
//! Each tier gets a target, each service one that builds it and
//! `<service>-base` one that builds its base image; the `default` group
//! holds the services (or the tiers, in a spec of tiers alone) and the
//! `tiers` group the tiers, so `docker buildx bake` builds them all in one
//! BuildKit session, sharing every common step: each tier is built once. Tags are `${REGISTRY}<target>:${TAG}`: bake variables
//! a CI sets from the environment (`REGISTRY=ghcr.io/acme/ TAG=1.2.3`).
//! Each build arg the spec refers to (`${VERSION}`) is a bake variable too,
//! passed to every target as that build arg, so `VERSION=1.4.2 docker
//! buildx bake` sets it.
//!
//! No `description` keys (targets', variables'): buildx before 0.17 (Docker
//! 26's 0.13) rejects a bake file that has them; `docker buildx build --call
//! targets -f pybase.yaml .` describes the targets instead.

use serde_json::{Map, Value, json};

use crate::plan;
use crate::spec::{BuildArgs, Spec};

/// The bake file for `spec`, whose file is `spec_file` inside the build
/// context `context` (both as bake resolves them: relative to where bake
/// runs). The spec's build args default to their values in `args`.
pub fn bake_file(spec: &Spec, spec_file: &str, context: &str, args: &BuildArgs) -> Value {
    let mut variables = Map::new();
    variables.insert("REGISTRY".to_owned(), json!({"default": ""}));
    variables.insert("TAG".to_owned(), json!({"default": "latest"}));
    let mut build_args = Map::new();
    for name in &spec.build_args {
        let mut variable = Map::new();
        if let Some(value) = args.get(name) {
            variable.insert("default".to_owned(), json!(value));
        }
        variables.insert(name.clone(), Value::Object(variable));
        build_args.insert(name.clone(), json!(format!("${{{name}}}")));
    }
    let mut targets = Map::new();
    for (name, _) in plan::targets(spec) {
        let mut target = json!({
            "context": context,
            "dockerfile": spec_file,
            "target": name,
            "tags": [format!("${{REGISTRY}}{name}:${{TAG}}")],
        });
        if !build_args.is_empty() {
            target["args"] = Value::Object(build_args.clone());
        }
        targets.insert(name.clone(), target);
    }
    let tiers: Vec<&String> = spec.tiers.keys().collect();
    let services: Vec<&String> = spec.services.keys().collect();
    let mut groups = Map::new();
    groups.insert(
        "default".to_owned(),
        json!({"targets": if services.is_empty() { &tiers } else { &services }}),
    );
    if !tiers.is_empty() {
        groups.insert("tiers".to_owned(), json!({ "targets": tiers }));
    }
    json!({
        "variable": variables,
        "group": groups,
        "target": targets,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_target_per_tier_service_and_base_and_groups_of_services_and_tiers() {
        let spec = crate::spec::parse(
            "pybase.yaml",
            b"version: 1\ntiers:\n  web:\n    from: python:3.12-slim\nservices:\n  api:\n    tier: web\n  worker:\n    from: python:3.12-slim\n",
        )
        .expect("valid");
        let bake = bake_file(&spec, "pybase.yaml", ".", &BuildArgs::default());
        assert_eq!(
            bake["group"]["default"]["targets"],
            json!(["api", "worker"])
        );
        let targets = bake["target"].as_object().expect("targets");
        assert_eq!(
            targets.keys().collect::<Vec<_>>(),
            ["api", "api-base", "web", "worker", "worker-base"]
        );
        assert_eq!(bake["group"]["tiers"]["targets"], json!(["web"]));
        assert_eq!(bake["target"]["api-base"]["target"], json!("api-base"));
        assert_eq!(
            bake["target"]["api"]["tags"],
            json!(["${REGISTRY}api:${TAG}"])
        );
        assert_eq!(bake["target"]["api"]["dockerfile"], json!("pybase.yaml"));
        assert!(bake["target"]["api"].get("args").is_none());
    }

    #[test]
    fn build_args_the_spec_refers_to_are_variables_passed_to_every_target() {
        let args: BuildArgs = [("PY", "3.12")].into_iter().collect();
        let spec = crate::spec::parse_with_args(
            "pybase.yaml",
            b"version: 1\nservices:\n  api:\n    from: python:${PY}-slim\n    version: ${VERSION:-0.0.0}\n",
            &args,
        )
        .expect("valid");
        let bake = bake_file(&spec, "pybase.yaml", ".", &args);
        assert_eq!(bake["variable"]["PY"]["default"], json!("3.12"));
        assert!(bake["variable"]["VERSION"].get("default").is_none());
        assert_eq!(
            bake["target"]["api-base"]["args"],
            json!({"PY": "${PY}", "VERSION": "${VERSION}"})
        );
    }
}
