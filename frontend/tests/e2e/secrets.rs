//! What builds reach only through secrets and SSH, and what no layer or
//! config may keep: the CA bundle; a private index's netrc credentials (the
//! index served from the test process); a git dependency over SSH from a
//! server container, with the forwarded key and a checked host key.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::{
    BASE_IMAGE, CA_BUNDLE, bridge_gateway, build_with, buildx_command, derive_image, docker_run,
    e2e_session, failure, fixture, inspect, own_system_step, repo_root, run, stderr, stdout,
    unique,
};

#[test]
fn the_ca_bundle_secret_reaches_no_layer_and_no_config() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    let dir = fixture("inventory");
    // `--no-cache` below: a system step of its own.
    own_system_step(&dir, "inventory");
    // A working bundle (PyPI is reached through it) carrying a marker line.
    let marker = format!("pybase-secret-marker-{}", unique());
    let bundle = dir.join("..").join(format!("ca-{}.pem", unique()));
    let mut text = std::fs::read_to_string(CA_BUNDLE).expect("CA bundle");
    text.push_str(&format!("# {marker}\n"));
    std::fs::write(&bundle, text).expect("write bundle");
    let image = "pybase-e2e/inventory:secret";
    let mut command = buildx_command(&dir, image);
    command
        .arg("--no-cache")
        .arg("--secret")
        .arg(format!("id=ca-bundle,src={}", bundle.display()))
        .arg(&dir);
    let output = run(&mut command);
    assert!(output.status.success(), "{}", failure(&output));

    assert_no_blob_holds(image, &marker);
    let _ = std::fs::remove_file(&bundle);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Searches every blob of `image` (each layer decompressed, the config,
/// the manifest) for `marker`, and fails if one holds it.
pub(crate) fn assert_no_blob_holds(image: &str, marker: &str) {
    let save_dir = std::env::temp_dir().join(format!("pybase-e2e-secret-{}", unique()));
    std::fs::create_dir_all(&save_dir).expect("save dir");
    let saved = run(Command::new("docker")
        .arg("save")
        .arg("-o")
        .arg(save_dir.join("image.tar"))
        .arg(image));
    assert!(saved.status.success(), "{}", failure(&saved));
    let unpacked = run(Command::new("tar")
        .arg("-xf")
        .arg(save_dir.join("image.tar"))
        .arg("-C")
        .arg(&save_dir));
    assert!(unpacked.status.success());
    let search = run(Command::new("sh").arg("-c").arg(
        "found=0; for blob in \"$0\"/blobs/sha256/*; do if gzip -dcf \"$blob\" | grep -aqF \"$1\"; then echo \"$blob\"; found=1; fi; done; ls \"$0\"/blobs/sha256 | wc -l",
    ).arg(&save_dir).arg(marker));
    let lines = stdout(&search);
    let (hits, count) = lines.rsplit_once('\n').unwrap_or(("", lines.as_str()));
    assert_eq!(hits, "", "the secret's marker is in these blobs");
    assert!(
        count.trim().parse::<u32>().is_ok_and(|n| n >= 4),
        "too few blobs searched: {lines}"
    );
    assert!(!inspect(image, "{{json .Config}}").contains(marker));
    let _ = std::fs::remove_dir_all(&save_dir);
}

/// A fresh copy of the `private-index` fixture whose index is served on
/// `port` (the fixture's files name 18080; another port is written into
/// the copy's pyproject.toml and uv.lock, for a second test of the
/// process), to the user `pybase` with a password made of `marker` and a
/// unique number; the service with a system step of its own (the tests
/// build with `--no-cache`: secrets are in no cache key). Returns the copy
/// and the password.
pub(crate) fn private_index_fixture(port: u16, marker: &str) -> (PathBuf, String) {
    // The fixture's lock names the index at the default bridge's gateway.
    assert_eq!(
        bridge_gateway(),
        "172.17.0.1",
        "the private-index fixture expects Docker's default bridge"
    );
    let password = format!("{marker}-{}", unique());
    serve_private_index_on(port, "pybase", &password);
    let dir = fixture("private-index");
    own_system_step(&dir, "private-app");
    for file in ["pyproject.toml", "uv.lock"] {
        let path = dir.join(file);
        let text = std::fs::read_to_string(&path).expect("read the fixture");
        assert!(text.contains("172.17.0.1:18080"), "{file}");
        let text = text.replace("172.17.0.1:18080", &format!("172.17.0.1:{port}"));
        std::fs::write(&path, text).expect("write the fixture");
    }
    (dir, password)
}

/// The package index of the `private-index` fixture: a PEP 503 simple
/// index serving its one wheel to requests with basic auth `user:password`
/// (401 otherwise), on `port` of every interface, so that build
/// containers reach it through the Docker bridge. Runs until the test
/// process ends.
fn serve_private_index_on(port: u16, user: &str, password: &str) {
    use base64::Engine;
    use std::io::{BufRead, BufReader, Write};
    const WHEEL: &str = "pybase_private_demo-1.0.0-py3-none-any.whl";
    let wheel = std::fs::read(
        repo_root()
            .join("testdata/projects/private-index/index")
            .join(WHEEL),
    )
    .expect("the fixture wheel");
    let digest = {
        let output = run(Command::new("sha256sum").arg(
            repo_root()
                .join("testdata/projects/private-index/index")
                .join(WHEEL),
        ));
        stdout(&output)
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_owned()
    };
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    );
    let listener =
        std::net::TcpListener::bind(("0.0.0.0", port)).expect("the index's port is free");
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(&stream);
            let mut request = String::new();
            if reader.read_line(&mut request).is_err() {
                continue;
            }
            let mut authorized = false;
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                if let Some((name, value)) = line.split_once(':')
                    && name.eq_ignore_ascii_case("authorization")
                {
                    authorized = value.trim() == expected;
                }
                line.clear();
            }
            let mut parts = request.split_whitespace();
            let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            let (status, content_type, body): (&str, &str, Vec<u8>) = if !authorized {
                (
                    "401 Unauthorized",
                    "text/plain",
                    b"credentials required\n".to_vec(),
                )
            } else if path.trim_end_matches('/') == "/simple/pybase-private-demo" {
                let page = format!(
                    "<html><body><a href=\"/files/{WHEEL}#sha256={digest}\">{WHEEL}</a></body></html>"
                );
                ("200 OK", "text/html", page.into_bytes())
            } else if path == format!("/files/{WHEEL}") {
                ("200 OK", "application/octet-stream", wheel.clone())
            } else {
                ("404 Not Found", "text/plain", b"not found\n".to_vec())
            };
            let mut stream = &stream;
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nWWW-Authenticate: Basic realm=\"pybase\"\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            if method != "HEAD" {
                let _ = stream.write_all(&body);
            }
        }
    });
}

