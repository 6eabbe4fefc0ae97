//! A starting spec for an existing project (`pybase init`).
//!
//! [`starter_spec`] reads a project's `pyproject.toml` (and its `uv.lock`,
//! when there is one) and writes the text of a `pybase.yaml` that passes
//! `pybase check`: the `# syntax=` line, `version: 1`
//! and one service named after the project, whose base image is the
//! `python:X.Y-slim` of the newest stable Python that `requires-python`
//! allows and whose command is the project's first script, else `python -m`
//! of its package with a `__main__`. What the project files
//! cannot tell (OS packages) is left empty, with comments saying what goes
//! there; packages that `uv.lock` has no Linux wheel for are named, since
//! building them is what usually needs those packages.
//!
//! It also reads Poetry's `[tool.poetry]` (name, `python`, scripts), gives
//! an unpacked sdist under a VCS version plugin its `PKG-INFO` version,
//! `build: [cargo]` to a maturin project, a uv workspace member its path
//! from the root, and, with no script or `__main__`, serves a package's
//! web app with the server its lock pins. [`setup_cfg_spec`] writes one for
//! a setuptools package from its `setup.cfg`.
//!
//! [`application_spec`] writes one for an application instead (a directory
//! of code and a `requirements.txt`, without `pyproject.toml`): the
//! service is named after the directory, and its command runs the first of
//! `app.py`, `manage.py` and `main.py` there is, or is left as a comment.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::spec::{BASE_TARGET_SUFFIX, ImageName};

/// The file `pybase init` writes in the project directory.
pub const SPEC_FILE: &str = "pybase.yaml";

/// The repository that the release workflow (`.github/workflows/release.yml`,
/// running `cargo xtask release`) pushes the frontend image to, tagged `X.Y.Z`,
/// `X.Y` and `X`.
pub const RELEASED_FRONTEND_REPOSITORY: &str = "ghcr.io/pybase-dev/pybase-frontend";

/// The frontend image the `# syntax=` line names unless told otherwise
/// (`pybase init --frontend`): the released repository's tag of this pybase's
/// major version, so that a spec gets the fixes of later releases of the
/// frontend it was written for. (This repository's own fixtures name the image
/// `cargo xtask up` builds from the tree, `localhost:5000/pybase-frontend:dev`.)
pub const DEFAULT_FRONTEND_IMAGE: &str = concat!(
    "ghcr.io/pybase-dev/pybase-frontend:",
    env!("CARGO_PKG_VERSION_MAJOR")
);

/// The CPython releases a starting spec's base image may be, oldest first:
/// those with bugfix or security releases when this pybase was released
/// (PEP 619 to PEP 790: 3.9 reached its end of life in October 2025, and
/// 3.15.0 was released in October 2026).
pub const STABLE_PYTHONS: [(u32, u32); 6] = [(3, 10), (3, 11), (3, 12), (3, 13), (3, 14), (3, 15)];

/// The Python of the base image when neither `pyproject.toml` nor `uv.lock`
/// says which Pythons the project supports: the newest stable one.
pub const DEFAULT_PYTHON: (u32, u32) = STABLE_PYTHONS[STABLE_PYTHONS.len() - 1];

/// The service name when the project's name has nothing usable in it.
const FALLBACK_SERVICE_NAME: &str = "app";

/// Why no starting spec could be written.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum InitError {
    /// `pyproject.toml` is not TOML.
    #[error("{file} is not valid TOML: {message}")]
    NotToml {
        /// The file, as the user names it.
        file: String,
        /// The parser's message.
        message: String,
    },
    /// `pyproject.toml` has no `[project]` table with a string `name`.
    #[error(
        "{file} has no `[project]` table with a `name`: pybase builds PEP 621 projects (`uv init` makes one)"
    )]
    NoProjectName {
        /// The file, as the user names it.
        file: String,
    },
    /// `setup.cfg` does not read as an INI file.
    #[error("{file} does not read as setup.cfg: {message}")]
    NotSetupCfg {
        /// The file, as the user names it.
        file: String,
        /// The parser's message.
        message: String,
    },
    /// `setup.cfg` has no `name` in `[metadata]`.
    #[error(
        "{file} has no `name` in `[metadata]`: pybase init reads a package's metadata from pyproject.toml's `[project]` or setup.cfg's `[metadata]`"
    )]
    NoSetupCfgName {
        /// The file, as the user names it.
        file: String,
    },
    /// The `--frontend` image is not an image reference.
    #[error("the frontend image `{image}` is not an image reference: {reason}")]
    BadFrontendImage {
        /// As given.
        image: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// The project files `pybase init` reads, with the names errors give them.
#[derive(Clone, Copy, Debug)]
pub struct ProjectFiles<'a> {
    /// `pyproject.toml`'s name, e.g. `app/pyproject.toml`.
    pub pyproject_file: &'a str,
    /// Its text.
    pub pyproject: &'a str,
    /// `uv.lock`'s text, when the project has one.
    pub lock: Option<&'a str>,
    /// The packages with a `__main__.py` (top-level or under `src/`), by
    /// their import name: `python -m` runs one when there is no script.
    pub main_packages: &'a [String],
    /// The project's directory relative to the build context (`.`, or a uv
    /// workspace member's path from the workspace root).
    pub project_dir: &'a str,
    /// The `Version` of the directory's `PKG-INFO` when it has one and no
    /// `.git` (an unpacked sdist): the version a VCS plugin cannot read.
    pub sdist_version: Option<&'a str>,
    /// The modules that may define a web app, by import name, with their
    /// text: each top-level package's `__init__.py` (top-level or under
    /// `src/`).
    pub web_modules: &'a [(String, String)],
}

/// A starting spec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Starter {
    /// The name of its one service.
    pub service: String,
    /// The spec's text.
    pub text: String,
}

/// `[project]`, `[tool.poetry]` and `[build-system]`, as far as `pybase
/// init` reads them.
#[derive(Deserialize)]
struct PyprojectWire {
    project: Option<ProjectWire>,
    tool: Option<ToolWire>,
    #[serde(rename = "build-system")]
    build_system: Option<BuildSystemWire>,
}

#[derive(Deserialize)]
struct ToolWire {
    poetry: Option<PoetryWire>,
}

