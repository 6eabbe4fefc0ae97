#!/usr/bin/env bash
# Measures the corpus's figures for testdata/real/README.md on this
# machine's Docker daemon: for each project NAME (all of projects.tsv by
# default), a build with --no-cache ("cold": every step reruns; BuildKit's
# cache mounts, such as uv's download cache, stay), then the image's size
# and venv packages, then one line appended to the project's code file and
# a rebuild ("code change"), and whether its venv step was CACHED.
# Images are pybase-corpus/NAME:cold and :edited (removed with --clean).
#
#   testdata/real/measure.sh [--clean] [--peer] [NAME...]
#
# With --peer, the same with Dockerfile.uv-guide instead of pybase.yaml
# (uv.lock projects only; images pybase-corpus/NAME-peer:…; the venv step
# is the Dockerfile's first `uv sync`), or Dockerfile.uv-guide-workspace for
# a service whose `project:` is a workspace member. Run it on a quiet
# daemon: another build's --no-cache makes the steps it shares with these
# rerun too, and --no-cache here does that to the others' builds (hence the
# lock below).
#
# Prints one tab-separated line per project: name, cold seconds, rebuild
# seconds, venv step cached (yes/no), packages in the venv, image bytes; the
# build logs are in target/real/logs/.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
clean=false peer=false
if [[ "${1:-}" == "--clean" ]]; then clean=true; shift; fi
if [[ "${1:-}" == "--peer" ]]; then peer=true; shift; fi
dest="$root/target/real"
logs="$dest/logs"
mkdir -p "$logs"
"$here/fetch.sh" "$dest" "$@" >/dev/null || exit 1

build() { # NAME LOG [EXTRA...]
  local name=$1 log=$2; shift 2
  local started=$(date +%s.%N)
  if $peer; then
    # A service whose project is a workspace member (`project:` other than
    # `.`) gets the workspace peer, for its member's package.
    local member dockerfile=$here/Dockerfile.uv-guide
    member=$(sed -n 's/^ *project: *\([^ #]*\).*/\1/p' "$dest/$name/pybase.yaml")
    if [[ -n "$member" && "$member" != "." ]]; then
      dockerfile=$here/Dockerfile.uv-guide-workspace
      set -- --build-arg PACKAGE="$(sed -n 's/^name = "\(.*\)"/\1/p' "$dest/$name/$member/pyproject.toml" | head -1)" "$@"
    fi
    docker buildx build --progress plain --load -t "pybase-corpus/$name-peer:${TAG}" \
      -f "$dockerfile" \
      --build-context python:3.11-slim=docker-image://pybase-test/python:3.11 \
      --secret id=ca-bundle,src=/etc/ssl/certs/ca-certificates.crt \
      --build-arg SETUPTOOLS_SCM_PRETEND_VERSION="$(sed -n 's/^ *version: *\([^ ]*\).*/\1/p' "$dest/$name/pybase.yaml")" \
      "$@" "$dest/$name" >"$log" 2>&1
  else
    docker buildx build --progress plain --load -t "pybase-corpus/$name:${TAG}" \
      -f "$dest/$name/pybase.yaml" \
      --build-context python:3.11-slim=docker-image://pybase-test/python:3.11 \
      --secret id=ca-bundle,src=/etc/ssl/certs/ca-certificates.crt \
      --target "$name" "$@" "$dest/$name" >"$log" 2>&1
  fi
  local status=$?
  echo "$(date +%s.%N) - $started" | bc
  return $status
}

suffix=""
$peer && suffix="-peer"
venv_step='^#[0-9]+ \[.*\] venv: [0-9]+ package'
$peer && venv_step='^#[0-9]+ \[builder [0-9]+/[0-9]+\] RUN .*--no-install-(project|workspace)'
# One measurement at a time on the daemon, and none beside an end-to-end
# run: the harness's lock (frontend/tests/e2e/harness.rs).
exec 9>"${TMPDIR:-/tmp}/pybase-e2e.lock"
flock 9

while IFS=$'\t' read -r name _ _ _ code; do
  [[ -z "$name" || "$name" == \#* ]] && continue
  if [[ $# -gt 0 && " $* " != *" $name "* ]]; then continue; fi
  TAG=cold
  if ! cold=$(build "$name" "$logs/$name$suffix.cold.log" --no-cache); then
    printf '%s\tFAILED (see %s)\n' "$name$suffix" "$logs/$name$suffix.cold.log"
    continue
  fi
  size=$(docker image inspect --format '{{.Size}}' "pybase-corpus/$name$suffix:cold")
  packages=$(docker run --rm --entrypoint /bin/sh "pybase-corpus/$name$suffix:cold" -c \
    'ls -d /opt/venv/lib/python3*/site-packages/*.dist-info /app/.venv/lib/python3*/site-packages/*.dist-info 2>/dev/null | wc -l')
  # A line no earlier build saw, so that the code step runs.
  # A comment in the file's language: `#` for Python, `//` for Rust.
  comment='#'
  [[ "$code" == *.rs ]] && comment='//'
  printf '\n%s edited by testdata/real/measure.sh at %s\n' "$comment" "$(date +%s.%N)" >>"$dest/$name/$code"
  TAG=edited
  rebuild=$(build "$name" "$logs/$name$suffix.edited.log") || rebuild="FAILED"
  step=$(grep -m1 -E "$venv_step" "$logs/$name$suffix.edited.log" | awk '{print $1}')
  cached=no
  [[ -n "$step" ]] && grep -qx "$step CACHED" "$logs/$name$suffix.edited.log" && cached=yes
  printf '%s\t%.1f\t%.1f\t%s\t%s\t%s\n' "$name$suffix" "$cold" "$rebuild" "$cached" "$packages" "$size"
  if $clean; then docker image rm -f "pybase-corpus/$name$suffix:cold" "pybase-corpus/$name$suffix:edited" >/dev/null; fi
done <"$here/projects.tsv"
