//! The options BuildKit hands a gateway frontend, typed.
//!
//! BuildKit passes each `--build-arg`, `--label`, `--target`,
//! `--build-context` and friends as an environment variable
//! `BUILDKIT_FRONTEND_OPT_<n>=key=value` (`n` arbitrary). [`Options::from_env`]
//! collects them; [`Options::from_pairs`] is the same from any list, for tests.

use std::collections::BTreeMap;

use anyhow::{Context, anyhow, bail};
use llb_gen::llb::{Network, Platform};

/// `--build-arg PYBASE_MERGEOP=false` assembles the image without MergeOp.
pub const MERGEOP_ARG: &str = "PYBASE_MERGEOP";
/// `SOURCE_DATE_EPOCH`, which buildx passes as a build arg.
pub const SOURCE_DATE_EPOCH_ARG: &str = "SOURCE_DATE_EPOCH";

/// Every build arg pybase reads: name, default value, description (what
/// `--call outline` lists).
pub const BUILD_ARGS: &[(&str, &str, &str)] = &[
    (
        MERGEOP_ARG,
        "true",
        "assemble the image with MergeOp when BuildKit offers it (`false`: copy the layers)",
    ),
    (
        SOURCE_DATE_EPOCH_ARG,
        "",
        "the build's date in seconds since 1970: the image's `created` and its label",
    ),
    (
        BUILD_DATE_ARG,
        "",
        "the build's date (RFC 3339) for the `org.opencontainers.image.created` label",
    ),
    (
        VCS_REF_ARG,
        "",
        "the source revision for `org.opencontainers.image.revision` (default: buildx's git information)",
    ),
    (
        VCS_URL_ARG,
        "",
        "the source repository for `org.opencontainers.image.source` (default: buildx's git information)",
    ),
];

/// The seeds' build arg for the build's date (RFC 3339).
pub const BUILD_DATE_ARG: &str = "BUILD_DATE";
/// The seeds' build arg for the source revision.
pub const VCS_REF_ARG: &str = "VCS_REF";
/// The source repository, as label-schema's build args name it.
pub const VCS_URL_ARG: &str = "VCS_URL";

/// What a build was asked to do.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// Every raw option, by key.
    pub raw: BTreeMap<String, String>,
    /// The session that serves the locals (`BUILDKIT_SESSION_ID`).
    pub session_id: String,
}

impl Options {
    /// Read the options from this process's environment.
    pub fn from_env() -> Self {
        let mut pairs = Vec::new();
        let mut session_id = String::new();
        for (key, value) in std::env::vars() {
            if key.starts_with("BUILDKIT_FRONTEND_OPT_") {
                pairs.push(value);
            } else if key == "BUILDKIT_SESSION_ID" {
                session_id = value;
            }
        }
        Self::from_pairs(pairs, session_id)
    }

    /// Options from `key=value` strings.
    pub fn from_pairs(pairs: impl IntoIterator<Item = String>, session_id: String) -> Self {
        let raw = pairs
            .into_iter()
            .map(|pair| match pair.split_once('=') {
                Some((key, value)) => (key.to_owned(), value.to_owned()),
                None => (pair, String::new()),
            })
            .collect();
        Self { raw, session_id }
    }

    /// The spec's file name in the `dockerfile` local.
    pub fn filename(&self) -> &str {
        self.raw
            .get("filename")
            .map(String::as_str)
            .filter(|f| !f.is_empty())
            .unwrap_or("pybase.yaml")
    }

    /// The local that holds the spec (`dockerfilekey`, default `dockerfile`).
    pub fn spec_local(&self) -> &str {
        self.raw
            .get("dockerfilekey")
            .map(String::as_str)
            .filter(|f| !f.is_empty())
            .unwrap_or("dockerfile")
    }

    /// `--target`, if given.
    pub fn target(&self) -> Option<&str> {
        self.raw
            .get("target")
            .map(String::as_str)
            .filter(|t| !t.is_empty())
    }

