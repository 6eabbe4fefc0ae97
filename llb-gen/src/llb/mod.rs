//! A small typed LLB builder: immutable [`State`]s over BuildKit's raw ops.
//!
//! Modelled on BuildKit's Go `client/llb`: a [`State`] names one output of one
//! operation (or scratch). Sources ([`State::image`], [`State::local`],
//! [`State::http`]) start a graph; [`State::run`] adds an `ExecOp` whose
//! mounts can each produce an output ([`ExecState::root`],
//! [`ExecState::output`]); [`State::copy`] adds a `FileOp`; [`State::merge`]
//! a `MergeOp`. Nothing is encoded until [`marshal::marshal`] walks the graph,
//! which is what makes the result deterministic: op bodies carry only input
//! *positions*, and digests are filled in, inputs first, at marshal time.
//!
//! Every op records the LLB caps it needs, so the marshaller can list them in
//! the op metadata and the caller can refuse to emit an op the server lacks.

pub mod marshal;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use bollard_buildkit_proto::pb;

pub use marshal::{MarshalError, marshal};

/// The proxies an exec gets in its environment, out of its cache key
/// (BuildKit's `ProxyEnv`).
pub use bollard_buildkit_proto::pb::ProxyEnv;

/// One output of one op, or nothing (scratch).
#[derive(Clone, Debug, Default)]
pub struct State {
    output: Option<Output>,
}

/// A reference to output `index` of `node`.
#[derive(Clone, Debug)]
pub(crate) struct Output {
    pub(crate) node: Arc<Node>,
    pub(crate) index: i64,
}

/// An op whose `inputs` are not yet digested: `inputs` lists the states the
/// op body refers to by position.
#[derive(Debug)]
pub(crate) struct Node {
    pub(crate) op: pb::Op,
    pub(crate) inputs: Vec<Output>,
    pub(crate) caps: BTreeSet<&'static str>,
    pub(crate) description: BTreeMap<String, String>,
    /// The line of the source file (see [`marshal`]) this op comes from.
    pub(crate) line: Option<u32>,
    /// Whether BuildKit must run it again rather than take it from its cache.
    pub(crate) ignore_cache: bool,
}

/// A target platform, as BuildKit spells it (`linux`, `amd64`, ``).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Platform {
    /// Operating system, e.g. `linux`.
    pub os: String,
    /// CPU architecture in Go's spelling, e.g. `amd64`, `arm64`.
    pub architecture: String,
    /// Architecture variant, e.g. `v8`; empty when none.
    pub variant: String,
}

impl Platform {
    /// `os/arch[/variant]`, the form `--platform` takes.
    pub fn to_spec_string(&self) -> String {
        if self.variant.is_empty() {
            format!("{}/{}", self.os, self.architecture)
        } else {
            format!("{}/{}/{}", self.os, self.architecture, self.variant)
        }
    }

    fn to_pb(&self) -> pb::Platform {
        pb::Platform {
            os: self.os.clone(),
            architecture: self.architecture.clone(),
            variant: self.variant.clone(),
            ..Default::default()
        }
    }
}

/// Options of a `local://` source.
#[derive(Clone, Debug, Default)]
pub struct LocalOptions {
    /// The session that serves the directory (`BUILDKIT_SESSION_ID`).
    pub session_id: String,
    /// Only these paths are transferred (never send a whole context by accident).
    pub include_patterns: Vec<String>,
    /// These paths are left out.
    pub exclude_patterns: Vec<String>,
    /// Paths to follow when they are symlinks.
    pub follow_paths: Vec<String>,
    /// A stable key so BuildKit reuses the last transfer of the same set.
    pub shared_key_hint: String,
}

/// How concurrent builds share a cache mount.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheSharing {
    /// Many writers at once (the tool must lock itself, as uv does).
    Shared,
    /// Each concurrent user gets its own copy.
    Private,
    /// One user at a time (apt, which does not tolerate concurrent use).
    Locked,
}

/// Network access of an exec.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Network {
    /// The default sandbox network (needed to download packages).
    Sandbox,
    /// No network at all.
    None,
    /// The host's network (BuildKit's entitlement `network.host`).
    Host,
}

