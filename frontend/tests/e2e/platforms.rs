//! Platforms and base images: a two-platform build into one index (arm64
//! under qemu emulation); a base Python that `requires-python` excludes; a
//! package without an artifact for the platform; a runtime base without a
//! shell, built with `build-from`.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use crate::harness::{
    BASE_IMAGE, CA_BUNDLE, build, build_with, buildx_command_on, derive_image, docker_run,
    e2e_session, failure, fixture, inspect, layer_contents, layers, run, stderr, stdout, unique,
};

/// The amd64 and arm64 test base images as one index in the loopback
/// registry (`cargo xtask up`'s `multiarch-base` step).
pub const MULTIARCH_BASE: &str = "localhost:5000/pybase-test/python:3.11";

/// Builds the spec in `dir` for linux/amd64 and linux/arm64 on
/// [`MULTIARCH_BASE`], loaded as `image`; asserts it succeeded and returns
/// its log (stderr), after printing its time.
pub fn two_platform_build(dir: &Path, image: &str) -> String {
    let started = Instant::now();
    let output = run(buildx_command_on(dir, image, MULTIARCH_BASE)
        .args(["--platform", "linux/amd64,linux/arm64"])
        .args(["--secret", &format!("id=ca-bundle,src={CA_BUNDLE}")])
        .arg(dir));
    assert!(
        output.status.success(),
        "the two-platform build of {image} failed:\n{}",
        failure(&output)
    );
    eprintln!(
        "two-platform build of {image}: {:.1}s",
        started.elapsed().as_secs_f64()
    );
    stderr(&output)
}