#[test]
fn a_private_index_is_reached_with_the_netrc_secret_which_no_layer_keeps() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    let (dir, password) = private_index_fixture(18080, "pybase-netrc-marker");

    // Without credentials the venv step fails. (`--no-cache` in both
    // builds: secrets are not part of BuildKit's cache keys, so a venv
    // cached by an earlier build with credentials would be reused.)
    let image = "pybase-e2e/private-app:latest";
    let (output, _) = build_with(&dir, None, image, &["--no-cache"]);
    assert!(!output.status.success(), "the index requires credentials");
    assert!(stderr(&output).contains("401"), "{}", stderr(&output));

    let netrc = dir.join("..").join(format!("netrc-{}", unique()));
    std::fs::write(
        &netrc,
        format!("machine 172.17.0.1\nlogin pybase\npassword {password}\n"),
    )
    .expect("write netrc");
    let (output, _) = build_with(
        &dir,
        None,
        image,
        &[
            "--no-cache",
            "--secret",
            &format!("id=netrc,src={}", netrc.display()),
        ],
    );
    assert!(output.status.success(), "{}", failure(&output));
    let ran = docker_run(image, None, &[]);
    assert_eq!(stdout(&ran), "private-app: from the private index");
    assert_no_blob_holds(image, &password);
    let _ = std::fs::remove_file(&netrc);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A git server over SSH for the `git-ssh` fixture: the test image with
