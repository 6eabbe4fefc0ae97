//! Looking into a resolved image's filesystem for the facts wheel selection
//! needs ([`ImageFacts`]): the interpreter `python3` names and the C
//! library's family and version.
//!
//! The image is solved as a source of its own (the same op, and so the same
//! cache record, as the plan's base image) and read with `ReadDir`,
//! `StatFile` and `ReadFile`; no command runs in it, so an image without a
//! shell is probed like any other. What to read and how to parse it is in
//! `llb_gen::environment`; this module only does the reads. A read that
//! fails leaves its fact unknown (and selection as permissive as without
//! the probe); the failure's kind is logged on stderr, which reaches only
//! the daemon's log.

use bollard_buildkit_proto::moby::buildkit::v1::frontend as gw;
use llb_gen::environment::{self, ImageFacts, Libc};
use llb_gen::llb::Platform;
use llb_gen::llb::marshal::ServerCaps;
use llb_gen::plan::BaseImage;

use crate::bridge::{Bridge, Failure, solve};

/// glibc's banner lies in its read-only data, within the first 4 MiB of
/// `libc.so.6` on every architecture Debian builds.
const LIBC_READ_BYTES: i64 = 4 << 20;

/// The facts of `image` on `platform`; `step` names the progress line.
pub async fn image_facts(
    bridge: &mut Bridge,
    image: &BaseImage,
    platform: &Platform,
    caps: &ServerCaps,
    step: &str,
) -> Result<ImageFacts, Failure> {
    let state = image.state(
        platform,
        format!("[{step}] look for python3 and libc in {}", image.reference),
    );
    let reference = solve(bridge, &state, caps).await?;
    let mut probe = Probe {
        bridge,
        reference: &reference,
    };
    Ok(ImageFacts {
        python: probe.interpreter().await,
        libc: probe.libc(platform).await,
    })
}

/// Reads of one solved image.
struct Probe<'a> {
    bridge: &'a mut Bridge,
    reference: &'a str,
}

impl Probe<'_> {
    /// The interpreter of the first directory of
    /// [`environment::PYTHON_DIRS`] that has one.
    async fn interpreter(&mut self) -> Option<environment::Interpreter> {
        for dir in environment::PYTHON_DIRS {
            let entries = self.entries(dir, "python3*").await;
            let found = environment::interpreter_from_entries(
                entries
                    .iter()
                    .map(|(name, target)| (name.as_str(), target.as_str())),
            );
            if found.is_some() {
                return found;
            }
        }
        None
    }

    /// musl when its loader is there (its version from apk's database),
    /// else glibc, its version from dpkg's database or from its banner.
    async fn libc(&mut self, platform: &Platform) -> Option<Libc> {
        if let Some(loader) = environment::musl_loader(platform)
            && self.exists(&loader).await
        {
            let version = self
                .read(environment::APK_INSTALLED, None)
                .await
                .and_then(|bytes| {
                    environment::musl_from_apk_installed(&String::from_utf8_lossy(&bytes))
                });
            return Some(Libc::Musl(version));
        }
        if let Some(version) = self
            .read(environment::DPKG_STATUS, None)
            .await
            .and_then(|bytes| environment::glibc_from_dpkg_status(&String::from_utf8_lossy(&bytes)))
        {
            return Some(Libc::Glibc(Some(version)));
        }
        for path in environment::glibc_paths(platform) {
            if let Some(bytes) = self.read(&path, Some(LIBC_READ_BYTES)).await {
                return Some(Libc::Glibc(environment::glibc_from_banner(&bytes)));
            }
        }
        None
    }

    /// The entries of `dir` matching `pattern`, as `(name, link target)`.
    async fn entries(&mut self, dir: &str, pattern: &str) -> Vec<(String, String)> {
        match self
            .bridge
            .read_dir(gw::ReadDirRequest {
                r#ref: self.reference.to_owned(),
                dir_path: dir.to_owned(),
                include_pattern: pattern.to_owned(),
                ..Default::default()
            })
            .await
        {
            Ok(response) => response
                .into_inner()
                .entries
                .into_iter()
                .map(|stat| {
                    let name = stat.path.rsplit('/').next().unwrap_or_default().to_owned();
                    (name, stat.linkname)
                })
                .collect(),
            Err(status) => {
                log_failure("ReadDir", &status);
                Vec::new()
            }
        }
    }

    /// Whether `path` exists (as a file, a directory or a link).
    async fn exists(&mut self, path: &str) -> bool {
        let request = gw::StatFileRequest {
            r#ref: self.reference.to_owned(),
            path: path.to_owned(),
            ..Default::default()
        };
        match self.bridge.stat_file(request).await {
            Ok(_) => true,
            Err(status) => {
                log_failure("StatFile", &status);
                false
            }
        }
    }

    /// The bytes of `path` (its first `limit` bytes, with a limit).
    async fn read(&mut self, path: &str, limit: Option<i64>) -> Option<Vec<u8>> {
        let request = gw::ReadFileRequest {
            r#ref: self.reference.to_owned(),
            file_path: path.to_owned(),
            range: limit.map(|length| gw::FileRange { offset: 0, length }),
            ..Default::default()
        };
        match self.bridge.read_file(request).await {
            Ok(response) => Some(response.into_inner().data),
            Err(status) => {
                log_failure("ReadFile", &status);
                None
            }
        }
    }
}

/// Logs a failed read, unless it is a missing file (the normal answer for
/// the places an image does not use).
fn log_failure(call: &str, status: &tonic::Status) {
    if !status.message().contains("no such file or directory") {
        eprintln!(
            "pybase: image probe: {call} failed ({:?}); the fact stays unknown",
            status.code()
        );
    }
}
