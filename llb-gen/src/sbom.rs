//! The image's SBOM: an SPDX 2.3 JSON document made from what pybase knows
//! exactly, for `docker buildx build --sbom=true` (BuildKit's `attest:sbom`).
//!
//! It lists:
//! - every Python distribution the venv installs on the target: each
//!   stacked project's [`Selection`](crate::select::Selection) on the
//!   target environment (the packages needed there, never a build backend
//!   or a build requirement, which the lock does not select), with its
//!   version, a `pkg:pypi` purl, and the file it installs from (the one
//!   wheel that fits, the one of several whose tags the installer prefers,
//!   else the sdist built into a wheel) as checksum and download location;
//!   when that preference is not certain (the image's interpreter or C
//!   library version unknown, or two wheels tie), the package names every
//!   wheel that fits in its comment and asserts no checksum; the level (tier or service) and lock it comes from
//!   is in each comment;
//! - the code, in a service's image: its project when it is a distribution
//!   (not an application) and the local projects its lock reaches (a
//!   tier's project gives only its venv, a `-base` target no code);
//! - the image's OS: `os-release`, and the packages dpkg's status file says
//!   are installed (`pkg:deb` purls), and those of `status.d/` (distroless
//!   images); the builder's packages (gcc) are in another image and never
//!   here.
//!
//! The caller reads the image's files and decides the creation time (the
//! build's `SOURCE_DATE_EPOCH`, else its clock); everything else is a
//! function of the inputs: packages sorted, the namespace a hash of the
//! content, so one build's inputs give one document.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::environment::TargetEnvironment;
use crate::llb::Platform;
use crate::lock::{Artifact, ArtifactKind, Package, Source};
use crate::plan::{Target, TargetKind};
use crate::project::{ProjectFiles, ProjectInfo};
use crate::select::{Need, OnTarget};
use crate::spec::{OwnerKind, ProjectDir};

/// The in-toto predicate type of an SPDX document, which BuildKit looks for
/// to skip its own scanner.
pub const PREDICATE_TYPE: &str = "https://spdx.dev/Document";

/// The SPDX value of a field pybase does not know.
const NOASSERTION: &str = "NOASSERTION";

/// A stacked project and what its checks found.
#[derive(Clone, Copy, Debug)]
pub struct Level<'a> {
    /// The project, with the tier or service that owns it.
    pub project: &'a ProjectDir<'a>,
    /// Its checks' findings, its selection among them.
    pub info: &'a ProjectInfo,
    /// Whether the image has its code (and that of the local projects its
    /// lock reaches), or only its venv.
    pub code: bool,
}

/// The levels of `target`: its `stack` of projects (root tier first) and
/// their checks' `infos`, in the same order. Only a service image has
/// code, its service's: a tier installs its project's venv, and a
/// service's `-base` target stops before the code.
pub fn levels<'a>(
    target: &Target<'_>,
    stack: &'a [ProjectFiles<'a>],
    infos: &'a [ProjectInfo],
) -> Vec<Level<'a>> {
    stack
        .iter()
        .zip(infos)
        .map(|(files, info)| Level {
            project: &files.project,
            info,
            code: target.kind == TargetKind::Image
                && files.project.owner_kind == OwnerKind::Service,
        })
        .collect()
}

/// What the document is made from.
#[derive(Clone, Copy, Debug)]
pub struct SbomInputs<'a> {
    /// The image's name (the target).
    pub name: &'a str,
    /// Its platform.
    pub platform: &'a Platform,
    /// The environment the venv is installed for.
    pub environment: &'a TargetEnvironment,
    /// The stacked projects, root tier first.
    pub levels: &'a [Level<'a>],
    /// The text of the image's `/var/lib/dpkg/status` (`None`: it has none).
    pub dpkg_status: Option<&'a str>,
    /// The texts of the files of its `/var/lib/dpkg/status.d/` (a
    /// distroless image's package database: a file per package, whose
    /// paragraph may have no `Status`, which then means installed).
    pub dpkg_status_d: &'a [String],
    /// The text of the image's `os-release` (`None`: it has none).
    pub os_release: Option<&'a str>,
    /// The creation time, RFC 3339 in UTC (`2024-01-01T00:00:00Z`).
    pub created: &'a str,
}