/// Poetry's own table (`[tool.poetry]`), for a project without `[project]`.
#[derive(Deserialize)]
struct PoetryWire {
    name: Option<toml::Value>,
    #[serde(default)]
    scripts: BTreeMap<toml::Spanned<String>, toml::Value>,
    /// Its `python` entry is the project's `requires-python`.
    #[serde(default)]
    dependencies: BTreeMap<String, toml::Value>,
}

#[derive(Deserialize)]
struct BuildSystemWire {
    #[serde(default)]
    requires: Vec<toml::Value>,
    #[serde(rename = "build-backend")]
    build_backend: Option<String>,
}

/// Build requirements that take the version from git, which a directory
/// without `.git` (an unpacked sdist) does not have: `version:` must say it.
const VCS_VERSION_PLUGINS: [&str; 4] = [
    "hatch-vcs",
    "setuptools-scm",
    "versioningit",
    "uv-dynamic-versioning",
];

#[derive(Deserialize)]
struct ProjectWire {
    name: Option<toml::Value>,
    #[serde(rename = "requires-python")]
    requires_python: Option<toml::Value>,
    #[serde(default)]
    scripts: BTreeMap<toml::Spanned<String>, toml::Value>,
}

/// `uv.lock`, as far as `pybase init` reads it.
#[derive(Deserialize)]
struct LockWire {
    #[serde(rename = "requires-python")]
    requires_python: Option<toml::Value>,
    #[serde(default)]
    package: Vec<toml::Value>,
}

/// The starting spec for the project in `files`, whose `# syntax=` line
/// names `frontend_image`.
pub fn starter_spec(files: &ProjectFiles<'_>, frontend_image: &str) -> Result<Starter, InitError> {
    ImageName::parse(frontend_image).map_err(|reason| InitError::BadFrontendImage {
        image: frontend_image.to_owned(),
        reason,
    })?;
    let pyproject: PyprojectWire =
        toml::from_str(files.pyproject).map_err(|e| InitError::NotToml {
            file: files.pyproject_file.to_owned(),
            message: e.message().trim_end().to_owned(),
        })?;
    let project = pyproject.project;
    let poetry = pyproject.tool.and_then(|tool| tool.poetry);
    let name = project
        .as_ref()
        .and_then(|p| p.name.as_ref())
        .or_else(|| poetry.as_ref().and_then(|p| p.name.as_ref()))
        .and_then(toml::Value::as_str)
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| InitError::NoProjectName {
            file: files.pyproject_file.to_owned(),
        })?;
    // A lock that does not read is left to `pybase check` to report.
    let lock: Option<LockWire> = files.lock.and_then(|text| toml::from_str(text).ok());

    let requires_python = project
        .as_ref()
        .and_then(|p| p.requires_python.as_ref())
        .or_else(|| poetry.as_ref().and_then(|p| p.dependencies.get("python")))
        .or_else(|| lock.as_ref().and_then(|l| l.requires_python.as_ref()))
        .and_then(toml::Value::as_str)
        .map(poetry_constraint);
    let python = requires_python.as_deref().and_then(python_for);
    let first_script = |scripts: &BTreeMap<toml::Spanned<String>, toml::Value>| {
        scripts
            .keys()
            .min_by_key(|key| key.span().start)
            .map(|key| key.get_ref().clone())
    };
    let script = project
        .as_ref()
        .and_then(|p| first_script(&p.scripts))
        .or_else(|| poetry.as_ref().and_then(|p| first_script(&p.scripts)));
    let build_system = pyproject.build_system.as_ref();
    let built_from_source = lock
        .as_ref()
        .map(|l| packages_without_linux_wheels(&l.package))
        .unwrap_or_default();

    let service = service_name(name);
    // With no script, the package of the project's name that has a
    // `__main__`, else the first that has one.
    let wanted = crate::names::normalize_name(name).replace('-', "_");
    let main_package = files
        .main_packages
        .iter()
        .find(|package| package.to_lowercase() == wanted)
        .or_else(|| files.main_packages.first());
    let scripts_table = if project.as_ref().is_some_and(|p| !p.scripts.is_empty()) {
        "[project.scripts]"
    } else {
        "[tool.poetry.scripts]"
    };
    let web = files
        .lock
        .and_then(|lock| web_command(lock, files.web_modules));
    let command = package_command(script.as_deref(), scripts_table, main_package, web);
    let requires: Vec<String> = build_system
        .map(|b| {
            b.requires
                .iter()
                .filter_map(toml::Value::as_str)
                .filter_map(requirement_name)
                .collect()
        })
        .unwrap_or_default();
    let version = files
        .sdist_version
        .filter(|_| requires.iter().any(|r| VCS_VERSION_PLUGINS.contains(&r.as_str())))
        .map(|v| format!(
            "    version: {}    # from PKG-INFO: the version plugin reads git, and there is no .git\n",
            yaml_string(v)
        ));
    let rust = build_system
        .and_then(|b| b.build_backend.as_deref())
        .is_some_and(|backend| backend.starts_with("maturin"))
        || requires.iter().any(|r| r == "setuptools-rust");
    let text = render(&Rendered {
        frontend_image,
        service: &service,
        python,
        python_note: if python.is_some() {
            "the newest stable Python requires-python allows"
        } else {
            "requires-python is not set: the newest stable Python"
        },
        project_dir: files.project_dir,
        project_note: "",
        version: version.as_deref().unwrap_or_default(),
        build: if rust { RUST_BUILD } else { DEFAULT_BUILD },
        command: &command,
        built_from_source: &built_from_source,
    });
    Ok(Starter { service, text })
}

/// The line of a package's `command`: its first script (of `scripts_table`),
/// else `python -m` of its package with a `__main__`, else the `web` app's
/// server, else a comment to fill in.
fn package_command(
    script: Option<&str>,
    scripts_table: &str,
    main_package: Option<&String>,
    web: Option<String>,
) -> String {
    match (script, main_package, web) {
        (Some(script), _, _) => format!(
            "    command: [{}]    # the first of {scripts_table}\n",
            yaml_string(script)
        ),
        (None, Some(package), _) => format!(
            "    command: [python, -m, {}]    # its __main__ ([project.scripts] has none)\n",
            yaml_string(package)
        ),
        (None, None, Some(web)) => web,
        (None, None, None) => "    # command: [python, -m, your_package]   # the image's command ([project.scripts] has none)\n".to_owned(),
    }
}

