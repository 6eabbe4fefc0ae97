//! Tiers: `pybase bake` builds every target in one bake session; services
//! start with their tier's exact layers and add only what it lacks; on a
//! tier, a service builds its sdist alone; a service pinning a tier's
//! package at another version stops the build.

use std::process::Command;

use crate::harness::{
    assert_venv_packages, bake_spec, build, build_ok, buildx_bake, copy_dir, docker_run,
    e2e_session, failure, fixture, inspect, layers, repo_root, run, stderr, stdout, unique,
    venv_layers,
};

#[test]
fn bake_builds_every_target_from_pybase_bake() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    let dir = repo_root().join("testdata/projects/inventory");
    let generated = run(Command::new(env!("CARGO_BIN_EXE_pybase"))
        .current_dir(&dir)
        .args(["bake", "pybase.yaml"]));
    assert!(generated.status.success(), "{}", failure(&generated));
    let bake_file = std::env::temp_dir().join(format!("pybase-e2e-bake-{}.json", unique()));
    std::fs::write(&bake_file, &generated.stdout).expect("write bake file");

    let printed = run(Command::new("docker")
        .current_dir(&dir)
        .env("REGISTRY", "localhost:5000/e2e/")
        .env("TAG", "baked")
        .args(["buildx", "bake", "--print", "-f"])
        .arg(&bake_file));
    assert!(printed.status.success(), "{}", failure(&printed));
    let printed: serde_json::Value =
        serde_json::from_slice(&printed.stdout).expect("bake --print JSON");
    assert_eq!(
        printed["group"]["default"]["targets"],
        serde_json::json!(["inventory"])
    );
    assert_eq!(
        printed["target"]["inventory"]["tags"],
        serde_json::json!(["localhost:5000/e2e/inventory:baked"])
    );

    buildx_bake(&dir, &bake_file, "baked", &["inventory", "inventory-base"]);
    let base = layers("pybase-e2e/inventory-base:baked");
    let image = layers("pybase-e2e/inventory:baked");
    assert_eq!(
        base[..],
        image[..base.len()],
        "one bake session: the service starts with its base's layers"
    );
    let _ = std::fs::remove_file(&bake_file);
}

