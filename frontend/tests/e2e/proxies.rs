//! The proxy build args the Docker CLI forwards (`HTTPS_PROXY` and its
//! family): every step that downloads goes through the proxy, and the
//! proxy is in no cache key, no image config and no history. The proxy is
//! a small CONNECT proxy on the host's bridge address that logs every
//! tunnel it opens.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use crate::harness::{
    bridge_gateway, build_with, e2e_session, failure, fixture, inspect, own_system_step, run,
    stderr, stdout, step_cached,
};

/// A CONNECT proxy (HTTPS) that also forwards plain-HTTP requests: binds
/// `$1` on a free port, prints the port, and writes `CONNECT host:port` or
/// `GET http://…` for each request to stderr.
const PROXY: &str = r#"
import select, socket, socketserver, sys, urllib.parse

class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.connection.recv(65536)
            if not chunk:
                return
            head += chunk
        line = head.split(b"\r\n", 1)[0].decode("latin-1")
        method, target, _ = line.split(" ", 2)
        print(f"{method} {target}", file=sys.stderr, flush=True)
        if method == "CONNECT":
            host, port = target.rsplit(":", 1)
            upstream = socket.create_connection((host, int(port)), timeout=30)
            self.connection.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            rest = head.split(b"\r\n\r\n", 1)[1]
            if rest:
                upstream.sendall(rest)
        else:
            url = urllib.parse.urlsplit(target)
            upstream = socket.create_connection((url.hostname, url.port or 80), timeout=30)
            path = url.path or "/"
            if url.query:
                path += "?" + url.query
            upstream.sendall(head.replace(target.encode(), path.encode(), 1))
        sockets = [self.connection, upstream]
        while True:
            readable, _, _ = select.select(sockets, [], [], 60)
            if not readable:
                return
            for s in readable:
                data = s.recv(65536)
                if not data:
                    return
                (upstream if s is self.connection else self.connection).sendall(data)

class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

server = Server((sys.argv[1], 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
"#;

/// The proxy, running: its process and the URL build steps reach it at.
struct Proxy {
    child: Child,
    url: String,
}

impl Proxy {
    /// Starts the proxy on the address of Docker's default bridge, which
    /// build steps reach.
    fn start() -> Self {
        let gateway = bridge_gateway();
        assert!(!gateway.is_empty(), "no bridge gateway address");
        let mut child = Command::new("python3")
            .args(["-c", PROXY, &gateway])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the proxy");
        let mut port = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut port)
            .expect("the proxy's port");
        Self {
            child,
            url: format!("http://{gateway}:{}", port.trim()),
        }
    }

    /// Stops the proxy and returns the requests it logged.
    fn stop(mut self) -> String {
        let _ = self.child.kill();
        let output = self.child.wait_with_output().expect("the proxy's log");
        String::from_utf8_lossy(&output.stderr).into_owned()
    }
}

/// The build backend's step (setuptools, from PyPI through uv) of the
/// `setup-py` fixture downloads; with `HTTPS_PROXY` it goes through the
/// proxy, and a build with another proxy is fully cached.
///
/// The first build runs with `--no-cache`, on a system step of its own
/// ([`own_system_step`]). Cache mount ids are no part of BuildKit's cache
/// keys, so a cache namespace of its own would not make the steps rerun.
#[test]
fn the_proxy_build_args_reach_the_downloading_steps_and_no_cache_key_or_config() {
    let Some(_docker) = e2e_session() else {
        return;
    };
    let dir = fixture("setup-py");
    own_system_step(&dir, "greeter");
    let image = "pybase-e2e/proxies:first";
    let proxy = Proxy::start();
    let arg = format!("HTTPS_PROXY={}", proxy.url);
    let (output, _) = build_with(
        &dir,
        Some("greeter"),
        image,
        &["--no-cache", "--build-arg", &arg],
    );
    let log = proxy.stop();
    assert!(output.status.success(), "{}", failure(&output));
    // uv looked up setuptools on PyPI through the proxy.
    assert!(log.contains("CONNECT pypi.org:443"), "proxy log:\n{log}");
    // No proxy in the image's config or history.
    let config = inspect(image, "{{json .Config}}");
    assert!(
        config.contains("PATH=/opt/venv/bin") && !config.to_ascii_lowercase().contains("proxy"),
        "{config}"
    );
    let history = stdout(&run(Command::new("docker").args([
        "history",
        "--no-trunc",
        "--format",
        "{{.CreatedBy}}",
        image,
    ])));
    assert!(
        history.contains("pybase: project code of `greeter`")
            && !history.to_ascii_lowercase().contains("proxy"),
        "{history}"
    );

    // Another proxy (one that answers nothing): every step is cached, so
    // the proxy is in no cache key.
    let (output, _) = build_with(
        &dir,
        Some("greeter"),
        "pybase-e2e/proxies:second",
        &["--build-arg", "HTTPS_PROXY=http://127.0.0.1:9"],
    );
    let log = stderr(&output);
    assert!(output.status.success(), "{}", failure(&output));
    assert!(
        step_cached(&log, "[greeter] code: build backend setuptools>=40.8.0"),
        "{log}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
