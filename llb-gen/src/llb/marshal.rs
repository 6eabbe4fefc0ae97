//! Turn a [`State`] graph into a BuildKit `Definition`, deterministically.
//!
//! The walk is depth first, inputs before the op that uses them. Each op is
//! encoded with prost (fields in tag order, maps sorted: `pb` uses
//! `BTreeMap`), its digest is `sha256:` + hex of those bytes, and an op whose
//! bytes were already emitted is emitted once. The definition ends with the
//! terminal op that names the result. Same graph, same bytes.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use bollard_buildkit_proto::pb;
use prost::Message;
use sha2::{Digest, Sha256};

use super::{Node, Output, State};

/// Why a graph could not be marshalled.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MarshalError {
    /// The result is the empty filesystem: there is nothing to build.
    #[error("the build result is empty (scratch): there is nothing to build")]
    EmptyResult,
    /// An op needs an LLB capability the BuildKit server does not have.
    #[error(
        "this build needs the BuildKit capability `{cap}`, which this BuildKit does not offer{reason}; {}",
        upgrade_advice(cap)
    )]
    MissingCap {
        /// The capability id, e.g. `exec.mount.cache.sharing`.
        cap: String,
        /// The server's reason, formatted as `: …`, or empty.
        reason: String,
    },
}

/// The first BuildKit release whose LLB offers `cap`, for the caps pybase
/// uses (read off the history of BuildKit's `solver/pb/caps.go`: where
/// each cap id first appears, and the first `v0.N.0` tag holding it).
pub fn introduced_in(cap: &str) -> Option<&'static str> {
    match cap {
        "mergeop" | "diffop" | "exec.secretenv" => Some("v0.10.0"),
        "file.base" => Some("v0.5.0"),
        "source.image"
        | "source.image.resolvemode"
        | "source.local"
        | "source.local.includepatterns"
        | "source.local.excludepatterns"
        | "source.local.followpaths"
        | "source.local.sharedkeyhint"
        | "source.local.sessionid"
        | "source.http"
        | "source.http.checksum"
        | "exec.meta.base"
        | "exec.meta.network"
        | "exec.mount.bind"
        | "exec.mount.selector"
        | "exec.mount.cache"
        | "exec.mount.cache.sharing"
        | "exec.mount.secret"
        | "exec.mount.ssh"
        | "exec.mount.tmpfs"
        | "exec.meta.proxyenv"
        | "meta.description"
        | "constraints"
        | "platform" => Some("v0.3.0"),
        _ => None,
    }
}

fn upgrade_advice(cap: &str) -> String {
    match introduced_in(cap) {
        Some(version) => format!(
            "BuildKit {version} introduced it: upgrade BuildKit (or the Docker Engine that embeds it) to {version} or newer, or check the builder's configuration"
        ),
        None => "upgrade BuildKit (Docker Engine) to a version that has it".to_owned(),
    }
}

/// What the server can do: LLB cap ids mapped to whether they are enabled,
/// with the reason when not.
pub type ServerCaps = BTreeMap<String, Result<(), String>>;

/// Encode the graph that produces `result` into a `Definition`.
///
/// When `caps` is given, every cap an op needs must be enabled there.
/// When `source` (the spec file) is given, it becomes the definition's source
/// map, and every op with a line points at it, so BuildKit reports a failing
/// step at its line.
pub fn marshal(
    result: &State,
    caps: Option<&ServerCaps>,
    source: Option<pb::SourceInfo>,
) -> Result<pb::Definition, MarshalError> {
    marshal_with(result, caps, source, &ExecSettings::default())
}

/// What the build's options set on every exec, whatever made it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExecSettings {
    /// The proxies (the `HTTP_PROXY` family of build args): BuildKit sets
    /// them in the step's environment and leaves them out of its cache
    /// key, so a proxy never reruns a step or reaches a layer.
    pub proxy: Option<pb::ProxyEnv>,
    /// The namespace of every cache mount's id (`BUILDKIT_CACHE_MOUNT_NS`,
    /// as the Dockerfile frontend reads it): `NS/ID`, so that builds with
    /// different namespaces on one daemon never share a cache.
    pub cache_namespace: Option<String>,
    /// `--add-host`: entries added to every exec's `/etc/hosts`, as the
    /// Dockerfile frontend gives them to `RUN`.
    pub extra_hosts: Vec<pb::HostIp>,
    /// `--network`: the mode of every exec that has the network
    /// ([`super::Network::Sandbox`] leaves them as they are). An exec that
    /// runs with the network off keeps it off.
    pub network: Option<super::Network>,
}