/// openssh-server and git, a user `git` whose key is made at build time,
/// and a bare repository of `pybase-git-demo` whose one commit (fixed
/// names and dates) is the one the fixture's lock pins.
const GIT_SERVER_DOCKERFILE: &str = r#"RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends openssh-server git >/dev/null && rm -rf /var/lib/apt/lists/*
RUN set -eu; mkdir -p /run/sshd /tmp/demo/src/pybase_git_demo /srv/git; \
    useradd --create-home --shell /usr/bin/git-shell git; mkdir -m 700 /home/git/.ssh; \
    ssh-keygen -q -t ed25519 -N '' -C pybase-e2e -f /root/client_key; cp /root/client_key.pub /home/git/.ssh/authorized_keys; chown -R git:git /home/git/.ssh; \
    printf '[project]\nname = "pybase-git-demo"\nversion = "1.0.0"\nrequires-python = ">=3.11"\n\n[build-system]\nrequires = ["hatchling==1.27.0"]\nbuild-backend = "hatchling.build"\n' > /tmp/demo/pyproject.toml; \
    printf 'GREETING = "fetched over ssh"\n' > /tmp/demo/src/pybase_git_demo/__init__.py; \
    cd /tmp/demo; git init -q -b main; git add -A; \
    export GIT_AUTHOR_NAME=pybase GIT_AUTHOR_EMAIL=pybase@example.invalid GIT_COMMITTER_NAME=pybase GIT_COMMITTER_EMAIL=pybase@example.invalid GIT_AUTHOR_DATE=2026-01-01T00:00:00Z GIT_COMMITTER_DATE=2026-01-01T00:00:00Z; \
    git commit -q -m 'pybase-git-demo 1.0.0'; git tag v1.0.0; \
    git clone -q --bare /tmp/demo /srv/git/pybase-git-demo.git; chown -R git:git /srv/git; rm -rf /tmp/demo
CMD ["/usr/sbin/sshd", "-D", "-e", "-o", "PasswordAuthentication=no"]
"#;
const GIT_SERVER_IMAGE: &str = "pybase-e2e/git-ssh-server:1";
const GIT_SERVER: &str = "pybase-e2e-git-ssh";
/// The repository as the fixture names it, reached from build containers
/// through the default bridge's gateway.
const GIT_REPOSITORY: &str = "172.17.0.1:18022/srv/git/pybase-git-demo.git";

/// The running git server; removed when dropped.
struct GitServer {
    key: PathBuf,
    known_hosts: PathBuf,
}

impl GitServer {
    fn start(scratch: &Path) -> Self {
        derive_image(
            GIT_SERVER_IMAGE,
            &format!("FROM {BASE_IMAGE}\n{GIT_SERVER_DOCKERFILE}"),
        );
        let _ = run(Command::new("docker").args(["rm", "-f", GIT_SERVER]));
        let started = run(Command::new("docker").args([
            "run",
            "-d",
            "--name",
            GIT_SERVER,
            "-p",
            "18022:22",
            GIT_SERVER_IMAGE,
        ]));
        assert!(started.status.success(), "{}", failure(&started));
        let read = |path: &str| {
            let output = run(Command::new("docker").args(["exec", GIT_SERVER, "cat", path]));
            assert!(output.status.success(), "{path}: {}", failure(&output));
            output.stdout
        };
        let key = scratch.join("git-client-key");
        std::fs::write(&key, read("/root/client_key")).expect("client key");
        let host_key =
            String::from_utf8(read("/etc/ssh/ssh_host_ed25519_key.pub")).expect("host key");
        let host_key: Vec<&str> = host_key.split_whitespace().take(2).collect();
        let known_hosts = scratch.join("git-known-hosts");
        std::fs::write(
            &known_hosts,
            format!("[172.17.0.1]:18022 {}\n", host_key.join(" ")),
        )
        .expect("known_hosts");
        Self { key, known_hosts }
    }

