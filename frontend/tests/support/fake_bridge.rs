//! An in-process fake of BuildKit's `LLBBridge` gateway service, for tests of the frontend.
//!
//! BuildKit runs a frontend with stdin/stdout as one plaintext HTTP/2 gRPC connection to
//! its `LLBBridge` service (`/work/shared/docs/buildkit-gateway.md`). [`FakeBridge::spawn`]
//! serves this fake with tonic's real server over an in-memory `tokio::io::duplex` pipe and
//! returns a real [`LlbBridgeClient`] connected to it, so the code under test speaks the same
//! wire protocol as against a daemon, and a [`FakeHandle`] to inspect what it asked for.
//!
//! # What it models (after BuildKit v0.13 on the classic image store)
//! - `Ping`: the LLB and gateway caps of such a daemon (with `mergeop`/`diffop` present but
//!   disabled), adjustable with [`FakeBridge::with_llb_caps`] and friends, and one
//!   `linux/amd64` worker.
//! - `Solve` of a `definition`: the ops are decoded and checked as BuildKit's `loadLLB` does
//!   (non-empty, decodable, a last op with inputs, no missing input digest), with BuildKit's
//!   messages. When the terminal op points straight at a `local://NAME` source, the ref is a
//!   **view of that local** as registered with [`FakeBridge::with_local`], filtered the way
//!   fsutil filters a local transfer: `local.includepattern` and `local.followpaths` (JSON
//!   arrays; a pattern that selects a directory selects everything under it) and
//!   `local.excludepatterns` (with `!` negation). Only these real attribute names count: a
//!   misspelt key such as `local.includepatterns` is ignored, so the whole local is visible,
//!   as it would be sent whole by a real daemon. Patterns support `*` and `?` within a path
//!   segment and `**` across segments. Every other definition, and every `frontend` solve,
//!   gives an opaque ref. Ref ids are `ref-1`, `ref-2`, … in Solve order. The response has
//!   the ref in `result` (as `Ref{id, def}` with the solved definition when
//!   `allow_result_array_ref` is set, as the deprecated string otherwise), and also in the
//!   deprecated top-level `ref` unless `allow_result_return` is set, as BuildKit does. A solve
//!   of nothing (no ops, no frontend) gives the empty ref id `""`.
//! - `ReadFile`, `StatFile`, `ReadDir` on local views: paths with or without a leading `/`
//!   (and `.`/`..` cleaned), `range` as Go's `io.NewSectionReader`, and BuildKit's errors
//!   (code Unknown): `open <path>: no such file or directory`, `lstat <path>: no such file
//!   or directory`, `<path> is not a regular file`, `no such ref: <id>`. Modes are Go
//!   `os.FileMode` bits, as fsutil sends them: [`FILE_MODE`] for files, [`DIR_MODE`] for
//!   directories (which exist implicitly as parents of files).
//! - `ResolveImageConfig`: the digest and config registered with [`FakeBridge::with_image`],
//!   for that exact `ref`; other refs fail as BuildKit does ("failed to resolve source
//!   metadata for …", code Unknown), or as set with [`FakeBridge::with_image_error`]. A
//!   multi-platform index is modelled with [`FakeBridge::with_platform_image`]: an answer
//!   for one `ref` and requested platform (`os/arch[/variant]`), which wins over an answer
//!   registered for the `ref` alone; a ref registered only per platform fails for any other
//!   platform, as BuildKit does ("no match for platform in manifest").
//! - `Return`: exactly once. A second one fails ("gateway result is already set"), as does one
//!   with neither a result nor an error, or with an error whose code is 0 (BuildKit turns
//!   that into "no error"), or that names a ref id it never handed out.
//! - `Inputs` (no inputs) and `Warn` (recorded).
//! - Request size: like a v0.13 daemon (grpc-go's default), requests over 4 MiB fail with
//!   code ResourceExhausted and grpc-go's message "grpc: received message larger than max
//!   (N vs. 4194304)" before the service sees them; [`FakeBridge::with_max_request_size`]
//!   models the 16 MiB of v0.14+. The client accepts responses up to 64 MiB.
//!
//! # What it deliberately does not model
//! - Building anything: no exec, file, merge or diff op runs, and opaque refs have no
//!   content (reading from one fails with code Unimplemented). A local view is only the
//!   registered bytes: no symlinks, no per-file modes, owners or times, no `.dockerignore`
//!   of its own.
//! - Laziness: BuildKit checks a definition when the ref is first used; the fake checks at
//!   Solve. Either way an invalid graph fails the build.
//! - Caps enforcement: ops using a disabled or absent cap are not rejected (inspect the
//!   recorded definitions instead), and the `metadata`/`source` of a definition are only
//!   recorded.
//! - `ResolveSourceMeta`, `Evaluate`, containers (`NewContainer`, `ExecProcess`, …) and the
//!   `*Container` file RPCs: they return code Unimplemented, and their caps
//!   (`source.metaresolver`, `gateway.solve.evaluate`, `gateway.exec`) are not advertised.
//! - Sessions, progress, cache imports, exporters and the image-label caps checks.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use bollard_buildkit_proto::fsutil::types::Stat;
use bollard_buildkit_proto::moby::buildkit::v1::apicaps::ApiCap;
use bollard_buildkit_proto::moby::buildkit::v1::frontend::llb_bridge_client::LlbBridgeClient;
use bollard_buildkit_proto::moby::buildkit::v1::frontend::llb_bridge_server::{
    LlbBridge, LlbBridgeServer,
};
use bollard_buildkit_proto::moby::buildkit::v1::frontend::{
    EvaluateRequest, EvaluateResponse, ExecMessage, FileRange, InputsRequest, InputsResponse,
    NewContainerRequest, NewContainerResponse, PingRequest, PongResponse, ReadDirRequest,
    ReadDirResponse, ReadFileRequest, ReadFileResponse, Ref, ReleaseContainerRequest,
    ReleaseContainerResponse, ResolveImageConfigRequest, ResolveImageConfigResponse,
    ResolveSourceMetaRequest, ResolveSourceMetaResponse, Result as GatewayResult, ReturnRequest,
    ReturnResponse, SolveRequest, SolveResponse, StatFileRequest, StatFileResponse, WarnRequest,
    WarnResponse, result,
};
use bollard_buildkit_proto::moby::buildkit::v1::types::WorkerRecord;
use bollard_buildkit_proto::pb;
use prost::Message;
use sha2::{Digest, Sha256};
use tonic::transport::{Channel, Server};
use tonic::{Request, Response, Status};