/// The starting spec for a setuptools package without `pyproject.toml`
/// (`setup.py` and `setup.cfg`), from `setup_cfg`, the text of its
/// `setup.cfg` named `setup_cfg_file`: the service named after `[metadata]`
/// `name`, the base image's Python from `[options]` `python_requires`, the
/// command the first `console_scripts` entry of `[options.entry_points]`
/// (else `python -m` of a package of `main_packages`).
pub fn setup_cfg_spec(
    setup_cfg_file: &str,
    setup_cfg: &str,
    main_packages: &[String],
    frontend_image: &str,
) -> Result<Starter, InitError> {
    ImageName::parse(frontend_image).map_err(|reason| InitError::BadFrontendImage {
        image: frontend_image.to_owned(),
        reason,
    })?;
    let mut ini = configparser::ini::Ini::new_cs();
    ini.set_multiline(true);
    ini.read(setup_cfg.to_owned())
        .map_err(|message| InitError::NotSetupCfg {
            file: setup_cfg_file.to_owned(),
            message,
        })?;
    let name = ini
        .get("metadata", "name")
        .filter(|name| !name.trim().is_empty())
        .ok_or_else(|| InitError::NoSetupCfgName {
            file: setup_cfg_file.to_owned(),
        })?;
    let python = ini
        .get("options", "python_requires")
        .as_deref()
        .and_then(python_for);
    // `console_scripts` is one `name = module:function` a line.
    let script = ini
        .get("options.entry_points", "console_scripts")
        .and_then(|scripts| {
            scripts
                .lines()
                .find_map(|line| line.split_once('=').map(|(name, _)| name.trim().to_owned()))
                .filter(|name| !name.is_empty())
        });
    let wanted = crate::names::normalize_name(&name).replace('-', "_");
    let main_package = main_packages
        .iter()
        .find(|package| package.to_lowercase() == wanted)
        .or_else(|| main_packages.first());
    let command = package_command(
        script.as_deref(),
        "setup.cfg's console_scripts",
        main_package,
        None,
    );
    let service = service_name(&name);
    let text = render(&Rendered {
        frontend_image,
        service: &service,
        python,
        python_note: if python.is_some() {
            "the newest stable Python python_requires allows"
        } else {
            "python_requires is not set: the newest stable Python"
        },
        project_dir: ".",
        project_note: "    # setup.py and setup.cfg: a setuptools package, locked in requirements.txt",
        version: "",
        build: DEFAULT_BUILD,
        command: &command,
        built_from_source: &[],
    });
    Ok(Starter { service, text })
}

/// The scripts an application's command may run, in the order `pybase
/// init` prefers them.
pub const APPLICATION_SCRIPTS: [&str; 3] = ["app.py", "manage.py", "main.py"];

/// An application (code and a lock of pins, no `pyproject.toml`), as
/// `pybase init` sees it.
#[derive(Clone, Copy, Debug)]
pub struct Application<'a> {
    /// The directory's name, which names the service.
    pub dir_name: &'a str,
    /// Which of [`APPLICATION_SCRIPTS`] it has.
    pub scripts: &'a [&'a str],
    /// Its lock's text (`requirements.txt` or `pylock.toml`), when it reads.
    pub lock: Option<&'a str>,
    /// The text of each of its top-level modules (`.py` files), by file
    /// name, when it reads: where its web app may be defined.
    pub script_texts: &'a [(&'a str, String)],
}

/// The servers a web application's command may run, by the name the lock
/// pins them under, with the command that serves `MODULE:app` on every
/// interface and its port.
const SERVERS: [(&str, &str, u16); 3] = [
    (
        "gunicorn",
        "[gunicorn, \"MODULE:app\", --bind, \"0.0.0.0:8000\"]    # the WSGI app `app` of MODULE, served by gunicorn from the lock",
        8000,
    ),
    (
        "uvicorn",
        "[uvicorn, \"MODULE:app\", --host, 0.0.0.0, --port, \"8000\"]    # the ASGI app `app` of MODULE, served by uvicorn from the lock",
        8000,
    ),
    (
        "flask",
        "[flask, --app, MODULE, run, --host, 0.0.0.0, --port, \"5000\"]    # Flask's development server on the app of MODULE (the lock pins no gunicorn); for production, lock gunicorn",
        5000,
    ),
];

/// The module names that, defining `app`, are taken to be the web app
/// even when other modules define one too, the first first.
const WEB_MODULES: [&str; 4] = ["app", "main", "wsgi", "asgi"];

/// Whether the module `text` defines `app` at its top level
/// (`app = Flask(__name__)`, `app = FastAPI()`, `def app(environ, …)`).
fn defines_app(text: &str) -> bool {
    text.lines().any(|line| {
        line.starts_with("app =")
            || line.starts_with("app=")
            || line.starts_with("def app(")
            || line.starts_with("async def app(")
    })
}

/// The command (and port) that serves a web app: when `lock` pins a server
/// of [`SERVERS`] and one of `modules` (import name, text; the preferred
/// first) defines `app` at its top level, that server on it. When several
/// do, the command is left as a comment naming them all.
fn web_command<M: AsRef<str>>(lock: &str, modules: &[(M, String)]) -> Option<String> {
    let pinned = |server: &str| {
        lock.lines().any(|line| {
            let line = line.trim_start().to_ascii_lowercase();
            line.strip_prefix(server)
                .is_some_and(|rest| rest.trim_start().starts_with("==") || rest.starts_with('['))
                || line == format!("name = \"{server}\"")
        })
    };
    let (_, command, port) = SERVERS.iter().find(|(server, _, _)| pinned(server))?;
    let apps: Vec<&str> = modules
        .iter()
        .filter(|(_, text)| defines_app(text))
        .map(|(module, _)| module.as_ref())
        .collect();
    // A module named for the app is the app, whatever else defines one.
    let preferred = WEB_MODULES
        .iter()
        .find(|name| apps.contains(name))
        .map(|name| vec![*name]);
    match preferred.as_deref().unwrap_or(&apps) {
        [] => None,
        [module] => Some(format!(
            "    command: {}\n    ports: [{port}]\n",
            command.replace("MODULE", module)
        )),
        [first, ..] => Some(format!(
            "    # command: {}\n    # several modules define `app` ({}): name the one to serve\n",
            command.replace("MODULE", first),
            apps.join(", ")
        )),
    }
}

