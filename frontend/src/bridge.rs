//! The connection to BuildKit and the low-level LLBBridge calls every other
//! part of the gateway frontend goes through.
//!
//! BuildKit starts the frontend image with stdin/stdout as one HTTP/2 gRPC
//! connection on which the frontend is the client ([`connect_stdio`];
//! [`channel_over`] for any byte stream, such as the tests' in-memory pipe).
//! `solve` and `solve_definition` turn LLB into a ref, `read_file`
//! reads a file of one. [`Failure`] is why a build failed and becomes the
//! `google.rpc.Status` of `Return`: an input error carries BuildKit's
//! `errdefs.Source` detail, so buildx prints the offending spec or lock line.
//!
//! This module knows nothing else of the crate: what to solve and read is
//! decided by its callers.

use std::sync::{Arc, Mutex};

use anyhow::{Context, anyhow};
use base64::Engine;
use bollard_buildkit_proto::google::protobuf::Any;
use bollard_buildkit_proto::google::rpc::Status;
use bollard_buildkit_proto::moby::buildkit::v1::frontend::{
    self as gw, llb_bridge_client::LlbBridgeClient,
};
use bollard_buildkit_proto::pb;
use llb_gen::diagnostic::{Diagnostic, Diagnostics, Position};
use llb_gen::llb::marshal::ServerCaps;
use llb_gen::llb::{self, State};
use serde_json::{Value, json};
use tonic::transport::{Channel, Endpoint, Uri};

/// A client of BuildKit's LLBBridge.
pub type Bridge = LlbBridgeClient<Channel>;

/// The largest message we accept from BuildKit (the default is 4 MiB).
const MAX_MESSAGE_BYTES: usize = 64 << 20;

/// Connect to BuildKit through this process's stdin and stdout.
pub async fn connect_stdio() -> anyhow::Result<Bridge> {
    let stdio = tokio::io::join(tokio::io::stdin(), tokio::io::stdout());
    Ok(bridge(
        channel_over(stdio)
            .await
            .context("connecting to BuildKit over stdio")?,
    ))
}

/// An HTTP/2 gRPC channel over one already-open byte stream (stdio in the
/// frontend image, an in-memory pipe in tests). The stream can be handed
/// out once: a reconnect attempt fails instead of talking to nothing.
pub async fn channel_over<IO>(io: IO) -> anyhow::Result<Channel>
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let slot = Arc::new(Mutex::new(Some(io)));
    let channel = Endpoint::from_static("http://buildkit.gateway")
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let slot = Arc::clone(&slot);
            async move {
                let stream = slot
                    .lock()
                    .map_err(|_| std::io::Error::other("connection slot poisoned"))?
                    .take()
                    .ok_or_else(|| {
                        std::io::Error::other("the gateway connection was already used")
                    })?;
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(stream))
            }
        }))
        .await?;
    Ok(channel)
}

/// A bridge client over `channel`, with our message limit.
pub fn bridge(channel: Channel) -> Bridge {
    LlbBridgeClient::new(channel).max_decoding_message_size(MAX_MESSAGE_BYTES)
}

/// Why a build failed.
#[derive(Debug)]
pub enum Failure {
    /// The user's input is wrong: reported at its file, line and column,
    /// with the file attached so buildx shows the excerpt.
    Input {
        /// What is wrong.
        diagnostics: Diagnostics,
        /// The files the diagnostics may point into: name and content.
        files: Vec<(String, Vec<u8>)>,
    },
    /// A `--call` pybase does not answer.
    UnsupportedSubrequest {
        /// The subrequest asked for.
        name: String,
        /// The subrequests pybase answers, for the message.
        answered: Vec<&'static str>,
    },
    /// Anything else (BuildKit refused a request, an unsupported setup).
    Other(anyhow::Error),
}

impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Self {
        Self::Other(error)
    }
}

impl Failure {
    pub(crate) fn input(diagnostics: impl Into<Diagnostics>, files: &[(&str, &[u8])]) -> Self {
        Self::Input {
            diagnostics: diagnostics.into(),
            files: files
                .iter()
                .map(|(name, data)| ((*name).to_owned(), data.to_vec()))
                .collect(),
        }
    }