/// One mount of an exec, other than the root.
#[derive(Clone, Debug)]
pub struct Mount {
    dest: String,
    kind: MountKind,
}

#[derive(Clone, Debug)]
enum MountKind {
    Bind {
        state: State,
        selector: String,
        readonly: bool,
        /// Keep changes as an output of the exec.
        output: bool,
    },
    Cache {
        id: String,
        sharing: CacheSharing,
    },
    Secret {
        id: String,
        optional: bool,
    },
    /// The client's SSH agent socket (`--ssh`), by id.
    Ssh {
        id: String,
    },
    Tmpfs,
}

impl Mount {
    /// A read-only view of `state` (or of `selector` inside it) at `dest`.
    pub fn readonly(dest: &str, state: &State) -> Self {
        Self::bind(dest, state, true, false)
    }

    /// A writable view of `state` whose changes are thrown away after the exec.
    pub fn scratchpad(dest: &str, state: &State) -> Self {
        Self::bind(dest, state, false, false)
    }

    /// A writable mount starting from `state` whose final content becomes an
    /// output of the exec ([`ExecState::output`]).
    pub fn output(dest: &str, state: &State) -> Self {
        Self::bind(dest, state, false, true)
    }

    fn bind(dest: &str, state: &State, readonly: bool, output: bool) -> Self {
        Self {
            dest: dest.to_owned(),
            kind: MountKind::Bind {
                state: state.clone(),
                selector: String::new(),
                readonly,
                output,
            },
        }
    }

    /// Mount only `path` of the bound state (a bind mount's subdirectory).
    pub fn selector(mut self, path: &str) -> Self {
        if let MountKind::Bind { selector, .. } = &mut self.kind {
            *selector = path.to_owned();
        }
        self
    }

    /// A persistent cache directory shared between builds.
    pub fn cache(dest: &str, id: &str, sharing: CacheSharing) -> Self {
        Self {
            dest: dest.to_owned(),
            kind: MountKind::Cache {
                id: id.to_owned(),
                sharing,
            },
        }
    }

    /// A build secret as a file (mode 0400, root). Never part of any layer.
    pub fn secret(dest: &str, id: &str, optional: bool) -> Self {
        Self {
            dest: dest.to_owned(),
            kind: MountKind::Secret {
                id: id.to_owned(),
                optional,
            },
        }
    }

    /// The SSH agent the client forwards as `id` (`--ssh id=…`), as a
    /// socket at `dest` (mode 0600, root); required: the build fails when
    /// the client forwards none.
    pub fn ssh(dest: &str, id: &str) -> Self {
        Self {
            dest: dest.to_owned(),
            kind: MountKind::Ssh { id: id.to_owned() },
        }
    }

    /// An empty in-memory directory.
    pub fn tmpfs(dest: &str) -> Self {
        Self {
            dest: dest.to_owned(),
            kind: MountKind::Tmpfs,
        }
    }
}

/// A command to run on a state's filesystem.
#[derive(Clone, Debug)]
pub struct Exec {
    args: Vec<String>,
    env: Vec<String>,
    cwd: String,
    user: String,
    network: Network,
    mounts: Vec<Mount>,
    name: Option<String>,
    line: Option<u32>,
    /// Secrets set as environment variables: (variable, secret id).
    secret_env: Vec<(String, String)>,
    /// Rerun it, never take it from the cache.
    ignore_cache: bool,
}

impl Exec {
    /// Run `args` (argv, no shell) as root in `/` with no environment.
    pub fn argv<S: AsRef<str>>(args: &[S]) -> Self {
        Self {
            args: args.iter().map(|a| a.as_ref().to_owned()).collect(),
            env: Vec::new(),
            cwd: "/".to_owned(),
            user: "0:0".to_owned(),
            network: Network::Sandbox,
            mounts: Vec::new(),
            name: None,
            line: None,
            secret_env: Vec::new(),
            ignore_cache: false,
        }
    }

    /// The build secret `id`, when the client gives it, as the environment
    /// variable `name` (BuildKit's secret env: the value is in no cache key,
    /// no layer and no config; a missing secret leaves the variable unset).
    pub fn optional_secret_env(mut self, name: &str, id: &str) -> Self {
        self.secret_env.push((name.to_owned(), id.to_owned()));
        self
    }

