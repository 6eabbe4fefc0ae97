//! `cargo xtask release`: the frontend image for linux/amd64 and linux/arm64 as one index,
//! tagged `X.Y.Z`, `X.Y` and `X` (as docker/dockerfile is), loaded or pushed.
//!
//! Both binaries are cross-compiled on the host, static (crt-static), never under emulation: the
//! arm64 one with rustup's `aarch64-unknown-linux-gnu` target and Debian's `aarch64-linux-gnu-gcc`
//! as its linker (`xtask/provision.sh cross-toolchain` installs them when they are missing). A
//! multi-platform `docker buildx build` of `Dockerfile.frontend`'s `multiarch` target then only
//! copies each platform's binary (`TARGETARCH`) into the scratch image, so no build step runs an
//! arm64 program. The host is x86_64 Linux, as CI's and GitHub's runners are.
//!
//! The version is the workspace's (`[workspace.package] version` in Cargo.toml): a different
//! `--version` is refused, so that `pybase --version` and the image's tag and
//! `org.opencontainers.image.version` label are one number. `pybase init` names the major tag of
//! the released repository (`llb_gen::init::DEFAULT_FRONTEND_IMAGE`).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use semver::Version;

use crate::{cmd, up};

/// The image's name under the registry path given with `--registry`.
pub const IMAGE_NAME: &str = "pybase-frontend";
/// The workspace's version, which every crate of it inherits: what `pybase --version` prints.
const WORKSPACE_VERSION: &str = env!("CARGO_PKG_VERSION");
/// The frontend image's Dockerfile and its target that copies prebuilt per-platform binaries.
const FRONTEND_DOCKERFILE: &str = "Dockerfile.frontend";
const MULTIARCH_TARGET: &str = "multiarch";
/// The package holding the frontend binary, and the binary's name.
const FRONTEND_PACKAGE: &str = "pybase";
/// Each platform's architecture (Docker's `TARGETARCH`, a directory of the build context) and
/// the Rust target its binary is compiled for.
const PLATFORMS: [(&str, &str); 2] = [
    ("amd64", "x86_64-unknown-linux-gnu"),
    ("arm64", "aarch64-unknown-linux-gnu"),
];
/// The cross target that rustup may lack, and the linker cargo uses for it.
const CROSS_TARGET: &str = "aarch64-unknown-linux-gnu";
const CROSS_LINKER: &str = "aarch64-linux-gnu-gcc";

/// What to release, from the command line.
pub struct Request<'a> {
    /// The registry path the image goes under, e.g. `ghcr.io/pybase-dev`.
    pub registry: &'a str,
    /// The version to tag, `X.Y.Z`: the workspace's.
    pub version: &'a str,
    /// Push the index; without it, it is loaded into the local image store (which then needs to
    /// be the containerd one: the classic store holds no multi-platform image).
    pub push: bool,
}

/// Checks the version, cross-compiles both binaries, builds the index and loads or pushes it;
/// prints the tags (and, when pushed, the index's digest) on stdout.
pub fn run(root: &Path, request: &Request<'_>) -> Result<()> {
    let tags = cmd::step("release: version and tags", || {
        image_tags(request.registry, request.version, WORKSPACE_VERSION)
    })?;
    cmd::step("release: cross toolchain", || cross_toolchain(root))?;
    let context = up::target_dir(root).join("release-context");
    if context.exists() {
        std::fs::remove_dir_all(&context)
            .with_context(|| format!("could not remove `{}`", context.display()))?;
    }
    for (arch, triple) in PLATFORMS {
        cmd::step(
            &format!("release: static frontend binary for linux/{arch}"),
            || static_binary(root, triple, &context.join(arch)),
        )?;
    }
    let digest = cmd::step(
        "release: image index for linux/amd64 and linux/arm64",
        || image_index(root, &context, &tags, request),
    )?;
    for tag in &tags {
        match &digest {
            Some(digest) => println!("{tag}@{digest}"),
            None => println!("{tag}"),
        }
    }
    Ok(())
}

/// The image's tags for `version` under `registry`: `X.Y.Z`, `X.Y` and `X`, or only the full
/// version for a pre-release (a `1.2.0-rc.1` is not what `1.2` or `1` should name). Refuses a
/// version that is not `workspace`'s, or not a semantic version a Docker tag can hold.
pub fn image_tags(registry: &str, version: &str, workspace: &str) -> Result<Vec<String>> {
    let registry = registry.trim_end_matches('/');
    if registry.is_empty() || registry.contains(char::is_whitespace) || registry.contains('@') {
        bail!(
            "--registry `{registry}` is not a registry path: give one such as `ghcr.io/OWNER` or `localhost:5000/NAME` (the image is REGISTRY/{IMAGE_NAME})"
        );
    }
    let parsed = Version::parse(version).with_context(|| {
        format!("--version `{version}` is not a semantic version X.Y.Z (no leading `v`)")
    })?;
    if version != workspace {
        bail!(
            "--version {version} is not the workspace's version {workspace} ([workspace.package] version in Cargo.toml): \
             the image's tag and `pybase --version` must be one number; set the workspace's version to {version} first, or release {workspace}"
        );
    }
    if !parsed.build.is_empty() {
        bail!(
            "--version {version} has build metadata (`+{}`): a Docker tag cannot hold `+`",
            parsed.build
        );
    }
    let repository = format!("{registry}/{IMAGE_NAME}");
    let mut tags = vec![format!("{repository}:{version}")];
    if parsed.pre.is_empty() {
        tags.push(format!("{repository}:{}.{}", parsed.major, parsed.minor));
        tags.push(format!("{repository}:{}", parsed.major));
    }
    Ok(tags)
}