    /// A subrequest (`--call`/`--print`), if this is one.
    pub fn request_id(&self) -> Option<&str> {
        self.raw
            .get("requestid")
            .map(String::as_str)
            .filter(|t| !t.is_empty())
    }

    /// `--label` values, sorted.
    pub fn labels(&self) -> Vec<(String, String)> {
        self.prefixed("label:")
    }

    /// `--build-context NAME=VALUE` values, by name.
    pub fn named_context(&self, name: &str) -> Option<&str> {
        self.raw.get(&format!("context:{name}")).map(String::as_str)
    }

    /// `image-resolve-mode` (`default`, `pull` or `local`).
    pub fn image_resolve_mode(&self) -> &str {
        self.raw
            .get("image-resolve-mode")
            .map(String::as_str)
            .filter(|m| !m.is_empty())
            .unwrap_or("default")
    }

    /// `--no-cache` without a filter.
    pub fn no_cache(&self) -> bool {
        self.raw.get("no-cache").is_some_and(String::is_empty)
    }

    /// `--no-cache-filter NAMES`: the `no-cache` option with a
    /// comma-separated list of names (see [`llb_gen::plan::NoCacheFilter`]).
    pub fn no_cache_filter(&self) -> Option<&str> {
        self.raw
            .get("no-cache")
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// `--add-host HOST:IP` (buildx passes them as the `add-hosts` option,
    /// `HOST=IP` entries separated by commas, as BuildKit's dockerui reads
    /// it): entries of every step's `/etc/hosts`. An entry without `=` or
    /// whose address is not an IP address is an error.
    pub fn add_hosts(&self) -> anyhow::Result<Vec<bollard_buildkit_proto::pb::HostIp>> {
        let Some(value) = self.raw.get("add-hosts").filter(|v| !v.is_empty()) else {
            return Ok(Vec::new());
        };
        let mut hosts = Vec::new();
        for field in value.split(',') {
            // BuildKit reads the list as CSV and lower-cases each entry.
            let entry = field.trim().trim_matches('"').to_ascii_lowercase();
            let Some((host, ip)) = entry.split_once('=') else {
                bail!(
                    "--add-host {field}: expected HOST:IP, e.g. `--add-host index.internal:10.0.0.7`"
                );
            };
            let address: std::net::IpAddr = ip.parse().map_err(|_| {
                anyhow::anyhow!("--add-host {host}:{ip}: `{ip}` is not an IP address")
            })?;
            if host.is_empty() {
                bail!("--add-host :{ip}: the host name is empty");
            }
            hosts.push(bollard_buildkit_proto::pb::HostIp {
                host: host.to_owned(),
                ip: address.to_string(),
            });
        }
        Ok(hosts)
    }

    /// `--network MODE` (the `force-network-mode` option): `none` or
    /// `host` for every step that has the network (`host` needs the
    /// entitlement, `--allow network.host`); `default` or `sandbox` (or
    /// nothing) leaves them as they are.
    pub fn network(&self) -> anyhow::Result<Option<Network>> {
        match self.raw.get("force-network-mode").map(String::as_str) {
            None | Some("" | "default" | "sandbox") => Ok(None),
            Some("none") => Ok(Some(Network::None)),
            Some("host") => Ok(Some(Network::Host)),
            Some(other) => {
                bail!("--network {other}: pybase builds with `default`, `none` or `host`")
            }
        }
    }

    /// Every `--build-arg`, for `${NAME}` references in the spec.
    pub fn build_args(&self) -> llb_gen::spec::BuildArgs {
        self.raw
            .iter()
            .filter_map(|(key, value)| Some((key.strip_prefix("build-arg:")?, value.as_str())))
            .collect()
    }

    /// The proxies of the build: the `HTTP_PROXY`, `HTTPS_PROXY`,
    /// `FTP_PROXY`, `NO_PROXY` and `ALL_PROXY` build args (the Docker CLI
    /// passes them from its config and environment), upper case first,
    /// else lower case, as the Dockerfile frontend reads them; `None` when
    /// none is set.
    pub fn proxy_env(&self) -> Option<llb_gen::llb::ProxyEnv> {
        let arg = |name: &str| {
            self.build_arg(name)
                .or_else(|| self.build_arg(&name.to_ascii_lowercase()))
                .unwrap_or_default()
                .to_owned()
        };
        let proxy = llb_gen::llb::ProxyEnv {
            http_proxy: arg("HTTP_PROXY"),
            https_proxy: arg("HTTPS_PROXY"),
            ftp_proxy: arg("FTP_PROXY"),
            no_proxy: arg("NO_PROXY"),
            all_proxy: arg("ALL_PROXY"),
        };
        (proxy != llb_gen::llb::ProxyEnv::default()).then_some(proxy)
    }

    /// `--build-arg BUILDKIT_CACHE_MOUNT_NS=NS`: the namespace of every
    /// cache mount's id, as the Dockerfile frontend reads it; `None` when
    /// unset or empty.
    pub fn cache_namespace(&self) -> Option<String> {
        self.build_arg("BUILDKIT_CACHE_MOUNT_NS")
            .filter(|ns| !ns.is_empty())
            .map(str::to_owned)
    }

    /// A `--build-arg`, when given.
    pub fn build_arg(&self, name: &str) -> Option<&str> {
        self.raw
            .get(&format!("build-arg:{name}"))
            .map(String::as_str)
    }

    /// Whether MergeOp may assemble the image (`--build-arg
    /// PYBASE_MERGEOP=false` turns it off; BuildKit must offer it either way).
    pub fn prefer_mergeop(&self) -> anyhow::Result<bool> {
        match self.build_arg(MERGEOP_ARG) {
            None | Some("") | Some("true" | "1") => Ok(true),
            Some("false" | "0") => Ok(false),
            Some(other) => bail!("--build-arg PYBASE_MERGEOP={other}: expected `true` or `false`"),
        }
    }

    /// `SOURCE_DATE_EPOCH` (buildx passes the variable as a build arg): the
    /// build's date in seconds since 1970, for reproducible images.
    pub fn source_date_epoch(&self) -> anyhow::Result<Option<i64>> {
        match self
            .build_arg(SOURCE_DATE_EPOCH_ARG)
            .filter(|v| !v.is_empty())
        {
            None => Ok(None),
            Some(value) => value.parse().map(Some).map_err(|_| {
                anyhow::anyhow!(
                    "SOURCE_DATE_EPOCH={value}: expected a number of seconds since 1970"
                )
            }),
        }
    }

    /// The source revision: `--build-arg VCS_REF`, else buildx's
    /// `vcs:revision` (the context's git commit).
    pub fn revision(&self) -> Option<String> {
        self.build_arg(VCS_REF_ARG)
            .filter(|v| !v.is_empty())
            .or_else(|| self.raw.get("vcs:revision").map(String::as_str))
            .map(str::to_owned)
    }

    /// The source repository: `--build-arg VCS_URL`, else buildx's
    /// `vcs:source`.
    pub fn source(&self) -> Option<String> {
        self.build_arg(VCS_URL_ARG)
            .filter(|v| !v.is_empty())
            .or_else(|| self.raw.get("vcs:source").map(String::as_str))
            .map(str::to_owned)
    }

    /// `--build-arg BUILD_DATE`, checked and normalized to UTC.
    pub fn build_date(&self) -> anyhow::Result<Option<String>> {
        match self.build_arg(BUILD_DATE_ARG).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(value) => llb_gen::plan::parse_build_date(value)
                .map(Some)
                .map_err(|e| anyhow::anyhow!("--build-arg BUILD_DATE={value}: {e}")),
        }
    }

