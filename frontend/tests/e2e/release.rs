//! The released frontend (`cargo xtask release`), pushed to the loopback
//! registry under a path of its own (`localhost:5000/pybase-release-test`,
//! never the dev image the other tests use): one index of linux/amd64 and
//! linux/arm64 under the tags `X.Y.Z`, `X.Y` and `X` of the workspace's
//! version; each platform's binary runs (arm64 under qemu) and reports that
//! version, which the image's label carries too; and a spec whose `# syntax=`
//! line names the major tag, as `pybase init` writes it, builds for both
//! platforms, and one naming the version pinned by its digest builds too.

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Instant;

use crate::harness::{
    CA_BUNDLE, buildx_command_on, e2e_session, failure, fixture, repo_root, run, stderr, stdout,
    unique,
};
use crate::platforms::{MULTIARCH_BASE, two_platform_build};

/// The registry path the test releases to.
const REGISTRY: &str = "localhost:5000/pybase-release-test";
/// The workspace's version, which `pybase --version` prints.
const VERSION: &str = env!("CARGO_PKG_VERSION");
const MAJOR: &str = env!("CARGO_PKG_VERSION_MAJOR");
const MINOR: &str = env!("CARGO_PKG_VERSION_MINOR");
const PLATFORMS: [&str; 2] = ["linux/amd64", "linux/arm64"];

/// ELF's `e_machine` of x86_64 and of aarch64.
const ELF_X86_64: u16 = 0x3e;
const ELF_AARCH64: u16 = 0xb7;

/// The `e_machine` of the ELF file `/pybase` in `platform`'s image of
/// `image`, copied out of a created (never started) container.
fn elf_machine(image: &str, platform: &str) -> u16 {
    let created = run(Command::new("docker").args([
        "create",
        "--pull",
        "always",
        "--platform",
        platform,
        image,
    ]));
    assert!(created.status.success(), "{}", failure(&created));
    let container = stdout(&created);
    let copy = std::env::temp_dir().join(format!("pybase-e2e-release-{}", unique()));
    let copied = run(Command::new("docker")
        .arg("cp")
        .arg(format!("{container}:/pybase"))
        .arg(&copy));
    run(Command::new("docker").args(["rm", &container]));
    assert!(copied.status.success(), "{}", failure(&copied));
    let bytes = std::fs::read(&copy).expect("the copied binary");
    std::fs::remove_file(&copy).expect("remove the copy");
    assert_eq!(bytes.get(..4), Some(&b"\x7fELF"[..]), "{platform}: not ELF");
    u16::from_le_bytes([bytes[18], bytes[19]])
}