/// The starting spec for the application `app`, whose `# syntax=` line
/// names `frontend_image`: the image's command runs its first script of
/// [`APPLICATION_SCRIPTS`] (Django's `manage.py` with its server), or is a
/// comment to fill in.
pub fn application_spec(app: &Application<'_>, frontend_image: &str) -> Result<Starter, InitError> {
    ImageName::parse(frontend_image).map_err(|reason| InitError::BadFrontendImage {
        image: frontend_image.to_owned(),
        reason,
    })?;
    let script = APPLICATION_SCRIPTS
        .iter()
        .find(|script| app.scripts.contains(script));
    let modules: Vec<(&str, String)> = app
        .script_texts
        .iter()
        .filter_map(|(script, text)| Some((script.strip_suffix(".py")?, text.clone())))
        .collect();
    let web = app.lock.and_then(|lock| web_command(lock, &modules));
    let command = match (web, script) {
        (Some(web), _) => web,
        (None, Some(&"manage.py")) => "    command: [python, manage.py, runserver, \"0.0.0.0:8000\"]    # Django's development server; for production, e.g. [gunicorn, yoursite.wsgi, --bind, \"0.0.0.0:8000\"]\n".to_owned(),
        (None, Some(script)) => format!("    command: [python, {script}]    # run in the image's workdir, /app\n"),
        (None, None) => "    # command: [python, your_script.py]   # the image's command: there is no app.py, manage.py or main.py\n".to_owned(),
    };
    let service = service_name(app.dir_name);
    let text = render(&Rendered {
        frontend_image,
        service: &service,
        python: None,
        python_note: "no pyproject.toml says which Python: the newest stable one",
        project_dir: ".",
        project_note: "    # an application: its code, copied into /app, and requirements.txt",
        version: "",
        build: DEFAULT_BUILD,
        command: &command,
        built_from_source: &[],
    });
    Ok(Starter { service, text })
}

/// The line of `system.build` when nothing needs a package.
const DEFAULT_BUILD: &str =
    "      build: []     # OS packages only for building wheels, e.g. gcc, libpq-dev\n";

/// The line of `system.build` for a project with Rust code (maturin,
/// setuptools-rust): its build backend runs cargo.
const RUST_BUILD: &str = "      build: [cargo]    # the build backend compiles Rust (maturin); Debian 12's cargo is Rust 1.63, too old for most crates: there, cargo-web (Rust 1.85)\n";

/// What goes into the text of the spec.
struct Rendered<'a> {
    frontend_image: &'a str,
    service: &'a str,
    python: Option<(u32, u32)>,
    /// The comment on the base image's line.
    python_note: &'a str,
    /// The service's `project`.
    project_dir: &'a str,
    /// The comment on `project`'s line, with its spaces (or nothing).
    project_note: &'a str,
    /// The line of `version`, or nothing.
    version: &'a str,
    /// The line of `system.build`.
    build: &'a str,
    /// The line of `command`, or a comment in its place.
    command: &'a str,
    built_from_source: &'a [String],
}

fn render(spec: &Rendered<'_>) -> String {
    let (major, minor) = spec.python.unwrap_or(DEFAULT_PYTHON);
    let mut out = format!(
        "# syntax={frontend}\n\
         # Written by `pybase init`; the keys are described in pybase's specs/reference.md.\n\
         version: 1\n\
         services:\n\
         \x20 {service}:\n\
         \x20   from: python:{major}.{minor}-slim    # {python_note}\n\
         \x20   project: {project_dir}{project_note}\n\
         {version}\
         \x20   system:\n\
         \x20     runtime: []   # OS packages the image needs at run time, e.g. libpq5\n\
         {build}",
        frontend = spec.frontend_image,
        service = spec.service,
        python_note = spec.python_note,
        project_dir = if spec.project_dir == "." {
            ".".to_owned()
        } else {
            yaml_string(spec.project_dir)
        },
        project_note = spec.project_note,
        version = spec.version,
        build = spec.build,
    );
    if !spec.built_from_source.is_empty() {
        out.push_str(&format!(
            "    # uv.lock has no Linux wheel for {}: it is built from source, which may\n\
             \x20   # need a compiler and headers in `build` and their libraries in `runtime`.\n",
            spec.built_from_source.join(", ")
        ));
    }
    out.push_str(spec.command);
    out
}

/// A project name as a service name: lowercase, runs of other characters
/// as one `-`, starting and ending with a letter or digit, never ending in
/// the reserved `-base`.
pub fn service_name(project: &str) -> String {
    let mut name = String::new();
    for c in project.chars() {
        let c = c.to_ascii_lowercase();
        let kept = c.is_ascii_lowercase()
            || c.is_ascii_digit()
            || (matches!(c, '.' | '_') && !name.is_empty());
        if kept {
            name.push(c);
        } else if !name.is_empty() && !name.ends_with('-') {
            name.push('-');
        }
    }
    let mut name: String = name.chars().take(100).collect();
    while name.ends_with(|c: char| !c.is_ascii_alphanumeric()) {
        name.pop();
    }
    if name.is_empty() {
        return FALLBACK_SERVICE_NAME.to_owned();
    }
    if name.ends_with(BASE_TARGET_SUFFIX) {
        name.push_str("-service");
    }
    name
}

/// The Python of the base image for a project whose `requires-python` is
/// `requires_python`: the newest of [`STABLE_PYTHONS`] it allows (any of its
/// releases), else the lowest it allows ([`lowest_python`], a Python newer
/// than those); `None` when it does not read as PEP 440 or names none.
pub fn python_for(requires_python: &str) -> Option<(u32, u32)> {
    let specifiers: pep440_rs::VersionSpecifiers = requires_python.trim().parse().ok()?;
    let allows = |(major, minor): (u32, u32)| {
        [0, 99].iter().any(|micro| {
            format!("{major}.{minor}.{micro}")
                .parse::<pep440_rs::Version>()
                .is_ok_and(|version| specifiers.contains(&version))
        })
    };
    STABLE_PYTHONS
        .iter()
        .rev()
        .copied()
        .find(|python| allows(*python))
        .or_else(|| lowest_python(requires_python))
}