    /// Whether pybase makes the image's SBOM itself: `--sbom=true`
    /// (BuildKit's `attest:sbom` option, or the build arg
    /// `BUILDKIT_ATTEST_SBOM`) asks for one, and its value neither turns it
    /// off (`disabled=true`) nor names a scanner image (`generator=…`), which
    /// BuildKit then runs itself, as it would for any frontend.
    pub fn own_sbom(&self) -> bool {
        let Some(value) = self
            .raw
            .get("attest:sbom")
            .or_else(|| self.raw.get("build-arg:BUILDKIT_ATTEST_SBOM"))
        else {
            return false;
        };
        !value.split(',').map(str::trim).any(|field| {
            let (key, value) = field.split_once('=').unwrap_or((field, ""));
            key == "generator" || (key == "disabled" && value == "true")
        })
    }

    /// `--platform`'s platforms, in the order given, each once (`x86_64`
    /// and `amd64` are one); empty when none is given (BuildKit's worker
    /// decides then).
    pub fn platforms(&self) -> anyhow::Result<Vec<Platform>> {
        let Some(value) = self.raw.get("platform").filter(|v| !v.trim().is_empty()) else {
            return Ok(Vec::new());
        };
        let mut platforms: Vec<Platform> = Vec::new();
        for text in value.split(',').map(str::trim) {
            if text.is_empty() {
                bail!("--platform {value}: an empty platform between commas");
            }
            let platform = parse_platform(text)?;
            if !platforms.contains(&platform) {
                platforms.push(platform);
            }
        }
        Ok(platforms)
    }