/// Why there is no document.
#[derive(Debug, thiserror::Error)]
pub enum SbomError {
    /// The image's dpkg status file does not parse.
    #[error("the image's /var/lib/dpkg/status is not a dpkg status file: {0}")]
    DpkgStatus(String),
    /// Encoding failed.
    #[error("encoding the SBOM: {0}")]
    Encode(#[from] serde_json::Error),
}

/// The SPDX 2.3 JSON document of the image `inputs` describe.
pub fn document(inputs: &SbomInputs<'_>) -> Result<Vec<u8>, SbomError> {
    let os = inputs.os_release.map(OsRelease::parse).unwrap_or_default();
    let mut packages = vec![SpdxPackage {
        purpose: Some("CONTAINER"),
        comment: Some(format!(
            "the image built by pybase for {}",
            inputs.platform.to_spec_string()
        )),
        ..SpdxPackage::new("SPDXRef-image".to_owned(), inputs.name, None)
    }];
    if let Some(id) = &os.id {
        packages.push(SpdxPackage {
            purpose: Some("OPERATING-SYSTEM"),
            comment: os.pretty_name.clone(),
            ..SpdxPackage::new("SPDXRef-os".to_owned(), id, os.version_id.clone())
        });
    }
    let mut debs = BTreeMap::new();
    let texts = inputs.dpkg_status.map(|text| (text, false)).into_iter();
    let texts = texts.chain(
        inputs
            .dpkg_status_d
            .iter()
            .map(|text| (text.as_str(), true)),
    );
    for (text, one_package_files) in texts {
        for package in deb_packages(text, &os, one_package_files)? {
            debs.entry(package.spdx_id.clone()).or_insert(package);
        }
    }
    packages.extend(debs.into_values());
    packages.extend(python_packages(inputs).into_values());

    let mut relationships: Vec<Relationship> = packages
        .iter()
        .skip(1)
        .map(|package| Relationship::new("SPDXRef-image", "CONTAINS", &package.spdx_id))
        .collect();
    relationships.insert(
        0,
        Relationship::new("SPDXRef-DOCUMENT", "DESCRIBES", "SPDXRef-image"),
    );
    let mut document = Document {
        spdx_version: "SPDX-2.3",
        data_license: "CC0-1.0",
        spdx_id: "SPDXRef-DOCUMENT",
        name: inputs.name.to_owned(),
        document_namespace: String::new(),
        creation_info: CreationInfo {
            created: inputs.created.to_owned(),
            creators: vec![format!("Tool: pybase-{}", env!("CARGO_PKG_VERSION"))],
        },
        packages,
        relationships,
    };
    // The namespace is unique to the content: a hash of the document
    // without it, as a name-based UUID (RFC 9562's version 8).
    let digest = crate::llb::marshal::digest_of(&serde_json::to_vec(&document)?);
    document.document_namespace = format!("urn:uuid:{}", uuid_of(&digest));
    let mut bytes = serde_json::to_vec_pretty(&document)?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// The Python distributions of the image, by SPDX id (sorted): the first
/// level that installs a name is the one named.
fn python_packages(inputs: &SbomInputs<'_>) -> BTreeMap<String, SpdxPackage> {
    let mut found: BTreeMap<String, SpdxPackage> = BTreeMap::new();
    let mut add = |package: SpdxPackage| {
        found.entry(package.spdx_id.clone()).or_insert(package);
    };
    for level in inputs.levels {
        let info = level.info;
        let selection = &info.selection;
        let owner = format!(
            "{} {}, project {}",
            level.project.owner_kind,
            level.project.owner,
            level.project.display()
        );
        for on in selection.on_target(inputs.environment) {
            if on.need == Need::NotHere {
                continue;
            }
            add(venv_package(
                &on,
                inputs.environment,
                &format!("{owner}, {}", selection.file),
            ));
        }
        if !level.code {
            continue;
        }
        if !info.application {
            let version = info.version.clone();
            let mut code = pypi_package(&info.name, version);
            code.purpose = Some("APPLICATION");
            code.comment = Some(format!("the code of {owner}"));
            add(code);
        }
        for member in &selection.local_projects {
            let mut code = pypi_package(&member.name, member.version.clone());
            code.comment = Some(format!(
                "the code of a local project {owner}'s lock reaches ({})",
                member.local_path().unwrap_or(NOASSERTION)
            ));
            add(code);
        }
    }
    found
}

/// A package of the venv as it installs on `environment`.
fn venv_package(on: &OnTarget<'_>, environment: &TargetEnvironment, from: &str) -> SpdxPackage {
    let package = &on.selected.package;
    let mut spdx = pypi_package(&package.name, package.version.clone());
    spdx.purpose = Some("LIBRARY");
    let mut comment = format!("installed in the venv by {from}");
    if on.need == Need::Unknown {
        comment.push_str(
            "; needed only where its environment marker holds, which pybase could not \
             evaluate without the image's Python",
        );
    }
    let installed_from = match (on.fitting.as_slice(), package.sdist()) {
        ([wheel], _) => Some((*wheel, "the wheel")),
        ([], Some(sdist)) => Some((sdist, "a wheel built from the sdist")),
        ([_, _, ..], _) => preferred_wheel(&on.fitting, environment).map(|w| (w, "the wheel")),
        _ => None,
    };
    match installed_from {
        Some((artifact, how)) => {
            spdx.download_location = download_location(package, artifact);
            spdx.checksums = checksum(artifact).into_iter().collect();
            comment.push_str(&format!(
                "; from {how} {}",
                artifact.filename.as_deref().unwrap_or(NOASSERTION)
            ));
        }
        None => {
            let candidates: Vec<String> = candidates(on).collect();
            if !candidates.is_empty() {
                comment.push_str(&format!(
                    "; from one of the files the lock records, which the installer chooses: {}",
                    candidates.join(", ")
                ));
            }
            if let Some(location) = source_location(package) {
                spdx.download_location = location;
            }
        }
    }
    spdx.comment = Some(comment);
    spdx
}

/// Of several wheels that fit, the one the installer takes: the one whose
/// tags it prefers ([`crate::wheel::WheelFilename::priority`]), when that
/// order is certain and no other wheel ties with it.
fn preferred_wheel<'a>(
    wheels: &[&'a Artifact],
    environment: &TargetEnvironment,
) -> Option<&'a Artifact> {
    let mut ranked: Vec<(crate::wheel::Priority, &'a Artifact)> = wheels
        .iter()
        .map(|wheel| match &wheel.kind {
            ArtifactKind::Wheel(Some(name)) => Some((name.priority(environment)?, *wheel)),
            _ => None,
        })
        .collect::<Option<_>>()?;
    ranked.sort_by_key(|&(priority, _)| std::cmp::Reverse(priority));
    match ranked.as_slice() {
        [(best, wheel), (next, _), ..] if best > next => Some(*wheel),
        _ => None,
    }
}

/// The files a package may install from when pybase cannot tell which:
/// its fitting wheels, else every file the lock records (by name, else by
/// hash).
fn candidates<'s>(on: &OnTarget<'s>) -> impl Iterator<Item = String> + 's {
    let files: Vec<&Artifact> = if on.fitting.is_empty() {
        on.selected.package.artifacts.iter().collect()
    } else {
        on.fitting.clone()
    };
    files.into_iter().map(|artifact| {
        let name = artifact.filename.as_deref().unwrap_or("a file");
        match &artifact.sha256 {
            Some(sha256) => format!("{name} (sha256 {sha256})"),
            None => name.to_owned(),
        }
    })
}

