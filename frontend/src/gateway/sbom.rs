//! The SBOM attestation pybase makes itself for `--sbom=true` (BuildKit's
//! `attest:sbom`), so that BuildKit's own fallback, a scanner image from
//! Docker Hub, never runs.
//!
//! For each platform of the build, once its image is solved: read dpkg's
//! status (and a distroless image's `status.d/` files) and `os-release`
//! from the image (a file it lacks means nothing to
//! list, not an error), have `llb_gen::sbom` write the SPDX document, put
//! it in a file on scratch (`/sbom.spdx.json`), solve that, and attach it
//! to the result as an in-toto attestation of the image (no subjects: the
//! image itself) with the SPDX predicate type, keyed by the platform's id
//! as BuildKit's exporters look attestations up. BuildKit's SBOM step sees
//! an SPDX attestation there and skips its scanner.
//!
//! The document's `created` is the build's `SOURCE_DATE_EPOCH`, else the
//! time of the build: with `SOURCE_DATE_EPOCH`, two builds of the same
//! inputs give the same bytes.

use std::collections::HashMap;

use anyhow::anyhow;
use bollard_buildkit_proto::moby::buildkit::v1::frontend as gw;
use llb_gen::environment::TargetEnvironment;
use llb_gen::llb::marshal::ServerCaps;
use llb_gen::llb::{Platform, State};
use llb_gen::sbom::{self, Level, SbomInputs};

use crate::bridge::{Bridge, Failure, read_file, solve};
use crate::options::Options;

/// Where the document is in the attestation's ref. Its name before the dot
/// is the `sbom-core` name, which tells BuildKit this is the SBOM of the
/// image itself (as its scanner names its own).
const PATH: &str = "/sbom.spdx.json";

/// The `sbom-core` metadata: the name of the image's own SBOM.
const CORE: &str = "sbom";

/// dpkg's database of the packages installed.
const DPKG_STATUS: &str = "/var/lib/dpkg/status";

/// A distroless image's package database: a file per package (and its
/// `.md5sums`).
const DPKG_STATUS_D: &str = "/var/lib/dpkg/status.d";

/// Go's `os.ModeDir`, as fsutil's `Stat` gives a directory's mode.
const GO_MODE_DIR: u32 = 1 << 31;

/// Where `os-release` is, in the order os-release(5) says to look.
const OS_RELEASE: [&str; 2] = ["/etc/os-release", "/usr/lib/os-release"];

/// One platform's solved image.
pub(super) struct Built<'a> {
    /// Its platform.
    pub platform: &'a Platform,
    /// The ref of the image's filesystem.
    pub reference: &'a str,
    /// The environment its venv was installed for.
    pub environment: &'a TargetEnvironment,
}

/// What every platform's document shares.
pub(super) struct Attester<'a> {
    /// The server's caps, for the solve of the document's file.
    pub caps: &'a ServerCaps,
    /// The image's name (the target).
    pub name: &'a str,
    /// The stacked projects.
    pub levels: &'a [Level<'a>],
    /// The document's creation time (RFC 3339, UTC).
    pub created: String,
}

impl Attester<'_> {
    /// The SBOM attestation of `built`'s image.
    pub async fn attestation(
        &self,
        bridge: &mut Bridge,
        built: &Built<'_>,
    ) -> Result<gw::Attestation, Failure> {
        let status = read_text(bridge, built.reference, DPKG_STATUS).await?;
        let mut status_d = Vec::new();
        for name in status_d_files(bridge, built.reference).await {
            let path = format!("{DPKG_STATUS_D}/{name}");
            status_d.extend(read_text(bridge, built.reference, &path).await?);
        }
        let mut os_release = None;
        for path in OS_RELEASE {
            os_release = read_text(bridge, built.reference, path).await?;
            if os_release.is_some() {
                break;
            }
        }
        let document = sbom::document(&SbomInputs {
            name: self.name,
            platform: built.platform,
            environment: built.environment,
            levels: self.levels,
            dpkg_status: status.as_deref(),
            dpkg_status_d: &status_d,
            os_release: os_release.as_deref(),
            created: &self.created,
        })
        .map_err(anyhow::Error::from)?;
        let file = State::scratch().mkfile(
            PATH,
            &document,
            format!("[{}] SBOM", built.platform.to_spec_string()),
        );
        let id = solve(bridge, &file, self.caps).await?;
        Ok(gw::Attestation {
            kind: gw::AttestationKind::InToto as i32,
            metadata: HashMap::from([
                ("reason".to_owned(), b"sbom".to_vec()),
                ("sbom-core".to_owned(), CORE.as_bytes().to_vec()),
            ]),
            r#ref: Some(gw::Ref { id, def: None }),
            path: PATH.to_owned(),
            in_toto_predicate_type: sbom::PREDICATE_TYPE.to_owned(),
            in_toto_subjects: Vec::new(),
        })
    }
}

/// The creation time of the documents: `SOURCE_DATE_EPOCH` when the build
/// has one, else now, to the second.
pub(super) fn created(options: &Options) -> Result<String, Failure> {
    let second = match options.source_date_epoch()? {
        Some(epoch) => epoch,
        None => jiff::Timestamp::now().as_second(),
    };
    let at = jiff::Timestamp::from_second(second)
        .map_err(|e| anyhow!("SOURCE_DATE_EPOCH={second}: not a time: {e}"))?;
    Ok(at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
}

/// The package files of the image's `status.d` directory, sorted (none
/// when it has no such directory).
async fn status_d_files(bridge: &mut Bridge, reference: &str) -> Vec<String> {
    let request = gw::ReadDirRequest {
        r#ref: reference.to_owned(),
        dir_path: DPKG_STATUS_D.to_owned(),
        ..Default::default()
    };
    let Ok(response) = bridge.read_dir(request).await else {
        return Vec::new();
    };
    let mut names: Vec<String> = response
        .into_inner()
        .entries
        .into_iter()
        .filter(|stat| stat.mode & GO_MODE_DIR == 0 && stat.linkname.is_empty())
        .map(|stat| stat.path.rsplit('/').next().unwrap_or_default().to_owned())
        .filter(|name| !name.is_empty() && !name.ends_with(".md5sums"))
        .collect();
    names.sort();
    names
}

/// The text of the image file `path` (`None`: the image has none); the
/// fields pybase reads are ASCII, so a stray byte elsewhere is replaced.
async fn read_text(
    bridge: &mut Bridge,
    reference: &str,
    path: &str,
) -> Result<Option<String>, Failure> {
    let bytes = read_file(bridge, reference, path).await?;
    Ok(bytes.map(|bytes| String::from_utf8_lossy(&bytes).into_owned()))
}