/// [`marshal`], with `settings` on every exec.
pub fn marshal_with(
    result: &State,
    caps: Option<&ServerCaps>,
    source: Option<pb::SourceInfo>,
    settings: &ExecSettings,
) -> Result<pb::Definition, MarshalError> {
    let Some(output) = &result.output else {
        return Err(MarshalError::EmptyResult);
    };
    let mut walk = Walk {
        settings: settings.clone(),
        ..Walk::default()
    };
    let digest = walk.visit(&output.node, caps)?;
    let terminal = pb::Op {
        inputs: vec![pb::Input {
            digest,
            index: output.index,
        }],
        ..Default::default()
    };
    walk.push(terminal.encode_to_vec(), BTreeSet::new(), BTreeMap::new());
    let source = source.map(|info| pb::Source {
        infos: vec![info],
        locations: walk
            .lines
            .into_iter()
            .map(|(digest, line)| {
                let at = |character| pb::Position {
                    line: i32::try_from(line).unwrap_or(i32::MAX),
                    character,
                };
                let location = pb::Location {
                    source_index: 0,
                    ranges: vec![pb::Range {
                        start: Some(at(0)),
                        end: Some(at(0)),
                    }],
                };
                (
                    digest,
                    pb::Locations {
                        locations: vec![location],
                    },
                )
            })
            .collect(),
    });
    Ok(pb::Definition {
        def: walk.def,
        metadata: walk.metadata,
        source,
    })
}

