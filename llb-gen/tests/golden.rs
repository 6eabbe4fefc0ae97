//! Golden snapshots of the LLB emitted for the fixture services (one alone,
//! and two on a chain of tiers), decoded to JSON (`testdata/golden/`), and
//! the determinism and sharing they rely on.

use llb_gen::llb::Platform;
use llb_gen::llb::marshal::ServerCaps;
use llb_gen::lock::includes::{IncludedFiles, wanted_includes};
use llb_gen::plan::{
    self, BaseImage, Build, BuildInputs, LockJob, LockOptions, Locker, LockerFiles, ProjectFacts,
    Provenance, Target, TargetImages,
};
use llb_gen::project::{ProjectFiles, ProjectInfo};
use llb_gen::spec::Spec;
use prost::Message;
use serde_json::{Value, json};

const SPEC: &str = include_str!("../../testdata/projects/inventory/pybase.yaml");
const TIERED_SPEC: &str = include_str!("../../testdata/projects/tiered/pybase.yaml");

fn amd64() -> Platform {
    Platform {
        os: "linux".into(),
        architecture: "amd64".into(),
        variant: String::new(),
    }
}

/// Every cap the plan may use, enabled; MergeOp as given.
fn caps(mergeop: bool) -> ServerCaps {
    let mut caps: ServerCaps = [
        "source.image",
        "source.local",
        "source.local.sessionid",
        "source.local.includepatterns",
        "source.local.excludepatterns",
        "source.local.followpaths",
        "source.local.sharedkeyhint",
        "source.http",
        "source.http.checksum",
        "exec.meta.base",
        "exec.meta.network",
        "exec.mount.bind",
        "exec.mount.selector",
        "exec.mount.cache",
        "exec.mount.cache.sharing",
        "exec.mount.secret",
        "exec.mount.ssh",
        "exec.secretenv",
        "file.base",
    ]
    .into_iter()
    .map(|c| (c.to_owned(), Ok(())))
    .collect();
    caps.insert(
        "mergeop".into(),
        if mergeop {
            Ok(())
        } else {
            Err("only enabled with containerd image store backend".into())
        },
    );
    caps
}

/// The fixture projects, each a build context (`testdata/projects/<dir>/`).
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/projects");
/// The fixture of [`SPEC`].
const INVENTORY: &str = "inventory";
/// The fixture of [`TIERED_SPEC`].
const TIERED: &str = "tiered";
/// An application: code and a requirements.txt, no pyproject.toml.
const PLAIN_APP: &str = "plain-app";
const SETUP_PY: &str = "setup-py";
const SETUP_PY_SPEC: &str = include_str!("../../testdata/projects/setup-py/pybase.yaml");
const PLAIN_APP_SPEC: &str = include_str!("../../testdata/projects/plain-app/pybase.yaml");

fn build(target: &str, mergeop: bool) -> Build {
    build_from(INVENTORY, SPEC, target, mergeop)
}

/// The build of `target` of `spec_text`, whose context is the fixture
/// `fixture`, with the facts the frontend learns of its files.
fn build_from(fixture: &str, spec_text: &str, target: &str, mergeop: bool) -> Build {
    build_with_facts(fixture, spec_text, target, mergeop, &|_, facts| facts)
}

/// The files of every project `target` stacks, read from the fixture's
/// directory as the CLI reads them from its context, checked by
/// [`llb_gen::project::check_stack`] as the frontend checks them.
fn checked_stack<'a>(
    fixture: &str,
    spec: &Spec,
    target: &Target<'a>,
) -> (Vec<ProjectFiles<'a>>, Vec<ProjectInfo>) {
    checked_stack_in(&Context::of(fixture), spec, target)
}

/// A fixture as a build context, with some of its files replaced.
struct Context<'a> {
    /// The fixture's directory in `testdata/projects/`.
    fixture: &'a str,
    /// Context paths whose content is a file of `testdata/locks/` instead
    /// (`None`: the context lacks them).
    replaced: &'a [(&'a str, Option<&'a str>)],
}

impl<'a> Context<'a> {
    /// The fixture `fixture` as it is.
    fn of(fixture: &'a str) -> Self {
        Self {
            fixture,
            replaced: &[],
        }
    }

    /// The content of the context path `path` (`None`: missing).
    fn read(&self, path: &str) -> Option<Vec<u8>> {
        match self.replaced.iter().find(|(replaced, _)| *replaced == path) {
            Some((_, Some(lock))) => std::fs::read(format!("{FIXTURES}/../locks/{lock}")).ok(),
            Some((_, None)) => None,
            None => std::fs::read(format!("{FIXTURES}/{}/{path}", self.fixture)).ok(),
        }
    }
}

/// [`checked_stack`] of the fixture `context`, with its files replaced.
fn checked_stack_in<'a>(
    context: &Context<'_>,
    spec: &Spec,
    target: &Target<'a>,
) -> (Vec<ProjectFiles<'a>>, Vec<ProjectInfo>) {
    let read = |path: &str| context.read(path);
    let stack: Vec<ProjectFiles<'a>> = target
        .projects()
        .into_iter()
        .map(|project| {
            let [pyproject, lock, poetry, pylock, requirements] = plan::lock_inputs(&project);
            let setup_files = llb_gen::files::SETUP_FILES
                .iter()
                .any(|file| read(&project.path(file)).is_some());
            let mut files = ProjectFiles {
                pyproject: read(&pyproject),
                lock: read(&lock),
                poetry: read(&poetry),
                pylock: read(&pylock),
                requirements: read(&requirements),
                setup_files,
                ..ProjectFiles::new(project)
            };
            if files.wants_other_locks() {
                let [pdm, pipfile_lock, pipfile] = plan::other_lock_inputs(&files.project);
                files.pdm = read(&pdm);
                files.pipfile_lock = read(&pipfile_lock);
                files.pipfile = read(&pipfile);
            }
            let included = files.read_includes(|path| Ok::<_, ()>(read(path)));
            included.expect("reading from disk");
            let workspace = files.read_workspace(|path| Ok::<_, ()>(read(path)));
            workspace.expect("reading from disk");
            let path_dependencies = files.read_path_dependencies(|path| Ok::<_, ()>(read(path)));
            path_dependencies.expect("reading from disk");
            files
        })
        .collect();
    let infos =
        llb_gen::project::check_stack(&spec.file, &stack).expect("the fixture's projects check");
    (stack, infos)
}

/// [`build_from`], with `facts(project dir, its facts)` instead of each
/// project's facts: for the tests about one fact that no fixture has.
fn build_with_facts(
    fixture: &str,
    spec_text: &str,
    target: &str,
    mergeop: bool,
    facts: &dyn Fn(&str, ProjectFacts) -> ProjectFacts,
) -> Build {
    build_in(&Context::of(fixture), spec_text, target, mergeop, facts)
}

/// [`build_with_facts`] in the fixture `context`, with its files replaced.
fn build_in(
    context: &Context<'_>,
    spec_text: &str,
    target: &str,
    mergeop: bool,
    facts: &dyn Fn(&str, ProjectFacts) -> ProjectFacts,
) -> Build {
    build_in_refreshed(context, spec_text, target, (mergeop, false), facts)
}

/// [`build_in`], with the system steps refreshed (`--no-cache-filter
/// system`) when `refresh`.
fn build_in_refreshed(
    context: &Context<'_>,
    spec_text: &str,
    target: &str,
    (mergeop, refresh): (bool, bool),
    facts: &dyn Fn(&str, ProjectFacts) -> ProjectFacts,
) -> Build {
    let fixture = context.fixture;
    let spec = llb_gen::spec::parse("pybase.yaml", spec_text.as_bytes())
        .expect("the fixture spec is valid");
    let target = plan::select_target(&spec, Some(target)).expect("known target");
    let caps = caps(mergeop);
    let (stack, infos) = checked_stack_in(context, &spec, &target);
    let images = TargetImages {
        platform: amd64(),
        base: BaseImage {
            reference: "docker.io/library/python:3.12-slim@sha256:0000000000000000000000000000000000000000000000000000000000000001".into(),
            digest: Some("sha256:0000000000000000000000000000000000000000000000000000000000000001".into()),
            config: json!({"architecture": "amd64", "os": "linux", "config": {"Env": ["PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8"], "Cmd": ["python3"]}}),
            facts: Default::default(),
            store: Default::default(),
        },
        builder: target
            .build_image()
            .map(|(image, _)| BaseImage::unresolved(image, &amd64())),
    };
    let inputs = BuildInputs::new(
        "session-1",
        &spec.file,
        spec_text.as_bytes(),
        &target,
        &stack,
        &infos,
        images,
    )
    .expect("the fixture's version is known");
    let projects = inputs
        .projects
        .iter()
        .map(|(dir, real)| (dir.clone(), facts(dir, real.clone())))
        .collect();
    let ignored =
        std::fs::read_to_string(format!("{FIXTURES}/{fixture}/{}", plan::DOCKERIGNORE_FILE))
            .map(|text| plan::dockerignore_patterns(&text))
            .unwrap_or_default();
    plan::build(
        &target,
        &BuildInputs {
            caps: Some(&caps),
            prefer_mergeop: true,
            labels: vec![("team".into(), "inventory".into())],
            ignored,
            provenance: Provenance {
                revision: Some("0123456789abcdef0123456789abcdef01234567".into()),
                source: Some("https://example.com/team/inventory.git".into()),
                source_date_epoch: Some(1_700_000_000),
                ..inputs.provenance.clone()
            },
            projects,
            refresh_system: refresh,
            ..inputs
        },
    )
    .expect("the fixture builds")
}

fn golden(name: &str, build: &Build) {
    let described = llb_gen::describe::describe(&build.definition).expect("decodable");
    insta::with_settings!({snapshot_path => "../../testdata/golden", prepend_module_to_snapshot => false}, {
        insta::assert_json_snapshot!(name, json!({"config": build.config, "llb": described}));
    });
}

#[test]
fn service_image_with_copies() {
    let build = build("inventory", false);
    assert!(!build.uses_merge);
    golden("inventory-copy", &build);
}

#[test]
fn service_image_with_mergeop() {
    let build = build("inventory", true);
    assert!(build.uses_merge);
    golden("inventory-mergeop", &build);
}

