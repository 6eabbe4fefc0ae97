//! Attestations: `--sbom=true` gives the SPDX document pybase writes itself
//! (BuildKit's own scanner is an image from Docker Hub, which this machine
//! cannot reach), and `--provenance=mode=max` BuildKit's provenance, which
//! names the spec. Images are pushed to the loopback registry under a path
//! of their own (`localhost:5000/pybase-e2e/sbom`), since attestations
//! live in the registry's index, and read back with `docker buildx
//! imagetools inspect`.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

use crate::harness::{
    CA_BUNDLE, buildx_push_command, e2e_session, failure, fixture, installed_distributions, run,
    stderr, stdout, unique,
};

/// Where the tests push.
const REGISTRY: &str = "localhost:5000/pybase-e2e/sbom";

/// The build of the spec in `dir`, pushed as `tag`, with `extra` buildx
/// arguments.
fn build_and_push(dir: &Path, tag: &str, extra: &[&str]) -> Output {
    let mut command = buildx_push_command(dir, tag);
    command
        .args(["--secret", &format!("id=ca-bundle,src={CA_BUNDLE}")])
        .args(extra)
        .arg(dir);
    let output = run(&mut command);
    assert!(output.status.success(), "{tag}: {}", failure(&output));
    output
}

/// `docker buildx imagetools inspect --format '{{json .FIELD}}'` of
/// `reference`, as printed.
fn inspect_field(reference: &str, field: &str) -> String {
    let output = run(Command::new("docker")
        .args(["buildx", "imagetools", "inspect", "--format"])
        .arg(format!("{{{{json .{field}}}}}"))
        .arg(reference));
    assert!(output.status.success(), "{reference}: {}", stderr(&output));
    stdout(&output)
}

/// The SPDX document of `reference`'s image.
fn spdx_of(reference: &str) -> Value {
    let sbom: Value = serde_json::from_str(&inspect_field(reference, "SBOM")).expect("JSON");
    sbom["SPDX"].clone()
}

/// The document's packages that have a purl (the image and its OS have
/// none), by name: (version, sha256, download location).
fn packages(document: &Value) -> BTreeMap<String, (String, String, String)> {
    document["packages"]
        .as_array()
        .expect("the document's packages")
        .iter()
        .filter(|p| p["externalRefs"][0]["referenceType"] == "purl")
        .map(|p| {
            let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
            (
                text(&p["name"]),
                (
                    text(&p["versionInfo"]),
                    text(&p["checksums"][0]["checksumValue"]),
                    text(&p["downloadLocation"]),
                ),
            )
        })
        .collect()
}