/// The digest BuildKit computes for encoded op bytes.
pub fn digest_of(bytes: &[u8]) -> String {
    let hash = Sha256::digest(bytes);
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256:");
    for byte in hash.iter() {
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

/// Mark every op of `definition` to be rebuilt, not taken from the cache
/// (`--no-cache`).
pub fn ignore_cache(definition: &mut pb::Definition) {
    for bytes in &definition.def {
        definition
            .metadata
            .entry(digest_of(bytes))
            .or_default()
            .ignore_cache = true;
    }
}

#[derive(Default)]
struct Walk {
    /// Node identity (address) to digest, so shared nodes are encoded once.
    seen: HashMap<*const Node, String>,
    /// Digests already in `def`: distinct nodes with equal bytes are one op.
    emitted: HashSet<String>,
    def: Vec<Vec<u8>>,
    metadata: BTreeMap<String, pb::OpMetadata>,
    /// Source line of each op that has one.
    lines: BTreeMap<String, u32>,
    /// What every exec gets.
    settings: ExecSettings,
}

/// The cap of an exec's proxy environment.
const PROXY_CAP: &str = "exec.meta.proxyenv";
/// The cap of an exec's network mode other than the sandbox's.
const NETWORK_CAP: &str = "exec.meta.network";

impl Walk {
    fn visit(
        &mut self,
        node: &std::sync::Arc<Node>,
        caps: Option<&ServerCaps>,
    ) -> Result<String, MarshalError> {
        let key = std::sync::Arc::as_ptr(node);
        if let Some(digest) = self.seen.get(&key) {
            return Ok(digest.clone());
        }
        let mut node_caps = node.caps.clone();
        let mut op = node.op.clone();
        if let Some(pb::op::Op::Exec(exec)) = &mut op.op {
            if let (Some(proxy), Some(meta)) = (&self.settings.proxy, &mut exec.meta) {
                meta.proxy_env = Some(proxy.clone());
                node_caps.insert(PROXY_CAP);
            }
            if let Some(meta) = &mut exec.meta {
                meta.extra_hosts.clone_from(&self.settings.extra_hosts);
            }
            let forced = match self.settings.network {
                Some(super::Network::None) => Some(pb::NetMode::None),
                Some(super::Network::Host) => Some(pb::NetMode::Host),
                Some(super::Network::Sandbox) | None => None,
            };
            if let Some(mode) = forced
                && exec.network == pb::NetMode::Unset as i32
            {
                exec.network = mode as i32;
                node_caps.insert(NETWORK_CAP);
            }
            if let Some(namespace) = &self.settings.cache_namespace {
                for cache in exec.mounts.iter_mut().filter_map(|m| m.cache_opt.as_mut()) {
                    cache.id = format!("{namespace}/{}", cache.id);
                }
            }
        }
        if let Some(caps) = caps {
            for cap in &node_caps {
                match caps.get(*cap) {
                    Some(Ok(())) => {}
                    Some(Err(reason)) => {
                        return Err(MarshalError::MissingCap {
                            cap: (*cap).to_owned(),
                            reason: if reason.is_empty() {
                                String::new()
                            } else {
                                format!(": {reason}")
                            },
                        });
                    }
                    None => {
                        return Err(MarshalError::MissingCap {
                            cap: (*cap).to_owned(),
                            reason: String::new(),
                        });
                    }
                }
            }
        }
        let mut inputs = Vec::with_capacity(node.inputs.len());
        for Output { node: input, index } in &node.inputs {
            let digest = self.visit(input, caps)?;
            inputs.push(pb::Input {
                digest,
                index: *index,
            });
        }
        op.inputs = inputs;
        let digest = self.push(op.encode_to_vec(), node_caps, node.description.clone());
        if node.ignore_cache {
            self.metadata
                .entry(digest.clone())
                .or_default()
                .ignore_cache = true;
        }
        if let Some(line) = node.line {
            self.lines.entry(digest.clone()).or_insert(line);
        }
        self.seen.insert(key, digest.clone());
        Ok(digest)
    }

    fn push(
        &mut self,
        bytes: Vec<u8>,
        caps: BTreeSet<&'static str>,
        description: BTreeMap<String, String>,
    ) -> String {
        let digest = digest_of(&bytes);
        if !caps.is_empty() || !description.is_empty() {
            let entry = self.metadata.entry(digest.clone()).or_default();
            entry
                .caps
                .extend(caps.into_iter().map(|c| (c.to_owned(), true)));
            // The first name given to identical ops wins, so the result does
            // not depend on how often an op is shared.
            for (key, value) in description {
                entry.description.entry(key).or_insert(value);
            }
        }
        if self.emitted.insert(digest.clone()) {
            self.def.push(bytes);
        }
        digest
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llb::{Exec, Platform};

    fn linux_amd64() -> Platform {
        Platform {
            os: "linux".into(),
            architecture: "amd64".into(),
            variant: String::new(),
        }
    }

    #[test]
    fn the_same_graph_gives_the_same_bytes() {
        let build = || {
            let base = State::image("docker.io/library/python:3.12", &linux_amd64(), "base");
            let run = base.run(Exec::argv(&["true"]), &linux_amd64());
            marshal(&run.root(), None, None).expect("marshal")
        };
        assert_eq!(build(), build());
        let def = build();
        // image, exec, terminal
        assert_eq!(def.def.len(), 3);
        let terminal = pb::Op::decode(def.def[2].as_slice()).expect("decode");
        assert!(terminal.op.is_none());
        assert_eq!(terminal.inputs.len(), 1);
    }

    #[test]
    fn the_proxies_are_set_on_every_exec_with_their_cap_and_only_when_given() {
        let base = State::image("docker.io/library/python:3.12", &linux_amd64(), "base");
        let first = base.run(Exec::argv(&["true"]), &linux_amd64()).root();
        let second = first.run(Exec::argv(&["false"]), &linux_amd64()).root();
        let proxy = pb::ProxyEnv {
            https_proxy: "http://proxy:3128".into(),
            ..Default::default()
        };
        let proxies = |def: &pb::Definition| -> Vec<Option<pb::ProxyEnv>> {
            def.def
                .iter()
                .filter_map(|bytes| match pb::Op::decode(bytes.as_slice()).ok()?.op {
                    Some(pb::op::Op::Exec(exec)) => Some(exec.meta?.proxy_env),
                    _ => None,
                })
                .collect()
        };
        let settings = ExecSettings {
            proxy: Some(proxy.clone()),
            ..ExecSettings::default()
        };
        let with = marshal_with(&second, None, None, &settings).expect("marshal");
        assert_eq!(proxies(&with), vec![Some(proxy.clone()); 2]);
        let capped = with
            .metadata
            .values()
            .filter(|m| m.caps.contains_key(PROXY_CAP))
            .count();
        assert_eq!(capped, 2);
        // Without a proxy: none, and no cap.
        let without = marshal(&second, None, None).expect("marshal");
        assert_eq!(proxies(&without), vec![None, None]);
        assert!(
            without
                .metadata
                .values()
                .all(|m| !m.caps.contains_key(PROXY_CAP))
        );
    }

    #[test]
    fn a_cache_namespace_prefixes_every_cache_mount_id_and_only_when_given() {
        use crate::llb::{CacheSharing, Mount};
        let base = State::image("docker.io/library/python:3.12", &linux_amd64(), "base");
        let run = base
            .run(
                Exec::argv(&["true"])
                    .mount(Mount::cache("/root/.cache/uv", "uv", CacheSharing::Shared))
                    .mount(Mount::cache(
                        "/var/cache/apt",
                        "apt-x",
                        CacheSharing::Locked,
                    )),
                &linux_amd64(),
            )
            .root();
        let ids = |def: &pb::Definition| -> Vec<String> {
            def.def
                .iter()
                .filter_map(|bytes| match pb::Op::decode(bytes.as_slice()).ok()?.op {
                    Some(pb::op::Op::Exec(exec)) => Some(exec.mounts),
                    _ => None,
                })
                .flatten()
                .filter_map(|m| m.cache_opt.map(|c| c.id))
                .collect()
        };
        let settings = ExecSettings {
            cache_namespace: Some("team-a".into()),
            ..ExecSettings::default()
        };
        let namespaced = marshal_with(&run, None, None, &settings).expect("marshal");
        assert_eq!(ids(&namespaced), ["team-a/uv", "team-a/apt-x"]);
        let plain = marshal(&run, None, None).expect("marshal");
        assert_eq!(ids(&plain), ["uv", "apt-x"]);
    }

    /// The execs of `def`, in the order they were emitted.
    fn execs(def: &pb::Definition) -> Vec<pb::ExecOp> {
        def.def
            .iter()
            .filter_map(|bytes| match pb::Op::decode(bytes.as_slice()).ok()?.op {
                Some(pb::op::Op::Exec(exec)) => Some(exec),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn added_hosts_reach_every_exec_and_only_when_given() {
        let base = State::image("docker.io/library/python:3.12", &linux_amd64(), "base");
        let online = base.run(Exec::argv(&["true"]), &linux_amd64()).root();
        let offline = online
            .run(
                Exec::argv(&["false"]).network(crate::llb::Network::None),
                &linux_amd64(),
            )
            .root();
        let host = pb::HostIp {
            host: "index.internal".into(),
            ip: "10.0.0.7".into(),
        };
        let settings = ExecSettings {
            extra_hosts: vec![host.clone()],
            ..ExecSettings::default()
        };
        let with = marshal_with(&offline, None, None, &settings).expect("marshal");
        let hosts: Vec<Vec<pb::HostIp>> = execs(&with)
            .into_iter()
            .filter_map(|e| e.meta.map(|m| m.extra_hosts))
            .collect();
        assert_eq!(hosts, vec![vec![host.clone()], vec![host]]);
        let without = marshal(&offline, None, None).expect("marshal");
        assert!(
            execs(&without)
                .iter()
                .all(|e| e.meta.as_ref().is_some_and(|m| m.extra_hosts.is_empty()))
        );
    }

    #[test]
    fn a_forced_network_mode_changes_the_execs_with_the_network_only() {
        use crate::llb::Network;
        let base = State::image("docker.io/library/python:3.12", &linux_amd64(), "base");
        let online = base.run(Exec::argv(&["true"]), &linux_amd64()).root();
        let offline = online
            .run(
                Exec::argv(&["false"]).network(Network::None),
                &linux_amd64(),
            )
            .root();
        let modes = |network: Option<Network>| -> (Vec<i32>, usize) {
            let settings = ExecSettings {
                network,
                ..ExecSettings::default()
            };
            let def = marshal_with(&offline, None, None, &settings).expect("marshal");
            let capped = def
                .metadata
                .values()
                .filter(|m| m.caps.contains_key(NETWORK_CAP))
                .count();
            (execs(&def).iter().map(|e| e.network).collect(), capped)
        };
        let (unset, none, host) = (
            pb::NetMode::Unset as i32,
            pb::NetMode::None as i32,
            pb::NetMode::Host as i32,
        );
        // The offline step keeps its network off whatever is forced; the
        // step with the network gets the mode, and the cap with it.
        assert_eq!(modes(None), (vec![unset, none], 1));
        assert_eq!(modes(Some(Network::Sandbox)), (vec![unset, none], 1));
        assert_eq!(modes(Some(Network::Host)), (vec![host, none], 2));
        assert_eq!(modes(Some(Network::None)), (vec![none, none], 2));
    }

    #[test]
    fn secret_env_is_optional_by_id_with_its_cap_and_only_where_asked() {
        let base = State::image("docker.io/library/python:3.12", &linux_amd64(), "base");
        let plain = base.run(Exec::argv(&["true"]), &linux_amd64()).root();
        let with_secret = plain
            .run(
                Exec::argv(&["uv", "sync"]).optional_secret_env(
                    "UV_INDEX_INTERNAL_PASSWORD",
                    "UV_INDEX_INTERNAL_PASSWORD",
                ),
                &linux_amd64(),
            )
            .root();
        let def = marshal(&with_secret, None, None).expect("marshal");
        let secrets: Vec<Vec<pb::SecretEnv>> =
            execs(&def).into_iter().map(|e| e.secretenv).collect();
        assert_eq!(
            secrets,
            vec![
                vec![],
                vec![pb::SecretEnv {
                    id: "UV_INDEX_INTERNAL_PASSWORD".into(),
                    name: "UV_INDEX_INTERNAL_PASSWORD".into(),
                    optional: true,
                }]
            ]
        );
        let capped = def
            .metadata
            .values()
            .filter(|m| m.caps.contains_key("exec.secretenv"))
            .count();
        assert_eq!(capped, 1);
    }

    #[test]
    fn an_exec_marked_to_rerun_ignores_the_cache_alone() {
        let base = State::image("docker.io/library/python:3.12", &linux_amd64(), "base");
        let first = base
            .run(
                Exec::argv(&["apt-get", "upgrade"]).ignoring_cache(),
                &linux_amd64(),
            )
            .root();
        let second = first.run(Exec::argv(&["true"]), &linux_amd64()).root();
        let def = marshal(&second, None, None).expect("marshal");
        let ignored: Vec<bool> = def
            .def
            .iter()
            .map(|bytes| {
                def.metadata
                    .get(&digest_of(bytes))
                    .is_some_and(|m| m.ignore_cache)
            })
            .collect();
        // image, the marked exec, the other exec, terminal
        assert_eq!(ignored, [false, true, false, false]);
    }

    #[test]
    fn identical_ops_are_emitted_once() {
        let a = State::image("docker.io/library/python:3.12", &linux_amd64(), "a");
        let b = State::image("docker.io/library/python:3.12", &linux_amd64(), "b");
        let merged = State::merge(&[&a, &b], "both");
        let def = marshal(&merged, None, None).expect("marshal");
        assert_eq!(def.def.len(), 3, "one image op, the merge, the terminal");
    }

    #[test]
    fn a_missing_cap_is_an_error_naming_it() {
        let a = State::image("docker.io/library/python:3.12", &linux_amd64(), "a");
        let run = a.run(Exec::argv(&["true"]), &linux_amd64());
        let b = State::image("docker.io/library/alpine:3", &linux_amd64(), "b");
        let merged = State::merge(&[&run.root(), &b], "both");
        let mut caps: ServerCaps = ["source.image", "exec.meta.base", "exec.mount.bind"]
            .into_iter()
            .map(|c| (c.to_owned(), Ok(())))
            .collect();
        caps.insert("mergeop".into(), Err("only enabled with containerd".into()));
        let err = marshal(&merged, Some(&caps), None).expect_err("mergeop is disabled");
        assert_eq!(
            err,
            MarshalError::MissingCap {
                cap: "mergeop".into(),
                reason: ": only enabled with containerd".into()
            }
        );
        assert_eq!(
            err.to_string(),
            "this build needs the BuildKit capability `mergeop`, which this BuildKit does not offer: only enabled with containerd; BuildKit v0.10.0 introduced it: upgrade BuildKit (or the Docker Engine that embeds it) to v0.10.0 or newer, or check the builder's configuration"
        );
    }

    #[test]
    fn scratch_is_not_a_result() {
        assert_eq!(
            marshal(&State::scratch(), None, None),
            Err(MarshalError::EmptyResult)
        );
    }
}