/// Where `artifact` of `package` is downloaded from.
fn download_location(package: &Package, artifact: &Artifact) -> String {
    match (&artifact.url, &artifact.kind) {
        (Some(url), ArtifactKind::Wheel(_) | ArtifactKind::Sdist) => url.clone(),
        _ => source_location(package).unwrap_or_else(|| NOASSERTION.to_owned()),
    }
}

/// Where a package without a file of its own comes from: its git
/// repository or its URL (SPDX's `git+` form for git).
fn source_location(package: &Package) -> Option<String> {
    match package.source.as_ref()? {
        Source::Git { url } => Some(format!("git+{url}")),
        Source::Url { url } => Some(url.clone()),
        _ => None,
    }
}

/// An artifact's sha256, when the lock records a well-formed one.
fn checksum(artifact: &Artifact) -> Option<Checksum> {
    let sha256 = artifact.sha256.as_deref()?;
    let sha256 = sha256.strip_prefix("sha256:").unwrap_or(sha256);
    (sha256.len() == 64 && sha256.bytes().all(|b| b.is_ascii_hexdigit())).then(|| Checksum {
        algorithm: "SHA256",
        checksum_value: sha256.to_ascii_lowercase(),
    })
}

/// A Python distribution of (normalized) `name` at `version`.
fn pypi_package(name: &str, version: Option<String>) -> SpdxPackage {
    let mut purl = format!("pkg:pypi/{}", purl_encode(name));
    if let Some(version) = &version {
        purl.push_str(&format!("@{}", purl_encode(version)));
    }
    SpdxPackage {
        external_refs: vec![ExternalRef::purl(purl)],
        ..SpdxPackage::new(spdx_id("pypi", name), name, version)
    }
}