#[test]
fn sbom_lists_what_the_image_installs_and_is_reproducible() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    let dir = fixture("inventory");
    let tag = format!("{REGISTRY}:{}", unique());
    let epoch = ["--build-arg", "SOURCE_DATE_EPOCH=1700000000"];
    build_and_push(&dir, &tag, &[&["--sbom=true"][..], &epoch].concat());
    let document = spdx_of(&tag);
    assert_eq!(document["spdxVersion"], "SPDX-2.3", "{document}");
    assert_eq!(document["creationInfo"]["created"], "2023-11-14T22:13:20Z");
    let listed = packages(&document);

    // Every distribution of the image's venv is listed at its version...
    let pulled = run(Command::new("docker").args(["pull", "-q", &tag]));
    assert!(pulled.status.success(), "{}", failure(&pulled));
    let installed = installed_distributions(&tag);
    assert!(installed.len() >= 3, "{installed:?}");
    for dist_info in &installed {
        let stem = dist_info.trim_end_matches(".dist-info");
        let (name, version) = stem.rsplit_once('-').expect("NAME-VERSION.dist-info");
        let name = name.to_ascii_lowercase().replace('_', "-");
        let entry = listed.get(&name);
        assert_eq!(
            entry.map(|(v, _, _)| v.as_str()),
            Some(version),
            "{dist_info}: {listed:?}"
        );
    }
    // ...and each the lock pins, with the sha256 and address the lock
    // records for it: psycopg2's sdist (it has no wheel), six's wheel.
    let text = std::fs::read_to_string(dir.join("uv.lock")).expect("the fixture's lock");
    let lock = llb_gen::lock::uv::read("uv.lock", &text).expect("the fixture's lock reads");
    for (name, file) in [
        ("psycopg2", "psycopg2-2.9.10.tar.gz"),
        ("six", "six-1.17.0-py2.py3-none-any.whl"),
    ] {
        let package = lock.packages.iter().find(|p| p.name == name).expect(name);
        let artifact = package
            .artifacts
            .iter()
            .find(|a| a.filename.as_deref() == Some(file))
            .expect(file);
        let sha256 = artifact.sha256.as_deref().expect("a sha256");
        let sha256 = sha256.trim_start_matches("sha256:");
        let (version, checksum, location) = &listed[name];
        assert_eq!(Some(version), package.version.as_ref(), "{name}");
        assert_eq!(checksum, sha256, "{name}");
        assert_eq!(Some(location), artifact.url.as_ref(), "{name}");
    }
    // The runtime OS package is there; the builder's are not, nor the
    // build backend the pyproject names, nor the sdist's build backend,
    // nor the dev group's package, which the lock has.
    assert!(listed.contains_key("libpq5"), "{listed:?}");
    let spec = std::fs::read_to_string(dir.join("pybase.yaml")).expect("the spec");
    assert!(spec.contains("build: [gcc, libpq-dev]"), "{spec}");
    assert!(
        std::fs::read_to_string(dir.join("pyproject.toml"))
            .expect("pyproject")
            .contains("hatchling")
    );
    assert!(text.contains("name = \"iniconfig\""));
    for absent in ["gcc", "libpq-dev", "hatchling", "setuptools", "iniconfig"] {
        assert!(!listed.contains_key(absent), "{absent}: {listed:?}");
    }

    // The same inputs and SOURCE_DATE_EPOCH, every step run again: the
    // same document, byte for byte.
    let again = format!("{REGISTRY}:{}", unique());
    build_and_push(
        &dir,
        &again,
        &[&["--sbom=true", "--no-cache"][..], &epoch].concat(),
    );
    assert_eq!(inspect_field(&tag, "SBOM"), inspect_field(&again, "SBOM"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn provenance_mode_max_names_the_spec_and_holds_the_build_steps() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    let dir = fixture("inventory");
    let frontend = std::env::var("PYBASE_E2E_FRONTEND")
        .unwrap_or_else(|_| "localhost:5000/pybase-frontend:dev".to_owned());
    let mut steps = Vec::new();
    for mode in ["max", "min"] {
        let tag = format!("{REGISTRY}:{}", unique());
        build_and_push(&dir, &tag, &[&format!("--provenance=mode={mode}")]);
        let provenance: Value =
            serde_json::from_str(&inspect_field(&tag, "Provenance")).expect("JSON");
        let slsa = &provenance["SLSA"];
        // SLSA v1 (`buildDefinition`) or v0.2 (`invocation`), whichever
        // BuildKit writes by default.
        let (entry_point, request, build_config) = if slsa["buildDefinition"].is_object() {
            let definition = &slsa["buildDefinition"];
            let external = &definition["externalParameters"];
            (
                &external["configSource"]["path"],
                &external["request"],
                &definition["internalParameters"]["buildConfig"],
            )
        } else {
            let invocation = &slsa["invocation"];
            (
                &invocation["configSource"]["entryPoint"],
                &invocation["parameters"],
                &slsa["buildConfig"],
            )
        };
        assert_eq!(entry_point, "pybase.yaml", "{mode}: {provenance}");
        assert_eq!(request["args"]["source"], frontend.as_str(), "{mode}");
        steps.push(build_config["llbDefinition"].as_array().map_or(0, Vec::len));
    }
    // mode=max holds the build's steps; mode=min does not.
    assert!(steps[0] > 5, "{steps:?}");
    assert_eq!(steps[1], 0, "{steps:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