/// Makes sure rustup has the arm64 target and the cross linker runs; installs them through the
/// provisioning script (as root) only when one is missing.
fn cross_toolchain(root: &Path) -> Result<()> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .current_dir(root)
        .output()
        .context(
            "could not run `rustup target list --installed`: the arm64 target comes from rustup",
        )?;
    let has_target = String::from_utf8_lossy(&installed.stdout)
        .lines()
        .any(|line| line.trim() == CROSS_TARGET);
    let has_linker = Command::new(CROSS_LINKER)
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success());
    if has_target && has_linker {
        eprintln!("release: Rust target {CROSS_TARGET} and linker {CROSS_LINKER} are installed");
        return Ok(());
    }
    up::provision(root, &["cross-toolchain"])
}

/// Builds the frontend as a static binary for `triple` and copies it to `dir/pybase`.
fn static_binary(root: &Path, triple: &str, dir: &Path) -> Result<()> {
    cmd::run(
        cmd::cargo()
            .current_dir(root)
            .env("RUSTFLAGS", "-C target-feature=+crt-static")
            .env(
                "CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER",
                CROSS_LINKER,
            )
            .args(["build", "--locked", "--release", "--target", triple])
            .args(["--package", FRONTEND_PACKAGE]),
    )?;
    let binary = up::target_dir(root)
        .join(triple)
        .join("release")
        .join(FRONTEND_PACKAGE);
    std::fs::create_dir_all(dir)
        .with_context(|| format!("could not create `{}`", dir.display()))?;
    let to: PathBuf = dir.join(FRONTEND_PACKAGE);
    std::fs::copy(&binary, &to).with_context(|| {
        format!(
            "could not copy `{}` to `{}`",
            binary.display(),
            to.display()
        )
    })?;
    Ok(())
}

/// The multi-platform build of the `multiarch` target from `context` (one directory of binaries
/// per architecture), tagged with `tags`, pushed or loaded. Returns the pushed index's digest.
fn image_index(
    root: &Path,
    context: &Path,
    tags: &[String],
    request: &Request<'_>,
) -> Result<Option<String>> {
    let metadata = context.join("metadata.json");
    let platforms = PLATFORMS
        .iter()
        .map(|(arch, _)| format!("linux/{arch}"))
        .collect::<Vec<_>>()
        .join(",");
    let mut build = Command::new("docker");
    build
        .args(["buildx", "build", "--progress", "plain"])
        .arg("-f")
        .arg(root.join(FRONTEND_DOCKERFILE))
        .args(["--target", MULTIARCH_TARGET, "--platform", &platforms])
        .args(["--build-arg", &format!("VERSION={}", request.version)])
        .arg("--metadata-file")
        .arg(&metadata);
    for tag in tags {
        build.args(["-t", tag]);
    }
    build.arg(if request.push { "--push" } else { "--load" });
    cmd::run(build.arg(context))?;
    if !request.push {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&metadata)
        .with_context(|| format!("buildx wrote no metadata file `{}`", metadata.display()))?;
    let json: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("`{}` is not JSON", metadata.display()))?;
    let digest = json
        .get("containerimage.digest")
        .and_then(serde_json::Value::as_str)
        .with_context(|| format!("`{}` has no containerimage.digest", metadata.display()))?;
    Ok(Some(digest.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_release_is_tagged_with_its_version_its_minor_and_its_major() {
        let tags = image_tags("localhost:5000/x/", "1.4.2", "1.4.2").expect("tags");
        assert_eq!(
            tags,
            [
                "localhost:5000/x/pybase-frontend:1.4.2",
                "localhost:5000/x/pybase-frontend:1.4",
                "localhost:5000/x/pybase-frontend:1",
            ]
        );
    }

    #[test]
    fn a_pre_release_is_tagged_with_its_full_version_only() {
        let tags = image_tags("ghcr.io/o", "2.0.0-rc.1", "2.0.0-rc.1").expect("tags");
        assert_eq!(tags, ["ghcr.io/o/pybase-frontend:2.0.0-rc.1"]);
    }

    #[test]
    fn a_version_other_than_the_workspaces_is_refused_naming_both() {
        let error = image_tags("ghcr.io/o", "0.2.0", "0.1.0").expect_err("refused");
        let message = error.to_string();
        assert!(
            message.contains("--version 0.2.0 is not the workspace's version 0.1.0"),
            "{message}"
        );
        assert!(message.contains("Cargo.toml"), "{message}");
    }

    #[test]
    fn a_version_that_is_not_semver_or_a_bad_registry_is_refused() {
        let error = image_tags("ghcr.io/o", "v0.1.0", "0.1.0").expect_err("refused");
        assert!(
            error.to_string().contains("not a semantic version"),
            "{error}"
        );
        let error = image_tags("", "0.1.0", "0.1.0").expect_err("refused");
        assert!(
            error.to_string().contains("is not a registry path"),
            "{error}"
        );
        let error = image_tags("ghcr.io/o", "0.1.0+git", "0.1.0+git").expect_err("refused");
        assert!(error.to_string().contains("build metadata"), "{error}");
    }
}
