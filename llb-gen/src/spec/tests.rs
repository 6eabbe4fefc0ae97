//! Tests of spec parsing and validation: each bad input with the report a
//! user sees (file:line:col, the line, a caret, the hint), as a snapshot.

use super::*;

/// Parse `yaml` and render the result: `ok` with the services, or every
/// diagnostic as the CLI prints it.
fn check(yaml: &str) -> String {
    match parse("pybase.yaml", yaml.as_bytes()) {
        Ok(spec) => format!(
            "ok: {}",
            spec.services.keys().cloned().collect::<Vec<_>>().join(", ")
        ),
        Err(problems) => problems.render(Some(yaml)),
    }
}

const GOOD: &str = "\
# syntax=localhost:5000/pybase-frontend:dev
version: 1
services:
  inventory:
    from: python:3.12-slim
    project: ./svc/
    system:
      runtime: [libpq5]
      build: [gcc, libpq-dev]
    command: [inventory]
";

#[test]
fn the_v1_example_parses_into_the_model() {
    let spec = parse("pybase.yaml", GOOD.as_bytes()).expect("valid");
    let service = &spec.services["inventory"];
    assert_eq!(
        service.from.normalized,
        "docker.io/library/python:3.12-slim"
    );
    assert_eq!(service.from.familiar, "python:3.12-slim");
    assert_eq!(service.project, "svc");
    assert_eq!(service.level.runtime_packages, ["libpq5"]);
    assert_eq!(service.level.build_packages, ["gcc", "libpq-dev"]);
    assert_eq!(
        service.command.as_deref(),
        Some(&["inventory".to_owned()][..])
    );
    assert_eq!(service.level.at, Some(Position { line: 4, column: 3 }));
    assert_eq!(
        service.from_at,
        Some(Position {
            line: 5,
            column: 11
        })
    );
}

#[test]
fn project_defaults_to_the_context_root() {
    let spec = parse(
        "pybase.yaml",
        b"version: 1\nservices:\n  a:\n    from: python:3.12\n",
    )
    .expect("valid");
    assert_eq!(spec.services["a"].project, "");
    assert_eq!(spec.services["a"].project_path("uv.lock"), "uv.lock");
}