/// `os.FileMode` of a regular file as fsutil reports it: permission bits only, no type bits.
pub const FILE_MODE: u32 = 0o644;
/// Go's `os.ModeDir` bit (`1 << 31`); fsutil's `Stat.mode` carries Go mode bits, not `S_IFDIR`.
pub const GO_MODE_DIR: u32 = 1 << 31;
/// `os.FileMode` of a directory as fsutil reports it.
pub const DIR_MODE: u32 = GO_MODE_DIR | 0o755;

/// Size of each direction's in-memory buffer between the client and the fake server.
const DUPLEX_BUFFER: usize = 8 << 20;
/// The client's decoding limit, raised as the real frontend raises it.
const CLIENT_MAX_DECODING: usize = 64 << 20;
/// grpc-go's default receive limit, which a BuildKit v0.13 daemon keeps.
pub const V013_MAX_REQUEST: usize = 4 << 20;
/// tonic's own decoding ceiling on the fake server, above any modelled limit, so that the
/// fake answers oversized requests with grpc-go's code and message instead of tonic's.
const SERVER_DECODING_CEILING: usize = 256 << 20;

/// LLB caps of a BuildKit v0.13 daemon on the classic store, as `(id, enabled)`.
const DEFAULT_LLB_CAPS: &[(&str, bool)] = &[
    ("source.image", true),
    ("source.local", true),
    ("source.local.includepatterns", true),
    ("source.local.excludepatterns", true),
    ("source.local.followpaths", true),
    ("source.local.sharedkeyhint", true),
    ("source.local.sessionid", true),
    ("source.http", true),
    ("source.http.checksum", true),
    ("exec.meta.base", true),
    ("exec.meta.network", true),
    ("exec.mount.bind", true),
    ("exec.mount.selector", true),
    ("exec.mount.cache", true),
    ("exec.mount.cache.sharing", true),
    ("exec.mount.secret", true),
    ("exec.mount.ssh", true),
    ("exec.mount.ssh", true),
    ("exec.mount.tmpfs", true),
    ("file.base", true),
    ("constraints", true),
    ("platform", true),
    ("meta.description", true),
    ("meta.ignorecache", true),
    ("source.map", true),
    ("mergeop", false),
    ("diffop", false),
];

/// Why `mergeop`/`diffop` are off on the classic store (the daemon's own words).
const CLASSIC_STORE_REASON: &str = "only enabled with containerd image store backend";

/// Gateway (frontend API) caps the fake advertises: only those whose RPCs it implements.
const DEFAULT_API_CAPS: &[&str] = &[
    "solve.base",
    "solve.inlinereturn",
    "resolveimage",
    "resolveimage.resolvemode",
    "readfile",
    "readdir",
    "statfile",
    "return",
    "returnmap",
    "proto.refarray",
    "frontend.inputs",
    "gateway.warnings",
];

/// Builder for the fake: what the daemon "has" (locals, images, caps) before the frontend runs.
#[derive(Debug, Clone)]
pub struct FakeBridge {
    locals: BTreeMap<String, BTreeMap<String, Vec<u8>>>,
    /// The filesystems of images, by name without digest, for reads of a
    /// solved `docker-image://` source.
    image_files: BTreeMap<String, BTreeMap<String, Vec<u8>>>,
    /// The filesystem of what a build solves (an opaque ref: an exec's or
    /// a file op's result), for reads of it; `None`: such reads fail.
    built_files: Option<BTreeMap<String, Vec<u8>>>,
    images: BTreeMap<String, ImageAnswer>,
    /// Answers for a `(ref, platform)` pair: an index's entries.
    platform_images: BTreeMap<(String, String), ImageAnswer>,
    llb_caps: Vec<ApiCap>,
    api_caps: Vec<ApiCap>,
    max_request_size: usize,
}

/// How `ResolveImageConfig` answers for one registered ref.
#[derive(Debug, Clone)]
enum ImageAnswer {
    Found { digest: String, config: Vec<u8> },
    Fails { code: tonic::Code, message: String },
}