    /// The `google.rpc.Status` BuildKit expects in `Return`.
    pub fn to_status(&self) -> Status {
        match self {
            Failure::Input { diagnostics, files } => Status {
                code: tonic::Code::InvalidArgument as i32,
                message: diagnostics.to_string(),
                details: diagnostics
                    .first()
                    .and_then(|first| source_detail(first, files))
                    .into_iter()
                    .collect(),
            },
            Failure::UnsupportedSubrequest { name, answered } => Status {
                code: tonic::Code::Unimplemented as i32,
                message: format!(
                    "pybase does not answer the subrequest `{name}` (it answers: {})",
                    answered.join(", ")
                ),
                details: serde_json::to_vec(&json!({ "name": name }))
                    .ok()
                    .map(|value| Any {
                        type_url: "github.com/moby/buildkit/errdefs.Subrequest+json".to_owned(),
                        value,
                    })
                    .into_iter()
                    .collect(),
            },
            Failure::Other(error) => Status {
                code: tonic::Code::Unknown as i32,
                message: format!("{error:#}"),
                details: Vec::new(),
            },
        }
    }
}

/// BuildKit's `errdefs.Source` detail: the file and the range to excerpt.
fn source_detail(diagnostic: &Diagnostic, files: &[(String, Vec<u8>)]) -> Option<Any> {
    let position = diagnostic.position?;
    let (name, data) = files.iter().find(|(name, _)| *name == diagnostic.file)?;
    let language = if name.ends_with(".toml") || name.ends_with(".lock") {
        "toml"
    } else {
        "yaml"
    };
    let detail = json!({
        "info": {
            "filename": name,
            "data": base64::engine::general_purpose::STANDARD.encode(data),
            "language": language,
        },
        "ranges": [source_range(position)],
    });
    Some(Any {
        type_url: "github.com/moby/buildkit/errdefs.Source+json".to_owned(),
        value: serde_json::to_vec(&detail).ok()?,
    })
}

/// A BuildKit `pb.Range` (JSON) covering one position.
pub fn source_range(position: Position) -> Value {
    let at = json!({"line": position.line, "character": position.column});
    json!({"start": at, "end": at})
}

/// Solve a state and return the ref of its result.
pub(crate) async fn solve(
    bridge: &mut Bridge,
    state: &State,
    caps: &ServerCaps,
) -> Result<String, Failure> {
    let definition = llb::marshal(state, Some(caps), None).map_err(anyhow::Error::from)?;
    solve_definition(bridge, definition, Vec::new()).await
}

/// Solve `definition`, importing `cache_imports` (`--cache-from`).
pub(crate) async fn solve_definition(
    bridge: &mut Bridge,
    definition: pb::Definition,
    cache_imports: Vec<gw::CacheOptionsEntry>,
) -> Result<String, Failure> {
    let response = bridge
        .solve(gw::SolveRequest {
            definition: Some(definition),
            allow_result_return: true,
            allow_result_array_ref: true,
            cache_imports,
            ..Default::default()
        })
        .await
        .map_err(|s| anyhow!("BuildKit refused the build: {}", s.message()))?
        .into_inner();
    let id = match response.result.and_then(|r| r.result) {
        Some(gw::result::Result::Ref(r)) => r.id,
        Some(gw::result::Result::RefDeprecated(id)) => id,
        _ => response.r#ref,
    };
    Ok(id)
}

/// Read a file of a solved ref; `None` when it does not exist.
pub(crate) async fn read_file(
    bridge: &mut Bridge,
    reference: &str,
    path: &str,
) -> Result<Option<Vec<u8>>, Failure> {
    match bridge
        .read_file(gw::ReadFileRequest {
            r#ref: reference.to_owned(),
            file_path: path.to_owned(),
            ..Default::default()
        })
        .await
    {
        Ok(response) => Ok(Some(response.into_inner().data)),
        Err(status) if status.message().contains("no such file or directory") => Ok(None),
        Err(status) => Err(anyhow!(
            "cannot read `{path}` from the build context: {}",
            status.message()
        )
        .into()),
    }
}
