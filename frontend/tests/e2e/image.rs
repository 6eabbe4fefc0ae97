//! What the spec says reaches the image, and what it gets wrong stops the
//! build: bad input located at file, line and column; `--call targets` and
//! `--call check`; the image's config and labels; a version stamped from a
//! build arg; a base image from an OCI layout directory; and the
//! frontend's own image.

use std::process::Command;

use crate::harness::{
    BASE_IMAGE, CA_BUNDLE, build, build_with, buildx_command_mapped, containerd_image_store,
    docker_run, e2e_session, failure, fixture, inspect, layer_contents, layers, repo_root, run,
    stderr, stdout, unique,
};

#[test]
fn bad_input_stops_the_build_with_file_line_and_column() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    let dir = fixture("inventory");
    let spec_path = dir.join("pybase.yaml");
    let spec = std::fs::read_to_string(&spec_path).expect("spec");

    // An unknown key.
    std::fs::write(&spec_path, spec.replace("    command:", "    comand:")).expect("write spec");
    let (output, _) = build(&dir, Some("inventory"), "pybase-e2e/bad:1");
    assert!(!output.status.success());
    let err = stderr(&output);
    assert!(
        err.contains("pybase.yaml:10:5: unknown key `comand`"),
        "{err}"
    );
    assert!(err.contains("did you mean `command`?"), "{err}");

    // An unknown target.
    std::fs::write(&spec_path, &spec).expect("write spec");
    let (output, _) = build(&dir, Some("inventroy"), "pybase-e2e/bad:2");
    assert!(!output.status.success());
    let err = stderr(&output);
    assert!(
        err.contains("unknown target `inventroy`") && err.contains("did you mean `inventory`?"),
        "{err}"
    );

    // A missing lock.
    std::fs::remove_file(dir.join("uv.lock")).expect("remove lock");
    let (output, _) = build(&dir, Some("inventory"), "pybase-e2e/bad:3");
    assert!(!output.status.success());
    let err = stderr(&output);
    assert!(
        err.contains("pybase.yaml:6:14: `uv.lock` not found in the build context"),
        "{err}"
    );
    assert!(err.contains("uv lock"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn call_targets_lists_the_tiers_services_and_their_bases() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    let dir = repo_root().join("testdata/projects/inventory");
    let output = run(Command::new("docker")
        .args(["buildx", "build", "--call", "targets", "-f"])
        .arg(dir.join("pybase.yaml"))
        .arg(&dir));
    assert!(output.status.success(), "{}", failure(&output));
    let listing = stdout(&output);
    assert!(listing.contains("inventory (default)"), "{listing}");
    assert!(listing.contains("inventory-base"), "{listing}");

    // Tiers are targets too, each with what it builds on.
    let dir = repo_root().join("testdata/projects/tiered");
    let output = run(Command::new("docker")
        .args(["buildx", "build", "--call", "targets", "-f"])
        .arg(dir.join("pybase.yaml"))
        .arg(&dir));
    assert!(output.status.success(), "{}", failure(&output));
    let listing = stdout(&output);
    // --call check: the lint warnings, pyproject.toml lines included, and
    // a failing exit status because there are some.
    let checked = run(Command::new("docker")
        .args(["buildx", "build", "--call", "check", "-f"])
        .arg(dir.join("pybase.yaml"))
        .arg(&dir));
    assert!(!checked.status.success(), "warnings fail --call check");
    let report = format!("{}{}", stdout(&checked), stderr(&checked));
    assert!(
        report.contains("PackageInTierAndService")
            && report.contains("services/orders/pyproject.toml"),
        "{report}"
    );

    for line in [
        "python-base",
        "tier image (python:3.12-slim + system + venv)",
        "tier image (tier python-base + system + venv)",
        "service image (tier python-web + venv + code)",
    ] {
        assert!(listing.contains(line), "{line:?} missing from:\n{listing}");
    }
}

#[test]
fn the_image_config_comes_from_the_spec() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    let dir = fixture("inventory");
    let spec_path = dir.join("pybase.yaml");
    let mut spec = std::fs::read_to_string(&spec_path).expect("spec");
    spec.push_str(
        "    env: {TZ: UTC, LOG_LEVEL: debug}
    workdir: /srv/inventory
    ports: [8000]
    healthcheck:
      test: [python, -c, 'import inventory']
      interval: 30s
      timeout: 5s
      start-period: 10s
      retries: 3
    stop-signal: SIGINT
    labels: {team: stock}
",
    );
    std::fs::write(&spec_path, spec).expect("write spec");
    let image = "pybase-e2e/inventory:config";
    // buildx passes the SOURCE_DATE_EPOCH variable as this build arg.
    let (output, _) = build_with(
        &dir,
        None,
        image,
        &[
            "--label",
            "extra=1",
            "--build-arg",
            "SOURCE_DATE_EPOCH=1700000000",
            // The seeds' build args for the OCI labels.
            "--build-arg",
            "VCS_REF=feedbeef",
            "--build-arg",
            "VCS_URL=https://example.com/stock.git",
        ],
    );
    assert!(output.status.success(), "{}", failure(&output));

    let env = inspect(image, "{{json .Config.Env}}");
    assert!(
        env.contains(r#""TZ=UTC""#) && env.contains(r#""LOG_LEVEL=debug""#),
        "{env}"
    );
    assert_eq!(inspect(image, "{{.Config.WorkingDir}}"), "/srv/inventory");
    assert_eq!(
        inspect(image, "{{json .Config.ExposedPorts}}"),
        r#"{"8000/tcp":{}}"#
    );
    assert_eq!(
        inspect(image, "{{json .Config.Healthcheck}}"),
        r#"{"Test":["CMD","python","-c","import inventory"],"Interval":30000000000,"Timeout":5000000000,"StartPeriod":10000000000,"Retries":3}"#
    );
    assert_eq!(inspect(image, "{{.Config.StopSignal}}"), "SIGINT");
    let labels: serde_json::Value =
        serde_json::from_str(&inspect(image, "{{json .Config.Labels}}")).expect("labels");
    assert_eq!(labels["team"], "stock");
    assert_eq!(labels["extra"], "1");
    assert_eq!(labels["org.opencontainers.image.version"], "0.1.0");
    assert_eq!(
        labels["org.opencontainers.image.created"],
        "2023-11-14T22:13:20Z"
    );
    assert_eq!(labels["org.opencontainers.image.title"], "inventory");
    assert_eq!(labels["org.opencontainers.image.revision"], "feedbeef");
    assert_eq!(
        labels["org.opencontainers.image.source"],
        "https://example.com/stock.git"
    );
    // BUILD_DATE, when given, is the creation label.
    let dated = "pybase-e2e/inventory:dated";
    let (output, _) = build_with(
        &dir,
        None,
        dated,
        &["--build-arg", "BUILD_DATE=2024-01-31T13:00:00+01:00"],
    );
    assert!(output.status.success(), "{}", failure(&output));
    assert_eq!(
        inspect(
            dated,
            "{{index .Config.Labels \"org.opencontainers.image.created\"}}"
        ),
        "2024-01-31T12:00:00Z"
    );
    // The working directory exists, and the app does not own it.
    let pwd = docker_run(
        image,
        Some("/bin/sh"),
        &["-c", "pwd; stat -c %u /srv/inventory"],
    );
    assert_eq!(stdout(&pwd), "/srv/inventory\n0");
    // The health check's command works in the image.
    assert!(
        docker_run(image, Some("python"), &["-c", "import inventory"])
            .status
            .success()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_version_from_a_build_arg_stamps_a_vcs_versioned_project_without_git() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    let dir = fixture("stamped");
    assert!(!dir.join(".git").exists(), "the context must have no .git");

    // Without the build arg the spec refers to, the build stops at the
    // spec's line, before anything runs.
    let (output, _) = build(&dir, None, "pybase-e2e/stamped:none");
    assert!(!output.status.success(), "an undefined build arg built");
    let err = stderr(&output);
    assert!(
        err.contains("pybase.yaml:8:14: `${VERSION}` refers to the build arg `VERSION`"),
        "{err}"
    );

    // With it, hatch-vcs gets the version, the package's metadata records
    // it and the image's OCI label says it; another arg fills a label.
    let image = "pybase-e2e/stamped:1.4.2";
    let (output, _) = build_with(
        &dir,
        None,
        image,
        &[
            "--build-arg",
            "VERSION=1.4.2",
            "--build-arg",
            "CHANNEL=beta",
        ],
    );
    assert!(output.status.success(), "{}", failure(&output));
    let ran = docker_run(image, None, &[]);
    assert_eq!(stdout(&ran).trim(), "stamped 1.4.2", "{}", stderr(&ran));
    assert_eq!(
        inspect(
            image,
            "{{index .Config.Labels \"org.opencontainers.image.version\"}} {{index .Config.Labels \"com.example.release-channel\"}}"
        )
        .trim(),
        "1.4.2 beta"
    );
    // The venv does not depend on the version: a new one reruns only the
    // code step.
    let layers_before = layers(image);
    let next = "pybase-e2e/stamped:1.4.3";
    let (output, _) = build_with(
        &dir,
        None,
        next,
        &[
            "--build-arg",
            "VERSION=1.4.3",
            "--build-arg",
            "CHANNEL=beta",
        ],
    );
    assert!(output.status.success(), "{}", failure(&output));
    let layers_after = layers(next);
    assert_eq!(layers_before.len(), layers_after.len());
    let differing: Vec<usize> = (0..layers_after.len())
        .filter(|&i| layers_before[i] != layers_after[i])
        .collect();
    assert_eq!(
        differing,
        [layers_after.len() - 1],
        "only the code layer differs"
    );
    let ran = docker_run(next, None, &[]);
    assert_eq!(stdout(&ran).trim(), "stamped 1.4.3");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_frontend_image_is_one_small_static_layer_run_as_nobody_with_its_labels() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    let image = "pybase-frontend:dev";
    // FROM scratch: one layer, the binary.
    assert_eq!(layers(image).len(), 1, "only the binary's layer");
    let [(entries, bytes)] = layer_contents(image, &[0]).try_into().expect("one layer");
    assert_eq!(entries, ["pybase"], "nothing but the static binary");
    assert!(bytes < 10_000_000, "the frontend image is {bytes} bytes");
    assert_eq!(inspect(image, "{{.Config.User}}"), "65534:65534");
    assert_eq!(
        inspect(image, "{{json .Config.Entrypoint}}"),
        r#"["/pybase","frontend"]"#
    );
    assert_eq!(
        inspect(
            image,
            "{{index .Config.Labels \"moby.buildkit.frontend.network.none\"}}"
        ),
        "true"
    );
    let caps = inspect(
        image,
        "{{index .Config.Labels \"moby.buildkit.frontend.caps\"}}",
    );
    assert!(
        caps.contains("moby.buildkit.frontend.subrequests"),
        "{caps}"
    );
}

#[test]
fn a_base_image_from_an_oci_layout_directory_replaces_the_from_image() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    // The test base image as an OCI layout directory, as `docker save`
    // writes it on the containerd image store (tagged by its tag).
    let layout = std::env::temp_dir().join(format!("pybase-e2e-oci-layout-{}", unique()));
    std::fs::create_dir_all(&layout).expect("layout dir");
    let saved = layout.join("image.tar");
    run(Command::new("docker")
        .args(["save", "-o"])
        .arg(&saved)
        .arg(BASE_IMAGE));
    run(Command::new("tar")
        .arg("-xf")
        .arg(&saved)
        .arg("-C")
        .arg(&layout));
    std::fs::remove_file(&saved).expect("remove the tar");
    let digest = inspect(BASE_IMAGE, "{{.Id}}");
    let tag = BASE_IMAGE
        .rsplit(':')
        .next()
        .expect("the test image has a tag");
    let dir = fixture("plain-app");
    let build_from = |reference: &str| {
        let mut command = buildx_command_mapped(
            &dir,
            "pybase-e2e/oci-layout:1",
            &format!("oci-layout://{}{reference}", layout.display()),
        );
        command.args(["--secret", &format!("id=ca-bundle,src={CA_BUNDLE}")]);
        run(command.arg(&dir))
    };

    let output = build_from(&format!(":{tag}"));
    if !containerd_image_store() {
        // Docker's classic store's BuildKit reads no OCI layout: said at
        // the `from:` line, with what to do instead.
        assert!(!output.status.success());
        let err = stderr(&output);
        assert!(
            err.contains("pybase.yaml:5:11") && err.contains("`docker load` the image"),
            "{err}"
        );
        return;
    }
    assert!(output.status.success(), "{}", failure(&output));
    // The image is the layout's, named after the image it replaces: no
    // registry or image store has that name.
    assert!(
        stderr(&output).contains(&format!(
            "resolve base image docker.io/library/python:3.12-slim@{}",
            digest.trim()
        )),
        "{}",
        failure(&output)
    );
    let ran = docker_run("pybase-e2e/oci-layout:1", None, &[]);
    assert!(
        stdout(&ran).contains("plain-app ready with six"),
        "{}",
        failure(&ran)
    );

    // A directory that is not an OCI layout is a local context: it cannot
    // stand for an image, and the error says so at the `from:` line.
    let mut command =
        buildx_command_mapped(&dir, "pybase-e2e/oci-layout:2", &dir.display().to_string());
    let output = run(command.arg(&dir));
    assert!(!output.status.success());
    let err = stderr(&output);
    assert!(
        err.contains("pybase.yaml:5:11") && err.contains("oci-layout:///path/to/layout"),
        "{err}"
    );
}