impl Default for FakeBridge {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeBridge {
    /// A fake daemon with no locals, no images and the v0.13 classic-store caps.
    pub fn new() -> Self {
        let llb_caps = DEFAULT_LLB_CAPS
            .iter()
            .map(|&(id, enabled)| {
                let mut cap = api_cap(id, enabled);
                if !enabled {
                    cap.disabled_reason_msg = CLASSIC_STORE_REASON.to_owned();
                }
                cap
            })
            .collect();
        let api_caps = DEFAULT_API_CAPS
            .iter()
            .map(|&id| api_cap(id, true))
            .collect();
        Self {
            locals: BTreeMap::new(),
            image_files: BTreeMap::new(),
            built_files: None,
            images: BTreeMap::new(),
            platform_images: BTreeMap::new(),
            llb_caps,
            api_caps,
            max_request_size: V013_MAX_REQUEST,
        }
    }

    /// Registers the local source `name` (as `local://name`) with these files, keyed by
    /// relative path (`pybase.yaml`, `sub/pyproject.toml`; a leading `/` or `./` is dropped).
    /// Registering the same name again replaces it.
    pub fn with_local(mut self, name: &str, files: BTreeMap<String, Vec<u8>>) -> Self {
        let files = files
            .into_iter()
            .map(|(path, data)| (normalize(&path).join("/"), data))
            .collect();
        self.locals.insert(name.to_owned(), files);
        self
    }

    /// Gives the image `name` (as solved, without its `@digest`) these files, keyed by path
    /// (`usr/bin/python3.11`), so that reads of a solved `docker-image://name…` source find
    /// them; an image without files stays opaque, and reads of it fail.
    pub fn with_image_files(mut self, name: &str, files: BTreeMap<String, Vec<u8>>) -> Self {
        let files = files
            .into_iter()
            .map(|(path, data)| (normalize(&path).join("/"), data))
            .collect();
        self.image_files.insert(name.to_owned(), files);
        self
    }

    /// Gives every ref the fake cannot see into (a built image, an op's
    /// result) these files, keyed by path (`var/lib/dpkg/status`), for reads
    /// of what a build made; without them such reads fail.
    pub fn with_built_files(mut self, files: BTreeMap<String, Vec<u8>>) -> Self {
        let files = files
            .into_iter()
            .map(|(path, data)| (normalize(&path).join("/"), data))
            .collect();
        self.built_files = Some(files);
        self
    }

    /// Makes `ResolveImageConfig` for exactly `reference` answer `digest` (may be empty, as
    /// for an image only in the classic local store) and `config_json` serialised.
    pub fn with_image(
        mut self,
        reference: &str,
        digest: &str,
        config_json: serde_json::Value,
    ) -> Self {
        let config =
            serde_json::to_vec(&config_json).expect("a serde_json::Value always serialises");
        self.images.insert(
            reference.to_owned(),
            ImageAnswer::Found {
                digest: digest.to_owned(),
                config,
            },
        );
        self
    }

    /// Makes `ResolveImageConfig` for exactly `reference` and `platform` (`linux/arm64`, as
    /// `os/arch[/variant]` of the request's platform) answer `digest` (an index's digest is the
    /// same for every platform) and `config_json` serialised: one entry of a multi-platform
    /// index.
    pub fn with_platform_image(
        mut self,
        reference: &str,
        platform: &str,
        digest: &str,
        config_json: serde_json::Value,
    ) -> Self {
        let config =
            serde_json::to_vec(&config_json).expect("a serde_json::Value always serialises");
        self.platform_images.insert(
            (reference.to_owned(), platform.to_owned()),
            ImageAnswer::Found {
                digest: digest.to_owned(),
                config,
            },
        );
        self
    }

    /// Makes `ResolveImageConfig` for exactly `reference` fail with this code and message.
    pub fn with_image_error(mut self, reference: &str, code: tonic::Code, message: &str) -> Self {
        self.images.insert(
            reference.to_owned(),
            ImageAnswer::Fails {
                code,
                message: message.to_owned(),
            },
        );
        self
    }

    /// Sets each listed LLB cap to present with this `enabled` state (added if absent); the
    /// other caps keep their defaults. A cap disabled here gets a test-specific reason.
    pub fn with_llb_caps(mut self, caps: &[(&str, bool)]) -> Self {
        set_caps(&mut self.llb_caps, caps);
        self
    }

    /// Removes these LLB caps from `Ping` altogether (as an older daemon would not know them),
    /// which is not the same as present but disabled.
    pub fn without_llb_caps(mut self, ids: &[&str]) -> Self {
        self.llb_caps.retain(|cap| !ids.contains(&cap.id.as_str()));
        self
    }

    /// Sets each listed gateway cap to present with this `enabled` state (added if absent).
    pub fn with_api_caps(mut self, caps: &[(&str, bool)]) -> Self {
        set_caps(&mut self.api_caps, caps);
        self
    }

    /// Removes these gateway caps from `Ping` altogether.
    pub fn without_api_caps(mut self, ids: &[&str]) -> Self {
        self.api_caps.retain(|cap| !ids.contains(&cap.id.as_str()));
        self
    }

    /// Sets the largest request the daemon accepts, in encoded bytes (default
    /// [`V013_MAX_REQUEST`]; BuildKit v0.14+ accepts 16 MiB).
    pub fn with_max_request_size(mut self, bytes: usize) -> Self {
        self.max_request_size = bytes;
        self
    }