#[test]
fn two_platforms_build_one_index_whose_images_run_their_own_architecture() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    let dir = fixture("selected");
    let image = "pybase-e2e/selected:multi-platform";
    two_platform_build(&dir, image);

    // One image: an index, of these two platforms and no other.
    assert_eq!(
        inspect(image, "{{.Descriptor.MediaType}}"),
        "application/vnd.oci.image.index.v1+json"
    );
    let other = run(Command::new("docker").args([
        "image",
        "inspect",
        "--platform",
        "linux/riscv64",
        image,
    ]));
    assert!(!other.status.success(), "{image} has a linux/riscv64 image");

    for (platform, machine, wheel_arch) in [
        ("linux/amd64", "x86_64", "x86_64"),
        ("linux/arm64", "aarch64", "aarch64"),
    ] {
        let architecture = platform.trim_start_matches("linux/");
        let config = run(Command::new("docker")
            .args(["image", "inspect", "--platform", platform])
            .args(["--format", "{{.Os}}/{{.Architecture}}", image]));
        assert_eq!(stdout(&config), platform, "{}", stderr(&config));

        // Its Python runs as the platform's machine (arm64 under qemu).
        let ran = run(Command::new("docker")
            .args(["run", "--rm", "--platform", platform, image])
            .args(["python", "-c", "import platform; print(platform.machine())"]));
        assert_eq!(stdout(&ran), machine, "{platform}: {}", stderr(&ran));

        // The venv's compiled wheel is the platform's own: PyYAML's C
        // extension and the tag of the wheel it came from.
        let probe = "import importlib.metadata as m, yaml._yaml as y\n\
                     print(y.__file__.rsplit('/', 1)[-1])\n\
                     print(*[l for l in m.distribution('pyyaml').read_text('WHEEL').splitlines() if l.startswith('Tag:')])";
        let ran = run(Command::new("docker")
            .args(["run", "--rm", "--platform", platform, image])
            .args(["python", "-c", probe]));
        let text = stdout(&ran);
        assert!(ran.status.success(), "{platform}: {}", failure(&ran));
        let mut lines = text.lines();
        let extension = lines.next().unwrap_or_default();
        let tag = lines.next().unwrap_or_default();
        assert!(
            extension.contains(&format!("{wheel_arch}-linux-gnu")),
            "{platform} ({architecture}): {text}"
        );
        assert!(
            tag.starts_with("Tag: cp311-cp311-") && tag.ends_with(wheel_arch),
            "{platform}: {text}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_base_python_that_requires_python_excludes_stops_the_build_before_any_step() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    // The test image with the variable the official python images set,
    // telling its real Python (Debian bookworm's 3.11.2).
    let python_image = "pybase-e2e/python-version:3.11";
    derive_image(
        python_image,
        &format!("FROM {BASE_IMAGE}\nENV PYTHON_VERSION=3.11.2\n"),
    );

    // The spec asks for python:3.13-slim, and the build maps that name onto
    // the 3.11 image (a wrong mirror); the project needs 3.12 or newer.
    let dir = fixture("selected");
    let spec = dir.join("pybase.yaml");
    let text = std::fs::read_to_string(&spec).expect("spec");
    std::fs::write(&spec, text.replace("python:3.12-slim", "python:3.13-slim")).expect("spec");
    let pyproject = dir.join("pyproject.toml");
    let text = std::fs::read_to_string(&pyproject).expect("pyproject");
    std::fs::write(
        &pyproject,
        text.replace(
            "requires-python = \">=3.11\"",
            "requires-python = \">=3.12\"",
        ),
    )
    .expect("pyproject");
    let mapping = format!("python:3.13-slim=docker-image://{python_image}");
    let (output, _) = build_with(
        &dir,
        None,
        "pybase-e2e/python:excluded",
        &["--build-context", &mapping],
    );
    let log = stderr(&output);
    assert!(!output.status.success(), "{log}");
    assert!(
        log.contains("pyproject.toml:5:1: the project needs Python >=3.12, but the base image `python:3.13-slim` has Python 3.11.2"),
        "{log}"
    );
    assert!(
        !log.contains("venv:"),
        "no step may run on a Python the project excludes:\n{log}"
    );

    // With requires-python it satisfies, the same base builds and runs.
    std::fs::write(&pyproject, text).expect("pyproject");
    let (output, _) = build_with(
        &dir,
        None,
        "pybase-e2e/python:allowed",
        &["--build-context", &mapping],
    );
    assert!(output.status.success(), "{}", failure(&output));
    let ran = docker_run("pybase-e2e/python:allowed", None, &[]);
    assert!(stdout(&ran).contains("six: yes"), "{}", stdout(&ran));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_package_without_an_artifact_for_the_platform_stops_the_build_at_its_lock_line() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    // The lock as if made where no sdist was published and only arm64
    // wheels of pyyaml exist: its sdist and every x86_64 wheel removed.
    let dir = fixture("selected");
    let lock_path = dir.join("uv.lock");
    let lock = std::fs::read_to_string(&lock_path).expect("uv.lock");
    let mut in_pyyaml = false;
    let mut kept = Vec::new();
    for line in lock.lines() {
        if line.starts_with("name = ") {
            in_pyyaml = line == "name = \"pyyaml\"";
        }
        if in_pyyaml && (line.starts_with("sdist = ") || line.contains("x86_64")) {
            continue;
        }
        kept.push(line);
    }
    assert!(
        kept.len() < lock.lines().count(),
        "the fixture locks pyyaml"
    );
    std::fs::write(&lock_path, kept.join("\n") + "\n").expect("uv.lock");
    let line = kept
        .iter()
        .position(|l| *l == "name = \"pyyaml\"")
        .map(|index| index + 1)
        .expect("pyyaml's line");

    let (output, _) = build(&dir, None, "pybase-e2e/artifacts:none");
    let log = stderr(&output);
    assert!(!output.status.success(), "{log}");
    assert!(
        log.contains(&format!(
            "uv.lock:{line}:1: `pyyaml` 6.0.2 has no artifact for CPython 3.11 with glibc 2.36 on linux/amd64: the lock has no sdist, and wheels for cp311-cp311-macosx"
        )),
        "{log}"
    );
    assert!(!log.contains("venv:"), "nothing may run:\n{log}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A runtime base without a shell or package manager (as distroless is):
/// the test image with its shells, apt, dpkg and useradd removed.
const SHELL_LESS_IMAGE: &str = "pybase-e2e/python-shell-less:3.11";

#[test]
fn a_base_without_a_shell_builds_with_build_from_and_runs() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    derive_image(
        SHELL_LESS_IMAGE,
        &format!(
            "FROM {BASE_IMAGE}\nRUN [\"/usr/bin/rm\", \"-f\", \"/usr/bin/sh\", \"/usr/bin/dash\", \"/usr/bin/bash\", \"/usr/bin/apt\", \"/usr/bin/apt-get\", \"/usr/bin/dpkg\", \"/usr/sbin/useradd\", \"/usr/sbin/groupadd\"]\n"
        ),
    );
    let no_shell = docker_run(SHELL_LESS_IMAGE, Some("/bin/sh"), &["-c", "true"]);
    assert!(
        !no_shell.status.success(),
        "the test base still has a shell"
    );

    // The tiered fixture on that base, built in the test image (mapped from
    // `python:3.12-slim`): no runtime packages, and a service user of its own.
    let dir = fixture("tiered");
    let spec = dir.join("pybase.yaml");
    let text = std::fs::read_to_string(&spec).expect("spec");
    let text = text
        .replace(
            "    from: python:3.12-slim\n",
            "    from: gcr.io/distroless/python3-debian12\n    build-from: python:3.12-slim\n",
        )
        .replace("    system:\n      runtime: [tzdata]\n", "")
        .replace(
            "    command: [orders]\n",
            "    command: [orders]\n    user: {name: orders, uid: 1001}\n",
        );
    assert!(text.contains("build-from") && !text.contains("tzdata"));
    std::fs::write(&spec, text).expect("spec");
    let mapping = format!("gcr.io/distroless/python3-debian12=docker-image://{SHELL_LESS_IMAGE}");
    let tag = format!("pybase-e2e/shell-less:{}", unique());
    let (output, _) = build_with(&dir, Some("orders"), &tag, &["--build-context", &mapping]);
    assert!(output.status.success(), "{}", failure(&output));

    // It runs, with the tiers' packages and its own, as its own user, and
    // still has no shell.
    let ran = docker_run(&tag, None, &[]);
    assert!(ran.status.success(), "{}", failure(&ran));
    assert_eq!(
        stdout(&ran),
        "orders: six 1.17.0, packaging 24.2, idna 3.10, attrs 24.3.0"
    );
    let who = docker_run(
        &tag,
        Some("python"),
        &[
            "-c",
            "import os, pwd, grp; print(pwd.getpwuid(os.getuid()).pw_name, os.getuid(), os.getgid(), os.getcwd(), pwd.getpwuid(1000).pw_name, grp.getgrgid(1001).gr_name, sep=' ')",
        ],
    );
    assert!(who.status.success(), "{}", failure(&who));
    assert_eq!(stdout(&who), "orders 1001 1001 /app app orders");
    assert_eq!(inspect(&tag, "{{.Config.User}}"), "1001:1001");
    let shell = docker_run(&tag, Some("/bin/sh"), &["-c", "true"]);
    assert!(!shell.status.success(), "the image has a shell");

    // The base's exact layers, then: python-base's user and venv,
    // python-web's venv delta (same user: no system layer), orders' user,
    // its venv delta and its code.
    let base = layers(SHELL_LESS_IMAGE);
    let image = layers(&tag);
    assert_eq!(
        image[..base.len()],
        base[..],
        "starts with the base's layers"
    );
    assert_eq!(image.len(), base.len() + 6, "{image:#?}");
    let contents = layer_contents(&tag, &[base.len(), base.len() + 3]);
    for (entries, _) in &contents {
        let mut entries: Vec<&str> = entries.iter().map(String::as_str).collect();
        entries.sort_unstable();
        assert_eq!(
            entries,
            ["app/", "etc/", "etc/group", "etc/passwd"],
            "a user layer holds the user and the working directory alone"
        );
    }

    // A build image whose Python is elsewhere than the runtime image's is
    // refused before the venv is built.
    let elsewhere = "pybase-e2e/python-elsewhere:3.11";
    derive_image(
        elsewhere,
        &format!(
            "FROM {BASE_IMAGE}\nRUN mkdir -p /opt/python/bin && mv /usr/bin/python3.11 /opt/python/bin/ && ln -sf /opt/python/bin/python3.11 /usr/bin/python3\n"
        ),
    );
    let mut command = buildx_command_on(&dir, &format!("{tag}-elsewhere"), elsewhere);
    command
        .args(["--secret", &format!("id=ca-bundle,src={CA_BUNDLE}")])
        .args(["--target", "orders", "--build-context", &mapping])
        .arg(&dir);
    let refused = run(&mut command);
    let log = stderr(&refused);
    assert!(!refused.status.success(), "{log}");
    assert!(
        log.contains("the runtime image has no /opt/python/bin/python3.11"),
        "{log}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