#[test]
fn unknown_key_suggests_the_close_one() {
    insta::assert_snapshot!(check("version: 1\nservices:\n  a:\n    from: python:3.12\n    comand: [x]\n"), @r"
    error: pybase.yaml:5:5: unknown key `comand`
      |
    5 |     comand: [x]
      |     ^
    hint: did you mean `command`?
    ");
}

#[test]
fn unknown_key_far_from_any_lists_the_keys() {
    insta::assert_snapshot!(check("version: 1\nservices:\n  a:\n    from: python:3.12\n    system:\n      extra: [x]\n"), @r"
    error: pybase.yaml:6:7: unknown key `extra`
      |
    6 |       extra: [x]
      |       ^
    hint: the keys allowed here are: runtime, build
    ");
}

#[test]
fn wrong_type() {
    insta::assert_snapshot!(check("version: 1\nservices:\n  a:\n    from: python:3.12\n    system:\n      runtime: libpq5\n"), @"
    error: pybase.yaml:6:16: expected a list
      |
    6 |       runtime: libpq5
      |                ^
    hint: write a list as `[a, b]` or as `- a` lines
    ");
}

#[test]
fn yaml_syntax_error() {
    insta::assert_snapshot!(check("version: 1\nservices:\n  a:\n    from: [python\n"), @"
    error: pybase.yaml:4:11: expected a string
      |
    4 |     from: [python
      |           ^
    hint: quote the value if it looks like a list, a map or a number
    ");
}

#[test]
fn duplicate_key() {
    insta::assert_snapshot!(check("version: 1\nservices:\n  a:\n    from: x\n  a:\n    from: y\n"), @"
    error: pybase.yaml:5:3: the key `a` is given twice
      |
    5 |   a:
      |   ^
    ");
}

#[test]
fn missing_from() {
    insta::assert_snapshot!(check("version: 1\nservices:\n  a:\n    project: app\n"), @"
    error: pybase.yaml:3:3: the service `a` has no base image
      |
    3 |   a:
      |   ^
    hint: give it `from: IMAGE` (e.g. `python:3.12-slim`) or `tier: NAME`
    ");
}

#[test]
fn bad_version() {
    insta::assert_snapshot!(check("version: 2\nservices:\n  a:\n    from: python:3.12\n"), @"
    error: pybase.yaml:1:10: unsupported spec version 2
      |
    1 | version: 2
      |          ^
    hint: this pybase reads `version: 1`
    ");
}

#[test]
fn no_services() {
    insta::assert_snapshot!(check("version: 1\nservices: {}\n"), @"
    error: pybase.yaml:1:10: the spec defines no services
      |
    1 | version: 1
      |          ^
    hint: add a service under `services:`
    ");
}

#[test]
fn every_semantic_problem_is_reported() {
    insta::assert_snapshot!(check("\
version: 1
services:
  Bad_Name:
    from: python:3.12
  api-base:
    from: python:3.12
  web:
    from: 'Python:3.12'
    project: ../outside
    system:
      runtime: [libpq5, 'libpq5', 'rm -rf /']
    command: []
"), @r#"
    error: pybase.yaml:3:3: invalid service name `Bad_Name`
      |
    3 |   Bad_Name:
      |   ^
    hint: use lowercase letters, digits, `.`, `_` and `-`, starting and ending with a letter or digit

    error: pybase.yaml:5:3: the service name `api-base` ends in `-base`
      |
    5 |   api-base:
      |   ^
    hint: `-base` is reserved: `api-base` is the target of service `api` without its code

    error: pybase.yaml:8:11: invalid image reference `Python:3.12`: the repository name must be lowercase
      |
    8 |     from: 'Python:3.12'
      |           ^
    hint: write an image as `name[:tag][@sha256:digest]`, e.g. `python:3.12-slim`

    error: pybase.yaml:9:14: invalid project directory `../outside`: it may not leave the build context (`..`)
      |
    9 |     project: ../outside
      |              ^

    error: pybase.yaml:11:25: the package `libpq5` is listed twice in `system.runtime`
       |
    11 |       runtime: [libpq5, 'libpq5', 'rm -rf /']
       |                         ^

    error: pybase.yaml:11:35: invalid package name `rm -rf /` in `system.runtime`
       |
    11 |       runtime: [libpq5, 'libpq5', 'rm -rf /']
       |                                   ^
    hint: a package is `name`, `name=version` or `name:arch`, e.g. `libpq5`

    error: pybase.yaml:12:14: `command` must be a non-empty list of non-empty strings
       |
    12 |     command: []
       |              ^
    hint: e.g. `command: [inventory, --port, "8000"]`
    "#);
}

#[test]
fn empty_input() {
    insta::assert_snapshot!(check(""), @"
    error: pybase.yaml:1:1: the spec is empty
    hint: start from `version: 1` and a `services:` map
    ");
}

#[test]
fn not_utf8() {
    let bytes = b"version: 1\nservices:\n  a:\n    from: \xff\n";
    let problems = parse("pybase.yaml", bytes).expect_err("not UTF-8");
    insta::assert_snapshot!(problems.to_string(), @"pybase.yaml:4:11: the spec is not valid UTF-8 (hint: save the file as UTF-8)");
}

#[test]
fn oversized_input_is_refused_before_parsing() {
    let big = format!("version: 1\n# {}\n", "x".repeat(MAX_SPEC_BYTES));
    let problems = parse("pybase.yaml", big.as_bytes()).expect_err("too big");
    assert!(
        problems.to_string().contains("at most 1048576 bytes"),
        "{problems}"
    );
}

#[test]
fn alias_bombs_stop_with_a_positioned_error() {
    // Ten levels of nine aliases each would expand to 9^10 strings; the only
    // lists the schema takes hold strings, so expansion stops at the first
    // nested alias, with an error pointing at it.
    let mut yaml = String::from("version: 1\nservices:\n");
    yaml.push_str("  s0:\n    from: python:3.12\n    command: &a0 [x, x, x, x, x, x, x, x, x]\n");
    for level in 1..10 {
        let aliases = vec![format!("*a{}", level - 1); 9].join(", ");
        yaml.push_str(&format!(
            "  s{level}:\n    from: python:3.12\n    command: &a{level} [{aliases}]\n"
        ));
    }
    let problems = parse("pybase.yaml", yaml.as_bytes()).expect_err("bomb");
    let first = problems.first().expect("one problem");
    assert_eq!(first.position.map(|p| p.line), Some(8), "{problems}");
}

#[test]
fn image_references_normalize_like_docker() {
    let cases = [
        (
            "python:3.12-slim",
            "docker.io/library/python:3.12-slim",
            "python:3.12-slim",
        ),
        ("python", "docker.io/library/python:latest", "python:latest"),
        (
            "localhost:5000/team/py:1",
            "localhost:5000/team/py:1",
            "localhost:5000/team/py:1",
        ),
        (
            "ghcr.io/org/base-python",
            "ghcr.io/org/base-python:latest",
            "ghcr.io/org/base-python:latest",
        ),
        (
            "pybase-test/python:3.11",
            "docker.io/pybase-test/python:3.11",
            "pybase-test/python:3.11",
        ),
    ];
    for (written, normalized, familiar) in cases {
        let name = ImageName::parse(written).expect(written);
        assert_eq!(
            (name.normalized.as_str(), name.familiar.as_str()),
            (normalized, familiar)
        );
    }
}

#[test]
fn image_config_keys_reach_the_model() {
    let yaml = "\
version: 1
services:
  api:
    from: python:3.12-slim
    entrypoint: [tini, --]
    env: {TZ: UTC, LOG_LEVEL: info}
    workdir: /srv/./api/
    ports: [8000, 9090/udp]
    healthcheck:
      test: wget -q --spider http://localhost:8000/health || exit 1
      interval: 1m30s
      timeout: 500ms
      start-period: 40s
      retries: 3
    stop-signal: SIGINT
    labels: {team: stock}
  worker:
    from: python:3.12-slim
    healthcheck:
      test: [python, -c, 'import worker']
";
    let spec = parse("pybase.yaml", yaml.as_bytes()).expect("valid");
    let api = &spec.services["api"];
    assert_eq!(
        api.entrypoint.as_deref(),
        Some(&["tini".to_owned(), "--".to_owned()][..])
    );
    assert_eq!(
        api.level.env,
        [
            ("LOG_LEVEL".to_owned(), "info".to_owned()),
            ("TZ".to_owned(), "UTC".to_owned())
        ]
    );
    assert_eq!(api.workdir, "/srv/api");
    assert_eq!(api.ports, ["8000/tcp", "9090/udp"]);
    assert_eq!(api.stop_signal.as_deref(), Some("SIGINT"));
    assert_eq!(api.labels, [("team".to_owned(), "stock".to_owned())]);
    let check = api.healthcheck.as_ref().expect("a health check");
    assert_eq!(
        check.test,
        [
            "CMD-SHELL",
            "wget -q --spider http://localhost:8000/health || exit 1"
        ]
    );
    assert_eq!(check.interval, Some(90_000_000_000));
    assert_eq!(check.timeout, Some(500_000_000));
    assert_eq!(check.start_period, Some(40_000_000_000));
    assert_eq!(check.retries, Some(3));
    let worker = &spec.services["worker"];
    assert_eq!(worker.workdir, DEFAULT_WORKDIR);
    assert_eq!(
        worker.healthcheck.as_ref().map(|c| c.test.clone()),
        Some(vec![
            "CMD".to_owned(),
            "python".to_owned(),
            "-c".to_owned(),
            "import worker".to_owned()
        ])
    );
}

#[test]
fn every_image_config_problem_is_reported() {
    insta::assert_snapshot!(check("\
version: 1
services:
  api:
    from: python:3.12-slim
    entrypoint: []
    env: {PATH: /bin, 9LIVES: x, OK_1: fine}
    workdir: srv/api
    ports: [0, 8000/http, 70000]
    healthcheck:
      test: []
      interval: 30
      timeout: 0s
    stop-signal: 'kill -9'
"), @"
    error: pybase.yaml:5:17: `entrypoint` must be a non-empty list of non-empty strings
      |
    5 |     entrypoint: []
      |                 ^

    error: pybase.yaml:6:23: invalid environment variable name `9LIVES`
      |
    6 |     env: {PATH: /bin, 9LIVES: x, OK_1: fine}
      |                       ^
    hint: use letters, digits and `_`, not starting with a digit

    error: pybase.yaml:6:11: `env` may not set `PATH`
      |
    6 |     env: {PATH: /bin, 9LIVES: x, OK_1: fine}
      |           ^
    hint: pybase sets it: the venv (/opt/venv) comes first on PATH

    error: pybase.yaml:7:14: invalid `workdir` `srv/api`: it must be an absolute path
      |
    7 |     workdir: srv/api
      |              ^

    error: pybase.yaml:8:13: invalid port `0`: the port number must be 1 to 65535
      |
    8 |     ports: [0, 8000/http, 70000]
      |             ^
    hint: write a port as `8000`, `8000/tcp` or `53/udp`

    error: pybase.yaml:8:16: invalid port `8000/http`: unknown protocol `http` (tcp, udp or sctp)
      |
    8 |     ports: [0, 8000/http, 70000]
      |                ^
    hint: write a port as `8000`, `8000/tcp` or `53/udp`

    error: pybase.yaml:8:27: invalid port `70000`: the port number must be 1 to 65535
      |
    8 |     ports: [0, 8000/http, 70000]
      |                           ^
    hint: write a port as `8000`, `8000/tcp` or `53/udp`

    error: pybase.yaml:10:13: the health check's `test` is empty
       |
    10 |       test: []
       |             ^
    hint: e.g. `test: [wget, --spider, -q, http://localhost:8000/health]`

    error: pybase.yaml:11:17: invalid duration `30` for `interval`: expected a unit: h, m, s, ms, us or ns
       |
    11 |       interval: 30
       |                 ^
    hint: write a duration as `30s`, `1m30s`, `500ms` or `1h`

    error: pybase.yaml:12:16: invalid duration `0s` for `timeout`: it must be at least 1ms
       |
    12 |       timeout: 0s
       |                ^
    hint: write a duration as `30s`, `1m30s`, `500ms` or `1h`

    error: pybase.yaml:13:18: invalid `stop-signal` `kill -9`
       |
    13 |     stop-signal: 'kill -9'
       |                  ^
    hint: name a signal, e.g. `SIGINT`, or give its number
    ");
}

#[test]
fn a_workdir_may_not_climb() {
    insta::assert_snapshot!(check("version: 1\nservices:\n  a:\n    from: python:3\n    workdir: /srv/../etc\n"), @"
    error: pybase.yaml:5:14: invalid `workdir` `/srv/../etc`: it may not contain `..`
      |
    5 |     workdir: /srv/../etc
      |              ^
    ");
}

#[test]
fn a_cycle_of_tiers_is_reported_once_at_its_first_tier() {
    insta::assert_snapshot!(check("version: 1\ntiers:\n  a:\n    from: b\n  b:\n    from: c\n  c:\n    from: a\nservices:\n  s:\n    tier: a\n"), @"
    error: pybase.yaml:4:11: the tiers form a cycle: `a` -> `b` -> `c` -> `a`
      |
    4 |     from: b
      |           ^
    hint: a chain of tiers must end at an image, e.g. `from: python:3.12-slim`
    ");
}

#[test]
fn misspelled_tiers_get_a_did_you_mean() {
    insta::assert_snapshot!(check("version: 1\ntiers:\n  python-base:\n    from: python:3.12-slim\nservices:\n  s:\n    tier: python-bse\n  t:\n    from: python-bse\n  u:\n    from: python-base\n"), @"
    error: pybase.yaml:7:11: unknown tier `python-bse`
      |
    7 |     tier: python-bse
      |           ^
    hint: did you mean `python-base`?

    error: pybase.yaml:9:11: `python-bse` is neither a tier nor an image with a tag
      |
    9 |     from: python-bse
      |           ^
    hint: did you mean the tier `python-base`?

    error: pybase.yaml:11:11: `python-base` is a tier
       |
    11 |     from: python-base
       |           ^
    hint: a service names its tier with `tier: python-base`
    ");
}

#[test]
fn a_service_on_a_tier_keeps_the_tiers_image_and_targets_have_distinct_names() {
    insta::assert_snapshot!(check("version: 1\ntiers:\n  web:\n    from: python:3.12-slim\nservices:\n  web:\n    tier: web\n  api:\n    tier: web\n    from: python:3.11-slim\n    user: {name: Bad User}\n"), @"
    error: pybase.yaml:10:11: `from: python:3.11-slim` differs from the image the tier `web` starts from (python:3.12-slim)
       |
    10 |     from: python:3.11-slim
       |           ^
    hint: a service on a tier takes its base image from the tier: remove `from`

    error: pybase.yaml:11:18: invalid user name `Bad User`
       |
    11 |     user: {name: Bad User}
       |                  ^
    hint: use up to 32 lowercase letters, digits, `_` and `-`, starting with a letter or `_`

    error: pybase.yaml:3:3: the tier `web` has the same name as the service `web`
      |
    3 |   web:
      |   ^
    hint: every tier and service is a `--target`: give them distinct names
    ");
}

#[test]
fn a_chain_of_tiers_resolves_to_its_root_image() {
    let spec = parse(
        "pybase.yaml",
        b"version: 1\ntiers:\n  base:\n    from: python:3.12-slim\n    project: tiers/base/\n    user: {name: appuser, uid: 1001}\n    env: {TZ: UTC}\n  web:\n    from: base\nservices:\n  api:\n    tier: web\n    from: python:3.12-slim\n",
    )
    .expect("valid");
    let chain: Vec<&str> = spec
        .tier_chain("web")
        .iter()
        .map(|t| t.level.name.as_str())
        .collect();
    assert_eq!(chain, ["base", "web"]);
    let base = &spec.tiers["base"];
    assert_eq!(base.project.as_deref(), Some("tiers/base"));
    assert_eq!(
        base.level.user,
        Some(User {
            name: "appuser".into(),
            uid: 1001,
            gid: 1001
        })
    );
    assert_eq!(spec.tiers["web"].from, TierBase::Tier("base".into()));
    assert_eq!(
        spec.tiers["web"].root_image.normalized,
        "docker.io/library/python:3.12-slim"
    );
    let api = &spec.services["api"];
    assert_eq!(api.tier.as_deref(), Some("web"));
    assert_eq!(api.from.familiar, "python:3.12-slim");
    assert_eq!(
        api.from_at.map(|p| p.line),
        Some(4),
        "the root tier's `from`"
    );
}

const WITH_ARGS: &str = "\
version: 1
services:
  api:
    from: python:${PYTHON_VERSION:-3.12}-slim
    version: ${VERSION}
    env:
      RELEASE: v${VERSION}
    healthcheck:
      test: curl -f localhost:$$PORT/health || exit 1
    labels:
      com.example.channel: ${CHANNEL:-stable}
";

#[test]
fn build_args_fill_references_and_the_spec_remembers_their_names() {
    let args: BuildArgs = [("VERSION", "1.4.2"), ("CHANNEL", "")]
        .into_iter()
        .collect();
    let spec = parse_with_args("pybase.yaml", WITH_ARGS.as_bytes(), &args).expect("valid");
    let api = &spec.services["api"];
    assert_eq!(api.from.familiar, "python:3.12-slim");
    assert_eq!(api.version.as_deref(), Some("1.4.2"));
    assert_eq!(api.level.env, [("RELEASE".to_owned(), "v1.4.2".to_owned())]);
    let check = api.healthcheck.as_ref().expect("healthcheck");
    assert_eq!(
        check.test,
        ["CMD-SHELL", "curl -f localhost:$PORT/health || exit 1"]
    );
    assert_eq!(
        api.labels,
        [("com.example.channel".to_owned(), "stable".to_owned())]
    );
    assert_eq!(spec.build_args, ["CHANNEL", "PYTHON_VERSION", "VERSION"]);
}

#[test]
fn an_undefined_build_arg_is_an_error_at_each_value_that_needs_it() {
    insta::assert_snapshot!(check(WITH_ARGS), @r"
    error: pybase.yaml:5:14: `${VERSION}` refers to the build arg `VERSION`, which this build does not define
      |
    5 |     version: ${VERSION}
      |              ^
    hint: pass `--build-arg VERSION=…`, give a default with `${VERSION:-value}`, or write `$${VERSION}` for a literal `${VERSION}`

    error: pybase.yaml:7:16: `${VERSION}` refers to the build arg `VERSION`, which this build does not define
      |
    7 |       RELEASE: v${VERSION}
      |                ^
    hint: pass `--build-arg VERSION=…`, give a default with `${VERSION:-value}`, or write `$${VERSION}` for a literal `${VERSION}`
    ");
}

#[test]
fn a_substituted_value_is_validated_like_a_written_one() {
    let args: BuildArgs = [("VERSION", "not a version"), ("PYTHON_VERSION", "3.12 ")]
        .into_iter()
        .collect();
    let rendered = match parse_with_args("pybase.yaml", WITH_ARGS.as_bytes(), &args) {
        Ok(_) => "ok".to_owned(),
        Err(problems) => problems.render(Some(WITH_ARGS)),
    };
    insta::assert_snapshot!(rendered, @r"
    error: pybase.yaml:4:11: invalid image reference `python:3.12 -slim`: it may not contain spaces
      |
    4 |     from: python:${PYTHON_VERSION:-3.12}-slim
      |           ^
    hint: write an image as `name[:tag][@sha256:digest]`, e.g. `python:3.12-slim`

    error: pybase.yaml:5:14: `not a version` is not a PEP 440 version
      |
    5 |     version: ${VERSION}
      |              ^
    hint: give a version such as `1.4.2`, `1.5.0rc1` or `1.4.3.dev2+g1a2b3c4`, e.g. `version: ${VERSION}` with `--build-arg VERSION=1.4.2`
    ");
}

#[test]
fn a_lock_path_stays_in_the_project_directory_and_names_a_file() {
    let yaml = "version: 1\ntiers:\n  base:\n    from: python:3.12-slim\n    lock: requirements.txt\nservices:\n  a:\n    from: python:3.12-slim\n    lock: ../other/requirements.txt\n  b:\n    from: python:3.12-slim\n    lock: /etc/requirements.txt\n  c:\n    from: python:3.12-slim\n    lock: locks/uv.lock\n  d:\n    from: python:3.12-slim\n    lock: requirements/\n  e:\n    from: python:3.12-slim\n    project: services/e\n    lock: requirements/../prod.txt\n";
    insta::assert_snapshot!(check(yaml), @r"
    error: pybase.yaml:5:11: tier `base` names a `lock` but has no `project`
      |
    5 |     lock: requirements.txt
      |           ^
    hint: the lock is a project's: add `project:` to the tier

    error: pybase.yaml:9:11: invalid lock file `../other/requirements.txt`: it may not leave the project directory (`..`): the venv step sees that directory alone
      |
    9 |     lock: ../other/requirements.txt
      |           ^

    error: pybase.yaml:12:11: invalid lock file `/etc/requirements.txt`: it must be relative to the project directory
       |
    12 |     lock: /etc/requirements.txt
       |           ^

    error: pybase.yaml:15:11: invalid lock file `locks/uv.lock`: uv reads uv.lock next to pyproject.toml: it must be `uv.lock`
       |
    15 |     lock: locks/uv.lock
       |           ^

    error: pybase.yaml:18:11: invalid lock file `requirements/`: it must name a file
       |
    18 |     lock: requirements/
       |           ^
    ");
}

#[test]
fn build_commands_are_read_into_argv_paths_and_caches() {
    let yaml = "version: 1\nservices:\n  web:\n    from: python:3.12-slim\n    workdir: /srv/web\n    build-commands:\n      - run: npm ci && npm run build\n        inputs: [./frontend/, package.json]\n        outputs: [frontend/dist/]\n        venv: false\n        caches: [/root/.npm/]\n      - run: [python, manage.py, collectstatic]\n        outputs: [static]\n";
    let spec = parse("pybase.yaml", yaml.as_bytes()).expect("valid");
    let commands = &spec.services["web"].build_commands;
    assert_eq!(commands.len(), 2);
    assert_eq!(
        commands[0].argv,
        ["/bin/sh", "-c", "npm ci && npm run build"]
    );
    assert_eq!(commands[0].shown, "npm ci && npm run build");
    assert_eq!(
        commands[0].inputs.as_deref(),
        Some(&["frontend".to_owned(), "package.json".to_owned()][..])
    );
    assert_eq!(commands[0].outputs, ["frontend/dist"]);
    assert!(!commands[0].venv);
    assert_eq!(commands[0].caches, ["/root/.npm"]);
    assert_eq!(commands[0].at.map(|p| p.line), Some(7));
    // The defaults: the whole project, with the venv, no cache.
    assert_eq!(commands[1].argv, ["python", "manage.py", "collectstatic"]);
    assert_eq!(commands[1].inputs, None);
    assert!(commands[1].venv && commands[1].caches.is_empty());
}

#[test]
fn a_build_command_output_with_a_newline_is_refused() {
    let yaml = "version: 1\nservices:\n  web:\n    from: python:3.12-slim\n    build-commands:\n      - run: make\n        outputs: [\"dist\\nother\"]\n";
    let report = check(yaml);
    assert!(
        report.contains("pybase.yaml:7:19: invalid output")
            && report.contains("it may not hold control characters"),
        "{report}"
    );
}
