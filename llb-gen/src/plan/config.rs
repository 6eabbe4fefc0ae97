//! The image config: the base image's, with pybase's environment, the
//! user and working directory of the last level, the service's command,
//! ports and health check, the OCI labels (and a tier's inputs digest)
//! and one history entry per layer.

use crate::image::ConfigChanges;
use crate::llb::marshal::digest_of;
use crate::spec::{DEFAULT_WORKDIR, User};
use crate::tools;

use super::{BuildInputs, Target, TargetKind, VENV_DIR};

/// The label that carries the digest of a tier image's inputs.
pub const TIER_INPUTS_LABEL: &str = "dev.pybase.tier.inputs-digest";

/// The digest of what decides a tier image: the base image (with its
/// digest when known), the build image when there is one, and each level's packages, environment, user and
/// lock inputs. `None` when a project's files were not read.
fn tier_inputs_digest(target: &Target<'_>, inputs: &BuildInputs<'_>) -> Option<String> {
    let mut levels_json = Vec::new();
    for tier in &target.tiers {
        let lock = match tier.project_dir() {
            Some(project) => Some(inputs.projects.get(project.dir)?.files_digest.clone()?),
            None => None,
        };
        levels_json.push(serde_json::json!({
            "tier": tier.level.name,
            "runtime": tier.level.runtime_packages,
            "build": tier.level.build_packages,
            "env": tier.level.env,
            "user": tier.level.user.as_ref().map(|u| (&u.name, u.uid, u.gid)),
            "lock": lock,
            "extras": tier.level.selection.extras.iter().map(|e| &e.name).collect::<Vec<_>>(),
            "groups": tier.level.selection.groups.iter().map(|g| &g.name).collect::<Vec<_>>(),
        }));
    }
    let mut canonical = serde_json::json!({
        "base": inputs.base.reference,
        "base_digest": inputs.base.digest,
        "levels": levels_json,
        "uv": tools::UV_VERSION,
    });
    // Only when there is one, so the digests of other tiers stay as they were.
    if let Some(builder) = &inputs.builder {
        canonical["builder"] = serde_json::json!([builder.reference, builder.digest]);
    }
    Some(digest_of(canonical.to_string().as_bytes()))
}

pub(super) fn config_changes(
    target: &Target<'_>,
    inputs: &BuildInputs<'_>,
    user: &User,
    history: Vec<String>,
) -> ConfigChanges {
    let service = target.service;
    let provenance = &inputs.provenance;
    let oci = |key: &str| format!("org.opencontainers.image.{key}");
    let base_name = target
        .base_image()
        .map(|(image, _)| image.normalized.clone())
        .unwrap_or_default();
    // Ours first, then the spec's, then `--label`: later ones win.
    let mut labels = vec![(oci("title"), target.name()), (oci("base.name"), base_name)];
    let optional = [
        ("base.digest", inputs.base.digest.clone()),
        ("version", provenance.version.clone()),
        ("revision", provenance.revision.clone()),
        ("source", provenance.source.clone()),
        (
            "created",
            provenance.build_date.clone().or_else(|| {
                provenance
                    .source_date_epoch
                    .and_then(|epoch| jiff::Timestamp::from_second(epoch).ok())
                    .map(|t| t.to_string())
            }),
        ),
    ];
    labels.extend(
        optional
            .into_iter()
            .filter_map(|(key, value)| value.map(|v| (oci(key), v))),
    );
    if target.kind == TargetKind::Tier
        && let Some(digest) = tier_inputs_digest(target, inputs)
    {
        labels.push((TIER_INPUTS_LABEL.to_owned(), digest));
    }
    if let Some(service) = service {
        labels.extend(service.labels.iter().cloned());
    }
    labels.extend(inputs.labels.iter().cloned());
    let mut env = vec![
        ("VIRTUAL_ENV".to_owned(), VENV_DIR.to_owned()),
        ("PYTHONUNBUFFERED".to_owned(), "1".to_owned()),
        ("PYTHONDONTWRITEBYTECODE".to_owned(), "1".to_owned()),
    ];
    for tier in &target.tiers {
        env.extend(tier.level.env.iter().cloned());
    }
    if let Some(service) = service {
        env.extend(service.level.env.iter().cloned());
    }
    // Only the service image itself gets the service's command and health
    // check: its base target keeps the base image's, which do not need the
    // project.
    let image = service.filter(|_| target.kind == TargetKind::Image);
    ConfigChanges {
        env,
        path_prefix: format!("{VENV_DIR}/bin"),
        working_dir: service.map_or(DEFAULT_WORKDIR, |s| &s.workdir).to_owned(),
        user: format!("{}:{}", user.uid, user.gid),
        cmd: image.and_then(|s| s.command.clone()),
        entrypoint: image.and_then(|s| s.entrypoint.clone()),
        exposed_ports: service.map(|s| s.ports.clone()).unwrap_or_default(),
        healthcheck: image.and_then(|s| s.healthcheck.as_ref()).map(|check| {
            let mut value = serde_json::json!({ "Test": check.test });
            for (key, nanos) in [
                ("Interval", check.interval),
                ("Timeout", check.timeout),
                ("StartPeriod", check.start_period),
            ] {
                if let Some(nanos) = nanos {
                    value[key] = serde_json::json!(nanos);
                }
            }
            if let Some(retries) = check.retries {
                value["Retries"] = serde_json::json!(retries);
            }
            value
        }),
        stop_signal: service.and_then(|s| s.stop_signal.clone()),
        labels,
        history: history.into_iter().map(|h| (h, false)).collect(),
    }
}
