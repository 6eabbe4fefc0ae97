#!/usr/bin/env bash
# Fetches the published projects of the corpus (testdata/real/projects.tsv):
# each sdist from files.pythonhosted.org, checked against its pinned sha256,
# unpacked into a scratch directory, and the project directory in it overlaid
# with what this repository keeps for it (testdata/real/NAME/: pybase.yaml,
# the lock made by the project's own tool, and for some an overlay, below).
# Third-party source is never committed: it lives only in the scratch dir.
#
#   testdata/real/fetch.sh [DEST] [NAME...]
#
# DEST defaults to target/real of the repository. Each project ends up in
# DEST/NAME, made afresh on every run; the downloaded sdists are kept in
# DEST/.sdists and reused once their sha256 checks. Overlays:
#   - every file of testdata/real/NAME/ but README.md is copied over the
#     project directory, except pyproject.append.toml, which is appended to
#     the project's pyproject.toml (a package index declared for Poetry).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
dest=${1:-$here/../../target/real}
shift || true
mkdir -p "$dest/.sdists"
dest=$(cd "$dest" && pwd)

want() {
  [[ $# -eq 0 ]] && return 0
  local name=$1; shift
  for w in "${selected[@]}"; do [[ "$w" == "$name" ]] && return 0; done
  return 1
}
selected=("$@")

check() { # FILE SHA256
  [[ "$(sha256sum "$1" | cut -d' ' -f1)" == "$2" ]]
}

while IFS=$'\t' read -r name url sha subdir _; do
  [[ -z "$name" || "$name" == \#* ]] && continue
  if [[ ${#selected[@]} -gt 0 ]] && ! want "$name" "${selected[@]}"; then continue; fi
  sdist="$dest/.sdists/${url##*/}"
  if ! [[ -f "$sdist" ]] || ! check "$sdist" "$sha"; then
    curl -fsSL --retry 3 -o "$sdist.part" "$url"
    if ! check "$sdist.part" "$sha"; then
      echo "fetch.sh: $name: sha256 of $url is $(sha256sum "$sdist.part" | cut -d' ' -f1), pinned $sha" >&2
      rm -f "$sdist.part"
      exit 1
    fi
    mv "$sdist.part" "$sdist"
  fi
  unpacked="$dest/.unpacked/$name"
  rm -rf "$unpacked" "$dest/$name"
  mkdir -p "$unpacked"
  tar -xzf "$sdist" -C "$unpacked" --strip-components=1
  if ! [[ -d "$unpacked/$subdir" ]]; then
    echo "fetch.sh: $name: no directory $subdir in ${url##*/}" >&2
    exit 1
  fi
  cp -a "$unpacked/$subdir" "$dest/$name"
  rm -rf "$unpacked"
  for file in "$here/$name"/* "$here/$name"/.[!.]*; do
    [[ -e "$file" ]] || continue
    case "${file##*/}" in
      README.md) ;;
      pyproject.append.toml) cat "$file" >>"$dest/$name/pyproject.toml" ;;
      *) cp -a "$file" "$dest/$name/" ;;
    esac
  done
  echo "$name: $dest/$name"
done <"$here/projects.tsv"