/// The lowest `(major, minor)` a PEP 440 `requires-python` allows, when it
/// has a lower bound (`>=3.11`, `~=3.11`, `==3.11.*`, `>3.10`), Python 3 only.
pub fn lowest_python(requires_python: &str) -> Option<(u32, u32)> {
    requires_python
        .split(',')
        .filter_map(|clause| {
            let clause = clause.trim();
            let version = ["===", "==", "~=", ">="]
                .iter()
                .find_map(|op| clause.strip_prefix(op))
                .or_else(|| clause.strip_prefix('>').filter(|v| !v.starts_with('=')))?;
            let mut parts = version.trim().split('.');
            let major: u32 = parts.next()?.parse().ok()?;
            let minor: u32 = parts.next()?.trim_end_matches(".*").parse().ok()?;
            (major == 3).then_some((major, minor))
        })
        .max()
}

/// Whether the `pyproject.toml` text `root` declares a uv workspace
/// (`[tool.uv.workspace]`) whose `members` globs match `member`, a path
/// relative to it with `/` separators, and whose `exclude` globs do not.
pub fn workspace_includes(root: &str, member: &str) -> bool {
    let Ok(root) = toml::from_str::<toml::Value>(root) else {
        return false;
    };
    let Some(workspace) = root
        .get("tool")
        .and_then(|t| t.get("uv"))
        .and_then(|u| u.get("workspace"))
    else {
        return false;
    };
    let matches = |key: &str| {
        workspace
            .get(key)
            .and_then(toml::Value::as_array)
            .is_some_and(|globs| {
                globs
                    .iter()
                    .filter_map(toml::Value::as_str)
                    .filter_map(|glob| glob::Pattern::new(glob.trim_end_matches('/')).ok())
                    .any(|pattern| pattern.matches(member))
            })
    };
    matches("members") && !matches("exclude")
}

/// A PEP 508 requirement's normalized name (`hatch-vcs>=0.3` → `hatch-vcs`).
fn requirement_name(requirement: &str) -> Option<String> {
    let requirement: pep508_rs::Requirement = requirement.parse().ok()?;
    Some(crate::names::normalize_name(requirement.name.as_ref()))
}

/// Poetry's `python` constraint as PEP 440: `^3.9` is `>=3.9,<4.0` and
/// `~3.9` is `>=3.9,<3.10`; others (`>=3.5`, `*`) as they are.
fn poetry_constraint(constraint: &str) -> String {
    let constraint = constraint.trim();
    let bump = |version: &str, at: usize| -> Option<String> {
        let mut parts: Vec<u64> = version
            .split('.')
            .map(str::parse)
            .collect::<Result<_, _>>()
            .ok()?;
        parts.truncate(at + 1);
        *parts.get_mut(at)? += 1;
        Some(
            parts
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join("."),
        )
    };
    let caret = constraint
        .strip_prefix('^')
        .and_then(|version| Some((version, bump(version, 0)?)));
    let tilde = constraint
        .strip_prefix('~')
        .filter(|v| !v.starts_with('='))
        .and_then(|version| Some((version, bump(version, 1)?)));
    match caret.or(tilde) {
        Some((version, upper)) => format!(">={version},<{upper}"),
        None => constraint.to_owned(),
    }
}

/// Locked packages (not the project's own) that have no wheel for Linux:
/// uv builds them from their source distribution.
fn packages_without_linux_wheels(packages: &[toml::Value]) -> Vec<String> {
    let linux_wheel = |url: &str| {
        let file = url.rsplit('/').next().unwrap_or(url);
        file.ends_with("-none-any.whl") || file.contains("linux")
    };
    packages
        .iter()
        .filter(|package| {
            let from_registry = package
                .get("source")
                .and_then(|s| s.get("registry"))
                .is_some();
            let has_linux_wheel = package
                .get("wheels")
                .and_then(toml::Value::as_array)
                .is_some_and(|wheels| {
                    wheels
                        .iter()
                        .filter_map(|w| w.get("url").and_then(toml::Value::as_str))
                        .any(linux_wheel)
                });
            from_registry && !has_linux_wheel
        })
        .filter_map(|package| package.get("name")?.as_str().map(str::to_owned))
        .collect()
}

