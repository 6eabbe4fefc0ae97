//! Build tools pybase downloads, pinned to an exact version and checksum.
//!
//! uv installs the venv. It comes from PyPI as a wheel (a zip holding one
//! static binary), fetched by BuildKit as an HTTP source whose sha256 BuildKit
//! verifies before anything runs, so a tampered download fails the build.
//! The binary lives only in the builder: it never reaches an image.

use crate::llb::Platform;

/// The uv version pybase builds with.
pub const UV_VERSION: &str = "0.13.9";

/// A downloadable, checksummed artifact.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Artifact {
    /// Where to download it.
    pub url: &'static str,
    /// Its sha256, lowercase hex.
    pub sha256: &'static str,
}

/// The uv wheel for `platform`, or `None` when pybase has no pin for it.
pub fn uv_wheel(platform: &Platform) -> Option<Artifact> {
    match (platform.os.as_str(), platform.architecture.as_str()) {
        ("linux", "amd64") => Some(Artifact {
            url: "https://files.pythonhosted.org/packages/3d/aa/26d64642d808de4a652579ef950d7cd2d37f080a8babf9c67c6b75fc4c3f/uv-0.13.9-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
            sha256: "d7f459fe4fd247d830351c75686d3996ace3c6f3f728eb0e85a30b7ada0cef19",
        }),
        ("linux", "arm64") => Some(Artifact {
            url: "https://files.pythonhosted.org/packages/57/15/94b6cd62ac3ff6550288328e8035288875197cbc183f51554b266a69877b/uv-0.13.9-py3-none-manylinux_2_17_aarch64.manylinux2014_aarch64.musllinux_1_1_aarch64.whl",
            sha256: "5435c5ce14a56431208ca0996416d310f1598e8c2c8ba707688985a16bb82dbe",
        }),
        _ => None,
    }
}

/// The path of the uv binary inside its wheel.
pub fn uv_path_in_wheel() -> String {
    format!("uv-{UV_VERSION}.data/scripts/uv")
}
