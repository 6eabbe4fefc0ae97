//! Where things are: the file names pybase reads in a project directory
//! and the build context, and the path of the venv in images. A leaf
//! module, so that the checks of projects and the plan share the names
//! without depending on each other.

/// The lock file pybase installs from.
pub const LOCK_FILE: &str = "uv.lock";
/// The project file that goes with it.
pub const PYPROJECT_FILE: &str = "pyproject.toml";
/// The files that make a directory without `pyproject.toml` a package
/// (setuptools' own), not an application of code and a lock.
pub const SETUP_FILES: [&str; 2] = ["setup.py", "setup.cfg"];
/// The ranges an application's `requirements.txt` is compiled from
/// (pip-tools' convention), by `--target lock`.
pub const REQUIREMENTS_IN: &str = "requirements.in";
/// Paths of the build context that are never sent, as for `docker build`.
pub const DOCKERIGNORE_FILE: &str = ".dockerignore";
/// Where the venv lives in images.
pub const VENV_DIR: &str = "/opt/venv";
