//! The seed specs of `testdata/seeds`: each is built in one bake session
//! and checked by [`build_seed`] for what every seed must show, then for
//! what is its own.

use crate::harness::{
    assert_venv_packages, bake_spec, copy_dir, docker_run, e2e_session, failure, inspect,
    layer_contents, layers, repo_root, stdout, unique,
};

/// Builds the seed spec `testdata/seeds/NAME` (every tier and service in
/// one bake session), then checks what every seed must show: each tier
/// starts with its parent tier's exact layers and each service with its
/// tier's; every service runs and prints the versions of `expected`; no
/// image holds a compiler. Returns the image name of a target.
fn build_seed(name: &str, expected: &[(&str, &str)]) -> impl Fn(&str) -> String {
    let source = repo_root().join("testdata/seeds").join(name);
    let dir = std::env::temp_dir().join(format!("pybase-e2e-seed-{name}-{}", unique()));
    copy_dir(&source, &dir);
    let tag = format!("{name}-{}", unique());
    bake_spec(&dir, &tag, &["default", "tiers"]);
    let image = move |target: &str| format!("pybase-e2e/{target}:{tag}");

    let text = std::fs::read(dir.join("pybase.yaml")).expect("seed spec");
    let spec = llb_gen::spec::parse("pybase.yaml", &text).expect("the seed spec is valid");
    let starts_with = |upper: &str, lower: &str| {
        let (upper_layers, lower_layers) = (layers(&image(upper)), layers(&image(lower)));
        assert!(
            upper_layers.len() > lower_layers.len()
                && upper_layers[..lower_layers.len()] == lower_layers[..],
            "{name}: `{upper}` does not start with the layers of `{lower}`"
        );
    };
    for tier in spec.tiers.values() {
        if let llb_gen::spec::TierBase::Tier(parent) = &tier.from {
            starts_with(&tier.level.name, parent);
        }
    }
    for service in spec.services.values() {
        let tier = service
            .tier
            .as_deref()
            .expect("seed services stand on tiers");
        starts_with(&service.level.name, tier);
    }
    assert_eq!(
        expected.len(),
        spec.services.len(),
        "{name}: one expectation per service"
    );
    for (service, versions) in expected {
        let ran = docker_run(&image(service), None, &[]);
        assert!(ran.status.success(), "{name}/{service}: {}", failure(&ran));
        assert_eq!(stdout(&ran), format!("{service}: {versions}"), "{name}");
    }
    for target in spec.tiers.keys().chain(spec.services.keys()) {
        let probe = docker_run(
            &image(target),
            Some("/bin/sh"),
            &[
                "-c",
                "for tool in gcc cc g++ make; do command -v $tool; done; true",
            ],
        );
        assert_eq!(stdout(&probe), "", "{name}: `{target}` holds build tools");
    }
    let _ = std::fs::remove_dir_all(&dir);
    image
}

#[test]
fn seed_000_one_ai_base_with_runtime_libraries_and_arcuser() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    let image = build_seed(
        "000-python-ai",
        &[
            ("sherlock-brain", "psycopg2 2.9.10, structlog 24.4.0"),
            ("scarlett-voice", "pyyaml 6.0.2"),
        ],
    );
    let user = docker_run(&image("sherlock-brain"), Some("id"), &["-un"]);
    assert_eq!(stdout(&user), "arcuser");
    let wget = docker_run(
        &image("scarlett-voice"),
        Some("/bin/sh"),
        &["-c", "command -v wget && command -v curl"],
    );
    assert_eq!(
        stdout(&wget),
        "/usr/bin/wget\n/usr/bin/curl",
        "the tier's runtime tools"
    );
    assert!(
        inspect(&image("sherlock-brain"), "{{json .Config.Healthcheck}}").contains("--spider"),
        "the seed's health check"
    );
}

#[test]
fn seed_001_every_dependency_in_the_base_and_the_app_layer_is_the_code() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    let image = build_seed(
        "001-deps-in-base",
        &[(
            "production-control",
            "jinja2 3.1.6, markupsafe 3.0.4, python-dateutil 2.9.0.post0",
        )],
    );
    let base = layers(&image("production-base"));
    let app = layers(&image("production-control"));
    assert_eq!(
        app.len(),
        base.len() + 1,
        "the app adds one layer: its code"
    );
    let [(code, bytes)] = layer_contents(&image("production-control"), &[base.len()])
        .try_into()
        .expect("one layer");
    assert!(
        code.iter()
            .all(|e| !e.contains("jinja2") && !e.contains("dateutil")),
        "dependencies in the app layer: {code:?}"
    );
    assert!(bytes < 64 * 1024, "the app layer is {bytes} bytes");
}

#[test]
fn seed_002_web_and_ml_tiers_on_one_base_without_duplicates() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    let image = build_seed(
        "002-web-and-ml",
        &[
            ("discord", "httpx 0.28.1, pydantic 2.10.6, pynacl 1.5.0"),
            (
                "stt",
                "numpy 2.2.6, python-multipart 0.0.20, scipy 1.15.3, structlog 24.4.0",
            ),
        ],
    );
    assert_venv_packages(&image("stt"), "stt", &["multipart"], &["numpy", "scipy"]);
}

#[test]
fn seed_003_a_chain_of_three_tiers_with_env_defaults() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    let image = build_seed(
        "003-kafka-fastapi",
        &[
            (
                "api",
                "fastapi 0.115.12, kafka-python 2.0.2, orjson 3.10.15, python-multipart 0.0.20",
            ),
            (
                "ingest",
                "kafka-python 2.0.2, orjson 3.10.15, tenacity 9.0.0",
            ),
        ],
    );
    let env = inspect(&image("api"), "{{json .Config.Env}}");
    for var in [
        "TZ=UTC",
        "LOOM_KAFKA_BOOTSTRAP_SERVERS=localhost:9092",
        "LOOM_LOG_LEVEL=INFO",
    ] {
        assert!(env.contains(var), "{var} missing from {env}");
    }
    let user = docker_run(&image("ingest"), Some("id"), &["-un"]);
    assert_eq!(stdout(&user), "appuser");
}

#[test]
fn seed_004_cpu_ml_gpu_with_a_native_library_compiled_in_the_builder() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    let image = build_seed(
        "004-cpu-ml-gpu",
        &[
            ("ai", "msgpack 1.1.0, numpy 2.2.6, six 1.17.0"),
            ("api", "idna 3.10, msgpack 1.1.0"),
            ("training", "numpy 2.2.6, packaging 24.2, scipy 1.15.3"),
        ],
    );
    // Built from its sdist here, not a manylinux wheel from PyPI.
    let wheel = docker_run(
        &image("cpu"),
        Some("/bin/sh"),
        &[
            "-c",
            "grep ^Tag: /opt/venv/lib/python3*/site-packages/msgpack-*.dist-info/WHEEL",
        ],
    );
    let tag = stdout(&wheel);
    assert!(
        tag.starts_with("Tag: cp3") && tag.contains("-linux_") && !tag.contains("manylinux"),
        "msgpack was not compiled here: {tag}"
    );
}
