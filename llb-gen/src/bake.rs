//! A `docker buildx bake` file (JSON) for every target of a spec.
//!
//! Each service gets a target that builds it, and `<service>-base` one that
//! builds its base image; the `default` group holds the services, so
//! `docker buildx bake` builds them all in one BuildKit session, sharing
//! every common step. Tags are `${REGISTRY}<target>:${TAG}`: bake variables
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
    json!({
        "variable": {
            "REGISTRY": {"default": "", "description": "prefix of every tag, e.g. ghcr.io/acme/"},
            "TAG": {"default": "latest"},
        },
        "group": {
            "default": {"targets": spec.services.keys().collect::<Vec<_>>()},
        },
        "target": targets,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_target_per_service_and_base_and_a_default_group_of_services() {
        let spec = crate::spec::parse(
            "pybase.yaml",
            b"version: 1\nservices:\n  api:\n    from: python:3.12-slim\n  worker:\n    from: python:3.12-slim\n",
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
            ["api", "api-base", "worker", "worker-base"]
        );
        assert_eq!(bake["target"]["api-base"]["target"], json!("api-base"));
        assert_eq!(
            bake["target"]["api"]["tags"],
            json!(["${REGISTRY}api:${TAG}"])
        );
        assert_eq!(bake["target"]["api"]["dockerfile"], json!("pybase.yaml"));
    }
}
