#!/usr/bin/env bash
# provision.sh: the shell half of `cargo xtask up` (xtask/src/up.rs calls it, one step per call).
#
# It makes a Debian 12 (bookworm) machine, run as root, ready for pybase's end-to-end tests:
#   engine                      a Docker Engine with BuildKit and the containerd image store
#                               (reused when one already answers), plus the buildx CLI plugin
#   engine-switch trixie        the test engine of `cargo xtask test --engine trixie`: stops the
#                               running dockerd and starts Debian trixie's Docker 26.1 (BuildKit
#                               v0.13) on the classic image store (no MergeOp), with a data root of
#                               its own so the default engine's images stay; the next `engine`
#                               step stops it and starts the default engine again
#   registry                    a loopback registry on 127.0.0.1:5000 (Debian's docker-registry)
#   base-image                  the test base image pybase-test/python:3.11 (debootstrap + import)
#   multiarch-base              arm64 emulation (qemu-user-static, binfmt-support), the arm64 base
#                               image pybase-test/python:3.11-arm64 (debootstrap --arch=arm64), and
#                               the index localhost:5000/pybase-test/python:3.11 of both platforms
#   frontend-image BIN DOCKERFILE
#                               the frontend image from a prebuilt static binary, tagged
#                               pybase-frontend:dev and pushed as localhost:5000/pybase-frontend:dev
#   lock-tools                  the lock writers whose commands pybase's hints print, pinned, in a
#                               venv: uv (llb-gen/src/tools.rs's UV_VERSION), pip-tools, Poetry,
#                               PDM, Pipenv
#                               (tests/relock_hints.rs runs each hinted command)
#   cross-toolchain             what `cargo xtask release` cross-compiles the arm64 frontend with:
#                               the Rust target aarch64-unknown-linux-gnu (rustup) and Debian's
#                               gcc-aarch64-linux-gnu as its linker (with the arm64 glibc to link
#                               statically against)
#   lint-tools                  the GitHub workflow linters `cargo xtask test` runs, pinned, in a venv:
#                               zizmor and check-jsonschema (with its vendored workflow schema)
#   free-disk GB                below GB free at Docker's root: removes old test images, prunes the
#                               build cache (run by `cargo xtask test` before the tests)
#   summary                     versions, image store, registry, images and free disk, on stdout
#
# Every step is idempotent and fast when its work is already done. The machine is reused across
# sessions but its processes are not, so the engine step also clears what killed daemons leave
# behind (pid files naming dead processes, a missing docker0 bridge). Never two dockerds at once:
# a second one deletes the first one's docker0 bridge (shared/docs/environment.md).
#
# Where things go (nothing touches the system's apt sources):
#   /opt/pybase-docker/root      Debian's docker.io, docker-cli, containerd, docker-buildx and
#                                tini(-static), unpacked with `dpkg -x` (forky, else trixie)
#   /opt/pybase-docker/etc       daemon.json and the registry's config
#   /var/cache/pybase            private apt lists, downloaded .debs, the base images' rootfs tarballs
#   /var/lib/pybase-registry     the registry's storage
#   /var/log/pybase-*.log        dockerd's and the registry's logs
#   /opt/pybase-tools            the lock-tools venv (its bin/ holds uv, pip-compile, poetry, pdm, pipenv)
#   /opt/pybase-lint             the lint-tools venv (its bin/ holds zizmor, check-jsonschema)
# Environment overrides: PYBASE_DOCKER_SUITE=forky|trixie forces a suite for a fresh install;
# PYBASE_DOCKERD_TIMEOUT (seconds, default 90) bounds the wait for a starting dockerd.
set -euo pipefail

# --- Pinned versions ---------------------------------------------------------------------------
# Upstream versions tested on bookworm; any Debian revision of them is accepted. Forky is
# Debian testing and moves: when its pinned versions are gone, or its dockerd fails to start,
# provisioning falls back to trixie. runc and iptables come from bookworm itself (trixie's runc
# needs GLIBC 2.38).
FORKY_PACKAGES=(docker.io=28.5.2 docker-cli=28.5.2 containerd=2.1.9 docker-buildx=0.29.1 tini-static=0.19.0)
# Trixie's `tini` still ships /usr/bin/tini-static, which dockerd's docker-init points at.
TRIXIE_PACKAGES=(docker.io=26.1.5 docker-cli=26.1.5 containerd=1.7.24 docker-buildx=0.13.1 tini=0.19.0)
HOST_PACKAGES=(runc iptables)
# What this script itself runs (pgrep, ss and ip, curl); present on these machines, not on every
# fresh bookworm.
TOOL_PACKAGES=(procps iproute2 curl)