#[test]
fn service_image_from_a_pdm_lock() {
    // The inventory project with PDM's lock of its dependency set (written
    // by `pdm lock`, testdata/locks/README.md) in place of uv.lock: its
    // default group translated into one requirements file with every hash,
    // a file of the LLB, installed as Poetry's translation is.
    let context = Context {
        fixture: INVENTORY,
        replaced: &[("uv.lock", None), ("pdm.lock", Some("inventory-pdm.lock"))],
    };
    let build = build_in(&context, SPEC, "inventory", true, &|_, facts| facts);
    let described = llb_gen::describe::describe(&build.definition).expect("decodable");
    let text = described.to_string();
    assert!(text.contains("pybase-pdm-requirements.txt"), "{text}");
    // Its default group: psycopg2 and six, not the dev group's iniconfig.
    assert!(text.contains("venv: 2 packages from pdm.lock"), "{text}");
    golden("inventory-pdm", &build);
}

#[test]
fn service_image_from_a_pipfile_lock() {
    // The inventory project with Pipenv's lock of its dependency set and
    // its Pipfile (written by `pipenv lock`, testdata/locks/README.md) in
    // place of uv.lock: its `default` section translated into one
    // requirements file with every hash (its one source is PyPI), a file
    // of the LLB, installed as Poetry's translation is.
    let context = Context {
        fixture: INVENTORY,
        replaced: &[
            ("uv.lock", None),
            ("Pipfile.lock", Some("inventory-Pipfile.lock")),
            ("Pipfile", Some("inventory-Pipfile")),
        ],
    };
    let build = build_in(&context, SPEC, "inventory", true, &|_, facts| facts);
    let described = llb_gen::describe::describe(&build.definition).expect("decodable");
    let text = described.to_string();
    assert!(text.contains("pybase-pipfile-requirements.txt"), "{text}");
    // Its default section: psycopg2 and six, not develop's iniconfig.
    assert!(
        text.contains("venv: 2 packages from Pipfile.lock"),
        "{text}"
    );
    golden("inventory-pipfile", &build);
}

#[test]
fn base_target_has_no_code_stage() {
    let build = build("inventory-base", false);
    let described = llb_gen::describe::describe(&build.definition)
        .expect("decodable")
        .to_string();
    // The fixture's packages are on PyPI: BuildKit fetches them, and the
    // venv installs them with the network off.
    assert!(
        described.contains("[inventory] venv: 2 packages from uv.lock, 1 fetched wheel and 1 built sdist, network off"),
        "the base target has the venv"
    );
    // (`uv pip install` is no sign of the code step: the fetched wheels
    // are installed with it too.)
    assert!(
        !described.contains("[inventory] code: "),
        "the base target must not install the project"
    );
    assert!(
        build.config["config"].get("Cmd") == Some(&json!(["python3"])),
        "the base keeps the base image's command"
    );
}

#[test]
fn same_inputs_give_the_same_bytes() {
    for mergeop in [false, true] {
        let a = build("inventory", mergeop).definition.encode_to_vec();
        let b = build("inventory", mergeop).definition.encode_to_vec();
        assert_eq!(a, b);
    }
}

#[test]
fn a_code_change_touches_no_stage_but_the_code() {
    // The venv stage's inputs (builder, lock source, uv) do not depend on the
    // code source: the only op mounting the whole project is the code stage.
    let build = build("inventory", false);
    let described = llb_gen::describe::describe(&build.definition).expect("decodable");
    let ops = described["ops"].as_array().expect("ops");
    let code_source = ops
        .iter()
        .position(|op| op["op"]["attrs"]["local.sharedkeyhint"] == json!("pybase-code:"))
        .expect("a code source");
    let users: Vec<&str> = ops
        .iter()
        .filter(|op| {
            op["inputs"].as_array().is_some_and(|i| {
                i.iter().any(|i| {
                    i.as_str()
                        .is_some_and(|s| s.starts_with(&format!("#{code_source}[")))
                })
            })
        })
        .filter_map(|op| op["name"].as_str())
        .collect();
    assert_eq!(
        users,
        ["[inventory] code: install the project without dependencies"]
    );
}

