//! Reproducibility: two builds from clean caches with `SOURCE_DATE_EPOCH`
//! give the same digest.

use std::path::Path;
use std::process::Command;

use crate::harness::{BASE_IMAGE, CA_BUNDLE, e2e_session, failure, fixture, run, unique};

#[test]
fn two_builds_from_clean_caches_with_source_date_epoch_give_the_same_digest() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    // inventory's venv is downloaded by uv (psycopg2 builds from its
    // sdist); selected's from wheels BuildKit fetched.
    for name in ["inventory", "selected"] {
        let dir = fixture(name);
        let digests: Vec<serde_json::Value> = (0..2)
            .map(|round| clean_build_digest(&dir, round))
            .collect();
        assert!(
            digests[0]
                .as_str()
                .is_some_and(|d| d.starts_with("sha256:"))
        );
        assert_eq!(
            digests[0], digests[1],
            "{name}: the same inputs gave two images"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// The digest of the image of the spec in `dir` built with
/// `SOURCE_DATE_EPOCH` from clean caches: no cache mount survives (uv's
/// built wheels, apt's downloads) and no step result is reused.
fn clean_build_digest(dir: &Path, round: usize) -> serde_json::Value {
    let pruned = run(Command::new("docker").args([
        "buildx",
        "prune",
        "-f",
        "--filter",
        "type=exec.cachemount",
    ]));
    assert!(pruned.status.success(), "{}", failure(&pruned));
    // Outside the build context: the next round must not send this image
    // to BuildKit as part of the project.
    let oci = std::env::temp_dir().join(format!("pybase-e2e-oci-{round}-{}.tar", unique()));
    let mut command = Command::new("docker");
    command
        .args(["buildx", "build", "--progress", "plain", "--no-cache", "-f"])
        .arg(dir.join("pybase.yaml"))
        .args([
            "--build-context",
            &format!("python:3.12-slim=docker-image://{BASE_IMAGE}"),
        ])
        .args(["--secret", &format!("id=ca-bundle,src={CA_BUNDLE}")])
        .args(["--build-arg", "SOURCE_DATE_EPOCH=1700000000"])
        .arg("--output")
        .arg(format!(
            "type=oci,dest={},rewrite-timestamp=true",
            oci.display()
        ))
        .arg(dir);
    let output = run(&mut command);
    assert!(output.status.success(), "{}", failure(&output));
    // Only the index is read: the image's blobs stay in the archive, which
    // is removed before the assertions.
    let untar = run(Command::new("tar").arg("-xOf").arg(&oci).arg("index.json"));
    let _ = std::fs::remove_file(&oci);
    assert!(untar.status.success(), "{}", failure(&untar));
    let index: serde_json::Value = serde_json::from_slice(&untar.stdout).expect("index JSON");
    assert_eq!(
        index["manifests"][0]["annotations"]["org.opencontainers.image.created"],
        serde_json::json!("2023-11-14T22:13:20Z")
    );
    index["manifests"][0]["digest"].clone()
}