PREFIX=/opt/pybase-docker
# Written while the running dockerd is a test engine (`engine-switch`): its suite.
TEST_ENGINE_MARK="$PREFIX/test-engine"
# The test engine's data root: its classic image store apart from the default engine's.
TEST_ENGINE_DATA_ROOT=/var/lib/pybase-docker-test-engine
ROOT="$PREFIX/root"
STAMP="$PREFIX/installed"
DAEMON_JSON="$PREFIX/etc/daemon.json"
REGISTRY_CONFIG="$PREFIX/etc/registry.yml"
CACHE=/var/cache/pybase
DOCKERD_LOG=/var/log/pybase-dockerd.log
REGISTRY_LOG=/var/log/pybase-registry.log
REGISTRY_ROOT=/var/lib/pybase-registry
REGISTRY_ADDR=127.0.0.1:5000
DEBIAN_MIRROR=http://deb.debian.org/debian
BASE_IMAGE=pybase-test/python:3.11
# The arm64 variant, and the loopback registry's index of both (multi-platform tests' base).
BASE_IMAGE_ARM64=pybase-test/python:3.11-arm64
MULTIARCH_REPO=localhost:5000/pybase-test/python
BASE_TAG=3.11
BASE_SUITE=bookworm
BASE_INCLUDE=python3,python3-venv,python3-dev,ca-certificates
# Bump when the rootfs recipe below changes (the package list and mirror count already).
BASE_RECIPE=2
# The lock writers (lock-tools). uv's version is the one pybase builds with, read from its pin.
TOOLS_PREFIX=/opt/pybase-tools
PIP_TOOLS_VERSION=7.7.0
POETRY_VERSION=2.5.1
# PDM 2.29 breaks on hishel 2 (it asks for >=1.4.0): hishel pinned to the version PDM locks itself.
PDM_VERSION=2.29.4
HISHEL_VERSION=1.4.0
PIPENV_VERSION=2026.10.3
# The workflow linters (lint-tools). actionlint is a Go binary from GitHub, which these machines
# cannot reach (its PyPI wrapper downloads it at install); both of these are wheels on PyPI.
LINT_PREFIX=/opt/pybase-lint
ZIZMOR_VERSION=1.32.0
CHECK_JSONSCHEMA_VERSION=0.39.0
FRONTEND_TAGS=(pybase-frontend:dev localhost:5000/pybase-frontend:dev)
FRONTEND_PUSH=localhost:5000/pybase-frontend:dev
PLUGIN_DIR="${DOCKER_CONFIG:-${HOME:-/root}/.docker}/cli-plugins"
DOCKERD_TIMEOUT="${PYBASE_DOCKERD_TIMEOUT:-90}"

export DEBIAN_FRONTEND=noninteractive

log() { printf 'provision: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
# Prints a command, then runs it.
run() { log "+ $*"; "$@"; }

# --- Helpers -----------------------------------------------------------------------------------

# Installs the named bookworm packages that are not installed yet (no apt call when none is
# missing). The system's lists are refreshed at most once an hour, not once per step.
ensure_host_packages() {
  local missing=() pkg marker="$CACHE/apt-updated"
  for pkg in "$@"; do
    dpkg-query -W -f '${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  ((${#missing[@]})) || return 0
  if [[ -z "$(find "$marker" -mmin -60 2>/dev/null)" ]]; then
    run apt-get -o DPkg::Lock::Timeout=120 -q update
    touch "$marker"
  fi
  run apt-get -o DPkg::Lock::Timeout=120 -q install -y --no-install-recommends "${missing[@]}"
}

# apt-get with a private sources list for SUITE: the system's apt configuration never sees it.
suite_apt() {
  local suite=$1 tool=$2
  shift 2
  local dir="$CACHE/apt/$suite"
  mkdir -p "$dir/lists/partial"
  if [[ ! -f "$dir/sources.list" ]]; then
    printf 'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] %s %s main\n' \
      "$DEBIAN_MIRROR" "$suite" >"$dir/sources.list"
  fi
  "$tool" -o Dir::Etc::SourceList="$dir/sources.list" -o Dir::Etc::SourceParts=/dev/null \
    -o Dir::State::Lists="$dir/lists" -o APT::Sandbox::User=root "$@"
}

# Prints the newest version of PACKAGE in SUITE's (already updated) lists whose upstream part is UPSTREAM.
resolve_version() {
  local suite=$1 pkg=$2 upstream=$3
  suite_apt "$suite" apt-cache madison "$pkg" | awk -F' [|] ' -v up="$upstream" '
    { v = $2; gsub(/ /, "", v); sub(/^[0-9]+:/, "", v) }
    index(v, up) == 1 && substr(v, length(up) + 1, 1) ~ /[-+~]/ { print $2; exit }' | tr -d ' '
}

# True when a daemon answers on the Docker CLI's default endpoint.
docker_reachable() { timeout 15 docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

# True when PID is a live (not zombie) process whose command name is NAME. A killed daemon can
# stay a zombie for a while: this VM's init reaps orphans slowly.
is_live() {
  local pid=$1 name=$2 stat
  [[ -n "$pid" && -r "/proc/$pid/stat" ]] || return 1
  stat=$(<"/proc/$pid/stat") 2>/dev/null || return 1
  # "PID (COMM) STATE ...": COMM may hold spaces, so cut at the last ')'.
  [[ "${stat#*\(}" == "$name) "* && "${stat##*\) }" != Z* ]]
}

# Prints the pids of the live processes named NAME.
live_pids() {
  local pid
  for pid in $(pgrep -x "$1"); do
    if is_live "$pid" "$1"; then echo "$pid"; fi
  done
}

# Removes pid file FILE unless it names a live process whose command name is NAME.
clear_stale_pidfile() {
  local file=$1 name=$2 pid
  [[ -f "$file" ]] || return 0
  pid=$(tr -dc '0-9' <"$file")
  is_live "$pid" "$name" && return 0
  log "removing stale $file (pid ${pid:-none} is not a running $name)"
  rm -f "$file"
}

# Unmounts every mount below DIR, deepest first (what a killed process may leave behind).
unmount_below() {
  local dir=$1 target
  findmnt -rn -o TARGET | awk -v d="$dir/" 'index($0, d) == 1' | sort -r | while read -r target; do
    log "unmounting leftover $target"
    umount -l "$target" || true
  done
}

# Prints the last lines that FILE got after byte OFFSET.
log_tail() { tail -c +"$(($2 + 1))" "$1" 2>/dev/null | tail -n 40; }

# --- engine ------------------------------------------------------------------------------------

# Prints SUITE's pinned package=upstream-version list on one line; fails for an unknown suite.
suite_packages() {
  case "$1" in
    forky) echo "${FORKY_PACKAGES[*]}" ;;
    trixie) echo "${TRIXIE_PACKAGES[*]}" ;;
    *) return 1 ;;
  esac
}