/// The names of the ops the op named `name` depends on, transitively.
fn ancestors(described: &serde_json::Value, name: &str) -> Vec<String> {
    let ops = described["ops"].as_array().expect("ops");
    let start = ops
        .iter()
        .position(|op| op["name"] == json!(name))
        .unwrap_or_else(|| panic!("no op named {name}"));
    let mut seen = std::collections::BTreeSet::new();
    let mut todo = vec![start];
    while let Some(index) = todo.pop() {
        for input in ops[index]["inputs"].as_array().into_iter().flatten() {
            let from: usize = input
                .as_str()
                .and_then(|i| i.trim_start_matches('#').split('[').next())
                .and_then(|n| n.parse().ok())
                .expect("an input names an op");
            if seen.insert(from) {
                todo.push(from);
            }
        }
    }
    seen.into_iter()
        .filter_map(|i| ops[i]["name"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn a_lock_change_touches_no_stage_but_the_venv() {
    // The code step runs without the service's own venv (making an empty
    // one, or installing into the tier's): neither the service's lock nor
    // its venv is among its inputs, so a lock bump leaves it cached.
    for mergeop in [false, true] {
        let described = llb_gen::describe::describe(&build("inventory", mergeop).definition)
            .expect("decodable");
        let names = ancestors(
            &described,
            "[inventory] code: install the project without dependencies",
        );
        assert!(
            names
                .iter()
                .any(|n| n == "[inventory] system: libpq5 + user app (1000)")
        );
        assert!(
            !names.iter().any(|n| n.starts_with("[inventory] venv: ")
                || n.starts_with("[inventory] load pyproject.toml")),
            "{names:?}"
        );
        // The code step builds in the backend's environment, made from the
        // system stage alone: neither the lock nor the code reruns it.
        assert!(
            names
                .iter()
                .any(|n| n == "[inventory] code: build backend hatchling==1.27.0")
        );
        let backend = ancestors(
            &described,
            "[inventory] code: build backend hatchling==1.27.0",
        );
        assert!(
            !backend
                .iter()
                .any(|n| n.starts_with("[inventory] venv: ") || n.starts_with("[inventory] load ")),
            "{backend:?}"
        );
    }
    // On a tier, the code installs into the tier's venv, and never sees the
    // files the service's sync adds to it.
    let described =
        llb_gen::describe::describe(&build_from(TIERED, TIERED_SPEC, "orders", true).definition)
            .expect("decodable");
    let names = ancestors(
        &described,
        "[orders] code: install the project without dependencies",
    );
    assert!(names.iter().any(|n| n.starts_with("[python-web] venv: ")));
    assert!(
        !names
            .iter()
            .any(|n| n.starts_with("[orders] venv: ")
                || n.starts_with("[orders] load pyproject.toml")),
        "{names:?}"
    );
}

/// The names of the ops the code step of the service `service` reads (its
/// build backend's step and what that reads among them), in `build`.
fn code_and_backend_ancestors(build: &Build, service: &str) -> Vec<String> {
    let described = llb_gen::describe::describe(&build.definition).expect("decodable");
    ancestors(
        &described,
        &format!("[{service}] code: install the project without dependencies"),
    )
}

#[test]
fn a_project_built_from_python_files_alone_is_installed_without_the_builder() {
    // inventory's backend is hatchling without a build hook: its code step
    // and its backend's run on the system stage, so a code change never
    // needs the builder's layers (gcc and libpq-dev are for psycopg2's
    // sdist, a dependency).
    for mergeop in [false, true] {
        let names = code_and_backend_ancestors(&build("inventory", mergeop), "inventory");
        assert!(
            names
                .iter()
                .any(|n| n == "[inventory] system: libpq5 + user app (1000)"),
            "{names:?}"
        );
        assert!(
            !names.iter().any(|n| n.starts_with("[inventory] builder: ")),
            "{names:?}"
        );
        // The twin: a backend that may compile (here as a fact: setuptools,
        // pdm-backend, a hatchling build hook, maturin) installs in the
        // builder, with its build packages.
        let compiled = build_with_facts(INVENTORY, SPEC, "inventory", mergeop, &|_, facts| {
            ProjectFacts {
                pure_python: false,
                ..facts
            }
        });
        let names = code_and_backend_ancestors(&compiled, "inventory");
        assert!(
            names
                .iter()
                .any(|n| n == "[inventory] builder: gcc libpq-dev"),
            "{names:?}"
        );
    }
}

#[test]
fn a_service_on_a_chain_of_tiers() {
    let build = build_from(TIERED, TIERED_SPEC, "orders", true);
    golden("tiered-orders-mergeop", &build);
}

/// The digests of every op of a build.
/// The ops of a described definition whose name `wanted` accepts.
fn named_ops(described: &Value, wanted: impl Fn(&str) -> bool) -> Vec<&Value> {
    described["ops"]
        .as_array()
        .expect("ops")
        .iter()
        .filter(|op| op["name"].as_str().is_some_and(&wanted))
        .collect()
}

fn op_digests(build: &Build) -> std::collections::BTreeSet<String> {
    let described = llb_gen::describe::describe(&build.definition).expect("decodable");
    described["ops"]
        .as_array()
        .expect("ops")
        .iter()
        .filter_map(|op| op["digest"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn a_tier_is_the_same_ops_in_every_image_on_it() {
    // BuildKit solves an op once per session whatever the number of builds
    // that ask for it: a tier's ops must be byte-identical in its own
    // target and in every service on it.
    for mergeop in [false, true] {
        let base = op_digests(&build_from(TIERED, TIERED_SPEC, "python-base", mergeop));
        let web = op_digests(&build_from(TIERED, TIERED_SPEC, "python-web", mergeop));
        let orders = op_digests(&build_from(TIERED, TIERED_SPEC, "orders", mergeop));
        let billing = op_digests(&build_from(TIERED, TIERED_SPEC, "billing", mergeop));
        // The last op is the definition's terminal, which names the target.
        let without_terminal = |ops: &std::collections::BTreeSet<String>, build: Build| {
            let terminal = build
                .definition
                .def
                .last()
                .map(|bytes| llb_gen::llb::marshal::digest_of(bytes));
            ops.iter()
                .filter(|d| Some(*d) != terminal.as_ref())
                .cloned()
                .collect::<std::collections::BTreeSet<_>>()
        };
        let base = without_terminal(
            &base,
            build_from(TIERED, TIERED_SPEC, "python-base", mergeop),
        );
        let web = without_terminal(&web, build_from(TIERED, TIERED_SPEC, "python-web", mergeop));
        assert!(base.len() > 5, "python-base has its own ops: {base:?}");
        assert!(base.is_subset(&web), "python-web contains python-base");
        assert!(web.is_subset(&orders), "orders contains python-web");
        assert!(base.is_subset(&billing), "billing contains python-base");
    }
}

#[test]
fn every_cap_the_plan_uses_names_the_buildkit_release_that_has_it() {
    for (fixture, spec, target) in [
        (INVENTORY, SPEC, "inventory"),
        (TIERED, TIERED_SPEC, "orders"),
    ] {
        for mergeop in [false, true] {
            let build = build_from(fixture, spec, target, mergeop);
            let described = llb_gen::describe::describe(&build.definition).expect("decodable");
            for op in described["ops"].as_array().expect("ops") {
                for cap in op["caps"].as_array().into_iter().flatten() {
                    let cap = cap.as_str().expect("a cap id");
                    assert!(
                        llb_gen::llb::marshal::introduced_in(cap).is_some(),
                        "`{cap}` has no release in introduced_in: a missing cap's error could not name the BuildKit version"
                    );
                }
            }
        }
    }
}

#[test]
fn a_tier_image_is_labelled_with_the_digest_of_its_inputs() {
    let label = |target: &str, base_lock: &str| {
        // The digest of python-base's files as given, to show what changes
        // with it.
        let build = build_with_facts(TIERED, TIERED_SPEC, target, true, &|dir, facts| {
            ProjectFacts {
                files_digest: Some(if dir == "tiers/base" {
                    base_lock.to_owned()
                } else {
                    format!("sha256:{dir}")
                }),
                ..facts
            }
        });
        build.config["config"]["Labels"]["dev.pybase.tier.inputs-digest"].clone()
    };
    let base = label("python-base", "sha256:lock-1");
    assert!(
        base.as_str().is_some_and(|d| d.starts_with("sha256:")),
        "{base}"
    );
    assert_eq!(
        base,
        label("python-base", "sha256:lock-1"),
        "same inputs, same digest"
    );
    assert_ne!(
        base,
        label("python-base", "sha256:lock-2"),
        "a lock change shows"
    );
    let web = label("python-web", "sha256:lock-1");
    assert_ne!(base, web);
    assert_ne!(
        web,
        label("python-web", "sha256:lock-2"),
        "a tier below changed"
    );
    assert_eq!(
        label("orders", "sha256:lock-1"),
        serde_json::Value::Null,
        "services carry none"
    );
}

/// The tiered spec on a runtime base without a shell (distroless), built in
/// an image of its own: `build-from` on the chain's root, no runtime
/// packages, and a service with a user of its own.
fn copied_spec() -> String {
    TIERED_SPEC
        .replace(
            "    from: python:3.12-slim\n",
            "    from: gcr.io/distroless/python3-debian12\n    build-from: registry.example.com/debian-python:12\n",
        )
        .replace("    system:\n      runtime: [tzdata]\n", "")
        .replace(
            "    command: [orders]\n",
            "    command: [orders]\n    user: {name: orders, uid: 1001}\n",
        )
}

#[test]
fn a_base_without_a_shell_is_assembled_by_copying() {
    let spec = copied_spec();
    assert!(spec.contains("build-from:") && !spec.contains("tzdata"));
    let build = build_from(TIERED, &spec, "orders", true);
    golden("copied-orders-mergeop", &build);

    // No command runs on the runtime image: every exec op's root is the
    // build image or a state made from it, never the runtime image.
    let described = llb_gen::describe::describe(&build.definition).expect("decodable");
    let ops = described["ops"].as_array().expect("ops");
    let input_index = |input: &serde_json::Value| -> usize {
        input
            .as_str()
            .and_then(|s| s.strip_prefix('#'))
            .and_then(|s| s.split('[').next())
            .and_then(|s| s.parse().ok())
            .expect("an input `#N[..]`")
    };
    let runtime_image = ops
        .iter()
        .position(|op| {
            op["name"]
                .as_str()
                .is_some_and(|name| name.contains("base image gcr.io/distroless"))
        })
        .expect("the runtime image source");
    // Ops whose filesystem descends from the runtime image through their
    // first input (a merge's every input).
    let mut descends = vec![false; ops.len()];
    descends[runtime_image] = true;
    for (index, op) in ops.iter().enumerate() {
        let inputs = op["inputs"].as_array().cloned().unwrap_or_default();
        let merge = op["op"].get("merge").is_some();
        let roots: Vec<usize> = if merge {
            inputs.iter().map(input_index).collect()
        } else {
            inputs.first().map(input_index).into_iter().collect()
        };
        if roots.iter().any(|&i| i < index && descends[i]) {
            descends[index] = true;
            assert!(
                op["op"].get("exec").is_none(),
                "op {index} ({}) runs a command in the runtime image",
                op["name"]
            );
        }
    }
    assert!(descends.iter().filter(|d| **d).count() > 3);
}

#[test]
fn only_a_venv_with_a_git_dependency_over_ssh_gets_the_agent_and_known_hosts() {
    // python-web's lock has a git dependency over SSH; the others do not.
    // No fixture's lock has a git dependency over SSH (the one of the
    // end-to-end tests is on a server they start): the facts are written
    // here, each venv made by uv alone (a fixture's wheels on PyPI would
    // be fetched by BuildKit, in a step of their own).
    let build = build_with_facts(TIERED, TIERED_SPEC, "orders", true, &|dir, _| {
        ProjectFacts {
            venv_packages: Some(2),
            git_over_ssh: dir == "tiers/web",
            ..ProjectFacts::default()
        }
    });
    let described = llb_gen::describe::describe(&build.definition).expect("decodable");
    let venv_ops = named_ops(&described, |n| n.contains("] venv: "));
    assert_eq!(venv_ops.len(), 3, "python-base, python-web and orders");
    for op in venv_ops {
        let name = op["name"].as_str().unwrap_or_default();
        let text = op.to_string();
        let over_ssh = name.starts_with("[python-web]");
        assert_eq!(text.contains("ssh_agent"), over_ssh, "{name}: {text}");
        assert_eq!(text.contains("known_hosts"), over_ssh, "{name}: {text}");
        assert_eq!(name.contains("git over SSH"), over_ssh, "{name}");
        assert_eq!(
            text.contains("GIT_SSH_COMMAND=ssh -o BatchMode=yes -o StrictHostKeyChecking=yes"),
            over_ssh,
            "{name}"
        );
    }
}

/// Facts of a project whose packages BuildKit may fetch, written here (not
/// the fixture's) so that a test can name each file's host, hash and line: `six` (one wheel
/// for any platform) and `pyyaml` (a wheel per CPython and machine), both on
/// PyPI, unless `elsewhere` moves six's wheel to another host; with
/// `psycopg2`, also that package, which has only an sdist.
fn fetchable(elsewhere: bool, psycopg2: bool) -> ProjectFacts {
    use llb_gen::diagnostic::Position;
    use llb_gen::lock::{Artifact, ArtifactKind, Package, Source};
    // The file whose hash is all `digit`, recorded on line 10 + `digit` of
    // the lock.
    let file = |host: &str, name: &str, digit: char| {
        let url = format!("{host}packages/ab/cd/{name}");
        Artifact {
            kind: if name.ends_with(".whl") {
                ArtifactKind::Wheel(llb_gen::wheel::WheelFilename::parse(name))
            } else {
                ArtifactKind::Sdist
            },
            filename: Some(name.to_owned()),
            url: Some(url),
            sha256: Some(std::iter::repeat_n(digit, 64).collect()),
            size: None,
            at: Position {
                line: 10 + digit.to_digit(10).unwrap_or_default(),
                column: 120,
            },
        }
    };
    let six_host = if elsewhere {
        "https://pypi.example.com/"
    } else {
        "https://files.pythonhosted.org/"
    };
    let package = |name: &str, version: &str, artifacts| llb_gen::select::Selected {
        package: Package::pinned(
            name,
            Some(version.to_owned()),
            Some(Source::Registry {
                url: "https://pypi.org/simple".to_owned(),
            }),
            None,
            artifacts,
            Position::START,
        ),
        needed_when: pep508_rs::MarkerTree::TRUE,
    };
    let mut packages = vec![
        package(
            "six",
            "1.17.0",
            vec![file(six_host, "six-1.17.0-py2.py3-none-any.whl", '1')],
        ),
        package(
            "pyyaml",
            "6.0.2",
            vec![
                file(
                    "https://files.pythonhosted.org/",
                    "PyYAML-6.0.2-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
                    '2',
                ),
                file(
                    "https://files.pythonhosted.org/",
                    "PyYAML-6.0.2-cp311-cp311-manylinux_2_17_aarch64.manylinux2014_aarch64.whl",
                    '3',
                ),
                file(
                    "https://files.pythonhosted.org/",
                    "PyYAML-6.0.2-cp311-cp311-macosx_11_0_arm64.whl",
                    '4',
                ),
            ],
        ),
    ];
    if psycopg2 {
        packages.push(package(
            "psycopg2",
            "2.9.10",
            vec![file(
                "https://files.pythonhosted.org/",
                "psycopg2-2.9.10.tar.gz",
                '5',
            )],
        ));
    }
    ProjectFacts {
        venv_packages: Some(packages.len()),
        selection: llb_gen::select::Selection::of(llb_gen::lock::LockKind::Uv, "uv.lock", packages),
        fetching: llb_gen::artifacts::Fetching::WheelsAndSdists,
        ..ProjectFacts::default()
    }
}

#[test]
fn wheels_on_pypi_are_fetched_by_buildkit_and_installed_with_the_network_off() {
    let build = build_with_facts(INVENTORY, SPEC, "inventory", true, &|_, _| {
        fetchable(false, false)
    });
    let described = llb_gen::describe::describe(&build.definition).expect("decodable");
    let ops = described["ops"].as_array().expect("ops");
    let named = |prefix: &str| -> Vec<&serde_json::Value> {
        ops.iter()
            .filter(|op| op["name"].as_str().is_some_and(|n| n.starts_with(prefix)))
            .collect()
    };
    // The two wheels that fit linux/amd64, each a checksummed source.
    let fetches: Vec<String> = named("[inventory] fetch ")
        .iter()
        .map(|op| op["op"].to_string())
        .collect();
    assert_eq!(fetches.len(), 2, "{fetches:#?}");
    assert!(
        fetches
            .iter()
            .any(|f| f.contains("six-1.17.0-py2.py3-none-any.whl")
                && f.contains(&format!("sha256:{}", "1".repeat(64))))
    );
    assert!(fetches.iter().any(|f| f.contains("manylinux_2_17_x86_64")));
    // The lock is exported (with the network), then installed without it.
    assert_eq!(
        named("[inventory] venv: uv.lock as requirements with hashes").len(),
        1
    );
    let install = named("[inventory] venv: 2 packages from uv.lock, 2 fetched wheels, network off");
    assert_eq!(install.len(), 1);
    let install = install[0]["op"].to_string();
    assert!(install.contains("\"network\":\"none\""), "{install}");
    assert!(
        install.contains("/pybase/wheels")
            && install.contains("\"/pybase-scripts/venv-wheelhouse.sh\""),
        "{install}"
    );

    // A wheel elsewhere than on PyPI: uv downloads, as before.
    let build = build_with_facts(INVENTORY, SPEC, "inventory", true, &|_, _| {
        fetchable(true, false)
    });
    let described = llb_gen::describe::describe(&build.definition).expect("decodable");
    let text = described.to_string();
    assert!(!text.contains("] fetch "), "nothing fetched");
    assert!(text.contains("\"/pybase-scripts/venv-uv-sync.sh\""));
}

#[test]
fn an_sdist_is_fetched_and_built_alone_and_the_install_stays_offline() {
    let build = build_with_facts(INVENTORY, SPEC, "inventory", true, &|_, _| {
        fetchable(false, true)
    });
    let described = llb_gen::describe::describe(&build.definition).expect("decodable");
    let ops = described["ops"].as_array().expect("ops");
    let op_named = |name: &str| -> String {
        let found: Vec<&serde_json::Value> = ops.iter().filter(|op| op["name"] == name).collect();
        assert_eq!(found.len(), 1, "one op named {name:?}");
        found[0]["op"].to_string()
    };
    // The sdist is a checksummed source, built by a step of its own with
    // the network (for its build requirements), in the builder with the
    // spec's build packages, and from nothing the project holds: a lock
    // bump of another package leaves it cached.
    let fetch =
        op_named("[inventory] fetch psycopg2-2.9.10.tar.gz (sha256 555555555555, uv.lock:15:120)");
    assert!(
        fetch.contains(&format!("sha256:{}", "5".repeat(64))),
        "{fetch}"
    );
    let step = "[inventory] build psycopg2 2.9.10 from its sdist";
    let build_op = op_named(step);
    assert!(!build_op.contains("\"network\":\"none\""), "{build_op}");
    assert!(
        build_op.contains("\"/pybase-scripts/sdist-build.sh\",\"psycopg2-2.9.10.tar.gz\""),
        "{build_op}"
    );
    let inputs = ancestors(&described, step);
    assert!(
        inputs
            .iter()
            .any(|n| n == "[inventory] builder: gcc libpq-dev")
    );
    assert!(
        inputs
            .iter()
            .any(|n| n.starts_with("[inventory] fetch psycopg2-2.9.10.tar.gz")),
        "{inputs:?}"
    );
    assert!(
        !inputs.iter().any(|n| n.starts_with("[inventory] load ")
            || n.starts_with("[inventory] venv")
            || n.starts_with("[inventory] fetch six")),
        "{inputs:?}"
    );
    // The export leaves it out (the lock has no hash of the built wheel);
    // the install, offline, adds it by its pin from the wheelhouse.
    let export = op_named("[inventory] venv: uv.lock as requirements with hashes");
    assert!(
        export.contains("\"--no-emit-package\",\"psycopg2\""),
        "{export}"
    );
    let install = op_named(
        "[inventory] venv: 3 packages from uv.lock, 2 fetched wheels and 1 built sdist, network off, in 4 layers",
    );
    assert!(install.contains("\"network\":\"none\""), "{install}");
    assert!(install.contains("\"psycopg2==2.9.10\""), "{install}");
    let install_inputs = ancestors(
        &described,
        "[inventory] venv: 3 packages from uv.lock, 2 fetched wheels and 1 built sdist, network off, in 4 layers",
    );
    assert!(
        install_inputs.iter().any(|n| n == step),
        "{install_inputs:?}"
    );

    // A pylock.toml takes the same path, but uv cannot export it: pybase
    // writes its requirements (their text: a unit test in requirements.rs),
    // a file of the LLB, not a step.
    let build = build_with_facts(INVENTORY, SPEC, "inventory", true, &|_, _| ProjectFacts {
        lock: llb_gen::project::LockKind::Pylock,
        ..fetchable(false, true)
    });
    let described = llb_gen::describe::describe(&build.definition).expect("decodable");
    let ops = described["ops"].as_array().expect("ops");
    let named = |name: &str| -> Vec<String> {
        ops.iter()
            .filter(|op| op["name"] == name)
            .map(|op| op["op"].to_string())
            .collect()
    };
    let requirements = named("[inventory] venv: pylock.toml as requirements with hashes");
    assert_eq!(requirements.len(), 1, "{requirements:?}");
    assert!(
        requirements[0].contains("mkfile") && !requirements[0].contains("\"exec\""),
        "{}",
        requirements[0]
    );
    let install = named(
        "[inventory] venv: 3 packages from pylock.toml, 2 fetched wheels and 1 built sdist, network off, in 4 layers",
    );
    assert_eq!(install.len(), 1);
    assert!(
        install[0].contains("\"psycopg2==2.9.10\""),
        "{}",
        install[0]
    );
}

#[test]
fn on_a_tier_the_built_sdist_is_added_to_the_tiers_venv_offline() {
    // The service's venv is a delta on the tier's: its install reads the
    // same wheelhouse and adds the package built from its sdist by its pin.
    let build = build_with_facts(TIERED, TIERED_SPEC, "orders", true, &|dir, _| {
        if dir == "services/orders" {
            fetchable(false, true)
        } else {
            ProjectFacts::default()
        }
    });
    let described = llb_gen::describe::describe(&build.definition).expect("decodable");
    let step = "[orders] venv: 3 packages from services/orders/uv.lock, adding what the tier lacks, 2 fetched wheels and 1 built sdist, network off, in 4 layers";
    let delta: Vec<String> = described["ops"]
        .as_array()
        .expect("ops")
        .iter()
        .filter(|op| op["name"] == step)
        .map(|op| op["op"].to_string())
        .collect();
    assert_eq!(delta.len(), 1);
    assert!(delta[0].contains("\"network\":\"none\""), "{}", delta[0]);
    assert!(delta[0].contains("\"psycopg2==2.9.10\""), "{}", delta[0]);
    let inputs = ancestors(&described, step);
    assert!(
        inputs
            .iter()
            .any(|n| n == "[orders] build psycopg2 2.9.10 from its sdist"),
        "{inputs:?}"
    );
    assert!(
        inputs.iter().any(|n| n.starts_with("[python-web] venv: ")),
        "{inputs:?}"
    );
}

#[test]
fn a_poetry_lock_is_installed_one_index_at_a_time() {
    // poetry.lock's translation is one requirements lock per package index
    // (their text: unit tests in poetry.rs). Each is a file of the LLB, and
    // the venv (or the delta on a tier's) installs them in turn, each after
    // its index (empty: the default) and with `--no-deps`: no package is
    // looked up on another file's index. The translation is written here:
    // no fixture project has a poetry.lock, and its text is not what this
    // test is about.
    use llb_gen::poetry::IndexRequirements;
    let poetry = |_: &str, _| ProjectFacts {
        lock: llb_gen::project::LockKind::Poetry,
        translated_locks: vec![
            IndexRequirements {
                index: None,
                text: "b==2.0 --hash=sha256:bbbb\n".to_owned(),
            },
            IndexRequirements {
                index: Some("https://private.example/simple".to_owned()),
                text: "--index-url https://private.example/simple\na==1.0 --hash=sha256:aaaa\n"
                    .to_owned(),
            },
        ],
        ..ProjectFacts::default()
    };
    for (fixture, spec, target, dir) in [
        (INVENTORY, SPEC, "inventory", ""),
        (TIERED, TIERED_SPEC, "orders", "services/orders/"),
    ] {
        let build = build_with_facts(fixture, spec, target, false, &poetry);
        let described = llb_gen::describe::describe(&build.definition).expect("decodable");
        let ops = described["ops"].as_array().expect("ops");
        for file in [
            "pybase-poetry-requirements.txt",
            "pybase-poetry-requirements-2.txt",
        ] {
            let name = format!("[{target}] {dir}poetry.lock as requirements with hashes: {file}");
            assert!(
                ops.iter().any(|op| op["name"] == name.as_str()
                    && op["op"].to_string().contains(&format!("/{dir}{file}"))),
                "no step `{name}`"
            );
        }
        let installs: Vec<String> = ops
            .iter()
            .map(|op| op["op"].to_string())
            .filter(|op| {
                op.contains("/pybase-scripts/venv-poetry.sh")
                    || op.contains("/pybase-scripts/venv-delta-poetry.sh")
            })
            .collect();
        assert!(!installs.is_empty(), "{target}: no install of each index");
        for install in &installs {
            assert!(
                install.contains(
                    "\"\",\"pybase-poetry-requirements.txt\",\"https://private.example/simple\",\"pybase-poetry-requirements-2.txt\"]"
                ),
                "{install}"
            );
        }
    }
}

/// The fixture whose service `requirements.txt` includes shared files
/// (`-r ../requirements-base.txt`, `-c ../constraints.txt`), as seed 002.
const INCLUDES: &str = "includes";
const INCLUDES_SPEC: &str = include_str!("../../testdata/projects/includes/pybase.yaml");

#[test]
fn a_requirements_lock_with_includes_is_installed_from_its_flattened_file() {
    // The included files are read (as the CLI and the gateway read them),
    // the set pinned and hashed through the constraints, written as one
    // file of the LLB next to the lock, and installed from it alone.
    let build = build_from(INCLUDES, INCLUDES_SPEC, "api", false);
    let described = llb_gen::describe::describe(&build.definition).expect("decodable");
    let ops = described["ops"].as_array().expect("ops");
    let file_step = "[api] services/api/requirements.txt with the files it includes, every requirement pinned: pybase-requirements.txt";
    assert!(
        ops.iter().any(|op| op["name"] == file_step
            && op["op"]
                .to_string()
                .contains("/services/api/pybase-requirements.txt")),
        "no step `{file_step}`"
    );
    golden("includes-api", &build);
    // What the file holds: the three packages the requirements name, each
    // pinned and hashed by the service's line or its constraint; attrs,
    // constrained alone, is not among them.
    let spec = llb_gen::spec::parse("pybase.yaml", INCLUDES_SPEC.as_bytes()).expect("valid");
    let target = plan::select_target(&spec, Some("api")).expect("known target");
    let (_, infos) = checked_stack(INCLUDES, &spec, &target);
    let [flattened] = infos[0].translated_locks.as_slice() else {
        panic!("one flattened file");
    };
    insta::assert_snapshot!(flattened.text, @r"
    # services/api/requirements.txt with the files it includes (-r, -c), every requirement pinned: written by pybase
    six==1.17.0 \
        --hash=sha256:ff70335d468e7eb6ec65b95b99d3a2836546063f63acc5171de367e834932a81 \
        --hash=sha256:4721f391ed90541fddacab5acf947aa0d3dc7d27b2e1e8eda2be8970586c3274
    packaging==24.2 \
        --hash=sha256:c228a6dc5e932d346bc5739379109d49e8853dd8223571c7c5b55260edc0b97f \
        --hash=sha256:09abb1bccd265c01f4a3aa3f7a7db064b36514d2cba19a2f694fe6150451a759
    idna==3.10 \
        --hash=sha256:12f65c9b470abda6dc35cf8e63cc574b1c52b11df2c86030af0ac09b01b13ea9 \
        --hash=sha256:946d195a0d259cbba61165e88e65941f16e9b36ea6ddb97f00452bae8b1287d3
    ");
}

/// Each exec of `build`: its argv, and the file that the `FileOp` it
/// mounts at /pybase-scripts writes (none when it mounts no script).
fn scripts_of(build: &Build) -> Vec<(Vec<String>, Option<Vec<u8>>)> {
    use bollard_buildkit_proto::pb;
    let ops: Vec<(String, pb::Op)> = build
        .definition
        .def
        .iter()
        .map(|bytes| {
            (
                llb_gen::llb::marshal::digest_of(bytes),
                pb::Op::decode(bytes.as_slice()).expect("an op"),
            )
        })
        .collect();
    let mkfile = |digest: &str| -> Option<Vec<u8>> {
        ops.iter()
            .find(|(d, _)| d == digest)
            .and_then(|(_, op)| match &op.op {
                Some(pb::op::Op::File(file)) => match file.actions.as_slice() {
                    [action] => match &action.action {
                        Some(pb::file_action::Action::Mkfile(mkfile)) => Some(mkfile.data.clone()),
                        _ => None,
                    },
                    _ => None,
                },
                _ => None,
            })
    };
    ops.iter()
        .filter_map(|(_, op)| match &op.op {
            Some(pb::op::Op::Exec(exec)) => {
                let script = exec
                    .mounts
                    .iter()
                    .find(|m| m.dest == "/pybase-scripts")
                    .and_then(|m| usize::try_from(m.input).ok())
                    .and_then(|i| mkfile(&op.inputs[i].digest));
                Some((exec.meta.clone().unwrap_or_default().args, script))
            }
            _ => None,
        })
        .collect()
}

/// Every fixture build the golden snapshots hold.
fn golden_builds() -> Vec<Build> {
    vec![
        build("inventory", false),
        build("inventory", true),
        build_from(TIERED, TIERED_SPEC, "orders", true),
        build_from(TIERED, &copied_spec(), "orders", true),
        build_from(PLAIN_APP, PLAIN_APP_SPEC, "web", true),
        build_from(WORKSPACE, WORKSPACE_SPEC, "api", true),
        build_from(BUILD_COMMANDS, BUILD_COMMANDS_SPEC, "shop", true),
        build_from(RUST_EXT, RUST_EXT_SPEC, "adder", true),
    ]
}

#[test]
fn no_step_runs_a_script_inlined_in_its_argv() {
    // A failed step shows its argv: `/bin/sh /pybase-scripts/FILE ARGS`,
    // short and on one line, never the script's text.
    for build in golden_builds() {
        let execs = scripts_of(&build);
        assert!(execs.len() > 3);
        for (argv, _) in execs {
            assert!(!argv.iter().any(|a| a.contains('\n')), "{argv:?}");
            // A venv assembled from layers runs its step in the wrapper
            // that moves the files to their layers, itself a script file.
            let argv = match argv.iter().position(|a| a == "--") {
                Some(end) if argv[1] == "/pybase-venv-layers/venv-layers.sh" => {
                    assert_eq!(argv[0], "/bin/sh", "{argv:?}");
                    argv[end + 1..].to_vec()
                }
                _ => argv,
            };
            assert_eq!(argv[0], "/bin/sh", "{argv:?}");
            assert!(
                argv[1].starts_with("/pybase-scripts/") && argv[1].ends_with(".sh"),
                "{argv:?}"
            );
        }
    }
}

#[test]
fn the_script_a_step_runs_is_the_file_mounted_in_it() {
    // The twin of the test above: the script is the file of a `FileOp`
    // mounted at /pybase-scripts, the step's own.
    for build in golden_builds() {
        for (argv, script) in scripts_of(&build) {
            let script = String::from_utf8(script.expect("a script file")).expect("text");
            assert!(script.starts_with("set -eu\n") && script.lines().count() > 2);
            if argv[1].ends_with("/venv-uv-sync.sh") {
                assert!(script.contains("uv sync --locked"), "{script}");
            }
            if argv[1].ends_with("/apt-install.sh") {
                assert!(script.contains("apt-get install"), "{script}");
            }
        }
    }
}

#[test]
fn a_setup_py_package_without_pyproject_is_built_by_setuptools_legacy_backend() {
    let build = build_from(SETUP_PY, SETUP_PY_SPEC, "greeter", true);
    golden("setup-py-mergeop", &build);
    let text = llb_gen::describe::describe(&build.definition)
        .expect("decodable")
        .to_string();
    // The venv installs the requirements.txt lock; the code is built and
    // installed as a package (the twin of the application's copy), its
    // backend's environment made of setuptools, as PEP 517 builds a
    // project without pyproject.toml.
    assert!(
        text.contains("[greeter] venv: 1 package from requirements.txt"),
        "{text}"
    );
    assert!(text.contains("code: install the project"), "{text}");
    assert!(!text.contains("code: copy the application"), "{text}");
    assert!(text.contains("setuptools>=40.8.0"), "{text}");
}

#[test]
fn an_application_is_copied_into_the_workdir_apart_from_its_lock() {
    let build = build_from(PLAIN_APP, PLAIN_APP_SPEC, "web", true);
    golden("plain-app-mergeop", &build);
    let described = llb_gen::describe::describe(&build.definition).expect("decodable");
    let copy = "[web] code: copy the application into /app";
    // The venv installs the requirements.txt lock; nothing builds or
    // installs the code.
    let text = described.to_string();
    assert!(
        text.contains("[web] venv: 1 package from requirements.txt"),
        "{text}"
    );
    assert!(!text.contains("code: install the project"), "{text}");
    assert!(!text.contains("code: build backend"), "{text}");
    // The copy reads the build image, the code and its script alone: no
    // lock, no venv, no builder packages, so a lock change leaves it cached.
    let names = ancestors(&described, copy);
    assert!(
        !names.iter().any(|n| n.starts_with("[web] venv: ")
            || n.starts_with("[web] load pyproject.toml")
            || n.starts_with("[web] builder")),
        "{names:?}"
    );
    // Its code source leaves out the lock, and the venv's lock source is
    // not the code.
    let ops = described["ops"].as_array().expect("ops");
    let code_source = ops
        .iter()
        .find(|op| op["op"]["attrs"]["local.sharedkeyhint"] == json!("pybase-code:"))
        .expect("a code source");
    let excluded = code_source["op"]["attrs"]["local.excludepatterns"]
        .as_str()
        .expect("exclude patterns");
    assert!(excluded.contains("\"requirements.txt\""), "{excluded}");
    // The image runs the command in the workdir the code is copied to.
    assert_eq!(build.config["config"]["WorkingDir"], json!("/app"));
    assert_eq!(build.config["config"]["Cmd"], json!(["python", "app.py"]));
}

const BUILD_COMMANDS: &str = "build-commands";
const BUILD_COMMANDS_SPEC: &str =
    include_str!("../../testdata/projects/build-commands/pybase.yaml");

#[test]
fn build_commands_read_only_their_inputs_and_their_outputs_join_the_code_layer() {
    let build = build_from(BUILD_COMMANDS, BUILD_COMMANDS_SPEC, "shop", true);
    golden("build-commands-mergeop", &build);
    let described = llb_gen::describe::describe(&build.definition).expect("decodable");
    let ops = described["ops"].as_array().expect("ops");
    let node = "[shop] code: build command: node assets/build.js";
    let collectstatic = "[shop] code: build command: python manage.py collectstatic --noinput";
    // The Node step (`inputs: [assets]`, `venv: false`) reads the builder
    // with its build packages and `assets/` alone: no venv, no code, so
    // neither a lock bump nor a Python change reruns it.
    let node_inputs = ancestors(&described, node);
    assert!(
        node_inputs
            .iter()
            .any(|n| n == "[shop] load a build command's inputs")
            && node_inputs.iter().any(|n| n == "[shop] builder: nodejs"),
        "{node_inputs:?}"
    );
    assert!(
        !node_inputs.iter().any(|n| n.starts_with("[shop] venv: ")
            || n.starts_with("[shop] code: copy the application")
            || n == "[shop] load project code"),
        "{node_inputs:?}"
    );
    let inputs_source = ops
        .iter()
        .find(|op| op["op"]["attrs"]["local.sharedkeyhint"] == json!("pybase-command:"))
        .expect("the Node step's source");
    assert_eq!(
        inputs_source["op"]["attrs"]["local.includepattern"],
        json!("[\"assets\"]")
    );
    // collectstatic (the defaults) reads the venv, the application's code
    // and the Node step's outputs: its twin.
    let collect_inputs = ancestors(&described, collectstatic);
    for input in [
        "[shop] venv: 3 packages from requirements.txt, in 4 layers",
        "[shop] code: copy the application into /app",
        node,
    ] {
        assert!(
            collect_inputs.iter().any(|n| n == input),
            "{input}: {collect_inputs:?}"
        );
    }
    // It reads the very source the application's copy reads (one op),
    // without the lock: a lock bump reruns it through the venv alone.
    let code_sources: Vec<_> = ops
        .iter()
        .filter(|op| op["op"]["attrs"]["local.sharedkeyhint"] == json!("pybase-code:"))
        .collect();
    assert_eq!(code_sources.len(), 1, "{code_sources:?}");
    assert!(
        code_sources[0]["op"]["attrs"]["local.excludepatterns"]
            .as_str()
            .is_some_and(|p| p.contains("\"requirements.txt\"")),
        "{code_sources:?}"
    );
    // The image's last layer is one FileOp: the code, then each command's
    // outputs.
    let code_layer = ops
        .iter()
        .find(|op| op["name"] == json!("[shop] image: add the code"))
        .expect("the code layer");
    let actions = code_layer["op"]["file"].as_array().expect("a file op");
    assert_eq!(actions.len(), 3, "{code_layer}");
    assert_eq!(actions[0]["output"], json!(-1));
    assert_eq!(actions[2]["output"], json!(0));
    assert_eq!(actions[1]["input"], json!(3));
    // The layer takes each command's output mount (output 1 of its exec),
    // never the exec's root, where the builder with Node is.
    let inputs: Vec<&str> = code_layer["inputs"]
        .as_array()
        .expect("inputs")
        .iter()
        .filter_map(|i| i.as_str())
        .collect();
    assert_eq!(inputs.len(), 3, "{code_layer}");
    assert!(inputs.iter().all(|i| i.ends_with("[1]")), "{inputs:?}");
    let history = build.config["history"].to_string();
    assert!(
        history.contains("application code of `shop` and its build commands' outputs"),
        "{history}"
    );
}

#[test]
fn build_commands_outputs_join_the_code_layer_when_copying_too() {
    let build = build_from(BUILD_COMMANDS, BUILD_COMMANDS_SPEC, "shop", false);
    let described = llb_gen::describe::describe(&build.definition).expect("decodable");
    let ops = described["ops"].as_array().expect("ops");
    let code_layer = ops
        .iter()
        .find(|op| op["name"] == json!("[shop] image: add the code"))
        .expect("the code layer");
    assert_eq!(code_layer["op"]["file"].as_array().map(Vec::len), Some(3));
    assert!(!described.to_string().contains("\"merge\""));
}

const WORKSPACE: &str = "workspace";
const WORKSPACE_SPEC: &str = include_str!("../../testdata/projects/workspace/pybase.yaml");

#[test]
fn a_workspace_member_installs_the_roots_lock_for_itself_and_its_members_as_code() {
    let build = build_from(WORKSPACE, WORKSPACE_SPEC, "api", true);
    golden("workspace-api-mergeop", &build);
    let described = llb_gen::describe::describe(&build.definition).expect("decodable");
    let text = described.to_string();
    // The venv: api's and lib's third-party packages from the root's lock
    // (fetched by BuildKit: the members are not in the wheelhouse), the
    // export for api alone, without the workspace's members.
    let venv = "[api] venv: 2 packages from uv.lock, 2 fetched wheels, network off, in 3 layers";
    assert!(text.contains(venv), "{text}");
    assert!(!text.contains("iniconfig"), "{text}");
    assert!(
        text.contains(r#""/pybase-scripts/uv-export.sh","--package","api","--no-emit-workspace""#),
        "{text}"
    );
    let ops = described["ops"].as_array().expect("ops");
    let source = |hint: &str| {
        ops.iter()
            .find(|op| op["op"]["attrs"]["local.sharedkeyhint"] == json!(hint))
            .unwrap_or_else(|| panic!("a source {hint}"))
    };
    // The venv's inputs: the workspace's pyproject.toml files and its lock,
    // no code.
    assert_eq!(
        source("pybase-workspace-lock:")["op"]["attrs"]["local.includepattern"],
        json!(r#"["pyproject.toml","uv.lock","packages/*/pyproject.toml"]"#)
    );
    let venv_inputs = ancestors(&described, venv);
    assert!(
        !venv_inputs.iter().any(|n| n.contains("code")),
        "{venv_inputs:?}"
    );
    // The code: api and lib, from their directories alone, without the
    // lock or the venv.
    let code = "[api] code: install the project and the workspace members it depends on (packages/api, packages/lib) without dependencies";
    assert!(text.contains(code), "{text}");
    assert_eq!(
        source("pybase-code:packages/api")["op"]["attrs"]["local.includepattern"],
        json!(r#"["packages/api/","packages/lib/"]"#)
    );
    let code_inputs = ancestors(&described, code);
    assert!(
        !code_inputs
            .iter()
            .any(|n| n.starts_with("[api] venv") || n.contains("uv workspace")),
        "{code_inputs:?}"
    );
    // Installed by uv (files not fetched): synced for api alone.
    let synced = build_with_facts(WORKSPACE, WORKSPACE_SPEC, "api", true, &|_, facts| {
        ProjectFacts {
            fetching: llb_gen::artifacts::Fetching::Nothing,
            ..facts
        }
    });
    let text = llb_gen::describe::describe(&synced.definition)
        .expect("decodable")
        .to_string();
    assert!(
        text.contains(
            r#""/pybase-scripts/venv-uv-sync.sh","--package","api","--no-install-workspace""#
        ),
        "{text}"
    );
}

const POETRY_PATH: &str = "poetry-path";
const POETRY_PATH_SPEC: &str = include_str!("../../testdata/projects/poetry-path/pybase.yaml");

#[test]
fn a_poetry_projects_path_dependencies_are_code_and_their_dependencies_venv() {
    let build = build_from(POETRY_PATH, POETRY_PATH_SPEC, "app", true);
    golden("poetry-path-app-mergeop", &build);
    let described = llb_gen::describe::describe(&build.definition).expect("decodable");
    let text = described.to_string();
    // The venv: app's, lib's and core's third-party packages from the
    // translated poetry.lock, not lib or core themselves.
    let venv = "[app] venv: 3 packages from app/poetry.lock, in 4 layers";
    assert!(text.contains(venv), "{text}");
    let spec = llb_gen::spec::parse("pybase.yaml", POETRY_PATH_SPEC.as_bytes()).expect("valid");
    let target = plan::select_target(&spec, Some("app")).expect("known target");
    let (_, infos) = checked_stack(POETRY_PATH, &spec, &target);
    let [translated] = infos[0].translated_locks.as_slice() else {
        panic!("one requirements file: every package is from the pypi-simple source");
    };
    let pinned: Vec<&str> = translated
        .text
        .lines()
        .filter(|line| line.contains("=="))
        .collect();
    assert_eq!(
        pinned,
        ["idna==3.10 \\", "iniconfig==2.0.0 \\", "six==1.17.0 \\"],
        "{}",
        translated.text
    );
    assert_eq!(infos[0].path_dependencies, ["core", "lib"]);
    let ops = described["ops"].as_array().expect("ops");
    let source = |hint: &str| {
        ops.iter()
            .find(|op| op["op"]["attrs"]["local.sharedkeyhint"] == json!(hint))
            .unwrap_or_else(|| panic!("a source {hint}"))
    };
    // The venv's inputs: app's pyproject.toml and lock, no code.
    let venv_inputs = ancestors(&described, venv);
    assert!(
        venv_inputs
            .iter()
            .any(|n| n == "[app] load pyproject.toml and its lock"),
        "{venv_inputs:?}"
    );
    assert!(
        !venv_inputs.iter().any(|n| n.contains("code")),
        "{venv_inputs:?}"
    );
    // The code: app, then its path dependencies in the lock's order, from
    // their directories alone, without the lock or the venv.
    let code = "[app] code: install the project and the path dependencies it depends on (app, core, lib) without dependencies";
    assert!(text.contains(code), "{text}");
    let code_source = &source("pybase-code:app")["op"]["attrs"];
    assert_eq!(
        code_source["local.includepattern"],
        json!(r#"["app/","core/","lib/"]"#)
    );
    let excluded = code_source["local.excludepatterns"]
        .as_str()
        .expect("exclude patterns");
    assert!(excluded.contains(r#""app/poetry.lock""#), "{excluded}");
    let code_inputs = ancestors(&described, code);
    assert!(
        !code_inputs
            .iter()
            .any(|n| n.starts_with("[app] venv") || n.contains("its lock")),
        "{code_inputs:?}"
    );
    assert!(
        text.contains(r#""/pybase-scripts/code-install-workspace-members.sh","app","core","lib""#),
        "{text}"
    );
}

const RUST_EXT: &str = "rust-ext";
const RUST_EXT_SPEC: &str = include_str!("../../testdata/projects/rust-ext/pybase.yaml");

/// The code step of `build`'s service `name` (`[name] code: install…`), as
/// described JSON.
fn code_step<'a>(described: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    let title = format!("[{name}] code: install the project");
    described["ops"]
        .as_array()
        .expect("ops")
        .iter()
        .find(|op| op["name"].as_str().is_some_and(|n| n.starts_with(&title)))
        .unwrap_or_else(|| panic!("no code step in {described}"))
}

#[test]
fn a_maturin_project_is_compiled_with_cargos_registry_cached_and_the_ca_bundle_for_cargo() {
    let build = build_from(RUST_EXT, RUST_EXT_SPEC, "adder", true);
    golden("rust-ext-mergeop", &build);
    let described = llb_gen::describe::describe(&build.definition).expect("decodable");
    let code = code_step(&described, "adder").to_string();
    assert!(
        code.contains("[adder] code: install the project without dependencies (its Rust code compiled by cargo)"),
        "{code}"
    );
    // cargo's home is a cache mount, named in the step's environment.
    assert!(code.contains("CARGO_HOME=/pybase/cache/cargo"), "{code}");
    assert!(code.contains("pybase-cargo-home"), "{code}");
    // Its target directory too, one per platform, a step at a time.
    assert!(
        code.contains("CARGO_TARGET_DIR=/pybase/cache/cargo-target"),
        "{code}"
    );
    assert!(code.contains("pybase-cargo-target-linux/amd64"), "{code}");
    assert!(code.contains("\"locked\""), "{code}");
    // Its script gives cargo the CA bundle, and builds the project as any
    // other is built.
    let (_, script) = scripts_of(&build)
        .into_iter()
        .find(|(argv, _)| argv[1] == "/pybase-scripts/code-install-cargo.sh")
        .expect("the code step runs the cargo variant of the code script");
    let script = String::from_utf8(script.expect("a script file")).expect("text");
    assert!(
        script.contains("export CARGO_HTTP_CAINFO=/run/secrets/ca-bundle"),
        "{script}"
    );
    // The code's files are made newer than the cached target directory,
    // so cargo never takes an older copy of them for built.
    assert!(
        script.contains("find /pybase/src -exec touch -c {} +"),
        "{script}"
    );
    assert!(
        script.contains("uv build --wheel --no-build-isolation"),
        "{script}"
    );
    // The backend's environment is maturin's, and the builder has cargo.
    let text = described.to_string();
    assert!(
        text.contains("[adder] code: build backend maturin>=1.9,<2"),
        "{text}"
    );
    assert!(text.contains("[adder] builder: cargo"), "{text}");
}

#[test]
fn a_project_without_rust_gets_neither_cargos_cache_nor_its_script() {
    // The twin of the test above: the inventory fixture (hatchling).
    let build = build("inventory", true);
    let described = llb_gen::describe::describe(&build.definition).expect("decodable");
    let code = code_step(&described, "inventory").to_string();
    assert!(
        code.contains("[inventory] code: install the project without dependencies\""),
        "{code}"
    );
    assert!(!code.contains("CARGO_HOME"), "{code}");
    assert!(!code.contains("pybase-cargo-home"), "{code}");
    assert!(!code.contains("cargo-target"), "{code}");
    assert!(
        scripts_of(&build)
            .iter()
            .any(|(argv, _)| argv[1] == "/pybase-scripts/code-install.sh")
    );
    assert!(
        !scripts_of(&build)
            .iter()
            .any(|(argv, _)| argv[1].contains("cargo"))
    );
}

/// [`plan::rust_toolchain`] of `target` of the rust-ext fixture under
/// `spec_text`: its error as a user reads it, when it refuses.
fn rust_ext_toolchain(spec_text: &str, target: &str) -> Result<(), String> {
    let spec = llb_gen::spec::parse("pybase.yaml", spec_text.as_bytes()).expect("valid spec");
    let target = plan::select_target(&spec, Some(target)).expect("known target");
    let (_, infos) = checked_stack(RUST_EXT, &spec, &target);
    plan::rust_toolchain(&spec.file, &target, &infos).map_err(|d| d.to_string())
}

#[test]
fn a_maturin_project_without_a_rust_toolchain_in_the_builder_is_refused_at_its_project() {
    let without = RUST_EXT_SPEC.replace("      build: [cargo]", "      build: [gcc, cargo-c]");
    assert_ne!(without, RUST_EXT_SPEC);
    let refused = rust_ext_toolchain(&without, "adder").expect_err("refused");
    assert!(refused.starts_with("pybase.yaml:6:14: "), "{refused}");
    assert!(refused.contains("is built by maturin"), "{refused}");
    assert!(
        refused.contains("add `cargo` to `system.build`"),
        "{refused}"
    );
    // Its `-base` target builds no code: no toolchain needed.
    assert_eq!(rust_ext_toolchain(&without, "adder-base"), Ok(()));
    // Debian 12's newer toolchain, in `system.runtime` or `system.build`,
    // and the fixture's own `cargo` are each enough.
    for packages in [
        "      build: [cargo-web]",
        "      runtime: [cargo]",
        "      build: [\"cargo=1.85.0+dfsg1-1\"]",
        "      build: [\"cargo:amd64\"]",
    ] {
        let with = RUST_EXT_SPEC.replace("      build: [cargo]", packages);
        assert_eq!(rust_ext_toolchain(&with, "adder"), Ok(()), "{packages}");
    }
    assert_eq!(rust_ext_toolchain(RUST_EXT_SPEC, "adder"), Ok(()));
    // A tier's build packages are in its services' builders too.
    let on_a_tier = "version: 1\ntiers:\n  rust:\n    from: python:3.12-slim\n    system:\n      build: [cargo]\nservices:\n  adder:\n    tier: rust\n    project: .\n";
    assert_eq!(rust_ext_toolchain(on_a_tier, "adder"), Ok(()));
    let refused = rust_ext_toolchain(&on_a_tier.replace("[cargo]", "[gcc]"), "adder");
    assert!(refused.is_err_and(|e| e.starts_with("pybase.yaml:10:14: ")));
}

// --target lock: the golden LLB of the fixture `lock-tiers` (a tier from
// `base/requirements.in`, two applications whose `requirements.in` include
// the tier's), planned as the gateway plans it, and what the tier-aware
// plan relies on: each lock step runs in the builder of its tier or
// service, the services' with the tier's fresh lock as a constraint, and
// the result holds only the locks written.

const LOCK_TIERS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../testdata/projects/lock-tiers"
);
const LOCK_TIERS_SPEC: &str = include_str!("../../testdata/projects/lock-tiers/pybase.yaml");

fn read_lock_tiers(path: &str) -> Option<Vec<u8>> {
    std::fs::read(format!("{LOCK_TIERS}/{path}")).ok()
}

/// The lock jobs of `chosen` (tiers first), as the gateway finds them,
/// read from the fixture's directory, on a resolved Python 3.12 image.
fn jobs<'a>(spec: &'a Spec, chosen: &[&str], order: &[&str]) -> Vec<LockJob<'a>> {
    order
        .iter()
        .map(|name| {
            let target = plan::select_target(spec, Some(name)).expect("known target");
            let project = match target.service {
                Some(service) => service.project_dir(),
                None => target
                    .tiers
                    .last()
                    .and_then(|t| t.project_dir())
                    .expect("a tier with a project"),
            };
            let [requirements_in, pyproject, ..] = plan::locker_inputs(&project);
            let files = LockerFiles {
                requirements_in: read_lock_tiers(&requirements_in),
                pyproject: read_lock_tiers(&pyproject),
                other_tools: Vec::new(),
            };
            let locker = Locker::of(&spec.file, &project, &files).expect("lockable");
            let mut step_files = locker.step_files(&project);
            let text = String::from_utf8(files.requirements_in.unwrap_or_default()).expect("utf-8");
            let mut included = IncludedFiles::new();
            loop {
                let wanted = wanted_includes(&requirements_in, &text, &included);
                if wanted.is_empty() {
                    break;
                }
                for path in wanted {
                    let bytes = read_lock_tiers(&path);
                    included.insert(path, bytes);
                }
            }
            step_files.extend(included.into_iter().filter_map(|(p, b)| b.map(|_| p)));
            LockJob {
                inputs: lock_inputs(),
                target,
                project,
                locker,
                files: step_files,
                written: chosen.contains(name),
            }
        })
        .collect()
}

/// A resolved python:3.12-slim whose config says its Python.
fn lock_inputs() -> BuildInputs<'static> {
    BuildInputs {
        session_id: "session-1",
        platform: amd64(),
        base: BaseImage {
            reference: "docker.io/library/python:3.12-slim@sha256:0000000000000000000000000000000000000000000000000000000000000001".into(),
            digest: Some("sha256:0000000000000000000000000000000000000000000000000000000000000001".into()),
            config: json!({"architecture": "amd64", "os": "linux", "config": {"Env": ["PATH=/usr/local/bin:/usr/bin:/bin", "PYTHON_VERSION=3.12.7"]}}),
            facts: Default::default(),
            store: Default::default(),
        },
        builder: None,
        caps: None,
        prefer_mergeop: true,
        spec_file: "pybase.yaml",
        spec_text: None,
        labels: Vec::new(),
        ignored: Vec::new(),
        provenance: Default::default(),
        projects: Default::default(),
        exec_settings: Default::default(),
        refresh_system: false,
    }
}

fn lock_llb(chosen: &[&str], order: &[&str], upgrade: plan::Upgrade) -> Value {
    let spec = llb_gen::spec::parse("pybase.yaml", LOCK_TIERS_SPEC.as_bytes())
        .expect("valid fixture spec");
    let caps = caps(true);
    let definition = plan::build_lock(
        &jobs(&spec, chosen, order),
        &LockOptions {
            upgrade,
            universal: false,
            spec_file: "pybase.yaml",
            caps: Some(&caps),
            spec_text: None,
            exec_settings: Default::default(),
        },
    )
    .expect("the fixture's lock plans");
    llb_gen::describe::describe(&definition).expect("decodable")
}

/// The op named `name`.
fn lock_op<'a>(described: &'a Value, name: &str) -> &'a Value {
    described["ops"]
        .as_array()
        .and_then(|ops| ops.iter().find(|op| op["name"] == name))
        .unwrap_or_else(|| panic!("no op `{name}`"))
}

/// The exec's argv after the script.
fn lock_args(op: &Value) -> Vec<String> {
    op["op"]["exec"]
        .as_array()
        .expect("an exec")
        .iter()
        .skip(2)
        .map(|a| a.as_str().unwrap_or_default().to_owned())
        .collect()
}

const LOCKED: [&str; 3] = ["base", "api", "worker"];

#[test]
fn lock_target_of_the_tiered_fixture() {
    let described = lock_llb(&LOCKED, &LOCKED, plan::Upgrade::Keep);
    insta::with_settings!({snapshot_path => "../../testdata/golden", prepend_module_to_snapshot => false}, {
        insta::assert_json_snapshot!("lock-tiers-lock", described);
    });
}

#[test]
fn the_tier_is_compiled_alone_and_each_service_on_its_fresh_lock() {
    let described = lock_llb(&LOCKED, &LOCKED, plan::Upgrade::Keep);
    let base = lock_op(
        &described,
        "[base] lock: uv pip compile base/requirements.in",
    );
    let api = lock_op(&described, "[api] lock: uv pip compile api/requirements.in");
    // The tier: no constraint; its Python and platform.
    let base_args = lock_args(base);
    assert_eq!(base_args[..2], ["base", "0"]);
    assert!(
        !base_args.contains(&"--constraint".to_owned()),
        "{base_args:?}"
    );
    let joined = base_args.join(" ");
    assert!(
        joined.contains("--python-version 3.12 --python-platform x86_64-unknown-linux-gnu"),
        "{joined}"
    );
    assert!(joined.contains("--custom-compile-command docker buildx build -f pybase.yaml --target lock --output type=local,dest=. ."), "{joined}");
    // A service: the tier's lock mounted, copied to its context path,
    // and its constraint by the path relative to the service.
    let api_args = lock_args(api);
    assert_eq!(
        api_args[..5],
        [
            "api",
            "1",
            "/pybase/tier-locks/0/base/requirements.txt",
            "base/requirements.txt",
            "base"
        ]
    );
    let joined = api_args.join(" ");
    assert!(
        joined.contains("--constraint ../base/requirements.txt"),
        "{joined}"
    );
    let mounts = api["op"]["mounts"].as_array().expect("mounts");
    let tier_lock = mounts
        .iter()
        .find(|m| m["dest"] == "/pybase/tier-locks/0")
        .expect("the tier's lock is mounted");
    assert_eq!(tier_lock["readonly"], true);
    // That mount is the tier's lock step's output.
    let input = tier_lock["input"].as_u64().expect("an input") as usize;
    let from = api["inputs"][input].as_str().expect("an input reference");
    let base_digest = base["digest"].as_str().expect("digest");
    let index = described["ops"]
        .as_array()
        .and_then(|ops| ops.iter().position(|o| o["digest"] == base_digest))
        .expect("the tier's step is an op");
    assert!(
        from.starts_with(&format!("#{index}[")),
        "{from} is not the tier's step #{index}"
    );
    // Each service's step reads its own files and the tier's ranges it
    // includes, and not the other service's.
    let sources: Vec<String> = described["ops"]
        .as_array()
        .expect("ops")
        .iter()
        .filter(|o| o["name"] == "[api] load the files its lock is made from")
        .map(|o| o["op"].to_string())
        .collect();
    let [source] = sources.as_slice() else {
        panic!("one source of api's files: {sources:?}");
    };
    for path in [
        "api/requirements.in",
        "api/requirements.txt",
        "base/requirements.in",
    ] {
        assert!(source.contains(path), "{path} not in {source}");
    }
    assert!(!source.contains("worker/"), "{source}");
}

#[test]
fn the_result_holds_only_the_locks_written() {
    // LOCK_TARGETS=api: the tier is locked (api's constraint) but its
    // lock is not written; api's is.
    let described = lock_llb(&["api"], &["base", "api"], plan::Upgrade::Keep);
    lock_op(
        &described,
        "[base] lock: uv pip compile base/requirements.in",
    );
    // One op gathers the locks written, one copy each.
    let last = |described: &Value| {
        let gathering = named_ops(described, |n| n.starts_with("[lock] "));
        let [result] = gathering.as_slice() else {
            panic!("one op gathers the locks: {gathering:?}");
        };
        let copies = result["op"]["file"].as_array().map_or(0, Vec::len);
        (
            result["name"].as_str().unwrap_or_default().to_owned(),
            copies,
        )
    };
    assert_eq!(
        last(&described),
        ("[lock] api/requirements.txt".to_owned(), 1)
    );
    let all = lock_llb(&LOCKED, &LOCKED, plan::Upgrade::Keep);
    assert_eq!(
        last(&all),
        (
            "[lock] base/requirements.txt, api/requirements.txt, worker/requirements.txt"
                .to_owned(),
            3
        )
    );
}

#[test]
fn lock_upgrade_reaches_every_step() {
    let described = lock_llb(
        &LOCKED,
        &LOCKED,
        plan::Upgrade::Packages(vec!["six".into()]),
    );
    for name in LOCKED {
        let step = lock_op(
            &described,
            &format!("[{name}] lock: uv pip compile {name}/requirements.in"),
        );
        let joined = lock_args(step).join(" ");
        assert!(joined.ends_with("--upgrade-package six"), "{joined}");
    }
    let kept = lock_llb(&LOCKED, &LOCKED, plan::Upgrade::Keep).to_string();
    assert!(
        !kept.contains("--upgrade"),
        "no upgrade without LOCK_UPGRADE"
    );
}

#[test]
fn the_lock_target_is_the_same_bytes_from_the_same_inputs() {
    assert_eq!(
        lock_llb(&LOCKED, &LOCKED, plan::Upgrade::Keep),
        lock_llb(&LOCKED, &LOCKED, plan::Upgrade::Keep)
    );
}

#[test]
fn only_the_venv_of_a_project_with_named_indexes_gets_their_credentials_as_secret_env() {
    // No tiered fixture names an index: the facts are written here, each
    // venv made by uv alone (as in the SSH test above).
    let build = build_with_facts(TIERED, TIERED_SPEC, "orders", true, &|dir, _| {
        ProjectFacts {
            venv_packages: Some(2),
            index_names: if dir == "tiers/web" {
                vec!["internal".into(), "team.pypi-2".into()]
            } else {
                Vec::new()
            },
            ..ProjectFacts::default()
        }
    });
    let described = llb_gen::describe::describe(&build.definition).expect("decodable");
    let ops = described["ops"].as_array().expect("ops");
    let venv_ops = named_ops(&described, |n| n.contains("] venv: "));
    assert_eq!(venv_ops.len(), 3, "python-base, python-web and orders");
    for op in venv_ops {
        let name = op["name"].as_str().unwrap_or_default();
        if name.starts_with("[python-web]") {
            let variables: Vec<&str> = op["op"]["secret_env"]
                .as_array()
                .expect("python-web's venv has secret env")
                .iter()
                .map(|s| {
                    assert_eq!(s["name"], s["id"], "{s}");
                    assert_eq!(s["optional"], true, "{s}");
                    s["name"].as_str().unwrap_or_default()
                })
                .collect();
            assert_eq!(
                variables,
                [
                    "UV_INDEX_INTERNAL_USERNAME",
                    "UV_INDEX_INTERNAL_PASSWORD",
                    "UV_INDEX_TEAM_PYPI_2_USERNAME",
                    "UV_INDEX_TEAM_PYPI_2_PASSWORD"
                ]
            );
            assert!(op["caps"].to_string().contains("exec.secretenv"), "{op}");
            // Run through the wrapper that unsets the secrets not passed.
            let argv = op["op"]["exec"].to_string();
            assert!(
                argv.starts_with(r#"["/bin/sh","/pybase-credentials/index-credentials.sh","UV_INDEX_INTERNAL_USERNAME","UV_INDEX_INTERNAL_PASSWORD","UV_INDEX_TEAM_PYPI_2_USERNAME","UV_INDEX_TEAM_PYPI_2_PASSWORD","--","/bin/sh","/pybase-scripts/"#),
                "{argv}"
            );
        } else {
            assert!(op["op"].get("secret_env").is_none(), "{name}: {op}");
            assert!(!op["op"]["exec"].to_string().contains("index-credentials"));
        }
    }
    // No other step gets them; nothing names them in an env or a mount.
    let with_secret_env = ops
        .iter()
        .filter(|op| op["op"].get("secret_env").is_some())
        .count();
    assert_eq!(with_secret_env, 1);
}

#[test]
fn a_system_refresh_reruns_the_image_system_steps_alone_and_keeps_the_venv_and_code_ops() {
    let plain = build_refreshed(TIERED, TIERED_SPEC, "orders", false);
    let refreshed = {
        let spec = llb_gen::spec::parse("pybase.yaml", TIERED_SPEC.as_bytes()).expect("valid");
        let filter = plan::NoCacheFilter::parse("system", &spec).expect("a stage");
        build_refreshed(TIERED, TIERED_SPEC, "orders", filter.refresh_system)
    };
    let described = |build: &Build| llb_gen::describe::describe(&build.definition).expect("ok");
    let (plain_ops, refreshed_ops) = (described(&plain), described(&refreshed));
    let by_stage = |described: &Value, stage: &str| -> std::collections::BTreeSet<String> {
        described["ops"]
            .as_array()
            .expect("ops")
            .iter()
            .filter(|op| {
                op["name"]
                    .as_str()
                    .is_some_and(|n| n.contains(&format!("] {stage}: ")))
            })
            .filter_map(|op| op["digest"].as_str().map(str::to_owned))
            .collect()
    };
    // The builders, venvs and code are the same ops: cached, the same
    // layers.
    for stage in ["builder", "venv", "code"] {
        let before = by_stage(&plain_ops, stage);
        assert!(stage == "builder" || !before.is_empty(), "{stage}");
        assert_eq!(before, by_stage(&refreshed_ops, stage), "{stage}");
    }
    // The image's system steps are new ops, marked to run again, with
    // apt-get upgrade; the cached ones stay under the builders, unmarked.
    let ops = refreshed_ops["ops"].as_array().expect("ops");
    let refreshing = named_ops(&refreshed_ops, |n| n.contains("system: refreshed"));
    assert_eq!(refreshing.len(), by_stage(&plain_ops, "system").len());
    for op in &refreshing {
        assert_eq!(op["ignore_cache"], true, "{op}");
        assert!(
            op["op"]["exec"].to_string().contains("system-refresh.sh"),
            "{op}"
        );
    }
    let kept = by_stage(&plain_ops, "system");
    for op in ops {
        let digest = op["digest"].as_str().unwrap_or_default();
        if kept.contains(digest) {
            assert!(op.get("ignore_cache").is_none(), "{op}");
        }
    }
    assert!(kept.iter().all(|d| op_digests(&refreshed).contains(d)));
    // Without the refresh, nothing is marked.
    assert!(
        plain_ops["ops"]
            .as_array()
            .expect("ops")
            .iter()
            .all(|op| op.get("ignore_cache").is_none())
    );
}

/// The build of `target` of the fixture, with the system steps refreshed
/// (`--no-cache-filter system`) when `refresh`.
fn build_refreshed(fixture: &str, spec_text: &str, target: &str, refresh: bool) -> Build {
    build_in_refreshed(
        &Context::of(fixture),
        spec_text,
        target,
        (true, refresh),
        &|_, facts| facts,
    )
}
