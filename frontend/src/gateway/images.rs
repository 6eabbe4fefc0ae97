//! Resolving the images a target builds on, for one platform: the base
//! image (`from:`) and the build image (`build-from:`), each through a
//! `--build-context NAME=docker-image://REFERENCE` or
//! `NAME=oci-layout:///path/to/layout[:TAG]` replacement first (as the
//! Dockerfile frontend does), then looked into for its Python and C library
//! ([`crate::probe`]), and with `--platform` checked to have that platform;
//! then the two images' Pythons are checked to agree.
//!
//! A problem is reported at the image's line in the spec.

use anyhow::anyhow;
use bollard_buildkit_proto::moby::buildkit::v1::frontend as gw;
use bollard_buildkit_proto::pb;
use llb_gen::diagnostic::{Diagnostic, Position};
use llb_gen::image;
use llb_gen::llb::Platform;
use llb_gen::llb::marshal::ServerCaps;
use llb_gen::plan::{self, BaseImage, ImageStore};
use llb_gen::spec::ImageName;

use super::inputs::SpecFile;
use crate::bridge::{Bridge, Failure};
use crate::options::{ImageContext, Options, image_context};
use crate::probe;

/// An image the target names, and where in the spec.
#[derive(Clone, Copy)]
struct Named<'a> {
    /// What it is to the target: `base image` or `build image`.
    what: &'static str,
    /// The name as the spec writes it.
    name: &'a ImageName,
    /// Where the spec names it.
    at: Option<Position>,
}

/// The images of one target, to resolve for each platform.
pub(super) struct Images<'a> {
    options: &'a Options,
    caps: &'a ServerCaps,
    spec: &'a SpecFile<'a>,
    /// The runtime image (`from:`).
    base: Named<'a>,
    /// The image the venv is built in (`build-from:`), if not the base.
    build: Option<Named<'a>>,
    /// Platforms were asked for (`--platform`): each image's config is
    /// checked against them. The worker's own is what BuildKit resolves
    /// anyway.
    check_platforms: bool,
}

/// A target's images on one platform.
pub(super) struct Resolved {
    /// The runtime image.
    pub base: BaseImage,
    /// The build image, if the target has one.
    pub builder: Option<BaseImage>,
    /// The Python the images say they have (`PYTHON_VERSION`), if they do.
    pub python: Option<String>,
}

impl<'a> Images<'a> {
    /// The images `target` names; with `check_platforms` (platforms asked
    /// for), each is checked to have the platform it is resolved for.
    pub fn of(
        target: &plan::Target<'a>,
        options: &'a Options,
        caps: &'a ServerCaps,
        spec: &'a SpecFile<'a>,
        check_platforms: bool,
    ) -> anyhow::Result<Self> {
        let (name, at) = target
            .base_image()
            .ok_or_else(|| anyhow!("internal error: the target has no base image"))?;
        Ok(Self {
            options,
            caps,
            spec,
            base: Named {
                what: "base image",
                name,
                at,
            },
            build: target.build_image().map(|(name, at)| Named {
                what: "build image",
                name,
                at,
            }),
            check_platforms,
        })
    }

    /// The runtime image's name as the spec writes it.
    pub fn base_name(&self) -> &str {
        &self.base.name.as_written
    }

    /// The target's images on `platform`; `step` names the progress lines.
    pub async fn resolve(
        &self,
        bridge: &mut Bridge,
        platform: &Platform,
        step: &str,
    ) -> Result<Resolved, Failure> {
        let base = self.one(bridge, self.base, platform, step).await?;
        let builder = match self.build {
            None => None,
            Some(named) => Some(self.one(bridge, named, platform, step).await?),
        };
        let python = self.python(&base, builder.as_ref())?;
        Ok(Resolved {
            base,
            builder,
            python,
        })
    }

