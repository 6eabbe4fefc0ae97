//! A readable JSON view of a `Definition`, for people and snapshot tests.
//!
//! Ops are listed in definition order, each with its digest, inputs, body and
//! metadata. Input digests are shown as op numbers (`#3`) so a snapshot diff
//! shows what changed in structure, not a cascade of new hashes; the digests
//! themselves are listed too, so byte-level changes remain visible.

use bollard_buildkit_proto::pb;
use prost::Message;
use serde_json::{Value, json};

use crate::llb::marshal::digest_of;

/// Why a definition could not be described.
#[derive(Debug, thiserror::Error)]
#[error("op {index} of the definition is not a valid LLB op: {source}")]
pub struct DescribeError {
    index: usize,
    #[source]
    source: prost::DecodeError,
}

/// Describe `definition` as JSON.
pub fn describe(definition: &pb::Definition) -> Result<Value, DescribeError> {
    let digests: Vec<String> = definition.def.iter().map(|b| digest_of(b)).collect();
    let number = |digest: &str| {
        digests
            .iter()
            .position(|d| d == digest)
            .map_or_else(|| digest.to_owned(), |i| format!("#{i}"))
    };
    let mut ops = Vec::new();
    for (index, bytes) in definition.def.iter().enumerate() {
        let op =
            pb::Op::decode(bytes.as_slice()).map_err(|source| DescribeError { index, source })?;
        let mut entry = json!({
            "#": index,
            "digest": digests[index],
            "inputs": op.inputs.iter().map(|i| format!("{}[{}]", number(&i.digest), i.index)).collect::<Vec<_>>(),
        });
        if let Some(platform) = &op.platform {
            entry["platform"] = json!(format!("{}/{}", platform.os, platform.architecture));
        }
        entry["op"] = match &op.op {
            None => json!("result"),
            Some(body) => describe_body(body),
        };
        if let Some(meta) = definition.metadata.get(&digests[index]) {
            if let Some(name) = meta.description.get("llb.customname") {
                entry["name"] = json!(name);
            }
            entry["caps"] = json!(meta.caps.keys().collect::<Vec<_>>());
            if meta.ignore_cache {
                entry["ignore_cache"] = json!(true);
            }
        }
        if let Some(source) = &definition.source
            && let Some(locations) = source.locations.get(&digests[index])
        {
            entry["lines"] = json!(
                locations
                    .locations
                    .iter()
                    .flat_map(|l| l
                        .ranges
                        .iter()
                        .filter_map(|r| r.start.as_ref().map(|s| s.line)))
                    .collect::<Vec<_>>()
            );
        }
        ops.push(entry);
    }
    let mut out = json!({ "ops": ops });
    if let Some(source) = &definition.source {
        out["source"] = json!(
            source
                .infos
                .iter()
                .map(|i| json!({"filename": i.filename, "language": i.language, "bytes": i.data.len()}))
                .collect::<Vec<_>>()
        );
    }
    Ok(out)
}

fn describe_body(body: &pb::op::Op) -> Value {
    match body {
        pb::op::Op::Source(source) => json!({
            "source": source.identifier,
            "attrs": source.attrs,
        }),
        pb::op::Op::Exec(exec) => {
            let meta = exec.meta.clone().unwrap_or_default();
            let mut out = json!({
                "exec": meta.args,
                "env": meta.env,
                "cwd": meta.cwd,
                "user": meta.user,
                "network": match exec.network { 0 => "sandbox", 1 => "host", 2 => "none", _ => "?" },
                "mounts": exec.mounts.iter().map(describe_mount).collect::<Vec<_>>(),
            });
            // Shown only when set, so the descriptions of steps without
            // them read as before.
            if !exec.secretenv.is_empty() {
                out["secret_env"] = exec
                    .secretenv
                    .iter()
                    .map(|s| json!({"name": s.name, "id": s.id, "optional": s.optional}))
                    .collect();
            }
            if !meta.extra_hosts.is_empty() {
                out["extra_hosts"] = meta
                    .extra_hosts
                    .iter()
                    .map(|h| json!(format!("{}={}", h.host, h.ip)))
                    .collect();
            }
            out
        }
        pb::op::Op::File(file) => json!({
            "file": file.actions.iter().map(|a| {
                let action = match &a.action {
                    Some(pb::file_action::Action::Copy(c)) => json!({
                        "copy": {"src": c.src, "dest": c.dest, "contents": c.dir_copy_contents,
                                 "create_dest_path": c.create_dest_path, "mode": c.mode, "timestamp": c.timestamp}
                    }),
                    Some(pb::file_action::Action::Mkdir(m)) => json!({"mkdir": {"path": m.path, "mode": format!("{:o}", m.mode)}}),
                    Some(pb::file_action::Action::Mkfile(m)) => json!({"mkfile": {"path": m.path, "bytes": m.data.len()}}),
                    Some(pb::file_action::Action::Rm(r)) => json!({"rm": r.path}),
                    Some(pb::file_action::Action::Symlink(s)) => json!({"symlink": [s.oldpath, s.newpath]}),
                    None => json!(null),
                };
                json!({"input": a.input, "secondary_input": a.secondary_input, "output": a.output, "action": action})
            }).collect::<Vec<_>>()
        }),
        pb::op::Op::Merge(merge) => json!({
            "merge": merge.inputs.iter().map(|i| i.input).collect::<Vec<_>>()
        }),
        pb::op::Op::Diff(diff) => json!({
            "diff": {"lower": diff.lower.as_ref().map(|l| l.input), "upper": diff.upper.as_ref().map(|u| u.input)}
        }),
        pb::op::Op::Build(_) => json!("build"),
    }
}

fn describe_mount(mount: &pb::Mount) -> Value {
    let kind = match mount.mount_type {
        0 => "bind",
        1 => "secret",
        2 => "ssh",
        3 => "cache",
        4 => "tmpfs",
        _ => "?",
    };
    let mut out = json!({
        "dest": mount.dest,
        "type": kind,
        "input": mount.input,
        "output": mount.output,
    });
    if mount.readonly {
        out["readonly"] = json!(true);
    }
    if !mount.selector.is_empty() {
        out["selector"] = json!(mount.selector);
    }
    if let Some(cache) = &mount.cache_opt {
        out["cache"] = json!({"id": cache.id, "sharing": match cache.sharing { 0 => "shared", 1 => "private", 2 => "locked", _ => "?" }});
    }
    if let Some(secret) = &mount.secret_opt {
        out["secret"] = json!({"id": secret.id, "mode": format!("{:o}", secret.mode), "optional": secret.optional});
    }
    out
}