# Downloads (or takes from the cache) SUITE's pinned packages, unpacks them into a new prefix, checks
# that their binaries run here, and only then replaces the old prefix.
install_prefix() {
  local suite=$1 line specs=() spec pkg up debs=() need_download=0 version
  line=$(suite_packages "$suite") || die "unknown suite $suite (want forky or trixie)"
  read -ra specs <<<"$line"
  local debdir="$CACHE/debs/$suite"
  mkdir -p "$debdir"
  # Offline reinstall: every pinned .deb already cached.
  for spec in "${specs[@]}"; do
    pkg=${spec%%=*} up=${spec#*=}
    compgen -G "$debdir/${pkg}_${up}[-+~]*.deb" >/dev/null || need_download=1
  done
  if ((need_download)); then
    log "downloading Docker packages from Debian $suite"
    suite_apt "$suite" apt-get -q update || { log "apt-get update for $suite failed"; return 1; }
    local wanted=()
    for spec in "${specs[@]}"; do
      pkg=${spec%%=*} up=${spec#*=}
      version=$(resolve_version "$suite" "$pkg" "$up")
      if [[ -z "$version" ]]; then
        log "$suite has no $pkg $up (it has: $(suite_apt "$suite" apt-cache madison "$pkg" | awk -F'|' '{printf "%s", $2}'))"
        return 1
      fi
      wanted+=("$pkg=$version")
    done
    (cd "$debdir" && suite_apt "$suite" apt-get -q download "${wanted[@]}") || { log "download from $suite failed"; return 1; }
  fi
  for spec in "${specs[@]}"; do
    pkg=${spec%%=*} up=${spec#*=}
    # The newest cached revision of the pinned upstream version.
    debs+=("$(printf '%s\n' "$debdir/${pkg}_${up}"[-+~]*.deb | sort -V | tail -n 1)")
  done
  rm -rf "$ROOT.new"
  mkdir -p "$ROOT.new"
  local deb
  for deb in "${debs[@]}"; do
    log "unpacking $(basename "$deb")"
    dpkg -x "$deb" "$ROOT.new"
  done
  # The binaries must run on this glibc.
  local bin
  for bin in usr/sbin/dockerd usr/bin/containerd usr/bin/docker usr/libexec/docker/cli-plugins/docker-buildx; do
    if ! "$ROOT.new/$bin" --version >/dev/null 2>&1 && ! "$ROOT.new/$bin" version >/dev/null 2>&1; then
      log "$suite's $bin does not run here: $("$ROOT.new/$bin" --version 2>&1 | head -n 3)"
      rm -rf "$ROOT.new"
      return 1
    fi
  done
  rm -rf "$ROOT"
  mv "$ROOT.new" "$ROOT"
  printf '%s\n' "suite=$suite" "${specs[@]}" "${debs[@]##*/}" >"$STAMP"
  log "installed Debian $suite's Docker into $ROOT"
}

# The suite the prefix was installed from, or nothing when it is missing or its pins changed.
installed_suite() {
  [[ -f "$STAMP" && -x "$ROOT/usr/sbin/dockerd" ]] || return 0
  local suite line specs=() spec
  suite=$(sed -n 's/^suite=//p' "$STAMP")
  line=$(suite_packages "$suite") || return 0
  read -ra specs <<<"$line"
  for spec in "${specs[@]}"; do
    grep -qxF -- "$spec" "$STAMP" || return 0
  done
  printf '%s\n' "$suite"
}

# Makes sure the prefix holds a working install: keeps the current one, else forky, else trixie.
ensure_prefix() {
  local want=${PYBASE_DOCKER_SUITE:-} have
  have=$(installed_suite)
  if [[ -n "$have" && ( -z "$want" || "$want" == "$have" ) ]]; then
    log "Docker packages already installed (Debian $have) in $ROOT"
    return 0
  fi
  if [[ -n "$want" ]]; then
    install_prefix "$want" || die "could not install Docker from Debian $want"
    return 0
  fi
  install_prefix forky && return 0
  log "falling back to Debian trixie's Docker packages"
  install_prefix trixie || die "could not install Docker from Debian forky nor trixie"
}

write_daemon_json() {
  mkdir -p "$(dirname "$DAEMON_JSON")"
  if [[ -f "$TEST_ENGINE_MARK" ]]; then
    # A test engine: the classic image store (what most users' engines have), in its own root.
    printf '%s\n' '{' "  \"data-root\": \"$TEST_ENGINE_DATA_ROOT\"" '}' >"$DAEMON_JSON"
    return 0
  fi
  # The containerd image store enables MergeOp and DiffOp in BuildKit.
  printf '%s\n' '{' '  "features": { "containerd-snapshotter": true }' '}' >"$DAEMON_JSON"
}

# Stops the running dockerd (and the containerd it manages), waiting for it to end.
stop_dockerd() {
  local pid waited=0
  for pid in $(live_pids dockerd); do
    log "stopping dockerd (pid $pid)"
    kill "$pid"
    while is_live "$pid" dockerd; do
      ((waited < DOCKERD_TIMEOUT)) || die "dockerd (pid $pid) did not stop within ${DOCKERD_TIMEOUT}s"
      sleep 1
      waited=$((waited + 1))
    done
  done
}

# The test engine SUITE (trixie): stops the running dockerd unless it is already that engine, then
# installs SUITE's packages and starts them on the classic image store.
step_engine_switch() {
  local suite=${1:?usage: provision.sh engine-switch trixie}
  [[ "$suite" == trixie ]] || die "the only test engine is trixie (Docker 26.1, BuildKit v0.13)"
  if [[ "$(cat "$TEST_ENGINE_MARK" 2>/dev/null)" == "$suite" ]] && docker_reachable; then
    log "reusing the running test engine (Debian $suite, $(docker version --format '{{.Server.Version}}'))"
  else
    stop_dockerd
    ensure_host_packages "${HOST_PACKAGES[@]}"
    [[ "$(installed_suite)" == "$suite" ]] || install_prefix "$suite" || die "could not install Docker from Debian $suite"
    echo "$suite" >"$TEST_ENGINE_MARK"
    start_dockerd || die "the test engine's dockerd did not start"
  fi
  ensure_bridge
  ensure_clients
}

# After a test engine: stops it and puts back the default engine's packages (forky, else trixie).
leave_test_engine() {
  [[ -f "$TEST_ENGINE_MARK" ]] || return 0
  log "the running dockerd is the test engine ($(cat "$TEST_ENGINE_MARK")): switching back to the default engine"
  stop_dockerd
  rm -f "$TEST_ENGINE_MARK"
  if [[ -n "${PYBASE_DOCKER_SUITE:-}" ]]; then
    install_prefix "$PYBASE_DOCKER_SUITE" || die "could not install Docker from Debian $PYBASE_DOCKER_SUITE"
  else
    install_prefix forky || install_prefix trixie || die "could not install Docker from Debian forky nor trixie"
  fi
}

# Clears what a killed dockerd leaves in /run, which is not a tmpfs on these machines.
clear_engine_leftovers() {
  clear_stale_pidfile /var/run/docker.pid dockerd
  local cpid=/var/run/docker/containerd/containerd.pid
  clear_stale_pidfile "$cpid" containerd
  if [[ ! -f "$cpid" ]]; then
    # No managed containerd survives: its runtime state is stale.
    unmount_below /var/run/docker
    unmount_below /run/docker
    rm -f /var/run/docker/containerd/*.sock /var/run/docker/containerd/*.sock.ttrpc
  fi
}

# Starts dockerd from the prefix and waits for it; returns 1 (with the log tail) when it fails.
start_dockerd() {
  clear_engine_leftovers
  write_daemon_json
  touch "$DOCKERD_LOG"
  local offset pid waited=0
  offset=$(stat -c %s "$DOCKERD_LOG")
  printf '=== pybase provision.sh: starting dockerd (%s) at %s\n' "$(installed_suite)" "$(date -Is)" >>"$DOCKERD_LOG"
  log "starting dockerd in the background (log: $DOCKERD_LOG)"
  # Bookworm's runc (in /usr/sbin) stays the only runc: the prefix has none.
  PATH="$ROOT/usr/sbin:$ROOT/usr/bin:$PATH" setsid dockerd --config-file "$DAEMON_JSON" \
    </dev/null >>"$DOCKERD_LOG" 2>&1 9>&- &
  pid=$!
  until docker_reachable; do
    if ! kill -0 "$pid" 2>/dev/null; then
      log "dockerd exited during start-up; the end of $DOCKERD_LOG:"
      log_tail "$DOCKERD_LOG" "$offset" >&2
      return 1
    fi
    if ((waited >= DOCKERD_TIMEOUT)); then
      log "dockerd (pid $pid) did not answer within ${DOCKERD_TIMEOUT}s; the end of $DOCKERD_LOG:"
      log_tail "$DOCKERD_LOG" "$offset" >&2
      log "stopping it"
      kill "$pid" 2>/dev/null || true
      return 1
    fi
    sleep 1
    waited=$((waited + 1))
  done
  log "dockerd (pid $pid) is up after ${waited}s"
}

# Recreates the default bridge's docker0 when a running daemon has lost it.
ensure_bridge() {
  local name cidr
  name=$(docker network inspect bridge --format '{{index .Options "com.docker.network.bridge.name"}}' 2>/dev/null) || return 0
  [[ -n "$name" ]] || return 0
  ip link show "$name" >/dev/null 2>&1 && return 0
  cidr=$(docker network inspect bridge --format '{{range .IPAM.Config}}{{.Gateway}}/{{.Subnet}}{{end}}')
  # Gateway/Subnet as 172.17.0.1/172.17.0.0/16: keep the gateway and the prefix length.
  cidr="${cidr%%/*}/${cidr##*/}"
  [[ "$cidr" == */* && "$cidr" != / ]] || cidr=172.17.0.1/16
  log "the daemon's bridge $name is missing: recreating it as $cidr"
  run ip link add "$name" type bridge
  run ip addr add "$cidr" dev "$name"
  run ip link set "$name" up
}

# Puts the prefix's buildx (and, when the machine has none, its docker CLI) where the CLI finds them.
ensure_clients() {
  if ! command -v docker >/dev/null 2>&1; then
    ensure_prefix
    log "no docker CLI on PATH: linking /usr/local/bin/docker to $ROOT/usr/bin/docker"
    ln -sf "$ROOT/usr/bin/docker" /usr/local/bin/docker
  fi
  local plugin="$ROOT/usr/libexec/docker/cli-plugins/docker-buildx"
  if [[ ! -x "$plugin" ]] && ! docker buildx version >/dev/null 2>&1; then
    ensure_prefix
  fi
  if [[ -x "$plugin" ]] && ! cmp -s "$plugin" "$PLUGIN_DIR/docker-buildx"; then
    log "installing the buildx plugin into $PLUGIN_DIR"
    mkdir -p "$PLUGIN_DIR"
    install -m 0755 "$plugin" "$PLUGIN_DIR/docker-buildx"
  fi
  docker buildx version >/dev/null 2>&1 || die "\`docker buildx version\` fails: $(docker buildx version 2>&1 | head -n 3)"
}

# One daemon per machine: when a dockerd process runs but does not answer yet, waits for it.
# Fails when none runs (or it ends while we wait), so that the caller starts one.
wait_for_other_dockerd() {
  local pids waited=0
  pids=$(live_pids dockerd)
  [[ -n "$pids" ]] || return 1
  log "dockerd (pid ${pids//$'\n'/ }) runs but does not answer yet: waiting up to ${DOCKERD_TIMEOUT}s for it"
  until docker_reachable; do
    [[ -n "$(live_pids dockerd)" ]] || { log "that dockerd ended"; return 1; }
    ((waited < DOCKERD_TIMEOUT)) || die "dockerd (pid ${pids//$'\n'/ }) runs but does not answer; see $DOCKERD_LOG"
    sleep 1
    waited=$((waited + 1))
  done
}

step_engine() {
  leave_test_engine
  # The docker CLI first: every check below goes through it.
  command -v docker >/dev/null 2>&1 || ensure_clients
  if docker_reachable; then
    log "reusing the running Docker daemon ($(docker version --format '{{.Server.Version}}'))"
  elif wait_for_other_dockerd; then
    log "reusing the Docker daemon that was starting ($(docker version --format '{{.Server.Version}}'))"
  else
    ensure_host_packages "${HOST_PACKAGES[@]}"
    ensure_prefix
    if ! start_dockerd; then
      [[ -z "${PYBASE_DOCKER_SUITE:-}" && "$(installed_suite)" == forky ]] || die "dockerd did not start"
      log "forky's dockerd did not start: falling back to Debian trixie's Docker packages"
      install_prefix trixie || die "could not install Docker from Debian trixie"
      start_dockerd || die "dockerd did not start (Debian trixie's packages either)"
    fi
  fi
  ensure_bridge
  ensure_clients
}

# --- registry ----------------------------------------------------------------------------------

registry_answers() { curl -fsS -o /dev/null --max-time 5 "http://$REGISTRY_ADDR/v2/" 2>/dev/null; }

step_registry() {
  if registry_answers; then
    log "reusing the registry that answers on $REGISTRY_ADDR"
    return 0
  fi
  if [[ -n "$(ss -Hltn "sport = :${REGISTRY_ADDR##*:}")" ]]; then
    die "port ${REGISTRY_ADDR##*:} is taken by something that is not a registry: $(ss -Hltnp "sport = :${REGISTRY_ADDR##*:}")"
  fi
  ensure_host_packages docker-registry
  mkdir -p "$(dirname "$REGISTRY_CONFIG")" "$REGISTRY_ROOT"
  cat >"$REGISTRY_CONFIG" <<EOF
# Written by xtask/provision.sh: pybase's loopback registry.
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $REGISTRY_ROOT
  delete:
    enabled: true
http:
  addr: $REGISTRY_ADDR
EOF
  touch "$REGISTRY_LOG"
  local offset pid waited=0
  offset=$(stat -c %s "$REGISTRY_LOG")
  log "starting docker-registry on $REGISTRY_ADDR in the background (log: $REGISTRY_LOG)"
  setsid docker-registry serve "$REGISTRY_CONFIG" </dev/null >>"$REGISTRY_LOG" 2>&1 9>&- &
  pid=$!
  until registry_answers; do
    if ! kill -0 "$pid" 2>/dev/null || ((waited >= 30)); then
      log "the registry did not come up; the end of $REGISTRY_LOG:"
      log_tail "$REGISTRY_LOG" "$offset" >&2
      kill "$pid" 2>/dev/null || true
      die "docker-registry did not start"
    fi
    sleep 0.5
    waited=$((waited + 1))
  done
  log "registry (pid $pid) answers on $REGISTRY_ADDR"
}

# --- base-image --------------------------------------------------------------------------------

# Sets ROOTFS_KEY (what goes into the rootfs, hashed) and ROOTFS_TARBALL (its cached tarball)
# for the test base image of Debian architecture ARCH (amd64 or arm64).
rootfs_names() {
  local arch=$1 prefix
  if [[ "$arch" == amd64 ]]; then
    # The amd64 key predates the other architectures: unchanged, so its image and cache stay valid.
    ROOTFS_KEY=$(printf '%s %s %s %s' "$BASE_SUITE" "$BASE_INCLUDE" "$DEBIAN_MIRROR" "$BASE_RECIPE" | sha256sum | cut -c1-12)
    prefix="$BASE_SUITE-minbase"
  else
    ROOTFS_KEY=$(printf '%s %s %s %s %s' "$BASE_SUITE" "$BASE_INCLUDE" "$DEBIAN_MIRROR" "$BASE_RECIPE" "$arch" | sha256sum | cut -c1-12)
    prefix="$BASE_SUITE-$arch-minbase"
  fi
  ROOTFS_TARBALL="$CACHE/rootfs/$prefix-$ROOTFS_KEY.tar"
}

# Makes the rootfs tarball of ARCH with debootstrap unless it is cached. A foreign architecture's
# second stage runs under qemu-user-static (step_multiarch_base registers it first).
make_rootfs() {
  local arch=$1 tarball work started
  rootfs_names "$arch"
  tarball=$ROOTFS_TARBALL
  if [[ -f "$tarball" ]]; then
    log "using the cached $arch rootfs $tarball"
    return 0
  fi
  ensure_host_packages debootstrap
  work="$CACHE/rootfs/work-$arch"
  mkdir -p "$CACHE/rootfs"
  # A debootstrap killed halfway leaves its target's /proc and /sys mounted.
  unmount_below "$work"
  rm -rf --one-file-system "$work"
  if [[ "$arch" == amd64 ]]; then
    log "debootstrap of $BASE_SUITE ($arch) with $BASE_INCLUDE (about a minute)"
  else
    log "debootstrap of $BASE_SUITE ($arch, second stage emulated) with $BASE_INCLUDE (several minutes)"
  fi
  started=$SECONDS
  run debootstrap --arch="$arch" --variant=minbase --include="$BASE_INCLUDE" "$BASE_SUITE" "$work/root" "$DEBIAN_MIRROR"
  log "debootstrap of $BASE_SUITE ($arch) took $((SECONDS - started))s"
  # Like the official python:*-slim images: no apt lists, no downloaded .debs (debootstrap
  # leaves about 50 MB of lists and 60 MB of .debs).
  log "removing debootstrap's apt lists and .deb cache from the rootfs"
  find "$work/root/var/lib/apt/lists" -mindepth 1 -delete
  find "$work/root/var/cache/apt" -name '*.deb' -delete
  run tar -C "$work/root" -cf "$tarball.partial" .
  rm -f "${tarball%-*}-"*.tar
  mv "$tarball.partial" "$tarball"
  rm -rf --one-file-system "$work"
}

# Imports the rootfs of ARCH as IMAGE for linux/ARCH. The key names what goes into the rootfs: a
# change to the recipe rebuilds the tarball, and the import message records the key, so an image
# imported from an older recipe is replaced.
import_base() {
  local arch=$1 image=$2 message
  rootfs_names "$arch"
  message="pybase test base image, rootfs $ROOTFS_KEY"
  if [[ "$(docker image inspect --format '{{.Comment}}' "$image" 2>/dev/null)" == "$message" ]]; then
    log "$image (rootfs $ROOTFS_KEY) is already in the image store"
    return 0
  fi
  make_rootfs "$arch"
  log "+ docker import --platform linux/$arch --message '$message' $ROOTFS_TARBALL $image"
  docker import --platform "linux/$arch" --message "$message" "$ROOTFS_TARBALL" "$image" >/dev/null
}

step_base_image() {
  import_base amd64 "$BASE_IMAGE"
}

# --- multiarch-base ----------------------------------------------------------------------------

# True when this kernel runs arm64 binaries through a registered, enabled qemu handler.
arm64_runs() { [[ -r /proc/sys/fs/binfmt_misc/qemu-aarch64 ]] && grep -qx enabled /proc/sys/fs/binfmt_misc/qemu-aarch64; }

# Registers qemu-user-static's binfmt handlers (with the F flag, so they also work in chroots and
# containers) unless arm64 already runs.
ensure_arm64_emulation() {
  if arm64_runs; then
    log "arm64 emulation is registered ($(sed -n 's/^interpreter //p' /proc/sys/fs/binfmt_misc/qemu-aarch64))"
    return 0
  fi
  ensure_host_packages qemu-user-static binfmt-support
  if [[ ! -e /proc/sys/fs/binfmt_misc/register ]]; then
    run mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
  fi
  arm64_runs || run update-binfmts --enable qemu-aarch64
  arm64_runs || die "arm64 emulation is not registered after installing qemu-user-static: $(ls /proc/sys/fs/binfmt_misc)"
  log "arm64 emulation is registered ($(sed -n 's/^interpreter //p' /proc/sys/fs/binfmt_misc/qemu-aarch64))"
}

# Prints the platforms (os/architecture) of the index REF in the loopback registry, one a line,
# or nothing when it is not there.
registry_index_platforms() {
  docker buildx imagetools inspect --raw "$1" 2>/dev/null |
    jq -r 'select(.manifests != null) | .manifests[] | select(.platform != null) | "\(.platform.os)/\(.platform.architecture) \(.digest)"' 2>/dev/null || true
}

# Prints the digest of the manifest that REF names in the loopback registry.
registry_digest() {
  docker buildx imagetools inspect --format '{{json .Manifest}}' "$1" 2>/dev/null | jq -r '.digest // empty' 2>/dev/null || true
}

step_multiarch_base() {
  ensure_host_packages jq
  ensure_arm64_emulation
  import_base amd64 "$BASE_IMAGE"
  import_base arm64 "$BASE_IMAGE_ARM64"
  local arch image want=() have
  # One tag per architecture in the registry; the index names their manifests.
  for arch in amd64 arm64; do
    image=$BASE_IMAGE
    [[ "$arch" == amd64 ]] || image=$BASE_IMAGE_ARM64
    run docker tag "$image" "$MULTIARCH_REPO:$BASE_TAG-$arch"
    # A push of an unchanged image uploads nothing.
    run docker push -q "$MULTIARCH_REPO:$BASE_TAG-$arch"
    want+=("linux/$arch $(registry_digest "$MULTIARCH_REPO:$BASE_TAG-$arch")")
  done
  have=$(registry_index_platforms "$MULTIARCH_REPO:$BASE_TAG" | sort)
  if [[ "$have" == "$(printf '%s\n' "${want[@]}" | sort)" ]]; then
    log "$MULTIARCH_REPO:$BASE_TAG is already the index of linux/amd64 and linux/arm64"
  else
    run docker buildx imagetools create --tag "$MULTIARCH_REPO:$BASE_TAG" \
      "$MULTIARCH_REPO:$BASE_TAG-amd64" "$MULTIARCH_REPO:$BASE_TAG-arm64"
  fi
  # The proof that emulation works in containers: the arm64 image's own Python says so.
  local machine
  machine=$(docker run --rm --platform linux/arm64 "$BASE_IMAGE_ARM64" python3 -c 'import platform; print(platform.machine())')
  [[ "$machine" == aarch64 ]] || die "the arm64 base image's python3 reports machine '$machine', not aarch64"
  log "$MULTIARCH_REPO:$BASE_TAG: linux/amd64 and linux/arm64 (python3 in the arm64 image runs as $machine)"
}

# --- frontend-image ----------------------------------------------------------------------------

step_frontend_image() {
  local binary=${1:?usage: provision.sh frontend-image BINARY DOCKERFILE} dockerfile=${2:?usage: provision.sh frontend-image BINARY DOCKERFILE}
  [[ -x "$binary" ]] || die "no frontend binary at $binary"
  local tag tags=()
  # A context holding only the binary (global: the EXIT trap runs after this function returns).
  frontend_context=$(mktemp -d /tmp/pybase-frontend-context.XXXXXX)
  trap 'rm -rf "$frontend_context"' EXIT
  cp "$binary" "$frontend_context/pybase"
  for tag in "${FRONTEND_TAGS[@]}"; do tags+=(-t "$tag"); done
  run docker build --progress=plain -f "$dockerfile" --target prebuilt "${tags[@]}" "$frontend_context"
  run docker push -q "$FRONTEND_PUSH"
}

# --- cross-toolchain ---------------------------------------------------------------------------

# The Rust target and the cross linker for a static arm64 frontend binary (`cargo xtask release`);
# compiled natively, never under emulation. The target goes into the toolchain rustup selects for
# this directory (`cargo xtask release` runs this step from the repository root).
step_cross_toolchain() {
  ensure_host_packages gcc-aarch64-linux-gnu libc6-dev-arm64-cross
  command -v rustup >/dev/null || die "no rustup on PATH: the aarch64 Rust target comes from rustup"
  if rustup target list --installed | grep -qx aarch64-unknown-linux-gnu; then
    log "Rust target aarch64-unknown-linux-gnu: installed"
  else
    run rustup target add aarch64-unknown-linux-gnu
  fi
  log "cross linker: $(aarch64-linux-gnu-gcc --version | head -1)"
}

# --- lock-tools --------------------------------------------------------------------------------

# A venv at PREFIX of the pinned requirements WANT (one string, space-separated), from PyPI,
# announced as NAME; reinstalled only when a pin changes (its stamp) or one of the programs BIN...
# (in its bin/) is missing.
pinned_venv() {
  local name=$1 prefix=$2 want=$3 bin
  shift 3
  local stamp="$prefix/installed" ready=1
  for bin in "$@"; do [[ -x "$prefix/bin/$bin" ]] || ready=0; done
  if [[ "$(cat "$stamp" 2>/dev/null)" == "$want" ]] && ((ready)); then
    log "$name: $want (installed)"
    return 0
  fi
  ensure_host_packages python3-venv
  rm -rf "$prefix"
  run python3 -m venv "$prefix"
  # shellcheck disable=SC2086 # $want is a list of requirements
  run "$prefix/bin/pip" install --quiet --disable-pip-version-check $want
  printf '%s\n' "$want" >"$stamp"
  log "$name: $want"
}

# A venv of the pinned uv, pip-tools and Poetry, from PyPI: the commands pybase's hints print to
# write a lock anew run in tests with these.
step_lock_tools() {
  local uv_version
  uv_version=$(sed -n 's/^pub const UV_VERSION: &str = "\(.*\)";$/\1/p' "$(dirname "$0")/../llb-gen/src/tools.rs")
  [[ -n "$uv_version" ]] || die "no UV_VERSION in llb-gen/src/tools.rs"
  pinned_venv "lock tools" "$TOOLS_PREFIX" \
    "uv==$uv_version pip-tools==$PIP_TOOLS_VERSION poetry==$POETRY_VERSION pdm==$PDM_VERSION hishel==$HISHEL_VERSION pipenv==$PIPENV_VERSION" \
    poetry pipenv
}

# --- lint-tools --------------------------------------------------------------------------------

# A venv of the pinned workflow linters.
step_lint_tools() {
  pinned_venv "lint tools" "$LINT_PREFIX" \
    "zizmor==$ZIZMOR_VERSION check-jsonschema==$CHECK_JSONSCHEMA_VERSION" \
    zizmor check-jsonschema
}

# --- free-disk ---------------------------------------------------------------------------------

# The tests' builds take a few GB of build cache and images, and a full disk fails every build
# after the one that filled it. Below GB gigabytes free at Docker's root, this removes the images
# earlier test and benchmark runs left (pybase-e2e/*, pybase-bench/*, pybase-bench-seed/*),
# then prunes BuildKit's cache down to what leaves GB free (its oldest records first). It never
# fails: it reports what is free.
step_free_disk() {
  local want=${1:?usage: provision.sh free-disk GB} root before after images
  root=$(docker info --format '{{.DockerRootDir}}')
  before=$(free_gigabytes "$root")
  if ((before >= want)); then
    log "free disk: ${before}G at $root (at least ${want}G wanted)"
    return 0
  fi
  log "only ${before}G free at $root, ${want}G wanted: removing earlier test images, pruning the build cache"
  images=$(docker image ls --format '{{.Repository}}:{{.Tag}}' | grep -E '^pybase-(e2e|bench|bench-seed)/' || true)
  if [[ -n "$images" ]]; then
    xargs docker image rm -f <<<"$images" >/dev/null || log "some test images could not be removed"
  fi
  # --min-free-space came with buildx 0.17 (forky's 0.29); trixie's 0.13 has only --keep-storage.
  if docker buildx prune --help 2>/dev/null | grep -q -- '--min-free-space'; then
    docker buildx prune -f --min-free-space "${want}GB" >&2 || log "pruning the build cache failed"
  else
    docker buildx prune -f --keep-storage 2GB >&2 || log "pruning the build cache failed"
  fi
  after=$(free_gigabytes "$root")
  log "free disk: ${after}G at $root, was ${before}G"
  ((after >= want)) || log "warning: still under ${want}G free; builds may fail with 'no space left on device'"
}

# Whole gigabytes free on the filesystem holding PATH.
free_gigabytes() { df -BG --output=avail "$1" | tail -1 | tr -dc '0-9'; }

# --- summary -----------------------------------------------------------------------------------

step_summary() {
  local driver store containerd image
  driver=$(docker info --format '{{.Driver}}')
  if docker info --format '{{json .DriverStatus}}' | grep -q 'io.containerd.snapshotter.v1'; then
    store="on (containerd snapshotter $driver)"
  else
    store="off (classic store, $driver): MergeOp and DiffOp are disabled"
  fi
  containerd=$(docker version --format '{{range .Server.Components}}{{if eq .Name "containerd"}}{{.Version}}{{end}}{{end}}')
  printf '%-24s %s\n' \
    "docker server:" "$(docker version --format '{{.Server.Version}}') (client $(docker version --format '{{.Client.Version}}'))" \
    "containerd:" "$containerd" \
    "buildx:" "$(docker buildx version)" \
    "containerd image store:" "$store" \
    "Docker packages:" "$(sed -n 's/^suite=/Debian /p' "$STAMP" 2>/dev/null || true)" \
    "registry:" "$REGISTRY_ADDR (repositories: $(curl -fsS --max-time 5 "http://$REGISTRY_ADDR/v2/_catalog" | tr -d '\n'))"
  for image in "$BASE_IMAGE" "$BASE_IMAGE_ARM64" "${FRONTEND_TAGS[@]}"; do
    printf '%-24s %s\n' "image:" "$image $(docker image inspect --format '{{.Id}} {{.Size}} bytes' "$image" 2>/dev/null || echo MISSING)"
  done
  printf '%-24s %s\n' "multi-platform base:" "$MULTIARCH_REPO:$BASE_TAG ($(registry_index_platforms "$MULTIARCH_REPO:$BASE_TAG" | cut -d' ' -f1 | paste -sd' ' || true))"
  printf '%-24s %s\n' "arm64 emulation:" "$(if arm64_runs; then echo registered; else echo 'not registered'; fi)"
  # The end-to-end tests need a few GB: a full disk fails every build after it.
  local docker_root
  docker_root=$(docker info --format '{{.DockerRootDir}}')
  printf '%-24s %s\n' "free disk:" "$(free_gigabytes "$docker_root")G at $docker_root ($(docker system df --format '{{.Type}} {{.Size}}' | paste -sd, | sed 's/,/, /g'))"
}

# --- main --------------------------------------------------------------------------------------

[[ $EUID -eq 0 ]] || die "run as root (it installs packages and starts dockerd)"
step=${1:?usage: provision.sh engine|engine-switch trixie|registry|base-image|multiarch-base|frontend-image BINARY DOCKERFILE|cross-toolchain|lock-tools|lint-tools|free-disk GB|summary}
shift
# Only the summary is data: everything the other steps and their tools print is progress.
[[ "$step" == summary ]] || exec 1>&2
mkdir -p "$CACHE" /run/lock
# One provisioning at a time: concurrent `cargo xtask up` runs wait for each other. The daemons
# started below close fd 9, or they would hold the lock for good.
exec 9>/run/lock/pybase-provision.lock
if ! flock -n 9; then
  log "waiting for another provision.sh to finish"
  flock 9
fi
ensure_host_packages "${TOOL_PACKAGES[@]}" >&2
case "$step" in
  engine) step_engine ;;
  engine-switch) step_engine_switch "$@" ;;
  registry) step_registry ;;
  base-image) step_base_image ;;
  multiarch-base) step_multiarch_base ;;
  frontend-image) step_frontend_image "$@" ;;
  cross-toolchain) step_cross_toolchain ;;
  lock-tools) step_lock_tools ;;
  lint-tools) step_lint_tools ;;
  free-disk) step_free_disk "$@" ;;
  summary) step_summary ;;
  *) die "unknown step $step" ;;
esac
