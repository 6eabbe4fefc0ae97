//! A `docker buildx bake` file (JSON) for every target of a spec.
//!
//! Each tier gets a target, each service one that builds it and
//! `<service>-base` one that builds its base image; the `default` group
//! holds the services (or the tiers, in a spec of tiers alone) and the
//! `tiers` group the tiers, so `docker buildx bake` builds them all in one
//! BuildKit session, sharing every common step: each tier is built once. Tags are `${REGISTRY}<target>:${TAG}`: bake variables
//! a CI sets from the environment (`REGISTRY=ghcr.io/acme/ TAG=1.2.3`).

use serde_json::{Map, Value, json};

use crate::plan;
use crate::spec::Spec;

/// The bake file for `spec`, whose file is `spec_file` inside the build
/// context `context` (both as bake resolves them: relative to where bake
/// runs).
pub fn bake_file(spec: &Spec, spec_file: &str, context: &str) -> Value {
    let mut targets = Map::new();
    for (name, description) in plan::targets(spec) {
        targets.insert(
            name.clone(),
            json!({
                "context": context,
                "dockerfile": spec_file,
                "target": name,
                "tags": [format!("${{REGISTRY}}{name}:${{TAG}}")],
                "description": description,
            }),
        );
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
        "variable": {
            "REGISTRY": {"default": "", "description": "prefix of every tag, e.g. ghcr.io/acme/"},
            "TAG": {"default": "latest"},
        },
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
        let bake = bake_file(&spec, "pybase.yaml", ".");
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
    }
}
