//! A spec with many services (generated: 50 services on the fixture
//! project's facts, some on a chain of tiers) goes through the whole
//! pipeline: it parses, every target's projects check, and every target
//! plans and marshals, with
//! MergeOp and without. No timing is measured: this guards against errors
//! and panics that only show with many services, not against slowness.

use llb_gen::llb::Platform;
use llb_gen::plan::{self, BuildInputs, Target, TargetImages};
use llb_gen::project::ProjectFiles;
use llb_gen::spec::Spec;

const SERVICES: usize = 50;
const PYPROJECT: &[u8] = include_bytes!("../../testdata/projects/inventory/pyproject.toml");
const LOCK: &[u8] = include_bytes!("../../testdata/projects/inventory/uv.lock");

/// A spec of `count` services, all building the fixture project (the
/// context root), with base images, packages and keys that vary from one
/// service to the next.
fn spec_with_services(count: usize) -> String {
    let mut yaml = String::from(
        "version: 1\ntiers:\n  base:\n    from: python:3.12-slim\n    system:\n      runtime: [libpq5]\n  web:\n    from: base\n    project: .\nservices:\n",
    );
    for index in 0..count {
        let python = ["3.11-slim", "3.12-slim", "3.13-slim"][index % 3];
        match index % 4 {
            0 => yaml.push_str(&format!("  svc-{index:02}:\n    tier: web\n")),
            1 => yaml.push_str(&format!("  svc-{index:02}:\n    tier: base\n")),
            _ => yaml.push_str(&format!("  svc-{index:02}:\n    from: python:{python}\n")),
        }
        if index % 2 == 0 {
            yaml.push_str("    system:\n      runtime: [libpq5]\n      build: [gcc, libpq-dev]\n");
        }
        if index % 5 == 0 {
            yaml.push_str(&format!(
                "    env: {{SERVICE_INDEX: \"{index}\"}}\n    ports: [{}]\n",
                8000 + index
            ));
        }
        yaml.push_str("    command: [inventory]\n");
    }
    yaml
}

/// What the frontend would hand `plan::build` for `target`, with the
/// project facts of the fixture for every project it stacks.
fn inputs<'a>(
    spec: &'a Spec,
    text: &'a str,
    target: &Target<'_>,
    mergeop: bool,
) -> BuildInputs<'a> {
    let stack: Vec<ProjectFiles<'_>> = target
        .projects()
        .into_iter()
        .map(|project| ProjectFiles {
            pyproject: Some(PYPROJECT.to_vec()),
            lock: Some(LOCK.to_vec()),
            ..ProjectFiles::new(project)
        })
        .collect();
    let infos =
        llb_gen::project::check_stack(&spec.file, &stack).expect("the fixture project checks");
    let platform = Platform {
        os: "linux".into(),
        architecture: "amd64".into(),
        variant: String::new(),
    };
    let images = TargetImages::unresolved(target, platform).expect("a base image");
    BuildInputs {
        prefer_mergeop: mergeop,
        ..BuildInputs::new(
            "session-many",
            &spec.file,
            text.as_bytes(),
            target,
            &stack,
            &infos,
            images,
        )
        .expect("no VCS versions here")
    }
}

#[test]
fn fifty_services_parse_check_plan_and_marshal_every_target() {
    let text = spec_with_services(SERVICES);
    let spec = llb_gen::spec::parse("pybase.yaml", text.as_bytes()).expect("a valid spec");
    assert_eq!(spec.services.len(), SERVICES);
    let targets = plan::targets(&spec);
    assert_eq!(
        targets.len(),
        2 + 2 * SERVICES,
        "two tiers, and a service and a base each"
    );
    for (name, _) in &targets {
        let target = plan::select_target(&spec, Some(name)).expect("a known target");
        for mergeop in [false, true] {
            let build = plan::build(&target, &inputs(&spec, &text, &target, mergeop))
                .unwrap_or_else(|e| panic!("{name} (mergeop {mergeop}) does not plan: {e}"));
            assert!(
                !build.definition.def.is_empty(),
                "{name}: an empty definition"
            );
            llb_gen::describe::describe(&build.definition)
                .unwrap_or_else(|e| panic!("{name}: the definition does not decode: {e}"));
        }
    }
    let bake = llb_gen::bake::bake_file(&spec, "pybase.yaml", ".", &Default::default());
    assert_eq!(
        bake["target"].as_object().map(serde_json::Map::len),
        Some(2 + 2 * SERVICES)
    );
    assert!(llb_gen::lint::lint(&spec, &text).is_empty());
}
