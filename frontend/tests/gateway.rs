//! The frontend's gateway client against an in-process fake LLBBridge: what
//! it reads, what it resolves, what it solves and what it returns.

mod support;

use std::collections::BTreeMap;

use base64::Engine;
use bollard_buildkit_proto::moby::buildkit::v1::frontend as gw;
use bollard_buildkit_proto::pb;
use prost::Message;
use pybase::options::Options;
use serde_json::{Value, json};
use support::fake_bridge::{FakeBridge, FakeHandle};

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../testdata/projects/inventory"
);

fn fixture_file(name: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURE}/{name}")).expect("fixture file")
}

fn files(entries: &[(&str, Vec<u8>)]) -> BTreeMap<String, Vec<u8>> {
    entries
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

/// A fake with the fixture project as the build context.
fn fake_with_spec(spec: &[u8]) -> FakeBridge {
    FakeBridge::new()
        .with_local("dockerfile", files(&[("pybase.yaml", spec.to_vec())]))
        .with_local(
            "context",
            files(&[
                ("pybase.yaml", spec.to_vec()),
                ("pyproject.toml", fixture_file("pyproject.toml")),
                ("uv.lock", fixture_file("uv.lock")),
                ("src/inventory/__init__.py", fixture_file("src/inventory/__init__.py")),
                ("src/inventory/cli.py", fixture_file("src/inventory/cli.py")),
                (".git/HEAD", b"ref: refs/heads/main\n".to_vec()),
            ]),
        )
        .with_image(
            "docker.io/library/python:3.12-slim",
            "sha256:1111111111111111111111111111111111111111111111111111111111111111",
            json!({"architecture": "amd64", "os": "linux", "created": "2026-01-01T00:00:00Z",
                   "config": {"Env": ["PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8"], "Cmd": ["python3"]}}),
        )
}

fn options(pairs: &[&str]) -> Options {
    Options::from_pairs(
        pairs.iter().map(|p| (*p).to_owned()),
        "session-1".to_owned(),
    )
}

async fn run(fake: FakeBridge, options: &Options) -> FakeHandle {
    let (mut client, handle) = fake.spawn().await;
    pybase::gateway::run(&mut client, options)
        .await
        .expect("the Return reached the bridge");
    handle
}

fn returned_config(handle: &FakeHandle) -> Value {
    let returned = handle.returned().expect("a Return");
    assert!(
        returned.error.is_none(),
        "unexpected error: {:?}",
        returned.error
    );
    let result = returned.result.expect("a result");
    assert!(
        matches!(result.result, Some(gw::result::Result::Ref(_))),
        "the result is one ref"
    );
    serde_json::from_slice(&result.metadata["containerimage.config"]).expect("config JSON")
}

fn returned_error(handle: &FakeHandle) -> bollard_buildkit_proto::google::rpc::Status {
    let returned = handle.returned().expect("a Return");
    assert!(returned.result.is_none());
    returned.error.expect("an error")
}

/// The definition of the build (the last solve).
fn build_definition(handle: &FakeHandle) -> pb::Definition {
    handle
        .solves()
        .last()
        .and_then(|s| s.definition.clone())
        .expect("the build was solved")
}

#[tokio::test]
async fn builds_the_service_from_the_spec_and_returns_its_config() {
    let spec = fixture_file("pybase.yaml");
    let handle = run(
        fake_with_spec(&spec),
        &options(&["filename=pybase.yaml", "label:team=stock"]),
    )
    .await;

    let config = returned_config(&handle);
    assert_eq!(config["config"]["User"], json!("1000:1000"));
    assert_eq!(config["config"]["WorkingDir"], json!("/app"));
    assert_eq!(config["config"]["Cmd"], json!(["inventory"]));
    assert_eq!(
        config["config"]["Env"][0],
        json!("PATH=/opt/venv/bin:/usr/local/bin:/usr/bin:/bin")
    );
    assert_eq!(config["config"]["Labels"]["team"], json!("stock"));
    assert_eq!(
        config["config"]["Labels"]["org.opencontainers.image.base.digest"],
        json!("sha256:1111111111111111111111111111111111111111111111111111111111111111")
    );
    assert!(config.get("created").is_none());

    // Of the build context, it read the spec, its own ignore file and
    // .dockerignore (both absent here)
    // and the lock inputs (poetry.lock, pylock.toml and requirements.txt,
    // absent here, are the lock when uv.lock is), nothing else. Of the base
    // image (absolute paths), where its C library says its version.
    let (mut read, mut probed): (Vec<String>, Vec<String>) = handle
        .read_files()
        .into_iter()
        .map(|(_, path)| path)
        .partition(|path| !path.starts_with('/'));
    read.sort();
    probed.sort();
    assert_eq!(
        probed,
        [
            "/lib/x86_64-linux-gnu/libc.so.6",
            "/lib64/libc.so.6",
            "/usr/lib/x86_64-linux-gnu/libc.so.6",
            "/usr/lib64/libc.so.6",
            "/var/lib/dpkg/status",
        ]
    );
    assert_eq!(
        read,
        [
            ".dockerignore",
            "poetry.lock",
            "pybase.yaml",
            "pybase.yaml.dockerignore",
            "pylock.toml",
            "pyproject.toml",
            "requirements.txt",
            "uv.lock"
        ]
    );
    // And the context it solved to read them exposed only those two files.
    let lock_view = handle
        .read_files()
        .into_iter()
        .find(|(_, path)| path == "uv.lock")
        .and_then(|(id, _)| handle.view_files(&id))
        .expect("a view of the context");
    assert_eq!(lock_view, ["pyproject.toml", "uv.lock"]);

    // The base image is pinned by the digest BuildKit resolved.
    let definition = build_definition(&handle);
    let sources: Vec<String> = FakeHandle::definition_ops(&definition)
        .into_iter()
        .filter_map(|(_, op)| match op.op {
            Some(pb::op::Op::Source(source)) => Some(source.identifier),
            _ => None,
        })
        .collect();
    assert!(
        sources.contains(&"docker-image://docker.io/library/python:3.12-slim@sha256:1111111111111111111111111111111111111111111111111111111111111111".to_owned()),
        "{sources:?}"
    );
    // Failing steps point at the spec: the source map carries it.
    let source = definition.source.expect("a source map");
    assert_eq!(source.infos[0].filename, "pybase.yaml");
    assert!(!source.locations.is_empty());
    // MergeOp is disabled on the fake (classic store), so none is used.
    assert!(
        FakeHandle::definition_ops(&build_definition(&handle))
            .iter()
            .all(|(_, op)| !matches!(op.op, Some(pb::op::Op::Merge(_))))
    );
}

#[tokio::test]
async fn uses_mergeop_when_the_server_enables_it() {
    let spec = fixture_file("pybase.yaml");
    let fake = fake_with_spec(&spec).with_llb_caps(&[("mergeop", true)]);
    let handle = run(fake, &options(&["filename=pybase.yaml"])).await;
    returned_config(&handle);
    assert!(
        FakeHandle::definition_ops(&build_definition(&handle))
            .iter()
            .any(|(_, op)| matches!(op.op, Some(pb::op::Op::Merge(_))))
    );
}

#[tokio::test]
async fn a_named_context_replaces_the_base_image() {
    let spec = fixture_file("pybase.yaml");
    let fake = fake_with_spec(&spec).with_image(
        "docker.io/pybase-test/python:3.11",
        "",
        json!({"architecture": "amd64", "os": "linux", "config": {"Env": null}}),
    );
    let handle = run(
        fake,
        &options(&[
            "filename=pybase.yaml",
            "context:python:3.12-slim=docker-image://pybase-test/python:3.11",
        ]),
    )
    .await;
    let config = returned_config(&handle);
    // A base without Env still gets a PATH.
    assert_eq!(
        config["config"]["Env"][0],
        json!("PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    );
    let resolved: Vec<String> = handle
        .image_resolves()
        .into_iter()
        .map(|r| r.r#ref)
        .collect();
    assert_eq!(resolved, ["docker.io/pybase-test/python:3.11"]);
}

#[tokio::test]
async fn an_oci_layout_context_is_resolved_and_pulled_through_the_session_where_buildkit_reads_one()
{
    let spec = fixture_file("pybase.yaml");
    let digest = format!("sha256:{}", "c".repeat(64));
    let context = format!("context:python:3.12-slim=oci-layout://layout-store:3.12@{digest}");
    let replaced = format!("docker.io/library/python:3.12-slim@{digest}");
    let fake = fake_with_spec(&spec)
        .with_llb_caps(&[("source.ocilayout", true)])
        .with_image(
            &replaced,
            &digest,
            json!({"architecture": "amd64", "os": "linux", "config": {}}),
        );
    let handle = run(fake, &options(&["filename=pybase.yaml", &context])).await;
    returned_config(&handle);
    let resolves = handle.image_resolves();
    assert_eq!(resolves.len(), 1, "{resolves:?}");
    // The OCI-layout resolver (1), in the build's session, the store
    // buildx shares.
    assert_eq!(
        (
            resolves[0].r#ref.as_str(),
            resolves[0].resolver_type,
            resolves[0].session_id.as_str(),
            resolves[0].store_id.as_str()
        ),
        (replaced.as_str(), 1, "session-1", "layout-store")
    );
    let sources: Vec<pb::SourceOp> = FakeHandle::definition_ops(&build_definition(&handle))
        .into_iter()
        .filter_map(|(_, op)| match op.op {
            Some(pb::op::Op::Source(source)) if source.identifier.starts_with("oci-layout://") => {
                Some(source)
            }
            _ => None,
        })
        .collect();
    assert_eq!(sources.len(), 1, "{sources:?}");
    assert_eq!(sources[0].identifier, format!("oci-layout://{replaced}"));
    assert_eq!(sources[0].attrs["oci.store"], "layout-store");
    assert_eq!(sources[0].attrs["oci.session"], "session-1");

    // A BuildKit without the cap (Docker's classic store) is told at `from:`.
    let handle = run(
        fake_with_spec(&spec).without_llb_caps(&["source.ocilayout"]),
        &options(&["filename=pybase.yaml", &context]),
    )
    .await;
    let error = returned_error(&handle);
    assert!(
        error.message.starts_with("pybase.yaml:5:11: ")
            && error.message.contains("source.ocilayout")
            && error.message.contains("docker-image://"),
        "{}",
        error.message
    );
    assert!(handle.image_resolves().is_empty());
}

#[tokio::test]
async fn a_spec_error_returns_invalid_argument_with_the_spec_excerpt() {
    let spec = String::from_utf8(fixture_file("pybase.yaml"))
        .expect("utf-8")
        .replace("command:", "comand:");
    let handle = run(
        fake_with_spec(spec.as_bytes()),
        &options(&["filename=pybase.yaml"]),
    )
    .await;
    let error = returned_error(&handle);
    assert_eq!(error.code, tonic::Code::InvalidArgument as i32);
    assert_eq!(
        error.message,
        "pybase.yaml:10:5: unknown key `comand` (hint: did you mean `command`?)"
    );
    let detail = error.details.first().expect("a source detail");
    assert_eq!(
        detail.type_url,
        "github.com/moby/buildkit/errdefs.Source+json"
    );
    let detail: Value = serde_json::from_slice(&detail.value).expect("JSON detail");
    assert_eq!(detail["info"]["filename"], json!("pybase.yaml"));
    assert_eq!(detail["ranges"][0]["start"]["line"], json!(10));
    let data = base64::engine::general_purpose::STANDARD
        .decode(detail["info"]["data"].as_str().expect("data"))
        .expect("base64");
    assert_eq!(data, spec.as_bytes());
    // Nothing was built.
    assert_eq!(handle.solves().len(), 1, "only the spec was loaded");
}

#[tokio::test]
async fn a_missing_lock_is_an_error_at_the_project_key() {
    let spec = fixture_file("pybase.yaml");
    let fake = FakeBridge::new()
        .with_local("dockerfile", files(&[("pybase.yaml", spec.clone())]))
        .with_local(
            "context",
            files(&[("pyproject.toml", fixture_file("pyproject.toml"))]),
        );
    let handle = run(fake, &options(&["filename=pybase.yaml"])).await;
    let error = returned_error(&handle);
    assert_eq!(error.code, tonic::Code::InvalidArgument as i32);
    assert!(
        error
            .message
            .starts_with("pybase.yaml:6:14: `uv.lock` not found in the build context"),
        "{}",
        error.message
    );
}

#[tokio::test]
async fn several_services_need_a_target_and_unknown_targets_are_named() {
    let spec = b"version: 1\nservices:\n  api:\n    from: python:3.12-slim\n  worker:\n    from: python:3.12-slim\n";
    let handle = run(fake_with_spec(spec), &options(&["filename=pybase.yaml"])).await;
    let error = returned_error(&handle);
    assert_eq!(
        error.message,
        "pybase.yaml:3:3: the spec has several services: choose one with --target (targets: api, api-base, worker, worker-base) (hint: e.g. `docker buildx build --target api ...`)"
    );

    let handle = run(
        fake_with_spec(spec),
        &options(&["filename=pybase.yaml", "target=wroker"]),
    )
    .await;
    assert!(
        returned_error(&handle)
            .message
            .contains("unknown target `wroker`")
    );
}

#[tokio::test]
async fn an_unresolvable_base_image_is_reported_at_from() {
    let spec = b"version: 1\nservices:\n  api:\n    from: nope/missing:1\n";
    let fake = fake_with_spec(spec).with_local(
        "context",
        files(&[
            ("pyproject.toml", fixture_file("pyproject.toml")),
            ("uv.lock", fixture_file("uv.lock")),
        ]),
    );
    let handle = run(fake, &options(&["filename=pybase.yaml"])).await;
    let error = returned_error(&handle);
    assert!(
        error.message.starts_with(
            "pybase.yaml:4:11: cannot resolve the base image `docker.io/nope/missing:1`"
        ),
        "{}",
        error.message
    );
}

#[tokio::test]
async fn a_missing_cap_fails_with_its_name() {
    let spec = fixture_file("pybase.yaml");
    let fake = fake_with_spec(&spec).without_llb_caps(&["exec.mount.cache.sharing"]);
    let handle = run(fake, &options(&["filename=pybase.yaml"])).await;
    let error = returned_error(&handle);
    assert!(
        error.message.contains("`exec.mount.cache.sharing`"),
        "{}",
        error.message
    );
}

/// Ask for the subrequest `request` (with more options `extra`) about
/// `spec`, with the fixture project as the context.
async fn call(spec: &[u8], request: &str, extra: &[&str]) -> FakeHandle {
    let mut pairs = vec![
        "filename=pybase.yaml".to_owned(),
        format!("requestid={request}"),
    ];
    pairs.extend(extra.iter().map(|p| (*p).to_owned()));
    let options = Options::from_pairs(pairs, "session-1".to_owned());
    run(fake_with_spec(spec), &options).await
}

/// The metadata a subrequest returned (it must return no ref and build
/// nothing: every solve only loads files, and all but `--call check` load
/// the spec alone).
fn subrequest_metadata(handle: &FakeHandle) -> std::collections::HashMap<String, Vec<u8>> {
    let returned = handle.returned().expect("a Return");
    assert!(returned.error.is_none(), "{:?}", returned.error);
    let result = returned.result.expect("a result");
    assert!(result.result.is_none(), "a subrequest returns no ref");
    let solves = handle.solves();
    for solve in &solves {
        let definition = solve.definition.as_ref().expect("a definition");
        for bytes in &definition.def {
            let op = pb::Op::decode(bytes.as_slice()).expect("an op");
            assert!(
                matches!(op.op, Some(pb::op::Op::Source(_)) | None),
                "a subrequest ran an op that builds: {op:?}"
            );
        }
    }
    if !result.metadata.contains_key("result.statuscode") {
        assert_eq!(solves.len(), 1, "only the spec was loaded");
    }
    result.metadata
}

#[tokio::test]
async fn answers_the_targets_subrequest_without_building() {
    let handle = call(&fixture_file("pybase.yaml"), "frontend.targets", &[]).await;
    let metadata = subrequest_metadata(&handle);
    let targets: Value = serde_json::from_slice(&metadata["result.json"]).expect("JSON");
    assert_eq!(targets["targets"][0]["name"], json!("inventory"));
    assert_eq!(targets["targets"][0]["default"], json!(true));
    assert_eq!(targets["targets"][1]["name"], json!("inventory-base"));
    assert_eq!(handle.solves().len(), 1, "only the spec was loaded");
}

/// The build args of an outline: name and value.
fn outline_args(outline: &Value) -> Vec<(&str, &str)> {
    outline["args"]
        .as_array()
        .expect("args")
        .iter()
        .map(|a| {
            (
                a["name"].as_str().unwrap_or_default(),
                a["value"].as_str().unwrap_or_default(),
            )
        })
        .collect()
}

#[tokio::test]
async fn answers_the_outline_subrequest_for_the_target() {
    let handle = call(
        &fixture_file("pybase.yaml"),
        "frontend.outline",
        &["target=inventory-base", "build-arg:PYBASE_MERGEOP=false"],
    )
    .await;
    let metadata = subrequest_metadata(&handle);
    let outline: Value = serde_json::from_slice(&metadata["result.json"]).expect("JSON");
    assert_eq!(outline["name"], json!("inventory-base"));
    let args = outline_args(&outline);
    assert_eq!(
        args,
        [
            ("PYBASE_MERGEOP", "false"),
            ("SOURCE_DATE_EPOCH", ""),
            ("BUILD_DATE", ""),
            ("VCS_REF", ""),
            ("VCS_URL", "")
        ]
    );
    assert_eq!(
        outline["secrets"],
        json!([{"name": "ca-bundle"}, {"name": "netrc"}, {"name": "known_hosts"}])
    );
    assert_eq!(outline["ssh"], json!([{"name": "default"}]));
    assert!(metadata.contains_key("result.txt"));
}

#[tokio::test]
async fn the_lock_target_is_listed_and_outlined_with_its_args() {
    let handle = call(&fixture_file("pybase.yaml"), "frontend.targets", &[]).await;
    let metadata = subrequest_metadata(&handle);
    let targets: Value = serde_json::from_slice(&metadata["result.json"]).expect("JSON");
    let names: Vec<&str> = targets["targets"]
        .as_array()
        .expect("targets")
        .iter()
        .map(|t| t["name"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(names, ["inventory", "inventory-base", "lock"]);

    let handle = call(
        &fixture_file("pybase.yaml"),
        "frontend.outline",
        &["target=lock", "build-arg:LOCK_UPGRADE=six"],
    )
    .await;
    let metadata = subrequest_metadata(&handle);
    let outline: Value = serde_json::from_slice(&metadata["result.json"]).expect("JSON");
    assert_eq!(outline["name"], json!("lock"));
    let args = outline_args(&outline);
    assert_eq!(args, [("LOCK_TARGETS", ""), ("LOCK_UPGRADE", "six")]);
    // The lock steps mount the index secrets, and never the SSH agent.
    assert_eq!(
        outline["secrets"],
        json!([{"name": "ca-bundle"}, {"name": "netrc"}])
    );
    assert_eq!(outline["ssh"], json!([]));
    let text = String::from_utf8_lossy(&metadata["result.txt"]).into_owned();
    assert!(text.starts_with("TARGET:      lock\n"), "{text}");
}

#[tokio::test]
async fn the_outline_of_an_unknown_target_is_an_input_error() {
    let handle = call(
        &fixture_file("pybase.yaml"),
        "frontend.outline",
        &["target=nope"],
    )
    .await;
    let error = returned_error(&handle);
    assert_eq!(error.code, tonic::Code::InvalidArgument as i32);
    assert!(
        error.message.contains("unknown target `nope`"),
        "{}",
        error.message
    );
}

#[tokio::test]
async fn answers_the_check_subrequest_with_lint_results_and_a_status() {
    // The fixture is clean: no warnings, status 0.
    let spec = fixture_file("pybase.yaml");
    let handle = call(&spec, "frontend.lint", &[]).await;
    let metadata = subrequest_metadata(&handle);
    assert_eq!(metadata["result.statuscode"], b"0");
    let results: Value = serde_json::from_slice(&metadata["result.json"]).expect("JSON");
    assert_eq!(results["warnings"], json!([]));

    // Without a command: one warning at the service, status 1 (buildx
    // exits with it).
    let spec = String::from_utf8(spec)
        .expect("utf-8")
        .replace("    command: [inventory]\n", "");
    let handle = call(spec.as_bytes(), "frontend.lint", &[]).await;
    let metadata = subrequest_metadata(&handle);
    assert_eq!(metadata["result.statuscode"], b"1");
    let results: Value = serde_json::from_slice(&metadata["result.json"]).expect("JSON");
    assert_eq!(
        results["warnings"][0]["ruleName"],
        json!("ServiceWithoutCommand")
    );
    assert_eq!(
        results["warnings"][0]["location"],
        json!({"sourceIndex": 0, "ranges": [{"start": {"line": 4, "character": 3}, "end": {"line": 4, "character": 3}}]})
    );
    let source = &results["sources"][0];
    assert_eq!(source["filename"], json!("pybase.yaml"));
    let data = base64::engine::general_purpose::STANDARD
        .decode(source["data"].as_str().expect("data"))
        .expect("base64");
    assert_eq!(data, spec.as_bytes());
}

#[tokio::test]
async fn the_check_subrequest_reads_the_projects_for_their_lints() {
    // A tier on the fixture project, whose `dev` group a tier never
    // installs (a warning in pyproject.toml, source 1), and a service
    // whose project (a copy of it in `svc/`) declares psycopg2 and six
    // again: two warnings in svc/pyproject.toml, source 2.
    let spec = b"version: 1\ntiers:\n  base:\n    from: python:3.12-slim\n    project: .\nservices:\n  api:\n    tier: base\n    project: svc\n    command: [inventory]\n";
    let fake = FakeBridge::new()
        .with_local("dockerfile", files(&[("pybase.yaml", spec.to_vec())]))
        .with_local(
            "context",
            files(&[
                ("pyproject.toml", fixture_file("pyproject.toml")),
                ("uv.lock", fixture_file("uv.lock")),
                ("svc/pyproject.toml", fixture_file("pyproject.toml")),
                ("svc/uv.lock", fixture_file("uv.lock")),
            ]),
        );
    let options = Options::from_pairs(
        ["filename=pybase.yaml", "requestid=frontend.lint"].map(str::to_owned),
        "session-1".to_owned(),
    );
    let handle = run(fake, &options).await;
    let metadata = subrequest_metadata(&handle);
    assert_eq!(metadata["result.statuscode"], b"1");
    let results: Value = serde_json::from_slice(&metadata["result.json"]).expect("JSON");
    let rules: Vec<&str> = results["warnings"]
        .as_array()
        .expect("warnings")
        .iter()
        .map(|w| w["ruleName"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        rules,
        [
            "DevGroupInTier",
            "PackageInTierAndService",
            "PackageInTierAndService"
        ]
    );
    assert_eq!(results["warnings"][0]["location"]["sourceIndex"], json!(1));
    assert_eq!(results["sources"][1]["filename"], json!("pyproject.toml"));
    assert_eq!(results["warnings"][1]["location"]["sourceIndex"], json!(2));
    assert_eq!(results["warnings"][2]["location"]["sourceIndex"], json!(2));
    assert_eq!(
        results["sources"][2]["filename"],
        json!("svc/pyproject.toml")
    );
    let text = String::from_utf8_lossy(&metadata["result.txt"]);
    assert!(
        text.contains("svc/pyproject.toml:8:6: `psycopg2` is already in the tier `base`"),
        "{text}"
    );
}

#[tokio::test]
async fn an_unknown_subrequest_is_unimplemented_with_its_name() {
    let handle = call(&fixture_file("pybase.yaml"), "frontend.dump-llb", &[]).await;
    let error = returned_error(&handle);
    assert_eq!(error.code, tonic::Code::Unimplemented as i32);
    let detail = error.details.first().expect("a subrequest detail");
    assert_eq!(
        detail.type_url,
        "github.com/moby/buildkit/errdefs.Subrequest+json"
    );
    assert_eq!(
        serde_json::from_slice::<Value>(&detail.value).expect("JSON"),
        json!({"name": "frontend.dump-llb"})
    );
}

/// The context with a `.dockerignore` (`.env`, `/data/`) and a `.env`.
fn context_with_dockerignore() -> std::collections::BTreeMap<String, Vec<u8>> {
    files(&[
        (
            ".dockerignore",
            b"# secrets stay home\n.env\n/data/\n".to_vec(),
        ),
        (".env", b"TOKEN=secret\n".to_vec()),
        ("pyproject.toml", fixture_file("pyproject.toml")),
        ("uv.lock", fixture_file("uv.lock")),
        (
            "src/inventory/__init__.py",
            fixture_file("src/inventory/__init__.py"),
        ),
        ("src/inventory/cli.py", fixture_file("src/inventory/cli.py")),
    ])
}

/// The exclude patterns of each build-context source of the build `fake`
/// makes, by its shared key hint.
async fn context_excludes(fake: FakeBridge) -> Vec<(String, Vec<String>)> {
    let handle = run(fake, &options(&["filename=pybase.yaml"])).await;
    returned_config(&handle);
    FakeHandle::definition_ops(&build_definition(&handle))
        .into_iter()
        .filter_map(|(_, op)| match op.op {
            Some(pb::op::Op::Source(source)) if source.identifier == "local://context" => Some((
                source
                    .attrs
                    .get("local.sharedkeyhint")
                    .cloned()
                    .unwrap_or_default(),
                source
                    .attrs
                    .get("local.excludepatterns")
                    .map(|p| serde_json::from_str(p).expect("JSON list"))
                    .unwrap_or_default(),
            )),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn dockerignore_patterns_apply_to_every_context_source() {
    let spec = fixture_file("pybase.yaml");
    let fake = fake_with_spec(&spec).with_local("context", context_with_dockerignore());
    let excludes = context_excludes(fake).await;
    assert_eq!(excludes.len(), 2, "the lock and code sources: {excludes:?}");
    // `/data/` is `data` once cleaned, as BuildKit reads it.
    for (source, patterns) in &excludes {
        assert!(
            patterns.contains(&".env".to_owned()) && patterns.contains(&"data".to_owned()),
            "{source} does not honour .dockerignore: {patterns:?}"
        );
    }
}

#[tokio::test]
async fn the_specs_own_ignore_file_replaces_the_contexts_dockerignore() {
    // `pybase.yaml.dockerignore` beside the spec, as a
    // `Dockerfile.dockerignore` beside a Dockerfile: its patterns, and
    // none of `.dockerignore`'s (the twin above has those).
    let spec = fixture_file("pybase.yaml");
    let fake = fake_with_spec(&spec)
        .with_local(
            "dockerfile",
            files(&[
                ("pybase.yaml", spec.clone()),
                ("pybase.yaml.dockerignore", b"notes/\n".to_vec()),
            ]),
        )
        .with_local("context", context_with_dockerignore());
    let excludes = context_excludes(fake).await;
    assert_eq!(excludes.len(), 2, "the lock and code sources: {excludes:?}");
    for (source, patterns) in &excludes {
        assert!(
            patterns.contains(&"notes".to_owned())
                && !patterns.contains(&".env".to_owned())
                && !patterns.contains(&"data".to_owned()),
            "{source}: {patterns:?}"
        );
    }
}

/// The index digest of the two-platform base image in the multi-platform tests.
const INDEX_DIGEST: &str =
    "sha256:2222222222222222222222222222222222222222222222222222222222222222";

/// The fixture with `python:3.12-slim` as an index of linux/amd64 and
/// linux/arm64 (each entry's config names its architecture).
fn fake_with_index(spec: &[u8]) -> FakeBridge {
    let config = |arch: &str| {
        json!({"architecture": arch, "os": "linux",
               "config": {"Env": ["PATH=/usr/local/bin:/usr/bin:/bin"], "Cmd": ["python3"]}})
    };
    ["amd64", "arm64"]
        .into_iter()
        .fold(fake_with_spec(spec), |fake, arch| {
            fake.with_platform_image(
                "docker.io/library/python:3.12-slim",
                &format!("linux/{arch}"),
                INDEX_DIGEST,
                config(arch),
            )
        })
}

/// The sources (identifiers) and the platforms of the exec ops of a definition.
fn sources_and_exec_platforms(definition: &pb::Definition) -> (Vec<String>, Vec<String>) {
    let mut sources = Vec::new();
    let mut platforms = Vec::new();
    for (_, op) in FakeHandle::definition_ops(definition) {
        match op.op {
            Some(pb::op::Op::Source(source)) => sources.push(source.identifier),
            Some(pb::op::Op::Exec(_)) => {
                let platform = op.platform.expect("exec ops name their platform");
                platforms.push(format!("{}/{}", platform.os, platform.architecture));
            }
            _ => {}
        }
    }
    (sources, platforms)
}

#[tokio::test]
async fn several_platforms_give_a_ref_and_a_config_per_platform() {
    let spec = fixture_file("pybase.yaml");
    let handle = run(
        fake_with_index(&spec),
        &options(&["filename=pybase.yaml", "platform=linux/arm64,linux/amd64"]),
    )
    .await;
    let returned = handle.returned().expect("a Return");
    assert!(returned.error.is_none(), "{:?}", returned.error);
    let result = returned.result.expect("a result");

    // The platforms in the order asked for, as BuildKit's exporters read them.
    let platforms: Value =
        serde_json::from_slice(&result.metadata["refs.platforms"]).expect("JSON");
    assert_eq!(
        platforms,
        json!({"Platforms": [
            {"ID": "linux/arm64", "Platform": {"os": "linux", "architecture": "arm64"}},
            {"ID": "linux/amd64", "Platform": {"os": "linux", "architecture": "amd64"}},
        ]})
    );
    assert!(!result.metadata.contains_key("containerimage.config"));
    let mut keys: Vec<&String> = result.metadata.keys().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "containerimage.config/linux/amd64",
            "containerimage.config/linux/arm64",
            "refs.platforms"
        ]
    );

    let Some(gw::result::Result::Refs(refs)) = result.result else {
        panic!("a map of refs, not {:?}", result.result);
    };
    let mut ids: Vec<&String> = refs.refs.keys().collect();
    ids.sort();
    assert_eq!(ids, ["linux/amd64", "linux/arm64"]);

    // Each base resolved for its platform, in a step named with it.
    let resolved: Vec<(String, String, String)> = handle
        .image_resolves()
        .into_iter()
        .map(|r| {
            let p = r.platform.expect("a platform");
            (r.r#ref, format!("{}/{}", p.os, p.architecture), r.log_name)
        })
        .collect();
    let python = "docker.io/library/python:3.12-slim";
    assert_eq!(
        resolved,
        ["linux/arm64", "linux/amd64"].map(|p| (
            python.to_owned(),
            p.to_owned(),
            format!("[{p} inventory] resolve base image {python}")
        ))
    );

    for (id, arch, wheel) in [
        ("linux/amd64", "amd64", "manylinux_2_17_x86_64"),
        ("linux/arm64", "arm64", "manylinux_2_17_aarch64"),
    ] {
        let config: Value =
            serde_json::from_slice(&result.metadata[&format!("containerimage.config/{id}")])
                .expect("config JSON");
        assert_eq!(config["architecture"], json!(arch), "{id}");
        assert_eq!(config["os"], json!("linux"), "{id}");
        assert_eq!(config["config"]["Cmd"], json!(["inventory"]), "{id}");

        // Its ref is a graph of that platform: its own uv wheel, the index
        // pinned by digest, every step run on the platform.
        let solve = handle
            .solve_for_ref(&refs.refs[id].id)
            .expect("the ref was solved");
        let definition = solve.definition.expect("a definition");
        let (sources, platforms) = sources_and_exec_platforms(&definition);
        assert!(
            sources
                .iter()
                .any(|s| s.starts_with("https://") && s.contains(wheel)),
            "{id}: {sources:?}"
        );
        assert!(
            sources.contains(&format!(
                "docker-image://docker.io/library/python:3.12-slim@{INDEX_DIGEST}"
            )),
            "{id}: {sources:?}"
        );
        assert!(!platforms.is_empty());
        assert!(platforms.iter().all(|p| p == id), "{id}: {platforms:?}");
        // Its steps' progress names start with the platform.
        let names: Vec<&String> = definition
            .metadata
            .values()
            .filter_map(|m| m.description.get("llb.customname"))
            .collect();
        assert!(
            names
                .iter()
                .any(|n| n.starts_with(&format!("[{id} inventory] venv"))),
            "{id}: {names:?}"
        );
        assert!(
            names.iter().all(|n| n.starts_with(&format!("[{id} "))),
            "{id}: {names:?}"
        );
    }
}

#[tokio::test]
async fn one_platform_asked_twice_is_the_single_platform_result() {
    let spec = fixture_file("pybase.yaml");
    let plain = run(fake_with_spec(&spec), &options(&["filename=pybase.yaml"])).await;
    let twice = run(
        fake_with_spec(&spec),
        &options(&["filename=pybase.yaml", "platform=linux/amd64,linux/x86_64"]),
    )
    .await;
    assert_eq!(returned_config(&twice), returned_config(&plain));
    assert_eq!(build_definition(&twice), build_definition(&plain));
    let metadata = twice
        .returned()
        .and_then(|r| r.result)
        .expect("a result")
        .metadata;
    assert_eq!(
        metadata.keys().collect::<Vec<_>>(),
        ["containerimage.config"]
    );
}

#[tokio::test]
async fn a_platform_without_a_uv_pin_is_a_clear_error() {
    let spec = fixture_file("pybase.yaml");
    let fake = fake_with_index(&spec).with_platform_image(
        "docker.io/library/python:3.12-slim",
        "linux/s390x",
        INDEX_DIGEST,
        json!({"architecture": "s390x", "os": "linux", "config": {}}),
    );
    let handle = run(
        fake,
        &options(&["filename=pybase.yaml", "platform=linux/amd64,linux/s390x"]),
    )
    .await;
    let error = returned_error(&handle);
    assert_eq!(
        error.message,
        "pybase has no pinned uv for platform linux/s390x; supported: linux/amd64, linux/arm64"
    );
}

#[tokio::test]
async fn a_base_image_without_the_platform_is_reported_at_from() {
    // A single-platform amd64 base that BuildKit hands back for arm64 too
    // (as a local image store does).
    let spec = fixture_file("pybase.yaml");
    let handle = run(
        fake_with_spec(&spec),
        &options(&["filename=pybase.yaml", "platform=linux/amd64,linux/arm64"]),
    )
    .await;
    let error = returned_error(&handle);
    assert_eq!(error.code, tonic::Code::InvalidArgument as i32);
    assert!(
        error.message.starts_with(
            "pybase.yaml:5:11: the base image `python:3.12-slim` has no linux/arm64 variant: BuildKit resolved `docker.io/library/python:3.12-slim@sha256:1111"
        ),
        "{}",
        error.message
    );
    assert!(
        error.message.contains("whose architecture is `amd64`"),
        "{}",
        error.message
    );
}

#[tokio::test]
async fn a_base_python_that_requires_python_excludes_stops_the_build_at_that_line() {
    let spec = fixture_file("pybase.yaml");
    // The fixture needs Python >=3.11; this base says it has 3.10.
    let fake = fake_with_spec(&spec).with_image(
        "docker.io/library/python:3.12-slim",
        "sha256:1111111111111111111111111111111111111111111111111111111111111111",
        json!({"architecture": "amd64", "os": "linux",
               "config": {"Env": ["PATH=/usr/local/bin:/usr/bin:/bin", "PYTHON_VERSION=3.10.19"]}}),
    );
    let handle = run(fake, &options(&["filename=pybase.yaml"])).await;
    let error = returned_error(&handle);
    assert_eq!(error.code, tonic::Code::InvalidArgument as i32);
    assert!(
        error.message.starts_with(
            "pyproject.toml:5:1: the project needs Python >=3.11, but the base image `python:3.12-slim` has Python 3.10.19"
        ),
        "{}",
        error.message
    );
    // Nothing ran: the solves were the context reads alone.
    let ran = handle
        .solves()
        .iter()
        .filter_map(|s| s.definition.as_ref())
        .flat_map(FakeHandle::definition_ops)
        .any(|(_, op)| matches!(op.op, Some(pb::op::Op::Exec(_))));
    assert!(!ran, "no step may run on a Python the project excludes");

    // A Python it allows builds.
    let fake = fake_with_spec(&spec).with_image(
        "docker.io/library/python:3.12-slim",
        "sha256:1111111111111111111111111111111111111111111111111111111111111111",
        json!({"architecture": "amd64", "os": "linux",
               "config": {"Env": ["PYTHON_VERSION=3.12.12"]}}),
    );
    let handle = run(fake, &options(&["filename=pybase.yaml"])).await;
    returned_config(&handle);
}

#[tokio::test]
async fn a_poetry_lock_error_carries_the_poetry_lock_excerpt() {
    let spec = fixture_file("pybase.yaml");
    let poetry_lock =
        std::fs::read_to_string("../testdata/bad/121-poetry-lock-git-source/poetry.lock")
            .expect("the bad corpus' poetry.lock");
    let fake = FakeBridge::new()
        .with_local("dockerfile", files(&[("pybase.yaml", spec.clone())]))
        .with_local(
            "context",
            files(&[
                ("pybase.yaml", spec),
                ("pyproject.toml", fixture_file("pyproject.toml")),
                ("poetry.lock", poetry_lock.clone().into_bytes()),
            ]),
        );
    let handle = run(fake, &options(&["filename=pybase.yaml"])).await;
    let error = returned_error(&handle);
    assert_eq!(error.code, tonic::Code::InvalidArgument as i32);
    assert!(
        error
            .message
            .starts_with("poetry.lock:4:1: `mylib` comes from a `git` source"),
        "{}",
        error.message
    );
    assert_shown_in(&error, "poetry.lock", poetry_lock.as_bytes());
}

/// That `error`'s `errdefs.Source` detail shows the file `filename`,
/// whose content is `content`.
fn assert_shown_in(
    error: &bollard_buildkit_proto::google::rpc::Status,
    filename: &str,
    content: &[u8],
) {
    let detail: Value = serde_json::from_slice(&error.details[0].value).expect("JSON detail");
    assert_eq!(detail["info"]["filename"], json!(filename));
    let data = base64::engine::general_purpose::STANDARD
        .decode(detail["info"]["data"].as_str().expect("data"))
        .expect("base64");
    assert_eq!(data, content);
}

#[tokio::test]
async fn one_platform_asked_for_is_checked_against_the_base_image_too() {
    // The amd64-only fixture base, handed back for an arm64 build.
    let spec = fixture_file("pybase.yaml");
    let handle = run(
        fake_with_spec(&spec),
        &options(&["filename=pybase.yaml", "platform=linux/arm64"]),
    )
    .await;
    let error = returned_error(&handle);
    assert!(
        error.message.starts_with(
            "pybase.yaml:5:11: the base image `python:3.12-slim` has no linux/arm64 variant"
        ),
        "{}",
        error.message
    );
}

/// The fixture spec on a distroless runtime image, built in
/// `python:3.12-slim` (`build-from`), without runtime packages.
fn build_from_spec() -> Vec<u8> {
    let text = String::from_utf8(fixture_file("pybase.yaml")).expect("UTF-8 spec");
    let runtime_line = text
        .lines()
        .find(|line| line.trim_start().starts_with("runtime:"))
        .expect("the fixture has runtime packages")
        .to_owned();
    text.replace(
        "from: python:3.12-slim",
        "from: gcr.io/distroless/python3-debian12\n    build-from: python:3.12-slim",
    )
    .replace(&format!("{runtime_line}\n"), "")
    .into_bytes()
}

const DISTROLESS: &str = "gcr.io/distroless/python3-debian12:latest";
const DISTROLESS_DIGEST: &str =
    "sha256:2222222222222222222222222222222222222222222222222222222222222222";

#[tokio::test]
async fn build_from_runs_the_builder_in_its_own_image_and_nothing_in_the_runtime_image() {
    let spec = build_from_spec();
    let fake = fake_with_spec(&spec).with_image(
        DISTROLESS,
        DISTROLESS_DIGEST,
        json!({"architecture": "amd64", "os": "linux",
               "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]}}),
    );
    let handle = run(fake, &options(&["filename=pybase.yaml"])).await;
    let config = returned_config(&handle);
    // The runtime image's config, with the base labels of the runtime image.
    assert_eq!(
        config["config"]["Labels"]["org.opencontainers.image.base.digest"],
        json!(DISTROLESS_DIGEST)
    );
    let definition = build_definition(&handle);
    let ops = FakeHandle::definition_ops(&definition);
    let source_of = |wanted: &str| {
        ops.iter()
            .find_map(|(digest, op)| match &op.op {
                Some(pb::op::Op::Source(source)) if source.identifier.contains(wanted) => {
                    Some(digest.clone())
                }
                _ => None,
            })
            .unwrap_or_else(|| panic!("no source {wanted}"))
    };
    let runtime = source_of(&format!("{DISTROLESS}@{DISTROLESS_DIGEST}"));
    let builder = source_of("python:3.12-slim@sha256:1111");
    // Every exec's root is the build image or made from it; the runtime
    // image is only ever a mount (read to write the user) or copied onto.
    let roots: Vec<String> = ops
        .iter()
        .filter(|(_, op)| matches!(op.op, Some(pb::op::Op::Exec(_))))
        .map(|(_, op)| op.inputs[0].digest.clone())
        .collect();
    assert!(!roots.is_empty());
    assert!(
        !roots.contains(&runtime),
        "an exec runs in the runtime image"
    );
    assert!(roots.contains(&builder), "{roots:?}");
}

#[tokio::test]
async fn build_from_with_another_python_than_the_runtime_image_is_reported_at_build_from() {
    let spec = build_from_spec();
    let fake = fake_with_spec(&spec)
        .with_image(
            DISTROLESS,
            DISTROLESS_DIGEST,
            json!({"architecture": "amd64", "os": "linux",
                   "config": {"Env": ["PATH=/usr/bin:/bin", "PYTHON_VERSION=3.11.2"]}}),
        )
        .with_image(
            "docker.io/library/python:3.12-slim",
            "sha256:1111111111111111111111111111111111111111111111111111111111111111",
            json!({"architecture": "amd64", "os": "linux",
                   "config": {"Env": ["PATH=/usr/local/bin:/usr/bin:/bin", "PYTHON_VERSION=3.12.8"]}}),
        );
    let handle = run(fake, &options(&["filename=pybase.yaml"])).await;
    let error = returned_error(&handle);
    assert_eq!(error.code, tonic::Code::InvalidArgument as i32);
    assert!(
        error.message.starts_with(
            "pybase.yaml:6:17: the build image `python:3.12-slim` has Python 3.12.8, but the runtime image `gcr.io/distroless/python3-debian12` has Python 3.11.2"
        ),
        "{}",
        error.message
    );
}

/// The inventory fixture with six locked as one wheel that needs glibc 2.34
/// and no sdist, on a base image whose filesystem has CPython 3.12 and
/// dpkg's record of libc6 at `glibc`.
fn fake_with_glibc(glibc: &str) -> FakeBridge {
    let spec = fixture_file("pybase.yaml");
    let lock = String::from_utf8(fixture_file("uv.lock")).expect("UTF-8");
    let mut six = false;
    let lock: Vec<String> = lock
        .lines()
        .filter_map(|line| {
            if line.starts_with("name = ") {
                six = line == "name = \"six\"";
            }
            match (six, line) {
                (true, l) if l.starts_with("sdist = ") => None,
                (true, l) if l.contains("six-1.17.0-py2.py3-none-any.whl") => {
                    Some(l.replace("py2.py3-none-any", "cp312-cp312-manylinux_2_34_x86_64"))
                }
                _ => Some(line.to_owned()),
            }
        })
        .collect();
    let status = format!(
        "Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nVersion: {glibc}\n\n"
    );
    fake_with_spec(&spec)
        .with_local(
            "context",
            files(&[
                ("pybase.yaml", spec.clone()),
                ("pyproject.toml", fixture_file("pyproject.toml")),
                ("uv.lock", (lock.join("\n") + "\n").into_bytes()),
                (
                    "src/inventory/__init__.py",
                    fixture_file("src/inventory/__init__.py"),
                ),
                ("src/inventory/cli.py", fixture_file("src/inventory/cli.py")),
            ]),
        )
        .with_image_files(
            "docker.io/library/python:3.12-slim",
            files(&[
                ("usr/local/bin/python3.12", b"\x7fELF".to_vec()),
                ("var/lib/dpkg/status", status.into_bytes()),
            ]),
        )
}

#[tokio::test]
async fn a_wheel_needing_a_newer_glibc_than_the_image_has_is_refused_at_its_lock_line() {
    let handle = run(
        fake_with_glibc("2.31-13+deb11u11"),
        &options(&["filename=pybase.yaml"]),
    )
    .await;
    let error = returned_error(&handle);
    assert_eq!(error.code, tonic::Code::InvalidArgument as i32);
    // The image's Python and glibc come from its filesystem: the fixture's
    // config says neither.
    assert!(
        error.message.starts_with(
            "uv.lock:51:1: `six` 1.17.0 has no artifact for CPython 3.12 with glibc 2.31 on linux/amd64: the lock has no sdist, and wheels for cp312-cp312-manylinux_2_34_x86_64"
        ),
        "{}",
        error.message
    );

    // Twin: the same lock on an image with glibc 2.36 builds.
    let handle = run(
        fake_with_glibc("2.36-9+deb12u7"),
        &options(&["filename=pybase.yaml"]),
    )
    .await;
    let returned = handle.returned().expect("a Return");
    assert!(returned.error.is_none(), "{:?}", returned.error);
    assert!(
        handle
            .read_files()
            .iter()
            .any(|(_, path)| path == "/var/lib/dpkg/status"),
        "the probe read dpkg's status"
    );
}

/// The `includes` fixture (a service whose requirements.txt includes
/// `../requirements-base.txt` and `../constraints.txt`) as the build
/// context, with a file no lock names; `base` replaces the shared
/// requirements when given.
fn includes_fake(base: Option<&[u8]>) -> (FakeBridge, Vec<u8>) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/projects/includes");
    let read = |path: &str| std::fs::read(format!("{dir}/{path}")).expect("fixture file");
    let spec = read("pybase.yaml");
    let base = base.map_or_else(|| read("services/requirements-base.txt"), <[u8]>::to_vec);
    let context: Vec<(&str, Vec<u8>)> = vec![
        ("pybase.yaml", spec.clone()),
        (
            "services/api/pyproject.toml",
            read("services/api/pyproject.toml"),
        ),
        (
            "services/api/requirements.txt",
            read("services/api/requirements.txt"),
        ),
        (
            "services/api/src/api/__init__.py",
            read("services/api/src/api/__init__.py"),
        ),
        (
            "services/api/src/api/cli.py",
            read("services/api/src/api/cli.py"),
        ),
        ("services/requirements-base.txt", base.clone()),
        ("services/constraints.txt", read("services/constraints.txt")),
        ("services/README.md", b"not an input of any lock\n".to_vec()),
    ];
    let fake = FakeBridge::new()
        .with_local("dockerfile", files(&[("pybase.yaml", spec)]))
        .with_local("context", files(&context))
        .with_image(
            "docker.io/library/python:3.12-slim",
            "sha256:1111111111111111111111111111111111111111111111111111111111111111",
            json!({"architecture": "amd64", "os": "linux", "created": "2026-01-01T00:00:00Z",
                   "config": {"Env": ["PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8"], "Cmd": ["python3"]}}),
        );
    (fake, base)
}

#[tokio::test]
async fn the_files_a_requirements_lock_includes_are_read_through_a_source_of_only_them() {
    let (fake, _) = includes_fake(None);
    let handle = run(fake, &options(&["filename=pybase.yaml", "target=api"])).await;
    returned_config(&handle);
    // Each included file was read through a view of the context holding
    // exactly the files that round found, never the whole context.
    let reads = handle.read_files();
    let view_of = |wanted: &str| {
        reads
            .iter()
            .find(|(_, path)| path == wanted)
            .and_then(|(id, _)| handle.view_files(id))
            .unwrap_or_else(|| panic!("`{wanted}` was not read from a view: {reads:?}"))
    };
    assert_eq!(
        view_of("services/requirements-base.txt"),
        ["services/constraints.txt", "services/requirements-base.txt"]
    );
    assert_eq!(
        view_of("services/api/requirements.txt"),
        [
            "services/api/pyproject.toml",
            "services/api/requirements.txt"
        ]
    );
    assert!(
        !reads.iter().any(|(_, path)| path.ends_with("README.md")),
        "{reads:?}"
    );
    // The venv installs from the flattened file, a file of the LLB.
    let definition = build_definition(&handle);
    let names: Vec<&String> = definition
        .metadata
        .values()
        .filter_map(|m| m.description.get("llb.customname"))
        .collect();
    assert!(
        names.iter().any(|name| *name
            == "[api] services/api/requirements.txt with the files it includes, every requirement pinned: pybase-requirements.txt"),
        "{names:?}"
    );
}

#[tokio::test]
async fn an_error_inside_an_included_file_is_shown_in_that_file() {
    let base = b"# shared by every service\nsix\npackaging\nflask\n";
    let (fake, base) = includes_fake(Some(base));
    let handle = run(fake, &options(&["filename=pybase.yaml", "target=api"])).await;
    let error = returned_error(&handle);
    assert_eq!(error.code, tonic::Code::InvalidArgument as i32);
    assert!(
        error.message.starts_with(
            "services/requirements-base.txt:4:1: `flask` is not pinned to one version with `==`, here or by a constraint"
        ),
        "{}",
        error.message
    );
    assert_shown_in(&error, "services/requirements-base.txt", &base);
}

/// A file of the application fixture (`testdata/projects/plain-app`).
fn plain_app_file(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/../testdata/projects/plain-app/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("plain-app fixture file")
}

/// A fake whose build context is the application fixture, with `more`
/// files.
fn fake_with_application(more: &[(&str, Vec<u8>)]) -> FakeBridge {
    let spec = plain_app_file("pybase.yaml");
    let mut context = vec![
        ("pybase.yaml", spec.clone()),
        ("app.py", plain_app_file("app.py")),
        ("greeting.py", plain_app_file("greeting.py")),
        ("requirements.txt", plain_app_file("requirements.txt")),
    ];
    context.extend(more.iter().cloned());
    FakeBridge::new()
        .with_local("dockerfile", files(&[("pybase.yaml", spec)]))
        .with_local("context", files(&context))
        .with_image(
            "docker.io/library/python:3.12-slim",
            "sha256:1111111111111111111111111111111111111111111111111111111111111111",
            json!({"architecture": "amd64", "os": "linux",
                   "config": {"Env": ["PATH=/usr/local/bin:/usr/bin:/bin"], "Cmd": ["python3"]}}),
        )
}

/// The names of the build's exec ops.
fn exec_names(definition: &pb::Definition) -> Vec<String> {
    let names: BTreeMap<String, String> = definition
        .metadata
        .iter()
        .filter_map(|(digest, meta)| {
            meta.description
                .get("llb.customname")
                .map(|name| (digest.clone(), name.clone()))
        })
        .collect();
    FakeHandle::definition_ops(definition)
        .into_iter()
        .filter(|(_, op)| matches!(op.op, Some(pb::op::Op::Exec(_))))
        .filter_map(|(digest, _)| names.get(&digest).cloned())
        .collect()
}

#[tokio::test]
async fn an_application_without_pyproject_is_copied_into_the_workdir() {
    let handle = run(
        fake_with_application(&[]),
        &options(&["filename=pybase.yaml"]),
    )
    .await;
    let config = returned_config(&handle);
    assert_eq!(config["config"]["Cmd"], json!(["python", "app.py"]));
    assert_eq!(config["config"]["WorkingDir"], json!("/app"));
    // Without pyproject.toml, it looked for setup.py and setup.cfg through
    // a source that exposed those alone (none here), and nothing else.
    let read: Vec<(String, String)> = handle.read_files();
    let setup = read
        .iter()
        .find(|(_, path)| path == "setup.py")
        .expect("setup.py looked for");
    assert!(read.iter().any(|(_, path)| path == "setup.cfg"));
    assert_eq!(handle.view_files(&setup.0), Some(Vec::new()));
    // The venv installs the requirements; the code is copied, not built.
    let execs = exec_names(&build_definition(&handle));
    assert!(
        execs
            .iter()
            .any(|n| n == "[web] venv: 1 package from requirements.txt"),
        "{execs:?}"
    );
    assert!(
        execs
            .iter()
            .any(|n| n == "[web] code: copy the application into /app"),
        "{execs:?}"
    );
    assert!(
        !execs.iter().any(|n| n.contains("install the project")),
        "{execs:?}"
    );
}

#[tokio::test]
async fn a_setup_py_without_pyproject_is_a_package_built_by_setuptools() {
    let handle = run(
        fake_with_application(&[(
            "setup.py",
            b"from setuptools import setup\nsetup()\n".to_vec(),
        )]),
        &options(&["filename=pybase.yaml"]),
    )
    .await;
    // Found through the source of setup.py and setup.cfg alone, it makes
    // the directory a package: built and installed (the twin of the
    // application's copy), by setuptools' PEP 517 fallback.
    let execs = exec_names(&build_definition(&handle));
    assert!(
        execs
            .iter()
            .any(|n| n == "[web] code: install the project without dependencies"),
        "{execs:?}"
    );
    assert!(
        execs
            .iter()
            .any(|n| n == "[web] code: build backend setuptools>=40.8.0"),
        "{execs:?}"
    );
    assert!(
        !execs.iter().any(|n| n.contains("copy the application")),
        "{execs:?}"
    );
}

/// The fixture `testdata/projects/<fixture>` as the build context: its
/// `pybase.yaml` and the files `paths`, with a python:3.12-slim base.
fn fixture_fake(fixture: &str, paths: &[&str]) -> FakeBridge {
    let dir = format!(
        "{}/../testdata/projects/{fixture}",
        env!("CARGO_MANIFEST_DIR")
    );
    let read = |path: &str| std::fs::read(format!("{dir}/{path}")).expect("fixture file");
    let spec = read("pybase.yaml");
    let mut context: Vec<(&str, Vec<u8>)> = vec![("pybase.yaml", spec.clone())];
    context.extend(paths.iter().map(|path| (*path, read(path))));
    FakeBridge::new()
        .with_local("dockerfile", files(&[("pybase.yaml", spec)]))
        .with_local("context", files(&context))
        .with_image(
            "docker.io/library/python:3.12-slim",
            "sha256:1111111111111111111111111111111111111111111111111111111111111111",
            json!({"architecture": "amd64", "os": "linux", "created": "2026-01-01T00:00:00Z",
                   "config": {"Env": ["PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8"], "Cmd": ["python3"]}}),
        )
}

/// The `workspace` fixture (a uv workspace: members `packages/api`,
/// `packages/lib`, `packages/other`, one uv.lock at the root) as the build
/// context, the spec building `api`.
fn workspace_fake() -> FakeBridge {
    fixture_fake(
        "workspace",
        &[
            "pyproject.toml",
            "uv.lock",
            "packages/api/pyproject.toml",
            "packages/api/src/api/__init__.py",
            "packages/lib/pyproject.toml",
            "packages/lib/src/lib/__init__.py",
            "packages/other/pyproject.toml",
            "packages/other/src/other/__init__.py",
        ],
    )
}

/// The files of the view the frontend read `wanted` from (a panic when it
/// read it from none).
fn view_of(handle: &FakeHandle, wanted: &str) -> Vec<String> {
    let reads = handle.read_files();
    reads
        .iter()
        .find(|(_, path)| path == wanted)
        .and_then(|(id, _)| handle.view_files(id))
        .unwrap_or_else(|| panic!("`{wanted}` was not read from a view: {reads:?}"))
}

/// The names of the steps of the definition `handle` returned.
fn step_names(handle: &FakeHandle) -> Vec<String> {
    build_definition(handle)
        .metadata
        .values()
        .filter_map(|m| m.description.get("llb.customname").cloned())
        .collect()
}

#[tokio::test]
async fn a_workspace_members_root_files_are_read_through_a_source_of_only_them() {
    let handle = run(
        workspace_fake(),
        &options(&["filename=pybase.yaml", "target=api"]),
    )
    .await;
    returned_config(&handle);
    // The member's own lock inputs first (no lock there), then the
    // ancestors' pyproject.toml and uv.lock through a view of exactly those.
    assert_eq!(
        view_of(&handle, "packages/api/pyproject.toml"),
        ["packages/api/pyproject.toml"]
    );
    assert_eq!(view_of(&handle, "uv.lock"), ["pyproject.toml", "uv.lock"]);
    assert_eq!(
        view_of(&handle, "pyproject.toml"),
        ["pyproject.toml", "uv.lock"]
    );
    let reads = handle.read_files();
    assert!(
        !reads.iter().any(|(_, path)| path.ends_with(".py")),
        "{reads:?}"
    );
    // The venv installs from the root's lock, for api alone.
    let names = step_names(&handle);
    assert!(
        names
            .iter()
            .any(|name| name.starts_with("[api] venv: 2 packages from uv.lock")),
        "{names:?}"
    );
}

#[tokio::test]
async fn a_stale_workspace_member_is_shown_in_its_pyproject() {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../testdata/projects/workspace"
    );
    let pyproject = std::fs::read_to_string(format!("{dir}/packages/api/pyproject.toml"))
        .expect("fixture file")
        .replace(
            r#"dependencies = ["lib", "six==1.17.0"]"#,
            r#"dependencies = ["lib", "six==1.17.0", "attrs"]"#,
        );
    let fake = workspace_fake().with_local(
        "context",
        files(&[
            (
                "pyproject.toml",
                std::fs::read(format!("{dir}/pyproject.toml")).expect("root"),
            ),
            (
                "uv.lock",
                std::fs::read(format!("{dir}/uv.lock")).expect("lock"),
            ),
            ("packages/api/pyproject.toml", pyproject.into_bytes()),
        ]),
    );
    let handle = run(fake, &options(&["filename=pybase.yaml", "target=api"])).await;
    let error = returned_error(&handle);
    assert!(
        error.message.contains("packages/api/pyproject.toml:6:40"),
        "{}",
        error.message
    );
    assert!(
        error.message.contains("run `uv lock` in `.`"),
        "{}",
        error.message
    );
}

/// The `poetry-path` fixture (a Poetry project `app` with path
/// dependencies on `../lib` and lib's `../core`) as the build context,
/// without the files `left_out`.
fn poetry_path_fake(left_out: &[&str]) -> FakeBridge {
    let paths: Vec<&str> = [
        "app/pyproject.toml",
        "app/poetry.lock",
        "app/src/app/__init__.py",
        "lib/pyproject.toml",
        "lib/src/lib/__init__.py",
        "core/pyproject.toml",
        "core/src/core/__init__.py",
    ]
    .into_iter()
    .filter(|path| !left_out.contains(path))
    .collect();
    fixture_fake("poetry-path", &paths)
}

#[tokio::test]
async fn poetry_path_dependencies_are_read_through_a_source_of_only_their_package_files() {
    let handle = run(
        poetry_path_fake(&[]),
        &options(&["filename=pybase.yaml", "target=app"]),
    )
    .await;
    returned_config(&handle);
    // app's lock inputs first, then each path dependency's pyproject.toml
    // (setup.py asked for too, absent) through a view of exactly those.
    assert_eq!(
        view_of(&handle, "app/poetry.lock"),
        ["app/poetry.lock", "app/pyproject.toml"]
    );
    assert_eq!(
        view_of(&handle, "lib/pyproject.toml"),
        ["core/pyproject.toml", "lib/pyproject.toml"]
    );
    let reads = handle.read_files();
    assert!(
        !reads.iter().any(|(_, path)| path.contains("/src/")),
        "{reads:?}"
    );
    // The venv gets the third-party packages; the code step app, core, lib.
    let names = step_names(&handle);
    for wanted in [
        "[app] venv: 3 packages from app/poetry.lock",
        "[app] code: install the project and the path dependencies it depends on (app, core, lib) without dependencies",
    ] {
        assert!(
            names.iter().any(|name| name.starts_with(wanted)),
            "{wanted} in {names:?}"
        );
    }
}

#[tokio::test]
async fn a_poetry_path_dependency_the_context_lacks_is_shown_at_its_lock_line() {
    let handle = run(
        poetry_path_fake(&["lib/pyproject.toml"]),
        &options(&["filename=pybase.yaml", "target=app"]),
    )
    .await;
    let error = returned_error(&handle);
    assert!(
        error.message.contains("app/poetry.lock:58:1")
            && error
                .message
                .contains("the build context has neither `lib/pyproject.toml` nor `lib/setup.py`"),
        "{}",
        error.message
    );
}

/// The `lock-tiers` fixture as the build context, less the files
/// `without`, with the files `extra`.
fn fake_lock_tiers(without: &[&str], extra: &[(&str, Vec<u8>)]) -> FakeBridge {
    let read = |path: &str| {
        std::fs::read(format!("{FIXTURE}/../lock-tiers/{path}")).expect("lock-tiers file")
    };
    let spec = read("pybase.yaml");
    let mut context: Vec<(&str, Vec<u8>)> = [
        "base/requirements.in",
        "api/requirements.in",
        "api/app.py",
        "worker/requirements.in",
        "worker/worker.py",
    ]
    .into_iter()
    .filter(|path| !without.contains(path))
    .map(|path| (path, read(path)))
    .collect();
    context.push(("pybase.yaml", spec.clone()));
    context.extend(extra.iter().cloned());
    fake_with_spec(&spec).with_local("context", files(&context))
}

#[tokio::test]
async fn the_lock_target_returns_files_without_an_image_config() {
    let handle = run(
        fake_lock_tiers(&[], &[]),
        &options(&["filename=pybase.yaml", "target=lock"]),
    )
    .await;
    let returned = handle.returned().expect("a Return");
    assert!(returned.error.is_none(), "{:?}", returned.error);
    let result = returned.result.expect("a result");
    assert!(matches!(result.result, Some(gw::result::Result::Ref(_))));
    assert!(
        !result.metadata.contains_key("containerimage.config"),
        "a lock is files, not an image"
    );
    let described = llb_gen::describe::describe(&build_definition(&handle)).expect("decodable");
    let text = described.to_string();
    for step in [
        "[base] lock: uv pip compile base/requirements.in",
        "[api] lock: uv pip compile api/requirements.in",
        "[worker] lock: uv pip compile worker/requirements.in",
        "[lock] base/requirements.txt, api/requirements.txt, worker/requirements.txt",
    ] {
        assert!(text.contains(step), "no step `{step}`");
    }
    // The image build of the same context, by contrast, is refused before
    // any step: ranges are no lock.
    let handle = run(
        fake_lock_tiers(&[], &[]),
        &options(&["filename=pybase.yaml", "target=api"]),
    )
    .await;
    let error = returned_error(&handle);
    assert!(
        error
            .message
            .contains("`api` has only ranges (`api/requirements.in`)"),
        "{}",
        error.message
    );
}

#[tokio::test]
async fn the_lock_target_refuses_a_poetry_project_at_its_line() {
    // worker locked by Poetry (no requirements.in): refused at its line.
    let poetry = || {
        fake_lock_tiers(
            &["worker/requirements.in"],
            &[("worker/poetry.lock", b"# poetry\n".to_vec())],
        )
    };
    let handle = run(poetry(), &options(&["filename=pybase.yaml", "target=lock"])).await;
    let error = returned_error(&handle);
    assert_eq!(error.code, tonic::Code::InvalidArgument as i32);
    assert!(
        error
            .message
            .contains("pybase.yaml:19:14: `--target lock` runs uv only")
            && error.message.contains("is locked by Poetry"),
        "{}",
        error.message
    );
    // Left out with LOCK_TARGETS, the others lock.
    let handle = run(
        poetry(),
        &options(&[
            "filename=pybase.yaml",
            "target=lock",
            "build-arg:LOCK_TARGETS=base,api",
        ]),
    )
    .await;
    let returned = handle.returned().expect("a Return");
    assert!(returned.error.is_none(), "{:?}", returned.error);
}

/// The execs of a definition, with their names.
fn named_execs(definition: &pb::Definition) -> Vec<(String, pb::ExecOp)> {
    FakeHandle::definition_ops(definition)
        .into_iter()
        .filter_map(|(digest, op)| match op.op {
            Some(pb::op::Op::Exec(exec)) => {
                let name = definition
                    .metadata
                    .get(&digest)
                    .and_then(|m| m.description.get("llb.customname").cloned())
                    .unwrap_or_default();
                Some((name, exec))
            }
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn added_hosts_reach_every_exec_and_a_forced_network_every_exec_that_has_one() {
    let spec = fixture_file("pybase.yaml");
    let handle = run(
        fake_with_spec(&spec),
        &options(&[
            "filename=pybase.yaml",
            "add-hosts=index.internal=10.0.0.7",
            "force-network-mode=host",
        ]),
    )
    .await;
    returned_config(&handle);
    let execs = named_execs(&build_definition(&handle));
    assert!(execs.len() > 3, "{execs:?}");
    let (mut host, mut offline) = (0, 0);
    for (name, exec) in &execs {
        let hosts = &exec.meta.as_ref().expect("meta").extra_hosts;
        assert_eq!(hosts.len(), 1, "{name}");
        assert_eq!(
            (hosts[0].host.as_str(), hosts[0].ip.as_str()),
            ("index.internal", "10.0.0.7")
        );
        match pb::NetMode::try_from(exec.network) {
            Ok(pb::NetMode::Host) => host += 1,
            Ok(pb::NetMode::None) => offline += 1,
            other => panic!("{name}: {other:?}"),
        }
    }
    // The steps that download got the host's network; the ones pybase
    // runs offline (uv's unpacking, the code copied) kept it off.
    assert!(host >= 2 && offline >= 1, "host {host}, offline {offline}");
    // Without the options: no hosts, no host network.
    let handle = run(fake_with_spec(&spec), &options(&["filename=pybase.yaml"])).await;
    returned_config(&handle);
    for (name, exec) in named_execs(&build_definition(&handle)) {
        assert!(exec.meta.expect("meta").extra_hosts.is_empty(), "{name}");
        assert_ne!(exec.network, pb::NetMode::Host as i32, "{name}");
    }
}

#[tokio::test]
async fn a_bad_added_host_or_network_mode_is_an_error_naming_it() {
    let spec = fixture_file("pybase.yaml");
    let handle = run(
        fake_with_spec(&spec),
        &options(&["filename=pybase.yaml", "add-hosts=index.internal=not-an-ip"]),
    )
    .await;
    let error = returned_error(&handle);
    assert!(
        error.message.contains("`not-an-ip` is not an IP address"),
        "{}",
        error.message
    );
    let handle = run(
        fake_with_spec(&spec),
        &options(&["filename=pybase.yaml", "force-network-mode=bridge"]),
    )
    .await;
    let error = returned_error(&handle);
    assert!(
        error.message.contains("--network bridge"),
        "{}",
        error.message
    );
}

#[tokio::test]
async fn no_cache_filter_system_refreshes_the_system_step_and_an_unknown_name_lists_the_known() {
    let spec = fixture_file("pybase.yaml");
    let refreshed = |definition: &pb::Definition| -> Vec<(String, bool)> {
        definition
            .metadata
            .values()
            .filter_map(|m| {
                let name = m.description.get("llb.customname")?;
                name.contains("] system: ")
                    .then(|| (name.clone(), m.ignore_cache))
            })
            .collect()
    };
    let handle = run(
        fake_with_spec(&spec),
        &options(&["filename=pybase.yaml", "no-cache=system"]),
    )
    .await;
    returned_config(&handle);
    let definition = build_definition(&handle);
    let system = refreshed(&definition);
    // The image's system step, refreshed and rerun; the builder's, cached.
    assert!(
        system
            .iter()
            .any(|(name, ignored)| name.contains("system: refreshed") && *ignored),
        "{system:?}"
    );
    assert!(
        system
            .iter()
            .any(|(name, ignored)| !name.contains("refreshed") && !*ignored),
        "{system:?}"
    );
    // Nothing else is rerun.
    let ignored = definition
        .metadata
        .values()
        .filter(|m| m.ignore_cache)
        .count();
    assert_eq!(ignored, 1);

    // `venv` selects the venv's steps by name.
    let handle = run(
        fake_with_spec(&spec),
        &options(&["filename=pybase.yaml", "no-cache=venv"]),
    )
    .await;
    returned_config(&handle);
    let definition = build_definition(&handle);
    let ignored: Vec<&String> = definition
        .metadata
        .values()
        .filter(|m| m.ignore_cache)
        .filter_map(|m| m.description.get("llb.customname"))
        .collect();
    assert!(!ignored.is_empty());
    assert!(
        ignored.iter().all(|n| n.contains("] venv")
            || n.contains("] wheels")
            || n.contains("] fetch")
            || n.contains("] build ")),
        "{ignored:?}"
    );

    let handle = run(
        fake_with_spec(&spec),
        &options(&["filename=pybase.yaml", "no-cache=sytem"]),
    )
    .await;
    let error = returned_error(&handle);
    assert!(
        error.message.contains("--no-cache-filter sytem")
            && error.message.contains("system, builder, venv, code")
            && error.message.contains("inventory"),
        "{}",
        error.message
    );
    // Nothing was built: no solve ran a step (the spec was read).
    assert!(
        handle
            .solves()
            .iter()
            .filter_map(|s| s.definition.as_ref())
            .all(|d| named_execs(d).is_empty())
    );
}

/// A secret env entry of an exec: variable, secret id, optional.
type SecretEnvEntry = (String, String, bool);

fn private_index_fake() -> FakeBridge {
    fixture_fake(
        "private-index",
        &[
            "pyproject.toml",
            "uv.lock",
            "src/private_app/__init__.py",
            "src/private_app/cli.py",
        ],
    )
}

#[tokio::test]
async fn the_venv_of_a_project_with_a_named_index_gets_its_credentials_as_optional_secret_env() {
    let secret_env = |handle: &FakeHandle| -> Vec<(String, Vec<SecretEnvEntry>)> {
        named_execs(&build_definition(handle))
            .into_iter()
            .filter(|(_, exec)| !exec.secretenv.is_empty())
            .map(|(name, exec)| {
                let env = exec
                    .secretenv
                    .into_iter()
                    .map(|s| (s.name, s.id, s.optional))
                    .collect();
                (name, env)
            })
            .collect()
    };
    let handle = run(
        private_index_fake().with_llb_caps(&[("exec.secretenv", true)]),
        &options(&["filename=pybase.yaml"]),
    )
    .await;
    returned_config(&handle);
    let with = secret_env(&handle);
    assert_eq!(with.len(), 1, "the venv step alone: {with:?}");
    assert!(with[0].0.contains("] venv: "), "{with:?}");
    let expected: Vec<SecretEnvEntry> = ["UV_INDEX_PRIVATE_USERNAME", "UV_INDEX_PRIVATE_PASSWORD"]
        .iter()
        .map(|v| ((*v).to_owned(), (*v).to_owned(), true))
        .collect();
    assert_eq!(with[0].1, expected);
    // A BuildKit without secret env: none, and the build still plans (the
    // netrc secret works there).
    let handle = run(private_index_fake(), &options(&["filename=pybase.yaml"])).await;
    returned_config(&handle);
    assert!(secret_env(&handle).is_empty());
    // A project without a named index: none.
    let spec = fixture_file("pybase.yaml");
    let handle = run(
        fake_with_spec(&spec).with_llb_caps(&[("exec.secretenv", true)]),
        &options(&["filename=pybase.yaml"]),
    )
    .await;
    returned_config(&handle);
    assert!(secret_env(&handle).is_empty());
}

/// dpkg's status of the built image: the runtime package installed; the
/// builder's gcc is in another image.
const BUILT_STATUS: &str = "Package: libpq5\nStatus: install ok installed\n\
    Architecture: amd64\nVersion: 15.10-0+deb12u1\n\n\
    Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2.36-9\n";

/// What the attestation `attestation` holds: the file its ref's single
/// `mkfile` writes, as JSON.
fn attested_document(handle: &FakeHandle, attestation: &gw::Attestation) -> Value {
    let id = &attestation.r#ref.as_ref().expect("a ref").id;
    let solve = handle
        .solve_for_ref(id)
        .expect("the attestation's ref was solved");
    let definition = solve.definition.expect("a definition");
    let data = FakeHandle::definition_ops(&definition)
        .into_iter()
        .find_map(|(_, op)| match op.op {
            Some(pb::op::Op::File(file)) => file.actions.into_iter().find_map(|a| match a.action {
                Some(pb::file_action::Action::Mkfile(mkfile)) => Some((mkfile.path, mkfile.data)),
                _ => None,
            }),
            _ => None,
        })
        .expect("a mkfile");
    assert_eq!(data.0, attestation.path);
    serde_json::from_slice(&data.1).expect("SPDX JSON")
}

#[tokio::test]
async fn sbom_true_attaches_pybases_spdx_document_to_the_image() {
    let spec = fixture_file("pybase.yaml");
    let fake = fake_with_spec(&spec).with_built_files(files(&[
        ("var/lib/dpkg/status", BUILT_STATUS.as_bytes().to_vec()),
        // A distroless-style package file, and its checksums beside it.
        (
            "var/lib/dpkg/status.d/libssl3",
            b"Package: libssl3\nArchitecture: amd64\nVersion: 3.0.15-1\n".to_vec(),
        ),
        (
            "var/lib/dpkg/status.d/libssl3.md5sums",
            b"0123456789abcdef  usr/lib/libssl.so.3\n".to_vec(),
        ),
        (
            "usr/lib/os-release",
            b"ID=debian\nVERSION_ID=\"12\"\n".to_vec(),
        ),
    ]));
    let handle = run(
        fake,
        &options(&[
            "filename=pybase.yaml",
            "attest:sbom=",
            "build-arg:SOURCE_DATE_EPOCH=1700000000",
        ]),
    )
    .await;
    let result = handle.returned().and_then(|r| r.result).expect("a result");
    assert!(matches!(result.result, Some(gw::result::Result::Ref(_))));
    // One platform, listed so that the exporter finds the attestation under
    // its id.
    let platforms: Value =
        serde_json::from_slice(&result.metadata["refs.platforms"]).expect("JSON");
    assert_eq!(
        platforms,
        json!({"Platforms": [
            {"ID": "linux/amd64", "Platform": {"os": "linux", "architecture": "amd64"}},
        ]})
    );
    assert_eq!(result.attestations.len(), 1);
    let attestations = &result.attestations["linux/amd64"].attestation;
    let [attestation] = attestations.as_slice() else {
        panic!("one attestation, not {attestations:?}");
    };
    assert_eq!(attestation.kind, gw::AttestationKind::InToto as i32);
    assert_eq!(attestation.path, "/sbom.spdx.json");
    assert_eq!(
        attestation.in_toto_predicate_type,
        "https://spdx.dev/Document"
    );
    assert_eq!(attestation.metadata["reason"], b"sbom");
    assert_eq!(attestation.metadata["sbom-core"], b"sbom");
    assert!(attestation.in_toto_subjects.is_empty(), "the image itself");

    let document = attested_document(&handle, attestation);
    assert_eq!(document["spdxVersion"], json!("SPDX-2.3"));
    assert_eq!(
        document["creationInfo"]["created"],
        json!("2023-11-14T22:13:20Z")
    );
    let purls: Vec<&str> = document["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .filter_map(|p| p["externalRefs"][0]["referenceLocator"].as_str())
        .collect();
    for purl in [
        "pkg:pypi/psycopg2@2.9.10",
        "pkg:pypi/six@1.17.0",
        "pkg:pypi/inventory@0.1.0",
        "pkg:deb/debian/libpq5@15.10-0%2Bdeb12u1?arch=amd64&distro=debian-12",
        "pkg:deb/debian/libssl3@3.0.15-1?arch=amd64&distro=debian-12",
    ] {
        assert!(purls.contains(&purl), "{purl} missing from {purls:?}");
    }
    // The dev group's package is in the lock, not in the image.
    assert!(String::from_utf8_lossy(&fixture_file("uv.lock")).contains("name = \"iniconfig\""));
    assert!(!purls.iter().any(|p| p.contains("iniconfig")), "{purls:?}");
    // Of status.d, the package file was read, its checksums were not.
    let read: Vec<String> = handle.read_files().into_iter().map(|(_, p)| p).collect();
    assert!(read.contains(&"/var/lib/dpkg/status.d/libssl3".to_owned()));
    assert!(!read.iter().any(|p| p.ends_with(".md5sums")), "{read:?}");
    // os-release was read where os-release(5) says to look second.
    assert!(read.contains(&"/etc/os-release".to_owned()));
    assert!(read.contains(&"/usr/lib/os-release".to_owned()));
}

#[tokio::test]
async fn without_sbom_or_with_a_named_scanner_the_result_has_no_attestation() {
    let spec = fixture_file("pybase.yaml");
    for extra in [
        None,
        Some("attest:sbom=generator=docker/buildkit-syft-scanner"),
    ] {
        let mut pairs = vec!["filename=pybase.yaml"];
        pairs.extend(extra);
        let handle = run(fake_with_spec(&spec), &options(&pairs)).await;
        let result = handle.returned().and_then(|r| r.result).expect("a result");
        assert!(result.attestations.is_empty(), "{extra:?}");
        assert!(!result.metadata.contains_key("refs.platforms"), "{extra:?}");
    }
}

#[tokio::test]
async fn each_platform_of_a_multi_platform_build_gets_its_own_sbom() {
    let spec = fixture_file("pybase.yaml");
    let fake = fake_with_index(&spec).with_built_files(files(&[(
        "var/lib/dpkg/status",
        BUILT_STATUS.as_bytes().to_vec(),
    )]));
    let handle = run(
        fake,
        &options(&[
            "filename=pybase.yaml",
            "platform=linux/arm64,linux/amd64",
            "attest:sbom=",
        ]),
    )
    .await;
    let result = handle.returned().and_then(|r| r.result).expect("a result");
    let mut keys: Vec<&String> = result.attestations.keys().collect();
    keys.sort();
    assert_eq!(keys, ["linux/amd64", "linux/arm64"]);
    let Some(gw::result::Result::Refs(refs)) = &result.result else {
        panic!("a map of refs");
    };
    for (key, attestations) in &result.attestations {
        assert!(refs.refs.contains_key(key), "{key} is a ref's key");
        let document = attested_document(&handle, &attestations.attestation[0]);
        let image = &document["packages"][0];
        assert_eq!(
            image["comment"],
            json!(format!("the image built by pybase for {key}"))
        );
    }
}