    /// One image on `platform`: resolved, (with `--platform`) checked, then
    /// probed.
    async fn one(
        &self,
        bridge: &mut Bridge,
        named: Named<'_>,
        platform: &Platform,
        step: &str,
    ) -> Result<BaseImage, Failure> {
        let spec_failure = |d: Diagnostic| self.spec.failure(d);
        let mut image = resolve_base(bridge, (self.options, self.caps), step, named, platform)
            .await
            .map_err(spec_failure)?;
        // An image of another platform is refused before it is pulled to be
        // looked into.
        if self.check_platforms {
            check_base_platform(
                named.what,
                &image,
                named.name,
                named.at,
                platform,
                self.spec.name,
            )
            .map_err(spec_failure)?;
        }
        image.facts = probe::image_facts(bridge, &image, platform, self.caps, step).await?;
        Ok(image)
    }

    /// The official images say their Python; others are left to the
    /// installer, which refuses an interpreter requires-python excludes.
    /// Building elsewhere, the venv is made by the build image's Python and
    /// run by the runtime image's: the two must agree.
    fn python(
        &self,
        base: &BaseImage,
        builder: Option<&BaseImage>,
    ) -> Result<Option<String>, Failure> {
        let base_env = image::base_env(&base.config);
        let builder_env = builder.map(|b| image::base_env(&b.config));
        let base_python = image::get_env(&base_env, "PYTHON_VERSION");
        let builder_python = builder_env
            .as_ref()
            .and_then(|env| image::get_env(env, "PYTHON_VERSION"));
        if let (Some(runtime), Some(build), Some(named)) = (base_python, builder_python, self.build)
            && runtime != build
        {
            return Err(self.spec.failure(
                Diagnostic::at(
                    self.spec.name,
                    named.at,
                    format!(
                        "the build image `{}` has Python {build}, but the runtime image `{}` has Python {runtime}: the venv is built for the one and run by the other",
                        named.name.as_written, self.base.name.as_written
                    ),
                )
                .with_hint("build in an image with the runtime image's CPython, at the same path"),
            ));
        }
        Ok(base_python.or(builder_python).map(str::to_owned))
    }
}

/// In a multi-platform build, a base image whose config names another
/// architecture than the one asked for has no variant for it (BuildKit
/// answered with the one it has): building on it would give an image of
/// the wrong architecture under the platform's name.
fn check_base_platform(
    what: &str,
    base: &BaseImage,
    from: &ImageName,
    from_at: Option<Position>,
    platform: &Platform,
    spec_file: &str,
) -> Result<(), Diagnostic> {
    let field = |name: &str| base.config.get(name).and_then(serde_json::Value::as_str);
    let found = [
        ("os", &platform.os),
        ("architecture", &platform.architecture),
    ]
    .into_iter()
    .find(|(name, wanted)| field(name).is_some_and(|have| have != wanted.as_str()));
    let Some((name, _)) = found else {
        return Ok(());
    };
    Err(Diagnostic::at(
        spec_file,
        from_at,
        format!(
            "the {what} `{}` has no {} variant: BuildKit resolved `{}`, whose {name} is `{}`",
            from.as_written,
            platform.to_spec_string(),
            base.reference,
            field(name).unwrap_or_default()
        ),
    )
    .with_hint(format!(
        "build on an image (or index) that has {}, or leave that platform out of --platform",
        platform.to_spec_string()
    )))
}

/// What to do when the BuildKit cannot read an OCI layout.
const OCI_LAYOUT_HINT: &str = "this BuildKit reads no OCI layout (Docker's classic image store's cannot): `docker load` the image and pass `--build-context NAME=docker-image://REFERENCE`, or use Docker's containerd image store";