#[test]
fn services_start_with_their_tiers_exact_layers_and_add_only_what_the_tier_lacks() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    let dir = fixture("tiered");
    let tag = format!("t{}", unique());
    let image = |name: &str| format!("pybase-e2e/{name}:{tag}");
    // A lock no earlier build saw, so python-base's venv step runs now: a
    // second run would write new file times, hence other layer digests, so
    // equal layers below prove it ran once for all four images.
    let base_lock = dir.join("tiers/base/uv.lock");
    let mut text = std::fs::read_to_string(&base_lock).expect("python-base lock");
    text.push_str(&format!("# e2e run {tag}\n"));
    std::fs::write(&base_lock, text).expect("write lock");
    bake_spec(&dir, &tag, &["default", "tiers"]);

    let base = layers(&image("python-base"));
    let web = layers(&image("python-web"));
    let orders = layers(&image("orders"));
    let billing = layers(&image("billing"));
    assert_eq!(
        web[..base.len()],
        base[..],
        "python-web starts with python-base"
    );
    assert_eq!(
        orders[..web.len()],
        web[..],
        "orders starts with python-web"
    );
    assert_eq!(
        billing[..base.len()],
        base[..],
        "billing starts with python-base"
    );
    // orders adds its venv delta (the layer of attrs, and one of the venv
    // files the install added, none here) and its code.
    assert_eq!(venv_layers(&image("orders"), "orders").len(), 2);
    assert_eq!(
        orders.len(),
        web.len() + 3,
        "orders adds its venv delta and its code"
    );

    // The images run, with the tiers' packages and their own.
    let ran = docker_run(&image("orders"), None, &[]);
    assert!(ran.status.success(), "{}", failure(&ran));
    assert_eq!(
        stdout(&ran),
        "orders: six 1.17.0, packaging 24.2, idna 3.10, attrs 24.3.0"
    );
    let ran = docker_run(&image("billing"), None, &[]);
    assert!(ran.status.success(), "{}", failure(&ran));
    assert_eq!(
        stdout(&ran),
        "billing: six 1.17.0, packaging 24.2, iniconfig 2.0.0"
    );

    // python-web's venv layer holds idna alone: six, which python-base
    // already has at the same version, is not installed again. The
    // service's own delta: attrs, nothing of the tiers.
    assert_venv_packages(
        &image("python-web"),
        "python-web",
        &["idna/"],
        &["six", "packaging"],
    );
    assert_venv_packages(&image("orders"), "orders", &["attrs/"], &["idna", "six"]);

    // Tier images carry the digest of their inputs; services do not.
    let label = "{{index .Config.Labels \"dev.pybase.tier.inputs-digest\"}}";
    let base_inputs = inspect(&image("python-base"), label);
    let web_inputs = inspect(&image("python-web"), label);
    assert!(base_inputs.starts_with("sha256:"), "{base_inputs}");
    assert!(web_inputs.starts_with("sha256:"), "{web_inputs}");
    assert_ne!(base_inputs, web_inputs);
    assert_eq!(inspect(&image("orders"), label), "");
    assert_eq!(inspect(&image("orders"), "{{.Config.User}}"), "1000:1000");
    assert!(
        inspect(&image("orders"), "{{json .Config.Env}}").contains("\"TZ=UTC\""),
        "the tier's env reaches the service"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn on_a_tier_a_service_builds_its_sdist_alone_and_installs_it_offline_in_its_delta() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    // inventory on the tiered fixture's python-base (six and packaging):
    // what its lock adds is psycopg2, which PyPI has as an sdist only.
    let dir = fixture("inventory");
    copy_dir(
        &repo_root().join("testdata/projects/tiered/tiers/base"),
        &dir.join("tier"),
    );
    std::fs::write(
        dir.join("pybase.yaml"),
        "# syntax=localhost:5000/pybase-frontend:dev
version: 1
tiers:
  python-base:
    from: python:3.12-slim
    project: tier
services:
  inventory:
    tier: python-base
    project: .
    system:
      runtime: [libpq5]
      build: [gcc, libpq-dev]
    command: [inventory]
",
    )
    .expect("write spec");
    let tier = "pybase-e2e/python-base:under-inventory";
    let service = "pybase-e2e/inventory:on-a-tier";
    build_ok(&dir, Some("python-base"), tier);
    let (output, _) = build(&dir, Some("inventory"), service);
    let log = stderr(&output);
    assert!(output.status.success(), "{}", failure(&output));
    assert!(
        log.contains("[inventory] build psycopg2 2.9.10 from its sdist"),
        "{log}"
    );
    let delta = "[inventory] venv: 2 packages from uv.lock, adding what the tier lacks, 1 fetched wheel and 1 built sdist, network off, in 2 layers";
    assert!(log.contains(delta), "{log}");

    // The service starts with the tier's layers, then its runtime
    // packages, then a delta of psycopg2 alone (six is the tier's), then
    // its code.
    let (tier_layers, service_layers) = (layers(tier), layers(service));
    assert_eq!(service_layers[..tier_layers.len()], tier_layers[..]);
    assert_eq!(venv_layers(service, "inventory").len(), 2);
    assert_eq!(service_layers.len(), tier_layers.len() + 4);
    assert_venv_packages(service, "inventory", &["psycopg2/"], &["six"]);
    let ran = docker_run(service, None, &[]);
    let text = stdout(&ran);
    assert!(ran.status.success(), "{}", failure(&ran));
    assert!(text.contains("inventory 0.1.0 ready"), "{text}");
    assert!(text.contains("psycopg2 2.9.10"), "{text}");
    assert!(text.contains("six 1.17.0"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_service_pinning_a_tier_package_at_another_version_stops_the_build() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    let dir = fixture("tiered");
    let lock = dir.join("services/orders/uv.lock");
    let text = std::fs::read_to_string(&lock).expect("orders lock");
    let pinned = "name = \"six\"\nversion = \"1.17.0\"";
    assert!(text.contains(pinned), "the fixture pins six 1.17.0");
    std::fs::write(
        &lock,
        text.replace(pinned, "name = \"six\"\nversion = \"1.16.0\""),
    )
    .expect("write lock");
    let (output, _) = build(&dir, Some("orders"), "pybase-e2e/conflict:latest");
    assert!(
        !output.status.success(),
        "a conflicting lock must not build"
    );
    let log = stderr(&output);
    assert!(
        log.contains("services/orders/uv.lock:")
            && log.contains("`six` is locked at 1.16.0 here but at 1.17.0 in tiers/"),
        "{log}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