    /// Run `prefix` with this command's arguments after it (a wrapper
    /// that ends in `exec "$@"`).
    pub fn wrapped_in<S: AsRef<str>>(mut self, prefix: &[S]) -> Self {
        let mut args: Vec<String> = prefix.iter().map(|a| a.as_ref().to_owned()).collect();
        args.append(&mut self.args);
        self.args = args;
        self
    }

    /// Always run this step again, never take it from BuildKit's cache
    /// (what `--no-cache` does to every step).
    pub fn ignoring_cache(mut self) -> Self {
        self.ignore_cache = true;
        self
    }

    /// Replace the environment (`KEY=value` entries, kept in the given order).
    pub fn env(mut self, env: Vec<String>) -> Self {
        self.env = env;
        self
    }

    /// The working directory.
    pub fn cwd(mut self, cwd: &str) -> Self {
        cwd.clone_into(&mut self.cwd);
        self
    }

    /// The network mode.
    pub fn network(mut self, network: Network) -> Self {
        self.network = network;
        self
    }

    /// Add a mount.
    pub fn mount(mut self, mount: Mount) -> Self {
        self.mounts.push(mount);
        self
    }

    /// The label buildx shows in its progress output.
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The line of the source file this step comes from: when it fails,
    /// buildx shows that line.
    pub fn at(mut self, line: Option<u32>) -> Self {
        self.line = line;
        self
    }
}

/// Options of [`State::copy`].
#[derive(Clone, Debug)]
pub struct FileCopy {
    src: String,
    dest: String,
    contents_only: bool,
    name: Option<String>,
}

impl FileCopy {
    /// Copy the *contents* of directory `src` into directory `dest` (created
    /// with its parents when missing), keeping modes and owners.
    pub fn dir_contents(src: &str, dest: &str) -> Self {
        Self {
            src: src.to_owned(),
            dest: dest.to_owned(),
            contents_only: true,
            name: None,
        }
    }

    /// The label buildx shows in its progress output.
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
}

/// The result of [`State::run`]: the exec's root and its output mounts.
#[derive(Clone, Debug)]
pub struct ExecState {
    node: Arc<Node>,
    outputs: Vec<(String, i64)>,
}

impl ExecState {
    /// The root filesystem after the command.
    pub fn root(&self) -> State {
        State::of(&self.node, 0)
    }

    /// The content of the output mount at `dest` after the command, or
    /// `None` if no [`Mount::output`] was mounted there.
    pub fn output(&self, dest: &str) -> Option<State> {
        self.outputs
            .iter()
            .find(|(d, _)| d == dest)
            .map(|(_, index)| State::of(&self.node, *index))
    }
}

const CUSTOM_NAME: &str = "llb.customname";

impl State {
    /// The empty filesystem.
    pub fn scratch() -> Self {
        Self { output: None }
    }

    /// Whether this is the empty filesystem.
    pub fn is_scratch(&self) -> bool {
        self.output.is_none()
    }

    fn of(node: &Arc<Node>, index: i64) -> Self {
        Self {
            output: Some(Output {
                node: Arc::clone(node),
                index,
            }),
        }
    }