    /// Serves the fake on an in-memory connection and returns a client for it (decoding
    /// limit raised to 64 MiB) plus the handle to what it records. Needs a tokio runtime.
    pub async fn spawn(self) -> (LlbBridgeClient<Channel>, FakeHandle) {
        let (channel, handle) = self.spawn_channel().await;
        let client = LlbBridgeClient::new(channel).max_decoding_message_size(CLIENT_MAX_DECODING);
        (client, handle)
    }

    /// As [`FakeBridge::spawn`], but hands out the raw tonic [`Channel`] so that code under
    /// test can build its own client (and must then raise the decoding limit itself).
    pub async fn spawn_channel(self) -> (Channel, FakeHandle) {
        let state = Arc::new(Mutex::new(State::new(self)));
        let (client_io, server_io) = tokio::io::duplex(DUPLEX_BUFFER);

        let service = LlbBridgeServer::new(FakeService {
            state: Arc::clone(&state),
        })
        .max_decoding_message_size(SERVER_DECODING_CEILING);
        tokio::spawn(async move {
            let incoming = tokio_stream::once(Ok::<_, std::io::Error>(server_io));
            if let Err(err) = Server::builder()
                .add_service(service)
                .serve_with_incoming(incoming)
                .await
            {
                eprintln!("fake bridge: the in-memory gRPC server stopped: {err}");
            }
        });

        // The frontend's own connector, so the tests exercise it too.
        let channel = pybase::gateway::channel_over(client_io)
            .await
            .expect("connecting to the in-memory fake bridge");
        (channel, FakeHandle { state })
    }
}

fn api_cap(id: &str, enabled: bool) -> ApiCap {
    ApiCap {
        id: id.to_owned(),
        enabled,
        ..ApiCap::default()
    }
}

fn set_caps(list: &mut Vec<ApiCap>, caps: &[(&str, bool)]) {
    for &(id, enabled) in caps {
        let reason = if enabled {
            String::new()
        } else {
            "disabled by the test (FakeBridge caps override)".to_owned()
        };
        match list.iter_mut().find(|cap| cap.id == id) {
            Some(cap) => {
                cap.enabled = enabled;
                cap.disabled_reason_msg = reason;
            }
            None => list.push(ApiCap {
                disabled_reason_msg: reason,
                ..api_cap(id, enabled)
            }),
        }
    }
}

/// What one ref id stands for.
#[derive(Debug, Clone)]
enum RefKind {
    /// The filtered files of a local source, keyed by normalised relative path.
    LocalView {
        local: String,
        files: BTreeMap<String, Vec<u8>>,
    },
    /// Anything the fake does not build: it has no readable content.
    Opaque,
}

#[derive(Debug)]
struct RefEntry {
    /// Index into `State::solves` of the request that made this ref.
    solve: usize,
    kind: RefKind,
}

/// Everything the fake knows and records, behind one lock.
#[derive(Debug)]
struct State {
    config: FakeBridge,
    refs: BTreeMap<String, RefEntry>,
    solves: Vec<SolveRequest>,
    read_files: Vec<(String, String)>,
    image_resolves: Vec<ResolveImageConfigRequest>,
    warnings: Vec<WarnRequest>,
    return_attempts: Vec<ReturnRequest>,
    returned: Option<ReturnRequest>,
}

impl State {
    fn new(config: FakeBridge) -> Self {
        Self {
            config,
            refs: BTreeMap::new(),
            solves: Vec::new(),
            read_files: Vec::new(),
            image_resolves: Vec::new(),
            warnings: Vec::new(),
            return_attempts: Vec::new(),
            returned: None,
        }
    }

    /// The local view behind `id`, or the error BuildKit (or the fake) gives for it.
    fn local_view(&self, id: &str) -> Result<&BTreeMap<String, Vec<u8>>, Status> {
        match self.refs.get(id) {
            None => Err(Status::unknown(format!("no such ref: {id}"))),
            Some(RefEntry {
                kind: RefKind::LocalView { files, .. },
                ..
            }) => Ok(files),
            Some(RefEntry {
                kind: RefKind::Opaque,
                ..
            }) => self.config.built_files.as_ref().ok_or_else(|| {
                Status::unimplemented(format!(
                    "fake bridge: {id} is opaque (not a plain local source), so it has no \
                     files to read (give it some with FakeBridge::with_built_files); inspect \
                     its definition with FakeHandle::solve_for_ref instead"
                ))
            }),
        }
    }

    /// Checks a ref id named by `Return`: empty is allowed (no ref), unknown is not.
    fn check_return_ref(&self, id: &str) -> Result<(), Status> {
        if id.is_empty() || self.refs.contains_key(id) {
            Ok(())
        } else {
            Err(Status::unknown(format!("return reference {id} not found")))
        }
    }
}

/// Access to what the fake recorded; cheap to clone.
#[derive(Debug, Clone)]
pub struct FakeHandle {
    state: Arc<Mutex<State>>,
}

impl FakeHandle {
    fn lock(&self) -> MutexGuard<'_, State> {
        lock_state(&self.state)
    }

    /// Every `Solve` request, in order (including ones the fake rejected).
    pub fn solves(&self) -> Vec<SolveRequest> {
        self.lock().solves.clone()
    }

    /// The `Solve` request that produced ref `id`, if the fake handed that id out.
    pub fn solve_for_ref(&self, id: &str) -> Option<SolveRequest> {
        let state = self.lock();
        let entry = state.refs.get(id)?;
        state.solves.get(entry.solve).cloned()
    }

