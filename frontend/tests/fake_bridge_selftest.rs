//! Self-test of the fake LLBBridge in `support::fake_bridge`, driven through a real tonic
//! `LlbBridgeClient` over the fake's in-memory HTTP/2 connection.
//!
//! These tests pin down the BuildKit behaviour the fake claims to model (caps, local views
//! filtered by include patterns, BuildKit's error codes and messages, Return exactly once),
//! so that frontend tests built on it can trust it. They do not test the pybase frontend.

mod support;

use std::collections::BTreeMap;

use bollard_buildkit_proto::google::rpc::Status as RpcStatus;
use bollard_buildkit_proto::moby::buildkit::v1::frontend::llb_bridge_client::LlbBridgeClient;
use bollard_buildkit_proto::moby::buildkit::v1::frontend::{
    EvaluateRequest, FileRange, InputsRequest, PingRequest, ReadDirRequest, ReadFileRequest, Ref,
    ResolveImageConfigRequest, Result as GatewayResult, ReturnRequest, SolveRequest, SolveResponse,
    StatFileRequest, WarnRequest, result,
};
use bollard_buildkit_proto::pb;
use prost::Message;
use serde_json::json;
use support::fake_bridge::{DIR_MODE, FILE_MODE, FakeBridge, FakeHandle, op_digest};
use tonic::Code;
use tonic::transport::Channel;

type Client = LlbBridgeClient<Channel>;

const PYPROJECT: &[u8] = b"[project]\nname = \"app\"\nversion = \"1.0\"\n";

fn files(entries: &[(&str, &[u8])]) -> BTreeMap<String, Vec<u8>> {
    entries
        .iter()
        .map(|(path, data)| ((*path).to_owned(), data.to_vec()))
        .collect()
}

/// A build context with one file the frontend wants and several it must not see.
fn context_files() -> BTreeMap<String, Vec<u8>> {
    files(&[
        ("app/pyproject.toml", PYPROJECT),
        ("app/secret.env", b"TOKEN=do-not-read"),
        ("app/src/main.py", b"print('hi')\n"),
        ("README.md", b"# readme\n"),
    ])
}

/// A Definition whose terminal op points at `op`, as BuildKit expects it.
fn definition_of(op: &pb::Op) -> pb::Definition {
    let bytes = op.encode_to_vec();
    let terminal = pb::Op {
        inputs: vec![pb::Input {
            digest: op_digest(&bytes),
            index: 0,
        }],
        ..pb::Op::default()
    };
    pb::Definition {
        def: vec![bytes, terminal.encode_to_vec()],
        ..pb::Definition::default()
    }
}

fn source_op(identifier: &str, attrs: &[(&str, &str)]) -> pb::Op {
    pb::Op {
        op: Some(pb::op::Op::Source(pb::SourceOp {
            identifier: identifier.to_owned(),
            attrs: attrs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        })),
        ..pb::Op::default()
    }
}

fn local_definition(name: &str, attrs: &[(&str, &str)]) -> pb::Definition {
    definition_of(&source_op(&format!("local://{name}"), attrs))
}

fn solve_request(definition: pb::Definition) -> SolveRequest {
    SolveRequest {
        definition: Some(definition),
        allow_result_return: true,
        allow_result_array_ref: true,
        ..SolveRequest::default()
    }
}

/// The ref id of a modern (`allow_result_array_ref`) Solve response.
fn ref_of(response: &SolveResponse) -> &Ref {
    match response.result.as_ref().and_then(|r| r.result.as_ref()) {
        Some(result::Result::Ref(r)) => r,
        other => panic!("expected result.ref, got {other:?}"),
    }
}

async fn solve_ref(client: &mut Client, definition: pb::Definition) -> String {
    let response = client
        .solve(solve_request(definition))
        .await
        .expect("solve")
        .into_inner();
    ref_of(&response).id.clone()
}

async fn read(client: &mut Client, id: &str, path: &str) -> Result<Vec<u8>, tonic::Status> {
    client
        .read_file(ReadFileRequest {
            r#ref: id.to_owned(),
            file_path: path.to_owned(),
            ..ReadFileRequest::default()
        })
        .await
        .map(|r| r.into_inner().data)
}

async fn context_view(include: &str) -> (Client, FakeHandle, String) {
    let (mut client, handle) = FakeBridge::new()
        .with_local("context", context_files())
        .spawn()
        .await;
    let definition = local_definition(
        "context",
        &[
            ("local.includepattern", include),
            ("local.sharedkeyhint", "pybase-context"),
            ("local.session", "session-1"),
        ],
    );
    let id = solve_ref(&mut client, definition).await;
    (client, handle, id)
}

