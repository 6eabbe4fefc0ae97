//! Copies of the fixture projects, for tests that change their files, and
//! the lock tools that rewrite their locks: the end-to-end tests
//! (`e2e/harness.rs`) and `relock_hints.rs` include this file by path
//! (`#[path]`), without the rest of `support/`.

use std::path::{Path, PathBuf};

/// Where the pinned lock tools are (`uv`, `pip-compile`, `poetry`): where
/// `xtask/provision.sh lock-tools` installs them, or `$PYBASE_TOOLS`.
pub fn tools_dir() -> PathBuf {
    std::env::var_os("PYBASE_TOOLS")
        .map_or_else(|| PathBuf::from("/opt/pybase-tools/bin"), PathBuf::from)
}

/// Copies the directory `from` to `to`, but for Python's caches and venvs.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create fixture dir");
    for entry in std::fs::read_dir(from).expect("read fixture dir") {
        let entry = entry.expect("fixture entry");
        let path = entry.path();
        let name = entry.file_name();
        if name == "__pycache__" || name == ".venv" {
            continue;
        }
        if path.is_dir() {
            copy_dir(&path, &to.join(name));
        } else {
            std::fs::copy(&path, to.join(name)).expect("copy fixture file");
        }
    }
}