    fn prefixed(&self, prefix: &str) -> Vec<(String, String)> {
        self.raw
            .iter()
            .filter_map(|(k, v)| k.strip_prefix(prefix).map(|k| (k.to_owned(), v.clone())))
            .collect()
    }
}

/// `os/arch[/variant]`, with common aliases folded (`x86_64` → `amd64`).
pub fn parse_platform(text: &str) -> anyhow::Result<Platform> {
    let mut parts = text.split('/');
    let os = parts.next().filter(|p| !p.is_empty());
    let arch = parts.next().filter(|p| !p.is_empty());
    let variant = parts.next().unwrap_or_default();
    let (Some(os), Some(arch), None) = (os, arch, parts.next()) else {
        bail!("invalid platform `{text}`: expected `os/arch[/variant]`, e.g. `linux/amd64`");
    };
    let architecture = match arch {
        "x86_64" | "x86-64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    Ok(Platform {
        os: os.to_owned(),
        architecture: architecture.to_owned(),
        variant: variant.to_owned(),
    })
}

/// An image a `--build-context NAME=VALUE` puts in place of a `from:` or
/// `build-from:` image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImageContext<'a> {
    /// `docker-image://REFERENCE`: another image of a registry or of the
    /// daemon's store.
    Registry(&'a str),
    /// `oci-layout://STORE[:TAG]@DIGEST`, as buildx passes an OCI layout
    /// directory (`oci-layout:///path/to/layout[:tag]` on its command line):
    /// the image `digest` of the content store `store` that the client
    /// shares in the build's session.
    OciLayout {
        /// The content store's id in the session.
        store: &'a str,
        /// The image's digest (`sha256:…`).
        digest: &'a str,
    },
}