#[test]
fn a_release_is_one_index_of_both_platforms_whose_major_tag_builds_for_each() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    let repository = format!("{REGISTRY}/pybase-frontend");
    let started = Instant::now();
    let output = run(Command::new(env!("CARGO"))
        .current_dir(repo_root())
        .args(["xtask", "release", "--registry", REGISTRY])
        .args(["--version", VERSION, "--push"]));
    assert!(
        output.status.success(),
        "cargo xtask release failed:\n{}",
        failure(&output)
    );
    eprintln!(
        "cargo xtask release: {:.1}s",
        started.elapsed().as_secs_f64()
    );

    // It prints each tag with the pushed index's digest, and each tag names
    // that index, of exactly the two platforms (attestations aside).
    let tags = [
        format!("{repository}:{VERSION}"),
        format!("{repository}:{MAJOR}.{MINOR}"),
        format!("{repository}:{MAJOR}"),
    ];
    let printed = stdout(&output);
    let printed: Vec<(&str, &str)> = printed
        .lines()
        .filter_map(|line| line.split_once('@'))
        .collect();
    assert_eq!(
        printed.iter().map(|(tag, _)| *tag).collect::<Vec<_>>(),
        tags,
        "{}",
        stdout(&output)
    );
    let digest = printed[0].1;
    assert!(digest.starts_with("sha256:"), "{digest}");
    for tag in &tags {
        let inspected = run(Command::new("docker")
            .args(["buildx", "imagetools", "inspect"])
            .args(["--format", "{{json .Manifest}}", tag]));
        assert!(inspected.status.success(), "{tag}: {}", stderr(&inspected));
        let manifest: serde_json::Value =
            serde_json::from_str(&stdout(&inspected)).expect("the index as JSON");
        assert_eq!(manifest["digest"], digest, "{tag}");
        assert_eq!(
            manifest["mediaType"], "application/vnd.oci.image.index.v1+json",
            "{tag}"
        );
        let platforms: BTreeSet<String> = manifest["manifests"]
            .as_array()
            .expect("the index's manifests")
            .iter()
            .map(|m| {
                format!(
                    "{}/{}",
                    m["platform"]["os"].as_str().unwrap_or_default(),
                    m["platform"]["architecture"].as_str().unwrap_or_default()
                )
            })
            .filter(|platform| platform != "unknown/unknown")
            .collect();
        assert_eq!(
            platforms,
            BTreeSet::from(PLATFORMS.map(String::from)),
            "{tag}"
        );
    }

    // Each platform's image holds its own static binary, which runs and
    // prints the workspace's version; the label says the same number.
    let major_tag = &tags[2];
    for (platform, machine) in PLATFORMS.into_iter().zip([ELF_X86_64, ELF_AARCH64]) {
        assert_eq!(
            elf_machine(major_tag, platform),
            machine,
            "{platform}: the binary is not built for its platform"
        );
        let ran = run(Command::new("docker")
            .args(["run", "--rm", "--pull", "always", "--platform", platform])
            .args(["--entrypoint", "/pybase", major_tag, "--version"]));
        assert_eq!(
            stdout(&ran),
            format!("pybase {VERSION}"),
            "{platform}: {}",
            failure(&ran)
        );
        let config = run(Command::new("docker")
            .args(["image", "inspect", "--platform", platform])
            .args([
                "--format",
                "{{.Os}}/{{.Architecture}} {{index .Config.Labels \"org.opencontainers.image.version\"}}",
                major_tag,
            ]));
        assert_eq!(
            stdout(&config),
            format!("{platform} {VERSION}"),
            "{}",
            stderr(&config)
        );
    }

    // A spec naming the released major tag builds for both platforms with it.
    let dir = fixture("plain-app");
    let spec_path = dir.join("pybase.yaml");
    let spec = std::fs::read_to_string(&spec_path).expect("the fixture's spec");
    let dev_line = "# syntax=localhost:5000/pybase-frontend:dev\n";
    assert!(spec.starts_with(dev_line), "{spec}");
    std::fs::write(
        &spec_path,
        spec.replacen(dev_line, &format!("# syntax={major_tag}\n"), 1),
    )
    .expect("the spec rewritten");
    let image = "pybase-e2e/plain-app:released-frontend";
    let log = two_platform_build(&dir, image);
    // BuildKit resolved the released frontend, not the dev image.
    assert!(log.contains(major_tag.as_str()), "{log}");
    assert!(!log.contains("localhost:5000/pybase-frontend:dev"), "{log}");
    for platform in PLATFORMS {
        let ran = run(Command::new("docker").args(["run", "--rm", "--platform", platform, image]));
        assert!(
            stdout(&ran).contains("with six 1.17.0"),
            "{platform}: {}",
            failure(&ran)
        );
        let config = run(Command::new("docker")
            .args(["image", "inspect", "--platform", platform])
            .args(["--format", "{{.Os}}/{{.Architecture}}", image]));
        assert_eq!(stdout(&config), platform, "{}", stderr(&config));
    }

    // Pinned by digest, as the README shows, the syntax line builds too.
    let pinned = format!("{repository}:{VERSION}@{digest}");
    std::fs::write(
        &spec_path,
        spec.replacen(dev_line, &format!("# syntax={pinned}\n"), 1),
    )
    .expect("the spec rewritten");
    let built = run(buildx_command_on(&dir, image, MULTIARCH_BASE)
        .args(["--secret", &format!("id=ca-bundle,src={CA_BUNDLE}")])
        .arg(&dir));
    assert!(
        built.status.success(),
        "the build with the frontend pinned by digest failed:\n{}",
        failure(&built)
    );
    let log = stderr(&built);
    assert!(log.contains(digest), "{log}");
}