    /// The sorted paths visible through ref `id` if it is a local view, else `None`.
    pub fn view_files(&self, id: &str) -> Option<Vec<String>> {
        match &self.lock().refs.get(id)?.kind {
            RefKind::LocalView { files, .. } => Some(files.keys().cloned().collect()),
            RefKind::Opaque => None,
        }
    }

    /// The name of the local that ref `id` is a view of, if it is one.
    pub fn view_local(&self, id: &str) -> Option<String> {
        match &self.lock().refs.get(id)?.kind {
            RefKind::LocalView { local, .. } => Some(local.clone()),
            RefKind::Opaque => None,
        }
    }

    /// The accepted `Return`, if any.
    pub fn returned(&self) -> Option<ReturnRequest> {
        self.lock().returned.clone()
    }

    /// Every `Return` request, accepted or not, in order.
    pub fn return_attempts(&self) -> Vec<ReturnRequest> {
        self.lock().return_attempts.clone()
    }

    /// Every `Warn` request, in order.
    pub fn warnings(&self) -> Vec<WarnRequest> {
        self.lock().warnings.clone()
    }

    /// Every `ReadFile` as `(ref id, path as requested)`, in order, failed ones included.
    pub fn read_files(&self) -> Vec<(String, String)> {
        self.lock().read_files.clone()
    }

    /// Every `ResolveImageConfig` request, in order.
    pub fn image_resolves(&self) -> Vec<ResolveImageConfigRequest> {
        self.lock().image_resolves.clone()
    }

    /// Decodes every op of `def` as `(digest, op)`, in `def` order (the terminal op last).
    /// Panics with the cause if an op does not decode: this is for test assertions.
    pub fn definition_ops(def: &pb::Definition) -> Vec<(String, pb::Op)> {
        decode_ops(def).unwrap_or_else(|err| panic!("definition_ops: {err}"))
    }
}

fn lock_state(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state
        .lock()
        .expect("fake bridge state lock poisoned by an earlier panic")
}

/// An op's digest as BuildKit computes it: `sha256:` and the lowercase hex of its bytes.
pub fn op_digest(bytes: &[u8]) -> String {
    let hash = Sha256::digest(bytes);
    let mut out = String::with_capacity(7 + 2 * hash.len());
    out.push_str("sha256:");
    for byte in hash.iter() {
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

fn decode_ops(def: &pb::Definition) -> Result<Vec<(String, pb::Op)>, String> {
    def.def
        .iter()
        .enumerate()
        .map(|(i, bytes)| {
            pb::Op::decode(bytes.as_slice())
                .map(|op| (op_digest(bytes), op))
                .map_err(|err| format!("failed to parse llb proto op (entry {i}): {err}"))
        })
        .collect()
}

/// Decides what a solved definition is, checking it as BuildKit's `loadLLB` does.
fn classify(
    def: &pb::Definition,
    locals: &BTreeMap<String, BTreeMap<String, Vec<u8>>>,
    image_files: &BTreeMap<String, BTreeMap<String, Vec<u8>>>,
) -> Result<RefKind, Status> {
    let ops = decode_ops(def).map_err(Status::unknown)?;
    let Some(((_, terminal), body)) = ops.split_last() else {
        return Err(Status::unknown("invalid empty definition"));
    };
    let by_digest: HashMap<&str, &pb::Op> = body.iter().map(|(d, op)| (d.as_str(), op)).collect();
    let Some(root) = terminal.inputs.first() else {
        return Err(Status::unknown("invalid LLB with no inputs on last vertex"));
    };
    for (_, op) in body {
        for input in &op.inputs {
            if !by_digest.contains_key(input.digest.as_str()) {
                return Err(Status::unknown(format!(
                    "invalid missing input digest {}",
                    input.digest
                )));
            }
        }
    }
    let Some(root_op) = by_digest.get(root.digest.as_str()) else {
        return Err(Status::unknown(format!(
            "invalid missing input digest {}",
            root.digest
        )));
    };
    match &root_op.op {
        Some(pb::op::Op::Source(source)) if root.index == 0 => {
            if let Some(name) = source.identifier.strip_prefix("local://") {
                return local_view(name, &source.attrs, locals);
            }
            let image = source
                .identifier
                .strip_prefix("docker-image://")
                .map(|reference| reference.split('@').next().unwrap_or(reference));
            match image.and_then(|name| Some((name, image_files.get(name)?))) {
                Some((name, files)) => Ok(RefKind::LocalView {
                    local: format!("image {name}"),
                    files: files.clone(),
                }),
                None => Ok(RefKind::Opaque),
            }
        }
        _ => Ok(RefKind::Opaque),
    }
}

/// The files of local `name` that a transfer with these source attrs would bring.
fn local_view(
    name: &str,
    attrs: &BTreeMap<String, String>,
    locals: &BTreeMap<String, BTreeMap<String, Vec<u8>>>,
) -> Result<RefKind, Status> {
    let Some(all) = locals.get(name) else {
        return Err(Status::not_found(format!(
            "no access allowed to dir \"{name}\" (fake bridge: no such local; register it \
             with FakeBridge::with_local)"
        )));
    };
    let mut includes = json_list(attrs, "local.includepattern", name)?;
    includes.extend(json_list(attrs, "local.followpaths", name)?);
    let includes: Vec<Vec<String>> = includes.iter().map(|p| normalize(p)).collect();
    let excludes: Vec<(bool, Vec<String>)> = json_list(attrs, "local.excludepatterns", name)?
        .iter()
        .map(|p| match p.strip_prefix('!') {
            Some(rest) => (true, normalize(rest)),
            None => (false, normalize(p)),
        })
        .collect();

    let files = all
        .iter()
        .filter(|(path, _)| {
            let path: Vec<&str> = path.split('/').collect();
            let included = includes.is_empty() || includes.iter().any(|p| selects(p, &path));
            let mut excluded = false;
            for (negated, pattern) in &excludes {
                if selects(pattern, &path) {
                    excluded = !negated;
                }
            }
            included && !excluded
        })
        .map(|(path, data)| (path.clone(), data.clone()))
        .collect();
    Ok(RefKind::LocalView {
        local: name.to_owned(),
        files,
    })
}

/// A JSON string-array source attribute; absent means empty.
fn json_list(
    attrs: &BTreeMap<String, String>,
    key: &str,
    local: &str,
) -> Result<Vec<String>, Status> {
    match attrs.get(key) {
        None => Ok(Vec::new()),
        Some(value) => serde_json::from_str(value).map_err(|err| {
            Status::unknown(format!(
                "local://{local}: {key} is not a JSON array of strings ({value:?}): {err}"
            ))
        }),
    }
}

/// Splits a path into clean segments: no empty or `.` segments, `..` applied (never above
/// the root), as `fs.RootPath`/`filepath.Clean` treat paths inside a mount.
fn normalize(path: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            other => out.push(other.to_owned()),
        }
    }
    out
}