    fn source(
        identifier: String,
        attrs: BTreeMap<String, String>,
        platform: Option<&Platform>,
        caps: &[&'static str],
        name: Option<String>,
    ) -> Self {
        let op = pb::Op {
            platform: platform.map(Platform::to_pb),
            op: Some(pb::op::Op::Source(pb::SourceOp { identifier, attrs })),
            ..Default::default()
        };
        let node = Node {
            op,
            inputs: Vec::new(),
            caps: caps.iter().copied().collect(),
            description: description(name),
            line: None,
            ignore_cache: false,
        };
        Self::of(&Arc::new(node), 0)
    }

    /// A container image, `reference` fully qualified (`docker.io/library/x:t[@sha256:…]`).
    pub fn image(reference: &str, platform: &Platform, name: impl Into<String>) -> Self {
        Self::source(
            format!("docker-image://{reference}"),
            BTreeMap::new(),
            Some(platform),
            &["source.image"],
            Some(name.into()),
        )
    }

    /// An image in an OCI layout directory of the client, which the client
    /// shares through session `session_id` as content store `store_id`
    /// (`--build-context NAME=oci-layout://…`); `reference` names it with
    /// its digest.
    pub fn oci_layout(
        reference: &str,
        (session_id, store_id): (&str, &str),
        platform: &Platform,
        name: impl Into<String>,
    ) -> Self {
        let attrs = BTreeMap::from([
            ("oci.session".to_owned(), session_id.to_owned()),
            ("oci.store".to_owned(), store_id.to_owned()),
        ]);
        Self::source(
            format!("oci-layout://{reference}"),
            attrs,
            Some(platform),
            &["source.ocilayout"],
            Some(name.into()),
        )
    }

    /// A directory of the client, transferred through the session.
    pub fn local(name: &str, options: &LocalOptions, label: impl Into<String>) -> Self {
        let mut attrs = BTreeMap::new();
        let mut caps = vec!["source.local"];
        if !options.session_id.is_empty() {
            attrs.insert("local.session".to_owned(), options.session_id.clone());
            caps.push("source.local.sessionid");
        }
        if !options.include_patterns.is_empty() {
            attrs.insert(
                "local.includepattern".to_owned(),
                json_list(&options.include_patterns),
            );
            caps.push("source.local.includepatterns");
        }
        if !options.exclude_patterns.is_empty() {
            attrs.insert(
                "local.excludepatterns".to_owned(),
                json_list(&options.exclude_patterns),
            );
            caps.push("source.local.excludepatterns");
        }
        if !options.follow_paths.is_empty() {
            attrs.insert(
                "local.followpaths".to_owned(),
                json_list(&options.follow_paths),
            );
            caps.push("source.local.followpaths");
        }
        if !options.shared_key_hint.is_empty() {
            attrs.insert(
                "local.sharedkeyhint".to_owned(),
                options.shared_key_hint.clone(),
            );
            caps.push("source.local.sharedkeyhint");
        }
        Self::source(
            format!("local://{name}"),
            attrs,
            None,
            &caps,
            Some(label.into()),
        )
    }

    /// A file downloaded over HTTP(S), verified against `sha256` (hex) and
    /// stored as `/<filename>`.
    pub fn http(url: &str, sha256: &str, filename: &str, label: impl Into<String>) -> Self {
        let attrs = BTreeMap::from([
            ("http.checksum".to_owned(), format!("sha256:{sha256}")),
            ("http.filename".to_owned(), filename.to_owned()),
        ]);
        Self::source(
            url.to_owned(),
            attrs,
            None,
            &["source.http", "source.http.checksum"],
            Some(label.into()),
        )
    }

    /// Run a command on this filesystem.
    pub fn run(&self, exec: Exec, platform: &Platform) -> ExecState {
        let mut inputs = Vec::new();
        let mut caps: BTreeSet<&'static str> =
            BTreeSet::from(["exec.meta.base", "exec.mount.bind"]);
        let mut mounts = vec![pb::Mount {
            input: input_index(&mut inputs, self),
            dest: "/".to_owned(),
            output: 0,
            ..Default::default()
        }];
        let mut outputs = Vec::new();
        // Go's llb sorts mounts by destination; do the same so the encoding
        // does not depend on the order the caller added them in.
        let mut sorted = exec.mounts.clone();
        sorted.sort_by(|a, b| a.dest.cmp(&b.dest));
        for mount in sorted {
            let pb_mount = match mount.kind {
                MountKind::Bind {
                    state,
                    selector,
                    readonly,
                    output,
                } => {
                    if !selector.is_empty() {
                        caps.insert("exec.mount.selector");
                    }
                    let index = if output {
                        let index = i64::try_from(outputs.len() + 1).unwrap_or(i64::MAX);
                        outputs.push((mount.dest.clone(), index));
                        index
                    } else {
                        -1
                    };
                    pb::Mount {
                        input: input_index(&mut inputs, &state),
                        selector,
                        dest: mount.dest,
                        output: index,
                        readonly,
                        ..Default::default()
                    }
                }
                kind => {
                    let (pb_mount, kind_caps) = inputless_mount(mount.dest, kind);
                    caps.extend(kind_caps);
                    pb_mount
                }
            };
            mounts.push(pb_mount);
        }
        if !exec.secret_env.is_empty() {
            caps.insert("exec.secretenv");
        }
        let secretenv = exec
            .secret_env
            .into_iter()
            .map(|(name, id)| pb::SecretEnv {
                id,
                name,
                optional: true,
            })
            .collect();
        let network = match exec.network {
            Network::Sandbox => pb::NetMode::Unset,
            Network::None => {
                caps.insert("exec.meta.network");
                pb::NetMode::None
            }
            Network::Host => {
                caps.insert("exec.meta.network");
                pb::NetMode::Host
            }
        };
        let op = pb::Op {
            platform: Some(platform.to_pb()),
            op: Some(pb::op::Op::Exec(pb::ExecOp {
                meta: Some(pb::Meta {
                    args: exec.args,
                    env: exec.env,
                    cwd: exec.cwd,
                    user: exec.user,
                    ..Default::default()
                }),
                mounts,
                network: network as i32,
                secretenv,
                ..Default::default()
            })),
            ..Default::default()
        };
        let node = Arc::new(Node {
            op,
            inputs,
            caps,
            description: description(exec.name),
            line: exec.line,
            ignore_cache: exec.ignore_cache,
        });
        ExecState { node, outputs }
    }

    /// Copy from `from` onto this filesystem (a one-action `FileOp`).
    pub fn copy(&self, from: &State, copy: FileCopy) -> State {
        self.copy_all(vec![(from, copy)])
    }

    /// Copy from each source in turn onto this filesystem, as one `FileOp`
    /// (one layer) whose actions each copy onto the previous one's result;
    /// named by the first copy's name. One copy is exactly [`State::copy`].
    pub fn copy_all(&self, copies: Vec<(&State, FileCopy)>) -> State {
        let mut inputs = Vec::new();
        let mut onto = input_index(&mut inputs, self);
        let mut sources = Vec::new();
        for (from, copy) in copies {
            sources.push((input_index(&mut inputs, from), copy));
        }
        let first_action = i64::try_from(inputs.len()).unwrap_or(i64::MAX);
        let last = sources.len().saturating_sub(1);
        let mut name = None;
        let mut actions = Vec::new();
        for (index, (secondary_input, copy)) in sources.into_iter().enumerate() {
            name = name.or(copy.name);
            actions.push(pb::FileAction {
                input: onto,
                secondary_input,
                output: if index == last { 0 } else { -1 },
                action: Some(pb::file_action::Action::Copy(pb::FileActionCopy {
                    src: copy.src,
                    dest: copy.dest,
                    mode: -1,
                    follow_symlink: false,
                    dir_copy_contents: copy.contents_only,
                    create_dest_path: true,
                    allow_wildcard: false,
                    timestamp: -1,
                    ..Default::default()
                })),
            });
            // The next action copies onto this one's result.
            onto = first_action + i64::try_from(index).unwrap_or(i64::MAX);
        }
        file_op_of(inputs, actions, name)
    }

    /// This filesystem with a file at `path` holding `data` (mode 0644,
    /// owned by root, dated the epoch so its bytes alone make it): a
    /// one-action `FileOp`.
    pub fn mkfile(&self, path: &str, data: &[u8], name: impl Into<String>) -> State {
        let mut inputs = Vec::new();
        let input = input_index(&mut inputs, self);
        let action = pb::FileAction {
            input,
            secondary_input: -1,
            output: 0,
            action: Some(pb::file_action::Action::Mkfile(pb::FileActionMkFile {
                path: path.to_owned(),
                mode: 0o644,
                data: data.to_vec(),
                owner: None,
                timestamp: 0,
            })),
        };
        file_op(inputs, action, Some(name.into()))
    }

    /// Stack `layers` into one filesystem, each keeping its own layers
    /// (BuildKit's MergeOp). Scratch inputs are dropped.
    pub fn merge(layers: &[&State], name: impl Into<String>) -> State {
        let present: Vec<&State> = layers.iter().copied().filter(|s| !s.is_scratch()).collect();
        match present.as_slice() {
            [] => State::scratch(),
            [only] => (*only).clone(),
            _ => {
                let mut inputs = Vec::new();
                let merge_inputs = present
                    .iter()
                    .map(|s| pb::MergeInput {
                        input: input_index(&mut inputs, s),
                    })
                    .collect();
                let op = pb::Op {
                    op: Some(pb::op::Op::Merge(pb::MergeOp {
                        inputs: merge_inputs,
                    })),
                    ..Default::default()
                };
                let node = Node {
                    op,
                    inputs,
                    caps: BTreeSet::from(["mergeop"]),
                    description: description(Some(name.into())),
                    line: None,
                    ignore_cache: false,
                };
                Self::of(&Arc::new(node), 0)
            }
        }
    }
}

/// The state a one-action `FileOp` on `inputs` makes.
fn file_op(inputs: Vec<Output>, action: pb::FileAction, name: Option<String>) -> State {
    file_op_of(inputs, vec![action], name)
}

/// The state a `FileOp` of `actions` on `inputs` makes (its last action's
/// result).
fn file_op_of(inputs: Vec<Output>, actions: Vec<pb::FileAction>, name: Option<String>) -> State {
    let op = pb::Op {
        op: Some(pb::op::Op::File(pb::FileOp { actions })),
        ..Default::default()
    };
    let node = Node {
        op,
        inputs,
        caps: BTreeSet::from(["file.base"]),
        description: description(name),
        line: None,
        ignore_cache: false,
    };
    State::of(&Arc::new(node), 0)
}

/// Position of `state` in `inputs` (added when new), or -1 for scratch.
fn input_index(inputs: &mut Vec<Output>, state: &State) -> i64 {
    let Some(output) = &state.output else {
        return -1;
    };
    let position = inputs
        .iter()
        .position(|o| Arc::ptr_eq(&o.node, &output.node) && o.index == output.index)
        .unwrap_or_else(|| {
            inputs.push(output.clone());
            inputs.len() - 1
        });
    i64::try_from(position).unwrap_or(i64::MAX)
}

fn description(name: Option<String>) -> BTreeMap<String, String> {
    name.map(|n| BTreeMap::from([(CUSTOM_NAME.to_owned(), n)]))
        .unwrap_or_default()
}

/// A mount at `dest` that reads no state (a cache, a secret, the SSH
/// agent, a tmpfs), with the caps it needs; a bind mount (which reads one)
/// is made by [`State::run`] and gets no mount here.
fn inputless_mount(dest: String, kind: MountKind) -> (pb::Mount, &'static [&'static str]) {
    let mount = pb::Mount {
        input: -1,
        dest,
        output: -1,
        ..Default::default()
    };
    match kind {
        MountKind::Cache { id, sharing } => (
            pb::Mount {
                mount_type: pb::MountType::Cache as i32,
                cache_opt: Some(pb::CacheOpt {
                    id,
                    sharing: match sharing {
                        CacheSharing::Shared => pb::CacheSharingOpt::Shared,
                        CacheSharing::Private => pb::CacheSharingOpt::Private,
                        CacheSharing::Locked => pb::CacheSharingOpt::Locked,
                    } as i32,
                }),
                ..mount
            },
            &["exec.mount.cache", "exec.mount.cache.sharing"],
        ),
        MountKind::Secret { id, optional } => (
            pb::Mount {
                mount_type: pb::MountType::Secret as i32,
                // Owned by root (uid and gid 0), readable by it alone.
                secret_opt: Some(pb::SecretOpt {
                    id,
                    mode: 0o400,
                    optional,
                    ..Default::default()
                }),
                ..mount
            },
            &["exec.mount.secret"],
        ),
        MountKind::Ssh { id } => (
            pb::Mount {
                mount_type: pb::MountType::Ssh as i32,
                // Owned by root, required.
                ssh_opt: Some(pb::SshOpt {
                    id,
                    mode: 0o600,
                    ..Default::default()
                }),
                ..mount
            },
            &["exec.mount.ssh"],
        ),
        MountKind::Tmpfs => (
            pb::Mount {
                mount_type: pb::MountType::Tmpfs as i32,
                ..mount
            },
            &["exec.mount.tmpfs"],
        ),
        MountKind::Bind { .. } => (mount, &[]),
    }
}

fn json_list(items: &[String]) -> String {
    serde_json::to_string(items).unwrap_or_else(|_| "[]".to_owned())
}