/// The packages dpkg's `status` says are installed, with purls naming the
/// distribution `os`; a paragraph without `Status` is one of a `status.d`
/// file when `status_d`, installed, else not.
fn deb_packages(
    status: &str,
    os: &OsRelease,
    status_d: bool,
) -> Result<Vec<SpdxPackage>, SbomError> {
    let paragraphs: deb822_fast::Deb822 = status
        .parse()
        .map_err(|e: deb822_fast::Error| SbomError::DpkgStatus(e.to_string()))?;
    let mut packages = Vec::new();
    for paragraph in paragraphs.iter() {
        let installed = match paragraph.get("Status") {
            Some(status) => status.split_whitespace().nth(2) == Some("installed"),
            None => status_d,
        };
        let (Some(name), true) = (paragraph.get("Package"), installed) else {
            continue;
        };
        let version = paragraph.get("Version").map(str::to_owned);
        let arch = paragraph.get("Architecture");
        let mut package = SpdxPackage::new(
            spdx_id("deb", &format!("{name}-{}", arch.unwrap_or_default())),
            name,
            version.clone(),
        );
        package.purpose = Some("LIBRARY");
        if let Some(id) = &os.id {
            package.external_refs = vec![ExternalRef::purl(deb_purl(
                id,
                name,
                version.as_deref(),
                arch,
                os.distro().as_deref(),
            ))];
        }
        packages.push(package);
    }
    Ok(packages)
}

/// `pkg:deb/<id>/<name>@<version>?arch=<arch>&distro=<distro>`.
fn deb_purl(
    id: &str,
    name: &str,
    version: Option<&str>,
    arch: Option<&str>,
    distro: Option<&str>,
) -> String {
    let mut purl = format!("pkg:deb/{}/{}", purl_encode(id), purl_encode(name));
    if let Some(version) = version {
        purl.push_str(&format!("@{}", purl_encode(version)));
    }
    let qualifiers: Vec<String> = [("arch", arch), ("distro", distro)]
        .into_iter()
        .filter_map(|(key, value)| Some(format!("{key}={}", purl_encode(value?))))
        .collect();
    if !qualifiers.is_empty() {
        purl.push('?');
        purl.push_str(&qualifiers.join("&"));
    }
    purl
}

/// A purl component, percent-encoded but for the unreserved characters.
fn purl_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b".-_~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// An SPDX id for a package of the `kind` named `name`: its characters
/// that SPDX ids may hold, and a short hash of the whole name, so that
/// `libstdc++6` and `libstdc--6` stay apart.
fn spdx_id(kind: &str, name: &str) -> String {
    let readable: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let digest = crate::llb::marshal::digest_of(name.as_bytes());
    let short = digest.get(7..15).unwrap_or_default();
    format!("SPDXRef-{kind}-{readable}-{short}")
}

/// A UUID (version 8, RFC 9562) from the first 16 bytes of a
/// `sha256:<hex>` digest.
fn uuid_of(digest: &str) -> String {
    let hex: Vec<char> = digest.trim_start_matches("sha256:").chars().collect();
    let mut nibbles: Vec<char> = hex.into_iter().take(32).collect();
    nibbles.resize(32, '0');
    // The version nibble, and the variant's two high bits (10).
    nibbles[12] = '8';
    let variant = nibbles[16].to_digit(16).unwrap_or(0) & 0x3 | 0x8;
    nibbles[16] = char::from_digit(variant, 16).unwrap_or('8');
    let text: String = nibbles.into_iter().collect();
    format!(
        "{}-{}-{}-{}-{}",
        &text[..8],
        &text[8..12],
        &text[12..16],
        &text[16..20],
        &text[20..]
    )
}