/// fsutil semantics: a pattern selects a path if it matches the path or one of its parent
/// directories. An empty pattern (`.`, `/`) selects everything.
fn selects(pattern: &[String], path: &[&str]) -> bool {
    pattern.is_empty() || (1..=path.len()).any(|n| segments_match(pattern, &path[..n]))
}

/// Matches path segments against pattern segments; a `**` segment matches any number of
/// segments (including none).
fn segments_match(pattern: &[String], path: &[&str]) -> bool {
    match pattern.split_first() {
        None => path.is_empty(),
        Some((first, rest)) if first == "**" => {
            (0..=path.len()).any(|skip| segments_match(rest, &path[skip..]))
        }
        Some((first, rest)) => match path.split_first() {
            Some((segment, path_rest)) => {
                let pattern_chars: Vec<char> = first.chars().collect();
                let segment_chars: Vec<char> = segment.chars().collect();
                segment_matches(&pattern_chars, &segment_chars) && segments_match(rest, path_rest)
            }
            None => false,
        },
    }
}

/// Matches one segment: `*` is any run of characters, `?` any one, the rest literal.
fn segment_matches(pattern: &[char], name: &[char]) -> bool {
    match pattern.split_first() {
        None => name.is_empty(),
        Some(('*', rest)) => (0..=name.len()).any(|skip| segment_matches(rest, &name[skip..])),
        Some(('?', rest)) => !name.is_empty() && segment_matches(rest, &name[1..]),
        Some((c, rest)) => name.first() == Some(c) && segment_matches(rest, &name[1..]),
    }
}

/// What a cleaned path is inside a local view.
enum Entry<'a> {
    File(&'a [u8]),
    Dir,
    Missing,
}

fn lookup<'a>(files: &'a BTreeMap<String, Vec<u8>>, clean: &str) -> Entry<'a> {
    if let Some(data) = files.get(clean) {
        return Entry::File(data);
    }
    if clean.is_empty() {
        return Entry::Dir;
    }
    let prefix = format!("{clean}/");
    if files.keys().any(|path| path.starts_with(&prefix)) {
        Entry::Dir
    } else {
        Entry::Missing
    }
}

fn size_of(data: &[u8]) -> i64 {
    i64::try_from(data.len()).unwrap_or(i64::MAX)
}

fn file_stat(path: String, data: &[u8]) -> Stat {
    Stat {
        path,
        mode: FILE_MODE,
        size: size_of(data),
        ..Stat::default()
    }
}

fn dir_stat(path: String) -> Stat {
    Stat {
        path,
        mode: DIR_MODE,
        ..Stat::default()
    }
}

/// The bytes `io.NewSectionReader(f, offset, length)` would yield.
fn apply_range(data: &[u8], range: Option<&FileRange>, path: &str) -> Result<Vec<u8>, Status> {
    let Some(range) = range else {
        return Ok(data.to_vec());
    };
    if range.length <= 0 {
        return Ok(Vec::new());
    }
    let Ok(offset) = usize::try_from(range.offset) else {
        return Err(Status::unknown(format!("readat {path}: negative offset")));
    };
    let start = offset.min(data.len());
    let length = usize::try_from(range.length).unwrap_or(usize::MAX);
    let end = start.saturating_add(length).min(data.len());
    Ok(data[start..end].to_vec())
}

fn unimplemented<T>(rpc: &str) -> Result<Response<T>, Status> {
    Err(Status::unimplemented(format!(
        "fake bridge: {rpc} is not modelled"
    )))
}

/// The tonic service; all state lives in the shared [`State`].
struct FakeService {
    state: Arc<Mutex<State>>,
}

