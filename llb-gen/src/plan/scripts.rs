//! The shell scripts the build steps run. Each is a file of its own
//! ([`Script`]), written by a `FileOp` and mounted alone, read-only, in the
//! steps that run it ([`super::shell`]): `/bin/sh /pybase-scripts/FILE
//! ARGS...`, so that a failed step ends in that short command, and a change
//! to one script reruns only the steps that run it. Their arguments reach
//! them as `"$@"`, never spliced into the text; every script starts with
//! `set -eu`. The pieces several scripts share are macros, so that
//! `concat!` can put them together at compile time.

/// A script: its file name, which says what it does (the command a failed
/// step shows), and its text.
#[derive(Debug)]
pub(super) struct Script {
    /// The file name under `/pybase-scripts`.
    pub(super) file: &'static str,
    /// The script.
    pub(super) text: &'static str,
}

/// Runtime packages, the user (`$PYBASE_USER`, uid and gid `$PYBASE_UID`,
/// unless the base has that uid) and the working directory; logs apt writes
/// are removed so the layer holds only what the image needs.
pub(super) const SYSTEM_SCRIPT: Script = Script {
    file: "system.sh",
    text: r#"set -eu
if [ "$#" -gt 0 ]; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "$@"
fi
getent group "$PYBASE_GID" >/dev/null || groupadd --gid "$PYBASE_GID" "$PYBASE_USER"
getent passwd "$PYBASE_UID" >/dev/null || useradd --uid "$PYBASE_UID" --gid "$PYBASE_GID" --no-create-home --home-dir "$PYBASE_WORKDIR" --shell /usr/sbin/nologin "$PYBASE_USER"
mkdir -p "$PYBASE_WORKDIR"
rm -rf /var/log/apt/* /var/log/dpkg.log /var/log/alternatives.log /var/cache/debconf/*-old /var/lib/dpkg/*-old /var/cache/ldconfig/aux-cache
"#,
};

/// The wrapper of a step with index credentials as secret env: BuildKit
/// sets a secret the client did not pass as an empty variable, which uv
/// would take as the index's credentials over the `netrc` secret's; each
/// variable named before `--` is unset when empty, then the command after
/// it runs. The names are pybase's (`UV_INDEX_<NAME>_PASSWORD`, letters,
/// digits and `_`), never the user's text.
pub(super) const INDEX_CREDENTIALS_SCRIPT: Script = Script {
    file: "index-credentials.sh",
    text: r#"set -eu
while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do
  eval "value=\${$1:-}"
  if [ -z "$value" ]; then unset "$1"; fi
  shift
done
shift
unset value
exec "$@"
"#,
};

/// The system stage run again for the OS's security fixes
/// (`--no-cache-filter system`): the image's packages upgraded with apt
/// (when it has apt), then what [`SYSTEM_SCRIPT`] does.
pub(super) const SYSTEM_REFRESH_SCRIPT: Script = Script {
    file: "system-refresh.sh",
    text: r#"set -eu
if [ "$#" -gt 0 ] || command -v apt-get >/dev/null 2>&1; then
  apt-get update -qq
  apt-get upgrade -y -qq -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold
  if [ "$#" -gt 0 ]; then
    apt-get install -y -qq --no-install-recommends "$@"
  fi
else
  echo "pybase: no apt-get in this image: nothing to upgrade" >&2
fi
getent group "$PYBASE_GID" >/dev/null || groupadd --gid "$PYBASE_GID" "$PYBASE_USER"
getent passwd "$PYBASE_UID" >/dev/null || useradd --uid "$PYBASE_UID" --gid "$PYBASE_GID" --no-create-home --home-dir "$PYBASE_WORKDIR" --shell /usr/sbin/nologin "$PYBASE_USER"
mkdir -p "$PYBASE_WORKDIR"
rm -rf /var/log/apt/* /var/log/dpkg.log /var/log/alternatives.log /var/cache/debconf/*-old /var/lib/dpkg/*-old /var/cache/ldconfig/aux-cache
"#,
};

/// The user and working directory of an image assembled by copying,
/// written in the builder: the runtime image's `/etc/passwd` and
/// `/etc/group` (mounted at /pybase/runtime) with the user and group added
/// unless it has those ids, and the working directory. First, the builder's
/// interpreter (the one the venv links to) must be in the runtime image at
/// the same path.
pub(super) const COPIED_SYSTEM_SCRIPT: Script = Script {
    file: "system-copied.sh",
    text: r#"set -eu
runtime=/pybase/runtime
out=/pybase/out
py=$(command -v python3 || command -v python)
python=$("$py" -c 'import os, sys; print(os.path.realpath(sys.executable))')
if [ ! -e "$runtime$python" ] && [ ! -L "$runtime$python" ]; then
  echo "pybase: the runtime image has no $python, the build image's Python that the venv runs with: build-from must have the same CPython at the same path as from" >&2
  exit 1
fi
mkdir -p "$out/etc" "$out$PYBASE_WORKDIR"
for file in passwd group; do
  if [ -f "$runtime/etc/$file" ]; then
    cp -p "$runtime/etc/$file" "$out/etc/$file"
    if [ -n "$(tail -c1 "$out/etc/$file")" ]; then echo >> "$out/etc/$file"; fi
  else
    : > "$out/etc/$file"
  fi
done
cut -d: -f3 "$out/etc/group" | grep -qx "$PYBASE_GID" || echo "$PYBASE_USER:x:$PYBASE_GID:" >> "$out/etc/group"
cut -d: -f3 "$out/etc/passwd" | grep -qx "$PYBASE_UID" || echo "$PYBASE_USER:x:$PYBASE_UID:$PYBASE_GID::$PYBASE_WORKDIR:/usr/sbin/nologin" >> "$out/etc/passwd"
"#,
};

/// Build packages, in the builder only.
pub(super) const BUILD_SCRIPT: Script = Script {
    file: "apt-install.sh",
    text: r#"set -eu
apt-get update -qq
apt-get install -y -qq --no-install-recommends "$@"
"#,
};

/// Unpack the uv binary (`$1`, its path in the wheel) with the base image's
/// own Python: the wheel is a zip, and the base has no unzip.
pub(super) const UV_UNPACK_SCRIPT: Script = Script {
    file: "uv-unpack.sh",
    text: r#"set -eu
py=$(command -v python3 || command -v python)
"$py" - "$1" <<'PY'
import os, sys, zipfile
with zipfile.ZipFile("/pybase/wheel/uv.whl") as wheel, open("/pybase/uv/uv", "wb") as out:
    out.write(wheel.read(sys.argv[1]))
os.chmod("/pybase/uv/uv", 0o755)
PY
"#,
};

/// The start of every script that downloads Python packages: stop on the
/// first error, and use the CA bundle and netrc secrets when the build
/// passes them. (A macro, so that `concat!` can put it in the scripts.)
macro_rules! download_setup {
    () => {
        r#"set -eu
if [ -f /run/secrets/ca-bundle ]; then export SSL_CERT_FILE=/run/secrets/ca-bundle; fi
if [ -f /run/secrets/netrc ]; then export NETRC=/run/secrets/netrc; fi
"#
    };
}

/// An empty venv at `$dir` (/opt/venv, or the build backend's) on the
/// builder's `python3`: the same interpreter for every venv step and for
/// the code step, which makes its own when no venv is below it. (A macro,
/// so that `concat!` can put it in the scripts.)
macro_rules! new_venv {
    ($dir:literal) => {
        concat!(
            r#"py=$(command -v python3 || command -v python)
/pybase/uv/uv venv --quiet --python "$py" "#,
            $dir,
            "\n"
        )
    };
}

/// The venv from the lock alone: `--locked` fails when the lock no longer
/// matches pyproject.toml, rather than building something else; `--python`
/// keeps uv on the interpreter the venv was made on (the code step's), and
/// fails when it does not satisfy `requires-python` rather than looking for
/// another one.
pub(super) const VENV_SCRIPT: Script = Script {
    file: "venv-uv-sync.sh",
    text: concat!(
        download_setup!(),
        new_venv!("/opt/venv"),
        r#"exec /pybase/uv/uv sync --locked --python "$py" --no-default-groups --no-install-project --no-editable "$@"
"#
    ),
};

/// uv.lock as requirements with hashes (the extras and groups selected as
/// arguments), for an install from fetched wheels: `--locked` fails when
/// the lock no longer matches pyproject.toml.
pub(super) const EXPORT_SCRIPT: Script = Script {
    file: "uv-export.sh",
    text: concat!(
        download_setup!(),
        r#"exec /pybase/uv/uv export --locked --quiet --format requirements-txt --no-header --no-default-groups --no-emit-project --no-editable --output-file /pybase/out/requirements.txt "$@"
"#
    ),
};

/// uv records when it saw a package installed from a local file or tree
/// (`uv_cache.json` in its dist-info, listed in RECORD): not part of the
/// package, different in every build, so removed. (A macro, so that
/// `concat!` can put it in the scripts.)
macro_rules! forget_local_files {
    () => {
        r#"for cache in /opt/venv/lib/python*/site-packages/*.dist-info/uv_cache.json; do
  [ -e "$cache" ] || continue
  rm -f "$cache"
  sed -i '/\/uv_cache\.json,/d' "${cache%/uv_cache.json}/RECORD"
done
"#
    };
}

/// Installs the packages built from sdists, `"$@"` (`name==version`), from
/// the wheelhouse: their sdists' hashes were checked when BuildKit fetched
/// them; their dependencies come from the exported requirements.
macro_rules! install_built {
    () => {
        r#"if [ "$#" -gt 0 ]; then
  /pybase/uv/uv pip install --python /opt/venv/bin/python --offline --no-index --find-links /pybase/wheels --no-deps "$@"
fi
"#
    };
}

/// The venv from the wheels BuildKit fetched (/pybase/wheels) and the
/// exported requirements, with the network off: exactly those packages
/// (`pip sync`), every file's hash checked against the lock's; then the
/// packages built from sdists.
pub(super) const FETCHED_VENV_SCRIPT: Script = Script {
    file: "venv-wheelhouse.sh",
    text: concat!(
        "set -eu\n",
        new_venv!("/opt/venv"),
        r#"/pybase/uv/uv pip sync --python /opt/venv/bin/python --offline --no-index --find-links /pybase/wheels --require-hashes /pybase/requirements/requirements.txt
"#,
        install_built!(),
        forget_local_files!()
    ),
};

/// Builds the sdist `/pybase/sdist/$1` into a wheel in `/pybase/out`, with
/// the network for its build requirements, as uv builds it in a project.
pub(super) const SDIST_BUILD_SCRIPT: Script = Script {
    file: "sdist-build.sh",
    text: concat!(
        download_setup!(),
        r#"py=$(command -v python3 || command -v python)
/pybase/uv/uv build --wheel --python "$py" --out-dir /pybase/out "/pybase/sdist/$1"
rm -f /pybase/out/.gitignore
"#
    ),
};

/// The venv from a lock of pins (the last argument: `pylock.toml` or
/// `requirements.txt`, after `--require-hashes` unless the spec turned it
/// off) alone: every package with its hashes, exactly those (`pip sync`).
pub(super) const PINNED_VENV_SCRIPT: Script = Script {
    file: "venv-pip-sync.sh",
    text: concat!(
        download_setup!(),
        new_venv!("/opt/venv"),
        r#"exec /pybase/uv/uv pip sync --python /opt/venv/bin/python "$@"
"#
    ),
};

/// Installs poetry.lock's translation into /opt/venv: `"$@"` are pairs of
/// an index URL (empty for the default, PyPI) and the requirements lock of
/// the packages the lock takes from it (see [`crate::poetry`]), installed
/// one after the other so that each package is looked up only on its own
/// index. The index is given as `--default-index`, which outranks the
/// `--index-url` the file repeats and a `UV_INDEX_URL` or
/// `UV_DEFAULT_INDEX` of the builder image; `--no-deps`, as every package
/// the venv gets is pinned in one of the files; every hash checked.
macro_rules! install_each_index {
    () => {
        r#"uv_install() { /pybase/uv/uv pip install --python /opt/venv/bin/python --no-deps --require-hashes "$@"; }
while [ "$#" -gt 0 ]; do
  if [ -n "$1" ]; then uv_install --default-index "$1" -r "$2"; else uv_install -r "$2"; fi
  shift 2
done
"#
    };
}

/// The venv from poetry.lock's translation alone: a new venv, then
/// `install_each_index!`.
pub(super) const POETRY_VENV_SCRIPT: Script = Script {
    file: "venv-poetry.sh",
    text: concat!(
        download_setup!(),
        new_venv!("/opt/venv"),
        install_each_index!()
    ),
};

/// Copy the files under /opt/venv that this step added or changed (newer
/// than `$stamp`) to the step's output, from `/`.
macro_rules! keep_new_files {
    () => {
        r#"find opt/venv -newer "$stamp" ! -type d ! -path opt/venv/.lock -print0 | xargs -0r cp -a --parents -t /pybase/out
"#
    };
}

/// A delta's end: compile the new `.py` files alone, then keep the new
/// files (`keep_new_files!`).
macro_rules! keep_delta {
    () => {
        concat!(
            r#"find /opt/venv -newer "$stamp" -type f -name '*.py' -print0 | xargs -0r /opt/venv/bin/python -m compileall -q
cd /
"#,
            keep_new_files!()
        )
    };
}

/// A venv on top of a tier's: run the installer (the arguments: `uv sync
/// --inexact` for `uv.lock`, `uv pip install -r` for a lock of pins) into
/// the venv the builder already has (the tier's packages stay; those locked
/// at the same version are not installed again), then keep only the files
/// it added or changed. Bytecode is compiled for the new files alone: uv
/// would recompile the whole venv, rewriting the tier's hash-based .pyc
/// files (the same bytes, new files) into this layer.
pub(super) const DELTA_SCRIPT: Script = Script {
    file: "venv-delta.sh",
    text: concat!(
        download_setup!(),
        r#"stamp=$(mktemp)
UV_COMPILE_BYTECODE=0 "$@"
"#,
        keep_delta!()
    ),
};

/// [`DELTA_SCRIPT`] for an install from the wheelhouse: the exported
/// requirements, then the packages built from sdists (`"$@"`). uv records
/// the wheels as local files (see `forget_local_files!`).
pub(super) const FETCHED_DELTA_SCRIPT: Script = Script {
    file: "venv-delta-wheelhouse.sh",
    text: concat!(
        r#"set -eu
stamp=$(mktemp)
export UV_COMPILE_BYTECODE=0
/pybase/uv/uv pip install --python /opt/venv/bin/python --offline --no-index --find-links /pybase/wheels --require-hashes -r /pybase/requirements/requirements.txt
"#,
        install_built!(),
        forget_local_files!(),
        keep_delta!()
    ),
};

/// [`DELTA_SCRIPT`] for poetry.lock's translation: `install_each_index!`
/// into the venv below, then its new files.
pub(super) const POETRY_DELTA_SCRIPT: Script = Script {
    file: "venv-delta-poetry.sh",
    text: concat!(
        download_setup!(),
        r#"stamp=$(mktemp)
export UV_COMPILE_BYTECODE=0
"#,
        install_each_index!(),
        keep_delta!()
    ),
};

/// Wraps a venv step (`"$@"` after `--`) whose venv is assembled from
/// layers: after the install, moves the files of the venv tree `$1` (the
/// venv `$3`, or the files a delta added to it) into the layers' output
/// mounts under `$2`: a distribution's files to `$2/LAYER$3/`, for each
/// layer `LAYER=name,name` of the arguments after `$4` (see
/// [`crate::layering`]), and what is left to `$2/$4$3/`. A distribution's
/// files are its `.dist-info` directory, what its `RECORD` lists, and the
/// bytecode of each listed `.py` file; a file two distributions list, or
/// none, stays with the venv's own files, as do the directories that were
/// empty. Directories are made with the modes they had, and everything in
/// the layers is dated `$SOURCE_DATE_EPOCH`, so that a layer's bytes, and
/// its digest, are a function of its files alone.
pub(super) const VENV_LAYERS_SCRIPT: Script = Script {
    file: "venv-layers.sh",
    text: r#"set -eu
tree=$1 out=$2 venv=$3 own=$4
shift 4
layers=
while [ "$1" != "--" ]; do layers="$layers $1"; shift; done
shift
"$@"
py=$(command -v python3 || command -v python)
# shellcheck disable=SC2086
exec "$py" - "$tree" "$out" "$venv" "$own" $layers <<'PY'
import csv, os, re, shutil, stat, sys

tree, out, venv, own, specs = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:]
epoch = int(os.environ.get("SOURCE_DATE_EPOCH", "315532800"))
layer_of, names = {}, [own]
for spec in specs:
    layer, _, members = spec.partition("=")
    names.append(layer)
    for member in filter(None, members.split(",")):
        layer_of[member] = layer

def normalize(name):
    return re.sub(r"[-_.]+", "-", name).lower()

files, empty = set(), set()
for dirpath, dirnames, filenames in os.walk(tree):
    rel = os.path.relpath(dirpath, tree)
    links = [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]
    if not dirnames and not filenames and rel != ".":
        empty.add(rel)
    for name in filenames + links:
        files.add(os.path.normpath(os.path.join(rel, name)))

claims = {}
def claim(rel, layer):
    claims.setdefault(rel, set()).add(layer)

tag = sys.implementation.cache_tag
lib = os.path.join(tree, "lib")
sites = [os.path.join(lib, d, "site-packages") for d in sorted(os.listdir(lib))] if os.path.isdir(lib) else []
for site in filter(os.path.isdir, sites):
    for info in sorted(os.listdir(site)):
        if not info.endswith(".dist-info"):
            continue
        layer = layer_of.get(normalize(info[: -len(".dist-info")].split("-")[0]), own)
        info_dir = os.path.join(site, info)
        for dirpath, _, filenames in os.walk(info_dir):
            for name in filenames:
                claim(os.path.relpath(os.path.join(dirpath, name), tree), layer)
        record = os.path.join(info_dir, "RECORD")
        if not os.path.isfile(record):
            continue
        with open(record, newline="", encoding="utf-8") as rows:
            for row in csv.reader(rows):
                if not row:
                    continue
                rel = os.path.relpath(os.path.normpath(os.path.join(site, row[0])), tree)
                if rel.startswith(".."):
                    continue
                claim(rel, layer)
                if rel.endswith(".py"):
                    folder, base = os.path.split(rel)
                    for opt in ("", ".opt-1", ".opt-2"):
                        claim(os.path.join(folder, "__pycache__", f"{base[:-3]}.{tag}{opt}.pyc"), layer)

def made(path, like):
    # `path` and its parents as directories with the modes of `like`'s.
    if os.path.isdir(path):
        return
    made(os.path.dirname(path), os.path.dirname(like))
    os.mkdir(path)
    os.chmod(path, stat.S_IMODE(os.lstat(like).st_mode))

def root_of(layer):
    return os.path.join(out, layer) + venv

for name in names:
    made(root_of(name), venv)
    os.chmod(root_of(name), stat.S_IMODE(os.lstat(tree).st_mode))
for rel in sorted(files):
    owners = claims.get(rel, set())
    if len(owners) != 1 or own in owners:
        continue
    target = os.path.join(root_of(owners.pop()), rel)
    made(os.path.dirname(target), os.path.dirname(os.path.join(tree, rel)))
    shutil.move(os.path.join(tree, rel), target)
for dirpath, dirnames, filenames in os.walk(tree, topdown=False):
    rel = os.path.relpath(dirpath, tree)
    if rel != "." and rel not in empty and not os.listdir(dirpath):
        os.rmdir(dirpath)
for entry in sorted(os.listdir(tree)):
    shutil.move(os.path.join(tree, entry), os.path.join(root_of(own), entry))
for name in names:
    for dirpath, dirnames, filenames in os.walk(os.path.join(out, name), topdown=False):
        for entry in filenames + dirnames:
            os.utime(os.path.join(dirpath, entry), (epoch, epoch), follow_symlinks=False)
        os.utime(dirpath, (epoch, epoch))
PY
"#,
};

/// The variable setuptools_scm (and hatch-vcs, built on it) takes a
/// version from instead of version control.
pub(super) const SCM_VERSION_ENV: &str = "SETUPTOOLS_SCM_PRETEND_VERSION";

/// The environment of the project's build backend, `"$@"` (its
/// requirements), on the interpreter the venvs are made on.
pub(super) const BACKEND_SCRIPT: Script = Script {
    file: "build-backend.sh",
    text: concat!(
        download_setup!(),
        new_venv!("/pybase/backend"),
        r#"exec /pybase/uv/uv pip install --python /pybase/backend/bin/python "$@"
"#
    ),
};

/// The start of a code step: a venv at /opt/venv when the builder has
/// none (no tier below), the time stamp its new files are newer than, and
/// the build backend's Python. (A macro, so that `concat!` can put it in
/// the scripts.)
macro_rules! code_setup {
    () => {
        concat!(
            download_setup!(),
            r#"if [ ! -e /opt/venv/pyvenv.cfg ]; then
"#,
            new_venv!("/opt/venv"),
            r#"fi
stamp=$(mktemp)
backend=/pybase/backend/bin/python
"#
        )
    };
}

/// The end of a code step: uv's records of where each package came from
/// and when it saw it removed, then the new files kept.
macro_rules! code_end {
    () => {
        concat!(
            r#"cd /
# uv's records of where the package came from and when it saw it: not part
# of the package, and paths of this step.
for record in opt/venv/lib/python*/site-packages/*.dist-info/uv_cache.json opt/venv/lib/python*/site-packages/*.dist-info/direct_url.json; do
  [ -e "$record" ] || continue
  rm -f "$record"
  sed -i "\\|/${record##*/},|d" "${record%/*}/RECORD"
done
"#,
            keep_new_files!()
        )
    };
}

/// Install the project without its dependencies into the builder's venv
/// (the tiers' venv, or an empty one made here: never the level's own, so
/// that a lock bump does not rerun this step). With the build backend's
/// environment (`/pybase/backend`), the wheel is built there without
/// isolation, then installed offline; should that build fail (a backend
/// that asks for more at build time), the install builds in an isolated
/// environment, as without it. (A macro, so that `concat!` can put it in
/// the scripts.)
macro_rules! install_project {
    () => {
        r#"if [ -x "$backend" ] && /pybase/uv/uv build --wheel --no-build-isolation --python "$backend" --out-dir /tmp/pybase-code /pybase/src; then
  /pybase/uv/uv pip install --python /opt/venv/bin/python --offline --no-deps /tmp/pybase-code/*.whl
else
  if [ -x "$backend" ]; then
    echo "pybase: the build in the backend's environment failed; building in an isolated one" >&2
  fi
  /pybase/uv/uv pip install --python /opt/venv/bin/python --no-deps /pybase/src
fi
"#
    };
}

/// Each local project directory given (`"$@"`, relative to /pybase/src:
/// the project's, then the workspace members or path dependencies it
/// depends on) built and installed without dependencies, as
/// `install_project!` installs a project; `--no-sources`, since the
/// workspace's root is not mounted (the members' `{ workspace = true }`
/// sources name it) and no dependency is installed anyway. (A macro, so
/// that `concat!` can put it in the scripts.)
macro_rules! install_members {
    () => {
        r#"for member in "$@"; do
  rm -rf /tmp/pybase-code
  if [ -x "$backend" ] && /pybase/uv/uv build --wheel --no-build-isolation --no-sources --python "$backend" --out-dir /tmp/pybase-code "/pybase/src/$member"; then
    /pybase/uv/uv pip install --python /opt/venv/bin/python --offline --no-deps /tmp/pybase-code/*.whl
  else
    if [ -x "$backend" ]; then
      echo "pybase: the build of $member in the backend's environment failed; building in an isolated one" >&2
    fi
    /pybase/uv/uv pip install --python /opt/venv/bin/python --no-deps --no-sources "/pybase/src/$member"
  fi
done
"#
    };
}

/// cargo, for a build backend that compiles Rust (maturin): cargo reads
/// TLS roots from its own setting, not `SSL_CERT_FILE`, so the CA bundle
/// is given to it too when the build passes one. Its target directory is
/// a cache that outlives the step, and cargo judges a local crate's
/// sources unchanged when they are older than its last build: the code's
/// files keep the times they have in the build context (an older copy, an
/// unpacked sdist), so they are made newer than anything in the cache, and
/// the project's crates are always compiled again (a registry's crates are
/// known by their versions and checksums). (A macro, so that `concat!` can
/// put it in the scripts.)
macro_rules! cargo_setup {
    () => {
        r#"if [ -f /run/secrets/ca-bundle ]; then export CARGO_HTTP_CAINFO=/run/secrets/ca-bundle; fi
find /pybase/src -exec touch -c {} +
"#
    };
}

/// Install the project without its dependencies (`install_project!`),
/// then keep only the files the install added or changed (the package,
/// its dist-info, its entry-point scripts and their bytecode). The
/// builder's filesystem is thrown away.
pub(super) const CODE_SCRIPT: Script = Script {
    file: "code-install.sh",
    text: concat!(code_setup!(), install_project!(), code_end!()),
};

/// [`CODE_SCRIPT`] for a project whose backend compiles Rust with cargo
/// (`cargo_setup!`).
pub(super) const CARGO_CODE_SCRIPT: Script = Script {
    file: "code-install-cargo.sh",
    text: concat!(
        code_setup!(),
        cargo_setup!(),
        install_project!(),
        code_end!()
    ),
};

/// The code of a uv workspace member: it and the members it depends on
/// (`install_members!`), then the new files, as [`CODE_SCRIPT`] keeps them.
pub(super) const WORKSPACE_CODE_SCRIPT: Script = Script {
    file: "code-install-workspace-members.sh",
    text: concat!(code_setup!(), install_members!(), code_end!()),
};

/// [`WORKSPACE_CODE_SCRIPT`] for a member whose backend compiles Rust
/// with cargo (`cargo_setup!`).
pub(super) const CARGO_WORKSPACE_CODE_SCRIPT: Script = Script {
    file: "code-install-workspace-members-cargo.sh",
    text: concat!(
        code_setup!(),
        cargo_setup!(),
        install_members!(),
        code_end!()
    ),
};

/// An application's code (mounted at /pybase/src), copied into the
/// image's working directory (`$1`) under the output mount: owned by root,
/// readable by everyone (directories searchable), writable by none but
/// root, file times kept.
pub(super) const APP_CODE_SCRIPT: Script = Script {
    file: "code-copy-application.sh",
    text: r#"set -eu
out="/pybase/out$1"
mkdir -p "$out"
cp -R -p /pybase/src/. "$out/"
chown -hR 0:0 /pybase/out
chmod -R u+rwX,go+rX,go-w /pybase/out
"#,
};

/// A build command (`"$@"`), run as root in a copy of the project
/// directory (/pybase/src) at the working directory (`$PYBASE_WORKDIR`),
/// with the outputs of the earlier commands (/pybase/built) laid over it;
/// then each of its outputs (`$PYBASE_OUTPUTS`, one per line, relative to
/// that directory) copied to the output mount under the working directory,
/// owned by root and readable by everyone. A tool that downloads finds the
/// CA bundle secret through the variables it reads.
pub(super) const BUILD_COMMAND_SCRIPT: Script = Script {
    file: "build-command.sh",
    text: r#"set -eu
workdir=$PYBASE_WORKDIR
mkdir -p "$workdir"
cp -R -p /pybase/src/. "$workdir/"
if [ -d "/pybase/built$workdir" ]; then cp -R -p "/pybase/built$workdir/." "$workdir/"; fi
if [ -f /run/secrets/ca-bundle ]; then
  export SSL_CERT_FILE=/run/secrets/ca-bundle REQUESTS_CA_BUNDLE=/run/secrets/ca-bundle NODE_EXTRA_CA_CERTS=/run/secrets/ca-bundle CARGO_HTTP_CAINFO=/run/secrets/ca-bundle
fi
cd "$workdir"
"$@"
printf '%s\n' "$PYBASE_OUTPUTS" | while IFS= read -r output; do
  if [ ! -e "$output" ] && [ ! -L "$output" ]; then
    echo "pybase: the build command did not make \`$output\` (one of its outputs in the spec, relative to the project directory, copied to $workdir)" >&2
    exit 1
  fi
  mkdir -p -- "/pybase/out$workdir/$(dirname -- "$output")"
  cp -R -p -- "$output" "/pybase/out$workdir/$output"
done
chown -hR 0:0 /pybase/out
chmod -R u+rwX,go+rX,go-w /pybase/out
"#,
};

/// The start of the lock steps: `$1` is the project's directory in the
/// build context (`.` for its root), `$2` the number N of the tiers' fresh
/// locks, then N triples (the lock where it is mounted, its path in the
/// build context, its tier); the rest are the locker's arguments. The
/// project's files (mounted at /pybase/context) are copied to a working
/// directory with each tier's fresh lock at its path, so that uv reads
/// them, and names them in what it writes, by their paths in the build
/// context. (A macro, so that `concat!` can put it in the scripts.)
macro_rules! lock_setup {
    () => {
        r#"dir=$1
n=$2
shift 2
work=/tmp/pybase-lock
rm -rf "$work"
mkdir -p "$work"
cp -R /pybase/context/. "$work/"
tiers=""
while [ "$n" -gt 0 ]; do
  mkdir -p "$(dirname -- "$work/$2")"
  cp -- "$1" "$work/$2"
  tiers="$tiers $2:$3"
  shift 3
  n=$((n - 1))
done
cd "$work/$dir"
"#
    };
}

/// `requirements.txt` compiled from `requirements.in` (pip-tools'
/// convention) with uv: every package pinned with the hashes of its files,
/// the existing `requirements.txt` (in the working directory) read as the
/// pins to keep, the tiers' fresh locks as constraints (arguments); the
/// lock lands at its path in the build context under /pybase/out. When
/// uv finds no solution, each tier pin its message names is shown with its
/// line, and each line of the `.in` files that asks for that package.
pub(super) const LOCK_COMPILE_SCRIPT: Script = Script {
    file: "lock-uv-pip-compile.sh",
    text: concat!(
        download_setup!(),
        lock_setup!(),
        r#"if ! /pybase/uv/uv pip compile --quiet --generate-hashes --output-file requirements.txt "$@" requirements.in 2>/tmp/pybase-lock.err; then
  cat /tmp/pybase-lock.err >&2
  for entry in $tiers; do
    lock=${entry%:*}
    tier=${entry##*:}
    grep -n -E '^[A-Za-z0-9._-]+==[^ ;\]+' "$work/$lock" | while IFS=: read -r line pin; do
      pin=${pin%% *}
      name=${pin%%==*}
      grep -q -i -F -- "$pin" /tmp/pybase-lock.err || continue
      echo "pybase: tier \`$tier\` pins $pin ($lock:$line): a range above it that excludes $pin cannot be locked on it" >&2
      (cd "$work" && grep -r -n -i -E --include='*.in' -- "^[[:space:]]*$name([^A-Za-z0-9._-]|\$)" . | sed 's|^\./|pybase:   asked for at |') >&2 || true
    done
  done
  echo "pybase: change the range (or upgrade the tier: --build-arg LOCK_UPGRADE=PACKAGE)" >&2
  exit 1
fi
mkdir -p "/pybase/out/$dir"
cp requirements.txt "/pybase/out/$dir/requirements.txt"
"#
    ),
};

/// `uv.lock` of a uv project (`pyproject.toml`), written by `uv lock` with
/// the existing `uv.lock` (in the working directory) as the starting
/// point; it lands at its path in the build context under /pybase/out.
pub(super) const LOCK_UV_SCRIPT: Script = Script {
    file: "lock-uv-lock.sh",
    text: concat!(
        download_setup!(),
        lock_setup!(),
        r#"/pybase/uv/uv lock --quiet "$@"
mkdir -p "/pybase/out/$dir"
cp uv.lock "/pybase/out/$dir/uv.lock"
"#
    ),
};

/// Every script, for the tests.
#[cfg(test)]
pub(super) const ALL: [&Script; 25] = [
    &VENV_LAYERS_SCRIPT,
    &LOCK_COMPILE_SCRIPT,
    &LOCK_UV_SCRIPT,
    &SYSTEM_SCRIPT,
    &SYSTEM_REFRESH_SCRIPT,
    &INDEX_CREDENTIALS_SCRIPT,
    &COPIED_SYSTEM_SCRIPT,
    &BUILD_SCRIPT,
    &UV_UNPACK_SCRIPT,
    &VENV_SCRIPT,
    &EXPORT_SCRIPT,
    &FETCHED_VENV_SCRIPT,
    &SDIST_BUILD_SCRIPT,
    &PINNED_VENV_SCRIPT,
    &POETRY_VENV_SCRIPT,
    &DELTA_SCRIPT,
    &FETCHED_DELTA_SCRIPT,
    &POETRY_DELTA_SCRIPT,
    &BACKEND_SCRIPT,
    &CODE_SCRIPT,
    &CARGO_CODE_SCRIPT,
    &WORKSPACE_CODE_SCRIPT,
    &CARGO_WORKSPACE_CODE_SCRIPT,
    &APP_CODE_SCRIPT,
    &BUILD_COMMAND_SCRIPT,
];

#[cfg(test)]
mod tests {
    use bollard_buildkit_proto::pb;
    use prost::Message;

    use super::super::{SCRIPTS_DIR, shell};
    use super::*;
    use crate::llb::marshal::digest_of;
    use crate::llb::{Platform, State, marshal};

    /// The ops of a step that runs `script` with `args`, by digest.
    fn step_ops(script: &Script, args: &[String]) -> Vec<(String, pb::Op)> {
        let platform = Platform {
            os: "linux".into(),
            architecture: "amd64".into(),
            variant: String::new(),
        };
        let step = State::scratch().run(shell(script, args), &platform).root();
        let definition = marshal(&step, None, None).expect("marshals");
        definition
            .def
            .iter()
            .map(|bytes| {
                let op = pb::Op::decode(bytes.as_slice()).expect("an op");
                (digest_of(bytes), op)
            })
            .collect()
    }

    /// The step's argv, and the digest and `mkfile` of what it mounts at
    /// `/pybase-scripts`.
    fn step(script: &Script, args: &[String]) -> (Vec<String>, String, pb::FileActionMkFile) {
        let ops = step_ops(script, args);
        let (exec, inputs) = ops
            .iter()
            .find_map(|(_, op)| match &op.op {
                Some(pb::op::Op::Exec(exec)) => Some((exec, &op.inputs)),
                _ => None,
            })
            .expect("an exec");
        let mount = exec
            .mounts
            .iter()
            .find(|m| m.dest == SCRIPTS_DIR)
            .expect("the script is mounted");
        assert!(mount.readonly && mount.output == -1 && mount.selector.is_empty());
        let input = usize::try_from(mount.input).expect("an input");
        let digest = inputs[input].digest.clone();
        let file = ops
            .iter()
            .find(|(d, _)| *d == digest)
            .and_then(|(_, op)| match &op.op {
                Some(pb::op::Op::File(file)) => match file.actions.as_slice() {
                    [action] => match &action.action {
                        Some(pb::file_action::Action::Mkfile(mkfile)) if action.input == -1 => {
                            Some(mkfile.clone())
                        }
                        _ => None,
                    },
                    _ => None,
                },
                _ => None,
            })
            .expect("the script's state is one mkfile on scratch");
        let args = exec.meta.clone().unwrap_or_default().args;
        (args, digest, file)
    }

    /// Every file under `root` (symlinks as `-> target`), with its
    /// contents, by path relative to `root`; directories as `dir`.
    fn tree_of(root: &std::path::Path) -> std::collections::BTreeMap<String, String> {
        let mut found = std::collections::BTreeMap::new();
        let mut todo = vec![root.to_path_buf()];
        while let Some(dir) = todo.pop() {
            for entry in std::fs::read_dir(&dir).expect("a directory") {
                let path = entry.expect("an entry").path();
                let rel = path.strip_prefix(root).expect("under root");
                let rel = rel.to_string_lossy().into_owned();
                let meta = std::fs::symlink_metadata(&path).expect("metadata");
                let what = if meta.file_type().is_symlink() {
                    format!(
                        "-> {}",
                        std::fs::read_link(&path).expect("a link").display()
                    )
                } else if meta.is_dir() {
                    todo.push(path.clone());
                    "dir".to_owned()
                } else {
                    std::fs::read_to_string(&path).expect("a text file")
                };
                found.insert(rel, what);
            }
        }
        found
    }

    #[test]
    fn the_layers_script_splits_a_venv_by_record_and_the_layers_stack_back_into_it() {
        let root = std::env::temp_dir().join(format!("pybase-layers-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let (tree, out) = (root.join("venv"), root.join("out"));
        let site = tree.join("lib/python3.11/site-packages");
        let tag = std::process::Command::new("python3")
            .args(["-c", "import sys; print(sys.implementation.cache_tag)"])
            .output()
            .expect("python3 runs (the venv step runs the script with the image's)");
        let tag = String::from_utf8_lossy(&tag.stdout).trim().to_owned();
        let files = [
            ("pyvenv.cfg", "home = /usr/bin\n".to_owned()),
            ("bin/tool", "#!/opt/venv/bin/python\n".to_owned()),
            ("lib/python3.11/site-packages/a/__init__.py", "A = 1\n".to_owned()),
            (&format!("lib/python3.11/site-packages/a/__pycache__/__init__.{tag}.pyc"), "pyc\n".to_owned()),
            ("lib/python3.11/site-packages/ns/a.py", "a\n".to_owned()),
            ("lib/python3.11/site-packages/ns/b.py", "b\n".to_owned()),
            ("lib/python3.11/site-packages/shared.txt", "written by both\n".to_owned()),
            ("lib/python3.11/site-packages/extra.pth", "import os\n".to_owned()),
            ("lib/python3.11/site-packages/a-1.0.dist-info/METADATA", "Name: a\n".to_owned()),
            (
                "lib/python3.11/site-packages/a-1.0.dist-info/RECORD",
                "a/__init__.py,,\nns/a.py,,\nshared.txt,,\n../../../bin/tool,,\na-1.0.dist-info/RECORD,,\n".to_owned(),
            ),
            ("lib/python3.11/site-packages/b_pkg-2.0.dist-info/METADATA", "Name: B.Pkg\n".to_owned()),
            (
                "lib/python3.11/site-packages/b_pkg-2.0.dist-info/RECORD",
                "ns/b.py,,\nshared.txt,,\n".to_owned(),
            ),
        ];
        for (path, text) in &files {
            let path = tree.join(path);
            std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
            std::fs::write(path, text).expect("write");
        }
        std::fs::create_dir_all(site.join("empty")).expect("an empty directory");
        std::os::unix::fs::symlink("/usr/bin/python3", tree.join("bin/python")).expect("link");
        let before = tree_of(&tree);
        for layer in ["_venv", "a", "b-pkg"] {
            std::fs::create_dir_all(out.join(layer)).expect("the layer's mount");
        }
        let venv = tree.to_string_lossy().into_owned();
        let ran = std::process::Command::new("/bin/sh")
            .args(["-c", VENV_LAYERS_SCRIPT.text, "venv-layers.sh"])
            .args([
                venv.as_str(),
                &out.to_string_lossy(),
                venv.as_str(),
                "_venv",
            ])
            .args(["a=a", "b-pkg=b-pkg", "--", "true"])
            .env("SOURCE_DATE_EPOCH", "315532800")
            .output()
            .expect("/bin/sh runs");
        assert!(ran.status.success(), "{ran:?}");
        let layer = |name: &str| tree_of(&out.join(name).join(venv.trim_start_matches('/')));
        let (own, a, b) = (layer("_venv"), layer("a"), layer("b-pkg"));
        let sp = "lib/python3.11/site-packages";
        // A distribution's files, its bytecode and its script with it;
        // the namespace directory in both layers, each its own file.
        for path in ["a/__init__.py", "ns/a.py", "a-1.0.dist-info/RECORD"] {
            assert!(a.contains_key(&format!("{sp}/{path}")), "{path}: {a:?}");
        }
        assert!(a.contains_key(&format!("{sp}/a/__pycache__/__init__.{tag}.pyc")));
        assert!(a.contains_key("bin/tool") && b.contains_key(&format!("{sp}/ns/b.py")));
        assert!(
            !a.contains_key(&format!("{sp}/ns/b.py")) && !b.contains_key(&format!("{sp}/ns/a.py"))
        );
        // What two distributions list, or none, stays with the venv's own
        // files; so does a directory that was empty.
        for path in [
            format!("{sp}/shared.txt"),
            format!("{sp}/extra.pth"),
            format!("{sp}/empty"),
            "pyvenv.cfg".to_owned(),
            "bin/python".to_owned(),
        ] {
            assert!(own.contains_key(&path), "{path}: {own:?}");
            assert!(!a.contains_key(&path) && !b.contains_key(&path), "{path}");
        }
        // Every entry dated the epoch, links too; the tree left empty.
        let dated = std::fs::symlink_metadata(
            out.join("_venv")
                .join(venv.trim_start_matches('/'))
                .join("bin/python"),
        )
        .and_then(|m| m.modified())
        .expect("a time");
        assert_eq!(
            dated,
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(315_532_800)
        );
        assert!(tree_of(&tree).is_empty());
        // Stacked, the layers are the venv, file for file.
        let mut stacked = own.clone();
        for (path, what) in a.into_iter().chain(b) {
            let kept = stacked.insert(path.clone(), what.clone());
            assert!(
                kept.is_none() || kept.as_deref() == Some("dir"),
                "{path} in two layers"
            );
        }
        assert_eq!(stacked, before);
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn the_credentials_wrapper_unsets_the_empty_variables_it_names_and_keeps_the_others() {
        let output = std::process::Command::new("/bin/sh")
            .args(["-c", INDEX_CREDENTIALS_SCRIPT.text, "index-credentials.sh"])
            .args(["UV_INDEX_A_USERNAME", "UV_INDEX_A_PASSWORD", "--"])
            .args([
                "/bin/sh",
                "-c",
                "env | grep ^UV_INDEX_ | sort; echo \"$0 $1\"",
                "x",
                "y",
            ])
            .env("UV_INDEX_A_USERNAME", "")
            .env("UV_INDEX_A_PASSWORD", "s3cret")
            .env("UV_INDEX_B_PASSWORD", "")
            .output()
            .expect("/bin/sh runs");
        assert!(output.status.success(), "{output:?}");
        // The empty one it names is gone; the set one, and an empty one it
        // does not name, stay; the command gets its own arguments.
        assert_eq!(
            String::from_utf8_lossy(&output.stdout),
            "UV_INDEX_A_PASSWORD=s3cret\nUV_INDEX_B_PASSWORD=\nx y\n"
        );
    }

    #[test]
    fn a_step_runs_its_script_by_name_with_no_newline_in_its_argv() {
        let args = vec!["gcc".to_owned(), "libpq-dev".to_owned()];
        for script in ALL {
            let (argv, _, _) = step(script, &args);
            assert_eq!(
                argv,
                [
                    "/bin/sh",
                    &format!("{SCRIPTS_DIR}/{}", script.file),
                    "gcc",
                    "libpq-dev"
                ]
            );
            assert!(!argv.iter().any(|a| a.contains('\n')), "{argv:?}");
        }
    }

    #[test]
    fn the_mounted_file_is_the_script_and_only_it() {
        for script in ALL {
            let (_, _, file) = step(script, &[]);
            assert_eq!(file.path, format!("/{}", script.file));
            assert_eq!(file.data, script.text.as_bytes());
            assert_eq!(
                file.timestamp, 0,
                "dated the epoch: its bytes alone make it"
            );
            // Run as `sh FILE`, so the script sets its own options.
            assert!(script.text.starts_with("set -eu\n"), "{}", script.file);
            assert!(script.file.ends_with(".sh"));
        }
    }

    #[test]
    fn the_same_script_is_the_same_op_and_another_is_another() {
        let digests: Vec<String> = ALL.iter().map(|s| step(s, &[]).1).collect();
        // The same bytes, whatever the arguments: content-addressed.
        for (script, digest) in ALL.iter().zip(&digests) {
            assert_eq!(&step(script, &["x".to_owned()]).1, digest);
        }
        // One file per script, so a change to one reruns only its steps.
        let unique: std::collections::BTreeSet<&String> = digests.iter().collect();
        assert_eq!(unique.len(), ALL.len());
        let files: std::collections::BTreeSet<&str> = ALL.iter().map(|s| s.file).collect();
        assert_eq!(files.len(), ALL.len());
    }
}