    /// A new path to the repository, so that no uv cache of an earlier
    /// build has it: a build fetching it goes over SSH.
    fn fresh_path(&self) -> String {
        let name = format!("run-{}.git", unique());
        let cloned = run(Command::new("docker").args([
            "exec",
            "-u",
            "git",
            GIT_SERVER,
            "git",
            "clone",
            "-q",
            "--bare",
            "/srv/git/pybase-git-demo.git",
            &format!("/srv/git/{name}"),
        ]));
        assert!(cloned.status.success(), "{}", failure(&cloned));
        GIT_REPOSITORY.replace("pybase-git-demo.git", &name)
    }
}

impl Drop for GitServer {
    fn drop(&mut self) {
        let _ = run(Command::new("docker").args(["rm", "-f", GIT_SERVER]));
    }
}

/// The `git-ssh` fixture, its repository moved to `repository`.
fn git_fixture_at(repository: &str) -> PathBuf {
    let dir = fixture("git-ssh");
    for file in ["pyproject.toml", "uv.lock"] {
        let path = dir.join(file);
        let text = std::fs::read_to_string(&path).expect("fixture file");
        assert!(text.contains(GIT_REPOSITORY), "{file} names the repository");
        std::fs::write(&path, text.replace(GIT_REPOSITORY, repository)).expect("fixture file");
    }
    dir
}

#[test]
fn a_git_dependency_over_ssh_is_fetched_with_the_forwarded_key_and_checked_host() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    let scratch = std::env::temp_dir().join(format!("pybase-e2e-git-{}", unique()));
    std::fs::create_dir_all(&scratch).expect("scratch dir");
    let server = GitServer::start(&scratch);
    let ssh = format!("default={}", server.key.display());
    let known_hosts = |path: &Path| format!("id=known_hosts,src={}", path.display());

    // With the key forwarded and the host's key known: fetched, built, run.
    let dir = git_fixture_at(&server.fresh_path());
    let image = format!("pybase-e2e/gitdemo:{}", unique());
    let (output, _) = build_with(
        &dir,
        None,
        &image,
        &["--ssh", &ssh, "--secret", &known_hosts(&server.known_hosts)],
    );
    let log = stderr(&output);
    assert!(output.status.success(), "{}", failure(&output));
    assert!(log.contains("git over SSH"), "the venv step says so: {log}");
    assert!(
        log.contains("Updated ssh://git@172.17.0.1:18022/srv/git/run-"),
        "{log}"
    );
    let ran = docker_run(&image, None, &[]);
    assert!(ran.status.success(), "{}", failure(&ran));
    assert_eq!(stdout(&ran), "gitdemo: fetched over ssh");
    // Neither the key nor the host list reaches a layer or the config.
    let key = std::fs::read_to_string(&server.key).expect("key");
    let key_line = key.lines().nth(2).expect("a key body line");
    assert_no_blob_holds(&image, key_line);
    assert_no_blob_holds(&image, "[172.17.0.1]:18022 ssh-ed25519");
    let _ = std::fs::remove_dir_all(&dir);

    // A host whose key is not the one in known_hosts is refused.
    let other = scratch.join("other-host");
    std::fs::write(
        &other,
        "[172.17.0.1]:18022 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n",
    )
    .expect("other known_hosts");
    let dir = git_fixture_at(&server.fresh_path());
    let (output, _) = build_with(
        &dir,
        None,
        &format!("{image}-refused"),
        &["--ssh", &ssh, "--secret", &known_hosts(&other)],
    );
    let log = stderr(&output);
    assert!(!output.status.success(), "{log}");
    assert!(log.contains("Host key verification failed"), "{log}");

    // Without the forwarded key the build stops at the venv step.
    let (output, _) = build_with(
        &dir,
        None,
        &format!("{image}-no-key"),
        &["--secret", &known_hosts(&server.known_hosts)],
    );
    let log = stderr(&output);
    assert!(!output.status.success(), "{log}");
    assert!(log.contains("ssh forward key default"), "{log}");
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&scratch);
}