/// Resolve the service's base image (or build image, `what` says which): a
/// `--build-context` that replaces it (looked up as written, in short and
/// in full form: another image, or an image of an OCI layout the client
/// shares), else the name itself. `step` names the progress step
/// (`[step] resolve base image …`).
async fn resolve_base(
    bridge: &mut Bridge,
    (options, caps): (&Options, &ServerCaps),
    step: &str,
    named: Named<'_>,
    platform: &Platform,
) -> Result<BaseImage, Diagnostic> {
    let Named {
        what,
        name: from,
        at: from_at,
    } = named;
    let located = |message: String, hint: String| {
        Diagnostic::at(options.filename(), from_at, message).with_hint(hint)
    };
    let replacement = [&from.as_written, &from.familiar, &from.normalized]
        .into_iter()
        .find_map(|name| options.named_context(name));
    let context_hint = || {
        "use `--build-context NAME=docker-image://REFERENCE` or `--build-context NAME=oci-layout:///path/to/layout[:TAG]`".to_owned()
    };
    let replaced = replacement
        .map(image_context)
        .transpose()
        .map_err(|e| located(format!("{e:#}"), context_hint()))?;
    let (name, store) = match replaced {
        None => (from.clone(), ImageStore::Registry),
        Some(ImageContext::Registry(reference)) => {
            let name = ImageName::parse(reference).map_err(|e| {
                located(
                    format!(
                        "the build context for `{}` names an invalid image `{reference}`: {e}",
                        from.as_written
                    ),
                    context_hint(),
                )
            })?;
            (name, ImageStore::Registry)
        }
        // A BuildKit older than v0.11 cannot read OCI layouts at all.
        Some(ImageContext::OciLayout { .. })
            if !matches!(caps.get("source.ocilayout"), Some(Ok(()))) =>
        {
            return Err(located(
                format!(
                    "the build context for `{}` is an OCI layout, which this BuildKit cannot read (it lacks the cap `source.ocilayout` of BuildKit v0.11+)",
                    from.as_written
                ),
                OCI_LAYOUT_HINT.into(),
            ));
        }
        // The image is named after what it replaces, with the layout's
        // digest (as the Dockerfile frontend names it in its log).
        Some(ImageContext::OciLayout { store, digest }) => {
            let undigested = from.normalized.split('@').next().unwrap_or_default();
            let name = ImageName::parse(&format!("{undigested}@{digest}"))
                .map_err(|e| located(e.to_string(), context_hint()))?;
            let store = ImageStore::OciLayout {
                session_id: options.session_id.clone(),
                store_id: store.to_owned(),
            };
            (name, store)
        }
    };
    let (resolver_type, session_id, store_id) = match &store {
        ImageStore::Registry => (0, String::new(), String::new()),
        ImageStore::OciLayout {
            session_id,
            store_id,
        } => (1, session_id.clone(), store_id.clone()),
    };
    let response = bridge
        .resolve_image_config(gw::ResolveImageConfigRequest {
            r#ref: name.normalized.clone(),
            platform: Some(pb::Platform {
                os: platform.os.clone(),
                architecture: platform.architecture.clone(),
                variant: platform.variant.clone(),
                ..Default::default()
            }),
            resolve_mode: options.image_resolve_mode().to_owned(),
            log_name: format!("[{step}] resolve {what} {}", name.normalized),
            resolver_type,
            session_id,
            store_id,
            ..Default::default()
        })
        .await
        .map_err(|status| {
            let hint = match store {
                // Docker's classic store's BuildKit offers the cap but its
                // worker reads no OCI layout ("unknown scheme").
                ImageStore::OciLayout { .. } => OCI_LAYOUT_HINT.to_owned(),
                ImageStore::Registry => format!(
                    "check the name; to use another image under this name, pass `--build-context {}=docker-image://OTHER`",
                    from.as_written
                ),
            };
            located(
                format!("cannot resolve the {what} `{}`: {}", name.normalized, status.message()),
                hint,
            )
        })?
        .into_inner();
    let config = serde_json::from_slice(&response.config).map_err(|e| {
        located(
            format!(
                "the {what} `{}` has an unreadable config: {e}",
                name.normalized
            ),
            "is it a container image?".into(),
        )
    })?;
    let resolved = if response.r#ref.is_empty() {
        name.normalized
    } else {
        response.r#ref
    };
    let digest = (!response.digest.is_empty()).then_some(response.digest);
    let reference = match &digest {
        Some(digest) if !resolved.contains('@') => format!("{resolved}@{digest}"),
        _ => resolved,
    };
    Ok(BaseImage {
        reference,
        digest,
        config,
        facts: Default::default(),
        store,
    })
}