/// The image a `--build-context` value replacing an image names.
pub fn image_context(value: &str) -> anyhow::Result<ImageContext<'_>> {
    if let Some(reference) = value.strip_prefix("docker-image://") {
        return match reference {
            "" => Err(anyhow!("the build context `{value}` names no image")),
            reference => Ok(ImageContext::Registry(reference)),
        };
    }
    if let Some(layout) = value.strip_prefix("oci-layout://") {
        let layout = layout.trim_start_matches('/');
        let (name, digest) = layout.rsplit_once('@').with_context(|| {
            format!("the build context `{value}` names an OCI layout without an image digest (buildx adds it: pass `oci-layout:///path/to/layout[:TAG]`)")
        })?;
        // The store is the name without its tag (`:TAG` after the last `/`).
        let store = match name.rsplit_once(':') {
            Some((store, tag)) if !tag.contains('/') => store,
            _ => name,
        };
        if store.is_empty() || !digest.starts_with("sha256:") || digest.len() != 71 {
            return Err(anyhow!(
                "the build context `{value}` is not an OCI layout image `oci-layout://STORE[:TAG]@sha256:DIGEST`"
            ));
        }
        return Ok(ImageContext::OciLayout { store, digest });
    }
    Err(anyhow!(
        "the build context `{value}` replaces a base image, so it must be an image: `docker-image://REFERENCE` or `oci-layout:///path/to/layout[:TAG]`"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(pairs: &[&str]) -> Options {
        Options::from_pairs(pairs.iter().map(|p| (*p).to_owned()), "s".into())
    }

    #[test]
    fn the_proxy_build_args_are_the_proxy_env_upper_case_first() {
        assert_eq!(options(&["build-arg:VERSION=1"]).proxy_env(), None);
        let proxy = options(&[
            "build-arg:HTTPS_PROXY=http://proxy:3128",
            "build-arg:https_proxy=http://ignored:1",
            "build-arg:http_proxy=http://lower:8080",
            "build-arg:no_proxy=localhost,.internal",
        ])
        .proxy_env()
        .expect("proxies");
        assert_eq!(proxy.https_proxy, "http://proxy:3128");
        assert_eq!(proxy.http_proxy, "http://lower:8080");
        assert_eq!(proxy.no_proxy, "localhost,.internal");
        assert_eq!(proxy.all_proxy, "");
    }

    #[test]
    fn added_hosts_are_host_ip_pairs_and_a_bad_one_is_an_error() {
        assert!(options(&[]).add_hosts().expect("none").is_empty());
        let hosts = options(&["add-hosts=Index.Internal=10.0.0.7,v6.internal=::1"])
            .add_hosts()
            .expect("valid");
        let pairs: Vec<(&str, &str)> = hosts
            .iter()
            .map(|h| (h.host.as_str(), h.ip.as_str()))
            .collect();
        assert_eq!(
            pairs,
            [("index.internal", "10.0.0.7"), ("v6.internal", "::1")]
        );
        let error = options(&["add-hosts=index.internal=10.0.0.300"])
            .add_hosts()
            .expect_err("not an address")
            .to_string();
        assert_eq!(
            error,
            "--add-host index.internal:10.0.0.300: `10.0.0.300` is not an IP address"
        );
        let error = options(&["add-hosts=index.internal"])
            .add_hosts()
            .expect_err("no address");
        assert!(error.to_string().contains("expected HOST:IP"), "{error}");
    }

    #[test]
    fn the_network_mode_is_none_host_or_left_alone() {
        let mode = |value: &str| options(&[&format!("force-network-mode={value}")]).network();
        assert_eq!(options(&[]).network().expect("valid"), None);
        assert_eq!(mode("default").expect("valid"), None);
        assert_eq!(mode("sandbox").expect("valid"), None);
        assert_eq!(mode("none").expect("valid"), Some(Network::None));
        assert_eq!(mode("host").expect("valid"), Some(Network::Host));
        let error = mode("bridge").expect_err("unknown").to_string();
        assert_eq!(
            error,
            "--network bridge: pybase builds with `default`, `none` or `host`"
        );
    }

    #[test]
    fn a_no_cache_list_is_a_filter_and_an_empty_one_is_everything() {
        let all = options(&["no-cache="]);
        assert!(all.no_cache());
        assert_eq!(all.no_cache_filter(), None);
        let some = options(&["no-cache=system,venv"]);
        assert!(!some.no_cache());
        assert_eq!(some.no_cache_filter(), Some("system,venv"));
        assert!(!options(&[]).no_cache());
        assert_eq!(options(&[]).no_cache_filter(), None);
    }

    #[test]
    fn the_seeds_build_args_name_the_revision_source_and_date() {
        let buildx = options(&[
            "vcs:revision=0123abcd",
            "vcs:source=https://example.com/a.git",
        ]);
        assert_eq!(buildx.revision().as_deref(), Some("0123abcd"));
        assert_eq!(
            buildx.source().as_deref(),
            Some("https://example.com/a.git")
        );
        assert_eq!(buildx.build_date().expect("valid"), None);
        let args = options(&[
            "vcs:revision=0123abcd",
            "build-arg:VCS_REF=feedbeef",
            "build-arg:VCS_URL=https://example.com/b.git",
            "build-arg:BUILD_DATE=2024-01-31T13:00:00+01:00",
        ]);
        assert_eq!(args.revision().as_deref(), Some("feedbeef"));
        assert_eq!(args.source().as_deref(), Some("https://example.com/b.git"));
        assert_eq!(
            args.build_date().expect("valid").as_deref(),
            Some("2024-01-31T12:00:00Z")
        );
        let bad = options(&["build-arg:BUILD_DATE=yesterday"]);
        let error = bad.build_date().expect_err("not a date").to_string();
        assert!(
            error.starts_with("--build-arg BUILD_DATE=yesterday: expected an RFC 3339 date"),
            "{error}"
        );
    }

    #[test]
    fn reads_what_buildx_sends() {
        let o = options(&[
            "filename=pybase.yaml",
            "target=api",
            "label:a=b=c",
            "context:python:3.12-slim=docker-image://local/py:3",
            "no-cache=",
            "platform=linux/arm64",
            "build-arg:PYBASE_MERGEOP=false",
        ]);
        assert!(!o.prefer_mergeop().expect("valid"));
        assert_eq!(o.filename(), "pybase.yaml");
        assert_eq!(o.target(), Some("api"));
        assert_eq!(o.labels(), vec![("a".to_owned(), "b=c".to_owned())]);
        assert_eq!(
            o.named_context("python:3.12-slim"),
            Some("docker-image://local/py:3")
        );
        assert!(o.no_cache());
        assert_eq!(
            o.platforms()
                .expect("valid")
                .iter()
                .map(Platform::to_spec_string)
                .collect::<Vec<_>>(),
            ["linux/arm64"]
        );
    }

    #[test]
    fn the_sbom_is_pybases_unless_disabled_or_a_scanner_is_named() {
        assert!(options(&["attest:sbom="]).own_sbom());
        assert!(options(&["build-arg:BUILDKIT_ATTEST_SBOM="]).own_sbom());
        assert!(!options(&[]).own_sbom());
        assert!(!options(&["attest:sbom=disabled=true"]).own_sbom());
        assert!(!options(&["attest:sbom=generator=docker/buildkit-syft-scanner"]).own_sbom());
    }

    #[test]
    fn several_platforms_come_in_order_each_once() {
        let specs = |value: &str| -> anyhow::Result<Vec<String>> {
            Ok(options(&[&format!("platform={value}")])
                .platforms()?
                .iter()
                .map(Platform::to_spec_string)
                .collect())
        };
        assert_eq!(
            specs("linux/arm64, linux/amd64,linux/x86_64,linux/arm64,linux/arm/v7").expect("valid"),
            ["linux/arm64", "linux/amd64", "linux/arm/v7"]
        );
        assert!(specs("").expect("valid").is_empty());
        assert!(options(&[]).platforms().expect("valid").is_empty());
        let err = specs("linux/amd64,,linux/arm64").expect_err("empty entry");
        assert!(err.to_string().contains("an empty platform"), "{err}");
        let err = specs("linux/amd64,arm64").expect_err("no os");
        assert!(
            err.to_string().contains("invalid platform `arm64`"),
            "{err}"
        );
    }

    #[test]
    fn image_contexts_are_registry_images_or_oci_layout_images() {
        let digest = format!("sha256:{}", "a".repeat(64));
        assert_eq!(
            image_context("docker-image://mirror/python:3.12").expect("valid"),
            ImageContext::Registry("mirror/python:3.12")
        );
        for value in [
            format!("oci-layout://store1@{digest}"),
            format!("oci-layout://store1:3.12@{digest}"),
        ] {
            assert_eq!(
                image_context(&value).expect("valid"),
                ImageContext::OciLayout {
                    store: "store1",
                    digest: &digest
                },
                "{value}"
            );
        }
        for bad in [
            "docker-image://",
            "oci-layout://store1:3.12",
            "oci-layout://store1@sha256:short",
            "local:python",
            "https://example.com/rootfs.tar",
        ] {
            let error = image_context(bad).expect_err(bad).to_string();
            assert!(error.contains(bad), "{bad}: {error}");
        }
    }
}