fn return_ref(id: &str) -> ReturnRequest {
    ReturnRequest {
        result: Some(GatewayResult {
            result: Some(result::Result::Ref(Ref {
                id: id.to_owned(),
                def: None,
            })),
            ..GatewayResult::default()
        }),
        error: None,
    }
}

#[test]
fn op_digest_is_sha256_of_the_bytes_in_lowercase_hex() {
    assert_eq!(
        op_digest(b""),
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert_eq!(
        op_digest(b"abc"),
        "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

#[tokio::test]
async fn ping_reports_the_caps_of_a_v013_classic_store_daemon() {
    let (mut client, _handle) = FakeBridge::new().spawn().await;
    let pong = client
        .ping(PingRequest {})
        .await
        .expect("ping")
        .into_inner();

    let llb = |id: &str| pong.llb_caps.iter().find(|cap| cap.id == id).cloned();
    for id in [
        "source.local.includepatterns",
        "source.local.followpaths",
        "source.local.sharedkeyhint",
        "exec.mount.cache.sharing",
        "exec.mount.secret",
        "file.base",
    ] {
        assert!(
            llb(id).is_some_and(|cap| cap.enabled),
            "{id} should be enabled"
        );
    }
    for id in ["mergeop", "diffop"] {
        let cap = llb(id).unwrap_or_else(|| panic!("{id} should be present"));
        assert!(!cap.enabled, "{id} is off on the classic store");
        assert_eq!(
            cap.disabled_reason_msg,
            "only enabled with containerd image store backend"
        );
    }
    assert!(llb("file.symlink.create").is_none(), "added after v0.13");

    let api: Vec<&str> = pong
        .frontend_api_caps
        .iter()
        .filter(|cap| cap.enabled)
        .map(|cap| cap.id.as_str())
        .collect();
    for id in ["readfile", "readdir", "statfile", "return", "resolveimage"] {
        assert!(api.contains(&id), "api cap {id} missing from {api:?}");
    }
    assert!(!api.contains(&"source.metaresolver"), "not implemented");

    assert_eq!(pong.workers.len(), 1);
    let platform = &pong.workers[0].platforms[0];
    assert_eq!(
        (platform.os.as_str(), platform.architecture.as_str()),
        ("linux", "amd64")
    );
}

#[tokio::test]
async fn caps_can_be_disabled_added_and_removed() {
    let (mut client, _handle) = FakeBridge::new()
        .with_llb_caps(&[
            ("source.local.followpaths", false),
            ("file.symlink.create", true),
        ])
        .without_llb_caps(&["source.local.includepatterns"])
        .with_api_caps(&[("readdir", false)])
        .without_api_caps(&["statfile"])
        .spawn()
        .await;
    let pong = client
        .ping(PingRequest {})
        .await
        .expect("ping")
        .into_inner();
    let find = |caps: &[_], id: &str| {
        caps.iter()
            .find(|cap: &&bollard_buildkit_proto::moby::buildkit::v1::apicaps::ApiCap| cap.id == id)
            .cloned()
    };

    let followpaths = find(&pong.llb_caps, "source.local.followpaths").expect("still present");
    assert!(!followpaths.enabled);
    assert!(!followpaths.disabled_reason_msg.is_empty());
    assert!(find(&pong.llb_caps, "file.symlink.create").is_some_and(|c| c.enabled));
    assert!(find(&pong.llb_caps, "source.local.includepatterns").is_none());
    assert!(find(&pong.llb_caps, "source.image").is_some_and(|c| c.enabled));
    assert!(find(&pong.frontend_api_caps, "readdir").is_some_and(|c| !c.enabled));
    assert!(find(&pong.frontend_api_caps, "statfile").is_none());
}

#[tokio::test]
async fn a_local_view_serves_only_the_included_files() {
    let (mut client, handle, id) = context_view(r#"["app/pyproject.toml"]"#).await;
    assert_eq!(id, "ref-1");

    assert_eq!(
        read(&mut client, &id, "app/pyproject.toml")
            .await
            .expect("included"),
        PYPROJECT
    );
    assert_eq!(
        read(&mut client, &id, "/app/pyproject.toml")
            .await
            .expect("leading /"),
        PYPROJECT
    );

    let err = read(&mut client, &id, "app/secret.env")
        .await
        .expect_err("not included");
    assert_eq!(err.code(), Code::Unknown);
    assert_eq!(
        err.message(),
        "open app/secret.env: no such file or directory"
    );
    let err = read(&mut client, &id, "README.md")
        .await
        .expect_err("not included");
    assert!(
        err.message().contains("no such file or directory"),
        "{err:?}"
    );

    assert_eq!(handle.view_local(&id).as_deref(), Some("context"));
    assert_eq!(
        handle.view_files(&id),
        Some(vec!["app/pyproject.toml".to_owned()])
    );
    assert_eq!(
        handle.read_files(),
        vec![
            ("ref-1".to_owned(), "app/pyproject.toml".to_owned()),
            ("ref-1".to_owned(), "/app/pyproject.toml".to_owned()),
            ("ref-1".to_owned(), "app/secret.env".to_owned()),
            ("ref-1".to_owned(), "README.md".to_owned()),
        ]
    );

    let solves = handle.solves();
    assert_eq!(solves.len(), 1);
    let definition = solves[0].definition.as_ref().expect("recorded definition");
    let ops = FakeHandle::definition_ops(definition);
    assert_eq!(ops.len(), 2);
    assert_eq!(ops[0].0, op_digest(&definition.def[0]));
    assert_eq!(
        ops[1].1.inputs[0].digest, ops[0].0,
        "terminal points at the source"
    );
    match &ops[0].1.op {
        Some(pb::op::Op::Source(source)) => {
            assert_eq!(source.identifier, "local://context");
            assert_eq!(
                source.attrs["local.includepattern"],
                r#"["app/pyproject.toml"]"#
            );
        }
        other => panic!("expected a source op, got {other:?}"),
    }
}

#[tokio::test]
async fn a_local_view_honours_ranges_stat_and_readdir() {
    let (mut client, _handle, id) = context_view(r#"["app"]"#).await;

    let ranged = |offset, length| ReadFileRequest {
        r#ref: id.clone(),
        file_path: "app/pyproject.toml".to_owned(),
        range: Some(FileRange { offset, length }),
        ..ReadFileRequest::default()
    };
    let data = client
        .read_file(ranged(1, 8))
        .await
        .expect("range")
        .into_inner()
        .data;
    assert_eq!(data, &PYPROJECT[1..9]);
    let data = client
        .read_file(ranged(30, 1000))
        .await
        .expect("range")
        .into_inner()
        .data;
    assert_eq!(data, &PYPROJECT[30..]);
    let data = client
        .read_file(ranged(0, 0))
        .await
        .expect("range")
        .into_inner()
        .data;
    assert!(
        data.is_empty(),
        "a zero length reads nothing, as Go's SectionReader"
    );

    let err = read(&mut client, &id, "app/src")
        .await
        .expect_err("a directory");
    assert_eq!(err.message(), "app/src is not a regular file");

    let stat = |path: &str| StatFileRequest {
        r#ref: id.clone(),
        path: path.to_owned(),
        ..StatFileRequest::default()
    };
    let file = client
        .stat_file(stat("app/pyproject.toml"))
        .await
        .expect("stat");
    let file = file.into_inner().stat.expect("stat");
    assert_eq!(
        (file.path.as_str(), file.mode),
        ("pyproject.toml", FILE_MODE)
    );
    assert_eq!(file.size, i64::try_from(PYPROJECT.len()).expect("small"));
    let dir = client
        .stat_file(stat("/app/src/"))
        .await
        .expect("stat")
        .into_inner();
    assert_eq!(dir.stat.expect("stat").mode, DIR_MODE);
    let err = client
        .stat_file(stat("README.md"))
        .await
        .expect_err("excluded");
    assert_eq!(err.code(), Code::Unknown);
    assert_eq!(err.message(), "lstat README.md: no such file or directory");

    let list = |dir: &str, pattern: &str| ReadDirRequest {
        r#ref: id.clone(),
        dir_path: dir.to_owned(),
        include_pattern: pattern.to_owned(),
        ..ReadDirRequest::default()
    };
    let names = |entries: Vec<bollard_buildkit_proto::fsutil::types::Stat>| {
        entries
            .into_iter()
            .map(|s| (s.path, s.mode))
            .collect::<Vec<_>>()
    };
    let root = client
        .read_dir(list("/", ""))
        .await
        .expect("readdir")
        .into_inner();
    assert_eq!(names(root.entries), vec![("app".to_owned(), DIR_MODE)]);
    let app = client
        .read_dir(list("app", ""))
        .await
        .expect("readdir")
        .into_inner();
    assert_eq!(
        names(app.entries),
        vec![
            ("pyproject.toml".to_owned(), FILE_MODE),
            ("secret.env".to_owned(), FILE_MODE),
            ("src".to_owned(), DIR_MODE),
        ]
    );
    let toml = client
        .read_dir(list("app", "*.toml"))
        .await
        .expect("readdir")
        .into_inner();
    assert_eq!(
        names(toml.entries),
        vec![("pyproject.toml".to_owned(), FILE_MODE)]
    );
    let err = client
        .read_dir(list("nope", ""))
        .await
        .expect_err("missing dir");
    assert!(
        err.message().contains("no such file or directory"),
        "{err:?}"
    );
}

#[tokio::test]
async fn only_the_real_attribute_names_filter_a_local() {
    // `local.includepatterns` (plural) is not BuildKit's key: a daemon sends the whole dir.
    let (mut client, handle) = FakeBridge::new()
        .with_local("context", context_files())
        .spawn()
        .await;
    let wrong = local_definition(
        "context",
        &[("local.includepatterns", r#"["app/pyproject.toml"]"#)],
    );
    let id = solve_ref(&mut client, wrong).await;
    assert_eq!(handle.view_files(&id).map(|f| f.len()), Some(4));
    assert!(read(&mut client, &id, "app/secret.env").await.is_ok());

    let globbed = local_definition(
        "context",
        &[
            ("local.includepattern", r#"["**/*.toml", "app/src"]"#),
            ("local.followpaths", r#"["README.md"]"#),
            (
                "local.excludepatterns",
                r#"["app/src", "!app/src/main.py"]"#,
            ),
        ],
    );
    let id = solve_ref(&mut client, globbed).await;
    assert_eq!(
        handle.view_files(&id),
        Some(vec![
            "README.md".to_owned(),
            "app/pyproject.toml".to_owned(),
            "app/src/main.py".to_owned(),
        ])
    );

    let bad = local_definition("context", &[("local.includepattern", "app/pyproject.toml")]);
    let err = client
        .solve(solve_request(bad))
        .await
        .expect_err("not JSON");
    assert!(err.message().contains("local.includepattern"), "{err:?}");
}

#[tokio::test]
async fn other_definitions_give_opaque_recorded_refs() {
    let (mut client, handle) = FakeBridge::new().spawn().await;
    let image = definition_of(&source_op(
        "docker-image://docker.io/library/python:3.12-slim",
        &[],
    ));
    let response = client
        .solve(solve_request(image.clone()))
        .await
        .expect("solve")
        .into_inner();
    let solved = ref_of(&response);
    assert_eq!(solved.id, "ref-1");
    assert_eq!(
        solved.def.as_ref(),
        Some(&image),
        "BuildKit echoes the definition"
    );
    assert!(
        response.r#ref.is_empty(),
        "allow_result_return moves the ref into result"
    );

    let err = read(&mut client, "ref-1", "etc/os-release")
        .await
        .expect_err("opaque");
    assert_eq!(err.code(), Code::Unimplemented);
    assert_eq!(handle.view_files("ref-1"), None);
    let recorded = handle.solve_for_ref("ref-1").expect("recorded");
    assert_eq!(recorded.definition, Some(image));

    // A frontend solve is opaque too; a solve of nothing gives the empty ref.
    let frontend = SolveRequest {
        frontend: "dockerfile.v0".to_owned(),
        ..SolveRequest::default()
    };
    let legacy = client.solve(frontend).await.expect("solve").into_inner();
    assert_eq!(
        legacy.r#ref, "ref-2",
        "without allow_result_return the ref is top-level"
    );
    assert!(matches!(
        legacy.result.and_then(|r| r.result),
        Some(result::Result::RefDeprecated(id)) if id == "ref-2"
    ));
    let empty = client
        .solve(solve_request(pb::Definition::default()))
        .await
        .expect("solve")
        .into_inner();
    assert_eq!(ref_of(&empty).id, "");
    assert_eq!(handle.solves().len(), 3);

    let err = read(&mut client, "ref-9", "x")
        .await
        .expect_err("unknown ref");
    assert_eq!(err.code(), Code::Unknown);
    assert_eq!(err.message(), "no such ref: ref-9");
}

#[tokio::test]
async fn invalid_definitions_fail_as_buildkit_fails_them() {
    let (mut client, handle) = FakeBridge::new()
        .with_local("context", context_files())
        .spawn()
        .await;

    let source = source_op("local://context", &[]).encode_to_vec();
    let no_inputs = pb::Definition {
        def: vec![source.clone(), pb::Op::default().encode_to_vec()],
        ..pb::Definition::default()
    };
    let err = client
        .solve(solve_request(no_inputs))
        .await
        .expect_err("no inputs");
    assert_eq!(err.message(), "invalid LLB with no inputs on last vertex");

    let dangling = pb::Op {
        inputs: vec![pb::Input {
            digest: op_digest(b"something else"),
            index: 0,
        }],
        ..pb::Op::default()
    };
    let missing = pb::Definition {
        def: vec![source, dangling.encode_to_vec()],
        ..pb::Definition::default()
    };
    let err = client
        .solve(solve_request(missing))
        .await
        .expect_err("dangling");
    assert!(
        err.message()
            .starts_with("invalid missing input digest sha256:"),
        "{err:?}"
    );

    let garbage = pb::Definition {
        def: vec![vec![0xff, 0xff, 0xff], vec![0xff]],
        ..pb::Definition::default()
    };
    let err = client
        .solve(solve_request(garbage))
        .await
        .expect_err("garbage");
    assert!(
        err.message().starts_with("failed to parse llb proto op"),
        "{err:?}"
    );

    let unknown_local = local_definition("dockerfile", &[]);
    let err = client
        .solve(solve_request(unknown_local))
        .await
        .expect_err("no such local");
    assert!(
        err.message()
            .contains("no access allowed to dir \"dockerfile\""),
        "{err:?}"
    );

    assert_eq!(handle.solves().len(), 4, "rejected solves are recorded too");
}

#[tokio::test]
async fn resolve_image_config_answers_registered_refs_only() {
    let config =
        json!({"os": "linux", "architecture": "amd64", "config": {"Env": ["PATH=/usr/bin"]}});
    let (mut client, handle) = FakeBridge::new()
        .with_image(
            "docker.io/library/python:3.12-slim",
            "sha256:abc",
            config.clone(),
        )
        .with_image_error(
            "docker.io/library/private:1",
            Code::PermissionDenied,
            "denied",
        )
        .spawn()
        .await;
    let resolve = |reference: &str| ResolveImageConfigRequest {
        r#ref: reference.to_owned(),
        resolve_mode: "local".to_owned(),
        ..ResolveImageConfigRequest::default()
    };

    let answer = client
        .resolve_image_config(resolve("docker.io/library/python:3.12-slim"))
        .await
        .expect("registered")
        .into_inner();
    assert_eq!(answer.digest, "sha256:abc");
    assert_eq!(answer.r#ref, "docker.io/library/python:3.12-slim");
    let parsed: serde_json::Value = serde_json::from_slice(&answer.config).expect("JSON config");
    assert_eq!(parsed, config);

    let err = client
        .resolve_image_config(resolve("python:3.12-slim"))
        .await
        .expect_err("only the exact ref is registered");
    assert_eq!(err.code(), Code::Unknown);
    assert!(
        err.message()
            .starts_with("failed to resolve source metadata for python:3.12-slim"),
        "{err:?}"
    );
    let err = client
        .resolve_image_config(resolve("docker.io/library/private:1"))
        .await
        .expect_err("configured error");
    assert_eq!(
        (err.code(), err.message()),
        (Code::PermissionDenied, "denied")
    );

    let recorded = handle.image_resolves();
    assert_eq!(recorded.len(), 3);
    assert_eq!(recorded[0].resolve_mode, "local");
}

#[tokio::test]
async fn return_is_accepted_exactly_once() {
    let (mut client, handle, id) = context_view(r#"["app/pyproject.toml"]"#).await;
    assert_eq!(handle.returned(), None);

    let err = client
        .r#return(return_ref("ref-404"))
        .await
        .expect_err("unknown ref");
    assert_eq!(err.message(), "return reference ref-404 not found");
    let ok_code = ReturnRequest {
        result: None,
        error: Some(RpcStatus {
            code: 0,
            message: "not really an error".to_owned(),
            details: Vec::new(),
        }),
    };
    let err = client
        .r#return(ok_code)
        .await
        .expect_err("code 0 is no error");
    assert_eq!(err.message(), "gateway return must be either result or err");
    assert_eq!(
        handle.returned(),
        None,
        "rejected returns are not the result"
    );

    client
        .r#return(return_ref(&id))
        .await
        .expect("first return");
    assert_eq!(handle.returned(), Some(return_ref(&id)));

    let failure = ReturnRequest {
        result: None,
        error: Some(RpcStatus {
            code: i32::from(Code::InvalidArgument),
            message: "late".to_owned(),
            details: Vec::new(),
        }),
    };
    let err = client.r#return(failure).await.expect_err("second return");
    assert_eq!(err.code(), Code::Unknown);
    assert_eq!(err.message(), "gateway result is already set");
    assert_eq!(
        handle.returned(),
        Some(return_ref(&id)),
        "the first one stands"
    );
    assert_eq!(handle.return_attempts().len(), 4);
}

#[tokio::test]
async fn inputs_warn_and_unmodelled_rpcs() {
    let (mut client, handle) = FakeBridge::new().spawn().await;
    let inputs = client
        .inputs(InputsRequest {})
        .await
        .expect("inputs")
        .into_inner();
    assert!(inputs.definitions.is_empty());

    let warning = WarnRequest {
        digest: op_digest(b"op"),
        level: 1,
        short: b"deprecated key".to_vec(),
        ..WarnRequest::default()
    };
    client.warn(warning.clone()).await.expect("warn");
    assert_eq!(handle.warnings(), vec![warning]);

    let err = client
        .evaluate(EvaluateRequest {
            r#ref: "ref-1".to_owned(),
        })
        .await
        .expect_err("not modelled");
    assert_eq!(err.code(), Code::Unimplemented);
}

#[tokio::test]
async fn responses_over_4_mib_reach_the_client() {
    let big = vec![b'x'; 5 << 20];
    let (mut client, _handle) = FakeBridge::new()
        .with_local("context", files(&[("wheel.whl", &big)]))
        .spawn()
        .await;
    let id = solve_ref(&mut client, local_definition("context", &[])).await;
    let data = read(&mut client, &id, "wheel.whl")
        .await
        .expect("64 MiB client limit");
    assert_eq!(data.len(), big.len());
}

#[tokio::test]
async fn requests_over_4_mib_are_rejected_as_by_a_v013_daemon() {
    let payload = "x".repeat(5 << 20);
    let huge = || {
        solve_request(definition_of(&source_op(
            "docker-image://docker.io/library/python:3.12-slim",
            &[("image.resolvemode", &payload)],
        )))
    };

    let (mut client, handle) = FakeBridge::new().spawn().await;
    let err = client.solve(huge()).await.expect_err("over 4 MiB");
    assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
    assert!(
        err.message()
            .starts_with("grpc: received message larger than max (")
            && err.message().ends_with(" vs. 4194304)"),
        "{err:?}"
    );
    assert!(handle.solves().is_empty(), "the daemon never saw it");

    let (mut client, handle) = FakeBridge::new()
        .with_max_request_size(16 << 20)
        .spawn()
        .await;
    client.solve(huge()).await.expect("v0.14+ accepts 16 MiB");
    assert_eq!(handle.solves().len(), 1);
}

#[tokio::test]
async fn resolve_image_config_answers_an_index_per_platform() {
    let config = |arch: &str| json!({"os": "linux", "architecture": arch, "config": {}});
    let (mut client, _handle) = FakeBridge::new()
        .with_platform_image(
            "localhost:5000/py:3",
            "linux/amd64",
            "sha256:i",
            config("amd64"),
        )
        .with_platform_image(
            "localhost:5000/py:3",
            "linux/arm64",
            "sha256:i",
            config("arm64"),
        )
        .spawn()
        .await;
    let resolve = |arch: &str| ResolveImageConfigRequest {
        r#ref: "localhost:5000/py:3".to_owned(),
        platform: Some(pb::Platform {
            os: "linux".to_owned(),
            architecture: arch.to_owned(),
            ..pb::Platform::default()
        }),
        ..ResolveImageConfigRequest::default()
    };
    for arch in ["amd64", "arm64"] {
        let answer = client
            .resolve_image_config(resolve(arch))
            .await
            .expect("an entry of the index")
            .into_inner();
        assert_eq!(answer.digest, "sha256:i");
        let parsed: serde_json::Value = serde_json::from_slice(&answer.config).expect("JSON");
        assert_eq!(parsed, config(arch));
    }
    let err = client
        .resolve_image_config(resolve("s390x"))
        .await
        .expect_err("not in the index");
    assert_eq!(err.code(), Code::Unknown);
    assert!(
        err.message().contains("no match for platform in manifest"),
        "{err:?}"
    );
}