/// What `os-release` says of the distribution.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct OsRelease {
    /// `ID` (`debian`).
    id: Option<String>,
    /// `VERSION_ID` (`12`).
    version_id: Option<String>,
    /// `VERSION_CODENAME` (`bookworm`).
    codename: Option<String>,
    /// `PRETTY_NAME`.
    pretty_name: Option<String>,
}

impl OsRelease {
    /// The fields of an `os-release` text (os-release(5): `KEY=value`
    /// lines, the value shell-quoted or plain, `#` comments).
    fn parse(text: &str) -> Self {
        let mut release = Self::default();
        for line in text.lines().map(str::trim) {
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            let value = unquote(value.trim());
            let field = match key.trim() {
                "ID" => &mut release.id,
                "VERSION_ID" => &mut release.version_id,
                "VERSION_CODENAME" => &mut release.codename,
                "PRETTY_NAME" => &mut release.pretty_name,
                _ => continue,
            };
            *field = Some(value).filter(|v| !v.is_empty());
        }
        release
    }

    /// The purl `distro` qualifier: `<ID>-<VERSION_ID>`, else the codename.
    fn distro(&self) -> Option<String> {
        let id = self.id.as_deref()?;
        match (&self.version_id, &self.codename) {
            (Some(version), _) => Some(format!("{id}-{version}")),
            (None, Some(codename)) => Some(codename.clone()),
            (None, None) => None,
        }
    }
}

/// A shell-quoted `os-release` value unquoted: `"…"` with `\`-escapes, or
/// `'…'` taken as written, or a plain word.
fn unquote(value: &str) -> String {
    if let Some(inner) = value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
        return inner.to_owned();
    }
    let Some(inner) = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) else {
        return value.to_owned();
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match (c, chars.clone().next()) {
            ('\\', Some(next @ ('"' | '\\' | '$' | '`'))) => {
                out.push(next);
                chars.next();
            }
            _ => out.push(c),
        }
    }
    out
}

/// An SPDX 2.3 document, as its JSON schema names the fields.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Document {
    spdx_version: &'static str,
    data_license: &'static str,
    #[serde(rename = "SPDXID")]
    spdx_id: &'static str,
    name: String,
    document_namespace: String,
    creation_info: CreationInfo,
    packages: Vec<SpdxPackage>,
    relationships: Vec<Relationship>,
}

/// Who made the document, and when.
#[derive(Serialize)]
struct CreationInfo {
    created: String,
    creators: Vec<String>,
}

/// A package.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SpdxPackage {
    name: String,
    #[serde(rename = "SPDXID")]
    spdx_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    version_info: Option<String>,
    download_location: String,
    files_analyzed: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    checksums: Vec<Checksum>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    external_refs: Vec<ExternalRef>,
    #[serde(
        rename = "primaryPackagePurpose",
        skip_serializing_if = "Option::is_none"
    )]
    purpose: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    comment: Option<String>,
}

impl SpdxPackage {
    /// The package `name` at `version`, known by nothing else yet.
    fn new(spdx_id: String, name: &str, version: Option<String>) -> Self {
        Self {
            name: name.to_owned(),
            spdx_id,
            version_info: version,
            download_location: NOASSERTION.to_owned(),
            files_analyzed: false,
            checksums: Vec::new(),
            external_refs: Vec::new(),
            purpose: None,
            comment: None,
        }
    }
}

/// A checksum of the file a package comes from.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Checksum {
    algorithm: &'static str,
    checksum_value: String,
}

/// A package's purl.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ExternalRef {
    reference_category: &'static str,
    reference_type: &'static str,
    reference_locator: String,
}

impl ExternalRef {
    /// The purl `purl`.
    fn purl(purl: String) -> Self {
        Self {
            reference_category: "PACKAGE-MANAGER",
            reference_type: "purl",
            reference_locator: purl,
        }
    }
}

/// `element relationship related`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Relationship {
    spdx_element_id: String,
    relationship_type: &'static str,
    related_spdx_element: String,
}

impl Relationship {
    /// `element kind related`.
    fn new(element: &str, kind: &'static str, related: &str) -> Self {
        Self {
            spdx_element_id: element.to_owned(),
            relationship_type: kind,
            related_spdx_element: related.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests;