impl FakeService {
    fn lock(&self) -> MutexGuard<'_, State> {
        lock_state(&self.state)
    }

    /// Unwraps a request, failing it as grpc-go does when it is over the daemon's limit.
    fn accept<T: Message>(&self, request: Request<T>) -> Result<T, Status> {
        let message = request.into_inner();
        let size = message.encoded_len();
        let max = self.lock().config.max_request_size;
        if size > max {
            return Err(Status::resource_exhausted(format!(
                "grpc: received message larger than max ({size} vs. {max})"
            )));
        }
        Ok(message)
    }
}

#[tonic::async_trait]
impl LlbBridge for FakeService {
    async fn resolve_image_config(
        &self,
        request: Request<ResolveImageConfigRequest>,
    ) -> Result<Response<ResolveImageConfigResponse>, Status> {
        let request = self.accept(request)?;
        let mut state = self.lock();
        state.image_resolves.push(request.clone());
        let platform = request.platform.as_ref().map(|p| {
            [p.os.as_str(), p.architecture.as_str(), p.variant.as_str()]
                .into_iter()
                .filter(|part| !part.is_empty())
                .collect::<Vec<_>>()
                .join("/")
        });
        let for_platform = platform.as_ref().and_then(|platform| {
            state
                .config
                .platform_images
                .get(&(request.r#ref.clone(), platform.clone()))
        });
        let indexed = state
            .config
            .platform_images
            .keys()
            .any(|(reference, _)| *reference == request.r#ref);
        if for_platform.is_none() && indexed && !state.config.images.contains_key(&request.r#ref) {
            return Err(Status::unknown(format!(
                "failed to resolve source metadata for {}: no match for platform in manifest: not found",
                request.r#ref
            )));
        }
        match for_platform.or_else(|| state.config.images.get(&request.r#ref)) {
            Some(ImageAnswer::Found { digest, config }) => {
                Ok(Response::new(ResolveImageConfigResponse {
                    digest: digest.clone(),
                    config: config.clone(),
                    r#ref: request.r#ref.clone(),
                }))
            }
            Some(ImageAnswer::Fails { code, message }) => Err(Status::new(*code, message.clone())),
            None => Err(Status::unknown(format!(
                "failed to resolve source metadata for {0}: {0}: not found",
                request.r#ref
            ))),
        }
    }

    async fn resolve_source_meta(
        &self,
        _request: Request<ResolveSourceMetaRequest>,
    ) -> Result<Response<ResolveSourceMetaResponse>, Status> {
        unimplemented("ResolveSourceMeta")
    }

    async fn solve(
        &self,
        request: Request<SolveRequest>,
    ) -> Result<Response<SolveResponse>, Status> {
        let request = self.accept(request)?;
        let mut state = self.lock();
        state.solves.push(request.clone());
        let solve = state.solves.len() - 1;

        let definition = request
            .definition
            .as_ref()
            .filter(|def| !def.def.is_empty());
        let kind = match definition {
            Some(def) => Some(classify(
                def,
                &state.config.locals,
                &state.config.image_files,
            )?),
            None if !request.frontend.is_empty() => Some(RefKind::Opaque),
            None => None,
        };
        let id = match kind {
            Some(kind) => {
                let id = format!("ref-{}", state.refs.len() + 1);
                state.refs.insert(id.clone(), RefEntry { solve, kind });
                id
            }
            None => String::new(),
        };

        let result = if request.allow_result_array_ref {
            result::Result::Ref(Ref {
                id: id.clone(),
                def: definition.cloned(),
            })
        } else {
            result::Result::RefDeprecated(id.clone())
        };
        Ok(Response::new(SolveResponse {
            r#ref: if request.allow_result_return {
                String::new()
            } else {
                id
            },
            result: Some(GatewayResult {
                result: Some(result),
                ..GatewayResult::default()
            }),
        }))
    }

    async fn read_file(
        &self,
        request: Request<ReadFileRequest>,
    ) -> Result<Response<ReadFileResponse>, Status> {
        let request = self.accept(request)?;
        let mut state = self.lock();
        state
            .read_files
            .push((request.r#ref.clone(), request.file_path.clone()));
        let files = state.local_view(&request.r#ref)?;
        let path = &request.file_path;
        match lookup(files, &normalize(path).join("/")) {
            Entry::File(data) => Ok(Response::new(ReadFileResponse {
                data: apply_range(data, request.range.as_ref(), path)?,
            })),
            Entry::Dir => Err(Status::unknown(format!("{path} is not a regular file"))),
            Entry::Missing => Err(Status::unknown(format!(
                "open {path}: no such file or directory"
            ))),
        }
    }

    async fn read_dir(
        &self,
        request: Request<ReadDirRequest>,
    ) -> Result<Response<ReadDirResponse>, Status> {
        let request = self.accept(request)?;
        let state = self.lock();
        let files = state.local_view(&request.r#ref)?;
        let dir = normalize(&request.dir_path).join("/");
        let path = &request.dir_path;
        match lookup(files, &dir) {
            Entry::Dir => {}
            Entry::File(_) => {
                return Err(Status::unknown(format!("readdir {path}: not a directory")));
            }
            Entry::Missing => {
                return Err(Status::unknown(format!(
                    "lstat {path}: no such file or directory"
                )));
            }
        }
        let prefix = if dir.is_empty() {
            String::new()
        } else {
            format!("{dir}/")
        };
        let filter: Vec<String> = normalize(&request.include_pattern);
        // BTreeSet: fsutil walks in lexical order and lists each child once.
        let mut children: BTreeSet<(String, Option<&[u8]>)> = BTreeSet::new();
        for (file, data) in files {
            let Some(rest) = file.strip_prefix(&prefix) else {
                continue;
            };
            match rest.split_once('/') {
                Some((child, _)) => children.insert((child.to_owned(), None)),
                None => children.insert((rest.to_owned(), Some(data.as_slice()))),
            };
        }
        let entries = children
            .into_iter()
            .filter(|(name, _)| request.include_pattern.is_empty() || selects(&filter, &[name]))
            .map(|(name, data)| match data {
                Some(data) => file_stat(name, data),
                None => dir_stat(name),
            })
            .collect();
        Ok(Response::new(ReadDirResponse { entries }))
    }

    async fn stat_file(
        &self,
        request: Request<StatFileRequest>,
    ) -> Result<Response<StatFileResponse>, Status> {
        let request = self.accept(request)?;
        let state = self.lock();
        let files = state.local_view(&request.r#ref)?;
        let clean = normalize(&request.path);
        let base = clean.last().cloned().unwrap_or_else(|| "/".to_owned());
        let stat = match lookup(files, &clean.join("/")) {
            Entry::File(data) => file_stat(base, data),
            Entry::Dir => dir_stat(base),
            Entry::Missing => {
                return Err(Status::unknown(format!(
                    "lstat {}: no such file or directory",
                    request.path
                )));
            }
        };
        Ok(Response::new(StatFileResponse { stat: Some(stat) }))
    }

    async fn evaluate(
        &self,
        _request: Request<EvaluateRequest>,
    ) -> Result<Response<EvaluateResponse>, Status> {
        unimplemented("Evaluate")
    }

    async fn ping(&self, _request: Request<PingRequest>) -> Result<Response<PongResponse>, Status> {
        let state = self.lock();
        Ok(Response::new(PongResponse {
            frontend_api_caps: state.config.api_caps.clone(),
            llb_caps: state.config.llb_caps.clone(),
            workers: vec![WorkerRecord {
                id: "fake-worker".to_owned(),
                platforms: vec![pb::Platform {
                    os: "linux".to_owned(),
                    architecture: "amd64".to_owned(),
                    ..pb::Platform::default()
                }],
                ..WorkerRecord::default()
            }],
        }))
    }

    async fn r#return(
        &self,
        request: Request<ReturnRequest>,
    ) -> Result<Response<ReturnResponse>, Status> {
        let request = self.accept(request)?;
        let mut state = self.lock();
        state.return_attempts.push(request.clone());
        // Checked in BuildKit's order: the result's refs, then setResult's two checks.
        if request.error.is_none()
            && let Some(result) = request.result.as_ref().and_then(|r| r.result.as_ref())
        {
            match result {
                result::Result::RefDeprecated(id) => state.check_return_ref(id)?,
                result::Result::RefsDeprecated(map) => {
                    for id in map.refs.values() {
                        state.check_return_ref(id)?;
                    }
                }
                result::Result::Ref(r) => state.check_return_ref(&r.id)?,
                result::Result::Refs(map) => {
                    for r in map.refs.values() {
                        state.check_return_ref(&r.id)?;
                    }
                }
            }
        }
        let has_error = request.error.as_ref().is_some_and(|e| e.code != 0);
        let has_result = request.error.is_none() && request.result.is_some();
        if !has_error && !has_result {
            return Err(Status::unknown(
                "gateway return must be either result or err",
            ));
        }
        if state.returned.is_some() {
            return Err(Status::unknown("gateway result is already set"));
        }
        state.returned = Some(request);
        Ok(Response::new(ReturnResponse {}))
    }

    async fn inputs(
        &self,
        _request: Request<InputsRequest>,
    ) -> Result<Response<InputsResponse>, Status> {
        Ok(Response::new(InputsResponse::default()))
    }

    async fn new_container(
        &self,
        _request: Request<NewContainerRequest>,
    ) -> Result<Response<NewContainerResponse>, Status> {
        unimplemented("NewContainer")
    }

    async fn release_container(
        &self,
        _request: Request<ReleaseContainerRequest>,
    ) -> Result<Response<ReleaseContainerResponse>, Status> {
        unimplemented("ReleaseContainer")
    }

    type ExecProcessStream = tokio_stream::Empty<Result<ExecMessage, Status>>;

    async fn exec_process(
        &self,
        _request: Request<tonic::Streaming<ExecMessage>>,
    ) -> Result<Response<Self::ExecProcessStream>, Status> {
        unimplemented("ExecProcess")
    }

    async fn read_file_container(
        &self,
        _request: Request<ReadFileRequest>,
    ) -> Result<Response<ReadFileResponse>, Status> {
        unimplemented("ReadFileContainer")
    }

    async fn read_dir_container(
        &self,
        _request: Request<ReadDirRequest>,
    ) -> Result<Response<ReadDirResponse>, Status> {
        unimplemented("ReadDirContainer")
    }

    async fn stat_file_container(
        &self,
        _request: Request<StatFileRequest>,
    ) -> Result<Response<StatFileResponse>, Status> {
        unimplemented("StatFileContainer")
    }

    async fn warn(&self, request: Request<WarnRequest>) -> Result<Response<WarnResponse>, Status> {
        let request = self.accept(request)?;
        self.lock().warnings.push(request);
        Ok(Response::new(WarnResponse {}))
    }
}
