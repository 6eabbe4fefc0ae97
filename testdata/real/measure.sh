#!/usr/bin/env bash
# Measures the corpus's figures for testdata/real/README.md on this
# machine's Docker daemon: for each project NAME (all of projects.tsv by
# default), a build with --no-cache ("cold": every step reruns; BuildKit's
# cache mounts, such as uv's download cache, stay), then the image's size
# and venv packages, then one line appended to the project's code file and
# a rebuild ("code change"), and whether its venv step was CACHED.
# Images are pybase-corpus/NAME:cold and :edited (removed with --clean).
#
#   testdata/real/measure.sh [--clean] [NAME...]
#
# Prints one tab-separated line per project: name, cold seconds, rebuild
# seconds, venv step cached (yes/no), packages in the venv, image bytes; the
# build logs are in target/real/logs/.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
clean=false
if [[ "${1:-}" == "--clean" ]]; then clean=true; shift; fi
dest="$root/target/real"
logs="$dest/logs"
mkdir -p "$logs"
"$here/fetch.sh" "$dest" "$@" >/dev/null || exit 1

build() { # NAME LOG [EXTRA...]
  local name=$1 log=$2; shift 2
  local started=$(date +%s.%N)
  docker buildx build --progress plain --load -t "pybase-corpus/$name:${TAG}" \
    -f "$dest/$name/pybase.yaml" \
    --build-context python:3.11-slim=docker-image://pybase-test/python:3.11 \
    --secret id=ca-bundle,src=/etc/ssl/certs/ca-certificates.crt \
    --target "$name" "$@" "$dest/$name" >"$log" 2>&1
  local status=$?
  echo "$(date +%s.%N) - $started" | bc
  return $status
}

while IFS=$'\t' read -r name _ _ _ code; do
  [[ -z "$name" || "$name" == \#* ]] && continue
  if [[ $# -gt 0 && " $* " != *" $name "* ]]; then continue; fi
  TAG=cold
  if ! cold=$(build "$name" "$logs/$name.cold.log" --no-cache); then
    printf '%s\tFAILED (see %s)\n' "$name" "$logs/$name.cold.log"
    continue
  fi
  size=$(docker image inspect --format '{{.Size}}' "pybase-corpus/$name:cold")
  packages=$(docker run --rm --entrypoint /bin/sh "pybase-corpus/$name:cold" -c \
    'ls -d /opt/venv/lib/python3*/site-packages/*.dist-info | wc -l')
  printf '\n# edited by testdata/real/measure.sh\n' >>"$dest/$name/$code"
  TAG=edited
  rebuild=$(build "$name" "$logs/$name.edited.log") || rebuild="FAILED"
  step=$(grep -m1 -E '^#[0-9]+ \[.*\] venv' "$logs/$name.edited.log" | awk '{print $1}')
  cached=no
  [[ -n "$step" ]] && grep -qx "$step CACHED" "$logs/$name.edited.log" && cached=yes
  printf '%s\t%.1f\t%.1f\t%s\t%s\t%s\n' "$name" "$cold" "$rebuild" "$cached" "$packages" "$size"
  if $clean; then docker image rm -f "pybase-corpus/$name:cold" "pybase-corpus/$name:edited" >/dev/null; fi
done <"$here/projects.tsv"