/// `text` as a YAML flow scalar: plain when that reads back as the same
/// string, else double-quoted (JSON's quoting is YAML's).
fn yaml_string(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'/'))
        && text.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
        && !matches!(
            text.to_ascii_lowercase().as_str(),
            "true" | "false" | "null" | "yes" | "no" | "on" | "off" | "y" | "n"
        );
    if plain {
        text.to_owned()
    } else {
        serde_json::to_string(text).unwrap_or_else(|_| format!("\"{text}\""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn starter(pyproject: &str, lock: Option<&str>) -> Result<Starter, InitError> {
        starter_full(pyproject, lock, ".", None, &[])
    }

    /// `starter_spec` of the smallest project (`[project]` named `x`),
    /// naming `frontend`.
    fn smallest_with_frontend(frontend: &str) -> Result<Starter, InitError> {
        starter_spec(
            &ProjectFiles {
                pyproject_file: "pyproject.toml",
                pyproject: "[project]\nname = \"x\"\n",
                lock: None,
                main_packages: &[],
                project_dir: ".",
                sdist_version: None,
                web_modules: &[],
            },
            frontend,
        )
    }

    /// `starter_spec` of a project with every input given.
    fn starter_full(
        pyproject: &str,
        lock: Option<&str>,
        project_dir: &str,
        sdist_version: Option<&str>,
        web_modules: &[(String, String)],
    ) -> Result<Starter, InitError> {
        starter_spec(
            &ProjectFiles {
                pyproject_file: "pyproject.toml",
                pyproject,
                lock,
                main_packages: &[],
                project_dir,
                sdist_version,
                web_modules,
            },
            DEFAULT_FRONTEND_IMAGE,
        )
    }

    #[test]
    fn the_default_frontend_is_the_released_repositorys_tag_of_this_major_version() {
        let major = env!("CARGO_PKG_VERSION")
            .split('.')
            .next()
            .expect("a major version");
        assert_eq!(
            DEFAULT_FRONTEND_IMAGE,
            format!("{RELEASED_FRONTEND_REPOSITORY}:{major}")
        );
        // The twin: another image is written as given.
        let spec = smallest_with_frontend("localhost:5000/pybase-frontend:dev").expect("a spec");
        assert!(
            spec.text
                .starts_with("# syntax=localhost:5000/pybase-frontend:dev\n"),
            "{}",
            spec.text
        );
    }

    #[test]
    fn the_base_image_is_the_newest_stable_python_allowed() {
        for (requires, python) in [
            (">=3.11", Some((3, 15))),
            (">=3.9, <3.13", Some((3, 12))),
            ("~=3.11.4", Some((3, 11))),
            ("==3.12.*", Some((3, 12))),
            ("<3.13", Some((3, 12))),
            (">=3.16", Some((3, 16))),
            ("garbage", None),
        ] {
            assert_eq!(python_for(requires), python, "{requires}");
        }
    }

    #[test]
    fn the_lowest_python_allowed_is_read_from_lower_bounds() {
        for (requires, lowest) in [
            (">=3.11", Some((3, 11))),
            (">=3.9, <4, >=3.10.2", Some((3, 10))),
            ("~=3.13", Some((3, 13))),
            ("==3.12.*", Some((3, 12))),
            (">3.10", Some((3, 10))),
            ("<3.13", None),
            (">=3", None),
            (">=2.7", None),
            ("garbage", None),
        ] {
            assert_eq!(lowest_python(requires), lowest, "{requires}");
        }
    }

    #[test]
    fn project_names_become_valid_service_names() {
        for (project, service) in [
            ("inventory", "inventory"),
            ("My_Project.Name", "my_project.name"),
            ("--Odd  name!!", "odd-name"),
            ("data-base", "data-base-service"),
            ("日本", "app"),
        ] {
            assert_eq!(service_name(project), service, "{project}");
        }
        assert_eq!(service_name(&"x".repeat(300)).len(), 100);
    }

    #[test]
    fn a_project_without_scripts_or_python_bounds_gets_defaults_and_hints() {
        let spec = starter("[project]\nname = \"Web API\"\n", None).expect("a spec");
        assert_eq!(spec.service, "web-api");
        insta::assert_snapshot!(spec.text, @r"
        # syntax=ghcr.io/pybase-dev/pybase-frontend:0
        # Written by `pybase init`; the keys are described in pybase's specs/reference.md.
        version: 1
        services:
          web-api:
            from: python:3.15-slim    # requires-python is not set: the newest stable Python
            project: .
            system:
              runtime: []   # OS packages the image needs at run time, e.g. libpq5
              build: []     # OS packages only for building wheels, e.g. gcc, libpq-dev
            # command: [python, -m, your_package]   # the image's command ([project.scripts] has none)
        ");
        crate::spec::parse("pybase.yaml", spec.text.as_bytes()).expect("a valid spec");
    }

    #[test]
    fn the_first_script_in_the_file_is_the_command_and_the_lock_names_sdists() {
        let pyproject = "[project]\nname = \"api\"\n[project.scripts]\nzz-serve = \"api:main\"\naa-admin = \"api:admin\"\n";
        let lock = r#"
version = 1
requires-python = ">=3.12, <3.14"
[[package]]
name = "api"
source = { editable = "." }
[[package]]
name = "psycopg2"
source = { registry = "https://pypi.org/simple" }
wheels = [{ url = "https://files/psycopg2-2.9.10-cp312-cp312-win_amd64.whl" }]
[[package]]
name = "six"
source = { registry = "https://pypi.org/simple" }
wheels = [{ url = "https://files/six-1.17.0-py2.py3-none-any.whl" }]
"#;
        let spec = starter(pyproject, Some(lock)).expect("a spec");
        assert!(
            spec.text.contains("from: python:3.13-slim"),
            "{}",
            spec.text
        );
        assert!(spec.text.contains("command: [zz-serve]"), "{}", spec.text);
        assert!(
            spec.text
                .contains("# uv.lock has no Linux wheel for psycopg2:"),
            "{}",
            spec.text
        );
        crate::spec::parse("pybase.yaml", spec.text.as_bytes()).expect("a valid spec");
    }

    #[test]
    fn an_application_runs_its_first_script_of_app_manage_main() {
        let spec = |scripts: &[&str]| {
            application_spec(
                &Application {
                    dir_name: "Web",
                    scripts,
                    lock: None,
                    script_texts: &[],
                },
                DEFAULT_FRONTEND_IMAGE,
            )
            .expect("a spec")
        };
        let app = spec(&["main.py", "app.py"]);
        assert_eq!(app.service, "web");
        insta::assert_snapshot!(app.text, @r#"
        # syntax=ghcr.io/pybase-dev/pybase-frontend:0
        # Written by `pybase init`; the keys are described in pybase's specs/reference.md.
        version: 1
        services:
          web:
            from: python:3.15-slim    # no pyproject.toml says which Python: the newest stable one
            project: .    # an application: its code, copied into /app, and requirements.txt
            system:
              runtime: []   # OS packages the image needs at run time, e.g. libpq5
              build: []     # OS packages only for building wheels, e.g. gcc, libpq-dev
            command: [python, app.py]    # run in the image's workdir, /app
        "#);
        crate::spec::parse("pybase.yaml", app.text.as_bytes()).expect("a valid spec");
        let django = spec(&["main.py", "manage.py"]).text;
        assert!(
            django.contains("    command: [python, manage.py, runserver, \"0.0.0.0:8000\"]"),
            "{django}"
        );
        crate::spec::parse("pybase.yaml", django.as_bytes()).expect("a valid spec");
        assert!(
            spec(&["main.py"])
                .text
                .contains("    command: [python, main.py]")
        );
        let none = spec(&[]).text;
        assert!(
            none.contains("    # command: [python, your_script.py]"),
            "{none}"
        );
        crate::spec::parse("pybase.yaml", none.as_bytes()).expect("a valid spec");
    }

    #[test]
    fn odd_script_names_are_quoted() {
        for (text, yaml) in [
            ("serve", "serve"),
            ("yes", "\"yes\""),
            ("a: b", "\"a: b\""),
            ("1st", "\"1st\""),
        ] {
            assert_eq!(yaml_string(text), yaml, "{text}");
        }
    }

    #[test]
    fn a_pyproject_without_a_name_or_not_toml_is_refused_naming_the_file() {
        assert_eq!(
            starter("[tool.poetry]\nversion = \"1.0\"\n", None),
            Err(InitError::NoProjectName {
                file: "pyproject.toml".into()
            })
        );
        let error = starter("[project\n", None).expect_err("not TOML");
        assert!(
            error
                .to_string()
                .starts_with("pyproject.toml is not valid TOML"),
            "{error}"
        );
        let error = smallest_with_frontend("Bad Image").expect_err("bad image");
        assert!(matches!(error, InitError::BadFrontendImage { .. }));
    }

    #[test]
    fn without_a_script_the_command_runs_the_package_with_a_main() {
        let spec = |main_packages: &[String]| {
            starter_spec(
                &ProjectFiles {
                    pyproject_file: "pyproject.toml",
                    pyproject: "[project]\nname = \"My-Tool\"\n",
                    lock: None,
                    main_packages,
                    project_dir: ".",
                    sdist_version: None,
                    web_modules: &[],
                },
                DEFAULT_FRONTEND_IMAGE,
            )
            .expect("a spec")
            .text
        };
        let packages = ["helpers".to_owned(), "my_tool".to_owned()];
        assert!(spec(&packages).contains("    command: [python, -m, my_tool]    # its __main__"));
        assert!(spec(&packages[..1]).contains("    command: [python, -m, helpers]"));
        // The twin: nothing to run, a comment.
        assert!(spec(&[]).contains("    # command: [python, -m, your_package]"));
    }

    #[test]
    fn a_web_application_is_served_by_the_server_its_lock_pins() {
        let flask = vec![(
            "app.py",
            "from flask import Flask\napp = Flask(__name__)\n".to_owned(),
        )];
        let spec = |lock: &str, texts: &[(&str, String)]| {
            application_spec(
                &Application {
                    dir_name: "web",
                    scripts: &["app.py"],
                    lock: Some(lock),
                    script_texts: texts,
                },
                DEFAULT_FRONTEND_IMAGE,
            )
            .expect("a spec")
            .text
        };
        let gunicorn = "flask==3.1.0 --hash=sha256:00\ngunicorn==23.0.0 --hash=sha256:00\n";
        let text = spec(gunicorn, &flask);
        assert!(
            text.contains("    command: [gunicorn, \"app:app\", --bind, \"0.0.0.0:8000\"]"),
            "{text}"
        );
        crate::spec::parse("pybase.yaml", text.as_bytes()).expect("a valid spec");
        let uvicorn =
            "fastapi==0.115.0 --hash=sha256:00\nuvicorn[standard]==0.32.0 --hash=sha256:00\n";
        assert!(
            spec(uvicorn, &flask).contains("    command: [uvicorn, \"app:app\", --host, 0.0.0.0")
        );
        // Flask alone in the lock: its development server.
        assert!(
            spec("flask==3.1.0 --hash=sha256:00\n", &flask)
                .contains("command: [flask, --app, app, run, --host, 0.0.0.0")
        );
        // The twins: no server in the lock, or no `app` defined, runs the script.
        assert!(
            spec("requests==2.32.0 --hash=sha256:00\n", &flask)
                .contains("command: [python, app.py]")
        );
        let no_app = vec![("app.py", "print('hello')\n".to_owned())];
        assert!(spec(gunicorn, &no_app).contains("command: [python, app.py]"));
    }

    /// The text of [`starter_full`]'s spec.
    fn starter_with(
        pyproject: &str,
        lock: Option<&str>,
        project_dir: &str,
        sdist_version: Option<&str>,
        web_modules: &[(String, String)],
    ) -> String {
        starter_full(pyproject, lock, project_dir, sdist_version, web_modules)
            .expect("a spec")
            .text
    }

    #[test]
    fn a_poetry_project_without_a_project_table_is_read_from_tool_poetry() {
        let pyproject = "[tool.poetry]\nname = \"tool\"\n[tool.poetry.dependencies]\npython = \"^3.9\"\n[tool.poetry.scripts]\ntool = \"tool.cli:main\"\n";
        let text = starter_with(pyproject, None, ".", None, &[]);
        assert!(text.contains("  tool:\n"), "{text}");
        assert!(
            text.contains("command: [tool]    # the first of [tool.poetry.scripts]"),
            "{text}"
        );
        // `^3.9` is `>=3.9,<4.0`: the newest stable Python.
        assert!(text.contains("from: python:3.15-slim"), "{text}");
        crate::spec::parse("pybase.yaml", text.as_bytes()).expect("a valid spec");
        for (poetry, pep440) in [
            ("^3.9", ">=3.9,<4"),
            ("~3.10", ">=3.10,<3.11"),
            (">=3.5", ">=3.5"),
        ] {
            assert_eq!(poetry_constraint(poetry), pep440, "{poetry}");
        }
        let capped =
            "[tool.poetry]\nname = \"tool\"\n[tool.poetry.dependencies]\npython = \"~3.12\"\n";
        assert!(starter_with(capped, None, ".", None, &[]).contains("from: python:3.12-slim"));
    }

    #[test]
    fn an_sdist_with_a_vcs_version_plugin_gets_the_version_of_its_pkg_info() {
        let vcs = "[build-system]\nrequires = [\"hatchling>=1.26\", \"hatch-vcs>=0.4\"]\nbuild-backend = \"hatchling.build\"\n[project]\nname = \"tool\"\ndynamic = [\"version\"]\n";
        let text = starter_with(vcs, None, ".", Some("1.18.4"), &[]);
        assert!(
            text.contains("    version: \"1.18.4\"    # from PKG-INFO"),
            "{text}"
        );
        crate::spec::parse("pybase.yaml", text.as_bytes()).expect("a valid spec");
        // The twins: no PKG-INFO (a git checkout), or no VCS plugin.
        assert!(!starter_with(vcs, None, ".", None, &[]).contains("version: \""));
        let static_version = "[build-system]\nrequires = [\"hatchling\"]\n[project]\nname = \"tool\"\nversion = \"1.0\"\n";
        assert!(!starter_with(static_version, None, ".", Some("1.0"), &[]).contains("version: \""));
    }

    #[test]
    fn a_maturin_project_builds_with_cargo() {
        let maturin = "[build-system]\nrequires = [\"maturin>=1,<2\"]\nbuild-backend = \"maturin\"\n[project]\nname = \"fast\"\n";
        let text = starter_with(maturin, None, ".", None, &[]);
        assert!(
            text.contains("      build: [cargo]    # the build backend compiles Rust"),
            "{text}"
        );
        crate::spec::parse("pybase.yaml", text.as_bytes()).expect("a valid spec");
        let pure = "[build-system]\nrequires = [\"hatchling\"]\nbuild-backend = \"hatchling.build\"\n[project]\nname = \"slow\"\n";
        assert!(starter_with(pure, None, ".", None, &[]).contains("      build: []     #"));
    }

    #[test]
    fn a_workspace_members_spec_names_its_path_from_the_root() {
        let text = starter_with(
            "[project]\nname = \"member\"\n[project.scripts]\nmember = \"m:main\"\n",
            None,
            "examples/servers/member",
            None,
            &[],
        );
        assert!(
            text.contains("    project: examples/servers/member\n"),
            "{text}"
        );
        crate::spec::parse("pybase.yaml", text.as_bytes()).expect("a valid spec");
        let root = "[project]\nname = \"root\"\n[tool.uv.workspace]\nmembers = [\"examples/servers/*\", \"libs/*\"]\nexclude = [\"libs/old\"]\n";
        assert!(workspace_includes(root, "examples/servers/member"));
        assert!(workspace_includes(root, "libs/new"));
        assert!(!workspace_includes(root, "libs/old"));
        assert!(!workspace_includes(root, "examples/clients/member"));
        assert!(!workspace_includes(
            "[project]\nname = \"solo\"\n",
            "examples/servers/member"
        ));
    }

    #[test]
    fn a_package_that_defines_a_flask_app_is_served_by_the_lock_s_server() {
        let pyproject = "[project]\nname = \"site\"\n";
        let lock_with = |names: &[&str]| {
            names
                .iter()
                .map(|name| format!("[[package]]\nname = \"{name}\"\nversion = \"1.0\"\n"))
                .collect::<String>()
        };
        let modules = vec![
            ("helpers".to_owned(), "x = 1\n".to_owned()),
            (
                "site".to_owned(),
                "from flask import Flask\napp = Flask(__name__)\n".to_owned(),
            ),
        ];
        let flask = starter_with(pyproject, Some(&lock_with(&["flask"])), ".", None, &modules);
        assert!(
            flask.contains(
                "    command: [flask, --app, site, run, --host, 0.0.0.0, --port, \"5000\"]"
            ),
            "{flask}"
        );
        assert!(flask.contains("    ports: [5000]\n"), "{flask}");
        crate::spec::parse("pybase.yaml", flask.as_bytes()).expect("a valid spec");
        let gunicorn = starter_with(
            pyproject,
            Some(&lock_with(&["flask", "gunicorn"])),
            ".",
            None,
            &modules,
        );
        assert!(
            gunicorn.contains("    command: [gunicorn, \"site:app\""),
            "{gunicorn}"
        );
        // The twin: no server in the lock, no command.
        let none = starter_with(pyproject, Some(&lock_with(&["click"])), ".", None, &modules);
        assert!(
            none.contains("    # command: [python, -m, your_package]"),
            "{none}"
        );
    }

    #[test]
    fn an_application_whose_app_is_in_another_module_is_served_unless_several_define_one() {
        let spec = |texts: &[(&str, String)]| {
            application_spec(
                &Application {
                    dir_name: "web",
                    scripts: &[],
                    lock: Some("gunicorn==23.0.0 --hash=sha256:00\n"),
                    script_texts: texts,
                },
                DEFAULT_FRONTEND_IMAGE,
            )
            .expect("a spec")
            .text
        };
        let wsgi = "def app(environ, start_response):\n    pass\n".to_owned();
        let one = spec(&[
            ("hello.py", wsgi.clone()),
            ("util.py", "x = 1\n".to_owned()),
        ]);
        assert!(
            one.contains("    command: [gunicorn, \"hello:app\", --bind, \"0.0.0.0:8000\"]"),
            "{one}"
        );
        assert!(one.contains("    ports: [8000]\n"), "{one}");
        crate::spec::parse("pybase.yaml", one.as_bytes()).expect("a valid spec");
        let several = spec(&[("echo.py", wsgi.clone()), ("hello.py", wsgi.clone())]);
        assert!(
            several.contains(
                "    # several modules define `app` (echo, hello): name the one to serve"
            ),
            "{several}"
        );
        assert!(!several.contains("\n    command:"), "{several}");
        crate::spec::parse("pybase.yaml", several.as_bytes()).expect("a valid spec");
        // A module named for the app wins over the others.
        let named = spec(&[("echo.py", wsgi.clone()), ("wsgi.py", wsgi)]);
        assert!(
            named.contains("    command: [gunicorn, \"wsgi:app\""),
            "{named}"
        );
    }

    #[test]
    fn a_setup_cfg_package_is_read_from_its_metadata_options_and_entry_points() {
        let setup_cfg = "[metadata]\nname = Lint_Tool\nversion = attr: lint.__version__\n\n[options]\npackages = find:\ninstall_requires =\n\tmccabe>=0.7\npython_requires = >=3.9, <3.13\n\n[options.entry_points]\nconsole_scripts =\n\tlint-tool = lint.cli:main\n\tlint-admin = lint.admin:main\nlint.extension =\n\tF = lint.plugins:F\n";
        let spec =
            setup_cfg_spec("setup.cfg", setup_cfg, &[], DEFAULT_FRONTEND_IMAGE).expect("a spec");
        assert_eq!(spec.service, "lint_tool");
        assert!(
            spec.text.contains("from: python:3.12-slim"),
            "{}",
            spec.text
        );
        assert!(
            spec.text
                .contains("    command: [lint-tool]    # the first of setup.cfg's console_scripts"),
            "{}",
            spec.text
        );
        crate::spec::parse("pybase.yaml", spec.text.as_bytes()).expect("a valid spec");
        // The twins: no console_scripts runs the package's __main__; no name is refused.
        let no_scripts = "[metadata]\nname = lint\n";
        let text = setup_cfg_spec(
            "setup.cfg",
            no_scripts,
            &["lint".to_owned()],
            DEFAULT_FRONTEND_IMAGE,
        )
        .expect("a spec")
        .text;
        assert!(text.contains("    command: [python, -m, lint]"), "{text}");
        assert!(
            text.contains("from: python:3.15-slim    # python_requires is not set"),
            "{text}"
        );
        assert_eq!(
            setup_cfg_spec(
                "setup.cfg",
                "[options]\npackages = find:\n",
                &[],
                DEFAULT_FRONTEND_IMAGE
            ),
            Err(InitError::NoSetupCfgName {
                file: "setup.cfg".into()
            })
        );
    }
}
